//! `init`: fetch every remote module of the environments into
//! `.terrace/modules/` and write the lock file.

use super::*;
use terrace_modules::{InitOptions, InstallOutcome, Installer, LOCK_FILE};

pub(crate) async fn init(project: &Project, a: InitArgs) -> Result<u8> {
    let names = if a.all {
        settings::environment_names(project)?
    } else {
        vec![settings::require_env(&a.env)?]
    };
    let tokens: terrace_modules::TokenLookup = Arc::new(|var: &str| {
        debug_assert!(var.starts_with(vars::TF_TOKEN_PREFIX));
        settings::env_var(var)
    });
    let mut installer = Installer::new(
        &project.root,
        InitOptions {
            upgrade: a.upgrade,
            tokens,
        },
    )?;
    let mut failed = false;
    for name in &names {
        let dir = project.environments_dir.join(name);
        if !dir.is_dir() {
            bail!("no environment folder {}", dir.display());
        }
        let (_, diags, sources) = installer.install_env(&dir).await;
        if diags.has_errors() {
            failed = true;
            eprintln!("{name}: modules could not be installed:");
            eprint!(
                "{}",
                terrace_lang::render_diagnostics(&diags, &sources, stderr_color())
            );
        }
    }
    if failed {
        return Ok(EXIT_ERROR);
    }
    for (key, outcome) in &installer.installed {
        if let InstallOutcome::Fetched(v) = outcome {
            match v {
                Some(v) => eprintln!("Installed {key} ({v})"),
                None => eprintln!("Installed {key}"),
            }
        }
    }
    let before = terrace_modules::LockFile::read(&project.root)?;
    let lock = installer.write_lock(!a.all)?;
    if lock != before {
        eprintln!(
            "Wrote {LOCK_FILE} ({} module packages).",
            lock.modules.len()
        );
    }
    Ok(0)
}
