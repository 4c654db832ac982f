//! aws_lb, aws_lb_target_group, aws_lb_listener,
//! aws_lb_target_group_attachment against moto.

mod common;

use common::*;
use terrace_aws::AwsProvider;
use terrace_core::{PathStep, Value};
use terrace_provider::{Provider, ResourceContext};

fn with(config: &Value, pairs: &[(&str, Value)]) -> Value {
    let mut c = config.clone();
    let m = c.as_map_mut().unwrap();
    for (k, v) in pairs {
        m.insert(k.to_string(), v.clone());
    }
    c
}

/// Plan an in-place update and apply it; the result equals the plan.
async fn update(
    p: &AwsProvider,
    type_name: &str,
    state: &Value,
    config: &Value,
    ctx: &ResourceContext,
) -> Value {
    let plan = p
        .plan_resource(type_name, Some(state), config, ctx)
        .expect("plan update");
    assert!(
        plan.requires_replace.is_empty(),
        "unexpected replacement: {:?}",
        plan.requires_replace
    );
    let updated = p
        .update(type_name, state, &plan.planned, ctx)
        .await
        .unwrap_or_else(|e| panic!("update {type_name}: {e}"));
    assert_planned_matches(&plan.planned, &updated);
    assert_no_diff(p, type_name, &updated, config, ctx);
    updated
}

fn replaced_by(p: &AwsProvider, type_name: &str, state: &Value, config: &Value, key: &str) {
    let plan = p
        .plan_resource(type_name, Some(state), config, &ctx("x", "x.x"))
        .expect("plan");
    assert!(
        plan.requires_replace
            .contains(&vec![PathStep::Key(key.to_string())]),
        "{key} should force replacement: {:?}",
        plan.requires_replace
    );
}

/// A VPC with two subnets in two zones and a security group.
async fn network(p: &AwsProvider, env: &str, cidr: u8) -> (Value, Vec<Value>, Value) {
    let vpc = create(
        p,
        "aws_vpc",
        &Value::map([("cidr_block", Value::from(format!("10.{cidr}.0.0/16")))]),
        &create_ctx(env, "aws_vpc.lb"),
    )
    .await;
    let mut subnets = Vec::new();
    for (i, zone) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        subnets.push(
            create(
                p,
                "aws_subnet",
                &Value::map([
                    ("vpc_id", vpc.get("id").unwrap().clone()),
                    ("cidr_block", Value::from(format!("10.{cidr}.{i}.0/24"))),
                    ("availability_zone", Value::from(*zone)),
                ]),
                &create_ctx(env, &format!("aws_subnet.lb[{i}]")),
            )
            .await,
        );
    }
    let sg = create(
        p,
        "aws_security_group",
        &Value::map([
            ("name", Value::from(unique("lb-sg"))),
            ("vpc_id", vpc.get("id").unwrap().clone()),
        ]),
        &create_ctx(env, "aws_security_group.lb"),
    )
    .await;
    (vpc, subnets, sg)
}

fn ids(vs: &[Value]) -> Value {
    Value::set(vs.iter().map(|v| v.get("id").unwrap().clone()).collect())
}

#[tokio::test]
async fn load_balancer_target_group_listener_and_attachment() {
    let env = "lb-all";
    let Some(p) = provider_with_default_tags(env, &[("team", "web")]).await else {
        return;
    };
    let (vpc, subnets, sg) = network(&p, env, 60).await;

    // aws_lb: create waits for active, attributes at Terraform's defaults.
    let c = create_ctx(env, "aws_lb.web");
    let name = unique("web");
    let config = Value::map([
        ("name", Value::from(name.clone())),
        ("subnets", ids(&subnets)),
        ("security_groups", ids(std::slice::from_ref(&sg))),
        ("tags", Value::map([("Name", Value::from("web"))])),
    ]);
    let lb = create(&p, "aws_lb", &config, &c).await;
    let arn = s(&lb, "arn");
    assert_eq!(s(&lb, "id"), arn);
    assert!(arn.contains(":loadbalancer/app/"), "{arn}");
    assert!(s(&lb, "arn_suffix").starts_with(&format!("app/{name}/")));
    assert!(!s(&lb, "dns_name").is_empty());
    assert!(!s(&lb, "zone_id").is_empty());
    assert_eq!(s(&lb, "vpc_id"), s(&vpc, "id"));
    assert_eq!(lb.get("internal"), Some(&Value::Bool(false)));
    assert_eq!(lb.get("idle_timeout"), Some(&Value::from(60)));
    assert_eq!(lb.get("enable_http2"), Some(&Value::Bool(true)));
    assert_eq!(
        lb.get("tags_all").unwrap().get("terrace:address"),
        Some(&Value::from("aws_lb.web"))
    );
    assert_no_diff(&p, "aws_lb", &lb, &config, &c.resource);
    assert_eq!(read(&p, "aws_lb", &lb).await.as_ref(), Some(&lb));

    // In place: idle timeout, deletion protection, tags, access logs off.
    let config2 = with(
        &config,
        &[
            ("idle_timeout", Value::from(120)),
            ("enable_deletion_protection", Value::Bool(true)),
            ("tags", Value::map([("Name", Value::from("web2"))])),
            (
                "access_logs",
                Value::List(vec![Value::map([
                    ("bucket", Value::from("logs")),
                    ("enabled", Value::Bool(false)),
                ])]),
            ),
        ],
    );
    let lb2 = update(&p, "aws_lb", &lb, &config2, &c.resource).await;
    assert_eq!(lb2.get("idle_timeout"), Some(&Value::from(120)));
    // (moto does not enforce deletion protection: only its value is checked.)
    assert_eq!(
        lb2.get("enable_deletion_protection"),
        Some(&Value::Bool(true))
    );
    let lb2 = update(
        &p,
        "aws_lb",
        &lb2,
        &with(
            &config2,
            &[("enable_deletion_protection", Value::Bool(false))],
        ),
        &c.resource,
    )
    .await;
    replaced_by(
        &p,
        "aws_lb",
        &lb2,
        &with(&config2, &[("internal", Value::Bool(true))]),
        "internal",
    );
    replaced_by(
        &p,
        "aws_lb",
        &lb2,
        &with(&config2, &[("name", Value::from("other"))]),
        "name",
    );

    // Edited outside terrace: the read shows the drift.
    p.elbv2_client()
        .modify_load_balancer_attributes()
        .load_balancer_arn(&arn)
        .attributes(
            aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute::builder()
                .key("idle_timeout.timeout_seconds")
                .value("33")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let drifted = read(&p, "aws_lb", &lb2).await.unwrap();
    assert_eq!(drifted.get("idle_timeout"), Some(&Value::from(33)));

    // Import, crash lookup and unmanaged listing.
    let imported = p.import("aws_lb", &arn).await.unwrap().expect("import");
    assert_eq!(s(&imported, "name"), name);
    let found = p
        .find_created("aws_lb", "t", &c.resource)
        .await
        .unwrap()
        .expect("found by tags");
    assert_eq!(s(&found, "arn"), arn);
    assert_eq!(p.list_owned("aws_lb", env).await.unwrap().len(), 1);

    // aws_lb_target_group: health check defaults as Terraform's.
    let tc = create_ctx(env, "aws_lb_target_group.web");
    let tg_config = Value::map([
        ("name", Value::from(unique("tg"))),
        ("port", Value::from(80)),
        ("protocol", Value::from("HTTP")),
        ("vpc_id", vpc.get("id").unwrap().clone()),
        (
            "health_check",
            Value::List(vec![Value::map([("path", Value::from("/healthz"))])]),
        ),
    ]);
    let tg = create(&p, "aws_lb_target_group", &tg_config, &tc).await;
    let tg_arn = s(&tg, "arn");
    assert!(s(&tg, "arn_suffix").starts_with("targetgroup/"));
    let hc = &tg.get("health_check").unwrap().as_list().unwrap()[0];
    assert_eq!(hc.get("healthy_threshold"), Some(&Value::from(3)));
    assert_eq!(hc.get("port"), Some(&Value::from("traffic-port")));
    assert_eq!(hc.get("path"), Some(&Value::from("/healthz")));
    assert_eq!(tg.get("deregistration_delay"), Some(&Value::from("300")));
    assert_no_diff(&p, "aws_lb_target_group", &tg, &tg_config, &tc.resource);
    // No health_check block: the API's values are kept, no diff.
    let tg_plain = with(&tg_config, &[("health_check", Value::List(vec![]))]);
    assert_no_diff(&p, "aws_lb_target_group", &tg, &tg_plain, &tc.resource);
    let tg2_config = with(
        &tg_config,
        &[
            ("deregistration_delay", Value::from("30")),
            (
                "health_check",
                Value::List(vec![Value::map([
                    ("path", Value::from("/ready")),
                    ("interval", Value::from(10)),
                ])]),
            ),
        ],
    );
    let tg2 = update(&p, "aws_lb_target_group", &tg, &tg2_config, &tc.resource).await;
    assert_eq!(tg2.get("deregistration_delay"), Some(&Value::from("30")));
    replaced_by(
        &p,
        "aws_lb_target_group",
        &tg2,
        &with(&tg2_config, &[("port", Value::from(8080))]),
        "port",
    );
    let imported = p
        .import("aws_lb_target_group", &tg_arn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(imported.get("port"), Some(&Value::from(80)));
    // Edited outside → changed: the deregistration delay by hand.
    let tg2 = assert_edit_seen(
        &p,
        "aws_lb_target_group",
        &tg2,
        async {
            p.elbv2_client()
                .modify_target_group_attributes()
                .target_group_arn(&tg_arn)
                .attributes(
                    aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute::builder()
                        .key("deregistration_delay.timeout_seconds")
                        .value("60")
                        .build(),
                )
                .send()
                .await
                .unwrap();
        },
        &["deregistration_delay"],
    )
    .await;

    // aws_lb_listener: forward, then a fixed response, then a redirect.
    let forward = |tg: &str| {
        Value::List(vec![Value::map([
            ("type", Value::from("forward")),
            ("target_group_arn", Value::from(tg)),
        ])])
    };
    let lc = create_ctx(env, "aws_lb_listener.http");
    let l_config = Value::map([
        ("load_balancer_arn", Value::from(arn.clone())),
        ("port", Value::from(80)),
        ("protocol", Value::from("HTTP")),
        ("default_action", forward(&tg_arn)),
    ]);
    let listener = create(&p, "aws_lb_listener", &l_config, &lc).await;
    assert!(s(&listener, "arn").contains(":listener/app/"));
    assert_no_diff(&p, "aws_lb_listener", &listener, &l_config, &lc.resource);
    assert_eq!(
        read(&p, "aws_lb_listener", &listener).await.as_ref(),
        Some(&listener)
    );
    let fixed = with(
        &l_config,
        &[(
            "default_action",
            Value::List(vec![Value::map([
                ("type", Value::from("fixed-response")),
                (
                    "fixed_response",
                    Value::List(vec![Value::map([
                        ("content_type", Value::from("text/plain")),
                        ("message_body", Value::from("nothing here")),
                        ("status_code", Value::from("404")),
                    ])]),
                ),
            ])]),
        )],
    );
    let listener = update(&p, "aws_lb_listener", &listener, &fixed, &lc.resource).await;
    let redirect = with(
        &l_config,
        &[
            ("port", Value::from(8080)),
            (
                "default_action",
                Value::List(vec![Value::map([
                    ("type", Value::from("redirect")),
                    (
                        "redirect",
                        Value::List(vec![Value::map([
                            ("port", Value::from("443")),
                            ("protocol", Value::from("HTTPS")),
                            ("status_code", Value::from("HTTP_301")),
                        ])]),
                    ),
                ])]),
            ),
        ],
    );
    let listener = update(&p, "aws_lb_listener", &listener, &redirect, &lc.resource).await;
    let action = &listener.get("default_action").unwrap().as_list().unwrap()[0];
    let r = &action.get("redirect").unwrap().as_list().unwrap()[0];
    assert_eq!(r.get("host"), Some(&Value::from("#{host}")));
    let listener = update(&p, "aws_lb_listener", &listener, &l_config, &lc.resource).await;
    replaced_by(
        &p,
        "aws_lb_listener",
        &listener,
        &with(
            &l_config,
            &[("load_balancer_arn", Value::from("arn:other"))],
        ),
        "load_balancer_arn",
    );
    let imported = p
        .import("aws_lb_listener", &s(&listener, "arn"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        imported.get("default_action"),
        listener.get("default_action")
    );
    assert_eq!(p.list_owned("aws_lb_listener", env).await.unwrap().len(), 1);
    // Edited outside → changed: another port by hand.
    let listener = assert_edit_seen(
        &p,
        "aws_lb_listener",
        &listener,
        async {
            p.elbv2_client()
                .modify_listener()
                .listener_arn(s(&listener, "arn"))
                .port(8081)
                .send()
                .await
                .unwrap();
        },
        &["port"],
    )
    .await;

    // The target group now reports its load balancer.
    let tg2 = read(&p, "aws_lb_target_group", &tg2).await.unwrap();
    assert_eq!(
        tg2.get("load_balancer_arns"),
        Some(&Value::set(vec![Value::from(arn.clone())]))
    );

    // aws_lb_target_group_attachment: an IP target.
    let ip_tg = create(
        &p,
        "aws_lb_target_group",
        &Value::map([
            ("name", Value::from(unique("iptg"))),
            ("port", Value::from(80)),
            ("protocol", Value::from("HTTP")),
            ("target_type", Value::from("ip")),
            ("vpc_id", vpc.get("id").unwrap().clone()),
        ]),
        &create_ctx(env, "aws_lb_target_group.ip"),
    )
    .await;
    let ac = create_ctx(env, "aws_lb_target_group_attachment.a");
    let a_config = Value::map([
        ("target_group_arn", ip_tg.get("arn").unwrap().clone()),
        ("target_id", Value::from("10.60.0.10")),
        ("port", Value::from(80)),
    ]);
    let att = create(&p, "aws_lb_target_group_attachment", &a_config, &ac).await;
    assert!(s(&att, "id").starts_with(&s(&ip_tg, "arn")));
    assert_no_diff(
        &p,
        "aws_lb_target_group_attachment",
        &att,
        &a_config,
        &ac.resource,
    );
    assert_eq!(
        read(&p, "aws_lb_target_group_attachment", &att)
            .await
            .as_ref(),
        Some(&att)
    );
    replaced_by(
        &p,
        "aws_lb_target_group_attachment",
        &att,
        &with(&a_config, &[("target_id", Value::from("10.60.0.11"))]),
        "target_id",
    );
    let err = p
        .import("aws_lb_target_group_attachment", "x")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot be imported"), "{err}");
    // Deregistered outside terrace: gone.
    p.elbv2_client()
        .deregister_targets()
        .target_group_arn(s(&ip_tg, "arn"))
        .targets(
            aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                .id("10.60.0.10")
                .port(80)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, "aws_lb_target_group_attachment", &att).await, None);
    p.delete("aws_lb_target_group_attachment", &att)
        .await
        .expect("already gone is fine");

    // Destroy in dependency order; deleted objects read as gone.
    p.delete("aws_lb_listener", &listener).await.unwrap();
    assert_eq!(read(&p, "aws_lb_listener", &listener).await, None);
    // Deleted outside → missing.
    let again = create(&p, "aws_lb_listener", &l_config, &lc).await;
    assert_delete_seen(&p, "aws_lb_listener", &again, async {
        p.elbv2_client()
            .delete_listener()
            .listener_arn(s(&again, "arn"))
            .send()
            .await
            .unwrap();
    })
    .await;
    for tg in [&tg2, &ip_tg] {
        p.delete("aws_lb_target_group", tg).await.unwrap();
        assert_eq!(read(&p, "aws_lb_target_group", tg).await, None);
    }
    let again = create(&p, "aws_lb_target_group", &tg_config, &tc).await;
    assert_delete_seen(&p, "aws_lb_target_group", &again, async {
        p.elbv2_client()
            .delete_target_group()
            .target_group_arn(s(&again, "arn"))
            .send()
            .await
            .unwrap();
    })
    .await;
    p.delete("aws_lb", &lb2).await.unwrap();
    assert_eq!(read(&p, "aws_lb", &lb2).await, None);
    p.delete("aws_lb", &lb2)
        .await
        .expect("deleting twice is fine");
    assert!(p.import("aws_lb", &arn).await.unwrap().is_none());
    assert_eq!(calls(&p, "elbv2:CreateLoadBalancer"), 1);
    p.delete("aws_security_group", &sg).await.unwrap();
    for sn in &subnets {
        p.delete("aws_subnet", sn).await.unwrap();
    }
    p.delete("aws_vpc", &vpc).await.unwrap();
}

#[tokio::test]
async fn load_balancers_are_read_in_batches_and_deleted_outside_is_missing() {
    let env = "lb-batch";
    let Some(p) = provider(env).await else { return };
    let (vpc, subnets, _sg) = network(&p, env, 61).await;
    let mut lbs = Vec::new();
    for i in 0..3 {
        lbs.push(
            create(
                &p,
                "aws_lb",
                &Value::map([
                    ("name", Value::from(unique("nlb"))),
                    ("load_balancer_type", Value::from("network")),
                    ("internal", Value::Bool(true)),
                    ("subnets", ids(&subnets)),
                ]),
                &create_ctx(env, &format!("aws_lb.n[{i}]")),
            )
            .await,
        );
    }
    assert_eq!(
        lbs[0].get("load_balancer_type"),
        Some(&Value::from("network"))
    );
    assert_eq!(lbs[0].get("internal"), Some(&Value::Bool(true)));
    // One of three deleted outside terrace.
    p.elbv2_client()
        .delete_load_balancer()
        .load_balancer_arn(s(&lbs[1], "arn"))
        .send()
        .await
        .unwrap();
    let before = calls(&p, "elbv2:DescribeLoadBalancers");
    let out = p.read_resources("aws_lb", &lbs).await.unwrap();
    assert_eq!(out[0].as_ref(), Some(&lbs[0]));
    assert_eq!(out[1], None);
    assert_eq!(out[2].as_ref(), Some(&lbs[2]));
    // One batched describe; the missing ARN costs one call per ARN.
    assert!(calls(&p, "elbv2:DescribeLoadBalancers") - before <= 4);
    for lb in &lbs {
        p.delete("aws_lb", lb).await.unwrap();
    }
    let _ = vpc;
}
