//! The project file `terrace.hcl`: where environments live and which state
//! store to use.

use std::path::{Path, PathBuf};

use hcl_edit::structure::Structure;
use terrace_core::{Diagnostic, Diagnostics, Value};

use crate::config::header_span;
use crate::eval::eval_const;
use crate::refs::span_of;
use crate::source::SourceMap;
use crate::suggest::did_you_mean;

/// The name of the project file.
pub const PROJECT_FILE: &str = "terrace.hcl";

/// A terrace project: the folder holding `terrace.hcl` (or the start folder
/// when there is none) and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub root: PathBuf,
    /// Absolute: `root/environments` by default.
    pub environments_dir: PathBuf,
    /// `state { url = "…" }`; `None` means the default store.
    pub state_url: Option<String>,
}

/// Walk up from `start` to the nearest `terrace.hcl`. Without one, the
/// project is rooted at `start` with default settings.
pub fn find_project(start: &Path) -> Result<Project, Diagnostics> {
    find_project_with_sources(start, &mut SourceMap::new())
}

/// [`find_project`], adding the project file to `sources` for rendering.
pub fn find_project_with_sources(
    start: &Path,
    sources: &mut SourceMap,
) -> Result<Project, Diagnostics> {
    let start = if start.is_absolute() {
        start.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|c| c.join(start))
            .unwrap_or_else(|_| start.to_path_buf())
    };
    let mut dir = Some(start.as_path());
    while let Some(d) = dir {
        let candidate = d.join(PROJECT_FILE);
        if candidate.is_file() {
            return parse_project(d, &candidate, sources);
        }
        dir = d.parent();
    }
    Ok(Project {
        root: start.clone(),
        environments_dir: start.join("environments"),
        state_url: None,
    })
}

fn parse_project(
    root: &Path,
    path: &Path,
    sources: &mut SourceMap,
) -> Result<Project, Diagnostics> {
    let mut diags = Diagnostics::new();
    let bytes = std::fs::read(path).map_err(|e| {
        Diagnostics::from(Diagnostic::error(
            "Failed to read project file",
            format!("{}: {e}", path.display()),
        ))
    })?;
    let Ok(text) = String::from_utf8(bytes) else {
        return Err(Diagnostic::error(
            "Invalid file encoding",
            format!("{} is not valid UTF-8.", path.display()),
        )
        .into());
    };
    let file = sources.add(path, text);
    let body = match hcl_edit::parser::parse_body(file.text()) {
        Ok(b) => b,
        Err(e) => {
            let off = e.location().offset();
            return Err(Diagnostic::error(
                "Syntax error",
                format!("Invalid HCL: {}.", e.message()),
            )
            .at(Some(file.range(off..off + 1)))
            .into());
        }
    };
    let mut project = Project {
        root: root.to_path_buf(),
        environments_dir: root.join("environments"),
        state_url: None,
    };
    let err = |span, summary: &str, detail: String| {
        Diagnostic::error(summary, detail).at(Some(file.range(span)))
    };
    let string_of = |e: &hcl_edit::expr::Expression, diags: &mut Diagnostics| match eval_const(
        e, &file, root,
    ) {
        Ok(Value::String(s)) => Some(s),
        Ok(other) => {
            diags.push(err(
                span_of(e),
                "Incorrect attribute value type",
                format!("A string is required, but have {}.", other.type_name()),
            ));
            None
        }
        Err(d) => {
            diags.extend(d);
            None
        }
    };
    for s in body.iter() {
        match s {
            Structure::Attribute(a) if a.key.as_str() == "environments_dir" => {
                if let Some(v) = string_of(&a.value, &mut diags) {
                    project.environments_dir = root.join(v);
                }
            }
            Structure::Block(b) if b.ident.as_str() == "state" => {
                if !b.labels.is_empty() {
                    diags.push(err(
                        header_span(b),
                        "Extraneous label",
                        "The state block takes no labels.".into(),
                    ));
                }
                for s in b.body.iter() {
                    match s {
                        Structure::Attribute(a) if a.key.as_str() == "url" => {
                            if let Some(v) = string_of(&a.value, &mut diags) {
                                if !(v.starts_with("sqlite:")
                                    || v.starts_with("postgres://")
                                    || v.starts_with("postgresql://")
                                    || v.starts_with("s3://"))
                                {
                                    diags.push(err(span_of(&a.value), "Invalid state URL", format!("\"{v}\" is not a supported state store URL: use sqlite:PATH, postgres://… or s3://BUCKET/PREFIX.")));
                                } else {
                                    project.state_url = Some(v);
                                }
                            }
                        }
                        Structure::Attribute(a) => diags.push(err(
                            span_of(&a.key),
                            "Unsupported argument",
                            format!(
                                "An argument named \"{}\" is not expected in the state block.{}",
                                a.key.as_str(),
                                did_you_mean(a.key.as_str(), ["url"])
                            ),
                        )),
                        Structure::Block(x) => diags.push(err(
                            span_of(&x.ident),
                            "Unsupported block type",
                            format!(
                                "Blocks of type \"{}\" are not expected in the state block.",
                                x.ident.as_str()
                            ),
                        )),
                    }
                }
            }
            Structure::Attribute(a) => diags.push(err(
                span_of(&a.key),
                "Unsupported argument",
                format!(
                    "An argument named \"{}\" is not expected in terrace.hcl.{}",
                    a.key.as_str(),
                    did_you_mean(a.key.as_str(), ["environments_dir"])
                ),
            )),
            Structure::Block(b) => diags.push(err(
                span_of(&b.ident),
                "Unsupported block type",
                format!(
                    "Blocks of type \"{}\" are not expected in terrace.hcl.{}",
                    b.ident.as_str(),
                    did_you_mean(b.ident.as_str(), ["state"])
                ),
            )),
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(project)
    }
}
