//! aws_ecr_repository, aws_ecr_lifecycle_policy, aws_s3_bucket,
//! aws_s3_bucket_versioning against moto.

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
    assert!(
        p.import("aws_ecr_lifecycle_policy", &name)
            .await
            .unwrap()
            .is_some()
    );
    p.delete("aws_ecr_lifecycle_policy", &pol2).await.unwrap();
    assert_eq!(read(&p, "aws_ecr_lifecycle_policy", &pol2).await, None);

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

    p.delete("aws_s3_bucket_versioning", &suspended)
        .await
        .unwrap();
    p.delete("aws_s3_bucket", &updated).await.unwrap();
    assert_eq!(read(&p, "aws_s3_bucket", &updated).await, None);
    assert_eq!(read(&p, "aws_s3_bucket_versioning", &suspended).await, None);
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
