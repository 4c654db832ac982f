//! Fixture-driven tests: every folder under tests/fixtures/valid must load
//! and evaluate without errors (and its `assert_*` outputs be true); every
//! folder under tests/fixtures/invalid must produce exactly the errors its
//! `# ERROR: <summary>` comments announce, on those lines.

mod common;

use std::path::{Path, PathBuf};

use common::{fixtures, run};
use terrace_core::Value;
use terrace_lang::render_diagnostics;

fn scenario_dirs(kind: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures().join(kind))
        .expect("fixture folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// (relative file, line, column, summary) of every `# ERROR` comment.
fn expectations(dir: &Path) -> Vec<(String, usize, Option<usize>, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            let rel = p
                .strip_prefix(dir)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            for (i, line) in text.lines().enumerate() {
                let Some(pos) = line.find("# ERROR") else {
                    continue;
                };
                let rest = &line[pos + "# ERROR".len()..];
                let (col, summary) = match rest.strip_prefix('@') {
                    Some(r) => {
                        let (c, s) = r.split_once(':').expect("# ERROR@col: summary");
                        (Some(c.trim().parse().expect("column")), s)
                    }
                    None => (None, rest.strip_prefix(':').expect("# ERROR: summary")),
                };
                out.push((rel.clone(), i + 1, col, summary.trim().to_string()));
            }
        }
    }
    out
}

#[test]
fn valid_fixtures_have_no_errors_and_true_assertions() {
    let dirs = scenario_dirs("valid");
    assert!(dirs.len() >= 3);
    for dir in dirs {
        let r = run(&dir);
        let rendered = render_diagnostics(&r.diags, &r.sources, false);
        assert!(!r.diags.has_errors(), "{}:\n{rendered}", dir.display());
        let asserts: Vec<_> = r
            .outputs
            .iter()
            .filter(|(k, _)| k.starts_with("assert_"))
            .collect();
        assert!(
            !asserts.is_empty(),
            "{} has no assert_ outputs",
            dir.display()
        );
        for (name, (v, _)) in asserts {
            assert_eq!(v, &Value::Bool(true), "{}: output {name}", dir.display());
        }
    }
}

#[test]
fn invalid_fixtures_report_the_marked_errors() {
    let dirs = scenario_dirs("invalid");
    assert!(dirs.len() >= 25);
    let mut failures = Vec::new();
    for dir in dirs {
        let expected = expectations(&dir);
        assert!(
            !expected.is_empty(),
            "{} has no # ERROR comment",
            dir.display()
        );
        let r = run(&dir);
        let rendered = render_diagnostics(&r.diags, &r.sources, false);
        let errors: Vec<_> = r.diags.iter().filter(|d| d.is_error()).collect();
        for (file, line, col, summary) in &expected {
            let found = errors.iter().any(|d| {
                d.summary == *summary
                    && d.range.as_ref().is_some_and(|rg| {
                        rg.filename == *file
                            && rg.start.line == *line
                            && col.is_none_or(|c| rg.start.column == c)
                    })
            });
            if !found {
                failures.push(format!(
                    "{}: expected {file}:{line}{} {summary:?}; got:\n{rendered}",
                    dir.display(),
                    col.map(|c| format!(":{c}")).unwrap_or_default()
                ));
            }
        }
        for d in &errors {
            let announced = expected.iter().any(|(file, line, _, summary)| {
                d.summary == *summary
                    && d.range
                        .as_ref()
                        .is_some_and(|rg| rg.filename == *file && rg.start.line == *line)
            });
            if !announced {
                failures.push(format!("{}: unexpected error:\n{rendered}", dir.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n----\n"));
}

#[test]
fn non_utf8_file_is_a_diagnostic() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("main.tf"),
        b"locals {\n  a = \"caf\xe9\"\n}\n",
    )
    .expect("write");
    let r = run(dir.path());
    let d = r
        .diags
        .iter()
        .find(|d| d.summary == "Invalid file encoding")
        .expect("encoding diagnostic");
    let range = d.range.as_ref().expect("range");
    assert_eq!((range.filename.as_str(), range.start.line), ("main.tf", 2));
    let text = render_diagnostics(&r.diags, &r.sources, true);
    assert!(text.contains("main.tf line 2"), "{text}");
}
