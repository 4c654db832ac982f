//! Every plan action, end to end: create, update, replace, create-before-
//! destroy replacement, orphan delete, data source read, no-op; unknown
//! values planned as "known after apply" and known after apply.

use crate::support::*;
use terrace_core::Value;
use terrace_engine::Action;

const BASE: &str = r#"
resource "test_thing" "a" {
  name = "a"
  size = 1
  rule {
    port = 80
  }
}

resource "test_thing" "b" {
  name        = "b"
  description = "after ${test_thing.a.id}"
}

output "b_description" {
  value = test_thing.b.description
}
"#;

#[tokio::test]
async fn create_plans_unknowns_and_apply_makes_them_known() {
    let h = Harness::new(BASE).await;
    let plan = h.plan().await;
    assert_eq!(action(&plan, "test_thing.a"), Action::Create);
    assert_eq!(action(&plan, "test_thing.b"), Action::Create);
    let a = change(&plan, "test_thing.a").after.clone().unwrap();
    assert_eq!(
        a.get("id"),
        Some(&Value::Unknown),
        "id is known after apply"
    );
    assert_eq!(
        a.get("zone"),
        Some(&Value::from("a")),
        "defaults are planned"
    );
    assert_eq!(
        a.get_path(&[
            terrace_core::PathStep::Key("rule".into()),
            terrace_core::PathStep::Index(0),
            terrace_core::PathStep::Key("protocol".into())
        ]),
        Some(&Value::from("tcp"))
    );
    let b = change(&plan, "test_thing.b").after.clone().unwrap();
    assert_eq!(
        b.get("description"),
        Some(&Value::Unknown),
        "a reference to an unknown id is unknown"
    );
    assert_eq!(plan.outputs["b_description"].action, Action::Create);
    assert!(
        !plan.outputs["b_description"]
            .after
            .as_ref()
            .unwrap()
            .is_wholly_known()
    );
    assert_eq!(plan.counts(), (2, 0, 0));

    let out = h.apply_ok().await;
    assert_eq!(out.report.added, 2);
    let a_id = h
        .cloud
        .one("a")
        .value
        .get("id")
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    assert_eq!(
        h.cloud.one("b").value.get("description"),
        Some(&Value::from(format!("after {a_id}")))
    );
    // Dependencies first: a is created before b.
    let events = h.cloud.events();
    assert_eq!(
        events,
        vec![
            format!("create test_thing.a {a_id}"),
            "create test_thing.b thing-b-1".to_string()
        ]
    );

    let state = h.state().await;
    assert_eq!(state.resources.len(), 2);
    assert_eq!(
        state.resource("test_thing.b").unwrap().attributes["description"],
        format!("after {a_id}")
    );
    assert_eq!(
        state.resource("test_thing.b").unwrap().dependencies,
        vec!["test_thing.a".to_string()]
    );
    assert_eq!(
        state.outputs["b_description"].value,
        serde_json::json!(format!("after {a_id}"))
    );
    assert!(h.pending().await.is_empty(), "every intent is finished");
}

#[tokio::test]
async fn unchanged_configuration_plans_no_op_and_apply_does_nothing() {
    let h = Harness::new(BASE).await;
    h.apply_ok().await;
    let serial = h.state().await.serial;
    h.cloud.clear_events();

    let plan = h.plan().await;
    assert!(
        plan.changes.iter().all(|c| c.action == Action::NoOp),
        "{}",
        summary(&plan)
    );
    assert!(!plan.has_changes());
    assert!(plan.drift.is_empty());
    let out = h.apply_ok().await;
    assert_eq!(
        (out.report.added, out.report.changed, out.report.destroyed),
        (0, 0, 0)
    );
    assert!(
        h.cloud.events().is_empty(),
        "no API writes: {:?}",
        h.cloud.events()
    );
    assert_eq!(h.state().await.serial, serial, "no state write for a no-op");
}

#[tokio::test]
async fn refresh_reads_every_type_in_one_batch() {
    let h = Harness::new(BASE).await;
    h.apply_ok().await;
    let before = h.cloud.calls("ReadBatch");
    h.plan().await;
    assert_eq!(
        h.cloud.calls("ReadBatch"),
        before + 1,
        "two test_thing objects refreshed with one call"
    );
}

#[tokio::test]
async fn update_in_place_keeps_the_object() {
    let h = Harness::new(BASE).await;
    h.apply_ok().await;
    let id = h.cloud.one("a").value.get("id").cloned().unwrap();
    h.write_config(&BASE.replace("size = 1", "size = 3"));
    let plan = h.plan().await;
    assert_eq!(action(&plan, "test_thing.a"), Action::Update);
    assert_eq!(
        action(&plan, "test_thing.b"),
        Action::NoOp,
        "b only uses a.id, which does not change"
    );
    let after = change(&plan, "test_thing.a").after.clone().unwrap();
    assert_eq!(after.get("id"), Some(&id), "an update keeps the id known");
    assert_eq!(after.get("size"), Some(&Value::from(3)));

    h.cloud.clear_events();
    let out = h.apply_ok().await;
    assert_eq!(out.report.changed, 1);
    assert_eq!(
        h.cloud.events(),
        vec![format!("update test_thing.a {}", id.as_str().unwrap())]
    );
    assert_eq!(h.cloud.one("a").value.get("size"), Some(&Value::from(3)));
    assert_eq!(h.attrs("test_thing.a").await["size"], serde_json::json!(3));
}

#[tokio::test]
async fn force_new_change_replaces_delete_then_create() {
    let h = Harness::new(BASE).await;
    h.apply_ok().await;
    h.write_config(&BASE.replace("size = 1", "size = 1\n  zone = \"b\""));
    let plan = h.plan().await;
    let a = change(&plan, "test_thing.a");
    assert_eq!(a.action, Action::DeleteThenCreate);
    assert_eq!(a.reason.as_deref(), Some("replace_because_cannot_update"));
    assert_eq!(
        a.replace_paths,
        vec![vec![terrace_core::PathStep::Key("zone".into())]]
    );
    assert_eq!(
        a.after.as_ref().unwrap().get("id"),
        Some(&Value::Unknown),
        "a replacement gets a new id"
    );
    // b's description follows a's new id: unknown now, an update.
    assert_eq!(action(&plan, "test_thing.b"), Action::Update);
    assert_eq!(
        change(&plan, "test_thing.b")
            .after
            .as_ref()
            .unwrap()
            .get("description"),
        Some(&Value::Unknown)
    );

    h.cloud.clear_events();
    let out = h.apply_ok().await;
    assert_eq!(
        (out.report.added, out.report.changed, out.report.destroyed),
        (1, 1, 1)
    );
    assert_eq!(
        h.cloud.events(),
        vec![
            "delete test_thing.a thing-a-1".to_string(),
            "create test_thing.a thing-a-2".to_string(),
            "update test_thing.b thing-b-1".to_string(),
        ]
    );
    assert_eq!(h.attrs("test_thing.a").await["id"], "thing-a-2");
    assert_eq!(h.attrs("test_thing.a").await["zone"], "b");
    assert_eq!(
        h.attrs("test_thing.b").await["description"],
        "after thing-a-2"
    );
    assert!(h.pending().await.is_empty());
}

#[tokio::test]
async fn create_before_destroy_creates_the_new_object_first() {
    let cbd = BASE.replace(
        "  rule {",
        "  lifecycle {\n    create_before_destroy = true\n  }\n  rule {",
    );
    let h = Harness::new(&cbd).await;
    h.apply_ok().await;
    h.write_config(&cbd.replace("size = 1", "size = 1\n  zone = \"c\""));
    let plan = h.plan().await;
    assert_eq!(action(&plan, "test_thing.a"), Action::CreateThenDelete);
    assert_eq!(plan.counts(), (1, 1, 1));

    h.cloud.clear_events();
    h.apply_ok().await;
    let events = h.cloud.events();
    let created = events
        .iter()
        .position(|e| e == "create test_thing.a thing-a-2")
        .expect("new object created");
    let deleted = events
        .iter()
        .position(|e| e == "delete test_thing.a thing-a-1")
        .expect("old object deleted");
    assert!(created < deleted, "create before destroy: {events:?}");
    assert_eq!(h.cloud.named("a").len(), 1);
    assert_eq!(h.attrs("test_thing.a").await["id"], "thing-a-2");
    assert!(
        h.pending().await.is_empty(),
        "the deposed object's delete intent is finished"
    );
}

#[tokio::test]
async fn resource_removed_from_configuration_is_deleted() {
    let h = Harness::new(BASE).await;
    h.apply_ok().await;
    // Drop b (and the output that refers to it).
    let only_a = BASE
        .split("resource \"test_thing\" \"b\"")
        .next()
        .unwrap()
        .to_string();
    h.write_config(&only_a);
    let plan = h.plan().await;
    let b = change(&plan, "test_thing.b");
    assert_eq!(b.action, Action::Delete);
    assert_eq!(
        b.reason.as_deref(),
        Some("delete_because_no_resource_config")
    );
    assert_eq!(b.after, None);
    assert_eq!(action(&plan, "test_thing.a"), Action::NoOp);
    assert_eq!(plan.outputs["b_description"].action, Action::Delete);

    h.cloud.clear_events();
    let out = h.apply_ok().await;
    assert_eq!(out.report.destroyed, 1);
    assert_eq!(
        h.cloud.events(),
        vec!["delete test_thing.b thing-b-1".to_string()]
    );
    let state = h.state().await;
    assert!(state.resource("test_thing.b").is_none());
    assert!(state.resource("test_thing.a").is_some());
    assert!(state.outputs.is_empty(), "the removed output leaves state");
}

#[tokio::test]
async fn data_source_with_unknown_configuration_is_read_during_apply() {
    let cfg = format!(
        "{BASE}\n{}",
        r#"
data "test_lookup" "known" {
  name = "static"
}

data "test_lookup" "later" {
  name = test_thing.a.id
}

resource "test_thing" "c" {
  name        = "c"
  description = "${data.test_lookup.later.value}/${data.test_lookup.known.value}"
}
"#
    );
    let h = Harness::new(&cfg).await;
    let plan = h.plan().await;
    let known = change(&plan, "data.test_lookup.known");
    assert_eq!(
        known.action,
        Action::NoOp,
        "known configuration: read while planning"
    );
    assert_eq!(
        known.after.as_ref().unwrap().get("value"),
        Some(&Value::from("value-of-static"))
    );
    let later = change(&plan, "data.test_lookup.later");
    assert_eq!(later.action, Action::Read);
    assert_eq!(
        later.reason.as_deref(),
        Some("read_because_dependency_pending")
    );
    assert_eq!(
        later.after.as_ref().unwrap().get("value"),
        Some(&Value::Unknown)
    );
    assert_eq!(
        change(&plan, "test_thing.c")
            .after
            .as_ref()
            .unwrap()
            .get("description"),
        Some(&Value::Unknown)
    );

    h.apply_ok().await;
    let a_id = h.attrs("test_thing.a").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        h.cloud.events().contains(&format!("read {a_id}")),
        "{:?}",
        h.cloud.events()
    );
    assert_eq!(
        h.attrs("test_thing.c").await["description"],
        format!("value-of-{a_id}/value-of-static")
    );
    assert_eq!(
        h.attrs("data.test_lookup.later").await["value"],
        format!("value-of-{a_id}")
    );

    // Once everything exists the data source is read while planning again.
    let plan = h.plan().await;
    assert_eq!(action(&plan, "data.test_lookup.later"), Action::NoOp);
    assert!(!plan.has_changes(), "{}", summary(&plan));
}

#[tokio::test]
async fn throttled_calls_are_retried() {
    let h = Harness::new(BASE).await;
    h.cloud.lock().throttle = 2;
    h.apply_ok().await;
    assert_eq!(h.cloud.count(), 2);
    assert!(
        h.cloud.calls("Create") >= 3,
        "the throttled create was repeated"
    );
}
