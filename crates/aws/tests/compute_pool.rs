//! `aws_launch_template` and `aws_autoscaling_group` against a real moto server.

mod common;

use common::assert_edit_seen;
use std::sync::Arc;
use std::time::Duration;
use terrace_aws::AwsProviderFactory;
use terrace_core::{PathStep, Value};
use terrace_provider::{CreateContext, Provider, ProviderFactory, ResourceContext};

const ENV: &str = "pooltest";

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
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
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

/// Update in place per plan; check the result against the plan and a read.
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

struct Net {
    subnet: String,
    sg: String,
    ami: String,
}

async fn network(cidr_octet: u8) -> Net {
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    let vpc = ec2
        .create_vpc()
        .cidr_block(format!("10.{cidr_octet}.0.0/16"))
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block(format!("10.{cidr_octet}.1.0/24"))
        .availability_zone("us-east-1a")
        .send()
        .await
        .unwrap();
    let sg = ec2
        .create_security_group()
        .vpc_id(&vpc_id)
        .group_name(format!("pool-{cidr_octet}"))
        .description("pool test")
        .send()
        .await
        .unwrap();
    let images = ec2.describe_images().send().await.unwrap();
    Net {
        subnet: subnet.subnet().unwrap().subnet_id().unwrap().to_string(),
        sg: sg.group_id().unwrap().to_string(),
        ami: images.images()[0].image_id().unwrap().to_string(),
    }
}

fn lt_config(name: &str, net: &Net, instance_type: &str) -> Value {
    Value::map([
        ("name", Value::from(name)),
        ("description", Value::from("runners")),
        ("image_id", Value::from(net.ami.as_str())),
        ("instance_type", Value::from(instance_type)),
        ("user_data", Value::from("IyEvYmluL3NoCmVjaG8gaGk=")),
        (
            "vpc_security_group_ids",
            Value::List(vec![Value::from(net.sg.as_str())]),
        ),
        ("update_default_version", Value::Bool(true)),
        (
            "iam_instance_profile",
            Value::List(vec![Value::map([("name", Value::from("runner-profile"))])]),
        ),
        (
            "metadata_options",
            Value::List(vec![Value::map([
                ("http_endpoint", Value::from("enabled")),
                ("http_tokens", Value::from("required")),
                ("http_put_response_hop_limit", Value::from(1i64)),
            ])]),
        ),
        (
            "tag_specifications",
            Value::List(vec![Value::map([
                ("resource_type", Value::from("instance")),
                ("tags", Value::map([("Role", Value::from("ci-runner"))])),
            ])]),
        ),
        ("tags", Value::map([("team", Value::from("ci"))])),
    ])
}

#[tokio::test]
async fn launch_template_lifecycle() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let net = network(41).await;
    let ty = "aws_launch_template";
    let addr = "aws_launch_template.runner";
    let state = create_checked(
        p,
        ty,
        &lt_config("pooltest-lt", &net, "t3.micro"),
        addr,
        "lt-tok-1",
    )
    .await;
    let id = state.get("id").and_then(Value::as_str).unwrap().to_string();
    assert!(id.starts_with("lt-"));
    assert!(
        state
            .get("arn")
            .and_then(Value::as_str)
            .unwrap()
            .ends_with(&format!(":launch-template/{id}"))
    );
    assert_eq!(state.get("latest_version"), Some(&Value::from(1i64)));
    assert_eq!(state.get("default_version"), Some(&Value::from(1i64)));
    assert_eq!(
        state.get("user_data"),
        Some(&Value::from("IyEvYmluL3NoCmVjaG8gaGk="))
    );
    assert_eq!(
        state.get("tags_all").and_then(|t| t.get("terrace:address")),
        Some(&Value::from(addr))
    );

    // New launch data: a new version that becomes the default.
    let plan = p
        .plan_resource(
            ty,
            Some(&state),
            &lt_config("pooltest-lt", &net, "t3.small"),
            &rctx(addr),
        )
        .unwrap();
    assert_eq!(plan.planned.get("latest_version"), Some(&Value::Unknown));
    assert_eq!(plan.planned.get("default_version"), Some(&Value::Unknown));
    let v2 = update_checked(
        p,
        ty,
        &state,
        &lt_config("pooltest-lt", &net, "t3.small"),
        addr,
    )
    .await;
    assert_eq!(v2.get("latest_version"), Some(&Value::from(2i64)));
    assert_eq!(v2.get("default_version"), Some(&Value::from(2i64)));
    assert_eq!(v2.get("instance_type"), Some(&Value::from("t3.small")));
    assert_eq!(v2.get("id"), state.get("id"));

    // Only tags: no new version.
    let mut cfg = lt_config("pooltest-lt", &net, "t3.small");
    cfg.as_map_mut()
        .unwrap()
        .insert("tags".into(), Value::map([("team", Value::from("ops"))]));
    let v2b = update_checked(p, ty, &v2, &cfg, addr).await;
    assert_eq!(v2b.get("latest_version"), Some(&Value::from(2i64)));
    assert_eq!(
        v2b.get("tags"),
        Some(&Value::map([("team", Value::from("ops"))]))
    );

    // A new name replaces the template.
    let plan = p
        .plan_resource(
            ty,
            Some(&v2b),
            &lt_config("pooltest-lt-2", &net, "t3.small"),
            &rctx(addr),
        )
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("name".into())]]
    );

    let imported = p.import(ty, &id).await.unwrap().expect("import");
    assert_eq!(
        imported.get("instance_type"),
        Some(&Value::from("t3.small"))
    );
    assert_eq!(imported.get("tags_all"), v2b.get("tags_all"));
    assert!(
        p.list_owned(ty, ENV)
            .await
            .unwrap()
            .iter()
            .any(|v| v.get("id") == Some(&Value::from(id.as_str())))
    );
    let found = p
        .find_created(ty, "other", &rctx(addr))
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.get("id"), Some(&Value::from(id.as_str())));
    assert!(
        p.find_created(ty, "other", &rctx("aws_launch_template.none"))
            .await
            .unwrap()
            .is_none()
    );

    // Edited outside → changed: the first version made the default again by
    // hand. (moto ignores SourceVersion, so a version made by hand would
    // change every argument.)
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    let v2b = assert_edit_seen(
        p,
        ty,
        &v2b,
        async {
            ec2.modify_launch_template()
                .launch_template_id(&id)
                .default_version("1")
                .send()
                .await
                .unwrap();
        },
        &["default_version"],
    )
    .await;

    p.delete(ty, &v2b).await.unwrap();
    p.delete(ty, &v2b).await.unwrap();
    assert_eq!(p.read_resources(ty, &[v2b]).await.unwrap(), vec![None]);
}

#[tokio::test]
async fn launch_templates_read_in_batches() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let net = network(42).await;
    let ty = "aws_launch_template";
    let mut states = Vec::new();
    for i in 0..6 {
        let addr = format!("aws_launch_template.many[{i}]");
        states.push(
            create_checked(
                p,
                ty,
                &lt_config(&format!("pooltest-many-{i}"), &net, "t3.micro"),
                &addr,
                &format!("m{i}"),
            )
            .await,
        );
    }
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    let gone = states[2].get("id").and_then(Value::as_str).unwrap();
    ec2.delete_launch_template()
        .launch_template_id(gone)
        .send()
        .await
        .unwrap();

    let calls = |op: &str| {
        p.api_calls()
            .into_iter()
            .find(|(k, _)| k == op)
            .map(|(_, n)| n)
            .unwrap_or(0)
    };
    let (lt0, ltv0) = (
        calls("ec2:DescribeLaunchTemplates"),
        calls("ec2:DescribeLaunchTemplateVersions"),
    );
    let read = p.read_resources(ty, &states).await.unwrap();
    assert_eq!(read.len(), 6);
    for (i, r) in read.iter().enumerate() {
        if i == 2 {
            assert_eq!(r, &None);
        } else {
            assert_eq!(r.as_ref(), Some(&states[i]));
        }
    }
    // Six templates: a bounded number of calls, not one per template and version.
    assert!(calls("ec2:DescribeLaunchTemplates") - lt0 <= 7);
    assert_eq!(calls("ec2:DescribeLaunchTemplateVersions") - ltv0, 1);
    for s in &states {
        p.delete(ty, s).await.unwrap();
    }
}

fn asg_config(
    name: &str,
    lt_id: &str,
    subnet: &str,
    max: i64,
    desired: i64,
    extra_tag: Option<(&str, &str)>,
) -> Value {
    let mut tags = vec![Value::map([
        ("key", Value::from("Name")),
        ("value", Value::from("runner")),
        ("propagate_at_launch", Value::Bool(true)),
    ])];
    if let Some((k, v)) = extra_tag {
        tags.push(Value::map([
            ("key", Value::from(k)),
            ("value", Value::from(v)),
            ("propagate_at_launch", Value::Bool(false)),
        ]));
    }
    Value::map([
        ("name", Value::from(name)),
        ("min_size", Value::from(0i64)),
        ("max_size", Value::from(max)),
        ("desired_capacity", Value::from(desired)),
        (
            "vpc_zone_identifier",
            Value::List(vec![Value::from(subnet)]),
        ),
        ("health_check_type", Value::from("EC2")),
        ("wait_for_capacity_timeout", Value::from("2m")),
        (
            "launch_template",
            Value::List(vec![Value::map([
                ("id", Value::from(lt_id)),
                ("version", Value::from("$Latest")),
            ])]),
        ),
        ("tag", Value::List(tags)),
    ])
}

#[tokio::test]
async fn autoscaling_group_lifecycle() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let net = network(43).await;
    let lt = create_checked(
        p,
        "aws_launch_template",
        &lt_config("pooltest-asg-lt", &net, "t3.micro"),
        "aws_launch_template.lt",
        "asg-lt",
    )
    .await;
    let lt_id = lt.get("id").and_then(Value::as_str).unwrap().to_string();
    let ty = "aws_autoscaling_group";
    let addr = "aws_autoscaling_group.runner";
    let name = "pooltest-asg";
    let state = create_checked(
        p,
        ty,
        &asg_config(name, &lt_id, &net.subnet, 2, 1, None),
        addr,
        "asg-tok",
    )
    .await;
    assert_eq!(state.get("id"), Some(&Value::from(name)));
    assert!(
        state
            .get("arn")
            .and_then(Value::as_str)
            .unwrap()
            .contains(&format!("autoScalingGroupName/{name}"))
    );
    let lt_block = &state.get("launch_template").unwrap().as_list().unwrap()[0];
    assert_eq!(lt_block.get("name"), Some(&Value::from("pooltest-asg-lt")));
    assert_eq!(state.get("desired_capacity"), Some(&Value::from(1i64)));

    // The API has the ownership tags (not propagated) and one instance.
    let asg = aws_sdk_autoscaling::Client::new(&sdk_config().await);
    let described = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .unwrap();
    let g = &described.auto_scaling_groups()[0];
    assert_eq!(g.instances().len(), 1);
    let owner = g
        .tags()
        .iter()
        .find(|t| t.key() == Some("terrace:environment"))
        .expect("ownership tag");
    assert_eq!(owner.value(), Some(ENV));
    assert_eq!(owner.propagate_at_launch(), Some(false));

    // Scale and retag in place.
    let updated = update_checked(
        p,
        ty,
        &state,
        &asg_config(name, &lt_id, &net.subnet, 3, 2, Some(("team", "ci"))),
        addr,
    )
    .await;
    assert_eq!(updated.get("max_size"), Some(&Value::from(3i64)));
    assert_eq!(updated.get("desired_capacity"), Some(&Value::from(2i64)));
    assert_eq!(
        updated
            .get("tag")
            .and_then(Value::as_list)
            .map(<[Value]>::len),
        Some(2)
    );
    // The ownership tags survived the tag update.
    let described = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .unwrap();
    assert!(
        described.auto_scaling_groups()[0]
            .tags()
            .iter()
            .any(|t| t.key() == Some("terrace:address"))
    );

    // A new name replaces the group.
    let plan = p
        .plan_resource(
            ty,
            Some(&updated),
            &asg_config("pooltest-asg-2", &lt_id, &net.subnet, 3, 2, None),
            &rctx(addr),
        )
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("name".into())]]
    );

    let imported = p.import(ty, name).await.unwrap().expect("import");
    assert_eq!(imported.get("tag"), updated.get("tag"));
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
        p.find_created(ty, "x", &rctx("aws_autoscaling_group.other"))
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
    p.delete("aws_launch_template", &lt).await.unwrap();
}

#[tokio::test]
async fn autoscaling_groups_read_many_and_deleted_outside() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let net = network(44).await;
    let lt = create_checked(
        p,
        "aws_launch_template",
        &lt_config("pooltest-many-asg-lt", &net, "t3.micro"),
        "aws_launch_template.l",
        "mlt",
    )
    .await;
    let lt_id = lt.get("id").and_then(Value::as_str).unwrap().to_string();
    let ty = "aws_autoscaling_group";
    let mut states = Vec::new();
    for i in 0..3 {
        let cfg = asg_config(
            &format!("pooltest-many-asg-{i}"),
            &lt_id,
            &net.subnet,
            1,
            0,
            None,
        );
        states.push(
            create_checked(
                p,
                ty,
                &cfg,
                &format!("aws_autoscaling_group.g[{i}]"),
                &format!("g{i}"),
            )
            .await,
        );
    }
    let asg = aws_sdk_autoscaling::Client::new(&sdk_config().await);
    asg.delete_auto_scaling_group()
        .auto_scaling_group_name("pooltest-many-asg-0")
        .force_delete(true)
        .send()
        .await
        .unwrap();
    let before = p
        .api_calls()
        .into_iter()
        .find(|(k, _)| k == "autoscaling:DescribeAutoScalingGroups")
        .map(|(_, n)| n)
        .unwrap_or(0);
    let read = p.read_resources(ty, &states).await.unwrap();
    let after = p
        .api_calls()
        .into_iter()
        .find(|(k, _)| k == "autoscaling:DescribeAutoScalingGroups")
        .map(|(_, n)| n)
        .unwrap_or(0);
    assert_eq!(after - before, 1, "one batched describe for three groups");
    assert_eq!(
        read,
        vec![None, Some(states[1].clone()), Some(states[2].clone())]
    );
    for s in &states {
        p.delete(ty, s).await.unwrap();
    }
    p.delete("aws_launch_template", &lt).await.unwrap();
}

fn schedule_config(name: &str, group: &str, recurrence: &str, desired: i64) -> Value {
    Value::map([
        ("scheduled_action_name", Value::from(name)),
        ("autoscaling_group_name", Value::from(group)),
        ("recurrence", Value::from(recurrence)),
        ("time_zone", Value::from("Europe/Berlin")),
        ("min_size", Value::from(0i64)),
        ("max_size", Value::from(2i64)),
        ("desired_capacity", Value::from(desired)),
    ])
}

#[tokio::test]
async fn autoscaling_schedule_lifecycle() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let net = network(45).await;
    let lt = create_checked(
        p,
        "aws_launch_template",
        &lt_config("pooltest-sched-lt", &net, "t3.micro"),
        "aws_launch_template.s",
        "slt",
    )
    .await;
    let lt_id = lt.get("id").and_then(Value::as_str).unwrap().to_string();
    let group = "pooltest-sched-asg";
    let asg_state = create_checked(
        p,
        "aws_autoscaling_group",
        &asg_config(group, &lt_id, &net.subnet, 2, 0, None),
        "aws_autoscaling_group.s",
        "sasg",
    )
    .await;
    let ty = "aws_autoscaling_schedule";
    // Scale to zero at night, back up in the morning (working days).
    let night = create_checked(
        p,
        ty,
        &schedule_config("night", group, "0 19 * * MON-FRI", 0),
        "aws_autoscaling_schedule.night",
        "n",
    )
    .await;
    assert_eq!(night.get("id"), Some(&Value::from("night")));
    assert_eq!(night.get("time_zone"), Some(&Value::from("Europe/Berlin")));
    assert_eq!(
        night.get("recurrence"),
        Some(&Value::from("0 19 * * MON-FRI"))
    );
    assert_eq!(night.get("desired_capacity"), Some(&Value::from(0i64)));
    let morning = create_checked(
        p,
        ty,
        &schedule_config("morning", group, "0 7 * * MON-FRI", 2),
        "aws_autoscaling_schedule.morning",
        "m",
    )
    .await;
    // A one-time action with start and end, sizes left alone (-1).
    let once = create_checked(
        p,
        ty,
        &Value::map([
            ("scheduled_action_name", Value::from("release-freeze")),
            ("autoscaling_group_name", Value::from(group)),
            ("start_time", Value::from("2030-01-01T08:00:00Z")),
            ("end_time", Value::from("2030-01-02T08:00:00Z")),
            ("max_size", Value::from(1i64)),
        ]),
        "aws_autoscaling_schedule.once",
        "o",
    )
    .await;
    assert_eq!(once.get("min_size"), Some(&Value::from(-1i64)));
    assert_eq!(
        once.get("start_time"),
        Some(&Value::from("2030-01-01T08:00:00Z"))
    );

    // Recurrence and sizes change in place; the name replaces.
    let updated = update_checked(
        p,
        ty,
        &night,
        &schedule_config("night", group, "30 20 * * *", 0),
        "aws_autoscaling_schedule.night",
    )
    .await;
    assert_eq!(updated.get("recurrence"), Some(&Value::from("30 20 * * *")));
    let plan = p
        .plan_resource(
            ty,
            Some(&updated),
            &schedule_config("evening", group, "30 20 * * *", 0),
            &rctx("aws_autoscaling_schedule.night"),
        )
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("scheduled_action_name".into())]]
    );
    // A start time that is not Terraform's format is refused at plan.
    let bad = Value::map([
        ("scheduled_action_name", Value::from("bad")),
        ("autoscaling_group_name", Value::from(group)),
        ("start_time", Value::from("tomorrow 8am")),
    ]);
    match p.plan_resource(ty, None, &bad, &rctx("aws_autoscaling_schedule.bad")) {
        Err(terrace_provider::ProviderError::InvalidArgument { path, .. }) => {
            assert_eq!(path, Some(vec![PathStep::Key("start_time".into())]))
        }
        other => panic!("expected an argument error, got {other:?}"),
    }

    // Three actions of one group: one batched describe.
    let before = p
        .api_calls()
        .into_iter()
        .find(|(k, _)| k == "autoscaling:DescribeScheduledActions")
        .map(|(_, n)| n)
        .unwrap_or(0);
    let states = vec![updated.clone(), morning.clone(), once.clone()];
    let read = p.read_resources(ty, &states).await.unwrap();
    let after = p
        .api_calls()
        .into_iter()
        .find(|(k, _)| k == "autoscaling:DescribeScheduledActions")
        .map(|(_, n)| n)
        .unwrap_or(0);
    assert_eq!(after - before, 1);
    assert_eq!(read, states.iter().cloned().map(Some).collect::<Vec<_>>());

    // Import; edited outside → changed; deleted outside → missing.
    let imported = p
        .import(ty, &format!("{group}/morning"))
        .await
        .unwrap()
        .expect("import");
    assert_eq!(imported.get("recurrence"), morning.get("recurrence"));
    assert!(matches!(
        p.import(ty, "no-slash").await,
        Err(terrace_provider::ProviderError::InvalidArgument { .. })
    ));
    let asg = aws_sdk_autoscaling::Client::new(&sdk_config().await);
    asg.put_scheduled_update_group_action()
        .auto_scaling_group_name(group)
        .scheduled_action_name("morning")
        .recurrence("0 6 * * *")
        .desired_capacity(1)
        .send()
        .await
        .unwrap();
    let read = p
        .read_resources(ty, std::slice::from_ref(&morning))
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(read.get("recurrence"), Some(&Value::from("0 6 * * *")));
    asg.delete_scheduled_action()
        .auto_scaling_group_name(group)
        .scheduled_action_name("morning")
        .send()
        .await
        .unwrap();
    assert_eq!(
        p.read_resources(ty, std::slice::from_ref(&morning))
            .await
            .unwrap(),
        vec![None]
    );
    p.delete(ty, &morning).await.unwrap();

    for s in [&updated, &once] {
        p.delete(ty, s).await.unwrap();
    }
    assert_eq!(
        p.read_resources(ty, std::slice::from_ref(&once))
            .await
            .unwrap(),
        vec![None]
    );
    p.delete("aws_autoscaling_group", &asg_state).await.unwrap();
    p.delete("aws_launch_template", &lt).await.unwrap();
}

#[tokio::test]
async fn autoscaling_policy_simple_and_target_tracking() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let net = network(46).await;
    let lt = create_checked(
        p,
        "aws_launch_template",
        &lt_config("pooltest-policy-lt", &net, "t3.micro"),
        "aws_launch_template.p",
        "plt",
    )
    .await;
    let lt_id = lt.get("id").and_then(Value::as_str).unwrap().to_string();
    let group = "pooltest-policy-asg";
    let asg_state = create_checked(
        p,
        "aws_autoscaling_group",
        &asg_config(group, &lt_id, &net.subnet, 3, 0, None),
        "aws_autoscaling_group.p",
        "pasg",
    )
    .await;
    let ty = "aws_autoscaling_policy";
    // Simple scaling: add one runner per alarm, with a cooldown.
    let simple_cfg = |adjust: i64| {
        Value::map([
            ("name", Value::from("scale-out")),
            ("autoscaling_group_name", Value::from(group)),
            ("adjustment_type", Value::from("ChangeInCapacity")),
            ("scaling_adjustment", Value::from(adjust)),
            ("cooldown", Value::from(120i64)),
        ])
    };
    let simple = create_checked(p, ty, &simple_cfg(1), "aws_autoscaling_policy.out", "s").await;
    assert_eq!(
        simple.get("policy_type"),
        Some(&Value::from("SimpleScaling"))
    );
    assert!(
        simple
            .get("arn")
            .and_then(Value::as_str)
            .is_some_and(|a| a.contains(":scalingPolicy:"))
    );
    let simple = update_checked(p, ty, &simple, &simple_cfg(2), "aws_autoscaling_policy.out").await;
    assert_eq!(simple.get("scaling_adjustment"), Some(&Value::from(2i64)));

    // Target tracking: keep CPU at 60 %.
    let tracking_cfg = |target: f64| {
        Value::map([
            ("name", Value::from("cpu-target")),
            ("autoscaling_group_name", Value::from(group)),
            ("policy_type", Value::from("TargetTrackingScaling")),
            (
                "target_tracking_configuration",
                Value::List(vec![Value::map([
                    ("target_value", Value::from(target)),
                    (
                        "predefined_metric_specification",
                        Value::List(vec![Value::map([(
                            "predefined_metric_type",
                            Value::from("ASGAverageCPUUtilization"),
                        )])]),
                    ),
                ])]),
            ),
        ])
    };
    let addr = "aws_autoscaling_policy.cpu";
    let tracking = create_checked(p, ty, &tracking_cfg(60.0), addr, "t").await;
    let tracking = update_checked(p, ty, &tracking, &tracking_cfg(45.5), addr).await;
    let t = &tracking
        .get("target_tracking_configuration")
        .unwrap()
        .as_list()
        .unwrap()[0];
    assert_eq!(t.get("target_value"), Some(&Value::from(45.5)));
    // A renamed policy is a new one.
    let mut renamed = tracking_cfg(45.5);
    renamed
        .as_map_mut()
        .unwrap()
        .insert("name".into(), Value::from("cpu-target-2"));
    let plan = p
        .plan_resource(ty, Some(&tracking), &renamed, &rctx(addr))
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("name".into())]]
    );
    // Mismatched type and block: refused at plan, at the attribute.
    let mut wrong = tracking_cfg(50.0);
    wrong.as_map_mut().unwrap().remove("policy_type");
    match p.plan_resource(ty, None, &wrong, &rctx(addr)) {
        Err(terrace_provider::ProviderError::InvalidArgument { path, .. }) => assert_eq!(
            path,
            Some(vec![PathStep::Key("target_tracking_configuration".into())])
        ),
        other => panic!("expected an argument error, got {other:?}"),
    }
    let mut step = simple_cfg(1);
    step.as_map_mut()
        .unwrap()
        .insert("policy_type".into(), Value::from("StepScaling"));
    assert!(matches!(
        p.plan_resource(ty, None, &step, &rctx(addr)),
        Err(terrace_provider::ProviderError::InvalidArgument { .. })
    ));

    // Both policies in one batched describe; import; edited and deleted outside.
    let states = vec![simple.clone(), tracking.clone()];
    assert_eq!(
        p.read_resources(ty, &states).await.unwrap(),
        states.iter().cloned().map(Some).collect::<Vec<_>>()
    );
    let imported = p
        .import(ty, &format!("{group}/cpu-target"))
        .await
        .unwrap()
        .expect("import");
    assert_eq!(imported.get("arn"), tracking.get("arn"));
    let asg = aws_sdk_autoscaling::Client::new(&sdk_config().await);
    asg.put_scaling_policy()
        .auto_scaling_group_name(group)
        .policy_name("scale-out")
        .policy_type("SimpleScaling")
        .adjustment_type("ChangeInCapacity")
        .scaling_adjustment(5)
        .cooldown(120)
        .send()
        .await
        .unwrap();
    let read = p
        .read_resources(ty, std::slice::from_ref(&simple))
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(read.get("scaling_adjustment"), Some(&Value::from(5i64)));
    asg.delete_policy()
        .auto_scaling_group_name(group)
        .policy_name("scale-out")
        .send()
        .await
        .unwrap();
    assert_eq!(
        p.read_resources(ty, std::slice::from_ref(&simple))
            .await
            .unwrap(),
        vec![None]
    );
    p.delete(ty, &simple).await.unwrap();
    p.delete(ty, &tracking).await.unwrap();
    assert_eq!(
        p.read_resources(ty, std::slice::from_ref(&tracking))
            .await
            .unwrap(),
        vec![None]
    );
    p.delete("aws_autoscaling_group", &asg_state).await.unwrap();
    p.delete("aws_launch_template", &lt).await.unwrap();
}

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|s| Value::from(*s)).collect())
}

fn block(entries: Vec<(&str, Value)>) -> Value {
    Value::List(vec![Value::map(entries)])
}

/// A group with a mixed instances policy, a warm pool, a classic load
/// balancer and a target group; all but the name change in place.
fn mixed_config(
    name: &str,
    lt_id: &str,
    subnet: &str,
    percent_on_demand: i64,
    warm_min: i64,
    elbs: &[&str],
    tgs: &[&str],
) -> Value {
    Value::map([
        ("name", Value::from(name)),
        ("min_size", Value::from(0i64)),
        ("max_size", Value::from(2i64)),
        ("desired_capacity", Value::from(0i64)),
        ("vpc_zone_identifier", list(&[subnet])),
        ("wait_for_capacity_timeout", Value::from("0")),
        ("load_balancers", list(elbs)),
        ("target_group_arns", list(tgs)),
        (
            "mixed_instances_policy",
            block(vec![
                (
                    "instances_distribution",
                    block(vec![
                        ("on_demand_base_capacity", Value::from(0i64)),
                        (
                            "on_demand_percentage_above_base_capacity",
                            Value::from(percent_on_demand),
                        ),
                        (
                            "spot_allocation_strategy",
                            Value::from("capacity-optimized"),
                        ),
                    ]),
                ),
                (
                    "launch_template",
                    block(vec![
                        (
                            "launch_template_specification",
                            block(vec![
                                ("launch_template_id", Value::from(lt_id)),
                                ("version", Value::from("$Latest")),
                            ]),
                        ),
                        (
                            "override",
                            Value::List(vec![
                                Value::map([("instance_type", Value::from("t3.micro"))]),
                                Value::map([
                                    ("instance_type", Value::from("t3.small")),
                                    ("weighted_capacity", Value::from("2")),
                                ]),
                            ]),
                        ),
                    ]),
                ),
            ]),
        ),
        (
            "warm_pool",
            block(vec![
                ("pool_state", Value::from("Stopped")),
                ("min_size", Value::from(warm_min)),
                (
                    "instance_reuse_policy",
                    block(vec![("reuse_on_scale_in", Value::Bool(true))]),
                ),
            ]),
        ),
    ])
}

async fn vpc_of(subnet: &str) -> String {
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    let out = ec2
        .describe_subnets()
        .subnet_ids(subnet)
        .send()
        .await
        .unwrap();
    out.subnets()[0].vpc_id().unwrap().to_string()
}

async fn classic_elb(name: &str) {
    let elb = aws_sdk_elasticloadbalancing::Client::new(&sdk_config().await);
    elb.create_load_balancer()
        .load_balancer_name(name)
        .availability_zones("us-east-1a")
        .listeners(
            aws_sdk_elasticloadbalancing::types::Listener::builder()
                .protocol("HTTP")
                .load_balancer_port(80)
                .instance_protocol("HTTP")
                .instance_port(8080)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

async fn target_group(name: &str, vpc: &str) -> String {
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&sdk_config().await);
    let out = elbv2
        .create_target_group()
        .name(name)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(8080)
        .vpc_id(vpc)
        .send()
        .await
        .unwrap();
    out.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn autoscaling_group_mixed_instances_warm_pool_and_load_balancers() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let net = network(45).await;
    let vpc = vpc_of(&net.subnet).await;
    let lt = create_checked(
        p,
        "aws_launch_template",
        &lt_config("pooltest-mixed-lt", &net, "t3.micro"),
        "aws_launch_template.m",
        "mixed-lt",
    )
    .await;
    let lt_id = lt.get("id").and_then(Value::as_str).unwrap().to_string();
    classic_elb("pooltest-elb-a").await;
    classic_elb("pooltest-elb-b").await;
    let tg = target_group("pooltest-tg-a", &vpc).await;
    let ty = "aws_autoscaling_group";
    let addr = "aws_autoscaling_group.mixed";
    let name = "pooltest-mixed";

    // Both launch_template and mixed_instances_policy: refused at plan.
    let mut both = mixed_config(name, &lt_id, &net.subnet, 50, 1, &[], &[]);
    both.as_map_mut().unwrap().insert(
        "launch_template".into(),
        block(vec![("id", Value::from(lt_id.as_str()))]),
    );
    match p.plan_resource(ty, None, &both, &rctx(addr)).unwrap_err() {
        terrace_provider::ProviderError::InvalidArgument { path, message, .. } => {
            assert_eq!(
                path,
                Some(vec![PathStep::Key("mixed_instances_policy".into())])
            );
            assert!(
                message.contains("conflicts with `launch_template`"),
                "{message}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }

    let state = create_checked(
        p,
        ty,
        &mixed_config(
            name,
            &lt_id,
            &net.subnet,
            50,
            1,
            &["pooltest-elb-a"],
            &[tg.as_str()],
        ),
        addr,
        "mixed-tok",
    )
    .await;
    assert_eq!(state.get("launch_template"), Some(&Value::List(vec![])));
    let asg = aws_sdk_autoscaling::Client::new(&sdk_config().await);
    let describe = || async {
        asg.describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .unwrap()
            .auto_scaling_groups()[0]
            .clone()
    };
    let g = describe().await;
    assert_eq!(g.load_balancer_names(), ["pooltest-elb-a"]);
    assert_eq!(g.target_group_arns(), std::slice::from_ref(&tg));
    let mip = g.mixed_instances_policy().expect("mixed instances policy");
    assert_eq!(mip.launch_template().unwrap().overrides().len(), 2);
    assert_eq!(
        mip.instances_distribution()
            .unwrap()
            .on_demand_percentage_above_base_capacity(),
        Some(50)
    );
    assert_eq!(g.warm_pool_configuration().unwrap().min_size(), Some(1));

    // In place: another load balancer, no target group, a bigger warm
    // pool, another on-demand share.
    let updated = update_checked(
        p,
        ty,
        &state,
        &mixed_config(name, &lt_id, &net.subnet, 25, 2, &["pooltest-elb-b"], &[]),
        addr,
    )
    .await;
    let g = describe().await;
    assert_eq!(g.load_balancer_names(), ["pooltest-elb-b"]);
    assert!(g.target_group_arns().is_empty());
    assert_eq!(g.warm_pool_configuration().unwrap().min_size(), Some(2));
    assert_eq!(
        g.mixed_instances_policy()
            .unwrap()
            .instances_distribution()
            .unwrap()
            .on_demand_percentage_above_base_capacity(),
        Some(25)
    );

    // Edited outside: a load balancer attached by hand and the warm pool
    // deleted show up as changes on the next read and plan.
    asg.attach_load_balancers()
        .auto_scaling_group_name(name)
        .load_balancer_names("pooltest-elb-a")
        .send()
        .await
        .unwrap();
    asg.delete_warm_pool()
        .auto_scaling_group_name(name)
        .force_delete(true)
        .send()
        .await
        .unwrap();
    let drifted = p
        .read_resources(ty, std::slice::from_ref(&updated))
        .await
        .unwrap()
        .pop()
        .unwrap()
        .expect("still there");
    assert_eq!(
        drifted.get("load_balancers"),
        Some(&Value::set(vec![
            Value::from("pooltest-elb-a"),
            Value::from("pooltest-elb-b")
        ]))
    );
    assert_eq!(drifted.get("warm_pool"), Some(&Value::List(vec![])));
    let cfg = mixed_config(name, &lt_id, &net.subnet, 25, 2, &["pooltest-elb-b"], &[]);
    let repaired = update_checked(p, ty, &drifted, &cfg, addr).await;
    assert_eq!(repaired, updated);
    let g = describe().await;
    assert_eq!(g.load_balancer_names(), ["pooltest-elb-b"]);
    assert_eq!(g.warm_pool_configuration().unwrap().min_size(), Some(2));

    // No warm_pool block: the pool is deleted.
    let mut no_pool = cfg.clone();
    no_pool.as_map_mut().unwrap().remove("warm_pool");
    let without = update_checked(p, ty, &repaired, &no_pool, addr).await;
    assert!(describe().await.warm_pool_configuration().is_none());

    // Import reads the policy and attachments back.
    let imported = p.import(ty, name).await.unwrap().expect("import");
    assert_eq!(
        imported.get("mixed_instances_policy"),
        without.get("mixed_instances_policy")
    );
    assert_eq!(
        imported.get("load_balancers"),
        without.get("load_balancers")
    );

    p.delete(ty, &without).await.unwrap();
    assert_eq!(
        p.read_resources(ty, std::slice::from_ref(&without))
            .await
            .unwrap(),
        vec![None]
    );
    p.delete("aws_launch_template", &lt).await.unwrap();
}

/// A provider whose Auto Scaling calls go through the instance-refresh fake
/// (moto lacks the refresh API); everything else is moto's.
async fn refresh_provider() -> Option<(Arc<dyn Provider>, terrace_testkit::FakeInstanceRefresh)> {
    let moto = terrace_testkit::shared_moto()?;
    let fake = terrace_testkit::FakeInstanceRefresh::start(&moto.endpoint);
    let factory = AwsProviderFactory::with_env_overrides(moto.aws_env());
    let config = Value::map([(
        "endpoints",
        block(vec![("autoscaling", Value::from(fake.endpoint.as_str()))]),
    )]);
    Some((
        factory.configure(&config, ENV).await.expect("configure"),
        fake,
    ))
}

fn refresh_config(name: &str, lt_id: &str, version: &str, subnet: &str, team: &str) -> Value {
    Value::map([
        ("name", Value::from(name)),
        ("min_size", Value::from(0i64)),
        ("max_size", Value::from(2i64)),
        ("desired_capacity", Value::from(0i64)),
        ("vpc_zone_identifier", list(&[subnet])),
        ("wait_for_capacity_timeout", Value::from("0")),
        (
            "launch_template",
            block(vec![
                ("id", Value::from(lt_id)),
                ("version", Value::from(version)),
            ]),
        ),
        (
            "tag",
            Value::List(vec![Value::map([
                ("key", Value::from("team")),
                ("value", Value::from(team)),
                ("propagate_at_launch", Value::Bool(true)),
            ])]),
        ),
        (
            "instance_refresh",
            block(vec![
                ("strategy", Value::from("Rolling")),
                ("triggers", list(&["tag"])),
                (
                    "preferences",
                    block(vec![
                        ("min_healthy_percentage", Value::from(50i64)),
                        ("instance_warmup", Value::from("60")),
                        ("skip_matching", Value::Bool(true)),
                        (
                            "checkpoint_percentages",
                            Value::List(vec![Value::from(50i64), Value::from(100i64)]),
                        ),
                        ("checkpoint_delay", Value::from("600")),
                    ]),
                ),
            ]),
        ),
    ])
}

#[tokio::test]
async fn autoscaling_group_instance_refresh_on_template_change_and_triggers() {
    let Some((p, fake)) = refresh_provider().await else {
        return;
    };
    let p = p.as_ref();
    let net = network(46).await;
    let lt = create_checked(
        p,
        "aws_launch_template",
        &lt_config("pooltest-refresh-lt", &net, "t3.micro"),
        "aws_launch_template.r",
        "refresh-lt",
    )
    .await;
    let lt_id = lt.get("id").and_then(Value::as_str).unwrap().to_string();
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    ec2.create_launch_template_version()
        .launch_template_id(&lt_id)
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id(&net.ami)
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Small)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ty = "aws_autoscaling_group";
    let addr = "aws_autoscaling_group.refresh";
    let name = "pooltest-refresh";

    // A trigger that is no argument of the group: refused at plan.
    let mut bad = refresh_config(name, &lt_id, "1", &net.subnet, "ci");
    bad.as_map_mut().unwrap().insert(
        "instance_refresh".into(),
        block(vec![
            ("strategy", Value::from("Rolling")),
            ("triggers", list(&["colour"])),
        ]),
    );
    match p.plan_resource(ty, None, &bad, &rctx(addr)).unwrap_err() {
        terrace_provider::ProviderError::InvalidArgument { path, message, .. } => {
            assert_eq!(
                path,
                Some(vec![
                    PathStep::Key("instance_refresh".into()),
                    PathStep::Index(0),
                    PathStep::Key("triggers".into())
                ])
            );
            assert!(message.contains("\"colour\""), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }

    // Creating starts no refresh.
    let state = create_checked(
        p,
        ty,
        &refresh_config(name, &lt_id, "1", &net.subnet, "ci"),
        addr,
        "refresh-tok",
    )
    .await;
    assert!(fake.refreshes_of(name).is_empty());
    assert!(
        !state
            .get("instance_refresh")
            .unwrap()
            .as_list()
            .unwrap()
            .is_empty()
    );

    // A new template version starts one, with the preferences.
    let v2 = update_checked(
        p,
        ty,
        &state,
        &refresh_config(name, &lt_id, "2", &net.subnet, "ci"),
        addr,
    )
    .await;
    let refreshes = fake.refreshes_of(name);
    assert_eq!(refreshes.len(), 1);
    let params = &refreshes[0].params;
    assert_eq!(params.get("Strategy").map(String::as_str), Some("Rolling"));
    for (k, v) in [
        ("Preferences.MinHealthyPercentage", "50"),
        ("Preferences.MaxHealthyPercentage", "100"),
        ("Preferences.InstanceWarmup", "60"),
        ("Preferences.SkipMatching", "true"),
        ("Preferences.CheckpointDelay", "600"),
        ("Preferences.CheckpointPercentages.member.1", "50"),
        ("Preferences.CheckpointPercentages.member.2", "100"),
        ("Preferences.ScaleInProtectedInstances", "Ignore"),
    ] {
        assert_eq!(
            params.get(k).map(String::as_str),
            Some(v),
            "{k} in {params:?}"
        );
    }

    // A change not named in triggers starts none.
    let mut scaled = refresh_config(name, &lt_id, "2", &net.subnet, "ci");
    scaled
        .as_map_mut()
        .unwrap()
        .insert("desired_capacity".into(), Value::from(1i64));
    let scaled_state = update_checked(p, ty, &v2, &scaled, addr).await;
    assert_eq!(fake.refreshes_of(name).len(), 1);

    // A tag change (named in triggers) cancels the running refresh first.
    let mut retagged = refresh_config(name, &lt_id, "2", &net.subnet, "platform");
    retagged
        .as_map_mut()
        .unwrap()
        .insert("desired_capacity".into(), Value::from(1i64));
    let retagged_state = update_checked(p, ty, &scaled_state, &retagged, addr).await;
    let refreshes = fake.refreshes_of(name);
    assert_eq!(refreshes.len(), 2);
    assert_eq!(refreshes[0].status, "Cancelled");
    assert_eq!(refreshes[1].status, "InProgress");
    let actions = fake.actions();
    let cancel = actions
        .iter()
        .rposition(|a| a == "CancelInstanceRefresh")
        .expect("cancelled");
    let start = actions
        .iter()
        .rposition(|a| a == "StartInstanceRefresh")
        .unwrap();
    assert!(cancel < start, "cancel before start: {actions:?}");

    // A refused start fails the update with the API's code.
    fake.fail_next_start("InstanceRefreshInProgress");
    let mut back = refresh_config(name, &lt_id, "1", &net.subnet, "platform");
    back.as_map_mut()
        .unwrap()
        .insert("desired_capacity".into(), Value::from(1i64));
    let plan = p
        .plan_resource(ty, Some(&retagged_state), &back, &rctx(addr))
        .unwrap();
    let err = p
        .update(ty, &retagged_state, &plan.planned, &rctx(addr))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("InstanceRefreshInProgress"),
        "{err}"
    );
    assert_eq!(fake.refreshes_of(name).len(), 2);

    // A warmup that is not a number of seconds is refused at plan, at its path.
    let mut bad_warmup = back.clone();
    bad_warmup.as_map_mut().unwrap().insert(
        "instance_refresh".into(),
        block(vec![
            ("strategy", Value::from("Rolling")),
            (
                "preferences",
                block(vec![("instance_warmup", Value::from("5m"))]),
            ),
        ]),
    );
    match p
        .plan_resource(ty, Some(&retagged_state), &bad_warmup, &rctx(addr))
        .unwrap_err()
    {
        terrace_provider::ProviderError::InvalidArgument { path, message, .. } => {
            assert_eq!(
                path.unwrap().last(),
                Some(&PathStep::Key("instance_warmup".into()))
            );
            assert!(message.contains("\"5m\""), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }

    // instance_refresh is configuration: a read keeps it, an import has none.
    let read = p
        .read_resources(ty, std::slice::from_ref(&retagged_state))
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(
        read.get("instance_refresh"),
        retagged_state.get("instance_refresh")
    );
    let imported = p.import(ty, name).await.unwrap().unwrap();
    assert_eq!(imported.get("instance_refresh"), Some(&Value::List(vec![])));

    p.delete(ty, &retagged_state).await.unwrap();
    p.delete("aws_launch_template", &lt).await.unwrap();
}

fn one_block(pairs: &[(&str, Value)]) -> Value {
    Value::List(vec![Value::map(pairs.iter().cloned())])
}

fn lt_full_config(net: &Net, description: &str, card_public: &str) -> Value {
    Value::map([
        ("name", Value::from("pooltest-lt-full")),
        ("image_id", Value::from(net.ami.as_str())),
        ("instance_type", Value::from("t3.micro")),
        ("update_default_version", Value::Bool(true)),
        ("disable_api_stop", Value::Bool(true)),
        (
            "instance_initiated_shutdown_behavior",
            Value::from("terminate"),
        ),
        (
            "network_interfaces",
            one_block(&[
                ("associate_public_ip_address", Value::from(card_public)),
                ("delete_on_termination", Value::from("true")),
                ("description", Value::from(description)),
                ("device_index", Value::from(0i64)),
                (
                    "security_groups",
                    Value::List(vec![Value::from(net.sg.as_str())]),
                ),
                ("subnet_id", Value::from(net.subnet.as_str())),
                ("ipv4_address_count", Value::from(2i64)),
            ]),
        ),
        (
            "metadata_options",
            one_block(&[
                ("http_tokens", Value::from("required")),
                ("http_put_response_hop_limit", Value::from(2i64)),
                ("instance_metadata_tags", Value::from("enabled")),
            ]),
        ),
        ("monitoring", one_block(&[("enabled", Value::Bool(true))])),
        (
            "credit_specification",
            one_block(&[("cpu_credits", Value::from("unlimited"))]),
        ),
        (
            "placement",
            one_block(&[
                ("availability_zone", Value::from("us-east-1a")),
                ("tenancy", Value::from("default")),
            ]),
        ),
        (
            "private_dns_name_options",
            one_block(&[
                ("hostname_type", Value::from("resource-name")),
                ("enable_resource_name_dns_a_record", Value::Bool(true)),
            ]),
        ),
        (
            "instance_market_options",
            one_block(&[
                ("market_type", Value::from("spot")),
                (
                    "spot_options",
                    one_block(&[
                        ("max_price", Value::from("0.05")),
                        ("instance_interruption_behavior", Value::from("terminate")),
                        ("spot_instance_type", Value::from("one-time")),
                    ]),
                ),
            ]),
        ),
        (
            "cpu_options",
            one_block(&[
                ("core_count", Value::from(1i64)),
                ("threads_per_core", Value::from(2i64)),
            ]),
        ),
        (
            "maintenance_options",
            one_block(&[("auto_recovery", Value::from("default"))]),
        ),
        (
            "block_device_mappings",
            one_block(&[
                ("device_name", Value::from("/dev/xvda")),
                (
                    "ebs",
                    one_block(&[
                        ("volume_size", Value::from(30i64)),
                        ("volume_type", Value::from("gp3")),
                        ("encrypted", Value::from("true")),
                        ("delete_on_termination", Value::from("true")),
                    ]),
                ),
            ]),
        ),
    ])
}

/// `network_interfaces` and the other launch data blocks: created, read
/// back, no-op re-plan, a new version on change, a version made by hand
/// seen as drift, import, and a refused IMDS value at its argument.
#[tokio::test]
async fn launch_template_network_interfaces_and_instance_options() {
    let Some(p) = provider().await else { return };
    let p = p.as_ref();
    let net = network(43).await;
    let ty = "aws_launch_template";
    let addr = "aws_launch_template.full";
    let config = lt_full_config(&net, "primary", "true");
    let state = create_checked(p, ty, &config, addr, "lt-full-1").await;
    let ni = &state.get("network_interfaces").unwrap().as_list().unwrap()[0];
    assert_eq!(
        ni.get("associate_public_ip_address"),
        Some(&Value::from("true"))
    );
    assert_eq!(ni.get("device_index"), Some(&Value::from(0i64)));
    assert_eq!(ni.get("subnet_id"), Some(&Value::from(net.subnet.as_str())));
    assert_eq!(
        ni.get("security_groups"),
        Some(&Value::set(vec![Value::from(net.sg.as_str())]))
    );
    assert_eq!(ni.get("ipv4_address_count"), Some(&Value::from(2i64)));
    let first = |key: &str, field: &str| {
        state.get(key).unwrap().as_list().unwrap()[0]
            .get(field)
            .cloned()
    };
    assert_eq!(first("monitoring", "enabled"), Some(Value::Bool(true)));
    assert_eq!(
        first("credit_specification", "cpu_credits"),
        Some(Value::from("unlimited"))
    );
    assert_eq!(
        first("instance_market_options", "market_type"),
        Some(Value::from("spot"))
    );
    assert_eq!(first("cpu_options", "core_count"), Some(Value::from(1i64)));
    assert_eq!(
        first("metadata_options", "instance_metadata_tags"),
        Some(Value::from("enabled"))
    );
    assert_eq!(state.get("disable_api_stop"), Some(&Value::Bool(true)));

    // A changed interface: a new version, made the default.
    let v2 = update_checked(
        p,
        ty,
        &state,
        &lt_full_config(&net, "primary", "false"),
        addr,
    )
    .await;
    assert_eq!(v2.get("latest_version"), Some(&Value::from(2i64)));
    let ni = &v2.get("network_interfaces").unwrap().as_list().unwrap()[0];
    assert_eq!(
        ni.get("associate_public_ip_address"),
        Some(&Value::from("false"))
    );

    // A version made by hand (no network interface, no monitoring): read
    // as the template's latest version, the plan restores the blocks in a
    // new version.
    let id = v2.get("id").and_then(Value::as_str).unwrap().to_string();
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    ec2.create_launch_template_version()
        .launch_template_id(&id)
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id(&net.ami)
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let drifted = p
        .read_resources(ty, std::slice::from_ref(&v2))
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(drifted.get("latest_version"), Some(&Value::from(3i64)));
    assert_eq!(
        drifted.get("network_interfaces"),
        Some(&Value::List(vec![]))
    );
    assert_eq!(drifted.get("monitoring"), Some(&Value::List(vec![])));
    let v4 = update_checked(
        p,
        ty,
        &drifted,
        &lt_full_config(&net, "primary", "false"),
        addr,
    )
    .await;
    assert_eq!(v4.get("latest_version"), Some(&Value::from(4i64)));
    assert_eq!(v4.get("network_interfaces"), v2.get("network_interfaces"));

    let imported = p.import(ty, &id).await.unwrap().expect("import");
    for key in [
        "network_interfaces",
        "monitoring",
        "placement",
        "instance_market_options",
        "cpu_options",
        "private_dns_name_options",
        "maintenance_options",
    ] {
        assert_eq!(imported.get(key), v4.get(key), "{key}");
    }

    // IMDS values Terraform refuses: an error at the argument.
    let mut bad = lt_full_config(&net, "primary", "false");
    bad.as_map_mut().unwrap().insert(
        "metadata_options".into(),
        one_block(&[("http_tokens", Value::from("always"))]),
    );
    match p.plan_resource(ty, Some(&v4), &bad, &rctx(addr)) {
        Err(terrace_provider::ProviderError::InvalidArgument { path, .. }) => assert_eq!(
            path,
            Some(vec![
                PathStep::Key("metadata_options".into()),
                PathStep::Index(0),
                PathStep::Key("http_tokens".into()),
            ])
        ),
        other => panic!("expected an invalid argument, got {other:?}"),
    }

    p.delete(ty, &v4).await.unwrap();
}
