//! `terrace fmt`: Terraform's canonical layout of `.tf`, `.tofu` and
//! `.tfvars` files.
//!
//! The file is first parsed with hcl-edit (a file that does not parse is
//! never rewritten: it gets a "Syntax error" diagnostic instead). Formatting
//! then works on the token stream, line by line, as Terraform's `hclwrite`
//! does, so comments and the author's line breaks survive:
//! - each line is indented two spaces per open bracket level (a line that
//!   opens several brackets indents the next lines by one level only);
//! - spaces between tokens are normalised (one around `=` and binary
//!   operators, after `,`, inside `{ … }` on one line; none inside `( )` and
//!   `[ ]`, before `,`, around `.`, after a unary `-`/`!`, before a call's
//!   `(` or an index's `[`);
//! - in a run of consecutive lines that each assign a single-line value, the
//!   `=` signs are aligned, and so are trailing comments of consecutive lines;
//! - heredoc bodies, strings and comments are kept byte for byte (trailing
//!   whitespace after a line comment is dropped);
//! - runs of blank lines become one, a multi-line top-level block is
//!   followed by one blank line, and the file ends with exactly one newline.

use terrace_core::{Diagnostic, Diagnostics};

use crate::SourceFile;

/// Format one file's text. Errors are syntax errors, located in `file`.
pub fn format_file(file: &SourceFile) -> Result<String, Diagnostics> {
    if let Err(e) = hcl_edit::parser::parse_body(file.text()) {
        let off = e.location().offset();
        let d = Diagnostic::error(
            "Syntax error",
            format!(
                "Invalid HCL: {}. fmt only rewrites files that parse; fix the error and run it again.",
                e.message()
            ),
        )
        .at(Some(file.range(off..off + 1)));
        return Err(Diagnostics(vec![d]));
    }
    Ok(format_source(file.text()))
}

/// Format HCL text that is known to parse.
pub fn format_source(src: &str) -> String {
    let src = src.replace("\r\n", "\n");
    let tokens = lex(&src);
    let lines = split_lines(tokens);
    render_lines(&lines)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Number(String),
    /// A quoted string or template, with its quotes.
    Str(String),
    /// `<<EOT` … `EOT`, body and end marker included (no final newline).
    Heredoc(String),
    /// `#` or `//` comment, to the end of the line.
    LineComment(String),
    BlockComment(String),
    Open(char),
    Close(char),
    Punct(&'static str),
    Newline,
}

const PUNCTS: &[&str] = &[
    "...", "==", "!=", "<=", ">=", "&&", "||", "=>", "=", "!", "<", ">", "+", "-", "*", "/", "%",
    "?", ":", ".", ",",
];

fn lex(src: &str) -> Vec<Tok> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                out.push(Tok::Newline);
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => i = line_comment(src, i, &mut out),
            b'/' if b.get(i + 1) == Some(&b'/') => i = line_comment(src, i, &mut out),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = src[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
                out.push(Tok::BlockComment(src[i..end].to_string()));
                i = end;
            }
            b'"' => {
                let end = string_end(b, i);
                out.push(Tok::Str(src[i..end].to_string()));
                i = end;
            }
            b'<' if b.get(i + 1) == Some(&b'<') => {
                let end = heredoc_end(src, i);
                out.push(Tok::Heredoc(src[i..end].to_string()));
                i = end;
            }
            b'{' | b'[' | b'(' => {
                out.push(Tok::Open(c as char));
                i += 1;
            }
            b'}' | b']' | b')' => {
                out.push(Tok::Close(c as char));
                i += 1;
            }
            b'0'..=b'9' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    // `a.0.b` (legacy index) ends the number at the dot.
                    if b[i] == b'.' && !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                        break;
                    }
                    i += 1;
                }
                if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                    i += 1;
                    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                        i += 1;
                    }
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                out.push(Tok::Number(src[start..i].to_string()));
            }
            _ if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => {
                let start = i;
                let rest = &src[i..];
                let len = rest
                    .char_indices()
                    .find(|(_, ch)| !(ch.is_alphanumeric() || *ch == '_' || *ch == '-'))
                    .map_or(rest.len(), |(p, _)| p);
                i += len.max(1);
                out.push(Tok::Ident(src[start..i].to_string()));
            }
            _ => {
                let p = PUNCTS
                    .iter()
                    .find(|p| src[i..].starts_with(**p))
                    .copied()
                    .unwrap_or("?");
                out.push(Tok::Punct(p));
                i += p.len().max(1);
            }
        }
    }
    out
}

fn line_comment(src: &str, i: usize, out: &mut Vec<Tok>) -> usize {
    let end = src[i..].find('\n').map_or(src.len(), |p| i + p);
    out.push(Tok::LineComment(src[i..end].trim_end().to_string()));
    end
}

/// The end (exclusive) of the quoted string starting at `i`, interpolations
/// (with strings nested in them) included.
fn string_end(b: &[u8], i: usize) -> usize {
    let mut i = i + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'$' | b'%' if b.get(i + 1) == Some(&b'$') || b.get(i + 1) == Some(&b'%') => i += 2,
            b'$' | b'%' if b.get(i + 1) == Some(&b'{') => i = template_end(b, i + 2),
            _ => i += 1,
        }
    }
    b.len()
}

/// The end of an interpolation whose body starts at `i` (after `${`).
fn template_end(b: &[u8], mut i: usize) -> usize {
    let mut depth = 1;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = string_end(b, i);
                continue;
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// The end of the heredoc starting at `i` (`<<ID` or `<<-ID`): the end of
/// its closing marker line, without the newline.
fn heredoc_end(src: &str, i: usize) -> usize {
    let head_end = src[i..].find('\n').map_or(src.len(), |p| i + p);
    let marker = src[i + 2..head_end].trim_start_matches('-').trim();
    let mut pos = head_end;
    while pos < src.len() {
        let start = pos + 1;
        let end = src[start.min(src.len())..]
            .find('\n')
            .map_or(src.len(), |p| start + p);
        if src[start.min(end)..end].trim() == marker {
            return end;
        }
        pos = end;
    }
    src.len()
}

/// One source line: its tokens, split into the cells that get aligned.
#[derive(Debug, Default)]
struct Line {
    /// Everything before the aligned `=` (or the whole line).
    lead: Vec<Tok>,
    /// `=` and a single-line value, when the line assigns one.
    assign: Vec<Tok>,
    /// A trailing line comment.
    comment: Option<String>,
}

impl Line {
    fn is_blank(&self) -> bool {
        self.lead.is_empty() && self.comment.is_none()
    }
}

fn bracket_change(t: &Tok) -> i32 {
    match t {
        Tok::Open(_) => 1,
        Tok::Close(_) => -1,
        _ => 0,
    }
}

fn split_lines(tokens: Vec<Tok>) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut current = Vec::new();
    for t in tokens.into_iter().chain(std::iter::once(Tok::Newline)) {
        if t == Tok::Newline {
            lines.push(make_line(std::mem::take(&mut current)));
        } else {
            current.push(t);
        }
    }
    lines
}

fn make_line(mut lead: Vec<Tok>) -> Line {
    let mut comment = None;
    if let Some(Tok::LineComment(_)) = lead.last()
        && let Some(Tok::LineComment(c)) = lead.pop()
    {
        if lead.is_empty() {
            // A comment on its own line is the line's lead.
            lead.push(Tok::LineComment(c));
        } else {
            comment = Some(c);
        }
    }
    let mut assign = Vec::new();
    if let Some(eq) = lead
        .iter()
        .skip(1)
        .position(|t| *t == Tok::Punct("="))
        .map(|p| p + 1)
    {
        // Only a value that ends on this line is aligned: an opening bracket
        // (or a heredoc) starts a multi-line value.
        let rest = &lead[eq..];
        let multi = rest.iter().any(|t| matches!(t, Tok::Heredoc(_)))
            || rest.iter().map(bracket_change).sum::<i32>() != 0;
        if !multi {
            assign = lead.split_off(eq);
        }
    }
    Line {
        lead,
        assign,
        comment,
    }
}

/// Whether tokens `a` then `b` (`before` precedes `a`) are separated by a space.
fn space_between(before: Option<&Tok>, a: &Tok, b: &Tok) -> bool {
    use Tok::*;
    let is_value_end = |t: Option<&Tok>| {
        matches!(
            t,
            Some(Ident(_) | Number(_) | Str(_) | Heredoc(_) | Close(_))
        )
    };
    match (a, b) {
        (_, Punct(",") | Punct("...")) => false,
        (Punct(","), _) => true,
        (Punct("."), _) | (_, Punct(".")) => false,
        (Open('(' | '['), _) | (_, Close(')' | ']')) => false,
        (Open('{'), Close('}')) => false,
        (Open('{'), _) | (_, Close('}')) => true,
        (Ident(k), Open('(' | '[')) => matches!(k.as_str(), "in" | "if" | "for"),
        (Close(_) | Str(_), Open('[')) => false,
        (Punct("*"), _) if matches!(before, Some(Open('[') | Punct("."))) => false,
        (Punct("!"), _) => false,
        (Punct("-"), _) if !is_value_end(before) => false,
        _ => true,
    }
}

fn render(tokens: &[Tok], prev: Option<&Tok>) -> String {
    let mut s = String::new();
    let mut before = prev;
    let mut last: Option<&Tok> = None;
    for t in tokens {
        if let Some(a) = last {
            if space_between(before, a, t) {
                s.push(' ');
            }
            before = Some(a);
        }
        s.push_str(tok_text(t));
        last = Some(t);
    }
    s
}

fn tok_text(t: &Tok) -> &str {
    match t {
        Tok::Ident(s)
        | Tok::Number(s)
        | Tok::Str(s)
        | Tok::Heredoc(s)
        | Tok::LineComment(s)
        | Tok::BlockComment(s) => s,
        Tok::Open('{') => "{",
        Tok::Open('[') => "[",
        Tok::Open(_) => "(",
        Tok::Close('}') => "}",
        Tok::Close(']') => "]",
        Tok::Close(_) => ")",
        Tok::Punct(p) => p,
        Tok::Newline => "\n",
    }
}

/// The indentation level of each line (hclwrite's rule: a line that opens
/// brackets indents the following lines by one level, however many it opens;
/// the lines that close them come back out).
fn indents(lines: &[Line]) -> Vec<usize> {
    let mut stack: Vec<i32> = Vec::new();
    lines
        .iter()
        .map(|line| {
            let net: i32 = line
                .lead
                .iter()
                .chain(&line.assign)
                .map(bracket_change)
                .sum();
            if net > 0 {
                stack.push(net);
                return stack.len() - 1;
            }
            let mut closed = -net;
            while closed > 0 {
                let Some(top) = stack.last_mut() else { break };
                if closed >= *top {
                    closed -= *top;
                    stack.pop();
                } else {
                    *top -= closed;
                    closed = 0;
                }
            }
            stack.len()
        })
        .collect()
}

fn render_lines(lines: &[Line]) -> String {
    let levels = indents(lines);
    // Drop blank runs: at most one blank line, none at the start or end.
    let mut kept: Vec<(usize, &Line)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let prev_blank = kept.last().is_none_or(|(_, l)| l.is_blank());
        if line.is_blank() && prev_blank {
            continue;
        }
        // A multi-line top-level block is followed by a blank line.
        if !line.is_blank()
            && let Some(&(p, prev)) = kept.last()
            && levels[p] == 0
            && levels[i] == 0
            && prev.lead.first() == Some(&Tok::Close('}'))
            && line.lead.first() != Some(&Tok::Close('}'))
        {
            kept.push((usize::MAX, &BLANK));
        }
        kept.push((i, line));
    }
    while kept.last().is_some_and(|(_, l)| l.is_blank()) {
        kept.pop();
    }

    // Each line's text before its comment, with `=` aligned in runs.
    let mut texts: Vec<String> = kept
        .iter()
        .map(|&(i, l)| {
            let indent = if i == usize::MAX { 0 } else { levels[i] };
            format!("{}{}", "  ".repeat(indent), render(&l.lead, None))
        })
        .collect();
    align(
        &mut texts,
        |k| !kept[k].1.assign.is_empty(),
        |k, text, width| {
            let line = kept[k].1;
            let pad = width - text.chars().count();
            text.push_str(&" ".repeat(pad + 1));
            text.push_str(&render(&line.assign, line.lead.last()));
        },
    );
    align(
        &mut texts,
        |k| kept[k].1.comment.is_some(),
        |k, text, width| {
            let pad = width - text.chars().count();
            text.push_str(&" ".repeat(pad + 1));
            text.push_str(kept[k].1.comment.as_deref().unwrap_or_default());
        },
    );
    let mut out = String::new();
    for t in texts {
        out.push_str(t.trim_end_matches([' ', '\t']));
        out.push('\n');
    }
    if out.trim().is_empty() {
        return String::new();
    }
    out
}

static BLANK: Line = Line {
    lead: Vec::new(),
    assign: Vec::new(),
    comment: None,
};

/// For each run of consecutive lines where `member` holds, call `finish`
/// with the widest text of the run (in characters).
fn align(
    texts: &mut [String],
    member: impl Fn(usize) -> bool,
    mut finish: impl FnMut(usize, &mut String, usize),
) {
    let mut k = 0;
    while k < texts.len() {
        if !member(k) {
            k += 1;
            continue;
        }
        let start = k;
        while k < texts.len() && member(k) {
            k += 1;
        }
        let width = texts[start..k]
            .iter()
            .map(|t| t.chars().count())
            .max()
            .unwrap_or(0);
        for (j, text) in texts.iter_mut().enumerate().take(k).skip(start) {
            finish(j, text, width);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_source;

    fn check(input: &str, expected: &str) {
        let got = format_source(input);
        assert_eq!(got, expected, "formatting:\n{input}");
        assert_eq!(format_source(&got), got, "formatting is idempotent");
    }

    #[test]
    fn aligns_equals_in_runs_and_indents_nested_blocks() {
        check(
            "resource \"aws_vpc\" \"main\" {\ncidr_block=\"10.0.0.0/16\"\n    enable_dns_support = true\n\n  tags={Name=\"x\"}\n}\n",
            "resource \"aws_vpc\" \"main\" {\n  cidr_block         = \"10.0.0.0/16\"\n  enable_dns_support = true\n\n  tags = { Name = \"x\" }\n}\n",
        );
    }

    #[test]
    fn multi_line_values_break_alignment_runs() {
        check(
            "locals {\n  a = 1\n  bb = [\n  1,\n  2,\n  ]\n  ccc = 3\n}\n",
            "locals {\n  a = 1\n  bb = [\n    1,\n    2,\n  ]\n  ccc = 3\n}\n",
        );
    }

    #[test]
    fn spacing_of_operators_calls_indexes_and_splats() {
        check(
            "x = length( var.a )-1\ny = var.list[ 0 ].id\nz = aws_instance.r[*].id\nw = !var.b && -1 < 2\nv = [for s in var.l : upper(s) if s != \"\"]\nu = f(a, b...)\n",
            "x = length(var.a) - 1\ny = var.list[0].id\nz = aws_instance.r[*].id\nw = !var.b && -1 < 2\nv = [for s in var.l : upper(s) if s != \"\"]\nu = f(a, b...)\n",
        );
    }

    #[test]
    fn heredocs_strings_and_comments_are_kept() {
        check(
            "a = <<-EOT\n   keep   this  \n  EOT\nb   = \"x  ${ var.y }  z\" # note\ncc = 2 // other\n",
            "a = <<-EOT\n   keep   this  \n  EOT\nb  = \"x  ${ var.y }  z\" # note\ncc = 2                  // other\n",
        );
    }

    #[test]
    fn blank_lines_collapse_and_top_level_blocks_are_separated() {
        check(
            "\n\nvariable \"a\" {\n}\nvariable \"b\" {\n  type = string\n\n\n\n  default = \"x\"\n}\n\n\n",
            "variable \"a\" {\n}\n\nvariable \"b\" {\n  type = string\n\n  default = \"x\"\n}\n",
        );
    }
}
