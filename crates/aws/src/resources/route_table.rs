//! `aws_route_table` with inline `route` blocks.

use super::ec2::find::{Ec2Mapped, Lookups, find_by_id};
use super::ec2::routes::{
    BLOCK_KEYS, RouteSpec, TARGETS, delete_route, managed_elsewhere, put_route,
};
use super::ec2_support::{ok_if_gone, tag_spec, tags_to_map, update_tags};
use super::{
    ResourceType, computed_block_config, computed_block_unknown, default_plan, require_id,
};
use crate::Result;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_blocks, get_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{ResourceType as Ec2ResourceType, RouteTable as Rt};
use std::collections::BTreeMap;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct RouteTable;

const NAME: &str = "aws_route_table";

fn route_schema() -> Schema {
    let s = Schema::new().attrs(
        &["cidr_block", "ipv6_cidr_block"],
        Attribute::optional(AttrType::String),
    );
    s.attrs(TARGETS, Attribute::optional(AttrType::String))
}

impl RouteTable {
    async fn read_one(
        &self,
        p: &AwsProvider,
        id: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let found = find_by_id::<Rt>(p, id).await?;
        Ok(found.map(|rt| self.map(p, &rt, prior)))
    }

    /// Bring the table's routes from `old` to `new`, keyed by destination.
    pub(crate) async fn sync_routes(
        &self,
        p: &AwsProvider,
        id: &str,
        old: &[RouteSpec],
        new: &[RouteSpec],
    ) -> Result<()> {
        let old: BTreeMap<String, &RouteSpec> = old.iter().map(|r| (r.destination(), r)).collect();
        let new: BTreeMap<String, &RouteSpec> = new.iter().map(|r| (r.destination(), r)).collect();
        for (dest, r) in &old {
            if !new.contains_key(dest) {
                delete_route(p, id, r).await?;
            }
        }
        for (dest, r) in &new {
            match old.get(dest) {
                None => put_route(p, id, r, false).await?,
                Some(o) if o != r => put_route(p, id, r, true).await?,
                Some(_) => {}
            }
        }
        Ok(())
    }
}

pub(crate) fn routes_of(v: &Value) -> Vec<RouteSpec> {
    get_blocks(v, "route")
        .iter()
        .map(|v| RouteSpec::from_value(v, BLOCK_KEYS))
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
            .filter(|r| !managed_elsewhere(r))
            .map(|r| Value::Map(RouteSpec::from_api(r).attributes(BLOCK_KEYS).into()))
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

    fn listed_as_own(&self, rt: &Rt) -> bool {
        !rt.associations().iter().any(|a| a.main() == Some(true))
    }
}

#[async_trait]
impl ResourceType for RouteTable {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "arn", "owner_id"],
                Attribute::computed(AttrType::String),
            )
            .attr("vpc_id", Attribute::required(AttrType::String).force_new())
            .set_block("route", route_schema())
            .tagged()
    }

    /// `route` is optional and computed, as in Terraform: a table with no
    /// `route` blocks leaves its routes to `aws_route` resources (and
    /// shows them), one with blocks owns every route.
    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let config = computed_block_config(config, prior, "route");
        let mut planned = default_plan(p, &p.resource_schema(NAME), prior, &config, ctx);
        if prior.is_none() {
            computed_block_unknown(&mut planned, &config, "route");
        }
        Ok(planned)
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
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
    ) -> Result<Value> {
        let id = require_id(NAME, prior)?;
        self.sync_routes(p, &id, &routes_of(prior), &routes_of(planned))
            .await?;
        update_tags(p, &id, prior, planned).await?;
        self.read_one(p, &id, Some(planned)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("route table {id} disappeared during update"))
        })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        ok_if_gone(
            p.call("ec2:DeleteRouteTable", || {
                p.ec2.delete_route_table().route_table_id(&id).send()
            })
            .await,
        )
    }
}
