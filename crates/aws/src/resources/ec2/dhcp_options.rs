//! `aws_vpc_dhcp_options` and `aws_vpc_dhcp_options_association`. Every
//! option forces a new set (DHCP option sets cannot be changed); the
//! association re-associates in place and, destroyed, puts the VPC back
//! on the `default` options as Terraform does. Its ID is
//! `<dhcp_options_id>-<vpc_id>`; it imports by VPC ID.

use super::find::{Ec2Mapped, Lookups, find_by_id, find_by_ids, read_mapped};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::InPlace;
use crate::resources::ec2_support::{ok_if_gone, tag_spec, tags_to_map, update_tags};
use crate::resources::{ResourceType, require_id};
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_str, get_strings, str_list};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    DhcpOptions as Dopt, NewDhcpConfiguration, ResourceType as Ec2ResourceType, Vpc,
};
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, CreateContext, ResourceContext, Schema};

pub(crate) struct DhcpOptions;

const NAME: &str = "aws_vpc_dhcp_options";

/// State key, DHCP option key, whether it is a list.
const OPTIONS: &[(&str, &str, bool)] = &[
    ("domain_name", "domain-name", false),
    ("domain_name_servers", "domain-name-servers", true),
    ("ntp_servers", "ntp-servers", true),
    ("netbios_name_servers", "netbios-name-servers", true),
    ("netbios_node_type", "netbios-node-type", false),
    (
        "ipv6_address_preferred_lease_time",
        "ipv6-address-preferred-lease-time",
        false,
    ),
];

impl Ec2Mapped for DhcpOptions {
    type Object = Dopt;

    fn map(&self, p: &AwsProvider, d: &Dopt, prior: Option<&Value>) -> Value {
        let id = d.dhcp_options_id().unwrap_or_default();
        let owner = d.owner_id().unwrap_or_default();
        let (tags, tags_all) = tags_from_api(&tags_to_map(d.tags()), prior, &p.default_tags);
        let mut obj = Obj::new(&p.resource_schema(NAME))
            .set("id", id)
            .set("arn", p.arn("ec2", owner, &format!("dhcp-options/{id}")))
            .set("owner_id", owner)
            .set("tags", tags)
            .set("tags_all", tags_all);
        for (key, api, list) in OPTIONS {
            let values: Vec<&str> = d
                .dhcp_configurations()
                .iter()
                .filter(|c| c.key() == Some(*api))
                .flat_map(|c| c.values().iter().filter_map(|v| v.value()))
                .collect();
            obj = match (list, values.first()) {
                (_, None) => obj,
                (true, _) => obj.set(key, str_list(values.iter().copied())),
                (false, Some(v)) => obj.set(key, *v),
            };
        }
        obj.build()
    }
}

#[async_trait]
impl ResourceType for DhcpOptions {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        let s = OPTIONS.iter().fold(Schema::new(), |s, (key, _, list)| {
            let ty = if *list {
                AttrType::list_of(AttrType::String)
            } else {
                AttrType::String
            };
            s.attr(key, Attribute::optional(ty).force_new())
        });
        s.attrs(
            &["id", "arn", "owner_id"],
            Attribute::computed(AttrType::String),
        )
        .tagged()
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let configs: Vec<NewDhcpConfiguration> = OPTIONS
            .iter()
            .filter_map(|(key, api, list)| {
                let values = if *list {
                    get_strings(planned, key)
                } else {
                    get_str(planned, key).into_iter().collect()
                };
                (!values.is_empty()).then(|| {
                    NewDhcpConfiguration::builder()
                        .key(*api)
                        .set_values(Some(values))
                        .build()
                })
            })
            .collect();
        let out = p
            .call("ec2:CreateDhcpOptions", || {
                p.ec2
                    .create_dhcp_options()
                    .set_dhcp_configurations(Some(configs.clone()))
                    .tag_specifications(tag_spec(Ec2ResourceType::DhcpOptions, &tags))
                    .send()
            })
            .await?;
        let id = out
            .dhcp_options()
            .and_then(|d| d.dhcp_options_id())
            .unwrap_or_default()
            .to_string();
        if out.dhcp_options().is_some_and(|d| d.tags().is_empty()) {
            // An endpoint that ignored the tag specification (moto).
            let untagged = Value::map([("tags_all", Value::Map(Default::default()))]);
            update_tags(p, &id, &untagged, planned).await?;
        }
        read_mapped(self, p, &id, Some(planned), "DHCP options").await
    }

    fn in_place(&self) -> InPlace {
        InPlace::Ec2Tags
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        ok_if_gone(
            p.call("ec2:DeleteDhcpOptions", || {
                p.ec2.delete_dhcp_options().dhcp_options_id(&id).send()
            })
            .await,
        )
    }
}

pub(crate) struct DhcpOptionsAssociation;

const ASSOCIATION: &str = "aws_vpc_dhcp_options_association";

impl DhcpOptionsAssociation {
    async fn associate(&self, p: &AwsProvider, vpc: &str, options: &str) -> Result<()> {
        p.call("ec2:AssociateDhcpOptions", || {
            p.ec2
                .associate_dhcp_options()
                .vpc_id(vpc)
                .dhcp_options_id(options)
                .send()
        })
        .await
        .map(|_| ())
    }

    /// The association of `vpc`; the ID stays the one it was created
    /// with (`prior`), as in Terraform, when the options change.
    fn value(&self, p: &AwsProvider, vpc: &Vpc, prior: Option<&Value>) -> Option<Value> {
        let options = vpc.dhcp_options_id().filter(|o| *o != "default")?;
        let vpc_id = vpc.vpc_id()?;
        let id = prior
            .and_then(|pv| get_str(pv, "id"))
            .unwrap_or_else(|| format!("{options}-{vpc_id}"));
        Some(
            Obj::new(&p.resource_schema(ASSOCIATION))
                .set("id", id)
                .set("vpc_id", vpc_id)
                .set("dhcp_options_id", options)
                .build(),
        )
    }
}

#[async_trait]
impl ResourceType for DhcpOptionsAssociation {
    fn name(&self) -> &'static str {
        ASSOCIATION
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr("vpc_id", Attribute::required(AttrType::String).force_new())
            .attr("dhcp_options_id", Attribute::required(AttrType::String))
    }

    fn untagged(&self) -> bool {
        true
    }

    /// One `DescribeVpcs` for all priors; an association whose VPC is on
    /// other (or default) options is gone.
    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let vpcs: Vec<String> = prior
            .iter()
            .map(|v| get_str(v, "vpc_id").unwrap_or_default())
            .collect();
        let found = find_by_ids::<Vpc>(p, &vpcs).await?;
        Ok(vpcs
            .iter()
            .zip(prior)
            .map(|(id, pv)| found.get(id).and_then(|v| self.value(p, v, Some(pv))))
            .collect())
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        Ok(find_by_id::<Vpc>(p, id)
            .await?
            .and_then(|v| self.value(p, &v, None)))
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        let vpc = get_str(planned, "vpc_id").unwrap_or_default();
        let options = get_str(planned, "dhcp_options_id").unwrap_or_default();
        self.associate(p, &vpc, &options).await?;
        Ok(Obj::new(&p.resource_schema(ASSOCIATION))
            .set("id", format!("{options}-{vpc}"))
            .set("vpc_id", vpc)
            .set("dhcp_options_id", options)
            .build())
    }

    async fn update(
        &self,
        p: &AwsProvider,
        _prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let vpc = get_str(planned, "vpc_id").unwrap_or_default();
        let options = get_str(planned, "dhcp_options_id").unwrap_or_default();
        self.associate(p, &vpc, &options).await?;
        Ok(planned.clone())
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let vpc = get_str(prior, "vpc_id").unwrap_or_default();
        ok_if_gone(self.associate(p, &vpc, "default").await)
    }
}
