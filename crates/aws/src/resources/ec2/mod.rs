//! Shapes shared by the EC2 resource types, one small module per shape
//! (as terraform-provider-aws keeps `find*`, `wait*` and tag helpers apart
//! from each resource):
//!
//! - [`find`]: every describable EC2 object type declares its `Describe*`
//!   call once ([`find::Ec2Object`]); lookups by ID (batched and paged), by
//!   ownership address and by environment are generic over it, so a new
//!   type's `read_many`, `find_created` and `list_owned` are one line each.
//! - filters, tags on create (`TagSpecifications`), tag updates and paging
//!   primitives stay in [`super::ec2_support`].
//!
//! A new EC2 type is then its schema, its `to_value` mapping, its
//! create/update/delete calls and one `describable!` line in [`find`].

pub(crate) mod customer_gateway;
pub(crate) mod dhcp_options;
pub(crate) mod egress_only_internet_gateway;
pub(crate) mod eip;
pub(crate) mod find;
pub(crate) mod nat_gateway;
pub(crate) mod network_acl;
pub(crate) mod network_acl_rule;
pub(crate) mod route;
pub(crate) mod route_table_association;
pub(crate) mod routes;
pub(crate) mod vpc_cidr_association;
pub(crate) mod vpn_gateway;
