//! References from expressions to named objects (`var.x`, `aws_vpc.main`,
//! `module.net.id`, …), found statically without evaluating.

use std::ops::Range;

use hcl_edit::Span;
use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::structure::{Body, Structure};
use hcl_edit::template::{Directive, Element, Template};
use hcl_edit::{Decorated, Ident};
use terrace_core::{InstanceKey, ResourceMode};

/// What a reference points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RefSubject {
    Var(String),
    Local(String),
    Resource {
        mode: ResourceMode,
        type_name: String,
        name: String,
    },
    Module(String),
    Count(String),
    Each(String),
    Path(String),
    Terrace(String),
    Terraform(String),
}

/// One static reference with its byte span (in the file of the expression).
#[derive(Debug, Clone)]
pub struct Reference {
    pub subject: RefSubject,
    /// The span of the reference prefix (`aws_vpc.main`, `var.x`).
    pub span: Range<usize>,
    /// The first attribute accessed after the subject (skipping one index or
    /// splat), e.g. `id` in `aws_instance.r[0].id`, with its span.
    pub attr: Option<(String, Range<usize>)>,
    /// The literal steps after the subject (up to the first splat or
    /// computed index): `[0]`, `.id` of `aws_instance.r[0].id`. The
    /// configuration's JSON form lists references with them.
    pub steps: Vec<RefStep>,
}

/// One literal step of a traversal: `.name`, `[0]` or `["key"]`.
#[derive(Debug, Clone, PartialEq)]
pub enum RefStep {
    Attr(String),
    Key(InstanceKey),
}

/// The literal steps of `ops`, stopping at the first splat or computed index.
fn literal_steps(ops: &[Decorated<TraversalOperator>]) -> Vec<RefStep> {
    let mut out = Vec::new();
    for op in ops {
        let step = match op.value() {
            TraversalOperator::GetAttr(id) => RefStep::Attr(id.as_str().to_string()),
            TraversalOperator::LegacyIndex(i) => match i64::try_from(*i.value()) {
                Ok(i) => RefStep::Key(InstanceKey::Int(i)),
                Err(_) => break,
            },
            TraversalOperator::Index(Expression::Number(n)) => match n.value().as_i64() {
                Some(i) => RefStep::Key(InstanceKey::Int(i)),
                None => break,
            },
            TraversalOperator::Index(Expression::String(s)) => {
                RefStep::Key(InstanceKey::Str(s.value().to_string()))
            }
            _ => break,
        };
        out.push(step);
    }
    out
}

/// A bad reference prefix (`var` alone, `data.x` without a name).
#[derive(Debug, Clone)]
pub struct BadReference {
    pub message: String,
    pub span: Range<usize>,
}

pub(crate) fn span_of(x: &impl Span) -> Range<usize> {
    x.span().unwrap_or(0..0)
}

fn get_attr(op: Option<&Decorated<TraversalOperator>>) -> Option<(&str, Range<usize>)> {
    match op.map(|o| o.value()) {
        Some(TraversalOperator::GetAttr(id)) => Some((id.as_str(), span_of(id))),
        _ => None,
    }
}

/// Split a traversal `root.op0.op1…` into its subject and the number of
/// operators the subject consumed. `bound` names (for-expression variables,
/// dynamic iterators) are not references: returns `Ok(None)` for them.
pub fn parse_subject(
    root: &Decorated<Ident>,
    ops: &[Decorated<TraversalOperator>],
    is_bound: &dyn Fn(&str) -> bool,
) -> Result<Option<(RefSubject, usize, Range<usize>)>, BadReference> {
    let name = root.as_str();
    if is_bound(name) {
        return Ok(None);
    }
    let root_span = span_of(root);
    let end = |last: Range<usize>| root_span.start..last.end.max(root_span.end);
    let one = |kind: &str| -> Result<(String, Range<usize>), BadReference> {
        get_attr(ops.first()).map(|(a, s)| (a.to_string(), s)).ok_or_else(|| BadReference {
            message: format!("The \"{kind}\" object cannot be accessed directly. Instead, access one of its attributes."),
            span: root_span.clone(),
        })
    };
    let subject = match name {
        "var" => one("var").map(|(a, s)| (RefSubject::Var(a), 1, s))?,
        "local" => one("local").map(|(a, s)| (RefSubject::Local(a), 1, s))?,
        "count" => one("count").map(|(a, s)| (RefSubject::Count(a), 1, s))?,
        "each" => one("each").map(|(a, s)| (RefSubject::Each(a), 1, s))?,
        "path" => one("path").map(|(a, s)| (RefSubject::Path(a), 1, s))?,
        "terrace" => one("terrace").map(|(a, s)| (RefSubject::Terrace(a), 1, s))?,
        "terraform" => one("terraform").map(|(a, s)| (RefSubject::Terraform(a), 1, s))?,
        "module" => one("module").map(|(a, s)| (RefSubject::Module(a), 1, s))?,
        "self" => {
            return Err(BadReference {
                message: "The \"self\" object is only available in a postcondition block of a resource or data source (and in provisioner and connection blocks, which terrace does not support).".into(),
                span: root_span,
            });
        }
        "data" => {
            let (t, _) = get_attr(ops.first()).ok_or_else(|| BadReference {
                message: "The \"data\" object must be followed by two attribute names: the data source type and the resource name.".into(),
                span: root_span.clone(),
            })?;
            let (n, s) = get_attr(ops.get(1)).ok_or_else(|| BadReference {
                message: "The \"data\" object must be followed by two attribute names: the data source type and the resource name.".into(),
                span: root_span.clone(),
            })?;
            (
                RefSubject::Resource {
                    mode: ResourceMode::Data,
                    type_name: t.to_string(),
                    name: n.to_string(),
                },
                2,
                s,
            )
        }
        other => {
            let (n, s) = get_attr(ops.first()).ok_or_else(|| BadReference {
                message: format!(
                    "A reference to a resource type must be followed by at least one attribute access, specifying the resource name (\"{other}\" is not a known variable here)."
                ),
                span: root_span.clone(),
            })?;
            (
                RefSubject::Resource {
                    mode: ResourceMode::Managed,
                    type_name: other.to_string(),
                    name: n.to_string(),
                },
                1,
                s,
            )
        }
    };
    let (subject, consumed, last) = subject;
    Ok(Some((subject, consumed, end(last))))
}

/// The references found in one expression or block body, collected once
/// and kept with it (see `Expr::collected`, `ResourceBlock::body_refs`):
/// module expansion asks for the same block's references once per module
/// instance, and walking a large expression (a `for_each` over thousands of
/// literal keys) that often made the expansion quadratic.
#[derive(Debug, Clone, Default)]
pub struct CollectedRefs {
    pub refs: Vec<Reference>,
    pub bad: Vec<BadReference>,
}

/// No references.
pub(crate) static NO_REFS: CollectedRefs = CollectedRefs {
    refs: Vec::new(),
    bad: Vec::new(),
};

impl CollectedRefs {
    pub(crate) fn of_expr(e: &Expression) -> Self {
        let mut c = RefCollector::new();
        c.expr(e);
        c.into()
    }

    /// The references of a postcondition expression, where `self` is the
    /// object being checked (bound, not a reference).
    pub(crate) fn of_expr_with_self(e: &Expression) -> Self {
        let mut c = RefCollector::new();
        c.bound.push("self".into());
        c.expr(e);
        c.into()
    }

    pub(crate) fn of_body(body: &Body) -> Self {
        let mut c = RefCollector::new();
        body_refs(&mut c, body);
        c.into()
    }
}

impl From<RefCollector> for CollectedRefs {
    fn from(c: RefCollector) -> Self {
        CollectedRefs {
            refs: c.refs,
            bad: c.bad,
        }
    }
}

/// References of a resource or provider body, with dynamic iterators bound.
pub(crate) fn body_refs(c: &mut RefCollector, body: &Body) {
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => c.expr(&a.value),
            Structure::Block(b) if b.ident.as_str() == "dynamic" => {
                if let Some(fe) = b.body.get_attribute("for_each") {
                    c.expr(&fe.value);
                }
                let iter = match b.body.get_attribute("iterator").map(|a| &a.value) {
                    Some(Expression::Variable(v)) => v.as_str().to_string(),
                    _ => b
                        .labels
                        .first()
                        .map(|l| l.as_str().to_string())
                        .unwrap_or_default(),
                };
                c.bound.push(iter);
                if let Some(l) = b.body.get_attribute("labels") {
                    c.expr(&l.value);
                }
                for content in b.body.get_blocks("content") {
                    body_refs(c, &content.body);
                }
                c.bound.pop();
            }
            Structure::Block(b) => body_refs(c, &b.body),
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Expression nodes visited by `RefCollector::expr` on this thread.
    static VISITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Expression nodes visited by reference collection on this thread so far
/// (tests use it to check that no expression is walked once per instance).
#[cfg(test)]
pub(crate) fn visits() -> usize {
    VISITS.with(|v| v.get())
}

/// Collects references from expressions, tracking names bound by `for`
/// expressions, template `for` directives and dynamic-block iterators.
#[derive(Default)]
pub struct RefCollector {
    pub bound: Vec<String>,
    pub refs: Vec<Reference>,
    pub bad: Vec<BadReference>,
}

impl RefCollector {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn expr(&mut self, e: &Expression) {
        #[cfg(test)]
        VISITS.with(|v| v.set(v.get() + 1));
        match e {
            Expression::Null(_)
            | Expression::Bool(_)
            | Expression::Number(_)
            | Expression::String(_) => {}
            Expression::Array(a) => a.iter().for_each(|x| self.expr(x)),
            Expression::Object(o) => {
                for (k, v) in o.iter() {
                    if let hcl_edit::expr::ObjectKey::Expression(k) = k
                        && !matches!(k, Expression::Variable(_))
                    {
                        self.expr(k);
                    }
                    self.expr(v.expr());
                }
            }
            Expression::StringTemplate(t) => self.template(t),
            Expression::HeredocTemplate(h) => self.template(&h.template),
            Expression::Parenthesis(p) => self.expr(p.inner()),
            Expression::Variable(v) => self.traversal(v, &[]),
            Expression::Conditional(c) => {
                self.expr(&c.cond_expr);
                self.expr(&c.true_expr);
                self.expr(&c.false_expr);
            }
            Expression::FuncCall(f) => {
                // `convert(value, type)`: the type is not an expression.
                let n = if f.name.name.as_str() == "convert" && !f.name.is_namespaced() {
                    1
                } else {
                    f.args.len()
                };
                f.args.iter().take(n).for_each(|x| self.expr(x))
            }
            Expression::Traversal(t) => {
                if let Expression::Variable(v) = &t.expr {
                    self.traversal(v, &t.operators);
                } else {
                    self.expr(&t.expr);
                }
                for op in &t.operators {
                    if let TraversalOperator::Index(i) = op.value() {
                        self.expr(i);
                    }
                }
            }
            Expression::UnaryOp(u) => self.expr(&u.expr),
            Expression::BinaryOp(b) => {
                self.expr(&b.lhs_expr);
                self.expr(&b.rhs_expr);
            }
            Expression::ForExpr(f) => {
                self.expr(&f.intro.collection_expr);
                let n = self.bound.len();
                if let Some(k) = &f.intro.key_var {
                    self.bound.push(k.as_str().to_string());
                }
                self.bound.push(f.intro.value_var.as_str().to_string());
                if let Some(k) = &f.key_expr {
                    self.expr(k);
                }
                self.expr(&f.value_expr);
                if let Some(c) = &f.cond {
                    self.expr(&c.expr);
                }
                self.bound.truncate(n);
            }
        }
    }

    pub fn template(&mut self, t: &Template) {
        for el in t.iter() {
            match el {
                Element::Literal(_) => {}
                Element::Interpolation(i) => self.expr(&i.expr),
                Element::Directive(d) => match d.as_ref() {
                    Directive::If(d) => {
                        self.expr(&d.if_expr.cond_expr);
                        self.template(&d.if_expr.template);
                        if let Some(e) = &d.else_expr {
                            self.template(&e.template);
                        }
                    }
                    Directive::For(d) => {
                        self.expr(&d.for_expr.collection_expr);
                        let n = self.bound.len();
                        if let Some(k) = &d.for_expr.key_var {
                            self.bound.push(k.as_str().to_string());
                        }
                        self.bound.push(d.for_expr.value_var.as_str().to_string());
                        self.template(&d.for_expr.template);
                        self.bound.truncate(n);
                    }
                },
            }
        }
    }

    fn traversal(&mut self, root: &Decorated<Ident>, ops: &[Decorated<TraversalOperator>]) {
        let bound = &self.bound;
        match parse_subject(root, ops, &|n| bound.iter().any(|b| b == n)) {
            Ok(None) => {}
            Ok(Some((subject, consumed, span))) => {
                let steps = literal_steps(&ops[consumed..]);
                let mut rest = &ops[consumed..];
                if let Some(first) = rest.first()
                    && matches!(
                        first.value(),
                        TraversalOperator::Index(_)
                            | TraversalOperator::LegacyIndex(_)
                            | TraversalOperator::FullSplat(_)
                            | TraversalOperator::AttrSplat(_)
                    )
                {
                    rest = &rest[1..];
                }
                let attr = get_attr(rest.first()).map(|(a, s)| (a.to_string(), s));
                self.refs.push(Reference {
                    subject,
                    span,
                    attr,
                    steps,
                });
            }
            Err(bad) => self.bad.push(bad),
        }
    }
}
