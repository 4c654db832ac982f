//! Paced state writes: an apply writes the state at intervals and once at
//! the end, not once per resource, and what it wrote is complete.

use crate::support::*;
use std::time::Duration;
use terrace_engine::apply::ApplyOptions;

/// A chain of `n` things, each depending on the one before, so they are
/// created one after another.
fn chain(n: usize) -> String {
    let mut s = String::from("resource \"test_thing\" \"t0\" {\n  name = \"t0\"\n}\n");
    for i in 1..n {
        s.push_str(&format!(
            "resource \"test_thing\" \"t{i}\" {{\n  name = \"t{i}-${{test_thing.t{}.id}}\"\n}}\n",
            i - 1
        ));
    }
    s
}

async fn apply_with_interval(h: &Harness, min: Duration) -> terrace_engine::ops::ApplyOutcome {
    let opts = ApplyOptions {
        min_write_interval: min,
        ..ApplyOptions::default()
    };
    let out = h
        .try_apply_full(refresh(), opts, None, &Recorder::default())
        .await
        .expect("apply");
    assert!(out.report.failures.is_empty(), "{:?}", out.report.failures);
    out
}

#[tokio::test]
async fn a_long_interval_leaves_one_write_at_the_end() {
    let h = Harness::new(&chain(12)).await;
    h.cloud.lock().create_delay = Duration::from_millis(10);
    let out = apply_with_interval(&h, Duration::from_secs(3600)).await;
    assert_eq!(out.report.added, 12);
    assert_eq!(out.report.state_writes, 1, "only the final write");
    let state = h.state().await;
    assert_eq!(state.resources.len(), 12);
    assert_eq!(state.serial, 1);
    assert!(h.pending().await.is_empty(), "every intent finished");
}

#[tokio::test]
async fn paced_writes_happen_during_a_long_apply_but_fewer_than_resources() {
    let h = Harness::new(&chain(16)).await;
    h.cloud.lock().create_delay = Duration::from_millis(40);
    let out = apply_with_interval(&h, Duration::from_millis(150)).await;
    assert_eq!(out.report.added, 16);
    let writes = out.report.state_writes;
    // 16 creates of ≥ 40 ms one after another last ≥ 640 ms: with writes at
    // least 150 ms apart there are some paced writes before the final one,
    // and far fewer than one per resource.
    assert!(writes >= 2, "no paced write during the apply ({writes})");
    assert!(writes <= 8, "{writes} writes for 16 resources");
    let state = h.state().await;
    assert_eq!(state.resources.len(), 16);
    assert_eq!(state.serial, writes);
    assert!(h.pending().await.is_empty(), "every intent finished");
    // History holds every write.
    let history = h.engine.store.history(ENV).await.expect("history");
    assert_eq!(history.len() as u64, writes);
}

#[tokio::test]
async fn intents_stay_pending_until_a_write_reflects_them() {
    use terrace_engine::apply::StateWriter;
    use terrace_state::{Intent, IntentStatus, LockInfo, ResourceState, WriteMeta};
    let h = Harness::new(&chain(1)).await;
    let store = h.engine.store.clone();
    let lease = store
        .acquire_lock(ENV, &LockInfo::new("apply"))
        .await
        .expect("lock")
        .lease;
    let intent = Intent {
        id: "i-1".into(),
        env: ENV.into(),
        address: "test_thing.t0".into(),
        action: "create".into(),
        idempotency_token: "tok".into(),
        resource_type: "test_thing".into(),
        recorded_at: chrono::Utc::now(),
        status: IntentStatus::Pending,
        detail: serde_json::json!({"provider": "test"}),
    };
    store.journal_record(&intent).await.expect("journal");
    let writer = StateWriter::new(store.clone(), ENV, lease, None, WriteMeta::new("apply"));
    let now = chrono::Utc::now();
    writer.set_resource(ResourceState {
        address: "test_thing.t0".into(),
        mode: "managed".into(),
        type_name: "test_thing".into(),
        provider: "test".into(),
        attributes: serde_json::json!({"id": "thing-t0-1", "name": "t0"}).into(),
        sensitive_paths: vec![],
        dependencies: vec![],
        schema_version: 0,
        created_at: now,
        updated_at: now,
    });
    writer.finish_after_flush("i-1".into(), IntentStatus::Done);
    writer.checkpoint().expect("nothing failed");
    // Recorded, not yet written: the journal alone knows the object.
    assert!(store.read(ENV).await.unwrap().is_none());
    assert_eq!(h.pending().await.len(), 1);
    writer.flush().await.expect("flush");
    assert_eq!(writer.writes(), 1);
    let state = store.read(ENV).await.unwrap().expect("written");
    assert_eq!(state.resources.len(), 1);
    assert!(h.pending().await.is_empty(), "finished after the write");
    // Nothing changed: a second flush writes nothing.
    writer.flush().await.expect("flush");
    assert_eq!(writer.writes(), 1);
}
