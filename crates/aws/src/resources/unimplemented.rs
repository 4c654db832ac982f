//! Arguments of the Terraform AWS provider schema that terrace knows but
//! does not implement yet. Modules routinely pass `null` for arguments they
//! do not use (Terraform treats null as unset), so such an argument is
//! accepted when null or at Terraform's default, and otherwise rejected at
//! that attribute: "terrace does not implement `<argument>` of `<type>`
//! yet". The v6 per-resource `region` argument is accepted on every type
//! when null or the provider's own region. Computed-only attributes of the
//! Terraform schema that terrace cannot report yet are known and null.
//! Every type also takes Terraform's `timeouts` block (`create`, `read`,
//! `update`, `delete`): the values are checked as Go durations and not
//! used (terrace's own per-type waits apply); state holds the block empty.

use terrace_core::{PathStep, Value};
use terrace_provider::{AttrMode, AttrType, Attribute, ProviderError, Schema};

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
        ],
    ),
    ("aws_route_table", &[("propagating_vgws", Strings)]),
    ("aws_default_route_table", &[("propagating_vgws", Strings)]),
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
            ("cpu_core_count", Num),
            ("cpu_threads_per_core", Num),
            ("disable_api_stop", Bool(false)),
            ("disable_api_termination", Bool(false)),
            ("enable_primary_ipv6", Bool(false)),
            ("force_destroy", Bool(false)),
            ("get_password_data", Bool(false)),
            ("hibernation", Bool(false)),
            ("host_id", Str),
            ("host_resource_group_arn", Str),
            ("instance_initiated_shutdown_behavior", StrDefault("stop")),
            ("ipv6_address_count", Num),
            ("ipv6_addresses", Strings),
            ("placement_group", Str),
            ("placement_partition_number", Num),
            ("secondary_private_ips", Strings),
            ("security_groups", Strings),
            ("tenancy", StrDefault("default")),
            ("user_data_base64", Str),
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

/// A block and its arguments.
type BlockArgs = (&'static str, &'static [&'static str]);

/// Per type: nested blocks of the Terraform schema terrace lacks, with
/// their arguments. Such a block is known (modules generate it with
/// `dynamic` blocks, often with every argument null): accepted when absent
/// or when all its arguments are null, refused at the block otherwise.
/// Blocks nested in these are not listed.
const BLOCKS: &[(&str, &[BlockArgs])] = &[(
    "aws_instance",
    &[
        (
            "capacity_reservation_specification",
            &["capacity_reservation_preference"],
        ),
        (
            "cpu_options",
            &["amd_sev_snp", "core_count", "threads_per_core"],
        ),
        ("credit_specification", &["cpu_credits"]),
        (
            "ebs_block_device",
            &[
                "delete_on_termination",
                "device_name",
                "encrypted",
                "iops",
                "kms_key_id",
                "snapshot_id",
                "tags",
                "throughput",
                "volume_size",
                "volume_type",
            ],
        ),
        ("enclave_options", &["enabled"]),
        (
            "ephemeral_block_device",
            &["device_name", "no_device", "virtual_name"],
        ),
        ("instance_market_options", &["market_type"]),
        ("launch_template", &["id", "name", "version"]),
        ("maintenance_options", &["auto_recovery"]),
        (
            "private_dns_name_options",
            &[
                "enable_resource_name_dns_a_record",
                "enable_resource_name_dns_aaaa_record",
                "hostname_type",
            ],
        ),
    ],
)];

fn unimplemented_blocks(type_name: &str) -> &'static [BlockArgs] {
    BLOCKS
        .iter()
        .find(|(t, _)| *t == type_name)
        .map(|(_, b)| *b)
        .unwrap_or(&[])
}

/// One argument of the Terraform schema that terrace accepts only when
/// null (or at Terraform's default), for tests and documentation.
#[derive(Debug, Clone)]
pub struct UnimplementedArgument {
    pub type_name: &'static str,
    pub name: &'static str,
    /// A value terrace refuses for it ("does not implement"), or `None`
    /// for a computed-only attribute, which configuration cannot set.
    pub refused_value: Option<Value>,
}

/// Every unimplemented argument of every resource type (the v6 `region`
/// argument, accepted on every type, is not listed).
pub fn unimplemented_arguments() -> Vec<UnimplementedArgument> {
    TABLE
        .iter()
        .flat_map(|(t, entries)| {
            entries
                .iter()
                .map(move |(name, arg)| UnimplementedArgument {
                    type_name: t,
                    name,
                    refused_value: match arg {
                        Str => Some(Value::from("not-implemented")),
                        StrDefault(_) => Some(Value::from("not-the-default")),
                        Num => Some(Value::from(7)),
                        Bool(default) => Some(Value::Bool(!default)),
                        Strings => Some(Value::List(vec![Value::from("x")])),
                        Map => Some(Value::map([("a", Value::from("b"))])),
                        Computed => None,
                    },
                })
        })
        .collect()
}

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
    for (block, args) in unimplemented_blocks(type_name) {
        if schema.blocks.contains_key(*block) {
            continue;
        }
        let inner = args.iter().fold(Schema::new(), |s, a| {
            s.attr(
                a,
                Attribute::optional(AttrType::Any).describe("not implemented by terrace yet"),
            )
        });
        schema = schema.list_block(block, 0, 0, inner);
    }
    // Terraform's `timeouts` block (create / read / update / delete as Go
    // durations): accepted and checked; terrace keeps its own bounds.
    if !schema.blocks.contains_key("timeouts") {
        let t = TIMEOUT_KEYS.iter().fold(Schema::new(), |s, k| {
            s.attr(
                k,
                Attribute::optional(AttrType::String)
                    .describe("accepted and checked; terrace uses its own time limits"),
            )
        });
        schema = schema.list_block("timeouts", 0, 1, t);
    }
    // A type that reports where its object lives (`aws_s3_bucket`) takes
    // the v6 argument too.
    if let Some(a) = schema.attributes.get_mut("region")
        && a.mode == AttrMode::Computed
    {
        a.mode = AttrMode::OptionalComputed;
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

const TIMEOUT_KEYS: [&str; 4] = ["create", "read", "update", "delete"];

/// Whether `s` is a duration Go's `time.ParseDuration` accepts ("5m",
/// "1h30m", "1.5h", "300ms"), as Terraform requires of `timeouts`.
fn is_go_duration(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
            .into_iter()
            .find(|u| rest.starts_with(u))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

/// Check a `timeouts` block: each value a Go duration. Returns the error
/// at the first bad one.
fn check_timeouts(type_name: &str, v: &Value) -> Result<(), ProviderError> {
    let items = v.as_list().map(|l| l.to_vec()).unwrap_or_default();
    for (i, item) in items.iter().enumerate() {
        for key in TIMEOUT_KEYS {
            let Some(text) = item.get(key).and_then(|x| x.as_str().map(str::to_string)) else {
                continue;
            };
            if !is_go_duration(&text) {
                return Err(ProviderError::InvalidArgument {
                    path: Some(vec![
                        PathStep::Key("timeouts".into()),
                        PathStep::Index(i),
                        PathStep::Key(key.into()),
                    ]),
                    code: "InvalidDuration".into(),
                    message: format!(
                        "time: invalid duration {text:?} in timeouts.{key} of {type_name}; write a duration such as \"10m\", \"1h30m\" or \"45s\""
                    ),
                });
            }
        }
    }
    Ok(())
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
    for (block, _) in unimplemented_blocks(type_name) {
        let Some(items) = map.get(*block).and_then(Value::as_list) else {
            continue;
        };
        // Unknown until apply: checked again when the value is known.
        let set = items.iter().position(|item| {
            item.as_map()
                .is_some_and(|m| m.values().any(|v| !v.is_null() && v.is_wholly_known()))
        });
        if let Some(i) = set {
            return Err(ProviderError::InvalidArgument {
                path: Some(vec![PathStep::Key(block.to_string()), PathStep::Index(i)]),
                code: "NotImplemented".into(),
                message: format!(
                    "terrace does not implement the `{block}` block of `{type_name}` yet; remove it (a block whose arguments are all null is accepted)"
                ),
            });
        }
        // Only null arguments: as if absent (reads report it empty).
        if items.iter().all(Value::is_wholly_known) {
            map.insert(block.to_string(), Value::List(Vec::new()));
        }
    }
    if let Some(t) = map.get("timeouts").filter(|v| v.is_wholly_known()) {
        check_timeouts(type_name, t)?;
        // Never part of the object: reads report the block empty.
        map.insert("timeouts".into(), Value::List(Vec::new()));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_as_terraform_takes_them() {
        for ok in [
            "5m", "1h30m", "45s", "1.5h", "300ms", "0", "10m0s", "2h45m30s",
        ] {
            assert!(is_go_duration(ok), "{ok}");
        }
        for bad in ["", "5", "5 minutes", "m", "1x", "1.2.3s", "h5", "5m!"] {
            assert!(!is_go_duration(bad), "{bad}");
        }
    }

    #[test]
    fn timeouts_are_checked_then_dropped() {
        let block = |create: &str| {
            Value::map([(
                "timeouts",
                Value::List(vec![Value::map([
                    ("create", Value::from(create)),
                    ("delete", Value::Null),
                ])]),
            )])
        };
        let out = check("aws_route", &block("5m"), "us-east-1").unwrap();
        assert_eq!(out.get("timeouts"), Some(&Value::List(Vec::new())));
        match check("aws_route", &block("5 minutes"), "us-east-1").unwrap_err() {
            ProviderError::InvalidArgument { path, message, .. } => {
                assert_eq!(
                    path,
                    Some(vec![
                        PathStep::Key("timeouts".into()),
                        PathStep::Index(0),
                        PathStep::Key("create".into()),
                    ])
                );
                assert!(
                    message.contains("invalid duration \"5 minutes\""),
                    "{message}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unimplemented_blocks_are_known_accepted_when_null_and_refused_when_set() {
        let s = complete_schema("aws_instance", Schema::new());
        assert!(
            s.blocks["cpu_options"]
                .schema
                .attributes
                .contains_key("core_count")
        );
        let with = |v: Value| {
            Value::map([(
                "credit_specification",
                Value::List(vec![Value::map([("cpu_credits", v)])]),
            )])
        };
        let out = check("aws_instance", &with(Value::Null), "us-east-1").unwrap();
        assert_eq!(
            out.get("credit_specification"),
            Some(&Value::List(Vec::new()))
        );
        match check("aws_instance", &with(Value::from("unlimited")), "us-east-1").unwrap_err() {
            ProviderError::InvalidArgument { path, message, .. } => {
                assert_eq!(
                    path,
                    Some(vec![
                        PathStep::Key("credit_specification".into()),
                        PathStep::Index(0),
                    ])
                );
                assert!(
                    message.contains("`credit_specification` block of `aws_instance`"),
                    "{message}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_type_gets_timeouts_and_region() {
        let s = complete_schema("aws_vpc", Schema::new());
        assert!(s.blocks.contains_key("timeouts"));
        assert!(s.attributes.contains_key("region"));
        let computed = Schema::new().attr("region", Attribute::computed(AttrType::String));
        let s = complete_schema("aws_s3_bucket", computed);
        assert_eq!(s.attributes["region"].mode, AttrMode::OptionalComputed);
    }
}
