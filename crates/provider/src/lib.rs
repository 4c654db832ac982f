//! `terrace-provider` is the interface between the engine and the clouds: the
//! [`Provider`] trait (batched reads, create/update/delete, import, data
//! sources, crash-recovery lookups, API-call statistics), resource
//! [`Schema`]s (required/optional/computed, force-new, sensitive, nested
//! blocks, defaults), the generic schema-driven planner [`plan_with_schema`],
//! and classified [`ProviderError`]s the engine reacts to.
//!
//! It knows no concrete cloud: it never depends on an AWS SDK, HCL, state
//! stores or terminals.

pub mod plan;
pub mod schema;

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use terrace_core::{Value, ValuePath};

pub use plan::{PlannedResource, convert_to_type, plan_with_schema};
pub use schema::{AttrMode, AttrType, Attribute, BlockType, Nesting, ProviderSchema, Schema};

/// Who is asking: the environment and the resource instance address. Used
/// for ownership tags (`terrace:environment`, `terrace:address`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceContext {
    pub environment: String,
    pub address: String,
}

/// Everything a create needs besides the planned value.
#[derive(Debug, Clone)]
pub struct CreateContext {
    pub resource: ResourceContext,
    /// Unique per create intent; passed to APIs that accept idempotency
    /// tokens (RunInstances `ClientToken`, EKS `clientRequestToken`) and
    /// recorded in the intent journal so a crashed create can be found again.
    pub idempotency_token: String,
    /// How long to wait for the object to become ready.
    pub timeout: Duration,
}

/// A classified provider error. The engine retries `Throttled`, retries
/// `Conflict` during destroy (ordering errors), treats `NotFound` on read as
/// "gone", and renders `InvalidArgument` at the config line of `path`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("throttled by the API ({code}): {message}")]
    Throttled { code: String, message: String },
    #[error("{code}: {message}")]
    Conflict { code: String, message: String },
    #[error("{code}: {message}")]
    InvalidArgument {
        path: Option<ValuePath>,
        code: String,
        message: String,
    },
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    #[error("{0}")]
    Unsupported(String),
    #[error("provider configuration: {0}")]
    Config(String),
    #[error("{code}: {message}")]
    Api { code: String, message: String },
    /// The request may or may not have been carried out: its answer was lost
    /// (a reset connection, a server error, a timeout before the response).
    /// A create that ends so may have made its object, so it is not sent
    /// again blindly: the object is looked up first.
    #[error("{code}: {message} (the request may have been carried out)")]
    Unconfirmed { code: String, message: String },
    /// A create made its object, then a later step failed (a rule, an
    /// attribute or tagging call of a multi-call create). `object` is the
    /// object as far as it was made; the engine keeps it in state so it is
    /// neither orphaned nor created twice, and the next plan updates or
    /// replaces it.
    #[error("{error}")]
    PartiallyCreated {
        object: Box<Value>,
        error: Box<ProviderError>,
    },
}

impl ProviderError {
    /// Errors worth retrying with backoff (throttling).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ProviderError::Throttled { .. })
    }

    /// Whether a create that failed with this error may have left an object
    /// behind that nobody can find without looking (a timeout, a lost answer).
    pub fn may_have_created(&self) -> bool {
        matches!(
            self,
            ProviderError::Timeout { .. } | ProviderError::Unconfirmed { .. }
        )
    }
}

/// A configured provider instance (one per `provider` block / alias).
#[async_trait]
pub trait Provider: Send + Sync {
    /// The provider's schemas.
    fn schema(&self) -> &ProviderSchema;

    /// Provider-side planning: normalise the configuration, decide planned
    /// values (unknown where only the API can tell) and which changed paths
    /// force replacement. `prior` is `None` for a create. The default uses
    /// the schema alone.
    fn plan_resource(
        &self,
        type_name: &str,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource, ProviderError> {
        let _ = ctx;
        let schema = self.schema().resources.get(type_name).ok_or_else(|| {
            ProviderError::Unsupported(format!("resource type {type_name} is not supported"))
        })?;
        Ok(plan_with_schema(schema, prior, config))
    }

    /// Refresh many objects of one type in as few API calls as the API
    /// allows. Returns one entry per `prior`, in order; `None` = gone.
    async fn read_resources(
        &self,
        type_name: &str,
        prior: &[Value],
    ) -> Result<Vec<Option<Value>>, ProviderError>;

    async fn create(
        &self,
        type_name: &str,
        planned: &Value,
        ctx: &CreateContext,
    ) -> Result<Value, ProviderError>;

    async fn update(
        &self,
        type_name: &str,
        prior: &Value,
        planned: &Value,
        ctx: &ResourceContext,
    ) -> Result<Value, ProviderError>;

    /// Delete; deleting something already gone is success.
    async fn delete(&self, type_name: &str, prior: &Value) -> Result<(), ProviderError>;

    /// Read an existing object by its import ID. `None` if it does not exist.
    async fn import(&self, type_name: &str, id: &str) -> Result<Option<Value>, ProviderError>;

    /// Read a data source.
    async fn read_data(&self, type_name: &str, config: &Value) -> Result<Value, ProviderError>;

    /// Crash recovery: find the object a create with this token / ownership
    /// address may have made. `None` if nothing was made. During a
    /// replacement two objects carry the address; the engine passes over the
    /// ones state already holds and, when this answers with one of them,
    /// looks through [`Provider::list_owned`] for the other.
    async fn find_created(
        &self,
        type_name: &str,
        token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>, ProviderError>;

    /// Drift: every object of this type that carries the environment's
    /// ownership tag (`terrace:environment`), managed or not.
    async fn list_owned(
        &self,
        type_name: &str,
        environment: &str,
    ) -> Result<Vec<Value>, ProviderError>;

    /// API calls made so far, per `service:Operation`, sorted.
    fn api_calls(&self) -> Vec<(String, u64)>;

    /// Whether creates and deletes touch objects outside terrace's state.
    /// Only then are they journalled (the journal exists to find or finish
    /// what an interrupted run left in the cloud); a provider whose objects
    /// live in state alone (`terraform_data`) answers `false`.
    fn has_remote_objects(&self) -> bool {
        true
    }

    /// Who the provider acts as (for the apply ledger), asked once per run;
    /// `None` when the provider has no such notion or cannot tell. Never
    /// an error: a run is not stopped for its audit detail.
    async fn caller_identity(&self) -> Option<CallerIdentity> {
        None
    }
}

/// The cloud identity a provider acts as (AWS: STS GetCallerIdentity).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallerIdentity {
    /// The account (AWS account id).
    pub account: String,
    /// The caller (AWS ARN of the user or assumed role).
    pub arn: String,
}

/// Creates configured [`Provider`]s from `provider` blocks.
#[async_trait]
pub trait ProviderFactory: Send + Sync {
    /// The provider's local name (`aws`).
    fn name(&self) -> &str;

    /// Schemas, available without configuring (for `validate`, offline).
    fn schema(&self) -> &ProviderSchema;

    /// Configure an instance from a `provider` block's evaluated value (an
    /// empty map when the configuration has no block).
    async fn configure(
        &self,
        config: &Value,
        environment: &str,
    ) -> Result<Arc<dyn Provider>, ProviderError>;
}
