//! Credentials that are fetched again when AWS says they expired.
//!
//! The SDK's own identity cache refreshes credentials shortly before the
//! expiry their source announces. That is not enough for a long apply:
//! a session can be revoked or cut short, a source may announce no expiry
//! at all, and clocks drift. So the provider holds its credentials here
//! instead (the SDK's cache is off): they are cached until shortly before
//! their announced expiry, and when a call is rejected as signed with
//! expired credentials (`ExpiredToken`, `RequestExpired`, …),
//! [`RefreshingCredentials::refresh_after_expiry`] asks the source again —
//! profiles with SSO, `credential_process` or `role_arn`, web identity and
//! instance metadata give new ones — and the call is sent again (AWS
//! rejects such a call before doing anything, so even a create is safe to
//! repeat). Static credentials (the provider block's `access_key`, the
//! `AWS_ACCESS_KEY_ID` variables) cannot be renewed: the run stops with a
//! message naming their expiry and how to give a source that refreshes.
//!
//! The provider block's `assume_role` is such a source too:
//! [`AssumeRoleSource`] asks STS for a role session with the base
//! credentials (static or from the chain), and asks again when the session
//! nears its expiry or AWS says it expired — so assumed credentials renew
//! even when the base keys are static.

use crate::Result;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{
    ProvideCredentials, SharedCredentialsProvider, future, future::ProvideCredentials as Fut,
};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use terrace_provider::ProviderError;

/// Error codes AWS answers for a request signed with expired credentials.
pub(crate) const EXPIRED_CODES: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "TokenRefreshRequired",
];

/// Credentials this close to their announced expiry are fetched again.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// Where the credentials come from, as the user configured it.
#[derive(Clone, Debug)]
pub(crate) enum CredentialSource {
    /// `access_key`/`secret_key` in the provider block, or the
    /// `AWS_ACCESS_KEY_ID` variables: nothing to refresh them from.
    Static(&'static str),
    /// The SDK's default chain (profile, SSO, web identity, IMDS, …), or
    /// `assume_role` (a new session is asked for).
    Chain,
}

/// The provider block's `assume_role`: each fetch is one `sts:AssumeRole`
/// signed with the base credentials of `client`.
#[derive(Debug)]
pub(crate) struct AssumeRoleSource {
    pub(crate) client: aws_sdk_sts::Client,
    pub(crate) role_arn: String,
    pub(crate) session_name: String,
    pub(crate) external_id: Option<String>,
    pub(crate) duration: Option<Duration>,
    pub(crate) policy: Option<String>,
    pub(crate) policy_arns: Vec<String>,
    pub(crate) source_identity: Option<String>,
}

impl AssumeRoleSource {
    /// A new role session, or an error saying which role could not be
    /// assumed and why (one line, no SDK dump).
    pub(crate) async fn assume(&self) -> Result<Credentials> {
        let arns: Vec<aws_sdk_sts::types::PolicyDescriptorType> = self
            .policy_arns
            .iter()
            .map(|a| {
                aws_sdk_sts::types::PolicyDescriptorType::builder()
                    .arn(a)
                    .build()
            })
            .collect();
        let out = self
            .client
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(&self.session_name)
            .set_external_id(self.external_id.clone())
            .set_duration_seconds(self.duration.map(|d| d.as_secs() as i32))
            .set_policy(self.policy.clone())
            .set_policy_arns((!arns.is_empty()).then_some(arns))
            .set_source_identity(self.source_identity.clone())
            .send()
            .await
            .map_err(|e| {
                let why = crate::api::classify("sts:AssumeRole", &e);
                ProviderError::Config(format!(
                    "assume_role: could not assume role {} ({why}); check role_arn, the role's \
                     trust policy (it must allow sts:AssumeRole by the base credentials' \
                     principal, with external_id if it requires one) and the base credentials",
                    self.role_arn
                ))
            })?;
        let c = out.credentials().ok_or_else(|| {
            ProviderError::Config(format!(
                "assume_role: STS answered AssumeRole for {} without credentials",
                self.role_arn
            ))
        })?;
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "terrace-assume-role",
        ))
    }
}

/// Marks an `assume_role` failure inside the SDK's credentials error, so
/// the classifier reports it as such (not as "no credentials").
pub(crate) const ASSUME_ROLE_PREFIX: &str = "assume_role: ";

impl ProvideCredentials for AssumeRoleSource {
    fn provide_credentials<'a>(&'a self) -> Fut<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.assume().await.map_err(|e| {
                aws_credential_types::provider::error::CredentialsError::provider_error(match e {
                    ProviderError::Config(m) => m,
                    other => format!("{ASSUME_ROLE_PREFIX}{other}"),
                })
            })
        })
    }
}

struct Cached {
    credentials: Credentials,
    /// When these credentials replaced earlier ones (None: the first fetch,
    /// which a call may well have been signed with).
    renewed: Option<Instant>,
}

/// The provider's credentials: the source's answer, cached, and fetched
/// again when it nears its expiry or AWS says it expired.
#[derive(Debug)]
pub(crate) struct RefreshingCredentials {
    inner: SharedCredentialsProvider,
    source: CredentialSource,
    cached: tokio::sync::Mutex<Option<Cached>>,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("renewed", &self.renewed)
            .finish_non_exhaustive()
    }
}

fn near_expiry(c: &Credentials) -> bool {
    c.expiry()
        .is_some_and(|e| e <= SystemTime::now() + EXPIRY_MARGIN)
}

fn same(a: &Credentials, b: &Credentials) -> bool {
    a.access_key_id() == b.access_key_id()
        && a.secret_access_key() == b.secret_access_key()
        && a.session_token() == b.session_token()
}

impl RefreshingCredentials {
    pub(crate) fn new(inner: SharedCredentialsProvider, source: CredentialSource) -> Self {
        RefreshingCredentials {
            inner,
            source,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// Start with credentials already fetched (the provider's `assume_role`
    /// check at configure time), so the first call does not fetch again.
    pub(crate) async fn prime(&self, credentials: Credentials) {
        *self.cached.lock().await = Some(Cached {
            credentials,
            renewed: None,
        });
    }

    async fn current(&self) -> aws_credential_types::provider::Result {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| !near_expiry(&c.credentials)) {
            return Ok(c.credentials.clone());
        }
        let renewed = cached.is_some().then(Instant::now);
        let fresh = self.inner.provide_credentials().await?;
        *cached = Some(Cached {
            credentials: fresh.clone(),
            renewed,
        });
        Ok(fresh)
    }

    /// A call started at `started` was rejected with `code` (one of
    /// [`EXPIRED_CODES`]). `Ok` when the call may be sent again with new
    /// credentials (fetched now, or by another call since `started`);
    /// otherwise the error to stop with.
    pub(crate) async fn refresh_after_expiry(
        &self,
        op: &str,
        code: &str,
        message: &str,
        started: Instant,
    ) -> Result<()> {
        let mut cached = self.cached.lock().await;
        let old = match cached.as_ref() {
            Some(c) if c.renewed.is_some_and(|r| r > started) => return Ok(()),
            Some(c) => Some(c.credentials.clone()),
            None => None,
        };
        let expired = |detail: String| ProviderError::Api {
            code: code.to_string(),
            message: format!("{op}: the AWS credentials have expired ({message}); {detail}"),
        };
        if let CredentialSource::Static(from) = self.source {
            return Err(expired(format!(
                "they are static credentials from {from}{}, which terrace cannot renew. \
                 Get new ones (a new session from `aws sts assume-role`, `aws sso login`, your \
                 CI's OIDC step) and run again — whatever was created is in state or the \
                 journal — or give a source that renews itself: a profile with SSO, \
                 `credential_process` or `role_arn`, web identity \
                 (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN), or instance metadata",
                expiry_text(old.as_ref())
            )));
        }
        let fresh = self.inner.provide_credentials().await.map_err(|e| {
            expired(format!(
                "fetching new ones from the credential chain failed: {}",
                crate::api::error_chain(&e)
            ))
        })?;
        if old.as_ref().is_some_and(|o| same(o, &fresh)) {
            return Err(expired(format!(
                "the credential source gave the same credentials again{}. Renew them at their \
                 source (e.g. `aws sso login`, a new role session) and run again — whatever was \
                 created is in state or the journal",
                expiry_text(old.as_ref())
            )));
        }
        tracing::warn!(
            op,
            code,
            "AWS credentials expired; fetched new ones and sending the call again"
        );
        *cached = Some(Cached {
            credentials: fresh,
            renewed: Some(Instant::now()),
        });
        Ok(())
    }
}

/// " (they expired at 2026-…Z)" when the source announced an expiry.
fn expiry_text(c: Option<&Credentials>) -> String {
    match c.and_then(Credentials::expiry) {
        Some(t) => format!(
            " (their announced expiry: {})",
            humantime::format_rfc3339_seconds(t)
        ),
        None => " (their source announced no expiry)".to_string(),
    }
}

/// What the SDK is given: the provider's [`RefreshingCredentials`], shared
/// with [`crate::api::ApiCalls`].
#[derive(Debug, Clone)]
pub(crate) struct SharedRefreshing(pub(crate) Arc<RefreshingCredentials>);

impl ProvideCredentials for SharedRefreshing {
    fn provide_credentials<'a>(&'a self) -> Fut<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.0.current())
    }
}

impl ProvideCredentials for RefreshingCredentials {
    fn provide_credentials<'a>(&'a self) -> Fut<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A source that hands out key `K<n>`, `n` counting the fetches, or
    /// always the same key when `fixed`.
    #[derive(Debug, Default)]
    struct Counting {
        fetches: Arc<AtomicU32>,
        fixed: bool,
        expiry: Option<SystemTime>,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> Fut<'a>
        where
            Self: 'a,
        {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst);
            let key = if self.fixed {
                "K".to_string()
            } else {
                format!("K{n}")
            };
            future::ProvideCredentials::ready(Ok(Credentials::new(
                key,
                "secret",
                None,
                self.expiry,
                "test",
            )))
        }
    }

    fn refreshing(source: Counting, kind: CredentialSource) -> RefreshingCredentials {
        RefreshingCredentials::new(SharedCredentialsProvider::new(source), kind)
    }

    #[tokio::test]
    async fn credentials_are_cached_until_aws_says_they_expired() {
        let fetches = Arc::new(AtomicU32::new(0));
        let r = refreshing(
            Counting {
                fetches: fetches.clone(),
                ..Default::default()
            },
            CredentialSource::Chain,
        );
        let started = Instant::now();
        assert_eq!(r.current().await.unwrap().access_key_id(), "K0");
        assert_eq!(r.current().await.unwrap().access_key_id(), "K0");
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        r.refresh_after_expiry("ec2:RunInstances", "ExpiredToken", "expired", started)
            .await
            .unwrap();
        assert_eq!(r.current().await.unwrap().access_key_id(), "K1");
        // A second call that started before the refresh does not fetch again.
        r.refresh_after_expiry("ec2:DescribeVpcs", "ExpiredToken", "expired", started)
            .await
            .unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn credentials_near_their_announced_expiry_are_fetched_again() {
        let fetches = Arc::new(AtomicU32::new(0));
        let r = refreshing(
            Counting {
                fetches: fetches.clone(),
                expiry: Some(SystemTime::now() + Duration::from_secs(10)),
                ..Default::default()
            },
            CredentialSource::Chain,
        );
        r.current().await.unwrap();
        r.current().await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_source_that_gives_the_same_credentials_again_stops_the_run() {
        let r = refreshing(
            Counting {
                fixed: true,
                ..Default::default()
            },
            CredentialSource::Chain,
        );
        r.current().await.unwrap();
        let err = r
            .refresh_after_expiry("ec2:DescribeVpcs", "RequestExpired", "gone", Instant::now())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "RequestExpired: ec2:DescribeVpcs: the AWS credentials have expired (gone)"
            ),
            "{err}"
        );
        assert!(err.contains("the same credentials again"), "{err}");
        assert!(err.contains("announced no expiry"), "{err}");
    }

    #[tokio::test]
    async fn static_credentials_name_their_source_and_expiry() {
        let expiry = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let fetches = Arc::new(AtomicU32::new(0));
        let r = refreshing(
            Counting {
                fetches: fetches.clone(),
                expiry: Some(expiry),
                ..Default::default()
            },
            CredentialSource::Static("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN"),
        );
        // Past their expiry: fetched on every use; never "renewed".
        r.current().await.unwrap();
        let err = r
            .refresh_after_expiry("s3:PutObject", "ExpiredToken", "x", Instant::now())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        assert!(err.contains("2027-01-15T08:00:00Z"), "{err}");
        assert!(err.contains("cannot renew"), "{err}");
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }
}
