//! `data "aws_availability_zones"`.

use super::{DataSourceType, filter_block, filters_from_config};
use crate::Result;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::values::{Obj, get_bool, get_str, get_strings, str_list, str_set};
use async_trait::async_trait;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, Schema};

pub(crate) struct AvailabilityZones;

#[async_trait]
impl DataSourceType for AvailabilityZones {
    fn name(&self) -> &'static str {
        "aws_availability_zones"
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr("state", Attribute::optional(AttrType::String))
            .attr(
                "all_availability_zones",
                Attribute::optional(AttrType::Bool),
            )
            .attrs(
                &["exclude_names", "exclude_zone_ids"],
                Attribute::optional(AttrType::set_of(AttrType::String)),
            )
            .attrs(
                &["names", "zone_ids"],
                Attribute::computed(AttrType::list_of(AttrType::String)),
            )
            .attr(
                "group_names",
                Attribute::computed(AttrType::set_of(AttrType::String)),
            )
            .set_block("filter", filter_block())
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let mut filters = filters_from_config(config);
        if let Some(state) = get_str(config, "state") {
            filters.push(crate::resources::ec2_support::filter("state", [state]));
        }
        let all = get_bool(config, "all_availability_zones");
        let out = p
            .call("ec2:DescribeAvailabilityZones", || {
                p.ec2
                    .describe_availability_zones()
                    .set_filters((!filters.is_empty()).then(|| filters.clone()))
                    .set_all_availability_zones(all)
                    .send()
            })
            .await?;
        let exclude_names = get_strings(config, "exclude_names");
        let exclude_ids = get_strings(config, "exclude_zone_ids");
        let mut zones: Vec<(String, String, String)> = out
            .availability_zones()
            .iter()
            .filter_map(|z| {
                Some((
                    z.zone_name()?.to_string(),
                    z.zone_id().unwrap_or_default().to_string(),
                    z.group_name().unwrap_or_default().to_string(),
                ))
            })
            .filter(|(n, id, _)| !exclude_names.contains(n) && !exclude_ids.contains(id))
            .collect();
        zones.sort();
        let schema = p.data_source_schema(self.name());
        Ok(Obj::new(&schema)
            .keep(
                Some(config),
                &[
                    "state",
                    "all_availability_zones",
                    "exclude_names",
                    "exclude_zone_ids",
                    "filter",
                ],
            )
            .set("id", p.region.as_str())
            .set("names", str_list(zones.iter().map(|z| z.0.clone())))
            .set("zone_ids", str_list(zones.iter().map(|z| z.1.clone())))
            .set(
                "group_names",
                str_set(zones.iter().map(|z| z.2.clone()).filter(|g| !g.is_empty())),
            )
            .build())
    }
}
