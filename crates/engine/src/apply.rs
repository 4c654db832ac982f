//! Applying a plan: a parallel walk of the graph that journals every create
//! and delete before calling the cloud, persists state as resources complete,
//! skips the dependents of failures, and stops starting work when cancelled.
//!
//! Crash safety: before a create, an intent with an idempotency token is
//! journalled; before a delete, an intent with the object. An intent is
//! marked done only after the state that reflects it is written. The next
//! apply reconciles pending intents first ([`reconcile`]): objects a crashed
//! create made are found (by token or ownership tags) and adopted; deletes
//! are confirmed. So a process killed at any instant orphans nothing.

use crate::context::{Engine, LoadedEnv, Providers};
use crate::error::EngineError;
use crate::model::{Action, Plan, PlanMode, ResourceChange, equal_ignoring_marks};
use crate::plan::with_retries;
use crate::values::ValueTable;
use chrono::Utc;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use terrace_core::{ResourceAddr, ResourceMode, Value};
use terrace_graph::{CancelFlag, DepGraph, NodeOutcome, WalkOrder, walk};
use terrace_lang::NodeKind;
use terrace_provider::{CreateContext, Provider, ProviderError, ResourceContext};
use terrace_state::{
    Intent, IntentStatus, LockLease, OutputState, ResourceState, State, StateError, StateStore,
    WriteMeta,
};

/// Progress callbacks (the CLI renders them; the engine knows no terminal).
pub trait ApplyObserver: Send + Sync {
    fn started(&self, address: &str, action: Action);
    fn finished(&self, address: &str, action: Action, result: Result<(), &str>, elapsed: Duration);
    fn note(&self, message: &str);
    /// A resource finished successfully with this `id` (Terraform prints it
    /// as `[id=…]`). Defaults to `finished` without the ID.
    fn completed(&self, address: &str, action: Action, id: Option<&str>, elapsed: Duration) {
        let _ = id;
        self.finished(address, action, Ok(()), elapsed);
    }
}

/// An observer that ignores everything.
pub struct QuietObserver;

impl ApplyObserver for QuietObserver {
    fn started(&self, _: &str, _: Action) {}
    fn finished(&self, _: &str, _: Action, _: Result<(), &str>, _: Duration) {}
    fn note(&self, _: &str) {}
}

#[derive(Clone)]
pub struct ApplyOptions {
    pub parallelism: usize,
    pub cancel: CancelFlag,
    /// How long to keep retrying deletes that fail on ordering errors.
    pub delete_retry_for: Duration,
    /// How long a create may wait for its object to become ready.
    pub create_timeout: Duration,
    pub operation: String,
    pub who: String,
    /// The CI run this change comes from (the CLI reads the CI variables).
    pub ci: Option<terrace_state::CiContext>,
    /// The shortest pause between two paced state writes ([`MIN_WRITE_INTERVAL`]).
    pub min_write_interval: Duration,
    /// A rollback: what it restores (see [`crate::rollback`]).
    pub rollback: Option<crate::rollback::Restore>,
    /// `ledger { retention_days }` of terrace.hcl: after the run, records of
    /// the environment older than this are pruned (and the pruning recorded).
    pub ledger_retention_days: Option<u32>,
    /// `state { history { keep_versions, keep_days } }` of terrace.hcl:
    /// after the run, state versions outside it are pruned.
    pub history_retention: terrace_state::HistoryRetention,
    /// Webhooks told about the run once it ends (`notify` blocks).
    pub notify: Vec<crate::notify::Target>,
    /// Policies: checked on the plan before any change, and undecided
    /// results again on each object as it is applied ([`crate::policy`]).
    pub policy: Option<Arc<crate::policy::PolicyGate>>,
    /// The environment's guardrails (see [`crate::guard`]).
    pub guard: crate::guard::GuardOptions,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: 10,
            cancel: CancelFlag::new(),
            delete_retry_for: Duration::from_secs(300),
            create_timeout: Duration::from_secs(1200),
            operation: "apply".into(),
            who: String::new(),
            ci: None,
            min_write_interval: MIN_WRITE_INTERVAL,
            rollback: None,
            ledger_retention_days: None,
            history_retention: terrace_state::HistoryRetention::default(),
            notify: Vec::new(),
            policy: None,
            guard: crate::guard::GuardOptions::default(),
        }
    }
}

/// What an apply did.
#[derive(Debug, Default, Clone)]
pub struct ApplyReport {
    pub added: usize,
    pub changed: usize,
    pub destroyed: usize,
    pub imported: usize,
    /// (address, error) of every failed resource.
    pub failures: Vec<(String, String)>,
    /// Addresses not attempted because something they depend on failed.
    pub skipped: Vec<String>,
    pub cancelled: bool,
    pub final_serial: Option<u64>,
    /// State writes this apply made (paced writes plus the final one).
    pub state_writes: u64,
    /// Records dropped from state because their objects were deleted
    /// outside terrace ([`Plan::gone`]).
    pub forgotten: Vec<String>,
    /// Records dropped by `removed` blocks with `destroy = false`.
    pub forgot: usize,
}

// ---- state writer --------------------------------------------------------

struct WriterInner {
    /// The state without its resources (lineage, serial, outputs).
    state: State,
    /// The resources by address: an ordered map, so recording one result is
    /// O(log n) (inserting into the sorted `Vec` of `State` was O(n), which
    /// made a 100,000-resource apply quadratic).
    resources: BTreeMap<String, ResourceState>,
    /// Serial of the last successful write (None: nothing stored yet).
    stored_serial: Option<u64>,
    version: u64,
    intents_after_flush: Vec<(String, IntentStatus)>,
    /// The error of a paced write that failed; every later checkpoint reports it.
    failure: Option<String>,
}

impl WriterInner {
    /// The whole state, resources sorted by address.
    fn to_state(&self) -> State {
        State {
            format_version: self.state.format_version,
            lineage: self.state.lineage,
            serial: self.state.serial,
            terrace_version: self.state.terrace_version.clone(),
            resources: self.resources.values().cloned().collect(),
            outputs: self.state.outputs.clone(),
        }
    }
}

/// How often paced writes go out: never sooner than `min` after the previous
/// write ended, and otherwise `WRITE_PACE_FACTOR` times as long as that write
/// took (at most `MAX_WRITE_INTERVAL`), so writing a large state costs a
/// bounded share of the apply's time however large it grows.
#[derive(Clone, Copy, Debug)]
struct Pacing {
    last_end: Instant,
    interval: Duration,
    min: Duration,
}

/// The shortest pause between two paced state writes.
pub const MIN_WRITE_INTERVAL: Duration = Duration::from_secs(1);
/// The longest pause between two paced state writes.
pub const MAX_WRITE_INTERVAL: Duration = Duration::from_secs(30);
/// A paced write waits this many times as long as the previous write took.
const WRITE_PACE_FACTOR: u32 = 10;

/// How long an apply waits for an unreachable state store (within its lease).
pub const STORE_OUTAGE_RIDE: Duration = Duration::from_secs(90);

/// Run a store call, riding out an outage of the store: while it is
/// `Unreachable` (PostgreSQL restarting, S3 answering 503, a network blip)
/// the call is tried again with backoff, for up to [`STORE_OUTAGE_RIDE`] and
/// not once `lost()` says the lease is gone. Every call made this way is
/// idempotent (a compare-and-swap write, an intent or ledger record written
/// by id). Returns whether an outage was ridden out.
pub async fn ride_store<T, F, Fut>(
    env: &str,
    what: &str,
    lost: impl Fn() -> bool,
    f: F,
) -> Result<(T, bool), StateError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, StateError>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    let mut outage = false;
    loop {
        match f().await {
            Err(e @ StateError::Unreachable { .. })
                if started.elapsed() < STORE_OUTAGE_RIDE && !lost() =>
            {
                if !outage {
                    tracing::warn!(
                        env,
                        "{what}: the state store is unreachable ({e}); trying again for up to {}s",
                        STORE_OUTAGE_RIDE.as_secs()
                    );
                }
                outage = true;
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(4));
            }
            Ok(v) => {
                if outage {
                    tracing::warn!(env, "{what}: the state store answers again");
                }
                return Ok((v, outage));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Holds the environment's state during an apply and writes it (CAS on the
/// serial, checked against our lock lease).
///
/// Resources record their results with [`StateWriter::set_resource`] and
/// [`StateWriter::checkpoint`]; the writes themselves are *paced*: while an
/// apply runs, [`StateWriter::run_pacer`] writes whatever changed at most once
/// per interval (see [`MIN_WRITE_INTERVAL`]), and [`StateWriter::flush`]
/// writes at once (the end of a run, reconciliation). Every write stores the
/// whole state, so writing once per resource made an apply quadratic in the
/// state's size; pacing makes the number of writes depend on the apply's
/// duration instead. Crash safety does not depend on the pace: an intent is
/// marked done only after a write that reflects it, so whatever completed
/// since the last write is still pending in the journal and the next run
/// reconciles it.
pub struct StateWriter {
    store: Arc<dyn StateStore>,
    env: String,
    lease: LockLease,
    meta: WriteMeta,
    inner: Mutex<WriterInner>,
    flushed: tokio::sync::Mutex<u64>,
    pacing: Mutex<Pacing>,
    writes: std::sync::atomic::AtomicU64,
    /// Tells whether our lock's lease was lost (the heartbeat's verdict).
    lease_lost: Option<LeaseCheck>,
}

/// Answers whether the lock's lease has been lost (`HeldLock::is_lost`).
pub type LeaseCheck = Arc<dyn Fn() -> bool + Send + Sync>;

impl StateWriter {
    pub fn new(
        store: Arc<dyn StateStore>,
        env: &str,
        lease: LockLease,
        prior: Option<State>,
        meta: WriteMeta,
    ) -> Self {
        let stored_serial = prior.as_ref().map(|s| s.serial);
        let mut state = prior.unwrap_or_default();
        let resources = std::mem::take(&mut state.resources)
            .into_iter()
            .map(|r| (r.address.clone(), r))
            .collect();
        StateWriter {
            store,
            env: env.to_string(),
            lease,
            meta,
            inner: Mutex::new(WriterInner {
                state,
                resources,
                stored_serial,
                version: 0,
                intents_after_flush: Vec::new(),
                failure: None,
            }),
            flushed: tokio::sync::Mutex::new(0),
            pacing: Mutex::new(Pacing {
                last_end: Instant::now(),
                interval: MIN_WRITE_INTERVAL,
                min: MIN_WRITE_INTERVAL,
            }),
            writes: std::sync::atomic::AtomicU64::new(0),
            lease_lost: None,
        }
    }

    /// Check `lost` before every cloud call and journal write: once it
    /// answers `true` (another run holds the lock now), [`StateWriter::checkpoint`]
    /// fails, so no further create, update, delete or intent is started.
    pub fn with_lease_check(mut self, lost: LeaseCheck) -> Self {
        self.lease_lost = Some(lost);
        self
    }

    /// True once the lease is known to be lost.
    pub fn lease_lost(&self) -> bool {
        self.lease_lost.as_ref().is_some_and(|f| f())
    }

    /// Run a store call, riding out an outage of the store ([`ride_store`]),
    /// never once the lease is lost.
    pub async fn ride<T, F, Fut>(&self, what: &str, f: F) -> Result<(T, bool), StateError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StateError>>,
    {
        ride_store(&self.env, what, || self.lease_lost(), f).await
    }

    /// Pace writes at least `min` apart instead of [`MIN_WRITE_INTERVAL`]
    /// (tests use a short pause to exercise paced writes).
    pub fn with_min_interval(self, min: Duration) -> Self {
        {
            let mut p = self.pacing.lock().expect("pacing");
            p.min = min;
            p.interval = min;
        }
        self
    }

    fn edit(&self, f: impl FnOnce(&mut WriterInner)) {
        let mut g = self.inner.lock().expect("state writer");
        f(&mut g);
        g.version += 1;
    }

    pub fn set_resource(&self, record: ResourceState) {
        self.edit(|g| {
            g.resources.insert(record.address.clone(), record);
        });
    }

    pub fn remove_resource(&self, address: &str) {
        self.edit(|g| {
            g.resources.remove(address);
        });
    }

    pub fn get_resource(&self, address: &str) -> Option<ResourceState> {
        let g = self.inner.lock().expect("state writer");
        g.resources.get(address).cloned()
    }

    pub fn set_outputs(&self, outputs: BTreeMap<String, OutputState>) {
        self.edit(|g| g.state.outputs = outputs);
    }

    /// Mark an intent finished once the next write has succeeded (an empty
    /// id is an operation that was not journalled).
    pub fn finish_after_flush(&self, intent_id: String, status: IntentStatus) {
        if intent_id.is_empty() {
            return;
        }
        self.inner
            .lock()
            .expect("state writer")
            .intents_after_flush
            .push((intent_id, status));
    }

    /// The root outputs as they stand.
    pub fn outputs(&self) -> BTreeMap<String, OutputState> {
        self.inner
            .lock()
            .expect("state writer")
            .state
            .outputs
            .clone()
    }

    pub fn snapshot(&self) -> State {
        self.inner.lock().expect("state writer").to_state()
    }

    /// A resource finished: its result goes out with the next paced write.
    /// Fails once a paced write has failed (a lost lease, a conflicting
    /// writer), so no further work is started on a state that cannot be saved.
    pub fn checkpoint(&self) -> Result<(), String> {
        if self.lease_lost() {
            return Err(format!(
                "lost the lock on '{}' (another run holds it now, e.g. after `force-unlock`); stopped before calling the cloud",
                self.env
            ));
        }
        match &self.inner.lock().expect("state writer").failure {
            Some(e) => Err(format!("the state could not be saved: {e}")),
            None => Ok(()),
        }
    }

    /// How many writes this writer made.
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn dirty(&self, flushed: u64) -> bool {
        let g = self.inner.lock().expect("state writer");
        g.version != flushed || !g.intents_after_flush.is_empty()
    }

    /// Write whatever changed, once per pacing interval, until `stop` is
    /// notified. The write in flight when `stop` arrives is finished, never
    /// dropped half-way (a dropped conditional write could land unseen).
    pub async fn run_pacer(&self, stop: &tokio::sync::Notify) {
        loop {
            let due = {
                let p = self.pacing.lock().expect("pacing");
                p.last_end + p.interval
            };
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = stop.notified() => return,
            }
            let flushed = *self.flushed.lock().await;
            if !self.dirty(flushed) {
                let mut p = self.pacing.lock().expect("pacing");
                p.last_end = Instant::now();
                continue;
            }
            if let Err(e) = self.flush().await {
                tracing::warn!(env = %self.env, "writing state failed: {e}");
                self.inner.lock().expect("state writer").failure = Some(e.to_string());
                // Wait for the end of the run; its final flush reports the error.
                stop.notified().await;
                return;
            }
        }
    }

    /// Write the state now if anything changed since the last write, then
    /// mark the intents it reflects finished.
    pub async fn flush(&self) -> Result<(), StateError> {
        let mut flushed = self.flushed.lock().await;
        let started = Instant::now();
        let (state, version, expected, intents) = {
            let mut g = self.inner.lock().expect("state writer");
            if g.version == *flushed && g.intents_after_flush.is_empty() {
                return Ok(());
            }
            let mut s = g.to_state();
            s.serial = g.stored_serial.map_or(1, |n| n + 1);
            s.terrace_version = env!("CARGO_PKG_VERSION").to_string();
            (
                s,
                g.version,
                g.stored_serial,
                std::mem::take(&mut g.intents_after_flush),
            )
        };
        if version != *flushed {
            let written = self
                .ride("writing state", || {
                    self.store
                        .write(&self.env, &state, expected, Some(&self.lease), &self.meta)
                })
                .await;
            match written {
                Ok(_) => {}
                // A try during the outage may have been stored although its
                // answer was lost: then the store holds exactly our state.
                Err(StateError::Conflict { found, .. }) if found == Some(state.serial) => {
                    let stored = self.store.read(&self.env).await?;
                    if stored.as_ref().map(|s| (s.serial, s.lineage))
                        != Some((state.serial, state.lineage))
                    {
                        return Err(StateError::Conflict {
                            env: self.env.clone(),
                            expected,
                            found,
                        });
                    }
                }
                Err(e) => return Err(e),
            }
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(
                env = %self.env,
                serial = state.serial,
                resources = state.resources.len(),
                "wrote state"
            );
            let mut g = self.inner.lock().expect("state writer");
            g.stored_serial = Some(state.serial);
            g.state.serial = state.serial;
            *flushed = version;
        }
        drop(state);
        if !intents.is_empty() {
            self.ride("finishing journal intents", || {
                self.store.journal_finish_many(&self.env, &intents)
            })
            .await?;
        }
        let took = started.elapsed();
        let mut p = self.pacing.lock().expect("pacing");
        p.last_end = Instant::now();
        p.interval = (took * WRITE_PACE_FACTOR).clamp(p.min, MAX_WRITE_INTERVAL.max(p.min));
        Ok(())
    }

    pub fn stored_serial(&self) -> Option<u64> {
        self.inner.lock().expect("state writer").stored_serial
    }
}

/// A state record for an object.
pub fn state_record(
    addr: &ResourceAddr,
    provider: &str,
    value: &Value,
    dependencies: &[String],
    created_at: Option<chrono::DateTime<Utc>>,
) -> ResourceState {
    let (plain, sensitive_paths) = value.clone().deep_unmark();
    let now = Utc::now();
    ResourceState {
        address: addr.to_string(),
        mode: match addr.mode {
            ResourceMode::Managed => "managed".into(),
            ResourceMode::Data => "data".into(),
        },
        type_name: addr.type_name.clone(),
        provider: provider.to_string(),
        attributes: plain.to_json_lossy().into(),
        sensitive_paths,
        dependencies: dependencies.to_vec(),
        schema_version: 0,
        created_at: created_at.unwrap_or(now),
        updated_at: now,
    }
}

// ---- reconciliation ------------------------------------------------------

/// Reconcile the intents an interrupted apply left pending: adopt objects a
/// crashed create made, confirm deletes, delete deposed objects. Returns a
/// line per intent handled.
pub async fn reconcile(
    engine: &Engine,
    env_name: &str,
    providers: &Providers,
    writer: &StateWriter,
) -> Result<Vec<String>, EngineError> {
    let pending = engine.store.journal_pending(env_name).await?;
    // Deposed objects (the old halves of replacements) by address.
    let mut deposed_ids: HashMap<String, Vec<String>> = HashMap::new();
    for i in pending.iter().filter(|i| i.action == "delete") {
        if let Some(id) = i
            .detail
            .get("before")
            .map(Value::from_tagged_json)
            .and_then(|b| b.get("id").and_then(Value::as_str).map(String::from))
        {
            deposed_ids.entry(i.address.clone()).or_default().push(id);
        }
    }
    let mut notes = Vec::new();
    for intent in pending {
        let pkey = intent
            .detail
            .get("provider")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        let Some(provider) = providers.get(&pkey) else {
            notes.push(format!(
                "cannot reconcile {} ({}): provider {pkey:?} is not configured",
                intent.address, intent.action
            ));
            continue;
        };
        let addr: ResourceAddr = match intent.address.parse() {
            Ok(a) => a,
            Err(e) => {
                engine
                    .store
                    .journal_finish(
                        env_name,
                        &intent.id,
                        IntentStatus::Failed,
                        serde_json::json!({"error": e.to_string()}),
                    )
                    .await?;
                continue;
            }
        };
        match intent.action.as_str() {
            "create" => {
                let ctx = ResourceContext {
                    environment: env_name.to_string(),
                    address: intent.address.clone(),
                };
                // Objects state holds, and deposed objects awaiting their
                // delete, carry the address too: they are not what this
                // create made (during a replacement, adopting the old object
                // would orphan the new one).
                let mut exclude: Vec<String> = writer
                    .get_resource(&intent.address)
                    .and_then(|r| {
                        r.attributes
                            .get("id")
                            .and_then(|v| v.as_str())
                            .map(String::from)
                    })
                    .into_iter()
                    .collect();
                exclude.extend(
                    deposed_ids
                        .get(&intent.address)
                        .cloned()
                        .unwrap_or_default(),
                );
                let found = find_made(
                    provider,
                    env_name,
                    &intent.resource_type,
                    &intent.idempotency_token,
                    &ctx,
                    &exclude,
                )
                .await
                .map_err(|e| EngineError::Other(format!("reconciling {}: {e}", intent.address)))?;
                match found {
                    Some(obj) => {
                        let known = writer.get_resource(&intent.address);
                        let same = known.as_ref().is_some_and(|r| {
                            r.attributes.get("id") == obj.to_json_lossy().get("id")
                        });
                        if !same {
                            if let Some(existing) = known {
                                // The address already holds another object: keep both known by
                                // deleting the stray one rather than orphaning it.
                                let _ = existing;
                                with_retries(|| provider.delete(&intent.resource_type, &obj))
                                    .await
                                    .map_err(|e| {
                                        EngineError::Other(format!(
                                            "removing duplicate object of {}: {e}",
                                            intent.address
                                        ))
                                    })?;
                                notes.push(format!(
                                    "{}: deleted a duplicate object left by an interrupted create",
                                    intent.address
                                ));
                            } else {
                                let deps: Vec<String> = intent
                                    .detail
                                    .get("dependencies")
                                    .and_then(|d| serde_json::from_value(d.clone()).ok())
                                    .unwrap_or_default();
                                let obj = engine.conform(
                                    ResourceMode::Managed,
                                    &pkey,
                                    &intent.resource_type,
                                    obj,
                                );
                                writer.set_resource(state_record(&addr, &pkey, &obj, &deps, None));
                                notes.push(format!(
                                    "{}: adopted the object an interrupted create made",
                                    intent.address
                                ));
                            }
                        }
                        writer.finish_after_flush(intent.id.clone(), IntentStatus::Done);
                    }
                    None => {
                        notes.push(format!(
                            "{}: an interrupted create left nothing behind (beyond what state holds)",
                            intent.address
                        ));
                        writer.finish_after_flush(intent.id.clone(), IntentStatus::Failed);
                    }
                }
            }
            "delete" => {
                let before = intent
                    .detail
                    .get("before")
                    .map(Value::from_tagged_json)
                    .unwrap_or(Value::Null);
                let still = with_retries(|| {
                    provider.read_resources(&intent.resource_type, std::slice::from_ref(&before))
                })
                .await
                .map_err(|e| EngineError::Other(format!("reconciling {}: {e}", intent.address)))?;
                let exists = still.into_iter().next().flatten().is_some();
                let in_state = writer
                    .get_resource(&intent.address)
                    .is_some_and(|r| r.attributes.get("id") == before.to_json_lossy().get("id"));
                if !exists {
                    if in_state {
                        writer.remove_resource(&intent.address);
                    }
                    notes.push(format!("{}: confirmed deleted", intent.address));
                } else if !in_state {
                    // A deposed object (replacement) that state no longer tracks: finish the delete.
                    match with_retries(|| provider.delete(&intent.resource_type, &before)).await {
                        Ok(()) | Err(ProviderError::NotFound(_)) => notes.push(format!(
                            "{}: deleted the deposed object an interrupted replacement left",
                            intent.address
                        )),
                        Err(e) => {
                            // Something still uses it (a dependent not yet
                            // moved): it stays recorded as deposed, and this
                            // run deletes it after its own changes. It never
                            // blocks the environment.
                            notes.push(format!(
                                "{}: the deposed object {} cannot be deleted yet ({e}); it stays recorded and is deleted after this run's changes",
                                intent.address,
                                before.get("id").and_then(Value::as_str).unwrap_or("?")
                            ));
                            continue;
                        }
                    }
                } else {
                    notes.push(format!(
                        "{}: delete was interrupted; the object still exists and stays in state",
                        intent.address
                    ));
                }
                writer.finish_after_flush(intent.id.clone(), IntentStatus::Done);
            }
            other => {
                notes.push(format!(
                    "{}: unknown intent action {other:?}, marked failed",
                    intent.address
                ));
                writer.finish_after_flush(intent.id.clone(), IntentStatus::Failed);
            }
        }
    }
    writer.flush().await?;
    Ok(notes)
}

/// Find the object a create (token `token`, address `ctx.address`) made,
/// passing over the objects in `exclude` (ids state holds or deposed objects
/// carry: they carry the address too). Asks the provider first
/// ([`Provider::find_created`]), then looks through every object the
/// environment owns.
async fn find_made(
    provider: &Arc<dyn Provider>,
    env_name: &str,
    type_name: &str,
    token: &str,
    ctx: &ResourceContext,
    exclude: &[String],
) -> Result<Option<Value>, ProviderError> {
    let excluded = |v: &Value| {
        v.get("id")
            .and_then(Value::as_str)
            .is_some_and(|id| exclude.iter().any(|x| x == id))
    };
    let found = with_retries(|| provider.find_created(type_name, token, ctx)).await?;
    if let Some(obj) = found
        && !excluded(&obj)
    {
        return Ok(Some(obj));
    }
    find_by_ownership_tag(provider, env_name, type_name, &ctx.address, exclude).await
}

/// A second look for what an interrupted create made: every live object the
/// environment owns whose `terrace:address` tag is exactly the intent's
/// address. Covers endpoints whose tag filters treat `[` `]` of an address
/// like `aws_subnet.a[0]` as a pattern (moto does), so the provider's own
/// search misses the object. Candidates are re-read, so deleted objects that
/// an endpoint still lists (terminated instances) are not adopted.
async fn find_by_ownership_tag(
    provider: &Arc<dyn Provider>,
    env_name: &str,
    type_name: &str,
    address: &str,
    exclude: &[String],
) -> Result<Option<Value>, ProviderError> {
    let owned = with_retries(|| provider.list_owned(type_name, env_name)).await?;
    for candidate in owned {
        let json = candidate.to_json_lossy();
        if json
            .get("id")
            .and_then(|v| v.as_str())
            .is_some_and(|id| exclude.iter().any(|x| x == id))
        {
            continue;
        }
        let tagged = ["tags_all", "tags"].iter().any(|k| {
            json.get(*k)
                .and_then(|t| t.get("terrace:address"))
                .and_then(|a| a.as_str())
                == Some(address)
        });
        if !tagged {
            continue;
        }
        let live =
            with_retries(|| provider.read_resources(type_name, std::slice::from_ref(&candidate)))
                .await?;
        if let Some(Some(obj)) = live.into_iter().next() {
            return Ok(Some(obj));
        }
    }
    Ok(None)
}

// ---- apply ---------------------------------------------------------------

/// Shared by every task of one apply.
struct Run<'a> {
    engine: &'a Engine,
    env: &'a LoadedEnv,
    providers: &'a Providers,
    writer: &'a StateWriter,
    table: ValueTable,
    opts: &'a ApplyOptions,
    observer: &'a dyn ApplyObserver,
    limiter: tokio::sync::Semaphore,
    report: Mutex<ApplyReport>,
    /// Old objects of `create_before_destroy` replacements: deleted after
    /// every create, update and delete of the run, so their dependents have
    /// moved to the new objects first (as Terraform does).
    deposed: Mutex<Vec<Deposed>>,
}

/// An old object a replacement left, waiting for its delete (its delete
/// intent stays pending until it is gone).
struct Deposed {
    addr: ResourceAddr,
    provider: String,
    object: Value,
    intent_id: String,
}

/// Check that a saved plan still fits the state and the configuration.
pub fn check_plan_current(
    plan: &Plan,
    env: &LoadedEnv,
    current: Option<&State>,
) -> Result<(), EngineError> {
    if plan.environment != env.name {
        return Err(EngineError::StalePlan(format!(
            "this plan was made for environment '{}', not '{}'; apply it with -e {}",
            plan.environment, env.name, plan.environment
        )));
    }
    let lineage = current.map(|s| s.lineage.to_string());
    let serial = current.map(|s| s.serial);
    if lineage != plan.prior_lineage || serial != plan.prior_serial {
        return Err(EngineError::StalePlan(format!(
            "the state of '{}' changed since this plan was made (plan: serial {}, state now: serial {}); run `terrace plan` again",
            env.name,
            plan.prior_serial.map_or("none".into(), |s| s.to_string()),
            serial.map_or("none".into(), |s| s.to_string())
        )));
    }
    if plan.config_hash != env.config_hash {
        return Err(EngineError::StalePlan(format!(
            "the configuration of '{}' changed since this plan was made; run `terrace plan` again",
            env.name
        )));
    }
    Ok(())
}

/// Apply `plan`. The caller holds the environment's lock (`lease`) and has
/// already checked the plan is current.
pub async fn apply_plan(
    engine: &Engine,
    env: &LoadedEnv,
    plan: &Plan,
    providers: &Providers,
    writer: &StateWriter,
    opts: &ApplyOptions,
    observer: &dyn ApplyObserver,
) -> Result<ApplyReport, EngineError> {
    let run = Run {
        engine,
        env,
        providers,
        writer,
        table: ValueTable::new(),
        opts,
        observer,
        limiter: tokio::sync::Semaphore::new(opts.parallelism.max(1)),
        report: Mutex::new(ApplyReport::default()),
        deposed: Mutex::new(Vec::new()),
    };

    if plan.mode == PlanMode::RefreshOnly {
        for (addr, v) in &plan.refreshed {
            match v {
                Some(v) => {
                    if let Some(mut r) = writer.get_resource(addr) {
                        let (plain, paths) = v.clone().deep_unmark();
                        r.attributes = plain.to_json_lossy().into();
                        r.sensitive_paths = paths;
                        r.updated_at = Utc::now();
                        writer.set_resource(r);
                    }
                }
                None => writer.remove_resource(addr),
            }
        }
        writer.flush().await?;
        let mut report = run.report.into_inner().expect("report");
        report.final_serial = writer.stored_serial();
        return Ok(report);
    }

    // Deposed objects an earlier run could not delete yet (reconcile left
    // their intents pending): this run deletes them after its changes.
    // (A targeted run leaves them to a full one.)
    if plan.targets.is_empty() {
        for i in engine.store.journal_pending(&env.name).await? {
            let deposed = i.action == "delete"
                && i.detail.get("deposed").and_then(|v| v.as_bool()) == Some(true);
            let (Some(pkey), Ok(addr)) = (
                i.detail.get("provider").and_then(|v| v.as_str()),
                i.address.parse::<ResourceAddr>(),
            ) else {
                continue;
            };
            if !deposed || !providers.contains_key(pkey) {
                continue;
            }
            let object = i
                .detail
                .get("before")
                .map(Value::from_tagged_json)
                .unwrap_or(Value::Null);
            run.deposed.lock().expect("deposed").push(Deposed {
                addr,
                provider: pkey.to_string(),
                object,
                intent_id: i.id.clone(),
            });
        }
    }

    // Objects deleted outside terrace: their records leave state (before the
    // table is seeded, so nothing is evaluated against a vanished object).
    let gone = plan.gone();
    for addr in &gone {
        if writer.get_resource(addr).is_some() {
            writer.remove_resource(addr);
            observer.note(&format!(
                "{addr}: the object was deleted outside terrace; removed from state"
            ));
        }
    }
    run.report.lock().expect("report").forgotten = gone;

    // `removed { lifecycle { destroy = false } }`: the records leave state,
    // the objects stay where they are.
    for c in plan.changes.iter().filter(|c| c.action == Action::Forget) {
        let address = c.address();
        writer.remove_resource(&address);
        observer.note(&format!(
            "{address}: removed from state; the object was not destroyed"
        ));
        run.report.lock().expect("report").forgot += 1;
    }

    // `moved` blocks: the plan uses the new addresses; rename the records.
    for c in &plan.changes {
        if let Some(from) = &c.moved_from
            && writer.get_resource(&c.address()).is_none()
            && let Some(mut r) = writer.get_resource(from)
        {
            writer.remove_resource(from);
            r.address = c.address();
            writer.set_resource(r);
        }
    }

    let by_block: HashMap<ResourceAddr, Vec<&ResourceChange>> = {
        let mut m: HashMap<ResourceAddr, Vec<&ResourceChange>> = HashMap::new();
        for c in &plan.changes {
            m.entry(c.addr.block()).or_default().push(c);
        }
        m
    };

    // The walks run while the pacer writes state at intervals; the final
    // flush below writes what is left.
    let stop_pacer = tokio::sync::Notify::new();
    let phases = async {
        // Phase 1: creates, updates, replacements and reads, dependencies first.
        if plan.mode == PlanMode::Normal {
            // Seed the table with what state holds, for blocks the plan leaves
            // alone (targets) — but not with instances phase 2 deletes: the
            // plan evaluated without them, so apply must too (`a[*]` after
            // `count` 3 → 2 is two instances).
            let deleting: HashSet<String> = plan
                .changes
                .iter()
                .filter(|c| c.action == Action::Delete)
                .map(|c| c.address())
                .collect();
            for r in writer.snapshot().resources {
                if deleting.contains(&r.address) {
                    continue;
                }
                if let Ok(addr) = r.address.parse::<ResourceAddr>() {
                    run.table.set(&addr, crate::values::state_value(&r));
                }
            }
            // Until the walk applies them, instances that are created,
            // changed or read hold their planned objects (unknowns included),
            // not nothing and not their old objects: an expression evaluated
            // before they are applied (a module's other outputs, evaluated
            // with the one a reference asked for) is then provisional and
            // evaluated again later, instead of being remembered without
            // them.
            for c in &plan.changes {
                if !matches!(c.action, Action::NoOp | Action::Delete)
                    && let Some(after) = &c.after
                {
                    run.table.set(&c.addr, after.clone());
                }
            }
            env.evaluator.reset_cache();
            let nodes: HashSet<_> = env.graph.node_indices().collect();
            let outcomes = walk(
                &env.graph,
                &nodes,
                WalkOrder::DependenciesFirst,
                opts.parallelism.max(1) * 4,
                &opts.cancel,
                |ix| {
                    let run = &run;
                    let by_block = &by_block;
                    async move { run.visit(ix, by_block).await }
                },
            )
            .await;
            let mut report = run.report.lock().expect("report");
            for (ix, outcome) in &outcomes {
                if let NodeOutcome::Skipped = outcome
                    && let NodeKind::Resource(a) = &env.node(*ix).kind
                    && by_block
                        .get(&a.block())
                        .is_some_and(|cs| cs.iter().any(|c| c.action != Action::NoOp))
                {
                    report.skipped.push(a.to_string());
                }
                if let NodeOutcome::Cancelled = outcome {
                    report.cancelled = true;
                }
            }
        }

        // Phase 2: deletes (orphans, destroy), dependents first.
        let deletes: Vec<&ResourceChange> = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .collect();
        if !deletes.is_empty() && !opts.cancel.is_cancelled() {
            let (g, index) = delete_graph(&deletes);
            let nodes: HashSet<_> = g.node_indices().collect();
            let outcomes = walk(
                &g,
                &nodes,
                WalkOrder::DependentsFirst,
                opts.parallelism.max(1),
                &opts.cancel,
                |ix| {
                    let run = &run;
                    let change = index[g.payload(ix)];
                    async move { run.delete(change).await }
                },
            )
            .await;
            let mut report = run.report.lock().expect("report");
            for (ix, outcome) in outcomes {
                match outcome {
                    NodeOutcome::Skipped => report.skipped.push(g.id(ix).to_string()),
                    NodeOutcome::Cancelled => report.cancelled = true,
                    _ => {}
                }
            }
        }

        // Phase 3: deposed objects, now that their dependents have moved (or
        // are gone).
        if !opts.cancel.is_cancelled() {
            run.delete_deposed().await;
        }

        // Phase 4: what this run created or changed, read back once every
        // change is made, so state holds what drift will see.
        if plan.mode == PlanMode::Normal && !opts.cancel.is_cancelled() {
            run.settle(plan).await;
        }

        stop_pacer.notify_one();
    };
    futures::join!(phases, writer.run_pacer(&stop_pacer));

    // Outputs.
    if plan.mode == PlanMode::Normal {
        // Outputs that evaluate are stored; one that fails is left out of
        // state and fails the apply (after the resources are saved), as in
        // Terraform.
        let mut stored = BTreeMap::new();
        let mut failed = Vec::new();
        for (k, r) in env.evaluator.root_outputs_each(&run.table) {
            match r {
                Ok((v, sensitive)) if v.is_wholly_known() => {
                    let sensitive = sensitive || v.contains_sensitive();
                    let value = v.deep_unmark().0.to_json_lossy();
                    stored.insert(k, OutputState { value, sensitive });
                }
                Ok(_) => {}
                Err(d) => failed.push((format!("output.{k}"), d.to_string())),
            }
        }
        writer.set_outputs(stored);
        run.report.lock().expect("report").failures.extend(failed);
    } else {
        writer.set_outputs(BTreeMap::new());
        // A complete destroy leaves no data sources behind either.
        let complete = {
            let r = run.report.lock().expect("report");
            r.failures.is_empty() && !r.cancelled && r.skipped.is_empty()
        };
        if complete && plan.targets.is_empty() {
            for r in writer
                .snapshot()
                .resources
                .iter()
                .filter(|r| r.mode == "data")
            {
                writer.remove_resource(&r.address);
            }
        }
    }
    writer.flush().await?;
    let mut report = run.report.into_inner().expect("report");
    report.final_serial = writer.stored_serial();
    report.state_writes = writer.writes();
    report.failures.sort();
    report.skipped.sort();
    report.skipped.dedup();
    Ok(report)
}

/// The graph of deletes: an edge X → D when X depends on D, so walking
/// dependents first deletes X before D.
fn delete_graph<'a>(
    deletes: &[&'a ResourceChange],
) -> (DepGraph<String>, HashMap<String, &'a ResourceChange>) {
    let mut g = DepGraph::new();
    let mut index = HashMap::new();
    for c in deletes {
        let a = c.addr.to_string();
        if g.add_node(a.clone(), a.clone()).is_ok() {
            index.insert(a, *c);
        }
    }
    // Sorted, so the instances of a block (`dep[...]`) are one range.
    let mut addrs: Vec<String> = index.keys().cloned().collect();
    addrs.sort();
    for c in deletes {
        let a = c.addr.to_string();
        for dep in &c.dependencies {
            let instances = format!("{dep}[");
            let start = addrs.partition_point(|x| x.as_str() < instances.as_str());
            let exact = addrs.binary_search(dep).ok().map(|i| &addrs[i]);
            let keyed = addrs[start..]
                .iter()
                .take_while(|x| x.starts_with(instances.as_str()));
            for other in exact.into_iter().chain(keyed) {
                if other != &a {
                    let _ = g.add_dependency(&a, other);
                }
            }
        }
    }
    // A cycle in recorded dependencies must not block the destroy: drop the
    // edges inside cycles and let ordering errors be retried.
    if !g.cycles().is_empty() {
        let mut plain = DepGraph::new();
        for a in &addrs {
            let _ = plain.add_node(a.clone(), a.clone());
        }
        return (plain, index);
    }
    (g, index)
}

impl Run<'_> {
    fn record_failure(&self, address: &str, error: String) {
        self.report
            .lock()
            .expect("report")
            .failures
            .push((address.to_string(), error));
    }

    /// Read back the objects this run created or changed, after all of its
    /// changes: a later change of the same run may have changed them (a NAT
    /// gateway associating an Elastic IP, an `aws_route` adding to a route
    /// table), and a state holding their values from before would be
    /// reported as drift. One batched read per type; a failed read, or an
    /// object not found, leaves the record as its change wrote it.
    async fn settle(&self, plan: &Plan) {
        let mut groups: BTreeMap<(String, String), Vec<ResourceState>> = BTreeMap::new();
        for c in &plan.changes {
            if c.addr.mode != ResourceMode::Managed
                || matches!(c.action, Action::NoOp | Action::Delete | Action::Read)
            {
                continue;
            }
            if let Some(r) = self.writer.get_resource(&c.address()) {
                groups
                    .entry((r.provider.clone(), r.type_name.clone()))
                    .or_default()
                    .push(r);
            }
        }
        for ((pkey, type_name), records) in groups {
            let Some(provider) = self.providers.get(&pkey) else {
                continue;
            };
            // Objects that live in state alone read back as they were
            // written: no other change can have touched them, and decoding
            // them all again costs a copy of every value (scenario 3's
            // 1,000 × 700 KiB inputs).
            if !provider.has_remote_objects() {
                continue;
            }
            let values: Vec<Value> = records.iter().map(crate::values::state_value).collect();
            let read = match provider.read_resources(&type_name, &values).await {
                Ok(read) if read.len() == records.len() => read,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(type_name = %type_name, "reading back after apply failed: {e}");
                    continue;
                }
            };
            for (mut r, after) in records.into_iter().zip(read) {
                let Some(after) = after else { continue };
                let after = self
                    .engine
                    .conform(ResourceMode::Managed, &pkey, &type_name, after)
                    .mark_paths(&r.sensitive_paths);
                let (plain, paths) = after.deep_unmark();
                let attributes: std::sync::Arc<serde_json::Value> = plain.to_json_lossy().into();
                if attributes == r.attributes {
                    continue;
                }
                r.attributes = attributes;
                r.sensitive_paths = paths;
                r.updated_at = Utc::now();
                self.writer.set_resource(r);
            }
        }
    }

    async fn visit(
        &self,
        ix: terrace_graph::NodeIndex,
        by_block: &HashMap<ResourceAddr, Vec<&ResourceChange>>,
    ) -> Result<(), String> {
        let node = self.env.node(ix);
        match &node.kind {
            NodeKind::Resource(block) => {
                let changes = by_block.get(&block.block()).cloned().unwrap_or_default();
                // Instances leaving the configuration are deleted in phase 2;
                // references and outputs must not see them (seeded from state).
                for c in changes.iter().filter(|c| c.action == Action::Delete) {
                    self.table.remove(&c.addr);
                }
                // A block with no instances (count = 0) reads as empty, not
                // unknown, so outputs over it are known and stored — also
                // when its last instances are being deleted.
                if changes.iter().all(|c| c.action == Action::Delete)
                    && self
                        .env
                        .evaluator
                        .expand_resource(node, &self.table)
                        .is_ok_and(|i| i.is_empty())
                {
                    self.table.declare_empty(block);
                }
                if changes.iter().all(|c| c.action == Action::NoOp) {
                    for c in &changes {
                        if let Some(v) = c.after.clone().or(c.before.clone()) {
                            self.table.set(&c.addr, v);
                        }
                        self.adopt_import(c);
                        if c.addr.mode == ResourceMode::Data
                            && let Some(v) = &c.after
                        {
                            self.writer.set_resource(state_record(
                                &c.addr,
                                &c.provider,
                                v,
                                &c.dependencies,
                                None,
                            ));
                        }
                    }
                    return Ok(());
                }
                // Re-evaluate the block now that its dependencies are applied.
                let configs = self
                    .env
                    .evaluator
                    .expand_resource(node, &self.table)
                    .map_err(|d| d.to_string())?;
                let configs: HashMap<String, Value> = configs
                    .into_iter()
                    .map(|i| (i.addr.to_string(), i.config))
                    .collect();
                let tasks = changes
                    .iter()
                    .filter(|c| !matches!(c.action, Action::Delete | Action::Forget))
                    .map(|c| {
                        let config = configs.get(&c.addr.to_string()).cloned();
                        async move {
                            let _permit =
                                self.limiter.acquire().await.map_err(|e| e.to_string())?;
                            self.apply_change(c, config).await
                        }
                    });
                let results = futures::future::join_all(tasks).await;
                let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(errors.join("; "))
                }
            }
            _ => self
                .env
                .evaluator
                .eval_node(node, &self.table)
                .map(|_| ())
                .map_err(|d| d.to_string()),
        }
    }

    async fn apply_change(&self, c: &ResourceChange, config: Option<Value>) -> Result<(), String> {
        let address = c.addr.to_string();
        if c.action == Action::NoOp {
            if let Some(v) = c.after.clone().or(c.before.clone()) {
                self.table.set(&c.addr, v);
            }
            self.adopt_import(c);
            return Ok(());
        }
        let started = Instant::now();
        self.observer.started(&address, c.action);
        let result = self.apply_change_inner(c, config).await;
        // `postcondition`s, against the object as created, updated or read.
        // It is in state already: a failure stops dependents, as in Terraform.
        let result = result.and_then(|()| match self.table.get_instance(&c.addr) {
            Some(v) => self
                .env
                .evaluator
                .check_postconditions(&c.addr, &v, &self.table)
                .map_err(|d| d.to_string()),
            None => Ok(()),
        });
        // Policies still undecided, against the object as applied (it is in
        // state already, as with a postcondition).
        let result = result.and_then(|()| match self.table.get_instance(&c.addr) {
            Some(v) if !matches!(c.action, Action::Read | Action::Forget | Action::Delete) => {
                self.policy_check(c, &v, true)
            }
            _ => Ok(()),
        });
        let elapsed = started.elapsed();
        match &result {
            Ok(()) => {
                let id = self
                    .table
                    .get_instance(&c.addr)
                    .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string));
                self.observer
                    .completed(&address, c.action, id.as_deref(), elapsed);
                let mut r = self.report.lock().expect("report");
                match c.action {
                    Action::Create => r.added += 1,
                    Action::Update => r.changed += 1,
                    Action::DeleteThenCreate | Action::CreateThenDelete => {
                        r.added += 1;
                        r.destroyed += 1;
                    }
                    _ => {}
                }
                if c.import_id.is_some() {
                    r.imported += 1;
                }
            }
            Err(e) => {
                self.observer.finished(&address, c.action, Err(e), elapsed);
                self.record_failure(&address, e.clone());
            }
        }
        result
    }

    /// An imported object that already matches its configuration (no-op):
    /// record it in state.
    fn adopt_import(&self, c: &ResourceChange) {
        if c.import_id.is_none() || c.addr.mode != ResourceMode::Managed {
            return;
        }
        if let Some(v) = c.after.as_ref().or(c.before.as_ref()) {
            self.writer
                .set_resource(state_record(&c.addr, &c.provider, v, &c.dependencies, None));
            self.report.lock().expect("report").imported += 1;
        }
    }

    fn provider(&self, c: &ResourceChange) -> Result<&Arc<dyn Provider>, String> {
        self.providers
            .get(&c.provider)
            .ok_or_else(|| format!("provider {} is not configured", c.provider))
    }

    /// Policies undecided at plan time, for one change ([`crate::policy::PolicyGate`]).
    fn policy_check(&self, c: &ResourceChange, after: &Value, applied: bool) -> Result<(), String> {
        let Some(gate) = &self.opts.policy else {
            return Ok(());
        };
        for note in gate.check_change(c, after, applied)? {
            self.observer.note(&note);
        }
        Ok(())
    }

    async fn apply_change_inner(
        &self,
        c: &ResourceChange,
        config: Option<Value>,
    ) -> Result<(), String> {
        let provider = self.provider(c)?;
        let address = c.addr.to_string();
        let ctx = ResourceContext {
            environment: self.env.name.clone(),
            address: address.clone(),
        };
        let type_name = &c.addr.type_name;

        if c.addr.mode == ResourceMode::Data {
            let config = config.ok_or_else(|| format!("{address}: no configuration to read"))?;
            let v = with_retries(|| provider.read_data(type_name, &config))
                .await
                .map_err(|e| e.to_string())?;
            let v = self
                .engine
                .conform(ResourceMode::Data, &c.provider, type_name, v);
            self.table.set(&c.addr, v.clone());
            self.writer.set_resource(state_record(
                &c.addr,
                &c.provider,
                &v,
                &c.dependencies,
                None,
            ));
            return self.writer.checkpoint();
        }

        // Re-plan with the now-known configuration.
        let replan = |prior: Option<&Value>| -> Result<Value, String> {
            let Some(cfg) = &config else {
                return c
                    .after
                    .clone()
                    .ok_or_else(|| format!("{address}: nothing planned"));
            };
            let mut planned = crate::values::carry_sensitive(
                cfg,
                provider
                    .plan_resource(type_name, prior, cfg, &ctx)
                    .map_err(|e| e.to_string())?
                    .planned,
            );
            // Keep values the plan fixed through ignore_changes.
            if let (Some(p), Some(after)) = (prior, &c.after)
                && let (Some(pm), Some(am), Some(nm)) =
                    (p.as_map(), after.as_map(), planned.as_map_mut())
            {
                for (k, v) in am {
                    if pm.get(k).is_some_and(|pv| equal_ignoring_marks(pv, v))
                        && v.is_wholly_known()
                    {
                        nm.insert(k.clone(), v.clone());
                    }
                }
            }
            Ok(planned)
        };

        match c.action {
            Action::Create => {
                let planned = replan(None)?;
                self.policy_check(c, &planned, false)?;
                self.create(c, provider, &planned, &address).await
            }
            Action::Update => {
                let prior = c
                    .before
                    .clone()
                    .ok_or_else(|| format!("{address}: no prior object"))?;
                let planned = replan(Some(&prior))?;
                self.policy_check(c, &planned, false)?;
                self.checked()?;
                let new = with_retries(|| provider.update(type_name, &prior, &planned, &ctx))
                    .await
                    .map_err(|e| self.describe(c, &e))?;
                let new = crate::values::carry_sensitive(&planned, new);
                let created = self.writer.get_resource(&address).map(|r| r.created_at);
                self.table.set(&c.addr, new.clone());
                self.writer.set_resource(state_record(
                    &c.addr,
                    &c.provider,
                    &new,
                    &c.dependencies,
                    created,
                ));
                self.writer.checkpoint()
            }
            Action::DeleteThenCreate => {
                let prior = c
                    .before
                    .clone()
                    .ok_or_else(|| format!("{address}: no prior object"))?;
                let planned = replan(None)?;
                self.policy_check(c, &planned, false)?;
                self.delete_object(c, provider, &prior, true).await?;
                self.create(c, provider, &planned, &address).await
            }
            Action::CreateThenDelete => {
                let prior = c
                    .before
                    .clone()
                    .ok_or_else(|| format!("{address}: no prior object"))?;
                self.policy_check(c, &replan(None)?, false)?;
                // Journal the old object's delete first, so a crash after the
                // create cannot orphan it (it is "deposed": no longer in state).
                let journalled = self
                    .journal(
                        c,
                        "delete",
                        serde_json::json!({ "before": journal_object(&prior), "deposed": true }),
                    )
                    .await?;
                let deposed = journalled
                    .split_once('|')
                    .map(|(_, id)| id.to_string())
                    .unwrap_or_default();
                let planned = replan(None)?;
                if let Err(e) = self.create(c, provider, &planned, &address).await {
                    // The old object stays current: nothing is deposed.
                    if !deposed.is_empty() {
                        let _ = self
                            .engine
                            .store
                            .journal_finish(
                                &self.env.name,
                                &deposed,
                                IntentStatus::Failed,
                                serde_json::json!({ "error": "the replacement's create failed" }),
                            )
                            .await;
                    }
                    return Err(e);
                }
                // The old object is deleted once the dependents have moved
                // to the new one (after the whole walk).
                self.deposed.lock().expect("deposed").push(Deposed {
                    addr: c.addr.clone(),
                    provider: c.provider.clone(),
                    object: prior,
                    intent_id: deposed,
                });
                self.writer.checkpoint()
            }
            Action::NoOp | Action::Delete | Action::Read | Action::Forget => Ok(()),
        }
    }

    /// [`StateWriter::checkpoint`], and on a lost lease also cancel the walk
    /// so no further node starts.
    fn checked(&self) -> Result<(), String> {
        let r = self.writer.checkpoint();
        if r.is_err() && self.writer.lease_lost() {
            self.opts.cancel.cancel();
        }
        r
    }

    fn describe(&self, c: &ResourceChange, e: &ProviderError) -> String {
        match e {
            ProviderError::InvalidArgument { path: Some(p), .. } => {
                match self.env.evaluator.attribute_range(&c.addr, p) {
                    Some(r) => format!("{e} (at {r})"),
                    None => e.to_string(),
                }
            }
            _ => e.to_string(),
        }
    }

    async fn journal(
        &self,
        c: &ResourceChange,
        action: &str,
        extra: serde_json::Value,
    ) -> Result<String, String> {
        self.checked()?;
        if !self.provider(c)?.has_remote_objects() {
            // Nothing outside state to find or finish after a crash: no
            // intent (an empty id, which finishing ignores).
            return Ok(format!("terrace-{}|", uuid::Uuid::new_v4().simple()));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let mut detail = serde_json::json!({
            "provider": c.provider,
            "dependencies": c.dependencies,
        });
        if let (Some(d), Some(e)) = (detail.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                d.insert(k.clone(), v.clone());
            }
        }
        let intent = Intent {
            id: id.clone(),
            env: self.env.name.clone(),
            address: c.addr.to_string(),
            action: action.to_string(),
            idempotency_token: format!("terrace-{}", uuid::Uuid::new_v4().simple()),
            resource_type: c.addr.type_name.clone(),
            recorded_at: Utc::now(),
            status: IntentStatus::Pending,
            detail,
        };
        self.writer
            .ride("recording a journal intent", || {
                self.engine.store.journal_record(&intent)
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok(intent.idempotency_token.clone() + "|" + &id)
    }

    async fn create(
        &self,
        c: &ResourceChange,
        provider: &Arc<dyn Provider>,
        planned: &Value,
        address: &str,
    ) -> Result<(), String> {
        self.checked()?;
        let journalled = self.journal(c, "create", serde_json::Value::Null).await?;
        let (token, intent_id) = journalled
            .split_once('|')
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .unwrap_or_default();
        let ctx = CreateContext {
            resource: ResourceContext {
                environment: self.env.name.clone(),
                address: address.to_string(),
            },
            idempotency_token: token,
            timeout: self.opts.create_timeout,
        };
        match with_retries(|| provider.create(&c.addr.type_name, planned, &ctx)).await {
            Ok(new) => {
                let new =
                    self.engine
                        .conform(ResourceMode::Managed, &c.provider, &c.addr.type_name, new);
                let new = crate::values::carry_sensitive(planned, new);
                self.table.set(&c.addr, new.clone());
                self.writer.set_resource(state_record(
                    &c.addr,
                    &c.provider,
                    &new,
                    &c.dependencies,
                    None,
                ));
                self.writer
                    .finish_after_flush(intent_id, IntentStatus::Done);
                self.writer.checkpoint()
            }
            Err(e) => {
                self.create_failed(c, provider, planned, &ctx, intent_id, e)
                    .await
            }
        }
    }

    /// A create failed. It may have made its object anyway (a multi-call
    /// create whose later call failed, a lost answer): keep whatever exists
    /// in state rather than orphaning it, and keep the intent pending when
    /// nobody can tell yet, so the next run looks before creating again.
    async fn create_failed(
        &self,
        c: &ResourceChange,
        provider: &Arc<dyn Provider>,
        planned: &Value,
        ctx: &CreateContext,
        intent_id: String,
        e: ProviderError,
    ) -> Result<(), String> {
        let (reported, error) = match e {
            ProviderError::PartiallyCreated { object, error } => (Some(*object), *error),
            other => (None, other),
        };
        let journalled = !intent_id.is_empty();
        let (found, lookup_failed) = match reported {
            Some(obj) => (Some(obj), false),
            None if journalled => {
                // The object this change replaces carries the address too.
                let exclude: Vec<String> = c
                    .before
                    .as_ref()
                    .and_then(|b| b.get("id").and_then(Value::as_str).map(String::from))
                    .into_iter()
                    .collect();
                match find_made(
                    provider,
                    &self.env.name,
                    &c.addr.type_name,
                    &ctx.idempotency_token,
                    &ctx.resource,
                    &exclude,
                )
                .await
                {
                    Ok(found) => (found, false),
                    Err(_) => (None, true),
                }
            }
            None => (None, false),
        };
        let message = self.describe(c, &error);
        if let Some(obj) = found {
            let obj =
                self.engine
                    .conform(ResourceMode::Managed, &c.provider, &c.addr.type_name, obj);
            let obj = crate::values::carry_sensitive(planned, obj);
            let id = obj
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            self.writer.set_resource(state_record(
                &c.addr,
                &c.provider,
                &obj,
                &c.dependencies,
                None,
            ));
            self.writer
                .finish_after_flush(intent_id, IntentStatus::Done);
            return Err(format!(
                "{message}; the object was created ({id}) and is kept in state, so the next apply updates or replaces it instead of creating another"
            ));
        }
        if error.may_have_created() || lookup_failed {
            return Err(format!(
                "{message}; the object may exist: the next apply looks for it before creating it again"
            ));
        }
        if journalled {
            let _ = self
                .engine
                .store
                .journal_finish(
                    &self.env.name,
                    &intent_id,
                    IntentStatus::Failed,
                    serde_json::json!({"error": error.to_string()}),
                )
                .await;
        }
        Err(message)
    }

    async fn delete_object(
        &self,
        c: &ResourceChange,
        provider: &Arc<dyn Provider>,
        prior: &Value,
        in_state: bool,
    ) -> Result<(), String> {
        self.checked()?;
        let journalled = self
            .journal(
                c,
                "delete",
                serde_json::json!({ "before": journal_object(prior) }),
            )
            .await?;
        let intent_id = journalled
            .split_once('|')
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        if let Err(e) = self.delete_retrying(c, provider, prior).await {
            // The API refused: nothing is in flight, so close the intent (the
            // object stays in state). Only a timeout leaves it for reconciling.
            if !matches!(e, ProviderError::Timeout { .. }) && !intent_id.is_empty() {
                let _ = self
                    .engine
                    .store
                    .journal_finish(
                        &self.env.name,
                        &intent_id,
                        IntentStatus::Failed,
                        serde_json::json!({ "error": e.to_string() }),
                    )
                    .await;
            }
            return Err(self.describe(c, &e));
        }
        if in_state {
            self.writer.remove_resource(&c.addr.to_string());
        }
        self.writer
            .finish_after_flush(intent_id, IntentStatus::Done);
        self.writer.checkpoint()
    }

    /// Delete, retrying ordering errors (dependency violations, in use) with backoff.
    async fn delete_retrying(
        &self,
        c: &ResourceChange,
        provider: &Arc<dyn Provider>,
        prior: &Value,
    ) -> Result<(), ProviderError> {
        self.delete_retrying_at(&c.addr, provider, prior).await
    }

    async fn delete_retrying_at(
        &self,
        addr: &ResourceAddr,
        provider: &Arc<dyn Provider>,
        prior: &Value,
    ) -> Result<(), ProviderError> {
        let deadline = Instant::now() + self.opts.delete_retry_for;
        let mut delay = Duration::from_millis(500);
        loop {
            match with_retries(|| provider.delete(&addr.type_name, prior)).await {
                Ok(()) | Err(ProviderError::NotFound(_)) => return Ok(()),
                Err(ProviderError::Conflict { code, message })
                    if Instant::now() + delay < deadline =>
                {
                    self.observer.note(&format!(
                        "{addr}: {code} ({message}); retrying in {delay:?}"
                    ));
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(15));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Delete the deposed objects: replacements' old objects, and those an
    /// earlier run could not delete yet. One that still cannot be deleted
    /// stays recorded (its intent pending) and is tried again by the next
    /// run; it is reported, but never blocks the environment.
    async fn delete_deposed(&self) {
        let deposed = std::mem::take(&mut *self.deposed.lock().expect("deposed"));
        let tasks = deposed.into_iter().map(|d| async move {
            let address = d.addr.to_string();
            let id = d
                .object
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            let Some(provider) = self.providers.get(&d.provider) else {
                return;
            };
            let Ok(_permit) = self.limiter.acquire().await else {
                return;
            };
            if let Err(e) = self.checked() {
                self.record_failure(&address, e);
                return;
            }
            match self.delete_retrying_at(&d.addr, provider, &d.object).await {
                Ok(()) => {
                    self.observer
                        .note(&format!("{address}: deleted the deposed object {id}"));
                    self.writer
                        .finish_after_flush(d.intent_id, IntentStatus::Done);
                }
                Err(e) => self.record_failure(
                    &address,
                    format!(
                        "deleting the deposed object {id}: {e}; it stays recorded as deposed and the next apply or destroy deletes it"
                    ),
                ),
            }
        });
        futures::future::join_all(tasks).await;
    }

    async fn delete(&self, c: &ResourceChange) -> Result<(), String> {
        let address = c.addr.to_string();
        let started = Instant::now();
        self.observer.started(&address, Action::Delete);
        let result = async {
            let provider = self.provider(c)?;
            let prior = c
                .before
                .clone()
                .ok_or_else(|| format!("{address}: no prior object"))?;
            let _permit = self.limiter.acquire().await.map_err(|e| e.to_string())?;
            self.delete_object(c, provider, &prior, true).await
        }
        .await;
        match &result {
            Ok(()) => {
                self.observer
                    .finished(&address, Action::Delete, Ok(()), started.elapsed());
                self.report.lock().expect("report").destroyed += 1;
            }
            Err(e) => {
                self.observer
                    .finished(&address, Action::Delete, Err(e), started.elapsed());
                self.record_failure(&address, e.clone());
            }
        }
        result
    }
}

/// An object as the journal keeps it: the journal is not encrypted with the
/// state, so sensitive values are left out (reads and deletes need the id and
/// the plain attributes only).
fn journal_object(v: &Value) -> serde_json::Value {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Sensitive(_) => Value::Null,
            Value::List(xs) => Value::List(xs.iter().map(strip).collect()),
            Value::Set(xs) => Value::Set(xs.iter().map(strip).collect()),
            Value::Map(m) => Value::Map(m.iter().map(|(k, x)| (k.clone(), strip(x))).collect()),
            other => other.clone(),
        }
    }
    strip(v).to_tagged_json()
}
