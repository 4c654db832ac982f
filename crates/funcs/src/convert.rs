//! HCL's implicit conversions between primitive types, and the type
//! unification that collection constructors apply to their elements.

use terrace_core::value::format_number;
use terrace_core::{Number, Value};

/// A primitive as a string: numbers print without a needless fraction,
/// bools as `true`/`false`. `None` for null and collections.
pub(crate) fn to_string(v: &Value) -> Option<String> {
    match v.unmarked() {
        Value::String(s) => Some(s.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(crate) fn number_to_string(n: f64) -> String {
    if n.is_nan() {
        "NaN".to_string()
    } else if n.is_infinite() {
        if n > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        }
    } else {
        format_number(n)
    }
}

/// A number, or a string holding a decimal number, as the nearest `f64`.
pub(crate) fn to_number(v: &Value) -> Option<f64> {
    to_decimal(v).map(|n| n.to_f64())
}

/// A number, or a string holding a decimal number, exactly.
pub(crate) fn to_decimal(v: &Value) -> Option<Number> {
    match v.unmarked() {
        Value::Number(n) => Some(n.clone()),
        Value::String(s) => parse_decimal(s),
        _ => None,
    }
}

/// [`parse_number`], exactly.
pub(crate) fn parse_decimal(s: &str) -> Option<Number> {
    parse_number(s)?;
    Number::parse(s)
}

/// A function's numeric result computed in `f64`, as an exact number
/// (by its shortest text); NaN and infinities are errors.
pub(crate) fn float_result(n: f64) -> Result<Value, crate::FuncError> {
    if n.is_nan() {
        return Err(crate::FuncError::new("the result is not a number (NaN)"));
    }
    Number::from_f64(n)
        .map(Value::Number)
        .ok_or_else(|| crate::FuncError::new("the result is infinite, which a number cannot hold"))
}

/// A bool, or the strings `"true"` / `"false"`.
pub(crate) fn to_bool(v: &Value) -> Option<bool> {
    match v.unmarked() {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// Parse a decimal number the way HCL converts strings: optional sign,
/// digits with an optional fraction, optional exponent. No whitespace,
/// no `inf`/`nan`, no hex.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// `n` as an i64 if it is a whole number in range.
pub(crate) fn whole(n: f64) -> Option<i64> {
    if n.is_finite()
        && n.fract() == 0.0
        && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&n)
    {
        Some(n as i64)
    } else {
        None
    }
}

fn kind(v: &Value) -> Option<u8> {
    match v {
        Value::String(_) => Some(0),
        Value::Number(_) => Some(1),
        Value::Bool(_) => Some(2),
        _ => None,
    }
}

/// Give the elements of a list/set/map one common type, as cty's
/// unification does for primitives: a mix of strings, numbers and bools
/// becomes all strings. Collections mixed with primitives cannot unify.
pub(crate) fn unify(vals: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut kinds = [false; 3];
    let mut collection = false;
    for v in &vals {
        match kind(v) {
            Some(k) => kinds[k as usize] = true,
            None => {
                if !matches!(v, Value::Null | Value::Unknown) {
                    collection = true;
                }
            }
        }
    }
    let primitive_kinds = kinds.iter().filter(|k| **k).count();
    if collection && primitive_kinds > 0 {
        return Err("all elements must have the same type".to_string());
    }
    if primitive_kinds <= 1 {
        return Ok(vals);
    }
    Ok(vals
        .into_iter()
        .map(|v| match to_string(&v) {
            Some(s) if kind(&v).is_some() => Value::string(s),
            _ => v,
        })
        .collect())
}

/// Equality after HCL's conversions: `1 == "1"`, `true == "true"`.
pub(crate) fn loose_eq(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Value::Number(x), Value::String(s)) | (Value::String(s), Value::Number(x)) => {
            parse_decimal(s).is_some_and(|y| y == *x)
        }
        (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => {
            s == if *x { "true" } else { "false" }
        }
        (Value::List(xs), Value::List(ys)) | (Value::Set(xs), Value::Set(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| loose_eq(x, y))
        }
        (Value::Map(xs), Value::Map(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .zip(ys)
                    .all(|((kx, x), (ky, y))| kx == ky && loose_eq(x, y))
        }
        _ => false,
    }
}

/// A structural identity key (type-tagged) for de-duplication.
pub(crate) fn identity(v: &Value) -> String {
    let tag = match v {
        Value::Null => 'z',
        Value::Bool(_) => 'b',
        Value::Number(_) => 'n',
        Value::String(_) => 's',
        Value::List(_) => 'l',
        Value::Set(_) => 't',
        Value::Map(_) => 'm',
        Value::Unknown => 'u',
        Value::Sensitive(_) => 'x',
    };
    let mut key = String::new();
    key.push(tag);
    match v {
        Value::String(s) => key.push_str(s),
        other => key.push_str(&other.to_json_lossy().to_string()),
    }
    key
}
