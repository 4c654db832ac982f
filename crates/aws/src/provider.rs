//! The provider factory, the configured provider and its SDK clients.

use crate::Result;
use crate::api::ApiCalls;
use crate::credentials::{
    AssumeRoleSource, CredentialSource, RefreshingCredentials, SharedRefreshing,
};
use crate::data_sources::{DataSourceType, all_data_source_types};
use crate::resources::instance_waiter::InstanceWaiter;
use crate::resources::{ResourceType, all_resource_types};
use crate::schema::SchemaAttrs;
use crate::tags::ProviderTags;
use crate::values::{first_block, get_bool, get_str, get_str_map, get_strings};
use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, Provider, ProviderError, ProviderFactory,
    ProviderSchema, ResourceContext, Schema,
};

/// Ownership tag: the environment that owns the object.
pub const OWNER_ENVIRONMENT_TAG: &str = "terrace:environment";
/// Ownership tag: the resource instance address that owns the object.
pub const OWNER_ADDRESS_TAG: &str = "terrace:address";

/// The services that can have their endpoint set in `endpoints {}`.
const SERVICES: &[&str] = &[
    "ec2",
    "s3",
    "ecr",
    "eks",
    "iam",
    "autoscaling",
    "sts",
    "kms",
    "logs",
    "elbv2",
    "elb",
    "ssm",
    "secretsmanager",
    "rds",
    "elasticache",
    "redshift",
];

type ResourceTypes = BTreeMap<&'static str, Box<dyn ResourceType>>;
type DataSourceTypes = BTreeMap<&'static str, Box<dyn DataSourceType>>;

/// Creates [`AwsProvider`]s from `provider "aws"` blocks.
pub struct AwsProviderFactory {
    schema: ProviderSchema,
    env_overrides: Vec<(String, String)>,
    /// Whether any provider of this factory got an answer from AWS: an
    /// endpoint that answered the plan and refuses the apply is having an
    /// outage, not a wrong address (see [`crate::api`]).
    answered: Arc<std::sync::atomic::AtomicBool>,
}

impl Default for AwsProviderFactory {
    fn default() -> Self {
        Self::new()
    }
}

impl AwsProviderFactory {
    /// A factory that resolves credentials, region and endpoint through the
    /// standard AWS chain (environment, profiles, instance metadata).
    pub fn new() -> Self {
        AwsProviderFactory {
            schema: provider_schema(),
            env_overrides: Vec::new(),
            answered: Default::default(),
        }
    }

    /// A factory that takes `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` /
    /// `AWS_DEFAULT_REGION` and `AWS_PROFILE` from `vars` before the process
    /// environment (tests in one process pointing at different endpoints).
    pub fn with_env_overrides(vars: Vec<(String, String)>) -> Self {
        AwsProviderFactory {
            schema: provider_schema(),
            env_overrides: vars,
            answered: Default::default(),
        }
    }
}

#[async_trait]
impl ProviderFactory for AwsProviderFactory {
    fn name(&self) -> &str {
        "aws"
    }

    fn schema(&self) -> &ProviderSchema {
        &self.schema
    }

    async fn configure(&self, config: &Value, environment: &str) -> Result<Arc<dyn Provider>> {
        let mut provider = AwsProvider::connect(config, environment, &self.env_overrides).await?;
        provider.calls.share_answered(self.answered.clone());
        Ok(Arc::new(provider))
    }
}

fn provider_schema() -> ProviderSchema {
    let mut endpoints = Schema::new();
    for s in SERVICES {
        endpoints = endpoints.attr(s, Attribute::optional(AttrType::String));
    }
    let provider = Schema::new()
        .attrs(
            &["region", "profile", "access_key"],
            Attribute::optional(AttrType::String),
        )
        .attrs(
            &["secret_key", "token"],
            Attribute::optional(AttrType::String).sensitive(),
        )
        .attrs(
            &[
                "s3_use_path_style",
                "skip_credentials_validation",
                "skip_metadata_api_check",
                "skip_requesting_account_id",
                "skip_region_validation",
            ],
            Attribute::optional(AttrType::Bool),
        )
        .list_block(
            "default_tags",
            0,
            1,
            Schema::new().attr(
                "tags",
                Attribute::optional(AttrType::map_of(AttrType::String)),
            ),
        )
        .attrs(
            &["allowed_account_ids", "forbidden_account_ids"],
            Attribute::optional(AttrType::set_of(AttrType::String)),
        )
        .list_block(
            "ignore_tags",
            0,
            1,
            Schema::new().attrs(
                &["keys", "key_prefixes"],
                Attribute::optional(AttrType::set_of(AttrType::String)),
            ),
        )
        .list_block("endpoints", 0, 1, endpoints)
        .list_block(
            "assume_role",
            0,
            1,
            Schema::new()
                .attrs(
                    &[
                        "role_arn",
                        "session_name",
                        "external_id",
                        "duration",
                        "policy",
                        "source_identity",
                    ],
                    Attribute::optional(AttrType::String),
                )
                .attrs(
                    &["policy_arns", "transitive_tag_keys"],
                    Attribute::optional(AttrType::set_of(AttrType::String)),
                )
                .attr(
                    "tags",
                    Attribute::optional(AttrType::map_of(AttrType::String)),
                ),
        );
    ProviderSchema {
        provider,
        resources: all_resource_types()
            .iter()
            .map(|r| {
                let schema = crate::resources::unimplemented::complete_schema(r.name(), r.schema());
                (r.name().to_string(), schema)
            })
            .collect(),
        data_sources: all_data_source_types()
            .iter()
            .map(|d| (d.name().to_string(), d.schema()))
            .collect(),
    }
}

/// Terraform's account check, naming the account of the credentials and
/// the configured list.
fn account_id_allowed(account: &str, allowed: &[String], forbidden: &[String]) -> Result<()> {
    if !allowed.is_empty() && !allowed.iter().any(|a| a == account) {
        return Err(ProviderError::Config(format!(
            "AWS account ID not allowed: the credentials are for account {account}, \
             and allowed_account_ids lists only {}; use credentials (or assume_role) for an allowed account",
            allowed.join(", ")
        )));
    }
    if forbidden.iter().any(|f| f == account) {
        return Err(ProviderError::Config(format!(
            "AWS account ID not allowed: the credentials are for account {account}, \
             which forbidden_account_ids ({}) forbids; use credentials for another account",
            forbidden.join(", ")
        )));
    }
    Ok(())
}

/// The `endpoints {}` block: service → URL, every service known.
fn configured_endpoints(config: &Value) -> Result<BTreeMap<String, String>> {
    let endpoints: BTreeMap<String, String> = single_block(config, "endpoints")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    if let Some(unknown) = endpoints.keys().find(|k| !SERVICES.contains(&k.as_str())) {
        return Err(ProviderError::Config(format!(
            "endpoints: unsupported service {unknown:?}"
        )));
    }
    Ok(endpoints)
}

/// Terraform's bounds of an `assume_role` session.
const MIN_SESSION: Duration = Duration::from_secs(15 * 60);
const MAX_SESSION: Duration = Duration::from_secs(12 * 3600);

/// The `assume_role` block as a credentials source whose STS client signs
/// with the base credentials of `base` (and uses `endpoints { sts }`).
fn assume_role_source(
    block: &Value,
    base: &SdkConfig,
    sts_endpoint: Option<String>,
) -> Result<AssumeRoleSource> {
    let bad = |m: String| ProviderError::Config(format!("assume_role: {m}"));
    let role_arn = get_str(block, "role_arn").ok_or_else(|| {
        bad("role_arn is required: the ARN of the role to assume, e.g. \
             \"arn:aws:iam::123456789012:role/deployer\""
            .into())
    })?;
    for unsupported in ["tags", "transitive_tag_keys"] {
        let set = block.get(unsupported).is_some_and(|v| {
            !v.is_null()
                && v.as_map().is_none_or(|m| !m.is_empty())
                && v.as_list().is_none_or(|l| !l.is_empty())
        });
        if set {
            return Err(bad(format!(
                "terrace does not implement `{unsupported}` of assume_role yet; remove it"
            )));
        }
    }
    let duration = match get_str(block, "duration") {
        Some(text) => {
            let d = humantime::parse_duration(text.trim()).map_err(|e| {
                bad(format!(
                    "duration {text:?} is not a duration ({e}); write e.g. \"1h\" or \"30m\""
                ))
            })?;
            if !(MIN_SESSION..=MAX_SESSION).contains(&d) {
                return Err(bad(format!(
                    "duration {text:?} is outside 15m to 12h, the session lengths STS allows"
                )));
            }
            Some(d)
        }
        None => None,
    };
    let mut sts = aws_sdk_sts::config::Builder::from(base);
    if let Some(u) = sts_endpoint {
        sts = sts.endpoint_url(u);
    }
    let session_name = get_str(block, "session_name").unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!("terrace-{now}")
    });
    Ok(AssumeRoleSource {
        client: aws_sdk_sts::Client::from_conf(sts.build()),
        role_arn,
        session_name,
        external_id: get_str(block, "external_id"),
        duration,
        policy: get_str(block, "policy"),
        policy_arns: get_strings(block, "policy_arns"),
        source_identity: get_str(block, "source_identity"),
    })
}

/// A configured AWS provider: SDK clients built from one `SdkConfig`.
pub struct AwsProvider {
    schema: Arc<ProviderSchema>,
    resources: ResourceTypes,
    data_sources: DataSourceTypes,
    calls: ApiCalls,
    pub(crate) sdk_config: SdkConfig,
    pub(crate) ec2: aws_sdk_ec2::Client,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) ecr: aws_sdk_ecr::Client,
    pub(crate) eks: aws_sdk_eks::Client,
    pub(crate) iam: aws_sdk_iam::Client,
    pub(crate) autoscaling: aws_sdk_autoscaling::Client,
    pub(crate) sts: aws_sdk_sts::Client,
    pub(crate) kms: aws_sdk_kms::Client,
    pub(crate) logs: aws_sdk_cloudwatchlogs::Client,
    pub(crate) elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub(crate) elb: aws_sdk_elasticloadbalancing::Client,
    pub(crate) ssm: aws_sdk_ssm::Client,
    pub(crate) secretsmanager: aws_sdk_secretsmanager::Client,
    pub(crate) rds: aws_sdk_rds::Client,
    pub(crate) elasticache: aws_sdk_elasticache::Client,
    pub(crate) redshift: aws_sdk_redshift::Client,
    pub(crate) region: String,
    /// `default_tags` (deref to the map) and `ignore_tags`.
    pub(crate) default_tags: ProviderTags,
    /// Raw user data seen at plan time, by its SHA1 hex (state stores only
    /// the hash, as Terraform does; create needs the text).
    pub(crate) user_data: std::sync::Mutex<BTreeMap<String, String>>,
    /// Batched waits for instance states, shared by all concurrent
    /// creates, updates and deletes of `aws_instance`.
    pub(crate) instance_waiter: InstanceWaiter,
    environment: String,
}

/// A single nested block given either as a one-item list (as evaluated
/// from HCL) or as a map.
fn single_block<'a>(config: &'a Value, key: &str) -> Option<&'a Value> {
    match config.get(key) {
        Some(v) if v.as_map().is_some() => Some(v),
        _ => first_block(config, key),
    }
}

/// The override of the per-attempt timeout of every AWS call (passed in
/// through [`AwsProviderFactory::with_env_overrides`]).
pub const CALL_TIMEOUT_VAR: &str = "TERRACE_AWS_TIMEOUT";
/// How long one attempt of an AWS call may take, by default.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Every AWS call is bounded: connecting takes at most 10 s (or the attempt
/// timeout if shorter) and each attempt `attempt`, so a hung endpoint ends in
/// an error. The SDK makes one attempt per call; `ApiCalls::call` decides
/// what is sent again.
pub(crate) fn call_timeouts(attempt: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(attempt.min(Duration::from_secs(10)))
        .operation_attempt_timeout(attempt)
        .build()
}

impl AwsProvider {
    /// Build a provider from a `provider "aws"` block's value. `env_overrides`
    /// take precedence over the process environment (see
    /// [`AwsProviderFactory::with_env_overrides`]).
    pub async fn connect(
        config: &Value,
        environment: &str,
        env_overrides: &[(String, String)],
    ) -> Result<Self> {
        let var = |name: &str| -> Option<String> {
            env_overrides
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let attempt_timeout = match var(CALL_TIMEOUT_VAR) {
            Some(s) => humantime::parse_duration(s.trim()).map_err(|e| {
                ProviderError::Config(format!(
                    "{CALL_TIMEOUT_VAR}={s:?} is not a duration ({e}); use e.g. 30s or 2m"
                ))
            })?,
            None => DEFAULT_CALL_TIMEOUT,
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            // No SDK retries: `ApiCalls::call` retries what is safe to send
            // again (throttling; idempotent calls whose answer was lost) and
            // never re-sends a create that has no idempotency token.
            .retry_config(RetryConfig::disabled())
            .timeout_config(call_timeouts(attempt_timeout));
        let region = get_str(config, "region")
            .or_else(|| var("AWS_REGION"))
            .or_else(|| var("AWS_DEFAULT_REGION"));
        if let Some(r) = region {
            loader = loader.region(Region::new(r));
        }
        if let Some(profile) = get_str(config, "profile").or_else(|| var("AWS_PROFILE")) {
            loader = loader.profile_name(profile);
        }
        let in_block = get_str(config, "access_key").is_some();
        // The SDK's chain reads the process environment first.
        let in_env = |name: &str| {
            var(name)
                .or_else(|| std::env::var(name).ok())
                .is_some_and(|v| !v.is_empty())
        };
        let access = get_str(config, "access_key").or_else(|| var("AWS_ACCESS_KEY_ID"));
        let secret = get_str(config, "secret_key").or_else(|| var("AWS_SECRET_ACCESS_KEY"));
        let source = match (&access, &secret) {
            (Some(_), Some(_)) if in_block => {
                CredentialSource::Static("access_key/secret_key in the provider block")
            }
            _ if in_env("AWS_ACCESS_KEY_ID") && in_env("AWS_SECRET_ACCESS_KEY") => {
                CredentialSource::Static(
                    "the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN)",
                )
            }
            _ => CredentialSource::Chain,
        };
        match (access, secret) {
            (Some(a), Some(s)) => {
                let token = get_str(config, "token").or_else(|| var("AWS_SESSION_TOKEN"));
                loader = loader.credentials_provider(aws_sdk_sts::config::Credentials::new(
                    a,
                    s,
                    token,
                    None,
                    "terrace-provider-config",
                ));
            }
            (None, None) => {}
            _ => {
                return Err(ProviderError::Config(
                    "access_key and secret_key must be given together".to_string(),
                ));
            }
        }
        if let Some(url) = var("AWS_ENDPOINT_URL") {
            loader = loader.endpoint_url(url);
        }
        let sdk_config = loader.load().await;
        let region = sdk_config.region().map(|r| r.to_string()).ok_or_else(|| {
            ProviderError::Config(
                "no AWS region: set `region` in the provider block or AWS_REGION in the environment".to_string(),
            )
        })?;
        let endpoints = configured_endpoints(config)?;
        let ep = |s: &str| endpoints.get(s).cloned();
        // `assume_role`: the provider's credentials are role sessions asked
        // for with the base credentials (renewed like any other source).
        let assumed = match single_block(config, "assume_role") {
            Some(block) => Some(assume_role_source(block, &sdk_config, ep("sts"))?),
            None => None,
        };
        let first_session = match &assumed {
            Some(source) => Some(source.assume().await?),
            None => None,
        };
        // The provider holds the credentials itself (the SDK's cache is off),
        // so a call rejected as expired can fetch new ones (credentials.rs).
        let credentials = match assumed {
            Some(source) => Some(Arc::new(RefreshingCredentials::new(
                SharedCredentialsProvider::new(source),
                CredentialSource::Chain,
            ))),
            None => sdk_config
                .credentials_provider()
                .map(|inner| Arc::new(RefreshingCredentials::new(inner, source))),
        };
        if let (Some(c), Some(first)) = (&credentials, first_session) {
            c.prime(first).await;
        }
        let sdk_config = match &credentials {
            Some(c) => sdk_config
                .into_builder()
                .credentials_provider(SharedCredentialsProvider::new(SharedRefreshing(c.clone())))
                .identity_cache(aws_config::identity::IdentityCache::no_cache())
                .build(),
            None => sdk_config,
        };

        let mut ec2 = aws_sdk_ec2::config::Builder::from(&sdk_config);
        if let Some(u) = ep("ec2") {
            ec2 = ec2.endpoint_url(u);
        }
        let custom_s3 = ep("s3").is_some()
            || sdk_config.endpoint_url().is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let mut s3 = aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(get_bool(config, "s3_use_path_style").unwrap_or(custom_s3));
        if let Some(u) = ep("s3") {
            s3 = s3.endpoint_url(u);
        }
        // A client per service, honouring its `endpoints {}` entry.
        macro_rules! client {
            ($krate:ident, $service:literal) => {{
                let mut b = $krate::config::Builder::from(&sdk_config);
                if let Some(u) = ep($service) {
                    b = b.endpoint_url(u);
                }
                $krate::Client::from_conf(b.build())
            }};
        }

        let ignore = single_block(config, "ignore_tags");
        let default_tags = ProviderTags {
            defaults: single_block(config, "default_tags")
                .map(|b| get_str_map(b, "tags"))
                .unwrap_or_default(),
            ignore_keys: ignore.map(|b| get_strings(b, "keys")).unwrap_or_default(),
            ignore_prefixes: ignore
                .map(|b| get_strings(b, "key_prefixes"))
                .unwrap_or_default(),
        };

        let provider = AwsProvider {
            schema: Arc::new(provider_schema()),
            resources: all_resource_types()
                .into_iter()
                .map(|r| (r.name(), r))
                .collect(),
            data_sources: all_data_source_types()
                .into_iter()
                .map(|d| (d.name(), d))
                .collect(),
            calls: ApiCalls::with_credentials(credentials),
            ec2: aws_sdk_ec2::Client::from_conf(ec2.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            ecr: client!(aws_sdk_ecr, "ecr"),
            eks: client!(aws_sdk_eks, "eks"),
            iam: client!(aws_sdk_iam, "iam"),
            autoscaling: client!(aws_sdk_autoscaling, "autoscaling"),
            sts: client!(aws_sdk_sts, "sts"),
            kms: client!(aws_sdk_kms, "kms"),
            logs: client!(aws_sdk_cloudwatchlogs, "logs"),
            elbv2: client!(aws_sdk_elasticloadbalancingv2, "elbv2"),
            elb: client!(aws_sdk_elasticloadbalancing, "elb"),
            ssm: client!(aws_sdk_ssm, "ssm"),
            secretsmanager: client!(aws_sdk_secretsmanager, "secretsmanager"),
            rds: client!(aws_sdk_rds, "rds"),
            elasticache: client!(aws_sdk_elasticache, "elasticache"),
            redshift: client!(aws_sdk_redshift, "redshift"),
            region,
            default_tags,
            user_data: Default::default(),
            instance_waiter: InstanceWaiter::default(),
            environment: environment.to_string(),
            sdk_config,
        };
        provider.check_account_id(config).await?;
        Ok(provider)
    }

    /// `allowed_account_ids` / `forbidden_account_ids`: asked once, when
    /// the provider is configured, so a plan against the wrong account stops
    /// before any change.
    async fn check_account_id(&self, config: &Value) -> Result<()> {
        let allowed = get_strings(config, "allowed_account_ids");
        let forbidden = get_strings(config, "forbidden_account_ids");
        if allowed.is_empty() && forbidden.is_empty() {
            return Ok(());
        }
        let me = self
            .call("sts:GetCallerIdentity", || {
                self.sts.get_caller_identity().send()
            })
            .await?;
        let account = me.account().unwrap_or_default();
        account_id_allowed(account, &allowed, &forbidden)
    }

    /// The resolved region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The environment this provider was configured for.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The shared SDK configuration (credentials, region, retry policy).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk_config
    }

    /// The EC2 client (for tests and tools; calls made with it directly are
    /// not counted in [`Provider::api_calls`]).
    pub fn ec2_client(&self) -> &aws_sdk_ec2::Client {
        &self.ec2
    }

    pub fn s3_client(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    pub fn ecr_client(&self) -> &aws_sdk_ecr::Client {
        &self.ecr
    }

    pub fn eks_client(&self) -> &aws_sdk_eks::Client {
        &self.eks
    }

    pub fn iam_client(&self) -> &aws_sdk_iam::Client {
        &self.iam
    }

    pub fn autoscaling_client(&self) -> &aws_sdk_autoscaling::Client {
        &self.autoscaling
    }

    pub fn sts_client(&self) -> &aws_sdk_sts::Client {
        &self.sts
    }

    pub fn kms_client(&self) -> &aws_sdk_kms::Client {
        &self.kms
    }

    pub fn logs_client(&self) -> &aws_sdk_cloudwatchlogs::Client {
        &self.logs
    }

    pub fn elbv2_client(&self) -> &aws_sdk_elasticloadbalancingv2::Client {
        &self.elbv2
    }

    pub fn elb_client(&self) -> &aws_sdk_elasticloadbalancing::Client {
        &self.elb
    }

    pub fn ssm_client(&self) -> &aws_sdk_ssm::Client {
        &self.ssm
    }

    pub fn secretsmanager_client(&self) -> &aws_sdk_secretsmanager::Client {
        &self.secretsmanager
    }

    pub fn rds_client(&self) -> &aws_sdk_rds::Client {
        &self.rds
    }

    pub fn elasticache_client(&self) -> &aws_sdk_elasticache::Client {
        &self.elasticache
    }

    pub fn redshift_client(&self) -> &aws_sdk_redshift::Client {
        &self.redshift
    }

    /// Run one counted SDK operation: `op` is `service:Operation`, `f`
    /// builds and sends the request (called again on throttling retries).
    pub(crate) async fn call<T, E, F, Fut>(&self, op: &str, f: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.calls.call(op, f).await
    }

    /// Count an SDK call made without [`AwsProvider::call`] (calls that
    /// need the raw response).
    pub(crate) fn record_call(&self, op: &str) {
        self.calls.record(op);
    }

    /// The ARN partition of the region.
    pub(crate) fn partition(&self) -> &'static str {
        if self.region.starts_with("cn-") {
            "aws-cn"
        } else if self.region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }

    /// `arn:<partition>:<service>:<region>:<account>:<resource>`.
    pub(crate) fn arn(&self, service: &str, account: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{account}:{resource}",
            self.partition(),
            self.region
        )
    }

    /// The schema of a resource type this provider supports.
    pub(crate) fn resource_schema(&self, type_name: &str) -> Schema {
        self.schema
            .resources
            .get(type_name)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn data_source_schema(&self, type_name: &str) -> Schema {
        self.schema
            .data_sources
            .get(type_name)
            .cloned()
            .unwrap_or_default()
    }

    fn resource(&self, type_name: &str) -> Result<&dyn ResourceType> {
        self.resources
            .get(type_name)
            .map(|b| b.as_ref())
            .ok_or_else(|| {
                ProviderError::Unsupported(format!("resource type {type_name} is not supported"))
            })
    }
}

/// Every type's schema has Terraform's `timeouts` block, which no object
/// ever holds (`resources::unimplemented`): a type that builds its value by
/// hand gets it empty, as planned.
fn with_empty_timeouts(mut v: Value) -> Value {
    if let Some(m) = v.as_map_mut() {
        m.entry("timeouts".to_string())
            .or_insert_with(|| Value::List(Vec::new()));
    }
    v
}

#[async_trait]
impl Provider for AwsProvider {
    fn schema(&self) -> &ProviderSchema {
        &self.schema
    }

    fn plan_resource(
        &self,
        type_name: &str,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let resource = self.resource(type_name)?;
        let config = crate::resources::unimplemented::check(type_name, config, &self.region)?;
        resource.plan(self, prior, &config, ctx)
    }

    async fn read_resources(&self, type_name: &str, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        if prior.is_empty() {
            return Ok(Vec::new());
        }
        let out: Vec<Option<Value>> = self
            .resource(type_name)?
            .read_many(self, prior)
            .await?
            .into_iter()
            .map(|v| v.map(with_empty_timeouts))
            .collect();
        debug_assert_eq!(out.len(), prior.len());
        Ok(out)
    }

    async fn create(&self, type_name: &str, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        self.resource(type_name)?
            .create(self, planned, ctx)
            .await
            .map(with_empty_timeouts)
    }

    async fn update(
        &self,
        type_name: &str,
        prior: &Value,
        planned: &Value,
        ctx: &ResourceContext,
    ) -> Result<Value> {
        self.resource(type_name)?
            .update(self, prior, planned, ctx)
            .await
            .map(with_empty_timeouts)
    }

    async fn delete(&self, type_name: &str, prior: &Value) -> Result<()> {
        self.resource(type_name)?.delete(self, prior).await
    }

    async fn import(&self, type_name: &str, id: &str) -> Result<Option<Value>> {
        Ok(self
            .resource(type_name)?
            .import(self, id)
            .await?
            .map(with_empty_timeouts))
    }

    async fn read_data(&self, type_name: &str, config: &Value) -> Result<Value> {
        let ds = self.data_sources.get(type_name).ok_or_else(|| {
            ProviderError::Unsupported(format!("data source {type_name} is not supported"))
        })?;
        ds.read(self, config).await
    }

    async fn find_created(
        &self,
        type_name: &str,
        token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>> {
        self.resource(type_name)?
            .find_created(self, token, ctx)
            .await
    }

    async fn list_owned(&self, type_name: &str, environment: &str) -> Result<Vec<Value>> {
        self.resource(type_name)?
            .list_owned(self, environment)
            .await
    }

    fn api_calls(&self) -> Vec<(String, u64)> {
        self.calls.snapshot()
    }

    async fn caller_identity(&self) -> Option<terrace_provider::CallerIdentity> {
        match self
            .call("sts:GetCallerIdentity", || {
                self.sts.get_caller_identity().send()
            })
            .await
        {
            Ok(me) => Some(terrace_provider::CallerIdentity {
                account: me.account().unwrap_or_default().to_string(),
                arn: me.arn().unwrap_or_default().to_string(),
            }),
            Err(e) => {
                tracing::warn!("could not read the AWS caller identity for the ledger: {e}");
                None
            }
        }
    }
}
