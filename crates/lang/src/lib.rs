//! `terrace-lang` loads and evaluates terrace configuration: a
//! Terraform-language subset in `.tf` files (HCL, parsed with hcl-edit so
//! every expression keeps its source span) and `.tf.json` files (Terraform's
//! JSON syntax, rewritten as HCL at the JSON's offsets), one root module per
//! environment folder plus child modules (local paths here; remote sources
//! reach it as local directories through [`RemoteModules`]).
//!
//! It owns: the project file (`terrace.hcl`), the module tree ([`Config`]),
//! input variables and their precedence, expression evaluation (with unknown
//! and sensitive values), references and the block-level dependency graph
//! ([`Evaluator::graph_nodes`]), static validation, and rendering
//! diagnostics with the source line and a caret ([`render_diagnostics`]).
//! It must not know the cloud, state stores or terminals: resource values
//! come in through [`ResourceLookup`], schemas through [`SchemaLookup`], and
//! colour is a `bool`. Built-in functions come from `terrace-funcs`; `try`,
//! `can`, `templatefile`, `sensitive` and `nonsensitive` live here because
//! they need the evaluator.
//!
//! # Variable precedence
//!
//! From lowest to highest (later wins), as in Terraform: the `default` of
//! the variable block, `TF_VAR_name`, `TERRACE_VAR_name`, `terraform.tfvars`
//! in the environment folder, `*.auto.tfvars` there (in alphabetical order),
//! each `--var-file` (in the order given), each `--var name=value` (in order).
//! CLI and environment strings are parsed as HCL expressions when the
//! variable's type is not `string` (e.g. `--var 'azs=["a","b"]'`).
//!
//! # Tests
//!
//! Fixture folders live in `tests/fixtures/<scenario>/`. Invalid fixtures
//! mark each expected error on the offending line with a comment
//! `# ERROR: <summary>` (or `# ERROR@<column>: <summary>`). Snapshots of
//! rendered diagnostics use `insta`: update them with
//! `INSTA_UPDATE=always cargo test -p terrace-lang` or `cargo insta review`.

mod config;
mod configjson;
pub mod envsettings;
mod eval;
mod evaluator;
pub mod fmt;
mod functions;
mod json;
mod policy;
mod project;
mod refs;
mod source;
mod suggest;
mod types;
mod variables;
mod version;

pub use config::{
    CheckBlock, Condition, Config, Expr, IgnoreChanges, ImportBlock, Lifecycle, Local, Module,
    ModuleCall, MoveEndpoint, MovedBlock, NoRemoteModules, Output, ProviderBlock, ProviderRef,
    ProviderRequirement, RemoteModules, RemoteSource, RemovedBlock, ReplaceTrigger, ResourceBlock,
    TerraformBlock, Variable, load_config, load_config_with, normalize as normalize_path,
};
pub use configjson::{ConfigSchemas, configuration_json, provider_full_name};
pub use evaluator::{
    AttrRequirement, BodySchema, Evaluator, GraphNode, NodeKind, ResourceInstanceConfig,
    ResourceLookup, SchemaLookup,
};
pub use policy::{
    DEFAULT_POLICY_ACTIONS, Enforcement, POLICY_ACTIONS, POLICY_SCOPE, Policy, PolicyScope,
    PolicySet, load_policies,
};
pub use project::{NOTIFY_EVENTS, NotifyConfig, Project, find_project, find_project_with_sources};
pub use source::{SourceFile, SourceMap, diagnostics_json, render_diagnostics};
pub use suggest::did_you_mean;
pub use types::{ObjectAttr, TypeConstraint, convert};
pub use variables::{VarInputs, resolve_root_variables};
pub use version::{TERRAFORM_LANGUAGE_VERSION, satisfies as version_satisfies};
