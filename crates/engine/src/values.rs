//! Values of resource blocks during a walk, as the evaluator sees them, and
//! conversion between state records and values.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use terrace_core::{InstanceKey, ResourceAddr, Value};
use terrace_lang::ResourceLookup;
use terrace_provider::{Schema, convert_to_type};
use terrace_state::ResourceState;

/// The objects of every resource instance known so far in a walk: planned
/// objects during plan, applied objects during apply. Lookups are by block
/// (`aws_instance.runner`): an object for a plain block, a list for `count`,
/// a map for `for_each`.
#[derive(Default)]
pub struct ValueTable {
    blocks: RwLock<HashMap<ResourceAddr, Block>>,
}

#[derive(Default)]
struct Block {
    instances: Instances,
    /// The block's value, built on first reference and shared by every
    /// reference until the block changes.
    aggregate: Option<Arc<Value>>,
}

impl ValueTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// A table with room for `blocks` blocks.
    pub fn with_capacity(blocks: usize) -> Self {
        ValueTable {
            blocks: RwLock::new(HashMap::with_capacity(blocks)),
        }
    }

    /// Record (or replace) one instance's object.
    pub fn set(&self, addr: &ResourceAddr, value: Value) {
        let mut blocks = self.blocks.write().expect("value table lock");
        let block = blocks.entry(addr.block()).or_default();
        block.instances.insert(addr.key.clone(), value);
        block.aggregate = None;
    }

    /// Declare a block that has no instances (count = 0), so references see
    /// an empty list instead of "unknown".
    pub fn declare_empty(&self, block: &ResourceAddr) {
        let mut blocks = self.blocks.write().expect("value table lock");
        blocks.entry(block.block()).or_default();
    }

    /// Forget one instance (it leaves the configuration); its block stays
    /// declared, so a block left with no instances reads as empty.
    pub fn remove(&self, addr: &ResourceAddr) {
        let mut blocks = self.blocks.write().expect("value table lock");
        if let Some(block) = blocks.get_mut(&addr.block()) {
            block.instances.remove(&addr.key);
            block.aggregate = None;
        }
    }

    pub fn get_instance(&self, addr: &ResourceAddr) -> Option<Value> {
        let blocks = self.blocks.read().expect("value table lock");
        blocks
            .get(&addr.block())
            .and_then(|b| b.instances.get(&addr.key).cloned())
    }
}

impl ResourceLookup for ValueTable {
    fn resource_value(&self, addr: &ResourceAddr) -> Option<Value> {
        self.resource_value_shared(addr).map(Arc::unwrap_or_clone)
    }

    fn resource_value_shared(&self, addr: &ResourceAddr) -> Option<Arc<Value>> {
        let block_addr = addr.block();
        {
            let blocks = self.blocks.read().expect("value table lock");
            let block = blocks.get(&block_addr)?;
            if let Some(v) = &block.aggregate {
                return Some(Arc::clone(v));
            }
        }
        let mut blocks = self.blocks.write().expect("value table lock");
        let block = blocks.get_mut(&block_addr)?;
        let value = Arc::new(aggregate(&block.instances));
        block.aggregate = Some(Arc::clone(&value));
        Some(value)
    }
}

/// The instances of one block. Most blocks have exactly one, and a
/// `BTreeMap` holding one entry costs a whole node (about 700 bytes): at
/// 100,000 blocks that was most of the table.
#[derive(Default)]
enum Instances {
    #[default]
    Empty,
    One(Option<InstanceKey>, Value),
    Many(BTreeMap<Option<InstanceKey>, Value>),
}

impl Instances {
    fn insert(&mut self, key: Option<InstanceKey>, value: Value) {
        match self {
            Instances::Empty => *self = Instances::One(key, value),
            Instances::One(k, v) if *k == key => *v = value,
            Instances::One(..) => {
                let Instances::One(k0, v0) = std::mem::take(self) else {
                    unreachable!("matched One")
                };
                *self = Instances::Many(BTreeMap::from([(k0, v0), (key, value)]));
            }
            Instances::Many(m) => {
                m.insert(key, value);
            }
        }
    }

    fn remove(&mut self, key: &Option<InstanceKey>) {
        match self {
            Instances::One(k, _) if k == key => *self = Instances::Empty,
            Instances::Many(m) => {
                m.remove(key);
            }
            _ => {}
        }
    }

    fn get(&self, key: &Option<InstanceKey>) -> Option<&Value> {
        match self {
            Instances::One(k, v) if k == key => Some(v),
            Instances::Many(m) => m.get(key),
            _ => None,
        }
    }

    /// In key order.
    fn iter(&self) -> Box<dyn Iterator<Item = (&Option<InstanceKey>, &Value)> + '_> {
        match self {
            Instances::Empty => Box::new(std::iter::empty()),
            Instances::One(k, v) => Box::new(std::iter::once((k, v))),
            Instances::Many(m) => Box::new(m.iter()),
        }
    }
}

fn aggregate(instances: &Instances) -> Value {
    if let Some(v) = instances.get(&None) {
        return v.clone();
    }
    if instances
        .iter()
        .all(|(k, _)| matches!(k, Some(InstanceKey::Int(_))))
    {
        return Value::List(instances.iter().map(|(_, v)| v.clone()).collect());
    }
    Value::Map(
        instances
            .iter()
            .map(|(k, v)| {
                let key = match k {
                    Some(InstanceKey::Str(s)) => s.clone(),
                    Some(InstanceKey::Int(i)) => i.to_string(),
                    None => String::new(),
                };
                (key, v.clone())
            })
            .collect(),
    )
}

/// The object a state record holds, with its sensitive marks restored.
pub fn state_value(r: &ResourceState) -> Value {
    Value::from_json(&r.attributes).mark_paths(&r.sensitive_paths)
}

/// Re-apply the schema's types and sensitive marks to an object read from
/// the API or from state (JSON loses the difference between lists and sets).
pub fn conform_to_schema(schema: &Schema, v: Value) -> Value {
    let (v, outer) = v.into_unmarked();
    let Value::Map(mut m) = v else {
        return v.mark_if(outer);
    };
    for (name, attr) in &schema.attributes {
        if let Some(x) = m.remove(name) {
            let x = convert_to_type(&x, &attr.ty);
            let sensitive = attr.sensitive && !x.is_null();
            m.insert(name.clone(), x.mark_if(sensitive));
        }
    }
    for (name, block) in &schema.blocks {
        if let Some(x) = m.remove(name) {
            let items: Vec<Value> = x
                .as_list()
                .map(|xs| {
                    xs.iter()
                        .cloned()
                        .map(|i| conform_to_schema(&block.schema, i))
                        .collect()
                })
                .unwrap_or_default();
            let conformed = match block.nesting {
                terrace_provider::Nesting::List => Value::List(items),
                terrace_provider::Nesting::Set => Value::set(items),
            };
            m.insert(name.clone(), conformed);
        }
    }
    Value::Map(m).mark_if(outer)
}

/// Carry `source`'s sensitivity onto `target` (a provider's plan or result
/// for that configuration): mark `target` at every path that is sensitive in
/// `source`, and mark any string in `target` equal to a sensitive string of
/// `source` — providers copy values into other attributes (`tags` into
/// `tags_all`), and a copy of a secret is a secret.
pub(crate) fn carry_sensitive(source: &Value, target: Value) -> Value {
    if !source.contains_sensitive() {
        // Nothing to carry; unmarking a copy of the configuration to find
        // that out rebuilt it once per instance.
        return target;
    }
    let (_, paths) = source.clone().deep_unmark();
    if paths.is_empty() {
        return target;
    }
    let mut secrets = std::collections::BTreeSet::new();
    collect_secret_strings(source, false, &mut secrets);
    mark_copies(target.mark_paths(&paths), &secrets)
}

fn collect_secret_strings(v: &Value, inside: bool, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Sensitive(inner) => collect_secret_strings(inner, true, out),
        Value::String(s) if inside && !s.is_empty() => {
            out.insert(s.to_string());
        }
        Value::List(xs) | Value::Set(xs) => xs
            .iter()
            .for_each(|x| collect_secret_strings(x, inside, out)),
        Value::Map(m) => m
            .values()
            .for_each(|x| collect_secret_strings(x, inside, out)),
        _ => {}
    }
}

fn mark_copies(v: Value, secrets: &std::collections::BTreeSet<String>) -> Value {
    if secrets.is_empty() {
        return v;
    }
    match v {
        Value::String(s) if secrets.contains(s.as_str()) => {
            Value::Sensitive(Box::new(Value::String(s)))
        }
        Value::List(xs) => Value::List(xs.into_iter().map(|x| mark_copies(x, secrets)).collect()),
        Value::Set(xs) => Value::Set(xs.into_iter().map(|x| mark_copies(x, secrets)).collect()),
        Value::Map(m) => Value::Map(
            m.into_iter()
                .map(|(k, x)| (k, mark_copies(x, secrets)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_aggregate_by_block_kind() {
        let t = ValueTable::new();
        let single = ResourceAddr::managed("t", "a");
        t.set(&single, Value::from("x"));
        assert_eq!(t.resource_value(&single), Some(Value::from("x")));

        let counted = ResourceAddr::managed("t", "c");
        t.set(
            &counted.clone().with_key(Some(InstanceKey::Int(1))),
            Value::from(1),
        );
        t.set(
            &counted.clone().with_key(Some(InstanceKey::Int(0))),
            Value::from(0),
        );
        assert_eq!(
            t.resource_value(&counted),
            Some(Value::List(vec![Value::from(0), Value::from(1)]))
        );

        let each = ResourceAddr::managed("t", "e");
        t.set(
            &each.clone().with_key(Some(InstanceKey::Str("k".into()))),
            Value::from(true),
        );
        assert_eq!(
            t.resource_value(&each),
            Some(Value::map([("k", Value::from(true))]))
        );

        assert_eq!(
            t.resource_value(&ResourceAddr::managed("t", "missing")),
            None
        );
        let empty = ResourceAddr::managed("t", "none");
        t.declare_empty(&empty);
        assert_eq!(t.resource_value(&empty), Some(Value::List(vec![])));
    }

    #[test]
    fn one_instance_grows_into_many_and_shrinks_back() {
        let t = ValueTable::new();
        let c = ResourceAddr::managed("t", "c");
        let at = |i: i64| c.clone().with_key(Some(InstanceKey::Int(i)));
        t.set(&at(0), Value::from(0));
        assert_eq!(
            t.resource_value(&c),
            Some(Value::List(vec![Value::from(0)]))
        );
        // Replacing the one instance keeps one; the aggregate is rebuilt.
        t.set(&at(0), Value::from(10));
        assert_eq!(
            t.resource_value(&c),
            Some(Value::List(vec![Value::from(10)]))
        );
        t.set(&at(2), Value::from(2));
        t.set(&at(1), Value::from(1));
        assert_eq!(
            t.resource_value(&c),
            Some(Value::List(vec![
                Value::from(10),
                Value::from(1),
                Value::from(2)
            ]))
        );
        assert_eq!(t.get_instance(&at(1)), Some(Value::from(1)));
        t.remove(&at(0));
        t.remove(&at(1));
        t.remove(&at(2));
        assert_eq!(t.get_instance(&at(1)), None);
        assert_eq!(t.resource_value(&c), Some(Value::List(vec![])));
        // Removing the only instance of a plain block leaves it declared and empty.
        let single = ResourceAddr::managed("t", "s");
        t.set(&single, Value::from("x"));
        t.remove(&single.clone().with_key(Some(InstanceKey::Int(0))));
        assert_eq!(
            t.resource_value(&single),
            Some(Value::from("x")),
            "another key: kept"
        );
        t.remove(&single);
        assert_eq!(t.resource_value(&single), Some(Value::List(vec![])));
    }
}
