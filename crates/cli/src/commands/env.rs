//! `env`: ephemeral environments (create, list, extend, destroy, gc).

use super::*;

pub(crate) async fn env_command(project: &Project, c: EnvCommand) -> Result<u8> {
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
            guard,
        } => {
            envs::validate_template_name(&from).map_err(|e| anyhow!("--from: {e}"))?;
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
            // max_ttl, default_ttl and max_count of the environment block.
            let (ttl, count) = ephemeral_limits(project, &name, &from, ttl)?;
            // The guardrails of the block matching the new name, as `apply`
            // runs them (freeze, limits, promotion; checked under the lock).
            let guard = guard_options(project, &name, &guard, None)?;
            if let Some(s) = guard.settings.as_ref().filter(|s| s.protected) {
                bail!(
                    "refused: '{name}' would be a protected environment ({}), which is applied only from an approved saved plan file, \
                     and `env create` applies without one. Leave protected environments out of the globs templates are created under \
                     (e.g. name the block \"prod\", not \"*\"), or make '{name}' a persistent environment (environments/{name}).",
                    s.location
                );
            }
            let rec = envs::register_counted(
                engine.store.clone(),
                &name,
                &from,
                ttl,
                now,
                &settings::who(),
                count.as_ref(),
            )
            .await?;
            if rec.created_at == now {
                eprintln!("Registered ephemeral environment '{name}' from template '{from}'.");
            } else {
                eprintln!(
                    "Resuming the creation of ephemeral environment '{name}' from template '{from}' (an earlier create failed)."
                );
            }
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
                    retention_days: project.ledger_retention_days,
                    history: crate::settings::history_retention(project),
                    notify: settings::notify_targets(project),
                    policy: policy_gate(project, None)?,
                    rollback: None,
                    guard,
                },
            )
            .await;
            match code {
                Ok(0) => {
                    envs::set_status(engine.store.as_ref(), &name, envs::STATUS_ACTIVE, "").await?;
                    Ok(0)
                }
                Ok(c) => {
                    if !matches!(rollback_empty_create(&engine, &name).await, Ok(true)) {
                        envs::set_status(
                            engine.store.as_ref(),
                            &name,
                            envs::STATUS_CREATING,
                            &format!(
                                "apply failed; run the same `terrace env create` again to resume, or `terrace env destroy {name}`"
                            ),
                        )
                        .await?;
                    }
                    Ok(c)
                }
                Err(e) => {
                    if !matches!(rollback_empty_create(&engine, &name).await, Ok(true)) {
                        envs::set_status(
                            engine.store.as_ref(),
                            &name,
                            envs::STATUS_CREATING,
                            &format!("apply failed: {e:#}"),
                        )
                        .await?;
                    }
                    Err(e)
                }
            }
        }
        EnvCommand::List { json } => crate::reports::env_list(project, &engine, now, json).await,
        EnvCommand::Extend { name, ttl } => {
            let ttl = envs::parse_ttl(&ttl).map_err(|e| anyhow!(e))?;
            check_extend(project, &engine, &name, ttl).await?;
            let rec = envs::extend(engine.store.as_ref(), &name, ttl, now).await?;
            println!(
                "'{name}' now expires at {}.",
                rec.expires_at
                    .map(crate::progress::rfc3339)
                    .unwrap_or_default()
            );
            Ok(0)
        }
        EnvCommand::Destroy {
            name,
            auto_approve,
            parallelism,
            guard,
        } => {
            let run = EnvDestroy {
                auto_approve,
                parallelism,
                operation: "env destroy",
                guard: guard_options(project, &name, &guard, None)?,
                status_before: None,
            };
            destroy_env(project, &engine, &name, run).await
        }
        EnvCommand::Diff {
            a,
            b,
            json,
            detailed_exitcode,
        } => env_diff(project, &engine, &a, &b, json, detailed_exitcode).await,
        EnvCommand::Gc {
            dry_run,
            shard,
            parallelism,
            guard,
        } => {
            let shard = crate::shard::parse_opt(shard.as_deref(), "--shard")?;
            let mut due = envs::due(engine.store.as_ref(), now).await?;
            if let Some(s) = shard {
                due.retain(|rec| s.contains(&rec.name));
            }
            if due.is_empty() {
                match shard {
                    Some(s) => println!("No expired environments in shard {}/{}.", s.k, s.n),
                    None => println!("No expired environments."),
                }
                return collect_unused(project, &engine, shard, dry_run, now).await;
            }
            let mut failed = 0;
            for rec in due {
                let why = match rec.expires_at {
                    Some(e) if e <= now => format!("expired {}", crate::progress::rfc3339(e)),
                    _ => format!("its last destroy failed: {}", rec.status_detail),
                };
                let opts = guard_options(project, &rec.name, &guard, None)?;
                // Inside a freeze window of its environment block, an
                // expired environment is left until the window ends (the
                // first gc after it reaps it), unless --break-glass: the
                // freeze was declared for these environments, and waiting
                // costs only their upkeep. Not a failure.
                let frozen = opts
                    .settings
                    .as_ref()
                    .and_then(|s| terrace_engine::guard::active_freeze(s, now));
                if let (Some(line), None) = (&frozen, &guard.break_glass) {
                    println!(
                        "Skipping '{}' ({why}): it is frozen: {line}. The first `terrace env gc` after the window reaps it; \
                         --break-glass REASON reaps it now.",
                        rec.name
                    );
                    continue;
                }
                if dry_run {
                    println!("would destroy '{}' ({why})", rec.name);
                    continue;
                }
                // Re-checked and claimed in one compare-and-swap: an `env
                // extend` since the listing wins over this gc.
                if envs::claim_for_gc(engine.store.as_ref(), &rec.name, now)
                    .await?
                    .is_none()
                {
                    println!(
                        "Skipping '{}': it is no longer due (extended or removed since it was listed).",
                        rec.name
                    );
                    continue;
                }
                println!("Destroying '{}' ({why})...", rec.name);
                // Recorded as `env gc` (an expired environment reaped:
                // the `env_expired` notification) or as a retried destroy.
                let operation = if rec.expires_at.is_some_and(|e| e <= now) {
                    "env gc"
                } else {
                    "env destroy"
                };
                let run = EnvDestroy {
                    auto_approve: true,
                    parallelism,
                    operation,
                    guard: opts,
                    status_before: Some(rec.status.clone()),
                };
                match destroy_env(project, &engine, &rec.name, run).await {
                    Ok(0) => {}
                    Ok(_) => failed += 1,
                    Err(e) => {
                        print_error(&e);
                        failed += 1;
                    }
                }
            }
            let swept = collect_unused(project, &engine, shard, dry_run, now).await?;
            Ok(if failed > 0 { EXIT_ERROR } else { swept })
        }
    }
}

/// The last steps of `env gc`, which a dry run skips: end the history of
/// deleted environments (those of this shard) once older than the history
/// retention, then collect unused blobs. A failure is reported and makes
/// the exit code 1.
async fn collect_unused(
    project: &Project,
    engine: &Engine,
    shard: Option<crate::shard::Shard>,
    dry_run: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u8> {
    if dry_run {
        return Ok(0);
    }
    let histories = prune_deleted_histories(project, engine, shard).await;
    let blobs = sweep_blobs(project, engine, shard, now).await;
    Ok(histories.max(blobs))
}

/// Prune the history of every environment of this shard that has stored
/// versions but no current state (destroyed), by the history retention:
/// once its last write is older than `keep_days` (90 by default), nothing
/// of it remains.
async fn prune_deleted_histories(
    project: &Project,
    engine: &Engine,
    shard: Option<crate::shard::Shard>,
) -> u8 {
    let store = engine.store.as_ref();
    let result = async {
        let live: std::collections::BTreeSet<String> =
            store.list_environments().await?.into_iter().collect();
        let retention = crate::settings::history_retention(project);
        let (mut envs, mut versions) = (0, 0);
        for env in store.history_environments().await? {
            if live.contains(&env) || shard.is_some_and(|s| !s.contains(&env)) {
                continue;
            }
            let n = store.prune_history(&env, &retention, None).await?;
            if n > 0 {
                envs += 1;
                versions += n;
            }
        }
        Ok::<_, terrace_state::StateError>((envs, versions))
    };
    match result.await {
        Ok((0, _)) => 0,
        Ok((envs, versions)) => {
            println!(
                "Removed {versions} old state version(s) of {envs} destroyed environment(s) (history retention)."
            );
            0
        }
        Err(e) => {
            eprintln!("Error: could not prune the history of destroyed environments: {e}");
            EXIT_ERROR
        }
    }
}

/// Remove the store's blobs that no ledger record names any more
/// (snapshots of pruned records, old plan-file keys) once past the grace
/// period. Only shard 1 of a sharded gc sweeps (the blobs are shared by
/// all environments). It deletes nothing it is unsure of.
async fn sweep_blobs(
    project: &Project,
    engine: &Engine,
    shard: Option<crate::shard::Shard>,
    now: chrono::DateTime<chrono::Utc>,
) -> u8 {
    if shard.is_some_and(|s| s.k != 1) {
        return 0;
    }
    let grace = project
        .blob_grace_days
        .unwrap_or(terrace_engine::ledger::BLOB_GRACE_DAYS);
    match terrace_engine::ledger::sweep_blobs(engine.store.as_ref(), grace, now).await {
        Ok(s) if s.removed > 0 => {
            println!(
                "Removed {} stored blob(s) no ledger record names (unused for over {grace} days); {} kept.",
                s.removed, s.kept
            );
            0
        }
        Ok(_) => 0,
        Err(e) => {
            eprintln!("Error: could not collect unused blobs: {e}");
            EXIT_ERROR
        }
    }
}

/// How `destroy_env` runs.
pub(crate) struct EnvDestroy {
    pub(crate) auto_approve: bool,
    pub(crate) parallelism: usize,
    /// `env destroy` or `env gc` (the ledger's operation).
    pub(crate) operation: &'static str,
    /// The guardrails of the environment's block and their overrides.
    pub(crate) guard: terrace_engine::guard::GuardOptions,
    /// The registry status to go back to when the destroy is refused
    /// (`env gc` has already claimed the record as `destroying`); `None`:
    /// the record's status when the destroy starts.
    pub(crate) status_before: Option<String>,
}

pub(crate) async fn destroy_env(
    project: &Project,
    engine: &Engine,
    name: &str,
    run: EnvDestroy,
) -> Result<u8> {
    let EnvDestroy {
        auto_approve,
        parallelism,
        operation,
        guard,
        status_before,
    } = run;
    let rec = engine.store.registry_get(name).await?;
    let status_before = status_before.or_else(|| rec.as_ref().map(|r| r.status.clone()));
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
            operation,
            stats: false,
            retention_days: project.ledger_retention_days,
            history: crate::settings::history_retention(project),
            notify: settings::notify_targets(project),
            policy: policy_gate(project, None)?,
            rollback: None,
            guard,
        },
    )
    .await;
    // Refused before any change (a guard, a policy, a declined prompt):
    // nothing was destroyed, so the record goes back to how it was, with
    // the reason.
    if let Ok(run) = &result
        && run.refused
    {
        if let Some(status) = &status_before {
            let status = if status == envs::STATUS_DESTROYING {
                envs::STATUS_ACTIVE
            } else {
                status.as_str()
            };
            envs::set_status(
                engine.store.as_ref(),
                name,
                status,
                &format!("destroy refused: {}", run.failures.join("; ")),
            )
            .await?;
        }
        return Ok(run.code);
    }
    // Count what remains under the lock, and delete the (empty) state in the
    // same holding: nothing can be written in between.
    let held = terrace_state::lock_environment(
        engine.store.clone(),
        name,
        "env destroy",
        engine.lock_timeout,
    )
    .await?;
    let counted = async {
        let remaining = engine
            .store
            .read(name)
            .await?
            .map(|s| s.resources.iter().filter(|r| r.mode == "managed").count())
            .unwrap_or(0);
        if remaining == 0 && matches!(result, Ok(ApplyRun { code: 0, .. })) && rec.is_some() {
            // An ephemeral environment leaves nothing behind: its (empty)
            // current state goes first (history is kept), so that
            // `output -e NAME` fails and the name can be created anew; the
            // record goes last, so a failure here is resumed by a retry.
            engine
                .store
                .delete_environment(name, Some(held.lease()))
                .await?;
        }
        Ok::<_, anyhow::Error>(remaining)
    }
    .await;
    held.release().await?;
    let remaining = counted?;
    match result {
        Ok(ApplyRun { code: 0, .. }) if remaining == 0 => {
            if rec.is_some() {
                engine.store.registry_delete(name).await?;
            }
            println!("Environment '{name}' destroyed.");
            Ok(0)
        }
        Ok(ApplyRun { code, failures, .. }) => {
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

/// After a failed `env create`: if it made nothing (no resource in state,
/// no pending intent that may have made one), remove the registration (and
/// an empty state) so the same command can simply be run again. Returns
/// whether it rolled back.
async fn rollback_empty_create(engine: &Engine, name: &str) -> Result<bool> {
    let held = terrace_state::lock_environment(
        engine.store.clone(),
        name,
        "env create",
        engine.lock_timeout,
    )
    .await?;
    let rolled = async {
        let state = engine.store.read(name).await?;
        let made = state.as_ref().is_some_and(|s| !s.resources.is_empty())
            || !engine.store.journal_pending(name).await?.is_empty();
        if made {
            return Ok::<_, anyhow::Error>(false);
        }
        if state.is_some() {
            engine
                .store
                .delete_environment(name, Some(held.lease()))
                .await?;
        }
        engine.store.registry_delete(name).await?;
        Ok(true)
    }
    .await;
    held.release().await?;
    let rolled = rolled?;
    if rolled {
        eprintln!(
            "Nothing was created; the registration of '{name}' was removed, so the same command can be run again."
        );
    }
    Ok(rolled)
}
