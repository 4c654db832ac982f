//! Shared helpers for the AWS provider tests (against a real moto server).
#![allow(dead_code)]

use std::time::Duration;
use terrace_aws::AwsProvider;
use terrace_core::Value;
use terrace_provider::{CreateContext, PlannedResource, Provider, ResourceContext};

/// A provider against the shared moto server, or `None` (skip).
pub async fn provider(environment: &str) -> Option<AwsProvider> {
    provider_with(environment, Value::map::<&str>([])).await
}

/// A provider with `default_tags`.
pub async fn provider_with_default_tags(
    environment: &str,
    tags: &[(&str, &str)],
) -> Option<AwsProvider> {
    let tags = Value::Map(
        tags.iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect(),
    );
    let config = Value::map([(
        "default_tags",
        Value::List(vec![Value::map([("tags", tags)])]),
    )]);
    provider_with(environment, config).await
}

pub async fn provider_with(environment: &str, config: Value) -> Option<AwsProvider> {
    let moto = terrace_testkit::shared_moto()?;
    Some(
        AwsProvider::connect(&config, environment, &moto.aws_env())
            .await
            .expect("configure provider"),
    )
}

pub fn ctx(env: &str, address: &str) -> ResourceContext {
    ResourceContext {
        environment: env.to_string(),
        address: address.to_string(),
    }
}

pub fn create_ctx(env: &str, address: &str) -> CreateContext {
    CreateContext {
        resource: ctx(env, address),
        idempotency_token: format!("{env}-{address}-{}", std::process::id()),
        timeout: Duration::from_secs(60),
    }
}

/// Plan a create and apply it; returns the new state.
pub async fn create(p: &AwsProvider, type_name: &str, config: &Value, c: &CreateContext) -> Value {
    let planned = p
        .plan_resource(type_name, None, config, &c.resource)
        .expect("plan create");
    assert!(planned.requires_replace.is_empty());
    let state = p
        .create(type_name, &planned.planned, c)
        .await
        .unwrap_or_else(|e| panic!("create {type_name}: {e}"));
    assert!(
        state.is_wholly_known(),
        "state after create has unknowns: {state}"
    );
    assert_planned_matches(&planned.planned, &state);
    state
}

/// Every known planned value must equal the value after apply.
pub fn assert_planned_matches(planned: &Value, state: &Value) {
    let (Some(pm), Some(sm)) = (planned.as_map(), state.as_map()) else {
        panic!("not objects: {planned} / {state}");
    };
    for (k, pv) in pm {
        if pv.is_wholly_known() {
            assert_eq!(
                Some(pv),
                sm.get(k),
                "planned {k} differs from the applied value"
            );
        }
    }
}

/// Plan again with the same config: no replacement and planned == prior.
pub fn assert_no_diff(
    p: &AwsProvider,
    type_name: &str,
    state: &Value,
    config: &Value,
    ctx: &ResourceContext,
) {
    let PlannedResource {
        planned,
        requires_replace,
    } = p
        .plan_resource(type_name, Some(state), config, ctx)
        .expect("plan");
    assert!(
        requires_replace.is_empty(),
        "unexpected replacement: {requires_replace:?}"
    );
    assert_eq!(&planned, state, "a second plan is not empty");
}

/// Read one object back.
pub async fn read(p: &dyn Provider, type_name: &str, state: &Value) -> Option<Value> {
    let mut out = p
        .read_resources(type_name, std::slice::from_ref(state))
        .await
        .expect("read");
    assert_eq!(out.len(), 1);
    out.pop().unwrap()
}

pub fn calls(p: &AwsProvider, op: &str) -> u64 {
    p.api_calls()
        .iter()
        .find(|(k, _)| k == op)
        .map(|(_, n)| *n)
        .unwrap_or(0)
}

pub fn s(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
        .to_string()
}

pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The top-level attributes whose values differ between two states.
pub fn changed_attributes(before: &Value, after: &Value) -> Vec<String> {
    let (Some(b), Some(a)) = (before.as_map(), after.as_map()) else {
        panic!("not objects: {before} / {after}");
    };
    let mut keys: Vec<String> = b
        .keys()
        .chain(a.keys())
        .filter(|k| b.get(*k) != a.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Edited outside → changed: after `edit` (an SDK call made by hand), a
/// read still finds the object and exactly `attrs` differ from `state` —
/// what drift then reports as `changed` with those attributes. Returns the
/// object as read.
pub async fn assert_edit_seen(
    p: &dyn Provider,
    type_name: &str,
    state: &Value,
    edit: impl std::future::Future<Output = ()>,
    attrs: &[&str],
) -> Value {
    edit.await;
    let read_back = read(p, type_name, state)
        .await
        .unwrap_or_else(|| panic!("{type_name}: an object edited outside reads as gone"));
    assert_eq!(
        changed_attributes(state, &read_back),
        attrs,
        "{type_name}: the edit outside is not seen as a change of exactly these attributes"
    );
    read_back
}

/// Deleted outside → missing: after `delete` (an SDK call made by hand),
/// a read finds nothing, and destroying the gone object succeeds.
pub async fn assert_delete_seen(
    p: &dyn Provider,
    type_name: &str,
    state: &Value,
    delete: impl std::future::Future<Output = ()>,
) {
    delete.await;
    assert_eq!(
        read(p, type_name, state).await,
        None,
        "{type_name}: an object deleted outside still reads"
    );
    p.delete(type_name, state)
        .await
        .unwrap_or_else(|e| panic!("{type_name}: destroying an object deleted outside: {e}"));
}

/// A tag added by hand to an EC2 object (as a console user would).
pub async fn ec2_tag_outside(p: &AwsProvider, id: &str) {
    p.ec2_client()
        .create_tags()
        .resources(id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("edited-by")
                .value("hand")
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("tag {id} by hand: {e:?}"));
}

/// Delete an EC2 object of `type_name` by hand with the SDK call a user
/// would make for it.
pub async fn ec2_delete_outside(p: &AwsProvider, type_name: &str, id: &str) {
    let ec2 = p.ec2_client();
    let sent = match type_name {
        "aws_vpc" => done(ec2.delete_vpc().vpc_id(id).send().await),
        "aws_subnet" => done(ec2.delete_subnet().subnet_id(id).send().await),
        "aws_security_group" => done(ec2.delete_security_group().group_id(id).send().await),
        "aws_internet_gateway" => {
            // Detached first, as the console requires.
            let described = ec2
                .describe_internet_gateways()
                .internet_gateway_ids(id)
                .send()
                .await
                .unwrap();
            for gateway in described.internet_gateways() {
                for attachment in gateway.attachments() {
                    ec2.detach_internet_gateway()
                        .internet_gateway_id(id)
                        .vpc_id(attachment.vpc_id().unwrap())
                        .send()
                        .await
                        .unwrap();
                }
            }
            done(
                ec2.delete_internet_gateway()
                    .internet_gateway_id(id)
                    .send()
                    .await,
            )
        }
        "aws_egress_only_internet_gateway" => done(
            ec2.delete_egress_only_internet_gateway()
                .egress_only_internet_gateway_id(id)
                .send()
                .await,
        ),
        "aws_route_table" => done(ec2.delete_route_table().route_table_id(id).send().await),
        "aws_eip" => done(ec2.release_address().allocation_id(id).send().await),
        "aws_key_pair" => done(ec2.delete_key_pair().key_name(id).send().await),
        "aws_network_acl" => done(ec2.delete_network_acl().network_acl_id(id).send().await),
        "aws_vpc_dhcp_options" => done(ec2.delete_dhcp_options().dhcp_options_id(id).send().await),
        "aws_vpn_gateway" => done(ec2.delete_vpn_gateway().vpn_gateway_id(id).send().await),
        "aws_flow_log" => done(ec2.delete_flow_logs().flow_log_ids(id).send().await),
        "aws_vpc_endpoint" => done(ec2.delete_vpc_endpoints().vpc_endpoint_ids(id).send().await),
        other => panic!("no hand deletion for {other}"),
    };
    sent.unwrap_or_else(|e| panic!("delete {type_name} {id} by hand: {e}"));
}

fn done<T, E: std::fmt::Debug>(sent: Result<T, E>) -> Result<(), String> {
    sent.map(drop).map_err(|e| format!("{e:?}"))
}
