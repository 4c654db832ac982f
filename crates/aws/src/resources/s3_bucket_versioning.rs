//! `aws_s3_bucket_versioning`, a [`BucketPart`]. Versioning cannot be
//! removed once enabled, only suspended: "Disabled" means "never
//! enabled", and destroying enabled versioning suspends it (as Terraform).

use super::s3_bucket_part::BucketPart;
use crate::Result;
use crate::api::{at_path, classify};
use crate::provider::AwsProvider;
use crate::values::{first_block, get_str};
use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, Schema};

pub(crate) struct S3BucketVersioning;

impl S3BucketVersioning {
    /// `(Status, MfaDelete)` of a bucket. Some endpoints (moto) answer
    /// with a differently named XML root the SDK rejects; the elements are
    /// then read from the raw body.
    async fn fetch(
        &self,
        p: &AwsProvider,
        bucket: &str,
    ) -> Result<(Option<String>, Option<String>)> {
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

    async fn send(&self, p: &AwsProvider, bucket: &str, status: &str) -> Result<()> {
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
}

#[async_trait]
impl BucketPart for S3BucketVersioning {
    fn name(&self) -> &'static str {
        "aws_s3_bucket_versioning"
    }

    fn schema(&self) -> Schema {
        Schema::new().list_block(
            "versioning_configuration",
            1,
            1,
            Schema::new()
                .attr("status", Attribute::required(AttrType::String))
                .attr("mfa_delete", Attribute::optional_computed(AttrType::String)),
        )
    }

    async fn get(
        &self,
        p: &AwsProvider,
        bucket: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Vec<(&'static str, Value)>>> {
        let (status, mfa) = self.fetch(p, bucket).await?;
        let status = status.unwrap_or_else(|| "Disabled".into());
        let mfa = mfa.map(Value::from).unwrap_or_else(|| {
            prior
                .and_then(|pv| first_block(pv, "versioning_configuration"))
                .and_then(|b| b.get("mfa_delete"))
                .filter(|m| m.is_wholly_known())
                .cloned()
                .unwrap_or(Value::Null)
        });
        Ok(Some(vec![(
            "versioning_configuration",
            Value::List(vec![Value::map([
                ("status", Value::from(status)),
                ("mfa_delete", mfa),
            ])]),
        )]))
    }

    async fn put(
        &self,
        p: &AwsProvider,
        bucket: &str,
        prior: Option<&Value>,
        planned: &Value,
    ) -> Result<()> {
        let status = Self::status(planned);
        // "Disabled" means "never enabled": nothing to send unless it was enabled.
        if status != "Disabled" {
            self.send(p, bucket, &status).await
        } else if prior.map(Self::status).as_deref() == Some("Enabled") {
            self.send(p, bucket, "Suspended").await
        } else {
            Ok(())
        }
    }

    async fn delete(&self, p: &AwsProvider, bucket: &str, prior: &Value) -> Result<()> {
        if Self::status(prior) == "Enabled" {
            self.send(p, bucket, "Suspended").await?;
        }
        Ok(())
    }
}

fn xml_element(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{name}>"))? + start;
    Some(body[start..end].to_string())
}
