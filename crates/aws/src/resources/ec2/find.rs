//! Finding EC2 objects. Each object type states its `Describe*` call once
//! (the `describable!` lines below); every lookup shape is generic over it:
//! by ID in batches of [`FILTER_CHUNK`](super::super::ec2_support::FILTER_CHUNK)
//! following pages, one by ID, by ownership address (crash recovery) and by
//! environment (unmanaged-object detection). Every call is counted as
//! `ec2:Describe…` through [`AwsProvider::call`].

use crate::Result;
use crate::provider::AwsProvider;
use crate::provider::{OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use crate::resources::ec2_support::{
    address_filters, describe_all, describe_by_ids, environment_filter, filter, prior_ids,
    tags_to_map,
};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, Tag};
use std::collections::BTreeMap;
use terrace_core::Value;
use terrace_provider::{ProviderError, ResourceContext};

/// An EC2 object type listed by a paged `Describe*` call that takes filters.
#[async_trait]
pub(crate) trait Ec2Object: Sized + Clone + Send + Sync + 'static {
    /// The describe filter that selects objects by ID, e.g. `vpc-id`.
    const ID_FILTER: &'static str;

    /// The object's ID as the API reports it.
    fn object_id(&self) -> Option<&str>;

    /// The object's tags (ownership is checked on them as well as by
    /// filter: some emulators ignore tag filters of some calls).
    fn object_tags(&self) -> &[Tag];

    /// Deleted objects some APIs keep listing for a while (NAT gateways,
    /// VPC endpoints in state `deleted`) count as gone.
    fn is_gone(&self) -> bool {
        false
    }

    /// One page of the describe call with these filters.
    async fn describe_page(
        p: &AwsProvider,
        filters: Vec<Filter>,
        token: Option<String>,
    ) -> Result<(Vec<Self>, Option<String>)>;
}

/// Implements [`Ec2Object`]: type, ID filter, ID accessor, counted
/// operation name, client method and the output's list accessor. Options
/// after a `;`: `paged` (the call takes `NextToken`) or `unpaged`;
/// `filters` (the setter is `set_filters`) or `filter` (`set_filter`);
/// optionally `ids = setter` when the ID filter is sent as the call's ID
/// list instead (an ID that does not exist then fails the call);
/// optionally `gone = |o| expr` for objects listed after deletion.
macro_rules! describable {
    ($ty:ty, $filter:literal, $id:ident, $op:literal, $call:ident, $items:ident) => {
        describable!($ty, $filter, $id, $op, $call, $items; paged set_filters);
    };
    ($ty:ty, $filter:literal, $id:ident, $op:literal, $call:ident, $items:ident;
     $paging:ident $setter:ident $(, ids = $ids:ident)? $(, gone = |$o:ident| $gone:expr)?) => {
        #[async_trait]
        impl Ec2Object for $ty {
            const ID_FILTER: &'static str = $filter;

            fn object_id(&self) -> Option<&str> {
                self.$id()
            }

            fn object_tags(&self) -> &[Tag] {
                self.tags()
            }

            $(fn is_gone(&self) -> bool {
                let $o = self;
                $gone
            })?

            async fn describe_page(
                p: &AwsProvider,
                filters: Vec<Filter>,
                token: Option<String>,
            ) -> Result<(Vec<Self>, Option<String>)> {
                #[allow(unused_mut)]
                let mut filters = filters;
                #[allow(unused_mut, unused_assignments)]
                let mut ids: Option<Vec<String>> = None;
                $(
                    ids = take_filter(&mut filters, $filter);
                    let _ = stringify!($ids);
                )?
                let out = p
                    .call($op, || {
                        let call = p.ec2.$call();
                        $(let call = call.$ids(ids.clone());)?
                        let _ = &ids;
                        let call = call.$setter((!filters.is_empty()).then(|| filters.clone()));
                        describable!(@page call, token, $paging).send()
                    })
                    .await?;
                Ok((out.$items().to_vec(), describable!(@next out, $paging)))
            }
        }
    };
    (@page $call:ident, $token:ident, paged) => { $call.set_next_token($token.clone()) };
    (@page $call:ident, $token:ident, unpaged) => {{ let _ = &$token; $call }};
    (@next $out:ident, paged) => { $out.next_token().map(str::to_string) };
    (@next $out:ident, unpaged) => {{ let _ = &$out; None }};
}

/// Remove the filter named `name` from `filters`, returning its values.
fn take_filter(filters: &mut Vec<Filter>, name: &str) -> Option<Vec<String>> {
    let at = filters.iter().position(|f| f.name() == Some(name))?;
    Some(filters.remove(at).values().to_vec())
}

use aws_sdk_ec2::types as t;

describable!(
    t::Vpc,
    "vpc-id",
    vpc_id,
    "ec2:DescribeVpcs",
    describe_vpcs,
    vpcs
);
describable!(
    t::Subnet,
    "subnet-id",
    subnet_id,
    "ec2:DescribeSubnets",
    describe_subnets,
    subnets
);
describable!(
    t::InternetGateway,
    "internet-gateway-id",
    internet_gateway_id,
    "ec2:DescribeInternetGateways",
    describe_internet_gateways,
    internet_gateways
);
describable!(
    t::RouteTable,
    "route-table-id",
    route_table_id,
    "ec2:DescribeRouteTables",
    describe_route_tables,
    route_tables
);
describable!(
    t::SecurityGroup,
    "group-id",
    group_id,
    "ec2:DescribeSecurityGroups",
    describe_security_groups,
    security_groups
);
describable!(
    t::LaunchTemplate,
    "launch-template-id",
    launch_template_id,
    "ec2:DescribeLaunchTemplates",
    describe_launch_templates,
    launch_templates
);
describable!(
    t::Volume,
    "volume-id",
    volume_id,
    "ec2:DescribeVolumes",
    describe_volumes,
    volumes
);

describable!(
    t::Address,
    "allocation-id",
    allocation_id,
    "ec2:DescribeAddresses",
    describe_addresses,
    addresses;
    unpaged set_filters
);
describable!(
    t::NatGateway,
    "nat-gateway-id",
    nat_gateway_id,
    "ec2:DescribeNatGateways",
    describe_nat_gateways,
    nat_gateways;
    paged set_filter,
    gone = |o| matches!(
        o.state(),
        Some(t::NatGatewayState::Deleted | t::NatGatewayState::Deleting)
    )
);
describable!(
    t::EgressOnlyInternetGateway,
    "egress-only-internet-gateway-id",
    egress_only_internet_gateway_id,
    "ec2:DescribeEgressOnlyInternetGateways",
    describe_egress_only_internet_gateways,
    egress_only_internet_gateways
);
describable!(
    t::VpcEndpoint,
    "vpc-endpoint-id",
    vpc_endpoint_id,
    "ec2:DescribeVpcEndpoints",
    describe_vpc_endpoints,
    vpc_endpoints;
    paged set_filters,
    ids = set_vpc_endpoint_ids,
    // EC2 sends endpoint states in lower case; the SDK's enum does not
    // match them (see `vpc_endpoint`).
    gone = |o| matches!(
        crate::resources::vpc_endpoint::endpoint_state(o).as_str(),
        "deleted" | "deleting"
    )
);

describable!(
    t::SecurityGroupRule,
    "security-group-rule-id",
    security_group_rule_id,
    "ec2:DescribeSecurityGroupRules",
    describe_security_group_rules,
    security_group_rules
);

describable!(
    t::KeyPairInfo,
    "key-name",
    key_name,
    "ec2:DescribeKeyPairs",
    describe_key_pairs,
    key_pairs;
    unpaged set_filters
);

describable!(
    t::FlowLog,
    "flow-log-id",
    flow_log_id,
    "ec2:DescribeFlowLogs",
    describe_flow_logs,
    flow_logs;
    paged set_filter
);

describable!(
    t::DhcpOptions,
    "dhcp-options-id",
    dhcp_options_id,
    "ec2:DescribeDhcpOptions",
    describe_dhcp_options,
    dhcp_options
);
describable!(
    t::CustomerGateway,
    "customer-gateway-id",
    customer_gateway_id,
    "ec2:DescribeCustomerGateways",
    describe_customer_gateways,
    customer_gateways;
    unpaged set_filters,
    gone = |o| matches!(o.state(), Some("deleted" | "deleting"))
);
describable!(
    t::VpnGateway,
    "vpn-gateway-id",
    vpn_gateway_id,
    "ec2:DescribeVpnGateways",
    describe_vpn_gateways,
    vpn_gateways;
    unpaged set_filters,
    gone = |o| matches!(o.state(), Some(t::VpnState::Deleted | t::VpnState::Deleting))
);

describable!(
    t::NetworkAcl,
    "network-acl-id",
    network_acl_id,
    "ec2:DescribeNetworkAcls",
    describe_network_acls,
    network_acls;
    paged set_filters,
    ids = set_network_acl_ids
);

/// Everything the filters select, following pages.
pub(crate) async fn find_all<T: Ec2Object>(
    p: &AwsProvider,
    filters: Vec<Filter>,
) -> Result<Vec<T>> {
    let all = describe_all(|token| T::describe_page(p, filters.clone(), token)).await?;
    Ok(all.into_iter().filter(|o| !o.is_gone()).collect())
}

/// The objects with these IDs, by ID; missing IDs are simply absent. IDs
/// are deduplicated and sent in chunks of the filter limit.
pub(crate) async fn find_by_ids<T: Ec2Object>(
    p: &AwsProvider,
    ids: &[String],
) -> Result<BTreeMap<String, T>> {
    let key = |o: &T| o.object_id().map(str::to_string);
    match find_keyed(p, T::ID_FILTER, ids, Vec::new(), key).await {
        // Calls that take the IDs as a list fail when one is missing:
        // look the IDs up one by one then, a missing one being absent.
        Err(e) if crate::api::is_not_found(&e) && ids.len() > 1 => {
            let mut out = BTreeMap::new();
            for id in ids {
                if let Some(o) = find_by_id::<T>(p, id).await? {
                    out.insert(id.clone(), o);
                }
            }
            Ok(out)
        }
        Err(e) if crate::api::is_not_found(&e) => Ok(BTreeMap::new()),
        other => other,
    }
}

/// Objects selected by `filter_name` ∈ `values` (batched, paged) and the
/// `extra` filters, keyed by `key` — e.g. the main route table of each VPC
/// (`vpc-id` ∈ ids, `association.main=true`, keyed by VPC ID).
pub(crate) async fn find_keyed<T: Ec2Object>(
    p: &AwsProvider,
    filter_name: &str,
    values: &[String],
    extra: Vec<Filter>,
    key: impl Fn(&T) -> Option<String>,
) -> Result<BTreeMap<String, T>> {
    let key = &key;
    let extra = &extra;
    describe_by_ids(values, |chunk, token| async move {
        let mut filters = vec![filter(filter_name, chunk)];
        filters.extend(extra.iter().cloned());
        let (items, next) = T::describe_page(p, filters, token).await?;
        let items = items
            .into_iter()
            .filter(|o| !o.is_gone())
            .filter_map(|o| Some((key(&o)?, o)))
            .collect();
        Ok((items, next))
    })
    .await
}

/// One object by ID (`None` when it does not exist).
pub(crate) async fn find_by_id<T: Ec2Object>(p: &AwsProvider, id: &str) -> Result<Option<T>> {
    match find_all::<T>(p, vec![filter(T::ID_FILTER, [id])]).await {
        Ok(found) => Ok(found.into_iter().find(|o| o.object_id() == Some(id))),
        Err(e) if crate::api::is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The object one resource instance made, found by its ownership tags.
pub(crate) async fn find_by_address<T: Ec2Object>(
    p: &AwsProvider,
    ctx: &ResourceContext,
) -> Result<Option<T>> {
    let owned = |o: &T| {
        let tags = tags_to_map(o.object_tags());
        tags.get(OWNER_ENVIRONMENT_TAG) == Some(&ctx.environment)
            && tags.get(OWNER_ADDRESS_TAG) == Some(&ctx.address)
    };
    Ok(find_all(p, address_filters(ctx))
        .await?
        .into_iter()
        .find(|o| owned(o)))
}

/// Every object carrying the environment's ownership tag.
pub(crate) async fn find_by_environment<T: Ec2Object>(
    p: &AwsProvider,
    environment: &str,
) -> Result<Vec<T>> {
    let found: Vec<T> = find_all(p, vec![environment_filter(environment)]).await?;
    Ok(found
        .into_iter()
        .filter(|o| {
            tags_to_map(o.object_tags())
                .get(OWNER_ENVIRONMENT_TAG)
                .is_some_and(|e| e == environment)
        })
        .collect())
}

/// The `read_many` shape: describe the priors by ID in batches and map each
/// found object with its prior; `None` for gone ones, in prior order.
pub(crate) async fn read_by_ids<T: Ec2Object>(
    p: &AwsProvider,
    prior: &[Value],
    to_value: impl Fn(&T, &Value) -> Value,
) -> Result<Vec<Option<Value>>> {
    let ids = prior_ids(prior);
    let found = find_by_ids::<T>(p, &ids).await?;
    Ok(prior
        .iter()
        .zip(&ids)
        .map(|(pv, id)| found.get(id).map(|o| to_value(o, pv)))
        .collect())
}

/// An EC2 resource type whose state maps one describable object. Its
/// refresh (batched by ID), crash lookup (by ownership address) and
/// unmanaged listing (by environment) then come from [`Lookups`]: the type
/// returns `Some(self)` from `ResourceType::lookups` and writes none of them.
pub(crate) trait Ec2Mapped: Send + Sync {
    type Object: Ec2Object;

    /// The state value of `object`; `prior` supplies what the API cannot
    /// tell (user `tags` versus default tags, write-only arguments).
    fn map(&self, p: &AwsProvider, object: &Self::Object, prior: Option<&Value>) -> Value;

    /// Whether a tagged object is this type's own in unmanaged listing: a
    /// VPC's main route table or default network ACL, adopted by the
    /// `aws_default_*` types and tagged by them, is not.
    fn listed_as_own(&self, _object: &Self::Object) -> bool {
        true
    }
}

/// The lookups every resource type needs besides create/update/delete.
#[async_trait]
pub(crate) trait Lookups: Send + Sync {
    /// One entry per prior, in order; `None` for gone objects.
    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>>;

    /// What the resource instance `ctx` made, by its ownership tags.
    async fn find_created(&self, p: &AwsProvider, ctx: &ResourceContext) -> Result<Option<Value>>;

    /// Everything carrying the environment's ownership tag.
    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>>;
}

#[async_trait]
impl<M: Ec2Mapped> Lookups for M {
    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        read_by_ids::<M::Object>(p, prior, |o, pv| self.map(p, o, Some(pv))).await
    }

    async fn find_created(&self, p: &AwsProvider, ctx: &ResourceContext) -> Result<Option<Value>> {
        Ok(find_by_address::<M::Object>(p, ctx)
            .await?
            .map(|o| self.map(p, &o, None)))
    }

    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        let found = find_by_environment::<M::Object>(p, environment).await?;
        Ok(found
            .iter()
            .filter(|o| self.listed_as_own(o))
            .map(|o| self.map(p, o, None))
            .collect())
    }
}

/// One object by ID, mapped; an error naming `what` when it is not there
/// (the read that ends a create or an update).
pub(crate) async fn read_mapped<M: Ec2Mapped>(
    m: &M,
    p: &AwsProvider,
    id: &str,
    prior: Option<&Value>,
    what: &str,
) -> Result<Value> {
    find_by_id::<M::Object>(p, id)
        .await?
        .map(|o| m.map(p, &o, prior))
        .ok_or_else(|| ProviderError::NotFound(format!("{what} {id} not found after writing it")))
}

/// Poll the object until `ready` says it is (`Ok(true)`), failed
/// (`Err`), or the timeout passes; gone counts as failed.
pub(crate) async fn wait_until<T: Ec2Object>(
    p: &AwsProvider,
    id: &str,
    what: &str,
    timeout: std::time::Duration,
    ready: impl Fn(&T) -> Result<bool>,
) -> Result<T> {
    let ready = &ready;
    crate::resources::wait_for(
        what,
        timeout,
        std::time::Duration::from_secs(2),
        || async move {
            match find_by_id::<T>(p, id).await? {
                Some(o) => Ok(ready(&o)?.then_some(o)),
                None => Err(ProviderError::NotFound(format!("{what}: {id} disappeared"))),
            }
        },
    )
    .await
}

/// Poll until the object is gone (deleted, or listed as deleted).
pub(crate) async fn wait_gone<T: Ec2Object>(
    p: &AwsProvider,
    id: &str,
    what: &str,
    timeout: std::time::Duration,
) -> Result<()> {
    crate::resources::wait_for(what, timeout, std::time::Duration::from_secs(2), || async {
        Ok(find_by_id::<T>(p, id).await?.is_none().then_some(()))
    })
    .await
}
