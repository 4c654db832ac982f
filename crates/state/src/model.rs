//! The state model and the records kept next to it (locks, journal, drift
//! runs, the environment registry).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_core::PathStep;

/// Version of the state document (`State`) and of the stored envelope.
pub const FORMAT_VERSION: u32 = 1;

/// The recorded state of one environment.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub format_version: u32,
    /// Identity of this state's history; stays the same across serials.
    pub lineage: uuid::Uuid,
    /// Increases with every write.
    pub serial: u64,
    /// The terrace version that wrote this state.
    pub terrace_version: String,
    /// Resource instances, sorted by address.
    #[serde(default)]
    pub resources: Vec<ResourceState>,
    #[serde(default)]
    pub outputs: BTreeMap<String, OutputState>,
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

impl State {
    /// An empty state with a fresh lineage and serial 0.
    pub fn new() -> State {
        State {
            format_version: FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4(),
            serial: 0,
            terrace_version: env!("CARGO_PKG_VERSION").to_string(),
            resources: Vec::new(),
            outputs: BTreeMap::new(),
        }
    }

    /// The resource instance at `address`.
    pub fn resource(&self, address: &str) -> Option<&ResourceState> {
        self.resources
            .binary_search_by(|r| r.address.as_str().cmp(address))
            .ok()
            .map(|i| &self.resources[i])
    }

    /// Insert or replace a resource instance, keeping the list sorted.
    pub fn set_resource(&mut self, resource: ResourceState) {
        match self
            .resources
            .binary_search_by(|r| r.address.cmp(&resource.address))
        {
            Ok(i) => self.resources[i] = resource,
            Err(i) => self.resources.insert(i, resource),
        }
    }

    /// Remove a resource instance; returns it if it was there.
    pub fn remove_resource(&mut self, address: &str) -> Option<ResourceState> {
        match self
            .resources
            .binary_search_by(|r| r.address.as_str().cmp(address))
        {
            Ok(i) => Some(self.resources.remove(i)),
            Err(_) => None,
        }
    }

    /// Restore the sorted-by-address invariant after arbitrary edits.
    pub fn sort_resources(&mut self) {
        self.resources.sort_by(|a, b| a.address.cmp(&b.address));
    }
}

/// One resource instance as last applied.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResourceState {
    /// Full instance address, e.g. `module.a.aws_instance.x["k"]`.
    pub address: String,
    /// `"managed"` or `"data"`.
    pub mode: String,
    pub type_name: String,
    pub provider: String,
    /// Shared, so copying a record (the state writer snapshots every record
    /// for each write) does not copy its attributes.
    pub attributes: std::sync::Arc<serde_json::Value>,
    /// Paths into `attributes` whose values are sensitive.
    #[serde(default)]
    pub sensitive_paths: Vec<Vec<PathStep>>,
    /// Addresses this instance depends on.
    #[serde(default)]
    pub dependencies: Vec<String>,
    #[serde(default)]
    pub schema_version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A root module output.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OutputState {
    pub value: serde_json::Value,
    #[serde(default)]
    pub sensitive: bool,
}

/// Who wrote a state version and why; kept in history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteMeta {
    /// `"apply"`, `"destroy"`, `"state rm"`, `"rollback"`, ...
    pub operation: String,
    pub who: String,
}

impl WriteMeta {
    /// Meta for `operation`, attributed to the current `user@host`.
    pub fn new(operation: &str) -> WriteMeta {
        WriteMeta {
            operation: operation.to_string(),
            who: current_who(),
        }
    }
}

/// One stored version of an environment's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub serial: u64,
    /// A re-created environment starts a new lineage; its serials restart.
    pub lineage: uuid::Uuid,
    pub written_at: DateTime<Utc>,
    pub operation: String,
    pub who: String,
}

/// The holder of an environment's lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// A UUID; `force-unlock` takes it.
    pub id: String,
    pub operation: String,
    /// `user@host`.
    pub who: String,
    pub pid: u32,
    pub host: String,
    pub created_at: DateTime<Utc>,
    /// The lease end; the store sets it from its lease length on acquire and renew.
    pub expires_at: DateTime<Utc>,
}

impl LockInfo {
    /// A lock request for `operation` by this process (id, who, host, pid filled in).
    pub fn new(operation: &str) -> LockInfo {
        let now = Utc::now();
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_string(),
            who: current_who(),
            pid: std::process::id(),
            host: current_host(),
            created_at: now,
            expires_at: now + chrono::Duration::minutes(2),
        }
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// Proof of holding an environment's lock; writes made under a lock pass it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockLease {
    pub env: String,
    pub lock_id: String,
}

/// The result of a successful `acquire_lock`.
#[derive(Clone, Debug)]
pub struct Acquired {
    pub lease: LockLease,
    /// The lock as stored (with the store's lease end).
    pub info: LockInfo,
    /// The expired lock that was taken over, if any.
    pub took_over: Option<LockInfo>,
}

/// State of an intent in the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntentStatus {
    Pending,
    Done,
    Failed,
}

impl IntentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IntentStatus::Pending => "pending",
            IntentStatus::Done => "done",
            IntentStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<IntentStatus> {
        match s {
            "pending" => Some(IntentStatus::Pending),
            "done" => Some(IntentStatus::Done),
            "failed" => Some(IntentStatus::Failed),
            _ => None,
        }
    }
}

/// A create/delete/replace recorded before it is sent to the cloud.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub id: String,
    pub env: String,
    pub address: String,
    /// `"create"`, `"delete"` or `"replace"`.
    pub action: String,
    pub idempotency_token: String,
    pub resource_type: String,
    pub recorded_at: DateTime<Utc>,
    pub status: IntentStatus,
    /// E.g. the id of what was deleted.
    pub detail: serde_json::Value,
}

/// One recorded drift detection run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftRun {
    pub id: String,
    pub env: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub changed: u32,
    pub missing: u32,
    pub unmanaged: u32,
    pub pending: u32,
    pub report: serde_json::Value,
}

/// An environment in the registry (persistent or ephemeral).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvRecord {
    pub name: String,
    pub template: String,
    /// `"persistent"` or `"ephemeral"`.
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// `creating`, `active`, `destroying` or `destroy_failed`.
    pub status: String,
    #[serde(default)]
    pub status_detail: String,
    #[serde(default)]
    pub resource_count: u32,
    #[serde(default)]
    pub last_apply: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_drift: Option<String>,
}

/// This machine's host name.
pub fn current_host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// `user@host` for this process.
pub fn current_who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    format!("{user}@{}", current_host())
}

/// Environment names are used as keys and path segments in every store:
/// letters, digits, `-`, `_`, `.`, starting with a letter or digit, at most 128 bytes.
pub fn validate_env_name(env: &str) -> Result<(), crate::StateError> {
    let ok = !env.is_empty()
        && env.len() <= 128
        && env
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && env
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(crate::StateError::Config {
            detail: format!(
                "'{env}' is not a valid environment name; use letters, digits, '-', '_' and '.', starting with a letter or digit"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(addr: &str) -> ResourceState {
        ResourceState {
            address: addr.to_string(),
            mode: "managed".into(),
            type_name: "t".into(),
            provider: "p".into(),
            attributes: serde_json::json!({}).into(),
            sensitive_paths: vec![],
            dependencies: vec![],
            schema_version: 0,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn resources_stay_sorted() {
        let mut s = State::new();
        s.set_resource(res("b.x"));
        s.set_resource(res("a.x"));
        s.set_resource(res("c.x"));
        s.set_resource(res("b.x"));
        let addrs: Vec<_> = s.resources.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(addrs, ["a.x", "b.x", "c.x"]);
        assert!(s.resource("b.x").is_some());
        assert!(s.resource("d.x").is_none());
        assert!(s.remove_resource("a.x").is_some());
        assert!(s.resource("a.x").is_none());
    }

    #[test]
    fn env_names() {
        assert!(validate_env_name("pr-42").is_ok());
        assert!(validate_env_name("dev.eu_1").is_ok());
        assert!(validate_env_name("_registry").is_err());
        assert!(validate_env_name("a/b").is_err());
        assert!(validate_env_name("").is_err());
    }
}
