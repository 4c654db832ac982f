//! Addresses of module instances and resource instances.
//!
//! Addresses are immutable values; printing one and parsing it back gives the
//! same address: `module.runners["a"].aws_instance.runner[0]`,
//! `data.aws_ami.ubuntu`.

use std::fmt;
use std::str::FromStr;

/// The key of one instance of a `count` (`Int`) or `for_each` (`Str`) block.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstanceKey {
    Int(i64),
    Str(String),
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceKey::Int(i) => write!(f, "[{i}]"),
            InstanceKey::Str(s) => write!(f, "[{}]", serde_json::Value::String(s.clone())),
        }
    }
}

/// A path of module calls from the root: empty for the root module.
/// Shared: every address of a module instance's resources (in the plan,
/// the value table, the graph and state) copies a pointer, not the path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ModuleInstance(pub std::sync::Arc<[(String, Option<InstanceKey>)]>);

impl ModuleInstance {
    pub fn root() -> Self {
        ModuleInstance(Vec::new().into())
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The instance of child module call `name` (with optional key).
    pub fn child(&self, name: &str, key: Option<InstanceKey>) -> Self {
        let mut steps = self.0.to_vec();
        steps.push((name.to_string(), key));
        ModuleInstance(steps.into())
    }

    /// The module path without instance keys, e.g. `module.a.module.b`.
    pub fn config_path(&self) -> Vec<String> {
        self.0.iter().map(|(n, _)| n.clone()).collect()
    }
}

impl fmt::Display for ModuleInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, key)) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ".")?;
            }
            write!(f, "module.{name}")?;
            if let Some(k) = key {
                write!(f, "{k}")?;
            }
        }
        Ok(())
    }
}

/// Managed resource (`resource`) or data source (`data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceMode {
    Managed,
    Data,
}

/// The address of one resource instance (or, with `key: None` and a
/// counted block, of the whole block).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceAddr {
    pub module: ModuleInstance,
    pub mode: ResourceMode,
    pub type_name: String,
    pub name: String,
    pub key: Option<InstanceKey>,
}

impl ResourceAddr {
    pub fn managed(type_name: &str, name: &str) -> Self {
        ResourceAddr {
            module: ModuleInstance::root(),
            mode: ResourceMode::Managed,
            type_name: type_name.to_string(),
            name: name.to_string(),
            key: None,
        }
    }

    pub fn with_key(mut self, key: Option<InstanceKey>) -> Self {
        self.key = key;
        self
    }

    pub fn in_module(mut self, module: ModuleInstance) -> Self {
        self.module = module;
        self
    }

    /// The address of the block this instance belongs to (no key).
    pub fn block(&self) -> ResourceAddr {
        ResourceAddr {
            key: None,
            ..self.clone()
        }
    }

    /// `aws_instance.runner` or `data.aws_ami.x`, without module or key.
    pub fn local_name(&self) -> String {
        match self.mode {
            ResourceMode::Managed => format!("{}.{}", self.type_name, self.name),
            ResourceMode::Data => format!("data.{}.{}", self.type_name, self.name),
        }
    }
}

impl fmt::Display for ResourceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.module.is_root() {
            write!(f, "{}.", self.module)?;
        }
        write!(f, "{}", self.local_name())?;
        if let Some(k) = &self.key {
            write!(f, "{k}")?;
        }
        Ok(())
    }
}

/// A string that is not a valid resource address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address {input:?}: {reason}")]
pub struct AddrParseError {
    pub input: String,
    pub reason: String,
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn ident(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '-'))
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        if len == 0 {
            return None;
        }
        self.pos += len;
        Some(&rest[..len])
    }
    fn eat(&mut self, c: char) -> bool {
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn key(&mut self) -> Result<Option<InstanceKey>, String> {
        if !self.eat('[') {
            return Ok(None);
        }
        let rest = self.rest();
        let end = rest.find(']').ok_or("missing ']'")?;
        let inner = &rest[..end];
        self.pos += end + 1;
        if inner.starts_with('"') {
            let s: String =
                serde_json::from_str(inner).map_err(|e| format!("bad key {inner}: {e}"))?;
            Ok(Some(InstanceKey::Str(s)))
        } else {
            let n: i64 = inner.parse().map_err(|_| format!("bad index [{inner}]"))?;
            Ok(Some(InstanceKey::Int(n)))
        }
    }
}

impl FromStr for ResourceAddr {
    type Err = AddrParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| AddrParseError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let mut c = Cursor { s: input, pos: 0 };
        let mut module = Vec::new();
        loop {
            let save = c.pos;
            let word = c.ident().ok_or_else(|| err("expected a resource type"))?;
            if word == "module" && c.eat('.') {
                let name = c
                    .ident()
                    .ok_or_else(|| err("expected a module name after 'module.'"))?;
                let key = c.key().map_err(|r| err(&r))?;
                module.push((name.to_string(), key));
                if !c.eat('.') {
                    return Err(err("expected a resource after the module path"));
                }
                continue;
            }
            c.pos = save;
            break;
        }
        let mut mode = ResourceMode::Managed;
        let mut type_name = c.ident().ok_or_else(|| err("expected a resource type"))?;
        if type_name == "data" {
            mode = ResourceMode::Data;
            if !c.eat('.') {
                return Err(err("expected '.' after 'data'"));
            }
            type_name = c
                .ident()
                .ok_or_else(|| err("expected a data source type"))?;
        }
        if !c.eat('.') {
            return Err(err("expected TYPE.NAME"));
        }
        let name = c.ident().ok_or_else(|| err("expected a resource name"))?;
        let key = c.key().map_err(|r| err(&r))?;
        if !c.rest().is_empty() {
            return Err(err(&format!("unexpected {:?}", c.rest())));
        }
        Ok(ResourceAddr {
            module: ModuleInstance(module.into()),
            mode,
            type_name: type_name.to_string(),
            name: name.to_string(),
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_parse_round_trip() {
        for s in [
            "aws_vpc.main",
            "aws_instance.runner[0]",
            "aws_instance.runner[\"a b\"]",
            "data.aws_ami.ubuntu",
            "module.runners[\"x\"].module.inner.aws_instance.r[3]",
            "module.net.aws_subnet.private",
        ] {
            let a: ResourceAddr = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
    }

    #[test]
    fn bad_addresses_are_errors() {
        for s in [
            "",
            "aws_vpc",
            "module.x",
            "aws_vpc.main[",
            "aws_vpc.main[x]",
            "aws_vpc.main.extra",
        ] {
            assert!(s.parse::<ResourceAddr>().is_err(), "{s} should not parse");
        }
    }
}
