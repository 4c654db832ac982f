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
            if let Some(rec) = resume_failed_create(store, name, template).await? {
                return Ok(rec);
            }
            let existing = store.registry_get(name).await?;
            let status = existing.as_ref().map(|r| r.status.as_str()).unwrap_or("");
            let why = match status {
                STATUS_CREATING if existing.as_ref().is_some_and(|r| r.template != template) => {
                    "its creation from another template failed or is in progress"
                }
                STATUS_CREATING => "its creation is in progress in another run",
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

/// `max_count` of a template: how many of its environments may be live at
/// once, and where that is set (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountLimit {
    pub max: u32,
    pub location: String,
}

/// The name of the lock that serialises `env create` of one template while
/// it counts the live environments and registers a new one. It is not an
/// environment name `validate_name` accepts (it has a '.'), so it never
/// meets a real environment's lock.
pub fn create_lock_name(template: &str) -> String {
    format!("{template}.env-create")
}

/// [`register`] under `max_count`: the count of the template's live
/// environments and the registration happen while holding the template's
/// create lock ([`create_lock_name`], the store's leased lock, so the same
/// on SQLite, PostgreSQL and S3), so two creates racing for the last slot
/// cannot both pass: the second waits for the lock, then counts the first.
/// The refusal lists the live environments. The lock is held only for the
/// count and the registration, never for the apply.
pub async fn register_counted(
    store: std::sync::Arc<dyn StateStore>,
    name: &str,
    template: &str,
    ttl: Option<Duration>,
    now: DateTime<Utc>,
    who: &str,
    limit: Option<&CountLimit>,
) -> Result<EnvRecord, EngineError> {
    let Some(limit) = limit else {
        return register(store.as_ref(), name, template, ttl, now, who).await;
    };
    validate_template_name(template).map_err(EngineError::Other)?;
    // Long enough for a dead holder's lease to run out.
    let wait = store.lock_lease() + std::time::Duration::from_secs(15);
    let held = terrace_state::lock_environment(
        store.clone(),
        &create_lock_name(template),
        "env create",
        wait,
    )
    .await?;
    let registered = async {
        let live: Vec<EnvRecord> = store
            .registry_list()
            .await?
            .into_iter()
            .filter(|r| r.template == template && r.name != name)
            .collect();
        if live.len() as u32 >= limit.max {
            return Err(EngineError::Other(count_refusal(template, limit, &live)));
        }
        register(store.as_ref(), name, template, ttl, now, who).await
    }
    .await;
    let released = held.release().await;
    let rec = registered?;
    released?;
    Ok(rec)
}

/// The refusal of a create past `max_count`, listing the live environments.
fn count_refusal(template: &str, limit: &CountLimit, live: &[EnvRecord]) -> String {
    let list = live
        .iter()
        .map(|r| {
            let exp = r
                .expires_at
                .map(|e| {
                    format!(
                        "expires {}",
                        e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    )
                })
                .unwrap_or_else(|| "no expiry".into());
            format!("{} ({}, {exp})", r.name, r.status)
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "refused: template '{template}' already has {} live environment(s), and max_count = {} ({}): {list}. \
         Destroy one first (`terrace env destroy NAME`) or wait for `terrace env gc` to reap an expired one",
        live.len(),
        limit.max,
        limit.location
    )
}

/// Change a record with compare-and-swap, retrying on a concurrent change:
/// `change` sees the current record and returns `Ok(false)` to leave it as
/// it is. Returns the stored record (`None` if there is none: a deleted
/// record is never re-created).
pub async fn update(
    store: &dyn StateStore,
    name: &str,
    mut change: impl FnMut(&mut EnvRecord) -> Result<bool, EngineError>,
) -> Result<Option<EnvRecord>, EngineError> {
    for _ in 0..50 {
        let Some(old) = store.registry_get(name).await? else {
            return Ok(None);
        };
        let mut new = old.clone();
        if !change(&mut new)? || new == old {
            return Ok(Some(old));
        }
        if store.registry_replace(&old, &new).await? {
            return Ok(Some(new));
        }
    }
    Err(EngineError::Other(format!(
        "the registry record of '{name}' kept changing; try again"
    )))
}

/// Set an environment's status (and reason).
pub async fn set_status(
    store: &dyn StateStore,
    name: &str,
    status: &str,
    detail: &str,
) -> Result<(), EngineError> {
    update(store, name, |rec| {
        rec.status = status.to_string();
        rec.status_detail = detail.to_string();
        Ok(true)
    })
    .await?;
    Ok(())
}

/// Extend an environment's time-to-live from now. Refused once a destroy
/// has claimed it (`destroying`), so `env gc` and `env extend` never both win.
pub async fn extend(
    store: &dyn StateStore,
    name: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<EnvRecord, EngineError> {
    update(store, name, |rec| {
        if rec.status == STATUS_DESTROYING {
            return Err(EngineError::Other(format!(
                "environment '{name}' is being destroyed; it cannot be extended"
            )));
        }
        rec.expires_at = Some(now + ttl);
        Ok(true)
    })
    .await?
    .ok_or_else(|| {
        EngineError::Other(format!(
            "no ephemeral environment named '{name}'; `terrace env list` shows them"
        ))
    })
}

/// `env gc`'s claim on an environment it listed as due: re-read the record
/// and, only if it is still due at `now`, mark it `destroying` in the same
/// compare-and-swap. `None` when it is not due any more (e.g. `env extend`
/// ran since the listing) or is gone.
pub async fn claim_for_gc(
    store: &dyn StateStore,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<EnvRecord>, EngineError> {
    let mut due = false;
    let rec = update(store, name, |rec| {
        due = due_for_gc(rec, now);
        if due {
            rec.status = STATUS_DESTROYING.into();
        }
        Ok(due)
    })
    .await?;
    Ok(rec.filter(|_| due))
}

/// A retry of `env create NAME --from TEMPLATE` after a create that failed
/// (status `creating` with the failure as its detail) resumes it: the record
/// is claimed back (detail cleared, compare-and-swap, so two retries cannot
/// both resume). `None` if the record is not a failed create of `template`.
pub async fn resume_failed_create(
    store: &dyn StateStore,
    name: &str,
    template: &str,
) -> Result<Option<EnvRecord>, EngineError> {
    let mut resumed = false;
    let rec = update(store, name, |rec| {
        resumed = rec.status == STATUS_CREATING
            && !rec.status_detail.is_empty()
            && rec.template == template;
        if resumed {
            rec.status_detail.clear();
        }
        Ok(resumed)
    })
    .await?;
    Ok(rec.filter(|_| resumed))
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

    async fn sqlite_store() -> (tempfile::TempDir, terrace_state::SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            terrace_state::SqliteStore::open(&dir.path().join("t.db"), "t.db", Default::default())
                .await
                .unwrap();
        (dir, store)
    }

    /// Issue 22.14: gc lists, then `env extend` runs, then gc's claim must
    /// see the new expiry and leave the environment alone; and once gc has
    /// claimed one, extend is refused instead of being silently ignored.
    #[tokio::test]
    async fn gc_rechecks_expiry_when_it_claims() {
        let (_d, store) = sqlite_store().await;
        let now = Utc::now();
        register(
            &store,
            "pr-1",
            "preview",
            Some(Duration::hours(1)),
            now - Duration::hours(2),
            "t",
        )
        .await
        .unwrap();
        register(
            &store,
            "pr-2",
            "preview",
            Some(Duration::hours(1)),
            now - Duration::hours(2),
            "t",
        )
        .await
        .unwrap();
        let listed: Vec<String> = due(&store, now)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(listed, ["pr-1", "pr-2"]);
        extend(&store, "pr-1", Duration::hours(4), now)
            .await
            .unwrap();
        assert!(claim_for_gc(&store, "pr-1", now).await.unwrap().is_none());
        assert_eq!(
            store.registry_get("pr-1").await.unwrap().unwrap().status,
            STATUS_CREATING
        );
        let claimed = claim_for_gc(&store, "pr-2", now).await.unwrap().unwrap();
        assert_eq!(claimed.status, STATUS_DESTROYING);
        let err = extend(&store, "pr-2", Duration::hours(4), now)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("being destroyed"), "{err}");
        // A record deleted meanwhile is not brought back by a status update.
        store.registry_delete("pr-2").await.unwrap();
        set_status(&store, "pr-2", STATUS_DESTROY_FAILED, "x")
            .await
            .unwrap();
        assert_eq!(store.registry_get("pr-2").await.unwrap(), None);
    }

    /// Issue 23.4: a failed create is resumed by the same command; a create
    /// in progress (no failure recorded) or of another template is not.
    #[tokio::test]
    async fn a_failed_create_is_resumed_by_the_same_command() {
        let (_d, store) = sqlite_store().await;
        let now = Utc::now();
        register(&store, "pr-1", "preview", None, now, "t")
            .await
            .unwrap();
        let err = register(&store, "pr-1", "preview", None, now, "t")
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("in progress in another run"),
            "{err}"
        );
        set_status(&store, "pr-1", STATUS_CREATING, "apply failed: boom")
            .await
            .unwrap();
        let err = register(&store, "pr-1", "other", None, now, "t")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        let rec = register(
            &store,
            "pr-1",
            "preview",
            None,
            now + Duration::minutes(5),
            "t",
        )
        .await
        .unwrap();
        assert_eq!(rec.created_at, now);
        assert!(rec.status_detail.is_empty());
        // Claimed: a second retry at the same time does not also resume.
        assert!(
            register(&store, "pr-1", "preview", None, now, "t")
                .await
                .is_err()
        );
    }

    /// Issue 19: two creates racing for the last slot of `max_count`:
    /// exactly one registers; the other is refused, listing the live ones.
    #[tokio::test(flavor = "multi_thread")]
    async fn max_count_is_checked_and_taken_atomically() {
        let (_d, store) = sqlite_store().await;
        let store: std::sync::Arc<dyn StateStore> = std::sync::Arc::new(store);
        let now = Utc::now();
        let limit = CountLimit {
            max: 2,
            location: "terrace.hcl:3:1".into(),
        };
        register_counted(
            store.clone(),
            "pr-1",
            "preview",
            None,
            now,
            "t",
            Some(&limit),
        )
        .await
        .unwrap();
        let race = |name: &'static str| {
            let store = store.clone();
            let limit = limit.clone();
            tokio::spawn(async move {
                register_counted(store, name, "preview", None, now, "t", Some(&limit)).await
            })
        };
        let (a, b) = (race("pr-2"), race("pr-3"));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
        let err = a.err().or(b.err()).unwrap().to_string();
        assert!(err.contains("max_count = 2 (terrace.hcl:3:1)"), "{err}");
        assert!(err.contains("pr-1 (creating, no expiry)"), "{err}");
        assert!(err.contains("pr-2") || err.contains("pr-3"), "{err}");
        assert_eq!(store.registry_list().await.unwrap().len(), 2);
        // Another template's slots are its own; the lock is free again.
        register_counted(store.clone(), "pr-4", "other", None, now, "t", Some(&limit))
            .await
            .unwrap();
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
