//! `data "aws_eks_cluster"`, `data "aws_eks_cluster_auth"` and
//! `data "aws_eks_addon_version"`.
//!
//! The cluster token is computed locally, as the AWS IAM authenticator
//! does: an STS `GetCallerIdentity` URL presigned with SigV4 (the SDK's
//! `aws-sigv4` crate) for 60 seconds, with the `x-k8s-aws-id: <cluster>`
//! header signed in, base64url without padding, prefixed `k8s-aws-v1.`.
//! Kubernetes' API server sends that URL to STS to learn who is calling.

use super::DataSourceType;
use crate::Result;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::values::{Obj, get_bool, get_str};
use async_trait::async_trait;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use base64::Engine;
use std::time::{Duration, SystemTime};
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, Provider, ProviderError, Schema};

pub(crate) struct EksCluster;
pub(crate) struct EksClusterAuth;
pub(crate) struct EksAddonVersion;

/// The attributes `data "aws_eks_cluster"` copies from the cluster.
const CLUSTER_ATTRS: &[&str] = &[
    "id",
    "arn",
    "role_arn",
    "version",
    "endpoint",
    "platform_version",
    "status",
    "created_at",
    "certificate_authority",
    "identity",
    "enabled_cluster_log_types",
    "vpc_config",
    "access_config",
    "kubernetes_network_config",
    "tags",
];

#[async_trait]
impl DataSourceType for EksCluster {
    fn name(&self) -> &'static str {
        "aws_eks_cluster"
    }

    fn schema(&self) -> Schema {
        let mut s = Schema::new()
            .attr("name", Attribute::required(AttrType::String))
            .attr("cluster_id", Attribute::computed(AttrType::String));
        for name in CLUSTER_ATTRS {
            let ty = match *name {
                "enabled_cluster_log_types" => AttrType::set_of(AttrType::String),
                "tags" => AttrType::map_of(AttrType::String),
                "certificate_authority"
                | "identity"
                | "vpc_config"
                | "access_config"
                | "kubernetes_network_config" => AttrType::Any,
                _ => AttrType::String,
            };
            s = s.attr(name, Attribute::computed(ty));
        }
        s
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let name = get_str(config, "name").unwrap_or_default();
        let cluster = p.import("aws_eks_cluster", &name).await?.ok_or_else(|| {
            ProviderError::NotFound(format!(
                "reading EKS Cluster ({name}): couldn't find resource"
            ))
        })?;
        let mut obj = Obj::new(&p.data_source_schema(self.name())).set("name", name.as_str());
        for key in CLUSTER_ATTRS {
            obj = obj.set(key, cluster.get(key).cloned().unwrap_or(Value::Null));
        }
        Ok(obj.build())
    }
}

/// The STS endpoint the token's URL names: the configured endpoint (a
/// local emulator), else the regional one.
fn sts_url(p: &AwsProvider) -> String {
    let base = p
        .sdk_config
        .endpoint_url()
        .map(str::to_string)
        .unwrap_or_else(|| format!("https://sts.{}.amazonaws.com", p.region));
    format!(
        "{}/?Action=GetCallerIdentity&Version=2011-06-15",
        base.trim_end_matches('/')
    )
}

/// The bearer token for cluster `name` (see the module documentation).
pub(crate) async fn cluster_token(p: &AwsProvider, name: &str, now: SystemTime) -> Result<String> {
    let creds_provider = p.sdk_config.credentials_provider().ok_or_else(|| {
        ProviderError::Config(
            "no AWS credentials provider: a cluster token needs credentials to sign with".into(),
        )
    })?;
    let creds = creds_provider.provide_credentials().await.map_err(|e| {
        ProviderError::Config(format!("no AWS credentials for the cluster token: {e}"))
    })?;
    let identity: aws_smithy_runtime_api::client::identity::Identity = creds.into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params: aws_sigv4::http_request::SigningParams<'_> =
        aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&p.region)
            .name("sts")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| ProviderError::Config(format!("signing the cluster token: {e}")))?
            .into();
    let url = sts_url(p);
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::once(("x-k8s-aws-id", name)),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| ProviderError::Config(format!("signing the cluster token: {e}")))?;
    let (_, query) = sign(request, &params)
        .map_err(|e| ProviderError::Config(format!("signing the cluster token: {e}")))?
        .into_parts()
        .0
        .into_parts();
    let mut presigned = url;
    for (k, v) in query {
        presigned.push('&');
        presigned.push_str(k);
        presigned.push('=');
        presigned.push_str(&percent_encoding::utf8_percent_encode(&v, QUERY_VALUE).to_string());
    }
    Ok(format!(
        "k8s-aws-v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(presigned)
    ))
}

/// RFC 3986 unreserved characters stay; everything else is escaped.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[async_trait]
impl DataSourceType for EksClusterAuth {
    fn name(&self) -> &'static str {
        "aws_eks_cluster_auth"
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("name", Attribute::required(AttrType::String))
            .attr("id", Attribute::computed(AttrType::String))
            .attr("token", Attribute::computed(AttrType::String).sensitive())
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let name = get_str(config, "name").unwrap_or_default();
        if name.is_empty() {
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![terrace_core::PathStep::Key("name".into())]),
                code: "InvalidValue".into(),
                message: "name must be the cluster's name".into(),
            });
        }
        let token = cluster_token(p, &name, SystemTime::now()).await?;
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .set("name", name.as_str())
            .set("id", name.as_str())
            .set("token", Value::from(token).mark_if(true))
            .build())
    }
}

#[async_trait]
impl DataSourceType for EksAddonVersion {
    fn name(&self) -> &'static str {
        "aws_eks_addon_version"
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["addon_name", "kubernetes_version"],
                Attribute::required(AttrType::String),
            )
            .attr("most_recent", Attribute::optional(AttrType::Bool))
            .attrs(&["id", "version"], Attribute::computed(AttrType::String))
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let addon = get_str(config, "addon_name").unwrap_or_default();
        let k8s = get_str(config, "kubernetes_version").unwrap_or_default();
        let most_recent = get_bool(config, "most_recent").unwrap_or(false);
        let mut token: Option<String> = None;
        let mut versions = Vec::new();
        loop {
            let page = p
                .call("eks:DescribeAddonVersions", || {
                    p.eks
                        .describe_addon_versions()
                        .addon_name(&addon)
                        .kubernetes_version(&k8s)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            for info in page.addons() {
                if info.addon_name() == Some(addon.as_str()) {
                    versions.extend(info.addon_versions().iter().cloned());
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        // EKS lists the newest first; the default is the one marked so for
        // this Kubernetes version.
        let chosen = if most_recent {
            versions.first()
        } else {
            versions.iter().find(|v| {
                v.compatibilities()
                    .iter()
                    .any(|c| c.cluster_version() == Some(k8s.as_str()) && c.default_version())
            })
        };
        let version = chosen.and_then(|v| v.addon_version()).ok_or_else(|| {
            ProviderError::NotFound(format!(
                "reading EKS Add-On version info ({addon}, {k8s}): empty result"
            ))
        })?;
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .set("addon_name", addon.as_str())
            .set("kubernetes_version", k8s.as_str())
            .set("most_recent", Value::Bool(most_recent))
            .set("id", addon.as_str())
            .set("version", version)
            .build())
    }
}

#[cfg(test)]
mod tests {
    use super::QUERY_VALUE;

    #[test]
    fn query_values_escape_all_but_unreserved() {
        let v =
            percent_encoding::utf8_percent_encode("a/b c+d=e~f-g_h.i:j", QUERY_VALUE).to_string();
        assert_eq!(v, "a%2Fb%20c%2Bd%3De~f-g_h.i%3Aj");
    }
}
