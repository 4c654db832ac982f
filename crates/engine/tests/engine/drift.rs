//! Drift detection against the fake cloud: changed, missing and unmanaged
//! objects, with secrets redacted.

use crate::support::*;
use terrace_core::Value;
use terrace_engine::drift::{DriftCategory, DriftOptions, detect_drift, parse_ignore_file};

const CFG: &str = r#"
resource "test_thing" "a" {
  name     = "a"
  size     = 1
  password = "initial-password"
}

resource "test_thing" "b" {
  name = "b"
}
"#;

#[tokio::test]
async fn changed_missing_and_unmanaged_objects_are_reported() {
    let h = Harness::new(CFG).await;
    h.apply_ok().await;
    {
        let mut g = h.cloud.lock();
        let a = g.objects.get_mut("thing-a-1").unwrap();
        let m = a.value.as_map_mut().unwrap();
        m.insert("size".into(), Value::from(7));
        m.insert("password".into(), Value::from("changed-by-hand"));
    }
    h.cloud.remove("thing-b-1").unwrap();
    h.cloud.insert(
        "test_thing",
        "stray-1",
        thing_value("stray", None, "a"),
        "t",
        ENV,
        "test_thing.stray",
    );
    h.cloud.insert(
        "test_thing",
        "foreign-1",
        thing_value("foreign", None, "a"),
        "t",
        "prod",
        "test_thing.x",
    );

    let env = h.load().unwrap();
    let report = detect_drift(&h.engine, &env, &DriftOptions::default())
        .await
        .unwrap();
    assert!(report.has_drift());
    let by_cat = |c: DriftCategory| {
        report
            .drift
            .iter()
            .filter(|d| d.category == c)
            .map(|d| d.address.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(by_cat(DriftCategory::Changed), vec!["test_thing.a"]);
    assert_eq!(by_cat(DriftCategory::Missing), vec!["test_thing.b"]);
    assert_eq!(
        by_cat(DriftCategory::Unmanaged),
        vec!["test_thing.unmanaged[\"stray-1\"]"],
        "only this environment's objects"
    );
    let a = report
        .drift
        .iter()
        .find(|d| d.address == "test_thing.a")
        .unwrap();
    let paths: Vec<&str> = a.attributes.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, vec!["password", "size"]);
    let text = serde_json::to_string(
        &report
            .drift
            .iter()
            .map(|d| format!("{:?}", d.attributes))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(
        !text.contains("initial-password") && !text.contains("changed-by-hand"),
        "secrets redacted: {text}"
    );
    assert_eq!(
        (
            report.counts.changed,
            report.counts.missing,
            report.counts.unmanaged
        ),
        (1, 1, 1)
    );

    // .terraceignore silences an attribute.
    let opts = DriftOptions {
        ignore: parse_ignore_file(
            "test_thing.a.size # resized by autoscaler\ntest_thing.a.password\n",
        ),
        ..Default::default()
    };
    let report = detect_drift(&h.engine, &env, &opts).await.unwrap();
    assert!(
        report.drift.iter().all(|d| d.address != "test_thing.a"),
        "{:?}",
        report.drift
    );
}

/// `--refresh=false` reads nothing, so it reports no drift even when the
/// cloud changed; the stored objects (moved, not copied, into the plan's
/// refreshed objects) are the changes' before values, and an orphan's
/// delete still carries its stored object. The configuration section is
/// left out only when asked (`terrace plan` without `-out`/`-json`).
#[tokio::test]
async fn a_plan_without_refresh_uses_the_stored_objects_and_reports_no_drift() {
    let h = Harness::new(CFG).await;
    h.apply_ok().await;
    {
        let mut g = h.cloud.lock();
        let a = g.objects.get_mut("thing-a-1").unwrap();
        a.value
            .as_map_mut()
            .unwrap()
            .insert("size".into(), Value::from(7));
    }
    let no_refresh = terrace_engine::PlanOptions::default();
    let (_, plan, _) = h.try_plan(no_refresh.clone()).await.unwrap();
    assert!(plan.drift.is_empty(), "{:?}", plan.drift);
    assert!(!plan.has_changes(), "{}", summary(&plan));
    let a = change(&plan, "test_thing.a");
    assert_eq!(
        a.before.as_ref().and_then(|v| v.get("size")).cloned(),
        Some(Value::from(1)),
        "the stored size, not the cloud's"
    );
    // Each refreshed object moved into its change: only refresh-only plans keep them.
    assert!(plan.refreshed.is_empty());
    assert!(plan.configuration.is_some());
    let skipped = terrace_engine::PlanOptions {
        skip_configuration: true,
        ..no_refresh.clone()
    };
    assert!(h.try_plan(skipped).await.unwrap().1.configuration.is_none());
    // With refresh, the same cloud change is drift.
    let (_, refreshed, _) = h.try_plan(refresh()).await.unwrap();
    assert_eq!(refreshed.drift.len(), 1);
    // An orphan planned without refresh is deleted with its stored object.
    h.write_config(
        r#"
resource "test_thing" "a" {
  name     = "a"
  size     = 1
  password = "initial-password"
}
"#,
    );
    let (_, plan, _) = h.try_plan(no_refresh).await.unwrap();
    let b = change(&plan, "test_thing.b");
    assert_eq!(b.action, terrace_engine::Action::Delete);
    assert_eq!(
        b.before.as_ref().and_then(|v| v.get("name")).cloned(),
        Some(Value::from("b"))
    );
}
