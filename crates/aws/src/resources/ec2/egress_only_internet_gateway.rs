//! `aws_egress_only_internet_gateway`: outbound-only IPv6 for a VPC.
//! Everything but the tags forces replacement.

use super::find::{Ec2Mapped, Lookups, read_mapped};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::InPlace;
use crate::resources::ec2_support::{ok_if_gone, tag_spec, tags_to_map};
use crate::resources::{ResourceType, require_id};
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{EgressOnlyInternetGateway as Eigw, ResourceType as Ec2ResourceType};
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, CreateContext, Schema};

pub(crate) struct EgressOnlyInternetGateway;

const NAME: &str = "aws_egress_only_internet_gateway";

impl Ec2Mapped for EgressOnlyInternetGateway {
    type Object = Eigw;

    fn map(&self, p: &AwsProvider, g: &Eigw, prior: Option<&Value>) -> Value {
        let (tags, tags_all) = tags_from_api(&tags_to_map(g.tags()), prior, &p.default_tags);
        Obj::new(&p.resource_schema(NAME))
            .set_opt_str("id", g.egress_only_internet_gateway_id())
            .set_opt_str("vpc_id", g.attachments().first().and_then(|a| a.vpc_id()))
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }
}

#[async_trait]
impl ResourceType for EgressOnlyInternetGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr("vpc_id", Attribute::required(AttrType::String).force_new())
            .tagged()
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let out = p
            .call("ec2:CreateEgressOnlyInternetGateway", || {
                p.ec2
                    .create_egress_only_internet_gateway()
                    .set_vpc_id(get_str(planned, "vpc_id"))
                    .tag_specifications(tag_spec(Ec2ResourceType::EgressOnlyInternetGateway, &tags))
                    .send()
            })
            .await?;
        let id = out
            .egress_only_internet_gateway()
            .and_then(|g| g.egress_only_internet_gateway_id())
            .unwrap_or_default()
            .to_string();
        read_mapped(self, p, &id, Some(planned), "egress-only internet gateway").await
    }

    fn in_place(&self) -> InPlace {
        InPlace::Ec2Tags
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        ok_if_gone(
            p.call("ec2:DeleteEgressOnlyInternetGateway", || {
                p.ec2
                    .delete_egress_only_internet_gateway()
                    .egress_only_internet_gateway_id(&id)
                    .send()
            })
            .await,
        )
    }
}
