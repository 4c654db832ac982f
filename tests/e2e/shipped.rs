//! The shipped environments (dev, stage, prod) against moto: each applies
//! cleanly, a second plan is empty, and destroy leaves nothing carrying the
//! environment's ownership tag — except prod, whose registries and cluster
//! are protected by prevent_destroy.

use crate::support::{Project, owned_ec2_ids, sdk_config};
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A project holding copies of the repository's modules/ and environments/.
fn shipped_project(moto: &terrace_testkit::Moto) -> Project {
    let p = Project::new().with_moto(moto);
    let root = terrace_testkit::workspace_root();
    copy_dir(&root.join("modules"), &p.path().join("modules"));
    copy_dir(&root.join("environments"), &p.path().join("environments"));
    p
}

async fn apply_replan(p: &Project, env: &str) {
    let r = p.run(&["apply", "-e", env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{env}: apply\n{}", r.all());
    let r = p.run(&["plan", "-e", env, "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{env}: second plan must be empty\n{}", r.all());
    let r = p.run(&["plan", "-e", env, "--detailed-exitcode", "--refresh=false"]);
    assert_eq!(
        r.code,
        0,
        "{env}: plan without refresh must be empty too\n{}",
        r.all()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_and_stage_apply_cleanly_and_destroy_completely() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = shipped_project(moto);
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config(moto).await);
    for env in ["dev", "stage"] {
        apply_replan(&p, env).await;
        assert!(
            !owned_ec2_ids(&ec2, env).await.is_empty(),
            "{env}: nothing tagged after apply"
        );
        let r = p.run(&["destroy", "-e", env, "--auto-approve"]);
        assert_eq!(r.code, 0, "{env}: destroy\n{}", r.all());
        let left = owned_ec2_ids(&ec2, env).await;
        assert!(left.is_empty(), "{env}: left behind {left:?}");
        let r = p.run(&["state", "list", "-e", env]);
        assert_eq!(r.stdout.trim(), "", "{env}: state not empty\n{}", r.all());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prod_applies_cleanly_and_refuses_to_destroy_protected_resources() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = shipped_project(moto);
    apply_replan(&p, "prod").await;
    let r = p.run(&["destroy", "-e", "prod", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("Instance cannot be destroyed"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("prevent_destroy"), "{}", r.all());
    // Nothing was destroyed: the refusal happens at plan time.
    let r = p.run(&["plan", "-e", "prod", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.all());
}
