//! `aws_s3_bucket`.
//!
//! S3 has no batched describe: a read lists all buckets once (existence and
//! region), then reads tags per existing bucket, concurrently.

use super::{ResourceType, default_plan, partially_created};
use crate::Result;
use crate::api::{at_path, is_not_found};
use crate::provider::{AwsProvider, OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, tags_from_api};
use crate::values::{Obj, get_bool, get_str, value_to_str_map};
use async_trait::async_trait;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier, Tag, Tagging,
};
use futures::{StreamExt, TryStreamExt};
use rand::Rng;
use std::collections::BTreeMap;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct S3Bucket;

const NAME: &str = "aws_s3_bucket";
const CONCURRENCY: usize = 8;

fn build_err(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::InvalidArgument {
        path: None,
        code: "InvalidRequest".into(),
        message: e.to_string(),
    }
}

impl S3Bucket {
    fn to_value(
        &self,
        p: &AwsProvider,
        bucket: &str,
        region: &str,
        tags: &TagMap,
        prior: Option<&Value>,
    ) -> Value {
        let (tags, tags_all) = tags_from_api(tags, prior, &p.default_tags);
        Obj::new(&p.resource_schema(NAME))
            .keep(prior, &["force_destroy"])
            .set("id", bucket)
            .set("bucket", bucket)
            .set("arn", format!("arn:{}:s3:::{bucket}", p.partition()))
            .set("bucket_domain_name", format!("{bucket}.s3.amazonaws.com"))
            .set(
                "bucket_regional_domain_name",
                format!("{bucket}.s3.{region}.amazonaws.com"),
            )
            .set("region", region)
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }

    /// Every bucket of the account with its region.
    async fn list_buckets(&self, p: &AwsProvider) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let page = p
                .call("s3:ListBuckets", || {
                    p.s3.list_buckets()
                        .set_continuation_token(token.clone())
                        .send()
                })
                .await?;
            for b in page.buckets() {
                if let Some(name) = b.name() {
                    out.insert(
                        name.to_string(),
                        b.bucket_region().unwrap_or(&p.region).to_string(),
                    );
                }
            }
            match page.continuation_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn tags_of(&self, p: &AwsProvider, bucket: &str) -> Result<Option<TagMap>> {
        match p
            .call("s3:GetBucketTagging", || {
                p.s3.get_bucket_tagging().bucket(bucket).send()
            })
            .await
        {
            Ok(o) => Ok(Some(
                o.tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
            )),
            Err(ProviderError::Api { code, .. }) if code == "NoSuchTagSet" => {
                Ok(Some(TagMap::new()))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `(bucket, region, tags)` for the names that exist.
    async fn describe(
        &self,
        p: &AwsProvider,
        names: &[String],
    ) -> Result<BTreeMap<String, (String, TagMap)>> {
        let all = self.list_buckets(p).await?;
        let wanted: Vec<(String, String)> = names
            .iter()
            .filter_map(|n| all.get(n).map(|r| (n.clone(), r.clone())))
            .collect();
        let found: Vec<Option<(String, (String, TagMap))>> = futures::stream::iter(wanted)
            .map(|(name, region)| async move {
                Ok::<_, ProviderError>(self.tags_of(p, &name).await?.map(|t| (name, (region, t))))
            })
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn read_one(
        &self,
        p: &AwsProvider,
        name: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let found = self.describe(p, &[name.to_string()]).await?;
        Ok(found
            .get(name)
            .map(|(r, t)| self.to_value(p, name, r, t, prior)))
    }

    async fn put_tags(&self, p: &AwsProvider, bucket: &str, tags: &TagMap) -> Result<()> {
        if tags.is_empty() {
            p.call("s3:DeleteBucketTagging", || {
                p.s3.delete_bucket_tagging().bucket(bucket).send()
            })
            .await?;
            return Ok(());
        }
        let set: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<_, _>>()
            .map_err(build_err)?;
        let tagging = Tagging::builder()
            .set_tag_set(Some(set))
            .build()
            .map_err(build_err)?;
        p.call("s3:PutBucketTagging", || {
            p.s3.put_bucket_tagging()
                .bucket(bucket)
                .tagging(tagging.clone())
                .send()
        })
        .await
        .map(|_| ())
    }

    /// Delete every object version and delete marker (force_destroy).
    async fn empty_bucket(&self, p: &AwsProvider, bucket: &str) -> Result<()> {
        loop {
            let page = p
                .call("s3:ListObjectVersions", || {
                    p.s3.list_object_versions().bucket(bucket).send()
                })
                .await?;
            let mut ids = Vec::new();
            for v in page.versions() {
                if let Some(k) = v.key() {
                    ids.push(
                        ObjectIdentifier::builder()
                            .key(k)
                            .set_version_id(v.version_id().map(str::to_string))
                            .build()
                            .map_err(build_err)?,
                    );
                }
            }
            for m in page.delete_markers() {
                if let Some(k) = m.key() {
                    ids.push(
                        ObjectIdentifier::builder()
                            .key(k)
                            .set_version_id(m.version_id().map(str::to_string))
                            .build()
                            .map_err(build_err)?,
                    );
                }
            }
            if ids.is_empty() {
                return Ok(());
            }
            for chunk in ids.chunks(1000) {
                let del = Delete::builder()
                    .set_objects(Some(chunk.to_vec()))
                    .quiet(true)
                    .build()
                    .map_err(build_err)?;
                p.call("s3:DeleteObjects", || {
                    p.s3.delete_objects()
                        .bucket(bucket)
                        .delete(del.clone())
                        .send()
                })
                .await?;
            }
        }
    }

    async fn owned(&self, p: &AwsProvider, want: &[(&str, &str)]) -> Result<Vec<Value>> {
        let all: Vec<String> = self.list_buckets(p).await?.into_keys().collect();
        let found = self.describe(p, &all).await?;
        Ok(found
            .iter()
            .filter(|(_, (_, tags))| {
                want.iter()
                    .all(|(k, v)| tags.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(name, (r, t))| {
                let mut v = self.to_value(p, name, r, t, None);
                if let Some(m) = v.as_map_mut() {
                    m.insert("force_destroy".into(), Value::Bool(false));
                }
                v
            })
            .collect())
    }
}

#[async_trait]
impl ResourceType for S3Bucket {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &[
                    "id",
                    "arn",
                    "bucket_domain_name",
                    "bucket_regional_domain_name",
                    "region",
                ],
                Attribute::computed(AttrType::String),
            )
            .attr(
                "bucket",
                Attribute::optional_computed(AttrType::String).force_new(),
            )
            .attr(
                "bucket_prefix",
                Attribute::optional(AttrType::String).force_new(),
            )
            .attr(
                "force_destroy",
                Attribute::optional(AttrType::Bool).default(false),
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
        let mut planned = default_plan(p, &p.resource_schema(NAME), prior, config, ctx);
        let replacing = !planned.requires_replace.is_empty();
        if let Some(m) = planned.planned.as_map_mut()
            && (prior.is_none() || replacing)
            && let Some(bucket) = get_str(config, "bucket")
        {
            // Everything but the region follows from the name.
            m.insert("id".into(), Value::from(bucket.as_str()));
            m.insert(
                "arn".into(),
                Value::from(format!("arn:{}:s3:::{bucket}", p.partition())),
            );
            m.insert(
                "bucket_domain_name".into(),
                Value::from(format!("{bucket}.s3.amazonaws.com")),
            );
            m.insert("region".into(), Value::from(p.region.as_str()));
            m.insert(
                "bucket_regional_domain_name".into(),
                Value::from(format!("{bucket}.s3.{}.amazonaws.com", p.region)),
            );
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let names: Vec<String> = prior
            .iter()
            .map(|v| {
                get_str(v, "bucket")
                    .or_else(|| get_str(v, "id"))
                    .unwrap_or_default()
            })
            .collect();
        let found = self.describe(p, &names).await?;
        Ok(prior
            .iter()
            .zip(&names)
            .map(|(pv, n)| {
                found
                    .get(n)
                    .map(|(r, t)| self.to_value(p, n, r, t, Some(pv)))
            })
            .collect())
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let v = self.read_one(p, id, None).await?;
        Ok(v.map(|mut v| {
            if let Some(m) = v.as_map_mut() {
                m.insert("force_destroy".into(), Value::Bool(false));
            }
            v
        }))
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let bucket = get_str(planned, "bucket").unwrap_or_else(|| {
            let prefix = get_str(planned, "bucket_prefix").unwrap_or_else(|| "terraform-".into());
            let suffix: String = (0..26)
                .map(|_| format!("{:x}", rand::thread_rng().gen_range(0..16u8)))
                .collect();
            format!("{prefix}{suffix}")
        });
        let location = (p.region != "us-east-1").then(|| {
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(p.region.as_str()))
                .build()
        });
        let created = p
            .call("s3:CreateBucket", || {
                p.s3.create_bucket()
                    .bucket(&bucket)
                    .set_create_bucket_configuration(location.clone())
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "bucket"));
        match created {
            Ok(_) => {}
            // The answer was lost (the call is never re-sent blindly): the
            // bucket is ours if it exists now without tags (buckets are
            // tagged only after CreateBucket) or with this address's tags.
            Err(e @ ProviderError::Unconfirmed { .. }) => {
                let ours = match self.tags_of(p, &bucket).await {
                    Ok(Some(tags)) => {
                        tags.is_empty()
                            || tags.get(OWNER_ADDRESS_TAG) == Some(&ctx.resource.address)
                    }
                    _ => false,
                };
                if !ours {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
        // The bucket exists from here on: a later failure reports it, so
        // the engine keeps it in state instead of orphaning it untagged.
        let mut prior = planned.clone();
        if let Some(m) = prior.as_map_mut() {
            m.insert("bucket".into(), Value::from(bucket.as_str()));
            m.insert("id".into(), Value::from(bucket.as_str()));
        }
        self.put_tags(
            p,
            &bucket,
            &create_tags(&p.default_tags, planned, &ctx.resource),
        )
        .await
        .map_err(|e| partially_created(&prior, e))?;
        self.read_one(p, &bucket, Some(&prior))
            .await
            .map_err(|e| partially_created(&prior, e))?
            .ok_or_else(|| {
                ProviderError::NotFound(format!("S3 bucket {bucket} not found after create"))
            })
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let bucket = get_str(prior, "bucket").unwrap_or_default();
        let old = value_to_str_map(prior.get("tags_all").unwrap_or(&Value::Null));
        let new = value_to_str_map(planned.get("tags_all").unwrap_or(&Value::Null));
        if old != new {
            self.put_tags(p, &bucket, &new).await?;
        }
        self.read_one(p, &bucket, Some(planned))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!("S3 bucket {bucket} disappeared during update"))
            })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let bucket = get_str(prior, "bucket").unwrap_or_default();
        if get_bool(prior, "force_destroy") == Some(true) {
            match self.empty_bucket(p, &bucket).await {
                Err(e) if is_not_found(&e) => return Ok(()),
                other => other?,
            }
        }
        super::ec2_support::ok_if_gone(
            p.call("s3:DeleteBucket", || {
                p.s3.delete_bucket().bucket(&bucket).send()
            })
            .await,
        )
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
