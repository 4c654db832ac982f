//! The lock file (`.terrace.lock.hcl` at the project root): per module
//! package, what `terrace init` resolved (registry version, git commit) and
//! the `h1:` hash of the files it installed. HCL, like Terraform's
//! `.terraform.lock.hcl`.

use crate::ModuleError;
use hcl_edit::expr::Expression;
use hcl_edit::structure::Structure;
use std::collections::BTreeMap;
use std::path::Path;

/// The lock file's name at the project root.
pub const LOCK_FILE: &str = ".terrace.lock.hcl";

/// One locked module package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockedModule {
    /// The registry version chosen.
    pub version: Option<String>,
    /// The version constraints it was chosen for.
    pub constraints: Option<String>,
    /// The git commit a ref resolved to.
    pub commit: Option<String>,
    /// A folder inside the download the registry pointed at (`X-Terraform-Get` with `//sub`).
    pub subdir: Option<String>,
    /// `h1:` hash of the installed files.
    pub hash: String,
}

/// Every locked package, by package key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockFile {
    pub modules: BTreeMap<String, LockedModule>,
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

impl LockFile {
    /// Read the lock file of a project; a missing file is an empty lock.
    pub fn read(root: &Path) -> Result<LockFile, ModuleError> {
        let path = root.join(LOCK_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockFile::default()),
            Err(e) => return Err(ModuleError::io(format!("reading {}", path.display()), e)),
        };
        Self::parse(&text).map_err(|why| {
            ModuleError::Lock(format!(
                "{} is not a valid lock file: {why}. Delete it and run `terrace init` to write it again.",
                path.display()
            ))
        })
    }

    fn parse(text: &str) -> Result<LockFile, String> {
        let body = hcl_edit::parser::parse_body(text).map_err(|e| e.to_string())?;
        let mut lock = LockFile::default();
        for s in body.into_iter() {
            let Structure::Block(b) = s else {
                return Err("only module blocks are expected".into());
            };
            if b.ident.as_str() != "module" || b.labels.len() != 1 {
                return Err(format!(
                    "unexpected block \"{}\" (expected module \"SOURCE\" {{ … }})",
                    b.ident.as_str()
                ));
            }
            let key = b.labels[0].as_str().to_string();
            let mut m = LockedModule::default();
            for a in b.body.attributes() {
                let Expression::String(v) = &a.value else {
                    return Err(format!(
                        "{} of module \"{key}\" must be a string",
                        a.key.as_str()
                    ));
                };
                let text = v.as_str().to_string();
                let v = Some(text.clone());
                match a.key.as_str() {
                    "version" => m.version = v,
                    "constraints" => m.constraints = v,
                    "commit" => m.commit = v,
                    "subdir" => m.subdir = v,
                    "hash" => m.hash = text,
                    other => return Err(format!("unknown attribute {other} in module \"{key}\"")),
                }
            }
            if !m.hash.starts_with("h1:") {
                return Err(format!("module \"{key}\" has no h1: hash"));
            }
            lock.modules.insert(key, m);
        }
        Ok(lock)
    }

    /// The file's text: stable order, one block per package.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# This file is maintained automatically by \"terrace init\".\n# Manual edits may be lost in future updates.\n",
        );
        for (key, m) in &self.modules {
            out.push_str(&format!("\nmodule {} {{\n", quote(key)));
            let fields = [
                ("version", &m.version),
                ("constraints", &m.constraints),
                ("commit", &m.commit),
                ("subdir", &m.subdir),
            ];
            for (name, v) in fields {
                if let Some(v) = v {
                    out.push_str(&format!("  {name:<11} = {}\n", quote(v)));
                }
            }
            out.push_str(&format!("  {:<11} = {}\n}}\n", "hash", quote(&m.hash)));
        }
        out
    }

    /// Write the lock file atomically (a temporary file renamed into place).
    pub fn write(&self, root: &Path) -> Result<(), ModuleError> {
        let path = root.join(LOCK_FILE);
        let tmp = root.join(format!("{LOCK_FILE}.tmp"));
        std::fs::write(&tmp, self.render())
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| ModuleError::io(format!("writing {}", path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_file_reads_back_what_was_written() {
        let mut lock = LockFile::default();
        lock.modules.insert(
            "registry.terraform.io/acme/vpc/aws".into(),
            LockedModule {
                version: Some("5.1.0".into()),
                constraints: Some("~> 5.0".into()),
                hash: "h1:abc=".into(),
                ..Default::default()
            },
        );
        lock.modules.insert(
            "git::file:///tmp/r?ref=v1".into(),
            LockedModule {
                commit: Some("0123abcd".into()),
                hash: "h1:def=".into(),
                ..Default::default()
            },
        );
        let text = lock.render();
        assert!(
            text.contains("module \"registry.terraform.io/acme/vpc/aws\" {"),
            "{text}"
        );
        assert_eq!(LockFile::parse(&text).unwrap(), lock);
    }

    #[test]
    fn a_damaged_lock_file_is_refused_with_the_fix() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(LOCK_FILE), "module \"x\" { version = 3 }").unwrap();
        let e = LockFile::read(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("must be a string") && e.contains("terrace init"),
            "{e}"
        );
        assert_eq!(
            LockFile::read(&d.path().join("none")).unwrap(),
            LockFile::default()
        );
    }
}
