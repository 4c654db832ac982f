//! Expression evaluation: operators, conditionals, `for` expressions,
//! splats, templates and function calls, with unknown and sensitive values
//! propagating through every operation.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use hcl_edit::Decorated;
use hcl_edit::expr::{BinaryOperator, Expression, ObjectKey, TraversalOperator, UnaryOperator};
use hcl_edit::template::{Directive, Element, Template};
use terrace_core::{Diagnostic, Diagnostics, Number, Value};
use unicode_normalization::UnicodeNormalization;

use crate::functions;
use crate::refs::{RefSubject, parse_subject, span_of};
use crate::source::SourceFile;
use crate::suggest::did_you_mean;
use crate::types::{TypeConstraint, convert, type_label, type_of, unify};

/// Where references are resolved.
pub(crate) trait Env {
    /// The value of a reference subject (`var.x`, `aws_vpc.main`, …).
    fn resolve(
        &self,
        subject: &RefSubject,
        span: Range<usize>,
        file: &SourceFile,
    ) -> Result<Arc<Value>, Diagnostics>;
    /// The directory relative file paths in functions are resolved against.
    fn base_dir(&self) -> &Path;
    /// True inside a `templatefile` template, where every name must come
    /// from the vars map.
    fn is_template(&self) -> bool {
        false
    }
}

/// An environment without any references (tfvars files, defaults, CLI values).
pub(crate) struct ConstEnv<'a> {
    pub base_dir: &'a Path,
}

impl Env for ConstEnv<'_> {
    fn resolve(
        &self,
        _: &RefSubject,
        span: Range<usize>,
        file: &SourceFile,
    ) -> Result<Arc<Value>, Diagnostics> {
        Err(error(
            file,
            span,
            "Variables not allowed",
            "Variables may not be used here.",
        )
        .into())
    }
    fn base_dir(&self) -> &Path {
        self.base_dir
    }
}

pub(crate) fn error(
    file: &SourceFile,
    span: Range<usize>,
    summary: &str,
    detail: impl Into<String>,
) -> Diagnostic {
    Diagnostic::error(summary, detail).at(Some(file.range(span)))
}

type R<T> = Result<T, Diagnostics>;

/// The evaluation context of one expression.
pub(crate) struct Ctx<'a> {
    pub file: &'a SourceFile,
    pub env: &'a dyn Env,
    /// Names bound by `for` expressions, template `for` directives, dynamic
    /// block iterators and `templatefile` variables, innermost last.
    pub bindings: Vec<(String, Value)>,
    pub depth: usize,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a SourceFile, env: &'a dyn Env) -> Self {
        Ctx {
            file,
            env,
            bindings: Vec::new(),
            depth: 0,
        }
    }

    fn err(&self, span: Range<usize>, summary: &str, detail: impl Into<String>) -> Diagnostics {
        error(self.file, span, summary, detail).into()
    }

    fn bound(&self, name: &str) -> Option<&Value> {
        self.bindings
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    pub fn eval(&mut self, e: &Expression) -> R<Value> {
        match e {
            Expression::Null(_) => Ok(Value::Null),
            Expression::Bool(b) => Ok(Value::Bool(*b.value())),
            Expression::Number(n) => Ok(Value::Number(self.number_literal(n, span_of(e)))),
            Expression::String(s) => Ok(Value::string(nfc(s.value()))),
            Expression::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                let mut diags = Diagnostics::new();
                for x in a.iter() {
                    match self.eval(x) {
                        Ok(v) => out.push(v),
                        Err(d) => diags.extend(d),
                    }
                }
                if diags.is_empty() {
                    Ok(Value::List(out))
                } else {
                    Err(diags)
                }
            }
            Expression::Object(o) => {
                let mut out = BTreeMap::new();
                let mut diags = Diagnostics::new();
                let mut unknown_key = false;
                let mut sens = false;
                for (k, v) in o.iter() {
                    let key = match k {
                        ObjectKey::Ident(i) => Ok(i.as_str().to_string()),
                        ObjectKey::Expression(Expression::Variable(i)) => Ok(i.as_str().to_string()),
                        ObjectKey::Expression(x) => self.eval(x).and_then(|kv| {
                            let (kv, s) = kv.into_unmarked();
                            sens |= s;
                            match kv {
                                Value::String(s) => Ok(s.to_string()),
                                Value::Number(n) => Ok(n.to_string()),
                                Value::Bool(b) => Ok(b.to_string()),
                                Value::Unknown => {
                                    unknown_key = true;
                                    Ok(String::new())
                                }
                                other => Err(self.err(
                                    span_of(x),
                                    "Incorrect key type",
                                    format!("Can't use this value as a key: a string is required, but have {}.", other.type_name()),
                                )),
                            }
                        }),
                    };
                    match (key, self.eval(v.expr())) {
                        (Ok(k), Ok(v)) => {
                            out.insert(k, v);
                        }
                        (a, b) => {
                            if let Err(d) = a {
                                diags.extend(d);
                            }
                            if let Err(d) = b {
                                diags.extend(d);
                            }
                        }
                    }
                }
                if !diags.is_empty() {
                    return Err(diags);
                }
                if unknown_key {
                    return Ok(Value::Unknown.mark_if(sens));
                }
                Ok(Value::Map(out.into()).mark_if(sens))
            }
            Expression::StringTemplate(t) => self.template_expr(t),
            Expression::HeredocTemplate(h) => self.template_expr(&h.template),
            Expression::Parenthesis(p) => self.eval(p.inner()),
            Expression::Variable(v) => self.traversal(v, &[], span_of(e)),
            Expression::Traversal(t) => match &t.expr {
                Expression::Variable(v) => self.traversal(v, &t.operators, span_of(e)),
                other => {
                    let base = self.eval(other)?;
                    self.apply_ops(&base, &t.operators, false)
                }
            },
            Expression::Conditional(c) => self.conditional(c),
            Expression::FuncCall(f) => self.func_call(f, span_of(e)),
            Expression::UnaryOp(u) => {
                let v = self.eval(&u.expr)?;
                let (v, sens) = v.into_unmarked();
                let r = match (*u.operator.value(), v) {
                    (_, Value::Unknown) => Value::Unknown,
                    (UnaryOperator::Not, Value::Bool(b)) => Value::Bool(!b),
                    (UnaryOperator::Neg, Value::Number(n)) => Value::Number(n.neg()),
                    (UnaryOperator::Neg, Value::String(s)) if Number::parse(s.trim()).is_some() => {
                        Value::Number(Number::parse(s.trim()).map(|n| n.neg()).unwrap_or_default())
                    }
                    (op, other) => {
                        let want = if op == UnaryOperator::Not {
                            "bool"
                        } else {
                            "number"
                        };
                        return Err(self.err(
                            span_of(e),
                            "Invalid operand",
                            format!("Unsuitable value for unary operand: a {want} is required, but have {}.", other.type_name()),
                        ));
                    }
                };
                Ok(r.mark_if(sens))
            }
            Expression::BinaryOp(b) => self.binary(b, span_of(e)),
            Expression::ForExpr(f) => self.for_expr(f, span_of(e)),
        }
    }

    fn traversal(
        &mut self,
        root: &Decorated<hcl_edit::Ident>,
        ops: &[Decorated<TraversalOperator>],
        whole: Range<usize>,
    ) -> R<Value> {
        if let Some(v) = self.bound(root.as_str()) {
            // Cheap clone-free walk is not possible while borrowing self; clone the binding.
            let v = v.clone();
            return self.apply_ops(&v, ops, false);
        }
        if self.env.is_template() {
            let span = span_of(root);
            let at = self.file.pos(span.start);
            return Err(self.err(
                span,
                "Invalid value for \"vars\" parameter",
                format!(
                    "vars map does not contain key \"{}\", referenced at line {}, column {}.",
                    root.as_str(),
                    at.line,
                    at.column
                ),
            ));
        }
        let parsed = parse_subject(root, ops, &|_| false)
            .map_err(|b| self.err(b.span, "Invalid reference", b.message))?;
        let Some((subject, consumed, span)) = parsed else {
            return Ok(Value::Null);
        };
        let _ = whole;
        let value = self.env.resolve(&subject, span, self.file)?;
        self.apply_ops(&value, &ops[consumed..], false)
    }

    /// Apply traversal operators to a value, cloning only the result.
    pub(crate) fn apply_ops(
        &mut self,
        v: &Value,
        ops: &[Decorated<TraversalOperator>],
        sens: bool,
    ) -> R<Value> {
        let Some((op, rest)) = ops.split_first() else {
            return Ok(v.clone().mark_if(sens));
        };
        let sens = sens || v.is_sensitive();
        let inner = v.unmarked();
        match op.value() {
            TraversalOperator::GetAttr(name) => match inner {
                Value::Unknown => Ok(Value::Unknown.mark_if(sens)),
                Value::Map(m) => match m.get(name.as_str()) {
                    Some(child) => self.apply_ops(child, rest, sens),
                    None => {
                        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
                        Err(self.err(
                            span_of(name),
                            "Unsupported attribute",
                            format!(
                                "This object does not have an attribute named \"{}\".{}",
                                name.as_str(),
                                did_you_mean(name.as_str(), keys)
                            ),
                        ))
                    }
                },
                Value::Null => Err(self.err(
                    span_of(name),
                    "Attempt to get attribute from null value",
                    "This value is null, so it does not have any attributes.",
                )),
                other => Err(self.err(
                    span_of(name),
                    "Unsupported attribute",
                    format!(
                        "Can't access attributes on a {}. {}",
                        other.type_name(),
                        if matches!(other, Value::List(_) | Value::Set(_)) {
                            "Did you mean to access an element of the list, e.g. [0], or use a splat [*]?"
                        } else {
                            ""
                        }
                    ),
                )),
            },
            TraversalOperator::Index(ix) => {
                let key = self.eval(ix)?;
                self.index(inner, key, span_of(ix), rest, sens)
            }
            TraversalOperator::LegacyIndex(n) => {
                let key = Value::from(*n.value());
                self.index(inner, key, span_of(n), rest, sens)
            }
            TraversalOperator::FullSplat(_) | TraversalOperator::AttrSplat(_) => {
                let attr_only = matches!(op.value(), TraversalOperator::AttrSplat(_));
                let split = if attr_only {
                    rest.iter().position(|o| !matches!(o.value(), TraversalOperator::GetAttr(_))).unwrap_or(rest.len())
                } else {
                    rest.len()
                };
                let (each_ops, after) = rest.split_at(split);
                let result = match inner {
                    Value::Unknown => return Ok(Value::Unknown.mark_if(sens)),
                    Value::Null => Value::List(Vec::new()),
                    Value::List(xs) | Value::Set(xs) => {
                        let mut out = Vec::with_capacity(xs.len());
                        for x in xs {
                            out.push(self.apply_ops(x, each_ops, false)?);
                        }
                        Value::List(out)
                    }
                    other => Value::List(vec![self.apply_ops(other, each_ops, false)?]),
                };
                self.apply_ops(&result, after, sens)
            }
        }
    }

    fn index(
        &mut self,
        coll: &Value,
        key: Value,
        span: Range<usize>,
        rest: &[Decorated<TraversalOperator>],
        sens: bool,
    ) -> R<Value> {
        let (key, ksens) = key.into_unmarked();
        let sens = sens || ksens;
        if matches!(coll, Value::Unknown) || matches!(key, Value::Unknown) {
            return Ok(Value::Unknown.mark_if(sens));
        }
        match coll {
            Value::List(xs) => {
                let i = match &key {
                    Value::Number(n) if n.is_integer() => n.clone(),
                    Value::String(s) if s.parse::<i64>().is_ok() => Number::from(s.parse::<i64>().unwrap_or(0)),
                    other => {
                        return Err(self.err(
                            span,
                            "Invalid index",
                            format!("The given key does not identify an element in this collection value: a whole number is required, but have {}.", other.type_name()),
                        ));
                    }
                };
                let Some(i) = i.to_u64().and_then(|i| usize::try_from(i).ok()).filter(|i| *i < xs.len()) else {
                    return Err(self.err(
                        span,
                        "Invalid index",
                        format!("The given key does not identify an element in this collection value: index {i} is out of range for a list of {} elements.", xs.len()),
                    ));
                };
                self.apply_ops(&xs[i], rest, sens)
            }
            Value::Map(m) => {
                let k = match &key {
                    Value::String(s) => s.to_string(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(self.err(span, "Invalid index", format!("A string key is required, but have {}.", other.type_name())));
                    }
                };
                match m.get(&k) {
                    Some(v) => self.apply_ops(v, rest, sens),
                    None => Err(self.err(
                        span,
                        "Invalid index",
                        format!("The given key does not identify an element in this collection value: no element with key {k:?}."),
                    )),
                }
            }
            Value::Set(_) => Err(self.err(
                span,
                "Invalid index",
                "Elements of a set are identified only by their value and don't have any separate index or key to select with, so it's only possible to perform operations across all elements of the set.",
            )),
            Value::Null => Err(self.err(span, "Attempt to index null value", "This value is null, so it does not have any indices.")),
            other => Err(self.err(span, "Invalid index", format!("This value does not have any indices: it is a {}.", other.type_name()))),
        }
    }

    /// A number literal, exactly as written (`9007199254740993` is not
    /// rounded to the nearest `f64`).
    fn number_literal(
        &self,
        n: &hcl_edit::Formatted<hcl_edit::Number>,
        span: Range<usize>,
    ) -> Number {
        let text: String = self
            .file
            .slice(span)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        Number::parse(&text)
            .or_else(|| n.value().as_f64().and_then(Number::from_f64))
            .unwrap_or_default()
    }

    /// `cond ? a : b`, as HCL evaluates it: both results are evaluated and
    /// unified to a common type (`true ? 12 : "x"` is `"12"`); the errors
    /// of the result not chosen are dropped (it counts as of any type).
    fn conditional(&mut self, c: &hcl_edit::expr::Conditional) -> R<Value> {
        let cond = self.eval(&c.cond_expr)?;
        let (cond, sens) = cond.into_unmarked();
        let pick = match cond {
            Value::Bool(b) => Some(b),
            Value::Unknown => None,
            Value::String(s) if s == "true" || s == "false" => Some(s == "true"),
            other => {
                return Err(self.err(
                    span_of(&c.cond_expr),
                    "Incorrect condition type",
                    format!(
                        "The condition expression must be of type bool, but have {}.",
                        other.type_name()
                    ),
                ));
            }
        };
        let t = self.eval(&c.true_expr);
        let f = self.eval(&c.false_expr);
        let (chosen, other) = match pick {
            Some(true) => (t?, f.ok()),
            Some(false) => (f?, t.ok()),
            None => {
                // Still report both sides' errors.
                let (t, f) = match (t, f) {
                    (Ok(t), Ok(f)) => (t, f),
                    (t, f) => {
                        let mut d = Diagnostics::new();
                        for r in [t, f] {
                            if let Err(e) = r {
                                d.extend(e);
                            }
                        }
                        return Err(d);
                    }
                };
                (t, Some(f))
            }
        };
        let other_ty = other.as_ref().map(type_of).unwrap_or(TypeConstraint::Any);
        let (tt, ft) = match pick {
            Some(false) => (other_ty, type_of(&chosen)),
            _ => (type_of(&chosen), other_ty),
        };
        let Some(common) = unify(&tt, &ft) else {
            return Err(self.err(
                span_of(&c.true_expr).start..span_of(&c.false_expr).end,
                "Inconsistent conditional result types",
                format!(
                    "The true and false result expressions must have consistent types. The 'true' value is {}, but the 'false' value is {}.",
                    type_label(&tt),
                    type_label(&ft)
                ),
            ));
        };
        if pick.is_none() {
            return Ok(Value::Unknown.mark_if(sens));
        }
        let v = convert(chosen.clone(), &common).unwrap_or(chosen);
        Ok(v.mark_if(sens))
    }

    fn binary(&mut self, b: &hcl_edit::expr::BinaryOp, span: Range<usize>) -> R<Value> {
        let l = self.eval(&b.lhs_expr);
        let r = self.eval(&b.rhs_expr);
        let (l, r) = match (l, r) {
            (Ok(l), Ok(r)) => (l, r),
            (l, r) => {
                let mut d = Diagnostics::new();
                if let Err(e) = l {
                    d.extend(e);
                }
                if let Err(e) = r {
                    d.extend(e);
                }
                return Err(d);
            }
        };
        let op = *b.operator.value();
        let sens = l.contains_sensitive() || r.contains_sensitive();
        let (l, _) = l.deep_unmark();
        let (r, _) = r.deep_unmark();
        use BinaryOperator::*;
        let result = match op {
            Eq | NotEq => {
                if !l.is_wholly_known() || !r.is_wholly_known() {
                    Value::Unknown
                } else {
                    let eq = values_equal(&l, &r);
                    Value::Bool(if op == Eq { eq } else { !eq })
                }
            }
            And | Or => {
                let lb = self.want_bool(&l, &b.lhs_expr, op)?;
                let rb = self.want_bool(&r, &b.rhs_expr, op)?;
                match (lb, rb) {
                    (Some(a), Some(c)) => Value::Bool(if op == And { a && c } else { a || c }),
                    (Some(false), None) if op == And => Value::Bool(false),
                    (Some(true), None) if op == Or => Value::Bool(true),
                    _ => Value::Unknown,
                }
            }
            _ => {
                let ln = self.want_number(&l, &b.lhs_expr, op, sens)?;
                let rn = self.want_number(&r, &b.rhs_expr, op, sens)?;
                match (ln, rn) {
                    (Some(a), Some(c)) => match op {
                        Plus => Value::Number(a.add(&c)),
                        Minus => Value::Number(a.sub(&c)),
                        Mul => Value::Number(a.mul(&c)),
                        Div => match a.div(&c) {
                            Some(q) => Value::Number(q),
                            None => {
                                return Err(self.err(
                                    span,
                                    "Division by zero",
                                    "Can't divide by zero.",
                                ));
                            }
                        },
                        Mod => match a.rem(&c) {
                            Some(r) => Value::Number(r),
                            None => {
                                return Err(self.err(
                                    span,
                                    "Division by zero",
                                    "Can't use zero as the divisor of the modulo operator.",
                                ));
                            }
                        },
                        Less => Value::Bool(a < c),
                        LessEq => Value::Bool(a <= c),
                        Greater => Value::Bool(a > c),
                        GreaterEq => Value::Bool(a >= c),
                        _ => Value::Unknown,
                    },
                    _ => Value::Unknown,
                }
            }
        };
        Ok(result.mark_if(sens))
    }

    fn want_bool(&self, v: &Value, e: &Expression, op: BinaryOperator) -> R<Option<bool>> {
        match v {
            Value::Bool(b) => Ok(Some(*b)),
            Value::Unknown => Ok(None),
            Value::String(s) if s == "true" || s == "false" => Ok(Some(s == "true")),
            other => Err(self.err(
                span_of(e),
                "Invalid operand",
                format!(
                    "Unsuitable value for the \"{}\" operand: a bool is required, but have {}.",
                    op.as_str(),
                    other.type_name()
                ),
            )),
        }
    }

    /// `sensitive`: the operands carry the sensitive mark, so their contents
    /// must not appear in the message.
    fn want_number(
        &self,
        v: &Value,
        e: &Expression,
        op: BinaryOperator,
        sensitive: bool,
    ) -> R<Option<Number>> {
        match v {
            Value::Number(n) => Ok(Some(n.clone())),
            Value::Unknown => Ok(None),
            Value::String(s) if Number::parse(s.trim()).is_some() => Ok(Number::parse(s.trim())),
            other => Err(self.err(
                span_of(e),
                "Invalid operand",
                format!(
                    "Unsuitable value for the \"{}\" operand: a number is required, but have {}.",
                    op.as_str(),
                    match other {
                        Value::String(_) if sensitive => "a sensitive string".to_string(),
                        Value::String(s) => format!("string {s:?}"),
                        o => o.type_name().to_string(),
                    }
                ),
            )),
        }
    }

    fn for_expr(&mut self, f: &hcl_edit::expr::ForExpr, span: Range<usize>) -> R<Value> {
        let coll = self.eval(&f.intro.collection_expr)?;
        let (coll, sens) = coll.into_unmarked();
        let items: Vec<(Value, Value)> = match coll {
            Value::Unknown => return Ok(Value::Unknown.mark_if(sens)),
            Value::List(xs) => xs
                .into_iter()
                .enumerate()
                .map(|(i, x)| (Value::from(i as i64), x))
                .collect(),
            Value::Set(xs) => xs.into_iter().map(|x| (x.clone(), x)).collect(),
            Value::Map(m) => m.into_iter().map(|(k, x)| (Value::string(k), x)).collect(),
            other => {
                return Err(self.err(
                    span_of(&f.intro.collection_expr),
                    "Iteration over non-iterable value",
                    format!("A value of type {} cannot be used as the collection in a 'for' expression.", other.type_name()),
                ));
            }
        };
        let n = self.bindings.len();
        let mut list = Vec::new();
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut unknown = false;
        let mut result_sens = sens;
        for (k, v) in items {
            self.bindings.truncate(n);
            if let Some(kv) = &f.intro.key_var {
                self.bindings.push((kv.as_str().to_string(), k));
            }
            self.bindings
                .push((f.intro.value_var.as_str().to_string(), v));
            let r = (|| -> R<()> {
                if let Some(c) = &f.cond {
                    let cv = self.eval(&c.expr)?;
                    let (cv, s) = cv.into_unmarked();
                    result_sens |= s;
                    match cv {
                        Value::Bool(true) => {}
                        Value::Bool(false) => return Ok(()),
                        Value::Unknown => {
                            unknown = true;
                            return Ok(());
                        }
                        other => {
                            return Err(self.err(
                                span_of(&c.expr),
                                "Invalid 'for' condition",
                                format!("The 'if' clause value is invalid: a bool is required, but have {}.", other.type_name()),
                            ));
                        }
                    }
                }
                let value = self.eval(&f.value_expr)?;
                match &f.key_expr {
                    None => list.push(value),
                    Some(ke) => {
                        let kv = self.eval(ke)?;
                        let (kv, s) = kv.into_unmarked();
                        result_sens |= s;
                        let key = match kv {
                            Value::String(s) => s.to_string(),
                            Value::Number(n) => n.to_string(),
                            Value::Bool(b) => b.to_string(),
                            Value::Unknown => {
                                unknown = true;
                                return Ok(());
                            }
                            other => {
                                return Err(self.err(
                                    span_of(ke),
                                    "Invalid object key",
                                    format!("The key expression produced an invalid result: a string is required, but have {}.", other.type_name()),
                                ));
                            }
                        };
                        if f.grouping {
                            groups.entry(key).or_default().push(value);
                        } else {
                            match map.entry(key) {
                                std::collections::btree_map::Entry::Occupied(o) => {
                                    return Err(self.err(
                                        span_of(ke),
                                        "Duplicate object key",
                                        format!("Two different items produced the key {:?} in this 'for' expression. If duplicates are expected, use the ellipsis (...) after the value expression to enable grouping by key.", o.key()),
                                    ));
                                }
                                std::collections::btree_map::Entry::Vacant(v) => {
                                    v.insert(value);
                                }
                            }
                        }
                    }
                }
                Ok(())
            })();
            if let Err(e) = r {
                self.bindings.truncate(n);
                return Err(e);
            }
        }
        self.bindings.truncate(n);
        let _ = span;
        if unknown {
            return Ok(Value::Unknown.mark_if(result_sens));
        }
        let out = match &f.key_expr {
            None => Value::List(list),
            Some(_) if f.grouping => Value::Map(
                groups
                    .into_iter()
                    .map(|(k, v)| (k, Value::List(v)))
                    .collect(),
            ),
            Some(_) => Value::Map(map.into()),
        };
        Ok(out.mark_if(result_sens))
    }

    fn template_expr(&mut self, t: &Template) -> R<Value> {
        // A template of exactly one interpolation yields the value itself.
        if let Some(Element::Interpolation(i)) = t.as_single_element() {
            return self.eval(&i.expr);
        }
        self.template(t)
    }

    /// Render a template to a string value.
    pub(crate) fn template(&mut self, t: &Template) -> R<Value> {
        let mut out = String::new();
        let mut state = TemplateState::default();
        self.render(t, false, false, &mut out, &mut state)?;
        if state.unknown {
            return Ok(Value::Unknown.mark_if(state.sensitive));
        }
        Ok(Value::string(nfc_owned(out)).mark_if(state.sensitive))
    }

    fn render(
        &mut self,
        t: &Template,
        lead: bool,
        trail: bool,
        out: &mut String,
        st: &mut TemplateState,
    ) -> R<()> {
        let els: Vec<&Element> = t.iter().collect();
        for (i, el) in els.iter().enumerate() {
            match el {
                Element::Literal(s) => {
                    let strip_lead = if i == 0 {
                        lead
                    } else {
                        strip_after(els[i - 1])
                    };
                    let strip_trail = if i + 1 == els.len() {
                        trail
                    } else {
                        strip_before(els[i + 1])
                    };
                    let mut text: &str = s.value();
                    if strip_lead {
                        text = text.trim_start();
                    }
                    if strip_trail {
                        text = text.trim_end();
                    }
                    out.push_str(text);
                }
                Element::Interpolation(ip) => {
                    let v = self.eval(&ip.expr)?;
                    self.push_value(v, span_of(&ip.expr), out, st)?;
                }
                Element::Directive(d) => match d.as_ref() {
                    Directive::If(d) => {
                        let c = self.eval(&d.if_expr.cond_expr)?;
                        let (c, s) = c.into_unmarked();
                        st.sensitive |= s;
                        let else_strip = d.else_expr.as_ref().map(|e| e.strip.strip_start());
                        match c {
                            Value::Bool(true) => self.render(
                                &d.if_expr.template,
                                d.if_expr.strip.strip_end(),
                                else_strip.unwrap_or(d.endif_expr.strip.strip_start()),
                                out,
                                st,
                            )?,
                            Value::Bool(false) => {
                                if let Some(e) = &d.else_expr {
                                    self.render(
                                        &e.template,
                                        e.strip.strip_end(),
                                        d.endif_expr.strip.strip_start(),
                                        out,
                                        st,
                                    )?;
                                }
                            }
                            Value::Unknown => st.unknown = true,
                            other => {
                                return Err(self.err(
                                    span_of(&d.if_expr.cond_expr),
                                    "Incorrect condition type",
                                    format!("The condition of an 'if' directive must be of type bool, but have {}.", other.type_name()),
                                ));
                            }
                        }
                    }
                    Directive::For(d) => {
                        let fe = &d.for_expr;
                        let coll = self.eval(&fe.collection_expr)?;
                        let (coll, s) = coll.into_unmarked();
                        st.sensitive |= s;
                        let items: Vec<(Value, Value)> = match coll {
                            Value::Unknown => {
                                st.unknown = true;
                                continue;
                            }
                            Value::List(xs) => xs
                                .into_iter()
                                .enumerate()
                                .map(|(i, x)| (Value::from(i as i64), x))
                                .collect(),
                            Value::Set(xs) => xs.into_iter().map(|x| (x.clone(), x)).collect(),
                            Value::Map(m) => {
                                m.into_iter().map(|(k, x)| (Value::string(k), x)).collect()
                            }
                            other => {
                                return Err(self.err(
                                    span_of(&fe.collection_expr),
                                    "Iteration over non-iterable value",
                                    format!("A value of type {} cannot be used as the collection in a 'for' directive.", other.type_name()),
                                ));
                            }
                        };
                        let n = self.bindings.len();
                        for (k, v) in items {
                            self.bindings.truncate(n);
                            if let Some(kv) = &fe.key_var {
                                self.bindings.push((kv.as_str().to_string(), k));
                            }
                            self.bindings.push((fe.value_var.as_str().to_string(), v));
                            let r = self.render(
                                &fe.template,
                                fe.strip.strip_end(),
                                d.endfor_expr.strip.strip_start(),
                                out,
                                st,
                            );
                            if r.is_err() {
                                self.bindings.truncate(n);
                                return r;
                            }
                        }
                        self.bindings.truncate(n);
                    }
                },
            }
        }
        Ok(())
    }

    fn push_value(
        &self,
        v: Value,
        span: Range<usize>,
        out: &mut String,
        st: &mut TemplateState,
    ) -> R<()> {
        let (v, s) = v.into_unmarked();
        st.sensitive |= s || v.contains_sensitive();
        match v {
            Value::String(s) => out.push_str(&s),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
            Value::Unknown => st.unknown = true,
            Value::Null => {
                return Err(self.err(
                    span,
                    "Invalid template interpolation value",
                    "The expression result is null. Cannot include a null value in a string template.",
                ));
            }
            other => {
                return Err(self.err(
                    span,
                    "Invalid template interpolation value",
                    format!("Cannot include the given value in a string template: string required, but have {}.", other.type_name()),
                ));
            }
        }
        Ok(())
    }

    fn func_call(&mut self, f: &hcl_edit::expr::FuncCall, span: Range<usize>) -> R<Value> {
        let name_span = span_of(&f.name.name);
        if f.name.is_namespaced() {
            return Err(self.err(
                name_span,
                "Call to unsupported provider function",
                provider_function_detail(&f.name),
            ));
        }
        let name = f.name.name.as_str();
        let arg_exprs: Vec<&Expression> = f.args.iter().collect();
        match name {
            "try" => {
                if arg_exprs.is_empty() {
                    return Err(self.err(
                        span,
                        "Not enough function arguments",
                        "Function \"try\" expects at least 1 argument.",
                    ));
                }
                let mut last = None;
                for a in &arg_exprs {
                    match self.eval(a) {
                        Ok(v) => return Ok(v),
                        Err(d) => last = Some(d),
                    }
                }
                return Err(self.err(
                    span,
                    "Error in function call",
                    format!(
                        "Call to function \"try\" failed: no expression succeeded:\n{}",
                        last.map(|d| d
                            .iter()
                            .map(|x| format!("- {}: {}", x.summary, x.detail))
                            .collect::<Vec<_>>()
                            .join("\n"))
                            .unwrap_or_default()
                    ),
                ));
            }
            // `convert(value, type)`: the value converted to a type
            // constraint written as in a variable's `type` (OpenTofu 1.9).
            "convert" => {
                if arg_exprs.len() != 2 {
                    return Err(self.arity_error("convert", 2, Some(2), arg_exprs.len(), span));
                }
                let v = self.eval(arg_exprs[0])?;
                let const_eval = |e: &Expression| {
                    eval_const(e, self.file, Path::new(".")).map_err(|d| {
                        d.iter()
                            .map(|x| x.detail.clone())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                };
                let ty = crate::types::parse_type(arg_exprs[1], &const_eval).map_err(|(msg, e)| {
                    self.err(span_of(e), "Invalid type specification", format!("{msg} The second argument of convert is a type, e.g. list(string) or map(number)."))
                })?;
                if !v.is_wholly_known() {
                    return Ok(Value::Unknown);
                }
                let (v, s) = v.into_unmarked();
                return convert(v, &ty).map(|v| v.mark_if(s)).map_err(|msg| {
                    self.err(
                        span_of(arg_exprs[0]),
                        "Invalid function argument",
                        format!(
                            "Invalid value for \"value\" parameter: cannot convert to {}: {msg}.",
                            type_label(&ty)
                        ),
                    )
                });
            }
            "can" => {
                if arg_exprs.len() != 1 {
                    return Err(self.arity_error("can", 1, Some(1), arg_exprs.len(), span));
                }
                return Ok(match self.eval(arg_exprs[0]) {
                    Ok(v) if !v.is_wholly_known() => Value::Unknown,
                    Ok(_) => Value::Bool(true),
                    Err(_) => Value::Bool(false),
                });
            }
            _ => {}
        }
        // Evaluate the arguments (all of them, to report every error).
        let mut args = Vec::with_capacity(arg_exprs.len());
        let mut arg_spans = Vec::with_capacity(arg_exprs.len());
        let mut diags = Diagnostics::new();
        for a in &arg_exprs {
            match self.eval(a) {
                Ok(v) => args.push(v),
                Err(d) => diags.extend(d),
            }
            arg_spans.push(span_of(*a));
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        if f.args.expand_final()
            && let Some(last) = args.pop()
        {
            let last_span = arg_spans.pop().unwrap_or(span.clone());
            let (last, s) = last.into_unmarked();
            match last {
                Value::List(xs) | Value::Set(xs) => {
                    for x in xs {
                        args.push(x.mark_if(s));
                        arg_spans.push(last_span.clone());
                    }
                }
                Value::Unknown => return Ok(Value::Unknown),
                other => {
                    return Err(self.err(
                        last_span,
                        "Invalid expanding argument value",
                        format!("The expanding argument (indicated by ...) must be of a tuple, list, or set type, but have {}.", other.type_name()),
                    ));
                }
            }
        }
        match name {
            "sensitive" => {
                if args.len() != 1 {
                    return Err(self.arity_error(name, 1, Some(1), args.len(), span));
                }
                return Ok(args.remove(0).mark_sensitive());
            }
            "nonsensitive" => {
                if args.len() != 1 {
                    return Err(self.arity_error(name, 1, Some(1), args.len(), span));
                }
                return Ok(args.remove(0).deep_unmark().0);
            }
            "templatefile" => return self.templatefile(args, &arg_spans, span),
            "templatestring" => return self.templatestring(args, &arg_spans, span),
            _ => {}
        }
        let Some(sig) = functions::signature(name) else {
            let mut names = functions::names();
            names.extend(
                [
                    "try",
                    "can",
                    "convert",
                    "templatefile",
                    "templatestring",
                    "sensitive",
                    "nonsensitive",
                ]
                .map(String::from),
            );
            return Err(self.err(
                name_span,
                "Call to unknown function",
                format!(
                    "There is no function named \"{name}\".{}",
                    did_you_mean(name, names.iter().map(String::as_str))
                ),
            ));
        };
        if args.len() < sig.0 || sig.1.is_some_and(|max| args.len() > max) {
            return Err(self.arity_error(name, sig.0, sig.1, args.len(), span));
        }
        match functions::call(name, args, self.env.base_dir()) {
            Ok(v) => Ok(v),
            Err((arg, message)) => match arg {
                Some(i) => Err(self.err(
                    arg_spans.get(i).cloned().unwrap_or(span),
                    "Invalid function argument",
                    message,
                )),
                None => Err(self.err(
                    span,
                    "Error in function call",
                    format!("Call to function \"{name}\" failed: {message}"),
                )),
            },
        }
    }

    fn arity_error(
        &self,
        name: &str,
        min: usize,
        max: Option<usize>,
        got: usize,
        span: Range<usize>,
    ) -> Diagnostics {
        let expected = match max {
            Some(m) if m == min => format!("exactly {min}"),
            Some(m) => format!("{min} to {m}"),
            None => format!("at least {min}"),
        };
        let plural = if expected.ends_with('1') {
            "argument"
        } else {
            "arguments"
        };
        let summary = if got < min {
            "Not enough function arguments"
        } else {
            "Too many function arguments"
        };
        self.err(
            span,
            summary,
            format!("Function \"{name}\" expects {expected} {plural}, but {got} were given."),
        )
    }

    /// The arguments both template functions take: a string (a path or the
    /// template itself) and a map of variables. `None` when either is not
    /// known yet; the two sensitivity marks come back with them.
    #[allow(clippy::type_complexity)]
    fn template_args(
        &mut self,
        name: &str,
        args: Vec<Value>,
        spans: &[Range<usize>],
        span: Range<usize>,
    ) -> R<Option<(String, bool, BTreeMap<String, Value>, bool)>> {
        if args.len() != 2 {
            return Err(self.arity_error(name, 2, Some(2), args.len(), span));
        }
        let mut it = args.into_iter();
        let (first, first_sens) = it.next().unwrap_or(Value::Null).into_unmarked();
        let vars = it.next().unwrap_or(Value::Null);
        let first = match first {
            Value::String(s) => s.to_string(),
            Value::Unknown => return Ok(None),
            other => {
                return Err(self.err(spans[0].clone(), "Invalid function argument", format!("Invalid value for argument 1 of \"{name}\": a string is required, but have {}.", other.type_name())));
            }
        };
        if !vars.is_wholly_known() {
            return Ok(None);
        }
        let vars_sens = vars.contains_sensitive();
        let vars_map = match vars.unmarked() {
            Value::Map(m) => m.clone(),
            other => {
                return Err(self.err(spans[1].clone(), "Invalid function argument", format!("Invalid value for argument 2 of \"{name}\": an object is required, but have {}.", other.type_name())));
            }
        };
        if self.depth > 8 {
            return Err(self.err(
                span,
                "Error in function call",
                format!("{name} calls are nested too deeply."),
            ));
        }
        Ok(Some((first, first_sens, vars_map.into_inner(), vars_sens)))
    }

    fn templatefile(
        &mut self,
        args: Vec<Value>,
        spans: &[Range<usize>],
        span: Range<usize>,
    ) -> R<Value> {
        let Some((path, psens, vars_map, vars_sens)) =
            self.template_args("templatefile", args, spans, span.clone())?
        else {
            return Ok(Value::Unknown);
        };
        let full = self.env.base_dir().join(&path);
        let text = std::fs::read(&full).map_err(|e| {
            self.err(
                spans[0].clone(),
                "Invalid function argument",
                format!(
                    "Invalid value for argument 1 of \"templatefile\": cannot read {}: {e}.",
                    full.display()
                ),
            )
        })?;
        let text = String::from_utf8(text).map_err(|_| {
            self.err(
                spans[0].clone(),
                "Invalid function argument",
                format!(
                    "Invalid value for argument 1 of \"templatefile\": {} is not valid UTF-8.",
                    full.display()
                ),
            )
        })?;
        let label = full.to_string_lossy().into_owned();
        self.render_template(
            "templatefile",
            &path,
            SourceFile::new(label, full.clone(), text.as_str()),
            &text,
            vars_map,
            span,
        )
        .map(|r| r.mark_if(psens || vars_sens))
    }

    /// `templatestring(ref, vars)`: a template held in a string value.
    fn templatestring(
        &mut self,
        args: Vec<Value>,
        spans: &[Range<usize>],
        span: Range<usize>,
    ) -> R<Value> {
        let Some((text, tsens, vars_map, vars_sens)) =
            self.template_args("templatestring", args, spans, span.clone())?
        else {
            return Ok(Value::Unknown);
        };
        let base = self.env.base_dir().join("<templatestring>");
        self.render_template(
            "templatestring",
            "template",
            SourceFile::new("<templatestring>".to_string(), base, text.as_str()),
            &text,
            vars_map,
            span,
        )
        .map(|r| r.mark_if(tsens || vars_sens))
    }

    /// Parse and evaluate a template with only `vars` in scope.
    fn render_template(
        &mut self,
        func: &str,
        path: &str,
        tfile: SourceFile,
        text: &str,
        vars_map: BTreeMap<String, Value>,
        span: Range<usize>,
    ) -> R<Value> {
        let tmpl = hcl_edit::parser::parse_template(text).map_err(|e| {
            self.err(
                span.clone(),
                "Error in function call",
                format!(
                    "Call to function \"{func}\" failed: {}:{},{}: {}.",
                    path,
                    e.location().line(),
                    e.location().column(),
                    e.message()
                ),
            )
        })?;
        let mut sub = Ctx {
            file: &tfile,
            env: &TemplateEnv {
                base_dir: self.env.base_dir(),
            },
            bindings: vars_map.into_iter().collect(),
            depth: self.depth + 1,
        };
        let r = sub.template(&tmpl).map_err(|d| {
            let msgs: Vec<String> = d
                .iter()
                .map(|x| {
                    let at = x
                        .range
                        .as_ref()
                        .map(|r| format!("{}:{}: ", path, r.start.line))
                        .unwrap_or_default();
                    format!("{at}{}: {}", x.summary, x.detail)
                })
                .collect();
            self.err(
                span.clone(),
                "Error in function call",
                format!("Call to function \"{func}\" failed: {}", msgs.join("; ")),
            )
        })?;
        Ok(r)
    }
}

struct TemplateEnv<'a> {
    base_dir: &'a Path,
}

impl Env for TemplateEnv<'_> {
    fn resolve(
        &self,
        subject: &RefSubject,
        span: Range<usize>,
        file: &SourceFile,
    ) -> Result<Arc<Value>, Diagnostics> {
        let _ = subject;
        Err(error(
            file,
            span,
            "Invalid reference",
            "Templates can only refer to the variables passed to templatefile or templatestring.",
        )
        .into())
    }
    fn base_dir(&self) -> &Path {
        self.base_dir
    }
    fn is_template(&self) -> bool {
        true
    }
}

#[derive(Default)]
struct TemplateState {
    unknown: bool,
    sensitive: bool,
}

fn strip_before(el: &Element) -> bool {
    match el {
        Element::Literal(_) => false,
        Element::Interpolation(i) => i.strip.strip_start(),
        Element::Directive(d) => match d.as_ref() {
            Directive::If(d) => d.if_expr.strip.strip_start(),
            Directive::For(d) => d.for_expr.strip.strip_start(),
        },
    }
}

fn strip_after(el: &Element) -> bool {
    match el {
        Element::Literal(_) => false,
        Element::Interpolation(i) => i.strip.strip_end(),
        Element::Directive(d) => match d.as_ref() {
            Directive::If(d) => d.endif_expr.strip.strip_end(),
            Directive::For(d) => d.endfor_expr.strip.strip_end(),
        },
    }
}

/// A string in Unicode Normalization Form C, as Terraform keeps every
/// string (`"e\u0301"` and `"\u00e9"` are the same string).
pub(crate) fn nfc(s: &str) -> String {
    if s.is_ascii() {
        s.to_string()
    } else {
        s.nfc().collect()
    }
}

/// [`nfc`] without a copy when the string is already normalised.
pub(crate) fn nfc_owned(s: String) -> String {
    if s.is_ascii() || unicode_normalization::is_nfc(&s) {
        s
    } else {
        s.nfc().collect()
    }
}

/// Structural equality ignoring list/set distinction of numbers' formatting;
/// strings compare in NFC.
pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a.unmarked(), b.unmarked()) {
        (Value::String(x), Value::String(y)) => {
            x == y || (!x.is_ascii() && !y.is_ascii() && x.nfc().eq(y.nfc()))
        }
        (Value::List(x), Value::List(y)) | (Value::Set(x), Value::Set(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && values_equal(v1, v2))
        }
        (x, y) => x == y,
    }
}

/// Evaluate an expression that may not refer to anything.
pub(crate) fn eval_const(e: &Expression, file: &SourceFile, base_dir: &Path) -> R<Value> {
    let env = ConstEnv { base_dir };
    Ctx::new(file, &env).eval(e)
}

/// `provider::aws::arn_parse` is a provider-defined function (Terraform 1.8+).
pub(crate) fn provider_function_detail(name: &hcl_edit::expr::FuncName) -> String {
    let parts: Vec<&str> = name.namespace.iter().map(|n| n.as_str()).collect();
    let full = format!("{}::{}", parts.join("::"), name.name.as_str());
    let provider = parts.get(1).copied().unwrap_or("?");
    format!(
        "\"{full}\" is a function of the {provider} provider. terrace does not support provider-defined functions; use built-in functions instead (for example split or regex on an ARN, jsondecode/yamldecode for documents)."
    )
}
