//! `data "aws_vpc"`, `data "aws_subnet"`, `data "aws_subnets"` and
//! `data "aws_security_group"`: EC2 lookups by `id`, by the arguments each
//! data source takes as filters, by `tags` and by `filter` blocks. A
//! single-object lookup that finds nothing fails with Terraform's text
//! ("no matching EC2 VPC found"), one that finds several asks for more
//! constraints; `aws_subnets` returns an empty `ids` list instead.

use super::{DataSourceType, filter_block, filters_from_config};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::ec2::find::{Ec2Object, find_all};
use crate::resources::ec2_support::{filter, tags_to_map};
use crate::schema::SchemaAttrs;
use crate::values::{Obj, str_list, str_map_value};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, SecurityGroup, Subnet, Vpc};
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, ProviderError, Schema};

/// The filters a lookup's configuration asks for: `id`, the arguments
/// that map to describe filters (`(argument, filter)`), `tags`, `filter`.
fn lookup_filters(config: &Value, id_filter: &str, args: &[(&str, &str)]) -> Vec<Filter> {
    let mut filters = filters_from_config(config);
    let as_text = |v: &Value| match v {
        Value::String(s) => Some(s.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    for (arg, name) in std::iter::once(&("id", id_filter)).chain(args) {
        if let Some(v) = config.get(arg).and_then(as_text) {
            filters.push(filter(name, [v]));
        }
    }
    if let Some(tags) = config.get("tags").and_then(Value::as_map) {
        for (k, v) in tags {
            if let Some(v) = v.as_str() {
                filters.push(filter(&format!("tag:{k}"), [v]));
            }
        }
    }
    filters
}

/// Exactly one object, or Terraform's error naming `kind` (e.g. "EC2 VPC").
async fn find_one<T: Ec2Object>(
    p: &AwsProvider,
    config: &Value,
    args: &[(&str, &str)],
    kind: &str,
) -> Result<T> {
    let mut found: Vec<T> = find_all(p, lookup_filters(config, T::ID_FILTER, args)).await?;
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(ProviderError::Api {
            code: "EmptyResult".into(),
            message: format!("no matching {kind} found"),
        }),
        n => Err(ProviderError::Api {
            code: "TooManyResults".into(),
            message: format!(
                "multiple {kind}s matched ({n}); use additional constraints to reduce matches to a single {kind}"
            ),
        }),
    }
}

/// Schema: every name optional+computed (arguments the lookup filters
/// on), `computed` computed, `tags` and the `filter` block.
fn lookup_schema(args: &[&str], computed: &[&str]) -> Schema {
    let s = Schema::new().attrs(args, Attribute::optional_computed(AttrType::String));
    s.attrs(computed, Attribute::computed(AttrType::String))
        .attr(
            "tags",
            Attribute::optional_computed(AttrType::map_of(AttrType::String)),
        )
        .set_block("filter", filter_block())
}

fn tags_value(tags: &[aws_sdk_ec2::types::Tag]) -> Value {
    str_map_value(&tags_to_map(tags))
}

pub(crate) struct VpcLookup;

#[async_trait]
impl DataSourceType for VpcLookup {
    fn name(&self) -> &'static str {
        "aws_vpc"
    }

    fn schema(&self) -> Schema {
        lookup_schema(
            &["id", "cidr_block", "dhcp_options_id", "state"],
            &["arn", "instance_tenancy", "owner_id", "main_route_table_id"],
        )
        .attr("default", Attribute::optional_computed(AttrType::Bool))
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let args = [
            ("cidr_block", "cidr"),
            ("dhcp_options_id", "dhcp-options-id"),
            ("state", "state"),
            ("default", "is-default"),
        ];
        let v: Vpc = find_one(p, config, &args, "EC2 VPC").await?;
        let id = v.vpc_id().unwrap_or_default();
        let owner = v.owner_id().unwrap_or_default();
        let main = find_all::<aws_sdk_ec2::types::RouteTable>(
            p,
            vec![filter("vpc-id", [id]), filter("association.main", ["true"])],
        )
        .await?;
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .keep(Some(config), &["filter"])
            .set("id", id)
            .set("arn", p.arn("ec2", owner, &format!("vpc/{id}")))
            .set_opt_str("cidr_block", v.cidr_block())
            .set_opt_str("dhcp_options_id", v.dhcp_options_id())
            .set_opt_str("state", v.state().map(|s| s.as_str()))
            .set("default", Value::Bool(v.is_default().unwrap_or(false)))
            .set_opt_str("instance_tenancy", v.instance_tenancy().map(|t| t.as_str()))
            .set("owner_id", owner)
            .set_opt_str(
                "main_route_table_id",
                main.first().and_then(|t| t.route_table_id()),
            )
            .set("tags", tags_value(v.tags()))
            .build())
    }
}

const SUBNET_ARGS: [(&str, &str); 6] = [
    ("availability_zone", "availability-zone"),
    ("availability_zone_id", "availability-zone-id"),
    ("cidr_block", "cidr-block"),
    ("vpc_id", "vpc-id"),
    ("state", "state"),
    ("default_for_az", "default-for-az"),
];

pub(crate) struct SubnetLookup;

#[async_trait]
impl DataSourceType for SubnetLookup {
    fn name(&self) -> &'static str {
        "aws_subnet"
    }

    fn schema(&self) -> Schema {
        lookup_schema(
            &[
                "id",
                "availability_zone",
                "availability_zone_id",
                "cidr_block",
                "vpc_id",
                "state",
            ],
            &["arn", "owner_id"],
        )
        .attr(
            "default_for_az",
            Attribute::optional_computed(AttrType::Bool),
        )
        .attr(
            "map_public_ip_on_launch",
            Attribute::computed(AttrType::Bool),
        )
        .attr(
            "available_ip_address_count",
            Attribute::computed(AttrType::Number),
        )
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let s: Subnet = find_one(p, config, &SUBNET_ARGS, "EC2 Subnet").await?;
        let id = s.subnet_id().unwrap_or_default();
        let owner = s.owner_id().unwrap_or_default();
        let arn = s
            .subnet_arn()
            .map(str::to_string)
            .unwrap_or_else(|| p.arn("ec2", owner, &format!("subnet/{id}")));
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .keep(Some(config), &["filter"])
            .set("id", id)
            .set("arn", arn)
            .set_opt_str("availability_zone", s.availability_zone())
            .set_opt_str("availability_zone_id", s.availability_zone_id())
            .set_opt_str("cidr_block", s.cidr_block())
            .set_opt_str("vpc_id", s.vpc_id())
            .set_opt_str("state", s.state().map(|x| x.as_str()))
            .set(
                "default_for_az",
                Value::Bool(s.default_for_az().unwrap_or(false)),
            )
            .set(
                "map_public_ip_on_launch",
                Value::Bool(s.map_public_ip_on_launch().unwrap_or(false)),
            )
            .set(
                "available_ip_address_count",
                Value::from(i64::from(s.available_ip_address_count().unwrap_or(0))),
            )
            .set("owner_id", owner)
            .set("tags", tags_value(s.tags()))
            .build())
    }
}

pub(crate) struct SubnetsLookup;

#[async_trait]
impl DataSourceType for SubnetsLookup {
    fn name(&self) -> &'static str {
        "aws_subnets"
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr(
                "ids",
                Attribute::computed(AttrType::list_of(AttrType::String)),
            )
            .attr(
                "tags",
                Attribute::optional(AttrType::map_of(AttrType::String)),
            )
            .set_block("filter", filter_block())
    }

    /// Every matching subnet; none is an empty list, not an error.
    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let found: Vec<Subnet> = find_all(p, lookup_filters(config, "subnet-id", &[])).await?;
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .keep(Some(config), &["filter", "tags"])
            .set("id", p.region.as_str())
            .set(
                "ids",
                str_list(
                    found
                        .iter()
                        .filter_map(|s| s.subnet_id().map(str::to_string)),
                ),
            )
            .build())
    }
}

pub(crate) struct SecurityGroupLookup;

#[async_trait]
impl DataSourceType for SecurityGroupLookup {
    fn name(&self) -> &'static str {
        "aws_security_group"
    }

    fn schema(&self) -> Schema {
        lookup_schema(&["id", "name", "vpc_id"], &["arn", "description"])
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let args = [("name", "group-name"), ("vpc_id", "vpc-id")];
        let g: SecurityGroup = find_one(p, config, &args, "EC2 Security Group").await?;
        let id = g.group_id().unwrap_or_default();
        let owner = g.owner_id().unwrap_or_default();
        let arn = g
            .security_group_arn()
            .map(str::to_string)
            .unwrap_or_else(|| p.arn("ec2", owner, &format!("security-group/{id}")));
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .keep(Some(config), &["filter"])
            .set("id", id)
            .set("arn", arn)
            .set_opt_str("name", g.group_name())
            .set_opt_str("description", g.description())
            .set_opt_str("vpc_id", g.vpc_id())
            .set("tags", tags_value(g.tags()))
            .build())
    }
}
