//! Routes as both `aws_route_table` (inline `route` blocks) and `aws_route`
//! (one route per resource) see them: the destination, the target, the
//! create/replace/delete calls, and which routes of a table belong to
//! something else (the `local` route, propagated routes, the routes a
//! gateway VPC endpoint adds).

use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::ec2_support::ok_if_gone;
use crate::values::{get_str, opt_str};
use aws_sdk_ec2::types::{Route, RouteOrigin};
use std::collections::BTreeMap;
use terrace_core::Value;

/// Route targets, in the order the API and the schema name them.
pub(crate) const TARGETS: &[&str] = &[
    "gateway_id",
    "nat_gateway_id",
    "network_interface_id",
    "transit_gateway_id",
    "vpc_peering_connection_id",
    "egress_only_gateway_id",
    "vpc_endpoint_id",
    "instance_id",
];

/// The attribute names of a route's destination: `cidr_block` and
/// `ipv6_cidr_block` in a route table's blocks, `destination_…` in `aws_route`.
#[derive(Clone, Copy)]
pub(crate) struct DestinationKeys {
    pub(crate) cidr: &'static str,
    pub(crate) ipv6: &'static str,
}

pub(crate) const BLOCK_KEYS: DestinationKeys = DestinationKeys {
    cidr: "cidr_block",
    ipv6: "ipv6_cidr_block",
};

pub(crate) const ROUTE_KEYS: DestinationKeys = DestinationKeys {
    cidr: "destination_cidr_block",
    ipv6: "destination_ipv6_cidr_block",
};

/// A route: its destination and its target attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RouteSpec {
    pub(crate) cidr: Option<String>,
    pub(crate) ipv6: Option<String>,
    pub(crate) targets: BTreeMap<&'static str, String>,
}

impl RouteSpec {
    pub(crate) fn from_value(v: &Value, keys: DestinationKeys) -> Self {
        RouteSpec {
            cidr: get_str(v, keys.cidr),
            ipv6: get_str(v, keys.ipv6),
            targets: TARGETS
                .iter()
                .filter_map(|t| get_str(v, t).map(|s| (*t, s)))
                .collect(),
        }
    }

    /// The route as the API reports it.
    pub(crate) fn from_api(r: &Route) -> Self {
        let mut targets = BTreeMap::new();
        let mut put = |k: &'static str, v: Option<&str>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                targets.insert(k, v.to_string());
            }
        };
        // A route through a (Gateway Load Balancer) endpoint reports the
        // endpoint as its gateway; Terraform names it vpc_endpoint_id.
        match r.gateway_id() {
            Some(g) if g.starts_with("vpce-") => put("vpc_endpoint_id", Some(g)),
            g => put("gateway_id", g),
        }
        put("instance_id", r.instance_id());
        put("nat_gateway_id", r.nat_gateway_id());
        put(
            "network_interface_id",
            r.network_interface_id()
                .filter(|_| r.instance_id().is_none()),
        );
        put("transit_gateway_id", r.transit_gateway_id());
        put("vpc_peering_connection_id", r.vpc_peering_connection_id());
        put(
            "egress_only_gateway_id",
            r.egress_only_internet_gateway_id(),
        );
        RouteSpec {
            cidr: r.destination_cidr_block().map(str::to_string),
            ipv6: r.destination_ipv6_cidr_block().map(str::to_string),
            targets,
        }
    }

    pub(crate) fn destination(&self) -> String {
        self.cidr
            .clone()
            .or_else(|| self.ipv6.clone())
            .unwrap_or_default()
    }

    /// Destination and target attributes (every target, null when unset).
    pub(crate) fn attributes(&self, keys: DestinationKeys) -> BTreeMap<String, Value> {
        let mut m: BTreeMap<String, Value> = TARGETS
            .iter()
            .map(|t| {
                (
                    t.to_string(),
                    opt_str(self.targets.get(t).map(String::as_str)),
                )
            })
            .collect();
        m.insert(keys.cidr.into(), opt_str(self.cidr.as_deref()));
        m.insert(keys.ipv6.into(), opt_str(self.ipv6.as_deref()));
        m
    }
}

/// Routes of a table that its own resources do not manage: the `local`
/// route, routes propagated from a VPN gateway and those a gateway VPC
/// endpoint adds to its prefix list (Terraform skips them the same way); a
/// CIDR route through an endpoint (`vpc_endpoint_id`) is the table's own.
pub(crate) fn managed_elsewhere(r: &Route) -> bool {
    r.origin() == Some(&RouteOrigin::CreateRouteTable)
        || r.origin() == Some(&RouteOrigin::EnableVgwRoutePropagation)
        || r.gateway_id() == Some("local")
        || (r.gateway_id().is_some_and(|g| g.starts_with("vpce-"))
            && r.destination_cidr_block().is_none()
            && r.destination_ipv6_cidr_block().is_none())
        || r.destination_prefix_list_id().is_some()
}

/// Create (or, with `replace`, change the target of) one route.
pub(crate) async fn put_route(
    p: &AwsProvider,
    table: &str,
    r: &RouteSpec,
    replace: bool,
) -> Result<()> {
    let t = |k: &str| r.targets.get(k).cloned();
    if replace {
        p.call("ec2:ReplaceRoute", || {
            p.ec2
                .replace_route()
                .route_table_id(table)
                .set_destination_cidr_block(r.cidr.clone())
                .set_destination_ipv6_cidr_block(r.ipv6.clone())
                .set_gateway_id(t("gateway_id"))
                .set_nat_gateway_id(t("nat_gateway_id"))
                .set_network_interface_id(t("network_interface_id"))
                .set_transit_gateway_id(t("transit_gateway_id"))
                .set_vpc_peering_connection_id(t("vpc_peering_connection_id"))
                .set_egress_only_internet_gateway_id(t("egress_only_gateway_id"))
                .set_vpc_endpoint_id(t("vpc_endpoint_id"))
                .set_instance_id(t("instance_id"))
                .send()
        })
        .await
        .map(|_| ())
    } else {
        p.call("ec2:CreateRoute", || {
            p.ec2
                .create_route()
                .route_table_id(table)
                .set_destination_cidr_block(r.cidr.clone())
                .set_destination_ipv6_cidr_block(r.ipv6.clone())
                .set_gateway_id(t("gateway_id"))
                .set_nat_gateway_id(t("nat_gateway_id"))
                .set_network_interface_id(t("network_interface_id"))
                .set_transit_gateway_id(t("transit_gateway_id"))
                .set_vpc_peering_connection_id(t("vpc_peering_connection_id"))
                .set_egress_only_internet_gateway_id(t("egress_only_gateway_id"))
                .set_vpc_endpoint_id(t("vpc_endpoint_id"))
                .set_instance_id(t("instance_id"))
                .send()
        })
        .await
        .map(|_| ())
    }
}

/// Delete one route; already gone is success.
pub(crate) async fn delete_route(p: &AwsProvider, table: &str, r: &RouteSpec) -> Result<()> {
    ok_if_gone(
        p.call("ec2:DeleteRoute", || {
            p.ec2
                .delete_route()
                .route_table_id(table)
                .set_destination_cidr_block(r.cidr.clone())
                .set_destination_ipv6_cidr_block(r.ipv6.clone())
                .send()
        })
        .await,
    )
}
