//! Fuzz targets for terrace's input parsers (a cargo-fuzz project, not a
//! workspace member). The entry points live in `entry.rs` so the end-to-end
//! tests can run them over the seed corpus without libFuzzer.

mod entry;

pub use entry::{config_loader, state_decoder};
