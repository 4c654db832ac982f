//! Security-group rules as resources of their own, in both styles:
//!
//! - `aws_security_group_rule`: one rule that may have several sources
//!   (CIDRs, IPv6 CIDRs, prefix lists, one source group or `self`). It has
//!   no AWS ID of its own: its `id` is derived from its content, as
//!   Terraform's `sgrule-<hash>`, and reads check that every permission it
//!   stands for is still on the group (one batched `DescribeSecurityGroups`
//!   per refresh).
//! - `aws_vpc_security_group_ingress_rule` / `_egress_rule`: one AWS
//!   security-group rule (`sgr-…`) with one source, tags, and in-place
//!   updates through `ModifySecurityGroupRules`; the shared EC2 lookups
//!   (`DescribeSecurityGroupRules`) serve refresh, crash recovery and
//!   unmanaged detection.
//!
//! With inline `ingress`/`egress` blocks on the same group both manage the
//! same permissions and fight, as Terraform documents: a group whose rules
//! live in these resources declares no blocks of that direction.

use super::ec2::find::{Ec2Mapped, Lookups, find_by_ids, read_mapped};
use super::ec2_support::{ok_if_gone, tag_spec, tags_to_map, update_tags};
use super::security_group::{Atom, SecurityGroup, api_atoms, normalize_protocol, rule_atoms};
use super::{ResourceType, bad_import_id, default_plan, require_id};
use crate::Result;
use crate::api::at_path;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_bool, get_i64, get_str, get_strings, opt_str, str_list};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType as Ec2ResourceType,
    SecurityGroup as Sg, SecurityGroupRule as Sgr, SecurityGroupRuleRequest,
    SecurityGroupRuleUpdate, UserIdGroupPair,
};
use std::collections::BTreeSet;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ResourceContext, Schema,
};

// ---------------------------------------------------------------------------
// aws_security_group_rule
// ---------------------------------------------------------------------------

pub(crate) struct SecurityGroupRule;

const RULE: &str = "aws_security_group_rule";

/// The rule as the inline-rule shape [`rule_atoms`] reads.
fn as_inline(v: &Value) -> Value {
    let mut groups = Vec::new();
    if let Some(g) = get_str(v, "source_security_group_id") {
        groups.push(Value::from(g));
    }
    Value::map([
        (
            "protocol",
            v.get("protocol").cloned().unwrap_or(Value::Null),
        ),
        (
            "from_port",
            v.get("from_port").cloned().unwrap_or(Value::Null),
        ),
        ("to_port", v.get("to_port").cloned().unwrap_or(Value::Null)),
        (
            "cidr_blocks",
            v.get("cidr_blocks").cloned().unwrap_or(Value::Null),
        ),
        (
            "ipv6_cidr_blocks",
            v.get("ipv6_cidr_blocks").cloned().unwrap_or(Value::Null),
        ),
        (
            "prefix_list_ids",
            v.get("prefix_list_ids").cloned().unwrap_or(Value::Null),
        ),
        ("security_groups", Value::List(groups)),
        ("self", v.get("self").cloned().unwrap_or(Value::Null)),
        (
            "description",
            v.get("description").cloned().unwrap_or(Value::Null),
        ),
    ])
}

fn is_egress(v: &Value) -> bool {
    get_str(v, "type").as_deref() == Some("egress")
}

/// Terraform's `sgrule-<crc32>` of the rule's content: stable across
/// refreshes, different for different rules of one group.
fn rule_id(v: &Value) -> String {
    let mut text = format!(
        "{}-{}-{}-{}-{}-",
        get_str(v, "security_group_id").unwrap_or_default(),
        get_i64(v, "from_port").unwrap_or(0),
        get_i64(v, "to_port").unwrap_or(0),
        normalize_protocol(&get_str(v, "protocol").unwrap_or_default()),
        get_str(v, "type").unwrap_or_default(),
    );
    for key in ["cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids"] {
        let mut xs = get_strings(v, key);
        xs.sort();
        for x in xs {
            text.push_str(&x);
            text.push('-');
        }
    }
    if get_bool(v, "self") == Some(true) {
        text.push_str("self-");
    } else if let Some(g) = get_str(v, "source_security_group_id") {
        text.push_str(&g);
        text.push('-');
    }
    format!("sgrule-{}", crc32fast::hash(text.as_bytes()))
}

/// The configuration with its protocol as reads report it, so `all` /
/// `6` plan as no change against `-1` / `tcp`.
fn normalized(config: &Value) -> Value {
    let mut c = config.clone();
    if let Some(m) = c.as_map_mut()
        && let Some(proto) = m
            .get("protocol")
            .and_then(Value::as_str)
            .map(normalize_protocol)
    {
        m.insert("protocol".into(), Value::from(proto));
    }
    c
}

impl SecurityGroupRule {
    /// The rule's state when every permission it stands for is on `group`.
    fn present(&self, group: &Sg, prior: &Value) -> Option<Value> {
        let id = group.group_id().unwrap_or_default();
        let perms = if is_egress(prior) {
            group.ip_permissions_egress()
        } else {
            group.ip_permissions()
        };
        let api: Vec<Atom> = api_atoms(perms, id).into_iter().collect();
        let wanted = rule_atoms(&as_inline(prior));
        if wanted.is_empty() {
            return None;
        }
        let mut description: Option<String> = None;
        for w in &wanted {
            let found = api.iter().find(|a| a.bare() == w.bare())?;
            description = description.or(found.description().map(str::to_string));
        }
        let mut v = prior.clone();
        if let Some(m) = v.as_map_mut() {
            m.insert("description".into(), opt_str(description.as_deref()));
            m.insert("id".into(), Value::from(rule_id(prior)));
        }
        Some(v)
    }

    async fn change(&self, p: &AwsProvider, v: &Value, revoke: bool) -> Result<()> {
        let group = get_str(v, "security_group_id").unwrap_or_default();
        let atoms: BTreeSet<Atom> = rule_atoms(&as_inline(v)).into_iter().collect();
        let none = BTreeSet::new();
        let (r, a) = if revoke {
            (&atoms, &none)
        } else {
            (&none, &atoms)
        };
        match SecurityGroup
            .change_rules(p, &group, is_egress(v), r, a)
            .await
        {
            Err(ProviderError::InvalidArgument { code, message, .. })
            | Err(ProviderError::Api { code, message })
            | Err(ProviderError::Conflict { code, message })
                if code == "InvalidPermission.Duplicate" =>
            {
                Err(ProviderError::InvalidArgument {
                    path: None,
                    code,
                    message: format!(
                        "a duplicate security group rule was found on {group}: {message}. \
                         The rule exists already, made by an inline `ingress`/`egress` block \
                         of the group, another rule resource or by hand: remove the duplicate, \
                         or import the rule"
                    ),
                })
            }
            Err(ProviderError::NotFound(m)) if !revoke => Err(ProviderError::InvalidArgument {
                path: Some(vec![terrace_core::PathStep::Key(
                    "security_group_id".into(),
                )]),
                code: "InvalidGroup.NotFound".into(),
                message: m,
            }),
            Err(e) if revoke => ok_if_gone::<()>(Err(e)),
            other => other,
        }
    }
}

/// Parse `sg-…_ingress_tcp_80_80_10.0.0.0/8[_source…]` (Terraform's import ID).
fn parse_import(p: &AwsProvider, id: &str) -> Result<Value> {
    const FORM: &str = "<security_group_id>_<type>_<protocol>_<from_port>_<to_port>_<source>[_<source>…] (source: CIDR, IPv6 CIDR, pl-…, sg-… or self)";
    let parts: Vec<&str> = id.split('_').collect();
    if parts.len() < 6 || !matches!(parts[1], "ingress" | "egress") {
        return Err(bad_import_id(id, FORM));
    }
    let (Ok(from), Ok(to)) = (parts[3].parse::<i64>(), parts[4].parse::<i64>()) else {
        return Err(bad_import_id(id, FORM));
    };
    let (mut cidrs, mut v6, mut pls) = (Vec::new(), Vec::new(), Vec::new());
    let (mut group, mut self_ref) = (None, false);
    for s in &parts[5..] {
        if *s == "self" {
            self_ref = true;
        } else if s.starts_with("sg-") {
            group = Some(s.to_string());
        } else if s.starts_with("pl-") {
            pls.push(s.to_string());
        } else if s.contains(':') {
            v6.push(s.to_string());
        } else if s.contains('/') {
            cidrs.push(s.to_string());
        } else {
            return Err(bad_import_id(id, FORM));
        }
    }
    let list = |xs: Vec<String>| {
        if xs.is_empty() {
            Value::Null
        } else {
            str_list(xs)
        }
    };
    let v = Obj::new(&p.resource_schema(RULE))
        .set("security_group_id", parts[0])
        .set("type", parts[1])
        .set("protocol", normalize_protocol(parts[2]))
        .set("from_port", from)
        .set("to_port", to)
        .set("cidr_blocks", list(cidrs))
        .set("ipv6_cidr_blocks", list(v6))
        .set("prefix_list_ids", list(pls))
        .set_opt_str("source_security_group_id", group.as_deref())
        .set("self", self_ref)
        .build();
    Ok(v)
}

#[async_trait]
impl ResourceType for SecurityGroupRule {
    fn name(&self) -> &'static str {
        RULE
    }

    fn schema(&self) -> Schema {
        let list = || Attribute::optional(AttrType::list_of(AttrType::String)).force_new();
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attrs(
                &["type", "security_group_id", "protocol"],
                Attribute::required(AttrType::String).force_new(),
            )
            .attrs(
                &["from_port", "to_port"],
                Attribute::required(AttrType::Number).force_new(),
            )
            .attrs(
                &["cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids"],
                list(),
            )
            .attr(
                "source_security_group_id",
                Attribute::optional(AttrType::String).force_new(),
            )
            .attr(
                "self",
                Attribute::optional(AttrType::Bool)
                    .default(false)
                    .force_new(),
            )
            .attr("description", Attribute::optional(AttrType::String))
    }

    fn untagged(&self) -> bool {
        true
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let config = normalized(config);
        if config.is_wholly_known() {
            let t = get_str(&config, "type").unwrap_or_default();
            if !matches!(t.as_str(), "ingress" | "egress") {
                return Err(ProviderError::InvalidArgument {
                    path: Some(vec![terrace_core::PathStep::Key("type".into())]),
                    code: "InvalidValue".into(),
                    message: format!(
                        "expected type to be one of [\"ingress\" \"egress\"], got {t:?}"
                    ),
                });
            }
            let sources = ["cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids"]
                .iter()
                .any(|k| !get_strings(&config, k).is_empty())
                || get_str(&config, "source_security_group_id").is_some()
                || get_bool(&config, "self") == Some(true);
            if !sources {
                return Err(ProviderError::InvalidArgument {
                    path: None,
                    code: "MissingSource".into(),
                    message: "one of `cidr_blocks`, `ipv6_cidr_blocks`, `prefix_list_ids`, \
                              `self` or `source_security_group_id` must be set"
                        .into(),
                });
            }
            if get_bool(&config, "self") == Some(true)
                && get_str(&config, "source_security_group_id").is_some()
            {
                return Err(ProviderError::InvalidArgument {
                    path: Some(vec![terrace_core::PathStep::Key(
                        "source_security_group_id".into(),
                    )]),
                    code: "ConflictingArguments".into(),
                    message: "`source_security_group_id` conflicts with `self = true`".into(),
                });
            }
        }
        let mut planned = default_plan(p, &p.resource_schema(RULE), prior, &config, ctx);
        if config.is_wholly_known() {
            let id = rule_id(&planned.planned);
            if let Some(m) = planned.planned.as_map_mut() {
                m.insert("id".into(), Value::from(id));
            }
        }
        Ok(planned)
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let groups: Vec<String> = prior
            .iter()
            .filter_map(|v| get_str(v, "security_group_id"))
            .collect();
        let found = find_by_ids::<Sg>(p, &groups).await?;
        Ok(prior
            .iter()
            .map(|v| {
                let g = found.get(&get_str(v, "security_group_id")?)?;
                self.present(g, v)
            })
            .collect())
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let stub = parse_import(p, id)?;
        Ok(self.read_many(p, &[stub]).await?.pop().flatten())
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        self.change(p, planned, false).await?;
        let mut v = planned.clone();
        if let Some(m) = v.as_map_mut() {
            m.insert("id".into(), Value::from(rule_id(planned)));
            m.insert("security_group_rule_id".into(), Value::Null);
        }
        Ok(v)
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        // Only the description updates in place.
        let group = get_str(prior, "security_group_id").unwrap_or_default();
        let perms: Vec<IpPermission> = rule_atoms(&as_inline(planned))
            .iter()
            .map(|a| super::security_group::atom_permission(a, &group))
            .collect();
        if is_egress(planned) {
            p.call("ec2:UpdateSecurityGroupRuleDescriptionsEgress", || {
                p.ec2
                    .update_security_group_rule_descriptions_egress()
                    .group_id(&group)
                    .set_ip_permissions(Some(perms.clone()))
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "description"))?;
        } else {
            p.call("ec2:UpdateSecurityGroupRuleDescriptionsIngress", || {
                p.ec2
                    .update_security_group_rule_descriptions_ingress()
                    .group_id(&group)
                    .set_ip_permissions(Some(perms.clone()))
                    .send()
            })
            .await
            .map_err(|e| at_path(e, "description"))?;
        }
        Ok(planned.clone())
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        self.change(p, prior, true).await
    }
}

// ---------------------------------------------------------------------------
// aws_vpc_security_group_ingress_rule / aws_vpc_security_group_egress_rule
// ---------------------------------------------------------------------------

/// One AWS security-group rule (`sgr-…`), ingress or egress.
pub(crate) struct VpcRule {
    pub(crate) egress: bool,
}

pub(crate) const VPC_INGRESS: VpcRule = VpcRule { egress: false };
pub(crate) const VPC_EGRESS: VpcRule = VpcRule { egress: true };

impl VpcRule {
    fn type_name(&self) -> &'static str {
        if self.egress {
            "aws_vpc_security_group_egress_rule"
        } else {
            "aws_vpc_security_group_ingress_rule"
        }
    }

    /// Ports of the rule: none for "all protocols", as the API reports -1.
    fn ports(v: &Value) -> (Option<i32>, Option<i32>) {
        if normalize_protocol(&get_str(v, "ip_protocol").unwrap_or_default()) == "-1" {
            return (Some(-1), Some(-1));
        }
        (
            get_i64(v, "from_port").map(|n| n as i32),
            get_i64(v, "to_port").map(|n| n as i32),
        )
    }

    fn permission(v: &Value) -> IpPermission {
        let (from, to) = Self::ports(v);
        let d = get_str(v, "description");
        let mut b = IpPermission::builder()
            .ip_protocol(normalize_protocol(
                &get_str(v, "ip_protocol").unwrap_or_default(),
            ))
            .set_from_port(from)
            .set_to_port(to);
        if let Some(c) = get_str(v, "cidr_ipv4") {
            b = b.ip_ranges(
                IpRange::builder()
                    .cidr_ip(c)
                    .set_description(d.clone())
                    .build(),
            );
        }
        if let Some(c) = get_str(v, "cidr_ipv6") {
            b = b.ipv6_ranges(
                Ipv6Range::builder()
                    .cidr_ipv6(c)
                    .set_description(d.clone())
                    .build(),
            );
        }
        if let Some(c) = get_str(v, "prefix_list_id") {
            b = b.prefix_list_ids(
                PrefixListId::builder()
                    .prefix_list_id(c)
                    .set_description(d.clone())
                    .build(),
            );
        }
        if let Some(g) = get_str(v, "referenced_security_group_id") {
            b = b.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(g)
                    .set_description(d)
                    .build(),
            );
        }
        b.build()
    }

    fn sources_set(v: &Value) -> usize {
        [
            "cidr_ipv4",
            "cidr_ipv6",
            "prefix_list_id",
            "referenced_security_group_id",
        ]
        .iter()
        .filter(|k| v.get(k).is_some_and(|x| !x.is_null()))
        .count()
    }
}

impl Ec2Mapped for VpcRule {
    type Object = Sgr;

    fn map(&self, p: &AwsProvider, r: &Sgr, prior: Option<&Value>) -> Value {
        let id = r.security_group_rule_id().unwrap_or_default();
        let owner = r.group_owner_id().unwrap_or_default();
        let proto = normalize_protocol(r.ip_protocol().unwrap_or("-1"));
        let all = proto == "-1";
        let port = |n: Option<i32>| match n {
            Some(n) if !all => Value::from(i64::from(n)),
            _ => Value::Null,
        };
        let (tags, tags_all) = tags_from_api(&tags_to_map(r.tags()), prior, &p.default_tags);
        Obj::new(&p.resource_schema(self.type_name()))
            .set("id", id)
            .set("security_group_rule_id", id)
            .set(
                "arn",
                r.security_group_rule_arn()
                    .map(str::to_string)
                    .unwrap_or_else(|| p.arn("ec2", owner, &format!("security-group-rule/{id}"))),
            )
            .set_opt_str("security_group_id", r.group_id())
            .set("ip_protocol", proto.as_str())
            .set("from_port", port(r.from_port()))
            .set("to_port", port(r.to_port()))
            .set_opt_str("cidr_ipv4", r.cidr_ipv4())
            .set_opt_str("cidr_ipv6", r.cidr_ipv6())
            .set_opt_str("prefix_list_id", r.prefix_list_id())
            .set_opt_str(
                "referenced_security_group_id",
                r.referenced_group_info().and_then(|g| g.group_id()),
            )
            .set_opt_str("description", r.description().filter(|d| !d.is_empty()))
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }
}

#[async_trait]
impl ResourceType for VpcRule {
    fn name(&self) -> &'static str {
        self.type_name()
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "arn", "security_group_rule_id"],
                Attribute::computed(AttrType::String),
            )
            .attr(
                "security_group_id",
                Attribute::required(AttrType::String).force_new(),
            )
            .attr("ip_protocol", Attribute::required(AttrType::String))
            .attrs(
                &["from_port", "to_port"],
                Attribute::optional(AttrType::Number),
            )
            .attrs(
                &[
                    "cidr_ipv4",
                    "cidr_ipv6",
                    "prefix_list_id",
                    "referenced_security_group_id",
                    "description",
                ],
                Attribute::optional(AttrType::String),
            )
            .tagged()
    }

    fn plan(
        &self,
        p: &AwsProvider,
        prior: Option<&Value>,
        config: &Value,
        ctx: &ResourceContext,
    ) -> Result<PlannedResource> {
        let mut config = config.clone();
        if let Some(m) = config.as_map_mut()
            && let Some(proto) = m
                .get("ip_protocol")
                .and_then(Value::as_str)
                .map(normalize_protocol)
        {
            m.insert("ip_protocol".into(), Value::from(proto));
        }
        if config.is_wholly_known() && Self::sources_set(&config) != 1 {
            return Err(ProviderError::InvalidArgument {
                path: None,
                code: "InvalidSource".into(),
                message: "exactly one of `cidr_ipv4`, `cidr_ipv6`, `prefix_list_id` or \
                          `referenced_security_group_id` must be set"
                    .into(),
            });
        }
        Ok(default_plan(
            p,
            &p.resource_schema(self.type_name()),
            prior,
            &config,
            ctx,
        ))
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let group = get_str(planned, "security_group_id").unwrap_or_default();
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        let spec = tag_spec(Ec2ResourceType::SecurityGroupRule, &tags);
        let perm = Self::permission(planned);
        let rules = if self.egress {
            p.call("ec2:AuthorizeSecurityGroupEgress", || {
                p.ec2
                    .authorize_security_group_egress()
                    .group_id(&group)
                    .ip_permissions(perm.clone())
                    .tag_specifications(spec.clone())
                    .send()
            })
            .await
            .map(|o| o.security_group_rules().to_vec())
        } else {
            p.call("ec2:AuthorizeSecurityGroupIngress", || {
                p.ec2
                    .authorize_security_group_ingress()
                    .group_id(&group)
                    .ip_permissions(perm.clone())
                    .tag_specifications(spec.clone())
                    .send()
            })
            .await
            .map(|o| o.security_group_rules().to_vec())
        }
        .map_err(|e| match e {
            ProviderError::NotFound(m) => ProviderError::InvalidArgument {
                path: Some(vec![terrace_core::PathStep::Key(
                    "security_group_id".into(),
                )]),
                code: "InvalidGroup.NotFound".into(),
                message: m,
            },
            e => e,
        })?;
        let id = rules
            .first()
            .and_then(|r| r.security_group_rule_id())
            .unwrap_or_default()
            .to_string();
        read_mapped(self, p, &id, Some(planned), "security group rule").await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let id = require_id(self.type_name(), prior)?;
        let group = get_str(prior, "security_group_id").unwrap_or_default();
        let content = |v: &Value| {
            let mut v = v.clone();
            if let Some(m) = v.as_map_mut() {
                m.remove("tags");
                m.remove("tags_all");
            }
            v
        };
        if content(prior) != content(planned) {
            let (from, to) = Self::ports(planned);
            let req = SecurityGroupRuleRequest::builder()
                .ip_protocol(normalize_protocol(
                    &get_str(planned, "ip_protocol").unwrap_or_default(),
                ))
                .set_from_port(from)
                .set_to_port(to)
                .set_cidr_ipv4(get_str(planned, "cidr_ipv4"))
                .set_cidr_ipv6(get_str(planned, "cidr_ipv6"))
                .set_prefix_list_id(get_str(planned, "prefix_list_id"))
                .set_referenced_group_id(get_str(planned, "referenced_security_group_id"))
                .set_description(get_str(planned, "description"))
                .build();
            let upd = SecurityGroupRuleUpdate::builder()
                .security_group_rule_id(&id)
                .security_group_rule(req)
                .build();
            p.call("ec2:ModifySecurityGroupRules", || {
                p.ec2
                    .modify_security_group_rules()
                    .group_id(&group)
                    .security_group_rules(upd.clone())
                    .send()
            })
            .await?;
        }
        update_tags(p, &id, prior, planned).await?;
        read_mapped(self, p, &id, Some(planned), "security group rule").await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(self.type_name(), prior)?;
        let group = get_str(prior, "security_group_id").unwrap_or_default();
        let r = if self.egress {
            p.call("ec2:RevokeSecurityGroupEgress", || {
                p.ec2
                    .revoke_security_group_egress()
                    .group_id(&group)
                    .security_group_rule_ids(&id)
                    .send()
            })
            .await
            .map(|_| ())
        } else {
            p.call("ec2:RevokeSecurityGroupIngress", || {
                p.ec2
                    .revoke_security_group_ingress()
                    .group_id(&group)
                    .security_group_rule_ids(&id)
                    .send()
            })
            .await
            .map(|_| ())
        };
        match r {
            Err(ProviderError::Api { code, .. }) if code.starts_with("InvalidPermission.") => {
                Ok(())
            }
            Err(ProviderError::InvalidArgument { code, .. })
                if code.starts_with("InvalidSecurityGroupRuleId") =>
            {
                Ok(())
            }
            other => ok_if_gone(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_stable_and_content_bound() {
        let a = Value::map([
            ("security_group_id", Value::from("sg-1")),
            ("type", Value::from("ingress")),
            ("protocol", Value::from("tcp")),
            ("from_port", Value::from(80i64)),
            ("to_port", Value::from(80i64)),
            (
                "cidr_blocks",
                str_list(["10.0.0.0/8".to_string(), "10.1.0.0/16".to_string()]),
            ),
        ]);
        let mut b = a.clone();
        b.as_map_mut()
            .unwrap()
            .insert("type".into(), Value::from("egress"));
        assert_eq!(rule_id(&a), rule_id(&a.clone()));
        assert_ne!(rule_id(&a), rule_id(&b));
        assert!(rule_id(&a).starts_with("sgrule-"));
    }
}
