//! `aws_default_vpc`: adopts the region's default VPC (creating one when
//! the region has none, as Terraform does: `existing_default_vpc` says
//! which). DNS settings and tags update in place; destroying it only
//! forgets it unless `force_destroy` is set, and a default VPC terrace did
//! not create is never deleted. Import by VPC ID.

use super::ec2::find::find_all;
use super::ec2_support::{filter, tags_to_map};
use super::vpc::Vpc;
use super::{ResourceType, require_id};
use crate::Result;
use crate::provider::AwsProvider;
use crate::values::{get_bool, str_map_value};
use async_trait::async_trait;
use aws_sdk_ec2::types::Vpc as ApiVpc;
use terrace_core::Value;
use terrace_provider::{
    AttrMode, AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

pub(crate) struct DefaultVpc;

const NAME: &str = "aws_default_vpc";

/// Arguments only this type has; the rest of the state is `aws_vpc`'s.
const OWN: &[&str] = &["force_destroy", "existing_default_vpc"];

/// `aws_vpc`'s state as this type's: its attributes only, plus ours
/// from `prior`.
fn convert(p: &AwsProvider, v: Value, prior: Option<&Value>) -> Value {
    let schema = p.resource_schema(NAME);
    let Some(m) = v.as_map() else { return v };
    let mut out: std::collections::BTreeMap<String, Value> = schema
        .attributes
        .keys()
        .map(|k| (k.clone(), m.get(k).cloned().unwrap_or(Value::Null)))
        .collect();
    for k in OWN {
        out.insert(
            (*k).to_string(),
            prior
                .and_then(|pv| pv.get(k))
                .cloned()
                .unwrap_or(Value::Null),
        );
    }
    if out.get("force_destroy").is_none_or(Value::is_null) {
        out.insert("force_destroy".into(), Value::Bool(false));
    }
    Value::Map(out.into())
}

async fn find_default(p: &AwsProvider) -> Result<Option<ApiVpc>> {
    let found = find_all::<ApiVpc>(p, vec![filter("is-default", ["true"])]).await?;
    Ok(found.into_iter().find(|v| v.is_default() == Some(true)))
}

#[async_trait]
impl ResourceType for DefaultVpc {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        let mut s = Vpc.schema();
        for k in ["cidr_block", "instance_tenancy"] {
            if let Some(a) = s.attributes.get_mut(k) {
                a.mode = AttrMode::Computed;
                a.default = None;
                a.force_new = false;
            }
        }
        if let Some(a) = s.attributes.get_mut("enable_dns_hostnames") {
            a.mode = AttrMode::Optional;
            a.default = Some(Value::Bool(true));
        }
        s.attr(
            "force_destroy",
            Attribute::optional(AttrType::Bool).default(false),
        )
        .attr("existing_default_vpc", Attribute::computed(AttrType::Bool))
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let read = Vpc.read_many(p, prior).await?;
        Ok(read
            .into_iter()
            .zip(prior)
            .map(|(v, pv)| v.map(|v| convert(p, v, Some(pv))))
            .collect())
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let Some(v) = find_default(p).await?.filter(|v| v.vpc_id() == Some(id)) else {
            return Ok(None);
        };
        let known = Value::map([("existing_default_vpc", Value::Bool(true))]);
        let vpc_id = v.vpc_id().unwrap_or_default();
        Ok(Vpc
            .read_one(p, vpc_id, None)
            .await?
            .map(|v| convert(p, v, Some(&known))))
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let (vpc, existing) = match find_default(p).await? {
            Some(v) => (v, true),
            None => {
                let out = p
                    .call("ec2:CreateDefaultVpc", || p.ec2.create_default_vpc().send())
                    .await?;
                let v = out.vpc().cloned().ok_or_else(|| ProviderError::Api {
                    code: "CreateDefaultVpc".into(),
                    message: "CreateDefaultVpc returned no VPC".into(),
                })?;
                (v, false)
            }
        };
        let id = vpc.vpc_id().unwrap_or_default().to_string();
        // What the VPC has now, as a prior for aws_vpc's update.
        let has = Value::map([
            ("id", Value::from(id.clone())),
            ("tags_all", str_map_value(&tags_to_map(vpc.tags()))),
            ("enable_dns_support", Value::Null),
            ("enable_dns_hostnames", Value::Null),
        ]);
        let mut want = planned.clone();
        if let Some(m) = want.as_map_mut() {
            // Tenancy is the default VPC's own.
            m.insert("instance_tenancy".into(), Value::Null);
        }
        let v = Vpc.update(p, &has, &want, &ctx.resource).await?;
        let mut known = planned.clone();
        if let Some(m) = known.as_map_mut() {
            m.insert("existing_default_vpc".into(), Value::Bool(existing));
        }
        Ok(convert(p, v, Some(&known)))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        ctx: &ResourceContext,
    ) -> Result<Value> {
        let v = Vpc.update(p, prior, planned, ctx).await?;
        let mut known = planned.clone();
        if let Some(m) = known.as_map_mut() {
            let existing = prior
                .get("existing_default_vpc")
                .cloned()
                .unwrap_or(Value::Null);
            m.insert("existing_default_vpc".into(), existing);
        }
        Ok(convert(p, v, Some(&known)))
    }

    /// Forgotten, unless `force_destroy` is set and terrace created it.
    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        require_id(NAME, prior)?;
        let force = get_bool(prior, "force_destroy") == Some(true);
        let created = get_bool(prior, "existing_default_vpc") == Some(false);
        if force && created {
            Vpc.delete(p, prior).await
        } else {
            Ok(())
        }
    }

    fn adopts(&self) -> bool {
        true
    }
}
