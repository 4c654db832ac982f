//! `aws_vpc_endpoint`: Gateway endpoints (route tables, policy) and
//! Interface endpoints (subnets, security groups, private DNS).
//!
//! EC2 reports endpoint states in lower case (`available`, `pending`,
//! `deleted`) while the SDK's `State` enum spells them capitalised, so a
//! comparison with `State::Available` never matches and a waiter built on
//! it polls forever — the hang an earlier attempt met on moto. States are
//! compared case-insensitively here and every wait is bounded.

use super::ec2::find::{Ec2Mapped, Lookups, read_mapped, wait_gone, wait_until};
use super::ec2_support::{tag_spec, tags_to_map, update_tags};
use super::iam::keep_same_json;
use super::{ResourceType, default_plan, require_id};
use crate::Result;
use crate::api::{at_path, is_not_found};
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_bool, get_str, get_strings, json_equivalent, str_set};
use async_trait::async_trait;
use aws_sdk_ec2::types::{ResourceType as Ec2ResourceType, VpcEndpoint, VpcEndpointType};
use std::time::Duration;
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct VpcEndpointResource;

const NAME: &str = "aws_vpc_endpoint";
/// Terraform's create/delete timeouts for VPC endpoints.
const CREATE_TIMEOUT: Duration = Duration::from_secs(600);
const DELETE_TIMEOUT: Duration = Duration::from_secs(600);

/// The endpoint's state in lower case, as the API sends it.
pub(crate) fn endpoint_state(e: &VpcEndpoint) -> String {
    e.state()
        .map(|s| s.as_str().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Ready (`Ok(true)`), still working (`Ok(false)`), or failed.
fn ready(e: &VpcEndpoint) -> Result<bool> {
    match endpoint_state(e).as_str() {
        "available" | "pendingacceptance" => Ok(true),
        "failed" | "rejected" | "expired" | "deleted" | "deleting" => Err(ProviderError::Api {
            code: "VpcEndpointFailed".into(),
            message: format!(
                "VPC endpoint {} is {}{}",
                e.vpc_endpoint_id().unwrap_or_default(),
                endpoint_state(e),
                e.last_error()
                    .and_then(|x| x.message())
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        }),
        _ => Ok(false),
    }
}

fn set_diff(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
    let add = new.iter().filter(|x| !old.contains(x)).cloned().collect();
    let remove = old.iter().filter(|x| !new.contains(x)).cloned().collect();
    (add, remove)
}

impl Ec2Mapped for VpcEndpointResource {
    type Object = VpcEndpoint;

    fn map(&self, p: &AwsProvider, e: &VpcEndpoint, prior: Option<&Value>) -> Value {
        let id = e.vpc_endpoint_id().unwrap_or_default();
        let owner = e.owner_id().unwrap_or_default();
        let (tags, tags_all) = tags_from_api(&tags_to_map(e.tags()), prior, &p.default_tags);
        let policy = match (
            e.policy_document(),
            prior.and_then(|pv| get_str(pv, "policy")),
        ) {
            (Some(api), Some(old)) if json_equivalent(api, &old) => Value::from(old),
            (api, _) => crate::values::opt_str(api),
        };
        let dns = e
            .dns_entries()
            .iter()
            .map(|d| {
                Value::map([
                    ("dns_name", crate::values::opt_str(d.dns_name())),
                    ("hosted_zone_id", crate::values::opt_str(d.hosted_zone_id())),
                ])
            })
            .collect();
        Obj::new(&p.resource_schema(NAME))
            .keep(prior, &["auto_accept"])
            .set("id", id)
            .set("arn", p.arn("ec2", owner, &format!("vpc-endpoint/{id}")))
            .set("owner_id", owner)
            .set_opt_str("vpc_id", e.vpc_id())
            .set_opt_str("service_name", e.service_name())
            .set(
                "vpc_endpoint_type",
                e.vpc_endpoint_type().map_or("Gateway", |t| t.as_str()),
            )
            .set("state", endpoint_state(e))
            .set("policy", policy)
            .set(
                "private_dns_enabled",
                e.private_dns_enabled().unwrap_or(false),
            )
            .set("requester_managed", e.requester_managed().unwrap_or(false))
            .set("route_table_ids", str_set(e.route_table_ids().to_vec()))
            .set("subnet_ids", str_set(e.subnet_ids().to_vec()))
            .set(
                "security_group_ids",
                str_set(
                    e.groups()
                        .iter()
                        .filter_map(|g| g.group_id().map(str::to_string)),
                ),
            )
            .set(
                "network_interface_ids",
                str_set(e.network_interface_ids().to_vec()),
            )
            .set("dns_entry", Value::List(dns))
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }
}

#[async_trait]
impl ResourceType for VpcEndpointResource {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        let ids = || Attribute::optional_computed(AttrType::set_of(AttrType::String));
        Schema::new()
            .attrs(
                &["id", "arn", "owner_id", "state"],
                Attribute::computed(AttrType::String),
            )
            .attr("requester_managed", Attribute::computed(AttrType::Bool))
            .attrs(
                &["vpc_id", "service_name"],
                Attribute::required(AttrType::String).force_new(),
            )
            .attr(
                "vpc_endpoint_type",
                Attribute::optional(AttrType::String)
                    .default("Gateway")
                    .force_new(),
            )
            .attr("auto_accept", Attribute::optional(AttrType::Bool))
            .attr("policy", Attribute::optional_computed(AttrType::String))
            .attr(
                "private_dns_enabled",
                Attribute::optional_computed(AttrType::Bool),
            )
            .attrs(
                &["route_table_ids", "subnet_ids", "security_group_ids"],
                ids(),
            )
            .attr(
                "network_interface_ids",
                Attribute::computed(AttrType::set_of(AttrType::String)),
            )
            .attr(
                "dns_entry",
                Attribute::computed(AttrType::list_of(AttrType::map_of(AttrType::String))),
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
        if let Some(t) = get_str(config, "vpc_endpoint_type")
            && !matches!(t.as_str(), "Gateway" | "Interface" | "GatewayLoadBalancer")
        {
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![PathStep::Key("vpc_endpoint_type".into())]),
                code: "InvalidValue".into(),
                message: format!(
                    "expected vpc_endpoint_type to be one of [\"Gateway\" \"GatewayLoadBalancer\" \"Interface\"], got {t:?}"
                ),
            });
        }
        let mut planned = default_plan(p, &p.resource_schema(NAME), prior, config, ctx);
        keep_same_json(&mut planned, prior, config, "policy");
        Ok(planned)
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let kind = get_str(planned, "vpc_endpoint_type").unwrap_or_else(|| "Gateway".into());
        let list = |k: &str| {
            let xs = get_strings(planned, k);
            (!xs.is_empty()).then_some(xs)
        };
        let out = p
            .call("ec2:CreateVpcEndpoint", || {
                p.ec2
                    .create_vpc_endpoint()
                    .vpc_id(get_str(planned, "vpc_id").unwrap_or_default())
                    .service_name(get_str(planned, "service_name").unwrap_or_default())
                    .vpc_endpoint_type(VpcEndpointType::from(kind.as_str()))
                    .set_policy_document(get_str(planned, "policy"))
                    .set_private_dns_enabled(get_bool(planned, "private_dns_enabled"))
                    .set_route_table_ids(list("route_table_ids"))
                    .set_subnet_ids(list("subnet_ids"))
                    .set_security_group_ids(list("security_group_ids"))
                    .tag_specifications(tag_spec(Ec2ResourceType::VpcEndpoint, &tags))
                    .send()
            })
            .await
            .map_err(|e| match e {
                ProviderError::Api { code, message } if code.contains("ServiceName") => {
                    ProviderError::InvalidArgument {
                        path: Some(vec![PathStep::Key("service_name".into())]),
                        code,
                        message,
                    }
                }
                e => at_path(e, "service_name"),
            })?;
        let id = out
            .vpc_endpoint()
            .and_then(|e| e.vpc_endpoint_id())
            .unwrap_or_default()
            .to_string();
        let with_id = {
            let mut v = planned.clone();
            if let Some(m) = v.as_map_mut() {
                m.insert("id".into(), Value::from(id.as_str()));
            }
            v
        };
        let timeout = ctx.timeout.max(Duration::from_secs(1)).min(CREATE_TIMEOUT);
        let after = async {
            if get_bool(planned, "auto_accept") == Some(true) {
                let e = wait_until::<VpcEndpoint>(p, &id, "VPC endpoint", timeout, |e| {
                    Ok(endpoint_state(e) != "pending")
                })
                .await?;
                if endpoint_state(&e) == "pendingacceptance" {
                    p.call("ec2:AcceptVpcEndpointConnections", || {
                        p.ec2
                            .accept_vpc_endpoint_connections()
                            .service_id(e.service_name().unwrap_or_default())
                            .vpc_endpoint_ids(&id)
                            .send()
                    })
                    .await?;
                }
            }
            wait_until::<VpcEndpoint>(p, &id, "VPC endpoint available", timeout, ready).await?;
            read_mapped(self, p, &id, Some(planned), "VPC endpoint").await
        };
        after
            .await
            .map_err(|e| super::partially_created(&with_id, e))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        ctx: &ResourceContext,
    ) -> Result<Value> {
        let _ = ctx;
        let id = require_id(NAME, prior)?;
        let (add_rt, rm_rt) = set_diff(
            &get_strings(prior, "route_table_ids"),
            &get_strings(planned, "route_table_ids"),
        );
        let (add_sn, rm_sn) = set_diff(
            &get_strings(prior, "subnet_ids"),
            &get_strings(planned, "subnet_ids"),
        );
        let (add_sg, rm_sg) = set_diff(
            &get_strings(prior, "security_group_ids"),
            &get_strings(planned, "security_group_ids"),
        );
        let policy = get_str(planned, "policy")
            .filter(|new| !get_str(prior, "policy").is_some_and(|old| json_equivalent(&old, new)));
        let dns = get_bool(planned, "private_dns_enabled")
            .filter(|d| get_bool(prior, "private_dns_enabled") != Some(*d));
        let opt = |v: Vec<String>| (!v.is_empty()).then_some(v);
        let any = !(add_rt.is_empty()
            && rm_rt.is_empty()
            && add_sn.is_empty()
            && rm_sn.is_empty()
            && add_sg.is_empty()
            && rm_sg.is_empty())
            || policy.is_some()
            || dns.is_some();
        if any {
            p.call("ec2:ModifyVpcEndpoint", || {
                p.ec2
                    .modify_vpc_endpoint()
                    .vpc_endpoint_id(&id)
                    .set_policy_document(policy.clone())
                    .set_private_dns_enabled(dns)
                    .set_add_route_table_ids(opt(add_rt.clone()))
                    .set_remove_route_table_ids(opt(rm_rt.clone()))
                    .set_add_subnet_ids(opt(add_sn.clone()))
                    .set_remove_subnet_ids(opt(rm_sn.clone()))
                    .set_add_security_group_ids(opt(add_sg.clone()))
                    .set_remove_security_group_ids(opt(rm_sg.clone()))
                    .send()
            })
            .await?;
            wait_until::<VpcEndpoint>(p, &id, "VPC endpoint available", CREATE_TIMEOUT, ready)
                .await?;
        }
        update_tags(p, &id, prior, planned).await?;
        read_mapped(self, p, &id, Some(planned), "VPC endpoint").await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        let out = match p
            .call("ec2:DeleteVpcEndpoints", || {
                p.ec2.delete_vpc_endpoints().vpc_endpoint_ids(&id).send()
            })
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        if let Some(u) = out.unsuccessful().first() {
            let code = u.error().and_then(|e| e.code()).unwrap_or_default();
            if !code.contains("NotFound") {
                return Err(ProviderError::Api {
                    code: code.to_string(),
                    message: u
                        .error()
                        .and_then(|e| e.message())
                        .unwrap_or("the VPC endpoint was not deleted")
                        .to_string(),
                });
            }
        }
        wait_gone::<VpcEndpoint>(p, &id, "VPC endpoint deletion", DELETE_TIMEOUT).await
    }
}
