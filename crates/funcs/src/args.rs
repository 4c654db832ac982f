//! Typed access to a call's arguments, with Terraform's error wording.

use crate::FuncError;
use crate::convert;
use std::collections::BTreeMap;
use terrace_core::Value;

static NULL: Value = Value::Null;

/// The (unmarked) arguments of one call plus the parameter names used in
/// error messages.
pub(crate) struct Args<'a> {
    params: &'a [&'static str],
    variadic: Option<&'static str>,
    vals: Vec<Value>,
    /// Which arguments carried a sensitive mark (before unmarking).
    marked: Vec<bool>,
}

impl<'a> Args<'a> {
    pub(crate) fn new(
        params: &'a [&'static str],
        variadic: Option<&'static str>,
        vals: Vec<Value>,
        marked: Vec<bool>,
    ) -> Args<'a> {
        Args {
            params,
            variadic,
            vals,
            marked,
        }
    }

    /// `s` quoted for an error message, or `(sensitive value)` if argument
    /// `i` was sensitive: errors must not leak secrets.
    pub(crate) fn quote(&self, i: usize, s: &str) -> String {
        if self.marked.get(i).copied().unwrap_or(false) {
            "(sensitive value)".to_string()
        } else {
            Value::string(s).to_string()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.vals.len()
    }

    /// The argument at `i`; `null` past the end (never panics).
    pub(crate) fn get(&self, i: usize) -> &Value {
        self.vals.get(i).unwrap_or(&NULL)
    }

    pub(crate) fn all(&self) -> &[Value] {
        &self.vals
    }

    /// The arguments from index `from` on.
    pub(crate) fn rest(&self, from: usize) -> &[Value] {
        self.vals.get(from..).unwrap_or(&[])
    }

    /// The parameter name for argument `i`.
    pub(crate) fn name(&self, i: usize) -> &str {
        self.params
            .get(i)
            .copied()
            .or(self.variadic)
            .or(self.params.last().copied())
            .unwrap_or("arg")
    }

    /// An error blamed on argument `i`.
    pub(crate) fn error(&self, i: usize, message: impl Into<String>) -> FuncError {
        FuncError::at(i, message)
    }

    /// `Invalid value for "name" parameter: {detail}.`
    pub(crate) fn invalid(&self, i: usize, detail: impl std::fmt::Display) -> FuncError {
        FuncError::at(
            i,
            format!(
                "Invalid value for \"{}\" parameter: {detail}.",
                self.name(i)
            ),
        )
    }

    /// The type error for argument `i`, which should have been `expected`.
    pub(crate) fn type_error(&self, i: usize, expected: &str) -> FuncError {
        type_error_for(self, i, expected, self.get(i))
    }

    fn not_null(&self, i: usize) -> Result<&Value, FuncError> {
        let v = self.get(i);
        if v.is_null() {
            Err(self.invalid(i, "argument must not be null"))
        } else {
            Ok(v)
        }
    }

    pub(crate) fn string(&self, i: usize) -> Result<String, FuncError> {
        let v = self.not_null(i)?;
        convert::to_string(v).ok_or_else(|| self.type_error(i, "string"))
    }

    pub(crate) fn number(&self, i: usize) -> Result<f64, FuncError> {
        let v = self.not_null(i)?;
        convert::to_number(v).ok_or_else(|| self.type_error(i, "number"))
    }

    /// A number (or a string holding one), exactly.
    pub(crate) fn decimal(&self, i: usize) -> Result<terrace_core::Number, FuncError> {
        let v = self.not_null(i)?;
        convert::to_decimal(v).ok_or_else(|| self.type_error(i, "number"))
    }

    /// A whole number that fits in an i64.
    pub(crate) fn int(&self, i: usize) -> Result<i64, FuncError> {
        let n = self.number(i)?;
        convert::whole(n).ok_or_else(|| self.invalid(i, "value must be a whole number"))
    }

    /// Elements of a list, tuple or set.
    pub(crate) fn list(&self, i: usize) -> Result<&[Value], FuncError> {
        let v = self.not_null(i)?;
        v.as_list().ok_or_else(|| self.type_error(i, "list"))
    }

    pub(crate) fn map(&self, i: usize) -> Result<&BTreeMap<String, Value>, FuncError> {
        let v = self.not_null(i)?;
        v.as_map().ok_or_else(|| self.type_error(i, "map"))
    }
}

pub(crate) fn type_error_for(args: &Args<'_>, i: usize, expected: &str, got: &Value) -> FuncError {
    let got = match got {
        Value::String(s) if expected == "number" || expected == "bool" => {
            format!("string {}", args.quote(i, s))
        }
        other => other.type_name().to_string(),
    };
    args.invalid(i, format!("{expected} required, got {got}"))
}
