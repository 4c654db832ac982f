//! `data "aws_caller_identity"`.

use super::DataSourceType;
use crate::provider::AwsProvider;
use crate::values::Obj;
use async_trait::async_trait;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, ProviderError, Schema};

pub(crate) struct CallerIdentity;

#[async_trait]
impl DataSourceType for CallerIdentity {
    fn name(&self) -> &'static str {
        "aws_caller_identity"
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr("account_id", Attribute::computed(AttrType::String))
            .attr("arn", Attribute::computed(AttrType::String))
            .attr("user_id", Attribute::computed(AttrType::String))
    }

    async fn read(&self, p: &AwsProvider, _config: &Value) -> Result<Value, ProviderError> {
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
