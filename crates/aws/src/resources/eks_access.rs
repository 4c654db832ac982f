//! The per-cluster EKS objects: `aws_eks_addon`, `aws_eks_access_entry`,
//! `aws_eks_access_policy_association` and `aws_eks_pod_identity_association`.
//!
//! None of them has a batched describe: reads make one `Describe*` per
//! object, a few in flight. Ownership lookups (crash recovery, unmanaged
//! objects) list the objects of every cluster and keep those whose tags
//! name this environment; the policy association carries no tags and
//! writes its own reads.

use super::eks::{
    DELETE_TIMEOUT, EksCluster, from_hash, hash_tags, ok_if_gone, request_token, sync_tags,
    unimplemented_as_unsupported,
};
use super::iam::read_each;
use super::listed::{TagFilter, TagListed};
use super::{ResourceType, bad_import_id, default_plan, wait_for};
use crate::Result;
use crate::api::{at_path, is_not_found};
use crate::provider::AwsProvider;
use crate::resources::InPlace;
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, tags_from_api};
use crate::values::{Obj, first_block, get_bool, get_str, get_strings, opt_str, str_set};
use async_trait::async_trait;
use aws_sdk_eks::types::{
    AccessEntry, AccessScope, AccessScopeType, Addon, AddonStatus, AssociatedAccessPolicy,
    PodIdentityAssociation, ResolveConflicts,
};
use std::time::Duration;
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct EksAddon;
pub(crate) struct EksAccessEntry;
pub(crate) struct EksAccessPolicyAssociation;
pub(crate) struct EksPodIdentityAssociation;

const ADDON: &str = "aws_eks_addon";
const ACCESS_ENTRY: &str = "aws_eks_access_entry";
const POLICY_ASSOCIATION: &str = "aws_eks_access_policy_association";
const POD_IDENTITY: &str = "aws_eks_pod_identity_association";

const ADDON_POLL: Duration = Duration::from_secs(2);
const ADDON_UPDATE_TIMEOUT: Duration = Duration::from_secs(20 * 60);

fn time(d: Option<&aws_smithy_types::DateTime>) -> Value {
    d.map(|d| Value::from(d.to_string())).unwrap_or(Value::Null)
}

fn missing_id(type_name: &str) -> ProviderError {
    ProviderError::Api {
        code: "MissingId".into(),
        message: format!("{type_name} has no id in state"),
    }
}

/// Not found → `None`; other errors pass.
fn found<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A missing cluster on create is a configuration error at `cluster_name`.
fn create_error(e: ProviderError, what: &str) -> ProviderError {
    match e {
        ProviderError::NotFound(m) => ProviderError::InvalidArgument {
            path: Some(vec![PathStep::Key("cluster_name".into())]),
            code: "ResourceNotFoundException".into(),
            message: m,
        },
        ProviderError::Conflict { code, message } if code == "ResourceInUseException" => {
            ProviderError::InvalidArgument {
                path: None,
                code,
                message: format!("{what} already exists: {message}"),
            }
        }
        other => other,
    }
}

/// `cluster` plus the second part of a `cluster<sep>rest` ID.
fn split_id(v: &Value, sep: char) -> Option<(String, String)> {
    let id = get_str(v, "id")?;
    let (c, r) = id.split_once(sep)?;
    Some((c.to_string(), r.to_string()))
}

/// The shape the tagged per-cluster objects share (add-ons, access entries,
/// pod identity associations): found by cluster and key, listed cluster by
/// cluster. A type writes its describe, its list page and its mapping; reads,
/// imports and listing by tags come from the provided methods.
#[async_trait]
trait ClusterChild: Send + Sync {
    type Object: Send + Sync;
    /// The state attribute holding the key beside `cluster_name`.
    const KEY: &'static str;
    /// Between cluster and key in the ID and the import ID.
    const SEP: char;
    /// The import ID's format, for the error on a malformed one.
    const IMPORT_FORMAT: &'static str;

    async fn get(&self, p: &AwsProvider, cluster: &str, key: &str) -> Result<Option<Self::Object>>;

    /// One page of the keys in `cluster`; `None` when the cluster is gone.
    async fn list_page(
        &self,
        p: &AwsProvider,
        cluster: &str,
        token: Option<String>,
    ) -> Result<Option<(Vec<String>, Option<String>)>>;

    fn to_value(&self, p: &AwsProvider, o: &Self::Object, prior: Option<&Value>) -> Value;

    fn tags(o: &Self::Object) -> TagMap;

    /// Cluster and key of a state object: its attributes, else its ID.
    fn key_of(v: &Value) -> Option<(String, String)> {
        match (get_str(v, "cluster_name"), get_str(v, Self::KEY)) {
            (Some(c), Some(k)) => Some((c, k)),
            _ => split_id(v, Self::SEP),
        }
    }

    /// Whether an import ID's key part is well formed.
    fn valid_key(key: &str) -> bool {
        !key.is_empty()
    }

    async fn read_one(
        &self,
        p: &AwsProvider,
        cluster: &str,
        key: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        Ok(self
            .get(p, cluster, key)
            .await?
            .map(|o| self.to_value(p, &o, prior)))
    }

    /// `read_many`: each prior by its cluster and key.
    async fn read_children(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        read_each(prior.to_vec(), |pv| async move {
            let Some((c, k)) = Self::key_of(&pv) else {
                return Ok(None);
            };
            self.read_one(p, &c, &k, Some(&pv)).await
        })
        .await
    }

    async fn import_child(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let (c, k) = id
            .split_once(Self::SEP)
            .filter(|(_, k)| Self::valid_key(k))
            .ok_or_else(|| bad_import_id(id, Self::IMPORT_FORMAT))?;
        self.read_one(p, c, k, None).await
    }

    /// `TagListed::read_matching`: every object of every cluster whose
    /// tags `keep` accepts.
    async fn list_children(&self, p: &AwsProvider, keep: TagFilter<'_>) -> Result<Vec<Value>> {
        let mut pairs = Vec::new();
        for c in EksCluster.all_names(p).await? {
            let mut token: Option<String> = None;
            while let Some((keys, next)) = self.list_page(p, &c, token.take()).await? {
                pairs.extend(keys.into_iter().map(|k| (c.clone(), k)));
                match next {
                    Some(t) if !t.is_empty() => token = Some(t),
                    _ => break,
                }
            }
        }
        let all = read_each(pairs, |(c, k)| async move { self.get(p, &c, &k).await }).await?;
        Ok(all
            .into_iter()
            .flatten()
            .filter(|o| keep(&Self::tags(o)))
            .map(|o| self.to_value(p, &o, None))
            .collect())
    }
}

// ---------------------------------------------------------------------------
// aws_eks_addon
// ---------------------------------------------------------------------------

#[async_trait]
impl ClusterChild for EksAddon {
    type Object = Addon;
    const KEY: &'static str = "addon_name";
    const SEP: char = ':';
    const IMPORT_FORMAT: &'static str = "<cluster-name>:<addon-name>";

    async fn get(&self, p: &AwsProvider, cluster: &str, name: &str) -> Result<Option<Addon>> {
        Ok(found(
            p.call("eks:DescribeAddon", || {
                p.eks
                    .describe_addon()
                    .cluster_name(cluster)
                    .addon_name(name)
                    .send()
            })
            .await,
        )?
        .and_then(|o| o.addon().cloned()))
    }

    fn to_value(&self, p: &AwsProvider, a: &Addon, prior: Option<&Value>) -> Value {
        let cluster = a.cluster_name().unwrap_or_default();
        let name = a.addon_name().unwrap_or_default();
        let (tags, tags_all) = tags_from_api(&from_hash(a.tags()), prior, &p.default_tags);
        Obj::new(&p.resource_schema(ADDON))
            .set("id", format!("{cluster}:{name}"))
            .set("cluster_name", cluster)
            .set("addon_name", name)
            .set("arn", opt_str(a.addon_arn()))
            .set("addon_version", opt_str(a.addon_version()))
            .set(
                "service_account_role_arn",
                opt_str(a.service_account_role_arn()),
            )
            .set(
                "configuration_values",
                opt_str(a.configuration_values().filter(|c| !c.is_empty())),
            )
            .set("created_at", time(a.created_at()))
            .set("modified_at", time(a.modified_at()))
            .set("tags", tags)
            .set("tags_all", tags_all)
            // What the API does not report: how conflicts were resolved and
            // whether a delete keeps the software.
            .keep(
                prior,
                &[
                    "resolve_conflicts_on_create",
                    "resolve_conflicts_on_update",
                    "preserve",
                ],
            )
            .build()
    }

    async fn list_page(
        &self,
        p: &AwsProvider,
        cluster: &str,
        token: Option<String>,
    ) -> Result<Option<(Vec<String>, Option<String>)>> {
        Ok(found(
            p.call("eks:ListAddons", || {
                p.eks
                    .list_addons()
                    .cluster_name(cluster)
                    .set_next_token(token.clone())
                    .send()
            })
            .await,
        )?
        .map(|page| {
            (
                page.addons().to_vec(),
                page.next_token().map(str::to_string),
            )
        }))
    }

    fn tags(a: &Addon) -> TagMap {
        from_hash(a.tags())
    }
}

impl EksAddon {
    async fn wait_active(
        &self,
        p: &AwsProvider,
        cluster: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<Addon> {
        wait_for(
            &format!("EKS add-on {cluster}:{name} to become ACTIVE"),
            timeout,
            ADDON_POLL,
            || async {
                let Some(a) = self.get(p, cluster, name).await? else {
                    return Err(ProviderError::NotFound(format!(
                        "EKS add-on {cluster}:{name} disappeared while waiting"
                    )));
                };
                match a.status() {
                    Some(AddonStatus::Active) | None => Ok(Some(a)),
                    Some(s @ (AddonStatus::CreateFailed | AddonStatus::Degraded)) => {
                        let issues: Vec<String> = a
                            .health()
                            .map(|h| {
                                h.issues()
                                    .iter()
                                    .filter_map(|i| i.message().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default();
                        Err(ProviderError::Api {
                            code: "AddonFailed".into(),
                            message: format!(
                                "EKS add-on {cluster}:{name} is in status {}{}",
                                s.as_str(),
                                if issues.is_empty() {
                                    String::new()
                                } else {
                                    format!(": {}", issues.join("; "))
                                }
                            ),
                        })
                    }
                    _ => Ok(None),
                }
            },
        )
        .await
    }
}

#[async_trait]
impl TagListed for EksAddon {
    async fn read_matching(&self, p: &AwsProvider, keep: TagFilter<'_>) -> Result<Vec<Value>> {
        self.list_children(p, keep).await
    }
}

fn resolve(planned: &Value, key: &str) -> Option<ResolveConflicts> {
    get_str(planned, key).map(|r| ResolveConflicts::from(r.as_str()))
}

#[async_trait]
impl ResourceType for EksAddon {
    fn name(&self) -> &'static str {
        ADDON
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "arn", "created_at", "modified_at"],
                Attribute::computed(AttrType::String),
            )
            .attrs(
                &["cluster_name", "addon_name"],
                Attribute::required(AttrType::String).force_new(),
            )
            .attrs(
                &["addon_version", "configuration_values"],
                Attribute::optional_computed(AttrType::String),
            )
            .attrs(
                &[
                    "service_account_role_arn",
                    "resolve_conflicts_on_create",
                    "resolve_conflicts_on_update",
                ],
                Attribute::optional(AttrType::String),
            )
            .attr("preserve", Attribute::optional(AttrType::Bool))
            .tagged()
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        for (key, allowed) in [
            ("resolve_conflicts_on_create", &["NONE", "OVERWRITE"][..]),
            (
                "resolve_conflicts_on_update",
                &["NONE", "OVERWRITE", "PRESERVE"][..],
            ),
        ] {
            if let Some(v) = config.get(key).and_then(Value::as_str)
                && !allowed.contains(&v)
            {
                return Err(ProviderError::InvalidArgument {
                    path: Some(vec![PathStep::Key(key.into())]),
                    code: "InvalidValue".into(),
                    message: format!("{key} must be one of {}, got {v:?}", allowed.join(", ")),
                });
            }
        }
        let mut planned = default_plan(p, &p.resource_schema(ADDON), prior, config, ctx);
        if let Some(m) = planned.planned.as_map_mut() {
            if let (Some(Value::String(c)), Some(Value::String(n))) =
                (m.get("cluster_name"), m.get("addon_name"))
            {
                let id = Value::from(format!("{c}:{n}"));
                m.insert("id".into(), id);
            }
            // Any change makes a new modification time.
            if prior.is_some_and(|pv| {
                [
                    "addon_version",
                    "configuration_values",
                    "service_account_role_arn",
                ]
                .iter()
                .any(|k| pv.get(k) != m.get(*k))
            }) {
                m.insert("modified_at".into(), Value::Unknown);
            }
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        self.read_children(p, prior).await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        self.import_child(p, id).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let cluster = get_str(planned, "cluster_name").unwrap_or_default();
        let name = get_str(planned, "addon_name").unwrap_or_default();
        let tags = hash_tags(&create_tags(&p.default_tags, planned, &ctx.resource));
        let token = request_token(&ctx.idempotency_token);
        p.call("eks:CreateAddon", || {
            p.eks
                .create_addon()
                .cluster_name(&cluster)
                .addon_name(&name)
                .set_addon_version(get_str(planned, "addon_version"))
                .set_service_account_role_arn(get_str(planned, "service_account_role_arn"))
                .set_configuration_values(get_str(planned, "configuration_values"))
                .set_resolve_conflicts(resolve(planned, "resolve_conflicts_on_create"))
                .set_tags(Some(tags.clone()))
                .client_request_token(&token)
                .send()
        })
        .await
        .map_err(|e| at_path(create_error(e, "the add-on"), "addon_version"))?;
        let a = self.wait_active(p, &cluster, &name, ctx.timeout).await?;
        Ok(self.to_value(p, &a, Some(planned)))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let (cluster, name) = EksAddon::key_of(prior).ok_or_else(|| missing_id(ADDON))?;
        let changed = |k: &str| {
            planned.get(k).is_some_and(|v| !v.is_unknown()) && prior.get(k) != planned.get(k)
        };
        let version = changed("addon_version")
            .then(|| get_str(planned, "addon_version"))
            .flatten();
        // An empty string clears a value that was set.
        let cleared = |k: &str| changed(k).then(|| get_str(planned, k).unwrap_or_default());
        let role = cleared("service_account_role_arn");
        let values = cleared("configuration_values");
        if version.is_some() || role.is_some() || values.is_some() {
            p.call("eks:UpdateAddon", || {
                p.eks
                    .update_addon()
                    .cluster_name(&cluster)
                    .addon_name(&name)
                    .set_addon_version(version.clone())
                    .set_service_account_role_arn(role.clone())
                    .set_configuration_values(values.clone())
                    .set_resolve_conflicts(resolve(planned, "resolve_conflicts_on_update"))
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "addon_version"))?;
            self.wait_active(p, &cluster, &name, ADDON_UPDATE_TIMEOUT)
                .await?;
        }
        if let Some(arn) = get_str(prior, "arn") {
            sync_tags(p, &arn, prior, planned).await?;
        }
        self.read_one(p, &cluster, &name, Some(planned))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!(
                    "EKS add-on {cluster}:{name} disappeared during update"
                ))
            })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let Some((cluster, name)) = EksAddon::key_of(prior) else {
            return Ok(());
        };
        ok_if_gone(
            p.call("eks:DeleteAddon", || {
                p.eks
                    .delete_addon()
                    .cluster_name(&cluster)
                    .addon_name(&name)
                    .set_preserve(get_bool(prior, "preserve"))
                    .send()
            })
            .await
            .map(|_| ()),
        )
        .await?;
        wait_for(
            &format!("EKS add-on {cluster}:{name} deletion"),
            DELETE_TIMEOUT,
            ADDON_POLL,
            || async { Ok(self.get(p, &cluster, &name).await?.is_none().then_some(())) },
        )
        .await
    }

    fn tag_listed(&self) -> Option<&dyn TagListed> {
        Some(self)
    }
}

// ---------------------------------------------------------------------------
// aws_eks_access_entry
// ---------------------------------------------------------------------------

#[async_trait]
impl ClusterChild for EksAccessEntry {
    type Object = AccessEntry;
    const KEY: &'static str = "principal_arn";
    const SEP: char = ':';
    const IMPORT_FORMAT: &'static str = "<cluster-name>:<principal-arn>";

    fn valid_key(key: &str) -> bool {
        key.starts_with("arn:")
    }

    async fn get(
        &self,
        p: &AwsProvider,
        cluster: &str,
        principal: &str,
    ) -> Result<Option<AccessEntry>> {
        Ok(found(
            p.call("eks:DescribeAccessEntry", || {
                p.eks
                    .describe_access_entry()
                    .cluster_name(cluster)
                    .principal_arn(principal)
                    .send()
            })
            .await,
        )?
        .and_then(|o| o.access_entry().cloned()))
    }

    fn to_value(&self, p: &AwsProvider, e: &AccessEntry, prior: Option<&Value>) -> Value {
        let cluster = e.cluster_name().unwrap_or_default();
        let principal = e.principal_arn().unwrap_or_default();
        let (tags, tags_all) = tags_from_api(&from_hash(e.tags()), prior, &p.default_tags);
        Obj::new(&p.resource_schema(ACCESS_ENTRY))
            .set("id", format!("{cluster}:{principal}"))
            .set("cluster_name", cluster)
            .set("principal_arn", principal)
            .set("access_entry_arn", opt_str(e.access_entry_arn()))
            .set("kubernetes_groups", str_set(e.kubernetes_groups().to_vec()))
            .set("type", opt_str(e.r#type()))
            .set("user_name", opt_str(e.username()))
            .set("created_at", time(e.created_at()))
            .set("modified_at", time(e.modified_at()))
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }

    async fn list_page(
        &self,
        p: &AwsProvider,
        cluster: &str,
        token: Option<String>,
    ) -> Result<Option<(Vec<String>, Option<String>)>> {
        Ok(found(
            p.call("eks:ListAccessEntries", || {
                p.eks
                    .list_access_entries()
                    .cluster_name(cluster)
                    .set_next_token(token.clone())
                    .send()
            })
            .await,
        )?
        .map(|page| {
            let next = page.next_token().map(str::to_string);
            (page.access_entries().to_vec(), next)
        }))
    }

    fn tags(e: &AccessEntry) -> TagMap {
        from_hash(e.tags())
    }
}

#[async_trait]
impl TagListed for EksAccessEntry {
    async fn read_matching(&self, p: &AwsProvider, keep: TagFilter<'_>) -> Result<Vec<Value>> {
        self.list_children(p, keep).await
    }
}

#[async_trait]
impl ResourceType for EksAccessEntry {
    fn name(&self) -> &'static str {
        ACCESS_ENTRY
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "access_entry_arn", "created_at", "modified_at"],
                Attribute::computed(AttrType::String),
            )
            .attrs(
                &["cluster_name", "principal_arn"],
                Attribute::required(AttrType::String).force_new(),
            )
            .attr(
                "kubernetes_groups",
                Attribute::optional_computed(AttrType::set_of(AttrType::String)),
            )
            .attr(
                "type",
                Attribute::optional(AttrType::String)
                    .default("STANDARD")
                    .force_new(),
            )
            .attr("user_name", Attribute::optional_computed(AttrType::String))
            .tagged()
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let mut planned = default_plan(p, &p.resource_schema(ACCESS_ENTRY), prior, config, ctx);
        if let Some(m) = planned.planned.as_map_mut() {
            if let (Some(Value::String(c)), Some(Value::String(a))) =
                (m.get("cluster_name"), m.get("principal_arn"))
            {
                let id = Value::from(format!("{c}:{a}"));
                m.insert("id".into(), id);
            }
            if prior.is_some_and(|pv| {
                ["kubernetes_groups", "user_name"]
                    .iter()
                    .any(|k| pv.get(k) != m.get(*k))
            }) {
                m.insert("modified_at".into(), Value::Unknown);
            }
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        self.read_children(p, prior).await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        self.import_child(p, id).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let cluster = get_str(planned, "cluster_name").unwrap_or_default();
        let principal = get_str(planned, "principal_arn").unwrap_or_default();
        let tags = hash_tags(&create_tags(&p.default_tags, planned, &ctx.resource));
        let groups = get_strings(planned, "kubernetes_groups");
        let token = request_token(&ctx.idempotency_token);
        let out = p
            .call("eks:CreateAccessEntry", || {
                p.eks
                    .create_access_entry()
                    .cluster_name(&cluster)
                    .principal_arn(&principal)
                    .set_kubernetes_groups((!groups.is_empty()).then(|| groups.clone()))
                    .set_username(get_str(planned, "user_name"))
                    .set_type(get_str(planned, "type"))
                    .set_tags(Some(tags.clone()))
                    .client_request_token(&token)
                    .send()
            })
            .await
            .map_err(|e| at_path(create_error(e, "the access entry"), "principal_arn"))?;
        match out.access_entry() {
            Some(e) => Ok(self.to_value(p, e, Some(planned))),
            None => self
                .read_one(p, &cluster, &principal, Some(planned))
                .await?
                .ok_or_else(|| {
                    ProviderError::NotFound(format!(
                        "EKS access entry {cluster}:{principal} not found after create"
                    ))
                }),
        }
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let (cluster, principal) =
            EksAccessEntry::key_of(prior).ok_or_else(|| missing_id(ACCESS_ENTRY))?;
        let changed = |k: &str| {
            planned.get(k).is_some_and(|v| !v.is_unknown()) && prior.get(k) != planned.get(k)
        };
        if changed("kubernetes_groups") || changed("user_name") {
            let groups = get_strings(planned, "kubernetes_groups");
            p.call("eks:UpdateAccessEntry", || {
                p.eks
                    .update_access_entry()
                    .cluster_name(&cluster)
                    .principal_arn(&principal)
                    .set_kubernetes_groups(changed("kubernetes_groups").then(|| groups.clone()))
                    .set_username(
                        changed("user_name")
                            .then(|| get_str(planned, "user_name"))
                            .flatten(),
                    )
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "kubernetes_groups"))?;
        }
        if let Some(arn) = get_str(prior, "access_entry_arn") {
            sync_tags(p, &arn, prior, planned).await?;
        }
        self.read_one(p, &cluster, &principal, Some(planned))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!(
                    "EKS access entry {cluster}:{principal} disappeared during update"
                ))
            })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let Some((cluster, principal)) = EksAccessEntry::key_of(prior) else {
            return Ok(());
        };
        ok_if_gone(
            p.call("eks:DeleteAccessEntry", || {
                p.eks
                    .delete_access_entry()
                    .cluster_name(&cluster)
                    .principal_arn(&principal)
                    .send()
            })
            .await
            .map(|_| ()),
        )
        .await
    }

    fn tag_listed(&self) -> Option<&dyn TagListed> {
        Some(self)
    }
}

// ---------------------------------------------------------------------------
// aws_eks_access_policy_association
// ---------------------------------------------------------------------------

/// `cluster#principal#policy` (Terraform's ID form).
fn association_key(v: &Value) -> Option<(String, String, String)> {
    if let (Some(c), Some(a), Some(pol)) = (
        get_str(v, "cluster_name"),
        get_str(v, "principal_arn"),
        get_str(v, "policy_arn"),
    ) {
        return Some((c, a, pol));
    }
    parse_association_id(&get_str(v, "id")?)
}

fn parse_association_id(id: &str) -> Option<(String, String, String)> {
    let mut parts = id.splitn(3, '#');
    let (c, a, pol) = (parts.next()?, parts.next()?, parts.next()?);
    (!c.is_empty() && a.starts_with("arn:") && pol.starts_with("arn:"))
        .then(|| (c.to_string(), a.to_string(), pol.to_string()))
}

impl EksAccessPolicyAssociation {
    async fn get(
        &self,
        p: &AwsProvider,
        cluster: &str,
        principal: &str,
        policy: &str,
    ) -> Result<Option<AssociatedAccessPolicy>> {
        let mut token: Option<String> = None;
        loop {
            let Some(page) = found(
                p.call("eks:ListAssociatedAccessPolicies", || {
                    p.eks
                        .list_associated_access_policies()
                        .cluster_name(cluster)
                        .principal_arn(principal)
                        .set_next_token(token.clone())
                        .send()
                })
                .await,
            )?
            else {
                return Ok(None);
            };
            if let Some(a) = page
                .associated_access_policies()
                .iter()
                .find(|a| a.policy_arn() == Some(policy))
            {
                return Ok(Some(a.clone()));
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(None),
            }
        }
    }

    fn to_value(
        &self,
        p: &AwsProvider,
        cluster: &str,
        principal: &str,
        a: &AssociatedAccessPolicy,
    ) -> Value {
        let policy = a.policy_arn().unwrap_or_default();
        let scope: Vec<Value> = a
            .access_scope()
            .map(|s| {
                Value::map([
                    ("type", opt_str(s.r#type().map(|t| t.as_str()))),
                    (
                        "namespaces",
                        if s.namespaces().is_empty() {
                            Value::Null
                        } else {
                            str_set(s.namespaces().to_vec())
                        },
                    ),
                ])
            })
            .into_iter()
            .collect();
        Obj::new(&p.resource_schema(POLICY_ASSOCIATION))
            .set("id", format!("{cluster}#{principal}#{policy}"))
            .set("cluster_name", cluster)
            .set("principal_arn", principal)
            .set("policy_arn", policy)
            .set("access_scope", Value::List(scope))
            .set("associated_at", time(a.associated_at()))
            .set("modified_at", time(a.modified_at()))
            .build()
    }

    async fn read_one(
        &self,
        p: &AwsProvider,
        key: &(String, String, String),
    ) -> Result<Option<Value>> {
        let (c, a, pol) = key;
        Ok(self
            .get(p, c, a, pol)
            .await?
            .map(|x| self.to_value(p, c, a, &x)))
    }
}

#[async_trait]
impl ResourceType for EksAccessPolicyAssociation {
    fn name(&self) -> &'static str {
        POLICY_ASSOCIATION
    }

    fn untagged(&self) -> bool {
        true
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "associated_at", "modified_at"],
                Attribute::computed(AttrType::String),
            )
            .attrs(
                &["cluster_name", "principal_arn", "policy_arn"],
                Attribute::required(AttrType::String).force_new(),
            )
            .list_block(
                "access_scope",
                1,
                1,
                Schema::new()
                    .attr("type", Attribute::required(AttrType::String).force_new())
                    .attr(
                        "namespaces",
                        Attribute::optional(AttrType::set_of(AttrType::String)).force_new(),
                    ),
            )
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        if let Some(t) = first_block(config, "access_scope")
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str)
            && !["cluster", "namespace"].contains(&t)
        {
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![
                    PathStep::Key("access_scope".into()),
                    PathStep::Index(0),
                    PathStep::Key("type".into()),
                ]),
                code: "InvalidValue".into(),
                message: format!(
                    "access_scope type must be \"cluster\" or \"namespace\", got {t:?}"
                ),
            });
        }
        let mut planned = default_plan(
            p,
            &p.resource_schema(POLICY_ASSOCIATION),
            prior,
            config,
            ctx,
        );
        if let Some(m) = planned.planned.as_map_mut()
            && let (Some(Value::String(c)), Some(Value::String(a)), Some(Value::String(pol))) = (
                m.get("cluster_name"),
                m.get("principal_arn"),
                m.get("policy_arn"),
            )
        {
            let id = Value::from(format!("{c}#{a}#{pol}"));
            m.insert("id".into(), id);
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        read_each(prior.to_vec(), |pv| async move {
            let Some(key) = association_key(&pv) else {
                return Ok(None);
            };
            self.read_one(p, &key).await
        })
        .await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let key = parse_association_id(id)
            .ok_or_else(|| bad_import_id(id, "<cluster-name>#<principal-arn>#<policy-arn>"))?;
        self.read_one(p, &key).await
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        let key = association_key(planned).ok_or_else(|| missing_id(POLICY_ASSOCIATION))?;
        let (cluster, principal, policy) = &key;
        let scope = first_block(planned, "access_scope");
        let namespaces = scope
            .map(|s| get_strings(s, "namespaces"))
            .unwrap_or_default();
        let scope = AccessScope::builder()
            .set_type(
                scope
                    .and_then(|s| get_str(s, "type"))
                    .map(|t| AccessScopeType::from(t.as_str())),
            )
            .set_namespaces((!namespaces.is_empty()).then_some(namespaces))
            .build();
        let out = p
            .call("eks:AssociateAccessPolicy", || {
                p.eks
                    .associate_access_policy()
                    .cluster_name(cluster)
                    .principal_arn(principal)
                    .policy_arn(policy)
                    .access_scope(scope.clone())
                    .send()
            })
            .await
            .map_err(|e| match e {
                ProviderError::NotFound(m) => ProviderError::InvalidArgument {
                    path: Some(vec![PathStep::Key("principal_arn".into())]),
                    code: "ResourceNotFoundException".into(),
                    message: format!(
                        "{m} (create the aws_eks_access_entry for this principal first)"
                    ),
                },
                other => at_path(other, "policy_arn"),
            })?;
        match out.associated_access_policy() {
            Some(a) => Ok(self.to_value(p, cluster, principal, a)),
            None => self.read_one(p, &key).await?.ok_or_else(|| {
                ProviderError::NotFound(format!(
                    "access policy {policy} of {principal} not found after create"
                ))
            }),
        }
    }

    fn in_place(&self) -> InPlace {
        InPlace::Nothing
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let Some((cluster, principal, policy)) = association_key(prior) else {
            return Ok(());
        };
        ok_if_gone(
            p.call("eks:DisassociateAccessPolicy", || {
                p.eks
                    .disassociate_access_policy()
                    .cluster_name(&cluster)
                    .principal_arn(&principal)
                    .policy_arn(&policy)
                    .send()
            })
            .await
            .map(|_| ()),
        )
        .await
    }
}

// ---------------------------------------------------------------------------
// aws_eks_pod_identity_association
// ---------------------------------------------------------------------------

#[async_trait]
impl ClusterChild for EksPodIdentityAssociation {
    type Object = PodIdentityAssociation;
    const KEY: &'static str = "association_id";
    const SEP: char = ',';
    const IMPORT_FORMAT: &'static str = "<cluster-name>,<association-id>";

    async fn get(
        &self,
        p: &AwsProvider,
        cluster: &str,
        id: &str,
    ) -> Result<Option<PodIdentityAssociation>> {
        Ok(found(
            p.call("eks:DescribePodIdentityAssociation", || {
                p.eks
                    .describe_pod_identity_association()
                    .cluster_name(cluster)
                    .association_id(id)
                    .send()
            })
            .await,
        )?
        .and_then(|o| o.association().cloned()))
    }

    fn to_value(
        &self,
        p: &AwsProvider,
        a: &PodIdentityAssociation,
        prior: Option<&Value>,
    ) -> Value {
        let (tags, tags_all) = tags_from_api(&from_hash(a.tags()), prior, &p.default_tags);
        Obj::new(&p.resource_schema(POD_IDENTITY))
            .set("id", opt_str(a.association_id()))
            .set("association_id", opt_str(a.association_id()))
            .set("association_arn", opt_str(a.association_arn()))
            .set("cluster_name", opt_str(a.cluster_name()))
            .set("namespace", opt_str(a.namespace()))
            .set("service_account", opt_str(a.service_account()))
            .set("role_arn", opt_str(a.role_arn()))
            .set("target_role_arn", opt_str(a.target_role_arn()))
            .set(
                "disable_session_tags",
                Value::Bool(a.disable_session_tags().unwrap_or(false)),
            )
            .set("external_id", opt_str(a.external_id()))
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }

    async fn list_page(
        &self,
        p: &AwsProvider,
        cluster: &str,
        token: Option<String>,
    ) -> Result<Option<(Vec<String>, Option<String>)>> {
        Ok(found(
            p.call("eks:ListPodIdentityAssociations", || {
                p.eks
                    .list_pod_identity_associations()
                    .cluster_name(cluster)
                    .set_next_token(token.clone())
                    .send()
            })
            .await,
        )?
        .map(|page| {
            let ids = page
                .associations()
                .iter()
                .filter_map(|a| a.association_id())
                .map(str::to_string)
                .collect();
            (ids, page.next_token().map(str::to_string))
        }))
    }

    fn tags(a: &PodIdentityAssociation) -> TagMap {
        from_hash(a.tags())
    }
}

#[async_trait]
impl TagListed for EksPodIdentityAssociation {
    async fn read_matching(&self, p: &AwsProvider, keep: TagFilter<'_>) -> Result<Vec<Value>> {
        self.list_children(p, keep).await
    }
}

#[async_trait]
impl ResourceType for EksPodIdentityAssociation {
    fn name(&self) -> &'static str {
        POD_IDENTITY
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "association_id", "association_arn", "external_id"],
                Attribute::computed(AttrType::String),
            )
            .attrs(
                &["cluster_name", "namespace", "service_account"],
                Attribute::required(AttrType::String).force_new(),
            )
            .attr("role_arn", Attribute::required(AttrType::String))
            .attr("target_role_arn", Attribute::optional(AttrType::String))
            .attr(
                "disable_session_tags",
                Attribute::optional_computed(AttrType::Bool),
            )
            .tagged()
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        self.read_children(p, prior).await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        self.import_child(p, id).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let cluster = get_str(planned, "cluster_name").unwrap_or_default();
        let tags = hash_tags(&create_tags(&p.default_tags, planned, &ctx.resource));
        let token = request_token(&ctx.idempotency_token);
        let out = p
            .call("eks:CreatePodIdentityAssociation", || {
                p.eks
                    .create_pod_identity_association()
                    .cluster_name(&cluster)
                    .set_namespace(get_str(planned, "namespace"))
                    .set_service_account(get_str(planned, "service_account"))
                    .set_role_arn(get_str(planned, "role_arn"))
                    .set_target_role_arn(get_str(planned, "target_role_arn"))
                    .set_disable_session_tags(get_bool(planned, "disable_session_tags"))
                    .set_tags(Some(tags.clone()))
                    .client_request_token(&token)
                    .send()
            })
            .await
            .map_err(|e| {
                at_path(
                    unimplemented_as_unsupported(
                        "eks:CreatePodIdentityAssociation",
                        create_error(e, "a pod identity association"),
                    ),
                    "role_arn",
                )
            })?;
        out.association()
            .map(|a| self.to_value(p, a, Some(planned)))
            .ok_or_else(|| ProviderError::Api {
                code: "EmptyResponse".into(),
                message: "CreatePodIdentityAssociation returned no association".into(),
            })
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let (cluster, id) =
            EksPodIdentityAssociation::key_of(prior).ok_or_else(|| missing_id(POD_IDENTITY))?;
        let changed = |k: &str| {
            planned.get(k).is_some_and(|v| !v.is_unknown()) && prior.get(k) != planned.get(k)
        };
        if changed("role_arn") || changed("target_role_arn") || changed("disable_session_tags") {
            p.call("eks:UpdatePodIdentityAssociation", || {
                p.eks
                    .update_pod_identity_association()
                    .cluster_name(&cluster)
                    .association_id(&id)
                    .set_role_arn(get_str(planned, "role_arn"))
                    .set_target_role_arn(
                        changed("target_role_arn")
                            .then(|| get_str(planned, "target_role_arn").unwrap_or_default()),
                    )
                    .set_disable_session_tags(get_bool(planned, "disable_session_tags"))
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "role_arn"))?;
        }
        if let Some(arn) = get_str(prior, "association_arn") {
            sync_tags(p, &arn, prior, planned).await?;
        }
        self.read_one(p, &cluster, &id, Some(planned))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!(
                    "EKS pod identity association {cluster},{id} disappeared during update"
                ))
            })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let Some((cluster, id)) = EksPodIdentityAssociation::key_of(prior) else {
            return Ok(());
        };
        ok_if_gone(
            p.call("eks:DeletePodIdentityAssociation", || {
                p.eks
                    .delete_pod_identity_association()
                    .cluster_name(&cluster)
                    .association_id(&id)
                    .send()
            })
            .await
            .map(|_| ()),
        )
        .await
    }

    fn tag_listed(&self) -> Option<&dyn TagListed> {
        Some(self)
    }
}
