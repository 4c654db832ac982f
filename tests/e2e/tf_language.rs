//! The Terraform language as Terraform users write it (issue 16 §1):
//! postconditions, `removed` blocks, `import` with `for_each`, `.tf.json`
//! and override files, validations that refer to other values, `convert`.

use crate::support::Project;

fn remove(project: &Project, env: &str, file: &str) {
    std::fs::remove_file(project.path().join("environments").join(env).join(file)).unwrap();
}

/// A root module as Terraform users write it — `backend "s3"` and
/// `provider_meta`, `check`, `precondition`, `postcondition`, `removed`,
/// `import` with `for_each`, a `.tf.json` file, an override file — through
/// plan -out → apply tfplan → empty re-plan → destroy against moto, with
/// single-dash flags. The buckets it imports are left behind by a first
/// environment's `removed { lifecycle { destroy = false } }`.
#[tokio::test(flavor = "multi_thread")]
async fn terraform_root_module_with_removed_import_json_and_override() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let sfx = crate::support::suffix();
    let project = Project::new().with_moto(moto);
    let prefix = format!("tfl{sfx}");

    // 1. A first environment creates two buckets, then forgets them.
    let seed = format!("seed{sfx}");
    let seed_main = format!(
        r#"
resource "aws_s3_bucket" "legacy" {{
  for_each = toset(["a", "b"])
  bucket   = "{prefix}-${{each.key}}"
}}
"#
    );
    project.write_env(&seed, &[("main.tf", &seed_main)]);
    let r = project.run(&["apply", "-e", &seed, "-auto-approve", "-input=false"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("2 added"), "{}", r.all());

    // The resource is still declared: a removed block for it is an error.
    let removed = r#"
removed {
  from = aws_s3_bucket.legacy
  lifecycle {
    destroy = false
  }
}
"#;
    project.write_env(&seed, &[("removed.tf", removed)]);
    let r = project.run(&["plan", "-e", &seed, "-input=false"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("Removed object still exists"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("removed.tf line 2"), "{}", r.all());

    remove(&project, &seed, "main.tf");
    let r = project.run(&["plan", "-e", &seed, "-input=false", "-out=seed.tfplan"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("aws_s3_bucket.legacy[\"a\"] will no longer be managed by terrace"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout
            .contains("0 to add, 0 to change, 0 to destroy, 2 to forget."),
        "{}",
        r.all()
    );
    let r = project.run(&["apply", "-input=false", "seed.tfplan"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("2 forgotten"), "{}", r.all());
    let r = project.run(&["state", "list", "-e", &seed]);
    assert!(!r.stdout.contains("aws_s3_bucket"), "{}", r.all());

    // 2. The Terraform-style root module adopts them.
    let env = format!("tf{sfx}");
    let main = r#"
terraform {
  required_version = ">= 1.5.0"
  backend "s3" {
    bucket = "company-tf-state"
    key    = "adopt/terraform.tfstate"
    region = "us-east-1"
  }
  provider_meta "aws" {
    user_agent = ["github.com/example/adopt"]
  }
}

variable "names" {
  type = set(string)
}

variable "prefix" {
  type = string
  validation {
    condition     = length(var.prefix) + local.longest <= 63
    error_message = "bucket names would be longer than 63 characters"
  }
}

locals {
  longest = max([for n in var.names : length(n) + 1]...)
  owner   = "nobody"
}

import {
  for_each = var.names
  to       = aws_s3_bucket.adopted[each.key]
  id       = "${var.prefix}-${each.key}"
}

resource "aws_s3_bucket" "adopted" {
  for_each = var.names
  bucket   = "${var.prefix}-${each.key}"
  tags = {
    Owner = "nobody"
  }
  lifecycle {
    precondition {
      condition     = length(var.names) > 0
      error_message = "no names"
    }
    postcondition {
      condition     = self.bucket == "${var.prefix}-${each.key}"
      error_message = "adopted the wrong bucket"
    }
  }
}

removed {
  from = aws_s3_bucket.retired
  lifecycle {
    destroy = false
  }
}

check "names" {
  assert {
    condition     = length(var.names) == 3
    error_message = "expected three buckets, have ${length(var.names)}"
  }
}
"#;
    let json = r#"{
  "//": "written by a generator, as Terraform's JSON syntax",
  "resource": {
    "aws_s3_bucket_versioning": {
      "adopted": {
        "for_each": "${aws_s3_bucket.adopted}",
        "bucket": "${each.value.id}",
        "versioning_configuration": {
          "status": "Enabled"
        }
      }
    }
  },
  "output": {
    "buckets": {
      "value": "${sort([for b in aws_s3_bucket.adopted : b.bucket])}"
    },
    "owner": {
      "value": "${local.owner}"
    }
  }
}
"#;
    let overrides = r#"
locals {
  owner = "platform"
}

resource "aws_s3_bucket" "adopted" {
  tags = {
    Owner = local.owner
  }
}
"#;
    project.write_env(
        &env,
        &[
            ("main.tf", main),
            ("versioning.tf.json", json),
            ("owner_override.tf", overrides),
        ],
    );
    std::fs::write(
        project.path().join("adopt.tfvars"),
        format!("names  = [\"a\", \"b\"]\nprefix = \"{prefix}\"\n"),
    )
    .unwrap();

    let r = project.run(&[
        "plan",
        "-e",
        &env,
        "-var-file=adopt.tfvars",
        "-input=false",
        "-out=tfplan",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    let all = r.all();
    assert!(all.contains("2 to import"), "{all}");
    assert!(all.contains("\"platform\""), "override: {all}");
    assert!(all.contains("expected three buckets, have 2"), "{all}");
    assert!(all.contains("backend"), "backend warning: {all}");

    let r = project.run(&["apply", "-input=false", "tfplan"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("2 imported"), "{}", r.all());
    let r = project.run(&["output", "-e", &env, "-json"]);
    assert!(r.stdout.contains(&format!("{prefix}-a")), "{}", r.all());
    assert!(r.stdout.contains("platform"), "{}", r.all());

    let r = project.run(&[
        "plan",
        "-e",
        &env,
        "-var-file=adopt.tfvars",
        "-input=false",
        "-detailed-exitcode",
    ]);
    assert_eq!(r.code, 0, "re-plan must be empty\n{}", r.all());

    // A validation that refers to a local fails with its message.
    let r = project.run(&[
        "plan",
        "-e",
        &env,
        "-var=names=[\"a\",\"b\"]",
        &format!("-var=prefix={}", "p".repeat(62)),
        "-input=false",
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("bucket names would be longer than 63 characters"),
        "{}",
        r.all()
    );

    let r = project.run(&[
        "destroy",
        "-e",
        &env,
        "-var-file=adopt.tfvars",
        "-input=false",
        "-auto-approve",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("4 destroyed"), "{}", r.all());
}

#[test]
fn postcondition_failure_names_the_instance_and_message() {
    let project = Project::new();
    project.write_env(
        "dev",
        &[(
            "main.tf",
            r#"
resource "terraform_data" "x" {
  count = 2
  input = "v${count.index}"
  lifecycle {
    postcondition {
      condition     = self.output == "v0"
      error_message = "only v0 is allowed, got ${self.output}"
    }
  }
}
"#,
        )],
    );
    // `output` is known only after apply: the plan passes, apply checks.
    let r = project.run(&["plan", "-e", "dev", "-input=false"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = project.run(&["apply", "-e", "dev", "-input=false", "-auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let all = r.all();
    assert!(all.contains("Resource postcondition failed"), "{all}");
    assert!(all.contains("only v0 is allowed, got v1"), "{all}");
    assert!(all.contains("terraform_data.x[1]"), "{all}");
    assert!(all.contains("main.tf:7:23"), "{all}");
    // As in Terraform, the object stays in state.
    let r = project.run(&["state", "list", "-e", "dev"]);
    assert!(r.stdout.contains("terraform_data.x[1]"), "{}", r.all());

    // Known at plan (the input itself): the plan fails.
    project.write_env(
        "dev",
        &[(
            "main.tf",
            r#"
resource "terraform_data" "x" {
  count = 2
  input = "v${count.index}"
  lifecycle {
    postcondition {
      condition     = self.input == "v0"
      error_message = "only v0 is allowed, got ${self.input}"
    }
  }
}
"#,
        )],
    );
    let r = project.run(&["plan", "-e", "dev", "-input=false"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("Resource postcondition failed"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("only v0 is allowed, got v1"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("main.tf line 7"), "{}", r.all());

    // `self` outside a postcondition is an error at its position.
    project.write_env(
        "dev",
        &[(
            "main.tf",
            "resource \"terraform_data\" \"x\" {\n  input = self.id\n}\n",
        )],
    );
    let r = project.run(&["validate", "-e", "dev"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("postcondition"), "{}", r.all());
    assert!(r.stderr.contains("main.tf line 2"), "{}", r.all());
}

#[test]
fn removed_forgets_or_destroys_and_import_targets_must_exist() {
    let project = Project::new();
    project.write_env(
        "dev",
        &[(
            "main.tf",
            "resource \"terraform_data\" \"keep\" {\n  input = 1\n}\nresource \"terraform_data\" \"drop\" {\n  input = 2\n}\n",
        )],
    );
    let r = project.run(&["apply", "-e", "dev", "-auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());

    project.write_env(
        "dev",
        &[(
            "main.tf",
            "removed {\n  from = terraform_data.keep\n  lifecycle {\n    destroy = false\n  }\n}\nremoved {\n  from = terraform_data.drop\n}\n",
        )],
    );
    let r = project.run(&["plan", "-e", "dev"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("0 to add, 0 to change, 1 to destroy, 1 to forget."),
        "{}",
        r.all()
    );
    let r = project.run(&["apply", "-e", "dev", "-auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("1 destroyed, 1 forgotten"), "{}", r.all());
    let r = project.run(&["state", "list", "-e", "dev"]);
    assert!(!r.stdout.contains("terraform_data"), "{}", r.all());

    // An instance key in `from` is refused; so is a missing from.
    project.write_env(
        "dev",
        &[(
            "main.tf",
            "removed {\n  from = terraform_data.keep[0]\n}\nremoved {\n}\n",
        )],
    );
    let r = project.run(&["validate", "-e", "dev"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("Resource instance keys not allowed"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("main.tf line 2"), "{}", r.all());
    assert!(r.stderr.contains("requires \"from\""), "{}", r.all());

    // import with for_each: a key the configuration does not have.
    project.write_env(
        "dev",
        &[(
            "main.tf",
            r#"
resource "terraform_data" "t" {
  for_each = toset(["a"])
  input    = each.key
}

import {
  for_each = { a = "id-a", z = "id-z" }
  to       = terraform_data.t[each.key]
  id       = each.value
}
"#,
        )],
    );
    let r = project.run(&["plan", "-e", "dev"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("Configuration for import target does not exist"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("terraform_data.t[\"z\"]"), "{}", r.all());
}

#[test]
fn tf_json_override_and_convert() {
    let project = Project::new();
    project.write_env(
        "dev",
        &[
            (
                "main.tf.json",
                r#"{
  "variable": {
    "n": { "type": "number", "default": 2 }
  },
  "locals": {
    "greeting": "hello ${var.n}",
    "literal": "a \"quoted\" word"
  },
  "resource": {
    "terraform_data": {
      "x": { "count": "${var.n}", "input": "${local.greeting}-${count.index}" }
    }
  },
  "output": {
    "assert_greeting": { "value": "${local.greeting == \"hi\"}" },
    "inputs": { "value": "${terraform_data.x[*].input}" },
    "literal": { "value": "${local.literal}" },
    "converted": { "value": "${convert([1, 2], list(string))}" }
  }
}
"#,
            ),
            ("override.tf", "locals {\n  greeting = \"hi\"\n}\n"),
            (
                "x_override.tf.json",
                r#"{ "resource": { "terraform_data": { "x": { "count": 1 } } } }"#,
            ),
        ],
    );
    let r = project.run(&["apply", "-e", "dev", "-auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("1 added"), "{}", r.all());
    let r = project.run(&["output", "-e", "dev", "-json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["assert_greeting"]["value"], true, "{}", r.stdout);
    assert_eq!(out["inputs"]["value"][0], "hi-0", "{}", r.stdout);
    assert_eq!(out["literal"]["value"], "a \"quoted\" word", "{}", r.stdout);
    assert_eq!(out["converted"]["value"][1], "2", "{}", r.stdout);

    // A JSON syntax error, a bad convert type and an override without a
    // base: each at its file:line:col.
    project.write_env(
        "dev",
        &[(
            "broken.tf.json",
            "{\n  \"locals\": {\n    \"a\": 1,\n  }\n}\n",
        )],
    );
    let r = project.run(&["validate", "-e", "dev"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("Invalid JSON configuration"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr
            .contains("broken.tf.json line 4:\n  4:   }\n       ^"),
        "{}",
        r.all()
    );
    remove(&project, "dev", "broken.tf.json");

    project.write_env(
        "dev",
        &[("extra_override.tf", "output \"nope\" {\n  value = 1\n}\n")],
    );
    let r = project.run(&["validate", "-e", "dev"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("Missing base output to override"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("extra_override.tf line 1"), "{}", r.all());
    remove(&project, "dev", "extra_override.tf");

    project.write_env(
        "dev",
        &[(
            "bad.tf",
            "output \"bad\" {\n  value = convert(1, lisst(string))\n}\n",
        )],
    );
    let r = project.run(&["plan", "-e", "dev"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("Invalid type specification"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("bad.tf line 2"), "{}", r.all());
}

#[test]
fn moved_across_modules_and_into_count() {
    let project = Project::new();
    let module = "resource \"terraform_data\" \"r\" {\n  input = \"x\"\n}\n";
    project.write_env(
        "dev",
        &[
            ("modules/box/main.tf", module),
            (
                "main.tf",
                "module \"a\" {\n  source = \"./modules/box\"\n}\nresource \"terraform_data\" \"single\" {\n  input = 1\n}\n",
            ),
        ],
    );
    let r = project.run(&["apply", "-e", "dev", "-auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("2 added"), "{}", r.all());

    // A whole module moves; a resource moves into a count instance.
    project.write_env(
        "dev",
        &[(
            "main.tf",
            r#"
module "b" {
  source = "./modules/box"
}
moved {
  from = module.a
  to   = module.b
}
resource "terraform_data" "single" {
  count = 1
  input = 1
}
moved {
  from = terraform_data.single
  to   = terraform_data.single[0]
}
"#,
        )],
    );
    let r = project.run(&["apply", "-e", "dev", "-auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("0 added, 0 changed, 0 destroyed"),
        "{}",
        r.all()
    );
    let r = project.run(&["state", "list", "-e", "dev"]);
    assert!(
        r.stdout.contains("module.b.terraform_data.r"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("terraform_data.single[0]"), "{}", r.all());
    assert!(!r.stdout.contains("module.a."), "{}", r.all());

    // A resource moves out of a module into the root module.
    project.write_env(
        "dev",
        &[(
            "main.tf",
            r#"
resource "terraform_data" "r" {
  input = "x"
}
moved {
  from = module.b.terraform_data.r
  to   = terraform_data.r
}
resource "terraform_data" "single" {
  count = 1
  input = 1
}
"#,
        )],
    );
    let r = project.run(&["plan", "-e", "dev", "-detailed-exitcode"]);
    assert!(
        r.stdout.contains("0 to add, 0 to change, 0 to destroy"),
        "{}",
        r.all()
    );
    let r = project.run(&["apply", "-e", "dev", "-auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = project.run(&["state", "list", "-e", "dev"]);
    assert!(
        r.stdout.contains("\nterraform_data.r\n") || r.stdout.starts_with("terraform_data.r\n"),
        "{}",
        r.all()
    );
    assert!(!r.stdout.contains("module.b"), "{}", r.all());
}
