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
    /// Passphrase for AES-256-GCM encryption of state at rest (key derived
    /// with Argon2id). Set but empty is an error.
    pub const TERRACE_STATE_KEY: &str = "TERRACE_STATE_KEY";
    /// A file holding a raw 256-bit state key (32 bytes, 64 hex digits or
    /// base64); refused if group or others may read it.
    pub const TERRACE_STATE_KEY_FILE: &str = "TERRACE_STATE_KEY_FILE";
    /// Lock lease length (e.g. `2m`); holders renew it every third of it.
    pub const TERRACE_LOCK_LEASE: &str = "TERRACE_LOCK_LEASE";
    /// For tests only: the current time (RFC 3339), so TTL expiry can be
    /// tested; also this machine's clock as the SQLite store's locks see it
    /// (the team stores decide lease expiry by their own clocks).
    pub const TERRACE_NOW: &str = "TERRACE_NOW";
    /// For tests only: how long destroys retry ordering errors (e.g. `20s`).
    pub const TERRACE_DELETE_RETRY: &str = "TERRACE_DELETE_RETRY";
    /// How long one attempt of an AWS call may take (default 60s; 3 attempts).
    pub const TERRACE_AWS_TIMEOUT: &str = "TERRACE_AWS_TIMEOUT";
    /// For tests only: read prompt answers from standard input even when it
    /// is not a terminal (so tests can answer, or interrupt, a prompt).
    pub const TERRACE_PROMPT_STDIN: &str = "TERRACE_PROMPT_STDIN";
    /// Root variables: `TF_VAR_name` and `TERRACE_VAR_name` (read by the language layer through the engine).
    pub const TF_VAR_PREFIX: &str = "TF_VAR_";
    pub const TERRACE_VAR_PREFIX: &str = "TERRACE_VAR_";
    /// Terraform's registry tokens: `TF_TOKEN_<host>` (dots as `_`, dashes as `__`), read by `init`.
    pub const TF_TOKEN_PREFIX: &str = "TF_TOKEN_";
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
    /// The CI systems' standard variables recorded in the apply ledger
    /// (GitHub Actions, GitLab CI, Buildkite, CircleCI, Jenkins, Azure
    /// Pipelines): the list is `terrace_state::ci_vars::SYSTEMS`, read only
    /// by [`super::ci_context`]. The README's "Audit log" table lists them.
    pub fn ci_variables() -> Vec<&'static str> {
        terrace_state::ci_vars::all_names()
    }
}

/// The CI run this process belongs to, from the CI systems' variables
/// ([`vars::ci_variables`]); `None` outside CI.
pub fn ci_context() -> Option<terrace_state::CiContext> {
    let mut ctx = terrace_state::CiContext::detect(&|name| {
        debug_assert!(vars::ci_variables().contains(&name));
        env_var(name)
    })?;
    // Only GitLab gives the commit's time in a variable; elsewhere the CI
    // checkout has the commit, and git knows when it was made (the start
    // of the lead time). Without git, or without the commit, it stays
    // unknown and the lead time leaves the run out.
    if ctx.commit_time.is_none()
        && let Some(sha) = &ctx.commit_sha
    {
        ctx.commit_time = git_commit_time(sha);
    }
    Some(ctx)
}

/// The committer time of `sha` in the git repository around the working
/// directory, if git and the commit are there.
fn git_commit_time(sha: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if sha.is_empty() || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let out = std::process::Command::new("git")
        .args(["show", "-s", "--format=%cI", sha, "--"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
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

/// The `notify` blocks of terrace.hcl with their URL and secret read from
/// the environment variables they name.
pub fn notify_targets(project: &Project) -> Vec<terrace_engine::notify::Target> {
    project
        .notify
        .iter()
        .map(|n| terrace_engine::notify::Target {
            name: n.name.clone(),
            url: env_var(&n.url_env),
            url_env: n.url_env.clone(),
            secret: n.secret_env.as_deref().and_then(env_var),
            events: n.events.clone(),
            format: n.format.clone(),
            bound: Duration::from_secs(u64::from(n.timeout_seconds)),
        })
        .collect()
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

/// The state key from TERRACE_STATE_KEY (a passphrase) or
/// TERRACE_STATE_KEY_FILE (a raw 256-bit key). A variable that is set but
/// empty is an error: a missing CI secret must not silently write state in
/// clear.
pub fn state_key() -> Result<(Option<String>, Option<[u8; 32]>)> {
    let passphrase = match std::env::var_os(vars::TERRACE_STATE_KEY) {
        None => None,
        Some(v) if v.is_empty() => bail!(
            "{} is set but empty, so state would be stored unencrypted (a missing CI secret looks like this); \
             set it to the passphrase, or unset it to store state without encryption",
            vars::TERRACE_STATE_KEY
        ),
        Some(v) => Some(
            v.into_string()
                .map_err(|_| anyhow::anyhow!("{} is not valid UTF-8", vars::TERRACE_STATE_KEY))?,
        ),
    };
    let file = match std::env::var_os(vars::TERRACE_STATE_KEY_FILE) {
        None => None,
        Some(v) if v.is_empty() => bail!(
            "{} is set but empty; set it to the path of the key file, or unset it",
            vars::TERRACE_STATE_KEY_FILE
        ),
        Some(v) => Some(PathBuf::from(v)),
    };
    let raw = match file {
        None => None,
        Some(path) => {
            if passphrase.is_some() {
                bail!(
                    "both {} and {} are set; set only one",
                    vars::TERRACE_STATE_KEY,
                    vars::TERRACE_STATE_KEY_FILE
                );
            }
            Some(read_key_file(&path)?)
        }
    };
    Ok((passphrase, raw))
}

/// Read a raw 256-bit key: 32 bytes, or 64 hex digits, or base64 of 32
/// bytes (surrounding whitespace ignored). Refused if group or others may
/// read the file.
fn read_key_file(path: &Path) -> Result<[u8; 32]> {
    let what = vars::TERRACE_STATE_KEY_FILE;
    let meta = std::fs::metadata(path)
        .with_context(|| format!("{what}: cannot read {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "{what}: {} is readable or writable by group or others (mode {mode:04o}); a state key must be \
                 private to its owner: run `chmod 600 {}`",
                path.display(),
                path.display()
            );
        }
    }
    let bytes =
        std::fs::read(path).with_context(|| format!("{what}: cannot read {}", path.display()))?;
    if let Ok(k) = <[u8; 32]>::try_from(bytes.as_slice()) {
        return Ok(k);
    }
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim();
    if let Ok(v) = hex::decode(text)
        && let Ok(k) = <[u8; 32]>::try_from(v.as_slice())
    {
        return Ok(k);
    }
    use base64::Engine as _;
    if let Ok(v) = base64::engine::general_purpose::STANDARD.decode(text)
        && let Ok(k) = <[u8; 32]>::try_from(v.as_slice())
    {
        return Ok(k);
    }
    bail!(
        "{what}: {} does not hold a 256-bit key (32 bytes, 64 hex digits or base64 of 32 bytes); create one with \
         `openssl rand -hex 32 > FILE && chmod 600 FILE`",
        path.display()
    )
}

/// The state key as a [`terrace_state::Sealer`] (plan files seal their
/// sensitive values with it); `None` when no key is set.
pub fn sealer() -> Result<Option<terrace_state::Sealer>> {
    let (encryption_key, encryption_raw_key) = state_key()?;
    Ok(StoreOptions {
        encryption_key,
        encryption_raw_key,
        ..StoreOptions::default()
    }
    .sealer()?)
}

/// Open the state store named by TERRACE_STATE or terrace.hcl.
pub async fn open_store(project: &Project) -> Result<Arc<dyn StateStore>> {
    open_store_with(project, false).await
}

/// [`open_store`]; `allow_plaintext` reads unencrypted state although a key
/// is set (only `state encrypt`).
pub async fn open_store_with(
    project: &Project,
    allow_plaintext: bool,
) -> Result<Arc<dyn StateStore>> {
    let url = env_var(vars::TERRACE_STATE)
        .or_else(|| project.state_url.clone())
        .unwrap_or_else(|| "sqlite:state/terrace.db".to_string());
    let (encryption_key, encryption_raw_key) = state_key()?;
    let mut opts = StoreOptions {
        encryption_key,
        encryption_raw_key,
        allow_plaintext,
        ..StoreOptions::default()
    };
    if let Some(l) = env_var(vars::TERRACE_LOCK_LEASE) {
        opts.lock_lease = parse_duration(&l, vars::TERRACE_LOCK_LEASE)?;
    }
    if env_var(vars::TERRACE_NOW).is_some() {
        opts.clock_skew = now()? - chrono::Utc::now();
    }
    let store = terrace_state::open_store(&url, &project.root, opts).await?;
    Ok(store)
}

/// The history retention of terrace.hcl (`state { history { … } }`).
pub fn history_retention(project: &Project) -> terrace_state::HistoryRetention {
    match (project.history_keep_versions, project.history_keep_days) {
        (None, None) => terrace_state::HistoryRetention::default(),
        (keep_versions, keep_days) => terrace_state::HistoryRetention {
            keep_versions,
            keep_days,
        },
    }
}

/// Build the engine: store, providers, environment reader.
pub async fn engine(project: &Project, lock_timeout: Duration) -> Result<Engine> {
    let store = open_store(project).await?;
    now()?; // a malformed TERRACE_NOW fails here, not inside the time provider
    Ok(Engine {
        store,
        factories: provider_factories(),
        env_reader: env_reader(),
        project_root: project.root.clone(),
        lock_timeout,
        modules: installed_modules(project)?,
    })
}

/// The AWS provider factory, with the call timeout if one is set.
fn aws_factory() -> terrace_aws::AwsProviderFactory {
    match env_var(vars::TERRACE_AWS_TIMEOUT) {
        Some(t) => terrace_aws::AwsProviderFactory::with_env_overrides(vec![(
            vars::TERRACE_AWS_TIMEOUT.to_string(),
            t,
        )]),
        None => terrace_aws::AwsProviderFactory::default(),
    }
}

/// Every provider terrace includes: AWS, the built-in `terraform`, and the
/// utility providers (whose `time` provider reads "now" from [`now`]).
/// A malformed TERRACE_NOW is reported by [`engine`] (offline commands
/// never ask the time).
pub fn provider_factories() -> Vec<Arc<dyn terrace_provider::ProviderFactory>> {
    let clock: terrace_utility::Clock = Arc::new(|| now().unwrap_or_else(|_| chrono::Utc::now()));
    let mut factories: Vec<Arc<dyn terrace_provider::ProviderFactory>> = vec![
        Arc::new(aws_factory()),
        Arc::new(terrace_engine::builtin::BuiltinFactory),
    ];
    factories.extend(terrace_utility::factories(clock));
    factories
}

/// Engine without a store, for offline commands (`validate`, `graph`).
pub fn offline_engine(project: &Project) -> Engine {
    Engine {
        store: Arc::new(crate::offline::OfflineStore),
        factories: provider_factories(),
        env_reader: env_reader(),
        project_root: project.root.clone(),
        lock_timeout: Duration::ZERO,
        modules: installed_modules(project)
            .unwrap_or_else(|_| Arc::new(terrace_lang::NoRemoteModules)),
    }
}

/// The modules `terrace init` installed, as the lock file pins them.
pub fn installed_modules(project: &Project) -> Result<Arc<dyn terrace_lang::RemoteModules>> {
    Ok(Arc::new(terrace_modules::InstalledModules::open(
        &project.root,
    )?))
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
        terrace_engine::envs::validate_template_name(&rec.template).map_err(|e| {
            anyhow::anyhow!("the registry record of '{name}' names a bad template: {e}")
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key_file(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.key");
        std::fs::write(&path, bytes).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        (dir, path)
    }

    #[test]
    fn key_files_hold_raw_hex_or_base64_keys() {
        let key = [7u8; 32];
        let (_d, raw) = key_file(&key);
        assert_eq!(read_key_file(&raw).unwrap(), key);
        let (_d, hexed) = key_file(format!("{}\n", hex::encode(key)).as_bytes());
        assert_eq!(read_key_file(&hexed).unwrap(), key);
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        let (_d, based) = key_file(format!("  {b64}\n").as_bytes());
        assert_eq!(read_key_file(&based).unwrap(), key);
    }

    #[test]
    fn short_or_unreadable_key_files_are_clear_errors() {
        let (_d, short) = key_file(b"too short");
        let err = read_key_file(&short).unwrap_err().to_string();
        assert!(err.contains("does not hold a 256-bit key"), "{err}");
        assert!(err.contains("openssl rand -hex 32"), "{err}");
        let err = read_key_file(Path::new("/nonexistent/state.key"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read /nonexistent/state.key"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn group_or_world_readable_key_files_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let (_d, path) = key_file(&[1u8; 32]);
        for mode in [0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = read_key_file(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{mode:o}: {err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(read_key_file(&path).is_ok());
    }
}
