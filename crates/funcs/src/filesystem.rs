//! Filesystem functions. Relative paths resolve against
//! [`FuncContext::base_dir`]; `~` expands to the home directory.

use crate::args::Args;
use crate::crypto::{Hash, digest};
use crate::{FuncContext, FuncError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::path::{Path, PathBuf};
use terrace_core::{SharedStr, Value};

type R = Result<Value, FuncError>;

/// `fileset` stops after this many directory entries.
const MAX_WALK_ENTRIES: usize = 200_000;
/// `fileset` does not descend deeper than this.
const MAX_WALK_DEPTH: usize = 64;
/// Brace alternatives a glob pattern may expand to.
const MAX_ALTERNATIVES: usize = 1024;

fn home_dir() -> Option<String> {
    std::env::var("HOME").ok().filter(|h| !h.is_empty())
}

/// Expand a leading `~` like Go's `homedir.Expand`.
fn expand_home(path: &str) -> Result<String, String> {
    let Some(rest) = path.strip_prefix('~') else {
        return Ok(path.to_string());
    };
    if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('\\')) {
        return Err("cannot expand user-specific home dir".to_string());
    }
    let home = home_dir().ok_or("cannot find the home directory: HOME is not set")?;
    Ok(format!("{home}{rest}"))
}

fn resolve(a: &Args<'_>, ctx: &FuncContext, i: usize) -> Result<(String, PathBuf), FuncError> {
    let given = a.string(i)?;
    let expanded = expand_home(&given).map_err(|e| a.error(i, e))?;
    let p = Path::new(&expanded);
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        ctx.base_dir.join(p)
    };
    Ok((given, full))
}

fn read(a: &Args<'_>, ctx: &FuncContext) -> Result<(String, Vec<u8>), FuncError> {
    let (given, full) = resolve(a, ctx, 0)?;
    match std::fs::read(&full) {
        Ok(bytes) => Ok((given, bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(a.error(
            0,
            format!(
                "no file exists at {}; this function works only with files that are distributed as part of the configuration source code, so if this file will be created by a resource in this configuration you must instead obtain this result from an attribute of that resource",
                a.quote(0, &given)
            ),
        )),
        Err(e) => Err(a.error(0, format!("failed to read file {}: {e}", a.quote(0, &given)))),
    }
}

/// Files at least this large are read once per process while unchanged:
/// `file()` in a block with `count = 1000` then gives every instance the same
/// shared string instead of a copy each.
const SHARED_FILE_BYTES: u64 = 64 * 1024;

/// A large file's text as last read, with what identifies that version.
struct SharedFile {
    len: u64,
    modified: Option<std::time::SystemTime>,
    text: SharedStr,
}

type SharedFiles = std::sync::Mutex<std::collections::HashMap<PathBuf, SharedFile>>;

fn shared_files() -> &'static SharedFiles {
    static FILES: std::sync::OnceLock<SharedFiles> = std::sync::OnceLock::new();
    FILES.get_or_init(Default::default)
}

/// The text of a large file read before, if it has the same length and
/// modification time now.
fn shared_text(full: &Path) -> Option<SharedStr> {
    let meta = std::fs::metadata(full).ok()?;
    if meta.len() < SHARED_FILE_BYTES {
        return None;
    }
    let files = shared_files().lock().ok()?;
    let f = files.get(full)?;
    (f.len == meta.len() && f.modified == meta.modified().ok()).then(|| f.text.clone())
}

pub(crate) fn file(a: &Args<'_>, ctx: &FuncContext) -> R {
    let (_, full) = resolve(a, ctx, 0)?;
    if let Some(text) = shared_text(&full) {
        return Ok(Value::String(text));
    }
    let before = std::fs::metadata(&full).ok();
    let (given, bytes) = read(a, ctx)?;
    let text = String::from_utf8(bytes).map(SharedStr::from);
    if let (Ok(text), Some(meta)) = (&text, before)
        && meta.len() >= SHARED_FILE_BYTES
        && meta.len() == text.len() as u64
        && let Ok(mut files) = shared_files().lock()
    {
        files.insert(
            full,
            SharedFile {
                len: meta.len(),
                modified: meta.modified().ok(),
                text: text.clone(),
            },
        );
    }
    text.map(Value::String).map_err(|_| {
        a.error(
            0,
            format!(
                "contents of {} are not valid UTF-8; use the filebase64 function to obtain the Base64 encoded contents or the other file functions (e.g. filemd5, filesha256) to obtain file hashing results instead",
                a.quote(0, &given)
            ),
        )
    })
}

pub(crate) fn filebase64(a: &Args<'_>, ctx: &FuncContext) -> R {
    Ok(Value::string(STANDARD.encode(read(a, ctx)?.1)))
}

fn file_hash(a: &Args<'_>, ctx: &FuncContext, hash: Hash, base64: bool) -> R {
    let bytes = read(a, ctx)?.1;
    let sum = digest(hash, &bytes);
    Ok(Value::string(if base64 {
        STANDARD.encode(sum)
    } else {
        hex::encode(sum)
    }))
}

pub(crate) fn filemd5(a: &Args<'_>, ctx: &FuncContext) -> R {
    file_hash(a, ctx, Hash::Md5, false)
}

pub(crate) fn filesha1(a: &Args<'_>, ctx: &FuncContext) -> R {
    file_hash(a, ctx, Hash::Sha1, false)
}

pub(crate) fn filesha256(a: &Args<'_>, ctx: &FuncContext) -> R {
    file_hash(a, ctx, Hash::Sha256, false)
}

pub(crate) fn filesha512(a: &Args<'_>, ctx: &FuncContext) -> R {
    file_hash(a, ctx, Hash::Sha512, false)
}

pub(crate) fn filebase64sha256(a: &Args<'_>, ctx: &FuncContext) -> R {
    file_hash(a, ctx, Hash::Sha256, true)
}

pub(crate) fn filebase64sha512(a: &Args<'_>, ctx: &FuncContext) -> R {
    file_hash(a, ctx, Hash::Sha512, true)
}

pub(crate) fn fileexists(a: &Args<'_>, ctx: &FuncContext) -> R {
    let (given, full) = resolve(a, ctx, 0)?;
    match std::fs::metadata(&full) {
        Ok(md) if md.is_file() => Ok(Value::Bool(true)),
        Ok(md) if md.is_dir() => Err(a.error(
            0,
            format!("{} is a directory, not a file", a.quote(0, &given)),
        )),
        Ok(_) => Err(a.error(0, format!("{} is not a regular file", a.quote(0, &given)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Bool(false)),
        Err(e) => Err(a.error(0, format!("failed to stat {}: {e}", a.quote(0, &given)))),
    }
}

pub(crate) fn pathexpand(a: &Args<'_>, _: &FuncContext) -> R {
    let path = a.string(0)?;
    expand_home(&path)
        .map(Value::string)
        .map_err(|e| a.error(0, e))
}

/// Lexical path cleaning, as Go's `path.Clean`.
pub(crate) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

pub(crate) fn abspath(a: &Args<'_>, _: &FuncContext) -> R {
    let path = a.string(0)?.replace('\\', "/");
    if path.starts_with('/') {
        return Ok(Value::string(clean(&path)));
    }
    let cwd = std::env::current_dir()
        .map_err(|e| a.error(0, format!("cannot find the current directory: {e}")))?;
    let cwd = cwd.to_string_lossy().replace('\\', "/");
    Ok(Value::string(clean(&format!("{cwd}/{path}"))))
}

pub(crate) fn basename(a: &Args<'_>, _: &FuncContext) -> R {
    let path = a.string(0)?;
    if path.is_empty() {
        return Ok(Value::string("."));
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(Value::string("/"));
    }
    Ok(Value::string(trimmed.rsplit('/').next().unwrap_or(trimmed)))
}

pub(crate) fn dirname(a: &Args<'_>, _: &FuncContext) -> R {
    let path = a.string(0)?;
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    Ok(Value::string(clean(dir)))
}

// ---- fileset -------------------------------------------------------------

/// One element of a glob path segment.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    Any,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

fn tokenize(seg: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = seg.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                if toks.last() != Some(&Tok::Star) {
                    toks.push(Tok::Star);
                }
            }
            '?' => toks.push(Tok::Any),
            '\\' => {
                i += 1;
                toks.push(Tok::Lit(
                    *chars.get(i).ok_or("trailing backslash in pattern")?,
                ));
            }
            '[' => {
                i += 1;
                let negated = matches!(chars.get(i), Some('!') | Some('^'));
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let c = *chars
                        .get(i)
                        .ok_or("unterminated character class in pattern")?;
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    let lo = if c == '\\' {
                        i += 1;
                        *chars
                            .get(i)
                            .ok_or("unterminated character class in pattern")?
                    } else {
                        c
                    };
                    if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|c| *c != ']')
                    {
                        let hi = chars[i + 2];
                        ranges.push((lo, hi));
                        i += 3;
                    } else {
                        ranges.push((lo, lo));
                        i += 1;
                    }
                }
                toks.push(Tok::Class { negated, ranges });
            }
            c => toks.push(Tok::Lit(c)),
        }
        i += 1;
    }
    Ok(toks)
}

fn tok_matches(t: &Tok, c: char) -> bool {
    match t {
        Tok::Lit(l) => *l == c,
        Tok::Any => true,
        Tok::Star => true,
        Tok::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
        }
    }
}

/// Wildcard match of one path segment (greedy with backtracking to the
/// last star: linear in practice, never exponential).
fn segment_matches(toks: &[Tok], s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let (mut t, mut c) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while c < chars.len() {
        if t < toks.len() && toks[t] == Tok::Star {
            star = Some((t, c));
            t += 1;
        } else if t < toks.len() && tok_matches(&toks[t], chars[c]) {
            t += 1;
            c += 1;
        } else if let Some((st, sc)) = star {
            t = st + 1;
            c = sc + 1;
            star = Some((st, sc + 1));
        } else {
            return false;
        }
    }
    toks[t..].iter().all(|t| *t == Tok::Star)
}

/// Expand `{a,b}` alternatives.
fn expand_braces(pattern: &str, out: &mut Vec<String>) -> Result<(), String> {
    let Some(open) = pattern.find('{') else {
        out.push(pattern.to_string());
        return Ok(());
    };
    let mut depth = 0;
    let mut close = None;
    let mut splits = Vec::new();
    for (i, c) in pattern[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            ',' if depth == 1 => splits.push(open + i),
            _ => {}
        }
    }
    let close = close.ok_or("unterminated '{' in pattern")?;
    let mut bounds = vec![open];
    bounds.extend(splits);
    bounds.push(close);
    for w in bounds.windows(2) {
        let alt = format!(
            "{}{}{}",
            &pattern[..open],
            &pattern[w[0] + 1..w[1]],
            &pattern[close + 1..]
        );
        expand_braces(&alt, out)?;
        if out.len() > MAX_ALTERNATIVES {
            return Err("too many alternatives in pattern".to_string());
        }
    }
    Ok(())
}

struct Glob {
    alternatives: Vec<Vec<Option<Vec<Tok>>>>, // None = `**`
}

impl Glob {
    fn new(pattern: &str) -> Result<Glob, String> {
        let mut expanded = Vec::new();
        expand_braces(pattern, &mut expanded)?;
        let alternatives = expanded
            .iter()
            .map(|p| {
                p.split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        if s == "**" {
                            Ok(None)
                        } else {
                            tokenize(s).map(Some)
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?;
        Ok(Glob { alternatives })
    }

    fn matches(&self, parts: &[&str]) -> bool {
        self.alternatives
            .iter()
            .any(|segs| match_parts(segs, parts))
    }
}

fn match_parts(segs: &[Option<Vec<Tok>>], parts: &[&str]) -> bool {
    match segs.split_first() {
        None => parts.is_empty(),
        Some((None, rest)) => (0..=parts.len()).any(|k| match_parts(rest, &parts[k..])),
        Some((Some(toks), rest)) => {
            !parts.is_empty() && segment_matches(toks, parts[0]) && match_parts(rest, &parts[1..])
        }
    }
}

fn walk(
    dir: &Path,
    rel: &str,
    depth: usize,
    seen: &mut usize,
    files: &mut Vec<String>,
) -> Result<(), String> {
    if depth > MAX_WALK_DEPTH {
        return Ok(());
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        *seen += 1;
        if *seen > MAX_WALK_ENTRIES {
            return Err(format!(
                "more than {MAX_WALK_ENTRIES} files and folders to search"
            ));
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let path_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let Ok(md) = std::fs::metadata(entry.path()) else {
            continue;
        };
        if md.is_dir() {
            walk(&entry.path(), &path_rel, depth + 1, seen, files)?;
        } else if md.is_file() {
            files.push(path_rel);
        }
    }
    Ok(())
}

pub(crate) fn fileset(a: &Args<'_>, ctx: &FuncContext) -> R {
    let (_, root) = resolve(a, ctx, 0)?;
    let pattern = a.string(1)?;
    let glob = Glob::new(&clean(&pattern)).map_err(|e| {
        a.error(
            1,
            format!("failed to glob pattern {}: {e}", a.quote(1, &pattern)),
        )
    })?;
    let mut files = Vec::new();
    let mut seen = 0;
    walk(&root, "", 0, &mut seen, &mut files).map_err(|e| a.error(0, e))?;
    let matched: Vec<Value> = files
        .into_iter()
        .filter(|f| glob.matches(&f.split('/').collect::<Vec<_>>()))
        .map(Value::string)
        .collect();
    Ok(Value::set(matched))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Glob::new(pattern)
            .unwrap()
            .matches(&path.split('/').collect::<Vec<_>>())
    }

    #[test]
    fn globs() {
        assert!(m("*.txt", "a.txt"));
        assert!(!m("*.txt", "d/a.txt"));
        assert!(m("**/*.txt", "a.txt"));
        assert!(m("**/*.txt", "d/e/a.txt"));
        assert!(m("d/**", "d/e/a.txt"));
        assert!(m("{a,b}.txt", "b.txt"));
        assert!(m("[a-c]?.txt", "bx.txt"));
        assert!(!m("[!a-c]?.txt", "bx.txt"));
        assert!(m("*a*b*", "xxaxxbxx"));
        assert!(!m("*a*b*c", "xxaxxbxx"));
        assert_eq!(clean("a/../../b/./c//"), "../b/c");
        assert_eq!(clean("/../a"), "/a");
    }
}
