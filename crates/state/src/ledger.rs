//! The apply ledger: one append-only record per state-changing run (apply,
//! destroy, refresh-only apply, …), kept in the environment's store beside
//! its state. A record is opened before the first change and closed once
//! with the outcome; a closed record is never changed or deleted by any
//! command. An open record whose run died (SIGKILL, power loss) is closed as
//! [`Outcome::Interrupted`] by the next run that takes the lock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a run ended. `Open` only while the run is in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The run is in progress, or died without closing its record.
    Open,
    Succeeded,
    Failed,
    /// The run died; the next run that took the lock closed its record.
    Interrupted,
    /// The run did not start: the lock was held, or the plan was declined.
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Open => "open",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::Refused => "refused",
        }
    }

    /// Parse a name as `as_str` writes it.
    pub fn parse(s: &str) -> Option<Outcome> {
        [
            Outcome::Open,
            Outcome::Succeeded,
            Outcome::Failed,
            Outcome::Interrupted,
            Outcome::Refused,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many instances a run created, updated, replaced and deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeCounts {
    pub creates: u32,
    pub updates: u32,
    pub replaces: u32,
    pub deletes: u32,
}

/// One address whose change failed, with a one-line error summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedAddress {
    pub address: String,
    pub error: String,
}

/// The continuous-integration run a change came from, read from the CI
/// system's standard variables. Every field is optional: systems differ.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiContext {
    /// `github_actions`, `gitlab_ci`, `buildkite`, `circleci`, `jenkins`, `azure_pipelines`.
    pub system: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The pull request / merge request number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_request: Option<String>,
    /// When the commit was made, where the CI system says
    /// (`CI_COMMIT_TIMESTAMP` on GitLab CI): the start of the lead time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_time: Option<DateTime<Utc>>,
}

/// The variables each CI system is recognised by and read from. The CLI
/// declares them (settings.rs) and passes a lookup to [`CiContext::detect`].
pub mod ci_vars {
    /// (system, marker variable, run URL parts, job, actor, commit, branch, PR/MR).
    pub struct CiSystem {
        pub system: &'static str,
        /// Set (non-empty) when running under this system.
        pub marker: &'static str,
        /// Joined with `/` in this order to build the run URL; one entry
        /// means the variable holds the whole URL.
        pub run_url: &'static [&'static str],
        pub job: &'static str,
        pub actor: &'static str,
        pub commit_sha: &'static str,
        /// First non-empty wins.
        pub branch: &'static [&'static str],
        pub change_request: &'static str,
    }

    /// Every CI system terrace recognises, in detection order.
    pub const SYSTEMS: &[CiSystem] = &[
        CiSystem {
            system: "github_actions",
            marker: "GITHUB_ACTIONS",
            run_url: &[
                "GITHUB_SERVER_URL",
                "GITHUB_REPOSITORY",
                "actions/runs",
                "GITHUB_RUN_ID",
            ],
            job: "GITHUB_JOB",
            actor: "GITHUB_ACTOR",
            commit_sha: "GITHUB_SHA",
            branch: &["GITHUB_HEAD_REF", "GITHUB_REF_NAME"],
            change_request: "GITHUB_REF",
        },
        CiSystem {
            system: "gitlab_ci",
            marker: "GITLAB_CI",
            run_url: &["CI_PIPELINE_URL"],
            job: "CI_JOB_NAME",
            actor: "GITLAB_USER_LOGIN",
            commit_sha: "CI_COMMIT_SHA",
            branch: &["CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_REF_NAME"],
            change_request: "CI_MERGE_REQUEST_IID",
        },
        CiSystem {
            system: "buildkite",
            marker: "BUILDKITE",
            run_url: &["BUILDKITE_BUILD_URL"],
            job: "BUILDKITE_LABEL",
            actor: "BUILDKITE_BUILD_CREATOR",
            commit_sha: "BUILDKITE_COMMIT",
            branch: &["BUILDKITE_BRANCH"],
            change_request: "BUILDKITE_PULL_REQUEST",
        },
        CiSystem {
            system: "circleci",
            marker: "CIRCLECI",
            run_url: &["CIRCLE_BUILD_URL"],
            job: "CIRCLE_JOB",
            actor: "CIRCLE_USERNAME",
            commit_sha: "CIRCLE_SHA1",
            branch: &["CIRCLE_BRANCH"],
            change_request: "CIRCLE_PR_NUMBER",
        },
        CiSystem {
            system: "jenkins",
            marker: "JENKINS_URL",
            run_url: &["BUILD_URL"],
            job: "JOB_NAME",
            actor: "BUILD_USER_ID",
            commit_sha: "GIT_COMMIT",
            branch: &["CHANGE_BRANCH", "BRANCH_NAME", "GIT_BRANCH"],
            change_request: "CHANGE_ID",
        },
        CiSystem {
            system: "azure_pipelines",
            marker: "TF_BUILD",
            run_url: &[
                "SYSTEM_COLLECTIONURI",
                "SYSTEM_TEAMPROJECT",
                "_build/results?buildId=",
                "BUILD_BUILDID",
            ],
            job: "SYSTEM_JOBDISPLAYNAME",
            actor: "BUILD_REQUESTEDFOR",
            commit_sha: "BUILD_SOURCEVERSION",
            branch: &["SYSTEM_PULLREQUEST_SOURCEBRANCH", "BUILD_SOURCEBRANCHNAME"],
            change_request: "SYSTEM_PULLREQUEST_PULLREQUESTNUMBER",
        },
    ];

    /// Every variable name read from the process environment, for the CLI's
    /// declaration and the README table.
    pub fn all_names() -> Vec<&'static str> {
        let mut out = Vec::new();
        for s in SYSTEMS {
            out.push(s.marker);
            out.extend(s.run_url.iter().filter(|p| is_var(p)));
            out.extend([s.job, s.actor, s.commit_sha, s.change_request]);
            out.extend(s.branch.iter());
        }
        out.push(COMMIT_TIMESTAMP);
        out
    }

    /// GitLab CI's commit time (ISO 8601), for the lead time.
    pub const COMMIT_TIMESTAMP: &str = "CI_COMMIT_TIMESTAMP";

    /// Upper-case names are variables; anything else in `run_url` is literal text.
    pub(crate) fn is_var(part: &str) -> bool {
        part.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && !part.starts_with('_')
    }
}

impl CiContext {
    /// The CI context of the first recognised system whose marker variable
    /// is set, reading variables through `get` (which returns `None` for
    /// unset or empty ones). `None` outside CI.
    pub fn detect(get: &dyn Fn(&str) -> Option<String>) -> Option<CiContext> {
        let sys = ci_vars::SYSTEMS.iter().find(|s| get(s.marker).is_some())?;
        let run_url = if sys.run_url.len() == 1 {
            get(sys.run_url[0])
        } else {
            let mut url = String::new();
            let mut complete = true;
            for part in sys.run_url {
                let piece = if ci_vars::is_var(part) {
                    match get(part) {
                        Some(v) => v,
                        None => {
                            complete = false;
                            break;
                        }
                    }
                } else {
                    part.to_string()
                };
                if !url.is_empty() && !url.ends_with('/') && !url.ends_with('=') {
                    url.push('/');
                }
                url.push_str(piece.trim_start_matches('/'));
            }
            complete.then_some(url)
        };
        let change_request = get(sys.change_request).and_then(|v| {
            // GitHub gives the ref `refs/pull/<n>/merge`.
            if sys.system == "github_actions" {
                v.strip_prefix("refs/pull/")
                    .and_then(|r| r.split('/').next())
                    .map(str::to_string)
            } else if v == "false" {
                // Buildkite: `false` outside pull requests.
                None
            } else {
                Some(v)
            }
        });
        let branch = sys.branch.iter().find_map(|b| get(b)).map(|b| {
            b.strip_prefix("refs/heads/")
                .map(str::to_string)
                .unwrap_or(b)
        });
        Some(CiContext {
            system: sys.system.to_string(),
            run_url,
            job: get(sys.job),
            actor: get(sys.actor),
            commit_sha: get(sys.commit_sha),
            branch,
            change_request,
            commit_time: if sys.system == "gitlab_ci" {
                get(ci_vars::COMMIT_TIMESTAMP)
                    .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.with_timezone(&Utc))
            } else {
                None
            },
        })
    }
}

/// Who ran a change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `user@host` of the process.
    pub os_user: String,
    /// The AWS account id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_account: Option<String>,
    /// The AWS caller ARN, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiContext>,
}

/// One run in the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRecord {
    /// A UUID.
    pub id: String,
    pub env: String,
    /// `apply`, `destroy`, `apply -refresh-only`, …
    pub operation: String,
    pub started_at: DateTime<Utc>,
    /// Set when closed.
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    #[serde(default)]
    pub counts: ChangeCounts,
    /// Addresses changed (sorted).
    #[serde(default)]
    pub changed: Vec<String>,
    #[serde(default)]
    pub failed: Vec<FailedAddress>,
    /// Why the run failed or was refused, when not per address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub identity: Identity,
    /// SHA-256 (hex) of the canonical plan JSON, once planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_before: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_after: Option<u64>,
    /// The id of the lock the run held (to recognise its own open record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_id: Option<String>,
    /// SHA-256 of the configuration snapshot (a blob: see
    /// [`ConfigSnapshot`]) the run applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// For a rollback: the id of the record whose configuration it restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restores: Option<String>,
    /// For a retention run (`prune`): how many records it deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruned: Option<u64>,
    /// The notifications sent about this run (`notify` blocks), delivered or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Notification>,
    /// What the environment's guardrails decided (approvals, overrides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<crate::GuardRecord>,
}

/// One notification about a run, as delivered (or not).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The `notify` block's label.
    pub target: String,
    /// `apply_succeeded`, `apply_failed`, `rollback`, …
    pub event: String,
    pub delivered: bool,
    pub attempts: u32,
    /// The last HTTP status received, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it was not delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a configuration snapshot holds: the environment's files and the
/// files of the modules it used (path relative to the project root →
/// SHA-256 of the file's text, itself a blob), and the resolved root
/// variable values. Sensitive values are left out (`sensitive_omitted`
/// names them), never stored. Stored as a blob; files shared by several
/// snapshots are stored once.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigSnapshot {
    /// The environment directory, relative to the project root.
    pub env_dir: String,
    pub files: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub sensitive_omitted: Vec<String>,
}

/// The SHA-256 (hex) of a blob's text: its address.
pub fn blob_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A blob address is 64 lower-case hex digits.
pub(crate) fn check_blob_hash(hash: &str) -> Result<(), crate::StateError> {
    if hash.len() == 64 && hash.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
        Ok(())
    } else {
        Err(crate::StateError::backend(format!(
            "'{hash}' is not a blob address (64 hex digits)"
        )))
    }
}

/// A blob read back under `hash`: it must hash to it.
pub(crate) fn verify_blob(
    store: &str,
    hash: &str,
    text: Option<String>,
) -> Result<Option<String>, crate::StateError> {
    match text {
        Some(t) if blob_hash(&t) != hash => Err(crate::StateError::Corrupt {
            what: format!("{store}: blob {hash}"),
            detail: "its content does not hash to its address".into(),
        }),
        other => Ok(other),
    }
}

impl LedgerRecord {
    /// A new open record for `operation` on `env`, started now.
    pub fn open(env: &str, operation: &str, identity: Identity) -> LedgerRecord {
        LedgerRecord {
            id: uuid::Uuid::new_v4().to_string(),
            env: env.to_string(),
            operation: operation.to_string(),
            started_at: Utc::now(),
            ended_at: None,
            outcome: Outcome::Open,
            counts: ChangeCounts::default(),
            changed: Vec::new(),
            failed: Vec::new(),
            error: None,
            identity,
            plan_hash: None,
            serial_before: None,
            serial_after: None,
            lock_id: None,
            snapshot: None,
            restores: None,
            pruned: None,
            notifications: Vec::new(),
            guard: None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.outcome == Outcome::Open
    }

    /// This record closed with `outcome` now.
    pub fn closed(mut self, outcome: Outcome) -> LedgerRecord {
        self.outcome = outcome;
        self.ended_at = Some(Utc::now());
        self
    }
}

/// Which records `ledger_list` returns.
#[derive(Clone, Debug, Default)]
pub struct LedgerQuery {
    /// One environment, or all.
    pub env: Option<String>,
    /// Records started at or after this time.
    pub since: Option<DateTime<Utc>>,
}

impl LedgerQuery {
    pub(crate) fn matches(&self, r: &LedgerRecord) -> bool {
        self.env.as_deref().is_none_or(|e| e == r.env)
            && self.since.is_none_or(|s| r.started_at >= s)
    }
}

/// Sort records oldest first (ties by id).
pub(crate) fn sort_records(records: &mut [LedgerRecord]) {
    records.sort_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// After a conditional create of `rec` did not store it: fine when what is
/// stored is `rec` itself (a retry whose first try was stored).
pub(crate) fn settle_open(
    stored: Option<LedgerRecord>,
    rec: &LedgerRecord,
) -> Result<(), crate::StateError> {
    match stored {
        Some(s) if s == *rec => Ok(()),
        _ => Err(crate::StateError::backend(format!(
            "ledger record {} is already stored",
            rec.id
        ))),
    }
}

/// Before closing: `Ok(false)` when `stored` already is `rec` (a retry whose
/// first try was stored; nothing to write), `Ok(true)` when `stored` is
/// the open record of the same run, an error otherwise.
pub(crate) fn close_needed(
    stored: Option<&LedgerRecord>,
    rec: &LedgerRecord,
) -> Result<bool, crate::StateError> {
    require_closed(rec)?;
    let Some(stored) = stored else {
        return Err(crate::StateError::NoSuchLedgerRecord { id: rec.id.clone() });
    };
    if stored == rec {
        return Ok(false);
    }
    check_close(stored, rec)?;
    Ok(true)
}

/// After a conditional close: it took effect when the record now stored
/// is `rec`; anything else means another closer won.
pub(crate) fn settle_close(
    now: Option<LedgerRecord>,
    rec: &LedgerRecord,
) -> Result<(), crate::StateError> {
    match now {
        Some(now) if now == *rec => Ok(()),
        Some(now) => Err(crate::StateError::LedgerClosed {
            id: rec.id.clone(),
            outcome: now.outcome.to_string(),
        }),
        None => Err(crate::StateError::NoSuchLedgerRecord { id: rec.id.clone() }),
    }
}

/// `ledger_close` is given a closed record.
fn require_closed(new: &LedgerRecord) -> Result<(), crate::StateError> {
    if new.is_open() {
        return Err(crate::StateError::backend(format!(
            "ledger record {} must be closed with an outcome",
            new.id
        )));
    }
    Ok(())
}

/// Checks common to every store's `ledger_close`: the stored record is
/// still open, the new one is closed, and it is the same run.
fn check_close(stored: &LedgerRecord, new: &LedgerRecord) -> Result<(), crate::StateError> {
    require_closed(new)?;
    if !stored.is_open() {
        return Err(crate::StateError::LedgerClosed {
            id: new.id.clone(),
            outcome: stored.outcome.to_string(),
        });
    }
    if stored.env != new.env || stored.started_at != new.started_at {
        return Err(crate::StateError::backend(format!(
            "ledger record {} belongs to another run",
            new.id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn detect(vars: &[(&str, &str)]) -> Option<CiContext> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CiContext::detect(&|k| map.get(k).filter(|v| !v.is_empty()).cloned())
    }

    #[test]
    fn github_actions_pull_request() {
        let ci = detect(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/infra"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_JOB", "deploy"),
            ("GITHUB_ACTOR", "octocat"),
            ("GITHUB_SHA", "abc123"),
            ("GITHUB_HEAD_REF", "feature/x"),
            ("GITHUB_REF_NAME", "7/merge"),
            ("GITHUB_REF", "refs/pull/7/merge"),
        ])
        .unwrap();
        assert_eq!(ci.system, "github_actions");
        assert_eq!(
            ci.run_url.as_deref(),
            Some("https://github.com/acme/infra/actions/runs/42")
        );
        assert_eq!(ci.branch.as_deref(), Some("feature/x"));
        assert_eq!(ci.change_request.as_deref(), Some("7"));
        assert_eq!(ci.actor.as_deref(), Some("octocat"));
    }

    #[test]
    fn azure_url_and_no_ci() {
        let ci = detect(&[
            ("TF_BUILD", "True"),
            ("SYSTEM_COLLECTIONURI", "https://dev.azure.com/acme/"),
            ("SYSTEM_TEAMPROJECT", "infra"),
            ("BUILD_BUILDID", "9"),
            ("BUILD_SOURCEBRANCHNAME", "main"),
        ])
        .unwrap();
        assert_eq!(
            ci.run_url.as_deref(),
            Some("https://dev.azure.com/acme/infra/_build/results?buildId=9")
        );
        assert_eq!(ci.branch.as_deref(), Some("main"));
        assert!(detect(&[("GITHUB_SHA", "abc")]).is_none());
        // Buildkite outside a pull request says `false`.
        let bk = detect(&[("BUILDKITE", "true"), ("BUILDKITE_PULL_REQUEST", "false")]).unwrap();
        assert_eq!(bk.change_request, None);
    }

    #[test]
    fn outcomes_round_trip() {
        for o in ["open", "succeeded", "failed", "interrupted", "refused"] {
            assert_eq!(Outcome::parse(o).unwrap().as_str(), o);
        }
        assert!(Outcome::parse("ok").is_none());
    }
}
