//! The moto servers the test kit starts do not outlive the process that
//! started them (issue 21 item 8): whether it returns with the server still
//! held in a `static`, panics, or is killed with SIGKILL; and the end-of-run
//! check of `scripts/test` (scripts/lib/processes.sh) fails on, and stops, a
//! process the tests left running.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use terrace_testkit::answers_http;

/// Run the holder in `mode`, return the port of the moto server it started
/// (which answered while the holder ran) and the holder's exit status.
fn run_holder(mode: &str) -> Option<(u16, std::process::ExitStatus)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moto-holder"))
        .arg(mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn moto-holder");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read the holder's port");
    let Ok(port) = line.trim().parse::<u16>() else {
        let status = child.wait().unwrap();
        if status.code() == Some(3) {
            return terrace_testkit::skip("moto not available for the cleanup test");
        }
        panic!("moto-holder printed {line:?} and exited {status}");
    };
    if mode == "wait" {
        assert!(
            answers_http(port),
            "moto did not answer while its holder ran"
        );
        child.kill().expect("SIGKILL the holder");
    }
    let status = child.wait().unwrap();
    Some((port, status))
}

/// Waits up to 20 s for the server on `port` to stop answering.
fn assert_server_gone(port: u16, how: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if !answers_http(port) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the moto server on port {port} outlived a holder that {how}");
}

#[test]
fn shared_server_stops_when_the_process_returns() {
    let Some((port, status)) = run_holder("exit") else {
        return;
    };
    assert!(status.success(), "holder failed: {status}");
    assert_server_gone(port, "returned from main");
}

#[test]
fn shared_server_stops_when_the_process_panics() {
    let Some((port, status)) = run_holder("panic") else {
        return;
    };
    assert_eq!(status.code(), Some(101), "holder should have panicked");
    assert_server_gone(port, "panicked");
}

#[test]
fn shared_server_stops_when_the_process_is_killed() {
    let Some((port, status)) = run_holder("wait") else {
        return;
    };
    assert!(!status.success(), "holder should have been killed");
    assert_server_gone(port, "was killed with SIGKILL");
}

#[test]
fn dropping_a_server_stops_it() {
    let Some(moto) = terrace_testkit::start_moto() else {
        return;
    };
    let port = moto.port;
    assert!(answers_http(port));
    drop(moto);
    assert!(
        !answers_http(port),
        "moto still answers after its Moto was dropped"
    );
}

/// The check at the end of `scripts/test` fails, naming it, when a process
/// carrying the run's id is still alive, stops it, and passes once none is left.
#[test]
fn script_check_fails_on_a_surviving_process_and_stops_it() {
    let lib = terrace_testkit::workspace_root().join("scripts/lib/processes.sh");
    let id = format!(
        "cleanup-test-{}-{}",
        std::process::id(),
        terrace_testkit::free_port()
    );
    let script = r#"
set -euo pipefail
source "$1"
sleep 300 >/dev/null 2>&1 &
leak=$!
trap 'kill "$leak" 2>/dev/null || true' EXIT
if check_no_survivors; then echo "check passed with a survivor"; exit 1; fi
if grep -qzxF "TERRACE_TEST_RUN=$TERRACE_TEST_RUN" "/proc/$leak/environ" 2>/dev/null; then
  echo "survivor not stopped"; exit 1
fi
check_no_survivors || { echo "check failed with nothing left"; exit 1; }
echo ok
"#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("bash")
        .arg(&lib)
        .env("TERRACE_TEST_RUN", &id)
        .env("TERRACE_SURVIVOR_GRACE", "2")
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("still running") && stderr.contains("sleep 300"),
        "the check did not name the survivor:\n{stderr}"
    );
}
