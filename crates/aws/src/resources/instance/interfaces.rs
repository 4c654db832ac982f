//! Existing network interfaces an `aws_instance` launches with:
//! `primary_network_interface` (v6: the interface at device index 0,
//! reported for every instance) and the older `network_interface` blocks
//! (any device index; only the configured indexes are read back, as in
//! Terraform, so interfaces attached by other resources are not drift).
//! Both force a new instance when changed.

use crate::values::{first_block, get_blocks, get_bool, get_i64, get_str};
use aws_sdk_ec2::types::{Instance as Ec2Instance, InstanceNetworkInterfaceSpecification};
use std::collections::BTreeSet;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, Schema};

pub(super) fn schema(schema: Schema) -> Schema {
    schema
        .set_block(
            "network_interface",
            Schema::new()
                .attr(
                    "device_index",
                    Attribute::required(AttrType::Number).force_new(),
                )
                .attr(
                    "network_interface_id",
                    Attribute::required(AttrType::String).force_new(),
                )
                .attr(
                    "delete_on_termination",
                    Attribute::optional(AttrType::Bool)
                        .default(false)
                        .force_new(),
                )
                .attr(
                    "network_card_index",
                    Attribute::optional(AttrType::Number).default(0).force_new(),
                ),
        )
        .list_block(
            "primary_network_interface",
            0,
            1,
            Schema::new()
                .attr(
                    "network_interface_id",
                    Attribute::required(AttrType::String).force_new(),
                )
                .attr("delete_on_termination", Attribute::computed(AttrType::Bool)),
        )
        .computed_block("primary_network_interface")
}

/// The interfaces to launch with, if any are configured.
pub(super) fn request(planned: &Value) -> Option<Vec<InstanceNetworkInterfaceSpecification>> {
    let mut out: Vec<InstanceNetworkInterfaceSpecification> = Vec::new();
    if let Some(primary) = first_block(planned, "primary_network_interface")
        && let Some(id) = get_str(primary, "network_interface_id")
    {
        out.push(
            InstanceNetworkInterfaceSpecification::builder()
                .device_index(0)
                .network_interface_id(id)
                .build(),
        );
    }
    for ni in get_blocks(planned, "network_interface") {
        out.push(
            InstanceNetworkInterfaceSpecification::builder()
                .set_device_index(get_i64(ni, "device_index").map(|x| x as i32))
                .set_network_interface_id(get_str(ni, "network_interface_id"))
                .set_delete_on_termination(get_bool(ni, "delete_on_termination"))
                .set_network_card_index(get_i64(ni, "network_card_index").map(|x| x as i32))
                .build(),
        );
    }
    (!out.is_empty()).then_some(out)
}

/// What DescribeInstances reports: the primary interface, and the
/// `network_interface` items at the device indexes `prior` holds.
pub(super) fn fields(i: &Ec2Instance, prior: Option<&Value>) -> Vec<(&'static str, Value)> {
    let configured: BTreeSet<i64> = prior
        .map(|pv| get_blocks(pv, "network_interface"))
        .unwrap_or_default()
        .iter()
        .filter_map(|ni| get_i64(ni, "device_index"))
        .collect();
    let mut items = Vec::new();
    let mut primary = None;
    for ni in i.network_interfaces() {
        let Some(att) = ni.attachment() else { continue };
        let index = i64::from(att.device_index().unwrap_or_default());
        let delete = att.delete_on_termination().unwrap_or(false);
        let id = ni.network_interface_id().unwrap_or_default();
        if index == 0 {
            primary = Some(Value::map([
                ("network_interface_id", Value::from(id)),
                ("delete_on_termination", Value::Bool(delete)),
            ]));
        }
        if configured.contains(&index) {
            items.push(Value::map([
                ("device_index", Value::from(index)),
                ("network_interface_id", Value::from(id)),
                ("delete_on_termination", Value::Bool(delete)),
                (
                    "network_card_index",
                    Value::from(i64::from(att.network_card_index().unwrap_or_default())),
                ),
            ]));
        }
    }
    vec![
        ("network_interface", Value::set(items)),
        (
            "primary_network_interface",
            Value::List(primary.into_iter().collect()),
        ),
    ]
}
