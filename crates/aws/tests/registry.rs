//! aws_ecr_repository, aws_ecr_lifecycle_policy, the registry settings
//! (scanning, replication) and aws_s3_bucket, aws_s3_bucket_versioning
//! against moto; aws_ecr_pull_through_cache_rule against the test kit's
//! fake ECR endpoint (moto lacks the API).

mod common;

use common::*;
use terrace_core::{PathStep, Value};
use terrace_provider::Provider;

#[tokio::test]
async fn ecr_repository_and_lifecycle_policy() {
    let env = "reg-ecr";
    let Some(p) = provider_with_default_tags(env, &[("team", "registry")]).await else {
        return;
    };
    let name = unique("app");
    let c = create_ctx(env, "aws_ecr_repository.app");
    let config = Value::map([
        ("name", Value::from(name.as_str())),
        ("image_tag_mutability", Value::from("IMMUTABLE")),
        ("tags", Value::map([("Name", Value::from("app"))])),
    ]);
    let repo = create(&p, "aws_ecr_repository", &config, &c).await;
    assert_eq!(s(&repo, "id"), name);
    assert!(s(&repo, "repository_url").ends_with(&format!("/{name}")));
    assert!(s(&repo, "arn").contains(":repository/"));
    assert_eq!(
        repo.get("tags_all").unwrap().get("terrace:address"),
        Some(&Value::from("aws_ecr_repository.app"))
    );
    assert_no_diff(&p, "aws_ecr_repository", &repo, &config, &c.resource);
    assert_eq!(
        read(&p, "aws_ecr_repository", &repo).await.as_ref(),
        Some(&repo)
    );

    // In place: mutability, scanning, tags.
    let config2 = Value::map([
        ("name", Value::from(name.as_str())),
        ("image_tag_mutability", Value::from("MUTABLE")),
        (
            "image_scanning_configuration",
            Value::List(vec![Value::map([("scan_on_push", Value::Bool(true))])]),
        ),
        ("force_delete", Value::Bool(true)),
    ]);
    let plan = p
        .plan_resource("aws_ecr_repository", Some(&repo), &config2, &c.resource)
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let updated = p
        .update("aws_ecr_repository", &repo, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_eq!(updated, plan.planned);
    assert_eq!(updated.get("tags_all").unwrap().get("Name"), None);
    assert_no_diff(&p, "aws_ecr_repository", &updated, &config2, &c.resource);

    // Replacement: name.
    let mut config3 = config2.clone();
    config3
        .as_map_mut()
        .unwrap()
        .insert("name".into(), Value::from(unique("other")));
    let plan = p
        .plan_resource("aws_ecr_repository", Some(&updated), &config3, &c.resource)
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("name".into())]]
    );

    // Lifecycle policy: semantic JSON comparison.
    let lc = create_ctx(env, "aws_ecr_lifecycle_policy.app");
    let policy = r#"{"rules":[{"rulePriority":1,"description":"keep 10","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}"#;
    let pcfg = Value::map([
        ("repository", Value::from(name.as_str())),
        ("policy", Value::from(policy)),
    ]);
    let pol = create(&p, "aws_ecr_lifecycle_policy", &pcfg, &lc).await;
    assert_no_diff(&p, "aws_ecr_lifecycle_policy", &pol, &pcfg, &lc.resource);
    let reformatted =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(policy).unwrap())
            .unwrap();
    let pcfg_pretty = Value::map([
        ("repository", Value::from(name.as_str())),
        ("policy", Value::from(reformatted)),
    ]);
    assert_no_diff(
        &p,
        "aws_ecr_lifecycle_policy",
        &pol,
        &pcfg_pretty,
        &lc.resource,
    );
    assert_eq!(
        read(&p, "aws_ecr_lifecycle_policy", &pol).await.as_ref(),
        Some(&pol)
    );
    let policy2 = policy.replace("\"countNumber\":10", "\"countNumber\":20");
    let pcfg2 = Value::map([
        ("repository", Value::from(name.as_str())),
        ("policy", Value::from(policy2.as_str())),
    ]);
    let plan = p
        .plan_resource("aws_ecr_lifecycle_policy", Some(&pol), &pcfg2, &lc.resource)
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let pol2 = p
        .update(
            "aws_ecr_lifecycle_policy",
            &pol,
            &plan.planned,
            &lc.resource,
        )
        .await
        .unwrap();
    assert!(s(&pol2, "policy").contains("20"));
    // Another repository is a new policy.
    let moved = Value::map([
        ("repository", Value::from("another-repository")),
        ("policy", Value::from(policy2.as_str())),
    ]);
    assert_eq!(
        p.plan_resource(
            "aws_ecr_lifecycle_policy",
            Some(&pol2),
            &moved,
            &lc.resource
        )
        .unwrap()
        .requires_replace,
        vec![vec![PathStep::Key("repository".into())]]
    );
    assert!(
        p.import("aws_ecr_lifecycle_policy", &name)
            .await
            .unwrap()
            .is_some()
    );
    // Edited outside → changed: another count by hand.
    let pol2 = assert_edit_seen(
        &p,
        "aws_ecr_lifecycle_policy",
        &pol2,
        async {
            p.ecr_client()
                .put_lifecycle_policy()
                .repository_name(&name)
                .lifecycle_policy_text(policy.replace("\"countNumber\":10", "\"countNumber\":30"))
                .send()
                .await
                .unwrap();
        },
        &["policy"],
    )
    .await;
    p.delete("aws_ecr_lifecycle_policy", &pol2).await.unwrap();
    assert_eq!(read(&p, "aws_ecr_lifecycle_policy", &pol2).await, None);
    // Deleted outside → missing.
    let again = create(&p, "aws_ecr_lifecycle_policy", &pcfg, &lc).await;
    assert_delete_seen(&p, "aws_ecr_lifecycle_policy", &again, async {
        p.ecr_client()
            .delete_lifecycle_policy()
            .repository_name(&name)
            .send()
            .await
            .unwrap();
    })
    .await;

    // Repository policy: the same shape; pull granted to one role.
    let rc = create_ctx(env, "aws_ecr_repository_policy.app");
    let repo_policy = |action: &str| {
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Sid": "pull",
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/runner"},
            "Action": ["ecr:BatchGetImage", action]}]})
    };
    let rcfg = |action: &str, pretty: bool| {
        let doc = repo_policy(action);
        Value::map([
            ("repository", Value::from(name.as_str())),
            (
                "policy",
                Value::from(if pretty {
                    serde_json::to_string_pretty(&doc).unwrap()
                } else {
                    doc.to_string()
                }),
            ),
        ])
    };
    let rp = create(
        &p,
        "aws_ecr_repository_policy",
        &rcfg("ecr:GetDownloadUrlForLayer", false),
        &rc,
    )
    .await;
    assert_eq!(s(&rp, "id"), name);
    assert_no_diff(
        &p,
        "aws_ecr_repository_policy",
        &rp,
        &rcfg("ecr:GetDownloadUrlForLayer", true),
        &rc.resource,
    );
    assert_eq!(
        read(&p, "aws_ecr_repository_policy", &rp).await.as_ref(),
        Some(&rp)
    );
    let plan = p
        .plan_resource(
            "aws_ecr_repository_policy",
            Some(&rp),
            &rcfg("ecr:DescribeImages", false),
            &rc.resource,
        )
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let rp2 = p
        .update(
            "aws_ecr_repository_policy",
            &rp,
            &plan.planned,
            &rc.resource,
        )
        .await
        .unwrap();
    assert!(s(&rp2, "policy").contains("ecr:DescribeImages"));
    let mut moved = rcfg("ecr:DescribeImages", false);
    moved
        .as_map_mut()
        .unwrap()
        .insert("repository".into(), Value::from("another-repository"));
    assert_eq!(
        p.plan_resource(
            "aws_ecr_repository_policy",
            Some(&rp2),
            &moved,
            &rc.resource
        )
        .unwrap()
        .requires_replace,
        vec![vec![PathStep::Key("repository".into())]]
    );
    assert_eq!(
        p.import("aws_ecr_repository_policy", &name)
            .await
            .unwrap()
            .map(|v| s(&v, "id")),
        Some(name.clone())
    );
    // Edited outside → changed; deleted outside → missing.
    p.ecr_client()
        .set_repository_policy()
        .repository_name(&name)
        .policy_text(repo_policy("ecr:ListImages").to_string())
        .send()
        .await
        .unwrap();
    assert!(
        s(
            &read(&p, "aws_ecr_repository_policy", &rp2).await.unwrap(),
            "policy"
        )
        .contains("ecr:ListImages")
    );
    p.ecr_client()
        .delete_repository_policy()
        .repository_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, "aws_ecr_repository_policy", &rp2).await, None);
    p.delete("aws_ecr_repository_policy", &rp2)
        .await
        .expect("already gone");
    let bad = Value::map([
        ("repository", Value::from(name.as_str())),
        ("policy", Value::from("{oops")),
    ]);
    assert!(
        p.create("aws_ecr_repository_policy", &bad, &rc)
            .await
            .is_err()
    );

    // Import, crash recovery, drift listing.
    let imported = p
        .import("aws_ecr_repository", &name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s(&imported, "arn"), s(&repo, "arn"));
    assert_eq!(
        p.find_created("aws_ecr_repository", "t", &c.resource)
            .await
            .unwrap()
            .map(|v| s(&v, "id")),
        Some(name.clone())
    );
    assert_eq!(
        p.list_owned("aws_ecr_repository", env).await.unwrap().len(),
        1
    );

    // Batched read with a missing name.
    let mut missing = updated.clone();
    missing
        .as_map_mut()
        .unwrap()
        .insert("name".into(), Value::from(unique("missing")));
    let out = p
        .read_resources("aws_ecr_repository", &[missing, updated.clone()])
        .await
        .unwrap();
    assert!(out[0].is_none());
    assert_eq!(out[1].as_ref(), Some(&updated));

    // Deleted outside terrace.
    p.ecr_client()
        .delete_repository()
        .repository_name(&name)
        .force(true)
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, "aws_ecr_repository", &updated).await, None);
    p.delete("aws_ecr_repository", &updated)
        .await
        .expect("already gone");
}

#[tokio::test]
async fn ecr_repository_reads_are_batched() {
    let env = "reg-ecr-batch";
    let Some(p) = provider(env).await else { return };
    let mut states = Vec::new();
    for i in 0..5 {
        let c = create_ctx(env, &format!("aws_ecr_repository.r[{i}]"));
        states.push(
            create(
                &p,
                "aws_ecr_repository",
                &Value::map([("name", Value::from(unique("batch")))]),
                &c,
            )
            .await,
        );
    }
    let before = calls(&p, "ecr:DescribeRepositories");
    let out = p
        .read_resources("aws_ecr_repository", &states)
        .await
        .unwrap();
    assert_eq!(calls(&p, "ecr:DescribeRepositories") - before, 1);
    assert!(out.iter().all(Option::is_some));
    for s in &states {
        p.delete("aws_ecr_repository", s).await.unwrap();
    }
}

#[tokio::test]
async fn s3_bucket_and_versioning() {
    let env = "reg-s3";
    let Some(p) = provider(env).await else { return };
    let bucket = unique("terrace-artifacts");
    let c = create_ctx(env, "aws_s3_bucket.artifacts");
    let config = Value::map([
        ("bucket", Value::from(bucket.as_str())),
        ("force_destroy", Value::Bool(true)),
        ("tags", Value::map([("Name", Value::from("artifacts"))])),
    ]);
    let state = create(&p, "aws_s3_bucket", &config, &c).await;
    assert_eq!(s(&state, "arn"), format!("arn:aws:s3:::{bucket}"));
    assert_eq!(s(&state, "region"), "us-east-1");
    assert_no_diff(&p, "aws_s3_bucket", &state, &config, &c.resource);
    assert_eq!(
        read(&p, "aws_s3_bucket", &state).await.as_ref(),
        Some(&state)
    );

    // In place: tags.
    let mut config2 = config.clone();
    config2.as_map_mut().unwrap().insert(
        "tags".into(),
        Value::map([("Name", Value::from("renamed"))]),
    );
    let plan = p
        .plan_resource("aws_s3_bucket", Some(&state), &config2, &c.resource)
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let updated = p
        .update("aws_s3_bucket", &state, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_eq!(updated, plan.planned);

    // Replacement: bucket name.
    let mut config3 = config2.clone();
    config3
        .as_map_mut()
        .unwrap()
        .insert("bucket".into(), Value::from(unique("other")));
    let plan = p
        .plan_resource("aws_s3_bucket", Some(&updated), &config3, &c.resource)
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("bucket".into())]]
    );

    // Versioning.
    let vc = create_ctx(env, "aws_s3_bucket_versioning.artifacts");
    let vcfg = |status: &str| {
        Value::map([
            ("bucket", Value::from(bucket.as_str())),
            (
                "versioning_configuration",
                Value::List(vec![Value::map([("status", Value::from(status))])]),
            ),
        ])
    };
    let ver = create(&p, "aws_s3_bucket_versioning", &vcfg("Enabled"), &vc).await;
    assert_no_diff(
        &p,
        "aws_s3_bucket_versioning",
        &ver,
        &vcfg("Enabled"),
        &vc.resource,
    );
    assert_eq!(
        read(&p, "aws_s3_bucket_versioning", &ver).await.as_ref(),
        Some(&ver)
    );
    let plan = p
        .plan_resource(
            "aws_s3_bucket_versioning",
            Some(&ver),
            &vcfg("Suspended"),
            &vc.resource,
        )
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let suspended = p
        .update(
            "aws_s3_bucket_versioning",
            &ver,
            &plan.planned,
            &vc.resource,
        )
        .await
        .unwrap();
    assert_eq!(suspended, plan.planned);
    assert!(
        p.import("aws_s3_bucket_versioning", &bucket)
            .await
            .unwrap()
            .is_some()
    );

    // Objects in the bucket: force_destroy empties it.
    p.s3_client()
        .put_object()
        .bucket(&bucket)
        .key("a.txt")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();

    let imported = p.import("aws_s3_bucket", &bucket).await.unwrap().unwrap();
    assert_eq!(
        imported.get("tags"),
        Some(&Value::map([("Name", Value::from("renamed"))]))
    );
    assert_eq!(
        p.find_created("aws_s3_bucket", "t", &c.resource)
            .await
            .unwrap()
            .map(|v| s(&v, "id")),
        Some(bucket.clone())
    );
    assert_eq!(p.list_owned("aws_s3_bucket", env).await.unwrap().len(), 1);

    // Edited outside → changed: a tag added by hand.
    let s3 = p.s3_client().clone();
    let updated = assert_edit_seen(
        &p,
        "aws_s3_bucket",
        &updated,
        async {
            let mut tags = s3
                .get_bucket_tagging()
                .bucket(&bucket)
                .send()
                .await
                .unwrap()
                .tag_set()
                .to_vec();
            tags.push(
                aws_sdk_s3::types::Tag::builder()
                    .key("edited-by")
                    .value("hand")
                    .build()
                    .unwrap(),
            );
            s3.put_bucket_tagging()
                .bucket(&bucket)
                .tagging(
                    aws_sdk_s3::types::Tagging::builder()
                        .set_tag_set(Some(tags))
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        },
        &["tags", "tags_all"],
    )
    .await;

    p.delete("aws_s3_bucket_versioning", &suspended)
        .await
        .unwrap();
    p.delete("aws_s3_bucket", &updated).await.unwrap();
    assert_eq!(read(&p, "aws_s3_bucket", &updated).await, None);
    assert_eq!(read(&p, "aws_s3_bucket_versioning", &suspended).await, None);

    // Deleted outside → missing.
    let again = create(&p, "aws_s3_bucket", &config, &c).await;
    assert_delete_seen(&p, "aws_s3_bucket", &again, async {
        s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn s3_bucket_not_empty_is_a_conflict_without_force_destroy() {
    let env = "reg-s3-conflict";
    let Some(p) = provider(env).await else { return };
    let bucket = unique("terrace-full");
    let c = create_ctx(env, "aws_s3_bucket.full");
    let state = create(
        &p,
        "aws_s3_bucket",
        &Value::map([("bucket", Value::from(bucket.as_str()))]),
        &c,
    )
    .await;
    p.s3_client()
        .put_object()
        .bucket(&bucket)
        .key("k")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let err = p.delete("aws_s3_bucket", &state).await.unwrap_err();
    assert!(
        matches!(err, terrace_provider::ProviderError::Conflict { .. }),
        "{err:?}"
    );
    p.s3_client()
        .delete_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .unwrap();
    p.delete("aws_s3_bucket", &state).await.unwrap();
}

/// One bucket configuration type's whole life: create, read back, no-op
/// re-plan, import by bucket name, in-place update, edited outside →
/// changed, destroy → gone.
async fn bucket_part_lifecycle(
    p: &terrace_aws::AwsProvider,
    env: &str,
    type_name: &str,
    config: &Value,
    changed: &Value,
    edit_outside: impl std::future::Future<Output = ()>,
) {
    let c = create_ctx(env, &format!("{type_name}.this"));
    let state = create(p, type_name, config, &c).await;
    assert_no_diff(p, type_name, &state, config, &c.resource);
    assert_eq!(read(p, type_name, &state).await.as_ref(), Some(&state));
    let bucket = s(&state, "bucket");
    assert_eq!(
        p.import(type_name, &bucket).await.unwrap().as_ref(),
        Some(&state),
        "{type_name}: import by bucket name"
    );
    let plan = p
        .plan_resource(type_name, Some(&state), changed, &c.resource)
        .unwrap();
    assert!(plan.requires_replace.is_empty(), "{type_name}");
    assert_ne!(plan.planned, state, "{type_name}: the change plans nothing");
    let updated = p
        .update(type_name, &state, &plan.planned, &c.resource)
        .await
        .unwrap_or_else(|e| panic!("update {type_name}: {e}"));
    assert_eq!(updated, plan.planned, "{type_name}");
    assert_no_diff(p, type_name, &updated, changed, &c.resource);
    edit_outside.await;
    let drifted = read(p, type_name, &updated).await.expect("still there");
    assert_ne!(drifted, updated, "{type_name}: an edit outside is not seen");
    // A different bucket forces replacement.
    let mut other = changed.clone();
    other
        .as_map_mut()
        .unwrap()
        .insert("bucket".into(), Value::from("another-bucket"));
    assert_eq!(
        p.plan_resource(type_name, Some(&updated), &other, &c.resource)
            .unwrap()
            .requires_replace,
        vec![vec![PathStep::Key("bucket".into())]]
    );
    p.delete(type_name, &updated).await.unwrap();
    p.delete(type_name, &updated).await.expect("already gone");
}

fn with_bucket(bucket: &str, pairs: Vec<(&str, Value)>) -> Value {
    let mut m: std::collections::BTreeMap<String, Value> =
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    m.insert("bucket".into(), Value::from(bucket));
    Value::Map(m.into())
}

fn block(pairs: Vec<(&str, Value)>) -> Value {
    Value::List(vec![Value::Map(
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    )])
}

#[tokio::test]
async fn s3_bucket_configuration_types() {
    let env = "reg-s3-parts";
    let Some(p) = provider(env).await else { return };
    let bucket = unique("terrace-parts");
    let logs = unique("terrace-logs");
    let mut buckets = Vec::new();
    for b in [&bucket, &logs] {
        let c = create_ctx(env, &format!("aws_s3_bucket.{b}"));
        let state = create(
            &p,
            "aws_s3_bucket",
            &Value::map([
                ("bucket", Value::from(b.as_str())),
                ("force_destroy", Value::Bool(true)),
            ]),
            &c,
        )
        .await;
        buckets.push(state);
    }
    let s3 = p.s3_client().clone();

    // Public access block: defaults false; an edit outside shows.
    let pab = |v: bool| {
        with_bucket(
            &bucket,
            vec![
                ("block_public_acls", Value::Bool(true)),
                ("block_public_policy", Value::Bool(v)),
            ],
        )
    };
    let c2 = s3.clone();
    let b2 = bucket.clone();
    bucket_part_lifecycle(
        &p,
        env,
        "aws_s3_bucket_public_access_block",
        &pab(false),
        &pab(true),
        async move {
            c2.put_public_access_block()
                .bucket(&b2)
                .public_access_block_configuration(
                    aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                        .block_public_acls(false)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        },
    )
    .await;

    // Encryption: AES256, then aws:kms with a key and a bucket key.
    let sse = |alg: &str, key: Option<&str>, bucket_key: Option<bool>| {
        let mut by_default = vec![("sse_algorithm", Value::from(alg))];
        if let Some(k) = key {
            by_default.push(("kms_master_key_id", Value::from(k)));
        }
        let mut rule = vec![("apply_server_side_encryption_by_default", block(by_default))];
        if let Some(b) = bucket_key {
            rule.push(("bucket_key_enabled", Value::Bool(b)));
        }
        let rule = block(rule).as_list().unwrap().to_vec();
        with_bucket(&bucket, vec![("rule", Value::set(rule))])
    };
    let c2 = s3.clone();
    let b2 = bucket.clone();
    bucket_part_lifecycle(
        &p,
        env,
        "aws_s3_bucket_server_side_encryption_configuration",
        &sse("AES256", None, None),
        &sse("aws:kms", Some("alias/terrace-test"), Some(true)),
        async move {
            use aws_sdk_s3::types::*;
            c2.put_bucket_encryption()
                .bucket(&b2)
                .server_side_encryption_configuration(
                    ServerSideEncryptionConfiguration::builder()
                        .rules(
                            ServerSideEncryptionRule::builder()
                                .apply_server_side_encryption_by_default(
                                    ServerSideEncryptionByDefault::builder()
                                        .sse_algorithm(ServerSideEncryption::Aes256)
                                        .build()
                                        .unwrap(),
                                )
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        },
    )
    .await;
    let c = create_ctx(
        env,
        "aws_s3_bucket_server_side_encryption_configuration.bad",
    );
    let err = p
        .create(
            "aws_s3_bucket_server_side_encryption_configuration",
            &p.plan_resource(
                "aws_s3_bucket_server_side_encryption_configuration",
                None,
                &sse("DES", None, None),
                &c.resource,
            )
            .unwrap()
            .planned,
            &c,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sse_algorithm"), "{err}");

    // Policy: compared as JSON.
    let policy = |sid: &str| {
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": sid, "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            }]
        })
    };
    let pol = |sid: &str| {
        with_bucket(
            &bucket,
            vec![("policy", Value::from(policy(sid).to_string()))],
        )
    };
    let c2 = s3.clone();
    let b2 = bucket.clone();
    let outside = policy("Outside").to_string();
    bucket_part_lifecycle(
        &p,
        env,
        "aws_s3_bucket_policy",
        &pol("TlsOnly"),
        &pol("TlsOnly2"),
        async move {
            c2.put_bucket_policy()
                .bucket(&b2)
                .policy(outside)
                .send()
                .await
                .unwrap();
        },
    )
    .await;
    let c = create_ctx(env, "aws_s3_bucket_policy.this");
    let state = create(&p, "aws_s3_bucket_policy", &pol("A"), &c).await;
    let pretty = with_bucket(
        &bucket,
        vec![(
            "policy",
            Value::from(serde_json::to_string_pretty(&policy("A")).unwrap()),
        )],
    );
    assert_no_diff(&p, "aws_s3_bucket_policy", &state, &pretty, &c.resource);
    // Deleted outside → missing.
    s3.delete_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, "aws_s3_bucket_policy", &state).await, None);
    let bad = with_bucket(&bucket, vec![("policy", Value::from("{not json"))]);
    let err = p
        .create("aws_s3_bucket_policy", &bad, &c)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not valid JSON"), "{err}");

    // Ownership controls.
    let own = |o: &str| {
        with_bucket(
            &bucket,
            vec![("rule", block(vec![("object_ownership", Value::from(o))]))],
        )
    };
    let c2 = s3.clone();
    let b2 = bucket.clone();
    bucket_part_lifecycle(
        &p,
        env,
        "aws_s3_bucket_ownership_controls",
        &own("BucketOwnerPreferred"),
        &own("BucketOwnerEnforced"),
        async move {
            use aws_sdk_s3::types::*;
            c2.put_bucket_ownership_controls()
                .bucket(&b2)
                .ownership_controls(
                    OwnershipControls::builder()
                        .rules(
                            OwnershipControlsRule::builder()
                                .object_ownership(ObjectOwnership::ObjectWriter)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        },
    )
    .await;

    // Access logging to the second bucket: refused until the target lets
    // the logging service write.
    let c = create_ctx(env, "aws_s3_bucket_logging.refused");
    let err = p
        .create(
            "aws_s3_bucket_logging",
            &with_bucket(
                &bucket,
                vec![
                    ("target_bucket", Value::from(logs.as_str())),
                    ("target_prefix", Value::from("x/")),
                ],
            ),
            &c,
        )
        .await
        .unwrap_err();
    match err {
        terrace_provider::ProviderError::InvalidArgument { path, .. } => {
            assert_eq!(path, Some(vec![PathStep::Key("target_bucket".into())]))
        }
        other => panic!("unexpected {other:?}"),
    }
    let delivery = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{logs}/*")}]});
    s3.put_bucket_policy()
        .bucket(&logs)
        .policy(delivery.to_string())
        .send()
        .await
        .unwrap();
    let logging = |prefix: &str| {
        with_bucket(
            &bucket,
            vec![
                ("target_bucket", Value::from(logs.as_str())),
                ("target_prefix", Value::from(prefix)),
            ],
        )
    };
    let c2 = s3.clone();
    let b2 = bucket.clone();
    let l2 = logs.clone();
    bucket_part_lifecycle(
        &p,
        env,
        "aws_s3_bucket_logging",
        &logging("access/"),
        &logging("access2/"),
        async move {
            c2.put_bucket_logging()
                .bucket(&b2)
                .bucket_logging_status(
                    aws_sdk_s3::types::BucketLoggingStatus::builder()
                        .logging_enabled(
                            aws_sdk_s3::types::LoggingEnabled::builder()
                                .target_bucket(l2)
                                .target_prefix("outside/")
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .send()
                .await
                .unwrap();
        },
    )
    .await;

    // Lifecycle: filter by prefix and by tag, expiration, transitions,
    // noncurrent versions, aborted uploads.
    let lifecycle = |days: i64| {
        let logs_rule = block(vec![
            ("id", Value::from("logs")),
            ("status", Value::from("Enabled")),
            ("filter", block(vec![("prefix", Value::from("logs/"))])),
            ("expiration", block(vec![("days", Value::from(days))])),
            (
                "transition",
                Value::set(vec![Value::map([
                    ("days", Value::from(30)),
                    ("storage_class", Value::from("STANDARD_IA")),
                ])]),
            ),
            (
                "noncurrent_version_expiration",
                block(vec![("noncurrent_days", Value::from(7))]),
            ),
            (
                "abort_incomplete_multipart_upload",
                block(vec![("days_after_initiation", Value::from(3))]),
            ),
        ]);
        let tagged = block(vec![
            ("id", Value::from("tmp")),
            ("status", Value::from("Disabled")),
            (
                "filter",
                block(vec![(
                    "tag",
                    block(vec![
                        ("key", Value::from("tmp")),
                        ("value", Value::from("yes")),
                    ]),
                )]),
            ),
            ("expiration", block(vec![("days", Value::from(1))])),
        ]);
        let everything = block(vec![
            ("id", Value::from("all")),
            ("status", Value::from("Enabled")),
            ("filter", block(vec![])),
            (
                "abort_incomplete_multipart_upload",
                block(vec![("days_after_initiation", Value::from(7))]),
            ),
        ]);
        let rules = [logs_rule, tagged, everything]
            .into_iter()
            .flat_map(|b| b.as_list().unwrap().to_vec())
            .collect();
        with_bucket(&bucket, vec![("rule", Value::List(rules))])
    };
    let c2 = s3.clone();
    let b2 = bucket.clone();
    bucket_part_lifecycle(
        &p,
        env,
        "aws_s3_bucket_lifecycle_configuration",
        &lifecycle(90),
        &lifecycle(120),
        async move {
            use aws_sdk_s3::types::*;
            c2.put_bucket_lifecycle_configuration()
                .bucket(&b2)
                .lifecycle_configuration(
                    BucketLifecycleConfiguration::builder()
                        .rules(
                            LifecycleRule::builder()
                                .id("outside")
                                .status(ExpirationStatus::Enabled)
                                .filter(LifecycleRuleFilter::builder().prefix("x/").build())
                                .expiration(LifecycleExpiration::builder().days(5).build())
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        },
    )
    .await;

    // The bucket itself gone: every configuration type reads as missing.
    for b in &buckets {
        p.delete("aws_s3_bucket", b).await.unwrap();
    }
    for t in [
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_ownership_controls",
        "aws_s3_bucket_logging",
    ] {
        assert_eq!(p.import(t, &bucket).await.unwrap(), None, "{t}");
    }
}

#[tokio::test]
async fn ecr_data_sources() {
    let env = "reg-ecr-data";
    let Some(p) = provider(env).await else { return };
    let name = unique("data");
    let c = create_ctx(env, "aws_ecr_repository.data");
    let repo = create(
        &p,
        "aws_ecr_repository",
        &Value::map([("name", Value::from(name.as_str()))]),
        &c,
    )
    .await;
    let manifest = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
            "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},
        "layers": []});
    let pushed = p
        .ecr_client()
        .put_image()
        .repository_name(&name)
        .image_manifest(manifest.to_string())
        .image_tag("v1")
        .send()
        .await
        .unwrap();
    let digest = pushed
        .image()
        .unwrap()
        .image_id()
        .unwrap()
        .image_digest()
        .unwrap()
        .to_string();

    let data = p
        .read_data(
            "aws_ecr_repository",
            &Value::map([("name", Value::from(name.as_str()))]),
        )
        .await
        .unwrap();
    assert_eq!(data.get("arn"), repo.get("arn"));
    assert_eq!(data.get("repository_url"), repo.get("repository_url"));
    assert_eq!(
        data.get("most_recent_image_tags"),
        Some(&Value::List(vec![Value::from("v1")]))
    );
    let err = p
        .read_data(
            "aws_ecr_repository",
            &Value::map([("name", Value::from("no-such-repo"))]),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("reading ECR Repository (no-such-repo)"),
        "{err}"
    );

    let by =
        |k: &str, v: Value| Value::map([("repository_name", Value::from(name.as_str())), (k, v)]);
    for cfg in [
        by("image_tag", Value::from("v1")),
        by("image_digest", Value::from(digest.as_str())),
        by("most_recent", Value::Bool(true)),
    ] {
        let img = p.read_data("aws_ecr_image", &cfg).await.unwrap();
        assert_eq!(s(&img, "id"), digest);
        assert!(s(&img, "image_uri").ends_with(&format!("/{name}@{digest}")));
    }
    let err = p
        .read_data("aws_ecr_image", &by("image_tag", Value::from("v9")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("couldn't find resource"), "{err}");

    let token = p
        .read_data("aws_ecr_authorization_token", &Value::map::<&str>([]))
        .await
        .unwrap();
    assert!(token.get("password").unwrap().is_sensitive());
    assert!(token.get("authorization_token").unwrap().is_sensitive());
    assert_eq!(s(&token, "user_name"), "AWS");

    let mut forced = repo.clone();
    forced
        .as_map_mut()
        .unwrap()
        .insert("force_delete".into(), Value::Bool(true));
    p.delete("aws_ecr_repository", &forced).await.unwrap();
}

#[tokio::test]
async fn ecr_registry_scanning_configuration() {
    let env = "reg-ecr-scan";
    let Some(p) = provider(env).await else { return };
    let t = "aws_ecr_registry_scanning_configuration";
    let c = create_ctx(env, &format!("{t}.this"));
    let cfg = |freq: &str| {
        Value::map([
            ("scan_type", Value::from("ENHANCED")),
            (
                "rule",
                Value::set(vec![Value::map([
                    ("scan_frequency", Value::from(freq)),
                    (
                        "repository_filter",
                        Value::set(vec![Value::map([
                            ("filter", Value::from("app-*")),
                            ("filter_type", Value::from("WILDCARD")),
                        ])]),
                    ),
                ])]),
            ),
        ])
    };
    let state = create(&p, t, &cfg("SCAN_ON_PUSH"), &c).await;
    assert!(!s(&state, "registry_id").is_empty());
    assert_no_diff(&p, t, &state, &cfg("SCAN_ON_PUSH"), &c.resource);
    assert_eq!(read(&p, t, &state).await.as_ref(), Some(&state));
    let plan = p
        .plan_resource(t, Some(&state), &cfg("CONTINUOUS_SCAN"), &c.resource)
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let updated = p
        .update(t, &state, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_eq!(updated, plan.planned);
    assert_eq!(
        p.import(t, &s(&state, "registry_id"))
            .await
            .unwrap()
            .as_ref(),
        Some(&updated)
    );
    assert!(
        p.plan_resource(
            t,
            None,
            &Value::map([("scan_type", Value::from("DEEP"))]),
            &c.resource
        )
        .is_err()
    );
    // Edited outside → changed.
    p.ecr_client()
        .put_registry_scanning_configuration()
        .scan_type(aws_sdk_ecr::types::ScanType::Basic)
        .set_rules(Some(Vec::new()))
        .send()
        .await
        .unwrap();
    let drifted = read(&p, t, &updated).await.unwrap();
    assert_eq!(s(&drifted, "scan_type"), "BASIC");
    p.delete(t, &updated).await.unwrap();
    assert_eq!(
        s(&read(&p, t, &updated).await.unwrap(), "scan_type"),
        "BASIC"
    );
}

fn replication(region: &str, filter: Option<&str>) -> Value {
    let mut rule = vec![(
        "destination",
        Value::List(vec![Value::map([
            ("region", Value::from(region)),
            ("registry_id", Value::from("123456789012")),
        ])]),
    )];
    if let Some(f) = filter {
        rule.push((
            "repository_filter",
            Value::List(vec![Value::map([
                ("filter", Value::from(f)),
                ("filter_type", Value::from("PREFIX_MATCH")),
            ])]),
        ));
    }
    Value::map([(
        "replication_configuration",
        Value::List(vec![Value::map([(
            "rule",
            Value::List(vec![Value::map(rule)]),
        )])]),
    )])
}

#[tokio::test]
async fn ecr_replication_configuration() {
    let env = "reg-ecr-repl";
    let Some(p) = provider(env).await else { return };
    let t = "aws_ecr_replication_configuration";
    let c = create_ctx(env, &format!("{t}.this"));

    // The source registry as destination: the API's refusal at the block.
    let plan = p
        .plan_resource(t, None, &replication("us-east-1", None), &c.resource)
        .unwrap();
    match p.create(t, &plan.planned, &c).await.unwrap_err() {
        terrace_provider::ProviderError::InvalidArgument { path, .. } => {
            assert_eq!(
                path,
                Some(vec![PathStep::Key("replication_configuration".into())])
            );
        }
        other => panic!("unexpected {other:?}"),
    }

    let cfg = replication("us-west-2", Some("app"));
    let state = create(&p, t, &cfg, &c).await;
    assert_eq!(s(&state, "registry_id"), "123456789012");
    assert_eq!(s(&state, "id"), "123456789012");
    assert_no_diff(&p, t, &state, &cfg, &c.resource);
    assert_eq!(read(&p, t, &state).await.as_ref(), Some(&state));
    let described = p.ecr_client().describe_registry().send().await.unwrap();
    let rule = &described.replication_configuration().unwrap().rules()[0];
    assert_eq!(rule.destinations()[0].region(), "us-west-2");
    assert_eq!(rule.repository_filters()[0].filter(), "app");

    // In place: another region, no filter.
    let cfg2 = replication("eu-west-1", None);
    let plan = p
        .plan_resource(t, Some(&state), &cfg2, &c.resource)
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let updated = p
        .update(t, &state, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_planned_matches(&plan.planned, &updated);
    assert_no_diff(&p, t, &updated, &cfg2, &c.resource);
    assert_eq!(
        p.import(t, "123456789012").await.unwrap().as_ref(),
        Some(&updated)
    );

    // Edited outside → changed; emptied outside → gone.
    let edited = aws_sdk_ecr::types::ReplicationConfiguration::builder()
        .rules(
            aws_sdk_ecr::types::ReplicationRule::builder()
                .destinations(
                    aws_sdk_ecr::types::ReplicationDestination::builder()
                        .region("ap-south-1")
                        .registry_id("123456789012")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    p.ecr_client()
        .put_replication_configuration()
        .replication_configuration(edited)
        .send()
        .await
        .unwrap();
    let drifted = read(&p, t, &updated).await.expect("still configured");
    assert_ne!(drifted, updated);
    assert!(drifted.to_string().contains("ap-south-1"), "{drifted}");
    p.ecr_client()
        .put_replication_configuration()
        .replication_configuration(
            aws_sdk_ecr::types::ReplicationConfiguration::builder()
                .set_rules(Some(vec![]))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, t, &updated).await, None);

    // Destroy writes an empty configuration (and is fine twice).
    let again = create(&p, t, &cfg, &c).await;
    p.delete(t, &again).await.unwrap();
    assert_eq!(read(&p, t, &again).await, None);
    p.delete(t, &again).await.unwrap();
}

fn pull_through(prefix: &str, url: &str, credential: Option<&str>) -> Value {
    let mut m = vec![
        ("ecr_repository_prefix", Value::from(prefix)),
        ("upstream_registry_url", Value::from(url)),
    ];
    if let Some(c) = credential {
        m.push(("credential_arn", Value::from(c)));
    }
    Value::map(m)
}

#[tokio::test]
async fn ecr_pull_through_cache_rule_against_the_fake_endpoint() {
    let env = "reg-ecr-ptc";
    let fake = terrace_testkit::FakeEcr::start();
    let config = Value::map([(
        "endpoints",
        Value::List(vec![Value::map([(
            "ecr",
            Value::from(fake.endpoint.as_str()),
        )])]),
    )]);
    let Some(p) = provider_with(env, config).await else {
        return;
    };
    let t = "aws_ecr_pull_through_cache_rule";
    let secret =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf";
    let secret2 =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/hub2-GhIjKl";

    // A prefix of the wrong length is refused at plan.
    let c = create_ctx(env, &format!("{t}.bad"));
    match p
        .plan_resource(t, None, &pull_through("k", "quay.io", None), &c.resource)
        .unwrap_err()
    {
        terrace_provider::ProviderError::InvalidArgument { path, .. } => {
            assert_eq!(
                path,
                Some(vec![PathStep::Key("ecr_repository_prefix".into())])
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // Docker Hub needs a credential: the API's error, nothing created.
    let plan = p
        .plan_resource(
            t,
            None,
            &pull_through("hub", "registry-1.docker.io", None),
            &c.resource,
        )
        .unwrap();
    let err = p.create(t, &plan.planned, &c).await.unwrap_err();
    assert!(err.to_string().contains("credential"), "{err}");
    assert!(fake.rule("hub").is_none());

    let ck = create_ctx(env, &format!("{t}.k8s"));
    let k8s_cfg = pull_through("k8s", "registry.k8s.io", None);
    let k8s = create(&p, t, &k8s_cfg, &ck).await;
    assert_eq!(s(&k8s, "id"), "k8s");
    assert_eq!(s(&k8s, "registry_id"), "123456789012");
    assert_eq!(s(&k8s, "upstream_repository_prefix"), "ROOT");
    assert_no_diff(&p, t, &k8s, &k8s_cfg, &ck.resource);
    let ch = create_ctx(env, &format!("{t}.hub"));
    let hub_cfg = pull_through("hub", "registry-1.docker.io", Some(secret));
    let hub = create(&p, t, &hub_cfg, &ch).await;
    let cq = create_ctx(env, &format!("{t}.quay"));
    let quay = create(&p, t, &pull_through("quay", "quay.io", None), &cq).await;

    // A second rule with a taken prefix: an error at the prefix.
    let dup = p.plan_resource(t, None, &k8s_cfg, &ck.resource).unwrap();
    match p.create(t, &dup.planned, &ck).await.unwrap_err() {
        terrace_provider::ProviderError::InvalidArgument { path, .. } => {
            assert_eq!(
                path,
                Some(vec![PathStep::Key("ecr_repository_prefix".into())])
            );
        }
        other => panic!("unexpected {other:?}"),
    }

    // Three rules are read with one paged listing (two a page here).
    let before = calls(&p, "ecr:DescribePullThroughCacheRules");
    let states = vec![k8s.clone(), hub.clone(), quay.clone()];
    let read_back = p.read_resources(t, &states).await.unwrap();
    assert_eq!(calls(&p, "ecr:DescribePullThroughCacheRules") - before, 2);
    assert_eq!(
        read_back,
        states.iter().cloned().map(Some).collect::<Vec<_>>()
    );

    // credential_arn changes in place; a new upstream replaces.
    let hub_cfg2 = pull_through("hub", "registry-1.docker.io", Some(secret2));
    let plan = p
        .plan_resource(t, Some(&hub), &hub_cfg2, &ch.resource)
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let hub2 = p
        .update(t, &hub, &plan.planned, &ch.resource)
        .await
        .unwrap();
    assert_planned_matches(&plan.planned, &hub2);
    assert_eq!(
        fake.rule("hub").unwrap()["credentialArn"].as_str(),
        Some(secret2)
    );
    let plan = p
        .plan_resource(
            t,
            Some(&k8s),
            &pull_through("k8s", "public.ecr.aws", None),
            &ck.resource,
        )
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("upstream_registry_url".into())]]
    );

    // Import by prefix.
    assert_eq!(p.import(t, "hub").await.unwrap().as_ref(), Some(&hub2));
    assert_eq!(p.import(t, "nope").await.unwrap(), None);

    // Edited outside → changed; deleted outside → gone.
    fake.set_credential("hub", secret);
    let drifted = read(&p, t, &hub2).await.unwrap();
    assert_eq!(s(&drifted, "credential_arn"), secret);
    fake.remove_rule("quay");
    assert_eq!(read(&p, t, &quay).await, None);

    for st in [&k8s, &hub2, &quay] {
        p.delete(t, st).await.unwrap();
    }
    assert!(fake.rule("k8s").is_none() && fake.rule("hub").is_none());
}
