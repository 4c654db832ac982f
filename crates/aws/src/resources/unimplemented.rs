//! Arguments of the Terraform AWS provider schema that terrace knows but
//! does not implement yet. Modules routinely pass `null` for arguments they
//! do not use (Terraform treats null as unset), so such an argument is
//! accepted when null or at Terraform's default, and otherwise rejected at
//! that attribute: "terrace does not implement `<argument>` of `<type>`
//! yet". The v6 per-resource `region` argument is accepted on every type
//! when null or the provider's own region. Computed-only attributes of the
//! Terraform schema that terrace cannot report yet are known and null.

use terrace_core::{PathStep, Value};
use terrace_provider::{AttrType, Attribute, ProviderError, Schema};

/// One unimplemented argument: its type and the value Terraform defaults
/// it to (also accepted), or a computed-only attribute.
#[derive(Clone, Copy)]
enum Arg {
    Str,
    /// A string Terraform defaults to this value.
    StrDefault(&'static str),
    Num,
    Bool(bool),
    /// A set of strings (empty is accepted as unset).
    Strings,
    /// A map of strings (empty is accepted as unset).
    Map,
    Computed,
}

use Arg::*;

/// Per type: the Terraform schema's arguments and attributes terrace lacks.
const TABLE: &[(&str, &[(&str, Arg)])] = &[
    (
        "aws_route",
        &[
            ("destination_prefix_list_id", Str),
            ("carrier_gateway_id", Str),
            ("core_network_arn", Str),
            ("local_gateway_id", Str),
            ("vpc_endpoint_id", Str),
        ],
    ),
    (
        "aws_eip",
        &[
            ("address", Str),
            ("customer_owned_ipv4_pool", Str),
            ("ipam_pool_id", Str),
            ("arn", Computed),
        ],
    ),
    (
        "aws_nat_gateway",
        &[
            ("secondary_allocation_ids", Strings),
            ("secondary_private_ip_address_count", Num),
            ("secondary_private_ip_addresses", Strings),
        ],
    ),
    (
        "aws_vpc",
        &[
            ("assign_generated_ipv6_cidr_block", Bool(false)),
            ("enable_network_address_usage_metrics", Bool(false)),
            ("ipv4_ipam_pool_id", Str),
            ("ipv4_netmask_length", Num),
            ("ipv6_cidr_block", Str),
            ("ipv6_cidr_block_network_border_group", Str),
            ("ipv6_ipam_pool_id", Str),
            ("ipv6_netmask_length", Num),
            ("default_network_acl_id", Computed),
            ("ipv6_association_id", Computed),
        ],
    ),
    (
        "aws_subnet",
        &[
            ("assign_ipv6_address_on_creation", Bool(false)),
            ("customer_owned_ipv4_pool", Str),
            ("enable_dns64", Bool(false)),
            ("enable_lni_at_device_index", Num),
            ("enable_resource_name_dns_a_record_on_launch", Bool(false)),
            (
                "enable_resource_name_dns_aaaa_record_on_launch",
                Bool(false),
            ),
            ("ipv6_cidr_block", Str),
            ("ipv6_native", Bool(false)),
            ("map_customer_owned_ip_on_launch", Bool(false)),
            ("outpost_arn", Str),
            ("private_dns_hostname_type_on_launch", Str),
            ("ipv6_cidr_block_association_id", Computed),
        ],
    ),
    (
        "aws_instance",
        &[
            ("associate_public_ip_address", Bool(false)),
            ("cpu_core_count", Num),
            ("cpu_threads_per_core", Num),
            ("disable_api_stop", Bool(false)),
            ("disable_api_termination", Bool(false)),
            ("ebs_optimized", Bool(false)),
            ("enable_primary_ipv6", Bool(false)),
            ("force_destroy", Bool(false)),
            ("get_password_data", Bool(false)),
            ("hibernation", Bool(false)),
            ("host_id", Str),
            ("host_resource_group_arn", Str),
            ("instance_initiated_shutdown_behavior", StrDefault("stop")),
            ("ipv6_address_count", Num),
            ("ipv6_addresses", Strings),
            ("monitoring", Bool(false)),
            ("placement_group", Str),
            ("placement_partition_number", Num),
            ("secondary_private_ips", Strings),
            ("security_groups", Strings),
            ("source_dest_check", Bool(true)),
            ("tenancy", StrDefault("default")),
            ("user_data_base64", Str),
            ("user_data_replace_on_change", Bool(false)),
            ("volume_tags", Map),
            ("instance_lifecycle", Computed),
            ("outpost_arn", Computed),
            ("password_data", Computed),
            ("primary_network_interface_id", Computed),
            ("spot_instance_request_id", Computed),
        ],
    ),
    (
        "aws_autoscaling_group",
        &[
            ("context", Str),
            ("default_instance_warmup", Num),
            ("desired_capacity_type", Str),
            ("enabled_metrics", Strings),
            ("force_delete_warm_pool", Bool(false)),
            ("ignore_failed_scaling_activities", Bool(false)),
            ("launch_configuration", Str),
            ("metrics_granularity", StrDefault("1Minute")),
            ("min_elb_capacity", Num),
            ("placement_group", Str),
            ("suspended_processes", Strings),
            ("termination_policies", Strings),
            ("wait_for_elb_capacity", Num),
            ("predicted_capacity", Computed),
            ("warm_pool_size", Computed),
        ],
    ),
    (
        "aws_eks_cluster",
        &[
            ("deletion_protection", Bool(false)),
            ("force_update_version", Bool(false)),
            ("cluster_id", Computed),
        ],
    ),
    (
        "aws_eks_node_group",
        &[("force_update_version", Bool(false))],
    ),
    (
        "aws_security_group_rule",
        &[("security_group_rule_id", Computed)],
    ),
    ("aws_iam_policy", &[("attachment_count", Computed)]),
    ("aws_iam_role", &[("managed_policy_arns", Strings)]),
    (
        "aws_kms_key",
        &[
            ("custom_key_store_id", Str),
            ("xks_key_id", Str),
            ("rotation_period_in_days", Num),
        ],
    ),
    (
        "aws_vpc_endpoint",
        &[
            ("ip_address_type", Str),
            ("service_region", Str),
            ("resource_configuration_arn", Str),
            ("service_network_arn", Str),
            ("prefix_list_id", Computed),
            ("cidr_blocks", Computed),
        ],
    ),
    (
        "aws_lb",
        &[
            ("client_keep_alive", Num),
            ("customer_owned_ipv4_pool", Str),
            ("desync_mitigation_mode", StrDefault("defensive")),
            ("dns_record_client_routing_policy", Str),
            ("enable_tls_version_and_cipher_suite_headers", Bool(false)),
            ("enable_waf_fail_open", Bool(false)),
            ("enable_xff_client_port", Bool(false)),
            ("enable_zonal_shift", Bool(false)),
            (
                "enforce_security_group_inbound_rules_on_private_link_traffic",
                Str,
            ),
            ("preserve_host_header", Bool(false)),
            ("xff_header_processing_mode", StrDefault("append")),
        ],
    ),
    (
        "aws_lb_target_group",
        &[
            ("connection_termination", Bool(false)),
            ("ip_address_type", Str),
            ("lambda_multi_value_headers_enabled", Bool(false)),
            ("load_balancing_algorithm_type", Str),
            ("load_balancing_anomaly_mitigation", Str),
            ("load_balancing_cross_zone_enabled", Str),
            ("preserve_client_ip", Str),
            ("proxy_protocol_v2", Bool(false)),
        ],
    ),
    (
        "aws_lb_listener",
        &[("alpn_policy", Str), ("tcp_idle_timeout_seconds", Num)],
    ),
    (
        "aws_elb",
        &[("desync_mitigation_mode", StrDefault("defensive"))],
    ),
];

fn entries(type_name: &str) -> &'static [(&'static str, Arg)] {
    TABLE
        .iter()
        .find(|(t, _)| *t == type_name)
        .map(|(_, e)| *e)
        .unwrap_or(&[])
}

/// The type's schema plus its unimplemented arguments (optional, so
/// `null` validates) and the per-resource `region`.
pub(crate) fn complete_schema(type_name: &str, mut schema: Schema) -> Schema {
    for (name, arg) in entries(type_name) {
        if schema.attributes.contains_key(*name) {
            continue;
        }
        let attr = match arg {
            Str | StrDefault(_) => Attribute::optional(AttrType::String),
            Strings => Attribute::optional(AttrType::set_of(AttrType::String)),
            Map => Attribute::optional(AttrType::map_of(AttrType::String)),
            Num => Attribute::optional(AttrType::Number),
            Bool(_) => Attribute::optional(AttrType::Bool),
            Computed => Attribute::computed(AttrType::String),
        };
        schema = schema.attr(name, attr.describe("not implemented by terrace yet"));
    }
    if !schema.attributes.contains_key("region") {
        schema = schema.attr(
            "region",
            Attribute::optional(AttrType::String)
                .describe("the provider's region; another region is not implemented yet"),
        );
    }
    schema
}

/// Check a resource's configuration: an unimplemented argument set to
/// anything but null or Terraform's default is an error at that argument.
/// Returns the configuration with accepted defaults and `region` set to
/// null, so state (which reports them as null) plans no change.
pub(crate) fn check(
    type_name: &str,
    config: &Value,
    provider_region: &str,
) -> Result<Value, ProviderError> {
    let mut out = config.clone();
    let Some(map) = out.as_map_mut() else {
        return Ok(out);
    };
    let reject = |name: &str, hint: String| ProviderError::InvalidArgument {
        path: Some(vec![PathStep::Key(name.to_string())]),
        code: "NotImplemented".into(),
        message: format!("terrace does not implement `{name}` of `{type_name}` yet; {hint}"),
    };
    for (name, arg) in entries(type_name) {
        let Some(v) = map.get(*name) else { continue };
        if v.is_null() || !v.is_wholly_known() {
            // Unknown until apply: checked again when the value is known.
            continue;
        }
        match arg {
            Bool(default) if v.as_bool() == Some(*default) => {
                map.insert(name.to_string(), Value::Null);
            }
            StrDefault(default) if v.as_str() == Some(*default) => {
                map.insert(name.to_string(), Value::Null);
            }
            Strings | Map
                if v.as_list().is_some_and(|l| l.is_empty())
                    || v.as_map().is_some_and(|m| m.is_empty()) =>
            {
                map.insert(name.to_string(), Value::Null);
            }
            Bool(default) => {
                return Err(reject(
                    name,
                    format!("remove it or set it to null or {default}"),
                ));
            }
            StrDefault(default) => {
                return Err(reject(
                    name,
                    format!("remove it or set it to null or {default:?}"),
                ));
            }
            Strings | Map => {
                return Err(reject(name, "remove it or set it to null or empty".into()));
            }
            _ => return Err(reject(name, "remove it or set it to null".into())),
        }
    }
    if let Some(r) = map
        .get("region")
        .filter(|v| !v.is_null() && v.is_wholly_known())
    {
        if r.as_str() == Some(provider_region) {
            map.insert("region".into(), Value::Null);
        } else {
            return Err(reject(
                "region",
                format!(
                    "remove it, set it to null or to the provider's region {provider_region:?}, or use a provider block (alias) for that region"
                ),
            ));
        }
    }
    Ok(out)
}
