//! The commands Terraform users type: `show` (state, human and JSON),
//! `console`, `import`, `output -raw`, `version`, and
//! `plan --generate-config-out`, against moto with SQLite state.

use crate::support::{Project, Run, sdk_config, suffix};
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use std::io::Write;
use std::process::Stdio;

const MODULE: &str = r#"
variable "input" {
  type = string
}

resource "terraform_data" "d" {
  input = var.input
}

output "out" {
  value = terraform_data.d.output
}
"#;

const CONFIG: &str = r#"
variable "cidr" {
  type    = string
  default = "10.42.0.0/16"
}

variable "secret" {
  type      = string
  default   = "hunter2"
  sensitive = true
}

locals {
  name = "net"
}

resource "aws_vpc" "main" {
  cidr_block = var.cidr
  tags = {
    Name = local.name
  }
}

module "m" {
  source = "./m"
  input  = "hi"
}

output "vpc_id" {
  value = aws_vpc.main.id
}

output "cidr" {
  value = aws_vpc.main.cidr_block
}

output "three" {
  value = 3
}

output "list" {
  value = ["a", "b"]
}

output "secret" {
  value     = var.secret
  sensitive = true
}

output "mod" {
  value = module.m.out
}
"#;

/// `terrace console` with `input` on stdin.
fn console(project: &Project, env: &str, input: &str) -> Run {
    let mut child = project
        .command(&["console", "-e", env], &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn terrace console");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{}", r.all()))
}

/// `show` (state, JSON and human), `console` before and after apply, and
/// `output -raw` on one applied environment.
#[tokio::test(flavor = "multi_thread")]
async fn show_console_and_output_raw_on_an_applied_environment() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let project = Project::new().with_moto(moto);
    let env = format!("tc{}", suffix());
    project.write_env(&env, &[("main.tf", CONFIG), ("m/main.tf", MODULE)]);

    // Nothing applied yet: an empty state, resources unknown to console.
    let r = project.run(&["show", "-e", &env, "-json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(json(&r), serde_json::json!({ "format_version": "1.0" }));
    let r = project.run(&["show", "-e", &env]);
    assert!(r.stdout.contains("The state file is empty"), "{}", r.all());
    let r = console(
        &project,
        &env,
        "var.cidr\nlocal.name\naws_vpc.main.id\n\nvar.secret\n",
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.stdout,
        "\"10.42.0.0/16\"\n\"net\"\n(known after apply)\n(sensitive value)\n",
        "{}",
        r.all()
    );

    let r = project.run(&["apply", "-e", &env, "-auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());

    // show -json: Terraform's state representation.
    let r = project.run(&["show", "-e", &env, "-json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let doc = json(&r);
    assert_eq!(doc["format_version"], "1.0", "{doc:#}");
    assert!(doc["terraform_version"].is_string(), "{doc:#}");
    let outputs = &doc["values"]["outputs"];
    assert_eq!(outputs["cidr"]["value"], "10.42.0.0/16", "{doc:#}");
    assert_eq!(outputs["cidr"]["type"], "string", "{doc:#}");
    assert_eq!(outputs["three"]["value"], 3, "{doc:#}");
    assert_eq!(outputs["secret"]["sensitive"], true, "{doc:#}");
    assert!(outputs["secret"].get("value").is_none(), "{doc:#}");
    assert!(!r.stdout.contains("hunter2"), "no secret in JSON: {doc:#}");
    let root = &doc["values"]["root_module"];
    let vpc = root["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "aws_vpc.main")
        .unwrap_or_else(|| panic!("aws_vpc.main in {doc:#}"));
    assert_eq!(vpc["mode"], "managed");
    assert_eq!(vpc["type"], "aws_vpc");
    assert_eq!(vpc["name"], "main");
    assert_eq!(vpc["provider_name"], "registry.terraform.io/hashicorp/aws");
    assert_eq!(vpc["values"]["cidr_block"], "10.42.0.0/16");
    assert!(vpc["values"]["id"].as_str().unwrap().starts_with("vpc-"));
    assert!(vpc["sensitive_values"].is_object(), "{vpc:#}");
    let child = &root["child_modules"][0];
    assert_eq!(child["address"], "module.m", "{doc:#}");
    assert_eq!(
        child["resources"][0]["address"],
        "module.m.terraform_data.d"
    );
    assert_eq!(child["resources"][0]["values"]["output"], "hi");
    let vpc_id = vpc["values"]["id"].as_str().unwrap().to_string();

    // show: the human view, secrets hidden.
    let r = project.run(&["show", "-e", &env]);
    assert_eq!(r.code, 0, "{}", r.all());
    for want in [
        "# aws_vpc.main:\nresource \"aws_vpc\" \"main\" {\n",
        &format!("= \"{vpc_id}\"\n"),
        "# module.m.terraform_data.d:\nresource \"terraform_data\" \"d\" {",
        "Outputs:\n\n",
        "secret = (sensitive value)\n",
        "list = [\n  \"a\",\n  \"b\",\n]\n",
    ] {
        assert!(r.stdout.contains(want), "want {want:?}\n{}", r.all());
    }
    assert!(!r.stdout.contains("hunter2"), "{}", r.all());

    // console: resources from state, module outputs, functions, for.
    let r = console(
        &project,
        &env,
        "aws_vpc.main.cidr_block\nmodule.m.out\nupper(local.name)\n[for s in [\"x\", \"y\"] : \"${s}!\"]\naws_vpc.main.tags\nexit\nvar.cidr\n",
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.stdout,
        "\"10.42.0.0/16\"\n\"hi\"\n\"NET\"\n[\n  \"x!\",\n  \"y!\",\n]\n{\n  \"Name\" = \"net\"\n}\n",
        "{}",
        r.all()
    );
    // An error: a diagnostic with where, and exit 1 (piped input stops there).
    let r = console(&project, &env, "var.cidr\naws_vpc.nope.id\nvar.cidr\n");
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(r.stdout, "\"10.42.0.0/16\"\n", "{}", r.all());
    assert!(
        r.stderr.contains("Error:") && r.stderr.contains("on <console-input:2> line 1"),
        "{}",
        r.all()
    );
    let r = console(&project, &env, "var.cidr +\n");
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("Invalid expression") && r.stderr.contains("on <console-input:1> line 1"),
        "{}",
        r.all()
    );

    // output -raw: as is, no quotes, no newline.
    let r = project.run(&["output", "-e", &env, "-raw", "cidr"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "10.42.0.0/16"),
        "{}",
        r.all()
    );
    let r = project.run(&["output", "-e", &env, "-raw", "three"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "3"), "{}", r.all());
    let r = project.run(&["output", "-e", &env, "-raw", "secret"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "hunter2"), "{}", r.all());
    let r = project.run(&["output", "-e", &env, "-raw", "list"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("unsupported value for raw output")
            && r.stderr.contains("of type list")
            && r.stderr.contains("-json"),
        "{}",
        r.all()
    );
    assert!(r.stdout.is_empty(), "{}", r.all());
    let r = project.run(&["output", "-e", &env, "-raw"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("needs the name of one output"),
        "{}",
        r.all()
    );

    // show of a plan file still works; show without either is refused.
    let r = project.run(&["plan", "-e", &env, "-out=tfplan"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = project.run(&["show", "-json", "tfplan"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(json(&r)["planned_values"].is_object(), "{}", r.all());
    let r = project.run(&["show"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("-e ENV"), "{}", r.all());

    let r = project.run(&["destroy", "-e", &env, "-auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

const IMPORT_CONFIG: &str = r#"
resource "aws_vpc" "adopted" {
  cidr_block = "10.51.0.0/16"
  tags = {
    Name = "adopted"
  }
}

resource "aws_vpc" "counted" {
  count      = 1
  cidr_block = "10.52.0.0/16"
}
"#;

/// A VPC made outside terrace, carrying the ownership tags of `address`.
async fn outside_vpc(moto: &terrace_testkit::Moto, cidr: &str, env: &str, address: &str) -> String {
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config(moto).await);
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    ec2.create_vpc()
        .cidr_block(cidr)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Vpc)
                .tags(tag("Name", "adopted"))
                .tags(tag("terrace:environment", env))
                .tags(tag("terrace:address", address))
                .build(),
        )
        .send()
        .await
        .expect("create vpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_string()
}

/// `import ADDR ID`: the address must be in the configuration (count keys
/// included), the object must exist, an address in state and an object
/// another address owns are refused; the import writes state and the next
/// plan is empty.
#[tokio::test(flavor = "multi_thread")]
async fn import_brings_an_object_into_state_and_the_next_plan_is_empty() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let project = Project::new().with_moto(moto);
    let env = format!("ti{}", suffix());
    project.write_env(&env, &[("main.tf", IMPORT_CONFIG)]);
    let vpc_id = outside_vpc(moto, "10.51.0.0/16", &env, "aws_vpc.adopted").await;

    // Not in the configuration.
    let r = project.run(&["import", "-e", &env, "aws_vpc.nope", &vpc_id]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("Configuration for import target does not exist")
            && r.stderr.contains("aws_vpc.nope"),
        "{}",
        r.all()
    );
    // A count key the configuration does not make.
    let r = project.run(&["import", "-e", &env, "aws_vpc.counted[3]", &vpc_id]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("Configuration for import target does not exist")
            && r.stderr.contains("aws_vpc.counted[3]"),
        "{}",
        r.all()
    );
    // No such object.
    let r = project.run(&[
        "import",
        "-e",
        &env,
        "aws_vpc.adopted",
        "vpc-0123456789abcdef0",
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("no such object"), "{}", r.all());
    // A data source.
    let r = project.run(&["import", "-e", &env, "data.aws_vpc.x", &vpc_id]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("only managed resources"), "{}", r.all());
    let r = project.run(&["state", "list", "-e", &env]);
    assert!(
        r.stdout.trim().is_empty(),
        "nothing imported yet: {}",
        r.all()
    );

    // The import.
    let r = project.run(&["import", "-e", &env, "aws_vpc.adopted", &vpc_id]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("Import successful!"), "{}", r.all());
    let r = project.run(&["state", "show", "-e", &env, "aws_vpc.adopted"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains(&vpc_id), "{}", r.all());
    let r = project.run(&["log", "-e", &env]);
    assert!(
        r.stdout.contains("import"),
        "the ledger records it: {}",
        r.all()
    );

    // Again: the address is in state now.
    let r = project.run(&["import", "-e", &env, "aws_vpc.adopted", &vpc_id]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("already managed") && r.stderr.contains("terrace state rm"),
        "{}",
        r.all()
    );
    // The same object into another address: refused, it has an owner.
    let r = project.run(&["import", "-e", &env, "aws_vpc.counted[0]", &vpc_id]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("already managed by aws_vpc.adopted"),
        "{}",
        r.all()
    );

    // The configuration matches: the adopted VPC needs nothing.
    let r = project.run(&[
        "plan",
        "-e",
        &env,
        "-target=aws_vpc.adopted",
        "-detailed-exitcode",
    ]);
    assert_eq!(r.code, 0, "the next plan is empty\n{}", r.all());

    let r = project.run(&["destroy", "-e", &env, "-auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// `plan --generate-config-out=FILE` writes a resource block for an import
/// block that has none, then plans the import with it; an existing FILE is
/// refused, and without the flag such an import block is an error.
#[tokio::test(flavor = "multi_thread")]
async fn generate_config_out_writes_resource_blocks_for_import_blocks() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let project = Project::new().with_moto(moto);
    let env = format!("tg{}", suffix());
    let vpc_id = outside_vpc(moto, "10.61.0.0/16", &env, "aws_vpc.found").await;
    let dir = project.write_env(
        &env,
        &[(
            "main.tf",
            &format!("import {{\n  to = aws_vpc.found\n  id = \"{vpc_id}\"\n}}\n"),
        )],
    );

    // Without the flag: Terraform's error, at the import block.
    let r = project.run(&["plan", "-e", &env]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("Configuration for import target does not exist")
            && r.stderr.contains("main.tf line 1")
            && r.stderr.contains("--generate-config-out"),
        "{}",
        r.all()
    );

    // An existing file is never overwritten.
    std::fs::write(dir.join("taken.tf"), "# mine\n").unwrap();
    let r = project.run(&["plan", "-e", &env, "-generate-config-out=taken.tf"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("already exists"), "{}", r.all());
    assert_eq!(
        std::fs::read_to_string(dir.join("taken.tf")).unwrap(),
        "# mine\n"
    );
    std::fs::remove_file(dir.join("taken.tf")).unwrap();

    let r = project.run(&[
        "plan",
        "-e",
        &env,
        "-generate-config-out=generated.tf",
        "-detailed-exitcode",
    ]);
    assert_eq!(r.code, 2, "{}", r.all());
    let text = std::fs::read_to_string(dir.join("generated.tf")).unwrap();
    assert!(
        text.contains("resource \"aws_vpc\" \"found\" {")
            && text.contains("cidr_block")
            && text.contains("\"10.61.0.0/16\""),
        "{text}"
    );
    assert!(
        !text.contains("tags_all") && !text.contains(&format!("\"{vpc_id}\"\n  ")),
        "no computed-only attributes: {text}"
    );
    let formatted = project.run(&["fmt", "-check", dir.join("generated.tf").to_str().unwrap()]);
    assert_eq!(
        formatted.code,
        0,
        "generated.tf is formatted\n{text}\n{}",
        formatted.all()
    );
    assert!(
        r.stdout.contains("will be imported") || r.stdout.contains("1 to import"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("0 to add"), "{}", r.all());

    // Applying imports it; the plan after that is empty.
    let r = project.run(&["apply", "-e", &env, "-auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = project.run(&["plan", "-e", &env, "-detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = project.run(&["destroy", "-e", &env, "-auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// `version`, `-version` and `--version`, in or out of a project; the
/// commands that need a project say how to get one.
#[test]
fn version_everywhere_and_commands_outside_a_project() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_terrace"))
            .current_dir(dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    let r = run(&["version", "-json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let v = json(&r);
    assert_eq!(v["terrace_version"], env!("CARGO_PKG_VERSION"));
    assert!(
        v["terraform_version"].as_str().unwrap().starts_with("1."),
        "{v}"
    );
    assert!(v["platform"].as_str().unwrap().contains('_'), "{v}");
    assert_eq!(v["provider_selections"], serde_json::json!({}));
    let human = run(&["version"]);
    assert_eq!(human.code, 0, "{}", human.all());
    assert!(
        human
            .stdout
            .starts_with(&format!("terrace v{}\non ", env!("CARGO_PKG_VERSION"))),
        "{}",
        human.all()
    );
    for flag in ["-version", "--version"] {
        let r = run(&[flag]);
        assert_eq!(
            (r.code, &r.stdout),
            (0, &human.stdout),
            "{flag}: {}",
            r.all()
        );
    }
    for args in [
        &["show", "-e", "dev"][..],
        &["console", "-e", "dev"],
        &["import", "-e", "dev", "aws_vpc.a", "vpc-1"],
        &["output", "-e", "dev", "-raw", "x"],
    ] {
        let r = run(args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.all());
        assert!(
            r.stderr.contains("not in a terrace project")
                && r.stderr.contains("-C DIR")
                && r.stderr.contains("creating terrace.hcl"),
            "{args:?}: {}",
            r.all()
        );
    }
}
