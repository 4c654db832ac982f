//! `aws_ecr_lifecycle_policy` and `aws_ecr_repository_policy`: one JSON
//! document per repository, put / got / deleted by repository name (the
//! state `id` and the import ID). The document is compared semantically:
//! reformatting it or reordering keys is no change.

use super::ec2_support::ok_if_gone;
use super::{ResourceType, default_plan};
use crate::Result;
use crate::api::{at_path, is_not_found};
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::values::{Obj, get_str, json_equivalent, normalize_json};
use async_trait::async_trait;
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

/// Which of a repository's two policies.
#[derive(Clone, PartialEq)]
pub(crate) enum EcrPolicy {
    Lifecycle,
    Repository,
}

impl EcrPolicy {
    /// The policy of one repository: `None` when the repository or its policy is gone.
    async fn get(&self, p: &AwsProvider, repo: &str) -> Result<Option<(String, String)>> {
        let r = match self {
            EcrPolicy::Lifecycle => p
                .call("ecr:GetLifecyclePolicy", || {
                    p.ecr.get_lifecycle_policy().repository_name(repo).send()
                })
                .await
                .map(|o| {
                    let reg = o.registry_id().unwrap_or_default().to_string();
                    o.lifecycle_policy_text.map(|t| (t, reg))
                }),
            EcrPolicy::Repository => p
                .call("ecr:GetRepositoryPolicy", || {
                    p.ecr.get_repository_policy().repository_name(repo).send()
                })
                .await
                .map(|o| {
                    let reg = o.registry_id().unwrap_or_default().to_string();
                    o.policy_text.map(|t| (t, reg))
                }),
        };
        match r {
            Ok(found) => Ok(found),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn to_value(
        &self,
        p: &AwsProvider,
        repo: &str,
        text: &str,
        registry: &str,
        prior: Option<&Value>,
    ) -> Value {
        // Keep the prior's formatting when it means the same.
        let policy = match prior.and_then(|pv| get_str(pv, "policy")) {
            Some(old) if json_equivalent(&old, text) => old,
            _ => normalize_json(text),
        };
        Obj::new(&p.resource_schema(self.type_name()))
            .set("id", repo)
            .set("repository", repo)
            .set("policy", policy)
            .set("registry_id", registry)
            .build()
    }

    async fn put(&self, p: &AwsProvider, planned: &Value) -> Result<String> {
        let repo = get_str(planned, "repository").unwrap_or_default();
        let text = get_str(planned, "policy").unwrap_or_default();
        if serde_json::from_str::<serde_json::Value>(&text).is_err() {
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![PathStep::Key("policy".into())]),
                code: "InvalidJson".into(),
                message: "policy is not valid JSON".into(),
            });
        }
        match self {
            EcrPolicy::Lifecycle => p
                .call("ecr:PutLifecyclePolicy", || {
                    p.ecr
                        .put_lifecycle_policy()
                        .repository_name(&repo)
                        .lifecycle_policy_text(&text)
                        .send()
                })
                .await
                .map(|_| ()),
            EcrPolicy::Repository => p
                .call("ecr:SetRepositoryPolicy", || {
                    p.ecr
                        .set_repository_policy()
                        .repository_name(&repo)
                        .policy_text(&text)
                        .send()
                })
                .await
                .map(|_| ()),
        }
        .map_err(|e| at_path(e, "policy"))?;
        Ok(repo)
    }

    fn type_name(&self) -> &'static str {
        match self {
            EcrPolicy::Lifecycle => "aws_ecr_lifecycle_policy",
            EcrPolicy::Repository => "aws_ecr_repository_policy",
        }
    }
}

#[async_trait]
impl ResourceType for EcrPolicy {
    fn name(&self) -> &'static str {
        self.type_name()
    }

    // Written again idempotently; belongs to its tagged parent.
    fn untagged(&self) -> bool {
        true
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "registry_id"],
                Attribute::computed(AttrType::String),
            )
            .attr(
                "repository",
                Attribute::required(AttrType::String).force_new(),
            )
            .attr("policy", Attribute::required(AttrType::String))
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let mut planned = default_plan(p, &p.resource_schema(self.name()), prior, config, ctx);
        if let Some(m) = planned.planned.as_map_mut() {
            if let (Some(old), Some(new)) = (
                prior.and_then(|pv| get_str(pv, "policy")),
                get_str(config, "policy"),
            ) && json_equivalent(&old, &new)
            {
                m.insert("policy".into(), Value::from(old));
            }
            if let Some(repo) = config.get("repository").filter(|r| !r.is_null()) {
                m.insert("id".into(), repo.clone());
            }
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        // ECR has no batched policy read: one call per repository, concurrently.
        super::read_each(prior, |pv| async move {
            let repo = get_str(&pv, "repository")
                .or_else(|| get_str(&pv, "id"))
                .unwrap_or_default();
            Ok::<_, ProviderError>(
                self.get(p, &repo)
                    .await?
                    .map(|(t, reg)| self.to_value(p, &repo, &t, &reg, Some(&pv))),
            )
        })
        .await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        Ok(self
            .get(p, id)
            .await?
            .map(|(t, reg)| self.to_value(p, id, &t, &reg, None)))
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        let repo = self.put(p, planned).await?;
        let (t, reg) = self.get(p, &repo).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("{} of {repo} not found after create", self.name()))
        })?;
        Ok(self.to_value(p, &repo, &t, &reg, Some(planned)))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        _prior: &Value,
        planned: &Value,
        ctx: &ResourceContext,
    ) -> Result<Value> {
        let c = CreateContext {
            resource: ctx.clone(),
            idempotency_token: String::new(),
            timeout: std::time::Duration::from_secs(60),
        };
        self.create(p, planned, &c).await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let repo = get_str(prior, "repository")
            .or_else(|| get_str(prior, "id"))
            .unwrap_or_default();
        ok_if_gone(match self {
            EcrPolicy::Lifecycle => p
                .call("ecr:DeleteLifecyclePolicy", || {
                    p.ecr
                        .delete_lifecycle_policy()
                        .repository_name(&repo)
                        .send()
                })
                .await
                .map(|_| ()),
            EcrPolicy::Repository => p
                .call("ecr:DeleteRepositoryPolicy", || {
                    p.ecr
                        .delete_repository_policy()
                        .repository_name(&repo)
                        .send()
                })
                .await
                .map(|_| ()),
        })
    }
}
