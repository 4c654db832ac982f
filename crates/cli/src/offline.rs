//! The store behind offline commands (`validate`, `graph`): they never read
//! or write state, so every call is an error saying so.

use chrono::{DateTime, Utc};
use std::time::Duration;
use terrace_state::{
    Acquired, DriftRun, EnvRecord, HistoryEntry, Intent, IntentStatus, LedgerQuery, LedgerRecord,
    LockInfo, LockLease, State, StateError, StateStore, WriteMeta,
};

pub struct OfflineStore;

fn offline<T>() -> Result<T, StateError> {
    Err(StateError::Config {
        detail: "this command works offline and has no state store".into(),
    })
}

#[async_trait::async_trait]
impl StateStore for OfflineStore {
    fn describe(&self) -> String {
        "offline".into()
    }
    fn lock_lease(&self) -> Duration {
        Duration::ZERO
    }
    async fn list_environments(&self) -> Result<Vec<String>, StateError> {
        offline()
    }
    async fn read(&self, _: &str) -> Result<Option<State>, StateError> {
        offline()
    }
    async fn write(
        &self,
        _: &str,
        _: &State,
        _: Option<u64>,
        _: Option<&LockLease>,
        _: &WriteMeta,
    ) -> Result<(), StateError> {
        offline()
    }
    async fn history(&self, _: &str) -> Result<Vec<HistoryEntry>, StateError> {
        offline()
    }
    async fn read_version(&self, _: &str, _: u64) -> Result<Option<State>, StateError> {
        offline()
    }
    async fn delete_environment(&self, _: &str, _: Option<&LockLease>) -> Result<(), StateError> {
        offline()
    }
    async fn acquire_lock(&self, _: &str, _: &LockInfo) -> Result<Acquired, StateError> {
        offline()
    }
    async fn renew_lock(&self, _: &LockLease) -> Result<DateTime<Utc>, StateError> {
        offline()
    }
    async fn release_lock(&self, _: &LockLease) -> Result<(), StateError> {
        offline()
    }
    async fn current_lock(&self, _: &str) -> Result<Option<LockInfo>, StateError> {
        offline()
    }
    async fn force_unlock(&self, _: &str, _: &str) -> Result<(), StateError> {
        offline()
    }
    async fn journal_record(&self, _: &Intent) -> Result<(), StateError> {
        offline()
    }
    async fn journal_finish(
        &self,
        _: &str,
        _: &str,
        _: IntentStatus,
        _: serde_json::Value,
    ) -> Result<(), StateError> {
        offline()
    }
    async fn journal_pending(&self, _: &str) -> Result<Vec<Intent>, StateError> {
        offline()
    }
    async fn record_drift_run(&self, _: &DriftRun) -> Result<(), StateError> {
        offline()
    }
    async fn drift_runs(&self, _: &str, _: usize) -> Result<Vec<DriftRun>, StateError> {
        offline()
    }
    async fn registry_create(&self, _: &EnvRecord) -> Result<(), StateError> {
        offline()
    }
    async fn registry_put(&self, _: &EnvRecord) -> Result<(), StateError> {
        offline()
    }
    async fn registry_get(&self, _: &str) -> Result<Option<EnvRecord>, StateError> {
        offline()
    }
    async fn registry_list(&self) -> Result<Vec<EnvRecord>, StateError> {
        offline()
    }
    async fn registry_delete(&self, _: &str) -> Result<(), StateError> {
        offline()
    }
    async fn ledger_open(&self, _: &LedgerRecord) -> Result<(), StateError> {
        offline()
    }
    async fn ledger_close(&self, _: &LedgerRecord) -> Result<(), StateError> {
        offline()
    }
    async fn ledger_list(&self, _: &LedgerQuery) -> Result<Vec<LedgerRecord>, StateError> {
        offline()
    }
    async fn ledger_get(&self, _: &str) -> Result<Option<LedgerRecord>, StateError> {
        offline()
    }
    async fn ledger_prune(
        &self,
        _: &str,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, StateError> {
        offline()
    }
    async fn blob_put(&self, _: &str) -> Result<String, StateError> {
        offline()
    }
    async fn blob_get(&self, _: &str) -> Result<Option<String>, StateError> {
        offline()
    }
    async fn blob_sweep(
        &self,
        _: &std::collections::BTreeSet<String>,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, StateError> {
        offline()
    }
}
