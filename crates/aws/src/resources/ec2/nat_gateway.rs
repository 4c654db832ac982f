//! `aws_nat_gateway`: public (with an Elastic IP allocation) or private
//! connectivity. Create waits for `available` (a gateway that ends
//! `failed` is an error with AWS's reason, and is kept in state so the
//! next apply replaces it); delete waits until it is `deleted`.

use super::find::{Ec2Mapped, Lookups, read_mapped, wait_gone, wait_until};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::InPlace;
use crate::resources::ec2_support::{ok_if_gone, tag_spec, tags_to_map};
use crate::resources::{ResourceType, partially_created, require_id};
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    ConnectivityType, NatGateway as Ngw, NatGatewayState, ResourceType as Ec2ResourceType,
};
use std::time::Duration;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, CreateContext, ProviderError, Schema};

pub(crate) struct NatGateway;

const NAME: &str = "aws_nat_gateway";

/// Terraform's create and delete timeouts for NAT gateways.
const TIMEOUT: Duration = Duration::from_secs(600);

impl Ec2Mapped for NatGateway {
    type Object = Ngw;

    fn map(&self, p: &AwsProvider, g: &Ngw, prior: Option<&Value>) -> Value {
        let (tags, tags_all) = tags_from_api(&tags_to_map(g.tags()), prior, &p.default_tags);
        let primary = g
            .nat_gateway_addresses()
            .iter()
            .find(|a| a.is_primary().unwrap_or(true));
        Obj::new(&p.resource_schema(NAME))
            .set_opt_str("id", g.nat_gateway_id())
            .set_opt_str("subnet_id", g.subnet_id())
            .set(
                "connectivity_type",
                g.connectivity_type().map_or("public", |c| c.as_str()),
            )
            .set_opt_str("allocation_id", primary.and_then(|a| a.allocation_id()))
            .set_opt_str("association_id", primary.and_then(|a| a.association_id()))
            .set_opt_str(
                "network_interface_id",
                primary.and_then(|a| a.network_interface_id()),
            )
            .set_opt_str("private_ip", primary.and_then(|a| a.private_ip()))
            .set_opt_str("public_ip", primary.and_then(|a| a.public_ip()))
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }
}

#[async_trait]
impl ResourceType for NatGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        let s = Schema::new().attrs(
            &["id", "association_id", "network_interface_id", "public_ip"],
            Attribute::computed(AttrType::String),
        );
        s.attr(
            "allocation_id",
            Attribute::optional(AttrType::String).force_new(),
        )
        .attr(
            "connectivity_type",
            Attribute::optional(AttrType::String)
                .force_new()
                .default("public"),
        )
        .attr(
            "private_ip",
            Attribute::optional_computed(AttrType::String).force_new(),
        )
        .attr(
            "subnet_id",
            Attribute::required(AttrType::String).force_new(),
        )
        .tagged()
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let connectivity = get_str(planned, "connectivity_type").unwrap_or("public".into());
        let token: String = ctx.idempotency_token.chars().take(64).collect();
        let out = p
            .call("ec2:CreateNatGateway", || {
                p.ec2
                    .create_nat_gateway()
                    .set_subnet_id(get_str(planned, "subnet_id"))
                    .set_allocation_id(get_str(planned, "allocation_id"))
                    .set_private_ip_address(get_str(planned, "private_ip"))
                    .connectivity_type(ConnectivityType::from(connectivity.as_str()))
                    .client_token(&token)
                    .tag_specifications(tag_spec(Ec2ResourceType::Natgateway, &tags))
                    .send()
            })
            .await?;
        let id = out
            .nat_gateway()
            .and_then(|g| g.nat_gateway_id())
            .unwrap_or_default()
            .to_string();
        let made = Value::map([("id", Value::from(id.clone()))]);
        wait_until::<Ngw>(
            p,
            &id,
            "NAT gateway to become available",
            TIMEOUT,
            |g| match g.state() {
                Some(NatGatewayState::Available) => Ok(true),
                Some(NatGatewayState::Failed) => Err(ProviderError::Api {
                    code: g.failure_code().unwrap_or("Failed").to_string(),
                    message: format!(
                        "NAT gateway {id} failed: {}",
                        g.failure_message().unwrap_or("no reason given")
                    ),
                }),
                _ => Ok(false),
            },
        )
        .await
        .map_err(|e| partially_created(&made, e))?;
        read_mapped(self, p, &id, Some(planned), "NAT gateway").await
    }

    fn in_place(&self) -> InPlace {
        InPlace::Ec2Tags
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        ok_if_gone(
            p.call("ec2:DeleteNatGateway", || {
                p.ec2.delete_nat_gateway().nat_gateway_id(&id).send()
            })
            .await,
        )?;
        wait_gone::<Ngw>(p, &id, "NAT gateway to be deleted", TIMEOUT).await
    }
}
