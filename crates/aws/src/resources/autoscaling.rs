//! `aws_autoscaling_group`.
//!
//! Tags are Terraform's repeated `tag` blocks. The ownership tags are
//! written on create (not propagated to instances, so launched instances do
//! not look like terrace-owned `aws_instance`s) and hidden from `tag`.
//! `load_balancers` and `target_group_arns` are attached and detached in
//! place; `mixed_instances_policy`, `warm_pool` and `instance_refresh` live
//! in `autoscaling_parts`.

use super::autoscaling_parts as parts;
use super::ec2_support::{describe_all, describe_chunked};
use super::iam::generated_name;
use super::{ResourceType, default_plan, partially_created, require_id, wait_for};
use crate::Result;
use crate::api::{at_path, is_not_found};
use crate::provider::{AwsProvider, OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use crate::schema::SchemaAttrs;
use crate::tags::ownership_tags;
use crate::values::{
    Obj, first_block, get_blocks, get_bool, get_i64, get_str, get_strings, str_set,
};
use async_trait::async_trait;
use aws_sdk_autoscaling::types::{
    AutoScalingGroup, Filter, LaunchTemplateSpecification, LifecycleState, Tag,
};
use std::collections::BTreeMap;
use std::time::Duration;
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrMode, AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext,
    Schema,
};

pub(crate) struct AutoscalingGroup;

const NAME: &str = "aws_autoscaling_group";

/// Names per `DescribeAutoScalingGroups` call.
const NAMES_PER_CALL: usize = 100;

const POLL: Duration = Duration::from_secs(2);
const DELETE_TIMEOUT: Duration = Duration::from_secs(600);

fn is_ownership(key: &str) -> bool {
    key == OWNER_ENVIRONMENT_TAG || key == OWNER_ADDRESS_TAG
}

/// `(key → (value, propagate_at_launch))` of the `tag` blocks.
fn tag_blocks(v: &Value) -> BTreeMap<String, (String, bool)> {
    get_blocks(v, "tag")
        .iter()
        .filter_map(|t| {
            Some((
                get_str(t, "key")?,
                (
                    get_str(t, "value").unwrap_or_default(),
                    get_bool(t, "propagate_at_launch").unwrap_or(false),
                ),
            ))
        })
        .collect()
}

fn api_tag(name: &str, key: &str, value: &str, propagate: bool) -> Tag {
    Tag::builder()
        .resource_id(name)
        .resource_type("auto-scaling-group")
        .key(key)
        .value(value)
        .propagate_at_launch(propagate)
        .build()
}

fn launch_template_spec(planned: &Value) -> Option<LaunchTemplateSpecification> {
    let lt = first_block(planned, "launch_template")?;
    Some(
        LaunchTemplateSpecification::builder()
            .set_launch_template_id(get_str(lt, "id"))
            // The API takes an ID or a name, not both.
            .set_launch_template_name(if get_str(lt, "id").is_some() {
                None
            } else {
                get_str(lt, "name")
            })
            .set_version(get_str(lt, "version"))
            .build(),
    )
}

fn zone_identifier(planned: &Value) -> Option<String> {
    let subnets = get_strings(planned, "vpc_zone_identifier");
    (!subnets.is_empty()).then(|| subnets.join(","))
}

fn i32_of(v: &Value, key: &str) -> Option<i32> {
    get_i64(v, key).map(|x| x as i32)
}

/// Terraform-style duration ("10m", "30s", "1h5m"); `None` when invalid.
fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut num = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        total += match c {
            'h' => n * 3600,
            'm' => n * 60,
            's' => n,
            _ => return None,
        };
    }
    if !num.is_empty() {
        total += num.parse::<u64>().ok()?;
    }
    Some(Duration::from_secs(total))
}

impl AutoscalingGroup {
    fn to_value(&self, p: &AwsProvider, g: &AutoScalingGroup, prior: Option<&Value>) -> Value {
        let name = g.auto_scaling_group_name().unwrap_or_default();
        let tags: Vec<Value> = g
            .tags()
            .iter()
            .filter(|t| !t.key().is_some_and(is_ownership))
            .map(|t| {
                Value::map([
                    ("key", Value::from(t.key().unwrap_or_default())),
                    ("value", Value::from(t.value().unwrap_or_default())),
                    (
                        "propagate_at_launch",
                        Value::Bool(t.propagate_at_launch().unwrap_or(false)),
                    ),
                ])
            })
            .collect();
        let mixed: Vec<Value> = g
            .mixed_instances_policy()
            .map(parts::mixed_instances_policy_value)
            .into_iter()
            .collect();
        let lt: Vec<Value> = g
            .launch_template()
            // A group with a mixed instances policy has its template there.
            .filter(|_| mixed.is_empty())
            .map(|l| {
                Value::map([
                    (
                        "id",
                        l.launch_template_id()
                            .map(Value::from)
                            .unwrap_or(Value::Null),
                    ),
                    (
                        "name",
                        l.launch_template_name()
                            .map(Value::from)
                            .unwrap_or(Value::Null),
                    ),
                    (
                        "version",
                        l.version().map(Value::from).unwrap_or(Value::Null),
                    ),
                ])
            })
            .into_iter()
            .collect();
        let subnets: Vec<String> = g
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let num = |v: Option<i32>| v.map(|x| Value::from(i64::from(x))).unwrap_or(Value::Null);
        Obj::new(&p.resource_schema(NAME))
            .set("id", name)
            .set("name", name)
            .set_opt_str("arn", g.auto_scaling_group_arn())
            .set("min_size", num(g.min_size()))
            .set("max_size", num(g.max_size()))
            .set("desired_capacity", num(g.desired_capacity()))
            .set("default_cooldown", num(g.default_cooldown()))
            .set(
                "health_check_grace_period",
                num(g.health_check_grace_period()),
            )
            .set_opt_str("health_check_type", g.health_check_type())
            .set("vpc_zone_identifier", str_set(subnets))
            .set(
                "availability_zones",
                str_set(g.availability_zones().to_vec()),
            )
            .set("target_group_arns", str_set(g.target_group_arns().to_vec()))
            .set("load_balancers", str_set(g.load_balancer_names().to_vec()))
            .set("mixed_instances_policy", Value::List(mixed))
            .set(
                "warm_pool",
                Value::List(
                    g.warm_pool_configuration()
                        .map(parts::warm_pool_value)
                        .into_iter()
                        .collect(),
                ),
            )
            .set(
                "capacity_rebalance",
                g.capacity_rebalance()
                    .map(Value::Bool)
                    .unwrap_or(Value::Null),
            )
            .set(
                "max_instance_lifetime",
                num(g.max_instance_lifetime().filter(|x| *x != 0)),
            )
            .set(
                "protect_from_scale_in",
                Value::Bool(g.new_instances_protected_from_scale_in().unwrap_or(false)),
            )
            .set_opt_str("service_linked_role_arn", g.service_linked_role_arn())
            .set("launch_template", Value::List(lt))
            .set("tag", Value::set(tags))
            .keep(
                prior,
                &[
                    "name_prefix",
                    "force_delete",
                    "wait_for_capacity_timeout",
                    // Configuration only, never read back (as in Terraform).
                    "instance_refresh",
                ],
            )
            .build()
    }

    async fn describe(
        &self,
        p: &AwsProvider,
        names: &[String],
    ) -> Result<BTreeMap<String, AutoScalingGroup>> {
        let mut unique: Vec<String> = names.iter().filter(|n| !n.is_empty()).cloned().collect();
        unique.sort();
        unique.dedup();
        let groups = describe_chunked(&unique, NAMES_PER_CALL, |chunk, token| {
            self.describe_page(p, Some(chunk), None, token)
        })
        .await?;
        Ok(groups
            .into_iter()
            .filter_map(|g| Some((g.auto_scaling_group_name()?.to_string(), g)))
            .collect())
    }

    async fn describe_pages(
        &self,
        p: &AwsProvider,
        names: Option<Vec<String>>,
        filters: Option<Vec<Filter>>,
    ) -> Result<Vec<AutoScalingGroup>> {
        describe_all(|token| self.describe_page(p, names.clone(), filters.clone(), token)).await
    }

    /// One page of `DescribeAutoScalingGroups`.
    async fn describe_page(
        &self,
        p: &AwsProvider,
        names: Option<Vec<String>>,
        filters: Option<Vec<Filter>>,
        token: Option<String>,
    ) -> Result<(Vec<AutoScalingGroup>, Option<String>)> {
        let page = p
            .call("autoscaling:DescribeAutoScalingGroups", || {
                p.autoscaling
                    .describe_auto_scaling_groups()
                    .set_auto_scaling_group_names(names.clone())
                    .set_filters(filters.clone())
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        let next = page.next_token().map(str::to_string);
        Ok((page.auto_scaling_groups().to_vec(), next))
    }

    async fn get(&self, p: &AwsProvider, name: &str) -> Result<Option<AutoScalingGroup>> {
        Ok(self.describe(p, &[name.to_string()]).await?.remove(name))
    }

    async fn read_one(
        &self,
        p: &AwsProvider,
        name: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        Ok(self
            .get(p, name)
            .await?
            .map(|g| self.to_value(p, &g, prior)))
    }

    /// Wait until the group has `desired_capacity` healthy in-service
    /// instances (Terraform's `wait_for_capacity_timeout`; "0" skips).
    async fn wait_for_capacity(
        &self,
        p: &AwsProvider,
        name: &str,
        planned: &Value,
        limit: Duration,
    ) -> Result<()> {
        let timeout = get_str(planned, "wait_for_capacity_timeout")
            .as_deref()
            .map(|t| parse_duration(t).unwrap_or(limit))
            .unwrap_or(limit)
            .min(limit);
        if timeout.is_zero() {
            return Ok(());
        }
        wait_for(
            &format!("autoscaling group {name} capacity"),
            timeout,
            POLL,
            || async {
                let Some(g) = self.get(p, name).await? else {
                    return Err(ProviderError::NotFound(format!(
                        "autoscaling group {name} disappeared"
                    )));
                };
                let want = g.desired_capacity().or(g.min_size()).unwrap_or(0).max(0) as usize;
                let in_service = g
                    .instances()
                    .iter()
                    .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
                    .filter(|i| {
                        i.health_status()
                            .is_none_or(|h| h.eq_ignore_ascii_case("healthy"))
                    })
                    .count();
                Ok((in_service >= want).then_some(()))
            },
        )
        .await
    }

    /// Attach and detach classic load balancers (`load_balancers`) and
    /// target groups (`target_group_arns`) by difference.
    async fn update_attachments(
        &self,
        p: &AwsProvider,
        name: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<()> {
        let diff = |k: &str| -> Option<(Vec<String>, Vec<String>)> {
            // Unknown or unset (optional+computed): leave as it is.
            if planned.get(k).is_none_or(|v| v.is_unknown() || v.is_null()) {
                return None;
            }
            let old = get_strings(prior, k);
            let new = get_strings(planned, k);
            let add: Vec<String> = new.iter().filter(|x| !old.contains(x)).cloned().collect();
            let remove: Vec<String> = old.iter().filter(|x| !new.contains(x)).cloned().collect();
            Some((add, remove))
        };
        if let Some((add, remove)) = diff("load_balancers") {
            if !remove.is_empty() {
                p.call("autoscaling:DetachLoadBalancers", || {
                    p.autoscaling
                        .detach_load_balancers()
                        .auto_scaling_group_name(name)
                        .set_load_balancer_names(Some(remove.clone()))
                        .send()
                })
                .await?;
            }
            if !add.is_empty() {
                p.call("autoscaling:AttachLoadBalancers", || {
                    p.autoscaling
                        .attach_load_balancers()
                        .auto_scaling_group_name(name)
                        .set_load_balancer_names(Some(add.clone()))
                        .send()
                })
                .await
                .map_err(|e| at_path(e, "load_balancers"))?;
            }
        }
        if let Some((add, remove)) = diff("target_group_arns") {
            if !remove.is_empty() {
                p.call("autoscaling:DetachLoadBalancerTargetGroups", || {
                    p.autoscaling
                        .detach_load_balancer_target_groups()
                        .auto_scaling_group_name(name)
                        .set_target_group_arns(Some(remove.clone()))
                        .send()
                })
                .await?;
            }
            if !add.is_empty() {
                p.call("autoscaling:AttachLoadBalancerTargetGroups", || {
                    p.autoscaling
                        .attach_load_balancer_target_groups()
                        .auto_scaling_group_name(name)
                        .set_target_group_arns(Some(add.clone()))
                        .send()
                })
                .await
                .map_err(|e| at_path(e, "target_group_arns"))?;
            }
        }
        Ok(())
    }

    fn filter(name: &str, value: &str) -> Filter {
        Filter::builder().name(name).values(value).build()
    }

    async fn list_filtered(&self, p: &AwsProvider, filters: Vec<Filter>) -> Result<Vec<Value>> {
        Ok(self
            .describe_pages(p, None, Some(filters))
            .await?
            .iter()
            .map(|g| self.to_value(p, g, None))
            .collect())
    }
}

#[async_trait]
impl ResourceType for AutoscalingGroup {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(&["id", "arn"], Attribute::computed(AttrType::String))
            .named_or_prefixed()
            .attrs(
                &["min_size", "max_size"],
                Attribute::required(AttrType::Number),
            )
            .attrs(
                &["desired_capacity", "default_cooldown"],
                Attribute::optional_computed(AttrType::Number),
            )
            .attrs(
                &["health_check_type", "service_linked_role_arn"],
                Attribute::optional_computed(AttrType::String),
            )
            .attr(
                "health_check_grace_period",
                Attribute::optional(AttrType::Number).default(300i64),
            )
            .attrs(
                &[
                    "vpc_zone_identifier",
                    "availability_zones",
                    "target_group_arns",
                    "load_balancers",
                ],
                Attribute::optional_computed(AttrType::set_of(AttrType::String)),
            )
            .attr(
                "capacity_rebalance",
                Attribute::optional_computed(AttrType::Bool),
            )
            .attr(
                "max_instance_lifetime",
                Attribute::optional(AttrType::Number),
            )
            .attrs(
                &["protect_from_scale_in", "force_delete"],
                Attribute::optional(AttrType::Bool).default(false),
            )
            .attr(
                "wait_for_capacity_timeout",
                Attribute::optional(AttrType::String).default("10m"),
            )
            .list_block(
                "launch_template",
                0,
                1,
                Schema::new().attrs(
                    &["id", "name", "version"],
                    Attribute::optional_computed(AttrType::String),
                ),
            )
            .list_block(
                "mixed_instances_policy",
                0,
                1,
                parts::mixed_instances_policy_schema(),
            )
            .list_block("warm_pool", 0, 1, parts::warm_pool_schema())
            .list_block("instance_refresh", 0, 1, parts::instance_refresh_schema())
            .set_block(
                "tag",
                Schema::new()
                    .attrs(&["key", "value"], Attribute::required(AttrType::String))
                    .attr("propagate_at_launch", Attribute::required(AttrType::Bool)),
            )
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let schema = p.resource_schema(NAME);
        let arguments: Vec<String> = schema
            .attributes
            .iter()
            .filter(|(_, a)| a.mode != AttrMode::Computed)
            .map(|(k, _)| k.clone())
            .chain(schema.blocks.keys().cloned())
            .collect();
        parts::check_instance_refresh(config, &arguments)?;
        if !get_blocks(config, "launch_template").is_empty()
            && !get_blocks(config, "mixed_instances_policy").is_empty()
        {
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![PathStep::Key("mixed_instances_policy".into())]),
                code: "ConflictingArguments".into(),
                message: "`mixed_instances_policy` conflicts with `launch_template`: give the \
                          template in mixed_instances_policy.launch_template and remove the \
                          top-level launch_template block"
                    .into(),
            });
        }
        let mut planned = default_plan(p, &schema, prior, config, ctx);
        // With subnets given, the zones follow from them.
        if let Some(prior) = prior
            && planned.planned.get("vpc_zone_identifier") != prior.get("vpc_zone_identifier")
            && config.get("availability_zones").is_none_or(Value::is_null)
            && let Some(m) = planned.planned.as_map_mut()
        {
            m.insert("availability_zones".into(), Value::Unknown);
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let names: Vec<String> = prior
            .iter()
            .map(|v| get_str(v, "id").unwrap_or_default())
            .collect();
        let found = self.describe(p, &names).await?;
        Ok(prior
            .iter()
            .zip(&names)
            .map(|(pv, n)| found.get(n).map(|g| self.to_value(p, g, Some(pv))))
            .collect())
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let name = get_str(planned, "name").unwrap_or_else(|| {
            generated_name(
                get_str(planned, "name_prefix").as_deref(),
                &ctx.idempotency_token,
            )
        });
        let mut tags: Vec<Tag> = tag_blocks(planned)
            .iter()
            .filter(|(k, _)| !is_ownership(k))
            .map(|(k, (v, prop))| api_tag(&name, k, v, *prop))
            .collect();
        tags.extend(
            ownership_tags(&ctx.resource)
                .iter()
                .map(|(k, v)| api_tag(&name, k, v, false)),
        );
        let azs = get_strings(planned, "availability_zones");
        let tgs = get_strings(planned, "target_group_arns");
        let elbs = get_strings(planned, "load_balancers");
        p.call("autoscaling:CreateAutoScalingGroup", || {
            p.autoscaling
                .create_auto_scaling_group()
                .auto_scaling_group_name(&name)
                .set_min_size(i32_of(planned, "min_size"))
                .set_max_size(i32_of(planned, "max_size"))
                .set_desired_capacity(i32_of(planned, "desired_capacity"))
                .set_default_cooldown(i32_of(planned, "default_cooldown"))
                .set_health_check_type(get_str(planned, "health_check_type"))
                .set_health_check_grace_period(i32_of(planned, "health_check_grace_period"))
                .set_vpc_zone_identifier(zone_identifier(planned))
                .set_availability_zones((!azs.is_empty()).then(|| azs.clone()))
                .set_target_group_arns((!tgs.is_empty()).then(|| tgs.clone()))
                .set_load_balancer_names((!elbs.is_empty()).then(|| elbs.clone()))
                .set_mixed_instances_policy(parts::mixed_instances_policy(planned))
                .set_capacity_rebalance(get_bool(planned, "capacity_rebalance"))
                .set_max_instance_lifetime(i32_of(planned, "max_instance_lifetime"))
                .set_new_instances_protected_from_scale_in(get_bool(
                    planned,
                    "protect_from_scale_in",
                ))
                .set_service_linked_role_arn(get_str(planned, "service_linked_role_arn"))
                .set_launch_template(launch_template_spec(planned))
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await
        .map_err(|e| match &e {
            ProviderError::InvalidArgument { code, .. } if code.contains("AlreadyExists") => {
                at_path(e, "name")
            }
            _ => e,
        })?;
        let mut with_name = planned.clone();
        if let Some(m) = with_name.as_map_mut() {
            m.insert("name".into(), Value::from(name.as_str()));
            m.insert("id".into(), Value::from(name.as_str()));
        }
        // The group exists from here on: a later failure keeps it in state.
        if let Some(wp) = first_block(planned, "warm_pool") {
            parts::put_warm_pool(p, &name, wp)
                .await
                .map_err(|e| partially_created(&with_name, e))?;
        }
        self.wait_for_capacity(p, &name, planned, ctx.timeout)
            .await?;
        self.read_one(p, &name, Some(&with_name))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!(
                    "autoscaling group {name} vanished right after create"
                ))
            })
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let name = require_id(NAME, prior)?;
        let changed = |k: &str| {
            prior.get(k) != planned.get(k) && planned.get(k).is_some_and(|v| !v.is_unknown())
        };
        let pick_i32 = |k: &str| if changed(k) { i32_of(planned, k) } else { None };
        let lt_changed = prior.get("launch_template") != planned.get("launch_template");
        let mixed_changed =
            prior.get("mixed_instances_policy") != planned.get("mixed_instances_policy");
        // Sent with every update while the group has one: an update without
        // it must not read as "remove the policy".
        let mixed = parts::mixed_instances_policy(planned);
        let zones_changed = changed("vpc_zone_identifier");
        let azs_changed = changed("availability_zones") && zone_identifier(planned).is_none();
        let any = [
            "min_size",
            "max_size",
            "desired_capacity",
            "default_cooldown",
            "health_check_type",
            "health_check_grace_period",
            "capacity_rebalance",
            "max_instance_lifetime",
            "protect_from_scale_in",
            "service_linked_role_arn",
        ]
        .iter()
        .any(|k| changed(k))
            || lt_changed
            || mixed_changed
            || zones_changed
            || azs_changed;
        if any {
            p.call("autoscaling:UpdateAutoScalingGroup", || {
                p.autoscaling
                    .update_auto_scaling_group()
                    .auto_scaling_group_name(&name)
                    .set_min_size(pick_i32("min_size"))
                    .set_max_size(pick_i32("max_size"))
                    .set_desired_capacity(pick_i32("desired_capacity"))
                    .set_default_cooldown(pick_i32("default_cooldown"))
                    .set_health_check_grace_period(pick_i32("health_check_grace_period"))
                    .set_max_instance_lifetime(pick_i32("max_instance_lifetime"))
                    .set_health_check_type(if changed("health_check_type") {
                        get_str(planned, "health_check_type")
                    } else {
                        None
                    })
                    .set_capacity_rebalance(if changed("capacity_rebalance") {
                        get_bool(planned, "capacity_rebalance")
                    } else {
                        None
                    })
                    .set_new_instances_protected_from_scale_in(
                        if changed("protect_from_scale_in") {
                            get_bool(planned, "protect_from_scale_in")
                        } else {
                            None
                        },
                    )
                    .set_service_linked_role_arn(if changed("service_linked_role_arn") {
                        get_str(planned, "service_linked_role_arn")
                    } else {
                        None
                    })
                    .set_vpc_zone_identifier(if zones_changed {
                        zone_identifier(planned)
                    } else {
                        None
                    })
                    .set_availability_zones(if azs_changed {
                        Some(get_strings(planned, "availability_zones"))
                    } else {
                        None
                    })
                    .set_launch_template(if lt_changed && mixed.is_none() {
                        launch_template_spec(planned)
                    } else {
                        None
                    })
                    .set_mixed_instances_policy(mixed.clone())
                    .send()
            })
            .await?;
        }
        self.update_attachments(p, &name, prior, planned).await?;
        let (old_wp, new_wp) = (
            first_block(prior, "warm_pool"),
            first_block(planned, "warm_pool"),
        );
        if old_wp != new_wp {
            match new_wp {
                Some(wp) => parts::put_warm_pool(p, &name, wp).await?,
                None => parts::delete_warm_pool(p, &name).await?,
            }
        }
        // `tag` blocks; the ownership tags are left alone.
        let old = tag_blocks(prior);
        let new = tag_blocks(planned);
        let removed: Vec<Tag> = old
            .keys()
            .filter(|k| !new.contains_key(*k) && !is_ownership(k))
            .map(|k| {
                Tag::builder()
                    .resource_id(&name)
                    .resource_type("auto-scaling-group")
                    .key(k)
                    .build()
            })
            .collect();
        if !removed.is_empty() {
            p.call("autoscaling:DeleteTags", || {
                p.autoscaling
                    .delete_tags()
                    .set_tags(Some(removed.clone()))
                    .send()
            })
            .await?;
        }
        let upserts: Vec<Tag> = new
            .iter()
            .filter(|(k, v)| old.get(*k) != Some(*v) && !is_ownership(k))
            .map(|(k, (v, prop))| api_tag(&name, k, v, *prop))
            .collect();
        if !upserts.is_empty() {
            p.call("autoscaling:CreateOrUpdateTags", || {
                p.autoscaling
                    .create_or_update_tags()
                    .set_tags(Some(upserts.clone()))
                    .send()
            })
            .await?;
        }
        if parts::refresh_needed(prior, planned) {
            parts::start_instance_refresh(p, &name, planned).await?;
        }
        self.read_one(p, &name, Some(planned))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!(
                    "autoscaling group {name} disappeared during update"
                ))
            })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let name = require_id(NAME, prior)?;
        if self.get(p, &name).await?.is_none() {
            return Ok(());
        }
        // Instances are terminated with the group (ForceDelete); a running
        // scaling activity makes the API refuse for a while.
        let mut attempts = 0;
        loop {
            match p
                .call("autoscaling:DeleteAutoScalingGroup", || {
                    p.autoscaling
                        .delete_auto_scaling_group()
                        .auto_scaling_group_name(&name)
                        .force_delete(true)
                        .send()
                })
                .await
            {
                Ok(_) => break,
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(ProviderError::InvalidArgument { message, .. })
                    if message.to_lowercase().contains("not found") =>
                {
                    return Ok(());
                }
                Err(ProviderError::Api { code, .. } | ProviderError::Conflict { code, .. })
                    if (code == "ScalingActivityInProgress" || code == "ResourceInUse")
                        && attempts < 30 =>
                {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                Err(e) => return Err(e),
            }
        }
        wait_for(
            &format!("autoscaling group {name} deletion"),
            DELETE_TIMEOUT,
            POLL,
            || async { Ok(self.get(p, &name).await?.is_none().then_some(())) },
        )
        .await
    }

    async fn find_created(
        &self,
        p: &AwsProvider,
        _token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>> {
        let filters = vec![
            Self::filter(&format!("tag:{OWNER_ENVIRONMENT_TAG}"), &ctx.environment),
            Self::filter(&format!("tag:{OWNER_ADDRESS_TAG}"), &ctx.address),
        ];
        Ok(self.list_filtered(p, filters).await?.into_iter().next())
    }

    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        self.list_filtered(
            p,
            vec![Self::filter(
                &format!("tag:{OWNER_ENVIRONMENT_TAG}"),
                environment,
            )],
        )
        .await
    }
}

/// The result of deleting a part of an Auto Scaling group (a scaling policy,
/// a scheduled action) that may be gone already: Auto Scaling answers a
/// missing one with not-found or with a validation error naming it.
pub(super) fn ok_if_part_gone<T>(r: Result<T>) -> Result<()> {
    match r {
        Err(ProviderError::InvalidArgument { message, .. })
            if message.contains("not found") || message.contains("does not exist") =>
        {
            Ok(())
        }
        other => super::ec2_support::ok_if_gone(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h5m3s"), Some(Duration::from_secs(3903)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("5x"), None);
    }
}
