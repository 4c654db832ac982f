//! Source files, byte-span → line:column conversion, and diagnostic rendering.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use owo_colors::OwoColorize;
use terrace_core::{Diagnostic, Diagnostics, Pos, Severity, SourceRange};
use unicode_width::UnicodeWidthStr;

/// One loaded source file with its line index.
#[derive(Debug)]
pub struct SourceFile {
    /// The name shown in diagnostics (relative to the project root when possible).
    pub name: terrace_core::SharedStr,
    /// The path on disk.
    pub path: PathBuf,
    text: Arc<str>,
    /// For a `.tf.json` file: the JSON as written. `text` is then the HCL
    /// terrace made from it, laid out at the same byte offsets where it
    /// could be, so positions and source lines are the JSON's.
    shown: Option<Arc<str>>,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: String, path: PathBuf, text: impl Into<Arc<str>>) -> SourceFile {
        Self::with_shown(name, path, text.into(), None)
    }

    fn with_shown(name: String, path: PathBuf, text: Arc<str>, shown: Option<Arc<str>>) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            shown
                .as_deref()
                .unwrap_or(&text)
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        SourceFile {
            name: name.into(),
            path,
            text,
            shown,
            line_starts,
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text positions and source lines are taken from.
    fn shown(&self) -> &str {
        self.shown.as_deref().unwrap_or(&self.text)
    }

    /// The position of a byte offset (clamped to the text, moved back to a char boundary).
    pub fn pos(&self, byte: usize) -> Pos {
        let text = self.shown();
        let mut byte = byte.min(text.len());
        while !text.is_char_boundary(byte) {
            byte -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= byte);
        let start = self.line_starts[line - 1];
        let column = text[start..byte].chars().count() + 1;
        Pos { line, column, byte }
    }

    /// A source range for a byte span.
    pub fn range(&self, span: Range<usize>) -> SourceRange {
        SourceRange {
            filename: self.name.clone(),
            start: self.pos(span.start),
            end: self.pos(span.end.max(span.start)),
        }
    }

    /// The text of a 1-based line, without its line break.
    pub fn line(&self, line: usize) -> Option<&str> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.shown().len());
        Some(self.shown()[start..end].trim_end_matches(['\n', '\r']))
    }

    /// The source text of a byte span.
    pub fn slice(&self, span: Range<usize>) -> &str {
        self.text.get(span).unwrap_or("")
    }
}

/// All source files loaded so far, by display name, for rendering diagnostics.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    root: Option<PathBuf>,
    files: HashMap<String, Arc<SourceFile>>,
}

impl SourceMap {
    /// A map showing file names as given (or relative to the current directory).
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    /// A map showing file names relative to `root` (the project root) when possible.
    pub fn with_root(root: impl Into<PathBuf>) -> SourceMap {
        SourceMap {
            root: Some(root.into()),
            files: HashMap::new(),
        }
    }

    /// The display name of a path.
    pub fn display_name(&self, path: &Path) -> String {
        let rel = |base: &Path| {
            path.strip_prefix(base)
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
        };
        if let Some(root) = &self.root
            && let Some(r) = rel(root)
        {
            return r;
        }
        if let Ok(cwd) = std::env::current_dir()
            && let Some(r) = rel(&cwd)
        {
            return r;
        }
        path.to_string_lossy().into_owned()
    }

    /// Add a file's text; returns the shared file (with its display name).
    pub fn add(&mut self, path: &Path, text: impl Into<Arc<str>>) -> Arc<SourceFile> {
        let name = self.display_name(path);
        let file = Arc::new(SourceFile::new(name.clone(), path.to_path_buf(), text));
        self.files.insert(name, file.clone());
        file
    }

    /// Add a `.tf.json` file: `hcl` (made from `json`) is what is parsed,
    /// `json` is what positions and diagnostics show.
    pub fn add_generated(&mut self, path: &Path, hcl: String, json: String) -> Arc<SourceFile> {
        let name = self.display_name(path);
        let file = Arc::new(SourceFile::with_shown(
            name.clone(),
            path.to_path_buf(),
            hcl.into(),
            Some(json.into()),
        ));
        self.files.insert(name, file.clone());
        file
    }

    pub fn get(&self, name: &str) -> Option<&Arc<SourceFile>> {
        self.files.get(name)
    }

    /// Every file read, in no particular order.
    pub fn files(&self) -> impl Iterator<Item = &Arc<SourceFile>> {
        self.files.values()
    }
}

/// Render diagnostics like Terraform: severity and summary, the file and
/// line, the source line with a caret under the range, and the detail.
pub fn render_diagnostics(diags: &Diagnostics, sources: &SourceMap, color: bool) -> String {
    let mut out = String::new();
    for d in diags.iter() {
        render_one(&mut out, d, sources, color);
    }
    out
}

fn render_one(out: &mut String, d: &Diagnostic, sources: &SourceMap, color: bool) {
    let (label, is_err) = match d.severity {
        Severity::Error => ("Error", true),
        Severity::Warning => ("Warning", false),
    };
    if color {
        let head = format!("{label}: ");
        if is_err {
            let _ = write!(out, "{}{}", head.red().bold(), d.summary.bold());
        } else {
            let _ = write!(out, "{}{}", head.yellow().bold(), d.summary.bold());
        }
    } else {
        let _ = write!(out, "{label}: {}", d.summary);
    }
    out.push_str("\n\n");
    if let Some(r) = &d.range {
        let file = sources.get(&r.filename);
        let context = file.and_then(|f| enclosing_block(f, r.start.line));
        let _ = write!(out, "  on {} line {}", r.filename, r.start.line);
        if let Some(c) = context {
            let _ = write!(out, ", in {c}");
        }
        out.push_str(":\n");
        if let Some(line) = file.and_then(|f| f.line(r.start.line)) {
            let num = r.start.line.to_string();
            let _ = writeln!(out, "  {num}: {line}");
            let before: String = line
                .chars()
                .take(r.start.column.saturating_sub(1))
                .collect();
            let end_col = if r.end.line == r.start.line {
                r.end.column
            } else {
                line.chars().count() + 1
            };
            let under: String = line
                .chars()
                .skip(r.start.column.saturating_sub(1))
                .take(end_col.saturating_sub(r.start.column))
                .collect();
            let pad =
                2 + num.len() + 2 + UnicodeWidthStr::width(before.replace('\t', " ").as_str());
            let width = UnicodeWidthStr::width(under.as_str()).max(1);
            let carets = "^".repeat(width);
            out.push_str(&" ".repeat(pad));
            if color {
                let _ = write!(out, "{}", carets.red().bold());
            } else {
                out.push_str(&carets);
            }
            out.push('\n');
        }
        out.push('\n');
    }
    if !d.detail.is_empty() {
        out.push_str(&d.detail);
        out.push('\n');
    }
    out.push('\n');
}

/// `resource "aws_instance" "x"`: the header of the top-level block containing `line`.
fn enclosing_block(file: &SourceFile, line: usize) -> Option<String> {
    for l in (1..=line).rev() {
        let text = file.line(l)?;
        if text.starts_with(|c: char| c.is_ascii_alphabetic()) {
            let header = text.split('{').next()?.trim_end();
            let first = header.split_whitespace().next()?;
            if header.len() < text.len() && header.contains('"')
                || matches!(first, "locals" | "terraform")
            {
                return Some(header.to_string());
            }
            return None;
        }
        if l < line && text == "}" {
            return None;
        }
    }
    None
}

/// Diagnostics as JSON (Terraform's `-json` diagnostic shape).
pub fn diagnostics_json(diags: &Diagnostics) -> serde_json::Value {
    serde_json::to_value(diags).unwrap_or(serde_json::Value::Array(Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters() {
        let f = SourceFile::new("a.tf".into(), "a.tf".into(), "ab\nçd = 1\n");
        let p = f.pos(6);
        assert_eq!((p.line, p.column), (2, 3));
        assert_eq!(f.line(2), Some("çd = 1"));
    }
}
