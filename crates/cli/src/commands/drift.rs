//! `drift`: drift detection over one or all environments, reports and history.

use super::*;

pub(crate) async fn drift(project: &Project, a: DriftArgs) -> Result<u8> {
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    if let Some(DriftSub::History { env, json, limit }) = &a.sub {
        let name = settings::require_env(env)?;
        return crate::reports::drift_history(&engine, &name, *json, *limit).await;
    }
    let names: Vec<String> = if a.all {
        let mut n = settings::environment_names(project)?;
        for rec in engine.store.registry_list().await? {
            if !n.contains(&rec.name) {
                n.push(rec.name);
            }
        }
        // Only environments that have state: the others have nothing to drift.
        let with_state = engine.store.list_environments().await?;
        n.retain(|x| with_state.contains(x));
        n.sort();
        n
    } else {
        vec![settings::require_env(&a.env)?]
    };
    let load = load_options(&a.vars)?;
    let sem = Arc::new(tokio::sync::Semaphore::new(a.concurrency.max(1)));
    let mut tasks = Vec::new();
    for name in names {
        let engine = engine.clone();
        let project = project.clone();
        let load = LoadOptions {
            vars: load.vars.clone(),
            fixed_variables: None,
        };
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await;
            let dir = settings::env_dir(&project, Some(engine.store.as_ref()), &name).await?;
            let env = load_env(&engine, &name, &dir, &load)?;
            let opts = DriftOptions {
                ignore: load_ignore_rules(&dir),
            };
            let report = detect_drift(&engine, &env, &opts).await?;
            record_run(&engine, &report).await?;
            // Compare-and-swap: a record deleted meanwhile is not re-created.
            let last = if report.has_drift() {
                "drift"
            } else {
                "in sync"
            };
            terrace_engine::envs::update(engine.store.as_ref(), &name, |rec| {
                rec.last_drift = Some(last.into());
                Ok(true)
            })
            .await?;
            Ok::<_, anyhow::Error>(report)
        }));
    }
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for t in tasks {
        match t.await? {
            Ok(r) => reports.push(r),
            Err(e) => errors.push(e),
        }
    }
    let formats = if a.formats.is_empty() {
        vec![DriftFormat::Text]
    } else {
        a.formats.clone()
    };
    for (i, f) in formats.iter().enumerate() {
        let text = crate::reports::render_drift(
            &reports,
            *f,
            &engine.project_root,
            Style {
                on: stdout_color() && a.outputs.get(i).is_none(),
            },
        )?;
        match a.outputs.get(i) {
            Some(path) => {
                std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
            }
            None => print!("{text}"),
        }
    }
    if a.stats {
        let mut calls = BTreeMap::new();
        for r in &reports {
            for (k, v) in &r.api_calls {
                *calls.entry(k.clone()).or_default() += v;
            }
        }
        print_stats(&calls);
    }
    if !errors.is_empty() {
        for e in &errors {
            print_error(e);
        }
        return Ok(EXIT_ERROR);
    }
    let drifted = reports.iter().any(|r| r.has_drift());
    let pending = reports.iter().any(|r| !r.pending.is_empty());
    Ok(
        if drifted || (a.fail_on == Some(FailOn::Pending) && pending) {
            EXIT_CHANGES
        } else {
            0
        },
    )
}
