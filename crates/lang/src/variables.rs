//! Root module input variables: collecting values from every source in
//! precedence order, type conversion and validation rules.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hcl_edit::structure::Structure;
use terrace_core::{Diagnostic, Diagnostics, SourceRange, Value};

use crate::config::{Config, Variable};
use crate::eval::{Ctx, Env, error, eval_const};
use crate::refs::{RefSubject, span_of};
use crate::source::{SourceFile, SourceMap};
use crate::suggest::did_you_mean;
use crate::types::convert;

/// Variable values given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VarInputs {
    /// `--var-file` paths, in order.
    pub var_files: Vec<PathBuf>,
    /// `--var k=v`, in order (later wins).
    pub vars: Vec<(String, String)>,
}

/// One candidate value of a variable and where it came from.
struct Given {
    value: Value,
    range: Option<SourceRange>,
    origin: String,
}

/// Resolve every root variable: defaults, `TF_VAR_name`, `TERRACE_VAR_name`,
/// `terraform.tfvars`, `*.auto.tfvars` (alphabetical), `--var-file`s,
/// `--var` (lowest to highest precedence, as in Terraform).
pub fn resolve_root_variables(
    config: &Config,
    env_dir: &Path,
    inputs: &VarInputs,
    env: &dyn Fn(&str) -> Option<String>,
    sources: &mut SourceMap,
) -> (BTreeMap<String, Value>, Diagnostics) {
    let vars = &config.root.variables;
    let mut diags = Diagnostics::new();
    let mut given: BTreeMap<String, Given> = BTreeMap::new();
    // Variables whose given value was invalid: already reported, so not
    // also "No value for required variable".
    let mut invalid: std::collections::BTreeSet<String> = Default::default();

    // Environment variables are the lowest source after defaults, as in
    // Terraform: any variables file or --var overrides them.
    for (name, var) in vars {
        for prefix in ["TF_VAR_", "TERRACE_VAR_"] {
            let key = format!("{prefix}{name}");
            if let Some(raw) = env(&key) {
                match parse_raw(var, &raw, &format!("environment variable {key}")) {
                    Ok(value) => {
                        given.insert(
                            name.clone(),
                            Given {
                                value,
                                range: None,
                                origin: format!("environment variable {key}"),
                            },
                        );
                    }
                    Err(d) => {
                        diags.push(*d);
                        invalid.insert(name.clone());
                    }
                }
            }
        }
    }
    let mut files: Vec<PathBuf> = Vec::new();
    let main = env_dir.join("terraform.tfvars");
    if main.is_file() {
        files.push(main);
    }
    if env_dir.join("terraform.tfvars.json").is_file() {
        files.push(env_dir.join("terraform.tfvars.json"));
    }
    if let Ok(entries) = std::fs::read_dir(env_dir) {
        let mut auto: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.ends_with(".auto.tfvars") || n.ends_with(".auto.tfvars.json")
                })
            })
            .collect();
        auto.sort();
        files.extend(auto);
    }
    files.extend(inputs.var_files.iter().cloned());
    let explicit_start = files.len() - inputs.var_files.len();
    for (i, path) in files.iter().enumerate() {
        let explicit = i >= explicit_start;
        read_var_file(path, explicit, config, sources, &mut given, &mut diags);
    }

    for (name, raw) in &inputs.vars {
        let Some(var) = vars.get(name) else {
            diags.push(Diagnostic::error(
                "Value for undeclared variable",
                format!("A variable named \"{name}\" was assigned on the command line, but the root module does not declare a variable of that name.{}", did_you_mean(name, vars.keys().map(String::as_str))),
            ));
            continue;
        };
        match parse_raw(var, raw, &format!("--var {name}")) {
            Ok(value) => {
                given.insert(
                    name.clone(),
                    Given {
                        value,
                        range: None,
                        origin: "the command line (--var)".into(),
                    },
                );
            }
            Err(d) => {
                diags.push(*d);
                invalid.insert(name.clone());
            }
        }
    }

    let mut out = BTreeMap::new();
    for (name, var) in vars {
        if invalid.contains(name) && !given.contains_key(name) {
            continue;
        }
        let (value, range, origin) = match given.remove(name) {
            Some(g) => (g.value, g.range, g.origin),
            None => match &var.default {
                Some(d) => (d.clone(), Some(var.range.clone()), "the default".into()),
                None => {
                    diags.push(
                        Diagnostic::error(
                            "No value for required variable",
                            format!("The root module input variable \"{name}\" is not set, and has no default value. Use a --var or --var-file argument, a terraform.tfvars file, or the TF_VAR_{name} environment variable to provide a value for this variable."),
                        )
                        .at(Some(var.range.clone())),
                    );
                    continue;
                }
            },
        };
        let range = range.or_else(|| Some(var.range.clone()));
        // `nullable = false` with a default: a given null takes the default.
        let value = match (&var.default, value.is_null() && !var.nullable) {
            (Some(d), true) => d.clone(),
            _ => value,
        };
        let value = if value.is_null() {
            if !var.nullable {
                diags.push(Diagnostic::error("Required variable not set", format!("Unsuitable value for var.{name} set from {origin}: the given value is null, but the variable is not nullable.")).at(range));
                continue;
            }
            value
        } else {
            match &var.type_constraint {
                Some(t) => match convert(value, t) {
                    Ok(v) => v,
                    Err(msg) => {
                        diags.push(
                            Diagnostic::error(
                                "Invalid value for input variable",
                                format!("Type mismatch: the value for var.{name} from {origin} is not suitable for type {t}: {msg}."),
                            )
                            .at(range),
                        );
                        continue;
                    }
                },
                None => value,
            }
        };
        if let Err(d) = check_validations(var, &value, &config.root.dir) {
            diags.extend(d);
            continue;
        }
        out.insert(name.clone(), value.mark_if(var.sensitive));
    }
    (out, diags)
}

fn read_var_file(
    path: &Path,
    explicit: bool,
    config: &Config,
    sources: &mut SourceMap,
    given: &mut BTreeMap<String, Given>,
    diags: &mut Diagnostics,
) {
    let vars = &config.root.variables;
    let text = match std::fs::read(path) {
        Ok(b) => match String::from_utf8(b) {
            Ok(t) => t,
            Err(_) => {
                diags.push(Diagnostic::error(
                    "Invalid file encoding",
                    format!("{} is not valid UTF-8.", path.display()),
                ));
                return;
            }
        },
        Err(e) => {
            diags.push(Diagnostic::error(
                "Failed to read variables file",
                format!("Cannot read {}: {e}.", path.display()),
            ));
            return;
        }
    };
    let file = sources.add(path, text);
    let origin = file.name.clone();
    let undeclared = |name: &str, range: SourceRange| {
        let detail = format!(
            "The file {origin} assigns \"{name}\", but the root module does not declare a variable of that name.{}",
            did_you_mean(name, vars.keys().map(String::as_str))
        );
        if explicit {
            Diagnostic::error("Value for undeclared variable", detail).at(Some(range))
        } else {
            Diagnostic::warning("Value for undeclared variable", detail).at(Some(range))
        }
    };
    if path.extension().is_some_and(|x| x == "json") {
        match serde_json::from_str::<serde_json::Value>(file.text()) {
            Ok(serde_json::Value::Object(m)) => {
                for (k, v) in m {
                    if !vars.contains_key(&k) {
                        diags.push(undeclared(&k, file.range(0..0)));
                        continue;
                    }
                    given.insert(
                        k,
                        Given {
                            value: Value::from_json(&v),
                            range: Some(file.range(0..0)),
                            origin: origin.to_string(),
                        },
                    );
                }
            }
            Ok(_) => diags.push(Diagnostic::error(
                "Invalid variables file",
                format!("{origin} must contain a JSON object."),
            )),
            Err(e) => diags.push(Diagnostic::error(
                "Invalid variables file",
                format!("{origin}: {e}."),
            )),
        }
        return;
    }
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
    let base = path.parent().unwrap_or(Path::new("."));
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => {
                let name = a.key.as_str();
                if !vars.contains_key(name) {
                    diags.push(undeclared(name, file.range(span_of(&a.key))));
                    continue;
                }
                match eval_const(&a.value, &file, base) {
                    Ok(value) => {
                        given.insert(
                            name.to_string(),
                            Given {
                                value,
                                range: Some(file.range(span_of(&a.value))),
                                origin: origin.to_string(),
                            },
                        );
                    }
                    Err(d) => diags.extend(d),
                }
            }
            Structure::Block(b) => diags.push(error(
                &file,
                span_of(&b.ident),
                "Unexpected block",
                "Blocks are not allowed in variables files; use name = value.",
            )),
        }
    }
}

/// A CLI or environment string: literal for string variables, else an HCL expression.
fn parse_raw(var: &Variable, raw: &str, origin: &str) -> Result<Value, Box<Diagnostic>> {
    if var.wants_string_input() {
        return Ok(Value::string(crate::eval::nfc(raw)));
    }
    let bad = |detail: String| {
        Box::new(Diagnostic::error(
            "Invalid value for input variable",
            format!(
                "The value for var.{} from {origin} is not valid: {detail}",
                var.name
            ),
        ))
    };
    let expr = hcl_edit::parser::parse_expr(raw).map_err(|e| bad(format!("{}.", e.message())))?;
    let file = SourceFile::new(origin.to_string(), PathBuf::from(origin), raw);
    eval_const(&expr, &file, Path::new(".")).map_err(|d| {
        bad(d
            .iter()
            .map(|x| x.detail.clone())
            .collect::<Vec<_>>()
            .join(" "))
    })
}

struct VarEnv<'a> {
    name: &'a str,
    value: Arc<Value>,
    base_dir: &'a Path,
    outer: Option<&'a dyn Env>,
}

impl Env for VarEnv<'_> {
    fn resolve(
        &self,
        subject: &RefSubject,
        span: Range<usize>,
        file: &SourceFile,
    ) -> Result<Arc<Value>, Diagnostics> {
        match (subject, self.outer) {
            (RefSubject::Var(n), _) if n == self.name => Ok(self.value.clone()),
            // Other variables, locals and data (Terraform 1.9+): resolved in
            // the module's scope, or unknown until it exists (the
            // evaluator checks such conditions again with it).
            (_, Some(outer)) => outer.resolve(subject, span, file),
            (_, None) => Ok(Arc::new(Value::Unknown)),
        }
    }
    fn base_dir(&self) -> &Path {
        self.base_dir
    }
}

/// Run a variable's `validation` blocks against its value. Conditions
/// that refer to other values are unknown here (skipped); see
/// [`check_validations_in`].
pub(crate) fn check_validations(
    var: &Variable,
    value: &Value,
    base_dir: &Path,
) -> Result<(), Diagnostics> {
    check_validations_in(var, value, base_dir, None)
}

/// True when a validation refers to something besides its own variable.
pub(crate) fn refers_beyond(var: &Variable, v: &crate::config::Validation) -> bool {
    [&v.condition, &v.error_message].iter().any(|e| {
        e.refs()
            .iter()
            .any(|r| !matches!(&r.subject, RefSubject::Var(n) if *n == var.name))
    })
}

/// Run a variable's `validation` blocks; with `outer`, only those that
/// refer to other values, resolved in `outer` (the module's scope).
pub(crate) fn check_validations_in(
    var: &Variable,
    value: &Value,
    base_dir: &Path,
    outer: Option<&dyn Env>,
) -> Result<(), Diagnostics> {
    if var.validations.is_empty() {
        return Ok(());
    }
    let env = VarEnv {
        name: &var.name,
        value: Arc::new(value.clone()),
        base_dir,
        outer,
    };
    let mut diags = Diagnostics::new();
    for v in &var.validations {
        if outer.is_some() && !refers_beyond(var, v) {
            continue;
        }
        let cond = match Ctx::new(&v.condition.file, &env).eval(&v.condition.expr) {
            Ok(c) => c,
            Err(d) => {
                diags.extend(d);
                continue;
            }
        };
        match cond.unmarked() {
            Value::Bool(true) | Value::Unknown => {}
            Value::Bool(false) => {
                let msg = match Ctx::new(&v.error_message.file, &env).eval(&v.error_message.expr) {
                    Ok(m) if m.is_sensitive() => {
                        "(the error message refers to a sensitive value)".to_string()
                    }
                    Ok(m) => m
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| m.to_string()),
                    Err(d) => {
                        diags.extend(d);
                        continue;
                    }
                };
                diags.push(
                    Diagnostic::error("Invalid value for variable", msg)
                        .at(Some(v.condition.range())),
                );
            }
            other => diags.push(
                Diagnostic::error(
                    "Invalid validation result",
                    format!(
                        "The validation condition must return a bool, but have {}.",
                        other.type_name()
                    ),
                )
                .at(Some(v.condition.range())),
            ),
        }
    }
    if diags.is_empty() { Ok(()) } else { Err(diags) }
}
