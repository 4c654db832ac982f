//! Numeric functions.

use crate::args::Args;
use crate::{FuncContext, FuncError};
use terrace_core::Value;

type R = Result<Value, FuncError>;

pub(crate) fn abs(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::Number(a.number(0)?.abs()))
}

pub(crate) fn ceil(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::Number(a.number(0)?.ceil()))
}

pub(crate) fn floor(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::Number(a.number(0)?.floor()))
}

pub(crate) fn log(a: &Args<'_>, _: &FuncContext) -> R {
    let num = a.number(0)?;
    let base = a.number(1)?;
    Ok(Value::Number(num.ln() / base.ln()))
}

pub(crate) fn pow(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::Number(a.number(0)?.powf(a.number(1)?)))
}

pub(crate) fn signum(a: &Args<'_>, _: &FuncContext) -> R {
    let n = a.number(0)?;
    Ok(Value::Number(if n > 0.0 {
        1.0
    } else if n < 0.0 {
        -1.0
    } else {
        0.0
    }))
}

fn extreme(a: &Args<'_>, pick_greater: bool) -> R {
    if a.len() == 0 {
        return Err(FuncError::new("must pass at least one number"));
    }
    let mut best = a.number(0)?;
    for i in 1..a.len() {
        let n = a.number(i)?;
        if (pick_greater && n > best) || (!pick_greater && n < best) {
            best = n;
        }
    }
    Ok(Value::Number(best))
}

pub(crate) fn max(a: &Args<'_>, _: &FuncContext) -> R {
    extreme(a, true)
}

pub(crate) fn min(a: &Args<'_>, _: &FuncContext) -> R {
    extreme(a, false)
}

/// The value of `c` as a digit, with Go's `big.Int.SetString` rules: case
/// does not matter up to base 36; above it `a`–`z` are 10–35 and `A`–`Z`
/// are 36–61.
fn digit_value(c: char, base: u32) -> Option<u32> {
    let d = match c {
        '0'..='9' => c as u32 - '0' as u32,
        'a'..='z' => c as u32 - 'a' as u32 + 10,
        'A'..='Z' if base <= 36 => c as u32 - 'A' as u32 + 10,
        'A'..='Z' => c as u32 - 'A' as u32 + 36,
        _ => return None,
    };
    (d < base).then_some(d)
}

pub(crate) fn parseint(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let base = a.int(1)?;
    if !(2..=62).contains(&base) {
        return Err(a.error(1, "base must be a whole number between 2 and 62 inclusive"));
    }
    let base = base as u32;
    let cannot = || {
        a.error(
            0,
            format!("cannot parse {} as a base {base} integer", a.quote(0, &s)),
        )
    };
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(&s)),
    };
    if digits.is_empty() {
        return Err(cannot());
    }
    let mut n = 0f64;
    for c in digits.chars() {
        let d = digit_value(c, base).ok_or_else(cannot)?;
        n = n * f64::from(base) + f64::from(d);
    }
    if !n.is_finite() {
        return Err(cannot());
    }
    Ok(Value::Number(if negative { -n } else { n }))
}
