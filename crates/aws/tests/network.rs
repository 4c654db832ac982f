//! aws_vpc, aws_subnet, aws_security_group, aws_internet_gateway,
//! aws_route_table against moto.

mod common;

use common::*;
use terrace_core::{PathStep, Value};
use terrace_provider::Provider;

#[tokio::test]
async fn vpc_lifecycle() {
    let Some(p) = provider_with_default_tags("net-vpc", &[("team", "ci")]).await else {
        return;
    };
    let c = create_ctx("net-vpc", "aws_vpc.main");
    let config = Value::map([
        ("cidr_block", Value::from("10.10.0.0/16")),
        ("enable_dns_hostnames", Value::Bool(true)),
        ("tags", Value::map([("Name", Value::from("main"))])),
    ]);
    let state = create(&p, "aws_vpc", &config, &c).await;
    let id = s(&state, "id");
    assert!(id.starts_with("vpc-"));
    assert!(s(&state, "arn").ends_with(&format!(":vpc/{id}")));
    assert!(s(&state, "default_security_group_id").starts_with("sg-"));
    assert!(s(&state, "default_route_table_id").starts_with("rtb-"));
    assert_eq!(state.get("enable_dns_hostnames"), Some(&Value::Bool(true)));
    let all = state.get("tags_all").unwrap();
    assert_eq!(all.get("team"), Some(&Value::from("ci")));
    assert_eq!(
        all.get("terrace:environment"),
        Some(&Value::from("net-vpc"))
    );
    assert_eq!(
        all.get("terrace:address"),
        Some(&Value::from("aws_vpc.main"))
    );
    assert_no_diff(&p, "aws_vpc", &state, &config, &c.resource);

    // Read back equals the state.
    let read_back = read(&p, "aws_vpc", &state).await.expect("vpc exists");
    assert_eq!(read_back, state);

    // In-place update: tags and DNS hostnames.
    let config2 = Value::map([
        ("cidr_block", Value::from("10.10.0.0/16")),
        ("enable_dns_hostnames", Value::Bool(false)),
        ("tags", Value::map([("Name", Value::from("renamed"))])),
    ]);
    let plan = p
        .plan_resource("aws_vpc", Some(&state), &config2, &c.resource)
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let updated = p
        .update("aws_vpc", &state, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_eq!(updated, plan.planned);
    assert_eq!(
        updated.get("tags_all").unwrap().get("Name"),
        Some(&Value::from("renamed"))
    );

    // A CIDR change forces replacement.
    let config3 = Value::map([("cidr_block", Value::from("10.11.0.0/16"))]);
    let plan = p
        .plan_resource("aws_vpc", Some(&updated), &config3, &c.resource)
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("cidr_block".into())]]
    );
    assert_eq!(plan.planned.get("id"), Some(&Value::Unknown));

    // Import, find_created, list_owned.
    let imported = p
        .import("aws_vpc", &id)
        .await
        .unwrap()
        .expect("import finds the vpc");
    assert_eq!(s(&imported, "cidr_block"), "10.10.0.0/16");
    let found = p
        .find_created("aws_vpc", "unused", &c.resource)
        .await
        .unwrap()
        .expect("found by tags");
    assert_eq!(s(&found, "id"), id);
    let owned = p.list_owned("aws_vpc", "net-vpc").await.unwrap();
    assert_eq!(owned.len(), 1);

    // Delete, then reads report it gone.
    p.delete("aws_vpc", &updated).await.unwrap();
    assert_eq!(read(&p, "aws_vpc", &updated).await, None);
    p.delete("aws_vpc", &updated)
        .await
        .expect("deleting twice is fine");
    assert!(p.import("aws_vpc", &id).await.unwrap().is_none());
    assert!(calls(&p, "ec2:CreateVpc") == 1);

    // Deleted outside → missing.
    let again = create(&p, "aws_vpc", &config, &c).await;
    assert_delete_seen(
        &p,
        "aws_vpc",
        &again,
        ec2_delete_outside(&p, "aws_vpc", &s(&again, "id")),
    )
    .await;
}

async fn make_vpc(p: &terrace_aws::AwsProvider, env: &str, cidr: &str) -> Value {
    let c = create_ctx(env, "aws_vpc.net");
    create(
        p,
        "aws_vpc",
        &Value::map([("cidr_block", Value::from(cidr))]),
        &c,
    )
    .await
}

#[tokio::test]
async fn subnet_lifecycle() {
    let env = "net-subnet";
    let Some(p) = provider(env).await else { return };
    let vpc = make_vpc(&p, env, "10.20.0.0/16").await;
    let c = create_ctx(env, "aws_subnet.a");
    let config = Value::map([
        ("vpc_id", vpc.get("id").unwrap().clone()),
        ("cidr_block", Value::from("10.20.1.0/24")),
        ("tags", Value::map([("Name", Value::from("a"))])),
    ]);
    let state = create(&p, "aws_subnet", &config, &c).await;
    assert!(s(&state, "id").starts_with("subnet-"));
    assert!(!s(&state, "availability_zone").is_empty());
    assert_eq!(
        state.get("map_public_ip_on_launch"),
        Some(&Value::Bool(false))
    );
    assert_no_diff(&p, "aws_subnet", &state, &config, &c.resource);
    assert_eq!(read(&p, "aws_subnet", &state).await.as_ref(), Some(&state));

    // In place: map_public_ip_on_launch.
    let mut config2 = config.clone();
    config2
        .as_map_mut()
        .unwrap()
        .insert("map_public_ip_on_launch".into(), Value::Bool(true));
    let plan = p
        .plan_resource("aws_subnet", Some(&state), &config2, &c.resource)
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let updated = p
        .update("aws_subnet", &state, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_eq!(
        updated.get("map_public_ip_on_launch"),
        Some(&Value::Bool(true))
    );
    assert_eq!(updated, plan.planned);

    // Replacement: cidr_block.
    let mut config3 = config2.clone();
    config3
        .as_map_mut()
        .unwrap()
        .insert("cidr_block".into(), Value::from("10.20.2.0/24"));
    let plan = p
        .plan_resource("aws_subnet", Some(&updated), &config3, &c.resource)
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("cidr_block".into())]]
    );

    let imported = p
        .import("aws_subnet", &s(&state, "id"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(imported.get("cidr_block"), state.get("cidr_block"));
    assert_eq!(p.list_owned("aws_subnet", env).await.unwrap().len(), 1);

    // Edited outside → changed: public IPs turned off by hand.
    let sid = s(&updated, "id");
    assert_edit_seen(
        &p,
        "aws_subnet",
        &updated,
        async {
            p.ec2_client()
                .modify_subnet_attribute()
                .subnet_id(&sid)
                .map_public_ip_on_launch(
                    aws_sdk_ec2::types::AttributeBooleanValue::builder()
                        .value(false)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        },
        &["map_public_ip_on_launch"],
    )
    .await;

    // Deleted outside terrace: the read says gone.
    p.ec2_client()
        .delete_subnet()
        .subnet_id(s(&state, "id"))
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, "aws_subnet", &updated).await, None);
    p.delete("aws_subnet", &updated)
        .await
        .expect("already gone is fine");
    p.delete("aws_vpc", &vpc).await.unwrap();
}

fn rule(proto: &str, from: i64, to: i64, cidrs: &[&str]) -> Value {
    Value::map([
        ("protocol", Value::from(proto)),
        ("from_port", Value::from(from)),
        ("to_port", Value::from(to)),
        (
            "cidr_blocks",
            Value::List(cidrs.iter().map(|c| Value::from(*c)).collect()),
        ),
    ])
}

#[tokio::test]
async fn security_group_lifecycle() {
    let env = "net-sg";
    let Some(p) = provider(env).await else { return };
    let vpc = make_vpc(&p, env, "10.30.0.0/16").await;
    let c = create_ctx(env, "aws_security_group.web");
    let config = Value::map([
        ("name", Value::from(unique("web"))),
        ("vpc_id", vpc.get("id").unwrap().clone()),
        (
            "ingress",
            Value::set(vec![rule(
                "tcp",
                443,
                443,
                &["10.0.0.0/8", "192.168.0.0/16"],
            )]),
        ),
        ("egress", Value::set(vec![rule("-1", 0, 0, &["0.0.0.0/0"])])),
    ]);
    let state = create(&p, "aws_security_group", &config, &c).await;
    let id = s(&state, "id");
    assert!(id.starts_with("sg-"));
    assert_eq!(s(&state, "description"), "Managed by Terraform");
    assert_eq!(state.get("ingress").unwrap().as_list().unwrap().len(), 1);
    assert_no_diff(&p, "aws_security_group", &state, &config, &c.resource);
    assert_eq!(
        read(&p, "aws_security_group", &state).await.as_ref(),
        Some(&state)
    );

    // Without `egress` blocks the group leaves its egress rules alone (as
    // Terraform: the blocks are optional and computed).
    let mut unmanaged = config.clone();
    unmanaged.as_map_mut().unwrap().remove("egress");
    assert_no_diff(&p, "aws_security_group", &state, &unmanaged, &c.resource);

    // In place: add a rule, drop a CIDR, change the egress rule.
    let mut config2 = config.clone();
    let m = config2.as_map_mut().unwrap();
    m.insert(
        "ingress".into(),
        Value::set(vec![
            rule("tcp", 443, 443, &["10.0.0.0/8"]),
            rule("tcp", 22, 22, &["10.1.0.0/16"]),
        ]),
    );
    m.insert(
        "egress".into(),
        Value::set(vec![rule("tcp", 443, 443, &["0.0.0.0/0"])]),
    );
    let plan = p
        .plan_resource("aws_security_group", Some(&state), &config2, &c.resource)
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let updated = p
        .update("aws_security_group", &state, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_eq!(updated, plan.planned);
    let sg = p
        .ec2_client()
        .describe_security_groups()
        .group_ids(&id)
        .send()
        .await
        .unwrap();
    let g = &sg.security_groups()[0];
    assert_eq!(
        g.ip_permissions_egress().len(),
        1,
        "egress rules: {:?}",
        g.ip_permissions_egress()
    );
    assert_eq!(g.ip_permissions_egress()[0].from_port(), Some(443));
    let cidrs: usize = g.ip_permissions().iter().map(|p| p.ip_ranges().len()).sum();
    assert_eq!(cidrs, 2);

    // A rule added outside terrace shows up in the read.
    p.ec2_client()
        .authorize_security_group_ingress()
        .group_id(&id)
        .ip_protocol("tcp")
        .from_port(80)
        .to_port(80)
        .cidr_ip("1.2.3.4/32")
        .send()
        .await
        .unwrap();
    let drifted = read(&p, "aws_security_group", &updated).await.unwrap();
    assert_eq!(drifted.get("ingress").unwrap().as_list().unwrap().len(), 3);

    // Replacement: description.
    let mut config3 = config2.clone();
    config3
        .as_map_mut()
        .unwrap()
        .insert("description".into(), Value::from("other"));
    let plan = p
        .plan_resource("aws_security_group", Some(&updated), &config3, &c.resource)
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("description".into())]]
    );

    let imported = p.import("aws_security_group", &id).await.unwrap().unwrap();
    assert_eq!(imported.get("name"), state.get("name"));
    assert_eq!(
        p.find_created("aws_security_group", "t", &c.resource)
            .await
            .unwrap()
            .map(|v| s(&v, "id")),
        Some(id.clone())
    );

    p.delete("aws_security_group", &updated).await.unwrap();
    assert_eq!(read(&p, "aws_security_group", &updated).await, None);

    // Deleted outside → missing.
    let again = create(&p, "aws_security_group", &config, &c).await;
    assert_delete_seen(
        &p,
        "aws_security_group",
        &again,
        ec2_delete_outside(&p, "aws_security_group", &s(&again, "id")),
    )
    .await;
    p.delete("aws_vpc", &vpc).await.unwrap();
}

#[tokio::test]
async fn internet_gateway_and_route_table_lifecycle() {
    let env = "net-igw";
    let Some(p) = provider(env).await else { return };
    let vpc = make_vpc(&p, env, "10.40.0.0/16").await;
    let vpc2 = make_vpc(&p, env, "10.41.0.0/16").await;
    let vpc_id = vpc.get("id").unwrap().clone();

    let c = create_ctx(env, "aws_internet_gateway.gw");
    let config = Value::map([("vpc_id", vpc_id.clone())]);
    let igw = create(&p, "aws_internet_gateway", &config, &c).await;
    assert!(s(&igw, "id").starts_with("igw-"));
    assert_no_diff(&p, "aws_internet_gateway", &igw, &config, &c.resource);
    assert_eq!(
        read(&p, "aws_internet_gateway", &igw).await.as_ref(),
        Some(&igw)
    );

    // In place: move to another VPC, then back.
    let moved_cfg = Value::map([("vpc_id", vpc2.get("id").unwrap().clone())]);
    let plan = p
        .plan_resource("aws_internet_gateway", Some(&igw), &moved_cfg, &c.resource)
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let moved = p
        .update("aws_internet_gateway", &igw, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_eq!(moved.get("vpc_id"), vpc2.get("id"));
    let plan = p
        .plan_resource("aws_internet_gateway", Some(&moved), &config, &c.resource)
        .unwrap();
    let igw = p
        .update("aws_internet_gateway", &moved, &plan.planned, &c.resource)
        .await
        .unwrap();

    // Route table with a default route through the gateway.
    let rc = create_ctx(env, "aws_route_table.public");
    let route = |cidr: &str| {
        Value::map([
            ("cidr_block", Value::from(cidr)),
            ("gateway_id", igw.get("id").unwrap().clone()),
        ])
    };
    let rt_cfg = Value::map([
        ("vpc_id", vpc_id.clone()),
        ("route", Value::set(vec![route("0.0.0.0/0")])),
    ]);
    let rt = create(&p, "aws_route_table", &rt_cfg, &rc).await;
    assert!(s(&rt, "id").starts_with("rtb-"));
    assert_eq!(rt.get("route").unwrap().as_list().unwrap().len(), 1);
    assert_no_diff(&p, "aws_route_table", &rt, &rt_cfg, &rc.resource);

    // In place: change the routes.
    let rt_cfg2 = Value::map([
        ("vpc_id", vpc_id.clone()),
        ("route", Value::set(vec![route("10.99.0.0/16")])),
    ]);
    let plan = p
        .plan_resource("aws_route_table", Some(&rt), &rt_cfg2, &rc.resource)
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let rt2 = p
        .update("aws_route_table", &rt, &plan.planned, &rc.resource)
        .await
        .unwrap();
    assert_eq!(rt2, plan.planned);

    // Replacement: vpc_id.
    let plan = p
        .plan_resource(
            "aws_route_table",
            Some(&rt2),
            &Value::map([("vpc_id", vpc2.get("id").unwrap().clone())]),
            &rc.resource,
        )
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("vpc_id".into())]]
    );

    assert!(
        p.import("aws_route_table", &s(&rt, "id"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        p.import("aws_internet_gateway", &s(&igw, "id"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        p.list_owned("aws_internet_gateway", env)
            .await
            .unwrap()
            .len(),
        1
    );

    // Batched read of both types plus a missing one.
    let mut gone = rt2.clone();
    gone.as_map_mut()
        .unwrap()
        .insert("id".into(), Value::from("rtb-00000000000000000"));
    let out = p
        .read_resources("aws_route_table", &[rt2.clone(), gone])
        .await
        .unwrap();
    assert!(out[0].is_some() && out[1].is_none());

    p.delete("aws_route_table", &rt2).await.unwrap();
    assert_eq!(read(&p, "aws_route_table", &rt2).await, None);
    p.delete("aws_internet_gateway", &igw).await.unwrap();
    assert_eq!(read(&p, "aws_internet_gateway", &igw).await, None);
    p.delete("aws_vpc", &vpc).await.unwrap();
    p.delete("aws_vpc", &vpc2).await.unwrap();
}

#[tokio::test]
async fn vpc_reads_are_batched() {
    let env = "net-batch";
    let Some(p) = provider(env).await else { return };
    let mut states = Vec::new();
    for i in 0..5 {
        states.push(make_vpc(&p, env, &format!("10.{}.0.0/16", 100 + i)).await);
    }
    let mut gone = states[0].clone();
    gone.as_map_mut()
        .unwrap()
        .insert("id".into(), Value::from("vpc-0000000000000000f"));
    states.push(gone);
    let before = calls(&p, "ec2:DescribeVpcs");
    let out = p.read_resources("aws_vpc", &states).await.unwrap();
    assert_eq!(calls(&p, "ec2:DescribeVpcs") - before, 1);
    assert_eq!(out.iter().filter(|o| o.is_some()).count(), 5);
    assert!(out[5].is_none());
    for s in &states[..5] {
        p.delete("aws_vpc", s).await.unwrap();
    }
}

/// The lookups shared by the EC2 types that map one describable object
/// (internet gateway, subnet, route table, egress-only gateway, elastic IP):
/// no-op re-plan, tags in place, replacement where an argument forces it,
/// batched refresh with gone objects as `None`, import by ID, crash lookup by ownership address,
/// unmanaged listing by environment, a tag added by hand seen as a change,
/// destroy, and deleted outside seen as missing.
#[tokio::test]
async fn ec2_shared_lookups_find_import_and_list() {
    let env = "net-lookups";
    let Some(p) = provider(env).await else { return };
    let vpc = make_vpc(&p, env, "10.42.0.0/16").await;
    let vpc_id = vpc.get("id").unwrap().clone();
    let cases = [
        (
            "aws_internet_gateway",
            "aws_internet_gateway.gw",
            Value::map([("vpc_id", vpc_id.clone())]),
            None,
        ),
        (
            "aws_subnet",
            "aws_subnet.a",
            Value::map([
                ("vpc_id", vpc_id.clone()),
                ("cidr_block", Value::from("10.42.1.0/24")),
            ]),
            Some(("cidr_block", Value::from("10.42.9.0/24"))),
        ),
        (
            "aws_route_table",
            "aws_route_table.private",
            Value::map([("vpc_id", vpc_id.clone())]),
            Some(("vpc_id", Value::from("vpc-other"))),
        ),
        (
            "aws_egress_only_internet_gateway",
            "aws_egress_only_internet_gateway.v6",
            Value::map([("vpc_id", vpc_id.clone())]),
            Some(("vpc_id", Value::from("vpc-other"))),
        ),
        (
            "aws_eip",
            "aws_eip.a",
            Value::map([("domain", Value::from("vpc"))]),
            None,
        ),
    ];
    for (ty, addr, config, replacing) in cases {
        let c = create_ctx(env, addr);
        let made = create(&p, ty, &config, &c).await;
        let id = s(&made, "id");
        assert_no_diff(&p, ty, &made, &config, &c.resource);
        // In place: tags.
        let mut tagged = config.clone();
        tagged
            .as_map_mut()
            .unwrap()
            .insert("tags".into(), Value::map([("Name", Value::from(addr))]));
        let made = update_in_place(&p, ty, &made, &tagged, &c.resource).await;
        assert_eq!(read(&p, ty, &made).await.as_ref(), Some(&made), "{ty}");
        // Replacement where an argument forces it.
        if let Some((key, value)) = replacing {
            let mut moved = tagged.clone();
            moved.as_map_mut().unwrap().insert(key.into(), value);
            assert_eq!(
                replaced_by(&p, ty, &made, &moved, &c.resource),
                vec![vec![PathStep::Key(key.into())]],
                "{ty}"
            );
        }
        // Import by ID reads the same object.
        let imported = p.import(ty, &id).await.unwrap().expect("import");
        assert_eq!(s(&imported, "id"), id, "{ty}");
        // Crash recovery finds it by its ownership tags; another address finds nothing.
        let found = p
            .find_created(ty, "token", &c.resource)
            .await
            .unwrap()
            .expect("find_created");
        assert_eq!(s(&found, "id"), id, "{ty}");
        assert!(
            p.find_created(ty, "token", &ctx(env, &format!("{addr}_other")))
                .await
                .unwrap()
                .is_none(),
            "{ty}"
        );
        // Unmanaged detection lists it under the environment only.
        let owned = p.list_owned(ty, env).await.unwrap();
        assert!(owned.iter().any(|o| s(o, "id") == id), "{ty}");
        assert!(
            p.list_owned(ty, "net-lookups-none")
                .await
                .unwrap()
                .is_empty(),
            "{ty}"
        );
        // Batched refresh: a missing ID is `None`, the object is found.
        let mut ghost = made.clone();
        ghost.as_map_mut().unwrap().insert(
            "id".into(),
            Value::from(format!("{}-0000000000000000", &id[..id.find('-').unwrap()])),
        );
        let read = p.read_resources(ty, &[ghost, made.clone()]).await.unwrap();
        assert!(read[0].is_none(), "{ty}");
        assert_eq!(read[1].as_ref().map(|v| s(v, "id")), Some(id.clone()));
        // Edited outside → changed: a tag added by hand.
        let edited = assert_edit_seen(
            &p,
            ty,
            &made,
            ec2_tag_outside(&p, &id),
            &["tags", "tags_all"],
        )
        .await;
        // Destroy → gone.
        p.delete(ty, &edited).await.unwrap();
        assert!(p.read_resources(ty, &[made]).await.unwrap()[0].is_none());
        // Deleted outside → missing.
        let again = create(&p, ty, &config, &c).await;
        assert_delete_seen(&p, ty, &again, ec2_delete_outside(&p, ty, &s(&again, "id"))).await;
    }
}

/// Plan `config` against `state` and apply it in place; returns the new state.
async fn update_in_place(
    p: &terrace_aws::AwsProvider,
    ty: &str,
    state: &Value,
    config: &Value,
    c: &terrace_provider::ResourceContext,
) -> Value {
    let plan = p.plan_resource(ty, Some(state), config, c).unwrap();
    assert!(plan.requires_replace.is_empty(), "{ty}: {plan:?}");
    let updated = p.update(ty, state, &plan.planned, c).await.unwrap();
    assert_planned_matches(&plan.planned, &updated);
    assert_no_diff(p, ty, &updated, config, c);
    updated
}

/// The attributes whose change in `config` forces replacement of `state`.
fn replaced_by(
    p: &terrace_aws::AwsProvider,
    ty: &str,
    state: &Value,
    config: &Value,
    c: &terrace_provider::ResourceContext,
) -> Vec<Vec<PathStep>> {
    p.plan_resource(ty, Some(state), config, c)
        .unwrap()
        .requires_replace
}

/// aws_route and aws_route_table_association: create, no-op re-plan,
/// in-place target change, replacement, import by Terraform's IDs, edit
/// and delete outside, destroy; routes a gateway endpoint adds are not drift.
#[tokio::test]
async fn route_and_association_lifecycle() {
    let env = "net-route";
    let Some(p) = provider(env).await else { return };
    let ec2 = p.ec2_client().clone();
    let vpc = make_vpc(&p, env, "10.50.0.0/16").await;
    let vpc_id = vpc.get("id").unwrap().clone();
    let igw = create(
        &p,
        "aws_internet_gateway",
        &Value::map([("vpc_id", vpc_id.clone())]),
        &create_ctx(env, "aws_internet_gateway.gw"),
    )
    .await;
    let rt_cfg = Value::map([("vpc_id", vpc_id.clone())]);
    let rt = create(
        &p,
        "aws_route_table",
        &rt_cfg,
        &create_ctx(env, "aws_route_table.a"),
    )
    .await;
    let rt2 = create(
        &p,
        "aws_route_table",
        &rt_cfg,
        &create_ctx(env, "aws_route_table.b"),
    )
    .await;
    let rt_id = s(&rt, "id");

    // aws_route
    let c = create_ctx(env, "aws_route.out");
    let cfg = Value::map([
        ("route_table_id", Value::from(rt_id.clone())),
        ("destination_cidr_block", Value::from("0.0.0.0/0")),
        ("gateway_id", igw.get("id").unwrap().clone()),
    ]);
    let route = create(&p, "aws_route", &cfg, &c).await;
    assert!(s(&route, "id").starts_with(&format!("r-{rt_id}")));
    assert_no_diff(&p, "aws_route", &route, &cfg, &c.resource);
    assert_eq!(read(&p, "aws_route", &route).await.as_ref(), Some(&route));
    // The route table that holds it has no inline routes configured, but
    // reads the route: as in Terraform, mixing both styles shows drift.
    let imported = p
        .import("aws_route", &format!("{rt_id}_0.0.0.0/0"))
        .await
        .unwrap()
        .expect("import by <table>_<destination>");
    assert_eq!(imported, route);
    assert!(p.import("aws_route", "nonsense").await.is_err());
    assert!(
        p.import("aws_route", &format!("{rt_id}_10.9.9.0/24"))
            .await
            .unwrap()
            .is_none()
    );
    let mut cfg2 = cfg.clone();
    cfg2.as_map_mut()
        .unwrap()
        .insert("destination_cidr_block".into(), Value::from("10.60.0.0/16"));
    assert_eq!(
        replaced_by(&p, "aws_route", &route, &cfg2, &c.resource),
        vec![vec![PathStep::Key("destination_cidr_block".into())]]
    );
    // In place: another target (ReplaceRoute).
    let igw2 = ec2.create_internet_gateway().send().await.unwrap();
    let igw2 = igw2
        .internet_gateway()
        .unwrap()
        .internet_gateway_id()
        .unwrap();
    let mut cfg3 = cfg.clone();
    cfg3.as_map_mut()
        .unwrap()
        .insert("gateway_id".into(), Value::from(igw2));
    let changed = update_in_place(&p, "aws_route", &route, &cfg3, &c.resource).await;
    assert_eq!(s(&changed, "gateway_id"), igw2);
    // Edited outside: the target set back by hand shows as a change.
    ec2.replace_route()
        .route_table_id(&rt_id)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(s(&igw, "id"))
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, "aws_route", &changed).await.as_ref(), Some(&route));
    // Deleted outside → gone; destroy of a gone route succeeds.
    ec2.delete_route()
        .route_table_id(&rt_id)
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, "aws_route", &route).await, None);
    p.delete("aws_route", &route).await.unwrap();
    assert!(p.list_owned("aws_route", env).await.unwrap().is_empty());

    // aws_route_table_association
    let subnet = create(
        &p,
        "aws_subnet",
        &Value::map([
            ("vpc_id", vpc_id.clone()),
            ("cidr_block", Value::from("10.50.1.0/24")),
        ]),
        &create_ctx(env, "aws_subnet.a"),
    )
    .await;
    let sid = s(&subnet, "id");
    let c = create_ctx(env, "aws_route_table_association.a");
    let cfg = Value::map([
        ("subnet_id", Value::from(sid.clone())),
        ("route_table_id", Value::from(rt_id.clone())),
    ]);
    let assoc = create(&p, "aws_route_table_association", &cfg, &c).await;
    assert!(s(&assoc, "id").starts_with("rtbassoc-"));
    assert_no_diff(&p, "aws_route_table_association", &assoc, &cfg, &c.resource);
    assert_eq!(
        read(&p, "aws_route_table_association", &assoc)
            .await
            .as_ref(),
        Some(&assoc)
    );
    let imported = p
        .import("aws_route_table_association", &format!("{sid}/{rt_id}"))
        .await
        .unwrap()
        .expect("import by <subnet>/<table>");
    assert_eq!(imported, assoc);
    // In place: another table (a new association ID, as in Terraform).
    let cfg2 = Value::map([
        ("subnet_id", Value::from(sid.clone())),
        ("route_table_id", rt2.get("id").unwrap().clone()),
    ]);
    let moved = update_in_place(
        &p,
        "aws_route_table_association",
        &assoc,
        &cfg2,
        &c.resource,
    )
    .await;
    assert_eq!(moved.get("route_table_id"), rt2.get("id"));
    assert_eq!(read(&p, "aws_route_table_association", &assoc).await, None);
    // Replacement: the subnet.
    let mut cfg3 = cfg2.clone();
    cfg3.as_map_mut()
        .unwrap()
        .insert("subnet_id".into(), Value::from("subnet-0000000000000000"));
    assert_eq!(
        replaced_by(
            &p,
            "aws_route_table_association",
            &moved,
            &cfg3,
            &c.resource
        ),
        vec![vec![PathStep::Key("subnet_id".into())]]
    );
    // Neither or both of subnet_id and gateway_id: a clear error.
    let bad = p
        .create(
            "aws_route_table_association",
            &Value::map([("route_table_id", Value::from(rt_id.clone()))]),
            &c,
        )
        .await
        .unwrap_err();
    assert!(
        bad.to_string()
            .contains("exactly one of subnet_id and gateway_id"),
        "{bad}"
    );
    // Deleted outside → gone.
    ec2.disassociate_route_table()
        .association_id(s(&moved, "id"))
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, "aws_route_table_association", &moved).await, None);
    p.delete("aws_route_table_association", &moved)
        .await
        .unwrap();

    p.delete("aws_subnet", &subnet).await.unwrap();
    p.delete("aws_route_table", &rt).await.unwrap();
    p.delete("aws_route_table", &rt2).await.unwrap();
    p.delete("aws_internet_gateway", &igw).await.unwrap();
    p.delete("aws_vpc", &vpc).await.unwrap();
}

/// aws_eip and aws_nat_gateway (public, on that address, and private):
/// create (the NAT waits for `available`), read back, no-op re-plan (the
/// address's computed network interface becomes the NAT's), tags in
/// place, replacement, import, crash lookup by tags, delete outside,
/// destroy (waits for `deleted`).
#[tokio::test]
async fn eip_and_nat_gateway_lifecycle() {
    let env = "net-nat";
    let Some(p) = provider(env).await else { return };
    let vpc = make_vpc(&p, env, "10.51.0.0/16").await;
    let vpc_id = vpc.get("id").unwrap().clone();
    let subnet = create(
        &p,
        "aws_subnet",
        &Value::map([
            ("vpc_id", vpc_id.clone()),
            ("cidr_block", Value::from("10.51.1.0/24")),
        ]),
        &create_ctx(env, "aws_subnet.a"),
    )
    .await;

    let ec = create_ctx(env, "aws_eip.nat");
    let eip_cfg = Value::map([("domain", Value::from("vpc"))]);
    let eip = create(&p, "aws_eip", &eip_cfg, &ec).await;
    let alloc = s(&eip, "id");
    assert!(alloc.starts_with("eipalloc-"));
    assert!(!s(&eip, "public_ip").is_empty());
    assert!(s(&eip, "public_dns").contains(&s(&eip, "public_ip").replace('.', "-")));
    assert_no_diff(&p, "aws_eip", &eip, &eip_cfg, &ec.resource);
    let tagged_cfg = Value::map([
        ("domain", Value::from("vpc")),
        ("tags", Value::map([("Name", Value::from("nat"))])),
    ]);
    let eip = update_in_place(&p, "aws_eip", &eip, &tagged_cfg, &ec.resource).await;
    assert_eq!(
        p.import("aws_eip", &alloc)
            .await
            .unwrap()
            .map(|v| s(&v, "public_ip")),
        Some(s(&eip, "public_ip"))
    );
    assert_eq!(
        p.find_created("aws_eip", "t", &ec.resource)
            .await
            .unwrap()
            .map(|v| s(&v, "id")),
        Some(alloc.clone())
    );

    let nc = create_ctx(env, "aws_nat_gateway.a");
    let nat_cfg = Value::map([
        ("subnet_id", subnet.get("id").unwrap().clone()),
        ("allocation_id", Value::from(alloc.clone())),
    ]);
    let nat = create(&p, "aws_nat_gateway", &nat_cfg, &nc).await;
    assert!(s(&nat, "id").starts_with("nat-"));
    assert_eq!(s(&nat, "connectivity_type"), "public");
    assert_eq!(s(&nat, "public_ip"), s(&eip, "public_ip"));
    assert_no_diff(&p, "aws_nat_gateway", &nat, &nat_cfg, &nc.resource);
    assert_eq!(read(&p, "aws_nat_gateway", &nat).await.as_ref(), Some(&nat));
    // The address now reports the NAT's interface; still no diff.
    let eip_now = read(&p, "aws_eip", &eip).await.unwrap();
    assert_no_diff(&p, "aws_eip", &eip_now, &tagged_cfg, &ec.resource);
    let nat_tagged = Value::map([
        ("subnet_id", subnet.get("id").unwrap().clone()),
        ("allocation_id", Value::from(alloc.clone())),
        ("tags", Value::map([("Name", Value::from("a"))])),
    ]);
    let nat = update_in_place(&p, "aws_nat_gateway", &nat, &nat_tagged, &nc.resource).await;
    // Edited outside: a tag removed by hand shows as a change.
    p.ec2_client()
        .delete_tags()
        .resources(s(&nat, "id"))
        .tags(aws_sdk_ec2::types::Tag::builder().key("Name").build())
        .send()
        .await
        .unwrap();
    let drifted = read(&p, "aws_nat_gateway", &nat).await.unwrap();
    assert_ne!(drifted.get("tags"), nat.get("tags"));
    let private_cfg = Value::map([
        ("subnet_id", subnet.get("id").unwrap().clone()),
        ("connectivity_type", Value::from("private")),
    ]);
    let replaced = replaced_by(&p, "aws_nat_gateway", &nat, &private_cfg, &nc.resource);
    assert!(replaced.contains(&vec![PathStep::Key("connectivity_type".into())]));
    assert!(
        p.import("aws_nat_gateway", &s(&nat, "id"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(p.list_owned("aws_nat_gateway", env).await.unwrap().len(), 1);
    assert!(
        p.find_created("aws_nat_gateway", "t", &ctx(env, "aws_nat_gateway.other"))
            .await
            .unwrap()
            .is_none()
    );

    // A private NAT gateway: no address.
    let pc = create_ctx(env, "aws_nat_gateway.private");
    let private = create(&p, "aws_nat_gateway", &private_cfg, &pc).await;
    assert_eq!(private.get("allocation_id"), Some(&Value::Null));
    assert_no_diff(&p, "aws_nat_gateway", &private, &private_cfg, &pc.resource);

    // Destroy waits for `deleted`; a deleted gateway reads as gone.
    p.delete("aws_nat_gateway", &nat).await.unwrap();
    assert_eq!(read(&p, "aws_nat_gateway", &nat).await, None);
    p.delete("aws_nat_gateway", &nat).await.unwrap();
    // Deleted outside → gone.
    p.ec2_client()
        .delete_nat_gateway()
        .nat_gateway_id(s(&private, "id"))
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, "aws_nat_gateway", &private).await, None);

    p.delete("aws_eip", &eip_now).await.unwrap();
    assert_eq!(read(&p, "aws_eip", &eip).await, None);
    p.delete("aws_eip", &eip_now).await.unwrap();
    p.delete("aws_subnet", &subnet).await.unwrap();
    p.delete("aws_vpc", &vpc).await.unwrap();
}

/// aws_default_security_group adopts the VPC's default group: its rules
/// become exactly the configured ones (none = locked down), a rule added
/// by hand shows as drift, destroy leaves the group, and the group is never
/// an unmanaged aws_security_group.
#[tokio::test]
async fn default_security_group_adopts_and_locks_down() {
    let env = "net-defsg";
    let Some(p) = provider(env).await else { return };
    let vpc = make_vpc(&p, env, "10.52.0.0/16").await;
    let sg_id = s(&vpc, "default_security_group_id");
    let c = create_ctx(env, "aws_default_security_group.this");
    let cfg = Value::map([("vpc_id", vpc.get("id").unwrap().clone())]);
    let g = create(&p, "aws_default_security_group", &cfg, &c).await;
    assert_eq!(s(&g, "id"), sg_id);
    assert_eq!(s(&g, "name"), "default");
    assert!(g.get("ingress").unwrap().as_list().unwrap().is_empty());
    assert!(g.get("egress").unwrap().as_list().unwrap().is_empty());
    let api = p
        .ec2_client()
        .describe_security_groups()
        .group_ids(&sg_id)
        .send()
        .await
        .unwrap();
    let api = &api.security_groups()[0];
    assert!(api.ip_permissions().is_empty() && api.ip_permissions_egress().is_empty());
    assert_no_diff(&p, "aws_default_security_group", &g, &cfg, &c.resource);
    // In place: allow HTTPS out.
    let cfg2 = Value::map([
        ("vpc_id", vpc.get("id").unwrap().clone()),
        (
            "egress",
            Value::set(vec![rule("tcp", 443, 443, &["0.0.0.0/0"])]),
        ),
    ]);
    let g2 = update_in_place(&p, "aws_default_security_group", &g, &cfg2, &c.resource).await;
    assert_eq!(g2.get("egress").unwrap().as_list().unwrap().len(), 1);
    // Edited outside: a hand-made ingress rule is drift.
    p.ec2_client()
        .authorize_security_group_ingress()
        .group_id(&sg_id)
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    let drifted = read(&p, "aws_default_security_group", &g2).await.unwrap();
    assert_eq!(drifted.get("ingress").unwrap().as_list().unwrap().len(), 1);
    // Replacement: another VPC.
    let cfg3 = Value::map([("vpc_id", Value::from("vpc-0000000000000000"))]);
    assert_eq!(
        replaced_by(&p, "aws_default_security_group", &g2, &cfg3, &c.resource),
        vec![vec![PathStep::Key("vpc_id".into())]]
    );
    let imported = p
        .import("aws_default_security_group", &sg_id)
        .await
        .unwrap();
    assert_eq!(imported.map(|v| s(&v, "id")), Some(sg_id.clone()));
    assert!(
        p.list_owned("aws_security_group", env)
            .await
            .unwrap()
            .is_empty(),
        "the default group is not an unmanaged aws_security_group"
    );
    assert_eq!(
        p.list_owned("aws_default_security_group", env)
            .await
            .unwrap()
            .len(),
        1
    );
    // Destroy forgets it; the group stays.
    p.delete("aws_default_security_group", &g2).await.unwrap();
    assert!(read(&p, "aws_default_security_group", &g2).await.is_some());
    p.delete("aws_vpc", &vpc).await.unwrap();
}

/// Data sources aws_vpc, aws_subnet, aws_subnets, aws_security_group: by
/// id, by argument, by tags and filter blocks; nothing found is
/// Terraform's error text, except aws_subnets (an empty list).
#[tokio::test]
async fn network_data_sources_find_and_report_nothing() {
    let env = "net-data";
    let Some(p) = provider(env).await else { return };
    let vpc = create(
        &p,
        "aws_vpc",
        &Value::map([
            ("cidr_block", Value::from("10.53.0.0/16")),
            ("tags", Value::map([("Name", Value::from("net-data"))])),
        ]),
        &create_ctx(env, "aws_vpc.main"),
    )
    .await;
    let vpc_id = s(&vpc, "id");
    let subnet = create(
        &p,
        "aws_subnet",
        &Value::map([
            ("vpc_id", Value::from(vpc_id.clone())),
            ("cidr_block", Value::from("10.53.1.0/24")),
            ("tags", Value::map([("Tier", Value::from("private"))])),
        ]),
        &create_ctx(env, "aws_subnet.a"),
    )
    .await;
    let filter = |name: &str, value: &str| {
        Value::List(vec![Value::map([
            ("name", Value::from(name)),
            ("values", Value::List(vec![Value::from(value)])),
        ])])
    };

    let by_tags = p
        .read_data(
            "aws_vpc",
            &Value::map([("tags", Value::map([("Name", Value::from("net-data"))]))]),
        )
        .await
        .unwrap();
    assert_eq!(s(&by_tags, "id"), vpc_id);
    assert_eq!(s(&by_tags, "cidr_block"), "10.53.0.0/16");
    assert!(s(&by_tags, "main_route_table_id").starts_with("rtb-"));
    let by_id = p
        .read_data(
            "aws_vpc",
            &Value::map([("id", Value::from(vpc_id.clone()))]),
        )
        .await
        .unwrap();
    assert_eq!(s(&by_id, "arn"), s(&vpc, "arn"));
    let none = p
        .read_data(
            "aws_vpc",
            &Value::map([("filter", filter("tag:Name", "no-such-vpc"))]),
        )
        .await
        .unwrap_err();
    assert!(
        none.to_string().contains("no matching EC2 VPC found"),
        "{none}"
    );

    let sub = p
        .read_data(
            "aws_subnet",
            &Value::map([
                ("vpc_id", Value::from(vpc_id.clone())),
                ("cidr_block", Value::from("10.53.1.0/24")),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(s(&sub, "id"), s(&subnet, "id"));
    let none = p
        .read_data(
            "aws_subnet",
            &Value::map([("id", Value::from("subnet-0000000000000000"))]),
        )
        .await
        .unwrap_err();
    assert!(
        none.to_string().contains("no matching EC2 Subnet found"),
        "{none}"
    );

    let ids = p
        .read_data(
            "aws_subnets",
            &Value::map([
                ("filter", filter("vpc-id", &vpc_id)),
                ("tags", Value::map([("Tier", Value::from("private"))])),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(
        ids.get("ids"),
        Some(&Value::List(vec![Value::from(s(&subnet, "id"))]))
    );
    let empty = p
        .read_data(
            "aws_subnets",
            &Value::map([("tags", Value::map([("Tier", Value::from("none"))]))]),
        )
        .await
        .unwrap();
    assert_eq!(empty.get("ids"), Some(&Value::List(vec![])));

    let sg = p
        .read_data(
            "aws_security_group",
            &Value::map([
                ("vpc_id", Value::from(vpc_id.clone())),
                ("name", Value::from("default")),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(s(&sg, "id"), s(&vpc, "default_security_group_id"));
    let none = p
        .read_data(
            "aws_security_group",
            &Value::map([("name", Value::from("no-such-group"))]),
        )
        .await
        .unwrap_err();
    assert!(
        none.to_string()
            .contains("no matching EC2 Security Group found"),
        "{none}"
    );

    p.delete("aws_subnet", &subnet).await.unwrap();
    p.delete("aws_vpc", &vpc).await.unwrap();
}
