//! `terrace-modules` owns remote module sources: reading source addresses
//! (git, Terraform module registries, HTTP(S) archives, S3), fetching them
//! into `.terrace/modules/` (`terrace init`), and the lock file
//! (`.terrace.lock.hcl`) that pins what was resolved — registry version, git
//! commit — with an `h1:` hash of the installed files.
//!
//! The language crate only asks for a local directory through
//! `terrace_lang::RemoteModules`: [`InstalledModules`] answers for every
//! command but `init` (refusing modules that are missing or do not match
//! the lock), [`Installer`] for `init`. Git runs as the system `git`
//! subprocess; S3 uses aws-sdk-s3, which stays inside this crate. It never
//! knows terminals or state stores; registry tokens come in through a
//! lookup the CLI passes (`TF_TOKEN_<host>`).

mod fetch;
mod hash;
mod install;
mod lock;
mod registry;
mod source;

pub use fetch::TokenLookup;
pub use hash::hash_dir;
pub use install::{InitOptions, InstallOutcome, InstalledModules, Installer, MODULES_DIR};
pub use lock::{LOCK_FILE, LockFile, LockedModule};
pub use registry::token_var;
pub use source::{ArchiveKind, DEFAULT_REGISTRY, Package, SourceAddr};

/// Errors of module sources, fetching and the lock file.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// A source address that cannot be read.
    #[error("{0}")]
    Source(String),
    /// A source that could not be fetched (unreachable, bad ref, not an archive, …).
    #[error("{0}")]
    Fetch(String),
    /// No release matches a version constraint.
    #[error("{0}")]
    Version(String),
    /// The lock file is damaged, or a download does not match it.
    #[error("{0}")]
    Lock(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl ModuleError {
    pub(crate) fn io(context: String, source: std::io::Error) -> ModuleError {
        ModuleError::Io { context, source }
    }
}

/// Release order of a version (`v` prefix allowed); pre-releases sort
/// below their release.
fn version_key(v: &str) -> Option<(u64, u64, u64, bool, String)> {
    let v = v.trim_start_matches('v');
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (v.split('+').next().unwrap_or(v), None),
    };
    let mut n = core.split('.').map(|p| p.parse::<u64>().ok());
    let key = (
        n.next()??,
        n.next().flatten().unwrap_or(0),
        n.next().flatten().unwrap_or(0),
    );
    Some((
        key.0,
        key.1,
        key.2,
        pre.is_none(),
        pre.unwrap_or("").to_string(),
    ))
}

/// The newest available version meeting a Terraform constraint
/// (`~> 5.0`, `>= 1.2, != 1.3.0`); pre-releases only when named exactly.
/// None meeting it is an error listing the available ones.
pub fn select_version(
    module: &str,
    available: &[String],
    constraint: Option<&str>,
) -> Result<String, ModuleError> {
    let mut ok = Vec::new();
    for v in available {
        let Some(key) = version_key(v) else { continue };
        let is_pre = !key.3;
        let matches = match constraint {
            None => !is_pre,
            Some(c) if is_pre => c.split(',').any(|part| part.trim().trim_start_matches('=').trim() == v),
            Some(c) => terrace_lang::version_satisfies(c, v).map_err(|e| {
                ModuleError::Version(format!("The version constraint \"{c}\" of {module} cannot be read: {e}. Use Terraform's syntax, e.g. \"~> 5.0\" or \">= 1.2, < 2.0\"."))
            })?,
        };
        if matches {
            ok.push((key, v));
        }
    }
    ok.sort();
    match ok.last() {
        Some((_, v)) => Ok((*v).clone()),
        None => {
            let mut all: Vec<&String> = available.iter().collect();
            all.sort_by_key(|v| version_key(v));
            Err(ModuleError::Version(format!(
                "No available release of {module} matches the version constraint \"{}\". Available versions: {}. Change the version argument to match one of them.",
                constraint.unwrap_or(""),
                if all.is_empty() {
                    "none".to_string()
                } else {
                    all.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(available: &[&str], c: Option<&str>) -> Result<String, ModuleError> {
        let a: Vec<String> = available.iter().map(|s| s.to_string()).collect();
        select_version("acme/vpc/aws", &a, c)
    }

    #[test]
    fn the_newest_matching_release_is_chosen() {
        let a = ["4.9.0", "5.0.0", "5.1.2", "5.10.0", "6.0.0", "6.1.0-beta1"];
        assert_eq!(pick(&a, Some("~> 5.0")).unwrap(), "5.10.0");
        assert_eq!(pick(&a, Some("~> 5.1.0")).unwrap(), "5.1.2");
        assert_eq!(pick(&a, Some(">= 5.0, != 6.0.0")).unwrap(), "5.10.0");
        assert_eq!(pick(&a, None).unwrap(), "6.0.0");
        assert_eq!(pick(&a, Some("6.1.0-beta1")).unwrap(), "6.1.0-beta1");
        assert_eq!(pick(&a, Some("< 5.0")).unwrap(), "4.9.0");
    }

    #[test]
    fn no_match_lists_the_available_versions() {
        let e = pick(&["5.1.0", "5.0.0"], Some("~> 9.0"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"~> 9.0\"") && e.contains("5.0.0, 5.1.0"),
            "{e}"
        );
        let e = pick(&["5.1.0"], Some("~> banana")).unwrap_err().to_string();
        assert!(e.contains("cannot be read"), "{e}");
    }
}
