//! `aws_autoscaling_policy`: `SimpleScaling` (adjust by a number, a
//! percentage or to an exact capacity when its alarm fires) and
//! `TargetTrackingScaling` (keep a predefined metric at a target value).
//!
//! Policies carry no tags: they belong to their group. Reads are batched
//! per group: one `DescribePolicies` names up to 50 policies.
//! `PutScalingPolicy` both creates and updates.

use super::ec2_support::describe_chunked;
use super::{ResourceType, bad_import_id, default_plan};
use crate::Result;
use crate::api::is_not_found;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::values::{Obj, first_block, get_bool, get_i64, get_str};
use async_trait::async_trait;
use aws_sdk_autoscaling::types::{
    MetricType, PredefinedMetricSpecification, ScalingPolicy, TargetTrackingConfiguration,
};
use std::collections::BTreeMap;
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrType, Attribute, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct AutoscalingPolicy;

const NAME: &str = "aws_autoscaling_policy";

const NAMES_PER_CALL: usize = 50;

const SIMPLE: &str = "SimpleScaling";
const TARGET_TRACKING: &str = "TargetTrackingScaling";

fn key_of(v: &Value) -> Option<(String, String)> {
    let group = get_str(v, "autoscaling_group_name")?;
    let name = get_str(v, "name").or_else(|| get_str(v, "id"))?;
    Some((group, name))
}

fn i32_of(v: &Value, key: &str) -> Option<i32> {
    get_i64(v, key).map(|x| x as i32)
}

fn num(v: Option<i32>) -> Value {
    v.map(|x| Value::from(i64::from(x))).unwrap_or(Value::Null)
}

fn target_tracking_request(planned: &Value) -> Option<TargetTrackingConfiguration> {
    let t = first_block(planned, "target_tracking_configuration")?;
    let predefined = first_block(t, "predefined_metric_specification").map(|m| {
        PredefinedMetricSpecification::builder()
            .set_predefined_metric_type(
                get_str(m, "predefined_metric_type").map(|x| MetricType::from(x.as_str())),
            )
            .set_resource_label(get_str(m, "resource_label"))
            .build()
    });
    let target = t.get("target_value").and_then(Value::as_f64);
    Some(
        TargetTrackingConfiguration::builder()
            .set_predefined_metric_specification(predefined)
            .set_target_value(target)
            .set_disable_scale_in(get_bool(t, "disable_scale_in"))
            .build(),
    )
}

fn target_value_of(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        Value::from(v as i64)
    } else {
        Value::from(v)
    }
}

impl AutoscalingPolicy {
    fn to_value(&self, p: &AwsProvider, s: &ScalingPolicy, prior: Option<&Value>) -> Value {
        let tracking: Vec<Value> = s
            .target_tracking_configuration()
            .map(|t| {
                let predefined: Vec<Value> = t
                    .predefined_metric_specification()
                    .map(|m| {
                        Value::map([
                            (
                                "predefined_metric_type",
                                m.predefined_metric_type()
                                    .map(|t| Value::from(t.as_str()))
                                    .unwrap_or(Value::Null),
                            ),
                            (
                                "resource_label",
                                m.resource_label().map(Value::from).unwrap_or(Value::Null),
                            ),
                        ])
                    })
                    .into_iter()
                    .collect();
                Value::map([
                    ("predefined_metric_specification", Value::List(predefined)),
                    (
                        "target_value",
                        t.target_value().map(target_value_of).unwrap_or(Value::Null),
                    ),
                    (
                        "disable_scale_in",
                        Value::Bool(t.disable_scale_in().unwrap_or(false)),
                    ),
                ])
            })
            .into_iter()
            .collect();
        let policy_type = s.policy_type().unwrap_or(SIMPLE);
        Obj::new(&p.resource_schema(NAME))
            .set("id", s.policy_name().unwrap_or_default())
            .set_opt_str("name", s.policy_name())
            .set_opt_str("autoscaling_group_name", s.auto_scaling_group_name())
            .set_opt_str("arn", s.policy_arn())
            .set("policy_type", policy_type)
            .set_opt_str("adjustment_type", s.adjustment_type())
            .set("scaling_adjustment", num(s.scaling_adjustment()))
            .set("cooldown", num(s.cooldown()))
            .set(
                "min_adjustment_magnitude",
                num(s.min_adjustment_magnitude()),
            )
            .set(
                "estimated_instance_warmup",
                num(s.estimated_instance_warmup()),
            )
            .set_opt_str("metric_aggregation_type", s.metric_aggregation_type())
            .set("enabled", Value::Bool(s.enabled().unwrap_or(true)))
            .set("target_tracking_configuration", Value::List(tracking))
            .keep(prior.filter(|_| s.cooldown().is_none()), &["cooldown"])
            .build()
    }

    async fn describe(
        &self,
        p: &AwsProvider,
        group: &str,
        names: &[String],
    ) -> Result<Vec<ScalingPolicy>> {
        let found = describe_chunked(names, NAMES_PER_CALL, |chunk, token| async move {
            let page = p
                .call("autoscaling:DescribePolicies", || {
                    p.autoscaling
                        .describe_policies()
                        .auto_scaling_group_name(group)
                        .set_policy_names(Some(chunk.clone()))
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            let next = page.next_token().map(str::to_string);
            Ok((page.scaling_policies().to_vec(), next))
        })
        .await;
        match found {
            // The group is gone, and its policies with it.
            Err(e) if is_not_found(&e) => Ok(Vec::new()),
            other => other,
        }
    }

    async fn read_one(
        &self,
        p: &AwsProvider,
        group: &str,
        name: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        Ok(self
            .describe(p, group, &[name.to_string()])
            .await?
            .iter()
            .find(|s| s.policy_name() == Some(name))
            .map(|s| self.to_value(p, s, prior)))
    }
}

#[async_trait]
impl ResourceType for AutoscalingPolicy {
    fn name(&self) -> &'static str {
        NAME
    }

    fn untagged(&self) -> bool {
        true
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(&["id", "arn"], Attribute::computed(AttrType::String))
            .attrs(
                &["name", "autoscaling_group_name"],
                Attribute::required(AttrType::String).force_new(),
            )
            .attr(
                "policy_type",
                Attribute::optional(AttrType::String).default(SIMPLE),
            )
            .attr("adjustment_type", Attribute::optional(AttrType::String))
            .attrs(
                &[
                    "scaling_adjustment",
                    "min_adjustment_magnitude",
                    "estimated_instance_warmup",
                ],
                Attribute::optional(AttrType::Number),
            )
            .attr("cooldown", Attribute::optional_computed(AttrType::Number))
            .attr(
                "metric_aggregation_type",
                Attribute::optional_computed(AttrType::String),
            )
            .attr("enabled", Attribute::optional(AttrType::Bool).default(true))
            .list_block(
                "target_tracking_configuration",
                0,
                1,
                Schema::new()
                    .attr("target_value", Attribute::required(AttrType::Number))
                    .attr(
                        "disable_scale_in",
                        Attribute::optional(AttrType::Bool).default(false),
                    )
                    .list_block(
                        "predefined_metric_specification",
                        0,
                        1,
                        Schema::new()
                            .attr(
                                "predefined_metric_type",
                                Attribute::required(AttrType::String),
                            )
                            .attr("resource_label", Attribute::optional(AttrType::String)),
                    ),
            )
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let policy_type = config
            .get("policy_type")
            .and_then(Value::as_str)
            .unwrap_or(SIMPLE);
        let err = |key: &str, message: String| ProviderError::InvalidArgument {
            path: Some(vec![PathStep::Key(key.into())]),
            code: "InvalidValue".into(),
            message,
        };
        let has_tracking = first_block(config, "target_tracking_configuration").is_some();
        match policy_type {
            SIMPLE if has_tracking => {
                return Err(err(
                    "target_tracking_configuration",
                    "target_tracking_configuration needs policy_type = \"TargetTrackingScaling\""
                        .into(),
                ));
            }
            TARGET_TRACKING if !has_tracking => {
                return Err(err(
                    "target_tracking_configuration",
                    "policy_type \"TargetTrackingScaling\" needs a target_tracking_configuration block"
                        .into(),
                ));
            }
            SIMPLE | TARGET_TRACKING => {}
            other => {
                return Err(err(
                    "policy_type",
                    format!(
                        "terrace implements policy_type \"SimpleScaling\" and \"TargetTrackingScaling\", not {other:?}"
                    ),
                ));
            }
        }
        let mut planned = default_plan(p, &p.resource_schema(NAME), prior, config, ctx);
        if let Some(m) = planned.planned.as_map_mut() {
            if let Some(name) = m.get("name").cloned() {
                m.insert("id".into(), name);
            }
            // Target tracking has no cooldown.
            if policy_type == TARGET_TRACKING && config.get("cooldown").is_none_or(Value::is_null) {
                m.insert("cooldown".into(), Value::Null);
            }
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pv in prior {
            if let Some((g, n)) = key_of(pv) {
                by_group.entry(g).or_default().push(n);
            }
        }
        let mut found: BTreeMap<(String, String), ScalingPolicy> = BTreeMap::new();
        for (group, names) in &by_group {
            for s in self.describe(p, group, names).await? {
                if let Some(n) = s.policy_name() {
                    found.insert((group.clone(), n.to_string()), s.clone());
                }
            }
        }
        Ok(prior
            .iter()
            .map(|pv| {
                let s = found.get(&key_of(pv)?)?;
                Some(self.to_value(p, s, Some(pv)))
            })
            .collect())
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let (group, name) = id
            .split_once('/')
            .ok_or_else(|| bad_import_id(id, "<autoscaling-group-name>/<policy-name>"))?;
        self.read_one(p, group, name, None).await
    }

    async fn put(&self, p: &AwsProvider, planned: &Value) -> Result<Value> {
        let (group, name) = key_of(planned).ok_or_else(|| ProviderError::Api {
            code: "MissingId".into(),
            message: format!("{NAME} has no group or policy name"),
        })?;
        let policy_type = get_str(planned, "policy_type").unwrap_or_else(|| SIMPLE.into());
        let simple = policy_type == SIMPLE;
        p.call("autoscaling:PutScalingPolicy", || {
            p.autoscaling
                .put_scaling_policy()
                .auto_scaling_group_name(&group)
                .policy_name(&name)
                .policy_type(&policy_type)
                .set_adjustment_type(get_str(planned, "adjustment_type"))
                .set_scaling_adjustment(i32_of(planned, "scaling_adjustment"))
                .set_cooldown(if simple {
                    i32_of(planned, "cooldown")
                } else {
                    None
                })
                .set_min_adjustment_magnitude(i32_of(planned, "min_adjustment_magnitude"))
                .set_estimated_instance_warmup(i32_of(planned, "estimated_instance_warmup"))
                .set_metric_aggregation_type(if simple {
                    None
                } else {
                    get_str(planned, "metric_aggregation_type")
                })
                .set_enabled(get_bool(planned, "enabled"))
                .set_target_tracking_configuration(target_tracking_request(planned))
                .send()
        })
        .await
        .map_err(|e| match e {
            ProviderError::InvalidArgument {
                path: None,
                code,
                message,
            } if message.contains("not found") || message.contains("No group") => {
                ProviderError::InvalidArgument {
                    path: Some(vec![PathStep::Key("autoscaling_group_name".into())]),
                    code,
                    message,
                }
            }
            other => other,
        })?;
        self.read_one(p, &group, &name, Some(planned))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!(
                    "scaling policy {name} of group {group} not found after it was written"
                ))
            })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let Some((group, name)) = key_of(prior) else {
            return Ok(());
        };
        super::autoscaling::ok_if_part_gone(
            p.call("autoscaling:DeletePolicy", || {
                p.autoscaling
                    .delete_policy()
                    .auto_scaling_group_name(&group)
                    .policy_name(&name)
                    .send()
            })
            .await,
        )
    }
}
