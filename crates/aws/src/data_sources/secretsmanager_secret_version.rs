//! `data "aws_secretsmanager_secret_version"`: a secret's value by
//! `version_id` or `version_stage` (default `AWSCURRENT`);
//! `secret_string` and `secret_binary` are sensitive.

use super::DataSourceType;
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::secretsmanager::get_version;
use crate::schema::SchemaAttrs;
use crate::values::{Obj, get_str, opt_str, str_set};
use async_trait::async_trait;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, ProviderError, Schema};

pub(crate) struct SecretVersion;

#[async_trait]
impl DataSourceType for SecretVersion {
    fn name(&self) -> &'static str {
        "aws_secretsmanager_secret_version"
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("secret_id", Attribute::required(AttrType::String))
            .attr("version_id", Attribute::optional_computed(AttrType::String))
            .attr("version_stage", Attribute::optional(AttrType::String))
            .attrs(
                &["id", "arn", "created_date"],
                Attribute::computed(AttrType::String),
            )
            .attrs(
                &["secret_string", "secret_binary"],
                Attribute::computed(AttrType::String).sensitive(),
            )
            .attr(
                "version_stages",
                Attribute::computed(AttrType::set_of(AttrType::String)),
            )
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let secret = get_str(config, "secret_id").unwrap_or_default();
        let version_id = get_str(config, "version_id");
        let stage = get_str(config, "version_stage")
            .or_else(|| version_id.is_none().then(|| "AWSCURRENT".to_string()));
        let v = get_version(p, &secret, version_id.as_deref(), stage.as_deref())
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!(
                    "reading Secrets Manager Secret Version ({secret}|{}): couldn't find resource",
                    version_id.or(stage).unwrap_or_default()
                ))
            })?;
        let marked = |s: Option<&str>| opt_str(s).mark_if(s.is_some());
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .set("secret_id", secret.as_str())
            .set(
                "version_stage",
                opt_str(get_str(config, "version_stage").as_deref()),
            )
            .set("version_id", v.version_id.as_str())
            .set("id", format!("{}|{}", v.arn, v.version_id))
            .set("arn", v.arn.as_str())
            .set("created_date", opt_str(v.created.as_deref()))
            .set("secret_string", marked(v.string.as_deref()))
            .set("secret_binary", marked(v.binary.as_deref()))
            .set("version_stages", str_set(v.stages))
            .build())
    }
}
