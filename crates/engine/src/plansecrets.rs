//! Plan files without secrets in clear. Writing a plan file (`plan -out`)
//! replaces every sensitive value — a sensitive variable, an attribute the
//! provider or `sensitive()` marks, a value derived from one, a sensitive
//! output — by a placeholder `{"$secret": {"n": N, "hmac": HEX}}`, and the
//! file's `secrets` section says where the values went:
//!
//! - `encrypted` (a state key is set): the values are sealed with the state
//!   key (the state envelopes' AES-256-GCM and key derivation, see
//!   `terrace_state::Sealer`), bound to the environment and the plan's random
//!   id; `apply FILE` decrypts them.
//! - `omitted` (no state key): the values are not in the file at all.
//!   `apply FILE` evaluates them again — sensitive variables from the
//!   apply's inputs (`TF_VAR_*`, tfvars, `-var`), everything else by planning
//!   again against the same state and configuration — and refuses the apply,
//!   naming the variable or attribute, if one differs from what was planned.
//!
//! The comparison uses an HMAC-SHA256 per value, keyed by a random 256-bit
//! key made for this plan and bound to the plan id and the value's place.
//! The key is **not** in the file: without a state key it is a blob in the
//! state store (the file keeps its SHA-256 address), with one it is sealed
//! with the values. A salt stored in the file would only stop precomputed
//! tables — anyone holding the file could still hash a guess with it and
//! confirm a guessable secret (a short password, a known token format);
//! with the key elsewhere the HMACs say nothing to someone who has only the
//! file, while whoever can apply (and so read the store) can check them.
//! `show FILE` needs neither: a placeholder shows as a sensitive value whose
//! hidden content is its HMAC, so `(sensitive value)` diffs stay right.

use std::collections::{BTreeMap, HashMap};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sha2::Sha256;
use terrace_core::Value;
use terrace_lang::VarInputs;
use terrace_state::{SealedBytes, Sealer, StateStore};

use crate::context::Engine;
use crate::error::EngineError;
use crate::model::{PLAN_FORMAT, Plan, PlanFile, PlanMode};
use crate::ops::EnvTarget;
use crate::plan::PlanOptions;

/// Where a plan file's sensitive values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretsMode {
    /// Sealed with the state key inside the file.
    Encrypted,
    /// Left out; evaluated again at apply and checked against their HMACs.
    Omitted,
}

/// The `secrets` section of a plan file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanSecrets {
    pub mode: SecretsMode,
    /// How many values were replaced by placeholders.
    pub count: usize,
    /// `HMAC-SHA256`.
    pub hmac: String,
    /// A random id of this plan file, bound into every HMAC and into the
    /// ciphertext's associated data.
    pub plan_id: String,
    /// `omitted`: the state-store blob (its SHA-256) holding the HMAC key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_key_blob: Option<String>,
    /// `encrypted`: the values and the HMAC key, sealed with the state key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealedBytes>,
}

/// What the sealed box holds.
#[derive(Serialize, Deserialize)]
struct SealedContent {
    hmac_key: String,
    values: Vec<Json>,
}

const HMAC_ALGORITHM: &str = "HMAC-SHA256";
const PLACEHOLDER: &str = "$secret";

fn aad(environment: &str, plan_id: &str) -> Vec<u8> {
    format!("terrace-plan-secrets/v1\0{environment}\0{plan_id}").into_bytes()
}

/// The HMAC of one sensitive node (its tagged JSON) at its place.
pub fn node_hmac(key: &[u8], plan_id: &str, place: &str, node: &Json) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"terrace-plan-secret/v1\0");
    mac.update(plan_id.as_bytes());
    mac.update(b"\0");
    mac.update(place.as_bytes());
    mac.update(b"\0");
    mac.update(serde_json::to_string(node).unwrap_or_default().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

// ---- walking a plan file's values ------------------------------------------

/// Where a sensitive node is: a unique key (the same in every plan of the
/// same configuration) and a label for messages.
#[derive(Debug, Clone)]
pub struct Place {
    pub key: String,
    pub label: String,
}

/// Call `f` on every sensitive node of a plan file (as JSON): a
/// `{"$sensitive": …}` value, a whole value of a sensitive output, or a
/// placeholder left by [`redact`].
fn walk(file: &mut Json, f: &mut dyn FnMut(&Place, &mut Json)) {
    let Some(obj) = file.as_object_mut() else {
        return;
    };
    if let Some(Json::Object(vars)) = obj.get_mut("variables") {
        for (name, v) in vars.iter_mut() {
            let ctx = Ctx {
                key: format!("variables\u{1f}{name}"),
                label: format!("variable \"{name}\""),
            };
            walk_value(v, &ctx, &mut Vec::new(), f);
        }
    }
    if let Some(Json::Object(outs)) = obj.get_mut("outputs") {
        for (name, o) in outs.iter_mut() {
            let sensitive = o.get("sensitive").and_then(Json::as_bool) == Some(true);
            let Some(o) = o.as_object_mut() else { continue };
            for side in ["before", "after"] {
                let Some(v) = o.get_mut(side) else { continue };
                let ctx = Ctx {
                    key: format!("outputs\u{1f}{name}\u{1f}{side}"),
                    label: format!("output \"{name}\" ({})", side_word(side)),
                };
                if sensitive && !v.is_null() && !is_placeholder(v) && !is_unknown(v) {
                    f(
                        &Place {
                            key: ctx.key.clone(),
                            label: ctx.label.clone(),
                        },
                        v,
                    );
                } else {
                    walk_value(v, &ctx, &mut Vec::new(), f);
                }
            }
        }
    }
    for section in ["changes", "drift"] {
        let Some(Json::Array(items)) = obj.get_mut(section) else {
            continue;
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        for item in items.iter_mut() {
            let addr = item
                .get("address")
                .and_then(Json::as_str)
                .unwrap_or("?")
                .to_string();
            let n = seen.entry(addr.clone()).or_default();
            let nth = *n;
            *n += 1;
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for side in ["before", "after"] {
                let Some(v) = item.get_mut(side) else {
                    continue;
                };
                let what = match (section, side) {
                    ("drift", "before") => "as last applied",
                    ("drift", _) => "as found outside terrace",
                    (_, s) => side_word(s),
                };
                let ctx = Ctx {
                    key: format!("{section}\u{1f}{addr}\u{1f}{nth}\u{1f}{side}"),
                    label: format!("{addr} ({what})"),
                };
                walk_value(v, &ctx, &mut Vec::new(), f);
            }
        }
    }
    if let Some(Json::Object(refreshed)) = obj.get_mut("refreshed") {
        for (addr, v) in refreshed.iter_mut() {
            let ctx = Ctx {
                key: format!("refreshed\u{1f}{addr}"),
                label: format!("{addr} (as refreshed)"),
            };
            walk_value(v, &ctx, &mut Vec::new(), f);
        }
    }
}

fn side_word(side: &str) -> &'static str {
    if side == "before" {
        "current value"
    } else {
        "planned value"
    }
}

struct Ctx {
    key: String,
    label: String,
}

fn one_key<'a>(v: &'a Json, k: &str) -> Option<&'a Json> {
    match v {
        Json::Object(m) if m.len() == 1 => m.get(k),
        _ => None,
    }
}

fn is_placeholder(v: &Json) -> bool {
    one_key(v, PLACEHOLDER).is_some()
}

fn is_unknown(v: &Json) -> bool {
    one_key(v, "$unknown").is_some()
}

/// A path inside a value, as an attribute reference (`value`, `tags["a b"]`,
/// `ingress[0].cidr_blocks`).
fn path_label(path: &[String]) -> String {
    let mut out = String::new();
    for (i, seg) in path.iter().enumerate() {
        if let Some(ix) = seg.strip_prefix('#') {
            out.push_str(&format!("[{ix}]"));
        } else if i > 0
            && !seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            out.push_str(&format!("[{seg:?}]"));
        } else if i > 0 {
            out.push('.');
            out.push_str(seg);
        } else {
            out.push_str(seg);
        }
    }
    out
}

fn place(ctx: &Ctx, path: &[String]) -> Place {
    if path.is_empty() {
        return Place {
            key: ctx.key.clone(),
            label: ctx.label.clone(),
        };
    }
    let (addr, rest) = match ctx.label.split_once(" (") {
        Some((a, r)) => (a.to_string(), format!(" ({r}")),
        None => (ctx.label.clone(), String::new()),
    };
    Place {
        key: format!("{}\u{1f}{}", ctx.key, path.join("\u{1f}")),
        label: format!("{addr}: attribute {}{rest}", path_label(path)),
    }
}

fn walk_value(
    v: &mut Json,
    ctx: &Ctx,
    path: &mut Vec<String>,
    f: &mut dyn FnMut(&Place, &mut Json),
) {
    if let Some(inner) = one_key(v, "$sensitive") {
        // Nothing secret in a sensitive null or unknown.
        if !inner.is_null() && !is_unknown(inner) {
            f(&place(ctx, path), v);
        }
        return;
    }
    if is_placeholder(v) {
        f(&place(ctx, path), v);
        return;
    }
    if is_unknown(v) {
        return;
    }
    let is_map = one_key(v, "$map").is_some();
    let is_set = one_key(v, "$set").is_some();
    match v {
        Json::Object(m) if is_map || is_set => {
            let inner = m.values_mut().next().expect("one entry");
            if is_map {
                if let Json::Object(m) = inner {
                    for (k, x) in m.iter_mut() {
                        path.push(k.clone());
                        walk_value(x, ctx, path, f);
                        path.pop();
                    }
                }
            } else if let Json::Array(xs) = inner {
                for (i, x) in xs.iter_mut().enumerate() {
                    path.push(format!("#{i}"));
                    walk_value(x, ctx, path, f);
                    path.pop();
                }
            }
        }
        Json::Object(m) => {
            for (k, x) in m.iter_mut() {
                path.push(k.clone());
                walk_value(x, ctx, path, f);
                path.pop();
            }
        }
        Json::Array(xs) => {
            for (i, x) in xs.iter_mut().enumerate() {
                path.push(format!("#{i}"));
                walk_value(x, ctx, path, f);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Replace every sensitive node of `file` by a placeholder carrying its
/// index and HMAC; return the nodes in index order.
pub fn redact(file: &mut Json, hmac_key: &[u8], plan_id: &str) -> Vec<Json> {
    let mut values = Vec::new();
    walk(file, &mut |p, node| {
        if is_placeholder(node) {
            return;
        }
        let hmac = node_hmac(hmac_key, plan_id, &p.key, node);
        let taken = std::mem::replace(
            node,
            json!({ PLACEHOLDER: { "n": values.len(), "hmac": hmac } }),
        );
        values.push(taken);
    });
    values
}

/// The sensitive nodes of a plan file (as JSON), by place key.
pub fn sensitive_nodes(file: &Json) -> HashMap<String, Json> {
    let mut file = file.clone();
    let mut out = HashMap::new();
    walk(&mut file, &mut |p, node| {
        if !is_placeholder(node) {
            out.insert(p.key.clone(), node.clone());
        }
    });
    out
}

/// One placeholder of a saved plan file.
#[derive(Debug, Clone)]
struct Slot {
    place: Place,
    n: usize,
    hmac: String,
}

fn slots(file: &Json) -> Vec<Slot> {
    let mut file = file.clone();
    let mut out = Vec::new();
    walk(&mut file, &mut |p, node| {
        if let Some(s) = one_key(node, PLACEHOLDER) {
            out.push(Slot {
                place: p.clone(),
                n: s.get("n").and_then(Json::as_u64).unwrap_or(u64::MAX) as usize,
                hmac: s
                    .get("hmac")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string(),
            });
        }
    });
    out
}

/// Replace each placeholder by `fill(slot)` (left as is on `None`).
fn fill(file: &mut Json, fill: &mut dyn FnMut(&Slot) -> Option<Json>) {
    walk(file, &mut |p, node| {
        if let Some(s) = one_key(node, PLACEHOLDER) {
            let slot = Slot {
                place: p.clone(),
                n: s.get("n").and_then(Json::as_u64).unwrap_or(u64::MAX) as usize,
                hmac: s
                    .get("hmac")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string(),
            };
            if let Some(v) = fill(&slot) {
                *node = v;
            }
        }
    });
}

// ---- writing ------------------------------------------------------------------

/// The bytes of the plan file for `plan`, with no sensitive value in clear:
/// sealed with `sealer` (the state key) when one is given, otherwise left
/// out, with the HMAC key stored as a blob in `store`.
pub async fn encode(
    plan: &Plan,
    sealer: Option<&Sealer>,
    store: &dyn StateStore,
) -> Result<Vec<u8>, EngineError> {
    let doc =
        serde_json::to_value(plan.to_file()).map_err(|e| EngineError::Other(e.to_string()))?;
    encode_doc(doc, &plan.environment, sealer, store).await
}

/// [`encode`] of a plan file's JSON to which the caller added its own
/// sections (the author for approvals, policy results, the record a
/// rollback plan returns to); those hold no sensitive value.
pub async fn encode_doc(
    mut doc: Json,
    environment: &str,
    sealer: Option<&Sealer>,
    store: &dyn StateStore,
) -> Result<Vec<u8>, EngineError> {
    let key = terrace_state::random_key();
    let plan_id = uuid::Uuid::new_v4().to_string();
    let values = redact(&mut doc, &key, &plan_id);
    let count = values.len();
    let secrets = match sealer {
        Some(s) => {
            let content = SealedContent {
                hmac_key: hex::encode(key),
                values,
            };
            let msg =
                serde_json::to_vec(&content).map_err(|e| EngineError::Other(e.to_string()))?;
            PlanSecrets {
                mode: SecretsMode::Encrypted,
                count,
                hmac: HMAC_ALGORITHM.into(),
                sealed: Some(s.seal(&aad(environment, &plan_id), &msg)?),
                hmac_key_blob: None,
                plan_id,
            }
        }
        None => {
            let blob = if count > 0 {
                Some(store.blob_put(&hex::encode(key)).await.map_err(|e| {
                    EngineError::Other(format!(
                        "saving the plan file's HMAC key in the state store: {e}; a plan file keeps no \
                         sensitive value in clear, and without TERRACE_STATE_KEY the key that checks them \
                         at apply lives in the store (set TERRACE_STATE_KEY to seal them in the file instead)"
                    ))
                })?)
            } else {
                None
            };
            PlanSecrets {
                mode: SecretsMode::Omitted,
                count,
                hmac: HMAC_ALGORITHM.into(),
                sealed: None,
                hmac_key_blob: blob,
                plan_id,
            }
        }
    };
    if let Some(obj) = doc.as_object_mut() {
        obj.insert(
            "secrets".into(),
            serde_json::to_value(&secrets).map_err(|e| EngineError::Other(e.to_string()))?,
        );
    }
    serde_json::to_vec_pretty(&doc).map_err(|e| EngineError::Other(e.to_string()))
}

// ---- reading ------------------------------------------------------------------

/// A plan file as read: its JSON (placeholders in place) and its `secrets`.
#[derive(Debug, Clone)]
pub struct SavedPlan {
    doc: Json,
    pub environment: String,
    pub secrets: Option<PlanSecrets>,
}

fn to_plan(doc: Json) -> Result<Plan, String> {
    let file: PlanFile = serde_json::from_value(doc).map_err(|e| format!("plan file: {e}"))?;
    Plan::from_file(file)
}

impl SavedPlan {
    /// Parse a plan file's bytes (formats 1 and 2). `Err` says what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<SavedPlan, String> {
        let mut doc: Json = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let version = doc
            .get("terrace_plan_format")
            .and_then(Json::as_u64)
            .ok_or("no terrace_plan_format")?;
        if version > u64::from(PLAN_FORMAT) {
            return Err(format!(
                "plan file format {version} is not supported by this terrace (expects {PLAN_FORMAT}); upgrade \
                 terrace or run `terrace plan -out` again"
            ));
        }
        let secrets = match doc.as_object_mut().and_then(|o| o.remove("secrets")) {
            Some(Json::Null) | None => None,
            Some(s) => Some(
                serde_json::from_value::<PlanSecrets>(s)
                    .map_err(|e| format!("plan file secrets section: {e}"))?,
            ),
        };
        if let Some(o) = doc.as_object_mut() {
            // Format 1 files (secrets in clear, from earlier terrace
            // versions) read as they are.
            o.insert("terrace_plan_format".into(), json!(PLAN_FORMAT));
        }
        let environment = doc
            .get("environment")
            .and_then(Json::as_str)
            .ok_or("no environment")?
            .to_string();
        Ok(SavedPlan {
            doc,
            environment,
            secrets,
        })
    }

    /// For a plan made by `terrace rollback --out`: the ledger record whose
    /// configuration snapshot it returns to.
    pub fn rollback_of(&self) -> Option<String> {
        self.doc
            .get("rollback_of")
            .and_then(Json::as_str)
            .map(str::to_string)
    }

    /// True when the file has placeholders to fill before it can be applied.
    pub fn has_secrets(&self) -> bool {
        self.secrets.as_ref().is_some_and(|s| s.count > 0)
    }

    /// The plan for showing: each placeholder becomes a sensitive value
    /// whose hidden content is its HMAC (so a changed secret still shows as
    /// a change, and an unchanged one does not). Never applied.
    pub fn for_display(&self) -> Result<Plan, String> {
        let mut doc = self.doc.clone();
        fill(&mut doc, &mut |s| {
            Some(json!({ "$sensitive": format!("(sensitive value {})", s.hmac) }))
        });
        to_plan(doc)
    }

    /// The plan for applying when its values are sealed with the state key.
    pub fn decrypt(&self, sealer: Option<&Sealer>) -> Result<Plan, EngineError> {
        let secrets = self.secrets.as_ref().filter(|s| s.count > 0);
        let Some(secrets) = secrets else {
            return to_plan(self.doc.clone()).map_err(EngineError::StalePlan);
        };
        let sealed = secrets.sealed.as_ref().ok_or_else(|| {
            EngineError::StalePlan("the plan file's secrets section has no sealed values".into())
        })?;
        let Some(sealer) = sealer else {
            return Err(EngineError::StalePlan(format!(
                "the plan file's {} sensitive value(s) are encrypted with the state key and no key is set; set \
                 TERRACE_STATE_KEY (or TERRACE_STATE_KEY_FILE) to the key the plan was made with",
                secrets.count
            )));
        };
        let msg = sealer.open(sealed, &aad(&self.environment, &secrets.plan_id))?;
        let content: SealedContent = serde_json::from_slice(&msg)
            .map_err(|e| EngineError::StalePlan(format!("plan file sealed values: {e}")))?;
        let key = hex::decode(&content.hmac_key)
            .map_err(|e| EngineError::StalePlan(format!("plan file sealed values: {e}")))?;
        let mut doc = self.doc.clone();
        let mut bad = Vec::new();
        fill(&mut doc, &mut |s| match content.values.get(s.n) {
            Some(v) if node_hmac(&key, &secrets.plan_id, &s.place.key, v) == s.hmac => {
                Some(v.clone())
            }
            _ => {
                bad.push(s.place.label.clone());
                None
            }
        });
        if !bad.is_empty() {
            return Err(EngineError::StalePlan(format!(
                "the plan file was edited: its sealed values do not match their places ({}); run `terrace plan \
                 -out` again",
                bad.join(", ")
            )));
        }
        to_plan(doc).map_err(EngineError::StalePlan)
    }

    /// The plan for applying when its sensitive values were left out: each
    /// is evaluated again — sensitive variables from `vars` (and `TF_VAR_*`,
    /// tfvars files), the rest by planning again against the same state
    /// and configuration — and must match the HMAC the plan recorded.
    /// Refused, naming each variable or attribute that differs (never the
    /// value), when one does not.
    pub async fn reevaluate(
        &self,
        engine: &Engine,
        target: &EnvTarget,
        vars: &VarInputs,
    ) -> Result<Plan, EngineError> {
        let Some(secrets) = self.secrets.as_ref().filter(|s| s.count > 0) else {
            return to_plan(self.doc.clone()).map_err(EngineError::StalePlan);
        };
        if secrets.mode == SecretsMode::Encrypted {
            return Err(EngineError::StalePlan(
                "the plan file's sensitive values are encrypted with the state key; set TERRACE_STATE_KEY \
                 (or TERRACE_STATE_KEY_FILE) to apply it"
                    .into(),
            ));
        }
        let blob = secrets.hmac_key_blob.as_deref().ok_or_else(|| {
            EngineError::StalePlan("the plan file's secrets section names no HMAC key".into())
        })?;
        let key_hex = engine.store.blob_get(blob).await?.ok_or_else(|| {
            EngineError::StalePlan(format!(
                "the plan file's HMAC key (blob {blob}) is not in this state store: the plan was made against \
                 another store, or it is older than `ledger {{ blob_grace_days }}` and `terrace env gc` removed \
                 its key; apply it with the same TERRACE_STATE / terrace.hcl, or run `terrace plan -out` again"
            ))
        })?;
        let key = hex::decode(key_hex.trim())
            .map_err(|e| EngineError::StalePlan(format!("the plan's HMAC key: {e}")))?;
        let plan_id = secrets.plan_id.as_str();
        let all = slots(&self.doc);
        let mut doc = self.doc.clone();

        // 1. Sensitive root variables, from this run's inputs.
        let var_slots: Vec<&Slot> = all
            .iter()
            .filter(|s| s.place.key.starts_with("variables\u{1f}"))
            .collect();
        if !var_slots.is_empty() {
            let given = resolve_variables(engine, target, vars)?;
            let mut problems = Vec::new();
            let mut found: HashMap<String, Json> = HashMap::new();
            for s in &var_slots {
                let rest = &s.place.key["variables\u{1f}".len()..];
                let name = rest.split('\u{1f}').next().unwrap_or(rest);
                let Some(v) = given.get(name) else {
                    problems.push(format!(
                        "variable \"{name}\" is sensitive, so the plan file does not hold it, and no value was \
                         given now; give it as at plan time (TF_VAR_{name}, a variables file, or -var)"
                    ));
                    continue;
                };
                let one = json!({ "variables": { name: v.to_tagged_json() } });
                let nodes = sensitive_nodes(&one);
                match nodes.get(&s.place.key) {
                    Some(node) if node_hmac(&key, plan_id, &s.place.key, node) == s.hmac => {
                        found.insert(s.place.key.clone(), node.clone());
                    }
                    _ => problems.push(format!(
                        "variable \"{name}\" differs from the value the plan was made with (compared by its \
                         HMAC; the value is not shown); give the same value, or run `terrace plan -out` again"
                    )),
                }
            }
            if !problems.is_empty() {
                return Err(EngineError::StalePlan(format!(
                    "cannot apply the plan file: {}",
                    problems.join("; ")
                )));
            }
            fill(&mut doc, &mut |s| found.get(&s.place.key).cloned());
        }
        let variables: BTreeMap<String, Value> = doc
            .get("variables")
            .and_then(Json::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::from_tagged_json(v)))
                    .collect()
            })
            .unwrap_or_default();

        // 2. Everything else: plan again with those variables. First without
        // refreshing (state is what the plan saw, checked again under the
        // lock); values the plan's refresh found differ from state, so if
        // any does not match, once more with a refresh.
        let rest: Vec<Slot> = slots(&doc);
        if rest.is_empty() {
            return to_plan(doc).map_err(EngineError::StalePlan);
        }
        let shape = to_plan(self.for_display_doc()).map_err(EngineError::StalePlan)?;
        let mut mismatched = Vec::new();
        for refresh in [shape.mode == PlanMode::RefreshOnly, true] {
            let fresh = fresh_nodes(engine, target, &shape, variables.clone(), refresh).await?;
            mismatched.clear();
            let mut found: HashMap<String, Json> = HashMap::new();
            for s in &rest {
                match fresh.get(&s.place.key) {
                    Some(node) if node_hmac(&key, plan_id, &s.place.key, node) == s.hmac => {
                        found.insert(s.place.key.clone(), node.clone());
                    }
                    _ => mismatched.push(s.place.label.clone()),
                }
            }
            if mismatched.is_empty() {
                fill(&mut doc, &mut |s| found.get(&s.place.key).cloned());
                return to_plan(doc).map_err(EngineError::StalePlan);
            }
            if refresh {
                break;
            }
        }
        mismatched.sort();
        mismatched.dedup();
        let shown: Vec<&String> = mismatched.iter().take(10).collect();
        let more = if mismatched.len() > shown.len() {
            format!(" and {} more", mismatched.len() - shown.len())
        } else {
            String::new()
        };
        Err(EngineError::StalePlan(format!(
            "cannot apply the plan file: sensitive values evaluated again differ from the ones the plan was \
             made with (compared by HMAC; values not shown): {}{more}; run `terrace plan -out` again (or set \
             TERRACE_STATE_KEY so plan files keep their sensitive values encrypted)",
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    fn for_display_doc(&self) -> Json {
        let mut doc = self.doc.clone();
        fill(&mut doc, &mut |_| Some(json!({ "$sensitive": "" })));
        doc
    }
}

/// The root variables as this run's inputs give them; a variable that
/// cannot be resolved is left out (only sensitive ones are asked for).
fn resolve_variables(
    engine: &Engine,
    target: &EnvTarget,
    vars: &VarInputs,
) -> Result<BTreeMap<String, Value>, EngineError> {
    let mut sources = terrace_lang::SourceMap::default();
    let (config, diags) =
        terrace_lang::load_config_with(&target.dir, &mut sources, engine.modules.as_ref());
    let Some(config) = config else {
        return Err(EngineError::config(diags, sources));
    };
    let reader = engine.env_reader.clone();
    let (values, _diags) = terrace_lang::resolve_root_variables(
        &config,
        &target.dir,
        vars,
        &move |k| reader(k),
        &mut sources,
    );
    Ok(values)
}

/// The sensitive nodes of a new plan of the same shape as `saved`.
async fn fresh_nodes(
    engine: &Engine,
    target: &EnvTarget,
    saved: &Plan,
    variables: BTreeMap<String, Value>,
    refresh: bool,
) -> Result<HashMap<String, Json>, EngineError> {
    let parse = |xs: Vec<String>| -> Vec<terrace_core::ResourceAddr> {
        xs.iter().filter_map(|t| t.parse().ok()).collect()
    };
    let replace = saved
        .changes
        .iter()
        .filter(|c| c.reason.as_deref() == Some("replace_by_request"))
        .map(|c| c.addr.to_string())
        .collect();
    let opts = PlanOptions {
        mode: saved.mode,
        refresh,
        targets: parse(saved.targets.clone()),
        replace: parse(replace),
        imports: vec![],
        skip_configuration: false,
    };
    let load = crate::context::LoadOptions {
        vars: VarInputs::default(),
        fixed_variables: Some(variables),
    };
    let (_, plan, _) = crate::ops::plan(engine, target, &load, &opts).await?;
    let doc =
        serde_json::to_value(plan.to_file()).map_err(|e| EngineError::Other(e.to_string()))?;
    Ok(sensitive_nodes(&doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Json {
        json!({
            "terrace_plan_format": PLAN_FORMAT,
            "environment": "dev",
            "variables": {
                "token": { "$sensitive": "s3cret-token" },
                "region": "eu-west-1",
                "unknownish": { "$sensitive": { "$unknown": true } }
            },
            "outputs": {
                "plain_but_sensitive": { "action": "create", "before": null, "after": "s3cret-token", "sensitive": true },
                "open": { "action": "create", "before": null, "after": "hello", "sensitive": false }
            },
            "changes": [{
                "address": "aws_ssm_parameter.p",
                "before": null,
                "after": {
                    "name": "/app/token",
                    "value": { "$sensitive": "s3cret-token" },
                    "tags": { "$map": { "$sensitive": "not a mark: a user key" } }
                }
            }],
            "drift": [],
            "refreshed": {}
        })
    }

    #[test]
    fn redact_leaves_no_secret_and_keeps_the_shape() {
        let mut doc = sample();
        let key = [7u8; 32];
        let values = redact(&mut doc, &key, "plan-1");
        let text = serde_json::to_string(&doc).unwrap();
        assert!(!text.contains("s3cret-token"), "{text}");
        // A user map key that looks like a mark is not a mark.
        assert!(text.contains("not a mark: a user key"), "{text}");
        assert!(text.contains("\"region\":\"eu-west-1\""), "{text}");
        assert!(text.contains("\"after\":\"hello\""), "{text}");
        // Sensitive unknowns hold nothing secret and stay as they are.
        assert!(text.contains("$unknown"), "{text}");
        assert_eq!(values.len(), 3);
        let labels: Vec<String> = slots(&doc).into_iter().map(|s| s.place.label).collect();
        assert!(
            labels.contains(&"variable \"token\"".to_string()),
            "{labels:?}"
        );
        assert!(
            labels.contains(&"output \"plain_but_sensitive\" (planned value)".to_string()),
            "{labels:?}"
        );
        assert!(
            labels.contains(&"aws_ssm_parameter.p: attribute value (planned value)".to_string()),
            "{labels:?}"
        );
    }

    #[test]
    fn hmac_depends_on_key_place_and_value() {
        let v = json!({ "$sensitive": "x" });
        let a = node_hmac(&[1; 32], "p", "k", &v);
        assert_eq!(a, node_hmac(&[1; 32], "p", "k", &v));
        assert_ne!(a, node_hmac(&[2; 32], "p", "k", &v), "another key");
        assert_ne!(a, node_hmac(&[1; 32], "q", "k", &v), "another plan");
        assert_ne!(a, node_hmac(&[1; 32], "p", "k2", &v), "another place");
        assert_ne!(
            a,
            node_hmac(&[1; 32], "p", "k", &json!({ "$sensitive": "y" }))
        );
    }

    #[test]
    fn nodes_of_a_fresh_plan_match_the_placeholders() {
        let fresh = sample();
        let mut saved = sample();
        let key = [9u8; 32];
        redact(&mut saved, &key, "id");
        let nodes = sensitive_nodes(&fresh);
        for s in slots(&saved) {
            let node = nodes.get(&s.place.key).expect("same place");
            assert_eq!(node_hmac(&key, "id", &s.place.key, node), s.hmac);
        }
        // A changed secret does not match.
        let mut changed = sample();
        changed["changes"][0]["after"]["value"] = json!({ "$sensitive": "other" });
        let nodes = sensitive_nodes(&changed);
        let bad: Vec<String> = slots(&saved)
            .into_iter()
            .filter(|s| node_hmac(&key, "id", &s.place.key, &nodes[&s.place.key]) != s.hmac)
            .map(|s| s.place.label)
            .collect();
        assert_eq!(
            bad,
            vec!["aws_ssm_parameter.p: attribute value (planned value)"]
        );
    }
}
