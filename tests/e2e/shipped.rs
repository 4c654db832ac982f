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
    // State holds what the account holds: no object reads as changed, not
    // even one a later change of the same apply touched (a NAT gateway
    // associating an Elastic IP, an aws_route adding to a route table).
    let r = p.run(&["drift", "-e", env, "--format", "json"]);
    assert_eq!(r.code, 0, "{env}: drift right after apply\n{}", r.all());
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

/// modules/network in both NAT layouts: after apply every subnet is
/// explicitly associated with its intended route table, whose default route
/// goes through the internet gateway (public) or a NAT gateway in a public
/// subnet (private: one per zone, or one shared); a re-plan is empty and
/// destroy leaves nothing.
#[tokio::test(flavor = "multi_thread")]
async fn network_module_routes_every_subnet_in_both_nat_layouts() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = shipped_project(moto);
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config(moto).await);
    for (env, single, cidr) in [
        ("netsingle", true, "10.70.0.0/16"),
        ("netperaz", false, "10.71.0.0/16"),
    ] {
        p.write_env(
            env,
            &[(
                "main.tf",
                &format!(
                    r#"
module "network" {{
  source             = "../../modules/network"
  name               = "{env}"
  cidr_block         = "{cidr}"
  az_count           = 2
  single_nat_gateway = {single}
}}

output "vpc_id" {{
  value = module.network.vpc_id
}}
"#
                ),
            )],
        );
        apply_replan(&p, env).await;
        let r = p.run(&["output", "-e", env, "--format", "json"]);
        let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
        let vpc = out["vpc_id"]["value"]
            .as_str()
            .or(out["vpc_id"].as_str())
            .unwrap_or_default()
            .to_string();
        assert!(vpc.starts_with("vpc-"), "{}", r.all());
        let f = |n: &str, v: &str| {
            aws_sdk_ec2::types::Filter::builder()
                .name(n)
                .values(v)
                .build()
        };
        let subnets = ec2
            .describe_subnets()
            .filters(f("vpc-id", &vpc))
            .send()
            .await
            .unwrap();
        let tables = ec2
            .describe_route_tables()
            .filters(f("vpc-id", &vpc))
            .send()
            .await
            .unwrap();
        let nats = ec2
            .describe_nat_gateways()
            .filter(f("vpc-id", &vpc))
            .send()
            .await
            .unwrap();
        let nats: Vec<_> = nats
            .nat_gateways()
            .iter()
            .filter(|g| g.state().is_some_and(|s| s.as_str() == "available"))
            .collect();
        assert_eq!(
            nats.len(),
            if single { 1 } else { 2 },
            "{env}: NAT gateways"
        );
        let tier = |s: &aws_sdk_ec2::types::Subnet| {
            s.tags()
                .iter()
                .find(|t| t.key() == Some("Tier"))
                .and_then(|t| t.value())
                .unwrap_or_default()
                .to_string()
        };
        let mut used_nats = std::collections::BTreeSet::new();
        assert_eq!(subnets.subnets().len(), 4, "{env}: two tiers × two zones");
        for s in subnets.subnets() {
            let sid = s.subnet_id().unwrap();
            let table = tables
                .route_tables()
                .iter()
                .find(|t| t.associations().iter().any(|a| a.subnet_id() == Some(sid)))
                .unwrap_or_else(|| panic!("{env}: subnet {sid} has no route table association"));
            let default = table
                .routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                .unwrap_or_else(|| panic!("{env}: {sid}'s table has no default route"));
            match tier(s).as_str() {
                "public" => assert!(
                    default.gateway_id().is_some_and(|g| g.starts_with("igw-")),
                    "{env}: public subnet {sid} routes via {default:?}"
                ),
                "private" => {
                    let nat = default
                        .nat_gateway_id()
                        .unwrap_or_else(|| panic!("{env}: private {sid} routes via {default:?}"));
                    let g = nats
                        .iter()
                        .find(|g| g.nat_gateway_id() == Some(nat))
                        .unwrap();
                    let home = subnets
                        .subnets()
                        .iter()
                        .find(|x| x.subnet_id() == g.subnet_id())
                        .unwrap();
                    assert_eq!(tier(home), "public", "{env}: NAT sits in a public subnet");
                    if !single {
                        assert_eq!(
                            home.availability_zone(),
                            s.availability_zone(),
                            "{env}: per-zone NAT stays in the zone"
                        );
                    }
                    used_nats.insert(nat.to_string());
                }
                other => panic!("{env}: subnet {sid} has tier {other:?}"),
            }
        }
        assert_eq!(used_nats.len(), if single { 1 } else { 2 }, "{env}");
        let r = p.run(&["destroy", "-e", env, "--auto-approve"]);
        assert_eq!(r.code, 0, "{env}: destroy\n{}", r.all());
        let left = owned_ec2_ids(&ec2, env).await;
        assert!(left.is_empty(), "{env}: left behind {left:?}");
    }
}
