//! `data "aws_iam_policy_document"`: an IAM policy rendered locally, with
//! no API call, to the same JSON text the Terraform AWS provider renders.
//!
//! The provider's rendering rules, kept here on purpose:
//! - keys in the order `Version`, `Id`, `Statement`, and per statement `Sid`,
//!   `Effect`, `Action`, `NotAction`, `Resource`, `NotResource`, `Principal`,
//!   `NotPrincipal`, `Condition`; empty ones are left out;
//! - a configured list of one value renders as that string; longer lists
//!   are sorted in reverse (the provider's set order), condition values too;
//! - `&{…}` becomes `${…}` in resources, principals and condition values
//!   (version `2012-10-17`; an error in `2008-10-17`);
//! - a principal of type `*` renders `"Principal": "*"`; principals and
//!   conditions are maps with sorted keys, same-type blocks merged;
//! - `source_policy_documents` first, then the statements, then each of
//!   `override_policy_documents`: a statement whose `Sid` is already there
//!   replaces it, others append;
//! - `json` is indented by two spaces, `<`, `>` and `&` are escaped as Go's
//!   encoder does, and `id` is the CRC-32 of `json`.

use super::DataSourceType;
use crate::Result;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::values::{get_blocks, get_str, get_strings};
use async_trait::async_trait;
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use terrace_core::{PathStep, Value};
use terrace_provider::{AttrType, Attribute, ProviderError, Schema};

pub(crate) struct PolicyDocument;

const VERSION_2012: &str = "2012-10-17";
const VERSION_2008: &str = "2008-10-17";

#[async_trait]
impl DataSourceType for PolicyDocument {
    fn name(&self) -> &'static str {
        "aws_iam_policy_document"
    }

    fn schema(&self) -> Schema {
        let strings = || Attribute::optional(AttrType::set_of(AttrType::String));
        let principals = Schema::new()
            .attr("type", Attribute::required(AttrType::String))
            .attr(
                "identifiers",
                Attribute::required(AttrType::set_of(AttrType::String)),
            );
        let statement = Schema::new()
            .attr("sid", Attribute::optional(AttrType::String))
            .attr(
                "effect",
                Attribute::optional(AttrType::String).default("Allow"),
            )
            .attrs(
                &["actions", "not_actions", "resources", "not_resources"],
                strings(),
            )
            .set_block("principals", principals.clone())
            .set_block("not_principals", principals)
            .set_block(
                "condition",
                Schema::new()
                    .attrs(&["test", "variable"], Attribute::required(AttrType::String))
                    .attr(
                        "values",
                        Attribute::required(AttrType::list_of(AttrType::String)),
                    ),
            );
        Schema::new()
            .attrs(
                &["id", "json", "minified_json"],
                Attribute::computed(AttrType::String),
            )
            .attr(
                "version",
                Attribute::optional(AttrType::String).default(VERSION_2012),
            )
            .attr("policy_id", Attribute::optional(AttrType::String))
            .attrs(
                &["source_policy_documents", "override_policy_documents"],
                Attribute::optional(AttrType::list_of(AttrType::String)),
            )
            .list_block("statement", 0, 0, statement)
    }

    async fn read(&self, _p: &AwsProvider, config: &Value) -> Result<Value> {
        let rendered = render(config)?;
        let mut out = config.clone();
        if let Some(m) = out.as_map_mut() {
            m.insert("id".into(), Value::from(rendered.id));
            m.insert("json".into(), Value::from(rendered.json));
            m.insert("minified_json".into(), Value::from(rendered.minified_json));
            if m.get("version").is_none_or(Value::is_null) {
                m.insert("version".into(), Value::from(VERSION_2012));
            }
        }
        Ok(out)
    }
}

/// The three computed attributes.
#[derive(Debug, PartialEq)]
pub(crate) struct Rendered {
    pub(crate) id: String,
    pub(crate) json: String,
    pub(crate) minified_json: String,
}

/// Principal identifiers as the provider keeps them: one string or a list.
#[derive(Debug, Clone)]
enum Ids {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Default)]
struct Statement {
    sid: String,
    effect: String,
    /// `Action`, `NotAction`, `Resource`, `NotResource`: a string or a list.
    lists: [Option<Json>; 4],
    principals: Vec<(String, Ids)>,
    not_principals: Vec<(String, Ids)>,
    /// test → variable → values (one value renders as a string).
    conditions: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

const LIST_KEYS: [(&str, &str); 4] = [
    ("actions", "Action"),
    ("not_actions", "NotAction"),
    ("resources", "Resource"),
    ("not_resources", "NotResource"),
];

#[derive(Debug, Default)]
struct Document {
    version: String,
    id: String,
    statements: Option<Vec<Statement>>,
}

impl Document {
    /// The provider's merge: adopt a non-empty `Id`, a later `Version`,
    /// replace statements with the same `Sid`, append the others.
    fn merge(&mut self, other: Document) {
        if !other.id.is_empty() {
            self.id = other.id;
        }
        if other.version > self.version {
            self.version = other.version;
        }
        let Some(new) = other.statements else {
            return;
        };
        let mine = self.statements.get_or_insert_with(Vec::new);
        for stmt in new {
            match mine
                .iter_mut()
                .find(|s| !stmt.sid.is_empty() && s.sid == stmt.sid)
            {
                Some(slot) => *slot = stmt,
                None => mine.push(stmt),
            }
        }
    }

    fn to_json(&self) -> Json {
        let mut m = Map::new();
        if !self.version.is_empty() {
            m.insert("Version".into(), Json::from(self.version.clone()));
        }
        if !self.id.is_empty() {
            m.insert("Id".into(), Json::from(self.id.clone()));
        }
        if let Some(s) = self.statements.as_ref().filter(|s| !s.is_empty()) {
            let stmts = s.iter().map(Statement::to_json).collect();
            m.insert("Statement".into(), Json::Array(stmts));
        }
        Json::Object(m)
    }
}

impl Statement {
    fn to_json(&self) -> Json {
        let mut m = Map::new();
        if !self.sid.is_empty() {
            m.insert("Sid".into(), Json::from(self.sid.clone()));
        }
        if !self.effect.is_empty() {
            m.insert("Effect".into(), Json::from(self.effect.clone()));
        }
        for (v, (_, key)) in self.lists.iter().zip(LIST_KEYS) {
            if let Some(v) = v {
                m.insert(key.into(), v.clone());
            }
        }
        for (key, ps) in [
            ("Principal", &self.principals),
            ("NotPrincipal", &self.not_principals),
        ] {
            if !ps.is_empty() {
                m.insert(key.into(), principals_json(ps));
            }
        }
        if !self.conditions.is_empty() {
            let c = self
                .conditions
                .iter()
                .map(|(test, vars)| {
                    let vars = vars
                        .iter()
                        .map(|(k, v)| (k.clone(), one_or_list(v.clone())))
                        .collect();
                    (test.clone(), Json::Object(vars))
                })
                .collect();
            m.insert("Condition".into(), Json::Object(c));
        }
        Json::Object(m)
    }
}

/// `Principal`: `"*"` for a lone principal of type `*` and identifier `*`
/// (only then: IAM rejects `"*"` in trust policies where it accepts
/// `{"AWS": "*"}`), else a map of type → identifiers (sorted keys;
/// same-type entries merged; lists in reverse order).
fn principals_json(ps: &[(String, Ids)]) -> Json {
    if let [(ty, ids)] = ps
        && ty == "*"
        && match ids {
            Ids::One(s) => s == "*",
            Ids::Many(xs) => xs.len() == 1 && xs[0] == "*",
        }
    {
        return Json::from("*");
    }
    let mut merged: BTreeMap<&str, Ids> = BTreeMap::new();
    for (ty, ids) in ps {
        let ids = match ids {
            Ids::Many(xs) => Ids::Many(reverse_sorted(xs.clone())),
            one => one.clone(),
        };
        let entry = match (merged.remove(ty.as_str()), ids) {
            (None, ids) => ids,
            (Some(Ids::One(a)), Ids::One(b)) => Ids::Many(vec![a, b]),
            (Some(Ids::One(a)), Ids::Many(b)) => Ids::Many(std::iter::once(a).chain(b).collect()),
            (Some(Ids::Many(mut a)), Ids::One(b)) => {
                a.push(b);
                Ids::Many(a)
            }
            (Some(Ids::Many(mut a)), Ids::Many(b)) => {
                a.extend(b);
                Ids::Many(a)
            }
        };
        merged.insert(ty, entry);
    }
    Json::Object(
        merged
            .into_iter()
            .map(|(k, ids)| {
                let v = match ids {
                    Ids::One(s) => Json::from(s),
                    Ids::Many(xs) => Json::from(xs),
                };
                (k.to_string(), v)
            })
            .collect(),
    )
}

fn reverse_sorted(mut xs: Vec<String>) -> Vec<String> {
    xs.sort_by(|a, b| b.cmp(a));
    xs
}

/// A configured string list as the provider decodes it: one value → that
/// string, more → reverse-sorted list.
fn decode_list(xs: Vec<String>) -> Json {
    one_or_list(reverse_sorted(xs))
}

fn one_or_list(xs: Vec<String>) -> Json {
    match <[String; 1]>::try_from(xs) {
        Ok([one]) => Json::from(one),
        Err(xs) => Json::from(xs),
    }
}

/// Error at `statement[i].<attr>` (or a top-level attribute).
fn invalid(path: Vec<PathStep>, message: String) -> ProviderError {
    ProviderError::InvalidArgument {
        path: Some(path),
        code: "InvalidPolicyDocument".into(),
        message,
    }
}

fn statement_path(i: usize, attr: &str) -> Vec<PathStep> {
    vec![
        PathStep::Key("statement".into()),
        PathStep::Index(i),
        PathStep::Key(attr.into()),
    ]
}

/// `&{` → `${` (policy variables written so HCL leaves them alone).
fn replace_vars(s: String, version: &str, path: &[PathStep]) -> Result<String> {
    if !s.contains("&{") {
        return Ok(s);
    }
    if version == VERSION_2008 {
        return Err(invalid(
            path.to_vec(),
            format!(
                "found &{{ sequence in ({s}), which is not supported in document version {VERSION_2008}; use version \"{VERSION_2012}\""
            ),
        ));
    }
    Ok(s.replace("&{", "${"))
}

fn replace_vars_all(xs: Vec<String>, version: &str, path: &[PathStep]) -> Result<Vec<String>> {
    xs.into_iter()
        .map(|s| replace_vars(s, version, path))
        .collect()
}

/// `principals` / `not_principals` blocks of statement `i`.
fn config_principals(
    stmt: &Value,
    key: &str,
    i: usize,
    version: &str,
) -> Result<Vec<(String, Ids)>> {
    let path = statement_path(i, key);
    get_blocks(stmt, key)
        .iter()
        .map(|p| {
            let ty = get_str(p, "type").unwrap_or_default();
            let ids = replace_vars_all(get_strings(p, "identifiers"), version, &path)?;
            let ids = match <[String; 1]>::try_from(ids) {
                Ok([one]) => Ids::One(one),
                Err(xs) => Ids::Many(xs),
            };
            Ok((ty, ids))
        })
        .collect()
}

fn config_statement(stmt: &Value, i: usize, version: &str) -> Result<Statement> {
    let effect = get_str(stmt, "effect").unwrap_or_else(|| "Allow".into());
    if effect != "Allow" && effect != "Deny" {
        return Err(invalid(
            statement_path(i, "effect"),
            format!("expected effect to be one of [\"Allow\" \"Deny\"], got \"{effect}\""),
        ));
    }
    let mut out = Statement {
        sid: get_str(stmt, "sid").unwrap_or_default(),
        effect,
        ..Statement::default()
    };
    for (slot, (attr, _)) in out.lists.iter_mut().zip(LIST_KEYS) {
        let mut xs = get_strings(stmt, attr);
        if xs.is_empty() {
            continue;
        }
        if attr.ends_with("resources") {
            xs = replace_vars_all(xs, version, &statement_path(i, attr))?;
        }
        *slot = Some(decode_list(xs));
    }
    out.principals = config_principals(stmt, "principals", i, version)?;
    out.not_principals = config_principals(stmt, "not_principals", i, version)?;
    for c in get_blocks(stmt, "condition") {
        let test = get_str(c, "test").unwrap_or_default();
        let variable = get_str(c, "variable").unwrap_or_default();
        let values = replace_vars_all(
            reverse_sorted(get_strings(c, "values")),
            version,
            &statement_path(i, "condition"),
        )?;
        out.conditions
            .entry(test)
            .or_default()
            .entry(variable)
            .or_default()
            .extend(values);
    }
    Ok(out)
}

/// A field of a JSON object, matched case-insensitively as Go's decoder does.
fn field<'a>(obj: &'a Map<String, Json>, name: &str) -> Option<&'a Json> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn field_str(obj: &Map<String, Json>, name: &str) -> String {
    field(obj, name)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Principals of a JSON document: `"*"` or a map of type → string/list.
fn json_principals(v: Option<&Json>) -> Result<Vec<(String, Ids)>, String> {
    match v {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::String(_)) => Ok(vec![("*".into(), Ids::Many(vec!["*".into()]))]),
        Some(Json::Object(m)) => m
            .iter()
            .map(|(ty, ids)| {
                let ids = match ids {
                    Json::String(s) => Ids::One(s.clone()),
                    Json::Array(xs) => Ids::Many(
                        xs.iter()
                            .map(|x| {
                                x.as_str()
                                    .map(str::to_string)
                                    .ok_or_else(|| format!("principal {ty}: {x} is not a string"))
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                    other => return Err(format!("principal {ty}: unexpected value {other}")),
                };
                Ok((ty.clone(), ids))
            })
            .collect(),
        Some(other) => Err(format!("unexpected Principal value {other}")),
    }
}

fn json_statement(v: &Json) -> Result<Statement, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("a statement is an object, not {v}"))?;
    let mut out = Statement {
        sid: field_str(obj, "Sid"),
        effect: field_str(obj, "Effect"),
        principals: json_principals(field(obj, "Principal"))?,
        not_principals: json_principals(field(obj, "NotPrincipal"))?,
        ..Statement::default()
    };
    for (slot, (_, key)) in out.lists.iter_mut().zip(LIST_KEYS) {
        *slot = field(obj, key).filter(|v| !v.is_null()).cloned();
    }
    if let Some(Json::Object(tests)) = field(obj, "Condition") {
        for (test, vars) in tests {
            let vars = vars
                .as_object()
                .ok_or_else(|| format!("condition {test}: expected an object, got {vars}"))?;
            let mut parsed = BTreeMap::new();
            for (var, values) in vars {
                let values = match values {
                    Json::Array(xs) => xs.iter().map(json_scalar).collect::<Result<_, _>>()?,
                    one => vec![json_scalar(one)?],
                };
                parsed.insert(var.clone(), values);
            }
            out.conditions.insert(test.clone(), parsed);
        }
    }
    Ok(out)
}

/// A condition value of a JSON document as text (`true`, `3` as written).
fn json_scalar(v: &Json) -> Result<String, String> {
    match v {
        Json::String(s) => Ok(s.clone()),
        Json::Bool(_) | Json::Number(_) => Ok(v.to_string()),
        other => Err(format!("unexpected condition value {other}")),
    }
}

/// Parse a policy given in `source_policy_documents`/`override_policy_documents`.
fn json_document(text: &str) -> Result<Document, String> {
    let v: Json = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| "a policy document is a JSON object".to_string())?;
    let statements = match field(obj, "Statement") {
        None | Some(Json::Null) => None,
        Some(Json::Array(xs)) => Some(xs.iter().map(json_statement).collect::<Result<_, _>>()?),
        Some(one @ Json::Object(_)) => Some(vec![json_statement(one)?]),
        Some(other) => return Err(format!("Statement is a list of objects, not {other}")),
    };
    Ok(Document {
        version: field_str(obj, "Version"),
        id: field_str(obj, "Id"),
        statements,
    })
}

fn parse_documents(config: &Value, attr: &str) -> Result<Vec<Document>> {
    get_strings(config, attr)
        .iter()
        .enumerate()
        .map(|(i, text)| {
            json_document(text).map_err(|e| {
                invalid(
                    vec![PathStep::Key(attr.into()), PathStep::Index(i)],
                    format!("{attr}[{i}] is not a valid policy document: {e}"),
                )
            })
        })
        .collect()
}

fn duplicate_sid(sid: &str) -> String {
    format!("duplicate Sid ({sid}). Remove the Sid or ensure the Sid is unique.")
}

/// Render the document for an evaluated (wholly known) configuration.
pub(crate) fn render(config: &Value) -> Result<Rendered> {
    let version = get_str(config, "version").unwrap_or_else(|| VERSION_2012.into());
    if version != VERSION_2012 && version != VERSION_2008 {
        return Err(invalid(
            vec![PathStep::Key("version".into())],
            format!(
                "expected version to be one of [\"{VERSION_2008}\" \"{VERSION_2012}\"], got \"{version}\""
            ),
        ));
    }
    let mut merged = Document::default();
    let mut sids = BTreeSet::new();
    for (i, doc) in parse_documents(config, "source_policy_documents")?
        .into_iter()
        .enumerate()
    {
        for (j, s) in doc.statements.iter().flatten().enumerate() {
            if !s.sid.is_empty() && !sids.insert(s.sid.clone()) {
                return Err(invalid(
                    vec![PathStep::Key("source_policy_documents".into())],
                    format!(
                        "duplicate Sid ({}) found in source_policy_documents (item {i}; statement {j})",
                        s.sid
                    ),
                ));
            }
        }
        merged.merge(doc);
    }
    let mut own = Document {
        version: version.clone(),
        id: get_str(config, "policy_id").unwrap_or_default(),
        statements: None,
    };
    let blocks = get_blocks(config, "statement");
    if !blocks.is_empty() {
        let mut seen = BTreeSet::new();
        let mut stmts = Vec::with_capacity(blocks.len());
        for (i, b) in blocks.iter().enumerate() {
            let s = config_statement(b, i, &version)?;
            if !s.sid.is_empty() && !seen.insert(s.sid.clone()) {
                return Err(invalid(statement_path(i, "sid"), duplicate_sid(&s.sid)));
            }
            stmts.push(s);
        }
        own.statements = Some(stmts);
    }
    merged.merge(own);
    for doc in parse_documents(config, "override_policy_documents")? {
        merged.merge(doc);
    }
    let doc = merged.to_json();
    let json = go_escape(&serde_json::to_string_pretty(&doc).expect("JSON values serialize"));
    let minified_json = go_escape(&doc.to_string());
    Ok(Rendered {
        id: crc32fast::hash(json.as_bytes()).to_string(),
        json,
        minified_json,
    })
}

/// Go's JSON encoder escapes `<`, `>`, `&`, U+2028 and U+2029 inside
/// strings (they cannot appear outside strings in JSON text).
fn go_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
