//! `aws_route`: one route of a route table. Its ID is Terraform's
//! (`r-<table><crc32 of the destination>`); import takes
//! `<route_table_id>_<destination>` (e.g. `rtb-0123_0.0.0.0/0`).

use super::find::find_by_ids;
use super::routes::{ROUTE_KEYS, RouteSpec, TARGETS, delete_route, managed_elsewhere, put_route};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::{ResourceType, bad_import_id, require_id, wait_for};
use crate::schema::SchemaAttrs;
use crate::values::{Obj, get_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::RouteTable as Rt;
use std::time::Duration;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

pub(crate) struct Route;

const NAME: &str = "aws_route";

/// Terraform's route ID: `r-` + table ID + the CRC-32 of the destination.
fn route_id(table: &str, destination: &str) -> String {
    format!("r-{table}{}", crc32fast::hash(destination.as_bytes()))
}

impl Route {
    fn to_value(&self, p: &AwsProvider, table: &str, r: &aws_sdk_ec2::types::Route) -> Value {
        let spec = RouteSpec::from_api(r);
        let mut obj = Obj::new(&p.resource_schema(NAME))
            .set("id", route_id(table, &spec.destination()))
            .set("route_table_id", table)
            .set_opt_str("instance_id", r.instance_id())
            .set_opt_str("instance_owner_id", r.instance_owner_id())
            .set_opt_str("origin", r.origin().map(|o| o.as_str()))
            .set_opt_str("state", r.state().map(|s| s.as_str()));
        for (k, v) in spec.attributes(ROUTE_KEYS) {
            obj = obj.set(&k, v);
        }
        obj.build()
    }

    /// The route to `destination` in each of the priors' tables.
    async fn read_specs(
        &self,
        p: &AwsProvider,
        wanted: &[(String, String)],
    ) -> Result<Vec<Option<Value>>> {
        let tables: Vec<String> = wanted.iter().map(|(t, _)| t.clone()).collect();
        let found = find_by_ids::<Rt>(p, &tables).await?;
        Ok(wanted
            .iter()
            .map(|(table, dest)| {
                let rt = found.get(table)?;
                let r = rt.routes().iter().find(|r| {
                    !managed_elsewhere(r) && RouteSpec::from_api(r).destination() == *dest
                })?;
                Some(self.to_value(p, table, r))
            })
            .collect())
    }

    /// Read one route, waiting for a new one to show (eventual consistency).
    async fn read_after_write(
        &self,
        p: &AwsProvider,
        table: &str,
        spec: &RouteSpec,
    ) -> Result<Value> {
        let wanted = [(table.to_string(), spec.destination())];
        wait_for(
            &format!("route {} in {table}", spec.destination()),
            Duration::from_secs(120),
            Duration::from_millis(500),
            || async {
                let got = self.read_specs(p, &wanted).await?.pop().flatten();
                Ok(got.filter(|v| RouteSpec::from_value(v, ROUTE_KEYS).targets == spec.targets))
            },
        )
        .await
    }
}

fn table_and_spec(v: &Value) -> Result<(String, RouteSpec)> {
    let table = get_str(v, "route_table_id").ok_or_else(|| ProviderError::Api {
        code: "MissingId".into(),
        message: format!("{NAME} has no route_table_id"),
    })?;
    Ok((table, RouteSpec::from_value(v, ROUTE_KEYS)))
}

#[async_trait]
impl ResourceType for Route {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        let s = Schema::new()
            .attrs(
                &["id", "instance_id", "instance_owner_id", "origin", "state"],
                Attribute::computed(AttrType::String),
            )
            .attr(
                "route_table_id",
                Attribute::required(AttrType::String).force_new(),
            )
            .attrs(
                &["destination_cidr_block", "destination_ipv6_cidr_block"],
                Attribute::optional(AttrType::String).force_new(),
            );
        s.attrs(TARGETS, Attribute::optional(AttrType::String))
    }

    fn untagged(&self) -> bool {
        true
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let wanted: Vec<(String, String)> = prior
            .iter()
            .map(|v| {
                let (t, s) = table_and_spec(v).unwrap_or_default();
                (t, s.destination())
            })
            .collect();
        self.read_specs(p, &wanted).await
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        let (table, spec) = table_and_spec(planned)?;
        if spec.cidr.is_some() == spec.ipv6.is_some() {
            return Err(ProviderError::InvalidArgument {
                path: None,
                code: "InvalidDestination".into(),
                message: "aws_route needs exactly one of destination_cidr_block and destination_ipv6_cidr_block".into(),
            });
        }
        put_route(p, &table, &spec, false).await?;
        self.read_after_write(p, &table, &spec).await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        _prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let (table, spec) = table_and_spec(planned)?;
        put_route(p, &table, &spec, true).await?;
        self.read_after_write(p, &table, &spec).await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        require_id(NAME, prior)?;
        let (table, spec) = table_and_spec(prior)?;
        delete_route(p, &table, &spec).await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let form = "<route_table_id>_<destination>, e.g. rtb-0123_0.0.0.0/0";
        let (table, dest) = id.split_once('_').ok_or_else(|| bad_import_id(id, form))?;
        if !table.starts_with("rtb-") || dest.is_empty() {
            return Err(bad_import_id(id, form));
        }
        Ok(self
            .read_specs(p, &[(table.to_string(), dest.to_string())])
            .await?
            .pop()
            .flatten())
    }
}
