//! Encoding functions: base64, CSV, JSON and URL query escaping.

use crate::args::Args;
use crate::{FuncContext, FuncError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::BTreeMap;
use terrace_core::Value;

type R = Result<Value, FuncError>;

pub(crate) fn base64encode(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::string(STANDARD.encode(a.string(0)?)))
}

pub(crate) fn base64decode(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    // Like Go's StdEncoding, line breaks inside the data are ignored.
    let cleaned: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    let bytes = STANDARD.decode(cleaned.as_bytes()).map_err(|_| {
        a.error(
            0,
            format!("failed to decode base64 data {}", a.quote(0, &s)),
        )
    })?;
    String::from_utf8(bytes).map(Value::string).map_err(|_| {
        a.error(
            0,
            "the result of decoding the provided string is not valid UTF-8",
        )
    })
}

/// Terraform's (Go's) JSON encoding: compact, object keys sorted, and
/// `<`, `>`, `&`, U+2028, U+2029 escaped.
pub(crate) fn json_encode(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_json(v, &mut out)?;
    Ok(out)
}

fn write_json(v: &Value, out: &mut String) -> Result<(), String> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_json_string(s, out),
        Value::List(xs) | Value::Set(xs) => {
            out.push('[');
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(x, out)?;
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_json(x, out)?;
            }
            out.push('}');
        }
        Value::Unknown => return Err("value is not known until apply".to_string()),
        Value::Sensitive(inner) => write_json(inner, out)?,
    }
    Ok(())
}

fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

pub(crate) fn jsonencode(a: &Args<'_>, _: &FuncContext) -> R {
    json_encode(a.get(0))
        .map(Value::string)
        .map_err(|e| a.error(0, e))
}

pub(crate) fn jsondecode(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let json: serde_json::Value = serde_json::from_str(&s).map_err(|e| {
        let what = if s.trim().is_empty() {
            "unexpected end of JSON input".to_string()
        } else {
            e.to_string()
        };
        a.error(0, format!("invalid JSON: {what}"))
    })?;
    Ok(Value::from_json(&json))
}

/// Go's `url.QueryEscape`.
pub(crate) fn urlencode(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    Ok(Value::string(out))
}

/// Go's `url.QueryUnescape`.
pub(crate) fn urldecode(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match byte {
                    Some(b) => out.push(b),
                    None => {
                        let bad: String = s[i..].chars().take(3).collect();
                        return Err(a.error(0, format!("invalid URL escape {}", a.quote(0, &bad))));
                    }
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map(Value::string).map_err(|_| {
        a.error(
            0,
            "the result of decoding the provided string is not valid UTF-8",
        )
    })
}

/// Parse CSV as Go's `encoding/csv` does (RFC 4180, `""` escapes, `\r\n`
/// line ends, blank lines skipped). Errors carry the 1-based line number.
fn parse_csv(s: &str) -> Result<Vec<Vec<String>>, (usize, &'static str)> {
    let chars: Vec<char> = s.chars().filter(|c| *c != '\r').collect();
    let mut records = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < chars.len() {
        if chars[i] == '\n' {
            i += 1;
            line += 1;
            continue;
        }
        let record_line = line;
        let mut record = Vec::new();
        loop {
            let mut field = String::new();
            if chars.get(i) == Some(&'"') {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err((record_line, "extraneous or missing \" in quoted-field"));
                        }
                        Some('"') if chars.get(i + 1) == Some(&'"') => {
                            field.push('"');
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            if *c == '\n' {
                                line += 1;
                            }
                            field.push(*c);
                            i += 1;
                        }
                    }
                }
                if !matches!(chars.get(i), None | Some(',') | Some('\n')) {
                    return Err((line, "extraneous or missing \" in quoted-field"));
                }
            } else {
                while let Some(&c) = chars.get(i) {
                    if c == ',' || c == '\n' {
                        break;
                    }
                    if c == '"' {
                        return Err((line, "bare \" in non-quoted-field"));
                    }
                    field.push(c);
                    i += 1;
                }
            }
            record.push(field);
            match chars.get(i) {
                Some(',') => i += 1,
                Some('\n') => {
                    i += 1;
                    line += 1;
                    break;
                }
                _ => break,
            }
        }
        records.push((record_line, record));
    }
    let Some((_, header)) = records.first() else {
        return Ok(Vec::new());
    };
    let width = header.len();
    for (l, r) in &records {
        if r.len() != width {
            return Err((*l, "wrong number of fields"));
        }
    }
    Ok(records.into_iter().map(|(_, r)| r).collect())
}

pub(crate) fn csvdecode(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let records = parse_csv(&s)
        .map_err(|(line, e)| a.error(0, format!("CSV parse error on line {line}: {e}")))?;
    let mut rows = records.into_iter();
    let Some(header) = rows.next() else {
        return Err(a.error(0, "missing header line"));
    };
    for (i, name) in header.iter().enumerate() {
        if header[..i].contains(name) {
            return Err(a.error(0, format!("duplicate column name {}", a.quote(0, name))));
        }
    }
    Ok(Value::List(
        rows.map(|r| {
            let m: BTreeMap<String, Value> = header
                .iter()
                .cloned()
                .zip(r.into_iter().map(Value::string))
                .collect();
            Value::Map(m.into())
        })
        .collect(),
    ))
}
