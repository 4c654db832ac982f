//! `aws_kms_key`: a key by ID, ARN, alias name or alias ARN (`DescribeKey`).

use super::DataSourceType;
use crate::Result;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::values::{Obj, get_str};
use async_trait::async_trait;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, ProviderError, Schema};

pub(crate) struct KmsKey;

const STRINGS: &[&str] = &[
    "id",
    "arn",
    "aws_account_id",
    "description",
    "key_usage",
    "customer_master_key_spec",
    "key_spec",
    "key_state",
    "key_manager",
    "origin",
    "creation_date",
];

#[async_trait]
impl DataSourceType for KmsKey {
    fn name(&self) -> &'static str {
        "aws_kms_key"
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(STRINGS, Attribute::computed(AttrType::String))
            .attr("key_id", Attribute::required(AttrType::String))
            .attr(
                "grant_tokens",
                Attribute::optional(AttrType::list_of(AttrType::String)),
            )
            .attrs(
                &["enabled", "multi_region"],
                Attribute::computed(AttrType::Bool),
            )
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let key_id = get_str(config, "key_id").unwrap_or_default();
        let m = match p
            .call("kms:DescribeKey", || {
                p.kms_client().describe_key().key_id(&key_id).send()
            })
            .await
        {
            Ok(out) => out.key_metadata().cloned(),
            Err(ProviderError::NotFound(m)) => {
                return Err(ProviderError::NotFound(format!(
                    "reading KMS Key ({key_id}): {m}"
                )));
            }
            Err(e) => return Err(e),
        }
        .ok_or_else(|| {
            ProviderError::NotFound(format!("reading KMS Key ({key_id}): empty result"))
        })?;
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .set("key_id", key_id.as_str())
            .set(
                "grant_tokens",
                config.get("grant_tokens").cloned().unwrap_or(Value::Null),
            )
            .set("id", m.key_id())
            .set_opt_str("arn", m.arn())
            .set_opt_str("aws_account_id", m.aws_account_id())
            .set("description", m.description().unwrap_or_default())
            .set_opt_str("key_usage", m.key_usage().map(|x| x.as_str()))
            .set_opt_str("customer_master_key_spec", m.key_spec().map(|x| x.as_str()))
            .set_opt_str("key_spec", m.key_spec().map(|x| x.as_str()))
            .set_opt_str("key_state", m.key_state().map(|x| x.as_str()))
            .set_opt_str("key_manager", m.key_manager().map(|x| x.as_str()))
            .set_opt_str("origin", m.origin().map(|x| x.as_str()))
            .set_opt_str(
                "creation_date",
                m.creation_date()
                    .and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                    .as_deref(),
            )
            .set("enabled", m.enabled())
            .set("multi_region", m.multi_region().unwrap_or(false))
            .build())
    }
}
