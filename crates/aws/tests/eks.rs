//! `aws_eks_cluster` and `aws_eks_node_group` against a real moto server.

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

    // Deleted outside terrace → gone, not an error; delete is then a no-op.
    let eks = aws_sdk_eks::Client::new(&sdk_config().await);
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
