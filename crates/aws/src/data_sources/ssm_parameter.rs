//! `data "aws_ssm_parameter"`: one parameter by name, decrypted unless
//! `with_decryption = false`; also the public parameters AWS publishes
//! under `/aws/service/...` (AMI IDs). `value` is sensitive; for a
//! non-`SecureString` parameter `insecure_value` carries it unmarked.

use super::DataSourceType;
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::ssm_parameter::get_values;
use crate::schema::SchemaAttrs;
use crate::values::{Obj, get_bool, get_str, opt_str};
use async_trait::async_trait;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, ProviderError, Schema};

pub(crate) struct SsmParameter;

#[async_trait]
impl DataSourceType for SsmParameter {
    fn name(&self) -> &'static str {
        "aws_ssm_parameter"
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("name", Attribute::required(AttrType::String))
            .attr(
                "with_decryption",
                Attribute::optional(AttrType::Bool).default(true),
            )
            .attrs(
                &["id", "arn", "type", "insecure_value"],
                Attribute::computed(AttrType::String),
            )
            .attr("value", Attribute::computed(AttrType::String).sensitive())
            .attr("version", Attribute::computed(AttrType::Number))
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let name = get_str(config, "name").unwrap_or_default();
        let decrypt = get_bool(config, "with_decryption").unwrap_or(true);
        let found = get_values(p, std::slice::from_ref(&name), decrypt).await?;
        let prm = found.get(&name).ok_or_else(|| {
            ProviderError::NotFound(format!(
                "reading SSM Parameter ({name}): ParameterNotFound: no parameter named {name:?} in {}",
                p.region()
            ))
        })?;
        let ptype = prm.r#type().map(|t| t.as_str().to_string());
        let insecure = if ptype.as_deref() == Some("SecureString") {
            Value::Null
        } else {
            opt_str(prm.value())
        };
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .set("name", name.as_str())
            .set("with_decryption", decrypt)
            .set("id", name.as_str())
            .set("arn", opt_str(prm.arn()))
            .set("type", opt_str(ptype.as_deref()))
            .set("value", opt_str(prm.value()).mark_if(true))
            .set("insecure_value", insecure)
            .set("version", Value::from(prm.version()))
            .build())
    }
}
