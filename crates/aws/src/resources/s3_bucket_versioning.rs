//! `aws_s3_bucket_versioning`.

use super::ResourceType;
use crate::api::{at_path, classify};
use crate::provider::AwsProvider;
use crate::values::{Obj, first_block, get_str};
use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use futures::{StreamExt, TryStreamExt};
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

pub(crate) struct S3BucketVersioning;

const NAME: &str = "aws_s3_bucket_versioning";
const CONCURRENCY: usize = 8;

impl S3BucketVersioning {
    async fn get(
        &self,
        p: &AwsProvider,
        bucket: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>, ProviderError> {
        let (status, mfa) = match self.fetch(p, bucket).await {
            Ok(v) => v,
            Err(e) if crate::api::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let status = status.unwrap_or_else(|| "Disabled".into());
        let mfa = mfa.map(Value::from).unwrap_or_else(|| {
            prior
                .and_then(|pv| first_block(pv, "versioning_configuration"))
                .and_then(|b| b.get("mfa_delete"))
                .filter(|m| m.is_wholly_known())
                .cloned()
                .unwrap_or(Value::Null)
        });
        Ok(Some(
            Obj::new(&p.resource_schema(NAME))
                .keep(prior, &["expected_bucket_owner"])
                .set("id", bucket)
                .set("bucket", bucket)
                .set(
                    "versioning_configuration",
                    Value::List(vec![Value::map([
                        ("status", Value::from(status)),
                        ("mfa_delete", mfa),
                    ])]),
                )
                .build(),
        ))
    }

    /// `(Status, MfaDelete)` of a bucket. Some endpoints (moto) answer
    /// with a differently named XML root the SDK rejects; the elements are
    /// then read from the raw body.
    async fn fetch(
        &self,
        p: &AwsProvider,
        bucket: &str,
    ) -> Result<(Option<String>, Option<String>), ProviderError> {
        p.record_call("s3:GetBucketVersioning");
        match p.s3.get_bucket_versioning().bucket(bucket).send().await {
            Ok(o) => Ok((
                o.status().map(|s| s.as_str().to_string()),
                o.mfa_delete().map(|m| m.as_str().to_string()),
            )),
            Err(SdkError::ServiceError(ctx))
                if ctx.err().code().is_none() && ctx.raw().status().is_success() =>
            {
                let body = ctx
                    .raw()
                    .body()
                    .bytes()
                    .map(|b| String::from_utf8_lossy(b).to_string())
                    .unwrap_or_default();
                Ok((
                    xml_element(&body, "Status"),
                    xml_element(&body, "MfaDelete"),
                ))
            }
            Err(e) => Err(classify("s3:GetBucketVersioning", &e)),
        }
    }

    async fn put(&self, p: &AwsProvider, bucket: &str, status: &str) -> Result<(), ProviderError> {
        let cfg = VersioningConfiguration::builder()
            .status(BucketVersioningStatus::from(status))
            .build();
        p.call("s3:PutBucketVersioning", || {
            p.s3.put_bucket_versioning()
                .bucket(bucket)
                .versioning_configuration(cfg.clone())
                .send()
        })
        .await
        .map(|_| ())
        .map_err(|e| at_path(e, "versioning_configuration"))
    }

    fn status(v: &Value) -> String {
        first_block(v, "versioning_configuration")
            .and_then(|b| get_str(b, "status"))
            .unwrap_or_else(|| "Enabled".into())
    }

    async fn apply(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        planned: &Value,
    ) -> Result<Value, ProviderError> {
        let bucket = get_str(planned, "bucket").unwrap_or_default();
        let status = Self::status(planned);
        // "Disabled" means "never enabled": nothing to send unless it was enabled.
        let was = prior.map(Self::status);
        if status != "Disabled" {
            self.put(p, &bucket, &status).await?;
        } else if was.as_deref() == Some("Enabled") {
            self.put(p, &bucket, "Suspended").await?;
        }
        self.get(p, &bucket, Some(planned))
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("S3 bucket {bucket} not found")))
    }
}

#[async_trait]
impl ResourceType for S3BucketVersioning {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr("bucket", Attribute::required(AttrType::String).force_new())
            .attr(
                "expected_bucket_owner",
                Attribute::optional(AttrType::String).force_new(),
            )
            .list_block(
                "versioning_configuration",
                1,
                1,
                Schema::new()
                    .attr("status", Attribute::required(AttrType::String))
                    .attr("mfa_delete", Attribute::optional_computed(AttrType::String)),
            )
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<terrace_provider::PlannedResource, ProviderError> {
        let mut planned = super::default_plan(p, &p.resource_schema(NAME), prior, config, ctx);
        if let Some(m) = planned.planned.as_map_mut()
            && let Some(b) = config.get("bucket").filter(|b| !b.is_null())
        {
            m.insert("id".into(), b.clone());
        }
        Ok(planned)
    }

    async fn read_many(
        &self,
        p: &AwsProvider,
        prior: &[Value],
    ) -> Result<Vec<Option<Value>>, ProviderError> {
        futures::stream::iter(prior.to_vec())
            .map(|pv| async move {
                let bucket = get_str(&pv, "bucket")
                    .or_else(|| get_str(&pv, "id"))
                    .unwrap_or_default();
                self.get(p, &bucket, Some(&pv)).await
            })
            .buffered(CONCURRENCY)
            .try_collect()
            .await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>, ProviderError> {
        self.get(p, id, None).await
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value, ProviderError> {
        self.apply(p, None, planned).await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value, ProviderError> {
        self.apply(p, Some(prior), planned).await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<(), ProviderError> {
        // Versioning cannot be removed, only suspended (as Terraform does).
        let bucket = get_str(prior, "bucket").unwrap_or_default();
        if Self::status(prior) == "Enabled" {
            super::ec2_support::ok_if_gone(self.put(p, &bucket, "Suspended").await)?;
        }
        Ok(())
    }

    async fn find_created(
        &self,
        _p: &AwsProvider,
        _token: &str,
        _ctx: &ResourceContext,
    ) -> Result<Option<Value>, ProviderError> {
        // Not a separate object: creating it again is idempotent.
        Ok(None)
    }

    async fn list_owned(
        &self,
        _p: &AwsProvider,
        _environment: &str,
    ) -> Result<Vec<Value>, ProviderError> {
        Ok(Vec::new())
    }
}

fn xml_element(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{name}>"))? + start;
    Some(body[start..end].to_string())
}
