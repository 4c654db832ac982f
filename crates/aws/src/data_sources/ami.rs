//! `data "aws_ami"`.

use super::{DataSourceType, filter_block, filters_from_config};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::ec2_support::tags_to_map;
use crate::schema::SchemaAttrs;
use crate::values::{Obj, get_bool, get_str, get_strings, str_map_value};
use async_trait::async_trait;
use terrace_core::{PathStep, Value};
use terrace_provider::{AttrType, Attribute, ProviderError, Schema};

pub(crate) struct Ami;

#[async_trait]
impl DataSourceType for Ami {
    fn name(&self) -> &'static str {
        "aws_ami"
    }

    fn schema(&self) -> Schema {
        let computed =
            |s: Schema, names: &[&str]| s.attrs(names, Attribute::computed(AttrType::String));
        let s = Schema::new()
            .attrs(
                &["most_recent", "include_deprecated"],
                Attribute::optional(AttrType::Bool).default(false),
            )
            .attrs(
                &["owners", "executable_users"],
                Attribute::optional(AttrType::list_of(AttrType::String)),
            )
            .attr("name_regex", Attribute::optional(AttrType::String))
            .attr(
                "tags",
                Attribute::computed(AttrType::map_of(AttrType::String)),
            )
            .attrs(
                &["public", "ena_support"],
                Attribute::computed(AttrType::Bool),
            )
            .set_block("filter", filter_block());
        computed(
            s,
            &[
                "id",
                "arn",
                "image_id",
                "name",
                "description",
                "architecture",
                "creation_date",
                "owner_id",
                "image_owner_alias",
                "image_location",
                "image_type",
                "platform",
                "platform_details",
                "root_device_name",
                "root_device_type",
                "state",
                "virtualization_type",
                "hypervisor",
                "kernel_id",
                "ramdisk_id",
            ],
        )
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let owners = get_strings(config, "owners");
        let users = get_strings(config, "executable_users");
        let filters = filters_from_config(config);
        if owners.is_empty() && users.is_empty() && filters.is_empty() {
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![PathStep::Key("owners".into())]),
                code: "MissingParameter".into(),
                message: "one of owners, executable_users or filter must be set".into(),
            });
        }
        let deprecated = get_bool(config, "include_deprecated");
        let out = p
            .call("ec2:DescribeImages", || {
                p.ec2
                    .describe_images()
                    .set_owners((!owners.is_empty()).then(|| owners.clone()))
                    .set_executable_users((!users.is_empty()).then(|| users.clone()))
                    .set_filters((!filters.is_empty()).then(|| filters.clone()))
                    .set_include_deprecated(deprecated)
                    .send()
            })
            .await?;
        let mut images: Vec<&aws_sdk_ec2::types::Image> = out.images().iter().collect();
        if let Some(re) = get_str(config, "name_regex") {
            let re = regex::Regex::new(&re).map_err(|e| ProviderError::InvalidArgument {
                path: Some(vec![PathStep::Key("name_regex".into())]),
                code: "InvalidRegex".into(),
                message: e.to_string(),
            })?;
            images.retain(|i| i.name().is_some_and(|n| re.is_match(n)));
        }
        if images.is_empty() {
            return Err(ProviderError::InvalidArgument {
                path: None,
                code: "NoResults".into(),
                message: "Your query returned no results. Please change your search criteria and try again.".into(),
            });
        }
        if images.len() > 1 && get_bool(config, "most_recent") != Some(true) {
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![PathStep::Key("most_recent".into())]),
                code: "TooManyResults".into(),
                message: "Your query returned more than one result. Please try a more specific search criteria, \
                          or set `most_recent` attribute to true."
                    .into(),
            });
        }
        images.sort_by(|a, b| b.creation_date().cmp(&a.creation_date()));
        let img = images[0];
        let id = img.image_id().unwrap_or_default();
        let s = |v: Option<&str>| v.map(Value::from).unwrap_or(Value::Null);
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .keep(
                Some(config),
                &[
                    "most_recent",
                    "owners",
                    "executable_users",
                    "name_regex",
                    "include_deprecated",
                    "filter",
                ],
            )
            .set(
                "most_recent",
                get_bool(config, "most_recent").unwrap_or(false),
            )
            .set("include_deprecated", deprecated.unwrap_or(false))
            .set("id", id)
            .set("image_id", id)
            .set(
                "arn",
                format!("arn:{}:ec2:{}::image/{id}", p.partition(), p.region),
            )
            .set("name", s(img.name()))
            .set("description", s(img.description()))
            .set("architecture", s(img.architecture().map(|a| a.as_str())))
            .set("creation_date", s(img.creation_date()))
            .set("owner_id", s(img.owner_id()))
            .set("image_owner_alias", s(img.image_owner_alias()))
            .set("image_location", s(img.image_location()))
            .set("image_type", s(img.image_type().map(|t| t.as_str())))
            .set("platform", s(img.platform().map(|t| t.as_str())))
            .set("platform_details", s(img.platform_details()))
            .set("root_device_name", s(img.root_device_name()))
            .set(
                "root_device_type",
                s(img.root_device_type().map(|t| t.as_str())),
            )
            .set("state", s(img.state().map(|t| t.as_str())))
            .set(
                "virtualization_type",
                s(img.virtualization_type().map(|t| t.as_str())),
            )
            .set("hypervisor", s(img.hypervisor().map(|t| t.as_str())))
            .set("kernel_id", s(img.kernel_id()))
            .set("ramdisk_id", s(img.ramdisk_id()))
            .set(
                "public",
                img.public().map(Value::Bool).unwrap_or(Value::Null),
            )
            .set(
                "ena_support",
                img.ena_support().map(Value::Bool).unwrap_or(Value::Null),
            )
            .set("tags", str_map_value(&tags_to_map(img.tags())))
            .build())
    }
}
