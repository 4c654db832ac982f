//! `aws_cloudwatch_log_group` and `aws_flow_log`.
//!
//! Log groups are read with `DescribeLogGroups` by name prefix (one call
//! per group, a few in flight) and `ListTagsForResource`; `skip_destroy`
//! leaves the group in place on destroy, as Terraform does. Flow logs are
//! EC2 objects: the shared lookups (`DescribeFlowLogs`, batched by ID)
//! serve them, and every argument but `tags` forces replacement. The API
//! reports no flow-log ARN: it is built at create (null after an import).

use super::ReadByKey;
use super::ec2::find::{Ec2Mapped, Lookups, read_mapped};
use super::ec2_support::{ok_if_gone, tag_spec, tags_to_map, update_tags};
use super::iam::read_each;
use super::listed::{TagFilter, TagListed};
use super::{ResourceType, default_plan, require_id};
use crate::Result;
use crate::api::{argument_error, at_path, is_not_found};
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::tags::{TagMap, create_tags, send_tag_changes, tags_from_api};
use crate::values::{Obj, get_bool, get_i64, get_str, value_to_str_map};
use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::LogGroup;
use aws_sdk_ec2::types::{
    FlowLog, FlowLogsResourceType, LogDestinationType, ResourceType as Ec2ResourceType, TrafficType,
};
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct LogGroupType;
pub(crate) struct FlowLogType;

const GROUP: &str = "aws_cloudwatch_log_group";
const FLOW: &str = "aws_flow_log";

/// The retention periods CloudWatch Logs accepts (0: never expire).
const RETENTION_DAYS: &[i64] = &[
    0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

fn invalid(attr: &str, message: String) -> ProviderError {
    ProviderError::InvalidArgument {
        path: Some(vec![PathStep::Key(attr.into())]),
        code: "InvalidValue".into(),
        message,
    }
}

/// A log group's ARN as Terraform reports it (without the trailing `:*`).
fn group_arn(g: &LogGroup) -> String {
    g.arn()
        .unwrap_or_default()
        .trim_end_matches(":*")
        .to_string()
}

impl LogGroupType {
    async fn get(&self, p: &AwsProvider, name: &str) -> Result<Option<LogGroup>> {
        if name.is_empty() {
            return Ok(None);
        }
        let mut token: Option<String> = None;
        loop {
            let page = p
                .call("logs:DescribeLogGroups", || {
                    p.logs
                        .describe_log_groups()
                        .log_group_name_prefix(name)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            if let Some(g) = page
                .log_groups()
                .iter()
                .find(|g| g.log_group_name() == Some(name))
            {
                return Ok(Some(g.clone()));
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(None),
            }
        }
    }

    async fn tags(&self, p: &AwsProvider, arn: &str) -> Result<TagMap> {
        match p
            .call("logs:ListTagsForResource", || {
                p.logs.list_tags_for_resource().resource_arn(arn).send()
            })
            .await
        {
            Ok(out) => Ok(out
                .tags()
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default()),
            Err(e) if is_not_found(&e) => Ok(TagMap::new()),
            Err(e) => Err(e),
        }
    }

    fn to_value(
        &self,
        p: &AwsProvider,
        g: &LogGroup,
        tags: &TagMap,
        prior: Option<&Value>,
    ) -> Value {
        let (tags, tags_all) = tags_from_api(tags, prior, &p.default_tags);
        let name = g.log_group_name().unwrap_or_default();
        Obj::new(&p.resource_schema(GROUP))
            .keep(prior, &["name_prefix", "skip_destroy"])
            .set("id", name)
            .set("name", name)
            .set("arn", group_arn(g))
            .set(
                "retention_in_days",
                Value::from(i64::from(g.retention_in_days().unwrap_or(0))),
            )
            .set_opt_str("kms_key_id", g.kms_key_id())
            .set(
                "log_group_class",
                g.log_group_class().map_or("STANDARD", |c| c.as_str()),
            )
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }
}

#[async_trait]
impl TagListed for LogGroupType {
    async fn read_matching(&self, p: &AwsProvider, keep: TagFilter<'_>) -> Result<Vec<Value>> {
        let mut groups = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = p
                .call("logs:DescribeLogGroups", || {
                    p.logs
                        .describe_log_groups()
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            groups.extend(page.log_groups().iter().cloned());
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        let tagged = read_each(groups, |g| async move {
            let tags = self.tags(p, &group_arn(&g)).await?;
            Ok((g, tags))
        })
        .await?;
        Ok(tagged
            .into_iter()
            .filter(|(_, t)| keep(t))
            .map(|(g, t)| self.to_value(p, &g, &t, None))
            .collect())
    }
}

impl LogGroupType {
    async fn set_retention(&self, p: &AwsProvider, name: &str, days: i64) -> Result<()> {
        if days == 0 {
            p.call("logs:DeleteRetentionPolicy", || {
                p.logs.delete_retention_policy().log_group_name(name).send()
            })
            .await
            .map(|_| ())
        } else {
            p.call("logs:PutRetentionPolicy", || {
                p.logs
                    .put_retention_policy()
                    .log_group_name(name)
                    .retention_in_days(days as i32)
                    .send()
            })
            .await
            .map(|_| ())
        }
        .map_err(|e| at_path(e, "retention_in_days"))
    }
}

#[async_trait]
impl ReadByKey for LogGroupType {
    const KEYS: &'static [&'static str] = &["id", "name"];

    async fn read_one(
        &self,
        p: &AwsProvider,
        name: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let Some(g) = self.get(p, name).await? else {
            return Ok(None);
        };
        let tags = self.tags(p, &group_arn(&g)).await?;
        Ok(Some(self.to_value(p, &g, &tags, prior)))
    }
}

#[async_trait]
impl ResourceType for LogGroupType {
    fn tag_listed(&self) -> Option<&dyn TagListed> {
        Some(self)
    }

    fn name(&self) -> &'static str {
        GROUP
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(&["id", "arn"], Attribute::computed(AttrType::String))
            .named_or_prefixed()
            .attr(
                "retention_in_days",
                Attribute::optional(AttrType::Number).default(0i64),
            )
            .attr("kms_key_id", Attribute::optional(AttrType::String))
            .attr(
                "skip_destroy",
                Attribute::optional(AttrType::Bool).default(false),
            )
            .attr(
                "log_group_class",
                Attribute::optional(AttrType::String)
                    .default("STANDARD")
                    .force_new(),
            )
            .tagged()
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        if let Some(d) = get_i64(config, "retention_in_days")
            && !RETENTION_DAYS.contains(&d)
        {
            return Err(invalid(
                "retention_in_days",
                format!("expected retention_in_days to be one of {RETENTION_DAYS:?}, got {d}"),
            ));
        }
        if let Some(c) = get_str(config, "log_group_class")
            && !matches!(c.as_str(), "STANDARD" | "INFREQUENT_ACCESS" | "DELIVERY")
        {
            return Err(invalid(
                "log_group_class",
                format!(
                    "expected log_group_class to be one of [\"STANDARD\" \"INFREQUENT_ACCESS\" \"DELIVERY\"], got {c:?}"
                ),
            ));
        }
        Ok(default_plan(
            p,
            &p.resource_schema(GROUP),
            prior,
            config,
            ctx,
        ))
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        self.read_keyed(p, prior).await
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let name = get_str(planned, "name").unwrap_or_else(|| {
            super::iam::generated_name(
                Some(
                    get_str(planned, "name_prefix")
                        .as_deref()
                        .unwrap_or("terraform-"),
                ),
                &ctx.idempotency_token,
            )
        });
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let class = get_str(planned, "log_group_class").filter(|c| c != "STANDARD");
        p.call("logs:CreateLogGroup", || {
            p.logs
                .create_log_group()
                .log_group_name(&name)
                .set_kms_key_id(get_str(planned, "kms_key_id"))
                .set_log_group_class(class.as_deref().map(Into::into))
                .set_tags(Some(tags.clone().into_iter().collect()))
                .send()
        })
        .await
        .map_err(|e| match &e {
            ProviderError::Api { code, .. }
            | ProviderError::Conflict { code, .. }
            | ProviderError::InvalidArgument { code, .. }
                if code == "ResourceAlreadyExistsException" =>
            {
                argument_error(e, "name")
            }
            _ => at_path(e, "name"),
        })?;
        let mut with_name = planned.clone();
        if let Some(m) = with_name.as_map_mut() {
            m.insert("name".into(), Value::from(name.as_str()));
            m.insert("id".into(), Value::from(name.as_str()));
        }
        let after = async {
            let days = get_i64(planned, "retention_in_days").unwrap_or(0);
            if days != 0 {
                self.set_retention(p, &name, days).await?;
            }
            self.read_one(p, &name, Some(&with_name))
                .await?
                .ok_or_else(|| ProviderError::NotFound(format!("log group {name} vanished")))
        };
        after
            .await
            .map_err(|e| super::partially_created(&with_name, e))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let name = require_id(GROUP, prior)?;
        let days = get_i64(planned, "retention_in_days").unwrap_or(0);
        if get_i64(prior, "retention_in_days").unwrap_or(0) != days {
            self.set_retention(p, &name, days).await?;
        }
        if get_str(prior, "kms_key_id") != get_str(planned, "kms_key_id") {
            match get_str(planned, "kms_key_id") {
                Some(k) => p
                    .call("logs:AssociateKmsKey", || {
                        p.logs
                            .associate_kms_key()
                            .log_group_name(&name)
                            .kms_key_id(&k)
                            .send()
                    })
                    .await
                    .map(|_| ()),
                None => p
                    .call("logs:DisassociateKmsKey", || {
                        p.logs.disassociate_kms_key().log_group_name(&name).send()
                    })
                    .await
                    .map(|_| ()),
            }
            .map_err(|e| at_path(e, "kms_key_id"))?;
        }
        let arn = &get_str(prior, "arn").unwrap_or_default();
        send_tag_changes(
            &value_to_str_map(prior.get("tags_all").unwrap_or(&Value::Null)),
            &value_to_str_map(planned.get("tags_all").unwrap_or(&Value::Null)),
            |keys| async move {
                p.call("logs:UntagResource", || {
                    p.logs
                        .untag_resource()
                        .resource_arn(arn)
                        .set_tag_keys(Some(keys.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            },
            |tags| async move {
                p.call("logs:TagResource", || {
                    p.logs
                        .tag_resource()
                        .resource_arn(arn)
                        .set_tags(Some(tags.clone().into_iter().collect()))
                        .send()
                })
                .await
                .map(|_| ())
            },
        )
        .await?;
        self.read_one(p, &name, Some(planned))
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("log group {name} disappeared")))
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        if get_bool(prior, "skip_destroy") == Some(true) {
            return Ok(());
        }
        let name = require_id(GROUP, prior)?;
        match p
            .call("logs:DeleteLogGroup", || {
                p.logs.delete_log_group().log_group_name(&name).send()
            })
            .await
        {
            Err(e) if !is_not_found(&e) => Err(e),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------
// aws_flow_log
// ---------------------------------------------------------------------------

/// The resource a flow log watches: `(attribute, API resource type)`.
const TARGETS: &[(&str, FlowLogsResourceType)] = &[
    ("vpc_id", FlowLogsResourceType::Vpc),
    ("subnet_id", FlowLogsResourceType::Subnet),
    ("eni_id", FlowLogsResourceType::NetworkInterface),
    ("transit_gateway_id", FlowLogsResourceType::TransitGateway),
    (
        "transit_gateway_attachment_id",
        FlowLogsResourceType::TransitGatewayAttachment,
    ),
];

impl Ec2Mapped for FlowLogType {
    type Object = FlowLog;

    fn map(&self, p: &AwsProvider, f: &FlowLog, prior: Option<&Value>) -> Value {
        let id = f.flow_log_id().unwrap_or_default();
        let resource = f.resource_id().unwrap_or_default();
        let (tags, tags_all) = tags_from_api(&tags_to_map(f.tags()), prior, &p.default_tags);
        let dest_type = f
            .log_destination_type()
            .map_or("cloud-watch-logs", |t| t.as_str());
        // CloudWatch destinations: the API may report only the group name.
        let destination = f.log_destination().map(str::to_string).or_else(|| {
            prior
                .and_then(|pv| get_str(pv, "log_destination"))
                .filter(|_| dest_type == "cloud-watch-logs")
        });
        let mut obj = Obj::new(&p.resource_schema(FLOW))
            .keep(prior, &["deliver_cross_account_role", "arn"])
            .set("id", id)
            .set_opt_str("traffic_type", f.traffic_type().map(|t| t.as_str()))
            .set("log_destination_type", dest_type)
            .set_opt_str("log_destination", destination.as_deref())
            .set_opt_str("log_group_name", f.log_group_name())
            .set_opt_str("iam_role_arn", f.deliver_logs_permission_arn())
            .set(
                "max_aggregation_interval",
                Value::from(i64::from(f.max_aggregation_interval().unwrap_or(600))),
            )
            .set_opt_str("log_format", f.log_format())
            .set("tags", tags)
            .set("tags_all", tags_all);
        // Which attribute names the watched resource: the prior's, else by ID prefix.
        let attr = TARGETS
            .iter()
            .map(|(a, _)| *a)
            .find(|a| prior.and_then(|pv| get_str(pv, a)).as_deref() == Some(resource))
            .unwrap_or(if resource.starts_with("subnet-") {
                "subnet_id"
            } else if resource.starts_with("eni-") {
                "eni_id"
            } else if resource.starts_with("tgw-attach-") {
                "transit_gateway_attachment_id"
            } else if resource.starts_with("tgw-") {
                "transit_gateway_id"
            } else {
                "vpc_id"
            });
        obj = obj.set(attr, resource);
        obj.build()
    }
}

#[async_trait]
impl ResourceType for FlowLogType {
    fn name(&self) -> &'static str {
        FLOW
    }

    fn schema(&self) -> Schema {
        let new_str = || Attribute::optional(AttrType::String).force_new();
        let new_computed = || Attribute::optional_computed(AttrType::String).force_new();
        let mut s = Schema::new()
            .attrs(&["id", "arn"], Attribute::computed(AttrType::String))
            .attrs(
                &["traffic_type", "iam_role_arn", "deliver_cross_account_role"],
                new_str(),
            )
            .attr(
                "log_destination_type",
                Attribute::optional(AttrType::String)
                    .default("cloud-watch-logs")
                    .force_new(),
            )
            .attrs(
                &["log_destination", "log_group_name", "log_format"],
                new_computed(),
            )
            .attr(
                "max_aggregation_interval",
                Attribute::optional(AttrType::Number)
                    .default(600i64)
                    .force_new(),
            );
        for (a, _) in TARGETS {
            s = s.attr(a, new_str());
        }
        s.tagged()
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        if config.is_wholly_known() {
            let set: Vec<&str> = TARGETS
                .iter()
                .map(|(a, _)| *a)
                .filter(|a| get_str(config, a).is_some())
                .collect();
            if set.len() != 1 {
                return Err(ProviderError::InvalidArgument {
                    path: None,
                    code: "InvalidTarget".into(),
                    message: format!(
                        "exactly one of `vpc_id`, `subnet_id`, `eni_id`, `transit_gateway_id` or \
                         `transit_gateway_attachment_id` must be set (got {})",
                        if set.is_empty() {
                            "none".to_string()
                        } else {
                            set.join(", ")
                        }
                    ),
                });
            }
            if let Some(t) = get_str(config, "traffic_type")
                && !matches!(t.as_str(), "ACCEPT" | "REJECT" | "ALL")
            {
                return Err(invalid(
                    "traffic_type",
                    format!(
                        "expected traffic_type to be one of [\"ACCEPT\" \"REJECT\" \"ALL\"], got {t:?}"
                    ),
                ));
            }
            if let Some(t) = get_str(config, "log_destination_type")
                && !matches!(
                    t.as_str(),
                    "cloud-watch-logs" | "s3" | "kinesis-data-firehose"
                )
            {
                return Err(invalid(
                    "log_destination_type",
                    format!(
                        "expected log_destination_type to be one of [\"cloud-watch-logs\" \"s3\" \"kinesis-data-firehose\"], got {t:?}"
                    ),
                ));
            }
            if let Some(n) = get_i64(config, "max_aggregation_interval")
                && n != 60
                && n != 600
            {
                return Err(invalid(
                    "max_aggregation_interval",
                    format!("expected max_aggregation_interval to be one of [60 600], got {n}"),
                ));
            }
        }
        Ok(default_plan(
            p,
            &p.resource_schema(FLOW),
            prior,
            config,
            ctx,
        ))
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let (attr, rtype) = TARGETS
            .iter()
            .find(|(a, _)| get_str(planned, a).is_some())
            .cloned()
            .ok_or_else(|| ProviderError::InvalidArgument {
                path: None,
                code: "InvalidTarget".into(),
                message: "one of `vpc_id`, `subnet_id` or `eni_id` must be set".into(),
            })?;
        let resource = get_str(planned, attr).unwrap_or_default();
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let dest_type =
            get_str(planned, "log_destination_type").unwrap_or_else(|| "cloud-watch-logs".into());
        let traffic = get_str(planned, "traffic_type");
        let interval = get_i64(planned, "max_aggregation_interval").map(|n| n as i32);
        let out = p
            .call("ec2:CreateFlowLogs", || {
                p.ec2
                    .create_flow_logs()
                    .resource_ids(&resource)
                    .resource_type(rtype.clone())
                    .set_traffic_type(traffic.as_deref().map(TrafficType::from))
                    .log_destination_type(LogDestinationType::from(dest_type.as_str()))
                    .set_log_destination(get_str(planned, "log_destination"))
                    .set_log_group_name(get_str(planned, "log_group_name"))
                    .set_deliver_logs_permission_arn(get_str(planned, "iam_role_arn"))
                    .set_deliver_cross_account_role(get_str(planned, "deliver_cross_account_role"))
                    .set_max_aggregation_interval(interval)
                    .set_log_format(get_str(planned, "log_format"))
                    .tag_specifications(tag_spec(Ec2ResourceType::VpcFlowLog, &tags))
                    .send()
            })
            .await?;
        if let Some(u) = out.unsuccessful().first() {
            let message = u
                .error()
                .and_then(|e| e.message())
                .unwrap_or("the flow log was not created")
                .to_string();
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![PathStep::Key(attr.into())]),
                code: u
                    .error()
                    .and_then(|e| e.code())
                    .unwrap_or("Unsuccessful")
                    .to_string(),
                message,
            });
        }
        let id = out.flow_log_ids().first().cloned().unwrap_or_default();
        // The ARN carries the account: ask once, at create.
        let me = p
            .call("sts:GetCallerIdentity", || {
                p.sts.get_caller_identity().send()
            })
            .await?;
        let mut with_arn = planned.clone();
        if let Some(m) = with_arn.as_map_mut() {
            m.insert(
                "arn".into(),
                Value::from(p.arn(
                    "ec2",
                    me.account().unwrap_or_default(),
                    &format!("vpc-flow-log/{id}"),
                )),
            );
        }
        read_mapped(self, p, &id, Some(&with_arn), "flow log").await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let id = require_id(FLOW, prior)?;
        update_tags(p, &id, prior, planned).await?;
        read_mapped(self, p, &id, Some(planned), "flow log").await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(FLOW, prior)?;
        ok_if_gone(
            p.call("ec2:DeleteFlowLogs", || {
                p.ec2.delete_flow_logs().flow_log_ids(&id).send()
            })
            .await,
        )
    }
}
