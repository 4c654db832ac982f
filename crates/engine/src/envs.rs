//! Environments: persistent ones (`environments/<name>/`) and ephemeral ones
//! created from a template with a time-to-live, tracked in the store's
//! environment registry. A record is removed only after every resource of
//! the environment is gone; a destroy that fails leaves `destroy_failed`
//! with the reason, and the next `env destroy` or `env gc` resumes it.

use crate::error::EngineError;
use chrono::{DateTime, Duration, Utc};
use terrace_state::{EnvRecord, StateError, StateStore};

pub const STATUS_CREATING: &str = "creating";
pub const STATUS_ACTIVE: &str = "active";
pub const STATUS_DESTROYING: &str = "destroying";
pub const STATUS_DESTROY_FAILED: &str = "destroy_failed";

/// The longest environment name. Names end up inside AWS names with
/// prefixes and suffixes (`terrace-<env>-artifacts` for an S3 bucket, max 63;
/// IAM role names, max 64), so 28 leaves room for the shipped templates.
pub const MAX_NAME_LEN: usize = 28;

/// Check an environment name is DNS-safe and short enough for AWS names.
pub fn validate_name(name: &str) -> Result<(), String> {
    let hint = "use lower-case letters, digits and '-', starting with a letter, e.g. pr-42";
    if name.is_empty() {
        return Err(format!("environment name is empty; {hint}"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "environment name '{name}' is {} characters long; the limit is {MAX_NAME_LEN} because AWS names derived from it (S3 buckets, IAM roles) would exceed their limits",
            name.len()
        ));
    }
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !first_ok || !chars_ok || name.ends_with('-') || name.contains("--") {
        return Err(format!("environment name '{name}' is not DNS-safe; {hint}"));
    }
    Ok(())
}

/// Check a template name (`env create --from NAME`): a folder directly under
/// `environments/`, named like an environment, so it can never climb out of
/// that folder (`../outside`) or name an absolute path.
pub fn validate_template_name(name: &str) -> Result<(), String> {
    let hint = "a template is a folder directly under environments/, named with lower-case letters, digits \
                and '-' (e.g. preview)";
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if name.is_empty() || !first_ok || !chars_ok || name.ends_with('-') || name.contains("--") {
        return Err(format!("'{name}' is not a valid template name; {hint}"));
    }
    Ok(())
}

/// Register a new ephemeral environment (status `creating`). Fails if the
/// name exists, atomically, so two pipelines cannot both create it.
pub async fn register(
    store: &dyn StateStore,
    name: &str,
    template: &str,
    ttl: Option<Duration>,
    now: DateTime<Utc>,
    who: &str,
) -> Result<EnvRecord, EngineError> {
    validate_name(name).map_err(EngineError::Other)?;
    validate_template_name(template).map_err(EngineError::Other)?;
    let rec = EnvRecord {
        name: name.to_string(),
        template: template.to_string(),
        kind: "ephemeral".into(),
        created_at: now,
        created_by: who.to_string(),
        expires_at: ttl.map(|t| now + t),
        status: STATUS_CREATING.into(),
        status_detail: String::new(),
        resource_count: 0,
        last_apply: None,
        last_drift: None,
    };
    match store.registry_create(&rec).await {
        Ok(()) => Ok(rec),
        Err(StateError::AlreadyExists { .. }) => {
            let existing = store.registry_get(name).await?;
            let status = existing.as_ref().map(|r| r.status.as_str()).unwrap_or("");
            let why = match status {
                STATUS_CREATING => "its creation is in progress in another run, or failed",
                STATUS_DESTROYING => "it is being destroyed",
                STATUS_DESTROY_FAILED => "its destroy failed and `terrace env gc` will finish it",
                _ => "it was created earlier",
            };
            Err(EngineError::Other(format!(
                "environment '{name}' already exists (status: {status}; {why}); pick another name, or destroy it first with `terrace env destroy {name}`"
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// Set an environment's status (and reason).
pub async fn set_status(
    store: &dyn StateStore,
    name: &str,
    status: &str,
    detail: &str,
) -> Result<(), EngineError> {
    if let Some(mut rec) = store.registry_get(name).await? {
        rec.status = status.to_string();
        rec.status_detail = detail.to_string();
        store.registry_put(&rec).await?;
    }
    Ok(())
}

/// Extend an environment's time-to-live from now.
pub async fn extend(
    store: &dyn StateStore,
    name: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<EnvRecord, EngineError> {
    let mut rec = store.registry_get(name).await?.ok_or_else(|| {
        EngineError::Other(format!(
            "no ephemeral environment named '{name}'; `terrace env list` shows them"
        ))
    })?;
    rec.expires_at = Some(now + ttl);
    store.registry_put(&rec).await?;
    Ok(rec)
}

/// Whether `env gc` destroys this environment at `now`: an ephemeral one
/// whose time-to-live has passed, or whose earlier destroy failed (someone
/// asked for it to go; gc finishes the job).
pub fn due_for_gc(rec: &EnvRecord, now: DateTime<Utc>) -> bool {
    rec.kind == "ephemeral"
        && (rec.expires_at.is_some_and(|e| e <= now) || rec.status == STATUS_DESTROY_FAILED)
}

/// The environments `env gc` destroys at `now` (see [`due_for_gc`]), the
/// earliest expiry first.
pub async fn due(
    store: &dyn StateStore,
    now: DateTime<Utc>,
) -> Result<Vec<EnvRecord>, EngineError> {
    let mut out: Vec<EnvRecord> = store
        .registry_list()
        .await?
        .into_iter()
        .filter(|r| due_for_gc(r, now))
        .collect();
    out.sort_by_key(|r| (r.expires_at.is_none(), r.expires_at));
    Ok(out)
}

/// Parse a time-to-live such as `4h`, `90m`, `2d`.
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("invalid time-to-live {s:?}; use e.g. 30m, 4h or 2d"))?;
    let d = match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" | "" => Duration::hours(n),
        "d" => Duration::days(n),
        "w" => Duration::weeks(n),
        _ => {
            return Err(format!(
                "invalid time-to-live {s:?}; use e.g. 30m, 4h or 2d"
            ));
        }
    };
    if n <= 0 {
        return Err(format!("time-to-live must be positive, got {s:?}"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_safe_and_bounded() {
        assert!(validate_name("pr-42").is_ok());
        for bad in [
            "",
            "PR-42",
            "-x",
            "x-",
            "a--b",
            "a_b",
            "1abc",
            &"a".repeat(MAX_NAME_LEN + 1),
        ] {
            assert!(validate_name(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn template_names_cannot_leave_the_environments_folder() {
        assert!(validate_template_name("preview").is_ok());
        for bad in [
            "",
            "../outside",
            "..",
            "/etc",
            "a/b",
            "Preview",
            "pre view",
            "x-",
        ] {
            let err = validate_template_name(bad).unwrap_err();
            assert!(err.contains("not a valid template name"), "{bad}: {err}");
        }
    }

    #[test]
    fn gc_takes_expired_and_failed_destroys() {
        let now = Utc::now();
        let rec = |kind: &str, expires: Option<DateTime<Utc>>, status: &str| EnvRecord {
            name: "pr-1".into(),
            template: "preview".into(),
            kind: kind.into(),
            created_at: now - Duration::hours(2),
            created_by: "t".into(),
            expires_at: expires,
            status: status.into(),
            status_detail: String::new(),
            resource_count: 0,
            last_apply: None,
            last_drift: None,
        };
        let past = Some(now - Duration::minutes(1));
        let future = Some(now + Duration::hours(1));
        assert!(due_for_gc(&rec("ephemeral", past, STATUS_ACTIVE), now));
        assert!(due_for_gc(&rec("ephemeral", Some(now), STATUS_ACTIVE), now));
        assert!(!due_for_gc(&rec("ephemeral", future, STATUS_ACTIVE), now));
        assert!(!due_for_gc(&rec("ephemeral", None, STATUS_ACTIVE), now));
        assert!(due_for_gc(
            &rec("ephemeral", future, STATUS_DESTROY_FAILED),
            now
        ));
        assert!(due_for_gc(
            &rec("ephemeral", None, STATUS_DESTROY_FAILED),
            now
        ));
        assert!(!due_for_gc(&rec("persistent", past, STATUS_ACTIVE), now));
    }

    #[test]
    fn ttls_parse() {
        assert_eq!(parse_ttl("4h").unwrap(), Duration::hours(4));
        assert_eq!(parse_ttl("90m").unwrap(), Duration::minutes(90));
        assert_eq!(parse_ttl("2d").unwrap(), Duration::days(2));
        assert!(parse_ttl("4x").is_err());
        assert!(parse_ttl("0h").is_err());
        assert!(parse_ttl("h").is_err());
    }
}
