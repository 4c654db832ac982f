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
