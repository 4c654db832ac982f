//! `terrace report`: delivery metrics (`terrace_engine::report`) rendered
//! as text, JSON or Markdown.

use super::*;
use clap::{Args, ValueEnum};
use terrace_engine::report::{Metrics, Report};
use terrace_state::LedgerQuery;

use crate::args::EnvArg;

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// Every environment (the default without -e).
    #[arg(long = "all", conflicts_with = "env")]
    pub all: bool,
    /// The window: records started within this long (e.g. 30d, 12h).
    #[arg(long = "since", value_name = "DURATION", default_value = "30d")]
    pub since: String,
    /// Output format.
    #[arg(long = "format", value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Markdown,
}

pub(crate) async fn report(project: &Project, a: ReportArgs) -> Result<u8> {
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    let store = engine.store.as_ref();
    let until = settings::now()?;
    let window = settings::parse_duration(&a.since, "--since duration")?;
    let since = until - chrono::Duration::from_std(window)?;
    let env = if a.all { None } else { a.env.env.clone() };
    let records = store
        .ledger_list(&LedgerQuery {
            env: env.clone(),
            since: Some(since),
        })
        .await?;
    let registry = store.registry_list().await?;
    let mut envs: std::collections::BTreeSet<String> =
        records.iter().map(|r| r.env.clone()).collect();
    if let Some(e) = &env {
        envs.insert(e.clone());
    }
    let mut drift = BTreeMap::new();
    for e in &envs {
        drift.insert(e.clone(), store.drift_runs(e, 10_000).await?);
    }
    let registry: Vec<_> = registry
        .into_iter()
        .filter(|r| env.as_ref().is_none_or(|e| *e == r.name))
        .collect();
    let rep = terrace_engine::report::report(&records, &drift, &registry, since, until);
    match a.format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&rep)?),
        ReportFormat::Text => print!("{}", text(&rep)),
        ReportFormat::Markdown => print!("{}", markdown(&rep)),
    }
    Ok(0)
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |p| format!("{p:.1} %"))
}

fn hrs(v: Option<f64>) -> String {
    v.map_or("-".into(), |h| format!("{h:.1} h"))
}

/// (label, value) rows of one environment's metrics.
fn rows(m: &Metrics) -> Vec<(&'static str, String)> {
    vec![
        (
            "deployments",
            format!(
                "{} ({} succeeded, {} rollbacks)",
                m.deployments, m.succeeded, m.rollbacks
            ),
        ),
        (
            "deployment frequency",
            format!("{:.2} / day", m.deployments_per_day),
        ),
        (
            "change failure rate",
            format!(
                "{} ({} failed or rolled back)",
                pct(m.change_failure_rate_pct),
                m.failed
            ),
        ),
        (
            "time to restore",
            format!(
                "{} median ({} restored, {} not yet)",
                hrs(m.time_to_restore_median_hours),
                m.restore_hours.len(),
                m.unrestored_failures
            ),
        ),
        (
            "lead time",
            format!("{} median", hrs(m.lead_time_median_hours)),
        ),
        (
            "drift incidents",
            format!(
                "{} ({} resolved, {} median to resolve)",
                m.drift_incidents,
                m.drift_resolved,
                hrs(m.drift_resolve_median_hours)
            ),
        ),
        (
            "ephemeral envs",
            format!(
                "{} created, {} reaped, {} expired awaiting gc, {:.1} lifetime hours",
                m.ephemeral_created,
                m.ephemeral_reaped,
                m.ephemeral_expired_pending,
                m.ephemeral_lifetime_hours
            ),
        ),
    ]
}

fn sections(rep: &Report) -> Vec<(String, &Metrics)> {
    let mut out: Vec<(String, &Metrics)> = rep
        .environments
        .iter()
        .map(|(e, m)| (e.clone(), m))
        .collect();
    if rep.environments.len() != 1 {
        out.push(("overall".into(), &rep.overall));
    }
    out
}

fn text(rep: &Report) -> String {
    let mut out = format!(
        "Delivery metrics from {} to {}\n",
        crate::progress::rfc3339(rep.since),
        crate::progress::rfc3339(rep.until)
    );
    for (name, m) in sections(rep) {
        out.push_str(&format!("\n{name}\n"));
        for (k, v) in rows(m) {
            out.push_str(&format!("  {k:<22} {v}\n"));
        }
    }
    out
}

fn markdown(rep: &Report) -> String {
    let secs = sections(rep);
    let mut out = format!(
        "## Delivery metrics\n\n{} to {}\n\n| metric |",
        crate::progress::rfc3339(rep.since),
        crate::progress::rfc3339(rep.until)
    );
    for (name, _) in &secs {
        out.push_str(&format!(" {name} |"));
    }
    out.push_str("\n|---|");
    for _ in &secs {
        out.push_str("---|");
    }
    out.push('\n');
    let table: Vec<Vec<(&str, String)>> = secs.iter().map(|(_, m)| rows(m)).collect();
    if let Some(first) = table.first() {
        for (i, (label, _)) in first.iter().enumerate() {
            out.push_str(&format!("| {label} |"));
            for col in &table {
                out.push_str(&format!(" {} |", col[i].1.replace('|', "\\|")));
            }
            out.push('\n');
        }
    }
    out
}
