//! The subnet groups of the database services: `aws_db_subnet_group`
//! (RDS), `aws_elasticache_subnet_group` and `aws_redshift_subnet_group`.
//! The three APIs have the same shape (create, describe by name or all,
//! modify description and subnets in place, delete by name, tags by ARN),
//! so one implementation serves them, [`Service`] choosing the client.
//! The ID is the name; the name forces replacement; the description
//! defaults to "Managed by Terraform" as in Terraform.

use super::{ResourceType, partially_created, require_id};
use crate::Result;
use crate::provider::{AwsProvider, OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, send_tag_changes, tags_from_api};
use crate::values::{Obj, get_str, get_strings, str_set, value_to_str_map};
use async_trait::async_trait;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

/// Which service's subnet group.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Service {
    Rds,
    ElastiCache,
    Redshift,
}

use Service::*;

/// One subnet group as every API reports it.
struct Group {
    name: String,
    description: Option<String>,
    vpc_id: Option<String>,
    subnet_ids: Vec<String>,
    arn: Option<String>,
    /// Tags when the describe call reports them (Redshift).
    tags: Option<TagMap>,
    network_types: Vec<String>,
}

macro_rules! tag_map {
    ($tags:expr) => {
        $tags
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect::<TagMap>()
    };
}

macro_rules! sdk_tags {
    ($krate:ident, $tags:expr) => {
        $tags
            .iter()
            .map(|(k, v)| $krate::types::Tag::builder().key(k).value(v).build())
            .collect::<Vec<_>>()
    };
}

impl Service {
    fn type_name(self) -> &'static str {
        match self {
            Rds => "aws_db_subnet_group",
            ElastiCache => "aws_elasticache_subnet_group",
            Redshift => "aws_redshift_subnet_group",
        }
    }

    /// One page of groups: the one named, or all.
    async fn describe_page(
        self,
        p: &AwsProvider,
        name: Option<String>,
        marker: Option<String>,
    ) -> Result<(Vec<Group>, Option<String>)> {
        match self {
            Rds => {
                let out = p
                    .call("rds:DescribeDBSubnetGroups", || {
                        p.rds
                            .describe_db_subnet_groups()
                            .set_db_subnet_group_name(name.clone())
                            .set_marker(marker.clone())
                            .send()
                    })
                    .await?;
                let groups = out
                    .db_subnet_groups()
                    .iter()
                    .map(|g| Group {
                        name: g.db_subnet_group_name().unwrap_or_default().to_string(),
                        description: g.db_subnet_group_description().map(str::to_string),
                        vpc_id: g.vpc_id().map(str::to_string),
                        subnet_ids: g
                            .subnets()
                            .iter()
                            .filter_map(|s| s.subnet_identifier().map(str::to_string))
                            .collect(),
                        arn: g.db_subnet_group_arn().map(str::to_string),
                        tags: None,
                        network_types: g.supported_network_types().to_vec(),
                    })
                    .collect();
                Ok((groups, out.marker().map(str::to_string)))
            }
            ElastiCache => {
                let out = p
                    .call("elasticache:DescribeCacheSubnetGroups", || {
                        p.elasticache
                            .describe_cache_subnet_groups()
                            .set_cache_subnet_group_name(name.clone())
                            .set_marker(marker.clone())
                            .send()
                    })
                    .await?;
                let groups = out
                    .cache_subnet_groups()
                    .iter()
                    .map(|g| Group {
                        name: g.cache_subnet_group_name().unwrap_or_default().to_string(),
                        description: g.cache_subnet_group_description().map(str::to_string),
                        vpc_id: g.vpc_id().map(str::to_string),
                        subnet_ids: g
                            .subnets()
                            .iter()
                            .filter_map(|s| s.subnet_identifier().map(str::to_string))
                            .collect(),
                        arn: g.arn().map(str::to_string),
                        tags: None,
                        network_types: Vec::new(),
                    })
                    .collect();
                Ok((groups, out.marker().map(str::to_string)))
            }
            Redshift => {
                let out = p
                    .call("redshift:DescribeClusterSubnetGroups", || {
                        p.redshift
                            .describe_cluster_subnet_groups()
                            .set_cluster_subnet_group_name(name.clone())
                            .set_marker(marker.clone())
                            .send()
                    })
                    .await?;
                let groups = out
                    .cluster_subnet_groups()
                    .iter()
                    .map(|g| Group {
                        name: g
                            .cluster_subnet_group_name()
                            .unwrap_or_default()
                            .to_string(),
                        description: g.description().map(str::to_string),
                        vpc_id: g.vpc_id().map(str::to_string),
                        subnet_ids: g
                            .subnets()
                            .iter()
                            .filter_map(|s| s.subnet_identifier().map(str::to_string))
                            .collect(),
                        arn: None,
                        tags: Some(tag_map!(g.tags())),
                        network_types: Vec::new(),
                    })
                    .collect();
                Ok((groups, out.marker().map(str::to_string)))
            }
        }
    }

    /// The groups named (all of them when `name` is `None`); a missing
    /// name is an empty list.
    async fn describe(self, p: &AwsProvider, name: Option<&str>) -> Result<Vec<Group>> {
        let name = name.map(str::to_string);
        let r = super::ec2_support::describe_all(|m| self.describe_page(p, name.clone(), m)).await;
        match r {
            Err(e) if crate::api::is_not_found(&e) => Ok(Vec::new()),
            other => other,
        }
    }

    /// The ARN (Redshift reports none: it names the caller's account).
    async fn arn_of(self, p: &AwsProvider, g: &Group) -> Result<String> {
        if let Some(arn) = &g.arn {
            return Ok(arn.clone());
        }
        let account = super::caller_account(p).await?;
        Ok(p.arn("redshift", &account, &format!("subnetgroup:{}", g.name)))
    }

    async fn tags(self, p: &AwsProvider, g: &Group, arn: &str) -> Result<TagMap> {
        match (self, &g.tags) {
            (_, Some(t)) => Ok(t.clone()),
            (Rds, None) => {
                let out = p
                    .call("rds:ListTagsForResource", || {
                        p.rds.list_tags_for_resource().resource_name(arn).send()
                    })
                    .await?;
                Ok(tag_map!(out.tag_list()))
            }
            (_, None) => {
                let out = p
                    .call("elasticache:ListTagsForResource", || {
                        p.elasticache
                            .list_tags_for_resource()
                            .resource_name(arn)
                            .send()
                    })
                    .await?;
                Ok(tag_map!(out.tag_list()))
            }
        }
    }

    async fn create(
        self,
        p: &AwsProvider,
        name: &str,
        description: &str,
        subnets: Vec<String>,
        tags: &TagMap,
    ) -> Result<()> {
        match self {
            Rds => {
                let tags = sdk_tags!(aws_sdk_rds, tags);
                p.call("rds:CreateDBSubnetGroup", || {
                    p.rds
                        .create_db_subnet_group()
                        .db_subnet_group_name(name)
                        .db_subnet_group_description(description)
                        .set_subnet_ids(Some(subnets.clone()))
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            }
            ElastiCache => {
                let tags = sdk_tags!(aws_sdk_elasticache, tags);
                p.call("elasticache:CreateCacheSubnetGroup", || {
                    p.elasticache
                        .create_cache_subnet_group()
                        .cache_subnet_group_name(name)
                        .cache_subnet_group_description(description)
                        .set_subnet_ids(Some(subnets.clone()))
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            }
            Redshift => {
                let tags = sdk_tags!(aws_sdk_redshift, tags);
                p.call("redshift:CreateClusterSubnetGroup", || {
                    p.redshift
                        .create_cluster_subnet_group()
                        .cluster_subnet_group_name(name)
                        .description(description)
                        .set_subnet_ids(Some(subnets.clone()))
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            }
        }
    }

    async fn modify(
        self,
        p: &AwsProvider,
        name: &str,
        description: &str,
        subnets: Vec<String>,
    ) -> Result<()> {
        match self {
            Rds => p
                .call("rds:ModifyDBSubnetGroup", || {
                    p.rds
                        .modify_db_subnet_group()
                        .db_subnet_group_name(name)
                        .db_subnet_group_description(description)
                        .set_subnet_ids(Some(subnets.clone()))
                        .send()
                })
                .await
                .map(|_| ()),
            ElastiCache => p
                .call("elasticache:ModifyCacheSubnetGroup", || {
                    p.elasticache
                        .modify_cache_subnet_group()
                        .cache_subnet_group_name(name)
                        .cache_subnet_group_description(description)
                        .set_subnet_ids(Some(subnets.clone()))
                        .send()
                })
                .await
                .map(|_| ()),
            Redshift => p
                .call("redshift:ModifyClusterSubnetGroup", || {
                    p.redshift
                        .modify_cluster_subnet_group()
                        .cluster_subnet_group_name(name)
                        .description(description)
                        .set_subnet_ids(Some(subnets.clone()))
                        .send()
                })
                .await
                .map(|_| ()),
        }
    }

    async fn remove_tags(self, p: &AwsProvider, arn: &str, keys: Vec<String>) -> Result<()> {
        match self {
            Rds => p
                .call("rds:RemoveTagsFromResource", || {
                    p.rds
                        .remove_tags_from_resource()
                        .resource_name(arn)
                        .set_tag_keys(Some(keys.clone()))
                        .send()
                })
                .await
                .map(|_| ()),
            ElastiCache => p
                .call("elasticache:RemoveTagsFromResource", || {
                    p.elasticache
                        .remove_tags_from_resource()
                        .resource_name(arn)
                        .set_tag_keys(Some(keys.clone()))
                        .send()
                })
                .await
                .map(|_| ()),
            Redshift => p
                .call("redshift:DeleteTags", || {
                    p.redshift
                        .delete_tags()
                        .resource_name(arn)
                        .set_tag_keys(Some(keys.clone()))
                        .send()
                })
                .await
                .map(|_| ()),
        }
    }

    async fn add_tags(self, p: &AwsProvider, arn: &str, tags: TagMap) -> Result<()> {
        match self {
            Rds => {
                let tags = sdk_tags!(aws_sdk_rds, tags);
                p.call("rds:AddTagsToResource", || {
                    p.rds
                        .add_tags_to_resource()
                        .resource_name(arn)
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            }
            ElastiCache => {
                let tags = sdk_tags!(aws_sdk_elasticache, tags);
                p.call("elasticache:AddTagsToResource", || {
                    p.elasticache
                        .add_tags_to_resource()
                        .resource_name(arn)
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            }
            Redshift => {
                let tags = sdk_tags!(aws_sdk_redshift, tags);
                p.call("redshift:CreateTags", || {
                    p.redshift
                        .create_tags()
                        .resource_name(arn)
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            }
        }
    }

    async fn delete(self, p: &AwsProvider, name: &str) -> Result<()> {
        let r = match self {
            Rds => p
                .call("rds:DeleteDBSubnetGroup", || {
                    p.rds
                        .delete_db_subnet_group()
                        .db_subnet_group_name(name)
                        .send()
                })
                .await
                .map(|_| ()),
            ElastiCache => p
                .call("elasticache:DeleteCacheSubnetGroup", || {
                    p.elasticache
                        .delete_cache_subnet_group()
                        .cache_subnet_group_name(name)
                        .send()
                })
                .await
                .map(|_| ()),
            Redshift => p
                .call("redshift:DeleteClusterSubnetGroup", || {
                    p.redshift
                        .delete_cluster_subnet_group()
                        .cluster_subnet_group_name(name)
                        .send()
                })
                .await
                .map(|_| ()),
        };
        super::ec2_support::ok_if_gone(r)
    }
}

/// One of the three subnet group resource types.
pub(crate) struct SubnetGroup(pub(crate) Service);

impl SubnetGroup {
    async fn to_value(&self, p: &AwsProvider, g: &Group, prior: Option<&Value>) -> Result<Value> {
        let arn = self.0.arn_of(p, g).await?;
        let actual = self.0.tags(p, g, &arn).await?;
        let (tags, tags_all) = tags_from_api(&actual, prior, &p.default_tags);
        let mut obj = Obj::new(&p.resource_schema(self.0.type_name()))
            .set("id", g.name.as_str())
            .set("name", g.name.as_str())
            .set("arn", arn)
            .set(
                "description",
                g.description.as_deref().map_or(Value::Null, Value::from),
            )
            .set("subnet_ids", str_set(g.subnet_ids.iter().cloned()))
            .set("tags", tags)
            .set("tags_all", tags_all);
        if self.0 != Redshift {
            obj = obj.set(
                "vpc_id",
                g.vpc_id.as_deref().map_or(Value::Null, Value::from),
            );
        }
        if self.0 == Rds {
            obj = obj
                .set(
                    "supported_network_types",
                    str_set(g.network_types.iter().cloned()),
                )
                .keep(prior, &["name_prefix"]);
        }
        Ok(obj.build())
    }

    async fn read_one(
        &self,
        p: &AwsProvider,
        name: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        match self.0.describe(p, Some(name)).await?.first() {
            Some(g) => Ok(Some(self.to_value(p, g, prior).await?)),
            None => Ok(None),
        }
    }

    async fn owned(&self, p: &AwsProvider, want: &[(&str, &str)]) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for g in self.0.describe(p, None).await? {
            let v = self.to_value(p, &g, None).await?;
            let all = value_to_str_map(v.get("tags_all").unwrap_or(&Value::Null));
            if want
                .iter()
                .all(|(k, x)| all.get(*k).map(String::as_str) == Some(*x))
            {
                out.push(v);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl ResourceType for SubnetGroup {
    fn name(&self) -> &'static str {
        self.0.type_name()
    }

    fn schema(&self) -> Schema {
        let name = if self.0 == Rds {
            Attribute::optional_computed(AttrType::String).force_new()
        } else {
            Attribute::required(AttrType::String).force_new()
        };
        let mut s = Schema::new()
            .attrs(&["id", "arn"], Attribute::computed(AttrType::String))
            .attr("name", name)
            .attr(
                "description",
                Attribute::optional(AttrType::String).default("Managed by Terraform"),
            )
            .attr(
                "subnet_ids",
                Attribute::required(AttrType::set_of(AttrType::String)),
            );
        if self.0 != Redshift {
            s = s.attr("vpc_id", Attribute::computed(AttrType::String));
        }
        if self.0 == Rds {
            s = s
                .attr(
                    "name_prefix",
                    Attribute::optional(AttrType::String).force_new(),
                )
                .attr(
                    "supported_network_types",
                    Attribute::computed(AttrType::set_of(AttrType::String)),
                );
        }
        s.tagged()
    }

    /// One describe of all groups when several are read, one by name
    /// otherwise; tags by ARN for each found (RDS and ElastiCache list
    /// them per resource).
    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let names: Vec<String> = prior
            .iter()
            .map(|v| get_str(v, "id").unwrap_or_default())
            .collect();
        let groups = match names.as_slice() {
            [one] => self.0.describe(p, Some(one)).await?,
            _ => self.0.describe(p, None).await?,
        };
        let mut out = Vec::with_capacity(prior.len());
        for (pv, name) in prior.iter().zip(&names) {
            out.push(match groups.iter().find(|g| g.name == *name) {
                Some(g) => Some(self.to_value(p, g, Some(pv)).await?),
                None => None,
            });
        }
        Ok(out)
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        self.read_one(p, id, None).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let name = get_str(planned, "name").unwrap_or_else(|| {
            let prefix = get_str(planned, "name_prefix").unwrap_or("tf-".into());
            format!(
                "{prefix}{}",
                super::lb::unique_suffix(&ctx.idempotency_token)
            )
        });
        let description = get_str(planned, "description").unwrap_or_default();
        self.0
            .create(
                p,
                &name,
                &description,
                get_strings(planned, "subnet_ids"),
                &tags,
            )
            .await?;
        let made = Value::map([("id", Value::from(name.clone()))]);
        self.read_one(p, &name, Some(planned))
            .await
            .and_then(|v| {
                v.ok_or_else(|| {
                    ProviderError::NotFound(format!("subnet group {name} not found after create"))
                })
            })
            .map_err(|e| partially_created(&made, e))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let name = require_id(self.name(), prior)?;
        if prior.get("description") != planned.get("description")
            || prior.get("subnet_ids") != planned.get("subnet_ids")
        {
            let description = get_str(planned, "description").unwrap_or_default();
            self.0
                .modify(p, &name, &description, get_strings(planned, "subnet_ids"))
                .await?;
        }
        let arn = get_str(prior, "arn").unwrap_or_default();
        let old = value_to_str_map(prior.get("tags_all").unwrap_or(&Value::Null));
        let new = value_to_str_map(planned.get("tags_all").unwrap_or(&Value::Null));
        let (svc, arn) = (self.0, arn.as_str());
        send_tag_changes(
            &old,
            &new,
            |keys| svc.remove_tags(p, arn, keys),
            |tags| svc.add_tags(p, arn, tags),
        )
        .await?;
        self.read_one(p, &name, Some(planned))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!("subnet group {name} disappeared during update"))
            })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let name = require_id(self.name(), prior)?;
        self.0.delete(p, &name).await
    }

    async fn find_created(
        &self,
        p: &AwsProvider,
        _token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>> {
        let want = [
            (OWNER_ENVIRONMENT_TAG, ctx.environment.as_str()),
            (OWNER_ADDRESS_TAG, ctx.address.as_str()),
        ];
        Ok(self.owned(p, &want).await?.into_iter().next())
    }

    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        self.owned(p, &[(OWNER_ENVIRONMENT_TAG, environment)]).await
    }
}
