//! `aws_lb_listener`: a port of a load balancer
//! and its default actions (`forward`, `redirect`, `fixed-response`). The
//! load balancer forces replacement; port, protocol, TLS settings and
//! actions update in place (`ModifyListener`). The ID is the ARN.

use super::{Elbv2Mapped, Elbv2Object, elbv2_lookups, read_one, to_tags, update_tags};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::ec2::find::Lookups;
use crate::resources::ec2_support::ok_if_gone;
use crate::resources::{ResourceType, require_id};
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, tags_from_api};
use crate::values::{Obj, first_block, get_blocks, get_i64, get_str};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ForwardActionConfig,
    Listener as L, LoadBalancer as Lb, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum, TargetGroupTuple,
};
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

pub(crate) struct Listener;

const NAME: &str = "aws_lb_listener";

#[async_trait]
impl Elbv2Object for L {
    fn arn(&self) -> Option<&str> {
        self.listener_arn()
    }

    async fn describe_page(
        p: &AwsProvider,
        arns: Option<Vec<String>>,
        marker: Option<String>,
    ) -> Result<(Vec<Self>, Option<String>)> {
        let out = p
            .call("elbv2:DescribeListeners", || {
                p.elbv2
                    .describe_listeners()
                    .set_listener_arns(arns.clone())
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
        Ok((
            out.listeners().to_vec(),
            out.next_marker().map(str::to_string),
        ))
    }

    /// Listeners are listed per load balancer.
    async fn describe_every(p: &AwsProvider) -> Result<Vec<Self>> {
        let mut out = Vec::new();
        for lb in Lb::describe_every(p).await? {
            let Some(lb_arn) = lb.load_balancer_arn() else {
                continue;
            };
            out.extend(
                super::pages(|marker| async move {
                    let got = p
                        .call("elbv2:DescribeListeners", || {
                            p.elbv2
                                .describe_listeners()
                                .load_balancer_arn(lb_arn)
                                .set_marker(marker.clone())
                                .send()
                        })
                        .await?;
                    Ok((
                        got.listeners().to_vec(),
                        got.next_marker().map(str::to_string),
                    ))
                })
                .await?,
            );
        }
        Ok(out)
    }
}

fn i32_of(v: &Value, key: &str) -> Option<i32> {
    get_i64(v, key).and_then(|n| i32::try_from(n).ok())
}

/// The API action of one planned `default_action` block.
fn to_action(a: &Value) -> Action {
    let kind = get_str(a, "type").unwrap_or_default();
    let mut b = Action::builder()
        .r#type(ActionTypeEnum::from(kind.as_str()))
        .set_order(i32_of(a, "order"))
        .set_target_group_arn(get_str(a, "target_group_arn"));
    if let Some(r) = first_block(a, "redirect") {
        b = b.redirect_config(
            RedirectActionConfig::builder()
                .set_host(get_str(r, "host"))
                .set_path(get_str(r, "path"))
                .set_port(get_str(r, "port"))
                .set_protocol(get_str(r, "protocol"))
                .set_query(get_str(r, "query"))
                .set_status_code(
                    get_str(r, "status_code")
                        .map(|s| RedirectActionStatusCodeEnum::from(s.as_str())),
                )
                .build(),
        );
    }
    if let Some(f) = first_block(a, "fixed_response") {
        b = b.fixed_response_config(
            FixedResponseActionConfig::builder()
                .set_content_type(get_str(f, "content_type"))
                .set_message_body(get_str(f, "message_body"))
                .set_status_code(get_str(f, "status_code"))
                .build(),
        );
    }
    if let Some(f) = first_block(a, "forward") {
        let groups = get_blocks(f, "target_group")
            .iter()
            .map(|g| {
                TargetGroupTuple::builder()
                    .set_target_group_arn(get_str(g, "arn"))
                    .set_weight(i32_of(g, "weight"))
                    .build()
            })
            .collect();
        b = b.forward_config(
            ForwardActionConfig::builder()
                .set_target_groups(Some(groups))
                .build(),
        );
    }
    b.build()
}

/// The state block of one API action; `prior` (the configured block at
/// the same position) decides between `target_group_arn` and `forward`,
/// which the API both reports for a simple forward.
fn from_action(a: &Action, prior: Option<&Value>) -> Value {
    let s = |v: Option<&str>| v.map_or(Value::Null, Value::from);
    let redirect = a.redirect_config().map(|r| {
        Value::map([
            ("host", s(r.host())),
            ("path", s(r.path())),
            ("port", s(r.port())),
            ("protocol", s(r.protocol())),
            ("query", s(r.query())),
            ("status_code", s(r.status_code().map(|c| c.as_str()))),
        ])
    });
    let fixed = a.fixed_response_config().map(|f| {
        Value::map([
            ("content_type", s(f.content_type())),
            ("message_body", s(f.message_body())),
            ("status_code", s(f.status_code())),
        ])
    });
    let groups = a
        .forward_config()
        .map(|f| f.target_groups().to_vec())
        .unwrap_or_default();
    let prior_forward = prior.is_some_and(|pv| first_block(pv, "forward").is_some());
    let use_forward = prior_forward || (prior.is_none() && groups.len() > 1);
    let forward = use_forward.then(|| {
        Value::map([(
            "target_group",
            Value::set(
                groups
                    .iter()
                    .map(|g| {
                        Value::map([
                            ("arn", s(g.target_group_arn())),
                            ("weight", Value::from(i64::from(g.weight().unwrap_or(1)))),
                        ])
                    })
                    .collect(),
            ),
        )])
    });
    let target_group = if use_forward {
        Value::Null
    } else {
        s(a.target_group_arn()
            .or_else(|| groups.first().and_then(|g| g.target_group_arn())))
    };
    let block = |v: Option<Value>| Value::List(v.into_iter().collect());
    Value::map([
        ("type", s(a.r#type().map(|t| t.as_str()))),
        ("target_group_arn", target_group),
        (
            "order",
            a.order().map_or(Value::Null, |o| Value::from(i64::from(o))),
        ),
        ("redirect", block(redirect)),
        ("fixed_response", block(fixed)),
        ("forward", block(forward)),
    ])
}

impl Listener {
    async fn read(&self, p: &AwsProvider, arn: &str, prior: &Value) -> Result<Value> {
        read_one(self, p, arn, Some(prior)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("listener {arn} not found after writing it"))
        })
    }
}

#[async_trait]
impl Elbv2Mapped for Listener {
    type Object = L;

    async fn map(
        &self,
        p: &AwsProvider,
        l: &L,
        tags: &TagMap,
        prior: Option<&Value>,
    ) -> Result<Value> {
        let arn = l.listener_arn().unwrap_or_default();
        let (tags, tags_all) = tags_from_api(tags, prior, &p.default_tags);
        let prior_actions = prior.map(|pv| get_blocks(pv, "default_action"));
        let mut actions: Vec<&Action> = l.default_actions().iter().collect();
        actions.sort_by_key(|a| a.order().unwrap_or(i32::MAX));
        let actions = actions
            .into_iter()
            .enumerate()
            .map(|(i, a)| from_action(a, prior_actions.and_then(|pa| pa.get(i))))
            .collect();
        Ok(Obj::new(&p.resource_schema(NAME))
            .set("id", arn)
            .set("arn", arn)
            .set_opt_str("load_balancer_arn", l.load_balancer_arn())
            .set(
                "port",
                l.port().map_or(Value::Null, |n| Value::from(i64::from(n))),
            )
            .set_opt_str("protocol", l.protocol().map(|p| p.as_str()))
            .set_opt_str("ssl_policy", l.ssl_policy())
            .set_opt_str(
                "certificate_arn",
                l.certificates().first().and_then(|c| c.certificate_arn()),
            )
            .set("default_action", Value::List(actions))
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build())
    }
}

elbv2_lookups!(Listener);

/// The planned default actions, for create and modify.
fn planned_actions(planned: &Value) -> Vec<Action> {
    get_blocks(planned, "default_action")
        .iter()
        .map(to_action)
        .collect()
}

fn certificates(planned: &Value) -> Option<Vec<Certificate>> {
    get_str(planned, "certificate_arn")
        .map(|c| vec![Certificate::builder().certificate_arn(c).build()])
}

#[async_trait]
impl ResourceType for Listener {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        let redirect = Schema::new()
            .attr(
                "host",
                Attribute::optional(AttrType::String).default("#{host}"),
            )
            .attr(
                "path",
                Attribute::optional(AttrType::String).default("/#{path}"),
            )
            .attr(
                "port",
                Attribute::optional(AttrType::String).default("#{port}"),
            )
            .attr(
                "protocol",
                Attribute::optional(AttrType::String).default("#{protocol}"),
            )
            .attr(
                "query",
                Attribute::optional(AttrType::String).default("#{query}"),
            )
            .attr("status_code", Attribute::required(AttrType::String));
        let fixed = Schema::new()
            .attr("content_type", Attribute::required(AttrType::String))
            .attr("message_body", Attribute::optional(AttrType::String))
            .attr(
                "status_code",
                Attribute::optional_computed(AttrType::String),
            );
        let forward = Schema::new().set_block(
            "target_group",
            Schema::new()
                .attr("arn", Attribute::required(AttrType::String))
                .attr("weight", Attribute::optional(AttrType::Number).default(1)),
        );
        let action = Schema::new()
            .attr("type", Attribute::required(AttrType::String))
            .attr("target_group_arn", Attribute::optional(AttrType::String))
            .attr("order", Attribute::optional_computed(AttrType::Number))
            .list_block("redirect", 0, 1, redirect)
            .list_block("fixed_response", 0, 1, fixed)
            .list_block("forward", 0, 1, forward);
        Schema::new()
            .attrs(&["id", "arn"], Attribute::computed(AttrType::String))
            .attr(
                "load_balancer_arn",
                Attribute::required(AttrType::String).force_new(),
            )
            .attr("port", Attribute::optional(AttrType::Number))
            .attrs(
                &["protocol", "ssl_policy"],
                Attribute::optional_computed(AttrType::String),
            )
            .attr("certificate_arn", Attribute::optional(AttrType::String))
            .list_block("default_action", 1, 0, action)
            .tagged()
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = to_tags(&create_tags(&p.default_tags, planned, &ctx.resource));
        let actions = planned_actions(planned);
        let out = p
            .call("elbv2:CreateListener", || {
                p.elbv2
                    .create_listener()
                    .set_load_balancer_arn(get_str(planned, "load_balancer_arn"))
                    .set_port(i32_of(planned, "port"))
                    .set_protocol(
                        get_str(planned, "protocol").map(|p| ProtocolEnum::from(p.as_str())),
                    )
                    .set_ssl_policy(get_str(planned, "ssl_policy"))
                    .set_certificates(certificates(planned))
                    .set_default_actions(Some(actions.clone()))
                    .set_tags(Some(tags.clone()))
                    .send()
            })
            .await?;
        let arn = out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .unwrap_or_default()
            .to_string();
        self.read(p, &arn, planned).await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let arn = require_id(NAME, prior)?;
        let keys = [
            "port",
            "protocol",
            "ssl_policy",
            "certificate_arn",
            "default_action",
        ];
        if keys.iter().any(|k| prior.get(k) != planned.get(k)) {
            let actions = planned_actions(planned);
            p.call("elbv2:ModifyListener", || {
                p.elbv2
                    .modify_listener()
                    .listener_arn(&arn)
                    .set_port(i32_of(planned, "port"))
                    .set_protocol(
                        get_str(planned, "protocol").map(|p| ProtocolEnum::from(p.as_str())),
                    )
                    .set_ssl_policy(get_str(planned, "ssl_policy"))
                    .set_certificates(certificates(planned))
                    .set_default_actions(Some(actions.clone()))
                    .send()
            })
            .await?;
        }
        update_tags(p, &arn, prior, planned).await?;
        self.read(p, &arn, planned).await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let arn = require_id(NAME, prior)?;
        ok_if_gone(
            p.call("elbv2:DeleteListener", || {
                p.elbv2.delete_listener().listener_arn(&arn).send()
            })
            .await,
        )
    }
}
