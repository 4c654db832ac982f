//! checkov (the policy scanner, installed from PyPI into .venv by
//! scripts/setup-lint) on `terrace plan --json` of the shipped dev, stage and
//! prod environments against moto: every failed check must be fixed in the
//! modules or skipped in the checked-in `.checkov.yaml`, each skip with a
//! one-line reason. Without checkov the test prints SKIP — unless `CI` is
//! set, when it fails.

use crate::support::{Project, copy_dir};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `TERRACE_CHECKOV`, then the repository's .venv, then `PATH`.
fn checkov() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TERRACE_CHECKOV") {
        return Some(PathBuf::from(p));
    }
    let venv = terrace_testkit::workspace_root().join(".venv/bin/checkov");
    if venv.exists() {
        return Some(venv);
    }
    Command::new("checkov")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("checkov"))
}

/// The skipped check IDs of `.checkov.yaml`, each of which must carry a
/// reason (`- CKV_AWS_1  # why`).
fn skips(config: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut in_skips = false;
    for line in config.lines() {
        let t = line.trim();
        if !line.starts_with(' ') && !t.is_empty() && !t.starts_with('#') {
            in_skips = t == "skip-check:";
            continue;
        }
        if in_skips && let Some(item) = t.strip_prefix("- ") {
            let (id, reason) = item.split_once('#').unwrap_or((item, ""));
            assert!(
                reason.trim().len() >= 10,
                ".checkov.yaml: skip {} has no one-line reason",
                id.trim()
            );
            ids.push(id.trim().to_string());
        }
    }
    ids
}

/// (passed, failed "CHECK resource" lines) of checkov's JSON report.
fn run_checkov(checkov: &Path, plan: &Path, config: Option<&Path>) -> (u64, Vec<String>) {
    let mut cmd = Command::new(checkov);
    // Run where no .checkov.yaml is found unless one is given.
    cmd.current_dir(plan.parent().unwrap())
        .args(["-f", plan.to_str().unwrap()])
        .args([
            "--framework",
            "terraform_plan",
            "--output",
            "json",
            "--quiet",
        ])
        .arg("--skip-download")
        .env("BC_SKIP_MAPPING", "TRUE")
        .env("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false");
    if let Some(c) = config {
        cmd.args(["--config-file", c.to_str().unwrap()]);
    }
    let out = cmd.output().expect("run checkov");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov printed no JSON report ({e})\n--- stdout\n{stdout}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // One report, or one per framework.
    let report = match report {
        serde_json::Value::Array(mut all) => all.remove(0),
        r => r,
    };
    let passed = report["summary"]["passed"].as_u64().unwrap_or(0);
    let failed = report["results"]["failed_checks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    format!(
                        "{} {} ({})",
                        c["check_id"].as_str().unwrap_or("?"),
                        c["resource"].as_str().unwrap_or("?"),
                        c["check_name"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (passed, failed)
}

#[test]
fn checkov_finds_no_unexplained_failure_in_the_plans_of_dev_stage_prod() {
    let Some(checkov) = checkov() else {
        terrace_testkit::skip::<()>("checkov not installed (run scripts/setup-lint)");
        return;
    };
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let root = terrace_testkit::workspace_root();
    let config = root.join(".checkov.yaml");
    let skipped = skips(&std::fs::read_to_string(&config).expect(".checkov.yaml"));
    let p = Project::new().with_moto(moto);
    copy_dir(&root.join("modules"), &p.path().join("modules"));
    copy_dir(&root.join("environments"), &p.path().join("environments"));
    let mut report = Vec::new();
    let mut unexplained = Vec::new();
    for env in ["dev", "stage", "prod"] {
        let r = p.run(&["plan", "-e", env, "--json"]);
        assert_eq!(r.code, 0, "{env}: plan --json\n{}", r.all());
        let plan = p.path().join(format!("{env}.plan.json"));
        std::fs::write(&plan, &r.stdout).unwrap();
        let (passed, failed) = run_checkov(&checkov, &plan, Some(&config));
        let (_, before) = run_checkov(&checkov, &plan, None);
        // The plan was scanned, and the skips are what made the difference.
        assert!(passed > 20, "{env}: only {passed} checks passed");
        for f in &before {
            let id = f.split(' ').next().unwrap();
            assert!(
                skipped.iter().any(|s| s == id) || failed.contains(f),
                "{env}: {f} failed without the skips but not with them, yet is not skipped"
            );
        }
        report.push(format!(
            "{env}: {} failed without skips, {passed} passed / {} failed with .checkov.yaml",
            before.len(),
            failed.len()
        ));
        unexplained.extend(failed.into_iter().map(|f| format!("{env}: {f}")));
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        unexplained.is_empty(),
        "checkov failed checks that are neither fixed nor skipped in .checkov.yaml:\n{}",
        unexplained.join("\n")
    );
}

#[test]
fn checkov_skips_need_reasons() {
    let err = std::panic::catch_unwind(|| skips("skip-check:\n  - CKV_AWS_1\n"));
    assert!(err.is_err(), "a skip without a reason must be refused");
    assert_eq!(
        skips(
            "framework:\n  - terraform_plan\nskip-check:\n  - CKV_AWS_1  # one good reason here\n"
        ),
        ["CKV_AWS_1"]
    );
}
