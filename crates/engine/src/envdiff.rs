//! `terrace env diff A B`: how two environments' resolved configurations
//! differ, resource instance by resource instance — the parity report
//! between stage and prod. Each environment is planned without refreshing
//! (its configuration evaluated against its own state, no change made);
//! the planned objects are compared on the arguments a configuration can
//! set (computed-only attributes such as IDs and ARNs are left out), and
//! the root variables are compared too. A string that differs only by the
//! environment's name (`acme-stage-logs` / `acme-prod-logs`) counts as
//! equal.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use terrace_core::{ResourceMode, Value};
use terrace_provider::AttrMode;

use crate::context::{Engine, LoadOptions, Providers};
use crate::error::EngineError;
use crate::model::{Action, Plan};
use crate::ops::EnvTarget;
use crate::plan::PlanOptions;

/// One value that differs: its name and the two sides (as text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ValueDiff {
    pub name: String,
    /// `None`: absent on that side.
    pub a: Option<String>,
    pub b: Option<String>,
}

/// One resource instance that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResourceDiff {
    pub address: String,
    /// `changed`, `only_in_a` or `only_in_b`.
    pub kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<ValueDiff>,
}

/// The whole report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EnvDiff {
    pub a: String,
    pub b: String,
    pub variables: Vec<ValueDiff>,
    pub resources: Vec<ResourceDiff>,
    /// Instances present in both with the same configuration.
    pub identical: usize,
}

impl EnvDiff {
    pub fn is_empty(&self) -> bool {
        self.variables.is_empty() && self.resources.is_empty()
    }
}

/// How a value is shown: JSON, `(known after apply)`, `(sensitive value)`.
pub fn show(v: &Value) -> String {
    match v {
        Value::Unknown => "(known after apply)".into(),
        Value::Sensitive(_) => "(sensitive value)".into(),
        v if v.contains_sensitive() => "(sensitive value)".into(),
        v => v.to_json_lossy().to_string(),
    }
}

/// `v` with every occurrence of `env` in strings replaced by a marker, so
/// names derived from the environment compare equal.
fn normalise(v: &Value, env: &str) -> Value {
    match v {
        Value::String(s) if !env.is_empty() => Value::string(s.replace(env, "${env}")),
        Value::List(xs) => Value::List(xs.iter().map(|x| normalise(x, env)).collect()),
        Value::Set(xs) => Value::Set(xs.iter().map(|x| normalise(x, env)).collect()),
        Value::Map(m) => Value::Map(
            m.iter()
                .map(|(k, x)| (k.replace(env, "${env}"), normalise(x, env)))
                .collect(),
        ),
        Value::Sensitive(x) => Value::Sensitive(Box::new(normalise(x, env))),
        other => other.clone(),
    }
}

/// The configurable part of each planned instance: address → (argument → value).
fn configured(plan: &Plan, providers: &Providers) -> BTreeMap<String, BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for c in &plan.changes {
        if c.addr.mode != ResourceMode::Managed || matches!(c.action, Action::Delete) {
            continue;
        }
        let Some(Value::Map(after)) = c.after.as_ref().map(Value::unmarked) else {
            continue;
        };
        let schema = providers
            .get(&c.provider)
            .and_then(|p| p.schema().resources.get(&c.addr.type_name).cloned());
        let keep = |name: &str| match &schema {
            Some(s) => match s.attributes.get(name) {
                Some(a) => a.mode != AttrMode::Computed && name != "tags_all",
                None => s.blocks.contains_key(name),
            },
            None => !matches!(name, "id" | "arn" | "tags_all"),
        };
        let args = after
            .iter()
            .filter(|(k, _)| keep(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.insert(c.address(), args);
    }
    out
}

/// Compare two maps of named values; names only on one side show as absent.
fn compare(
    a: &BTreeMap<String, Value>,
    b: &BTreeMap<String, Value>,
    a_env: &str,
    b_env: &str,
) -> Vec<ValueDiff> {
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = Vec::new();
    for n in names {
        let (x, y) = (a.get(n), b.get(n));
        let same = match (x, y) {
            (Some(x), Some(y)) => {
                let (x, y) = (normalise(x, a_env), normalise(y, b_env));
                // Two unknowns cannot be told apart before apply.
                x == y || (matches!(x, Value::Unknown) && matches!(y, Value::Unknown))
            }
            (None, Some(v)) | (Some(v), None) => matches!(v, Value::Null),
            (None, None) => true,
        };
        if !same {
            out.push(ValueDiff {
                name: n.clone(),
                a: x.map(show),
                b: y.map(show),
            });
        }
    }
    out
}

/// Compare two planned environments.
pub fn diff_plans(a: (&Plan, &Providers), b: (&Plan, &Providers)) -> EnvDiff {
    let (a_name, b_name) = (a.0.environment.as_str(), b.0.environment.as_str());
    let ra = configured(a.0, a.1);
    let rb = configured(b.0, b.1);
    let mut d = EnvDiff {
        a: a_name.to_string(),
        b: b_name.to_string(),
        variables: compare(&a.0.variables, &b.0.variables, a_name, b_name),
        ..Default::default()
    };
    let addrs: BTreeSet<&String> = ra.keys().chain(rb.keys()).collect();
    for addr in addrs {
        match (ra.get(addr), rb.get(addr)) {
            (Some(x), Some(y)) => {
                let attrs = compare(x, y, a_name, b_name);
                if attrs.is_empty() {
                    d.identical += 1;
                } else {
                    d.resources.push(ResourceDiff {
                        address: addr.clone(),
                        kind: "changed".into(),
                        attributes: attrs,
                    });
                }
            }
            (Some(_), None) => d.resources.push(ResourceDiff {
                address: addr.clone(),
                kind: "only_in_a".into(),
                attributes: vec![],
            }),
            (None, _) => d.resources.push(ResourceDiff {
                address: addr.clone(),
                kind: "only_in_b".into(),
                attributes: vec![],
            }),
        }
    }
    d
}

/// Plan both environments without refreshing and compare them.
pub async fn diff_envs(
    engine: &Engine,
    a: &EnvTarget,
    b: &EnvTarget,
) -> Result<EnvDiff, EngineError> {
    let opts = PlanOptions {
        refresh: false,
        ..Default::default()
    };
    let load = || LoadOptions {
        vars: Default::default(),
        fixed_variables: None,
    };
    let (_, pa, prov_a) = crate::ops::plan(engine, a, &load(), &opts).await?;
    let (_, pb, prov_b) = crate::ops::plan(engine, b, &load(), &opts).await?;
    Ok(diff_plans((&pa, &prov_a), (&pb, &prov_b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(xs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        xs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn names_derived_from_the_environment_are_equal() {
        let s = |x: &str| Value::string(x);
        let a = m(&[
            ("bucket", s("acme-stage-logs")),
            ("instance_type", s("t3.small")),
            ("token", Value::Sensitive(Box::new(s("x")))),
            ("ami", Value::Unknown),
            ("extra", Value::Null),
        ]);
        let b = m(&[
            ("bucket", s("acme-prod-logs")),
            ("instance_type", s("t3.large")),
            ("token", Value::Sensitive(Box::new(s("y")))),
            ("ami", Value::Unknown),
        ]);
        let d = compare(&a, &b, "stage", "prod");
        assert_eq!(
            d,
            vec![
                ValueDiff {
                    name: "instance_type".into(),
                    a: Some("\"t3.small\"".into()),
                    b: Some("\"t3.large\"".into()),
                },
                ValueDiff {
                    name: "token".into(),
                    a: Some("(sensitive value)".into()),
                    b: Some("(sensitive value)".into()),
                },
            ]
        );
    }
}
