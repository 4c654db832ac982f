//! hashicorp/null: `null_resource` (any change of `triggers` replaces it) and
//! the data source `null_data_source` (`outputs` mirrors `inputs`).

use crate::Kind;
use crate::util::set;
use async_trait::async_trait;
use rand::Rng;
use std::sync::OnceLock;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, CreateContext, ProviderError, ProviderSchema, Schema};

fn schema() -> &'static ProviderSchema {
    static S: OnceLock<ProviderSchema> = OnceLock::new();
    S.get_or_init(|| {
        let mut s = ProviderSchema::default();
        s.resources.insert(
            "null_resource".into(),
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr(
                    "triggers",
                    Attribute::optional(AttrType::map_of(AttrType::String)).force_new(),
                ),
        );
        s.data_sources.insert(
            "null_data_source".into(),
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr(
                    "inputs",
                    Attribute::optional(AttrType::map_of(AttrType::String)),
                )
                .attr(
                    "outputs",
                    Attribute::computed(AttrType::map_of(AttrType::String)),
                )
                .attr("random", Attribute::computed(AttrType::String))
                .attr(
                    "has_computed_default",
                    Attribute::optional_computed(AttrType::String),
                ),
        );
        s
    })
}

pub struct Null;

#[async_trait]
impl Kind for Null {
    fn name(&self) -> &'static str {
        "null"
    }

    fn schema(&self) -> &ProviderSchema {
        schema()
    }

    async fn create(
        &self,
        type_name: &str,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value, ProviderError> {
        if type_name != "null_resource" {
            return Err(crate::unsupported_resource("null", type_name));
        }
        let mut v = planned.clone();
        // Upstream's ID is a random non-negative integer.
        let id: u64 = rand::thread_rng().gen_range(0..(i64::MAX as u64));
        set(&mut v, "id", id.to_string());
        Ok(v)
    }

    async fn read_data(&self, _type_name: &str, config: &Value) -> Result<Value, ProviderError> {
        let mut v = config.clone();
        let inputs = config.get("inputs").cloned().unwrap_or(Value::Null);
        set(&mut v, "outputs", inputs);
        let r: u64 = rand::thread_rng().gen_range(0..(i64::MAX as u64));
        set(&mut v, "random", r.to_string());
        if v.get("has_computed_default")
            .is_none_or(|x| !x.is_wholly_known() || x.is_null())
        {
            set(&mut v, "has_computed_default", "default");
        }
        set(&mut v, "id", "static");
        Ok(v)
    }
}
