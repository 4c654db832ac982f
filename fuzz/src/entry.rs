//! The fuzz entry points, shared by the cargo-fuzz targets (`fuzz_targets/`)
//! and the deterministic smoke run in the end-to-end tests
//! (`tests/e2e/reliability.rs`, which includes this file by path). Each takes
//! arbitrary bytes and must never panic: bad input is a diagnostic or an error.

use std::sync::Arc;

/// No resource types at all: every resource block is "unsupported", which
/// must be a diagnostic like any other.
struct NoSchemas;

impl terrace_lang::SchemaLookup for NoSchemas {
    fn body_schema(
        &self,
        _mode: terrace_core::ResourceMode,
        _type_name: &str,
    ) -> Option<terrace_lang::BodySchema> {
        None
    }

    fn type_names(&self, _mode: terrace_core::ResourceMode) -> Vec<String> {
        Vec::new()
    }
}

/// Bytes as `main.tf` of a root module: load, resolve variables, validate,
/// build graph nodes, render every diagnostic with its source excerpt.
pub fn config_loader(data: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("main.tf"), data).expect("write main.tf");
    let mut sources = terrace_lang::SourceMap::default();
    let (config, mut diags) = terrace_lang::load_config(dir.path(), &mut sources);
    if let Some(config) = config {
        let (vars, var_diags) = terrace_lang::resolve_root_variables(
            &config,
            dir.path(),
            &terrace_lang::VarInputs::default(),
            &|_| None,
            &mut sources,
        );
        diags.extend(var_diags);
        let evaluator = terrace_lang::Evaluator::new(Arc::new(config), "fuzz", vars);
        diags.extend(evaluator.validate(&NoSchemas));
        if let Err(d) = evaluator.graph_nodes() {
            diags.extend(d);
        }
    }
    let _ = terrace_lang::render_diagnostics(&diags, &sources, false);
    let _ = terrace_lang::render_diagnostics(&diags, &sources, true);
}

/// Bytes as a stored state version (the envelope every store keeps), with and
/// without a key, and as the plain state JSON that `state push` reads.
pub fn state_decoder(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for key in [None, Some("fuzz-passphrase")] {
        if let Ok(state) = terrace_state::decode_stored(text, key) {
            // What decodes must survive a JSON round trip unchanged.
            let json = serde_json::to_string(&state).expect("encode decoded state");
            let again: terrace_state::State = serde_json::from_str(&json).expect("re-decode state");
            assert_eq!(again, state, "state JSON round trip");
        }
    }
    let _ = serde_json::from_str::<terrace_state::State>(text);
}
