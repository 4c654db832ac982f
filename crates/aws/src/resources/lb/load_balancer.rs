//! `aws_lb`: an application or network load balancer.
//! Create waits until the balancer is `active` (Terraform's 10 minutes);
//! subnets, security groups and the attributes Terraform manages
//! (`idle_timeout`, deletion protection, HTTP/2, invalid header fields,
//! cross-zone balancing, access logs) update in place. The ID is the ARN.

use super::{
    Elbv2Mapped, Elbv2Object, arn_suffix, attribute_map, elbv2_lookups, read_one, to_tags,
    update_tags,
};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::ec2::find::Lookups;
use crate::resources::ec2_support::ok_if_gone;
use crate::resources::{ResourceType, partially_created, require_id, wait_for};
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, tags_from_api};
use crate::values::{Obj, first_block, get_bool, get_i64, get_str, get_strings, str_set};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    IpAddressType, LoadBalancer as Lb, LoadBalancerAttribute, LoadBalancerSchemeEnum,
    LoadBalancerStateEnum, LoadBalancerTypeEnum,
};
use std::collections::BTreeMap;
use std::time::Duration;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

pub(crate) struct LoadBalancer;

const NAME: &str = "aws_lb";

/// Terraform's create timeout for load balancers.
const TIMEOUT: Duration = Duration::from_secs(600);

#[async_trait]
impl Elbv2Object for Lb {
    fn arn(&self) -> Option<&str> {
        self.load_balancer_arn()
    }

    async fn describe_page(
        p: &AwsProvider,
        arns: Option<Vec<String>>,
        marker: Option<String>,
    ) -> Result<(Vec<Self>, Option<String>)> {
        let out = p
            .call("elbv2:DescribeLoadBalancers", || {
                p.elbv2
                    .describe_load_balancers()
                    .set_load_balancer_arns(arns.clone())
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
        Ok((
            out.load_balancers().to_vec(),
            out.next_marker().map(str::to_string),
        ))
    }
}

/// How each managed attribute is stored: state key, API key, and whether
/// it applies to the balancer type (`application` / `network`).
const BOOL_ATTRIBUTES: &[(&str, &str, bool, bool)] = &[
    (
        "enable_deletion_protection",
        "deletion_protection.enabled",
        true,
        true,
    ),
    ("enable_http2", "routing.http2.enabled", true, false),
    (
        "drop_invalid_header_fields",
        "routing.http.drop_invalid_header_fields.enabled",
        true,
        false,
    ),
    (
        "enable_cross_zone_load_balancing",
        "load_balancing.cross_zone.enabled",
        false,
        true,
    ),
];

fn applies(lb_type: &str, alb: bool, nlb: bool) -> bool {
    if lb_type == "network" { nlb } else { alb }
}

impl LoadBalancer {
    async fn attributes(&self, p: &AwsProvider, arn: &str) -> Result<BTreeMap<String, String>> {
        let out = p
            .call("elbv2:DescribeLoadBalancerAttributes", || {
                p.elbv2
                    .describe_load_balancer_attributes()
                    .load_balancer_arn(arn)
                    .send()
            })
            .await?;
        Ok(attribute_map(
            out.attributes().iter().map(|a| (a.key(), a.value())),
        ))
    }

    /// The attributes `planned` sets that differ from `prior` (all of
    /// them on create).
    fn wanted_attributes(planned: &Value, prior: Option<&Value>) -> Vec<LoadBalancerAttribute> {
        let lb_type = get_str(planned, "load_balancer_type").unwrap_or("application".into());
        let mut out: Vec<(String, String)> = Vec::new();
        let changed = |k: &str| prior.is_none_or(|pv| pv.get(k) != planned.get(k));
        for (key, api, alb, nlb) in BOOL_ATTRIBUTES {
            if applies(&lb_type, *alb, *nlb)
                && changed(key)
                && let Some(b) = get_bool(planned, key)
            {
                out.push((api.to_string(), b.to_string()));
            }
        }
        if lb_type != "network"
            && changed("idle_timeout")
            && let Some(t) = get_i64(planned, "idle_timeout")
        {
            out.push(("idle_timeout.timeout_seconds".into(), t.to_string()));
        }
        if changed("access_logs") {
            let logs = first_block(planned, "access_logs");
            let enabled = logs.and_then(|l| get_bool(l, "enabled")).unwrap_or(false);
            out.push(("access_logs.s3.enabled".into(), enabled.to_string()));
            if enabled {
                let get = |k| logs.and_then(|l| get_str(l, k)).unwrap_or_default();
                out.push(("access_logs.s3.bucket".into(), get("bucket")));
                out.push(("access_logs.s3.prefix".into(), get("prefix")));
            }
        }
        out.into_iter()
            .map(|(k, v)| LoadBalancerAttribute::builder().key(k).value(v).build())
            .collect()
    }

    async fn write_attributes(
        &self,
        p: &AwsProvider,
        arn: &str,
        attributes: Vec<LoadBalancerAttribute>,
    ) -> Result<()> {
        if attributes.is_empty() {
            return Ok(());
        }
        p.call("elbv2:ModifyLoadBalancerAttributes", || {
            p.elbv2
                .modify_load_balancer_attributes()
                .load_balancer_arn(arn)
                .set_attributes(Some(attributes.clone()))
                .send()
        })
        .await
        .map(|_| ())
    }

    async fn wait_active(&self, p: &AwsProvider, arn: &str) -> Result<()> {
        wait_for(
            "load balancer to become active",
            TIMEOUT,
            Duration::from_secs(2),
            || async move {
                let found = super::find_by_arns::<Lb>(p, &[arn.to_string()]).await?;
                let Some(lb) = found.get(arn) else {
                    return Err(ProviderError::NotFound(format!(
                        "load balancer {arn} disappeared while provisioning"
                    )));
                };
                match lb.state().and_then(|s| s.code()) {
                    Some(LoadBalancerStateEnum::Active) | None => Ok(Some(())),
                    Some(LoadBalancerStateEnum::Failed) => Err(ProviderError::Api {
                        code: "LoadBalancerFailed".into(),
                        message: format!(
                            "load balancer {arn} failed: {}",
                            lb.state()
                                .and_then(|s| s.reason())
                                .unwrap_or("no reason given")
                        ),
                    }),
                    _ => Ok(None),
                }
            },
        )
        .await
    }

    async fn read(&self, p: &AwsProvider, arn: &str, prior: &Value) -> Result<Value> {
        read_one(self, p, arn, Some(prior)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("load balancer {arn} not found after writing it"))
        })
    }
}

#[async_trait]
impl Elbv2Mapped for LoadBalancer {
    type Object = Lb;

    async fn map(
        &self,
        p: &AwsProvider,
        lb: &Lb,
        tags: &TagMap,
        prior: Option<&Value>,
    ) -> Result<Value> {
        let arn = lb.load_balancer_arn().unwrap_or_default();
        let attrs = self.attributes(p, arn).await?;
        let lb_type = lb.r#type().map_or("application", |t| t.as_str());
        let (tags, tags_all) = tags_from_api(tags, prior, &p.default_tags);
        let mut obj = Obj::new(&p.resource_schema(NAME))
            .set("id", arn)
            .set("arn", arn)
            .set("arn_suffix", arn_suffix(arn, "loadbalancer", false))
            .set_opt_str("dns_name", lb.dns_name())
            .set_opt_str("zone_id", lb.canonical_hosted_zone_id())
            .set_opt_str("vpc_id", lb.vpc_id())
            .set_opt_str("name", lb.load_balancer_name())
            .set(
                "internal",
                lb.scheme() == Some(&LoadBalancerSchemeEnum::Internal),
            )
            .set("load_balancer_type", lb_type)
            .set_opt_str("ip_address_type", lb.ip_address_type().map(|t| t.as_str()))
            .set(
                "subnets",
                str_set(lb.availability_zones().iter().filter_map(|z| z.subnet_id())),
            )
            .set(
                "security_groups",
                str_set(lb.security_groups().iter().cloned()),
            )
            .set("tags", tags)
            .set("tags_all", tags_all)
            .keep(prior, &["name_prefix"]);
        for (key, api, alb, nlb) in BOOL_ATTRIBUTES {
            if applies(lb_type, *alb, *nlb) {
                obj = obj.set(key, attrs.get(*api).is_some_and(|v| v == "true"));
            } else {
                // Not an attribute of this type: as configured, else what
                // the type always does (cross-zone on for application).
                let fixed = *key == "enable_http2"
                    || (*key == "enable_cross_zone_load_balancing" && lb_type != "network");
                let v = prior
                    .and_then(|pv| pv.get(key))
                    .filter(|v| v.is_wholly_known() && !v.is_null())
                    .cloned()
                    .unwrap_or(Value::Bool(fixed));
                obj = obj.set(key, v);
            }
        }
        obj = match attrs
            .get("idle_timeout.timeout_seconds")
            .and_then(|v| v.parse::<i64>().ok())
        {
            Some(t) if lb_type != "network" => obj.set("idle_timeout", t),
            _ => obj.keep(prior, &["idle_timeout"]),
        };
        let logs_enabled = attrs
            .get("access_logs.s3.enabled")
            .is_some_and(|v| v == "true");
        let had_block = prior.is_some_and(|pv| first_block(pv, "access_logs").is_some());
        if logs_enabled || had_block {
            let get = |k: &str| attrs.get(k).filter(|v| !v.is_empty()).map(String::as_str);
            let bucket = get("access_logs.s3.bucket").map(Value::from);
            let prior_logs = prior.and_then(|pv| first_block(pv, "access_logs"));
            let block = Value::map([
                (
                    "bucket",
                    bucket
                        .or_else(|| prior_logs.and_then(|l| l.get("bucket")).cloned())
                        .unwrap_or(Value::Null),
                ),
                ("enabled", Value::Bool(logs_enabled)),
                (
                    "prefix",
                    get("access_logs.s3.prefix").map_or_else(
                        || {
                            prior_logs
                                .and_then(|l| l.get("prefix"))
                                .cloned()
                                .unwrap_or(Value::Null)
                        },
                        Value::from,
                    ),
                ),
            ]);
            obj = obj.set("access_logs", Value::List(vec![block]));
        }
        Ok(obj.build())
    }
}

elbv2_lookups!(LoadBalancer);

#[async_trait]
impl ResourceType for LoadBalancer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        let computed = Schema::new().attrs(
            &["id", "arn", "arn_suffix", "dns_name", "zone_id", "vpc_id"],
            Attribute::computed(AttrType::String),
        );
        let flag = |default: bool| Attribute::optional(AttrType::Bool).default(default);
        computed
            .named_or_prefixed()
            .attr(
                "internal",
                Attribute::optional_computed(AttrType::Bool).force_new(),
            )
            .attr(
                "load_balancer_type",
                Attribute::optional(AttrType::String)
                    .default("application")
                    .force_new(),
            )
            .attr(
                "ip_address_type",
                Attribute::optional_computed(AttrType::String),
            )
            .attrs(
                &["subnets", "security_groups"],
                Attribute::optional_computed(AttrType::set_of(AttrType::String)),
            )
            .attr(
                "idle_timeout",
                Attribute::optional(AttrType::Number).default(60),
            )
            .attrs(
                &["enable_deletion_protection", "drop_invalid_header_fields"],
                flag(false),
            )
            .attr("enable_http2", flag(true))
            .attr(
                "enable_cross_zone_load_balancing",
                Attribute::optional_computed(AttrType::Bool),
            )
            .list_block(
                "access_logs",
                0,
                1,
                Schema::new()
                    .attrs(&["bucket", "prefix"], Attribute::optional(AttrType::String))
                    .attr("enabled", flag(false)),
            )
            .tagged()
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = to_tags(&create_tags(&p.default_tags, planned, &ctx.resource));
        let name = get_str(planned, "name").unwrap_or_else(|| {
            generated_name(
                get_str(planned, "name_prefix").as_deref(),
                &ctx.idempotency_token,
            )
        });
        let lb_type = get_str(planned, "load_balancer_type").unwrap_or("application".into());
        let scheme = if get_bool(planned, "internal") == Some(true) {
            LoadBalancerSchemeEnum::Internal
        } else {
            LoadBalancerSchemeEnum::InternetFacing
        };
        let sgs = get_strings(planned, "security_groups");
        let out = p
            .call("elbv2:CreateLoadBalancer", || {
                p.elbv2
                    .create_load_balancer()
                    .name(&name)
                    .r#type(LoadBalancerTypeEnum::from(lb_type.as_str()))
                    .scheme(scheme.clone())
                    .set_subnets(Some(get_strings(planned, "subnets")))
                    .set_security_groups((!sgs.is_empty()).then(|| sgs.clone()))
                    .set_ip_address_type(
                        get_str(planned, "ip_address_type")
                            .map(|t| IpAddressType::from(t.as_str())),
                    )
                    .set_tags(Some(tags.clone()))
                    .send()
            })
            .await?;
        let arn = out
            .load_balancers()
            .first()
            .and_then(|l| l.load_balancer_arn())
            .unwrap_or_default()
            .to_string();
        let made = Value::map([("id", Value::from(arn.clone()))]);
        let rest = async {
            self.wait_active(p, &arn).await?;
            self.write_attributes(p, &arn, Self::wanted_attributes(planned, None))
                .await
        };
        rest.await.map_err(|e| partially_created(&made, e))?;
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
        if prior.get("subnets") != planned.get("subnets") {
            let subnets = get_strings(planned, "subnets");
            p.call("elbv2:SetSubnets", || {
                p.elbv2
                    .set_subnets()
                    .load_balancer_arn(&arn)
                    .set_subnets(Some(subnets.clone()))
                    .send()
            })
            .await?;
        }
        if prior.get("security_groups") != planned.get("security_groups") {
            let sgs = get_strings(planned, "security_groups");
            p.call("elbv2:SetSecurityGroups", || {
                p.elbv2
                    .set_security_groups()
                    .load_balancer_arn(&arn)
                    .set_security_groups(Some(sgs.clone()))
                    .send()
            })
            .await?;
        }
        if prior.get("ip_address_type") != planned.get("ip_address_type")
            && let Some(t) = get_str(planned, "ip_address_type")
        {
            p.call("elbv2:SetIpAddressType", || {
                p.elbv2
                    .set_ip_address_type()
                    .load_balancer_arn(&arn)
                    .ip_address_type(IpAddressType::from(t.as_str()))
                    .send()
            })
            .await?;
        }
        self.write_attributes(p, &arn, Self::wanted_attributes(planned, Some(prior)))
            .await?;
        update_tags(p, &arn, prior, planned).await?;
        self.read(p, &arn, planned).await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let arn = require_id(NAME, prior)?;
        ok_if_gone(
            p.call("elbv2:DeleteLoadBalancer", || {
                p.elbv2
                    .delete_load_balancer()
                    .load_balancer_arn(&arn)
                    .send()
            })
            .await,
        )
    }
}

/// A name for an object whose configuration gives none (or only a
/// prefix), as Terraform generates one: the prefix (default `tf-lb-`) and
/// a unique suffix, within ELB's 32 characters.
pub(crate) fn generated_name(prefix: Option<&str>, token: &str) -> String {
    let prefix = prefix.unwrap_or("tf-lb-");
    let suffix = super::unique_suffix(token);
    let room = 32usize.saturating_sub(prefix.len()).min(suffix.len());
    format!("{prefix}{}", &suffix[..room])
}
