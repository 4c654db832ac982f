//! Configuration values.
//!
//! A [`Value`] is what an expression evaluates to and what a provider plans
//! and returns. Two marks travel with values:
//!
//! * [`Value::Unknown`] — "known after apply": a value that only the cloud can
//!   tell us (an ID, an ARN). Any operation on an unknown yields an unknown.
//! * [`Value::Sensitive`] — a wrapper that marks the inner value as secret.
//!   Operations unwrap it, compute, and re-wrap the result, so the mark
//!   propagates. Printing code must use [`Value::redacted`] or check
//!   [`Value::is_sensitive`].
//!
//! Numbers are arbitrary-precision decimals ([`Number`], on `bigdecimal`),
//! as Terraform's are arbitrary precision: `9007199254740993` stays itself,
//! `0.1 + 0.2 == 0.3`, and a 20-digit integer read from JSON keeps its
//! digits. JSON (state, plan files) carries them exactly: serde_json is
//! built with `arbitrary_precision`, so a number's text is kept as written.

use bigdecimal::{BigDecimal, ToPrimitive};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// An arbitrary-precision decimal number. Equality and order are numeric
/// (`1.0 == 1`).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Number(Box<BigDecimal>);

// Boxed so that a `Value` is 32 bytes, not 48: every map node and list
// element of every object pays for the largest variant, and numbers are rare.
const _: () = assert!(std::mem::size_of::<Value>() <= 32);

/// Digits kept by a division that does not terminate (Terraform keeps 512
/// bits, about 154 decimal digits).
const DIV_PRECISION: u64 = 154;

impl Number {
    /// A finite `f64`, by its shortest round-trip text (`0.1` is exactly
    /// 0.1, not the binary fraction nearest to it). `None` for NaN and
    /// infinities.
    pub fn from_f64(n: f64) -> Option<Number> {
        if !n.is_finite() {
            return None;
        }
        BigDecimal::from_str(&format!("{n:?}"))
            .ok()
            .map(Number::from_decimal)
    }

    /// Parse decimal text (`12`, `-1.5`, `1e3`); `None` if it is not a
    /// number. No whitespace, `inf`, `nan` or hex.
    pub fn parse(s: &str) -> Option<Number> {
        let ok = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            && s.bytes().any(|b| b.is_ascii_digit());
        if !ok {
            return None;
        }
        BigDecimal::from_str(s)
            .ok()
            .map(|d| Number::from_decimal(d.normalized()))
    }

    pub fn from_decimal(d: BigDecimal) -> Number {
        Number(Box::new(d))
    }

    /// The decimal itself.
    pub fn decimal(&self) -> &BigDecimal {
        &self.0
    }

    /// The nearest `f64`.
    pub fn to_f64(&self) -> f64 {
        self.0
            .to_scientific_notation()
            .parse::<f64>()
            .unwrap_or_else(|_| self.0.to_f64().unwrap_or(f64::NAN))
    }

    /// The number as an `i64` when it is whole and fits.
    pub fn to_i64(&self) -> Option<i64> {
        if self.is_integer() {
            self.0.to_i64()
        } else {
            None
        }
    }

    /// The number as a `u64` when it is whole, not negative and fits.
    pub fn to_u64(&self) -> Option<u64> {
        if self.is_integer() {
            self.0.to_u64()
        } else {
            None
        }
    }

    pub fn is_integer(&self) -> bool {
        self.0.is_integer()
    }

    pub fn is_zero(&self) -> bool {
        bigdecimal::Zero::is_zero(&*self.0)
    }

    pub fn is_negative(&self) -> bool {
        self.0.sign() == bigdecimal::num_bigint::Sign::Minus
    }

    pub fn add(&self, o: &Number) -> Number {
        Number::from_decimal((&*self.0 + &*o.0).normalized())
    }

    pub fn sub(&self, o: &Number) -> Number {
        Number::from_decimal((&*self.0 - &*o.0).normalized())
    }

    pub fn mul(&self, o: &Number) -> Number {
        Number::from_decimal((&*self.0 * &*o.0).normalized())
    }

    /// `None` when dividing by zero.
    pub fn div(&self, o: &Number) -> Option<Number> {
        if o.is_zero() {
            return None;
        }
        let exact = &*self.0 / &*o.0;
        Some(Number::from_decimal(
            exact.with_prec(DIV_PRECISION).normalized(),
        ))
    }

    /// The remainder with the sign of the dividend, as Terraform's `%`;
    /// `None` when dividing by zero.
    pub fn rem(&self, o: &Number) -> Option<Number> {
        if o.is_zero() {
            return None;
        }
        Some(Number::from_decimal((&*self.0 % &*o.0).normalized()))
    }

    pub fn neg(&self) -> Number {
        Number::from_decimal(-(*self.0).clone())
    }

    pub fn abs(&self) -> Number {
        Number::from_decimal(self.0.abs())
    }

    /// Round towards negative infinity.
    pub fn floor(&self) -> Number {
        Number::from_decimal(
            self.0
                .with_scale_round(0, bigdecimal::RoundingMode::Floor)
                .normalized(),
        )
    }

    /// Round towards positive infinity.
    pub fn ceil(&self) -> Number {
        Number::from_decimal(
            self.0
                .with_scale_round(0, bigdecimal::RoundingMode::Ceiling)
                .normalized(),
        )
    }

    /// JSON for this number, exact.
    pub fn to_json(&self) -> serde_json::Value {
        if let Some(i) = self.to_i64() {
            return serde_json::Value::Number(i.into());
        }
        if let Some(u) = self.to_u64() {
            return serde_json::Value::Number(u.into());
        }
        // With `arbitrary_precision` serde_json keeps the text as is.
        serde_json::from_str::<serde_json::Number>(&self.to_string())
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }

    /// A JSON number, exactly as written.
    pub fn from_json(n: &serde_json::Number) -> Number {
        Number::parse(&n.to_string())
            .or_else(|| n.as_f64().and_then(Number::from_f64))
            .unwrap_or_else(|| Number::from(0i64))
    }
}

impl fmt::Display for Number {
    /// Plain decimal notation without a needless fraction (`3`, `0.5`,
    /// `9007199254740993`), as Terraform prints numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.normalized();
        // Keep astronomically large or small numbers readable.
        let magnitude = n.order_of_magnitude();
        if !(-40..=60).contains(&magnitude) {
            return write!(f, "{}", n.to_scientific_notation());
        }
        write!(f, "{}", n.to_plain_string())
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Self {
        Number::from_decimal(BigDecimal::from(n))
    }
}
impl From<i32> for Number {
    fn from(n: i32) -> Self {
        Number::from_decimal(BigDecimal::from(n))
    }
}
impl From<u64> for Number {
    fn from(n: u64) -> Self {
        Number::from_decimal(BigDecimal::from(n))
    }
}
impl From<usize> for Number {
    fn from(n: usize) -> Self {
        Number::from_decimal(BigDecimal::from(n as u64))
    }
}
impl From<BigDecimal> for Number {
    fn from(d: BigDecimal) -> Self {
        Number::from_decimal(d)
    }
}

/// The text of a string [`Value`]: an `Arc<str>`, so copies of a value share
/// it (a 700 KiB `file()` read once is not copied into every planned object,
/// table entry and change). Reads like a `&str` (it derefs to one, compares
/// with `str`/`String`, prints and hashes as the text).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SharedStr(Arc<str>);

impl SharedStr {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared text itself.
    pub fn as_arc(&self) -> &Arc<str> {
        &self.0
    }
}

impl serde::Serialize for SharedStr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SharedStr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SharedStr::from)
    }
}

impl std::ops::Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}
impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
impl std::borrow::Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}
impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}
impl From<String> for SharedStr {
    fn from(s: String) -> Self {
        SharedStr(s.into())
    }
}
impl From<&String> for SharedStr {
    fn from(s: &String) -> Self {
        SharedStr(s.as_str().into())
    }
}
impl From<&str> for SharedStr {
    fn from(s: &str) -> Self {
        SharedStr(s.into())
    }
}
impl From<Box<str>> for SharedStr {
    fn from(s: Box<str>) -> Self {
        SharedStr(s.into())
    }
}
impl From<std::borrow::Cow<'_, str>> for SharedStr {
    fn from(s: std::borrow::Cow<'_, str>) -> Self {
        SharedStr(s.into())
    }
}
impl From<Arc<str>> for SharedStr {
    fn from(s: Arc<str>) -> Self {
        SharedStr(s)
    }
}
impl From<SharedStr> for String {
    fn from(s: SharedStr) -> Self {
        s.0.to_string()
    }
}
impl PartialEq<str> for SharedStr {
    fn eq(&self, o: &str) -> bool {
        &*self.0 == o
    }
}
impl PartialEq<&str> for SharedStr {
    fn eq(&self, o: &&str) -> bool {
        &*self.0 == *o
    }
}
impl PartialEq<String> for SharedStr {
    fn eq(&self, o: &String) -> bool {
        *self.0 == **o
    }
}
impl PartialEq<SharedStr> for str {
    fn eq(&self, o: &SharedStr) -> bool {
        self == &*o.0
    }
}
impl PartialEq<SharedStr> for &str {
    fn eq(&self, o: &SharedStr) -> bool {
        *self == &*o.0
    }
}
impl PartialEq<SharedStr> for String {
    fn eq(&self, o: &SharedStr) -> bool {
        **self == *o.0
    }
}

/// The entries of a [`Value::Map`]: a `BTreeMap` behind an `Arc`. Reading
/// derefs to the map; writing through `&mut` (insert, remove, `get_mut`)
/// copies the map first if another value shares it, so sharing is never
/// visible. A planned object stored in the change, the value table and
/// the aggregate of its block is one allocation, not three.
#[derive(Clone, Default)]
pub struct ObjectMap(Arc<BTreeMap<String, Value>>);

impl ObjectMap {
    /// The map itself, copied only if it is shared.
    pub fn into_inner(self) -> BTreeMap<String, Value> {
        Arc::unwrap_or_clone(self.0)
    }

    /// Whether two maps are the same allocation (so equal without looking).
    pub fn ptr_eq(a: &ObjectMap, b: &ObjectMap) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl fmt::Debug for ObjectMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::ops::Deref for ObjectMap {
    type Target = BTreeMap<String, Value>;
    fn deref(&self) -> &BTreeMap<String, Value> {
        &self.0
    }
}

impl std::ops::DerefMut for ObjectMap {
    fn deref_mut(&mut self) -> &mut BTreeMap<String, Value> {
        Arc::make_mut(&mut self.0)
    }
}

impl From<BTreeMap<String, Value>> for ObjectMap {
    fn from(m: BTreeMap<String, Value>) -> ObjectMap {
        ObjectMap(Arc::new(m))
    }
}

impl FromIterator<(String, Value)> for ObjectMap {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> ObjectMap {
        ObjectMap(Arc::new(iter.into_iter().collect()))
    }
}

impl IntoIterator for ObjectMap {
    type Item = (String, Value);
    type IntoIter = std::collections::btree_map::IntoIter<String, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_inner().into_iter()
    }
}

impl<'a> IntoIterator for &'a ObjectMap {
    type Item = (&'a String, &'a Value);
    type IntoIter = std::collections::btree_map::Iter<'a, String, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Extend<(String, Value)> for ObjectMap {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, iter: I) {
        Arc::make_mut(&mut self.0).extend(iter)
    }
}

impl PartialEq for ObjectMap {
    fn eq(&self, o: &ObjectMap) -> bool {
        Arc::ptr_eq(&self.0, &o.0) || *self.0 == *o.0
    }
}

/// A configuration value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    /// Shared: copying a value (config → plan → value table → change) does
    /// not copy its strings; build one with [`Value::string`] or `.into()`.
    String(SharedStr),
    /// A list or tuple: ordered, may repeat.
    List(Vec<Value>),
    /// A set: kept sorted by canonical JSON and free of duplicates.
    Set(Vec<Value>),
    /// A map or object: string keys in sorted order. Shared: copying a
    /// value copies a pointer, and a change copies only the map it changes
    /// ([`ObjectMap`] is copy-on-write).
    Map(ObjectMap),
    /// Not known until apply.
    Unknown,
    /// A sensitive value: never printed.
    Sensitive(Box<Value>),
}

/// One step of a path into a value: an attribute/map key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(untagged)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

// Written by hand rather than derived with `untagged`: serde buffers an
// untagged enum's input, and with serde_json's `arbitrary_precision` a
// buffered number is no longer a number.
impl<'de> serde::Deserialize<'de> for PathStep {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::String(s) => Ok(PathStep::Key(s)),
            serde_json::Value::Number(n) => n
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .map(PathStep::Index)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid path index {n}"))),
            other => Err(serde::de::Error::custom(format!(
                "a path step is a string or an index, not {other}"
            ))),
        }
    }
}

/// A path into a value, e.g. `root_block_device[0].volume_size`.
pub type ValuePath = Vec<PathStep>;

/// Render a path as `a.b[0]`.
pub fn path_to_string(path: &[PathStep]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            PathStep::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathStep::Index(i) => {
                out.push_str(&format!("[{i}]"));
            }
        }
    }
    out
}

impl Value {
    pub fn string(s: impl Into<SharedStr>) -> Value {
        Value::String(s.into())
    }

    /// A number value from anything that converts to a [`Number`].
    pub fn number(n: impl Into<Number>) -> Value {
        Value::Number(n.into())
    }

    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Build a set: sorts by canonical form and removes duplicates.
    pub fn set(items: Vec<Value>) -> Value {
        let mut keyed: Vec<(String, Value)> =
            items.into_iter().map(|v| (v.canonical_key(), v)).collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed.dedup_by(|a, b| a.0 == b.0);
        Value::Set(keyed.into_iter().map(|(_, v)| v).collect())
    }

    /// A string that sorts and compares values structurally (used for sets).
    pub fn canonical_key(&self) -> String {
        match self {
            Value::String(s) => s.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => other.to_json_lossy().to_string(),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.unmarked(), Value::Null)
    }

    /// True if this value or anything inside it is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::Sensitive(v) => v.is_wholly_known(),
            Value::List(xs) | Value::Set(xs) => xs.iter().all(Value::is_wholly_known),
            Value::Map(m) => m.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    /// True if this value itself (not something inside it) is unknown.
    pub fn is_unknown(&self) -> bool {
        matches!(self.unmarked(), Value::Unknown)
    }

    /// True if the top-level value carries the sensitive mark.
    pub fn is_sensitive(&self) -> bool {
        matches!(self, Value::Sensitive(_))
    }

    /// True if this value or anything inside it is sensitive.
    pub fn contains_sensitive(&self) -> bool {
        match self {
            Value::Sensitive(_) => true,
            Value::List(xs) | Value::Set(xs) => xs.iter().any(Value::contains_sensitive),
            Value::Map(m) => m.values().any(Value::contains_sensitive),
            _ => false,
        }
    }

    /// The value without its top-level sensitive mark(s).
    pub fn unmarked(&self) -> &Value {
        let mut v = self;
        while let Value::Sensitive(inner) = v {
            v = inner;
        }
        v
    }

    /// Split into the unmarked value and whether it was marked sensitive.
    pub fn into_unmarked(self) -> (Value, bool) {
        let mut v = self;
        let mut marked = false;
        while let Value::Sensitive(inner) = v {
            v = *inner;
            marked = true;
        }
        (v, marked)
    }

    /// Wrap in the sensitive mark (idempotent).
    pub fn mark_sensitive(self) -> Value {
        if self.is_sensitive() {
            self
        } else {
            Value::Sensitive(Box::new(self))
        }
    }

    /// Wrap in the sensitive mark when `sensitive` is true.
    pub fn mark_if(self, sensitive: bool) -> Value {
        if sensitive {
            self.mark_sensitive()
        } else {
            self
        }
    }

    /// Remove every sensitive mark, at any depth, collecting the paths that
    /// were marked.
    pub fn deep_unmark(self) -> (Value, Vec<ValuePath>) {
        let mut paths = Vec::new();
        let v = deep_unmark_at(self, &mut Vec::new(), &mut paths);
        (v, paths)
    }

    /// Re-apply sensitive marks at the given paths (missing paths are ignored).
    pub fn mark_paths(self, paths: &[ValuePath]) -> Value {
        let mut v = self;
        for p in paths {
            v = mark_at(v, p);
        }
        v
    }

    /// Replace sensitive values with the string `(sensitive value)`, at any depth.
    pub fn redacted(&self) -> Value {
        match self {
            Value::Sensitive(_) => Value::String("(sensitive value)".into()),
            Value::List(xs) => Value::List(xs.iter().map(Value::redacted).collect()),
            Value::Set(xs) => Value::Set(xs.iter().map(Value::redacted).collect()),
            Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), v.redacted())).collect()),
            other => other.clone(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self.unmarked() {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.unmarked() {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as the nearest `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_number().map(Number::to_f64)
    }

    /// The number when it is whole and fits in an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::to_i64)
    }

    /// The exact number.
    pub fn as_number(&self) -> Option<&Number> {
        match self.unmarked() {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// Elements of a list or set.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self.unmarked() {
            Value::List(xs) | Value::Set(xs) => Some(xs),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self.unmarked() {
            Value::Map(m) => Some(&**m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(&mut **m),
            Value::Sensitive(inner) => inner.as_map_mut(),
            _ => None,
        }
    }

    /// Attribute of an object/map, `None` if absent or not a map.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map().and_then(|m| m.get(key))
    }

    /// Follow a path; `None` if any step is missing.
    pub fn get_path(&self, path: &[PathStep]) -> Option<&Value> {
        let mut v = self;
        for step in path {
            v = match (step, v.unmarked()) {
                (PathStep::Key(k), Value::Map(m)) => m.get(k)?,
                (PathStep::Index(i), Value::List(xs) | Value::Set(xs)) => xs.get(*i)?,
                _ => return None,
            };
        }
        Some(v)
    }

    /// A short name of the value's type, for diagnostics.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Map(_) => "object",
            Value::Unknown => "unknown",
            Value::Sensitive(v) => v.type_name(),
        }
    }

    /// Convert a JSON value (as stored in state) into a value.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(Number::from_json(n)),
            serde_json::Value::String(s) => Value::String(s.as_str().into()),
            serde_json::Value::Array(xs) => Value::List(xs.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(m) => Value::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Convert to JSON. Fails if anything inside is unknown. Sensitive marks
    /// are dropped: callers that persist must record the paths first
    /// ([`Value::deep_unmark`]).
    pub fn to_json(&self) -> Result<serde_json::Value, UnknownValueError> {
        Ok(match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => n.to_json(),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::List(xs) | Value::Set(xs) => {
                serde_json::Value::Array(xs.iter().map(Value::to_json).collect::<Result<_, _>>()?)
            }
            Value::Map(m) => serde_json::Value::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), v.to_json()?)))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Unknown => return Err(UnknownValueError),
            Value::Sensitive(v) => v.to_json()?,
        })
    }

    /// Convert to JSON, writing unknowns as `null`.
    pub fn to_json_lossy(&self) -> serde_json::Value {
        match self {
            Value::Unknown => serde_json::Value::Null,
            Value::List(xs) | Value::Set(xs) => {
                serde_json::Value::Array(xs.iter().map(Value::to_json_lossy).collect())
            }
            Value::Map(m) => serde_json::Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.to_json_lossy()))
                    .collect(),
            ),
            Value::Sensitive(v) => v.to_json_lossy(),
            other => other.to_json().unwrap_or(serde_json::Value::Null),
        }
    }

    /// Terraform's `after_unknown` shape: `true` where the value is unknown,
    /// mirroring lists and maps that contain unknowns, `false` elsewhere.
    pub fn unknown_mask(&self) -> serde_json::Value {
        mask(self, &|v| matches!(v, Value::Unknown))
    }

    /// Terraform's `before_sensitive`/`after_sensitive` shape.
    pub fn sensitive_mask(&self) -> serde_json::Value {
        mask(self, &|v| matches!(v, Value::Sensitive(_)))
    }
}

impl Value {
    /// Lossless JSON for plan files: unknowns become `{"$unknown": true}`,
    /// sensitive values `{"$sensitive": …}`, sets `{"$set": […]}`. Plan
    /// files therefore contain secrets, as Terraform's do.
    pub fn to_tagged_json(&self) -> serde_json::Value {
        match self {
            Value::Unknown => serde_json::json!({ "$unknown": true }),
            Value::Sensitive(v) => serde_json::json!({ "$sensitive": v.to_tagged_json() }),
            Value::Set(xs) => {
                serde_json::json!({ "$set": xs.iter().map(Value::to_tagged_json).collect::<Vec<_>>() })
            }
            Value::List(xs) => {
                serde_json::Value::Array(xs.iter().map(Value::to_tagged_json).collect())
            }
            Value::Map(m) => {
                let obj: serde_json::Map<String, serde_json::Value> = m
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_tagged_json()))
                    .collect();
                if obj.keys().any(|k| k.starts_with('$')) {
                    serde_json::json!({ "$map": obj })
                } else {
                    serde_json::Value::Object(obj)
                }
            }
            other => other.to_json().unwrap_or(serde_json::Value::Null),
        }
    }

    /// Inverse of [`Value::to_tagged_json`].
    pub fn from_tagged_json(j: &serde_json::Value) -> Value {
        match j {
            serde_json::Value::Object(m) if m.len() == 1 => {
                let (k, v) = m.iter().next().expect("one entry");
                match k.as_str() {
                    "$unknown" => Value::Unknown,
                    "$sensitive" => Value::from_tagged_json(v).mark_sensitive(),
                    "$set" => Value::Set(
                        v.as_array()
                            .map(|xs| xs.iter().map(Value::from_tagged_json).collect())
                            .unwrap_or_default(),
                    ),
                    "$map" => Value::Map(
                        v.as_object()
                            .map(|o| {
                                o.iter()
                                    .map(|(k, v)| (k.clone(), Value::from_tagged_json(v)))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    ),
                    _ => Value::Map(
                        m.iter()
                            .map(|(k, v)| (k.clone(), Value::from_tagged_json(v)))
                            .collect(),
                    ),
                }
            }
            serde_json::Value::Object(m) => Value::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::from_tagged_json(v)))
                    .collect(),
            ),
            serde_json::Value::Array(xs) => {
                Value::List(xs.iter().map(Value::from_tagged_json).collect())
            }
            other => Value::from_json(other),
        }
    }
}

fn mask(v: &Value, hit: &dyn Fn(&Value) -> bool) -> serde_json::Value {
    if hit(v) {
        return serde_json::Value::Bool(true);
    }
    match v.unmarked() {
        Value::List(xs) | Value::Set(xs) => {
            let inner: Vec<_> = xs.iter().map(|x| mask(x, hit)).collect();
            if inner.iter().all(|m| m == &serde_json::Value::Bool(false)) {
                serde_json::Value::Bool(false)
            } else {
                serde_json::Value::Array(inner)
            }
        }
        Value::Map(m) => {
            let inner: serde_json::Map<_, _> = m
                .iter()
                .map(|(k, x)| (k.clone(), mask(x, hit)))
                .filter(|(_, m)| m != &serde_json::Value::Bool(false))
                .collect();
            if inner.is_empty() {
                serde_json::Value::Bool(false)
            } else {
                serde_json::Value::Object(inner)
            }
        }
        _ => serde_json::Value::Bool(false),
    }
}

fn deep_unmark_at(v: Value, at: &mut ValuePath, paths: &mut Vec<ValuePath>) -> Value {
    match v {
        Value::Sensitive(inner) => {
            paths.push(at.clone());
            let (inner, _) = Value::Sensitive(inner).into_unmarked();
            // Marks below a sensitive value are implied by it.
            let mut ignored = Vec::new();
            deep_unmark_at(inner, at, &mut ignored)
        }
        Value::List(xs) => Value::List(
            xs.into_iter()
                .enumerate()
                .map(|(i, x)| {
                    at.push(PathStep::Index(i));
                    let r = deep_unmark_at(x, at, paths);
                    at.pop();
                    r
                })
                .collect(),
        ),
        Value::Set(xs) => Value::Set(
            xs.into_iter()
                .enumerate()
                .map(|(i, x)| {
                    at.push(PathStep::Index(i));
                    let r = deep_unmark_at(x, at, paths);
                    at.pop();
                    r
                })
                .collect(),
        ),
        Value::Map(m) => Value::Map(
            m.into_iter()
                .map(|(k, x)| {
                    at.push(PathStep::Key(k.clone()));
                    let r = deep_unmark_at(x, at, paths);
                    at.pop();
                    (k, r)
                })
                .collect(),
        ),
        other => other,
    }
}

fn mark_at(v: Value, path: &[PathStep]) -> Value {
    let Some((first, rest)) = path.split_first() else {
        return v.mark_sensitive();
    };
    let (v, marked) = v.into_unmarked();
    let out = match (first, v) {
        (PathStep::Key(k), Value::Map(mut m)) => {
            if let Some(child) = m.remove(k) {
                m.insert(k.clone(), mark_at(child, rest));
            }
            Value::Map(m)
        }
        (PathStep::Index(i), Value::List(mut xs)) => {
            if *i < xs.len() {
                let child = std::mem::replace(&mut xs[*i], Value::Null);
                xs[*i] = mark_at(child, rest);
            }
            Value::List(xs)
        }
        (PathStep::Index(i), Value::Set(mut xs)) => {
            if *i < xs.len() {
                let child = std::mem::replace(&mut xs[*i], Value::Null);
                xs[*i] = mark_at(child, rest);
            }
            Value::Set(xs)
        }
        (_, other) => other,
    };
    out.mark_if(marked)
}

/// Format an `f64` as HCL/Terraform does: integers without a fraction.
/// (Values hold [`Number`]s, which print the same way.)
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Returned by [`Value::to_json`] when a value is not wholly known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("value is not known until apply")]
pub struct UnknownValueError;

impl fmt::Display for Value {
    /// HCL-like rendering; sensitive values are redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::String(s) => write!(f, "{}", serde_json::Value::String(s.to_string())),
            Value::List(xs) | Value::Set(xs) => {
                write!(f, "[")?;
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{x}")?;
                }
                write!(f, "]")
            }
            Value::Map(m) => {
                write!(f, "{{")?;
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k} = {x}")?;
                }
                write!(f, "}}")
            }
            Value::Unknown => write!(f, "(known after apply)"),
            Value::Sensitive(_) => write!(f, "(sensitive value)"),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.into())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s.into())
    }
}
impl From<Arc<str>> for Value {
    fn from(s: Arc<str>) -> Self {
        Value::String(SharedStr(s))
    }
}
impl From<SharedStr> for Value {
    fn from(s: SharedStr) -> Self {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(n.into())
    }
}
impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Value::Number(n.into())
    }
}
impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Number(n.into())
    }
}
impl From<usize> for Value {
    fn from(n: usize) -> Self {
        Value::Number(n.into())
    }
}
/// A finite float by its shortest text (`0.1` is exactly 0.1); NaN and the
/// infinities, which no Terraform value holds, become null.
impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}
impl From<Number> for Value {
    fn from(n: Number) -> Self {
        Value::Number(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_maps_copy_on_write() {
        let a = Value::map([("id", Value::from("i-1")), ("n", Value::from(1))]);
        let mut b = a.clone();
        let (Value::Map(ma), Value::Map(mb)) = (&a, &b) else {
            panic!("maps")
        };
        assert!(ObjectMap::ptr_eq(ma, mb), "a clone shares the map");
        // Writing through one copy leaves the other as it was.
        b.as_map_mut().unwrap().insert("n".into(), Value::from(2));
        assert_eq!(a.get("n"), Some(&Value::from(1)));
        assert_eq!(b.get("n"), Some(&Value::from(2)));
        assert_ne!(a, b);
        // Sensitive wrappers reach the map too, and still copy first.
        let mut c = a.clone().mark_sensitive();
        c.as_map_mut().unwrap().remove("id");
        assert!(a.get("id").is_some());
        // Taking the entries out of a shared map copies; of an unshared one, not.
        let Value::Map(m) = a.clone() else {
            panic!("map")
        };
        assert_eq!(m.into_inner().len(), 2);
        assert_eq!(a.as_map().map(|m| m.len()), Some(2));
    }

    #[test]
    fn json_round_trip_keeps_integers() {
        let v = Value::map([("n", Value::from(3)), ("f", Value::from(1.5))]);
        let j = v.to_json().unwrap();
        assert_eq!(j.to_string(), r#"{"f":1.5,"n":3}"#);
        assert_eq!(Value::from_json(&j), v);
    }

    #[test]
    fn numbers_are_exact_through_json() {
        // Integers beyond 2^53 and beyond 64 bits, and decimals, keep every
        // digit through state JSON (text), as Terraform's numbers do.
        let text = r#"{"a":9007199254740993,"b":123456789012345678901234567890,"c":0.1,"d":-1.5e-3,"e":2.0}"#;
        let j: serde_json::Value = serde_json::from_str(text).unwrap();
        let v = Value::from_json(&j);
        assert_eq!(v.get("a").unwrap().to_string(), "9007199254740993");
        assert_eq!(
            v.get("b").unwrap().to_string(),
            "123456789012345678901234567890"
        );
        let sum = v
            .get("c")
            .unwrap()
            .as_number()
            .unwrap()
            .add(&Number::parse("0.2").unwrap());
        assert_eq!(sum, Number::parse("0.3").unwrap());
        assert_eq!(v.get("e").unwrap(), &Value::from(2));
        assert_eq!(
            v.to_json().unwrap().to_string(),
            r#"{"a":9007199254740993,"b":123456789012345678901234567890,"c":0.1,"d":-0.0015,"e":2}"#
        );
        assert_eq!(Value::from_json(&v.to_json().unwrap()), v);
        assert_eq!(
            Value::from(0.1),
            Value::Number(Number::parse("0.1").unwrap())
        );
        assert_eq!(Value::from(f64::NAN), Value::Null);
        assert_eq!(v.get("a").unwrap().as_i64(), Some(9_007_199_254_740_993));
        assert_eq!(v.get("c").unwrap().as_f64(), Some(0.1));
    }

    #[test]
    fn path_steps_read_back_from_json() {
        let paths: Vec<ValuePath> =
            serde_json::from_str(r#"[["tags", "a"], ["xs", 0, "k"]]"#).unwrap();
        assert_eq!(
            paths[1],
            vec![
                PathStep::Key("xs".into()),
                PathStep::Index(0),
                PathStep::Key("k".into())
            ]
        );
        assert_eq!(serde_json::to_string(&paths[1]).unwrap(), r#"["xs",0,"k"]"#);
        assert!(serde_json::from_str::<ValuePath>("[true]").is_err());
    }

    #[test]
    fn unknown_blocks_json() {
        let v = Value::List(vec![Value::Unknown]);
        assert!(v.to_json().is_err());
        assert!(!v.is_wholly_known());
        assert_eq!(v.unknown_mask(), serde_json::json!([true]));
    }

    #[test]
    fn sensitive_paths_round_trip() {
        let v = Value::map([
            ("a", Value::string("x").mark_sensitive()),
            (
                "b",
                Value::List(vec![Value::from(1), Value::from(2).mark_sensitive()]),
            ),
        ]);
        let (plain, paths) = v.clone().deep_unmark();
        assert!(!plain.contains_sensitive());
        assert_eq!(paths.len(), 2);
        assert_eq!(plain.mark_paths(&paths), v);
        assert_eq!(
            v.redacted().get("a").unwrap().as_str(),
            Some("(sensitive value)")
        );
        assert_eq!(
            v.sensitive_mask(),
            serde_json::json!({"a": true, "b": [false, true]})
        );
    }

    #[test]
    fn tagged_json_is_lossless() {
        let v = Value::map([
            ("u", Value::Unknown),
            ("s", Value::from("x").mark_sensitive()),
            ("set", Value::set(vec![Value::from(2), Value::from(1)])),
            ("odd", Value::map([("$set", Value::from(1))])),
            ("l", Value::List(vec![Value::Null, Value::Bool(true)])),
        ]);
        assert_eq!(Value::from_tagged_json(&v.to_tagged_json()), v);
    }

    #[test]
    fn sets_are_sorted_and_deduplicated() {
        let s = Value::set(vec!["b".into(), "a".into(), "b".into()]);
        assert_eq!(s, Value::Set(vec!["a".into(), "b".into()]));
    }
}
