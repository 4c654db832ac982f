//! `aws_autoscaling_schedule`: a scheduled action of an Auto Scaling group
//! (scale runner pools to zero at night and back up in the morning).
//!
//! Scheduled actions carry no tags: they belong to their group. Reads are
//! batched per group: one `DescribeScheduledActions` per group names up to
//! 50 actions. `PutScheduledUpdateGroupAction` both creates and updates.

use super::ec2_support::describe_chunked;
use super::{ResourceType, bad_import_id, default_plan};
use crate::Result;
use crate::api::is_not_found;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::values::{Obj, get_i64, get_str};
use async_trait::async_trait;
use aws_sdk_autoscaling::types::ScheduledUpdateGroupAction;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use std::collections::BTreeMap;
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrType, Attribute, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct AutoscalingSchedule;

const NAME: &str = "aws_autoscaling_schedule";

/// Action names per `DescribeScheduledActions` call.
const NAMES_PER_CALL: usize = 50;

/// Terraform's "leave this size alone" value.
const UNSET: i64 = -1;

fn time_value(d: Option<&DateTime>) -> Value {
    d.and_then(|d| d.fmt(Format::DateTime).ok())
        .map(Value::from)
        .unwrap_or(Value::Null)
}

fn parse_time(planned: &Value, key: &str) -> Result<Option<DateTime>> {
    let Some(text) = get_str(planned, key).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    DateTime::from_str(&text, Format::DateTime)
        .map(Some)
        .map_err(|_| ProviderError::InvalidArgument {
            path: Some(vec![PathStep::Key(key.into())]),
            code: "InvalidValue".into(),
            message: format!(
                "{key} {text:?} is not a UTC time of the form YYYY-MM-DDThh:mm:ssZ (e.g. 2030-01-01T08:00:00Z)"
            ),
        })
}

fn size(planned: &Value, key: &str) -> Option<i32> {
    get_i64(planned, key)
        .filter(|v| *v != UNSET)
        .map(|v| v as i32)
}

fn key_of(v: &Value) -> Option<(String, String)> {
    let group = get_str(v, "autoscaling_group_name")?;
    let name = get_str(v, "scheduled_action_name").or_else(|| get_str(v, "id"))?;
    Some((group, name))
}

impl AutoscalingSchedule {
    fn to_value(&self, p: &AwsProvider, a: &ScheduledUpdateGroupAction) -> Value {
        let n = |v: Option<i32>| Value::from(v.map(i64::from).unwrap_or(UNSET));
        Obj::new(&p.resource_schema(NAME))
            .set("id", a.scheduled_action_name().unwrap_or_default())
            .set_opt_str("scheduled_action_name", a.scheduled_action_name())
            .set_opt_str("autoscaling_group_name", a.auto_scaling_group_name())
            .set_opt_str("arn", a.scheduled_action_arn())
            .set("start_time", time_value(a.start_time().or(a.time())))
            .set("end_time", time_value(a.end_time()))
            .set_opt_str("recurrence", a.recurrence())
            .set_opt_str("time_zone", a.time_zone())
            .set("min_size", n(a.min_size()))
            .set("max_size", n(a.max_size()))
            .set("desired_capacity", n(a.desired_capacity()))
            .build()
    }

    /// The named actions of one group (missing ones are absent).
    async fn describe(
        &self,
        p: &AwsProvider,
        group: &str,
        names: &[String],
    ) -> Result<Vec<ScheduledUpdateGroupAction>> {
        let found = describe_chunked(names, NAMES_PER_CALL, |chunk, token| async move {
            let page = p
                .call("autoscaling:DescribeScheduledActions", || {
                    p.autoscaling
                        .describe_scheduled_actions()
                        .auto_scaling_group_name(group)
                        .set_scheduled_action_names(Some(chunk.clone()))
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            let next = page.next_token().map(str::to_string);
            Ok((page.scheduled_update_group_actions().to_vec(), next))
        })
        .await;
        match found {
            // The group is gone, and its actions with it.
            Err(e) if is_not_found(&e) => Ok(Vec::new()),
            Err(ProviderError::InvalidArgument { message, .. })
                if message.contains("not found") =>
            {
                Ok(Vec::new())
            }
            other => other,
        }
    }

    async fn read_one(&self, p: &AwsProvider, group: &str, name: &str) -> Result<Option<Value>> {
        Ok(self
            .describe(p, group, &[name.to_string()])
            .await?
            .iter()
            .find(|a| a.scheduled_action_name() == Some(name))
            .map(|a| self.to_value(p, a)))
    }
}

#[async_trait]
impl ResourceType for AutoscalingSchedule {
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
                &["scheduled_action_name", "autoscaling_group_name"],
                Attribute::required(AttrType::String).force_new(),
            )
            .attrs(
                &["start_time", "end_time", "recurrence", "time_zone"],
                Attribute::optional_computed(AttrType::String),
            )
            .attrs(
                &["min_size", "max_size", "desired_capacity"],
                Attribute::optional(AttrType::Number).default(UNSET),
            )
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        for key in ["start_time", "end_time"] {
            if config.get(key).is_some_and(|v| v.as_str().is_some()) {
                parse_time(config, key)?;
            }
        }
        let mut planned = default_plan(p, &p.resource_schema(NAME), prior, config, ctx);
        if let Some(m) = planned.planned.as_map_mut()
            && let Some(name) = m.get("scheduled_action_name").cloned()
        {
            m.insert("id".into(), name);
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        // One call per group for all of its actions.
        let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pv in prior {
            if let Some((g, n)) = key_of(pv) {
                by_group.entry(g).or_default().push(n);
            }
        }
        let mut found: BTreeMap<(String, String), ScheduledUpdateGroupAction> = BTreeMap::new();
        for (group, names) in &by_group {
            for a in self.describe(p, group, names).await? {
                if let Some(n) = a.scheduled_action_name() {
                    found.insert((group.clone(), n.to_string()), a.clone());
                }
            }
        }
        Ok(prior
            .iter()
            .map(|pv| {
                let key = key_of(pv)?;
                let a = found.get(&key)?;
                let mut v = self.to_value(p, a);
                // A configured start time of a recurring action stays as
                // written (the API reports the next occurrence).
                if a.recurrence().is_some()
                    && let (Some(m), Some(old)) = (v.as_map_mut(), pv.get("start_time"))
                {
                    m.insert("start_time".into(), old.clone());
                }
                Some(v)
            })
            .collect())
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let (group, name) = id
            .split_once('/')
            .ok_or_else(|| bad_import_id(id, "<autoscaling-group-name>/<scheduled-action-name>"))?;
        self.read_one(p, group, name).await
    }

    async fn put(&self, p: &AwsProvider, planned: &Value) -> Result<Value> {
        let (group, name) = key_of(planned).ok_or_else(|| ProviderError::Api {
            code: "MissingId".into(),
            message: format!("{NAME} has no group or action name"),
        })?;
        let start = parse_time(planned, "start_time")?;
        let end = parse_time(planned, "end_time")?;
        p.call("autoscaling:PutScheduledUpdateGroupAction", || {
            p.autoscaling
                .put_scheduled_update_group_action()
                .auto_scaling_group_name(&group)
                .scheduled_action_name(&name)
                .set_start_time(start)
                .set_end_time(end)
                .set_recurrence(get_str(planned, "recurrence"))
                .set_time_zone(get_str(planned, "time_zone"))
                .set_min_size(size(planned, "min_size"))
                .set_max_size(size(planned, "max_size"))
                .set_desired_capacity(size(planned, "desired_capacity"))
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
        let mut read = self.read_one(p, &group, &name).await?.ok_or_else(|| {
            ProviderError::NotFound(format!(
                "scheduled action {name} of group {group} not found after it was written"
            ))
        })?;
        // The API reports the next start of a recurring action, not the
        // configured one: a configured start time stays as written.
        if let (Some(m), Some(configured)) = (
            read.as_map_mut(),
            planned.get("start_time").filter(|v| v.as_str().is_some()),
        ) {
            m.insert("start_time".into(), configured.clone());
        }
        Ok(read)
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let Some((group, name)) = key_of(prior) else {
            return Ok(());
        };
        super::autoscaling::ok_if_part_gone(
            p.call("autoscaling:DeleteScheduledAction", || {
                p.autoscaling
                    .delete_scheduled_action()
                    .auto_scaling_group_name(&group)
                    .scheduled_action_name(&name)
                    .send()
            })
            .await,
        )
    }
}
