//! Saved plans: applied exactly when current, refused when the state or
//! the configuration changed since.

use crate::support::*;
use terrace_engine::apply::{ApplyOptions, check_plan_current};
use terrace_engine::model::PlanFile;
use terrace_engine::{EngineError, Plan};

const CFG: &str = r#"
resource "test_thing" "a" {
  name = "a"
  size = 1
}
"#;

/// `plan -out FILE` and reading it back.
fn round_trip(plan: &Plan) -> Plan {
    let text = serde_json::to_string(&plan.to_file()).unwrap();
    let file: PlanFile = serde_json::from_str(&text).unwrap();
    Plan::from_file(file).unwrap()
}

async fn apply_saved(
    h: &Harness,
    plan: Plan,
) -> Result<terrace_engine::ops::ApplyOutcome, EngineError> {
    h.try_apply_full(
        refresh(),
        ApplyOptions::default(),
        Some(plan),
        &Recorder::default(),
    )
    .await
}

#[tokio::test]
async fn current_saved_plan_applies() {
    let h = Harness::new(CFG).await;
    let plan = round_trip(&h.plan().await);
    assert_eq!(plan, h.plan().await, "the file holds the whole plan");
    let out = apply_saved(&h, plan).await.expect("apply saved plan");
    assert_eq!(out.report.added, 1);
    assert_eq!(h.cloud.count(), 1);
}

#[tokio::test]
async fn saved_plan_is_refused_after_the_state_changed() {
    let h = Harness::new(CFG).await;
    h.apply_ok().await;
    h.write_config(&CFG.replace("size = 1", "size = 2"));
    let saved = round_trip(&h.plan().await);

    // Someone else applies in between.
    h.write_config(&CFG.replace("size = 1", "size = 3"));
    h.apply_ok().await;
    h.write_config(&CFG.replace("size = 1", "size = 2"));

    let env = h.load().unwrap();
    let current = h.engine.store.read(ENV).await.unwrap();
    let err = check_plan_current(&saved, &env, current.as_ref()).expect_err("stale");
    assert!(matches!(err, EngineError::StalePlan(_)), "{err}");
    assert!(err.to_string().contains("state of 'dev' changed"), "{err}");

    let updates = h.cloud.calls("Update");
    let err = apply_saved(&h, saved)
        .await
        .err()
        .expect("apply refuses a stale plan");
    assert!(matches!(err, EngineError::StalePlan(_)), "{err}");
    assert_eq!(h.cloud.calls("Update"), updates, "nothing applied");
    assert_eq!(
        h.cloud.one("a").value.get("size"),
        Some(&terrace_core::Value::from(3))
    );
    assert!(
        h.engine.store.current_lock(ENV).await.unwrap().is_none(),
        "lock released after the refusal"
    );
}

#[tokio::test]
async fn saved_plan_is_refused_after_the_configuration_changed() {
    let h = Harness::new(CFG).await;
    h.apply_ok().await;
    h.write_config(&CFG.replace("size = 1", "size = 2"));
    let saved = round_trip(&h.plan().await);
    h.write_config(&CFG.replace("size = 1", "size = 5"));

    let env = h.load().unwrap();
    let current = h.engine.store.read(ENV).await.unwrap();
    let err = check_plan_current(&saved, &env, current.as_ref()).expect_err("stale");
    assert!(
        err.to_string().contains("configuration of 'dev' changed"),
        "{err}"
    );
    let err = apply_saved(&h, saved).await.err().expect("refused");
    assert!(matches!(err, EngineError::StalePlan(_)), "{err}");
    assert_eq!(h.cloud.calls("Update"), 0);
}

#[tokio::test]
async fn saved_plan_of_another_environment_is_refused() {
    let h = Harness::new(CFG).await;
    let mut saved = h.plan().await;
    saved.environment = "prod".into();
    let env = h.load().unwrap();
    let err = check_plan_current(&saved, &env, None).expect_err("other environment");
    assert!(err.to_string().contains("'prod'"), "{err}");
}
