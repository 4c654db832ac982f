//! hashicorp/time: `time_static`, `time_offset`, `time_rotating`,
//! `time_sleep`. Times are RFC 3339 in UTC to the second; "now" comes from
//! the [`Clock`](crate::Clock) so tests can pin it.

use crate::util::{int_arg, invalid, set, str_arg};
use crate::{Clock, Kind};
use async_trait::async_trait;
use chrono::{DateTime, Datelike, Months, SecondsFormat, TimeDelta, Timelike, Utc};
use std::sync::OnceLock;
use std::time::Duration;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ProviderSchema, Schema,
};

const PARTS: [&str; 7] = ["year", "month", "day", "hour", "minute", "second", "unix"];

fn triggers() -> Attribute {
    Attribute::optional(AttrType::map_of(AttrType::String)).force_new()
}

fn with_parts(mut s: Schema) -> Schema {
    for p in PARTS {
        s = s.attr(p, Attribute::computed(AttrType::Number));
    }
    s
}

fn schema() -> &'static ProviderSchema {
    static S: OnceLock<ProviderSchema> = OnceLock::new();
    S.get_or_init(|| {
        let mut s = ProviderSchema::default();
        let r = &mut s.resources;
        r.insert(
            "time_static".into(),
            with_parts(
                Schema::new()
                    .attr("id", Attribute::computed(AttrType::String))
                    .attr("triggers", triggers())
                    .attr(
                        "rfc3339",
                        Attribute::optional_computed(AttrType::String).force_new(),
                    ),
            ),
        );
        let mut offset = Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr("triggers", triggers())
            .attr(
                "base_rfc3339",
                Attribute::optional_computed(AttrType::String).force_new(),
            )
            .attr("rfc3339", Attribute::computed(AttrType::String));
        for unit in ["years", "months", "days", "hours", "minutes", "seconds"] {
            offset = offset.attr(
                &format!("offset_{unit}"),
                Attribute::optional(AttrType::Number).force_new(),
            );
        }
        r.insert("time_offset".into(), with_parts(offset));
        let mut rotating = Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr("triggers", triggers())
            .attr(
                "rfc3339",
                Attribute::optional_computed(AttrType::String).force_new(),
            )
            .attr(
                "rotation_rfc3339",
                Attribute::optional_computed(AttrType::String),
            );
        for unit in ["years", "months", "days", "hours", "minutes"] {
            rotating = rotating.attr(
                &format!("rotation_{unit}"),
                Attribute::optional(AttrType::Number),
            );
        }
        r.insert("time_rotating".into(), with_parts(rotating));
        r.insert(
            "time_sleep".into(),
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("triggers", triggers())
                .attr("create_duration", Attribute::optional(AttrType::String))
                .attr("destroy_duration", Attribute::optional(AttrType::String)),
        );
        s
    })
}

pub struct Time {
    clock: Clock,
}

impl Time {
    pub fn new(clock: Clock) -> Self {
        Time { clock }
    }

    fn now(&self) -> DateTime<Utc> {
        let n = (self.clock)();
        n.with_nanosecond(0).unwrap_or(n)
    }
}

fn fmt(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_time(key: &str, s: &str) -> Result<DateTime<Utc>, ProviderError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            invalid(
                key,
                format!(
                    "{key} must be an RFC 3339 time such as 2025-01-31T12:00:00Z, got {s:?} ({e})"
                ),
            )
        })
}

fn set_parts(v: &mut Value, t: DateTime<Utc>) {
    set(v, "year", t.year() as i64);
    set(v, "month", t.month() as i64);
    set(v, "day", t.day() as i64);
    set(v, "hour", t.hour() as i64);
    set(v, "minute", t.minute() as i64);
    set(v, "second", t.second() as i64);
    set(v, "unix", t.timestamp());
}

fn add_months(t: DateTime<Utc>, months: i64, key: &str) -> Result<DateTime<Utc>, ProviderError> {
    let m = Months::new(months.unsigned_abs() as u32);
    let r = if months >= 0 {
        t.checked_add_months(m)
    } else {
        t.checked_sub_months(m)
    };
    r.ok_or_else(|| invalid(key, "the offset leaves the range of representable dates"))
}

/// `t` moved by the `{prefix}_{unit}` arguments of `cfg`.
fn shifted(cfg: &Value, t: DateTime<Utc>, prefix: &str) -> Result<DateTime<Utc>, ProviderError> {
    let mut t = t;
    let arg = |u: &str| int_arg(cfg, &format!("{prefix}_{u}")).unwrap_or(0);
    t = add_months(
        t,
        arg("years") * 12 + arg("months"),
        &format!("{prefix}_months"),
    )?;
    let delta = TimeDelta::try_days(arg("days"))
        .zip(TimeDelta::try_hours(arg("hours")))
        .zip(TimeDelta::try_minutes(arg("minutes")))
        .zip(TimeDelta::try_seconds(arg("seconds")))
        .map(|(((d, h), m), s)| d + h + m + s)
        .ok_or_else(|| invalid(&format!("{prefix}_days"), "the offset is too large"))?;
    t.checked_add_signed(delta)
        .ok_or_else(|| invalid(&format!("{prefix}_days"), "the offset is too large"))
}

/// A Go-style duration (`30s`, `1m30s`, `2h`).
fn duration(cfg: &Value, key: &str) -> Result<Duration, ProviderError> {
    match str_arg(cfg, key) {
        None => Ok(Duration::ZERO),
        Some(s) => humantime::parse_duration(s).map_err(|e| {
            invalid(
                key,
                format!("{key} must be a duration such as 30s, 5m or 1h30m, got {s:?} ({e})"),
            )
        }),
    }
}

fn rotating_args_set(cfg: &Value) -> bool {
    ["years", "months", "days", "hours", "minutes"]
        .iter()
        .any(|u| int_arg(cfg, &format!("rotation_{u}")).is_some())
        || str_arg(cfg, "rotation_rfc3339").is_some()
}

#[async_trait]
impl Kind for Time {
    fn name(&self) -> &'static str {
        "time"
    }

    fn schema(&self) -> &ProviderSchema {
        schema()
    }

    fn adjust_plan(
        &self,
        type_name: &str,
        prior: Option<&Value>,
        planned: &mut PlannedResource,
    ) -> Result<(), ProviderError> {
        let p = &mut planned.planned;
        match type_name {
            "time_sleep" => {
                duration(p, "create_duration")?;
                duration(p, "destroy_duration")?;
            }
            "time_rotating" => {
                let changed = prior.is_some_and(|old| {
                    ["years", "months", "days", "hours", "minutes"]
                        .iter()
                        .any(|u| {
                            let k = format!("rotation_{u}");
                            old.get(&k) != p.get(&k)
                        })
                });
                if prior.is_none() && !rotating_args_set(p) {
                    return Err(invalid(
                        "rotation_days",
                        "time_rotating needs one of rotation_days, rotation_hours, rotation_minutes, rotation_months, rotation_years or rotation_rfc3339",
                    ));
                }
                if changed {
                    // Re-derived from rfc3339 at apply.
                    set(p, "rotation_rfc3339", Value::Unknown);
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn create(
        &self,
        type_name: &str,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value, ProviderError> {
        let mut v = planned.clone();
        match type_name {
            "time_static" => {
                let t = match str_arg(planned, "rfc3339") {
                    Some(s) => parse_time("rfc3339", s)?,
                    None => self.now(),
                };
                set(&mut v, "rfc3339", fmt(t));
                set(&mut v, "id", fmt(t));
                set_parts(&mut v, t);
            }
            "time_offset" => {
                let base = match str_arg(planned, "base_rfc3339") {
                    Some(s) => parse_time("base_rfc3339", s)?,
                    None => self.now(),
                };
                let t = shifted(planned, base, "offset")?;
                set(&mut v, "base_rfc3339", fmt(base));
                set(&mut v, "id", fmt(base));
                set(&mut v, "rfc3339", fmt(t));
                set_parts(&mut v, t);
            }
            "time_rotating" => {
                let base = match str_arg(planned, "rfc3339") {
                    Some(s) => parse_time("rfc3339", s)?,
                    None => self.now(),
                };
                let rotation = match str_arg(planned, "rotation_rfc3339") {
                    Some(s) if !rotating_args_set(&without_rotation_time(planned)) => {
                        parse_time("rotation_rfc3339", s)?
                    }
                    _ => shifted(planned, base, "rotation")?,
                };
                set(&mut v, "rfc3339", fmt(base));
                set(&mut v, "id", fmt(base));
                set(&mut v, "rotation_rfc3339", fmt(rotation));
                set_parts(&mut v, base);
            }
            "time_sleep" => {
                let d = duration(planned, "create_duration")?;
                tokio::time::sleep(d).await;
                set(&mut v, "id", fmt(self.now()));
            }
            other => return Err(crate::unsupported_resource("time", other)),
        }
        Ok(v)
    }

    async fn update(
        &self,
        type_name: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, ProviderError> {
        let mut v = crate::util::fill_unknown_from(planned, prior);
        if type_name == "time_rotating"
            && planned
                .get("rotation_rfc3339")
                .is_some_and(Value::is_unknown)
        {
            let base = parse_time("rfc3339", str_arg(prior, "rfc3339").unwrap_or_default())?;
            set(
                &mut v,
                "rotation_rfc3339",
                fmt(shifted(planned, base, "rotation")?),
            );
        }
        Ok(v)
    }

    async fn read(&self, type_name: &str, prior: &Value) -> Result<Option<Value>, ProviderError> {
        if type_name == "time_rotating"
            && let Some(r) = str_arg(prior, "rotation_rfc3339")
            && let Ok(r) = parse_time("rotation_rfc3339", r)
            && self.now() >= r
        {
            // Expired: gone, so the next apply creates a fresh one (upstream
            // removes it from state the same way).
            return Ok(None);
        }
        Ok(Some(prior.clone()))
    }

    async fn delete(&self, type_name: &str, prior: &Value) -> Result<(), ProviderError> {
        if type_name == "time_sleep" {
            tokio::time::sleep(duration(prior, "destroy_duration")?).await;
        }
        Ok(())
    }

    async fn import(&self, type_name: &str, id: &str) -> Result<Option<Value>, ProviderError> {
        let schema = &schema().resources[type_name];
        let mut v =
            terrace_provider::plan_with_schema(schema, None, &Value::map::<&str>([])).planned;
        let bad = |what: &str| {
            ProviderError::Unsupported(format!("{type_name} import ID {id:?} must be {what}"))
        };
        match type_name {
            "time_static" => {
                let t = parse_time("id", id).map_err(|_| bad("an RFC 3339 time"))?;
                set(&mut v, "rfc3339", fmt(t));
                set(&mut v, "id", fmt(t));
                set_parts(&mut v, t);
            }
            "time_offset" => {
                // BASE_RFC3339,YEARS,MONTHS,DAYS,HOURS,MINUTES,SECONDS
                let what = "BASE_RFC3339,YEARS,MONTHS,DAYS,HOURS,MINUTES,SECONDS";
                let parts: Vec<&str> = id.split(',').collect();
                if parts.len() != 7 {
                    return Err(bad(what));
                }
                let base = parse_time("id", parts[0]).map_err(|_| bad(what))?;
                set(&mut v, "base_rfc3339", fmt(base));
                set(&mut v, "id", fmt(base));
                for (unit, p) in ["years", "months", "days", "hours", "minutes", "seconds"]
                    .iter()
                    .zip(&parts[1..])
                {
                    let n: Option<i64> = if p.is_empty() {
                        None
                    } else {
                        Some(p.parse().map_err(|_| bad(what))?)
                    };
                    set(
                        &mut v,
                        &format!("offset_{unit}"),
                        n.map(Value::from).unwrap_or(Value::Null),
                    );
                }
                let t = shifted(&v, base, "offset")?;
                set(&mut v, "rfc3339", fmt(t));
                set_parts(&mut v, t);
            }
            "time_sleep" => {
                // CREATE_DURATION,DESTROY_DURATION (either may be empty)
                let Some((c, d)) = id.split_once(',') else {
                    return Err(bad("CREATE_DURATION,DESTROY_DURATION"));
                };
                let opt = |s: &str| {
                    if s.is_empty() {
                        Value::Null
                    } else {
                        Value::from(s)
                    }
                };
                set(&mut v, "create_duration", opt(c));
                set(&mut v, "destroy_duration", opt(d));
                duration(&v, "create_duration")?;
                duration(&v, "destroy_duration")?;
                set(&mut v, "id", fmt(self.now()));
            }
            "time_rotating" => {
                // RFC3339,YEARS,MONTHS,DAYS,HOURS,MINUTES or RFC3339,ROTATION_RFC3339
                let parts: Vec<&str> = id.split(',').collect();
                let what =
                    "BASE_RFC3339,YEARS,MONTHS,DAYS,HOURS,MINUTES or BASE_RFC3339,ROTATION_RFC3339";
                let base = parse_time("id", parts[0]).map_err(|_| bad(what))?;
                set(&mut v, "rfc3339", fmt(base));
                set(&mut v, "id", fmt(base));
                set_parts(&mut v, base);
                match parts.len() {
                    2 => {
                        let r = parse_time("id", parts[1]).map_err(|_| bad(what))?;
                        set(&mut v, "rotation_rfc3339", fmt(r));
                    }
                    6 => {
                        for (unit, p) in ["years", "months", "days", "hours", "minutes"]
                            .iter()
                            .zip(&parts[1..])
                        {
                            let n: Option<i64> = if p.is_empty() {
                                None
                            } else {
                                Some(p.parse().map_err(|_| bad(what))?)
                            };
                            set(
                                &mut v,
                                &format!("rotation_{unit}"),
                                n.map(Value::from).unwrap_or(Value::Null),
                            );
                        }
                        let r = shifted(&v, base, "rotation")?;
                        set(&mut v, "rotation_rfc3339", fmt(r));
                    }
                    _ => return Err(bad(what)),
                }
            }
            _ => unreachable!("types are checked by the caller"),
        }
        Ok(Some(v))
    }
}

fn without_rotation_time(v: &Value) -> Value {
    let mut v = v.clone();
    set(&mut v, "rotation_rfc3339", Value::Null);
    v
}
