//! Two registry-wide ECR settings that carry no tags:
//! `aws_ecr_replication_configuration` (the registry's one replication
//! configuration: `rule`s of `destination`s and `repository_filter`s; the
//! `id` and import ID is the registry ID; destroying it writes an empty
//! configuration, and a registry with no rules reads as gone) and
//! `aws_ecr_pull_through_cache_rule` (one rule per `ecr_repository_prefix`,
//! which is its `id` and import ID; `credential_arn` and `custom_role_arn`
//! change in place, the rest replaces; every rule of the registry is read
//! in one paged `DescribePullThroughCacheRules`).

use super::ec2_support::ok_if_gone;
use super::{ResourceType, default_plan, require_id};
use crate::Result;
use crate::api::{argument_error, at_path};
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::values::{Obj, first_block, get_blocks, get_str, opt_str};
use async_trait::async_trait;
use aws_sdk_ecr::types::{
    PullThroughCacheRule, ReplicationConfiguration, ReplicationDestination, ReplicationRule,
    RepositoryFilter, RepositoryFilterType,
};
use std::collections::BTreeMap;
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

// ------------------------------------------------ replication configuration

pub(crate) struct ReplicationConfig;

const REPLICATION: &str = "aws_ecr_replication_configuration";

fn config_error(message: String) -> ProviderError {
    ProviderError::InvalidArgument {
        path: Some(vec![PathStep::Key("replication_configuration".into())]),
        code: "InvalidArgument".into(),
        message,
    }
}

impl ReplicationConfig {
    /// The registry's configuration; `None` when it has no rules.
    async fn get(&self, p: &AwsProvider) -> Result<Option<Value>> {
        let out = p
            .call("ecr:DescribeRegistry", || p.ecr.describe_registry().send())
            .await?;
        let registry = out.registry_id().unwrap_or_default();
        let rules: Vec<Value> = out
            .replication_configuration()
            .map(|c| c.rules())
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let destinations = r
                    .destinations()
                    .iter()
                    .map(|d| {
                        Value::map([
                            ("region", Value::from(d.region())),
                            ("registry_id", Value::from(d.registry_id())),
                        ])
                    })
                    .collect();
                let filters = r
                    .repository_filters()
                    .iter()
                    .map(|f| {
                        Value::map([
                            ("filter", Value::from(f.filter())),
                            ("filter_type", Value::from(f.filter_type().as_str())),
                        ])
                    })
                    .collect();
                Value::map([
                    ("destination", Value::List(destinations)),
                    ("repository_filter", Value::List(filters)),
                ])
            })
            .collect();
        if rules.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            Obj::new(&p.resource_schema(REPLICATION))
                .set("id", registry)
                .set("registry_id", registry)
                .set(
                    "replication_configuration",
                    Value::List(vec![Value::map([("rule", Value::List(rules))])]),
                )
                .build(),
        ))
    }

    async fn write(&self, p: &AwsProvider, planned: &Value) -> Result<()> {
        let mut rules = Vec::new();
        let cfg = first_block(planned, "replication_configuration");
        for r in cfg.map(|c| get_blocks(c, "rule")).unwrap_or_default() {
            let mut b = ReplicationRule::builder();
            for d in get_blocks(r, "destination") {
                b = b.destinations(
                    ReplicationDestination::builder()
                        .set_region(get_str(d, "region"))
                        .set_registry_id(get_str(d, "registry_id"))
                        .build()
                        .map_err(|e| config_error(e.to_string()))?,
                );
            }
            for f in get_blocks(r, "repository_filter") {
                b = b.repository_filters(
                    RepositoryFilter::builder()
                        .set_filter(get_str(f, "filter"))
                        .set_filter_type(
                            get_str(f, "filter_type")
                                .map(|t| RepositoryFilterType::from(t.as_str())),
                        )
                        .build()
                        .map_err(|e| config_error(e.to_string()))?,
                );
            }
            rules.push(b.build().map_err(|e| config_error(e.to_string()))?);
        }
        let config = ReplicationConfiguration::builder()
            .set_rules(Some(rules))
            .build()
            .map_err(|e| config_error(e.to_string()))?;
        p.call("ecr:PutReplicationConfiguration", || {
            p.ecr
                .put_replication_configuration()
                .replication_configuration(config.clone())
                .send()
        })
        .await
        .map_err(|e| argument_error(e, "replication_configuration"))?;
        Ok(())
    }
}

#[async_trait]
impl ResourceType for ReplicationConfig {
    fn name(&self) -> &'static str {
        REPLICATION
    }

    // The registry's own setting: written again idempotently, never tagged.
    fn untagged(&self) -> bool {
        true
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "registry_id"],
                Attribute::computed(AttrType::String),
            )
            .list_block(
                "replication_configuration",
                0,
                1,
                Schema::new().list_block(
                    "rule",
                    1,
                    10,
                    Schema::new()
                        .list_block(
                            "destination",
                            1,
                            100,
                            Schema::new().attrs(
                                &["region", "registry_id"],
                                Attribute::required(AttrType::String),
                            ),
                        )
                        .list_block(
                            "repository_filter",
                            0,
                            100,
                            Schema::new().attrs(
                                &["filter", "filter_type"],
                                Attribute::required(AttrType::String),
                            ),
                        ),
                ),
            )
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        // One configuration per registry: one call serves every instance.
        let now = self.get(p).await?;
        Ok(prior.iter().map(|_| now.clone()).collect())
    }

    async fn import(&self, p: &AwsProvider, _id: &str) -> Result<Option<Value>> {
        self.get(p).await
    }

    async fn put(&self, p: &AwsProvider, planned: &Value) -> Result<Value> {
        self.write(p, planned).await?;
        self.get(p).await?.ok_or_else(|| {
            config_error(
                "the registry has no replication rule after the write; give at least one \
                 `rule` in replication_configuration"
                    .into(),
            )
        })
    }

    async fn delete(&self, p: &AwsProvider, _prior: &Value) -> Result<()> {
        self.write(p, &Value::map::<&str>([])).await
    }
}

// ------------------------------------------------ pull-through cache rule

pub(crate) struct PullThroughCacheRuleType;

const PULL_THROUGH: &str = "aws_ecr_pull_through_cache_rule";

impl PullThroughCacheRuleType {
    fn to_value(&self, p: &AwsProvider, r: &PullThroughCacheRule) -> Value {
        let prefix = r.ecr_repository_prefix().unwrap_or_default();
        Obj::new(&p.resource_schema(PULL_THROUGH))
            .set("id", prefix)
            .set("ecr_repository_prefix", prefix)
            .set_opt_str("upstream_registry_url", r.upstream_registry_url())
            .set_opt_str("registry_id", r.registry_id())
            .set(
                "credential_arn",
                opt_str(r.credential_arn().filter(|s| !s.is_empty())),
            )
            .set(
                "custom_role_arn",
                opt_str(r.custom_role_arn().filter(|s| !s.is_empty())),
            )
            .set_opt_str("upstream_repository_prefix", r.upstream_repository_prefix())
            .build()
    }

    /// Every rule of the registry by prefix (paged).
    async fn all(&self, p: &AwsProvider) -> Result<BTreeMap<String, Value>> {
        let mut out = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let page = p
                .call("ecr:DescribePullThroughCacheRules", || {
                    p.ecr
                        .describe_pull_through_cache_rules()
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            for r in page.pull_through_cache_rules() {
                if let Some(prefix) = r.ecr_repository_prefix() {
                    out.insert(prefix.to_string(), self.to_value(p, r));
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn read_one(&self, p: &AwsProvider, prefix: &str) -> Result<Value> {
        self.all(p).await?.remove(prefix).ok_or_else(|| {
            ProviderError::NotFound(format!(
                "pull-through cache rule {prefix} vanished right after it was written"
            ))
        })
    }
}

#[async_trait]
impl ResourceType for PullThroughCacheRuleType {
    fn name(&self) -> &'static str {
        PULL_THROUGH
    }

    // A registry setting: ECR has no tags on pull-through cache rules.
    fn untagged(&self) -> bool {
        true
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "registry_id"],
                Attribute::computed(AttrType::String),
            )
            .attrs(
                &["ecr_repository_prefix", "upstream_registry_url"],
                Attribute::required(AttrType::String).force_new(),
            )
            .attrs(
                &["credential_arn", "custom_role_arn"],
                Attribute::optional(AttrType::String),
            )
            .attr(
                "upstream_repository_prefix",
                Attribute::optional_computed(AttrType::String).force_new(),
            )
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<terrace_provider::PlannedResource> {
        if let Some(prefix) = get_str(config, "ecr_repository_prefix")
            && prefix != "ROOT"
            && !(2..=30).contains(&prefix.len())
        {
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![PathStep::Key("ecr_repository_prefix".into())]),
                code: "InvalidArgument".into(),
                message: format!(
                    "ecr_repository_prefix {prefix:?} must be 2 to 30 characters (or \"ROOT\")"
                ),
            });
        }
        let mut planned = default_plan(p, &p.resource_schema(PULL_THROUGH), prior, config, ctx);
        if prior.is_none()
            && let Some(m) = planned.planned.as_map_mut()
            && let Some(prefix) = get_str(config, "ecr_repository_prefix")
        {
            m.insert("id".into(), Value::from(prefix));
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let all = self.all(p).await?;
        Ok(prior
            .iter()
            .map(|v| get_str(v, "id").and_then(|id| all.get(&id).cloned()))
            .collect())
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        let prefix = get_str(planned, "ecr_repository_prefix").unwrap_or_default();
        p.call("ecr:CreatePullThroughCacheRule", || {
            p.ecr
                .create_pull_through_cache_rule()
                .ecr_repository_prefix(&prefix)
                .set_upstream_registry_url(get_str(planned, "upstream_registry_url"))
                .set_credential_arn(get_str(planned, "credential_arn"))
                .set_custom_role_arn(get_str(planned, "custom_role_arn"))
                .set_upstream_repository_prefix(get_str(planned, "upstream_repository_prefix"))
                .send()
        })
        .await
        .map_err(|e| match &e {
            ProviderError::InvalidArgument { code, .. } | ProviderError::Conflict { code, .. }
                if code.contains("AlreadyExists") =>
            {
                argument_error(e, "ecr_repository_prefix")
            }
            ProviderError::Api { code, .. } if code.contains("AlreadyExists") => {
                argument_error(e, "ecr_repository_prefix")
            }
            ProviderError::InvalidArgument { code, .. } if code.contains("UnsupportedUpstream") => {
                at_path(e, "upstream_registry_url")
            }
            _ => e,
        })?;
        self.read_one(p, &prefix).await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let prefix = require_id(PULL_THROUGH, prior)?;
        p.call("ecr:UpdatePullThroughCacheRule", || {
            p.ecr
                .update_pull_through_cache_rule()
                .ecr_repository_prefix(&prefix)
                .set_credential_arn(get_str(planned, "credential_arn"))
                .set_custom_role_arn(get_str(planned, "custom_role_arn"))
                .send()
        })
        .await?;
        self.read_one(p, &prefix).await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let prefix = require_id(PULL_THROUGH, prior)?;
        ok_if_gone(
            p.call("ecr:DeletePullThroughCacheRule", || {
                p.ecr
                    .delete_pull_through_cache_rule()
                    .ecr_repository_prefix(&prefix)
                    .send()
            })
            .await,
        )
    }
}
