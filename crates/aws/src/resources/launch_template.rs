//! `aws_launch_template`.
//!
//! State describes the template's latest version (as the Terraform AWS
//! provider does). A change to the launch data creates a new version; with
//! `update_default_version` it also becomes the default. The launch data
//! beyond image, type, groups, profile, metadata options, block devices and
//! tag specifications (network interfaces, monitoring, placement, market
//! and CPU options, ...) is mapped in [`data`].

mod data;

use super::ec2::find::find_all;
use super::ec2_support::{
    address_filters, describe_all, environment_filter, filter, tag_spec, tags_to_map, update_tags,
};
use super::iam::{generated_name, read_each};
use super::{ResourceType, default_plan, require_id};
use crate::api::{at_path, is_not_found};
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, tags_from_api};
use crate::values::{
    Obj, first_block, get_blocks, get_bool, get_i64, get_str, get_str_map, get_strings,
    str_map_value, str_set,
};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, InstanceType, LaunchTemplate, LaunchTemplateBlockDeviceMappingRequest,
    LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateHttpTokensState,
    LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceMetadataProtocolIpv6, LaunchTemplateInstanceMetadataTagsState,
    LaunchTemplateTagSpecificationRequest, LaunchTemplateVersion, RequestLaunchTemplateData,
    ResourceType as Ec2ResourceType, ResponseLaunchTemplateData, Tag, VolumeType,
};
use std::collections::BTreeMap;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct LaunchTemplateType;

/// A described template, its latest version and its current tags.
type Found = (LaunchTemplate, Option<LaunchTemplateVersion>, TagMap);

const NAME: &str = "aws_launch_template";

/// At or above this many templates, one account-wide `$Latest` listing is
/// fewer calls than one `DescribeLaunchTemplateVersions` per template.
const ACCOUNT_WIDE_VERSIONS_AT: usize = 5;

/// The EC2 idempotency token limit.
const CLIENT_TOKEN_MAX: usize = 64;

/// Attributes that are not launch data: changing only these makes no new version.
const NOT_DATA: &[&str] = &[
    "id",
    "arn",
    "name",
    "name_prefix",
    "tags",
    "tags_all",
    "default_version",
    "update_default_version",
    "latest_version",
];

fn s(v: Option<&str>) -> Value {
    v.filter(|x| !x.is_empty())
        .map(Value::from)
        .unwrap_or(Value::Null)
}

fn n(v: Option<i32>) -> Value {
    v.map(|x| Value::from(i64::from(x))).unwrap_or(Value::Null)
}

fn bool_str(v: Option<bool>) -> Value {
    v.map(|b| Value::from(b.to_string())).unwrap_or(Value::Null)
}

fn parse_bool_str(v: &Value, key: &str) -> Option<bool> {
    get_str(v, key)
        .filter(|s| !s.is_empty())
        .map(|s| s == "true")
}

/// The launch data of a planned object as an API request.
fn request_data(planned: &Value) -> RequestLaunchTemplateData {
    let mut d = RequestLaunchTemplateData::builder()
        .set_image_id(get_str(planned, "image_id"))
        .set_instance_type(
            get_str(planned, "instance_type").map(|t| InstanceType::from(t.as_str())),
        )
        .set_key_name(get_str(planned, "key_name"))
        .set_user_data(get_str(planned, "user_data"))
        .set_ebs_optimized(parse_bool_str(planned, "ebs_optimized"))
        .set_disable_api_termination(get_bool(planned, "disable_api_termination"));
    d = data::request(d, planned);
    let sgs = get_strings(planned, "vpc_security_group_ids");
    if !sgs.is_empty() {
        d = d.set_security_group_ids(Some(sgs));
    }
    let names = get_strings(planned, "security_group_names");
    if !names.is_empty() {
        d = d.set_security_groups(Some(names));
    }
    if let Some(ip) = first_block(planned, "iam_instance_profile") {
        d = d.iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .set_arn(get_str(ip, "arn"))
                .set_name(get_str(ip, "name"))
                .build(),
        );
    }
    if let Some(m) = first_block(planned, "metadata_options") {
        d = d.metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .set_http_endpoint(
                    get_str(m, "http_endpoint")
                        .map(|x| LaunchTemplateInstanceMetadataEndpointState::from(x.as_str())),
                )
                .set_http_tokens(
                    get_str(m, "http_tokens")
                        .map(|x| LaunchTemplateHttpTokensState::from(x.as_str())),
                )
                .set_http_put_response_hop_limit(
                    get_i64(m, "http_put_response_hop_limit").map(|x| x as i32),
                )
                .set_http_protocol_ipv6(
                    get_str(m, "http_protocol_ipv6")
                        .map(|x| LaunchTemplateInstanceMetadataProtocolIpv6::from(x.as_str())),
                )
                .set_instance_metadata_tags(
                    get_str(m, "instance_metadata_tags")
                        .map(|x| LaunchTemplateInstanceMetadataTagsState::from(x.as_str())),
                )
                .build(),
        );
    }
    for b in get_blocks(planned, "block_device_mappings") {
        let ebs = first_block(b, "ebs").map(|e| {
            LaunchTemplateEbsBlockDeviceRequest::builder()
                .set_delete_on_termination(parse_bool_str(e, "delete_on_termination"))
                .set_encrypted(parse_bool_str(e, "encrypted"))
                .set_iops(get_i64(e, "iops").map(|x| x as i32))
                .set_kms_key_id(get_str(e, "kms_key_id"))
                .set_snapshot_id(get_str(e, "snapshot_id"))
                .set_throughput(get_i64(e, "throughput").map(|x| x as i32))
                .set_volume_size(get_i64(e, "volume_size").map(|x| x as i32))
                .set_volume_type(get_str(e, "volume_type").map(|x| VolumeType::from(x.as_str())))
                .build()
        });
        d = d.block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .set_device_name(get_str(b, "device_name"))
                .set_no_device(get_str(b, "no_device"))
                .set_virtual_name(get_str(b, "virtual_name"))
                .set_ebs(ebs)
                .build(),
        );
    }
    for t in get_blocks(planned, "tag_specifications") {
        let tags: Vec<Tag> = get_str_map(t, "tags")
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        d = d.tag_specifications(
            LaunchTemplateTagSpecificationRequest::builder()
                .set_resource_type(
                    get_str(t, "resource_type").map(|x| Ec2ResourceType::from(x.as_str())),
                )
                .set_tags(Some(tags))
                .build(),
        );
    }
    d.build()
}

/// The launch data of a version as state attributes.
fn data_fields(mut o: Obj, d: &ResponseLaunchTemplateData) -> Obj {
    o = o
        .set("image_id", s(d.image_id()))
        .set("instance_type", s(d.instance_type().map(|t| t.as_str())))
        .set("key_name", s(d.key_name()))
        .set("user_data", s(d.user_data()))
        .set("ebs_optimized", bool_str(d.ebs_optimized()))
        .set(
            "disable_api_termination",
            d.disable_api_termination()
                .map(Value::Bool)
                .unwrap_or(Value::Null),
        )
        .set(
            "vpc_security_group_ids",
            if d.security_group_ids().is_empty() {
                Value::Null
            } else {
                str_set(d.security_group_ids().to_vec())
            },
        )
        .set(
            "security_group_names",
            if d.security_groups().is_empty() {
                Value::Null
            } else {
                str_set(d.security_groups().to_vec())
            },
        );
    let ip: Vec<Value> = d
        .iam_instance_profile()
        .map(|ip| Value::map([("arn", s(ip.arn())), ("name", s(ip.name()))]))
        .into_iter()
        .collect();
    let md: Vec<Value> = d
        .metadata_options()
        .map(|m| {
            Value::map([
                ("http_endpoint", s(m.http_endpoint().map(|x| x.as_str()))),
                ("http_tokens", s(m.http_tokens().map(|x| x.as_str()))),
                (
                    "http_put_response_hop_limit",
                    n(m.http_put_response_hop_limit()),
                ),
                (
                    "http_protocol_ipv6",
                    s(m.http_protocol_ipv6().map(|x| x.as_str())),
                ),
                (
                    "instance_metadata_tags",
                    s(m.instance_metadata_tags().map(|x| x.as_str())),
                ),
            ])
        })
        .into_iter()
        .collect();
    let bdm: Vec<Value> = d
        .block_device_mappings()
        .iter()
        .map(|b| {
            let ebs: Vec<Value> = b
                .ebs()
                .map(|e| {
                    Value::map([
                        ("delete_on_termination", bool_str(e.delete_on_termination())),
                        ("encrypted", bool_str(e.encrypted())),
                        ("iops", n(e.iops())),
                        ("kms_key_id", s(e.kms_key_id())),
                        ("snapshot_id", s(e.snapshot_id())),
                        ("throughput", n(e.throughput())),
                        ("volume_size", n(e.volume_size())),
                        ("volume_type", s(e.volume_type().map(|x| x.as_str()))),
                    ])
                })
                .into_iter()
                .collect();
            Value::map([
                ("device_name", s(b.device_name())),
                ("no_device", s(b.no_device())),
                ("virtual_name", s(b.virtual_name())),
                ("ebs", Value::List(ebs)),
            ])
        })
        .collect();
    let ts: Vec<Value> = d
        .tag_specifications()
        .iter()
        // moto echoes the template's own tag specification into the data.
        .filter(|t| t.resource_type() != Some(&Ec2ResourceType::LaunchTemplate))
        .map(|t| {
            Value::map([
                ("resource_type", s(t.resource_type().map(|x| x.as_str()))),
                ("tags", str_map_value(&tags_to_map(t.tags()))),
            ])
        })
        .collect();
    for (k, v) in data::fields(d) {
        o = o.set(k, v);
    }
    o.set("iam_instance_profile", Value::List(ip))
        .set("metadata_options", Value::List(md))
        .set("block_device_mappings", Value::List(bdm))
        .set("tag_specifications", Value::List(ts))
}

impl LaunchTemplateType {
    fn to_value(
        &self,
        p: &AwsProvider,
        lt: &LaunchTemplate,
        version: Option<&LaunchTemplateVersion>,
        live_tags: Option<&TagMap>,
        prior: Option<&Value>,
    ) -> Value {
        let id = lt.launch_template_id().unwrap_or_default();
        let account = lt
            .created_by()
            .and_then(|a| a.split(':').nth(4))
            .unwrap_or_default();
        let api_tags = live_tags.cloned().unwrap_or_else(|| tags_to_map(lt.tags()));
        let (tags, tags_all) = tags_from_api(&api_tags, prior, &p.default_tags);
        let mut o = Obj::new(&p.resource_schema(NAME))
            .set("id", id)
            .set(
                "arn",
                p.arn("ec2", account, &format!("launch-template/{id}")),
            )
            .set_opt_str("name", lt.launch_template_name())
            .set(
                "default_version",
                lt.default_version_number()
                    .map(Value::from)
                    .unwrap_or(Value::Null),
            )
            .set(
                "latest_version",
                lt.latest_version_number()
                    .map(Value::from)
                    .unwrap_or(Value::Null),
            )
            .set("tags", tags)
            .set("tags_all", tags_all)
            .keep(prior, &["name_prefix", "update_default_version"]);
        if let Some(v) = version {
            o = o.set("description", s(v.version_description()));
            if let Some(d) = v.launch_template_data() {
                o = data_fields(o, d);
            }
        }
        o.build()
    }

    /// Templates by ID: one batched call; when an ID is gone (AWS then
    /// fails the whole call) one call per ID.
    async fn describe(
        &self,
        p: &AwsProvider,
        ids: &[String],
    ) -> Result<BTreeMap<String, LaunchTemplate>, ProviderError> {
        let ids: Vec<String> = ids
            .iter()
            .filter(|i| !i.is_empty())
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(200) {
            let batched = describe_all(|token| async move {
                let page = p
                    .call("ec2:DescribeLaunchTemplates", || {
                        p.ec2
                            .describe_launch_templates()
                            .set_launch_template_ids(Some(chunk.to_vec()))
                            .set_next_token(token.clone())
                            .send()
                    })
                    .await?;
                Ok((
                    page.launch_templates().to_vec(),
                    page.next_token().map(str::to_string),
                ))
            })
            .await;
            let found = match batched {
                Ok(found) => found,
                Err(e)
                    if is_not_found(&e) || matches!(&e, ProviderError::InvalidArgument { .. }) =>
                {
                    let each = read_each(chunk.to_vec(), |id| async move {
                        match p
                            .call("ec2:DescribeLaunchTemplates", || {
                                p.ec2
                                    .describe_launch_templates()
                                    .launch_template_ids(&id)
                                    .send()
                            })
                            .await
                        {
                            Ok(page) => Ok(page.launch_templates().to_vec()),
                            Err(e)
                                if is_not_found(&e)
                                    || matches!(&e, ProviderError::InvalidArgument { .. }) =>
                            {
                                Ok(Vec::new())
                            }
                            Err(e) => Err(e),
                        }
                    })
                    .await?;
                    each.into_iter().flatten().collect()
                }
                Err(e) => return Err(e),
            };
            out.extend(
                found
                    .into_iter()
                    .filter_map(|lt| Some((lt.launch_template_id()?.to_string(), lt))),
            );
        }
        Ok(out)
    }

    /// The latest version of each template.
    async fn latest_versions(
        &self,
        p: &AwsProvider,
        ids: &[String],
    ) -> Result<BTreeMap<String, LaunchTemplateVersion>, ProviderError> {
        let versions: Vec<LaunchTemplateVersion> = if ids.len() >= ACCOUNT_WIDE_VERSIONS_AT {
            describe_all(|token| async move {
                let page = p
                    .call("ec2:DescribeLaunchTemplateVersions", || {
                        p.ec2
                            .describe_launch_template_versions()
                            .versions("$Latest")
                            .set_next_token(token.clone())
                            .send()
                    })
                    .await?;
                Ok((
                    page.launch_template_versions().to_vec(),
                    page.next_token().map(str::to_string),
                ))
            })
            .await?
        } else {
            read_each(ids.to_vec(), |id| async move {
                match p
                    .call("ec2:DescribeLaunchTemplateVersions", || {
                        p.ec2
                            .describe_launch_template_versions()
                            .launch_template_id(&id)
                            .versions("$Latest")
                            .send()
                    })
                    .await
                {
                    Ok(page) => Ok(page.launch_template_versions().to_vec()),
                    Err(e) if is_not_found(&e) => Ok(Vec::new()),
                    Err(e) => Err(e),
                }
            })
            .await?
            .into_iter()
            .flatten()
            .collect()
        };
        Ok(versions
            .into_iter()
            .filter_map(|v| Some((v.launch_template_id()?.to_string(), v)))
            .collect())
    }

    async fn read_ids(
        &self,
        p: &AwsProvider,
        ids: &[String],
    ) -> Result<BTreeMap<String, Found>, ProviderError> {
        let templates = self.describe(p, ids).await?;
        let found: Vec<String> = templates.keys().cloned().collect();
        self.complete(p, templates.into_values().collect(), &found)
            .await
    }

    /// Add the latest versions and the current tags to described templates.
    async fn complete(
        &self,
        p: &AwsProvider,
        templates: Vec<LaunchTemplate>,
        ids: &[String],
    ) -> Result<BTreeMap<String, Found>, ProviderError> {
        let mut versions = self.latest_versions(p, ids).await?;
        let mut tags = self.current_tags(p, ids).await?;
        Ok(templates
            .into_iter()
            .filter_map(|lt| {
                let id = lt.launch_template_id()?.to_string();
                let v = versions.remove(&id);
                let t = tags.remove(&id).unwrap_or_default();
                Some((id, (lt, v, t)))
            })
            .collect())
    }

    /// Tags by template ID from `DescribeTags` (batched). The template's
    /// own `Tags` field is not reliable on moto after `CreateTags`.
    async fn current_tags(
        &self,
        p: &AwsProvider,
        ids: &[String],
    ) -> Result<BTreeMap<String, TagMap>, ProviderError> {
        let mut out: BTreeMap<String, TagMap> = BTreeMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        for chunk in ids.chunks(200) {
            let tags = describe_all(|token| async move {
                let page = p
                    .call("ec2:DescribeTags", || {
                        p.ec2
                            .describe_tags()
                            .filters(filter("resource-id", chunk.to_vec()))
                            .filters(filter("resource-type", ["launch-template"]))
                            .set_next_token(token.clone())
                            .send()
                    })
                    .await?;
                Ok((page.tags().to_vec(), page.next_token().map(str::to_string)))
            })
            .await?;
            for t in tags {
                if let (Some(id), Some(k)) = (t.resource_id(), t.key()) {
                    out.entry(id.to_string())
                        .or_default()
                        .insert(k.to_string(), t.value().unwrap_or_default().to_string());
                }
            }
        }
        Ok(out)
    }

    async fn read_one(
        &self,
        p: &AwsProvider,
        id: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>, ProviderError> {
        let found = self.read_ids(p, &[id.to_string()]).await?;
        Ok(found
            .get(id)
            .map(|(lt, v, t)| self.to_value(p, lt, v.as_ref(), Some(t), prior)))
    }

    async fn list_filtered(
        &self,
        p: &AwsProvider,
        filters: Vec<Filter>,
    ) -> Result<Vec<Value>, ProviderError> {
        let templates = find_all::<LaunchTemplate>(p, filters).await?;
        let ids: Vec<String> = templates
            .iter()
            .filter_map(|t| t.launch_template_id().map(str::to_string))
            .collect();
        let found = self.complete(p, templates, &ids).await?;
        Ok(found
            .values()
            .map(|(lt, v, t)| self.to_value(p, lt, v.as_ref(), Some(t), None))
            .collect())
    }

    async fn set_default(
        &self,
        p: &AwsProvider,
        id: &str,
        version: i64,
    ) -> Result<(), ProviderError> {
        p.call("ec2:ModifyLaunchTemplate", || {
            p.ec2
                .modify_launch_template()
                .launch_template_id(id)
                .default_version(version.to_string())
                .send()
        })
        .await
        .map_err(|e| at_path(e, "default_version"))?;
        Ok(())
    }
}

fn data_changed(prior: &Value, planned: &Value) -> bool {
    let (Some(a), Some(b)) = (prior.as_map(), planned.as_map()) else {
        return false;
    };
    b.iter()
        .any(|(k, v)| !NOT_DATA.contains(&k.as_str()) && (v.is_unknown() || a.get(k) != Some(v)))
}

#[async_trait]
impl ResourceType for LaunchTemplateType {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        let ebs = Schema::new()
            .attr(
                "delete_on_termination",
                Attribute::optional(AttrType::String),
            )
            .attr("encrypted", Attribute::optional(AttrType::String))
            .attr("iops", Attribute::optional_computed(AttrType::Number))
            .attr("kms_key_id", Attribute::optional(AttrType::String))
            .attr("snapshot_id", Attribute::optional(AttrType::String))
            .attr("throughput", Attribute::optional_computed(AttrType::Number))
            .attr(
                "volume_size",
                Attribute::optional_computed(AttrType::Number),
            )
            .attr(
                "volume_type",
                Attribute::optional_computed(AttrType::String),
            );
        super::tags_attributes(data::schema(
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("arn", Attribute::computed(AttrType::String))
                .named_or_prefixed()
                .attr("description", Attribute::optional(AttrType::String))
                .attr(
                    "default_version",
                    Attribute::optional_computed(AttrType::Number),
                )
                .attr(
                    "update_default_version",
                    Attribute::optional(AttrType::Bool),
                )
                .attr("latest_version", Attribute::computed(AttrType::Number))
                .attr("image_id", Attribute::optional(AttrType::String))
                .attr("instance_type", Attribute::optional(AttrType::String))
                .attr("key_name", Attribute::optional(AttrType::String))
                .attr("user_data", Attribute::optional(AttrType::String))
                .attr("ebs_optimized", Attribute::optional(AttrType::String))
                .attr(
                    "disable_api_termination",
                    Attribute::optional(AttrType::Bool),
                )
                .attr(
                    "vpc_security_group_ids",
                    Attribute::optional(AttrType::set_of(AttrType::String)),
                )
                .attr(
                    "security_group_names",
                    Attribute::optional(AttrType::set_of(AttrType::String)),
                )
                .list_block(
                    "iam_instance_profile",
                    0,
                    1,
                    Schema::new()
                        .attr("arn", Attribute::optional(AttrType::String))
                        .attr("name", Attribute::optional(AttrType::String)),
                )
                .list_block(
                    "metadata_options",
                    0,
                    1,
                    Schema::new()
                        .attr(
                            "http_endpoint",
                            Attribute::optional_computed(AttrType::String),
                        )
                        .attr(
                            "http_tokens",
                            Attribute::optional_computed(AttrType::String),
                        )
                        .attr(
                            "http_put_response_hop_limit",
                            Attribute::optional_computed(AttrType::Number),
                        )
                        .attr(
                            "http_protocol_ipv6",
                            Attribute::optional_computed(AttrType::String),
                        )
                        .attr(
                            "instance_metadata_tags",
                            Attribute::optional_computed(AttrType::String),
                        ),
                )
                .list_block(
                    "block_device_mappings",
                    0,
                    0,
                    Schema::new()
                        .attr("device_name", Attribute::optional(AttrType::String))
                        .attr("no_device", Attribute::optional(AttrType::String))
                        .attr("virtual_name", Attribute::optional(AttrType::String))
                        .list_block("ebs", 0, 1, ebs),
                )
                .list_block(
                    "tag_specifications",
                    0,
                    0,
                    Schema::new()
                        .attr("resource_type", Attribute::optional(AttrType::String))
                        .attr(
                            "tags",
                            Attribute::optional(AttrType::map_of(AttrType::String)),
                        ),
                ),
        ))
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource, ProviderError> {
        super::instance::options::check_metadata_options(config)?;
        let mut planned = default_plan(p, &p.resource_schema(NAME), prior, config, ctx);
        if let Some(prior) = prior
            && planned.requires_replace.is_empty()
            && data_changed(prior, &planned.planned)
        {
            // A new version will be made; it becomes the default when asked.
            let update_default = get_bool(&planned.planned, "update_default_version") == Some(true);
            let default_configured = config.get("default_version").is_some_and(|v| !v.is_null());
            if let Some(m) = planned.planned.as_map_mut() {
                m.insert("latest_version".into(), Value::Unknown);
                if update_default && !default_configured {
                    m.insert("default_version".into(), Value::Unknown);
                }
            }
        }
        Ok(planned)
    }

    async fn read_many(
        &self,
        p: &AwsProvider,
        prior: &[Value],
    ) -> Result<Vec<Option<Value>>, ProviderError> {
        let ids: Vec<String> = prior
            .iter()
            .map(|v| get_str(v, "id").unwrap_or_default())
            .collect();
        let found = self.read_ids(p, &ids).await?;
        Ok(prior
            .iter()
            .zip(&ids)
            .map(|(pv, id)| {
                found
                    .get(id)
                    .map(|(lt, v, t)| self.to_value(p, lt, v.as_ref(), Some(t), Some(pv)))
            })
            .collect())
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        ctx: &CreateContext,
    ) -> Result<Value, ProviderError> {
        let name = get_str(planned, "name").unwrap_or_else(|| {
            generated_name(
                get_str(planned, "name_prefix").as_deref(),
                &ctx.idempotency_token,
            )
        });
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let token: String = ctx
            .idempotency_token
            .chars()
            .take(CLIENT_TOKEN_MAX)
            .collect();
        let data = request_data(planned);
        let out = p
            .call("ec2:CreateLaunchTemplate", || {
                p.ec2
                    .create_launch_template()
                    .launch_template_name(&name)
                    .set_version_description(get_str(planned, "description"))
                    .launch_template_data(data.clone())
                    .tag_specifications(tag_spec(Ec2ResourceType::LaunchTemplate, &tags))
                    .client_token(&token)
                    .send()
            })
            .await
            .map_err(|e| match &e {
                ProviderError::InvalidArgument { code, .. } if code.contains("AlreadyExists") => {
                    at_path(e, "name")
                }
                _ => e,
            })?;
        let id = out
            .launch_template()
            .and_then(|t| t.launch_template_id())
            .unwrap_or_default()
            .to_string();
        if let Some(v) = get_i64(planned, "default_version")
            && v != 1
        {
            self.set_default(p, &id, v).await?;
        }
        let mut with_name = planned.clone();
        if let Some(m) = with_name.as_map_mut() {
            m.insert("name".into(), Value::from(name.as_str()));
        }
        self.read_one(p, &id, Some(&with_name))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!("launch template {id} vanished right after create"))
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
        let mut new_version = None;
        if data_changed(prior, planned) {
            let data = request_data(planned);
            let out = p
                .call("ec2:CreateLaunchTemplateVersion", || {
                    p.ec2
                        .create_launch_template_version()
                        .launch_template_id(&id)
                        .set_version_description(get_str(planned, "description"))
                        .launch_template_data(data.clone())
                        .send()
                })
                .await?;
            new_version = out
                .launch_template_version()
                .and_then(|v| v.version_number());
        }
        let wanted_default = if get_bool(planned, "update_default_version") == Some(true) {
            new_version
        } else {
            get_i64(planned, "default_version")
        };
        if let Some(v) = wanted_default
            && Some(v) != get_i64(prior, "default_version")
        {
            self.set_default(p, &id, v).await?;
        }
        update_tags(p, &id, prior, planned).await?;
        self.read_one(p, &id, Some(planned)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("launch template {id} disappeared during update"))
        })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<(), ProviderError> {
        let id = require_id(NAME, prior)?;
        match p
            .call("ec2:DeleteLaunchTemplate", || {
                p.ec2
                    .delete_launch_template()
                    .launch_template_id(&id)
                    .send()
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(ProviderError::InvalidArgument { code, .. }) if code.contains("NotFound") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn find_created(
        &self,
        p: &AwsProvider,
        _token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>, ProviderError> {
        Ok(self
            .list_filtered(p, address_filters(ctx))
            .await?
            .into_iter()
            .next())
    }

    async fn list_owned(
        &self,
        p: &AwsProvider,
        environment: &str,
    ) -> Result<Vec<Value>, ProviderError> {
        self.list_filtered(p, vec![environment_filter(environment)])
            .await
    }
}
