//! The apply ledger (issue 18 §1): a record for every apply — succeeded,
//! failed mid-apply (a provider error), refused (lock held) and SIGKILLed
//! (closed as interrupted by the next run) — with the CI context of GitHub
//! Actions and GitLab CI runs, and `terrace log` / `terrace log show`.

use crate::support::{Project, suffix};
use terrace_state::{LedgerQuery, LedgerRecord, Outcome, StateStore};

/// Variables that would make a run look like another CI system's (the
/// test itself may run in CI): set empty, which terrace reads as unset.
const NOT_CI: &[(&str, &str)] = &[
    ("GITHUB_ACTIONS", ""),
    ("GITLAB_CI", ""),
    ("BUILDKITE", ""),
    ("CIRCLECI", ""),
    ("JENKINS_URL", ""),
    ("TF_BUILD", ""),
];

fn with_ci<'a>(vars: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<(&str, &str)> = NOT_CI.to_vec();
    out.extend_from_slice(vars);
    out
}

const GITHUB: &[(&str, &str)] = &[
    ("GITHUB_ACTIONS", "true"),
    ("GITHUB_SERVER_URL", "https://github.com"),
    ("GITHUB_REPOSITORY", "acme/infra"),
    ("GITHUB_RUN_ID", "4242"),
    ("GITHUB_JOB", "deploy"),
    ("GITHUB_ACTOR", "octocat"),
    ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
    ("GITHUB_HEAD_REF", "feature/ledger"),
    ("GITHUB_REF", "refs/pull/17/merge"),
];

const GITLAB: &[(&str, &str)] = &[
    ("GITLAB_CI", "true"),
    (
        "CI_PIPELINE_URL",
        "https://gitlab.example.com/acme/infra/-/pipelines/99",
    ),
    ("CI_JOB_NAME", "apply:prod"),
    ("GITLAB_USER_LOGIN", "alice"),
    ("CI_COMMIT_SHA", "fedcba9876543210fedcba9876543210fedcba98"),
    ("CI_COMMIT_REF_NAME", "main"),
    ("CI_MERGE_REQUEST_IID", "8"),
];

const DATA: &str = r#"
resource "terraform_data" "a" {
  input = "one"
}
"#;

fn records(p: &Project, env: &str) -> Vec<LedgerRecord> {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(list(p, env))
}

async fn list(p: &Project, env: &str) -> Vec<LedgerRecord> {
    store(p)
        .await
        .ledger_list(&LedgerQuery {
            env: Some(env.into()),
            since: None,
        })
        .await
        .expect("list the ledger")
}

async fn store(p: &Project) -> std::sync::Arc<dyn StateStore> {
    terrace_state::open_store(
        "sqlite:state/terrace.db",
        p.path(),
        terrace_state::StoreOptions::default(),
    )
    .await
    .expect("open store")
}

#[tokio::test(flavor = "multi_thread")]
async fn succeeded_and_failed_applies_are_recorded_with_ci_context() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = Project::new().with_moto(moto);
    let env = format!("lg{}", suffix());
    let ok =
        format!("{DATA}\nresource \"aws_vpc\" \"main\" {{\n  cidr_block = \"10.70.0.0/16\"\n}}\n");
    p.write_env(&env, &[("main.tf", &ok)]);
    let r = p.run_env(&["apply", "-e", &env, "--auto-approve"], &with_ci(GITHUB));
    assert_eq!(r.code, 0, "{}", r.all());

    // A provider error mid-apply: the subnet does not exist (moto accepts
    // any AMI id, but refuses an unknown subnet).
    let bad = format!(
        "{ok}\nresource \"aws_instance\" \"bad\" {{\n  ami           = \"ami-04681a1dbd79675a5\"\n  instance_type = \"t3.micro\"\n  subnet_id     = \"subnet-0000000000000dead\"\n}}\n\nresource \"terraform_data\" \"b\" {{\n  input = \"two\"\n}}\n"
    );
    p.write_env(&env, &[("main.tf", &bad)]);
    let r = p.run_env(&["apply", "-e", &env, "--auto-approve"], &with_ci(GITLAB));
    assert_eq!(r.code, 1, "{}", r.all());

    let recs = list(&p, &env).await;
    assert_eq!(recs.len(), 2, "{recs:#?}");
    let (first, second) = (&recs[0], &recs[1]);
    assert_eq!(first.outcome, Outcome::Succeeded);
    assert_eq!(first.operation, "apply");
    assert_eq!(first.counts.creates, 2);
    assert_eq!(first.changed, ["aws_vpc.main", "terraform_data.a"]);
    assert_eq!(first.serial_before, None);
    assert!(first.serial_after.is_some());
    assert_eq!(first.plan_hash.as_deref().map(str::len), Some(64));
    assert!(first.ended_at.is_some());
    let gh = first.identity.ci.as_ref().expect("GitHub context");
    assert_eq!(gh.system, "github_actions");
    assert_eq!(
        gh.run_url.as_deref(),
        Some("https://github.com/acme/infra/actions/runs/4242")
    );
    assert_eq!(gh.actor.as_deref(), Some("octocat"));
    assert_eq!(gh.branch.as_deref(), Some("feature/ledger"));
    assert_eq!(gh.change_request.as_deref(), Some("17"));
    assert!(first.identity.os_user.contains('@'));

    assert_eq!(second.outcome, Outcome::Failed, "{second:#?}");
    assert_eq!(second.failed.len(), 1, "{second:#?}");
    assert_eq!(second.failed[0].address, "aws_instance.bad");
    assert!(!second.failed[0].error.is_empty());
    assert_eq!(second.changed, ["terraform_data.b"], "{second:#?}");
    assert_eq!(second.serial_before, first.serial_after);
    let gl = second.identity.ci.as_ref().expect("GitLab context");
    assert_eq!(gl.system, "gitlab_ci");
    assert_eq!(
        gl.run_url.as_deref(),
        Some("https://gitlab.example.com/acme/infra/-/pipelines/99")
    );
    assert_eq!(gl.actor.as_deref(), Some("alice"));
    assert_eq!(gl.branch.as_deref(), Some("main"));
    assert_eq!(gl.change_request.as_deref(), Some("8"));
    assert_eq!(
        gl.commit_sha.as_deref(),
        Some("fedcba9876543210fedcba9876543210fedcba98")
    );

    // terrace log: text, JSON, CSV, --outcome, show.
    let r = p.run(&["log", "-e", &env]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains(&first.id) && r.stdout.contains(&second.id),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("octocat (github_actions)"), "{}", r.all());
    let r = p.run(&["log", "-e", &env, "--outcome", "failed", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let listed: Vec<LedgerRecord> = serde_json::from_str(&r.stdout).expect("JSON records");
    assert_eq!(listed, vec![second.clone()]);
    let r = p.run(&["log", "--all", "--since", "1h", "--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.all());
    assert!(lines[0].starts_with("id,environment,operation"));
    assert!(lines[2].contains(",failed,") && lines[2].contains("aws_instance.bad"));
    let r = p.run(&["log", "show", &second.id]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("outcome         failed"), "{}", r.all());
    assert!(r.stdout.contains("aws_instance.bad: "), "{}", r.all());
    assert!(r.stdout.contains("pr/mr           8"), "{}", r.all());
    let r = p.run(&["log", "show", "no-such-id"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("no ledger record no-such-id"),
        "{}",
        r.all()
    );
    let r = p.run(&["log"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("pass -e ENV"), "{}", r.all());
}

#[test]
fn a_run_refused_because_the_lock_is_held_is_recorded() {
    let p = Project::new();
    p.write_env("data", &[("main.tf", DATA)]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let held = rt.block_on(async {
        let store = store(&p).await;
        store
            .acquire_lock("data", &terrace_state::LockInfo::new("apply"))
            .await
            .expect("take the lock")
    });
    let r = p.run_env(&["apply", "-e", "data", "--auto-approve"], NOT_CI);
    assert_eq!(r.code, 1, "{}", r.all());
    let recs = records(&p, "data");
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert_eq!(recs[0].outcome, Outcome::Refused);
    assert!(
        recs[0].error.as_deref().unwrap_or("").contains("lock"),
        "{recs:#?}"
    );
    assert_eq!(recs[0].identity.ci, None);
    // Nothing was applied.
    assert_eq!(recs[0].counts, Default::default());
    rt.block_on(async { store(&p).await.release_lock(&held.lease).await.unwrap() });
}

#[test]
fn a_sigkilled_run_is_closed_as_interrupted_by_the_next_run() {
    let p = Project::new();
    p.write_env("data", &[("main.tf", DATA)]);
    let lease = [("TERRACE_LOCK_LEASE", "1s")];
    let (mut child, _stdin, _stderr) = p.at_prompt(&["apply", "-e", "data"], &lease);
    // The record is open while the run waits for confirmation.
    let open = records(&p, "data");
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0].outcome, Outcome::Open);
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    assert_eq!(records(&p, "data")[0].outcome, Outcome::Open);

    // The next run takes the expired lock over and closes the record.
    let r = p.run_env(
        &[
            "apply",
            "-e",
            "data",
            "--auto-approve",
            "--lock-timeout",
            "30s",
        ],
        &[("TERRACE_LOCK_LEASE", "1s")],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let recs = records(&p, "data");
    assert_eq!(recs.len(), 2, "{recs:#?}");
    assert_eq!(recs[0].id, open[0].id);
    assert_eq!(recs[0].outcome, Outcome::Interrupted);
    assert!(recs[0].ended_at.is_some());
    assert_eq!(recs[1].outcome, Outcome::Succeeded);
    assert_eq!(recs[1].changed, ["terraform_data.a"]);
}

/// Outside GitLab (whose variables carry the commit's time), the commit
/// time for the lead time comes from git: a GitHub Actions run of a
/// commit made two hours ago in the checkout records that time; a commit
/// git does not have leaves it unknown.
#[test]
fn the_commit_time_comes_from_git_when_the_ci_does_not_give_it() {
    let p = Project::new();
    p.write_env("lt", &[("main.tf", DATA)]);
    let when = (chrono::Utc::now() - chrono::Duration::hours(2))
        .with_timezone(&chrono::FixedOffset::east_opt(0).unwrap());
    let when_s = when.to_rfc3339();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(p.path())
            .env("GIT_COMMITTER_DATE", &when_s)
            .env("GIT_AUTHOR_DATE", &when_s)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "environments"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-q",
        "-m",
        "v1",
    ]);
    let sha = git(&["rev-parse", "HEAD"]);
    let mut vars: Vec<(&str, &str)> = GITHUB
        .iter()
        .copied()
        .filter(|(k, _)| *k != "GITHUB_SHA")
        .collect();
    vars.push(("GITHUB_SHA", sha.as_str()));
    let r = p.run_env(&["apply", "-e", "lt", "--auto-approve"], &with_ci(&vars));
    assert_eq!(r.code, 0, "{}", r.all());
    let recs = records(&p, "lt");
    let ci = recs[0].identity.ci.as_ref().expect("ci context");
    assert_eq!(ci.commit_sha.as_deref(), Some(sha.as_str()));
    assert_eq!(
        ci.commit_time.map(|t| t.timestamp()),
        Some(when.timestamp()),
        "{ci:#?}"
    );

    // A commit this checkout does not have: no time, and no error.
    p.write_env("lt", &[("main.tf", &DATA.replace("one", "two"))]);
    let r = p.run_env(&["apply", "-e", "lt", "--auto-approve"], &with_ci(GITHUB));
    assert_eq!(r.code, 0, "{}", r.all());
    let recs = records(&p, "lt");
    let ci = recs[1].identity.ci.as_ref().expect("ci context");
    assert_eq!(ci.commit_time, None, "{ci:#?}");

    // The lead time is reported from the first run.
    let r = p.run(&["report", "-e", "lt", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let lead = doc["environments"]["lt"]["lead_time_median_hours"]
        .as_f64()
        .expect("a lead time");
    assert!((1.9..3.0).contains(&lead), "{lead}");
}
