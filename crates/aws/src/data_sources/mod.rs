//! AWS data sources. Adding one: a file with a unit struct implementing
//! [`DataSourceType`], plus one line in [`all_data_source_types`].

mod ami;
mod availability_zones;
mod caller_identity;
mod ec2_lookup;
mod ecr;
mod eks;
mod iam;
mod kms;
mod partition;
mod policy_document;
mod secretsmanager_secret_version;
mod ssm_parameter;

use crate::Result;
use crate::provider::AwsProvider;
use async_trait::async_trait;
use terrace_core::Value;
use terrace_provider::Schema;

#[async_trait]
pub(crate) trait DataSourceType: Send + Sync {
    /// The Terraform type name, e.g. `aws_ami`.
    fn name(&self) -> &'static str;

    fn schema(&self) -> Schema;

    /// Read with the evaluated configuration; returns every schema attribute.
    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value>;
}

/// Every supported data source. One line per type.
pub(crate) fn all_data_source_types() -> Vec<Box<dyn DataSourceType>> {
    vec![
        Box::new(availability_zones::AvailabilityZones),
        Box::new(ami::Ami),
        Box::new(caller_identity::CallerIdentity),
        Box::new(partition::Partition),
        Box::new(partition::Region),
        Box::new(ec2_lookup::VpcLookup),
        Box::new(ec2_lookup::SubnetLookup),
        Box::new(ec2_lookup::SubnetsLookup),
        Box::new(ec2_lookup::SecurityGroupLookup),
        Box::new(ssm_parameter::SsmParameter),
        Box::new(ecr::EcrRepository),
        Box::new(ecr::EcrAuthorizationToken),
        Box::new(ecr::EcrImage),
        Box::new(secretsmanager_secret_version::SecretVersion),
        Box::new(policy_document::PolicyDocument),
        Box::new(eks::EksCluster),
        Box::new(eks::EksClusterAuth),
        Box::new(eks::EksAddonVersion),
        Box::new(iam::IamPolicy),
        Box::new(iam::IamRole),
        Box::new(kms::KmsKey),
    ]
}

/// The `filter { name = ..., values = [...] }` set block of EC2 data sources.
pub(crate) fn filter_block() -> Schema {
    use terrace_provider::{AttrType, Attribute};
    Schema::new()
        .attr("name", Attribute::required(AttrType::String))
        .attr(
            "values",
            Attribute::required(AttrType::set_of(AttrType::String)),
        )
}

/// EC2 filters from the configured `filter` blocks.
pub(crate) fn filters_from_config(config: &Value) -> Vec<aws_sdk_ec2::types::Filter> {
    crate::values::get_blocks(config, "filter")
        .iter()
        .filter_map(|f| {
            let name = crate::values::get_str(f, "name")?;
            Some(crate::resources::ec2_support::filter(
                &name,
                crate::values::get_strings(f, "values"),
            ))
        })
        .collect()
}
