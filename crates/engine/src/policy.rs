//! Policies evaluated on the real plan. Each `policy` block (parsed by
//! `terrace_lang::load_policies`) is evaluated for every planned change of
//! a managed resource whose type matches its `resource_types` globs, in an
//! environment matching its `environments` globs, for the actions it asks
//! for (by default every change that leaves an object: create, update,
//! replace, no-op). The scope holds `change` (`actions`, `before`, `after`,
//! unknowns unknown and sensitive values marked), `resource` (address, type,
//! name, module, lifecycle, dependencies), `environment` and `plan` (counts
//! per action and every resource change).
//!
//! A result is `pass`, `fail`, `undecided` (the condition depends on values
//! known only after apply) or `error` (the condition could not be
//! evaluated). A `fail` or `error` of a `deny` policy blocks the plan and
//! its apply; a `warn` policy never blocks. Undecided results are checked
//! again during apply by [`PolicyGate`]: with the object as re-planned just
//! before its provider call, and, if still unknown, with the object as
//! created — then it is in state already, as with a postcondition, and the
//! failure stops its dependents. Messages never show a sensitive value.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use terrace_core::{
    Diagnostic, Diagnostics, InstanceKey, ResourceAddr, ResourceMode, SourceRange, Value,
};
use terrace_lang::{Config, Policy, PolicyScope, PolicySet};

use crate::context::LoadedEnv;
use crate::error::EngineError;
use crate::model::{Action, Plan, ResourceChange};

/// The version of the `policy_results` JSON section.
pub const POLICY_RESULTS_FORMAT: &str = "1";

/// The outcome of one policy for one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyStatus {
    Pass,
    Fail,
    /// The condition is unknown until apply.
    Undecided,
    /// The condition could not be evaluated.
    Error,
}

/// One policy's result for one resource instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyResult {
    pub policy: String,
    /// `deny` or `warn`.
    pub enforcement: String,
    pub address: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub status: PolicyStatus,
    /// The policy's `error_message` (fail), the evaluation error (error) or
    /// why it waits (undecided); never a sensitive value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The policy block (file, line, column).
    pub source: SourceRange,
}

impl PolicyResult {
    /// A `deny` policy that failed or could not be evaluated.
    pub fn blocks(&self) -> bool {
        self.enforcement == "deny"
            && matches!(self.status, PolicyStatus::Fail | PolicyStatus::Error)
    }

    /// One line: `policy "NAME" (file:line:col) ADDR: MESSAGE`.
    pub fn line(&self) -> String {
        let what = match self.status {
            PolicyStatus::Pass => "passed".to_string(),
            PolicyStatus::Undecided => {
                "cannot be decided until apply; it is checked again when the change is applied"
                    .to_string()
            }
            _ => self.message.clone().unwrap_or_default(),
        };
        format!(
            "policy \"{}\" ({}) {}: {what}",
            self.policy, self.source, self.address
        )
    }
}

/// The results of every policy on one plan: the `policy_results` section
/// of `plan --json` and of saved plan files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyReport {
    pub format_version: String,
    pub environment: String,
    /// SHA-256 over the policy files (names and text): a saved plan whose
    /// hash differs from the current policies is evaluated again at apply.
    pub policies_hash: String,
    /// How many policies were loaded.
    pub policies: usize,
    pub results: Vec<PolicyResult>,
}

/// Counts of a report, as shown in the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PolicySummary {
    pub passed: usize,
    /// Failed `deny` results (and deny errors): these block.
    pub denied: usize,
    /// Failed `warn` results (and warn errors).
    pub warned: usize,
    pub undecided: usize,
}

impl PolicyReport {
    pub fn denied(&self) -> bool {
        self.results.iter().any(PolicyResult::blocks)
    }

    pub fn summary(&self) -> PolicySummary {
        let mut s = PolicySummary::default();
        for r in &self.results {
            match r.status {
                PolicyStatus::Pass => s.passed += 1,
                PolicyStatus::Undecided => s.undecided += 1,
                PolicyStatus::Fail | PolicyStatus::Error if r.enforcement == "deny" => {
                    s.denied += 1
                }
                PolicyStatus::Fail | PolicyStatus::Error => s.warned += 1,
            }
        }
        s
    }

    /// `Policies: 12 passed, 1 warned, 1 denied, 2 cannot be decided until apply.`
    pub fn summary_line(&self) -> String {
        let s = self.summary();
        let mut parts = vec![format!("{} passed", s.passed)];
        if s.warned > 0 {
            parts.push(format!("{} warned", s.warned));
        }
        if s.denied > 0 {
            parts.push(format!("{} denied", s.denied));
        }
        if s.undecided > 0 {
            parts.push(format!("{} cannot be decided until apply", s.undecided));
        }
        format!("Policies: {}.", parts.join(", "))
    }

    /// The section written in plan JSON (`policy_results`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "summary".into(),
                serde_json::to_value(self.summary()).unwrap_or_default(),
            );
            m.insert("denied".into(), serde_json::Value::Bool(self.denied()));
        }
        v
    }

    /// Diagnostics for what is not a pass: a blocking result is an error,
    /// a warning or an undecided one a warning; each at its policy block.
    pub fn diagnostics(&self) -> Diagnostics {
        let mut d = Diagnostics::new();
        for r in &self.results {
            let diag = match r.status {
                PolicyStatus::Pass => continue,
                PolicyStatus::Undecided => Diagnostic::warning(
                    format!("Policy \"{}\" cannot be decided until apply", r.policy),
                    format!(
                        "{}: the condition depends on values known only after apply; it is checked again when the change is applied.",
                        r.address
                    ),
                ),
                _ if r.blocks() => Diagnostic::error(
                    format!("Policy \"{}\" denied {}", r.policy, r.address),
                    format!(
                        "{}\n\nFix the configuration, or change the policy (enforcement = \"warn\" reports without blocking).",
                        r.message.clone().unwrap_or_default()
                    ),
                ),
                _ => Diagnostic::warning(
                    format!("Policy \"{}\" warns about {}", r.policy, r.address),
                    r.message.clone().unwrap_or_default(),
                ),
            };
            d.push(diag.at(Some(r.source.clone())));
        }
        d
    }
}

/// The SHA-256 of a policy set's files.
pub fn policies_hash(set: &PolicySet) -> String {
    let mut h = Sha256::new();
    for (name, text) in &set.files {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// Compiled `environments` / `resource_types` globs of each policy.
struct Matchers(Vec<(Option<GlobSet>, Option<GlobSet>)>);

fn globs(patterns: &[String], p: &Policy, what: &str) -> Result<Option<GlobSet>, Box<Diagnostic>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for pat in patterns {
        let g = Glob::new(pat)
            .map_err(|e| {
                Diagnostic::error(
                    "Invalid glob in a policy",
                    format!(
                        "{what} of policy \"{}\": \"{pat}\" is not a valid glob ({e}).",
                        p.name
                    ),
                )
                .at(Some(p.range.clone()))
            })
            .map_err(Box::new)?;
        b.add(g);
    }
    b.build().map(Some).map_err(|e| {
        Box::new(
            Diagnostic::error("Invalid glob in a policy", e.to_string()).at(Some(p.range.clone())),
        )
    })
}

impl Matchers {
    fn new(set: &PolicySet) -> Result<Matchers, Diagnostics> {
        let mut out = Vec::new();
        let mut diags = Diagnostics::new();
        for p in &set.policies {
            let e = globs(&p.environments, p, "environments");
            let t = globs(&p.resource_types, p, "resource_types");
            match (e, t) {
                (Ok(e), Ok(t)) => out.push((e, t)),
                (e, t) => {
                    for x in [e.err(), t.err()].into_iter().flatten() {
                        diags.push(*x);
                    }
                    out.push((None, None));
                }
            }
        }
        if diags.has_errors() {
            Err(diags)
        } else {
            Ok(Matchers(out))
        }
    }

    fn applies(&self, ix: usize, p: &Policy, env: &str, c: &ResourceChange) -> bool {
        let (envs, types) = &self.0[ix];
        c.addr.mode == ResourceMode::Managed
            && envs.as_ref().is_none_or(|g| g.is_match(env))
            && types.as_ref().is_none_or(|g| g.is_match(&c.addr.type_name))
            && p.wants_actions(&c.action.terraform_actions())
    }
}

fn strings<'a>(xs: impl IntoIterator<Item = &'a str>) -> Value {
    Value::List(xs.into_iter().map(Value::from).collect())
}

fn key_value(k: &Option<InstanceKey>) -> Value {
    match k {
        None => Value::Null,
        Some(InstanceKey::Int(i)) => Value::from(*i),
        Some(InstanceKey::Str(s)) => Value::from(s.as_str()),
    }
}

fn block_address(a: &ResourceAddr) -> String {
    ResourceAddr {
        key: None,
        ..a.clone()
    }
    .to_string()
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// `change`: Terraform's `actions`, `before` and `after` (null when absent).
pub fn change_scope(c: &ResourceChange, after: Option<&Value>) -> Value {
    obj(vec![
        ("actions", strings(c.action.terraform_actions())),
        ("before", c.before.clone().unwrap_or(Value::Null)),
        ("after", after.cloned().unwrap_or(Value::Null)),
    ])
}

/// `resource`: where the instance is and how its block is declared.
pub fn resource_scope(c: &ResourceChange, config: &Config) -> Value {
    let path: Vec<String> = c.addr.module.0.iter().map(|(n, _)| n.clone()).collect();
    let key = format!("{}.{}", c.addr.type_name, c.addr.name);
    let lifecycle = config
        .module(&path)
        .and_then(|m| m.resources.get(&key))
        .map(|b| b.lifecycle.clone())
        .unwrap_or_default();
    let module = c.addr.module.to_string();
    obj(vec![
        ("address", Value::from(c.addr.to_string())),
        ("block_address", Value::from(block_address(&c.addr))),
        ("mode", Value::from("managed")),
        ("type", Value::from(c.addr.type_name.as_str())),
        ("name", Value::from(c.addr.name.as_str())),
        ("index", key_value(&c.addr.key)),
        (
            "module_address",
            if module.is_empty() {
                Value::Null
            } else {
                Value::from(module)
            },
        ),
        ("provider", Value::from(c.provider.as_str())),
        (
            "lifecycle",
            obj(vec![
                ("prevent_destroy", Value::Bool(lifecycle.prevent_destroy)),
                (
                    "create_before_destroy",
                    Value::Bool(lifecycle.create_before_destroy),
                ),
            ]),
        ),
        (
            "depends_on",
            strings(c.dependencies.iter().map(String::as_str)),
        ),
    ])
}

/// `plan`: instance counts per action (`create`, `update`, `replace`,
/// `delete`, `no_op`, `read`, `forget`), Terraform's `add`/`change`/
/// `destroy`, and `resource_changes` (address, type, name, module_address,
/// mode, actions, after, depends_on of every change).
pub fn plan_scope(plan: &Plan) -> Value {
    let mut counts: BTreeMap<&str, i64> = [
        "create", "update", "replace", "delete", "no_op", "read", "forget",
    ]
    .into_iter()
    .map(|k| (k, 0))
    .collect();
    let mut changes = Vec::new();
    for c in &plan.changes {
        let k = match c.action {
            Action::Create => "create",
            Action::Update => "update",
            Action::DeleteThenCreate | Action::CreateThenDelete => "replace",
            Action::Delete => "delete",
            Action::NoOp => "no_op",
            Action::Read => "read",
            Action::Forget => "forget",
        };
        *counts.entry(k).or_default() += 1;
        let module = c.addr.module.to_string();
        changes.push(obj(vec![
            ("address", Value::from(c.addr.to_string())),
            ("block_address", Value::from(block_address(&c.addr))),
            (
                "mode",
                Value::from(if c.addr.mode == ResourceMode::Managed {
                    "managed"
                } else {
                    "data"
                }),
            ),
            ("type", Value::from(c.addr.type_name.as_str())),
            ("name", Value::from(c.addr.name.as_str())),
            (
                "module_address",
                if module.is_empty() {
                    Value::Null
                } else {
                    Value::from(module)
                },
            ),
            ("actions", strings(c.action.terraform_actions())),
            ("after", c.after.clone().unwrap_or(Value::Null)),
            (
                "depends_on",
                strings(c.dependencies.iter().map(String::as_str)),
            ),
        ]));
    }
    let (add, change, destroy) = plan.counts();
    let mut m: BTreeMap<String, Value> = counts
        .into_iter()
        .map(|(k, n)| (k.to_string(), Value::from(n)))
        .collect();
    m.insert("add".into(), Value::from(add as i64));
    m.insert("change".into(), Value::from(change as i64));
    m.insert("destroy".into(), Value::from(destroy as i64));
    m.insert("resource_changes".into(), Value::List(changes));
    Value::Map(m.into())
}

fn result(
    p: &Policy,
    c: &ResourceChange,
    status: PolicyStatus,
    message: Option<String>,
) -> PolicyResult {
    PolicyResult {
        policy: p.name.clone(),
        enforcement: p.enforcement.as_str().to_string(),
        address: c.addr.to_string(),
        resource_type: c.addr.type_name.clone(),
        status,
        message,
        source: p.range.clone(),
    }
}

/// Evaluate one policy in one scope.
fn decide(p: &Policy, c: &ResourceChange, scope: &PolicyScope) -> PolicyResult {
    match p.condition(scope) {
        Ok(v) => match v.unmarked() {
            Value::Bool(true) => result(p, c, PolicyStatus::Pass, None),
            Value::Bool(false) => result(p, c, PolicyStatus::Fail, Some(p.message(scope))),
            _ => result(p, c, PolicyStatus::Undecided, None),
        },
        Err(d) => {
            let text = d
                .iter()
                .map(|x| {
                    let at = x
                        .range
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default();
                    format!("{}{at}: {}", x.summary, x.detail)
                })
                .collect::<Vec<_>>()
                .join("; ");
            result(
                p,
                c,
                PolicyStatus::Error,
                Some(format!("the condition could not be evaluated: {text}")),
            )
        }
    }
}

/// Evaluate every policy against a plan.
pub fn evaluate(
    set: &PolicySet,
    plan: &Plan,
    config: &Config,
) -> Result<PolicyReport, EngineError> {
    let matchers = Matchers::new(set).map_err(|d| EngineError::config(d, set.sources.clone()))?;
    let plan_value = Arc::new(plan_scope(plan));
    let environment = Value::from(plan.environment.as_str());
    let mut results = Vec::new();
    for c in &plan.changes {
        let wanted: Vec<(usize, &Policy)> = set
            .policies
            .iter()
            .enumerate()
            .filter(|(i, p)| matchers.applies(*i, p, &plan.environment, c))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let scope = PolicyScope {
            change: change_scope(c, c.after.as_ref()),
            resource: resource_scope(c, config),
            environment: environment.clone(),
            plan: plan_value.clone(),
        };
        for (_, p) in wanted {
            results.push(decide(p, c, &scope));
        }
    }
    Ok(PolicyReport {
        format_version: POLICY_RESULTS_FORMAT.into(),
        environment: plan.environment.clone(),
        policies_hash: policies_hash(set),
        policies: set.policies.len(),
        results,
    })
}

struct GateState {
    /// Address → policies undecided at plan time.
    undecided: BTreeMap<String, BTreeSet<String>>,
    plan: Arc<Value>,
    environment: String,
    config: Arc<Config>,
}

/// The policies of an apply run: checked on the plan before anything
/// changes ([`PolicyGate::check_plan`]), and, for results undecided then,
/// on each object as it is applied ([`PolicyGate::check_change`]).
pub struct PolicyGate {
    pub set: Arc<PolicySet>,
    /// `policies_hash` of the saved plan file being applied, if any.
    pub saved_hash: Option<String>,
    state: OnceLock<GateState>,
    /// (address, policy) decided during apply, so each is told once.
    decided: std::sync::Mutex<BTreeSet<(String, String)>>,
}

impl PolicyGate {
    pub fn new(set: Arc<PolicySet>, saved_hash: Option<String>) -> PolicyGate {
        PolicyGate {
            set,
            saved_hash,
            state: OnceLock::new(),
            decided: std::sync::Mutex::new(BTreeSet::new()),
        }
    }

    /// Evaluate the policies on the plan about to be applied. A denied
    /// plan is an error (rendered with the policy files); otherwise the
    /// lines to tell the user (warnings, undecided results).
    pub fn check_plan(&self, plan: &Plan, env: &LoadedEnv) -> Result<Vec<String>, EngineError> {
        let report = evaluate(&self.set, plan, &env.config)?;
        let mut notes = Vec::new();
        if let Some(saved) = &self.saved_hash
            && *saved != report.policies_hash
        {
            notes.push(
                "The policies changed since this plan was saved: they were evaluated again on the saved plan."
                    .to_string(),
            );
        }
        if report.denied() {
            let mut d = report.diagnostics();
            d.0.retain(|x| x.is_error());
            return Err(EngineError::PolicyDenied {
                diags: d,
                sources: Box::new(self.set.sources.clone()),
            });
        }
        for r in &report.results {
            match r.status {
                PolicyStatus::Pass => {}
                PolicyStatus::Undecided => notes.push(r.line()),
                _ => notes.push(format!("Warning: {}", r.line())),
            }
        }
        let mut undecided: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in report
            .results
            .iter()
            .filter(|r| r.status == PolicyStatus::Undecided)
        {
            undecided
                .entry(r.address.clone())
                .or_default()
                .insert(r.policy.clone());
        }
        let _ = self.state.set(GateState {
            undecided,
            plan: Arc::new(plan_scope(plan)),
            environment: plan.environment.clone(),
            config: env.config.clone(),
        });
        Ok(notes)
    }

    /// Check the policies undecided at plan time for `c`, with `after` the
    /// object as re-planned before its provider call (`applied` false) or as
    /// created or updated (`applied` true). `Err` fails the change; `Ok`
    /// holds warnings to show. Unknown before the call waits for the call;
    /// unknown after it fails a deny policy.
    pub fn check_change(
        &self,
        c: &ResourceChange,
        after: &Value,
        applied: bool,
    ) -> Result<Vec<String>, String> {
        let Some(st) = self.state.get() else {
            return Ok(Vec::new());
        };
        let Some(names) = st.undecided.get(&c.addr.to_string()) else {
            return Ok(Vec::new());
        };
        let scope = PolicyScope {
            change: change_scope(c, Some(after)),
            resource: resource_scope(c, &st.config),
            environment: Value::from(st.environment.as_str()),
            plan: st.plan.clone(),
        };
        let mut notes = Vec::new();
        let mut errors = Vec::new();
        let address = c.addr.to_string();
        for p in self.set.policies.iter().filter(|p| names.contains(&p.name)) {
            let key = (address.clone(), p.name.clone());
            if self
                .decided
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&key)
            {
                continue;
            }
            let mut r = decide(p, c, &scope);
            if r.status == PolicyStatus::Undecided {
                if !applied {
                    continue;
                }
                r.status = PolicyStatus::Error;
                r.message = Some("the condition is still unknown after apply".into());
            }
            self.decided
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key);
            match r.status {
                PolicyStatus::Pass => {}
                _ if r.blocks() => errors.push(format!("denied at apply by {}", r.line())),
                _ => notes.push(format!("Warning: {}", r.line())),
            }
        }
        if errors.is_empty() {
            Ok(notes)
        } else {
            Err(errors.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use terrace_lang::Module;

    fn set(text: &str) -> PolicySet {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policies");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("p.tf"), text).unwrap();
        terrace_lang::load_policies(dir.path(), &[(p, true)])
            .map_err(|(d, _)| d)
            .unwrap()
    }

    fn change(addr: &str, action: Action, after: Option<Value>) -> ResourceChange {
        ResourceChange {
            addr: addr.parse().unwrap(),
            provider: "aws".into(),
            action,
            before: None,
            after,
            replace_paths: vec![],
            reason: None,
            dependencies: vec![],
            import_id: None,
            moved_from: None,
        }
    }

    fn plan(env: &str, changes: Vec<ResourceChange>) -> Plan {
        Plan::of_changes(env, changes)
    }

    fn config() -> Config {
        Config {
            root: Module::default(),
        }
    }

    fn bucket(mutability: Value) -> Option<Value> {
        Some(obj(vec![("image_tag_mutability", mutability)]))
    }

    const POLICIES: &str = r#"
policy "immutable" {
  environments   = ["stage", "pr-*"]
  resource_types = ["aws_ecr_*"]
  condition      = change.after.image_tag_mutability == "IMMUTABLE"
  error_message  = "${resource.address} must be immutable (${plan.create} to create)"
}

policy "soft" {
  resource_types = ["aws_ecr_repository"]
  enforcement    = "warn"
  condition      = change.after.image_tag_mutability == "IMMUTABLE"
}

policy "no-deletes" {
  actions   = ["delete"]
  condition = false
  error_message = "no deletes of ${resource.type}"
}
"#;

    #[test]
    fn globs_select_environments_and_types_and_deny_blocks() {
        let s = set(POLICIES);
        let p = plan(
            "pr-42",
            vec![
                change(
                    "aws_ecr_repository.a",
                    Action::Create,
                    bucket("MUTABLE".into()),
                ),
                change("aws_s3_bucket.b", Action::Create, bucket("MUTABLE".into())),
            ],
        );
        let r = evaluate(&s, &p, &config()).unwrap();
        let names: Vec<(&str, &str, PolicyStatus)> = r
            .results
            .iter()
            .map(|x| (x.policy.as_str(), x.address.as_str(), x.status))
            .collect();
        assert_eq!(
            names,
            [
                ("immutable", "aws_ecr_repository.a", PolicyStatus::Fail),
                ("soft", "aws_ecr_repository.a", PolicyStatus::Fail),
            ]
        );
        assert!(r.denied());
        assert_eq!(
            r.results[0].message.as_deref(),
            Some("aws_ecr_repository.a must be immutable (2 to create)")
        );
        assert_eq!(r.results[0].source.start.line, 2);
        assert_eq!(
            r.summary(),
            PolicySummary {
                passed: 0,
                denied: 1,
                warned: 1,
                undecided: 0
            }
        );
        // dev is not one of the environments: only the warning remains.
        let p = plan("dev", p.changes.clone());
        let r = evaluate(&s, &p, &config()).unwrap();
        assert!(!r.denied());
        assert_eq!(r.summary().warned, 1);
        let d = r.diagnostics();
        assert!(!d.has_errors());
        assert!(
            d.iter()
                .next()
                .unwrap()
                .range
                .as_ref()
                .unwrap()
                .filename
                .ends_with("p.tf")
        );
    }

    #[test]
    fn unknown_is_undecided_and_deletes_only_when_asked() {
        let s = set(POLICIES);
        let p = plan(
            "stage",
            vec![
                change(
                    "aws_ecr_repository.a",
                    Action::Create,
                    bucket(Value::Unknown),
                ),
                change("aws_ecr_repository.old", Action::Delete, None),
            ],
        );
        let r = evaluate(&s, &p, &config()).unwrap();
        let got: Vec<(&str, &str, PolicyStatus)> = r
            .results
            .iter()
            .map(|x| (x.policy.as_str(), x.address.as_str(), x.status))
            .collect();
        assert_eq!(
            got,
            [
                ("immutable", "aws_ecr_repository.a", PolicyStatus::Undecided),
                ("soft", "aws_ecr_repository.a", PolicyStatus::Undecided),
                ("no-deletes", "aws_ecr_repository.old", PolicyStatus::Fail),
            ]
        );
        assert_eq!(
            r.results[2].message.as_deref(),
            Some("no deletes of aws_ecr_repository")
        );
    }

    #[test]
    fn the_gate_checks_undecided_results_on_the_applied_object() {
        let s = Arc::new(set(POLICIES));
        let c = change(
            "aws_ecr_repository.a",
            Action::Create,
            bucket(Value::Unknown),
        );
        let p = plan("stage", vec![c.clone()]);
        let gate = PolicyGate::new(s, Some("old".into()));
        let report = evaluate(&gate.set, &p, &config()).unwrap();
        assert!(!report.denied());
        // check_plan needs a LoadedEnv; fill the state as it would.
        let _ = gate.state.set(GateState {
            undecided: [(
                "aws_ecr_repository.a".to_string(),
                ["immutable".to_string(), "soft".to_string()].into(),
            )]
            .into(),
            plan: Arc::new(plan_scope(&p)),
            environment: "stage".into(),
            config: Arc::new(config()),
        });
        // Still unknown before the call: wait for the object.
        assert_eq!(
            gate.check_change(&c, &bucket(Value::Unknown).unwrap(), false),
            Ok(vec![])
        );
        // Known and failing: the deny policy fails the change, once.
        let e = gate
            .check_change(&c, &bucket("MUTABLE".into()).unwrap(), true)
            .unwrap_err();
        assert!(e.contains("denied at apply by policy \"immutable\""), "{e}");
        assert!(e.contains("must be immutable"), "{e}");
        assert_eq!(
            gate.check_change(&c, &bucket("MUTABLE".into()).unwrap(), true),
            Ok(vec![])
        );
    }

    #[test]
    fn still_unknown_after_apply_fails_a_deny_policy() {
        let s = Arc::new(set(POLICIES));
        let c = change(
            "aws_ecr_repository.a",
            Action::Create,
            bucket(Value::Unknown),
        );
        let p = plan("stage", vec![c.clone()]);
        let gate = PolicyGate::new(s, None);
        let _ = gate.state.set(GateState {
            undecided: [(
                "aws_ecr_repository.a".to_string(),
                ["immutable".to_string()].into(),
            )]
            .into(),
            plan: Arc::new(plan_scope(&p)),
            environment: "stage".into(),
            config: Arc::new(config()),
        });
        let e = gate
            .check_change(&c, &bucket(Value::Unknown).unwrap(), true)
            .unwrap_err();
        assert!(e.contains("still unknown after apply"), "{e}");
    }

    #[test]
    fn an_invalid_glob_is_reported_at_the_policy() {
        let s = set("policy \"g\" {\n  resource_types = [\"aws_[\"]\n  condition = true\n}\n");
        let e = evaluate(&s, &plan("dev", vec![]), &config()).unwrap_err();
        let EngineError::Config { diags, .. } = &e else {
            panic!("{e}")
        };
        let t = diags.iter().next().unwrap().to_string();
        assert!(
            t.contains("not a valid glob") && t.contains("p.tf:1:1"),
            "{t}"
        );
    }
}
