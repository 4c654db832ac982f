//! `aws_route_table_association`: a subnet (or an internet/virtual private
//! gateway) associated with a route table. Import takes
//! `<subnet_id>/<route_table_id>` or `<gateway_id>/<route_table_id>`.
//! Changing `route_table_id` replaces the association in place
//! (`ReplaceRouteTableAssociation`, which gives it a new ID, as in Terraform).

use super::find::{Ec2Object, find_by_id};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::ec2_support::{describe_by_ids, filter, ok_if_gone, prior_ids};
use crate::resources::{ResourceType, bad_import_id, default_plan, require_id};
use crate::schema::SchemaAttrs;
use crate::values::{Obj, get_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{RouteTable as Rt, RouteTableAssociation};
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct Association;

const NAME: &str = "aws_route_table_association";

impl Association {
    fn to_value(&self, p: &AwsProvider, a: &RouteTableAssociation) -> Value {
        Obj::new(&p.resource_schema(NAME))
            .set_opt_str("id", a.route_table_association_id())
            .set_opt_str("route_table_id", a.route_table_id())
            .set_opt_str("subnet_id", a.subnet_id())
            .set_opt_str("gateway_id", a.gateway_id())
            .build()
    }

    /// The associations with these IDs, batched and paged.
    async fn by_ids(
        &self,
        p: &AwsProvider,
        ids: &[String],
    ) -> Result<std::collections::BTreeMap<String, RouteTableAssociation>> {
        describe_by_ids(ids, |chunk, token| async move {
            let filters = vec![filter("association.route-table-association-id", &chunk)];
            let (tables, next) = Rt::describe_page(p, filters, token).await?;
            let items = tables
                .iter()
                .flat_map(|t| t.associations())
                .filter(|a| !a.main().unwrap_or(false))
                .filter_map(|a| {
                    let id = a.route_table_association_id()?.to_string();
                    chunk.contains(&id).then(|| (id, a.clone()))
                })
                .collect();
            Ok((items, next))
        })
        .await
    }

    async fn read_one(&self, p: &AwsProvider, id: &str) -> Result<Value> {
        self.by_ids(p, &[id.to_string()])
            .await?
            .get(id)
            .map(|a| self.to_value(p, a))
            .ok_or_else(|| ProviderError::NotFound(format!("route table association {id}")))
    }
}

#[async_trait]
impl ResourceType for Association {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr("route_table_id", Attribute::required(AttrType::String))
            .attrs(
                &["subnet_id", "gateway_id"],
                Attribute::optional(AttrType::String).force_new(),
            )
    }

    /// A new route table gives the association a new ID.
    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let mut planned = default_plan(p, &p.resource_schema(NAME), prior, config, ctx);
        let moved = prior
            .is_some_and(|pv| pv.get("route_table_id") != planned.planned.get("route_table_id"));
        if moved && let Some(m) = planned.planned.as_map_mut() {
            m.insert("id".into(), Value::Unknown);
        }
        Ok(planned)
    }

    fn untagged(&self) -> bool {
        true
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let ids = prior_ids(prior);
        let found = self.by_ids(p, &ids).await?;
        Ok(ids
            .iter()
            .map(|id| found.get(id).map(|a| self.to_value(p, a)))
            .collect())
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        let subnet = get_str(planned, "subnet_id");
        let gateway = get_str(planned, "gateway_id");
        if subnet.is_some() == gateway.is_some() {
            return Err(ProviderError::InvalidArgument {
                path: None,
                code: "InvalidAssociation".into(),
                message:
                    "aws_route_table_association needs exactly one of subnet_id and gateway_id"
                        .into(),
            });
        }
        let table = get_str(planned, "route_table_id").unwrap_or_default();
        let out = p
            .call("ec2:AssociateRouteTable", || {
                p.ec2
                    .associate_route_table()
                    .route_table_id(&table)
                    .set_subnet_id(subnet.clone())
                    .set_gateway_id(gateway.clone())
                    .send()
            })
            .await?;
        let id = out.association_id().unwrap_or_default();
        self.read_one(p, id).await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let id = require_id(NAME, prior)?;
        let table = get_str(planned, "route_table_id").unwrap_or_default();
        let out = p
            .call("ec2:ReplaceRouteTableAssociation", || {
                p.ec2
                    .replace_route_table_association()
                    .association_id(&id)
                    .route_table_id(&table)
                    .send()
            })
            .await?;
        self.read_one(p, out.new_association_id().unwrap_or_default())
            .await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        ok_if_gone(
            p.call("ec2:DisassociateRouteTable", || {
                p.ec2.disassociate_route_table().association_id(&id).send()
            })
            .await,
        )
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let form = "<subnet_id>/<route_table_id> or <gateway_id>/<route_table_id>";
        let (target, table) = id.split_once('/').ok_or_else(|| bad_import_id(id, form))?;
        let Some(rt) = find_by_id::<Rt>(p, table).await? else {
            return Ok(None);
        };
        Ok(rt
            .associations()
            .iter()
            .find(|a| a.subnet_id() == Some(target) || a.gateway_id() == Some(target))
            .map(|a| self.to_value(p, a)))
    }
}
