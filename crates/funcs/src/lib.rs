//! `terrace-funcs` is the built-in function library of terrace's
//! Terraform-compatible configuration language: `cidrsubnet`, `merge`,
//! `format`, `jsonencode`, `file` and about a hundred more, computed over
//! [`terrace_core::Value`]. It owns each function's arity, its conversions
//! ("8" where a number is wanted), its error messages (with the index of the
//! offending argument) and how unknown and sensitive values flow through it.
//!
//! It must not depend on HCL parsing or the expression evaluator: `try`, `can`
//! and `templatefile` need unevaluated expressions and live in terrace-lang.
//! It never touches the cloud, state stores or terminals; the only side
//! effects are reading files below [`FuncContext::base_dir`] and the clock and
//! random numbers of `timestamp` and `uuid`.

mod args;
mod collection;
mod convert;
mod crypto;
mod datetime;
mod encoding;
mod filesystem;
mod format;
mod network;
mod numeric;
mod registry;
mod strings;
mod terraform1x;
mod yaml;

use std::path::PathBuf;
use terrace_core::Value;

/// What a function call may depend on besides its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncContext {
    /// Relative paths given to `file`, `fileexists`, `filebase64`, `fileset`
    /// and the file hash functions resolve against this folder
    /// (`path.module` of the calling module).
    pub base_dir: PathBuf,
}

impl Default for FuncContext {
    /// Paths resolve against the current directory.
    fn default() -> FuncContext {
        FuncContext {
            base_dir: PathBuf::from("."),
        }
    }
}

impl FuncContext {
    pub fn new(base_dir: impl Into<PathBuf>) -> FuncContext {
        FuncContext {
            base_dir: base_dir.into(),
        }
    }
}

/// A function call that failed: a message in Terraform's wording and, when
/// one argument is to blame, its 0-based index (for the caret).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct FuncError {
    pub arg: Option<usize>,
    pub message: String,
}

impl FuncError {
    /// An error not attributable to one argument.
    pub fn new(message: impl Into<String>) -> FuncError {
        FuncError {
            arg: None,
            message: message.into(),
        }
    }

    /// An error caused by the argument at `arg` (0-based).
    pub fn at(arg: usize, message: impl Into<String>) -> FuncError {
        FuncError {
            arg: Some(arg),
            message: message.into(),
        }
    }
}

/// How many arguments a function takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    pub min_args: usize,
    /// `None` for variadic functions.
    pub max_args: Option<usize>,
}

/// The arity of the function `name`, or `None` if there is no such function.
pub fn signature(name: &str) -> Option<Signature> {
    registry::lookup(name).map(registry::Spec::signature)
}

/// The names of all functions, sorted (for "did you mean" hints).
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = registry::FUNCTIONS.iter().map(|f| f.name).collect();
    names.sort_unstable();
    names
}

/// True if the function always returns the same result for the same
/// arguments (false for `timestamp`, `uuid`, and the like).
pub fn is_pure(name: &str) -> bool {
    registry::lookup(name).is_some_and(|f| f.pure)
}

/// Call the function `name`.
///
/// The caller is expected to have checked the argument count with
/// [`signature`]; a wrong count still gives an error, never a panic.
///
/// Unknown arguments give an unknown result (except where the function can
/// answer anyway, like `length` of a list of unknowns). If any argument is
/// sensitive, anywhere inside, the result is marked sensitive.
pub fn call(name: &str, args: Vec<Value>, ctx: &FuncContext) -> Result<Value, FuncError> {
    let spec = registry::lookup(name)
        .ok_or_else(|| FuncError::new(format!("There is no function named \"{name}\".")))?;
    spec.check_arity(args.len())?;
    spec.call(args, ctx)
}
