//! Notifications (issue 18 §4) to a loopback HTTP server: the versioned JSON
//! payload with a verifiable HMAC-SHA256 signature, Slack's format, a retry
//! after a 500, a dead endpoint that costs the apply no more than its bound,
//! and every outcome kept on the ledger record.

use crate::support::Project;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use terrace_state::{LedgerQuery, open_store};

pub(crate) struct Request {
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A loopback server answering each request with the next of `statuses`
/// (then 200); returns its URL and what it received.
pub(crate) fn server(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':') {
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse().unwrap())
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            log.lock().unwrap().push(Request { headers, body });
            let status = statuses.next().unwrap_or(200);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, seen)
}

const HCL: &str = r#"environments_dir = "environments"
state {
  url = "sqlite:state/terrace.db"
}

notify "team" {
  url_env    = "TEAM_HOOK"
  secret_env = "TEAM_HOOK_SECRET"
  events     = ["apply_succeeded", "apply_failed"]
}

notify "chat" {
  url_env         = "CHAT_HOOK"
  format          = "slack"
  events          = ["apply_succeeded"]
  timeout_seconds = 2
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn notifications_are_signed_retried_bounded_and_recorded() {
    let p = Project::new();
    std::fs::write(p.path().join("terrace.hcl"), HCL).unwrap();
    p.write_env(
        "nt",
        &[(
            "main.tf",
            "resource \"terraform_data\" \"a\" {\n  input = 1\n}\n",
        )],
    );
    let (url, seen) = server(vec![500]);
    // Nothing listens on the chat hook: refused at once, retried until
    // its 2-second bound.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/dead", l.local_addr().unwrap())
    };
    let env = [
        ("TEAM_HOOK", url.as_str()),
        ("TEAM_HOOK_SECRET", "s3cret"),
        ("CHAT_HOOK", dead.as_str()),
    ];
    let started = std::time::Instant::now();
    let r = p.run_env(&["apply", "-e", "nt", "--auto-approve"], &env);
    let took = started.elapsed();
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(took < std::time::Duration::from_secs(12), "took {took:?}");

    // Taken out of the server's list, so no lock is held across the awaits below.
    let reqs = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(reqs.len(), 2, "a 500, then the retry");
    let last = &reqs[1];
    assert_eq!(reqs[0].body, last.body);
    let body: serde_json::Value = serde_json::from_slice(&last.body).unwrap();
    assert_eq!(body["schema"], "terrace.notification/v1");
    assert_eq!(body["event"], "apply_succeeded");
    assert_eq!(body["environment"], "nt");
    assert_eq!(body["record"]["outcome"], "succeeded");
    assert_eq!(body["record"]["counts"]["creates"], 1);
    assert_eq!(
        last.header("X-Terrace-Signature"),
        Some(terrace_engine::notify::signature("s3cret", &last.body).as_str())
    );
    assert_eq!(last.header("content-type"), Some("application/json"));
    drop(reqs);

    let store = open_store(
        "sqlite:state/terrace.db",
        p.path(),
        terrace_state::StoreOptions::default(),
    )
    .await
    .unwrap();
    let recs = store
        .ledger_list(&LedgerQuery {
            env: Some("nt".into()),
            since: None,
        })
        .await
        .unwrap();
    let n = &recs[0].notifications;
    assert_eq!(n.len(), 2, "{n:#?}");
    assert_eq!((n[0].target.as_str(), n[0].delivered), ("team", true));
    assert_eq!((n[0].attempts, n[0].status), (2, Some(200)));
    assert_eq!((n[1].target.as_str(), n[1].delivered), ("chat", false));
    assert!(n[1].attempts >= 2, "{n:#?}");
    let err = n[1].error.as_deref().unwrap_or_default();
    assert!(err.contains("gave up") && !err.contains(&dead), "{err}");
    let r = p.run(&["log", "show", &recs[0].id]);
    assert!(
        r.stdout
            .contains("team (apply_succeeded): delivered (2 attempts)")
            && r.stdout.contains("chat (apply_succeeded): not delivered"),
        "{}",
        r.all()
    );

    // Slack's format, to a live endpoint.
    let (chat, seen) = server(vec![]);
    p.write_env(
        "nt",
        &[(
            "main.tf",
            "resource \"terraform_data\" \"a\" {\n  input = 2\n}\n",
        )],
    );
    // TEAM_HOOK unset: recorded as not delivered, no wait.
    let env = [("CHAT_HOOK", chat.as_str())];
    let r = p.run_env(&["apply", "-e", "nt", "--auto-approve"], &env);
    assert_eq!(r.code, 0, "{}", r.all());
    // Taken out of the server's list, so no lock is held across the awaits below.
    let reqs = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(reqs.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&reqs[0].body).unwrap();
    let text = body["text"].as_str().expect("slack text");
    assert!(
        text.contains("apply_succeeded") && text.contains("*nt*"),
        "{text}"
    );
    assert!(reqs[0].header("X-Terrace-Signature").is_none());
    drop(reqs);
    let recs = store
        .ledger_list(&LedgerQuery {
            env: Some("nt".into()),
            since: None,
        })
        .await
        .unwrap();
    let n = &recs[1].notifications;
    assert_eq!(
        n[0].error.as_deref(),
        Some("TEAM_HOOK is not set"),
        "{n:#?}"
    );
    assert!(n[1].delivered, "{n:#?}");
}

#[test]
fn a_webhook_url_in_the_file_is_refused() {
    let p = Project::new();
    std::fs::write(
        p.path().join("terrace.hcl"),
        "notify \"team\" {\n  url    = \"https://hooks.example.com/T0/B0/XXXX\"\n  events = [\"apply_done\"]\n}\n",
    )
    .unwrap();
    let r = p.run(&["log", "--all"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("url_env") && r.stderr.contains("line 2"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("apply_done is not an event")
            || r.stderr.contains("\"apply_done\" is not an event"),
        "{}",
        r.all()
    );
}

/// The events without a ledger apply of their own: a drift run that finds
/// drift after a clean one sends `drift_detected` (once, not on every run
/// while the drift lasts), the clean run after it `drift_resolved`, and
/// `env gc` reaping an expired environment `env_expired` (recorded as
/// `env gc` in the ledger).
#[tokio::test(flavor = "multi_thread")]
async fn drift_incidents_and_expired_environments_are_notified() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = Project::new().with_moto(moto);
    std::fs::write(
        p.path().join("terrace.hcl"),
        r#"environments_dir = "environments"
state {
  url = "sqlite:state/terrace.db"
}

notify "ops" {
  url_env = "OPS_HOOK"
  events  = ["drift_detected", "drift_resolved", "env_expired"]
}
"#,
    )
    .unwrap();
    let env = format!("nd{}", crate::support::suffix());
    p.write_env(
        &env,
        &[(
            "main.tf",
            r#"resource "aws_ecr_repository" "images" {
  name = "notify-${terrace.environment}"
  tags = { Team = "a" }
}
"#,
        )],
    );
    let (url, seen) = server(vec![]);
    let hook = [("OPS_HOOK", url.as_str())];
    let events = |seen: &Arc<Mutex<Vec<Request>>>| -> Vec<serde_json::Value> {
        std::mem::take(&mut *seen.lock().unwrap())
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    };

    let r = p.run_env(&["apply", "-e", &env, "--auto-approve"], &hook);
    assert_eq!(r.code, 0, "{}", r.all());
    // A clean first run opens no incident.
    let r = p.run_env(&["drift", "-e", &env], &hook);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        events(&seen).is_empty(),
        "apply and clean drift are not subscribed events"
    );

    // Edited outside terrace.
    let cfg = crate::support::sdk_config(moto).await;
    let ecr = aws_sdk_ecr::Client::new(&cfg);
    let arn = ecr
        .describe_repositories()
        .repository_names(format!("notify-{env}"))
        .send()
        .await
        .unwrap()
        .repositories()[0]
        .repository_arn()
        .unwrap()
        .to_string();
    ecr.tag_resource()
        .resource_arn(&arn)
        .tags(
            aws_sdk_ecr::types::Tag::builder()
                .key("Team")
                .value("b")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let r = p.run_env(&["drift", "-e", &env], &hook);
    assert_eq!(r.code, 2, "{}", r.all());
    let got = events(&seen);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["schema"], "terrace.notification/v1");
    assert_eq!(got[0]["event"], "drift_detected");
    assert_eq!(got[0]["environment"], env.as_str());
    assert_eq!(got[0]["drift"]["changed"], 1, "{:#}", got[0]);
    assert_eq!(
        got[0]["drift"]["report"]["drift"][0]["address"],
        "aws_ecr_repository.images"
    );

    // Still drifted: the incident is already open, nothing is sent.
    let r = p.run_env(&["drift", "-e", &env], &hook);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(events(&seen).is_empty());

    // Repaired by an apply: the next clean run resolves it.
    let r = p.run_env(&["apply", "-e", &env, "--auto-approve"], &hook);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = p.run_env(&["drift", "-e", &env], &hook);
    assert_eq!(r.code, 0, "{}", r.all());
    let got = events(&seen);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["event"], "drift_resolved");
    let r = p.run_env(&["destroy", "-e", &env, "--auto-approve"], &hook);
    assert_eq!(r.code, 0, "{}", r.all());

    // An ephemeral environment reaped after its expiry.
    p.write_env(
        "tmpl",
        &[(
            "main.tf",
            "resource \"terraform_data\" \"a\" {\n  input = terrace.environment\n}\n",
        )],
    );
    let pr = format!("pr-{}", crate::support::suffix());
    let r = p.run_env(
        &[
            "env",
            "create",
            &pr,
            "--from",
            "tmpl",
            "--ttl",
            "1h",
            "--auto-approve",
        ],
        &hook,
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let r = p.run_env(
        &["env", "gc"],
        &[("OPS_HOOK", url.as_str()), ("TERRACE_NOW", later.as_str())],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let got = events(&seen);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["event"], "env_expired");
    assert_eq!(got[0]["environment"], pr.as_str());
    assert_eq!(got[0]["record"]["operation"], "env gc");
    assert_eq!(got[0]["record"]["outcome"], "succeeded");
    assert_eq!(got[0]["record"]["counts"]["deletes"], 1);
}
