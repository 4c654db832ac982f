//! `aws_ecr_repository`.

use super::{ResourceType, computed_block_config, computed_block_unknown, default_plan};
use crate::Result;
use crate::api::{at_path, is_not_found};
use crate::provider::{AwsProvider, OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, tag_changes, tags_from_api};
use crate::values::{Obj, first_block, get_bool, get_str, value_to_str_map};
use async_trait::async_trait;
use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability,
    Repository, Tag,
};
use futures::{StreamExt, TryStreamExt};
use std::collections::BTreeMap;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct EcrRepository;

const NAME: &str = "aws_ecr_repository";
/// Repository names per DescribeRepositories call (the API maximum).
const NAMES_PER_CALL: usize = 100;
const TAG_CONCURRENCY: usize = 8;

fn ecr_tags(tags: &TagMap) -> Result<Vec<Tag>> {
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

impl EcrRepository {
    fn to_value(
        &self,
        p: &AwsProvider,
        r: &Repository,
        tags: &TagMap,
        prior: Option<&Value>,
    ) -> Value {
        let scan = r
            .image_scanning_configuration()
            .map(|s| s.scan_on_push())
            .unwrap_or(false);
        let enc = r.encryption_configuration();
        let encryption = Value::map([
            (
                "encryption_type",
                Value::from(
                    enc.map(|e| e.encryption_type().as_str())
                        .unwrap_or("AES256"),
                ),
            ),
            (
                "kms_key",
                enc.and_then(|e| e.kms_key())
                    .map(Value::from)
                    .unwrap_or(Value::Null),
            ),
        ]);
        let (tags, tags_all) = tags_from_api(tags, prior, &p.default_tags);
        Obj::new(&p.resource_schema(NAME))
            .keep(prior, &["force_delete"])
            .set_opt_str("id", r.repository_name())
            .set_opt_str("name", r.repository_name())
            .set_opt_str("arn", r.repository_arn())
            .set_opt_str("registry_id", r.registry_id())
            .set_opt_str("repository_url", r.repository_uri())
            .set(
                "image_tag_mutability",
                r.image_tag_mutability()
                    .map(|m| m.as_str())
                    .unwrap_or("MUTABLE"),
            )
            .set(
                "image_scanning_configuration",
                Value::List(vec![Value::map([("scan_on_push", Value::Bool(scan))])]),
            )
            .set("encryption_configuration", Value::List(vec![encryption]))
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }

    async fn tags_of(&self, p: &AwsProvider, arn: &str) -> Result<TagMap> {
        let out = p
            .call("ecr:ListTagsForResource", || {
                p.ecr.list_tags_for_resource().resource_arn(arn).send()
            })
            .await?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }

    /// Repositories with their tags (one tag call per repository: the API has no batch).
    async fn with_tags(
        &self,
        p: &AwsProvider,
        repos: Vec<Repository>,
    ) -> Result<Vec<(Repository, TagMap)>> {
        futures::stream::iter(repos)
            .map(|r| async move {
                let tags = match r.repository_arn() {
                    Some(arn) => match self.tags_of(p, arn).await {
                        Ok(t) => t,
                        // Deleted since it was listed.
                        Err(e) if is_not_found(&e) => return Ok(None),
                        Err(e) => return Err(e),
                    },
                    None => TagMap::new(),
                };
                Ok::<_, ProviderError>(Some((r, tags)))
            })
            .buffered(TAG_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await
            .map(|v| v.into_iter().flatten().collect())
    }

    async fn describe_all(&self, p: &AwsProvider) -> Result<Vec<Repository>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = p
                .call("ecr:DescribeRepositories", || {
                    p.ecr
                        .describe_repositories()
                        .set_next_token(token.clone())
                        .max_results(1000)
                        .send()
                })
                .await?;
            out.extend(page.repositories().iter().cloned());
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// Repositories by name, batched; missing names are simply absent.
    async fn describe(&self, p: &AwsProvider, names: &[String]) -> Result<Vec<Repository>> {
        let mut unique: Vec<String> = names.iter().filter(|n| !n.is_empty()).cloned().collect();
        unique.sort();
        unique.dedup();
        let mut out = Vec::new();
        for chunk in unique.chunks(NAMES_PER_CALL) {
            let r = p
                .call("ecr:DescribeRepositories", || {
                    p.ecr
                        .describe_repositories()
                        .set_repository_names(Some(chunk.to_vec()))
                        .send()
                })
                .await;
            match r {
                Ok(page) => out.extend(page.repositories().iter().cloned()),
                Err(e) if is_not_found(&e) => {
                    // One missing name fails the whole call: list everything instead.
                    let all = self.describe_all(p).await?;
                    return Ok(all
                        .into_iter()
                        .filter(|r| {
                            r.repository_name()
                                .is_some_and(|n| unique.iter().any(|u| u == n))
                        })
                        .collect());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn read_one(
        &self,
        p: &AwsProvider,
        name: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let found = self
            .with_tags(p, self.describe(p, &[name.to_string()]).await?)
            .await?;
        Ok(found.first().map(|(r, t)| self.to_value(p, r, t, prior)))
    }

    async fn owned(&self, p: &AwsProvider, want: &[(&str, &str)]) -> Result<Vec<Value>> {
        let all = self.with_tags(p, self.describe_all(p).await?).await?;
        Ok(all
            .iter()
            .filter(|(_, tags)| {
                want.iter()
                    .all(|(k, v)| tags.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(r, t)| {
                let mut v = self.to_value(p, r, t, None);
                if let Some(m) = v.as_map_mut() {
                    m.insert("force_delete".into(), Value::Null);
                }
                v
            })
            .collect())
    }
}

fn name_of(v: &Value) -> String {
    get_str(v, "name")
        .or_else(|| get_str(v, "id"))
        .unwrap_or_default()
}

#[async_trait]
impl ResourceType for EcrRepository {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "arn", "registry_id", "repository_url"],
                Attribute::computed(AttrType::String),
            )
            .attr("name", Attribute::required(AttrType::String).force_new())
            .attr(
                "image_tag_mutability",
                Attribute::optional(AttrType::String).default("MUTABLE"),
            )
            .attr("force_delete", Attribute::optional(AttrType::Bool))
            .list_block(
                "image_scanning_configuration",
                0,
                1,
                Schema::new().attr("scan_on_push", Attribute::required(AttrType::Bool)),
            )
            .list_block(
                "encryption_configuration",
                0,
                1,
                Schema::new()
                    .attr(
                        "encryption_type",
                        Attribute::optional(AttrType::String)
                            .default("AES256")
                            .force_new(),
                    )
                    .attr(
                        "kms_key",
                        Attribute::optional_computed(AttrType::String).force_new(),
                    ),
            )
            .computed_block("image_scanning_configuration")
            .computed_block("encryption_configuration")
            .tagged()
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let original = config;
        let config = computed_block_config(config, prior, "image_scanning_configuration");
        let config = computed_block_config(&config, prior, "encryption_configuration");
        let mut planned = default_plan(p, &p.resource_schema(NAME), prior, &config, ctx);
        let config = &config;
        let _ = original;
        computed_block_unknown(&mut planned, config, "image_scanning_configuration");
        computed_block_unknown(&mut planned, config, "encryption_configuration");
        if let Some(m) = planned.planned.as_map_mut() {
            // The ID is the name.
            if let Some(name) = config.get("name").filter(|n| !n.is_null()) {
                m.insert("id".into(), name.clone());
            }
            // AES256 has no KMS key.
            if let Some(Value::List(items)) = m.get_mut("encryption_configuration") {
                for item in items.iter_mut() {
                    if get_str(item, "encryption_type").as_deref() == Some("AES256")
                        && item.get("kms_key").is_some_and(Value::is_unknown)
                        && let Some(im) = item.as_map_mut()
                    {
                        im.insert("kms_key".into(), Value::Null);
                    }
                }
            }
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let names: Vec<String> = prior.iter().map(name_of).collect();
        let found = self.with_tags(p, self.describe(p, &names).await?).await?;
        let by_name: BTreeMap<&str, &(Repository, TagMap)> = found
            .iter()
            .filter_map(|f| Some((f.0.repository_name()?, f)))
            .collect();
        Ok(prior
            .iter()
            .zip(&names)
            .map(|(pv, n)| {
                by_name
                    .get(n.as_str())
                    .map(|(r, t)| self.to_value(p, r, t, Some(pv)))
            })
            .collect())
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let v = self.read_one(p, id, None).await?;
        Ok(v.map(|mut v| {
            if let Some(m) = v.as_map_mut() {
                m.insert("force_delete".into(), Value::Null);
            }
            v
        }))
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let name = name_of(planned);
        let tags = ecr_tags(&create_tags(&p.default_tags, planned, &ctx.resource))?;
        let scan = first_block(planned, "image_scanning_configuration")
            .and_then(|b| get_bool(b, "scan_on_push"))
            .map(|s| {
                ImageScanningConfiguration::builder()
                    .scan_on_push(s)
                    .build()
            });
        let enc = match first_block(planned, "encryption_configuration") {
            Some(b) => Some(
                EncryptionConfiguration::builder()
                    .encryption_type(EncryptionType::from(
                        get_str(b, "encryption_type")
                            .unwrap_or_else(|| "AES256".into())
                            .as_str(),
                    ))
                    .set_kms_key(get_str(b, "kms_key"))
                    .build()
                    .map_err(|e| ProviderError::InvalidArgument {
                        path: None,
                        code: "InvalidEncryptionConfiguration".into(),
                        message: e.to_string(),
                    })?,
            ),
            None => None,
        };
        let mutability =
            get_str(planned, "image_tag_mutability").map(|m| ImageTagMutability::from(m.as_str()));
        p.call("ecr:CreateRepository", || {
            p.ecr
                .create_repository()
                .repository_name(&name)
                .set_image_tag_mutability(mutability.clone())
                .set_image_scanning_configuration(scan.clone())
                .set_encryption_configuration(enc.clone())
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await
        .map_err(|e| at_path(e, "name"))?;
        self.read_one(p, &name, Some(planned))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!("ECR repository {name} not found after create"))
            })
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let name = name_of(prior);
        if let Some(m) = get_str(planned, "image_tag_mutability")
            && get_str(prior, "image_tag_mutability") != Some(m.clone())
        {
            p.call("ecr:PutImageTagMutability", || {
                p.ecr
                    .put_image_tag_mutability()
                    .repository_name(&name)
                    .image_tag_mutability(ImageTagMutability::from(m.as_str()))
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "image_tag_mutability"))?;
        }
        let scan_of = |v: &Value| {
            first_block(v, "image_scanning_configuration").and_then(|b| get_bool(b, "scan_on_push"))
        };
        if let Some(scan) = scan_of(planned)
            && scan_of(prior) != Some(scan)
        {
            let cfg = ImageScanningConfiguration::builder()
                .scan_on_push(scan)
                .build();
            p.call("ecr:PutImageScanningConfiguration", || {
                p.ecr
                    .put_image_scanning_configuration()
                    .repository_name(&name)
                    .image_scanning_configuration(cfg.clone())
                    .send()
            })
            .await?;
        }
        let old = value_to_str_map(prior.get("tags_all").unwrap_or(&Value::Null));
        let new = value_to_str_map(planned.get("tags_all").unwrap_or(&Value::Null));
        let (removed, changed) = tag_changes(&old, &new);
        let arn = get_str(prior, "arn").unwrap_or_default();
        if !removed.is_empty() {
            p.call("ecr:UntagResource", || {
                p.ecr
                    .untag_resource()
                    .resource_arn(&arn)
                    .set_tag_keys(Some(removed.clone()))
                    .send()
            })
            .await?;
        }
        if !changed.is_empty() {
            let tags = ecr_tags(&changed)?;
            p.call("ecr:TagResource", || {
                p.ecr
                    .tag_resource()
                    .resource_arn(&arn)
                    .set_tags(Some(tags.clone()))
                    .send()
            })
            .await?;
        }
        self.read_one(p, &name, Some(planned))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!("ECR repository {name} disappeared during update"))
            })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let name = name_of(prior);
        let force = get_bool(prior, "force_delete").unwrap_or(false);
        let r = p
            .call("ecr:DeleteRepository", || {
                p.ecr
                    .delete_repository()
                    .repository_name(&name)
                    .force(force)
                    .send()
            })
            .await;
        super::ec2_support::ok_if_gone(r)
    }

    async fn find_created(
        &self,
        p: &AwsProvider,
        _token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>> {
        let found = self
            .owned(
                p,
                &[
                    (OWNER_ENVIRONMENT_TAG, ctx.environment.as_str()),
                    (OWNER_ADDRESS_TAG, ctx.address.as_str()),
                ],
            )
            .await?;
        Ok(found.into_iter().next())
    }

    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        self.owned(p, &[(OWNER_ENVIRONMENT_TAG, environment)]).await
    }
}
