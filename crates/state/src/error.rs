//! Errors of the state stores. Every message says what happened and what to do.

use crate::model::LockInfo;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "state of '{env}' changed underneath this run: expected serial {}, the store holds {}; \
         another run wrote it — re-run to work from the current state",
        show_serial(expected),
        show_serial(found)
    )]
    Conflict {
        env: String,
        expected: Option<u64>,
        found: Option<u64>,
    },

    #[error(
        "state of '{env}' is locked by {} (pid {}, {}) since {}; the lease expires at {}; \
         wait, use --lock-timeout, or `terrace force-unlock -e {env} {}`",
        holder.who,
        holder.pid,
        holder.operation,
        holder.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        holder.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        holder.id
    )]
    Locked { env: String, holder: Box<LockInfo> },

    #[error(
        "the lock on '{env}' is no longer held by this run (its lease expired and another run took it over, \
         or it was force-unlocked); nothing was written — check `terrace state history -e {env}` and re-run"
    )]
    LeaseLost { env: String },

    #[error("{}", no_such_lock(env, lock_id, current.as_deref()))]
    NoSuchLock {
        env: String,
        lock_id: String,
        current: Option<Box<LockInfo>>,
    },

    #[error(
        "environment '{name}' already exists; pick another name or destroy it first (`terrace env destroy {name}`)"
    )]
    AlreadyExists { name: String },

    #[error(
        "ledger record {id} is already closed ({outcome}); ledger records are append-only and are never changed once closed"
    )]
    LedgerClosed { id: String, outcome: String },

    #[error("no ledger record {id}; list the records with `terrace log --all`")]
    NoSuchLedgerRecord { id: String },

    #[error(
        "{what} is corrupt: {detail}; nothing was changed — inspect it with `terrace state history` and restore \
         an earlier version"
    )]
    Corrupt { what: String, detail: String },

    #[error(
        "stored state uses format version {found}, but this terrace understands up to version {}; \
         upgrade terrace (nothing was changed)",
        crate::FORMAT_VERSION
    )]
    UnsupportedVersion { found: u32 },

    #[error("state encryption: {detail}")]
    Encryption { detail: String },

    #[error(
        "cannot reach the state store {store}: {detail}; check the URL, the network and the credentials"
    )]
    Unreachable { store: String, detail: String },

    #[error("state store configuration: {detail}")]
    Config { detail: String },

    #[error("state store error: {detail}")]
    Backend { detail: String },

    #[error(
        "refusing to write serial {given} to '{env}': it must be greater than the expected serial {} \
         (this is a bug in the caller)",
        show_serial(expected)
    )]
    InvalidSerial {
        env: String,
        expected: Option<u64>,
        given: u64,
    },

    #[error(
        "refusing to write to '{env}': the stored state has lineage {stored}, this state has lineage {given}; \
         they are different histories — delete the environment's state first if you mean to replace it"
    )]
    LineageMismatch {
        env: String,
        stored: uuid::Uuid,
        given: uuid::Uuid,
    },

    #[error("no intent '{id}' in the journal of '{env}'")]
    NoSuchIntent { env: String, id: String },
}

fn show_serial(s: &Option<u64>) -> String {
    match s {
        Some(n) => n.to_string(),
        None => "none (no state yet)".to_string(),
    }
}

fn no_such_lock(env: &str, lock_id: &str, current: Option<&LockInfo>) -> String {
    match current {
        Some(c) => format!(
            "'{env}' is not locked with id {lock_id}: it is locked with id {} by {} ({}); \
             check the id (`terrace state lock -e {env}` shows it)",
            c.id, c.who, c.operation
        ),
        None => format!("'{env}' is not locked (no lock with id {lock_id}); nothing to unlock"),
    }
}

impl StateError {
    pub(crate) fn backend(detail: impl std::fmt::Display) -> StateError {
        StateError::Backend {
            detail: detail.to_string(),
        }
    }

    pub(crate) fn locked(env: &str, holder: LockInfo) -> StateError {
        StateError::Locked {
            env: env.to_string(),
            holder: Box::new(holder),
        }
    }

    pub(crate) fn lease_lost(env: &str) -> StateError {
        StateError::LeaseLost {
            env: env.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_message_names_holder_and_remedy() {
        let mut info = LockInfo::new("apply");
        info.who = "alice@ci-7".into();
        info.pid = 4242;
        let msg = StateError::locked("dev", info.clone()).to_string();
        assert!(msg.contains("alice@ci-7 (pid 4242, apply)"), "{msg}");
        assert!(
            msg.contains(&format!("terrace force-unlock -e dev {}", info.id)),
            "{msg}"
        );
    }

    #[test]
    fn conflict_message_shows_serials() {
        let msg = StateError::Conflict {
            env: "dev".into(),
            expected: Some(3),
            found: None,
        }
        .to_string();
        assert!(msg.contains("expected serial 3"), "{msg}");
        assert!(msg.contains("none (no state yet)"), "{msg}");
    }
}
