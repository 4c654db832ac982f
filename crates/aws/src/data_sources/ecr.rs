//! ECR data sources: `aws_ecr_repository` (read through the resource type,
//! so both report the same attributes), `aws_ecr_authorization_token`
//! (`password` and `authorization_token` sensitive) and `aws_ecr_image`
//! (by digest, tag, or the most recently pushed).

use super::DataSourceType;
use crate::Result;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::values::{Obj, get_bool, get_str, opt_str, str_list};
use async_trait::async_trait;
use aws_sdk_ecr::types::ImageIdentifier;
use base64::Engine;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, Provider, ProviderError, Schema};

pub(crate) struct EcrRepository;

#[async_trait]
impl DataSourceType for EcrRepository {
    fn name(&self) -> &'static str {
        "aws_ecr_repository"
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("name", Attribute::required(AttrType::String))
            .attr(
                "registry_id",
                Attribute::optional_computed(AttrType::String),
            )
            .attrs(
                &["id", "arn", "repository_url", "image_tag_mutability"],
                Attribute::computed(AttrType::String),
            )
            .attr(
                "tags",
                Attribute::optional_computed(AttrType::map_of(AttrType::String)),
            )
            .attrs(
                &["image_scanning_configuration", "encryption_configuration"],
                Attribute::computed(AttrType::list_of(AttrType::Any)),
            )
            .attr(
                "most_recent_image_tags",
                Attribute::computed(AttrType::list_of(AttrType::String)),
            )
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let name = get_str(config, "name").unwrap_or_default();
        let repo = p
            .import("aws_ecr_repository", &name)
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!(
                    "reading ECR Repository ({name}): RepositoryNotFoundException: no repository named {name:?}"
                ))
            })?;
        let images = most_recent(p, &name).await?;
        let mut obj = Obj::new(&p.data_source_schema(self.name()));
        for key in [
            "name",
            "registry_id",
            "id",
            "arn",
            "repository_url",
            "image_tag_mutability",
            "tags",
            "image_scanning_configuration",
            "encryption_configuration",
        ] {
            obj = obj.set(key, repo.get(key).cloned().unwrap_or(Value::Null));
        }
        Ok(obj
            .set(
                "most_recent_image_tags",
                str_list(images.map(|i| i.image_tags().to_vec()).unwrap_or_default()),
            )
            .build())
    }
}

/// The most recently pushed image of a repository (`None`: no image).
async fn most_recent(
    p: &AwsProvider,
    repo: &str,
) -> Result<Option<aws_sdk_ecr::types::ImageDetail>> {
    let out = p
        .call("ecr:DescribeImages", || {
            p.ecr.describe_images().repository_name(repo).send()
        })
        .await?;
    Ok(out
        .image_details()
        .iter()
        .max_by_key(|d| d.image_pushed_at().map(|t| t.as_nanos()))
        .cloned())
}

pub(crate) struct EcrAuthorizationToken;

#[async_trait]
impl DataSourceType for EcrAuthorizationToken {
    fn name(&self) -> &'static str {
        "aws_ecr_authorization_token"
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("registry_id", Attribute::optional(AttrType::String))
            .attrs(
                &["id", "expires_at", "proxy_endpoint", "user_name"],
                Attribute::computed(AttrType::String),
            )
            .attrs(
                &["authorization_token", "password"],
                Attribute::computed(AttrType::String).sensitive(),
            )
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let registry = get_str(config, "registry_id");
        let out = p
            .call("ecr:GetAuthorizationToken", || {
                #[allow(deprecated)]
                p.ecr
                    .get_authorization_token()
                    .set_registry_ids(registry.clone().map(|r| vec![r]))
                    .send()
            })
            .await?;
        let data = out.authorization_data().first().ok_or_else(|| {
            ProviderError::NotFound("reading ECR Authorization Token: no authorization data".into())
        })?;
        let token = data.authorization_token().unwrap_or_default();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let (user, password) = decoded.split_once(':').unwrap_or(("", ""));
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .set("registry_id", opt_str(registry.as_deref()))
            .set("id", p.region())
            .set("authorization_token", Value::from(token).mark_if(true))
            .set(
                "expires_at",
                opt_str(data.expires_at().map(|d| d.to_string()).as_deref()),
            )
            .set("password", Value::from(password).mark_if(true))
            .set("proxy_endpoint", opt_str(data.proxy_endpoint()))
            .set("user_name", user)
            .build())
    }
}

pub(crate) struct EcrImage;

#[async_trait]
impl DataSourceType for EcrImage {
    fn name(&self) -> &'static str {
        "aws_ecr_image"
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("repository_name", Attribute::required(AttrType::String))
            .attrs(
                &["registry_id", "image_digest"],
                Attribute::optional_computed(AttrType::String),
            )
            .attr("image_tag", Attribute::optional(AttrType::String))
            .attr("most_recent", Attribute::optional(AttrType::Bool))
            .attrs(&["id", "image_uri"], Attribute::computed(AttrType::String))
            .attrs(
                &["image_pushed_at", "image_size_in_bytes"],
                Attribute::computed(AttrType::Number),
            )
            .attr(
                "image_tags",
                Attribute::computed(AttrType::list_of(AttrType::String)),
            )
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let repo = get_str(config, "repository_name").unwrap_or_default();
        let digest = get_str(config, "image_digest");
        let tag = get_str(config, "image_tag");
        let what = digest
            .clone()
            .or_else(|| tag.clone())
            .unwrap_or_else(|| "most recent".into());
        let found = if digest.is_none() && tag.is_none() {
            if get_bool(config, "most_recent") != Some(true) {
                return Err(ProviderError::InvalidArgument {
                    path: None,
                    code: "MissingArgument".into(),
                    message: "set one of image_digest, image_tag or most_recent = true".into(),
                });
            }
            most_recent(p, &repo).await?
        } else {
            let id = ImageIdentifier::builder()
                .set_image_digest(digest.clone())
                .set_image_tag(tag.clone())
                .build();
            let r = p
                .call("ecr:DescribeImages", || {
                    p.ecr
                        .describe_images()
                        .repository_name(&repo)
                        .image_ids(id.clone())
                        .send()
                })
                .await;
            match r {
                Ok(o) => o.image_details().first().cloned(),
                Err(e) if crate::api::is_not_found(&e) => None,
                Err(e) => return Err(e),
            }
        };
        let d = found.ok_or_else(|| {
            ProviderError::NotFound(format!(
                "reading ECR Image ({repo}, {what}): couldn't find resource"
            ))
        })?;
        let image_digest = d.image_digest().unwrap_or_default().to_string();
        let registry = d.registry_id().unwrap_or_default();
        let uri = format!(
            "{registry}.dkr.ecr.{}.amazonaws.com/{repo}@{image_digest}",
            p.region()
        );
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .set("repository_name", repo.as_str())
            .set("registry_id", registry)
            .set("image_digest", image_digest.as_str())
            .set("image_tag", opt_str(tag.as_deref()))
            .set(
                "most_recent",
                config.get("most_recent").cloned().unwrap_or(Value::Null),
            )
            .set("id", image_digest.as_str())
            .set(
                "image_pushed_at",
                d.image_pushed_at()
                    .map(|t| Value::from(t.secs()))
                    .unwrap_or(Value::Null),
            )
            .set(
                "image_size_in_bytes",
                d.image_size_in_bytes()
                    .map(Value::from)
                    .unwrap_or(Value::Null),
            )
            .set("image_tags", str_list(d.image_tags().to_vec()))
            .set("image_uri", uri)
            .build())
    }
}
