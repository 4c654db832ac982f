//! Policies in the CLI: loading the project's policy set, showing results
//! after a plan (diagnostics at each policy's file and line on stderr, a
//! summary line on stdout), the `policy_results` section of plan JSON and
//! of saved plan files, the gate handed to apply, and `terrace policy
//! check` (the plan's policy results as text, JSON, JUnit or SARIF; the
//! JUnit and SARIF writers are in `reports`, shared with `drift`).

use super::*;
use terrace_engine::policy::{PolicyGate, PolicyReport};
use terrace_lang::PolicySet;

/// `terrace policy …`.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Plan (or read a saved plan) and report the policy results; exit 1 when a deny policy fails.
    Check(PolicyCheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct PolicyCheckArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// A plan saved with `plan -out FILE` to check instead of planning.
    pub plan_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub vars: VarArgs,
    /// text, json (the `policy_results` section of plan JSON), junit or sarif.
    #[arg(long = "format", value_enum, default_value = "text")]
    pub format: PolicyFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long = "output", value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum PolicyFormat {
    Text,
    Json,
    Junit,
    Sarif,
}

pub(crate) async fn policy_command(project: &Project, c: PolicyCommand) -> Result<u8> {
    match c {
        PolicyCommand::Check(a) => policy_check(project, a).await,
    }
}

/// The key of the policy section in plan JSON and in plan files.
pub(crate) const POLICY_RESULTS_KEY: &str = "policy_results";

/// The project's policies; `None` when it has none.
pub(crate) fn load_policy_set(project: &Project) -> Result<Option<Arc<PolicySet>>> {
    match project.load_policies() {
        Ok(set) if set.is_empty() => Ok(None),
        Ok(set) => Ok(Some(Arc::new(set))),
        Err((d, s)) => Err(DiagnosticsError::new(d, s).into()),
    }
}

/// Evaluate the policies on a plan.
pub(crate) fn evaluate_policies(
    set: Option<&Arc<PolicySet>>,
    plan: &Plan,
    env: &LoadedEnv,
) -> Result<Option<PolicyReport>> {
    match set {
        None => Ok(None),
        Some(set) => Ok(Some(terrace_engine::policy::evaluate(
            set,
            plan,
            &env.config,
        )?)),
    }
}

/// What is not a pass, as diagnostics on stderr (errors for denials,
/// warnings for the rest), each at its policy block.
pub(crate) fn print_policy_diagnostics(report: &PolicyReport, set: &PolicySet) {
    let d = report.diagnostics();
    if !d.is_empty() {
        eprint!(
            "{}",
            terrace_lang::render_diagnostics(&d, &set.sources, stderr_color())
        );
    }
}

/// The summary line under a human plan.
pub(crate) fn policy_summary_text(report: &PolicyReport, st: Style) -> String {
    let line = report.summary_line();
    if report.denied() {
        format!(
            "\n{}\n{}\n",
            st.red(&line),
            st.red("The plan is denied by policy: it cannot be applied.")
        )
    } else if report.summary().warned > 0 {
        format!("\n{}\n", st.yellow(&line))
    } else {
        format!("\n{line}\n")
    }
}

/// Add `policy_results` to a plan JSON document or a plan file's JSON.
pub(crate) fn with_policy_results(
    mut doc: serde_json::Value,
    report: Option<&PolicyReport>,
) -> serde_json::Value {
    if let (Some(r), Some(m)) = (report, doc.as_object_mut()) {
        m.insert(POLICY_RESULTS_KEY.into(), r.to_json());
    }
    doc
}

/// The policy results a saved plan file carries, if any.
pub(crate) fn saved_policy_results(path: &std::path::Path) -> Option<PolicyReport> {
    #[derive(serde::Deserialize)]
    struct Only {
        #[serde(default)]
        policy_results: Option<PolicyReport>,
    }
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice::<Only>(&bytes).ok()?.policy_results
}

/// The gate for an apply run: the policies (if any), and the hash of the
/// ones the saved plan was checked with.
pub(crate) fn policy_gate(
    project: &Project,
    plan_file: Option<&std::path::Path>,
) -> Result<Option<Arc<PolicyGate>>> {
    let Some(set) = load_policy_set(project)? else {
        return Ok(None);
    };
    let saved = plan_file
        .and_then(saved_policy_results)
        .map(|r| r.policies_hash);
    Ok(Some(Arc::new(PolicyGate::new(set, saved))))
}

/// `terrace policy check -e ENV`: plan, evaluate the policies and report;
/// exit 1 when a deny policy fails.
pub(crate) async fn policy_check(project: &Project, a: PolicyCheckArgs) -> Result<u8> {
    let Some(set) = load_policy_set(project)? else {
        eprintln!(
            "No policies: add policy blocks to .tf files in {} (or name folders with `policies = [...]` in terrace.hcl).",
            project.root.join("policies").display()
        );
        return Ok(0);
    };
    let report = match &a.plan_file {
        Some(path) => {
            let plan = read_plan_file(path)?;
            let engine = settings::engine(project, std::time::Duration::ZERO).await?;
            let t = target(
                project,
                &engine,
                &EnvArg {
                    env: Some(plan.environment.clone()),
                },
            )
            .await?;
            let env = load_env(
                &engine,
                &t.name,
                &t.dir,
                &LoadOptions {
                    vars: Default::default(),
                    fixed_variables: Some(plan.variables.clone()),
                },
            )?;
            terrace_engine::policy::evaluate(&set, &plan, &env.config)?
        }
        None => {
            let engine = settings::engine(project, std::time::Duration::ZERO).await?;
            let t = target(project, &engine, &a.env).await?;
            let (env, plan, _) = ops::plan(
                &engine,
                &t,
                &load_options(&a.vars)?,
                &PlanOptions::default(),
            )
            .await?;
            terrace_engine::policy::evaluate(&set, &plan, &env.config)?
        }
    };
    let text = match a.format {
        PolicyFormat::Text => {
            print_policy_diagnostics(&report, &set);
            policy_summary_text(&report, Style { on: stdout_color() })
                .trim_start()
                .to_string()
        }
        PolicyFormat::Json => format!("{}\n", serde_json::to_string_pretty(&report.to_json())?),
        PolicyFormat::Junit => crate::reports::policy_junit(&report),
        PolicyFormat::Sarif => format!(
            "{}\n",
            serde_json::to_string_pretty(&crate::reports::policy_sarif(&report, &project.root))?
        ),
    };
    match &a.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(if report.denied() { EXIT_ERROR } else { 0 })
}
