//! The shipped environments (dev, stage, prod) against moto: each applies
//! cleanly, a second plan is empty, and destroy leaves nothing carrying the
//! environment's ownership tag — except prod, whose registries and cluster
//! are protected by the shipped policy `prod-prevent-destroy` and
//! `max_deletes = 0` (terrace.hcl). moto lacks EKS add-ons and access
//! entries, so the binary talks to the test kit's fake EKS endpoint put in
//! front of moto (it answers those calls and forwards every other one).
//! The runner token, put into SSM beforehand as the modules expect, must
//! appear in no launch template's user data, plan file, plan JSON or state.

use crate::support::{Project, copy_dir, owned_ec2_ids, sdk_config};
use base64::Engine;
use std::sync::OnceLock;

/// A project holding copies of the repository's modules/ and environments/.
fn shipped_project(moto: &terrace_testkit::Moto) -> Project {
    let p = Project::new().with_moto(moto);
    let root = terrace_testkit::workspace_root();
    copy_dir(&root.join("modules"), &p.path().join("modules"));
    copy_dir(&root.join("environments"), &p.path().join("environments"));
    p
}

/// The shipped project with every AWS call going through the fake EKS
/// endpoint in front of moto (add-ons and access entries answered by the
/// fake, everything else by moto).
fn shipped_project_with_eks(moto: &terrace_testkit::Moto) -> Project {
    let mut p = shipped_project(moto);
    p.env
        .push(("AWS_ENDPOINT_URL".into(), fake_eks(moto).endpoint.clone()));
    p
}

/// The fake EKS endpoint in front of the shared moto.
fn fake_eks(moto: &terrace_testkit::Moto) -> &'static terrace_testkit::FakeEks {
    static FAKE: OnceLock<terrace_testkit::FakeEks> = OnceLock::new();
    FAKE.get_or_init(|| terrace_testkit::FakeEks::in_front_of(&moto.endpoint))
}

/// A fake runner token, unique to this run, put where the environment's
/// runner pool reads it: the SSM SecureString its tfvars name.
async fn put_runner_token(moto: &terrace_testkit::Moto, env: &str) -> String {
    let token = format!("glrt-e2e-{env}-{}-do-not-leak", crate::support::suffix());
    let ssm = aws_sdk_ssm::Client::new(&sdk_config(moto).await);
    ssm.put_parameter()
        .name(format!("/terrace/{env}/gitlab-runner-token"))
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(&token)
        .overwrite(true)
        .send()
        .await
        .expect("put the runner token");
    token
}

/// Whether `text` holds `secret`, as is or base64-encoded at any alignment
/// (user data is base64 in the launch template, the plan and state).
fn holds(text: &str, secret: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    text.contains(secret)
        || (0..3).any(|pad| {
            let mut bytes = vec![0u8; pad];
            bytes.extend_from_slice(secret.as_bytes());
            let enc = b64.encode(&bytes);
            let from = if pad == 0 { 0 } else { 4 };
            let to = bytes.len() / 3 * 4;
            to > from + 8 && text.contains(&enc[from..to])
        })
}

/// The runner token is in no launch template's user data (read with the
/// SDK), nor in a plan file, the plan JSON or the state of `env` — while the
/// token parameter's name is (so the places searched hold the user data).
async fn assert_token_never_written(
    p: &Project,
    moto: &terrace_testkit::Moto,
    env: &str,
    token: &str,
) {
    let parameter = format!("/terrace/{env}/gitlab-runner-token");
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config(moto).await);
    let templates = ec2.describe_launch_templates().send().await.unwrap();
    let mut runner_templates = 0;
    for t in templates.launch_templates() {
        let id = t.launch_template_id().unwrap();
        let versions = ec2
            .describe_launch_template_versions()
            .launch_template_id(id)
            .send()
            .await
            .unwrap();
        for v in versions.launch_template_versions() {
            let data = v
                .launch_template_data()
                .and_then(|d| d.user_data())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .unwrap_or_default(),
            )
            .into_owned();
            assert!(
                !holds(&text, token) && !holds(data, token),
                "{env}: the runner token is in the user data of {id}"
            );
            if text.contains(&parameter) {
                runner_templates += 1;
            }
        }
    }
    assert!(
        runner_templates > 0,
        "{env}: no launch template's user data names {parameter}"
    );

    let planfile = p.path().join(format!("{env}-leak.tfplan"));
    // Force a non-empty plan that still renders the user data.
    let r = p.run(&[
        "plan",
        "-e",
        env,
        "--replace",
        "module.runners.aws_launch_template.runner",
        "--out",
        planfile.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{env}: plan --out\n{}", r.all());
    let bytes = std::fs::read(&planfile).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !holds(&text, token),
        "{env}: the runner token is in the plan file"
    );
    assert!(
        holds(&text, &parameter),
        "{env}: the plan file holds no user data"
    );
    let r = p.run(&["show", "--json", planfile.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{env}: show --json\n{}", r.all());
    assert!(
        !holds(&r.stdout, token),
        "{env}: the runner token is in the plan JSON"
    );
    assert!(
        holds(&r.stdout, &parameter),
        "{env}: the plan JSON holds no user data"
    );
    std::fs::remove_file(&planfile).unwrap();
    let r = p.run(&["plan", "-e", env, "--json"]);
    assert!(
        !holds(&r.stdout, token),
        "{env}: the runner token is in plan --json"
    );
    let r = p.run(&["state", "pull", "-e", env]);
    assert_eq!(r.code, 0, "{env}: state pull\n{}", r.all());
    assert!(
        !holds(&r.stdout, token),
        "{env}: the runner token is in the state"
    );
    assert!(
        holds(&r.stdout, &parameter),
        "{env}: the state holds no user data"
    );
}

/// The cluster of `env` as a platform team runs it: private endpoint,
/// secrets encrypted, control-plane logs on, every pinned add-on installed at
/// its version, the admin role's access entry with the cluster-admin policy.
async fn assert_cluster_hardened(moto: &terrace_testkit::Moto, env: &str) {
    let cfg = sdk_config(moto).await;
    let eks = aws_sdk_eks::Client::from_conf(
        aws_sdk_eks::config::Builder::from(&cfg)
            .endpoint_url(&fake_eks(moto).endpoint)
            .build(),
    );
    let name = format!("terrace-{env}");
    let c = eks.describe_cluster().name(&name).send().await.unwrap();
    let c = c.cluster().unwrap();
    let vpc = c.resources_vpc_config().unwrap();
    assert!(!vpc.endpoint_public_access(), "{env}: public endpoint");
    assert!(vpc.endpoint_private_access(), "{env}: private endpoint");
    let key = c
        .encryption_config()
        .first()
        .and_then(|e| e.provider())
        .and_then(|p| p.key_arn())
        .unwrap_or_default();
    assert!(
        key.contains(":key/"),
        "{env}: secrets encryption key {key:?}"
    );
    let logged: Vec<_> = c
        .logging()
        .unwrap()
        .cluster_logging()
        .iter()
        .filter(|l| l.enabled() == Some(true))
        .flat_map(|l| l.types())
        .collect();
    assert_eq!(logged.len(), 5, "{env}: control-plane logs {logged:?}");
    let addons = eks.list_addons().cluster_name(&name).send().await.unwrap();
    let mut names = addons.addons().to_vec();
    names.sort();
    assert_eq!(
        names,
        ["aws-ebs-csi-driver", "coredns", "kube-proxy", "vpc-cni"],
        "{env}: add-ons"
    );
    let proxy = eks
        .describe_addon()
        .cluster_name(&name)
        .addon_name("kube-proxy")
        .send()
        .await
        .unwrap();
    assert_eq!(
        proxy.addon().and_then(|a| a.addon_version()),
        Some("v1.30.0-eksbuild.3"),
        "{env}: pinned kube-proxy"
    );
    let entries = eks
        .list_access_entries()
        .cluster_name(&name)
        .send()
        .await
        .unwrap();
    let admin = entries
        .access_entries()
        .iter()
        .find(|a| a.ends_with(":role/platform-admin"))
        .unwrap_or_else(|| panic!("{env}: no admin access entry in {entries:?}"));
    let policies = eks
        .list_associated_access_policies()
        .cluster_name(&name)
        .principal_arn(admin)
        .send()
        .await
        .unwrap();
    assert!(
        policies.associated_access_policies().iter().any(|p| p
            .policy_arn()
            .is_some_and(|a| a.ends_with("/AmazonEKSClusterAdminPolicy"))),
        "{env}: {policies:?}"
    );
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
    let p = shipped_project_with_eks(moto);
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config(moto).await);
    for env in ["dev", "stage"] {
        let token = put_runner_token(moto, env).await;
        apply_replan(&p, env).await;
        assert!(
            !owned_ec2_ids(&ec2, env).await.is_empty(),
            "{env}: nothing tagged after apply"
        );
        assert_cluster_hardened(moto, env).await;
        assert_token_never_written(&p, moto, env, &token).await;
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
    let p = shipped_project_with_eks(moto);
    let token = put_runner_token(moto, "prod").await;
    apply_replan(&p, "prod").await;
    assert_refresh_batched_and_concurrent(&p, "prod");
    assert_cluster_hardened(moto, "prod").await;
    assert_token_never_written(&p, moto, "prod", &token).await;
    assert_moved_blocks_keep_old_prod_state(&p);

    // prod's protection: the shipped policies and terrace.hcl's environment "prod".
    let root = terrace_testkit::workspace_root();
    copy_dir(&root.join("policies"), &p.path().join("policies"));
    std::fs::copy(root.join("terrace.hcl"), p.path().join("terrace.hcl")).unwrap();
    let r = p.run(&["destroy", "-e", "prod", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("prod-prevent-destroy"), "{}", r.all());
    for protected in [
        "module.cluster.aws_eks_cluster.this",
        "module.registry.aws_s3_bucket.artifacts",
        "module.registry.aws_kms_key.this",
    ] {
        assert!(r.stderr.contains(protected), "{protected}\n{}", r.all());
    }
    // Dropping a repository from prod destroys it: the policy denies the plan.
    let r = p.run(&[
        "plan",
        "-e",
        "prod",
        "--var",
        r#"repositories=["api","worker","migrations"]"#,
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("prod-prevent-destroy"), "{}", r.all());
    assert!(
        r.stderr.contains(
            r#"module.registry.aws_ecr_repository.this["web"] in prod would be destroyed"#
        ),
        "{}",
        r.all()
    );
    // Deleting anything else (an add-on) needs --allow-destructive.
    let r = p.run(&[
        "plan",
        "-e",
        "prod",
        "--var",
        r#"cluster_addons={vpc-cni="v1.18.3-eksbuild.1",kube-proxy="v1.30.0-eksbuild.3",coredns="v1.11.1-eksbuild.9"}"#,
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("max_deletes"), "{}", r.all());
    assert!(!r.stderr.contains("prod-prevent-destroy"), "{}", r.all());
    // Nothing was destroyed: every refusal happens at plan time.
    let r = p.run(&["plan", "-e", "prod", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// A prod state written when prod declared its registries and cluster
/// itself (`aws_ecr_repository.service`, `aws_eks_cluster.main`, …): the
/// `moved` blocks of environments/prod/moved.tf take every such object to
/// its module address, so the plan moves and changes nothing.
fn assert_moved_blocks_keep_old_prod_state(p: &Project) {
    let moved = std::fs::read_to_string(p.path().join("environments/prod/moved.tf")).unwrap();
    let mut pairs = Vec::new();
    let mut from = None;
    for line in moved.lines().map(str::trim) {
        if let Some(f) = line.strip_prefix("from = ") {
            from = Some(f.to_string());
        } else if let Some(t) = line.strip_prefix("to   = ") {
            pairs.push((from.take().expect("from before to"), t.to_string()));
        }
    }
    assert!(pairs.len() > 30, "moved.tf: {pairs:?}");
    let r = p.run(&["state", "list", "-e", "prod"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let mut renamed = 0;
    for addr in r.stdout.lines() {
        let Some((old, new)) = pairs.iter().find(|(_, new)| {
            addr == new
                || addr
                    .strip_prefix(new.as_str())
                    .is_some_and(|k| k.starts_with('['))
        }) else {
            continue;
        };
        let old_addr = format!("{old}{}", &addr[new.len()..]);
        let r = p.run(&["state", "mv", "-e", "prod", addr, &old_addr]);
        assert_eq!(r.code, 0, "state mv {addr} {old_addr}\n{}", r.all());
        renamed += 1;
    }
    assert!(renamed > 30, "only {renamed} objects renamed");
    let r = p.run(&["plan", "-e", "prod", "--json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("plan JSON");
    let changes = doc["resource_changes"]
        .as_array()
        .expect("resource_changes");
    let moves = changes
        .iter()
        .filter(|c| c["previous_address"].is_string())
        .count();
    assert_eq!(moves, renamed, "every renamed object moves back");
    for c in changes {
        assert_eq!(
            c["change"]["actions"],
            serde_json::json!(["no-op"]),
            "{c:#}"
        );
    }
    let r = p.run(&["apply", "-e", "prod", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = p.run(&["plan", "-e", "prod", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// Bad inputs of the shipped environments stop the plan with a diagnostic
/// naming the variable's file and what to pass instead: a runner token where
/// its parameter's name belongs, and an API endpoint open to the world.
#[test]
fn shipped_environments_refuse_a_token_as_parameter_name_and_an_open_api() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = shipped_project(moto);
    let r = p.run(&[
        "plan",
        "-e",
        "dev",
        "--var",
        "runner_token_parameter=glrt-pasted-the-token-by-mistake",
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("never the token itself"), "{}", r.all());
    assert!(
        r.stderr.contains("modules/runner-pool/variables.tf line"),
        "{}",
        r.all()
    );
    assert!(
        !r.all().contains("pasted-the-token"),
        "the token is echoed\n{}",
        r.all()
    );
    let r = p.run(&[
        "plan",
        "-e",
        "prod",
        "--var",
        r#"api_allowed_cidrs=["0.0.0.0/0"]"#,
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("must not be open to 0.0.0.0/0"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("environments/prod/variables.tf line"),
        "{}",
        r.all()
    );
}

/// The leak check can fail: a token in the user data is found, plain or
/// base64-encoded at any offset.
#[test]
fn token_search_finds_plain_and_base64_copies() {
    let b64 = base64::engine::general_purpose::STANDARD;
    let token = "glrt-e2e-secret-token-value-1234";
    for prefix in ["", "x", "xy", "#!/bin/bash\n--token "] {
        let script = format!("{prefix}{token}\n");
        assert!(holds(&script, token));
        assert!(holds(&b64.encode(&script), token), "{prefix:?}");
    }
    assert!(!holds(&b64.encode("--token \"$RUNNER_TOKEN\""), token));
}

/// modules/network in both NAT layouts: after apply every subnet is
/// explicitly associated with its intended route table, whose default route
/// goes through the internet gateway (public) or a NAT gateway in a public
/// subnet (private: one per zone, or one shared); the S3 gateway endpoint
/// is attached to every route table of the module; the interface endpoints
/// (per-zone layout) sit in the private subnets behind an HTTPS-only group;
/// the flow log delivers to its log group through the module's scoped
/// role; a re-plan is empty and destroy leaves nothing.
#[tokio::test(flavor = "multi_thread")]
async fn network_module_routes_every_subnet_in_both_nat_layouts() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = shipped_project(moto);
    let sdk = sdk_config(moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let sfx = crate::support::suffix();
    for (env, single, cidr, endpoints) in [
        (format!("netsingle{sfx}"), true, "10.70.0.0/16", "[]"),
        (
            format!("netperaz{sfx}"),
            false,
            "10.71.0.0/16",
            r#"["ecr.api", "ecr.dkr", "sts"]"#,
        ),
    ] {
        let env = env.as_str();
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
  interface_endpoints = {endpoints}
  flow_logs_retention_in_days = 7
}}

output "vpc_id" {{
  value = module.network.vpc_id
}}

output "flow_log_role_arn" {{
  value = module.network.flow_log_role_arn
}}

output "flow_log_group_name" {{
  value = module.network.flow_log_group_name
}}

output "endpoints_security_group_id" {{
  value = module.network.endpoints_security_group_id
}}
"#
                ),
            )],
        );
        apply_replan(&p, env).await;
        let r = p.run(&["output", "-e", env, "--format", "json"]);
        let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
        let output = |name: &str| {
            out[name]["value"]
                .as_str()
                .or(out[name].as_str())
                .unwrap_or_default()
                .to_string()
        };
        let vpc = output("vpc_id");
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

        // The S3 gateway endpoint is in every route table of the module
        // (every table but the VPC's main one).
        let endpoints = ec2
            .describe_vpc_endpoints()
            .filters(f("vpc-id", &vpc))
            .send()
            .await
            .unwrap();
        let endpoints = endpoints.vpc_endpoints();
        let kind = |e: &aws_sdk_ec2::types::VpcEndpoint| {
            e.vpc_endpoint_type()
                .map(|t| t.as_str().to_ascii_lowercase())
                .unwrap_or_default()
        };
        let s3: Vec<_> = endpoints.iter().filter(|e| kind(e) == "gateway").collect();
        assert_eq!(s3.len(), 1, "{env}: one gateway endpoint: {endpoints:?}");
        assert_eq!(
            s3[0].service_name(),
            Some("com.amazonaws.us-east-1.s3"),
            "{env}"
        );
        let mut module_tables: Vec<String> = tables
            .route_tables()
            .iter()
            .filter(|t| !t.associations().iter().any(|a| a.main() == Some(true)))
            .filter_map(|t| t.route_table_id().map(String::from))
            .collect();
        module_tables.sort();
        assert_eq!(module_tables.len(), 3, "{env}: public + two private tables");
        let mut attached: Vec<String> = s3[0].route_table_ids().to_vec();
        attached.sort();
        assert_eq!(attached, module_tables, "{env}: S3 endpoint route tables");

        // Interface endpoints: only where asked for, in the private
        // subnets, private DNS on, behind the HTTPS-from-the-VPC group.
        let interface: Vec<_> = endpoints
            .iter()
            .filter(|e| kind(e) == "interface")
            .collect();
        let sg = output("endpoints_security_group_id");
        if single {
            assert!(interface.is_empty(), "{env}: {interface:?}");
            assert_eq!(sg, "", "{env}: no endpoint group without endpoints");
        } else {
            let mut services: Vec<_> = interface.iter().filter_map(|e| e.service_name()).collect();
            services.sort();
            assert_eq!(
                services,
                [
                    "com.amazonaws.us-east-1.ecr.api",
                    "com.amazonaws.us-east-1.ecr.dkr",
                    "com.amazonaws.us-east-1.sts"
                ],
                "{env}"
            );
            let mut private: Vec<String> = subnets
                .subnets()
                .iter()
                .filter(|s| tier(s) == "private")
                .filter_map(|s| s.subnet_id().map(String::from))
                .collect();
            private.sort();
            for e in &interface {
                let mut ids = e.subnet_ids().to_vec();
                ids.sort();
                assert_eq!(ids, private, "{env}: {e:?}");
                assert_eq!(e.private_dns_enabled(), Some(true), "{env}: {e:?}");
                let groups: Vec<_> = e.groups().iter().filter_map(|g| g.group_id()).collect();
                assert_eq!(groups, [sg.as_str()], "{env}: {e:?}");
            }
            let g = ec2
                .describe_security_groups()
                .group_ids(&sg)
                .send()
                .await
                .unwrap();
            let g = &g.security_groups()[0];
            let ingress = g.ip_permissions();
            assert_eq!(ingress.len(), 1, "{env}: {ingress:?}");
            assert_eq!(ingress[0].from_port(), Some(443), "{env}");
            assert_eq!(ingress[0].to_port(), Some(443), "{env}");
            assert_eq!(ingress[0].ip_protocol(), Some("tcp"), "{env}");
            let cidrs: Vec<_> = ingress[0]
                .ip_ranges()
                .iter()
                .filter_map(|r| r.cidr_ip())
                .collect();
            assert_eq!(cidrs, [cidr], "{env}: HTTPS from the VPC only");
        }

        // The flow log: the VPC's traffic to the module's log group through
        // the module's role; the role is trusted by the flow-logs service
        // and may write to that group only.
        let role_arn = output("flow_log_role_arn");
        let group = output("flow_log_group_name");
        assert_eq!(group, format!("/aws/vpc-flow-logs/{env}"), "{}", r.all());
        let fl = ec2
            .describe_flow_logs()
            .filter(f("resource-id", &vpc))
            .send()
            .await
            .unwrap();
        let fl = fl.flow_logs();
        assert_eq!(fl.len(), 1, "{env}: {fl:?}");
        assert_eq!(fl[0].deliver_logs_permission_arn(), Some(role_arn.as_str()));
        // The destination is the group (moto reports only its ARN).
        assert!(
            fl[0].log_group_name() == Some(group.as_str())
                || fl[0].log_destination().is_some_and(|d| d
                    .trim_end_matches(":*")
                    .ends_with(&format!(":log-group:{group}"))),
            "{env}: {fl:?}"
        );
        assert_eq!(
            fl[0].traffic_type().map(|t| t.as_str()),
            Some("ALL"),
            "{fl:?}"
        );
        let lg = logs
            .describe_log_groups()
            .log_group_name_prefix(&group)
            .send()
            .await
            .unwrap();
        let lg: Vec<_> = lg
            .log_groups()
            .iter()
            .filter(|g| g.log_group_name() == Some(group.as_str()))
            .collect();
        assert_eq!(lg.len(), 1, "{env}: log group");
        assert_eq!(lg[0].retention_in_days(), Some(7), "{env}");
        let role_name = role_arn.rsplit('/').next().unwrap().to_string();
        let role = iam.get_role().role_name(&role_name).send().await.unwrap();
        let trust = decode_policy(
            role.role()
                .and_then(|r| r.assume_role_policy_document())
                .unwrap_or_default(),
        );
        assert_eq!(
            trust["Statement"][0]["Principal"]["Service"], "vpc-flow-logs.amazonaws.com",
            "{env}: {trust}"
        );
        assert_eq!(trust["Statement"][0]["Action"], "sts:AssumeRole", "{trust}");
        let names = iam
            .list_role_policies()
            .role_name(&role_name)
            .send()
            .await
            .unwrap();
        assert_eq!(names.policy_names(), ["write-flow-logs"], "{env}");
        let doc = iam
            .get_role_policy()
            .role_name(&role_name)
            .policy_name("write-flow-logs")
            .send()
            .await
            .unwrap();
        let doc = decode_policy(doc.policy_document());
        let group_arn = lg[0].arn().unwrap_or_default().trim_end_matches(":*");
        let resources = &doc["Statement"][0]["Resource"];
        let resources: Vec<&str> = resources
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        assert!(!resources.is_empty(), "{env}: {doc}");
        for res in &resources {
            assert!(
                *res == group_arn || *res == format!("{group_arn}:*"),
                "{env}: resource {res} is not the flow-log group {group_arn}: {doc}"
            );
        }
        let r = p.run(&["destroy", "-e", env, "--auto-approve"]);
        assert_eq!(r.code, 0, "{env}: destroy\n{}", r.all());
        let left = owned_ec2_ids(&ec2, env).await;
        assert!(left.is_empty(), "{env}: left behind {left:?}");
        assert!(
            iam.get_role().role_name(&role_name).send().await.is_err(),
            "{env}: flow-log role left behind"
        );
        let lg = logs
            .describe_log_groups()
            .log_group_name_prefix(&group)
            .send()
            .await
            .unwrap();
        assert!(lg.log_groups().is_empty(), "{env}: log group left behind");
    }
}

/// An IAM policy document as IAM returns it: JSON, URL-encoded by IAM (moto
/// may return it plain).
fn decode_policy(s: &str) -> serde_json::Value {
    let text = if s.trim_start().starts_with('{') {
        s.to_string()
    } else {
        percent_decode(s)
    };
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("policy {text}: {e}"))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The registry module's optional cross-region replication: one registry
/// rule sending the environment's repositories (prefix `<name>/`) to the
/// given regions; with none given, no replication configuration at all.
#[tokio::test(flavor = "multi_thread")]
async fn registry_module_replicates_its_repositories_when_asked() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = shipped_project(moto);
    let env = format!("rr{}", crate::support::suffix());
    p.write_env(
        &env,
        &[(
            "main.tf",
            r#"module "registry" {
  source = "../../modules/registry"

  name                = "rep-${terrace.environment}"
  repositories        = ["app"]
  force_delete        = true
  replication_regions = ["us-west-2", "eu-west-1"]
}
"#,
        )],
    );
    let r = p.run(&["apply", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let ecr = aws_sdk_ecr::Client::new(&crate::support::sdk_config(moto).await);
    let reg = ecr.describe_registry().send().await.unwrap();
    let rules = reg.replication_configuration().unwrap().rules();
    assert_eq!(rules.len(), 1, "{reg:?}");
    let regions: Vec<&str> = rules[0].destinations().iter().map(|d| d.region()).collect();
    assert_eq!(regions, ["us-west-2", "eu-west-1"]);
    assert_eq!(
        rules[0].repository_filters()[0].filter(),
        format!("rep-{env}/")
    );
    let r = p.run(&["plan", "-e", &env, "-detailed-exitcode"]);
    assert_eq!(r.code, 0, "re-plan must be empty\n{}", r.all());
    // A bad region is refused at the variable, before anything changes.
    let good =
        std::fs::read_to_string(p.path().join("environments").join(&env).join("main.tf")).unwrap();
    p.write_env(
        &env,
        &[("main.tf", &good.replace("\"eu-west-1\"", "\"Europe\""))],
    );
    let r = p.run(&["plan", "-e", &env]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("AWS region name"), "{}", r.all());
    p.write_env(&env, &[("main.tf", &good)]);
    let r = p.run(&["destroy", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// Issue 20 §5: a plan with refresh of an applied environment reads its
/// types concurrently and in batches. Prints what BENCHMARKS.md quotes
/// (wall time, calls per operation, objects per type, per-type refresh
/// times) and checks: two or more types are refreshed at the same time, and
/// no EC2, Auto Scaling or ELBv2 read (APIs that take a list of IDs or a
/// filter) is called more often than there are types in state — one
/// batched read per type, not one per object.
fn assert_refresh_batched_and_concurrent(p: &Project, env: &str) {
    let started = std::time::Instant::now();
    let r = p.run_env(
        &["plan", "-e", env, "--detailed-exitcode", "--stats"],
        &[("RUST_LOG", "terrace_engine::plan=info")],
    );
    let wall = started.elapsed();
    assert_eq!(r.code, 0, "{}", r.all());
    let calls: Vec<(String, u64)> = r
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("API calls:"))
        .skip(1)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.parse().ok()?))
        })
        .collect();
    let list = p.run(&["state", "list", "-e", env]);
    let mut objects: std::collections::BTreeMap<String, usize> = Default::default();
    for addr in list.stdout.lines().filter(|l| !l.contains("data.")) {
        let ty = addr
            .split('.')
            .find(|s| s.starts_with("aws_"))
            .unwrap_or(addr);
        *objects.entry(ty.to_string()).or_default() += 1;
    }
    // The engine's "refreshing"/"refreshed" events, in the order printed.
    let events: Vec<(bool, String)> = r
        .stderr
        .lines()
        .filter_map(|l| {
            let done = l.contains("refreshed");
            if !done && !l.contains("refreshing") {
                return None;
            }
            let ty = l.split("type_name=").nth(1)?.split_whitespace().next()?;
            Some((done, ty.trim_matches('"').to_string()))
        })
        .collect();
    let mut in_flight = std::collections::BTreeSet::new();
    let mut most = 0;
    for (done, ty) in &events {
        if *done {
            in_flight.remove(ty);
        } else {
            in_flight.insert(ty.clone());
        }
        most = most.max(in_flight.len());
    }
    eprintln!(
        "{env}: plan with refresh {:.2} s, {} calls, {} types, at most {most} refreshed at once",
        wall.as_secs_f64(),
        calls.iter().map(|c| c.1).sum::<u64>(),
        objects.len()
    );
    eprintln!("{env}: objects per type {objects:?}");
    eprintln!("{env}: calls {calls:?}");
    for l in r.stderr.lines().filter(|l| l.contains("refreshed")) {
        eprintln!("{env}: {l}");
    }
    assert!(
        most >= 2,
        "types are refreshed one at a time:\n{}",
        r.stderr
    );
    let types = objects.len() as u64;
    for (op, n) in &calls {
        let batched_api = ["ec2:", "autoscaling:", "elasticloadbalancing:"]
            .iter()
            .any(|s| op.starts_with(s));
        let read = op.contains(":Describe");
        assert!(
            !(batched_api && read) || *n <= types,
            "{op} was called {n} times for {types} types: one call per object?\n{}",
            r.stderr
        );
    }
}
