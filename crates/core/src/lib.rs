//! `terrace-core` is the shared vocabulary of terrace: configuration values
//! ([`Value`], which can be unknown or sensitive), resource and module
//! addresses ([`ResourceAddr`], [`ModuleInstance`]) and user-facing
//! [`Diagnostic`]s with source ranges.
//!
//! It owns no behaviour beyond these types, their conversions and their
//! printing/parsing. It never depends on HCL parsing, the cloud, state stores
//! or terminals; every other terrace crate may depend on it.

pub mod address;
pub mod diagnostic;
pub mod value;

pub use address::{AddrParseError, InstanceKey, ModuleInstance, ResourceAddr, ResourceMode};
pub use diagnostic::{Diagnostic, Diagnostics, Pos, Severity, SourceRange};
pub use value::{Number, ObjectMap, PathStep, SharedStr, Value, ValuePath};
