//! Terraform/OpenTofu state files (format version 4) in and out.
//!
//! `from_tfstate` turns a `terraform.tfstate` into terrace's `State`: every
//! managed resource instance becomes one record keyed by its full address
//! (`module.a["x"].aws_vpc.main[0]`), attributes keyed by the same Terraform
//! attribute names (only those terrace's schema of the type has), sensitive
//! paths and dependencies kept; data sources are skipped (they are read again
//! by every plan). A file with a managed type terrace does not implement is
//! refused as a whole, naming each such type and its addresses.
//!
//! `to_tfstate` writes terrace's state in the same format, so Terraform and
//! OpenTofu can take over an environment.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use terrace_core::{InstanceKey, PathStep, ResourceAddr, ResourceMode};
use terrace_provider::Schema;
use terrace_state::{OutputState, ResourceState, State};

/// The state format version Terraform ≥ 0.12 and OpenTofu write.
pub const TFSTATE_VERSION: u64 = 4;

/// Why a Terraform state file cannot be pushed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TfStateError {
    #[error("{0}")]
    Invalid(String),
    /// Managed resources of types terrace does not implement, by type.
    #[error("{}", unsupported_message(.0))]
    Unsupported(BTreeMap<String, Vec<String>>),
}

fn unsupported_message(types: &BTreeMap<String, Vec<String>>) -> String {
    let mut s = format!(
        "the state holds {} resource type{} terrace does not support, so nothing was written:",
        types.len(),
        if types.len() == 1 { "" } else { "s" }
    );
    for (t, addrs) in types {
        s.push_str(&format!("\n  {t}: {}", addrs.join(", ")));
    }
    s.push_str(
        "\nRemove them from the Terraform state first (`terraform state rm ADDRESS`) and manage them elsewhere, then push again.",
    );
    s
}

/// Whether a parsed JSON document is a Terraform/OpenTofu state (it has
/// `version` and none of terrace's `format_version`).
pub fn is_tfstate(doc: &Json) -> bool {
    doc.get("version").is_some() && doc.get("format_version").is_none()
}

/// A provider address from state, e.g. `provider["registry.terraform.io/hashicorp/aws"].west`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TfProvider {
    /// `hashicorp`, or `builtin` for `terraform.io/builtin/terraform`.
    pub namespace: String,
    /// The provider type: `aws`, `random`, `terraform`.
    pub name: String,
    pub alias: Option<String>,
}

impl TfProvider {
    /// terrace's provider key: `aws` or `aws.west`.
    pub fn key(&self) -> String {
        match &self.alias {
            Some(a) => format!("{}.{a}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Parse the `provider` of a resource in state. Accepts the current form
/// (`provider["host/namespace/name"]`, optionally `.alias`, optionally after
/// a module path) and the 0.12 form (`provider.aws`, `provider.aws.west`).
pub fn parse_provider(s: &str) -> Option<TfProvider> {
    let at = s.find("provider[").or_else(|| s.find("provider."))?;
    let rest = &s[at + "provider".len()..];
    if let Some(inner) = rest.strip_prefix("[\"") {
        let end = inner.find("\"]")?;
        let source = &inner[..end];
        let after = &inner[end + 2..];
        let parts: Vec<&str> = source.split('/').collect();
        let (namespace, name) = match parts.as_slice() {
            [_, ns, n] | [ns, n] => (ns.to_string(), n.to_string()),
            [n] => ("hashicorp".to_string(), n.to_string()),
            _ => return None,
        };
        let alias = match after.strip_prefix('.') {
            Some(a) if !a.is_empty() => Some(a.to_string()),
            Some(_) => return None,
            None if after.is_empty() => None,
            None => return None,
        };
        Some(TfProvider {
            namespace,
            name,
            alias,
        })
    } else {
        let rest = rest.strip_prefix('.')?;
        let mut it = rest.splitn(2, '.');
        let name = it.next().filter(|n| !n.is_empty())?.to_string();
        Some(TfProvider {
            namespace: "hashicorp".into(),
            name,
            alias: it.next().map(str::to_string),
        })
    }
}

/// The `provider` string Terraform writes for terrace's provider key.
pub fn provider_string(key: &str) -> String {
    let (name, alias) = match key.split_once('.') {
        Some((n, a)) => (n, Some(a)),
        None => (key, None),
    };
    let source = if name == "terraform" {
        "terraform.io/builtin/terraform".to_string()
    } else {
        format!("registry.terraform.io/hashicorp/{name}")
    };
    match alias {
        Some(a) => format!("provider[\"{source}\"].{a}"),
        None => format!("provider[\"{source}\"]"),
    }
}

/// Convert a Terraform/OpenTofu state (already parsed) into terrace's.
/// `schema(provider, type)` answers the managed types terrace implements.
pub fn from_tfstate<'a>(
    doc: &Json,
    schema: &dyn Fn(&str, &str) -> Option<&'a Schema>,
) -> Result<State, TfStateError> {
    let invalid = |m: String| TfStateError::Invalid(m);
    let version = doc
        .get("version")
        .and_then(Json::as_u64)
        .ok_or_else(|| invalid("the file has no numeric \"version\"".into()))?;
    if version != TFSTATE_VERSION {
        return Err(invalid(format!(
            "this is a Terraform state of format version {version}; terrace reads version {TFSTATE_VERSION} (written by Terraform 0.12 and later and by OpenTofu). Run `terraform apply` or `terraform state push` with a current Terraform first to upgrade it"
        )));
    }
    let mut state = State::new();
    if let Some(l) = doc.get("lineage").and_then(Json::as_str)
        && let Ok(u) = uuid::Uuid::parse_str(l)
    {
        state.lineage = u;
    }
    state.serial = doc.get("serial").and_then(Json::as_u64).unwrap_or(0);
    if let Some(outs) = doc.get("outputs") {
        let outs = outs
            .as_object()
            .ok_or_else(|| invalid("\"outputs\" is not an object".into()))?;
        for (name, o) in outs {
            state.outputs.insert(
                name.clone(),
                OutputState {
                    value: o.get("value").cloned().unwrap_or(Json::Null),
                    sensitive: o.get("sensitive").and_then(Json::as_bool).unwrap_or(false),
                },
            );
        }
    }
    let none = Vec::new();
    let resources = match doc.get("resources") {
        None | Some(Json::Null) => &none,
        Some(Json::Array(rs)) => rs,
        Some(_) => return Err(invalid("\"resources\" is not a list".into())),
    };
    let mut unsupported: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let now = chrono::Utc::now();
    for (i, r) in resources.iter().enumerate() {
        let field = |k: &str| {
            r.get(k)
                .and_then(Json::as_str)
                .ok_or_else(|| invalid(format!("resources[{i}] has no string \"{k}\"")))
        };
        let mode = field("mode")?;
        let type_name = field("type")?;
        let name = field("name")?;
        let module = r.get("module").and_then(Json::as_str).unwrap_or("");
        let block = if module.is_empty() {
            format!("{type_name}.{name}")
        } else {
            format!("{module}.{type_name}.{name}")
        };
        let mut addr: ResourceAddr = block
            .parse()
            .map_err(|e| invalid(format!("resources[{i}]: {e}")))?;
        match mode {
            "data" => continue,
            "managed" => {}
            other => {
                return Err(invalid(format!(
                    "resources[{i}] ({block}) has mode {other:?}; expected \"managed\" or \"data\""
                )));
            }
        }
        addr.mode = ResourceMode::Managed;
        let pstr = field("provider")?;
        let provider = parse_provider(pstr).ok_or_else(|| {
            invalid(format!(
                "resources[{i}] ({block}) has provider {pstr:?}, which is not a provider address"
            ))
        })?;
        let known = matches!(provider.namespace.as_str(), "hashicorp" | "builtin");
        let schema = if known {
            schema(&provider.name, type_name)
        } else {
            None
        };
        let instances = r
            .get("instances")
            .and_then(Json::as_array)
            .ok_or_else(|| invalid(format!("resources[{i}] ({block}) has no \"instances\"")))?;
        for inst in instances {
            let key = match inst.get("index_key") {
                None | Some(Json::Null) => None,
                Some(Json::String(s)) => Some(InstanceKey::Str(s.clone())),
                Some(n @ Json::Number(_)) => {
                    Some(InstanceKey::Int(n.as_i64().ok_or_else(|| {
                        invalid(format!("{block} has an instance with index_key {n}"))
                    })?))
                }
                Some(other) => {
                    return Err(invalid(format!(
                        "{block} has an instance with index_key {other}; expected a number or a string"
                    )));
                }
            };
            let a = addr.clone().with_key(key);
            let Some(schema) = schema else {
                let t = if known {
                    type_name.to_string()
                } else {
                    format!("{type_name} (provider {pstr})")
                };
                unsupported.entry(t).or_default().push(a.to_string());
                continue;
            };
            if let Some(d) = inst.get("deposed").and_then(Json::as_str) {
                return Err(invalid(format!(
                    "{a} has a deposed object ({d}) left by an interrupted create_before_destroy replacement; run `terraform apply` to finish it, then pull the state again"
                )));
            }
            if inst.get("status").and_then(Json::as_str) == Some("tainted") {
                return Err(invalid(format!(
                    "{a} is tainted; replace it with Terraform (`terraform apply`) or `terraform untaint {a}` first"
                )));
            }
            let attrs = match inst.get("attributes") {
                Some(Json::Object(m)) => m,
                Some(_) => return Err(invalid(format!("{a}: \"attributes\" is not an object"))),
                None if inst.get("attributes_flat").is_some() => {
                    return Err(invalid(format!(
                        "{a} has flat attributes (a state written by Terraform 0.11); refresh it with a current Terraform first"
                    )));
                }
                None => return Err(invalid(format!("{a} has no \"attributes\""))),
            };
            let attributes: serde_json::Map<String, Json> = attrs
                .iter()
                .filter(|(k, _)| {
                    schema.attributes.contains_key(*k) || schema.blocks.contains_key(*k)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let sensitive_paths = match inst.get("sensitive_attributes") {
                None | Some(Json::Null) => vec![],
                Some(p) => parse_paths(p).map_err(|e| invalid(format!("{a}: {e}")))?,
            };
            let mut dependencies: Vec<String> = inst
                .get("dependencies")
                .and_then(Json::as_array)
                .map(|ds| {
                    ds.iter()
                        .filter_map(Json::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            dependencies.sort();
            dependencies.dedup();
            let address = a.to_string();
            if state.resource(&address).is_some() {
                return Err(invalid(format!("{address} appears twice in the state")));
            }
            state.set_resource(ResourceState {
                address,
                mode: "managed".into(),
                type_name: type_name.to_string(),
                provider: provider.key(),
                attributes: std::sync::Arc::new(Json::Object(attributes)),
                sensitive_paths,
                dependencies,
                schema_version: 0,
                created_at: now,
                updated_at: now,
            });
        }
    }
    if !unsupported.is_empty() {
        return Err(TfStateError::Unsupported(unsupported));
    }
    Ok(state)
}

/// `sensitive_attributes`: a list of paths, each a list of
/// `{"type":"get_attr","value":"name"}` or
/// `{"type":"index","value":{"value":0,"type":"number"}}` steps.
fn parse_paths(v: &Json) -> Result<Vec<Vec<PathStep>>, String> {
    let bad = || format!("\"sensitive_attributes\" is not a list of paths: {v}");
    let mut out = Vec::new();
    for path in v.as_array().ok_or_else(bad)? {
        let mut steps = Vec::new();
        for step in path.as_array().ok_or_else(bad)? {
            let kind = step.get("type").and_then(Json::as_str);
            let value = step.get("value");
            let s = match (kind, value) {
                (Some("get_attr"), Some(Json::String(n))) => PathStep::Key(n.clone()),
                (Some("index"), Some(k)) => match k.get("value") {
                    Some(Json::String(s)) => PathStep::Key(s.clone()),
                    Some(n @ Json::Number(_)) => {
                        PathStep::Index(n.as_u64().ok_or_else(bad)? as usize)
                    }
                    _ => return Err(bad()),
                },
                _ => return Err(bad()),
            };
            steps.push(s);
        }
        out.push(steps);
    }
    Ok(out)
}

/// Terraform's `sensitive_attributes` for terrace's paths: a first step and
/// a step into a list item's object are attribute names (`get_attr`); a key
/// under another key is a map key (`index` with a string).
fn paths_json(paths: &[Vec<PathStep>]) -> Json {
    Json::Array(
        paths
            .iter()
            .map(|p| {
                let mut prev_key = false;
                Json::Array(
                    p.iter()
                        .enumerate()
                        .map(|(i, s)| {
                            let j = match s {
                                PathStep::Key(k) if i == 0 || !prev_key => {
                                    json!({"type": "get_attr", "value": k})
                                }
                                PathStep::Key(k) => {
                                    json!({"type": "index", "value": {"value": k, "type": "string"}})
                                }
                                PathStep::Index(n) => {
                                    json!({"type": "index", "value": {"value": n, "type": "number"}})
                                }
                            };
                            prev_key = matches!(s, PathStep::Key(_));
                            j
                        })
                        .collect(),
                )
            })
            .collect(),
    )
}

/// The `schema_version` the HashiCorp provider gives a type (Terraform
/// upgrades a lower one and refuses a higher one, so when unsure: 0).
pub fn hashicorp_schema_version(type_name: &str) -> u64 {
    match type_name {
        "aws_vpc"
        | "aws_subnet"
        | "aws_security_group"
        | "aws_default_security_group"
        | "aws_instance" => 1,
        _ => 0,
    }
}

/// The cty type (as Terraform writes it in `outputs`) of a JSON value.
fn cty_type(v: &Json) -> Json {
    match v {
        Json::Null => json!("dynamic"),
        Json::Bool(_) => json!("bool"),
        Json::Number(_) => json!("number"),
        Json::String(_) => json!("string"),
        Json::Array(xs) => json!(["tuple", xs.iter().map(cty_type).collect::<Vec<_>>()]),
        Json::Object(m) => json!([
            "object",
            m.iter()
                .map(|(k, v)| (k.clone(), cty_type(v)))
                .collect::<serde_json::Map<_, _>>()
        ]),
    }
}

/// terrace's state as a Terraform/OpenTofu state of format version 4.
/// `terraform_version` is the Terraform language version terrace implements.
pub fn to_tfstate(state: &State, terraform_version: &str) -> Json {
    // Group instances by resource block (module, mode, type, name).
    type BlockKey = (String, String, String, String);
    let mut blocks: BTreeMap<BlockKey, (String, Vec<Json>)> = BTreeMap::new();
    for r in &state.resources {
        let Ok(addr) = r.address.parse::<ResourceAddr>() else {
            continue;
        };
        let mode = match addr.mode {
            ResourceMode::Managed => "managed",
            ResourceMode::Data => "data",
        };
        let key = (
            addr.module.to_string(),
            mode.to_string(),
            addr.type_name.clone(),
            addr.name.clone(),
        );
        let mut inst = serde_json::Map::new();
        match &addr.key {
            Some(InstanceKey::Int(i)) => {
                inst.insert("index_key".into(), json!(i));
            }
            Some(InstanceKey::Str(s)) => {
                inst.insert("index_key".into(), json!(s));
            }
            None => {}
        }
        let schema_version = if addr.mode == ResourceMode::Managed {
            hashicorp_schema_version(&addr.type_name)
        } else {
            0
        };
        inst.insert("schema_version".into(), json!(schema_version));
        inst.insert("attributes".into(), (*r.attributes).clone());
        inst.insert(
            "sensitive_attributes".into(),
            paths_json(&r.sensitive_paths),
        );
        if !r.dependencies.is_empty() {
            inst.insert("dependencies".into(), json!(r.dependencies));
        }
        blocks
            .entry(key)
            .or_insert_with(|| (provider_string(&r.provider), vec![]))
            .1
            .push(Json::Object(inst));
    }
    let resources: Vec<Json> = blocks
        .into_iter()
        .map(|((module, mode, type_name, name), (provider, instances))| {
            let mut m = serde_json::Map::new();
            if !module.is_empty() {
                m.insert("module".into(), json!(module));
            }
            m.insert("mode".into(), json!(mode));
            m.insert("type".into(), json!(type_name));
            m.insert("name".into(), json!(name));
            m.insert("provider".into(), json!(provider));
            m.insert("instances".into(), Json::Array(instances));
            Json::Object(m)
        })
        .collect();
    let outputs: serde_json::Map<String, Json> = state
        .outputs
        .iter()
        .map(|(k, o)| {
            let mut m = serde_json::Map::new();
            m.insert("value".into(), o.value.clone());
            m.insert("type".into(), cty_type(&o.value));
            if o.sensitive {
                m.insert("sensitive".into(), json!(true));
            }
            (k.clone(), Json::Object(m))
        })
        .collect();
    json!({
        "version": TFSTATE_VERSION,
        "terraform_version": terraform_version,
        "serial": state.serial,
        "lineage": state.lineage.to_string(),
        "outputs": outputs,
        "resources": resources,
        "check_results": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use terrace_provider::{AttrType, Attribute};

    fn vpc_schema() -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr("cidr_block", Attribute::optional(AttrType::String))
            .attr(
                "tags",
                Attribute::optional(AttrType::map_of(AttrType::String)),
            )
    }

    fn doc() -> Json {
        json!({
            "version": 4,
            "terraform_version": "1.9.5",
            "serial": 7,
            "lineage": "5b4d9d3e-8c1a-4bb3-9a3e-2a1f0c2b9e11",
            "outputs": {"vpc_id": {"value": "vpc-1", "type": "string"}},
            "resources": [
                {"mode": "data", "type": "aws_ami", "name": "x",
                 "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
                 "instances": [{"schema_version": 0, "attributes": {"id": "ami-1"}}]},
                {"module": "module.a[\"x\"].module.b", "mode": "managed", "type": "aws_vpc", "name": "main",
                 "provider": "provider[\"registry.terraform.io/hashicorp/aws\"].west",
                 "instances": [
                    {"index_key": 0, "schema_version": 1,
                     "attributes": {"id": "vpc-1", "cidr_block": "10.0.0.0/16", "ipv6_ipam_pool_id": null, "tags": {"k": "v"}},
                     "sensitive_attributes": [[{"type": "get_attr", "value": "tags"}, {"type": "index", "value": {"value": "k", "type": "string"}}]],
                     "dependencies": ["aws_vpc.other"]},
                    {"index_key": "two", "schema_version": 1, "attributes": {"id": "vpc-2"}}
                 ]}
            ]
        })
    }

    #[test]
    fn converts_modules_keys_providers_and_paths() {
        let s = vpc_schema();
        let lookup = |p: &str, t: &str| (p == "aws" && t == "aws_vpc").then_some(&s);
        let st = from_tfstate(&doc(), &lookup).unwrap();
        assert_eq!(st.serial, 7);
        assert_eq!(
            st.lineage.to_string(),
            "5b4d9d3e-8c1a-4bb3-9a3e-2a1f0c2b9e11"
        );
        let addrs: Vec<&str> = st.resources.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(
            addrs,
            [
                "module.a[\"x\"].module.b.aws_vpc.main[\"two\"]",
                "module.a[\"x\"].module.b.aws_vpc.main[0]",
            ]
        );
        let r = &st.resources[1];
        assert_eq!(r.provider, "aws.west");
        assert!(r.attributes.get("ipv6_ipam_pool_id").is_none());
        assert_eq!(r.attributes["cidr_block"], json!("10.0.0.0/16"));
        assert_eq!(
            r.sensitive_paths,
            vec![vec![
                PathStep::Key("tags".into()),
                PathStep::Key("k".into())
            ]]
        );
        assert_eq!(r.dependencies, vec!["aws_vpc.other".to_string()]);
        assert_eq!(st.outputs["vpc_id"].value, json!("vpc-1"));

        // And back: the same blocks, keys, provider and paths.
        let out = to_tfstate(&st, "1.9.0");
        assert_eq!(out["version"], json!(4));
        assert_eq!(out["serial"], json!(7));
        let res = out["resources"].as_array().unwrap();
        assert_eq!(res.len(), 1);
        assert_eq!(res[0]["module"], json!("module.a[\"x\"].module.b"));
        assert_eq!(
            res[0]["provider"],
            json!("provider[\"registry.terraform.io/hashicorp/aws\"].west")
        );
        assert_eq!(res[0]["instances"][1]["index_key"], json!(0));
        assert_eq!(res[0]["instances"][1]["schema_version"], json!(1));
        assert_eq!(
            res[0]["instances"][1]["sensitive_attributes"],
            json!([[{"type": "get_attr", "value": "tags"}, {"type": "index", "value": {"value": "k", "type": "string"}}]])
        );
        assert_eq!(out["outputs"]["vpc_id"]["type"], json!("string"));
        let again = from_tfstate(&out, &lookup).unwrap();
        assert_eq!(again.resources.len(), 2);
        assert_eq!(again.resources[1].attributes, st.resources[1].attributes);
    }

    #[test]
    fn unsupported_types_are_listed_with_addresses() {
        let mut d = doc();
        d["resources"].as_array_mut().unwrap().push(json!({
            "mode": "managed", "type": "google_storage_bucket", "name": "b",
            "provider": "provider[\"registry.terraform.io/hashicorp/google\"]",
            "instances": [{"schema_version": 0, "attributes": {"id": "b"}}]
        }));
        let s = vpc_schema();
        let lookup = |p: &str, t: &str| (p == "aws" && t == "aws_vpc").then_some(&s);
        let e = from_tfstate(&d, &lookup).unwrap_err();
        let TfStateError::Unsupported(m) = &e else {
            panic!("{e}")
        };
        assert_eq!(m.len(), 1);
        assert_eq!(m["google_storage_bucket"], vec!["google_storage_bucket.b"]);
        assert!(e.to_string().contains("nothing was written"), "{e}");
    }

    #[test]
    fn wrong_version_and_bad_shapes_are_clear_errors() {
        let s = vpc_schema();
        let lookup = |_: &str, _: &str| Some(&s);
        let e = from_tfstate(&json!({"version": 3, "modules": []}), &lookup).unwrap_err();
        assert!(e.to_string().contains("format version 3"), "{e}");
        let e = from_tfstate(&json!({"version": 4, "resources": {}}), &lookup).unwrap_err();
        assert!(e.to_string().contains("not a list"), "{e}");
        let mut d = doc();
        d["resources"][1]["instances"][0]["status"] = json!("tainted");
        let e = from_tfstate(&d, &lookup).unwrap_err();
        assert!(e.to_string().contains("tainted"), "{e}");
    }

    #[test]
    fn provider_addresses() {
        let p = parse_provider("provider[\"registry.terraform.io/hashicorp/aws\"]").unwrap();
        assert_eq!((p.name.as_str(), p.alias), ("aws", None));
        let p = parse_provider("module.x.provider.aws.east").unwrap();
        assert_eq!(p.key(), "aws.east");
        let p = parse_provider("provider[\"terraform.io/builtin/terraform\"]").unwrap();
        assert_eq!(
            (p.namespace.as_str(), p.name.as_str()),
            ("builtin", "terraform")
        );
        assert!(parse_provider("aws").is_none());
        assert_eq!(
            provider_string("terraform"),
            "provider[\"terraform.io/builtin/terraform\"]"
        );
        assert_eq!(
            provider_string("random.b"),
            "provider[\"registry.terraform.io/hashicorp/random\"].b"
        );
    }
}
