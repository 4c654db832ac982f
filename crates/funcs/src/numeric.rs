//! Numeric functions.

use crate::args::Args;
use crate::convert::float_result;
use crate::{FuncContext, FuncError};
use terrace_core::{Number, Value};

type R = Result<Value, FuncError>;

pub(crate) fn abs(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::Number(a.decimal(0)?.abs()))
}

pub(crate) fn ceil(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::Number(a.decimal(0)?.ceil()))
}

pub(crate) fn floor(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::Number(a.decimal(0)?.floor()))
}

pub(crate) fn log(a: &Args<'_>, _: &FuncContext) -> R {
    let num = a.number(0)?;
    let base = a.number(1)?;
    float_result(num.ln() / base.ln())
}

pub(crate) fn pow(a: &Args<'_>, _: &FuncContext) -> R {
    let base = a.decimal(0)?;
    let power = a.decimal(1)?;
    // Whole powers are exact (within a sane size); others go through f64.
    if let Some(p) = power.to_i64().filter(|p| (0..=4096).contains(p)) {
        let mut out = Number::from(1i64);
        for _ in 0..p {
            out = out.mul(&base);
        }
        return Ok(Value::Number(out));
    }
    float_result(base.to_f64().powf(power.to_f64()))
}

pub(crate) fn signum(a: &Args<'_>, _: &FuncContext) -> R {
    let n = a.decimal(0)?;
    Ok(Value::from(if n.is_zero() {
        0
    } else if n.is_negative() {
        -1
    } else {
        1
    }))
}

fn extreme(a: &Args<'_>, pick_greater: bool) -> R {
    if a.len() == 0 {
        return Err(FuncError::new("must pass at least one number"));
    }
    let mut best = a.decimal(0)?;
    for i in 1..a.len() {
        let n = a.decimal(i)?;
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
    let mut n = Number::from(0i64);
    let radix = Number::from(i64::from(base));
    for c in digits.chars() {
        let d = digit_value(c, base).ok_or_else(cannot)?;
        n = n.mul(&radix).add(&Number::from(i64::from(d)));
    }
    Ok(Value::Number(if negative { n.neg() } else { n }))
}
