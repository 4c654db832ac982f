//! Terraform/OpenTofu state in and out: the shipped `dev` environment
//! round-trips through a `terraform.tfstate` into a fresh store with an empty
//! plan; a hand-written v4 state of objects made with the SDK is pushed and
//! adopted with an empty plan; unsupported types, bad JSON and other format
//! versions are refused with nothing written.

use crate::support::{Project, copy_dir, sdk_config, suffix};
use std::path::Path;

/// A project (own SQLite store) holding copies of the shipped modules/ and environments/.
/// A project holding copies of the repository's modules/ and environments/,
/// every AWS call going through `eks` (the EKS calls moto lacks answered
/// there, everything else by moto).
fn shipped_project(moto: &terrace_testkit::Moto, eks: &terrace_testkit::FakeEks) -> Project {
    let mut p = Project::new().with_moto(moto);
    let root = terrace_testkit::workspace_root();
    copy_dir(&root.join("modules"), &p.path().join("modules"));
    copy_dir(&root.join("environments"), &p.path().join("environments"));
    p.env
        .push(("AWS_ENDPOINT_URL".into(), eks.endpoint.clone()));
    p
}

/// When a `terraform` binary is installed, it must read the file too
/// (`terraform state list` needs no providers and no network).
fn terraform_lists(file: &Path) -> Option<Vec<String>> {
    let out = std::process::Command::new("terraform")
        .arg("state")
        .arg("list")
        .arg(format!("-state={}", file.display()))
        .current_dir(file.parent().unwrap())
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "terraform cannot read the pulled state: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn shipped_dev_round_trips_through_a_tfstate_into_a_fresh_store() {
    // Its own moto: the shipped tests apply `dev` on the shared one.
    let Some(moto) = terrace_testkit::start_moto() else {
        return;
    };
    let eks = terrace_testkit::FakeEks::in_front_of(&moto.endpoint);
    let a = shipped_project(&moto, &eks);
    let r = a.run(&["apply", "-e", "dev", "--auto-approve"]);
    assert_eq!(r.code, 0, "apply\n{}", r.all());
    let listed = a.run(&["state", "list", "-e", "dev"]);
    let addresses: Vec<&str> = listed.stdout.lines().collect();
    assert!(addresses.len() > 20, "{}", listed.all());

    let r = a.run(&["state", "pull", "-e", "dev", "--format", "tfstate"]);
    assert_eq!(r.code, 0, "pull\n{}", r.all());
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("pulled JSON");
    assert_eq!(doc["version"], 4);
    assert!(doc["terraform_version"].as_str().is_some());
    assert!(doc["lineage"].as_str().is_some_and(|l| l.len() == 36));
    let resources = doc["resources"].as_array().unwrap();
    let vpc = resources
        .iter()
        .find(|r| r["type"] == "aws_vpc")
        .expect("a VPC");
    assert_eq!(vpc["module"], "module.network");
    assert_eq!(
        vpc["provider"],
        "provider[\"registry.terraform.io/hashicorp/aws\"]"
    );
    assert_eq!(vpc["instances"][0]["schema_version"], 1);
    assert!(vpc["instances"][0]["attributes"]["id"].is_string());
    // Counted and for_each instances carry their index_key.
    assert!(
        resources.iter().any(|r| r["instances"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["index_key"].is_number())),
        "no counted instance"
    );
    assert!(
        resources.iter().any(|r| r["instances"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["index_key"].is_string())),
        "no for_each instance"
    );
    // The runner registration token is not in state at all: runners read
    // it from SSM at boot (only the parameter's name is configured).
    assert!(
        !r.stdout.contains("runner_registration_token"),
        "a runner token variable in state"
    );
    assert!(doc["outputs"].as_object().is_some_and(|o| !o.is_empty()));
    let file = a.path().join("terraform.tfstate");
    std::fs::write(&file, &r.stdout).unwrap();
    if let Some(tf) = terraform_lists(&file) {
        assert_eq!(tf.len(), addresses.len(), "terraform lists {tf:?}");
    }

    // A fresh store, the same configuration, the same account.
    let b = shipped_project(&moto, &eks);
    let r = b.run(&["state", "push", "-e", "dev", file.to_str().unwrap()]);
    assert_eq!(r.code, 0, "push\n{}", r.all());
    // Data sources are left out (every plan reads them again).
    let managed: Vec<&str> = addresses
        .iter()
        .copied()
        .filter(|a| !a.starts_with("data.") && !a.contains(".data."))
        .collect();
    let r = b.run(&["state", "list", "-e", "dev"]);
    assert_eq!(r.stdout.lines().collect::<Vec<_>>(), managed, "{}", r.all());
    let r = b.run(&["plan", "-e", "dev", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "plan after the push must be empty\n{}", r.all());
    // The outputs came along.
    let r = b.run(&["output", "-e", "dev", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("vpc"), "{}", r.all());
    let r = b.run(&["destroy", "-e", "dev", "--auto-approve"]);
    assert_eq!(r.code, 0, "destroy from the new store\n{}", r.all());
}

fn legacy_config(bucket: &str) -> Vec<(String, String)> {
    vec![
        (
            "main.tf".into(),
            format!(
                r#"provider "aws" {{
  region = "us-east-1"
}}

resource "aws_vpc" "main" {{
  cidr_block = "10.40.0.0/16"
  tags = {{
    Name = "legacy"
  }}
}}

resource "aws_subnet" "app" {{
  count      = 1
  vpc_id     = aws_vpc.main.id
  cidr_block = "10.40.${{count.index + 1}}.0/24"
}}

module "web" {{
  source = "./web"
  vpc_id = aws_vpc.main.id
}}

resource "aws_s3_bucket" "logs" {{
  for_each = toset(["{bucket}"])
  bucket   = each.key
}}

output "vpc_id" {{
  value = aws_vpc.main.id
}}
"#
            ),
        ),
        (
            "web/main.tf".into(),
            r#"variable "vpc_id" {
  type = string
}

resource "aws_security_group" "web" {
  name        = "legacy-web"
  description = "legacy web"
  vpc_id      = var.vpc_id
}
"#
            .into(),
        ),
    ]
}

/// A v4 state as Terraform would write it, from the documented format.
fn handwritten_state(vpc: &str, subnet: &str, sg: &str, bucket: &str) -> serde_json::Value {
    let aws = "provider[\"registry.terraform.io/hashicorp/aws\"]";
    serde_json::json!({
        "version": 4,
        "terraform_version": "1.9.8",
        "serial": 12,
        "lineage": "0f6c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5",
        "outputs": {
            "vpc_id": {"value": vpc, "type": "string"}
        },
        "resources": [
            {
                "mode": "data", "type": "aws_availability_zones", "name": "all",
                "provider": aws,
                "instances": [{"schema_version": 0, "attributes": {"id": "us-east-1", "names": ["us-east-1a"]}, "sensitive_attributes": []}]
            },
            {
                "mode": "managed", "type": "aws_vpc", "name": "main", "provider": aws,
                "instances": [{
                    "schema_version": 1,
                    "attributes": {
                        "id": vpc, "cidr_block": "10.40.0.0/16", "enable_dns_support": true,
                        "enable_dns_hostnames": false, "instance_tenancy": "default",
                        "ipv6_ipam_pool_id": "", "attribute_of_a_newer_provider": "x", "tags": {"Name": "legacy"}, "tags_all": {"Name": "legacy"}
                    },
                    "sensitive_attributes": []
                }]
            },
            {
                "mode": "managed", "type": "aws_subnet", "name": "app", "provider": aws,
                "instances": [{
                    "index_key": 0,
                    "schema_version": 1,
                    "attributes": {"id": subnet, "vpc_id": vpc, "cidr_block": "10.40.1.0/24", "tags": null, "tags_all": {}},
                    "sensitive_attributes": [],
                    "dependencies": ["aws_vpc.main"]
                }]
            },
            {
                "module": "module.web",
                "mode": "managed", "type": "aws_security_group", "name": "web", "provider": aws,
                "instances": [{
                    "schema_version": 1,
                    "attributes": {"id": sg, "name": "legacy-web", "description": "legacy web", "vpc_id": vpc, "ingress": [], "egress": [], "revoke_rules_on_delete": false, "timeouts": null},
                    "sensitive_attributes": [],
                    "private": "eyJzY2hlbWFfdmVyc2lvbiI6IjEifQ==",
                    "dependencies": ["aws_vpc.main"]
                }]
            },
            {
                "mode": "managed", "type": "aws_s3_bucket", "name": "logs", "provider": aws,
                "instances": [{
                    "index_key": bucket,
                    "schema_version": 0,
                    "attributes": {"id": bucket, "bucket": bucket, "force_destroy": false, "tags": null, "tags_all": {}},
                    "sensitive_attributes": []
                }]
            }
        ],
        "check_results": null
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handwritten_tfstate_of_sdk_made_objects_is_adopted_with_an_empty_plan() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let cfg = sdk_config(moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&cfg);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&cfg)
            .force_path_style(true)
            .build(),
    );
    let tag = |k: &str, v: &str| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build();
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.40.0.0/16")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
                .tags(tag("Name", "legacy"))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.40.1.0/24")
        .send()
        .await
        .unwrap()
        .subnet
        .unwrap()
        .subnet_id
        .unwrap();
    let sg = ec2
        .create_security_group()
        .group_name("legacy-web")
        .description("legacy web")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    // Terraform removes AWS's default allow-all egress rule from a group
    // whose configuration has none; the hand-made group matches that.
    ec2.revoke_security_group_egress()
        .group_id(&sg)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let bucket = format!("legacy-logs-{}", suffix());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    let p = Project::new().with_moto(moto);
    let files = legacy_config(&bucket);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    p.write_env("legacy", &files);
    let file = p.path().join("terraform.tfstate");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&handwritten_state(&vpc, &subnet, &sg, &bucket)).unwrap(),
    )
    .unwrap();

    let r = p.run(&["state", "push", "-e", "legacy", file.to_str().unwrap()]);
    assert_eq!(r.code, 0, "push\n{}", r.all());
    let r = p.run(&["state", "list", "-e", "legacy"]);
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        vec![
            format!("aws_s3_bucket.logs[\"{bucket}\"]"),
            "aws_subnet.app[0]".to_string(),
            "aws_vpc.main".to_string(),
            "module.web.aws_security_group.web".to_string(),
        ],
        "data sources are skipped\n{}",
        r.all()
    );
    let r = p.run(&["state", "show", "-e", "legacy", "aws_vpc.main"]);
    assert!(
        r.stdout.contains("10.40.0.0/16") && !r.stdout.contains("attribute_of_a_newer_provider"),
        "attributes terrace does not know are left out\n{}",
        r.all()
    );

    // Adopted: the plan is empty — no ownership tags are added to objects
    // terrace did not create.
    let r = p.run(&["plan", "-e", "legacy", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "plan after the push must be empty\n{}", r.all());

    // The adopted objects are managed: a configuration change is an in-place update.
    let mut changed = legacy_config(&bucket);
    changed[0].1 = changed[0].1.replace(
        "Name = \"legacy\"",
        "Name = \"legacy\"\n    Team = \"core\"",
    );
    std::fs::write(p.path().join("environments/legacy/main.tf"), &changed[0].1).unwrap();
    let r = p.run(&["apply", "-e", "legacy", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("1 changed") || r.stdout.contains("1 to change"),
        "{}",
        r.all()
    );
    let tags = ec2
        .describe_vpcs()
        .vpc_ids(&vpc)
        .send()
        .await
        .unwrap()
        .vpcs()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect::<std::collections::BTreeMap<_, _>>();
    assert_eq!(
        tags.get("Team").map(String::as_str),
        Some("core"),
        "{tags:?}"
    );
    assert!(!tags.contains_key("terrace:environment"), "{tags:?}");
    let r = p.run(&["plan", "-e", "legacy", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

#[test]
fn unsupported_types_bad_json_and_other_versions_are_refused_with_nothing_written() {
    let p = Project::new();
    p.write_env("legacy", &[("main.tf", "")]);
    let file = p.path().join("terraform.tfstate");
    let aws = "provider[\"registry.terraform.io/hashicorp/aws\"]";
    let state = serde_json::json!({
        "version": 4, "terraform_version": "1.9.8", "serial": 3,
        "lineage": "0f6c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5", "outputs": {},
        "resources": [
            {"mode": "managed", "type": "aws_vpc", "name": "main", "provider": aws,
             "instances": [{"schema_version": 1, "attributes": {"id": "vpc-1"}}]},
            {"module": "module.db", "mode": "managed", "type": "aws_db_instance", "name": "main", "provider": aws,
             "instances": [{"index_key": 0, "schema_version": 2, "attributes": {"id": "db-1"}},
                           {"index_key": 1, "schema_version": 2, "attributes": {"id": "db-2"}}]},
            {"mode": "managed", "type": "google_storage_bucket", "name": "b",
             "provider": "provider[\"registry.terraform.io/hashicorp/google\"]",
             "instances": [{"schema_version": 0, "attributes": {"id": "b"}}]}
        ]
    });
    std::fs::write(&file, state.to_string()).unwrap();
    let push = |p: &Project| p.run(&["state", "push", "-e", "legacy", file.to_str().unwrap()]);
    let r = push(&p);
    assert_eq!(r.code, 1, "{}", r.all());
    for want in [
        "2 resource types terrace does not support",
        "aws_db_instance: module.db.aws_db_instance.main[0], module.db.aws_db_instance.main[1]",
        "google_storage_bucket: google_storage_bucket.b",
        "nothing was written",
    ] {
        assert!(r.stderr.contains(want), "missing {want:?}\n{}", r.all());
    }
    assert!(!r.stderr.contains("aws_vpc"), "{}", r.all());
    let r = p.run(&["state", "list", "-e", "legacy"]);
    assert_eq!(r.code, 1, "nothing was written\n{}", r.all());
    assert!(r.stderr.contains("no state yet"), "{}", r.all());

    std::fs::write(&file, "{\"version\": 4, \"resources\": [").unwrap();
    let r = push(&p);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("not valid JSON"), "{}", r.all());

    std::fs::write(
        &file,
        r#"{"version": 3, "terraform_version": "0.11.14", "serial": 1, "modules": []}"#,
    )
    .unwrap();
    let r = push(&p);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("format version 3") && r.stderr.contains("version 4"),
        "{}",
        r.all()
    );

    std::fs::write(&file, r#"{"hello": "world"}"#).unwrap();
    let r = push(&p);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("neither a terrace state"), "{}", r.all());
    let r = p.run(&["state", "list", "-e", "legacy"]);
    assert_eq!(r.code, 1, "still nothing written\n{}", r.all());
}

/// Objects recorded without a `timeouts` block (by a terrace from before
/// the block, or pushed from a Terraform state, which writes `null`) are no
/// change: a plan with `-refresh=false` does not update them, nor does one
/// with a refresh (the prior is read against the schema, where an absent
/// block is an empty one).
#[tokio::test(flavor = "multi_thread")]
async fn objects_recorded_without_timeouts_plan_no_change() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = Project::new().with_moto(moto);
    let env = format!("to{}", suffix());
    let config = "resource \"aws_ecr_repository\" \"r\" {\n  name = \"timeouts-${terrace.environment}\"\n}\n";
    p.write_env(&env, &[("main.tf", config)]);
    let r = p.run(&["apply", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = p.run(&["state", "pull", "-e", &env, "--format", "tfstate"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let mut doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let mut seen = 0;
    for res in doc["resources"].as_array_mut().unwrap() {
        for inst in res["instances"].as_array_mut().unwrap() {
            inst["attributes"]["timeouts"] = serde_json::Value::Null;
            seen += 1;
        }
    }
    assert_eq!(seen, 1, "{doc:#}");
    doc["serial"] = serde_json::json!(doc["serial"].as_u64().unwrap() + 1);
    let file = p.path().join("old.tfstate");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let r = p.run(&["state", "push", "-e", &env, file.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    for extra in [&["-refresh=false"][..], &[][..]] {
        let mut args = vec!["plan", "-e", &env, "-detailed-exitcode"];
        args.extend_from_slice(extra);
        let r = p.run(&args);
        assert_eq!(r.code, 0, "{args:?} must be no change\n{}", r.all());
    }
    let r = p.run(&["destroy", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}
