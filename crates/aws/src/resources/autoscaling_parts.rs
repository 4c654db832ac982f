//! The nested parts of `aws_autoscaling_group` that have API shapes of
//! their own: `mixed_instances_policy` (instances distribution and launch
//! template with overrides), `warm_pool` and `instance_refresh`. Each has
//! its schema, its conversion to the SDK request type and (for the parts
//! the API reports) back to a value. `instance_refresh` is configuration
//! only, as in Terraform: it is never read back, and a refresh is started
//! on update when the launch template or mixed instances policy changes,
//! or an attribute named in `triggers` does (the Terraform AWS provider's
//! rule); any refresh in progress is cancelled first. terrace does not wait
//! for a refresh to finish, as Terraform does not.

use super::ec2_support::ok_if_gone;
use super::wait_for;
use crate::Result;
use crate::api::is_not_found;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::values::{first_block, get_blocks, get_bool, get_i64, get_str};
use aws_sdk_autoscaling::types::{
    InstanceRefreshStatus, InstanceReusePolicy, InstancesDistribution, LaunchTemplate,
    LaunchTemplateOverrides, LaunchTemplateSpecification, MixedInstancesPolicy, RefreshPreferences,
    ScaleInProtectedInstances, StandbyInstances, WarmPoolConfiguration, WarmPoolState,
};
use std::time::Duration;
use terrace_core::{PathStep, Value};
use terrace_provider::{AttrType, Attribute, ProviderError, Schema};

fn i32_of(v: &Value, key: &str) -> Option<i32> {
    get_i64(v, key).map(|x| x as i32)
}

fn num(v: Option<i32>) -> Value {
    v.map(|x| Value::from(i64::from(x))).unwrap_or(Value::Null)
}

fn opt(s: Option<&str>) -> Value {
    s.filter(|s| !s.is_empty())
        .map(Value::from)
        .unwrap_or(Value::Null)
}

// ---------------------------------------------------------------- schemas

fn lt_spec_schema() -> Schema {
    Schema::new().attrs(
        &["launch_template_id", "launch_template_name", "version"],
        Attribute::optional_computed(AttrType::String),
    )
}

/// `mixed_instances_policy` (instance requirements in overrides are not
/// implemented: an `instance_requirements` block is an unknown block).
pub(super) fn mixed_instances_policy_schema() -> Schema {
    Schema::new()
        .list_block(
            "instances_distribution",
            0,
            1,
            Schema::new()
                .attrs(
                    &["on_demand_allocation_strategy", "spot_allocation_strategy"],
                    Attribute::optional_computed(AttrType::String),
                )
                .attrs(
                    &[
                        "on_demand_base_capacity",
                        "on_demand_percentage_above_base_capacity",
                        "spot_instance_pools",
                    ],
                    Attribute::optional_computed(AttrType::Number),
                )
                .attr("spot_max_price", Attribute::optional(AttrType::String)),
        )
        // AWS fills the distribution in when none is given.
        .computed_block("instances_distribution")
        .list_block(
            "launch_template",
            1,
            1,
            Schema::new()
                .list_block("launch_template_specification", 1, 1, lt_spec_schema())
                .list_block(
                    "override",
                    0,
                    0,
                    Schema::new()
                        .attrs(
                            &["instance_type", "weighted_capacity"],
                            Attribute::optional(AttrType::String),
                        )
                        .list_block("launch_template_specification", 0, 1, lt_spec_schema()),
                ),
        )
}

pub(super) fn warm_pool_schema() -> Schema {
    Schema::new()
        .attr(
            "pool_state",
            Attribute::optional(AttrType::String).default("Stopped"),
        )
        .attr(
            "min_size",
            Attribute::optional(AttrType::Number).default(0i64),
        )
        .attr(
            "max_group_prepared_capacity",
            Attribute::optional(AttrType::Number).default(-1i64),
        )
        .list_block(
            "instance_reuse_policy",
            0,
            1,
            Schema::new().attr(
                "reuse_on_scale_in",
                Attribute::optional(AttrType::Bool).default(false),
            ),
        )
}

pub(super) fn instance_refresh_schema() -> Schema {
    Schema::new()
        .attr("strategy", Attribute::required(AttrType::String))
        .attr(
            "triggers",
            Attribute::optional(AttrType::set_of(AttrType::String)),
        )
        .list_block(
            "preferences",
            0,
            1,
            Schema::new()
                .attrs(
                    &["checkpoint_delay", "instance_warmup"],
                    Attribute::optional(AttrType::String),
                )
                .attr(
                    "checkpoint_percentages",
                    Attribute::optional(AttrType::list_of(AttrType::Number)),
                )
                .attr(
                    "min_healthy_percentage",
                    Attribute::optional(AttrType::Number).default(90i64),
                )
                .attr(
                    "max_healthy_percentage",
                    Attribute::optional(AttrType::Number).default(100i64),
                )
                .attrs(
                    &["skip_matching", "auto_rollback"],
                    Attribute::optional(AttrType::Bool).default(false),
                )
                .attrs(
                    &["scale_in_protected_instances", "standby_instances"],
                    Attribute::optional(AttrType::String).default("Ignore"),
                ),
        )
}

// ------------------------------------------------- mixed instances policy

fn lt_spec(v: &Value) -> LaunchTemplateSpecification {
    let id = get_str(v, "launch_template_id");
    LaunchTemplateSpecification::builder()
        // The API takes an ID or a name, not both.
        .set_launch_template_name(if id.is_some() {
            None
        } else {
            get_str(v, "launch_template_name")
        })
        .set_launch_template_id(id)
        .set_version(get_str(v, "version"))
        .build()
}

fn lt_spec_value(s: &LaunchTemplateSpecification) -> Value {
    Value::map([
        ("launch_template_id", opt(s.launch_template_id())),
        ("launch_template_name", opt(s.launch_template_name())),
        ("version", opt(s.version())),
    ])
}

/// The planned `mixed_instances_policy` as the API's type.
pub(super) fn mixed_instances_policy(planned: &Value) -> Option<MixedInstancesPolicy> {
    let mip = first_block(planned, "mixed_instances_policy")?;
    let distribution = first_block(mip, "instances_distribution").map(|d| {
        InstancesDistribution::builder()
            .set_on_demand_allocation_strategy(get_str(d, "on_demand_allocation_strategy"))
            .set_on_demand_base_capacity(i32_of(d, "on_demand_base_capacity"))
            .set_on_demand_percentage_above_base_capacity(i32_of(
                d,
                "on_demand_percentage_above_base_capacity",
            ))
            .set_spot_allocation_strategy(get_str(d, "spot_allocation_strategy"))
            .set_spot_instance_pools(i32_of(d, "spot_instance_pools"))
            .set_spot_max_price(get_str(d, "spot_max_price"))
            .build()
    });
    let lt = first_block(mip, "launch_template");
    let template = lt.map(|lt| {
        let overrides: Vec<LaunchTemplateOverrides> = get_blocks(lt, "override")
            .iter()
            .map(|o| {
                LaunchTemplateOverrides::builder()
                    .set_instance_type(get_str(o, "instance_type"))
                    .set_weighted_capacity(get_str(o, "weighted_capacity"))
                    .set_launch_template_specification(
                        first_block(o, "launch_template_specification").map(lt_spec),
                    )
                    .build()
            })
            .collect();
        LaunchTemplate::builder()
            .set_launch_template_specification(
                first_block(lt, "launch_template_specification").map(lt_spec),
            )
            .set_overrides((!overrides.is_empty()).then_some(overrides))
            .build()
    });
    Some(
        MixedInstancesPolicy::builder()
            .set_launch_template(template)
            .set_instances_distribution(distribution)
            .build(),
    )
}

/// The API's mixed instances policy as the block's value (one item).
pub(super) fn mixed_instances_policy_value(m: &MixedInstancesPolicy) -> Value {
    let distribution: Vec<Value> = m
        .instances_distribution()
        .map(|d| {
            Value::map([
                (
                    "on_demand_allocation_strategy",
                    opt(d.on_demand_allocation_strategy()),
                ),
                ("on_demand_base_capacity", num(d.on_demand_base_capacity())),
                (
                    "on_demand_percentage_above_base_capacity",
                    num(d.on_demand_percentage_above_base_capacity()),
                ),
                (
                    "spot_allocation_strategy",
                    opt(d.spot_allocation_strategy()),
                ),
                ("spot_instance_pools", num(d.spot_instance_pools())),
                ("spot_max_price", opt(d.spot_max_price())),
            ])
        })
        .into_iter()
        .collect();
    let template: Vec<Value> = m
        .launch_template()
        .map(|lt| {
            let overrides: Vec<Value> = lt
                .overrides()
                .iter()
                .map(|o| {
                    Value::map([
                        ("instance_type", opt(o.instance_type())),
                        ("weighted_capacity", opt(o.weighted_capacity())),
                        (
                            "launch_template_specification",
                            Value::List(
                                o.launch_template_specification()
                                    .map(lt_spec_value)
                                    .into_iter()
                                    .collect(),
                            ),
                        ),
                    ])
                })
                .collect();
            Value::map([
                (
                    "launch_template_specification",
                    Value::List(
                        lt.launch_template_specification()
                            .map(lt_spec_value)
                            .into_iter()
                            .collect(),
                    ),
                ),
                ("override", Value::List(overrides)),
            ])
        })
        .into_iter()
        .collect();
    Value::map([
        ("instances_distribution", Value::List(distribution)),
        ("launch_template", Value::List(template)),
    ])
}

// -------------------------------------------------------------- warm pool

/// `PutWarmPool` with the planned `warm_pool` block.
pub(super) async fn put_warm_pool(p: &AwsProvider, name: &str, wp: &Value) -> Result<()> {
    let reuse = first_block(wp, "instance_reuse_policy").map(|r| {
        InstanceReusePolicy::builder()
            .set_reuse_on_scale_in(get_bool(r, "reuse_on_scale_in"))
            .build()
    });
    p.call("autoscaling:PutWarmPool", || {
        p.autoscaling
            .put_warm_pool()
            .auto_scaling_group_name(name)
            .set_pool_state(get_str(wp, "pool_state").map(|s| WarmPoolState::from(s.as_str())))
            .set_min_size(i32_of(wp, "min_size"))
            .set_max_group_prepared_capacity(i32_of(wp, "max_group_prepared_capacity"))
            .set_instance_reuse_policy(reuse.clone())
            .send()
    })
    .await?;
    Ok(())
}

/// `DeleteWarmPool`; a group that has none is fine.
pub(super) async fn delete_warm_pool(p: &AwsProvider, name: &str) -> Result<()> {
    ok_if_gone(
        p.call("autoscaling:DeleteWarmPool", || {
            p.autoscaling
                .delete_warm_pool()
                .auto_scaling_group_name(name)
                .force_delete(true)
                .send()
        })
        .await,
    )
}

/// The API's warm pool configuration as the block's value (one item).
pub(super) fn warm_pool_value(w: &WarmPoolConfiguration) -> Value {
    Value::map([
        (
            "pool_state",
            w.pool_state()
                .map(|s| Value::from(s.as_str()))
                .unwrap_or(Value::from("Stopped")),
        ),
        (
            "min_size",
            Value::from(i64::from(w.min_size().unwrap_or(0))),
        ),
        (
            "max_group_prepared_capacity",
            Value::from(i64::from(w.max_group_prepared_capacity().unwrap_or(-1))),
        ),
        (
            "instance_reuse_policy",
            Value::List(
                w.instance_reuse_policy()
                    .map(|r| {
                        Value::map([(
                            "reuse_on_scale_in",
                            Value::Bool(r.reuse_on_scale_in().unwrap_or(false)),
                        )])
                    })
                    .into_iter()
                    .collect(),
            ),
        ),
    ])
}

// -------------------------------------------------------- instance refresh

/// Attributes a change of which always starts a refresh.
const ALWAYS_TRIGGERS: &[&str] = &[
    "launch_configuration",
    "launch_template",
    "mixed_instances_policy",
];

/// Check `instance_refresh` at plan, as the Terraform provider does:
/// `triggers` name arguments of the group (the schema's attribute and block
/// names), and the preferences' seconds are numbers.
pub(super) fn check_instance_refresh(config: &Value, arguments: &[String]) -> Result<()> {
    let Some(ir) = first_block(config, "instance_refresh") else {
        return Ok(());
    };
    preferences(ir)?;
    for t in crate::values::get_strings(ir, "triggers") {
        let known = arguments.contains(&t) || ALWAYS_TRIGGERS.contains(&t.as_str());
        if !known || t == "instance_refresh" {
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![
                    PathStep::Key("instance_refresh".into()),
                    PathStep::Index(0),
                    PathStep::Key("triggers".into()),
                ]),
                code: "InvalidTrigger".into(),
                message: format!(
                    "{t:?} is not an argument of aws_autoscaling_group that can trigger an \
                     instance refresh; name one of its arguments, such as \"tag\", \
                     \"desired_capacity\" or \"vpc_zone_identifier\""
                ),
            });
        }
    }
    Ok(())
}

/// Whether the update from `prior` to `planned` starts a refresh: the group
/// has an `instance_refresh` block, and the launch template or mixed
/// instances policy changed, or an attribute named in `triggers` did.
pub(super) fn refresh_needed(prior: &Value, planned: &Value) -> bool {
    let Some(ir) = first_block(planned, "instance_refresh") else {
        return false;
    };
    let changed = |k: &str| prior.get(k) != planned.get(k);
    ALWAYS_TRIGGERS.iter().any(|k| changed(k))
        || crate::values::get_strings(ir, "triggers")
            .iter()
            .any(|k| changed(k))
}

/// Terraform's duration-or-seconds strings (`checkpoint_delay`,
/// `instance_warmup`) as seconds.
fn seconds(v: &Value, key: &str) -> Result<Option<i32>> {
    let Some(text) = get_str(v, key).filter(|_| !v.get(key).is_some_and(Value::is_unknown)) else {
        return Ok(None);
    };
    text.trim()
        .parse::<i32>()
        .map(Some)
        .map_err(|_| ProviderError::InvalidArgument {
            path: Some(vec![
                PathStep::Key("instance_refresh".into()),
                PathStep::Index(0),
                PathStep::Key("preferences".into()),
                PathStep::Index(0),
                PathStep::Key(key.into()),
            ]),
            code: "InvalidSeconds".into(),
            message: format!("{key} = {text:?} is not a number of seconds; write e.g. \"300\""),
        })
}

fn preferences(ir: &Value) -> Result<Option<RefreshPreferences>> {
    let Some(pr) = first_block(ir, "preferences") else {
        return Ok(None);
    };
    let percentages: Vec<i32> = pr
        .get("checkpoint_percentages")
        .and_then(Value::as_list)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_i64)
                .map(|x| x as i32)
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(
        RefreshPreferences::builder()
            .set_checkpoint_delay(seconds(pr, "checkpoint_delay")?)
            .set_checkpoint_percentages((!percentages.is_empty()).then_some(percentages))
            .set_instance_warmup(seconds(pr, "instance_warmup")?)
            .set_min_healthy_percentage(i32_of(pr, "min_healthy_percentage"))
            .set_max_healthy_percentage(i32_of(pr, "max_healthy_percentage"))
            .set_skip_matching(get_bool(pr, "skip_matching"))
            .set_auto_rollback(get_bool(pr, "auto_rollback"))
            .set_scale_in_protected_instances(
                get_str(pr, "scale_in_protected_instances")
                    .map(|s| ScaleInProtectedInstances::from(s.as_str())),
            )
            .set_standby_instances(
                get_str(pr, "standby_instances").map(|s| StandbyInstances::from(s.as_str())),
            )
            .build(),
    ))
}

/// How long a cancelled refresh may take to stop before the new one starts.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(300);

/// Cancel any refresh in progress, wait until it has stopped, and start a
/// refresh with the planned `instance_refresh` settings.
pub(super) async fn start_instance_refresh(
    p: &AwsProvider,
    name: &str,
    planned: &Value,
) -> Result<()> {
    let Some(ir) = first_block(planned, "instance_refresh") else {
        return Ok(());
    };
    let prefs = preferences(ir)?;
    let cancelled = match p
        .call("autoscaling:CancelInstanceRefresh", || {
            p.autoscaling
                .cancel_instance_refresh()
                .auto_scaling_group_name(name)
                .send()
        })
        .await
    {
        Ok(out) => out.instance_refresh_id().map(str::to_string),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(e),
    };
    if let Some(id) = cancelled {
        wait_for(
            &format!("instance refresh {id} of autoscaling group {name} to cancel"),
            CANCEL_TIMEOUT,
            Duration::from_secs(2),
            || async {
                let out = p
                    .call("autoscaling:DescribeInstanceRefreshes", || {
                        p.autoscaling
                            .describe_instance_refreshes()
                            .auto_scaling_group_name(name)
                            .instance_refresh_ids(&id)
                            .send()
                    })
                    .await?;
                let stopped = out.instance_refreshes().iter().all(|r| {
                    !matches!(
                        r.status(),
                        Some(
                            InstanceRefreshStatus::Pending
                                | InstanceRefreshStatus::InProgress
                                | InstanceRefreshStatus::Cancelling
                        )
                    )
                });
                Ok(stopped.then_some(()))
            },
        )
        .await?;
    }
    let strategy = get_str(ir, "strategy").unwrap_or_else(|| "Rolling".into());
    p.call("autoscaling:StartInstanceRefresh", || {
        p.autoscaling
            .start_instance_refresh()
            .auto_scaling_group_name(name)
            .strategy(aws_sdk_autoscaling::types::RefreshStrategy::from(
                strategy.as_str(),
            ))
            .set_preferences(prefs.clone())
            .send()
    })
    .await?;
    Ok(())
}
