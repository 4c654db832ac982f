//! `environment "NAME"` blocks of `terrace.hcl`: per-environment guardrails
//! (protected environments with approvals, blast-radius limits, freeze
//! windows, promotion from another environment) and the limits of
//! ephemeral environments made from a template (`max_ttl`, `default_ttl`,
//! `max_count`). Names may be globs (`pr-*`). This module only parses and
//! validates (every mistake is a diagnostic at file:line:col); the engine's
//! `guard` module enforces the settings.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveTime, TimeZone, Utc, Weekday};
use hcl_edit::structure::{Block, Structure};
use terrace_core::{Diagnostic, Diagnostics, Value};

use crate::config::header_span;
use crate::eval::eval_const;
use crate::refs::span_of;
use crate::source::SourceFile;
use crate::suggest::did_you_mean;

/// The arguments an `environment` block takes.
const ARGS: &[&str] = &[
    "protected",
    "approvals",
    "allow_self_approval",
    "max_deletes",
    "max_replacements",
    "promote_from",
    "promote_within",
    "max_ttl",
    "default_ttl",
    "max_count",
];

/// The arguments of a `freeze` block.
const FREEZE_ARGS: &[&str] = &[
    "start",
    "end",
    "days",
    "start_time",
    "end_time",
    "time_zone",
    "reason",
];

/// The settings of one `environment` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentSettings {
    /// The block's label: an environment name or a glob (`*`, `?`).
    pub pattern: String,
    /// Where the block is, `terrace.hcl:LINE:COL`, for messages.
    pub location: String,
    /// Apply only from a saved plan file with `approvals` approvals.
    pub protected: bool,
    /// How many approvals a protected environment's plan needs (default 1).
    pub approvals: u32,
    /// May the plan's author approve it?
    pub allow_self_approval: bool,
    pub max_deletes: Option<Limit>,
    pub max_replacements: Option<Limit>,
    pub freeze: Vec<FreezeWindow>,
    /// Apply only what has a succeeded apply in this environment.
    pub promote_from: Option<String>,
    /// ... no longer ago than this.
    pub promote_within: Option<Duration>,
    /// Ephemeral environments: the longest `--ttl` (and `env extend`).
    pub max_ttl: Option<Duration>,
    /// Ephemeral environments: the TTL when `env create` has no `--ttl`.
    pub default_ttl: Option<Duration>,
    /// Ephemeral environments: how many may be live per template.
    pub max_count: Option<u32>,
}

impl EnvironmentSettings {
    fn new(pattern: String, location: String) -> Self {
        EnvironmentSettings {
            pattern,
            location,
            protected: false,
            approvals: 1,
            allow_self_approval: false,
            max_deletes: None,
            max_replacements: None,
            freeze: Vec::new(),
            promote_from: None,
            promote_within: None,
            max_ttl: None,
            default_ttl: None,
            max_count: None,
        }
    }

    /// Does this block apply to environment `name`?
    pub fn matches(&self, name: &str) -> bool {
        glob_match(&self.pattern, name)
    }
}

/// A limit on how many instances a plan may delete or replace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// At most this many.
    Count(u64),
    /// At most this share of the environment's resource instances, in
    /// hundredths of a percent (`"12.5%"` is 1250).
    Percent(u32),
}

impl Limit {
    /// The largest allowed number for an environment of `total` instances
    /// (a percentage rounds down).
    pub fn allowed(&self, total: u64) -> u64 {
        match *self {
            Limit::Count(n) => n,
            Limit::Percent(p) => total * u64::from(p) / 10_000,
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Limit::Count(n) => write!(f, "{n}"),
            Limit::Percent(p) if p % 100 == 0 => write!(f, "{}%", p / 100),
            Limit::Percent(p) => write!(f, "{}.{:02}%", p / 100, p % 100),
        }
    }
}

/// A time when applies are refused (unless `--break-glass`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FreezeWindow {
    /// From `start` (inclusive) to `end` (exclusive).
    Fixed {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        reason: String,
    },
    /// Every week on `days`, from `start_time` to `end_time` local time in
    /// `time_zone` (an end at or before the start ends on the next day).
    Weekly {
        days: Vec<Weekday>,
        start_time: NaiveTime,
        end_time: NaiveTime,
        time_zone: chrono_tz::Tz,
        reason: String,
    },
}

impl FreezeWindow {
    pub fn reason(&self) -> &str {
        match self {
            FreezeWindow::Fixed { reason, .. } | FreezeWindow::Weekly { reason, .. } => reason,
        }
    }

    /// The window's occurrence that holds `now`: its start and end, or
    /// `None` when `now` is outside every occurrence.
    pub fn active_at(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        match self {
            FreezeWindow::Fixed { start, end, .. } => {
                (*start <= now && now < *end).then_some((*start, *end))
            }
            FreezeWindow::Weekly {
                days,
                start_time,
                end_time,
                time_zone,
                ..
            } => {
                let local = now.with_timezone(time_zone).naive_local();
                // An occurrence that started today or (running past
                // midnight) yesterday.
                for back in 0..2 {
                    let day = local.date() - chrono::Duration::days(back);
                    if !days.contains(&day.weekday()) {
                        continue;
                    }
                    let start = day.and_time(*start_time);
                    let end = if end_time > start_time {
                        day.and_time(*end_time)
                    } else {
                        (day + chrono::Duration::days(1)).and_time(*end_time)
                    };
                    if start <= local && local < end {
                        let utc = |t: chrono::NaiveDateTime| {
                            time_zone
                                .from_local_datetime(&t)
                                .earliest()
                                .map(|t| t.with_timezone(&Utc))
                                .unwrap_or(now)
                        };
                        return Some((utc(start), utc(end)));
                    }
                }
                None
            }
        }
    }

    /// One line for messages: when and why.
    pub fn describe(&self) -> String {
        match self {
            FreezeWindow::Fixed {
                start, end, reason, ..
            } => format!(
                "{} to {}: {reason}",
                start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            FreezeWindow::Weekly {
                days,
                start_time,
                end_time,
                time_zone,
                reason,
            } => format!(
                "every {} {}–{} {time_zone}: {reason}",
                days.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                start_time.format("%H:%M"),
                end_time.format("%H:%M")
            ),
        }
    }
}

/// `*` matches any run of characters, `?` one character; everything else
/// itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The settings that apply to environment `name`: the block named exactly
/// `name`, else the first block (in file order) whose glob matches.
pub fn settings_for<'a>(
    all: &'a [EnvironmentSettings],
    name: &str,
) -> Option<&'a EnvironmentSettings> {
    all.iter()
        .find(|s| s.pattern == name)
        .or_else(|| all.iter().find(|s| s.matches(name)))
}

fn parse_duration_text(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    // Days are the usual unit of a TTL; humantime knows them as `d`.
    humantime::parse_duration(s).map_err(|e| format!("{e}"))
}

/// Parse one `environment "NAME"` block, reporting every problem.
pub(crate) fn parse_environment_block(
    b: &Block,
    file: &SourceFile,
    root: &Path,
    existing: &[EnvironmentSettings],
    diags: &mut Diagnostics,
) -> Option<EnvironmentSettings> {
    let err = |span, summary: &str, detail: String| {
        Diagnostic::error(summary, detail).at(Some(file.range(span)))
    };
    let pattern = match b.labels.as_slice() {
        [l] => l.as_str().to_string(),
        _ => {
            diags.push(err(
                header_span(b),
                "Missing name for environment block",
                "An environment block takes one label: the environment's name or a glob, e.g. environment \"prod\" { … } or environment \"pr-*\" { … }.".into(),
            ));
            return None;
        }
    };
    let header = header_span(b);
    if pattern.is_empty()
        || !pattern
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '*' | '?'))
    {
        diags.push(err(
            header.clone(),
            "Invalid environment name",
            format!("\"{pattern}\" is not an environment name or glob: use lower-case letters, digits and '-', with '*' and '?' as wildcards (e.g. \"prod\", \"pr-*\")."),
        ));
        return None;
    }
    if let Some(prev) = existing.iter().find(|s| s.pattern == pattern) {
        diags.push(err(
            header.clone(),
            "Duplicate environment block",
            format!(
                "An environment block for \"{pattern}\" was already declared at {}; merge the two.",
                prev.location
            ),
        ));
        return None;
    }
    let location = file.range(header.clone()).to_string();
    let mut s = EnvironmentSettings::new(pattern.clone(), location);
    let mut approvals_span = None;
    let mut self_approval_span = None;
    let mut within_span = None;
    let mut default_ttl_span = None;
    let before = diags.len();
    for st in b.body.iter() {
        match st {
            Structure::Attribute(a) => {
                let key = a.key.as_str();
                let vspan = span_of(&a.value);
                let value = match eval_const(&a.value, file, root) {
                    Ok(v) => v,
                    Err(d) => {
                        diags.extend(d);
                        continue;
                    }
                };
                match key {
                    "protected" => match value {
                        Value::Bool(x) => s.protected = x,
                        _ => diags.push(err(vspan, "Incorrect attribute value type", "protected must be true or false.".into())),
                    },
                    "allow_self_approval" => match value {
                        Value::Bool(x) => {
                            s.allow_self_approval = x;
                            self_approval_span = Some(span_of(&a.key));
                        }
                        _ => diags.push(err(vspan, "Incorrect attribute value type", "allow_self_approval must be true or false.".into())),
                    },
                    "approvals" => match whole(&value) {
                        Some(n) if (1..=20).contains(&n) => {
                            s.approvals = n as u32;
                            approvals_span = Some(span_of(&a.key));
                        }
                        _ => diags.push(err(vspan, "Invalid approvals", "approvals must be a whole number from 1 to 20 (how many people must approve a plan).".into())),
                    },
                    "max_count" => match whole(&value) {
                        Some(n) if (1..=10_000).contains(&n) => s.max_count = Some(n as u32),
                        _ => diags.push(err(vspan, "Invalid max_count", "max_count must be a whole number, at least 1 (how many environments made from this template may be live at once).".into())),
                    },
                    "max_deletes" | "max_replacements" => match parse_limit(&value) {
                        Ok(l) => {
                            if key == "max_deletes" {
                                s.max_deletes = Some(l)
                            } else {
                                s.max_replacements = Some(l)
                            }
                        }
                        Err(why) => diags.push(err(vspan, &format!("Invalid {key}"), format!("{why} Write a whole number (e.g. {key} = 5) or a share of the environment's resources as a string (e.g. {key} = \"10%\")."))),
                    },
                    "promote_from" => match value {
                        Value::String(v) if v == pattern => diags.push(err(vspan, "Invalid promote_from", format!("\"{v}\" cannot be promoted from itself; name the environment changes must pass first (e.g. promote_from = \"stage\")."))),
                        Value::String(v) if crate_env_name_ok(&v) => s.promote_from = Some(v.to_string()),
                        _ => diags.push(err(vspan, "Invalid promote_from", "promote_from must name one environment, e.g. promote_from = \"stage\".".into())),
                    },
                    "promote_within" | "max_ttl" | "default_ttl" => match value {
                        Value::String(v) => match parse_duration_text(&v) {
                            Ok(d) if !d.is_zero() => {
                                match key {
                                    "promote_within" => {
                                        s.promote_within = Some(d);
                                        within_span = Some(span_of(&a.key));
                                    }
                                    "max_ttl" => s.max_ttl = Some(d),
                                    _ => {
                                        s.default_ttl = Some(d);
                                        default_ttl_span = Some(vspan);
                                    }
                                }
                            }
                            Ok(_) => diags.push(err(vspan, &format!("Invalid {key}"), format!("{key} must be longer than zero."))),
                            Err(e) => diags.push(err(vspan, &format!("Invalid {key}"), format!("\"{v}\" is not a duration ({e}); write e.g. \"72h\", \"30m\" or \"7d\"."))),
                        },
                        _ => diags.push(err(vspan, "Incorrect attribute value type", format!("{key} must be a duration string, e.g. \"72h\"."))),
                    },
                    other => diags.push(err(
                        span_of(&a.key),
                        "Unsupported argument",
                        format!(
                            "An argument named \"{other}\" is not expected in an environment block.{} Arguments: {}; blocks: freeze.",
                            did_you_mean(other, ARGS.iter().copied()),
                            ARGS.join(", ")
                        ),
                    )),
                }
            }
            Structure::Block(x) if x.ident.as_str() == "freeze" => {
                if let Some(w) = parse_freeze(x, file, root, diags) {
                    s.freeze.push(w);
                }
            }
            Structure::Block(x) => diags.push(err(
                span_of(&x.ident),
                "Unsupported block type",
                format!(
                    "Blocks of type \"{}\" are not expected in an environment block; only freeze blocks are.{}",
                    x.ident.as_str(),
                    did_you_mean(x.ident.as_str(), ["freeze"])
                ),
            )),
        }
    }
    if !s.protected {
        for (span, what) in [
            (approvals_span, "approvals"),
            (self_approval_span, "allow_self_approval"),
        ] {
            if let Some(span) = span {
                diags.push(err(span, "Setting without protected", format!("{what} has effect only on a protected environment; add protected = true to this block, or remove {what}.")));
            }
        }
    }
    if let (Some(span), None) = (within_span, &s.promote_from) {
        diags.push(err(span, "promote_within without promote_from", "promote_within bounds how long ago the apply in promote_from succeeded; add promote_from = \"ENV\" or remove promote_within.".into()));
    }
    if let (Some(d), Some(m), Some(span)) = (s.default_ttl, s.max_ttl, default_ttl_span)
        && d > m
    {
        diags.push(err(
            span,
            "default_ttl above max_ttl",
            format!(
                "default_ttl ({}) is longer than max_ttl ({}); shorten it or raise max_ttl.",
                humantime::format_duration(d),
                humantime::format_duration(m)
            ),
        ));
    }
    (diags.len() == before).then_some(s)
}

fn crate_env_name_ok(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A whole non-negative number.
fn whole(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.to_u64(),
        _ => None,
    }
}

fn parse_limit(v: &Value) -> Result<Limit, String> {
    match v {
        Value::Number(_) => whole(v)
            .map(Limit::Count)
            .ok_or_else(|| "A count must be a whole number, 0 or more.".to_string()),
        Value::String(s) => {
            let Some(num) = s.trim().strip_suffix('%') else {
                return Err(format!("\"{s}\" is neither a number nor a percentage."));
            };
            let num = num.trim();
            let (int, frac) = num.split_once('.').unwrap_or((num, ""));
            let ok = !int.is_empty()
                && int.chars().all(|c| c.is_ascii_digit())
                && frac.len() <= 2
                && frac.chars().all(|c| c.is_ascii_digit());
            let hundredths = ok
                .then(|| {
                    let i: u32 = int.parse().ok()?;
                    let f: u32 = format!("{frac:0<2}").parse().ok()?;
                    i.checked_mul(100)?.checked_add(f)
                })
                .flatten();
            match hundredths {
                Some(h) if h <= 10_000 => Ok(Limit::Percent(h)),
                _ => Err(format!(
                    "\"{s}\" is not a percentage from 0% to 100% (at most two decimals)."
                )),
            }
        }
        other => Err(format!("A {} is not a limit.", other.type_name())),
    }
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    let s = s.trim().to_ascii_lowercase();
    [
        ("mon", Weekday::Mon),
        ("tue", Weekday::Tue),
        ("wed", Weekday::Wed),
        ("thu", Weekday::Thu),
        ("fri", Weekday::Fri),
        ("sat", Weekday::Sat),
        ("sun", Weekday::Sun),
    ]
    .into_iter()
    .find(|(short, day)| s == *short || s == day_name(*day))
    .map(|(_, d)| d)
}

fn day_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

fn parse_freeze(
    b: &Block,
    file: &SourceFile,
    root: &Path,
    diags: &mut Diagnostics,
) -> Option<FreezeWindow> {
    let err = |span, summary: &str, detail: String| {
        Diagnostic::error(summary, detail).at(Some(file.range(span)))
    };
    let header = header_span(b);
    let before = diags.len();
    if !b.labels.is_empty() {
        diags.push(err(
            header.clone(),
            "Extraneous label",
            "A freeze block takes no labels.".into(),
        ));
    }
    let mut start = None;
    let mut end = None;
    let mut days: Option<Vec<Weekday>> = None;
    let mut start_time = None;
    let mut end_time = None;
    let mut tz = None;
    let mut reason = None;
    let mut end_span = None;
    for st in b.body.iter() {
        let Structure::Attribute(a) = st else {
            diags.push(err(
                header.clone(),
                "Unsupported block type",
                "A freeze block holds only arguments.".into(),
            ));
            continue;
        };
        let key = a.key.as_str();
        let vspan = span_of(&a.value);
        let value = match eval_const(&a.value, file, root) {
            Ok(v) => v,
            Err(d) => {
                diags.extend(d);
                continue;
            }
        };
        let text = match (&value, key) {
            (Value::String(s), _) => Some(s.to_string()),
            (_, "days") => None,
            _ => {
                diags.push(err(
                    vspan.clone(),
                    "Incorrect attribute value type",
                    format!("{key} must be a string."),
                ));
                continue;
            }
        };
        match key {
            "start" | "end" => match DateTime::parse_from_rfc3339(text.as_deref().unwrap_or("")) {
                Ok(t) => {
                    let t = t.with_timezone(&Utc);
                    if key == "start" {
                        start = Some(t);
                    } else {
                        end = Some(t);
                        end_span = Some(vspan);
                    }
                }
                Err(e) => diags.push(err(
                    vspan,
                    "Invalid time",
                    format!(
                        "{key} must be an RFC 3339 time such as \"2026-12-20T00:00:00Z\" ({e})."
                    ),
                )),
            },
            "start_time" | "end_time" => {
                match NaiveTime::parse_from_str(text.as_deref().unwrap_or(""), "%H:%M") {
                    Ok(t) => {
                        if key == "start_time" {
                            start_time = Some(t)
                        } else {
                            end_time = Some(t)
                        }
                    }
                    Err(_) => diags.push(err(
                        vspan,
                        "Invalid time of day",
                        format!("{key} must be a 24-hour time HH:MM, e.g. \"16:00\"."),
                    )),
                }
            }
            "time_zone" => {
                let name = text.unwrap_or_default();
                match name.parse::<chrono_tz::Tz>() {
                    Ok(z) => tz = Some(z),
                    Err(_) => diags.push(err(
                        vspan,
                        "Unknown time zone",
                        format!("\"{name}\" is not an IANA time zone; write e.g. \"UTC\", \"Europe/Berlin\" or \"America/New_York\"."),
                    )),
                }
            }
            "reason" => reason = text,
            "days" => match &value {
                Value::List(xs) | Value::Set(xs) if !xs.is_empty() => {
                    let mut out = Vec::new();
                    for x in xs {
                        match x {
                            Value::String(d) if parse_weekday(d).is_some() => {
                                out.extend(parse_weekday(d))
                            }
                            other => diags.push(err(
                                vspan.clone(),
                                "Invalid day",
                                format!("{} is not a day of the week; use \"mon\" … \"sun\" (or full names).", other.to_json_lossy()),
                            )),
                        }
                    }
                    days = Some(out);
                }
                _ => diags.push(err(
                    vspan,
                    "Incorrect attribute value type",
                    "days must be a non-empty list of days, e.g. [\"fri\", \"sat\", \"sun\"].".into(),
                )),
            },
            other => diags.push(err(
                span_of(&a.key),
                "Unsupported argument",
                format!(
                    "An argument named \"{other}\" is not expected in a freeze block.{} A window is either start and end (RFC 3339), or days, start_time, end_time and time_zone; both take reason.",
                    did_you_mean(other, FREEZE_ARGS.iter().copied())
                ),
            )),
        }
    }
    let reason = match reason {
        Some(r) if !r.trim().is_empty() => r.to_string(),
        _ => {
            diags.push(err(
                header.clone(),
                "Missing required argument",
                "A freeze block needs reason: why applies are frozen (shown when one is refused)."
                    .into(),
            ));
            String::new()
        }
    };
    let fixed = start.is_some() || end.is_some();
    let weekly = days.is_some() || start_time.is_some() || end_time.is_some() || tz.is_some();
    let window = match (fixed, weekly) {
        (true, true) => {
            diags.push(err(header, "Conflicting freeze window", "A freeze block is either a fixed window (start, end) or a weekly one (days, start_time, end_time, time_zone), not both; split it into two blocks.".into()));
            None
        }
        (true, false) => match (start, end) {
            (Some(s), Some(e)) if s < e => Some(FreezeWindow::Fixed {
                start: s,
                end: e,
                reason,
            }),
            (Some(_), Some(_)) => {
                diags.push(err(
                    end_span.unwrap_or(header),
                    "Empty freeze window",
                    "end must be after start.".into(),
                ));
                None
            }
            _ => {
                diags.push(err(header, "Missing required argument", "A fixed freeze window needs both start and end (RFC 3339, e.g. \"2026-12-20T00:00:00Z\").".into()));
                None
            }
        },
        (false, true) => match (days, start_time, end_time, tz) {
            (Some(days), Some(st), Some(et), Some(z)) => Some(FreezeWindow::Weekly {
                days,
                start_time: st,
                end_time: et,
                time_zone: z,
                reason,
            }),
            _ => {
                diags.push(err(header, "Missing required argument", "A weekly freeze window needs days, start_time, end_time and time_zone, e.g. days = [\"fri\"], start_time = \"16:00\", end_time = \"23:59\", time_zone = \"Europe/Berlin\".".into()));
                None
            }
        },
        (false, false) => {
            diags.push(err(header, "Empty freeze window", "A freeze block needs start and end (RFC 3339), or days, start_time, end_time and time_zone.".into()));
            None
        }
    };
    if diags.len() == before { window } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<EnvironmentSettings>, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("terrace.hcl"), text).unwrap();
        match crate::find_project(dir.path()) {
            Ok(p) => Ok(p.environments),
            Err(d) => Err(d
                .iter()
                .map(|d| {
                    format!(
                        "{}: {}: {}",
                        d.range
                            .as_ref()
                            .map(|r| format!("{}:{}", r.start.line, r.start.column))
                            .unwrap_or_default(),
                        d.summary,
                        d.detail
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")),
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("pr-*", "pr-42"));
        assert!(glob_match("pr-*", "pr-"));
        assert!(!glob_match("pr-*", "prod"));
        assert!(glob_match("*", "prod"));
        assert!(glob_match("p?od", "prod"));
        assert!(glob_match("*-eu-*", "prod-eu-1"));
        assert!(!glob_match("prod", "prod2"));
    }

    #[test]
    fn full_block_parses() {
        let envs = parse(
            r#"
environment "prod" {
  protected           = true
  approvals           = 2
  allow_self_approval = false
  max_deletes         = 2
  max_replacements    = "12.5%"
  promote_from        = "stage"
  promote_within      = "72h"
  freeze {
    start  = "2026-12-20T00:00:00Z"
    end    = "2027-01-02T00:00:00Z"
    reason = "holidays"
  }
  freeze {
    days       = ["fri", "Saturday"]
    start_time = "16:00"
    end_time   = "08:00"
    time_zone  = "Europe/Berlin"
    reason     = "no weekend deploys"
  }
}
environment "pr-*" {
  max_ttl     = "24h"
  default_ttl = "4h"
  max_count   = 3
}
"#,
        )
        .unwrap();
        assert_eq!(envs.len(), 2);
        let prod = &envs[0];
        assert!(prod.protected);
        assert_eq!(prod.approvals, 2);
        assert_eq!(prod.max_deletes, Some(Limit::Count(2)));
        assert_eq!(prod.max_replacements, Some(Limit::Percent(1250)));
        assert_eq!(prod.max_replacements.unwrap().allowed(16), 2);
        assert_eq!(prod.max_replacements.unwrap().to_string(), "12.50%");
        assert_eq!(prod.promote_from.as_deref(), Some("stage"));
        assert_eq!(prod.promote_within, Some(Duration::from_secs(72 * 3600)));
        assert_eq!(prod.freeze.len(), 2);
        assert!(prod.location.ends_with(":2:1"), "{}", prod.location);
        let pr = settings_for(&envs, "pr-7").unwrap();
        assert_eq!(pr.max_count, Some(3));
        assert_eq!(pr.default_ttl, Some(Duration::from_secs(4 * 3600)));
        assert!(settings_for(&envs, "dev").is_none());
    }

    #[test]
    fn freeze_windows_hold_their_times() {
        let envs = parse(
            r#"
environment "prod" {
  freeze {
    start  = "2026-12-20T00:00:00Z"
    end    = "2027-01-02T00:00:00Z"
    reason = "holidays"
  }
  freeze {
    days       = ["fri"]
    start_time = "22:00"
    end_time   = "06:00"
    time_zone  = "Europe/Berlin"
    reason     = "night"
  }
}
"#,
        )
        .unwrap();
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let [fixed, weekly] = &envs[0].freeze[..] else {
            panic!()
        };
        assert!(fixed.active_at(t("2026-12-24T12:00:00Z")).is_some());
        assert!(fixed.active_at(t("2027-01-02T00:00:00Z")).is_none());
        assert!(fixed.active_at(t("2026-12-19T23:59:59Z")).is_none());
        // Friday 2026-12-04, 22:30 in Berlin (UTC+1) is 21:30 UTC.
        assert!(weekly.active_at(t("2026-12-04T21:30:00Z")).is_some());
        // Saturday 05:59 Berlin: still Friday's window.
        let (s, e) = weekly.active_at(t("2026-12-05T04:59:00Z")).unwrap();
        assert_eq!(s, t("2026-12-04T21:00:00Z"));
        assert_eq!(e, t("2026-12-05T05:00:00Z"));
        // Saturday 06:00 Berlin: over; Thursday night: not a freeze day.
        assert!(weekly.active_at(t("2026-12-05T05:00:00Z")).is_none());
        assert!(weekly.active_at(t("2026-12-03T21:30:00Z")).is_none());
        // Summer time (UTC+2): Friday 2026-07-03 22:30 Berlin is 20:30 UTC.
        assert!(weekly.active_at(t("2026-07-03T20:30:00Z")).is_some());
        assert!(weekly.active_at(t("2026-07-03T19:30:00Z")).is_none());
    }

    #[test]
    fn mistakes_are_located() {
        let err =
            parse("environment \"prod\" {\n  protected = true\n  max_delete = 2\n}\n").unwrap_err();
        assert!(err.contains("3:3: Unsupported argument"), "{err}");
        assert!(err.contains("Did you mean \"max_deletes\"?"), "{err}");
        let err = parse("environment \"prod\" {\n  max_deletes = \"lots\"\n}\n").unwrap_err();
        assert!(err.contains("2:17: Invalid max_deletes"), "{err}");
        let err = parse("environment \"prod\" {\n  approvals = 2\n}\n").unwrap_err();
        assert!(err.contains("2:3: Setting without protected"), "{err}");
        let err = parse(
            "environment \"prod\" {\n  freeze {\n    days = [\"fri\"]\n    start_time = \"25:00\"\n    end_time = \"08:00\"\n    time_zone = \"Mars/Olympus\"\n    reason = \"x\"\n  }\n}\n",
        )
        .unwrap_err();
        assert!(err.contains("4:18: Invalid time of day"), "{err}");
        assert!(err.contains("6:17: Unknown time zone"), "{err}");
        let err = parse(
            "environment \"prod\" {\n  freeze {\n    start = \"2026-01-01T00:00:00Z\"\n  }\n}\n",
        )
        .unwrap_err();
        assert!(err.contains("needs reason"), "{err}");
        assert!(err.contains("needs both start and end"), "{err}");
        let err = parse("environment \"pr-*\" {\n  max_ttl = \"1h\"\n  default_ttl = \"2h\"\n}\n")
            .unwrap_err();
        assert!(err.contains("3:17: default_ttl above max_ttl"), "{err}");
        let err = parse("environment \"pr-*\" {}\nenvironment \"pr-*\" {}\n").unwrap_err();
        assert!(err.contains("2:1: Duplicate environment block"), "{err}");
        let err = parse("environment \"Prod\" {}\n").unwrap_err();
        assert!(err.contains("Invalid environment name"), "{err}");
    }
}
