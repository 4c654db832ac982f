//! Protected environments and guardrails (issue 19 §2), against moto with
//! SQLite state: an unapproved plan is refused; a plan approved by a second
//! identity (other AWS credentials: an IAM user moto issued keys for)
//! applies; an approval of another plan does not count; a plan file edited
//! after its approval is refused; self-approval is refused; max_deletes
//! with --allow-destructive; a freeze window with the test clock and
//! --break-glass (recorded and notified), and a weekly one in a time zone;
//! promotion from stage by commit and by module content; ephemeral
//! max_ttl, max_count (two racing creates for the last slot: one wins) and
//! default_ttl (reaped by env gc); `env create`, `env destroy` and `env gc`
//! under the guards (freeze, max_deletes, protected); and `env diff`.

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

/// A template (a folder under environments/) of one terraform_data
/// resource per name in `items`.
fn write_template(p: &Project, name: &str, items: &[&str]) {
    let text: Vec<String> = items
        .iter()
        .map(|i| {
            format!("resource \"terraform_data\" \"{i}\" {{\n  input = terrace.environment\n}}\n")
        })
        .collect();
    p.write_env(name, &[("main.tf", &text.join("\n"))]);
}

/// The registry record of `name` in `env list --json`, if listed, with
/// `extra` in the environment (e.g. `TERRACE_STATE`).
fn listed_in(p: &Project, name: &str, extra: &[(&str, &str)]) -> Option<serde_json::Value> {
    let r = run(p, &["env", "list", "--json"], extra);
    assert_eq!(r.code, 0, "{}", r.all());
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}", r.all()));
    list.into_iter().find(|e| e["name"] == name)
}

/// The same in the project's own (SQLite) store.
fn listed(p: &Project, name: &str) -> Option<serde_json::Value> {
    listed_in(p, name, &[])
}

/// The test clock `hours` from now, for TERRACE_NOW.
fn clock(hours: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(hours))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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
    write_template(&p, &template, &["x"]);
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
    let rec = listed(&p, &a).unwrap();
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
    assert!(listed(&p, &a).is_none());
    let r = create(&b, Some("1h"));
    assert_eq!(r.code, 0, "{}", r.all());
}

/// Issue 19: two `env create` of one template racing for its last
/// `max_count` slot: the count and the registration are one step under
/// the template's create lock, so exactly one wins; the loser lists the
/// live environments. On SQLite, PostgreSQL and S3 (`TERRACE_STATE`).
#[tokio::test(flavor = "multi_thread")]
async fn racing_creates_take_the_last_slot_once() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    for kind in ["sqlite", "postgres", "s3"] {
        let Some(store) = crate::reliability::Store::open(kind, moto).await else {
            continue;
        };
        let vars = store.env();
        let state: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        race_for_the_last_slot(moto, &state, kind);
    }
}

fn race_for_the_last_slot(moto: &terrace_testkit::Moto, state: &[(&str, &str)], kind: &str) {
    let sfx = suffix();
    let template = format!("tpl{sfx}");
    let p = project(
        moto,
        &format!("environment \"{template}\" {{\n  max_count = 2\n}}\n"),
    );
    write_template(&p, &template, &["x"]);
    let create = |name: &str| {
        run(
            &p,
            &["env", "create", name, "--from", &template, "--auto-approve"],
            state,
        )
    };
    let first = format!("ra-{sfx}");
    let r = create(&first);
    assert_eq!(r.code, 0, "{kind}: {}", r.all());
    let (b, c) = (format!("rb-{sfx}"), format!("rc-{sfx}"));
    let (rb, rc) = std::thread::scope(|s| {
        let tb = s.spawn(|| create(&b));
        let tc = s.spawn(|| create(&c));
        (tb.join().unwrap(), tc.join().unwrap())
    });
    let won = [&rb, &rc].iter().filter(|r| r.code == 0).count();
    assert_eq!(won, 1, "{kind}: {}\n---\n{}", rb.all(), rc.all());
    let (winner, loser, lost) = if rb.code == 0 {
        (&b, &c, &rc)
    } else {
        (&c, &b, &rb)
    };
    assert_eq!(lost.code, 1, "{kind}: {}", lost.all());
    assert!(
        lost.stderr.contains("max_count = 2"),
        "{kind}: {}",
        lost.all()
    );
    assert!(
        lost.stderr.contains(&first) && lost.stderr.contains(winner.as_str()),
        "{kind}: {}",
        lost.all()
    );
    assert!(listed_in(&p, winner, state).is_some(), "{kind}");
    assert!(listed_in(&p, loser, state).is_none(), "{kind}");
}

/// Issue 19 §2: promotion without a CI commit, by the content of the
/// module folders both environments use.
#[tokio::test(flavor = "multi_thread")]
async fn promotion_by_module_content_without_a_commit() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let sfx = suffix();
    let (stage, prod) = (format!("mst-{sfx}"), format!("mpr-{sfx}"));
    let p = project(
        moto,
        &format!("environment \"{prod}\" {{\n  promote_from = \"{stage}\"\n}}\n"),
    );
    let module = |version: &str| {
        let dir = p.path().join("modules/unit");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("main.tf"),
            format!(
                "variable \"label\" {{\n  type = string\n}}\n\nresource \"terraform_data\" \"x\" {{\n  input = \"{version}-${{var.label}}\"\n}}\n"
            ),
        )
        .unwrap();
    };
    module("v1");
    let uses =
        "module \"unit\" {\n  source = \"../../modules/unit\"\n  label  = terrace.environment\n}\n";
    // The environments' own folders differ: they are left out.
    p.write_env(&stage, &[("main.tf", uses)]);
    p.write_env(
        &prod,
        &[
            ("main.tf", uses),
            ("extra.tf", "locals {\n  size = \"large\"\n}\n"),
        ],
    );
    let apply = |env: &str| run(&p, &["apply", "-e", env, "--auto-approve"], &[]);

    let r = apply(&prod);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains(&format!("is promoted from '{stage}'"))
            && r.stderr
                .contains("the same module content (no CI commit is known for this run)"),
        "{}",
        r.all()
    );
    assert_eq!(
        records(&p, &prod).await.pop().unwrap().outcome,
        Outcome::Refused
    );
    assert_eq!(apply(&stage).code, 0);
    let r = apply(&prod);
    assert_eq!(r.code, 0, "{}", r.all());
    let promoted = records(&p, &prod)
        .await
        .pop()
        .unwrap()
        .guard
        .unwrap()
        .promoted;
    assert!(
        promoted
            .as_deref()
            .is_some_and(|e| e.contains("with the same content")),
        "{promoted:?}"
    );

    // The module changes: prod is refused until stage applied the new content.
    module("v2");
    let r = apply(&prod);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("the same module content"), "{}", r.all());
    assert_eq!(apply(&stage).code, 0);
    let r = apply(&prod);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// Issue 19 §2: a weekly freeze window in a time zone, with the test
/// clock: Fridays 16:00 to Saturdays 08:00 in Berlin (UTC+1 in January).
#[tokio::test(flavor = "multi_thread")]
async fn weekly_freeze_windows_follow_their_time_zone() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let env = format!("wk-{}", suffix());
    let p = project(
        moto,
        &format!(
            r#"
environment "{env}" {{
  freeze {{
    days       = ["fri"]
    start_time = "16:00"
    end_time   = "08:00"
    time_zone  = "Europe/Berlin"
    reason     = "no weekend deploys"
  }}
}}
"#
        ),
    );
    p.write_env(&env, &[("main.tf", &config("a"))]);
    let apply_at = |now: &str, n: &str| {
        run(
            &p,
            &[
                "apply",
                "-e",
                &env,
                "--auto-approve",
                "--var",
                &format!("n={n}"),
            ],
            &[("TERRACE_NOW", now)],
        )
    };
    // Friday 15:30 UTC is 16:30 in Berlin: frozen (in UTC it would not be).
    let r = apply_at("2031-01-03T15:30:00Z", "1");
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("is frozen"), "{}", r.all());
    assert!(
        r.stderr.contains("Europe/Berlin: no weekend deploys"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("until 2031-01-04T07:00:00Z"),
        "{}",
        r.all()
    );
    // The window runs past midnight: Saturday 07:59 in Berlin is frozen.
    let r = apply_at("2031-01-04T06:59:00Z", "1");
    assert_eq!(r.code, 1, "{}", r.all());
    // At its end (08:00 Berlin), and before its start a week on, applies go ahead.
    let r = apply_at("2031-01-04T07:00:00Z", "1");
    assert_eq!(r.code, 0, "{}", r.all());
    let r = apply_at("2031-01-10T14:59:00Z", "2");
    assert_eq!(r.code, 0, "{}", r.all());
    let recs = records(&p, &env).await;
    assert_eq!(
        recs.iter().map(|r| r.outcome).collect::<Vec<_>>(),
        [
            Outcome::Refused,
            Outcome::Refused,
            Outcome::Succeeded,
            Outcome::Succeeded
        ]
    );
}

/// Issue 19 §2: `env create`, `env destroy` and `env gc` run the guards of
/// the block matching the environment's name, as `apply` does: a freeze
/// window refuses a create (its registration is rolled back) unless
/// --break-glass; max_deletes refuses a destroy (the record keeps its
/// status, with the reason) unless --allow-destructive; `env gc` leaves an
/// expired environment alone inside a freeze window (not a failure) and
/// reports one a limit refuses as a failure.
#[tokio::test(flavor = "multi_thread")]
async fn env_commands_run_the_guards() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let sfx = suffix();
    let template = format!("tpl{sfx}");
    let name = format!("ga{sfx}-1");
    let (start, end) = (clock(2), clock(5));
    let p = project(
        moto,
        &format!(
            "environment \"ga{sfx}-*\" {{\n  max_deletes = 1\n  freeze {{\n    start  = \"{start}\"\n    end    = \"{end}\"\n    reason = \"launch\"\n  }}\n}}\n"
        ),
    );
    write_template(&p, &template, &["a", "b"]);
    // Created at `inside` with --ttl 1h, it is expired at `expired_inside`,
    // still in the window.
    let (inside, expired_inside, after) = (clock(3), clock(4), clock(6));
    let at = |now: &str, args: &[&str]| run(&p, args, &[("TERRACE_NOW", now)]);
    let create = [
        "env",
        "create",
        &name,
        "--from",
        &template,
        "--ttl",
        "1h",
        "--auto-approve",
    ];

    // Inside the freeze: refused, and nothing stays registered.
    let r = at(&inside, &create);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("is frozen") && r.stderr.contains("launch"),
        "{}",
        r.all()
    );
    assert!(listed(&p, &name).is_none());
    // --break-glass: created, the reason on the ledger record.
    let mut glass = create.to_vec();
    glass.extend(["--break-glass", "INC-9: launch demo"]);
    let r = at(&inside, &glass);
    assert_eq!(r.code, 0, "{}", r.all());
    let last = records(&p, &name).await.pop().unwrap();
    assert_eq!(last.operation, "env create");
    assert_eq!(
        last.guard.unwrap().break_glass.as_deref(),
        Some("INC-9: launch demo")
    );

    // env destroy deletes 2 > max_deletes: refused, the record unchanged
    // (not destroy_failed, which gc would pick up) with the reason.
    let r = at(&after, &["env", "destroy", &name, "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("deletes 2 resource(s)"), "{}", r.all());
    assert!(r.stderr.contains("--allow-destructive"), "{}", r.all());
    let rec = listed(&p, &name).unwrap();
    assert_eq!(rec["status"], "active", "{rec}");
    assert!(
        rec["status_detail"]
            .as_str()
            .unwrap()
            .contains("destroy refused"),
        "{rec}"
    );
    assert_eq!(
        records(&p, &name).await.pop().unwrap().outcome,
        Outcome::Refused
    );

    // gc: expired but frozen: left alone, not a failure.
    let r = at(&expired_inside, &["env", "gc"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains(&format!("Skipping '{name}'")),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("is frozen"), "{}", r.all());
    assert_eq!(listed(&p, &name).unwrap()["status"], "active");
    // After the window: refused by max_deletes (a failure), the record back
    // to active; with --allow-destructive it is reaped.
    let r = at(&after, &["env", "gc"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("--allow-destructive"), "{}", r.all());
    assert_eq!(listed(&p, &name).unwrap()["status"], "active");
    let r = at(&after, &["env", "gc", "--allow-destructive"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(listed(&p, &name).is_none());
    let last = records(&p, &name).await.pop().unwrap();
    assert_eq!(last.operation, "env gc");
    assert!(last.guard.unwrap().allow_destructive);
}

/// Issue 19 §2: a protected environment is destroyed only through an
/// approved saved plan: `env destroy` is refused and says how; that way
/// works, and `env destroy` then removes the emptied environment. `env
/// create` of a name a protected block matches is refused before anything
/// is registered.
#[tokio::test(flavor = "multi_thread")]
async fn protected_environments_are_destroyed_through_an_approved_plan() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let sfx = suffix();
    let template = format!("tpl{sfx}");
    let name = format!("gp{sfx}-1");
    let p = project(moto, "");
    write_template(&p, &template, &["a", "b"]);
    let r = run(
        &p,
        &[
            "env",
            "create",
            &name,
            "--from",
            &template,
            "--auto-approve",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    // Protected from now on.
    std::fs::write(
        p.path().join("terrace.hcl"),
        hcl(&format!(
            "environment \"gp{sfx}-*\" {{\n  protected = true\n  allow_self_approval = true\n}}\n"
        )),
    )
    .unwrap();
    let r = run(&p, &["env", "destroy", &name, "--auto-approve"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    let file = format!("{name}-destroy.tfplan");
    for step in [
        format!("terrace plan -destroy -e {name} -out {file}"),
        format!("terrace approve {file}"),
        format!("terrace apply {file}"),
        format!("terrace env destroy {name}"),
    ] {
        assert!(r.stderr.contains(&step), "{step}\n{}", r.all());
    }
    assert_eq!(listed(&p, &name).unwrap()["status"], "active");
    assert_eq!(
        records(&p, &name).await.pop().unwrap().outcome,
        Outcome::Refused
    );
    // The way it names.
    for args in [
        vec!["plan", "-destroy", "-e", &name, "-out", &file],
        vec!["approve", &file],
        vec!["apply", &file],
        vec!["env", "destroy", &name, "--auto-approve"],
    ] {
        let r = run(&p, &args, &[]);
        assert_eq!(r.code, 0, "{args:?}\n{}", r.all());
    }
    assert!(listed(&p, &name).is_none());

    // A create the protected block matches: refused up front.
    let other = format!("gp{sfx}-2");
    let r = run(
        &p,
        &[
            "env",
            "create",
            &other,
            "--from",
            &template,
            "--auto-approve",
        ],
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("would be a protected environment"),
        "{}",
        r.all()
    );
    assert!(listed(&p, &other).is_none());
}
