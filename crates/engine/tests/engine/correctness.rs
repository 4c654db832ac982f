//! Issue 22 regressions: apply does what the plan said, imports cannot make
//! two addresses own one object, vanished objects leave state, a lost lock
//! stops the run, failed creates orphan nothing, and replacements delete the
//! deposed object only after their dependents moved.

use crate::support::*;
use terrace_core::Value;
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
