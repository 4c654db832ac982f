//! Policy files: `policy "NAME" { … }` blocks in the `.tf` files of the
//! project's policy folders (`policies/` by default, or the folders that
//! `policies = [...]` in `terrace.hcl` names), in the Terraform expression
//! language — no new language. This module parses them (diagnostics at
//! file:line:col) and evaluates a policy's `condition` and `error_message`
//! in a scope the engine builds per planned change: `change`, `resource`,
//! `environment` (bound names) and `plan` (resolved by reference, so a large
//! plan is shared rather than copied). Unknown values stay unknown and
//! sensitive marks propagate, exactly as in the rest of the language; which
//! changes a policy applies to, and what a result means, is the engine's
//! business (`terrace_engine::policy`).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hcl_edit::expr::Expression;
use hcl_edit::structure::Structure;
use terrace_core::{Diagnostic, Diagnostics, SourceRange, Value};

use crate::config::header_span;
use crate::eval::{Ctx, Env, eval_const};
use crate::refs::{RefSubject, span_of};
use crate::source::{SourceFile, SourceMap};
use crate::suggest::did_you_mean;

/// `enforcement` of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    /// A failed condition blocks the plan (exit 1) and its apply.
    Deny,
    /// A failed condition is reported; nothing is blocked.
    Warn,
}

impl Enforcement {
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Deny => "deny",
            Enforcement::Warn => "warn",
        }
    }
}

/// The actions a policy is evaluated for when it has no `actions` argument:
/// every change that leaves an object (replacements include `create`).
pub const DEFAULT_POLICY_ACTIONS: &[&str] = &["create", "update", "no-op"];

/// Terraform's action names a policy's `actions` may list.
pub const POLICY_ACTIONS: &[&str] = &["create", "update", "delete", "no-op", "forget"];

/// The names a policy expression may refer to.
pub const POLICY_SCOPE: &[&str] = &["change", "resource", "environment", "plan"];

/// One `policy` block.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    /// The block header (`policy "cost-tags"`).
    pub range: SourceRange,
    /// Environment name globs; empty means every environment.
    pub environments: Vec<String>,
    /// Resource type globs; empty means every managed type.
    pub resource_types: Vec<String>,
    /// Terraform action names the policy is evaluated for.
    pub actions: Vec<String>,
    pub enforcement: Enforcement,
    /// Where the condition is, for diagnostics.
    pub condition_range: SourceRange,
    condition: Expression,
    error_message: Option<Expression>,
    file: Arc<SourceFile>,
}

/// What a policy is evaluated against: one planned change.
pub struct PolicyScope {
    /// `{ actions, before, after }`.
    pub change: Value,
    /// `{ address, type, name, … }`.
    pub resource: Value,
    /// The environment's name.
    pub environment: Value,
    /// Counts per action and `resource_changes`; shared between changes.
    pub plan: Arc<Value>,
}

impl PolicyScope {
    /// A scope where everything is unknown (used to check a policy's
    /// references and functions when it is loaded).
    pub fn unknown() -> PolicyScope {
        PolicyScope {
            change: Value::Unknown,
            resource: Value::Unknown,
            environment: Value::Unknown,
            plan: Arc::new(Value::Unknown),
        }
    }
}

struct PolicyEnv<'a> {
    plan: &'a Value,
    base_dir: &'a Path,
}

impl Env for PolicyEnv<'_> {
    fn resolve(
        &self,
        subject: &RefSubject,
        span: Range<usize>,
        file: &SourceFile,
    ) -> Result<Arc<Value>, Diagnostics> {
        let bad = |what: String| -> Diagnostics {
            Diagnostic::error(
                "Invalid reference in a policy",
                format!(
                    "{what} is not available in a policy: a policy sees only change (actions, before, after), resource (address, type, name, …), environment and plan (counts per action, resource_changes)."
                ),
            )
            .at(Some(file.range(span.clone())))
            .into()
        };
        match subject {
            RefSubject::Resource {
                mode: terrace_core::ResourceMode::Managed,
                type_name,
                name,
            } if type_name == "plan" => match self.plan.unmarked() {
                Value::Unknown => Ok(Arc::new(Value::Unknown)),
                Value::Map(m) => match m.get(name) {
                    Some(v) => Ok(Arc::new(v.clone())),
                    None => Err(Diagnostic::error(
                        "Unsupported attribute",
                        format!(
                            "plan has no attribute named \"{name}\".{} It has: {}.",
                            did_you_mean(name, m.keys().map(String::as_str)),
                            m.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    )
                    .at(Some(file.range(span.clone())))
                    .into()),
                },
                _ => Err(bad("plan".into())),
            },
            RefSubject::Var(n) => Err(bad(format!("var.{n}"))),
            RefSubject::Local(n) => Err(bad(format!("local.{n}"))),
            RefSubject::Module(n) => Err(bad(format!("module.{n}"))),
            RefSubject::Resource {
                type_name, name, ..
            } => Err(bad(format!("{type_name}.{name}"))),
            RefSubject::Count(_) => Err(bad("count".into())),
            RefSubject::Each(_) => Err(bad("each".into())),
            RefSubject::Path(_) => Err(bad("path".into())),
            RefSubject::Terrace(_) | RefSubject::Terraform(_) => {
                Err(bad("terrace.* (use environment)".into()))
            }
        }
    }
    fn base_dir(&self) -> &Path {
        self.base_dir
    }
}

impl Policy {
    fn eval(&self, e: &Expression, scope: &PolicyScope) -> Result<Value, Diagnostics> {
        let base = self.file.path.parent().unwrap_or(Path::new("."));
        let env = PolicyEnv {
            plan: &scope.plan,
            base_dir: base,
        };
        let mut ctx = Ctx::new(&self.file, &env);
        ctx.bindings = vec![
            ("change".to_string(), scope.change.clone()),
            ("resource".to_string(), scope.resource.clone()),
            ("environment".to_string(), scope.environment.clone()),
        ];
        ctx.eval(e)
    }

    /// The condition: `Bool` (possibly marked sensitive) or `Unknown`.
    /// Anything else is an error at the condition.
    pub fn condition(&self, scope: &PolicyScope) -> Result<Value, Diagnostics> {
        let v = self.eval(&self.condition, scope)?;
        let (raw, sensitive) = v.into_unmarked();
        let out = match raw {
            Value::Unknown => Value::Unknown,
            Value::Null => {
                return Err(Diagnostic::error(
                    "Invalid policy condition",
                    format!(
                        "The condition of policy \"{}\" is null; it must be true or false (wrap optional attributes in try(…, false)).",
                        self.name
                    ),
                )
                .at(Some(self.condition_range.clone()))
                .into());
            }
            other => match crate::types::convert(other, &crate::types::TypeConstraint::Bool) {
                Ok(b) => b,
                Err(e) => {
                    return Err(Diagnostic::error(
                        "Invalid policy condition",
                        format!(
                            "The condition of policy \"{}\" must be a bool: {e}.",
                            self.name
                        ),
                    )
                    .at(Some(self.condition_range.clone()))
                    .into());
                }
            },
        };
        Ok(out.mark_if(sensitive))
    }

    /// The message for a failed condition. A sensitive or unknown message
    /// is never shown; the reason is said instead.
    pub fn message(&self, scope: &PolicyScope) -> String {
        let Some(e) = &self.error_message else {
            return format!("policy \"{}\" failed", self.name);
        };
        match self.eval(e, scope) {
            Ok(v) if v.contains_sensitive() => {
                "(the error message includes a sensitive value, so it is not displayed)".into()
            }
            Ok(Value::String(s)) => s.to_string(),
            Ok(Value::Unknown) => format!(
                "policy \"{}\" failed (its error message refers to values known only after apply)",
                self.name
            ),
            Ok(other) => other.to_json_lossy().to_string(),
            Err(d) => format!(
                "policy \"{}\" failed (its error message could not be evaluated: {})",
                self.name,
                d.iter()
                    .map(|x| x.detail.clone())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    }

    /// Whether `actions` (Terraform's action list of a change) is one this
    /// policy is evaluated for.
    pub fn wants_actions(&self, actions: &[&str]) -> bool {
        actions.iter().any(|a| self.actions.iter().any(|x| x == a))
    }
}

/// Every policy of a project, with the files they came from.
#[derive(Debug, Default, Clone)]
pub struct PolicySet {
    pub policies: Vec<Policy>,
    /// The policy files, for rendering diagnostics.
    pub sources: SourceMap,
    /// (display name, text) of every policy file, sorted (for hashing).
    pub files: Vec<(String, Arc<str>)>,
}

impl PolicySet {
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}

impl crate::project::Project {
    /// The policy folders: those `policies = [...]` names (each must
    /// exist), else `policies/` beside terrace.hcl when it exists.
    pub fn policy_dirs(&self) -> Vec<(PathBuf, bool)> {
        match &self.policies {
            Some(dirs) => dirs.iter().map(|d| (d.clone(), true)).collect(),
            None => vec![(self.root.join("policies"), false)],
        }
    }

    /// Load the project's policies ([`load_policies`] over [`Self::policy_dirs`]).
    pub fn load_policies(&self) -> Result<PolicySet, (Diagnostics, SourceMap)> {
        load_policies(&self.root, &self.policy_dirs())
    }
}

/// Load the `policy` blocks of every `.tf` file directly in `dirs`. A
/// folder in `required` that does not exist is an error (it was named in
/// terrace.hcl); one that is not is skipped (the default `policies/`).
/// All diagnostics are returned together, with the set loaded so far.
pub fn load_policies(
    root: &Path,
    dirs: &[(PathBuf, bool)],
) -> Result<PolicySet, (Diagnostics, SourceMap)> {
    let mut set = PolicySet {
        sources: SourceMap::with_root(root),
        ..Default::default()
    };
    let mut diags = Diagnostics::new();
    for (dir, required) in dirs {
        if !dir.is_dir() {
            if *required {
                diags.push(Diagnostic::error(
                    "Policy folder not found",
                    format!(
                        "{} (named in terrace.hcl `policies`) is not a folder; create it or remove it from the list.",
                        dir.display()
                    ),
                ));
            }
            continue;
        }
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "tf"))
                .collect(),
            Err(e) => {
                diags.push(Diagnostic::error(
                    "Cannot read policy folder",
                    format!("{}: {e}", dir.display()),
                ));
                continue;
            }
        };
        paths.sort();
        for path in paths {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    diags.push(Diagnostic::error(
                        "Cannot read policy file",
                        format!("{}: {e}", path.display()),
                    ));
                    continue;
                }
            };
            let file = set.sources.add(&path, text);
            set.files
                .push((file.name.to_string(), Arc::from(file.text())));
            parse_file(&file, &mut set.policies, &mut diags);
        }
    }
    set.files.sort();
    if diags.has_errors() {
        Err((diags, set.sources))
    } else {
        Ok(set)
    }
}

fn parse_file(file: &Arc<SourceFile>, out: &mut Vec<Policy>, diags: &mut Diagnostics) {
    let body = match hcl_edit::parser::parse_body(file.text()) {
        Ok(b) => b,
        Err(e) => {
            let off = e.location().offset();
            diags.push(
                Diagnostic::error("Syntax error", format!("Invalid HCL: {}.", e.message()))
                    .at(Some(file.range(off..off + 1))),
            );
            return;
        }
    };
    let err = |span: Range<usize>, summary: &str, detail: String| {
        Diagnostic::error(summary, detail).at(Some(file.range(span)))
    };
    for s in body.iter() {
        let b = match s {
            Structure::Block(b) if b.ident.as_str() == "policy" => b,
            Structure::Block(b) => {
                diags.push(err(
                    span_of(&b.ident),
                    "Unsupported block type",
                    format!(
                        "Blocks of type \"{}\" are not expected in a policy file; it holds only policy \"NAME\" {{ … }} blocks.",
                        b.ident.as_str()
                    ),
                ));
                continue;
            }
            Structure::Attribute(a) => {
                diags.push(err(
                    span_of(&a.key),
                    "Unsupported argument",
                    "A policy file holds only policy \"NAME\" { … } blocks.".into(),
                ));
                continue;
            }
        };
        let name = match b.labels.as_slice() {
            [l] if !l.as_str().is_empty() => l.as_str().to_string(),
            _ => {
                diags.push(err(
                    header_span(b),
                    "Missing name for policy",
                    "A policy block takes one label, its name: policy \"cost-tags\" { … }.".into(),
                ));
                continue;
            }
        };
        let range = file.range(header_span(b));
        if let Some(first) = out.iter().find(|p| p.name == name) {
            diags.push(
                Diagnostic::error(
                    "Duplicate policy",
                    format!(
                        "A policy named \"{name}\" was already declared at {}; policy names must be unique across the policy folders.",
                        first.range
                    ),
                )
                .at(Some(range.clone())),
            );
            continue;
        }
        let mut environments = Vec::new();
        let mut resource_types = Vec::new();
        let mut actions: Vec<String> = DEFAULT_POLICY_ACTIONS
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut enforcement = Enforcement::Deny;
        let mut condition = None;
        let mut error_message = None;
        let base = file.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let strings = |e: &Expression, what: &str, diags: &mut Diagnostics| -> Vec<String> {
            match eval_const(e, file, &base) {
                Ok(Value::List(xs)) | Ok(Value::Set(xs)) => {
                    let mut out = Vec::new();
                    for x in xs {
                        match x {
                            Value::String(s) if !s.is_empty() => out.push(s.to_string()),
                            other => diags.push(err(
                                span_of(e),
                                "Incorrect attribute value type",
                                format!(
                                    "{what} must be a list of non-empty strings; {} is not one.",
                                    other.to_json_lossy()
                                ),
                            )),
                        }
                    }
                    out
                }
                Ok(other) => {
                    diags.push(err(
                        span_of(e),
                        "Incorrect attribute value type",
                        format!(
                            "{what} must be a list of strings (e.g. [\"stage\", \"pr-*\"]), not a {}.",
                            other.type_name()
                        ),
                    ));
                    Vec::new()
                }
                Err(d) => {
                    diags.extend(d);
                    Vec::new()
                }
            }
        };
        for s in b.body.iter() {
            let a = match s {
                Structure::Attribute(a) => a,
                Structure::Block(x) => {
                    diags.push(err(
                        span_of(&x.ident),
                        "Unsupported block type",
                        format!(
                            "Blocks of type \"{}\" are not expected in a policy block.",
                            x.ident.as_str()
                        ),
                    ));
                    continue;
                }
            };
            match a.key.as_str() {
                "environments" => environments = strings(&a.value, "environments", diags),
                "resource_types" => resource_types = strings(&a.value, "resource_types", diags),
                "actions" => {
                    let list = strings(&a.value, "actions", diags);
                    for x in &list {
                        if !POLICY_ACTIONS.contains(&x.as_str()) {
                            diags.push(err(
                                span_of(&a.value),
                                "Invalid policy action",
                                format!(
                                    "\"{x}\" is not an action; use {} (a replacement counts as both delete and create).",
                                    POLICY_ACTIONS.join(", ")
                                ),
                            ));
                        }
                    }
                    actions = list;
                }
                "enforcement" => match eval_const(&a.value, file, &base) {
                    Ok(Value::String(s)) if s == "deny" => enforcement = Enforcement::Deny,
                    Ok(Value::String(s)) if s == "warn" => enforcement = Enforcement::Warn,
                    Ok(other) => diags.push(err(
                        span_of(&a.value),
                        "Invalid enforcement",
                        format!(
                            "enforcement must be \"deny\" (block the plan) or \"warn\" (report only), not {}.",
                            other.to_json_lossy()
                        ),
                    )),
                    Err(d) => diags.extend(d),
                },
                "condition" => condition = Some((a.value.clone(), span_of(&a.value))),
                "error_message" => error_message = Some(a.value.clone()),
                other => diags.push(err(
                    span_of(&a.key),
                    "Unsupported argument",
                    format!(
                        "An argument named \"{other}\" is not expected in a policy block.{}",
                        did_you_mean(
                            other,
                            [
                                "environments",
                                "resource_types",
                                "actions",
                                "enforcement",
                                "condition",
                                "error_message"
                            ]
                        )
                    ),
                )),
            }
        }
        let Some((condition, cspan)) = condition else {
            diags.push(err(
                header_span(b),
                "Missing required argument",
                format!(
                    "Policy \"{name}\" needs a condition: an expression that is true when the change complies, e.g. condition = contains(keys(change.after.tags_all), \"Owner\")."
                ),
            ));
            continue;
        };
        let policy = Policy {
            name,
            range,
            environments,
            resource_types,
            actions,
            enforcement,
            condition_range: file.range(cspan),
            condition,
            error_message,
            file: file.clone(),
        };
        // Check references and functions now, with everything unknown, so a
        // typo is reported at load rather than on the first matching change.
        if let Err(d) = policy.eval(&policy.condition, &PolicyScope::unknown()) {
            diags.extend(d);
            continue;
        }
        if let Some(m) = &policy.error_message
            && let Err(d) = policy.eval(m, &PolicyScope::unknown())
        {
            diags.extend(d);
            continue;
        }
        out.push(policy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn load(text: &str) -> Result<PolicySet, Diagnostics> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policies");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("main.tf"), text).unwrap();
        load_policies(dir.path(), &[(p, true)]).map_err(|(d, _)| d)
    }

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            (pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>())
            .into(),
        )
    }

    fn scope(after: Value) -> PolicyScope {
        PolicyScope {
            change: obj(&[
                ("actions", Value::List(vec![Value::from("create")])),
                ("before", Value::Null),
                ("after", after),
            ]),
            resource: obj(&[("address", Value::from("aws_s3_bucket.b"))]),
            environment: Value::from("stage"),
            plan: Arc::new(obj(&[("create", Value::from(3_i64))])),
        }
    }

    const TAGS: &str = r#"
policy "cost-tags" {
  environments   = ["stage", "pr-*"]
  resource_types = ["aws_s3_*"]
  enforcement    = "warn"
  condition      = alltrue([for k in ["CostCenter", "Owner"] : contains(keys(change.after.tags_all), k)])
  error_message  = "${resource.address} in ${environment} needs CostCenter and Owner (plan creates ${plan.create})"
}
"#;

    #[test]
    fn parses_and_evaluates_known_values() {
        let set = load(TAGS).unwrap();
        let p = &set.policies[0];
        assert_eq!(p.environments, ["stage", "pr-*"]);
        assert_eq!(p.enforcement, Enforcement::Warn);
        assert_eq!(p.actions, DEFAULT_POLICY_ACTIONS);
        let tagged = scope(obj(&[(
            "tags_all",
            obj(&[
                ("CostCenter", Value::from("x")),
                ("Owner", Value::from("y")),
            ]),
        )]));
        assert_eq!(p.condition(&tagged).unwrap(), Value::Bool(true));
        let untagged = scope(obj(&[("tags_all", obj(&[("Owner", Value::from("y"))]))]));
        assert_eq!(p.condition(&untagged).unwrap(), Value::Bool(false));
        assert_eq!(
            p.message(&untagged),
            "aws_s3_bucket.b in stage needs CostCenter and Owner (plan creates 3)"
        );
    }

    #[test]
    fn unknown_values_stay_unknown() {
        let set = load(TAGS).unwrap();
        let s = scope(obj(&[("tags_all", Value::Unknown)]));
        assert_eq!(set.policies[0].condition(&s).unwrap(), Value::Unknown);
    }

    #[test]
    fn sensitive_values_decide_but_are_never_shown() {
        let set = load(
            r#"
policy "no-default-password" {
  condition     = change.after.password != "hunter2"
  error_message = "password ${change.after.password} is the default"
}
"#,
        )
        .unwrap();
        let p = &set.policies[0];
        let s = scope(obj(&[(
            "password",
            Value::from("hunter2").mark_sensitive(),
        )]));
        let v = p.condition(&s).unwrap();
        assert!(v.is_sensitive());
        assert_eq!(v.unmarked(), &Value::Bool(false));
        let m = p.message(&s);
        assert!(!m.contains("hunter2"), "{m}");
        assert!(m.contains("sensitive"), "{m}");
    }

    #[test]
    fn bad_input_is_reported_at_file_line_col() {
        let e = load(
            "policy \"x\" {\n  enforcement = \"block\"\n  condition = true\n}\n\npolicy \"y\" {\n  condition = var.region == \"x\"\n}\n",
        )
        .unwrap_err();
        let text: Vec<String> = e.iter().map(|d| d.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("Invalid enforcement") && t.contains("main.tf:2:17")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("Invalid reference in a policy") && t.contains("main.tf:7:")),
            "{text:?}"
        );
    }

    #[test]
    fn missing_condition_duplicates_and_other_blocks_are_errors() {
        let e = load(
            "policy \"a\" {\n  condition = true\n}\npolicy \"a\" {\n  condition = true\n}\npolicy \"b\" {}\nresource \"aws_s3_bucket\" \"x\" {}\n",
        )
        .unwrap_err();
        let text = e
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            text.contains("Duplicate policy") && text.contains("main.tf:4:1"),
            "{text}"
        );
        assert!(
            text.contains("needs a condition") && text.contains("main.tf:7:1"),
            "{text}"
        );
        assert!(
            text.contains("Unsupported block type") && text.contains("main.tf:8:1"),
            "{text}"
        );
    }

    #[test]
    fn non_bool_condition_is_an_error_at_the_condition() {
        let set = load("policy \"a\" {\n  condition = change.after.name\n}\n").unwrap();
        let e = set.policies[0]
            .condition(&scope(obj(&[("name", Value::from("abc"))])))
            .unwrap_err();
        let t = e.iter().next().unwrap().to_string();
        assert!(
            t.contains("must be a bool") && t.contains("main.tf:2:15"),
            "{t}"
        );
    }

    #[test]
    fn a_named_folder_must_exist_the_default_may_not() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(
            load_policies(dir.path(), &[(missing.clone(), false)])
                .unwrap()
                .is_empty()
        );
        let (d, _) = load_policies(dir.path(), &[(missing, true)]).unwrap_err();
        assert!(d.iter().next().unwrap().detail.contains("terrace.hcl"));
    }
}
