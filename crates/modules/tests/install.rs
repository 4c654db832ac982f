//! `Installer` and `InstalledModules` against a git repository made by the
//! test (file:// URL, tags, subdirectories) and a module registry served on
//! loopback by the test (discovery, versions, `X-Terraform-Get` to a tar.gz).

use std::path::Path;
use std::sync::Arc;
use terrace_lang::{SourceMap, load_config_with};
use terrace_modules::{InitOptions, InstalledModules, Installer, LOCK_FILE, LockFile};
use terrace_testkit::git;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A repository with `modules/net` tagged v1 and v2 (different outputs).
fn git_repo(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("modules/net")).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(
        dir.join("modules/net/main.tf"),
        "output \"v\" { value = \"one\" }\n",
    )
    .unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "one"]);
    git(dir, &["tag", "v1"]);
    std::fs::write(
        dir.join("modules/net/main.tf"),
        "output \"v\" { value = \"two\" }\n",
    )
    .unwrap();
    git(dir, &["commit", "-qam", "two"]);
    git(dir, &["tag", "v2"]);
    format!("file://{}", dir.display())
}

fn tar_gz(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (name, text) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, text.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// A module registry on loopback: acme/vpc/aws with 4.0.0, 5.0.0, 5.2.0;
/// downloads answer 204 with X-Terraform-Get pointing at a tar.gz. The
/// archive's text can be swapped (`body`) to act as a tampered download.
async fn registry(body: Arc<std::sync::Mutex<Vec<u8>>>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
                let (status, headers, content): (&str, String, Vec<u8>) = match path.as_str() {
                    "/.well-known/terraform.json" => ("200 OK", String::new(), br#"{"modules.v1":"/api/modules/v1/"}"#.to_vec()),
                    "/api/modules/v1/acme/vpc/aws/versions" => ("200 OK", String::new(), br#"{"modules":[{"versions":[{"version":"4.0.0"},{"version":"5.0.0"},{"version":"5.2.0"}]}]}"#.to_vec()),
                    p if p.starts_with("/api/modules/v1/acme/vpc/aws/") && p.ends_with("/download") => {
                        ("204 No Content", "X-Terraform-Get: /files/vpc.tar.gz\r\n".to_string(), Vec::new())
                    }
                    "/files/vpc.tar.gz" => ("200 OK", String::new(), body.lock().unwrap().clone()),
                    _ => ("404 Not Found", String::new(), b"{}".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    content.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&content).await;
            });
        }
    });
    addr.to_string()
}

fn opts(upgrade: bool) -> InitOptions {
    InitOptions {
        upgrade,
        tokens: Arc::new(|_| None),
    }
}

fn load(root: &Path, env: &Path) -> terrace_core::Diagnostics {
    let installed = InstalledModules::open(root).unwrap();
    let mut sources = SourceMap::default();
    load_config_with(env, &mut sources, &installed).1
}

#[tokio::test]
async fn init_installs_git_and_registry_modules_and_the_lock_guards_them() {
    let work = tempfile::tempdir().unwrap();
    let url = git_repo(&work.path().join("repo"));
    let body = Arc::new(std::sync::Mutex::new(tar_gz(&[(
        "main.tf",
        "output \"cidr\" { value = \"10.0.0.0/16\" }\n",
    )])));
    let host = registry(body.clone()).await;
    let root = work.path().join("project");
    let env = root.join("environments/dev");
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(
        env.join("main.tf"),
        format!("module \"net\" {{\n  source = \"git::{url}//modules/net?ref=v1\"\n}}\nmodule \"vpc\" {{\n  source  = \"{host}/acme/vpc/aws\"\n  version = \"~> 5.0\"\n}}\n"),
    )
    .unwrap();

    // Before init, the modules are refused with the fix.
    let d = load(&root, &env);
    assert!(
        d.has_errors() && format!("{d:?}").contains("terrace init"),
        "{d:?}"
    );

    let mut inst = Installer::new(&root, opts(false)).unwrap();
    let (config, diags, _) = inst.install_env(&env).await;
    assert!(!diags.has_errors(), "{diags:?}");
    let config = config.unwrap();
    assert_eq!(
        config.root.module_calls["net"]
            .child
            .as_ref()
            .unwrap()
            .outputs
            .len(),
        1
    );
    let lock = inst.write_lock(true).unwrap();
    let vpc = &lock.modules[&format!("{host}/acme/vpc/aws")];
    assert_eq!(vpc.version.as_deref(), Some("5.2.0"));
    let net = &lock.modules[&format!("git::{url}?ref=v1")];
    assert_eq!(net.commit.as_ref().map(|c| c.len()), Some(40));
    assert_eq!(LockFile::read(&root).unwrap(), lock);
    assert!(root.join(LOCK_FILE).is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root.join(".terrace/modules"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    assert!(!load(&root, &env).has_errors());

    // A second init with everything in place fetches nothing.
    let mut again = Installer::new(&root, opts(false)).unwrap();
    assert!(!again.install_env(&env).await.1.has_errors());
    assert!(
        again
            .installed
            .iter()
            .all(|(_, o)| *o == terrace_modules::InstallOutcome::Kept)
    );

    // Files changed in the cache: refused until init installs them again.
    let cached = std::fs::read_dir(root.join(".terrace/modules"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().contains("acme"))
        .unwrap()
        .path();
    std::fs::write(
        cached.join("main.tf"),
        "output \"cidr\" { value = \"evil\" }\n",
    )
    .unwrap();
    let d = format!("{:?}", load(&root, &env));
    assert!(
        d.contains("do not match the hash") && d.contains("terrace init"),
        "{d}"
    );

    // The registry now serves other files for 5.2.0: init refuses them.
    *body.lock().unwrap() = tar_gz(&[("main.tf", "output \"cidr\" { value = \"tampered\" }\n")]);
    let mut tampered = Installer::new(&root, opts(false)).unwrap();
    let d = format!("{:?}", tampered.install_env(&env).await.1);
    assert!(
        d.contains("does not match the hash") && d.contains("Nothing was installed"),
        "{d}"
    );
    // -upgrade accepts the new files.
    let mut up = Installer::new(&root, opts(true)).unwrap();
    assert!(!up.install_env(&env).await.1.has_errors());
}

#[tokio::test]
async fn bad_refs_missing_subdirs_unmet_constraints_and_unreachable_sources_are_clear() {
    let work = tempfile::tempdir().unwrap();
    let url = git_repo(&work.path().join("repo"));
    let body = Arc::new(std::sync::Mutex::new(tar_gz(&[("main.tf", "")])));
    let host = registry(body).await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cases = [
        (
            format!("source = \"git::{url}?ref=v9\""),
            "git ref \"v9\" does not exist",
        ),
        (
            format!("source = \"git::{url}//nope?ref=v1\""),
            "The folder \"nope\" does not exist",
        ),
        (
            format!("source = \"{host}/acme/vpc/aws\"\n version = \"~> 9.0\""),
            "Available versions: 4.0.0, 5.0.0, 5.2.0",
        ),
        (
            format!("source = \"{closed}/acme/vpc/aws\""),
            "could not be reached",
        ),
        (
            format!("source = \"http://{closed}/m.tar.gz\""),
            "could not be reached",
        ),
        (
            format!("source = \"git::{url}\"\n version = \"1.0\""),
            "version applies only to registry modules",
        ),
    ];
    for (i, (src, want)) in cases.iter().enumerate() {
        let root = work.path().join(format!("p{i}"));
        let env = root.join("environments/dev");
        std::fs::create_dir_all(&env).unwrap();
        std::fs::write(
            env.join("main.tf"),
            format!("module \"m\" {{\n {src}\n}}\n"),
        )
        .unwrap();
        let mut inst = Installer::new(&root, opts(false)).unwrap();
        let (_, diags, sources) = inst.install_env(&env).await;
        let text = terrace_lang::render_diagnostics(&diags, &sources, false);
        assert!(text.contains(want), "{src}: {text}");
        assert!(
            text.contains("main.tf line 2"),
            "the error points at the source: {text}"
        );
        assert!(!root.join(LOCK_FILE).exists());
    }
}
