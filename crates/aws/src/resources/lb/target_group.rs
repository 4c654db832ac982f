//! `aws_lb_target_group`. Port, protocol,
//! VPC and target type force replacement; the health check (a computed
//! block: left out, the API's defaults are kept), the deregistration delay
//! and slow start update in place. The ID is the ARN.

use super::{
    Elbv2Mapped, Elbv2Object, arn_suffix, attribute_map, elbv2_lookups, read_one, to_tags,
    update_tags,
};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::ec2::find::Lookups;
use crate::resources::ec2_support::ok_if_gone;
use crate::resources::{
    ResourceType, computed_block_config, computed_block_unknown, default_plan, partially_created,
    require_id,
};
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, tags_from_api};
use crate::values::{Obj, first_block, get_bool, get_i64, get_str, str_set};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetGroup as Tg, TargetGroupAttribute, TargetTypeEnum,
};
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct TargetGroup;

const NAME: &str = "aws_lb_target_group";

#[async_trait]
impl Elbv2Object for Tg {
    fn arn(&self) -> Option<&str> {
        self.target_group_arn()
    }

    async fn describe_page(
        p: &AwsProvider,
        arns: Option<Vec<String>>,
        marker: Option<String>,
    ) -> Result<(Vec<Self>, Option<String>)> {
        let out = p
            .call("elbv2:DescribeTargetGroups", || {
                p.elbv2
                    .describe_target_groups()
                    .set_target_group_arns(arns.clone())
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
        Ok((
            out.target_groups().to_vec(),
            out.next_marker().map(str::to_string),
        ))
    }
}

/// Target group attributes Terraform manages: state key, API key, default.
const ATTRIBUTES: &[(&str, &str, &str)] = &[
    (
        "deregistration_delay",
        "deregistration_delay.timeout_seconds",
        "300",
    ),
    ("slow_start", "slow_start.duration_seconds", "0"),
];

/// The health check settings one call sends (create or modify).
struct HealthCheck {
    enabled: Option<bool>,
    healthy: Option<i32>,
    unhealthy: Option<i32>,
    interval: Option<i32>,
    timeout: Option<i32>,
    path: Option<String>,
    port: Option<String>,
    protocol: Option<ProtocolEnum>,
    matcher: Option<Matcher>,
}

impl HealthCheck {
    fn from_planned(planned: &Value) -> Option<Self> {
        let hc = first_block(planned, "health_check")?;
        let num = |k| get_i64(hc, k).and_then(|n| i32::try_from(n).ok());
        Some(HealthCheck {
            enabled: get_bool(hc, "enabled"),
            healthy: num("healthy_threshold"),
            unhealthy: num("unhealthy_threshold"),
            interval: num("interval"),
            timeout: num("timeout"),
            path: get_str(hc, "path"),
            port: get_str(hc, "port"),
            protocol: get_str(hc, "protocol").map(|p| ProtocolEnum::from(p.as_str())),
            matcher: get_str(hc, "matcher").map(|m| Matcher::builder().http_code(m).build()),
        })
    }
}

/// Apply health check settings to a create or modify builder (both have
/// the same setters).
macro_rules! with_health_check {
    ($call:expr, $hc:expr) => {{
        let call = $call;
        match $hc {
            Some(hc) => call
                .set_health_check_enabled(hc.enabled)
                .set_healthy_threshold_count(hc.healthy)
                .set_unhealthy_threshold_count(hc.unhealthy)
                .set_health_check_interval_seconds(hc.interval)
                .set_health_check_timeout_seconds(hc.timeout)
                .set_health_check_path(hc.path.clone())
                .set_health_check_port(hc.port.clone())
                .set_health_check_protocol(hc.protocol.clone())
                .set_matcher(hc.matcher.clone()),
            None => call,
        }
    }};
}

impl TargetGroup {
    async fn write_attributes(
        &self,
        p: &AwsProvider,
        arn: &str,
        planned: &Value,
        prior: Option<&Value>,
    ) -> Result<()> {
        let attributes: Vec<TargetGroupAttribute> = ATTRIBUTES
            .iter()
            .filter_map(|(key, api, default)| {
                let v = planned.get(key).and_then(value_text)?;
                let changed = match prior {
                    Some(pv) => pv.get(key).and_then(value_text).as_deref() != Some(v.as_str()),
                    None => v != *default,
                };
                changed.then(|| TargetGroupAttribute::builder().key(*api).value(v).build())
            })
            .collect();
        if attributes.is_empty() {
            return Ok(());
        }
        p.call("elbv2:ModifyTargetGroupAttributes", || {
            p.elbv2
                .modify_target_group_attributes()
                .target_group_arn(arn)
                .set_attributes(Some(attributes.clone()))
                .send()
        })
        .await
        .map(|_| ())
    }

    async fn read(&self, p: &AwsProvider, arn: &str, prior: &Value) -> Result<Value> {
        read_one(self, p, arn, Some(prior)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("target group {arn} not found after writing it"))
        })
    }
}

/// A string or number attribute as text.
fn value_text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::to_string)
        .or_else(|| v.as_i64().map(|n| n.to_string()))
}

#[async_trait]
impl Elbv2Mapped for TargetGroup {
    type Object = Tg;

    async fn map(
        &self,
        p: &AwsProvider,
        tg: &Tg,
        tags: &TagMap,
        prior: Option<&Value>,
    ) -> Result<Value> {
        let arn = tg.target_group_arn().unwrap_or_default();
        let out = p
            .call("elbv2:DescribeTargetGroupAttributes", || {
                p.elbv2
                    .describe_target_group_attributes()
                    .target_group_arn(arn)
                    .send()
            })
            .await?;
        let attrs = attribute_map(out.attributes().iter().map(|a| (a.key(), a.value())));
        let (tags, tags_all) = tags_from_api(tags, prior, &p.default_tags);
        let num = |n: Option<i32>| n.map_or(Value::Null, |n| Value::from(i64::from(n)));
        let health = Value::map([
            (
                "enabled",
                Value::Bool(tg.health_check_enabled().unwrap_or(true)),
            ),
            ("healthy_threshold", num(tg.healthy_threshold_count())),
            ("unhealthy_threshold", num(tg.unhealthy_threshold_count())),
            ("interval", num(tg.health_check_interval_seconds())),
            ("timeout", num(tg.health_check_timeout_seconds())),
            (
                "path",
                tg.health_check_path().map_or(Value::Null, Value::from),
            ),
            (
                "port",
                tg.health_check_port().map_or(Value::Null, Value::from),
            ),
            (
                "protocol",
                tg.health_check_protocol()
                    .map_or(Value::Null, |p| Value::from(p.as_str())),
            ),
            (
                "matcher",
                tg.matcher()
                    .and_then(|m| m.http_code().or(m.grpc_code()))
                    .map_or(Value::Null, Value::from),
            ),
        ]);
        let mut obj = Obj::new(&p.resource_schema(NAME))
            .set("id", arn)
            .set("arn", arn)
            .set("arn_suffix", arn_suffix(arn, "targetgroup", true))
            .set_opt_str("name", tg.target_group_name())
            .set("port", num(tg.port()))
            .set_opt_str("protocol", tg.protocol().map(|p| p.as_str()))
            .set_opt_str("protocol_version", tg.protocol_version())
            .set_opt_str("vpc_id", tg.vpc_id())
            .set(
                "target_type",
                tg.target_type().map_or("instance", |t| t.as_str()),
            )
            .set(
                "load_balancer_arns",
                str_set(tg.load_balancer_arns().iter().cloned()),
            )
            .set("health_check", Value::List(vec![health]))
            .set("tags", tags)
            .set("tags_all", tags_all)
            .keep(prior, &["name_prefix"]);
        for (key, api, default) in ATTRIBUTES {
            let v = attrs.get(*api).map_or(*default, String::as_str);
            obj = obj.set(
                key,
                if *key == "slow_start" {
                    Value::from(v.parse::<i64>().unwrap_or(0))
                } else {
                    Value::from(v)
                },
            );
        }
        Ok(obj.build())
    }
}

elbv2_lookups!(TargetGroup);

#[async_trait]
impl ResourceType for TargetGroup {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        let computed = Schema::new().attrs(
            &["id", "arn", "arn_suffix"],
            Attribute::computed(AttrType::String),
        );
        let int = |d: i64| Attribute::optional(AttrType::Number).default(d);
        let health = Schema::new()
            .attr("enabled", Attribute::optional(AttrType::Bool).default(true))
            .attrs(&["healthy_threshold", "unhealthy_threshold"], int(3))
            .attr("interval", int(30))
            .attr("timeout", Attribute::optional_computed(AttrType::Number))
            .attrs(
                &["path", "matcher"],
                Attribute::optional_computed(AttrType::String),
            )
            .attr(
                "port",
                Attribute::optional(AttrType::String).default("traffic-port"),
            )
            .attr(
                "protocol",
                Attribute::optional(AttrType::String).default("HTTP"),
            );
        computed
            .attr(
                "load_balancer_arns",
                Attribute::computed(AttrType::set_of(AttrType::String)),
            )
            .attrs(
                &["name", "protocol_version"],
                Attribute::optional_computed(AttrType::String).force_new(),
            )
            .attrs(
                &["name_prefix", "protocol", "vpc_id"],
                Attribute::optional(AttrType::String).force_new(),
            )
            .attr("port", Attribute::optional(AttrType::Number).force_new())
            .attr(
                "target_type",
                Attribute::optional(AttrType::String)
                    .default("instance")
                    .force_new(),
            )
            .attr(
                "deregistration_delay",
                Attribute::optional(AttrType::String).default("300"),
            )
            .attr("slow_start", int(0))
            .list_block("health_check", 0, 1, health)
            .computed_block("health_check")
            .tagged()
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let cfg = computed_block_config(config, prior, "health_check");
        let mut planned = default_plan(p, &p.resource_schema(NAME), prior, &cfg, ctx);
        if prior.is_none() {
            computed_block_unknown(&mut planned, config, "health_check");
        }
        Ok(planned)
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = to_tags(&create_tags(&p.default_tags, planned, &ctx.resource));
        let name = get_str(planned, "name").unwrap_or_else(|| {
            super::load_balancer::generated_name(
                Some(get_str(planned, "name_prefix").as_deref().unwrap_or("tf-")),
                &ctx.idempotency_token,
            )
        });
        let hc = HealthCheck::from_planned(planned);
        let port = get_i64(planned, "port").and_then(|n| i32::try_from(n).ok());
        let out = p
            .call("elbv2:CreateTargetGroup", || {
                let call = p
                    .elbv2
                    .create_target_group()
                    .name(&name)
                    .set_port(port)
                    .set_protocol(
                        get_str(planned, "protocol").map(|p| ProtocolEnum::from(p.as_str())),
                    )
                    .set_protocol_version(get_str(planned, "protocol_version"))
                    .set_vpc_id(get_str(planned, "vpc_id"))
                    .set_target_type(
                        get_str(planned, "target_type").map(|t| TargetTypeEnum::from(t.as_str())),
                    )
                    .set_tags(Some(tags.clone()));
                with_health_check!(call, hc.as_ref()).send()
            })
            .await?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .unwrap_or_default()
            .to_string();
        let made = Value::map([("id", Value::from(arn.clone()))]);
        self.write_attributes(p, &arn, planned, None)
            .await
            .map_err(|e| partially_created(&made, e))?;
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
        if prior.get("health_check") != planned.get("health_check") {
            let hc = HealthCheck::from_planned(planned);
            p.call("elbv2:ModifyTargetGroup", || {
                let call = p.elbv2.modify_target_group().target_group_arn(&arn);
                with_health_check!(call, hc.as_ref()).send()
            })
            .await?;
        }
        self.write_attributes(p, &arn, planned, Some(prior)).await?;
        update_tags(p, &arn, prior, planned).await?;
        self.read(p, &arn, planned).await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let arn = require_id(NAME, prior)?;
        ok_if_gone(
            p.call("elbv2:DeleteTargetGroup", || {
                p.elbv2.delete_target_group().target_group_arn(&arn).send()
            })
            .await,
        )
    }
}
