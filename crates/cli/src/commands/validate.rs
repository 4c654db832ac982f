//! `validate` and `graph`: configuration only, no credentials.

use super::*;

pub(crate) fn validate(project: &Project, a: ValidateArgs) -> Result<u8> {
    let engine = settings::offline_engine(project);
    // The project's policy files, checked as plan would load them.
    load_policy_set(project)?;
    let names = if a.all {
        settings::environment_names(project)?
    } else {
        vec![settings::require_env(&a.env)?]
    };
    let load = load_options(&a.vars)?;
    let mut all_diags = Vec::new();
    let mut failed = 0;
    for name in &names {
        let dir = project.environments_dir.join(name);
        if !dir.is_dir() {
            bail!("no environment folder {}", dir.display());
        }
        match load_env(&engine, name, &dir, &load) {
            Ok(env) => {
                let st = Style { on: stderr_color() };
                for w in &env.warnings {
                    eprintln!("{} {w}", st.yellow("Warning:"));
                }
                if !a.json {
                    println!(
                        "{name}: configuration is valid ({} resources/blocks, {} graph nodes).",
                        count_resources(&env),
                        env.nodes.len()
                    );
                }
            }
            Err(EngineError::Config { diags, sources }) => {
                failed += 1;
                if a.json {
                    all_diags.push(serde_json::json!({ "environment": name, "diagnostics": terrace_lang::diagnostics_json(&diags) }));
                } else {
                    eprintln!("{name}: configuration has errors:");
                    eprint!(
                        "{}",
                        terrace_lang::render_diagnostics(&diags, &sources, stderr_color())
                    );
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    if a.all && !a.json {
        // Shipped modules are checked as part of the environments that call them.
        println!(
            "{} of {} environments valid.",
            names.len() - failed,
            names.len()
        );
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "valid": failed == 0, "environments": names, "errors": all_diags })
            )?
        );
    }
    Ok(if failed > 0 { EXIT_ERROR } else { 0 })
}

pub(crate) fn count_resources(env: &LoadedEnv) -> usize {
    env.nodes
        .iter()
        .filter(|n| matches!(n.kind, terrace_lang::NodeKind::Resource(_)))
        .count()
}

pub(crate) fn graph(project: &Project, a: GraphArgs) -> Result<u8> {
    let engine = settings::offline_engine(project);
    let name = settings::require_env(&a.env)?;
    let dir = project.environments_dir.join(&name);
    let env = load_env(&engine, &name, &dir, &load_options(&a.vars)?)?;
    match a.format {
        GraphFormat::Dot => print!("{}", env.graph.to_dot()),
        GraphFormat::Json => {
            let nodes: Vec<serde_json::Value> = env
                .nodes
                .iter()
                .map(|n| {
                    serde_json::json!({
                        "id": n.id,
                        "kind": node_kind(&n.kind),
                        "module": n.module.to_string(),
                        "location": n.range.as_ref().map(|r| r.to_string()),
                    })
                })
                .collect();
            let edges: Vec<serde_json::Value> = env
                .graph
                .sorted_edges()
                .into_iter()
                .map(|(a, b)| serde_json::json!({ "from": a, "to": b }))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "nodes": nodes, "edges": edges })
                )?
            );
        }
    }
    Ok(0)
}

pub(crate) fn node_kind(k: &terrace_lang::NodeKind) -> &'static str {
    use terrace_lang::NodeKind::*;
    match k {
        Resource(a) if a.mode == terrace_core::ResourceMode::Data => "data",
        Resource(_) => "resource",
        Local(_) => "local",
        Variable(_) => "variable",
        Output(_) => "output",
        Provider(_) => "provider",
    }
}
