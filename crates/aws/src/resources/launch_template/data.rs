//! The launch data of `aws_launch_template` beyond the image, type, key,
//! security groups, profile, metadata options, block devices and tag
//! specifications: `network_interfaces`, `monitoring`,
//! `credit_specification`, `placement`, `private_dns_name_options`,
//! `instance_market_options`, `cpu_options`, `capacity_reservation_specification`,
//! `enclave_options`, `hibernation_options`, `maintenance_options`,
//! `disable_api_stop`, `instance_initiated_shutdown_behavior`, `kernel_id`
//! and `ram_disk_id`. Each maps one-to-one to a field of EC2's launch
//! template data; a block the API does not report reads back empty, as in
//! Terraform. Booleans that Terraform keeps as nullable strings
//! (`associate_public_ip_address`, `delete_on_termination`, ...) are
//! strings here too.

use super::{bool_str, n, parse_bool_str, s};
use crate::values::{first_block, get_blocks, get_bool, get_i64, get_str, get_strings, str_set};
use aws_sdk_ec2::types::builders::RequestLaunchTemplateDataBuilder;
use aws_sdk_ec2::types::{
    AmdSevSnpSpecification, CapacityReservationPreference, CapacityReservationTarget,
    CreditSpecificationRequest, HostnameType, InstanceInterruptionBehavior,
    InstanceIpv6AddressRequest, Ipv4PrefixSpecificationRequest, Ipv6PrefixSpecificationRequest,
    LaunchTemplateAutoRecoveryState, LaunchTemplateCapacityReservationSpecificationRequest,
    LaunchTemplateCpuOptionsRequest, LaunchTemplateEnclaveOptionsRequest,
    LaunchTemplateHibernationOptionsRequest, LaunchTemplateInstanceMaintenanceOptionsRequest,
    LaunchTemplateInstanceMarketOptionsRequest,
    LaunchTemplateInstanceNetworkInterfaceSpecification,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest, LaunchTemplatePlacementRequest,
    LaunchTemplatePrivateDnsNameOptionsRequest, LaunchTemplateSpotMarketOptionsRequest,
    LaunchTemplatesMonitoringRequest, MarketType, PrivateIpAddressSpecification,
    ResponseLaunchTemplateData, ShutdownBehavior, SpotInstanceType, Tenancy,
};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, Schema};

fn b(v: Option<bool>) -> Value {
    v.map(Value::Bool).unwrap_or(Value::Null)
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn i32_of(v: &Value, key: &str) -> Option<i32> {
    get_i64(v, key).map(|x| x as i32)
}

/// A "single" block read back: one item, or none.
fn single(item: Option<Value>) -> Value {
    Value::List(item.into_iter().collect())
}

fn strings_or_null(items: Vec<String>) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        str_set(items)
    }
}

fn optional(ty: AttrType) -> Attribute {
    Attribute::optional(ty)
}

fn block_of(attrs: &[(&str, AttrType)]) -> Schema {
    attrs.iter().fold(Schema::new(), |sch, (k, t)| {
        sch.attr(k, optional(t.clone()))
    })
}

fn strings() -> AttrType {
    AttrType::set_of(AttrType::String)
}

/// The schema of the launch data this file owns, added to `schema`.
pub(super) fn schema(schema: Schema) -> Schema {
    use AttrType::{Bool, Number, String as Str};
    let spot = block_of(&[
        ("block_duration_minutes", Number),
        ("instance_interruption_behavior", Str),
        ("max_price", Str),
        ("spot_instance_type", Str),
    ])
    .attr("valid_until", Attribute::optional_computed(Str));
    let target = block_of(&[
        ("capacity_reservation_id", Str),
        ("capacity_reservation_resource_group_arn", Str),
    ]);
    schema
        .attr("disable_api_stop", optional(Bool))
        .attr("instance_initiated_shutdown_behavior", optional(Str))
        .attr("kernel_id", optional(Str))
        .attr("ram_disk_id", optional(Str))
        .list_block(
            "network_interfaces",
            0,
            0,
            block_of(&[
                ("associate_carrier_ip_address", Str),
                ("associate_public_ip_address", Str),
                ("delete_on_termination", Str),
                ("description", Str),
                ("device_index", Number),
                ("interface_type", Str),
                ("ipv4_address_count", Number),
                ("ipv4_addresses", strings()),
                ("ipv4_prefix_count", Number),
                ("ipv4_prefixes", strings()),
                ("ipv6_address_count", Number),
                ("ipv6_addresses", strings()),
                ("ipv6_prefix_count", Number),
                ("ipv6_prefixes", strings()),
                ("network_card_index", Number),
                ("network_interface_id", Str),
                ("primary_ipv6", Str),
                ("private_ip_address", Str),
                ("security_groups", strings()),
                ("subnet_id", Str),
            ]),
        )
        .list_block("monitoring", 0, 1, block_of(&[("enabled", Bool)]))
        .list_block(
            "credit_specification",
            0,
            1,
            block_of(&[("cpu_credits", Str)]),
        )
        .list_block(
            "placement",
            0,
            1,
            block_of(&[
                ("affinity", Str),
                ("availability_zone", Str),
                ("group_name", Str),
                ("host_id", Str),
                ("host_resource_group_arn", Str),
                ("partition_number", Number),
                ("spread_domain", Str),
                ("tenancy", Str),
            ]),
        )
        .list_block(
            "private_dns_name_options",
            0,
            1,
            block_of(&[
                ("enable_resource_name_dns_aaaa_record", Bool),
                ("enable_resource_name_dns_a_record", Bool),
                ("hostname_type", Str),
            ]),
        )
        .list_block(
            "instance_market_options",
            0,
            1,
            block_of(&[("market_type", Str)]).list_block("spot_options", 0, 1, spot),
        )
        .list_block(
            "cpu_options",
            0,
            1,
            block_of(&[
                ("amd_sev_snp", Str),
                ("core_count", Number),
                ("threads_per_core", Number),
            ]),
        )
        .list_block(
            "capacity_reservation_specification",
            0,
            1,
            block_of(&[("capacity_reservation_preference", Str)]).list_block(
                "capacity_reservation_target",
                0,
                1,
                target,
            ),
        )
        .list_block("enclave_options", 0, 1, block_of(&[("enabled", Bool)]))
        .list_block(
            "hibernation_options",
            0,
            1,
            Schema::new().attr("configured", Attribute::required(Bool)),
        )
        .list_block(
            "maintenance_options",
            0,
            1,
            block_of(&[("auto_recovery", Str)]),
        )
}

fn network_interface_request(
    ni: &Value,
) -> LaunchTemplateInstanceNetworkInterfaceSpecificationRequest {
    let private_ips: Vec<PrivateIpAddressSpecification> = get_strings(ni, "ipv4_addresses")
        .into_iter()
        .map(|ip| {
            PrivateIpAddressSpecification::builder()
                .private_ip_address(ip)
                .primary(false)
                .build()
        })
        .collect();
    let ipv6: Vec<InstanceIpv6AddressRequest> = get_strings(ni, "ipv6_addresses")
        .into_iter()
        .map(|ip| {
            InstanceIpv6AddressRequest::builder()
                .ipv6_address(ip)
                .build()
        })
        .collect();
    let v4_prefixes: Vec<Ipv4PrefixSpecificationRequest> = get_strings(ni, "ipv4_prefixes")
        .into_iter()
        .map(|p| {
            Ipv4PrefixSpecificationRequest::builder()
                .ipv4_prefix(p)
                .build()
        })
        .collect();
    let v6_prefixes: Vec<Ipv6PrefixSpecificationRequest> = get_strings(ni, "ipv6_prefixes")
        .into_iter()
        .map(|p| {
            Ipv6PrefixSpecificationRequest::builder()
                .ipv6_prefix(p)
                .build()
        })
        .collect();
    let groups = get_strings(ni, "security_groups");
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
        .set_associate_carrier_ip_address(parse_bool_str(ni, "associate_carrier_ip_address"))
        .set_associate_public_ip_address(parse_bool_str(ni, "associate_public_ip_address"))
        .set_delete_on_termination(parse_bool_str(ni, "delete_on_termination"))
        .set_description(get_str(ni, "description"))
        .set_device_index(i32_of(ni, "device_index"))
        .set_interface_type(get_str(ni, "interface_type"))
        .set_secondary_private_ip_address_count(i32_of(ni, "ipv4_address_count"))
        .set_private_ip_addresses(non_empty(private_ips))
        .set_ipv4_prefix_count(i32_of(ni, "ipv4_prefix_count"))
        .set_ipv4_prefixes(non_empty(v4_prefixes))
        .set_ipv6_address_count(i32_of(ni, "ipv6_address_count"))
        .set_ipv6_addresses(non_empty(ipv6))
        .set_ipv6_prefix_count(i32_of(ni, "ipv6_prefix_count"))
        .set_ipv6_prefixes(non_empty(v6_prefixes))
        .set_network_card_index(i32_of(ni, "network_card_index"))
        .set_network_interface_id(get_str(ni, "network_interface_id"))
        .set_primary_ipv6(parse_bool_str(ni, "primary_ipv6"))
        .set_private_ip_address(get_str(ni, "private_ip_address"))
        .set_groups(non_empty(groups))
        .set_subnet_id(get_str(ni, "subnet_id"))
        .build()
}

fn network_interface_value(ni: &LaunchTemplateInstanceNetworkInterfaceSpecification) -> Value {
    let secondary: Vec<String> = ni
        .private_ip_addresses()
        .iter()
        .filter(|a| a.primary() != Some(true))
        .filter_map(|a| a.private_ip_address().map(str::to_string))
        .collect();
    Value::map([
        (
            "associate_carrier_ip_address",
            bool_str(ni.associate_carrier_ip_address()),
        ),
        (
            "associate_public_ip_address",
            bool_str(ni.associate_public_ip_address()),
        ),
        (
            "delete_on_termination",
            bool_str(ni.delete_on_termination()),
        ),
        ("description", s(ni.description())),
        ("device_index", n(ni.device_index())),
        ("interface_type", s(ni.interface_type())),
        (
            "ipv4_address_count",
            n(ni.secondary_private_ip_address_count()),
        ),
        ("ipv4_addresses", strings_or_null(secondary)),
        ("ipv4_prefix_count", n(ni.ipv4_prefix_count())),
        (
            "ipv4_prefixes",
            strings_or_null(
                ni.ipv4_prefixes()
                    .iter()
                    .filter_map(|p| p.ipv4_prefix().map(str::to_string))
                    .collect(),
            ),
        ),
        ("ipv6_address_count", n(ni.ipv6_address_count())),
        (
            "ipv6_addresses",
            strings_or_null(
                ni.ipv6_addresses()
                    .iter()
                    .filter_map(|a| a.ipv6_address().map(str::to_string))
                    .collect(),
            ),
        ),
        ("ipv6_prefix_count", n(ni.ipv6_prefix_count())),
        (
            "ipv6_prefixes",
            strings_or_null(
                ni.ipv6_prefixes()
                    .iter()
                    .filter_map(|p| p.ipv6_prefix().map(str::to_string))
                    .collect(),
            ),
        ),
        ("network_card_index", n(ni.network_card_index())),
        ("network_interface_id", s(ni.network_interface_id())),
        ("primary_ipv6", bool_str(ni.primary_ipv6())),
        ("private_ip_address", s(ni.private_ip_address())),
        ("security_groups", strings_or_null(ni.groups().to_vec())),
        ("subnet_id", s(ni.subnet_id())),
    ])
}

fn spot_request(so: &Value) -> LaunchTemplateSpotMarketOptionsRequest {
    LaunchTemplateSpotMarketOptionsRequest::builder()
        .set_block_duration_minutes(i32_of(so, "block_duration_minutes"))
        .set_instance_interruption_behavior(
            get_str(so, "instance_interruption_behavior")
                .map(|x| InstanceInterruptionBehavior::from(x.as_str())),
        )
        .set_max_price(get_str(so, "max_price"))
        .set_spot_instance_type(
            get_str(so, "spot_instance_type").map(|x| SpotInstanceType::from(x.as_str())),
        )
        .set_valid_until(
            get_str(so, "valid_until").and_then(|t| DateTime::from_str(&t, Format::DateTime).ok()),
        )
        .build()
}

/// Add the launch data this file owns to a request.
pub(super) fn request(
    mut d: RequestLaunchTemplateDataBuilder,
    planned: &Value,
) -> RequestLaunchTemplateDataBuilder {
    d = d
        .set_disable_api_stop(get_bool(planned, "disable_api_stop"))
        .set_instance_initiated_shutdown_behavior(
            get_str(planned, "instance_initiated_shutdown_behavior")
                .map(|x| ShutdownBehavior::from(x.as_str())),
        )
        .set_kernel_id(get_str(planned, "kernel_id"))
        .set_ram_disk_id(get_str(planned, "ram_disk_id"));
    for ni in get_blocks(planned, "network_interfaces") {
        d = d.network_interfaces(network_interface_request(ni));
    }
    if let Some(m) = first_block(planned, "monitoring") {
        d = d.monitoring(
            LaunchTemplatesMonitoringRequest::builder()
                .set_enabled(get_bool(m, "enabled"))
                .build(),
        );
    }
    if let Some(c) = first_block(planned, "credit_specification") {
        d = d.credit_specification(
            CreditSpecificationRequest::builder()
                .set_cpu_credits(get_str(c, "cpu_credits"))
                .build(),
        );
    }
    if let Some(pl) = first_block(planned, "placement") {
        d = d.placement(
            LaunchTemplatePlacementRequest::builder()
                .set_affinity(get_str(pl, "affinity"))
                .set_availability_zone(get_str(pl, "availability_zone"))
                .set_group_name(get_str(pl, "group_name"))
                .set_host_id(get_str(pl, "host_id"))
                .set_host_resource_group_arn(get_str(pl, "host_resource_group_arn"))
                .set_partition_number(i32_of(pl, "partition_number"))
                .set_spread_domain(get_str(pl, "spread_domain"))
                .set_tenancy(get_str(pl, "tenancy").map(|x| Tenancy::from(x.as_str())))
                .build(),
        );
    }
    if let Some(o) = first_block(planned, "private_dns_name_options") {
        d = d.private_dns_name_options(
            LaunchTemplatePrivateDnsNameOptionsRequest::builder()
                .set_enable_resource_name_dns_aaaa_record(get_bool(
                    o,
                    "enable_resource_name_dns_aaaa_record",
                ))
                .set_enable_resource_name_dns_a_record(get_bool(
                    o,
                    "enable_resource_name_dns_a_record",
                ))
                .set_hostname_type(
                    get_str(o, "hostname_type").map(|x| HostnameType::from(x.as_str())),
                )
                .build(),
        );
    }
    if let Some(mo) = first_block(planned, "instance_market_options") {
        d = d.instance_market_options(
            LaunchTemplateInstanceMarketOptionsRequest::builder()
                .set_market_type(get_str(mo, "market_type").map(|x| MarketType::from(x.as_str())))
                .set_spot_options(first_block(mo, "spot_options").map(spot_request))
                .build(),
        );
    }
    if let Some(c) = first_block(planned, "cpu_options") {
        d = d.cpu_options(
            LaunchTemplateCpuOptionsRequest::builder()
                .set_amd_sev_snp(
                    get_str(c, "amd_sev_snp").map(|x| AmdSevSnpSpecification::from(x.as_str())),
                )
                .set_core_count(i32_of(c, "core_count"))
                .set_threads_per_core(i32_of(c, "threads_per_core"))
                .build(),
        );
    }
    if let Some(c) = first_block(planned, "capacity_reservation_specification") {
        let target = first_block(c, "capacity_reservation_target").map(|t| {
            CapacityReservationTarget::builder()
                .set_capacity_reservation_id(get_str(t, "capacity_reservation_id"))
                .set_capacity_reservation_resource_group_arn(get_str(
                    t,
                    "capacity_reservation_resource_group_arn",
                ))
                .build()
        });
        d = d.capacity_reservation_specification(
            LaunchTemplateCapacityReservationSpecificationRequest::builder()
                .set_capacity_reservation_preference(
                    get_str(c, "capacity_reservation_preference")
                        .map(|x| CapacityReservationPreference::from(x.as_str())),
                )
                .set_capacity_reservation_target(target)
                .build(),
        );
    }
    if let Some(e) = first_block(planned, "enclave_options") {
        d = d.enclave_options(
            LaunchTemplateEnclaveOptionsRequest::builder()
                .set_enabled(get_bool(e, "enabled"))
                .build(),
        );
    }
    if let Some(h) = first_block(planned, "hibernation_options") {
        d = d.hibernation_options(
            LaunchTemplateHibernationOptionsRequest::builder()
                .set_configured(get_bool(h, "configured"))
                .build(),
        );
    }
    if let Some(m) = first_block(planned, "maintenance_options") {
        d = d.maintenance_options(
            LaunchTemplateInstanceMaintenanceOptionsRequest::builder()
                .set_auto_recovery(
                    get_str(m, "auto_recovery")
                        .map(|x| LaunchTemplateAutoRecoveryState::from(x.as_str())),
                )
                .build(),
        );
    }
    d
}

/// The launch data this file owns, as state attributes.
pub(super) fn fields(d: &ResponseLaunchTemplateData) -> Vec<(&'static str, Value)> {
    let spot = |so: &aws_sdk_ec2::types::LaunchTemplateSpotMarketOptions| {
        Value::map([
            ("block_duration_minutes", n(so.block_duration_minutes())),
            (
                "instance_interruption_behavior",
                s(so.instance_interruption_behavior().map(|x| x.as_str())),
            ),
            ("max_price", s(so.max_price())),
            (
                "spot_instance_type",
                s(so.spot_instance_type().map(|x| x.as_str())),
            ),
            (
                "valid_until",
                s(so.valid_until()
                    .and_then(|t| t.fmt(Format::DateTime).ok())
                    .as_deref()),
            ),
        ])
    };
    vec![
        ("disable_api_stop", b(d.disable_api_stop())),
        (
            "instance_initiated_shutdown_behavior",
            s(d.instance_initiated_shutdown_behavior().map(|x| x.as_str())),
        ),
        ("kernel_id", s(d.kernel_id())),
        ("ram_disk_id", s(d.ram_disk_id())),
        (
            "network_interfaces",
            Value::List(
                d.network_interfaces()
                    .iter()
                    .map(network_interface_value)
                    .collect(),
            ),
        ),
        (
            "monitoring",
            single(
                d.monitoring()
                    .map(|m| Value::map([("enabled", b(m.enabled()))])),
            ),
        ),
        (
            "credit_specification",
            single(
                d.credit_specification()
                    .map(|c| Value::map([("cpu_credits", s(c.cpu_credits()))])),
            ),
        ),
        (
            "placement",
            single(d.placement().map(|pl| {
                Value::map([
                    ("affinity", s(pl.affinity())),
                    ("availability_zone", s(pl.availability_zone())),
                    ("group_name", s(pl.group_name())),
                    ("host_id", s(pl.host_id())),
                    ("host_resource_group_arn", s(pl.host_resource_group_arn())),
                    ("partition_number", n(pl.partition_number())),
                    ("spread_domain", s(pl.spread_domain())),
                    ("tenancy", s(pl.tenancy().map(|x| x.as_str()))),
                ])
            })),
        ),
        (
            "private_dns_name_options",
            single(d.private_dns_name_options().map(|o| {
                Value::map([
                    (
                        "enable_resource_name_dns_aaaa_record",
                        b(o.enable_resource_name_dns_aaaa_record()),
                    ),
                    (
                        "enable_resource_name_dns_a_record",
                        b(o.enable_resource_name_dns_a_record()),
                    ),
                    ("hostname_type", s(o.hostname_type().map(|x| x.as_str()))),
                ])
            })),
        ),
        (
            "instance_market_options",
            single(d.instance_market_options().map(|mo| {
                Value::map([
                    ("market_type", s(mo.market_type().map(|x| x.as_str()))),
                    ("spot_options", single(mo.spot_options().map(spot))),
                ])
            })),
        ),
        (
            "cpu_options",
            single(d.cpu_options().map(|c| {
                Value::map([
                    ("amd_sev_snp", s(c.amd_sev_snp().map(|x| x.as_str()))),
                    ("core_count", n(c.core_count())),
                    ("threads_per_core", n(c.threads_per_core())),
                ])
            })),
        ),
        (
            "capacity_reservation_specification",
            single(d.capacity_reservation_specification().map(|c| {
                let target = c.capacity_reservation_target().map(|t| {
                    Value::map([
                        ("capacity_reservation_id", s(t.capacity_reservation_id())),
                        (
                            "capacity_reservation_resource_group_arn",
                            s(t.capacity_reservation_resource_group_arn()),
                        ),
                    ])
                });
                Value::map([
                    (
                        "capacity_reservation_preference",
                        s(c.capacity_reservation_preference().map(|x| x.as_str())),
                    ),
                    ("capacity_reservation_target", single(target)),
                ])
            })),
        ),
        (
            "enclave_options",
            single(
                d.enclave_options()
                    .map(|e| Value::map([("enabled", b(e.enabled()))])),
            ),
        ),
        (
            "hibernation_options",
            single(
                d.hibernation_options()
                    .map(|h| Value::map([("configured", b(h.configured()))])),
            ),
        ),
        (
            "maintenance_options",
            single(d.maintenance_options().map(|m| {
                Value::map([("auto_recovery", s(m.auto_recovery().map(|x| x.as_str())))])
            })),
        ),
    ]
}
