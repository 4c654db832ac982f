//! The whole path against moto: plan → apply → idempotent plan → update and
//! replacement → drift → destroy, with SQLite state.

use crate::support::{Project, owned_ec2_ids, sdk_config, suffix};

pub const AMI: &str = "ami-04681a1dbd79675a5";

pub fn app_config(sfx: &str) -> String {
    format!(
        r#"
variable "instance_type" {{
  type    = string
  default = "t3.micro"
}}

variable "vpc_cidr" {{
  type    = string
  default = "10.42.0.0/16"
}}

locals {{
  name = "app-${{terrace.environment}}"
  tags = {{ Team = "platform", Env = terrace.environment }}
}}

resource "aws_vpc" "main" {{
  cidr_block = var.vpc_cidr
  tags       = merge(local.tags, {{ Name = local.name }})
}}

resource "aws_subnet" "a" {{
  vpc_id     = aws_vpc.main.id
  cidr_block = cidrsubnet(var.vpc_cidr, 8, 1)
  tags       = local.tags
}}

resource "aws_security_group" "runner" {{
  name   = "${{local.name}}-runner"
  vpc_id = aws_vpc.main.id

  ingress {{
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/8"]
  }}
}}

resource "aws_instance" "runner" {{
  ami                    = "{AMI}"
  instance_type          = var.instance_type
  subnet_id              = aws_subnet.a.id
  vpc_security_group_ids = [aws_security_group.runner.id]
  tags                   = merge(local.tags, {{ Name = "${{local.name}}-runner" }})
}}

resource "aws_ecr_repository" "images" {{
  name                 = "${{local.name}}-images"
  image_tag_mutability = "MUTABLE"
}}

resource "aws_s3_bucket" "cache" {{
  bucket = "${{local.name}}-cache-{sfx}"
}}

resource "terraform_data" "marker" {{
  input = aws_vpc.main.id
}}

output "vpc_id" {{
  value = aws_vpc.main.id
}}

output "repository_url" {{
  value = aws_ecr_repository.images.repository_url
}}
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_apply_drift_destroy_against_moto() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let sfx = suffix();
    let project = Project::new().with_moto(moto);
    let env = format!("lc{sfx}");
    project.write_env(&env, &[("main.tf", &app_config(&sfx))]);

    // Plan from nothing: creates, exit 2 with --detailed-exitcode.
    let r = project.run(&["plan", "-e", &env, "--detailed-exitcode"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stdout
            .contains("Plan: 7 to add, 0 to change, 0 to destroy."),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("(known after apply)"), "{}", r.all());

    // Apply creates everything.
    let r = project.run(&["apply", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("7 added, 0 changed, 0 destroyed"),
        "{}",
        r.all()
    );

    let cfg = sdk_config(moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&cfg);
    let owned = owned_ec2_ids(&ec2, &env).await;
    assert!(owned.iter().any(|i| i.starts_with("vpc-")), "{owned:?}");
    assert!(owned.iter().any(|i| i.starts_with("i-")), "{owned:?}");

    // Idempotent: a second plan is empty, exit 0.
    let r = project.run(&["plan", "-e", &env, "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "second plan must be empty\n{}", r.all());
    assert!(r.stdout.contains("No changes."), "{}", r.all());

    // Outputs for later stages.
    let r = project.run(&["output", "-e", &env, "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let outs: serde_json::Value = serde_json::from_str(&r.stdout).expect("json outputs");
    assert!(
        outs["vpc_id"]["value"]
            .as_str()
            .unwrap_or("")
            .starts_with("vpc-"),
        "{outs}"
    );

    // A changed variable: instance type is updated in place.
    let r = project.run(&[
        "plan",
        "-e",
        &env,
        "--detailed-exitcode",
        "--var",
        "instance_type=t3.small",
    ]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stdout.contains("will be updated in-place"), "{}", r.all());
    assert!(
        r.stdout
            .contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{}",
        r.all()
    );

    // A force-new change: the VPC (and what hangs off it) is replaced.
    let r = project.run(&["plan", "-e", &env, "--var", "vpc_cidr=10.43.0.0/16"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("aws_vpc.main must be replaced"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("# forces replacement"), "{}", r.all());

    // Drift: a tag edited outside terrace is detected, exit 2.
    let vpc_id = owned
        .iter()
        .find(|i| i.starts_with("vpc-"))
        .unwrap()
        .clone();
    ec2.create_tags()
        .resources(&vpc_id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("Team")
                .value("someone-else")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let r = project.run(&["drift", "-e", &env]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stdout.contains("aws_vpc.main"), "{}", r.all());
    assert!(r.stdout.contains("someone-else"), "{}", r.all());

    // apply reverts drift; drift is then clean.
    let r = project.run(&["apply", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = project.run(&["drift", "-e", &env]);
    assert_eq!(r.code, 0, "{}", r.all());

    // Destroy leaves nothing carrying the environment's ownership tag.
    let r = project.run(&["destroy", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let left = owned_ec2_ids(&ec2, &env).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    let ecr = aws_sdk_ecr::Client::new(&cfg);
    let repos = ecr.describe_repositories().send().await.unwrap();
    assert!(
        !repos
            .repositories()
            .iter()
            .any(|r| r.repository_name().unwrap_or("").contains(&env))
    );
}
