//! `aws_eks_cluster` and `aws_eks_node_group` against a real moto server.

mod common;

use common::assert_edit_seen;
use std::sync::Arc;
use std::time::Duration;
use terrace_aws::AwsProviderFactory;
use terrace_core::{PathStep, Value};
use terrace_provider::{CreateContext, Provider, ProviderFactory, ResourceContext};

const ENV: &str = "ekstest";

async fn provider() -> Option<Arc<dyn Provider>> {
    let moto = terrace_testkit::shared_moto()?;
    let factory = AwsProviderFactory::with_env_overrides(moto.aws_env());
    Some(
        factory
            .configure(&Value::Map(Default::default()), ENV)
            .await
            .expect("configure"),
    )
}

async fn sdk_config() -> aws_types::SdkConfig {
    let moto = terrace_testkit::shared_moto().expect("moto");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_eks::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
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
    let read = p
        .read_resources(ty, std::slice::from_ref(&updated))
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(read.as_ref(), Some(&updated));
    let again = p
        .plan_resource(ty, Some(&updated), config, &rctx(address))
        .unwrap();
    assert_eq!(again.planned, updated, "plan after update is not empty");
    updated
}

/// Two subnets and a role ARN for a cluster.
async fn prerequisites(octet: u8, role: &str) -> (Vec<String>, String) {
    let cfg = sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&cfg);
    let vpc = ec2
        .create_vpc()
        .cidr_block(format!("10.{octet}.0.0/16"))
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = Vec::new();
    for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.{octet}.{i}.0/24"))
            .availability_zone(*az)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let iam = aws_sdk_iam::Client::new(&cfg);
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Service":"eks.amazonaws.com"}}]}"#;
    let r = iam
        .create_role()
        .role_name(role)
        .assume_role_policy_document(doc)
        .send()
        .await
        .unwrap();
    (subnets, r.role().unwrap().arn().to_string())
}

fn strings(xs: &[String]) -> Value {
    Value::List(xs.iter().map(|s| Value::from(s.as_str())).collect())
}

fn cluster_config(
    name: &str,
    role_arn: &str,
    subnets: &[String],
    public: bool,
    tag: &str,
) -> Value {
    Value::map([
        ("name", Value::from(name)),
        ("role_arn", Value::from(role_arn)),
        ("version", Value::from("1.29")),
        (
            "vpc_config",
            Value::List(vec![Value::map([
                ("subnet_ids", strings(subnets)),
                ("endpoint_private_access", Value::Bool(true)),
                ("endpoint_public_access", Value::Bool(public)),
                (
                    "public_access_cidrs",
                    Value::List(vec![Value::from("10.0.0.0/8")]),
                ),
            ])]),
        ),
        ("tags", Value::map([("Component", Value::from(tag))])),
    ])
}

#[tokio::test]
async fn cluster_lifecycle() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let (subnets, role_arn) = prerequisites(51, "ekstest-cluster-role").await;
    let ty = "aws_eks_cluster";
    let addr = "aws_eks_cluster.main";
    let name = "ekstest-main";
    let state = create_checked(
        p,
        ty,
        &cluster_config(name, &role_arn, &subnets, true, "cluster"),
        addr,
        "eks-tok-1",
    )
    .await;
    assert_eq!(state.get("id"), Some(&Value::from(name)));
    assert_eq!(state.get("status"), Some(&Value::from("ACTIVE")));
    assert_eq!(state.get("version"), Some(&Value::from("1.29")));
    assert!(
        state
            .get("endpoint")
            .and_then(Value::as_str)
            .is_some_and(|e| e.starts_with("https://"))
    );
    let ca = state
        .get("certificate_authority")
        .and_then(Value::as_list)
        .unwrap();
    assert!(
        ca[0]
            .get("data")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(
        state.get("tags_all").and_then(|t| t.get("terrace:address")),
        Some(&Value::from(addr))
    );

    // Endpoint access and tags change in place.
    let updated = update_checked(
        p,
        ty,
        &state,
        &cluster_config(name, &role_arn, &subnets, false, "platform"),
        addr,
    )
    .await;
    let vpc = &updated.get("vpc_config").unwrap().as_list().unwrap()[0];
    assert_eq!(vpc.get("endpoint_public_access"), Some(&Value::Bool(false)));
    assert_eq!(
        updated.get("tags"),
        Some(&Value::map([("Component", Value::from("platform"))]))
    );

    // A version change is an update in place (UpdateClusterVersion).
    let mut newer = cluster_config(name, &role_arn, &subnets, false, "platform");
    newer
        .as_map_mut()
        .unwrap()
        .insert("version".into(), Value::from("1.30"));
    let plan = p
        .plan_resource(ty, Some(&updated), &newer, &rctx(addr))
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    assert_eq!(plan.planned.get("version"), Some(&Value::from("1.30")));
    // moto has no UpdateClusterVersion: the attempt must say so, not claim
    // the cluster is gone (which would make the engine forget it).
    match p.update(ty, &updated, &plan.planned, &rctx(addr)).await {
        Ok(v) => assert_eq!(v.get("version"), Some(&Value::from("1.30"))),
        Err(e) => assert!(
            matches!(e, terrace_provider::ProviderError::Unsupported(_)),
            "{e:?}"
        ),
    }
    assert!(
        p.read_resources(ty, std::slice::from_ref(&updated))
            .await
            .unwrap()[0]
            .is_some()
    );

    // New name or new subnets replace the cluster.
    let plan = p
        .plan_resource(
            ty,
            Some(&updated),
            &cluster_config("ekstest-other", &role_arn, &subnets, false, "platform"),
            &rctx(addr),
        )
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("name".into())]]
    );
    let plan = p
        .plan_resource(
            ty,
            Some(&updated),
            &cluster_config(name, &role_arn, &subnets[..1], false, "platform"),
            &rctx(addr),
        )
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![
            PathStep::Key("vpc_config".into()),
            PathStep::Index(0),
            PathStep::Key("subnet_ids".into())
        ]]
    );

    let imported = p.import(ty, name).await.unwrap().expect("import");
    assert_eq!(imported.get("arn"), updated.get("arn"));
    assert_eq!(imported.get("tags_all"), updated.get("tags_all"));
    assert!(
        p.list_owned(ty, ENV)
            .await
            .unwrap()
            .iter()
            .any(|v| v.get("id") == Some(&Value::from(name)))
    );
    let found = p
        .find_created(ty, "x", &rctx(addr))
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.get("id"), Some(&Value::from(name)));
    assert!(
        p.find_created(ty, "x", &rctx("aws_eks_cluster.none"))
            .await
            .unwrap()
            .is_none()
    );

    // Edited outside → changed: a tag added by hand.
    let eks = aws_sdk_eks::Client::new(&sdk_config().await);
    let updated = assert_edit_seen(
        p,
        ty,
        &updated,
        async {
            eks.tag_resource()
                .resource_arn(updated.get("arn").and_then(Value::as_str).unwrap())
                .tags("edited-by", "hand")
                .send()
                .await
                .unwrap();
        },
        &["tags", "tags_all"],
    )
    .await;

    p.delete(ty, &updated).await.unwrap();
    assert_eq!(
        p.read_resources(ty, std::slice::from_ref(&updated))
            .await
            .unwrap(),
        vec![None]
    );
    p.delete(ty, &updated).await.unwrap();
}

#[tokio::test]
async fn clusters_read_many_and_deleted_outside() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let (subnets, role_arn) = prerequisites(52, "ekstest-many-role").await;
    let ty = "aws_eks_cluster";
    let mut states = Vec::new();
    for i in 0..3 {
        let cfg = cluster_config(&format!("ekstest-many-{i}"), &role_arn, &subnets, true, "x");
        states.push(
            create_checked(
                p,
                ty,
                &cfg,
                &format!("aws_eks_cluster.c[{i}]"),
                &format!("c{i}"),
            )
            .await,
        );
    }
    let eks = aws_sdk_eks::Client::new(&sdk_config().await);
    eks.delete_cluster()
        .name("ekstest-many-1")
        .send()
        .await
        .unwrap();
    let read = p.read_resources(ty, &states).await.unwrap();
    assert_eq!(
        read,
        vec![Some(states[0].clone()), None, Some(states[2].clone())]
    );
    assert_eq!(p.import(ty, "ekstest-many-1").await.unwrap(), None);
    for s in &states {
        p.delete(ty, s).await.unwrap();
    }
}

fn node_group_config(
    cluster: &str,
    name: &str,
    role_arn: &str,
    subnets: &[String],
    desired: i64,
    labels: &[(&str, &str)],
) -> Value {
    Value::map([
        ("cluster_name", Value::from(cluster)),
        ("node_group_name", Value::from(name)),
        ("node_role_arn", Value::from(role_arn)),
        ("subnet_ids", strings(subnets)),
        ("instance_types", Value::List(vec![Value::from("t3.large")])),
        ("capacity_type", Value::from("ON_DEMAND")),
        ("disk_size", Value::from(100i64)),
        (
            "scaling_config",
            Value::List(vec![Value::map([
                ("min_size", Value::from(1i64)),
                ("max_size", Value::from(5i64)),
                ("desired_size", Value::from(desired)),
            ])]),
        ),
        (
            "update_config",
            Value::List(vec![Value::map([("max_unavailable", Value::from(1i64))])]),
        ),
        (
            "labels",
            Value::map(labels.iter().map(|(k, v)| (*k, Value::from(*v)))),
        ),
        ("tags", Value::map([("Component", Value::from("cluster"))])),
    ])
}

#[tokio::test]
async fn node_group_lifecycle() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let (subnets, role_arn) = prerequisites(53, "ekstest-ng-role").await;
    let cluster = create_checked(
        p,
        "aws_eks_cluster",
        &cluster_config("ekstest-ng", &role_arn, &subnets, true, "c"),
        "aws_eks_cluster.ng",
        "ngc",
    )
    .await;
    let ty = "aws_eks_node_group";
    let addr = "aws_eks_node_group.default";
    let cfg = node_group_config(
        "ekstest-ng",
        "ekstest-ng-default",
        &role_arn,
        &subnets,
        2,
        &[("node-group", "default")],
    );
    let state = create_checked(p, ty, &cfg, addr, "ng-tok").await;
    assert_eq!(
        state.get("id"),
        Some(&Value::from("ekstest-ng:ekstest-ng-default"))
    );
    assert_eq!(state.get("status"), Some(&Value::from("ACTIVE")));
    assert_eq!(state.get("disk_size"), Some(&Value::from(100i64)));
    assert!(
        state
            .get("arn")
            .and_then(Value::as_str)
            .unwrap()
            .contains(":nodegroup/ekstest-ng/ekstest-ng-default/")
    );

    // Scaling and labels change in place.
    let cfg2 = node_group_config(
        "ekstest-ng",
        "ekstest-ng-default",
        &role_arn,
        &subnets,
        3,
        &[("node-group", "default"), ("environment", "ekstest")],
    );
    let updated = update_checked(p, ty, &state, &cfg2, addr).await;
    let scaling = &updated.get("scaling_config").unwrap().as_list().unwrap()[0];
    assert_eq!(scaling.get("desired_size"), Some(&Value::from(3i64)));
    assert_eq!(
        updated.get("labels").and_then(|l| l.get("environment")),
        Some(&Value::from("ekstest"))
    );
    // Removing a label.
    let cfg3 = node_group_config(
        "ekstest-ng",
        "ekstest-ng-default",
        &role_arn,
        &subnets,
        3,
        &[("environment", "ekstest")],
    );
    let updated = update_checked(p, ty, &updated, &cfg3, addr).await;
    assert_eq!(
        updated.get("labels"),
        Some(&Value::map([("environment", Value::from("ekstest"))]))
    );

    // Instance types force a new node group.
    let mut other = cfg3.clone();
    other.as_map_mut().unwrap().insert(
        "instance_types".into(),
        Value::List(vec![Value::from("m5.large")]),
    );
    let plan = p
        .plan_resource(ty, Some(&updated), &other, &rctx(addr))
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("instance_types".into())]]
    );

    let imported = p
        .import(ty, "ekstest-ng:ekstest-ng-default")
        .await
        .unwrap()
        .expect("import");
    assert_eq!(imported.get("labels"), updated.get("labels"));
    assert_eq!(imported.get("tags_all"), updated.get("tags_all"));
    assert!(
        p.list_owned(ty, ENV)
            .await
            .unwrap()
            .iter()
            .any(|v| v.get("id") == updated.get("id"))
    );
    let found = p
        .find_created(ty, "x", &rctx(addr))
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.get("id"), updated.get("id"));

    // Edited outside → changed: scaled by hand.
    let eks = aws_sdk_eks::Client::new(&sdk_config().await);
    let updated = assert_edit_seen(
        p,
        ty,
        &updated,
        async {
            eks.update_nodegroup_config()
                .cluster_name("ekstest-ng")
                .nodegroup_name("ekstest-ng-default")
                .scaling_config(
                    aws_sdk_eks::types::NodegroupScalingConfig::builder()
                        .desired_size(2)
                        .min_size(1)
                        .max_size(5)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        },
        &["scaling_config"],
    )
    .await;

    // Deleted outside terrace → gone, not an error; delete is then a no-op.
    eks.delete_nodegroup()
        .cluster_name("ekstest-ng")
        .nodegroup_name("ekstest-ng-default")
        .send()
        .await
        .unwrap();
    assert_eq!(
        p.read_resources(ty, std::slice::from_ref(&updated))
            .await
            .unwrap(),
        vec![None]
    );
    assert_eq!(
        p.import(ty, "ekstest-ng:ekstest-ng-default").await.unwrap(),
        None
    );
    p.delete(ty, &updated).await.unwrap();

    // An unnamed node group gets a generated name; its ID follows.
    let mut unnamed = cfg.clone();
    unnamed.as_map_mut().unwrap().remove("node_group_name");
    let s2 = create_checked(p, ty, &unnamed, "aws_eks_node_group.unnamed", "ng-unnamed").await;
    assert!(
        s2.get("node_group_name")
            .and_then(Value::as_str)
            .unwrap()
            .starts_with("terrace-")
    );
    p.delete(ty, &s2).await.unwrap();
    p.delete("aws_eks_cluster", &cluster).await.unwrap();
}

#[tokio::test]
async fn cluster_encryption_access_and_network_config() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let (subnets, role_arn) = prerequisites(54, "ekstest-enc-role").await;
    let ty = "aws_eks_cluster";
    let addr = "aws_eks_cluster.secure";
    let name = "ekstest-secure";
    let key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555";
    let mut cfg = cluster_config(name, &role_arn, &subnets, false, "secure");
    let m = cfg.as_map_mut().unwrap();
    m.insert(
        "encryption_config".into(),
        Value::List(vec![Value::map([
            ("resources", Value::List(vec![Value::from("secrets")])),
            (
                "provider",
                Value::List(vec![Value::map([("key_arn", Value::from(key))])]),
            ),
        ])]),
    );
    m.insert(
        "access_config".into(),
        Value::List(vec![Value::map([
            ("authentication_mode", Value::from("API")),
            (
                "bootstrap_cluster_creator_admin_permissions",
                Value::Bool(false),
            ),
        ])]),
    );
    m.insert(
        "kubernetes_network_config".into(),
        Value::List(vec![Value::map([
            ("service_ipv4_cidr", Value::from("10.100.0.0/16")),
            ("ip_family", Value::from("ipv4")),
        ])]),
    );
    m.insert(
        "enabled_cluster_log_types".into(),
        Value::List(vec![Value::from("api"), Value::from("audit")]),
    );
    let state = create_checked(p, ty, &cfg, addr, "eks-enc").await;
    let enc = &state.get("encryption_config").unwrap().as_list().unwrap()[0];
    assert_eq!(
        enc.get("provider").unwrap().as_list().unwrap()[0].get("key_arn"),
        Some(&Value::from(key))
    );
    let net = &state
        .get("kubernetes_network_config")
        .unwrap()
        .as_list()
        .unwrap()[0];
    assert_eq!(
        net.get("service_ipv4_cidr"),
        Some(&Value::from("10.100.0.0/16"))
    );
    // What EKS was sent, checked with the SDK.
    let eks = aws_sdk_eks::Client::new(&sdk_config().await);
    let live = eks.describe_cluster().name(name).send().await.unwrap();
    let c = live.cluster().unwrap();
    assert_eq!(
        c.encryption_config()[0]
            .provider()
            .and_then(|p| p.key_arn()),
        Some(key)
    );
    assert_eq!(
        c.kubernetes_network_config()
            .and_then(|k| k.service_ipv4_cidr()),
        Some("10.100.0.0/16")
    );
    let vpc = c.resources_vpc_config().unwrap();
    assert!(!vpc.endpoint_public_access());
    assert!(vpc.endpoint_private_access());
    assert_eq!(
        state.get("enabled_cluster_log_types"),
        Some(&Value::set(vec![Value::from("api"), Value::from("audit")]))
    );

    // Leaving the computed blocks out plans no change.
    let mut bare = cfg.clone();
    bare.as_map_mut().unwrap().remove("access_config");
    bare.as_map_mut()
        .unwrap()
        .remove("kubernetes_network_config");
    let plan = p
        .plan_resource(ty, Some(&state), &bare, &rctx(addr))
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    assert_eq!(plan.planned, state);

    // Another key, another service CIDR or another bootstrap flag replace.
    let mut other_key = cfg.clone();
    other_key.as_map_mut().unwrap().insert(
        "encryption_config".into(),
        Value::List(vec![Value::map([
            ("resources", Value::List(vec![Value::from("secrets")])),
            (
                "provider",
                Value::List(vec![Value::map([(
                    "key_arn",
                    Value::from("arn:aws:kms:us-east-1:123456789012:key/other"),
                )])]),
            ),
        ])]),
    );
    let plan = p
        .plan_resource(ty, Some(&state), &other_key, &rctx(addr))
        .unwrap();
    assert!(
        plan.requires_replace
            .contains(&vec![PathStep::Key("encryption_config".into())]),
        "{:?}",
        plan.requires_replace
    );
    let mut removed = cfg.clone();
    removed.as_map_mut().unwrap().remove("encryption_config");
    let plan = p
        .plan_resource(ty, Some(&state), &removed, &rctx(addr))
        .unwrap();
    assert!(!plan.requires_replace.is_empty());
    let mut cidr = cfg.clone();
    cidr.as_map_mut().unwrap().insert(
        "kubernetes_network_config".into(),
        Value::List(vec![Value::map([(
            "service_ipv4_cidr",
            Value::from("172.20.0.0/16"),
        )])]),
    );
    let plan = p
        .plan_resource(ty, Some(&state), &cidr, &rctx(addr))
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![
            PathStep::Key("kubernetes_network_config".into()),
            PathStep::Index(0),
            PathStep::Key("service_ipv4_cidr".into())
        ]]
    );

    // The authentication mode and log types change in place.
    let mut mode = cfg.clone();
    let m = mode.as_map_mut().unwrap();
    m.insert(
        "access_config".into(),
        Value::List(vec![Value::map([
            ("authentication_mode", Value::from("API_AND_CONFIG_MAP")),
            (
                "bootstrap_cluster_creator_admin_permissions",
                Value::Bool(false),
            ),
        ])]),
    );
    m.insert(
        "enabled_cluster_log_types".into(),
        Value::List(vec![Value::from("authenticator")]),
    );
    let updated = update_checked(p, ty, &state, &mode, addr).await;
    assert_eq!(
        updated.get("enabled_cluster_log_types"),
        Some(&Value::set(vec![Value::from("authenticator")]))
    );

    // An unimplemented argument at its default is accepted, else refused.
    let with_default = {
        let mut c = cfg.clone();
        c.as_map_mut()
            .unwrap()
            .insert("deletion_protection".into(), Value::Bool(false));
        c
    };
    assert!(
        p.plan_resource(ty, Some(&updated), &with_default, &rctx(addr))
            .is_ok()
    );

    // Deleted outside terrace → gone.
    eks.delete_cluster().name(name).send().await.unwrap();
    assert_eq!(
        p.read_resources(ty, std::slice::from_ref(&updated))
            .await
            .unwrap(),
        vec![None]
    );
    p.delete(ty, &updated).await.unwrap();
}

#[tokio::test]
async fn node_group_taints_remote_access_and_launch_template() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let (subnets, role_arn) = prerequisites(55, "ekstest-lt-role").await;
    let cluster = create_checked(
        p,
        "aws_eks_cluster",
        &cluster_config("ekstest-lt", &role_arn, &subnets, true, "c"),
        "aws_eks_cluster.lt",
        "ltc",
    )
    .await;
    let ty = "aws_eks_node_group";
    let taint = |key: &str, effect: &str| {
        Value::map([
            ("key", Value::from(key)),
            ("value", Value::from("true")),
            ("effect", Value::from(effect)),
        ])
    };
    // Taints and remote access.
    let mut cfg = node_group_config("ekstest-lt", "ekstest-lt-ssh", &role_arn, &subnets, 2, &[]);
    let m = cfg.as_map_mut().unwrap();
    m.insert(
        "taint".into(),
        Value::List(vec![taint("dedicated", "NO_SCHEDULE")]),
    );
    m.insert(
        "remote_access".into(),
        Value::List(vec![Value::map([("ec2_ssh_key", Value::from("ops-key"))])]),
    );
    let addr = "aws_eks_node_group.ssh";
    let state = create_checked(p, ty, &cfg, addr, "lt-ssh").await;
    assert_eq!(
        state.get("remote_access").unwrap().as_list().unwrap()[0].get("ec2_ssh_key"),
        Some(&Value::from("ops-key"))
    );
    // Taints change in place (one replaced, one added).
    let mut cfg2 = cfg.clone();
    cfg2.as_map_mut().unwrap().insert(
        "taint".into(),
        Value::List(vec![
            taint("dedicated", "NO_EXECUTE"),
            taint("gpu", "PREFER_NO_SCHEDULE"),
        ]),
    );
    let updated = update_checked(p, ty, &state, &cfg2, addr).await;
    assert_eq!(
        updated
            .get("taint")
            .and_then(Value::as_list)
            .map(<[Value]>::len),
        Some(2)
    );
    let eks = aws_sdk_eks::Client::new(&sdk_config().await);
    let live = eks
        .describe_nodegroup()
        .cluster_name("ekstest-lt")
        .nodegroup_name("ekstest-lt-ssh")
        .send()
        .await
        .unwrap();
    let mut effects: Vec<&str> = live
        .nodegroup()
        .unwrap()
        .taints()
        .iter()
        .filter_map(|t| t.effect().map(|e| e.as_str()))
        .collect();
    effects.sort();
    assert_eq!(effects, vec!["NO_EXECUTE", "PREFER_NO_SCHEDULE"]);
    // Another SSH key is a new node group.
    let mut key2 = cfg2.clone();
    key2.as_map_mut().unwrap().insert(
        "remote_access".into(),
        Value::List(vec![Value::map([(
            "ec2_ssh_key",
            Value::from("other-key"),
        )])]),
    );
    let plan = p
        .plan_resource(ty, Some(&updated), &key2, &rctx(addr))
        .unwrap();
    assert!(!plan.requires_replace.is_empty());
    p.delete(ty, &updated).await.unwrap();

    // A node group without remote access reports none, whatever moto
    // defaults to.
    let plain = node_group_config(
        "ekstest-lt",
        "ekstest-lt-plain",
        &role_arn,
        &subnets,
        1,
        &[],
    );
    let s = create_checked(p, ty, &plain, "aws_eks_node_group.plain", "lt-plain").await;
    assert_eq!(s.get("remote_access"), Some(&Value::List(vec![])));
    p.delete(ty, &s).await.unwrap();
    p.delete("aws_eks_cluster", &cluster).await.unwrap();
}

#[tokio::test]
async fn node_group_launch_template_plans() {
    // moto cannot answer a node group made from a launch template (its
    // default disk size comes back as a string), so this checks the plan:
    // a new template version is an update in place, another template a
    // new node group.
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let ty = "aws_eks_node_group";
    let lt = |name: &str, version: &str| {
        Value::List(vec![Value::map([
            ("name", Value::from(name)),
            ("version", Value::from(version)),
        ])])
    };
    let mut cfg = node_group_config(
        "c",
        "ng",
        "arn:aws:iam::1:role/r",
        &["subnet-1".into()],
        1,
        &[],
    );
    let m = cfg.as_map_mut().unwrap();
    m.remove("disk_size");
    m.insert("launch_template".into(), lt("nodes", "1"));
    let planned = p
        .plan_resource(ty, None, &cfg, &rctx("aws_eks_node_group.lt"))
        .unwrap()
        .planned;
    // A stand-in for the created object: every unknown filled.
    let mut prior = planned.clone();
    let pm = prior.as_map_mut().unwrap();
    for (k, v) in [
        (
            "arn",
            Value::from("arn:aws:eks:us-east-1:1:nodegroup/c/ng/x"),
        ),
        ("status", Value::from("ACTIVE")),
        ("resources", Value::List(vec![])),
        ("ami_type", Value::from("AL2_x86_64")),
        ("disk_size", Value::Null),
        ("version", Value::from("1.29")),
        ("release_version", Value::from("1.29.0-1")),
        ("remote_access", Value::List(vec![])),
        ("taint", Value::set(vec![])),
    ] {
        pm.insert(k.into(), v);
    }
    pm.insert(
        "launch_template".into(),
        Value::List(vec![Value::map([
            ("id", Value::from("lt-0123")),
            ("name", Value::from("nodes")),
            ("version", Value::from("1")),
        ])]),
    );
    let m = cfg.as_map_mut().unwrap();
    m.insert("launch_template".into(), lt("nodes", "2"));
    let plan = p
        .plan_resource(ty, Some(&prior), &cfg, &rctx("aws_eks_node_group.lt"))
        .unwrap();
    assert!(
        plan.requires_replace.is_empty(),
        "{:?}",
        plan.requires_replace
    );
    let planned_lt = &plan
        .planned
        .get("launch_template")
        .unwrap()
        .as_list()
        .unwrap()[0];
    assert_eq!(planned_lt.get("version"), Some(&Value::from("2")));
    assert_eq!(planned_lt.get("id"), Some(&Value::from("lt-0123")));
    cfg.as_map_mut()
        .unwrap()
        .insert("launch_template".into(), lt("other-nodes", "1"));
    let plan = p
        .plan_resource(ty, Some(&prior), &cfg, &rctx("aws_eks_node_group.lt"))
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![
            PathStep::Key("launch_template".into()),
            PathStep::Index(0),
            PathStep::Key("name".into())
        ]]
    );
}

#[tokio::test]
async fn cluster_data_sources() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let (subnets, role_arn) = prerequisites(56, "ekstest-ds-role").await;
    let cluster = create_checked(
        p,
        "aws_eks_cluster",
        &cluster_config("ekstest-ds", &role_arn, &subnets, true, "ds"),
        "aws_eks_cluster.ds",
        "ds",
    )
    .await;
    let cfg = Value::map([("name", Value::from("ekstest-ds"))]);
    let found = p.read_data("aws_eks_cluster", &cfg).await.unwrap();
    for key in [
        "arn",
        "endpoint",
        "version",
        "certificate_authority",
        "vpc_config",
    ] {
        assert_eq!(found.get(key), cluster.get(key), "{key}");
    }
    let missing = Value::map([("name", Value::from("ekstest-nowhere"))]);
    match p.read_data("aws_eks_cluster", &missing).await {
        Err(terrace_provider::ProviderError::NotFound(m)) => {
            assert!(m.contains("reading EKS Cluster (ekstest-nowhere)"), "{m}")
        }
        other => panic!("expected not found, got {other:?}"),
    }

    // The token: k8s-aws-v1. + base64url (no padding) of a presigned STS
    // GetCallerIdentity URL that signs the x-k8s-aws-id header, 60 s.
    let auth = p.read_data("aws_eks_cluster_auth", &cfg).await.unwrap();
    assert_eq!(auth.get("id"), Some(&Value::from("ekstest-ds")));
    let token = auth.get("token").unwrap();
    assert!(token.is_sensitive(), "the token must be sensitive");
    let token = token.unmarked().as_str().unwrap();
    let encoded = token.strip_prefix("k8s-aws-v1.").expect("prefix");
    assert!(!encoded.contains('=') && !encoded.contains('+') && !encoded.contains('/'));
    use base64::Engine;
    let url = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();
    assert!(
        url.contains("/?Action=GetCallerIdentity&Version=2011-06-15&"),
        "{url}"
    );
    assert!(url.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"), "{url}");
    assert!(url.contains("X-Amz-Expires=60"), "{url}");
    assert!(
        url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"),
        "{url}"
    );
    assert!(url.contains("%2Fus-east-1%2Fsts%2Faws4_request"), "{url}");
    let sig = url
        .split("X-Amz-Signature=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap();
    assert_eq!(sig.len(), 64);
    assert!(sig.chars().all(|c| c.is_ascii_hexdigit()));
    // An empty name is refused at the attribute.
    assert!(matches!(
        p.read_data(
            "aws_eks_cluster_auth",
            &Value::map([("name", Value::from(""))])
        )
        .await,
        Err(terrace_provider::ProviderError::InvalidArgument { path: Some(_), .. })
    ));
    p.delete("aws_eks_cluster", &cluster).await.unwrap();
}
