//! `aws_internet_gateway`.

use super::ec2::find::{Ec2Mapped, Lookups, find_by_id};
use super::ec2_support::{ok_if_gone, tag_spec, tags_to_map, update_tags};
use super::{ResourceType, require_id};
use crate::Result;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{InternetGateway as Igw, ResourceType as Ec2ResourceType};
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

pub(crate) struct InternetGateway;

const NAME: &str = "aws_internet_gateway";

impl InternetGateway {
    async fn read_one(
        &self,
        p: &AwsProvider,
        id: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let found = find_by_id::<Igw>(p, id).await?;
        Ok(found.map(|g| self.map(p, &g, prior)))
    }

    async fn attach(&self, p: &AwsProvider, id: &str, vpc: &str) -> Result<()> {
        p.call("ec2:AttachInternetGateway", || {
            p.ec2
                .attach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc)
                .send()
        })
        .await
        .map(|_| ())
    }

    async fn detach(&self, p: &AwsProvider, id: &str, vpc: &str) -> Result<()> {
        let r = p
            .call("ec2:DetachInternetGateway", || {
                p.ec2
                    .detach_internet_gateway()
                    .internet_gateway_id(id)
                    .vpc_id(vpc)
                    .send()
            })
            .await;
        match r {
            Err(ProviderError::Api { code, .. }) if code == "Gateway.NotAttached" => Ok(()),
            other => ok_if_gone(other),
        }
    }
}

impl Ec2Mapped for InternetGateway {
    type Object = Igw;

    fn map(&self, p: &AwsProvider, g: &Igw, prior: Option<&Value>) -> Value {
        let id = g.internet_gateway_id().unwrap_or_default();
        let owner = g.owner_id().unwrap_or_default();
        let (tags, tags_all) = tags_from_api(&tags_to_map(g.tags()), prior, &p.default_tags);
        Obj::new(&p.resource_schema(NAME))
            .set("id", id)
            .set(
                "arn",
                p.arn("ec2", owner, &format!("internet-gateway/{id}")),
            )
            .set_opt_str("vpc_id", g.attachments().first().and_then(|a| a.vpc_id()))
            .set("owner_id", owner)
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }
}

#[async_trait]
impl ResourceType for InternetGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "arn", "owner_id"],
                Attribute::computed(AttrType::String),
            )
            .attr("vpc_id", Attribute::optional(AttrType::String))
            .tagged()
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let out = p
            .call("ec2:CreateInternetGateway", || {
                p.ec2
                    .create_internet_gateway()
                    .tag_specifications(tag_spec(Ec2ResourceType::InternetGateway, &tags))
                    .send()
            })
            .await?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .unwrap_or_default()
            .to_string();
        if let Some(vpc) = get_str(planned, "vpc_id") {
            self.attach(p, &id, &vpc).await?;
        }
        self.read_one(p, &id, Some(planned)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("internet gateway {id} not found after create"))
        })
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let id = require_id(NAME, prior)?;
        let old = get_str(prior, "vpc_id");
        let new = get_str(planned, "vpc_id");
        if old != new {
            if let Some(old) = old {
                self.detach(p, &id, &old).await?;
            }
            if let Some(new) = new {
                self.attach(p, &id, &new).await?;
            }
        }
        update_tags(p, &id, prior, planned).await?;
        self.read_one(p, &id, Some(planned)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("internet gateway {id} disappeared during update"))
        })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        // Detach from whatever the gateway is attached to now, not only what state says.
        let current = find_by_id::<Igw>(p, &id).await?;
        if let Some(g) = &current {
            for a in g.attachments() {
                if let Some(vpc) = a.vpc_id() {
                    self.detach(p, &id, vpc).await?;
                }
            }
        }
        ok_if_gone(
            p.call("ec2:DeleteInternetGateway", || {
                p.ec2
                    .delete_internet_gateway()
                    .internet_gateway_id(&id)
                    .send()
            })
            .await,
        )
    }
}
