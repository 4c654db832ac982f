//! Issue 14's "done when": configurations written in the style of stacks
//! people copy — the AWS provider's `two-tier` and `eks-getting-started`
//! examples and terraform-aws-modules/vpc's `examples/simple` (the fixtures
//! under tests/e2e/fixtures/, written for these tests) — validate, apply,
//! re-plan empty, show no drift and destroy completely against moto.

use crate::support::{Project, copy_dir, owned_ec2_ids, sdk_config, suffix};

/// The fixture copied into environments/<env> of a project on moto.
fn stack_project(moto: &terrace_testkit::Moto, fixture: &str, env: &str) -> Project {
    let p = Project::new().with_moto(moto);
    let from = terrace_testkit::workspace_root()
        .join("tests/e2e/fixtures")
        .join(fixture);
    copy_dir(&from, &p.path().join("environments").join(env));
    p
}

/// validate → apply → empty re-plan (with and without refresh) → no drift.
fn validate_apply_replan(p: &Project, env: &str, vars: &[&str]) {
    let r = p.run(&["validate", "-e", env]);
    assert_eq!(r.code, 0, "{env}: validate\n{}", r.all());
    let with = |base: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        for v in vars {
            a.push("--var".into());
            a.push(v.to_string());
        }
        a
    };
    let run = |base: &[&str]| {
        let a = with(base);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        p.run(&a)
    };
    let r = run(&["apply", "-e", env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{env}: apply\n{}", r.all());
    let r = run(&["plan", "-e", env, "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{env}: second plan must be empty\n{}", r.all());
    let r = run(&["plan", "-e", env, "--detailed-exitcode", "--refresh=false"]);
    assert_eq!(r.code, 0, "{env}: plan without refresh\n{}", r.all());
    let r = run(&["drift", "-e", env, "--format", "json"]);
    assert_eq!(r.code, 0, "{env}: drift right after apply\n{}", r.all());
}

fn destroy_clean(p: &Project, env: &str, vars: &[&str]) {
    let mut a = vec!["destroy", "-e", env, "--auto-approve"];
    for v in vars {
        a.push("--var");
        a.push(v);
    }
    let r = p.run(&a);
    assert_eq!(r.code, 0, "{env}: destroy\n{}", r.all());
    let r = p.run(&["state", "list", "-e", env]);
    assert_eq!(r.stdout.trim(), "", "{env}: state not empty\n{}", r.all());
}

fn outputs(p: &Project, env: &str) -> serde_json::Value {
    let r = p.run(&["output", "-e", env, "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    // `{"name": {"value": …}}` as Terraform writes it, or bare values.
    let flat = out
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.get("value").cloned().unwrap_or(v.clone())))
        .collect();
    serde_json::Value::Object(flat)
}

fn filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .values(value)
        .build()
}

/// The provider's `two-tier` example: web servers behind a classic ELB, the
/// internet route on the VPC's main route table, a key pair from a file.
#[tokio::test(flavor = "multi_thread")]
async fn two_tier_example_applies_replans_empty_and_destroys() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let env = format!("twotier{}", suffix());
    let p = stack_project(moto, "two-tier", &env);
    let key = format!("key_name=deployer-{env}");
    let vars = [key.as_str()];
    validate_apply_replan(&p, &env, &vars);
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config(moto).await);
    let out = outputs(&p, &env);
    assert!(
        out["address"].as_str().is_some_and(|a| a.contains("elb")),
        "{out}"
    );
    // The main route table of the stack's VPC routes to the internet gateway.
    let vpcs = ec2
        .describe_vpcs()
        .filters(filter("tag:terrace:environment", &env))
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "{env}");
    let vpc = vpcs.vpcs()[0].vpc_id().unwrap();
    let main = ec2
        .describe_route_tables()
        .filters(filter("vpc-id", vpc))
        .filters(filter("association.main", "true"))
        .send()
        .await
        .unwrap();
    let routes = main.route_tables()[0].routes();
    assert!(
        routes
            .iter()
            .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")
                && r.gateway_id().is_some_and(|g| g.starts_with("igw-"))),
        "{env}: {routes:?}"
    );
    destroy_clean(&p, &env, &vars);
    let left = owned_ec2_ids(&ec2, &env).await;
    assert!(left.is_empty(), "{env}: left behind {left:?}");
}

/// The provider's `eks-getting-started` example: a tagged VPC, heredoc IAM
/// roles with managed-policy attachments, a security-group rule, an EKS
/// cluster and a managed node group, a kubeconfig output.
#[tokio::test(flavor = "multi_thread")]
async fn eks_getting_started_example_applies_replans_empty_and_destroys() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let env = format!("eksdemo{}", suffix());
    let p = stack_project(moto, "eks-getting-started", &env);
    let name = format!("cluster-name=eks-{env}");
    let vars = [name.as_str()];
    validate_apply_replan(&p, &env, &vars);
    let sdk = sdk_config(moto).await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let out = outputs(&p, &env);
    let cluster = format!("eks-{env}");
    assert_eq!(out["cluster_name"], cluster.as_str(), "{out}");
    let kubeconfig = out["kubeconfig"].as_str().unwrap_or_default();
    assert!(
        kubeconfig.contains("server: https://") && kubeconfig.contains(&cluster),
        "{kubeconfig}"
    );
    let groups = eks
        .list_nodegroups()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    assert_eq!(groups.nodegroups(), ["demo"], "{env}");
    destroy_clean(&p, &env, &vars);
    assert!(
        eks.describe_cluster().name(&cluster).send().await.is_err(),
        "{env}: cluster left behind"
    );
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let left = owned_ec2_ids(&ec2, &env).await;
    assert!(left.is_empty(), "{env}: left behind {left:?}");
}

/// terraform-aws-modules/vpc's `examples/simple`: a module in that module's
/// style (every optional type declared with count 0, null for every unset
/// argument) with three private subnets, each with its own route table;
/// the default security group, network ACL and route table adopted.
#[tokio::test(flavor = "multi_thread")]
async fn vpc_module_simple_example_applies_replans_empty_and_destroys() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let env = format!("vpcsimple{}", suffix());
    let p = stack_project(moto, "vpc-simple", &env);
    let name = format!("name_suffix={env}");
    let vars = [name.as_str()];
    validate_apply_replan(&p, &env, &vars);
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config(moto).await);
    let out = outputs(&p, &env);
    let vpc = out["vpc_id"].as_str().unwrap().to_string();
    let subnets: Vec<String> = out["private_subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let tables: Vec<String> = out["private_route_table_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(subnets.len(), 3, "{out}");
    assert_eq!(tables.len(), 3, "{out}");
    let rts = ec2
        .describe_route_tables()
        .filters(filter("vpc-id", &vpc))
        .send()
        .await
        .unwrap();
    for (subnet, table) in subnets.iter().zip(&tables) {
        let t = rts
            .route_tables()
            .iter()
            .find(|t| t.route_table_id() == Some(table.as_str()))
            .unwrap();
        assert!(
            t.associations()
                .iter()
                .any(|a| a.subnet_id() == Some(subnet.as_str())),
            "{env}: {subnet} not associated with {table}"
        );
    }
    // The adopted default security group has no rules left.
    let sg = out["default_security_group_id"].as_str().unwrap();
    let g = ec2
        .describe_security_groups()
        .group_ids(sg)
        .send()
        .await
        .unwrap();
    let g = &g.security_groups()[0];
    assert!(
        g.ip_permissions().is_empty() && g.ip_permissions_egress().is_empty(),
        "{env}: default group keeps rules: {g:?}"
    );
    destroy_clean(&p, &env, &vars);
    let left = owned_ec2_ids(&ec2, &env).await;
    assert!(left.is_empty(), "{env}: left behind {left:?}");
}
