//! `aws_subnet`.

use super::ec2::find::{Ec2Mapped, Lookups, find_by_id};
use super::ec2_support::{ok_if_gone, tag_spec, tags_to_map, update_tags};
use super::{ResourceType, require_id, wait_for};
use crate::Result;
use crate::api::at_path;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_bool, get_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, ResourceType as Ec2ResourceType, Subnet as Ec2Subnet,
};
use std::time::Duration;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

pub(crate) struct Subnet;

const NAME: &str = "aws_subnet";

impl Subnet {
    async fn read_one(
        &self,
        p: &AwsProvider,
        id: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let found = find_by_id::<Ec2Subnet>(p, id).await?;
        Ok(found.map(|s| self.map(p, &s, prior)))
    }

    async fn set_public_ip(&self, p: &AwsProvider, id: &str, value: bool) -> Result<()> {
        let v = AttributeBooleanValue::builder().value(value).build();
        p.call("ec2:ModifySubnetAttribute", || {
            p.ec2
                .modify_subnet_attribute()
                .subnet_id(id)
                .map_public_ip_on_launch(v.clone())
                .send()
        })
        .await
        .map(|_| ())
    }
}

impl Ec2Mapped for Subnet {
    type Object = Ec2Subnet;

    fn map(&self, p: &AwsProvider, s: &Ec2Subnet, prior: Option<&Value>) -> Value {
        let id = s.subnet_id().unwrap_or_default();
        let owner = s.owner_id().unwrap_or_default();
        let arn = s
            .subnet_arn()
            .map(str::to_string)
            .unwrap_or_else(|| p.arn("ec2", owner, &format!("subnet/{id}")));
        let (tags, tags_all) = tags_from_api(&tags_to_map(s.tags()), prior, &p.default_tags);
        Obj::new(&p.resource_schema(NAME))
            .set("id", id)
            .set("arn", arn)
            .set_opt_str("vpc_id", s.vpc_id())
            .set_opt_str("cidr_block", s.cidr_block())
            .set_opt_str("availability_zone", s.availability_zone())
            .set_opt_str("availability_zone_id", s.availability_zone_id())
            .set(
                "map_public_ip_on_launch",
                s.map_public_ip_on_launch().unwrap_or(false),
            )
            .set("owner_id", owner)
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }
}

#[async_trait]
impl ResourceType for Subnet {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "arn", "owner_id"],
                Attribute::computed(AttrType::String),
            )
            .attrs(
                &["vpc_id", "cidr_block"],
                Attribute::required(AttrType::String).force_new(),
            )
            .attrs(
                &["availability_zone", "availability_zone_id"],
                Attribute::optional_computed(AttrType::String).force_new(),
            )
            .attr(
                "map_public_ip_on_launch",
                Attribute::optional(AttrType::Bool).default(false),
            )
            .tagged()
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let out = p
            .call("ec2:CreateSubnet", || {
                p.ec2
                    .create_subnet()
                    .set_vpc_id(get_str(planned, "vpc_id"))
                    .set_cidr_block(get_str(planned, "cidr_block"))
                    .set_availability_zone(get_str(planned, "availability_zone"))
                    .set_availability_zone_id(get_str(planned, "availability_zone_id"))
                    .tag_specifications(tag_spec(Ec2ResourceType::Subnet, &tags))
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "cidr_block"))?;
        let id = out
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap_or_default()
            .to_string();
        if get_bool(planned, "map_public_ip_on_launch") == Some(true) {
            self.set_public_ip(p, &id, true).await?;
        }
        wait_for(
            &format!("subnet {id}"),
            ctx.timeout,
            Duration::from_millis(500),
            || self.read_one(p, &id, Some(planned)),
        )
        .await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let id = require_id(NAME, prior)?;
        let want = get_bool(planned, "map_public_ip_on_launch").unwrap_or(false);
        if get_bool(prior, "map_public_ip_on_launch").unwrap_or(false) != want {
            self.set_public_ip(p, &id, want).await?;
        }
        update_tags(p, &id, prior, planned).await?;
        self.read_one(p, &id, Some(planned)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("subnet {id} disappeared during update"))
        })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        ok_if_gone(
            p.call("ec2:DeleteSubnet", || {
                p.ec2.delete_subnet().subnet_id(&id).send()
            })
            .await,
        )
    }
}
