//! Terraform users' habits carry over: single-dash flags, TF_CLI_ARGS,
//! TF_IN_AUTOMATION, TF_LOG, -input=false.

use crate::support::Project;

const CONFIG: &str = r#"
variable "name" {
  type = string
}

resource "terraform_data" "a" {
  input = "hello-${var.name}"
}

output "a" {
  value = terraform_data.a.output
}
"#;

#[test]
fn single_dash_flags_plan_apply_saved_plan_destroy() {
    let project = Project::new();
    project.write_env("dev", &[("main.tf", CONFIG)]);
    std::fs::write(project.path().join("prod.tfvars"), "name = \"prod\"\n").unwrap();

    let r = project.run(&[
        "plan",
        "-e",
        "dev",
        "-var-file=prod.tfvars",
        "-input=false",
        "-no-color",
        "-lock=false",
        "-lock-timeout=5s",
        "-parallelism=2",
        "-compact-warnings",
        "-refresh=false",
        "-out=tfplan",
        "-detailed-exitcode",
    ]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stdout.contains("hello-prod"), "{}", r.all());
    assert!(project.path().join("tfplan").exists());
    assert!(
        r.stdout.contains("To perform exactly these actions"),
        "{}",
        r.all()
    );

    let r = project.run(&["apply", "-input=false", "-auto-approve", "tfplan"]);
    assert_eq!(r.code, 0, "{}", r.all());

    let r = project.run(&[
        "plan",
        "-e",
        "dev",
        "-var",
        "name=prod",
        "-input=false",
        "-detailed-exitcode",
    ]);
    assert_eq!(r.code, 0, "re-plan must be empty\n{}", r.all());

    let r = project.run(&["output", "-e", "dev", "-json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("hello-prod"), "{}", r.all());

    let r = project.run(&[
        "destroy",
        "-e",
        "dev",
        "-var=name=prod",
        "-auto-approve",
        "-input=false",
        "-lock=false",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("-lock=false is ignored"), "{}", r.all());
    assert!(r.stdout.contains("1 destroyed"), "{}", r.all());
}

#[test]
fn input_false_refuses_to_ask_for_confirmation() {
    let project = Project::new();
    project.write_env("dev", &[("main.tf", CONFIG)]);
    let r = project.run(&["apply", "-e", "dev", "-var", "name=x", "-input=false"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("-input=false forbids asking; pass -auto-approve"),
        "{}",
        r.all()
    );
    // Nothing was applied.
    let r = project.run(&["state", "list", "-e", "dev"]);
    assert!(!r.stdout.contains("terraform_data.a"), "{}", r.all());
}

#[test]
fn unknown_single_dash_flag_is_rejected_by_name() {
    let project = Project::new();
    project.write_env("dev", &[("main.tf", CONFIG)]);
    let r = project.run(&["plan", "-e", "dev", "-var", "name=x", "-frobnicate"]);
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("unexpected argument"), "{}", r.all());
}

#[test]
fn tf_cli_args_tf_in_automation_and_tf_log() {
    let project = Project::new();
    project.write_env("dev", &[("main.tf", CONFIG)]);
    std::fs::write(project.path().join("ci.tfvars"), "name = \"ci\"\n").unwrap();

    // TF_CLI_ARGS_plan supplies the var file; TF_IN_AUTOMATION drops the hint.
    let r = project.run_env(
        &["plan", "-e", "dev", "-out=tfplan"],
        &[
            ("TF_CLI_ARGS_plan", "-var-file=ci.tfvars -input=false"),
            ("TF_CLI_ARGS", "-no-color"),
            ("TF_IN_AUTOMATION", "1"),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("hello-ci"), "{}", r.all());
    assert!(!r.stdout.contains("To perform exactly"), "{}", r.all());

    // TF_CLI_ARGS_apply does not reach plan.
    let r = project.run_env(
        &["plan", "-e", "dev"],
        &[("TF_CLI_ARGS_apply", "-var-file=ci.tfvars")],
    );
    assert_eq!(r.code, 1, "{}", r.all());

    // TF_LOG turns on logging like -v; a bad level is an error that says what is allowed.
    let r = project.run_env(
        &["plan", "-e", "dev", "-var", "name=x"],
        &[("TF_LOG", "DEBUG")],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("DEBUG"), "{}", r.all());
    let r = project.run(&["plan", "-e", "dev", "-var", "name=x"]);
    assert!(!r.stderr.contains("DEBUG"), "{}", r.all());
    let r = project.run_env(&["validate", "-e", "dev"], &[("TF_LOG", "LOUD")]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("TF_LOG=\"LOUD\" is not a log level"),
        "{}",
        r.all()
    );
    let r = project.run_env(&["plan", "-e", "dev"], &[("TF_CLI_ARGS", "-var 'name=a")]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("unbalanced quotes"), "{}", r.all());
}

/// A root module as Terraform users write it — `backend "s3"` and
/// `provider_meta` in `terraform {}`, `required_version`, `check`,
/// `precondition`, `postcondition` — through plan → saved apply → empty
/// re-plan → destroy against moto, with single-dash flags throughout.
#[tokio::test(flavor = "multi_thread")]
async fn terraform_root_module_round_trip_against_moto() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let sfx = crate::support::suffix();
    let project = Project::new().with_moto(moto);
    let env = format!("tf{sfx}");
    let main = r#"
terraform {
  required_version = ">= 1.3.0"
  backend "s3" {
    bucket = "company-tf-state"
    key    = "network/terraform.tfstate"
    region = "us-east-1"
  }
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
  provider_meta "aws" {
    user_agent = ["github.com/terraform-aws-modules/terraform-aws-vpc"]
  }
}

variable "cidr" {
  type = string
}

resource "aws_vpc" "this" {
  cidr_block = var.cidr
  tags       = { Name = "tf-habits" }
  lifecycle {
    precondition {
      condition     = can(cidrhost(var.cidr, 0))
      error_message = "cidr must be a CIDR block"
    }
    postcondition {
      condition     = self.id != ""
      error_message = "the VPC has no id"
    }
  }
}

output "vpc_id" {
  value = aws_vpc.this.id
  precondition {
    condition     = endswith(var.cidr, "/16")
    error_message = "use a /16"
  }
}

check "cidr_is_private" {
  assert {
    condition     = startswith(var.cidr, "192.168.")
    error_message = "the VPC CIDR ${var.cidr} is not in 192.168.0.0/16"
  }
}
"#;
    project.write_env(&env, &[("main.tf", main)]);
    std::fs::write(
        project.path().join("net.tfvars"),
        "cidr = \"10.77.0.0/16\"\n",
    )
    .unwrap();

    let r = project.run(&[
        "plan",
        "-e",
        &env,
        "-var-file=net.tfvars",
        "-input=false",
        "-out=tfplan",
        "-detailed-exitcode",
    ]);
    assert_eq!(r.code, 2, "{}", r.all());
    let all = r.all();
    assert!(all.contains("Backend configuration ignored"), "{all}");
    assert!(all.contains("backend \"s3\""), "{all}");
    assert!(
        all.contains("check.cidr_is_private: the VPC CIDR 10.77.0.0/16 is not in 192.168.0.0/16"),
        "{all}"
    );
    assert!(!all.contains("Postcondition not checked"), "{all}");

    let r = project.run(&["apply", "-input=false", "tfplan"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("1 added"), "{}", r.all());

    let r = project.run(&[
        "plan",
        "-e",
        &env,
        "-var-file=net.tfvars",
        "-input=false",
        "-detailed-exitcode",
    ]);
    assert_eq!(r.code, 0, "re-plan must be empty\n{}", r.all());

    // A failing precondition stops the plan with its error_message.
    let r = project.run(&["plan", "-e", &env, "-var=cidr=10.77.0.0/24", "-input=false"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("Module output value precondition failed"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("use a /16"), "{}", r.all());

    let r = project.run(&[
        "destroy",
        "-e",
        &env,
        "-var-file=net.tfvars",
        "-input=false",
        "-auto-approve",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("1 destroyed"), "{}", r.all());
}

#[test]
fn outside_a_project_every_command_says_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["plan", "-e", "dev"][..],
        &["validate", "--all"],
        &["state", "list", "-e", "dev"],
        &["env", "list"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_terrace"))
            .current_dir(dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("not in a terrace project")
                && stderr.contains("-C DIR")
                && stderr.contains("creating terrace.hcl"),
            "{args:?}: {stderr}"
        );
    }
    // -C names a project from anywhere.
    let project = Project::new();
    project.write_env("dev", &[("main.tf", CONFIG)]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_terrace"))
        .current_dir(dir.path())
        .args([
            "-chdir",
            project.path().to_str().unwrap(),
            "validate",
            "-e",
            "dev",
            "-var",
            "name=x",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
