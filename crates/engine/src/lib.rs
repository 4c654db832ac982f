//! `terrace-engine` owns what terrace *does*: planning (refresh in batches,
//! diff, actions), applying (parallel, journalled, crash-reconciled, state
//! persisted as resources complete), destroying, drift detection, the plan
//! file and Terraform plan JSON, Terraform/OpenTofu state files in and out
//! (`tfstate`), ephemeral environments, and the built-in `terraform_data`
//! resource.
//!
//! It works through the `terrace-provider` trait and the `terrace-state`
//! store trait and never sees an AWS SDK type, a terminal or clap. Progress
//! reaches the user through [`apply::ApplyObserver`], implemented by the CLI.

pub mod apply;
pub mod builtin;
pub mod context;
pub mod drift;
pub mod envdiff;
pub mod envs;
pub mod error;
pub mod guard;
pub mod ledger;
pub mod model;
pub mod notify;
pub mod ops;
pub mod plan;
pub mod planjson;
pub mod plansecrets;
pub mod policy;
pub mod report;
pub mod rollback;
pub mod tfstate;
pub mod values;

pub use context::{Engine, EnvReader, LoadOptions, LoadedEnv, Providers, load_env};
pub use error::EngineError;
pub use model::{Action, Plan, PlanMode, ResourceChange};
pub use plan::PlanOptions;
