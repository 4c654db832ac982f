//! `data "aws_partition"` and `data "aws_region"`: computed locally from the
//! provider's region (no API call), as the Terraform AWS provider does.

use super::DataSourceType;
use crate::Result;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::values::{Obj, get_str};
use async_trait::async_trait;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, ProviderError, Schema};

/// `(partition, dns_suffix, reverse_dns_prefix)` of a partition name.
pub(crate) fn partition_dns(partition: &str) -> (&'static str, &'static str) {
    match partition {
        "aws-cn" => ("amazonaws.com.cn", "cn.com.amazonaws"),
        "aws-iso" => ("c2s.ic.gov", "gov.ic.c2s"),
        "aws-iso-b" => ("sc2s.sgov.gov", "gov.sgov.sc2s"),
        _ => ("amazonaws.com", "com.amazonaws"),
    }
}

/// The partition a region belongs to.
pub(crate) fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// Known regions and their descriptions (the provider's endpoints table).
const REGIONS: &[(&str, &str)] = &[
    ("af-south-1", "Africa (Cape Town)"),
    ("ap-east-1", "Asia Pacific (Hong Kong)"),
    ("ap-east-2", "Asia Pacific (Taipei)"),
    ("ap-northeast-1", "Asia Pacific (Tokyo)"),
    ("ap-northeast-2", "Asia Pacific (Seoul)"),
    ("ap-northeast-3", "Asia Pacific (Osaka)"),
    ("ap-south-1", "Asia Pacific (Mumbai)"),
    ("ap-south-2", "Asia Pacific (Hyderabad)"),
    ("ap-southeast-1", "Asia Pacific (Singapore)"),
    ("ap-southeast-2", "Asia Pacific (Sydney)"),
    ("ap-southeast-3", "Asia Pacific (Jakarta)"),
    ("ap-southeast-4", "Asia Pacific (Melbourne)"),
    ("ap-southeast-5", "Asia Pacific (Malaysia)"),
    ("ap-southeast-7", "Asia Pacific (Thailand)"),
    ("ca-central-1", "Canada (Central)"),
    ("ca-west-1", "Canada West (Calgary)"),
    ("cn-north-1", "China (Beijing)"),
    ("cn-northwest-1", "China (Ningxia)"),
    ("eu-central-1", "Europe (Frankfurt)"),
    ("eu-central-2", "Europe (Zurich)"),
    ("eu-north-1", "Europe (Stockholm)"),
    ("eu-south-1", "Europe (Milan)"),
    ("eu-south-2", "Europe (Spain)"),
    ("eu-west-1", "Europe (Ireland)"),
    ("eu-west-2", "Europe (London)"),
    ("eu-west-3", "Europe (Paris)"),
    ("il-central-1", "Israel (Tel Aviv)"),
    ("me-central-1", "Middle East (UAE)"),
    ("me-south-1", "Middle East (Bahrain)"),
    ("mx-central-1", "Mexico (Central)"),
    ("sa-east-1", "South America (Sao Paulo)"),
    ("us-east-1", "US East (N. Virginia)"),
    ("us-east-2", "US East (Ohio)"),
    ("us-gov-east-1", "AWS GovCloud (US-East)"),
    ("us-gov-west-1", "AWS GovCloud (US-West)"),
    ("us-west-1", "US West (N. California)"),
    ("us-west-2", "US West (Oregon)"),
];

/// The EC2 endpoint host Terraform reports as a region's `endpoint`.
fn endpoint_of(region: &str) -> String {
    let (dns, _) = partition_dns(partition_of(region));
    format!("ec2.{region}.{dns}")
}

/// Resolve `aws_region`'s arguments to one region: `region` (v6) or
/// `name` (v5), else the region whose `endpoint` matches, else the
/// provider's. Errors read as the Terraform AWS provider's.
pub(crate) fn resolve_region(
    provider_region: &str,
    name: Option<&str>,
    endpoint: Option<&str>,
) -> Result<(String, String)> {
    let describe = |r: &str| {
        REGIONS
            .iter()
            .find(|(n, _)| *n == r)
            .map(|(_, d)| d.to_string())
    };
    if let Some(name) = name {
        let description = describe(name)
            .or_else(|| (name == provider_region).then(String::new))
            .ok_or_else(|| {
                ProviderError::Api {
                    code: "RegionNotFound".into(),
                    message: format!(
                        "reading AWS Region: region not found for name: {name:?} (use a region name such as \"us-east-1\", or leave `region` unset for the provider's region)"
                    ),
                }
            })?;
        if let Some(ep) = endpoint
            && ep != endpoint_of(name)
        {
            return Err(ProviderError::Api {
                code: "RegionNotFound".into(),
                message: format!(
                    "reading AWS Region: endpoint {ep:?} is not the endpoint of region {name:?} ({:?})",
                    endpoint_of(name)
                ),
            });
        }
        return Ok((name.to_string(), description));
    }
    if let Some(ep) = endpoint {
        return REGIONS
            .iter()
            .find(|(n, _)| endpoint_of(n) == ep)
            .map(|(n, d)| (n.to_string(), d.to_string()))
            .ok_or_else(|| ProviderError::Api {
                code: "RegionNotFound".into(),
                message: format!(
                    "reading AWS Region: region not found for endpoint: {ep:?} (an endpoint looks like \"ec2.us-east-1.amazonaws.com\")"
                ),
            });
    }
    Ok((
        provider_region.to_string(),
        describe(provider_region).unwrap_or_default(),
    ))
}

pub(crate) struct Partition;

#[async_trait]
impl DataSourceType for Partition {
    fn name(&self) -> &'static str {
        "aws_partition"
    }

    fn schema(&self) -> Schema {
        Schema::new().attrs(
            &["id", "partition", "dns_suffix", "reverse_dns_prefix"],
            Attribute::computed(AttrType::String),
        )
    }

    async fn read(&self, p: &AwsProvider, _config: &Value) -> Result<Value> {
        let partition = partition_of(&p.region);
        let (dns, reverse) = partition_dns(partition);
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .set("id", partition)
            .set("partition", partition)
            .set("dns_suffix", dns)
            .set("reverse_dns_prefix", reverse)
            .build())
    }
}

pub(crate) struct Region;

#[async_trait]
impl DataSourceType for Region {
    fn name(&self) -> &'static str {
        "aws_region"
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "description"],
                Attribute::computed(AttrType::String),
            )
            .attrs(
                &["name", "region", "endpoint"],
                Attribute::optional_computed(AttrType::String),
            )
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let wanted = get_str(config, "region").or_else(|| get_str(config, "name"));
        let endpoint = get_str(config, "endpoint");
        let (name, description) =
            resolve_region(&p.region, wanted.as_deref(), endpoint.as_deref())?;
        Ok(Obj::new(&p.data_source_schema(self.name()))
            .set("id", name.as_str())
            .set("name", name.as_str())
            .set("region", name.as_str())
            .set("endpoint", endpoint_of(&name))
            .set("description", description)
            .build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_and_dns() {
        assert_eq!(partition_of("eu-west-1"), "aws");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
        assert_eq!(
            partition_dns("aws-cn"),
            ("amazonaws.com.cn", "cn.com.amazonaws")
        );
        assert_eq!(endpoint_of("cn-north-1"), "ec2.cn-north-1.amazonaws.com.cn");
    }

    #[test]
    fn region_resolution() {
        let (n, d) = resolve_region("us-east-1", None, None).unwrap();
        assert_eq!(
            (n.as_str(), d.as_str()),
            ("us-east-1", "US East (N. Virginia)")
        );
        let (n, _) = resolve_region("us-east-1", Some("eu-west-2"), None).unwrap();
        assert_eq!(n, "eu-west-2");
        let (n, _) =
            resolve_region("us-east-1", None, Some("ec2.ap-south-1.amazonaws.com")).unwrap();
        assert_eq!(n, "ap-south-1");
        let err = resolve_region("us-east-1", Some("xx-nowhere-9"), None).unwrap_err();
        assert!(
            err.to_string()
                .contains("region not found for name: \"xx-nowhere-9\""),
            "{err}"
        );
        assert!(resolve_region("us-east-1", None, Some("ec2.nowhere")).is_err());
        assert!(
            resolve_region(
                "us-east-1",
                Some("us-east-1"),
                Some("ec2.eu-west-1.amazonaws.com")
            )
            .is_err()
        );
    }
}
