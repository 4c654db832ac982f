//! What users see must be true (issue 23): exit codes of usage errors,
//! Ctrl-C at the prompt, lock errors naming a dead holder, `state rollback`
//! previews, `--target`/`--replace` checks, `drift --output` pairing,
//! progress lines, `-v` logging, a hung AWS endpoint, missing AWS
//! credentials, and drift that a config-only tag change does not fake.

use crate::support::{Project, Run, suffix};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
resource "terraform_data" "a" {
  input = "one"
}

resource "terraform_data" "b" {
  input = "${terraform_data.a.output}-two"
}
"#;

fn data_project() -> Project {
    let p = Project::new();
    p.write_env("data", &[("main.tf", CONFIG)]);
    p
}

fn applied() -> Project {
    let p = data_project();
    let r = p.run(&["apply", "-e", "data", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    p
}

/// The binary for `p`, not yet started (stdin null unless changed).
fn command(p: &Project, args: &[&str], extra: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrace"));
    cmd.current_dir(p.path()).args(args).stdin(Stdio::null());
    cmd.env_remove("TERRACE_STATE")
        .env_remove("TERRACE_STATE_KEY")
        .env_remove("RUST_LOG")
        .env_remove("AWS_PROFILE");
    for (k, v) in &p.env {
        cmd.env(k, v);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

/// Run with `input` on stdin.
fn run_with_input(p: &Project, args: &[&str], extra: &[(&str, &str)], input: &str) -> Run {
    let mut child = command(p, args, extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn terrace");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().expect("wait");
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn lock_holder(p: &Project, env: &str) -> Option<terrace_state::LockInfo> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = terrace_state::open_store(
            "sqlite:state/terrace.db",
            p.path(),
            terrace_state::StoreOptions::default(),
        )
        .await
        .expect("open store");
        store.current_lock(env).await.expect("read lock")
    })
}

// ---- item 2: usage errors --------------------------------------------------

#[test]
fn usage_errors_exit_1_not_the_drift_code() {
    let p = data_project();
    for args in [
        vec!["aply"],
        vec!["drift", "-e", "data", "--fromat", "json"],
        vec!["drift", "-e", "data", "--format", "xml"],
        vec!["plan", "--parallelism", "x"],
        vec![],
    ] {
        let r = p.run(&args);
        assert_eq!(r.code, 1, "terrace {args:?}\n{}", r.all());
        assert!(
            r.stderr.contains("error") || r.stderr.contains("Usage"),
            "{}",
            r.all()
        );
    }
    let r = p.run(&["--help"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("Usage"), "{}", r.all());
    let r = p.run(&["--version"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

// ---- item 3: Ctrl-C at the prompt, dead lock holders ------------------------

#[test]
fn ctrl_c_at_the_prompt_cancels_at_once_and_releases_the_lock() {
    let p = data_project();
    let (mut child, _stdin, mut stderr) =
        p.at_prompt(&["apply", "-e", "data"], &[("RUST_LOG", "")]);
    assert!(
        lock_holder(&p, "data").is_some(),
        "the lock is held at the prompt"
    );
    let interrupted = Instant::now();
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(st.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().expect("wait");
    assert!(
        interrupted.elapsed() < Duration::from_secs(10),
        "one Ctrl-C at the prompt must end the run at once (took {:?})\n{rest}",
        interrupted.elapsed()
    );
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(rest.contains("cancel"), "{rest}");
    assert!(
        lock_holder(&p, "data").is_none(),
        "the lock was left held\n{rest}"
    );
    // Nothing was applied, and the next run needs no lock wait.
    let r = p.run(&["state", "list", "-e", "data"]);
    assert!(!r.stdout.contains("terraform_data"), "{}", r.all());
    let r = p.run(&["apply", "-e", "data", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

#[test]
fn a_lock_held_by_a_dead_process_on_this_host_is_named_so() {
    let p = applied();
    // A process that has ended: its PID is dead.
    let mut gone = Command::new("true").spawn().expect("spawn true");
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let id = rt.block_on(async {
        let store = terrace_state::open_store(
            "sqlite:state/terrace.db",
            p.path(),
            terrace_state::StoreOptions::default(),
        )
        .await
        .unwrap();
        let mut info = terrace_state::LockInfo::new("apply");
        info.pid = dead_pid;
        info.host = terrace_state::current_host();
        store.acquire_lock("data", &info).await.expect("lock");
        info.id
    });
    let r = p.run(&["apply", "-e", "data", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("is locked by"), "{}", r.all());
    assert!(
        r.stderr.contains(&format!("pid {dead_pid} on this host"))
            && r.stderr.contains("no longer running"),
        "the dead holder is not named\n{}",
        r.all()
    );
    assert!(
        r.stderr
            .contains(&format!("terrace force-unlock --force -e data {id}")),
        "{}",
        r.all()
    );

    // force-unlock without a terminal names its real flag, and its prompt
    // is not glued into the error.
    let r = p.run(&["force-unlock", "-e", "data", &id]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("pass --force"), "{}", r.all());
    assert!(!r.stderr.contains("--auto-approve"), "{}", r.all());
    assert!(!r.stderr.contains("Remove the lock"), "{}", r.all());
    let r = p.run(&["force-unlock", "-e", "data", &id, "--force"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

// ---- item 5: state rollback and history ------------------------------------

fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && s.chars()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19].contains(&i) || c.is_ascii_digit())
}

#[test]
fn state_rollback_previews_and_confirms_and_history_counts_resources() {
    let p = applied();
    let r = p.run(&["state", "rm", "-e", "data", "terraform_data.b"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = p.run(&["state", "history", "-e", "data", "--json"]);
    let h: serde_json::Value = serde_json::from_str(&r.stdout).expect("history json");
    let h = h.as_array().unwrap();
    let first = &h[0];
    let last = h.last().unwrap();
    assert_eq!(last["resources"], 1, "{h:#?}");
    assert!(first["resources"].as_u64().unwrap() >= 1, "{h:#?}");
    let two = h
        .iter()
        .find(|e| e["resources"] == 2)
        .expect("a version with both");
    let to = two["serial"].as_u64().unwrap().to_string();
    assert!(
        is_rfc3339_utc(last["written_at"].as_str().unwrap()),
        "{h:#?}"
    );
    let r = p.run(&["state", "history", "-e", "data"]);
    assert!(
        r.stdout.lines().next().unwrap().contains("resources"),
        "{}",
        r.all()
    );
    let row = r.stdout.lines().nth(1).expect("a row");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert!(is_rfc3339_utc(cols[1]), "{}", r.all());
    let serial_before = last["serial"].clone();

    let pulled = || {
        let r = p.run(&["state", "pull", "-e", "data"]);
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["serial"].clone()
    };
    // No terminal, no --auto-approve: refused, naming the flag, unchanged.
    let r = p.run(&["state", "rollback", "-e", "data", "--to", &to]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.contains("+ terraform_data.b"),
        "preview first\n{}",
        r.all()
    );
    assert!(r.stderr.contains("pass --auto-approve"), "{}", r.all());
    assert!(
        !r.stderr.contains("Do you want"),
        "prompt glued into the error\n{}",
        r.all()
    );
    assert_eq!(pulled(), serial_before);
    // Answered "no": cancelled, unchanged.
    let r = run_with_input(
        &p,
        &["state", "rollback", "-e", "data", "--to", &to],
        &[("TERRACE_PROMPT_STDIN", "1")],
        "no\n",
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("cancelled"), "{}", r.all());
    assert_eq!(pulled(), serial_before);
    // Answered "yes": rolled back.
    let r = run_with_input(
        &p,
        &["state", "rollback", "-e", "data", "--to", &to],
        &[("TERRACE_PROMPT_STDIN", "1")],
        "yes\n",
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("1 to add, 0 to change, 0 to remove"),
        "{}",
        r.all()
    );
    let r = p.run(&["state", "list", "-e", "data"]);
    assert!(r.stdout.contains("terraform_data.b"), "{}", r.all());
}

// ---- item 6: --target / --replace -------------------------------------------

#[test]
fn target_or_replace_matching_nothing_is_an_error_naming_the_closest() {
    let p = applied();
    for (flag, addr) in [
        ("--target", "terraform_data.bb"),
        ("--replace", "terraform_data.c"),
    ] {
        let r = p.run(&["plan", "-e", "data", flag, addr]);
        assert_eq!(r.code, 1, "{flag} {addr}\n{}", r.all());
        assert!(
            r.stderr.contains(&format!("{flag} {addr}"))
                && r.stderr.contains("closest address is terraform_data."),
            "{}",
            r.all()
        );
        assert!(!r.stdout.contains("No changes"), "{}", r.all());
    }
    let r = p.run(&[
        "destroy",
        "-e",
        "data",
        "--target",
        "terraform_data.x",
        "--auto-approve",
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    // A keyed address of an instance that does not exist.
    let r = p.run(&["plan", "-e", "data", "--target", "terraform_data.a[3]"]);
    assert_eq!(r.code, 1, "{}", r.all());
    // A real target plans, with Terraform's warning.
    let r = p.run(&["plan", "-e", "data", "--target", "terraform_data.a"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("Resource targeting is in effect"),
        "{}",
        r.all()
    );
    let r = p.run(&["plan", "-e", "data"]);
    assert!(!r.stdout.contains("targeting"), "{}", r.all());
}

// ---- item 22: drift reports --------------------------------------------------

#[test]
fn drift_output_goes_with_its_own_format_and_stdout_gets_one_document() {
    let p = applied();
    let json = p.path().join("d.json");
    let json_s = json.to_str().unwrap();
    let r = p.run(&[
        "drift", "-e", "data", "--format", "text", "--format", "json", "--output", json_s,
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap())
        .expect("d.json holds the JSON report");
    assert_eq!(doc["environment"], "data");
    assert!(
        serde_json::from_str::<serde_json::Value>(&r.stdout).is_err(),
        "text on stdout\n{}",
        r.all()
    );
    assert!(!r.stdout.trim().is_empty(), "{}", r.all());

    std::fs::remove_file(&json).unwrap();
    let r = p.run(&[
        "drift", "-e", "data", "--format", "text", "--format", "json",
    ]);
    assert_eq!(
        r.code,
        1,
        "two documents on stdout must be refused\n{}",
        r.all()
    );
    assert!(r.stderr.contains("stdout"), "{}", r.all());
    assert!(r.stdout.is_empty(), "{}", r.all());
    let r = p.run(&[
        "drift", "-e", "data", "--format", "json", "--output", json_s, "--output", "x",
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(!json.exists());
}

// ---- items 20, 21, 23: progress lines, -v, timestamps --------------------------

#[test]
fn progress_lines_have_ids_and_rfc3339_times_and_v_logs_what_terrace_does() {
    let p = data_project();
    let r = p.run(&["apply", "-e", "data", "--auto-approve", "-v"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let created: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("Creation complete"))
        .collect();
    assert_eq!(created.len(), 2, "{}", r.all());
    for l in &created {
        assert!(l.contains(" [id="), "no [id=…]: {l}");
        let stamp = l.split_whitespace().next().unwrap();
        assert!(is_rfc3339_utc(stamp), "not RFC 3339: {l}");
    }
    for what in ["took the lock", "wrote state", "released the lock"] {
        assert!(
            r.stderr.contains(what),
            "-v does not log {what:?}\n{}",
            r.all()
        );
    }
    let r = p.run(&["plan", "-e", "data", "-vv"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("refreshing"), "{}", r.all());
    for lib in ["sqlx", "hyper", "aws_smithy"] {
        assert!(
            !r.stderr.contains(lib),
            "-vv shows {lib} internals\n{}",
            r.all()
        );
    }
}

// ---- item 7: a hung endpoint ----------------------------------------------------

#[test]
fn a_hung_endpoint_shows_progress_and_ends_with_a_timeout_error() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = Project::new().with_moto(moto);
    let env = format!("hung{}", suffix());
    p.write_env(
        &env,
        &[(
            "main.tf",
            "resource \"aws_vpc\" \"main\" {\n  cidr_block = \"10.71.0.0/16\"\n}\n",
        )],
    );
    let r = p.run(&["apply", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());

    // An endpoint that accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let started = Instant::now();
    let mut child = command(
        &p,
        &["plan", "-e", &env],
        &[("AWS_ENDPOINT_URL", &hung), ("TERRACE_AWS_TIMEOUT", "2s")],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = Vec::new();
    let mut first_sign: Option<Duration> = None;
    for l in stderr.lines() {
        let l = l.unwrap();
        if first_sign.is_none() {
            first_sign = Some(started.elapsed());
        }
        lines.push(l);
    }
    let status = child.wait().unwrap();
    let text = lines.join("\n");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        first_sign.is_some_and(|d| d < Duration::from_secs(5)),
        "no sign of life early: {first_sign:?}\n{text}"
    );
    assert!(text.contains("Refreshing state and planning..."), "{text}");
    assert!(text.contains("did not answer in time"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the timeout is not bounded: {:?}\n{text}",
        started.elapsed()
    );
    let r = p.run(&["destroy", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// With no credentials anywhere, a plan that needs AWS stops with one
/// short diagnostic: no credentials, the sources tried, how to set one —
/// never an SDK dump.
#[test]
fn no_aws_credentials_is_one_short_diagnostic() {
    let p = Project::new();
    let env = format!("nocreds{}", suffix());
    p.write_env(
        &env,
        &[(
            "main.tf",
            "provider \"aws\" {\n  region = \"us-east-1\"\n}\n\ndata \"aws_caller_identity\" \"me\" {}\n",
        )],
    );
    let home = tempfile::tempdir().unwrap();
    // A closed loopback port: nothing may leave this machine.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    // An empty HOME: no ~/.aws files.
    let mut cmd = command(
        &p,
        &["plan", "-e", &env],
        &[
            ("HOME", home.path().to_str().unwrap()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ENDPOINT_URL", &closed),
        ],
    );
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for part in [
        "no valid AWS credentials were found",
        "SSO",
        "IMDS",
        "AWS_ACCESS_KEY_ID",
    ] {
        assert!(stderr.contains(part), "{part:?} missing:\n{stderr}");
    }
    for dump in [
        "DispatchFailure",
        "ConnectorError",
        "Extensions {",
        "source:",
    ] {
        assert!(!stderr.contains(dump), "{dump:?} in:\n{stderr}");
    }
    let line = stderr
        .lines()
        .find(|l| l.contains("no valid AWS credentials"))
        .unwrap();
    assert!(
        line.contains("IMDS") && line.len() < 1500,
        "not one short line:\n{stderr}"
    );
}

// ---- item 1: a config-only tag change is pending, not drift ----------------------

#[test]
fn a_default_tag_changed_in_tfvars_is_pending_not_drift() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = Project::new().with_moto(moto);
    let env = format!("tg{}", suffix());
    let main = r#"
variable "tags" {
  type = map(string)
}

provider "aws" {
  default_tags {
    tags = var.tags
  }
}

resource "aws_vpc" "untagged" {
  cidr_block = "10.72.0.0/16"
}

resource "aws_vpc" "tagged" {
  cidr_block = "10.73.0.0/16"
  tags       = { Name = "tagged" }
}
"#;
    let tfvars =
        |owner: &str| format!("tags = {{\n  Owner = \"{owner}\"\n  CostCenter = \"cc\"\n}}\n");
    p.write_env(
        &env,
        &[
            ("main.tf", main),
            ("terraform.tfvars", &tfvars("platform-team")),
        ],
    );
    let r = p.run(&["apply", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let drift = |extra: &[&str]| {
        let mut args = vec!["drift", "-e", &env, "--format", "json"];
        args.extend_from_slice(extra);
        let r = p.run(&args);
        let doc: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e})\n{}", r.all()));
        (r, doc)
    };
    let (r, doc) = drift(&[]);
    assert_eq!(r.code, 0, "in sync after apply\n{doc:#}");

    p.write_env(&env, &[("terraform.tfvars", &tfvars("someone-else"))]);
    let (r, doc) = drift(&[]);
    assert_eq!(
        r.code, 0,
        "a config-only change is not drift\n{doc:#}\n{}",
        r.stderr
    );
    assert!(doc["drift"].as_array().unwrap().is_empty(), "{doc:#}");
    assert_eq!(doc["counts"]["pending"], 2, "{doc:#}");
    let (r, _) = drift(&["--fail-on", "pending"]);
    assert_eq!(r.code, 2, "{}", r.all());

    // A tag really changed in the cloud still is drift.
    p.write_env(&env, &[("terraform.tfvars", &tfvars("platform-team"))]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = crate::support::sdk_config(moto).await;
        let ec2 = aws_sdk_ec2::Client::new(&cfg);
        let out = ec2
            .describe_vpcs()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag:terrace:address")
                    .values("aws_vpc.tagged")
                    .build(),
            )
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag:terrace:environment")
                    .values(&env)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let id = out.vpcs()[0].vpc_id().unwrap().to_string();
        ec2.create_tags()
            .resources(id)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("Owner")
                    .value("intruder")
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    let (r, doc) = drift(&[]);
    assert_eq!(r.code, 2, "{doc:#}");
    let items = doc["drift"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{doc:#}");
    assert_eq!(items[0]["address"], "aws_vpc.tagged", "{doc:#}");
    let r = p.run(&["destroy", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}
