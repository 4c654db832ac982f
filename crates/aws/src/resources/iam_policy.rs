//! `aws_iam_policy`, `aws_iam_role_policy`, `aws_iam_openid_connect_provider`.
//!
//! Policy documents are compared as JSON (formatting and key order are no
//! change). A managed policy's document is its default version: an update
//! makes a new default version, deleting the oldest non-default one when
//! the account's limit of five is reached (as Terraform does). IAM has no
//! batched reads: one call per object, a few in flight.

use super::ReadByKey;
use super::iam::sync_iam_tags;
use super::iam::{
    generated_name, iam_tags, keep_same_json, read_each, schema_name_attrs, stored_policy, tag_map,
};
use super::listed::{TagFilter, TagListed};
use super::{ResourceType, bad_import_id, default_plan, require_id};
use crate::Result;
use crate::api::{argument_error, at_path, is_not_found};
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, tags_from_api};
use crate::values::{Obj, get_str, get_strings, json_equivalent, str_list, str_set};
use async_trait::async_trait;
use aws_sdk_iam::types::Policy;
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct IamPolicy;
pub(crate) struct IamRolePolicy;
pub(crate) struct OidcProvider;

const POLICY: &str = "aws_iam_policy";
const ROLE_POLICY: &str = "aws_iam_role_policy";
const OIDC: &str = "aws_iam_openid_connect_provider";

/// Map IAM's "the document is wrong" to the `policy` argument.
fn policy_error(e: ProviderError) -> ProviderError {
    match &e {
        ProviderError::Api { code, .. } | ProviderError::InvalidArgument { code, .. }
            if code == "MalformedPolicyDocument" =>
        {
            argument_error(e, "policy")
        }
        _ => at_path(e, "policy"),
    }
}

/// The name of a new object: `name`, else generated from `name_prefix`.
fn new_name(planned: &Value, token: &str) -> String {
    get_str(planned, "name").unwrap_or_else(|| {
        generated_name(
            Some(
                get_str(planned, "name_prefix")
                    .as_deref()
                    .unwrap_or("terraform-"),
            ),
            token,
        )
    })
}

fn with(v: &Value, key: &str, x: impl Into<Value>) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_map_mut() {
        m.insert(key.into(), x.into());
    }
    v
}

// ---------------------------------------------------------------------------
// aws_iam_policy
// ---------------------------------------------------------------------------

/// A managed policy with its default version's document.
pub(crate) struct PolicyRead {
    pub(crate) policy: Policy,
    pub(crate) document: Option<String>,
    pub(crate) tags: TagMap,
}

/// Read a managed policy and its default document; `None` when gone.
pub(crate) async fn get_policy(p: &AwsProvider, arn: &str) -> Result<Option<PolicyRead>> {
    if arn.is_empty() {
        return Ok(None);
    }
    let policy = match p
        .call("iam:GetPolicy", || {
            p.iam.get_policy().policy_arn(arn).send()
        })
        .await
    {
        Ok(out) => match out.policy() {
            Some(pol) => pol.clone(),
            None => return Ok(None),
        },
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let document = match policy.default_version_id() {
        Some(v) => p
            .call("iam:GetPolicyVersion", || {
                p.iam
                    .get_policy_version()
                    .policy_arn(arn)
                    .version_id(v)
                    .send()
            })
            .await?
            .policy_version()
            .and_then(|pv| pv.document())
            .map(str::to_string),
        None => None,
    };
    let tags = tag_map(policy.tags());
    Ok(Some(PolicyRead {
        policy,
        document,
        tags,
    }))
}

/// `attachment_count` of a managed policy (0 when gone).
pub(crate) async fn attachment_count(p: &AwsProvider, arn: &str) -> Result<Value> {
    let n = get_policy(p, arn)
        .await?
        .and_then(|r| r.policy.attachment_count())
        .unwrap_or(0);
    Ok(Value::from(i64::from(n)))
}

impl IamPolicy {
    fn to_value(&self, p: &AwsProvider, r: &PolicyRead, prior: Option<&Value>) -> Value {
        let pol = &r.policy;
        let (tags, tags_all) = tags_from_api(&r.tags, prior, &p.default_tags);
        Obj::new(&p.resource_schema(POLICY))
            .keep(prior, &["name_prefix"])
            .set_opt_str("id", pol.arn())
            .set_opt_str("arn", pol.arn())
            .set_opt_str("name", pol.policy_name())
            .set_opt_str("path", pol.path())
            .set_opt_str("policy_id", pol.policy_id())
            .set_opt_str("description", pol.description().filter(|d| !d.is_empty()))
            .set(
                "policy",
                stored_policy(r.document.as_deref(), prior, "policy"),
            )
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }

    /// Every local policy's ARN with its tags.
    async fn all_tagged(&self, p: &AwsProvider) -> Result<Vec<(String, TagMap)>> {
        let mut arns = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = p
                .call("iam:ListPolicies", || {
                    p.iam
                        .list_policies()
                        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
                        .set_marker(marker.clone())
                        .send()
                })
                .await?;
            arns.extend(
                page.policies()
                    .iter()
                    .filter_map(|x| x.arn().map(str::to_string)),
            );
            match page.marker() {
                Some(m) if page.is_truncated() && !m.is_empty() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        read_each(arns, |arn| async move {
            let tags = match p
                .call("iam:ListPolicyTags", || {
                    p.iam.list_policy_tags().policy_arn(&arn).send()
                })
                .await
            {
                Ok(out) => tag_map(out.tags()),
                Err(e) if is_not_found(&e) => TagMap::new(),
                Err(e) => return Err(e),
            };
            Ok((arn, tags))
        })
        .await
    }
}

#[async_trait]
impl TagListed for IamPolicy {
    async fn read_matching(&self, p: &AwsProvider, keep: TagFilter<'_>) -> Result<Vec<Value>> {
        let arns: Vec<String> = self
            .all_tagged(p)
            .await?
            .into_iter()
            .filter(|(_, t)| keep(t))
            .map(|(a, _)| a)
            .collect();
        let found = read_each(arns, |a| async move { self.read_one(p, &a, None).await }).await?;
        Ok(found.into_iter().flatten().collect())
    }
}

impl IamPolicy {
    /// Make room for a new version: delete the oldest non-default one when
    /// five exist.
    async fn prune_versions(&self, p: &AwsProvider, arn: &str) -> Result<()> {
        let out = p
            .call("iam:ListPolicyVersions", || {
                p.iam.list_policy_versions().policy_arn(arn).send()
            })
            .await?;
        let mut old: Vec<_> = out
            .versions()
            .iter()
            .filter(|v| !v.is_default_version())
            .collect();
        if out.versions().len() < 5 || old.is_empty() {
            return Ok(());
        }
        old.sort_by_key(|v| v.create_date().map(|d| d.secs()));
        let Some(id) = old[0].version_id() else {
            return Ok(());
        };
        p.call("iam:DeletePolicyVersion", || {
            p.iam
                .delete_policy_version()
                .policy_arn(arn)
                .version_id(id)
                .send()
        })
        .await
        .map(|_| ())
    }
}

#[async_trait]
impl ReadByKey for IamPolicy {
    const KEYS: &'static [&'static str] = &["arn", "id"];

    async fn read_one(
        &self,
        p: &AwsProvider,
        arn: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        Ok(get_policy(p, arn)
            .await?
            .map(|r| self.to_value(p, &r, prior)))
    }
}

#[async_trait]
impl ResourceType for IamPolicy {
    fn tag_listed(&self) -> Option<&dyn TagListed> {
        Some(self)
    }

    fn name(&self) -> &'static str {
        POLICY
    }

    fn schema(&self) -> Schema {
        schema_name_attrs(
            Schema::new()
                .attrs(
                    &["id", "arn", "policy_id"],
                    Attribute::computed(AttrType::String),
                )
                .attr(
                    "path",
                    Attribute::optional(AttrType::String)
                        .default("/")
                        .force_new(),
                )
                .attr(
                    "description",
                    Attribute::optional(AttrType::String).force_new(),
                )
                .attr("policy", Attribute::required(AttrType::String)),
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
        let mut planned = default_plan(p, &p.resource_schema(POLICY), prior, config, ctx);
        keep_same_json(&mut planned, prior, config, "policy");
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        self.read_keyed(p, prior).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let name = new_name(planned, &ctx.idempotency_token);
        let tags = iam_tags(&create_tags(&p.default_tags, planned, &ctx.resource))?;
        let doc = get_str(planned, "policy").unwrap_or_default();
        let out = p
            .call("iam:CreatePolicy", || {
                p.iam
                    .create_policy()
                    .policy_name(&name)
                    .policy_document(&doc)
                    .set_path(get_str(planned, "path"))
                    .set_description(get_str(planned, "description"))
                    .set_tags(Some(tags.clone()))
                    .send()
            })
            .await
            .map_err(|e| match &e {
                ProviderError::Api { code, .. }
                | ProviderError::Conflict { code, .. }
                | ProviderError::InvalidArgument { code, .. }
                    if code == "EntityAlreadyExists" =>
                {
                    argument_error(e, "name")
                }
                _ => policy_error(e),
            })?;
        let arn = out
            .policy()
            .and_then(|x| x.arn())
            .unwrap_or_default()
            .to_string();
        self.read_one(p, &arn, Some(&with(planned, "name", name.as_str())))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!("IAM policy {arn} vanished after create"))
            })
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let arn = require_id(POLICY, prior)?;
        let (old, new) = (get_str(prior, "policy"), get_str(planned, "policy"));
        if let Some(doc) = &new
            && !old.as_deref().is_some_and(|o| json_equivalent(o, doc))
        {
            self.prune_versions(p, &arn).await?;
            p.call("iam:CreatePolicyVersion", || {
                p.iam
                    .create_policy_version()
                    .policy_arn(&arn)
                    .policy_document(doc)
                    .set_as_default(true)
                    .send()
            })
            .await
            .map_err(policy_error)?;
        }
        let arn = &arn;
        sync_iam_tags!(
            p,
            prior,
            planned,
            "Policy",
            tag_policy / untag_policy,
            policy_arn(arn)
        )?;
        self.read_one(p, arn, Some(planned))
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("IAM policy {arn} disappeared")))
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let arn = require_id(POLICY, prior)?;
        // Non-default versions first: a policy with versions cannot be deleted.
        match p
            .call("iam:ListPolicyVersions", || {
                p.iam.list_policy_versions().policy_arn(&arn).send()
            })
            .await
        {
            Ok(out) => {
                for v in out.versions().iter().filter(|v| !v.is_default_version()) {
                    let id = v.version_id().unwrap_or_default();
                    match p
                        .call("iam:DeletePolicyVersion", || {
                            p.iam
                                .delete_policy_version()
                                .policy_arn(&arn)
                                .version_id(id)
                                .send()
                        })
                        .await
                    {
                        Err(e) if !is_not_found(&e) => return Err(e),
                        _ => {}
                    }
                }
            }
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
        match p
            .call("iam:DeletePolicy", || {
                p.iam.delete_policy().policy_arn(&arn).send()
            })
            .await
        {
            Err(e) if !is_not_found(&e) => Err(e),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------
// aws_iam_role_policy
// ---------------------------------------------------------------------------

/// `(role, name)` of an inline policy: from the attributes, else the ID
/// `role:name`.
fn role_policy_key(v: &Value) -> Option<(String, String)> {
    if let (Some(r), Some(n)) = (get_str(v, "role"), get_str(v, "name")) {
        return Some((r, n));
    }
    let id = get_str(v, "id")?;
    let (r, n) = id.split_once(':')?;
    (!r.is_empty() && !n.is_empty()).then(|| (r.to_string(), n.to_string()))
}

impl IamRolePolicy {
    async fn read_key(
        &self,
        p: &AwsProvider,
        role: &str,
        name: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let out = match p
            .call("iam:GetRolePolicy", || {
                p.iam
                    .get_role_policy()
                    .role_name(role)
                    .policy_name(name)
                    .send()
            })
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(
            Obj::new(&p.resource_schema(ROLE_POLICY))
                .keep(prior, &["name_prefix"])
                .set("id", format!("{role}:{name}"))
                .set("role", out.role_name())
                .set("name", out.policy_name())
                .set(
                    "policy",
                    stored_policy(Some(out.policy_document()), prior, "policy"),
                )
                .build(),
        ))
    }

    async fn put(&self, p: &AwsProvider, role: &str, name: &str, doc: &str) -> Result<()> {
        p.call("iam:PutRolePolicy", || {
            p.iam
                .put_role_policy()
                .role_name(role)
                .policy_name(name)
                .policy_document(doc)
                .send()
        })
        .await
        .map(|_| ())
        .map_err(|e| match e {
            ProviderError::NotFound(message) => ProviderError::InvalidArgument {
                path: Some(vec![PathStep::Key("role".into())]),
                code: "NoSuchEntity".into(),
                message,
            },
            e => policy_error(e),
        })
    }
}

#[async_trait]
impl ResourceType for IamRolePolicy {
    fn name(&self) -> &'static str {
        ROLE_POLICY
    }

    fn schema(&self) -> Schema {
        schema_name_attrs(
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("role", Attribute::required(AttrType::String).force_new())
                .attr("policy", Attribute::required(AttrType::String)),
        )
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
        let mut planned = default_plan(p, &p.resource_schema(ROLE_POLICY), prior, config, ctx);
        keep_same_json(&mut planned, prior, config, "policy");
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        read_each(prior.to_vec(), |pv| async move {
            let Some((role, name)) = role_policy_key(&pv) else {
                return Ok(None);
            };
            self.read_key(p, &role, &name, Some(&pv)).await
        })
        .await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let stub = Value::map([("id", Value::from(id))]);
        let Some((role, name)) = role_policy_key(&stub) else {
            return Err(bad_import_id(id, "<role-name>:<policy-name>"));
        };
        self.read_key(p, &role, &name, None).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let name = new_name(planned, &ctx.idempotency_token);
        let role = get_str(planned, "role").unwrap_or_default();
        let doc = get_str(planned, "policy").unwrap_or_default();
        self.put(p, &role, &name, &doc).await?;
        let planned = with(planned, "name", name.as_str());
        self.read_key(p, &role, &name, Some(&planned))
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("role policy {role}:{name} vanished")))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let (role, name) = role_policy_key(prior).unwrap_or_default();
        let doc = get_str(planned, "policy").unwrap_or_default();
        self.put(p, &role, &name, &doc).await?;
        self.read_key(p, &role, &name, Some(planned))
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("role policy {role}:{name} vanished")))
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let Some((role, name)) = role_policy_key(prior) else {
            return Ok(());
        };
        match p
            .call("iam:DeleteRolePolicy", || {
                p.iam
                    .delete_role_policy()
                    .role_name(&role)
                    .policy_name(&name)
                    .send()
            })
            .await
        {
            Err(e) if !is_not_found(&e) => Err(e),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------
// aws_iam_openid_connect_provider
// ---------------------------------------------------------------------------

/// IAM reports the URL without its scheme; a configured `https://…` that
/// names the same provider is kept as written.
fn same_url(a: &str, b: &str) -> bool {
    let strip = |s: &str| {
        s.trim_start_matches("https://")
            .trim_end_matches('/')
            .to_string()
    };
    strip(a) == strip(b)
}

#[async_trait]
impl TagListed for OidcProvider {
    async fn read_matching(&self, p: &AwsProvider, keep: TagFilter<'_>) -> Result<Vec<Value>> {
        let out = p
            .call("iam:ListOpenIDConnectProviders", || {
                p.iam.list_open_id_connect_providers().send()
            })
            .await?;
        let arns: Vec<String> = out
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|e| e.arn().map(str::to_string))
            .collect();
        let found = read_each(arns, |a| async move { self.read_one(p, &a, None).await }).await?;
        Ok(found
            .into_iter()
            .flatten()
            .filter(|v| keep(&value_tags(v)))
            .collect())
    }
}

fn value_tags(v: &Value) -> TagMap {
    crate::values::value_to_str_map(v.get("tags_all").unwrap_or(&Value::Null))
}

#[async_trait]
impl ReadByKey for OidcProvider {
    const KEYS: &'static [&'static str] = &["arn", "id"];

    async fn read_one(
        &self,
        p: &AwsProvider,
        arn: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        if arn.is_empty() {
            return Ok(None);
        }
        let out = match p
            .call("iam:GetOpenIDConnectProvider", || {
                p.iam
                    .get_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .send()
            })
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let api_url = out.url().unwrap_or_default().to_string();
        let url = match prior.and_then(|pv| get_str(pv, "url")) {
            Some(old) if same_url(&old, &api_url) => old,
            _ => format!("https://{}", api_url.trim_start_matches("https://")),
        };
        let (tags, tags_all) = tags_from_api(&tag_map(out.tags()), prior, &p.default_tags);
        Ok(Some(
            Obj::new(&p.resource_schema(OIDC))
                .set("id", arn)
                .set("arn", arn)
                .set("url", url)
                .set("client_id_list", str_set(out.client_id_list().to_vec()))
                .set("thumbprint_list", str_list(out.thumbprint_list().to_vec()))
                .set("tags", tags)
                .set("tags_all", tags_all)
                .build(),
        ))
    }
}

#[async_trait]
impl ResourceType for OidcProvider {
    fn tag_listed(&self) -> Option<&dyn TagListed> {
        Some(self)
    }

    fn name(&self) -> &'static str {
        OIDC
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(&["id", "arn"], Attribute::computed(AttrType::String))
            .attr("url", Attribute::required(AttrType::String).force_new())
            .attr(
                "client_id_list",
                Attribute::required(AttrType::set_of(AttrType::String)),
            )
            .attr(
                "thumbprint_list",
                Attribute::optional_computed(AttrType::list_of(AttrType::String)),
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
        let mut config = config.clone();
        if let (Some(old), Some(new)) = (
            prior.and_then(|pv| get_str(pv, "url")),
            get_str(&config, "url"),
        ) && same_url(&old, &new)
        {
            config = with(&config, "url", old);
        }
        Ok(default_plan(
            p,
            &p.resource_schema(OIDC),
            prior,
            &config,
            ctx,
        ))
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        self.read_keyed(p, prior).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = iam_tags(&create_tags(&p.default_tags, planned, &ctx.resource))?;
        let url = get_str(planned, "url").unwrap_or_default();
        let thumbprints = get_strings(planned, "thumbprint_list");
        let out = p
            .call("iam:CreateOpenIDConnectProvider", || {
                p.iam
                    .create_open_id_connect_provider()
                    .url(&url)
                    .set_client_id_list(Some(get_strings(planned, "client_id_list")))
                    .set_thumbprint_list((!thumbprints.is_empty()).then(|| thumbprints.clone()))
                    .set_tags(Some(tags.clone()))
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "url"))?;
        let arn = out
            .open_id_connect_provider_arn()
            .unwrap_or_default()
            .to_string();
        self.read_one(p, &arn, Some(planned))
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("OIDC provider {arn} vanished")))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let arn = require_id(OIDC, prior)?;
        let old: Vec<String> = get_strings(prior, "client_id_list");
        let new: Vec<String> = get_strings(planned, "client_id_list");
        for c in new.iter().filter(|c| !old.contains(c)) {
            p.call("iam:AddClientIDToOpenIDConnectProvider", || {
                p.iam
                    .add_client_id_to_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .client_id(c)
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "client_id_list"))?;
        }
        for c in old.iter().filter(|c| !new.contains(c)) {
            p.call("iam:RemoveClientIDFromOpenIDConnectProvider", || {
                p.iam
                    .remove_client_id_from_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .client_id(c)
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "client_id_list"))?;
        }
        let thumbs = get_strings(planned, "thumbprint_list");
        if get_strings(prior, "thumbprint_list") != thumbs && !thumbs.is_empty() {
            p.call("iam:UpdateOpenIDConnectProviderThumbprint", || {
                p.iam
                    .update_open_id_connect_provider_thumbprint()
                    .open_id_connect_provider_arn(&arn)
                    .set_thumbprint_list(Some(thumbs.clone()))
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "thumbprint_list"))?;
        }
        let arn = &arn;
        sync_iam_tags!(
            p,
            prior,
            planned,
            "OpenIDConnectProvider",
            tag_open_id_connect_provider / untag_open_id_connect_provider,
            open_id_connect_provider_arn(arn)
        )?;
        self.read_one(p, arn, Some(planned))
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("OIDC provider {arn} disappeared")))
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let arn = require_id(OIDC, prior)?;
        match p
            .call("iam:DeleteOpenIDConnectProvider", || {
                p.iam
                    .delete_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .send()
            })
            .await
        {
            Err(e) if !is_not_found(&e) => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_policy_ids_parse() {
        let v = Value::map([("id", Value::from("my-role:my-policy"))]);
        assert_eq!(
            role_policy_key(&v),
            Some(("my-role".into(), "my-policy".into()))
        );
        assert_eq!(
            role_policy_key(&Value::map([("id", Value::from("x"))])),
            None
        );
        assert_eq!(
            role_policy_key(&Value::map([("id", Value::from(":x"))])),
            None
        );
    }

    #[test]
    fn oidc_urls_compare_without_scheme() {
        assert!(same_url(
            "https://oidc.example.com/id/1",
            "oidc.example.com/id/1"
        ));
        assert!(!same_url("https://a.example.com", "b.example.com"));
    }
}
