//! `approve PLANFILE` and the guardrails' command-line side: the approval
//! of a saved plan file for a protected environment (bound to the SHA-256
//! of the file's bytes, with the approver's identity), the plan author
//! recorded into plan files, and the [`GuardOptions`] that `apply`,
//! `destroy` and `env create` hand the engine (see `terrace_engine::guard`).

use super::*;
use sha2::{Digest, Sha256};
use terrace_engine::guard::{GuardOptions, PlanFileGuard, SavedPlanInfo, principal_of};

/// The `environment` block of terrace.hcl that applies to `env`.
pub(crate) fn env_settings(
    project: &Project,
    env: &str,
) -> Option<terrace_lang::envsettings::EnvironmentSettings> {
    terrace_lang::envsettings::settings_for(&project.environments, env).cloned()
}

/// A saved plan file as the guard sees it: the SHA-256 of its bytes and
/// the author recorded in it.
pub(crate) fn saved_plan_info(path: &std::path::Path) -> Result<SavedPlanInfo> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read plan file {}", path.display()))?;
    let guard = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("guard").cloned())
        .and_then(|g| serde_json::from_value::<PlanFileGuard>(g).ok());
    Ok(SavedPlanInfo {
        sha256: hex::encode(Sha256::digest(&bytes)),
        path: path.display().to_string(),
        guard,
    })
}

/// The guard's inputs for a run on `env`.
pub(crate) fn guard_options(
    project: &Project,
    env: &str,
    flags: &GuardFlags,
    saved: Option<&std::path::Path>,
) -> Result<GuardOptions> {
    if let Some(r) = &flags.break_glass
        && r.trim().is_empty()
    {
        bail!("--break-glass needs a reason, e.g. --break-glass \"INC-123: restore the registry\"");
    }
    Ok(GuardOptions {
        settings: env_settings(project, env),
        now: Some(settings::now()?),
        allow_destructive: flags.allow_destructive,
        break_glass: flags.break_glass.clone(),
        saved_plan: saved.map(saved_plan_info).transpose()?,
        project_root: project.root.clone(),
    })
}

/// The guard record a plan file carries: its author (the running identity)
/// and whether `--allow-destructive` was given.
pub(crate) async fn plan_file_guard(
    providers: &terrace_engine::Providers,
    allow_destructive: bool,
) -> PlanFileGuard {
    let mut author = terrace_state::Identity {
        os_user: settings::who(),
        ci: settings::ci_context(),
        ..Default::default()
    };
    if let Some(me) = ops::caller_identity(providers).await {
        author.aws_account = Some(me.account);
        author.aws_arn = Some(me.arn);
    }
    PlanFileGuard {
        principal: principal_of(&author),
        author,
        allow_destructive,
    }
}

/// `plan`: refuse a plan above max_deletes / max_replacements unless
/// `--allow-destructive`; `Ok` with a warning line per overridden limit.
pub(crate) async fn check_plan_limits(
    project: &Project,
    engine: &Engine,
    plan: &Plan,
    allow: bool,
) -> Result<Vec<String>> {
    let Some(s) = env_settings(project, &plan.environment) else {
        return Ok(vec![]);
    };
    if s.max_deletes.is_none() && s.max_replacements.is_none() {
        return Ok(vec![]);
    }
    let prior = engine.store.read(&plan.environment).await?;
    let total = terrace_engine::guard::resource_total(prior.as_ref());
    terrace_engine::guard::check_limits(&s, &plan.environment, plan, total, allow)
        .map_err(|e| anyhow!(e))
}

pub(crate) async fn approve(project: &Project, a: ApproveArgs) -> Result<u8> {
    let info = saved_plan_info(&a.plan_file)?;
    let plan = read_plan_file(&a.plan_file)?;
    let env_name = plan.environment.clone();
    let Some(s) = env_settings(project, &env_name) else {
        bail!(
            "'{env_name}' is not a protected environment (no environment block in terrace.hcl names it), so its plans need no approval; \
             to protect it add environment \"{env_name}\" {{ protected = true }} to terrace.hcl"
        );
    };
    if !s.protected {
        bail!(
            "'{env_name}' is not a protected environment ({}), so its plans need no approval; add protected = true to that block to require approvals",
            s.location
        );
    }
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    let t = target(
        project,
        &engine,
        &EnvArg {
            env: Some(env_name.clone()),
        },
    )
    .await?;
    let load = LoadOptions {
        vars: settings::var_inputs(&VarArgs::default())?,
        fixed_variables: Some(plan.variables.clone()),
    };
    let env = load_env(&engine, &t.name, &t.dir, &load)?;
    let me =
        terrace_engine::guard::whoami(&engine, &env, settings::who(), settings::ci_context()).await;
    let principal = principal_of(&me);
    let author = info.guard.as_ref().map(|g| g.principal.clone());
    if author.as_deref() == Some(principal.as_str()) && !s.allow_self_approval {
        bail!(
            "refused: you ({principal}) made this plan, and a plan of '{env_name}' must be approved by someone else \
             (allow_self_approval = false, {}); nothing was recorded",
            s.location
        );
    }
    if author.is_none() && !s.allow_self_approval {
        bail!(
            "refused: {} records no author (made by an older terrace, or edited), so self-approval cannot be ruled out; \
             plan again with this terrace",
            a.plan_file.display()
        );
    }
    let approval = terrace_state::Approval {
        id: uuid::Uuid::new_v4().to_string(),
        env: env_name.clone(),
        plan_sha256: info.sha256.clone(),
        approver: me,
        principal: principal.clone(),
        author,
        comment: a.comment.clone(),
        created_at: settings::now()?,
    };
    let added = engine.store.approval_add(&approval).await?;
    let all = engine
        .store
        .approvals(&env_name, Some(&info.sha256))
        .await?;
    let author = info.guard.as_ref().map(|g| g.principal.as_str());
    let counting = terrace_engine::guard::counting(&all, author, s.allow_self_approval);
    if added {
        println!(
            "Approved {} (sha256 {}) of '{env_name}' as {principal}.",
            a.plan_file.display(),
            info.sha256
        );
    } else {
        println!(
            "{principal} had already approved {} (sha256 {}); the first approval stands.",
            a.plan_file.display(),
            info.sha256
        );
    }
    let have = counting.len() as u32;
    if have >= s.approvals {
        println!(
            "It has {have} of {} approval(s): `terrace apply {}` may go ahead.",
            s.approvals,
            a.plan_file.display()
        );
    } else {
        println!(
            "It has {have} of {} approval(s); {} more needed.",
            s.approvals,
            s.approvals - have
        );
    }
    Ok(0)
}

/// One ephemeral-environment setting: from the block that applies to the
/// environment's own name, else from the template's block.
fn ephemeral_setting<T>(
    project: &Project,
    name: &str,
    template: &str,
    pick: impl Fn(&terrace_lang::envsettings::EnvironmentSettings) -> Option<T>,
) -> Option<(T, String)> {
    [name, template].into_iter().find_map(|n| {
        let s = env_settings(project, n)?;
        pick(&s).map(|v| (v, s.location.clone()))
    })
}

fn human(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// `env create`: the TTL to give the new environment under `max_ttl` and
/// `default_ttl` (refusing a `--ttl` above `max_ttl`), and the `max_count`
/// of the template, checked when the environment is registered
/// (`envs::register_counted`, atomically).
pub(crate) fn ephemeral_limits(
    project: &Project,
    name: &str,
    template: &str,
    ttl: Option<chrono::Duration>,
) -> Result<(
    Option<chrono::Duration>,
    Option<terrace_engine::envs::CountLimit>,
)> {
    let max_ttl = ephemeral_setting(project, name, template, |s| s.max_ttl);
    if let (Some(t), Some((max, at))) = (ttl, &max_ttl)
        && t.to_std().unwrap_or_default() > *max
    {
        bail!(
            "refused: --ttl {} is longer than max_ttl = {} for '{name}' (template '{template}', {at}); ask for at most {}",
            human(t.to_std().unwrap_or_default()),
            human(*max),
            human(*max)
        );
    }
    let count = ephemeral_setting(project, name, template, |s| s.max_count)
        .map(|(max, location)| terrace_engine::envs::CountLimit { max, location });
    if ttl.is_some() {
        return Ok((ttl, count));
    }
    // Without --ttl: default_ttl, else max_ttl, so it is still reaped.
    let fallback = ephemeral_setting(project, name, template, |s| s.default_ttl)
        .map(|(d, _)| d)
        .or(max_ttl.map(|(d, _)| d));
    Ok((
        fallback.and_then(|d| chrono::Duration::from_std(d).ok()),
        count,
    ))
}

/// `env extend`: refuse a TTL above the environment's `max_ttl`.
pub(crate) async fn check_extend(
    project: &Project,
    engine: &Engine,
    name: &str,
    ttl: chrono::Duration,
) -> Result<()> {
    let Some(rec) = engine.store.registry_get(name).await? else {
        return Ok(()); // envs::extend names the missing environment
    };
    if let Some((max, at)) = ephemeral_setting(project, name, &rec.template, |s| s.max_ttl)
        && ttl.to_std().unwrap_or_default() > max
    {
        bail!(
            "refused: --ttl {} is longer than max_ttl = {} for '{name}' (template '{}', {at}); extend by at most {}",
            human(ttl.to_std().unwrap_or_default()),
            human(max),
            rec.template,
            human(max)
        );
    }
    Ok(())
}

/// `env diff A B`: the two environments' resolved configurations compared.
pub(crate) async fn env_diff(
    project: &Project,
    engine: &Engine,
    a: &str,
    b: &str,
    json: bool,
    detailed_exitcode: bool,
) -> Result<u8> {
    if a == b {
        bail!("env diff compares two different environments; got '{a}' twice");
    }
    let ta = target(
        project,
        engine,
        &EnvArg {
            env: Some(a.into()),
        },
    )
    .await?;
    let tb = target(
        project,
        engine,
        &EnvArg {
            env: Some(b.into()),
        },
    )
    .await?;
    let d = terrace_engine::envdiff::diff_envs(engine, &ta, &tb).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print!("{}", render_env_diff(&d));
    }
    Ok(if detailed_exitcode && !d.is_empty() {
        EXIT_CHANGES
    } else {
        0
    })
}

pub(crate) fn render_env_diff(d: &terrace_engine::envdiff::EnvDiff) -> String {
    use std::fmt::Write as _;
    let (a, b) = (&d.a, &d.b);
    let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not set)".into());
    let mut out = format!(
        "Comparing '{a}' with '{b}' (configured arguments; values differing only by the environment's name count as equal).\n"
    );
    if !d.variables.is_empty() {
        out.push_str("\nVariables:\n");
        for v in &d.variables {
            let _ = writeln!(
                out,
                "  ~ {}: {} ({a}) → {} ({b})",
                v.name,
                side(&v.a),
                side(&v.b)
            );
        }
    }
    if !d.resources.is_empty() {
        out.push_str("\nResources:\n");
        for r in &d.resources {
            match r.kind.as_str() {
                "only_in_a" => {
                    let _ = writeln!(out, "  - {} only in '{a}'", r.address);
                }
                "only_in_b" => {
                    let _ = writeln!(out, "  + {} only in '{b}'", r.address);
                }
                _ => {
                    let _ = writeln!(out, "  ~ {}", r.address);
                    for v in &r.attributes {
                        let _ = writeln!(
                            out,
                            "      {}: {} ({a}) → {} ({b})",
                            v.name,
                            side(&v.a),
                            side(&v.b)
                        );
                    }
                }
            }
        }
    }
    let count = |k: &str| d.resources.iter().filter(|r| r.kind == k).count();
    let _ = writeln!(
        out,
        "\n{} differ, {} only in '{a}', {} only in '{b}', {} identical; {} variable(s) differ.",
        count("changed"),
        count("only_in_a"),
        count("only_in_b"),
        d.identical,
        d.variables.len()
    );
    out
}
