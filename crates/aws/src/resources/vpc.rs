//! `aws_vpc`.

use super::ec2::find::{find_all, find_by_ids, find_keyed};
use super::ec2_support::{
    address_filters, environment_filter, filter, ok_if_gone, prior_ids, tag_spec, tags_to_map,
    update_tags,
};
use super::{ResourceType, require_id, wait_for};
use crate::Result;
use crate::api::{at_path, is_not_found};
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_bool, get_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, NetworkAcl, ResourceType as Ec2ResourceType, RouteTable, SecurityGroup,
    Tenancy, VpcAttributeName, VpcTenancy,
};
use futures::{StreamExt, TryStreamExt};
use std::collections::BTreeMap;
use std::time::Duration;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

pub(crate) struct Vpc;

const NAME: &str = "aws_vpc";

/// Concurrent per-VPC attribute reads.
const ATTRIBUTE_CONCURRENCY: usize = 8;

/// What one VPC read needs besides the `Vpc` itself.
#[derive(Default, Clone)]
struct VpcExtras {
    dns_support: Option<bool>,
    dns_hostnames: Option<bool>,
    main_route_table: Option<String>,
    default_security_group: Option<String>,
    default_network_acl: Option<String>,
}

impl Vpc {
    async fn describe(
        &self,
        p: &AwsProvider,
        ids: &[String],
    ) -> Result<BTreeMap<String, (aws_sdk_ec2::types::Vpc, VpcExtras)>> {
        let vpcs = find_by_ids::<aws_sdk_ec2::types::Vpc>(p, ids).await?;
        self.with_extras(p, vpcs.into_values().collect()).await
    }

    async fn with_extras(
        &self,
        p: &AwsProvider,
        vpcs: Vec<aws_sdk_ec2::types::Vpc>,
    ) -> Result<BTreeMap<String, (aws_sdk_ec2::types::Vpc, VpcExtras)>> {
        let ids: Vec<String> = vpcs
            .iter()
            .filter_map(|v| v.vpc_id().map(str::to_string))
            .collect();
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        // Main route tables, default security groups and default network
        // ACLs: one batched call each.
        let main_rts = find_keyed(
            p,
            "vpc-id",
            &ids,
            vec![filter("association.main", ["true"])],
            |rt: &RouteTable| rt.vpc_id().map(str::to_string),
        )
        .await?;
        let default_sgs = find_keyed(
            p,
            "vpc-id",
            &ids,
            vec![filter("group-name", ["default"])],
            |g: &SecurityGroup| g.vpc_id().map(str::to_string),
        )
        .await?;
        let default_acls = find_keyed(
            p,
            "vpc-id",
            &ids,
            vec![filter("default", ["true"])],
            |a: &NetworkAcl| a.vpc_id().map(str::to_string),
        )
        .await?;
        // DNS attributes have no batched API: one call per VPC and attribute.
        let dns: Vec<(String, Option<bool>, Option<bool>)> = futures::stream::iter(ids.clone())
            .map(|id| async move {
                let support = vpc_attribute(p, &id, VpcAttributeName::EnableDnsSupport).await?;
                let hostnames = vpc_attribute(p, &id, VpcAttributeName::EnableDnsHostnames).await?;
                Ok::<_, ProviderError>((id, support, hostnames))
            })
            .buffer_unordered(ATTRIBUTE_CONCURRENCY)
            .try_collect()
            .await?;
        let dns: BTreeMap<String, (Option<bool>, Option<bool>)> =
            dns.into_iter().map(|(id, s, h)| (id, (s, h))).collect();
        Ok(vpcs
            .into_iter()
            .filter_map(|v| {
                let id = v.vpc_id()?.to_string();
                let (dns_support, dns_hostnames) = dns.get(&id).cloned().unwrap_or_default();
                let extras = VpcExtras {
                    dns_support,
                    dns_hostnames,
                    main_route_table: main_rts
                        .get(&id)
                        .and_then(|rt| rt.route_table_id())
                        .map(str::to_string),
                    default_security_group: default_sgs
                        .get(&id)
                        .and_then(|g| g.group_id())
                        .map(str::to_string),
                    default_network_acl: default_acls
                        .get(&id)
                        .and_then(|a| a.network_acl_id())
                        .map(str::to_string),
                };
                Some((id, (v, extras)))
            })
            .collect())
    }

    fn to_value(
        &self,
        p: &AwsProvider,
        vpc: &aws_sdk_ec2::types::Vpc,
        extras: &VpcExtras,
        prior: Option<&Value>,
    ) -> Value {
        let id = vpc.vpc_id().unwrap_or_default();
        let owner = vpc.owner_id().unwrap_or_default();
        let (tags, tags_all) = tags_from_api(&tags_to_map(vpc.tags()), prior, &p.default_tags);
        Obj::new(&p.resource_schema(NAME))
            .set("id", id)
            .set("arn", p.arn("ec2", owner, &format!("vpc/{id}")))
            .set_opt_str("cidr_block", vpc.cidr_block())
            .set(
                "instance_tenancy",
                vpc.instance_tenancy()
                    .map(|t| t.as_str())
                    .unwrap_or("default"),
            )
            .set(
                "enable_dns_support",
                extras.dns_support.map(Value::Bool).unwrap_or(Value::Null),
            )
            .set(
                "enable_dns_hostnames",
                extras.dns_hostnames.map(Value::Bool).unwrap_or(Value::Null),
            )
            .set_opt_str("main_route_table_id", extras.main_route_table.as_deref())
            .set_opt_str("default_route_table_id", extras.main_route_table.as_deref())
            .set_opt_str(
                "default_security_group_id",
                extras.default_security_group.as_deref(),
            )
            .set_opt_str(
                "default_network_acl_id",
                extras.default_network_acl.as_deref(),
            )
            .set_opt_str("dhcp_options_id", vpc.dhcp_options_id())
            .set("owner_id", owner)
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }

    pub(crate) async fn read_one(
        &self,
        p: &AwsProvider,
        id: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let found = self.describe(p, &[id.to_string()]).await?;
        Ok(found.get(id).map(|(v, x)| self.to_value(p, v, x, prior)))
    }

    async fn set_dns(
        &self,
        p: &AwsProvider,
        id: &str,
        attr: VpcAttributeName,
        value: bool,
    ) -> Result<()> {
        let v = AttributeBooleanValue::builder().value(value).build();
        let result = match attr {
            VpcAttributeName::EnableDnsSupport => {
                p.call("ec2:ModifyVpcAttribute", || {
                    p.ec2
                        .modify_vpc_attribute()
                        .vpc_id(id)
                        .enable_dns_support(v.clone())
                        .send()
                })
                .await
            }
            _ => {
                p.call("ec2:ModifyVpcAttribute", || {
                    p.ec2
                        .modify_vpc_attribute()
                        .vpc_id(id)
                        .enable_dns_hostnames(v.clone())
                        .send()
                })
                .await
            }
        };
        result.map(|_| ())
    }
}

async fn vpc_attribute(p: &AwsProvider, id: &str, attr: VpcAttributeName) -> Result<Option<bool>> {
    let out = p
        .call("ec2:DescribeVpcAttribute", || {
            p.ec2
                .describe_vpc_attribute()
                .vpc_id(id)
                .attribute(attr.clone())
                .send()
        })
        .await;
    match out {
        Ok(o) => Ok(match attr {
            VpcAttributeName::EnableDnsSupport => o.enable_dns_support().and_then(|a| a.value()),
            _ => o.enable_dns_hostnames().and_then(|a| a.value()),
        }),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

#[async_trait]
impl ResourceType for Vpc {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &[
                    "id",
                    "arn",
                    "main_route_table_id",
                    "default_route_table_id",
                    "default_security_group_id",
                    "default_network_acl_id",
                    "dhcp_options_id",
                    "owner_id",
                ],
                Attribute::computed(AttrType::String),
            )
            .attr(
                "cidr_block",
                Attribute::required(AttrType::String).force_new(),
            )
            .attr(
                "instance_tenancy",
                Attribute::optional(AttrType::String).default("default"),
            )
            .attr(
                "enable_dns_support",
                Attribute::optional(AttrType::Bool).default(true),
            )
            .attr(
                "enable_dns_hostnames",
                Attribute::optional_computed(AttrType::Bool),
            )
            .tagged()
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let ids = prior_ids(prior);
        let found = self.describe(p, &ids).await?;
        Ok(prior
            .iter()
            .zip(&ids)
            .map(|(pv, id)| found.get(id).map(|(v, x)| self.to_value(p, v, x, Some(pv))))
            .collect())
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let cidr = get_str(planned, "cidr_block");
        let tenancy = get_str(planned, "instance_tenancy").map(|t| Tenancy::from(t.as_str()));
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let out = p
            .call("ec2:CreateVpc", || {
                p.ec2
                    .create_vpc()
                    .set_cidr_block(cidr.clone())
                    .set_instance_tenancy(tenancy.clone())
                    .tag_specifications(tag_spec(Ec2ResourceType::Vpc, &tags))
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "cidr_block"))?;
        let id = out
            .vpc()
            .and_then(|v| v.vpc_id())
            .unwrap_or_default()
            .to_string();
        if get_bool(planned, "enable_dns_support") == Some(false) {
            self.set_dns(p, &id, VpcAttributeName::EnableDnsSupport, false)
                .await?;
        }
        if get_bool(planned, "enable_dns_hostnames") == Some(true) {
            self.set_dns(p, &id, VpcAttributeName::EnableDnsHostnames, true)
                .await?;
        }
        wait_for(
            &format!("VPC {id}"),
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
        for (key, attr) in [
            ("enable_dns_support", VpcAttributeName::EnableDnsSupport),
            ("enable_dns_hostnames", VpcAttributeName::EnableDnsHostnames),
        ] {
            if let Some(want) = get_bool(planned, key)
                && get_bool(prior, key) != Some(want)
            {
                self.set_dns(p, &id, attr, want).await?;
            }
        }
        if let Some(t) = get_str(planned, "instance_tenancy")
            && get_str(prior, "instance_tenancy") != Some(t.clone())
        {
            p.call("ec2:ModifyVpcTenancy", || {
                p.ec2
                    .modify_vpc_tenancy()
                    .vpc_id(&id)
                    .instance_tenancy(VpcTenancy::from(t.as_str()))
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "instance_tenancy"))?;
        }
        update_tags(p, &id, prior, planned).await?;
        self.read_one(p, &id, Some(planned))
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("VPC {id} disappeared during update")))
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        ok_if_gone(
            p.call("ec2:DeleteVpc", || p.ec2.delete_vpc().vpc_id(&id).send())
                .await,
        )
    }

    async fn find_created(
        &self,
        p: &AwsProvider,
        _token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>> {
        let found = self.list_filtered(p, address_filters(ctx)).await?;
        Ok(found.into_iter().next())
    }

    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        self.list_filtered(p, vec![environment_filter(environment)])
            .await
    }
}

impl Vpc {
    async fn list_filtered(
        &self,
        p: &AwsProvider,
        filters: Vec<aws_sdk_ec2::types::Filter>,
    ) -> Result<Vec<Value>> {
        let vpcs = find_all::<aws_sdk_ec2::types::Vpc>(p, filters).await?;
        let found = self.with_extras(p, vpcs).await?;
        Ok(found
            .values()
            .map(|(v, x)| self.to_value(p, v, x, None))
            .collect())
    }
}
