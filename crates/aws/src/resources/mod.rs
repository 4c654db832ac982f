//! AWS resource types.
//!
//! How to add a resource type (one file plus one line):
//! 1. Create `src/resources/<thing>.rs` with a unit struct implementing
//!    [`ResourceType`]: `name()` is the Terraform type name, `schema()` uses the
//!    Terraform AWS provider's attribute names (include `tags` + `tags_all` via
//!    `SchemaAttrs::tagged` when the API can tag it).
//! 2. Make every SDK call through `p.call("service:Operation", || builder.clone().send())`
//!    (counting, throttling retries, error classification come with it).
//! 3. Build state with `Obj::new(&p.resource_schema(self.name()))` so every attribute is present;
//!    `read_many` returns one entry per prior in order, `None` for gone objects, batched.
//! 4. Tag creates with `tags::create_tags(&p.default_tags, planned, &ctx.resource)`,
//!    in the create call itself wherever the API allows (`TagSpecifications`,
//!    `Tags`): the engine finds an object whose create failed half-way, or
//!    whose answer was lost, by these tags. Where the object can only be
//!    tagged by a later call (S3 buckets), map every error after the call that
//!    made it with [`partially_created`] so the engine keeps it in state.
//!    Creates need no retry handling: `p.call` never re-sends a create that
//!    has no idempotency token (see `api::is_non_idempotent`).
//! 5. Add `Box::new(<thing>::Thing)` to [`all_resource_types`] and `mod <thing>;` below.
//!
//! A type whose create and update are the same idempotent write (a `Put*`
//! call, then a read) implements [`ResourceType::put`] only: the default
//! `create` and `update` call it.
//!    Default `plan` already predicts `tags_all`; override it only for type-specific rules.
//!
//! An EC2 type whose state maps one describable object needs less: add one
//! `describable!` line in [`ec2::find`], implement [`ec2::find::Ec2Mapped`]
//! (the mapping) and return `Some(self)` from [`ResourceType::lookups`];
//! `read_many` (batched by ID), `find_created` (by ownership tags) and
//! `list_owned` then come for free, and `find_by_id` serves `read_one`.
//!
//! The other shared shapes a type picks instead of writing them:
//! - schema: `crate::schema::SchemaAttrs` (`attrs`: one attribute under
//!   several names; `tagged`: `tags` and `tags_all`);
//! - update: [`ResourceType::in_place`] — `Put` (the `put` write),
//!   `Nothing` (every argument forces replacement), `Ec2Tags` (EC2 tags,
//!   then a read through the lookups);
//! - adoption: [`ResourceType::adopts`] (the `aws_default_*` types: no crash
//!   lookup, nothing listed as unmanaged);
//! - reads one object at a time by a key in state: [`ReadByKey`]
//!   (`read_many` is `read_keyed`); per-cluster EKS objects:
//!   `eks_access::ClusterChild`; objects listed with their tags:
//!   [`listed::TagListed`];
//! - paging: `ec2_support::describe_all` (one query's pages),
//!   `describe_chunked` (names in chunks of the API's limit, each paged),
//!   `describe_by_ids`; tags: `ec2_support::update_tags` (EC2),
//!   `tags::send_tag_changes` (any API), `iam::sync_iam_tags!` (IAM).

mod autoscaling;
mod autoscaling_parts;
mod autoscaling_policy;
mod autoscaling_schedule;
mod default_route_table;
mod default_security_group;
mod default_vpc;
pub(crate) mod ec2;
pub(crate) mod ec2_support;
mod ecr_lifecycle_policy;
mod ecr_registry_scanning;
mod ecr_registry_settings;
mod ecr_repository;
mod eks;
mod eks_access;
mod elb;
mod iam;
pub(crate) mod iam_policy;
mod instance;
pub(crate) mod instance_waiter;
mod internet_gateway;
mod key_pair;
pub(crate) mod kms;
mod launch_template;
pub(crate) mod lb;
pub(crate) mod listed;
mod logs;
mod not_yet;
mod route_table;
mod s3_bucket;
mod s3_bucket_part;
mod s3_bucket_parts;
mod s3_bucket_versioning;
pub(crate) mod secretsmanager;
mod security_group;
mod sg_rule;
pub(crate) mod ssm_parameter;
mod subnet;
pub(crate) mod subnet_groups;
pub(crate) mod unimplemented;
mod vpc;
pub(crate) mod vpc_endpoint;

use crate::Result;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::tags::planned_tags_all;
use crate::values::Obj;
use async_trait::async_trait;
use ec2::find::Lookups;
use s3_bucket_part::BucketResource;
use terrace_core::Value;
use terrace_provider::{
    AttrMode, CreateContext, Nesting, PlannedResource, ProviderError, ResourceContext, Schema,
    plan_with_schema,
};

/// What a type's default `update` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InPlace {
    /// Call `put`: one idempotent write serves create and update.
    Put,
    /// Nothing: every argument forces replacement (in Terraform, a resource
    /// without an update function: associations, attachments, rules), so
    /// what changes in place is state only (e.g. `timeouts`).
    Nothing,
    /// Only the tags, by EC2 `CreateTags`/`DeleteTags` on the ID; then a
    /// read through the type's lookups.
    Ec2Tags,
}

/// One AWS resource type.
#[async_trait]
pub(crate) trait ResourceType: Send + Sync {
    /// The Terraform type name, e.g. `aws_vpc`.
    fn name(&self) -> &'static str;

    fn schema(&self) -> Schema;

    /// Plan one instance. The default plans by schema and predicts `tags_all`.
    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        Ok(default_plan(
            p,
            &p.resource_schema(self.name()),
            prior,
            config,
            ctx,
        ))
    }

    /// The shared lookups of a type whose state maps one describable
    /// object ([`ec2::find::Ec2Mapped`]: return `Some(self)`). Such a type
    /// writes no `read_many`, `find_created` or `list_owned` of its own.
    fn lookups(&self) -> Option<&dyn Lookups> {
        None
    }

    /// For a type found by listing its objects with their tags through
    /// its own API (IAM, KMS, CloudWatch Logs): return `Some(self)`, and
    /// `find_created` / `list_owned` come from [`listed::TagListed`].
    fn tag_listed(&self) -> Option<&dyn listed::TagListed> {
        None
    }

    /// True for a type whose object carries no tags of its own: a part or
    /// configuration of a tagged parent (a route, an association, a bucket
    /// policy written by an idempotent `Put*`). A crashed create cannot be
    /// found by ownership tags and nothing is listed as unmanaged; such a
    /// type writes its own `read_many` instead of lookups.
    fn untagged(&self) -> bool {
        false
    }

    /// What the default `update` does; types that update otherwise
    /// override `update` instead.
    fn in_place(&self) -> InPlace {
        InPlace::Put
    }

    /// True for a type that adopts an object AWS made with its parent (the
    /// default VPC, and a VPC's default security group, main route table
    /// and default network ACL): its create makes nothing a crash could
    /// leave behind, so `find_created` finds nothing, and nothing is listed
    /// as unmanaged unless the type overrides `list_owned`.
    fn adopts(&self) -> bool {
        false
    }

    /// Refresh many objects; one entry per prior, in order; `None` = gone.
    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        no_lookups(self.name(), self.lookups())?
            .read_many(p, prior)
            .await
    }

    /// For a type whose create and update are one idempotent write
    /// (a `Put*` call) and a read: that write, returning the new state.
    /// The default `create` and `update` call it; other types override
    /// those two instead.
    async fn put(&self, p: &AwsProvider, planned: &Value) -> Result<Value> {
        let _ = (p, planned);
        Err(ProviderError::Unsupported(format!(
            "{}: the provider implements no create or update for this type",
            self.name()
        )))
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let _ = ctx;
        self.put(p, planned).await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        ctx: &ResourceContext,
    ) -> Result<Value> {
        let _ = ctx;
        match self.in_place() {
            InPlace::Put => self.put(p, planned).await,
            InPlace::Nothing => Ok(planned.clone()),
            InPlace::Ec2Tags => {
                let id = require_id(self.name(), prior)?;
                ec2_support::update_tags(p, &id, prior, planned).await?;
                let mut written = planned.clone();
                if let Some(m) = written.as_map_mut() {
                    m.insert("id".into(), Value::from(id.as_str()));
                }
                self.read_many(p, &[written])
                    .await?
                    .pop()
                    .flatten()
                    .ok_or_else(|| {
                        ProviderError::NotFound(format!(
                            "{} {id} not found after writing it",
                            self.name()
                        ))
                    })
            }
        }
    }

    /// Delete; already gone is success.
    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()>;

    /// Read by import ID. The default reads an object whose `id` is the
    /// import ID.
    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let stub = Obj::new(&p.resource_schema(self.name()))
            .set("id", id)
            .build();
        Ok(self.read_many(p, &[stub]).await?.pop().flatten())
    }

    /// Find what a crashed create with this token / address may have made.
    async fn find_created(
        &self,
        p: &AwsProvider,
        token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>> {
        let _ = token;
        if self.untagged() || self.adopts() {
            return Ok(None);
        }
        if let Some(t) = self.tag_listed() {
            return listed::find_created(t, p, ctx).await;
        }
        no_lookups(self.name(), self.lookups())?
            .find_created(p, ctx)
            .await
    }

    /// Every object of this type carrying `terrace:environment=<environment>`.
    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        if self.untagged() || self.adopts() {
            return Ok(Vec::new());
        }
        if let Some(t) = self.tag_listed() {
            return listed::list_owned(t, p, environment).await;
        }
        no_lookups(self.name(), self.lookups())?
            .list_owned(p, environment)
            .await
    }
}

/// The lookups of a type, or an error naming the type that forgot them.
fn no_lookups<'a>(type_name: &str, lookups: Option<&'a dyn Lookups>) -> Result<&'a dyn Lookups> {
    lookups.ok_or_else(|| {
        ProviderError::Unsupported(format!(
            "{type_name}: the provider implements no lookups for this type"
        ))
    })
}

/// A create made its object (`object`: the planned value with at least
/// its `id`), then `error` happened in a later call: report both, so the
/// engine keeps the object in state (the next plan updates or replaces it)
/// instead of orphaning it.
pub(crate) fn partially_created(object: &Value, error: ProviderError) -> ProviderError {
    match error {
        e @ ProviderError::PartiallyCreated { .. } => e,
        error => ProviderError::PartiallyCreated {
            object: Box::new(object.clone()),
            error: Box::new(error),
        },
    }
}

/// Read each prior with `read` (APIs without a batched read), a few
/// calls in flight; one entry per prior, in order.
pub(crate) async fn read_each<F, Fut>(prior: &[Value], read: F) -> Result<Vec<Option<Value>>>
where
    F: Fn(Value) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Value>>>,
{
    iam::read_each(prior.to_vec(), read).await
}

/// A type read one object at a time by a key its state holds (IAM,
/// KMS, CloudWatch Logs, EKS clusters): it writes `read_one`, and its
/// `read_many` is `read_keyed`.
#[async_trait]
pub(crate) trait ReadByKey: Send + Sync {
    /// The state attributes naming the object; the first one set is the key.
    const KEYS: &'static [&'static str];

    /// The object named `key` as state; `None` when it does not exist.
    async fn read_one(
        &self,
        p: &AwsProvider,
        key: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>>;

    /// Each prior by its key, a few calls in flight; `None` for gone ones.
    async fn read_keyed(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        read_each(prior, |pv| async move {
            let key = key_of(&pv, Self::KEYS);
            self.read_one(p, &key, Some(&pv)).await
        })
        .await
    }
}

/// The first of `keys` set in `v` (empty when none is: such a key names
/// nothing).
pub(crate) fn key_of(v: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| v.get(k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_string()
}

/// Every supported resource type. One line per type.
pub(crate) fn all_resource_types() -> Vec<Box<dyn ResourceType>> {
    vec![
        Box::new(vpc::Vpc),
        Box::new(subnet::Subnet),
        Box::new(security_group::SecurityGroup),
        Box::new(internet_gateway::InternetGateway),
        Box::new(route_table::RouteTable),
        Box::new(ec2::route::Route),
        Box::new(ec2::route_table_association::Association),
        Box::new(ec2::eip::Eip),
        Box::new(ec2::nat_gateway::NatGateway),
        Box::new(ec2::egress_only_internet_gateway::EgressOnlyInternetGateway),
        Box::new(default_security_group::DefaultSecurityGroup),
        Box::new(instance::Instance),
        Box::new(ecr_repository::EcrRepository),
        Box::new(ecr_lifecycle_policy::EcrPolicy::Lifecycle),
        Box::new(ecr_lifecycle_policy::EcrPolicy::Repository),
        Box::new(ecr_registry_scanning::RegistryScanning),
        Box::new(ecr_registry_settings::ReplicationConfig),
        Box::new(ecr_registry_settings::PullThroughCacheRuleType),
        Box::new(s3_bucket::S3Bucket),
        Box::new(BucketResource(s3_bucket_versioning::S3BucketVersioning)),
        Box::new(BucketResource(s3_bucket_parts::PublicAccessBlock)),
        Box::new(BucketResource(s3_bucket_parts::ServerSideEncryption)),
        Box::new(BucketResource(s3_bucket_parts::LifecycleConfiguration)),
        Box::new(BucketResource(s3_bucket_parts::BucketPolicy)),
        Box::new(BucketResource(s3_bucket_parts::OwnershipControls)),
        Box::new(BucketResource(s3_bucket_parts::BucketLogging)),
        Box::new(iam::IamRole),
        Box::new(iam::IamInstanceProfile),
        Box::new(iam::IamRolePolicyAttachment),
        Box::new(launch_template::LaunchTemplateType),
        Box::new(autoscaling::AutoscalingGroup),
        Box::new(eks::EksCluster),
        Box::new(eks::EksNodeGroup),
        Box::new(ssm_parameter::SsmParameter),
        Box::new(secretsmanager::Secret),
        Box::new(secretsmanager::SecretVersion),
        Box::new(eks_access::EksAddon),
        Box::new(eks_access::EksAccessEntry),
        Box::new(eks_access::EksAccessPolicyAssociation),
        Box::new(eks_access::EksPodIdentityAssociation),
        Box::new(autoscaling_schedule::AutoscalingSchedule),
        Box::new(autoscaling_policy::AutoscalingPolicy),
        Box::new(sg_rule::SecurityGroupRule),
        Box::new(sg_rule::VPC_INGRESS),
        Box::new(sg_rule::VPC_EGRESS),
        Box::new(key_pair::KeyPair),
        Box::new(iam_policy::IamPolicy),
        Box::new(iam_policy::IamRolePolicy),
        Box::new(iam_policy::OidcProvider),
        Box::new(kms::KmsKey),
        Box::new(kms::KmsAlias),
        Box::new(logs::LogGroupType),
        Box::new(logs::FlowLogType),
        Box::new(vpc_endpoint::VpcEndpointResource),
        Box::new(lb::load_balancer::LoadBalancer),
        Box::new(lb::target_group::TargetGroup),
        Box::new(lb::listener::Listener),
        Box::new(lb::attachment::Attachment),
        Box::new(ec2::dhcp_options::DhcpOptions),
        Box::new(ec2::dhcp_options::DhcpOptionsAssociation),
        Box::new(ec2::customer_gateway::CustomerGateway),
        Box::new(ec2::vpn_gateway::VpnGateway),
        Box::new(ec2::vpn_gateway::VpnGatewayAttachment),
        Box::new(ec2::vpn_gateway::RoutePropagation),
        Box::new(subnet_groups::SubnetGroup(subnet_groups::Service::Rds)),
        Box::new(subnet_groups::SubnetGroup(
            subnet_groups::Service::ElastiCache,
        )),
        Box::new(subnet_groups::SubnetGroup(subnet_groups::Service::Redshift)),
        Box::new(elb::Elb),
        Box::new(ec2::network_acl_rule::NetworkAclRule),
        Box::new(ec2::vpc_cidr_association::VpcCidrAssociation),
        Box::new(default_route_table::DefaultRouteTable),
        Box::new(ec2::network_acl::NetworkAcl),
        Box::new(ec2::network_acl::DefaultNetworkAcl),
        Box::new(default_vpc::DefaultVpc),
        Box::new(not_yet::NotYet("aws_vpc_block_public_access_options")),
        Box::new(not_yet::NotYet("aws_vpc_block_public_access_exclusion")),
    ]
}

/// `tags` (optional map) and `tags_all` (computed) for taggable types.
pub(crate) fn tags_attributes(schema: Schema) -> Schema {
    schema.tagged()
}

/// Plan by schema, then predict `tags_all` exactly when the schema has it.
pub(crate) fn default_plan(
    p: &AwsProvider,
    schema: &Schema,
    prior: Option<&Value>,
    config: &Value,
    ctx: &ResourceContext,
) -> PlannedResource {
    let adjusted = prior.map(|pv| keep_null_optional_computed(schema, pv, config));
    let mut planned = plan_with_schema(adjusted.as_ref().unwrap_or(schema), prior, config);
    if schema.attributes.contains_key("tags_all") {
        let tags = planned.planned.get("tags").cloned().unwrap_or(Value::Null);
        let mut all = planned_tags_all(&p.default_tags, &tags, ctx);
        if planned.requires_replace.is_empty() && prior.is_some_and(is_adopted) {
            // An object terrace did not create (brought in by an `import`
            // block or a pushed Terraform state) keeps the tags it has: no
            // ownership tags are added, so adopting it plans no change.
            all = without_ownership_tags(all);
        }
        if let Some(m) = planned.planned.as_map_mut() {
            m.insert("tags_all".into(), all);
        }
    }
    planned
}

/// An object in state whose recorded `tags_all` carries no
/// `terrace:environment` tag: one terrace adopted rather than created.
pub(crate) fn is_adopted(prior: &Value) -> bool {
    prior
        .get("tags_all")
        .and_then(Value::as_map)
        .is_some_and(|m| !m.contains_key(crate::provider::OWNER_ENVIRONMENT_TAG))
}

fn without_ownership_tags(all: Value) -> Value {
    match all {
        Value::Map(mut m) => {
            m.remove(crate::provider::OWNER_ENVIRONMENT_TAG);
            m.remove(crate::provider::OWNER_ADDRESS_TAG);
            Value::Map(m)
        }
        other => other,
    }
}

/// The generic planner plans an optional+computed attribute that is unset
/// in the configuration and null in the prior as unknown (and, when it
/// forces replacement, replaces). An API that reports "none" (no key pair,
/// no KMS key) must plan as no change: treat such attributes as plain
/// optional for this plan.
fn keep_null_optional_computed(schema: &Schema, prior: &Value, config: &Value) -> Schema {
    let mut out = schema.clone();
    for (name, attr) in out.attributes.iter_mut() {
        let cfg_null = config.get(name).is_none_or(Value::is_null);
        if attr.mode == AttrMode::OptionalComputed
            && cfg_null
            && prior.get(name).is_some_and(Value::is_null)
        {
            attr.mode = AttrMode::Optional;
            attr.default = None;
        }
    }
    for (name, block) in out.blocks.iter_mut() {
        if block.nesting != Nesting::List {
            continue;
        }
        let (Some(old), Some(new)) = (
            prior.get(name).and_then(Value::as_list),
            config.get(name).and_then(Value::as_list),
        ) else {
            continue;
        };
        // Blocks of one item (the common "single" block) only: per-item
        // schemas cannot differ.
        if let ([o], [n]) = (old, new) {
            block.schema = keep_null_optional_computed(&block.schema, o, n);
        }
    }
    out
}

/// An import ID that does not have the documented form.
pub(crate) fn bad_import_id(id: &str, form: &str) -> ProviderError {
    ProviderError::InvalidArgument {
        path: None,
        code: "InvalidImportId".into(),
        message: format!("import ID {id:?} is not of the form {form}"),
    }
}

/// The `id` of a state object, or an error naming the type.
pub(crate) fn require_id(type_name: &str, v: &Value) -> Result<String> {
    v.get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ProviderError::Api {
            code: "MissingId".into(),
            message: format!("{type_name} has no id in state"),
        })
}

/// Poll `check` until it returns `Some`, or time out.
pub(crate) async fn wait_for<T, F, Fut>(
    what: &str,
    timeout: std::time::Duration,
    interval: std::time::Duration,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            return Err(ProviderError::Timeout {
                what: what.to_string(),
                after: timeout,
            });
        }
        tokio::time::sleep(interval).await;
    }
}

/// For a nested block that is optional *and* computed (the API fills it
/// when the configuration has none): plan the prior's value as if it were
/// configured, or unknown for a new object. Call before and after planning:
/// `config = computed_block_config(...)`, then `computed_block_unknown(...)`.
pub(crate) fn computed_block_config(config: &Value, prior: Option<&Value>, key: &str) -> Value {
    let configured = config
        .get(key)
        .and_then(Value::as_list)
        .is_some_and(|l| !l.is_empty());
    let mut config = config.clone();
    if !configured
        && let Some(old) = prior
            .and_then(|pv| pv.get(key))
            .filter(|v| v.as_list().is_some_and(|l| !l.is_empty()))
        && let Some(m) = config.as_map_mut()
    {
        m.insert(key.to_string(), old.clone());
    }
    config
}

/// See [`computed_block_config`]: an unconfigured block of a new object is unknown.
pub(crate) fn computed_block_unknown(planned: &mut PlannedResource, config: &Value, key: &str) {
    let configured = config
        .get(key)
        .and_then(Value::as_list)
        .is_some_and(|l| !l.is_empty());
    if !configured && let Some(m) = planned.planned.as_map_mut() {
        m.insert(key.to_string(), Value::Unknown);
    }
}

/// The caller's account ID (`sts:GetCallerIdentity`), for the ARNs of
/// objects whose API reports no owner.
pub(crate) async fn caller_account(p: &AwsProvider) -> Result<String> {
    let who = p
        .call("sts:GetCallerIdentity", || {
            p.sts.get_caller_identity().send()
        })
        .await?;
    Ok(who.account().unwrap_or_default().to_string())
}

/// `v` with its `arn` set to the ARN of `resource` of `service` in the
/// caller's account, for objects whose describe call reports no owner
/// (customer and VPN gateways, classic load balancers); their mapping
/// keeps the ARN from state.
pub(crate) async fn with_caller_arn(
    p: &AwsProvider,
    v: &Value,
    service: &str,
    resource: &str,
) -> Result<Value> {
    let arn = p.arn(service, &caller_account(p).await?, resource);
    let mut v = v.clone();
    if let Some(m) = v.as_map_mut() {
        m.insert("arn".into(), Value::from(arn));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_of_takes_the_first_key_set() {
        let v = Value::map([
            ("id", Value::Null),
            ("name", Value::from("role-a")),
            ("arn", Value::from("arn:aws:iam::1:role/role-a")),
        ]);
        assert_eq!(key_of(&v, &["id", "name", "arn"]), "role-a");
        assert_eq!(key_of(&v, &["arn", "name"]), "arn:aws:iam::1:role/role-a");
        assert_eq!(key_of(&v, &["id", "missing"]), "");
    }
}
