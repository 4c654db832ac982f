//! `aws_vpn_gateway` (a virtual private gateway, attached to `vpc_id` in
//! place), `aws_vpn_gateway_attachment` (the attachment as its own
//! resource) and `aws_vpn_gateway_route_propagation` (a route table
//! learning the gateway's routes). Detaching waits until AWS reports the
//! attachment `detached`, as Terraform does.

use super::find::{Ec2Mapped, Lookups, find_by_id, find_by_ids, read_mapped, wait_until};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::InPlace;
use crate::resources::ec2_support::{ok_if_gone, tag_spec, tags_to_map, update_tags};
use crate::resources::with_caller_arn;
use crate::resources::{ResourceType, bad_import_id, require_id};
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttachmentStatus, GatewayType, ResourceType as Ec2ResourceType, RouteTable, VpnGateway as Vgw,
};
use std::time::Duration;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

pub(crate) struct VpnGateway;

const NAME: &str = "aws_vpn_gateway";

/// Terraform's attach/detach timeouts.
const TIMEOUT: Duration = Duration::from_secs(600);

/// The VPC the gateway is attached (or attaching) to.
fn attached_vpc(g: &Vgw) -> Option<&str> {
    g.vpc_attachments()
        .iter()
        .find(|a| {
            matches!(
                a.state(),
                Some(AttachmentStatus::Attached | AttachmentStatus::Attaching)
            )
        })
        .and_then(|a| a.vpc_id())
}

async fn attach(p: &AwsProvider, gateway: &str, vpc: &str) -> Result<()> {
    p.call("ec2:AttachVpnGateway", || {
        p.ec2
            .attach_vpn_gateway()
            .vpn_gateway_id(gateway)
            .vpc_id(vpc)
            .send()
    })
    .await?;
    wait_until::<Vgw>(p, gateway, "VPN gateway to attach", TIMEOUT, |g| {
        Ok(g.vpc_attachments()
            .iter()
            .any(|a| a.vpc_id() == Some(vpc) && a.state() == Some(&AttachmentStatus::Attached)))
    })
    .await
    .map(|_| ())
}

async fn detach(p: &AwsProvider, gateway: &str, vpc: &str) -> Result<()> {
    let r = p
        .call("ec2:DetachVpnGateway", || {
            p.ec2
                .detach_vpn_gateway()
                .vpn_gateway_id(gateway)
                .vpc_id(vpc)
                .send()
        })
        .await;
    match r {
        Err(ProviderError::Api { code, .. }) if code == "InvalidVpnGatewayAttachment.NotFound" => {
            return Ok(());
        }
        Err(e) if crate::api::is_not_found(&e) => return Ok(()),
        other => other.map(|_| ())?,
    }
    let r = wait_until::<Vgw>(p, gateway, "VPN gateway to detach", TIMEOUT, |g| {
        Ok(!g
            .vpc_attachments()
            .iter()
            .any(|a| a.vpc_id() == Some(vpc) && a.state() != Some(&AttachmentStatus::Detached)))
    })
    .await;
    ok_if_gone(r)
}

impl Ec2Mapped for VpnGateway {
    type Object = Vgw;

    fn map(&self, p: &AwsProvider, g: &Vgw, prior: Option<&Value>) -> Value {
        let (tags, tags_all) = tags_from_api(&tags_to_map(g.tags()), prior, &p.default_tags);
        Obj::new(&p.resource_schema(NAME))
            .set_opt_str("id", g.vpn_gateway_id())
            .keep(prior, &["arn"])
            .set_opt_str("vpc_id", attached_vpc(g))
            .set_opt_str("availability_zone", g.availability_zone())
            .set(
                "amazon_side_asn",
                g.amazon_side_asn()
                    .map_or(Value::Null, |a| Value::from(a.to_string())),
            )
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }
}

#[async_trait]
impl ResourceType for VpnGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(&["id", "arn"], Attribute::computed(AttrType::String))
            .attr("vpc_id", Attribute::optional_computed(AttrType::String))
            .attr(
                "availability_zone",
                Attribute::optional(AttrType::String).force_new(),
            )
            .attr(
                "amazon_side_asn",
                Attribute::optional_computed(AttrType::String).force_new(),
            )
            .tagged()
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    /// Imported with the ARN (the API reports no owner).
    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        match super::find::find_by_id::<Vgw>(p, id).await? {
            Some(g) => {
                let v = self.map(p, &g, None);
                Ok(Some(
                    with_caller_arn(p, &v, "ec2", &format!("vpn-gateway/{id}")).await?,
                ))
            }
            None => Ok(None),
        }
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let asn = get_str(planned, "amazon_side_asn").and_then(|a| a.parse::<i64>().ok());
        let out = p
            .call("ec2:CreateVpnGateway", || {
                p.ec2
                    .create_vpn_gateway()
                    .r#type(GatewayType::Ipsec1)
                    .set_availability_zone(get_str(planned, "availability_zone"))
                    .set_amazon_side_asn(asn)
                    .tag_specifications(tag_spec(Ec2ResourceType::VpnGateway, &tags))
                    .send()
            })
            .await?;
        let id = out
            .vpn_gateway()
            .and_then(|g| g.vpn_gateway_id())
            .unwrap_or_default()
            .to_string();
        let made = Value::map([("id", Value::from(id.clone()))]);
        let known = with_caller_arn(p, planned, "ec2", &format!("vpn-gateway/{id}"))
            .await
            .map_err(|e| crate::resources::partially_created(&made, e))?;
        if let Some(vpc) = get_str(planned, "vpc_id") {
            attach(p, &id, &vpc)
                .await
                .map_err(|e| crate::resources::partially_created(&known, e))?;
        }
        read_mapped(self, p, &id, Some(&known), "VPN gateway").await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let id = require_id(NAME, prior)?;
        let (old, new) = (get_str(prior, "vpc_id"), get_str(planned, "vpc_id"));
        if old != new {
            if let Some(old) = old {
                detach(p, &id, &old).await?;
            }
            if let Some(new) = new {
                attach(p, &id, &new).await?;
            }
        }
        update_tags(p, &id, prior, planned).await?;
        read_mapped(self, p, &id, Some(planned), "VPN gateway").await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        if let Some(g) = find_by_id::<Vgw>(p, &id).await?
            && let Some(vpc) = attached_vpc(&g)
        {
            detach(p, &id, vpc).await?;
        }
        ok_if_gone(
            p.call("ec2:DeleteVpnGateway", || {
                p.ec2.delete_vpn_gateway().vpn_gateway_id(&id).send()
            })
            .await,
        )
    }
}

pub(crate) struct VpnGatewayAttachment;

const ATTACHMENT: &str = "aws_vpn_gateway_attachment";

impl VpnGatewayAttachment {
    fn value(&self, p: &AwsProvider, vpc: &str, gateway: &str) -> Value {
        Obj::new(&p.resource_schema(ATTACHMENT))
            .set("id", attachment_id(vpc, gateway))
            .set("vpc_id", vpc)
            .set("vpn_gateway_id", gateway)
            .build()
    }
}

/// Terraform's ID of a VPN gateway attachment: `vpn-attachment-` and a
/// hash of the VPC and gateway IDs.
fn attachment_id(vpc: &str, gateway: &str) -> String {
    // CRC-32 (IEEE), as Terraform's `create.StringHashcode`.
    let crc = crc32fast::hash(format!("{vpc}-{gateway}").as_bytes());
    format!("vpn-attachment-{crc:x}")
}

#[async_trait]
impl ResourceType for VpnGatewayAttachment {
    fn name(&self) -> &'static str {
        ATTACHMENT
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attrs(
                &["vpc_id", "vpn_gateway_id"],
                Attribute::required(AttrType::String).force_new(),
            )
    }

    fn untagged(&self) -> bool {
        true
    }

    /// One `DescribeVpnGateways` for all priors.
    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let gateways: Vec<String> = prior
            .iter()
            .map(|v| get_str(v, "vpn_gateway_id").unwrap_or_default())
            .collect();
        let found = find_by_ids::<Vgw>(p, &gateways).await?;
        Ok(prior
            .iter()
            .zip(&gateways)
            .map(|(pv, g)| {
                let vpc = get_str(pv, "vpc_id").unwrap_or_default();
                let attached = found.get(g).and_then(attached_vpc) == Some(vpc.as_str());
                attached.then(|| self.value(p, &vpc, g))
            })
            .collect())
    }

    /// Terraform cannot import it; terrace takes `<vpn_gateway_id>`.
    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        if !id.starts_with("vgw-") {
            return Err(bad_import_id(id, "<vpn_gateway_id>"));
        }
        Ok(find_by_id::<Vgw>(p, id)
            .await?
            .and_then(|g| attached_vpc(&g).map(|vpc| self.value(p, vpc, id))))
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        let vpc = get_str(planned, "vpc_id").unwrap_or_default();
        let gateway = get_str(planned, "vpn_gateway_id").unwrap_or_default();
        attach(p, &gateway, &vpc).await?;
        Ok(self.value(p, &vpc, &gateway))
    }

    fn in_place(&self) -> InPlace {
        InPlace::Nothing
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let vpc = get_str(prior, "vpc_id").unwrap_or_default();
        let gateway = get_str(prior, "vpn_gateway_id").unwrap_or_default();
        detach(p, &gateway, &vpc).await
    }
}

pub(crate) struct RoutePropagation;

const PROPAGATION: &str = "aws_vpn_gateway_route_propagation";

impl RoutePropagation {
    fn value(&self, p: &AwsProvider, table: &str, gateway: &str) -> Value {
        Obj::new(&p.resource_schema(PROPAGATION))
            .set("id", format!("{table}_{gateway}"))
            .set("route_table_id", table)
            .set("vpn_gateway_id", gateway)
            .build()
    }
}

fn propagates(t: &RouteTable, gateway: &str) -> bool {
    t.propagating_vgws()
        .iter()
        .any(|v| v.gateway_id() == Some(gateway))
}

#[async_trait]
impl ResourceType for RoutePropagation {
    fn name(&self) -> &'static str {
        PROPAGATION
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attrs(
                &["route_table_id", "vpn_gateway_id"],
                Attribute::required(AttrType::String).force_new(),
            )
    }

    fn untagged(&self) -> bool {
        true
    }

    /// One `DescribeRouteTables` for all priors.
    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let tables: Vec<String> = prior
            .iter()
            .map(|v| get_str(v, "route_table_id").unwrap_or_default())
            .collect();
        let found = find_by_ids::<RouteTable>(p, &tables).await?;
        Ok(prior
            .iter()
            .zip(&tables)
            .map(|(pv, t)| {
                let gateway = get_str(pv, "vpn_gateway_id").unwrap_or_default();
                found
                    .get(t)
                    .filter(|rt| propagates(rt, &gateway))
                    .map(|_| self.value(p, t, &gateway))
            })
            .collect())
    }

    /// Import ID `<route_table_id>_<vpn_gateway_id>`.
    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let Some((table, gateway)) = id.split_once('_') else {
            return Err(bad_import_id(id, "<route_table_id>_<vpn_gateway_id>"));
        };
        Ok(find_by_id::<RouteTable>(p, table)
            .await?
            .filter(|rt| propagates(rt, gateway))
            .map(|_| self.value(p, table, gateway)))
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        let table = get_str(planned, "route_table_id").unwrap_or_default();
        let gateway = get_str(planned, "vpn_gateway_id").unwrap_or_default();
        p.call("ec2:EnableVgwRoutePropagation", || {
            p.ec2
                .enable_vgw_route_propagation()
                .route_table_id(&table)
                .gateway_id(&gateway)
                .send()
        })
        .await?;
        Ok(self.value(p, &table, &gateway))
    }

    fn in_place(&self) -> InPlace {
        InPlace::Nothing
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let table = get_str(prior, "route_table_id").unwrap_or_default();
        let gateway = get_str(prior, "vpn_gateway_id").unwrap_or_default();
        ok_if_gone(
            p.call("ec2:DisableVgwRoutePropagation", || {
                p.ec2
                    .disable_vgw_route_propagation()
                    .route_table_id(&table)
                    .gateway_id(&gateway)
                    .send()
            })
            .await,
        )
    }
}
