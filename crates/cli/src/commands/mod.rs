//! The commands: each turns settings into engine calls and renders results.
//! One module per command (or family of commands); this module holds the
//! dispatcher and the helpers they share.

mod apply;
mod drift;
mod env;
mod outputs;
mod state;
mod unlock;
mod validate;

pub(crate) use apply::*;
pub(crate) use drift::*;
pub(crate) use env::*;
pub(crate) use outputs::*;
pub(crate) use state::*;
pub(crate) use unlock::*;
pub(crate) use validate::*;

use crate::args::*;
use crate::output::{DiagnosticsError, Style, stderr_color, stdout_color};
use crate::progress::Progress;
use crate::settings::{self, vars};
use crate::{EXIT_CHANGES, EXIT_ERROR};
use anyhow::{Context, Result, anyhow, bail};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;
use terrace_core::{ResourceAddr, Value};
use terrace_engine::apply::{ApplyObserver, ApplyOptions};
use terrace_engine::drift::{DriftOptions, detect_drift, load_ignore_rules, record_run};
use terrace_engine::model::{Plan, PlanFile, PlanMode};
use terrace_engine::ops::{self, ApplyRequest, EnvTarget};
use terrace_engine::{
    Engine, EngineError, LoadOptions, LoadedEnv, PlanOptions, envs, load_env, planjson,
};
use terrace_graph::CancelFlag;
use terrace_lang::Project;

pub fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    // TF_LOG (Terraform's) stands in for -v when RUST_LOG is unset.
    let tf_log = settings::tf_log().ok().flatten();
    let default = match (cli.verbose, tf_log) {
        (0, Some((level, _))) => level,
        (0, None) => "warn",
        (1, _) => "info",
        (2, _) => "debug",
        _ => "trace",
    };
    // The AWS SDK and its HTTP stack log whole requests and responses (tag
    // values included) at trace level: at -vvv keep them at debug, unless
    // RUST_LOG asks for them by name. (A directive enables its target, so the
    // caps are only added where they lower the level.)
    let directives = if cli.verbose >= 3 || default == "trace" {
        format!(
            "{default},aws_smithy_runtime=debug,aws_smithy_runtime_api=debug,aws_smithy_http_client=info,aws_sdk_ec2=debug,aws_sdk_s3=debug,aws_sdk_ecr=debug,aws_sdk_eks=debug,aws_sdk_iam=debug,aws_sdk_autoscaling=debug,aws_sdk_sts=debug,aws_config=info,hyper=info,hyper_util=info,h2=info,sqlx=warn"
        )
    } else {
        default.to_string()
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
    if let Some(EngineError::Config { diags, sources }) = e.downcast_ref::<EngineError>() {
        eprint!(
            "{}",
            terrace_lang::render_diagnostics(diags, sources, stderr_color())
        );
        return;
    }
    let st = Style { on: stderr_color() };
    eprintln!("{} {e:#}", st.red(&st.bold("Error:")));
}

pub async fn run(cli: Cli) -> Result<u8> {
    let chdir = cli.chdir.clone();
    let (project, _) = settings::project(chdir.as_deref())?;
    match cli.command {
        Command::Validate(a) => validate(&project, a),
        Command::Graph(a) => graph(&project, a),
        Command::Plan(a) => plan(&project, a).await,
        Command::Apply(a) => apply(&project, a).await,
        Command::Destroy(a) => destroy(&project, a).await,
        Command::Show(a) => show(&project, a).await,
        Command::Output(a) => output(&project, a).await,
        Command::Drift(a) => drift(&project, a).await,
        Command::State(c) => state_command(&project, c).await,
        Command::ForceUnlock(a) => force_unlock(&project, a).await,
        Command::Env(c) => env_command(&project, c).await,
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
    })
}

pub(crate) async fn target(project: &Project, engine: &Engine, env: &EnvArg) -> Result<EnvTarget> {
    let name = settings::require_env(env)?;
    let dir = settings::env_dir(project, Some(engine.store.as_ref()), &name).await?;
    Ok(EnvTarget { name, dir })
}
