//! `aws_default_security_group`: adopts the default security group of a
//! VPC instead of creating one. As in Terraform, the rules it configures
//! replace whatever the group had (no `ingress`/`egress` blocks = no rules
//! at all, the locked-down group CIS benchmarks ask for), and destroying it
//! only forgets it: the group stays, with its rules, as AWS requires.

use super::ec2::find::{find_all, find_by_environment, find_by_id, read_by_ids};
use super::ec2_support::{filter, tags_to_map, update_tags};
use super::security_group::{SecurityGroup, all_atoms, api_atoms, is_default_group, plan_rules};
use super::{ResourceType, require_id};
use crate::Result;
use crate::provider::AwsProvider;
use crate::values::{get_str, str_map_value};
use async_trait::async_trait;
use aws_sdk_ec2::types::SecurityGroup as Sg;
use std::collections::BTreeSet;
use terrace_core::Value;
use terrace_provider::{
    AttrMode, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct DefaultSecurityGroup;

const NAME: &str = "aws_default_security_group";

impl DefaultSecurityGroup {
    /// Bring the group's rules from what it has to what is planned.
    async fn replace_rules(&self, p: &AwsProvider, g: &Sg, planned: &Value) -> Result<()> {
        let id = g.group_id().unwrap_or_default();
        for (key, egress, now) in [
            ("ingress", false, g.ip_permissions()),
            ("egress", true, g.ip_permissions_egress()),
        ] {
            let have = api_atoms(now, id);
            let want = all_atoms(planned, key);
            let revoke: BTreeSet<_> = have.difference(&want).cloned().collect();
            let add: BTreeSet<_> = want.difference(&have).cloned().collect();
            SecurityGroup
                .change_rules(p, id, egress, &revoke, &add)
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceType for DefaultSecurityGroup {
    fn name(&self) -> &'static str {
        NAME
    }

    /// `aws_security_group`'s schema, with the name, description and name
    /// prefix the API gives the group.
    fn schema(&self) -> Schema {
        let mut s = SecurityGroup.schema();
        for k in ["name", "name_prefix", "description"] {
            if let Some(a) = s.attributes.get_mut(k) {
                a.mode = AttrMode::Computed;
                a.default = None;
                a.force_new = false;
            }
        }
        s
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        Ok(plan_rules(p, NAME, prior, config, ctx))
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        read_by_ids::<Sg>(p, prior, |g, pv| SecurityGroup.to_value(p, g, Some(pv))).await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        Ok(find_by_id::<Sg>(p, id)
            .await?
            .filter(is_default_group)
            .map(|g| SecurityGroup.to_value_fresh(p, &g)))
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        let vpc = get_str(planned, "vpc_id").ok_or_else(|| ProviderError::InvalidArgument {
            path: Some(vec![terrace_core::PathStep::Key("vpc_id".into())]),
            code: "MissingVpcId".into(),
            message: "aws_default_security_group needs vpc_id (EC2-Classic no longer exists)"
                .into(),
        })?;
        let filters = vec![
            filter("vpc-id", [vpc.clone()]),
            filter("group-name", ["default"]),
        ];
        let g = find_all::<Sg>(p, filters)
            .await?
            .into_iter()
            .find(is_default_group)
            .ok_or_else(|| {
                ProviderError::NotFound(format!("no default security group found in VPC {vpc}"))
            })?;
        let id = g.group_id().unwrap_or_default().to_string();
        self.replace_rules(p, &g, planned).await?;
        let has = Value::map([("tags_all", str_map_value(&tags_to_map(g.tags())))]);
        update_tags(p, &id, &has, planned).await?;
        let g = find_by_id::<Sg>(p, &id).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("default security group {id} disappeared"))
        })?;
        // The adopted group has no name prefix.
        let mut known = planned.clone();
        if let Some(m) = known.as_map_mut() {
            m.insert("name_prefix".into(), Value::Null);
        }
        Ok(SecurityGroup.to_value(p, &g, Some(&known)))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        ctx: &ResourceContext,
    ) -> Result<Value> {
        SecurityGroup.update(p, prior, planned, ctx).await
    }

    /// The default group cannot be deleted: it is only forgotten.
    async fn delete(&self, _p: &AwsProvider, prior: &Value) -> Result<()> {
        require_id(NAME, prior).map(|_| ())
    }

    fn adopts(&self) -> bool {
        true
    }

    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        let found = find_by_environment::<Sg>(p, environment).await?;
        Ok(found
            .iter()
            .filter(|g| is_default_group(g))
            .map(|g| SecurityGroup.to_value_fresh(p, g))
            .collect())
    }
}
