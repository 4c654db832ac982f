//! The engine suite: plan and apply against an in-memory fake cloud (see
//! `tests/support`), with state in SQLite.
//!
//! Snapshots live in `crates/engine/tests/snapshots/`; after an intended
//! change, update them with `INSTA_UPDATE=always cargo test -p terrace-engine`
//! (or `cargo insta review`) and review the diff.

#[path = "../support/mod.rs"]
mod support;

mod actions;
mod correctness;
mod crash;
mod drift;
mod failures;
mod lifecycle;
mod outputs;
mod sensitive;
mod snapshots;
mod stale;
mod state_writes;
mod terraform_data;
