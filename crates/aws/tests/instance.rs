//! aws_instance against moto, including the batched refresh of 1,000 instances.

mod common;

use common::*;
use futures::StreamExt;
use std::sync::Arc;
use terrace_aws::{AwsProvider, OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use terrace_core::{PathStep, Value};
use terrace_provider::Provider;

async fn amazon_linux(p: &AwsProvider) -> String {
    let config = Value::map([
        ("owners", Value::List(vec![Value::from("137112412989")])),
        ("most_recent", Value::Bool(true)),
        (
            "filter",
            Value::set(vec![Value::map([
                ("name", Value::from("name")),
                ("values", Value::set(vec![Value::from("amzn2-ami-hvm-*")])),
            ])]),
        ),
    ]);
    let ami = p.read_data("aws_ami", &config).await.expect("aws_ami");
    s(&ami, "id")
}

#[tokio::test]
async fn instance_lifecycle() {
    let env = "inst-life";
    let Some(p) = provider_with_default_tags(env, &[("team", "runners")]).await else {
        return;
    };
    let ami = amazon_linux(&p).await;
    let c = create_ctx(env, "aws_instance.runner[0]");
    let config = Value::map([
        ("ami", Value::from(ami.as_str())),
        ("instance_type", Value::from("t3.micro")),
        ("user_data", Value::from("#!/bin/sh\necho hello\n")),
        (
            "root_block_device",
            Value::List(vec![Value::map([
                ("volume_size", Value::from(20)),
                ("volume_type", Value::from("gp3")),
            ])]),
        ),
        ("tags", Value::map([("Name", Value::from("runner-0"))])),
    ]);
    let state = create(&p, "aws_instance", &config, &c).await;
    let id = s(&state, "id");
    assert!(id.starts_with("i-"));
    assert_eq!(s(&state, "instance_state"), "running");
    // Terraform stores the SHA1 of user data.
    assert_eq!(s(&state, "user_data"), sha1_hex("#!/bin/sh\necho hello\n"));
    assert_eq!(s(&state, "user_data").len(), 40);
    let root = &state.get("root_block_device").unwrap().as_list().unwrap()[0];
    assert_eq!(root.get("volume_size"), Some(&Value::from(20)));
    assert_eq!(root.get("volume_type"), Some(&Value::from("gp3")));
    assert_eq!(
        state.get("tags_all").unwrap().get("team"),
        Some(&Value::from("runners"))
    );
    assert_no_diff(&p, "aws_instance", &state, &config, &c.resource);
    assert_eq!(
        read(&p, "aws_instance", &state).await.as_ref(),
        Some(&state)
    );
    assert_eq!(calls(&p, "ec2:RunInstances"), 1);

    // instance_type is updated in place: stop, modify, start.
    let mut config2 = config.clone();
    config2
        .as_map_mut()
        .unwrap()
        .insert("instance_type".into(), Value::from("t3.small"));
    let plan = p
        .plan_resource("aws_instance", Some(&state), &config2, &c.resource)
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let updated = p
        .update("aws_instance", &state, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_eq!(s(&updated, "instance_type"), "t3.small");
    assert_eq!(s(&updated, "instance_state"), "running");
    assert_eq!(calls(&p, "ec2:StopInstances"), 1);
    assert_eq!(calls(&p, "ec2:StartInstances"), 1);
    assert_planned_matches(&plan.planned, &updated);
    assert_no_diff(&p, "aws_instance", &updated, &config2, &c.resource);

    // Changed user data replaces the instance when asked to
    // (user_data_replace_on_change); without it, see
    // `instance_options_in_place_drift_and_import`.
    let mut config3 = config2.clone();
    let m = config3.as_map_mut().unwrap();
    m.insert("user_data".into(), Value::from("#!/bin/sh\necho bye\n"));
    m.insert("user_data_replace_on_change".into(), Value::Bool(true));
    let plan = p
        .plan_resource("aws_instance", Some(&updated), &config3, &c.resource)
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("user_data".into())]]
    );
    assert_eq!(plan.planned.get("id"), Some(&Value::Unknown));

    // Import and crash recovery.
    let imported = p.import("aws_instance", &id).await.unwrap().unwrap();
    assert_eq!(s(&imported, "ami"), ami);
    let found = p
        .find_created("aws_instance", &c.idempotency_token, &c.resource)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s(&found, "id"), id);
    assert_eq!(p.list_owned("aws_instance", env).await.unwrap().len(), 1);

    // Terminated outside terrace: gone.
    p.ec2_client()
        .terminate_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, "aws_instance", &updated).await, None);
    p.delete("aws_instance", &updated)
        .await
        .expect("deleting a terminated instance is fine");
    assert!(
        p.find_created(
            "aws_instance",
            "no-such-token",
            &create_ctx(env, "aws_instance.other").resource
        )
        .await
        .unwrap()
        .is_none()
    );
}

#[tokio::test]
async fn delete_waits_for_termination() {
    let env = "inst-del";
    let Some(p) = provider(env).await else { return };
    let ami = amazon_linux(&p).await;
    let c = create_ctx(env, "aws_instance.x");
    let config = Value::map([
        ("ami", Value::from(ami.as_str())),
        ("instance_type", Value::from("t3.nano")),
    ]);
    let state = create(&p, "aws_instance", &config, &c).await;
    assert_no_diff(&p, "aws_instance", &state, &config, &c.resource);
    p.delete("aws_instance", &state).await.unwrap();
    assert_eq!(read(&p, "aws_instance", &state).await, None);
    assert!(calls(&p, "ec2:TerminateInstances") == 1);
}

#[tokio::test]
async fn refresh_of_1000_instances_is_batched() {
    let env = "inst-1000";
    let Some(p) = provider(env).await else { return };
    let ami = amazon_linux(&p).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let out = p
            .ec2_client()
            .run_instances()
            .image_id(&ami)
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Nano)
            .min_count(250)
            .max_count(250)
            .send()
            .await
            .expect("RunInstances x250");
        ids.extend(
            out.instances()
                .iter()
                .map(|i| i.instance_id().unwrap().to_string()),
        );
    }
    assert_eq!(ids.len(), 1000);
    let prior: Vec<Value> = ids
        .iter()
        .map(|id| Value::map([("id", Value::from(id.as_str()))]))
        .collect();
    let out = p.read_resources("aws_instance", &prior).await.unwrap();
    assert_eq!(out.len(), 1000);
    for (id, v) in ids.iter().zip(&out) {
        assert_eq!(v.as_ref().map(|v| s(v, "id")).as_deref(), Some(id.as_str()));
    }
    let describes = calls(&p, "ec2:DescribeInstances");
    assert!(
        describes <= 5,
        "{describes} DescribeInstances calls for 1,000 instances"
    );

    // With a few of them terminated, those come back as None, the rest as before.
    p.ec2_client()
        .terminate_instances()
        .instance_ids(&ids[0])
        .instance_ids(&ids[999])
        .send()
        .await
        .unwrap();
    let out = p.read_resources("aws_instance", &prior).await.unwrap();
    assert!(out[0].is_none() && out[999].is_none());
    assert_eq!(out.iter().filter(|o| o.is_some()).count(), 998);
    for chunk in ids.chunks(500) {
        p.ec2_client()
            .terminate_instances()
            .set_instance_ids(Some(chunk.to_vec()))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn missing_instance_ids_do_not_fail_the_batch() {
    let env = "inst-missing";
    let Some(p) = provider(env).await else { return };
    let ami = amazon_linux(&p).await;
    let c = create_ctx(env, "aws_instance.y");
    let config = Value::map([
        ("ami", Value::from(ami.as_str())),
        ("instance_type", Value::from("t3.nano")),
    ]);
    let state = create(&p, "aws_instance", &config, &c).await;
    let mut missing = state.clone();
    missing
        .as_map_mut()
        .unwrap()
        .insert("id".into(), Value::from("i-0123456789abcdef0"));
    let out = p
        .read_resources("aws_instance", &[missing, state.clone()])
        .await
        .unwrap();
    assert!(out[0].is_none());
    assert_eq!(out[1].as_ref(), Some(&state));
    p.delete("aws_instance", &state).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_share_describe_instances() {
    // The engine calls `create` from many tasks at once; their waits for
    // `running` must share DescribeInstances calls, and the read after
    // create must reuse what the wait described.
    const N: usize = 20;
    let env = "inst-concurrent";
    let Some(p) = provider(env).await else { return };
    let p = Arc::new(p);
    let ami = amazon_linux(&p).await;
    let config = |i: usize| {
        Value::map([
            ("ami", Value::from(ami.as_str())),
            ("instance_type", Value::from("t3.nano")),
            (
                "root_block_device",
                Value::List(vec![Value::map([("volume_size", Value::from(12))])]),
            ),
            (
                "tags",
                Value::map([("Name", Value::from(format!("c-{i}")))]),
            ),
        ])
    };
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let p = p.clone();
            let config = config(i);
            tokio::spawn(async move {
                let c = create_ctx(env, &format!("aws_instance.c[{i}]"));
                create(&p, "aws_instance", &config, &c).await
            })
        })
        .collect();
    let mut states = Vec::new();
    for t in tasks {
        states.push(t.await.expect("create task"));
    }
    let describes = calls(&p, "ec2:DescribeInstances");
    let volumes = calls(&p, "ec2:DescribeVolumes");
    eprintln!("{N} concurrent creates: {describes} DescribeInstances, {volumes} DescribeVolumes");
    assert_eq!(calls(&p, "ec2:RunInstances"), N as u64);
    assert!(
        describes <= (N / 2) as u64,
        "{describes} DescribeInstances for {N} concurrent creates (one per create would be {N})"
    );
    assert!(
        volumes <= describes,
        "{volumes} DescribeVolumes, {describes} describes"
    );
    let mut ids: Vec<String> = states.iter().map(|st| s(st, "id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), N);
    for (i, st) in states.iter().enumerate() {
        assert_eq!(s(st, "instance_state"), "running");
        let root = &st.get("root_block_device").unwrap().as_list().unwrap()[0];
        assert_eq!(root.get("volume_size"), Some(&Value::from(12)));
        assert_no_diff(
            &p,
            "aws_instance",
            st,
            &config(i),
            &ctx(env, &format!("aws_instance.c[{i}]")),
        );
    }
    // What create returned is what a refresh reads.
    let refreshed = p.read_resources("aws_instance", &states).await.unwrap();
    for (st, r) in states.iter().zip(&refreshed) {
        assert_eq!(r.as_ref(), Some(st));
    }

    // Concurrent deletes share their waits for termination too.
    let before = calls(&p, "ec2:DescribeInstances");
    let tasks: Vec<_> = states
        .iter()
        .cloned()
        .map(|st| {
            let p = p.clone();
            tokio::spawn(async move { p.delete("aws_instance", &st).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("delete task").expect("delete");
    }
    let describes = calls(&p, "ec2:DescribeInstances") - before;
    eprintln!("{N} concurrent deletes: {describes} DescribeInstances");
    assert_eq!(calls(&p, "ec2:TerminateInstances"), N as u64);
    assert!(
        describes <= (N / 2) as u64,
        "{describes} DescribeInstances for {N} concurrent deletes"
    );
    let gone = p.read_resources("aws_instance", &states).await.unwrap();
    assert!(gone.iter().all(Option::is_none));
}

/// Run `count` instances in one reservation carrying the ownership tags.
async fn run_owned(
    p: &AwsProvider,
    ami: &str,
    env: &str,
    address: &str,
    count: i32,
) -> Vec<String> {
    let tags = aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
        .tags(tag(OWNER_ENVIRONMENT_TAG, env))
        .tags(tag(OWNER_ADDRESS_TAG, address))
        .build();
    let out = p
        .ec2_client()
        .run_instances()
        .image_id(ami)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Nano)
        .min_count(count)
        .max_count(count)
        .tag_specifications(tags)
        .send()
        .await
        .expect("RunInstances");
    out.instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect()
}

fn id_priors(ids: &[String]) -> Vec<Value> {
    ids.iter()
        .map(|id| Value::map([("id", Value::from(id.as_str()))]))
        .collect()
}

/// Refresh `ids` (all running): every one is read, in order, within
/// `max_describes` DescribeInstances.
async fn refresh_all(p: &AwsProvider, ids: &[String], max_describes: u64) {
    let before = calls(p, "ec2:DescribeInstances");
    let out = p
        .read_resources("aws_instance", &id_priors(ids))
        .await
        .unwrap();
    let describes = calls(p, "ec2:DescribeInstances") - before;
    eprintln!(
        "refresh of {} instances: {describes} DescribeInstances",
        ids.len()
    );
    assert_eq!(out.len(), ids.len());
    for (id, v) in ids.iter().zip(&out) {
        assert_eq!(v.as_ref().map(|v| s(v, "id")).as_deref(), Some(id.as_str()));
    }
    assert!(
        describes <= max_describes,
        "{describes} DescribeInstances to refresh {} instances",
        ids.len()
    );
}

/// Edit instances 5..8 by hand (one loses its ownership tag, one claims
/// another environment, one is terminated) and refresh with one ID more
/// that never existed: the edited ones are still read, the terminated and
/// the unknown one are gone, within `max_describes` DescribeInstances.
async fn refresh_after_hand_edits(p: &AwsProvider, ids: &[String], max_describes: u64) {
    let ec2 = p.ec2_client();
    ec2.delete_tags()
        .resources(&ids[5])
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key(OWNER_ENVIRONMENT_TAG)
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.create_tags()
        .resources(&ids[6])
        .tags(tag(OWNER_ENVIRONMENT_TAG, "someone-else"))
        .tags(tag("Name", "renamed"))
        .send()
        .await
        .unwrap();
    ec2.terminate_instances()
        .instance_ids(&ids[7])
        .send()
        .await
        .unwrap();
    let mut prior = id_priors(ids);
    prior.push(Value::map([("id", Value::from("i-0123456789abcdef0"))]));
    let before = calls(p, "ec2:DescribeInstances");
    let out = p.read_resources("aws_instance", &prior).await.unwrap();
    let describes = calls(p, "ec2:DescribeInstances") - before;
    eprintln!(
        "refresh of {} instances, 4 edited by hand: {describes} DescribeInstances",
        ids.len()
    );
    let n = ids.len();
    assert_eq!(out.len(), n + 1);
    let retagged = out[5].as_ref().expect("instance without its ownership tag");
    assert_eq!(s(retagged, "id"), ids[5]);
    assert!(
        retagged
            .get("tags_all")
            .unwrap()
            .get(OWNER_ENVIRONMENT_TAG)
            .is_none()
    );
    let moved = out[6]
        .as_ref()
        .expect("instance tagged for another environment");
    assert_eq!(s(moved, "id"), ids[6]);
    assert_eq!(
        moved.get("tags_all").unwrap().get("Name"),
        Some(&Value::from("renamed"))
    );
    assert!(out[7].is_none(), "terminated outside terrace");
    assert!(out[n].is_none(), "never existed");
    assert_eq!(out.iter().filter(|o| o.is_some()).count(), n - 1);
    for (id, v) in ids.iter().zip(&out).filter(|(id, _)| *id != &ids[7]) {
        assert_eq!(v.as_ref().map(|v| s(v, "id")).as_deref(), Some(id.as_str()));
    }
    assert!(
        describes <= max_describes,
        "{describes} DescribeInstances to refresh {n} instances with 4 edited by hand"
    );
}

async fn terminate_all(p: &AwsProvider, ids: &[String]) {
    for chunk in ids.chunks(200) {
        p.ec2_client()
            .terminate_instances()
            .set_instance_ids(Some(chunk.to_vec()))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn refresh_across_moto_pages_finds_retagged_and_omits_deleted() {
    // One reservation per instance, as terrace creates them: moto pages
    // ID-list describes by 100 reservations (3 calls for 250).
    const N: usize = 250;
    let env = "inst-pages";
    let Some(p) = provider(env).await else { return };
    let ami = amazon_linux(&p).await;
    let ids: Vec<String> = futures::stream::iter(0..N)
        .map(|i| {
            let (p, ami) = (&p, &ami);
            async move { run_owned(p, ami, env, &format!("aws_instance.r[{i}]"), 1).await }
        })
        .buffered(8)
        .collect::<Vec<_>>()
        .await
        .concat();
    assert_eq!(ids.len(), N);
    // Two instance-id filter calls of 200 IDs.
    refresh_all(&p, &ids, 2).await;
    refresh_after_hand_edits(&p, &ids, 2).await;
    terminate_all(&p, &ids).await;
}

#[tokio::test]
async fn refresh_of_more_than_1000_goes_by_ownership_tag() {
    // 1,100 instances (in five reservations, to keep the test quick): by ID
    // alone that would be 6 filter calls; the environment's tag finds them
    // in one page, and only what it misses is described by ID.
    const N: usize = 1100;
    let env = "inst-by-tag";
    let Some(p) = provider(env).await else { return };
    let ami = amazon_linux(&p).await;
    let mut ids = Vec::new();
    for r in 0..5 {
        ids.extend(
            run_owned(
                &p,
                &ami,
                env,
                &format!("aws_instance.t[{r}]"),
                (N / 5) as i32,
            )
            .await,
        );
    }
    assert_eq!(ids.len(), N);
    refresh_all(&p, &ids, 2).await;
    // The tag query, then one filter call for the four it did not answer.
    refresh_after_hand_edits(&p, &ids, 2).await;
    terminate_all(&p, &ids).await;
}

fn tag(key: &str, value: &str) -> aws_sdk_ec2::types::Tag {
    aws_sdk_ec2::types::Tag::builder()
        .key(key)
        .value(value)
        .build()
}

fn sha1_hex(text: &str) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(text.as_bytes()))
}

fn metadata(pairs: &[(&str, Value)]) -> Value {
    Value::List(vec![Value::map(pairs.iter().cloned())])
}

fn metadata_field(state: &Value, key: &str) -> Value {
    state.get("metadata_options").unwrap().as_list().unwrap()[0]
        .get(key)
        .cloned()
        .unwrap()
}

fn with(config: &Value, key: &str, v: Value) -> Value {
    let mut c = config.clone();
    c.as_map_mut().unwrap().insert(key.into(), v);
    c
}

/// `metadata_options`, `monitoring`, `source_dest_check`, `ebs_optimized`
/// and user data: created, read back, no-op re-plan, a hand edit seen as
/// drift and put back in place, in-place updates, replacement where
/// Terraform forces it, import, and refused values at their argument.
#[tokio::test]
async fn instance_options_in_place_drift_and_import() {
    let env = "inst-opts";
    let Some(p) = provider(env).await else { return };
    let ami = amazon_linux(&p).await;
    let c = create_ctx(env, "aws_instance.opts");
    let config = Value::map([
        ("ami", Value::from(ami.as_str())),
        ("instance_type", Value::from("t3.micro")),
        ("user_data", Value::from("#!/bin/sh\necho one\n")),
        (
            "metadata_options",
            metadata(&[
                ("http_tokens", Value::from("required")),
                ("http_put_response_hop_limit", Value::from(2)),
            ]),
        ),
        ("monitoring", Value::Bool(true)),
        ("ebs_optimized", Value::Bool(true)),
        ("source_dest_check", Value::Bool(false)),
    ]);
    let state = create(&p, "aws_instance", &config, &c).await;
    let id = s(&state, "id");
    assert_eq!(
        metadata_field(&state, "http_tokens"),
        Value::from("required")
    );
    assert_eq!(
        metadata_field(&state, "http_put_response_hop_limit"),
        Value::from(2)
    );
    // Unset fields are what EC2 chose.
    assert_eq!(
        metadata_field(&state, "http_endpoint"),
        Value::from("enabled")
    );
    assert_eq!(state.get("monitoring"), Some(&Value::Bool(true)));
    assert_eq!(state.get("ebs_optimized"), Some(&Value::Bool(true)));
    assert_eq!(state.get("source_dest_check"), Some(&Value::Bool(false)));
    assert_eq!(
        state.get("user_data_replace_on_change"),
        Some(&Value::Bool(false))
    );
    assert_no_diff(&p, "aws_instance", &state, &config, &c.resource);
    assert_eq!(
        read(&p, "aws_instance", &state).await.as_ref(),
        Some(&state)
    );

    // IMDSv1 switched back on by hand: a read shows it, the plan puts it
    // back in place.
    p.ec2_client()
        .modify_instance_metadata_options()
        .instance_id(&id)
        .http_tokens(aws_sdk_ec2::types::HttpTokensState::Optional)
        .http_put_response_hop_limit(2)
        .http_endpoint(aws_sdk_ec2::types::InstanceMetadataEndpointState::Enabled)
        .send()
        .await
        .unwrap();
    let drifted = read(&p, "aws_instance", &state).await.unwrap();
    assert_eq!(
        metadata_field(&drifted, "http_tokens"),
        Value::from("optional")
    );
    let plan = p
        .plan_resource("aws_instance", Some(&drifted), &config, &c.resource)
        .unwrap();
    assert!(
        plan.requires_replace.is_empty(),
        "{:?}",
        plan.requires_replace
    );
    assert_eq!(
        metadata_field(&plan.planned, "http_tokens"),
        Value::from("required")
    );
    let fixed = p
        .update("aws_instance", &drifted, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_eq!(
        metadata_field(&fixed, "http_tokens"),
        Value::from("required")
    );
    assert_eq!(calls(&p, "ec2:ModifyInstanceMetadataOptions"), 1);
    assert_eq!(
        calls(&p, "ec2:StopInstances"),
        0,
        "IMDS changes need no stop"
    );
    assert_no_diff(&p, "aws_instance", &fixed, &config, &c.resource);

    // In place: a new hop limit, source/dest check back on, new user data
    // (stop, modify, start — no replacement without
    // user_data_replace_on_change).
    let config2 = with(
        &with(
            &with(
                &config,
                "metadata_options",
                metadata(&[
                    ("http_tokens", Value::from("required")),
                    ("http_put_response_hop_limit", Value::from(3)),
                ]),
            ),
            "source_dest_check",
            Value::Bool(true),
        ),
        "user_data",
        Value::from("#!/bin/sh\necho two\n"),
    );
    let plan = p
        .plan_resource("aws_instance", Some(&fixed), &config2, &c.resource)
        .unwrap();
    assert!(
        plan.requires_replace.is_empty(),
        "{:?}",
        plan.requires_replace
    );
    let updated = p
        .update("aws_instance", &fixed, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_planned_matches(&plan.planned, &updated);
    assert_eq!(s(&updated, "id"), id);
    assert_eq!(
        metadata_field(&updated, "http_put_response_hop_limit"),
        Value::from(3)
    );
    assert_eq!(updated.get("source_dest_check"), Some(&Value::Bool(true)));
    assert_eq!(s(&updated, "user_data"), sha1_hex("#!/bin/sh\necho two\n"));
    assert_eq!(calls(&p, "ec2:StopInstances"), 1);
    assert_eq!(calls(&p, "ec2:StartInstances"), 1);
    let ud = p
        .ec2_client()
        .describe_instance_attribute()
        .instance_id(&id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    let sent = ud.user_data().and_then(|v| v.value()).unwrap_or_default();
    let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sent)
        .unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&decoded), "#!/bin/sh\necho two\n");
    assert_no_diff(&p, "aws_instance", &updated, &config2, &c.resource);

    // Terraform forces a new instance for ebs_optimized.
    let plan = p
        .plan_resource(
            "aws_instance",
            Some(&updated),
            &with(&config2, "ebs_optimized", Value::Bool(false)),
            &c.resource,
        )
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("ebs_optimized".into())]]
    );

    // Import reads the options; user_data_replace_on_change is false.
    let imported = p.import("aws_instance", &id).await.unwrap().unwrap();
    for key in [
        "metadata_options",
        "monitoring",
        "source_dest_check",
        "ebs_optimized",
    ] {
        assert_eq!(imported.get(key), updated.get(key), "{key}");
    }
    assert_eq!(
        imported.get("user_data_replace_on_change"),
        Some(&Value::Bool(false))
    );

    // Values Terraform refuses: an error at the argument, before any call.
    for (key, bad) in [
        ("http_tokens", Value::from("sometimes")),
        ("http_endpoint", Value::from("on")),
        ("http_put_response_hop_limit", Value::from(65)),
    ] {
        let cfg = with(&config, "metadata_options", metadata(&[(key, bad)]));
        match p.plan_resource("aws_instance", None, &cfg, &c.resource) {
            Err(terrace_provider::ProviderError::InvalidArgument { path, message, .. }) => {
                assert_eq!(
                    path,
                    Some(vec![
                        PathStep::Key("metadata_options".into()),
                        PathStep::Index(0),
                        PathStep::Key(key.into()),
                    ])
                );
                assert!(message.contains(key), "{message}");
            }
            other => panic!("{key}: expected an invalid argument, got {other:?}"),
        }
    }

    p.delete("aws_instance", &updated).await.unwrap();
}

/// A subnet (10.N.1.0/24) in a new VPC (10.N.0.0/16).
async fn subnet_in_new_vpc(p: &AwsProvider, n: u8) -> String {
    let ec2 = p.ec2_client();
    let vpc = ec2
        .create_vpc()
        .cidr_block(format!("10.{n}.0.0/16"))
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block(format!("10.{n}.1.0/24"))
        .send()
        .await
        .unwrap();
    subnet.subnet().unwrap().subnet_id().unwrap().to_string()
}

/// `associate_public_ip_address` goes into the primary network interface
/// with the subnet (EC2 refuses it at the top level); it forces a new
/// instance. (Groups go there too; moto reports no instance-level groups
/// for an instance launched with an interface, so they are not checked.)
#[tokio::test]
async fn instance_public_ip_through_the_primary_interface() {
    let env = "inst-pub";
    let Some(p) = provider(env).await else { return };
    let ami = amazon_linux(&p).await;
    let subnet_id = subnet_in_new_vpc(&p, 77).await;
    let c = create_ctx(env, "aws_instance.pub");
    let config = Value::map([
        ("ami", Value::from(ami.as_str())),
        ("instance_type", Value::from("t3.micro")),
        ("subnet_id", Value::from(subnet_id.as_str())),
        ("associate_public_ip_address", Value::Bool(true)),
        (
            "metadata_options",
            metadata(&[("http_tokens", Value::from("required"))]),
        ),
    ]);
    let state = create(&p, "aws_instance", &config, &c).await;
    assert_eq!(s(&state, "subnet_id"), subnet_id);
    assert_eq!(
        state.get("associate_public_ip_address"),
        Some(&Value::Bool(true))
    );
    assert!(!s(&state, "public_ip").is_empty());
    assert_no_diff(&p, "aws_instance", &state, &config, &c.resource);
    let plan = p
        .plan_resource(
            "aws_instance",
            Some(&state),
            &with(&config, "associate_public_ip_address", Value::Bool(false)),
            &c.resource,
        )
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("associate_public_ip_address".into())]]
    );
    p.delete("aws_instance", &state).await.unwrap();
}

async fn eni(p: &AwsProvider, subnet: &str) -> String {
    let out = p
        .ec2_client()
        .create_network_interface()
        .subnet_id(subnet)
        .send()
        .await
        .unwrap();
    out.network_interface()
        .unwrap()
        .network_interface_id()
        .unwrap()
        .to_string()
}

/// Launching on existing interfaces: `primary_network_interface` (v6) and
/// `network_interface` blocks. Read back, no-op re-plan, an interface
/// attached by hand at another index is no drift, a different interface
/// forces a new instance.
#[tokio::test]
async fn instance_on_existing_network_interfaces() {
    let env = "inst-eni";
    let Some(p) = provider(env).await else { return };
    let ami = amazon_linux(&p).await;
    let ec2 = p.ec2_client();
    let subnet_id = subnet_in_new_vpc(&p, 78).await;
    let (a, b, c2, d) = (
        eni(&p, &subnet_id).await,
        eni(&p, &subnet_id).await,
        eni(&p, &subnet_id).await,
        eni(&p, &subnet_id).await,
    );

    // v6: the primary interface.
    let ctx1 = create_ctx(env, "aws_instance.primary");
    let config = Value::map([
        ("ami", Value::from(ami.as_str())),
        ("instance_type", Value::from("t3.micro")),
        (
            "primary_network_interface",
            Value::List(vec![Value::map([(
                "network_interface_id",
                Value::from(a.as_str()),
            )])]),
        ),
    ]);
    let one = create(&p, "aws_instance", &config, &ctx1).await;
    let primary = &one
        .get("primary_network_interface")
        .unwrap()
        .as_list()
        .unwrap()[0];
    assert_eq!(
        primary.get("network_interface_id"),
        Some(&Value::from(a.as_str()))
    );
    assert_eq!(s(&one, "subnet_id"), subnet_id);
    assert_no_diff(&p, "aws_instance", &one, &config, &ctx1.resource);
    let other = with(
        &config,
        "primary_network_interface",
        Value::List(vec![Value::map([(
            "network_interface_id",
            Value::from(b.as_str()),
        )])]),
    );
    let plan = p
        .plan_resource("aws_instance", Some(&one), &other, &ctx1.resource)
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![
            PathStep::Key("primary_network_interface".into()),
            PathStep::Index(0),
            PathStep::Key("network_interface_id".into()),
        ]]
    );

    // network_interface blocks at device indexes 0 and 1.
    let ctx2 = create_ctx(env, "aws_instance.multi");
    let item = |id: &str, index: i64| {
        Value::map([
            ("network_interface_id", Value::from(id)),
            ("device_index", Value::from(index)),
        ])
    };
    let config2 = Value::map([
        ("ami", Value::from(ami.as_str())),
        ("instance_type", Value::from("t3.micro")),
        (
            "network_interface",
            Value::set(vec![item(&b, 0), item(&c2, 1)]),
        ),
    ]);
    let two = create(&p, "aws_instance", &config2, &ctx2).await;
    let items = two.get("network_interface").unwrap().as_list().unwrap();
    assert_eq!(items.len(), 2, "{two}");
    assert_no_diff(&p, "aws_instance", &two, &config2, &ctx2.resource);
    // Attached by hand at index 2: not part of the configuration, no drift.
    ec2.attach_network_interface()
        .network_interface_id(&d)
        .instance_id(s(&two, "id"))
        .device_index(2)
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, "aws_instance", &two).await.as_ref(), Some(&two));
    // Another interface at index 1: a new instance.
    let plan = p
        .plan_resource(
            "aws_instance",
            Some(&two),
            &with(
                &config2,
                "network_interface",
                Value::set(vec![item(&b, 0), item(&d, 1)]),
            ),
            &ctx2.resource,
        )
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("network_interface".into())]]
    );

    p.delete("aws_instance", &one).await.unwrap();
    p.delete("aws_instance", &two).await.unwrap();
}
