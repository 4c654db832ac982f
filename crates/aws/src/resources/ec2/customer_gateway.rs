//! `aws_customer_gateway`: the customer side of a site-to-site VPN.
//! Every argument forces a new gateway; deleted gateways, which AWS
//! lists as `deleted` for a while, count as gone.

use super::find::{Ec2Mapped, Lookups, read_mapped};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::InPlace;
use crate::resources::ec2_support::{ok_if_gone, tag_spec, tags_to_map};
use crate::resources::with_caller_arn;
use crate::resources::{ResourceType, require_id};
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{CustomerGateway as Cgw, GatewayType, ResourceType as Ec2ResourceType};
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, CreateContext, Schema};

pub(crate) struct CustomerGateway;

const NAME: &str = "aws_customer_gateway";

impl Ec2Mapped for CustomerGateway {
    type Object = Cgw;

    fn map(&self, p: &AwsProvider, g: &Cgw, prior: Option<&Value>) -> Value {
        let id = g.customer_gateway_id().unwrap_or_default();
        let (tags, tags_all) = tags_from_api(&tags_to_map(g.tags()), prior, &p.default_tags);
        // The API reports the 2-byte ASN in both fields; state keeps the
        // one the configuration used.
        let extended = prior.is_some_and(|pv| get_str(pv, "bgp_asn_extended").is_some());
        Obj::new(&p.resource_schema(NAME))
            .set("id", id)
            .keep(prior, &["arn"])
            .set_opt_str("bgp_asn", g.bgp_asn().filter(|_| !extended))
            .set_opt_str(
                "bgp_asn_extended",
                g.bgp_asn_extended().or(g.bgp_asn()).filter(|_| extended),
            )
            .set_opt_str("ip_address", g.ip_address())
            .set_opt_str("type", g.r#type())
            .set_opt_str("certificate_arn", g.certificate_arn())
            .set_opt_str("device_name", g.device_name())
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }
}

#[async_trait]
impl ResourceType for CustomerGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        let s = Schema::new().attrs(
            &[
                "bgp_asn",
                "bgp_asn_extended",
                "certificate_arn",
                "device_name",
                "ip_address",
            ],
            Attribute::optional(AttrType::String).force_new(),
        );
        s.attrs(&["id", "arn"], Attribute::computed(AttrType::String))
            .attr("type", Attribute::required(AttrType::String).force_new())
            .tagged()
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    /// Imported with the ARN (the API reports no owner).
    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        match super::find::find_by_id::<Cgw>(p, id).await? {
            Some(g) => {
                let v = self.map(p, &g, None);
                Ok(Some(
                    with_caller_arn(p, &v, "ec2", &format!("customer-gateway/{id}")).await?,
                ))
            }
            None => Ok(None),
        }
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let asn = |k| get_str(planned, k).and_then(|a| a.parse::<i64>().ok());
        let out = p
            .call("ec2:CreateCustomerGateway", || {
                p.ec2
                    .create_customer_gateway()
                    .set_bgp_asn(asn("bgp_asn").and_then(|a| i32::try_from(a).ok()))
                    .set_bgp_asn_extended(asn("bgp_asn_extended"))
                    .set_ip_address(get_str(planned, "ip_address"))
                    .set_certificate_arn(get_str(planned, "certificate_arn"))
                    .set_device_name(get_str(planned, "device_name"))
                    .r#type(GatewayType::from(
                        get_str(planned, "type").unwrap_or_default().as_str(),
                    ))
                    .tag_specifications(tag_spec(Ec2ResourceType::CustomerGateway, &tags))
                    .send()
            })
            .await?;
        let id = out
            .customer_gateway()
            .and_then(|g| g.customer_gateway_id())
            .unwrap_or_default()
            .to_string();
        let known = with_caller_arn(p, planned, "ec2", &format!("customer-gateway/{id}")).await?;
        read_mapped(self, p, &id, Some(&known), "customer gateway").await
    }

    fn in_place(&self) -> InPlace {
        InPlace::Ec2Tags
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        ok_if_gone(
            p.call("ec2:DeleteCustomerGateway", || {
                p.ec2
                    .delete_customer_gateway()
                    .customer_gateway_id(&id)
                    .send()
            })
            .await,
        )
    }
}
