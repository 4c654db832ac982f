//! Whole operations as the CLI runs them: plan, apply (with lock, crash
//! reconciliation, confirmation and progress), destroy, and outputs.

use crate::apply::{
    ApplyObserver, ApplyOptions, ApplyReport, StateWriter, apply_plan, check_plan_current,
    reconcile,
};
use crate::context::{Engine, LoadOptions, LoadedEnv, Providers, configure_providers, load_env};
use crate::error::EngineError;
use crate::model::{Plan, PlanMode};
use crate::plan::{PlanOptions, make_plan};
use crate::values::ValueTable;
use std::collections::BTreeMap;
use std::path::PathBuf;
use terrace_core::Value;
use terrace_state::{LedgerRecord, WriteMeta, lock_environment};

/// Which environment, and where its root module lives.
#[derive(Debug, Clone)]
pub struct EnvTarget {
    pub name: String,
    pub dir: PathBuf,
}

/// Load and plan (no lock: plans read state only).
pub async fn plan(
    engine: &Engine,
    target: &EnvTarget,
    load: &LoadOptions,
    opts: &PlanOptions,
) -> Result<(LoadedEnv, Plan, Providers), EngineError> {
    let env = load_env(engine, &target.name, &target.dir, load)?;
    let (plan, providers) = make_plan(engine, &env, opts).await?;
    Ok((env, plan, providers))
}

/// Asked after planning, before changing anything; `false` cancels.
pub type Confirm<'a> = &'a (dyn Fn(&Plan, &LoadedEnv) -> bool + Sync);

/// What `apply` did.
pub struct ApplyOutcome {
    pub env: LoadedEnv,
    pub plan: Plan,
    pub report: ApplyReport,
    /// Lines about reconciled intents of an interrupted earlier run.
    pub reconciled: Vec<String>,
    /// API calls per operation made during the whole run.
    pub api_calls: BTreeMap<String, u64>,
    /// The root outputs as stored at the end (name → (value, sensitive)),
    /// so callers need not read the whole state back to show them.
    pub outputs: BTreeMap<String, (Value, bool)>,
}

/// Everything `apply`/`destroy` needs.
pub struct ApplyRequest<'a> {
    pub target: EnvTarget,
    pub load: LoadOptions,
    pub plan_opts: PlanOptions,
    /// A saved plan (`apply FILE`) to execute exactly.
    pub saved_plan: Option<Plan>,
    pub apply_opts: ApplyOptions,
    pub confirm: Confirm<'a>,
    pub observer: &'a dyn ApplyObserver,
}

/// Lock, reconcile, plan (or check the saved plan), confirm, apply, unlock.
///
/// The run is recorded in the ledger: a record is opened once the lock is
/// held (before reconciling, the first thing that may change anything) and
/// closed with the outcome, failed runs included; a run refused because the
/// lock is held is recorded as `refused`; records left open by runs that
/// died are closed as `interrupted` first.
pub async fn apply(engine: &Engine, req: ApplyRequest<'_>) -> Result<ApplyOutcome, EngineError> {
    let operation = req.apply_opts.operation.clone();
    let mode = req
        .saved_plan
        .as_ref()
        .map_or(req.plan_opts.mode, |p| p.mode);
    let ledger_op = crate::ledger::operation_name(&operation, mode);
    let identity = terrace_state::Identity {
        os_user: req.apply_opts.who.clone(),
        ci: req.apply_opts.ci.clone(),
        ..Default::default()
    };
    let store = engine.store.as_ref();
    let env_name = req.target.name.as_str();
    let held = match lock_environment(
        engine.store.clone(),
        env_name,
        &operation,
        engine.lock_timeout,
    )
    .await
    {
        Ok(held) => held,
        Err(e @ terrace_state::StateError::Locked { .. }) => {
            crate::ledger::record_refused(store, env_name, &ledger_op, &identity, &e.to_string())
                .await;
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let mut rec = LedgerRecord::open(env_name, &ledger_op, identity);
    rec.lock_id = Some(held.lease().lock_id.clone());
    rec.restores = req
        .apply_opts
        .rollback
        .as_ref()
        .map(|r| r.record_id.clone());
    let opened = async {
        crate::ledger::close_interrupted(store, env_name, None).await?;
        store.ledger_open(&rec).await
    }
    .await;
    // Every cloud call and journal write checks the lease first
    // (`StateWriter::with_lease_check`): a lost lock stops the run at once.
    let held = std::sync::Arc::new(held);
    let result = match opened {
        Ok(()) => {
            let lost: crate::apply::LeaseCheck = {
                let held = held.clone();
                std::sync::Arc::new(move || held.is_lost())
            };
            let result = apply_locked(engine, &req, held.lease().clone(), lost, &mut rec).await;
            let mut closed = crate::ledger::finish(
                rec,
                result.as_ref().ok().map(|o| &o.plan),
                result.as_ref().map(|o| &o.report),
            );
            // Bounded, never an error; what happened goes on the record.
            closed.notifications = crate::notify::deliver(&req.apply_opts.notify, &closed).await;
            let glass = crate::guard::notify_break_glass(&req.apply_opts.notify, &closed).await;
            closed.notifications.extend(glass);
            let close = crate::apply::ride_store(
                env_name,
                "closing the ledger record",
                || held.is_lost(),
                || store.ledger_close(&closed),
            )
            .await
            .map(|_| ());
            match (close, result) {
                (Ok(()), result) => result,
                (Err(e), Ok(_)) => Err(EngineError::Other(format!(
                    "the changes were applied, but the ledger record {} could not be closed: {e}; \
                     the next run on '{env_name}' closes it as interrupted",
                    closed.id
                ))),
                (Err(e), Err(run)) => {
                    tracing::warn!(
                        env = env_name,
                        "could not close ledger record {}: {e}",
                        closed.id
                    );
                    Err(run)
                }
            }
        }
        // No record, no run: nothing was changed.
        Err(e) => Err(EngineError::State(e)),
    };
    if let Some(days) = req.apply_opts.ledger_retention_days
        && !held.is_lost()
    {
        let identity = terrace_state::Identity {
            os_user: req.apply_opts.who.clone(),
            ci: req.apply_opts.ci.clone(),
            ..Default::default()
        };
        crate::ledger::prune(store, env_name, days, identity).await;
    }
    // History retention (`state { history { … } }`): versions no rollback
    // within the policy can reach are removed. Never fails the run.
    if !held.is_lost() {
        match store
            .prune_history(
                env_name,
                &req.apply_opts.history_retention,
                Some(held.lease()),
            )
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                env = env_name,
                "pruned {n} state versions outside the history retention"
            ),
            Err(e) => tracing::warn!(env = env_name, "could not prune the state history: {e}"),
        }
    }
    let released = match std::sync::Arc::try_unwrap(held) {
        Ok(held) => held.release().await,
        // Unreachable (the check is dropped with the writer); dropping the
        // lock releases it in the background.
        Err(_) => Ok(()),
    };
    let outcome = result?;
    released?;
    Ok(outcome)
}

async fn apply_locked(
    engine: &Engine,
    req: &ApplyRequest<'_>,
    lease: terrace_state::LockLease,
    lost: crate::apply::LeaseCheck,
    rec: &mut LedgerRecord,
) -> Result<ApplyOutcome, EngineError> {
    let mut load = LoadOptions {
        vars: req.load.vars.clone(),
        fixed_variables: req.load.fixed_variables.clone(),
    };
    if let Some(p) = &req.saved_plan {
        load.fixed_variables = Some(p.variables.clone());
    }
    let env = load_env(engine, &req.target.name, &req.target.dir, &load)?;
    // The configuration snapshot, before anything changes; a rollback must
    // reproduce the snapshot it restores exactly.
    let roots: Vec<PathBuf> = req
        .apply_opts
        .rollback
        .iter()
        .map(|r| r.root.clone())
        .chain([engine.project_root.clone()])
        .collect();
    let snapshot = crate::ledger::store_snapshot(engine.store.as_ref(), &roots, &env).await?;
    if let Some(r) = &req.apply_opts.rollback
        && snapshot != r.snapshot
    {
        return Err(EngineError::Cancelled(format!(
            "rollback refused: the restored configuration differs from the snapshot of record {} \
             (a remote module installed since with other content, or a variable given another value); \
             nothing was changed",
            r.record_id
        )));
    }
    rec.snapshot = Some(snapshot);
    let stored = engine.store.read(&env.name).await?;
    rec.serial_before = stored.as_ref().map(|s| s.serial);
    let meta = WriteMeta {
        operation: req.apply_opts.operation.clone(),
        who: req.apply_opts.who.clone(),
    };
    let writer = StateWriter::new(engine.store.clone(), &env.name, lease, stored.clone(), meta)
        .with_min_interval(req.apply_opts.min_write_interval)
        .with_lease_check(lost);

    // Reconcile what an interrupted run left behind before planning.
    let mut extra = crate::plan::provider_keys(stored.iter().flat_map(|s| s.resources.iter()));
    for i in engine.store.journal_pending(&env.name).await? {
        if let Some(p) = i.detail.get("provider").and_then(|v| v.as_str()) {
            extra.push(p.to_string());
        }
    }
    let empty = ValueTable::new();
    let recon_providers = configure_providers(engine, &env, &empty, &extra).await?;
    let reconciled = reconcile(engine, &env.name, &recon_providers, &writer).await?;

    let (plan, providers) = match &req.saved_plan {
        Some(saved) => {
            let current = engine.store.read(&env.name).await?;
            check_plan_current(saved, &env, current.as_ref())?;
            let (_, providers) = make_plan(
                engine,
                &env,
                &PlanOptions {
                    refresh: false,
                    ..Default::default()
                },
            )
            .await?;
            (saved.clone(), providers)
        }
        None => make_plan(engine, &env, &req.plan_opts).await?,
    };
    // Policies, before anything changes: a denied plan is refused here.
    if let Some(gate) = &req.apply_opts.policy {
        for note in gate.check_plan(&plan, &env)? {
            req.observer.note(&note);
        }
    }
    rec.plan_hash = Some(crate::ledger::plan_hash(&plan, stored.as_ref()));
    if let Some(me) = caller_identity(&providers).await {
        rec.identity.aws_account = Some(me.account);
        rec.identity.aws_arn = Some(me.arn);
    }
    let mut api_calls: BTreeMap<String, u64> = BTreeMap::new();
    if !plan.has_changes() {
        collect_calls(&mut api_calls, &providers);
        let outputs = output_values(&writer.outputs());
        return Ok(ApplyOutcome {
            env,
            plan,
            report: ApplyReport::default(),
            reconciled,
            api_calls,
            outputs,
        });
    }
    // Guardrails of terrace.hcl's `environment` block: refused → a
    // `refused` record with the reason; overrides are kept on the record.
    rec.guard = Some(
        crate::guard::check(
            engine.store.as_ref(),
            &req.apply_opts.guard,
            &env,
            &plan,
            stored.as_ref(),
            &rec.identity,
            &req.apply_opts.operation,
        )
        .await?,
    );
    if !(req.confirm)(&plan, &env) {
        return Err(EngineError::Cancelled("Apply cancelled.".into()));
    }
    let report = apply_plan(
        engine,
        &env,
        &plan,
        &providers,
        &writer,
        &req.apply_opts,
        req.observer,
    )
    .await?;
    collect_calls(&mut api_calls, &providers);
    // Compare-and-swap (envs::update): never a lost concurrent update, and
    // a record deleted meanwhile is not re-created.
    let resource_count = writer
        .snapshot()
        .resources
        .iter()
        .filter(|r| r.mode == "managed")
        .count() as u32;
    crate::envs::update(engine.store.as_ref(), &env.name, |rec| {
        rec.last_apply = Some(chrono::Utc::now());
        rec.resource_count = resource_count;
        // A normal apply that finished cleanly completes a create that failed
        // half-way (status `creating`).
        if plan.mode == PlanMode::Normal
            && report.failures.is_empty()
            && !report.cancelled
            && rec.status == crate::envs::STATUS_CREATING
        {
            rec.status = crate::envs::STATUS_ACTIVE.to_string();
            rec.status_detail.clear();
        }
        Ok(true)
    })
    .await?;
    let outputs = output_values(&writer.outputs());
    Ok(ApplyOutcome {
        env,
        plan,
        report,
        reconciled,
        api_calls,
        outputs,
    })
}

/// Who the run acts as in the cloud: the first provider that can tell
/// (the default `aws` provider before aliases), asked once.
pub async fn caller_identity(providers: &Providers) -> Option<terrace_provider::CallerIdentity> {
    let mut names: Vec<&String> = providers.keys().collect();
    names.sort_by(|a, b| (a.contains('.'), a).cmp(&(b.contains('.'), b)));
    for n in names {
        if let Some(me) = providers[n].caller_identity().await {
            return Some(me);
        }
    }
    None
}

/// Stored outputs as values: name → (value, sensitive).
fn output_values(
    outputs: &BTreeMap<String, terrace_state::OutputState>,
) -> BTreeMap<String, (Value, bool)> {
    outputs
        .iter()
        .map(|(k, o)| {
            (
                k.clone(),
                (Value::from_json(&o.value).mark_if(o.sensitive), o.sensitive),
            )
        })
        .collect()
}

fn collect_calls(into: &mut BTreeMap<String, u64>, providers: &Providers) {
    for p in providers.values() {
        for (op, n) in p.api_calls() {
            *into.entry(op).or_default() += n;
        }
    }
}

/// Every API call the providers made, per operation.
pub fn api_calls(providers: &Providers) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    collect_calls(&mut m, providers);
    m
}

/// Root outputs from stored state: name → (value, sensitive).
pub async fn outputs(
    engine: &Engine,
    env_name: &str,
) -> Result<BTreeMap<String, (Value, bool)>, EngineError> {
    let state = engine.store.read(env_name).await?.ok_or_else(|| {
        EngineError::Other(format!(
            "environment '{env_name}' has no state yet; run `terrace apply -e {env_name}` first"
        ))
    })?;
    Ok(output_values(&state.outputs))
}

/// A plan for `destroy`.
pub fn destroy_options(targets: Vec<terrace_core::ResourceAddr>, refresh: bool) -> PlanOptions {
    PlanOptions {
        mode: PlanMode::Destroy,
        refresh,
        targets,
        replace: vec![],
        imports: vec![],
        skip_configuration: false,
    }
}
