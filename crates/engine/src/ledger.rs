//! Writing the apply ledger around a run: an open record once the lock is
//! held (before the first change), closed with the run's outcome; a
//! `refused` record when the lock is held by another run; and records left
//! open by runs that died closed as `interrupted` by the next lock holder.
//! The records and stores belong to `terrace-state`; this module only
//! decides what goes into them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use terrace_state::{
    ConfigSnapshot, FailedAddress, Identity, LedgerQuery, LedgerRecord, Outcome, State, StateError,
    StateStore,
};

use crate::apply::ApplyReport;
use crate::context::LoadedEnv;
use crate::error::EngineError;
use crate::model::{Action, Plan, PlanMode};

/// The ledger's name for an operation (`apply -refresh-only` for refresh-only applies).
pub fn operation_name(operation: &str, mode: PlanMode) -> String {
    if mode == PlanMode::RefreshOnly {
        format!("{operation} -refresh-only")
    } else {
        operation.to_string()
    }
}

/// SHA-256 (hex) of the plan's canonical JSON (Terraform's plan JSON
/// format, keys sorted).
pub fn plan_hash(plan: &Plan, prior: Option<&State>) -> String {
    let json = crate::planjson::plan_json(plan, prior);
    // Hashed as it is written: a plan of large values would otherwise be
    // held once more as bytes (the same bytes `to_vec` gives).
    let mut sha = Sha256::new();
    if serde_json::to_writer(&mut sha, &json).is_err() {
        sha = Sha256::new();
    }
    hex::encode(sha.finalize())
}

/// Record a run that did not start because the lock is held. A failure to
/// record is logged, never hides the refusal.
pub async fn record_refused(
    store: &dyn StateStore,
    env: &str,
    operation: &str,
    identity: &Identity,
    reason: &str,
) {
    let mut rec = LedgerRecord::open(env, operation, identity.clone()).closed(Outcome::Refused);
    rec.error = Some(reason.to_string());
    if let Err(e) = store.ledger_open(&rec).await {
        tracing::warn!(env, "could not record the refused run in the ledger: {e}");
    }
}

/// Close every open record of `env` except `keep` as interrupted: the
/// caller holds the lock, so their runs are gone. Returns how many.
pub async fn close_interrupted(
    store: &dyn StateStore,
    env: &str,
    keep: Option<&str>,
) -> Result<usize, StateError> {
    let open = store
        .ledger_list(&LedgerQuery {
            env: Some(env.to_string()),
            since: None,
        })
        .await?;
    let mut n = 0;
    for rec in open
        .into_iter()
        .filter(|r| r.is_open() && Some(r.id.as_str()) != keep)
    {
        let mut closed = rec.closed(Outcome::Interrupted);
        closed.error = Some(
            "the run ended without closing its record (killed or lost); closed by the next run that took the lock"
                .into(),
        );
        match store.ledger_close(&closed).await {
            Ok(()) => {
                tracing::warn!(env, record = %closed.id, "closed the ledger record of an interrupted run");
                n += 1;
            }
            // Closed meanwhile by its own run: nothing to do.
            Err(StateError::LedgerClosed { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Fill a record from what the run did and close it with its outcome.
pub fn finish(
    mut rec: LedgerRecord,
    plan: Option<&Plan>,
    result: Result<&ApplyReport, &EngineError>,
) -> LedgerRecord {
    let report = result.ok();
    if let (Some(plan), Some(report)) = (plan, report) {
        let not_done: BTreeSet<&str> = report
            .failures
            .iter()
            .map(|(a, _)| a.as_str())
            .chain(report.skipped.iter().map(String::as_str))
            .collect();
        for c in plan.effective_changes() {
            let addr = c.address();
            if not_done.contains(addr.as_str()) {
                continue;
            }
            match c.action {
                Action::Create => rec.counts.creates += 1,
                Action::Update => rec.counts.updates += 1,
                Action::DeleteThenCreate | Action::CreateThenDelete => rec.counts.replaces += 1,
                Action::Delete => rec.counts.deletes += 1,
                Action::NoOp | Action::Read | Action::Forget => continue,
            }
            rec.changed.push(addr);
        }
        if plan.mode == PlanMode::RefreshOnly {
            rec.changed
                .extend(plan.drift.iter().map(|d| d.addr.to_string()));
        }
        rec.changed.sort();
        rec.changed.dedup();
        rec.failed = report
            .failures
            .iter()
            .map(|(address, error)| FailedAddress {
                address: address.clone(),
                error: summary(error),
            })
            .collect();
        if report.final_serial.is_some() {
            rec.serial_after = report.final_serial;
        }
    }
    let outcome = match result {
        Ok(r) if r.failures.is_empty() && !r.cancelled => Outcome::Succeeded,
        Ok(r) => {
            if r.cancelled {
                rec.error = Some("interrupted by the user; changes in flight were finished".into());
            }
            Outcome::Failed
        }
        // Declined at the confirmation prompt, a saved plan that no longer
        // fits, or a plan a deny policy fails (checked before the first
        // change): nothing was changed.
        Err(EngineError::Cancelled(msg) | EngineError::StalePlan(msg)) => {
            rec.error = Some(summary(msg));
            Outcome::Refused
        }
        Err(EngineError::PolicyDenied { diags, .. }) => {
            let denied: Vec<&str> = diags.iter().map(|d| d.summary.as_str()).collect();
            rec.error = Some(summary(&format!("refused: {}", denied.join("; "))));
            Outcome::Refused
        }
        Err(e) => {
            rec.error = Some(summary(&e.to_string()));
            Outcome::Failed
        }
    };
    if rec.serial_after.is_none() {
        rec.serial_after = rec.serial_before;
    }
    rec.closed(outcome)
}

/// Retention: delete the records of `env` that started more than `days`
/// days ago and, when any were, record the pruning (operation `prune`,
/// `pruned` = how many). Run under the environment's lock after a run;
/// a failure is logged, never fails the run.
pub async fn prune(store: &dyn StateStore, env: &str, days: u32, identity: Identity) {
    let mut rec = LedgerRecord::open(env, "prune", identity);
    let before = rec.started_at - chrono::Duration::days(i64::from(days));
    match store.ledger_prune(env, before).await {
        Ok(0) => {}
        Ok(n) => {
            rec.pruned = Some(n as u64);
            rec.error = None;
            let rec = rec.closed(Outcome::Succeeded);
            if let Err(e) = store.ledger_open(&rec).await {
                tracing::warn!(
                    env,
                    "pruned {n} ledger records but could not record it: {e}"
                );
            }
        }
        Err(e) => tracing::warn!(
            env,
            "could not prune the ledger (retention {days} days): {e}"
        ),
    }
}

/// Default of `ledger { blob_grace_days }`.
pub const BLOB_GRACE_DAYS: u32 = 30;

/// What a blob sweep did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BlobSweep {
    /// Blobs still named by a ledger record (snapshot manifests and their files).
    pub kept: usize,
    /// Blobs removed.
    pub removed: usize,
}

/// Mark and sweep the store's blobs: every configuration snapshot a
/// ledger record (of any environment) names is kept, with the files its
/// manifest names; any other blob last stored more than `grace_days` ago
/// is deleted. The grace period protects what a concurrent run has put but
/// not yet recorded, and plan-file HMAC keys (a plan file outside the store
/// names them). A manifest that cannot be read stops the sweep with
/// nothing deleted: its files cannot be told from garbage.
pub async fn sweep_blobs(
    store: &dyn StateStore,
    grace_days: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<BlobSweep, StateError> {
    let records = store.ledger_list(&LedgerQuery::default()).await?;
    let mut keep = BTreeSet::new();
    for rec in &records {
        let Some(manifest) = &rec.snapshot else {
            continue;
        };
        if !keep.insert(manifest.clone()) {
            continue;
        }
        let Some(text) = store.blob_get(manifest).await? else {
            // Gone already: nothing it names can be reached through it.
            continue;
        };
        let snapshot: ConfigSnapshot = serde_json::from_str(&text).map_err(|e| StateError::Backend {
            detail: format!(
                "the configuration snapshot {manifest} of ledger record {} cannot be read ({e}), so the \
                 blobs it names cannot be told from unused ones; no blob was removed. A newer terrace \
                 may have written it: sweep with that version",
                rec.id
            ),
        })?;
        keep.extend(snapshot.files.into_values());
    }
    let before = now - chrono::Duration::days(i64::from(grace_days));
    let removed = store.blob_sweep(&keep, before).await?;
    Ok(BlobSweep {
        kept: keep.len(),
        removed,
    })
}

/// Files larger than this are left out of configuration snapshots.
const SNAPSHOT_FILE_MAX: u64 = 1 << 20;

/// Variable files: left out of snapshots (they may hold secrets in clear);
/// the resolved values are stored instead, sensitive ones omitted.
fn is_var_file(name: &str) -> bool {
    name.ends_with(".tfvars") || name.ends_with(".tfvars.json")
}

/// `path` relative to the first of `roots` holding it, with `/` separators.
fn relative(roots: &[PathBuf], path: &Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    roots.iter().find_map(|r| {
        let rel = path.strip_prefix(r).ok()?;
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        Some(parts.join("/"))
    })
}

/// What a snapshot of `env` holds: the manifest (file hashes not yet
/// filled in) and the files' texts by relative path. The files are every
/// configuration file read and every other small text file beside them
/// (templates, policies read with `file()`), variable files excepted.
/// `roots` are tried in order to name a file; a file under none of them is
/// named by its absolute path (and cannot be restored by a rollback).
pub fn snapshot_of(
    roots: &[PathBuf],
    env: &LoadedEnv,
) -> (ConfigSnapshot, BTreeMap<String, String>) {
    let roots: Vec<PathBuf> = roots.iter().filter_map(|r| r.canonicalize().ok()).collect();
    let name = |p: &Path| relative(&roots, p).unwrap_or_else(|| p.to_string_lossy().into_owned());
    let mut files = BTreeMap::new();
    let mut dirs = BTreeSet::new();
    for f in env.sources.files() {
        let file_name = f.path.file_name().map(|n| n.to_string_lossy().into_owned());
        if file_name.as_deref().is_some_and(is_var_file) {
            continue;
        }
        if let Some(d) = f.path.parent() {
            dirs.insert(d.to_path_buf());
        }
        files.insert(name(&f.path), f.text().to_string());
    }
    dirs.insert(env.dir.clone());
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let fname = e.file_name().to_string_lossy().into_owned();
            if fname.starts_with('.') || is_var_file(&fname) {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            if !meta.is_file() || meta.len() > SNAPSHOT_FILE_MAX {
                continue;
            }
            let key = name(&p);
            if files.contains_key(&key) {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(&p) {
                files.insert(key, text);
            }
        }
    }
    let mut manifest = ConfigSnapshot {
        env_dir: name(&env.dir),
        ..Default::default()
    };
    for (k, v) in &env.variables {
        let declared_sensitive = env
            .config
            .root
            .variables
            .get(k)
            .is_some_and(|d| d.sensitive);
        if declared_sensitive || v.contains_sensitive() {
            manifest.sensitive_omitted.push(k.clone());
            continue;
        }
        match v.to_json() {
            Ok(j) => {
                manifest.variables.insert(k.clone(), j);
            }
            Err(_) => manifest.sensitive_omitted.push(k.clone()),
        }
    }
    (manifest, files)
}

/// Store the configuration snapshot of `env` (every file a blob, then the
/// manifest); returns the manifest's address for the ledger record. Blobs
/// already stored are not stored again.
pub async fn store_snapshot(
    store: &dyn StateStore,
    roots: &[PathBuf],
    env: &LoadedEnv,
) -> Result<String, StateError> {
    let (mut manifest, files) = snapshot_of(roots, env);
    for (path, text) in files {
        let hash = store.blob_put(&text).await?;
        manifest.files.insert(path, hash);
    }
    let text = serde_json::to_string(&manifest).map_err(|e| StateError::Backend {
        detail: e.to_string(),
    })?;
    store.blob_put(&text).await
}

/// The first line of an error, at most 300 characters.
fn summary(error: &str) -> String {
    let line = error.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut s: String = line.trim().chars().take(300).collect();
    if line.trim().chars().count() > 300 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_one_short_line() {
        assert_eq!(
            summary("\nInvalidAMIID.NotFound: no\nmore"),
            "InvalidAMIID.NotFound: no"
        );
        assert_eq!(summary(&"x".repeat(400)).chars().count(), 301);
    }

    #[test]
    fn declined_is_refused_and_errors_fail() {
        let rec = LedgerRecord::open("dev", "apply", Identity::default());
        let declined = finish(
            rec.clone(),
            None,
            Err(&EngineError::Cancelled("Apply cancelled.".into())),
        );
        assert_eq!(declined.outcome, Outcome::Refused);
        let denied = finish(
            rec.clone(),
            None,
            Err(&EngineError::PolicyDenied {
                diags: terrace_core::Diagnostics(vec![terrace_core::Diagnostic::error(
                    "Policy \"tags\" denied aws_s3_bucket.a",
                    "needs tags",
                )]),
                sources: Box::default(),
            }),
        );
        assert_eq!(denied.outcome, Outcome::Refused);
        assert_eq!(
            denied.error.as_deref(),
            Some("refused: Policy \"tags\" denied aws_s3_bucket.a")
        );
        let failed = finish(rec, None, Err(&EngineError::Other("boom".into())));
        assert_eq!(failed.outcome, Outcome::Failed);
        assert_eq!(failed.error.as_deref(), Some("boom"));
    }
}
