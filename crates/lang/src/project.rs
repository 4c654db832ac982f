//! The project file `terrace.hcl`: where environments live and which state
//! store to use.

use std::path::{Path, PathBuf};

use hcl_edit::structure::Structure;
use terrace_core::{Diagnostic, Diagnostics, Value};

use crate::config::header_span;
use crate::eval::eval_const;
use crate::refs::span_of;
use crate::source::SourceMap;
use crate::suggest::did_you_mean;

/// The name of the project file.
pub const PROJECT_FILE: &str = "terrace.hcl";

/// A terrace project: the folder holding `terrace.hcl` (or the start folder
/// when there is none) and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub root: PathBuf,
    /// Absolute: `root/environments` by default.
    pub environments_dir: PathBuf,
    /// `state { url = "…" }`; `None` means the default store.
    pub state_url: Option<String>,
    /// `ledger { retention_days = N }`: apply ledger records older than
    /// this are pruned; `None` keeps them for ever.
    pub ledger_retention_days: Option<u32>,
    /// `ledger { blob_grace_days = N }`: `env gc` removes a stored blob
    /// (snapshot file, plan-file key) that no ledger record names once it
    /// has not been stored for this long; `None` means 30 days.
    pub blob_grace_days: Option<u32>,
    /// `state { history { keep_versions = N } }`: state versions kept
    /// whatever their age (with `keep_days`, a version stays if either keeps it).
    pub history_keep_versions: Option<u32>,
    /// `state { history { keep_days = D } }`: state versions younger than
    /// this are kept. With neither set, the store keeps 90 days.
    pub history_keep_days: Option<u32>,
    /// `notify "NAME" { … }` blocks: webhooks told about runs.
    pub notify: Vec<NotifyConfig>,
    /// `policies = ["policies", …]`: folders of `policy` blocks, absolute.
    /// `None`: the default `policies/` folder, if there is one.
    pub policies: Option<Vec<PathBuf>>,
    /// `environment "NAME" { … }` blocks: guardrails per environment (glob
    /// names allowed); see [`crate::envsettings`].
    pub environments: Vec<crate::envsettings::EnvironmentSettings>,
}

/// The events a `notify` block may ask for.
pub const NOTIFY_EVENTS: &[&str] = &[
    "apply_succeeded",
    "apply_failed",
    "drift_detected",
    "drift_resolved",
    "env_expired",
    "rollback",
];

/// One `notify` block of terrace.hcl. The URL and secret are named by
/// environment variable, never written in the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifyConfig {
    pub name: String,
    /// The environment variable holding the webhook URL.
    pub url_env: String,
    /// The environment variable holding the HMAC-SHA256 key, if signed.
    pub secret_env: Option<String>,
    pub events: Vec<String>,
    /// `json` or `slack`.
    pub format: String,
    /// How long delivery may take in all, retries included (default 10).
    pub timeout_seconds: u32,
}

/// Walk up from `start` to the nearest `terrace.hcl`. Without one, the
/// project is rooted at `start` with default settings.
pub fn find_project(start: &Path) -> Result<Project, Diagnostics> {
    find_project_with_sources(start, &mut SourceMap::new())
}

/// [`find_project`], adding the project file to `sources` for rendering.
pub fn find_project_with_sources(
    start: &Path,
    sources: &mut SourceMap,
) -> Result<Project, Diagnostics> {
    let start = if start.is_absolute() {
        start.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|c| c.join(start))
            .unwrap_or_else(|_| start.to_path_buf())
    };
    let mut dir = Some(start.as_path());
    while let Some(d) = dir {
        let candidate = d.join(PROJECT_FILE);
        if candidate.is_file() {
            return parse_project(d, &candidate, sources);
        }
        dir = d.parent();
    }
    Ok(Project {
        root: start.clone(),
        environments_dir: start.join("environments"),
        state_url: None,
        ledger_retention_days: None,
        blob_grace_days: None,
        history_keep_versions: None,
        history_keep_days: None,
        notify: Vec::new(),
        policies: None,
        environments: Vec::new(),
    })
}

fn parse_project(
    root: &Path,
    path: &Path,
    sources: &mut SourceMap,
) -> Result<Project, Diagnostics> {
    let mut diags = Diagnostics::new();
    let bytes = std::fs::read(path).map_err(|e| {
        Diagnostics::from(Diagnostic::error(
            "Failed to read project file",
            format!("{}: {e}", path.display()),
        ))
    })?;
    let Ok(text) = String::from_utf8(bytes) else {
        return Err(Diagnostic::error(
            "Invalid file encoding",
            format!("{} is not valid UTF-8.", path.display()),
        )
        .into());
    };
    let file = sources.add(path, text);
    let body = match hcl_edit::parser::parse_body(file.text()) {
        Ok(b) => b,
        Err(e) => {
            let off = e.location().offset();
            return Err(Diagnostic::error(
                "Syntax error",
                format!("Invalid HCL: {}.", e.message()),
            )
            .at(Some(file.range(off..off + 1)))
            .into());
        }
    };
    let mut project = Project {
        root: root.to_path_buf(),
        environments_dir: root.join("environments"),
        state_url: None,
        ledger_retention_days: None,
        blob_grace_days: None,
        history_keep_versions: None,
        history_keep_days: None,
        notify: Vec::new(),
        policies: None,
        environments: Vec::new(),
    };
    let err = |span, summary: &str, detail: String| {
        Diagnostic::error(summary, detail).at(Some(file.range(span)))
    };
    let string_of = |e: &hcl_edit::expr::Expression, diags: &mut Diagnostics| match eval_const(
        e, &file, root,
    ) {
        Ok(Value::String(s)) => Some(s.to_string()),
        Ok(other) => {
            diags.push(err(
                span_of(e),
                "Incorrect attribute value type",
                format!("A string is required, but have {}.", other.type_name()),
            ));
            None
        }
        Err(d) => {
            diags.extend(d);
            None
        }
    };
    for s in body.iter() {
        match s {
            Structure::Attribute(a) if a.key.as_str() == "environments_dir" => {
                if let Some(v) = string_of(&a.value, &mut diags) {
                    project.environments_dir = root.join(v);
                }
            }
            Structure::Attribute(a) if a.key.as_str() == "policies" => {
                match eval_const(&a.value, &file, root) {
                    Ok(Value::List(xs)) | Ok(Value::Set(xs))
                        if xs.iter().all(|x| matches!(x, Value::String(s) if !s.is_empty())) =>
                    {
                        project.policies = Some(
                            xs.iter()
                                .filter_map(|x| x.as_str().map(|s| root.join(s)))
                                .collect(),
                        );
                    }
                    Ok(_) => diags.push(err(
                        span_of(&a.value),
                        "Incorrect attribute value type",
                        "policies must be a list of folders relative to terrace.hcl, e.g. policies = [\"policies\"].".into(),
                    )),
                    Err(d) => diags.extend(d),
                }
            }
            Structure::Block(b) if b.ident.as_str() == "state" => {
                if !b.labels.is_empty() {
                    diags.push(err(
                        header_span(b),
                        "Extraneous label",
                        "The state block takes no labels.".into(),
                    ));
                }
                for s in b.body.iter() {
                    match s {
                        Structure::Attribute(a) if a.key.as_str() == "url" => {
                            if let Some(v) = string_of(&a.value, &mut diags) {
                                if !(v.starts_with("sqlite:")
                                    || v.starts_with("postgres://")
                                    || v.starts_with("postgresql://")
                                    || v.starts_with("s3://"))
                                {
                                    diags.push(err(span_of(&a.value), "Invalid state URL", format!("\"{v}\" is not a supported state store URL: use sqlite:PATH, postgres://… or s3://BUCKET/PREFIX.")));
                                } else {
                                    project.state_url = Some(v);
                                }
                            }
                        }
                        Structure::Attribute(a) => diags.push(err(
                            span_of(&a.key),
                            "Unsupported argument",
                            format!(
                                "An argument named \"{}\" is not expected in the state block.{}",
                                a.key.as_str(),
                                did_you_mean(a.key.as_str(), ["url"])
                            ),
                        )),
                        Structure::Block(x) if x.ident.as_str() == "history" => {
                            for s in x.body.iter() {
                                match s {
                                    Structure::Attribute(a)
                                        if matches!(a.key.as_str(), "keep_versions" | "keep_days") =>
                                    {
                                        let days = a.key.as_str() == "keep_days";
                                        match eval_const(&a.value, &file, root) {
                                            Ok(Value::Number(n))
                                                if n.to_u64().is_some_and(|d| (1..=1_000_000).contains(&d)) =>
                                            {
                                                let v = n.to_u64().map(|d| d as u32);
                                                if days {
                                                    project.history_keep_days = v;
                                                } else {
                                                    project.history_keep_versions = v;
                                                }
                                            }
                                            Ok(_) => diags.push(err(
                                                span_of(&a.value),
                                                "Invalid history retention",
                                                format!(
                                                    "{} must be a whole number, at least 1 (e.g. {} = {}); leave it out to keep {}.",
                                                    a.key.as_str(),
                                                    a.key.as_str(),
                                                    if days { 90 } else { 50 },
                                                    if days { "versions by count only (or 90 days when keep_versions is not set either)" } else { "versions by age only" }
                                                ),
                                            )),
                                            Err(d) => diags.extend(d),
                                        }
                                    }
                                    Structure::Attribute(a) => diags.push(err(
                                        span_of(&a.key),
                                        "Unsupported argument",
                                        format!(
                                            "An argument named \"{}\" is not expected in the history block.{}",
                                            a.key.as_str(),
                                            did_you_mean(a.key.as_str(), ["keep_versions", "keep_days"])
                                        ),
                                    )),
                                    Structure::Block(y) => diags.push(err(
                                        span_of(&y.ident),
                                        "Unsupported block type",
                                        format!(
                                            "Blocks of type \"{}\" are not expected in the history block.",
                                            y.ident.as_str()
                                        ),
                                    )),
                                }
                            }
                        }
                        Structure::Block(x) => diags.push(err(
                            span_of(&x.ident),
                            "Unsupported block type",
                            format!(
                                "Blocks of type \"{}\" are not expected in the state block.",
                                x.ident.as_str()
                            ),
                        )),
                    }
                }
            }
            Structure::Block(b) if b.ident.as_str() == "ledger" => {
                for s in b.body.iter() {
                    match s {
                        Structure::Attribute(a)
                            if matches!(a.key.as_str(), "retention_days" | "blob_grace_days") =>
                        {
                            let retention = a.key.as_str() == "retention_days";
                            match eval_const(&a.value, &file, root) {
                                Ok(Value::Number(n))
                                    if n.to_u64().is_some_and(|d| (1..=100_000).contains(&d)) =>
                                {
                                    let days = n.to_u64().map(|d| d as u32);
                                    if retention {
                                        project.ledger_retention_days = days;
                                    } else {
                                        project.blob_grace_days = days;
                                    }
                                }
                                Ok(_) if retention => diags.push(err(
                                    span_of(&a.value),
                                    "Invalid retention",
                                    "retention_days must be a whole number of days, at least 1 (e.g. retention_days = 400); leave it out to keep every record.".into(),
                                )),
                                Ok(_) => diags.push(err(
                                    span_of(&a.value),
                                    "Invalid grace period",
                                    "blob_grace_days must be a whole number of days, at least 1 (e.g. blob_grace_days = 30); leave it out for 30 days.".into(),
                                )),
                                Err(d) => diags.extend(d),
                            }
                        }
                        Structure::Attribute(a) => diags.push(err(
                            span_of(&a.key),
                            "Unsupported argument",
                            format!(
                                "An argument named \"{}\" is not expected in the ledger block.{}",
                                a.key.as_str(),
                                did_you_mean(a.key.as_str(), ["retention_days", "blob_grace_days"])
                            ),
                        )),
                        Structure::Block(x) => diags.push(err(
                            span_of(&x.ident),
                            "Unsupported block type",
                            format!(
                                "Blocks of type \"{}\" are not expected in the ledger block.",
                                x.ident.as_str()
                            ),
                        )),
                    }
                }
            }
            Structure::Block(b) if b.ident.as_str() == "notify" => {
                let name = match b.labels.as_slice() {
                    [l] => l.as_str().to_string(),
                    _ => {
                        diags.push(err(
                            header_span(b),
                            "Missing name for notify block",
                            "A notify block takes one label, its name: notify \"team\" { … }."
                                .into(),
                        ));
                        continue;
                    }
                };
                let mut n = NotifyConfig {
                    name,
                    format: "json".into(),
                    timeout_seconds: 10,
                    ..Default::default()
                };
                for s in b.body.iter() {
                    let Structure::Attribute(a) = s else {
                        diags.push(err(
                            header_span(b),
                            "Unsupported block type",
                            "A notify block holds only arguments.".into(),
                        ));
                        continue;
                    };
                    match a.key.as_str() {
                        "url" => diags.push(err(
                            span_of(&a.key),
                            "Webhook URL in the file",
                            "A webhook URL is a secret: name the environment variable that holds it instead, e.g. url_env = \"TEAM_WEBHOOK_URL\".".into(),
                        )),
                        "secret" => diags.push(err(
                            span_of(&a.key),
                            "Signing secret in the file",
                            "Name the environment variable that holds the signing secret instead, e.g. secret_env = \"TEAM_WEBHOOK_SECRET\".".into(),
                        )),
                        "url_env" => {
                            if let Some(v) = string_of(&a.value, &mut diags) {
                                n.url_env = v;
                            }
                        }
                        "secret_env" => n.secret_env = string_of(&a.value, &mut diags),
                        "format" => {
                            if let Some(v) = string_of(&a.value, &mut diags) {
                                if v == "json" || v == "slack" {
                                    n.format = v;
                                } else {
                                    diags.push(err(
                                        span_of(&a.value),
                                        "Invalid notification format",
                                        format!("\"{v}\" is not a notification format: use \"json\" or \"slack\"."),
                                    ));
                                }
                            }
                        }
                        "timeout_seconds" => match eval_const(&a.value, &file, root) {
                            Ok(Value::Number(x))
                                if x.to_u64().is_some_and(|t| (1..=300).contains(&t)) =>
                            {
                                n.timeout_seconds = x.to_u64().unwrap_or(10) as u32;
                            }
                            Ok(_) => diags.push(err(
                                span_of(&a.value),
                                "Invalid timeout",
                                "timeout_seconds must be a whole number from 1 to 300.".into(),
                            )),
                            Err(d) => diags.extend(d),
                        },
                        "events" => match eval_const(&a.value, &file, root) {
                            Ok(Value::List(xs)) | Ok(Value::Set(xs)) => {
                                for x in xs {
                                    match x {
                                        Value::String(e) if NOTIFY_EVENTS.contains(&e.as_str()) => {
                                            n.events.push(e.to_string())
                                        }
                                        other => diags.push(err(
                                            span_of(&a.value),
                                            "Unknown notification event",
                                            format!(
                                                "{} is not an event; use {}.",
                                                other.to_json_lossy(),
                                                NOTIFY_EVENTS.join(", ")
                                            ),
                                        )),
                                    }
                                }
                            }
                            Ok(_) => diags.push(err(
                                span_of(&a.value),
                                "Incorrect attribute value type",
                                "events must be a list of event names.".into(),
                            )),
                            Err(d) => diags.extend(d),
                        },
                        other => diags.push(err(
                            span_of(&a.key),
                            "Unsupported argument",
                            format!(
                                "An argument named \"{other}\" is not expected in a notify block.{}",
                                did_you_mean(
                                    other,
                                    ["url_env", "secret_env", "events", "format", "timeout_seconds"]
                                )
                            ),
                        )),
                    }
                }
                if n.url_env.is_empty() {
                    diags.push(err(
                        header_span(b),
                        "Missing required argument",
                        "A notify block needs url_env, the environment variable holding the webhook URL.".into(),
                    ));
                }
                if n.events.is_empty() {
                    diags.push(err(
                        header_span(b),
                        "Missing required argument",
                        format!(
                            "A notify block needs events, a list of: {}.",
                            NOTIFY_EVENTS.join(", ")
                        ),
                    ));
                }
                project.notify.push(n);
            }
            Structure::Block(b) if b.ident.as_str() == "environment" => {
                if let Some(s) = crate::envsettings::parse_environment_block(
                    b,
                    &file,
                    root,
                    &project.environments,
                    &mut diags,
                ) {
                    project.environments.push(s);
                }
            }
            Structure::Attribute(a) => diags.push(err(
                span_of(&a.key),
                "Unsupported argument",
                format!(
                    "An argument named \"{}\" is not expected in terrace.hcl.{}",
                    a.key.as_str(),
                    did_you_mean(a.key.as_str(), ["environments_dir", "policies"])
                ),
            )),
            Structure::Block(b) => diags.push(err(
                span_of(&b.ident),
                "Unsupported block type",
                format!(
                    "Blocks of type \"{}\" are not expected in terrace.hcl.{}",
                    b.ident.as_str(),
                    did_you_mean(
                        b.ident.as_str(),
                        ["state", "ledger", "notify", "environment"]
                    )
                ),
            )),
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(project)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_with(text: &str) -> Result<Project, Diagnostics> {
        let dir = std::env::temp_dir().join(format!(
            "terrace-project-{}-{}",
            std::process::id(),
            uuid_like()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(PROJECT_FILE), text).unwrap();
        let r = find_project(&dir);
        std::fs::remove_dir_all(&dir).ok();
        r
    }

    fn uuid_like() -> u128 {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            + u128::from(N.fetch_add(1, Ordering::Relaxed))
    }

    #[test]
    fn state_history_retention() {
        let p = project_with(
            "state {\n  history {\n    keep_versions = 50\n    keep_days = 30\n  }\n}\n",
        )
        .unwrap();
        assert_eq!(
            (p.history_keep_versions, p.history_keep_days),
            (Some(50), Some(30))
        );
        let p = project_with("state {\n  url = \"sqlite:x.db\"\n}\n").unwrap();
        assert_eq!((p.history_keep_versions, p.history_keep_days), (None, None));
        let mut sources = SourceMap::new();
        let dir = std::env::temp_dir().join(format!("terrace-project-bad-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(PROJECT_FILE),
            "state {\n  history {\n    keep_days = 0\n    keep_version = 3\n  }\n}\n",
        )
        .unwrap();
        let diags = find_project_with_sources(&dir, &mut sources).unwrap_err();
        std::fs::remove_dir_all(&dir).ok();
        let text = crate::render_diagnostics(&diags, &sources, false);
        assert!(text.contains("keep_days must be a whole number"), "{text}");
        assert!(text.contains("line 3"), "{text}");
        assert!(text.contains("keep_versions"), "did you mean: {text}");
    }

    #[test]
    fn ledger_blob_grace_period() {
        let p =
            project_with("ledger {\n  retention_days = 400\n  blob_grace_days = 7\n}\n").unwrap();
        assert_eq!(
            (p.ledger_retention_days, p.blob_grace_days),
            (Some(400), Some(7))
        );
        let mut sources = SourceMap::new();
        let dir = std::env::temp_dir().join(format!("terrace-project-grace-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(PROJECT_FILE),
            "ledger {\n  blob_grace_days = 0\n}\n",
        )
        .unwrap();
        let diags = find_project_with_sources(&dir, &mut sources).unwrap_err();
        std::fs::remove_dir_all(&dir).ok();
        let text = crate::render_diagnostics(&diags, &sources, false);
        assert!(
            text.contains("blob_grace_days must be a whole number"),
            "{text}"
        );
        assert!(text.contains("line 2"), "{text}");
    }
}
