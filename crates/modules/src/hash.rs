//! The content hash of a module directory, in the form of Go's
//! `dirhash.Hash1` (what Terraform's `h1:` hashes are): SHA-256 over the
//! sorted lines `"<sha256 hex>  <relative/path>\n"`, base64, prefixed `h1:`.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Every regular file below `dir` (relative, `/`-separated, sorted);
/// symbolic links are listed with their target as content.
fn files(dir: &Path, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let ty = e.file_type()?;
        if ty.is_symlink() {
            let target = std::fs::read_link(e.path())?;
            out.push((rel, target.to_string_lossy().as_bytes().to_vec()));
        } else if ty.is_dir() {
            files(&e.path(), &rel, out)?;
        } else {
            out.push((rel, std::fs::read(e.path())?));
        }
    }
    Ok(())
}

/// The `h1:` hash of a directory tree.
pub fn hash_dir(dir: &Path) -> std::io::Result<String> {
    let mut list = Vec::new();
    files(dir, "", &mut list)?;
    list.sort_by(|a, b| a.0.cmp(&b.0));
    let mut summary = Sha256::new();
    for (name, content) in list {
        let line = format!("{}  {name}\n", hex::encode(Sha256::digest(&content)));
        summary.update(line.as_bytes());
    }
    Ok(format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(summary.finalize())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_follows_content_and_names_not_times() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("main.tf"), "a").unwrap();
        std::fs::write(d.path().join("sub/x.tf"), "b").unwrap();
        let h = hash_dir(d.path()).unwrap();
        assert!(h.starts_with("h1:") && h.len() == 47, "{h}");
        // Go's dirhash of these two files, computed by hand from its definition.
        let lines = format!(
            "{}  main.tf\n{}  sub/x.tf\n",
            hex::encode(Sha256::digest(b"a")),
            hex::encode(Sha256::digest(b"b"))
        );
        let want = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(lines));
        assert_eq!(h, format!("h1:{want}"));
        std::fs::write(d.path().join("sub/x.tf"), "c").unwrap();
        assert_ne!(hash_dir(d.path()).unwrap(), h);
    }
}
