//! `aws_ecr_registry_scanning_configuration`: the registry's one scanning
//! configuration (`scan_type` `BASIC` or `ENHANCED`, `rule`s of a
//! `scan_frequency` and repository wildcard filters). The `id` and import
//! ID is the registry (account) ID; destroying it returns the registry to
//! `BASIC` with no rules, as Terraform does.

use super::{ResourceType, default_plan};
use crate::Result;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::values::{Obj, get_blocks, get_str};
use async_trait::async_trait;
use aws_sdk_ecr::types::{
    RegistryScanningRule, ScanFrequency, ScanType, ScanningRepositoryFilter,
    ScanningRepositoryFilterType,
};
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrType, Attribute, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct RegistryScanning;

const NAME: &str = "aws_ecr_registry_scanning_configuration";

impl RegistryScanning {
    async fn get(&self, p: &AwsProvider) -> Result<Value> {
        let out = p
            .call("ecr:GetRegistryScanningConfiguration", || {
                p.ecr.get_registry_scanning_configuration().send()
            })
            .await?;
        let registry = out.registry_id().unwrap_or_default();
        let cfg = out.scanning_configuration();
        let rules = cfg
            .map(|c| c.rules())
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let filters = r
                    .repository_filters()
                    .iter()
                    .map(|f| {
                        Value::map([
                            ("filter", Value::from(f.filter())),
                            ("filter_type", Value::from(f.filter_type().as_str())),
                        ])
                    })
                    .collect();
                Value::map([
                    ("scan_frequency", Value::from(r.scan_frequency().as_str())),
                    ("repository_filter", Value::set(filters)),
                ])
            })
            .collect();
        Ok(Obj::new(&p.resource_schema(NAME))
            .set("id", registry)
            .set("registry_id", registry)
            .set(
                "scan_type",
                cfg.and_then(|c| c.scan_type())
                    .map_or("BASIC", |t| t.as_str()),
            )
            .set("rule", Value::set(rules))
            .build())
    }
}

fn invalid(message: String) -> ProviderError {
    ProviderError::InvalidArgument {
        path: Some(vec![PathStep::Key("rule".into())]),
        code: "InvalidArgument".into(),
        message,
    }
}

#[async_trait]
impl ResourceType for RegistryScanning {
    fn name(&self) -> &'static str {
        NAME
    }

    // The registry's own setting: written again idempotently, never tagged.
    fn untagged(&self) -> bool {
        true
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "registry_id"],
                Attribute::computed(AttrType::String),
            )
            .attr("scan_type", Attribute::required(AttrType::String))
            .set_block(
                "rule",
                Schema::new()
                    .attr("scan_frequency", Attribute::required(AttrType::String))
                    .set_block(
                        "repository_filter",
                        Schema::new().attrs(
                            &["filter", "filter_type"],
                            Attribute::required(AttrType::String),
                        ),
                    ),
            )
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        if let Some(t) = get_str(config, "scan_type")
            && t != "BASIC"
            && t != "ENHANCED"
        {
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![PathStep::Key("scan_type".into())]),
                code: "InvalidArgument".into(),
                message: format!("scan_type {t:?} is not \"BASIC\" or \"ENHANCED\""),
            });
        }
        Ok(default_plan(
            p,
            &p.resource_schema(NAME),
            prior,
            config,
            ctx,
        ))
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        // One configuration per registry: one call serves every instance.
        let now = self.get(p).await?;
        Ok(prior.iter().map(|_| Some(now.clone())).collect())
    }

    async fn import(&self, p: &AwsProvider, _id: &str) -> Result<Option<Value>> {
        self.get(p).await.map(Some)
    }

    async fn put(&self, p: &AwsProvider, planned: &Value) -> Result<Value> {
        let mut rules = Vec::new();
        for r in get_blocks(planned, "rule") {
            let mut b = RegistryScanningRule::builder().scan_frequency(ScanFrequency::from(
                get_str(r, "scan_frequency").unwrap_or_default().as_str(),
            ));
            for f in get_blocks(r, "repository_filter") {
                b = b.repository_filters(
                    ScanningRepositoryFilter::builder()
                        .filter(get_str(f, "filter").unwrap_or_default())
                        .filter_type(ScanningRepositoryFilterType::from(
                            get_str(f, "filter_type")
                                .unwrap_or_else(|| "WILDCARD".into())
                                .as_str(),
                        ))
                        .build()
                        .map_err(|e| invalid(e.to_string()))?,
                );
            }
            rules.push(b.build().map_err(|e| invalid(e.to_string()))?);
        }
        let scan_type = get_str(planned, "scan_type").unwrap_or_else(|| "BASIC".into());
        p.call("ecr:PutRegistryScanningConfiguration", || {
            p.ecr
                .put_registry_scanning_configuration()
                .scan_type(ScanType::from(scan_type.as_str()))
                .set_rules(Some(rules.clone()))
                .send()
        })
        .await
        .map_err(|e| crate::api::at_path(e, "rule"))?;
        self.get(p).await
    }

    async fn delete(&self, p: &AwsProvider, _prior: &Value) -> Result<()> {
        let basic = Value::map([("scan_type", Value::from("BASIC"))]);
        self.put(p, &basic).await.map(|_| ())
    }
}
