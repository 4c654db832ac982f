//! Terminal output rules: stdout is for data, stderr for logs, progress and
//! diagnostics; colour only on a terminal and never with NO_COLOR.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use terrace_core::Diagnostics;
use terrace_lang::SourceMap;

static NO_COLOR: AtomicBool = AtomicBool::new(false);

pub fn disable_color() {
    NO_COLOR.store(true, Ordering::SeqCst);
}

fn color_allowed() -> bool {
    !NO_COLOR.load(Ordering::SeqCst) && std::env::var_os(crate::settings::vars::NO_COLOR).is_none()
}

/// Colour on stdout?
pub fn stdout_color() -> bool {
    color_allowed() && std::io::stdout().is_terminal()
}

/// Colour on stderr?
pub fn stderr_color() -> bool {
    color_allowed() && std::io::stderr().is_terminal()
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Diagnostics as an error that carries its sources for rendering.
#[derive(Debug)]
pub struct DiagnosticsError {
    pub diags: Diagnostics,
    pub sources: SourceMap,
}

impl DiagnosticsError {
    pub fn new(diags: Diagnostics, sources: SourceMap) -> Self {
        DiagnosticsError { diags, sources }
    }

    pub fn render(&self, color: bool) -> String {
        terrace_lang::render_diagnostics(&self.diags, &self.sources, color)
    }
}

impl std::fmt::Display for DiagnosticsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.render(false))
    }
}

impl std::error::Error for DiagnosticsError {}

/// A plain ANSI styler that is a no-op without colour.
#[derive(Clone, Copy)]
pub struct Style {
    pub on: bool,
}

impl Style {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.wrap("31", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    pub fn cyan(&self, s: &str) -> String {
        self.wrap("36", s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
}
