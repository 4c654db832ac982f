//! `format` and `formatlist`: printf-style formatting with Terraform's verbs
//! (`%v %#v %t %b %d %o %x %X %e %E %f %g %G %s %q %%`), flags
//! (`+ - # 0` and space), width, precision and `%[n]` argument indexes.
//! Numbers follow Go's `fmt` output exactly (`%g` switches to exponent form
//! at 1e+06, `%e` has a two-digit exponent).

use crate::args::Args;
use crate::convert;
use crate::encoding::json_encode;
use crate::strings::{MAX_OUTPUT, char_count, graphemes};
use crate::{FuncContext, FuncError};
use terrace_core::Value;

type R = Result<Value, FuncError>;

/// Widths and precisions above this are refused (they would only build
/// huge strings).
const MAX_WIDTH: usize = 1_000_000;

/// A formatting failure: the message and, if one value is to blame, its
/// index among the values (not counting the format string).
struct FmtError {
    value: Option<usize>,
    message: String,
}

fn fail(value: Option<usize>, message: String) -> FmtError {
    FmtError { value, message }
}

pub(crate) fn format(a: &Args<'_>, _: &FuncContext) -> R {
    let spec = a.string(0)?;
    format_values(&spec, a.rest(1))
        .map(Value::string)
        .map_err(|e| FuncError {
            arg: Some(e.value.map_or(0, |v| v + 1)),
            message: e.message,
        })
}

pub(crate) fn formatlist(a: &Args<'_>, _: &FuncContext) -> R {
    let spec = a.string(0)?;
    let vals = a.rest(1);
    if vals.is_empty() {
        let s = format_values(&spec, vals).map_err(|e| FuncError::at(0, e.message))?;
        return Ok(Value::List(vec![Value::string(s)]));
    }
    let mut len: Option<(usize, usize)> = None; // (length, argument index)
    for (i, v) in vals.iter().enumerate() {
        if let Value::List(xs) | Value::Set(xs) = v {
            match len {
                None => len = Some((xs.len(), i)),
                Some((l, first)) if l != xs.len() => {
                    return Err(FuncError::at(
                        i + 1,
                        format!(
                            "argument {} has length {}, which is inconsistent with argument {} of length {l}",
                            i + 1,
                            xs.len(),
                            first + 1
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    let iterations = len.map_or(1, |(l, _)| l);
    let mut out = Vec::with_capacity(iterations);
    for n in 0..iterations {
        let row: Vec<Value> = vals
            .iter()
            .map(|v| match v {
                Value::List(xs) | Value::Set(xs) => xs.get(n).cloned().unwrap_or(Value::Null),
                other => other.clone(),
            })
            .collect();
        if row.iter().any(|v| !v.is_wholly_known()) {
            out.push(Value::Unknown);
            continue;
        }
        let s = format_values(&spec, &row)
            .map_err(|e| FuncError::new(format!("error on format iteration {n}: {}", e.message)))?;
        out.push(Value::string(s));
    }
    Ok(Value::List(out))
}

#[derive(Default)]
struct Verb {
    raw: String,
    offset: usize,
    arg: usize,
    mode: char,
    zero: bool,
    sharp: bool,
    plus: bool,
    minus: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn parse_decimal(chars: &[(usize, char)], i: &mut usize) -> Option<usize> {
    let start = *i;
    let mut n: usize = 0;
    while let Some(&(_, c)) = chars.get(*i) {
        let Some(d) = c.to_digit(10) else { break };
        n = n.saturating_mul(10).saturating_add(d as usize);
        *i += 1;
    }
    (*i > start).then_some(n)
}

fn format_values(spec: &str, vals: &[Value]) -> Result<String, FmtError> {
    let chars: Vec<(usize, char)> = spec.char_indices().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut next_arg = 1usize; // 1-based
    let mut highest = 0usize;
    while i < chars.len() {
        let (offset, c) = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        if let Some(&(_, '%')) = chars.get(i) {
            out.push('%');
            i += 1;
            continue;
        }
        let mut verb = Verb {
            offset,
            ..Verb::default()
        };
        while let Some(&(_, c)) = chars.get(i) {
            match c {
                '0' => verb.zero = true,
                '#' => verb.sharp = true,
                '+' => verb.plus = true,
                '-' => verb.minus = true,
                ' ' => verb.space = true,
                _ => break,
            }
            i += 1;
        }
        let mut arg = next_arg;
        if let Some(&(_, '[')) = chars.get(i) {
            i += 1;
            let n = parse_decimal(&chars, &mut i);
            match (n, chars.get(i)) {
                (Some(n), Some(&(_, ']'))) if n > 0 => {
                    arg = n;
                    i += 1;
                }
                _ => {
                    return Err(fail(
                        None,
                        format!("invalid argument index at offset {offset}"),
                    ));
                }
            }
        }
        verb.width = parse_decimal(&chars, &mut i);
        if let Some(&(_, '.')) = chars.get(i) {
            i += 1;
            match parse_decimal(&chars, &mut i) {
                Some(p) => verb.prec = Some(p),
                None => {
                    return Err(fail(
                        None,
                        format!("missing precision after '.' at offset {offset}"),
                    ));
                }
            }
        }
        let Some(&(end, mode)) = chars.get(i) else {
            return Err(fail(
                None,
                format!("unterminated format verb at offset {offset}"),
            ));
        };
        i += 1;
        verb.mode = mode;
        verb.raw = spec[offset..end + mode.len_utf8()].to_string();
        verb.arg = arg;
        if verb.width.unwrap_or(0) > MAX_WIDTH || verb.prec.unwrap_or(0) > MAX_WIDTH {
            return Err(fail(
                None,
                format!("width or precision too large in {:?} at {offset}", verb.raw),
            ));
        }
        next_arg = arg + 1;
        highest = highest.max(arg);
        append(&verb, &mut out, vals)?;
        if out.len() > MAX_OUTPUT {
            return Err(fail(
                None,
                "the formatted string would be too large".to_string(),
            ));
        }
    }
    if highest < vals.len() {
        let message = if highest == 0 {
            "too many arguments; no verbs in format string".to_string()
        } else {
            format!("too many arguments; only {highest} used by format string")
        };
        return Err(fail(Some(highest), message));
    }
    Ok(out)
}

fn append(verb: &Verb, out: &mut String, vals: &[Value]) -> Result<(), FmtError> {
    let idx = verb.arg - 1;
    let Some(val) = vals.get(idx) else {
        return Err(fail(
            None,
            format!(
                "not enough arguments for {:?} at {}: need index {} but have {} total",
                verb.raw,
                verb.offset,
                verb.arg,
                vals.len()
            ),
        ));
    };
    let unsupported = |why: &str| {
        fail(
            Some(idx),
            format!(
                "unsupported value for {:?} at {}: {why}",
                verb.raw, verb.offset
            ),
        )
    };
    if verb.mode != 'v' && val.is_null() {
        return Err(unsupported("null value cannot be formatted"));
    }
    match verb.mode {
        'v' => {
            let s = match val {
                Value::String(s) if !verb.sharp => s.to_string(),
                Value::Number(n) if !verb.sharp => go_float(n.to_f64(), 'g', None),
                other => json_encode(other).map_err(|e| unsupported(&e))?,
            };
            out.push_str(&pad(verb, s));
        }
        't' => match convert::to_bool(val) {
            Some(b) => out.push_str(if b { "true" } else { "false" }),
            None => {
                return Err(unsupported(&format!(
                    "bool required, got {}",
                    val.type_name()
                )));
            }
        },
        'b' | 'd' | 'o' | 'x' | 'X' | 'e' | 'E' | 'f' | 'g' | 'G' => {
            let Some(exact) = convert::to_decimal(val) else {
                return Err(unsupported(&format!(
                    "number required, got {}",
                    val.type_name()
                )));
            };
            let n = exact.to_f64();
            if matches!(verb.mode, 'b' | 'd' | 'o' | 'x' | 'X') {
                if !exact.is_integer() {
                    return Err(unsupported("an integer is required"));
                }
                let Ok(magnitude) = exact.abs().to_string().parse::<u128>() else {
                    return Err(unsupported("the integer is too large to format"));
                };
                out.push_str(&format_integer(verb, exact.is_negative(), magnitude));
            } else {
                out.push_str(&format_float(verb, n));
            }
        }
        's' | 'q' => {
            let Some(mut s) = convert::to_string(val) else {
                return Err(unsupported(&format!(
                    "string required, got {}",
                    val.type_name()
                )));
            };
            if let Some(p) = verb.prec.filter(|p| *p > 0) {
                s = graphemes(&s).into_iter().take(p).collect();
            }
            if verb.mode == 'q' {
                s = json_encode(&Value::string(s)).map_err(|e| unsupported(&e))?;
            }
            out.push_str(&pad(verb, s));
        }
        other => {
            return Err(fail(
                None,
                format!(
                    "unsupported format verb {other:?} in {:?} at offset {}",
                    verb.raw, verb.offset
                ),
            ));
        }
    }
    Ok(())
}

/// Pad to the verb's width, counting characters.
fn pad(verb: &Verb, s: String) -> String {
    let Some(width) = verb.width else { return s };
    let len = char_count(&s);
    if len >= width {
        return s;
    }
    let fill = if verb.zero { "0" } else { " " }.repeat(width - len);
    if verb.minus { s + &fill } else { fill + &s }
}

fn format_integer(verb: &Verb, negative: bool, magnitude: u128) -> String {
    let mut digits = match verb.mode {
        'b' => format!("{magnitude:b}"),
        'o' => format!("{magnitude:o}"),
        'x' => format!("{magnitude:x}"),
        'X' => format!("{magnitude:X}"),
        _ => format!("{magnitude}"),
    };
    let sign = if negative {
        "-"
    } else if verb.plus {
        "+"
    } else if verb.space {
        " "
    } else {
        ""
    };
    let prefix = match (verb.sharp, verb.mode) {
        (true, 'b') => "0b",
        (true, 'o') => "0",
        (true, 'x') => "0x",
        (true, 'X') => "0X",
        _ => "",
    };
    let mut zeros = 0;
    if let Some(p) = verb.prec {
        if digits.len() < p {
            zeros = p - digits.len();
        } else if digits == "0" && p == 0 {
            digits.clear();
        }
    }
    let (mut left, mut right) = (0, 0);
    let length = sign.len() + prefix.len() + zeros + digits.len();
    if let Some(w) = verb.width
        && length < w
    {
        let d = w - length;
        if verb.minus {
            right = d;
        } else if verb.zero && verb.prec.is_none() {
            zeros = d;
        } else {
            left = d;
        }
    }
    format!(
        "{}{sign}{prefix}{}{digits}{}",
        " ".repeat(left),
        "0".repeat(zeros),
        " ".repeat(right)
    )
}

fn format_float(verb: &Verb, n: f64) -> String {
    let body = go_float(n, verb.mode, verb.prec);
    let (mut sign, body) = match body.strip_prefix('-') {
        Some(rest) => ("-", rest.to_string()),
        None => match body.strip_prefix('+') {
            Some(rest) => (if verb.space { " " } else { "+" }, rest.to_string()),
            None => ("", body),
        },
    };
    if sign.is_empty() {
        if verb.plus {
            sign = "+";
        } else if verb.space {
            sign = " ";
        }
    }
    let padding = verb
        .width
        .map_or(0, |w| w.saturating_sub(sign.len() + body.len()));
    if verb.zero && n.is_finite() {
        format!("{sign}{}{body}", "0".repeat(padding))
    } else if verb.minus {
        format!("{sign}{body}{}", " ".repeat(padding))
    } else {
        format!("{}{sign}{body}", " ".repeat(padding))
    }
}

/// Decimal digits (no trailing zeros, at least "0") and the position of the
/// decimal point, for `|x|` rounded to `sig` significant digits (shortest
/// round-trip representation when `None`).
fn decimal(x: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    let s = match sig {
        Some(p) => format!("{:.*e}", p.max(1) - 1, x.abs()),
        None => format!("{:e}", x.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    (digits, exp + 1)
}

fn fmt_e(neg: bool, digits: &[u8], dp: i32, prec: usize, e: char) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push(digits.first().map_or('0', |d| *d as char));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(digits.get(i).map_or('0', |d| *d as char));
        }
    }
    let exp = if digits == b"0" { 0 } else { dp - 1 };
    out.push(e);
    out.push(if exp < 0 { '-' } else { '+' });
    let abs = exp.unsigned_abs();
    if abs < 10 {
        out.push('0');
    }
    out.push_str(&abs.to_string());
    out
}

fn fmt_f(neg: bool, digits: &[u8], dp: i32, prec: usize) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if dp > 0 {
        for i in 0..dp as usize {
            out.push(digits.get(i).map_or('0', |d| *d as char));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec {
            let idx = dp as i64 + i as i64;
            let c = if idx < 0 {
                '0'
            } else {
                digits.get(idx as usize).map_or('0', |d| *d as char)
            };
            out.push(c);
        }
    }
    out
}

/// Go's `strconv`/`big.Float` formatting of `x` with verb `e`, `E`, `f`,
/// `g` or `G` and an optional precision (`None`: 6 for e/f, shortest for g).
pub(crate) fn go_float(x: f64, mode: char, prec: Option<usize>) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let neg = x.is_sign_negative() && x != 0.0;
    match mode {
        'e' | 'E' => {
            let p = prec.unwrap_or(6);
            let (digits, dp) = decimal(x, Some(p + 1));
            fmt_e(neg, &digits, dp, p, mode)
        }
        'f' => {
            let p = prec.unwrap_or(6);
            format!("{:.*}", p, if x == 0.0 { 0.0 } else { x })
        }
        _ => {
            let e = if mode == 'G' { 'E' } else { 'e' };
            let shortest = prec.is_none();
            let sig = prec.map(|p| p.max(1));
            let (digits, dp) = decimal(x, sig);
            let nd = digits.len();
            let mut p = sig.unwrap_or(nd);
            let mut eprec = p;
            if eprec > nd && nd as i32 >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if digits != b"0" && (exp < -4 || exp >= eprec as i32) {
                if p > nd {
                    p = nd;
                }
                return fmt_e(neg, &digits, dp, p.saturating_sub(1), e);
            }
            if p as i32 > dp {
                p = nd;
            }
            fmt_f(neg, &digits, dp, (p as i32 - dp).max(0) as usize)
        }
    }
}
