//! The shape every `aws_s3_bucket_*` configuration sub-resource shares:
//! one configuration of one bucket, written by a `PutBucket*` call, read by
//! its `GetBucket*` call and removed by its `DeleteBucket*` call. The state
//! `id` is the bucket name, import takes the bucket name, and there is
//! nothing to tag or to find after a crash (writing it again is
//! idempotent). A type implements [`BucketPart`] (its schema and three
//! calls); [`BucketResource`] makes it a [`ResourceType`].

use super::{ResourceType, default_plan};
use crate::Result;
use crate::api::is_not_found;
use crate::provider::AwsProvider;
use crate::values::{Obj, get_str};
use async_trait::async_trait;
use std::time::Duration;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ResourceContext, Schema,
};

/// How long a just-written configuration may take to be readable (S3 is
/// eventually consistent for bucket configuration, as Terraform notes).
const PROPAGATION: Duration = Duration::from_secs(60);

/// One kind of bucket configuration.
#[async_trait]
pub(crate) trait BucketPart: Send + Sync {
    fn name(&self) -> &'static str;

    /// The type's own arguments; `id`, `bucket` and
    /// `expected_bucket_owner` are added by [`BucketResource`].
    fn schema(&self) -> Schema;

    /// The bucket's configuration as `(attribute, value)` pairs, or `None`
    /// when the bucket or its configuration is gone. `prior` is the state
    /// (for values the API cannot tell, or JSON kept in its old formatting).
    async fn get(
        &self,
        p: &AwsProvider,
        bucket: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Vec<(&'static str, Value)>>>;

    /// Write the planned configuration (`prior` is `None` on create).
    async fn put(
        &self,
        p: &AwsProvider,
        bucket: &str,
        prior: Option<&Value>,
        planned: &Value,
    ) -> Result<()>;

    /// Remove the configuration; a gone bucket is success (the caller
    /// maps not-found).
    async fn delete(&self, p: &AwsProvider, bucket: &str, prior: &Value) -> Result<()>;

    /// Type-specific planning after the schema's (e.g. keep an equivalent
    /// JSON document as it was).
    fn adjust_plan(&self, prior: Option<&Value>, config: &Value, planned: &mut Value) {
        let _ = (prior, config, planned);
    }
}

/// A [`BucketPart`] as a resource type.
pub(crate) struct BucketResource<T>(pub T);

impl<T: BucketPart> BucketResource<T> {
    fn bucket_of(v: &Value) -> String {
        get_str(v, "bucket")
            .or_else(|| get_str(v, "id"))
            .unwrap_or_default()
    }

    async fn get(
        &self,
        p: &AwsProvider,
        bucket: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let fields = match self.0.get(p, bucket, prior).await {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut obj = Obj::new(&p.resource_schema(self.0.name()))
            .keep(prior, &["expected_bucket_owner"])
            .set("id", bucket)
            .set("bucket", bucket);
        for (k, v) in fields {
            obj = obj.set(k, v);
        }
        Ok(Some(obj.build()))
    }

    /// Write, then read back until the write is visible.
    async fn apply(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        planned: &Value,
    ) -> Result<Value> {
        let bucket = Self::bucket_of(planned);
        self.0.put(p, &bucket, prior, planned).await?;
        super::wait_for(
            &format!("{} of bucket {bucket} to be readable", self.0.name()),
            PROPAGATION,
            Duration::from_millis(500),
            || self.get(p, &bucket, Some(planned)),
        )
        .await
    }
}

#[async_trait]
impl<T: BucketPart> ResourceType for BucketResource<T> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    // Written again idempotently; belongs to its tagged parent.
    fn untagged(&self) -> bool {
        true
    }

    fn schema(&self) -> Schema {
        let mut schema = self
            .0
            .schema()
            .attr("id", Attribute::computed(AttrType::String))
            .attr("bucket", Attribute::required(AttrType::String).force_new());
        if !schema.attributes.contains_key("expected_bucket_owner") {
            schema = schema.attr(
                "expected_bucket_owner",
                Attribute::optional(AttrType::String).force_new(),
            );
        }
        schema
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let mut planned = default_plan(p, &p.resource_schema(self.0.name()), prior, config, ctx);
        self.0.adjust_plan(prior, config, &mut planned.planned);
        if let Some(m) = planned.planned.as_map_mut()
            && let Some(b) = config.get("bucket").filter(|b| !b.is_null())
        {
            m.insert("id".into(), b.clone());
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        super::read_each(prior, |pv| async move {
            self.get(p, &Self::bucket_of(&pv), Some(&pv)).await
        })
        .await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        // Terraform also accepts `bucket,expected_bucket_owner`.
        let bucket = id.split(',').next().unwrap_or(id);
        let found = self.get(p, bucket, None).await?;
        Ok(found.map(|v| match (id.split_once(','), v) {
            (Some((_, owner)), Value::Map(mut m)) => {
                m.insert("expected_bucket_owner".into(), Value::from(owner));
                Value::Map(m)
            }
            (_, v) => v,
        }))
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        self.apply(p, None, planned).await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        self.apply(p, Some(prior), planned).await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        super::ec2_support::ok_if_gone(self.0.delete(p, &Self::bucket_of(prior), prior).await)
    }
}
