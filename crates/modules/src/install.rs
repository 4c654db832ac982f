//! Installing module packages into `.terrace/modules/` (`terrace init`) and
//! finding installed ones for every other command, checked against the
//! lock file.

use crate::fetch::{Fetched, Fetcher, TokenLookup};
use crate::hash::hash_dir;
use crate::lock::{LOCK_FILE, LockFile, LockedModule};
use crate::registry::RegistryModule;
use crate::source::{Package, SourceAddr};
use crate::{ModuleError, select_version};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use terrace_core::Diagnostics;
use terrace_lang::{Config, RemoteModules, RemoteSource, SourceMap, load_config_with};

/// The module cache below the project root.
pub const MODULES_DIR: &str = ".terrace/modules";

/// The folder of a locked package in the cache: readable name plus a hash
/// of the package key and what it resolved to.
fn cache_name(key: &str, m: &LockedModule) -> String {
    let slug: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let slug: String = slug.trim_matches('-').chars().take(40).collect();
    let resolved = m.version.as_deref().or(m.commit.as_deref()).unwrap_or("");
    let digest = Sha256::digest(format!("{key}\n{resolved}").as_bytes());
    format!("{slug}-{}", &hex::encode(digest)[..12])
}

/// Create a folder (and parents) readable by the owner only.
fn private_dir(dir: &Path) -> Result<(), ModuleError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .map_err(|e| ModuleError::io(format!("creating {}", dir.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| ModuleError::io(format!("restricting {}", dir.display()), e))?;
    }
    Ok(())
}

/// The module folder of a locked package: its cache folder, the folder the
/// download pointed at, and the source's `//subdir`.
fn module_dir(
    cache: &Path,
    key: &str,
    m: &LockedModule,
    subdir: Option<&str>,
) -> Result<PathBuf, String> {
    let pkg_dir = cache.join(cache_name(key, m));
    let mut dir = pkg_dir.clone();
    for sub in [m.subdir.as_deref(), subdir].into_iter().flatten() {
        dir = dir.join(sub);
    }
    if dir.is_dir() {
        return Ok(dir);
    }
    let mut listing: Vec<String> = std::fs::read_dir(&pkg_dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    listing.sort();
    Err(format!(
        "The folder \"{}\" does not exist in the module package {key} (its top-level folders: {}). Fix the //subdir part of the source.",
        [m.subdir.as_deref(), subdir]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/"),
        if listing.is_empty() {
            "none".to_string()
        } else {
            listing.join(", ")
        }
    ))
}

/// Whether a locked entry serves a call's version constraint.
fn constraint_met(m: &LockedModule, version: Option<&str>) -> Result<bool, String> {
    match (version, &m.version) {
        (None, _) => Ok(true),
        (Some(c), Some(v)) => terrace_lang::version_satisfies(c, v)
            .map_err(|e| format!("The version constraint \"{c}\" cannot be read: {e}.")),
        (Some(_), None) => Ok(false),
    }
}

fn parse_call(call: &RemoteSource<'_>) -> Result<SourceAddr, String> {
    let addr = SourceAddr::parse(call.source).map_err(|e| e.to_string())?;
    if call.version.is_some() && !addr.package.is_registry() {
        return Err(format!(
            "\"{}\" is not a registry module, and version applies only to registry modules. Remove the version argument (pin a git source with ?ref=).",
            call.source
        ));
    }
    Ok(addr)
}

// ---------------------------------------------------------------------------
// Installed modules (every command but init)

/// The installed modules of a project, as the lock file pins them. Every
/// command but `init` loads configuration through this: a module that is
/// missing, not locked, or whose files do not hash to the locked hash is an
/// error saying to run `terrace init`.
pub struct InstalledModules {
    cache: PathBuf,
    lock: LockFile,
    /// Hash checks already made, by package key.
    checked: Mutex<HashMap<String, Result<(), String>>>,
}

impl InstalledModules {
    /// Read the project's lock file (none: nothing is installed).
    pub fn open(root: &Path) -> Result<InstalledModules, ModuleError> {
        Ok(InstalledModules {
            cache: root.join(MODULES_DIR),
            lock: LockFile::read(root)?,
            checked: Mutex::new(HashMap::new()),
        })
    }

    fn verify(&self, key: &str, m: &LockedModule) -> Result<(), String> {
        let mut checked = self.checked.lock().expect("hash cache lock");
        checked
            .entry(key.to_string())
            .or_insert_with(|| {
                let dir = self.cache.join(cache_name(key, m));
                if !dir.is_dir() {
                    return Err(format!(
                        "The module package {key} is locked in {LOCK_FILE} but not installed in {}. Run `terrace init` to fetch it.",
                        dir.display()
                    ));
                }
                let found = hash_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                if found != m.hash {
                    return Err(format!(
                        "The files of module package {key} in {} do not match the hash in {LOCK_FILE} (locked {}, found {found}): they changed after `terrace init`. Run `terrace init` to install them again.",
                        dir.display(),
                        m.hash
                    ));
                }
                Ok(())
            })
            .clone()
    }
}

impl RemoteModules for InstalledModules {
    fn module_dir(&self, call: &RemoteSource<'_>) -> Result<PathBuf, String> {
        let addr = parse_call(call)?;
        let key = addr.package.key();
        let Some(m) = self.lock.modules.get(&key) else {
            return Err(format!(
                "The module source \"{}\" is not installed ({key} is not in {LOCK_FILE}). Run `terrace init` to fetch it.",
                call.source
            ));
        };
        if !constraint_met(m, call.version)? {
            return Err(format!(
                "The locked version {} of {key} does not match the version constraint \"{}\". Run `terrace init -upgrade` to choose a matching version.",
                m.version.as_deref().unwrap_or("(none)"),
                call.version.unwrap_or_default()
            ));
        }
        self.verify(&key, m)?;
        module_dir(&self.cache, &key, m, addr.subdir.as_deref())
    }
}

// ---------------------------------------------------------------------------
// Installing (init)

/// Options of `terrace init`.
pub struct InitOptions {
    /// Choose versions again instead of keeping the locked ones.
    pub upgrade: bool,
    /// Registry tokens (`TF_TOKEN_<host>`).
    pub tokens: TokenLookup,
}

/// What one package install did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The cache already held the locked files.
    Kept,
    /// Downloaded (registry version or git commit, when there is one).
    Fetched(Option<String>),
}

/// `terrace init`: resolves and downloads every remote module of the
/// environments it is given (nested modules too), then writes the lock file.
pub struct Installer {
    root: PathBuf,
    cache: PathBuf,
    old: LockFile,
    new: LockFile,
    upgrade: bool,
    fetcher: Fetcher,
    /// Sources that could not be installed, by (source, version): the error.
    failed: BTreeMap<(String, Option<String>), String>,
    /// What was installed, in order: (package key, outcome).
    pub installed: Vec<(String, InstallOutcome)>,
}

/// Records the remote sources a load asked for that are not installed yet.
struct Pending<'a> {
    inst: &'a Installer,
    requests: Mutex<Vec<(String, Option<String>)>>,
}

const PENDING: &str = "(being installed)";

impl RemoteModules for Pending<'_> {
    fn module_dir(&self, call: &RemoteSource<'_>) -> Result<PathBuf, String> {
        let req = (call.source.to_string(), call.version.map(String::from));
        if let Some(e) = self.inst.failed.get(&req) {
            return Err(e.clone());
        }
        let addr = parse_call(call)?;
        let key = addr.package.key();
        match self.inst.new.modules.get(&key) {
            Some(m) => {
                if !constraint_met(m, call.version)? {
                    return Err(format!(
                        "{key} is also called with another version constraint, which chose {}; it does not match \"{}\". Give every call of this module one version constraint.",
                        m.version.as_deref().unwrap_or("(none)"),
                        call.version.unwrap_or_default()
                    ));
                }
                module_dir(&self.inst.cache, &key, m, addr.subdir.as_deref())
            }
            None => {
                let mut r = self.requests.lock().expect("requests lock");
                if !r.contains(&req) {
                    r.push(req);
                }
                Err(PENDING.to_string())
            }
        }
    }
}

impl Installer {
    pub fn new(root: &Path, opts: InitOptions) -> Result<Installer, ModuleError> {
        Ok(Installer {
            root: root.to_path_buf(),
            cache: root.join(MODULES_DIR),
            old: LockFile::read(root)?,
            new: LockFile::default(),
            upgrade: opts.upgrade,
            fetcher: Fetcher::new(opts.tokens)?,
            failed: BTreeMap::new(),
            installed: Vec::new(),
        })
    }

    /// Install every remote module an environment's configuration calls,
    /// then load it once more: the diagnostics returned include one per
    /// source that could not be installed, at its file:line:col.
    pub async fn install_env(
        &mut self,
        env_dir: &Path,
    ) -> (Option<Config>, Diagnostics, SourceMap) {
        loop {
            let pending = Pending {
                inst: self,
                requests: Mutex::new(Vec::new()),
            };
            let mut sources = SourceMap::default();
            let (config, diags) = load_config_with(env_dir, &mut sources, &pending);
            let requests = pending.requests.into_inner().expect("requests lock");
            if requests.is_empty() {
                return (config, diags, sources);
            }
            for (source, version) in requests {
                if let Err(e) = self.install(&source, version.as_deref()).await {
                    self.failed.insert((source, version), e.to_string());
                }
            }
        }
    }

    /// Install one package (kept from the cache when its files match the lock).
    async fn install(&mut self, source: &str, version: Option<&str>) -> Result<(), ModuleError> {
        let addr = SourceAddr::parse(source)?;
        let key = addr.package.key();
        let old = if self.upgrade {
            None
        } else {
            self.old.modules.get(&key).cloned()
        };
        let pinned = old
            .filter(|m| constraint_met(m, version).unwrap_or(false))
            .map(|mut m| {
                if version.is_some() {
                    m.constraints = version.map(String::from);
                }
                m
            });
        if let Some(m) = &pinned {
            let dir = self.cache.join(cache_name(&key, m));
            if dir.is_dir() && hash_dir(&dir).ok().as_deref() == Some(m.hash.as_str()) {
                self.new.modules.insert(key.clone(), m.clone());
                self.installed.push((key, InstallOutcome::Kept));
                return Ok(());
            }
        }
        private_dir(&self.cache)?;
        let tmp = self.cache.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            self.installed.len()
        ));
        let _ = std::fs::remove_dir_all(&tmp);
        let fetched = self
            .fetch(&addr.package, version, pinned.as_ref(), &tmp)
            .await;
        let result = match fetched {
            Ok((fetched, chosen)) => self.place(&key, &tmp, fetched, chosen, version, pinned),
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_dir_all(&tmp);
        result
    }

    /// Download a package into `tmp`; returns what was found and the
    /// registry version chosen.
    async fn fetch(
        &self,
        package: &Package,
        version: Option<&str>,
        pinned: Option<&LockedModule>,
        tmp: &Path,
    ) -> Result<(Fetched, Option<String>), ModuleError> {
        let Package::Registry {
            host,
            namespace,
            name,
            provider,
        } = package
        else {
            return Ok((self.fetcher.fetch(package, tmp, 0).await?, None));
        };
        let m = RegistryModule {
            host,
            namespace,
            name,
            provider,
        };
        let available = self.fetcher.registry_versions(m).await?;
        let chosen = match pinned.and_then(|p| p.version.clone()) {
            Some(v) if available.contains(&v) => v,
            _ => select_version(&package.key(), &available, version)?,
        };
        let location = self.fetcher.registry_download(m, &chosen).await?;
        let fetched = self.fetcher.follow(&location, tmp, 0).await?;
        Ok((fetched, Some(chosen)))
    }

    /// Check a download against the lock and move it into the cache.
    fn place(
        &mut self,
        key: &str,
        tmp: &Path,
        fetched: Fetched,
        chosen: Option<String>,
        version: Option<&str>,
        pinned: Option<LockedModule>,
    ) -> Result<(), ModuleError> {
        if !tmp.is_dir() {
            return Err(ModuleError::Fetch(format!(
                "{key}: the download held no files"
            )));
        }
        let hash =
            hash_dir(tmp).map_err(|e| ModuleError::io(format!("hashing {}", tmp.display()), e))?;
        if let Some(p) = &pinned {
            if p.commit.is_some() && p.commit != fetched.commit {
                return Err(ModuleError::Lock(format!(
                    "{key} now resolves to commit {}, but {LOCK_FILE} pins commit {}. If the new commit is expected, run `terrace init -upgrade`.",
                    fetched.commit.as_deref().unwrap_or("?"),
                    p.commit.as_deref().unwrap_or("?")
                )));
            }
            if p.version == chosen && p.hash != hash {
                return Err(ModuleError::Lock(format!(
                    "The download of {key}{} does not match the hash in {LOCK_FILE} (locked {}, downloaded {hash}): its files changed since the lock was written. Nothing was installed. If the change is expected, run `terrace init -upgrade`.",
                    chosen
                        .as_deref()
                        .map(|v| format!(" {v}"))
                        .unwrap_or_default(),
                    p.hash
                )));
            }
        }
        let entry = LockedModule {
            version: chosen.clone(),
            constraints: version.map(String::from),
            commit: fetched.commit.clone(),
            subdir: fetched.subdir,
            hash,
        };
        let dir = self.cache.join(cache_name(key, &entry));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| ModuleError::io(format!("replacing {}", dir.display()), e))?;
        }
        std::fs::rename(tmp, &dir)
            .map_err(|e| ModuleError::io(format!("moving the download to {}", dir.display()), e))?;
        private_dir(&dir)?;
        self.installed.push((
            key.to_string(),
            InstallOutcome::Fetched(chosen.or(fetched.commit)),
        ));
        self.new.modules.insert(key.to_string(), entry);
        Ok(())
    }

    /// Write the lock file: the packages this run installed, plus (when
    /// `keep_others`, i.e. not every environment was initialized) the
    /// entries of the old lock no environment of this run used.
    pub fn write_lock(&self, keep_others: bool) -> Result<LockFile, ModuleError> {
        let mut lock = self.new.clone();
        if keep_others {
            for (k, m) in &self.old.modules {
                lock.modules.entry(k.clone()).or_insert_with(|| m.clone());
            }
        }
        if lock != self.old {
            lock.write(&self.root)?;
        }
        Ok(lock)
    }
}
