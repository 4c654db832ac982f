//! Validated settings: the project, the state store, environments, and every
//! environment variable terrace reads (declared here, nowhere else).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use terrace_engine::{Engine, EnvReader};
use terrace_lang::Project;
use terrace_state::{StateStore, StoreOptions};

/// Environment variables terrace reads.
pub mod vars {
    /// State store URL (`sqlite:PATH`, `postgres://…`, `s3://bucket/prefix`); overrides terrace.hcl.
    pub const TERRACE_STATE: &str = "TERRACE_STATE";
    /// Passphrase for AES-256-GCM encryption of state at rest.
    pub const TERRACE_STATE_KEY: &str = "TERRACE_STATE_KEY";
    /// Lock lease length (e.g. `2m`); holders renew it every third of it.
    pub const TERRACE_LOCK_LEASE: &str = "TERRACE_LOCK_LEASE";
    /// For tests only: the current time (RFC 3339), so TTL expiry can be tested.
    pub const TERRACE_NOW: &str = "TERRACE_NOW";
    /// For tests only: how long destroys retry ordering errors (e.g. `20s`).
    pub const TERRACE_DELETE_RETRY: &str = "TERRACE_DELETE_RETRY";
    /// Root variables: `TF_VAR_name` and `TERRACE_VAR_name` (read by the language layer through the engine).
    pub const TF_VAR_PREFIX: &str = "TF_VAR_";
    pub const TERRACE_VAR_PREFIX: &str = "TERRACE_VAR_";
    /// Disable colour.
    pub const NO_COLOR: &str = "NO_COLOR";
    /// `github` output format appends here.
    pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
    /// Logging filter.
    pub const RUST_LOG: &str = "RUST_LOG";
    /// Terraform's: extra arguments for every command, inserted after the command name.
    pub const TF_CLI_ARGS: &str = "TF_CLI_ARGS";
    /// Terraform's: `TF_CLI_ARGS_plan`, `TF_CLI_ARGS_apply`, … for one command.
    pub const TF_CLI_ARGS_PREFIX: &str = "TF_CLI_ARGS_";
    /// Terraform's: set in CI; terrace leaves out "run this next" hints.
    pub const TF_IN_AUTOMATION: &str = "TF_IN_AUTOMATION";
    /// Terraform's log level (TRACE, DEBUG, INFO, WARN, ERROR, or JSON for
    /// trace as JSON lines), used when RUST_LOG is unset.
    pub const TF_LOG: &str = "TF_LOG";
}

static NO_INPUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `-input=false`: nothing may be asked on the terminal.
pub fn disable_input() {
    NO_INPUT.store(true, std::sync::atomic::Ordering::Relaxed);
}

pub fn input_disabled() -> bool {
    NO_INPUT.load(std::sync::atomic::Ordering::Relaxed)
}

/// TF_IN_AUTOMATION is set: leave out hints about which command to run next.
pub fn in_automation() -> bool {
    env_var(vars::TF_IN_AUTOMATION).is_some()
}

/// TF_LOG as a tracing filter, and whether it asks for JSON lines.
pub fn tf_log() -> Result<Option<(&'static str, bool)>> {
    let Some(v) = env_var(vars::TF_LOG) else {
        return Ok(None);
    };
    Ok(Some(match v.to_ascii_uppercase().as_str() {
        "TRACE" => ("trace", false),
        "DEBUG" => ("debug", false),
        "INFO" => ("info", false),
        "WARN" => ("warn", false),
        "ERROR" => ("error", false),
        "JSON" => ("trace", true),
        "OFF" => ("off", false),
        _ => bail!(
            "{}={v:?} is not a log level; use TRACE, DEBUG, INFO, WARN, ERROR, JSON or OFF",
            vars::TF_LOG
        ),
    }))
}

pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The process's environment as the engine reads it (root variables only).
pub fn env_reader() -> EnvReader {
    Arc::new(|name: &str| {
        if name.starts_with(vars::TF_VAR_PREFIX) || name.starts_with(vars::TERRACE_VAR_PREFIX) {
            std::env::var(name).ok()
        } else {
            None
        }
    })
}

/// "Now", overridable for tests with TERRACE_NOW.
pub fn now() -> Result<chrono::DateTime<chrono::Utc>> {
    match env_var(vars::TERRACE_NOW) {
        Some(s) => Ok(chrono::DateTime::parse_from_rfc3339(&s)
            .with_context(|| format!("{} must be an RFC 3339 time, got {s:?}", vars::TERRACE_NOW))?
            .with_timezone(&chrono::Utc)),
        None => Ok(chrono::Utc::now()),
    }
}

pub fn parse_duration(s: &str, what: &str) -> Result<Duration> {
    humantime::parse_duration(s.trim())
        .with_context(|| format!("invalid {what} {s:?}; use e.g. 30s, 5m, 1h"))
}

/// Who is running: `user@host`.
pub fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

/// The project, found by walking up from the working directory.
pub fn project(chdir: Option<&Path>) -> Result<(Project, terrace_lang::SourceMap)> {
    let start = match chdir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    if !start.is_dir() {
        bail!("--chdir {}: no such directory", start.display());
    }
    let abs = std::path::absolute(&start).unwrap_or_else(|_| start.clone());
    if !abs.ancestors().any(|d| d.join("terrace.hcl").is_file()) {
        bail!(
            "not in a terrace project: neither {} nor any folder above it has a terrace.hcl. Run terrace inside a project, name one with -C DIR (or -chdir=DIR), or start one here by creating terrace.hcl (for example: environments_dir = \"environments\") and a folder environments/<ENV>/ with your .tf files",
            abs.display()
        );
    }
    match terrace_lang::find_project(&start) {
        Ok(p) => Ok((p, terrace_lang::SourceMap::default())),
        Err(diags) => Err(crate::output::DiagnosticsError::new(
            diags,
            terrace_lang::SourceMap::default(),
        )
        .into()),
    }
}

/// Open the state store named by TERRACE_STATE or terrace.hcl.
pub async fn open_store(project: &Project) -> Result<Arc<dyn StateStore>> {
    let url = env_var(vars::TERRACE_STATE)
        .or_else(|| project.state_url.clone())
        .unwrap_or_else(|| "sqlite:state/terrace.db".to_string());
    let mut opts = StoreOptions {
        encryption_key: env_var(vars::TERRACE_STATE_KEY),
        ..StoreOptions::default()
    };
    if let Some(l) = env_var(vars::TERRACE_LOCK_LEASE) {
        opts.lock_lease = parse_duration(&l, vars::TERRACE_LOCK_LEASE)?;
    }
    let store = terrace_state::open_store(&url, &project.root, opts).await?;
    Ok(store)
}

/// Build the engine: store, providers, environment reader.
pub async fn engine(project: &Project, lock_timeout: Duration) -> Result<Engine> {
    let store = open_store(project).await?;
    Ok(Engine {
        store,
        factories: vec![
            Arc::new(terrace_aws::AwsProviderFactory::default()),
            Arc::new(terrace_engine::builtin::BuiltinFactory),
        ],
        env_reader: env_reader(),
        project_root: project.root.clone(),
        lock_timeout,
    })
}

/// Engine without a store, for offline commands (`validate`, `graph`).
pub fn offline_engine(project: &Project) -> Engine {
    Engine {
        store: Arc::new(crate::offline::OfflineStore),
        factories: vec![
            Arc::new(terrace_aws::AwsProviderFactory::default()),
            Arc::new(terrace_engine::builtin::BuiltinFactory),
        ],
        env_reader: env_reader(),
        project_root: project.root.clone(),
        lock_timeout: Duration::ZERO,
    }
}

/// Every persistent environment folder.
pub fn environment_names(project: &Project) -> Result<Vec<String>> {
    let dir = &project.environments_dir;
    let mut names = Vec::new();
    let rd = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read environments folder {}", dir.display()))?;
    for e in rd.flatten() {
        if e.path().is_dir() && has_tf_files(&e.path()) {
            names.push(e.file_name().to_string_lossy().to_string());
        }
    }
    names.sort();
    Ok(names)
}

fn has_tf_files(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten().any(|e| {
                e.path()
                    .extension()
                    .is_some_and(|x| x == "tf" || x == "tofu")
            })
        })
        .unwrap_or(false)
}

/// The root module folder of an environment: `environments/<name>`, or the
/// template folder of an ephemeral environment.
pub async fn env_dir(
    project: &Project,
    store: Option<&dyn StateStore>,
    name: &str,
) -> Result<PathBuf> {
    let direct = project.environments_dir.join(name);
    if direct.is_dir() {
        return Ok(direct);
    }
    if let Some(store) = store
        && let Some(rec) = store.registry_get(name).await?
    {
        let t = project.environments_dir.join(&rec.template);
        if t.is_dir() {
            return Ok(t);
        }
        bail!(
            "environment '{name}' was created from template '{}', but {} does not exist",
            rec.template,
            t.display()
        );
    }
    let known = environment_names(project).unwrap_or_default();
    let hint = terrace_lang::did_you_mean(name, known.iter().map(String::as_str));
    bail!(
        "no environment named '{name}': {} does not exist and no ephemeral environment has that name.{hint} Known environments: {}",
        direct.display(),
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )
}

pub fn require_env(e: &crate::args::EnvArg) -> Result<String> {
    e.env
        .clone()
        .ok_or_else(|| anyhow::anyhow!("which environment? pass -e ENV (for example -e dev)"))
}

pub fn var_inputs(v: &crate::args::VarArgs) -> Result<terrace_lang::VarInputs> {
    let mut vars = Vec::new();
    for kv in &v.vars {
        let Some((k, val)) = kv.split_once('=') else {
            bail!("--var {kv:?} must look like NAME=VALUE");
        };
        vars.push((k.trim().to_string(), val.to_string()));
    }
    Ok(terrace_lang::VarInputs {
        var_files: v.var_files.clone(),
        vars,
    })
}
