//! Rollback of infrastructure, not just state: pick a ledger record, put
//! its configuration snapshot (files and variable values) back on disk in a
//! private temporary directory, and let the ordinary apply plan and apply
//! it. The rollback is a ledger record of its own (`operation` `rollback`,
//! `restores` naming the record). It is refused — before the lock is taken,
//! recorded as `refused` — when the snapshot needs something no longer
//! there (no snapshot, a missing blob, a file outside the project, a
//! provider type or module this terrace cannot load), and again under the
//! lock when the restored configuration does not reproduce the snapshot
//! exactly (a remote module installed since with other content).

use std::path::{Component, Path, PathBuf};

use terrace_state::{ConfigSnapshot, Identity, LedgerQuery, LedgerRecord, Outcome, StateStore};

use crate::context::{Engine, LoadOptions, load_env};
use crate::error::EngineError;
use crate::ops::EnvTarget;

/// The variables file a restored snapshot's values are written to.
pub const VARS_FILE: &str = "terrace-rollback.auto.tfvars.json";

/// What a rollback restores, carried by [`crate::apply::ApplyOptions`].
#[derive(Clone, Debug)]
pub struct Restore {
    /// The record whose configuration is restored.
    pub record_id: String,
    /// Its snapshot address: the restored configuration must reproduce it.
    pub snapshot: String,
    /// The temporary project root the snapshot was written under.
    pub root: PathBuf,
}

/// A snapshot on disk, ready to plan. The directory is removed on drop.
pub struct Restored {
    pub restore: Restore,
    /// The environment, pointing at the restored directory.
    pub target: EnvTarget,
    /// The record restored.
    pub record: LedgerRecord,
    _dir: tempfile::TempDir,
}

/// Operations whose records are deployments a rollback can return to.
pub fn is_deployment(rec: &LedgerRecord) -> bool {
    matches!(rec.operation.as_str(), "apply" | "rollback")
}

/// The record to return to: `to`, or the last succeeded deployment before
/// the current one (the latest deployment, succeeded or failed) whose
/// configuration differs from the current one's.
pub fn pick(records: &[LedgerRecord], env: &str, to: Option<&str>) -> Result<LedgerRecord, String> {
    if let Some(id) = to {
        let rec = records.iter().find(|r| r.id == id).ok_or_else(|| {
            format!("no ledger record {id} in environment '{env}'; list them with `terrace log -e {env}`")
        })?;
        if !is_deployment(rec) || rec.outcome != Outcome::Succeeded {
            return Err(format!(
                "record {id} is a {} that {}; a rollback returns to a succeeded apply or rollback",
                rec.operation, rec.outcome
            ));
        }
        return Ok(rec.clone());
    }
    let deployments: Vec<&LedgerRecord> = records
        .iter()
        .filter(|r| is_deployment(r) && matches!(r.outcome, Outcome::Succeeded | Outcome::Failed))
        .collect();
    let Some((current, before)) = deployments.split_last() else {
        return Err(format!(
            "environment '{env}' has no applies in its ledger; nothing to roll back to"
        ));
    };
    before
        .iter()
        .rev()
        .find(|r| {
            r.outcome == Outcome::Succeeded
                && r.snapshot.is_some()
                && (current.outcome != Outcome::Succeeded || r.snapshot != current.snapshot)
        })
        .map(|r| (*r).clone())
        .ok_or_else(|| {
            format!(
                "environment '{env}' has no succeeded apply with another configuration before the current one \
                 ({}); pick a record with --to ID (see `terrace log -e {env}`)",
                current.id
            )
        })
}

/// A snapshot path safe to write under the temporary root.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    if path.is_empty() || p.is_absolute() {
        return None;
    }
    p.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| p.to_path_buf())
}

/// Pick the record, write its snapshot to a temporary directory and check
/// this terrace can load it. A refusal is recorded in the ledger (outcome
/// `refused`) and returned as an error saying why.
pub async fn restore(
    engine: &Engine,
    env: &str,
    to: Option<&str>,
    identity: &Identity,
) -> Result<Restored, EngineError> {
    let store = engine.store.as_ref();
    let records = store
        .ledger_list(&LedgerQuery {
            env: Some(env.to_string()),
            since: None,
        })
        .await?;
    let refuse = |reason: String| async move {
        let reason = format!("rollback refused: {reason}");
        crate::ledger::record_refused(store, env, "rollback", identity, &reason).await;
        EngineError::Other(reason)
    };
    let record = match pick(&records, env, to) {
        Ok(r) => r,
        Err(reason) => return Err(refuse(reason).await),
    };
    match materialize(store, env, &record).await {
        Ok(restored) => {
            // Loading checks every resource type and module is still
            // available (sensitive variables come from TF_VAR_name).
            let load = LoadOptions {
                vars: Default::default(),
                fixed_variables: None,
            };
            match load_env(engine, env, &restored.target.dir, &load) {
                Ok(_) => Ok(restored),
                Err(EngineError::Config { diags, .. }) => Err(refuse(format!(
                    "the configuration of record {} cannot be loaded by this terrace (a resource type or \
                     module no longer available, or a sensitive variable to pass as TF_VAR_name):\n{diags}",
                    record.id
                ))
                .await),
                Err(e) => Err(e),
            }
        }
        Err(Refusal::Reason(reason)) => Err(refuse(reason).await),
        Err(Refusal::Store(e)) => Err(e.into()),
    }
}

enum Refusal {
    Reason(String),
    Store(terrace_state::StateError),
}

impl From<terrace_state::StateError> for Refusal {
    fn from(e: terrace_state::StateError) -> Self {
        Refusal::Store(e)
    }
}

/// Write the snapshot of `record` under a new temporary directory.
async fn materialize(
    store: &dyn StateStore,
    env: &str,
    record: &LedgerRecord,
) -> Result<Restored, Refusal> {
    let id = &record.id;
    let Some(hash) = &record.snapshot else {
        return Err(Refusal::Reason(format!(
            "record {id} has no configuration snapshot (it was recorded before terrace kept snapshots)"
        )));
    };
    let Some(text) = store.blob_get(hash).await? else {
        return Err(Refusal::Reason(format!(
            "the configuration snapshot {hash} of record {id} is no longer in the store"
        )));
    };
    let manifest: ConfigSnapshot = serde_json::from_str(&text).map_err(|e| {
        Refusal::Reason(format!(
            "the configuration snapshot of record {id} is unreadable: {e}"
        ))
    })?;
    let dir = tempfile::Builder::new()
        .prefix("terrace-rollback-")
        .tempdir()
        .map_err(|e| Refusal::Reason(format!("cannot create a temporary directory: {e}")))?;
    let root = dir
        .path()
        .canonicalize()
        .map_err(|e| Refusal::Reason(format!("cannot resolve the temporary directory: {e}")))?;
    let write = |rel: &Path, text: &str| -> Result<(), Refusal> {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Refusal::Reason(format!("cannot write {}: {e}", path.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| Refusal::Reason(format!("cannot write {}: {e}", path.display())))
    };
    for (path, blob) in &manifest.files {
        let Some(rel) = safe_relative(path) else {
            return Err(Refusal::Reason(format!(
                "the snapshot of record {id} holds {path}, a file outside the project, which cannot be restored"
            )));
        };
        let Some(text) = store.blob_get(blob).await? else {
            return Err(Refusal::Reason(format!(
                "file {path} of record {id}'s snapshot (blob {blob}) is no longer in the store"
            )));
        };
        write(&rel, &text)?;
    }
    let env_rel = if manifest.env_dir.is_empty() {
        PathBuf::new()
    } else {
        safe_relative(&manifest.env_dir).ok_or_else(|| {
            Refusal::Reason(format!(
                "the snapshot of record {id} names its environment directory {} outside the project",
                manifest.env_dir
            ))
        })?
    };
    let vars = serde_json::to_string_pretty(&manifest.variables)
        .map_err(|e| Refusal::Reason(e.to_string()))?;
    write(&env_rel.join(VARS_FILE), &vars)?;
    Ok(Restored {
        restore: Restore {
            record_id: id.clone(),
            snapshot: hash.clone(),
            root: root.clone(),
        },
        target: EnvTarget {
            name: env.to_string(),
            dir: root.join(env_rel),
        },
        record: record.clone(),
        _dir: dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(op: &str, outcome: Outcome, snap: &str) -> LedgerRecord {
        let mut r = LedgerRecord::open("dev", op, Identity::default()).closed(outcome);
        r.snapshot = Some(snap.to_string());
        r
    }

    #[test]
    fn picks_the_last_succeeded_apply_with_another_configuration() {
        let v1 = rec("apply", Outcome::Succeeded, "a");
        let v2 = rec("apply", Outcome::Succeeded, "b");
        let again = rec("apply", Outcome::Succeeded, "b");
        let drift = rec("apply -refresh-only", Outcome::Succeeded, "c");
        let list = [v1.clone(), v2.clone(), again, drift];
        assert_eq!(pick(&list, "dev", None).unwrap().id, v1.id);
        // After a failed apply, the last succeeded one is the target.
        let failed = rec("apply", Outcome::Failed, "c");
        let list = [v1.clone(), v2.clone(), failed];
        assert_eq!(pick(&list, "dev", None).unwrap().id, v2.id);
        // Only one apply: nothing to return to.
        let err = pick(std::slice::from_ref(&v1), "dev", None).unwrap_err();
        assert!(err.contains("--to ID"), "{err}");
        // --to a failed record is refused.
        let failed = rec("apply", Outcome::Failed, "c");
        let err = pick(std::slice::from_ref(&failed), "dev", Some(&failed.id)).unwrap_err();
        assert!(err.contains("succeeded apply"), "{err}");
        assert!(
            pick(&[], "dev", Some("nope"))
                .unwrap_err()
                .contains("no ledger record nope")
        );
    }

    #[test]
    fn snapshot_paths_stay_under_the_root() {
        assert!(safe_relative("environments/dev/main.tf").is_some());
        assert!(safe_relative("../etc/passwd").is_none());
        assert!(safe_relative("/etc/passwd").is_none());
        assert!(safe_relative("a/../../b").is_none());
    }
}
