//! Ephemeral environments from the shipped `environments/preview` template:
//! create side by side, outputs for later pipeline stages, TTL expiry and
//! `env gc` with the test clock (TERRACE_NOW), destroy failures that gc
//! finishes, concurrent creates, name validation, and the commands the
//! example CI pipelines run.

use crate::support::{Project, Run, owned_ec2_ids, sdk_config};
use chrono::{DateTime, Utc};
use std::process::{Command, Stdio};
use terrace_testkit::Moto;

/// A temporary project holding a copy of the repository's preview template.
fn preview_project() -> Project {
    let project = Project::new();
    let src = terrace_testkit::workspace_root().join("environments/preview");
    let dst = project.path().join("environments/preview");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).expect("environments/preview") {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
    project
}

fn create(project: &Project, name: &str, ttl: &str) -> Run {
    project.run(&[
        "env",
        "create",
        name,
        "--from",
        "preview",
        "--ttl",
        ttl,
        "--auto-approve",
    ])
}

/// `env list --json`, by name.
fn env_list(project: &Project) -> Vec<serde_json::Value> {
    let r = project.run(&["env", "list", "--json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    serde_json::from_str::<Vec<serde_json::Value>>(&r.stdout)
        .unwrap_or_else(|e| panic!("env list --json: {e}\n{}", r.all()))
}

fn listed(project: &Project, name: &str) -> Option<serde_json::Value> {
    env_list(project).into_iter().find(|r| r["name"] == name)
}

fn expiry(rec: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rec["expires_at"].as_str().expect("expires_at"))
        .expect("RFC 3339 expiry")
        .with_timezone(&Utc)
}

/// `output -e NAME --format json` as name → value.
fn outputs(project: &Project, name: &str) -> serde_json::Map<String, serde_json::Value> {
    let r = project.run(&["output", "-e", name, "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("json outputs");
    doc.as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| (k.clone(), v["value"].clone()))
        .collect()
}

/// What of the environment is still alive in the account: EC2 objects with
/// its ownership tag, its ECR repository and its S3 bucket (by name).
async fn leftovers(moto: &Moto, env: &str) -> Vec<String> {
    let cfg = sdk_config(moto).await;
    let mut left = owned_ec2_ids(&aws_sdk_ec2::Client::new(&cfg), env).await;
    let prefix = format!("terrace-{env}");
    let repos = aws_sdk_ecr::Client::new(&cfg)
        .describe_repositories()
        .send()
        .await
        .expect("describe repositories");
    left.extend(
        repos
            .repositories()
            .iter()
            .filter_map(|r| r.repository_name())
            .filter(|n| *n == format!("{prefix}/app"))
            .map(|n| format!("ecr:{n}")),
    );
    let buckets = aws_sdk_s3::Client::new(&cfg)
        .list_buckets()
        .send()
        .await
        .expect("list buckets");
    left.extend(
        buckets
            .buckets()
            .iter()
            .filter_map(|b| b.name())
            .filter(|n| n.starts_with(&format!("{prefix}-artifacts-")))
            .map(|n| format!("s3:{n}")),
    );
    left
}

#[tokio::test(flavor = "multi_thread")]
async fn previews_side_by_side_outputs_and_ttl_gc() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let project = preview_project().with_moto(moto);

    // Two previews from one template live side by side.
    let r = create(&project, "pr-1", "1h");
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("6 added"), "{}", r.all());
    let r = create(&project, "pr-2", "4h");
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("6 added"), "{}", r.all());

    // Outputs as JSON, each environment its own values.
    let o1 = outputs(&project, "pr-1");
    let o2 = outputs(&project, "pr-2");
    assert_eq!(o1["environment"], "pr-1", "{o1:?}");
    assert_eq!(o2["environment"], "pr-2", "{o2:?}");
    for key in [
        "vpc_id",
        "subnet_id",
        "repository_url",
        "bucket",
        "instance_id",
    ] {
        let (a, b) = (o1[key].as_str().unwrap(), o2[key].as_str().unwrap());
        assert!(!a.is_empty() && a != b, "{key}: {a} vs {b}");
    }
    assert!(o1["vpc_id"].as_str().unwrap().starts_with("vpc-"));
    assert!(
        o1["repository_url"]
            .as_str()
            .unwrap()
            .ends_with("/terrace-pr-1/app"),
        "{o1:?}"
    );

    // dotenv: upper-case names, the same values.
    let r = project.run(&["output", "-e", "pr-1", "--format", "dotenv"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let dotenv: Vec<(&str, &str)> = r
        .stdout
        .lines()
        .map(|l| {
            l.split_once('=')
                .unwrap_or_else(|| panic!("bad line {l:?}"))
        })
        .collect();
    assert!(
        dotenv.contains(&("VPC_ID", o1["vpc_id"].as_str().unwrap())),
        "{dotenv:?}"
    );
    assert!(dotenv.contains(&("ENVIRONMENT", "pr-1")), "{dotenv:?}");
    assert_eq!(dotenv.len(), o1.len(), "{}", r.stdout);

    // github: appended to the file named by GITHUB_OUTPUT, keeping what is there.
    let gh = project.path().join("github_output");
    std::fs::write(&gh, "earlier=step\n").unwrap();
    let r = project.run_env(
        &["output", "-e", "pr-2", "--format", "github"],
        &[("GITHUB_OUTPUT", gh.to_str().unwrap())],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let text = std::fs::read_to_string(&gh).unwrap();
    assert!(text.starts_with("earlier=step\n"), "{text}");
    assert!(text.contains("\nenvironment=pr-2\n"), "{text}");
    assert!(
        text.contains(&format!("\nvpc_id={}\n", o2["vpc_id"].as_str().unwrap())),
        "{text}"
    );
    // Without GITHUB_OUTPUT it is an error, not silence.
    let r = project.run(&["output", "-e", "pr-2", "--format", "github"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("GITHUB_OUTPUT"), "{}", r.all());

    // env list: both ephemeral, active, with resource counts and expiry.
    let (l1, l2) = (
        listed(&project, "pr-1").unwrap(),
        listed(&project, "pr-2").unwrap(),
    );
    for l in [&l1, &l2] {
        assert_eq!(l["kind"], "ephemeral", "{l}");
        assert_eq!(l["status"], "active", "{l}");
        assert_eq!(l["template"], "preview", "{l}");
        assert_eq!(l["resources"], 6, "{l}");
        assert_eq!(l["expired"], false, "{l}");
    }
    let (e1, e2) = (expiry(&l1), expiry(&l2));
    let created = |l: &serde_json::Value| {
        DateTime::parse_from_rfc3339(l["created_at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc)
    };
    assert_eq!(e1 - created(&l1), chrono::Duration::hours(1));
    assert_eq!(e2 - created(&l2), chrono::Duration::hours(4));
    let r = project.run(&["env", "list"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let row = r.stdout.lines().find(|l| l.starts_with("pr-2 ")).unwrap();
    assert!(
        row.contains("active") && row.contains(" 6 "),
        "{}",
        r.stdout
    );
    assert!(
        row.contains("in 3h59m") || row.contains("in 4h0m"),
        "{}",
        r.stdout
    );

    // The test clock: after pr-1's expiry, before pr-2's.
    let later = (e1 + chrono::Duration::minutes(5)).to_rfc3339();
    assert!(e1 + chrono::Duration::minutes(5) < e2);
    let now = [("TERRACE_NOW", later.as_str())];

    // Listing shows pr-1 as expired at that time.
    let r = project.run_env(&["env", "list", "--json"], &now);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let expired: Vec<&str> = rows
        .iter()
        .filter(|x| x["expired"] == true)
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(expired, ["pr-1"], "{}", r.all());

    // gc --dry-run lists without destroying.
    let r = project.run_env(&["env", "gc", "--dry-run"], &now);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("would destroy 'pr-1'"), "{}", r.all());
    assert!(!r.stdout.contains("pr-2"), "{}", r.all());
    assert!(leftovers(moto, "pr-1").await.len() >= 5);
    assert_eq!(listed(&project, "pr-1").unwrap()["status"], "active");

    // gc destroys pr-1 only.
    let r = project.run_env(&["env", "gc"], &now);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("Environment 'pr-1' destroyed."),
        "{}",
        r.all()
    );
    assert!(!r.stdout.contains("pr-2"), "{}", r.all());
    let left = leftovers(moto, "pr-1").await;
    assert!(left.is_empty(), "pr-1 left behind: {left:?}");
    assert!(
        listed(&project, "pr-1").is_none(),
        "pr-1's record must be gone"
    );
    // Later stages (and the example pipelines) see that it is gone.
    let r = project.run(&["output", "-e", "pr-1"]);
    assert_eq!(r.code, 1, "{}", r.all());

    // pr-2 is untouched: everything alive, record active, outputs unchanged.
    let alive = leftovers(moto, "pr-2").await;
    for want in ["vpc-", "subnet-", "sg-", "i-", "ecr:", "s3:"] {
        assert!(
            alive.iter().any(|x| x.starts_with(want)),
            "{want}: {alive:?}"
        );
    }
    let l2 = listed(&project, "pr-2").unwrap();
    assert_eq!(l2["status"], "active", "{l2}");
    assert_eq!(l2["resources"], 6, "{l2}");
    assert_eq!(outputs(&project, "pr-2"), o2);

    // A second gc at that time has nothing to do.
    let r = project.run_env(&["env", "gc"], &now);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("No expired environments."), "{}", r.all());

    // extend pushes the expiry out from now.
    let r = project.run_env(&["env", "extend", "pr-2", "--ttl", "2d"], &now);
    assert_eq!(r.code, 0, "{}", r.all());
    let new_exp = expiry(&listed(&project, "pr-2").unwrap());
    assert_eq!(
        new_exp,
        DateTime::parse_from_rfc3339(&later)
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::days(2)
    );
    assert!(new_exp > e2);

    // env destroy removes the rest.
    let r = project.run(&["env", "destroy", "pr-2", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(listed(&project, "pr-2").is_none());
    let left = leftovers(moto, "pr-2").await;
    assert!(left.is_empty(), "pr-2 left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_destroy_is_recorded_and_gc_finishes_it() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let project = preview_project().with_moto(moto);
    let r = create(&project, "pr-5", "4h");
    assert_eq!(r.code, 0, "{}", r.all());
    let vpc = outputs(&project, "pr-5")["vpc_id"]
        .as_str()
        .unwrap()
        .to_string();

    // A subnet made outside terrace keeps the VPC from being deleted
    // (DependencyViolation, which destroy retries for TERRACE_DELETE_RETRY).
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config(moto).await);
    let blocker = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.100.99.0/24")
        .send()
        .await
        .expect("create blocking subnet")
        .subnet()
        .and_then(|s| s.subnet_id())
        .unwrap()
        .to_string();

    let retry = [("TERRACE_DELETE_RETRY", "2s")];
    let r = project.run_env(&["env", "destroy", "pr-5", "--auto-approve"], &retry);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("DependencyViolation"), "{}", r.all());
    let rec = listed(&project, "pr-5").expect("the record stays");
    assert_eq!(rec["status"], "destroy_failed", "{rec}");
    let detail = rec["status_detail"].as_str().unwrap();
    assert!(
        detail.contains("aws_vpc.preview") && detail.contains("DependencyViolation"),
        "the reason is recorded: {rec}"
    );
    assert_eq!(rec["resources"], 1, "{rec}");
    let left = leftovers(moto, "pr-5").await;
    assert_eq!(left, std::slice::from_ref(&vpc), "only the VPC is left");

    // Not expired, but gc takes over failed destroys; dry-run says why.
    let r = project.run(&["env", "gc", "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("would destroy 'pr-5'") && r.stdout.contains("destroy failed"),
        "{}",
        r.all()
    );

    // While the blocker is there, gc fails again and says so.
    let r = project.run_env(&["env", "gc"], &retry);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(
        listed(&project, "pr-5").unwrap()["status"],
        "destroy_failed"
    );

    // Remove the blocker: the next gc finishes the job.
    ec2.delete_subnet()
        .subnet_id(&blocker)
        .send()
        .await
        .expect("delete blocker");
    let r = project.run_env(&["env", "gc"], &retry);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("Environment 'pr-5' destroyed."),
        "{}",
        r.all()
    );
    assert!(listed(&project, "pr-5").is_none());
    let left = leftovers(moto, "pr-5").await;
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_creates_of_one_name_let_exactly_one_win() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let project = preview_project().with_moto(moto);
    let spawn = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrace"));
        cmd.current_dir(project.path())
            .args([
                "env",
                "create",
                "pr-3",
                "--from",
                "preview",
                "--ttl",
                "1h",
                "--auto-approve",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("TERRACE_STATE")
            .env_remove("TERRACE_STATE_KEY")
            .env_remove("AWS_PROFILE");
        for (k, v) in &project.env {
            cmd.env(k, v);
        }
        cmd.spawn().expect("spawn terrace")
    };
    // Both start before either finishes (the state database does not exist yet either).
    let (a, b) = (spawn(), spawn());
    let outs = [a, b].map(|c| c.wait_with_output().expect("wait"));
    let codes: Vec<i32> = outs.iter().map(|o| o.status.code().unwrap_or(-1)).collect();
    let all: String = outs
        .iter()
        .map(|o| {
            format!(
                "--- stdout\n{}\n--- stderr\n{}\n",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        })
        .collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(sorted, [0, 1], "exactly one create wins\n{all}");
    let loser = &outs[codes.iter().position(|c| *c == 1).unwrap()];
    let err = String::from_utf8_lossy(&loser.stderr);
    assert!(
        err.contains("environment 'pr-3' already exists (status: "),
        "clear message: {err}"
    );
    // The loser touched nothing: one of each object, all active.
    let rec = listed(&project, "pr-3").unwrap();
    assert_eq!(rec["status"], "active", "{rec}");
    assert_eq!(rec["resources"], 6, "{rec}");
    let cfg = sdk_config(moto).await;
    let live = owned_ec2_ids(&aws_sdk_ec2::Client::new(&cfg), "pr-3").await;
    assert_eq!(
        live.iter().filter(|x| x.starts_with("vpc-")).count(),
        1,
        "{live:?}"
    );
    assert_eq!(
        live.iter().filter(|x| x.starts_with("i-")).count(),
        1,
        "{live:?}"
    );

    let r = project.run(&["env", "destroy", "pr-3", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let left = leftovers(moto, "pr-3").await;
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(listed(&project, "pr-3").is_none());
}

/// Issue 23.4: an `env create` refused for lack of --auto-approve made
/// nothing, so it leaves no registration behind and the retry succeeds.
#[test]
fn a_refused_create_is_rolled_back_and_the_retry_succeeds() {
    let project = Project::new();
    project.write_env(
        "tpl",
        &[(
            "main.tf",
            "resource \"terraform_data\" \"x\" {\n  input = \"a\"\n}\n",
        )],
    );
    let r = project.run(&["env", "create", "pr-5", "--from", "tpl", "--ttl", "1h"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("--auto-approve"), "{}", r.all());
    assert!(
        r.stderr.contains("registration of 'pr-5' was removed"),
        "{}",
        r.all()
    );
    assert!(listed(&project, "pr-5").is_none());
    let r = project.run(&[
        "env",
        "create",
        "pr-5",
        "--from",
        "tpl",
        "--ttl",
        "1h",
        "--auto-approve",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    let rec = listed(&project, "pr-5").unwrap();
    assert_eq!(rec["status"], "active", "{rec}");
}

/// Refused before anything touches the cloud, so no moto needed.
#[test]
fn bad_names_and_unknown_environments_are_clear_errors() {
    let project = preview_project();
    let r = project.run(&[
        "env",
        "create",
        "PR_1",
        "--from",
        "preview",
        "--ttl",
        "1h",
        "--auto-approve",
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("'PR_1' is not DNS-safe") && r.stderr.contains("e.g. pr-42"),
        "{}",
        r.all()
    );
    let long = format!("pr-{}", "9".repeat(40));
    let r = project.run(&[
        "env",
        "create",
        &long,
        "--from",
        "preview",
        "--auto-approve",
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("43 characters long; the limit is 28"),
        "{}",
        r.all()
    );
    let r = project.run(&[
        "env",
        "create",
        "pr-1",
        "--from",
        "preview",
        "--ttl",
        "4x",
        "--auto-approve",
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("invalid time-to-live"), "{}", r.all());
    // Issue 22.15: a template outside environments/ is refused by name.
    std::fs::create_dir_all(project.path().join("outside")).unwrap();
    std::fs::write(
        project.path().join("outside/main.tf"),
        "resource \"terraform_data\" \"x\" {}\n",
    )
    .unwrap();
    let r = project.run(&[
        "env",
        "create",
        "pr-1",
        "--from",
        "../outside",
        "--auto-approve",
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("'../outside' is not a valid template name"),
        "{}",
        r.all()
    );
    let r = project.run(&["env", "create", "pr-1", "--from", "nope", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("template 'nope' not found"),
        "{}",
        r.all()
    );
    // Nothing was registered by any of those.
    let r = project.run(&["env", "list", "--json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let rows: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert!(rows.iter().all(|x| x["kind"] != "ephemeral"), "{rows:?}");

    let r = project.run(&["env", "destroy", "pr-77", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("no environment named 'pr-77'"),
        "{}",
        r.all()
    );
    let r = project.run(&["env", "extend", "pr-77", "--ttl", "2h"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("no ephemeral environment named 'pr-77'"),
        "{}",
        r.all()
    );
    // The example pipelines create a preview only when this fails.
    let r = project.run(&["output", "-e", "pr-77"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("'pr-77'"), "{}", r.all());
}

/// The commands of examples/{github-actions,gitlab-ci} preview pipelines, in
/// their order: exist? → create → outputs → (next push) exists → destroy → gone.
#[tokio::test(flavor = "multi_thread")]
async fn example_preview_pipelines_run_as_written() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let root = terrace_testkit::workspace_root();
    let gha = std::fs::read_to_string(root.join("examples/github-actions/preview.yml")).unwrap();
    let gl =
        std::fs::read_to_string(root.join("examples/gitlab-ci/preview.gitlab-ci.yml")).unwrap();
    let exists = r#"if terrace output -e "$PREVIEW" > /dev/null 2>&1; then"#;
    let create_cmd = r#"terrace env create "$PREVIEW" --from preview --ttl 4h --auto-approve"#;
    let destroy_cmd = r#"terrace env destroy "$PREVIEW" --auto-approve"#;
    for (file, text) in [("github-actions", &gha), ("gitlab-ci", &gl)] {
        for cmd in [
            exists,
            create_cmd,
            destroy_cmd,
            "terrace env list",
            "terrace env gc",
        ] {
            assert!(text.contains(cmd), "{file} no longer runs `{cmd}`");
        }
    }
    assert!(gha.contains(r#"terrace output -e "$PREVIEW" --format github"#));
    assert!(gl.contains(r#"terrace output -e "$PREVIEW" --format dotenv > preview.env"#));
    // Every `terrace …` line of the examples parses (no unknown flags).
    let project = preview_project().with_moto(moto);
    let mut parsed = 0;
    for line in gha.lines().chain(gl.lines()) {
        let mut cmd = line.trim_start();
        for prefix in ["- ", "run: ", "if "] {
            cmd = cmd.strip_prefix(prefix).unwrap_or(cmd);
        }
        if !cmd.starts_with("terrace ") {
            continue;
        }
        parsed += 1;
        let words: Vec<String> = cmd
            .split(['>', ';'])
            .next()
            .unwrap()
            .split_whitespace()
            .skip(1)
            .map(|w| w.trim_matches('"').replace("$PREVIEW", "pr-7"))
            .take_while(|w| w != "then")
            .collect();
        let mut help: Vec<&str> = words
            .iter()
            .map(String::as_str)
            .filter(|w| !w.is_empty())
            .collect();
        help.push("--help");
        // clap checks every flag before acting on --help.
        let r = project.run(&help);
        assert_eq!(r.code, 0, "`{cmd}` does not parse\n{}", r.all());
    }
    assert!(
        parsed >= 10,
        "only {parsed} terrace commands found in the examples"
    );

    let pr = [("PREVIEW", "pr-7")];
    let sh = |script: &str, extra: &[(&str, &str)]| -> Run {
        let mut env: Vec<(&str, &str)> = pr.to_vec();
        env.extend_from_slice(extra);
        let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_terrace"))
            .parent()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
        let mut cmd = Command::new("bash");
        cmd.current_dir(project.path())
            .args(["-euo", "pipefail", "-c", script])
            .stdin(Stdio::null())
            .env("PATH", path)
            .env_remove("TERRACE_STATE");
        for (k, v) in &project.env {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let o = cmd.output().expect("bash");
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    };
    let provision =
        format!("{exists}\n  echo \"$PREVIEW already exists.\"\nelse\n  {create_cmd}\nfi\n");

    // First push: created.
    let r = sh(&provision, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("6 added"), "{}", r.all());
    let gh = project.path().join("gh_out");
    let r = sh(
        r#"terrace output -e "$PREVIEW" --format github >> "$GITHUB_OUTPUT""#,
        &[("GITHUB_OUTPUT", gh.to_str().unwrap())],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let text = std::fs::read_to_string(&gh).unwrap();
    assert!(
        text.contains("repository_url=") && text.contains("app_url=http://"),
        "{text}"
    );
    let r = sh(
        r#"terrace output -e "$PREVIEW" --format dotenv > preview.env"#,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let dotenv = std::fs::read_to_string(project.path().join("preview.env")).unwrap();
    assert!(
        dotenv.contains("REPOSITORY_URL=") && dotenv.contains("ENVIRONMENT=pr-7"),
        "{dotenv}"
    );

    // Next push: found, not created again.
    let r = sh(&provision, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("pr-7 already exists."), "{}", r.all());

    // Closed: destroyed; a reopened PR would create it afresh.
    let r = sh(destroy_cmd, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(leftovers(moto, "pr-7").await.is_empty());
    let r = sh(&provision, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("6 added"),
        "recreated after reopen\n{}",
        r.all()
    );
    let r = sh("terrace env list\nterrace env gc", &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("pr-7"), "{}", r.all());
    let r = sh(destroy_cmd, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(leftovers(moto, "pr-7").await.is_empty());
}

/// Issue 20: `env gc` ends the history of destroyed environments once it is
/// older than the history retention (90 days by default): within it the
/// versions stay (inspection, `state history`), past it nothing remains —
/// while a live environment keeps its newest version whatever its age.
#[tokio::test(flavor = "multi_thread")]
async fn env_gc_ends_the_history_of_destroyed_environments() {
    let project = Project::new();
    project.write_env(
        "tpl",
        &[(
            "main.tf",
            "resource \"terraform_data\" \"x\" {\n  input = \"a\"\n}\n",
        )],
    );
    let r = project.run(&["apply", "-e", "tpl", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    for name in ["pr-7", "pr-8"] {
        let r = project.run(&[
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
    let r = project.run(&["env", "destroy", "pr-7", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let store = terrace_state::open_store(
        "sqlite:state/terrace.db",
        project.path(),
        terrace_state::StoreOptions::default(),
    )
    .await
    .unwrap();
    let versions = |env: &'static str| {
        let store = store.clone();
        async move { store.history(env).await.unwrap().len() }
    };
    assert!(versions("pr-7").await > 0);
    // Within the retention: kept.
    let r = project.run(&["env", "gc"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.stdout.contains("state version"), "{}", r.all());
    assert!(versions("pr-7").await > 0);
    // 100 days on (pr-8 expired too, and is reaped by the same run: its
    // history was written just now, so it stays).
    let later = (chrono::Utc::now() + chrono::Duration::days(100)).to_rfc3339();
    let r = project.run_env(&["env", "gc"], &[("TERRACE_NOW", later.as_str())]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("old state version(s) of 1 destroyed environment(s)"),
        "{}",
        r.all()
    );
    assert_eq!(versions("pr-7").await, 0);
    assert!(versions("pr-8").await > 0, "pr-8's history is new");
    assert!(
        versions("tpl").await > 0,
        "a live environment keeps its newest version"
    );
    assert!(
        !store
            .history_environments()
            .await
            .unwrap()
            .contains(&"pr-7".to_string())
    );
}
