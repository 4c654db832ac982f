//! Small helpers to read attributes out of, and build, `Value` objects.

use std::collections::BTreeMap;
use terrace_core::Value;
use terrace_provider::{Nesting, Schema};

/// A known, non-null string attribute.
pub(crate) fn get_str(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

pub(crate) fn get_bool(v: &Value, key: &str) -> Option<bool> {
    v.get(key).and_then(Value::as_bool)
}

pub(crate) fn get_i64(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

/// The strings of a list/set attribute (empty when null).
pub(crate) fn get_strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_list)
        .map(|xs| {
            xs.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A string map attribute (empty when null).
pub(crate) fn get_str_map(v: &Value, key: &str) -> BTreeMap<String, String> {
    v.get(key).map(value_to_str_map).unwrap_or_default()
}

pub(crate) fn value_to_str_map(v: &Value) -> BTreeMap<String, String> {
    v.as_map()
        .map(|m| {
            m.iter()
                .filter_map(|(k, x)| x.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The items of a nested block (empty when absent).
pub(crate) fn get_blocks<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_list).unwrap_or(&[])
}

/// The first item of a "single" block.
pub(crate) fn first_block<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    get_blocks(v, key).first()
}

pub(crate) fn opt_str(s: Option<&str>) -> Value {
    s.map(Value::from).unwrap_or(Value::Null)
}

pub(crate) fn str_set<I, S>(items: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Value::set(
        items
            .into_iter()
            .map(|s| Value::string(Into::<String>::into(s)))
            .collect(),
    )
}

pub(crate) fn str_list<I, S>(items: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Value::List(
        items
            .into_iter()
            .map(|s| Value::string(Into::<String>::into(s)))
            .collect(),
    )
}

pub(crate) fn str_map_value(m: &BTreeMap<String, String>) -> Value {
    Value::Map(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::string(v.clone())))
            .collect(),
    )
}

/// Builds an object holding every attribute of a schema: unset attributes
/// are `Null`, unset blocks empty lists/sets.
pub(crate) struct Obj {
    fields: BTreeMap<String, Value>,
}

impl Obj {
    pub(crate) fn new(schema: &Schema) -> Self {
        let mut fields: BTreeMap<String, Value> = schema
            .attributes
            .keys()
            .map(|k| (k.clone(), Value::Null))
            .collect();
        for (name, block) in &schema.blocks {
            let empty = match block.nesting {
                Nesting::List => Value::List(Vec::new()),
                Nesting::Set => Value::Set(Vec::new()),
            };
            fields.insert(name.clone(), empty);
        }
        Obj { fields }
    }

    pub(crate) fn set(mut self, key: &str, v: impl Into<Value>) -> Self {
        debug_assert!(
            self.fields.contains_key(key),
            "attribute {key} is not in the schema"
        );
        self.fields.insert(key.to_string(), v.into());
        self
    }

    pub(crate) fn set_opt_str(self, key: &str, v: Option<&str>) -> Self {
        self.set(key, opt_str(v))
    }

    /// Copy `keys` from `prior` (attributes the API cannot tell, such as
    /// `force_destroy`).
    pub(crate) fn keep(mut self, prior: Option<&Value>, keys: &[&str]) -> Self {
        for k in keys {
            if let Some(v) = prior.and_then(|p| p.get(k)) {
                self.fields.insert((*k).to_string(), v.clone());
            }
        }
        self
    }

    pub(crate) fn build(self) -> Value {
        Value::Map(self.fields.into())
    }
}

/// Canonical JSON text (object keys sorted), for semantic comparison of
/// policy documents. Invalid JSON is returned unchanged.
pub(crate) fn normalize_json(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => sort_json(&v).to_string(),
        Err(_) => text.to_string(),
    }
}

fn sort_json(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let sorted: BTreeMap<&String, serde_json::Value> =
                m.iter().map(|(k, x)| (k, sort_json(x))).collect();
            serde_json::Value::Object(sorted.into_iter().map(|(k, x)| (k.clone(), x)).collect())
        }
        serde_json::Value::Array(xs) => {
            serde_json::Value::Array(xs.iter().map(sort_json).collect())
        }
        other => other.clone(),
    }
}

/// True if two JSON documents are equal ignoring formatting and key order.
pub(crate) fn json_equivalent(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_comparison_ignores_order_and_spacing() {
        assert!(json_equivalent(
            r#"{"a":1,"b":[1,2]}"#,
            "{ \"b\": [1, 2],\n \"a\": 1 }"
        ));
        assert!(!json_equivalent(r#"{"a":1}"#, r#"{"a":2}"#));
        assert_eq!(
            normalize_json(r#"{"b":1,"a":{"d":1,"c":2}}"#),
            r#"{"a":{"c":2,"d":1},"b":1}"#
        );
    }
}
