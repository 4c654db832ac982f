//! `aws_network_acl` and `aws_default_network_acl`, and the ACL entry
//! shape they share with `aws_network_acl_rule`. Inline `ingress` /
//! `egress` rules are attributes-as-blocks as in Terraform: on
//! `aws_network_acl` no blocks leave the rules to `aws_network_acl_rule`
//! (and show them), on `aws_default_network_acl` no blocks mean no rules.
//! `subnet_ids` moves subnets onto the ACL (and, removed or destroyed,
//! back to the VPC's default ACL). The default ACL is adopted, not
//! created, and destroying it only forgets it. Both import by ACL ID.

use super::find::{Ec2Mapped, Lookups, find_all, find_by_id, read_mapped};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::ec2_support::{filter, ok_if_gone, tag_spec, tags_to_map, update_tags};
use crate::resources::{
    ResourceType, computed_block_config, computed_block_unknown, default_plan, require_id,
};
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_blocks, get_i64, get_str, get_strings, str_map_value, str_set};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    IcmpTypeCode, NetworkAcl as Acl, NetworkAclEntry, PortRange, ResourceType as Ec2ResourceType,
    RuleAction,
};
use std::collections::{BTreeMap, BTreeSet};
use terrace_core::{PathStep, Value};
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

/// The rule number of the default deny-all entries AWS keeps.
const DEFAULT_DENY: i32 = 32767;

/// The protocol number of a protocol name or number (`-1` for `all`).
pub(crate) fn protocol_number(p: &str) -> String {
    match p.to_ascii_lowercase().as_str() {
        "all" | "-1" => "-1".into(),
        "icmp" => "1".into(),
        "tcp" => "6".into(),
        "udp" => "17".into(),
        "icmpv6" | "ipv6-icmp" => "58".into(),
        other => other.into(),
    }
}

/// `config` with each `ingress`/`egress` entry that equals one of `prior`
/// but for the spelling of the same protocol (`tcp` and `6`) spelled as in
/// `prior`, so that an imported ACL (whose API spells protocols as numbers)
/// plans no change against a configuration that names them.
fn prior_protocol_spelling(config: &Value, prior: Option<&Value>) -> Value {
    let Some(prior) = prior else {
        return config.clone();
    };
    let same_but_spelling = |c: &Value, q: &Value| {
        let (Some(cm), Some(qm)) = (c.as_map(), q.as_map()) else {
            return false;
        };
        let protocol = |m: &BTreeMap<String, Value>| {
            m.get("protocol")
                .and_then(Value::as_str)
                .map(protocol_number)
        };
        // An argument left out of the configuration is null.
        let get = |m: &BTreeMap<String, Value>, k: &str| m.get(k).cloned().unwrap_or(Value::Null);
        protocol(cm) == protocol(qm)
            && cm
                .keys()
                .chain(qm.keys())
                .all(|k| k == "protocol" || get(cm, k) == get(qm, k))
    };
    let mut config = config.clone();
    for key in ["ingress", "egress"] {
        let (Some(entries), Some(old)) = (
            config.get(key).and_then(Value::as_list),
            prior.get(key).and_then(Value::as_list),
        ) else {
            continue;
        };
        let respelled: Vec<Value> = entries
            .iter()
            .map(|c| {
                old.iter()
                    .find(|q| same_but_spelling(c, q))
                    .unwrap_or(c)
                    .clone()
            })
            .collect();
        let respelled = match config.get(key) {
            Some(Value::List(_)) => Value::List(respelled),
            _ => Value::set(respelled),
        };
        if let Some(m) = config.as_map_mut() {
            m.insert(key.to_string(), respelled);
        }
    }
    config
}

/// One ACL entry, keyed by direction and rule number.
#[derive(Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) egress: bool,
    pub(crate) number: i64,
    pub(crate) protocol: String,
    pub(crate) action: String,
    pub(crate) cidr: Option<String>,
    pub(crate) ipv6_cidr: Option<String>,
    pub(crate) from_port: Option<i64>,
    pub(crate) to_port: Option<i64>,
    pub(crate) icmp_type: Option<i64>,
    pub(crate) icmp_code: Option<i64>,
}

/// The names an entry's number and action have in a state value
/// (`rule_no`/`action` inline, `rule_number`/`rule_action` for rules).
pub(crate) struct EntryKeys {
    pub(crate) number: &'static str,
    pub(crate) action: &'static str,
}

pub(crate) const INLINE: EntryKeys = EntryKeys {
    number: "rule_no",
    action: "action",
};

impl Entry {
    pub(crate) fn from_value(v: &Value, egress: bool, keys: &EntryKeys) -> Self {
        Entry {
            egress,
            number: get_i64(v, keys.number).unwrap_or_default(),
            protocol: get_str(v, "protocol").unwrap_or_default(),
            action: get_str(v, keys.action).unwrap_or_default(),
            cidr: get_str(v, "cidr_block"),
            ipv6_cidr: get_str(v, "ipv6_cidr_block"),
            from_port: get_i64(v, "from_port"),
            to_port: get_i64(v, "to_port"),
            icmp_type: get_i64(v, "icmp_type"),
            icmp_code: get_i64(v, "icmp_code"),
        }
    }

    /// `protocol` keeps the spelling of `spelled` when it is the same
    /// protocol (`tcp` and `6`).
    pub(crate) fn from_api(e: &NetworkAclEntry, spelled: Option<&str>) -> Self {
        let api = e.protocol().unwrap_or_default();
        let protocol = spelled
            .filter(|s| protocol_number(s) == protocol_number(api))
            .unwrap_or(api)
            .to_string();
        let n = |x: Option<i32>| x.map(i64::from);
        Entry {
            egress: e.egress().unwrap_or(false),
            number: i64::from(e.rule_number().unwrap_or_default()),
            protocol,
            action: e
                .rule_action()
                .map(|a| a.as_str().to_string())
                .unwrap_or_default(),
            cidr: e.cidr_block().map(str::to_string),
            ipv6_cidr: e.ipv6_cidr_block().map(str::to_string),
            from_port: n(e.port_range().and_then(|r| r.from())),
            to_port: n(e.port_range().and_then(|r| r.to())),
            icmp_type: n(e.icmp_type_code().and_then(|i| i.r#type())),
            icmp_code: n(e.icmp_type_code().and_then(|i| i.code())),
        }
    }

    pub(crate) fn attributes(&self, keys: &EntryKeys) -> Vec<(&'static str, Value)> {
        let s = |x: &Option<String>| x.as_deref().map_or(Value::Null, Value::from);
        let n = |x: Option<i64>| x.map_or(Value::Null, Value::from);
        vec![
            (keys.number, Value::from(self.number)),
            ("protocol", Value::from(self.protocol.as_str())),
            (keys.action, Value::from(self.action.as_str())),
            ("cidr_block", s(&self.cidr)),
            ("ipv6_cidr_block", s(&self.ipv6_cidr)),
            ("from_port", n(self.from_port)),
            ("to_port", n(self.to_port)),
            ("icmp_type", n(self.icmp_type)),
            ("icmp_code", n(self.icmp_code)),
        ]
    }

    /// Create (or, `replace`, overwrite) the entry in `acl`.
    pub(crate) async fn put(&self, p: &AwsProvider, acl: &str, replace: bool) -> Result<()> {
        let int = |x: Option<i64>| x.and_then(|n| i32::try_from(n).ok());
        let ports = (self.from_port.is_some() || self.to_port.is_some()).then(|| {
            PortRange::builder()
                .set_from(int(self.from_port))
                .set_to(int(self.to_port))
                .build()
        });
        let icmp = (self.icmp_type.is_some() || self.icmp_code.is_some()).then(|| {
            IcmpTypeCode::builder()
                .set_type(int(self.icmp_type))
                .set_code(int(self.icmp_code))
                .build()
        });
        let number = int(Some(self.number)).unwrap_or_default();
        let protocol = protocol_number(&self.protocol);
        let action = RuleAction::from(self.action.as_str());
        macro_rules! send {
            ($op:literal, $call:ident) => {
                p.call($op, || {
                    p.ec2
                        .$call()
                        .network_acl_id(acl)
                        .rule_number(number)
                        .egress(self.egress)
                        .protocol(&protocol)
                        .rule_action(action.clone())
                        .set_cidr_block(self.cidr.clone())
                        .set_ipv6_cidr_block(self.ipv6_cidr.clone())
                        .set_port_range(ports.clone())
                        .set_icmp_type_code(icmp.clone())
                        .send()
                })
                .await
                .map(|_| ())
            };
        }
        if replace {
            send!("ec2:ReplaceNetworkAclEntry", replace_network_acl_entry)
        } else {
            send!("ec2:CreateNetworkAclEntry", create_network_acl_entry)
        }
    }

    pub(crate) async fn delete(&self, p: &AwsProvider, acl: &str) -> Result<()> {
        ok_if_gone(
            p.call("ec2:DeleteNetworkAclEntry", || {
                p.ec2
                    .delete_network_acl_entry()
                    .network_acl_id(acl)
                    .rule_number(self.number as i32)
                    .egress(self.egress)
                    .send()
            })
            .await,
        )
    }
}

/// The inline entries of a state or planned value.
fn entries_of(v: &Value) -> Vec<Entry> {
    [("ingress", false), ("egress", true)]
        .iter()
        .flat_map(|(k, egress)| {
            get_blocks(v, k)
                .iter()
                .map(move |e| Entry::from_value(e, *egress, &INLINE))
        })
        .collect()
}

/// Bring the ACL's entries from `old` to `new`, keyed by direction and
/// rule number.
async fn sync_entries(p: &AwsProvider, acl: &str, old: &[Entry], new: &[Entry]) -> Result<()> {
    let key = |e: &Entry| (e.egress, e.number);
    let old: BTreeMap<_, &Entry> = old.iter().map(|e| (key(e), e)).collect();
    let new: BTreeMap<_, &Entry> = new.iter().map(|e| (key(e), e)).collect();
    for (k, e) in &old {
        if !new.contains_key(k) {
            e.delete(p, acl).await?;
        }
    }
    for (k, e) in &new {
        match old.get(k) {
            None => e.put(p, acl, false).await?,
            Some(o) if o != e => e.put(p, acl, true).await?,
            Some(_) => {}
        }
    }
    Ok(())
}

/// The ACL's entries as AWS has them (without the default deny-all).
fn api_entries(acl: &Acl) -> Vec<Entry> {
    acl.entries()
        .iter()
        .filter(|e| e.rule_number() != Some(DEFAULT_DENY))
        .map(|e| Entry::from_api(e, None))
        .collect()
}

/// Move `subnets` onto `target`, from whatever ACL they are on now.
async fn move_subnets(p: &AwsProvider, vpc: &str, subnets: &[String], target: &str) -> Result<()> {
    if subnets.is_empty() {
        return Ok(());
    }
    let acls = find_all::<Acl>(p, vec![filter("vpc-id", [vpc])]).await?;
    for subnet in subnets {
        let Some(assoc) = acls
            .iter()
            .flat_map(|a| a.associations())
            .find(|a| a.subnet_id() == Some(subnet.as_str()))
            .and_then(|a| a.network_acl_association_id())
        else {
            continue;
        };
        p.call("ec2:ReplaceNetworkAclAssociation", || {
            p.ec2
                .replace_network_acl_association()
                .association_id(assoc)
                .network_acl_id(target)
                .send()
        })
        .await?;
    }
    Ok(())
}

async fn default_acl_of(p: &AwsProvider, vpc: &str) -> Result<Option<String>> {
    let found = find_all::<Acl>(
        p,
        vec![filter("vpc-id", [vpc]), filter("default", ["true"])],
    )
    .await?;
    Ok(found
        .iter()
        .find(|a| a.is_default() == Some(true))
        .and_then(|a| a.network_acl_id().map(str::to_string)))
}

/// The state of an ACL under `type_name`'s schema.
fn acl_value(p: &AwsProvider, type_name: &str, a: &Acl, prior: Option<&Value>) -> Value {
    let id = a.network_acl_id().unwrap_or_default();
    let owner = a.owner_id().unwrap_or_default();
    let (tags, tags_all) = tags_from_api(&tags_to_map(a.tags()), prior, &p.default_tags);
    let spelled: BTreeMap<(bool, i64), String> = prior
        .map(entries_of)
        .unwrap_or_default()
        .into_iter()
        .map(|e| ((e.egress, e.number), e.protocol))
        .collect();
    let mut rules: [Vec<Value>; 2] = [Vec::new(), Vec::new()];
    for e in a.entries() {
        if e.rule_number() == Some(DEFAULT_DENY) {
            continue;
        }
        let k = (
            e.egress().unwrap_or(false),
            i64::from(e.rule_number().unwrap_or_default()),
        );
        let entry = Entry::from_api(e, spelled.get(&k).map(String::as_str));
        rules[usize::from(entry.egress)].push(Value::map(entry.attributes(&INLINE)));
    }
    let [ingress, egress] = rules;
    Obj::new(&p.resource_schema(type_name))
        .set("id", id)
        .set("arn", p.arn("ec2", owner, &format!("network-acl/{id}")))
        .set("owner_id", owner)
        .set_opt_str("vpc_id", a.vpc_id())
        .set(
            "subnet_ids",
            str_set(a.associations().iter().filter_map(|s| s.subnet_id())),
        )
        .set("ingress", Value::set(ingress))
        .set("egress", Value::set(egress))
        .set("tags", tags)
        .set("tags_all", tags_all)
        .build()
}

fn entry_schema() -> Schema {
    let s = Schema::new().attrs(
        &["from_port", "to_port", "rule_no"],
        Attribute::required(AttrType::Number),
    );
    let s = s.attrs(
        &["action", "protocol"],
        Attribute::required(AttrType::String),
    );
    let s = s.attrs(
        &["cidr_block", "ipv6_cidr_block"],
        Attribute::optional(AttrType::String),
    );
    s.attrs(
        &["icmp_type", "icmp_code"],
        Attribute::optional(AttrType::Number),
    )
}

fn acl_schema(id_attr: (&str, Attribute)) -> Schema {
    Schema::new()
        .attrs(
            &["id", "arn", "owner_id"],
            Attribute::computed(AttrType::String),
        )
        .attr(id_attr.0, id_attr.1)
        .attr(
            "subnet_ids",
            Attribute::optional_computed(AttrType::set_of(AttrType::String)),
        )
        .set_block("ingress", entry_schema())
        .set_block("egress", entry_schema())
        .tagged()
}

/// Subnets to move onto the ACL and back to the default one.
fn subnet_changes(prior: Option<&Value>, planned: &Value) -> Option<(Vec<String>, Vec<String>)> {
    if !planned
        .get("subnet_ids")
        .is_some_and(Value::is_wholly_known)
    {
        return None;
    }
    let old: BTreeSet<String> = prior
        .map(|pv| get_strings(pv, "subnet_ids"))
        .unwrap_or_default()
        .into_iter()
        .collect();
    let new: BTreeSet<String> = get_strings(planned, "subnet_ids").into_iter().collect();
    Some((
        new.difference(&old).cloned().collect(),
        old.difference(&new).cloned().collect(),
    ))
}

pub(crate) struct NetworkAcl;

const NAME: &str = "aws_network_acl";

impl Ec2Mapped for NetworkAcl {
    type Object = Acl;

    fn map(&self, p: &AwsProvider, a: &Acl, prior: Option<&Value>) -> Value {
        acl_value(p, NAME, a, prior)
    }

    fn listed_as_own(&self, a: &Acl) -> bool {
        a.is_default() != Some(true)
    }
}

#[async_trait]
impl ResourceType for NetworkAcl {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        acl_schema(("vpc_id", Attribute::required(AttrType::String).force_new()))
    }

    /// `ingress`/`egress` are optional and computed: no blocks leave the
    /// rules to `aws_network_acl_rule`.
    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let mut cfg = prior_protocol_spelling(config, prior);
        for k in ["ingress", "egress"] {
            cfg = computed_block_config(&cfg, prior, k);
        }
        let mut planned = default_plan(p, &p.resource_schema(NAME), prior, &cfg, ctx);
        if prior.is_none() {
            for k in ["ingress", "egress"] {
                computed_block_unknown(&mut planned, config, k);
            }
        }
        Ok(planned)
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let vpc = get_str(planned, "vpc_id").unwrap_or_default();
        let out = p
            .call("ec2:CreateNetworkAcl", || {
                p.ec2
                    .create_network_acl()
                    .vpc_id(&vpc)
                    .tag_specifications(tag_spec(Ec2ResourceType::NetworkAcl, &tags))
                    .send()
            })
            .await?;
        let id = out
            .network_acl()
            .and_then(|a| a.network_acl_id())
            .unwrap_or_default()
            .to_string();
        let made = Value::map([("id", Value::from(id.clone()))]);
        let rest = async {
            let known: Vec<Entry> = entries_of(planned);
            sync_entries(p, &id, &[], &known).await?;
            if let Some((add, _)) = subnet_changes(None, planned) {
                move_subnets(p, &vpc, &add, &id).await?;
            }
            read_mapped(self, p, &id, Some(planned), "network ACL").await
        };
        rest.await
            .map_err(|e| crate::resources::partially_created(&made, e))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let id = require_id(NAME, prior)?;
        let vpc = get_str(prior, "vpc_id").unwrap_or_default();
        sync_entries(p, &id, &entries_of(prior), &entries_of(planned)).await?;
        if let Some((add, remove)) = subnet_changes(Some(prior), planned) {
            move_subnets(p, &vpc, &add, &id).await?;
            if !remove.is_empty()
                && let Some(default) = default_acl_of(p, &vpc).await?
            {
                move_subnets(p, &vpc, &remove, &default).await?;
            }
        }
        update_tags(p, &id, prior, planned).await?;
        read_mapped(self, p, &id, Some(planned), "network ACL").await
    }

    /// Subnets go back to the VPC's default ACL first, as in Terraform.
    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        if let Some(acl) = find_by_id::<Acl>(p, &id).await? {
            let vpc = acl.vpc_id().unwrap_or_default().to_string();
            let subnets: Vec<String> = acl
                .associations()
                .iter()
                .filter_map(|a| a.subnet_id().map(str::to_string))
                .collect();
            if !subnets.is_empty()
                && let Some(default) = default_acl_of(p, &vpc).await?
            {
                move_subnets(p, &vpc, &subnets, &default).await?;
            }
        }
        ok_if_gone(
            p.call("ec2:DeleteNetworkAcl", || {
                p.ec2.delete_network_acl().network_acl_id(&id).send()
            })
            .await,
        )
    }
}

pub(crate) struct DefaultNetworkAcl;

const DEFAULT_NAME: &str = "aws_default_network_acl";

fn default_value(p: &AwsProvider, a: &Acl, prior: Option<&Value>) -> Value {
    let mut v = acl_value(p, DEFAULT_NAME, a, prior);
    if let Some(m) = v.as_map_mut() {
        m.insert(
            "default_network_acl_id".into(),
            a.network_acl_id().map_or(Value::Null, Value::from),
        );
    }
    v
}

#[async_trait]
impl ResourceType for DefaultNetworkAcl {
    fn name(&self) -> &'static str {
        DEFAULT_NAME
    }

    fn schema(&self) -> Schema {
        acl_schema((
            "default_network_acl_id",
            Attribute::required(AttrType::String).force_new(),
        ))
        .attr("vpc_id", Attribute::computed(AttrType::String))
    }

    /// Protocols spelled as in state when they are the configured ones.
    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        Ok(default_plan(
            p,
            &p.resource_schema(DEFAULT_NAME),
            prior,
            &prior_protocol_spelling(config, prior),
            ctx,
        ))
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        super::find::read_by_ids::<Acl>(p, prior, |a, pv| default_value(p, a, Some(pv))).await
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        Ok(find_by_id::<Acl>(p, id)
            .await?
            .filter(|a| a.is_default() == Some(true))
            .map(|a| default_value(p, &a, None)))
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        let id = get_str(planned, "default_network_acl_id").unwrap_or_default();
        let missing = || ProviderError::InvalidArgument {
            path: Some(vec![PathStep::Key("default_network_acl_id".into())]),
            code: "InvalidNetworkAclID.NotFound".into(),
            message: format!(
                "no default network ACL {id} found (use the VPC's default_network_acl_id)"
            ),
        };
        let acl = find_by_id::<Acl>(p, &id)
            .await?
            .filter(|a| a.is_default() == Some(true))
            .ok_or_else(missing)?;
        // Its rules become exactly the configured ones.
        sync_entries(p, &id, &api_entries(&acl), &entries_of(planned)).await?;
        if let Some((add, _)) = subnet_changes(None, planned) {
            move_subnets(p, acl.vpc_id().unwrap_or_default(), &add, &id).await?;
        }
        let has = Value::map([("tags_all", str_map_value(&tags_to_map(acl.tags())))]);
        update_tags(p, &id, &has, planned).await?;
        let acl = find_by_id::<Acl>(p, &id).await?.ok_or_else(missing)?;
        Ok(default_value(p, &acl, Some(planned)))
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let id = require_id(DEFAULT_NAME, prior)?;
        sync_entries(p, &id, &entries_of(prior), &entries_of(planned)).await?;
        if let Some((add, _)) = subnet_changes(Some(prior), planned) {
            let vpc = get_str(prior, "vpc_id").unwrap_or_default();
            move_subnets(p, &vpc, &add, &id).await?;
        }
        update_tags(p, &id, prior, planned).await?;
        let acl = find_by_id::<Acl>(p, &id).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("network ACL {id} disappeared during update"))
        })?;
        Ok(default_value(p, &acl, Some(planned)))
    }

    /// The default ACL cannot be deleted: it is only forgotten.
    async fn delete(&self, _p: &AwsProvider, prior: &Value) -> Result<()> {
        require_id(DEFAULT_NAME, prior).map(|_| ())
    }

    fn adopts(&self) -> bool {
        true
    }
}
