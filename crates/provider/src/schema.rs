//! Resource schemas.
//!
//! Objects are `Value::Map`s holding every attribute of the schema (absent
//! ones as `Null`) and every nested block type as a `Value::List` (list
//! nesting, including "single" blocks, as the Terraform AWS provider stores
//! them) or a `Value::Set` (set nesting).

use std::collections::BTreeMap;
use terrace_core::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum AttrType {
    String,
    Number,
    Bool,
    List(Box<AttrType>),
    Set(Box<AttrType>),
    Map(Box<AttrType>),
    /// Any value (e.g. `terraform_data.input`).
    Any,
}

impl AttrType {
    pub fn list_of(t: AttrType) -> Self {
        AttrType::List(Box::new(t))
    }
    pub fn set_of(t: AttrType) -> Self {
        AttrType::Set(Box::new(t))
    }
    pub fn map_of(t: AttrType) -> Self {
        AttrType::Map(Box::new(t))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrMode {
    Required,
    Optional,
    /// Set by the API only; configuring it is an error.
    Computed,
    /// May be configured; the API fills it when not.
    OptionalComputed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub ty: AttrType,
    pub mode: AttrMode,
    /// A change replaces the object.
    pub force_new: bool,
    pub sensitive: bool,
    /// Planned when the configuration leaves the attribute unset.
    pub default: Option<Value>,
    pub description: String,
}

impl Attribute {
    fn new(ty: AttrType, mode: AttrMode) -> Self {
        Attribute {
            ty,
            mode,
            force_new: false,
            sensitive: false,
            default: None,
            description: String::new(),
        }
    }
    pub fn required(ty: AttrType) -> Self {
        Self::new(ty, AttrMode::Required)
    }
    pub fn optional(ty: AttrType) -> Self {
        Self::new(ty, AttrMode::Optional)
    }
    pub fn computed(ty: AttrType) -> Self {
        Self::new(ty, AttrMode::Computed)
    }
    pub fn optional_computed(ty: AttrType) -> Self {
        Self::new(ty, AttrMode::OptionalComputed)
    }
    pub fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    pub fn default(mut self, v: impl Into<Value>) -> Self {
        self.default = Some(v.into());
        self
    }
    pub fn describe(mut self, d: &str) -> Self {
        self.description = d.to_string();
        self
    }
    pub fn is_configurable(&self) -> bool {
        self.mode != AttrMode::Computed
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    List,
    Set,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlockType {
    pub nesting: Nesting,
    pub min_items: usize,
    /// 0 = unlimited.
    pub max_items: usize,
    pub schema: Schema,
    /// The API fills the block when the configuration leaves it out (e.g.
    /// `root_block_device`, ECR `encryption_configuration`): an absent block
    /// keeps the prior object's items instead of planning their removal.
    pub computed: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schema {
    pub attributes: BTreeMap<String, Attribute>,
    pub blocks: BTreeMap<String, BlockType>,
    /// Bumped when the stored shape changes.
    pub version: u32,
}

impl Schema {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn attr(mut self, name: &str, a: Attribute) -> Self {
        self.attributes.insert(name.to_string(), a);
        self
    }

    /// A list block with at most `max` items (1 for "single" blocks).
    pub fn list_block(mut self, name: &str, min: usize, max: usize, schema: Schema) -> Self {
        self.blocks.insert(
            name.to_string(),
            BlockType {
                nesting: Nesting::List,
                min_items: min,
                max_items: max,
                schema,
                computed: false,
            },
        );
        self
    }

    /// Mark an existing block as filled by the API when left out.
    pub fn computed_block(mut self, name: &str) -> Self {
        if let Some(b) = self.blocks.get_mut(name) {
            b.computed = true;
        }
        self
    }

    pub fn set_block(mut self, name: &str, schema: Schema) -> Self {
        self.blocks.insert(
            name.to_string(),
            BlockType {
                nesting: Nesting::Set,
                min_items: 0,
                max_items: 0,
                schema,
                computed: false,
            },
        );
        self
    }

    /// Names a user may write in the block (attributes that are not
    /// computed-only, and nested block types), for "did you mean".
    pub fn configurable_names(&self) -> Vec<&str> {
        self.attributes
            .iter()
            .filter(|(_, a)| a.is_configurable())
            .map(|(n, _)| n.as_str())
            .chain(self.blocks.keys().map(String::as_str))
            .collect()
    }

    /// True if `name` is an attribute or block of this schema.
    pub fn has(&self, name: &str) -> bool {
        self.attributes.contains_key(name) || self.blocks.contains_key(name)
    }
}

/// A provider's schemas: its own configuration and each resource/data type.
#[derive(Debug, Clone, Default)]
pub struct ProviderSchema {
    pub provider: Schema,
    pub resources: BTreeMap<String, Schema>,
    pub data_sources: BTreeMap<String, Schema>,
}
