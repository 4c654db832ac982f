//! Provider configuration, schemas and data sources.

mod common;

use common::*;
use terrace_aws::{AwsProvider, AwsProviderFactory};
use terrace_core::{PathStep, Value};
use terrace_provider::{AttrMode, Provider, ProviderError, ProviderFactory};

#[test]
fn schema_is_available_offline() {
    let f = AwsProviderFactory::new();
    assert_eq!(f.name(), "aws");
    let schema = f.schema();
    for t in [
        "aws_vpc",
        "aws_subnet",
        "aws_security_group",
        "aws_internet_gateway",
        "aws_route_table",
        "aws_instance",
        "aws_ecr_repository",
        "aws_ecr_lifecycle_policy",
        "aws_s3_bucket",
        "aws_s3_bucket_versioning",
    ] {
        assert!(schema.resources.contains_key(t), "{t} missing");
    }
    for d in [
        "aws_availability_zones",
        "aws_ami",
        "aws_caller_identity",
        "aws_region",
        "aws_partition",
    ] {
        assert!(schema.data_sources.contains_key(d), "{d} missing");
    }
    let vpc = &schema.resources["aws_vpc"];
    assert!(vpc.attributes["cidr_block"].force_new);
    assert_eq!(vpc.attributes["tags_all"].mode, AttrMode::Computed);
    assert!(schema.provider.blocks.contains_key("endpoints"));
    assert!(schema.provider.blocks.contains_key("default_tags"));
}

#[tokio::test]
async fn factory_configures_from_endpoints_and_counts_calls() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    // Only per-service endpoints and credentials in the provider block.
    let endpoints = Value::map(
        ["ec2", "s3", "ecr", "eks", "iam", "autoscaling", "sts"]
            .map(|s| (s, Value::from(moto.endpoint.as_str()))),
    );
    let config = Value::map([
        ("region", Value::from("us-east-1")),
        ("access_key", Value::from("testing")),
        ("secret_key", Value::from("testing")),
        ("endpoints", Value::List(vec![endpoints])),
    ]);
    let f = AwsProviderFactory::new();
    let p = f.configure(&config, "cfg").await.expect("configure");
    let me = p
        .read_data("aws_caller_identity", &Value::map::<&str>([]))
        .await
        .unwrap();
    assert_eq!(
        me.get("account_id").and_then(Value::as_str).map(str::len),
        Some(12)
    );
    assert!(s(&me, "arn").starts_with("arn:aws:"));
    assert_eq!(
        p.api_calls(),
        vec![("sts:GetCallerIdentity".to_string(), 1)]
    );
}

#[tokio::test]
async fn unknown_endpoint_service_is_a_config_error() {
    let config = Value::map([
        ("region", Value::from("us-east-1")),
        (
            "endpoints",
            Value::List(vec![Value::map([(
                "lambda",
                Value::from("http://127.0.0.1:1"),
            )])]),
        ),
    ]);
    let err = AwsProvider::connect(&config, "x", &[])
        .await
        .err()
        .expect("error");
    assert!(matches!(err, ProviderError::Config(_)), "{err:?}");
}

#[tokio::test]
async fn availability_zones_and_ami() {
    let Some(p) = provider("data").await else {
        return;
    };
    let azs = p
        .read_data(
            "aws_availability_zones",
            &Value::map([("state", Value::from("available"))]),
        )
        .await
        .unwrap();
    let names = azs.get("names").unwrap().as_list().unwrap();
    assert!(names.len() >= 2, "{azs}");
    assert!(
        names
            .iter()
            .all(|n| n.as_str().unwrap().starts_with("us-east-1"))
    );
    assert_eq!(
        azs.get("zone_ids").unwrap().as_list().unwrap().len(),
        names.len()
    );

    let filter = |name: &str| {
        Value::set(vec![Value::map([
            ("name", Value::from("name")),
            ("values", Value::set(vec![Value::from(name)])),
        ])])
    };
    let cfg = Value::map([
        ("owners", Value::List(vec![Value::from("137112412989")])),
        ("most_recent", Value::Bool(true)),
        ("filter", filter("amzn*")),
    ]);
    let ami = p.read_data("aws_ami", &cfg).await.unwrap();
    assert!(s(&ami, "id").starts_with("ami-"));
    assert!(s(&ami, "name").starts_with("amzn"));
    // Several matches without most_recent is an error, as in Terraform.
    let mut many = cfg.clone();
    many.as_map_mut()
        .unwrap()
        .insert("most_recent".into(), Value::Bool(false));
    assert!(matches!(
        p.read_data("aws_ami", &many).await,
        Err(ProviderError::InvalidArgument { .. })
    ));
    // No match is an error.
    let none = Value::map([
        ("owners", Value::List(vec![Value::from("137112412989")])),
        ("filter", filter("nothing-*")),
    ]);
    assert!(p.read_data("aws_ami", &none).await.is_err());
}

#[tokio::test]
async fn region_and_partition_are_computed_locally() {
    let Some(p) = provider("region").await else {
        return;
    };
    let empty = Value::map::<&str>([]);
    let region = p.read_data("aws_region", &empty).await.unwrap();
    assert_eq!(s(&region, "name"), "us-east-1");
    assert_eq!(s(&region, "region"), "us-east-1");
    assert_eq!(s(&region, "id"), "us-east-1");
    assert_eq!(s(&region, "endpoint"), "ec2.us-east-1.amazonaws.com");
    assert_eq!(s(&region, "description"), "US East (N. Virginia)");
    let other = p
        .read_data(
            "aws_region",
            &Value::map([("name", Value::from("eu-west-1"))]),
        )
        .await
        .unwrap();
    assert_eq!(s(&other, "region"), "eu-west-1");
    assert_eq!(s(&other, "description"), "Europe (Ireland)");
    // A region that does not exist: Terraform's error text.
    let err = p
        .read_data(
            "aws_region",
            &Value::map([("region", Value::from("xx-nowhere-1"))]),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("reading AWS Region: region not found for name: \"xx-nowhere-1\""),
        "{err}"
    );
    let part = p.read_data("aws_partition", &empty).await.unwrap();
    assert_eq!(s(&part, "partition"), "aws");
    assert_eq!(s(&part, "id"), "aws");
    assert_eq!(s(&part, "dns_suffix"), "amazonaws.com");
    assert_eq!(s(&part, "reverse_dns_prefix"), "com.amazonaws");
    // Computed locally: no API call.
    assert!(p.api_calls().is_empty(), "{:?}", p.api_calls());
}

#[tokio::test]
async fn unsupported_type_is_reported() {
    let Some(p) = provider("unsupported").await else {
        return;
    };
    let err = p
        .read_resources(
            "aws_lambda_function",
            &[Value::map([("id", Value::from("x"))])],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unsupported(_)));
}

/// Every unimplemented argument of the Terraform schema is known: null (or
/// Terraform's default) plans cleanly and re-plans empty after apply; a
/// value is rejected at that argument; `region` accepts the provider's.
#[tokio::test]
async fn unimplemented_arguments_accepted_when_null_rejected_when_set() {
    let env = "unimpl";
    let Some(p) = provider(env).await else {
        return;
    };
    let schema = p.schema().clone();
    for (ty, res) in &schema.resources {
        assert!(res.attributes.contains_key("region"), "{ty} lacks region");
    }
    // A configuration with null for every unimplemented argument, from the schema.
    let with_nulls = |ty: &str, base: Value| {
        let mut v = base;
        let m = v.as_map_mut().unwrap();
        for (name, a) in &schema.resources[ty].attributes {
            if a.description.starts_with("not implemented") && a.is_configurable() {
                m.insert(name.clone(), Value::Null);
            }
        }
        m.insert("region".into(), Value::Null);
        v
    };
    let vpc_cfg = with_nulls(
        "aws_vpc",
        Value::map([("cidr_block", Value::from("10.77.0.0/16"))]),
    );
    assert!(vpc_cfg.as_map().unwrap().contains_key("ipv6_ipam_pool_id"));
    let c = create_ctx(env, "aws_vpc.main");
    let vpc = create(&p, "aws_vpc", &vpc_cfg, &c).await;
    assert_no_diff(&p, "aws_vpc", &vpc, &vpc_cfg, &c.resource);

    // Defaults and the provider's own region are accepted and re-plan empty.
    let mut subnet_cfg = with_nulls(
        "aws_subnet",
        Value::map([
            ("vpc_id", vpc.get("id").unwrap().clone()),
            ("cidr_block", Value::from("10.77.1.0/24")),
        ]),
    );
    let m = subnet_cfg.as_map_mut().unwrap();
    m.insert("enable_dns64".into(), Value::Bool(false));
    m.insert("region".into(), Value::from(p.region()));
    let sc = create_ctx(env, "aws_subnet.a");
    let subnet = create(&p, "aws_subnet", &subnet_cfg, &sc).await;
    assert_no_diff(&p, "aws_subnet", &subnet, &subnet_cfg, &sc.resource);

    // Set to a value: rejected at that argument.
    let set = |name: &str, v: Value| {
        let mut cfg = subnet_cfg.clone();
        cfg.as_map_mut().unwrap().insert(name.into(), v);
        p.plan_resource("aws_subnet", Some(&subnet), &cfg, &sc.resource)
            .unwrap_err()
    };
    match set("ipv6_native", Value::Bool(true)) {
        ProviderError::InvalidArgument { path, message, .. } => {
            assert_eq!(path, Some(vec![PathStep::Key("ipv6_native".into())]));
            assert!(
                message.contains("terrace does not implement `ipv6_native` of `aws_subnet` yet"),
                "{message}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    match set("outpost_arn", Value::from("arn:aws:outposts:x")) {
        ProviderError::InvalidArgument { path, .. } => {
            assert_eq!(path, Some(vec![PathStep::Key("outpost_arn".into())]));
        }
        other => panic!("unexpected {other:?}"),
    }
    match set("region", Value::from("eu-west-1")) {
        ProviderError::InvalidArgument { path, message, .. } => {
            assert_eq!(path, Some(vec![PathStep::Key("region".into())]));
            assert!(message.contains("`region` of `aws_subnet`"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // Lists: empty is unset, anything else is rejected (the arguments real
    // modules pass to autoscaling groups and instances).
    let asg = |processes: Value| {
        let cfg = Value::map([
            ("name", Value::from("pool")),
            ("min_size", Value::from(1)),
            ("max_size", Value::from(2)),
            ("suspended_processes", processes),
            ("metrics_granularity", Value::from("1Minute")),
        ]);
        p.plan_resource(
            "aws_autoscaling_group",
            None,
            &cfg,
            &ctx(env, "aws_autoscaling_group.pool"),
        )
    };
    let planned = asg(Value::set(vec![]))
        .expect("empty list is unset")
        .planned;
    assert_eq!(planned.get("suspended_processes"), Some(&Value::Null));
    assert_eq!(planned.get("metrics_granularity"), Some(&Value::Null));
    match asg(Value::set(vec![Value::from("Launch")])).unwrap_err() {
        ProviderError::InvalidArgument { path, message, .. } => {
            assert_eq!(
                path,
                Some(vec![PathStep::Key("suspended_processes".into())])
            );
            assert!(
                message.contains("`suspended_processes` of `aws_autoscaling_group`"),
                "{message}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let instance = |name: &str, v: Value| {
        let cfg = Value::map([("ami", Value::from("ami-12345678")), (name, v)]);
        p.plan_resource("aws_instance", None, &cfg, &ctx(env, "aws_instance.x"))
    };
    assert!(instance("associate_public_ip_address", Value::Null).is_ok());
    assert!(instance("hibernation", Value::Bool(false)).is_ok());
    assert!(matches!(
        instance("hibernation", Value::Bool(true)),
        Err(ProviderError::InvalidArgument { .. })
    ));
    p.delete("aws_subnet", &subnet).await.unwrap();
    p.delete("aws_vpc", &vpc).await.unwrap();
}

/// A loopback server answering every request with `status` and an STS
/// query-protocol error `code` (no moto needed).
fn sts_error_server(status: &str, code: &str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>answer {code}</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 65536];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}")
}

async fn caller_identity_error(endpoint: &str) -> ProviderError {
    let config = Value::map([
        ("region", Value::from("us-east-1")),
        ("access_key", Value::from("testing")),
        ("secret_key", Value::from("testing")),
        (
            "endpoints",
            Value::List(vec![Value::map([("sts", Value::from(endpoint))])]),
        ),
    ]);
    let p = AwsProvider::connect(&config, "errors", &[])
        .await
        .expect("connect");
    p.read_data("aws_caller_identity", &Value::map::<&str>([]))
        .await
        .expect_err("the call fails")
}

/// Common failures read as short messages, never an SDK `Debug` dump.
#[tokio::test]
async fn common_failures_read_without_sdk_debug_dumps() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let cases = [
        (
            sts_error_server("403 Forbidden", "ExpiredToken"),
            "ExpiredToken: sts:GetCallerIdentity: the AWS credentials have expired (answer ExpiredToken); they are static credentials",
        ),
        (
            sts_error_server("403 Forbidden", "AccessDenied"),
            "AccessDenied: sts:GetCallerIdentity: answer AccessDenied",
        ),
        (closed, "could not connect to the AWS endpoint"),
    ];
    for (endpoint, expected) in cases {
        let text = caller_identity_error(&endpoint).await.to_string();
        assert!(text.contains(expected), "{text:?} lacks {expected:?}");
        for dump in [
            "DispatchFailure",
            "ConnectorError",
            "Extensions {",
            "source:",
        ] {
            assert!(!text.contains(dump), "{text:?} contains {dump:?}");
        }
    }
}

/// `allowed_account_ids` / `forbidden_account_ids` stop the provider
/// before any change, naming the account of the credentials and the list.
#[tokio::test]
async fn account_id_lists_are_checked_when_configured() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let config = |key: &str, ids: &[&str]| {
        Value::map([
            ("region", Value::from("us-east-1")),
            ("access_key", Value::from("testing")),
            ("secret_key", Value::from("testing")),
            (
                "endpoints",
                Value::List(vec![Value::map([(
                    "sts",
                    Value::from(moto.endpoint.as_str()),
                )])]),
            ),
            (
                key,
                Value::set(ids.iter().map(|s| Value::from(*s)).collect()),
            ),
        ])
    };
    // moto's account.
    let me = "123456789012";
    let err = |r: Result<AwsProvider, ProviderError>| match r {
        Ok(_) => panic!("expected the account check to fail"),
        Err(e) => e.to_string(),
    };
    let text = err(AwsProvider::connect(
        &config("allowed_account_ids", &["111111111111"]),
        "acct",
        &[],
    )
    .await);
    assert!(text.contains(me) && text.contains("111111111111"), "{text}");
    let text =
        err(AwsProvider::connect(&config("forbidden_account_ids", &[me]), "acct", &[]).await);
    assert!(
        text.contains("forbidden_account_ids") && text.contains(me),
        "{text}"
    );
    AwsProvider::connect(&config("allowed_account_ids", &[me]), "acct", &[])
        .await
        .expect("the allowed account connects");
    AwsProvider::connect(
        &config("forbidden_account_ids", &["111111111111"]),
        "acct",
        &[],
    )
    .await
    .expect("an account not forbidden connects");
}

fn assume_config(sts: &str, block: Value) -> Value {
    Value::map([
        ("region", Value::from("us-east-1")),
        ("access_key", Value::from("testing")),
        ("secret_key", Value::from("testing")),
        (
            "endpoints",
            Value::List(vec![Value::map([("sts", Value::from(sts))])]),
        ),
        ("assume_role", Value::List(vec![block])),
    ])
}

/// `assume_role`: the provider signs as the role's session, and a session
/// AWS calls expired is replaced by a new AssumeRole — even though the base
/// keys are static.
#[tokio::test]
async fn assume_role_signs_as_the_role_and_renews_an_expired_session() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let expired_once = std::sync::atomic::AtomicBool::new(false);
    let proxy = terrace_testkit::QueryProxy::start(
        &moto.endpoint,
        std::sync::Arc::new(move |action, _form| {
            (action == "GetCallerIdentity"
                && !expired_once.swap(true, std::sync::atomic::Ordering::SeqCst))
            .then(|| {
                terrace_testkit::query_error(
                    403,
                    "ExpiredToken",
                    "The security token included in the request is expired",
                )
            })
        }),
    );
    let role_arn = "arn:aws:iam::123456789012:role/terrace-deployer";
    let block = Value::map([
        ("role_arn", Value::from(role_arn)),
        ("session_name", Value::from("ci-run")),
        ("external_id", Value::from("tenant-7")),
        ("duration", Value::from("1h")),
    ]);
    let p = AwsProvider::connect(
        &assume_config(&proxy.endpoint, block),
        "assume",
        &moto.aws_env(),
    )
    .await
    .expect("connect with assume_role");
    let me = p
        .read_data("aws_caller_identity", &Value::map::<&str>([]))
        .await
        .expect("caller identity after renewal");
    assert_eq!(
        me.get("arn").and_then(Value::as_str),
        Some("arn:aws:sts::123456789012:assumed-role/terrace-deployer/ci-run")
    );
    assert_eq!(
        proxy.actions(),
        [
            "AssumeRole",
            "GetCallerIdentity",
            "AssumeRole",
            "GetCallerIdentity"
        ],
        "one session at configure, a new one after ExpiredToken"
    );
}

/// Bad `assume_role` blocks and a refused AssumeRole stop the provider with
/// one short message naming the role, never an SDK dump.
#[tokio::test]
async fn assume_role_errors_are_short_and_name_the_role() {
    let connect_err = |config: Value| async move {
        match AwsProvider::connect(&config, "assume-errors", &[]).await {
            Ok(_) => panic!("expected an assume_role error"),
            Err(e) => e.to_string(),
        }
    };
    let unused = "http://127.0.0.1:9";
    let arn = "arn:aws:iam::123456789012:role/deployer";
    let cases = [
        (
            Value::map([("session_name", Value::from("x"))]),
            "role_arn is required",
        ),
        (
            Value::map([
                ("role_arn", Value::from(arn)),
                ("duration", Value::from("5m")),
            ]),
            "outside 15m to 12h",
        ),
        (
            Value::map([
                ("role_arn", Value::from(arn)),
                ("duration", Value::from("an hour")),
            ]),
            "is not a duration",
        ),
        (
            Value::map([
                ("role_arn", Value::from(arn)),
                ("tags", Value::map([("team", Value::from("ci"))])),
            ]),
            "does not implement `tags` of assume_role",
        ),
    ];
    for (block, expected) in cases {
        let text = connect_err(assume_config(unused, block)).await;
        assert!(text.contains("assume_role: "), "{text}");
        assert!(text.contains(expected), "{text:?} lacks {expected:?}");
    }
    // STS refuses: the role and the API's answer, no dump.
    let refusing = sts_error_server("403 Forbidden", "AccessDenied");
    let text = connect_err(assume_config(
        &refusing,
        Value::map([("role_arn", Value::from(arn))]),
    ))
    .await;
    assert!(
        text.contains(&format!("could not assume role {arn}")) && text.contains("AccessDenied"),
        "{text}"
    );
    // STS unreachable: which call could not connect.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let text2 = connect_err(assume_config(
        &closed,
        Value::map([("role_arn", Value::from(arn))]),
    ))
    .await;
    assert!(
        text2.contains("sts:AssumeRole") && text2.contains("could not connect"),
        "{text2}"
    );
    for t in [&text, &text2] {
        for dump in [
            "DispatchFailure",
            "ConnectorError",
            "Extensions {",
            "source:",
        ] {
            assert!(!t.contains(dump), "{t:?} contains {dump:?}");
        }
    }
}

/// `ignore_tags`: keys and prefixes it names never show in `tags`/`tags_all`
/// (so they are no drift), and an update leaves them on the object.
#[tokio::test]
async fn ignore_tags_hides_named_keys_and_updates_keep_them() {
    let env = "ignoretags";
    let config = Value::map([(
        "ignore_tags",
        Value::List(vec![Value::map([
            ("keys", Value::set(vec![Value::from("LastScanned")])),
            (
                "key_prefixes",
                Value::set(vec![Value::from("kubernetes.io/")]),
            ),
        ])]),
    )]);
    let Some(p) = provider_with(env, config).await else {
        return;
    };
    let c = create_ctx(env, "aws_vpc.main");
    let cfg = |team: &str| {
        Value::map([
            ("cidr_block", Value::from("10.93.0.0/16")),
            ("tags", Value::map([("team", Value::from(team))])),
        ])
    };
    let vpc = create(&p, "aws_vpc", &cfg("ci"), &c).await;
    let id = s(&vpc, "id");
    let ec2 = p.ec2_client();
    ec2.create_tags()
        .resources(&id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("LastScanned")
                .value("2026-12-01")
                .build(),
        )
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("kubernetes.io/cluster/dev")
                .value("shared")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let read_back = read(&p, "aws_vpc", &vpc).await.unwrap();
    assert_eq!(read_back, vpc, "ignored tags are not drift");
    assert_no_diff(&p, "aws_vpc", &read_back, &cfg("ci"), &c.resource);

    let plan = p
        .plan_resource("aws_vpc", Some(&read_back), &cfg("platform"), &c.resource)
        .unwrap();
    let updated = p
        .update("aws_vpc", &read_back, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_planned_matches(&plan.planned, &updated);
    let tags = ec2
        .describe_tags()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("resource-id")
                .values(&id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = tags.tags().iter().filter_map(|t| t.key()).collect();
    for k in ["LastScanned", "kubernetes.io/cluster/dev", "team"] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    p.delete("aws_vpc", &updated).await.unwrap();
}
