//! The `aws_s3_bucket_*` configuration types built on
//! [`BucketPart`](super::s3_bucket_part::BucketPart): public access block,
//! default encryption, lifecycle rules, bucket policy, ownership controls
//! and access logging. Each is its schema, its mapping and three calls.

use super::s3_bucket_part::BucketPart;
use crate::Result;
use crate::api::at_path;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::values::{first_block, get_blocks, get_bool, get_i64, get_str, json_equivalent};
use async_trait::async_trait;
use aws_sdk_s3::types as s3;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::error::operation::BuildError;
use terrace_core::{PathStep, Value};
use terrace_provider::{AttrType, Attribute, ProviderError, Schema};

/// One S3 call that takes nothing but the bucket.
macro_rules! by_bucket {
    ($p:expr, $op:literal, $method:ident, $bucket:expr) => {
        $p.call($op, || $p.s3.$method().bucket($bucket).send())
            .await
    };
}

/// A request the SDK could not build (a required field missing): an
/// argument error at `path`.
fn built<T>(r: Result<T, BuildError>, path: &str) -> Result<T> {
    r.map_err(|e| ProviderError::InvalidArgument {
        path: Some(vec![PathStep::Key(path.to_string())]),
        code: "InvalidArgument".into(),
        message: e.to_string(),
    })
}

fn opt<T: Into<Value>>(x: Option<T>) -> Value {
    x.map(Into::into).unwrap_or(Value::Null)
}

/// A non-empty string, else null (S3 reports "unset" as "").
fn non_empty(s: Option<&str>) -> Value {
    opt(s.filter(|s| !s.is_empty()))
}

fn i32_of(v: &Value, key: &str) -> Option<i32> {
    get_i64(v, key).and_then(|n| i32::try_from(n).ok())
}

// ---------------------------------------------------------------------------

/// `aws_s3_bucket_public_access_block`.
pub(crate) struct PublicAccessBlock;

const PAB_FLAGS: [&str; 4] = [
    "block_public_acls",
    "block_public_policy",
    "ignore_public_acls",
    "restrict_public_buckets",
];

#[async_trait]
impl BucketPart for PublicAccessBlock {
    fn name(&self) -> &'static str {
        "aws_s3_bucket_public_access_block"
    }

    fn schema(&self) -> Schema {
        Schema::new().attrs(
            &PAB_FLAGS,
            Attribute::optional(AttrType::Bool).default(false),
        )
    }

    async fn get(
        &self,
        p: &AwsProvider,
        bucket: &str,
        _prior: Option<&Value>,
    ) -> Result<Option<Vec<(&'static str, Value)>>> {
        let out = by_bucket!(
            p,
            "s3:GetPublicAccessBlock",
            get_public_access_block,
            bucket
        )?;
        Ok(out.public_access_block_configuration().map(|c| {
            let flags = [
                c.block_public_acls(),
                c.block_public_policy(),
                c.ignore_public_acls(),
                c.restrict_public_buckets(),
            ];
            PAB_FLAGS
                .iter()
                .zip(flags)
                .map(|(k, v)| (*k, Value::Bool(v.unwrap_or(false))))
                .collect()
        }))
    }

    async fn put(
        &self,
        p: &AwsProvider,
        bucket: &str,
        _prior: Option<&Value>,
        planned: &Value,
    ) -> Result<()> {
        let flag = |k| get_bool(planned, k).unwrap_or(false);
        let cfg = s3::PublicAccessBlockConfiguration::builder()
            .block_public_acls(flag("block_public_acls"))
            .block_public_policy(flag("block_public_policy"))
            .ignore_public_acls(flag("ignore_public_acls"))
            .restrict_public_buckets(flag("restrict_public_buckets"))
            .build();
        p.call("s3:PutPublicAccessBlock", || {
            p.s3.put_public_access_block()
                .bucket(bucket)
                .public_access_block_configuration(cfg.clone())
                .send()
        })
        .await
        .map(|_| ())
    }

    async fn delete(&self, p: &AwsProvider, bucket: &str, _prior: &Value) -> Result<()> {
        by_bucket!(
            p,
            "s3:DeletePublicAccessBlock",
            delete_public_access_block,
            bucket
        )
        .map(|_| ())
    }
}

// ---------------------------------------------------------------------------

/// `aws_s3_bucket_server_side_encryption_configuration`: `AES256`,
/// `aws:kms` or `aws:kms:dsse`, with `kms_master_key_id` and
/// `bucket_key_enabled`. Deleting it returns the bucket to S3's default
/// (SSE-S3), as in Terraform.
pub(crate) struct ServerSideEncryption;

#[async_trait]
impl BucketPart for ServerSideEncryption {
    fn name(&self) -> &'static str {
        "aws_s3_bucket_server_side_encryption_configuration"
    }

    fn schema(&self) -> Schema {
        Schema::new().set_block(
            "rule",
            Schema::new()
                .attr("bucket_key_enabled", Attribute::optional(AttrType::Bool))
                .list_block(
                    "apply_server_side_encryption_by_default",
                    0,
                    1,
                    Schema::new()
                        .attr("sse_algorithm", Attribute::required(AttrType::String))
                        .attr("kms_master_key_id", Attribute::optional(AttrType::String)),
                ),
        )
    }

    async fn get(
        &self,
        p: &AwsProvider,
        bucket: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Vec<(&'static str, Value)>>> {
        let out = by_bucket!(p, "s3:GetBucketEncryption", get_bucket_encryption, bucket)?;
        let Some(cfg) = out.server_side_encryption_configuration() else {
            return Ok(None);
        };
        // S3 reports an unset bucket key as false: keep a configured false
        // as false and an unset one as null.
        let prior_key = prior
            .and_then(|pv| first_block(pv, "rule"))
            .and_then(|r| get_bool(r, "bucket_key_enabled"));
        let rules = cfg
            .rules()
            .iter()
            .map(|r| {
                let by_default = r
                    .apply_server_side_encryption_by_default()
                    .map(|d| {
                        vec![Value::map([
                            ("sse_algorithm", Value::from(d.sse_algorithm().as_str())),
                            ("kms_master_key_id", non_empty(d.kms_master_key_id())),
                        ])]
                    })
                    .unwrap_or_default();
                let key = match r.bucket_key_enabled() {
                    Some(true) => Value::Bool(true),
                    _ => opt(prior_key.filter(|k| !k)),
                };
                Value::map([
                    ("bucket_key_enabled", key),
                    (
                        "apply_server_side_encryption_by_default",
                        Value::List(by_default),
                    ),
                ])
            })
            .collect();
        Ok(Some(vec![("rule", Value::set(rules))]))
    }

    async fn put(
        &self,
        p: &AwsProvider,
        bucket: &str,
        _prior: Option<&Value>,
        planned: &Value,
    ) -> Result<()> {
        let mut cfg = s3::ServerSideEncryptionConfiguration::builder();
        for rule in get_blocks(planned, "rule") {
            let mut r = s3::ServerSideEncryptionRule::builder()
                .set_bucket_key_enabled(get_bool(rule, "bucket_key_enabled"));
            if let Some(d) = first_block(rule, "apply_server_side_encryption_by_default") {
                let alg = get_str(d, "sse_algorithm").unwrap_or_default();
                if !["AES256", "aws:kms", "aws:kms:dsse"].contains(&alg.as_str()) {
                    return Err(ProviderError::InvalidArgument {
                        path: Some(vec![
                            PathStep::Key("rule".into()),
                            PathStep::Key("apply_server_side_encryption_by_default".into()),
                            PathStep::Key("sse_algorithm".into()),
                        ]),
                        code: "InvalidSseAlgorithm".into(),
                        message: format!(
                            "sse_algorithm {alg:?} is not one of \"AES256\", \"aws:kms\", \"aws:kms:dsse\""
                        ),
                    });
                }
                r = r.apply_server_side_encryption_by_default(built(
                    s3::ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(s3::ServerSideEncryption::from(alg.as_str()))
                        .set_kms_master_key_id(get_str(d, "kms_master_key_id"))
                        .build(),
                    "rule",
                )?);
            }
            cfg = cfg.rules(r.build());
        }
        let cfg = built(cfg.build(), "rule")?;
        p.call("s3:PutBucketEncryption", || {
            p.s3.put_bucket_encryption()
                .bucket(bucket)
                .server_side_encryption_configuration(cfg.clone())
                .send()
        })
        .await
        .map(|_| ())
        .map_err(|e| at_path(e, "rule"))
    }

    async fn delete(&self, p: &AwsProvider, bucket: &str, _prior: &Value) -> Result<()> {
        by_bucket!(
            p,
            "s3:DeleteBucketEncryption",
            delete_bucket_encryption,
            bucket
        )
        .map(|_| ())
    }
}

// ---------------------------------------------------------------------------

/// `aws_s3_bucket_policy`. The document is compared as JSON: reformatting
/// or reordering keys is no change.
pub(crate) struct BucketPolicy;

#[async_trait]
impl BucketPart for BucketPolicy {
    fn name(&self) -> &'static str {
        "aws_s3_bucket_policy"
    }

    fn schema(&self) -> Schema {
        Schema::new().attr("policy", Attribute::required(AttrType::String))
    }

    async fn get(
        &self,
        p: &AwsProvider,
        bucket: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Vec<(&'static str, Value)>>> {
        let out = by_bucket!(p, "s3:GetBucketPolicy", get_bucket_policy, bucket)?;
        Ok(out.policy().map(|text| {
            let policy = match prior.and_then(|pv| get_str(pv, "policy")) {
                Some(old) if json_equivalent(&old, text) => old,
                _ => text.to_string(),
            };
            vec![("policy", Value::from(policy))]
        }))
    }

    async fn put(
        &self,
        p: &AwsProvider,
        bucket: &str,
        _prior: Option<&Value>,
        planned: &Value,
    ) -> Result<()> {
        let policy = get_str(planned, "policy").unwrap_or_default();
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&policy) {
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![PathStep::Key("policy".into())]),
                code: "InvalidJson".into(),
                message: format!("policy is not valid JSON: {e}"),
            });
        }
        p.call("s3:PutBucketPolicy", || {
            p.s3.put_bucket_policy()
                .bucket(bucket)
                .policy(&policy)
                .send()
        })
        .await
        .map(|_| ())
        .map_err(|e| at_path(e, "policy"))
    }

    async fn delete(&self, p: &AwsProvider, bucket: &str, _prior: &Value) -> Result<()> {
        by_bucket!(p, "s3:DeleteBucketPolicy", delete_bucket_policy, bucket).map(|_| ())
    }

    fn adjust_plan(&self, prior: Option<&Value>, config: &Value, planned: &mut Value) {
        if let (Some(old), Some(new), Some(m)) = (
            prior.and_then(|pv| get_str(pv, "policy")),
            get_str(config, "policy"),
            planned.as_map_mut(),
        ) && json_equivalent(&old, &new)
        {
            m.insert("policy".into(), Value::from(old));
        }
    }
}

// ---------------------------------------------------------------------------

/// `aws_s3_bucket_ownership_controls`.
pub(crate) struct OwnershipControls;

#[async_trait]
impl BucketPart for OwnershipControls {
    fn name(&self) -> &'static str {
        "aws_s3_bucket_ownership_controls"
    }

    fn schema(&self) -> Schema {
        Schema::new().list_block(
            "rule",
            1,
            1,
            Schema::new().attr("object_ownership", Attribute::required(AttrType::String)),
        )
    }

    async fn get(
        &self,
        p: &AwsProvider,
        bucket: &str,
        _prior: Option<&Value>,
    ) -> Result<Option<Vec<(&'static str, Value)>>> {
        let out = by_bucket!(
            p,
            "s3:GetBucketOwnershipControls",
            get_bucket_ownership_controls,
            bucket
        )?;
        Ok(out.ownership_controls().map(|c| {
            let rules = c
                .rules()
                .iter()
                .map(|r| {
                    Value::map([(
                        "object_ownership",
                        Value::from(r.object_ownership().as_str()),
                    )])
                })
                .collect();
            vec![("rule", Value::List(rules))]
        }))
    }

    async fn put(
        &self,
        p: &AwsProvider,
        bucket: &str,
        _prior: Option<&Value>,
        planned: &Value,
    ) -> Result<()> {
        let ownership = first_block(planned, "rule")
            .and_then(|r| get_str(r, "object_ownership"))
            .unwrap_or_default();
        let rule = built(
            s3::OwnershipControlsRule::builder()
                .object_ownership(s3::ObjectOwnership::from(ownership.as_str()))
                .build(),
            "rule",
        )?;
        let cfg = built(s3::OwnershipControls::builder().rules(rule).build(), "rule")?;
        p.call("s3:PutBucketOwnershipControls", || {
            p.s3.put_bucket_ownership_controls()
                .bucket(bucket)
                .ownership_controls(cfg.clone())
                .send()
        })
        .await
        .map(|_| ())
        .map_err(|e| at_path(e, "rule"))
    }

    async fn delete(&self, p: &AwsProvider, bucket: &str, _prior: &Value) -> Result<()> {
        p.call("s3:DeleteBucketOwnershipControls", || {
            p.s3.delete_bucket_ownership_controls()
                .bucket(bucket)
                .send()
        })
        .await
        .map(|_| ())
    }
}

// ---------------------------------------------------------------------------

/// `aws_s3_bucket_logging`: server access logs to `target_bucket` under
/// `target_prefix`. Deleting it turns logging off.
pub(crate) struct BucketLogging;

#[async_trait]
impl BucketPart for BucketLogging {
    fn name(&self) -> &'static str {
        "aws_s3_bucket_logging"
    }

    fn schema(&self) -> Schema {
        Schema::new().attrs(
            &["target_bucket", "target_prefix"],
            Attribute::required(AttrType::String),
        )
    }

    async fn get(
        &self,
        p: &AwsProvider,
        bucket: &str,
        _prior: Option<&Value>,
    ) -> Result<Option<Vec<(&'static str, Value)>>> {
        let out = by_bucket!(p, "s3:GetBucketLogging", get_bucket_logging, bucket)?;
        Ok(out.logging_enabled().map(|l| {
            vec![
                ("target_bucket", Value::from(l.target_bucket())),
                ("target_prefix", Value::from(l.target_prefix())),
            ]
        }))
    }

    async fn put(
        &self,
        p: &AwsProvider,
        bucket: &str,
        _prior: Option<&Value>,
        planned: &Value,
    ) -> Result<()> {
        let enabled = built(
            s3::LoggingEnabled::builder()
                .target_bucket(get_str(planned, "target_bucket").unwrap_or_default())
                .target_prefix(get_str(planned, "target_prefix").unwrap_or_default())
                .build(),
            "target_bucket",
        )?;
        let status = s3::BucketLoggingStatus::builder()
            .logging_enabled(enabled)
            .build();
        p.call("s3:PutBucketLogging", || {
            p.s3.put_bucket_logging()
                .bucket(bucket)
                .bucket_logging_status(status.clone())
                .send()
        })
        .await
        .map(|_| ())
        .map_err(|e| at_path(e, "target_bucket"))
    }

    async fn delete(&self, p: &AwsProvider, bucket: &str, _prior: &Value) -> Result<()> {
        let off = s3::BucketLoggingStatus::builder().build();
        p.call("s3:PutBucketLogging", || {
            p.s3.put_bucket_logging()
                .bucket(bucket)
                .bucket_logging_status(off.clone())
                .send()
        })
        .await
        .map(|_| ())
    }
}

// ---------------------------------------------------------------------------

/// `aws_s3_bucket_lifecycle_configuration`: rules with `filter` (prefix,
/// tag, object sizes, `and`), `expiration`, `transition`,
/// `noncurrent_version_expiration`, `noncurrent_version_transition` and
/// `abort_incomplete_multipart_upload`.
pub(crate) struct LifecycleConfiguration;

fn num() -> Attribute {
    Attribute::optional(AttrType::Number)
}

fn lifecycle_rule_schema() -> Schema {
    let tag = Schema::new().attrs(&["key", "value"], Attribute::required(AttrType::String));
    let and = Schema::new()
        .attr("prefix", Attribute::optional(AttrType::String))
        .attrs(
            &["object_size_greater_than", "object_size_less_than"],
            num(),
        )
        .attr(
            "tags",
            Attribute::optional(AttrType::map_of(AttrType::String)),
        );
    let filter = Schema::new()
        .attr("prefix", Attribute::optional(AttrType::String))
        .attrs(
            &["object_size_greater_than", "object_size_less_than"],
            num(),
        )
        .list_block("tag", 0, 1, tag)
        .list_block("and", 0, 1, and);
    Schema::new()
        .attrs(&["id", "status"], Attribute::required(AttrType::String))
        .attr("prefix", Attribute::optional(AttrType::String))
        .list_block("filter", 0, 1, filter)
        .list_block(
            "expiration",
            0,
            1,
            Schema::new()
                .attr("date", Attribute::optional(AttrType::String))
                .attr("days", num())
                .attr(
                    "expired_object_delete_marker",
                    Attribute::optional_computed(AttrType::Bool),
                ),
        )
        .set_block(
            "transition",
            Schema::new()
                .attr("date", Attribute::optional(AttrType::String))
                .attr("days", num())
                .attr("storage_class", Attribute::required(AttrType::String)),
        )
        .list_block(
            "noncurrent_version_expiration",
            0,
            1,
            Schema::new().attrs(&["noncurrent_days", "newer_noncurrent_versions"], num()),
        )
        .set_block(
            "noncurrent_version_transition",
            Schema::new()
                .attrs(&["noncurrent_days", "newer_noncurrent_versions"], num())
                .attr("storage_class", Attribute::required(AttrType::String)),
        )
        .list_block(
            "abort_incomplete_multipart_upload",
            0,
            1,
            Schema::new().attr("days_after_initiation", num()),
        )
}

fn date_value(d: Option<&aws_smithy_types::DateTime>) -> Value {
    opt(d.and_then(|d| d.fmt(Format::DateTime).ok()))
}

fn parse_date(v: &Value, path: &str) -> Result<Option<aws_smithy_types::DateTime>> {
    let Some(s) = get_str(v, "date") else {
        return Ok(None);
    };
    aws_smithy_types::DateTime::from_str(&s, Format::DateTime)
        .map(Some)
        .map_err(|e| ProviderError::InvalidArgument {
            path: Some(vec![
                PathStep::Key("rule".into()),
                PathStep::Key(path.into()),
            ]),
            code: "InvalidDate".into(),
            message: format!(
                "date {s:?} is not an RFC 3339 date such as 2030-01-01T00:00:00Z: {e}"
            ),
        })
}

fn filter_to_value(f: &s3::LifecycleRuleFilter) -> Value {
    let tag = f
        .tag()
        .map(|t| {
            vec![Value::map([
                ("key", Value::from(t.key())),
                ("value", Value::from(t.value())),
            ])]
        })
        .unwrap_or_default();
    let and = f
        .and()
        .map(|a| {
            let tags: Vec<(String, Value)> = a
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), Value::from(t.value())))
                .collect();
            vec![Value::map([
                ("prefix", non_empty(a.prefix())),
                (
                    "object_size_greater_than",
                    opt(a.object_size_greater_than()),
                ),
                ("object_size_less_than", opt(a.object_size_less_than())),
                (
                    "tags",
                    if tags.is_empty() {
                        Value::Null
                    } else {
                        Value::Map(tags.into_iter().collect())
                    },
                ),
            ])]
        })
        .unwrap_or_default();
    Value::map([
        ("prefix", non_empty(f.prefix())),
        (
            "object_size_greater_than",
            opt(f.object_size_greater_than()),
        ),
        ("object_size_less_than", opt(f.object_size_less_than())),
        ("tag", Value::List(tag)),
        ("and", Value::List(and)),
    ])
}

#[allow(deprecated)] // `prefix` of a rule: Terraform still accepts it.
fn rule_to_value(r: &s3::LifecycleRule) -> Value {
    let expiration = r
        .expiration()
        .map(|e| {
            // Optional and computed: S3 reports an unset flag as false.
            let marker = Value::Bool(e.expired_object_delete_marker().unwrap_or(false));
            vec![Value::map([
                ("date", date_value(e.date())),
                ("days", opt(e.days())),
                ("expired_object_delete_marker", marker),
            ])]
        })
        .unwrap_or_default();
    let transitions = r
        .transitions()
        .iter()
        .map(|t| {
            Value::map([
                ("date", date_value(t.date())),
                ("days", opt(t.days())),
                (
                    "storage_class",
                    opt(t.storage_class().map(|c| c.as_str().to_string())),
                ),
            ])
        })
        .collect();
    let nc_transitions = r
        .noncurrent_version_transitions()
        .iter()
        .map(|t| {
            Value::map([
                ("noncurrent_days", opt(t.noncurrent_days())),
                (
                    "newer_noncurrent_versions",
                    opt(t.newer_noncurrent_versions()),
                ),
                (
                    "storage_class",
                    opt(t.storage_class().map(|c| c.as_str().to_string())),
                ),
            ])
        })
        .collect();
    let nc_expiration = r
        .noncurrent_version_expiration()
        .map(|e| {
            vec![Value::map([
                ("noncurrent_days", opt(e.noncurrent_days())),
                (
                    "newer_noncurrent_versions",
                    opt(e.newer_noncurrent_versions()),
                ),
            ])]
        })
        .unwrap_or_default();
    let abort = r
        .abort_incomplete_multipart_upload()
        .map(|a| {
            vec![Value::map([(
                "days_after_initiation",
                opt(a.days_after_initiation()),
            )])]
        })
        .unwrap_or_default();
    Value::map([
        ("id", non_empty(r.id())),
        ("status", Value::from(r.status().as_str())),
        ("prefix", non_empty(r.prefix())),
        (
            "filter",
            Value::List(r.filter().map(filter_to_value).into_iter().collect()),
        ),
        ("expiration", Value::List(expiration)),
        ("transition", Value::set(transitions)),
        ("noncurrent_version_expiration", Value::List(nc_expiration)),
        ("noncurrent_version_transition", Value::set(nc_transitions)),
        ("abort_incomplete_multipart_upload", Value::List(abort)),
    ])
}

fn s3_tag(key: &str, value: &str) -> Result<s3::Tag> {
    built(s3::Tag::builder().key(key).value(value).build(), "rule")
}

fn filter_from_value(f: &Value) -> Result<s3::LifecycleRuleFilter> {
    let mut b = s3::LifecycleRuleFilter::builder()
        .set_object_size_greater_than(get_i64(f, "object_size_greater_than"))
        .set_object_size_less_than(get_i64(f, "object_size_less_than"));
    if let Some(t) = first_block(f, "tag") {
        b = b.tag(s3_tag(
            &get_str(t, "key").unwrap_or_default(),
            &get_str(t, "value").unwrap_or_default(),
        )?);
    }
    if let Some(a) = first_block(f, "and") {
        let mut and = s3::LifecycleRuleAndOperator::builder()
            .set_prefix(get_str(a, "prefix"))
            .set_object_size_greater_than(get_i64(a, "object_size_greater_than"))
            .set_object_size_less_than(get_i64(a, "object_size_less_than"));
        for (k, v) in crate::values::get_str_map(a, "tags") {
            and = and.tags(s3_tag(&k, &v)?);
        }
        b = b.and(and.build());
    }
    // `filter {}` applies the rule to every object: an empty prefix.
    let any = b.get_tag().is_some()
        || b.get_and().is_some()
        || b.get_object_size_greater_than().is_some()
        || b.get_object_size_less_than().is_some();
    match get_str(f, "prefix") {
        Some(pfx) => b = b.prefix(pfx),
        None if !any => b = b.prefix(""),
        None => {}
    }
    Ok(b.build())
}

fn rule_from_value(r: &Value) -> Result<s3::LifecycleRule> {
    let mut b = s3::LifecycleRule::builder()
        .set_id(get_str(r, "id"))
        .status(s3::ExpirationStatus::from(
            get_str(r, "status").unwrap_or_default().as_str(),
        ));
    if let Some(f) = first_block(r, "filter") {
        b = b.filter(filter_from_value(f)?);
    } else if let Some(pfx) = get_str(r, "prefix") {
        #[allow(deprecated)]
        {
            b = b.prefix(pfx);
        }
    } else {
        b = b.filter(s3::LifecycleRuleFilter::builder().prefix("").build());
    }
    if let Some(e) = first_block(r, "expiration") {
        b = b.expiration(
            s3::LifecycleExpiration::builder()
                .set_date(parse_date(e, "expiration")?)
                .set_days(i32_of(e, "days"))
                .set_expired_object_delete_marker(
                    get_bool(e, "expired_object_delete_marker").filter(|m| *m),
                )
                .build(),
        );
    }
    for t in get_blocks(r, "transition") {
        b = b.transitions(
            s3::Transition::builder()
                .set_date(parse_date(t, "transition")?)
                .set_days(i32_of(t, "days"))
                .set_storage_class(
                    get_str(t, "storage_class")
                        .map(|c| s3::TransitionStorageClass::from(c.as_str())),
                )
                .build(),
        );
    }
    for t in get_blocks(r, "noncurrent_version_transition") {
        b = b.noncurrent_version_transitions(
            s3::NoncurrentVersionTransition::builder()
                .set_noncurrent_days(i32_of(t, "noncurrent_days"))
                .set_newer_noncurrent_versions(i32_of(t, "newer_noncurrent_versions"))
                .set_storage_class(
                    get_str(t, "storage_class")
                        .map(|c| s3::TransitionStorageClass::from(c.as_str())),
                )
                .build(),
        );
    }
    if let Some(e) = first_block(r, "noncurrent_version_expiration") {
        b = b.noncurrent_version_expiration(
            s3::NoncurrentVersionExpiration::builder()
                .set_noncurrent_days(i32_of(e, "noncurrent_days"))
                .set_newer_noncurrent_versions(i32_of(e, "newer_noncurrent_versions"))
                .build(),
        );
    }
    if let Some(a) = first_block(r, "abort_incomplete_multipart_upload") {
        b = b.abort_incomplete_multipart_upload(
            s3::AbortIncompleteMultipartUpload::builder()
                .set_days_after_initiation(i32_of(a, "days_after_initiation"))
                .build(),
        );
    }
    built(b.build(), "rule")
}

#[async_trait]
impl BucketPart for LifecycleConfiguration {
    fn name(&self) -> &'static str {
        "aws_s3_bucket_lifecycle_configuration"
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr(
                "transition_default_minimum_object_size",
                Attribute::optional_computed(AttrType::String),
            )
            .list_block("rule", 1, usize::MAX, lifecycle_rule_schema())
    }

    async fn get(
        &self,
        p: &AwsProvider,
        bucket: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Vec<(&'static str, Value)>>> {
        let out = p
            .call("s3:GetBucketLifecycleConfiguration", || {
                p.s3.get_bucket_lifecycle_configuration()
                    .bucket(bucket)
                    .send()
            })
            .await?;
        if out.rules().is_empty() {
            return Ok(None);
        }
        let rules = out.rules().iter().map(rule_to_value).collect();
        let min_size = out
            .transition_default_minimum_object_size()
            .map(|s| Value::from(s.as_str()))
            .or_else(|| {
                prior
                    .and_then(|pv| pv.get("transition_default_minimum_object_size"))
                    .filter(|v| v.is_wholly_known())
                    .cloned()
            })
            .unwrap_or(Value::Null);
        Ok(Some(vec![
            ("rule", Value::List(rules)),
            ("transition_default_minimum_object_size", min_size),
        ]))
    }

    async fn put(
        &self,
        p: &AwsProvider,
        bucket: &str,
        _prior: Option<&Value>,
        planned: &Value,
    ) -> Result<()> {
        let rules = get_blocks(planned, "rule")
            .iter()
            .map(rule_from_value)
            .collect::<Result<Vec<_>, _>>()?;
        let cfg = built(
            s3::BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build(),
            "rule",
        )?;
        let min_size = get_str(planned, "transition_default_minimum_object_size")
            .map(|s| s3::TransitionDefaultMinimumObjectSize::from(s.as_str()));
        p.call("s3:PutBucketLifecycleConfiguration", || {
            p.s3.put_bucket_lifecycle_configuration()
                .bucket(bucket)
                .lifecycle_configuration(cfg.clone())
                .set_transition_default_minimum_object_size(min_size.clone())
                .send()
        })
        .await
        .map(|_| ())
        .map_err(|e| at_path(e, "rule"))
    }

    async fn delete(&self, p: &AwsProvider, bucket: &str, _prior: &Value) -> Result<()> {
        by_bucket!(
            p,
            "s3:DeleteBucketLifecycle",
            delete_bucket_lifecycle,
            bucket
        )
        .map(|_| ())
    }
}
