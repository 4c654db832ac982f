//! Snapshots of a plan with every action: a compact text summary and the
//! Terraform plan JSON. Update with `INSTA_UPDATE=always cargo test -p
//! terrace-engine` and review the diff in `tests/snapshots/`.

use crate::support::*;
use terrace_engine::{Action, Plan, planjson};

const V1: &str = r#"
resource "test_thing" "keep" {
  name = "keep"
}

resource "test_thing" "upd" {
  name = "upd"
  size = 1
}

resource "test_thing" "rep" {
  name = "rep"
  zone = "a"
}

resource "test_thing" "cbd" {
  name = "cbd"
  zone = "a"
  lifecycle {
    create_before_destroy = true
  }
}

resource "test_thing" "gone" {
  name = "gone"
}
"#;

const V2: &str = r#"
resource "test_thing" "keep" {
  name = "keep"
}

resource "test_thing" "upd" {
  name = "upd"
  size = 2
}

resource "test_thing" "rep" {
  name = "rep"
  zone = "b"
}

resource "test_thing" "cbd" {
  name = "cbd"
  zone = "b"
  lifecycle {
    create_before_destroy = true
  }
}

resource "test_thing" "new" {
  name        = "new"
  description = test_thing.keep.id
  rule {
    port = 443
  }
}

data "test_lookup" "later" {
  name = test_thing.new.id
}

output "new_arn" {
  value = test_thing.new.arn
}

output "lookup" {
  value = data.test_lookup.later.value
}
"#;

async fn every_action_plan() -> (Harness, Plan) {
    let h = Harness::new(V1).await;
    h.apply_ok().await;
    h.write_config(V2);
    let plan = h.plan().await;
    (h, plan)
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s
}

#[tokio::test]
async fn every_action_summary() {
    let (_h, plan) = every_action_plan().await;
    let mut actions: Vec<Action> = plan.changes.iter().map(|c| c.action).collect();
    actions.sort();
    actions.dedup();
    assert_eq!(
        actions,
        vec![
            Action::NoOp,
            Action::Create,
            Action::Update,
            Action::DeleteThenCreate,
            Action::CreateThenDelete,
            Action::Delete,
            Action::Read
        ],
        "the fixture covers every action"
    );
    settings().bind(|| insta::assert_snapshot!("every_action_summary", summary(&plan)));
}

#[tokio::test]
async fn every_action_plan_json() {
    let (h, plan) = every_action_plan().await;
    let state = h.state().await;
    let mut doc = planjson::plan_json(&plan, Some(&state));
    assert!(doc["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    doc["timestamp"] = serde_json::json!("[timestamp]");
    let text = serde_json::to_string_pretty(&doc).unwrap();
    settings().bind(|| insta::assert_snapshot!("every_action_plan_json", text));
}
