//! Security-group rules, key pairs, IAM policies and OIDC providers, KMS,
//! CloudWatch log groups, flow logs and VPC endpoints against a real moto
//! server: create, read back, no-op re-plan, in-place update, replacement,
//! import, deleted / edited outside, destroy; data sources found and not.

mod common;

use common::*;
use terrace_aws::AwsProvider;
use terrace_core::{PathStep, Value};
use terrace_provider::{Provider, ProviderError};

const RSA_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCZO/q/qRXn7A2KJi7ms70l+9ifEWS6Pf+1Y8TcEf/12jr/3RBJ33eaLLLULguutFwqe99++2AHrD0dDIA8qAMFqOa2Ae0n03e06nXOff/PhmGdxa5Xmce6L3iKvXpiwXCvPi2xfMgz9C5Hd5qsMQ5S9llirVRB/erRddAudOaYKoHbbSdtKoL4DODVNpzMcKHI/p3sG28LjFdoKVVGMyrXZnsX2Puv48ymsxVcv7UVvzMEkLDB/pkj2F36XNj+YS/ZrnY8ZfTnksEZ54He3oeAzfbFj4InTRXUCzvT+geQBmVhbcwA56GjPYNrR4yXSL6PZ1Y2aEf0PJ5V1x4SSrwv";
const ED_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN2JVNRvy3IiTqdxoFGEL9uPduhl+eKBof6mz495ZRQr";

fn set(v: &Value, key: &str, x: impl Into<Value>) -> Value {
    let mut v = v.clone();
    v.as_map_mut().unwrap().insert(key.into(), x.into());
    v
}

fn strs(xs: &[&str]) -> Value {
    Value::List(xs.iter().map(|x| Value::from(*x)).collect())
}

async fn make(p: &AwsProvider, env: &str, ty: &str, address: &str, config: Value) -> Value {
    create(p, ty, &config, &create_ctx(env, address)).await
}

async fn vpc_and_group(p: &AwsProvider, env: &str, cidr: &str) -> (String, String) {
    let vpc = make(
        p,
        env,
        "aws_vpc",
        "aws_vpc.v",
        Value::map([("cidr_block", Value::from(cidr))]),
    )
    .await;
    let sg = make(
        p,
        env,
        "aws_security_group",
        "aws_security_group.g",
        Value::map([
            ("name", Value::from(unique("g"))),
            ("vpc_id", vpc.get("id").unwrap().clone()),
        ]),
    )
    .await;
    (s(&vpc, "id"), s(&sg, "id"))
}

/// Plan a change, check replacement (or not) and apply an in-place one.
async fn update_in_place(
    p: &AwsProvider,
    env: &str,
    ty: &str,
    address: &str,
    state: &Value,
    config: &Value,
) -> Value {
    let c = ctx(env, address);
    let plan = p
        .plan_resource(ty, Some(state), config, &c)
        .expect("plan update");
    assert!(
        plan.requires_replace.is_empty(),
        "{ty}: unexpected replacement {:?}",
        plan.requires_replace
    );
    let updated = p
        .update(ty, state, &plan.planned, &c)
        .await
        .unwrap_or_else(|e| panic!("update {ty}: {e}"));
    assert_planned_matches(&plan.planned, &updated);
    assert_eq!(
        read(p, ty, &updated).await.as_ref(),
        Some(&updated),
        "{ty}: read-back after update"
    );
    assert_no_diff(p, ty, &updated, config, &c);
    updated
}

fn assert_replaces(
    p: &AwsProvider,
    env: &str,
    ty: &str,
    address: &str,
    state: &Value,
    config: &Value,
    attr: &str,
) {
    let plan = p
        .plan_resource(ty, Some(state), config, &ctx(env, address))
        .expect("plan");
    assert!(
        plan.requires_replace
            .iter()
            .any(|path| path.first() == Some(&PathStep::Key(attr.into()))),
        "{ty}: changing {attr} must replace: {:?}",
        plan.requires_replace
    );
}

/// Rewrite security group rule `rule_id` by hand as `rule` with the
/// description "by hand" (moto needs the whole rule, not only what changes).
async fn rewrite_rule_by_hand(
    p: &AwsProvider,
    sg: &str,
    rule_id: &str,
    rule: aws_sdk_ec2::types::builders::SecurityGroupRuleRequestBuilder,
) {
    p.ec2_client()
        .modify_security_group_rules()
        .group_id(sg)
        .security_group_rules(
            aws_sdk_ec2::types::SecurityGroupRuleUpdate::builder()
                .security_group_rule_id(rule_id)
                .security_group_rule(rule.description("by hand").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
}

fn arg_error_at(e: &ProviderError, attr: &str) -> bool {
    matches!(e, ProviderError::InvalidArgument { path: Some(path), .. } if path.first() == Some(&PathStep::Key(attr.into())))
}

// ---------------------------------------------------------------------------
// aws_security_group_rule
// ---------------------------------------------------------------------------

#[tokio::test]
async fn security_group_rule_lifecycle() {
    let env = "sec-sgrule";
    let Some(p) = provider(env).await else { return };
    let (_vpc, sg) = vpc_and_group(&p, env, "10.60.0.0/16").await;
    let ty = "aws_security_group_rule";
    let addr = "aws_security_group_rule.web";
    let config = Value::map([
        ("type", Value::from("ingress")),
        ("security_group_id", Value::from(sg.as_str())),
        ("protocol", Value::from("6")),
        ("from_port", Value::from(80i64)),
        ("to_port", Value::from(80i64)),
        ("cidr_blocks", strs(&["10.0.0.0/8", "10.1.0.0/16"])),
        ("description", Value::from("web")),
    ]);
    let state = make(&p, env, ty, addr, config.clone()).await;
    assert!(s(&state, "id").starts_with("sgrule-"));
    assert_eq!(s(&state, "protocol"), "tcp", "protocol numbers normalise");
    assert_eq!(read(&p, ty, &state).await.as_ref(), Some(&state));
    assert_no_diff(&p, ty, &state, &config, &ctx(env, addr));

    // The group without inline blocks leaves the rule alone.
    let group = p.import("aws_security_group", &sg).await.unwrap().unwrap();
    assert_eq!(group.get("ingress").unwrap().as_list().unwrap().len(), 1);
    let gcfg = Value::map([
        ("name", group.get("name").unwrap().clone()),
        ("vpc_id", group.get("vpc_id").unwrap().clone()),
        ("revoke_rules_on_delete", Value::Bool(false)),
    ]);
    assert_no_diff(
        &p,
        "aws_security_group",
        &group,
        &gcfg,
        &ctx(env, "aws_security_group.g"),
    );

    // The same rule twice: Terraform's duplicate error, how to fix it.
    let dup = p
        .create(ty, &state, &create_ctx(env, "aws_security_group_rule.dup"))
        .await
        .unwrap_err();
    assert!(dup.to_string().contains("duplicate"), "{dup}");

    // In place: description.
    let cfg2 = set(&config, "description", "web traffic");
    let updated = update_in_place(&p, env, ty, addr, &state, &cfg2).await;
    assert_eq!(s(&updated, "description"), "web traffic");

    // Replacement: ports.
    assert_replaces(
        &p,
        env,
        ty,
        addr,
        &updated,
        &set(&cfg2, "from_port", 81i64),
        "from_port",
    );

    // Import by Terraform's ID form.
    let imported = p
        .import(
            ty,
            &format!("{sg}_ingress_tcp_80_80_10.0.0.0/8_10.1.0.0/16"),
        )
        .await
        .unwrap()
        .expect("imported");
    assert_eq!(imported.get("id"), updated.get("id"));
    assert_eq!(s(&imported, "description"), "web traffic");
    let bad = p.import(ty, "sg-1_sideways_tcp_1_1_x").await.unwrap_err();
    assert!(bad.to_string().contains("is not of the form"), "{bad}");

    // Edited outside: the description changes.
    let perm = |d: &str| {
        aws_sdk_ec2::types::IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(80)
            .to_port(80)
            .ip_ranges(
                aws_sdk_ec2::types::IpRange::builder()
                    .cidr_ip("10.0.0.0/8")
                    .description(d)
                    .build(),
            )
            .ip_ranges(
                aws_sdk_ec2::types::IpRange::builder()
                    .cidr_ip("10.1.0.0/16")
                    .description(d)
                    .build(),
            )
            .build()
    };
    p.ec2_client()
        .update_security_group_rule_descriptions_ingress()
        .group_id(&sg)
        .ip_permissions(perm("by hand"))
        .send()
        .await
        .unwrap();
    let drifted = read(&p, ty, &updated).await.unwrap();
    assert_eq!(s(&drifted, "description"), "by hand");

    // Destroy revokes it; reading then finds it gone.
    p.delete(ty, &updated).await.unwrap();
    assert_eq!(read(&p, ty, &updated).await, None);
    p.delete(ty, &updated)
        .await
        .expect("deleting twice is fine");

    // Deleted outside: one of its CIDRs revoked by hand is a missing rule.
    let again = make(&p, env, ty, addr, config.clone()).await;
    p.ec2_client()
        .revoke_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(80)
                .to_port(80)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("10.1.0.0/16")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, ty, &again).await, None);

    // Bad input: no source; self and a source group together; bad type.
    let no_source = Value::map([
        ("type", Value::from("egress")),
        ("security_group_id", Value::from(sg.as_str())),
        ("protocol", Value::from("-1")),
        ("from_port", Value::from(0i64)),
        ("to_port", Value::from(0i64)),
    ]);
    let e = p
        .plan_resource(ty, None, &no_source, &ctx(env, addr))
        .unwrap_err();
    assert!(e.to_string().contains("cidr_blocks"), "{e}");
    let both = set(
        &set(&no_source, "self", true),
        "source_security_group_id",
        sg.as_str(),
    );
    let e = p
        .plan_resource(ty, None, &both, &ctx(env, addr))
        .unwrap_err();
    assert!(arg_error_at(&e, "source_security_group_id"), "{e}");
    let e = p
        .plan_resource(ty, None, &set(&config, "type", "inbound"), &ctx(env, addr))
        .unwrap_err();
    assert!(arg_error_at(&e, "type"), "{e}");

    // A self rule and a source-group rule (egress) round-trip.
    let self_rule = make(
        &p,
        env,
        ty,
        "aws_security_group_rule.self",
        set(&no_source, "self", true),
    )
    .await;
    assert_eq!(read(&p, ty, &self_rule).await.as_ref(), Some(&self_rule));
    p.delete(ty, &self_rule).await.unwrap();
}

// ---------------------------------------------------------------------------
// aws_vpc_security_group_ingress_rule / _egress_rule
// ---------------------------------------------------------------------------

#[tokio::test]
async fn vpc_security_group_rules_lifecycle() {
    let env = "sec-sgr";
    let Some(p) = provider(env).await else { return };
    let (_vpc, sg) = vpc_and_group(&p, env, "10.61.0.0/16").await;
    let ty = "aws_vpc_security_group_ingress_rule";
    let addr = "aws_vpc_security_group_ingress_rule.https";
    let config = Value::map([
        ("security_group_id", Value::from(sg.as_str())),
        ("ip_protocol", Value::from("tcp")),
        ("from_port", Value::from(443i64)),
        ("to_port", Value::from(443i64)),
        ("cidr_ipv4", Value::from("10.0.0.0/8")),
        ("description", Value::from("https")),
        ("tags", Value::map([("Name", Value::from("https"))])),
    ]);
    let state = make(&p, env, ty, addr, config.clone()).await;
    assert!(s(&state, "id").starts_with("sgr-"), "{state}");
    assert_eq!(state.get("security_group_rule_id"), state.get("id"));
    assert!(s(&state, "arn").contains(":security-group-rule/sgr-"));
    assert_eq!(read(&p, ty, &state).await.as_ref(), Some(&state));
    assert_no_diff(&p, ty, &state, &config, &ctx(env, addr));

    // In place: ports, description, tags.
    let cfg2 = set(
        &set(
            &set(&set(&config, "from_port", 8443i64), "to_port", 8443i64),
            "description",
            "alt",
        ),
        "tags",
        Value::map([("Name", Value::from("alt"))]),
    );
    let updated = update_in_place(&p, env, ty, addr, &state, &cfg2).await;
    assert_eq!(updated.get("id"), state.get("id"), "updated in place");
    assert_eq!(updated.get("from_port"), Some(&Value::from(8443i64)));

    // Replacement: the group.
    assert_replaces(
        &p,
        env,
        ty,
        addr,
        &updated,
        &set(&cfg2, "security_group_id", "sg-other"),
        "security_group_id",
    );

    // Import by rule ID; owned listing finds it.
    let imported = p.import(ty, &s(&updated, "id")).await.unwrap().unwrap();
    assert_eq!(imported.get("cidr_ipv4"), updated.get("cidr_ipv4"));
    let owned = p.list_owned(ty, env).await.unwrap();
    assert!(owned.iter().any(|o| o.get("id") == updated.get("id")));

    // Edited outside → changed: the description by hand.
    let rule = aws_sdk_ec2::types::SecurityGroupRuleRequest::builder()
        .ip_protocol("tcp")
        .from_port(8443)
        .to_port(8443)
        .cidr_ipv4("10.0.0.0/8");
    let updated = assert_edit_seen(
        &p,
        ty,
        &updated,
        rewrite_rule_by_hand(&p, &sg, &s(&updated, "id"), rule),
        &["description"],
    )
    .await;

    // Egress rule to another group, all protocols.
    let ety = "aws_vpc_security_group_egress_rule";
    let ecfg = Value::map([
        ("security_group_id", Value::from(sg.as_str())),
        ("ip_protocol", Value::from("-1")),
        ("referenced_security_group_id", Value::from(sg.as_str())),
    ]);
    let egress = make(
        &p,
        env,
        ety,
        "aws_vpc_security_group_egress_rule.all",
        ecfg.clone(),
    )
    .await;
    assert_eq!(egress.get("from_port"), Some(&Value::Null));
    assert_no_diff(
        &p,
        ety,
        &egress,
        &ecfg,
        &ctx(env, "aws_vpc_security_group_egress_rule.all"),
    );
    // In place: description; replacement: the group; import by rule ID.
    let eaddr = "aws_vpc_security_group_egress_rule.all";
    assert_replaces(
        &p,
        env,
        ety,
        eaddr,
        &egress,
        &set(&ecfg, "security_group_id", "sg-other"),
        "security_group_id",
    );
    let egress = update_in_place(
        &p,
        env,
        ety,
        eaddr,
        &egress,
        &set(&ecfg, "description", "to the group"),
    )
    .await;
    let imported = p.import(ety, &s(&egress, "id")).await.unwrap().unwrap();
    assert_eq!(
        imported.get("referenced_security_group_id"),
        egress.get("referenced_security_group_id")
    );
    // Edited outside → changed: the description by hand.
    let rule = aws_sdk_ec2::types::SecurityGroupRuleRequest::builder()
        .ip_protocol("-1")
        .from_port(-1)
        .to_port(-1)
        .referenced_group_id(&sg);
    let egress = assert_edit_seen(
        &p,
        ety,
        &egress,
        rewrite_rule_by_hand(&p, &sg, &s(&egress, "id"), rule),
        &["description"],
    )
    .await;

    // Destroy; deleted outside reads as gone.
    p.delete(ety, &egress).await.unwrap();
    assert_eq!(read(&p, ety, &egress).await, None);
    let again = make(&p, env, ety, eaddr, ecfg.clone()).await;
    assert_delete_seen(&p, ety, &again, async {
        p.ec2_client()
            .revoke_security_group_egress()
            .group_id(&sg)
            .security_group_rule_ids(s(&again, "id"))
            .send()
            .await
            .unwrap();
    })
    .await;
    p.ec2_client()
        .revoke_security_group_ingress()
        .group_id(&sg)
        .security_group_rule_ids(s(&updated, "id"))
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, ty, &updated).await, None);
    p.delete(ty, &updated).await.expect("already gone is fine");

    // Bad input: two sources.
    let e = p
        .plan_resource(
            ty,
            None,
            &set(&config, "cidr_ipv6", "::/0"),
            &ctx(env, addr),
        )
        .unwrap_err();
    assert!(e.to_string().contains("exactly one of"), "{e}");
}

// ---------------------------------------------------------------------------
// aws_key_pair
// ---------------------------------------------------------------------------

#[tokio::test]
async fn key_pair_lifecycle() {
    let env = "sec-key";
    let Some(p) = provider(env).await else { return };
    let ty = "aws_key_pair";
    let addr = "aws_key_pair.deploy";
    let name = unique("deploy");
    let config = Value::map([
        ("key_name", Value::from(name.as_str())),
        ("public_key", Value::from(RSA_KEY)),
        ("tags", Value::map([("team", Value::from("ci"))])),
    ]);
    let state = make(&p, env, ty, addr, config.clone()).await;
    assert_eq!(s(&state, "id"), name);
    assert!(s(&state, "key_pair_id").starts_with("key-"));
    assert!(!s(&state, "fingerprint").is_empty());
    assert!(s(&state, "arn").ends_with(&format!(":key-pair/{name}")));
    assert_eq!(read(&p, ty, &state).await.as_ref(), Some(&state));
    assert_no_diff(&p, ty, &state, &config, &ctx(env, addr));

    let cfg2 = set(&config, "tags", Value::map([("team", Value::from("ops"))]));
    let updated = update_in_place(&p, env, ty, addr, &state, &cfg2).await;
    assert_replaces(
        &p,
        env,
        ty,
        addr,
        &updated,
        &set(&cfg2, "public_key", ED_KEY),
        "public_key",
    );

    let imported = p.import(ty, &name).await.unwrap().unwrap();
    assert_eq!(imported.get("fingerprint"), updated.get("fingerprint"));
    assert_eq!(imported.get("public_key"), Some(&Value::Null));
    assert!(
        p.list_owned(ty, env)
            .await
            .unwrap()
            .iter()
            .any(|k| k.get("id") == updated.get("id"))
    );

    // Edited outside: a tag added by hand.
    p.ec2_client()
        .create_tags()
        .resources(s(&updated, "key_pair_id"))
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("hand")
                .value("x")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let drifted = read(&p, ty, &updated).await.unwrap();
    assert_eq!(
        drifted.get("tags").unwrap().get("hand"),
        Some(&Value::from("x"))
    );

    // A name taken: error at key_name.
    let e = p
        .create(ty, &updated, &create_ctx(env, "aws_key_pair.other"))
        .await
        .unwrap_err();
    assert!(arg_error_at(&e, "key_name"), "{e}");

    p.delete(ty, &updated).await.unwrap();
    assert_eq!(read(&p, ty, &updated).await, None);

    // Deleted outside → missing.
    let again = make(&p, env, ty, "aws_key_pair.again", config.clone()).await;
    assert_delete_seen(
        &p,
        ty,
        &again,
        ec2_delete_outside(&p, ty, &s(&again, "key_name")),
    )
    .await;

    // Name from a prefix; an ed25519 key.
    let prefixed = make(
        &p,
        env,
        ty,
        "aws_key_pair.prefixed",
        Value::map([
            ("key_name_prefix", Value::from("ci-")),
            ("public_key", Value::from(ED_KEY)),
        ]),
    )
    .await;
    assert!(s(&prefixed, "key_name").starts_with("ci-"));
    p.delete(ty, &prefixed).await.unwrap();

    // Bad key material: error at public_key.
    let e = p
        .create(
            ty,
            &p.plan_resource(
                ty,
                None,
                &Value::map([
                    ("key_name", Value::from(unique("bad"))),
                    ("public_key", Value::from("not a key")),
                ]),
                &ctx(env, "aws_key_pair.bad"),
            )
            .unwrap()
            .planned,
            &create_ctx(env, "aws_key_pair.bad"),
        )
        .await
        .unwrap_err();
    assert!(arg_error_at(&e, "public_key"), "{e}");
}

// ---------------------------------------------------------------------------
// IAM: aws_iam_policy, aws_iam_role_policy, aws_iam_openid_connect_provider
// ---------------------------------------------------------------------------

fn doc(action: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#
    )
}

#[tokio::test]
async fn iam_policy_lifecycle_and_data_source() {
    let env = "sec-iampol";
    let Some(p) = provider(env).await else { return };
    let ty = "aws_iam_policy";
    let addr = "aws_iam_policy.read";
    let name = unique("read");
    let config = Value::map([
        ("name", Value::from(name.as_str())),
        ("description", Value::from("reads")),
        ("policy", Value::from(doc("s3:GetObject"))),
        ("tags", Value::map([("team", Value::from("ci"))])),
    ]);
    let state = make(&p, env, ty, addr, config.clone()).await;
    assert!(s(&state, "arn").ends_with(&format!(":policy/{name}")));
    assert_eq!(state.get("id"), state.get("arn"));
    assert_eq!(s(&state, "path"), "/");
    assert_eq!(read(&p, ty, &state).await.as_ref(), Some(&state));
    assert_no_diff(&p, ty, &state, &config, &ctx(env, addr));
    // Another formatting of the same JSON is no change.
    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<serde_json::Value>(&doc("s3:GetObject")).unwrap(),
    )
    .unwrap();
    assert_no_diff(
        &p,
        ty,
        &state,
        &set(&config, "policy", pretty.as_str()),
        &ctx(env, addr),
    );

    // In place: the document (a new default version) and tags, six times
    // (the fifth version makes room by deleting the oldest).
    let mut current = state.clone();
    for i in 0..6 {
        let cfg = set(
            &set(&config, "policy", doc(&format!("s3:Get{i}"))),
            "tags",
            Value::map([("team", Value::from(format!("t{i}")))]),
        );
        current = update_in_place(&p, env, ty, addr, &current, &cfg).await;
    }
    assert!(s(&current, "policy").contains("s3:Get5"));
    assert_replaces(
        &p,
        env,
        ty,
        addr,
        &current,
        &set(&config, "description", "other"),
        "description",
    );

    // Import by ARN; data source by name and by ARN.
    let arn = s(&current, "arn");
    let imported = p.import(ty, &arn).await.unwrap().unwrap();
    assert_eq!(imported.get("policy_id"), current.get("policy_id"));
    let by_name = p
        .read_data(
            "aws_iam_policy",
            &Value::map([("name", Value::from(name.as_str()))]),
        )
        .await
        .unwrap();
    assert_eq!(by_name.get("arn"), current.get("arn"));
    assert!(s(&by_name, "policy").contains("s3:Get5"));
    let by_arn = p
        .read_data(
            "aws_iam_policy",
            &Value::map([("arn", Value::from(arn.as_str()))]),
        )
        .await
        .unwrap();
    assert_eq!(s(&by_arn, "name"), name);
    let none = p
        .read_data(
            "aws_iam_policy",
            &Value::map([("name", Value::from("no-such-policy"))]),
        )
        .await
        .unwrap_err();
    assert!(
        none.to_string().contains("no matching IAM Policy found"),
        "{none}"
    );

    // Edited outside: a new default version by hand (room made first).
    let versions = p
        .iam_client()
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    let old = versions
        .versions()
        .iter()
        .find(|v| !v.is_default_version())
        .unwrap();
    p.iam_client()
        .delete_policy_version()
        .policy_arn(&arn)
        .version_id(old.version_id().unwrap())
        .send()
        .await
        .unwrap();
    p.iam_client()
        .create_policy_version()
        .policy_arn(&arn)
        .policy_document(doc("s3:PutObject"))
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    let drifted = read(&p, ty, &current).await.unwrap();
    assert!(s(&drifted, "policy").contains("s3:PutObject"));

    // Owned listing; destroy (with its extra versions); then gone.
    assert!(
        p.list_owned(ty, env)
            .await
            .unwrap()
            .iter()
            .any(|x| x.get("arn") == current.get("arn"))
    );
    p.delete(ty, &current).await.unwrap();
    assert_eq!(read(&p, ty, &current).await, None);
    p.delete(ty, &current).await.expect("already gone");

    // Deleted outside → missing.
    let again = make(&p, env, ty, "aws_iam_policy.again", config.clone()).await;
    assert_delete_seen(&p, ty, &again, async {
        p.iam_client()
            .delete_policy()
            .policy_arn(s(&again, "arn"))
            .send()
            .await
            .unwrap();
    })
    .await;

    // A malformed document: an error at `policy`.
    let bad = set(&config, "name", unique("bad").as_str());
    let bad = set(&bad, "policy", "{\"Statement\": 7}");
    let planned = p
        .plan_resource(ty, None, &bad, &ctx(env, "aws_iam_policy.bad"))
        .unwrap()
        .planned;
    let e = p
        .create(ty, &planned, &create_ctx(env, "aws_iam_policy.bad"))
        .await
        .unwrap_err();
    assert!(arg_error_at(&e, "policy"), "{e}");
}

#[tokio::test]
async fn iam_role_policy_and_role_data_source() {
    let env = "sec-rolepol";
    let Some(p) = provider(env).await else { return };
    let role_name = unique("role");
    let assume = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Service":"ec2.amazonaws.com"}}]}"#;
    let role = make(
        &p,
        env,
        "aws_iam_role",
        "aws_iam_role.r",
        Value::map([
            ("name", Value::from(role_name.as_str())),
            ("assume_role_policy", Value::from(assume)),
            ("max_session_duration", Value::from(7200i64)),
            ("managed_policy_arns", Value::Null),
        ]),
    )
    .await;

    // Data source: found, and Terraform's error when not.
    let found = p
        .read_data(
            "aws_iam_role",
            &Value::map([("name", Value::from(role_name.as_str()))]),
        )
        .await
        .unwrap();
    assert_eq!(found.get("arn"), role.get("arn"));
    assert_eq!(
        found.get("max_session_duration"),
        Some(&Value::from(7200i64))
    );
    let e = p
        .read_data(
            "aws_iam_role",
            &Value::map([("name", Value::from("nope-role"))]),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("reading IAM Role (nope-role): couldn't find resource"),
        "{e}"
    );

    // Unimplemented inline_policy with content is rejected at the block.
    let with_inline = Value::map([
        ("name", Value::from(role_name.as_str())),
        ("assume_role_policy", Value::from(assume)),
        (
            "inline_policy",
            Value::List(vec![Value::map([
                ("name", Value::from("x")),
                ("policy", Value::from(doc("s3:*"))),
            ])]),
        ),
    ]);
    let e = p
        .plan_resource(
            "aws_iam_role",
            Some(&role),
            &with_inline,
            &ctx(env, "aws_iam_role.r"),
        )
        .unwrap_err();
    assert!(
        arg_error_at(&e, "inline_policy") && e.to_string().contains("aws_iam_role_policy"),
        "{e}"
    );

    let ty = "aws_iam_role_policy";
    let addr = "aws_iam_role_policy.p";
    let config = Value::map([
        ("name", Value::from("inline")),
        ("role", Value::from(role_name.as_str())),
        ("policy", Value::from(doc("ec2:Describe*"))),
    ]);
    let state = make(&p, env, ty, addr, config.clone()).await;
    assert_eq!(s(&state, "id"), format!("{role_name}:inline"));
    assert_eq!(read(&p, ty, &state).await.as_ref(), Some(&state));
    assert_no_diff(&p, ty, &state, &config, &ctx(env, addr));
    let updated = update_in_place(
        &p,
        env,
        ty,
        addr,
        &state,
        &set(&config, "policy", doc("ec2:*")),
    )
    .await;
    assert_replaces(
        &p,
        env,
        ty,
        addr,
        &updated,
        &set(&config, "name", "other"),
        "name",
    );
    let imported = p
        .import(ty, &format!("{role_name}:inline"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(imported.get("policy"), updated.get("policy"));
    let e = p.import(ty, "no-colon").await.unwrap_err();
    assert!(e.to_string().contains("<role-name>:<policy-name>"), "{e}");

    // Edited outside, deleted outside, destroy.
    p.iam_client()
        .put_role_policy()
        .role_name(&role_name)
        .policy_name("inline")
        .policy_document(doc("s3:*"))
        .send()
        .await
        .unwrap();
    assert!(s(&read(&p, ty, &updated).await.unwrap(), "policy").contains("s3:*"));
    p.delete(ty, &updated).await.unwrap();
    assert_eq!(read(&p, ty, &updated).await, None);
    let again = make(&p, env, ty, addr, config.clone()).await;
    assert_delete_seen(&p, ty, &again, async {
        p.iam_client()
            .delete_role_policy()
            .role_name(&role_name)
            .policy_name("inline")
            .send()
            .await
            .unwrap();
    })
    .await;

    // Unknown role: an error at `role`.
    let planned = p
        .plan_resource(
            ty,
            None,
            &set(&config, "role", "no-such-role"),
            &ctx(env, addr),
        )
        .unwrap()
        .planned;
    let e = p
        .create(ty, &planned, &create_ctx(env, addr))
        .await
        .unwrap_err();
    assert!(arg_error_at(&e, "role"), "{e}");
    p.delete("aws_iam_role", &role).await.unwrap();
}

#[tokio::test]
async fn openid_connect_provider_lifecycle() {
    let env = "sec-oidc";
    let Some(p) = provider(env).await else { return };
    let ty = "aws_iam_openid_connect_provider";
    let addr = "aws_iam_openid_connect_provider.eks";
    let url = format!("https://oidc.example.com/id/{}", unique("c"));
    let config = Value::map([
        ("url", Value::from(url.as_str())),
        (
            "client_id_list",
            Value::set(vec![Value::from("sts.amazonaws.com")]),
        ),
        (
            "thumbprint_list",
            strs(&["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]),
        ),
        ("tags", Value::map([("team", Value::from("ci"))])),
    ]);
    let state = make(&p, env, ty, addr, config.clone()).await;
    assert!(s(&state, "arn").contains(":oidc-provider/oidc.example.com/id/"));
    assert_eq!(s(&state, "url"), url);
    assert_eq!(read(&p, ty, &state).await.as_ref(), Some(&state));
    assert_no_diff(&p, ty, &state, &config, &ctx(env, addr));

    let cfg2 = set(
        &set(
            &config,
            "thumbprint_list",
            strs(&["0000000000000000000000000000000000000000"]),
        ),
        "tags",
        Value::map([("team", Value::from("ops"))]),
    );
    let updated = update_in_place(&p, env, ty, addr, &state, &cfg2).await;
    assert_replaces(
        &p,
        env,
        ty,
        addr,
        &updated,
        &set(&cfg2, "url", "https://other.example.com"),
        "url",
    );

    let imported = p.import(ty, &s(&updated, "arn")).await.unwrap().unwrap();
    assert_eq!(
        imported.get("client_id_list"),
        updated.get("client_id_list")
    );
    assert!(
        p.list_owned(ty, env)
            .await
            .unwrap()
            .iter()
            .any(|x| x.get("arn") == updated.get("arn"))
    );

    // Edited outside: thumbprints by hand.
    p.iam_client()
        .update_open_id_connect_provider_thumbprint()
        .open_id_connect_provider_arn(s(&updated, "arn"))
        .thumbprint_list("1111111111111111111111111111111111111111")
        .send()
        .await
        .unwrap();
    let drifted = read(&p, ty, &updated).await.unwrap();
    assert_eq!(
        drifted.get("thumbprint_list"),
        Some(&strs(&["1111111111111111111111111111111111111111"]))
    );

    p.delete(ty, &updated).await.unwrap();
    assert_eq!(read(&p, ty, &updated).await, None);
    p.delete(ty, &updated).await.expect("already gone");

    // Deleted outside → missing.
    let again = make(&p, env, ty, addr, config.clone()).await;
    assert_delete_seen(&p, ty, &again, async {
        p.iam_client()
            .delete_open_id_connect_provider()
            .open_id_connect_provider_arn(s(&again, "arn"))
            .send()
            .await
            .unwrap();
    })
    .await;
}

// ---------------------------------------------------------------------------
// KMS
// ---------------------------------------------------------------------------

#[tokio::test]
async fn kms_key_alias_and_data_source() {
    let env = "sec-kms";
    let Some(p) = provider(env).await else { return };
    let ty = "aws_kms_key";
    let addr = "aws_kms_key.k";
    let config = Value::map([
        ("description", Value::from("state key")),
        ("deletion_window_in_days", Value::from(7i64)),
        ("enable_key_rotation", Value::Bool(true)),
        ("tags", Value::map([("team", Value::from("ci"))])),
    ]);
    let state = make(&p, env, ty, addr, config.clone()).await;
    assert_eq!(state.get("id"), state.get("key_id"));
    assert_eq!(s(&state, "key_usage"), "ENCRYPT_DECRYPT");
    assert_eq!(state.get("enable_key_rotation"), Some(&Value::Bool(true)));
    assert!(
        s(&state, "policy").contains("Statement"),
        "the default policy is reported"
    );
    assert_eq!(read(&p, ty, &state).await.as_ref(), Some(&state));
    assert_no_diff(&p, ty, &state, &config, &ctx(env, addr));

    // In place: description, rotation, enabled, tags.
    let cfg2 = set(
        &set(
            &set(&config, "description", "changed"),
            "enable_key_rotation",
            false,
        ),
        "is_enabled",
        false,
    );
    let updated = update_in_place(&p, env, ty, addr, &state, &cfg2).await;
    assert_eq!(updated.get("is_enabled"), Some(&Value::Bool(false)));
    let updated =
        update_in_place(&p, env, ty, addr, &updated, &set(&cfg2, "is_enabled", true)).await;
    assert_replaces(
        &p,
        env,
        ty,
        addr,
        &updated,
        &set(&cfg2, "key_usage", "SIGN_VERIFY"),
        "key_usage",
    );
    let e = p
        .plan_resource(
            ty,
            None,
            &set(&config, "deletion_window_in_days", 3i64),
            &ctx(env, addr),
        )
        .unwrap_err();
    assert!(arg_error_at(&e, "deletion_window_in_days"), "{e}");

    let key_id = s(&updated, "key_id");
    let imported = p.import(ty, &key_id).await.unwrap().unwrap();
    assert_eq!(imported.get("arn"), updated.get("arn"));

    // Edited outside.
    p.kms_client()
        .update_key_description()
        .key_id(&key_id)
        .description("by hand")
        .send()
        .await
        .unwrap();
    assert_eq!(
        s(&read(&p, ty, &updated).await.unwrap(), "description"),
        "by hand"
    );

    // Alias: create, retarget in place, import, data source through it.
    let other = make(&p, env, ty, "aws_kms_key.other", Value::map::<&str>([])).await;
    let aty = "aws_kms_alias";
    let aaddr = "aws_kms_alias.a";
    let alias_name = format!("alias/{}", unique("state"));
    let acfg = Value::map([
        ("name", Value::from(alias_name.as_str())),
        ("target_key_id", Value::from(key_id.as_str())),
    ]);
    let alias = make(&p, env, aty, aaddr, acfg.clone()).await;
    assert!(s(&alias, "arn").ends_with(&format!(":{alias_name}")));
    assert_eq!(alias.get("target_key_arn"), updated.get("arn"));
    assert_eq!(read(&p, aty, &alias).await.as_ref(), Some(&alias));
    assert_no_diff(&p, aty, &alias, &acfg, &ctx(env, aaddr));
    let found = p
        .read_data(
            "aws_kms_key",
            &Value::map([("key_id", Value::from(alias_name.as_str()))]),
        )
        .await
        .unwrap();
    assert_eq!(found.get("arn"), updated.get("arn"));
    let retargeted = update_in_place(
        &p,
        env,
        aty,
        aaddr,
        &alias,
        &set(&acfg, "target_key_id", other.get("id").unwrap().clone()),
    )
    .await;
    assert_eq!(retargeted.get("target_key_arn"), other.get("arn"));
    assert_replaces(
        &p,
        env,
        aty,
        aaddr,
        &retargeted,
        &set(&acfg, "name", "alias/x"),
        "name",
    );
    let imported = p.import(aty, &alias_name).await.unwrap().unwrap();
    assert_eq!(imported.get("target_key_id"), other.get("id"));
    let e = p
        .plan_resource(aty, None, &set(&acfg, "name", "state"), &ctx(env, aaddr))
        .unwrap_err();
    assert!(arg_error_at(&e, "name"), "{e}");
    // Edited outside → changed: pointed back at the first key by hand.
    let retargeted = assert_edit_seen(
        &p,
        aty,
        &retargeted,
        async {
            p.kms_client()
                .update_alias()
                .alias_name(&alias_name)
                .target_key_id(&key_id)
                .send()
                .await
                .unwrap();
        },
        &["target_key_arn", "target_key_id"],
    )
    .await;
    p.delete(aty, &retargeted).await.unwrap();
    assert_eq!(read(&p, aty, &retargeted).await, None);
    // Deleted outside → missing.
    let again = make(&p, env, aty, aaddr, acfg.clone()).await;
    assert_delete_seen(&p, aty, &again, async {
        p.kms_client()
            .delete_alias()
            .alias_name(&alias_name)
            .send()
            .await
            .unwrap();
    })
    .await;

    let e = p
        .read_data(
            "aws_kms_key",
            &Value::map([("key_id", Value::from("alias/no-such-alias"))]),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("reading KMS Key (alias/no-such-alias)"),
        "{e}"
    );

    // Destroy schedules deletion with the configured window; then gone.
    p.delete(ty, &updated).await.unwrap();
    let meta = p
        .kms_client()
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let meta = meta.key_metadata().unwrap();
    assert_eq!(
        meta.key_state(),
        Some(&aws_sdk_kms::types::KeyState::PendingDeletion)
    );
    let days =
        (meta.deletion_date().unwrap().secs() - meta.creation_date().unwrap().secs()) / 86400;
    assert!((6..=7).contains(&days), "deletion in {days} days, want 7");
    assert_eq!(read(&p, ty, &updated).await, None);
    p.delete(ty, &updated)
        .await
        .expect("already pending deletion");
    // Deletion scheduled outside → missing.
    assert_delete_seen(&p, ty, &other, async {
        p.kms_client()
            .schedule_key_deletion()
            .key_id(s(&other, "key_id"))
            .pending_window_in_days(7)
            .send()
            .await
            .unwrap();
    })
    .await;
}

// ---------------------------------------------------------------------------
// CloudWatch log group and flow log
// ---------------------------------------------------------------------------

#[tokio::test]
async fn log_group_and_flow_log_lifecycle() {
    let env = "sec-logs";
    let Some(p) = provider(env).await else { return };
    let ty = "aws_cloudwatch_log_group";
    let addr = "aws_cloudwatch_log_group.flow";
    let name = format!("/terrace/{}", unique("flow"));
    let config = Value::map([
        ("name", Value::from(name.as_str())),
        ("retention_in_days", Value::from(7i64)),
        ("tags", Value::map([("team", Value::from("ci"))])),
    ]);
    let group = make(&p, env, ty, addr, config.clone()).await;
    assert!(s(&group, "arn").ends_with(&format!(":log-group:{name}")));
    assert_eq!(s(&group, "log_group_class"), "STANDARD");
    assert_eq!(read(&p, ty, &group).await.as_ref(), Some(&group));
    assert_no_diff(&p, ty, &group, &config, &ctx(env, addr));
    let cfg2 = set(
        &set(&config, "retention_in_days", 0i64),
        "tags",
        Value::map([("team", Value::from("ops"))]),
    );
    let updated = update_in_place(&p, env, ty, addr, &group, &cfg2).await;
    let group = update_in_place(
        &p,
        env,
        ty,
        addr,
        &updated,
        &set(&cfg2, "retention_in_days", 14i64),
    )
    .await;
    assert_replaces(
        &p,
        env,
        ty,
        addr,
        &group,
        &set(&cfg2, "name", "/other"),
        "name",
    );
    let e = p
        .plan_resource(
            ty,
            None,
            &set(&config, "retention_in_days", 8i64),
            &ctx(env, addr),
        )
        .unwrap_err();
    assert!(arg_error_at(&e, "retention_in_days"), "{e}");
    let imported = p.import(ty, &name).await.unwrap().unwrap();
    assert_eq!(imported.get("arn"), group.get("arn"));
    assert!(
        p.list_owned(ty, env)
            .await
            .unwrap()
            .iter()
            .any(|x| x.get("id") == group.get("id"))
    );
    p.logs_client()
        .put_retention_policy()
        .log_group_name(&name)
        .retention_in_days(30)
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(&p, ty, &group).await.unwrap().get("retention_in_days"),
        Some(&Value::from(30i64))
    );

    // Flow log of a VPC to the group.
    let vpc = make(
        &p,
        env,
        "aws_vpc",
        "aws_vpc.v",
        Value::map([("cidr_block", Value::from("10.62.0.0/16"))]),
    )
    .await;
    let role = make(
        &p,
        env,
        "aws_iam_role",
        "aws_iam_role.flow",
        Value::map([
            ("name", Value::from(unique("flow"))),
            (
                "assume_role_policy",
                Value::from(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Service":"vpc-flow-logs.amazonaws.com"}}]}"#),
            ),
        ]),
    )
    .await;
    let fty = "aws_flow_log";
    let faddr = "aws_flow_log.vpc";
    let fcfg = Value::map([
        ("vpc_id", vpc.get("id").unwrap().clone()),
        ("traffic_type", Value::from("ALL")),
        ("log_destination", group.get("arn").unwrap().clone()),
        ("iam_role_arn", role.get("arn").unwrap().clone()),
        ("max_aggregation_interval", Value::from(60i64)),
        ("tags", Value::map([("Name", Value::from("vpc"))])),
    ]);
    let flow = make(&p, env, fty, faddr, fcfg.clone()).await;
    assert!(s(&flow, "id").starts_with("fl-"));
    assert!(s(&flow, "arn").contains(":vpc-flow-log/fl-"));
    assert_eq!(s(&flow, "log_destination_type"), "cloud-watch-logs");
    assert_eq!(read(&p, fty, &flow).await.as_ref(), Some(&flow));
    assert_no_diff(&p, fty, &flow, &fcfg, &ctx(env, faddr));
    let flow = update_in_place(
        &p,
        env,
        fty,
        faddr,
        &flow,
        &set(&fcfg, "tags", Value::map([("Name", Value::from("v2"))])),
    )
    .await;
    assert_replaces(
        &p,
        env,
        fty,
        faddr,
        &flow,
        &set(&fcfg, "traffic_type", "REJECT"),
        "traffic_type",
    );
    let imported = p.import(fty, &s(&flow, "id")).await.unwrap().unwrap();
    assert_eq!(imported.get("vpc_id"), flow.get("vpc_id"));
    assert_eq!(imported.get("traffic_type"), flow.get("traffic_type"));
    assert!(
        p.list_owned(fty, env)
            .await
            .unwrap()
            .iter()
            .any(|x| x.get("id") == flow.get("id"))
    );
    p.ec2_client()
        .create_tags()
        .resources(s(&flow, "id"))
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("hand")
                .value("x")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(&p, fty, &flow)
            .await
            .unwrap()
            .get("tags")
            .unwrap()
            .get("hand"),
        Some(&Value::from("x"))
    );
    let e = p
        .plan_resource(
            fty,
            None,
            &set(&fcfg, "subnet_id", "subnet-1"),
            &ctx(env, faddr),
        )
        .unwrap_err();
    assert!(e.to_string().contains("exactly one of"), "{e}");
    let e = p
        .plan_resource(
            fty,
            None,
            &set(&fcfg, "traffic_type", "SOME"),
            &ctx(env, faddr),
        )
        .unwrap_err();
    assert!(arg_error_at(&e, "traffic_type"), "{e}");

    // Destroy the flow log: gone.
    p.delete(fty, &flow).await.unwrap();
    assert_eq!(read(&p, fty, &flow).await, None);
    p.delete(fty, &flow).await.expect("already gone");
    // Deleted outside → missing.
    let again = make(&p, env, fty, faddr, fcfg.clone()).await;
    assert_delete_seen(
        &p,
        fty,
        &again,
        ec2_delete_outside(&p, fty, &s(&again, "id")),
    )
    .await;

    // skip_destroy leaves the group; deleted outside, it is gone.
    let group = read(&p, ty, &group).await.unwrap();
    let kept = update_in_place(
        &p,
        env,
        ty,
        addr,
        &group,
        &set(
            &set(&cfg2, "retention_in_days", 14i64),
            "skip_destroy",
            true,
        ),
    )
    .await;
    p.delete(ty, &kept).await.unwrap();
    assert!(
        read(&p, ty, &kept).await.is_some(),
        "skip_destroy keeps the group"
    );
    p.logs_client()
        .delete_log_group()
        .log_group_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, ty, &kept).await, None);
    p.delete("aws_iam_role", &role).await.unwrap();
}

// ---------------------------------------------------------------------------
// aws_vpc_endpoint
// ---------------------------------------------------------------------------

#[tokio::test]
async fn vpc_endpoint_gateway_and_interface() {
    let env = "sec-vpce";
    let Some(p) = provider(env).await else { return };
    let (vpc, sg) = vpc_and_group(&p, env, "10.63.0.0/16").await;
    let rt = |n: &str| {
        let vpc = vpc.clone();
        let p = &p;
        let n = n.to_string();
        async move {
            make(
                p,
                env,
                "aws_route_table",
                &format!("aws_route_table.{n}"),
                Value::map([("vpc_id", Value::from(vpc.as_str()))]),
            )
            .await
        }
    };
    let (rt1, rt2) = (rt("a").await, rt("b").await);
    let ty = "aws_vpc_endpoint";
    let addr = "aws_vpc_endpoint.s3";
    let config = Value::map([
        ("vpc_id", Value::from(vpc.as_str())),
        ("service_name", Value::from("com.amazonaws.us-east-1.s3")),
        (
            "route_table_ids",
            Value::set(vec![rt1.get("id").unwrap().clone()]),
        ),
        ("tags", Value::map([("Name", Value::from("s3"))])),
    ]);
    let started = std::time::Instant::now();
    let gw = make(&p, env, ty, addr, config.clone()).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the create waited {:?}",
        started.elapsed()
    );
    assert_eq!(s(&gw, "state"), "available");
    assert_eq!(s(&gw, "vpc_endpoint_type"), "Gateway");
    assert!(s(&gw, "policy").contains("Statement"));
    assert_eq!(read(&p, ty, &gw).await.as_ref(), Some(&gw));
    assert_no_diff(&p, ty, &gw, &config, &ctx(env, addr));

    // In place: a second route table and a policy.
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}"#;
    let cfg2 = set(
        &set(
            &config,
            "route_table_ids",
            Value::set(vec![
                rt1.get("id").unwrap().clone(),
                rt2.get("id").unwrap().clone(),
            ]),
        ),
        "policy",
        policy,
    );
    let gw = update_in_place(&p, env, ty, addr, &gw, &cfg2).await;
    assert_eq!(
        gw.get("route_table_ids").unwrap().as_list().unwrap().len(),
        2
    );
    assert_replaces(
        &p,
        env,
        ty,
        addr,
        &gw,
        &set(&cfg2, "service_name", "com.amazonaws.us-east-1.dynamodb"),
        "service_name",
    );
    let imported = p.import(ty, &s(&gw, "id")).await.unwrap().unwrap();
    assert_eq!(imported.get("route_table_ids"), gw.get("route_table_ids"));
    assert!(
        p.list_owned(ty, env)
            .await
            .unwrap()
            .iter()
            .any(|x| x.get("id") == gw.get("id"))
    );

    // Edited outside: a route table removed by hand.
    p.ec2_client()
        .modify_vpc_endpoint()
        .vpc_endpoint_id(s(&gw, "id"))
        .remove_route_table_ids(s(&rt2, "id"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(&p, ty, &gw)
            .await
            .unwrap()
            .get("route_table_ids")
            .unwrap()
            .as_list()
            .unwrap()
            .len(),
        1
    );

    // Interface endpoint in a subnet with a security group.
    let subnet = make(
        &p,
        env,
        "aws_subnet",
        "aws_subnet.a",
        Value::map([
            ("vpc_id", Value::from(vpc.as_str())),
            ("cidr_block", Value::from("10.63.1.0/24")),
        ]),
    )
    .await;
    let icfg = Value::map([
        ("vpc_id", Value::from(vpc.as_str())),
        ("service_name", Value::from("com.amazonaws.us-east-1.sts")),
        ("vpc_endpoint_type", Value::from("Interface")),
        (
            "subnet_ids",
            Value::set(vec![subnet.get("id").unwrap().clone()]),
        ),
        (
            "security_group_ids",
            Value::set(vec![Value::from(sg.as_str())]),
        ),
        ("private_dns_enabled", Value::Bool(false)),
    ]);
    let iface = make(&p, env, ty, "aws_vpc_endpoint.sts", icfg.clone()).await;
    assert_eq!(s(&iface, "vpc_endpoint_type"), "Interface");
    assert_no_diff(&p, ty, &iface, &icfg, &ctx(env, "aws_vpc_endpoint.sts"));

    // Destroy waits for the deletion, bounded; then gone.
    let started = std::time::Instant::now();
    p.delete(ty, &iface).await.unwrap();
    p.delete(ty, &gw).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(read(&p, ty, &gw).await, None);
    assert_eq!(read(&p, ty, &iface).await, None);
    p.delete(ty, &gw).await.expect("already gone");
    // Deleted outside → missing.
    let again = make(&p, env, ty, addr, config.clone()).await;
    assert_delete_seen(&p, ty, &again, ec2_delete_outside(&p, ty, &s(&again, "id"))).await;

    let e = p
        .plan_resource(
            ty,
            None,
            &set(&config, "vpc_endpoint_type", "Tunnel"),
            &ctx(env, addr),
        )
        .unwrap_err();
    assert!(arg_error_at(&e, "vpc_endpoint_type"), "{e}");
}
