//! Fleets: `drift --all --shard K/N` and `env gc --shard K/N` split the
//! environments across workers by the documented hash (FNV-1a 64 of the
//! name, mod N, plus one); two shards together cover every environment once.
//! Environments hold `terraform_data` only, so no cloud is needed.

use crate::support::Project;
use std::collections::BTreeSet;

/// The documented split, computed independently of the binary.
fn shard_of(name: &str, n: u64) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h % n + 1
}

const NAMES: [&str; 8] = ["dev", "stage", "prod", "pr-1", "pr-2", "pr-3", "qa", "demo"];

fn drift_runs(p: &Project, env: &str) -> usize {
    let r = p.run(&["drift", "history", "-e", env, "--json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("drift history JSON");
    v.as_array().map_or(0, Vec::len)
}

#[test]
fn drift_all_in_two_shards_checks_each_environment_once() {
    let p = Project::new();
    for name in NAMES {
        p.write_env(
            name,
            &[(
                "main.tf",
                "resource \"terraform_data\" \"a\" {\n  input = \"x\"\n}\n",
            )],
        );
        let r = p.run(&["apply", "-e", name, "--auto-approve"]);
        assert_eq!(r.code, 0, "{}", r.all());
    }
    // Both shards hold something with these names (else the test proves little).
    let first: BTreeSet<&str> = NAMES.into_iter().filter(|n| shard_of(n, 2) == 1).collect();
    assert!(!first.is_empty() && first.len() < NAMES.len(), "{first:?}");

    let r = p.run(&["drift", "--all", "--shard", "1/2"]);
    assert_eq!(r.code, 0, "{}", r.all());
    for name in NAMES {
        let want = usize::from(first.contains(name));
        assert_eq!(
            drift_runs(&p, name),
            want,
            "{name} after shard 1/2\n{}",
            r.all()
        );
    }
    let r = p.run(&["drift", "--all", "--shard", "2/2"]);
    assert_eq!(r.code, 0, "{}", r.all());
    // Disjoint and complete: every environment checked exactly once.
    for name in NAMES {
        assert_eq!(drift_runs(&p, name), 1, "{name} after both shards");
    }

    // Bad input: a clear error, nothing checked.
    for (args, want) in [
        (vec!["drift", "--all", "--shard", "3/2"], "between 1 and 2"),
        (vec!["drift", "--all", "--shard", "0/2"], "between 1 and 2"),
        (vec!["drift", "--all", "--shard", "two"], "K/N"),
        (vec!["drift", "-e", "dev", "--shard", "1/2"], "add --all"),
        (vec!["env", "gc", "--shard", "1/0"], "N must be at least 1"),
    ] {
        let r = p.run(&args);
        assert_eq!(r.code, 1, "{args:?}\n{}", r.all());
        assert!(r.stderr.contains(want), "{args:?}: {}", r.all());
    }
    assert_eq!(drift_runs(&p, "dev"), 1);
}

#[test]
fn env_gc_in_two_shards_destroys_each_expired_environment_once() {
    let p = Project::new();
    p.write_env(
        "tpl",
        &[(
            "main.tf",
            "resource \"terraform_data\" \"a\" {\n  input = terrace.environment\n}\n",
        )],
    );
    let previews = ["pr-1", "pr-2", "pr-3", "pr-4", "pr-5", "pr-6"];
    for name in previews {
        let r = p.run(&[
            "env",
            "create",
            name,
            "--from",
            "tpl",
            "--ttl",
            "1h",
            "--auto-approve",
        ]);
        assert_eq!(r.code, 0, "{}", r.all());
    }
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let now = [("TERRACE_NOW", later.as_str())];
    let first: Vec<&str> = previews
        .into_iter()
        .filter(|n| shard_of(n, 2) == 1)
        .collect();
    let second: Vec<&str> = previews
        .into_iter()
        .filter(|n| shard_of(n, 2) == 2)
        .collect();
    assert!(!first.is_empty() && !second.is_empty(), "{first:?}");

    let r = p.run_env(&["env", "gc", "--dry-run", "--shard", "2/2"], &now);
    assert_eq!(r.code, 0, "{}", r.all());
    for name in previews {
        assert_eq!(
            r.stdout.contains(&format!("would destroy '{name}'")),
            second.contains(&name),
            "{name}\n{}",
            r.all()
        );
    }
    let r = p.run_env(&["env", "gc", "--shard", "1/2"], &now);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = p.run(&["env", "list", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let left: Vec<&str> = rows
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .filter(|n| n.starts_with("pr-"))
        .collect();
    assert_eq!(left, second, "shard 1 destroys its own, and only those");
    let r = p.run_env(&["env", "gc", "--shard", "2/2"], &now);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = p.run_env(&["env", "gc", "--shard", "2/2"], &now);
    assert!(
        r.stdout.contains("No expired environments in shard 2/2."),
        "{}",
        r.all()
    );
    let r = p.run(&["env", "list", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        rows.iter()
            .all(|x| !x["name"].as_str().unwrap().starts_with("pr-")),
        "{}",
        r.all()
    );
}
