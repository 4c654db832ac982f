//! Fetching a package into a directory: git (the system `git`, run as a
//! subprocess), HTTP(S) archives and pages answering `X-Terraform-Get`,
//! S3 objects (aws-sdk-s3), and registry downloads (see `registry`).

use crate::ModuleError;
use crate::source::{ArchiveKind, Package, SourceAddr};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Finds a registry token for a host (`TF_TOKEN_<host>`), injected by the CLI.
pub type TokenLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What fetching a package found out.
#[derive(Debug, Default, Clone)]
pub struct Fetched {
    /// The commit a git ref resolved to.
    pub commit: Option<String>,
    /// A folder inside the download that the source pointed at (a registry's
    /// `X-Terraform-Get: …//sub`).
    pub subdir: Option<String>,
}

/// HTTP client and credentials for every fetch of one `init`.
#[derive(Clone)]
pub struct Fetcher {
    pub(crate) http: reqwest::Client,
    pub(crate) tokens: TokenLookup,
}

/// How many `X-Terraform-Get` hops a download may take.
const MAX_REDIRECTS: u32 = 4;

impl Fetcher {
    pub fn new(tokens: TokenLookup) -> Result<Fetcher, ModuleError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("terrace/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| ModuleError::Fetch(format!("cannot start an HTTP client: {e}")))?;
        Ok(Fetcher { http, tokens })
    }

    /// Fetch a non-registry package into `dest` (which must not exist yet).
    pub fn fetch<'a>(
        &'a self,
        package: &'a Package,
        dest: &'a Path,
        hops: u32,
    ) -> Pin<Box<dyn Future<Output = Result<Fetched, ModuleError>> + Send + 'a>> {
        Box::pin(async move {
            match package {
                Package::Git {
                    url,
                    git_ref,
                    depth,
                } => Ok(Fetched {
                    commit: Some(git_clone(url, git_ref.as_deref(), *depth, dest).await?),
                    subdir: None,
                }),
                Package::Http { url, archive } => self.http_get(url, *archive, dest, hops).await,
                Package::S3 { url, archive } => {
                    let kind = archive.ok_or_else(|| not_an_archive(url))?;
                    let bytes = s3_get(url).await?;
                    extract(&bytes, kind, dest, url)?;
                    Ok(Fetched::default())
                }
                Package::Registry { .. } => Err(ModuleError::Fetch(format!(
                    "{} is a registry address; a download location may not point at another registry module",
                    package.key()
                ))),
            }
        })
    }

    /// GET a URL: an archive to unpack, or an answer whose `X-Terraform-Get`
    /// header names the real source (relative to the URL).
    async fn http_get(
        &self,
        url: &str,
        archive: Option<ArchiveKind>,
        dest: &Path,
        hops: u32,
    ) -> Result<Fetched, ModuleError> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unreachable_source(url, &e))?;
        let status = resp.status();
        if let Some(next) = terraform_get(&resp, url)? {
            return self.follow(&next, dest, hops).await;
        }
        if !status.is_success() {
            return Err(ModuleError::Fetch(format!(
                "GET {url} answered {status}; check the module source URL"
            )));
        }
        let kind = archive.ok_or_else(|| not_an_archive(url))?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| unreachable_source(url, &e))?;
        extract(&bytes, kind, dest, url)?;
        Ok(Fetched::default())
    }

    /// Fetch what an `X-Terraform-Get` header points at.
    pub(crate) async fn follow(
        &self,
        source: &str,
        dest: &Path,
        hops: u32,
    ) -> Result<Fetched, ModuleError> {
        if hops >= MAX_REDIRECTS {
            return Err(ModuleError::Fetch(format!(
                "too many X-Terraform-Get redirections (last: {source})"
            )));
        }
        let addr = SourceAddr::parse(source)?;
        let mut fetched = self.fetch(&addr.package, dest, hops + 1).await?;
        if let Some(sub) = addr.subdir {
            fetched.subdir = Some(match fetched.subdir {
                Some(inner) => format!("{inner}/{sub}"),
                None => sub,
            });
        }
        Ok(fetched)
    }
}

/// The `X-Terraform-Get` header of a response, resolved against its URL.
pub(crate) fn terraform_get(
    resp: &reqwest::Response,
    url: &str,
) -> Result<Option<String>, ModuleError> {
    let Some(v) = resp.headers().get("x-terraform-get") else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| {
        ModuleError::Fetch(format!(
            "{url} sent an X-Terraform-Get header that is not text"
        ))
    })?;
    // A source address with a getter or scheme stands alone; anything else is
    // a URL relative to the one that answered.
    if v.contains("::") || v.contains("://") {
        return Ok(Some(v.to_string()));
    }
    let base = reqwest::Url::parse(url)
        .map_err(|e| ModuleError::Fetch(format!("{url} is not a URL: {e}")))?;
    let joined = base
        .join(v)
        .map_err(|e| ModuleError::Fetch(format!("{url} sent X-Terraform-Get {v:?}: {e}")))?;
    Ok(Some(joined.to_string()))
}

pub(crate) fn unreachable_source(url: &str, e: &reqwest::Error) -> ModuleError {
    let mut why = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        why = format!("{why}: {s}");
        src = s.source();
    }
    ModuleError::Fetch(format!(
        "{url} could not be reached ({why}); check the address and your network"
    ))
}

fn not_an_archive(url: &str) -> ModuleError {
    ModuleError::Fetch(format!(
        "{url} is not an archive terrace can unpack and sent no X-Terraform-Get header; name a .tar.gz, .tgz, .tar or .zip file, or add ?archive=tar.gz or ?archive=zip"
    ))
}

/// Unpack an archive into `dest`. Entries that would land outside `dest`
/// (`..`, absolute paths) are refused by the tar and zip crates.
pub(crate) fn extract(
    bytes: &[u8],
    kind: ArchiveKind,
    dest: &Path,
    from: &str,
) -> Result<(), ModuleError> {
    std::fs::create_dir_all(dest)
        .map_err(|e| ModuleError::io(format!("creating {}", dest.display()), e))?;
    let bad =
        |e: String| ModuleError::Fetch(format!("{from} is not a valid {kind:?} archive: {e}"));
    match kind {
        ArchiveKind::TarGz => tar::Archive::new(flate2::read::GzDecoder::new(bytes))
            .unpack(dest)
            .map_err(|e| bad(e.to_string())),
        ArchiveKind::Tar => tar::Archive::new(bytes)
            .unpack(dest)
            .map_err(|e| bad(e.to_string())),
        ArchiveKind::Zip => zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .and_then(|mut z| z.extract(dest))
            .map_err(|e| bad(e.to_string())),
    }
}

/// Run git with prompts off; its stderr becomes the error.
async fn git(args: &[&str], dir: Option<&Path>) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().await.map_err(|e| {
        format!("git could not be started ({e}); install git to use git module sources")
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Clone `url` at `git_ref` into `dest`; returns the commit checked out.
/// The `.git` folder is removed afterwards: the installed module is its files.
async fn git_clone(
    url: &str,
    git_ref: Option<&str>,
    depth: Option<u32>,
    dest: &Path,
) -> Result<String, ModuleError> {
    let dest_s = dest.to_string_lossy().to_string();
    let depth_s = depth.map(|d| d.to_string());
    let mut args = vec!["clone", "--quiet"];
    if let Some(d) = &depth_s {
        args.extend(["--depth", d]);
    }
    if let Some(r) = git_ref {
        args.extend(["--branch", r]);
    }
    args.extend(["--", url, &dest_s]);
    if let Err(err) = git(&args, None).await {
        let _ = std::fs::remove_dir_all(dest);
        let Some(r) = git_ref.filter(|r| r.len() >= 7 && r.chars().all(|c| c.is_ascii_hexdigit()))
        else {
            return Err(git_error(url, git_ref, &err));
        };
        // A commit ID is not a branch or tag: clone everything, then check it out.
        git(&["clone", "--quiet", "--", url, &dest_s], None)
            .await
            .map_err(|e| git_error(url, git_ref, &e))?;
        git(&["checkout", "--quiet", r], Some(dest))
            .await
            .map_err(|e| git_error(url, git_ref, &e))?;
    }
    let commit = git(&["rev-parse", "HEAD"], Some(dest))
        .await
        .map_err(|e| git_error(url, git_ref, &e))?;
    std::fs::remove_dir_all(dest.join(".git"))
        .map_err(|e| ModuleError::io(format!("removing {}/.git", dest.display()), e))?;
    Ok(commit)
}

fn git_error(url: &str, git_ref: Option<&str>, stderr: &str) -> ModuleError {
    let why = stderr.lines().last().unwrap_or(stderr);
    ModuleError::Fetch(match git_ref {
        Some(r) if stderr.contains("not found in upstream") || stderr.contains("did not match") => {
            format!(
                "git ref \"{r}\" does not exist in {url} ({why}); use a branch, tag or commit of that repository in ?ref="
            )
        }
        Some(r) => format!("git could not fetch {url} at ref \"{r}\": {why}"),
        None => format!("git could not fetch {url}: {why}"),
    })
}

/// Read an S3 object named by a `s3::` URL: `https://s3[-.]REGION.amazonaws.com/BUCKET/KEY`,
/// `https://BUCKET.s3[-.]REGION.amazonaws.com/KEY`, or any other endpoint in path style.
async fn s3_get(url: &str) -> Result<Vec<u8>, ModuleError> {
    let u = reqwest::Url::parse(url)
        .map_err(|e| ModuleError::Source(format!("s3::{url} is not a URL: {e}")))?;
    let host = u.host_str().unwrap_or_default().to_string();
    let path = u.path().trim_start_matches('/').to_string();
    let (bucket, key, region, endpoint) = match host.strip_suffix(".amazonaws.com") {
        Some(h) => {
            let (bucket, rest) = match h.split_once(".s3") {
                Some((b, r)) => (Some(b.to_string()), format!("s3{r}")),
                None => (None, h.to_string()),
            };
            let region = rest
                .strip_prefix("s3-")
                .or_else(|| rest.strip_prefix("s3."))
                .map(String::from);
            match bucket {
                Some(b) => (b, path, region, None),
                None => {
                    let (b, k) = path.split_once('/').unwrap_or((&path, ""));
                    (b.to_string(), k.to_string(), region, None)
                }
            }
        }
        None => {
            let (b, k) = path.split_once('/').unwrap_or((&path, ""));
            let endpoint = format!(
                "{}://{}",
                u.scheme(),
                &url[u.scheme().len() + 3..]
                    .split('/')
                    .next()
                    .unwrap_or_default()
            );
            (b.to_string(), k.to_string(), None, Some(endpoint))
        }
    };
    if bucket.is_empty() || key.is_empty() {
        return Err(ModuleError::Source(format!(
            "s3::{url} names no bucket and key; use s3::https://s3.REGION.amazonaws.com/BUCKET/KEY"
        )));
    }
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r));
    }
    let shared = loader.load().await;
    let mut conf = aws_sdk_s3::config::Builder::from(&shared);
    if let Some(e) = endpoint {
        conf = conf.endpoint_url(e).force_path_style(true);
    }
    let client = aws_sdk_s3::Client::from_conf(conf.build());
    let obj = client
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| {
            ModuleError::Fetch(format!(
                "s3::{url}: could not read s3://{bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            ))
        })?;
    let bytes =
        obj.body.collect().await.map_err(|e| {
            ModuleError::Fetch(format!("s3::{url}: reading s3://{bucket}/{key}: {e}"))
        })?;
    Ok(bytes.into_bytes().to_vec())
}
