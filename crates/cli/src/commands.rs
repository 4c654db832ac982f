//! The commands: each turns settings into engine calls and renders results.

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
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // The AWS SDK and its HTTP stack log whole requests and responses (tag
    // values included) at trace level: at -vvv keep them at debug, unless
    // RUST_LOG asks for them by name. (A directive enables its target, so the
    // caps are only added where they lower the level.)
    let directives = if cli.verbose >= 3 {
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
    let _ = match cli.log_format {
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
        Command::State(c) => crate::reports::state_command(&project, c).await,
        Command::ForceUnlock(a) => force_unlock(&project, a).await,
        Command::Env(c) => env_command(&project, c).await,
    }
}

fn load_options(v: &VarArgs) -> Result<LoadOptions> {
    Ok(LoadOptions {
        vars: settings::var_inputs(v)?,
        fixed_variables: None,
    })
}

fn parse_addrs(list: &[String], flag: &str) -> Result<Vec<ResourceAddr>> {
    list.iter()
        .map(|s| {
            s.parse::<ResourceAddr>().map_err(|e| {
                anyhow!("{flag} {s:?}: {e}; use an address like aws_instance.runner[0]")
            })
        })
        .collect()
}

fn plan_options(f: &PlanFlags) -> Result<PlanOptions> {
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

async fn target(project: &Project, engine: &Engine, env: &EnvArg) -> Result<EnvTarget> {
    let name = settings::require_env(env)?;
    let dir = settings::env_dir(project, Some(engine.store.as_ref()), &name).await?;
    Ok(EnvTarget { name, dir })
}

// ---- validate & graph ------------------------------------------------------

fn validate(project: &Project, a: ValidateArgs) -> Result<u8> {
    let engine = settings::offline_engine(project);
    let names = if a.all {
        settings::environment_names(project)?
    } else {
        vec![settings::require_env(&a.env)?]
    };
    let load = load_options(&a.vars)?;
    let mut all_diags = Vec::new();
    let mut failed = 0;
    for name in &names {
        let dir = project.environments_dir.join(name);
        if !dir.is_dir() {
            bail!("no environment folder {}", dir.display());
        }
        match load_env(&engine, name, &dir, &load) {
            Ok(env) => {
                if !a.json {
                    println!(
                        "{name}: configuration is valid ({} resources/blocks, {} graph nodes).",
                        count_resources(&env),
                        env.nodes.len()
                    );
                }
            }
            Err(EngineError::Config { diags, sources }) => {
                failed += 1;
                if a.json {
                    all_diags.push(serde_json::json!({ "environment": name, "diagnostics": terrace_lang::diagnostics_json(&diags) }));
                } else {
                    eprintln!("{name}: configuration has errors:");
                    eprint!(
                        "{}",
                        terrace_lang::render_diagnostics(&diags, &sources, stderr_color())
                    );
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    if a.all && !a.json {
        // Shipped modules are checked as part of the environments that call them.
        println!(
            "{} of {} environments valid.",
            names.len() - failed,
            names.len()
        );
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "valid": failed == 0, "environments": names, "errors": all_diags })
            )?
        );
    }
    Ok(if failed > 0 { EXIT_ERROR } else { 0 })
}

fn count_resources(env: &LoadedEnv) -> usize {
    env.nodes
        .iter()
        .filter(|n| matches!(n.kind, terrace_lang::NodeKind::Resource(_)))
        .count()
}

fn graph(project: &Project, a: GraphArgs) -> Result<u8> {
    let engine = settings::offline_engine(project);
    let name = settings::require_env(&a.env)?;
    let dir = project.environments_dir.join(&name);
    let env = load_env(&engine, &name, &dir, &load_options(&a.vars)?)?;
    match a.format {
        GraphFormat::Dot => print!("{}", env.graph.to_dot()),
        GraphFormat::Json => {
            let nodes: Vec<serde_json::Value> = env
                .nodes
                .iter()
                .map(|n| {
                    serde_json::json!({
                        "id": n.id,
                        "kind": node_kind(&n.kind),
                        "module": n.module.to_string(),
                        "location": n.range.as_ref().map(|r| r.to_string()),
                    })
                })
                .collect();
            let edges: Vec<serde_json::Value> = env
                .graph
                .sorted_edges()
                .into_iter()
                .map(|(a, b)| serde_json::json!({ "from": a, "to": b }))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "nodes": nodes, "edges": edges })
                )?
            );
        }
    }
    Ok(0)
}

fn node_kind(k: &terrace_lang::NodeKind) -> &'static str {
    use terrace_lang::NodeKind::*;
    match k {
        Resource(a) if a.mode == terrace_core::ResourceMode::Data => "data",
        Resource(_) => "resource",
        Local(_) => "local",
        Variable(_) => "variable",
        Output(_) => "output",
        Provider(_) => "provider",
    }
}

// ---- plan, apply, destroy, show --------------------------------------------

fn print_stats(calls: &BTreeMap<String, u64>) {
    let total: u64 = calls.values().sum();
    eprintln!("API calls: {total}");
    for (op, n) in calls {
        eprintln!("  {op:<40} {n}");
    }
}

async fn plan(project: &Project, a: PlanArgs) -> Result<u8> {
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    let t = target(project, &engine, &a.env).await?;
    let opts = plan_options(&a.flags)?;
    let (env, plan, providers) =
        ops::plan(&engine, &t, &load_options(&a.flags.vars)?, &opts).await?;
    if a.json {
        let prior = engine.store.read(&env.name).await?;
        println!(
            "{}",
            serde_json::to_string_pretty(&planjson::plan_json(&plan, prior.as_ref()))?
        );
    } else {
        print!(
            "{}",
            crate::render::render_plan(&plan, Style { on: stdout_color() })
        );
    }
    if let Some(path) = &a.out {
        let file = plan.to_file();
        let text = serde_json::to_vec_pretty(&file)?;
        write_private(path, &text)
            .with_context(|| format!("writing plan file {}", path.display()))?;
        if !a.json {
            println!(
                "\nSaved the plan to: {}\nTo perform exactly these actions, run:\n    terrace apply -e {} {}",
                path.display(),
                env.name,
                path.display()
            );
        }
    }
    if a.flags.stats {
        print_stats(&ops::api_calls(&providers));
    }
    Ok(if a.detailed_exitcode && plan.has_changes() {
        EXIT_CHANGES
    } else {
        0
    })
}

/// Plan files hold secrets: write them readable by the owner only.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)
}

fn read_plan_file(path: &std::path::Path) -> Result<Plan> {
    let text =
        std::fs::read(path).with_context(|| format!("cannot read plan file {}", path.display()))?;
    let file: PlanFile = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is not a terrace plan file (create one with `terrace plan -out FILE`)",
            path.display()
        )
    })?;
    Plan::from_file(file).map_err(|e| anyhow!(e))
}

/// Ask "type yes" on a terminal; refuse without one.
fn confirm(prompt: &str, auto_approve: bool) -> Result<bool> {
    if auto_approve {
        return Ok(true);
    }
    if !crate::output::stdin_is_terminal() {
        bail!(
            "{prompt} needs confirmation, but standard input is not a terminal; pass --auto-approve to run without confirmation"
        );
    }
    eprint!("\n{prompt}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// Ctrl-C: the first stops starting new work; the second exits at once (the
/// intent journal keeps that safe).
fn install_interrupt(cancel: CancelFlag) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\nInterrupt received: finishing operations in flight, saving state and releasing the lock. Press Ctrl-C again to exit at once."
            );
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "Second interrupt: exiting now. The next apply reconciles what was in flight."
                );
                std::process::exit(130);
            }
        }
    });
}

struct RunApply {
    target: EnvTarget,
    load: LoadOptions,
    plan_opts: PlanOptions,
    saved_plan: Option<Plan>,
    auto_approve: bool,
    parallelism: usize,
    operation: &'static str,
    stats: bool,
}

async fn run_apply(engine: &Engine, r: RunApply) -> Result<u8> {
    run_apply_failures(engine, r).await.map(|(code, _)| code)
}

/// Like `run_apply`, also returning each failure as `ADDR: ERROR` (for the
/// environment registry's status detail).
async fn run_apply_failures(engine: &Engine, r: RunApply) -> Result<(u8, Vec<String>)> {
    let cancel = CancelFlag::new();
    install_interrupt(cancel.clone());
    let delete_retry = match settings::env_var(vars::TERRACE_DELETE_RETRY) {
        Some(s) => settings::parse_duration(&s, vars::TERRACE_DELETE_RETRY)?,
        None => std::time::Duration::from_secs(300),
    };
    let apply_opts = ApplyOptions {
        parallelism: r.parallelism.max(1),
        cancel: cancel.clone(),
        delete_retry_for: delete_retry,
        operation: r.operation.to_string(),
        who: settings::who(),
        ..ApplyOptions::default()
    };
    let st_out = Style { on: stdout_color() };
    let auto = r.auto_approve;
    let saved = r.saved_plan.is_some();
    let is_destroy = r.plan_opts.mode == PlanMode::Destroy;
    let env_name = r.target.name.clone();
    let confirm_cb = move |plan: &Plan, _env: &LoadedEnv| -> bool {
        if !saved {
            print!("{}", crate::render::render_plan(plan, st_out));
        }
        if saved {
            return true;
        }
        let prompt = if is_destroy {
            format!("Do you really want to destroy all resources of '{env_name}'?")
        } else {
            format!("Do you want to perform these actions in '{env_name}'?")
        };
        match confirm(&prompt, auto) {
            Ok(yes) => yes,
            Err(e) => {
                eprintln!("Error: {e}");
                false
            }
        }
    };
    let fancy = crate::output::stderr_is_terminal() && stderr_color();
    let progress = Arc::new(Progress::new(0, fancy));
    let observer: &dyn ApplyObserver = progress.as_ref();
    let req = ApplyRequest {
        target: r.target.clone(),
        load: r.load,
        plan_opts: r.plan_opts,
        saved_plan: r.saved_plan,
        apply_opts,
        confirm: &confirm_cb,
        observer,
    };
    let outcome = match ops::apply(engine, req).await {
        Ok(o) => o,
        Err(EngineError::Cancelled(msg)) => {
            eprintln!("{msg}");
            return Ok((EXIT_ERROR, vec![msg]));
        }
        Err(e) => return Err(e.into()),
    };
    progress.finish();
    for line in &outcome.reconciled {
        eprintln!("Reconciled: {line}");
    }
    if !outcome.plan.has_changes() {
        print!("{}", crate::render::render_plan(&outcome.plan, st_out));
        if r.stats {
            print_stats(&outcome.api_calls);
        }
        return Ok((0, vec![]));
    }
    let rep = &outcome.report;
    let st = Style { on: stdout_color() };
    if rep.cancelled {
        println!(
            "\n{} Apply interrupted: state saved, lock released. Run apply again to finish.",
            st.yellow("Interrupted.")
        );
    }
    if !rep.failures.is_empty() {
        eprintln!();
        for (addr, err) in &rep.failures {
            eprintln!(
                "{} {addr}: {err}",
                Style { on: stderr_color() }.red("Error:")
            );
        }
        if !rep.skipped.is_empty() {
            eprintln!(
                "Skipped because something they depend on failed: {}",
                rep.skipped.join(", ")
            );
        }
    }
    let verb = if is_destroy { "Destroy" } else { "Apply" };
    let status = if rep.failures.is_empty() && !rep.cancelled {
        "complete"
    } else {
        "finished with errors"
    };
    if is_destroy {
        println!(
            "\n{} Resources: {} destroyed.",
            st.green(&st.bold(&format!("{verb} {status}!"))),
            rep.destroyed
        );
    } else {
        let imported = if rep.imported > 0 {
            format!("{} imported, ", rep.imported)
        } else {
            String::new()
        };
        println!(
            "\n{} Resources: {imported}{} added, {} changed, {} destroyed.",
            st.bold(&format!("{verb} {status}!")),
            rep.added,
            rep.changed,
            rep.destroyed
        );
        if !outcome.outputs.is_empty() {
            println!("\nOutputs:\n");
            print_outputs_text(&outcome.outputs, None)?;
        }
    }
    if r.stats {
        print_stats(&outcome.api_calls);
    }
    let failures = rep
        .failures
        .iter()
        .map(|(addr, err)| format!("{addr}: {err}"))
        .collect();
    Ok((
        if rep.failures.is_empty() && !rep.cancelled {
            0
        } else {
            EXIT_ERROR
        },
        failures,
    ))
}

async fn apply(project: &Project, a: ApplyArgs) -> Result<u8> {
    let lock_timeout = settings::parse_duration(&a.lock_timeout, "--lock-timeout")?;
    let engine = settings::engine(project, lock_timeout).await?;
    let saved = match &a.plan_file {
        Some(p) => Some(read_plan_file(p)?),
        None => None,
    };
    let env_arg = match (&a.env.env, &saved) {
        (Some(_), _) => a.env.clone(),
        (None, Some(p)) => EnvArg {
            env: Some(p.environment.clone()),
        },
        (None, None) => a.env.clone(),
    };
    let t = target(project, &engine, &env_arg).await?;
    let plan_opts = plan_options(&a.flags)?;
    let operation = match plan_opts.mode {
        PlanMode::Destroy => "destroy",
        _ => "apply",
    };
    run_apply(
        &engine,
        RunApply {
            target: t,
            load: load_options(&a.flags.vars)?,
            plan_opts,
            saved_plan: saved,
            auto_approve: a.auto_approve,
            parallelism: a.parallelism,
            operation,
            stats: a.flags.stats,
        },
    )
    .await
}

async fn destroy(project: &Project, a: DestroyArgs) -> Result<u8> {
    let lock_timeout = settings::parse_duration(&a.lock_timeout, "--lock-timeout")?;
    let engine = settings::engine(project, lock_timeout).await?;
    let t = target(project, &engine, &a.env).await?;
    run_apply(
        &engine,
        RunApply {
            target: t,
            load: load_options(&a.vars)?,
            plan_opts: ops::destroy_options(parse_addrs(&a.targets, "--target")?, a.refresh),
            saved_plan: None,
            auto_approve: a.auto_approve,
            parallelism: a.parallelism,
            operation: "destroy",
            stats: a.stats,
        },
    )
    .await
}

async fn show(project: &Project, a: ShowArgs) -> Result<u8> {
    let plan = read_plan_file(&a.plan_file)?;
    if a.json {
        let engine = settings::engine(project, std::time::Duration::ZERO).await?;
        let prior = engine.store.read(&plan.environment).await.ok().flatten();
        println!(
            "{}",
            serde_json::to_string_pretty(&planjson::plan_json(&plan, prior.as_ref()))?
        );
    } else {
        print!(
            "{}",
            crate::render::render_plan(&plan, Style { on: stdout_color() })
        );
    }
    Ok(0)
}

// ---- outputs ---------------------------------------------------------------

fn json_of(v: &Value) -> serde_json::Value {
    v.to_json_lossy()
}

fn print_outputs_text(outs: &BTreeMap<String, (Value, bool)>, _name: Option<&str>) -> Result<()> {
    let w = outs.keys().map(String::len).max().unwrap_or(0);
    for (k, (v, sensitive)) in outs {
        if *sensitive {
            println!("{k:<w$} = <sensitive>");
        } else {
            println!("{k:<w$} = {}", v);
        }
    }
    Ok(())
}

fn dotenv_name(k: &str) -> String {
    k.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn flat(v: &Value) -> String {
    match v.unmarked() {
        Value::String(s) => s.clone(),
        other => json_of(other).to_string(),
    }
}

async fn output(project: &Project, a: OutputArgs) -> Result<u8> {
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    let name = settings::require_env(&a.env)?;
    let outs = ops::outputs(&engine, &name).await?;
    let format = if a.json { OutputFormat::Json } else { a.format };
    if let Some(one) = &a.name {
        let (v, _) = outs.get(one).ok_or_else(|| {
            anyhow!(
                "no output named {one:?} in '{name}'; outputs: {}",
                if outs.is_empty() {
                    "none".into()
                } else {
                    outs.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            )
        })?;
        // Named explicitly: print it, sensitive or not, as Terraform does.
        match format {
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&json_of(v))?),
            OutputFormat::Dotenv => println!("{}={}", dotenv_name(one), shell_quote(&flat(v))),
            OutputFormat::Github => append_github(&[(one.clone(), flat(v))])?,
            OutputFormat::Text => println!("{}", flat(v)),
        }
        return Ok(0);
    }
    match format {
        OutputFormat::Text => print_outputs_text(&outs, None)?,
        OutputFormat::Json => {
            let doc: serde_json::Map<String, serde_json::Value> = outs
                .iter()
                .map(|(k, (v, s))| {
                    (k.clone(), serde_json::json!({ "sensitive": s, "value": if *s { serde_json::Value::Null } else { json_of(v) } }))
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        OutputFormat::Dotenv => {
            for (k, (v, s)) in &outs {
                if !*s {
                    println!("{}={}", dotenv_name(k), shell_quote(&flat(v)));
                }
            }
        }
        OutputFormat::Github => {
            let pairs: Vec<(String, String)> = outs
                .iter()
                .filter(|(_, (_, s))| !*s)
                .map(|(k, (v, _))| (k.clone(), flat(v)))
                .collect();
            append_github(&pairs)?;
        }
    }
    Ok(0)
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c))
        && !s.is_empty()
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn append_github(pairs: &[(String, String)]) -> Result<()> {
    let path = settings::env_var(vars::GITHUB_OUTPUT).ok_or_else(|| {
        anyhow!("--format github appends to the file named by GITHUB_OUTPUT, which is not set")
    })?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {path}"))?;
    for (k, v) in pairs {
        if v.contains('\n') {
            let delim = format!("terrace_{}", uuid::Uuid::new_v4().simple());
            writeln!(f, "{k}<<{delim}\n{v}\n{delim}")?;
        } else {
            writeln!(f, "{k}={v}")?;
        }
    }
    Ok(())
}

// ---- drift -----------------------------------------------------------------

async fn drift(project: &Project, a: DriftArgs) -> Result<u8> {
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    if let Some(DriftSub::History { env, json, limit }) = &a.sub {
        let name = settings::require_env(env)?;
        return crate::reports::drift_history(&engine, &name, *json, *limit).await;
    }
    let names: Vec<String> = if a.all {
        let mut n = settings::environment_names(project)?;
        for rec in engine.store.registry_list().await? {
            if !n.contains(&rec.name) {
                n.push(rec.name);
            }
        }
        // Only environments that have state: the others have nothing to drift.
        let with_state = engine.store.list_environments().await?;
        n.retain(|x| with_state.contains(x));
        n.sort();
        n
    } else {
        vec![settings::require_env(&a.env)?]
    };
    let load = load_options(&a.vars)?;
    let sem = Arc::new(tokio::sync::Semaphore::new(a.concurrency.max(1)));
    let mut tasks = Vec::new();
    for name in names {
        let engine = engine.clone();
        let project = project.clone();
        let load = LoadOptions {
            vars: load.vars.clone(),
            fixed_variables: None,
        };
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await;
            let dir = settings::env_dir(&project, Some(engine.store.as_ref()), &name).await?;
            let env = load_env(&engine, &name, &dir, &load)?;
            let opts = DriftOptions {
                ignore: load_ignore_rules(&dir),
            };
            let report = detect_drift(&engine, &env, &opts).await?;
            record_run(&engine, &report).await?;
            if let Some(mut rec) = engine.store.registry_get(&name).await? {
                rec.last_drift = Some(if report.has_drift() {
                    "drift".into()
                } else {
                    "in sync".into()
                });
                engine.store.registry_put(&rec).await?;
            }
            Ok::<_, anyhow::Error>(report)
        }));
    }
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for t in tasks {
        match t.await? {
            Ok(r) => reports.push(r),
            Err(e) => errors.push(e),
        }
    }
    let formats = if a.formats.is_empty() {
        vec![DriftFormat::Text]
    } else {
        a.formats.clone()
    };
    for (i, f) in formats.iter().enumerate() {
        let text = crate::reports::render_drift(
            &reports,
            *f,
            &engine.project_root,
            Style {
                on: stdout_color() && a.outputs.get(i).is_none(),
            },
        )?;
        match a.outputs.get(i) {
            Some(path) => {
                std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
            }
            None => print!("{text}"),
        }
    }
    if a.stats {
        let mut calls = BTreeMap::new();
        for r in &reports {
            for (k, v) in &r.api_calls {
                *calls.entry(k.clone()).or_default() += v;
            }
        }
        print_stats(&calls);
    }
    if !errors.is_empty() {
        for e in &errors {
            print_error(e);
        }
        return Ok(EXIT_ERROR);
    }
    let drifted = reports.iter().any(|r| r.has_drift());
    let pending = reports.iter().any(|r| !r.pending.is_empty());
    Ok(
        if drifted || (a.fail_on == Some(FailOn::Pending) && pending) {
            EXIT_CHANGES
        } else {
            0
        },
    )
}

// ---- locks -----------------------------------------------------------------

async fn force_unlock(project: &Project, a: ForceUnlockArgs) -> Result<u8> {
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    let name = settings::require_env(&a.env)?;
    let holder = engine.store.current_lock(&name).await?;
    let Some(holder) = holder else {
        bail!("'{name}' is not locked; nothing to do");
    };
    if holder.id != a.lock_id {
        bail!(
            "the lock of '{name}' has ID {}, not {}; check `terrace force-unlock` arguments",
            holder.id,
            a.lock_id
        );
    }
    if !a.force
        && !confirm(
            &format!(
                "Remove the lock of '{name}' held by {} (pid {}, {}) since {}? Only do this if that process is dead.",
                holder.who, holder.pid, holder.operation, holder.created_at
            ),
            false,
        )?
    {
        bail!("force-unlock cancelled");
    }
    engine.store.force_unlock(&name, &a.lock_id).await?;
    println!("Lock {} of '{name}' removed.", a.lock_id);
    Ok(0)
}

// ---- environments ----------------------------------------------------------

async fn env_command(project: &Project, c: EnvCommand) -> Result<u8> {
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    let now = settings::now()?;
    match c {
        EnvCommand::Create {
            name,
            from,
            ttl,
            vars: v,
            auto_approve,
            parallelism,
        } => {
            let template_dir = project.environments_dir.join(&from);
            if !template_dir.is_dir() {
                bail!(
                    "template '{from}' not found: {} does not exist",
                    template_dir.display()
                );
            }
            if project.environments_dir.join(&name).is_dir() {
                bail!(
                    "'{name}' is a persistent environment (environments/{name}); pick another name"
                );
            }
            let ttl = ttl
                .map(|t| envs::parse_ttl(&t))
                .transpose()
                .map_err(|e| anyhow!(e))?;
            envs::register(
                engine.store.as_ref(),
                &name,
                &from,
                ttl,
                now,
                &settings::who(),
            )
            .await?;
            eprintln!("Registered ephemeral environment '{name}' from template '{from}'.");
            let code = run_apply(
                &engine,
                RunApply {
                    target: EnvTarget {
                        name: name.clone(),
                        dir: template_dir,
                    },
                    load: load_options(&v)?,
                    plan_opts: PlanOptions {
                        refresh: true,
                        ..Default::default()
                    },
                    saved_plan: None,
                    auto_approve,
                    parallelism,
                    operation: "env create",
                    stats: false,
                },
            )
            .await;
            match code {
                Ok(0) => {
                    envs::set_status(engine.store.as_ref(), &name, envs::STATUS_ACTIVE, "").await?;
                    Ok(0)
                }
                Ok(c) => {
                    envs::set_status(
                        engine.store.as_ref(),
                        &name,
                        envs::STATUS_CREATING,
                        "apply failed; run `terrace apply -e NAME` or `terrace env destroy NAME`",
                    )
                    .await?;
                    Ok(c)
                }
                Err(e) => {
                    envs::set_status(
                        engine.store.as_ref(),
                        &name,
                        envs::STATUS_CREATING,
                        &format!("apply failed: {e:#}"),
                    )
                    .await?;
                    Err(e)
                }
            }
        }
        EnvCommand::List { json } => crate::reports::env_list(project, &engine, now, json).await,
        EnvCommand::Extend { name, ttl } => {
            let ttl = envs::parse_ttl(&ttl).map_err(|e| anyhow!(e))?;
            let rec = envs::extend(engine.store.as_ref(), &name, ttl, now).await?;
            println!(
                "'{name}' now expires at {}.",
                rec.expires_at.map(|e| e.to_rfc3339()).unwrap_or_default()
            );
            Ok(0)
        }
        EnvCommand::Destroy {
            name,
            auto_approve,
            parallelism,
        } => destroy_env(project, &engine, &name, auto_approve, parallelism).await,
        EnvCommand::Gc {
            dry_run,
            parallelism,
        } => {
            let due = envs::due(engine.store.as_ref(), now).await?;
            if due.is_empty() {
                println!("No expired environments.");
                return Ok(0);
            }
            let mut failed = 0;
            for rec in due {
                let why = match rec.expires_at {
                    Some(e) if e <= now => format!("expired {}", e.to_rfc3339()),
                    _ => format!("its last destroy failed: {}", rec.status_detail),
                };
                if dry_run {
                    println!("would destroy '{}' ({why})", rec.name);
                    continue;
                }
                println!("Destroying '{}' ({why})...", rec.name);
                match destroy_env(project, &engine, &rec.name, true, parallelism).await {
                    Ok(0) => {}
                    Ok(_) => failed += 1,
                    Err(e) => {
                        print_error(&e);
                        failed += 1;
                    }
                }
            }
            Ok(if failed > 0 { EXIT_ERROR } else { 0 })
        }
    }
}

async fn destroy_env(
    project: &Project,
    engine: &Engine,
    name: &str,
    auto_approve: bool,
    parallelism: usize,
) -> Result<u8> {
    let rec = engine.store.registry_get(name).await?;
    let dir = settings::env_dir(project, Some(engine.store.as_ref()), name).await?;
    envs::set_status(engine.store.as_ref(), name, envs::STATUS_DESTROYING, "").await?;
    let result = run_apply_failures(
        engine,
        RunApply {
            target: EnvTarget {
                name: name.to_string(),
                dir,
            },
            load: LoadOptions {
                vars: Default::default(),
                fixed_variables: None,
            },
            plan_opts: ops::destroy_options(vec![], true),
            saved_plan: None,
            auto_approve,
            parallelism,
            operation: "env destroy",
            stats: false,
        },
    )
    .await;
    let remaining = engine
        .store
        .read(name)
        .await?
        .map(|s| s.resources.iter().filter(|r| r.mode == "managed").count())
        .unwrap_or(0);
    match result {
        Ok((0, _)) if remaining == 0 => {
            if rec.is_some() {
                // An ephemeral environment leaves nothing behind: its (empty)
                // current state goes first (history is kept), so that
                // `output -e NAME` fails and the name can be created anew; the
                // record goes last, so a failure here is resumed by a retry.
                let held = terrace_state::lock_environment(
                    engine.store.clone(),
                    name,
                    "env destroy",
                    engine.lock_timeout,
                )
                .await?;
                let deleted = engine
                    .store
                    .delete_environment(name, Some(held.lease()))
                    .await;
                held.release().await?;
                deleted?;
                engine.store.registry_delete(name).await?;
            }
            println!("Environment '{name}' destroyed.");
            Ok(0)
        }
        Ok((code, failures)) => {
            let reason = if failures.is_empty() {
                String::new()
            } else {
                format!("{}; ", failures.join("; "))
            };
            let detail = format!(
                "{reason}{remaining} resource(s) remain; run `terrace env destroy {name}` or `terrace env gc` again"
            );
            envs::set_status(
                engine.store.as_ref(),
                name,
                envs::STATUS_DESTROY_FAILED,
                &detail,
            )
            .await?;
            eprintln!("Environment '{name}' not fully destroyed: {detail}");
            Ok(if code == 0 { EXIT_ERROR } else { code })
        }
        Err(e) => {
            envs::set_status(
                engine.store.as_ref(),
                name,
                envs::STATUS_DESTROY_FAILED,
                &format!("{e:#}"),
            )
            .await?;
            Err(e)
        }
    }
}
