//! aws_vpc_dhcp_options(+_association), aws_customer_gateway,
//! aws_vpn_gateway(+_attachment, _route_propagation) and the database
//! subnet groups against moto.

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

/// Create, read back, no-op re-plan, import, list owned: the common part.
async fn created(
    p: &AwsProvider,
    type_name: &str,
    config: &Value,
    env: &str,
    address: &str,
) -> Value {
    let c = create_ctx(env, address);
    let state = create(p, type_name, config, &c).await;
    assert_no_diff(p, type_name, &state, config, &c.resource);
    assert_eq!(
        read(p, type_name, &state).await.as_ref(),
        Some(&state),
        "{type_name}: read back differs"
    );
    state
}

async fn vpc(p: &AwsProvider, env: &str, cidr: &str) -> Value {
    create(
        p,
        "aws_vpc",
        &Value::map([("cidr_block", Value::from(cidr))]),
        &create_ctx(env, "aws_vpc.main"),
    )
    .await
}

#[tokio::test]
async fn dhcp_options_and_association() {
    let env = "net-dhcp";
    let Some(p) = provider(env).await else { return };
    let vpc = vpc(&p, env, "10.70.0.0/16").await;
    let config = Value::map([
        ("domain_name", Value::from("corp.internal")),
        (
            "domain_name_servers",
            Value::List(vec![Value::from("AmazonProvidedDNS")]),
        ),
        ("tags", Value::map([("Name", Value::from("corp"))])),
    ]);
    let address = "aws_vpc_dhcp_options.corp";
    let d = created(&p, "aws_vpc_dhcp_options", &config, env, address).await;
    let id = s(&d, "id");
    assert!(id.starts_with("dopt-"));
    assert!(s(&d, "arn").ends_with(&format!(":dhcp-options/{id}")));
    assert_eq!(d.get("ntp_servers"), Some(&Value::Null));
    // Tags in place; options force a new set.
    let d2 = update(
        &p,
        "aws_vpc_dhcp_options",
        &d,
        &with(
            &config,
            &[("tags", Value::map([("Name", Value::from("x"))]))],
        ),
        &ctx(env, address),
    )
    .await;
    replaced_by(
        &p,
        "aws_vpc_dhcp_options",
        &d2,
        &with(&config, &[("domain_name", Value::from("other.internal"))]),
        "domain_name",
    );
    let imported = p
        .import("aws_vpc_dhcp_options", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(imported.get("domain_name"), d.get("domain_name"));
    let found = p
        .find_created("aws_vpc_dhcp_options", "t", &ctx(env, address))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s(&found, "id"), id);

    // The association: create, import by VPC ID, re-associate in place.
    let a_config = Value::map([
        ("vpc_id", vpc.get("id").unwrap().clone()),
        ("dhcp_options_id", Value::from(id.clone())),
    ]);
    let a = created(
        &p,
        "aws_vpc_dhcp_options_association",
        &a_config,
        env,
        "aws_vpc_dhcp_options_association.a",
    )
    .await;
    assert_eq!(s(&a, "id"), format!("{id}-{}", s(&vpc, "id")));
    let imported = p
        .import("aws_vpc_dhcp_options_association", &s(&vpc, "id"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(imported, a);
    replaced_by(
        &p,
        "aws_vpc_dhcp_options_association",
        &a,
        &with(&a_config, &[("vpc_id", Value::from("vpc-other"))]),
        "vpc_id",
    );
    let other = created(
        &p,
        "aws_vpc_dhcp_options",
        &Value::map([("domain_name", Value::from("b.internal"))]),
        env,
        "aws_vpc_dhcp_options.b",
    )
    .await;
    let a2 = update(
        &p,
        "aws_vpc_dhcp_options_association",
        &a,
        &with(
            &a_config,
            &[("dhcp_options_id", other.get("id").unwrap().clone())],
        ),
        &ctx(env, "aws_vpc_dhcp_options_association.a"),
    )
    .await;
    // Edited outside: the VPC put back on its first options → changed.
    p.ec2_client()
        .associate_dhcp_options()
        .vpc_id(s(&vpc, "id"))
        .dhcp_options_id(&id)
        .send()
        .await
        .unwrap();
    let drifted = read(&p, "aws_vpc_dhcp_options_association", &a2)
        .await
        .unwrap();
    assert_eq!(s(&drifted, "dhcp_options_id"), id);
    // Destroy: the VPC goes back to default options, the association reads gone.
    p.delete("aws_vpc_dhcp_options_association", &drifted)
        .await
        .unwrap();
    assert_eq!(
        read(&p, "aws_vpc_dhcp_options_association", &drifted).await,
        None
    );
    // Deleted outside → missing: the VPC put back on `default` by hand.
    let again = created(
        &p,
        "aws_vpc_dhcp_options_association",
        &a_config,
        env,
        "aws_vpc_dhcp_options_association.a",
    )
    .await;
    assert_delete_seen(&p, "aws_vpc_dhcp_options_association", &again, async {
        p.ec2_client()
            .associate_dhcp_options()
            .vpc_id(s(&vpc, "id"))
            .dhcp_options_id("default")
            .send()
            .await
            .unwrap();
    })
    .await;
    // (moto keeps the options assigned until the VPC goes.)
    p.delete("aws_vpc", &vpc).await.unwrap();
    // (moto keeps DHCP options "assigned" after the VPC moves off them:
    // their deletion is checked with a set no VPC ever used.)
    let _ = (&d2, &other);
    let unused = created(
        &p,
        "aws_vpc_dhcp_options",
        &Value::map([("domain_name", Value::from("c.internal"))]),
        env,
        "aws_vpc_dhcp_options.c",
    )
    .await;
    let unused_id = s(&unused, "id");
    // Edited outside → changed: a tag added by hand.
    let unused = assert_edit_seen(
        &p,
        "aws_vpc_dhcp_options",
        &unused,
        ec2_tag_outside(&p, &unused_id),
        &["tags", "tags_all"],
    )
    .await;
    // Destroy → gone.
    p.delete("aws_vpc_dhcp_options", &unused).await.unwrap();
    assert_eq!(read(&p, "aws_vpc_dhcp_options", &unused).await, None);
    // Deleted outside → missing.
    let unused = created(
        &p,
        "aws_vpc_dhcp_options",
        &Value::map([("domain_name", Value::from("c.internal"))]),
        env,
        "aws_vpc_dhcp_options.c",
    )
    .await;
    let unused_id = s(&unused, "id");
    assert_delete_seen(
        &p,
        "aws_vpc_dhcp_options",
        &unused,
        ec2_delete_outside(&p, "aws_vpc_dhcp_options", &unused_id),
    )
    .await;
}

#[tokio::test]
async fn customer_and_vpn_gateways() {
    let env = "net-vpn";
    let Some(p) = provider(env).await else { return };
    let vpc = vpc(&p, env, "10.71.0.0/16").await;
    let vpc_id = s(&vpc, "id");

    // aws_customer_gateway.
    let cg_config = Value::map([
        ("bgp_asn", Value::from("65000")),
        ("ip_address", Value::from("172.0.0.1")),
        ("type", Value::from("ipsec.1")),
        ("tags", Value::map([("Name", Value::from("office"))])),
    ]);
    let cg = created(
        &p,
        "aws_customer_gateway",
        &cg_config,
        env,
        "aws_customer_gateway.office",
    )
    .await;
    let cg_id = s(&cg, "id");
    assert!(cg_id.starts_with("cgw-"));
    assert!(s(&cg, "arn").ends_with(&format!(":customer-gateway/{cg_id}")));
    let cg = update(
        &p,
        "aws_customer_gateway",
        &cg,
        &with(&cg_config, &[("tags", Value::Null)]),
        &ctx(env, "aws_customer_gateway.office"),
    )
    .await;
    replaced_by(
        &p,
        "aws_customer_gateway",
        &cg,
        &with(&cg_config, &[("ip_address", Value::from("172.0.0.2"))]),
        "ip_address",
    );
    let imported = p
        .import("aws_customer_gateway", &cg_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s(&imported, "ip_address"), "172.0.0.1");
    // Edited outside → changed: a tag added by hand.
    let cg = assert_edit_seen(
        &p,
        "aws_customer_gateway",
        &cg,
        ec2_tag_outside(&p, &cg_id),
        &["tags", "tags_all"],
    )
    .await;

    // aws_vpn_gateway attached in place.
    let gw_address = "aws_vpn_gateway.vgw";
    let gw = created(
        &p,
        "aws_vpn_gateway",
        &Value::map::<&str>([]),
        env,
        gw_address,
    )
    .await;
    let gw_id = s(&gw, "id");
    assert!(gw_id.starts_with("vgw-"));
    assert_eq!(gw.get("vpc_id"), Some(&Value::Null));
    let gw = update(
        &p,
        "aws_vpn_gateway",
        &gw,
        &Value::map([("vpc_id", Value::from(vpc_id.clone()))]),
        &ctx(env, gw_address),
    )
    .await;
    assert_eq!(s(&gw, "vpc_id"), vpc_id);
    replaced_by(
        &p,
        "aws_vpn_gateway",
        &gw,
        &Value::map([
            ("vpc_id", Value::from(vpc_id.clone())),
            ("availability_zone", Value::from("us-east-1a")),
        ]),
        "availability_zone",
    );
    // Detached outside terrace → changed.
    p.ec2_client()
        .detach_vpn_gateway()
        .vpn_gateway_id(&gw_id)
        .vpc_id(&vpc_id)
        .send()
        .await
        .unwrap();
    let drifted = read(&p, "aws_vpn_gateway", &gw).await.unwrap();
    assert_eq!(drifted.get("vpc_id"), Some(&Value::Null));
    let gw = update(
        &p,
        "aws_vpn_gateway",
        &drifted,
        &Value::map::<&str>([]),
        &ctx(env, gw_address),
    )
    .await;

    assert_eq!(
        p.import("aws_vpn_gateway", &gw_id).await.unwrap().as_ref(),
        Some(&gw),
        "aws_vpn_gateway: import by ID"
    );

    // aws_vpn_gateway_attachment.
    let at_config = Value::map([
        ("vpc_id", Value::from(vpc_id.clone())),
        ("vpn_gateway_id", Value::from(gw_id.clone())),
    ]);
    let at = created(
        &p,
        "aws_vpn_gateway_attachment",
        &at_config,
        env,
        "aws_vpn_gateway_attachment.a",
    )
    .await;
    assert!(s(&at, "id").starts_with("vpn-attachment-"));
    assert_eq!(
        p.import("aws_vpn_gateway_attachment", &gw_id)
            .await
            .unwrap()
            .as_ref(),
        Some(&at)
    );
    assert!(
        p.import("aws_vpn_gateway_attachment", "nonsense")
            .await
            .is_err()
    );
    replaced_by(
        &p,
        "aws_vpn_gateway_attachment",
        &at,
        &with(&at_config, &[("vpc_id", Value::from("vpc-other"))]),
        "vpc_id",
    );

    // aws_vpn_gateway_route_propagation: moto has no
    // EnableVgwRoutePropagation; only its plan is checked here.
    let rp_config = Value::map([
        (
            "route_table_id",
            vpc.get("default_route_table_id").unwrap().clone(),
        ),
        ("vpn_gateway_id", Value::from(gw_id.clone())),
    ]);
    let plan = p
        .plan_resource(
            "aws_vpn_gateway_route_propagation",
            None,
            &rp_config,
            &ctx(env, "aws_vpn_gateway_route_propagation.a"),
        )
        .unwrap();
    assert_eq!(plan.planned.get("id"), Some(&Value::Unknown));
    assert!(
        p.import("aws_vpn_gateway_route_propagation", "nonsense")
            .await
            .is_err()
    );

    // Destroy the attachment: detached, reads gone.
    p.delete("aws_vpn_gateway_attachment", &at).await.unwrap();
    assert_eq!(read(&p, "aws_vpn_gateway_attachment", &at).await, None);
    // Detached outside terrace → missing.
    let at = created(
        &p,
        "aws_vpn_gateway_attachment",
        &at_config,
        env,
        "aws_vpn_gateway_attachment.a",
    )
    .await;
    assert_delete_seen(&p, "aws_vpn_gateway_attachment", &at, async {
        p.ec2_client()
            .detach_vpn_gateway()
            .vpn_gateway_id(&gw_id)
            .vpc_id(&vpc_id)
            .send()
            .await
            .unwrap();
    })
    .await;
    p.delete("aws_vpn_gateway", &gw).await.unwrap();
    assert_eq!(read(&p, "aws_vpn_gateway", &gw).await, None);
    let gw = created(
        &p,
        "aws_vpn_gateway",
        &Value::map::<&str>([]),
        env,
        gw_address,
    )
    .await;
    assert_delete_seen(
        &p,
        "aws_vpn_gateway",
        &gw,
        ec2_delete_outside(&p, "aws_vpn_gateway", &s(&gw, "id")),
    )
    .await;
    // Destroy → gone.
    let other_cg = created(
        &p,
        "aws_customer_gateway",
        &with(&cg_config, &[("ip_address", Value::from("172.0.0.9"))]),
        env,
        "aws_customer_gateway.other",
    )
    .await;
    p.delete("aws_customer_gateway", &other_cg).await.unwrap();
    assert_eq!(read(&p, "aws_customer_gateway", &other_cg).await, None);
    // Deleted outside terrace → missing.
    p.ec2_client()
        .delete_customer_gateway()
        .customer_gateway_id(&cg_id)
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, "aws_customer_gateway", &cg).await, None);
    p.delete("aws_customer_gateway", &cg).await.unwrap();
    p.delete("aws_vpc", &vpc).await.unwrap();
}

#[tokio::test]
async fn database_subnet_groups() {
    let env = "net-dbsg";
    let Some(p) = provider_with_default_tags(env, &[("team", "data")]).await else {
        return;
    };
    let vpc = vpc(&p, env, "10.72.0.0/16").await;
    let mut subnets = Vec::new();
    for (i, zone) in ["us-east-1a", "us-east-1b", "us-east-1c"]
        .iter()
        .enumerate()
    {
        let sn = create(
            &p,
            "aws_subnet",
            &Value::map([
                ("vpc_id", vpc.get("id").unwrap().clone()),
                ("cidr_block", Value::from(format!("10.72.{i}.0/24"))),
                ("availability_zone", Value::from(*zone)),
            ]),
            &create_ctx(env, &format!("aws_subnet.db[{i}]")),
        )
        .await;
        subnets.push(sn.get("id").unwrap().clone());
    }
    for type_name in [
        "aws_db_subnet_group",
        "aws_elasticache_subnet_group",
        "aws_redshift_subnet_group",
    ] {
        let address = format!("{type_name}.db");
        let name = unique("dbsg");
        let config = Value::map([
            ("name", Value::from(name.clone())),
            ("subnet_ids", Value::set(subnets[..2].to_vec())),
            ("tags", Value::map([("Name", Value::from("db"))])),
        ]);
        let g = created(&p, type_name, &config, env, &address).await;
        assert_eq!(s(&g, "id"), name, "{type_name}");
        assert_eq!(s(&g, "description"), "Managed by Terraform");
        assert!(s(&g, "arn").starts_with("arn:aws:"), "{type_name}: {g}");
        assert_eq!(
            g.get("tags_all").unwrap().get("team"),
            Some(&Value::from("data"))
        );
        // In place: tags. (moto's ModifyDBSubnetGroup drops the group it
        // modifies and it has no ModifyCacheSubnetGroup or
        // ModifyClusterSubnetGroup: description and subnets, which those
        // calls change, cannot be checked against it.)
        let config2 = with(
            &config,
            &[("tags", Value::map([("Name", Value::from("db2"))]))],
        );
        let g2 = update(&p, type_name, &g, &config2, &ctx(env, &address)).await;
        assert_eq!(
            g2.get("tags_all").unwrap().get("Name"),
            Some(&Value::from("db2"))
        );
        replaced_by(
            &p,
            type_name,
            &g2,
            &with(&config2, &[("name", Value::from("other"))]),
            "name",
        );
        let imported = p.import(type_name, &name).await.unwrap().unwrap();
        assert_eq!(imported.get("subnet_ids"), g2.get("subnet_ids"));
        let found = p
            .find_created(type_name, "t", &ctx(env, &address))
            .await
            .unwrap()
            .expect("found by tags");
        assert_eq!(s(&found, "id"), name);
        assert_eq!(p.list_owned(type_name, env).await.unwrap().len(), 1);
        // Edited outside → changed: a tag added by hand.
        let g2 = assert_edit_seen(
            &p,
            type_name,
            &g2,
            subnet_group_tag_outside(&p, type_name, &g2),
            &["tags", "tags_all"],
        )
        .await;
        if type_name == "aws_elasticache_subnet_group" {
            // moto has no DeleteCacheSubnetGroup.
            continue;
        }
        p.delete(type_name, &g2).await.unwrap();
        assert_eq!(read(&p, type_name, &g2).await, None, "{type_name}");
        p.delete(type_name, &g2)
            .await
            .expect("deleting twice is fine");
        assert!(p.import(type_name, &name).await.unwrap().is_none());
        // Deleted outside → missing.
        let again = created(&p, type_name, &config, env, &address).await;
        assert_delete_seen(&p, type_name, &again, async {
            match type_name {
                "aws_db_subnet_group" => drop(
                    p.rds_client()
                        .delete_db_subnet_group()
                        .db_subnet_group_name(&name)
                        .send()
                        .await
                        .unwrap(),
                ),
                _ => drop(
                    p.redshift_client()
                        .delete_cluster_subnet_group()
                        .cluster_subnet_group_name(&name)
                        .send()
                        .await
                        .unwrap(),
                ),
            }
        })
        .await;
    }
}

/// A tag added by hand to a database subnet group, through its service.
async fn subnet_group_tag_outside(p: &AwsProvider, type_name: &str, group: &Value) {
    // The three services tag by ARN with the same call shape.
    macro_rules! tag_by_arn {
        ($client:expr, $call:ident, $tag:ty) => {
            drop(
                $client
                    .$call()
                    .resource_name(s(group, "arn"))
                    .tags(<$tag>::builder().key("edited-by").value("hand").build())
                    .send()
                    .await
                    .unwrap(),
            )
        };
    }
    match type_name {
        "aws_db_subnet_group" => {
            tag_by_arn!(
                p.rds_client(),
                add_tags_to_resource,
                aws_sdk_rds::types::Tag
            )
        }
        "aws_elasticache_subnet_group" => tag_by_arn!(
            p.elasticache_client(),
            add_tags_to_resource,
            aws_sdk_elasticache::types::Tag
        ),
        _ => tag_by_arn!(
            p.redshift_client(),
            create_tags,
            aws_sdk_redshift::types::Tag
        ),
    }
}

#[tokio::test]
async fn network_acl_rules() {
    let env = "net-nacl";
    let Some(p) = provider(env).await else { return };
    let vpc = vpc(&p, env, "10.73.0.0/16").await;
    let acl = p
        .ec2_client()
        .create_network_acl()
        .vpc_id(s(&vpc, "id"))
        .send()
        .await
        .unwrap()
        .network_acl()
        .and_then(|a| a.network_acl_id())
        .unwrap()
        .to_string();
    let address = "aws_network_acl_rule.https";
    let config = Value::map([
        ("network_acl_id", Value::from(acl.clone())),
        ("rule_number", Value::from(100)),
        ("protocol", Value::from("tcp")),
        ("rule_action", Value::from("allow")),
        ("cidr_block", Value::from("0.0.0.0/0")),
        ("from_port", Value::from(443)),
        ("to_port", Value::from(443)),
    ]);
    let rule = created(&p, "aws_network_acl_rule", &config, env, address).await;
    assert!(s(&rule, "id").starts_with("nacl-"));
    assert_eq!(rule.get("egress"), Some(&Value::Bool(false)));
    assert_eq!(s(&rule, "protocol"), "tcp");
    replaced_by(
        &p,
        "aws_network_acl_rule",
        &rule,
        &with(&config, &[("to_port", Value::from(444))]),
        "to_port",
    );
    // Import by Terraform's form; the same ID as created.
    let imported = p
        .import("aws_network_acl_rule", &format!("{acl}:100:tcp:false"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(imported, rule);
    assert!(p.import("aws_network_acl_rule", "acl-1:x").await.is_err());
    // Edited outside terrace → changed.
    deny_tcp_ingress_outside(&p, &acl, 100, 443).await;
    let drifted = read(&p, "aws_network_acl_rule", &rule).await.unwrap();
    assert_eq!(s(&drifted, "rule_action"), "deny");
    // (moto has no DeleteNetworkAclEntry: the rule goes with its ACL.)
    p.ec2_client()
        .delete_network_acl()
        .network_acl_id(&acl)
        .send()
        .await
        .unwrap();
    p.delete("aws_vpc", &vpc).await.unwrap();
}

#[tokio::test]
async fn secondary_vpc_cidr_block() {
    let env = "net-cidr";
    let Some(p) = provider(env).await else { return };
    let vpc = vpc(&p, env, "10.74.0.0/16").await;
    let config = Value::map([
        ("vpc_id", vpc.get("id").unwrap().clone()),
        ("cidr_block", Value::from("10.75.0.0/16")),
    ]);
    let address = "aws_vpc_ipv4_cidr_block_association.b";
    let a = created(
        &p,
        "aws_vpc_ipv4_cidr_block_association",
        &config,
        env,
        address,
    )
    .await;
    let id = s(&a, "id");
    assert!(id.starts_with("vpc-cidr-assoc-"), "{id}");
    replaced_by(
        &p,
        "aws_vpc_ipv4_cidr_block_association",
        &a,
        &with(&config, &[("cidr_block", Value::from("10.76.0.0/16"))]),
        "cidr_block",
    );
    assert_eq!(
        p.import("aws_vpc_ipv4_cidr_block_association", &id)
            .await
            .unwrap()
            .as_ref(),
        Some(&a)
    );
    // Disassociated outside terrace → missing.
    p.ec2_client()
        .disassociate_vpc_cidr_block()
        .association_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(&p, "aws_vpc_ipv4_cidr_block_association", &a).await,
        None
    );
    p.delete("aws_vpc_ipv4_cidr_block_association", &a)
        .await
        .expect("already gone is fine");
    assert!(
        p.import("aws_vpc_ipv4_cidr_block_association", &id)
            .await
            .unwrap()
            .is_none()
    );
    p.delete("aws_vpc", &vpc).await.unwrap();
}

#[tokio::test]
async fn default_route_table_is_adopted_and_forgotten() {
    let env = "net-defrt";
    let Some(p) = provider(env).await else { return };
    let vpc = vpc(&p, env, "10.77.0.0/16").await;
    let igw = create(
        &p,
        "aws_internet_gateway",
        &Value::map([("vpc_id", vpc.get("id").unwrap().clone())]),
        &create_ctx(env, "aws_internet_gateway.gw"),
    )
    .await;
    let rt_id = s(&vpc, "default_route_table_id");
    let route = |cidr: &str| {
        Value::map([
            ("cidr_block", Value::from(cidr)),
            ("gateway_id", igw.get("id").unwrap().clone()),
        ])
    };
    let address = "aws_default_route_table.main";
    let config = Value::map([
        ("default_route_table_id", Value::from(rt_id.clone())),
        ("route", Value::set(vec![route("0.0.0.0/0")])),
        ("tags", Value::map([("Name", Value::from("main"))])),
    ]);
    let t = created(&p, "aws_default_route_table", &config, env, address).await;
    assert_eq!(s(&t, "id"), rt_id);
    assert_eq!(s(&t, "vpc_id"), s(&vpc, "id"));
    assert_eq!(
        t.get("route").and_then(Value::as_list).map(|r| r.len()),
        Some(1)
    );
    // In place: another route, and tags.
    let config2 = with(
        &config,
        &[(
            "route",
            Value::set(vec![route("0.0.0.0/0"), route("192.168.0.0/16")]),
        )],
    );
    let t2 = update(
        &p,
        "aws_default_route_table",
        &t,
        &config2,
        &ctx(env, address),
    )
    .await;
    assert_eq!(
        t2.get("route").and_then(Value::as_list).map(|r| r.len()),
        Some(2)
    );
    replaced_by(
        &p,
        "aws_default_route_table",
        &t2,
        &with(
            &config2,
            &[("default_route_table_id", Value::from("rtb-other"))],
        ),
        "default_route_table_id",
    );
    // Import by VPC ID.
    let imported = p
        .import("aws_default_route_table", &s(&vpc, "id"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s(&imported, "id"), rt_id);
    // A route deleted outside terrace → changed.
    p.ec2_client()
        .delete_route()
        .route_table_id(&rt_id)
        .destination_cidr_block("192.168.0.0/16")
        .send()
        .await
        .unwrap();
    let drifted = read(&p, "aws_default_route_table", &t2).await.unwrap();
    assert_eq!(
        drifted
            .get("route")
            .and_then(Value::as_list)
            .map(|r| r.len()),
        Some(1)
    );
    let t3 = drifted;
    // Destroy forgets: the table is still there.
    p.delete("aws_default_route_table", &t3).await.unwrap();
    assert!(read(&p, "aws_default_route_table", &t3).await.is_some());
    // A table that does not exist: a clear error at the argument.
    let err = p
        .create(
            "aws_default_route_table",
            &with(
                &t3,
                &[("default_route_table_id", Value::from("rtb-0000000"))],
            ),
            &create_ctx(env, "aws_default_route_table.bad"),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rtb-0000000"), "{err}");
    p.delete("aws_internet_gateway", &igw).await.unwrap();
    p.delete("aws_vpc", &vpc).await.unwrap();
}

/// Replace ingress entry `no` of `acl` behind terrace's back with a TCP
/// deny of `port` from anywhere.
async fn deny_tcp_ingress_outside(p: &AwsProvider, acl: &str, no: i32, port: i32) {
    p.ec2_client()
        .replace_network_acl_entry()
        .network_acl_id(acl)
        .rule_number(no)
        .egress(false)
        .protocol("6")
        .rule_action(aws_sdk_ec2::types::RuleAction::Deny)
        .cidr_block("0.0.0.0/0")
        .port_range(
            aws_sdk_ec2::types::PortRange::builder()
                .from(port)
                .to(port)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

fn acl_rule(no: i64, port: i64) -> Value {
    Value::map([
        ("rule_no", Value::from(no)),
        ("action", Value::from("allow")),
        ("protocol", Value::from("tcp")),
        ("cidr_block", Value::from("0.0.0.0/0")),
        ("from_port", Value::from(port)),
        ("to_port", Value::from(port)),
    ])
}

#[tokio::test]
async fn network_acl_and_default_network_acl() {
    let env = "net-acl";
    let Some(p) = provider(env).await else { return };
    let vpc = vpc(&p, env, "10.78.0.0/16").await;
    let subnet = create(
        &p,
        "aws_subnet",
        &Value::map([
            ("vpc_id", vpc.get("id").unwrap().clone()),
            ("cidr_block", Value::from("10.78.1.0/24")),
        ]),
        &create_ctx(env, "aws_subnet.a"),
    )
    .await;
    let subnet_id = subnet.get("id").unwrap().clone();
    let address = "aws_network_acl.public";
    let config = Value::map([
        ("vpc_id", vpc.get("id").unwrap().clone()),
        ("subnet_ids", Value::set(vec![subnet_id.clone()])),
        ("ingress", Value::set(vec![acl_rule(100, 443)])),
        ("egress", Value::set(vec![acl_rule(100, 443)])),
        ("tags", Value::map([("Name", Value::from("public"))])),
    ]);
    let acl = created(&p, "aws_network_acl", &config, env, address).await;
    let acl_id = s(&acl, "id");
    assert!(acl_id.starts_with("acl-"));
    // In place: another rule, a changed rule, the subnet back out.
    let config2 = with(
        &config,
        &[
            ("subnet_ids", Value::set(vec![])),
            (
                "ingress",
                Value::set(vec![acl_rule(100, 8443), acl_rule(200, 80)]),
            ),
        ],
    );
    let acl2 = update(&p, "aws_network_acl", &acl, &config2, &ctx(env, address)).await;
    assert_eq!(
        acl2.get("ingress")
            .and_then(Value::as_list)
            .map(|l| l.len()),
        Some(2)
    );
    replaced_by(
        &p,
        "aws_network_acl",
        &acl2,
        &with(&config2, &[("vpc_id", Value::from("vpc-other"))]),
        "vpc_id",
    );
    let imported = p.import("aws_network_acl", &acl_id).await.unwrap().unwrap();
    assert_eq!(
        imported
            .get("ingress")
            .and_then(Value::as_list)
            .map(|l| l.len()),
        Some(2)
    );
    // Protocols come back as numbers; against the named ones, no change.
    assert_no_diff(
        &p,
        "aws_network_acl",
        &imported,
        &config2,
        &ctx(env, address),
    );
    // Edited outside → changed; no blocks leaves rules alone.
    deny_tcp_ingress_outside(&p, &acl_id, 200, 80).await;
    let drifted = read(&p, "aws_network_acl", &acl2).await.unwrap();
    assert_ne!(drifted.get("ingress"), acl2.get("ingress"));
    let no_blocks = Value::map([("vpc_id", vpc.get("id").unwrap().clone())]);
    let plan = p
        .plan_resource(
            "aws_network_acl",
            Some(&drifted),
            &no_blocks,
            &ctx(env, address),
        )
        .unwrap();
    assert_eq!(plan.planned.get("ingress"), drifted.get("ingress"));

    // aws_default_network_acl: no blocks = no rules; destroy forgets.
    let default_id = p
        .ec2_client()
        .describe_network_acls()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(s(&vpc, "id"))
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("default")
                .values("true")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .network_acls()[0]
        .network_acl_id()
        .unwrap()
        .to_string();
    let d_address = "aws_default_network_acl.d";
    let d_config = Value::map([("default_network_acl_id", Value::from(default_id.clone()))]);
    let d = created(&p, "aws_default_network_acl", &d_config, env, d_address).await;
    assert_eq!(d.get("ingress"), Some(&Value::set(vec![])));
    assert_eq!(d.get("egress"), Some(&Value::set(vec![])));
    assert_eq!(s(&d, "vpc_id"), s(&vpc, "id"));
    let d2 = update(
        &p,
        "aws_default_network_acl",
        &d,
        &with(
            &d_config,
            &[("ingress", Value::set(vec![acl_rule(100, 22)]))],
        ),
        &ctx(env, d_address),
    )
    .await;
    assert_eq!(
        d2.get("ingress").and_then(Value::as_list).map(|l| l.len()),
        Some(1)
    );
    assert!(
        p.import("aws_default_network_acl", &acl_id)
            .await
            .unwrap()
            .is_none(),
        "a non-default ACL is not a default ACL"
    );
    let imported = p
        .import("aws_default_network_acl", &default_id)
        .await
        .unwrap()
        .expect("the default ACL imports by its ID");
    // The API's protocol number ("6") stands for the configured "tcp": the
    // imported object plans no change.
    assert_no_diff(
        &p,
        "aws_default_network_acl",
        &imported,
        &with(
            &d_config,
            &[("ingress", Value::set(vec![acl_rule(100, 22)]))],
        ),
        &ctx(env, d_address),
    );
    replaced_by(
        &p,
        "aws_default_network_acl",
        &d2,
        &with(
            &d_config,
            &[("default_network_acl_id", Value::from("acl-other"))],
        ),
        "default_network_acl_id",
    );
    // Edited outside → changed: a rule added by hand.
    let d2 = assert_edit_seen(
        &p,
        "aws_default_network_acl",
        &d2,
        async {
            p.ec2_client()
                .create_network_acl_entry()
                .network_acl_id(&default_id)
                .rule_number(300)
                .egress(false)
                .protocol("6")
                .rule_action(aws_sdk_ec2::types::RuleAction::Allow)
                .cidr_block("10.0.0.0/8")
                .port_range(
                    aws_sdk_ec2::types::PortRange::builder()
                        .from(443)
                        .to(443)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        },
        &["ingress"],
    )
    .await;
    p.delete("aws_default_network_acl", &d2).await.unwrap();
    assert!(read(&p, "aws_default_network_acl", &d2).await.is_some());

    // Destroy the ACL: gone; deleting again is fine.
    p.delete("aws_network_acl", &drifted).await.unwrap();
    assert_eq!(read(&p, "aws_network_acl", &drifted).await, None);
    p.delete("aws_network_acl", &drifted).await.unwrap();
    // Deleted outside → missing.
    let again = created(&p, "aws_network_acl", &no_blocks, env, address).await;
    assert_delete_seen(
        &p,
        "aws_network_acl",
        &again,
        ec2_delete_outside(&p, "aws_network_acl", &s(&again, "id")),
    )
    .await;
    p.delete("aws_subnet", &subnet).await.unwrap();
    p.delete("aws_vpc", &vpc).await.unwrap();
}

#[tokio::test]
async fn default_vpc_is_adopted_and_forgotten() {
    let env = "net-defvpc";
    let Some(p) = provider(env).await else { return };
    let address = "aws_default_vpc.default";
    let config = Value::map([("tags", Value::map([("Name", Value::from("default"))]))]);
    let v = created(&p, "aws_default_vpc", &config, env, address).await;
    let id = s(&v, "id");
    assert_eq!(v.get("existing_default_vpc"), Some(&Value::Bool(true)));
    assert_eq!(v.get("enable_dns_hostnames"), Some(&Value::Bool(true)));
    assert!(!s(&v, "cidr_block").is_empty());
    // In place: DNS hostnames off.
    let config2 = with(&config, &[("enable_dns_hostnames", Value::Bool(false))]);
    let v2 = update(&p, "aws_default_vpc", &v, &config2, &ctx(env, address)).await;
    assert_eq!(v2.get("enable_dns_hostnames"), Some(&Value::Bool(false)));
    // Edited outside → changed.
    p.ec2_client()
        .modify_vpc_attribute()
        .vpc_id(&id)
        .enable_dns_hostnames(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let drifted = read(&p, "aws_default_vpc", &v2).await.unwrap();
    assert_eq!(
        drifted.get("enable_dns_hostnames"),
        Some(&Value::Bool(true))
    );
    let imported = p.import("aws_default_vpc", &id).await.unwrap().unwrap();
    assert_eq!(imported.get("cidr_block"), v.get("cidr_block"));
    // A VPC that is not the default one does not import.
    let other = vpc(&p, env, "10.79.0.0/16").await;
    assert!(
        p.import("aws_default_vpc", &s(&other, "id"))
            .await
            .unwrap()
            .is_none()
    );
    // Destroy, even with force_destroy, keeps a default VPC terrace did not create.
    let forced = with(&drifted, &[("force_destroy", Value::Bool(true))]);
    p.delete("aws_default_vpc", &forced).await.unwrap();
    assert!(read(&p, "aws_default_vpc", &forced).await.is_some());
    // Put the tags back as they were for the other tests.
    let plain = update(
        &p,
        "aws_default_vpc",
        &drifted,
        &Value::map::<&str>([]),
        &ctx(env, address),
    )
    .await;
    assert_eq!(plain.get("tags"), Some(&Value::Null));
    p.delete("aws_vpc", &other).await.unwrap();
}

#[tokio::test]
async fn block_public_access_types_plan_but_refuse_to_apply() {
    let env = "net-bpa";
    let Some(p) = provider(env).await else { return };
    let c = create_ctx(env, "aws_vpc_block_public_access_options.o");
    let config = Value::map([("internet_gateway_block_mode", Value::from("block-ingress"))]);
    let plan = p
        .plan_resource(
            "aws_vpc_block_public_access_options",
            None,
            &config,
            &c.resource,
        )
        .expect("the type is known and plans");
    let err = p
        .create("aws_vpc_block_public_access_options", &plan.planned, &c)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("aws_vpc_block_public_access_options"),
        "{err}"
    );
    assert!(
        p.schema()
            .resources
            .contains_key("aws_vpc_block_public_access_exclusion")
    );
    assert!(
        p.read_resources("aws_vpc_block_public_access_exclusion", &[])
            .await
            .unwrap()
            .is_empty()
    );
}
