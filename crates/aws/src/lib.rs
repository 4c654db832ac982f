//! `terrace-aws` is terrace's AWS provider: it implements
//! [`terrace_provider::ProviderFactory`] and [`terrace_provider::Provider`]
//! for the AWS resource types terrace supports (network, runners,
//! registries, clusters) on the official aws-sdk-rust crates. It owns the
//! resource schemas (Terraform AWS provider names), batched reads, ownership
//! tags, idempotent creates, error classification and API-call counting.
//!
//! It never depends on terminals, HCL, state stores or the engine; nothing
//! outside this crate sees an AWS SDK type through the `Provider` trait.

mod api;
mod credentials;
mod data_sources;
mod provider;
mod resources;
mod schema;
mod tags;
mod values;

/// What the provider's operations return: a [`terrace_provider::ProviderError`]
/// unless another error type is named.
pub(crate) type Result<T, E = terrace_provider::ProviderError> = std::result::Result<T, E>;

pub use provider::{AwsProvider, AwsProviderFactory, OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
pub use resources::unimplemented::{UnimplementedArgument, unimplemented_arguments};
