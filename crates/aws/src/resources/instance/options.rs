//! Arguments of `aws_instance` beyond image, type, network placement,
//! profile, key and root volume: `metadata_options` (IMDS; created with
//! the instance, changed in place by ModifyInstanceMetadataOptions),
//! `monitoring` (detailed monitoring; Monitor/UnmonitorInstances),
//! `source_dest_check` (ModifyInstanceAttribute), `ebs_optimized` and
//! `associate_public_ip_address` (both force a new instance; the latter
//! goes into the primary network interface of the RunInstances request,
//! as the EC2 API requires).

use crate::api::at_path;
use crate::provider::AwsProvider;
use crate::values::{first_block, get_bool, get_i64, get_str, get_strings};
use aws_sdk_ec2::types::{
    AttributeBooleanValue, HttpTokensState, Instance as Ec2Instance, InstanceMetadataEndpointState,
    InstanceMetadataOptionsRequest, InstanceMetadataProtocolState, InstanceMetadataTagsState,
    InstanceNetworkInterfaceSpecification, MonitoringState,
};
use terrace_core::{PathStep, Value};
use terrace_provider::{AttrType, Attribute, ProviderError, Schema};

/// The attributes and blocks of this file, added to `schema`.
pub(super) fn schema(schema: Schema) -> Schema {
    let metadata = [
        ("http_endpoint", AttrType::String),
        ("http_tokens", AttrType::String),
        ("http_put_response_hop_limit", AttrType::Number),
        ("http_protocol_ipv6", AttrType::String),
        ("instance_metadata_tags", AttrType::String),
    ]
    .into_iter()
    .fold(Schema::new(), |s, (k, t)| {
        s.attr(k, Attribute::optional_computed(t))
    });
    schema
        .attr("monitoring", Attribute::optional_computed(AttrType::Bool))
        .attr(
            "source_dest_check",
            Attribute::optional(AttrType::Bool).default(true),
        )
        .attr(
            "ebs_optimized",
            Attribute::optional_computed(AttrType::Bool).force_new(),
        )
        .attr(
            "associate_public_ip_address",
            Attribute::optional_computed(AttrType::Bool).force_new(),
        )
        .list_block("metadata_options", 0, 1, metadata)
        .computed_block("metadata_options")
}

/// What DescribeInstances reports for this file's arguments.
pub(super) fn fields(i: &Ec2Instance) -> Vec<(&'static str, Value)> {
    let s = |v: Option<&str>| v.map(Value::from).unwrap_or(Value::Null);
    let metadata = i.metadata_options().map(|m| {
        Value::map([
            ("http_endpoint", s(m.http_endpoint().map(|x| x.as_str()))),
            ("http_tokens", s(m.http_tokens().map(|x| x.as_str()))),
            (
                "http_put_response_hop_limit",
                m.http_put_response_hop_limit()
                    .map(|n| Value::from(i64::from(n)))
                    .unwrap_or(Value::Null),
            ),
            (
                "http_protocol_ipv6",
                s(m.http_protocol_ipv6().map(|x| x.as_str())),
            ),
            (
                "instance_metadata_tags",
                s(m.instance_metadata_tags().map(|x| x.as_str())),
            ),
        ])
    });
    let monitored = i
        .monitoring()
        .and_then(|m| m.state())
        .map(|st| matches!(st, MonitoringState::Enabled | MonitoringState::Pending));
    let public = i.public_ip_address().is_some_and(|ip| !ip.is_empty());
    vec![
        (
            "metadata_options",
            Value::List(metadata.into_iter().collect()),
        ),
        ("monitoring", Value::Bool(monitored.unwrap_or(false))),
        (
            "source_dest_check",
            Value::Bool(i.source_dest_check().unwrap_or(true)),
        ),
        (
            "ebs_optimized",
            Value::Bool(i.ebs_optimized().unwrap_or(false)),
        ),
        ("associate_public_ip_address", Value::Bool(public)),
    ]
}

/// The `metadata_options` block as a request (its known values only).
pub(super) fn metadata_request(planned: &Value) -> Option<InstanceMetadataOptionsRequest> {
    let m = first_block(planned, "metadata_options")?;
    Some(
        InstanceMetadataOptionsRequest::builder()
            .set_http_endpoint(
                get_str(m, "http_endpoint")
                    .map(|x| InstanceMetadataEndpointState::from(x.as_str())),
            )
            .set_http_tokens(get_str(m, "http_tokens").map(|x| HttpTokensState::from(x.as_str())))
            .set_http_put_response_hop_limit(
                get_i64(m, "http_put_response_hop_limit").map(|x| x as i32),
            )
            .set_http_protocol_ipv6(
                get_str(m, "http_protocol_ipv6")
                    .map(|x| InstanceMetadataProtocolState::from(x.as_str())),
            )
            .set_instance_metadata_tags(
                get_str(m, "instance_metadata_tags")
                    .map(|x| InstanceMetadataTagsState::from(x.as_str())),
            )
            .build(),
    )
}

/// With `associate_public_ip_address` set, the subnet, security groups and
/// private IP go into the primary network interface (EC2 refuses them at
/// the top level of the request next to a network interface).
pub(super) fn primary_interface(planned: &Value) -> Option<InstanceNetworkInterfaceSpecification> {
    let public = get_bool(planned, "associate_public_ip_address")?;
    let sgs = get_strings(planned, "vpc_security_group_ids");
    Some(
        InstanceNetworkInterfaceSpecification::builder()
            .device_index(0)
            .associate_public_ip_address(public)
            .set_subnet_id(get_str(planned, "subnet_id"))
            .set_groups((!sgs.is_empty()).then_some(sgs))
            .set_private_ip_address(get_str(planned, "private_ip"))
            .build(),
    )
}

/// Apply the in-place changes of this file's arguments.
pub(super) async fn update(
    p: &AwsProvider,
    id: &str,
    prior: &Value,
    planned: &Value,
) -> Result<(), ProviderError> {
    if let Some(req) = metadata_request(planned)
        && planned.get("metadata_options") != prior.get("metadata_options")
    {
        p.call("ec2:ModifyInstanceMetadataOptions", || {
            p.ec2
                .modify_instance_metadata_options()
                .instance_id(id)
                .set_http_endpoint(req.http_endpoint().cloned())
                .set_http_tokens(req.http_tokens().cloned())
                .set_http_put_response_hop_limit(req.http_put_response_hop_limit())
                .set_http_protocol_ipv6(req.http_protocol_ipv6().cloned())
                .set_instance_metadata_tags(req.instance_metadata_tags().cloned())
                .send()
        })
        .await
        .map_err(|e| at_path(e, "metadata_options"))?;
    }
    if let Some(check) = get_bool(planned, "source_dest_check")
        && get_bool(prior, "source_dest_check") != Some(check)
    {
        set_source_dest_check(p, id, check).await?;
    }
    if let Some(on) = get_bool(planned, "monitoring")
        && get_bool(prior, "monitoring") != Some(on)
    {
        if on {
            p.call("ec2:MonitorInstances", || {
                p.ec2.monitor_instances().instance_ids(id).send()
            })
            .await
            .map_err(|e| at_path(e, "monitoring"))?;
        } else {
            p.call("ec2:UnmonitorInstances", || {
                p.ec2.unmonitor_instances().instance_ids(id).send()
            })
            .await
            .map_err(|e| at_path(e, "monitoring"))?;
        }
    }
    Ok(())
}

/// `source_dest_check` cannot be given to RunInstances: set after create
/// (when false) and on update.
pub(super) async fn set_source_dest_check(
    p: &AwsProvider,
    id: &str,
    check: bool,
) -> Result<(), ProviderError> {
    let v = AttributeBooleanValue::builder().value(check).build();
    p.call("ec2:ModifyInstanceAttribute", || {
        p.ec2
            .modify_instance_attribute()
            .instance_id(id)
            .source_dest_check(v.clone())
            .send()
    })
    .await
    .map_err(|e| at_path(e, "source_dest_check"))?;
    Ok(())
}

/// Check a configured `metadata_options` block as Terraform validates it
/// (the API's values; a hop limit from 1 to 64), with the error at the
/// offending argument. Shared by `aws_instance` and `aws_launch_template`.
pub(in crate::resources) fn check_metadata_options(config: &Value) -> Result<(), ProviderError> {
    let Some(m) = first_block(config, "metadata_options") else {
        return Ok(());
    };
    let at = |key: &str, message: String| ProviderError::InvalidArgument {
        path: Some(vec![
            PathStep::Key("metadata_options".into()),
            PathStep::Index(0),
            PathStep::Key(key.into()),
        ]),
        code: "InvalidParameterValue".into(),
        message,
    };
    for (key, allowed) in [
        ("http_endpoint", ["enabled", "disabled"]),
        ("http_tokens", ["optional", "required"]),
        ("http_protocol_ipv6", ["enabled", "disabled"]),
        ("instance_metadata_tags", ["enabled", "disabled"]),
    ] {
        if let Some(v) = m.get(key).and_then(Value::as_str)
            && !allowed.contains(&v)
        {
            return Err(at(
                key,
                format!(
                    "metadata_options.{key} must be {:?} or {:?}, got {v:?}",
                    allowed[0], allowed[1]
                ),
            ));
        }
    }
    if let Some(n) = m.get("http_put_response_hop_limit").and_then(Value::as_i64)
        && !(1..=64).contains(&n)
    {
        return Err(at(
            "http_put_response_hop_limit",
            format!("metadata_options.http_put_response_hop_limit must be from 1 to 64, got {n}"),
        ));
    }
    Ok(())
}
