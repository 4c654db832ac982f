//! `plan`, `apply` and `destroy`: planning, saved plan files, confirmation, interrupts and the apply run.

use super::*;

pub(crate) fn print_stats(calls: &BTreeMap<String, u64>) {
    let total: u64 = calls.values().sum();
    eprintln!("API calls: {total}");
    for (op, n) in calls {
        eprintln!("  {op:<40} {n}");
    }
}

pub(crate) async fn plan(project: &Project, a: PlanArgs) -> Result<u8> {
    tf_flags(&a.flags.tf, "plan");
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    let t = target(project, &engine, &a.env).await?;
    let mut opts = plan_options(&a.flags)?;
    // Only plan files and plan JSON carry the configuration section.
    opts.skip_configuration = !a.json && a.out.is_none();
    let policies = load_policy_set(project)?;
    if let Some(out) = &a.generate_config_out {
        generate_config(&engine, &t, &load_options(&a.flags.vars)?, out).await?;
    }
    let activity = Activity::start(
        "Refreshing state and planning",
        crate::output::stderr_is_terminal() && stderr_color(),
    );
    let planned = ops::plan(&engine, &t, &load_options(&a.flags.vars)?, &opts).await;
    activity.stop();
    let (env, plan, providers) = planned?;
    let policy = evaluate_policies(policies.as_ref(), &plan, &env)?;
    if a.json {
        let prior = engine.store.read(&env.name).await?;
        let doc = with_policy_results(planjson::plan_json(&plan, prior.as_ref()), policy.as_ref());
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!(
            "{}",
            crate::render::render_plan(&plan, Style { on: stdout_color() })
        );
        if let Some(r) = &policy {
            print!("{}", policy_summary_text(r, Style { on: stdout_color() }));
        }
    }
    if let (Some(r), Some(set)) = (&policy, &policies) {
        print_policy_diagnostics(r, set);
    }
    // max_deletes / max_replacements of the environment's block: refused
    // (and no plan file written) unless --allow-destructive.
    for line in check_plan_limits(project, &engine, &plan, a.allow_destructive).await? {
        eprintln!(
            "{} {line} (allowed with --allow-destructive)",
            Style { on: stderr_color() }.yellow("Warning:")
        );
    }
    if let Some(path) = &a.out {
        let mut file = plan.to_file();
        file.guard = Some(plan_file_guard(&providers, a.allow_destructive).await);
        let doc = with_policy_results(serde_json::to_value(file)?, policy.as_ref());
        let text = write_plan_doc(&engine, &plan.environment, doc).await?;
        write_private(path, &text)
            .with_context(|| format!("writing plan file {}", path.display()))?;
        if !a.json && !settings::in_automation() {
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
    let code = if policy.as_ref().is_some_and(|r| r.denied()) {
        EXIT_ERROR
    } else if a.detailed_exitcode && plan.has_changes() {
        EXIT_CHANGES
    } else {
        0
    };
    // The process ends with this command: the configuration, graph and
    // plan (plain data, nothing to close or flush) go back to the OS with
    // it, instead of being freed one allocation at a time first.
    std::mem::forget((env, plan));
    Ok(code)
}

/// Terraform's `-input`, `-lock` and `-compact-warnings`.
pub(crate) fn tf_flags(f: &TfFlags, command: &str) {
    if !f.input {
        settings::disable_input();
    }
    if !f.lock && command != "plan" {
        let st = Style { on: stderr_color() };
        eprintln!(
            "{} -lock=false is ignored: terrace always holds the environment's leased lock while {command} writes state (a dead holder's lease expires by itself).",
            st.yellow("Warning:")
        );
    }
}

/// Plan files hold no secret in clear (`plansecrets`), but they still say
/// what will change: write them readable by the owner only (0600).
/// The file is written beside `path` under a temporary name and renamed over
/// it, so a pre-existing file's mode (or hard links to it) is never kept, and
/// a symbolic link at `path` is refused rather than written through.
pub(crate) fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_symlink()
    {
        return Err(std::io::Error::other(format!(
            "{} is a symbolic link; refusing to write a file holding secrets through it (remove the link or \
             choose another path)",
            path.display()
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plan".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The bytes of a plan file for the JSON of a plan file (with sections of
/// its own added): no sensitive value in clear (sealed with the state key
/// when one is set, otherwise left out; `plansecrets`).
pub(crate) async fn write_plan_doc(
    engine: &Engine,
    environment: &str,
    doc: serde_json::Value,
) -> Result<Vec<u8>> {
    let sealer = settings::sealer()?;
    Ok(plansecrets::encode_doc(doc, environment, sealer.as_ref(), engine.store.as_ref()).await?)
}

/// Read a plan file as it is: sensitive values stay placeholders.
pub(crate) fn read_saved_plan(path: &std::path::Path) -> Result<plansecrets::SavedPlan> {
    let text =
        std::fs::read(path).with_context(|| format!("cannot read plan file {}", path.display()))?;
    plansecrets::SavedPlan::parse(&text).map_err(|e| {
        anyhow!(
            "{} is not a terrace plan file ({e}); create one with `terrace plan -out FILE`",
            path.display()
        )
    })
}

/// A plan file for showing (sensitive values hidden; neither the key nor
/// the values are needed).
pub(crate) fn read_plan_file(path: &std::path::Path) -> Result<Plan> {
    read_saved_plan(path)?
        .for_display()
        .map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// A plan file for applying: sensitive values decrypted with the state key,
/// or evaluated again from this run's inputs and checked against the plan.
pub(crate) async fn plan_for_apply(
    engine: &Engine,
    saved: &plansecrets::SavedPlan,
    target: &EnvTarget,
    vars: &VarArgs,
) -> Result<Plan> {
    let encrypted = saved
        .secrets
        .as_ref()
        .is_some_and(|s| s.mode == plansecrets::SecretsMode::Encrypted);
    if encrypted {
        return Ok(saved.decrypt(settings::sealer()?.as_ref())?);
    }
    let inputs = settings::var_inputs(vars)?;
    Ok(saved.reevaluate(engine, target, &inputs).await?)
}

type Answer = Option<std::io::Result<String>>;

/// The prompt waiting for an answer, if any: the interrupt handler answers
/// it with `None` (cancel).
static PROMPT: std::sync::Mutex<Option<std::sync::mpsc::Sender<Answer>>> =
    std::sync::Mutex::new(None);

/// Ask "type yes" on a terminal; refuse without one, naming `flag`, the flag
/// that skips the question. Ctrl-C while it waits answers "no" at once.
pub(crate) fn confirm(prompt: &str, auto_approve: bool, flag: &str) -> Result<bool> {
    if auto_approve {
        return Ok(true);
    }
    if settings::input_disabled() {
        bail!(
            "{prompt} needs confirmation, but -input=false forbids asking; pass -auto-approve (or apply a saved plan: plan -out=FILE, then apply FILE)"
        );
    }
    if !crate::output::stdin_is_terminal()
        && settings::env_var(vars::TERRACE_PROMPT_STDIN).is_none()
    {
        bail!(
            "cannot ask for confirmation: standard input is not a terminal; pass {flag} to go ahead without asking"
        );
    }
    eprint!("\n{prompt}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    std::io::stderr().flush()?;
    let (tx, rx) = std::sync::mpsc::channel::<Answer>();
    *PROMPT.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx.clone());
    // The read blocks; it runs on its own thread so that an interrupt can
    // answer instead (the thread ends with the process).
    std::thread::spawn(move || {
        let mut line = String::new();
        let r = std::io::stdin().lock().read_line(&mut line).map(|_| line);
        let _ = tx.send(Some(r));
    });
    let answer = rx.recv();
    PROMPT.lock().unwrap_or_else(|p| p.into_inner()).take();
    match answer {
        Ok(Some(line)) => Ok(line?.trim() == "yes"),
        // Interrupted.
        _ => Ok(false),
    }
}

/// Answer a waiting prompt with "cancel"; false when no prompt waits.
fn interrupt_prompt() -> bool {
    match PROMPT.lock().unwrap_or_else(|p| p.into_inner()).take() {
        Some(tx) => tx.send(None).is_ok(),
        None => false,
    }
}

/// Ctrl-C at the prompt cancels at once (nothing was changed; the lock is
/// released on the way out). During the apply, the first stops starting new
/// work; the second exits at once (the intent journal keeps that safe).
/// Messages go through the progress display so that spinners never
/// overwrite them.
pub(crate) fn install_interrupt(cancel: CancelFlag, progress: Arc<Progress>) {
    tokio::spawn(async move {
        loop {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            if interrupt_prompt() {
                eprintln!("\nInterrupt received at the prompt: cancelling; nothing was changed.");
                continue;
            }
            cancel.cancel();
            progress.note(
                "Interrupt received: finishing operations in flight, saving state and releasing the lock. Press Ctrl-C again to exit at once.",
            );
            if tokio::signal::ctrl_c().await.is_ok() {
                progress.note(
                    "Second interrupt: exiting now. The next apply reconciles what was in flight.",
                );
                progress.finish();
                std::process::exit(130);
            }
            return;
        }
    });
}

pub(crate) struct RunApply {
    pub(crate) target: EnvTarget,
    pub(crate) load: LoadOptions,
    pub(crate) plan_opts: PlanOptions,
    pub(crate) saved_plan: Option<Plan>,
    pub(crate) auto_approve: bool,
    pub(crate) parallelism: usize,
    pub(crate) operation: &'static str,
    pub(crate) stats: bool,
    /// `ledger { retention_days }` of terrace.hcl.
    pub(crate) retention_days: Option<u32>,
    /// `state { history { … } }` of terrace.hcl.
    pub(crate) history: terrace_state::HistoryRetention,
    /// A rollback: the snapshot restored.
    pub(crate) rollback: Option<terrace_engine::rollback::Restore>,
    /// `notify` blocks of terrace.hcl.
    pub(crate) notify: Vec<terrace_engine::notify::Target>,
    /// The project's policies (checked before any change; see `commands::policy`).
    pub(crate) policy: Option<Arc<terrace_engine::policy::PolicyGate>>,
    /// The guardrails of terrace.hcl's `environment` block (approvals,
    /// limits, freeze windows, promotion) and their overrides.
    pub(crate) guard: terrace_engine::guard::GuardOptions,
}

pub(crate) async fn run_apply(engine: &Engine, r: RunApply) -> Result<u8> {
    run_apply_failures(engine, r).await.map(|run| run.code)
}

/// How an apply run ended, for `env` commands that keep the registry's
/// status.
pub(crate) struct ApplyRun {
    /// The exit code.
    pub(crate) code: u8,
    /// Each failure as `ADDR: ERROR`, or the refusal.
    pub(crate) failures: Vec<String>,
    /// Refused before any change (a guard, a policy, a declined prompt).
    pub(crate) refused: bool,
}

impl ApplyRun {
    fn refused(msg: String) -> ApplyRun {
        ApplyRun {
            code: EXIT_ERROR,
            failures: vec![msg],
            refused: true,
        }
    }
}

/// Like `run_apply`, also returning each failure as `ADDR: ERROR` (for the
/// environment registry's status detail) and whether the run was refused.
pub(crate) async fn run_apply_failures(engine: &Engine, r: RunApply) -> Result<ApplyRun> {
    let cancel = CancelFlag::new();
    let fancy = crate::output::stderr_is_terminal() && stderr_color();
    let progress = Arc::new(Progress::new(fancy));
    install_interrupt(cancel.clone(), progress.clone());
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
        ci: settings::ci_context(),
        ledger_retention_days: r.retention_days,
        history_retention: r.history,
        rollback: r.rollback.clone(),
        notify: r.notify.clone(),
        policy: r.policy.clone(),
        guard: r.guard.clone(),
        ..ApplyOptions::default()
    };
    let st_out = Style { on: stdout_color() };
    let auto = r.auto_approve;
    let saved = r.saved_plan.is_some();
    let is_destroy = r.plan_opts.mode == PlanMode::Destroy;
    let env_name = r.target.name.clone();
    let confirm_progress = progress.clone();
    let activity = Arc::new(Activity::start("Refreshing state and planning", fancy));
    let confirm_activity = activity.clone();
    let confirm_cb = move |plan: &Plan, _env: &LoadedEnv| -> bool {
        confirm_activity.stop();
        let yes = if saved {
            true
        } else {
            print!("{}", crate::render::render_plan(plan, st_out));
            let prompt = if is_destroy {
                format!("Do you really want to destroy all resources of '{env_name}'?")
            } else {
                format!("Do you want to perform these actions in '{env_name}'?")
            };
            match confirm(&prompt, auto, "--auto-approve") {
                Ok(yes) => yes,
                Err(e) => {
                    print_error(&e);
                    false
                }
            }
        };
        if yes {
            confirm_progress.begin(plan.effective_changes().count());
        }
        yes
    };
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
    let applied = ops::apply(engine, req).await;
    activity.stop();
    let outcome = match applied {
        Ok(o) => o,
        Err(EngineError::Cancelled(msg)) => {
            eprintln!("{msg}");
            return Ok(ApplyRun::refused(msg));
        }
        Err(e @ EngineError::PolicyDenied { .. }) => {
            let line = e.to_string().lines().next().unwrap_or_default().to_string();
            print_error(&e.into());
            return Ok(ApplyRun::refused(line));
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
        return Ok(ApplyRun {
            code: 0,
            failures: vec![],
            refused: false,
        });
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
        let forgot = if rep.forgot > 0 {
            format!(", {} forgotten", rep.forgot)
        } else {
            String::new()
        };
        println!(
            "\n{} Resources: {imported}{} added, {} changed, {} destroyed{forgot}.",
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
    Ok(ApplyRun {
        code: if rep.failures.is_empty() && !rep.cancelled {
            0
        } else {
            EXIT_ERROR
        },
        failures,
        refused: false,
    })
}

pub(crate) async fn apply(project: &Project, a: ApplyArgs) -> Result<u8> {
    tf_flags(&a.flags.tf, "apply");
    let lock_timeout = settings::parse_duration(&a.lock_timeout, "--lock-timeout")?;
    let engine = settings::engine(project, lock_timeout).await?;
    let file = match &a.plan_file {
        Some(p) => Some(read_saved_plan(p)?),
        None => None,
    };
    let env_arg = match (&a.env.env, &file) {
        (Some(_), _) => a.env.clone(),
        (None, Some(p)) => EnvArg {
            env: Some(p.environment.clone()),
        },
        (None, None) => a.env.clone(),
    };
    let t = target(project, &engine, &env_arg).await?;
    let plan_opts = plan_options(&a.flags)?;
    let guard = guard_options(project, &t.name, &a.guard, a.plan_file.as_deref())?;
    // A `rollback --out` plan was made against the snapshot of the record
    // it names: it is applied against that snapshot (restored again from
    // the store) and recorded as the rollback it is.
    let restored = match file.as_ref().and_then(|f| f.rollback_of()) {
        Some(record) => {
            let identity = terrace_state::Identity {
                os_user: settings::who(),
                ci: settings::ci_context(),
                ..Default::default()
            };
            Some(
                terrace_engine::rollback::restore(&engine, &t.name, Some(&record), &identity)
                    .await?,
            )
        }
        None => None,
    };
    let (target, load, operation) = match &restored {
        Some(r) => (
            r.target.clone(),
            LoadOptions {
                vars: Default::default(),
                fixed_variables: None,
            },
            "rollback",
        ),
        None => (
            t,
            load_options(&a.flags.vars)?,
            match plan_opts.mode {
                PlanMode::Destroy => "destroy",
                _ => "apply",
            },
        ),
    };
    let saved = match &file {
        Some(f) => Some(plan_for_apply(&engine, f, &target, &a.flags.vars).await?),
        None => None,
    };
    run_apply(
        &engine,
        RunApply {
            target,
            load,
            plan_opts,
            saved_plan: saved,
            auto_approve: a.auto_approve,
            parallelism: a.parallelism,
            operation,
            stats: a.flags.stats,
            retention_days: project.ledger_retention_days,
            history: crate::settings::history_retention(project),
            notify: settings::notify_targets(project),
            policy: policy_gate(project, a.plan_file.as_deref())?,
            rollback: restored.as_ref().map(|r| r.restore.clone()),
            // A saved rollback plan is approved like any plan file, so a
            // protected environment can be rolled back.
            guard,
        },
    )
    .await
}

pub(crate) async fn destroy(project: &Project, a: DestroyArgs) -> Result<u8> {
    tf_flags(&a.tf, "destroy");
    let lock_timeout = settings::parse_duration(&a.lock_timeout, "--lock-timeout")?;
    let engine = settings::engine(project, lock_timeout).await?;
    let t = target(project, &engine, &a.env).await?;
    let env_name = t.name.clone();
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
            retention_days: project.ledger_retention_days,
            history: crate::settings::history_retention(project),
            notify: settings::notify_targets(project),
            policy: policy_gate(project, None)?,
            rollback: None,
            guard: guard_options(project, &env_name, &a.guard, None)?,
        },
    )
    .await
}
