//! `terrace validate`: the shipped environments, and errors with file:line:col.

use crate::support::Project;

#[test]
fn shipped_environments_validate() {
    let root = terrace_testkit::workspace_root();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_terrace"))
        .args(["-C", root.to_str().unwrap(), "validate", "--all"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for env in ["dev", "stage", "prod", "preview"] {
        assert!(
            stdout.contains(&format!("{env}: configuration is valid")),
            "{stdout}"
        );
    }
}

#[test]
fn errors_name_file_line_and_column_and_exit_1() {
    let p = Project::new();
    p.write_env("bad", &[(
        "main.tf",
        "resource \"aws_vpc\" \"main\" {\n  cidr_block = \"10.0.0.0/16\"\n  cidr_blok  = \"x\"\n}\n\noutput \"x\" {\n  value = aws_vpc.nope.id\n}\n",
    )]);
    let r = p.run(&["validate", "-e", "bad"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("Unsupported argument"), "{}", r.all());
    assert!(
        r.stderr.contains("main.tf:3:3") || r.stderr.contains("main.tf line 3"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("cidr_block"),
        "did-you-mean expected\n{}",
        r.all()
    );
    assert!(
        r.stderr.contains("aws_vpc.nope") || r.stderr.contains("undeclared"),
        "{}",
        r.all()
    );
}

#[test]
fn graph_dump_snapshot() {
    let p = Project::new();
    p.write_env(
        "g",
        &[(
            "main.tf",
            r#"
variable "name" {
  default = "x"
}
locals {
  prefix = "app-${var.name}"
}
resource "terraform_data" "base" {
  input = local.prefix
}
resource "terraform_data" "child" {
  count = 2
  input = "${terraform_data.base.output}-${count.index}"
}
output "children" {
  value = terraform_data.child[*].output
}
"#,
        )],
    );
    let r = p.run(&["graph", "-e", "g"]);
    assert_eq!(r.code, 0, "{}", r.all());
    insta::assert_snapshot!("graph_dot", r.stdout);
    let r = p.run(&["graph", "-e", "g", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let edges = doc["edges"].as_array().unwrap();
    assert!(
        edges
            .iter()
            .any(|e| e["from"] == "terraform_data.child" && e["to"] == "terraform_data.base"),
        "{doc}"
    );
}
