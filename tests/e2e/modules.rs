//! `terrace init` with a git module (file:// repository made by the test):
//! refused before init, installed and locked by init, a second init quiet,
//! a module changed after init refused by plan-time loading.

use crate::support::Project;
use terrace_testkit::git;

#[test]
fn init_fetches_a_git_module_and_the_lock_file_guards_it() {
    let p = Project::new();
    let repo = p.path().join("repo");
    std::fs::create_dir_all(repo.join("net")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(
        repo.join("net/main.tf"),
        "variable \"n\" {}\noutput \"name\" { value = \"net-${var.n}\" }\n",
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "net"]);
    git(&repo, &["tag", "v1.0.0"]);
    let src = format!("git::file://{}//net?ref=v1.0.0", repo.display());
    p.write_env(
        "dev",
        &[(
            "main.tf",
            &format!("module \"net\" {{\n  source = \"{src}\"\n  n = \"a\"\n}}\noutput \"o\" {{ value = module.net.name }}\n"),
        )],
    );

    let before = p.run(&["validate", "-e", "dev"]);
    assert_eq!(before.code, 1, "{}", before.all());
    assert!(before.stderr.contains("terrace init"), "{}", before.all());

    let init = p.run(&["init", "-e", "dev"]);
    assert_eq!(init.code, 0, "{}", init.all());
    assert!(
        init.stderr.contains("Wrote .terrace.lock.hcl"),
        "{}",
        init.all()
    );
    let lock = std::fs::read_to_string(p.path().join(".terrace.lock.hcl")).unwrap();
    assert!(lock.contains("commit") && lock.contains("h1:"), "{lock}");

    let valid = p.run(&["validate", "-e", "dev"]);
    assert_eq!(valid.code, 0, "{}", valid.all());

    // Nothing to fetch: quiet.
    let again = p.run(&["init", "-e", "dev"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(again.stderr.trim(), "", "{}", again.all());

    // A module file edited in the cache after init is refused.
    let cache = p.path().join(".terrace/modules");
    let pkg = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    std::fs::write(
        pkg.join("net/main.tf"),
        "output \"name\" { value = \"x\" }\n",
    )
    .unwrap();
    let tampered = p.run(&["validate", "-e", "dev"]);
    assert_eq!(tampered.code, 1, "{}", tampered.all());
    assert!(
        tampered.stderr.contains("do not match the hash"),
        "{}",
        tampered.all()
    );
    // init installs the locked files again.
    assert_eq!(p.run(&["init", "-e", "dev"]).code, 0);
    assert_eq!(p.run(&["validate", "-e", "dev"]).code, 0);
}

/// A module registry on loopback speaking the real protocol: discovery,
/// the versions listing of acme/vpc/aws (4.0.0, 5.0.0, 5.2.0, 6.0.0) and
/// downloads answered with `X-Terraform-Get` to a tar.gz whose bytes the
/// test may swap (`body`) to act as a tampered release.
fn registry(body: std::sync::Arc<std::sync::Mutex<Vec<u8>>>) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut sock in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = sock.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, headers, content): (&str, String, Vec<u8>) = match path.as_str() {
                "/.well-known/terraform.json" => (
                    "200 OK",
                    String::new(),
                    br#"{"modules.v1":"/api/modules/v1/"}"#.to_vec(),
                ),
                "/api/modules/v1/acme/vpc/aws/versions" => (
                    "200 OK",
                    String::new(),
                    br#"{"modules":[{"versions":[{"version":"4.0.0"},{"version":"5.0.0"},{"version":"5.2.0"},{"version":"6.0.0"}]}]}"#.to_vec(),
                ),
                p if p.starts_with("/api/modules/v1/acme/vpc/aws/") && p.ends_with("/download") => {
                    let version = p.split('/').nth(7).unwrap_or("").to_string();
                    (
                        "204 No Content",
                        format!("X-Terraform-Get: /files/vpc-{version}.tar.gz\r\n"),
                        Vec::new(),
                    )
                }
                "/files/vpc-5.2.0.tar.gz" => ("200 OK", String::new(), body.lock().unwrap().clone()),
                _ => ("404 Not Found", String::new(), b"{}".to_vec()),
            };
            let _ = write!(
                sock,
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                content.len()
            );
            let _ = sock.write_all(&content);
        }
    });
    addr.to_string()
}

/// A loopback HTTP server answering every request with a small JSON body.
fn serve_json() -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut sock in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf);
            let body = r#"{"team":"platform"}"#;
            let _ = write!(
                sock,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/meta")
}

/// A tar.gz of `files` (made with the system tar).
fn tar_gz(dir: &std::path::Path, files: &[(&str, &str)]) -> Vec<u8> {
    let src = dir.join("pkg");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src).unwrap();
    for (name, text) in files {
        std::fs::write(src.join(name), text).unwrap();
    }
    let out = dir.join("pkg.tar.gz");
    let st = std::process::Command::new("tar")
        .arg("czf")
        .arg(&out)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(out).unwrap()
}

const REGISTRY_VPC: &str = r#"variable "cidr" {
  type = string
}

variable "name" {
  type = string
}

resource "aws_vpc" "this" {
  cidr_block = var.cidr
  tags = {
    Name = var.name
  }
}

output "vpc_id" {
  value = aws_vpc.this.id
}
"#;

const GIT_SG: &str = r#"variable "vpc_id" {
  type = string
}

variable "name" {
  type = string
}

resource "aws_security_group" "this" {
  name        = var.name
  description = "from the git module"
  vpc_id      = var.vpc_id
}

output "id" {
  value = aws_security_group.this.id
}
"#;

/// The done-when scenario of issue 17: a registry module (`~> 5.0`), a git
/// module (`?ref=`) and the utility providers go init → plan → apply →
/// empty re-plan → destroy against moto; the lock pins what init resolved
/// and a tampered module is refused.
#[test]
fn registry_and_git_modules_with_utility_providers_init_apply_replan_destroy() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = Project::new().with_moto(moto);
    let body = std::sync::Arc::new(std::sync::Mutex::new(tar_gz(
        p.path(),
        &[("main.tf", REGISTRY_VPC)],
    )));
    let host = registry(body.clone());
    let meta = serve_json();

    let repo = p.path().join("repo");
    std::fs::create_dir_all(repo.join("sg")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("sg/main.tf"), GIT_SG).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "sg"]);
    git(&repo, &["tag", "v1.2.0"]);
    // A later commit on main that the pinned ref must not pick up.
    std::fs::write(repo.join("sg/main.tf"), "this is not HCL {").unwrap();
    git(&repo, &["commit", "-qam", "broken"]);

    let config = format!(
        r#"provider "aws" {{
  region = "us-east-1"
}}

resource "random_string" "suffix" {{
  length  = 8
  special = false
  upper   = false
}}

module "vpc" {{
  source  = "{host}/acme/vpc/aws"
  version = "~> 5.0"
  cidr    = "10.61.0.0/16"
  name    = "done-${{random_string.suffix.result}}"
}}

module "sg" {{
  source = "git::file://{repo}//sg?ref=v1.2.0"
  vpc_id = module.vpc.vpc_id
  name   = "done-${{random_string.suffix.result}}"
}}

resource "null_resource" "hook" {{
  triggers = {{
    sg = module.sg.id
  }}
}}

resource "time_sleep" "settle" {{
  create_duration = "1s"
  depends_on      = [null_resource.hook]
}}

resource "tls_private_key" "deploy" {{
  algorithm = "ED25519"
}}

data "http" "meta" {{
  url = "{meta}"
}}

data "archive_file" "bundle" {{
  type                    = "zip"
  source_content          = data.http.meta.response_body
  source_content_filename = "meta.json"
  output_path             = "${{path.module}}/build/bundle.zip"
}}

output "team" {{
  value = jsondecode(data.http.meta.response_body).team
}}

output "bundle_sha" {{
  value = data.archive_file.bundle.output_base64sha256
}}

output "public_key" {{
  value = tls_private_key.deploy.public_key_openssh
}}
"#,
        repo = repo.display()
    );
    p.write_env("done", &[("main.tf", &config)]);

    let r = p.run(&["plan", "-e", "done"]);
    assert_eq!(r.code, 1, "modules missing before init\n{}", r.all());
    assert!(r.stderr.contains("terrace init"), "{}", r.all());

    let r = p.run(&["init", "-e", "done"]);
    assert_eq!(r.code, 0, "init\n{}", r.all());
    let lock = std::fs::read_to_string(p.path().join(".terrace.lock.hcl")).unwrap();
    assert!(lock.contains("5.2.0"), "the newest 5.x is locked: {lock}");
    assert!(lock.contains("~> 5.0"), "{lock}");
    assert!(!lock.contains("6.0.0"), "{lock}");
    let tagged = String::from_utf8(
        std::process::Command::new("git")
            .args(["rev-list", "-n", "1", "v1.2.0"])
            .current_dir(&repo)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        lock.contains(tagged.trim()),
        "the commit v1.2.0 resolved to is locked: {lock}"
    );
    assert!(lock.matches("h1:").count() >= 2, "{lock}");

    let r = p.run(&["plan", "-e", "done", "--detailed-exitcode"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stdout.contains("6 to add"), "{}", r.all());

    let r = p.run(&["apply", "-e", "done", "--auto-approve"]);
    assert_eq!(r.code, 0, "apply\n{}", r.all());
    assert!(
        p.path()
            .join("environments/done/build/bundle.zip")
            .is_file()
    );
    let r = p.run(&["output", "-e", "done", "--format", "json"]);
    assert!(r.stdout.contains("platform"), "{}", r.all());
    assert!(r.stdout.contains("ssh-ed25519 "), "{}", r.all());
    let r = p.run(&["state", "list", "-e", "done"]);
    for a in [
        "module.vpc.aws_vpc.this",
        "module.sg.aws_security_group.this",
        "random_string.suffix",
        "null_resource.hook",
        "time_sleep.settle",
        "tls_private_key.deploy",
    ] {
        assert!(r.stdout.lines().any(|l| l == a), "{a} not in\n{}", r.all());
    }

    let r = p.run(&["plan", "-e", "done", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "re-plan must be empty\n{}", r.all());

    // A tampered release: the registry serves other bytes for 5.2.0.
    // init (with the cache gone) refuses them; nothing enters the cache.
    *body.lock().unwrap() = tar_gz(
        p.path(),
        &[("main.tf", "output \"vpc_id\" { value = \"tampered\" }\n")],
    );
    std::fs::remove_dir_all(p.path().join(".terrace/modules")).unwrap();
    let r = p.run(&["init", "-e", "done"]);
    assert_eq!(r.code, 1, "tampered download\n{}", r.all());
    assert!(r.stderr.contains("does not match the hash"), "{}", r.all());
    let r = p.run(&["plan", "-e", "done"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("terrace init"), "{}", r.all());

    // The release restored: init installs it again and destroy cleans up.
    *body.lock().unwrap() = tar_gz(p.path(), &[("main.tf", REGISTRY_VPC)]);
    let r = p.run(&["init", "-e", "done"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = p.run(&["destroy", "-e", "done", "--auto-approve"]);
    assert_eq!(r.code, 0, "destroy\n{}", r.all());
    let r = p.run(&["state", "list", "-e", "done"]);
    assert_eq!(r.stdout.trim(), "", "{}", r.all());
}

/// A loopback HTTP server serving `files` (path → bytes); 404 otherwise.
fn serve_files(files: Vec<(&'static str, Vec<u8>)>) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut sock in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = sock.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, body) = match files.iter().find(|(p, _)| *p == path) {
                Some((_, b)) => ("200 OK", b.clone()),
                None => ("404 Not Found", b"not found".to_vec()),
            };
            let _ = write!(
                sock,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(&body);
        }
    });
    format!("http://{addr}")
}

fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write as _;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(text.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// HTTP archives (.zip and .tar.gz, with a `//subdir`) from a loopback
/// server and an `s3::` object on moto install through `terrace init`, are
/// locked, and load; a missing archive is a clear error.
#[tokio::test(flavor = "multi_thread")]
async fn http_archive_and_s3_module_sources_install_through_init() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = Project::new().with_moto(moto);
    let zip_bytes = zip_of(&[("main.tf", "output \"v\" { value = \"from-zip\" }\n")]);
    let tgz = tar_gz(
        p.path(),
        &[("main.tf", "output \"v\" { value = \"from-tgz\" }\n")],
    );
    let s3_tgz = tar_gz(
        p.path(),
        &[("main.tf", "output \"v\" { value = \"from-s3\" }\n")],
    );
    let http = serve_files(vec![("/m.zip", zip_bytes), ("/m.tar.gz", tgz)]);
    let cfg = crate::support::sdk_config(moto).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&cfg)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("modules-{}", crate::support::suffix());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("net/v1.tar.gz")
        .body(s3_tgz.into())
        .send()
        .await
        .unwrap();
    let config = format!(
        r#"module "z" {{
  source = "{http}/m.zip"
}}

module "t" {{
  source = "{http}/m.tar.gz"
}}

module "s" {{
  source = "s3::{endpoint}/{bucket}/net/v1.tar.gz"
}}

output "all" {{
  value = [module.z.v, module.t.v, module.s.v]
}}
"#,
        endpoint = moto.endpoint
    );
    p.write_env("arch", &[("main.tf", &config)]);
    let r = p.run(&["init", "-e", "arch"]);
    assert_eq!(r.code, 0, "init\n{}", r.all());
    let lock = std::fs::read_to_string(p.path().join(".terrace.lock.hcl")).unwrap();
    assert_eq!(lock.matches("h1:").count(), 3, "{lock}");
    assert!(lock.contains("s3::"), "{lock}");
    let r = p.run(&["apply", "-e", "arch", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = p.run(&["output", "-e", "arch", "--format", "json"]);
    for v in ["from-zip", "from-tgz", "from-s3"] {
        assert!(r.stdout.contains(v), "{v}\n{}", r.all());
    }

    // A missing archive and a missing S3 object: init fails and says which.
    p.write_env(
        "missing",
        &[(
            "main.tf",
            &format!(
                "module \"z\" {{\n  source = \"{http}/nope.zip\"\n}}\nmodule \"s\" {{\n  source = \"s3::{}/{bucket}/nope.tar.gz\"\n}}\n",
                moto.endpoint
            ),
        )],
    );
    let r = p.run(&["init", "-e", "missing"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("nope"), "{}", r.all());
}
