//! Issue 22 regressions: apply does what the plan said, imports cannot make
//! two addresses own one object, vanished objects leave state, a lost lock
//! stops the run, failed creates orphan nothing, and replacements delete the
//! deposed object only after their dependents moved.

use crate::support::*;
use terrace_core::Value;
use terrace_engine::Action;
use terrace_engine::ops::destroy_options;

fn counted(n: u32) -> String {
    format!(
        r#"
resource "test_thing" "a" {{
  count = {n}
  name  = "a${{count.index}}"
}}

resource "test_thing" "b" {{
  name        = "b"
  description = join(",", test_thing.a[*].name)
}}
"#
    )
}

#[tokio::test]
async fn apply_does_not_see_instances_it_is_about_to_delete() {
    let h = Harness::new(&counted(3)).await;
    h.apply_ok().await;
    assert_eq!(h.attrs("test_thing.b").await["description"], "a0,a1,a2");

    h.write_config(&counted(2));
    let plan = h.plan().await;
    let b = change(&plan, "test_thing.b");
    assert_eq!(
        b.after.as_ref().and_then(|v| v.get("description")).cloned(),
        Some(Value::from("a0,a1")),
        "{}",
        summary(&plan)
    );
    h.apply_ok().await;
    assert_eq!(
        h.attrs("test_thing.b").await["description"],
        "a0,a1",
        "apply stored what the plan said"
    );
    assert!(h.state().await.resource("test_thing.a[2]").is_none());
    let again = h.plan().await;
    assert!(!again.has_changes(), "{}", summary(&again));
}

#[tokio::test]
async fn importing_an_object_another_address_manages_is_refused() {
    let a = "resource \"test_thing\" \"a\" {\n  name = \"a\"\n}\n";
    let h = Harness::new(a).await;
    h.apply_ok().await;
    let id = h.attrs("test_thing.a").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.write_config(&format!(
        "{a}\nresource \"test_thing\" \"b\" {{\n  name = \"a\"\n}}\n\nimport {{\n  to = test_thing.b\n  id = \"{id}\"\n}}\n"
    ));
    let err = h
        .try_plan(refresh())
        .await
        .err()
        .expect("a second owner is refused");
    let text = err.to_string();
    assert!(
        text.contains("test_thing.a") && text.contains("test_thing.b") && text.contains(&id),
        "{text}"
    );
    assert!(text.contains("main.tf:"), "points at the import: {text}");
    // Nothing was written: a stays the only owner.
    let state = h.state().await;
    assert!(state.resource("test_thing.b").is_none());
}

#[tokio::test]
async fn two_imports_of_one_object_are_refused() {
    let h = Harness::new("").await;
    h.cloud.insert(
        "test_thing",
        "legacy-1",
        thing_value("legacy", None, "a"),
        "by-hand",
        "",
        "",
    );
    h.write_config(
        r#"
resource "test_thing" "x" {
  name = "legacy"
}
resource "test_thing" "y" {
  name = "legacy"
}
import {
  to = test_thing.x
  id = "legacy-1"
}
import {
  to = test_thing.y
  id = "legacy-1"
}
"#,
    );
    let err = h.try_plan(refresh()).await.err().expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("test_thing.x") && text.contains("test_thing.y"),
        "{text}"
    );
}

#[tokio::test]
async fn destroy_drops_records_of_objects_deleted_outside_terrace() {
    let two = "resource \"test_thing\" \"a\" {\n  name = \"a\"\n}\nresource \"test_thing\" \"b\" {\n  name = \"b\"\n}\n";
    let h = Harness::new(two).await;
    h.apply_ok().await;
    h.cloud.remove("thing-a-1").expect("existed");

    let plan = h.try_plan(destroy_options(vec![], true)).await.unwrap().1;
    assert!(plan.has_changes());
    assert_eq!(plan.gone(), vec!["test_thing.a".to_string()]);
    let out = h.try_apply(destroy_options(vec![], true)).await.unwrap();
    assert_eq!(out.report.destroyed, 1, "only b was deleted");
    assert_eq!(out.report.forgotten, vec!["test_thing.a".to_string()]);
    let state = h.state().await;
    assert!(state.resources.is_empty(), "{:?}", state.resources);
}

#[tokio::test]
async fn apply_drops_records_of_removed_resources_whose_objects_are_gone() {
    let two = "resource \"test_thing\" \"a\" {\n  name = \"a\"\n}\nresource \"test_thing\" \"b\" {\n  name = \"b\"\n}\n";
    let h = Harness::new(two).await;
    h.apply_ok().await;
    h.cloud.remove("thing-b-1").expect("existed");
    // b leaves the configuration after its object was deleted by hand.
    h.write_config("resource \"test_thing\" \"a\" {\n  name = \"a\"\n}\n");
    let plan = h.plan().await;
    assert!(plan.has_changes(), "forgetting b is a change");
    let out = h.apply_ok().await;
    assert_eq!(out.report.forgotten, vec!["test_thing.b".to_string()]);
    assert!(h.state().await.resource("test_thing.b").is_none());
    assert!(!h.plan().await.has_changes());
}

fn things(n: usize) -> String {
    (0..n)
        .map(|i| format!("resource \"test_thing\" \"t{i}\" {{\n  name = \"t{i}\"\n}}\n"))
        .collect()
}

#[tokio::test]
async fn a_lost_lock_stops_new_cloud_calls_at_once() {
    let mut h = Harness::new(&things(6)).await;
    // A short lease, so the heartbeat notices the loss within ~100 ms.
    let db = h.root.path().join("state").join("t.db");
    h.engine.store = terrace_state::open_store(
        &format!("sqlite:{}", db.display()),
        h.root.path(),
        terrace_state::StoreOptions {
            lock_lease: std::time::Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    h.cloud.lock().create_delay = std::time::Duration::from_millis(400);
    let opts = terrace_engine::apply::ApplyOptions {
        parallelism: 1,
        ..Default::default()
    };
    let recorder = Recorder::default();
    let apply = h.try_apply_full(refresh(), opts, None, &recorder);
    let unlock = async {
        // While the first create is in flight, another user force-unlocks.
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            if h.cloud.calls("Create") > 0 {
                break;
            }
        }
        let lock = h
            .engine
            .store
            .current_lock(ENV)
            .await
            .unwrap()
            .expect("held");
        h.engine.store.force_unlock(ENV, &lock.id).await.unwrap();
    };
    let (result, ()) = tokio::join!(apply, unlock);
    let creates = h.cloud.calls("Create");
    assert!(
        creates <= 1,
        "only the create in flight when the lock was lost ran, not {creates}: {:?}",
        h.cloud.events()
    );
    let text = match &result {
        Ok(out) => format!("{:?}", out.report.failures),
        Err(e) => e.to_string(),
    };
    assert!(
        result.is_err() || !result.as_ref().unwrap().report.failures.is_empty(),
        "the run reports the lost lock"
    );
    assert!(
        text.to_lowercase().contains("lock") || text.contains("lease"),
        "{text}"
    );
}

const P: &str = "resource \"test_thing\" \"p\" {\n  name = \"p\"\n  size = 1\n}\n";

#[tokio::test]
async fn a_create_that_fails_after_making_its_object_keeps_it_in_state() {
    let h = Harness::new(P).await;
    h.cloud.lock().partial_create.insert("p".into());
    let out = h.apply().await;
    assert_eq!(out.report.failures.len(), 1, "{:?}", out.report.failures);
    let msg = &out.report.failures[0].1;
    assert!(
        msg.contains("second call") && msg.contains("kept in state"),
        "{msg}"
    );
    assert_eq!(
        h.attrs("test_thing.p").await["id"],
        "thing-p-1",
        "the object that exists is in state, not orphaned"
    );
    assert!(h.pending().await.is_empty(), "its intent is finished");

    // The next apply does not create a second object.
    h.cloud.lock().partial_create.clear();
    h.apply_ok().await;
    assert_eq!(h.cloud.named("p").len(), 1, "{:?}", h.cloud.events());
    assert_eq!(h.cloud.calls("Create"), 1);
    assert!(!h.plan().await.has_changes());
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_stays_pending_and_is_looked_up_before_creating_again() {
    let h = Harness::new(P).await;
    h.cloud.lock().unconfirmed_create.insert("p".into());
    let out = h.apply().await;
    assert_eq!(out.report.failures.len(), 1);
    assert!(
        out.report.failures[0].1.contains("may exist"),
        "{:?}",
        out.report.failures
    );
    assert_eq!(h.pending().await.len(), 1, "the intent stays pending");
    assert!(
        h.cloud.calls("FindCreated") >= 1,
        "looked for the object at once"
    );

    h.cloud.lock().unconfirmed_create.clear();
    let out = h.apply_ok().await;
    assert!(
        out.reconciled.iter().any(|l| l.contains("left nothing")),
        "{:?}",
        out.reconciled
    );
    assert_eq!(h.cloud.named("p").len(), 1);
    assert!(h.pending().await.is_empty());
}

const CBD: &str = r#"
variable "zone" {
  default = "a"
}
resource "test_thing" "a" {
  name = "a"
  zone = var.zone
  lifecycle {
    create_before_destroy = true
  }
}
resource "test_thing" "b" {
  name        = "b"
  description = test_thing.a.id
}
"#;

fn quick_deletes() -> terrace_engine::apply::ApplyOptions {
    terrace_engine::apply::ApplyOptions {
        delete_retry_for: std::time::Duration::from_millis(700),
        ..Default::default()
    }
}

#[tokio::test]
async fn create_before_destroy_deletes_the_old_object_after_dependents_moved() {
    let h = Harness::new(CBD).await;
    h.apply_ok().await;
    h.write_config(&CBD.replace("default = \"a\"", "default = \"c\""));
    let plan = h.plan().await;
    assert_eq!(action(&plan, "test_thing.a"), Action::CreateThenDelete);
    assert_eq!(action(&plan, "test_thing.b"), Action::Update);
    h.cloud.clear_events();
    h.apply_ok().await;
    let events = h.cloud.events();
    let pos = |e: &str| {
        events
            .iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("no {e:?} in {events:?}"))
    };
    assert!(
        pos("create test_thing.a thing-a-2") < pos("update test_thing.b thing-b-1"),
        "{events:?}"
    );
    assert!(
        pos("update test_thing.b thing-b-1") < pos("delete test_thing.a thing-a-1"),
        "the old object is deleted after its dependent moved: {events:?}"
    );
    assert_eq!(h.attrs("test_thing.b").await["description"], "thing-a-2");
    assert!(h.pending().await.is_empty());
}

#[tokio::test]
async fn a_deposed_object_that_cannot_be_deleted_yet_does_not_block_later_runs() {
    let h = Harness::new(CBD).await;
    h.apply_ok().await;
    h.cloud.lock().delete_conflicts.insert("a".into(), 1_000);
    h.write_config(&CBD.replace("default = \"a\"", "default = \"c\""));
    let out = h
        .try_apply_full(refresh(), quick_deletes(), None, &Recorder::default())
        .await
        .expect("apply runs");
    assert_eq!(out.report.failures.len(), 1, "{:?}", out.report.failures);
    assert!(
        out.report.failures[0].1.contains("deposed"),
        "{:?}",
        out.report.failures
    );
    assert_eq!(h.attrs("test_thing.a").await["id"], "thing-a-2");
    assert_eq!(
        h.pending().await.len(),
        1,
        "the deposed object stays recorded"
    );

    // Still in use: later runs go on (no "deleting deposed object" abort).
    h.write_config(&CBD.replace("default = \"a\"", "default = \"c\"").replace(
        "name        = \"b\"",
        "name        = \"b\"\n  size        = 3",
    ));
    let out = h
        .try_apply_full(refresh(), quick_deletes(), None, &Recorder::default())
        .await
        .expect("a deposed object does not block the environment");
    assert!(
        out.reconciled
            .iter()
            .any(|l| l.contains("cannot be deleted yet")),
        "{:?}",
        out.reconciled
    );
    assert_eq!(h.attrs("test_thing.b").await["size"], 3.0);

    // Once free, the next run deletes it.
    h.cloud.lock().delete_conflicts.clear();
    h.apply_ok().await;
    assert!(!h.cloud.lock().objects.contains_key("thing-a-1"));
    assert!(h.pending().await.is_empty());
    assert_eq!(h.cloud.named("a").len(), 1);
}

#[tokio::test]
async fn crash_recovery_during_a_replacement_never_takes_the_old_object_for_the_new() {
    let h = Harness::new(P).await;
    h.apply_ok().await;
    h.cloud.lock().find_created_by_address = true;
    let record = h.state().await.resource("test_thing.p").unwrap().clone();
    let before = terrace_engine::values::state_value(&record);
    // Killed during a create_before_destroy replacement, after the new
    // object was made and before state recorded it.
    let mk = |action: &str, token: &str, detail: serde_json::Value| terrace_state::Intent {
        id: uuid::Uuid::new_v4().to_string(),
        env: ENV.into(),
        address: "test_thing.p".into(),
        action: action.into(),
        idempotency_token: token.into(),
        resource_type: "test_thing".into(),
        recorded_at: chrono::Utc::now(),
        status: terrace_state::IntentStatus::Pending,
        detail,
    };
    h.engine
        .store
        .journal_record(&mk(
            "delete",
            "terrace-old",
            serde_json::json!({ "provider": "test", "before": before.to_tagged_json(), "deposed": true }),
        ))
        .await
        .unwrap();
    h.engine
        .store
        .journal_record(&mk(
            "create",
            "terrace-new",
            serde_json::json!({ "provider": "test", "dependencies": [] }),
        ))
        .await
        .unwrap();
    h.cloud.insert(
        "test_thing",
        "thing-p-new",
        thing_value("p", Some(1.0), "a"),
        "terrace-new",
        ENV,
        "test_thing.p",
    );

    let out = h.apply_ok().await;
    let state_id = h.attrs("test_thing.p").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let left: Vec<String> = h
        .cloud
        .named("p")
        .iter()
        .map(|o| {
            o.value
                .get("id")
                .and_then(Value::as_str)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        left,
        vec![state_id],
        "exactly the object state holds is left, nothing orphaned: {:?}",
        out.reconciled
    );
    assert!(h.pending().await.is_empty());
}
