//! Terraform root modules load as written: `terraform {}` with
//! `provider_meta`, `backend`/`cloud` (a warning naming terrace's state
//! store), `required_version` and `configuration_aliases`.

mod common;

use common::run;
use terrace_core::Severity;
use terrace_lang::render_diagnostics;

fn write(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

#[test]
fn terraform_block_as_terraform_aws_modules_write_it() {
    let dir = write(&[
        (
            "main.tf",
            r#"
terraform {
  required_version = ">= 1.3, < 2.0"
  backend "s3" {
    bucket = "tf-state"
    key    = "prod/terraform.tfstate"
  }
  required_providers {
    aws = {
      source                = "hashicorp/aws"
      version               = ">= 5.0"
      configuration_aliases = [aws.east, aws.west]
    }
  }
  provider_meta "aws" {
    user_agent = ["github.com/terraform-aws-modules"]
  }
}

output "assert_loaded" {
  value = true
}
"#,
        ),
        (
            "cloud.tf",
            "terraform {\n  cloud {\n    organization = \"acme\"\n  }\n}\n",
        ),
    ]);
    let r = run(dir.path());
    let rendered = render_diagnostics(&r.diags, &r.sources, false);
    assert!(!r.diags.has_errors(), "{rendered}");
    let warnings: Vec<_> = r
        .diags
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .collect();
    assert_eq!(warnings.len(), 2, "{rendered}");
    for w in &warnings {
        assert_eq!(w.summary, "Backend configuration ignored");
        assert!(w.detail.contains("terrace.hcl"), "{}", w.detail);
    }
    assert!(warnings.iter().any(|w| w.detail.contains("backend \"s3\"")
        && w.detail.contains("s3://BUCKET/PREFIX")));
    let line = warnings
        .iter()
        .find(|w| w.range.as_ref().unwrap().filename == "main.tf")
        .unwrap()
        .range
        .as_ref()
        .unwrap()
        .start
        .line;
    assert_eq!(line, 4);
    let ev = r.evaluator.as_ref().expect("evaluator");
    let tb = ev.config().root.terraform.as_ref().unwrap();
    let aws = &tb.required_providers["aws"];
    assert_eq!(aws.source.as_deref(), Some("hashicorp/aws"));
    assert_eq!(
        aws.configuration_aliases
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["aws.east", "aws.west"]
    );
}

#[test]
fn preconditions_checks_and_postconditions() {
    let dir = write(&[(
        "main.tf",
        r#"
variable "env" {
  type    = string
  default = "dev"
}

resource "aws_vpc" "main" {
  count      = 2
  cidr_block = "10.${count.index}.0.0/16"
  lifecycle {
    precondition {
      condition     = contains(["dev", "prod"], var.env)
      error_message = "env must be dev or prod"
    }
    postcondition {
      condition     = self.id != ""
      error_message = "no id"
    }
  }
}

data "aws_ami" "x" {
  lifecycle {
    precondition {
      condition     = var.env != ""
      error_message = "env is empty"
    }
  }
}

output "env" {
  value = var.env
  precondition {
    condition     = length(var.env) > 0
    error_message = "empty"
  }
}

check "env_named" {
  data "aws_ami" "scoped" {}

  assert {
    condition     = var.env == "prod"
    error_message = "this is not prod: ${var.env}"
  }
  assert {
    condition     = aws_vpc.main[0].id != ""
    error_message = "unknown until apply, so not reported at plan"
  }
}

output "assert_ok" {
  value = true
}
"#,
    )]);
    let r = run(dir.path());
    let rendered = render_diagnostics(&r.diags, &r.sources, false);
    assert!(!r.diags.has_errors(), "{rendered}");
    // The postcondition is loaded and evaluated: no warning any more.
    assert!(
        !r.diags.iter().any(|d| d.severity == Severity::Warning),
        "{rendered}"
    );
    let ev = r.evaluator.as_ref().unwrap();
    assert!(
        ev.config()
            .root
            .resources
            .contains_key("data.aws_ami.scoped")
    );
    let lookup = common::PlannedLookup {
        config: ev.config().clone(),
    };
    // Postconditions see the object as `self` (and count.index).
    let addr: terrace_core::ResourceAddr = "aws_vpc.main[1]".parse().unwrap();
    let obj = |id: terrace_core::Value| {
        terrace_core::Value::Map([("id".to_string(), id)].into_iter().collect())
    };
    ev.check_postconditions(&addr, &obj("vpc-1".into()), &lookup)
        .expect("a VPC with an id passes");
    ev.check_postconditions(&addr, &obj(terrace_core::Value::Unknown), &lookup)
        .expect("an unknown id waits for apply");
    let err = ev
        .check_postconditions(&addr, &obj("".into()), &lookup)
        .expect_err("an empty id fails");
    let d = err.iter().next().unwrap();
    assert_eq!(d.summary, "Resource postcondition failed");
    assert!(d.detail.starts_with("no id"), "{}", d.detail);
    assert!(d.detail.contains("aws_vpc.main[1]"), "{}", d.detail);
    assert_eq!(
        d.range.as_ref().map(ToString::to_string).as_deref(),
        Some("main.tf:16:23")
    );
    let warnings = ev.check_warnings(&lookup);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            == "Check block assertion failed: check.env_named: this is not prod: dev (main.tf:43:21)",
        "{warnings:?}"
    );
}

#[test]
fn tofu_files_take_the_place_of_same_named_tf_files() {
    let dir = write(&[
        ("main.tf", "locals {\n  from = \"tf\"\n}\n"),
        ("main.tofu", "locals {\n  from = \"tofu\"\n}\n"),
        (
            "other.tf",
            "output \"assert_tofu_wins\" {\n  value = local.from == \"tofu\"\n}\n",
        ),
        (
            "extra.tofu",
            "output \"assert_tofu_alone\" {\n  value = true\n}\n",
        ),
    ]);
    let r = run(dir.path());
    let rendered = render_diagnostics(&r.diags, &r.sources, false);
    assert!(!r.diags.has_errors(), "{rendered}");
    for name in ["assert_tofu_wins", "assert_tofu_alone"] {
        assert_eq!(
            r.outputs.get(name).map(|(v, _)| v.clone()),
            Some(terrace_core::Value::Bool(true)),
            "{name}"
        );
    }
}
