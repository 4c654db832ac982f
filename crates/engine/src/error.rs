//! The engine's error type.

use terrace_core::Diagnostics;
use terrace_lang::SourceMap;
use terrace_state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Errors in user input, with the sources to render them against.
    #[error("{diags}")]
    Config {
        diags: Diagnostics,
        sources: Box<SourceMap>,
    },
    /// A plan a `deny` policy fails (the diagnostics at each policy):
    /// refused before any change, recorded in the ledger as `refused`.
    #[error("{diags}")]
    PolicyDenied {
        diags: Diagnostics,
        sources: Box<SourceMap>,
    },
    #[error(transparent)]
    State(#[from] StateError),
    /// A saved plan cannot be applied (stale, other environment, changed config).
    #[error("{0}")]
    StalePlan(String),
    /// Applying finished with failed resources (the summary says which).
    #[error("{0}")]
    ApplyFailed(String),
    /// The user declined or the run was interrupted.
    #[error("{0}")]
    Cancelled(String),
    #[error("{0}")]
    Other(String),
}

impl EngineError {
    pub fn config(diags: Diagnostics, sources: SourceMap) -> Self {
        EngineError::Config {
            diags,
            sources: Box::new(sources),
        }
    }
}
