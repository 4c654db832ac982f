//! Module source addresses, read as Terraform reads them (go-getter's
//! syntax): forced getters (`git::`, `s3::`), `//subdir`, `?ref=`,
//! `?depth=`, `?archive=`, GitHub shorthands and registry addresses.

use crate::ModuleError;

/// The public Terraform registry, used when a registry address names no host.
pub const DEFAULT_REGISTRY: &str = "registry.terraform.io";

/// The kind of archive an HTTP or S3 source holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    TarGz,
    Tar,
    Zip,
}

impl ArchiveKind {
    fn from_name(s: &str) -> Option<ArchiveKind> {
        match s {
            "tar.gz" | "tgz" => Some(ArchiveKind::TarGz),
            "tar" => Some(ArchiveKind::Tar),
            "zip" => Some(ArchiveKind::Zip),
            _ => None,
        }
    }

    /// The archive kind a path's extension names.
    pub fn from_path(path: &str) -> Option<ArchiveKind> {
        let p = path.to_ascii_lowercase();
        ["tar.gz", "tgz", "zip", "tar"]
            .into_iter()
            .find(|ext| p.ends_with(&format!(".{ext}")))
            .and_then(ArchiveKind::from_name)
    }
}

/// Where a module package comes from (the part before `//subdir`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Package {
    /// `git::URL?ref=…&depth=…` (also `github.com/org/repo`, `git@host:path`).
    Git {
        url: String,
        git_ref: Option<String>,
        depth: Option<u32>,
    },
    /// `[host/]namespace/name/provider`.
    Registry {
        host: String,
        namespace: String,
        name: String,
        provider: String,
    },
    /// An `http(s)://` URL: an archive, or a page answering with `X-Terraform-Get`.
    Http {
        url: String,
        archive: Option<ArchiveKind>,
    },
    /// `s3::https://s3…amazonaws.com/bucket/key` (or any S3-compatible endpoint).
    S3 {
        url: String,
        archive: Option<ArchiveKind>,
    },
}

/// A parsed module source: a package and an optional folder inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAddr {
    pub package: Package,
    pub subdir: Option<String>,
}

const FORMS: &str = "Use a local path (\"./x\", \"../x\"), a registry address (\"namespace/name/provider\" or \"host/namespace/name/provider\"), \"git::https://…\", \"git::ssh://…\", \"git::file://…\", \"github.com/org/repo\", an http(s) URL of a .tar.gz or .zip archive, or \"s3::https://…\"";

fn bad(source: &str, why: &str) -> ModuleError {
    ModuleError::Source(format!(
        "\"{source}\" is not a module source terrace can read: {why}. {FORMS}."
    ))
}

/// Split `//subdir` off a source (after any `scheme://`), keeping the query
/// on the package part.
fn split_subdir(s: &str) -> (String, Option<String>) {
    let skip = s.find("://").map(|i| i + 3).unwrap_or(0);
    let Some(at) = s[skip..].find("//").map(|i| i + skip) else {
        return (s.to_string(), None);
    };
    let (pkg, rest) = s.split_at(at);
    let rest = &rest[2..];
    let (sub, query) = match rest.find('?') {
        Some(q) => (&rest[..q], &rest[q..]),
        None => (rest, ""),
    };
    let sub = sub.trim_matches('/');
    (
        format!("{pkg}{query}"),
        (!sub.is_empty()).then(|| sub.to_string()),
    )
}

/// Take the named query parameters out of a URL; the rest stays.
fn take_params(url: &str, names: &[&str]) -> (String, Vec<(String, String)>) {
    let Some(q) = url.find('?') else {
        return (url.to_string(), Vec::new());
    };
    let (base, query) = (&url[..q], &url[q + 1..]);
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if names.contains(&k) {
            taken.push((k.to_string(), v.to_string()));
        } else {
            kept.push(pair);
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, taken)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn git_package(source: &str, url: &str) -> Result<Package, ModuleError> {
    let (url, params) = take_params(url, &["ref", "depth"]);
    let depth = match param(&params, "depth") {
        None => None,
        Some(d) => Some(
            d.parse::<u32>()
                .ok()
                .filter(|d| *d > 0)
                .ok_or_else(|| bad(source, &format!("depth={d} is not a positive number")))?,
        ),
    };
    let git_ref = param(&params, "ref")
        .filter(|r| !r.is_empty())
        .map(String::from);
    if url.is_empty() {
        return Err(bad(source, "the git URL is empty"));
    }
    Ok(Package::Git {
        url,
        git_ref,
        depth,
    })
}

fn archive_package(source: &str, url: &str, s3: bool) -> Result<Package, ModuleError> {
    let (url, params) = take_params(url, &["archive"]);
    let archive = match param(&params, "archive") {
        Some(a) => Some(ArchiveKind::from_name(a).ok_or_else(|| {
            bad(
                source,
                &format!("archive={a} is not tar.gz, tgz, tar or zip"),
            )
        })?),
        None => ArchiveKind::from_path(url.split('?').next().unwrap_or(&url)),
    };
    Ok(if s3 {
        Package::S3 { url, archive }
    } else {
        Package::Http { url, archive }
    })
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn is_host(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    port.is_none_or(|p| p.parse::<u16>().is_ok())
        && (host.contains('.') || host == "localhost")
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

impl SourceAddr {
    /// Parse a non-local module source.
    pub fn parse(source: &str) -> Result<SourceAddr, ModuleError> {
        let s = source.trim();
        if s.is_empty() {
            return Err(bad(source, "it is empty"));
        }
        let (forced, rest) = match s.split_once("::") {
            Some((f, r)) if !f.contains('/') && !f.contains(':') => (Some(f), r),
            _ => (None, s),
        };
        let (pkg, subdir) = split_subdir(rest);
        let package = match forced {
            Some("git") => git_package(source, &pkg)?,
            Some("s3") => archive_package(source, &pkg, true)?,
            Some("http") | Some("https") => archive_package(source, &pkg, false)?,
            Some(other) => {
                return Err(bad(
                    source,
                    &format!("the \"{other}::\" getter is not supported"),
                ));
            }
            None => {
                if let Some(path) = pkg.strip_prefix("github.com/") {
                    let (path, query) = match path.find('?') {
                        Some(q) => (&path[..q], &path[q..]),
                        None => (path, ""),
                    };
                    let path = path.trim_end_matches(".git");
                    if path.split('/').count() != 2 {
                        return Err(bad(source, "a GitHub source is github.com/ORG/REPO"));
                    }
                    git_package(source, &format!("https://github.com/{path}.git{query}"))?
                } else if pkg.starts_with("git@") {
                    git_package(source, &pkg)?
                } else if pkg.starts_with("http://") || pkg.starts_with("https://") {
                    archive_package(source, &pkg, false)?
                } else if pkg.contains("://") || pkg.starts_with('/') {
                    return Err(bad(source, "this kind of address is not supported"));
                } else {
                    let parts: Vec<&str> = pkg.split('/').collect();
                    let (host, rest) = match parts.len() {
                        3 => (DEFAULT_REGISTRY.to_string(), &parts[..]),
                        4 if is_host(parts[0]) => (parts[0].to_ascii_lowercase(), &parts[1..]),
                        _ => {
                            return Err(bad(
                                source,
                                "it is neither a local path (start it with ./ or ../) nor a registry address",
                            ));
                        }
                    };
                    if !rest.iter().all(|p| is_name(p)) || pkg.contains('?') {
                        return Err(bad(
                            source,
                            "registry namespace, name and provider may hold only letters, digits, - and _",
                        ));
                    }
                    Package::Registry {
                        host,
                        namespace: rest[0].to_string(),
                        name: rest[1].to_string(),
                        provider: rest[2].to_string(),
                    }
                }
            }
        };
        Ok(SourceAddr { package, subdir })
    }
}

impl Package {
    /// The key of this package in the lock file: one canonical string per
    /// package (the subdirectory and `depth` are not part of it).
    pub fn key(&self) -> String {
        match self {
            Package::Git { url, git_ref, .. } => match git_ref {
                Some(r) => format!("git::{url}?ref={r}"),
                None => format!("git::{url}"),
            },
            Package::Registry {
                host,
                namespace,
                name,
                provider,
            } => format!("{host}/{namespace}/{name}/{provider}"),
            Package::Http { url, .. } => url.clone(),
            Package::S3 { url, .. } => format!("s3::{url}"),
        }
    }

    pub fn is_registry(&self) -> bool {
        matches!(self, Package::Registry { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> SourceAddr {
        SourceAddr::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn git_sources_keep_ref_depth_and_subdir() {
        let a = parse("git::https://example.com/vpc.git//modules/subnets?ref=v1.2.0&depth=1");
        assert_eq!(
            a.package,
            Package::Git {
                url: "https://example.com/vpc.git".into(),
                git_ref: Some("v1.2.0".into()),
                depth: Some(1)
            }
        );
        assert_eq!(a.subdir.as_deref(), Some("modules/subnets"));
        assert_eq!(
            a.package.key(),
            "git::https://example.com/vpc.git?ref=v1.2.0"
        );
        let f = parse("git::file:///tmp/repo?ref=main");
        assert!(matches!(f.package, Package::Git { ref url, .. } if url == "file:///tmp/repo"));
        assert_eq!(f.subdir, None);
        let ssh = parse("git::ssh://git@example.com/org/repo.git");
        assert!(matches!(ssh.package, Package::Git { git_ref: None, .. }));
        let gh = parse("github.com/hashicorp/example//sub?ref=v1");
        assert_eq!(
            gh.package.key(),
            "git::https://github.com/hashicorp/example.git?ref=v1"
        );
        assert_eq!(gh.subdir.as_deref(), Some("sub"));
        assert!(SourceAddr::parse("git::https://x/y?depth=zero").is_err());
    }

    #[test]
    fn registry_addresses_with_and_without_host() {
        let a = parse("terraform-aws-modules/vpc/aws");
        assert_eq!(
            a.package.key(),
            "registry.terraform.io/terraform-aws-modules/vpc/aws"
        );
        let b = parse("127.0.0.1:8080/acme/net/aws//modules/x");
        assert_eq!(b.package.key(), "127.0.0.1:8080/acme/net/aws");
        assert_eq!(b.subdir.as_deref(), Some("modules/x"));
        let c = parse("App.Terraform.io/acme/net/aws");
        assert_eq!(c.package.key(), "app.terraform.io/acme/net/aws");
    }

    #[test]
    fn archives_by_extension_or_parameter() {
        let a = parse("https://example.com/m/vpc.tar.gz//sub");
        assert_eq!(
            a.package,
            Package::Http {
                url: "https://example.com/m/vpc.tar.gz".into(),
                archive: Some(ArchiveKind::TarGz)
            }
        );
        let b = parse("https://example.com/get?id=3&archive=zip");
        assert_eq!(
            b.package,
            Package::Http {
                url: "https://example.com/get?id=3".into(),
                archive: Some(ArchiveKind::Zip)
            }
        );
        let s = parse("s3::https://s3-eu-west-1.amazonaws.com/bucket/vpc.zip");
        assert_eq!(
            s.package.key(),
            "s3::https://s3-eu-west-1.amazonaws.com/bucket/vpc.zip"
        );
    }

    #[test]
    fn unreadable_sources_say_what_is_accepted() {
        for s in [
            "",
            "hg::https://x",
            "a/b",
            "foo/bar/baz/qux/quux",
            "ftp://x/y",
            "/abs/path",
        ] {
            let e = SourceAddr::parse(s).expect_err(s).to_string();
            assert!(e.contains("registry address"), "{s}: {e}");
        }
    }
}
