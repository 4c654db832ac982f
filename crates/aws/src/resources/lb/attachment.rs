//! `aws_lb_target_group_attachment`:
//! one target registered with a target group. Every argument forces
//! replacement; the registration carries no tags. Reads ask
//! `DescribeTargetHealth` once per target group for all its targets; a
//! target AWS reports as not registered is gone. As in Terraform, it
//! cannot be imported.

use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::InPlace;
use crate::resources::ec2_support::ok_if_gone;
use crate::resources::{ResourceType, require_id};
use crate::schema::SchemaAttrs;
use crate::values::{Obj, get_i64, get_str};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetHealthStateEnum};
use std::collections::BTreeMap;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, CreateContext, ProviderError, Schema};

pub(crate) struct Attachment;

const NAME: &str = "aws_lb_target_group_attachment";

fn target(v: &Value) -> TargetDescription {
    TargetDescription::builder()
        .set_id(get_str(v, "target_id"))
        .set_port(get_i64(v, "port").and_then(|n| i32::try_from(n).ok()))
        .set_availability_zone(get_str(v, "availability_zone"))
        .build()
}

/// A registered target: (target ID, port).
type Key = (String, Option<i64>);

impl Attachment {
    /// The registered targets of a target group (`None` when the group
    /// itself is gone).
    async fn registered(&self, p: &AwsProvider, group: &str) -> Result<Option<Vec<Key>>> {
        let out = match p
            .call("elbv2:DescribeTargetHealth", || {
                p.elbv2
                    .describe_target_health()
                    .target_group_arn(group)
                    .send()
            })
            .await
        {
            Ok(out) => out,
            Err(e) if crate::api::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(
            out.target_health_descriptions()
                .iter()
                .filter(|d| {
                    d.target_health().and_then(|h| h.state())
                        != Some(&TargetHealthStateEnum::Unused)
                        || d.target_health()
                            .and_then(|h| h.reason())
                            .is_none_or(|r| r.as_str() != "Target.NotRegistered")
                })
                .filter_map(|d| {
                    let t = d.target()?;
                    Some((t.id()?.to_string(), t.port().map(i64::from)))
                })
                .collect(),
        ))
    }
}

#[async_trait]
impl ResourceType for Attachment {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attrs(
                &["target_group_arn", "target_id"],
                Attribute::required(AttrType::String).force_new(),
            )
            .attr("port", Attribute::optional(AttrType::Number).force_new())
            .attr(
                "availability_zone",
                Attribute::optional(AttrType::String).force_new(),
            )
    }

    fn untagged(&self) -> bool {
        true
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let mut groups: BTreeMap<String, Option<Vec<Key>>> = BTreeMap::new();
        for pv in prior {
            let group = get_str(pv, "target_group_arn").unwrap_or_default();
            if let std::collections::btree_map::Entry::Vacant(slot) = groups.entry(group) {
                let found = self.registered(p, slot.key()).await?;
                slot.insert(found);
            }
        }
        Ok(prior
            .iter()
            .map(|pv| {
                let group = get_str(pv, "target_group_arn").unwrap_or_default();
                let id = get_str(pv, "target_id").unwrap_or_default();
                let port = get_i64(pv, "port");
                let registered = groups.get(&group)?.as_ref()?;
                registered
                    .iter()
                    .any(|(t, p)| *t == id && (port.is_none() || *p == port))
                    .then(|| pv.clone())
            })
            .collect())
    }

    async fn import(&self, _p: &AwsProvider, _id: &str) -> Result<Option<Value>> {
        Err(ProviderError::Unsupported(format!(
            "{NAME} cannot be imported (as in Terraform); declare it and apply: registering a registered target changes nothing"
        )))
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let group = get_str(planned, "target_group_arn").unwrap_or_default();
        let t = target(planned);
        p.call("elbv2:RegisterTargets", || {
            p.elbv2
                .register_targets()
                .target_group_arn(&group)
                .targets(t.clone())
                .send()
        })
        .await?;
        let id = format!("{group}-{}", super::unique_suffix(&ctx.idempotency_token));
        Ok(Obj::new(&p.resource_schema(NAME))
            .keep(
                Some(planned),
                &["target_group_arn", "target_id", "port", "availability_zone"],
            )
            .set("id", id)
            .build())
    }

    fn in_place(&self) -> InPlace {
        InPlace::Nothing
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        require_id(NAME, prior)?;
        let group = get_str(prior, "target_group_arn").unwrap_or_default();
        let t = target(prior);
        let r = p
            .call("elbv2:DeregisterTargets", || {
                p.elbv2
                    .deregister_targets()
                    .target_group_arn(&group)
                    .targets(t.clone())
                    .send()
            })
            .await;
        match r {
            // The target is not registered (any more): already gone.
            Err(ProviderError::Api { code, .. }) if code == "InvalidTarget" => Ok(()),
            other => ok_if_gone(other),
        }
    }
}
