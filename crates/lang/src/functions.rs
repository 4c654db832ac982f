//! The bridge to `terrace-funcs`, the built-in function library.
//! (`try`, `can`, `templatefile`, `sensitive` and `nonsensitive` live in
//! the evaluator because they need it.)

use std::path::Path;

use terrace_core::Value;

/// `(min_args, max_args)` of a library function.
pub(crate) fn signature(name: &str) -> Option<(usize, Option<usize>)> {
    terrace_funcs::signature(name).map(|s| (s.min_args, s.max_args))
}

pub(crate) fn names() -> Vec<String> {
    terrace_funcs::names()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Call a library function; errors carry the index of the offending argument.
pub(crate) fn call(
    name: &str,
    args: Vec<Value>,
    base_dir: &Path,
) -> Result<Value, (Option<usize>, String)> {
    let ctx = terrace_funcs::FuncContext::new(base_dir);
    terrace_funcs::call(name, args, &ctx).map_err(|e| (e.arg, e.message))
}
