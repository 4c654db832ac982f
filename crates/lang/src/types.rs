//! Type constraints of input variables (`string`, `list(string)`,
//! `object({a = string, b = optional(number, 3)})`, …) and value conversion.

use std::collections::BTreeMap;
use std::fmt;

use hcl_edit::expr::{Expression, ObjectKey};
use terrace_core::Value;

/// A type constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeConstraint {
    Any,
    String,
    Number,
    Bool,
    List(Box<TypeConstraint>),
    Set(Box<TypeConstraint>),
    Map(Box<TypeConstraint>),
    Object(Vec<ObjectAttr>),
    Tuple(Vec<TypeConstraint>),
}

/// One attribute of an object type.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectAttr {
    pub name: String,
    pub ty: TypeConstraint,
    pub optional: bool,
    pub default: Option<Value>,
}

impl fmt::Display for TypeConstraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeConstraint::Any => write!(f, "any"),
            TypeConstraint::String => write!(f, "string"),
            TypeConstraint::Number => write!(f, "number"),
            TypeConstraint::Bool => write!(f, "bool"),
            TypeConstraint::List(t) => write!(f, "list({t})"),
            TypeConstraint::Set(t) => write!(f, "set({t})"),
            TypeConstraint::Map(t) => write!(f, "map({t})"),
            TypeConstraint::Object(attrs) => {
                write!(f, "object({{")?;
                for (i, a) in attrs.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    if a.optional {
                        write!(f, "{} = optional({})", a.name, a.ty)?;
                    } else {
                        write!(f, "{} = {}", a.name, a.ty)?;
                    }
                }
                write!(f, "}})")
            }
            TypeConstraint::Tuple(ts) => {
                write!(f, "tuple([")?;
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{t}")?;
                }
                write!(f, "])")
            }
        }
    }
}

/// Parse a type expression. `const_eval` evaluates `optional(T, default)`
/// defaults. On error: message and the offending sub-expression.
pub(crate) fn parse_type<'e>(
    e: &'e Expression,
    const_eval: &dyn Fn(&Expression) -> Result<Value, String>,
) -> Result<TypeConstraint, (String, &'e Expression)> {
    parse_type_inner(e, const_eval, false).map(|(t, _, _)| t)
}

fn parse_type_inner<'e>(
    e: &'e Expression,
    const_eval: &dyn Fn(&Expression) -> Result<Value, String>,
    in_object: bool,
) -> Result<(TypeConstraint, bool, Option<Value>), (String, &'e Expression)> {
    let plain = |t| Ok((t, false, None));
    match e {
        Expression::Variable(v) => match v.as_str() {
            "string" => plain(TypeConstraint::String),
            "number" => plain(TypeConstraint::Number),
            "bool" => plain(TypeConstraint::Bool),
            "any" => plain(TypeConstraint::Any),
            "list" | "set" | "map" => Err((
                format!("The {} type constructor requires one argument specifying the element type.", v.as_str()),
                e,
            )),
            other => Err((format!("The keyword \"{other}\" is not a valid type specification."), e)),
        },
        Expression::Parenthesis(p) => parse_type_inner(p.inner(), const_eval, in_object),
        Expression::FuncCall(f) => {
            let name = f.name.name.as_str();
            let args: Vec<&Expression> = f.args.iter().collect();
            let one = |args: &[&'e Expression]| -> Result<TypeConstraint, (String, &'e Expression)> {
                if args.len() != 1 {
                    return Err((format!("The {name} type constructor requires exactly one argument."), e));
                }
                parse_type_inner(args[0], const_eval, false).map(|x| x.0)
            };
            match name {
                "list" => plain(TypeConstraint::List(Box::new(one(&args)?))),
                "set" => plain(TypeConstraint::Set(Box::new(one(&args)?))),
                "map" => plain(TypeConstraint::Map(Box::new(one(&args)?))),
                "optional" if in_object => {
                    if args.is_empty() || args.len() > 2 {
                        return Err(("optional() takes a type and an optional default value.".into(), e));
                    }
                    let t = parse_type_inner(args[0], const_eval, false)?.0;
                    let default = match args.get(1) {
                        Some(d) => {
                            let v = const_eval(d).map_err(|m| (m, *d))?;
                            Some(convert(v, &t).map_err(|m| (format!("Invalid default for optional attribute: {m}."), *d))?)
                        }
                        None => None,
                    };
                    Ok((t, true, default))
                }
                "optional" => Err(("optional() is only allowed for attributes of an object type.".into(), e)),
                "object" => {
                    let Some(Expression::Object(o)) = args.first().copied().filter(|_| args.len() == 1) else {
                        return Err(("The object type constructor requires one argument: an object of attribute types.".into(), e));
                    };
                    let mut attrs = Vec::new();
                    for (k, v) in o.iter() {
                        let name = match k {
                            ObjectKey::Ident(i) => i.as_str().to_string(),
                            ObjectKey::Expression(Expression::Variable(i)) => i.as_str().to_string(),
                            ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                            ObjectKey::Expression(x) => return Err(("Object attribute names must be identifiers.".into(), x)),
                        };
                        let (ty, optional, default) = parse_type_inner(v.expr(), const_eval, true)?;
                        attrs.push(ObjectAttr { name, ty, optional, default });
                    }
                    plain(TypeConstraint::Object(attrs))
                }
                "tuple" => {
                    let Some(Expression::Array(a)) = args.first().copied().filter(|_| args.len() == 1) else {
                        return Err(("The tuple type constructor requires one argument: a list of element types.".into(), e));
                    };
                    let ts = a.iter().map(|x| parse_type_inner(x, const_eval, false).map(|t| t.0)).collect::<Result<_, _>>()?;
                    plain(TypeConstraint::Tuple(ts))
                }
                other => Err((format!("Keyword \"{other}\" is not a valid type constructor."), e)),
            }
        }
        _ => Err(("A type specification is either a primitive type keyword (bool, number, string) or a complex type constructor call, like list(string).".into(), e)),
    }
}

/// Convert a value to a type; the error message names the path of the
/// offending element, e.g. `attribute "port": a number is required`.
pub fn convert(v: Value, ty: &TypeConstraint) -> Result<Value, String> {
    convert_at(v, ty, &mut Vec::new())
}

fn at(path: &[String], msg: &str) -> String {
    if path.is_empty() {
        msg.to_string()
    } else {
        format!("{}: {msg}", path.join(""))
    }
}

fn convert_at(v: Value, ty: &TypeConstraint, path: &mut Vec<String>) -> Result<Value, String> {
    if let Value::Sensitive(_) = v {
        let (inner, _) = v.into_unmarked();
        return convert_at(inner, ty, path).map(Value::mark_sensitive);
    }
    if matches!(v, Value::Unknown | Value::Null) || *ty == TypeConstraint::Any {
        return Ok(v);
    }
    match ty {
        TypeConstraint::Any => Ok(v),
        TypeConstraint::String => match v {
            Value::String(_) => Ok(v),
            Value::Number(n) => Ok(Value::string(n.to_string())),
            Value::Bool(b) => Ok(Value::string(b.to_string())),
            other => Err(at(
                path,
                &format!("string required, but have {}", other.type_name()),
            )),
        },
        TypeConstraint::Number => match v {
            Value::Number(_) => Ok(v),
            Value::String(s) => terrace_core::Number::parse(s.trim())
                .map(Value::Number)
                .ok_or_else(|| {
                    at(
                        path,
                        &format!("a number is required, but have string {s:?}"),
                    )
                }),
            other => Err(at(
                path,
                &format!("a number is required, but have {}", other.type_name()),
            )),
        },
        TypeConstraint::Bool => match v {
            Value::Bool(_) => Ok(v),
            Value::String(s) if s == "true" => Ok(Value::Bool(true)),
            Value::String(s) if s == "false" => Ok(Value::Bool(false)),
            other => Err(at(
                path,
                &format!("a bool is required, but have {}", other.type_name()),
            )),
        },
        TypeConstraint::List(t) | TypeConstraint::Set(t) => {
            let items = match v {
                Value::List(xs) | Value::Set(xs) => xs,
                other => {
                    return Err(at(
                        path,
                        &format!("{ty} required, but have {}", other.type_name()),
                    ));
                }
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, x) in items.into_iter().enumerate() {
                path.push(format!("[{i}]"));
                out.push(convert_at(x, t, path)?);
                path.pop();
            }
            Ok(if matches!(ty, TypeConstraint::Set(_)) {
                Value::set(out)
            } else {
                Value::List(out)
            })
        }
        TypeConstraint::Map(t) => {
            let m = match v {
                Value::Map(m) => m,
                other => {
                    return Err(at(
                        path,
                        &format!("{ty} required, but have {}", other.type_name()),
                    ));
                }
            };
            let mut out = BTreeMap::new();
            for (k, x) in m {
                path.push(format!("[{k:?}]"));
                let c = convert_at(x, t, path)?;
                path.pop();
                out.insert(k, c);
            }
            Ok(Value::Map(out.into()))
        }
        TypeConstraint::Object(attrs) => {
            let mut m = match v {
                Value::Map(m) => m,
                other => {
                    return Err(at(
                        path,
                        &format!("object required, but have {}", other.type_name()),
                    ));
                }
            };
            let mut out = BTreeMap::new();
            for a in attrs {
                let label = if path.is_empty() {
                    format!("attribute {:?}", a.name)
                } else {
                    format!(".{}", a.name)
                };
                match m.remove(&a.name) {
                    Some(x) if !x.is_null() => {
                        path.push(label);
                        let c = convert_at(x, &a.ty, path)?;
                        path.pop();
                        out.insert(a.name.clone(), c);
                    }
                    present => {
                        if a.optional {
                            out.insert(a.name.clone(), a.default.clone().unwrap_or(Value::Null));
                        } else if present.is_some() {
                            out.insert(a.name.clone(), Value::Null);
                        } else {
                            return Err(at(path, &format!("attribute {:?} is required", a.name)));
                        }
                    }
                }
            }
            Ok(Value::Map(out.into()))
        }
        TypeConstraint::Tuple(ts) => {
            let items = match v {
                Value::List(xs) | Value::Set(xs) => xs,
                other => {
                    return Err(at(
                        path,
                        &format!("{ty} required, but have {}", other.type_name()),
                    ));
                }
            };
            if items.len() != ts.len() {
                return Err(at(
                    path,
                    &format!(
                        "tuple required with {} elements, but have {}",
                        ts.len(),
                        items.len()
                    ),
                ));
            }
            let mut out = Vec::new();
            for (i, (x, t)) in items.into_iter().zip(ts).enumerate() {
                path.push(format!("[{i}]"));
                out.push(convert_at(x, t, path)?);
                path.pop();
            }
            Ok(Value::List(out))
        }
    }
}

/// The type a value has as Terraform sees it: lists are tuples, maps are
/// objects; null and unknown values have no type yet (`Any`).
pub(crate) fn type_of(v: &Value) -> TypeConstraint {
    match v.unmarked() {
        Value::Null | Value::Unknown | Value::Sensitive(_) => TypeConstraint::Any,
        Value::Bool(_) => TypeConstraint::Bool,
        Value::Number(_) => TypeConstraint::Number,
        Value::String(_) => TypeConstraint::String,
        Value::List(xs) => TypeConstraint::Tuple(xs.iter().map(type_of).collect()),
        Value::Set(xs) => TypeConstraint::Set(Box::new(
            xs.iter()
                .map(type_of)
                .try_fold(TypeConstraint::Any, |a, b| unify(&a, &b))
                .unwrap_or(TypeConstraint::Any),
        )),
        Value::Map(m) => TypeConstraint::Object(
            m.iter()
                .map(|(k, x)| ObjectAttr {
                    name: k.clone(),
                    ty: type_of(x),
                    optional: false,
                    default: None,
                })
                .collect(),
        ),
    }
}

/// The common type two types convert to, as cty's unification finds it
/// (used for the two results of a conditional): a primitive and a string
/// unify to string; tuples of one length unify element-wise, of different
/// lengths to a list; objects with the same attributes unify attribute-wise,
/// with different ones to a map. `None` when there is none.
pub(crate) fn unify(a: &TypeConstraint, b: &TypeConstraint) -> Option<TypeConstraint> {
    use TypeConstraint as T;
    let all = |ts: &mut dyn Iterator<Item = &TypeConstraint>| {
        let mut acc = T::Any;
        for t in ts {
            acc = unify(&acc, t)?;
        }
        Some(acc)
    };
    Some(match (a, b) {
        (T::Any, t) | (t, T::Any) => t.clone(),
        (x, y) if x == y => x.clone(),
        (T::String, T::Number | T::Bool) | (T::Number | T::Bool, T::String) => T::String,
        (T::Tuple(x), T::Tuple(y)) if x.len() == y.len() => T::Tuple(
            x.iter()
                .zip(y)
                .map(|(p, q)| unify(p, q))
                .collect::<Option<_>>()?,
        ),
        (T::Tuple(x), T::Tuple(y)) => T::List(Box::new(all(&mut x.iter().chain(y))?)),
        (T::Tuple(x), T::List(t)) | (T::List(t), T::Tuple(x)) => {
            T::List(Box::new(all(&mut x.iter().chain([t.as_ref()]))?))
        }
        (T::List(x), T::List(y)) => T::List(Box::new(unify(x, y)?)),
        (T::Set(x), T::Set(y)) => T::Set(Box::new(unify(x, y)?)),
        (T::Map(x), T::Map(y)) => T::Map(Box::new(unify(x, y)?)),
        (T::Object(x), T::Object(y))
            if x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.name == q.name) =>
        {
            T::Object(
                x.iter()
                    .zip(y)
                    .map(|(p, q)| {
                        Some(ObjectAttr {
                            name: p.name.clone(),
                            ty: unify(&p.ty, &q.ty)?,
                            optional: false,
                            default: None,
                        })
                    })
                    .collect::<Option<_>>()?,
            )
        }
        (T::Object(x), T::Object(y)) => {
            T::Map(Box::new(all(&mut x.iter().chain(y).map(|a| &a.ty))?))
        }
        (T::Object(x), T::Map(t)) | (T::Map(t), T::Object(x)) => T::Map(Box::new(all(&mut x
            .iter()
            .map(|a| &a.ty)
            .chain([t.as_ref()]))?)),
        _ => return None,
    })
}

/// A short description of a value's type for diagnostics (`string`,
/// `tuple`, `object`).
pub(crate) fn type_label(t: &TypeConstraint) -> &'static str {
    match t {
        TypeConstraint::Any => "dynamic",
        TypeConstraint::String => "string",
        TypeConstraint::Number => "number",
        TypeConstraint::Bool => "bool",
        TypeConstraint::List(_) => "list",
        TypeConstraint::Set(_) => "set",
        TypeConstraint::Map(_) => "map",
        TypeConstraint::Object(_) => "object",
        TypeConstraint::Tuple(_) => "tuple",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(s: &str) -> TypeConstraint {
        let e = hcl_edit::parser::parse_expr(s).unwrap();
        parse_type(&e, &|_| Ok(Value::from(3))).unwrap()
    }

    #[test]
    fn object_with_optional_default() {
        let t = ty("object({a = string, b = optional(number, 3)})");
        let v = convert(Value::map([("a", Value::from(1))]), &t).unwrap();
        assert_eq!(
            v,
            Value::map([("a", Value::from("1")), ("b", Value::from(3))])
        );
        assert!(
            convert(Value::map([("b", Value::from(1))]), &t)
                .unwrap_err()
                .contains("\"a\" is required")
        );
    }

    #[test]
    fn list_of_numbers_rejects_words() {
        let t = ty("list(number)");
        let e = convert(Value::List(vec!["1".into(), "x".into()]), &t).unwrap_err();
        assert!(e.starts_with("[1]: a number is required"), "{e}");
    }
}
