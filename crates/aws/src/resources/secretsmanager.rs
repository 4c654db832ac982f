//! `aws_secretsmanager_secret` and `aws_secretsmanager_secret_version`.
//! A secret's `id` is its ARN; deleting it schedules deletion after
//! `recovery_window_in_days` (default 30; 0 deletes at once), and a secret
//! scheduled for deletion reads as gone. A version's `id` is
//! `<secret arn>|<version id>`; its `secret_string` / `secret_binary` are
//! sensitive in the schema (marked in plans, plan JSON and state without
//! the user marking them). Secrets Manager has no batched describe: reads
//! run concurrently, one `DescribeSecret` per secret.

use super::{ResourceType, default_plan};
use crate::Result;
use crate::api::is_not_found;
use crate::provider::{AwsProvider, OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, send_tag_changes, tags_from_api};
use crate::values::{
    Obj, get_i64, get_str, get_str_map, get_strings, json_equivalent, opt_str, str_set,
};
use async_trait::async_trait;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use base64::Engine;
use sha1::Digest;
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

const SECRET: &str = "aws_secretsmanager_secret";
const VERSION: &str = "aws_secretsmanager_secret_version";

fn invalid(attr: &str, message: String) -> ProviderError {
    ProviderError::InvalidArgument {
        path: Some(vec![PathStep::Key(attr.to_string())]),
        code: "InvalidArgument".into(),
        message,
    }
}

/// "Marked for deletion" answers: the secret is as good as gone.
fn gone<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(ProviderError::Api { message, .. }) if message.contains("marked for deletion") => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

pub(crate) struct Secret;

impl Secret {
    async fn get(&self, p: &AwsProvider, id: &str, prior: Option<&Value>) -> Result<Option<Value>> {
        let Some(d) = gone(
            p.call("secretsmanager:DescribeSecret", || {
                p.secretsmanager.describe_secret().secret_id(id).send()
            })
            .await,
        )?
        else {
            return Ok(None);
        };
        if d.deleted_date().is_some() {
            return Ok(None);
        }
        let arn = d.arn().unwrap_or(id).to_string();
        let policy = gone(
            p.call("secretsmanager:GetResourcePolicy", || {
                p.secretsmanager
                    .get_resource_policy()
                    .secret_id(&arn)
                    .send()
            })
            .await,
        )?
        .and_then(|r| r.resource_policy().map(str::to_string));
        let policy = match (prior.and_then(|pv| get_str(pv, "policy")), policy) {
            (Some(old), Some(new)) if json_equivalent(&old, &new) => Value::from(old),
            (_, new) => opt_str(new.as_deref()),
        };
        let actual: TagMap = d
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        let (tags, tags_all) = tags_from_api(&actual, prior, &p.default_tags);
        Ok(Some(
            Obj::new(&p.resource_schema(SECRET))
                .keep(
                    prior,
                    &[
                        "name_prefix",
                        "recovery_window_in_days",
                        "force_overwrite_replica_secret",
                    ],
                )
                .set("id", arn.as_str())
                .set("arn", arn.as_str())
                .set_opt_str("name", d.name())
                .set_opt_str("description", d.description())
                .set_opt_str("kms_key_id", d.kms_key_id())
                .set("policy", policy)
                .set("tags", tags)
                .set("tags_all", tags_all)
                .build(),
        ))
        .map(|v| v.map(|v| fill_defaults(v, prior.is_none())))
    }

    async fn put_policy(&self, p: &AwsProvider, arn: &str, planned: &Value) -> Result<()> {
        match get_str(planned, "policy") {
            Some(policy) => p
                .call("secretsmanager:PutResourcePolicy", || {
                    p.secretsmanager
                        .put_resource_policy()
                        .secret_id(arn)
                        .resource_policy(&policy)
                        .send()
                })
                .await
                .map(|_| ())
                .map_err(|e| crate::api::at_path(e, "policy")),
            None => p
                .call("secretsmanager:DeleteResourcePolicy", || {
                    p.secretsmanager
                        .delete_resource_policy()
                        .secret_id(arn)
                        .send()
                })
                .await
                .map(|_| ()),
        }
    }

    async fn owned(&self, p: &AwsProvider, tags: &[(&str, &str)]) -> Result<Vec<Value>> {
        let filters = vec![
            Filter::builder()
                .key(FilterNameStringType::TagValue)
                .values(tags[tags.len() - 1].1)
                .build(),
        ];
        let mut arns = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let r = p
                .call("secretsmanager:ListSecrets", || {
                    p.secretsmanager
                        .list_secrets()
                        .set_filters(Some(filters.clone()))
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            for s in r.secret_list() {
                let has = |k: &str, v: &str| {
                    s.tags()
                        .iter()
                        .any(|t| t.key() == Some(k) && t.value() == Some(v))
                };
                if tags.iter().all(|(k, v)| has(k, v))
                    && let Some(a) = s.arn()
                {
                    arns.push(a.to_string());
                }
            }
            token = r.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let mut out = Vec::new();
        for a in arns {
            out.extend(self.get(p, &a, None).await?);
        }
        Ok(out)
    }
}

/// Defaults the API cannot tell, for an imported secret.
fn fill_defaults(mut v: Value, imported: bool) -> Value {
    if imported && let Some(m) = v.as_map_mut() {
        m.insert("recovery_window_in_days".into(), Value::from(30));
        m.insert("force_overwrite_replica_secret".into(), Value::Bool(false));
    }
    v
}

fn sm_tags(tags: &TagMap) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

#[async_trait]
impl ResourceType for Secret {
    fn name(&self) -> &'static str {
        SECRET
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(&["id", "arn"], Attribute::computed(AttrType::String))
            .named_or_prefixed()
            .attrs(
                &["description", "kms_key_id"],
                Attribute::optional(AttrType::String),
            )
            .attr("policy", Attribute::optional_computed(AttrType::String))
            .attr(
                "recovery_window_in_days",
                Attribute::optional(AttrType::Number).default(30),
            )
            .attr(
                "force_overwrite_replica_secret",
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
        if let Some(w) = get_i64(config, "recovery_window_in_days")
            && w != 0
            && !(7..=30).contains(&w)
        {
            return Err(invalid(
                "recovery_window_in_days",
                format!("recovery_window_in_days is {w}: use 0 (delete at once) or 7 to 30"),
            ));
        }
        if [get_str(config, "name"), get_str(config, "name_prefix")]
            .iter()
            .all(Option::is_some)
        {
            return Err(invalid(
                "name_prefix",
                "`name` and `name_prefix` conflict: set only one".into(),
            ));
        }
        let mut planned = default_plan(p, &p.resource_schema(SECRET), prior, config, ctx);
        if let (Some(old), Some(new), Some(m)) = (
            prior.and_then(|pv| get_str(pv, "policy")),
            get_str(config, "policy"),
            planned.planned.as_map_mut(),
        ) && json_equivalent(&old, &new)
        {
            m.insert("policy".into(), Value::from(old));
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        super::read_each(prior, |pv| async move {
            let id = get_str(&pv, "id").unwrap_or_default();
            self.get(p, &id, Some(&pv)).await
        })
        .await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        self.get(p, id, None).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let name = match (get_str(planned, "name"), get_str(planned, "name_prefix")) {
            (Some(n), _) => n,
            (None, Some(prefix)) => format!("{prefix}{}", unique_suffix()),
            (None, None) => format!("terraform-{}", unique_suffix()),
        };
        let tags = sm_tags(&create_tags(&p.default_tags, planned, &ctx.resource));
        let out = p
            .call("secretsmanager:CreateSecret", || {
                p.secretsmanager
                    .create_secret()
                    .name(&name)
                    .set_description(get_str(planned, "description"))
                    .set_kms_key_id(get_str(planned, "kms_key_id"))
                    .set_tags(Some(tags.clone()))
                    .send()
            })
            .await
            .map_err(|e| match e {
                ProviderError::Api { code, message } if code == "ResourceExistsException" => {
                    invalid("name", format!("{message}: pick another name or import it"))
                }
                e => e,
            })?;
        let arn = out.arn().unwrap_or_default().to_string();
        let made = Obj::new(&p.resource_schema(SECRET))
            .set("id", arn.as_str())
            .build();
        if get_str(planned, "policy").is_some() {
            self.put_policy(p, &arn, planned)
                .await
                .map_err(|e| super::partially_created(&made, e))?;
        }
        let mut state = self.get(p, &arn, Some(planned)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("secret {arn} not found after create"))
        })?;
        if let Some(m) = state.as_map_mut() {
            m.insert(
                "name_prefix".into(),
                planned.get("name_prefix").cloned().unwrap_or(Value::Null),
            );
        }
        Ok(state)
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let arn = get_str(prior, "id").unwrap_or_default();
        if ["description", "kms_key_id"]
            .iter()
            .any(|k| prior.get(k) != planned.get(k))
        {
            p.call("secretsmanager:UpdateSecret", || {
                p.secretsmanager
                    .update_secret()
                    .secret_id(&arn)
                    .description(get_str(planned, "description").unwrap_or_default())
                    .set_kms_key_id(get_str(planned, "kms_key_id"))
                    .send()
            })
            .await?;
        }
        if prior.get("policy") != planned.get("policy")
            && planned.get("policy") != Some(&Value::Unknown)
        {
            self.put_policy(p, &arn, planned).await?;
        }
        let arn_ref = arn.as_str();
        send_tag_changes(
            &get_str_map(prior, "tags_all"),
            &get_str_map(planned, "tags_all"),
            |removed| async move {
                p.call("secretsmanager:UntagResource", || {
                    p.secretsmanager
                        .untag_resource()
                        .secret_id(arn_ref)
                        .set_tag_keys(Some(removed.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
            |changed| async move {
                let tags = sm_tags(&changed);
                p.call("secretsmanager:TagResource", || {
                    p.secretsmanager
                        .tag_resource()
                        .secret_id(arn_ref)
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
        )
        .await?;
        self.get(p, &arn, Some(planned))
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("secret {arn} not found after update")))
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let arn = get_str(prior, "id").unwrap_or_default();
        let window = get_i64(prior, "recovery_window_in_days").unwrap_or(30);
        let r = p
            .call("secretsmanager:DeleteSecret", || {
                let call = p.secretsmanager.delete_secret().secret_id(&arn);
                if window == 0 {
                    call.force_delete_without_recovery(true).send()
                } else {
                    call.recovery_window_in_days(window).send()
                }
            })
            .await;
        gone(r).map(|_| ())
    }

    async fn find_created(
        &self,
        p: &AwsProvider,
        _token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>> {
        Ok(self
            .owned(
                p,
                &[
                    (OWNER_ENVIRONMENT_TAG, ctx.environment.as_str()),
                    (OWNER_ADDRESS_TAG, ctx.address.as_str()),
                ],
            )
            .await?
            .pop())
    }

    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        self.owned(p, &[(OWNER_ENVIRONMENT_TAG, environment)]).await
    }
}

/// A 26-character suffix as Terraform's prefixed unique IDs have.
fn unique_suffix() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{:018}{:08}",
        now.as_nanos() % 1_000_000_000_000_000_000,
        rand::random::<u32>() % 100_000_000
    )
}

// ---------------------------------------------------------------------------

pub(crate) struct SecretVersion;

/// One version of a secret, read: `(arn, version_id, string, binary
/// base64, stages, created)`.
pub(crate) struct VersionRead {
    pub arn: String,
    pub version_id: String,
    pub string: Option<String>,
    pub binary: Option<String>,
    pub stages: Vec<String>,
    pub created: Option<String>,
}

/// `GetSecretValue` by version ID or stage; `None` when gone.
pub(crate) async fn get_version(
    p: &AwsProvider,
    secret: &str,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<Option<VersionRead>> {
    let r = gone(
        p.call("secretsmanager:GetSecretValue", || {
            p.secretsmanager
                .get_secret_value()
                .secret_id(secret)
                .set_version_id(version_id.map(str::to_string))
                .set_version_stage(stage.map(str::to_string))
                .send()
        })
        .await,
    )?;
    Ok(r.map(|o| VersionRead {
        arn: o.arn().unwrap_or(secret).to_string(),
        version_id: o.version_id().unwrap_or_default().to_string(),
        string: o.secret_string().map(str::to_string),
        binary: o
            .secret_binary()
            .map(|b| base64::engine::general_purpose::STANDARD.encode(b.as_ref())),
        stages: o.version_stages().to_vec(),
        created: o.created_date().map(|d| d.to_string()),
    }))
}

fn secret_marked(s: Option<&str>) -> Value {
    opt_str(s).mark_if(s.is_some())
}

impl SecretVersion {
    fn to_value(&self, p: &AwsProvider, v: &VersionRead, prior: Option<&Value>) -> Value {
        Obj::new(&p.resource_schema(VERSION))
            .keep(prior, &["secret_id"])
            .set("id", format!("{}|{}", v.arn, v.version_id))
            .set("arn", v.arn.as_str())
            .set("version_id", v.version_id.as_str())
            .set("secret_string", secret_marked(v.string.as_deref()))
            .set("secret_binary", secret_marked(v.binary.as_deref()))
            .set("version_stages", str_set(v.stages.clone()))
            .build()
    }

    async fn get(&self, p: &AwsProvider, id: &str, prior: Option<&Value>) -> Result<Option<Value>> {
        let Some((arn, version)) = id.split_once('|') else {
            return Err(invalid(
                "id",
                format!("import ID {id:?} is not `<secret arn>|<version id>`"),
            ));
        };
        let read = get_version(p, arn, Some(version), None).await?;
        Ok(read.map(|v| {
            let mut out = self.to_value(p, &v, prior);
            if prior.is_none()
                && let Some(m) = out.as_map_mut()
            {
                m.insert("secret_id".into(), Value::from(arn));
            }
            out
        }))
    }

    /// Move stages to or from this version (`AWSCURRENT` moves from the
    /// version holding it).
    async fn set_stages(
        &self,
        p: &AwsProvider,
        arn: &str,
        version: &str,
        old: &[String],
        new: &[String],
    ) -> Result<()> {
        for stage in new.iter().filter(|s| !old.contains(s)) {
            let holder = get_version(p, arn, None, Some(stage))
                .await?
                .map(|v| v.version_id)
                .filter(|h| h != version);
            p.call("secretsmanager:UpdateSecretVersionStage", || {
                p.secretsmanager
                    .update_secret_version_stage()
                    .secret_id(arn)
                    .version_stage(stage)
                    .move_to_version_id(version)
                    .set_remove_from_version_id(holder.clone())
                    .send()
            })
            .await?;
        }
        for stage in old
            .iter()
            .filter(|s| !new.contains(s) && s.as_str() != "AWSCURRENT")
        {
            p.call("secretsmanager:UpdateSecretVersionStage", || {
                p.secretsmanager
                    .update_secret_version_stage()
                    .secret_id(arn)
                    .version_stage(stage)
                    .remove_from_version_id(version)
                    .send()
            })
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceType for SecretVersion {
    fn name(&self) -> &'static str {
        VERSION
    }

    // Re-sent safely (PutSecretValue carries the engine's token); untagged.
    fn untagged(&self) -> bool {
        true
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "arn", "version_id"],
                Attribute::computed(AttrType::String),
            )
            .attr(
                "secret_id",
                Attribute::required(AttrType::String).force_new(),
            )
            .attrs(
                &["secret_string", "secret_binary"],
                Attribute::optional(AttrType::String)
                    .sensitive()
                    .force_new(),
            )
            .attr(
                "version_stages",
                Attribute::optional_computed(AttrType::set_of(AttrType::String)),
            )
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let set = |k| config.get(k).is_some_and(|v: &Value| !v.is_null());
        if set("secret_string") && set("secret_binary") {
            return Err(invalid(
                "secret_binary",
                "`secret_string` and `secret_binary` conflict: set only one".into(),
            ));
        }
        Ok(default_plan(
            p,
            &p.resource_schema(VERSION),
            prior,
            config,
            ctx,
        ))
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        super::read_each(prior, |pv| async move {
            let id = get_str(&pv, "id").unwrap_or_default();
            self.get(p, &id, Some(&pv)).await
        })
        .await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        self.get(p, id, None).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let secret = get_str(planned, "secret_id").unwrap_or_default();
        let binary = match get_str(planned, "secret_binary") {
            Some(b) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(&b)
                    .map_err(|e| {
                        invalid("secret_binary", format!("secret_binary is not base64: {e}"))
                    })?,
            ),
            None => None,
        };
        // The engine's idempotency token, as Secrets Manager wants it
        // (32–64 characters): a lost answer may be re-sent safely.
        let token = hex::encode(sha1::Sha1::digest(ctx.idempotency_token.as_bytes()));
        let stages = get_strings(planned, "version_stages");
        let out = p
            .call("secretsmanager:PutSecretValue", || {
                p.secretsmanager
                    .put_secret_value()
                    .secret_id(&secret)
                    .client_request_token(&token)
                    .set_secret_string(get_str(planned, "secret_string"))
                    .set_secret_binary(binary.clone().map(aws_smithy_types::Blob::new))
                    .set_version_stages((!stages.is_empty()).then(|| stages.clone()))
                    .send()
            })
            .await?;
        let id = format!(
            "{}|{}",
            out.arn().unwrap_or(&secret),
            out.version_id().unwrap_or_default()
        );
        self.get(p, &id, Some(planned)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("secret version {id} not found after create"))
        })
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let arn = get_str(prior, "arn").unwrap_or_default();
        let version = get_str(prior, "version_id").unwrap_or_default();
        let new = get_strings(planned, "version_stages");
        if planned
            .get("version_stages")
            .is_some_and(Value::is_wholly_known)
        {
            self.set_stages(
                p,
                &arn,
                &version,
                &get_strings(prior, "version_stages"),
                &new,
            )
            .await?;
        }
        let id = get_str(prior, "id").unwrap_or_default();
        self.get(p, &id, Some(planned))
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("secret version {id} not found")))
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        // A version cannot be deleted: take its stages away (AWSCURRENT
        // stays, as in Terraform); without stages it is deprecated.
        let arn = get_str(prior, "arn").unwrap_or_default();
        let version = get_str(prior, "version_id").unwrap_or_default();
        let Some(now) = get_version(p, &arn, Some(&version), None).await? else {
            return Ok(());
        };
        gone(self.set_stages(p, &arn, &version, &now.stages, &[]).await).map(|_| ())
    }
}
