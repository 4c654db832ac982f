//! aws_instance against moto, including the batched refresh of 1,000 instances.

mod common;

use common::*;
use terrace_aws::AwsProvider;
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

    // Changed user data replaces the instance.
    let mut config3 = config2.clone();
    config3
        .as_map_mut()
        .unwrap()
        .insert("user_data".into(), Value::from("#!/bin/sh\necho bye\n"));
    let plan = p
        .plan_resource("aws_instance", Some(&updated), &config3, &c.resource)
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("user_data".into())]]
    );

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

fn sha1_hex(text: &str) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(text.as_bytes()))
}
