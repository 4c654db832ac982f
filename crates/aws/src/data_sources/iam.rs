//! IAM data sources: `aws_iam_role` (by name) and `aws_iam_policy` (by
//! `arn`, or by `name` with an optional `path_prefix`). Both read through
//! the resource types' import, so they report the same attributes.

use super::DataSourceType;
use crate::Result;
use crate::provider::AwsProvider;
use crate::values::{Obj, get_str};
use async_trait::async_trait;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, Provider, ProviderError, Schema};

pub(crate) struct IamRole;
pub(crate) struct IamPolicy;

/// Copy `keys` of a resource state into the data source's object.
fn copy(mut obj: Obj, from: &Value, keys: &[&str]) -> Obj {
    for key in keys {
        obj = obj.set(key, from.get(key).cloned().unwrap_or(Value::Null));
    }
    obj
}

const ROLE_KEYS: &[&str] = &[
    "id",
    "name",
    "arn",
    "unique_id",
    "path",
    "create_date",
    "assume_role_policy",
    "description",
    "max_session_duration",
    "permissions_boundary",
    "tags",
];

#[async_trait]
impl DataSourceType for IamRole {
    fn name(&self) -> &'static str {
        "aws_iam_role"
    }

    fn schema(&self) -> Schema {
        ROLE_KEYS
            .iter()
            .fold(Schema::new(), |s, k| {
                let attr = match *k {
                    "name" => Attribute::required(AttrType::String),
                    "max_session_duration" => Attribute::computed(AttrType::Number),
                    "tags" => Attribute::optional_computed(AttrType::map_of(AttrType::String)),
                    _ => Attribute::computed(AttrType::String),
                };
                s.attr(k, attr)
            })
            .attr(
                "role_last_used",
                Attribute::computed(AttrType::list_of(AttrType::Any)),
            )
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let name = get_str(config, "name").unwrap_or_default();
        let role = p.import("aws_iam_role", &name).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("reading IAM Role ({name}): couldn't find resource"))
        })?;
        Ok(copy(
            Obj::new(&p.data_source_schema(self.name())),
            &role,
            ROLE_KEYS,
        )
        .set("role_last_used", Value::List(Vec::new()))
        .build())
    }
}

const POLICY_KEYS: &[&str] = &[
    "id",
    "arn",
    "name",
    "path",
    "description",
    "policy",
    "policy_id",
    "tags",
];

#[async_trait]
impl DataSourceType for IamPolicy {
    fn name(&self) -> &'static str {
        "aws_iam_policy"
    }

    fn schema(&self) -> Schema {
        POLICY_KEYS
            .iter()
            .fold(Schema::new(), |s, k| {
                let attr = match *k {
                    "arn" | "name" => Attribute::optional_computed(AttrType::String),
                    "tags" => Attribute::optional_computed(AttrType::map_of(AttrType::String)),
                    _ => Attribute::computed(AttrType::String),
                };
                s.attr(k, attr)
            })
            .attr("path_prefix", Attribute::optional(AttrType::String))
            .attr("attachment_count", Attribute::computed(AttrType::Number))
    }

    async fn read(&self, p: &AwsProvider, config: &Value) -> Result<Value> {
        let arn = match (get_str(config, "arn"), get_str(config, "name")) {
            (Some(arn), _) => arn,
            (None, Some(name)) => {
                let prefix = get_str(config, "path_prefix");
                let arns = policy_arns_named(p, &name, prefix.as_deref()).await?;
                match arns.as_slice() {
                    [one] => one.clone(),
                    [] => return Err(none_found()),
                    _ => {
                        return Err(ProviderError::Api {
                            code: "TooManyResults".into(),
                            message: "multiple IAM Policies matched; use additional constraints \
                                      to reduce matches to a single IAM Policy"
                                .into(),
                        });
                    }
                }
            }
            (None, None) => {
                return Err(ProviderError::InvalidArgument {
                    path: None,
                    code: "MissingArgument".into(),
                    message: "one of `arn` or `name` must be set".into(),
                });
            }
        };
        let policy = p
            .import("aws_iam_policy", &arn)
            .await?
            .ok_or_else(none_found)?;
        let attachments = crate::resources::iam_policy::attachment_count(p, &arn).await?;
        Ok(copy(
            Obj::new(&p.data_source_schema(self.name())),
            &policy,
            POLICY_KEYS,
        )
        .set(
            "path_prefix",
            config.get("path_prefix").cloned().unwrap_or(Value::Null),
        )
        .set("attachment_count", attachments)
        .build())
    }
}

fn none_found() -> ProviderError {
    ProviderError::Api {
        code: "EmptyResult".into(),
        message: "no matching IAM Policy found".into(),
    }
}

/// ARNs of the policies (local and AWS managed) named `name`.
async fn policy_arns_named(
    p: &AwsProvider,
    name: &str,
    path_prefix: Option<&str>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = p
            .call("iam:ListPolicies", || {
                p.iam_client()
                    .list_policies()
                    .set_path_prefix(path_prefix.map(str::to_string))
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
        out.extend(
            page.policies()
                .iter()
                .filter(|x| x.policy_name() == Some(name))
                .filter_map(|x| x.arn().map(str::to_string)),
        );
        match page.marker() {
            Some(m) if page.is_truncated() && !m.is_empty() => marker = Some(m.to_string()),
            _ => return Ok(out),
        }
    }
}
