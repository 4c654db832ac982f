//! The moto servers the test kit starts do not outlive the process that
//! started them (issue 21 item 8): whether it returns with the server still
//! held in a `static`, panics, or is killed with SIGKILL.

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
