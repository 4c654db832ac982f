//! Lifecycle and plan options: ignore_changes, prevent_destroy, --replace,
//! --target, moved and import blocks.

use crate::support::*;
use terrace_core::Value;
use terrace_engine::{Action, EngineError, PlanOptions};

fn thing(name: &str, size: u32, extra: &str) -> String {
    format!(
        r#"
resource "test_thing" "{name}" {{
  name = "{name}"
  size = {size}
  tags = {{ team = "core" }}
{extra}
}}
"#
    )
}

#[tokio::test]
async fn ignore_changes_on_one_attribute_keeps_it_and_applies_the_rest() {
    let lc = "  lifecycle {\n    ignore_changes = [size]\n  }";
    let h = Harness::new(&thing("a", 1, lc)).await;
    h.apply_ok().await;

    h.write_config(&thing("a", 5, lc));
    let plan = h.plan().await;
    assert_eq!(
        action(&plan, "test_thing.a"),
        Action::NoOp,
        "{}",
        summary(&plan)
    );

    // Another attribute changes too: an update that still keeps size.
    h.write_config(&thing("a", 5, lc).replace("\"core\"", "\"web\""));
    let plan = h.plan().await;
    let a = change(&plan, "test_thing.a");
    assert_eq!(a.action, Action::Update);
    assert_eq!(a.after.as_ref().unwrap().get("size"), Some(&Value::from(1)));
    h.apply_ok().await;
    let obj = h.cloud.one("a").value;
    assert_eq!(
        obj.get("size"),
        Some(&Value::from(1)),
        "ignored attribute not sent"
    );
    assert_eq!(
        obj.get("tags").and_then(|t| t.get("team")),
        Some(&Value::from("web"))
    );
}

#[tokio::test]
async fn ignore_changes_all_plans_no_op_for_any_change() {
    let lc = "  lifecycle {\n    ignore_changes = all\n  }";
    let h = Harness::new(&thing("a", 1, lc)).await;
    h.apply_ok().await;
    h.write_config(&thing("a", 9, lc).replace("\"core\"", "\"web\""));
    let plan = h.plan().await;
    assert_eq!(
        action(&plan, "test_thing.a"),
        Action::NoOp,
        "{}",
        summary(&plan)
    );
    // Without the lifecycle block the same edit is an update.
    h.write_config(&thing("a", 9, "").replace("\"core\"", "\"web\""));
    assert_eq!(action(&h.plan().await, "test_thing.a"), Action::Update);
}

#[tokio::test]
async fn prevent_destroy_refuses_a_replacement_and_a_destroy() {
    let lc = "  lifecycle {\n    prevent_destroy = true\n  }";
    let h = Harness::new(&thing("a", 1, lc)).await;
    h.apply_ok().await;

    h.write_config(&thing("a", 1, &format!("  zone = \"z\"\n{lc}")));
    let err = h
        .try_plan(refresh())
        .await
        .err()
        .expect("a replacement of a protected resource is an error");
    let text = err.to_string();
    assert!(matches!(err, EngineError::Config { .. }), "{text}");
    assert!(
        text.contains("test_thing.a") && text.contains("prevent_destroy"),
        "{text}"
    );

    h.write_config(&thing("a", 1, lc));
    let err = h
        .try_plan(terrace_engine::ops::destroy_options(vec![], true))
        .await
        .err()
        .expect("destroy refused");
    assert!(err.to_string().contains("test_thing.a"), "{err}");
    assert_eq!(h.cloud.count(), 1, "nothing deleted");
}

#[tokio::test]
async fn replace_option_forces_replacement() {
    let h = Harness::new(&format!("{}{}", thing("a", 1, ""), thing("b", 1, ""))).await;
    h.apply_ok().await;
    let opts = PlanOptions {
        replace: vec![addr("test_thing.a")],
        ..refresh()
    };
    let (_, plan, _) = h.try_plan(opts.clone()).await.unwrap();
    let a = change(&plan, "test_thing.a");
    assert_eq!(a.action, Action::DeleteThenCreate);
    assert_eq!(a.reason.as_deref(), Some("replace_by_request"));
    assert_eq!(a.after.as_ref().unwrap().get("id"), Some(&Value::Unknown));
    assert_eq!(action(&plan, "test_thing.b"), Action::NoOp);

    let out = h.try_apply(opts).await.unwrap();
    assert_eq!((out.report.added, out.report.destroyed), (1, 1));
    assert_eq!(h.attrs("test_thing.a").await["id"], "thing-a-2");
    assert_eq!(h.attrs("test_thing.b").await["id"], "thing-b-1");
}

#[tokio::test]
async fn target_limits_the_plan_to_the_target_and_its_dependencies() {
    let cfg = r#"
resource "test_thing" "base" {
  name = "base"
}
resource "test_thing" "app" {
  name        = "app"
  description = test_thing.base.id
}
resource "test_thing" "other" {
  name = "other"
}
"#;
    let h = Harness::new(cfg).await;
    let opts = PlanOptions {
        targets: vec![addr("test_thing.app")],
        ..refresh()
    };
    let (_, plan, _) = h.try_plan(opts.clone()).await.unwrap();
    let addrs: Vec<String> = plan.changes.iter().map(|c| c.address()).collect();
    assert_eq!(addrs, vec!["test_thing.app", "test_thing.base"]);
    assert_eq!(plan.targets, vec!["test_thing.app".to_string()]);

    h.try_apply(opts).await.unwrap();
    assert_eq!(h.cloud.count(), 2);
    assert!(
        h.cloud.named("other").is_empty(),
        "untargeted resource not created"
    );
    let state = h.state().await;
    assert!(state.resource("test_thing.other").is_none());

    // A later full apply creates the rest and leaves the targeted ones alone.
    let plan = h.plan().await;
    assert_eq!(action(&plan, "test_thing.other"), Action::Create);
    assert_eq!(action(&plan, "test_thing.app"), Action::NoOp);
}

#[tokio::test]
async fn moved_block_renames_without_replacement() {
    let h = Harness::new(&thing("old", 1, "").replace("name = \"old\"", "name = \"keep\"")).await;
    h.apply_ok().await;
    let id = h.attrs("test_thing.old").await["id"].clone();

    let renamed = format!(
        "{}\nmoved {{\n  from = test_thing.old\n  to   = test_thing.new\n}}\n",
        thing("new", 1, "").replace("name = \"new\"", "name = \"keep\"")
    );
    h.write_config(&renamed);
    let plan = h.plan().await;
    let c = change(&plan, "test_thing.new");
    assert_eq!(c.action, Action::NoOp, "{}", summary(&plan));
    assert_eq!(c.moved_from.as_deref(), Some("test_thing.old"));
    assert!(
        plan.changes.iter().all(|c| c.address() != "test_thing.old"),
        "no delete of the old address"
    );
    assert!(
        plan.has_changes(),
        "a move is a change to apply (state is rewritten)"
    );

    h.cloud.clear_events();
    h.apply_ok().await;
    assert!(
        h.cloud.events().is_empty(),
        "no API writes for a move: {:?}",
        h.cloud.events()
    );
    let state = h.state().await;
    assert!(
        state.resource("test_thing.old").is_none(),
        "old address left state"
    );
    assert_eq!(
        state
            .resource("test_thing.new")
            .expect("new address in state")
            .attributes["id"],
        id
    );

    // With the moved block removed, nothing is left to do.
    h.write_config(&thing("new", 1, "").replace("name = \"new\"", "name = \"keep\""));
    let plan = h.plan().await;
    assert!(!plan.has_changes(), "{}", summary(&plan));
}

#[tokio::test]
async fn import_block_adopts_an_existing_object() {
    let h = Harness::new("").await;
    let mut v = thing_value("legacy", Some(2.0), "a");
    if let Some(m) = v.as_map_mut() {
        m.insert("tags".into(), Value::map([("team", Value::from("core"))]));
        m.insert("arn".into(), Value::from("arn:test:::legacy-1"));
    }
    h.cloud
        .insert("test_thing", "legacy-1", v, "made-by-hand", "", "");
    let cfg = format!(
        "{}\nimport {{\n  to = test_thing.legacy\n  id = \"legacy-1\"\n}}\n",
        thing("legacy", 2, "")
    );
    h.write_config(&cfg);
    let plan = h.plan().await;
    let c = change(&plan, "test_thing.legacy");
    assert_eq!(c.import_id.as_deref(), Some("legacy-1"));
    assert_eq!(
        c.action,
        Action::NoOp,
        "the object matches its configuration: {}",
        summary(&plan)
    );
    assert_eq!(plan.imports(), 1);
    assert!(plan.has_changes(), "an import is a change to apply");

    let out = h.apply_ok().await;
    assert_eq!(out.report.imported, 1);
    assert_eq!(h.cloud.calls("Create"), 0, "nothing created");
    assert_eq!(h.cloud.count(), 1);
    assert_eq!(h.attrs("test_thing.legacy").await["id"], "legacy-1");

    // Adopted: the next plan is empty, and a change is an update of that object.
    assert!(!h.plan().await.has_changes());
    h.write_config(&cfg.replace("size = 2", "size = 4"));
    h.apply_ok().await;
    assert_eq!(
        h.cloud.one("legacy").value.get("size"),
        Some(&Value::from(4))
    );
    assert_eq!(
        h.cloud.one("legacy").value.get("id"),
        Some(&Value::from("legacy-1"))
    );
}

#[tokio::test]
async fn import_of_a_missing_object_is_an_error() {
    let cfg = format!(
        "{}\nimport {{\n  to = test_thing.ghost\n  id = \"nope\"\n}}\n",
        thing("ghost", 1, "")
    );
    let h = Harness::new(&cfg).await;
    let err = h
        .try_plan(refresh())
        .await
        .err()
        .expect("import of nothing fails");
    assert!(err.to_string().contains("non-existent"), "{err}");
}

#[tokio::test]
async fn destroy_with_a_moved_block_empties_state() {
    let h = Harness::new(&thing("old", 1, "").replace("name = \"old\"", "name = \"keep\"")).await;
    h.apply_ok().await;
    h.write_config(&format!(
        "{}\nmoved {{\n  from = test_thing.old\n  to   = test_thing.new\n}}\n",
        thing("new", 1, "").replace("name = \"new\"", "name = \"keep\"")
    ));
    let out = h
        .try_apply(terrace_engine::ops::destroy_options(vec![], true))
        .await
        .expect("destroy");
    assert_eq!(out.report.destroyed, 1);
    assert_eq!(h.cloud.count(), 0);
    let state = h.state().await;
    assert!(
        state.resources.is_empty(),
        "no record left under either address: {:?}",
        state.resources
    );
}
