//! End-to-end tests: the real `terrace` binary against a moto server, with
//! SQLite state in a temporary project. One test binary, grouped by theme.

mod support;

mod checkov;
mod cli_ux;
mod drift;
mod envs;
mod fleet;
mod guard;
mod ledger;
mod lifecycle;
mod modules;
mod notify;
mod planfile;
mod policies;
mod proxy;
mod reliability;
mod report;
mod rollback;
mod schemas;
mod shipped;
mod stacks;
mod state_cli;
mod terraform_habits;
mod tf_commands;
mod tf_language;
mod tfstate;
mod utility;
mod validate;
