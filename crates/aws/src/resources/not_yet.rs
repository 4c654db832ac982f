//! Types whose schema terrace knows but whose API it cannot yet apply:
//! a configuration declaring them validates and plans (modules declare
//! them with `count = 0`), and creating one stops with an error naming
//! the type. Today: `aws_vpc_block_public_access_options` and
//! `aws_vpc_block_public_access_exclusion` (moto has no VPC Block Public
//! Access API to test them against).

use super::ResourceType;
use crate::Result;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
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
        let computed =
            |s: Schema, keys: &[&str]| s.attrs(keys, Attribute::computed(AttrType::String));
        match self.0 {
            "aws_vpc_block_public_access_options" => computed(
                Schema::new().attr(
                    "internet_gateway_block_mode",
                    Attribute::required(AttrType::String),
                ),
                &["id", "aws_account_id", "aws_region"],
            ),
            _ => computed(
                Schema::new()
                    .attr(
                        "internet_gateway_exclusion_mode",
                        Attribute::required(AttrType::String),
                    )
                    .attrs(
                        &["subnet_id", "vpc_id"],
                        Attribute::optional(AttrType::String).force_new(),
                    ),
                &["id", "resource_arn"],
            )
            .tagged(),
        }
    }

    fn untagged(&self) -> bool {
        true
    }

    async fn read_many(&self, _p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        if prior.is_empty() {
            Ok(Vec::new())
        } else {
            Err(refuse(self.0))
        }
    }

    async fn import(&self, _p: &AwsProvider, _id: &str) -> Result<Option<Value>> {
        Err(refuse(self.0))
    }

    async fn create(
        &self,
        _p: &AwsProvider,
        _planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        Err(refuse(self.0))
    }

    async fn update(
        &self,
        _p: &AwsProvider,
        _prior: &Value,
        _planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        Err(refuse(self.0))
    }

    async fn delete(&self, _p: &AwsProvider, _prior: &Value) -> Result<()> {
        Err(refuse(self.0))
    }
}
