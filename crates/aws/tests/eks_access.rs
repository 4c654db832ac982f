//! `aws_eks_addon`, `aws_eks_access_entry`, `aws_eks_access_policy_association`
//! and `aws_eks_pod_identity_association`. moto does not implement these
//! APIs, so the provider's EKS endpoint is the test kit's `FakeEks` (the EKS
//! REST shapes of the AWS API reference); everything else stays on moto.

use std::sync::{Arc, OnceLock};
use std::time::Duration;
use terrace_aws::AwsProviderFactory;
use terrace_core::{PathStep, Value};
use terrace_provider::{CreateContext, Provider, ProviderError, ProviderFactory, ResourceContext};
use terrace_testkit::FakeEks;

const ENV: &str = "eksaccess";

fn fake() -> &'static FakeEks {
    static FAKE: OnceLock<FakeEks> = OnceLock::new();
    FAKE.get_or_init(FakeEks::start)
}

async fn provider() -> Option<Arc<dyn Provider>> {
    let moto = terrace_testkit::shared_moto()?;
    let factory = AwsProviderFactory::with_env_overrides(moto.aws_env());
    let config = Value::map([(
        "endpoints",
        Value::List(vec![Value::map([(
            "eks",
            Value::from(fake().endpoint.as_str()),
        )])]),
    )]);
    Some(factory.configure(&config, ENV).await.expect("configure"))
}

async fn eks_client() -> aws_sdk_eks::Client {
    let cfg = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&fake().endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_eks::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_eks::Client::new(&cfg)
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
        timeout: Duration::from_secs(60),
    }
}

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

async fn create_checked(p: &dyn Provider, ty: &str, config: &Value, address: &str) -> Value {
    let plan = p
        .plan_resource(ty, None, config, &rctx(address))
        .expect("plan");
    let state = p
        .create(ty, &plan.planned, &cctx(address, address))
        .await
        .expect("create");
    assert_conforms(&plan.planned, &state, ty);
    let read = p
        .read_resources(ty, std::slice::from_ref(&state))
        .await
        .expect("read")
        .pop()
        .unwrap();
    assert_eq!(read.as_ref(), Some(&state), "read-back differs");
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

async fn update_checked(
    p: &dyn Provider,
    ty: &str,
    prior: &Value,
    config: &Value,
    address: &str,
) -> Value {
    let plan = p
        .plan_resource(ty, Some(prior), config, &rctx(address))
        .expect("plan");
    assert!(
        plan.requires_replace.is_empty(),
        "{:?}",
        plan.requires_replace
    );
    assert_ne!(&plan.planned, prior, "the change plans nothing");
    let updated = p
        .update(ty, prior, &plan.planned, &rctx(address))
        .await
        .expect("update");
    assert_conforms(&plan.planned, &updated, ty);
    let again = p
        .plan_resource(ty, Some(&updated), config, &rctx(address))
        .unwrap();
    assert_eq!(again.planned, updated, "plan after update is not empty");
    updated
}

fn with(config: &Value, key: &str, v: Value) -> Value {
    let mut c = config.clone();
    c.as_map_mut().unwrap().insert(key.into(), v);
    c
}

fn addon_config(cluster: &str, name: &str, version: Option<&str>) -> Value {
    let mut c = Value::map([
        ("cluster_name", Value::from(cluster)),
        ("addon_name", Value::from(name)),
        ("resolve_conflicts_on_create", Value::from("OVERWRITE")),
        ("tags", Value::map([("Component", Value::from("cluster"))])),
    ]);
    if let Some(v) = version {
        c = with(&c, "addon_version", Value::from(v));
    }
    c
}

#[tokio::test]
async fn addon_lifecycle() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    fake().add_cluster("acc-addons", "1.29");
    let ty = "aws_eks_addon";
    let addr = "aws_eks_addon.vpc_cni";

    // Pinned version: create waits for ACTIVE, reads back, re-plans empty.
    let cfg = addon_config("acc-addons", "vpc-cni", Some("v1.18.1-eksbuild.3"));
    let state = create_checked(p, ty, &cfg, addr).await;
    assert_eq!(state.get("id"), Some(&Value::from("acc-addons:vpc-cni")));
    assert_eq!(
        state.get("addon_version"),
        Some(&Value::from("v1.18.1-eksbuild.3"))
    );
    assert_eq!(
        state.get("tags_all").and_then(|t| t.get("terrace:address")),
        Some(&Value::from(addr))
    );
    assert!(state.get("arn").and_then(Value::as_str).is_some_and(|a| {
        a.starts_with("arn:aws:eks:us-east-1:") && a.contains(":addon/acc-addons/vpc-cni/")
    }));

    // Version, configuration values and tags change in place.
    let cfg2 = with(
        &with(&cfg, "addon_version", Value::from("v1.18.3-eksbuild.1")),
        "configuration_values",
        Value::from(r#"{"env":{"ENABLE_PREFIX_DELEGATION":"true"}}"#),
    );
    let cfg2 = with(
        &cfg2,
        "resolve_conflicts_on_update",
        Value::from("PRESERVE"),
    );
    let updated = update_checked(p, ty, &state, &cfg2, addr).await;
    assert_eq!(
        updated.get("addon_version"),
        Some(&Value::from("v1.18.3-eksbuild.1"))
    );
    let eks = eks_client().await;
    let live = eks
        .describe_addon()
        .cluster_name("acc-addons")
        .addon_name("vpc-cni")
        .send()
        .await
        .unwrap();
    assert_eq!(
        live.addon().unwrap().configuration_values(),
        Some(r#"{"env":{"ENABLE_PREFIX_DELEGATION":"true"}}"#)
    );

    // Edited outside terrace → the read shows the change (drift).
    eks.update_addon()
        .cluster_name("acc-addons")
        .addon_name("vpc-cni")
        .addon_version("v1.18.1-eksbuild.3")
        .send()
        .await
        .unwrap();
    let read = p
        .read_resources(ty, std::slice::from_ref(&updated))
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(
        read.get("addon_version"),
        Some(&Value::from("v1.18.1-eksbuild.3"))
    );
    let plan = p
        .plan_resource(ty, Some(&read), &cfg2, &rctx(addr))
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    assert_eq!(
        plan.planned.get("addon_version"),
        Some(&Value::from("v1.18.3-eksbuild.1"))
    );

    // A new add-on name (or cluster) replaces it.
    let plan = p
        .plan_resource(
            ty,
            Some(&updated),
            &addon_config("acc-addons", "coredns", None),
            &rctx(addr),
        )
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("addon_name".into())]]
    );

    // Import, ownership lookups.
    let imported = p
        .import(ty, "acc-addons:vpc-cni")
        .await
        .unwrap()
        .expect("import");
    assert_eq!(imported.get("arn"), updated.get("arn"));
    assert_eq!(imported.get("tags_all"), updated.get("tags_all"));
    assert!(matches!(
        p.import(ty, "no-colon").await,
        Err(ProviderError::InvalidArgument { .. })
    ));
    let found = p
        .find_created(ty, "x", &rctx(addr))
        .await
        .unwrap()
        .expect("found by tags");
    assert_eq!(found.get("id"), updated.get("id"));
    assert!(
        p.list_owned(ty, ENV)
            .await
            .unwrap()
            .iter()
            .any(|v| v.get("id") == updated.get("id"))
    );

    // Destroy; then deleted → gone, and deleting again is a no-op.
    p.delete(ty, &updated).await.unwrap();
    assert_eq!(
        p.read_resources(ty, std::slice::from_ref(&updated))
            .await
            .unwrap(),
        vec![None]
    );
    p.delete(ty, &updated).await.unwrap();
    assert_eq!(p.import(ty, "acc-addons:vpc-cni").await.unwrap(), None);
}

#[tokio::test]
async fn addon_failures_are_clear() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    fake().add_cluster("acc-fail", "1.30");
    let ty = "aws_eks_addon";
    // An unknown version: an argument error at addon_version, nothing made.
    let cfg = addon_config("acc-fail", "coredns", Some("v0.0.1-nope"));
    let plan = p
        .plan_resource(ty, None, &cfg, &rctx("aws_eks_addon.c"))
        .unwrap();
    match p
        .create(ty, &plan.planned, &cctx("aws_eks_addon.c", "t"))
        .await
    {
        Err(ProviderError::InvalidArgument { path, message, .. }) => {
            assert_eq!(path, Some(vec![PathStep::Key("addon_version".into())]));
            assert!(message.contains("v0.0.1-nope"), "{message}");
        }
        other => panic!("expected an argument error, got {other:?}"),
    }
    // A cluster that does not exist: the error names cluster_name.
    let cfg = addon_config("acc-nowhere", "coredns", None);
    let plan = p
        .plan_resource(ty, None, &cfg, &rctx("aws_eks_addon.c"))
        .unwrap();
    match p
        .create(ty, &plan.planned, &cctx("aws_eks_addon.c", "t"))
        .await
    {
        Err(ProviderError::InvalidArgument { path, .. }) => {
            assert_eq!(path, Some(vec![PathStep::Key("cluster_name".into())]));
        }
        other => panic!("expected an argument error, got {other:?}"),
    }
    // A resolve_conflicts value EKS does not take is refused at plan.
    let bad = with(
        &addon_config("acc-fail", "coredns", None),
        "resolve_conflicts_on_create",
        Value::from("PRESERVE"),
    );
    match p.plan_resource(ty, None, &bad, &rctx("aws_eks_addon.c")) {
        Err(ProviderError::InvalidArgument { path, .. }) => assert_eq!(
            path,
            Some(vec![PathStep::Key("resolve_conflicts_on_create".into())])
        ),
        other => panic!("expected an argument error, got {other:?}"),
    }
    // Unpinned: EKS picks the default version, and a re-plan keeps it.
    let cfg = addon_config("acc-fail", "kube-proxy", None);
    let state = create_checked(p, ty, &cfg, "aws_eks_addon.kp").await;
    assert_eq!(
        state.get("addon_version"),
        Some(&Value::from("v1.29.3-eksbuild.2"))
    );
    p.delete(ty, &state).await.unwrap();
}

const ADMIN: &str = "arn:aws:iam::123456789012:role/platform-admin";
const CLUSTER_ADMIN_POLICY: &str =
    "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
const VIEW_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";

#[tokio::test]
async fn access_entry_and_policy_association() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    fake().add_cluster("acc-access", "1.29");
    let ty = "aws_eks_access_entry";
    let addr = "aws_eks_access_entry.admin";
    let cfg = Value::map([
        ("cluster_name", Value::from("acc-access")),
        ("principal_arn", Value::from(ADMIN)),
        (
            "kubernetes_groups",
            Value::List(vec![Value::from("platform")]),
        ),
        ("tags", Value::map([("Team", Value::from("platform"))])),
    ]);
    let entry = create_checked(p, ty, &cfg, addr).await;
    assert_eq!(
        entry.get("id"),
        Some(&Value::from(format!("acc-access:{ADMIN}")))
    );
    assert_eq!(entry.get("type"), Some(&Value::from("STANDARD")));
    assert!(entry.get("user_name").and_then(Value::as_str).is_some());

    // Groups change in place; type and principal replace.
    let cfg2 = with(
        &cfg,
        "kubernetes_groups",
        Value::List(vec![Value::from("platform"), Value::from("ops")]),
    );
    let entry = update_checked(p, ty, &entry, &cfg2, addr).await;
    let plan = p
        .plan_resource(
            ty,
            Some(&entry),
            &with(&cfg2, "type", Value::from("EC2_LINUX")),
            &rctx(addr),
        )
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("type".into())]]
    );

    // The policy association (untagged; ID cluster#principal#policy).
    let aty = "aws_eks_access_policy_association";
    let aaddr = "aws_eks_access_policy_association.admin";
    let acfg = Value::map([
        ("cluster_name", Value::from("acc-access")),
        ("principal_arn", Value::from(ADMIN)),
        ("policy_arn", Value::from(CLUSTER_ADMIN_POLICY)),
        (
            "access_scope",
            Value::List(vec![Value::map([("type", Value::from("cluster"))])]),
        ),
    ]);
    let assoc = create_checked(p, aty, &acfg, aaddr).await;
    let assoc_id = format!("acc-access#{ADMIN}#{CLUSTER_ADMIN_POLICY}");
    assert_eq!(assoc.get("id"), Some(&Value::from(assoc_id.as_str())));
    // A namespace scope is a new association.
    let ns = with(
        &acfg,
        "access_scope",
        Value::List(vec![Value::map([
            ("type", Value::from("namespace")),
            ("namespaces", Value::List(vec![Value::from("apps")])),
        ])]),
    );
    let plan = p
        .plan_resource(aty, Some(&assoc), &ns, &rctx(aaddr))
        .unwrap();
    assert!(!plan.requires_replace.is_empty());
    // A bad scope type is refused at plan, at the attribute.
    let bad = with(
        &acfg,
        "access_scope",
        Value::List(vec![Value::map([("type", Value::from("everything"))])]),
    );
    assert!(matches!(
        p.plan_resource(aty, None, &bad, &rctx(aaddr)),
        Err(ProviderError::InvalidArgument { path: Some(_), .. })
    ));
    // Import by Terraform's ID form; a malformed one is refused.
    let imported = p.import(aty, &assoc_id).await.unwrap().expect("import");
    assert_eq!(imported, assoc);
    assert!(matches!(
        p.import(aty, "acc-access:nope").await,
        Err(ProviderError::InvalidArgument { .. })
    ));
    // An association for a principal without an access entry: clear error.
    let orphan = with(
        &acfg,
        "principal_arn",
        Value::from("arn:aws:iam::123456789012:role/nobody"),
    );
    let plan = p.plan_resource(aty, None, &orphan, &rctx(aaddr)).unwrap();
    match p.create(aty, &plan.planned, &cctx(aaddr, "o")).await {
        Err(ProviderError::InvalidArgument { message, .. }) => {
            assert!(message.contains("aws_eks_access_entry"), "{message}")
        }
        other => panic!("expected an argument error, got {other:?}"),
    }

    // Deleted outside → gone.
    let eks = eks_client().await;
    eks.disassociate_access_policy()
        .cluster_name("acc-access")
        .principal_arn(ADMIN)
        .policy_arn(CLUSTER_ADMIN_POLICY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        p.read_resources(aty, std::slice::from_ref(&assoc))
            .await
            .unwrap(),
        vec![None]
    );
    p.delete(aty, &assoc).await.unwrap();

    // A second association, then the entry edited outside → drift.
    let view = with(&acfg, "policy_arn", Value::from(VIEW_POLICY));
    let view_state = create_checked(p, aty, &view, "aws_eks_access_policy_association.view").await;
    eks.update_access_entry()
        .cluster_name("acc-access")
        .principal_arn(ADMIN)
        .set_kubernetes_groups(Some(vec!["everyone".into()]))
        .send()
        .await
        .unwrap();
    let read = p
        .read_resources(ty, std::slice::from_ref(&entry))
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(
        read.get("kubernetes_groups"),
        Some(&Value::set(vec![Value::from("everyone")]))
    );
    let imported = p
        .import(ty, &format!("acc-access:{ADMIN}"))
        .await
        .unwrap()
        .expect("import");
    assert_eq!(
        imported.get("access_entry_arn"),
        entry.get("access_entry_arn")
    );
    assert!(
        p.find_created(ty, "x", &rctx(addr))
            .await
            .unwrap()
            .is_some()
    );

    // Destroy in dependency order; all gone.
    p.delete(aty, &view_state).await.unwrap();
    p.delete(ty, &entry).await.unwrap();
    assert_eq!(
        p.read_resources(ty, std::slice::from_ref(&entry))
            .await
            .unwrap(),
        vec![None]
    );
    p.delete(ty, &entry).await.unwrap();
}

#[tokio::test]
async fn pod_identity_association_lifecycle() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    fake().add_cluster("acc-pods", "1.30");
    let ty = "aws_eks_pod_identity_association";
    let addr = "aws_eks_pod_identity_association.ebs";
    let cfg = Value::map([
        ("cluster_name", Value::from("acc-pods")),
        ("namespace", Value::from("kube-system")),
        ("service_account", Value::from("ebs-csi-controller-sa")),
        (
            "role_arn",
            Value::from("arn:aws:iam::123456789012:role/ebs-csi"),
        ),
    ]);
    let state = create_checked(p, ty, &cfg, addr).await;
    let id = state
        .get("association_id")
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    assert_eq!(state.get("id"), Some(&Value::from(id.as_str())));
    assert_eq!(state.get("disable_session_tags"), Some(&Value::Bool(false)));

    // The role changes in place; the namespace replaces.
    let cfg2 = with(
        &cfg,
        "role_arn",
        Value::from("arn:aws:iam::123456789012:role/ebs-csi-v2"),
    );
    let updated = update_checked(p, ty, &state, &cfg2, addr).await;
    let plan = p
        .plan_resource(
            ty,
            Some(&updated),
            &with(&cfg2, "namespace", Value::from("storage")),
            &rctx(addr),
        )
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("namespace".into())]]
    );

    // A second association for the same service account is refused.
    let plan = p
        .plan_resource(
            ty,
            None,
            &cfg,
            &rctx("aws_eks_pod_identity_association.dup"),
        )
        .unwrap();
    assert!(
        p.create(
            ty,
            &plan.planned,
            &cctx("aws_eks_pod_identity_association.dup", "d")
        )
        .await
        .is_err()
    );

    // Import is cluster,association-id.
    let imported = p
        .import(ty, &format!("acc-pods,{id}"))
        .await
        .unwrap()
        .expect("import");
    assert_eq!(imported.get("role_arn"), updated.get("role_arn"));
    assert!(matches!(
        p.import(ty, &id).await,
        Err(ProviderError::InvalidArgument { .. })
    ));
    assert!(
        p.list_owned(ty, ENV)
            .await
            .unwrap()
            .iter()
            .any(|v| v.get("id") == updated.get("id"))
    );

    // Edited outside → drift; deleted outside → gone.
    let eks = eks_client().await;
    eks.update_pod_identity_association()
        .cluster_name("acc-pods")
        .association_id(&id)
        .role_arn("arn:aws:iam::123456789012:role/hand-made")
        .send()
        .await
        .unwrap();
    let read = p
        .read_resources(ty, std::slice::from_ref(&updated))
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(
        read.get("role_arn"),
        Some(&Value::from("arn:aws:iam::123456789012:role/hand-made"))
    );
    eks.delete_pod_identity_association()
        .cluster_name("acc-pods")
        .association_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        p.read_resources(ty, std::slice::from_ref(&updated))
            .await
            .unwrap(),
        vec![None]
    );
    p.delete(ty, &updated).await.unwrap();
}

#[tokio::test]
async fn addon_version_data_source() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let ty = "aws_eks_addon_version";
    let cfg = |most_recent: Option<bool>, k8s: &str, addon: &str| {
        let mut c = Value::map([
            ("addon_name", Value::from(addon)),
            ("kubernetes_version", Value::from(k8s)),
        ]);
        if let Some(m) = most_recent {
            c = with(&c, "most_recent", Value::Bool(m));
        }
        c
    };
    let default = p
        .read_data(ty, &cfg(None, "1.29", "coredns"))
        .await
        .unwrap();
    assert_eq!(
        default.get("version"),
        Some(&Value::from("v1.11.1-eksbuild.9"))
    );
    assert_eq!(default.get("id"), Some(&Value::from("coredns")));
    let newest = p
        .read_data(ty, &cfg(Some(true), "1.29", "vpc-cni"))
        .await
        .unwrap();
    assert_eq!(
        newest.get("version"),
        Some(&Value::from("v1.18.3-eksbuild.1"))
    );
    // Nothing for that Kubernetes version: Terraform's "empty result".
    match p.read_data(ty, &cfg(None, "1.10", "coredns")).await {
        Err(ProviderError::NotFound(m)) => {
            assert!(m.contains("empty result") && m.contains("coredns"), "{m}")
        }
        other => panic!("expected not found, got {other:?}"),
    }
}
