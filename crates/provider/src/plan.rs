//! The generic, schema-driven planner.
//!
//! Given the prior object (or none, for a create) and the configuration
//! object, compute the planned object and the paths whose change forces
//! replacement. Providers call this and then adjust type-specific details.

use crate::schema::{AttrMode, AttrType, BlockType, Nesting, Schema};
use std::collections::BTreeMap;
use terrace_core::{PathStep, Value, ValuePath};

/// The result of planning one resource instance.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedResource {
    /// The object as it will be after apply; `Value::Unknown` where only the
    /// API can tell.
    pub planned: Value,
    /// Changed paths that force replacement (empty: update in place or no-op).
    pub requires_replace: Vec<ValuePath>,
}

/// Convert a configuration value to an attribute type where HCL's implicit
/// conversions allow ("8" → 8, 8 → "8", "true" → true, list ↔ set). Values
/// that cannot be converted are returned unchanged; validation reports them.
pub fn convert_to_type(v: &Value, ty: &AttrType) -> Value {
    let (inner, sensitive) = v.clone().into_unmarked();
    let out = match (ty, inner) {
        (_, Value::Null) => Value::Null,
        (_, Value::Unknown) => Value::Unknown,
        (AttrType::String, Value::Number(n)) => Value::string(n.to_string()),
        (AttrType::String, Value::Bool(b)) => Value::string(b.to_string()),
        (AttrType::Number, Value::String(s)) => match terrace_core::Number::parse(s.trim()) {
            Some(n) => Value::Number(n),
            None => Value::string(s),
        },
        (AttrType::Bool, Value::String(s)) if s == "true" || s == "false" => {
            Value::Bool(s == "true")
        }
        (AttrType::List(t), Value::List(xs) | Value::Set(xs)) => {
            Value::List(xs.iter().map(|x| convert_to_type(x, t)).collect())
        }
        (AttrType::Set(t), Value::List(xs) | Value::Set(xs)) => {
            Value::set(xs.iter().map(|x| convert_to_type(x, t)).collect())
        }
        (AttrType::Map(t), Value::Map(m)) => Value::Map(
            m.iter()
                .map(|(k, x)| (k.clone(), convert_to_type(x, t)))
                .collect(),
        ),
        (_, other) => other,
    };
    out.mark_if(sensitive)
}

/// Plan one object against its schema.
pub fn plan_with_schema(schema: &Schema, prior: Option<&Value>, config: &Value) -> PlannedResource {
    let mut requires_replace = Vec::new();
    let planned = plan_object(
        schema,
        prior,
        config,
        &mut Vec::new(),
        &mut requires_replace,
    );
    if requires_replace.is_empty() || prior.is_none() {
        return PlannedResource {
            planned,
            requires_replace,
        };
    }
    // A replacement is a new object: everything only the API knows is unknown again.
    let fresh = plan_object(schema, None, config, &mut Vec::new(), &mut Vec::new());
    PlannedResource {
        planned: fresh,
        requires_replace,
    }
}

fn plan_object(
    schema: &Schema,
    prior: Option<&Value>,
    config: &Value,
    at: &mut ValuePath,
    replace: &mut Vec<ValuePath>,
) -> Value {
    let mut out = BTreeMap::new();
    for (name, attr) in &schema.attributes {
        let cfg = config.get(name).cloned().unwrap_or(Value::Null);
        let cfg = convert_to_type(&cfg, &attr.ty);
        let old = prior.and_then(|p| p.get(name));
        let planned = match attr.mode {
            AttrMode::Computed => match old {
                Some(v) if !v.is_null() || prior.is_some() => v.clone(),
                _ => Value::Unknown,
            },
            // Left unset: an existing object keeps what the API chose (even
            // null); a new one gets the default or learns it at apply.
            AttrMode::OptionalComputed if cfg.is_null() => match (prior, old) {
                (Some(_), Some(v)) => v.clone(),
                _ => attr.default.clone().unwrap_or(Value::Unknown),
            },
            _ if cfg.is_null() => attr.default.clone().unwrap_or(Value::Null),
            _ => cfg,
        };
        let sensitive = attr.sensitive && !planned.is_null();
        let planned = planned.mark_if(sensitive);
        if attr.force_new
            && attr.mode != AttrMode::Computed
            && let Some(old) = old
            && prior.is_some()
            && !same_value(old, &planned)
        {
            at.push(PathStep::Key(name.clone()));
            replace.push(at.clone());
            at.pop();
        }
        out.insert(name.clone(), planned);
    }
    for (name, block) in &schema.blocks {
        let cfg_items: Vec<Value> = config
            .get(name)
            .and_then(Value::as_list)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        let old_items: Vec<Value> = prior
            .and_then(|p| p.get(name))
            .and_then(Value::as_list)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        at.push(PathStep::Key(name.clone()));
        let planned = plan_block(block, &old_items, &cfg_items, prior.is_some(), at, replace);
        at.pop();
        out.insert(name.clone(), planned);
    }
    Value::Map(out.into())
}

fn plan_block(
    block: &BlockType,
    old: &[Value],
    cfg: &[Value],
    has_prior: bool,
    at: &mut ValuePath,
    replace: &mut Vec<ValuePath>,
) -> Value {
    if block.computed && cfg.is_empty() {
        return if has_prior {
            match block.nesting {
                Nesting::List => Value::List(old.to_vec()),
                Nesting::Set => Value::set(old.to_vec()),
            }
        } else {
            Value::Unknown
        };
    }
    match block.nesting {
        Nesting::List => {
            let items: Vec<Value> = cfg
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    at.push(PathStep::Index(i));
                    let v = plan_object(
                        &block.schema,
                        old.get(i).filter(|_| has_prior),
                        c,
                        at,
                        replace,
                    );
                    at.pop();
                    v
                })
                .collect();
            // Adding or removing items of a block whose attributes force
            // replacement forces replacement too.
            if has_prior && old.len() != items.len() && block_forces_new(&block.schema) {
                replace.push(at.clone());
            }
            Value::List(items)
        }
        Nesting::Set => {
            // Set items have no identity: plan each against no prior, and
            // compare the whole set.
            let items: Vec<Value> = cfg
                .iter()
                .map(|c| plan_object(&block.schema, None, c, &mut Vec::new(), &mut Vec::new()))
                .collect();
            let planned = Value::set(items);
            if has_prior
                && block_forces_new(&block.schema)
                && !same_value(&Value::set(old.to_vec()), &planned)
            {
                replace.push(at.clone());
            }
            planned
        }
    }
}

fn block_forces_new(schema: &Schema) -> bool {
    schema
        .attributes
        .values()
        .any(|a| a.force_new && a.mode != AttrMode::Computed)
        || schema.blocks.values().any(|b| block_forces_new(&b.schema))
}

/// Equality that treats an unknown planned value as "may differ" and
/// ignores sensitive marks.
fn same_value(old: &Value, new: &Value) -> bool {
    if !new.is_wholly_known() {
        return false;
    }
    // Compare as JSON: a list read back from state equals the same set.
    old.to_json_lossy() == new.to_json_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Attribute;

    fn vpc() -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr(
                "cidr_block",
                Attribute::required(AttrType::String).force_new(),
            )
            .attr(
                "enable_dns_hostnames",
                Attribute::optional(AttrType::Bool).default(false),
            )
            .attr(
                "tags",
                Attribute::optional(AttrType::map_of(AttrType::String)),
            )
            .attr(
                "password",
                Attribute::optional(AttrType::String).sensitive(),
            )
    }

    #[test]
    fn create_marks_computed_unknown_and_applies_defaults() {
        let cfg = Value::map([("cidr_block", Value::from("10.0.0.0/16"))]);
        let p = plan_with_schema(&vpc(), None, &cfg);
        assert_eq!(p.planned.get("id"), Some(&Value::Unknown));
        assert_eq!(
            p.planned.get("enable_dns_hostnames"),
            Some(&Value::Bool(false))
        );
        assert_eq!(p.planned.get("tags"), Some(&Value::Null));
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn force_new_change_requires_replace_and_resets_computed() {
        let prior = Value::map([
            ("id", Value::from("vpc-1")),
            ("cidr_block", Value::from("10.0.0.0/16")),
            ("enable_dns_hostnames", Value::Bool(false)),
            ("tags", Value::Null),
            ("password", Value::Null),
        ]);
        let cfg = Value::map([("cidr_block", Value::from("10.1.0.0/16"))]);
        let p = plan_with_schema(&vpc(), Some(&prior), &cfg);
        assert_eq!(
            p.requires_replace,
            vec![vec![PathStep::Key("cidr_block".into())]]
        );
        assert_eq!(p.planned.get("id"), Some(&Value::Unknown));
    }

    #[test]
    fn unchanged_config_plans_prior() {
        let prior = Value::map([
            ("id", Value::from("vpc-1")),
            ("cidr_block", Value::from("10.0.0.0/16")),
            ("enable_dns_hostnames", Value::Bool(false)),
            ("tags", Value::Null),
            ("password", Value::Null),
        ]);
        let cfg = Value::map([("cidr_block", Value::from("10.0.0.0/16"))]);
        let p = plan_with_schema(&vpc(), Some(&prior), &cfg);
        assert_eq!(p.planned, prior);
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn optional_computed_keeps_a_null_prior_and_computed_blocks_keep_items() {
        let schema = Schema::new()
            .attr(
                "key_name",
                Attribute::optional_computed(AttrType::String).force_new(),
            )
            .list_block(
                "enc",
                0,
                1,
                Schema::new().attr("type", Attribute::optional(AttrType::String).force_new()),
            )
            .computed_block("enc");
        let prior = Value::map([
            ("key_name", Value::Null),
            (
                "enc",
                Value::List(vec![Value::map([("type", Value::from("AES256"))])]),
            ),
        ]);
        let p = plan_with_schema(&schema, Some(&prior), &Value::map::<&str>([]));
        assert!(p.requires_replace.is_empty(), "{:?}", p.requires_replace);
        assert_eq!(p.planned, prior);
        let fresh = plan_with_schema(&schema, None, &Value::map::<&str>([]));
        assert_eq!(fresh.planned.get("enc"), Some(&Value::Unknown));
        assert_eq!(fresh.planned.get("key_name"), Some(&Value::Unknown));
    }

    #[test]
    fn sensitive_attributes_are_marked_and_conversions_apply() {
        let cfg = Value::map([
            ("cidr_block", Value::from("10.0.0.0/16")),
            ("password", Value::from(42)),
        ]);
        let p = plan_with_schema(&vpc(), None, &cfg);
        let pw = p.planned.get("password").unwrap();
        assert!(pw.is_sensitive());
        assert_eq!(pw.unmarked(), &Value::from("42"));
    }
}
