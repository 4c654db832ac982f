//! Root outputs at apply and `terraform_data`'s planned `output` (issue 23
//! items 8, 9 and 14), against the documented Terraform behaviour.

use crate::support::*;
use terrace_core::Value;

/// Item 8: an output over a block with no instances is known (`[]`, `0`) at
/// plan, so it must be stored at apply and the next plan has no changes.
#[tokio::test]
async fn outputs_over_blocks_without_instances_are_stored() {
    // https://developer.hashicorp.com/terraform/language/meta-arguments/count
    // (a block with count = 0 is an empty list: length(...) is 0).
    let config = |n: usize| {
        format!(
            r#"
resource "terraform_data" "z" {{
  count = {n}
  input = count.index
}}
output "r" {{
  value = length(terraform_data.z)
}}
output "ids" {{
  value = terraform_data.z[*].output
}}
"#
        )
    };
    let h = Harness::new(&config(0)).await;
    h.apply_ok().await;
    let state = h.state().await;
    assert_eq!(state.outputs["r"].value, serde_json::json!(0));
    assert_eq!(state.outputs["ids"].value, serde_json::json!([]));
    assert!(!h.plan().await.has_changes(), "outputs were stored");

    // From two instances to none: the deleted instances do not count.
    h.write_config(&config(2));
    h.apply_ok().await;
    assert_eq!(h.state().await.outputs["r"].value, serde_json::json!(2));
    h.write_config(&config(0));
    h.apply_ok().await;
    let state = h.state().await;
    assert_eq!(state.outputs["r"].value, serde_json::json!(0));
    assert_eq!(state.outputs["ids"].value, serde_json::json!([]));
    assert!(!h.plan().await.has_changes());
}

/// Item 9: an output that fails at apply fails the apply after the
/// resources are saved; the other outputs are still updated.
#[tokio::test]
async fn an_output_error_fails_the_apply_and_others_are_stored() {
    // https://developer.hashicorp.com/terraform/language/values/outputs
    // (outputs are evaluated during apply; an error in one is an error of
    // the run, and the resources already applied stay in state).
    let h = Harness::new(
        r#"
output "ok" {
  value = "v1"
}
"#,
    )
    .await;
    h.apply_ok().await;
    assert_eq!(h.state().await.outputs["ok"].value, "v1");
    // `id` is unknown at plan, so the error only shows at apply.
    h.write_config(
        r#"
resource "terraform_data" "u" {
  input = "x"
}
output "bad" {
  value = tonumber(terraform_data.u.id)
}
output "ok" {
  value = "v2"
}
"#,
    );
    let out = h.apply().await;
    let failures = &out.report.failures;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].0, "output.bad");
    assert!(failures[0].1.contains("cannot convert"), "{failures:?}");
    let state = h.state().await;
    assert!(
        state.resource("terraform_data.u").is_some(),
        "resource saved"
    );
    assert_eq!(state.outputs["ok"].value, "v2", "not stale");
    assert!(!state.outputs.contains_key("bad"));
}

/// Item 14: `terraform_data.output` is unknown at plan on create, so a
/// count over it cannot be planned.
#[tokio::test]
async fn terraform_data_output_is_unknown_when_planned() {
    // https://developer.hashicorp.com/terraform/language/resources/terraform-data
    // ("output … is known after apply"; count needs values known at plan:
    // https://developer.hashicorp.com/terraform/language/meta-arguments/count).
    let h = Harness::new(
        r#"
resource "terraform_data" "x" {
  input = ["a", "b"]
}
resource "terraform_data" "y" {
  count = length(terraform_data.x.output)
}
"#,
    )
    .await;
    let err = h.try_plan(refresh()).await.err().expect("plan must fail");
    let text = err.to_string();
    assert!(text.contains("count"), "{text}");

    let h = Harness::new(
        r#"
resource "terraform_data" "x" {
  input = ["a", "b"]
}
"#,
    )
    .await;
    let plan = h.plan().await;
    let after = change(&plan, "terraform_data.x").after.clone().unwrap();
    assert_eq!(after.get("output"), Some(&Value::Unknown));
    h.apply_ok().await;
    // Unchanged input: the prior output, known.
    let plan = h.plan().await;
    assert!(!plan.has_changes());
}
