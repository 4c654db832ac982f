//! `aws_eks_cluster` and `aws_eks_node_group`.
//!
//! EKS has no batched describe: reads make one `DescribeCluster` /
//! `DescribeNodegroup` per object (bounded concurrency). Creates pass the
//! idempotency token as `clientRequestToken` and wait for `ACTIVE`.

use super::ReadByKey;
use super::iam::{generated_name, read_each};
use super::{ResourceType, default_plan, require_id, wait_for};
use crate::Result;
use crate::api::{at_path, is_not_found};
use crate::provider::{AwsProvider, OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, tag_changes, tags_from_api};
use crate::values::{
    Obj, first_block, get_blocks, get_bool, get_i64, get_str, get_str_map, get_strings, opt_str,
    str_list, str_map_value, str_set, value_to_str_map,
};
use async_trait::async_trait;
use aws_sdk_eks::types::{
    AmiTypes, AuthenticationMode, CapacityTypes, Cluster, ClusterStatus, CreateAccessConfigRequest,
    EncryptionConfig, IpFamily, KubernetesNetworkConfigRequest, LaunchTemplateSpecification,
    LogSetup, LogType, Logging, Nodegroup, NodegroupScalingConfig, NodegroupStatus,
    NodegroupUpdateConfig, Provider as KmsProvider, RemoteAccessConfig, Taint, TaintEffect,
    UpdateAccessConfigRequest, UpdateLabelsPayload, UpdateTaintsPayload, VpcConfigRequest,
};
use std::collections::HashMap;
use std::time::Duration;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct EksCluster;
pub(crate) struct EksNodeGroup;

const CLUSTER: &str = "aws_eks_cluster";
const NODE_GROUP: &str = "aws_eks_node_group";

/// The `clientRequestToken` length limit.
const REQUEST_TOKEN_MAX: usize = 64;
pub(super) const POLL: Duration = Duration::from_secs(5);
pub(super) const DELETE_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const UPDATE_TIMEOUT: Duration = Duration::from_secs(60 * 60);

const ALL_LOG_TYPES: &[&str] = &[
    "api",
    "audit",
    "authenticator",
    "controllerManager",
    "scheduler",
];

fn same_json(a: Option<&Value>, b: Option<&Value>) -> bool {
    let j = |v: Option<&Value>| v.unwrap_or(&Value::Null).to_json_lossy();
    j(a) == j(b)
}

pub(super) fn request_token(token: &str) -> String {
    token.chars().take(REQUEST_TOKEN_MAX).collect()
}

pub(super) fn hash_tags(tags: &TagMap) -> HashMap<String, String> {
    tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

pub(super) fn from_hash(tags: Option<&HashMap<String, String>>) -> TagMap {
    tags.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

pub(super) fn owned(tags: &TagMap, environment: &str, address: Option<&str>) -> bool {
    tags.get(OWNER_ENVIRONMENT_TAG).map(String::as_str) == Some(environment)
        && address.is_none_or(|a| tags.get(OWNER_ADDRESS_TAG).map(String::as_str) == Some(a))
}

fn set_or_null(items: &[String]) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        str_set(items.to_vec())
    }
}

/// Tag / untag an EKS resource from prior `tags_all` to planned `tags_all`.
pub(super) async fn sync_tags(
    p: &AwsProvider,
    arn: &str,
    prior: &Value,
    planned: &Value,
) -> Result<()> {
    let old = value_to_str_map(prior.get("tags_all").unwrap_or(&Value::Null));
    let new = value_to_str_map(planned.get("tags_all").unwrap_or(&Value::Null));
    let (removed, changed) = tag_changes(&old, &new);
    if !removed.is_empty() {
        p.call("eks:UntagResource", || {
            p.eks
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(removed.clone()))
                .send()
        })
        .await?;
    }
    if !changed.is_empty() {
        let tags = hash_tags(&changed);
        p.call("eks:TagResource", || {
            p.eks
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await?;
    }
    Ok(())
}

/// A bare HTTP 404 (no error code) means the endpoint lacks the operation
/// (moto has no `UpdateClusterVersion` / `UpdateNodegroupVersion`), not that
/// the cluster is gone.
pub(super) fn unimplemented_as_unsupported(op: &str, e: ProviderError) -> ProviderError {
    match e {
        ProviderError::NotFound(m) if !m.contains("NotFoundException") => {
            ProviderError::Unsupported(format!("the EKS endpoint does not implement {op}: {m}"))
        }
        other => other,
    }
}

pub(super) async fn ok_if_gone(r: Result<()>) -> Result<()> {
    match r {
        Err(e) if is_not_found(&e) => Ok(()),
        other => other,
    }
}

// ---------------------------------------------------------------------------
// aws_eks_cluster
// ---------------------------------------------------------------------------

impl EksCluster {
    async fn get(&self, p: &AwsProvider, name: &str) -> Result<Option<Cluster>> {
        if name.is_empty() {
            return Ok(None);
        }
        match p
            .call("eks:DescribeCluster", || {
                p.eks.describe_cluster().name(name).send()
            })
            .await
        {
            Ok(out) => Ok(out.cluster().cloned()),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn to_value(&self, p: &AwsProvider, c: &Cluster, prior: Option<&Value>) -> Value {
        let (tags, tags_all) = tags_from_api(&from_hash(c.tags()), prior, &p.default_tags);
        let prior_vpc = prior.and_then(|v| first_block(v, "vpc_config"));
        let vpc: Vec<Value> = c
            .resources_vpc_config()
            .map(|v| {
                // moto replaces the whole VPC config on UpdateClusterConfig
                // and forgets the subnets; EKS never has a cluster without
                // subnets, so an empty answer keeps what we knew.
                let subnets = if v.subnet_ids().is_empty() {
                    prior_vpc
                        .and_then(|pv| pv.get("subnet_ids"))
                        .cloned()
                        .unwrap_or(Value::Null)
                } else {
                    str_set(v.subnet_ids().to_vec())
                };
                let sgs = if v.security_group_ids().is_empty() && v.subnet_ids().is_empty() {
                    prior_vpc
                        .and_then(|pv| pv.get("security_group_ids"))
                        .cloned()
                        .unwrap_or(Value::Null)
                } else {
                    set_or_null(v.security_group_ids())
                };
                Value::map([
                    ("subnet_ids", subnets),
                    ("security_group_ids", sgs),
                    (
                        "endpoint_private_access",
                        Value::Bool(v.endpoint_private_access()),
                    ),
                    (
                        "endpoint_public_access",
                        Value::Bool(v.endpoint_public_access()),
                    ),
                    ("public_access_cidrs", set_or_null(v.public_access_cidrs())),
                    (
                        "cluster_security_group_id",
                        v.cluster_security_group_id()
                            .map(Value::from)
                            .unwrap_or(Value::Null),
                    ),
                    ("vpc_id", v.vpc_id().map(Value::from).unwrap_or(Value::Null)),
                ])
            })
            .into_iter()
            .collect();
        let ca = Value::List(
            c.certificate_authority()
                .map(|ca| Value::map([("data", ca.data().map(Value::from).unwrap_or(Value::Null))]))
                .into_iter()
                .collect(),
        );
        let identity = Value::List(
            c.identity()
                .map(|i| {
                    let oidc: Vec<Value> = i
                        .oidc()
                        .map(|o| {
                            Value::map([(
                                "issuer",
                                o.issuer().map(Value::from).unwrap_or(Value::Null),
                            )])
                        })
                        .into_iter()
                        .collect();
                    Value::map([("oidc", Value::List(oidc))])
                })
                .into_iter()
                .collect(),
        );
        let log_types: Vec<String> = c
            .logging()
            .map(|l| {
                l.cluster_logging()
                    .iter()
                    .filter(|s| s.enabled() == Some(true))
                    .flat_map(|s| s.types().iter().map(|t| t.as_str().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let encryption = Value::List(
            c.encryption_config()
                .iter()
                .map(|e| {
                    // EKS deprecates `resources` (it encrypts everything);
                    // Terraform still requires `["secrets"]`.
                    #[allow(deprecated)]
                    let resources = e.resources().to_vec();
                    let provider = e
                        .provider()
                        .map(|pr| Value::map([("key_arn", opt_str(pr.key_arn()))]))
                        .into_iter()
                        .collect();
                    Value::map([
                        ("resources", str_set(resources)),
                        ("provider", Value::List(provider)),
                    ])
                })
                .collect(),
        );
        let prior_access = prior.and_then(|v| first_block(v, "access_config"));
        // EKS does not report the bootstrap flag back (it only acts at
        // creation); moto reports no access configuration at all. What the
        // API leaves out is what we last planned.
        let access = match c.access_config() {
            Some(a) => vec![Value::map([
                (
                    "authentication_mode",
                    opt_str(a.authentication_mode().map(|m| m.as_str())),
                ),
                (
                    "bootstrap_cluster_creator_admin_permissions",
                    a.bootstrap_cluster_creator_admin_permissions()
                        .map(Value::Bool)
                        .or_else(|| {
                            prior_access
                                .and_then(|pa| {
                                    pa.get("bootstrap_cluster_creator_admin_permissions")
                                })
                                .cloned()
                        })
                        .unwrap_or(Value::Bool(true)),
                ),
            ])],
            None => prior_access.cloned().into_iter().collect(),
        };
        let network: Vec<Value> = c
            .kubernetes_network_config()
            .map(|k| {
                Value::map([
                    ("service_ipv4_cidr", opt_str(k.service_ipv4_cidr())),
                    ("service_ipv6_cidr", opt_str(k.service_ipv6_cidr())),
                    ("ip_family", opt_str(k.ip_family().map(|f| f.as_str()))),
                ])
            })
            .into_iter()
            .collect();
        Obj::new(&p.resource_schema(CLUSTER))
            .set("id", c.name().unwrap_or_default())
            .set("encryption_config", encryption)
            .set("access_config", Value::List(access))
            .set("kubernetes_network_config", Value::List(network))
            .set(
                "bootstrap_self_managed_addons",
                prior
                    .and_then(|pv| pv.get("bootstrap_self_managed_addons"))
                    .filter(|v| !v.is_null())
                    .cloned()
                    .unwrap_or(Value::Bool(true)),
            )
            .set_opt_str("name", c.name())
            .set_opt_str("arn", c.arn())
            .set_opt_str("role_arn", c.role_arn())
            .set_opt_str("version", c.version())
            .set_opt_str("endpoint", c.endpoint())
            .set_opt_str("platform_version", c.platform_version())
            .set_opt_str("status", c.status().map(|s| s.as_str()))
            .set(
                "created_at",
                c.created_at()
                    .map(|d| Value::from(d.to_string()))
                    .unwrap_or(Value::Null),
            )
            .set("certificate_authority", ca)
            .set("identity", identity)
            .set("enabled_cluster_log_types", set_or_null(&log_types))
            .set("vpc_config", Value::List(vpc))
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }

    async fn wait_active(&self, p: &AwsProvider, name: &str, timeout: Duration) -> Result<Cluster> {
        wait_for(
            &format!("EKS cluster {name} to become ACTIVE"),
            timeout,
            POLL,
            || async {
                let Some(c) = self.get(p, name).await? else {
                    return Err(ProviderError::NotFound(format!(
                        "EKS cluster {name} disappeared while waiting"
                    )));
                };
                match c.status() {
                    Some(ClusterStatus::Active) | None => Ok(Some(c)),
                    Some(ClusterStatus::Failed) => Err(ProviderError::Api {
                        code: "ClusterFailed".into(),
                        message: format!("EKS cluster {name} is in status FAILED"),
                    }),
                    _ => Ok(None),
                }
            },
        )
        .await
    }

    pub(super) async fn all_names(&self, p: &AwsProvider) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = p
                .call("eks:ListClusters", || {
                    p.eks.list_clusters().set_next_token(token.clone()).send()
                })
                .await?;
            out.extend(page.clusters().iter().cloned());
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn list_matching(
        &self,
        p: &AwsProvider,
        environment: &str,
        address: Option<&str>,
    ) -> Result<Vec<Value>> {
        let names = self.all_names(p).await?;
        let clusters = read_each(names, |n| async move { self.get(p, &n).await }).await?;
        Ok(clusters
            .into_iter()
            .flatten()
            .filter(|c| owned(&from_hash(c.tags()), environment, address))
            .map(|c| self.to_value(p, &c, None))
            .collect())
    }
}

fn vpc_request(planned: &Value, for_update: bool) -> VpcConfigRequest {
    let vpc = first_block(planned, "vpc_config")
        .cloned()
        .unwrap_or(Value::Null);
    let cidrs = get_strings(&vpc, "public_access_cidrs");
    let mut b = VpcConfigRequest::builder()
        .set_endpoint_private_access(get_bool(&vpc, "endpoint_private_access"))
        .set_endpoint_public_access(get_bool(&vpc, "endpoint_public_access"))
        .set_public_access_cidrs((!cidrs.is_empty()).then_some(cidrs));
    if !for_update {
        let sgs = get_strings(&vpc, "security_group_ids");
        b = b
            .set_subnet_ids(Some(get_strings(&vpc, "subnet_ids")))
            .set_security_group_ids((!sgs.is_empty()).then_some(sgs));
    }
    b.build()
}

#[allow(deprecated)] // `resources`: see the read side.
fn encryption_request(planned: &Value) -> Option<Vec<EncryptionConfig>> {
    let e = first_block(planned, "encryption_config")?;
    let key = first_block(e, "provider").and_then(|pr| get_str(pr, "key_arn"));
    Some(vec![
        EncryptionConfig::builder()
            .set_resources(Some(get_strings(e, "resources")))
            .provider(KmsProvider::builder().set_key_arn(key).build())
            .build(),
    ])
}

fn access_request(planned: &Value) -> Option<CreateAccessConfigRequest> {
    let a = first_block(planned, "access_config")?;
    Some(
        CreateAccessConfigRequest::builder()
            .set_authentication_mode(
                get_str(a, "authentication_mode").map(|m| AuthenticationMode::from(m.as_str())),
            )
            .set_bootstrap_cluster_creator_admin_permissions(get_bool(
                a,
                "bootstrap_cluster_creator_admin_permissions",
            ))
            .build(),
    )
}

fn network_request(planned: &Value) -> Option<KubernetesNetworkConfigRequest> {
    let k = first_block(planned, "kubernetes_network_config")?;
    Some(
        KubernetesNetworkConfigRequest::builder()
            .set_service_ipv4_cidr(get_str(k, "service_ipv4_cidr"))
            .set_ip_family(get_str(k, "ip_family").map(|f| IpFamily::from(f.as_str())))
            .build(),
    )
}

fn logging_request(planned: &Value) -> Logging {
    let enabled = get_strings(planned, "enabled_cluster_log_types");
    let disabled: Vec<LogType> = ALL_LOG_TYPES
        .iter()
        .filter(|t| !enabled.iter().any(|e| e == *t))
        .map(|t| LogType::from(*t))
        .collect();
    let mut setups = Vec::new();
    if !enabled.is_empty() {
        setups.push(
            LogSetup::builder()
                .set_types(Some(
                    enabled.iter().map(|t| LogType::from(t.as_str())).collect(),
                ))
                .enabled(true)
                .build(),
        );
    }
    if !disabled.is_empty() {
        setups.push(
            LogSetup::builder()
                .set_types(Some(disabled))
                .enabled(false)
                .build(),
        );
    }
    Logging::builder().set_cluster_logging(Some(setups)).build()
}

#[async_trait]
impl ReadByKey for EksCluster {
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
            .map(|c| self.to_value(p, &c, prior)))
    }
}

#[async_trait]
impl ResourceType for EksCluster {
    fn name(&self) -> &'static str {
        CLUSTER
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &[
                    "id",
                    "arn",
                    "endpoint",
                    "platform_version",
                    "status",
                    "created_at",
                ],
                Attribute::computed(AttrType::String),
            )
            .attrs(
                &["name", "role_arn"],
                Attribute::required(AttrType::String).force_new(),
            )
            .attr("version", Attribute::optional_computed(AttrType::String))
            .attr(
                "certificate_authority",
                Attribute::computed(AttrType::list_of(AttrType::map_of(AttrType::String))),
            )
            .attr("identity", Attribute::computed(AttrType::Any))
            .attr(
                "enabled_cluster_log_types",
                Attribute::optional(AttrType::set_of(AttrType::String)),
            )
            .list_block(
                "vpc_config",
                1,
                1,
                Schema::new()
                    .attr(
                        "subnet_ids",
                        Attribute::required(AttrType::set_of(AttrType::String)).force_new(),
                    )
                    .attr(
                        "security_group_ids",
                        Attribute::optional(AttrType::set_of(AttrType::String)).force_new(),
                    )
                    .attr(
                        "endpoint_private_access",
                        Attribute::optional(AttrType::Bool).default(false),
                    )
                    .attr(
                        "endpoint_public_access",
                        Attribute::optional(AttrType::Bool).default(true),
                    )
                    .attr(
                        "public_access_cidrs",
                        Attribute::optional_computed(AttrType::set_of(AttrType::String)),
                    )
                    .attrs(
                        &["cluster_security_group_id", "vpc_id"],
                        Attribute::computed(AttrType::String),
                    ),
            )
            .attr(
                "bootstrap_self_managed_addons",
                Attribute::optional(AttrType::Bool)
                    .default(true)
                    .force_new(),
            )
            .list_block(
                "encryption_config",
                0,
                1,
                Schema::new()
                    .attr(
                        "resources",
                        Attribute::required(AttrType::set_of(AttrType::String)),
                    )
                    .list_block(
                        "provider",
                        1,
                        1,
                        Schema::new().attr("key_arn", Attribute::required(AttrType::String)),
                    ),
            )
            .list_block(
                "access_config",
                0,
                1,
                Schema::new()
                    .attr(
                        "authentication_mode",
                        Attribute::optional_computed(AttrType::String),
                    )
                    .attr(
                        "bootstrap_cluster_creator_admin_permissions",
                        Attribute::optional(AttrType::Bool)
                            .default(true)
                            .force_new(),
                    ),
            )
            .computed_block("access_config")
            .list_block(
                "kubernetes_network_config",
                0,
                1,
                Schema::new()
                    .attrs(
                        &["service_ipv4_cidr", "ip_family"],
                        Attribute::optional_computed(AttrType::String).force_new(),
                    )
                    .attr("service_ipv6_cidr", Attribute::computed(AttrType::String)),
            )
            .computed_block("kubernetes_network_config")
            .tagged()
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let schema = p.resource_schema(CLUSTER);
        let mut planned = default_plan(p, &schema, prior, config, ctx);
        // Secrets encryption can be added to a cluster (AssociateEncryptionConfig)
        // but never changed or removed: that is a new cluster.
        if let Some(pv) = prior
            && first_block(pv, "encryption_config").is_some()
            && !same_json(
                pv.get("encryption_config"),
                planned.planned.get("encryption_config"),
            )
        {
            let mut fresh = default_plan(p, &schema, None, config, ctx);
            fresh.requires_replace = planned.requires_replace;
            fresh
                .requires_replace
                .push(vec![terrace_core::PathStep::Key(
                    "encryption_config".into(),
                )]);
            planned = fresh;
        }
        // A new Kubernetes version changes what the API reports about the platform.
        if let Some(prior) = prior
            && planned.requires_replace.is_empty()
            && planned.planned.get("version") != prior.get("version")
            && let Some(m) = planned.planned.as_map_mut()
        {
            m.insert("platform_version".into(), Value::Unknown);
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        self.read_keyed(p, prior).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let name = get_str(planned, "name").unwrap_or_default();
        let tags = hash_tags(&create_tags(&p.default_tags, planned, &ctx.resource));
        let token = request_token(&ctx.idempotency_token);
        let vpc = vpc_request(planned, false);
        let logging = if get_strings(planned, "enabled_cluster_log_types").is_empty() {
            None
        } else {
            Some(logging_request(planned))
        };
        p.call("eks:CreateCluster", || {
            p.eks
                .create_cluster()
                .name(&name)
                .role_arn(get_str(planned, "role_arn").unwrap_or_default())
                .set_version(get_str(planned, "version"))
                .resources_vpc_config(vpc.clone())
                .set_logging(logging.clone())
                .set_encryption_config(encryption_request(planned))
                .set_access_config(access_request(planned))
                .set_kubernetes_network_config(network_request(planned))
                .set_bootstrap_self_managed_addons(get_bool(
                    planned,
                    "bootstrap_self_managed_addons",
                ))
                .set_tags(Some(tags.clone()))
                .client_request_token(&token)
                .send()
        })
        .await
        .map_err(|e| match &e {
            ProviderError::Conflict { code, .. } if code == "ResourceInUseException" => {
                ProviderError::InvalidArgument {
                    path: Some(vec![terrace_core::PathStep::Key("name".into())]),
                    code: code.clone(),
                    message: format!("an EKS cluster named {name} already exists"),
                }
            }
            _ => at_path(e, "vpc_config"),
        })?;
        let c = self.wait_active(p, &name, ctx.timeout).await?;
        Ok(self.to_value(p, &c, Some(planned)))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let name = require_id(CLUSTER, prior)?;
        if let Some(v) = get_str(planned, "version")
            && get_str(prior, "version").as_deref() != Some(v.as_str())
        {
            p.call("eks:UpdateClusterVersion", || {
                p.eks
                    .update_cluster_version()
                    .name(&name)
                    .version(&v)
                    .send()
            })
            .await
            .map_err(|e| {
                at_path(
                    unimplemented_as_unsupported("eks:UpdateClusterVersion", e),
                    "version",
                )
            })?;
            self.wait_active(p, &name, UPDATE_TIMEOUT).await?;
        }
        let endpoint_keys = [
            "endpoint_private_access",
            "endpoint_public_access",
            "public_access_cidrs",
        ];
        let (old_vpc, new_vpc) = (
            first_block(prior, "vpc_config"),
            first_block(planned, "vpc_config"),
        );
        if endpoint_keys.iter().any(|k| {
            let n = new_vpc.and_then(|v| v.get(k));
            n.is_some_and(|n| !n.is_unknown()) && old_vpc.and_then(|v| v.get(k)) != n
        }) {
            let vpc = vpc_request(planned, true);
            p.call("eks:UpdateClusterConfig", || {
                p.eks
                    .update_cluster_config()
                    .name(&name)
                    .resources_vpc_config(vpc.clone())
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "vpc_config"))?;
            self.wait_active(p, &name, UPDATE_TIMEOUT).await?;
        }
        if prior.get("enabled_cluster_log_types") != planned.get("enabled_cluster_log_types") {
            let logging = logging_request(planned);
            p.call("eks:UpdateClusterConfig", || {
                p.eks
                    .update_cluster_config()
                    .name(&name)
                    .logging(logging.clone())
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "enabled_cluster_log_types"))?;
            self.wait_active(p, &name, UPDATE_TIMEOUT).await?;
        }
        let mode = |v: &Value| {
            first_block(v, "access_config").and_then(|a| get_str(a, "authentication_mode"))
        };
        if let Some(m) = mode(planned)
            && mode(prior).as_deref() != Some(m.as_str())
        {
            let access = UpdateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::from(m.as_str()))
                .build();
            p.call("eks:UpdateClusterConfig", || {
                p.eks
                    .update_cluster_config()
                    .name(&name)
                    .access_config(access.clone())
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "access_config"))?;
            self.wait_active(p, &name, UPDATE_TIMEOUT).await?;
        }
        if first_block(prior, "encryption_config").is_none()
            && let Some(enc) = encryption_request(planned)
        {
            p.call("eks:AssociateEncryptionConfig", || {
                p.eks
                    .associate_encryption_config()
                    .cluster_name(&name)
                    .set_encryption_config(Some(enc.clone()))
                    .send()
            })
            .await
            .map_err(|e| {
                at_path(
                    unimplemented_as_unsupported("eks:AssociateEncryptionConfig", e),
                    "encryption_config",
                )
            })?;
            self.wait_active(p, &name, UPDATE_TIMEOUT).await?;
        }
        if let Some(arn) = get_str(prior, "arn") {
            sync_tags(p, &arn, prior, planned).await?;
        }
        self.read_one(p, &name, Some(planned))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!("EKS cluster {name} disappeared during update"))
            })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let name = require_id(CLUSTER, prior)?;
        ok_if_gone(
            p.call("eks:DeleteCluster", || {
                p.eks.delete_cluster().name(&name).send()
            })
            .await
            .map(|_| ()),
        )
        .await?;
        wait_for(
            &format!("EKS cluster {name} deletion"),
            DELETE_TIMEOUT,
            POLL,
            || async { Ok(self.get(p, &name).await?.is_none().then_some(())) },
        )
        .await
    }

    async fn find_created(
        &self,
        p: &AwsProvider,
        _token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>> {
        Ok(self
            .list_matching(p, &ctx.environment, Some(&ctx.address))
            .await?
            .into_iter()
            .next())
    }

    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        self.list_matching(p, environment, None).await
    }
}

// ---------------------------------------------------------------------------
// aws_eks_node_group
// ---------------------------------------------------------------------------

fn node_group_key(v: &Value) -> Option<(String, String)> {
    if let (Some(c), Some(n)) = (get_str(v, "cluster_name"), get_str(v, "node_group_name")) {
        return Some((c, n));
    }
    let id = get_str(v, "id")?;
    let (c, n) = id.split_once(':')?;
    Some((c.to_string(), n.to_string()))
}

impl EksNodeGroup {
    async fn get(&self, p: &AwsProvider, cluster: &str, name: &str) -> Result<Option<Nodegroup>> {
        if cluster.is_empty() || name.is_empty() {
            return Ok(None);
        }
        match p
            .call("eks:DescribeNodegroup", || {
                p.eks
                    .describe_nodegroup()
                    .cluster_name(cluster)
                    .nodegroup_name(name)
                    .send()
            })
            .await
        {
            Ok(out) => Ok(out.nodegroup().cloned()),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn to_value(&self, p: &AwsProvider, g: &Nodegroup, prior: Option<&Value>) -> Value {
        let cluster = g.cluster_name().unwrap_or_default();
        let name = g.nodegroup_name().unwrap_or_default();
        let (tags, tags_all) = tags_from_api(&from_hash(g.tags()), prior, &p.default_tags);
        let scaling: Vec<Value> = g
            .scaling_config()
            .map(|s| {
                let n =
                    |v: Option<i32>| v.map(|x| Value::from(i64::from(x))).unwrap_or(Value::Null);
                Value::map([
                    ("desired_size", n(s.desired_size())),
                    ("max_size", n(s.max_size())),
                    ("min_size", n(s.min_size())),
                ])
            })
            .into_iter()
            .collect();
        // `update_config` is optional and computed: when it was not
        // configured, what EKS defaults it to is no change.
        let prior_update_cfg_empty =
            prior.is_some_and(|pv| first_block(pv, "update_config").is_none());
        let update_cfg: Vec<Value> = if prior_update_cfg_empty {
            Vec::new()
        } else {
            g.update_config()
                .map(|u| {
                    let n = |v: Option<i32>| {
                        v.map(|x| Value::from(i64::from(x))).unwrap_or(Value::Null)
                    };
                    Value::map([
                        ("max_unavailable", n(u.max_unavailable())),
                        (
                            "max_unavailable_percentage",
                            n(u.max_unavailable_percentage()),
                        ),
                    ])
                })
                .into_iter()
                .collect()
        };
        let resources = Value::List(
            g.resources()
                .map(|r| {
                    let asgs: Vec<Value> = r
                        .auto_scaling_groups()
                        .iter()
                        .map(|a| {
                            Value::map([("name", a.name().map(Value::from).unwrap_or(Value::Null))])
                        })
                        .collect();
                    Value::map([
                        ("autoscaling_groups", Value::List(asgs)),
                        (
                            "remote_access_security_group_id",
                            r.remote_access_security_group()
                                .map(Value::from)
                                .unwrap_or(Value::Null),
                        ),
                    ])
                })
                .into_iter()
                .collect(),
        );
        let launch_template: Vec<Value> = g
            .launch_template()
            .map(|lt| {
                Value::map([
                    ("id", opt_str(lt.id())),
                    ("name", opt_str(lt.name())),
                    ("version", opt_str(lt.version())),
                ])
            })
            .into_iter()
            .collect();
        // EKS reports no remote access for a node group made without it;
        // moto reports a default key pair. Remote access cannot change
        // after creation, so a node group planned without it has none.
        let prior_no_remote = prior.is_some_and(|pv| first_block(pv, "remote_access").is_none());
        let remote: Vec<Value> = if prior_no_remote {
            Vec::new()
        } else {
            g.remote_access()
                .map(|r| {
                    Value::map([
                        ("ec2_ssh_key", opt_str(r.ec2_ssh_key())),
                        (
                            "source_security_group_ids",
                            set_or_null(r.source_security_groups()),
                        ),
                    ])
                })
                .into_iter()
                .collect()
        };
        let taints = Value::set(g.taints().iter().map(taint_value).collect());
        let labels = from_hash(g.labels());
        let prior_labels_null = prior.is_none_or(|pv| pv.get("labels").is_none_or(Value::is_null));
        Obj::new(&p.resource_schema(NODE_GROUP))
            .set("id", format!("{cluster}:{name}"))
            .set("cluster_name", cluster)
            .set("node_group_name", name)
            .set_opt_str("arn", g.nodegroup_arn())
            .set_opt_str("node_role_arn", g.node_role())
            .set("subnet_ids", str_set(g.subnets().to_vec()))
            .set("instance_types", str_list(g.instance_types().to_vec()))
            .set_opt_str("capacity_type", g.capacity_type().map(|c| c.as_str()))
            .set_opt_str("ami_type", g.ami_type().map(|c| c.as_str()))
            .set(
                "disk_size",
                g.disk_size()
                    .map(|d| Value::from(i64::from(d)))
                    .unwrap_or(Value::Null),
            )
            .set_opt_str("version", g.version())
            .set_opt_str("release_version", g.release_version())
            .set_opt_str("status", g.status().map(|s| s.as_str()))
            .set(
                "labels",
                if labels.is_empty() && prior_labels_null {
                    Value::Null
                } else {
                    str_map_value(&labels)
                },
            )
            .set("scaling_config", Value::List(scaling))
            .set("update_config", Value::List(update_cfg))
            .set("launch_template", Value::List(launch_template))
            .set("remote_access", Value::List(remote))
            .set("taint", taints)
            .set("resources", resources)
            .set("tags", tags)
            .set("tags_all", tags_all)
            .keep(prior, &["node_group_name_prefix"])
            .build()
    }

    async fn read_one(
        &self,
        p: &AwsProvider,
        cluster: &str,
        name: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        Ok(self
            .get(p, cluster, name)
            .await?
            .map(|g| self.to_value(p, &g, prior)))
    }

    async fn wait_active(
        &self,
        p: &AwsProvider,
        cluster: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<Nodegroup> {
        wait_for(
            &format!("EKS node group {cluster}:{name} to become ACTIVE"),
            timeout,
            POLL,
            || async {
                let Some(g) = self.get(p, cluster, name).await? else {
                    return Err(ProviderError::NotFound(format!(
                        "EKS node group {cluster}:{name} disappeared while waiting"
                    )));
                };
                match g.status() {
                    Some(NodegroupStatus::Active) | None => Ok(Some(g)),
                    Some(
                        NodegroupStatus::CreateFailed
                        | NodegroupStatus::DeleteFailed
                        | NodegroupStatus::Degraded,
                    ) => Err(ProviderError::Api {
                        code: "NodegroupFailed".into(),
                        message: format!(
                            "EKS node group {cluster}:{name} is in status {}",
                            g.status().map(|s| s.as_str()).unwrap_or_default()
                        ),
                    }),
                    _ => Ok(None),
                }
            },
        )
        .await
    }

    async fn list_matching(
        &self,
        p: &AwsProvider,
        environment: &str,
        address: Option<&str>,
    ) -> Result<Vec<Value>> {
        let clusters = EksCluster.all_names(p).await?;
        let mut pairs = Vec::new();
        for c in clusters {
            let mut token: Option<String> = None;
            loop {
                let page = match p
                    .call("eks:ListNodegroups", || {
                        p.eks
                            .list_nodegroups()
                            .cluster_name(&c)
                            .set_next_token(token.clone())
                            .send()
                    })
                    .await
                {
                    Ok(page) => page,
                    Err(e) if is_not_found(&e) => break,
                    Err(e) => {
                        // A cluster deleted between ListClusters and
                        // ListNodegroups: some endpoints (moto) answer with a
                        // server error instead of not-found. Skip it if gone.
                        let gone = matches!(
                            p.call("eks:DescribeCluster", || p.eks.describe_cluster().name(&c).send()).await,
                            Err(ref d) if is_not_found(d)
                        );
                        if gone {
                            break;
                        }
                        return Err(e);
                    }
                };
                pairs.extend(page.nodegroups().iter().map(|n| (c.clone(), n.clone())));
                match page.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        let groups = read_each(pairs, |(c, n)| async move { self.get(p, &c, &n).await }).await?;
        Ok(groups
            .into_iter()
            .flatten()
            .filter(|g| owned(&from_hash(g.tags()), environment, address))
            .map(|g| self.to_value(p, &g, None))
            .collect())
    }
}

fn scaling_request(planned: &Value) -> Option<NodegroupScalingConfig> {
    let s = first_block(planned, "scaling_config")?;
    let n = |k: &str| get_i64(s, k).map(|x| x as i32);
    Some(
        NodegroupScalingConfig::builder()
            .set_desired_size(n("desired_size"))
            .set_max_size(n("max_size"))
            .set_min_size(n("min_size"))
            .build(),
    )
}

fn taint_value(t: &Taint) -> Value {
    Value::map([
        ("key", opt_str(t.key())),
        ("value", opt_str(t.value())),
        ("effect", opt_str(t.effect().map(|e| e.as_str()))),
    ])
}

fn taint_request(v: &Value) -> Taint {
    Taint::builder()
        .set_key(get_str(v, "key"))
        .set_value(get_str(v, "value"))
        .set_effect(get_str(v, "effect").map(|e| TaintEffect::from(e.as_str())))
        .build()
}

/// The taints to add or update and those to remove, from prior to planned.
fn taint_changes(prior: &Value, planned: &Value) -> Option<UpdateTaintsPayload> {
    let key = |v: &Value| (get_str(v, "key"), get_str(v, "effect"));
    let (old, new) = (get_blocks(prior, "taint"), get_blocks(planned, "taint"));
    let add: Vec<Taint> = new
        .iter()
        .filter(|n| !old.contains(n))
        .map(taint_request)
        .collect();
    let remove: Vec<Taint> = old
        .iter()
        .filter(|o| !new.iter().any(|n| key(n) == key(o)))
        .map(taint_request)
        .collect();
    (!add.is_empty() || !remove.is_empty()).then(|| {
        UpdateTaintsPayload::builder()
            .set_add_or_update_taints((!add.is_empty()).then_some(add))
            .set_remove_taints((!remove.is_empty()).then_some(remove))
            .build()
    })
}

fn launch_template_request(planned: &Value) -> Option<LaunchTemplateSpecification> {
    let lt = first_block(planned, "launch_template")?;
    let known = |k: &str| {
        lt.get(k)
            .filter(|v| !v.is_unknown())
            .and_then(Value::as_str)
    };
    // EKS takes the ID or the name, not both.
    let id = known("id").map(str::to_string);
    let name = if id.is_some() {
        None
    } else {
        known("name").map(str::to_string)
    };
    Some(
        LaunchTemplateSpecification::builder()
            .set_id(id)
            .set_name(name)
            .set_version(get_str(lt, "version"))
            .build(),
    )
}

fn remote_access_request(planned: &Value) -> Option<RemoteAccessConfig> {
    let r = first_block(planned, "remote_access")?;
    let sgs = get_strings(r, "source_security_group_ids");
    Some(
        RemoteAccessConfig::builder()
            .set_ec2_ssh_key(get_str(r, "ec2_ssh_key"))
            .set_source_security_groups((!sgs.is_empty()).then_some(sgs))
            .build(),
    )
}

fn update_config_request(planned: &Value) -> Option<NodegroupUpdateConfig> {
    let u = first_block(planned, "update_config")?;
    Some(
        NodegroupUpdateConfig::builder()
            .set_max_unavailable(get_i64(u, "max_unavailable").map(|x| x as i32))
            .set_max_unavailable_percentage(
                get_i64(u, "max_unavailable_percentage").map(|x| x as i32),
            )
            .build(),
    )
}

#[async_trait]
impl ResourceType for EksNodeGroup {
    fn name(&self) -> &'static str {
        NODE_GROUP
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "arn", "status"],
                Attribute::computed(AttrType::String),
            )
            .attr("resources", Attribute::computed(AttrType::Any))
            .attrs(
                &["cluster_name", "node_role_arn"],
                Attribute::required(AttrType::String).force_new(),
            )
            .attrs(
                &["node_group_name", "capacity_type", "ami_type"],
                Attribute::optional_computed(AttrType::String).force_new(),
            )
            .attr(
                "node_group_name_prefix",
                Attribute::optional(AttrType::String).force_new(),
            )
            .attr(
                "subnet_ids",
                Attribute::required(AttrType::set_of(AttrType::String)).force_new(),
            )
            .attr(
                "instance_types",
                Attribute::optional_computed(AttrType::list_of(AttrType::String)).force_new(),
            )
            .attr(
                "disk_size",
                Attribute::optional_computed(AttrType::Number).force_new(),
            )
            .attrs(
                &["version", "release_version"],
                Attribute::optional_computed(AttrType::String),
            )
            .attr(
                "labels",
                Attribute::optional(AttrType::map_of(AttrType::String)),
            )
            .list_block(
                "scaling_config",
                1,
                1,
                Schema::new().attrs(
                    &["desired_size", "max_size", "min_size"],
                    Attribute::required(AttrType::Number),
                ),
            )
            .list_block(
                "update_config",
                0,
                1,
                Schema::new().attrs(
                    &["max_unavailable", "max_unavailable_percentage"],
                    Attribute::optional(AttrType::Number),
                ),
            )
            .list_block(
                "launch_template",
                0,
                1,
                Schema::new()
                    .attrs(
                        &["id", "name"],
                        Attribute::optional_computed(AttrType::String).force_new(),
                    )
                    .attr("version", Attribute::required(AttrType::String)),
            )
            .list_block(
                "remote_access",
                0,
                1,
                Schema::new()
                    .attr(
                        "ec2_ssh_key",
                        Attribute::optional(AttrType::String).force_new(),
                    )
                    .attr(
                        "source_security_group_ids",
                        Attribute::optional(AttrType::set_of(AttrType::String)).force_new(),
                    ),
            )
            .set_block(
                "taint",
                Schema::new()
                    .attrs(&["key", "effect"], Attribute::required(AttrType::String))
                    .attr("value", Attribute::optional(AttrType::String)),
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
        let mut planned = default_plan(p, &p.resource_schema(NODE_GROUP), prior, config, ctx);
        if prior.is_none()
            && let Some(m) = planned.planned.as_map_mut()
        {
            // The ID is known as soon as both names are.
            if let (Some(Value::String(c)), Some(Value::String(n))) =
                (m.get("cluster_name"), m.get("node_group_name"))
            {
                let id = Value::from(format!("{c}:{n}"));
                m.insert("id".into(), id);
            }
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        read_each(prior.to_vec(), |pv| async move {
            let Some((c, n)) = node_group_key(&pv) else {
                return Ok(None);
            };
            self.read_one(p, &c, &n, Some(&pv)).await
        })
        .await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let Some((c, n)) = id.split_once(':') else {
            return Err(ProviderError::InvalidArgument {
                path: None,
                code: "InvalidImportId".into(),
                message: format!(
                    "import ID {id:?} is not of the form <cluster-name>:<node-group-name>"
                ),
            });
        };
        self.read_one(p, c, n, None).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let cluster = get_str(planned, "cluster_name").unwrap_or_default();
        let name = get_str(planned, "node_group_name").unwrap_or_else(|| {
            generated_name(
                get_str(planned, "node_group_name_prefix").as_deref(),
                &ctx.idempotency_token,
            )
        });
        let tags = hash_tags(&create_tags(&p.default_tags, planned, &ctx.resource));
        let labels = get_str_map(planned, "labels");
        let instance_types = get_strings(planned, "instance_types");
        let ami_type = get_str(planned, "ami_type");
        // EKS's own default; sent explicitly (moto answers its default as a
        // string, which the SDK cannot read). With a launch template the
        // disk is the template's, and EKS refuses a size.
        let launch_template = launch_template_request(planned);
        let disk_size = get_i64(planned, "disk_size").map(|d| d as i32).or_else(|| {
            launch_template.is_none().then_some(
                if ami_type.as_deref().is_some_and(|a| a.contains("WINDOWS")) {
                    50
                } else {
                    20
                },
            )
        });
        let token = request_token(&ctx.idempotency_token);
        p.call("eks:CreateNodegroup", || {
            p.eks
                .create_nodegroup()
                .cluster_name(&cluster)
                .nodegroup_name(&name)
                .node_role(get_str(planned, "node_role_arn").unwrap_or_default())
                .set_subnets(Some(get_strings(planned, "subnet_ids")))
                .set_scaling_config(scaling_request(planned))
                .set_update_config(update_config_request(planned))
                .set_instance_types((!instance_types.is_empty()).then(|| instance_types.clone()))
                .set_capacity_type(
                    get_str(planned, "capacity_type").map(|c| CapacityTypes::from(c.as_str())),
                )
                .set_ami_type(ami_type.as_deref().map(AmiTypes::from))
                .set_disk_size(disk_size)
                .set_version(get_str(planned, "version"))
                .set_release_version(get_str(planned, "release_version"))
                .set_labels((!labels.is_empty()).then(|| labels.clone().into_iter().collect()))
                .set_launch_template(launch_template.clone())
                .set_remote_access(remote_access_request(planned))
                .set_taints({
                    let t: Vec<Taint> = get_blocks(planned, "taint")
                        .iter()
                        .map(taint_request)
                        .collect();
                    (!t.is_empty()).then_some(t)
                })
                .set_tags(Some(tags.clone()))
                .client_request_token(&token)
                .send()
        })
        .await
        .map_err(|e| match &e {
            ProviderError::NotFound(m) => ProviderError::InvalidArgument {
                path: Some(vec![terrace_core::PathStep::Key("cluster_name".into())]),
                code: "ResourceNotFoundException".into(),
                message: m.clone(),
            },
            ProviderError::Conflict { code, .. } if code == "ResourceInUseException" => {
                ProviderError::InvalidArgument {
                    path: Some(vec![terrace_core::PathStep::Key("node_group_name".into())]),
                    code: code.clone(),
                    message: format!("node group {name} already exists in cluster {cluster}"),
                }
            }
            _ => e,
        })?;
        let mut g = self.wait_active(p, &cluster, &name, ctx.timeout).await?;
        // moto ignores `updateConfig` on create; converge to the plan.
        if g.update_config().is_none()
            && let Some(u) = update_config_request(planned)
        {
            p.call("eks:UpdateNodegroupConfig", || {
                p.eks
                    .update_nodegroup_config()
                    .cluster_name(&cluster)
                    .nodegroup_name(&name)
                    .update_config(u.clone())
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "update_config"))?;
            g = self.wait_active(p, &cluster, &name, ctx.timeout).await?;
        }
        let mut with_name = planned.clone();
        if let Some(m) = with_name.as_map_mut() {
            m.insert("node_group_name".into(), Value::from(name.as_str()));
        }
        Ok(self.to_value(p, &g, Some(&with_name)))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let (cluster, name) = node_group_key(prior).ok_or_else(|| ProviderError::Api {
            code: "MissingId".into(),
            message: "node group has no id".into(),
        })?;
        let scaling_changed = prior.get("scaling_config") != planned.get("scaling_config");
        let update_cfg_changed = first_block(planned, "update_config").is_some()
            && prior.get("update_config") != planned.get("update_config");
        let old_labels = get_str_map(prior, "labels");
        let new_labels = get_str_map(planned, "labels");
        let (removed, changed) = tag_changes(&old_labels, &new_labels);
        let labels_changed = !removed.is_empty() || !changed.is_empty();
        let taints = taint_changes(prior, planned);
        if scaling_changed || update_cfg_changed || labels_changed || taints.is_some() {
            let labels = labels_changed.then(|| {
                UpdateLabelsPayload::builder()
                    .set_add_or_update_labels(
                        (!changed.is_empty()).then(|| changed.clone().into_iter().collect()),
                    )
                    .set_remove_labels((!removed.is_empty()).then(|| removed.clone()))
                    .build()
            });
            p.call("eks:UpdateNodegroupConfig", || {
                p.eks
                    .update_nodegroup_config()
                    .cluster_name(&cluster)
                    .nodegroup_name(&name)
                    .set_scaling_config(if scaling_changed {
                        scaling_request(planned)
                    } else {
                        None
                    })
                    .set_update_config(if update_cfg_changed {
                        update_config_request(planned)
                    } else {
                        None
                    })
                    .set_labels(labels.clone())
                    .set_taints(taints.clone())
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "scaling_config"))?;
            self.wait_active(p, &cluster, &name, UPDATE_TIMEOUT).await?;
        }
        let lt_version =
            |v: &Value| first_block(v, "launch_template").and_then(|lt| get_str(lt, "version"));
        let lt_changed = lt_version(planned).is_some() && lt_version(prior) != lt_version(planned);
        let version_changed = ["version", "release_version"].iter().any(|k| {
            planned
                .get(k)
                .is_some_and(|v| !v.is_unknown() && !v.is_null())
                && prior.get(k) != planned.get(k)
        });
        if version_changed || lt_changed {
            p.call("eks:UpdateNodegroupVersion", || {
                p.eks
                    .update_nodegroup_version()
                    .cluster_name(&cluster)
                    .nodegroup_name(&name)
                    .set_version(get_str(planned, "version").filter(|_| version_changed))
                    .set_release_version(
                        get_str(planned, "release_version").filter(|_| version_changed),
                    )
                    .set_launch_template(if lt_changed {
                        launch_template_request(planned)
                    } else {
                        None
                    })
                    .send()
            })
            .await
            .map_err(|e| {
                at_path(
                    unimplemented_as_unsupported("eks:UpdateNodegroupVersion", e),
                    "version",
                )
            })?;
            self.wait_active(p, &cluster, &name, UPDATE_TIMEOUT).await?;
        }
        if let Some(arn) = get_str(prior, "arn") {
            sync_tags(p, &arn, prior, planned).await?;
        }
        self.read_one(p, &cluster, &name, Some(planned))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!(
                    "EKS node group {cluster}:{name} disappeared during update"
                ))
            })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let Some((cluster, name)) = node_group_key(prior) else {
            return Ok(());
        };
        ok_if_gone(
            p.call("eks:DeleteNodegroup", || {
                p.eks
                    .delete_nodegroup()
                    .cluster_name(&cluster)
                    .nodegroup_name(&name)
                    .send()
            })
            .await
            .map(|_| ()),
        )
        .await?;
        wait_for(
            &format!("EKS node group {cluster}:{name} deletion"),
            DELETE_TIMEOUT,
            POLL,
            || async { Ok(self.get(p, &cluster, &name).await?.is_none().then_some(())) },
        )
        .await
    }

    async fn find_created(
        &self,
        p: &AwsProvider,
        _token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>> {
        Ok(self
            .list_matching(p, &ctx.environment, Some(&ctx.address))
            .await?
            .into_iter()
            .next())
    }

    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        self.list_matching(p, environment, None).await
    }
}
