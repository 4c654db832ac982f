//! `aws_instance`.
//!
//! Reads are batched. A refresh describes instances by `instance-id`
//! filter, 200 IDs per call (the EC2 limit on filter values), five calls at
//! once, so 1,000 instances cost 5 calls. Missing IDs are simply absent (an
//! ID list fails as a whole), and filtered requests take `MaxResults` 1,000
//! (EC2 allows no `MaxResults` with an ID list, and moto pages ID lists by
//! 100 reservations, one per created instance). A refresh of more than
//! 1,000 instances first describes the environment's instances by
//! ownership tag (`tag:terrace:environment`, 1,000 per page, paging stopped
//! once it would cost more than describing by ID), then by ID only what
//! that did not return: instances retagged by hand, imported ones, gone
//! ones. Terminated instances read as gone. Root volumes come from batched
//! DescribeVolumes.
//!
//! Waits for a state (`running` after create, `stopped`/`running` around a
//! type change, gone after terminate) go through the provider's shared
//! [`InstanceWaiter`](super::instance_waiter::InstanceWaiter): concurrent
//! waits share one DescribeInstances per poll round, and the read after
//! create is the instance (and root volume) the wait saw running.
//!
//! `user_data` is kept in state as the SHA1 hex of its text, as Terraform
//! does; it is not read back from the API (a per-instance call), so its
//! drift is not detected. A change of it stops the instance, modifies the
//! attribute and starts it again, or, with `user_data_replace_on_change`,
//! replaces the instance (as in Terraform). IMDS options, monitoring and
//! the other flags are mapped in [`options`].

mod interfaces;
pub(super) mod options;

use super::ec2_support::{
    FILTER_CHUNK, environment_filter, filter, ok_if_gone, prior_ids, tag_spec, tags_to_map,
    update_tags,
};
use super::instance_waiter::Want;
use super::{ResourceType, default_plan, require_id, tags_attributes};
use crate::api::at_path;
use crate::provider::{AwsProvider, OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, first_block, get_bool, get_i64, get_str, get_strings, str_set};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttributeValue, BlockDeviceMapping, EbsBlockDevice, Filter, IamInstanceProfileSpecification,
    Instance as Ec2Instance, InstanceStateName, InstanceType, ResourceType as Ec2ResourceType,
    VolumeType,
};
use base64::Engine;
use futures::StreamExt;
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct Instance;

const NAME: &str = "aws_instance";
/// A refresh of up to this many instances describes them by ID only
/// (at most 5 filter calls); a larger one looks them up by ownership tag
/// first (1,000 per call).
const BY_ID_MAX: usize = 5 * FILTER_CHUNK;
/// Filtered DescribeInstances calls in flight at once for one batch.
const FILTER_CONCURRENCY: usize = 5;
/// Page size of filtered DescribeInstances (the API maximum; moto's default
/// page is 100 reservations, and every create is a reservation of its own).
const PAGE: i32 = 1000;

/// Terraform's user data hash: SHA1 hex of the text (base64 is decoded first).
pub(crate) fn user_data_hash(text: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_else(|_| text.as_bytes().to_vec());
    hex::encode(Sha1::digest(&bytes))
}

fn is_hash(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An instance and the account that owns its reservation.
pub(super) type Found = (Ec2Instance, String);

/// What a read needs besides the instance: its root volume.
#[derive(Clone, Default)]
pub(super) struct RootVolume {
    size: Option<i32>,
    volume_type: Option<String>,
    encrypted: Option<bool>,
    iops: Option<i32>,
}

fn is_terminated(i: &Ec2Instance) -> bool {
    i.state().and_then(|s| s.name()) == Some(&InstanceStateName::Terminated)
}

/// The volume ID of an instance's root device, if it has an EBS root.
pub(super) fn root_volume_id(i: &Ec2Instance) -> Option<&str> {
    let root = i.root_device_name()?;
    i.block_device_mappings()
        .iter()
        .find(|m| m.device_name() == Some(root))?
        .ebs()?
        .volume_id()
}

/// DescribeInstances, following pages (at most `max_pages` of them; the
/// flag says whether the listing is complete). Terminated instances are
/// included: callers decide what they mean.
pub(super) async fn describe_raw(
    p: &AwsProvider,
    ids: Option<Vec<String>>,
    filters: Vec<Filter>,
    max_results: Option<i32>,
    max_pages: Option<usize>,
) -> Result<(Vec<Found>, bool), ProviderError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = p
            .call("ec2:DescribeInstances", || {
                p.ec2
                    .describe_instances()
                    .set_instance_ids(ids.clone())
                    .set_filters((!filters.is_empty()).then(|| filters.clone()))
                    .set_max_results(max_results)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        pages += 1;
        for r in page.reservations() {
            let owner = r.owner_id().unwrap_or_default();
            out.extend(r.instances().iter().map(|i| (i.clone(), owner.to_string())));
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => {
                if max_pages.is_some_and(|m| pages >= m) {
                    return Ok((out, false));
                }
                token = Some(t.to_string());
            }
            _ => return Ok((out, true)),
        }
    }
}

/// Describe instances by `instance-id` filter: [`FILTER_CHUNK`] IDs per
/// call (the EC2 limit on filter values per call), up to
/// [`FILTER_CONCURRENCY`] calls at once. IDs that do not exist are simply
/// absent (an ID list fails as a whole); terminated instances are included.
pub(super) async fn describe_by_id_filter(
    p: &AwsProvider,
    ids: &[String],
) -> Result<Vec<Found>, ProviderError> {
    // Built up front (not lazily in the stream) so that the future stays
    // `Send` for every lifetime the async trait methods need.
    let calls: Vec<_> = ids
        .chunks(FILTER_CHUNK)
        .map(|chunk| {
            describe_raw(
                p,
                None,
                vec![filter("instance-id", chunk.to_vec())],
                Some(PAGE),
                None,
            )
        })
        .collect();
    let pages: Vec<_> = futures::stream::iter(calls)
        .buffered(FILTER_CONCURRENCY)
        .collect()
        .await;
    let mut out = Vec::new();
    for page in pages {
        out.extend(page?.0);
    }
    Ok(out)
}

/// Root volumes of the instances, in batched DescribeVolumes calls.
pub(super) async fn root_volumes<'a>(
    p: &AwsProvider,
    instances: impl IntoIterator<Item = &'a Found>,
) -> Result<BTreeMap<String, RootVolume>, ProviderError> {
    let ids: Vec<String> = instances
        .into_iter()
        .filter_map(|(i, _)| root_volume_id(i).map(str::to_string))
        .collect();
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let found = super::ec2::find::find_by_ids::<aws_sdk_ec2::types::Volume>(p, &ids).await?;
    Ok(found
        .into_iter()
        .map(|(id, v)| {
            let vol = RootVolume {
                size: v.size(),
                volume_type: v.volume_type().map(|t| t.as_str().to_string()),
                encrypted: v.encrypted(),
                iops: v.iops(),
            };
            (id, vol)
        })
        .collect())
}

impl Instance {
    fn to_value(
        &self,
        p: &AwsProvider,
        (i, account): &(Ec2Instance, String),
        volumes: &BTreeMap<String, RootVolume>,
        prior: Option<&Value>,
    ) -> Value {
        let id = i.instance_id().unwrap_or_default();
        let root_name = i.root_device_name().unwrap_or_default();
        let root = i
            .block_device_mappings()
            .iter()
            .find(|m| m.device_name() == Some(root_name));
        let root_block = root.map(|m| {
            let vol_id = m.ebs().and_then(|e| e.volume_id()).unwrap_or_default();
            let vol = volumes.get(vol_id).cloned().unwrap_or_default();
            Value::map([
                ("device_name", Value::from(root_name)),
                ("volume_id", Value::from(vol_id)),
                (
                    "delete_on_termination",
                    Value::Bool(
                        m.ebs()
                            .and_then(|e| e.delete_on_termination())
                            .unwrap_or(true),
                    ),
                ),
                (
                    "volume_size",
                    vol.size
                        .map(|n| Value::from(n as i64))
                        .unwrap_or(Value::Null),
                ),
                (
                    "volume_type",
                    vol.volume_type.map(Value::from).unwrap_or(Value::Null),
                ),
                (
                    "encrypted",
                    vol.encrypted.map(Value::Bool).unwrap_or(Value::Bool(false)),
                ),
                (
                    "iops",
                    vol.iops
                        .map(|n| Value::from(n as i64))
                        .unwrap_or(Value::Null),
                ),
            ])
        });
        let profile = i
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .and_then(|arn| arn.rsplit('/').next());
        let (tags, tags_all) = tags_from_api(&tags_to_map(i.tags()), prior, &p.default_tags);
        let mut o = Obj::new(&p.resource_schema(NAME));
        for (k, v) in options::fields(i)
            .into_iter()
            .chain(interfaces::fields(i, prior))
        {
            o = o.set(k, v);
        }
        // Not reported by the API: from state (false, Terraform's default,
        // for an import).
        let replace_on_change = prior
            .and_then(|pv| pv.get("user_data_replace_on_change"))
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or(Value::Bool(false));
        o.keep(prior, &["user_data"])
            .set("user_data_replace_on_change", replace_on_change)
            .set("id", id)
            .set("arn", p.arn("ec2", account, &format!("instance/{id}")))
            .set_opt_str("ami", i.image_id())
            .set_opt_str("instance_type", i.instance_type().map(|t| t.as_str()))
            .set_opt_str("subnet_id", i.subnet_id())
            .set(
                "vpc_security_group_ids",
                str_set(i.security_groups().iter().filter_map(|g| g.group_id())),
            )
            .set_opt_str("iam_instance_profile", profile)
            .set_opt_str("key_name", i.key_name())
            .set_opt_str(
                "availability_zone",
                i.placement().and_then(|pl| pl.availability_zone()),
            )
            .set_opt_str("private_ip", i.private_ip_address())
            .set_opt_str("public_ip", i.public_ip_address())
            .set_opt_str("private_dns", i.private_dns_name())
            .set_opt_str("public_dns", i.public_dns_name())
            .set_opt_str(
                "instance_state",
                i.state().and_then(|s| s.name()).map(|n| n.as_str()),
            )
            .set(
                "root_block_device",
                Value::List(root_block.into_iter().collect()),
            )
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }

    /// Describe instances by ID for a refresh; terminated instances are
    /// omitted. Up to [`BY_ID_MAX`] IDs go by `instance-id` filter; a larger
    /// set is first looked up by the environment's ownership tag, and only
    /// what that does not return (retagged, imported, other environments',
    /// gone) is then described by ID.
    async fn describe(&self, p: &AwsProvider, ids: &[String]) -> Result<Vec<Found>, ProviderError> {
        let mut wanted: BTreeSet<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        let mut out = Vec::new();
        if wanted.len() > BY_ID_MAX {
            // Stop paging when the environment turns out to hold far more
            // instances than asked for: no more calls than by ID.
            let budget = wanted.len().div_ceil(FILTER_CHUNK);
            let (found, _) = describe_raw(
                p,
                None,
                vec![environment_filter(p.environment())],
                Some(PAGE),
                Some(budget),
            )
            .await?;
            for f in found {
                if f.0.instance_id().is_some_and(|id| wanted.remove(id)) && !is_terminated(&f.0) {
                    out.push(f);
                }
            }
        }
        let rest: Vec<String> = wanted.into_iter().map(str::to_string).collect();
        let found = describe_by_id_filter(p, &rest).await?;
        out.extend(found.into_iter().filter(|f| !is_terminated(&f.0)));
        Ok(out)
    }

    async fn read_one(
        &self,
        p: &AwsProvider,
        id: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>, ProviderError> {
        let found = self.describe(p, &[id.to_string()]).await?;
        let vols = root_volumes(p, &found).await?;
        Ok(found.first().map(|i| self.to_value(p, i, &vols, prior)))
    }

    async fn list(
        &self,
        p: &AwsProvider,
        filters: Vec<Filter>,
    ) -> Result<Vec<Value>, ProviderError> {
        let (found, _) = describe_raw(p, None, filters, Some(PAGE), None).await?;
        let found: Vec<Found> = found.into_iter().filter(|f| !is_terminated(&f.0)).collect();
        let vols = root_volumes(p, &found).await?;
        Ok(found
            .iter()
            .map(|i| self.to_value(p, i, &vols, None))
            .collect())
    }

    async fn profile_associations(
        &self,
        p: &AwsProvider,
        id: &str,
    ) -> Result<Vec<String>, ProviderError> {
        let out = p
            .call("ec2:DescribeIamInstanceProfileAssociations", || {
                p.ec2
                    .describe_iam_instance_profile_associations()
                    .filters(filter("instance-id", [id]))
                    .send()
            })
            .await?;
        Ok(out
            .iam_instance_profile_associations()
            .iter()
            .filter(|a| a.state().map(|s| s.as_str()) != Some("disassociated"))
            .filter_map(|a| a.association_id().map(str::to_string))
            .collect())
    }

    async fn set_profile(
        &self,
        p: &AwsProvider,
        id: &str,
        profile: Option<&str>,
    ) -> Result<(), ProviderError> {
        let existing = self.profile_associations(p, id).await?;
        match (profile, existing.first()) {
            (Some(name), Some(assoc)) => {
                let spec = IamInstanceProfileSpecification::builder()
                    .name(name)
                    .build();
                p.call("ec2:ReplaceIamInstanceProfileAssociation", || {
                    p.ec2
                        .replace_iam_instance_profile_association()
                        .association_id(assoc)
                        .iam_instance_profile(spec.clone())
                        .send()
                })
                .await
                .map_err(|e| at_path(e, "iam_instance_profile"))?;
            }
            (Some(name), None) => {
                let spec = IamInstanceProfileSpecification::builder()
                    .name(name)
                    .build();
                p.call("ec2:AssociateIamInstanceProfile", || {
                    p.ec2
                        .associate_iam_instance_profile()
                        .instance_id(id)
                        .iam_instance_profile(spec.clone())
                        .send()
                })
                .await
                .map_err(|e| at_path(e, "iam_instance_profile"))?;
            }
            (None, Some(assoc)) => {
                p.call("ec2:DisassociateIamInstanceProfile", || {
                    p.ec2
                        .disassociate_iam_instance_profile()
                        .association_id(assoc)
                        .send()
                })
                .await?;
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// The user data text for a planned hash (remembered at plan time).
    fn user_data_text(
        &self,
        p: &AwsProvider,
        planned: &Value,
    ) -> Result<Option<String>, ProviderError> {
        let Some(v) = get_str(planned, "user_data") else {
            return Ok(None);
        };
        if !is_hash(&v) {
            return Ok(Some(v));
        }
        let known = p
            .user_data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&v)
            .cloned();
        known.map(Some).ok_or_else(|| {
            ProviderError::Unsupported(
                "aws_instance.user_data: the planned value is a hash and this provider instance did not plan it; \
                 plan again before applying"
                    .to_string(),
            )
        })
    }
}

#[async_trait]
impl ResourceType for Instance {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        let root = Schema::new()
            .attr(
                "volume_size",
                Attribute::optional_computed(AttrType::Number),
            )
            .attr(
                "volume_type",
                Attribute::optional_computed(AttrType::String),
            )
            .attr(
                "delete_on_termination",
                Attribute::optional(AttrType::Bool).default(true),
            )
            .attr("encrypted", Attribute::optional_computed(AttrType::Bool))
            .attr("iops", Attribute::optional_computed(AttrType::Number))
            .attr("device_name", Attribute::computed(AttrType::String))
            .attr("volume_id", Attribute::computed(AttrType::String));
        tags_attributes(interfaces::schema(options::schema(
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("arn", Attribute::computed(AttrType::String))
                .attr("ami", Attribute::required(AttrType::String).force_new())
                .attr("instance_type", Attribute::required(AttrType::String))
                .attr(
                    "subnet_id",
                    Attribute::optional_computed(AttrType::String).force_new(),
                )
                .attr(
                    "vpc_security_group_ids",
                    Attribute::optional_computed(AttrType::set_of(AttrType::String)),
                )
                .attr("user_data", Attribute::optional(AttrType::String))
                .attr(
                    "user_data_replace_on_change",
                    Attribute::optional(AttrType::Bool).default(false),
                )
                .attr(
                    "iam_instance_profile",
                    Attribute::optional(AttrType::String),
                )
                .attr(
                    "key_name",
                    Attribute::optional_computed(AttrType::String).force_new(),
                )
                .attr(
                    "availability_zone",
                    Attribute::optional_computed(AttrType::String).force_new(),
                )
                .attr(
                    "private_ip",
                    Attribute::optional_computed(AttrType::String).force_new(),
                )
                .attr("public_ip", Attribute::computed(AttrType::String))
                .attr("private_dns", Attribute::computed(AttrType::String))
                .attr("public_dns", Attribute::computed(AttrType::String))
                .attr("instance_state", Attribute::computed(AttrType::String))
                .list_block("root_block_device", 0, 1, root)
                .computed_block("root_block_device"),
        )))
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource, ProviderError> {
        options::check_metadata_options(config)?;
        let mut config = config.clone();
        if let Some(text) = get_str(&config, "user_data") {
            let hash = user_data_hash(&text);
            p.user_data
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(hash.clone(), text);
            if let Some(m) = config.as_map_mut() {
                m.insert("user_data".into(), Value::from(hash));
            }
        }
        let schema = p.resource_schema(NAME);
        let mut planned = default_plan(p, &schema, prior, &config, ctx);
        let user_data_changed = prior.is_some_and(|pv| {
            get_str(pv, "user_data") != get_str(&planned.planned, "user_data")
                || planned
                    .planned
                    .get("user_data")
                    .is_some_and(Value::is_unknown)
        });
        if user_data_changed && get_bool(&config, "user_data_replace_on_change") == Some(true) {
            // As Terraform: new user data replaces the instance only when asked.
            let fresh = default_plan(p, &schema, None, &config, ctx);
            planned.planned = fresh.planned;
            planned
                .requires_replace
                .push(vec![terrace_core::PathStep::Key("user_data".into())]);
        }
        let replacing = !planned.requires_replace.is_empty();
        if let Some(m) = planned.planned.as_map_mut() {
            // root_block_device is optional and computed: unconfigured, it
            // is whatever the AMI gives.
            let configured = config
                .get("root_block_device")
                .and_then(Value::as_list)
                .is_some_and(|l| !l.is_empty());
            if !configured {
                let keep = prior
                    .filter(|_| !replacing)
                    .and_then(|pv| pv.get("root_block_device"))
                    .cloned();
                m.insert("root_block_device".into(), keep.unwrap_or(Value::Unknown));
            }
            // The instance state is "running" after any apply.
            if m.get("instance_state")
                .is_some_and(|s| s.as_str() != Some("running"))
            {
                m.insert("instance_state".into(), Value::Unknown);
            }
            // A type or user data change stops and starts the instance:
            // its public IP may change.
            if prior.is_some()
                && !replacing
                && (user_data_changed
                    || prior.and_then(|pv| get_str(pv, "instance_type"))
                        != get_str(&config, "instance_type"))
            {
                m.insert("public_ip".into(), Value::Unknown);
                m.insert("public_dns".into(), Value::Unknown);
            }
        }
        Ok(planned)
    }

    async fn read_many(
        &self,
        p: &AwsProvider,
        prior: &[Value],
    ) -> Result<Vec<Option<Value>>, ProviderError> {
        let ids = prior_ids(prior);
        let found = self.describe(p, &ids).await?;
        let vols = root_volumes(p, &found).await?;
        let by_id: BTreeMap<&str, &Found> = found
            .iter()
            .filter_map(|f| Some((f.0.instance_id()?, f)))
            .collect();
        Ok(prior
            .iter()
            .zip(&ids)
            .map(|(pv, id)| {
                by_id
                    .get(id.as_str())
                    .map(|f| self.to_value(p, f, &vols, Some(pv)))
            })
            .collect())
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>, ProviderError> {
        self.read_one(p, id, None).await
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        ctx: &CreateContext,
    ) -> Result<Value, ProviderError> {
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let user_data = self
            .user_data_text(p, planned)?
            .map(|t| base64::engine::general_purpose::STANDARD.encode(t.as_bytes()));
        let ami = get_str(planned, "ami").unwrap_or_default();
        let mut mappings = Vec::new();
        if let Some(root) = first_block(planned, "root_block_device") {
            // The root device name comes from the AMI.
            let img = p
                .call("ec2:DescribeImages", || {
                    p.ec2.describe_images().image_ids(&ami).send()
                })
                .await
                .map_err(|e| at_path(e, "ami"))?;
            let device = img
                .images()
                .first()
                .and_then(|i| i.root_device_name())
                .unwrap_or("/dev/xvda")
                .to_string();
            let ebs = EbsBlockDevice::builder()
                .set_volume_size(get_i64(root, "volume_size").map(|n| n as i32))
                .set_volume_type(get_str(root, "volume_type").map(|t| VolumeType::from(t.as_str())))
                .set_delete_on_termination(get_bool(root, "delete_on_termination"))
                .set_encrypted(get_bool(root, "encrypted"))
                .set_iops(get_i64(root, "iops").map(|n| n as i32))
                .build();
            mappings.push(
                BlockDeviceMapping::builder()
                    .device_name(device)
                    .ebs(ebs)
                    .build(),
            );
        }
        let sgs = get_strings(planned, "vpc_security_group_ids");
        let token: String = ctx.idempotency_token.chars().take(64).collect();
        // With a primary interface, subnet, groups and private IP go there.
        let nics = interfaces::request(planned)
            .or_else(|| options::primary_interface(planned).map(|n| vec![n]));
        let top = |v: Option<String>| if nics.is_some() { None } else { v };
        let monitoring = get_bool(planned, "monitoring").map(|on| {
            aws_sdk_ec2::types::RunInstancesMonitoringEnabled::builder()
                .enabled(on)
                .build()
        });
        let out = p
            .call("ec2:RunInstances", || {
                p.ec2
                    .run_instances()
                    .image_id(&ami)
                    .set_instance_type(
                        get_str(planned, "instance_type").map(|t| InstanceType::from(t.as_str())),
                    )
                    .min_count(1)
                    .max_count(1)
                    .set_subnet_id(top(get_str(planned, "subnet_id")))
                    .set_security_group_ids(
                        (!sgs.is_empty() && nics.is_none()).then(|| sgs.clone()),
                    )
                    .set_network_interfaces(nics.clone())
                    .set_metadata_options(options::metadata_request(planned))
                    .set_monitoring(monitoring.clone())
                    .set_ebs_optimized(get_bool(planned, "ebs_optimized"))
                    .set_user_data(user_data.clone())
                    .set_key_name(get_str(planned, "key_name"))
                    .set_private_ip_address(top(get_str(planned, "private_ip")))
                    .set_placement(get_str(planned, "availability_zone").map(|az| {
                        aws_sdk_ec2::types::Placement::builder()
                            .availability_zone(az)
                            .build()
                    }))
                    .set_iam_instance_profile(
                        get_str(planned, "iam_instance_profile")
                            .map(|n| IamInstanceProfileSpecification::builder().name(n).build()),
                    )
                    .set_block_device_mappings((!mappings.is_empty()).then(|| mappings.clone()))
                    .client_token(&token)
                    .tag_specifications(tag_spec(Ec2ResourceType::Instance, &tags))
                    .send()
            })
            .await?;
        let inst = out.instances().first();
        let id = inst
            .and_then(|i| i.instance_id())
            .unwrap_or_default()
            .to_string();
        // The wait describes the instance (batched with other creates);
        // what it saw when the instance was running is the read.
        let reached = p
            .instance_waiter
            .wait(p, &id, Want::Running, true, ctx.timeout)
            .await?;
        if get_bool(planned, "source_dest_check") == Some(false) {
            options::set_source_dest_check(p, &id, false).await?;
            return self.read_one(p, &id, Some(planned)).await?.ok_or_else(|| {
                ProviderError::NotFound(format!("instance {id} not found after create"))
            });
        }
        match &reached.instance {
            Some(found) => Ok(self.to_value(p, found, &reached.volumes, Some(planned))),
            None => self.read_one(p, &id, Some(planned)).await?.ok_or_else(|| {
                ProviderError::NotFound(format!("instance {id} not found after create"))
            }),
        }
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value, ProviderError> {
        let id = require_id(NAME, prior)?;
        let timeout = Duration::from_secs(600);
        let new_type = get_str(planned, "instance_type")
            .filter(|t| get_str(prior, "instance_type").as_deref() != Some(t.as_str()));
        let new_user_data = if get_str(planned, "user_data") != get_str(prior, "user_data") {
            Some(self.user_data_text(p, planned)?.unwrap_or_default())
        } else {
            None
        };
        if new_type.is_some() || new_user_data.is_some() {
            // Like the AWS provider: stop, change the type and/or the user
            // data, start again.
            p.call("ec2:StopInstances", || {
                p.ec2.stop_instances().instance_ids(&id).send()
            })
            .await?;
            p.instance_waiter
                .wait(p, &id, Want::Stopped, false, timeout)
                .await?;
            if let Some(t) = &new_type {
                let v = AttributeValue::builder().value(t).build();
                p.call("ec2:ModifyInstanceAttribute", || {
                    p.ec2
                        .modify_instance_attribute()
                        .instance_id(&id)
                        .instance_type(v.clone())
                        .send()
                })
                .await
                .map_err(|e| at_path(e, "instance_type"))?;
            }
            if let Some(text) = &new_user_data {
                // The blob is the base64 text (EC2 stores user data
                // encoded; the wire encoding comes on top), as RunInstances
                // takes it.
                let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
                let blob = aws_sdk_ec2::types::SecureBlobAttributeValue::builder()
                    .value(aws_smithy_types::Blob::new(encoded.into_bytes()))
                    .build();
                p.call("ec2:ModifyInstanceAttribute", || {
                    p.ec2
                        .modify_instance_attribute()
                        .instance_id(&id)
                        .user_data(blob.clone())
                        .send()
                })
                .await
                .map_err(|e| at_path(e, "user_data"))?;
            }
            p.call("ec2:StartInstances", || {
                p.ec2.start_instances().instance_ids(&id).send()
            })
            .await?;
            p.instance_waiter
                .wait(p, &id, Want::Running, false, timeout)
                .await?;
        }
        let sgs = get_strings(planned, "vpc_security_group_ids");
        if planned
            .get("vpc_security_group_ids")
            .is_some_and(Value::is_wholly_known)
            && !sgs.is_empty()
            && sgs != get_strings(prior, "vpc_security_group_ids")
        {
            p.call("ec2:ModifyInstanceAttribute", || {
                p.ec2
                    .modify_instance_attribute()
                    .instance_id(&id)
                    .set_groups(Some(sgs.clone()))
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "vpc_security_group_ids"))?;
        }
        let profile = get_str(planned, "iam_instance_profile");
        if profile != get_str(prior, "iam_instance_profile") {
            self.set_profile(p, &id, profile.as_deref()).await?;
        }
        options::update(p, &id, prior, planned).await?;
        update_tags(p, &id, prior, planned).await?;
        self.read_one(p, &id, Some(planned)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("instance {id} disappeared during update"))
        })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<(), ProviderError> {
        let id = require_id(NAME, prior)?;
        let r = p
            .call("ec2:TerminateInstances", || {
                p.ec2.terminate_instances().instance_ids(&id).send()
            })
            .await;
        if let Err(e) = r {
            return ok_if_gone::<()>(Err(e));
        }
        p.instance_waiter
            .wait(p, &id, Want::Gone, false, Duration::from_secs(1200))
            .await
            .map(|_| ())
    }

    async fn find_created(
        &self,
        p: &AwsProvider,
        token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>, ProviderError> {
        let token: String = token.chars().take(64).collect();
        // The client token identifies exactly this create; not every
        // endpoint supports the filter, so ownership tags are the fallback.
        match self.list(p, vec![filter("client-token", [token])]).await {
            Ok(found) if !found.is_empty() => return Ok(found.into_iter().next()),
            Ok(_) => return Ok(None),
            Err(e) => {
                tracing::debug!("client-token filter failed ({e}); falling back to ownership tags")
            }
        }
        let found = self
            .list(
                p,
                vec![
                    filter(
                        &format!("tag:{OWNER_ENVIRONMENT_TAG}"),
                        [ctx.environment.clone()],
                    ),
                    filter(&format!("tag:{OWNER_ADDRESS_TAG}"), [ctx.address.clone()]),
                ],
            )
            .await?;
        Ok(found.into_iter().next())
    }

    async fn list_owned(
        &self,
        p: &AwsProvider,
        environment: &str,
    ) -> Result<Vec<Value>, ProviderError> {
        self.list(p, vec![environment_filter(environment)]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_hash_matches_terraform() {
        // sha1("hello") and the same text given as base64.
        assert_eq!(
            user_data_hash("hello"),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert_eq!(
            user_data_hash("aGVsbG8="),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert!(is_hash(&user_data_hash("x")));
    }
}
