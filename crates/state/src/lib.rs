//! `terrace-state` owns the state model (`State`, resources, outputs) and the
//! stores that keep it: SQLite (default, embedded), PostgreSQL and S3. Every
//! store offers the same `StateStore` behaviour — compare-and-swap writes on the
//! serial, history stored as deltas (`history`: each version full or a delta
//! on the one before, pruned by a retention policy), leased locks with takeover of expired leases, the intent
//! journal, drift-run history, the environment registry and the append-only
//! apply ledger ([`LedgerRecord`]) — and passes one
//! shared conformance suite (`tests/conformance.rs`). Stored states are wrapped
//! in a checksummed, versioned envelope, optionally AES-256-GCM encrypted
//! (Argon2id-derived or raw key, bound to environment, lineage and serial).
//! Replacing a state and updating a registry record are atomic
//! compare-and-swap steps in every store.
//!
//! It must not depend on HCL, the engine, AWS resource types or terminals; the
//! attributes it keeps are opaque JSON.

mod approvals;
mod envelope;
mod error;
mod history;
mod ledger;
mod lock;
mod model;
mod s3;
mod sql;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use approvals::{Approval, GuardRecord};
pub use envelope::SealedBytes;
pub use error::StateError;
pub use history::{DEFAULT_HISTORY_DAYS, HistoryRetention};
pub use ledger::{
    ChangeCounts, CiContext, ConfigSnapshot, FailedAddress, Identity, LedgerQuery, LedgerRecord,
    Notification, Outcome, blob_hash, ci_vars,
};
pub use lock::{HeldLock, lock_environment};
pub use model::{
    Acquired, DriftRun, EnvRecord, FORMAT_VERSION, HistoryEntry, Intent, IntentStatus, LockInfo,
    LockLease, OutputState, ResourceState, State, WriteMeta, current_host, current_who,
    validate_env_name,
};
pub use s3::S3Store;
pub use sql::{PostgresStore, SqliteStore};

/// The default store URL, relative to the project directory.
pub const DEFAULT_STORE_URL: &str = "sqlite:state/terrace.db";

/// Where and how an environment's state is kept.
///
/// Write protocol (all stores): `write` succeeds only if the stored serial
/// equals `expected_serial` (`None`: no current state may exist), the new
/// `state.serial` is greater than `expected_serial` (any serial ≥ 1 when
/// `None`), the lineage matches the stored one (when one exists), and — when a
/// lease is given — that lease is still held and unexpired. The check and the
/// write are one atomic step; on any failure nothing is written. A stored
/// state that is corrupt, of a newer format, or encrypted with another key is
/// never overwritten. Every successful write is also kept in history (as a
/// delta on the version before it where that is smaller; see `history`).
///
/// Reads never need the lock.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// The store for humans, e.g. `sqlite:state/terrace.db` (never credentials).
    fn describe(&self) -> String;
    /// The lease length given to locks on acquire and renew.
    fn lock_lease(&self) -> Duration;
    /// How much later than its lease end, by the store's clock, an
    /// unrenewed lock may be taken over: the resolution of the clock the
    /// store decides expiry by (S3's `Last-Modified` and `Date` headers count
    /// whole seconds). Zero where the store's clock is exact.
    fn lease_slack(&self) -> Duration {
        Duration::ZERO
    }
    /// Environments that have a current state, sorted.
    async fn list_environments(&self) -> Result<Vec<String>, StateError>;
    async fn read(&self, env: &str) -> Result<Option<State>, StateError>;
    async fn write(
        &self,
        env: &str,
        state: &State,
        expected_serial: Option<u64>,
        lease: Option<&LockLease>,
        meta: &WriteMeta,
    ) -> Result<(), StateError>;
    /// Every stored version, oldest first.
    async fn history(&self, env: &str) -> Result<Vec<HistoryEntry>, StateError>;
    /// A version from history (the most recent one with that serial, if the
    /// environment was re-created and serials repeat).
    async fn read_version(&self, env: &str, serial: u64) -> Result<Option<State>, StateError>;
    /// Remove the current state (history is kept). A later write starts anew
    /// with `expected_serial: None`.
    async fn delete_environment(
        &self,
        env: &str,
        lease: Option<&LockLease>,
    ) -> Result<(), StateError>;
    /// Replace the current state of `env` with `state` in one atomic step,
    /// whatever the current state is — another lineage, or unreadable
    /// (corrupt, or of a newer format; it stays in history when it was ever
    /// written there) — but never one encrypted with another key. The caller
    /// holds `lease`, which is checked in the same step. Like `write`, the new
    /// version is kept in history; on any failure (including a state that
    /// cannot be encoded) nothing is changed. Used by `state push --force` and
    /// [`restore_version`] instead of a delete followed by a write.
    ///
    /// The default refuses (a store that cannot do it atomically must not
    /// pretend to); every store of this crate implements it.
    async fn replace(
        &self,
        env: &str,
        state: &State,
        lease: &LockLease,
        meta: &WriteMeta,
    ) -> Result<(), StateError> {
        let _ = (state, lease, meta);
        Err(StateError::Backend {
            detail: format!(
                "{} cannot replace the state of '{env}' atomically",
                self.describe()
            ),
        })
    }
    /// The environments that have stored versions (history), with or
    /// without a current state, sorted. The default is the environments
    /// with a current state (a store without history).
    async fn history_environments(&self) -> Result<Vec<String>, StateError> {
        self.list_environments().await
    }
    /// Retention: remove the stored versions of `env` that `policy` does
    /// not keep and that no kept version is rebuilt from (a delta needs the
    /// versions of its chain before it); the newest version always stays —
    /// unless `env` has no current state (deleted, e.g. an ephemeral
    /// environment destroyed): then only versions younger than `keep_days`
    /// (90 by default) stay, so a deleted environment's history ends.
    /// With `lease`, it is checked first. Returns how many versions were
    /// removed. The default removes nothing (a store without history).
    async fn prune_history(
        &self,
        env: &str,
        policy: &HistoryRetention,
        lease: Option<&LockLease>,
    ) -> Result<usize, StateError> {
        let _ = (env, policy, lease);
        Ok(0)
    }
    /// Take the lock; an expired holder is taken over (reported in `took_over`).
    /// `info.created_at`/`expires_at` are set by the store (now + lease),
    /// and whether a holder has expired is decided by the store's clock
    /// where it has one (PostgreSQL's `now()`, S3's `Last-Modified` and
    /// `Date`), never by the clock of the machine asking.
    async fn acquire_lock(&self, env: &str, info: &LockInfo) -> Result<Acquired, StateError>;
    /// Extend the lease by the store's lease length from the store's own
    /// "now"; returns the new lease end. `LeaseLost` if this lock is not
    /// held any more.
    async fn renew_lock(&self, lease: &LockLease) -> Result<DateTime<Utc>, StateError>;
    /// Release; `LeaseLost` if this lock is not held any more.
    async fn release_lock(&self, lease: &LockLease) -> Result<(), StateError>;
    async fn current_lock(&self, env: &str) -> Result<Option<LockInfo>, StateError>;
    /// Remove the lock with this id; `NoSuchLock` if the id differs or nothing is locked.
    async fn force_unlock(&self, env: &str, lock_id: &str) -> Result<(), StateError>;
    async fn journal_record(&self, intent: &Intent) -> Result<(), StateError>;
    async fn journal_finish(
        &self,
        env: &str,
        intent_id: &str,
        status: IntentStatus,
        detail: serde_json::Value,
    ) -> Result<(), StateError>;
    /// Mark several intents finished (detail cleared), as one write where the
    /// store can. The default finishes them one by one.
    async fn journal_finish_many(
        &self,
        env: &str,
        intents: &[(String, IntentStatus)],
    ) -> Result<(), StateError> {
        for (id, status) in intents {
            self.journal_finish(env, id, *status, serde_json::Value::Null)
                .await?;
        }
        Ok(())
    }
    /// Intents still pending, oldest first.
    async fn journal_pending(&self, env: &str) -> Result<Vec<Intent>, StateError>;
    async fn record_drift_run(&self, run: &DriftRun) -> Result<(), StateError>;
    /// The newest `limit` drift runs, newest first.
    async fn drift_runs(&self, env: &str, limit: usize) -> Result<Vec<DriftRun>, StateError>;
    /// `AlreadyExists` if the name is taken (atomic).
    async fn registry_create(&self, rec: &EnvRecord) -> Result<(), StateError>;
    /// Insert or replace.
    async fn registry_put(&self, rec: &EnvRecord) -> Result<(), StateError>;
    /// Compare-and-swap: replace the record of `new.name` with `new` only if
    /// the stored record still equals `old` (atomic). `Ok(false)` when it
    /// changed or was deleted meanwhile — a deleted record never comes back.
    /// The default refuses (a store must not pretend).
    async fn registry_replace(&self, old: &EnvRecord, new: &EnvRecord) -> Result<bool, StateError> {
        let _ = old;
        Err(StateError::Backend {
            detail: format!(
                "{} cannot update the registry record of '{}' atomically",
                self.describe(),
                new.name
            ),
        })
    }
    async fn registry_get(&self, name: &str) -> Result<Option<EnvRecord>, StateError>;
    /// All records, sorted by name.
    async fn registry_list(&self) -> Result<Vec<EnvRecord>, StateError>;
    async fn registry_delete(&self, name: &str) -> Result<(), StateError>;
    /// Store a new ledger record (open, or already closed for a refused
    /// run). `AlreadyExists` if a record with its id is stored. Needs no
    /// lock: a refused run records that it was refused.
    async fn ledger_open(&self, rec: &LedgerRecord) -> Result<(), StateError>;
    /// Close an open record: replace it with `rec` (same id, environment and
    /// start, an outcome other than `Open`) in one atomic step.
    /// `LedgerClosed` if it is closed already (records are append-only),
    /// `NoSuchLedgerRecord` if it was never opened.
    async fn ledger_close(&self, rec: &LedgerRecord) -> Result<(), StateError>;
    /// Records matching `query`, oldest first.
    async fn ledger_list(&self, query: &LedgerQuery) -> Result<Vec<LedgerRecord>, StateError>;
    async fn ledger_get(&self, id: &str) -> Result<Option<LedgerRecord>, StateError>;
    /// Retention: delete the closed records of `env` started before
    /// `before`; returns how many. The only way a record leaves the ledger
    /// (the caller records the pruning as a record of its own).
    async fn ledger_prune(&self, env: &str, before: DateTime<Utc>) -> Result<usize, StateError>;
    /// Store a content-addressed text blob (configuration snapshots);
    /// returns its SHA-256 (hex). Storing the same text again stores
    /// nothing new, so snapshots are deduplicated across records; it only
    /// renews the blob's last-stored time (see [`StateStore::blob_sweep`]).
    async fn blob_put(&self, text: &str) -> Result<String, StateError>;
    /// A blob by its SHA-256 (hex); `Corrupt` if what is stored does not
    /// hash to it.
    async fn blob_get(&self, hash: &str) -> Result<Option<String>, StateError>;
    /// Collect blobs: delete every blob whose address is not in `keep` and
    /// that was last stored before `touched_before`; returns how many.
    /// Storing a blob again ([`StateStore::blob_put`] of the same text)
    /// counts as storing it, so a run that reuses a blob while a sweep is
    /// running keeps it: the age is checked again at the moment of the
    /// delete (atomically on SQLite and PostgreSQL; on S3 by a `HEAD` just
    /// before the `DELETE`). `keep` is what the ledger still names; the
    /// grace period covers blobs put by runs whose records are not written
    /// yet and plan-file keys, which no record names.
    async fn blob_sweep(
        &self,
        keep: &std::collections::BTreeSet<String>,
        touched_before: DateTime<Utc>,
    ) -> Result<usize, StateError>;
    /// Record an approval of a saved plan (protected environments).
    /// `Ok(false)` when the same principal already approved that plan of
    /// that environment (nothing is stored; the first approval stands).
    /// The default refuses: a store must keep approvals to offer them.
    async fn approval_add(&self, approval: &Approval) -> Result<bool, StateError> {
        Err(StateError::Backend {
            detail: format!(
                "{} cannot keep plan approvals (environment '{}')",
                self.describe(),
                approval.env
            ),
        })
    }
    /// The approvals of `env`, of one plan (`plan_sha256`) or of all,
    /// oldest first.
    async fn approvals(
        &self,
        env: &str,
        plan_sha256: Option<&str>,
    ) -> Result<Vec<Approval>, StateError> {
        let _ = plan_sha256;
        Err(StateError::Backend {
            detail: format!(
                "{} cannot keep plan approvals (environment '{env}')",
                self.describe()
            ),
        })
    }
}

/// Decode one stored state version (the envelope text every store keeps),
/// checking its format version, checksum and encryption key exactly as the
/// stores do. For tools and the fuzz targets (`fuzz/`). The environment is
/// not known here, so an encrypted version decodes only with
/// [`decode_stored_in`] (its ciphertext is bound to its environment).
pub fn decode_stored(raw: &str, passphrase: Option<&str>) -> Result<State, StateError> {
    decode_stored_in(raw, "", passphrase)
}

/// [`decode_stored`] for a version of environment `env`.
pub fn decode_stored_in(
    raw: &str,
    env: &str,
    passphrase: Option<&str>,
) -> Result<State, StateError> {
    envelope::Codec::new(passphrase)
        .decode(raw, "stored state", env)
        .map(|(_, state)| state)
}

/// Write version `serial` from history back as the current state of `env`
/// (the caller holds `lease`), as a new serial above every serial the
/// environment has had. Unlike a plain compare-and-swap write this also
/// recovers from a current state that is corrupt or of a newer format, or of
/// another lineage: that state is replaced in one atomic step
/// ([`StateStore::replace`]; it stays in history when it was ever written
/// there), never deleted first. A state encrypted with another key is never
/// replaced. Returns the new serial, or `None` when history has no such
/// version.
pub async fn restore_version(
    store: &dyn StateStore,
    env: &str,
    serial: u64,
    lease: &LockLease,
    meta: &WriteMeta,
) -> Result<Option<u64>, StateError> {
    let Some(mut old) = store.read_version(env, serial).await? else {
        return Ok(None);
    };
    let top = store
        .history(env)
        .await?
        .iter()
        .map(|h| h.serial)
        .max()
        .unwrap_or(0);
    match store.read(env).await {
        Ok(Some(current)) if current.lineage == old.lineage => {
            old.serial = top.max(current.serial) + 1;
            store
                .write(env, &old, Some(current.serial), Some(lease), meta)
                .await?;
        }
        Ok(None) => {
            old.serial = top + 1;
            store.write(env, &old, None, Some(lease), meta).await?;
        }
        Ok(Some(current)) => {
            old.serial = top.max(current.serial) + 1;
            store.replace(env, &old, lease, meta).await?;
        }
        Err(StateError::Corrupt { .. } | StateError::UnsupportedVersion { .. }) => {
            tracing::warn!(
                env,
                "replacing the unreadable current state of '{env}' to restore serial {serial}"
            );
            old.serial = top + 1;
            store.replace(env, &old, lease, meta).await?;
        }
        Err(e) => return Err(e),
    }
    Ok(Some(old.serial))
}

/// Options common to every store.
#[derive(Clone)]
pub struct StoreOptions {
    /// Passphrase for AES-256-GCM state encryption (the CLI reads
    /// `TERRACE_STATE_KEY`); the AES key is derived from it with Argon2id.
    pub encryption_key: Option<String>,
    /// A raw 256-bit AES key instead of a passphrase (the CLI reads
    /// `TERRACE_STATE_KEY_FILE`). At most one of the two may be set.
    pub encryption_raw_key: Option<[u8; 32]>,
    /// With a key set, read plaintext versions instead of refusing them: only
    /// for turning encryption on (`terrace state encrypt`).
    pub allow_plaintext: bool,
    /// Lock lease length; holders renew every third of it.
    pub lock_lease: Duration,
    /// SQL stores split a stored state into parts of at most this many bytes
    /// (SQLite and PostgreSQL refuse single values near 1 GB).
    pub payload_part_bytes: usize,
    /// How far this machine's clock is off (the CLI reads `TERRACE_NOW`;
    /// tests use it to run lock holders with skewed clocks). Only the
    /// SQLite store, which lives on this machine, decides lease expiry by
    /// this clock; the team stores use their own.
    pub clock_skew: chrono::Duration,
}

/// The default part size of SQL-stored states: 16 MiB. A write holds about
/// three parts at a time (the first, waiting for its checksum; the one being
/// encoded; the one being inserted, with the database's copies of it), so
/// the part size bounds a write's memory beyond the state itself. Below
/// 32 MiB (glibc's largest mmap threshold) freed part buffers are reused
/// instead of mapped and faulted in afresh for every part.
pub const DEFAULT_PAYLOAD_PART_BYTES: usize = 16 << 20;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            encryption_key: None,
            encryption_raw_key: None,
            allow_plaintext: false,
            lock_lease: Duration::from_secs(120),
            payload_part_bytes: DEFAULT_PAYLOAD_PART_BYTES,
            clock_skew: chrono::Duration::zero(),
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("StoreOptions")
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "<set>"),
            )
            .field(
                "encryption_raw_key",
                &self.encryption_raw_key.as_ref().map(|_| "<set>"),
            )
            .field("allow_plaintext", &self.allow_plaintext)
            .field("lock_lease", &self.lock_lease)
            .field("clock_skew", &self.clock_skew)
            .field("payload_part_bytes", &self.payload_part_bytes)
            .finish()
    }
}

impl StoreOptions {
    pub(crate) fn validate(&self) -> Result<(), StateError> {
        if self.encryption_key.as_deref() == Some("") {
            return Err(StateError::Config {
                detail: "the encryption key (TERRACE_STATE_KEY) is set but empty; set it to the passphrase, \
                         or unset it to store state unencrypted"
                    .into(),
            });
        }
        if self.encryption_key.is_some() && self.encryption_raw_key.is_some() {
            return Err(StateError::Config {
                detail: "both a passphrase (TERRACE_STATE_KEY) and a raw key (TERRACE_STATE_KEY_FILE) are set; \
                         set only one"
                    .into(),
            });
        }
        if self.payload_part_bytes < 16 {
            return Err(StateError::Config {
                detail: "the payload part size must be at least 16 bytes".into(),
            });
        }
        if self.lock_lease < Duration::from_millis(100) {
            return Err(StateError::Config {
                detail: "the lock lease must be at least 100ms".into(),
            });
        }
        Ok(())
    }

    pub(crate) fn codec(&self) -> envelope::Codec {
        let source = match (&self.encryption_key, &self.encryption_raw_key) {
            (Some(p), _) => Some(envelope::KeySource::Passphrase(p.clone())),
            (None, Some(k)) => Some(envelope::KeySource::Raw(*k)),
            (None, None) => None,
        };
        envelope::Codec::with_source(source, self.allow_plaintext)
    }

    /// This machine's clock, skewed as configured.
    pub(crate) fn client_now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_skew
    }

    pub(crate) fn lease_chrono(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.lock_lease).unwrap_or(chrono::Duration::minutes(2))
    }
}

/// Seals small payloads with the configured state key (the sensitive values
/// of plan files): the same key, derivation and cipher as state envelopes.
#[derive(Clone)]
pub struct Sealer(envelope::Codec);

impl Sealer {
    /// Encrypt `msg`, bound to the associated data `aad`.
    pub fn seal(&self, aad: &[u8], msg: &[u8]) -> Result<SealedBytes, StateError> {
        self.0.seal_bytes(aad, msg)
    }

    /// Decrypt what [`Sealer::seal`] sealed with the same key and `aad`.
    pub fn open(&self, sealed: &SealedBytes, aad: &[u8]) -> Result<Vec<u8>, StateError> {
        self.0.unseal_bytes(sealed, aad)
    }
}

impl StoreOptions {
    /// A [`Sealer`] for the configured key; `None` without one. The same
    /// checks as opening a store (an empty key, or both kinds, is an error).
    pub fn sealer(&self) -> Result<Option<Sealer>, StateError> {
        self.validate()?;
        let codec = self.codec();
        Ok(codec.has_key().then_some(Sealer(codec)))
    }
}

/// 32 random bytes from the operating system's generator (keys, salts).
pub fn random_key() -> [u8; 32] {
    envelope::random_key()
}

/// Open the store at `url`:
/// - `sqlite:PATH` — PATH relative to `base_dir` unless absolute; parent
///   directories and the file are created (default `sqlite:state/terrace.db`);
/// - `postgres://…` / `postgresql://…`;
/// - `s3://bucket/prefix` — credentials and region from the standard AWS chain,
///   `AWS_ENDPOINT_URL` honoured, path-style addressing; the bucket must exist.
pub async fn open_store(
    url: &str,
    base_dir: &Path,
    opts: StoreOptions,
) -> Result<Arc<dyn StateStore>, StateError> {
    opts.validate()?;
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(StateError::Config {
                detail: format!("'{url}' names no database file; e.g. {DEFAULT_STORE_URL}"),
            });
        }
        let full = if Path::new(path).is_absolute() {
            Path::new(path).to_path_buf()
        } else {
            base_dir.join(path)
        };
        Ok(Arc::new(SqliteStore::open(&full, path, opts).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(url, opts).await?))
    } else if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StateError::Config {
                detail: format!("'{url}' names no bucket; e.g. s3://my-bucket/terrace"),
            });
        }
        Ok(Arc::new(S3Store::open(bucket, prefix, opts).await?))
    } else {
        Err(StateError::Config {
            detail: format!(
                "unsupported state store URL '{}'; use sqlite:PATH, postgres://… or s3://BUCKET/PREFIX",
                redact_url(url)
            ),
        })
    }
}

/// `url` without password or query string, for messages.
pub fn redact_url(url: &str) -> String {
    let url = url.split('?').next().unwrap_or(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{user}@{host}")
        }
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_password_and_query() {
        assert_eq!(
            redact_url("postgres://bob:hunter2@db:5432/terrace?sslmode=require"),
            "postgres://bob@db:5432/terrace"
        );
        assert_eq!(
            redact_url("postgres://db/terrace?password=x"),
            "postgres://db/terrace"
        );
        assert_eq!(redact_url("s3://bucket/prefix"), "s3://bucket/prefix");
    }

    #[tokio::test]
    async fn bad_urls_are_config_errors() {
        let dir = std::env::temp_dir();
        for url in ["mysql://x/y", "sqlite:", "s3:///prefix"] {
            let err = open_store(url, &dir, StoreOptions::default())
                .await
                .err()
                .expect(url);
            assert!(matches!(err, StateError::Config { .. }), "{url}: {err}");
        }
        let err = open_store(
            "sqlite:x.db",
            &dir,
            StoreOptions {
                encryption_key: Some(String::new()),
                ..Default::default()
            },
        )
        .await
        .err()
        .unwrap();
        assert!(matches!(err, StateError::Config { .. }));
    }
}
