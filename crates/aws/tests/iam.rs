//! `aws_iam_role`, `aws_iam_instance_profile`, `aws_iam_role_policy_attachment`
//! against a real moto server.

mod common;

use common::{assert_delete_seen, assert_edit_seen};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;
use terrace_aws::AwsProviderFactory;
use terrace_core::{PathStep, Value};
use terrace_provider::{CreateContext, Provider, ProviderError, ProviderFactory, ResourceContext};

const ENV: &str = "iamtest";

/// Ask moto to load the AWS managed policies (`arn:aws:iam::aws:policy/...`)
/// before anything touches IAM in this test binary.
fn load_managed_policies(port: u16) {
    let body = r#"{"iam": {"load_aws_managed_policies": true}}"#;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect moto");
    write!(
        s,
        "POST /moto-api/config HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(
        out.starts_with("HTTP/1.") && out.contains(" 201 "),
        "moto config: {out}"
    );
}

async fn provider() -> Option<Arc<dyn Provider>> {
    let moto = terrace_testkit::shared_moto()?;
    load_managed_policies(moto.port);
    let factory = AwsProviderFactory::with_env_overrides(moto.aws_env());
    Some(
        factory
            .configure(&Value::Map(Default::default()), ENV)
            .await
            .expect("configure"),
    )
}

fn rctx(address: &str) -> ResourceContext {
    ResourceContext {
        environment: ENV.into(),
        address: address.into(),
    }
}

fn cctx(address: &str, token: &str) -> CreateContext {
    CreateContext {
        resource: rctx(address),
        idempotency_token: token.into(),
        timeout: Duration::from_secs(30),
    }
}

/// Every known planned value equals the actual one (unknown = anything).
fn assert_conforms(planned: &Value, actual: &Value, at: &str) {
    match (planned, actual) {
        (Value::Unknown, _) => {}
        (Value::Map(p), Value::Map(a)) => {
            for (k, v) in p {
                assert_conforms(v, a.get(k).unwrap_or(&Value::Null), &format!("{at}.{k}"));
            }
        }
        (Value::List(p), Value::List(a)) | (Value::Set(p), Value::Set(a)) if p.len() == a.len() => {
            for (i, (x, y)) in p.iter().zip(a).enumerate() {
                assert_conforms(x, y, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(planned, actual, "planned vs actual at {at}"),
    }
}

/// Plan, create, check the result against the plan, read it back, and
/// check that a second plan is empty. Returns the state.
async fn create_checked(
    p: &dyn Provider,
    ty: &str,
    config: &Value,
    address: &str,
    token: &str,
) -> Value {
    let plan = p
        .plan_resource(ty, None, config, &rctx(address))
        .expect("plan");
    let state = p
        .create(ty, &plan.planned, &cctx(address, token))
        .await
        .expect("create");
    assert_conforms(&plan.planned, &state, ty);
    let read = p
        .read_resources(ty, std::slice::from_ref(&state))
        .await
        .expect("read")
        .pop()
        .unwrap();
    assert_eq!(
        read.as_ref(),
        Some(&state),
        "read-back differs from create result"
    );
    let again = p
        .plan_resource(ty, Some(&state), config, &rctx(address))
        .expect("replan");
    assert!(
        again.requires_replace.is_empty(),
        "{:?}",
        again.requires_replace
    );
    assert_eq!(again.planned, state, "second plan is not empty");
    state
}

fn policy(service: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{{"Service":"{service}"}}}}]}}"#
    )
}

fn role_config(name: &str, doc: &str) -> Value {
    Value::map([
        ("name", Value::from(name)),
        ("assume_role_policy", Value::from(doc)),
        ("description", Value::from("a test role")),
        ("tags", Value::map([("team", Value::from("ci"))])),
    ])
}

#[tokio::test]
async fn role_lifecycle() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let ty = "aws_iam_role";
    let name = "iamtest-role-lifecycle";
    let doc = policy("ec2.amazonaws.com");
    let config = role_config(name, &doc);
    let state = create_checked(p, ty, &config, "aws_iam_role.a", "tok-role-1").await;
    assert_eq!(state.get("id"), Some(&Value::from(name)));
    assert!(
        state
            .get("arn")
            .and_then(Value::as_str)
            .unwrap()
            .ends_with(&format!(":role/{name}"))
    );
    assert!(
        state
            .get("unique_id")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(
        state.get("max_session_duration"),
        Some(&Value::from(3600i64))
    );
    let all = state.get("tags_all").unwrap();
    assert_eq!(all.get("terrace:environment"), Some(&Value::from(ENV)));
    assert_eq!(
        all.get("terrace:address"),
        Some(&Value::from("aws_iam_role.a"))
    );
    assert_eq!(
        state.get("tags"),
        Some(&Value::map([("team", Value::from("ci"))]))
    );

    // The same policy with other formatting and key order is no change.
    let reformatted =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&doc).unwrap())
            .unwrap();
    let cfg2 = role_config(name, &format!("\n{reformatted}\n"));
    let plan = p
        .plan_resource(ty, Some(&state), &cfg2, &rctx("aws_iam_role.a"))
        .unwrap();
    assert_eq!(plan.planned, state);

    // In-place update: policy, description, session duration, tags.
    let doc2 = policy("eks.amazonaws.com");
    let mut cfg3 = role_config(name, &doc2);
    if let Some(m) = cfg3.as_map_mut() {
        m.insert("description".into(), Value::from("changed"));
        m.insert("max_session_duration".into(), Value::from(7200i64));
        m.insert(
            "tags".into(),
            Value::map([("team", Value::from("ops")), ("x", Value::from("y"))]),
        );
    }
    let plan = p
        .plan_resource(ty, Some(&state), &cfg3, &rctx("aws_iam_role.a"))
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let updated = p
        .update(ty, &state, &plan.planned, &rctx("aws_iam_role.a"))
        .await
        .expect("update");
    assert_conforms(&plan.planned, &updated, ty);
    assert_eq!(updated.get("description"), Some(&Value::from("changed")));
    assert_eq!(
        updated.get("max_session_duration"),
        Some(&Value::from(7200i64))
    );
    let read = p
        .read_resources(ty, std::slice::from_ref(&updated))
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(read, updated);
    let doc_read: serde_json::Value =
        serde_json::from_str(read.get("assume_role_policy").unwrap().as_str().unwrap()).unwrap();
    assert_eq!(
        doc_read,
        serde_json::from_str::<serde_json::Value>(&doc2).unwrap()
    );

    // A new name forces replacement.
    let renamed = role_config("iamtest-role-lifecycle-2", &doc2);
    let plan = p
        .plan_resource(ty, Some(&updated), &renamed, &rctx("aws_iam_role.a"))
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("name".into())]]
    );

    // Import by name.
    let imported = p.import(ty, name).await.unwrap().expect("imported");
    assert_eq!(imported.get("arn"), updated.get("arn"));
    assert_eq!(imported.get("tags_all"), updated.get("tags_all"));

    // Ownership listing and crash recovery.
    let owned = p.list_owned(ty, ENV).await.unwrap();
    assert!(
        owned
            .iter()
            .any(|v| v.get("id") == Some(&Value::from(name)))
    );
    let found = p
        .find_created(ty, "tok-other", &rctx("aws_iam_role.a"))
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.get("id"), Some(&Value::from(name)));
    assert!(
        p.find_created(ty, "tok-other", &rctx("aws_iam_role.nothing"))
            .await
            .unwrap()
            .is_none()
    );

    // Edited outside → changed: the description by hand (the session
    // duration sent as it is: moto's UpdateRole resets it when left out).
    let iam = aws_sdk_iam::Client::new(&moto_sdk_config().await);
    let duration = updated
        .get("max_session_duration")
        .and_then(Value::as_i64)
        .unwrap();
    let updated = assert_edit_seen(
        p,
        ty,
        &updated,
        async {
            iam.update_role()
                .role_name(name)
                .description("by hand")
                .max_session_duration(duration as i32)
                .send()
                .await
                .unwrap();
        },
        &["description"],
    )
    .await;

    p.delete(ty, &updated).await.expect("delete");
    p.delete(ty, &updated)
        .await
        .expect("delete again is success");
    assert_eq!(p.read_resources(ty, &[updated]).await.unwrap(), vec![None]);
}

#[tokio::test]
async fn role_read_many_and_deleted_outside() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let ty = "aws_iam_role";
    let doc = policy("ec2.amazonaws.com");
    let mut states = Vec::new();
    for i in 0..3 {
        let name = format!("iamtest-many-{i}");
        states.push(
            create_checked(
                p,
                ty,
                &role_config(&name, &doc),
                &format!("aws_iam_role.m[{i}]"),
                &format!("tm{i}"),
            )
            .await,
        );
    }
    // An unnamed role gets a name derived from the idempotency token.
    let unnamed = Value::map([("assume_role_policy", Value::from(doc.as_str()))]);
    let plan = p
        .plan_resource(ty, None, &unnamed, &rctx("aws_iam_role.unnamed"))
        .unwrap();
    assert_eq!(plan.planned.get("name"), Some(&Value::Unknown));
    let u = p
        .create(
            ty,
            &plan.planned,
            &cctx("aws_iam_role.unnamed", "tok-unnamed-x"),
        )
        .await
        .unwrap();
    assert!(
        u.get("name")
            .and_then(Value::as_str)
            .unwrap()
            .starts_with("terrace-")
    );
    let found = p
        .find_created(ty, "tok-unnamed-x", &rctx("aws_iam_role.unnamed"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.get("name"), u.get("name"));

    // Delete one outside terrace.
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&moto_sdk_config().await).build(),
    );
    iam.delete_role()
        .role_name("iamtest-many-1")
        .send()
        .await
        .expect("delete outside");
    let read = p.read_resources(ty, &states).await.unwrap();
    assert_eq!(read.len(), 3);
    assert_eq!(read[0].as_ref(), Some(&states[0]));
    assert_eq!(read[1], None);
    assert_eq!(read[2].as_ref(), Some(&states[2]));
    assert_eq!(p.import(ty, "iamtest-many-1").await.unwrap(), None);
    for s in states.iter().chain([&u]) {
        p.delete(ty, s).await.unwrap();
    }
}

async fn moto_sdk_config() -> aws_types::SdkConfig {
    let moto = terrace_testkit::shared_moto().expect("moto");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

#[tokio::test]
async fn instance_profile_lifecycle() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let doc = policy("ec2.amazonaws.com");
    let r1 = create_checked(
        p,
        "aws_iam_role",
        &role_config("iamtest-ip-r1", &doc),
        "aws_iam_role.r1",
        "ip-r1",
    )
    .await;
    let r2 = create_checked(
        p,
        "aws_iam_role",
        &role_config("iamtest-ip-r2", &doc),
        "aws_iam_role.r2",
        "ip-r2",
    )
    .await;
    let ty = "aws_iam_instance_profile";
    let name = "iamtest-profile";
    let config = Value::map([
        ("name", Value::from(name)),
        ("role", Value::from("iamtest-ip-r1")),
    ]);
    let state = create_checked(p, ty, &config, "aws_iam_instance_profile.p", "tok-ip").await;
    assert_eq!(state.get("role"), Some(&Value::from("iamtest-ip-r1")));
    assert!(
        state
            .get("arn")
            .and_then(Value::as_str)
            .unwrap()
            .ends_with(&format!(":instance-profile/{name}"))
    );
    assert_eq!(state.get("tags"), Some(&Value::Null));
    assert_eq!(
        state.get("tags_all").and_then(|t| t.get("terrace:address")),
        Some(&Value::from("aws_iam_instance_profile.p"))
    );

    // Change the role and add a tag in place.
    let cfg2 = Value::map([
        ("name", Value::from(name)),
        ("role", Value::from("iamtest-ip-r2")),
        ("tags", Value::map([("k", Value::from("v"))])),
    ]);
    let plan = p
        .plan_resource(ty, Some(&state), &cfg2, &rctx("aws_iam_instance_profile.p"))
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let updated = p
        .update(
            ty,
            &state,
            &plan.planned,
            &rctx("aws_iam_instance_profile.p"),
        )
        .await
        .unwrap();
    assert_conforms(&plan.planned, &updated, ty);
    assert_eq!(updated.get("role"), Some(&Value::from("iamtest-ip-r2")));
    let read = p
        .read_resources(ty, std::slice::from_ref(&updated))
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(read.as_ref(), Some(&updated));

    // Path forces replacement.
    let cfg3 = Value::map([("name", Value::from(name)), ("path", Value::from("/x/"))]);
    let plan = p
        .plan_resource(
            ty,
            Some(&updated),
            &cfg3,
            &rctx("aws_iam_instance_profile.p"),
        )
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("path".into())]]
    );

    let imported = p.import(ty, name).await.unwrap().unwrap();
    assert_eq!(imported.get("tags_all"), updated.get("tags_all"));
    assert!(
        p.list_owned(ty, ENV)
            .await
            .unwrap()
            .iter()
            .any(|v| v.get("id") == Some(&Value::from(name)))
    );
    let found = p
        .find_created(ty, "zzz", &rctx("aws_iam_instance_profile.p"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.get("id"), Some(&Value::from(name)));

    // Edited outside → changed: the role taken off by hand.
    let iam = aws_sdk_iam::Client::new(&moto_sdk_config().await);
    let updated = assert_edit_seen(
        p,
        ty,
        &updated,
        async {
            iam.remove_role_from_instance_profile()
                .instance_profile_name(name)
                .role_name("iamtest-ip-r2")
                .send()
                .await
                .unwrap();
        },
        &["role"],
    )
    .await;

    // Deleting the role detaches it from the profile first (as Terraform does).
    p.delete(ty, &updated).await.unwrap();
    assert_eq!(
        p.read_resources(ty, std::slice::from_ref(&updated))
            .await
            .unwrap(),
        vec![None]
    );
    p.delete(ty, &updated).await.unwrap();

    // Deleted outside → missing.
    let again = create_checked(p, ty, &config, "aws_iam_instance_profile.p", "tok-ip2").await;
    assert_delete_seen(p, ty, &again, async {
        iam.remove_role_from_instance_profile()
            .instance_profile_name(name)
            .role_name("iamtest-ip-r1")
            .send()
            .await
            .unwrap();
        iam.delete_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
            .unwrap();
    })
    .await;
    p.delete("aws_iam_role", &r1).await.unwrap();
    p.delete("aws_iam_role", &r2).await.unwrap();
}

#[tokio::test]
async fn policy_attachment_lifecycle() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let doc = policy("eks.amazonaws.com");
    let role = create_checked(
        p,
        "aws_iam_role",
        &role_config("iamtest-attach", &doc),
        "aws_iam_role.c",
        "att-r",
    )
    .await;
    let ty = "aws_iam_role_policy_attachment";
    let managed = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy";
    let worker = "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy";
    let cfg = |arn: &str| {
        Value::map([
            ("role", Value::from("iamtest-attach")),
            ("policy_arn", Value::from(arn)),
        ])
    };
    let a = create_checked(
        p,
        ty,
        &cfg(managed),
        "aws_iam_role_policy_attachment.a",
        "att-a",
    )
    .await;
    assert_eq!(
        a.get("id"),
        Some(&Value::from(format!("iamtest-attach-{managed}")))
    );
    let b = create_checked(
        p,
        ty,
        &cfg(worker),
        "aws_iam_role_policy_attachment.b",
        "att-b",
    )
    .await;

    // Changing the policy replaces the attachment.
    let plan = p
        .plan_resource(ty, Some(&a), &cfg(worker), &rctx("x"))
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("policy_arn".into())]]
    );

    // A policy that does not exist is an argument error at policy_arn.
    let bad = p
        .plan_resource(
            ty,
            None,
            &cfg("arn:aws:iam::123456789012:policy/nope"),
            &rctx("x"),
        )
        .unwrap();
    match p.create(ty, &bad.planned, &cctx("x", "bad")).await {
        Err(ProviderError::InvalidArgument { path, .. }) => {
            assert_eq!(path, Some(vec![PathStep::Key("policy_arn".into())]));
        }
        other => panic!("expected an argument error, got {other:?}"),
    }

    // Import with Terraform's `role/arn` form.
    let imported = p
        .import(ty, &format!("iamtest-attach/{managed}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(imported, a);

    // Detached outside terrace → gone; the other one stays (one list call per role).
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&moto_sdk_config().await).build(),
    );
    iam.detach_role_policy()
        .role_name("iamtest-attach")
        .policy_arn(managed)
        .send()
        .await
        .unwrap();
    let before = count(p, "iam:ListAttachedRolePolicies");
    let read = p.read_resources(ty, &[a.clone(), b.clone()]).await.unwrap();
    assert_eq!(count(p, "iam:ListAttachedRolePolicies") - before, 1);
    assert_eq!(read, vec![None, Some(b.clone())]);
    assert_eq!(
        p.import(ty, &format!("iamtest-attach/{managed}"))
            .await
            .unwrap(),
        None
    );

    p.delete(ty, &b).await.unwrap();
    p.delete(ty, &a).await.unwrap();
    assert_eq!(p.read_resources(ty, &[b]).await.unwrap(), vec![None]);
    p.delete("aws_iam_role", &role).await.unwrap();
    // The role is gone: reading an attachment of it is None, not an error.
    assert_eq!(p.read_resources(ty, &[a]).await.unwrap(), vec![None]);
}

fn count(p: &dyn Provider, op: &str) -> u64 {
    p.api_calls()
        .into_iter()
        .find(|(k, _)| k == op)
        .map(|(_, n)| n)
        .unwrap_or(0)
}
