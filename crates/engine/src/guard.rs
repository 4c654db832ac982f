//! Guardrails of `environment` blocks (terrace.hcl), enforced on every
//! apply under the environment's lock, after planning and before the
//! first change: a protected environment applies only a saved plan file
//! with enough approvals (bound to the SHA-256 of the file's bytes, never
//! by the plan's author unless allowed); a plan deleting or replacing more
//! than `max_deletes` / `max_replacements` needs `--allow-destructive`;
//! inside a `freeze` window, and without a succeeded apply of the same
//! commit or module content in `promote_from`, an apply needs
//! `--break-glass REASON`. A refusal is an [`EngineError::Cancelled`], so
//! the ledger records the run as `refused` with the reason; what was
//! overridden is kept on the record ([`GuardRecord`]) and a break-glass run
//! is notified to every `notify` target.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_lang::envsettings::EnvironmentSettings;
use terrace_state::{
    Approval, GuardRecord, Identity, LedgerQuery, LedgerRecord, Notification, Outcome, State,
    StateStore, blob_hash,
};

use crate::context::LoadedEnv;
use crate::error::EngineError;
use crate::model::{Action, Plan, PlanMode};

/// What a saved plan file carries for the guard (the plan file's `guard`
/// field): who made the plan, and whether `--allow-destructive` was given
/// at plan time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFileGuard {
    pub author: Identity,
    /// The author's principal ([`principal_of`]).
    pub principal: String,
    #[serde(default)]
    pub allow_destructive: bool,
}

/// A saved plan file as the guard sees it.
#[derive(Clone, Debug, Default)]
pub struct SavedPlanInfo {
    /// SHA-256 (hex) of the file's bytes.
    pub sha256: String,
    /// The path as given, for messages.
    pub path: String,
    pub guard: Option<PlanFileGuard>,
}

/// The guard's inputs for one run (the CLI fills them in).
#[derive(Clone, Debug, Default)]
pub struct GuardOptions {
    /// The `environment` block that applies, if any.
    pub settings: Option<EnvironmentSettings>,
    /// Now (the CLI's clock: `TERRACE_NOW` in tests).
    pub now: Option<DateTime<Utc>>,
    pub allow_destructive: bool,
    pub break_glass: Option<String>,
    pub saved_plan: Option<SavedPlanInfo>,
    /// The project root, to name module files as the ledger's snapshots do.
    pub project_root: PathBuf,
}

/// The person an identity stands for, for approvals: the CI actor in CI
/// (`github_actions:octocat`), else the AWS caller ARN, else `user@host`.
pub fn principal_of(id: &Identity) -> String {
    if let Some(ci) = &id.ci
        && let Some(actor) = &ci.actor
    {
        return format!("{}:{actor}", ci.system);
    }
    if let Some(arn) = &id.aws_arn {
        return arn.clone();
    }
    id.os_user.clone()
}

fn refuse(msg: String) -> EngineError {
    EngineError::Cancelled(msg)
}

/// Deletes and replacements a plan makes.
pub fn destructive_counts(plan: &Plan) -> (u64, u64) {
    let mut deletes = 0;
    let mut replaces = 0;
    for c in plan.effective_changes() {
        match c.action {
            Action::Delete => deletes += 1,
            Action::DeleteThenCreate | Action::CreateThenDelete => replaces += 1,
            _ => {}
        }
    }
    (deletes, replaces)
}

/// Managed resource instances in `state` (the base of a percentage limit).
pub fn resource_total(state: Option<&State>) -> u64 {
    state.map_or(0, |s| {
        s.resources.iter().filter(|r| r.mode == "managed").count() as u64
    })
}

/// Check `max_deletes` / `max_replacements`. `Ok` holds one line per limit
/// exceeded but overridden by `allow`; `Err` the refusal.
pub fn check_limits(
    settings: &EnvironmentSettings,
    env: &str,
    plan: &Plan,
    total: u64,
    allow: bool,
) -> Result<Vec<String>, String> {
    let (deletes, replaces) = destructive_counts(plan);
    let mut over = Vec::new();
    for (limit, n, what, name) in [
        (settings.max_deletes, deletes, "deletes", "max_deletes"),
        (
            settings.max_replacements,
            replaces,
            "replaces",
            "max_replacements",
        ),
    ] {
        let Some(limit) = limit else { continue };
        let allowed = limit.allowed(total);
        if n > allowed {
            let of = match limit {
                terrace_lang::envsettings::Limit::Percent(_) => {
                    format!(" ({limit} of {total} resources)")
                }
                _ => String::new(),
            };
            over.push(format!(
                "the plan {what} {n} resource(s) of '{env}', above {name} = {limit}{of} ({})",
                settings.location
            ));
        }
    }
    if over.is_empty() || allow {
        return Ok(over);
    }
    Err(format!(
        "refused: {}. Review the plan; to go ahead anyway pass --allow-destructive (recorded in the ledger).",
        over.join("; ")
    ))
}

/// The approvals that count for a plan: by distinct principals, not by the
/// author unless self-approval is allowed.
pub fn counting(approvals: &[Approval], author: Option<&str>, allow_self: bool) -> Vec<Approval> {
    let mut seen = BTreeSet::new();
    approvals
        .iter()
        .filter(|a| allow_self || author.is_none_or(|au| au != a.principal))
        .filter(|a| seen.insert(a.principal.clone()))
        .cloned()
        .collect()
}

/// The refusal of a run on a protected environment without a saved plan
/// file: how to do the same through an approved plan. A destroy (`destroy`,
/// `env destroy`, `env gc`) is told to plan with `-destroy`; an `env`
/// command, that `env destroy` then removes the emptied environment.
fn needs_saved_plan(
    settings: &EnvironmentSettings,
    env: &str,
    destroy: bool,
    operation: &str,
) -> String {
    let need = settings.approvals;
    let (what, flag, file) = if destroy {
        ("destroyed", " -destroy", format!("{env}-destroy.tfplan"))
    } else {
        ("applied", "", format!("{env}.tfplan"))
    };
    let then = if destroy && operation.starts_with("env ") {
        format!("; `terrace env destroy {env}` then removes the emptied environment's record")
    } else {
        String::new()
    };
    format!(
        "refused: '{env}' is a protected environment ({}): it is {what} only from a saved plan file with {need} approval(s). \
         Run `terrace plan{flag} -e {env} -out {file}`, have it approved with `terrace approve {file}` by someone other than its author, \
         then `terrace apply {file}`{then}.",
        settings.location
    )
}

/// Protected environments: the saved plan's approvals.
async fn check_approvals(
    store: &dyn StateStore,
    settings: &EnvironmentSettings,
    env: &str,
    saved: &SavedPlanInfo,
    rec: &mut GuardRecord,
) -> Result<(), EngineError> {
    let need = settings.approvals;
    rec.plan_sha256 = Some(saved.sha256.clone());
    let author = saved.guard.as_ref().map(|g| g.principal.as_str());
    let all = store.approvals(env, Some(&saved.sha256)).await?;
    let ok = counting(&all, author, settings.allow_self_approval);
    rec.approvals = ok.iter().map(|a| a.principal.clone()).collect();
    if ok.len() as u32 >= need {
        return Ok(());
    }
    let mut why = format!(
        "refused: '{env}' is protected ({}) and plan file {} (sha256 {}) has {} of the {need} approval(s) it needs",
        settings.location,
        saved.path,
        short(&saved.sha256),
        ok.len()
    );
    if ok.is_empty() {
        why.push_str(" (no approval counts yet)");
    } else {
        why.push_str(&format!(
            " (approved by {})",
            ok.iter()
                .map(|a| a.principal.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let by_author = all.len() - ok.len();
    if by_author > 0 {
        why.push_str(&format!(
            "; {by_author} approval(s) by the plan's author ({}) do not count (allow_self_approval is false)",
            author.unwrap_or("?")
        ));
    }
    let others: BTreeSet<String> = store
        .approvals(env, None)
        .await?
        .into_iter()
        .filter(|a| a.plan_sha256 != saved.sha256)
        .map(|a| short(&a.plan_sha256))
        .collect();
    if !others.is_empty() {
        why.push_str(&format!(
            "; approvals exist for other plan files of '{env}' (sha256 {}): an approval covers exactly the file approved, so a plan file changed after approval needs approving again",
            others.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    why.push_str(&format!(
        ". Missing: {} approval(s) with `terrace approve {}` by someone other than the author.",
        need as usize - ok.len(),
        saved.path
    ));
    Err(refuse(why))
}

fn short(h: &str) -> String {
    h.chars().take(12).collect()
}

/// Module files an environment uses: path (relative to the project) →
/// SHA-256 of the text, leaving out the environment's own folder.
fn module_files(snapshot: &terrace_state::ConfigSnapshot) -> BTreeMap<String, String> {
    let own = format!("{}/", snapshot.env_dir.trim_end_matches('/'));
    snapshot
        .files
        .iter()
        .filter(|(p, _)| !p.starts_with(&own))
        .map(|(p, h)| (p.clone(), h.clone()))
        .collect()
}

fn dir_of(p: &str) -> &str {
    p.rsplit_once('/').map_or("", |(d, _)| d)
}

/// Do two environments' module files agree on every module folder both
/// use (and do they share one)?
fn same_modules(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> bool {
    let dirs_a: BTreeSet<&str> = a.keys().map(|p| dir_of(p)).collect();
    let dirs_b: BTreeSet<&str> = b.keys().map(|p| dir_of(p)).collect();
    let common: BTreeSet<&str> = dirs_a.intersection(&dirs_b).copied().collect();
    if common.is_empty() {
        return false;
    }
    let pick = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.iter()
            .filter(|(p, _)| common.contains(dir_of(p)))
            .map(|(p, h)| (p.clone(), h.clone()))
            .collect()
    };
    pick(a) == pick(b)
}

/// Promotion: a succeeded apply in `from` of the same commit, or of the
/// same content of the modules both environments use.
async fn check_promotion(
    store: &dyn StateStore,
    settings: &EnvironmentSettings,
    from: &str,
    env: &LoadedEnv,
    identity: &Identity,
    opts: &GuardOptions,
    now: DateTime<Utc>,
) -> Result<Option<String>, EngineError> {
    let since = settings
        .promote_within
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| now - d);
    let records: Vec<LedgerRecord> = store
        .ledger_list(&LedgerQuery {
            env: Some(from.to_string()),
            since: None,
        })
        .await?
        .into_iter()
        .filter(|r| r.operation == "apply" && r.outcome == Outcome::Succeeded)
        .filter(|r| since.is_none_or(|s| r.ended_at.unwrap_or(r.started_at) >= s))
        .collect();
    let commit = identity.ci.as_ref().and_then(|c| c.commit_sha.clone());
    if let Some(sha) = &commit
        && let Some(r) = records.iter().rev().find(|r| {
            r.identity.ci.as_ref().and_then(|c| c.commit_sha.as_deref()) == Some(sha.as_str())
        })
    {
        return Ok(Some(format!(
            "commit {sha} was applied in '{from}' by ledger record {}",
            r.id
        )));
    }
    let roots = vec![opts.project_root.clone()];
    let (manifest, files) = crate::ledger::snapshot_of(&roots, env);
    let mut mine_snapshot = manifest;
    for (p, text) in &files {
        mine_snapshot.files.insert(p.clone(), blob_hash(text));
    }
    let mine = module_files(&mine_snapshot);
    for r in records.iter().rev() {
        let Some(addr) = &r.snapshot else { continue };
        let Some(text) = store.blob_get(addr).await? else {
            continue;
        };
        let Ok(snap) = serde_json::from_str::<terrace_state::ConfigSnapshot>(&text) else {
            continue;
        };
        if same_modules(&mine, &module_files(&snap)) {
            return Ok(Some(format!(
                "the modules both use were applied in '{from}' with the same content by ledger record {}",
                r.id
            )));
        }
    }
    let within = settings
        .promote_within
        .map(|d| format!(" within the last {}", humantime::format_duration(d)))
        .unwrap_or_default();
    let what = match &commit {
        Some(sha) => format!("commit {sha}, nor the same module content,"),
        None => "the same module content (no CI commit is known for this run)".to_string(),
    };
    Err(refuse(format!(
        "refused: '{}' is promoted from '{from}' ({}), but {what} has a succeeded apply in '{from}'{within}. \
         Apply it to '{from}' first, or pass --break-glass REASON (recorded and notified).",
        env.name, settings.location
    )))
}

/// The freeze window of `settings` that is active at `now`, if any, as one
/// line: its end, what it is and where it is set.
pub fn active_freeze(settings: &EnvironmentSettings, now: DateTime<Utc>) -> Option<String> {
    settings.freeze.iter().find_map(|w| {
        let (_, end) = w.active_at(now)?;
        Some(format!(
            "freeze window until {} ({}; {})",
            end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            w.describe(),
            settings.location
        ))
    })
}

/// Run every check of the environment's settings for an apply of `plan`.
/// `identity` is the running identity (CI context included); `operation`
/// the command (`apply`, `env destroy`, …), for the refusals' advice.
pub async fn check(
    store: &dyn StateStore,
    opts: &GuardOptions,
    env: &LoadedEnv,
    plan: &Plan,
    prior: Option<&State>,
    identity: &Identity,
    operation: &str,
) -> Result<GuardRecord, EngineError> {
    let mut rec = GuardRecord {
        allow_destructive: opts.allow_destructive,
        break_glass: opts.break_glass.clone(),
        ..Default::default()
    };
    let Some(settings) = &opts.settings else {
        return Ok(rec);
    };
    rec.settings = Some(settings.location.clone());
    let now = opts.now.unwrap_or_else(Utc::now);
    if settings.protected {
        let Some(saved) = opts.saved_plan.as_ref() else {
            return Err(refuse(needs_saved_plan(
                settings,
                &env.name,
                plan.mode == PlanMode::Destroy,
                operation,
            )));
        };
        check_approvals(store, settings, &env.name, saved, &mut rec).await?;
    } else if let Some(s) = &opts.saved_plan {
        rec.plan_sha256 = Some(s.sha256.clone());
    }
    let allow = opts.allow_destructive
        || opts
            .saved_plan
            .as_ref()
            .and_then(|s| s.guard.as_ref())
            .is_some_and(|g| g.allow_destructive);
    rec.allow_destructive = allow;
    let over =
        check_limits(settings, &env.name, plan, resource_total(prior), allow).map_err(refuse)?;
    rec.overridden.extend(over);
    if let Some(line) = active_freeze(settings, now) {
        if opts.break_glass.is_none() {
            return Err(refuse(format!(
                "refused: '{}' is frozen: {line}. Wait until the window ends, or pass --break-glass REASON (recorded in the ledger and always notified).",
                env.name
            )));
        }
        rec.overridden.push(line);
    }
    if let Some(from) = &settings.promote_from {
        match check_promotion(store, settings, from, env, identity, opts, now).await {
            Ok(Some(evidence)) => rec.promoted = Some(evidence),
            Ok(None) => {}
            Err(EngineError::Cancelled(msg)) if opts.break_glass.is_some() => {
                rec.overridden
                    .push(msg.trim_start_matches("refused: ").to_string());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(rec)
}

/// Who is running, as approvals and plan files record it: `who`
/// (`user@host`), the CI context, and the AWS caller identity of the
/// environment's providers (one `GetCallerIdentity`; left out when the
/// providers cannot tell).
pub async fn whoami(
    engine: &crate::Engine,
    env: &LoadedEnv,
    who: String,
    ci: Option<terrace_state::CiContext>,
) -> Identity {
    let mut id = Identity {
        os_user: who,
        ci,
        ..Default::default()
    };
    let empty = crate::values::ValueTable::new();
    match crate::context::configure_providers(engine, env, &empty, &[]).await {
        Ok(providers) => {
            if let Some(me) = crate::ops::caller_identity(&providers).await {
                id.aws_account = Some(me.account);
                id.aws_arn = Some(me.arn);
            }
        }
        Err(e) => tracing::warn!("cannot ask the providers who is running: {e}"),
    }
    id
}

/// A break-glass run is notified to every `notify` target whatever its
/// `events` (event `break_glass`), once its record is closed.
pub async fn notify_break_glass(
    targets: &[crate::notify::Target],
    rec: &LedgerRecord,
) -> Vec<Notification> {
    if rec.guard.as_ref().is_none_or(|g| g.break_glass.is_none()) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for t in targets {
        out.push(crate::notify::send_record(t, "break_glass", rec).await);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval(principal: &str) -> Approval {
        Approval {
            id: principal.into(),
            env: "prod".into(),
            plan_sha256: "a".repeat(64),
            approver: Identity::default(),
            principal: principal.into(),
            author: Some("alice".into()),
            comment: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn principals_prefer_the_ci_actor() {
        let mut id = Identity {
            os_user: "me@host".into(),
            ..Default::default()
        };
        assert_eq!(principal_of(&id), "me@host");
        id.aws_arn = Some("arn:aws:iam::1:user/me".into());
        assert_eq!(principal_of(&id), "arn:aws:iam::1:user/me");
        id.ci = Some(terrace_state::CiContext {
            system: "github_actions".into(),
            actor: Some("octocat".into()),
            ..Default::default()
        });
        assert_eq!(principal_of(&id), "github_actions:octocat");
    }

    #[test]
    fn authors_and_repeats_do_not_count() {
        let list = vec![approval("alice"), approval("bob"), approval("bob")];
        let ok = counting(&list, Some("alice"), false);
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].principal, "bob");
        assert_eq!(counting(&list, Some("alice"), true).len(), 2);
    }

    #[test]
    fn module_content_is_compared_on_shared_folders() {
        let m = |xs: &[(&str, &str)]| -> BTreeMap<String, String> {
            xs.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let stage = m(&[("modules/net/main.tf", "1"), ("modules/reg/main.tf", "2")]);
        let prod = m(&[("modules/net/main.tf", "1")]);
        assert!(same_modules(&prod, &stage));
        let changed = m(&[("modules/net/main.tf", "9")]);
        assert!(!same_modules(&changed, &stage));
        let added = m(&[("modules/net/main.tf", "1"), ("modules/net/extra.tf", "3")]);
        assert!(!same_modules(&added, &stage));
        assert!(!same_modules(&m(&[]), &stage));
    }
}
