//! `terrace rollback`: plan (and apply) a return to the configuration
//! snapshot and variable values of an earlier ledger record. The engine
//! (`terrace_engine::rollback`) picks the record and restores the snapshot;
//! this module renders and confirms like `apply`.

use super::*;
use clap::Args;

use crate::args::EnvArg;

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// The ledger record to return to (default: the last succeeded apply
    /// before the current one).
    #[arg(long = "to", value_name = "ID")]
    pub to: Option<String>,
    /// Only show the plan; change nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    /// Save the rollback plan to this file (for review with `terrace show`);
    /// implies --dry-run.
    #[arg(long = "out", value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// With --dry-run or --out: exit 2 when the plan has changes, 0 when none.
    #[arg(long = "detailed-exitcode")]
    pub detailed_exitcode: bool,
    /// How many operations run at once.
    #[arg(long = "parallelism", default_value_t = 10)]
    pub parallelism: usize,
    /// Wait this long for the environment's lock (e.g. 30s, 5m).
    #[arg(long = "lock-timeout", value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: String,
    #[command(flatten)]
    pub guard: GuardFlags,
}

pub(crate) async fn rollback(project: &Project, a: RollbackArgs) -> Result<u8> {
    let lock_timeout = settings::parse_duration(&a.lock_timeout, "--lock-timeout")?;
    let engine = settings::engine(project, lock_timeout).await?;
    let t = target(project, &engine, &a.env).await?;
    let identity = terrace_state::Identity {
        os_user: settings::who(),
        ci: settings::ci_context(),
        ..Default::default()
    };
    let restored =
        terrace_engine::rollback::restore(&engine, &t.name, a.to.as_deref(), &identity).await?;
    let rec = &restored.record;
    eprintln!(
        "Rolling '{}' back to ledger record {} ({} {} at {}{}).",
        t.name,
        rec.id,
        rec.operation,
        rec.outcome,
        rec.started_at.format("%Y-%m-%d %H:%M:%SZ"),
        rec.identity
            .ci
            .as_ref()
            .and_then(|c| c.commit_sha.as_deref())
            .map(|s| format!(", commit {}", &s[..s.len().min(12)]))
            .unwrap_or_default()
    );
    if a.dry_run || a.out.is_some() {
        let opts = PlanOptions {
            refresh: true,
            ..Default::default()
        };
        let load = LoadOptions {
            vars: Default::default(),
            fixed_variables: None,
        };
        let (_, plan, _) = ops::plan(&engine, &restored.target, &load, &opts).await?;
        print!(
            "{}",
            crate::render::render_plan(&plan, Style { on: stdout_color() })
        );
        if let Some(path) = &a.out {
            let mut file = plan.to_file();
            file.rollback_of = Some(rec.id.clone());
            let text = super::apply::write_plan_doc(
                &engine,
                &plan.environment,
                serde_json::to_value(file)?,
            )
            .await?;
            write_private(path, &text)
                .with_context(|| format!("writing plan file {}", path.display()))?;
            eprintln!(
                "\nSaved the rollback plan to: {} (review it with `terrace show {}`; perform it with `terrace apply {}`)",
                path.display(),
                path.display(),
                path.display(),
            );
        }
        return Ok(if a.detailed_exitcode && plan.has_changes() {
            EXIT_CHANGES
        } else {
            0
        });
    }
    run_apply(
        &engine,
        RunApply {
            target: restored.target.clone(),
            load: LoadOptions {
                vars: Default::default(),
                fixed_variables: None,
            },
            plan_opts: PlanOptions {
                refresh: true,
                ..Default::default()
            },
            saved_plan: None,
            auto_approve: a.auto_approve,
            parallelism: a.parallelism,
            operation: "rollback",
            stats: false,
            retention_days: project.ledger_retention_days,
            history: crate::settings::history_retention(project),
            notify: settings::notify_targets(project),
            policy: policy_gate(project, None)?,
            rollback: Some(restored.restore.clone()),
            guard: guard_options(project, &restored.target.name, &a.guard, None)?,
        },
    )
    .await
}
