//! `terrace state …`, saved plans and outputs, on terraform_data (no cloud).

use crate::support::Project;

const CONFIG: &str = r#"
variable "greeting" {
  type    = string
  default = "hello"
}

variable "token" {
  type      = string
  default   = "s3cr3t-token-value"
  sensitive = true
}

resource "terraform_data" "a" {
  input = var.greeting
}

resource "terraform_data" "b" {
  input = "${terraform_data.a.output}-b"
}

output "b" {
  value = terraform_data.b.output
}

output "token" {
  value     = var.token
  sensitive = true
}
"#;

fn project() -> Project {
    let p = Project::new();
    p.write_env("data", &[("main.tf", CONFIG)]);
    p
}

#[test]
fn state_commands_list_show_mv_rm_history_rollback() {
    let p = project();
    let r = p.run(&["apply", "-e", "data", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("2 added"), "{}", r.all());

    let r = p.run(&["state", "list", "-e", "data"]);
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        vec!["terraform_data.a", "terraform_data.b"],
        "{}",
        r.all()
    );

    let r = p.run(&["state", "show", "-e", "data", "terraform_data.b"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("hello-b"), "{}", r.all());

    // Outputs: the sensitive one is hidden unless named.
    let r = p.run(&["output", "-e", "data"]);
    assert!(
        r.stdout.contains("b     = \"hello-b\"") || r.stdout.contains("b = \"hello-b\""),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("token = <sensitive>"), "{}", r.all());
    assert!(!r.stdout.contains("s3cr3t-token-value"), "{}", r.all());
    let r = p.run(&["output", "-e", "data", "token"]);
    assert_eq!(r.stdout.trim(), "s3cr3t-token-value", "{}", r.all());
    let r = p.run(&["output", "-e", "data", "--format", "dotenv"]);
    assert_eq!(r.stdout.trim(), "B=hello-b", "{}", r.all());

    // mv, then the plan sees no change only if config follows: here it does not,
    // so the renamed object is an orphan and a.* is created again.
    let r = p.run(&[
        "state",
        "mv",
        "-e",
        "data",
        "terraform_data.a",
        "terraform_data.renamed",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = p.run(&["plan", "-e", "data", "--detailed-exitcode"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stdout
            .contains("terraform_data.renamed will be destroyed"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout.contains("terraform_data.a will be created"),
        "{}",
        r.all()
    );

    // rm forgets it.
    let r = p.run(&["state", "rm", "-e", "data", "terraform_data.renamed"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = p.run(&["state", "list", "-e", "data"]);
    assert_eq!(r.stdout.trim(), "terraform_data.b", "{}", r.all());
    let r = p.run(&["state", "rm", "-e", "data", "terraform_data.nope"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("no resource terraform_data.nope"),
        "{}",
        r.all()
    );

    // History lists every write; rollback restores serial 1's contents as a new serial.
    let r = p.run(&["state", "history", "-e", "data", "--json"]);
    let h: serde_json::Value = serde_json::from_str(&r.stdout).expect("history json");
    let serials: Vec<u64> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["serial"].as_u64().unwrap())
        .collect();
    assert!(serials.len() >= 3, "{serials:?}");
    let last = *serials.last().unwrap();
    let r = p.run(&[
        "state",
        "rollback",
        "-e",
        "data",
        "--to",
        "1",
        "--auto-approve",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = p.run(&["state", "pull", "-e", "data"]);
    let s: serde_json::Value = serde_json::from_str(&r.stdout).expect("state json");
    assert_eq!(s["serial"].as_u64(), Some(last + 1), "{}", r.all());
    let r = p.run(&["state", "list", "-e", "data"]);
    assert!(
        r.stdout.contains("terraform_data.a"),
        "rollback to serial 1 restores a\n{}",
        r.all()
    );
}

#[test]
fn state_push_checks_lineage_and_serial() {
    let p = project();
    assert_eq!(p.run(&["apply", "-e", "data", "--auto-approve"]).code, 0);
    let pulled = p.run(&["state", "pull", "-e", "data"]).stdout;
    let mut other: serde_json::Value = serde_json::from_str(&pulled).unwrap();
    other["lineage"] = serde_json::Value::String("00000000-0000-4000-8000-000000000000".into());
    let file = p.path().join("other.json");
    std::fs::write(&file, serde_json::to_string(&other).unwrap()).unwrap();
    let r = p.run(&["state", "push", "-e", "data", file.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("lineage"), "{}", r.all());
    let r = p.run(&[
        "state",
        "push",
        "-e",
        "data",
        "--force",
        file.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// Issue 22.9: `state push --force` of a state of another lineage that the
/// store then refuses (here: a newer format) used to delete the current state
/// first. It is one atomic replacement now: nothing changes.
#[test]
fn refused_forced_push_keeps_the_current_state() {
    let p = project();
    assert_eq!(p.run(&["apply", "-e", "data", "--auto-approve"]).code, 0);
    let pulled = p.run(&["state", "pull", "-e", "data"]).stdout;
    let mut other: serde_json::Value = serde_json::from_str(&pulled).unwrap();
    other["lineage"] = serde_json::Value::String("00000000-0000-4000-8000-000000000000".into());
    other["format_version"] = serde_json::json!(99);
    let file = p.path().join("newer.json");
    std::fs::write(&file, serde_json::to_string(&other).unwrap()).unwrap();
    let r = p.run(&[
        "state",
        "push",
        "-e",
        "data",
        "--force",
        file.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("format version 99"), "{}", r.all());
    let r = p.run(&["state", "list", "-e", "data"]);
    assert_eq!(r.code, 0, "the current state must survive\n{}", r.all());
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        vec!["terraform_data.a", "terraform_data.b"],
        "{}",
        r.all()
    );
    let r = p.run(&["plan", "-e", "data", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "nothing to re-create\n{}", r.all());
}

/// Issue 22.12: an empty TERRACE_STATE_KEY (a missing CI secret) used to
/// turn encryption off silently.
#[test]
fn empty_state_key_is_an_error() {
    let p = project();
    let r = p.run_env(
        &["apply", "-e", "data", "--auto-approve"],
        &[("TERRACE_STATE_KEY", "")],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("TERRACE_STATE_KEY is set but empty"),
        "{}",
        r.all()
    );
    let r = p.run_env(
        &["state", "list", "-e", "data"],
        &[("TERRACE_STATE_KEY_FILE", "")],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("TERRACE_STATE_KEY_FILE is set but empty"),
        "{}",
        r.all()
    );
}

fn db_bytes(p: &Project) -> Vec<u8> {
    let mut all = Vec::new();
    for f in ["terrace.db", "terrace.db-wal"] {
        if let Ok(b) = std::fs::read(p.path().join("state").join(f)) {
            all.extend(b);
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Issues 22.10/22.11/21.6: a raw key from TERRACE_STATE_KEY_FILE (refused
/// when others may read the file); a plaintext state is refused while a key
/// is set, and `state encrypt` is the explicit migration.
#[cfg(unix)]
#[test]
fn key_files_and_the_encryption_migration() {
    use std::os::unix::fs::PermissionsExt;
    let p = project();
    // Plaintext first.
    assert_eq!(p.run(&["apply", "-e", "data", "--auto-approve"]).code, 0);
    assert!(contains(&db_bytes(&p), "s3cr3t-token-value"));

    let key = p.path().join("state.key");
    std::fs::write(&key, "ab".repeat(32) + "\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let key_env = [("TERRACE_STATE_KEY_FILE", key.to_str().unwrap())];
    let r = p.run_env(&["state", "list", "-e", "data"], &key_env);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("chmod 600"), "{}", r.all());
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // With a key, the plaintext state is refused and the migration is named.
    let r = p.run_env(&["state", "list", "-e", "data"], &key_env);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("terrace state encrypt -e data"),
        "{}",
        r.all()
    );
    let r = p.run(&["state", "encrypt", "-e", "data"]);
    assert_eq!(r.code, 1, "no key set\n{}", r.all());
    let r = p.run_env(&["state", "encrypt", "-e", "data"], &key_env);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("Encrypted the current state of 'data'"),
        "{}",
        r.all()
    );
    let r = p.run_env(&["state", "list", "-e", "data"], &key_env);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("terraform_data.b"), "{}", r.all());
    let r = p.run_env(&["plan", "-e", "data", "--detailed-exitcode"], &key_env);
    assert_eq!(r.code, 0, "{}", r.all());

    // Without the key, or with a passphrase instead: refused.
    let r = p.run(&["state", "list", "-e", "data"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let r = p.run_env(
        &["state", "list", "-e", "data"],
        &[("TERRACE_STATE_KEY", "guess")],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("TERRACE_STATE_KEY_FILE"), "{}", r.all());
    // Both at once is ambiguous.
    let r = p.run_env(
        &["state", "list", "-e", "data"],
        &[key_env[0], ("TERRACE_STATE_KEY", "x")],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("set only one"), "{}", r.all());
}

/// Issue 22.13: a plan file is created 0600 even over a pre-existing
/// readable file, and a symbolic link is refused, not written through.
#[cfg(unix)]
#[test]
fn plan_files_are_private_and_never_follow_links() {
    use std::os::unix::fs::PermissionsExt;
    let p = project();
    let out = p.path().join("existing.tfplan");
    std::fs::write(&out, "old").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = p.run(&["plan", "-e", "data", "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "plan file mode {mode:o}");
    assert!(std::fs::read_to_string(&out).unwrap().len() > 3);

    let target = p.path().join("elsewhere.txt");
    std::fs::write(&target, "untouched").unwrap();
    let link = p.path().join("link.tfplan");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let r = p.run(&["plan", "-e", "data", "--out", link.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("symbolic link"), "{}", r.all());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");

    // The SQLite state the run created is private too.
    for f in ["terrace.db", "terrace.db-wal", "terrace.db-shm"] {
        let path = p.path().join("state").join(f);
        if path.exists() {
            let m = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, 0o600, "{f} mode {m:o}");
        }
    }
    let m = std::fs::metadata(p.path().join("state"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(m, 0o700, "state/ mode {m:o}");
}

#[test]
fn saved_plans_apply_exactly_and_stale_ones_are_refused() {
    let p = project();
    let plan = p.path().join("data.tfplan");
    let r = p.run(&["plan", "-e", "data", "--out", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    // Without -v, stderr carries no log lines.
    assert_eq!(r.stderr, "", "{}", r.all());
    let r = p.run(&["show", "-json", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("plan json");
    assert_eq!(doc["format_version"], "1.2");
    let actions: Vec<String> = doc["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["change"]["actions"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, vec!["create", "create"]);
    assert!(
        !r.stdout.contains("s3cr3t-token-value"),
        "secret leaked into plan JSON"
    );

    // A second plan file made now goes stale once the first is applied.
    let stale = p.path().join("stale.tfplan");
    assert_eq!(
        p.run(&["plan", "-e", "data", "--out", stale.to_str().unwrap()])
            .code,
        0
    );
    let r = p.run(&["apply", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = p.run(&["apply", stale.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("changed since this plan was made"),
        "{}",
        r.all()
    );

    // Changed configuration also makes a saved plan stale.
    let again = p.path().join("again.tfplan");
    assert_eq!(
        p.run(&[
            "plan",
            "-e",
            "data",
            "--var",
            "greeting=hi",
            "--out",
            again.to_str().unwrap()
        ])
        .code,
        0
    );
    p.write_env(
        "data",
        &[("main.tf", &CONFIG.replace("\"hello\"", "\"hey\""))],
    );
    let r = p.run(&["apply", again.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("configuration of 'data' changed"),
        "{}",
        r.all()
    );
}

#[test]
fn apply_without_a_terminal_needs_auto_approve() {
    let p = project();
    let r = p.run(&["apply", "-e", "data"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("--auto-approve"), "{}", r.all());
    let r = p.run(&["state", "list", "-e", "data"]);
    assert_ne!(
        r.code,
        0,
        "nothing may be applied without confirmation\n{}",
        r.all()
    );
}
