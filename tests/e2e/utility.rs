//! The built-in utility providers (random, null, time, tls, archive, http,
//! cloudinit) through the binary, and the diagnostics for providers terrace
//! does not include.

use crate::support::Project;
use std::io::{Read as _, Write as _};

/// A loopback HTTP server answering every request with a small JSON body.
fn serve_json() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut sock in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf);
            let body = r#"{"region":"eu-test-1"}"#;
            let _ = write!(
                sock,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/meta")
}

const CONFIG: &str = r#"
terraform {
  required_providers {
    random    = { source = "hashicorp/random", version = "~> 3.6" }
    null      = { source = "hashicorp/null" }
    time      = { source = "hashicorp/time" }
    tls       = { source = "hashicorp/tls" }
    archive   = { source = "hashicorp/archive" }
    http      = { source = "hashicorp/http" }
    cloudinit = { source = "hashicorp/cloudinit" }
  }
}

variable "meta_url" {
  type = string
}

provider "random" {}

resource "random_string" "suffix" {
  length  = 10
  special = false
  upper   = false
  keepers = { generation = "1" }
}

resource "null_resource" "hook" {
  triggers = { suffix = random_string.suffix.result }
}

resource "time_sleep" "settle" {
  create_duration = "1s"
  depends_on      = [null_resource.hook]
}

resource "tls_private_key" "deploy" {
  algorithm = "ED25519"
}

data "archive_file" "bundle" {
  type                    = "zip"
  source_content          = "hello from ${random_string.suffix.result}"
  source_content_filename = "hello.txt"
  output_path             = "${path.module}/build/bundle.zip"
}

data "http" "meta" {
  url             = var.meta_url
  request_headers = { Accept = "application/json" }
}

data "cloudinit_config" "init" {
  gzip          = false
  base64_encode = false
  part {
    content_type = "text/cloud-config"
    content      = "ssh_authorized_keys: [\"${trimspace(tls_private_key.deploy.public_key_openssh)}\"]\n"
  }
}

output "name" {
  value = "app-${random_string.suffix.result}"
}

output "region" {
  value = jsondecode(data.http.meta.response_body).region
}

output "status" {
  value = data.http.meta.status_code
}

output "bundle_sha" {
  value = data.archive_file.bundle.output_base64sha256
}

output "user_data" {
  value = data.cloudinit_config.init.rendered
}

output "private_key" {
  value     = tls_private_key.deploy.private_key_pem
  sensitive = true
}
"#;

#[test]
fn utility_providers_plan_apply_replan_destroy() {
    let url = serve_json();
    let p = Project::new();
    let dir = p.write_env("util", &[("main.tf", CONFIG)]);
    let vars = [("TF_VAR_meta_url", url.as_str())];

    let r = p.run_env(&["validate", "-e", "util"], &vars);
    assert_eq!(r.code, 0, "{}", r.all());

    let r = p.run_env(&["plan", "-e", "util", "--detailed-exitcode"], &vars);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stdout.contains("4 to add"), "{}", r.all());

    let r = p.run_env(&["apply", "-e", "util", "--auto-approve"], &vars);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        dir.join("build/bundle.zip").is_file(),
        "archive_file wrote its output"
    );

    let r = p.run_env(&["output", "-e", "util", "--format", "json"], &vars);
    assert_eq!(r.code, 0, "{}", r.all());
    let out: serde_json::Value = serde_json::from_str(&r.stdout).expect("json outputs");
    let name = out["name"]
        .as_str()
        .or_else(|| out["name"]["value"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(name.starts_with("app-") && name.len() == 14, "{out}");
    assert!(r.stdout.contains("eu-test-1"), "{out}");
    assert!(r.stdout.contains("ssh-ed25519 "), "{out}");
    assert!(
        !r.stdout.contains("PRIVATE KEY"),
        "the private key is sensitive: {out}"
    );

    // Nothing changed: the random values, key and data sources are stable.
    let r = p.run_env(&["plan", "-e", "util", "--detailed-exitcode"], &vars);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("No changes."), "{}", r.all());

    // A keeper change replaces the string, and with it the null_resource.
    std::fs::write(
        dir.join("main.tf"),
        CONFIG.replace("generation = \"1\"", "generation = \"2\""),
    )
    .unwrap();
    let r = p.run_env(&["plan", "-e", "util", "--detailed-exitcode"], &vars);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stdout.contains("random_string.suffix"), "{}", r.all());
    assert!(
        r.stdout.contains("must be replaced") || r.stdout.contains("replace"),
        "{}",
        r.all()
    );
    let r = p.run_env(&["apply", "-e", "util", "--auto-approve"], &vars);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = p.run_env(&["output", "-e", "util", "--format", "json"], &vars);
    assert!(
        !r.stdout.contains(&name),
        "a new suffix after the keeper change: {}",
        r.all()
    );

    let r = p.run_env(&["destroy", "-e", "util", "--auto-approve"], &vars);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = p.run_env(&["state", "list", "-e", "util"], &vars);
    assert_eq!(r.stdout.trim(), "", "{}", r.all());
}

#[test]
fn types_of_providers_terrace_lacks_name_the_provider_in_validate_and_plan() {
    let p = Project::new();
    p.write_env(
        "gk",
        &[(
            "main.tf",
            "resource \"random_pet\" \"ok\" {}\n\nresource \"google_compute_instance\" \"vm\" {\n  name = \"x\"\n}\n\ndata \"kubernetes_namespace\" \"ns\" {}\n",
        )],
    );
    for cmd in ["validate", "plan"] {
        let r = p.run(&[cmd, "-e", "gk"]);
        assert_eq!(r.code, 1, "{cmd}: {}", r.all());
        assert!(
            r.stderr.contains("`google_compute_instance` belongs to the `google` provider, which terrace does not include"),
            "{cmd}: {}",
            r.all()
        );
        assert!(r.stderr.contains("main.tf line 3"), "{cmd}: {}", r.all());
        assert!(
            r.stderr
                .contains("`kubernetes_namespace` belongs to the `kubernetes` provider"),
            "{cmd}: {}",
            r.all()
        );
        assert!(
            r.stderr.contains("random"),
            "the included providers are listed: {}",
            r.all()
        );
    }
}

#[test]
fn validate_fails_on_a_provider_block_plan_would_refuse() {
    let p = Project::new();
    p.write_env(
        "hp",
        &[(
            "main.tf",
            "provider \"http\" {}\n\nprovider \"helm\" {\n  kubernetes {}\n}\n\nresource \"terraform_data\" \"x\" {}\n",
        )],
    );
    for cmd in ["validate", "plan"] {
        let r = p.run(&[cmd, "-e", "hp"]);
        assert_eq!(r.code, 1, "{cmd}: {}", r.all());
        assert!(
            r.stderr
                .contains("terrace does not include the `helm` provider"),
            "{cmd}: {}",
            r.all()
        );
        assert!(r.stderr.contains("main.tf line 3"), "{cmd}: {}", r.all());
        assert!(
            !r.stderr.contains("`http` provider"),
            "http is included: {}",
            r.all()
        );
    }
}

/// Regression (soak, issue 21): referring to one output of a module made
/// the evaluator evaluate — and remember — every output of that module, at
/// whatever point of the apply that happened. An output over a `for_each`
/// block whose slow instances were still being created was remembered
/// without them, and stored so: the next plan showed the output changing.
#[test]
fn a_module_output_read_early_is_not_remembered_without_later_instances() {
    let p = Project::new();
    p.write_env(
        "dev",
        &[
            (
                "main.tf",
                r#"
module "m" {
  source = "./m"
}

# Applied as soon as module.m.fast exists: after module.m's first slow
# instance, before its last.
resource "terraform_data" "early" {
  input = module.m.fast
}

output "slow_ids" {
  value = module.m.slow_ids
}
"#,
            ),
            (
                "m/main.tf",
                r#"
# Done between the first and the last slow instance.
resource "time_sleep" "fast" {
  create_duration = "1500ms"
}

resource "time_sleep" "slow" {
  for_each        = { a = "1s", b = "2s", c = "3s" }
  create_duration = each.value
}

output "fast" {
  value = time_sleep.fast.id
}

output "slow_ids" {
  value = { for k, s in time_sleep.slow : k => s.id }
}
"#,
            ),
        ],
    );
    let r = p.run(&["apply", "-e", "dev", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let out = p.run(&["output", "-e", "dev", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("output JSON");
    let keys: Vec<&String> = doc["slow_ids"]["value"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["a", "b", "c"], "{}", out.all());
    let replan = p.run(&["plan", "-e", "dev", "--detailed-exitcode"]);
    assert_eq!(replan.code, 0, "{}", replan.all());
}
