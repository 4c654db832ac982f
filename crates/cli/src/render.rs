//! The human plan, laid out as Terraform's: action symbols three columns
//! wide, attribute-level diffs aligned on `=` (null attributes left out before
//! measuring), maps with quoted keys, lists element by element, nested blocks
//! as blocks, JSON strings as `jsonencode(...)` of their structure,
//! multi-line strings as line diffs (similar), "(known after apply)",
//! "(sensitive value)", unchanged children counted as hidden, the "changed
//! outside of terrace" section, the summary line and "Changes to Outputs".

use crate::output::Style;
use std::fmt::Write;
use terrace_core::Value;
use terrace_engine::model::{
    Action, Plan, PlanMode, ResourceChange, ResourceDrift, equal_ignoring_marks,
};

fn action_style(st: Style, a: Action) -> String {
    let sym = a.symbol();
    match a {
        Action::Create => st.green(sym),
        Action::Delete => st.red(sym),
        Action::Update => st.yellow(sym),
        Action::DeleteThenCreate | Action::CreateThenDelete => st.yellow(sym),
        Action::Read => st.cyan(sym),
        Action::NoOp | Action::Forget => sym.to_string(),
    }
}

fn verb(c: &ResourceChange) -> String {
    let base = match c.action {
        Action::Create => "will be created",
        Action::Update => "will be updated in-place",
        Action::DeleteThenCreate => "must be replaced",
        Action::CreateThenDelete => "must be replaced (create before destroy)",
        Action::Delete => "will be destroyed",
        Action::Read => "will be read during apply",
        Action::NoOp => "is unchanged",
        Action::Forget => {
            "will no longer be managed by terrace (removed from state; the object is not destroyed)"
        }
    };
    let mut s = base.to_string();
    if c.import_id.is_some() {
        s = if c.action == Action::NoOp {
            "will be imported".into()
        } else {
            format!("will be imported and {base}")
        };
    }
    if let Some(from) = &c.moved_from {
        s.push_str(&format!(" (moved from {from})"));
    }
    match c.reason.as_deref() {
        Some("delete_because_no_resource_config") => {
            s.push_str("\n  # (because it is no longer in the configuration)")
        }
        Some("delete_because_count_index") => {
            s.push_str("\n  # (because its index is out of range of count)")
        }
        Some("replace_by_request") => s.push_str("\n  # (replacement requested with --replace)"),
        Some("replace_by_triggers") => s.push_str("\n  # (replace_triggered_by)"),
        _ => {}
    }
    s
}

/// What happens to one value of the plan: decides the symbol in front of it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Act {
    NoOp,
    Create,
    Delete,
    Update,
}

/// How a value is rendered (Terraform's layout rules, which depend on where
/// the value sits).
#[derive(Clone, Copy)]
struct Opts {
    st: Style,
    /// Show unchanged children instead of counting them as hidden.
    show_unchanged: bool,
    /// Leave off `-> null` after a deleted value (its parent says it).
    no_null_suffix: bool,
    /// Inside a `jsonencode(...)`: maps are objects (bare keys, "attribute").
    json: bool,
}

/// Every symbol is three columns wide, right-aligned, as Terraform draws
/// them, so `-/+`, `<=` and `+` end in the same column.
fn sym(st: Style, a: Act) -> String {
    match a {
        Act::NoOp => "   ".into(),
        Act::Create => format!("  {}", st.green("+")),
        Act::Delete => format!("  {}", st.red("-")),
        Act::Update => format!("  {}", st.yellow("~")),
    }
}

fn header_sym(st: Style, a: Action) -> String {
    let s = action_style(st, a);
    match a.symbol().len() {
        1 => format!("  {s}"),
        2 => format!(" {s}"),
        _ => s,
    }
}

fn ind(level: usize) -> String {
    "    ".repeat(level)
}

/// A value that is there: not absent and not null.
fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// The value with null map entries dropped, at any depth: `{a = null}` and
/// `{}` render the same, so they must not count as a change.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        Value::List(xs) => Value::List(xs.iter().map(without_nulls).collect()),
        Value::Set(xs) => Value::Set(xs.iter().map(without_nulls).collect()),
        Value::Sensitive(x) => Value::Sensitive(Box::new(without_nulls(x))),
        other => other.clone(),
    }
}

fn act_of(b: Option<&Value>, a: Option<&Value>) -> Act {
    match (present(b), present(a)) {
        (None, None) => Act::NoOp,
        (None, Some(_)) => Act::Create,
        (Some(_), None) => Act::Delete,
        (Some(x), Some(y)) => {
            if x.is_sensitive() == y.is_sensitive()
                && equal_ignoring_marks(&without_nulls(x), &without_nulls(y))
            {
                Act::NoOp
            } else {
                Act::Update
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Map,
    List,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v.unmarked() {
        Value::String(_) => Kind::Str,
        Value::Map(_) => Kind::Map,
        Value::List(_) | Value::Set(_) => Kind::List,
        _ => Kind::Other,
    }
}

/// The right-hand side of `name = …` for a value going from `b` to `a` with
/// action `act`, laid out for a line at indentation level `indent`. Lines after
/// the first carry their own indentation.
fn rhs(b: Option<&Value>, a: Option<&Value>, act: Act, indent: usize, o: Opts) -> String {
    let (b, a) = (present(b), present(a));
    let null_sfx = if act == Act::Delete && !o.no_null_suffix {
        format!(" {}", o.st.dim("-> null"))
    } else {
        String::new()
    };
    if b.is_some_and(Value::is_sensitive) || a.is_some_and(Value::is_sensitive) {
        return format!("(sensitive value){null_sfx}");
    }
    if let Some(y) = a
        && y.is_unknown()
    {
        return match b {
            Some(x) if act != Act::Create => {
                let before = rhs(
                    Some(x),
                    None,
                    Act::Delete,
                    indent,
                    Opts {
                        no_null_suffix: true,
                        ..o
                    },
                );
                format!("{before} -> (known after apply)")
            }
            _ => "(known after apply)".into(),
        };
    }
    let kb = b.map(kind);
    let ka = a.map(kind);
    if let (Some(x), Some(y)) = (kb, ka)
        && x != y
    {
        // A change of type: the old value removed, the new one added.
        let quiet = Opts {
            no_null_suffix: true,
            ..o
        };
        return format!(
            "{} -> {}",
            rhs(b, None, Act::Delete, indent, quiet),
            rhs(None, a, Act::Create, indent, o)
        );
    }
    match kb.or(ka).unwrap_or(Kind::Other) {
        Kind::Str => string_rhs(b, a, act, indent, o, &null_sfx),
        Kind::Map => map_rhs(b, a, act, indent, o, &null_sfx),
        Kind::List => list_rhs(b, a, act, indent, o, &null_sfx),
        Kind::Other => {
            let show = |v: Option<&Value>| v.map(|v| v.to_string()).unwrap_or("null".into());
            match act {
                Act::Create => show(a),
                Act::Delete => format!("{}{null_sfx}", show(b)),
                Act::NoOp => show(b.or(a)),
                Act::Update => format!("{} {} {}", show(b), o.st.yellow("->"), show(a)),
            }
        }
    }
}

/// A JSON object or array held in a string (a policy document, say).
fn json_in(v: Option<&Value>) -> Option<Value> {
    let s = v?.as_str()?;
    let t = s.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    let j: serde_json::Value = serde_json::from_str(s).ok()?;
    Some(Value::from_json(&j))
}

fn string_rhs(
    b: Option<&Value>,
    a: Option<&Value>,
    act: Act,
    indent: usize,
    o: Opts,
    null_sfx: &str,
) -> String {
    let st = o.st;
    let (jb, ja) = (json_in(b), json_in(a));
    if (jb.is_some() || ja.is_some())
        && (b.is_none() || jb.is_some())
        && (a.is_none() || ja.is_some())
    {
        // Terraform shows JSON strings as the jsonencode() of their structure.
        let inner_act = act_of(jb.as_ref(), ja.as_ref());
        let whitespace_only = act == Act::Update && inner_act == Act::NoOp;
        let jo = Opts {
            json: true,
            no_null_suffix: true,
            show_unchanged: o.show_unchanged || whitespace_only,
            ..o
        };
        let inner_act = if act == Act::NoOp {
            Act::NoOp
        } else {
            inner_act
        };
        let inner = rhs(jb.as_ref(), ja.as_ref(), inner_act, indent + 1, jo);
        let shown = match act {
            Act::Create | Act::Delete | Act::NoOp => Act::NoOp,
            Act::Update => inner_act,
        };
        let ws = if whitespace_only {
            st.dim(" # whitespace changes")
        } else {
            String::new()
        };
        return if inner.contains('\n') {
            format!(
                "jsonencode({ws}\n{}{} {inner}\n{})",
                ind(indent + 1),
                sym(st, shown),
                ind(indent + 1)
            )
        } else {
            format!("jsonencode({inner}){ws}")
        };
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let (x, y) = (text(b), text(a));
    let multiline = x.contains('\n') || y.contains('\n');
    if !multiline {
        let q = |v: Option<&Value>| v.map(|v| v.to_string()).unwrap_or("null".into());
        return match act {
            Act::Create => q(a),
            Act::Delete => format!("{}{null_sfx}", q(b)),
            Act::NoOp => q(b.or(a)),
            Act::Update => format!("{} {} {}", q(b), st.yellow("->"), q(a)),
        };
    }
    let line_pad = ind(indent + 1);
    let mut lines = Vec::new();
    match act {
        Act::Create | Act::NoOp | Act::Delete => {
            let body = if act == Act::Create { &y } else { &x };
            for l in body.lines() {
                lines.push(format!("{line_pad}{} {l}", sym(st, Act::NoOp)));
            }
        }
        Act::Update => {
            let diff = similar::TextDiff::from_lines(x.as_str(), y.as_str());
            for change in diff.iter_all_changes() {
                let l = change.value().trim_end_matches('\n');
                let a = match change.tag() {
                    similar::ChangeTag::Delete => Act::Delete,
                    similar::ChangeTag::Insert => Act::Create,
                    similar::ChangeTag::Equal => Act::NoOp,
                };
                lines.push(format!("{line_pad}{} {l}", sym(st, a)));
            }
        }
    }
    format!(
        "<<-EOT\n{}\n{}{} EOT{null_sfx}",
        lines.join("\n"),
        ind(indent),
        sym(st, Act::NoOp)
    )
}

/// A map key as Terraform prints it: always quoted. An object attribute name
/// (inside `jsonencode`, or a block's attribute): bare when it is a valid
/// identifier, quoted otherwise.
fn map_key(k: &str, json: bool) -> String {
    if json { attr_name(k) } else { quoted(k) }
}

fn quoted(k: &str) -> String {
    serde_json::Value::String(k.to_string()).to_string()
}

fn attr_name(k: &str) -> String {
    let mut chars = k.chars();
    let valid = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if valid { k.to_string() } else { quoted(k) }
}

fn unchanged_note(st: Style, n: usize, what: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    st.dim(&format!("# ({n} unchanged {what}{s} hidden)"))
}

fn map_rhs(
    b: Option<&Value>,
    a: Option<&Value>,
    act: Act,
    indent: usize,
    o: Opts,
    null_sfx: &str,
) -> String {
    let st = o.st;
    let empty = std::collections::BTreeMap::new();
    let bm = b.and_then(Value::as_map).unwrap_or(&empty);
    let am = a.and_then(Value::as_map).unwrap_or(&empty);
    let mut keys: Vec<&String> = bm
        .keys()
        .chain(am.keys())
        .filter(|k| present(bm.get(*k)).is_some() || present(am.get(*k)).is_some())
        .collect();
    keys.sort();
    keys.dedup();
    if keys.is_empty() {
        return format!("{{}}{null_sfx}");
    }
    let width = keys
        .iter()
        .map(|k| map_key(k, o.json).chars().count())
        .max()
        .unwrap_or(0);
    let child = Opts {
        no_null_suffix: o.json || act == Act::Delete,
        ..o
    };
    let what = if o.json { "attribute" } else { "element" };
    let mut out = String::from("{\n");
    let mut hidden = 0;
    for k in keys {
        let (x, y) = sides(act, bm.get(k), am.get(k));
        let eact = if act == Act::NoOp {
            Act::NoOp
        } else {
            act_of(x, y)
        };
        if eact == Act::NoOp && !o.show_unchanged {
            hidden += 1;
            continue;
        }
        let key = map_key(k, o.json);
        let pad = width.saturating_sub(key.chars().count());
        let _ = writeln!(
            out,
            "{}{} {key}{} = {}",
            ind(indent + 1),
            sym(st, eact),
            " ".repeat(pad),
            rhs(x, y, eact, indent + 1, child)
        );
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "{}{} {}",
            ind(indent + 1),
            sym(st, Act::NoOp),
            unchanged_note(st, hidden, what)
        );
    }
    let _ = write!(out, "{}{} }}{null_sfx}", ind(indent), sym(st, Act::NoOp));
    out
}

/// The two sides of a child value under a parent whose action is `act`: a
/// created parent has no before, a deleted one no after.
fn sides<'v>(
    act: Act,
    b: Option<&'v Value>,
    a: Option<&'v Value>,
) -> (Option<&'v Value>, Option<&'v Value>) {
    match act {
        Act::Create => (None, a),
        Act::Delete => (b, None),
        Act::NoOp => (b.or(a), b.or(a)),
        Act::Update => (b, a),
    }
}

fn list_rhs(
    b: Option<&Value>,
    a: Option<&Value>,
    act: Act,
    indent: usize,
    o: Opts,
    null_sfx: &str,
) -> String {
    let st = o.st;
    let bl = b.and_then(Value::as_list).unwrap_or(&[]);
    let al = a.and_then(Value::as_list).unwrap_or(&[]);
    let elements: Vec<(Act, Option<&Value>, Option<&Value>)> = match act {
        Act::Create => al.iter().map(|y| (Act::Create, None, Some(y))).collect(),
        Act::Delete => bl.iter().map(|x| (Act::Delete, Some(x), None)).collect(),
        Act::NoOp => bl.iter().map(|x| (Act::NoOp, Some(x), Some(x))).collect(),
        Act::Update => list_changes(bl, al),
    };
    if elements.is_empty() {
        return format!("[]{null_sfx}");
    }
    let child = Opts {
        no_null_suffix: true,
        ..o
    };
    let mut out = String::from("[\n");
    let mut hidden = 0;
    let flush = |out: &mut String, hidden: &mut usize| {
        if *hidden > 0 {
            let _ = writeln!(
                out,
                "{}{} {}",
                ind(indent + 1),
                sym(st, Act::NoOp),
                unchanged_note(st, *hidden, "element")
            );
            *hidden = 0;
        }
    };
    for (eact, x, y) in elements {
        if eact == Act::NoOp && !o.show_unchanged {
            hidden += 1;
            continue;
        }
        flush(&mut out, &mut hidden);
        let _ = writeln!(
            out,
            "{}{} {},",
            ind(indent + 1),
            sym(st, eact),
            rhs(x, y, eact, indent + 1, child)
        );
    }
    flush(&mut out, &mut hidden);
    let _ = write!(out, "{}{} ]{null_sfx}", ind(indent), sym(st, Act::NoOp));
    out
}

/// Element-wise changes of a list (longest common subsequence): kept,
/// removed and added elements; a removed map followed by an added one is an
/// update of that element.
fn list_changes<'v>(
    bl: &'v [Value],
    al: &'v [Value],
) -> Vec<(Act, Option<&'v Value>, Option<&'v Value>)> {
    let key = |v: &Value| format!("{v:?}");
    let bk: Vec<String> = bl.iter().map(key).collect();
    let ak: Vec<String> = al.iter().map(key).collect();
    let mut out = Vec::new();
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, &bk, &ak) {
        match op {
            similar::DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => {
                for i in 0..len {
                    out.push((
                        Act::NoOp,
                        Some(&bl[old_index + i]),
                        Some(&al[new_index + i]),
                    ));
                }
            }
            similar::DiffOp::Delete {
                old_index, old_len, ..
            } => {
                for x in &bl[old_index..old_index + old_len] {
                    out.push((Act::Delete, Some(x), None));
                }
            }
            similar::DiffOp::Insert {
                new_index, new_len, ..
            } => {
                for y in &al[new_index..new_index + new_len] {
                    out.push((Act::Create, None, Some(y)));
                }
            }
            similar::DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                let olds = &bl[old_index..old_index + old_len];
                let news = &al[new_index..new_index + new_len];
                let all_maps = olds.iter().chain(news).all(|v| kind(v) == Kind::Map);
                if all_maps {
                    for i in 0..old_len.max(new_len) {
                        let (x, y) = (olds.get(i), news.get(i));
                        out.push((act_of(x, y), x, y));
                    }
                } else {
                    out.extend(olds.iter().map(|x| (Act::Delete, Some(x), None)));
                    out.extend(news.iter().map(|y| (Act::Create, None, Some(y))));
                }
            }
        }
    }
    out
}

/// Terraform always shows these attributes of a changed object, even unchanged.
fn important(name: &str) -> bool {
    matches!(name, "id" | "name" | "tags")
}

/// Nested blocks are attributes holding non-empty lists of (non-sensitive) maps.
fn is_block_list(v: Option<&Value>) -> bool {
    match v {
        Some(Value::List(xs) | Value::Set(xs)) => {
            !xs.is_empty() && xs.iter().all(|x| matches!(x, Value::Map(_)))
        }
        _ => false,
    }
}

/// The body of a resource or of a nested block, at `indent`: attributes
/// aligned on `=` (null ones left out before measuring), unchanged ones
/// counted, then nested blocks.
fn render_body(
    out: &mut String,
    st: Style,
    b: Option<&Value>,
    a: Option<&Value>,
    act: Act,
    indent: usize,
    replace_keys: &[&str],
) {
    let empty = std::collections::BTreeMap::new();
    let bm = b.and_then(Value::as_map).unwrap_or(&empty);
    let am = a.and_then(Value::as_map).unwrap_or(&empty);
    let mut keys: Vec<&String> = bm.keys().chain(am.keys()).collect();
    keys.sort();
    keys.dedup();
    let (blocks, attrs): (Vec<&String>, Vec<&String>) = keys.into_iter().partition(|k| {
        let (x, y) = sides(act, bm.get(*k), am.get(*k));
        is_block_list(x) || is_block_list(y)
    });
    let attrs: Vec<&String> = attrs
        .into_iter()
        .filter(|k| {
            let (x, y) = sides(act, bm.get(*k), am.get(*k));
            present(x).is_some() || present(y).is_some()
        })
        .collect();
    let width = attrs
        .iter()
        .map(|k| attr_name(k).chars().count())
        .max()
        .unwrap_or(0);
    let o = Opts {
        st,
        show_unchanged: false,
        no_null_suffix: false,
        json: false,
    };
    let mut hidden = 0;
    for k in &attrs {
        let (x, y) = sides(act, bm.get(*k), am.get(*k));
        let eact = if act == Act::NoOp {
            Act::NoOp
        } else {
            act_of(x, y)
        };
        let mut ko = o;
        if eact == Act::NoOp {
            if important(k) && act == Act::Update {
                ko.show_unchanged = true;
            } else {
                hidden += 1;
                continue;
            }
        }
        let name = attr_name(k);
        let pad = width.saturating_sub(name.chars().count());
        let mut value = rhs(x, y, eact, indent + 1, ko);
        if replace_keys.contains(&k.as_str()) {
            let note = st.red("# forces replacement");
            value = match value.split_once('\n') {
                Some((first, rest)) => format!("{first} {note}\n{rest}"),
                None => format!("{value} {note}"),
            };
        }
        let _ = writeln!(
            out,
            "{}{} {name}{} = {value}",
            ind(indent + 1),
            sym(st, eact),
            " ".repeat(pad)
        );
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "{}{} {}",
            ind(indent + 1),
            sym(st, Act::NoOp),
            unchanged_note(st, hidden, "attribute")
        );
    }
    let mut hidden_blocks = 0;
    for k in blocks {
        let (x, y) = sides(act, bm.get(k), am.get(k));
        let mut group = String::new();
        render_block_group(&mut group, st, k, x, y, act, indent + 1, &mut hidden_blocks);
        if !group.is_empty() {
            if !attrs.is_empty() {
                out.push('\n');
            }
            out.push_str(&group);
        }
    }
    if hidden_blocks > 0 {
        let _ = writeln!(
            out,
            "\n{}{} {}",
            ind(indent + 1),
            sym(st, Act::NoOp),
            unchanged_note(st, hidden_blocks, "block")
        );
    }
}

/// The blocks named `name`: each one `+`, `-` or `~ name { … }`; a block list
/// that becomes unknown shows its old blocks removed and
/// `+ name (known after apply)`.
#[allow(clippy::too_many_arguments)]
fn render_block_group(
    out: &mut String,
    st: Style,
    name: &str,
    b: Option<&Value>,
    a: Option<&Value>,
    act: Act,
    indent: usize,
    hidden: &mut usize,
) {
    let bl = b.and_then(Value::as_list).unwrap_or(&[]);
    let al = a.and_then(Value::as_list).unwrap_or(&[]);
    let after_unknown = a.is_some_and(Value::is_unknown);
    let n = if after_unknown {
        bl.len()
    } else {
        bl.len().max(al.len())
    };
    for i in 0..n {
        let x = bl.get(i);
        let y = if after_unknown { None } else { al.get(i) };
        let bact = match act {
            Act::NoOp => Act::NoOp,
            _ => act_of(x, y),
        };
        if bact == Act::NoOp {
            *hidden += 1;
            continue;
        }
        let _ = writeln!(
            out,
            "{}{} {} {{",
            ind(indent),
            sym(st, bact),
            attr_name(name)
        );
        render_body(out, st, x, y, bact, indent, &[]);
        let _ = writeln!(out, "{}{} }}", ind(indent), sym(st, Act::NoOp));
    }
    if after_unknown {
        let _ = writeln!(
            out,
            "{}{} {} (known after apply)",
            ind(indent),
            sym(st, Act::Create),
            attr_name(name)
        );
    }
}

/// The body of one change, by its action.
fn render_object(out: &mut String, st: Style, c: &ResourceChange) {
    let act = match c.action {
        Action::Create | Action::Read => Act::Create,
        Action::Delete | Action::Forget => Act::Delete,
        Action::NoOp => Act::NoOp,
        Action::Update | Action::DeleteThenCreate | Action::CreateThenDelete => Act::Update,
    };
    let replace_keys: Vec<&str> = c
        .replace_paths
        .iter()
        .filter_map(|p| match p.first() {
            Some(terrace_core::PathStep::Key(k)) => Some(k.as_str()),
            _ => None,
        })
        .collect();
    render_body(
        out,
        st,
        c.before.as_ref(),
        c.after.as_ref(),
        act,
        0,
        &replace_keys,
    );
}

/// One resource change, Terraform style.
pub fn render_change(out: &mut String, st: Style, c: &ResourceChange) {
    let _ = writeln!(
        out,
        "  {} {} {}",
        st.bold("#"),
        st.bold(&c.addr.to_string()),
        verb(c)
    );
    let header_kind = match c.addr.mode {
        terrace_core::ResourceMode::Managed => "resource",
        terrace_core::ResourceMode::Data => "data",
    };
    let _ = writeln!(
        out,
        "{} {header_kind} \"{}\" \"{}\" {{",
        header_sym(st, c.action),
        c.addr.type_name,
        c.addr.name
    );
    render_object(out, st, c);
    let _ = writeln!(out, "    }}\n");
}

fn render_drift(out: &mut String, st: Style, d: &ResourceDrift) {
    match &d.after {
        None => {
            let _ = writeln!(
                out,
                "  {} {} has been deleted",
                st.bold("#"),
                st.bold(&d.addr.to_string())
            );
            let _ = writeln!(
                out,
                "  {} resource \"{}\" \"{}\" {{ }}\n",
                st.red("-"),
                d.addr.type_name,
                d.addr.name
            );
        }
        Some(after) => {
            let _ = writeln!(
                out,
                "  {} {} has changed",
                st.bold("#"),
                st.bold(&d.addr.to_string())
            );
            let _ = writeln!(
                out,
                "  {} resource \"{}\" \"{}\" {{",
                st.yellow("~"),
                d.addr.type_name,
                d.addr.name
            );
            let c = ResourceChange {
                addr: d.addr.clone(),
                provider: d.provider.clone(),
                action: Action::Update,
                before: Some(d.before.clone()),
                after: Some(after.clone()),
                replace_paths: vec![],
                reason: None,
                dependencies: vec![],
                import_id: None,
                moved_from: None,
            };
            render_object(out, st, &c);
            let _ = writeln!(out, "    }}\n");
        }
    }
}

/// The whole human plan.
pub fn render_plan(plan: &Plan, st: Style) -> String {
    let mut out = String::new();
    for w in &plan.warnings {
        let _ = writeln!(out, "{} {w}\n", st.yellow("Warning:"));
    }
    if !plan.drift.is_empty() {
        let _ = writeln!(
            out,
            "{}\n",
            st.bold("Objects have changed outside of terrace")
        );
        let _ = writeln!(
            out,
            "terrace detected the following changes made outside of terrace since the last apply:\n"
        );
        for d in &plan.drift {
            render_drift(&mut out, st, d);
        }
    }
    if plan.mode == PlanMode::RefreshOnly {
        if plan.drift.is_empty() {
            let _ = writeln!(
                out,
                "{} Your infrastructure still matches the state.",
                st.green("No changes.")
            );
        } else {
            let _ = writeln!(
                out,
                "This is a refresh-only plan: applying it records the {} change(s) above in state, without changing any real infrastructure.",
                plan.drift.len()
            );
        }
        return out;
    }
    if !plan.has_changes() {
        let _ = writeln!(
            out,
            "{} Your infrastructure matches the configuration.\n\nterrace has compared your real infrastructure against your configuration and found no differences, so no changes are needed.",
            st.green(&st.bold("No changes."))
        );
        return out;
    }
    let _ = writeln!(out, "terrace will perform the following actions:\n");
    for c in plan.effective_changes() {
        render_change(&mut out, st, c);
    }
    let (add, change, destroy) = plan.counts();
    let imports = plan.imports();
    let import_part = if imports > 0 {
        format!("{imports} to import, ")
    } else {
        String::new()
    };
    let forgets = plan.forgets();
    let forget_part = if forgets > 0 {
        format!(", {forgets} to forget")
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{} {import_part}{add} to add, {change} to change, {destroy} to destroy{forget_part}.",
        st.bold("Plan:")
    );
    let outs: Vec<_> = plan
        .outputs
        .iter()
        .filter(|(_, o)| o.action != Action::NoOp)
        .collect();
    if !outs.is_empty() {
        let _ = writeln!(out, "\nChanges to Outputs:");
        let width = outs
            .iter()
            .map(|(name, _)| attr_name(name).chars().count())
            .max()
            .unwrap_or(0);
        let o = Opts {
            st,
            show_unchanged: false,
            no_null_suffix: false,
            json: false,
        };
        for (name, oc) in outs {
            let act = match oc.action {
                Action::Create => Act::Create,
                Action::Delete => Act::Delete,
                _ => Act::Update,
            };
            let hide = |v: &Option<Value>| -> Option<Value> {
                v.as_ref().map(|v| {
                    if oc.sensitive {
                        v.clone().mark_sensitive()
                    } else {
                        v.clone()
                    }
                })
            };
            let (b, a) = (hide(&oc.before), hide(&oc.after));
            let (b, a) = sides(act, b.as_ref(), a.as_ref());
            let name = attr_name(name);
            let pad = width.saturating_sub(name.chars().count());
            let _ = writeln!(
                out,
                "{} {name}{} = {}",
                sym(st, act),
                " ".repeat(pad),
                rhs(b, a, act, 0, o)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use terrace_core::{PathStep, ResourceAddr};
    use terrace_engine::model::OutputChange;

    fn change(
        addr: &str,
        action: Action,
        before: Option<Value>,
        after: Option<Value>,
    ) -> ResourceChange {
        ResourceChange {
            addr: addr.parse::<ResourceAddr>().unwrap(),
            provider: "aws".into(),
            action,
            before,
            after,
            replace_paths: vec![],
            reason: None,
            dependencies: vec![],
            import_id: None,
            moved_from: None,
        }
    }

    fn plan(changes: Vec<ResourceChange>) -> Plan {
        let mut outputs = BTreeMap::new();
        outputs.insert(
            "endpoint".to_string(),
            OutputChange {
                action: Action::Create,
                before: None,
                after: Some(Value::Unknown),
                sensitive: false,
            },
        );
        outputs.insert(
            "token".to_string(),
            OutputChange {
                action: Action::Create,
                before: None,
                after: Some(Value::from("hunter2").mark_sensitive()),
                sensitive: true,
            },
        );
        Plan {
            environment: "dev".into(),
            mode: PlanMode::Normal,
            prior_lineage: None,
            prior_serial: None,
            config_hash: String::new(),
            changes,
            drift: vec![],
            outputs,
            variables: BTreeMap::new(),
            refreshed: BTreeMap::new(),
            targets: vec![],
            warnings: vec![],
            configuration: None,
        }
    }

    /// Every action, a sensitive value, unknowns, a multi-line line diff and a
    /// forced replacement, rendered without colour.
    #[test]
    fn human_plan_snapshot() {
        let vpc_after = Value::map([
            ("cidr_block", Value::from("10.0.0.0/16")),
            ("id", Value::Unknown),
            ("tags", Value::map([("Name", Value::from("dev"))])),
        ]);
        let inst_before = Value::map([
            ("id", Value::from("i-1")),
            ("instance_type", Value::from("t3.micro")),
            ("user_data", Value::from("#!/bin/sh\necho one\necho two\n")),
            ("password", Value::from("old").mark_sensitive()),
        ]);
        let inst_after = Value::map([
            ("id", Value::from("i-1")),
            ("instance_type", Value::from("t3.small")),
            ("user_data", Value::from("#!/bin/sh\necho one\necho 2\n")),
            ("password", Value::from("new").mark_sensitive()),
        ]);
        let mut replaced = change(
            "aws_subnet.a[0]",
            Action::DeleteThenCreate,
            Some(Value::map([
                ("cidr_block", Value::from("10.0.1.0/24")),
                ("id", Value::from("subnet-1")),
            ])),
            Some(Value::map([
                ("cidr_block", Value::from("10.0.2.0/24")),
                ("id", Value::Unknown),
            ])),
        );
        replaced.replace_paths = vec![vec![PathStep::Key("cidr_block".into())]];
        let mut orphan = change(
            "aws_s3_bucket.old",
            Action::Delete,
            Some(Value::map([("bucket", Value::from("old"))])),
            None,
        );
        orphan.reason = Some("delete_because_no_resource_config".into());
        let p = plan(vec![
            change("aws_vpc.main", Action::Create, None, Some(vpc_after)),
            change(
                "aws_instance.runner",
                Action::Update,
                Some(inst_before),
                Some(inst_after),
            ),
            replaced,
            orphan,
            change("aws_ecr_repository.same", Action::NoOp, None, None),
        ]);
        let text = render_plan(&p, Style { on: false });
        assert!(
            !text.contains("hunter2") && !text.contains("\"new\""),
            "secrets leaked:\n{text}"
        );
        insta::assert_snapshot!(text);
    }

    fn text(p: &Plan) -> String {
        render_plan(p, Style { on: false })
    }

    fn only(c: ResourceChange) -> Plan {
        let mut p = plan(vec![c]);
        p.outputs.clear();
        p
    }

    /// Terraform measures the padding after dropping null attributes, aligns
    /// `tags = {` with its siblings and quotes map keys
    /// (developer.hashicorp.com/terraform/cli/commands/plan; Terraform's
    /// human plan renderer, map keys are always printed quoted).
    #[test]
    fn create_aligns_without_nulls_and_quotes_map_keys() {
        let after = Value::map([
            ("max_unavailable", Value::from(1_i64)),
            ("max_unavailable_percentage", Value::Null),
            ("name", Value::from("pool")),
            (
                "tags",
                Value::map([
                    ("Name", Value::from("dev")),
                    ("kubernetes.io/role/elb", Value::from("1")),
                ]),
            ),
        ]);
        let t = text(&only(change(
            "aws_eks_node_group.pool",
            Action::Create,
            None,
            Some(after),
        )));
        assert!(t.contains("      + max_unavailable = 1\n"), "{t}");
        assert!(!t.contains("max_unavailable_percentage"), "{t}");
        assert!(t.contains("      + tags            = {\n"), "{t}");
        assert!(
            t.contains("          + \"Name\"                   = \"dev\"\n"),
            "{t}"
        );
        insta::assert_snapshot!(t);
    }

    /// `-/+` ends in the same column as `+`, `~` and `-` (Terraform draws every
    /// action symbol three columns wide).
    #[test]
    fn replace_symbol_lines_up_with_the_others() {
        let mut r = change(
            "aws_subnet.a",
            Action::DeleteThenCreate,
            Some(Value::map([("cidr_block", Value::from("10.0.1.0/24"))])),
            Some(Value::map([("cidr_block", Value::from("10.0.2.0/24"))])),
        );
        r.replace_paths = vec![vec![PathStep::Key("cidr_block".into())]];
        let t = text(&only(r));
        assert!(t.contains("\n-/+ resource \"aws_subnet\" \"a\" {\n"), "{t}");
        assert!(
            t.contains(
                "      ~ cidr_block = \"10.0.1.0/24\" -> \"10.0.2.0/24\" # forces replacement\n"
            ),
            "{t}"
        );
    }

    /// Output names are aligned like attributes.
    #[test]
    fn outputs_are_aligned() {
        let t = text(&plan(vec![change(
            "aws_vpc.main",
            Action::Create,
            None,
            Some(Value::map([("id", Value::Unknown)])),
        )]));
        assert!(t.contains("  + endpoint = (known after apply)\n"), "{t}");
        assert!(t.contains("  + token    = (sensitive value)\n"), "{t}");
    }

    /// A JSON policy document is shown as `jsonencode(...)` of its structure,
    /// and an update shows only what changed inside it.
    #[test]
    fn json_strings_render_as_jsonencode() {
        let doc = |action: &str| {
            Value::from(format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Principal":{{"Service":"ec2.amazonaws.com"}}}}]}}"#
            ))
        };
        let create = text(&only(change(
            "aws_iam_role.node",
            Action::Create,
            None,
            Some(Value::map([
                ("assume_role_policy", doc("sts:AssumeRole")),
                ("name", Value::from("node")),
            ])),
        )));
        assert!(
            create.contains("      + assume_role_policy = jsonencode(\n"),
            "{create}"
        );
        assert!(
            !create.contains("\\\""),
            "escaped JSON left in the plan:\n{create}"
        );
        insta::assert_snapshot!("json_create", create);
        let update = text(&only(change(
            "aws_iam_role.node",
            Action::Update,
            Some(Value::map([
                ("assume_role_policy", doc("sts:AssumeRole")),
                ("name", Value::from("node")),
            ])),
            Some(Value::map([
                ("assume_role_policy", doc("sts:TagSession")),
                ("name", Value::from("node")),
            ])),
        )));
        assert!(
            update.contains("~ Action    = \"sts:AssumeRole\" -> \"sts:TagSession\""),
            "{update}"
        );
        insta::assert_snapshot!("json_update", update);
    }

    /// A destroy plan lists attributes the way a create plan does: maps and
    /// lists over several lines, closed with `-> null`.
    #[test]
    fn destroy_lists_attributes_like_create() {
        let before = Value::map([
            (
                "cidr_blocks",
                Value::List(vec![Value::from("10.0.0.0/16"), Value::from("10.1.0.0/16")]),
            ),
            ("id", Value::from("sg-1")),
            ("tags", Value::map([("Name", Value::from("dev"))])),
        ]);
        let t = text(&only(change(
            "aws_security_group.web",
            Action::Delete,
            Some(before),
            None,
        )));
        assert!(!t.contains("{Name"), "one-line map literal:\n{t}");
        assert!(
            t.contains(
                "      - tags        = {\n          - \"Name\" = \"dev\"\n        } -> null\n"
            ),
            "{t}"
        );
        assert!(
            t.contains("      - cidr_blocks = [\n          - \"10.0.0.0/16\",\n"),
            "{t}"
        );
        insta::assert_snapshot!(t);
    }

    /// `--replace` of a resource whose computed nested block becomes unknown:
    /// the old block is listed attribute by attribute, the new one is
    /// `(known after apply)` — not `- block { {k = v} }`.
    #[test]
    fn replaced_computed_block_is_rendered_as_blocks() {
        let before = Value::map([
            (
                "encryption_configuration",
                Value::List(vec![Value::map([
                    ("encryption_type", Value::from("AES256")),
                    ("kms_key", Value::from("")),
                ])]),
            ),
            ("id", Value::from("web")),
            ("name", Value::from("web")),
        ]);
        let after = Value::map([
            ("encryption_configuration", Value::Unknown),
            ("id", Value::Unknown),
            ("name", Value::from("web")),
        ]);
        let mut c = change(
            "aws_ecr_repository.web",
            Action::DeleteThenCreate,
            Some(before),
            Some(after),
        );
        c.reason = Some("replace_by_request".into());
        let t = text(&only(c));
        assert!(!t.contains("{ {"), "{t}");
        assert!(t.contains("      - encryption_configuration {\n          - encryption_type = \"AES256\" -> null\n"), "{t}");
        assert!(
            t.contains("      + encryption_configuration (known after apply)\n"),
            "{t}"
        );
        insta::assert_snapshot!(t);
    }

    /// The "changed outside of terrace" section: a tag added outside shows in
    /// `tags` and `tags_all`; a map that differs only by a null entry is not a
    /// change (it printed an empty `~ tags = { }`).
    #[test]
    fn drift_shows_added_tags_and_no_empty_maps() {
        let before = Value::map([
            ("id", Value::from("vpc-1")),
            (
                "tags",
                Value::map([("Name", Value::from("dev")), ("Owner", Value::Null)]),
            ),
            ("tags_all", Value::map([("Name", Value::from("dev"))])),
        ]);
        let after = Value::map([
            ("id", Value::from("vpc-1")),
            ("tags", Value::map([("Name", Value::from("dev"))])),
            (
                "tags_all",
                Value::map([
                    ("Name", Value::from("dev")),
                    ("CostCenter", Value::from("42")),
                ]),
            ),
        ]);
        let mut p = plan(vec![]);
        p.outputs.clear();
        p.drift = vec![ResourceDrift {
            addr: "aws_vpc.main".parse().unwrap(),
            provider: "aws".into(),
            before,
            after: Some(after),
        }];
        let t = text(&p);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            !lines
                .windows(2)
                .any(|w| w[0].ends_with("= {") && w[1].trim() == "}"),
            "empty map diff:\n{t}"
        );
        assert!(t.contains("          + \"CostCenter\" = \"42\"\n"), "{t}");
        insta::assert_snapshot!(t);
    }

    #[test]
    fn no_changes_says_so() {
        let mut p = plan(vec![]);
        p.outputs.clear();
        assert!(render_plan(&p, Style { on: false }).starts_with("No changes."));
    }
}
