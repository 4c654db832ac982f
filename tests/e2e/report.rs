//! `terrace report` (issue 18 §3) over a scripted ledger with a test clock
//! (`TERRACE_NOW`): 4 applies, 1 failure restored 2 hours later → change
//! failure rate 25 %, time to restore 2 h.

use crate::support::Project;
use chrono::{DateTime, Duration, Utc};
use terrace_state::{LedgerRecord, Outcome, StateStore, open_store};

const NOW: &str = "2026-03-31T12:00:00Z";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .with_timezone(&Utc)
}

/// A closed record of `env` that ran from `h` hours before NOW for a minute.
fn rec(env: &str, op: &str, outcome: Outcome, hours_ago: i64) -> LedgerRecord {
    let mut r = LedgerRecord::open(env, op, Default::default()).closed(outcome);
    r.started_at = now() - Duration::hours(hours_ago);
    r.ended_at = Some(r.started_at + Duration::minutes(1));
    r
}

async fn store(p: &Project) -> std::sync::Arc<dyn StateStore> {
    open_store(
        "sqlite:state/terrace.db",
        p.path(),
        terrace_state::StoreOptions::default(),
    )
    .await
    .expect("open store")
}

#[tokio::test(flavor = "multi_thread")]
async fn report_counts_failures_and_time_to_restore() {
    let p = Project::new();
    let st = store(&p).await;
    let mut with_commit = rec("prod", "apply", Outcome::Succeeded, 100);
    with_commit.identity.ci = Some(terrace_state::CiContext {
        system: "gitlab_ci".into(),
        commit_time: Some(with_commit.started_at - Duration::hours(3)),
        ..Default::default()
    });
    for r in [
        with_commit,
        rec("prod", "apply", Outcome::Failed, 50),
        // Restored 2 hours after the failure.
        rec("prod", "apply", Outcome::Succeeded, 48),
        rec("prod", "apply", Outcome::Succeeded, 10),
        // Not deployments.
        rec("prod", "apply", Outcome::Refused, 9),
        rec("prod", "apply -refresh-only", Outcome::Succeeded, 8),
        // Outside the window.
        rec("prod", "apply", Outcome::Failed, 24 * 40),
        // Another environment.
        rec("dev", "apply", Outcome::Failed, 5),
    ] {
        st.ledger_open(&r).await.unwrap();
    }
    let clock = [("TERRACE_NOW", NOW)];

    let r = p.run_env(&["report", "-e", "prod", "--format", "json"], &clock);
    assert_eq!(r.code, 0, "{}", r.all());
    let j: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(j["schema_version"], 1);
    let m = &j["environments"]["prod"];
    assert_eq!(m["deployments"], 4, "{j:#}");
    assert_eq!(m["failed"], 1);
    assert_eq!(m["change_failure_rate_pct"], 25.0);
    assert_eq!(m["time_to_restore_median_hours"], 2.0);
    let lead = m["lead_time_median_hours"].as_f64().expect("lead time");
    assert!((lead - (3.0 + 1.0 / 60.0)).abs() < 1e-9, "{j:#}");
    assert!(j["environments"].get("dev").is_none(), "{j:#}");

    let r = p.run_env(&["report", "-e", "prod"], &clock);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("25.0 %"), "{}", r.all());
    assert!(r.stdout.contains("2.0 h median"), "{}", r.all());

    // All environments: dev's unrestored failure counts overall.
    let r = p.run_env(&["report", "--all", "--format", "markdown"], &clock);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("| metric | dev | prod | overall |"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("40.0 %"), "2 of 5: {}", r.all());

    // A short window sees only the last apply.
    let r = p.run_env(
        &["report", "-e", "prod", "--since", "12h", "--format", "json"],
        &clock,
    );
    let j: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(j["environments"]["prod"]["deployments"], 1, "{j:#}");
    assert_eq!(j["environments"]["prod"]["change_failure_rate_pct"], 0.0);

    // A bad window is a clear error.
    let r = p.run_env(&["report", "--since", "soon"], &clock);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("--since"), "{}", r.all());
}
