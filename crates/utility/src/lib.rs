//! `terrace-utility` owns the HashiCorp utility providers terrace builds in:
//! `random`, `null`, `time`, `tls`, `local`, `archive`, `http` and
//! `cloudinit`, with the type names, argument names, defaults and semantics
//! of hashicorp/random, hashicorp/null, … (keepers and triggers replace,
//! results that are secrets are sensitive). Each is a
//! [`terrace_provider::ProviderFactory`] registered beside the AWS provider.
//!
//! Except `local` (whose files live on disk) their objects live in state
//! alone: reads return the prior object, deletes forget it, and nothing is
//! journalled. Keys and certificates come from RustCrypto (`rsa`, `p256`,
//! `p384`, `ed25519-dalek`) and `rcgen`, archives from `zip`, HTTP from
//! `reqwest`; the crate knows no HCL, state store or terminal.

mod archive;
mod certs;
mod cloudinit;
mod http;
mod local;
mod null;
mod random;
mod time;
mod tls;
mod util;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use terrace_core::Value;
use terrace_provider::{
    CreateContext, PlannedResource, Provider, ProviderError, ProviderFactory, ProviderSchema,
    ResourceContext, plan_with_schema,
};

/// The current time for the `time` provider (tests pin it).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// Local names of the providers this crate builds in.
pub const PROVIDER_NAMES: &[&str] = &[
    "random",
    "null",
    "time",
    "tls",
    "local",
    "archive",
    "http",
    "cloudinit",
];

/// Every utility provider's factory; `clock` is "now" for the `time` provider.
pub fn factories(clock: Clock) -> Vec<Arc<dyn ProviderFactory>> {
    vec![
        UtilityProvider::factory(random::Random),
        UtilityProvider::factory(null::Null),
        UtilityProvider::factory(time::Time::new(clock.clone())),
        UtilityProvider::factory(tls::Tls::new(clock)),
        UtilityProvider::factory(local::Local),
        UtilityProvider::factory(archive::Archive),
        UtilityProvider::factory(http::Http),
        UtilityProvider::factory(cloudinit::CloudInit),
    ]
}

/// One utility provider's behaviour; [`UtilityProvider`] adapts it to the
/// engine's traits.
#[async_trait]
pub(crate) trait Kind: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn schema(&self) -> &ProviderSchema;

    /// Adjust the schema planner's result (values known at plan time).
    fn adjust_plan(
        &self,
        _type_name: &str,
        _prior: Option<&Value>,
        _planned: &mut PlannedResource,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Fill every computed value of `planned`.
    async fn create(
        &self,
        type_name: &str,
        planned: &Value,
        ctx: &CreateContext,
    ) -> Result<Value, ProviderError>;

    /// In-place update: by default the planned object with every value the
    /// plan left unknown taken from the prior object.
    async fn update(
        &self,
        _type_name: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, ProviderError> {
        Ok(util::fill_unknown_from(planned, prior))
    }

    /// Refresh; `None` = gone (recreated by the next apply).
    async fn read(&self, _type_name: &str, prior: &Value) -> Result<Option<Value>, ProviderError> {
        Ok(Some(prior.clone()))
    }

    async fn delete(&self, _type_name: &str, _prior: &Value) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn import(&self, type_name: &str, _id: &str) -> Result<Option<Value>, ProviderError> {
        Err(ProviderError::Unsupported(format!(
            "{type_name} cannot be imported (its provider does not support import); declare it and let apply create it"
        )))
    }

    /// `config` has the data source's defaults filled and computed values unknown.
    async fn read_data(&self, type_name: &str, _config: &Value) -> Result<Value, ProviderError> {
        Err(ProviderError::Unsupported(format!(
            "data source {type_name} is not supported by the {} provider",
            self.name()
        )))
    }

    fn has_remote_objects(&self) -> bool {
        false
    }
}

/// A utility provider: its own factory and its configured instance (these
/// providers take no configuration).
pub struct UtilityProvider {
    kind: Arc<dyn Kind>,
}

impl UtilityProvider {
    fn factory(kind: impl Kind) -> Arc<dyn ProviderFactory> {
        Arc::new(UtilityProvider {
            kind: Arc::new(kind),
        })
    }
}

#[async_trait]
impl ProviderFactory for UtilityProvider {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn schema(&self) -> &ProviderSchema {
        self.kind.schema()
    }

    async fn configure(
        &self,
        _config: &Value,
        _environment: &str,
    ) -> Result<Arc<dyn Provider>, ProviderError> {
        Ok(Arc::new(UtilityProvider {
            kind: self.kind.clone(),
        }))
    }
}

fn unsupported_resource(provider: &str, type_name: &str) -> ProviderError {
    ProviderError::Unsupported(format!(
        "resource type {type_name} is not supported by the {provider} provider"
    ))
}

#[async_trait]
impl Provider for UtilityProvider {
    fn schema(&self) -> &ProviderSchema {
        self.kind.schema()
    }

    fn plan_resource(
        &self,
        type_name: &str,
        prior: Option<&Value>,
        config: &Value,
        _ctx: &ResourceContext,
    ) -> Result<PlannedResource, ProviderError> {
        let schema = self
            .kind
            .schema()
            .resources
            .get(type_name)
            .ok_or_else(|| unsupported_resource(self.kind.name(), type_name))?;
        let mut planned = plan_with_schema(schema, prior, config);
        self.kind.adjust_plan(type_name, prior, &mut planned)?;
        Ok(planned)
    }

    async fn read_resources(
        &self,
        type_name: &str,
        prior: &[Value],
    ) -> Result<Vec<Option<Value>>, ProviderError> {
        let mut out = Vec::with_capacity(prior.len());
        for p in prior {
            out.push(self.kind.read(type_name, p).await?);
        }
        Ok(out)
    }

    async fn create(
        &self,
        type_name: &str,
        planned: &Value,
        ctx: &CreateContext,
    ) -> Result<Value, ProviderError> {
        let (planned, _) = planned.clone().deep_unmark();
        self.kind.create(type_name, &planned, ctx).await
    }

    async fn update(
        &self,
        type_name: &str,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value, ProviderError> {
        let (prior, _) = prior.clone().deep_unmark();
        let (planned, _) = planned.clone().deep_unmark();
        self.kind.update(type_name, &prior, &planned).await
    }

    async fn delete(&self, type_name: &str, prior: &Value) -> Result<(), ProviderError> {
        let (prior, _) = prior.clone().deep_unmark();
        self.kind.delete(type_name, &prior).await
    }

    async fn import(&self, type_name: &str, id: &str) -> Result<Option<Value>, ProviderError> {
        if !self.kind.schema().resources.contains_key(type_name) {
            return Err(unsupported_resource(self.kind.name(), type_name));
        }
        self.kind.import(type_name, id).await
    }

    async fn read_data(&self, type_name: &str, config: &Value) -> Result<Value, ProviderError> {
        let schema = self
            .kind
            .schema()
            .data_sources
            .get(type_name)
            .ok_or_else(|| {
                ProviderError::Unsupported(format!(
                    "data source {type_name} is not supported by the {} provider",
                    self.kind.name()
                ))
            })?;
        let (config, _) = config.clone().deep_unmark();
        let filled = plan_with_schema(schema, None, &config).planned;
        self.kind.read_data(type_name, &filled).await
    }

    async fn find_created(
        &self,
        _type_name: &str,
        _token: &str,
        _ctx: &ResourceContext,
    ) -> Result<Option<Value>, ProviderError> {
        // Nothing to find: a repeated create writes the same object again.
        Ok(None)
    }

    async fn list_owned(
        &self,
        _type_name: &str,
        _environment: &str,
    ) -> Result<Vec<Value>, ProviderError> {
        Ok(Vec::new())
    }

    fn api_calls(&self) -> Vec<(String, u64)> {
        Vec::new()
    }

    fn has_remote_objects(&self) -> bool {
        self.kind.has_remote_objects()
    }
}
