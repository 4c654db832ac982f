//! `terrace-testkit` is test support shared by terrace's test suites: it starts
//! a moto server (the local AWS-compatible endpoint) on a free loopback port,
//! creates fresh PostgreSQL databases for store tests, and applies the project's
//! skip policy — a test whose service is missing prints why and skips on a
//! developer machine, but fails when `CI` is set.
//!
//! It is a dev-dependency only; no shipped crate depends on it. Network traffic
//! goes only to loopback.
//!
//! Where moto lacks an API (EKS add-ons, access entries, pod identity),
//! [`FakeEks`] is a small loopback server speaking that part of the EKS
//! REST API with the AWS API reference's request and response shapes.
//!
//! Every moto server it starts runs under a small watchdog (a Python script
//! run by moto's own interpreter) that holds the read end of a pipe whose write
//! end only the test process holds. When the test process ends — normally,
//! by a panic, or killed by a signal — the kernel closes that pipe, and the
//! watchdog stops moto. So a server held in a `static` that Rust never drops
//! (`shared_moto`) is still stopped when its test binary exits.

mod fake_ecr;
mod fake_eks;
mod fake_refresh;
mod http;
pub use fake_ecr::FakeEcr;
pub use fake_eks::FakeEks;
pub use fake_refresh::{FakeInstanceRefresh, QueryHandler, QueryProxy, query_error};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root (where `Cargo.toml` and `.venv` live).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// True when running in CI, where missing services are failures, not skips.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| !v.is_empty() && v != "0" && v != "false")
        .unwrap_or(false)
}

/// Skip the current test with a printed reason, or panic under CI.
/// Returns `None` so callers can write `let Some(x) = ... else { return };`.
pub fn skip<T>(reason: &str) -> Option<T> {
    if in_ci() {
        panic!("required test service unavailable under CI: {reason}");
    }
    eprintln!("SKIP: {reason}");
    None
}

/// A running moto server. Dropping it stops the process; so does the end of
/// the test process, however it ends (see the crate documentation).
pub struct Moto {
    pub endpoint: String,
    pub port: u16,
    /// The watchdog process (moto is its child).
    child: Child,
    /// The write end of the watchdog's lifeline: closing it stops moto.
    lifeline: Option<ChildStdin>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        stop_watchdog(&mut self.child, &mut self.lifeline);
    }
}

/// Close the lifeline (the watchdog then stops moto and exits), wait for the
/// watchdog a bounded time, and kill it if it is still there.
fn stop_watchdog(child: &mut Child, lifeline: &mut Option<ChildStdin>) {
    drop(lifeline.take());
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The watchdog run in front of moto: it starts moto as its child, and stops
/// it when its standard input reaches end-of-file (the test process is gone or
/// dropped its `Moto`) or when it is asked to terminate; it exits when moto does.
const WATCHDOG: &str = r#"
import signal, subprocess, sys, threading
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
def stop(*_):
    child.terminate()
    timer = threading.Timer(10, child.kill)
    timer.daemon = True
    timer.start()
def watch():
    try:
        while sys.stdin.buffer.read1(4096):
            pass
    except OSError:
        pass
    stop()
for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(sig, stop)
threading.Thread(target=watch, daemon=True).start()
sys.exit(child.wait())
"#;

/// The Python interpreter that runs moto: the one named by `moto_server`'s
/// `#!` line when it exists, else `python3` from `PATH`.
fn python_for(moto_server: &std::path::Path) -> PathBuf {
    let mut first = String::new();
    if let Ok(f) = std::fs::File::open(moto_server) {
        let _ = BufReader::new(f).read_line(&mut first);
    }
    first
        .strip_prefix("#!")
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .and_then(|parts| match parts.as_slice() {
            [interp] => Some(PathBuf::from(interp)),
            _ => None,
        })
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

impl Moto {
    /// Environment variables that point an AWS SDK client (or the terrace
    /// binary) at this server with dummy credentials.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        aws_env_for(&self.endpoint)
    }

    /// Reset every moto backend (an empty account).
    pub fn reset(&self) {
        let _ = http_post(self.port, "/moto-api/reset");
    }
}

/// Environment for an AWS SDK client against `endpoint`.
pub fn aws_env_for(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Find the `moto_server` executable: `TERRACE_MOTO_SERVER`, then the
/// project's `.venv`, then `PATH`.
pub fn moto_server_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TERRACE_MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let venv = workspace_root().join(".venv/bin/moto_server");
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.exists())
    })
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind loopback")
        .local_addr()
        .unwrap()
        .port()
}

/// Start a dedicated moto server (an empty account of its own).
/// `None` (after printing why) if moto is not installed and not in CI.
pub fn start_moto() -> Option<Moto> {
    let Some(bin) = moto_server_path() else {
        return skip("moto_server not found (run scripts/setup-moto or set TERRACE_MOTO_SERVER)");
    };
    for _attempt in 0..3 {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("terrace-moto-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("moto log file");
        let child = Command::new(python_for(&bin))
            .arg("-c")
            .arg(WATCHDOG)
            .arg(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // AWS-managed IAM policies (AmazonEKSClusterPolicy, …) exist only with this.
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdin(Stdio::piped())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => return skip(&format!("cannot start {}: {e}", bin.display())),
        };
        let lifeline = child.stdin.take();
        let mut moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            child,
            lifeline,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = moto.child.try_wait() {
                break;
            }
            if http_get(port, "/moto-api/").is_some() {
                return Some(moto);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(moto);
        let mut text = String::new();
        let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut text));
        eprintln!("moto did not start on port {port}; log:\n{text}");
    }
    skip("moto_server failed to start three times")
}

static SHARED: OnceLock<Option<Moto>> = OnceLock::new();

/// One moto server shared by every test in this test binary. Tests sharing it
/// must use names unique to themselves (the account is not reset between tests).
pub fn shared_moto() -> Option<&'static Moto> {
    SHARED.get_or_init(start_moto).as_ref()
}

fn http_request(port: u16, method: &str, path: &str) -> Option<String> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500))
            .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut reader = BufReader::new(s);
    let mut status = String::new();
    reader.read_line(&mut status).ok()?;
    if !status.starts_with("HTTP/") {
        return None;
    }
    let mut body = String::new();
    let _ = reader.read_to_string(&mut body);
    Some(status + &body)
}

/// True while something answers HTTP on `127.0.0.1:port` (a moto server's
/// control API, for instance).
pub fn answers_http(port: u16) -> bool {
    http_get(port, "/moto-api/").is_some()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    http_request(port, "GET", path)
}

fn http_post(port: u16, path: &str) -> Option<String> {
    http_request(port, "POST", path)
}

/// The PostgreSQL server for tests: `TERRACE_TEST_POSTGRES` or
/// `postgres://postgres@127.0.0.1:5432/test`.
pub fn postgres_base_url() -> String {
    std::env::var("TERRACE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Create a fresh, empty database for one test and return its URL.
/// `None` (after printing why) when PostgreSQL is unreachable and not in CI.
pub fn fresh_postgres_db() -> Option<String> {
    let base = postgres_base_url();
    let name = format!("terrace_test_{}", uuid::Uuid::new_v4().simple());
    let out = Command::new("psql")
        .args([
            base.as_str(),
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let prefix = base.rsplit_once('/').map(|(p, _)| p).unwrap_or(&base);
            Some(format!("{prefix}/{name}"))
        }
        Ok(o) => skip(&format!(
            "PostgreSQL at {base} refused CREATE DATABASE: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => skip(&format!(
            "psql not runnable ({e}); PostgreSQL tests need it"
        )),
    }
}

/// Run `git` in `dir` with a fixed identity and no signing (for tests that
/// build a repository to use as a module source); panics when it fails.
pub fn git(dir: &std::path::Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs")
        .success();
    assert!(ok, "git {args:?} failed in {}", dir.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_loopback_and_nonzero() {
        assert_ne!(free_port(), 0);
    }

    #[test]
    fn aws_env_points_at_endpoint() {
        let env = aws_env_for("http://127.0.0.1:1");
        assert!(
            env.iter()
                .any(|(k, v)| k == "AWS_ENDPOINT_URL" && v == "http://127.0.0.1:1")
        );
    }
}
