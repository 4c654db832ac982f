//! Protected environments and guardrails (issue 19 §2), against moto with
//! SQLite state: an unapproved plan is refused; a plan approved by a second
//! identity (other AWS credentials: an IAM user moto issued keys for)
//! applies; an approval of another plan does not count; a plan file edited
//! after its approval is refused; self-approval is refused; max_deletes
//! with --allow-destructive; a freeze window with the test clock and
//! --break-glass (recorded and notified); promotion from stage by commit;
//! ephemeral max_ttl, max_count and default_ttl (reaped by env gc); and
//! `env diff`.

use crate::support::{Project, Run, suffix};
use std::io::{Read, Write};
use terrace_state::{LedgerQuery, LedgerRecord, Outcome, StateStore};

/// Variables that would make a run look like a CI run (the test itself may
/// run in CI): set empty, which terrace reads as unset.
const NOT_CI: &[(&str, &str)] = &[
    ("GITHUB_ACTIONS", ""),
    ("GITLAB_CI", ""),
    ("BUILDKITE", ""),
    ("CIRCLECI", ""),
    ("JENKINS_URL", ""),
    ("TF_BUILD", ""),
    ("TERRACE_NOW", ""),
];

fn hcl(extra: &str) -> String {
    format!(
        "environments_dir = \"environments\"\nstate {{\n  url = \"sqlite:state/terrace.db\"\n}}\n{extra}"
    )
}

/// An environment with the AWS provider (so runs have an AWS caller
/// identity), one VPC and `n` terraform_data instances.
fn config(tag: &str) -> String {
    format!(
        r#"
variable "n" {{
  type    = number
  default = 1
}}

resource "aws_vpc" "main" {{
  cidr_block = "10.91.0.0/16"
  tags       = {{ Name = "guard-${{terrace.environment}}", Tag = "{tag}" }}
}}

resource "terraform_data" "item" {{
  count = var.n
  input = "item-${{count.index}}"
}}
"#
    )
}

fn project(moto: &terrace_testkit::Moto, extra: &str) -> Project {
    let p = Project::new().with_moto(moto);
    std::fs::write(p.path().join("terrace.hcl"), hcl(extra)).unwrap();
    p
}

fn run(p: &Project, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let mut env: Vec<(&str, &str)> = NOT_CI.to_vec();
    env.extend_from_slice(extra);
    p.run_env(args, &env)
}

async fn store(p: &Project) -> std::sync::Arc<dyn StateStore> {
    terrace_state::open_store(
        "sqlite:state/terrace.db",
        p.path(),
        terrace_state::StoreOptions::default(),
    )
    .await
    .expect("open the project's store")
}

async fn records(p: &Project, env: &str) -> Vec<LedgerRecord> {
    store(p)
        .await
        .ledger_list(&LedgerQuery {
            env: Some(env.into()),
            since: None,
        })
        .await
        .unwrap()
}

/// One IAM query-protocol call to moto (moto does not check signatures);
/// returns the response body.
fn iam_call(endpoint: &str, params: &str) -> String {
    let hostport = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hostport).expect("connect to moto");
    let body = format!("{params}&Version=2010-05-08");
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "IAM {params}: {out}");
    out
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text.find(open).expect(open) + open.len();
    let end = text[start..].find(close).expect(close) + start;
    &text[start..end]
}

/// A second person: an IAM user with its own access key, so STS
/// GetCallerIdentity names that user.
fn second_identity(endpoint: &str, name: &str) -> (String, String) {
    iam_call(endpoint, &format!("Action=CreateUser&UserName={name}"));
    let out = iam_call(endpoint, &format!("Action=CreateAccessKey&UserName={name}"));
    (
        between(&out, "<AccessKeyId>", "</AccessKeyId>").to_string(),
        between(&out, "<SecretAccessKey>", "</SecretAccessKey>").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn protected_environments_apply_only_plans_approved_by_someone_else() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let env = format!("prod-{}", suffix());
    let p = project(
        moto,
        &format!("environment \"{env}\" {{\n  protected = true\n  approvals = 1\n}}\n"),
    );
    p.write_env(&env, &[("main.tf", &config("a"))]);

    // Not from a saved plan: refused, recorded as refused.
    let r = run(&p, &["apply", "-e", &env, "--auto-approve"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("is a protected environment"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("terrace approve"), "{}", r.all());
    let recs = records(&p, &env).await;
    assert_eq!(recs.last().unwrap().outcome, Outcome::Refused, "{recs:?}");

    // Two plans by the author (default credentials).
    let r = run(&p, &["plan", "-e", &env, "-out", "one.tfplan"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = run(
        &p,
        &["plan", "-e", &env, "-out", "two.tfplan", "--var", "n=2"],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let one = p.path().join("one.tfplan");
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&one).unwrap()).unwrap();
    let author = file["guard"]["principal"].as_str().unwrap().to_string();
    assert!(author.contains("user/moto"), "{file}");

    // Unapproved: refused, naming what is missing.
    let r = run(&p, &["apply", "one.tfplan"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("has 0 of the 1 approval(s)"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("terrace approve one.tfplan"),
        "{}",
        r.all()
    );

    // Self-approval: refused, nothing recorded.
    let r = run(&p, &["approve", "one.tfplan"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("you (") && r.stderr.contains("made this plan"),
        "{}",
        r.all()
    );
    assert!(
        store(&p)
            .await
            .approvals(&env, None)
            .await
            .unwrap()
            .is_empty()
    );

    // A second identity approves the *other* plan: it does not count for one.tfplan.
    let bob = format!("bob-{}", suffix());
    let (key, secret) = second_identity(&moto.endpoint, &bob);
    let as_bob = [
        ("AWS_ACCESS_KEY_ID", key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
    ];
    let r = run(
        &p,
        &["approve", "two.tfplan", "--comment", "n=2 is fine"],
        &as_bob,
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains(&format!("user/{bob}")), "{}", r.all());
    let r = run(&p, &["apply", "one.tfplan"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("has 0 of the 1 approval(s)"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("approvals exist for other plan files"),
        "{}",
        r.all()
    );

    // Approved by bob, then edited: the edited file is refused.
    let r = run(&p, &["approve", "one.tfplan"], &as_bob);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("It has 1 of 1 approval(s)"),
        "{}",
        r.all()
    );
    let text = std::fs::read_to_string(&one).unwrap();
    assert!(text.contains("item-0"));
    let edited = p.path().join("edited.tfplan");
    std::fs::write(&edited, text.replace("item-0", "item-X")).unwrap();
    let r = run(&p, &["apply", "edited.tfplan"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("has 0 of the 1 approval(s)"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("changed after approval"), "{}", r.all());

    // The approved file itself applies; the ledger keeps who approved it.
    let r = run(&p, &["apply", "one.tfplan"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let last = records(&p, &env).await.pop().unwrap();
    assert_eq!(last.outcome, Outcome::Succeeded, "{last:?}");
    let g = last.guard.expect("guard record");
    assert_eq!(g.approvals.len(), 1, "{g:?}");
    assert!(g.approvals[0].ends_with(&format!("user/{bob}")), "{g:?}");
    let approvals = store(&p).await.approvals(&env, None).await.unwrap();
    assert_eq!(approvals.len(), 2);
    assert!(
        approvals
            .iter()
            .all(|a| a.author.as_deref() == Some(author.as_str()))
    );
    assert_eq!(
        g.plan_sha256.as_deref(),
        Some(approvals[1].plan_sha256.as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn destructive_plans_above_the_limit_need_allow_destructive() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let env = format!("lim-{}", suffix());
    let p = project(moto, "environment \"lim-*\" {\n  max_deletes = 2\n}\n");
    p.write_env(&env, &[("main.tf", &config("a"))]);
    let r = run(
        &p,
        &["apply", "-e", &env, "--auto-approve", "--var", "n=3"],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());

    // Three deletes: plan and apply refused, and no plan file written.
    let r = run(
        &p,
        &["plan", "-e", &env, "--var", "n=0", "-out", "d.tfplan"],
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("deletes 3 resource(s)"), "{}", r.all());
    assert!(r.stderr.contains("max_deletes = 2"), "{}", r.all());
    assert!(r.stderr.contains("terrace.hcl:"), "{}", r.all());
    assert!(!p.path().join("d.tfplan").exists());
    let r = run(
        &p,
        &["apply", "-e", &env, "--auto-approve", "--var", "n=0"],
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("--allow-destructive"), "{}", r.all());
    let last = records(&p, &env).await.pop().unwrap();
    assert_eq!(last.outcome, Outcome::Refused);
    assert!(last.error.unwrap().contains("deletes 3"));

    // With the flag: applied, and the flag recorded.
    let r = run(
        &p,
        &[
            "apply",
            "-e",
            &env,
            "--auto-approve",
            "--var",
            "n=0",
            "--allow-destructive",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let last = records(&p, &env).await.pop().unwrap();
    assert_eq!(last.outcome, Outcome::Succeeded);
    assert_eq!(last.counts.deletes, 3);
    let g = last.guard.unwrap();
    assert!(g.allow_destructive);
    assert!(g.overridden[0].contains("deletes 3"), "{g:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn freeze_windows_refuse_applies_unless_break_glass() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let (url, seen) = crate::notify::server(vec![]);
    let env = format!("frz-{}", suffix());
    let p = project(
        moto,
        &format!(
            r#"
notify "oncall" {{
  url_env = "ONCALL_HOOK"
  events  = ["apply_failed"]
}}

environment "{env}" {{
  freeze {{
    start  = "2030-12-20T00:00:00Z"
    end    = "2031-01-02T00:00:00Z"
    reason = "year-end freeze"
  }}
}}
"#
        ),
    );
    p.write_env(&env, &[("main.tf", &config("a"))]);
    let inside = [
        ("TERRACE_NOW", "2030-12-24T12:00:00Z"),
        ("ONCALL_HOOK", url.as_str()),
    ];
    let r = run(&p, &["apply", "-e", &env, "--auto-approve"], &inside);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("is frozen"), "{}", r.all());
    assert!(r.stderr.contains("year-end freeze"), "{}", r.all());
    assert!(r.stderr.contains("2031-01-02T00:00:00Z"), "{}", r.all());

    // Outside the window: applies.
    let r = run(
        &p,
        &["apply", "-e", &env, "--auto-approve"],
        &[("TERRACE_NOW", "2031-01-02T00:00:01Z")],
    );
    assert_eq!(r.code, 0, "{}", r.all());

    // Inside, with --break-glass: applies, recorded and notified although
    // the target asked only for apply_failed.
    p.write_env(&env, &[("main.tf", &config("b"))]);
    let r = run(
        &p,
        &[
            "apply",
            "-e",
            &env,
            "--auto-approve",
            "--break-glass",
            "INC-7: registry down",
        ],
        &inside,
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let last = records(&p, &env).await.pop().unwrap();
    let g = last.guard.clone().unwrap();
    assert_eq!(g.break_glass.as_deref(), Some("INC-7: registry down"));
    assert!(g.overridden[0].contains("freeze window"), "{g:?}");
    assert_eq!(last.notifications.len(), 1, "{last:?}");
    assert_eq!(last.notifications[0].event, "break_glass");
    assert!(last.notifications[0].delivered, "{last:?}");
    let bodies = seen.lock().unwrap();
    assert_eq!(bodies.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&bodies[0].body).unwrap();
    assert_eq!(body["event"], "break_glass");
    assert_eq!(
        body["record"]["guard"]["break_glass"],
        "INC-7: registry down"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn promotion_needs_the_same_commit_applied_in_stage() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let sfx = suffix();
    let (stage, prod) = (format!("stg-{sfx}"), format!("prd-{sfx}"));
    let p = project(
        moto,
        &format!(
            "environment \"{prod}\" {{\n  promote_from = \"{stage}\"\n  promote_within = \"72h\"\n}}\n"
        ),
    );
    p.write_env(&stage, &[("main.tf", &config("a"))]);
    p.write_env(
        &prod,
        &[
            ("main.tf", &config("a")),
            (
                "extra.tf",
                "variable \"size\" {\n  default = \"large\"\n}\n",
            ),
        ],
    );
    let ci = |sha: &'static str| {
        vec![
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_ACTOR", "deployer"),
            ("GITHUB_SHA", sha),
        ]
    };
    let r = run(
        &p,
        &["apply", "-e", &prod, "--auto-approve"],
        &ci("c0ffee1"),
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains(&format!("is promoted from '{stage}'")),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("commit c0ffee1"), "{}", r.all());
    let r = run(
        &p,
        &["apply", "-e", &stage, "--auto-approve"],
        &ci("c0ffee1"),
    );
    assert_eq!(r.code, 0, "{}", r.all());
    // Another commit is still refused; the applied one goes through.
    let r = run(
        &p,
        &["apply", "-e", &prod, "--auto-approve"],
        &ci("badc0de"),
    );
    assert_eq!(r.code, 1, "{}", r.all());
    // ... unless more than promote_within ago (the test clock is 4 days on).
    let later = {
        let mut v = ci("c0ffee1");
        let t = (chrono::Utc::now() + chrono::Duration::days(4)).to_rfc3339();
        v.push(("TERRACE_NOW", Box::leak(t.into_boxed_str())));
        v
    };
    let r = run(&p, &["apply", "-e", &prod, "--auto-approve"], &later);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("within the last 3days"), "{}", r.all());
    let r = run(
        &p,
        &["apply", "-e", &prod, "--auto-approve"],
        &ci("c0ffee1"),
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let last = records(&p, &prod).await.pop().unwrap();
    assert!(
        last.guard
            .unwrap()
            .promoted
            .unwrap()
            .contains("commit c0ffee1"),
    );

    // The parity report: the VPC's tag matches after normalising the
    // environment's name; prod has one variable more.
    let r = run(&p, &["env", "diff", &stage, &prod], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("size: (not set)"), "{}", r.all());
    p.write_env(&prod, &[("main.tf", &config("z"))]);
    let r = run(
        &p,
        &[
            "env",
            "diff",
            &stage,
            &prod,
            "--json",
            "--detailed-exitcode",
        ],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.all());
    let d: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let vpc = d["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["address"] == "aws_vpc.main")
        .unwrap_or_else(|| panic!("{d}"));
    assert_eq!(vpc["kind"], "changed");
    assert_eq!(vpc["attributes"][0]["name"], "tags", "{d}");
    assert!(d["identical"].as_u64().unwrap() >= 1, "{d}");
}

#[test]
fn ephemeral_limits_ttl_and_count() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let sfx = suffix();
    let template = format!("tpl{sfx}");
    let p = project(
        moto,
        &format!(
            "environment \"{template}\" {{\n  max_ttl = \"4h\"\n  default_ttl = \"1h\"\n  max_count = 1\n}}\n"
        ),
    );
    p.write_env(
        &template,
        &[(
            "main.tf",
            "resource \"terraform_data\" \"x\" {\n  input = terrace.environment\n}\n",
        )],
    );
    let (a, b) = (format!("pa-{sfx}"), format!("pb-{sfx}"));
    let create = |name: &str, ttl: Option<&str>| {
        let mut args = vec!["env", "create", name, "--from", &template, "--auto-approve"];
        if let Some(t) = ttl {
            args.extend(["--ttl", t]);
        }
        run(&p, &args, &[])
    };
    let r = create(&b, Some("8h"));
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("longer than max_ttl = 4h"), "{}", r.all());
    // Without --ttl: default_ttl.
    let r = create(&a, None);
    assert_eq!(r.code, 0, "{}", r.all());
    let list = run(&p, &["env", "list", "--json"], &[]);
    let envs: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    let rec = envs.iter().find(|e| e["name"] == a.as_str()).unwrap();
    let exp = chrono::DateTime::parse_from_rfc3339(rec["expires_at"].as_str().unwrap()).unwrap();
    let left = exp.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(55) && left <= chrono::Duration::hours(1),
        "{left}"
    );
    // max_count = 1: the next create is refused, listing the live one.
    let r = create(&b, Some("1h"));
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("max_count = 1"), "{}", r.all());
    assert!(r.stderr.contains(&a), "{}", r.all());
    // extend past max_ttl: refused.
    let r = run(&p, &["env", "extend", &a, "--ttl", "5h"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    // Two hours on, gc reaps the environment created without --ttl.
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let r = run(&p, &["env", "gc"], &[("TERRACE_NOW", later.as_str())]);
    assert_eq!(r.code, 0, "{}", r.all());
    let list = run(&p, &["env", "list", "--json"], &[]);
    assert!(!list.stdout.contains(&a), "{}", list.all());
    let r = create(&b, Some("1h"));
    assert_eq!(r.code, 0, "{}", r.all());
}
