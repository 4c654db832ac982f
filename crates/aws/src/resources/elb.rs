//! `aws_elb`: a Classic Load Balancer. Listeners, instances, subnets,
//! zones, security groups, the health check and the attributes Terraform
//! manages (cross-zone balancing, idle timeout, connection draining,
//! access logs) change in place; the name and scheme force replacement.
//! Protocols are kept in lower case, as Terraform stores them. The ID is
//! the name; it imports by name.

use super::{
    ResourceType, computed_block_config, computed_block_unknown, default_plan, partially_created,
    require_id, with_caller_arn,
};
use crate::Result;
use crate::provider::{AwsProvider, OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, send_tag_changes, tags_from_api};
use crate::values::{
    Obj, first_block, get_blocks, get_bool, get_i64, get_str, get_strings, str_set,
    value_to_str_map,
};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancing::types::{
    AccessLog, ConnectionDraining, ConnectionSettings, CrossZoneLoadBalancing, HealthCheck,
    Instance, Listener, LoadBalancerAttributes, LoadBalancerDescription as Lb, Tag, TagKeyOnly,
};
use std::collections::{BTreeMap, BTreeSet};
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct Elb;

const NAME: &str = "aws_elb";

/// Names per `DescribeLoadBalancers` / `DescribeTags` call.
const NAME_CHUNK: usize = 20;

fn bad(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::InvalidArgument {
        path: None,
        code: "InvalidParameter".into(),
        message: e.to_string(),
    }
}

fn i32_of(v: &Value, key: &str) -> i32 {
    get_i64(v, key)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or_default()
}

fn to_listener(l: &Value) -> Result<Listener> {
    Listener::builder()
        .protocol(get_str(l, "lb_protocol").unwrap_or_default().to_uppercase())
        .load_balancer_port(i32_of(l, "lb_port"))
        .instance_protocol(
            get_str(l, "instance_protocol")
                .unwrap_or_default()
                .to_uppercase(),
        )
        .instance_port(i32_of(l, "instance_port"))
        .set_ssl_certificate_id(get_str(l, "ssl_certificate_id"))
        .build()
        .map_err(bad)
}

fn listener_value(l: &Listener) -> Value {
    Value::map([
        ("instance_port", Value::from(i64::from(l.instance_port()))),
        (
            "instance_protocol",
            Value::from(l.instance_protocol().unwrap_or_default().to_lowercase()),
        ),
        ("lb_port", Value::from(i64::from(l.load_balancer_port()))),
        ("lb_protocol", Value::from(l.protocol().to_lowercase())),
        (
            "ssl_certificate_id",
            l.ssl_certificate_id().map_or(Value::Null, Value::from),
        ),
    ])
}

/// The protocols a classic load balancer listener takes (Terraform's check).
const PROTOCOLS: &[&str] = &["http", "https", "tcp", "ssl"];

/// Refuse a listener protocol the API does not know, at plan.
fn check_protocols(config: &Value) -> Result<()> {
    for l in get_blocks(config, "listener") {
        for k in ["lb_protocol", "instance_protocol"] {
            if let Some(proto) = get_str(l, k)
                && !PROTOCOLS.contains(&proto.as_str())
            {
                return Err(ProviderError::InvalidArgument {
                    path: Some(vec![
                        terrace_core::PathStep::Key("listener".into()),
                        terrace_core::PathStep::Key(k.into()),
                    ]),
                    code: "InvalidProtocol".into(),
                    message: format!(
                        "listener {k} {proto:?} is not one of HTTP, HTTPS, TCP or SSL"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The listeners of a configuration with protocols in lower case.
fn lower_listeners(config: &Value) -> Value {
    let mut c = config.clone();
    if let Some(m) = c.as_map_mut()
        && let Some(ls) = m.get("listener").and_then(Value::as_list)
    {
        let lowered = ls
            .iter()
            .map(|l| {
                let mut l = l.clone();
                if let Some(lm) = l.as_map_mut() {
                    for k in ["lb_protocol", "instance_protocol"] {
                        if let Some(s) = lm.get(k).and_then(Value::as_str) {
                            let low = s.to_lowercase();
                            lm.insert(k.into(), Value::from(low));
                        }
                    }
                }
                l
            })
            .collect();
        m.insert("listener".into(), Value::set(lowered));
    }
    c
}

fn to_health_check(h: &Value) -> Result<HealthCheck> {
    HealthCheck::builder()
        .target(get_str(h, "target").unwrap_or_default())
        .interval(i32_of(h, "interval"))
        .timeout(i32_of(h, "timeout"))
        .healthy_threshold(i32_of(h, "healthy_threshold"))
        .unhealthy_threshold(i32_of(h, "unhealthy_threshold"))
        .build()
        .map_err(bad)
}

fn attributes(planned: &Value) -> Result<LoadBalancerAttributes> {
    let logs = first_block(planned, "access_logs");
    let access = AccessLog::builder()
        .enabled(logs.is_some_and(|l| get_bool(l, "enabled").unwrap_or(true)))
        .set_s3_bucket_name(logs.and_then(|l| get_str(l, "bucket")))
        .set_s3_bucket_prefix(logs.and_then(|l| get_str(l, "bucket_prefix")))
        .set_emit_interval(logs.and_then(|l| get_i64(l, "interval")).map(|n| n as i32))
        .build();
    Ok(LoadBalancerAttributes::builder()
        .cross_zone_load_balancing(
            CrossZoneLoadBalancing::builder()
                .enabled(get_bool(planned, "cross_zone_load_balancing").unwrap_or(true))
                .build(),
        )
        .connection_settings(
            ConnectionSettings::builder()
                .idle_timeout(get_i64(planned, "idle_timeout").unwrap_or(60) as i32)
                .build()
                .map_err(bad)?,
        )
        .connection_draining(
            ConnectionDraining::builder()
                .enabled(get_bool(planned, "connection_draining").unwrap_or(false))
                .timeout(get_i64(planned, "connection_draining_timeout").unwrap_or(300) as i32)
                .build(),
        )
        .access_log(access)
        .build())
}

const ATTRIBUTE_KEYS: &[&str] = &[
    "cross_zone_load_balancing",
    "idle_timeout",
    "connection_draining",
    "connection_draining_timeout",
    "access_logs",
];

impl Elb {
    async fn describe(&self, p: &AwsProvider, names: Option<Vec<String>>) -> Result<Vec<Lb>> {
        let page = |marker: Option<String>| {
            let names = names.clone();
            async move {
                let out = p
                    .call("elb:DescribeLoadBalancers", || {
                        p.elb
                            .describe_load_balancers()
                            .set_load_balancer_names(names.clone())
                            .set_marker(marker.clone())
                            .send()
                    })
                    .await?;
                Ok((
                    out.load_balancer_descriptions().to_vec(),
                    out.next_marker().map(str::to_string),
                ))
            }
        };
        match super::ec2_support::describe_all(page).await {
            Err(e) if crate::api::is_not_found(&e) => Ok(Vec::new()),
            other => other,
        }
    }

    /// The balancers with these names (a missing name fails a whole
    /// describe: then each name alone).
    async fn find(&self, p: &AwsProvider, names: &[String]) -> Result<Vec<Lb>> {
        let mut out = Vec::new();
        for chunk in names.chunks(NAME_CHUNK) {
            let found = self.describe(p, Some(chunk.to_vec())).await?;
            if found.is_empty() && chunk.len() > 1 {
                for n in chunk {
                    out.extend(self.describe(p, Some(vec![n.clone()])).await?);
                }
            } else {
                out.extend(found);
            }
        }
        Ok(out)
    }

    async fn tags_of(&self, p: &AwsProvider, names: &[String]) -> Result<BTreeMap<String, TagMap>> {
        let mut out = BTreeMap::new();
        for chunk in names.chunks(NAME_CHUNK) {
            let got = p
                .call("elb:DescribeTags", || {
                    p.elb
                        .describe_tags()
                        .set_load_balancer_names(Some(chunk.to_vec()))
                        .send()
                })
                .await?;
            for d in got.tag_descriptions() {
                let tags = d
                    .tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                out.insert(d.load_balancer_name().unwrap_or_default().to_string(), tags);
            }
        }
        Ok(out)
    }

    async fn to_value(
        &self,
        p: &AwsProvider,
        lb: &Lb,
        tags: &TagMap,
        prior: Option<&Value>,
    ) -> Result<Value> {
        let name = lb.load_balancer_name().unwrap_or_default();
        let out = p
            .call("elb:DescribeLoadBalancerAttributes", || {
                p.elb
                    .describe_load_balancer_attributes()
                    .load_balancer_name(name)
                    .send()
            })
            .await?;
        let attrs = out.load_balancer_attributes();
        let (tags, tags_all) = tags_from_api(tags, prior, &p.default_tags);
        let health = lb.health_check().map(|h| {
            Value::map([
                ("target", Value::from(h.target())),
                ("interval", Value::from(i64::from(h.interval()))),
                ("timeout", Value::from(i64::from(h.timeout()))),
                (
                    "healthy_threshold",
                    Value::from(i64::from(h.healthy_threshold())),
                ),
                (
                    "unhealthy_threshold",
                    Value::from(i64::from(h.unhealthy_threshold())),
                ),
            ])
        });
        let log = attrs.and_then(|a| a.access_log());
        let had_logs = prior.is_some_and(|pv| first_block(pv, "access_logs").is_some());
        let logs = log.filter(|l| l.enabled() || had_logs).map(|l| {
            Value::map([
                (
                    "bucket",
                    l.s3_bucket_name().map_or(Value::Null, Value::from),
                ),
                (
                    "bucket_prefix",
                    l.s3_bucket_prefix()
                        .filter(|s| !s.is_empty())
                        .map_or(Value::Null, Value::from),
                ),
                (
                    "interval",
                    Value::from(i64::from(l.emit_interval().unwrap_or(60))),
                ),
                ("enabled", Value::Bool(l.enabled())),
            ])
        });
        let drain = attrs.and_then(|a| a.connection_draining());
        Ok(Obj::new(&p.resource_schema(NAME))
            .set("id", name)
            .set("name", name)
            .keep(prior, &["arn", "name_prefix"])
            .set_opt_str("dns_name", lb.dns_name())
            .set_opt_str("zone_id", lb.canonical_hosted_zone_name_id())
            .set("internal", lb.scheme() == Some("internal"))
            .set("subnets", str_set(lb.subnets().iter().cloned()))
            .set(
                "availability_zones",
                str_set(lb.availability_zones().iter().cloned()),
            )
            .set(
                "security_groups",
                str_set(lb.security_groups().iter().cloned()),
            )
            .set(
                "instances",
                str_set(lb.instances().iter().filter_map(|i| i.instance_id())),
            )
            .set_opt_str(
                "source_security_group",
                lb.source_security_group().and_then(|g| g.group_name()),
            )
            .set(
                "listener",
                Value::set(
                    lb.listener_descriptions()
                        .iter()
                        .filter_map(|d| d.listener())
                        .map(listener_value)
                        .collect(),
                ),
            )
            .set("health_check", Value::List(health.into_iter().collect()))
            .set("access_logs", Value::List(logs.into_iter().collect()))
            .set(
                "cross_zone_load_balancing",
                attrs
                    .and_then(|a| a.cross_zone_load_balancing())
                    .is_none_or(|c| c.enabled()),
            )
            .set(
                "idle_timeout",
                i64::from(
                    attrs
                        .and_then(|a| a.connection_settings())
                        .map_or(60, |c| c.idle_timeout()),
                ),
            )
            .set("connection_draining", drain.is_some_and(|d| d.enabled()))
            .set(
                "connection_draining_timeout",
                i64::from(drain.and_then(|d| d.timeout()).unwrap_or(300)),
            )
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build())
    }

    async fn mapped(
        &self,
        p: &AwsProvider,
        found: &[Lb],
        prior: impl Fn(&str) -> Option<Value>,
    ) -> Result<BTreeMap<String, Value>> {
        let names: Vec<String> = found
            .iter()
            .filter_map(|l| l.load_balancer_name().map(str::to_string))
            .collect();
        let tags = self.tags_of(p, &names).await?;
        let mut out = BTreeMap::new();
        for lb in found {
            let name = lb.load_balancer_name().unwrap_or_default();
            let t = tags.get(name).cloned().unwrap_or_default();
            let v = self.to_value(p, lb, &t, prior(name).as_ref()).await?;
            out.insert(name.to_string(), v);
        }
        Ok(out)
    }

    async fn read_one(
        &self,
        p: &AwsProvider,
        name: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let found = self.find(p, &[name.to_string()]).await?;
        Ok(self
            .mapped(p, &found, |_| prior.cloned())
            .await?
            .remove(name))
    }

    async fn owned(&self, p: &AwsProvider, want: &[(&str, &str)]) -> Result<Vec<Value>> {
        let all = self.describe(p, None).await?;
        let names: Vec<String> = all
            .iter()
            .filter_map(|l| l.load_balancer_name().map(str::to_string))
            .collect();
        let tags = self.tags_of(p, &names).await?;
        let mine: Vec<Lb> = all
            .into_iter()
            .filter(|l| {
                let t = tags.get(l.load_balancer_name().unwrap_or_default());
                want.iter()
                    .all(|(k, v)| t.and_then(|t| t.get(*k)).map(String::as_str) == Some(*v))
            })
            .collect();
        Ok(self
            .mapped(p, &mine, |_| None)
            .await?
            .into_values()
            .collect())
    }

    /// Bring a set-valued argument from `prior` to `planned` with one
    /// call for what is added and one for what is removed.
    async fn change_set<A, AF, R, RF>(
        prior: &Value,
        planned: &Value,
        key: &str,
        add: A,
        remove: R,
    ) -> Result<()>
    where
        A: FnOnce(Vec<String>) -> AF,
        AF: std::future::Future<Output = Result<()>>,
        R: FnOnce(Vec<String>) -> RF,
        RF: std::future::Future<Output = Result<()>>,
    {
        if planned.get(key).is_none_or(|v| !v.is_wholly_known()) {
            return Ok(());
        }
        let old: BTreeSet<String> = get_strings(prior, key).into_iter().collect();
        let new: BTreeSet<String> = get_strings(planned, key).into_iter().collect();
        let added: Vec<String> = new.difference(&old).cloned().collect();
        let removed: Vec<String> = old.difference(&new).cloned().collect();
        if !added.is_empty() {
            add(added).await?;
        }
        if !removed.is_empty() {
            remove(removed).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceType for Elb {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        let strings = || Attribute::optional_computed(AttrType::set_of(AttrType::String));
        let listener = Schema::new()
            .attrs(
                &["instance_port", "lb_port"],
                Attribute::required(AttrType::Number),
            )
            .attrs(
                &["instance_protocol", "lb_protocol"],
                Attribute::required(AttrType::String),
            )
            .attr("ssl_certificate_id", Attribute::optional(AttrType::String));
        let health = [
            ("healthy_threshold", AttrType::Number),
            ("unhealthy_threshold", AttrType::Number),
            ("target", AttrType::String),
            ("interval", AttrType::Number),
            ("timeout", AttrType::Number),
        ]
        .into_iter()
        .fold(Schema::new(), |s, (k, t)| s.attr(k, Attribute::required(t)));
        let logs = Schema::new()
            .attr("bucket", Attribute::required(AttrType::String))
            .attr("bucket_prefix", Attribute::optional(AttrType::String))
            .attr(
                "interval",
                Attribute::optional(AttrType::Number).default(60),
            )
            .attr("enabled", Attribute::optional(AttrType::Bool).default(true));
        let computed = Schema::new().attrs(
            &[
                "id",
                "arn",
                "dns_name",
                "zone_id",
                "source_security_group_id",
            ],
            Attribute::computed(AttrType::String),
        );
        computed
            .named_or_prefixed()
            .attr(
                "internal",
                Attribute::optional_computed(AttrType::Bool).force_new(),
            )
            .attrs(
                &[
                    "availability_zones",
                    "subnets",
                    "security_groups",
                    "instances",
                ],
                strings(),
            )
            .attr(
                "source_security_group",
                Attribute::optional_computed(AttrType::String),
            )
            .attr(
                "cross_zone_load_balancing",
                Attribute::optional(AttrType::Bool).default(true),
            )
            .attr(
                "idle_timeout",
                Attribute::optional(AttrType::Number).default(60),
            )
            .attr(
                "connection_draining",
                Attribute::optional(AttrType::Bool).default(false),
            )
            .attr(
                "connection_draining_timeout",
                Attribute::optional(AttrType::Number).default(300),
            )
            .set_block("listener", listener)
            .list_block("health_check", 0, 1, health)
            .computed_block("health_check")
            .list_block("access_logs", 0, 1, logs)
            .tagged()
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let config = lower_listeners(config);
        check_protocols(&config)?;
        let cfg = computed_block_config(&config, prior, "health_check");
        let mut planned = default_plan(p, &p.resource_schema(NAME), prior, &cfg, ctx);
        if prior.is_none() {
            computed_block_unknown(&mut planned, &config, "health_check");
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let names: Vec<String> = prior
            .iter()
            .map(|v| get_str(v, "id").unwrap_or_default())
            .collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        let found = self.find(p, &unique).await?;
        let by_name: BTreeMap<&str, &Value> = names.iter().map(String::as_str).zip(prior).collect();
        let mut mapped = self
            .mapped(p, &found, |n| by_name.get(n).map(|v| (*v).clone()))
            .await?;
        Ok(names.iter().map(|n| mapped.remove(n)).collect())
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let Some(v) = self.read_one(p, id, None).await? else {
            return Ok(None);
        };
        Ok(Some(
            with_caller_arn(p, &v, "elasticloadbalancing", &format!("loadbalancer/{id}")).await?,
        ))
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags: Vec<Tag> = create_tags(&p.default_tags, planned, &ctx.resource)
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(bad))
            .collect::<Result<_, _>>()?;
        let name = get_str(planned, "name").unwrap_or_else(|| {
            super::lb::load_balancer::generated_name(
                Some(
                    get_str(planned, "name_prefix")
                        .as_deref()
                        .unwrap_or("tf-lb-"),
                ),
                &ctx.idempotency_token,
            )
        });
        let listeners: Vec<Listener> = get_blocks(planned, "listener")
            .iter()
            .map(to_listener)
            .collect::<Result<_, _>>()?;
        let opt = |k| Some(get_strings(planned, k)).filter(|v: &Vec<String>| !v.is_empty());
        p.call("elb:CreateLoadBalancer", || {
            p.elb
                .create_load_balancer()
                .load_balancer_name(&name)
                .set_listeners(Some(listeners.clone()))
                .set_availability_zones(opt("availability_zones"))
                .set_subnets(opt("subnets"))
                .set_security_groups(opt("security_groups"))
                .set_scheme(
                    (get_bool(planned, "internal") == Some(true)).then(|| "internal".into()),
                )
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await?;
        let made = Value::map([("id", Value::from(name.clone()))]);
        let rest = async {
            let empty = Value::map::<&str>([]);
            self.apply_changes(p, &name, &empty, planned).await?;
            let known = with_caller_arn(
                p,
                planned,
                "elasticloadbalancing",
                &format!("loadbalancer/{name}"),
            )
            .await?;
            self.read_one(p, &name, Some(&known)).await?.ok_or_else(|| {
                ProviderError::NotFound(format!("load balancer {name} not found after create"))
            })
        };
        rest.await.map_err(|e| partially_created(&made, e))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let name = require_id(NAME, prior)?;
        // Listeners: remove the changed/removed ports, then create the new.
        let old: Vec<&Value> = get_blocks(prior, "listener").iter().collect();
        let new: Vec<&Value> = get_blocks(planned, "listener").iter().collect();
        let gone: Vec<i32> = old
            .iter()
            .filter(|l| !new.contains(l))
            .map(|l| i32_of(l, "lb_port"))
            .collect();
        if !gone.is_empty() {
            p.call("elb:DeleteLoadBalancerListeners", || {
                p.elb
                    .delete_load_balancer_listeners()
                    .load_balancer_name(&name)
                    .set_load_balancer_ports(Some(gone.clone()))
                    .send()
            })
            .await?;
        }
        let added: Vec<Listener> = new
            .iter()
            .filter(|l| !old.contains(l))
            .map(|l| to_listener(l))
            .collect::<Result<_, _>>()?;
        if !added.is_empty() {
            p.call("elb:CreateLoadBalancerListeners", || {
                p.elb
                    .create_load_balancer_listeners()
                    .load_balancer_name(&name)
                    .set_listeners(Some(added.clone()))
                    .send()
            })
            .await?;
        }
        if prior.get("security_groups") != planned.get("security_groups")
            && planned
                .get("security_groups")
                .is_some_and(Value::is_wholly_known)
        {
            let sgs = get_strings(planned, "security_groups");
            p.call("elb:ApplySecurityGroupsToLoadBalancer", || {
                p.elb
                    .apply_security_groups_to_load_balancer()
                    .load_balancer_name(&name)
                    .set_security_groups(Some(sgs.clone()))
                    .send()
            })
            .await?;
        }
        let n = name.as_str();
        Self::change_set(
            prior,
            planned,
            "subnets",
            |s| async move {
                p.call("elb:AttachLoadBalancerToSubnets", || {
                    p.elb
                        .attach_load_balancer_to_subnets()
                        .load_balancer_name(n)
                        .set_subnets(Some(s.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
            |s| async move {
                p.call("elb:DetachLoadBalancerFromSubnets", || {
                    p.elb
                        .detach_load_balancer_from_subnets()
                        .load_balancer_name(n)
                        .set_subnets(Some(s.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
        )
        .await?;
        Self::change_set(
            prior,
            planned,
            "availability_zones",
            |z| async move {
                p.call("elb:EnableAvailabilityZonesForLoadBalancer", || {
                    p.elb
                        .enable_availability_zones_for_load_balancer()
                        .load_balancer_name(n)
                        .set_availability_zones(Some(z.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
            |z| async move {
                p.call("elb:DisableAvailabilityZonesForLoadBalancer", || {
                    p.elb
                        .disable_availability_zones_for_load_balancer()
                        .load_balancer_name(n)
                        .set_availability_zones(Some(z.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
        )
        .await?;
        self.apply_changes(p, &name, prior, planned).await?;
        let old = value_to_str_map(prior.get("tags_all").unwrap_or(&Value::Null));
        let new = value_to_str_map(planned.get("tags_all").unwrap_or(&Value::Null));
        send_tag_changes(
            &old,
            &new,
            |keys| async move {
                let keys: Vec<TagKeyOnly> = keys
                    .iter()
                    .map(|k| TagKeyOnly::builder().key(k).build())
                    .collect();
                p.call("elb:RemoveTags", || {
                    p.elb
                        .remove_tags()
                        .load_balancer_names(n)
                        .set_tags(Some(keys.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
            |tags| async move {
                let tags: Vec<Tag> = tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(bad))
                    .collect::<Result<_, _>>()?;
                p.call("elb:AddTags", || {
                    p.elb
                        .add_tags()
                        .load_balancer_names(n)
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
        )
        .await?;
        self.read_one(p, &name, Some(planned))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!("load balancer {name} disappeared during update"))
            })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let name = require_id(NAME, prior)?;
        // Deleting a missing classic balancer succeeds.
        p.call("elb:DeleteLoadBalancer", || {
            p.elb
                .delete_load_balancer()
                .load_balancer_name(&name)
                .send()
        })
        .await
        .map(|_| ())
    }

    async fn find_created(
        &self,
        p: &AwsProvider,
        _token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>> {
        let want = [
            (OWNER_ENVIRONMENT_TAG, ctx.environment.as_str()),
            (OWNER_ADDRESS_TAG, ctx.address.as_str()),
        ];
        Ok(self.owned(p, &want).await?.into_iter().next())
    }

    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        self.owned(p, &[(OWNER_ENVIRONMENT_TAG, environment)]).await
    }
}

impl Elb {
    /// Instances, health check and attributes: what create and update
    /// both bring from `prior` (empty on create) to `planned`.
    async fn apply_changes(
        &self,
        p: &AwsProvider,
        name: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<()> {
        let instances = |ids: Vec<String>| -> Vec<Instance> {
            ids.into_iter()
                .map(|i| Instance::builder().instance_id(i).build())
                .collect()
        };
        Self::change_set(
            prior,
            planned,
            "instances",
            |add| async move {
                let add = instances(add);
                p.call("elb:RegisterInstancesWithLoadBalancer", || {
                    p.elb
                        .register_instances_with_load_balancer()
                        .load_balancer_name(name)
                        .set_instances(Some(add.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
            |remove| async move {
                let remove = instances(remove);
                p.call("elb:DeregisterInstancesFromLoadBalancer", || {
                    p.elb
                        .deregister_instances_from_load_balancer()
                        .load_balancer_name(name)
                        .set_instances(Some(remove.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
        )
        .await?;
        if let Some(h) = first_block(planned, "health_check")
            && prior.get("health_check") != planned.get("health_check")
            && h.is_wholly_known()
        {
            let hc = to_health_check(h)?;
            p.call("elb:ConfigureHealthCheck", || {
                p.elb
                    .configure_health_check()
                    .load_balancer_name(name)
                    .health_check(hc.clone())
                    .send()
            })
            .await?;
        }
        if ATTRIBUTE_KEYS
            .iter()
            .any(|k| prior.get(k) != planned.get(k))
        {
            let attrs = attributes(planned)?;
            p.call("elb:ModifyLoadBalancerAttributes", || {
                p.elb
                    .modify_load_balancer_attributes()
                    .load_balancer_name(name)
                    .load_balancer_attributes(attrs.clone())
                    .send()
            })
            .await?;
        }
        Ok(())
    }
}
