//! `aws_default_route_table`: adopts the main route table of a VPC
//! instead of creating one. As in Terraform, configured `route` blocks
//! become exactly its routes (no blocks leave them as they are;
//! `route = []` cannot clear them yet, as for `aws_route_table`), and destroying it only forgets it: the table
//! stays, with its routes. Import by VPC ID.

use super::ec2::find::{Lookups, find_all, find_by_id};
use super::ec2::routes::{RouteSpec, managed_elsewhere};
use super::ec2_support::{filter, tags_to_map, update_tags};
use super::route_table::{RouteTable, routes_of};
use super::{
    ResourceType, computed_block_config, computed_block_unknown, default_plan, require_id,
};
use crate::Result;
use crate::provider::AwsProvider;
use crate::values::{get_str, str_map_value};
use async_trait::async_trait;
use aws_sdk_ec2::types::RouteTable as Rt;
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrMode, AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext,
    Schema,
};

pub(crate) struct DefaultRouteTable;

const NAME: &str = "aws_default_route_table";

/// `aws_route_table`'s state of `rt` with `default_route_table_id`.
fn to_value(p: &AwsProvider, rt: &Rt, prior: Option<&Value>) -> Value {
    let mut v = crate::resources::ec2::find::Ec2Mapped::map(&RouteTable, p, rt, prior);
    if let Some(m) = v.as_map_mut() {
        m.insert(
            "default_route_table_id".into(),
            rt.route_table_id().map_or(Value::Null, Value::from),
        );
    }
    v
}

fn is_main(rt: &Rt) -> bool {
    rt.associations().iter().any(|a| a.main() == Some(true))
}

#[async_trait]
impl ResourceType for DefaultRouteTable {
    fn name(&self) -> &'static str {
        NAME
    }

    /// `aws_route_table`'s schema; `vpc_id` is reported, the table is
    /// named by `default_route_table_id`.
    fn schema(&self) -> Schema {
        let mut s = RouteTable.schema();
        if let Some(a) = s.attributes.get_mut("vpc_id") {
            a.mode = AttrMode::Computed;
            a.force_new = false;
        }
        s.attr(
            "default_route_table_id",
            Attribute::required(AttrType::String).force_new(),
        )
    }

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

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        crate::resources::ec2::find::read_by_ids::<Rt>(p, prior, |rt, pv| to_value(p, rt, Some(pv)))
            .await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let found = find_all::<Rt>(
            p,
            vec![filter("vpc-id", [id]), filter("association.main", ["true"])],
        )
        .await?;
        Ok(found
            .iter()
            .find(|rt| is_main(rt))
            .map(|rt| to_value(p, rt, None)))
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        let id = get_str(planned, "default_route_table_id").unwrap_or_default();
        let missing = || ProviderError::InvalidArgument {
            path: Some(vec![PathStep::Key("default_route_table_id".into())]),
            code: "InvalidRouteTableID.NotFound".into(),
            message: format!("no route table {id} found (use the VPC's default_route_table_id)"),
        };
        let rt = find_by_id::<Rt>(p, &id).await?.ok_or_else(missing)?;
        if planned.get("route").is_some_and(Value::is_wholly_known) {
            let have: Vec<RouteSpec> = rt
                .routes()
                .iter()
                .filter(|r| !managed_elsewhere(r))
                .map(RouteSpec::from_api)
                .collect();
            RouteTable
                .sync_routes(p, &id, &have, &routes_of(planned))
                .await?;
        }
        let has = Value::map([("tags_all", str_map_value(&tags_to_map(rt.tags())))]);
        update_tags(p, &id, &has, planned).await?;
        let rt = find_by_id::<Rt>(p, &id).await?.ok_or_else(missing)?;
        Ok(to_value(p, &rt, Some(planned)))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let id = require_id(NAME, prior)?;
        RouteTable
            .sync_routes(p, &id, &routes_of(prior), &routes_of(planned))
            .await?;
        update_tags(p, &id, prior, planned).await?;
        let rt = find_by_id::<Rt>(p, &id).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("route table {id} disappeared during update"))
        })?;
        Ok(to_value(p, &rt, Some(planned)))
    }

    /// The main route table cannot be deleted: it is only forgotten.
    async fn delete(&self, _p: &AwsProvider, prior: &Value) -> Result<()> {
        require_id(NAME, prior).map(|_| ())
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        None
    }

    fn adopts(&self) -> bool {
        true
    }
}
