//! Every SDK call goes through [`ApiCalls::call`]: it counts the call per
//! `service:Operation`, retries throttling with exponential backoff and
//! jitter, and classifies SDK errors into [`ProviderError`]s.
//!
//! The SDK's own retries are off (see `AwsProvider::connect`): whether a
//! call may be sent again after its answer was lost (a 5xx, a reset
//! connection, a timeout) depends on the operation, and only this layer
//! knows it. Idempotent calls are retried; a create without an idempotency
//! token ([`is_non_idempotent`]) is never re-sent blindly — it fails with
//! [`ProviderError::Unconfirmed`], and the engine looks the object up by its
//! ownership tags before anything creates it again. Every resource type,
//! present or future, gets this by making its calls through `p.call` with
//! the operation's real name.
//!
//! An endpoint that answered earlier in the run and now refuses
//! connections is having an outage: a call it refuses never left this
//! machine, so any call — a tokenless create too — is sent again, with
//! backoff, for up to [`OUTAGE_RIDE`]. An endpoint that never answered is
//! misconfigured, not down, and fails at once.
//!
//! A call rejected as signed with expired credentials did nothing either:
//! the provider's credentials are fetched again from their source
//! (`credentials.rs`) and the call — a create too — is sent again; static
//! credentials stop the run with a message saying how to renew them.

use crate::Result;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rand::Rng;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use terrace_core::PathStep;
use terrace_provider::ProviderError;

use crate::credentials::{EXPIRED_CODES, RefreshingCredentials};

/// Attempts for a throttled call (the SDK's own retries are off).
const THROTTLE_ATTEMPTS: u32 = 6;
/// Attempts for an idempotent call whose answer was lost (5xx, reset).
const TRANSIENT_ATTEMPTS: u32 = 4;
const BASE_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// How long a call refused by an endpoint that answered before is tried
/// again (an endpoint restarting, a network blip, a proxy failing over).
pub(crate) const OUTAGE_RIDE: Duration = Duration::from_secs(120);
/// The longest pause between tries during an outage.
const OUTAGE_MAX_PAUSE: Duration = Duration::from_secs(3);

#[derive(Default)]
pub(crate) struct ApiCalls {
    counts: Mutex<BTreeMap<String, u64>>,
    /// Some call of this run got an answer (so the endpoint is right);
    /// shared by every provider one factory configures (plan and apply).
    answered: Arc<AtomicBool>,
    /// Told once per outage: "the endpoint refuses connections".
    outage_reported: AtomicBool,
    /// The provider's credentials, fetched again when a call is rejected
    /// as signed with expired ones (None: the SDK found no source).
    credentials: Option<Arc<RefreshingCredentials>>,
}

/// Calls rejected as expired that are sent again with new credentials.
const EXPIRED_RETRIES: u32 = 3;

impl ApiCalls {
    pub(crate) fn with_credentials(credentials: Option<Arc<RefreshingCredentials>>) -> Self {
        ApiCalls {
            credentials,
            ..Default::default()
        }
    }

    /// Share "the endpoint has answered" with the other providers of a run.
    pub(crate) fn share_answered(&mut self, answered: Arc<AtomicBool>) {
        self.answered = answered;
    }

    pub(crate) fn record(&self, op: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(op.to_string()).or_default() += 1;
    }

    pub(crate) fn snapshot(&self) -> Vec<(String, u64)> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Run one SDK operation (`f` builds and sends it; it is called again
    /// for each retry). `op` is `service:Operation`, e.g. `ec2:DescribeVpcs`.
    pub(crate) async fn call<T, E, F, Fut>(&self, op: &str, f: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut attempt = 0;
        let mut transient = 0;
        let mut refused: Option<(Instant, u32)> = None;
        let mut renewed = 0;
        loop {
            self.record(op);
            let started = std::time::Instant::now();
            let result = f().await;
            tracing::debug!(
                op,
                ms = started.elapsed().as_millis() as u64,
                ok = result.is_ok(),
                "AWS call"
            );
            if matches!(&result, Ok(_) | Err(SdkError::ServiceError(_))) {
                self.answered.store(true, Ordering::SeqCst);
                if self.outage_reported.swap(false, Ordering::SeqCst) {
                    tracing::warn!("the AWS endpoint answers again");
                }
            }
            match result {
                Ok(v) => return Ok(v),
                Err(err) if never_sent(&err) && self.answered.load(Ordering::SeqCst) => {
                    let (since, tries) = refused.get_or_insert((Instant::now(), 0));
                    if since.elapsed() >= OUTAGE_RIDE {
                        return Err(classify(op, &err));
                    }
                    if !self.outage_reported.swap(true, Ordering::SeqCst) {
                        tracing::warn!(
                            "the AWS endpoint refuses connections; calls are tried again for up to {}s",
                            OUTAGE_RIDE.as_secs()
                        );
                    }
                    tokio::time::sleep(backoff(*tries).min(OUTAGE_MAX_PAUSE)).await;
                    *tries += 1;
                }
                Err(err) if err.code().is_some_and(|c| EXPIRED_CODES.contains(&c)) => {
                    // AWS checks the signature before it does anything, so
                    // the call had no effect and may be sent again — a
                    // create too — once the source gave new credentials.
                    let code = err.code().unwrap_or_default().to_string();
                    let message = err.message().unwrap_or_default().to_string();
                    let Some(credentials) = &self.credentials else {
                        return Err(classify(op, &err));
                    };
                    if renewed >= EXPIRED_RETRIES {
                        return Err(ProviderError::Api {
                            code,
                            message: format!(
                                "{op}: AWS rejected the credentials as expired ({message}) \
                                 {renewed} times, each time with new credentials from their \
                                 source; check the machine's clock and the credential source"
                            ),
                        });
                    }
                    credentials
                        .refresh_after_expiry(op, &code, &message, started)
                        .await?;
                    renewed += 1;
                }
                Err(err) => {
                    let classified = classify(op, &err);
                    if classified.is_retryable() && attempt + 1 < THROTTLE_ATTEMPTS {
                        tracing::debug!(op, attempt, "throttled; backing off");
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    let never_sent = matches!(classified, ProviderError::Config(_));
                    if !classified.is_retryable() && !never_sent && answer_lost(&err) {
                        if is_non_idempotent(op) {
                            // Sending it again could make a second object.
                            return Err(unconfirmed(classified));
                        }
                        if transient + 1 < TRANSIENT_ATTEMPTS {
                            tracing::debug!(op, transient, "answer lost; retrying");
                            tokio::time::sleep(backoff(transient)).await;
                            transient += 1;
                            continue;
                        }
                    }
                    return Err(classified);
                }
            }
        }
    }
}

/// Operations that make a new object every time they are sent and take no
/// idempotency token: `Create*` (but tag writes), `Run*`, `Allocate*`,
/// `Request*`, `Copy*`, `Import*`, `Register*`. Calls that pass a token
/// the endpoint honours (EKS creates with `clientRequestToken`) may be
/// re-sent: the API answers a repeat with the first object. A new resource
/// type needs nothing to opt in; a new call that carries a token is listed
/// in `TOKENED`.
///
/// `ec2:RunInstances` carries a `ClientToken` too, but is not re-sent: moto
/// (and so any endpoint that stores the token without honouring it) makes
/// a second instance for the repeat. Its lost answer is `Unconfirmed`
/// instead, and the engine finds the instance by the token's filter or its
/// ownership tags — exact on every endpoint.
pub(crate) fn is_non_idempotent(op: &str) -> bool {
    const TOKENED: &[&str] = &["eks:CreateCluster", "eks:CreateNodegroup"];
    const TAG_WRITES: &[&str] = &["CreateTags", "CreateOrUpdateTags"];
    const PREFIXES: &[&str] = &[
        "Create", "Run", "Allocate", "Request", "Copy", "Import", "Register",
    ];
    let name = op.split_once(':').map_or(op, |(_, n)| n);
    !TOKENED.contains(&op)
        && !TAG_WRITES.contains(&name)
        && PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Did the request certainly never leave this machine? A connection the
/// endpoint refused (or that no route leads to) carried no request.
fn never_sent<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: std::error::Error + 'static,
{
    use std::io::ErrorKind::{
        AddrNotAvailable, ConnectionRefused, HostUnreachable, NetworkUnreachable,
    };
    let SdkError::DispatchFailure(_) = err else {
        return false;
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable
            );
        }
        source = e.source();
    }
    false
}

/// Did the request possibly reach the service without its answer reaching
/// us? A timeout, a failed or reset connection, an unreadable response, or
/// a server error (5xx).
fn answer_lost<E>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(ctx) => ctx.raw().status().is_server_error(),
        _ => false,
    }
}

fn unconfirmed(classified: ProviderError) -> ProviderError {
    match classified {
        ProviderError::Api { code, message } => ProviderError::Unconfirmed { code, message },
        other => ProviderError::Unconfirmed {
            code: "RequestFailed".into(),
            message: other.to_string(),
        },
    }
}

/// Exponential backoff with full jitter.
fn backoff(attempt: u32) -> Duration {
    let cap = BASE_BACKOFF
        .saturating_mul(1 << attempt.min(16))
        .min(MAX_BACKOFF);
    let millis = rand::thread_rng().gen_range(cap.as_millis() as u64 / 2..=cap.as_millis() as u64);
    Duration::from_millis(millis)
}

/// Classify an SDK error by its error code.
pub(crate) fn classify<E>(op: &str, err: &SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = err
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| error_chain(err));
    if err.code().is_none()
        && !matches!(err, SdkError::ServiceError(_))
        && is_credentials_error(&message)
    {
        // A role session that could not be renewed: say that, not "none found".
        if let Some(at) = message.find(crate::credentials::ASSUME_ROLE_PREFIX) {
            return ProviderError::Config(format!("{op}: {}", &message[at..]));
        }
        return no_credentials(&one_line(&message));
    }
    match err.code() {
        Some(code) => classify_code(op, code, message),
        None => match err {
            SdkError::TimeoutError(_) => timed_out(op, &message),
            SdkError::DispatchFailure(f) if f.is_timeout() => timed_out(op, &message),
            SdkError::DispatchFailure(f) if f.is_io() => ProviderError::Api {
                code: "ConnectionFailed".into(),
                message: format!(
                    "{op}: could not connect to the AWS endpoint ({message}); check AWS_ENDPOINT_URL, \
                     the provider's endpoints and the network"
                ),
            },
            // S3 HeadBucket answers a missing bucket with a bare 404.
            SdkError::ServiceError(ctx) if ctx.raw().status().as_u16() == 404 => {
                ProviderError::NotFound(format!("{op}: {message}"))
            }
            _ => ProviderError::Api {
                code: "RequestFailed".into(),
                message: format!("{op}: {message}"),
            },
        },
    }
}

/// An error and its sources, each by its `Display`, joined by `: ` (the
/// SDK's `DisplayErrorContext` appends a `Debug` dump of the whole error,
/// which no user should read). Repeated segments are left out.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// The SDK's multi-line credential chain report as one line, without the
/// dispatch wrapper ("dispatch failure: other: …").
fn one_line(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    joined
        .trim_start_matches("dispatch failure: ")
        .trim_start_matches("other: ")
        .replace(":; ", ": ")
}

/// The SDK could not resolve an identity to sign with.
fn is_credentials_error(chain: &str) -> bool {
    let lower = chain.to_ascii_lowercase();
    lower.contains("credential") || lower.contains("no identity resolver")
}

/// Terraform's "no valid credential sources found", with how to fix it.
pub(crate) fn no_credentials(detail: &str) -> ProviderError {
    ProviderError::Config(format!(
        "no valid AWS credentials were found ({detail}). Sources tried: environment \
         (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), shared config and credentials files (profile), \
         SSO, web identity token, EC2 instance metadata (IMDS). Set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY or AWS_PROFILE (or access_key/secret_key/profile in the provider \
         block); for a local endpoint such as moto or LocalStack set AWS_ENDPOINT_URL"
    ))
}

/// A call that got no answer in time: say so, and what to check.
fn timed_out(op: &str, detail: &str) -> ProviderError {
    ProviderError::Api {
        code: "Timeout".into(),
        message: format!(
            "{op}: the AWS endpoint did not answer in time ({detail}); it may be down, hung or unreachable: \
             check AWS_ENDPOINT_URL, the provider's endpoints and the network, or raise {} (default {}s per attempt)",
            crate::provider::CALL_TIMEOUT_VAR,
            crate::provider::DEFAULT_CALL_TIMEOUT.as_secs()
        ),
    }
}

const NOT_FOUND: &[&str] = &[
    "NoSuchBucket",
    "NoSuchEntity",
    "NoSuchKey",
    "NotFound",
    "ResourceNotFoundException",
    "RepositoryNotFoundException",
    "LifecyclePolicyNotFoundException",
    "RepositoryPolicyNotFoundException",
    "NoSuchLifecycleConfiguration",
    "NoSuchBucketPolicy",
    "NoSuchPublicAccessBlockConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
    "OwnershipControlsNotFoundError",
    "ParameterNotFound",
    "ParameterVersionNotFound",
];

const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "RequestThrottled",
    "RequestThrottledException",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
    "EC2ThrottledException",
];

const CONFLICT: &[&str] = &[
    "DependencyViolation",
    "ResourceInUse",
    "ResourceInUseException",
    "DeleteConflict",
    "BucketNotEmpty",
    "RepositoryNotEmptyException",
    "IncorrectState",
    "IncorrectInstanceState",
    "InvalidGroup.InUse",
    "OperationAborted",
    "ConflictException",
    "InvalidDependency",
];

const INVALID: &[&str] = &[
    "InvalidParameterValue",
    "InvalidParameter",
    "InvalidParameterCombination",
    "InvalidParameterException",
    "InvalidInput",
    "MissingParameter",
    "UnknownParameter",
    "ValidationError",
    "ValidationException",
    "InvalidBucketName",
    "InvalidRequest",
    "MalformedPolicyDocument",
    "MalformedPolicy",
    "InvalidTargetBucketForLogging",
    "MalformedXML",
    "InvalidSubnet.Range",
    "InvalidSubnet.Conflict",
    "InvalidVpc.Range",
    "InvalidInstanceType",
    "InvalidBlockDeviceMapping",
    "InvalidUserData.Malformed",
    "InvalidTagKey.Malformed",
    "InvalidPermission.Duplicate",
    "InvalidPermission.Malformed",
    "InvalidGroup.Duplicate",
    "InvalidKeyPair.NotFound",
    "InvalidIAMInstanceProfile.NotFound",
    "InvalidParameterValueException",
    "InvalidLayerPartException",
    "BucketAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "RepositoryAlreadyExistsException",
    "EntityAlreadyExists",
    "LimitExceededException",
    "InvalidTagParameterException",
    "TooManyTagsException",
];

/// Map an error code to a [`ProviderError`]. Codes of argument errors carry
/// the attribute path when the code says which argument it is about.
pub(crate) fn classify_code(op: &str, code: &str, message: String) -> ProviderError {
    let code_s = code.to_string();
    // Argument errors that merely look like "not found" come first.
    if code.starts_with("InvalidAMIID.") || INVALID.contains(&code) || code.ends_with(".Malformed")
    {
        return ProviderError::InvalidArgument {
            path: path_for_code(code),
            code: code_s,
            message,
        };
    }
    if THROTTLED.contains(&code) {
        return ProviderError::Throttled {
            code: code_s,
            message,
        };
    }
    if NOT_FOUND.contains(&code)
        || code.ends_with(".NotFound")
        || code.ends_with("NotFoundException")
        // ELB (`LoadBalancerNotFound`, `AccessPointNotFound`) and RDS,
        // ElastiCache, Redshift (`DBSubnetGroupNotFoundFault`).
        || code.ends_with("NotFound")
        || code.ends_with("NotFoundFault")
    {
        return ProviderError::NotFound(format!("{op}: {code}: {message}"));
    }
    if CONFLICT.contains(&code) || code.ends_with(".InUse") {
        return ProviderError::Conflict {
            code: code_s,
            message,
        };
    }
    ProviderError::Api {
        code: code_s,
        message: format!("{op}: {message}"),
    }
}

fn path_for_code(code: &str) -> Option<Vec<PathStep>> {
    let name = if code.starts_with("InvalidAMIID.") {
        "ami"
    } else if code.starts_with("InvalidSubnet.") || code == "InvalidVpc.Range" {
        "cidr_block"
    } else if code.starts_with("InvalidKeyPair.") {
        "key_name"
    } else if code == "InvalidInstanceType" {
        "instance_type"
    } else if code == "InvalidUserData.Malformed" {
        "user_data"
    } else if code.starts_with("InvalidIAMInstanceProfile.") {
        "iam_instance_profile"
    } else if code == "InvalidBucketName" || code.starts_with("BucketAlready") {
        "bucket"
    } else if code == "RepositoryAlreadyExistsException" || code == "InvalidGroup.Duplicate" {
        "name"
    } else if code == "InvalidTargetBucketForLogging" {
        "target_bucket"
    } else if code == "InvalidBlockDeviceMapping" {
        "root_block_device"
    } else {
        return None;
    };
    Some(vec![PathStep::Key(name.to_string())])
}

/// True for a classified "it does not exist".
pub(crate) fn is_not_found(err: &ProviderError) -> bool {
    matches!(err, ProviderError::NotFound(_))
}

/// Attach an attribute path to an argument error that has none.
pub(crate) fn at_path(err: ProviderError, attr: &str) -> ProviderError {
    match err {
        ProviderError::InvalidArgument {
            path: None,
            code,
            message,
        } => ProviderError::InvalidArgument {
            path: Some(vec![PathStep::Key(attr.to_string())]),
            code,
            message,
        },
        other => other,
    }
}

/// An API error known to be about one argument (a name taken, a
/// malformed document or key): an argument error at `attr`, whatever path
/// the code suggested for other types.
pub(crate) fn argument_error(err: ProviderError, attr: &str) -> ProviderError {
    match err {
        ProviderError::InvalidArgument { code, message, .. }
        | ProviderError::Api { code, message }
        | ProviderError::Conflict { code, message } => ProviderError::InvalidArgument {
            path: Some(vec![PathStep::Key(attr.to_string())]),
            code,
            message,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refused_connections_count_as_never_sent() {
        use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsError;
        use aws_smithy_runtime_api::client::result::ConnectorError;
        use std::io::{Error, ErrorKind};
        let io = |kind: ErrorKind| -> SdkError<DescribeVpcsError, HttpResponse> {
            SdkError::dispatch_failure(ConnectorError::io(Box::new(Error::from(kind))))
        };
        assert!(never_sent(&io(ErrorKind::ConnectionRefused)));
        assert!(never_sent(&io(ErrorKind::NetworkUnreachable)));
        // A reset or a cut connection may have carried the request.
        assert!(!never_sent(&io(ErrorKind::ConnectionReset)));
        assert!(!never_sent(&io(ErrorKind::UnexpectedEof)));
        let timeout: SdkError<DescribeVpcsError, HttpResponse> = SdkError::dispatch_failure(
            ConnectorError::timeout(Box::new(Error::from(ErrorKind::TimedOut))),
        );
        assert!(!never_sent(&timeout));
    }

    #[test]
    fn codes_are_classified() {
        let c = |code: &str| classify_code("ec2:Op", code, "m".into());
        assert!(matches!(
            c("InvalidInstanceID.NotFound"),
            ProviderError::NotFound(_)
        ));
        assert!(matches!(
            c("InvalidVpcID.NotFound"),
            ProviderError::NotFound(_)
        ));
        assert!(matches!(
            c("RepositoryNotFoundException"),
            ProviderError::NotFound(_)
        ));
        assert!(matches!(c("NoSuchBucket"), ProviderError::NotFound(_)));
        assert!(matches!(
            c("RequestLimitExceeded"),
            ProviderError::Throttled { .. }
        ));
        assert!(matches!(c("SlowDown"), ProviderError::Throttled { .. }));
        assert!(matches!(
            c("DependencyViolation"),
            ProviderError::Conflict { .. }
        ));
        assert!(matches!(
            c("BucketNotEmpty"),
            ProviderError::Conflict { .. }
        ));
        assert!(matches!(c("SomethingElse"), ProviderError::Api { .. }));
        match c("InvalidAMIID.NotFound") {
            ProviderError::InvalidArgument { path, .. } => {
                assert_eq!(path, Some(vec![PathStep::Key("ami".into())]));
            }
            other => panic!("unexpected {other:?}"),
        }
        match c("InvalidSubnet.Range") {
            ProviderError::InvalidArgument { path, .. } => {
                assert_eq!(path, Some(vec![PathStep::Key("cidr_block".into())]));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn creates_without_tokens_are_not_idempotent() {
        for op in [
            "ec2:CreateVpc",
            "ec2:CreateSecurityGroup",
            "s3:CreateBucket",
            "ecr:CreateRepository",
            "iam:CreateRole",
            "ec2:AllocateAddress",
            "rds:CreateDBInstance",
            "ec2:RunInstances",
        ] {
            assert!(is_non_idempotent(op), "{op}");
        }
        for op in [
            "eks:CreateCluster",
            "ec2:CreateTags",
            "autoscaling:CreateOrUpdateTags",
            "ec2:DescribeVpcs",
            "s3:PutBucketTagging",
            "ec2:DeleteVpc",
        ] {
            assert!(!is_non_idempotent(op), "{op}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) <= BASE_BACKOFF);
        assert!(backoff(3) >= BASE_BACKOFF * 4);
        assert!(backoff(30) <= MAX_BACKOFF);
    }
}

#[cfg(test)]
mod error_text_tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn error_chain_is_display_only_and_drops_repeats() {
        let e = Layer(
            "dispatch failure",
            Some(Box::new(Layer(
                "io error",
                Some(Box::new(Layer("io error", None))),
            ))),
        );
        assert_eq!(error_chain(&e), "dispatch failure: io error");
    }

    #[test]
    fn the_chain_report_becomes_one_line() {
        let sdk = "dispatch failure: other: no credentials found in chain. Attempted:\n  \
                   Environment: not set\n  Ec2InstanceMetadata: IMDS disabled";
        assert_eq!(
            one_line(sdk),
            "no credentials found in chain. Attempted: Environment: not set; \
             Ec2InstanceMetadata: IMDS disabled"
        );
    }

    #[test]
    fn missing_credentials_is_one_short_diagnostic() {
        assert!(is_credentials_error(
            "failed to construct request: no credentials provider"
        ));
        assert!(!is_credentials_error("io error: connection refused"));
        let text = no_credentials("the credentials provider was not enabled").to_string();
        for part in [
            "no valid AWS credentials",
            "IMDS",
            "SSO",
            "AWS_ENDPOINT_URL",
        ] {
            assert!(text.contains(part), "{text}");
        }
    }
}
