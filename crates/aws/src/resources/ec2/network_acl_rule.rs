//! `aws_network_acl_rule`: one entry of a network ACL (the entry shape
//! is [`super::network_acl::Entry`]). Every argument forces replacement.
//! The ID is Terraform's (`nacl-` and a CRC-32 of the ACL, rule number,
//! direction and protocol); import takes
//! `<network_acl_id>:<rule_number>:<protocol>:<egress>`. Reads describe
//! each ACL once for all its rules.

use super::find::{find_by_id, find_by_ids};
use super::network_acl::{Entry, EntryKeys};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::InPlace;
use crate::resources::{ResourceType, bad_import_id};
use crate::values::{Obj, get_bool, get_i64, get_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{NetworkAcl, NetworkAclEntry};
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, CreateContext, ProviderError, Schema};

pub(crate) struct NetworkAclRule;

const NAME: &str = "aws_network_acl_rule";

const KEYS: EntryKeys = EntryKeys {
    number: "rule_number",
    action: "rule_action",
};

fn rule_id(acl: &str, number: i64, egress: bool, protocol: &str) -> String {
    let key = format!("{acl}-{number}-{egress}-{protocol}-");
    format!("nacl-{}", crc32fast::hash(key.as_bytes()))
}

fn find_entry(acl: &NetworkAcl, number: i64, egress: bool) -> Option<&NetworkAclEntry> {
    acl.entries()
        .iter()
        .find(|e| e.rule_number().map(i64::from) == Some(number) && e.egress() == Some(egress))
}

impl NetworkAclRule {
    /// The state of `entry`; the protocol keeps the prior's spelling.
    fn value(
        &self,
        p: &AwsProvider,
        acl: &str,
        e: &NetworkAclEntry,
        prior: Option<&Value>,
    ) -> Value {
        let entry = Entry::from_api(e, prior.and_then(|pv| pv.get("protocol")?.as_str()));
        let id = prior
            .and_then(|pv| get_str(pv, "id"))
            .unwrap_or_else(|| rule_id(acl, entry.number, entry.egress, &entry.protocol));
        entry
            .attributes(&KEYS)
            .into_iter()
            .fold(Obj::new(&p.resource_schema(NAME)), |o, (k, v)| o.set(k, v))
            .set("id", id)
            .set("network_acl_id", acl)
            .set("egress", entry.egress)
            .build()
    }
}

fn key(v: &Value) -> (String, i64, bool) {
    (
        get_str(v, "network_acl_id").unwrap_or_default(),
        get_i64(v, "rule_number").unwrap_or_default(),
        get_bool(v, "egress").unwrap_or(false),
    )
}

#[async_trait]
impl ResourceType for NetworkAclRule {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        let s = [
            ("network_acl_id", AttrType::String),
            ("rule_number", AttrType::Number),
            ("protocol", AttrType::String),
            ("rule_action", AttrType::String),
        ]
        .into_iter()
        .fold(Schema::new(), |s, (k, t)| {
            s.attr(k, Attribute::required(t).force_new())
        });
        let s = [
            ("cidr_block", AttrType::String),
            ("ipv6_cidr_block", AttrType::String),
            ("from_port", AttrType::Number),
            ("to_port", AttrType::Number),
            ("icmp_type", AttrType::Number),
            ("icmp_code", AttrType::Number),
        ]
        .into_iter()
        .fold(s, |s, (k, t)| s.attr(k, Attribute::optional(t).force_new()));
        s.attr("id", Attribute::computed(AttrType::String)).attr(
            "egress",
            Attribute::optional(AttrType::Bool)
                .default(false)
                .force_new(),
        )
    }

    fn untagged(&self) -> bool {
        true
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let acls: Vec<String> = prior.iter().map(|v| key(v).0).collect();
        let found = find_by_ids::<NetworkAcl>(p, &acls).await?;
        Ok(prior
            .iter()
            .map(|pv| {
                let (acl, number, egress) = key(pv);
                let entry = find_entry(found.get(&acl)?, number, egress)?;
                Some(self.value(p, &acl, entry, Some(pv)))
            })
            .collect())
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let form = "<network_acl_id>:<rule_number>:<protocol>:<egress>";
        let parts: Vec<&str> = id.split(':').collect();
        let [acl, number, protocol, egress] = parts.as_slice() else {
            return Err(bad_import_id(id, form));
        };
        let (Ok(number), Ok(egress)) = (number.parse::<i64>(), egress.parse::<bool>()) else {
            return Err(bad_import_id(id, form));
        };
        let prior = Value::map([
            ("protocol", Value::from(*protocol)),
            ("id", Value::from(rule_id(acl, number, egress, protocol))),
        ]);
        Ok(find_by_id::<NetworkAcl>(p, acl).await?.and_then(|a| {
            find_entry(&a, number, egress).map(|e| self.value(p, acl, e, Some(&prior)))
        }))
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        let (acl, number, egress) = key(planned);
        let entry = Entry::from_value(planned, egress, &KEYS);
        entry.put(p, &acl, false).await?;
        let mut known = planned.clone();
        if let Some(m) = known.as_map_mut() {
            let id = rule_id(&acl, number, egress, &entry.protocol);
            m.insert("id".into(), Value::from(id));
        }
        let read = self.read_many(p, std::slice::from_ref(&known)).await?;
        read.into_iter().next().flatten().ok_or_else(|| {
            ProviderError::NotFound(format!(
                "network ACL rule {number} of {acl} not found after create"
            ))
        })
    }

    fn in_place(&self) -> InPlace {
        InPlace::Nothing
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let (acl, _, egress) = key(prior);
        Entry::from_value(prior, egress, &KEYS)
            .delete(p, &acl)
            .await
    }
}
