//! `aws_iam_role`, `aws_iam_instance_profile`, `aws_iam_role_policy_attachment`.
//!
//! IAM has no batched "get many": reads make one call per role / instance
//! profile (bounded concurrency) and one `ListAttachedRolePolicies` per
//! distinct role for attachments. Listing by ownership tag uses
//! `GetAccountAuthorizationDetails` (every role with its tags, paginated)
//! and `ListInstanceProfiles`.

use super::ReadByKey;
use super::ec2_support::ok_if_gone;
use super::{ResourceType, default_plan, require_id};
use crate::Result;
use crate::api::{at_path, is_not_found};
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, send_tag_changes, tags_from_api};
use crate::values::{Obj, get_bool, get_i64, get_str, json_equivalent, value_to_str_map};
use async_trait::async_trait;
use aws_sdk_iam::types::{EntityType, Tag};
use futures::{StreamExt, TryStreamExt};
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, BTreeSet};
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

/// Concurrent single-object IAM reads.
const READ_CONCURRENCY: usize = 8;

pub(crate) struct IamRole;
pub(crate) struct IamInstanceProfile;
pub(crate) struct IamRolePolicyAttachment;

const ROLE: &str = "aws_iam_role";
const PROFILE: &str = "aws_iam_instance_profile";
const ATTACHMENT: &str = "aws_iam_role_policy_attachment";

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

pub(super) fn iam_tags(tags: &TagMap) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::InvalidArgument {
                    path: None,
                    code: "InvalidTag".into(),
                    message: e.to_string(),
                })
        })
        .collect()
}

pub(super) fn tag_map(tags: &[Tag]) -> TagMap {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

pub(super) use super::listed::{owned_by_address, owned_by_env};

/// A deterministic name for an unnamed object, derived from the create's
/// idempotency token (so a crashed create can be found again by name).
pub(crate) fn generated_name(prefix: Option<&str>, token: &str) -> String {
    let digest = hex::encode(Sha1::digest(token.as_bytes()));
    let prefix = prefix.unwrap_or("terrace-");
    let room = 64usize.saturating_sub(prefix.len()).clamp(8, 26);
    format!("{prefix}{}", &digest[..room])
}

/// IAM returns policy documents URL-encoded (RFC 3986); decode them.
pub(crate) fn decode_policy(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2]))
        {
            out.push(hi * 16 + lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The policy text to store: the prior/planned text when it means the same
/// JSON (so a second plan is empty), else what the API has.
pub(super) fn stored_policy(api: Option<&str>, prior: Option<&Value>, key: &str) -> Value {
    let Some(api) = api else { return Value::Null };
    let api = decode_policy(api);
    if let Some(old) = prior.and_then(|p| get_str(p, key))
        && json_equivalent(&old, &api)
    {
        return Value::from(old);
    }
    Value::from(api)
}

/// A policy document that means the same JSON as the prior one is no
/// change: plan the prior's text.
pub(crate) fn keep_same_json(
    planned: &mut PlannedResource,
    prior: Option<&Value>,
    config: &Value,
    key: &str,
) {
    if let Some(prior) = prior
        && let (Some(old), Some(new)) = (get_str(prior, key), get_str(config, key))
        && json_equivalent(&old, &new)
        && let Some(m) = planned.planned.as_map_mut()
    {
        m.insert(key.into(), Value::from(old));
    }
}

/// Bring IAM tags from prior `tags_all` to planned `tags_all`.
pub(super) async fn sync_tags<FT, FU, T1, T2>(
    prior: &Value,
    planned: &Value,
    tag: FT,
    untag: FU,
) -> Result<()>
where
    FT: FnOnce(Vec<Tag>) -> T1,
    FU: FnOnce(Vec<String>) -> T2,
    T1: std::future::Future<Output = Result<()>>,
    T2: std::future::Future<Output = Result<()>>,
{
    let old = value_to_str_map(prior.get("tags_all").unwrap_or(&Value::Null));
    let new = value_to_str_map(planned.get("tags_all").unwrap_or(&Value::Null));
    send_tag_changes(&old, &new, untag, |changed| async move {
        tag(iam_tags(&changed)?).await
    })
    .await
}

/// [`sync_tags`] through an IAM object's own `Tag<Op>` / `Untag<Op>`
/// pair, the object named by one setter: roles, instance profiles,
/// policies and OIDC providers have the same shape, e.g.
/// `sync_iam_tags!(p, prior, planned, "Role", tag_role / untag_role, role_name(name))`.
macro_rules! sync_iam_tags {
    ($p:expr, $prior:expr, $planned:expr, $op:literal, $tag:ident / $untag:ident, $setter:ident($id:expr)) => {{
        let p = $p;
        $crate::resources::iam::sync_tags(
            $prior,
            $planned,
            |tags| async move {
                p.call(concat!("iam:Tag", $op), || {
                    p.iam
                        .$tag()
                        .$setter($id)
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
            |keys| async move {
                p.call(concat!("iam:Untag", $op), || {
                    p.iam
                        .$untag()
                        .$setter($id)
                        .set_tag_keys(Some(keys.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
        )
        .await
    }};
}
pub(super) use sync_iam_tags;

/// Run `f` over `items` with bounded concurrency, keeping order.
pub(crate) async fn read_each<T, R, F, Fut>(items: Vec<T>, f: F) -> Result<Vec<R>>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<R>>,
{
    futures::stream::iter(items)
        .map(f)
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await
}

pub(super) fn schema_name_attrs(schema: Schema) -> Schema {
    schema.named_or_prefixed()
}

// ---------------------------------------------------------------------------
// aws_iam_role
// ---------------------------------------------------------------------------

impl IamRole {
    fn to_value(
        &self,
        p: &AwsProvider,
        role: &aws_sdk_iam::types::Role,
        prior: Option<&Value>,
    ) -> Value {
        let (tags, tags_all) = tags_from_api(&tag_map(role.tags()), prior, &p.default_tags);
        Obj::new(&p.resource_schema(ROLE))
            .set("id", role.role_name())
            .set("name", role.role_name())
            .set("arn", role.arn())
            .set("unique_id", role.role_id())
            .set("path", role.path())
            .set("create_date", role.create_date().to_string())
            .set(
                "assume_role_policy",
                stored_policy(
                    role.assume_role_policy_document(),
                    prior,
                    "assume_role_policy",
                ),
            )
            .set_opt_str("description", role.description().filter(|d| !d.is_empty()))
            .set(
                "max_session_duration",
                Value::from(i64::from(role.max_session_duration().unwrap_or(3600))),
            )
            .set_opt_str(
                "permissions_boundary",
                role.permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn()),
            )
            .set("tags", tags)
            .set("tags_all", tags_all)
            .keep(prior, &["name_prefix", "force_detach_policies"])
            .build()
    }

    async fn get(&self, p: &AwsProvider, name: &str) -> Result<Option<aws_sdk_iam::types::Role>> {
        if name.is_empty() {
            return Ok(None);
        }
        match p
            .call("iam:GetRole", || p.iam.get_role().role_name(name).send())
            .await
        {
            Ok(out) => Ok(out.role().cloned()),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every role with its tags (one paginated call for the whole account).
    async fn all_role_tags(&self, p: &AwsProvider) -> Result<Vec<(String, TagMap)>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = p
                .call("iam:GetAccountAuthorizationDetails", || {
                    p.iam
                        .get_account_authorization_details()
                        .filter(EntityType::Role)
                        .set_marker(marker.clone())
                        .send()
                })
                .await?;
            out.extend(
                page.role_detail_list()
                    .iter()
                    .filter_map(|r| Some((r.role_name()?.to_string(), tag_map(r.tags())))),
            );
            match page.marker() {
                Some(m) if page.is_truncated() && !m.is_empty() => marker = Some(m.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn read_names(&self, p: &AwsProvider, names: Vec<String>) -> Result<Vec<Value>> {
        let found = read_each(names, |n| async move { self.read_one(p, &n, None).await }).await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn detach_everything(
        &self,
        p: &AwsProvider,
        name: &str,
        force_detach: bool,
    ) -> Result<()> {
        // Instance profiles always let go of the role (as Terraform does).
        let profiles = p
            .call("iam:ListInstanceProfilesForRole", || {
                p.iam
                    .list_instance_profiles_for_role()
                    .role_name(name)
                    .send()
            })
            .await?;
        for ip in profiles.instance_profiles() {
            let ipn = ip.instance_profile_name();
            match p
                .call("iam:RemoveRoleFromInstanceProfile", || {
                    p.iam
                        .remove_role_from_instance_profile()
                        .instance_profile_name(ipn)
                        .role_name(name)
                        .send()
                })
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        if !force_detach {
            return Ok(());
        }
        for arn in attached_policy_arns(p, name).await?.unwrap_or_default() {
            match p
                .call("iam:DetachRolePolicy", || {
                    p.iam
                        .detach_role_policy()
                        .role_name(name)
                        .policy_arn(&arn)
                        .send()
                })
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let inline = p
            .call("iam:ListRolePolicies", || {
                p.iam.list_role_policies().role_name(name).send()
            })
            .await?;
        for pn in inline.policy_names() {
            match p
                .call("iam:DeleteRolePolicy", || {
                    p.iam
                        .delete_role_policy()
                        .role_name(name)
                        .policy_name(pn)
                        .send()
                })
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ReadByKey for IamRole {
    const KEYS: &'static [&'static str] = &["id", "name"];

    async fn read_one(
        &self,
        p: &AwsProvider,
        name: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        Ok(self
            .get(p, name)
            .await?
            .map(|r| self.to_value(p, &r, prior)))
    }
}

#[async_trait]
impl ResourceType for IamRole {
    fn name(&self) -> &'static str {
        ROLE
    }

    fn schema(&self) -> Schema {
        schema_name_attrs(
            Schema::new()
                .attrs(
                    &["id", "arn", "unique_id", "create_date"],
                    Attribute::computed(AttrType::String),
                )
                .attr("assume_role_policy", Attribute::required(AttrType::String))
                .attrs(
                    &["description", "permissions_boundary"],
                    Attribute::optional(AttrType::String),
                )
                .attr(
                    "path",
                    Attribute::optional(AttrType::String)
                        .default("/")
                        .force_new(),
                )
                .attr(
                    "max_session_duration",
                    Attribute::optional(AttrType::Number).default(3600i64),
                )
                .attr(
                    "force_detach_policies",
                    Attribute::optional(AttrType::Bool).default(false),
                )
                .set_block(
                    "inline_policy",
                    Schema::new().attrs(&["name", "policy"], Attribute::optional(AttrType::String)),
                ),
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
        // `inline_policy` blocks are accepted only when absent (or empty, as
        // a `dynamic` block over nothing): inline policies are
        // `aws_iam_role_policy` resources here.
        if crate::values::get_blocks(config, "inline_policy")
            .iter()
            .any(|b| b.as_map().is_some_and(|m| m.values().any(|v| !v.is_null())))
        {
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![terrace_core::PathStep::Key("inline_policy".into())]),
                code: "NotImplemented".into(),
                message: "terrace does not implement `inline_policy` of `aws_iam_role` yet; \
                          remove the block and declare an `aws_iam_role_policy` resource instead"
                    .into(),
            });
        }
        let mut planned = default_plan(p, &p.resource_schema(ROLE), prior, config, ctx);
        keep_same_json(&mut planned, prior, config, "assume_role_policy");
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        self.read_keyed(p, prior).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let name = get_str(planned, "name").unwrap_or_else(|| {
            generated_name(
                get_str(planned, "name_prefix").as_deref(),
                &ctx.idempotency_token,
            )
        });
        let tags = iam_tags(&create_tags(&p.default_tags, planned, &ctx.resource))?;
        let policy = get_str(planned, "assume_role_policy").unwrap_or_default();
        let max = get_i64(planned, "max_session_duration").map(|v| v as i32);
        let created = p
            .call("iam:CreateRole", || {
                p.iam
                    .create_role()
                    .role_name(&name)
                    .assume_role_policy_document(&policy)
                    .set_description(get_str(planned, "description"))
                    .set_path(get_str(planned, "path"))
                    .set_max_session_duration(max)
                    .set_permissions_boundary(get_str(planned, "permissions_boundary"))
                    .set_tags(Some(tags.clone()))
                    .send()
            })
            .await;
        match created {
            Ok(_) => {}
            Err(ProviderError::InvalidArgument {
                path: None,
                code,
                message,
            }) if code == "MalformedPolicyDocument" => {
                return Err(at_path(
                    ProviderError::InvalidArgument {
                        path: None,
                        code,
                        message,
                    },
                    "assume_role_policy",
                ));
            }
            Err(ProviderError::InvalidArgument {
                path: None,
                code,
                message,
            }) if code == "EntityAlreadyExists" => {
                return Err(at_path(
                    ProviderError::InvalidArgument {
                        path: None,
                        code,
                        message,
                    },
                    "name",
                ));
            }
            Err(e) => return Err(e),
        }
        let mut planned_with_name = planned.clone();
        if let Some(m) = planned_with_name.as_map_mut() {
            m.insert("name".into(), Value::from(name.as_str()));
        }
        self.read_one(p, &name, Some(&planned_with_name))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!("IAM role {name} vanished right after create"))
            })
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let name = require_id(ROLE, prior)?;
        let (old_doc, new_doc) = (
            get_str(prior, "assume_role_policy"),
            get_str(planned, "assume_role_policy"),
        );
        if let Some(doc) = &new_doc
            && !old_doc.as_deref().is_some_and(|o| json_equivalent(o, doc))
        {
            p.call("iam:UpdateAssumeRolePolicy", || {
                p.iam
                    .update_assume_role_policy()
                    .role_name(&name)
                    .policy_document(doc)
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "assume_role_policy"))?;
        }
        let desc_changed = get_str(prior, "description") != get_str(planned, "description");
        let max_changed =
            get_i64(prior, "max_session_duration") != get_i64(planned, "max_session_duration");
        if desc_changed || max_changed {
            let max = get_i64(planned, "max_session_duration").map(|v| v as i32);
            p.call("iam:UpdateRole", || {
                p.iam
                    .update_role()
                    .role_name(&name)
                    .description(get_str(planned, "description").unwrap_or_default())
                    .set_max_session_duration(max)
                    .send()
            })
            .await?;
        }
        if get_str(prior, "permissions_boundary") != get_str(planned, "permissions_boundary") {
            match get_str(planned, "permissions_boundary") {
                Some(b) => {
                    p.call("iam:PutRolePermissionsBoundary", || {
                        p.iam
                            .put_role_permissions_boundary()
                            .role_name(&name)
                            .permissions_boundary(&b)
                            .send()
                    })
                    .await
                    .map_err(|e| at_path(e, "permissions_boundary"))?;
                }
                None => {
                    p.call("iam:DeleteRolePermissionsBoundary", || {
                        p.iam
                            .delete_role_permissions_boundary()
                            .role_name(&name)
                            .send()
                    })
                    .await?;
                }
            }
        }
        let name = &name;
        sync_iam_tags!(
            p,
            prior,
            planned,
            "Role",
            tag_role / untag_role,
            role_name(name)
        )?;
        self.read_one(p, name, Some(planned)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("IAM role {name} disappeared during update"))
        })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let name = require_id(ROLE, prior)?;
        let force = get_bool(prior, "force_detach_policies").unwrap_or(false);
        match self.detach_everything(p, &name, force).await {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
        ok_if_gone(
            p.call("iam:DeleteRole", || {
                p.iam.delete_role().role_name(&name).send()
            })
            .await,
        )
    }

    async fn find_created(
        &self,
        p: &AwsProvider,
        token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>> {
        // An unnamed role got a name derived from the token.
        if let Some(role) = self.get(p, &generated_name(None, token)).await?
            && owned_by_address(&tag_map(role.tags()), ctx)
        {
            return Ok(Some(self.to_value(p, &role, None)));
        }
        let names: Vec<String> = self
            .all_role_tags(p)
            .await?
            .into_iter()
            .filter(|(_, tags)| owned_by_address(tags, ctx))
            .map(|(n, _)| n)
            .collect();
        Ok(self.read_names(p, names).await?.into_iter().next())
    }

    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        let names: Vec<String> = self
            .all_role_tags(p)
            .await?
            .into_iter()
            .filter(|(_, tags)| owned_by_env(tags, environment))
            .map(|(n, _)| n)
            .collect();
        self.read_names(p, names).await
    }
}

// ---------------------------------------------------------------------------
// aws_iam_instance_profile
// ---------------------------------------------------------------------------

impl IamInstanceProfile {
    fn to_value(
        &self,
        p: &AwsProvider,
        ip: &aws_sdk_iam::types::InstanceProfile,
        tags: &TagMap,
        prior: Option<&Value>,
    ) -> Value {
        let (tags, tags_all) = tags_from_api(tags, prior, &p.default_tags);
        Obj::new(&p.resource_schema(PROFILE))
            .set("id", ip.instance_profile_name())
            .set("name", ip.instance_profile_name())
            .set("arn", ip.arn())
            .set("unique_id", ip.instance_profile_id())
            .set("path", ip.path())
            .set("create_date", ip.create_date().to_string())
            .set_opt_str("role", ip.roles().first().map(|r| r.role_name()))
            .set("tags", tags)
            .set("tags_all", tags_all)
            .keep(prior, &["name_prefix"])
            .build()
    }

    async fn get(
        &self,
        p: &AwsProvider,
        name: &str,
    ) -> Result<Option<aws_sdk_iam::types::InstanceProfile>> {
        if name.is_empty() {
            return Ok(None);
        }
        match p
            .call("iam:GetInstanceProfile", || {
                p.iam
                    .get_instance_profile()
                    .instance_profile_name(name)
                    .send()
            })
            .await
        {
            Ok(out) => Ok(out.instance_profile().cloned()),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every instance profile with its tags. `ListInstanceProfiles` omits
    /// tags on AWS; untagged-looking profiles get one tag listing each.
    async fn list_all(
        &self,
        p: &AwsProvider,
    ) -> Result<Vec<(aws_sdk_iam::types::InstanceProfile, TagMap)>> {
        let mut profiles = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = p
                .call("iam:ListInstanceProfiles", || {
                    p.iam
                        .list_instance_profiles()
                        .set_marker(marker.clone())
                        .send()
                })
                .await?;
            profiles.extend(page.instance_profiles().iter().cloned());
            match page.marker() {
                Some(m) if page.is_truncated() && !m.is_empty() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        read_each(profiles, |ip| async move {
            if !ip.tags().is_empty() {
                let tags = tag_map(ip.tags());
                return Ok((ip, tags));
            }
            let name = ip.instance_profile_name().to_string();
            let tags = match p
                .call("iam:ListInstanceProfileTags", || {
                    p.iam
                        .list_instance_profile_tags()
                        .instance_profile_name(&name)
                        .send()
                })
                .await
            {
                Ok(out) => tag_map(out.tags()),
                Err(e) if is_not_found(&e) => TagMap::new(),
                Err(e) => return Err(e),
            };
            Ok((ip, tags))
        })
        .await
    }

    async fn set_role(
        &self,
        p: &AwsProvider,
        name: &str,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<()> {
        if old == new {
            return Ok(());
        }
        if let Some(old) = old {
            match p
                .call("iam:RemoveRoleFromInstanceProfile", || {
                    p.iam
                        .remove_role_from_instance_profile()
                        .instance_profile_name(name)
                        .role_name(old)
                        .send()
                })
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(new) = new {
            p.call("iam:AddRoleToInstanceProfile", || {
                p.iam
                    .add_role_to_instance_profile()
                    .instance_profile_name(name)
                    .role_name(new)
                    .send()
            })
            .await
            .map_err(|e| match e {
                ProviderError::NotFound(message) => ProviderError::InvalidArgument {
                    path: Some(vec![terrace_core::PathStep::Key("role".into())]),
                    code: "NoSuchEntity".into(),
                    message,
                },
                other => at_path(other, "role"),
            })?;
        }
        Ok(())
    }

    fn list_matching(
        &self,
        p: &AwsProvider,
        all: Vec<(aws_sdk_iam::types::InstanceProfile, TagMap)>,
        keep: impl Fn(&TagMap) -> bool,
    ) -> Vec<Value> {
        all.into_iter()
            .filter(|(_, t)| keep(t))
            .map(|(ip, t)| self.to_value(p, &ip, &t, None))
            .collect()
    }
}

#[async_trait]
impl ReadByKey for IamInstanceProfile {
    const KEYS: &'static [&'static str] = &["id", "name"];

    async fn read_one(
        &self,
        p: &AwsProvider,
        name: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        Ok(self
            .get(p, name)
            .await?
            .map(|ip| self.to_value(p, &ip, &tag_map(ip.tags()), prior)))
    }
}

#[async_trait]
impl ResourceType for IamInstanceProfile {
    fn name(&self) -> &'static str {
        PROFILE
    }

    fn schema(&self) -> Schema {
        schema_name_attrs(
            Schema::new()
                .attrs(
                    &["id", "arn", "unique_id", "create_date"],
                    Attribute::computed(AttrType::String),
                )
                .attr(
                    "path",
                    Attribute::optional(AttrType::String)
                        .default("/")
                        .force_new(),
                )
                .attr("role", Attribute::optional(AttrType::String)),
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
        Ok(default_plan(
            p,
            &p.resource_schema(PROFILE),
            prior,
            config,
            ctx,
        ))
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        self.read_keyed(p, prior).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let name = get_str(planned, "name").unwrap_or_else(|| {
            generated_name(
                get_str(planned, "name_prefix").as_deref(),
                &ctx.idempotency_token,
            )
        });
        let tags = iam_tags(&create_tags(&p.default_tags, planned, &ctx.resource))?;
        p.call("iam:CreateInstanceProfile", || {
            p.iam
                .create_instance_profile()
                .instance_profile_name(&name)
                .set_path(get_str(planned, "path"))
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await
        .map_err(|e| at_path(e, "name"))?;
        self.set_role(p, &name, None, get_str(planned, "role").as_deref())
            .await?;
        let mut with_name = planned.clone();
        if let Some(m) = with_name.as_map_mut() {
            m.insert("name".into(), Value::from(name.as_str()));
        }
        self.read_one(p, &name, Some(&with_name))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!(
                    "instance profile {name} vanished right after create"
                ))
            })
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let name = require_id(PROFILE, prior)?;
        self.set_role(
            p,
            &name,
            get_str(prior, "role").as_deref(),
            get_str(planned, "role").as_deref(),
        )
        .await?;
        let name = &name;
        sync_iam_tags!(
            p,
            prior,
            planned,
            "InstanceProfile",
            tag_instance_profile / untag_instance_profile,
            instance_profile_name(name)
        )?;
        self.read_one(p, name, Some(planned)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("instance profile {name} disappeared during update"))
        })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let name = require_id(PROFILE, prior)?;
        let Some(ip) = self.get(p, &name).await? else {
            return Ok(());
        };
        for role in ip.roles() {
            self.set_role(p, &name, Some(role.role_name()), None)
                .await?;
        }
        ok_if_gone(
            p.call("iam:DeleteInstanceProfile", || {
                p.iam
                    .delete_instance_profile()
                    .instance_profile_name(&name)
                    .send()
            })
            .await,
        )
    }

    async fn find_created(
        &self,
        p: &AwsProvider,
        token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>> {
        if let Some(ip) = self.get(p, &generated_name(None, token)).await?
            && owned_by_address(&tag_map(ip.tags()), ctx)
        {
            return Ok(Some(self.to_value(p, &ip, &tag_map(ip.tags()), None)));
        }
        let all = self.list_all(p).await?;
        Ok(self
            .list_matching(p, all, |t| owned_by_address(t, ctx))
            .into_iter()
            .next())
    }

    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        let all = self.list_all(p).await?;
        Ok(self.list_matching(p, all, |t| owned_by_env(t, environment)))
    }
}

// ---------------------------------------------------------------------------
// aws_iam_role_policy_attachment
// ---------------------------------------------------------------------------

/// The managed policies attached to a role; `None` when the role is gone.
async fn attached_policy_arns(p: &AwsProvider, role: &str) -> Result<Option<Vec<String>>> {
    let mut arns = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = match p
            .call("iam:ListAttachedRolePolicies", || {
                p.iam
                    .list_attached_role_policies()
                    .role_name(role)
                    .set_marker(marker.clone())
                    .send()
            })
            .await
        {
            Ok(page) => page,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        arns.extend(
            page.attached_policies()
                .iter()
                .filter_map(|a| a.policy_arn().map(str::to_string)),
        );
        match page.marker() {
            Some(m) if page.is_truncated() && !m.is_empty() => marker = Some(m.to_string()),
            _ => return Ok(Some(arns)),
        }
    }
}

/// `(role, policy_arn)` of an attachment state: from the attributes, else
/// from the ID (`role-arn:...` as Terraform writes it, or the import form
/// `role/arn:...`).
fn attachment_key(v: &Value) -> Option<(String, String)> {
    if let (Some(r), Some(a)) = (get_str(v, "role"), get_str(v, "policy_arn")) {
        return Some((r, a));
    }
    parse_attachment_id(&get_str(v, "id")?)
}

fn parse_attachment_id(id: &str) -> Option<(String, String)> {
    for sep in ["/arn:", "-arn:"] {
        if let Some(i) = id.find(sep) {
            return Some((id[..i].to_string(), id[i + 1..].to_string()));
        }
    }
    None
}

impl IamRolePolicyAttachment {
    fn to_value(&self, p: &AwsProvider, role: &str, arn: &str) -> Value {
        Obj::new(&p.resource_schema(ATTACHMENT))
            .set("id", format!("{role}-{arn}"))
            .set("role", role)
            .set("policy_arn", arn)
            .build()
    }
}

#[async_trait]
impl ResourceType for IamRolePolicyAttachment {
    fn name(&self) -> &'static str {
        ATTACHMENT
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attrs(
                &["role", "policy_arn"],
                Attribute::required(AttrType::String).force_new(),
            )
    }

    /// One `ListAttachedRolePolicies` per distinct role.
    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let keys: Vec<Option<(String, String)>> = prior.iter().map(attachment_key).collect();
        let roles: Vec<String> = keys
            .iter()
            .flatten()
            .map(|(r, _)| r.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let attached: BTreeMap<String, Option<Vec<String>>> = read_each(roles, |r| async move {
            Ok((r.clone(), attached_policy_arns(p, &r).await?))
        })
        .await?
        .into_iter()
        .collect();
        Ok(keys
            .iter()
            .map(|k| {
                let (role, arn) = k.as_ref()?;
                let arns = attached.get(role)?.as_ref()?;
                arns.iter()
                    .any(|a| a == arn)
                    .then(|| self.to_value(p, role, arn))
            })
            .collect())
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let Some((role, arn)) = parse_attachment_id(id) else {
            return Err(ProviderError::InvalidArgument {
                path: None,
                code: "InvalidImportId".into(),
                message: format!("import ID {id:?} is not of the form <role-name>/<policy-arn>"),
            });
        };
        let stub = self.to_value(p, &role, &arn);
        Ok(self.read_many(p, &[stub]).await?.pop().flatten())
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        let role = get_str(planned, "role").unwrap_or_default();
        let arn = get_str(planned, "policy_arn").unwrap_or_default();
        let attached = p
            .call("iam:AttachRolePolicy", || {
                p.iam
                    .attach_role_policy()
                    .role_name(&role)
                    .policy_arn(&arn)
                    .send()
            })
            .await;
        match attached {
            Ok(_) => Ok(self.to_value(p, &role, &arn)),
            // NoSuchEntity names either the policy or the role.
            Err(ProviderError::NotFound(message)) => {
                let about_policy =
                    message.contains(&arn) || message.to_lowercase().contains("policy");
                let mut message = message;
                if about_policy && arn.contains(":iam::aws:policy/") {
                    message.push_str(
                        " (an AWS managed policy: on moto, start the server with MOTO_IAM_LOAD_MANAGED_POLICIES=true)",
                    );
                }
                Err(ProviderError::InvalidArgument {
                    path: Some(vec![terrace_core::PathStep::Key(
                        if about_policy { "policy_arn" } else { "role" }.into(),
                    )]),
                    code: "NoSuchEntity".into(),
                    message,
                })
            }
            Err(e) => Err(at_path(e, "policy_arn")),
        }
    }

    async fn update(
        &self,
        p: &AwsProvider,
        _prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        // Both arguments force replacement: nothing to update in place.
        let (role, arn) = attachment_key(planned).unwrap_or_default();
        Ok(self.to_value(p, &role, &arn))
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let Some((role, arn)) = attachment_key(prior) else {
            return Ok(());
        };
        ok_if_gone(
            p.call("iam:DetachRolePolicy", || {
                p.iam
                    .detach_role_policy()
                    .role_name(&role)
                    .policy_arn(&arn)
                    .send()
            })
            .await,
        )
    }

    /// Attachments carry no tags (nothing is listed as unmanaged) and
    /// `AttachRolePolicy` is idempotent: a crashed create is simply made again.
    fn untagged(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_url_decoded() {
        assert_eq!(decode_policy("%7B%22a%22%3A1%7D"), r#"{"a":1}"#);
        assert_eq!(decode_policy(r#"{"a":1}"#), r#"{"a":1}"#);
        assert_eq!(decode_policy("100%"), "100%");
    }

    #[test]
    fn attachment_ids_parse_both_forms() {
        let arn = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy";
        assert_eq!(
            parse_attachment_id(&format!("my-role-{arn}")),
            Some(("my-role".into(), arn.into()))
        );
        assert_eq!(
            parse_attachment_id(&format!("my-role/{arn}")),
            Some(("my-role".into(), arn.into()))
        );
        assert_eq!(parse_attachment_id("nonsense"), None);
    }

    #[test]
    fn generated_names_are_stable_and_bounded() {
        let a = generated_name(None, "tok-1");
        assert_eq!(a, generated_name(None, "tok-1"));
        assert_ne!(a, generated_name(None, "tok-2"));
        assert!(a.starts_with("terrace-") && a.len() <= 64);
        assert!(generated_name(Some("runner-"), "t").starts_with("runner-"));
    }
}
