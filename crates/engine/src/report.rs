//! Delivery metrics from the apply ledger, drift history and the
//! environment registry (`terrace report`): deployment frequency, change
//! failure rate, time to restore, lead time, drift incidents and ephemeral
//! environments. Pure computation over records; the CLI reads the store
//! and renders. The definitions follow DORA where one exists and are
//! written out in the README next to the command.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use terrace_state::{DriftRun, EnvRecord, LedgerRecord, Outcome};

/// The version of the JSON report's schema.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// Metrics of one environment, or of all together.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Applies and rollbacks that ran (succeeded, failed or interrupted).
    pub deployments: u32,
    pub succeeded: u32,
    /// Deployments that failed, were interrupted, or were later rolled back.
    pub failed: u32,
    pub rolled_back: u32,
    pub rollbacks: u32,
    /// Succeeded deployments per day over the window.
    pub deployments_per_day: f64,
    /// `failed / deployments`, in percent; `None` without deployments.
    pub change_failure_rate_pct: Option<f64>,
    /// Failure → next succeeded apply or rollback of the environment, in
    /// hours, one per restored failure.
    pub restore_hours: Vec<f64>,
    pub time_to_restore_median_hours: Option<f64>,
    /// Failures not restored (yet) at the end of the window.
    pub unrestored_failures: u32,
    /// Commit time → succeeded apply, in hours, where the commit time is known.
    pub lead_time_median_hours: Option<f64>,
    pub drift_incidents: u32,
    pub drift_resolved: u32,
    pub drift_resolve_median_hours: Option<f64>,
    pub ephemeral_created: u32,
    pub ephemeral_reaped: u32,
    /// Ephemeral environments past their expiry and not yet reaped.
    pub ephemeral_expired_pending: u32,
    pub ephemeral_lifetime_hours: f64,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub environments: BTreeMap<String, Metrics>,
    pub overall: Metrics,
}

fn is_deployment(r: &LedgerRecord) -> bool {
    matches!(r.operation.as_str(), "apply" | "rollback")
        && matches!(
            r.outcome,
            Outcome::Succeeded | Outcome::Failed | Outcome::Interrupted
        )
}

fn end(r: &LedgerRecord) -> DateTime<Utc> {
    r.ended_at.unwrap_or(r.started_at)
}

fn hours(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_seconds() as f64 / 3600.0
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

/// The metrics of one environment's records (any order) within
/// `[since, until]`. `drift` is the environment's drift runs, `registry`
/// its registry record if any.
pub fn env_metrics(
    records: &[LedgerRecord],
    drift: &[DriftRun],
    registry: Option<&EnvRecord>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Metrics {
    let mut recs: Vec<&LedgerRecord> = records
        .iter()
        .filter(|r| r.started_at >= since && r.started_at <= until)
        .collect();
    recs.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
    let deps: Vec<&LedgerRecord> = recs.iter().copied().filter(|r| is_deployment(r)).collect();
    let mut m = Metrics::default();
    // Deployments a rollback undid: the succeeded ones between the record
    // it restored and the rollback.
    let mut rolled_back: BTreeSet<&str> = BTreeSet::new();
    for (i, r) in deps.iter().enumerate() {
        if r.operation != "rollback" || r.outcome != Outcome::Succeeded {
            continue;
        }
        let Some(target) = &r.restores else { continue };
        for d in deps[..i].iter().rev() {
            if &d.id == target {
                break;
            }
            if d.outcome == Outcome::Succeeded && d.operation == "apply" {
                rolled_back.insert(d.id.as_str());
            }
        }
    }
    for (i, r) in deps.iter().enumerate() {
        m.deployments += 1;
        if r.operation == "rollback" {
            m.rollbacks += 1;
        }
        let bad = r.outcome != Outcome::Succeeded || rolled_back.contains(r.id.as_str());
        if r.outcome == Outcome::Succeeded {
            m.succeeded += 1;
        }
        if rolled_back.contains(r.id.as_str()) {
            m.rolled_back += 1;
        }
        if !bad {
            continue;
        }
        m.failed += 1;
        // Restored by the next succeeded deployment that is not itself
        // rolled back.
        let restored = deps[i + 1..]
            .iter()
            .find(|d| d.outcome == Outcome::Succeeded && !rolled_back.contains(d.id.as_str()));
        match restored {
            Some(d) => m.restore_hours.push(hours(end(r), end(d))),
            None => m.unrestored_failures += 1,
        }
    }
    let days = (hours(since, until) / 24.0).max(1.0 / 24.0);
    m.deployments_per_day = f64::from(m.succeeded) / days;
    m.change_failure_rate_pct =
        (m.deployments > 0).then(|| 100.0 * f64::from(m.failed) / f64::from(m.deployments));
    m.time_to_restore_median_hours = median(&m.restore_hours);
    let leads: Vec<f64> = deps
        .iter()
        .filter(|r| r.outcome == Outcome::Succeeded)
        .filter_map(|r| {
            let t = r.identity.ci.as_ref()?.commit_time?;
            Some(hours(t, end(r)))
        })
        .collect();
    m.lead_time_median_hours = median(&leads);

    // Drift: an incident opens at a run that found drift after a clean one
    // (or the first run), and is resolved by the next clean run.
    let mut runs: Vec<&DriftRun> = drift
        .iter()
        .filter(|d| d.finished_at >= since && d.finished_at <= until)
        .collect();
    runs.sort_by_key(|d| d.finished_at);
    let mut open: Option<DateTime<Utc>> = None;
    let mut resolve = Vec::new();
    for d in runs {
        let drifted = d.changed + d.missing + d.unmanaged > 0;
        match (drifted, open) {
            (true, None) => {
                m.drift_incidents += 1;
                open = Some(d.finished_at);
            }
            (false, Some(at)) => {
                m.drift_resolved += 1;
                resolve.push(hours(at, d.finished_at));
                open = None;
            }
            _ => {}
        }
    }
    m.drift_resolve_median_hours = median(&resolve);

    // Ephemeral environments: created by `env create`, reaped by `env
    // destroy` (or `env gc`); lifetime from creation to reaping (or until).
    let created = recs
        .iter()
        .find(|r| r.operation == "env create" && r.outcome == Outcome::Succeeded);
    if let Some(c) = created {
        m.ephemeral_created = 1;
        let reaped = recs.iter().find(|r| {
            matches!(r.operation.as_str(), "env destroy" | "env gc")
                && r.outcome == Outcome::Succeeded
                && r.started_at >= c.started_at
        });
        let gone = match reaped {
            Some(r) => {
                m.ephemeral_reaped = 1;
                end(r)
            }
            None => until,
        };
        m.ephemeral_lifetime_hours = hours(c.started_at, gone).max(0.0);
    }
    if let Some(reg) = registry
        && reg.kind == "ephemeral"
        && reg.expires_at.is_some_and(|e| e <= until)
    {
        m.ephemeral_expired_pending = 1;
    }
    m
}

/// The report over several environments: each one's metrics and the
/// overall ones (counts summed, rates and medians over all events).
pub fn report(
    records: &[LedgerRecord],
    drift: &BTreeMap<String, Vec<DriftRun>>,
    registry: &[EnvRecord],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Report {
    let mut envs: BTreeSet<&str> = records.iter().map(|r| r.env.as_str()).collect();
    envs.extend(drift.keys().map(String::as_str));
    let mut out = BTreeMap::new();
    let mut all = Metrics::default();
    let mut restore = Vec::new();
    let mut resolve_medians = Vec::new();
    for env in envs {
        let recs: Vec<LedgerRecord> = records.iter().filter(|r| r.env == env).cloned().collect();
        let m = env_metrics(
            &recs,
            drift.get(env).map(Vec::as_slice).unwrap_or(&[]),
            registry.iter().find(|e| e.name == env),
            since,
            until,
        );
        all.deployments += m.deployments;
        all.succeeded += m.succeeded;
        all.failed += m.failed;
        all.rolled_back += m.rolled_back;
        all.rollbacks += m.rollbacks;
        all.unrestored_failures += m.unrestored_failures;
        all.drift_incidents += m.drift_incidents;
        all.drift_resolved += m.drift_resolved;
        all.ephemeral_created += m.ephemeral_created;
        all.ephemeral_reaped += m.ephemeral_reaped;
        all.ephemeral_expired_pending += m.ephemeral_expired_pending;
        all.ephemeral_lifetime_hours += m.ephemeral_lifetime_hours;
        restore.extend(m.restore_hours.iter().copied());
        if let Some(h) = m.drift_resolve_median_hours {
            resolve_medians.push(h);
        }
        out.insert(env.to_string(), m);
    }
    let days = (hours(since, until) / 24.0).max(1.0 / 24.0);
    all.deployments_per_day = f64::from(all.succeeded) / days;
    all.change_failure_rate_pct =
        (all.deployments > 0).then(|| 100.0 * f64::from(all.failed) / f64::from(all.deployments));
    all.time_to_restore_median_hours = median(&restore);
    all.restore_hours = restore;
    all.drift_resolve_median_hours = median(&resolve_medians);
    Report {
        schema_version: REPORT_SCHEMA_VERSION,
        since,
        until,
        environments: out,
        overall: all,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use terrace_state::Identity;

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    fn rec(op: &str, outcome: Outcome, h: i64) -> LedgerRecord {
        let mut r = LedgerRecord::open("prod", op, Identity::default()).closed(outcome);
        r.started_at = at(h);
        r.ended_at = Some(at(h));
        r
    }

    #[test]
    fn one_failure_in_four_restored_two_hours_later() {
        let recs = [
            rec("apply", Outcome::Succeeded, 1),
            rec("apply", Outcome::Failed, 10),
            rec("apply", Outcome::Succeeded, 12),
            rec("apply", Outcome::Succeeded, 20),
            // Not deployments: a refused run and a drift acceptance.
            rec("apply", Outcome::Refused, 21),
            rec("apply -refresh-only", Outcome::Succeeded, 22),
        ];
        let m = env_metrics(&recs, &[], None, at(0), at(48));
        assert_eq!(m.deployments, 4);
        assert_eq!(m.change_failure_rate_pct, Some(25.0));
        assert_eq!(m.time_to_restore_median_hours, Some(2.0));
        assert_eq!(m.unrestored_failures, 0);
        assert!((m.deployments_per_day - 1.5).abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn a_rolled_back_apply_is_a_failure_restored_by_the_rollback() {
        let v1 = rec("apply", Outcome::Succeeded, 1);
        let v2 = rec("apply", Outcome::Succeeded, 2);
        let mut rb = rec("rollback", Outcome::Succeeded, 5);
        rb.restores = Some(v1.id.clone());
        let m = env_metrics(&[v1, v2, rb], &[], None, at(0), at(24));
        assert_eq!(
            (m.deployments, m.failed, m.rolled_back, m.rollbacks),
            (3, 1, 1, 1)
        );
        assert_eq!(m.restore_hours, vec![3.0]);
        // Outside the window: nothing.
        let m = env_metrics(&[rec("apply", Outcome::Failed, 1)], &[], None, at(2), at(3));
        assert_eq!(m.deployments, 0);
        assert_eq!(m.change_failure_rate_pct, None);
    }

    #[test]
    fn drift_incidents_open_and_resolve() {
        let run = |h: i64, changed: u32| DriftRun {
            id: h.to_string(),
            env: "prod".into(),
            started_at: at(h),
            finished_at: at(h),
            changed,
            missing: 0,
            unmanaged: 0,
            pending: 0,
            report: serde_json::Value::Null,
        };
        let runs = [run(1, 0), run(2, 1), run(3, 2), run(6, 0), run(7, 1)];
        let m = env_metrics(&[], &runs, None, at(0), at(24));
        assert_eq!((m.drift_incidents, m.drift_resolved), (2, 1));
        assert_eq!(m.drift_resolve_median_hours, Some(4.0));
    }
}
