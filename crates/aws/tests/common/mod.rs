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
pub async fn read(p: &AwsProvider, type_name: &str, state: &Value) -> Option<Value> {
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
