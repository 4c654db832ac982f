//! Batched waits for EC2 instance states, shared by every task of one
//! provider.
//!
//! The engine calls `create`/`update`/`delete` from many tasks at once. Each
//! of them waits for its instance to reach a state (`running` after
//! RunInstances, `stopped`/`running` around a type change, gone after
//! TerminateInstances). Instead of every task polling its own instance, a
//! waiter registers with the provider's [`InstanceWaiter`] and the waiters
//! take turns leading poll *rounds*: the leader of a round sends one
//! DescribeInstances (an `instance-id` filter, 200 IDs per call, the EC2
//! limit on filter values) for every instance anyone is waiting for,
//! delivers each waiter's outcome and wakes them all. No task is spawned;
//! a leader that is cancelled mid-round hands the turn back.
//!
//! Scheduling: an instance nobody has described yet is due at once, one seen
//! in another state is due again [`POLL`] later, and rounds start at most
//! every [`ROUND_GAP`] so that creates finishing close together share one.
//! A waiter that reaches its state gets the described instance (and, when it
//! asked for it, its root volume, looked up in one batched DescribeVolumes
//! per round), so the read after create needs no second describe.

use super::instance::{Found, RootVolume, describe_by_id_filter, root_volume_id, root_volumes};
use crate::provider::AwsProvider;
use aws_sdk_ec2::types::InstanceStateName;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use terrace_provider::ProviderError;
use tokio::sync::watch;
use tokio::time::Instant;

/// How soon an instance seen in another state is described again.
const POLL: Duration = Duration::from_secs(2);
/// The shortest interval between the starts of two rounds.
const ROUND_GAP: Duration = Duration::from_millis(100);

/// The state a waiter waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Want {
    Running,
    Stopped,
    /// Terminated, or no longer described at all.
    Gone,
}

impl Want {
    fn label(self) -> &'static str {
        match self {
            Want::Running => "running",
            Want::Stopped => "stopped",
            Want::Gone => "terminated",
        }
    }

    /// Whether an instance described in `state` (`None`: not described)
    /// is what the waiter waits for.
    fn reached(self, state: Option<&InstanceStateName>) -> bool {
        match self {
            Want::Running => state == Some(&InstanceStateName::Running),
            Want::Stopped => state == Some(&InstanceStateName::Stopped),
            Want::Gone => state.is_none_or(|s| *s == InstanceStateName::Terminated),
        }
    }
}

/// What a finished wait saw.
pub(super) struct Reached {
    /// The instance as the last round described it (`None` for a `Gone`
    /// wait on an instance no longer described).
    pub(super) instance: Option<Found>,
    /// Its root volume by volume ID, when the waiter asked for volumes.
    pub(super) volumes: BTreeMap<String, RootVolume>,
}

struct Waiting {
    id: String,
    want: Want,
    volumes: bool,
    /// When this instance is next due for a describe.
    due: Instant,
    outcome: Option<Result<Reached, ProviderError>>,
}

#[derive(Default)]
struct State {
    next_key: u64,
    waiting: BTreeMap<u64, Waiting>,
    in_flight: bool,
    last_start: Option<Instant>,
}

impl State {
    /// When the next round may start, if anyone is waiting for one.
    fn next_start(&self) -> Option<Instant> {
        let due = self
            .waiting
            .values()
            .filter(|w| w.outcome.is_none())
            .map(|w| w.due)
            .min()?;
        Some(match self.last_start {
            Some(last) => due.max(last + ROUND_GAP),
            None => due,
        })
    }
}

/// One waiter's part in a round.
struct Member {
    key: u64,
    id: String,
    want: Want,
    volumes: bool,
}

/// The per-provider poller (see the module documentation).
pub(crate) struct InstanceWaiter {
    state: Mutex<State>,
    /// Bumped after every round (and when a leader gives up its turn).
    rounds: watch::Sender<u64>,
}

impl Default for InstanceWaiter {
    fn default() -> Self {
        InstanceWaiter {
            state: Mutex::new(State::default()),
            rounds: watch::channel(0).0,
        }
    }
}

enum Next {
    Lead(Vec<Member>),
    Wait(Option<Instant>),
}

/// Removes a waiter's entry however its wait ends (including cancellation).
struct Registration<'a> {
    waiter: &'a InstanceWaiter,
    key: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.waiter.lock().waiting.remove(&self.key);
    }
}

/// Gives the turn back if a leader is cancelled mid-round.
struct Turn<'a> {
    waiter: &'a InstanceWaiter,
    finished: bool,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.waiter.lock().in_flight = false;
            self.waiter.rounds.send_modify(|n| *n += 1);
        }
    }
}

impl InstanceWaiter {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait until instance `id` is in the wanted state, or `timeout`.
    /// Describe errors (after the throttling retries of every call) end the
    /// wait of everyone in that round with the error.
    pub(super) async fn wait(
        &self,
        p: &AwsProvider,
        id: &str,
        want: Want,
        volumes: bool,
        timeout: Duration,
    ) -> Result<Reached, ProviderError> {
        let deadline = Instant::now() + timeout;
        let mut rounds = self.rounds.subscribe();
        let key = {
            let mut st = self.lock();
            let key = st.next_key;
            st.next_key += 1;
            st.waiting.insert(
                key,
                Waiting {
                    id: id.to_string(),
                    want,
                    volumes,
                    due: Instant::now(),
                    outcome: None,
                },
            );
            key
        };
        let _registration = Registration { waiter: self, key };
        loop {
            // Seen before looking, so a round ending meanwhile wakes us.
            rounds.borrow_and_update();
            let next = {
                let mut st = self.lock();
                if let Some(outcome) = st.waiting.get_mut(&key).and_then(|w| w.outcome.take()) {
                    return outcome;
                }
                let now = Instant::now();
                if now >= deadline {
                    return Err(ProviderError::Timeout {
                        what: format!("instance {id} to be {}", want.label()),
                        after: timeout,
                    });
                }
                if st.in_flight {
                    Next::Wait(None)
                } else {
                    match st.next_start() {
                        Some(start) if start <= now => {
                            st.in_flight = true;
                            st.last_start = Some(now);
                            Next::Lead(
                                st.waiting
                                    .iter()
                                    .filter(|(_, w)| w.outcome.is_none())
                                    .map(|(k, w)| Member {
                                        key: *k,
                                        id: w.id.clone(),
                                        want: w.want,
                                        volumes: w.volumes,
                                    })
                                    .collect(),
                            )
                        }
                        start => Next::Wait(start),
                    }
                }
            };
            match next {
                Next::Lead(members) => {
                    let mut turn = Turn {
                        waiter: self,
                        finished: false,
                    };
                    let outcomes = round(p, &members).await;
                    {
                        let mut st = self.lock();
                        let now = Instant::now();
                        for (m, outcome) in members.iter().zip(outcomes) {
                            if let Some(w) = st.waiting.get_mut(&m.key) {
                                match outcome {
                                    Some(o) => w.outcome = Some(o),
                                    None => w.due = now + POLL,
                                }
                            }
                        }
                        st.in_flight = false;
                    }
                    turn.finished = true;
                    self.rounds.send_modify(|n| *n += 1);
                }
                Next::Wait(until) => {
                    let until = until.map_or(deadline, |u| u.min(deadline));
                    tokio::select! {
                        _ = rounds.changed() => {}
                        _ = tokio::time::sleep_until(until) => {}
                    }
                }
            }
        }
    }
}

/// Describe every member's instance once; `None` for a member whose
/// instance is not in its wanted state yet.
async fn round(p: &AwsProvider, members: &[Member]) -> Vec<Option<Result<Reached, ProviderError>>> {
    let ids: Vec<String> = members
        .iter()
        .map(|m| m.id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let found: BTreeMap<String, Found> = match describe_by_id_filter(p, &ids).await {
        Ok(items) => items
            .into_iter()
            .filter_map(|f| Some((f.0.instance_id()?.to_string(), f)))
            .collect(),
        Err(e) => return members.iter().map(|_| Some(Err(e.clone()))).collect(),
    };
    let state = |id: &str| {
        found
            .get(id)
            .and_then(|(i, _)| i.state().and_then(|s| s.name()))
    };
    // One DescribeVolumes for the root volumes of everyone done who wants them.
    let need: Vec<&Found> = members
        .iter()
        .filter(|m| m.volumes && m.want.reached(state(&m.id)))
        .filter_map(|m| found.get(&m.id))
        .collect();
    let volumes = root_volumes(p, need).await;
    members
        .iter()
        .map(|m| {
            if !m.want.reached(state(&m.id)) {
                return None;
            }
            let instance = found.get(&m.id).cloned();
            if !m.volumes {
                return Some(Ok(Reached {
                    instance,
                    volumes: BTreeMap::new(),
                }));
            }
            Some(match &volumes {
                Ok(all) => {
                    let own = instance
                        .as_ref()
                        .and_then(|(i, _)| root_volume_id(i))
                        .and_then(|v| all.get_key_value(v))
                        .map(|(k, v)| (k.clone(), v.clone()));
                    Ok(Reached {
                        instance,
                        volumes: own.into_iter().collect(),
                    })
                }
                Err(e) => Err(e.clone()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_states() {
        use InstanceStateName as S;
        assert!(Want::Running.reached(Some(&S::Running)));
        assert!(!Want::Running.reached(Some(&S::Pending)));
        assert!(!Want::Running.reached(None));
        assert!(Want::Stopped.reached(Some(&S::Stopped)));
        assert!(!Want::Stopped.reached(Some(&S::Stopping)));
        assert!(Want::Gone.reached(None));
        assert!(Want::Gone.reached(Some(&S::Terminated)));
        assert!(!Want::Gone.reached(Some(&S::ShuttingDown)));
    }

    #[test]
    fn rounds_are_spaced_and_polls_wait_for_their_interval() {
        let now = Instant::now();
        let mut st = State::default();
        assert_eq!(st.next_start(), None);
        let waiting = |due| Waiting {
            id: "i-1".into(),
            want: Want::Running,
            volumes: false,
            due,
            outcome: None,
        };
        st.waiting.insert(0, waiting(now));
        assert_eq!(st.next_start(), Some(now));
        st.last_start = Some(now);
        assert_eq!(st.next_start(), Some(now + ROUND_GAP));
        st.waiting.get_mut(&0).unwrap().due = now + POLL;
        assert_eq!(st.next_start(), Some(now + POLL));
        st.waiting.get_mut(&0).unwrap().outcome = Some(Err(ProviderError::NotFound("x".into())));
        assert_eq!(st.next_start(), None);
    }
}
