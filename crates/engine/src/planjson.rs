//! The Terraform plan JSON shape (`plan --json`, `show -json FILE`), so
//! policy tools (checkov, conftest/OPA) run unchanged.
//!
//! Redaction: a sensitive value is written as `null` in `before`/`after`/
//! `planned_values`, and marked `true` in `before_sensitive`/
//! `after_sensitive`/`sensitive_values` — no secret reaches the document.
//! Unknown values are omitted and marked in `after_unknown`.
//!
//! `configuration` is the one the plan carries ([`Plan::configuration`],
//! written by [`terrace_lang::configuration_json`] when planning).

use crate::model::{Action, Plan, ResourceChange};
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;
use terrace_core::{InstanceKey, ResourceMode, Value};

/// The provider's registry name, as Terraform writes it.
pub use terrace_lang::provider_full_name as provider_name;

/// Known, non-sensitive JSON of a value: sensitive → null, unknown → omitted.
fn visible(v: &Value) -> Json {
    match v {
        Value::Sensitive(_) | Value::Unknown => Json::Null,
        Value::List(xs) | Value::Set(xs) => Json::Array(xs.iter().map(visible).collect()),
        Value::Map(m) => Json::Object(
            m.iter()
                .filter(|(_, x)| !matches!(x, Value::Unknown))
                .map(|(k, x)| (k.clone(), visible(x)))
                .collect(),
        ),
        other => other.to_json_lossy(),
    }
}

fn mode_str(m: ResourceMode) -> &'static str {
    match m {
        ResourceMode::Managed => "managed",
        ResourceMode::Data => "data",
    }
}

fn index_json(k: &Option<InstanceKey>) -> Option<Json> {
    k.as_ref().map(|k| match k {
        InstanceKey::Int(i) => json!(i),
        InstanceKey::Str(s) => json!(s),
    })
}

fn change_json(c: &ResourceChange) -> Json {
    let before = c.before.as_ref().map(visible).unwrap_or(Json::Null);
    let after = c.after.as_ref().map(visible).unwrap_or(Json::Null);
    let after_unknown = c
        .after
        .as_ref()
        .map(Value::unknown_mask)
        .unwrap_or(json!(false));
    let after_unknown = if after_unknown == json!(false) {
        json!({})
    } else {
        after_unknown
    };
    let before_sensitive = c
        .before
        .as_ref()
        .map(Value::sensitive_mask)
        .unwrap_or(json!(false));
    let after_sensitive = c
        .after
        .as_ref()
        .map(Value::sensitive_mask)
        .unwrap_or(json!(false));
    let mut change = json!({
        "actions": c.action.terraform_actions(),
        "before": before,
        "after": after,
        "after_unknown": after_unknown,
        "before_sensitive": before_sensitive,
        "after_sensitive": after_sensitive,
    });
    if !c.replace_paths.is_empty() {
        change["replace_paths"] = json!(c.replace_paths);
    }
    if let Some(id) = &c.import_id {
        change["importing"] = json!({ "id": id });
    }
    let mut rc = json!({
        "address": c.addr.to_string(),
        "mode": mode_str(c.addr.mode),
        "type": c.addr.type_name,
        "name": c.addr.name,
        "provider_name": provider_name(&c.provider),
        "change": change,
    });
    if !c.addr.module.is_root() {
        rc["module_address"] = json!(c.addr.module.to_string());
    }
    if let Some(i) = index_json(&c.addr.key) {
        rc["index"] = i;
    }
    if let Some(r) = &c.reason {
        rc["action_reason"] = json!(r);
    }
    if let Some(m) = &c.moved_from {
        rc["previous_address"] = json!(m);
    }
    rc
}

fn resource_values(addr: &terrace_core::ResourceAddr, provider: &str, v: &Value) -> Json {
    let mut r = json!({
        "address": addr.to_string(),
        "mode": mode_str(addr.mode),
        "type": addr.type_name,
        "name": addr.name,
        "provider_name": provider_name(provider),
        "schema_version": 0,
        "values": visible(v),
        "sensitive_values": match v.sensitive_mask() { Json::Bool(false) => json!({}), m => m },
    });
    if let Some(i) = index_json(&addr.key) {
        r["index"] = i;
    }
    r
}

/// Build a module tree `{resources, child_modules}` from (module, resource) pairs.
fn module_tree(items: Vec<(String, Json)>) -> Json {
    let mut by_module: BTreeMap<String, Vec<Json>> = BTreeMap::new();
    for (m, r) in items {
        by_module.entry(m).or_default().push(r);
    }
    fn build(path: &str, by_module: &BTreeMap<String, Vec<Json>>) -> Json {
        let mut out = Map::new();
        if !path.is_empty() {
            out.insert("address".into(), json!(path));
        }
        out.insert(
            "resources".into(),
            json!(by_module.get(path).cloned().unwrap_or_default()),
        );
        let children: Vec<&String> = by_module
            .keys()
            .filter(|k| {
                let rest = if path.is_empty() {
                    Some(k.as_str())
                } else {
                    k.strip_prefix(&format!("{path}."))
                };
                rest.is_some_and(|r| {
                    !r.is_empty()
                        && r.starts_with("module.")
                        && !r["module.".len()..].contains(".module.")
                })
            })
            .collect();
        if !children.is_empty() {
            out.insert(
                "child_modules".into(),
                Json::Array(children.into_iter().map(|c| build(c, by_module)).collect()),
            );
        }
        Json::Object(out)
    }
    // Ensure every ancestor module exists so the tree links up.
    let keys: Vec<String> = by_module.keys().cloned().collect();
    for k in keys {
        let mut parts: Vec<&str> = Vec::new();
        for seg in k.split(".module.") {
            parts.push(seg);
            let anc = parts.join(".module.");
            by_module.entry(anc).or_default();
        }
    }
    build("", &by_module)
}

/// The plan as Terraform's JSON plan document.
pub fn plan_json(plan: &Plan, prior_state: Option<&terrace_state::State>) -> Json {
    let mut planned = Vec::new();
    for c in &plan.changes {
        if matches!(c.action, Action::Delete) {
            continue;
        }
        if let Some(after) = &c.after {
            planned.push((
                c.addr.module.to_string(),
                resource_values(&c.addr, &c.provider, after),
            ));
        }
    }
    let outputs: Map<String, Json> = plan
        .outputs
        .iter()
        .filter(|(_, o)| o.action != Action::Delete)
        .map(|(k, o)| {
            let v = o.after.as_ref().map(visible).unwrap_or(Json::Null);
            (k.clone(), json!({ "sensitive": o.sensitive, "value": if o.sensitive { Json::Null } else { v } }))
        })
        .collect();
    let output_changes: Map<String, Json> = plan
        .outputs
        .iter()
        .map(|(k, o)| {
            let redact = |v: &Option<Value>| -> Json {
                if o.sensitive {
                    Json::Null
                } else {
                    v.as_ref().map(visible).unwrap_or(Json::Null)
                }
            };
            (
                k.clone(),
                json!({
                    "actions": o.action.terraform_actions(),
                    "before": redact(&o.before),
                    "after": redact(&o.after),
                    "after_unknown": o.after.as_ref().is_some_and(|v| !v.is_wholly_known()),
                    "before_sensitive": o.sensitive,
                    "after_sensitive": o.sensitive,
                }),
            )
        })
        .collect();
    let drift: Vec<Json> = plan
        .drift
        .iter()
        .map(|d| {
            let rc = ResourceChange {
                addr: d.addr.clone(),
                provider: d.provider.clone(),
                action: if d.after.is_some() {
                    Action::Update
                } else {
                    Action::Delete
                },
                before: Some(d.before.clone()),
                after: d.after.clone(),
                replace_paths: vec![],
                reason: None,
                dependencies: vec![],
                import_id: None,
                moved_from: None,
            };
            change_json(&rc)
        })
        .collect();
    let variables: Map<String, Json> = plan
        .variables
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                json!({ "value": if v.contains_sensitive() { Json::Null } else { visible(v) } }),
            )
        })
        .collect();
    let mut doc = json!({
        "format_version": "1.2",
        "terraform_version": format!("terrace-{}", env!("CARGO_PKG_VERSION")),
        "variables": variables,
        "planned_values": { "outputs": outputs, "root_module": module_tree(planned) },
        "resource_drift": drift,
        "resource_changes": plan.changes.iter().map(change_json).collect::<Vec<_>>(),
        "output_changes": output_changes,
        "configuration": plan
            .configuration
            .clone()
            .unwrap_or_else(|| json!({ "root_module": {} })),
        "relevant_attributes": [],
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "errored": false,
        "terrace": { "environment": plan.environment, "mode": plan.mode },
    });
    if let Some(s) = prior_state {
        let items: Vec<(String, Json)> = s
            .resources
            .iter()
            .filter_map(|r| {
                let addr: terrace_core::ResourceAddr = r.address.parse().ok()?;
                let v = crate::values::state_value(r);
                Some((
                    addr.module.to_string(),
                    resource_values(&addr, &r.provider, &v),
                ))
            })
            .collect();
        doc["prior_state"] = json!({
            "format_version": "1.0",
            "terraform_version": format!("terrace-{}", env!("CARGO_PKG_VERSION")),
            "values": { "root_module": module_tree(items) },
        });
    }
    doc
}

/// A state as Terraform's JSON state representation (`show -json` without
/// a plan file): `values.outputs` and `values.root_module` with its
/// `resources` and `child_modules`. Redacted like the plan document:
/// sensitive values are `null` here and marked in `sensitive_values`.
pub fn state_json(state: Option<&terrace_state::State>) -> Json {
    let version = format!("terrace-{}", env!("CARGO_PKG_VERSION"));
    // Terraform prints only the format version for an empty state.
    let Some(s) = state.filter(|s| !s.resources.is_empty() || !s.outputs.is_empty()) else {
        return json!({ "format_version": "1.0" });
    };
    let items: Vec<(String, Json)> = s
        .resources
        .iter()
        .filter_map(|r| {
            let addr: terrace_core::ResourceAddr = r.address.parse().ok()?;
            let v = crate::values::state_value(r);
            let mut j = resource_values(&addr, &r.provider, &v);
            j["schema_version"] = json!(r.schema_version);
            if !r.dependencies.is_empty() {
                j["depends_on"] = json!(r.dependencies);
            }
            Some((addr.module.to_string(), j))
        })
        .collect();
    let outputs: Map<String, Json> = s
        .outputs
        .iter()
        .map(|(k, o)| {
            let mut j = json!({ "sensitive": o.sensitive, "type": json_type(&o.value) });
            if !o.sensitive {
                j["value"] = o.value.clone();
            }
            (k.clone(), j)
        })
        .collect();
    json!({
        "format_version": "1.0",
        "terraform_version": version,
        "values": { "outputs": outputs, "root_module": module_tree(items) },
    })
}

/// A JSON value's type in Terraform's type notation (`"string"`,
/// `["list","string"]`, `["object",{…}]`), as `show -json` prints it for
/// outputs.
fn json_type(v: &Json) -> Json {
    match v {
        Json::Null => json!("dynamic"),
        Json::Bool(_) => json!("bool"),
        Json::Number(_) => json!("number"),
        Json::String(_) => json!("string"),
        Json::Array(xs) => json!(["tuple", xs.iter().map(json_type).collect::<Vec<_>>()]),
        Json::Object(m) => json!([
            "object",
            m.iter()
                .map(|(k, x)| (k.clone(), json_type(x)))
                .collect::<Map<String, Json>>()
        ]),
    }
}
