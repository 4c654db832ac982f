//! The soak run of issue 21 — not part of the default test run; run it
//! with `scripts/soak [CYCLES]` (or `cargo test -p terrace-cli --test soak`,
//! `TERRACE_SOAK_CYCLES`, default 50).
//!
//! It applies and destroys a copy of the shipped `dev` environment against
//! moto, through the loopback proxy with every third EC2 request throttled,
//! and after every cycle checks: the apply and destroy succeed, a re-plan
//! after apply is empty, drift finds nothing changed, missing or unmanaged
//! (no orphan, no duplicate: a second object of an address is unmanaged),
//! and after destroy nothing carries the environment's ownership tag.
//! The peak resident memory of each terrace process is recorded; the run
//! fails if the last cycles need notably more than the first (a leak).
//! The table is printed and written to `target/soak-report.md`.

#[allow(dead_code)]
#[path = "../e2e/proxy.rs"]
mod proxy;
#[allow(dead_code)]
#[path = "../e2e/support.rs"]
mod support;

use proxy::{Proxy, aws_env_via};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::{Project, owned_ec2_ids, sdk_config};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// One terrace run: exit code, output, seconds, peak resident memory (KiB),
/// read from `/proc/<pid>/status` (`VmHWM`) while it runs.
struct Measured {
    code: i32,
    output: String,
    secs: f64,
    peak_kib: u64,
}

fn run_measured(project: &Project, args: &[&str]) -> Measured {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrace"));
    cmd.current_dir(project.path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("TERRACE_STATE");
    for (k, v) in &project.env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("run terrace");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        let mut e = String::new();
        let _ = err.read_to_string(&mut e);
        format!("--- stdout\n{s}\n--- stderr\n{e}")
    });
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("VmHWM:") {
                    let kib = v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kib);
                }
            }
        }
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Measured {
        code: status.code().unwrap_or(-1),
        output: reader.join().unwrap(),
        secs: started.elapsed().as_secs_f64(),
        peak_kib: peak,
    }
}

/// Drift items of `report` that are not `ok` (the JSON report's `drift`).
fn drift_items(project: &Project) -> Vec<Value> {
    let r = project.run(&["drift", "-e", "dev", "--format", "json"]);
    let doc: Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("drift JSON ({e}): {}", r.all()));
    doc["drift"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn soak_dev_apply_destroy_cycles() {
    let moto = terrace_testkit::shared_moto().expect("the soak run needs moto");
    let cycles: usize = std::env::var("TERRACE_SOAK_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let proxy = Proxy::start(moto.port, 3, Duration::ZERO);
    let mut project = Project::new();
    project.env.extend(aws_env_via(moto, &proxy.endpoint));
    let root = terrace_testkit::workspace_root();
    copy_dir(&root.join("modules"), &project.path().join("modules"));
    copy_dir(
        &root.join("environments"),
        &project.path().join("environments"),
    );
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config(moto).await);

    let mut rows = vec![
        "| cycle | apply s | destroy s | apply peak MiB | destroy peak MiB | throttled so far |"
            .to_string(),
        "|---|---|---|---|---|---|".to_string(),
    ];
    let mut peaks = Vec::new();
    let started = Instant::now();
    for cycle in 1..=cycles {
        let apply = run_measured(&project, &["apply", "-e", "dev", "--auto-approve"]);
        assert_eq!(apply.code, 0, "cycle {cycle}: apply\n{}", apply.output);
        let replan = project.run(&["plan", "-e", "dev", "--detailed-exitcode"]);
        assert_eq!(replan.code, 0, "cycle {cycle}: re-plan\n{}", replan.all());
        let drift = drift_items(&project);
        assert!(
            drift.is_empty(),
            "cycle {cycle}: drift after apply {drift:#?}"
        );
        let destroy = run_measured(&project, &["destroy", "-e", "dev", "--auto-approve"]);
        assert_eq!(
            destroy.code, 0,
            "cycle {cycle}: destroy\n{}",
            destroy.output
        );
        let left = owned_ec2_ids(&ec2, "dev").await;
        assert!(left.is_empty(), "cycle {cycle}: left behind {left:?}");
        let drift = drift_items(&project);
        assert!(
            drift.is_empty(),
            "cycle {cycle}: orphans after destroy {drift:#?}"
        );
        rows.push(format!(
            "| {cycle} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            apply.secs,
            destroy.secs,
            apply.peak_kib as f64 / 1024.0,
            destroy.peak_kib as f64 / 1024.0,
            proxy.throttled.load(Ordering::SeqCst)
        ));
        peaks.push(apply.peak_kib.max(destroy.peak_kib));
        eprintln!("{}", rows.last().unwrap());
    }
    let report = format!(
        "{}\n\n{cycles} cycles in {:.0} s; {} requests through the proxy, {} throttled.\n",
        rows.join("\n"),
        started.elapsed().as_secs_f64(),
        proxy.requests.load(Ordering::SeqCst),
        proxy.throttled.load(Ordering::SeqCst)
    );
    println!("{report}");
    let _ = std::fs::write(root.join("target/soak-report.md"), &report);
    // Memory stays flat: the last cycles' peak within 20 % (+16 MiB) of the first ones'.
    let k = (cycles / 5).max(1);
    let first = peaks[..k].iter().copied().max().unwrap_or(0);
    let last = peaks[peaks.len() - k..].iter().copied().max().unwrap_or(0);
    assert!(
        last as f64 <= first as f64 * 1.2 + 16.0 * 1024.0,
        "peak memory grew from {first} KiB to {last} KiB"
    );
}
