//! Collection and type conversion functions.

use crate::args::Args;
use crate::convert::{self, identity, loose_eq, unify};
use crate::strings::char_count;
use crate::{FuncContext, FuncError};
use std::collections::{BTreeMap, HashSet};
use terrace_core::Value;

type R = Result<Value, FuncError>;

/// `range` refuses to build more numbers than this (Terraform's limit).
const MAX_RANGE: usize = 1024;
/// `setproduct` refuses results with more elements than this.
const MAX_PRODUCT: usize = 1_048_576;

fn truth(a: &Args<'_>, want: bool) -> R {
    let list = a.list(0)?;
    let mut unknown = false;
    for (i, el) in list.iter().enumerate() {
        match el {
            Value::Unknown => unknown = true,
            Value::Null => {
                if want {
                    return Ok(Value::Bool(false));
                }
            }
            other => match convert::to_bool(other) {
                Some(b) if b != want => return Ok(Value::Bool(!want)),
                Some(_) => {}
                None => {
                    return Err(a.invalid(
                        0,
                        format!("element {i} must be a bool, got {}", other.type_name()),
                    ));
                }
            },
        }
    }
    Ok(if unknown {
        Value::Unknown
    } else {
        Value::Bool(want)
    })
}

pub(crate) fn alltrue(a: &Args<'_>, _: &FuncContext) -> R {
    truth(a, true)
}

pub(crate) fn anytrue(a: &Args<'_>, _: &FuncContext) -> R {
    // anytrue is "not all false": short-circuits on the first true.
    let list = a.list(0)?;
    let mut unknown = false;
    for (i, el) in list.iter().enumerate() {
        match el {
            Value::Unknown => unknown = true,
            Value::Null => {}
            other => match convert::to_bool(other) {
                Some(true) => return Ok(Value::Bool(true)),
                Some(false) => {}
                None => {
                    return Err(a.invalid(
                        0,
                        format!("element {i} must be a bool, got {}", other.type_name()),
                    ));
                }
            },
        }
    }
    Ok(if unknown {
        Value::Unknown
    } else {
        Value::Bool(false)
    })
}

pub(crate) fn chunklist(a: &Args<'_>, _: &FuncContext) -> R {
    let list = a.list(0)?;
    let size = a.int(1)?;
    if size < 0 {
        return Err(a.error(1, "the size argument must be positive"));
    }
    if size == 0 {
        return Ok(Value::List(vec![Value::List(list.to_vec())]));
    }
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    Ok(Value::List(
        list.chunks(size).map(|c| Value::List(c.to_vec())).collect(),
    ))
}

pub(crate) fn coalesce(a: &Args<'_>, _: &FuncContext) -> R {
    if a.len() == 0 {
        return Err(FuncError::new("at least one argument is required"));
    }
    // Terraform unifies the arguments first: a mix of strings and numbers
    // yields a string.
    let primitives = unify(a.all().iter().filter(|v| !v.is_null()).cloned().collect());
    let mixed_to_string =
        matches!(&primitives, Ok(vs) if vs.iter().any(|v| matches!(v, Value::String(_))));
    for v in a.all() {
        match v {
            Value::Unknown => return Ok(Value::Unknown),
            Value::Null => continue,
            Value::String(s) if s.is_empty() => continue,
            other => {
                if mixed_to_string && let Some(s) = convert::to_string(other) {
                    return Ok(Value::string(s));
                }
                return Ok(other.clone());
            }
        }
    }
    Err(FuncError::new("no non-null, non-empty-string arguments"))
}

pub(crate) fn coalescelist(a: &Args<'_>, _: &FuncContext) -> R {
    if a.len() == 0 {
        return Err(FuncError::new("at least one argument is required"));
    }
    for (i, v) in a.all().iter().enumerate() {
        match v {
            Value::Null => continue,
            Value::Unknown => return Ok(Value::Unknown),
            Value::List(xs) | Value::Set(xs) => {
                if !xs.is_empty() {
                    return Ok(Value::List(xs.clone()));
                }
            }
            other => return Err(a.invalid(i, format!("list required, got {}", other.type_name()))),
        }
    }
    Err(FuncError::new("no non-null arguments"))
}

pub(crate) fn compact(a: &Args<'_>, _: &FuncContext) -> R {
    let list = a.list(0)?;
    let mut out = Vec::new();
    for (i, el) in list.iter().enumerate() {
        match el {
            Value::Null => {}
            other => {
                let s = convert::to_string(other).ok_or_else(|| {
                    a.invalid(
                        0,
                        format!("element {i} must be a string, got {}", other.type_name()),
                    )
                })?;
                if !s.is_empty() {
                    out.push(Value::string(s));
                }
            }
        }
    }
    Ok(Value::List(out))
}

pub(crate) fn concat(a: &Args<'_>, _: &FuncContext) -> R {
    if a.len() == 0 {
        return Err(FuncError::new("at least one argument is required"));
    }
    let mut out = Vec::new();
    for (i, v) in a.all().iter().enumerate() {
        match v {
            Value::List(xs) | Value::Set(xs) => out.extend(xs.iter().cloned()),
            Value::Null => return Err(a.invalid(i, "argument must not be null")),
            other => {
                return Err(a.error(
                    i,
                    format!(
                        "all arguments must be lists or tuples; got {}",
                        other.type_name()
                    ),
                ));
            }
        }
    }
    Ok(Value::List(out))
}

pub(crate) fn contains(a: &Args<'_>, _: &FuncContext) -> R {
    let list = a.list(0)?;
    let value = a.get(1);
    if !value.is_wholly_known() {
        return Ok(Value::Unknown);
    }
    let mut unknown = false;
    for el in list {
        if !el.is_wholly_known() {
            unknown = true;
        } else if loose_eq(el, value) {
            return Ok(Value::Bool(true));
        }
    }
    Ok(if unknown {
        Value::Unknown
    } else {
        Value::Bool(false)
    })
}

pub(crate) fn distinct(a: &Args<'_>, _: &FuncContext) -> R {
    let list = a.list(0)?;
    let mut seen = HashSet::new();
    Ok(Value::List(
        list.iter()
            .filter(|v| seen.insert(identity(v)))
            .cloned()
            .collect(),
    ))
}

pub(crate) fn element(a: &Args<'_>, _: &FuncContext) -> R {
    let list = a.list(0)?;
    let index = a.int(1)?;
    if list.is_empty() {
        return Err(a.error(0, "cannot use element function with an empty list"));
    }
    if index < 0 {
        return Err(a.error(1, "cannot use element function with a negative index"));
    }
    let i = (index as u64 % list.len() as u64) as usize;
    Ok(list[i].clone())
}

fn flatten_into(list: &[Value], out: &mut Vec<Value>) -> bool {
    for el in list {
        match el {
            Value::List(xs) | Value::Set(xs) => {
                if !flatten_into(xs, out) {
                    return false;
                }
            }
            Value::Unknown => return false,
            other => out.push(other.clone()),
        }
    }
    true
}

pub(crate) fn flatten(a: &Args<'_>, _: &FuncContext) -> R {
    let list = a.list(0)?;
    let mut out = Vec::new();
    if !flatten_into(list, &mut out) {
        return Ok(Value::Unknown);
    }
    Ok(Value::List(out))
}

pub(crate) fn index(a: &Args<'_>, _: &FuncContext) -> R {
    let list = a.list(0)?;
    let value = a.get(1);
    match list.iter().position(|el| loose_eq(el, value)) {
        Some(i) => Ok(Value::from(i)),
        None => Err(a.error(1, "item not found")),
    }
}

pub(crate) fn keys(a: &Args<'_>, _: &FuncContext) -> R {
    let m = a.map(0)?;
    Ok(Value::List(
        m.keys().map(|k| Value::string(k.clone())).collect(),
    ))
}

pub(crate) fn values(a: &Args<'_>, _: &FuncContext) -> R {
    let m = a.map(0)?;
    Ok(Value::List(m.values().cloned().collect()))
}

pub(crate) fn length(a: &Args<'_>, _: &FuncContext) -> R {
    match a.get(0) {
        Value::Null => Err(a.invalid(0, "argument must not be null")),
        Value::String(s) => Ok(Value::from(char_count(s))),
        Value::List(xs) => Ok(Value::from(xs.len())),
        // Unknown elements of a set may turn out equal and collapse.
        Value::Set(xs) if xs.iter().any(|x| !x.is_wholly_known()) => Ok(Value::Unknown),
        Value::Set(xs) => Ok(Value::from(xs.len())),
        Value::Map(m) => Ok(Value::from(m.len())),
        _ => Err(a.invalid(
            0,
            "argument must be a string, a collection type, or a structural type",
        )),
    }
}

pub(crate) fn lookup(a: &Args<'_>, _: &FuncContext) -> R {
    let m = a.map(0)?;
    let key = a.string(1)?;
    if let Some(v) = m.get(&key) {
        return Ok(v.clone());
    }
    if a.len() < 3 {
        return Err(a.error(1, format!("lookup failed to find key {}", a.quote(1, &key))));
    }
    let default = a.get(2).clone();
    // The default takes the map's element type: a number default for a map
    // of strings comes back as a string.
    let all_strings = !m.is_empty() && m.values().all(|v| matches!(v, Value::String(_)));
    if all_strings && matches!(default, Value::Number(_) | Value::Bool(_)) {
        return Ok(convert::to_string(&default).map_or(default, Value::string));
    }
    Ok(default)
}

pub(crate) fn matchkeys(a: &Args<'_>, _: &FuncContext) -> R {
    let values = a.list(0)?;
    let keys = a.list(1)?;
    let search = a.list(2)?;
    if values.len() != keys.len() {
        return Err(a.error(1, "length of keys and values should be equal"));
    }
    Ok(Value::List(
        values
            .iter()
            .zip(keys)
            .filter(|(_, k)| search.iter().any(|s| loose_eq(s, k)))
            .map(|(v, _)| v.clone())
            .collect(),
    ))
}

pub(crate) fn merge(a: &Args<'_>, _: &FuncContext) -> R {
    let mut out = BTreeMap::new();
    for (i, v) in a.all().iter().enumerate() {
        match v {
            Value::Null => {}
            Value::Map(m) => out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone()))),
            other => {
                return Err(a.error(
                    i,
                    format!(
                        "arguments must be maps or objects, got \"{}\"",
                        other.type_name()
                    ),
                ));
            }
        }
    }
    Ok(Value::Map(out.into()))
}

pub(crate) fn one(a: &Args<'_>, _: &FuncContext) -> R {
    let list = a.list(0)?;
    match list {
        [] => Ok(Value::Null),
        [only] => Ok(only.clone()),
        _ => Err(a.invalid(
            0,
            "must be a list, set, or tuple value with either zero or one elements",
        )),
    }
}

pub(crate) fn range(a: &Args<'_>, _: &FuncContext) -> R {
    let nums: Vec<f64> = (0..a.len())
        .map(|i| a.number(i))
        .collect::<Result<_, _>>()?;
    let (start, end, step) = match nums.as_slice() {
        [end] => (0.0, *end, if *end < 0.0 { -1.0 } else { 1.0 }),
        [start, end] => (*start, *end, if end < start { -1.0 } else { 1.0 }),
        [start, end, step] => (*start, *end, *step),
        _ => return Err(FuncError::new("must have one, two, or three arguments")),
    };
    if step == 0.0 {
        return Err(a.error(2, "step must not be zero"));
    }
    let down = step < 0.0;
    if down && end > start {
        return Err(a.error(1, "end must be less than start when step is negative"));
    }
    if !down && end < start {
        return Err(a.error(1, "end must be greater than start when step is positive"));
    }
    let mut out = Vec::new();
    let mut n = start;
    while (down && n > end) || (!down && n < end) {
        if out.len() >= MAX_RANGE {
            return Err(FuncError::new(format!(
                "more than {MAX_RANGE} values were generated; either decrease the difference between start and end or use a smaller step"
            )));
        }
        out.push(Value::from(n));
        let next = n + step;
        if next == n {
            // The step is too small to change the number at this magnitude.
            return Err(FuncError::new(format!(
                "more than {MAX_RANGE} values were generated; either decrease the difference between start and end or use a smaller step"
            )));
        }
        n = next;
    }
    Ok(Value::List(out))
}

pub(crate) fn reverse(a: &Args<'_>, _: &FuncContext) -> R {
    let list = a.list(0)?;
    Ok(Value::List(list.iter().rev().cloned().collect()))
}

fn set_args(a: &Args<'_>) -> Result<Vec<Vec<Value>>, FuncError> {
    (0..a.len())
        .map(|i| {
            let xs = a.list(i)?;
            unify(xs.to_vec()).map_err(|e| a.invalid(i, e))
        })
        .collect()
}

/// Give every set the same element type: if one holds strings and another
/// numbers, all become strings.
fn unify_sets(sets: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    let lens: Vec<usize> = sets.iter().map(Vec::len).collect();
    let flat: Vec<Value> = sets.into_iter().flatten().collect();
    let flat = unify(flat.clone()).unwrap_or(flat);
    let mut it = flat.into_iter();
    lens.into_iter()
        .map(|n| it.by_ref().take(n).collect())
        .collect()
}

pub(crate) fn setunion(a: &Args<'_>, _: &FuncContext) -> R {
    let sets = unify_sets(set_args(a)?);
    Ok(Value::set(sets.into_iter().flatten().collect()))
}

pub(crate) fn setintersection(a: &Args<'_>, _: &FuncContext) -> R {
    let mut sets = unify_sets(set_args(a)?).into_iter();
    let first = sets.next().unwrap_or_default();
    let others: Vec<HashSet<String>> = sets.map(|s| s.iter().map(identity).collect()).collect();
    Ok(Value::set(
        first
            .into_iter()
            .filter(|v| others.iter().all(|o| o.contains(&identity(v))))
            .collect(),
    ))
}

pub(crate) fn setsubtract(a: &Args<'_>, _: &FuncContext) -> R {
    let mut sets = unify_sets(set_args(a)?).into_iter();
    let first = sets.next().unwrap_or_default();
    let remove: HashSet<String> = sets
        .next()
        .unwrap_or_default()
        .iter()
        .map(identity)
        .collect();
    Ok(Value::set(
        first
            .into_iter()
            .filter(|v| !remove.contains(&identity(v)))
            .collect(),
    ))
}

pub(crate) fn setproduct(a: &Args<'_>, _: &FuncContext) -> R {
    if a.len() < 2 {
        return Err(FuncError::new("at least two arguments are required"));
    }
    let any_set = a.all().iter().any(|v| matches!(v, Value::Set(_)));
    let mut inputs = Vec::with_capacity(a.len());
    let mut total: usize = 1;
    for i in 0..a.len() {
        let xs = a.list(i)?;
        total = total.saturating_mul(xs.len());
        inputs.push(xs);
    }
    if total > MAX_PRODUCT {
        return Err(FuncError::new(format!(
            "the product would have more than {MAX_PRODUCT} elements"
        )));
    }
    let mut rows: Vec<Vec<Value>> = vec![Vec::new()];
    for xs in inputs {
        let mut next = Vec::with_capacity(rows.len() * xs.len());
        for row in &rows {
            for x in xs {
                let mut r = row.clone();
                r.push(x.clone());
                next.push(r);
            }
        }
        rows = next;
    }
    let rows: Vec<Value> = rows.into_iter().map(Value::List).collect();
    Ok(if any_set {
        Value::set(rows)
    } else {
        Value::List(rows)
    })
}

pub(crate) fn slice(a: &Args<'_>, _: &FuncContext) -> R {
    let list = a.list(0)?;
    let start = a.int(1)?;
    let end = a.int(2)?;
    if start < 0 {
        return Err(a.error(1, "from index must be greater than or equal to 0"));
    }
    if end > list.len() as i64 {
        return Err(a.error(
            2,
            "to index must be smaller than or equal to the length of the list",
        ));
    }
    if start > end {
        return Err(a.error(1, "from index must be less than or equal to index"));
    }
    Ok(Value::List(list[start as usize..end as usize].to_vec()))
}

pub(crate) fn sort(a: &Args<'_>, _: &FuncContext) -> R {
    let list = a.list(0)?;
    let mut out = Vec::with_capacity(list.len());
    for (i, el) in list.iter().enumerate() {
        if el.is_null() {
            return Err(a.invalid(
                0,
                format!("given list element {i} is null; a null string cannot be sorted"),
            ));
        }
        let s = convert::to_string(el).ok_or_else(|| {
            a.invalid(
                0,
                format!(
                    "given list element {i} must be a string, got {}",
                    el.type_name()
                ),
            )
        })?;
        out.push(s);
    }
    out.sort();
    Ok(Value::List(out.into_iter().map(Value::string).collect()))
}

pub(crate) fn sum(a: &Args<'_>, _: &FuncContext) -> R {
    let list = a.list(0)?;
    if list.is_empty() {
        return Err(a.error(0, "cannot sum an empty list"));
    }
    let mut total = terrace_core::Number::from(0i64);
    for el in list {
        let n = convert::to_decimal(el)
            .ok_or_else(|| a.error(0, "argument must be list, set, or tuple of number values"))?;
        total = total.add(&n);
    }
    Ok(Value::Number(total))
}

pub(crate) fn transpose(a: &Args<'_>, _: &FuncContext) -> R {
    let m = a.map(0)?;
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (k, v) in m {
        let list = v
            .as_list()
            .ok_or_else(|| a.invalid(0, "map of lists of strings required"))?;
        for el in list {
            let s = convert::to_string(el)
                .ok_or_else(|| a.invalid(0, "map of lists of strings required"))?;
            out.entry(s).or_default().push(Value::string(k.clone()));
        }
    }
    Ok(Value::Map(
        out.into_iter().map(|(k, v)| (k, Value::List(v))).collect(),
    ))
}

pub(crate) fn zipmap(a: &Args<'_>, _: &FuncContext) -> R {
    let keys = a.list(0)?;
    let values = a.list(1)?;
    if keys.len() != values.len() {
        return Err(a.error(
            1,
            format!(
                "number of keys ({}) does not match number of values ({})",
                keys.len(),
                values.len()
            ),
        ));
    }
    let mut out = BTreeMap::new();
    for (i, (k, v)) in keys.iter().zip(values).enumerate() {
        if matches!(k, Value::Unknown) {
            return Ok(Value::Unknown);
        }
        if k.is_null() {
            return Err(a.invalid(0, format!("element {i} is null; keys must not be null")));
        }
        let k = convert::to_string(k).ok_or_else(|| {
            a.invalid(
                0,
                format!("element {i} must be a string, got {}", k.type_name()),
            )
        })?;
        out.insert(k, v.clone());
    }
    Ok(Value::Map(out.into()))
}

// ---- type conversion ------------------------------------------------------

pub(crate) fn tobool(a: &Args<'_>, _: &FuncContext) -> R {
    match a.get(0) {
        Value::Null => Ok(Value::Null),
        Value::Bool(b) => Ok(Value::Bool(*b)),
        Value::String(s) => convert::to_bool(a.get(0)).map(Value::Bool).ok_or_else(|| {
            a.invalid(
                0,
                format!(
                    "cannot convert {} to bool; only the strings \"true\" or \"false\" are allowed",
                    a.quote(0, s)
                ),
            )
        }),
        other => Err(a.invalid(0, format!("cannot convert {} to bool", other.type_name()))),
    }
}

pub(crate) fn tonumber(a: &Args<'_>, _: &FuncContext) -> R {
    match a.get(0) {
        Value::Null => Ok(Value::Null),
        Value::Number(n) => Ok(Value::Number(n.clone())),
        Value::String(s) => convert::parse_decimal(s).map(Value::Number).ok_or_else(|| {
            a.invalid(
                0,
                format!("cannot convert {} to number; given string must be a decimal representation of a number", a.quote(0, s)),
            )
        }),
        other => Err(a.invalid(0, format!("cannot convert {} to number", other.type_name()))),
    }
}

pub(crate) fn tostring(a: &Args<'_>, _: &FuncContext) -> R {
    match a.get(0) {
        Value::Null => Ok(Value::Null),
        other => convert::to_string(other)
            .map(Value::string)
            .ok_or_else(|| a.invalid(0, format!("cannot convert {} to string", other.type_name()))),
    }
}

pub(crate) fn tolist(a: &Args<'_>, _: &FuncContext) -> R {
    match a.get(0) {
        Value::Null => Ok(Value::Null),
        Value::List(xs) | Value::Set(xs) => unify(xs.clone())
            .map(Value::List)
            .map_err(|e| a.invalid(0, format!("cannot convert to list: {e}"))),
        other => Err(a.invalid(
            0,
            format!(
                "cannot convert {} to list of any single type",
                other.type_name()
            ),
        )),
    }
}

pub(crate) fn toset(a: &Args<'_>, _: &FuncContext) -> R {
    match a.get(0) {
        Value::Null => Ok(Value::Null),
        Value::List(xs) | Value::Set(xs) => unify(xs.clone())
            .map(Value::set)
            .map_err(|e| a.invalid(0, format!("cannot convert to set: {e}"))),
        other => Err(a.invalid(
            0,
            format!(
                "cannot convert {} to set of any single type",
                other.type_name()
            ),
        )),
    }
}

pub(crate) fn tomap(a: &Args<'_>, _: &FuncContext) -> R {
    match a.get(0) {
        Value::Null => Ok(Value::Null),
        Value::Map(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let vals = unify(m.values().cloned().collect())
                .map_err(|e| a.invalid(0, format!("cannot convert to map: {e}")))?;
            Ok(Value::Map(keys.into_iter().zip(vals).collect()))
        }
        other => Err(a.invalid(
            0,
            format!(
                "cannot convert {} to map of any single type",
                other.type_name()
            ),
        )),
    }
}

// ---- sensitivity (these see the marked arguments) -------------------------

pub(crate) fn sensitive(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(a.get(0).clone().mark_sensitive())
}

pub(crate) fn nonsensitive(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(a.get(0).clone().into_unmarked().0)
}

pub(crate) fn issensitive(a: &Args<'_>, _: &FuncContext) -> R {
    let v = a.get(0);
    if v.is_sensitive() {
        return Ok(Value::Bool(true));
    }
    if v.is_unknown() {
        return Ok(Value::Unknown);
    }
    Ok(Value::Bool(false))
}
