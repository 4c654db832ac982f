//! The plan model: what will change and why. Computing a plan
//! ([`crate::plan`]) is separate from rendering it (the CLI) and from its
//! Terraform JSON shape ([`crate::planjson`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use terrace_core::{PathStep, ResourceAddr, Value, ValuePath};

/// What happens to one resource instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    /// Replace: delete the old object, then create the new one.
    DeleteThenCreate,
    /// Replace with `create_before_destroy`.
    CreateThenDelete,
    Delete,
    /// Read a data source during apply.
    Read,
    /// Drop the record from state and leave the object alone (a `removed`
    /// block with `lifecycle { destroy = false }`, Terraform 1.7+).
    Forget,
}

impl Action {
    /// Terraform's `change.actions` list.
    pub fn terraform_actions(self) -> Vec<&'static str> {
        match self {
            Action::NoOp => vec!["no-op"],
            Action::Create => vec!["create"],
            Action::Update => vec!["update"],
            Action::DeleteThenCreate => vec!["delete", "create"],
            Action::CreateThenDelete => vec!["create", "delete"],
            Action::Delete => vec!["delete"],
            Action::Read => vec!["read"],
            Action::Forget => vec!["forget"],
        }
    }

    /// The symbol of the human plan.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::DeleteThenCreate => "-/+",
            Action::CreateThenDelete => "+/-",
            Action::Delete => "-",
            Action::Read => "<=",
            Action::Forget => ".",
        }
    }

    pub fn is_replace(self) -> bool {
        matches!(self, Action::DeleteThenCreate | Action::CreateThenDelete)
    }
}

/// A planned change of one resource instance.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceChange {
    pub addr: ResourceAddr,
    /// `aws` or `aws.west`.
    pub provider: String,
    pub action: Action,
    /// The current object (refreshed), with sensitive marks.
    pub before: Option<Value>,
    /// The planned object, with unknowns and sensitive marks.
    pub after: Option<Value>,
    /// Paths whose change forces replacement.
    pub replace_paths: Vec<ValuePath>,
    /// Terraform's `action_reason`, e.g. `replace_because_cannot_update`.
    pub reason: Option<String>,
    /// Instance addresses this one depends on (recorded in state).
    pub dependencies: Vec<String>,
    /// Set when the object is adopted by an `import` block.
    pub import_id: Option<String>,
    /// Set when a `moved` block renamed the address.
    pub moved_from: Option<String>,
}

impl ResourceChange {
    pub fn address(&self) -> String {
        self.addr.to_string()
    }
}

/// A resource changed outside terrace since the last apply.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDrift {
    pub addr: ResourceAddr,
    pub provider: String,
    pub before: Value,
    /// `None`: deleted outside terrace.
    pub after: Option<Value>,
}

/// A planned change of a root output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputChange {
    pub action: Action,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub sensitive: bool,
}

/// What kind of plan this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    #[default]
    Normal,
    Destroy,
    RefreshOnly,
}

/// A complete plan for one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub environment: String,
    pub mode: PlanMode,
    /// The state the plan was made against (`None`: no state yet).
    pub prior_lineage: Option<String>,
    pub prior_serial: Option<u64>,
    /// A hash of every configuration file, so a plan file is refused once the
    /// configuration changed.
    pub config_hash: String,
    pub changes: Vec<ResourceChange>,
    pub drift: Vec<ResourceDrift>,
    pub outputs: BTreeMap<String, OutputChange>,
    /// Root variables the plan was made with (re-used by `apply FILE`).
    pub variables: BTreeMap<String, Value>,
    /// The refreshed objects (for `--refresh-only`), by address.
    pub refreshed: BTreeMap<String, Option<Value>>,
    pub targets: Vec<String>,
    /// Warnings found while planning (e.g. pending intents).
    pub warnings: Vec<String>,
    /// The configuration as Terraform's plan JSON writes it
    /// (`configuration`, see [`terrace_lang::configuration_json`]); kept in
    /// plan files so `show -json FILE` has it. `None` for plans made
    /// without a configuration at hand.
    pub configuration: Option<serde_json::Value>,
}

impl Plan {
    /// A normal-mode plan of `changes` alone: no prior state, outputs,
    /// variables or drift (for plans made of objects rather than planned,
    /// such as drift's live objects, and for tests).
    pub fn of_changes(environment: &str, changes: Vec<ResourceChange>) -> Plan {
        Plan {
            environment: environment.to_string(),
            mode: PlanMode::Normal,
            prior_lineage: None,
            prior_serial: None,
            config_hash: String::new(),
            changes,
            drift: vec![],
            outputs: BTreeMap::new(),
            variables: BTreeMap::new(),
            refreshed: BTreeMap::new(),
            targets: vec![],
            warnings: vec![],
            configuration: None,
        }
    }

    /// Changes that do something (not no-ops).
    pub fn effective_changes(&self) -> impl Iterator<Item = &ResourceChange> {
        self.changes.iter().filter(|c| c.action != Action::NoOp)
    }

    /// True if applying would change anything (resources, outputs, or, for
    /// refresh-only, accepted drift).
    pub fn has_changes(&self) -> bool {
        match self.mode {
            PlanMode::RefreshOnly => !self.drift.is_empty(),
            _ => {
                self.effective_changes().next().is_some()
                    // Imports and moves rewrite state even when the object is unchanged.
                    || self.changes.iter().any(|c| c.import_id.is_some() || c.moved_from.is_some())
                    || self.outputs.values().any(|o| o.action != Action::NoOp)
                    // Records of objects deleted outside terrace leave state.
                    || !self.gone().is_empty()
            }
        }
    }

    /// Managed instances whose objects were deleted outside terrace and that
    /// the plan does not create again: applying drops their records from
    /// state (within `targets`, when the plan has any). Sorted.
    pub fn gone(&self) -> Vec<String> {
        if self.mode == PlanMode::RefreshOnly {
            return Vec::new();
        }
        let targets: Vec<ResourceAddr> =
            self.targets.iter().filter_map(|t| t.parse().ok()).collect();
        let mut out: Vec<String> = self
            .drift
            .iter()
            .filter(|d| d.after.is_none() && d.addr.mode == terrace_core::ResourceMode::Managed)
            .filter(|d| {
                targets.is_empty()
                    || targets
                        .iter()
                        .any(|t| crate::plan::target_matches(t, &d.addr))
            })
            .filter(|d| {
                !self
                    .changes
                    .iter()
                    .any(|c| c.addr == d.addr && c.action != Action::NoOp)
            })
            .map(|d| d.addr.to_string())
            .collect();
        out.sort();
        out
    }

    /// (to add, to change, to destroy) as Terraform counts them.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut add = 0;
        let mut change = 0;
        let mut destroy = 0;
        for c in &self.changes {
            match c.action {
                Action::Create => add += 1,
                Action::Update => change += 1,
                Action::DeleteThenCreate | Action::CreateThenDelete => {
                    add += 1;
                    destroy += 1;
                }
                Action::Delete => destroy += 1,
                Action::NoOp | Action::Read | Action::Forget => {}
            }
        }
        (add, change, destroy)
    }

    /// Instances a `removed { lifecycle { destroy = false } }` block drops
    /// from state.
    pub fn forgets(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.action == Action::Forget)
            .count()
    }

    pub fn imports(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.import_id.is_some())
            .count()
    }
}

// ---- plan files ----------------------------------------------------------

/// The on-disk form of a plan (`plan -out FILE`). Values use the lossless
/// tagged JSON of [`Value::to_tagged_json`]. Written through
/// [`crate::plansecrets::encode`], which takes every sensitive value out
/// (sealed with the state key, or left out and evaluated again at apply)
/// and adds a `secrets` section; read through
/// [`crate::plansecrets::SavedPlan`].
#[derive(Debug, Serialize, Deserialize)]
pub struct PlanFile {
    pub terrace_plan_format: u32,
    pub terrace_version: String,
    pub environment: String,
    pub mode: PlanMode,
    pub prior_lineage: Option<String>,
    pub prior_serial: Option<u64>,
    pub config_hash: String,
    pub changes: Vec<PlanFileChange>,
    pub drift: Vec<PlanFileDrift>,
    pub outputs: BTreeMap<String, PlanFileOutput>,
    pub variables: BTreeMap<String, serde_json::Value>,
    pub refreshed: BTreeMap<String, Option<serde_json::Value>>,
    pub targets: Vec<String>,
    pub warnings: Vec<String>,
    /// For a plan made by `terrace rollback --out`: the ledger record whose
    /// configuration snapshot it returns to. `apply FILE` restores that
    /// snapshot (the plan was made against it, not the working directory)
    /// and records the run as a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
    /// Who made the plan, for the approvals of protected environments
    /// (see [`crate::guard`]); covered by the file's hash like the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<crate::guard::PlanFileGuard>,
    /// Terraform's `configuration` section of the plan JSON (no values
    /// marked sensitive in it: see [`terrace_lang::configuration_json`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PlanFileChange {
    pub address: String,
    pub provider: String,
    pub action: Action,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub replace_paths: Vec<Vec<PathStep>>,
    pub reason: Option<String>,
    pub dependencies: Vec<String>,
    pub import_id: Option<String>,
    pub moved_from: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PlanFileDrift {
    pub address: String,
    pub provider: String,
    pub before: serde_json::Value,
    pub after: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PlanFileOutput {
    pub action: Action,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub sensitive: bool,
}

/// The plan-file format version. 2: sensitive values are placeholders
/// (`plansecrets`), so an older terrace, which would apply the placeholders
/// as values, refuses the file. Format 1 files are still read.
pub const PLAN_FORMAT: u32 = 2;

fn tagged(v: &Option<Value>) -> Option<serde_json::Value> {
    v.as_ref().map(Value::to_tagged_json)
}

fn untagged(v: &Option<serde_json::Value>) -> Option<Value> {
    v.as_ref().map(Value::from_tagged_json)
}

impl Plan {
    pub fn to_file(&self) -> PlanFile {
        PlanFile {
            terrace_plan_format: PLAN_FORMAT,
            terrace_version: env!("CARGO_PKG_VERSION").to_string(),
            environment: self.environment.clone(),
            mode: self.mode,
            prior_lineage: self.prior_lineage.clone(),
            prior_serial: self.prior_serial,
            config_hash: self.config_hash.clone(),
            changes: self
                .changes
                .iter()
                .map(|c| PlanFileChange {
                    address: c.addr.to_string(),
                    provider: c.provider.clone(),
                    action: c.action,
                    before: tagged(&c.before),
                    after: tagged(&c.after),
                    replace_paths: c.replace_paths.clone(),
                    reason: c.reason.clone(),
                    dependencies: c.dependencies.clone(),
                    import_id: c.import_id.clone(),
                    moved_from: c.moved_from.clone(),
                })
                .collect(),
            drift: self
                .drift
                .iter()
                .map(|d| PlanFileDrift {
                    address: d.addr.to_string(),
                    provider: d.provider.clone(),
                    before: d.before.to_tagged_json(),
                    after: tagged(&d.after),
                })
                .collect(),
            outputs: self
                .outputs
                .iter()
                .map(|(k, o)| {
                    (
                        k.clone(),
                        PlanFileOutput {
                            action: o.action,
                            before: tagged(&o.before),
                            after: tagged(&o.after),
                            sensitive: o.sensitive,
                        },
                    )
                })
                .collect(),
            variables: self
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), v.to_tagged_json()))
                .collect(),
            refreshed: self
                .refreshed
                .iter()
                .map(|(k, v)| (k.clone(), tagged(v)))
                .collect(),
            targets: self.targets.clone(),
            warnings: self.warnings.clone(),
            rollback_of: None,
            guard: None,
            configuration: self.configuration.clone(),
        }
    }

    pub fn from_file(f: PlanFile) -> Result<Plan, String> {
        if f.terrace_plan_format != PLAN_FORMAT {
            return Err(format!(
                "plan file format {} is not supported by this terrace (expects {PLAN_FORMAT}); run `terrace plan -out` again",
                f.terrace_plan_format
            ));
        }
        let parse = |s: &str| {
            s.parse::<ResourceAddr>()
                .map_err(|e| format!("plan file: {e}"))
        };
        Ok(Plan {
            environment: f.environment,
            mode: f.mode,
            prior_lineage: f.prior_lineage,
            prior_serial: f.prior_serial,
            config_hash: f.config_hash,
            changes: f
                .changes
                .into_iter()
                .map(|c| {
                    Ok(ResourceChange {
                        addr: parse(&c.address)?,
                        provider: c.provider,
                        action: c.action,
                        before: untagged(&c.before),
                        after: untagged(&c.after),
                        replace_paths: c.replace_paths,
                        reason: c.reason,
                        dependencies: c.dependencies,
                        import_id: c.import_id,
                        moved_from: c.moved_from,
                    })
                })
                .collect::<Result<_, String>>()?,
            drift: f
                .drift
                .into_iter()
                .map(|d| {
                    Ok(ResourceDrift {
                        addr: parse(&d.address)?,
                        provider: d.provider,
                        before: Value::from_tagged_json(&d.before),
                        after: untagged(&d.after),
                    })
                })
                .collect::<Result<_, String>>()?,
            outputs: f
                .outputs
                .into_iter()
                .map(|(k, o)| {
                    (
                        k,
                        OutputChange {
                            action: o.action,
                            before: untagged(&o.before),
                            after: untagged(&o.after),
                            sensitive: o.sensitive,
                        },
                    )
                })
                .collect(),
            variables: f
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), Value::from_tagged_json(v)))
                .collect(),
            refreshed: f
                .refreshed
                .iter()
                .map(|(k, v)| (k.clone(), untagged(v)))
                .collect(),
            targets: f.targets,
            warnings: f.warnings,
            configuration: f.configuration,
        })
    }
}

// ---- attribute diffs -----------------------------------------------------

/// One attribute-level difference between two objects.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrDiff {
    pub path: ValuePath,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Leaf-level differences between two objects. Maps recurse; lists and sets
/// are compared whole (rendering shows them element-wise).
pub fn diff_values(before: &Value, after: &Value) -> Vec<AttrDiff> {
    let mut out = Vec::new();
    diff_at(before, after, &mut Vec::new(), &mut out);
    out
}

fn diff_at(before: &Value, after: &Value, at: &mut ValuePath, out: &mut Vec<AttrDiff>) {
    match (before.unmarked(), after.unmarked()) {
        (Value::Map(a), Value::Map(b)) if !before.is_sensitive() && !after.is_sensitive() => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                at.push(PathStep::Key(k.clone()));
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff_at(x, y, at, out),
                    (Some(x), None) if !x.is_null() => out.push(AttrDiff {
                        path: at.clone(),
                        before: Some(x.clone()),
                        after: None,
                    }),
                    (None, Some(y)) if !y.is_null() => out.push(AttrDiff {
                        path: at.clone(),
                        before: None,
                        after: Some(y.clone()),
                    }),
                    _ => {}
                }
                at.pop();
            }
        }
        _ => {
            if !equal_ignoring_marks(before, after) || after.is_unknown() {
                out.push(AttrDiff {
                    path: at.clone(),
                    before: Some(before.clone()),
                    after: Some(after.clone()),
                });
            }
        }
    }
}

/// Structural equality ignoring sensitive marks (unknown never equals).
/// Lists and sets with the same elements in the same order are equal (state
/// stores both as JSON arrays).
pub fn equal_ignoring_marks(a: &Value, b: &Value) -> bool {
    // Walked in place: converting both sides to JSON to compare them
    // allocated two trees per resource instance in every plan.
    match (a.unmarked(), b.unmarked()) {
        (Value::Unknown, _) | (_, Value::Unknown) => false,
        (Value::Map(x), Value::Map(y)) if terrace_core::ObjectMap::ptr_eq(x, y) => {
            x.values().all(Value::is_wholly_known)
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && equal_ignoring_marks(va, vb))
        }
        // JSON does not tell lists from sets; neither does this.
        (Value::List(xs) | Value::Set(xs), Value::List(ys) | Value::Set(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .zip(ys.iter())
                    .all(|(x, y)| equal_ignoring_marks(x, y))
        }
        (x, y) => x == y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_ignores_marks_and_never_equates_unknowns() {
        let obj = |input: Value| Value::map([("id", Value::from("a")), ("input", input)]);
        // Sensitive marks do not count, at any depth.
        assert!(equal_ignoring_marks(
            &obj(Value::from("x")),
            &obj(Value::from("x").mark_sensitive())
        ));
        assert!(!equal_ignoring_marks(
            &obj(Value::from("x")),
            &obj(Value::from("y").mark_sensitive())
        ));
        // A list and a set holding the same elements are one JSON array.
        assert!(equal_ignoring_marks(
            &Value::List(vec![Value::from(1i64)]),
            &Value::Set(vec![Value::from(1i64)])
        ));
        assert!(!equal_ignoring_marks(
            &Value::List(vec![Value::from(1i64)]),
            &Value::List(vec![Value::from(1i64), Value::from(2i64)])
        ));
        // Numbers compare by value, strings and numbers never equal.
        assert!(equal_ignoring_marks(
            &Value::from(1.0f64),
            &Value::from(1i64)
        ));
        assert!(!equal_ignoring_marks(&Value::from("1"), &Value::from(1i64)));
        // An unknown is never equal, even to itself, even inside one shared map.
        let unknown = obj(Value::Unknown);
        let shared = unknown.clone();
        assert!(!equal_ignoring_marks(&unknown, &shared));
        assert!(!equal_ignoring_marks(&Value::Unknown, &Value::Unknown));
        let known = obj(Value::from("x"));
        assert!(equal_ignoring_marks(&known, &known.clone()));
        // A missing key differs from a null one (JSON keeps the key).
        assert!(!equal_ignoring_marks(
            &Value::map([("a", Value::Null)]),
            &Value::map::<&str>([])
        ));
    }

    #[test]
    fn diff_finds_leaf_changes_only() {
        let a = Value::map([
            ("id", Value::from("i-1")),
            (
                "tags",
                Value::map([("Name", Value::from("a")), ("Team", Value::from("x"))]),
            ),
        ]);
        let b = Value::map([
            ("id", Value::from("i-1")),
            (
                "tags",
                Value::map([("Name", Value::from("b")), ("Team", Value::from("x"))]),
            ),
        ]);
        let d = diff_values(&a, &b);
        assert_eq!(d.len(), 1);
        assert_eq!(terrace_core::value::path_to_string(&d[0].path), "tags.Name");
    }

    #[test]
    fn counts_follow_terraform() {
        let mk = |action| ResourceChange {
            addr: ResourceAddr::managed("t", "x"),
            provider: "p".into(),
            action,
            before: None,
            after: None,
            replace_paths: vec![],
            reason: None,
            dependencies: vec![],
            import_id: None,
            moved_from: None,
        };
        let plan = Plan::of_changes(
            "dev",
            vec![
                mk(Action::Create),
                mk(Action::DeleteThenCreate),
                mk(Action::Update),
                mk(Action::NoOp),
            ],
        );
        assert_eq!(plan.counts(), (2, 1, 1));
        let back = Plan::from_file(
            serde_json::from_str(&serde_json::to_string(&plan.to_file()).unwrap()).unwrap(),
        );
        assert_eq!(back.unwrap(), plan);
    }
}
