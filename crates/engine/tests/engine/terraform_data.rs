//! The built-in `terraform_data` resource (issue 10).

use crate::support::*;
use terrace_core::Value;
use terrace_engine::{Action, planjson};

fn data(input: &str, triggers: &str) -> String {
    format!(
        r#"
resource "terraform_data" "d" {{
  input            = {input}
  triggers_replace = {triggers}
}}

output "d_output" {{
  value = terraform_data.d.output
}}
"#
    )
}

#[tokio::test]
async fn create_id_known_after_apply_and_output_follows_input() {
    let h = Harness::new(&data(r#"{ greeting = "hello", n = 1 }"#, "null")).await;
    let plan = h.plan().await;
    let c = change(&plan, "terraform_data.d");
    assert_eq!(c.action, Action::Create);
    assert_eq!(c.provider, "terraform");
    let after = c.after.as_ref().unwrap();
    assert_eq!(after.get("id"), Some(&Value::Unknown));
    // Terraform's provider plans `output` unknown on create (issue 23 item 14).
    assert_eq!(
        after.get("output"),
        Some(&Value::Unknown),
        "output is known after apply"
    );

    h.apply_ok().await;
    let attrs = h.attrs("terraform_data.d").await;
    assert!(
        attrs["id"].as_str().is_some_and(|s| !s.is_empty()),
        "{attrs}"
    );
    assert_eq!(
        attrs["output"],
        serde_json::json!({ "greeting": "hello", "n": 1 })
    );
    assert_eq!(attrs["output"], attrs["input"]);
    assert_eq!(h.state().await.outputs["d_output"].value, attrs["input"]);
    assert!(!h.plan().await.has_changes(), "terraform_data never drifts");
    assert_eq!(h.cloud.count(), 0, "no cloud object");
}

#[tokio::test]
async fn input_change_updates_in_place_and_output_follows() {
    let h = Harness::new(&data(r#""v1""#, "null")).await;
    h.apply_ok().await;
    let id = h.attrs("terraform_data.d").await["id"].clone();
    h.write_config(&data(r#""v2""#, "null"));
    let plan = h.plan().await;
    let c = change(&plan, "terraform_data.d");
    assert_eq!(c.action, Action::Update);
    // A changed input makes the output unknown until apply, as in Terraform.
    assert_eq!(
        c.after.as_ref().unwrap().get("output"),
        Some(&Value::Unknown)
    );
    h.apply_ok().await;
    let attrs = h.attrs("terraform_data.d").await;
    assert_eq!(attrs["id"], id, "same object");
    assert_eq!(attrs["output"], "v2");
    assert_eq!(h.state().await.outputs["d_output"].value, "v2");
}

#[tokio::test]
async fn triggers_replace_change_replaces() {
    let h = Harness::new(&data(r#""same""#, r#"["r1"]"#)).await;
    h.apply_ok().await;
    let id = h.attrs("terraform_data.d").await["id"].clone();
    h.write_config(&data(r#""same""#, r#"["r2"]"#));
    let plan = h.plan().await;
    let c = change(&plan, "terraform_data.d");
    assert_eq!(c.action, Action::DeleteThenCreate);
    assert_eq!(
        c.replace_paths,
        vec![vec![terrace_core::PathStep::Key("triggers_replace".into())]]
    );
    assert_eq!(c.after.as_ref().unwrap().get("id"), Some(&Value::Unknown));
    h.apply_ok().await;
    assert_ne!(h.attrs("terraform_data.d").await["id"], id, "a new object");
}

const TRIGGERED: &str = r#"
resource "test_thing" "a" {
  name = "a"
  size = SIZE
  zone = "ZONE"
}

resource "terraform_data" "revision" {
  input = "REV"
}

resource "test_thing" "follower" {
  name = "follower"
  lifecycle {
    replace_triggered_by = [test_thing.a]
  }
}

resource "test_thing" "on_revision" {
  name = "on-revision"
  lifecycle {
    replace_triggered_by = [terraform_data.revision]
  }
}
"#;

fn triggered(size: u32, zone: &str, rev: &str) -> String {
    TRIGGERED
        .replace("SIZE", &size.to_string())
        .replace("ZONE", zone)
        .replace("REV", rev)
}

#[tokio::test]
async fn replace_triggered_by_a_replaced_resource_replaces() {
    let h = Harness::new(&triggered(1, "a", "r1")).await;
    h.apply_ok().await;
    h.write_config(&triggered(1, "b", "r1"));
    let plan = h.plan().await;
    assert_eq!(action(&plan, "test_thing.a"), Action::DeleteThenCreate);
    let f = change(&plan, "test_thing.follower");
    assert_eq!(f.action, Action::DeleteThenCreate, "{}", summary(&plan));
    assert_eq!(f.reason.as_deref(), Some("replace_by_triggers"));
    assert_eq!(action(&plan, "test_thing.on_revision"), Action::NoOp);
    h.apply_ok().await;
    assert_eq!(
        h.attrs("test_thing.follower").await["id"],
        "thing-follower-2"
    );
    assert!(!h.plan().await.has_changes(), "the trigger fires once");
}

#[tokio::test]
async fn replace_triggered_by_an_updated_resource_replaces() {
    // Terraform's rule: any planned change (update or replace) of the
    // referenced resource triggers — the usual `terraform_data` revision pattern.
    let h = Harness::new(&triggered(1, "a", "r1")).await;
    h.apply_ok().await;

    h.write_config(&triggered(1, "a", "r2"));
    let plan = h.plan().await;
    assert_eq!(action(&plan, "terraform_data.revision"), Action::Update);
    let c = change(&plan, "test_thing.on_revision");
    assert_eq!(c.action, Action::DeleteThenCreate, "{}", summary(&plan));
    assert_eq!(c.reason.as_deref(), Some("replace_by_triggers"));
    assert_eq!(action(&plan, "test_thing.follower"), Action::NoOp);
    h.apply_ok().await;
    assert_eq!(
        h.attrs("test_thing.on_revision").await["id"],
        "thing-on-revision-2"
    );

    h.write_config(&triggered(2, "a", "r2"));
    let plan = h.plan().await;
    assert_eq!(action(&plan, "test_thing.a"), Action::Update);
    assert_eq!(
        action(&plan, "test_thing.follower"),
        Action::DeleteThenCreate,
        "{}",
        summary(&plan)
    );
    assert_eq!(action(&plan, "test_thing.on_revision"), Action::NoOp);
}

#[tokio::test]
async fn input_from_a_resource_being_created_is_unknown_in_the_plan() {
    let cfg = r#"
resource "test_thing" "a" {
  name = "a"
}
resource "terraform_data" "d" {
  input = test_thing.a.arn
}
"#;
    let h = Harness::new(cfg).await;
    let plan = h.plan().await;
    let after = change(&plan, "terraform_data.d").after.clone().unwrap();
    assert_eq!(after.get("input"), Some(&Value::Unknown));
    assert_eq!(
        after.get("output"),
        Some(&Value::Unknown),
        "unknown input → unknown output"
    );
    h.apply_ok().await;
    let attrs = h.attrs("terraform_data.d").await;
    assert_eq!(attrs["output"], "arn:test:::thing-a-1");
}

#[tokio::test]
async fn import_is_refused_with_a_clear_error() {
    let cfg = r#"
resource "terraform_data" "d" {
  input = "x"
}
import {
  to = terraform_data.d
  id = "anything"
}
"#;
    let h = Harness::new(cfg).await;
    let err = h.try_plan(refresh()).await.err().expect("import refused");
    let text = err.to_string();
    assert!(
        text.contains("terraform_data.d") && text.contains("no remote object to import"),
        "{text}"
    );
}

#[tokio::test]
async fn appears_in_plan_json() {
    let h = Harness::new(&data(r#""hello""#, r#"["t"]"#)).await;
    let plan = h.plan().await;
    let doc = planjson::plan_json(&plan, None);
    let rc = doc["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "terraform_data.d")
        .unwrap();
    assert_eq!(rc["type"], "terraform_data");
    assert_eq!(rc["mode"], "managed");
    assert_eq!(rc["provider_name"], "terraform.io/builtin/terraform");
    assert_eq!(rc["change"]["actions"], serde_json::json!(["create"]));
    assert_eq!(rc["change"]["after"]["input"], "hello");
    assert_eq!(rc["change"]["after_unknown"]["output"], true);
    assert!(
        rc["change"]["after"].get("id").is_none(),
        "unknown values are omitted"
    );
    assert_eq!(rc["change"]["after_unknown"]["id"], true);
    assert_eq!(
        doc["configuration"]["provider_config"]["terraform"]["full_name"],
        "terraform.io/builtin/terraform"
    );

    h.apply_ok().await;
    h.write_config(&data(r#""hello""#, r#"["u"]"#));
    let (_, plan, _) = h.try_plan(refresh()).await.unwrap();
    let state = h.state().await;
    let doc = planjson::plan_json(&plan, Some(&state));
    let rc = doc["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "terraform_data.d")
        .unwrap();
    assert_eq!(
        rc["change"]["actions"],
        serde_json::json!(["delete", "create"])
    );
    assert_eq!(
        rc["change"]["replace_paths"],
        serde_json::json!([["triggers_replace"]])
    );
    assert_eq!(rc["action_reason"], "replace_because_cannot_update");
    let prior = &doc["prior_state"]["values"]["root_module"]["resources"][0];
    assert_eq!(prior["address"], "terraform_data.d");
    assert_eq!(prior["values"]["output"], "hello");
}
