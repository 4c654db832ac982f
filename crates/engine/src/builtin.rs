//! The built-in `terraform` provider: the `terraform_data` resource.
//!
//! `terraform_data` stores `input` in state and mirrors it as `output`
//! (unknown at plan whenever `input` changes, as in Terraform); any change
//! of `triggers_replace` replaces it. It has no remote object, so it
//! never drifts, needs no credentials, and cannot be imported.

use async_trait::async_trait;
use std::sync::{Arc, OnceLock};
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, Provider, ProviderError, ProviderFactory,
    ProviderSchema, ResourceContext, Schema, plan_with_schema,
};

fn schema() -> &'static ProviderSchema {
    static SCHEMA: OnceLock<ProviderSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut s = ProviderSchema::default();
        s.resources.insert(
            "terraform_data".to_string(),
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("input", Attribute::optional(AttrType::Any))
                .attr("output", Attribute::computed(AttrType::Any))
                .attr(
                    "triggers_replace",
                    Attribute::optional(AttrType::Any).force_new(),
                ),
        );
        s
    })
}

/// Factory for the built-in provider (local name `terraform`).
#[derive(Debug, Default)]
pub struct BuiltinFactory;

#[async_trait]
impl ProviderFactory for BuiltinFactory {
    fn name(&self) -> &str {
        "terraform"
    }

    fn schema(&self) -> &ProviderSchema {
        schema()
    }

    async fn configure(
        &self,
        _config: &Value,
        _environment: &str,
    ) -> Result<Arc<dyn Provider>, ProviderError> {
        Ok(Arc::new(BuiltinProvider))
    }
}

/// The configured built-in provider.
#[derive(Debug)]
pub struct BuiltinProvider;

#[async_trait]
impl Provider for BuiltinProvider {
    fn schema(&self) -> &ProviderSchema {
        schema()
    }

    fn plan_resource(
        &self,
        type_name: &str,
        prior: Option<&Value>,
        config: &Value,
        _ctx: &ResourceContext,
    ) -> Result<PlannedResource, ProviderError> {
        let schema = self.schema().resources.get(type_name).ok_or_else(|| {
            ProviderError::Unsupported(format!("resource type {type_name} is not supported"))
        })?;
        let mut planned = plan_with_schema(schema, prior, config);
        // `output` is set from `input` at apply, as Terraform's provider
        // plans it: null when `input` is null, the prior output while
        // `input` is unchanged, otherwise unknown until apply (so
        // `count = length(terraform_data.x.output)` cannot be planned).
        let input = planned.planned.get("input").cloned().unwrap_or(Value::Null);
        let prior_input = prior.and_then(|p| p.get("input"));
        let unchanged = prior_input.is_some_and(|p| {
            p.clone().deep_unmark().0.to_json_lossy()
                == input.clone().deep_unmark().0.to_json_lossy()
        }) && input.is_wholly_known();
        let output = if input.is_null() {
            Value::Null
        } else if unchanged && planned.requires_replace.is_empty() {
            prior
                .and_then(|p| p.get("output"))
                .cloned()
                .unwrap_or(input)
        } else {
            Value::Unknown
        };
        if let Some(m) = planned.planned.as_map_mut() {
            m.insert("output".to_string(), output);
        }
        Ok(planned)
    }

    async fn read_resources(
        &self,
        _type_name: &str,
        prior: &[Value],
    ) -> Result<Vec<Option<Value>>, ProviderError> {
        Ok(prior.iter().cloned().map(Some).collect())
    }

    async fn create(
        &self,
        _type_name: &str,
        planned: &Value,
        ctx: &CreateContext,
    ) -> Result<Value, ProviderError> {
        let mut v = planned.clone();
        if let Some(m) = v.as_map_mut() {
            // Derived from the idempotency token, so a repeated create after a
            // crash yields the same object.
            m.insert(
                "id".to_string(),
                Value::string(ctx.idempotency_token.clone()),
            );
            let input = m.get("input").cloned().unwrap_or(Value::Null);
            m.insert("output".to_string(), input);
        }
        Ok(v)
    }

    async fn update(
        &self,
        _type_name: &str,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value, ProviderError> {
        let mut v = planned.clone();
        if let Some(m) = v.as_map_mut() {
            m.insert(
                "id".to_string(),
                prior.get("id").cloned().unwrap_or(Value::Null),
            );
            let input = m.get("input").cloned().unwrap_or(Value::Null);
            m.insert("output".to_string(), input);
        }
        Ok(v)
    }

    async fn delete(&self, _type_name: &str, _prior: &Value) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn import(&self, type_name: &str, _id: &str) -> Result<Option<Value>, ProviderError> {
        Err(ProviderError::Unsupported(format!(
            "{type_name} has no remote object to import; declare it and let apply create it"
        )))
    }

    async fn read_data(&self, type_name: &str, _config: &Value) -> Result<Value, ProviderError> {
        Err(ProviderError::Unsupported(format!(
            "data source {type_name} is not supported"
        )))
    }

    async fn find_created(
        &self,
        _type_name: &str,
        _token: &str,
        _ctx: &ResourceContext,
    ) -> Result<Option<Value>, ProviderError> {
        // Nothing exists outside state: an interrupted create left nothing behind.
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
        false
    }
}
