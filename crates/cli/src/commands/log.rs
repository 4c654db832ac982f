//! `terrace log`: the apply ledger — list records (text, JSON or CSV) and
//! show one. The records are kept by the state store (`terrace-state`); this
//! module only queries and renders them.

use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use terrace_lang::Project;
use terrace_state::{LedgerQuery, LedgerRecord, Outcome};

use crate::args::EnvArg;
use crate::settings;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LogArgs {
    #[command(subcommand)]
    pub sub: Option<LogSub>,
    #[command(flatten)]
    pub env: EnvArg,
    /// Every environment's records.
    #[arg(long = "all", conflicts_with = "env")]
    pub all: bool,
    /// Only records started within this long (e.g. 30d, 12h).
    #[arg(long = "since", value_name = "DURATION")]
    pub since: Option<String>,
    /// Only records with this outcome.
    #[arg(long = "outcome", value_enum)]
    pub outcome: Option<OutcomeArg>,
    /// Output format: text (a table), json or csv.
    #[arg(long = "format", value_enum, default_value_t = LedgerFormat::Text)]
    pub format: LedgerFormat,
}

#[derive(Debug, Subcommand)]
pub enum LogSub {
    /// Show one record in full.
    Show {
        /// The record id (as `terrace log` lists it).
        id: String,
        /// Print the record as JSON.
        #[arg(long = "json")]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LedgerFormat {
    Text,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutcomeArg {
    Open,
    Succeeded,
    Failed,
    Interrupted,
    Refused,
}

impl OutcomeArg {
    fn outcome(self) -> Outcome {
        match self {
            OutcomeArg::Open => Outcome::Open,
            OutcomeArg::Succeeded => Outcome::Succeeded,
            OutcomeArg::Failed => Outcome::Failed,
            OutcomeArg::Interrupted => Outcome::Interrupted,
            OutcomeArg::Refused => Outcome::Refused,
        }
    }
}

pub(crate) async fn log(project: &Project, a: LogArgs) -> Result<u8> {
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    let store = engine.store.as_ref();
    if let Some(LogSub::Show { id, json }) = &a.sub {
        let Some(rec) = store.ledger_get(id).await? else {
            bail!(
                "no ledger record {id} in {}; list the records with `terrace log --all`",
                store.describe()
            );
        };
        if *json {
            println!("{}", serde_json::to_string_pretty(&rec)?);
        } else {
            print!("{}", show_text(&rec));
        }
        return Ok(0);
    }
    let env = match (&a.env.env, a.all) {
        (Some(e), false) => Some(e.clone()),
        (None, true) => None,
        _ => bail!("which records? pass -e ENV for one environment or --all for every environment"),
    };
    let since = match &a.since {
        Some(s) => {
            let d = settings::parse_duration(s, "--since duration")?;
            Some(settings::now()? - chrono::Duration::from_std(d)?)
        }
        None => None,
    };
    let mut records = store.ledger_list(&LedgerQuery { env, since }).await?;
    if let Some(o) = a.outcome {
        records.retain(|r| r.outcome == o.outcome());
    }
    match a.format {
        LedgerFormat::Json => println!("{}", serde_json::to_string_pretty(&records)?),
        LedgerFormat::Csv => print!("{}", csv(&records)),
        LedgerFormat::Text if records.is_empty() => eprintln!("No ledger records match."),
        LedgerFormat::Text => print!("{}", table(&records)),
    }
    Ok(0)
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    crate::progress::rfc3339(t)
}

/// `+2 ~1 ±0 -3` for creates, updates, replaces, deletes.
fn counts(r: &LedgerRecord) -> String {
    let c = r.counts;
    format!(
        "+{} ~{} ±{} -{}",
        c.creates, c.updates, c.replaces, c.deletes
    )
}

fn who(r: &LedgerRecord) -> String {
    match &r.identity.ci {
        Some(ci) => ci
            .actor
            .clone()
            .map(|a| format!("{a} ({})", ci.system))
            .unwrap_or_else(|| ci.system.clone()),
        None => r.identity.os_user.clone(),
    }
}

fn table(records: &[LedgerRecord]) -> String {
    let mut out = format!(
        "{:<36}  {:<20}  {:<12}  {:<20}  {:<11}  {:<15}  {}\n",
        "id", "started", "environment", "operation", "outcome", "changes", "by"
    );
    for r in records {
        out.push_str(&format!(
            "{:<36}  {:<20}  {:<12}  {:<20}  {:<11}  {:<15}  {}\n",
            r.id,
            time(r.started_at),
            r.env,
            r.operation,
            r.outcome,
            counts(r),
            who(r)
        ));
    }
    out
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(records: &[LedgerRecord]) -> String {
    let mut out = String::from(
        "id,environment,operation,started_at,ended_at,outcome,creates,updates,replaces,deletes,\
         failed,os_user,ci_system,ci_run_url,commit_sha,branch,change_request,plan_hash,serial_before,serial_after\n",
    );
    for r in records {
        let ci = r.identity.ci.clone().unwrap_or_default();
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        let num = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
        let row = [
            r.id.clone(),
            r.env.clone(),
            r.operation.clone(),
            time(r.started_at),
            r.ended_at.map(time).unwrap_or_default(),
            r.outcome.to_string(),
            r.counts.creates.to_string(),
            r.counts.updates.to_string(),
            r.counts.replaces.to_string(),
            r.counts.deletes.to_string(),
            r.failed
                .iter()
                .map(|f| f.address.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            r.identity.os_user.clone(),
            ci.system.clone(),
            opt(&ci.run_url),
            opt(&ci.commit_sha),
            opt(&ci.branch),
            opt(&ci.change_request),
            opt(&r.plan_hash),
            num(r.serial_before),
            num(r.serial_after),
        ];
        out.push_str(&row.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

fn show_text(r: &LedgerRecord) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: &str| {
        if !v.is_empty() {
            out.push_str(&format!("{k:<15} {v}\n"));
        }
    };
    line("id", &r.id);
    line("environment", &r.env);
    line("operation", &r.operation);
    line("outcome", r.outcome.as_str());
    line("started", &time(r.started_at));
    line("ended", &r.ended_at.map(time).unwrap_or_default());
    line("changes", &counts(r));
    line("os user", &r.identity.os_user);
    line(
        "aws account",
        r.identity.aws_account.as_deref().unwrap_or(""),
    );
    line("aws caller", r.identity.aws_arn.as_deref().unwrap_or(""));
    if let Some(ci) = &r.identity.ci {
        line("ci", &ci.system);
        for (k, v) in [
            ("run", &ci.run_url),
            ("job", &ci.job),
            ("actor", &ci.actor),
            ("commit", &ci.commit_sha),
            ("branch", &ci.branch),
            ("pr/mr", &ci.change_request),
        ] {
            line(k, v.as_deref().unwrap_or(""));
        }
    }
    line("plan sha256", r.plan_hash.as_deref().unwrap_or(""));
    let serials = match (r.serial_before, r.serial_after) {
        (None, None) => String::new(),
        (b, a) => format!(
            "{} -> {}",
            b.map_or("none".into(), |n| n.to_string()),
            a.map_or("none".into(), |n| n.to_string())
        ),
    };
    line("state serial", &serials);
    line("config snapshot", r.snapshot.as_deref().unwrap_or(""));
    line("restores", r.restores.as_deref().unwrap_or(""));
    line(
        "pruned",
        &r.pruned
            .map(|n| format!("{n} records older than the retention"))
            .unwrap_or_default(),
    );
    line("error", r.error.as_deref().unwrap_or(""));
    if let Some(g) = &r.guard {
        line("plan file sha256", g.plan_sha256.as_deref().unwrap_or(""));
        line("approved by", &g.approvals.join(", "));
        line(
            "allow-destructive",
            if g.allow_destructive { "yes" } else { "" },
        );
        line("break-glass", g.break_glass.as_deref().unwrap_or(""));
        line("promoted", g.promoted.as_deref().unwrap_or(""));
        if !g.overridden.is_empty() {
            out.push_str("overridden:\n");
            for o in &g.overridden {
                out.push_str(&format!("  {o}\n"));
            }
        }
    }
    if !r.changed.is_empty() {
        out.push_str("changed:\n");
        for a in &r.changed {
            out.push_str(&format!("  {a}\n"));
        }
    }
    if !r.notifications.is_empty() {
        out.push_str("notifications:\n");
        for n in &r.notifications {
            let how = if n.delivered {
                format!("delivered ({} attempts)", n.attempts)
            } else {
                format!(
                    "not delivered: {}",
                    n.error.as_deref().unwrap_or("unknown error")
                )
            };
            out.push_str(&format!("  {} ({}): {how}\n", n.target, n.event));
        }
    }
    if !r.failed.is_empty() {
        out.push_str("failed:\n");
        for f in &r.failed {
            out.push_str(&format!("  {}: {}\n", f.address, f.error));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
