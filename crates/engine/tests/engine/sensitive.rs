//! No secret reaches the plan JSON.

use crate::support::*;
use terrace_engine::planjson;

const SECRET: &str = "hunter2-very-secret";

fn cfg(size: u32) -> String {
    format!(
        r#"
variable "secret" {{
  type      = string
  sensitive = true
  default   = "{SECRET}"
}}

resource "test_thing" "a" {{
  name        = "a"
  size        = {size}
  description = "prefix-${{var.secret}}"
  password    = "literal-password-value"
  tags = {{
    token = var.secret
    team  = "core"
  }}
}}

output "desc" {{
  value     = test_thing.a.description
  sensitive = true
}}
"#
    )
}

fn assert_no_secrets(doc: &serde_json::Value) {
    let text = serde_json::to_string(doc).unwrap();
    assert!(
        !text.contains(SECRET),
        "the sensitive variable leaked into plan JSON: {text}"
    );
    assert!(
        !text.contains("literal-password-value"),
        "a sensitive attribute leaked into plan JSON: {text}"
    );
}

#[tokio::test]
async fn sensitive_values_are_null_and_marked_in_plan_json() {
    let h = Harness::new(&cfg(1)).await;
    let plan = h.plan().await;
    let doc = planjson::plan_json(&plan, None);
    assert_no_secrets(&doc);
    let rc = &doc["resource_changes"][0];
    assert_eq!(rc["address"], "test_thing.a");
    let change = &rc["change"];
    assert_eq!(change["after"]["description"], serde_json::Value::Null);
    assert_eq!(change["after_sensitive"]["description"], true);
    assert_eq!(change["after"]["password"], serde_json::Value::Null);
    assert_eq!(change["after_sensitive"]["password"], true);
    assert_eq!(
        change["after"]["tags"]["team"], "core",
        "non-sensitive neighbours stay visible"
    );
    assert_eq!(change["after_sensitive"]["tags"]["token"], true);
    assert_eq!(change["after"]["name"], "a");
    assert_eq!(doc["variables"]["secret"]["value"], serde_json::Value::Null);
    assert_eq!(doc["output_changes"]["desc"]["after_sensitive"], true);
    let planned = &doc["planned_values"]["root_module"]["resources"][0];
    assert_eq!(planned["values"]["description"], serde_json::Value::Null);
    assert_eq!(planned["sensitive_values"]["description"], true);
}

#[tokio::test]
async fn sensitive_values_stay_redacted_after_a_round_trip_through_state() {
    let h = Harness::new(&cfg(1)).await;
    h.apply_ok().await;
    // The cloud got the real values.
    assert_eq!(
        h.cloud.one("a").value.get("description"),
        Some(&terrace_core::Value::from(format!("prefix-{SECRET}")))
    );

    h.write_config(&cfg(2));
    let plan = h.plan().await;
    assert_eq!(
        action(&plan, "test_thing.a"),
        terrace_engine::Action::Update
    );
    let state = h.state().await;
    let doc = planjson::plan_json(&plan, Some(&state));
    assert_no_secrets(&doc);
    let change = &doc["resource_changes"][0]["change"];
    assert_eq!(change["before"]["description"], serde_json::Value::Null);
    assert_eq!(change["before_sensitive"]["description"], true);
    assert_eq!(change["after_sensitive"]["description"], true);
    assert_eq!(change["before"]["size"], 1.0);
    assert_eq!(change["after"]["size"], 2.0);
    let prior = &doc["prior_state"]["values"]["root_module"]["resources"][0];
    assert_eq!(prior["values"]["description"], serde_json::Value::Null);
    assert_eq!(prior["sensitive_values"]["description"], true);
}
