//! `show`: a saved plan file, or an environment's current state, for people
//! (as `terraform show` prints them, secrets hidden) or as Terraform's JSON.

use super::*;

pub(crate) async fn show(project: &Project, a: ShowArgs) -> Result<u8> {
    let Some(plan_file) = &a.plan_file else {
        return show_state(project, a).await;
    };
    if a.env.env.is_some() {
        bail!(
            "show takes a plan file or -e ENV, not both: a plan file names its environment; run `terrace show {}` or `terrace show -e ENV`",
            plan_file.display()
        );
    }
    let plan = read_plan_file(plan_file)?;
    if a.json {
        let engine = settings::engine(project, std::time::Duration::ZERO).await?;
        let prior = engine.store.read(&plan.environment).await.ok().flatten();
        let doc = with_policy_results(
            planjson::plan_json(&plan, prior.as_ref()),
            saved_policy_results(plan_file).as_ref(),
        );
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!(
            "{}",
            crate::render::render_plan(&plan, Style { on: stdout_color() })
        );
    }
    Ok(0)
}

async fn show_state(project: &Project, a: ShowArgs) -> Result<u8> {
    if a.env.env.is_none() {
        bail!(
            "show needs an environment (-e ENV) to show its state, or a plan file: `terrace show -e dev` or `terrace show tfplan`"
        );
    }
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    let target = target(project, &engine, &a.env).await?;
    let state = engine.store.read(&target.name).await?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&planjson::state_json(state.as_ref()))?
        );
    } else {
        print!("{}", render_state(state.as_ref()));
    }
    Ok(0)
}

/// The state as `terraform show` prints it: one `resource` block per
/// instance, attributes aligned, null attributes left out, sensitive
/// values as `(sensitive value)`; then the outputs.
pub(crate) fn render_state(state: Option<&terrace_state::State>) -> String {
    let Some(s) = state.filter(|s| !s.resources.is_empty() || !s.outputs.is_empty()) else {
        return "The state file is empty. No resources are represented.\n".into();
    };
    let mut out = String::new();
    for r in &s.resources {
        let Ok(addr) = r.address.parse::<ResourceAddr>() else {
            continue;
        };
        let v = terrace_engine::values::state_value(r);
        let keyword = match addr.mode {
            terrace_core::ResourceMode::Managed => "resource",
            terrace_core::ResourceMode::Data => "data",
        };
        out.push_str(&format!("# {}:\n", r.address));
        out.push_str(&format!(
            "{keyword} \"{}\" \"{}\" {{\n",
            addr.type_name, addr.name
        ));
        if let Some(m) = v.as_map() {
            let shown: Vec<(&String, &Value)> =
                m.iter().filter(|(_, x)| !x.unmarked().is_null()).collect();
            let w = shown.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            for (k, x) in shown {
                out.push_str(&format!("    {k:<w$} = {}\n", super::console_value(x, 4)));
            }
        }
        out.push_str("}\n\n");
    }
    if !s.outputs.is_empty() {
        out.push_str("\nOutputs:\n\n");
        for (k, o) in &s.outputs {
            let v = Value::from_json(&o.value).mark_if(o.sensitive);
            out.push_str(&format!("{k} = {}\n", super::console_value(&v, 0)));
        }
    }
    out
}
