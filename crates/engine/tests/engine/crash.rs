//! Crash safety: intents journalled before the cloud is called, reconciled
//! by the next apply.

use crate::support::*;
use terrace_core::Value;
use terrace_state::{Intent, IntentStatus};

const ONE: &str = r#"
resource "test_thing" "a" {
  name = "a"
  size = 2
}
"#;

fn intent(action: &str, token: &str, detail: serde_json::Value) -> Intent {
    Intent {
        id: uuid::Uuid::new_v4().to_string(),
        env: ENV.into(),
        address: "test_thing.a".into(),
        action: action.into(),
        idempotency_token: token.into(),
        resource_type: "test_thing".into(),
        recorded_at: chrono::Utc::now(),
        status: IntentStatus::Pending,
        detail,
    }
}

#[tokio::test]
async fn crash_after_create_before_state_write_is_adopted_not_duplicated() {
    let h = Harness::new(ONE).await;
    // What a process killed right after the cloud call leaves behind: a
    // journalled intent and an object in the cloud, but no state.
    let token = "terrace-crashed-create";
    let rec = intent(
        "create",
        token,
        serde_json::json!({ "provider": "test", "dependencies": [] }),
    );
    h.engine.store.journal_record(&rec).await.unwrap();
    let mut v = thing_value("a", Some(2.0), "a");
    if let Some(m) = v.as_map_mut() {
        m.insert("arn".into(), Value::from("arn:test:::thing-a-crashed"));
    }
    h.cloud.insert(
        "test_thing",
        "thing-a-crashed",
        v,
        token,
        ENV,
        "test_thing.a",
    );

    let plan = h.plan().await;
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("interrupted apply")),
        "{:?}",
        plan.warnings
    );

    let out = h.apply_ok().await;
    assert!(
        out.reconciled.iter().any(|l| l.contains("adopted")),
        "{:?}",
        out.reconciled
    );
    assert_eq!(h.cloud.calls("Create"), 0, "no duplicate created");
    assert_eq!(h.cloud.named("a").len(), 1);
    assert_eq!(h.attrs("test_thing.a").await["id"], "thing-a-crashed");
    assert!(h.pending().await.is_empty(), "intent marked done");
    assert!(!h.plan().await.has_changes());
}

#[tokio::test]
async fn lost_create_response_is_looked_up_at_once_and_kept_in_state() {
    let h = Harness::new(ONE).await;
    h.cloud.lock().lose_create_result.insert("a".into());
    let out = h.apply().await;
    assert_eq!(out.report.failures.len(), 1, "the create timed out");
    assert!(
        out.report.failures[0].1.contains("kept in state"),
        "{:?}",
        out.report.failures
    );
    assert_eq!(h.cloud.named("a").len(), 1, "but the object exists");
    // The engine looked for it (by token) before giving up on the create.
    assert_eq!(h.attrs("test_thing.a").await["id"], "thing-a-1");
    assert!(h.pending().await.is_empty(), "its intent is finished");

    let out = h.apply_ok().await;
    assert!(out.reconciled.is_empty(), "{:?}", out.reconciled);
    assert_eq!(h.cloud.calls("Create"), 1, "no second create");
    assert_eq!(h.cloud.named("a").len(), 1);
    assert_eq!(h.attrs("test_thing.a").await["id"], "thing-a-1");
    assert!(h.pending().await.is_empty());
}

#[tokio::test]
async fn interrupted_create_that_made_nothing_is_closed() {
    let h = Harness::new(ONE).await;
    let rec = intent(
        "create",
        "terrace-never-sent",
        serde_json::json!({ "provider": "test", "dependencies": [] }),
    );
    h.engine.store.journal_record(&rec).await.unwrap();
    let out = h.apply_ok().await;
    assert!(
        out.reconciled.iter().any(|l| l.contains("left nothing")),
        "{:?}",
        out.reconciled
    );
    assert_eq!(h.cloud.named("a").len(), 1, "created normally, once");
    assert!(h.pending().await.is_empty());
}

#[tokio::test]
async fn pending_delete_whose_object_is_gone_is_removed_from_state() {
    let h = Harness::new(ONE).await;
    h.apply_ok().await;
    let state = h.state().await;
    let record = state.resource("test_thing.a").unwrap().clone();
    let before = terrace_engine::values::state_value(&record);
    // Crashed after the delete call, before the state write.
    let rec = intent(
        "delete",
        "terrace-crashed-delete",
        serde_json::json!({ "provider": "test", "before": before.to_tagged_json() }),
    );
    h.engine.store.journal_record(&rec).await.unwrap();
    h.cloud.remove("thing-a-1").expect("object existed");
    h.write_config("");

    let out = h.apply_ok().await;
    assert!(
        out.reconciled
            .iter()
            .any(|l| l.contains("confirmed deleted")),
        "{:?}",
        out.reconciled
    );
    assert!(h.state().await.resource("test_thing.a").is_none());
    assert_eq!(h.cloud.calls("Delete"), 0, "nothing left to delete");
    assert!(h.pending().await.is_empty());
}

#[tokio::test]
async fn pending_delete_of_a_deposed_object_finishes_the_delete() {
    let h = Harness::new(ONE).await;
    h.apply_ok().await;
    // A create_before_destroy replacement crashed after the new object was
    // recorded: the old one (not in state any more) still exists.
    let mut old = thing_value("a", Some(2.0), "a");
    if let Some(m) = old.as_map_mut() {
        m.insert("arn".into(), Value::from("arn:test:::thing-a-old"));
    }
    h.cloud.insert(
        "test_thing",
        "thing-a-old",
        old.clone(),
        "t",
        ENV,
        "test_thing.a",
    );
    let mut before = old;
    before
        .as_map_mut()
        .unwrap()
        .insert("id".into(), Value::from("thing-a-old"));
    let rec = intent(
        "delete",
        "terrace-deposed",
        serde_json::json!({ "provider": "test", "before": before.to_tagged_json() }),
    );
    h.engine.store.journal_record(&rec).await.unwrap();

    let out = h.apply_ok().await;
    assert!(
        out.reconciled.iter().any(|l| l.contains("deposed")),
        "{:?}",
        out.reconciled
    );
    assert!(
        !h.cloud.lock().objects.contains_key("thing-a-old"),
        "deposed object deleted"
    );
    assert_eq!(
        h.attrs("test_thing.a").await["id"],
        "thing-a-1",
        "the current object is untouched"
    );
    assert!(h.pending().await.is_empty());
}
