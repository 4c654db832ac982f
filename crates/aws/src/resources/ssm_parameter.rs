//! `aws_ssm_parameter`: `String`, `StringList` and `SecureString` (with
//! `key_id`) parameters. `value` is sensitive in the schema, so plans,
//! plan JSON and state mark it without the user doing so; `insecure_value`
//! is the non-sensitive alternative. Values are read batched
//! (`GetParameters`, ten names a call, decrypted) and metadata batched
//! (`DescribeParameters`, a `Name` filter of up to fifty names).

use super::{ResourceType, default_plan};
use crate::Result;
use crate::provider::{AwsProvider, OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, send_tag_changes, tags_from_api};
use crate::values::{Obj, get_bool, get_str, get_str_map, opt_str};
use async_trait::async_trait;
use aws_sdk_ssm::types::{
    Parameter, ParameterMetadata, ParameterStringFilter, ParameterTier, ParameterType,
    ResourceTypeForTagging, Tag,
};
use std::collections::HashMap;
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct SsmParameter;

const NAME: &str = "aws_ssm_parameter";
const TYPES: [&str; 3] = ["String", "StringList", "SecureString"];

/// The decrypted values of many parameters (`GetParameters` takes ten names).
pub(crate) async fn get_values(
    p: &AwsProvider,
    names: &[String],
    decrypt: bool,
) -> Result<HashMap<String, Parameter>> {
    let mut out = HashMap::new();
    for chunk in names.chunks(10) {
        let r = p
            .call("ssm:GetParameters", || {
                p.ssm
                    .get_parameters()
                    .set_names(Some(chunk.to_vec()))
                    .with_decryption(decrypt)
                    .send()
            })
            .await?;
        for prm in r.parameters() {
            if let Some(n) = prm.name() {
                out.insert(n.to_string(), prm.clone());
            }
        }
    }
    Ok(out)
}

/// Parameter metadata matching `filters`, every page.
async fn describe(
    p: &AwsProvider,
    filters: Vec<ParameterStringFilter>,
) -> Result<Vec<ParameterMetadata>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let r = p
            .call("ssm:DescribeParameters", || {
                p.ssm
                    .describe_parameters()
                    .set_parameter_filters(Some(filters.clone()))
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        out.extend(r.parameters().iter().cloned());
        token = r.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

fn filter(key: &str, values: Vec<String>) -> Result<ParameterStringFilter> {
    ParameterStringFilter::builder()
        .key(key)
        .option("Equals")
        .set_values(Some(values))
        .build()
        .map_err(|e| ProviderError::Api {
            code: "InvalidFilter".into(),
            message: e.to_string(),
        })
}

impl SsmParameter {
    async fn tags(&self, p: &AwsProvider, name: &str) -> Result<TagMap> {
        let r = p
            .call("ssm:ListTagsForResource", || {
                p.ssm
                    .list_tags_for_resource()
                    .resource_type(ResourceTypeForTagging::Parameter)
                    .resource_id(name)
                    .send()
            })
            .await?;
        Ok(r.tag_list()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }

    fn to_value(
        &self,
        p: &AwsProvider,
        prm: &Parameter,
        meta: Option<&ParameterMetadata>,
        tags: &TagMap,
        prior: Option<&Value>,
    ) -> Value {
        let name = prm.name().unwrap_or_default();
        // The value lives where the configuration put it.
        let insecure = prior
            .and_then(|pv| pv.get("insecure_value"))
            .is_some_and(|v| !v.is_null());
        // Marked here too, so state equals the plan (which marks it from the schema).
        let value = opt_str(prm.value()).mark_if(prm.value().is_some() && !insecure);
        let (tags, tags_all) = tags_from_api(tags, prior, &p.default_tags);
        // Intelligent-Tiering reports the tier it chose: keep the request.
        let tier = match (
            prior.and_then(|pv| get_str(pv, "tier")).as_deref(),
            meta.and_then(|m| m.tier()),
        ) {
            (Some("Intelligent-Tiering"), _) => Value::from("Intelligent-Tiering"),
            (_, Some(t)) => Value::from(t.as_str()),
            _ => Value::from("Standard"),
        };
        let ptype = prm.r#type().map(|t| t.as_str().to_string());
        Obj::new(&p.resource_schema(NAME))
            .keep(prior, &["overwrite"])
            .set("id", name)
            .set("name", name)
            .set("arn", opt_str(prm.arn()))
            .set("type", opt_str(ptype.as_deref()))
            .set(if insecure { "insecure_value" } else { "value" }, value)
            .set("version", Value::from(prm.version()))
            .set("data_type", Value::from(prm.data_type().unwrap_or("text")))
            .set("description", opt_str(meta.and_then(|m| m.description())))
            .set(
                "allowed_pattern",
                opt_str(meta.and_then(|m| m.allowed_pattern())),
            )
            .set(
                "key_id",
                opt_str(
                    meta.and_then(|m| m.key_id())
                        .filter(|_| ptype.as_deref() == Some("SecureString")),
                ),
            )
            .set("tier", tier)
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }

    async fn read_names(
        &self,
        p: &AwsProvider,
        names: &[String],
        prior: &[Option<&Value>],
    ) -> Result<Vec<Option<Value>>> {
        let values = get_values(p, names, true).await?;
        let mut metas: HashMap<String, ParameterMetadata> = HashMap::new();
        let found: Vec<String> = names
            .iter()
            .filter(|n| values.contains_key(*n))
            .cloned()
            .collect();
        for chunk in found.chunks(50) {
            for m in describe(p, vec![filter("Name", chunk.to_vec())?]).await? {
                if let Some(n) = m.name() {
                    metas.insert(n.to_string(), m.clone());
                }
            }
        }
        let mut out = Vec::with_capacity(names.len());
        for (name, pv) in names.iter().zip(prior) {
            let Some(prm) = values.get(name) else {
                out.push(None);
                continue;
            };
            // Tags have no batched read in SSM.
            let tags = self.tags(p, name).await?;
            out.push(Some(self.to_value(p, prm, metas.get(name), &tags, *pv)));
        }
        Ok(out)
    }

    async fn read_one(
        &self,
        p: &AwsProvider,
        name: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        Ok(self
            .read_names(p, &[name.to_string()], &[prior])
            .await?
            .pop()
            .flatten())
    }

    async fn put(
        &self,
        p: &AwsProvider,
        planned: &Value,
        overwrite: bool,
        tags: Option<Vec<Tag>>,
    ) -> Result<()> {
        let name = get_str(planned, "name").unwrap_or_default();
        let ptype = get_str(planned, "type").unwrap_or_default();
        if !TYPES.contains(&ptype.as_str()) {
            return Err(invalid(
                "type",
                format!(
                    "type {ptype:?} is not one of \"String\", \"StringList\", \"SecureString\""
                ),
            ));
        }
        let value = get_str(planned, "value").or_else(|| get_str(planned, "insecure_value"));
        let Some(value) = value else {
            return Err(invalid(
                "value",
                "set one of `value` or `insecure_value`".into(),
            ));
        };
        let key_id = get_str(planned, "key_id").filter(|_| ptype == "SecureString");
        p.call("ssm:PutParameter", || {
            p.ssm
                .put_parameter()
                .name(&name)
                .r#type(ParameterType::from(ptype.as_str()))
                .value(&value)
                .set_description(get_str(planned, "description"))
                .set_key_id(key_id.clone())
                .set_allowed_pattern(get_str(planned, "allowed_pattern"))
                .set_data_type(get_str(planned, "data_type"))
                .set_tier(get_str(planned, "tier").map(|t| ParameterTier::from(t.as_str())))
                .overwrite(overwrite)
                .set_tags(tags.clone())
                .send()
        })
        .await
        .map(|_| ())
        .map_err(|e| match e {
            ProviderError::Api { code, message } if code == "ParameterAlreadyExists" => invalid(
                "name",
                format!(
                    "{message}: the parameter exists; import it (`terrace import {NAME}.<name> {name}`) or set overwrite = true"
                ),
            ),
            e => crate::api::at_path(e, "value"),
        })
    }

    async fn retag(&self, p: &AwsProvider, name: &str, old: &TagMap, new: &TagMap) -> Result<()> {
        send_tag_changes(
            old,
            new,
            |removed| async move {
                p.call("ssm:RemoveTagsFromResource", || {
                    p.ssm
                        .remove_tags_from_resource()
                        .resource_type(ResourceTypeForTagging::Parameter)
                        .resource_id(name)
                        .set_tag_keys(Some(removed.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
            |changed| async move {
                let tags = ssm_tags(&changed)?;
                p.call("ssm:AddTagsToResource", || {
                    p.ssm
                        .add_tags_to_resource()
                        .resource_type(ResourceTypeForTagging::Parameter)
                        .resource_id(name)
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
        )
        .await
    }

    async fn by_tags(&self, p: &AwsProvider, tags: &[(&str, &str)]) -> Result<Vec<Value>> {
        let filters = tags
            .iter()
            .map(|(k, v)| filter(&format!("tag:{k}"), vec![v.to_string()]))
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<String> = describe(p, filters)
            .await?
            .iter()
            .filter_map(|m| m.name().map(str::to_string))
            .collect();
        let prior = vec![None; names.len()];
        Ok(self
            .read_names(p, &names, &prior)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }
}

fn invalid(attr: &str, message: String) -> ProviderError {
    ProviderError::InvalidArgument {
        path: Some(vec![PathStep::Key(attr.to_string())]),
        code: "InvalidArgument".into(),
        message,
    }
}

fn ssm_tags(tags: &TagMap) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| invalid("tags", e.to_string()))
        })
        .collect()
}

#[async_trait]
impl ResourceType for SsmParameter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr("name", Attribute::required(AttrType::String).force_new())
            .attr("type", Attribute::required(AttrType::String))
            .attr(
                "value",
                Attribute::optional_computed(AttrType::String).sensitive(),
            )
            .attrs(
                &["insecure_value", "key_id", "arn"],
                Attribute::optional_computed(AttrType::String),
            )
            .attrs(
                &["description", "allowed_pattern"],
                Attribute::optional(AttrType::String),
            )
            .attr(
                "tier",
                Attribute::optional(AttrType::String).default("Standard"),
            )
            .attr(
                "data_type",
                Attribute::optional(AttrType::String)
                    .default("text")
                    .force_new(),
            )
            .attr("overwrite", Attribute::optional(AttrType::Bool))
            .attr("version", Attribute::computed(AttrType::Number))
            .tagged()
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let both = ["value", "insecure_value"]
            .iter()
            .all(|k| config.get(k).is_some_and(|v| !v.is_null()));
        if both {
            return Err(invalid(
                "insecure_value",
                "`value` and `insecure_value` conflict: set only one".into(),
            ));
        }
        let mut planned = default_plan(p, &p.resource_schema(NAME), prior, config, ctx);
        if let Some(m) = planned.planned.as_map_mut() {
            if let Some(n) = config.get("name").filter(|n| !n.is_null()) {
                m.insert("id".into(), n.clone());
            }
            // Whichever value is not configured stays null.
            for (k, other) in [("value", "insecure_value"), ("insecure_value", "value")] {
                if config.get(k).is_none_or(Value::is_null)
                    && config.get(other).is_some_and(|v| !v.is_null())
                {
                    m.insert(k.into(), Value::Null);
                }
            }
        }
        // A new value makes a new version.
        if let Some(pv) = prior {
            let changed = [
                "value",
                "insecure_value",
                "type",
                "description",
                "key_id",
                "tier",
                "allowed_pattern",
            ]
            .iter()
            .any(|k| planned.planned.get(k) != pv.get(k));
            if changed && let Some(m) = planned.planned.as_map_mut() {
                m.insert("version".into(), Value::Unknown);
            }
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let names: Vec<String> = prior
            .iter()
            .map(|pv| {
                get_str(pv, "name")
                    .or_else(|| get_str(pv, "id"))
                    .unwrap_or_default()
            })
            .collect();
        let priors: Vec<Option<&Value>> = prior.iter().map(Some).collect();
        self.read_names(p, &names, &priors).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let name = get_str(planned, "name").unwrap_or_default();
        let overwrite = get_bool(planned, "overwrite").unwrap_or(false);
        // PutParameter takes tags only when it does not overwrite.
        if overwrite {
            self.put(p, planned, true, None).await?;
            self.retag(p, &name, &TagMap::new(), &tags)
                .await
                .map_err(|e| super::partially_created(planned, e))?;
        } else {
            self.put(p, planned, false, Some(ssm_tags(&tags)?)).await?;
        }
        self.read_one(p, &name, Some(planned))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!("SSM parameter {name} not found after create"))
            })
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let name = get_str(planned, "name").unwrap_or_default();
        let keys = [
            "value",
            "insecure_value",
            "type",
            "description",
            "key_id",
            "tier",
            "allowed_pattern",
        ];
        if keys.iter().any(|k| planned.get(k) != prior.get(k)) {
            self.put(p, planned, true, None).await?;
        }
        self.retag(
            p,
            &name,
            &get_str_map(prior, "tags_all"),
            &get_str_map(planned, "tags_all"),
        )
        .await?;
        self.read_one(p, &name, Some(planned))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!("SSM parameter {name} not found after update"))
            })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let name = get_str(prior, "name")
            .or_else(|| get_str(prior, "id"))
            .unwrap_or_default();
        super::ec2_support::ok_if_gone(
            p.call("ssm:DeleteParameter", || {
                p.ssm.delete_parameter().name(&name).send()
            })
            .await,
        )
    }

    async fn find_created(
        &self,
        p: &AwsProvider,
        _token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>> {
        Ok(self
            .by_tags(
                p,
                &[
                    (OWNER_ENVIRONMENT_TAG, ctx.environment.as_str()),
                    (OWNER_ADDRESS_TAG, ctx.address.as_str()),
                ],
            )
            .await?
            .pop())
    }

    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        self.by_tags(p, &[(OWNER_ENVIRONMENT_TAG, environment)])
            .await
    }
}
