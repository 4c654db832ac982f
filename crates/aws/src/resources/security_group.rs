//! `aws_security_group` with inline `ingress` / `egress` set blocks.
//!
//! Rules are compared as "atoms" (one port range + protocol + one source):
//! updates revoke and authorize only the atoms that changed, and reads
//! regroup the atoms the API reports into the prior's rule shapes, so a
//! rule written with three CIDRs stays one rule in state.
//!
//! As in Terraform, `ingress` and `egress` are optional and computed: a
//! group with no `ingress` (`egress`) blocks leaves those rules to
//! `aws_security_group_rule` / `aws_vpc_security_group_*_rule` resources
//! (and shows them); a group with blocks owns every rule of that direction.

use super::ec2::find::{find_by_address, find_by_environment, find_by_id, read_by_ids};
use super::ec2_support::{ok_if_gone, tag_spec, tags_to_map, update_tags};
use super::{
    ResourceType, computed_block_config, computed_block_unknown, default_plan, require_id,
};
use crate::Result;
use crate::api::at_path;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{
    Obj, get_blocks, get_bool, get_i64, get_str, get_strings, opt_str, str_list, str_set,
};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType as Ec2ResourceType,
    SecurityGroup as Sg, UserIdGroupPair,
};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

pub(crate) struct SecurityGroup;

const NAME: &str = "aws_security_group";
const DEFAULT_DESCRIPTION: &str = "Managed by Terraform";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Cidr(String),
    Ipv6(String),
    PrefixList(String),
    Group(String),
    SelfRef,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Atom {
    protocol: String,
    from: i64,
    to: i64,
    source: Source,
    description: Option<String>,
}

/// Terraform's protocol normalisation: numbers of well-known protocols
/// become names, `all` becomes `-1`.
pub(super) fn normalize_protocol(p: &str) -> String {
    match p.to_ascii_lowercase().as_str() {
        "all" | "-1" => "-1".into(),
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "58" => "icmpv6".into(),
        other => other.to_string(),
    }
}

impl Atom {
    /// The same permission with no description (rules are matched on
    /// protocol, ports and source; the description is updated in place).
    pub(super) fn bare(&self) -> Atom {
        Atom {
            description: None,
            ..self.clone()
        }
    }

    pub(super) fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
}

pub(super) fn rule_atoms(rule: &Value) -> Vec<Atom> {
    let protocol = normalize_protocol(&get_str(rule, "protocol").unwrap_or_default());
    let (from, to) = if protocol == "-1" {
        (0, 0)
    } else {
        (
            get_i64(rule, "from_port").unwrap_or(0),
            get_i64(rule, "to_port").unwrap_or(0),
        )
    };
    let description = get_str(rule, "description").filter(|d| !d.is_empty());
    let mut sources: Vec<Source> = Vec::new();
    sources.extend(
        get_strings(rule, "cidr_blocks")
            .into_iter()
            .map(Source::Cidr),
    );
    sources.extend(
        get_strings(rule, "ipv6_cidr_blocks")
            .into_iter()
            .map(Source::Ipv6),
    );
    sources.extend(
        get_strings(rule, "prefix_list_ids")
            .into_iter()
            .map(Source::PrefixList),
    );
    sources.extend(
        get_strings(rule, "security_groups")
            .into_iter()
            .map(Source::Group),
    );
    if get_bool(rule, "self") == Some(true) {
        sources.push(Source::SelfRef);
    }
    sources
        .into_iter()
        .map(|source| Atom {
            protocol: protocol.clone(),
            from,
            to,
            source,
            description: description.clone(),
        })
        .collect()
}

pub(super) fn api_atoms(perms: &[IpPermission], own_id: &str) -> BTreeSet<Atom> {
    let mut out = BTreeSet::new();
    for perm in perms {
        let protocol = normalize_protocol(perm.ip_protocol().unwrap_or("-1"));
        let (from, to) = if protocol == "-1" {
            (0, 0)
        } else {
            (
                perm.from_port().unwrap_or(0) as i64,
                perm.to_port().unwrap_or(0) as i64,
            )
        };
        let mut add = |source: Source, description: Option<&str>| {
            out.insert(Atom {
                protocol: protocol.clone(),
                from,
                to,
                source,
                description: description.filter(|d| !d.is_empty()).map(str::to_string),
            });
        };
        for r in perm.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                add(Source::Cidr(c.to_string()), r.description());
            }
        }
        for r in perm.ipv6_ranges() {
            if let Some(c) = r.cidr_ipv6() {
                add(Source::Ipv6(c.to_string()), r.description());
            }
        }
        for r in perm.prefix_list_ids() {
            if let Some(c) = r.prefix_list_id() {
                add(Source::PrefixList(c.to_string()), r.description());
            }
        }
        for g in perm.user_id_group_pairs() {
            match g.group_id() {
                Some(id) if id == own_id => add(Source::SelfRef, g.description()),
                Some(id) => add(Source::Group(id.to_string()), g.description()),
                None => {}
            }
        }
    }
    out
}

pub(super) fn atom_permission(a: &Atom, own_id: &str) -> IpPermission {
    let mut b = IpPermission::builder().ip_protocol(&a.protocol);
    if a.protocol != "-1" {
        b = b.from_port(a.from as i32).to_port(a.to as i32);
    }
    let d = a.description.clone();
    match &a.source {
        Source::Cidr(c) => b.ip_ranges(IpRange::builder().cidr_ip(c).set_description(d).build()),
        Source::Ipv6(c) => {
            b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).set_description(d).build())
        }
        Source::PrefixList(c) => b.prefix_list_ids(
            PrefixListId::builder()
                .prefix_list_id(c)
                .set_description(d)
                .build(),
        ),
        Source::Group(g) => b.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(g)
                .set_description(d)
                .build(),
        ),
        Source::SelfRef => b.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(own_id)
                .set_description(d)
                .build(),
        ),
    }
    .build()
}

/// A rule value from atoms sharing protocol, ports and description.
fn rule_value(atoms: &[Atom]) -> Value {
    let first = &atoms[0];
    let pick = |f: fn(&Source) -> Option<&String>| -> Vec<String> {
        atoms.iter().filter_map(|a| f(&a.source).cloned()).collect()
    };
    let cidrs = pick(|s| {
        if let Source::Cidr(c) = s {
            Some(c)
        } else {
            None
        }
    });
    let ipv6 = pick(|s| {
        if let Source::Ipv6(c) = s {
            Some(c)
        } else {
            None
        }
    });
    let prefixes = pick(|s| {
        if let Source::PrefixList(c) = s {
            Some(c)
        } else {
            None
        }
    });
    let groups = pick(|s| {
        if let Source::Group(c) = s {
            Some(c)
        } else {
            None
        }
    });
    let list_or_null = |xs: Vec<String>| {
        if xs.is_empty() {
            Value::Null
        } else {
            str_list(xs)
        }
    };
    Value::map([
        ("protocol", Value::from(first.protocol.as_str())),
        ("from_port", Value::from(first.from)),
        ("to_port", Value::from(first.to)),
        ("cidr_blocks", list_or_null(cidrs)),
        ("ipv6_cidr_blocks", list_or_null(ipv6)),
        ("prefix_list_ids", list_or_null(prefixes)),
        (
            "security_groups",
            if groups.is_empty() {
                Value::Null
            } else {
                str_set(groups)
            },
        ),
        (
            "self",
            Value::Bool(atoms.iter().any(|a| a.source == Source::SelfRef)),
        ),
        ("description", opt_str(first.description.as_deref())),
    ])
}

/// Regroup the API's atoms into rules, reusing the prior's rule shapes.
fn regroup(mut actual: BTreeSet<Atom>, prior_rules: &[Value]) -> Value {
    let mut rules = Vec::new();
    for rule in prior_rules {
        let atoms = rule_atoms(rule);
        if !atoms.is_empty() && atoms.iter().all(|a| actual.contains(a)) {
            for a in &atoms {
                actual.remove(a);
            }
            rules.push(rule.clone());
        }
    }
    let mut groups: BTreeMap<(String, i64, i64, Option<String>), Vec<Atom>> = BTreeMap::new();
    for a in actual {
        groups
            .entry((a.protocol.clone(), a.from, a.to, a.description.clone()))
            .or_default()
            .push(a);
    }
    rules.extend(groups.values().map(|atoms| rule_value(atoms)));
    Value::set(rules)
}

fn rule_schema() -> Schema {
    Schema::new()
        .attrs(
            &["from_port", "to_port"],
            Attribute::required(AttrType::Number),
        )
        .attr("protocol", Attribute::required(AttrType::String))
        .attrs(
            &["cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids"],
            Attribute::optional(AttrType::list_of(AttrType::String)),
        )
        .attr(
            "security_groups",
            Attribute::optional(AttrType::set_of(AttrType::String)),
        )
        .attr("self", Attribute::optional(AttrType::Bool).default(false))
        .attr("description", Attribute::optional(AttrType::String))
}

pub(super) fn all_atoms(v: &Value, key: &str) -> BTreeSet<Atom> {
    get_blocks(v, key).iter().flat_map(rule_atoms).collect()
}

impl SecurityGroup {
    pub(super) fn to_value(&self, p: &AwsProvider, g: &Sg, prior: Option<&Value>) -> Value {
        let id = g.group_id().unwrap_or_default();
        let owner = g.owner_id().unwrap_or_default();
        let arn = g
            .security_group_arn()
            .map(str::to_string)
            .unwrap_or_else(|| p.arn("ec2", owner, &format!("security-group/{id}")));
        let prior_rules = |k: &str| {
            prior
                .map(|pv| get_blocks(pv, k).to_vec())
                .unwrap_or_default()
        };
        let (tags, tags_all) = tags_from_api(&tags_to_map(g.tags()), prior, &p.default_tags);
        Obj::new(&p.resource_schema(NAME))
            .keep(prior, &["name_prefix", "revoke_rules_on_delete"])
            .set("id", id)
            .set("arn", arn)
            .set_opt_str("name", g.group_name())
            .set_opt_str("description", g.description())
            .set_opt_str("vpc_id", g.vpc_id())
            .set("owner_id", owner)
            .set(
                "ingress",
                regroup(api_atoms(g.ip_permissions(), id), &prior_rules("ingress")),
            )
            .set(
                "egress",
                regroup(
                    api_atoms(g.ip_permissions_egress(), id),
                    &prior_rules("egress"),
                ),
            )
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }

    pub(super) fn to_value_fresh(&self, p: &AwsProvider, g: &Sg) -> Value {
        let mut v = self.to_value(p, g, None);
        if let Some(m) = v.as_map_mut() {
            m.insert("revoke_rules_on_delete".into(), Value::Bool(false));
        }
        v
    }

    async fn read_one(
        &self,
        p: &AwsProvider,
        id: &str,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let found = find_by_id::<Sg>(p, id).await?;
        Ok(found.map(|g| self.to_value(p, &g, prior)))
    }

    pub(super) async fn change_rules(
        &self,
        p: &AwsProvider,
        id: &str,
        egress: bool,
        revoke: &BTreeSet<Atom>,
        authorize: &BTreeSet<Atom>,
    ) -> Result<()> {
        let perms = |atoms: &BTreeSet<Atom>| {
            atoms
                .iter()
                .map(|a| atom_permission(a, id))
                .collect::<Vec<_>>()
        };
        if !revoke.is_empty() {
            let ps = perms(revoke);
            let r = if egress {
                p.call("ec2:RevokeSecurityGroupEgress", || {
                    p.ec2
                        .revoke_security_group_egress()
                        .group_id(id)
                        .set_ip_permissions(Some(ps.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            } else {
                p.call("ec2:RevokeSecurityGroupIngress", || {
                    p.ec2
                        .revoke_security_group_ingress()
                        .group_id(id)
                        .set_ip_permissions(Some(ps.clone()))
                        .send()
                })
                .await
                .map(|_| ())
            };
            match r {
                Err(ProviderError::Api { code, .. }) if code == "InvalidPermission.NotFound" => {}
                other => other?,
            }
        }
        if !authorize.is_empty() {
            let ps = perms(authorize);
            let key = if egress { "egress" } else { "ingress" };
            if egress {
                p.call("ec2:AuthorizeSecurityGroupEgress", || {
                    p.ec2
                        .authorize_security_group_egress()
                        .group_id(id)
                        .set_ip_permissions(Some(ps.clone()))
                        .send()
                })
                .await
                .map_err(|e| at_path(e, key))?;
            } else {
                p.call("ec2:AuthorizeSecurityGroupIngress", || {
                    p.ec2
                        .authorize_security_group_ingress()
                        .group_id(id)
                        .set_ip_permissions(Some(ps.clone()))
                        .send()
                })
                .await
                .map_err(|e| at_path(e, key))?;
            }
        }
        Ok(())
    }
}

/// Normalise protocols of planned rules, as reads report them.
fn normalize_rules(rules: &Value) -> Value {
    let Some(items) = rules.as_list() else {
        return rules.clone();
    };
    Value::set(
        items
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if let Some(m) = r.as_map_mut()
                    && let Some(proto) = m
                        .get("protocol")
                        .and_then(Value::as_str)
                        .map(normalize_protocol)
                {
                    m.insert("protocol".into(), Value::from(proto));
                }
                r
            })
            .collect(),
    )
}

/// Plan by schema, with the rules' protocols as reads report them.
pub(super) fn plan_rules(
    p: &AwsProvider,
    type_name: &str,
    prior: Option<&Value>,
    config: &Value,
    ctx: &ResourceContext,
) -> PlannedResource {
    let mut planned = default_plan(p, &p.resource_schema(type_name), prior, config, ctx);
    if let Some(m) = planned.planned.as_map_mut() {
        for key in ["ingress", "egress"] {
            if let Some(rules) = m.get(key).map(normalize_rules) {
                m.insert(key.into(), rules);
            }
        }
    }
    planned
}

/// A VPC's default group (`aws_default_security_group` adopts it; it is
/// never an unmanaged `aws_security_group`).
pub(super) fn is_default_group(g: &Sg) -> bool {
    g.group_name() == Some("default")
}

#[async_trait]
impl ResourceType for SecurityGroup {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "arn", "owner_id"],
                Attribute::computed(AttrType::String),
            )
            .attrs(
                &["name", "vpc_id"],
                Attribute::optional_computed(AttrType::String).force_new(),
            )
            .attr(
                "name_prefix",
                Attribute::optional(AttrType::String).force_new(),
            )
            .attr(
                "description",
                Attribute::optional(AttrType::String)
                    .force_new()
                    .default(DEFAULT_DESCRIPTION),
            )
            .attr(
                "revoke_rules_on_delete",
                Attribute::optional(AttrType::Bool).default(false),
            )
            .set_block("ingress", rule_schema())
            .set_block("egress", rule_schema())
            .tagged()
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let config = computed_block_config(config, prior, "ingress");
        let config = computed_block_config(&config, prior, "egress");
        let mut planned = plan_rules(p, NAME, prior, &config, ctx);
        if prior.is_none() {
            computed_block_unknown(&mut planned, &config, "ingress");
            computed_block_unknown(&mut planned, &config, "egress");
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        read_by_ids::<Sg>(p, prior, |g, pv| self.to_value(p, g, Some(pv))).await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        Ok(find_by_id::<Sg>(p, id)
            .await?
            .map(|g| self.to_value_fresh(p, &g)))
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let name = get_str(planned, "name").unwrap_or_else(|| {
            let prefix =
                get_str(planned, "name_prefix").unwrap_or_else(|| "terraform-".to_string());
            let suffix: String = (0..26)
                .map(|_| format!("{:x}", rand::thread_rng().gen_range(0..16u8)))
                .collect();
            format!("{prefix}{suffix}")
        });
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let out = p
            .call("ec2:CreateSecurityGroup", || {
                p.ec2
                    .create_security_group()
                    .group_name(&name)
                    .description(
                        get_str(planned, "description")
                            .unwrap_or_else(|| DEFAULT_DESCRIPTION.to_string()),
                    )
                    .set_vpc_id(get_str(planned, "vpc_id"))
                    .tag_specifications(tag_spec(Ec2ResourceType::SecurityGroup, &tags))
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "name"))?;
        let id = out.group_id().unwrap_or_default().to_string();
        // Like Terraform, remove AWS's default allow-all egress rule; the
        // configuration says which egress rules exist.
        let created = find_by_id::<Sg>(p, &id).await?;
        let default_egress = created
            .as_ref()
            .map(|g| api_atoms(g.ip_permissions_egress(), &id))
            .unwrap_or_default();
        let want_egress = all_atoms(planned, "egress");
        let revoke: BTreeSet<Atom> = default_egress.difference(&want_egress).cloned().collect();
        let add_egress: BTreeSet<Atom> = want_egress.difference(&default_egress).cloned().collect();
        self.change_rules(p, &id, true, &revoke, &add_egress)
            .await?;
        self.change_rules(
            p,
            &id,
            false,
            &BTreeSet::new(),
            &all_atoms(planned, "ingress"),
        )
        .await?;
        let mut planned_named = planned.clone();
        if let Some(m) = planned_named.as_map_mut() {
            m.insert("name".into(), Value::from(name.as_str()));
        }
        self.read_one(p, &id, Some(&planned_named))
            .await?
            .ok_or_else(|| {
                ProviderError::NotFound(format!("security group {id} not found after create"))
            })
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let id = require_id(NAME, prior)?;
        for (key, egress) in [("ingress", false), ("egress", true)] {
            let old = all_atoms(prior, key);
            let new = all_atoms(planned, key);
            let revoke = old.difference(&new).cloned().collect();
            let add = new.difference(&old).cloned().collect();
            self.change_rules(p, &id, egress, &revoke, &add).await?;
        }
        update_tags(p, &id, prior, planned).await?;
        self.read_one(p, &id, Some(planned)).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("security group {id} disappeared during update"))
        })
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        if get_bool(prior, "revoke_rules_on_delete") == Some(true) {
            for (key, egress) in [("ingress", false), ("egress", true)] {
                self.change_rules(p, &id, egress, &all_atoms(prior, key), &BTreeSet::new())
                    .await?;
            }
        }
        ok_if_gone(
            p.call("ec2:DeleteSecurityGroup", || {
                p.ec2.delete_security_group().group_id(&id).send()
            })
            .await,
        )
    }

    async fn find_created(
        &self,
        p: &AwsProvider,
        _token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>> {
        Ok(find_by_address::<Sg>(p, ctx)
            .await?
            .map(|g| self.to_value_fresh(p, &g)))
    }

    async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
        let found = find_by_environment::<Sg>(p, environment).await?;
        Ok(found
            .iter()
            .filter(|g| !is_default_group(g))
            .map(|g| self.to_value_fresh(p, g))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regroup_keeps_prior_rule_shapes() {
        let rule = Value::map([
            ("protocol", Value::from("tcp")),
            ("from_port", Value::from(443)),
            ("to_port", Value::from(443)),
            ("cidr_blocks", str_list(["10.0.0.0/8", "192.168.0.0/16"])),
            ("ipv6_cidr_blocks", Value::Null),
            ("prefix_list_ids", Value::Null),
            ("security_groups", Value::Null),
            ("self", Value::Bool(false)),
            ("description", Value::Null),
        ]);
        let mut atoms: BTreeSet<Atom> = rule_atoms(&rule).into_iter().collect();
        assert_eq!(atoms.len(), 2);
        assert_eq!(
            regroup(atoms.clone(), std::slice::from_ref(&rule)),
            Value::set(vec![rule.clone()])
        );
        // An extra atom added outside terrace shows as an extra rule.
        atoms.insert(Atom {
            protocol: "tcp".into(),
            from: 22,
            to: 22,
            source: Source::Cidr("1.2.3.4/32".into()),
            description: None,
        });
        let regrouped = regroup(atoms, std::slice::from_ref(&rule));
        assert_eq!(regrouped.as_list().unwrap().len(), 2);
    }

    #[test]
    fn protocols_are_normalised() {
        assert_eq!(normalize_protocol("6"), "tcp");
        assert_eq!(normalize_protocol("all"), "-1");
        assert_eq!(normalize_protocol("UDP"), "udp");
    }
}
