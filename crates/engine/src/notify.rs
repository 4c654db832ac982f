//! Notifications (`notify` blocks of terrace.hcl): one webhook POST per
//! target and event, in terrace's versioned JSON schema or Slack's
//! incoming-webhook format, signed with HMAC-SHA256 when a secret is set.
//! Delivery is retried with backoff within the target's time bound; a
//! notification that cannot be delivered never fails the run — its outcome
//! is kept on the ledger record (for drift events, which have no ledger
//! record, it is logged). Targets are notified concurrently, so a run
//! waits at most the longest bound, not their sum.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use terrace_state::{DriftRun, LedgerRecord, Notification, Outcome};

/// The `schema` of terrace's JSON payload.
pub const SCHEMA: &str = "terrace.notification/v1";
/// The signature header: `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Terrace-Signature";

/// A `notify` block with its URL and secret read from the environment.
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    /// `None` when the variable named by `url_env` is unset (recorded as
    /// undelivered, never an error).
    pub url: Option<String>,
    pub url_env: String,
    pub secret: Option<String>,
    pub events: Vec<String>,
    /// `json` or `slack`.
    pub format: String,
    /// How long delivery may take, retries included.
    pub bound: Duration,
}

/// The event a closed ledger record is, if any.
pub fn event_of(rec: &LedgerRecord) -> Option<&'static str> {
    match (rec.operation.as_str(), rec.outcome) {
        (_, Outcome::Open | Outcome::Refused) => None,
        ("rollback", _) => Some("rollback"),
        // `env gc` destroying an expired environment.
        ("env gc", Outcome::Succeeded) => Some("env_expired"),
        (_, Outcome::Succeeded) => Some("apply_succeeded"),
        (_, Outcome::Failed | Outcome::Interrupted) => Some("apply_failed"),
    }
}

/// The request body for `format`.
pub fn payload(format: &str, event: &str, rec: &LedgerRecord) -> serde_json::Value {
    if format == "slack" {
        let c = &rec.counts;
        let mut text = format!(
            "terrace {event}: {} of *{}* {} ({} to add, {} to change, {} to replace, {} to destroy) by {}",
            rec.operation,
            rec.env,
            rec.outcome,
            c.creates,
            c.updates,
            c.replaces,
            c.deletes,
            rec.identity
                .ci
                .as_ref()
                .and_then(|ci| ci.actor.clone())
                .unwrap_or_else(|| rec.identity.os_user.clone())
        );
        if let Some(e) = &rec.error {
            text.push_str(&format!("\n> {e}"));
        }
        for f in &rec.failed {
            text.push_str(&format!("\n> `{}`: {}", f.address, f.error));
        }
        if let Some(url) = rec.identity.ci.as_ref().and_then(|c| c.run_url.as_ref()) {
            text.push_str(&format!("\n<{url}|CI run>"));
        }
        json!({ "text": text })
    } else {
        json!({
            "schema": SCHEMA,
            "event": event,
            "environment": rec.env,
            "record": rec,
        })
    }
}

/// Whether a drift run opens or closes a drift incident, given the run
/// before it (the same rule `terrace report` counts incidents by): drift
/// after a clean run (or as the first run) is `drift_detected`, a clean run
/// after drift is `drift_resolved`; anything else sends nothing.
pub fn drift_event(previous: Option<&DriftRun>, current: &DriftRun) -> Option<&'static str> {
    let drifted = |d: &DriftRun| d.changed + d.missing + d.unmanaged > 0;
    match (previous.map(drifted).unwrap_or(false), drifted(current)) {
        (false, true) => Some("drift_detected"),
        (true, false) => Some("drift_resolved"),
        _ => None,
    }
}

/// The request body of a drift event for `format`: terrace's schema with
/// the run's counts and its drift report, or a Slack message.
pub fn drift_payload(format: &str, event: &str, run: &DriftRun) -> serde_json::Value {
    if format == "slack" {
        let text = if event == "drift_resolved" {
            format!("terrace {event}: *{}* matches its state again", run.env)
        } else {
            format!(
                "terrace {event}: *{}* has drifted ({} changed, {} missing, {} unmanaged)",
                run.env, run.changed, run.missing, run.unmanaged
            )
        };
        json!({ "text": text })
    } else {
        json!({
            "schema": SCHEMA,
            "event": event,
            "environment": run.env,
            "drift": {
                "id": run.id,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "changed": run.changed,
                "missing": run.missing,
                "unmanaged": run.unmanaged,
                "pending": run.pending,
                "report": run.report,
            },
        })
    }
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Send `rec`'s event to every target that asked for it; returns what
/// happened to each (for the record). Never fails; targets are tried
/// concurrently, so this takes at most the longest target's bound.
pub async fn deliver(targets: &[Target], rec: &LedgerRecord) -> Vec<Notification> {
    let Some(event) = event_of(rec) else {
        return Vec::new();
    };
    deliver_event(targets, event, |format| payload(format, event, rec)).await
}

/// Send a drift run's event (see [`drift_event`]) to every target that
/// asked for it. Never fails; an undelivered notification is logged.
pub async fn deliver_drift(
    targets: &[Target],
    previous: Option<&DriftRun>,
    run: &DriftRun,
) -> Vec<Notification> {
    let Some(event) = drift_event(previous, run) else {
        return Vec::new();
    };
    let sent = deliver_event(targets, event, |format| drift_payload(format, event, run)).await;
    for n in sent.iter().filter(|n| !n.delivered) {
        tracing::warn!(
            env = %run.env,
            target = %n.target,
            "{event} notification not delivered: {}",
            n.error.as_deref().unwrap_or("unknown error")
        );
    }
    sent
}

async fn deliver_event(
    targets: &[Target],
    event: &str,
    body: impl Fn(&str) -> serde_json::Value,
) -> Vec<Notification> {
    let sends = targets
        .iter()
        .filter(|t| t.events.iter().any(|e| e == event))
        .map(|t| {
            let bytes = serde_json::to_vec(&body(&t.format)).unwrap_or_default();
            send(t, event, bytes)
        });
    futures::future::join_all(sends).await
}

/// Send `rec` as `event` to one target, whatever events it asked for
/// (a break-glass run is always notified).
pub(crate) async fn send_record(t: &Target, event: &str, rec: &LedgerRecord) -> Notification {
    let body = serde_json::to_vec(&payload(&t.format, event, rec)).unwrap_or_default();
    send(t, event, body).await
}

async fn send(t: &Target, event: &str, body: Vec<u8>) -> Notification {
    let mut n = Notification {
        target: t.name.clone(),
        event: event.to_string(),
        ..Default::default()
    };
    let Some(url) = &t.url else {
        n.error = Some(format!("{} is not set", t.url_env));
        return n;
    };
    let client = match reqwest::Client::builder()
        .connect_timeout(t.bound.min(Duration::from_secs(5)))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            n.error = Some(e.to_string());
            return n;
        }
    };
    let deadline = Instant::now() + t.bound;
    let mut backoff = Duration::from_millis(250);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        n.attempts += 1;
        let mut req = client
            .post(url)
            .timeout(left)
            .header("Content-Type", "application/json")
            .header("User-Agent", concat!("terrace/", env!("CARGO_PKG_VERSION")))
            .body(body.clone());
        if let Some(secret) = &t.secret {
            req = req.header(SIGNATURE_HEADER, signature(secret, &body));
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                n.status = Some(status.as_u16());
                if status.is_success() {
                    n.delivered = true;
                    n.error = None;
                    return n;
                }
                n.error = Some(format!("HTTP {status}"));
                // A client error will not change by retrying (429 aside).
                if status.is_client_error() && status.as_u16() != 429 {
                    return n;
                }
            }
            Err(e) => {
                // The URL may hold a token: never put it in the record.
                n.error = Some(if e.is_timeout() {
                    "timed out".to_string()
                } else if e.is_connect() {
                    "could not connect".to_string()
                } else {
                    "request failed".to_string()
                });
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        tokio::time::sleep(backoff.min(left)).await;
        backoff = (backoff * 2).min(Duration::from_secs(4));
    }
    if let Some(e) = &n.error {
        n.error = Some(format!(
            "{e}; gave up after {} attempts within {}s",
            n.attempts,
            t.bound.as_secs()
        ));
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use terrace_state::Identity;

    #[test]
    fn events_of_records() {
        let r = |op: &str, o: Outcome| LedgerRecord::open("dev", op, Identity::default()).closed(o);
        assert_eq!(
            event_of(&r("apply", Outcome::Succeeded)),
            Some("apply_succeeded")
        );
        assert_eq!(
            event_of(&r("destroy", Outcome::Interrupted)),
            Some("apply_failed")
        );
        assert_eq!(event_of(&r("rollback", Outcome::Failed)), Some("rollback"));
        assert_eq!(event_of(&r("apply", Outcome::Refused)), None);
        assert_eq!(
            event_of(&r("env gc", Outcome::Succeeded)),
            Some("env_expired")
        );
        assert_eq!(
            event_of(&r("env gc", Outcome::Failed)),
            Some("apply_failed")
        );
        assert_eq!(
            event_of(&r("env destroy", Outcome::Succeeded)),
            Some("apply_succeeded")
        );
    }

    fn run(changed: u32, missing: u32, unmanaged: u32, pending: u32) -> DriftRun {
        DriftRun {
            id: "r".into(),
            env: "dev".into(),
            started_at: chrono::Utc::now(),
            finished_at: chrono::Utc::now(),
            changed,
            missing,
            unmanaged,
            pending,
            report: serde_json::Value::Null,
        }
    }

    #[test]
    fn drift_events_open_and_close_incidents() {
        let clean = run(0, 0, 0, 0);
        let drifted = run(1, 0, 0, 0);
        assert_eq!(drift_event(None, &drifted), Some("drift_detected"));
        assert_eq!(drift_event(None, &clean), None);
        assert_eq!(
            drift_event(Some(&clean), &run(0, 2, 0, 0)),
            Some("drift_detected")
        );
        assert_eq!(
            drift_event(Some(&clean), &run(0, 0, 3, 0)),
            Some("drift_detected")
        );
        // Still drifted, or still clean: nothing new to say.
        assert_eq!(drift_event(Some(&drifted), &run(0, 1, 0, 0)), None);
        assert_eq!(drift_event(Some(&clean), &clean), None);
        // Pending intents alone are not drift.
        assert_eq!(drift_event(Some(&clean), &run(0, 0, 0, 4)), None);
        assert_eq!(drift_event(Some(&drifted), &clean), Some("drift_resolved"));
    }

    #[test]
    fn drift_payloads_carry_the_counts() {
        let d = run(2, 1, 0, 0);
        let j = drift_payload("json", "drift_detected", &d);
        assert_eq!(j["schema"], SCHEMA);
        assert_eq!(j["event"], "drift_detected");
        assert_eq!(j["environment"], "dev");
        assert_eq!(j["drift"]["changed"], 2);
        assert_eq!(j["drift"]["missing"], 1);
        let s = drift_payload("slack", "drift_detected", &d);
        let text = s["text"].as_str().unwrap();
        assert!(
            text.contains("*dev* has drifted (2 changed, 1 missing, 0 unmanaged)"),
            "{text}"
        );
        let r = drift_payload("slack", "drift_resolved", &run(0, 0, 0, 0));
        assert!(
            r["text"]
                .as_str()
                .unwrap()
                .contains("matches its state again")
        );
    }

    #[test]
    fn signature_is_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
