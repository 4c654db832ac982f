//! `data "aws_caller_identity"`.

use super::DataSourceType;
use crate::Result;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::values::Obj;
use async_trait::async_trait;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, Schema};

pub(crate) struct CallerIdentity;

#[async_trait]
impl DataSourceType for CallerIdentity {
    fn name(&self) -> &'static str {
        "aws_caller_identity"
    }

    fn schema(&self) -> Schema {
        Schema::new().attrs(
            &["id", "account_id", "arn", "user_id"],
            Attribute::computed(AttrType::String),
        )
    }

    async fn read(&self, p: &AwsProvider, _config: &Value) -> Result<Value> {
        let out = p
            .call("sts:GetCallerIdentity", || {
                p.sts.get_caller_identity().send()
            })
            .await?;
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .set_opt_str("id", out.account())
            .set_opt_str("account_id", out.account())
            .set_opt_str("arn", out.arn())
            .set_opt_str("user_id", out.user_id())
            .build())
    }
}
