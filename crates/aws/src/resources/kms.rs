//! `aws_kms_key` and `aws_kms_alias`.
//!
//! A key is read with `DescribeKey`, `GetKeyPolicy`,
//! `GetKeyRotationStatus` and `ListResourceTags` (KMS has no batched
//! read); a key pending deletion counts as gone. Destroying a key
//! schedules its deletion after `deletion_window_in_days` (AWS's 30 when
//! unset), as Terraform does. Aliases are read with one paged
//! `ListAliases` for all of them.

use super::ReadByKey;
use super::iam::{keep_same_json, read_each};
use super::listed::{TagFilter, TagListed};
use super::{ResourceType, default_plan, require_id};
use crate::Result;
use crate::api::{at_path, is_not_found};
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, send_tag_changes, tags_from_api};
use crate::values::{Obj, get_bool, get_i64, get_str, json_equivalent, value_to_str_map};
use async_trait::async_trait;
use aws_sdk_kms::types::{KeyMetadata, KeyState, Tag};
use std::collections::BTreeMap;
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct KmsKey;
pub(crate) struct KmsAlias;

const KEY: &str = "aws_kms_key";
const ALIAS: &str = "aws_kms_alias";

fn kms_tags(tags: &TagMap) -> Vec<Tag> {
    tags.iter()
        .filter_map(|(k, v)| Tag::builder().tag_key(k).tag_value(v).build().ok())
        .collect()
}

fn bad_value(attr: &str, message: String) -> ProviderError {
    ProviderError::InvalidArgument {
        path: Some(vec![PathStep::Key(attr.into())]),
        code: "InvalidValue".into(),
        message,
    }
}

/// What one key is, as the API reports it.
pub(crate) struct KeyRead {
    pub(crate) meta: KeyMetadata,
    policy: Option<String>,
    rotation: bool,
    tags: TagMap,
}

/// `DescribeKey` of an ID, ARN or alias; `None` when missing or pending
/// deletion.
pub(crate) async fn describe_key(p: &AwsProvider, key_id: &str) -> Result<Option<KeyMetadata>> {
    if key_id.is_empty() {
        return Ok(None);
    }
    match p
        .call("kms:DescribeKey", || {
            p.kms.describe_key().key_id(key_id).send()
        })
        .await
    {
        Ok(out) => Ok(out.key_metadata().cloned().filter(|m| {
            !matches!(
                m.key_state(),
                Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
            )
        })),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

impl KmsKey {
    async fn get(&self, p: &AwsProvider, key_id: &str) -> Result<Option<KeyRead>> {
        let Some(meta) = describe_key(p, key_id).await? else {
            return Ok(None);
        };
        let id = meta.key_id().to_string();
        let policy = p
            .call("kms:GetKeyPolicy", || {
                p.kms
                    .get_key_policy()
                    .key_id(&id)
                    .policy_name("default")
                    .send()
            })
            .await?
            .policy()
            .map(str::to_string);
        let rotation = p
            .call("kms:GetKeyRotationStatus", || {
                p.kms.get_key_rotation_status().key_id(&id).send()
            })
            .await?
            .key_rotation_enabled();
        let tags = p
            .call("kms:ListResourceTags", || {
                p.kms.list_resource_tags().key_id(&id).send()
            })
            .await?
            .tags()
            .iter()
            .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
            .collect();
        Ok(Some(KeyRead {
            meta,
            policy,
            rotation,
            tags,
        }))
    }

    fn to_value(&self, p: &AwsProvider, k: &KeyRead, prior: Option<&Value>) -> Value {
        let m = &k.meta;
        let (tags, tags_all) = tags_from_api(&k.tags, prior, &p.default_tags);
        let policy = match (
            k.policy.as_deref(),
            prior.and_then(|pv| get_str(pv, "policy")),
        ) {
            (Some(api), Some(old)) if json_equivalent(api, &old) => Value::from(old),
            (api, _) => crate::values::opt_str(api),
        };
        Obj::new(&p.resource_schema(KEY))
            .keep(
                prior,
                &[
                    "deletion_window_in_days",
                    "bypass_policy_lockout_safety_check",
                ],
            )
            .set("id", m.key_id())
            .set("key_id", m.key_id())
            .set_opt_str("arn", m.arn())
            .set_opt_str("description", m.description().filter(|d| !d.is_empty()))
            .set_opt_str("key_usage", m.key_usage().map(|u| u.as_str()))
            .set_opt_str("customer_master_key_spec", m.key_spec().map(|s| s.as_str()))
            .set("is_enabled", m.enabled())
            .set("enable_key_rotation", k.rotation)
            .set("multi_region", m.multi_region().unwrap_or(false))
            .set("policy", policy)
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }
}

#[async_trait]
impl TagListed for KmsKey {
    async fn read_matching(&self, p: &AwsProvider, keep: TagFilter<'_>) -> Result<Vec<Value>> {
        let mut ids = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = p
                .call("kms:ListKeys", || {
                    p.kms.list_keys().set_marker(marker.clone()).send()
                })
                .await?;
            ids.extend(
                page.keys()
                    .iter()
                    .filter_map(|k| k.key_id().map(str::to_string)),
            );
            match page.next_marker() {
                Some(m) if page.truncated() && !m.is_empty() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        let found = read_each(ids, |id| async move { self.get(p, &id).await }).await?;
        Ok(found
            .into_iter()
            .flatten()
            .filter(|k| keep(&k.tags))
            .map(|k| self.to_value(p, &k, None))
            .collect())
    }
}

impl KmsKey {
    async fn set_enabled(&self, p: &AwsProvider, id: &str, on: bool) -> Result<()> {
        if on {
            p.call("kms:EnableKey", || p.kms.enable_key().key_id(id).send())
                .await
                .map(|_| ())
        } else {
            p.call("kms:DisableKey", || p.kms.disable_key().key_id(id).send())
                .await
                .map(|_| ())
        }
    }

    async fn set_rotation(&self, p: &AwsProvider, id: &str, on: bool) -> Result<()> {
        if on {
            p.call("kms:EnableKeyRotation", || {
                p.kms.enable_key_rotation().key_id(id).send()
            })
            .await
            .map(|_| ())
        } else {
            p.call("kms:DisableKeyRotation", || {
                p.kms.disable_key_rotation().key_id(id).send()
            })
            .await
            .map(|_| ())
        }
        .map_err(|e| at_path(e, "enable_key_rotation"))
    }
}

#[async_trait]
impl ReadByKey for KmsKey {
    const KEYS: &'static [&'static str] = &["id"];

    async fn read_one(
        &self,
        p: &AwsProvider,
        key_id: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        Ok(self
            .get(p, key_id)
            .await?
            .map(|k| self.to_value(p, &k, prior)))
    }
}

#[async_trait]
impl ResourceType for KmsKey {
    fn tag_listed(&self) -> Option<&dyn TagListed> {
        Some(self)
    }

    fn name(&self) -> &'static str {
        KEY
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "key_id", "arn"],
                Attribute::computed(AttrType::String),
            )
            .attr("description", Attribute::optional(AttrType::String))
            .attr(
                "key_usage",
                Attribute::optional(AttrType::String)
                    .default("ENCRYPT_DECRYPT")
                    .force_new(),
            )
            .attr(
                "customer_master_key_spec",
                Attribute::optional(AttrType::String)
                    .default("SYMMETRIC_DEFAULT")
                    .force_new(),
            )
            .attr("policy", Attribute::optional_computed(AttrType::String))
            .attrs(
                &["bypass_policy_lockout_safety_check", "enable_key_rotation"],
                Attribute::optional(AttrType::Bool).default(false),
            )
            .attr(
                "deletion_window_in_days",
                Attribute::optional(AttrType::Number),
            )
            .attr(
                "is_enabled",
                Attribute::optional(AttrType::Bool).default(true),
            )
            .attr(
                "multi_region",
                Attribute::optional(AttrType::Bool)
                    .default(false)
                    .force_new(),
            )
            .tagged()
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        if let Some(d) = get_i64(config, "deletion_window_in_days")
            && !(7..=30).contains(&d)
        {
            return Err(bad_value(
                "deletion_window_in_days",
                format!("expected deletion_window_in_days to be in the range (7 - 30), got {d}"),
            ));
        }
        let mut planned = default_plan(p, &p.resource_schema(KEY), prior, config, ctx);
        keep_same_json(&mut planned, prior, config, "policy");
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        self.read_keyed(p, prior).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = kms_tags(&create_tags(&p.default_tags, planned, &ctx.resource));
        let usage = get_str(planned, "key_usage").unwrap_or_else(|| "ENCRYPT_DECRYPT".into());
        let spec = get_str(planned, "customer_master_key_spec")
            .unwrap_or_else(|| "SYMMETRIC_DEFAULT".into());
        let out = p
            .call("kms:CreateKey", || {
                p.kms
                    .create_key()
                    .set_description(get_str(planned, "description"))
                    .key_usage(usage.as_str().into())
                    .key_spec(spec.as_str().into())
                    .set_policy(get_str(planned, "policy"))
                    .set_bypass_policy_lockout_safety_check(get_bool(
                        planned,
                        "bypass_policy_lockout_safety_check",
                    ))
                    .set_multi_region(get_bool(planned, "multi_region"))
                    .set_tags(Some(tags.clone()))
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "policy"))?;
        let id = out
            .key_metadata()
            .map(|m| m.key_id().to_string())
            .unwrap_or_default();
        let with_id = {
            let mut v = planned.clone();
            if let Some(m) = v.as_map_mut() {
                m.insert("id".into(), Value::from(id.as_str()));
            }
            v
        };
        let after = async {
            if get_bool(planned, "enable_key_rotation") == Some(true) {
                self.set_rotation(p, &id, true).await?;
            }
            if get_bool(planned, "is_enabled") == Some(false) {
                self.set_enabled(p, &id, false).await?;
            }
            self.read_one(p, &id, Some(planned))
                .await?
                .ok_or_else(|| ProviderError::NotFound(format!("KMS key {id} vanished")))
        };
        after
            .await
            .map_err(|e| super::partially_created(&with_id, e))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let id = require_id(KEY, prior)?;
        let changed = |k: &str| prior.get(k) != planned.get(k);
        if changed("is_enabled") && get_bool(planned, "is_enabled") != Some(false) {
            self.set_enabled(p, &id, true).await?;
        }
        if changed("description") {
            let d = get_str(planned, "description").unwrap_or_default();
            p.call("kms:UpdateKeyDescription", || {
                p.kms
                    .update_key_description()
                    .key_id(&id)
                    .description(&d)
                    .send()
            })
            .await?;
        }
        if changed("policy")
            && let Some(doc) = get_str(planned, "policy")
        {
            p.call("kms:PutKeyPolicy", || {
                p.kms
                    .put_key_policy()
                    .key_id(&id)
                    .policy_name("default")
                    .policy(&doc)
                    .set_bypass_policy_lockout_safety_check(get_bool(
                        planned,
                        "bypass_policy_lockout_safety_check",
                    ))
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "policy"))?;
        }
        if changed("enable_key_rotation") {
            self.set_rotation(
                p,
                &id,
                get_bool(planned, "enable_key_rotation") == Some(true),
            )
            .await?;
        }
        if changed("is_enabled") && get_bool(planned, "is_enabled") == Some(false) {
            self.set_enabled(p, &id, false).await?;
        }
        let id = &id;
        send_tag_changes(
            &value_to_str_map(prior.get("tags_all").unwrap_or(&Value::Null)),
            &value_to_str_map(planned.get("tags_all").unwrap_or(&Value::Null)),
            |keys| async move {
                p.call("kms:UntagResource", || {
                    p.kms
                        .untag_resource()
                        .key_id(id)
                        .set_tag_keys(Some(keys.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
            |tags| async move {
                let tags = kms_tags(&tags);
                p.call("kms:TagResource", || {
                    p.kms
                        .tag_resource()
                        .key_id(id)
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
        )
        .await?;
        self.read_one(p, id, Some(planned))
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("KMS key {id} disappeared")))
    }

    /// Schedules deletion after `deletion_window_in_days` (30 when unset).
    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(KEY, prior)?;
        let days = get_i64(prior, "deletion_window_in_days").unwrap_or(30) as i32;
        match p
            .call("kms:ScheduleKeyDeletion", || {
                p.kms
                    .schedule_key_deletion()
                    .key_id(&id)
                    .pending_window_in_days(days)
                    .send()
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // Already pending deletion.
            Err(ProviderError::Api { code, .. } | ProviderError::Conflict { code, .. })
                if code == "KMSInvalidStateException" =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

// ---------------------------------------------------------------------------
// aws_kms_alias
// ---------------------------------------------------------------------------

impl KmsAlias {
    /// Every alias by name: `(arn, target key ID)`.
    async fn all(&self, p: &AwsProvider) -> Result<BTreeMap<String, (String, String)>> {
        let mut out = BTreeMap::new();
        let mut marker: Option<String> = None;
        loop {
            let page = p
                .call("kms:ListAliases", || {
                    p.kms.list_aliases().set_marker(marker.clone()).send()
                })
                .await?;
            for a in page.aliases() {
                if let (Some(name), Some(key)) = (a.alias_name(), a.target_key_id()) {
                    out.insert(
                        name.to_string(),
                        (
                            a.alias_arn().unwrap_or_default().to_string(),
                            key.to_string(),
                        ),
                    );
                }
            }
            match page.next_marker() {
                Some(m) if page.truncated() && !m.is_empty() => marker = Some(m.to_string()),
                _ => return Ok(out),
            }
        }
    }

    fn to_value(
        &self,
        p: &AwsProvider,
        name: &str,
        arn: &str,
        key: &str,
        prior: Option<&Value>,
    ) -> Value {
        // Keep the configured target (ID or ARN) when it names this key.
        let target = match prior.and_then(|pv| get_str(pv, "target_key_id")) {
            Some(t) if t == key || t.ends_with(&format!(":key/{key}")) => t,
            _ => key.to_string(),
        };
        let key_arn = arn
            .split_once(":alias/")
            .map(|(base, _)| format!("{base}:key/{key}"))
            .unwrap_or_default();
        Obj::new(&p.resource_schema(ALIAS))
            .keep(prior, &["name_prefix"])
            .set("id", name)
            .set("name", name)
            .set("arn", arn)
            .set("target_key_id", target)
            .set("target_key_arn", key_arn)
            .build()
    }

    async fn read_name(
        &self,
        p: &AwsProvider,
        name: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let all = self.all(p).await?;
        Ok(all
            .get(name)
            .map(|(arn, key)| self.to_value(p, name, arn, key, prior)))
    }
}

#[async_trait]
impl ResourceType for KmsAlias {
    fn name(&self) -> &'static str {
        ALIAS
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "arn", "target_key_arn"],
                Attribute::computed(AttrType::String),
            )
            .named_or_prefixed()
            .attr("target_key_id", Attribute::required(AttrType::String))
    }

    fn untagged(&self) -> bool {
        true
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        for key in ["name", "name_prefix"] {
            if let Some(n) = get_str(config, key)
                && !n.starts_with("alias/")
            {
                return Err(bad_value(
                    key,
                    format!("{key} must begin with 'alias/', got {n:?}"),
                ));
            }
        }
        let mut planned = default_plan(p, &p.resource_schema(ALIAS), prior, config, ctx);
        if prior.is_some_and(|pv| pv.get("target_key_id") != config.get("target_key_id"))
            && let Some(m) = planned.planned.as_map_mut()
        {
            m.insert("target_key_arn".into(), Value::Unknown);
        }
        Ok(planned)
    }

    /// One paged `ListAliases` for every alias.
    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let all = self.all(p).await?;
        Ok(prior
            .iter()
            .map(|pv| {
                let name = get_str(pv, "id").or_else(|| get_str(pv, "name"))?;
                let (arn, key) = all.get(&name)?;
                Some(self.to_value(p, &name, arn, key, Some(pv)))
            })
            .collect())
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let name = get_str(planned, "name").unwrap_or_else(|| {
            super::iam::generated_name(
                Some(
                    get_str(planned, "name_prefix")
                        .as_deref()
                        .unwrap_or("alias/terraform-"),
                ),
                &ctx.idempotency_token,
            )
        });
        let target = get_str(planned, "target_key_id").unwrap_or_default();
        p.call("kms:CreateAlias", || {
            p.kms
                .create_alias()
                .alias_name(&name)
                .target_key_id(&target)
                .send()
        })
        .await
        .map_err(|e| match e {
            ProviderError::NotFound(message) => ProviderError::InvalidArgument {
                path: Some(vec![PathStep::Key("target_key_id".into())]),
                code: "NotFoundException".into(),
                message,
            },
            e => at_path(e, "name"),
        })?;
        let mut with_name = planned.clone();
        if let Some(m) = with_name.as_map_mut() {
            m.insert("name".into(), Value::from(name.as_str()));
        }
        self.read_name(p, &name, Some(&with_name))
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("KMS alias {name} vanished")))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let name = require_id(ALIAS, prior)?;
        let target = get_str(planned, "target_key_id").unwrap_or_default();
        p.call("kms:UpdateAlias", || {
            p.kms
                .update_alias()
                .alias_name(&name)
                .target_key_id(&target)
                .send()
        })
        .await
        .map_err(|e| at_path(e, "target_key_id"))?;
        self.read_name(p, &name, Some(planned))
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("KMS alias {name} disappeared")))
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let name = require_id(ALIAS, prior)?;
        match p
            .call("kms:DeleteAlias", || {
                p.kms.delete_alias().alias_name(&name).send()
            })
            .await
        {
            Err(e) if !is_not_found(&e) => Err(e),
            _ => Ok(()),
        }
    }
}
