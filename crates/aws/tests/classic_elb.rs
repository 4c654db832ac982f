//! The classic `aws_elb` against moto: create, read back, no-op re-plan,
//! in-place update, replacement, import, edited and deleted outside,
//! destroy.

mod common;

use common::*;
use terrace_core::{PathStep, Value};
use terrace_provider::{Provider, ProviderError};

fn listener(lb_port: i64, instance_port: i64) -> Value {
    Value::map([
        ("lb_port", Value::from(lb_port)),
        ("lb_protocol", Value::from("http")),
        ("instance_port", Value::from(instance_port)),
        ("instance_protocol", Value::from("http")),
    ])
}

fn elb_config(name: &str, listeners: Vec<Value>, idle: i64, team: &str) -> Value {
    Value::map([
        ("name", Value::from(name)),
        (
            "availability_zones",
            Value::set(vec![Value::from("us-east-1a")]),
        ),
        ("listener", Value::set(listeners)),
        (
            "health_check",
            Value::List(vec![Value::map([
                ("healthy_threshold", Value::from(2i64)),
                ("unhealthy_threshold", Value::from(3i64)),
                ("target", Value::from("HTTP:8080/healthz")),
                ("interval", Value::from(30i64)),
                ("timeout", Value::from(5i64)),
            ])]),
        ),
        ("idle_timeout", Value::from(idle)),
        ("tags", Value::map([("team", Value::from(team))])),
    ])
}

#[tokio::test]
async fn classic_elb_lifecycle() {
    let env = "classic-elb";
    let Some(p) = provider(env).await else { return };
    let t = "aws_elb";
    let name = unique("runners").replace('_', "-");
    let c = create_ctx(env, "aws_elb.runners");
    let cfg = elb_config(&name, vec![listener(80, 8080)], 60, "ci");
    let state = create(&p, t, &cfg, &c).await;
    assert_eq!(s(&state, "id"), name);
    assert!(!s(&state, "dns_name").is_empty());
    assert_no_diff(&p, t, &state, &cfg, &c.resource);
    assert_eq!(read(&p, t, &state).await.as_ref(), Some(&state));
    let elb = aws_sdk_elasticloadbalancing::Client::new(&sdk_config().await);
    let described = elb
        .describe_load_balancers()
        .load_balancer_names(&name)
        .send()
        .await
        .unwrap();
    let d = &described.load_balancer_descriptions()[0];
    assert_eq!(d.listener_descriptions().len(), 1);
    assert_eq!(
        d.health_check().map(|h| h.target()),
        Some("HTTP:8080/healthz")
    );

    // In place: a second listener, a longer idle timeout, another tag.
    let cfg2 = elb_config(
        &name,
        vec![listener(80, 8080), listener(8443, 8443)],
        120,
        "platform",
    );
    let plan = p
        .plan_resource(t, Some(&state), &cfg2, &c.resource)
        .unwrap();
    assert!(
        plan.requires_replace.is_empty(),
        "{:?}",
        plan.requires_replace
    );
    let updated = p
        .update(t, &state, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_planned_matches(&plan.planned, &updated);
    assert_no_diff(&p, t, &updated, &cfg2, &c.resource);
    let described = elb
        .describe_load_balancers()
        .load_balancer_names(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.load_balancer_descriptions()[0]
            .listener_descriptions()
            .len(),
        2
    );

    // A new name replaces.
    let renamed = elb_config(&format!("{name}-b"), vec![listener(80, 8080)], 60, "ci");
    let plan = p
        .plan_resource(t, Some(&updated), &renamed, &c.resource)
        .unwrap();
    assert_eq!(
        plan.requires_replace,
        vec![vec![PathStep::Key("name".into())]]
    );

    // Import by name.
    let imported = p.import(t, &name).await.unwrap().expect("import");
    assert_eq!(imported.get("listener"), updated.get("listener"));
    assert_eq!(imported.get("idle_timeout"), updated.get("idle_timeout"));
    assert_eq!(p.import(t, "no-such-elb").await.unwrap(), None);

    // Edited outside → changed: a listener removed by hand.
    elb.delete_load_balancer_listeners()
        .load_balancer_name(&name)
        .load_balancer_ports(8443)
        .send()
        .await
        .unwrap();
    let drifted = read(&p, t, &updated).await.expect("still there");
    assert_ne!(drifted.get("listener"), updated.get("listener"));
    let plan = p
        .plan_resource(t, Some(&drifted), &cfg2, &c.resource)
        .unwrap();
    assert!(plan.requires_replace.is_empty());
    let repaired = p
        .update(t, &drifted, &plan.planned, &c.resource)
        .await
        .unwrap();
    assert_eq!(repaired.get("listener"), updated.get("listener"));

    // Deleted outside → missing; destroy is fine after that.
    elb.delete_load_balancer()
        .load_balancer_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(read(&p, t, &repaired).await, None);
    p.delete(t, &repaired).await.unwrap();
}

#[tokio::test]
async fn classic_elb_destroy_and_bad_input() {
    let env = "classic-elb-2";
    let Some(p) = provider(env).await else { return };
    let t = "aws_elb";
    let name = unique("edge").replace('_', "-");
    let c = create_ctx(env, "aws_elb.edge");
    let state = create(
        &p,
        t,
        &elb_config(&name, vec![listener(80, 80)], 60, "ci"),
        &c,
    )
    .await;
    assert!(
        p.list_owned(t, env)
            .await
            .unwrap()
            .iter()
            .any(|v| v.get("id") == Some(&Value::from(name.as_str())))
    );
    p.delete(t, &state).await.unwrap();
    assert_eq!(read(&p, t, &state).await, None);
    p.delete(t, &state).await.unwrap();

    // A listener protocol the API does not know: refused at plan.
    let bad = Value::map([
        ("lb_port", Value::from(80i64)),
        ("lb_protocol", Value::from("gopher")),
        ("instance_port", Value::from(80i64)),
        ("instance_protocol", Value::from("HTTP")),
    ]);
    let cfg = elb_config(&unique("bad").replace('_', "-"), vec![bad], 60, "ci");
    match p.plan_resource(t, None, &cfg, &c.resource).unwrap_err() {
        ProviderError::InvalidArgument { path, message, .. } => {
            assert_eq!(
                path.unwrap().last(),
                Some(&PathStep::Key("lb_protocol".into()))
            );
            assert!(message.contains("\"gopher\""), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

async fn sdk_config() -> aws_types::SdkConfig {
    let moto = terrace_testkit::shared_moto().expect("moto");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}
