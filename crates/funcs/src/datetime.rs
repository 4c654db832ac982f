//! Date and time functions over RFC 3339 timestamps.

use crate::args::Args;
use crate::{FuncContext, FuncError};
use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};
use terrace_core::Value;

type R = Result<Value, FuncError>;

fn parse_timestamp(s: &str) -> Result<DateTime<FixedOffset>, String> {
    if s.len() > 10 && s.as_bytes()[10] != b'T' {
        return Err(
            "not a valid RFC3339 timestamp: missing required time introducer 'T'".to_string(),
        );
    }
    DateTime::parse_from_rfc3339(s).map_err(|e| format!("not a valid RFC3339 timestamp: {e}"))
}

fn timestamp_arg(a: &Args<'_>, i: usize) -> Result<DateTime<FixedOffset>, FuncError> {
    let s = a.string(i)?;
    parse_timestamp(&s).map_err(|e| a.error(i, e))
}

/// Go's `Z07:00`: `Z` for UTC, else `+hh:mm`.
fn offset_colon(t: &DateTime<FixedOffset>, z_for_utc: bool) -> String {
    let secs = t.offset().local_minus_utc();
    if secs == 0 && z_for_utc {
        return "Z".to_string();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let abs = secs.unsigned_abs();
    format!("{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
}

fn offset_plain(t: &DateTime<FixedOffset>) -> String {
    offset_colon(t, false).replace(':', "")
}

/// Format as Go's `time.RFC3339` (no fractional seconds).
fn rfc3339(t: &DateTime<FixedOffset>) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        offset_colon(t, true)
    )
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

pub(crate) fn formatdate(a: &Args<'_>, _: &FuncContext) -> R {
    let spec = a.string(0)?;
    let t = timestamp_arg(a, 1)?;
    let chars: Vec<char> = spec.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            let mut j = i + 1;
            loop {
                match chars.get(j) {
                    None => return Err(a.error(0, "unterminated literal '")),
                    Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                        out.push('\'');
                        j += 2;
                    }
                    Some('\'') => break,
                    Some(&ch) => {
                        out.push(ch);
                        j += 1;
                    }
                }
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        i += n;
        let tok: String = std::iter::repeat_n(c, n).collect();
        let bad = |why: &str| a.error(0, format!("invalid date format verb {tok:?}: {why}"));
        match (c, n) {
            ('Y', 2) => out.push_str(&format!("{:02}", t.year().rem_euclid(100))),
            ('Y', 4) => out.push_str(&format!("{:04}", t.year())),
            ('Y', _) => return Err(bad("year must either be \"YY\" or \"YYYY\"")),
            ('M', 1) => out.push_str(&t.month().to_string()),
            ('M', 2) => out.push_str(&format!("{:02}", t.month())),
            ('M', 3) => out.push_str(&MONTHS[t.month0() as usize][..3]),
            ('M', 4) => out.push_str(MONTHS[t.month0() as usize]),
            ('M', _) => return Err(bad("month must be \"M\", \"MM\", \"MMM\", or \"MMMM\"")),
            ('D', 1) => out.push_str(&t.day().to_string()),
            ('D', 2) => out.push_str(&format!("{:02}", t.day())),
            ('D', _) => return Err(bad("day of month must either be \"D\" or \"DD\"")),
            ('E', 3) => out.push_str(&WEEKDAYS[t.weekday().num_days_from_monday() as usize][..3]),
            ('E', 4) => out.push_str(WEEKDAYS[t.weekday().num_days_from_monday() as usize]),
            ('E', _) => return Err(bad("day of week must either be \"EEE\" or \"EEEE\"")),
            ('h', 1) => out.push_str(&t.hour().to_string()),
            ('h', 2) => out.push_str(&format!("{:02}", t.hour())),
            ('h', _) => return Err(bad("24-hour must either be \"h\" or \"hh\"")),
            ('H', 1 | 2) => {
                let h = match t.hour() % 12 {
                    0 => 12,
                    h => h,
                };
                out.push_str(&if n == 2 {
                    format!("{h:02}")
                } else {
                    h.to_string()
                });
            }
            ('H', _) => return Err(bad("12-hour must either be \"H\" or \"HH\"")),
            ('A', 2) => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
            ('a', 2) => out.push_str(if t.hour() < 12 { "am" } else { "pm" }),
            ('A' | 'a', _) => return Err(bad(&format!("must be \"{c}{c}\""))),
            ('m', 1) => out.push_str(&t.minute().to_string()),
            ('m', 2) => out.push_str(&format!("{:02}", t.minute())),
            ('m', _) => return Err(bad("minute must either be \"m\" or \"mm\"")),
            ('s', 1) => out.push_str(&t.second().to_string()),
            ('s', 2) => out.push_str(&format!("{:02}", t.second())),
            ('s', _) => return Err(bad("second must either be \"s\" or \"ss\"")),
            ('Z', 1) => out.push_str(&offset_colon(&t, true)),
            ('Z', 3) => {
                let o = offset_plain(&t);
                out.push_str(if o == "+0000" { "UTC" } else { &o });
            }
            ('Z', 4) => out.push_str(&offset_plain(&t)),
            ('Z', 5) => out.push_str(&offset_colon(&t, false)),
            ('Z', _) => return Err(bad("timezone must be Z, ZZZZ, or ZZZZZ")),
            _ => return Err(a.error(0, format!("invalid date format verb {tok:?}"))),
        }
    }
    Ok(Value::string(out))
}

/// Parse a duration as Go's `time.ParseDuration` ("1h30m", "-1.5h", "300ms").
fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", Value::string(orig));
    let mut s: Vec<char> = orig.chars().collect();
    let mut neg = false;
    if let Some(&c) = s.first()
        && (c == '-' || c == '+')
    {
        neg = c == '-';
        s.remove(0);
    }
    if s == ['0'] {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    let mut i = 0;
    while i < s.len() {
        if !(s[i] == '.' || s[i].is_ascii_digit()) {
            return Err(invalid());
        }
        let start = i;
        let mut whole: u128 = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u128::from(s[i] as u8 - b'0')))
                .ok_or_else(invalid)?;
            if whole > i64::MAX as u128 {
                return Err(invalid());
            }
            i += 1;
        }
        let pre = i > start;
        let (mut frac, mut scale, mut post) = (0u128, 1u128, false);
        if i < s.len() && s[i] == '.' {
            i += 1;
            while i < s.len() && s[i].is_ascii_digit() {
                post = true;
                if scale < 1_000_000_000_000_000_000 {
                    frac = frac * 10 + u128::from(s[i] as u8 - b'0');
                    scale *= 10;
                }
                i += 1;
            }
        }
        if !pre && !post {
            return Err(invalid());
        }
        let unit_start = i;
        while i < s.len() && !(s[i] == '.' || s[i].is_ascii_digit()) {
            i += 1;
        }
        if i == unit_start {
            return Err(format!(
                "time: missing unit in duration {}",
                Value::string(orig)
            ));
        }
        let unit: String = s[unit_start..i].iter().collect();
        let ns: u128 = match unit.as_str() {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    Value::string(unit.clone()),
                    Value::string(orig)
                ));
            }
        };
        total = total
            .checked_add(whole.checked_mul(ns).ok_or_else(invalid)?)
            .and_then(|t| t.checked_add(frac * ns / scale))
            .ok_or_else(invalid)?;
        if total > i64::MAX as u128 + u128::from(neg) {
            return Err(invalid());
        }
    }
    let total = total as i128;
    Ok((if neg { -total } else { total }) as i64)
}

pub(crate) fn timeadd(a: &Args<'_>, _: &FuncContext) -> R {
    let t = timestamp_arg(a, 0)?;
    let d = a.string(1)?;
    let ns = parse_duration(&d).map_err(|e| a.error(1, e))?;
    let sum = t
        .checked_add_signed(chrono::Duration::nanoseconds(ns))
        .ok_or_else(|| a.error(1, "the resulting time is out of range"))?;
    Ok(Value::string(rfc3339(&sum)))
}

pub(crate) fn timecmp(a: &Args<'_>, _: &FuncContext) -> R {
    let x = timestamp_arg(a, 0)?;
    let y = timestamp_arg(a, 1)?;
    Ok(Value::from(match x.cmp(&y) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }))
}

pub(crate) fn timestamp(_: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::string(rfc3339(&Utc::now().fixed_offset())))
}
