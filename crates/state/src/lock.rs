//! Holding an environment's lock for the length of an operation: wait for it,
//! keep the lease alive with a heartbeat, notice when it is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::{LockInfo, LockLease, StateError, StateStore};

/// A held lock. A background task renews the lease every third of its length;
/// if renewal finds the lock taken, `is_lost` turns true (and writes with the
/// lease fail with `LeaseLost`). Call `release` when done; dropping without
/// releasing stops the heartbeat and releases in the background if a runtime
/// is available (otherwise the lease simply expires).
pub struct HeldLock {
    store: Arc<dyn StateStore>,
    lease: LockLease,
    info: LockInfo,
    took_over: Option<LockInfo>,
    lost: Arc<AtomicBool>,
    heartbeat: Option<JoinHandle<()>>,
}

impl HeldLock {
    pub fn lease(&self) -> &LockLease {
        &self.lease
    }

    /// The lock as stored when it was acquired.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The expired lock this one replaced, if any.
    pub fn took_over(&self) -> Option<&LockInfo> {
        self.took_over.as_ref()
    }

    /// True once a renewal found the lock held by someone else (or the lease
    /// ran out without a successful renewal).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stop the heartbeat and release the lock. `LeaseLost` if it was lost meanwhile.
    pub async fn release(mut self) -> Result<(), StateError> {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        // A store outage at the end of a run (an S3 503, PostgreSQL
        // restarting) is ridden out like the run's state writes: the
        // release is tried again with backoff for up to a minute. A retry
        // that finds our lock gone (an earlier try's answer was lost) has
        // released it.
        let started = Instant::now();
        let mut pause = Duration::from_millis(250);
        let mut retried = false;
        let released = loop {
            match self.store.release_lock(&self.lease).await {
                Err(StateError::LeaseLost { .. }) if retried => break Ok(()),
                Err(StateError::Unreachable { .. })
                    if started.elapsed() < Duration::from_secs(60) =>
                {
                    tracing::warn!(env = %self.lease.env, "releasing the lock: the state store is unreachable; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(4));
                    retried = true;
                }
                other => break other,
            }
        };
        tracing::info!(env = %self.lease.env, ok = released.is_ok(), "released the lock");
        released
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let store = self.store.clone();
                let lease = self.lease.clone();
                rt.spawn(async move {
                    let _ = store.release_lock(&lease).await;
                });
            }
        }
    }
}

/// Acquire `env`'s lock for `operation`, retrying while it is held by someone
/// else until `wait` has passed (then the `Locked` error names the holder).
/// An expired holder is taken over; the takeover is logged with the old holder.
pub async fn lock_environment(
    store: Arc<dyn StateStore>,
    env: &str,
    operation: &str,
    wait: Duration,
) -> Result<HeldLock, StateError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(100);
    let info = LockInfo::new(operation);
    let (acquired, asked_at) = loop {
        let asked_at = Instant::now();
        match store.acquire_lock(env, &info).await {
            Ok(a) => break (a, asked_at),
            Err(StateError::Locked { .. }) if start.elapsed() < wait => {
                let left = wait.saturating_sub(start.elapsed());
                tokio::time::sleep(pause.min(left)).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    };
    if let Some(old) = &acquired.took_over {
        tracing::warn!(
            env,
            old_lock = %old.id,
            old_holder = %old.who,
            old_pid = old.pid,
            old_operation = %old.operation,
            "took over the expired lock of '{env}' held by {} (pid {}, {}) since {}; its lease ended at {}",
            old.who,
            old.pid,
            old.operation,
            old.created_at,
            old.expires_at
        );
    }
    tracing::info!(
        env,
        operation,
        lock_id = %acquired.info.id,
        "took the lock"
    );
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeat = tokio::spawn(heartbeat(
        store.clone(),
        acquired.lease.clone(),
        asked_at,
        lost.clone(),
    ));
    Ok(HeldLock {
        store,
        lease: acquired.lease,
        info: acquired.info,
        took_over: acquired.took_over,
        lost,
        heartbeat: Some(heartbeat),
    })
}

/// Renew every third of the lease. Whether the lease has run out is judged
/// by this process's monotonic clock from when the last successful renewal
/// (or the acquire) was *sent*: the store's lease end is at least that far
/// away, whatever this machine's wall clock says.
async fn heartbeat(
    store: Arc<dyn StateStore>,
    lease: LockLease,
    mut renewed_at: Instant,
    lost: Arc<AtomicBool>,
) {
    let length = store.lock_lease();
    let every = (length / 3).max(Duration::from_millis(30));
    loop {
        tokio::time::sleep(every).await;
        let sent = Instant::now();
        match store.renew_lock(&lease).await {
            Ok(_) => renewed_at = sent,
            Err(StateError::LeaseLost { .. }) => {
                tracing::warn!(env = %lease.env, "lost the lock on '{}': another run holds it now", lease.env);
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => {
                tracing::warn!(env = %lease.env, "could not renew the lock on '{}': {e}", lease.env);
                if renewed_at.elapsed() >= length {
                    lost.store(true, Ordering::SeqCst);
                }
            }
        }
    }
}
