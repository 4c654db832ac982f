//! Terraform's JSON configuration syntax (`.tf.json`): the JSON is read
//! with byte offsets and rewritten as HCL native syntax, which the loader
//! then parses like any `.tf` file. Each piece of HCL is written at the
//! byte offset of the JSON it comes from where the layout allows (HCL is
//! shorter than JSON, so this holds for pretty-printed files), so
//! diagnostics point into the JSON as written.
//!
//! The mapping follows Terraform's JSON syntax: top-level properties are
//! block types, labels are nested object keys, a block body is an object
//! (or an array of objects for several blocks), `"//"` properties in block
//! bodies are comments, strings in argument values are string templates
//! (`"${var.x}"`), and arguments that take expressions or references as
//! such (`type`, `depends_on`, `provider`, `ignore_changes`, `moved`
//! endpoints, …) hold their expression in a string. Nested objects in
//! resource bodies are read as arguments; the evaluator turns the ones the
//! provider schema calls blocks into blocks (see `Evaluator::validate`).

use std::fmt::Write as _;

/// A JSON value with the byte span it was read from.
#[derive(Debug, Clone)]
struct J {
    kind: Kind,
    start: usize,
    end: usize,
}

#[derive(Debug, Clone)]
enum Kind {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<J>),
    /// Properties in order, with each key's byte offset.
    Object(Vec<(String, usize, J)>),
}

/// A syntax error: byte offset and message.
pub(crate) type JsonError = (usize, String);

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn err<T>(&self, msg: &str) -> Result<T, JsonError> {
        Err((self.i, msg.to_string()))
    }

    fn value(&mut self, depth: usize) -> Result<J, JsonError> {
        if depth > 200 {
            return self.err("nesting is too deep");
        }
        self.ws();
        let start = self.i;
        let kind = match self.s.get(self.i) {
            None => return self.err("unexpected end of file; a value was expected"),
            Some(b'{') => {
                self.i += 1;
                let mut props = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        if self.s.get(self.i) != Some(&b'"') {
                            return self.err("a property name in double quotes was expected");
                        }
                        let koff = self.i;
                        let k = self.string()?;
                        self.ws();
                        if self.s.get(self.i) != Some(&b':') {
                            return self.err("\":\" was expected after the property name");
                        }
                        self.i += 1;
                        let v = self.value(depth + 1)?;
                        props.push((k, koff, v));
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => return self.err("\",\" or \"}\" was expected"),
                        }
                    }
                }
                Kind::Object(props)
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                } else {
                    loop {
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => return self.err("\",\" or \"]\" was expected"),
                        }
                    }
                }
                Kind::Array(items)
            }
            Some(b'"') => Kind::String(self.string()?),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Kind::Bool(true)
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Kind::Bool(false)
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Kind::Null
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let t = &self.text[start..self.i];
                if t.parse::<f64>().is_err() {
                    self.i = start;
                    return self.err("invalid number");
                }
                Kind::Number(t.to_string())
            }
            Some(_) => {
                return self.err(
                    "a value (object, array, string, number, true, false or null) was expected",
                );
            }
        };
        Ok(J {
            kind,
            start,
            end: self.i,
        })
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return self.err("unterminated string");
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let esc = self.s.get(self.i + 1).copied();
                    self.i += 2;
                    match esc {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let hex = |p: &mut Self| -> Result<u32, JsonError> {
                                let h = p.text.get(p.i..p.i + 4).unwrap_or("");
                                let v = u32::from_str_radix(h, 16)
                                    .or_else(|_| p.err("invalid \\u escape"))?;
                                p.i += 4;
                                Ok(v)
                            };
                            let mut v = hex(self)?;
                            if (0xD800..0xDC00).contains(&v) && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = hex(self)?;
                                v = 0x10000
                                    + ((v - 0xD800) << 10)
                                    + (lo.wrapping_sub(0xDC00) & 0x3FF);
                            }
                            out.push(char::from_u32(v).unwrap_or('\u{FFFD}'));
                        }
                        _ => {
                            self.i -= 1;
                            return self.err("invalid escape in string");
                        }
                    }
                }
                c if c < 0x20 => return self.err("control character in string; escape it"),
                _ => {
                    let ch = self.text[self.i..].chars().next().expect("char");
                    out.push(ch);
                    self.i += ch.len_utf8();
                }
            }
        }
    }
}

fn parse(text: &str) -> Result<J, JsonError> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i < text.len() {
        return p.err("unexpected text after the JSON value");
    }
    Ok(v)
}

/// How the properties of a block body are read.
#[derive(Clone, Copy, PartialEq)]
enum Body {
    Terraform,
    /// Every property an argument (`locals`, `required_providers`, a backend).
    Args,
    /// Object values are nested blocks (`provider`: `assume_role`, `default_tags`).
    Provider,
    Variable,
    Output,
    Module,
    Resource,
    Lifecycle,
    RemovedLifecycle,
    /// `moved`, `import`, `removed`.
    Refactor,
    Check,
    Condition,
    Dynamic,
}

/// How an argument value is written.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Strings are templates.
    Template,
    /// A string holds an expression (`type = "list(string)"`).
    Expr,
    /// Strings are literal (a variable's default).
    Literal,
}

struct Writer<'a> {
    src: &'a str,
    out: String,
    errors: Vec<JsonError>,
}

impl Writer<'_> {
    /// Pad the output to the byte offset `to` with the JSON's own line
    /// breaks and spaces, so what comes next sits where it was written.
    /// Without `newlines`, only spaces on the current line.
    fn pad(&mut self, to: usize, newlines: bool) {
        let from = self.out.len();
        if from >= to || to > self.src.len() {
            return;
        }
        let seg = &self.src.as_bytes()[from..to];
        if !newlines && seg.contains(&b'\n') {
            return;
        }
        for &b in seg {
            self.out.push(if b == b'\n' { '\n' } else { ' ' });
        }
    }

    /// After writing from `start`: text longer than its JSON ran over the
    /// JSON's line breaks; put them back, so the lines below stay the JSON's.
    fn sync(&mut self, start: usize) {
        let end = self.out.len().min(self.src.len());
        let Some(src) = self.src.get(start.min(end)..end) else {
            return;
        };
        let lost = src.matches('\n').count();
        let have = self.out[start..].matches('\n').count();
        for _ in have..lost {
            self.out.push('\n');
        }
    }

    /// Start a body item (or a closing brace) at `at`: padded there with
    /// the JSON's own line breaks, on a line of its own.
    fn item(&mut self, at: usize) {
        self.pad(at, true);
        let line = &self.out[self.out.rfind('\n').map_or(0, |i| i + 1)..];
        if !line.trim().is_empty() {
            self.out.push('\n');
        }
    }

    fn top(&mut self, v: &J) {
        let Kind::Object(props) = &v.kind else {
            self.errors.push((v.start, "the top level of a .tf.json file must be an object whose properties are block types (\"resource\", \"variable\", …)".into()));
            return;
        };
        for (k, koff, v) in props {
            let (labels, body) = match k.as_str() {
                "//" => continue,
                "terraform" => (0, Body::Terraform),
                "provider" => (1, Body::Provider),
                "variable" => (1, Body::Variable),
                "locals" => (0, Body::Args),
                "output" => (1, Body::Output),
                "module" => (1, Body::Module),
                "resource" | "data" => (2, Body::Resource),
                "moved" | "import" | "removed" => (0, Body::Refactor),
                "check" => (1, Body::Check),
                // Unknown block types: written as blocks for the loader to
                // reject with its usual message.
                _ => (0, Body::Args),
            };
            self.blocks(k, *koff, &mut Vec::new(), labels, body, v);
        }
    }

    /// A block type's value: `labels` more levels of label keys, then a
    /// body object or an array of body objects.
    fn blocks(
        &mut self,
        ty: &str,
        at: usize,
        labels: &mut Vec<String>,
        more: usize,
        body: Body,
        v: &J,
    ) {
        if more > 0 {
            let Kind::Object(props) = &v.kind else {
                self.errors.push((
                    v.start,
                    format!(
                        "the value of \"{ty}\" must be an object whose keys are the block's labels"
                    ),
                ));
                return;
            };
            let mut first = true;
            for (k, koff, v) in props {
                if k == "//" {
                    continue;
                }
                // The first block starts where its block type does.
                let at = if first { at } else { *koff };
                first = false;
                labels.push(k.clone());
                self.blocks(ty, at, labels, more - 1, body, v);
                labels.pop();
            }
            return;
        }
        match &v.kind {
            Kind::Array(items) => {
                for item in items {
                    self.block(ty, at, labels, body, item);
                }
            }
            _ => self.block(ty, at, labels, body, v),
        }
    }

    fn block(&mut self, ty: &str, at: usize, labels: &[String], body: Body, v: &J) {
        let Kind::Object(props) = &v.kind else {
            self.errors.push((
                v.start,
                format!("a \"{ty}\" block body must be a JSON object"),
            ));
            return;
        };
        self.item(at);
        let start = self.out.len();
        self.out.push_str(ty);
        for l in labels {
            let _ = write!(self.out, " {}", quote_literal(l));
        }
        self.out.push_str(" {");
        self.sync(start);
        for (k, koff, v) in props {
            self.body_item(body, k, *koff, v);
        }
        self.item(v.end.saturating_sub(1));
        self.out.push('}');
    }

    fn body_item(&mut self, body: Body, k: &str, koff: usize, v: &J) {
        if k == "//" {
            return;
        }
        let is_objects = |v: &J| match &v.kind {
            Kind::Object(_) => true,
            Kind::Array(xs) => {
                !xs.is_empty() && xs.iter().all(|x| matches!(x.kind, Kind::Object(_)))
            }
            _ => false,
        };
        // Nested blocks.
        let nested: Option<(usize, Body)> = match (body, k) {
            (Body::Terraform, "required_providers") => Some((0, Body::Args)),
            (Body::Terraform, "backend" | "provider_meta") => Some((1, Body::Args)),
            (Body::Terraform, "cloud") => Some((0, Body::Args)),
            (Body::Variable, "validation") => Some((0, Body::Condition)),
            (Body::Output, "precondition") => Some((0, Body::Condition)),
            (Body::Resource, "lifecycle") => Some((0, Body::Lifecycle)),
            (Body::Resource | Body::Dynamic, "dynamic") => Some((1, Body::Dynamic)),
            (Body::Resource, "provisioner") => Some((1, Body::Args)),
            (Body::Resource, "connection") => Some((0, Body::Args)),
            (Body::Dynamic, "content") => Some((0, Body::Resource)),
            (Body::Lifecycle, "precondition" | "postcondition") => Some((0, Body::Condition)),
            (Body::Refactor, "lifecycle") => Some((0, Body::RemovedLifecycle)),
            (Body::Check, "data") => Some((2, Body::Resource)),
            (Body::Check, "assert") => Some((0, Body::Condition)),
            (Body::Provider, _) if is_objects(v) => Some((0, Body::Provider)),
            _ => None,
        };
        if let Some((labels, b)) = nested {
            self.blocks(k, koff, &mut Vec::new(), labels, b, v);
            return;
        }
        let mode = match (body, k) {
            (Body::Variable, "type") => Mode::Expr,
            (Body::Variable, "default") => Mode::Literal,
            (Body::Output | Body::Module | Body::Resource, "depends_on") => Mode::Expr,
            (Body::Resource, "provider") => Mode::Expr,
            (Body::Module, "providers") => Mode::Expr,
            (Body::Lifecycle, "ignore_changes" | "replace_triggered_by") => Mode::Expr,
            (Body::Refactor, "to" | "from" | "provider") => Mode::Expr,
            (Body::Dynamic, "iterator") => Mode::Expr,
            _ => Mode::Template,
        };
        // An argument: the key on the value's line (a line break between
        // `=` and the value is not allowed), the value at its offset.
        let line_start = self.src[..v.start].rfind('\n').map_or(0, |i| i + 1);
        self.item(koff.max(line_start));
        let start = self.out.len();
        if is_ident(k) {
            self.out.push_str(k);
        } else {
            self.errors
                .push((koff, format!("\"{k}\" is not a valid argument name")));
            return;
        }
        self.out.push_str(" = ");
        self.pad(v.start, false);
        self.value(v, mode);
        self.sync(start);
    }

    fn value(&mut self, v: &J, mode: Mode) {
        match &v.kind {
            Kind::Null => self.out.push_str("null"),
            Kind::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Kind::Number(n) => self.out.push_str(n),
            Kind::String(s) => match mode {
                Mode::Template => self.out.push_str(&quote_template(s)),
                Mode::Literal => self.out.push_str(&quote_literal(s)),
                Mode::Expr => {
                    // `"${expr}"` or a bare expression; one line.
                    let e = s
                        .strip_prefix("${")
                        .and_then(|x| x.strip_suffix('}'))
                        .unwrap_or(s);
                    self.out.push_str(&e.replace(['\n', '\r'], " "));
                }
            },
            Kind::Array(items) => {
                self.out.push('[');
                for x in items {
                    self.pad(x.start, true);
                    self.value(x, mode);
                    self.out.push(',');
                }
                self.pad(v.end.saturating_sub(1), true);
                self.out.push(']');
            }
            Kind::Object(props) => {
                self.out.push('{');
                for (k, koff, x) in props {
                    let line_start = self.src[..x.start].rfind('\n').map_or(0, |i| i + 1);
                    self.pad((*koff).max(line_start), true);
                    if mode == Mode::Expr && is_ident(k) {
                        self.out.push_str(k);
                    } else if mode == Mode::Literal {
                        self.out.push_str(&quote_literal(k));
                    } else {
                        self.out.push_str(&quote_template(k));
                    }
                    self.out.push_str(" = ");
                    self.pad(x.start, false);
                    self.value(x, mode);
                    self.out.push(',');
                }
                self.pad(v.end.saturating_sub(1), true);
                self.out.push('}');
            }
        }
    }
}

fn is_ident(k: &str) -> bool {
    let mut cs = k.chars();
    cs.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && cs.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

fn escape_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x20 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => out.push(c),
    }
}

/// A string whose text is a template: quotes and backslashes outside
/// `${…}`/`%{…}` are escaped; the interpolations are copied as written.
fn quote_template(s: &str) -> String {
    let mut out = String::from("\"");
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        let opens = (c == '$' || c == '%') && cs.get(i + 1) == Some(&'{');
        if opens {
            out.push(c);
            out.push('{');
            i += 2;
            let mut depth = 1;
            let mut in_str = false;
            while i < cs.len() && depth > 0 {
                let d = cs[i];
                if in_str {
                    if d == '\\' && i + 1 < cs.len() {
                        out.push(d);
                        out.push(cs[i + 1]);
                        i += 2;
                        continue;
                    }
                    if d == '"' {
                        in_str = false;
                    }
                } else {
                    match d {
                        '"' => in_str = true,
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                if d == '\n' {
                    out.push(' ');
                } else {
                    out.push(d);
                }
                i += 1;
            }
            continue;
        }
        if (c == '$' || c == '%') && cs.get(i + 1) == Some(&c) && cs.get(i + 2) == Some(&'{') {
            // `$${` / `%%{`: a literal `${`, copied as the escape it is.
            out.push(c);
            out.push(c);
            out.push('{');
            i += 3;
            continue;
        }
        escape_char(&mut out, c);
        i += 1;
    }
    out.push('"');
    out
}

/// A string taken literally: `${` and `%{` are escaped too.
fn quote_literal(s: &str) -> String {
    let mut out = String::from("\"");
    let cs: Vec<char> = s.chars().collect();
    for (i, &c) in cs.iter().enumerate() {
        if (c == '$' || c == '%') && cs.get(i + 1) == Some(&'{') {
            out.push(c);
        }
        escape_char(&mut out, c);
    }
    out.push('"');
    out
}

/// The HCL text of a `.tf.json` file, or the JSON errors (byte offset,
/// message) found in it.
pub(crate) fn to_hcl(json: &str) -> Result<String, Vec<JsonError>> {
    let v = parse(json).map_err(|e| vec![e])?;
    let mut w = Writer {
        src: json,
        out: String::with_capacity(json.len()),
        errors: Vec::new(),
    };
    w.top(&v);
    w.out.push('\n');
    if w.errors.is_empty() {
        Ok(w.out)
    } else {
        Err(w.errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_labels_and_templates_keep_their_offsets() {
        let json = r#"{
  "//": "a comment",
  "variable": {
    "name": {
      "type": "string",
      "default": "a${b}"
    }
  },
  "resource": {
    "aws_s3_bucket": {
      "b": {
        "bucket": "${var.name}-logs",
        "tags": { "Name": "x \"y\"" },
        "depends_on": ["aws_vpc.main"],
        "lifecycle": { "postcondition": { "condition": "${self.id != \"\"}", "error_message": "no id" } }
      }
    }
  }
}"#;
        let hcl = to_hcl(json).unwrap();
        let flat = hcl.split_whitespace().collect::<Vec<_>>().join(" ");
        for want in [
            "variable \"name\" {",
            "type = string",
            "default = \"a$${b}\"",
            "resource \"aws_s3_bucket\" \"b\" {",
            "depends_on = [aws_vpc.main, ]",
            "condition = \"${self.id != \"\"}\"",
            "tags = { \"Name\" = \"x \\\"y\\\"\",}",
        ] {
            assert!(flat.contains(want), "{want} in {hcl}");
        }
        // Lines are the JSON's.
        let line_of = |t: &str, needle: &str| t[..t.find(needle).unwrap()].matches('\n').count();
        assert_eq!(
            line_of(&hcl, "default ="),
            line_of(json, "\"default\""),
            "{hcl}"
        );
        assert_eq!(line_of(&hcl, "tags ="), line_of(json, "\"tags\""), "{hcl}");
        assert!(!hcl.contains("a comment"), "{hcl}");
        // The value of "bucket" sits at the JSON value's offset.
        let at = json.find("\"${var.name}-logs\"").unwrap();
        assert_eq!(&hcl[at..at + 18], "\"${var.name}-logs\"");
        hcl_edit::parser::parse_body(&hcl).expect("valid HCL");
    }

    #[test]
    fn syntax_errors_carry_offsets() {
        let e = to_hcl("{\n  \"locals\": {\n    \"a\": 1,\n  }\n}").unwrap_err();
        assert_eq!(e[0].0, 30, "{e:?}");
        assert!(e[0].1.contains("property name"), "{e:?}");
        let e = to_hcl("[1]").unwrap_err();
        assert!(e[0].1.contains("top level"), "{e:?}");
    }
}
