//! `aws_route_table` with inline `route` blocks.

use super::ec2::find::{Ec2Mapped, Lookups, find_by_id};
use super::ec2_support::{ok_if_gone, tag_spec, tags_to_map, update_tags};
use super::{ResourceType, require_id, tags_attributes};
use crate::provider::AwsProvider;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_blocks, get_str, opt_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{ResourceType as Ec2ResourceType, RouteOrigin, RouteTable as Rt};
use std::collections::BTreeMap;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

pub(crate) struct RouteTable;

const NAME: &str = "aws_route_table";

/// Route targets, in the order the API and the schema name them.
const TARGETS: &[&str] = &[
    "gateway_id",
    "nat_gateway_id",
    "network_interface_id",
    "transit_gateway_id",
    "vpc_peering_connection_id",
    "egress_only_gateway_id",
];

/// A route: its destination and its target attributes.
#[derive(Debug, Clone, PartialEq)]
struct RouteSpec {
    cidr: Option<String>,
    ipv6: Option<String>,
    targets: BTreeMap<&'static str, String>,
}

impl RouteSpec {
    fn from_value(v: &Value) -> Self {
        RouteSpec {
            cidr: get_str(v, "cidr_block"),
            ipv6: get_str(v, "ipv6_cidr_block"),
            targets: TARGETS
                .iter()
                .filter_map(|t| get_str(v, t).map(|s| (*t, s)))
                .collect(),
        }
    }

    fn destination(&self) -> String {
        self.cidr
            .clone()
            .or_else(|| self.ipv6.clone())
            .unwrap_or_default()
    }

    fn to_value(&self) -> Value {
        let mut m: BTreeMap<String, Value> = TARGETS
            .iter()
            .map(|t| {
                (
                    t.to_string(),
                    opt_str(self.targets.get(t).map(String::as_str)),
                )
            })
            .collect();
        m.insert("cidr_block".into(), opt_str(self.cidr.as_deref()));
        m.insert("ipv6_cidr_block".into(), opt_str(self.ipv6.as_deref()));
        Value::Map(m)
    }
}

fn route_schema() -> Schema {
    let s = Schema::new()
        .attr("cidr_block", Attribute::optional(AttrType::String))
        .attr("ipv6_cidr_block", Attribute::optional(AttrType::String));
    TARGETS
        .iter()
        .fold(s, |s, t| s.attr(t, Attribute::optional(AttrType::String)))
}

impl RouteTable {
    async fn read_one(
        &self,
        p: &AwsProvider,
        id: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>, ProviderError> {
        let found = find_by_id::<Rt>(p, id).await?;
        Ok(found.map(|rt| self.map(p, &rt, prior)))
    }

    async fn put_route(
        &self,
        p: &AwsProvider,
        id: &str,
        r: &RouteSpec,
        replace: bool,
    ) -> Result<(), ProviderError> {
        let t = |k: &str| r.targets.get(k).cloned();
        if replace {
            p.call("ec2:ReplaceRoute", || {
                p.ec2
                    .replace_route()
                    .route_table_id(id)
                    .set_destination_cidr_block(r.cidr.clone())
                    .set_destination_ipv6_cidr_block(r.ipv6.clone())
                    .set_gateway_id(t("gateway_id"))
                    .set_nat_gateway_id(t("nat_gateway_id"))
                    .set_network_interface_id(t("network_interface_id"))
                    .set_transit_gateway_id(t("transit_gateway_id"))
                    .set_vpc_peering_connection_id(t("vpc_peering_connection_id"))
                    .set_egress_only_internet_gateway_id(t("egress_only_gateway_id"))
                    .send()
            })
            .await
            .map(|_| ())
        } else {
            p.call("ec2:CreateRoute", || {
                p.ec2
                    .create_route()
                    .route_table_id(id)
                    .set_destination_cidr_block(r.cidr.clone())
                    .set_destination_ipv6_cidr_block(r.ipv6.clone())
                    .set_gateway_id(t("gateway_id"))
                    .set_nat_gateway_id(t("nat_gateway_id"))
                    .set_network_interface_id(t("network_interface_id"))
                    .set_transit_gateway_id(t("transit_gateway_id"))
                    .set_vpc_peering_connection_id(t("vpc_peering_connection_id"))
                    .set_egress_only_internet_gateway_id(t("egress_only_gateway_id"))
                    .send()
            })
            .await
            .map(|_| ())
        }
    }

    async fn delete_route(
        &self,
        p: &AwsProvider,
        id: &str,
        r: &RouteSpec,
    ) -> Result<(), ProviderError> {
        ok_if_gone(
            p.call("ec2:DeleteRoute", || {
                p.ec2
                    .delete_route()
                    .route_table_id(id)
                    .set_destination_cidr_block(r.cidr.clone())
                    .set_destination_ipv6_cidr_block(r.ipv6.clone())
                    .send()
            })
            .await,
        )
    }

    /// Bring the table's routes from `old` to `new`, keyed by destination.
    async fn sync_routes(
        &self,
        p: &AwsProvider,
        id: &str,
        old: &[RouteSpec],
        new: &[RouteSpec],
    ) -> Result<(), ProviderError> {
        let old: BTreeMap<String, &RouteSpec> = old.iter().map(|r| (r.destination(), r)).collect();
        let new: BTreeMap<String, &RouteSpec> = new.iter().map(|r| (r.destination(), r)).collect();
        for (dest, r) in &old {
            if !new.contains_key(dest) {
                self.delete_route(p, id, r).await?;
            }
        }
        for (dest, r) in &new {
            match old.get(dest) {
                None => self.put_route(p, id, r, false).await?,
                Some(o) if o != r => self.put_route(p, id, r, true).await?,
                Some(_) => {}
            }
        }
        Ok(())
    }
}

fn routes_of(v: &Value) -> Vec<RouteSpec> {
    get_blocks(v, "route")
        .iter()
        .map(RouteSpec::from_value)
        .collect()
}

impl Ec2Mapped for RouteTable {
    type Object = Rt;

    fn map(&self, p: &AwsProvider, rt: &Rt, prior: Option<&Value>) -> Value {
        let id = rt.route_table_id().unwrap_or_default();
        let owner = rt.owner_id().unwrap_or_default();
        let routes: Vec<Value> = rt
            .routes()
            .iter()
            .filter(|r| {
                r.origin() != Some(&RouteOrigin::CreateRouteTable)
                    && r.gateway_id() != Some("local")
            })
            .filter(|r| r.origin() != Some(&RouteOrigin::EnableVgwRoutePropagation))
            .map(|r| {
                let mut targets = BTreeMap::new();
                let mut put = |k: &'static str, v: Option<&str>| {
                    if let Some(v) = v.filter(|v| !v.is_empty()) {
                        targets.insert(k, v.to_string());
                    }
                };
                put("gateway_id", r.gateway_id());
                put("nat_gateway_id", r.nat_gateway_id());
                put(
                    "network_interface_id",
                    r.network_interface_id()
                        .filter(|_| r.instance_id().is_none()),
                );
                put("transit_gateway_id", r.transit_gateway_id());
                put("vpc_peering_connection_id", r.vpc_peering_connection_id());
                put(
                    "egress_only_gateway_id",
                    r.egress_only_internet_gateway_id(),
                );
                RouteSpec {
                    cidr: r.destination_cidr_block().map(str::to_string),
                    ipv6: r.destination_ipv6_cidr_block().map(str::to_string),
                    targets,
                }
                .to_value()
            })
            .collect();
        let (tags, tags_all) = tags_from_api(&tags_to_map(rt.tags()), prior, &p.default_tags);
        Obj::new(&p.resource_schema(NAME))
            .set("id", id)
            .set("arn", p.arn("ec2", owner, &format!("route-table/{id}")))
            .set_opt_str("vpc_id", rt.vpc_id())
            .set("owner_id", owner)
            .set("route", Value::set(routes))
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }
}

#[async_trait]
impl ResourceType for RouteTable {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        tags_attributes(
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("arn", Attribute::computed(AttrType::String))
                .attr("vpc_id", Attribute::required(AttrType::String).force_new())
                .attr("owner_id", Attribute::computed(AttrType::String))
                .set_block("route", route_schema()),
        )
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        ctx: &CreateContext,
    ) -> Result<Value, ProviderError> {
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let out = p
            .call("ec2:CreateRouteTable", || {
                p.ec2
                    .create_route_table()
                    .set_vpc_id(get_str(planned, "vpc_id"))
                    .tag_specifications(tag_spec(Ec2ResourceType::RouteTable, &tags))
                    .send()
            })
            .await?;
        let id = out
            .route_table()
            .and_then(|r| r.route_table_id())
            .unwrap_or_default()
            .to_string();
        self.sync_routes(p, &id, &[], &routes_of(planned)).await?;
        self.read_one(p, &id, Some(planned)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("route table {id} not found after create"))
        })
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value, ProviderError> {
        let id = require_id(NAME, prior)?;
        self.sync_routes(p, &id, &routes_of(prior), &routes_of(planned))
            .await?;
        update_tags(p, &id, prior, planned).await?;
        self.read_one(p, &id, Some(planned)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("route table {id} disappeared during update"))
        })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<(), ProviderError> {
        let id = require_id(NAME, prior)?;
        ok_if_gone(
            p.call("ec2:DeleteRouteTable", || {
                p.ec2.delete_route_table().route_table_id(&id).send()
            })
            .await,
        )
    }
}
