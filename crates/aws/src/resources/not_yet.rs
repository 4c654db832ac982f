//! Types whose schema terrace knows but whose API it cannot yet apply:
//! a configuration declaring them validates and plans (modules declare
//! them with `count = 0`), and creating one stops with an error naming
//! the type. Today: `aws_vpc_block_public_access_options` and
//! `aws_vpc_block_public_access_exclusion` (moto has no VPC Block Public
//! Access API to test them against).

use super::{ResourceType, tags_attributes};
use crate::provider::AwsProvider;
use async_trait::async_trait;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

/// One known-but-not-applied type.
pub(crate) struct NotYet(pub(crate) &'static str);

fn refuse(type_name: &str) -> ProviderError {
    ProviderError::Unsupported(format!(
        "terrace knows {type_name} but cannot create, change or read it yet; \
         declare it with count = 0 or manage it outside terrace"
    ))
}

#[async_trait]
impl ResourceType for NotYet {
    fn name(&self) -> &'static str {
        self.0
    }

    fn schema(&self) -> Schema {
        let computed = |s: Schema, keys: &[&str]| {
            keys.iter()
                .fold(s, |s, k| s.attr(k, Attribute::computed(AttrType::String)))
        };
        match self.0 {
            "aws_vpc_block_public_access_options" => computed(
                Schema::new().attr(
                    "internet_gateway_block_mode",
                    Attribute::required(AttrType::String),
                ),
                &["id", "aws_account_id", "aws_region"],
            ),
            _ => tags_attributes(computed(
                Schema::new()
                    .attr(
                        "internet_gateway_exclusion_mode",
                        Attribute::required(AttrType::String),
                    )
                    .attr(
                        "subnet_id",
                        Attribute::optional(AttrType::String).force_new(),
                    )
                    .attr("vpc_id", Attribute::optional(AttrType::String).force_new()),
                &["id", "resource_arn"],
            )),
        }
    }

    fn untagged(&self) -> bool {
        true
    }

    async fn read_many(
        &self,
        _p: &AwsProvider,
        prior: &[Value],
    ) -> Result<Vec<Option<Value>>, ProviderError> {
        if prior.is_empty() {
            Ok(Vec::new())
        } else {
            Err(refuse(self.0))
        }
    }

    async fn import(&self, _p: &AwsProvider, _id: &str) -> Result<Option<Value>, ProviderError> {
        Err(refuse(self.0))
    }

    async fn create(
        &self,
        _p: &AwsProvider,
        _planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value, ProviderError> {
        Err(refuse(self.0))
    }

    async fn update(
        &self,
        _p: &AwsProvider,
        _prior: &Value,
        _planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value, ProviderError> {
        Err(refuse(self.0))
    }

    async fn delete(&self, _p: &AwsProvider, _prior: &Value) -> Result<(), ProviderError> {
        Err(refuse(self.0))
    }
}
