//! aws_ssm_parameter, aws_secretsmanager_secret and
//! aws_secretsmanager_secret_version (resources and data sources) against moto.

mod common;

use common::*;
use terrace_core::{PathStep, Value};
use terrace_provider::{Provider, ProviderError};

fn param(name: &str, extra: &[(&str, Value)]) -> Value {
    let mut m: std::collections::BTreeMap<String, Value> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    m.insert("name".into(), Value::from(name));
    Value::Map(m.into())
}

#[tokio::test]
async fn ssm_parameter_lifecycle_and_data_source() {
    let env = "sec-ssm";
    let Some(p) = provider_with_default_tags(env, &[("team", "ci")]).await else {
        return;
    };
    let name = format!("/terrace/{}/runner-token", unique("t"));
    let c = create_ctx(env, "aws_ssm_parameter.token");
    let config = |value: &str| {
        param(
            &name,
            &[
                ("type", Value::from("SecureString")),
                ("value", Value::from(value)),
                ("key_id", Value::from("alias/aws/ssm")),
                ("tags", Value::map([("Name", Value::from("token"))])),
            ],
        )
    };
    // The value is sensitive without the user marking it.
    let planned = p
        .plan_resource("aws_ssm_parameter", None, &config("s3cr3t"), &c.resource)
        .unwrap();
    assert!(planned.planned.get("value").unwrap().is_sensitive());
    let state = create(&p, "aws_ssm_parameter", &config("s3cr3t"), &c).await;
    assert_eq!(
        state.get("value").unwrap().clone().into_unmarked().0,
        Value::from("s3cr3t")
    );
    assert_eq!(s(&state, "tier"), "Standard");
    assert_eq!(s(&state, "data_type"), "text");
    assert!(s(&state, "arn").contains(":parameter/terrace/"));
    assert_eq!(
        state.get("tags_all").unwrap().get("terrace:address"),
        Some(&Value::from("aws_ssm_parameter.token"))
    );
    let state = read(&p, "aws_ssm_parameter", &state)
        .await
        .expect("read back");
    assert_no_diff(
        &p,
        "aws_ssm_parameter",
        &state,
        &config("s3cr3t"),
        &c.resource,
    );

    // In place: a new value is a new version.
    let plan = p
        .plan_resource(
            "aws_ssm_parameter",
            Some(&state),
            &config("rotated"),
            &c.resource,
        )
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    assert_eq!(plan.planned.get("version"), Some(&Value::Unknown));
    let updated = p
        .update("aws_ssm_parameter", &state, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_eq!(updated.get("version"), Some(&Value::from(2)));
    assert_no_diff(
        &p,
        "aws_ssm_parameter",
        &updated,
        &config("rotated"),
        &c.resource,
    );

    // Replacement: name.
    let mut renamed = config("rotated");
    renamed
        .as_map_mut()
        .unwrap()
        .insert("name".into(), Value::from(format!("{name}-2")));
    assert_eq!(
        p.plan_resource("aws_ssm_parameter", Some(&updated), &renamed, &c.resource)
            .unwrap()
            .requires_replace,
        vec![vec![PathStep::Key("name".into())]]
    );

    // Import by name, crash recovery and ownership listing by tags.
    let imported = p.import("aws_ssm_parameter", &name).await.unwrap().unwrap();
    assert_eq!(s(&imported, "arn"), s(&updated, "arn"));
    assert_eq!(
        p.find_created("aws_ssm_parameter", "t", &c.resource)
            .await
            .unwrap()
            .map(|v| s(&v, "name")),
        Some(name.clone())
    );
    assert_eq!(
        p.list_owned("aws_ssm_parameter", env).await.unwrap().len(),
        1
    );

    // An existing parameter is not overwritten without `overwrite`.
    let c2 = create_ctx(env, "aws_ssm_parameter.dup");
    let dup = param(
        &name,
        &[
            ("type", Value::from("String")),
            ("insecure_value", Value::from("x")),
        ],
    );
    let planned = p
        .plan_resource("aws_ssm_parameter", None, &dup, &c2.resource)
        .unwrap();
    match p
        .create("aws_ssm_parameter", &planned.planned, &c2)
        .await
        .unwrap_err()
    {
        ProviderError::InvalidArgument { path, message, .. } => {
            assert_eq!(path, Some(vec![PathStep::Key("name".into())]));
            assert!(message.contains("overwrite"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // Bad input: both values, unknown type.
    assert!(
        p.plan_resource(
            "aws_ssm_parameter",
            None,
            &param(
                &name,
                &[
                    ("type", Value::from("String")),
                    ("value", Value::from("a")),
                    ("insecure_value", Value::from("b"))
                ]
            ),
            &c2.resource
        )
        .is_err()
    );
    let bad = p
        .plan_resource(
            "aws_ssm_parameter",
            None,
            &param(
                &format!("{name}-bad"),
                &[("type", Value::from("Secret")), ("value", Value::from("a"))],
            ),
            &c2.resource,
        )
        .unwrap();
    let err = p
        .create("aws_ssm_parameter", &bad.planned, &c2)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SecureString"), "{err}");

    // A plain String with insecure_value, read batched with the first.
    let c3 = create_ctx(env, "aws_ssm_parameter.plain");
    let plain_name = format!("{name}-plain");
    let plain_cfg = param(
        &plain_name,
        &[
            ("type", Value::from("StringList")),
            ("insecure_value", Value::from("a,b")),
        ],
    );
    let plain = create(&p, "aws_ssm_parameter", &plain_cfg, &c3).await;
    assert_eq!(plain.get("value"), Some(&Value::Null));
    assert_no_diff(&p, "aws_ssm_parameter", &plain, &plain_cfg, &c3.resource);
    let before = calls(&p, "ssm:GetParameters");
    let both = p
        .read_resources("aws_ssm_parameter", &[updated.clone(), plain.clone()])
        .await
        .unwrap();
    assert_eq!(calls(&p, "ssm:GetParameters") - before, 1);
    assert!(both.iter().all(Option::is_some));

    // Edited outside → changed; deleted outside → missing.
    p.ssm_client()
        .put_parameter()
        .name(&plain_name)
        .value("c")
        .r#type(aws_sdk_ssm::types::ParameterType::StringList)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let drifted = read(&p, "aws_ssm_parameter", &plain).await.unwrap();
    assert_eq!(s(&drifted, "insecure_value"), "c");
    p.ssm_client()
        .delete_parameter()
        .name(&plain_name)
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, "aws_ssm_parameter", &plain).await, None);
    p.delete("aws_ssm_parameter", &plain)
        .await
        .expect("already gone");

    // Data source: decrypted and sensitive; a public AMI parameter; none.
    let data = p
        .read_data(
            "aws_ssm_parameter",
            &Value::map([("name", Value::from(name.as_str()))]),
        )
        .await
        .unwrap();
    assert!(data.get("value").unwrap().is_sensitive());
    assert_eq!(
        data.get("value").unwrap().clone().into_unmarked().0,
        Value::from("rotated")
    );
    assert_eq!(data.get("insecure_value"), Some(&Value::Null));
    let ami = p
        .read_data(
            "aws_ssm_parameter",
            &Value::map([(
                "name",
                Value::from("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64"),
            )]),
        )
        .await
        .unwrap();
    assert!(s(&ami, "insecure_value").starts_with("ami-"));
    let err = p
        .read_data(
            "aws_ssm_parameter",
            &Value::map([("name", Value::from("/no/such/param"))]),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("reading SSM Parameter (/no/such/param)"),
        "{err}"
    );

    p.delete("aws_ssm_parameter", &updated).await.unwrap();
    assert_eq!(read(&p, "aws_ssm_parameter", &updated).await, None);
}

#[tokio::test]
async fn secretsmanager_secret_and_version() {
    let env = "sec-sm";
    let Some(p) = provider(env).await else { return };
    let name = unique("terrace/db-password");
    let c = create_ctx(env, "aws_secretsmanager_secret.db");
    let policy = |sid: &str| {
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Sid": sid, "Effect": "Deny",
            "Principal": "*", "Action": "secretsmanager:DeleteSecret", "Resource": "*"}]})
        .to_string()
    };
    let config = |desc: &str| {
        Value::map([
            ("name", Value::from(name.as_str())),
            ("description", Value::from(desc)),
            ("recovery_window_in_days", Value::from(0)),
            ("policy", Value::from(policy("NoDelete"))),
            ("tags", Value::map([("Name", Value::from("db"))])),
        ])
    };
    let secret = create(&p, "aws_secretsmanager_secret", &config("one"), &c).await;
    assert!(s(&secret, "arn").contains(":secret:"));
    assert_eq!(s(&secret, "id"), s(&secret, "arn"));
    assert_no_diff(
        &p,
        "aws_secretsmanager_secret",
        &secret,
        &config("one"),
        &c.resource,
    );
    assert_eq!(
        read(&p, "aws_secretsmanager_secret", &secret)
            .await
            .as_ref(),
        Some(&secret)
    );

    // In place: description, tags; replacement: name.
    let plan = p
        .plan_resource(
            "aws_secretsmanager_secret",
            Some(&secret),
            &config("two"),
            &c.resource,
        )
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let updated = p
        .update(
            "aws_secretsmanager_secret",
            &secret,
            &plan.planned,
            &c.resource,
        )
        .await
        .unwrap();
    assert_eq!(updated, plan.planned);
    let mut renamed = config("two");
    renamed
        .as_map_mut()
        .unwrap()
        .insert("name".into(), Value::from("other"));
    assert_eq!(
        p.plan_resource(
            "aws_secretsmanager_secret",
            Some(&updated),
            &renamed,
            &c.resource
        )
        .unwrap()
        .requires_replace,
        vec![vec![PathStep::Key("name".into())]]
    );
    // Bad input: recovery window out of range.
    let mut bad = config("two");
    bad.as_map_mut()
        .unwrap()
        .insert("recovery_window_in_days".into(), Value::from(3));
    let err = p
        .plan_resource("aws_secretsmanager_secret", None, &bad, &c.resource)
        .unwrap_err();
    assert!(err.to_string().contains("7 to 30"), "{err}");

    // Import by ARN (Terraform's defaults for what the API cannot tell),
    // crash recovery and listing by ownership tags.
    let arn = s(&updated, "arn");
    let imported = p
        .import("aws_secretsmanager_secret", &arn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        imported.get("recovery_window_in_days"),
        Some(&Value::from(30))
    );
    assert_eq!(
        p.find_created("aws_secretsmanager_secret", "t", &c.resource)
            .await
            .unwrap()
            .map(|v| s(&v, "arn")),
        Some(arn.clone())
    );
    assert_eq!(
        p.list_owned("aws_secretsmanager_secret", env)
            .await
            .unwrap()
            .len(),
        1
    );

    // Edited outside → changed.
    p.secretsmanager_client()
        .update_secret()
        .secret_id(&arn)
        .description("outside")
        .send()
        .await
        .unwrap();
    let drifted = read(&p, "aws_secretsmanager_secret", &updated)
        .await
        .unwrap();
    assert_eq!(s(&drifted, "description"), "outside");

    // A version: sensitive value, stages, import by `arn|version_id`.
    let vc = create_ctx(env, "aws_secretsmanager_secret_version.db");
    let vcfg = |stages: Option<&[&str]>| {
        let mut m = vec![
            ("secret_id", Value::from(arn.as_str())),
            ("secret_string", Value::from("hunter2")),
        ];
        if let Some(st) = stages {
            m.push((
                "version_stages",
                Value::set(st.iter().map(|x| Value::from(*x)).collect()),
            ));
        }
        Value::map(m)
    };
    let planned = p
        .plan_resource(
            "aws_secretsmanager_secret_version",
            None,
            &vcfg(None),
            &vc.resource,
        )
        .unwrap();
    assert!(planned.planned.get("secret_string").unwrap().is_sensitive());
    let version = create(&p, "aws_secretsmanager_secret_version", &vcfg(None), &vc).await;
    assert!(s(&version, "id").starts_with(&format!("{arn}|")));
    assert!(
        version
            .get("version_stages")
            .unwrap()
            .as_list()
            .unwrap()
            .contains(&Value::from("AWSCURRENT"))
    );
    assert_no_diff(
        &p,
        "aws_secretsmanager_secret_version",
        &version,
        &vcfg(None),
        &vc.resource,
    );
    assert_eq!(
        read(&p, "aws_secretsmanager_secret_version", &version)
            .await
            .as_ref(),
        Some(&version)
    );
    let with_stage = vcfg(Some(&["AWSCURRENT", "blue"]));
    let plan = p
        .plan_resource(
            "aws_secretsmanager_secret_version",
            Some(&version),
            &with_stage,
            &vc.resource,
        )
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let staged = p
        .update(
            "aws_secretsmanager_secret_version",
            &version,
            &plan.planned,
            &vc.resource,
        )
        .await
        .unwrap();
    assert_eq!(staged, plan.planned);
    let mut changed = with_stage.clone();
    changed
        .as_map_mut()
        .unwrap()
        .insert("secret_string".into(), Value::from("new"));
    assert_eq!(
        p.plan_resource(
            "aws_secretsmanager_secret_version",
            Some(&staged),
            &changed,
            &vc.resource
        )
        .unwrap()
        .requires_replace,
        vec![vec![PathStep::Key("secret_string".into())]]
    );
    let imported = p
        .import("aws_secretsmanager_secret_version", &s(&staged, "id"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(imported.get("secret_id"), Some(&Value::from(arn.as_str())));
    assert!(
        p.import("aws_secretsmanager_secret_version", "no-bar")
            .await
            .is_err()
    );
    // Edited outside → changed: the `blue` stage taken off by hand.
    let staged = assert_edit_seen(
        &p,
        "aws_secretsmanager_secret_version",
        &staged,
        async {
            p.secretsmanager_client()
                .update_secret_version_stage()
                .secret_id(&arn)
                .version_stage("blue")
                .remove_from_version_id(s(&staged, "version_id"))
                .send()
                .await
                .unwrap();
        },
        &["version_stages"],
    )
    .await;

    // Data source: current value, sensitive; a stage nobody holds.
    let data = p
        .read_data(
            "aws_secretsmanager_secret_version",
            &Value::map([("secret_id", Value::from(arn.as_str()))]),
        )
        .await
        .unwrap();
    assert!(data.get("secret_string").unwrap().is_sensitive());
    assert_eq!(data.get("version_id"), staged.get("version_id"));
    let err = p
        .read_data(
            "aws_secretsmanager_secret_version",
            &Value::map([
                ("secret_id", Value::from(arn.as_str())),
                ("version_stage", Value::from("nobody")),
            ]),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("reading Secrets Manager Secret Version"),
        "{err}"
    );

    // Destroy: the version gives up its stages, the secret goes at once
    // (recovery window 0) and reads as gone.
    p.delete("aws_secretsmanager_secret_version", &staged)
        .await
        .unwrap();
    p.delete("aws_secretsmanager_secret", &drifted)
        .await
        .unwrap();
    assert_eq!(read(&p, "aws_secretsmanager_secret", &drifted).await, None);
    assert_eq!(
        read(&p, "aws_secretsmanager_secret_version", &staged).await,
        None
    );
    p.delete("aws_secretsmanager_secret", &drifted)
        .await
        .expect("already gone");

    // Deleted outside → missing (the secret, and with it its version).
    let again = create(&p, "aws_secretsmanager_secret", &config("one"), &c).await;
    let again_arn = s(&again, "arn");
    let version = create(
        &p,
        "aws_secretsmanager_secret_version",
        &with_secret(&vcfg(None), &again_arn),
        &vc,
    )
    .await;
    assert_delete_seen(&p, "aws_secretsmanager_secret", &again, async {
        p.secretsmanager_client()
            .delete_secret()
            .secret_id(&again_arn)
            .force_delete_without_recovery(true)
            .send()
            .await
            .unwrap();
    })
    .await;
    assert_delete_seen(&p, "aws_secretsmanager_secret_version", &version, async {}).await;
}

fn with_secret(config: &Value, arn: &str) -> Value {
    let mut config = config.clone();
    config
        .as_map_mut()
        .unwrap()
        .insert("secret_id".into(), Value::from(arn));
    config
}
