//! Failures and interruptions during a walk: a failed resource skips its
//! dependents only; cancellation stops new work and saves state; destroy
//! retries ordering conflicts.

use crate::support::*;
use std::time::Duration;
use terrace_engine::apply::ApplyOptions;

const CHAIN: &str = r#"
resource "test_thing" "net" {
  name = "net"
}
resource "test_thing" "app" {
  name        = "app"
  description = test_thing.net.id
}
resource "test_thing" "web" {
  name        = "web"
  description = test_thing.app.id
}
resource "test_thing" "solo" {
  name = "solo"
}
"#;

#[tokio::test]
async fn failed_resource_skips_dependents_and_independent_ones_complete() {
    let h = Harness::new(CHAIN).await;
    h.cloud.lock().fail_create.insert("app".into());
    let out = h.apply().await;
    let report = &out.report;
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert_eq!(report.failures[0].0, "test_thing.app");
    assert!(
        report.failures[0].1.contains("cannot create app"),
        "{:?}",
        report.failures
    );
    assert_eq!(report.skipped, vec!["test_thing.web".to_string()]);
    assert_eq!(report.added, 2);

    let state = h.state().await;
    let addrs: Vec<&str> = state.resources.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(
        addrs,
        vec!["test_thing.net", "test_thing.solo"],
        "state holds what completed"
    );
    assert!(
        h.cloud.named("web").is_empty(),
        "the dependent was never attempted"
    );
    assert!(
        h.pending().await.is_empty(),
        "the failed create's intent is closed"
    );
    assert!(
        h.engine.store.current_lock(ENV).await.unwrap().is_none(),
        "lock released"
    );

    // Fixed: the next apply creates only what is missing.
    h.cloud.lock().fail_create.clear();
    let plan = h.plan().await;
    assert_eq!(plan.counts(), (2, 0, 0), "{}", summary(&plan));
    h.apply_ok().await;
    assert_eq!(h.cloud.count(), 4);
}

#[tokio::test]
async fn cancellation_stops_new_work_saves_state_and_releases_the_lock() {
    let chain_only = CHAIN
        .split("resource \"test_thing\" \"solo\"")
        .next()
        .unwrap()
        .to_string();
    let h = Harness::new(&chain_only).await;
    let cancel = terrace_graph::CancelFlag::new();
    let observer = Recorder {
        cancel_after_first: Some(cancel.clone()),
        ..Default::default()
    };
    let opts = ApplyOptions {
        cancel: cancel.clone(),
        ..ApplyOptions::default()
    };
    let out = h
        .try_apply_full(refresh(), opts, None, &observer)
        .await
        .expect("apply");
    assert!(out.report.cancelled);
    assert_eq!(out.report.added, 1);
    assert_eq!(
        h.cloud.events(),
        vec!["create test_thing.net thing-net-1".to_string()],
        "nothing new started"
    );
    let lines = observer.lines.lock().unwrap().clone();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("start")).count(),
        1,
        "{lines:?}"
    );

    let state = h.state().await;
    assert_eq!(state.resources.len(), 1);
    assert!(state.resource("test_thing.net").is_some(), "state saved");
    assert!(
        h.engine.store.current_lock(ENV).await.unwrap().is_none(),
        "lock released"
    );
    assert!(h.pending().await.is_empty());

    // Running again finishes the job.
    h.apply_ok().await;
    assert_eq!(h.cloud.count(), 3);
}

#[tokio::test]
async fn destroy_retries_dependency_violations_until_they_clear() {
    let h = Harness::new(CHAIN).await;
    h.apply_ok().await;
    h.cloud.lock().delete_conflicts.insert("net".into(), 2);
    let opts = ApplyOptions {
        delete_retry_for: Duration::from_secs(10),
        operation: "destroy".into(),
        ..Default::default()
    };
    let recorder = Recorder::default();
    let out = h
        .try_apply_full(
            terrace_engine::ops::destroy_options(vec![], true),
            opts,
            None,
            &recorder,
        )
        .await
        .expect("destroy");
    assert!(out.report.failures.is_empty(), "{:?}", out.report.failures);
    assert_eq!(out.report.destroyed, 4);
    assert_eq!(h.cloud.count(), 0);
    let events = h.cloud.events();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with("delete-conflict"))
            .count(),
        2,
        "{events:?}"
    );
    // Dependents first: web before app before net.
    let pos = |needle: &str| {
        events
            .iter()
            .position(|e| e.starts_with(&format!("delete test_thing.{needle} ")))
            .unwrap()
    };
    assert!(
        pos("web") < pos("app") && pos("app") < pos("net"),
        "{events:?}"
    );
    let notes: Vec<String> = recorder
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("note"))
        .cloned()
        .collect();
    assert_eq!(notes.len(), 2, "each retry is reported: {notes:?}");
    assert!(notes[0].contains("DependencyViolation"));
    let state = h.state().await;
    assert!(state.resources.is_empty());
    assert!(h.pending().await.is_empty());
}

#[tokio::test]
async fn destroy_gives_up_on_conflicts_after_the_retry_window() {
    let h = Harness::new(CHAIN).await;
    h.apply_ok().await;
    h.cloud.lock().delete_conflicts.insert("net".into(), 100);
    let opts = ApplyOptions {
        delete_retry_for: Duration::from_millis(100),
        operation: "destroy".into(),
        ..Default::default()
    };
    let out = h
        .try_apply_full(
            terrace_engine::ops::destroy_options(vec![], true),
            opts,
            None,
            &Recorder::default(),
        )
        .await
        .expect("destroy");
    assert_eq!(out.report.failures.len(), 1);
    assert_eq!(out.report.failures[0].0, "test_thing.net");
    assert!(
        out.report.failures[0].1.contains("DependencyViolation"),
        "{:?}",
        out.report.failures
    );
    assert_eq!(out.report.destroyed, 3);
    let state = h.state().await;
    let addrs: Vec<&str> = state.resources.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(
        addrs,
        vec!["test_thing.net"],
        "the object that still exists stays in state"
    );
    assert!(
        h.pending().await.is_empty(),
        "a refused delete closes its intent"
    );
    assert!(h.plan().await.warnings.is_empty());
}
