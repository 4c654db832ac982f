//! String functions.

use crate::args::Args;
use crate::{FuncContext, FuncError};
use terrace_core::Value;

type R = Result<Value, FuncError>;

/// Largest string a function may build (indent, format widths, …).
pub(crate) const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// Characters that extend the preceding character into one user-perceived
/// character (combining marks, variation selectors, emoji modifiers, tags).
fn is_extend(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x05BF | 0x05C1..=0x05C2
        | 0x05C4..=0x05C5 | 0x05C7 | 0x0610..=0x061A | 0x064B..=0x065F | 0x0670
        | 0x06D6..=0x06DC | 0x06DF..=0x06E4 | 0x0900..=0x0903 | 0x093A..=0x094F
        | 0x0951..=0x0957 | 0x0962..=0x0963 | 0x0E31 | 0x0E34..=0x0E3A | 0x0E47..=0x0E4E
        | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x200C | 0x20D0..=0x20FF | 0x302A..=0x302F
        | 0x3099..=0x309A | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F | 0x1F3FB..=0x1F3FF
        | 0xE0020..=0xE007F | 0xE0100..=0xE01EF)
}

fn is_regional_indicator(c: char) -> bool {
    matches!(c as u32, 0x1F1E6..=0x1F1FF)
}

/// Split into user-perceived characters: an approximation of Unicode
/// grapheme clusters that keeps combining marks, emoji ZWJ sequences,
/// flags and `\r\n` together.
pub(crate) fn graphemes(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut iter = s.char_indices().peekable();
    while let Some((start, c)) = iter.next() {
        let mut end = start + c.len_utf8();
        if c == '\r' {
            if let Some(&(i, '\n')) = iter.peek() {
                end = i + 1;
                iter.next();
            }
            out.push(&s[start..end]);
            continue;
        }
        let mut join_next = false;
        let mut ri_pending = is_regional_indicator(c);
        while let Some(&(i, n)) = iter.peek() {
            if join_next || is_extend(n) || n == '\u{200D}' {
                join_next = n == '\u{200D}';
                end = i + n.len_utf8();
                iter.next();
            } else if ri_pending && is_regional_indicator(n) {
                ri_pending = false;
                end = i + n.len_utf8();
                iter.next();
            } else {
                break;
            }
        }
        out.push(&s[start..end]);
    }
    out
}

pub(crate) fn char_count(s: &str) -> usize {
    graphemes(s).len()
}

pub(crate) fn chomp(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    Ok(Value::string(s.trim_end_matches(['\r', '\n']).to_string()))
}

pub(crate) fn endswith(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::Bool(a.string(0)?.ends_with(&a.string(1)?)))
}

pub(crate) fn startswith(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::Bool(a.string(0)?.starts_with(&a.string(1)?)))
}

pub(crate) fn strcontains(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::Bool(a.string(0)?.contains(&a.string(1)?)))
}

pub(crate) fn indent(a: &Args<'_>, _: &FuncContext) -> R {
    let spaces = a.int(0)?;
    let s = a.string(1)?;
    if spaces < 0 {
        return Err(a.error(0, "spaces must not be negative"));
    }
    let lines = s.matches('\n').count();
    if lines == 0 {
        return Ok(Value::string(s));
    }
    let spaces = usize::try_from(spaces).unwrap_or(usize::MAX);
    if spaces.saturating_mul(lines).saturating_add(s.len()) > MAX_OUTPUT {
        return Err(a.error(0, "the indented string would be too large"));
    }
    let pad = format!("\n{}", " ".repeat(spaces));
    Ok(Value::string(s.replace('\n', &pad)))
}

pub(crate) fn join(a: &Args<'_>, _: &FuncContext) -> R {
    let sep = a.string(0)?;
    if a.len() < 2 {
        return Err(FuncError::new("at least one list is required"));
    }
    let mut parts = Vec::new();
    for i in 1..a.len() {
        for (j, el) in a.list(i)?.iter().enumerate() {
            if el.is_null() {
                return Err(a.invalid(
                    i,
                    format!("element {j} is null; cannot concatenate null values"),
                ));
            }
            let s = crate::convert::to_string(el).ok_or_else(|| {
                a.invalid(
                    i,
                    format!("element {j} must be a string, got {}", el.type_name()),
                )
            })?;
            parts.push(s);
        }
    }
    Ok(Value::string(parts.join(&sep)))
}

pub(crate) fn lower(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::string(a.string(0)?.to_lowercase()))
}

pub(crate) fn upper(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::string(a.string(0)?.to_uppercase()))
}

fn compile(a: &Args<'_>, i: usize, pattern: &str) -> Result<regex::Regex, FuncError> {
    regex::RegexBuilder::new(pattern)
        .size_limit(8 * 1024 * 1024)
        .build()
        .map_err(|e| a.error(i, format!("invalid regular expression pattern: {e}")))
}

/// How a regex match is returned: the whole match, a list of the unnamed
/// capture groups, or an object of the named ones.
enum Shape {
    Whole,
    List,
    Named(Vec<(usize, String)>),
}

fn shape(a: &Args<'_>, re: &regex::Regex) -> Result<Shape, FuncError> {
    let names: Vec<Option<&str>> = re.capture_names().skip(1).collect();
    if names.is_empty() {
        return Ok(Shape::Whole);
    }
    let named = names.iter().filter(|n| n.is_some()).count();
    if named == 0 {
        Ok(Shape::List)
    } else if named == names.len() {
        Ok(Shape::Named(
            names
                .iter()
                .enumerate()
                .filter_map(|(i, n)| n.map(|n| (i + 1, n.to_string())))
                .collect(),
        ))
    } else {
        Err(a.error(
            0,
            "invalid regular expression pattern: cannot mix both named and unnamed capture groups",
        ))
    }
}

fn capture_value(shape: &Shape, caps: &regex::Captures<'_>) -> Value {
    let group = |i: usize| {
        caps.get(i)
            .map_or(Value::Null, |m| Value::string(m.as_str()))
    };
    match shape {
        Shape::Whole => group(0),
        Shape::List => Value::List((1..caps.len()).map(group).collect()),
        Shape::Named(names) => {
            Value::Map(names.iter().map(|(i, n)| (n.clone(), group(*i))).collect())
        }
    }
}

pub(crate) fn regex(a: &Args<'_>, _: &FuncContext) -> R {
    let pattern = a.string(0)?;
    let s = a.string(1)?;
    let re = compile(a, 0, &pattern)?;
    let shape = shape(a, &re)?;
    match re.captures(&s) {
        Some(caps) => Ok(capture_value(&shape, &caps)),
        None => Err(a.error(1, "pattern did not match any part of the given string")),
    }
}

pub(crate) fn regexall(a: &Args<'_>, _: &FuncContext) -> R {
    let pattern = a.string(0)?;
    let s = a.string(1)?;
    let re = compile(a, 0, &pattern)?;
    let shape = shape(a, &re)?;
    Ok(Value::List(
        re.captures_iter(&s)
            .map(|c| capture_value(&shape, &c))
            .collect(),
    ))
}

pub(crate) fn replace(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let substr = a.string(1)?;
    let replacement = a.string(2)?;
    if substr.len() > 1 && substr.starts_with('/') && substr.ends_with('/') {
        let re = compile(a, 1, &substr[1..substr.len() - 1])?;
        if replacement.len().saturating_mul(s.len() + 1) > MAX_OUTPUT
            && re.find_iter(&s).count().saturating_mul(replacement.len()) > MAX_OUTPUT
        {
            return Err(a.error(2, "the result would be too large"));
        }
        return Ok(Value::string(
            re.replace_all(&s, replacement.as_str()).into_owned(),
        ));
    }
    if substr.is_empty() {
        let inserts = s.chars().count() + 1;
        if inserts
            .saturating_mul(replacement.len())
            .saturating_add(s.len())
            > MAX_OUTPUT
        {
            return Err(a.error(2, "the result would be too large"));
        }
    }
    Ok(Value::string(s.replace(&substr, &replacement)))
}

pub(crate) fn split(a: &Args<'_>, _: &FuncContext) -> R {
    let sep = a.string(0)?;
    let s = a.string(1)?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::string(c.to_string())).collect()
    } else {
        s.split(sep.as_str()).map(Value::string).collect()
    };
    Ok(Value::List(parts))
}

pub(crate) fn strrev(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    Ok(Value::string(
        graphemes(&s).into_iter().rev().collect::<String>(),
    ))
}

pub(crate) fn substr(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let mut offset = a.int(1)?;
    let length = a.int(2)?;
    let g = graphemes(&s);
    let total = i64::try_from(g.len()).unwrap_or(i64::MAX);
    if offset < 0 {
        offset = (offset + total).max(0);
    }
    if offset >= total {
        return Ok(Value::string(""));
    }
    let start = offset as usize;
    let end = if length < 0 {
        g.len()
    } else {
        start.saturating_add(length as usize).min(g.len())
    };
    Ok(Value::string(g[start..end].concat()))
}

/// Go's `strings.Title` word separators.
fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphanumeric() {
        return false;
    }
    c.is_whitespace()
}

pub(crate) fn title(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = is_separator(c);
    }
    Ok(Value::string(out))
}

pub(crate) fn trim(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let cutset: Vec<char> = a.string(1)?.chars().collect();
    Ok(Value::string(
        s.trim_matches(|c| cutset.contains(&c)).to_string(),
    ))
}

pub(crate) fn trimprefix(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let prefix = a.string(1)?;
    Ok(Value::string(
        s.strip_prefix(prefix.as_str()).unwrap_or(&s).to_string(),
    ))
}

pub(crate) fn trimsuffix(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let suffix = a.string(1)?;
    Ok(Value::string(
        s.strip_suffix(suffix.as_str()).unwrap_or(&s).to_string(),
    ))
}

pub(crate) fn trimspace(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::string(a.string(0)?.trim().to_string()))
}
