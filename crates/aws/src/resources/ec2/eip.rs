//! `aws_eip`: an Elastic IP address in the VPC domain, optionally
//! associated with an instance or a network interface. Its ID is the
//! allocation ID (also the import ID).

use super::find::{Ec2Mapped, Lookups, read_mapped};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::ec2_support::{ok_if_gone, tag_spec, tags_to_map, update_tags};
use crate::resources::{ResourceType, require_id};
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Address, DomainType, ResourceType as Ec2ResourceType};
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

pub(crate) struct Eip;

const NAME: &str = "aws_eip";

/// EC2's DNS names of an address in this region.
fn dns_name(region: &str, prefix: &str, ip: &str, public: bool) -> String {
    let dashed = ip.replace('.', "-");
    match (region, public) {
        ("us-east-1", true) => format!("{prefix}-{dashed}.compute-1.amazonaws.com"),
        (_, true) => format!("{prefix}-{dashed}.{region}.compute.amazonaws.com"),
        ("us-east-1", false) => format!("{prefix}-{dashed}.ec2.internal"),
        (_, false) => format!("{prefix}-{dashed}.{region}.compute.internal"),
    }
}

impl Eip {
    async fn associate(&self, p: &AwsProvider, id: &str, v: &Value) -> Result<()> {
        let instance = get_str(v, "instance");
        let eni = get_str(v, "network_interface");
        if instance.is_none() && eni.is_none() {
            return Ok(());
        }
        p.call("ec2:AssociateAddress", || {
            p.ec2
                .associate_address()
                .allocation_id(id)
                .set_instance_id(instance.clone())
                .set_network_interface_id(eni.clone())
                .set_private_ip_address(get_str(v, "associate_with_private_ip"))
                .send()
        })
        .await
        .map(|_| ())
    }

    async fn disassociate(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let Some(assoc) = get_str(prior, "association_id") else {
            return Ok(());
        };
        ok_if_gone(
            p.call("ec2:DisassociateAddress", || {
                p.ec2.disassociate_address().association_id(&assoc).send()
            })
            .await,
        )
    }
}

impl Ec2Mapped for Eip {
    type Object = Address;

    fn map(&self, p: &AwsProvider, a: &Address, prior: Option<&Value>) -> Value {
        let id = a.allocation_id().unwrap_or_default();
        let (tags, tags_all) = tags_from_api(&tags_to_map(a.tags()), prior, &p.default_tags);
        let public_dns = a.public_ip().map(|ip| dns_name(&p.region, "ec2", ip, true));
        let private_dns = a
            .private_ip_address()
            .map(|ip| dns_name(&p.region, "ip", ip, false));
        Obj::new(&p.resource_schema(NAME))
            .set("id", id)
            .set("allocation_id", id)
            .set_opt_str(
                "association_id",
                a.association_id().filter(|s| !s.is_empty()),
            )
            .set_opt_str("domain", a.domain().map(|d| d.as_str()))
            .set_opt_str("instance", a.instance_id().filter(|s| !s.is_empty()))
            .set_opt_str(
                "network_interface",
                a.network_interface_id().filter(|s| !s.is_empty()),
            )
            .set_opt_str("private_ip", a.private_ip_address())
            .set_opt_str("private_dns", private_dns.as_deref())
            .set_opt_str("public_ip", a.public_ip())
            .set_opt_str("public_dns", public_dns.as_deref())
            .set_opt_str("public_ipv4_pool", a.public_ipv4_pool())
            .set_opt_str("network_border_group", a.network_border_group())
            .set_opt_str("carrier_ip", a.carrier_ip())
            .set_opt_str("customer_owned_ip", a.customer_owned_ip())
            .keep(prior, &["associate_with_private_ip"])
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }
}

#[async_trait]
impl ResourceType for Eip {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        let computed = [
            "id",
            "allocation_id",
            "association_id",
            "private_ip",
            "private_dns",
            "public_ip",
            "public_dns",
            "carrier_ip",
            "customer_owned_ip",
            "ptr_record",
        ];
        let s = Schema::new().attrs(&computed, Attribute::computed(AttrType::String));
        s.attrs(
            &["domain", "public_ipv4_pool", "network_border_group"],
            Attribute::optional_computed(AttrType::String).force_new(),
        )
        .attrs(
            &["instance", "network_interface"],
            Attribute::optional_computed(AttrType::String),
        )
        .attr(
            "associate_with_private_ip",
            Attribute::optional(AttrType::String),
        )
        .tagged()
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        if get_str(planned, "domain").is_some_and(|d| d != "vpc") {
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![terrace_core::PathStep::Key("domain".into())]),
                code: "InvalidDomain".into(),
                message: "domain must be \"vpc\" (EC2-Classic addresses no longer exist)".into(),
            });
        }
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let out = p
            .call("ec2:AllocateAddress", || {
                p.ec2
                    .allocate_address()
                    .domain(DomainType::Vpc)
                    .set_public_ipv4_pool(get_str(planned, "public_ipv4_pool"))
                    .set_network_border_group(get_str(planned, "network_border_group"))
                    .tag_specifications(tag_spec(Ec2ResourceType::ElasticIp, &tags))
                    .send()
            })
            .await?;
        let id = out.allocation_id().unwrap_or_default().to_string();
        let made = Value::map([("id", Value::from(id.clone()))]);
        self.associate(p, &id, planned)
            .await
            .map_err(|e| crate::resources::partially_created(&made, e))?;
        read_mapped(self, p, &id, Some(planned), "elastic IP").await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let id = require_id(NAME, prior)?;
        let target = |v: &Value| {
            (
                get_str(v, "instance"),
                get_str(v, "network_interface"),
                get_str(v, "associate_with_private_ip"),
            )
        };
        if target(prior) != target(planned) {
            self.disassociate(p, prior).await?;
            self.associate(p, &id, planned).await?;
        }
        update_tags(p, &id, prior, planned).await?;
        read_mapped(self, p, &id, Some(planned), "elastic IP").await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        self.disassociate(p, prior).await?;
        ok_if_gone(
            p.call("ec2:ReleaseAddress", || {
                p.ec2.release_address().allocation_id(&id).send()
            })
            .await,
        )
    }
}
