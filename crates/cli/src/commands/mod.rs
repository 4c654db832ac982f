//! The commands: each turns settings into engine calls and renders results.
//! One module per command (or family of commands); this module holds the
//! dispatcher and the helpers they share.

mod apply;
mod approve;
mod console;
mod drift;
mod env;
mod fmt;
mod genconfig;
mod import;
mod init;
mod log;
mod outputs;
mod policy;
mod report;
mod rollback;
mod show;
mod state;
mod unlock;
mod validate;
mod version;

pub(crate) use apply::*;
pub(crate) use approve::*;
pub(crate) use console::*;
pub(crate) use drift::*;
pub(crate) use env::*;
pub(crate) use fmt::*;
pub(crate) use genconfig::*;
pub(crate) use import::*;
pub(crate) use init::*;
pub(crate) use log::*;
pub(crate) use outputs::*;
pub(crate) use policy::*;
pub(crate) use report::*;
pub(crate) use rollback::*;
pub(crate) use show::*;
pub(crate) use state::*;
pub(crate) use unlock::*;
pub(crate) use validate::*;
pub(crate) use version::*;

use crate::args::*;
use crate::output::{DiagnosticsError, Style, stderr_color, stdout_color};
use crate::progress::{Activity, Progress};
use crate::settings::{self, vars};
use crate::{EXIT_CHANGES, EXIT_ERROR};
use anyhow::{Context, Result, anyhow, bail};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;
use terrace_core::{ResourceAddr, Value};
use terrace_engine::apply::{ApplyObserver, ApplyOptions};
use terrace_engine::drift::{DriftOptions, detect_drift, load_ignore_rules, record_run};
use terrace_engine::model::{Plan, PlanMode};
use terrace_engine::ops::{self, ApplyRequest, EnvTarget};
use terrace_engine::{
    Engine, EngineError, LoadOptions, LoadedEnv, PlanOptions, envs, load_env, planjson, plansecrets,
};
use terrace_graph::CancelFlag;
use terrace_lang::Project;

/// The logging filter for `-v` counts: `-v` logs what terrace does (refresh
/// batches, locks, state writes) at info, `-vv` adds terrace's debug lines
/// (each AWS call with its duration); libraries (SQL, the SDK, HTTP) stay at
/// warnings until `-vvv`, and even then their request and response bodies
/// are capped at debug.
pub(crate) fn log_directives(verbose: u8) -> String {
    const OURS: &[&str] = &[
        "terrace",
        "terrace_core",
        "terrace_lang",
        "terrace_funcs",
        "terrace_graph",
        "terrace_provider",
        "terrace_aws",
        "terrace_state",
        "terrace_engine",
    ];
    let ours = |level: &str| {
        OURS.iter()
            .map(|c| format!("{c}={level}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    match verbose {
        0 => "warn".to_string(),
        1 => format!("warn,{}", ours("info")),
        2 => format!("warn,{}", ours("debug")),
        // The AWS SDK and its HTTP stack log whole requests and responses (tag
        // values included) at trace level: at -vvv keep them at debug, unless
        // RUST_LOG asks for them by name.
        _ => format!(
            "debug,{},aws_smithy_runtime=debug,aws_smithy_runtime_api=debug,aws_smithy_http_client=info,aws_sdk_ec2=debug,aws_sdk_s3=debug,aws_sdk_ecr=debug,aws_sdk_eks=debug,aws_sdk_iam=debug,aws_sdk_autoscaling=debug,aws_sdk_sts=debug,aws_config=info,hyper=info,hyper_util=info,h2=info,sqlx=info",
            ours("trace")
        ),
    }
}

pub fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    // TF_LOG (Terraform's) stands in for -v when RUST_LOG is unset.
    let tf_log = settings::tf_log().ok().flatten();
    let directives = match (cli.verbose, tf_log) {
        // Terraform's TF_LOG levels apply to everything, as TF_LOG does
        // (trace keeps the SDK's request bodies capped, like -vvv).
        (0, Some((level, _))) => match level {
            "trace" => log_directives(3),
            other => other.to_string(),
        },
        (verbose, _) => log_directives(verbose),
    };
    let filter =
        EnvFilter::try_from_env(vars::RUST_LOG).unwrap_or_else(|_| EnvFilter::new(directives));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let tf_json = settings::env_var(vars::RUST_LOG).is_none() && tf_log.is_some_and(|t| t.1);
    let _ = match cli.log_format {
        _ if tf_json => builder.json().try_init(),
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(stderr_color()).try_init(),
    };
}

/// Print an error on stderr: diagnostics with source, or one plain line.
pub fn print_error(e: &anyhow::Error) {
    if let Some(d) = e.downcast_ref::<DiagnosticsError>() {
        eprint!("{}", d.render(stderr_color()));
        return;
    }
    if let Some(
        EngineError::Config { diags, sources } | EngineError::PolicyDenied { diags, sources },
    ) = e.downcast_ref::<EngineError>()
    {
        eprint!(
            "{}",
            terrace_lang::render_diagnostics(diags, sources, stderr_color())
        );
        return;
    }
    let st = Style { on: stderr_color() };
    eprintln!("{} {e:#}", st.red(&st.bold("Error:")));
    if let Some((env, holder)) = lock_holder(e)
        && let Some(note) = dead_holder_note(env, holder, &terrace_state::current_host(), pid_alive)
    {
        eprintln!("{note}");
    }
}

/// The holder of the lock a "locked" error is about.
fn lock_holder(e: &anyhow::Error) -> Option<(&str, &terrace_state::LockInfo)> {
    use terrace_state::StateError;
    e.chain().find_map(|c| {
        let state =
            c.downcast_ref::<StateError>()
                .or_else(|| match c.downcast_ref::<EngineError>() {
                    Some(EngineError::State(s)) => Some(s),
                    _ => None,
                });
        match state {
            Some(StateError::Locked { env, holder }) => Some((env.as_str(), holder.as_ref())),
            _ => None,
        }
    })
}

/// Is process `pid` of this host running? (`/proc` on Linux; elsewhere
/// unknown, reported as alive.)
fn pid_alive(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// When the lock's holder ran on this host and its process is gone, say so
/// and how to go on.
pub(crate) fn dead_holder_note(
    env: &str,
    holder: &terrace_state::LockInfo,
    this_host: &str,
    alive: impl Fn(u32) -> bool,
) -> Option<String> {
    if holder.host != this_host || alive(holder.pid) {
        return None;
    }
    Some(format!(
        "The holder, pid {} on this host ({this_host}), is no longer running: its lock expires with its lease at {}. \
         To go on now, run `terrace force-unlock --force -e {} {}`.",
        holder.pid,
        crate::progress::rfc3339(holder.expires_at),
        env,
        holder.id
    ))
}

pub async fn run(cli: Cli) -> Result<u8> {
    let chdir = cli.chdir.clone();
    // fmt works on files anywhere, inside a project or not.
    if let Command::Fmt(a) = cli.command {
        return fmt(chdir.as_deref(), a);
    }
    // So does version.
    if let Command::Version(a) = cli.command {
        return version(a);
    }
    let (project, _) = settings::project(chdir.as_deref())?;
    match cli.command {
        Command::Validate(a) => validate(&project, a),
        Command::Graph(a) => graph(&project, a),
        Command::Approve(a) => approve(&project, a).await,
        Command::Plan(a) => plan(&project, a).await,
        Command::Apply(a) => apply(&project, a).await,
        Command::Destroy(a) => destroy(&project, a).await,
        Command::Show(a) => show(&project, a).await,
        Command::Output(a) => output(&project, a).await,
        Command::Drift(a) => drift(&project, a).await,
        Command::State(c) => state_command(&project, c).await,
        Command::ForceUnlock(a) => force_unlock(&project, a).await,
        Command::Env(c) => env_command(&project, c).await,
        Command::Log(a) => log(&project, a).await,
        Command::Policy(c) => policy_command(&project, c).await,
        Command::Fmt(_) => unreachable!("handled above"),
        Command::Init(a) => init(&project, a).await,
        Command::Rollback(a) => rollback(&project, a).await,
        Command::Report(a) => report(&project, a).await,
        Command::Import(a) => import(&project, a).await,
        Command::Console(a) => console(&project, a).await,
        Command::Version(_) => unreachable!("handled above"),
    }
}

pub(crate) fn load_options(v: &VarArgs) -> Result<LoadOptions> {
    Ok(LoadOptions {
        vars: settings::var_inputs(v)?,
        fixed_variables: None,
    })
}

pub(crate) fn parse_addrs(list: &[String], flag: &str) -> Result<Vec<ResourceAddr>> {
    list.iter()
        .map(|s| {
            s.parse::<ResourceAddr>().map_err(|e| {
                anyhow!("{flag} {s:?}: {e}; use an address like aws_instance.runner[0]")
            })
        })
        .collect()
}

pub(crate) fn plan_options(f: &PlanFlags) -> Result<PlanOptions> {
    if f.destroy && f.refresh_only {
        bail!("--destroy and --refresh-only cannot be used together");
    }
    Ok(PlanOptions {
        mode: if f.destroy {
            PlanMode::Destroy
        } else if f.refresh_only {
            PlanMode::RefreshOnly
        } else {
            PlanMode::Normal
        },
        refresh: f.refresh,
        targets: parse_addrs(&f.targets, "--target")?,
        replace: parse_addrs(&f.replace, "--replace")?,
        imports: vec![],
        skip_configuration: false,
    })
}

pub(crate) async fn target(project: &Project, engine: &Engine, env: &EnvArg) -> Result<EnvTarget> {
    let name = settings::require_env(env)?;
    let dir = settings::env_dir(project, Some(engine.store.as_ref()), &name).await?;
    Ok(EnvTarget { name, dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_holder_on_this_host_is_named_and_no_other() {
        let mut holder = terrace_state::LockInfo::new("apply");
        holder.host = "ci-1".into();
        holder.pid = 4242;
        let note = dead_holder_note("dev", &holder, "ci-1", |_| false).expect("dead here");
        assert!(note.contains("pid 4242 on this host (ci-1)"), "{note}");
        assert!(
            note.contains(&format!(
                "terrace force-unlock --force -e dev {}",
                holder.id
            )),
            "{note}"
        );
        // Alive, or on another host (its PID means nothing here): nothing said.
        assert_eq!(dead_holder_note("dev", &holder, "ci-1", |_| true), None);
        assert_eq!(dead_holder_note("dev", &holder, "ci-2", |_| false), None);
    }

    #[test]
    fn verbosity_levels_keep_libraries_quiet_until_vvv() {
        assert_eq!(log_directives(0), "warn");
        let v = log_directives(1);
        assert!(
            v.starts_with("warn,") && v.contains("terrace_engine=info"),
            "{v}"
        );
        let vv = log_directives(2);
        assert!(
            vv.starts_with("warn,") && vv.contains("terrace_aws=debug"),
            "{vv}"
        );
        assert!(!vv.contains("sqlx") && !vv.contains("aws_smithy"), "{vv}");
        let vvv = log_directives(3);
        assert!(
            vvv.starts_with("debug,") && vvv.contains("terrace=trace"),
            "{vvv}"
        );
    }
}
