//! `fmt`: Terraform's canonical layout for `.tf`, `.tofu` and `.tfvars`
//! files (the formatting itself is `terrace_lang::fmt`). Exit codes as
//! `terraform fmt`: 0 done, 2 a file does not parse, 3 with `-check` when a
//! file is not formatted.

use super::*;
use std::path::{Path, PathBuf};
use terrace_lang::{SourceFile, SourceMap};

const EXIT_SYNTAX: u8 = 2;
const EXIT_UNFORMATTED: u8 = 3;

fn formattable(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [".tf", ".tofu", ".tfvars", ".tftest.hcl"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

fn collect(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if p.is_dir() {
            if recursive && !hidden {
                collect(&p, recursive, out)?;
            }
        } else if formattable(&p) {
            out.push(p);
        }
    }
    Ok(())
}

pub(crate) fn fmt(chdir: Option<&Path>, a: FmtArgs) -> Result<u8> {
    let base = chdir.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if a.paths.len() == 1 && a.paths[0].as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        let file = SourceFile::new("<stdin>".into(), PathBuf::from("-"), text.as_str());
        return match terrace_lang::fmt::format_file(&file) {
            Ok(out) => {
                if a.check && out != text {
                    return Ok(EXIT_UNFORMATTED);
                }
                print!("{out}");
                Ok(0)
            }
            Err(diags) => {
                let mut sources = SourceMap::new();
                sources.add(Path::new("<stdin>"), text.as_str());
                eprint!(
                    "{}",
                    terrace_lang::render_diagnostics(&diags, &sources, stderr_color())
                );
                Ok(EXIT_SYNTAX)
            }
        };
    }
    let roots = if a.paths.is_empty() {
        vec![base.clone()]
    } else {
        a.paths.iter().map(|p| base.join(p)).collect()
    };
    let mut files = Vec::new();
    for root in &roots {
        if root.is_dir() {
            collect(root, a.recursive, &mut files)?;
        } else if root.is_file() {
            files.push(root.clone());
        } else {
            bail!(
                "fmt: no file or folder {}; give .tf, .tofu or .tfvars files or folders holding them",
                root.display()
            );
        }
    }
    let mut unformatted = false;
    let mut syntax = false;
    for path in files {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let shown = path
            .strip_prefix(&base)
            .unwrap_or(&path)
            .display()
            .to_string();
        let mut sources = SourceMap::new();
        let file = sources.add(&path, text.as_str());
        let out = match terrace_lang::fmt::format_file(&file) {
            Ok(out) => out,
            Err(diags) => {
                eprint!(
                    "{}",
                    terrace_lang::render_diagnostics(&diags, &sources, stderr_color())
                );
                syntax = true;
                continue;
            }
        };
        if out == text {
            continue;
        }
        unformatted = true;
        if a.list {
            println!("{shown}");
        }
        if a.diff {
            let diff = similar::TextDiff::from_lines(&text, &out);
            print!(
                "{}",
                diff.unified_diff()
                    .header(&format!("old/{shown}"), &format!("new/{shown}"))
            );
        }
        if a.write && !a.check {
            std::fs::write(&path, &out).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(if syntax {
        EXIT_SYNTAX
    } else if a.check && unformatted {
        EXIT_UNFORMATTED
    } else {
        0
    })
}
