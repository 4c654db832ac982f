//! Issue 19 §2: plan approvals of protected environments, in every store:
//! stored and read back identically, one per principal and plan (a second
//! approval by the same principal stores nothing), listed per plan or per
//! environment, and kept apart between environments.

use super::{Backend, t};
use terrace_state::*;

fn approval(env: &str, plan: char, principal: &str, secs: i64) -> Approval {
    Approval {
        id: uuid::Uuid::new_v4().to_string(),
        env: env.to_string(),
        plan_sha256: plan.to_string().repeat(64),
        approver: Identity {
            os_user: format!("{principal}@laptop"),
            aws_account: Some("123456789012".into()),
            aws_arn: Some(format!("arn:aws:iam::123456789012:user/{principal}")),
            ci: Some(CiContext {
                system: "github_actions".into(),
                actor: Some(principal.to_string()),
                ..Default::default()
            }),
        },
        principal: principal.to_string(),
        author: Some("alice".into()),
        comment: Some(format!("looks good ({principal})")),
        created_at: t(secs),
    }
}

pub(crate) async fn plan_approvals(b: Backend) {
    let store = b.default_store().await;
    assert!(store.approvals("prod", None).await.unwrap().is_empty());
    let bob = approval("prod", 'a', "bob", 10);
    assert!(store.approval_add(&bob).await.unwrap());
    // The same principal again (another id, later): nothing new is stored.
    let again = approval("prod", 'a', "bob", 20);
    assert!(!store.approval_add(&again).await.unwrap());
    let carol = approval("prod", 'a', "carol", 15);
    assert!(store.approval_add(&carol).await.unwrap());
    // Another plan of the same environment, and the same plan hash in another one.
    let other_plan = approval("prod", 'b', "dave", 5);
    assert!(store.approval_add(&other_plan).await.unwrap());
    let other_env = approval("stage", 'a', "erin", 5);
    assert!(store.approval_add(&other_env).await.unwrap());

    let plan_a = "a".repeat(64);
    let got = store.approvals("prod", Some(&plan_a)).await.unwrap();
    assert_eq!(
        got,
        vec![bob.clone(), carol.clone()],
        "read back identically, oldest first"
    );
    let all = store.approvals("prod", None).await.unwrap();
    assert_eq!(all, vec![other_plan, bob, carol]);
    assert_eq!(
        store.approvals("stage", None).await.unwrap(),
        vec![other_env]
    );
    assert!(
        store
            .approvals("dev", Some(&plan_a))
            .await
            .unwrap()
            .is_empty()
    );

    // Bad input is refused before anything is stored.
    let mut bad = approval("prod", 'c', "frank", 1);
    bad.plan_sha256 = "not-a-hash".into();
    assert!(store.approval_add(&bad).await.is_err());
    let mut nobody = approval("prod", 'c', "frank", 1);
    nobody.principal = " ".into();
    assert!(store.approval_add(&nobody).await.is_err());
    assert!(
        store.approvals("prod", Some("zz")).await.is_err()
            || store
                .approvals("prod", Some("zz"))
                .await
                .unwrap()
                .is_empty()
    );
    assert_eq!(store.approvals("prod", None).await.unwrap().len(), 3);
}
