//! `drift`: drift detection over one or all environments, reports and history.

use super::*;

/// Pair each `--output FILE` with its `--format`, by position on the command
/// line (clap's argument indices). When every `--output` comes right after a
/// `--format` (`--format json --output d.json`), it takes that format;
/// otherwise (the `--output` flags grouped after the formats) the i-th
/// `--output` takes the i-th `--format`. A format without a file goes to
/// stdout; two of them would concatenate two documents there, so that is
/// refused, as are more files than formats.
pub(crate) fn pair_reports(
    formats: &[DriftFormat],
    format_at: &[usize],
    outputs: &[std::path::PathBuf],
    output_at: &[usize],
) -> Result<Vec<(DriftFormat, Option<std::path::PathBuf>)>> {
    let name = |f: &DriftFormat| {
        clap::ValueEnum::to_possible_value(f)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    };
    if formats.is_empty() {
        if let Some(path) = outputs.first() {
            bail!(
                "--output {} has no --format; write e.g. `--format json --output {}`",
                path.display(),
                path.display()
            );
        }
        return Ok(vec![(DriftFormat::Text, None)]);
    }
    if outputs.len() > formats.len() {
        bail!(
            "{} --output files for {} --format flags; give each --output its own --format",
            outputs.len(),
            formats.len()
        );
    }
    let mut pairs: Vec<(DriftFormat, Option<std::path::PathBuf>)> =
        formats.iter().map(|f| (*f, None)).collect();
    // The format each --output directly follows (nothing else in between).
    let follows: Vec<Option<usize>> = output_at
        .iter()
        .map(|at| {
            let last_format = format_at.iter().rposition(|f| f < at)?;
            let between = output_at
                .iter()
                .any(|o| o < at && *o > format_at[last_format]);
            (!between).then_some(last_format)
        })
        .collect();
    let adjacent = follows.len() == outputs.len() && follows.iter().all(Option::is_some);
    for (i, path) in outputs.iter().enumerate() {
        let f = if adjacent { follows[i].unwrap_or(i) } else { i };
        pairs[f].1 = Some(path.clone());
    }
    let to_stdout: Vec<String> = pairs
        .iter()
        .filter(|(_, o)| o.is_none())
        .map(|(f, _)| name(f))
        .collect();
    if to_stdout.len() > 1 {
        bail!(
            "{} reports ({}) would all go to stdout as one stream; follow all but one --format with --output FILE",
            to_stdout.len(),
            to_stdout.join(", ")
        );
    }
    Ok(pairs)
}

pub(crate) async fn drift(project: &Project, a: DriftArgs) -> Result<u8> {
    let pairs = pair_reports(&a.formats, &a.format_indices, &a.outputs, &a.output_indices)?;
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    if let Some(DriftSub::History { env, json, limit }) = &a.sub {
        let name = settings::require_env(env)?;
        return crate::reports::drift_history(&engine, &name, *json, *limit).await;
    }
    let shard = crate::shard::parse_opt(a.shard.as_deref(), "--shard")?;
    crate::shard::require_all(shard, a.all, "drift")?;
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
        crate::shard::select(n, shard)
    } else {
        vec![settings::require_env(&a.env)?]
    };
    let load = load_options(&a.vars)?;
    // The project's policies, evaluated on what each environment holds.
    let policies = load_policy_set(project)?;
    let sem = Arc::new(tokio::sync::Semaphore::new(a.concurrency.max(1)));
    let notify = Arc::new(settings::notify_targets(project));
    let mut tasks = Vec::new();
    for name in names {
        let notify = notify.clone();
        let engine = engine.clone();
        let project = project.clone();
        let load = LoadOptions {
            vars: load.vars.clone(),
            fixed_variables: None,
        };
        let sem = sem.clone();
        let policies = policies.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await;
            let dir = settings::env_dir(&project, Some(engine.store.as_ref()), &name).await?;
            let env = load_env(&engine, &name, &dir, &load)?;
            let opts = DriftOptions {
                ignore: load_ignore_rules(&dir),
                policies,
            };
            let report = detect_drift(&engine, &env, &opts).await?;
            record_run(&engine, &report, &notify).await?;
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
    let activity = Activity::start(
        "Reading resources from the cloud",
        crate::output::stderr_is_terminal() && stderr_color(),
    );
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for t in tasks {
        match t.await? {
            Ok(r) => reports.push(r),
            Err(e) => errors.push(e),
        }
    }
    activity.stop();
    for (f, output) in &pairs {
        let text = crate::reports::render_drift(
            &reports,
            *f,
            &engine.project_root,
            Style {
                on: stdout_color() && output.is_none(),
            },
        )?;
        match output {
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
    // A deny policy failed by a live object is a finding, as drift is.
    let drifted = reports.iter().any(|r| r.has_drift() || r.policy_denied());
    let pending = reports.iter().any(|r| !r.pending.is_empty());
    Ok(
        if drifted || (a.fail_on == Some(FailOn::Pending) && pending) {
            EXIT_CHANGES
        } else {
            0
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn each_output_goes_with_the_format_before_it() {
        use DriftFormat::*;
        let f = |s: &str| Some(PathBuf::from(s));
        // --format text --format json --output d.json
        let p = pair_reports(&[Text, Json], &[2, 4], &[PathBuf::from("d.json")], &[6]).unwrap();
        assert_eq!(p, vec![(Text, None), (Json, f("d.json"))]);
        // --format json --output d.json --format text
        let p = pair_reports(&[Json, Text], &[2, 6], &[PathBuf::from("d.json")], &[4]).unwrap();
        assert_eq!(p, vec![(Json, f("d.json")), (Text, None)]);
        // Grouped: --format junit --format sarif --format json --output a --output b
        let p = pair_reports(
            &[Junit, Sarif, Json],
            &[2, 4, 6],
            &[PathBuf::from("a"), PathBuf::from("b")],
            &[8, 10],
        )
        .unwrap();
        assert_eq!(p, vec![(Junit, f("a")), (Sarif, f("b")), (Json, None)]);
        // nothing: text on stdout
        assert_eq!(
            pair_reports(&[], &[], &[], &[]).unwrap(),
            vec![(Text, None)]
        );
    }

    #[test]
    fn ambiguous_pairings_are_refused() {
        use DriftFormat::*;
        let e = pair_reports(&[Text, Json], &[2, 4], &[], &[]).unwrap_err();
        assert!(e.to_string().contains("stdout"), "{e}");
        let e = pair_reports(
            &[Json],
            &[2],
            &[PathBuf::from("a"), PathBuf::from("b")],
            &[4, 6],
        )
        .unwrap_err();
        assert!(e.to_string().contains("its own --format"), "{e}");
        let e = pair_reports(&[], &[], &[PathBuf::from("a")], &[2]).unwrap_err();
        assert!(e.to_string().contains("no --format"), "{e}");
    }
}
