//! `yamldecode` and `yamlencode`.
//!
//! Encoding follows Terraform's output style (go-cty-yaml on libyaml):
//! block style, every string double-quoted (keys too), multi-line strings
//! as literal blocks (`|`, `|-`, `|+`), sequences inside mappings not
//! indented, `{}`/`[]` for empty collections, and `...` after a lone
//! non-string scalar. Unlike libyaml it never folds long quoted lines.

use crate::args::Args;
use crate::convert::number_to_string;
use crate::{FuncContext, FuncError};
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeMap;
use terrace_core::Value;

type R = Result<Value, FuncError>;

pub(crate) fn yamldecode(a: &Args<'_>, _: &FuncContext) -> R {
    let src = a.string(0)?;
    if src.trim().is_empty() {
        return Ok(Value::Null);
    }
    let mut doc: Yaml =
        serde_yaml_ng::from_str(&src).map_err(|e| a.error(0, format!("invalid YAML: {e}")))?;
    doc.apply_merge().map_err(|e| a.error(0, e.to_string()))?;
    from_yaml(doc).map_err(|e| a.error(0, e))
}

fn yaml_key(k: Yaml) -> Result<String, String> {
    match k {
        Yaml::String(s) => Ok(s),
        Yaml::Number(n) => Ok(n.as_f64().map_or_else(|| n.to_string(), number_to_string)),
        Yaml::Bool(b) => Ok(b.to_string()),
        Yaml::Null => Ok("null".to_string()),
        Yaml::Tagged(t) => yaml_key(t.value),
        Yaml::Sequence(_) | Yaml::Mapping(_) => {
            Err("only scalar mapping keys are supported".to_string())
        }
    }
}

fn from_yaml(y: Yaml) -> Result<Value, String> {
    Ok(match y {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => Value::Number(
            terrace_core::Number::parse(&n.to_string())
                .or_else(|| n.as_f64().and_then(terrace_core::Number::from_f64))
                .ok_or("number out of range")?,
        ),
        Yaml::String(s) => Value::string(s),
        Yaml::Sequence(xs) => Value::List(xs.into_iter().map(from_yaml).collect::<Result<_, _>>()?),
        Yaml::Mapping(m) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                out.insert(yaml_key(k)?, from_yaml(v)?);
            }
            Value::Map(out.into())
        }
        Yaml::Tagged(t) => from_yaml(t.value)?,
    })
}

pub(crate) fn yamlencode(a: &Args<'_>, _: &FuncContext) -> R {
    yaml_encode(a.get(0))
        .map(Value::string)
        .map_err(|e| a.error(0, e))
}

pub(crate) fn yaml_encode(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    match v.unmarked() {
        Value::Map(m) if !m.is_empty() => emit_map(m, 0, false, &mut out)?,
        Value::List(xs) | Value::Set(xs) if !xs.is_empty() => emit_seq(xs, 0, false, &mut out)?,
        Value::String(s) => {
            emit_string(s, 0, &mut out);
            out.push('\n');
        }
        Value::Map(_) | Value::List(_) | Value::Set(_) => {
            out.push_str(&scalar(v)?);
            out.push('\n');
        }
        _ => {
            out.push_str(&scalar(v)?);
            out.push_str("\n...\n");
        }
    }
    Ok(out)
}

/// A value that fits on one line: a non-string scalar or an empty collection.
fn scalar(v: &Value) -> Result<String, String> {
    Ok(match v.unmarked() {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => double_quoted(s),
        Value::Map(_) => "{}".to_string(),
        Value::List(_) | Value::Set(_) => "[]".to_string(),
        Value::Unknown => return Err("value is not known until apply".to_string()),
        Value::Sensitive(_) => unreachable_sensitive(),
    })
}

fn unreachable_sensitive() -> String {
    // `unmarked()` strips every top-level mark, so this cannot be reached;
    // redact rather than panic if it ever is.
    "\"(sensitive value)\"".to_string()
}

fn is_block(v: &Value) -> bool {
    match v.unmarked() {
        Value::Map(m) => !m.is_empty(),
        Value::List(xs) | Value::Set(xs) => !xs.is_empty(),
        _ => false,
    }
}

fn indent(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Emit the value that follows `key:` or `- ` on the current line.
fn emit_inline(v: &Value, child_indent: usize, out: &mut String) -> Result<(), String> {
    match v.unmarked() {
        Value::String(s) => {
            emit_string(s, child_indent, out);
            out.push('\n');
        }
        other => {
            out.push_str(&scalar(other)?);
            out.push('\n');
        }
    }
    Ok(())
}

fn emit_map(
    m: &BTreeMap<String, Value>,
    at: usize,
    first_inline: bool,
    out: &mut String,
) -> Result<(), String> {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !first_inline {
            indent(at, out);
        }
        out.push_str(&double_quoted(k));
        out.push(':');
        match v.unmarked() {
            Value::Map(inner) if is_block(v) => {
                out.push('\n');
                emit_map(inner, at + 2, false, out)?;
            }
            Value::List(xs) | Value::Set(xs) if is_block(v) => {
                out.push('\n');
                emit_seq(xs, at, false, out)?;
            }
            _ => {
                out.push(' ');
                emit_inline(v, at + 2, out)?;
            }
        }
    }
    Ok(())
}

fn emit_seq(xs: &[Value], at: usize, first_inline: bool, out: &mut String) -> Result<(), String> {
    for (i, x) in xs.iter().enumerate() {
        if i > 0 || !first_inline {
            indent(at, out);
        }
        out.push_str("- ");
        match x.unmarked() {
            Value::Map(inner) if is_block(x) => emit_map(inner, at + 2, true, out)?,
            Value::List(inner) | Value::Set(inner) if is_block(x) => {
                emit_seq(inner, at + 2, true, out)?
            }
            _ => emit_inline(x, at + 2, out)?,
        }
    }
    Ok(())
}

/// libyaml's printable set; everything else is escaped in quoted strings
/// and rules out the literal block style.
fn printable(c: char) -> bool {
    matches!(c as u32, 0x0A | 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD) && c != '\u{FEFF}'
}

/// Whether libyaml would accept `s` in literal block style.
fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && s.chars().all(printable)
        && !s.ends_with(' ')
        && !s.contains(" \n")
        && !s.contains('\u{2028}')
        && !s.contains('\u{2029}')
}

/// A string value: literal block style if multi-line, else double-quoted.
/// `child_indent` is the indentation of the block's content lines.
fn emit_string(s: &str, child_indent: usize, out: &mut String) {
    if !literal_ok(s) {
        out.push_str(&double_quoted(s));
        return;
    }
    let block_indent = child_indent.max(2);
    out.push('|');
    if s.starts_with(' ') || s.starts_with('\n') {
        out.push('2');
    }
    let body = s.strip_suffix('\n');
    match body {
        None => out.push('-'),
        Some(b) if b.ends_with('\n') || b.is_empty() => out.push('+'),
        Some(_) => {}
    }
    let body = body.unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(block_indent, out);
            out.push_str(line);
        }
    }
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if printable(c) => out.push(c),
            c if (c as u32) <= 0xFF => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}
