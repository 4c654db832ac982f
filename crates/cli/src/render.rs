//! The human plan: Terraform-like symbols, attribute-level diffs, nested
//! blocks, multi-line strings as line diffs (similar), "(known after apply)",
//! "(sensitive value)", and the summary line.

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
        Action::NoOp => sym.to_string(),
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

/// Render a scalar for the plan.
fn scalar(v: &Value) -> String {
    match v {
        Value::Sensitive(_) => "(sensitive value)".into(),
        Value::Unknown => "(known after apply)".into(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

fn is_multiline(v: &Value) -> bool {
    matches!(v, Value::String(s) if s.contains('\n'))
}

/// Render one attribute line (or block) of a change.
fn render_attr(
    out: &mut String,
    st: Style,
    indent: usize,
    name: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    width: usize,
) {
    let pad = " ".repeat(indent);
    let name_p = format!("{name:<width$}");
    match (before, after) {
        (None, Some(a)) | (Some(Value::Null), Some(a)) if !a.is_null() => {
            render_value_line(out, &pad, &st.green("+"), &name_p, a);
        }
        (Some(b), None) | (Some(b), Some(Value::Null)) if !b.is_null() => {
            let _ = writeln!(
                out,
                "{pad}{} {name_p} = {} {}",
                st.red("-"),
                scalar_or_short(b),
                st.dim("-> null")
            );
        }
        (Some(b), Some(a)) => {
            if equal_ignoring_marks(b, a) && !a.is_unknown() {
                return;
            }
            if let (Value::String(x), Value::String(y)) = (b, a)
                && (x.contains('\n') || y.contains('\n'))
            {
                let _ = writeln!(out, "{pad}{} {name_p} = <<-EOT", st.yellow("~"));
                let diff = similar::TextDiff::from_lines(x.as_str(), y.as_str());
                for change in diff.iter_all_changes() {
                    let line = change.value().trim_end_matches('\n');
                    match change.tag() {
                        similar::ChangeTag::Delete => {
                            let _ = writeln!(out, "{pad}    {} {line}", st.red("-"));
                        }
                        similar::ChangeTag::Insert => {
                            let _ = writeln!(out, "{pad}    {} {line}", st.green("+"));
                        }
                        similar::ChangeTag::Equal => {
                            let _ = writeln!(out, "{pad}      {line}");
                        }
                    }
                }
                let _ = writeln!(out, "{pad}  EOT");
                return;
            }
            match (b.unmarked(), a.unmarked()) {
                (Value::Map(bm), Value::Map(am)) if !b.is_sensitive() && !a.is_sensitive() => {
                    let _ = writeln!(out, "{pad}{} {name} = {{", st.yellow("~"));
                    let w = bm
                        .keys()
                        .chain(am.keys())
                        .map(|k| quoted_key(k).len())
                        .max()
                        .unwrap_or(0);
                    let mut keys: Vec<&String> = bm.keys().chain(am.keys()).collect();
                    keys.sort();
                    keys.dedup();
                    for k in keys {
                        render_attr(out, st, indent + 4, &quoted_key(k), bm.get(k), am.get(k), w);
                    }
                    let _ = writeln!(out, "{pad}  }}");
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "{pad}{} {name_p} = {} -> {}",
                        st.yellow("~"),
                        scalar_or_short(b),
                        scalar_or_short(a)
                    );
                }
            }
        }
        _ => {}
    }
}

fn quoted_key(k: &str) -> String {
    if k.chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        format!("\"{k}\"")
    }
}

fn scalar_or_short(v: &Value) -> String {
    match v.unmarked() {
        Value::List(xs) | Value::Set(xs) if !v.is_sensitive() && xs.is_empty() => "[]".into(),
        Value::Map(m) if !v.is_sensitive() && m.is_empty() => "{}".into(),
        _ => {
            if v.is_sensitive() {
                "(sensitive value)".into()
            } else {
                let s = v.redacted().to_string();
                s.replace("\"(sensitive value)\"", "(sensitive value)")
            }
        }
    }
}

fn render_value_line(out: &mut String, pad: &str, sym: &str, name: &str, v: &Value) {
    if is_multiline(v) {
        let Value::String(s) = v else { return };
        let _ = writeln!(out, "{pad}{sym} {name} = <<-EOT");
        for line in s.lines() {
            let _ = writeln!(out, "{pad}      {line}");
        }
        let _ = writeln!(out, "{pad}  EOT");
        return;
    }
    match v {
        Value::Map(m) if !m.is_empty() => {
            let _ = writeln!(out, "{pad}{sym} {} = {{", name.trim_end());
            let w = m.keys().map(|k| quoted_key(k).len()).max().unwrap_or(0);
            for (k, x) in m {
                if x.is_null() {
                    continue;
                }
                render_value_line(
                    out,
                    &format!("{pad}    "),
                    sym,
                    &format!("{:<w$}", quoted_key(k)),
                    x,
                );
            }
            let _ = writeln!(out, "{pad}  }}");
        }
        Value::List(xs) | Value::Set(xs)
            if !xs.is_empty() && xs.iter().any(|x| matches!(x, Value::Map(_))) =>
        {
            let _ = writeln!(out, "{pad}{sym} {} = [", name.trim_end());
            for x in xs {
                let _ = writeln!(out, "{pad}    {}", scalar_or_short(x));
            }
            let _ = writeln!(out, "{pad}  ]");
        }
        _ => {
            let _ = writeln!(
                out,
                "{pad}{sym} {name} = {}",
                scalar(v).replace("\"(sensitive value)\"", "(sensitive value)")
            );
        }
    }
}

/// Nested blocks are attributes holding lists of maps: render them as blocks.
fn render_object(out: &mut String, st: Style, c: &ResourceChange) {
    let before = c.before.clone().unwrap_or(Value::Null);
    let after = c.after.clone().unwrap_or(Value::Null);
    let bm = before.as_map().cloned().unwrap_or_default();
    let am = after.as_map().cloned().unwrap_or_default();
    let mut keys: Vec<&String> = bm.keys().chain(am.keys()).collect();
    keys.sort();
    keys.dedup();
    let width = keys
        .iter()
        .filter(|k| !is_block_list(am.get(**k)) && !is_block_list(bm.get(**k)))
        .map(|k| k.len())
        .max()
        .unwrap_or(0);
    let mut unchanged = 0;
    for k in &keys {
        let (b, a) = (bm.get(*k), am.get(*k));
        if c.action == Action::Delete {
            if let Some(b) = b
                && !b.is_null()
            {
                let _ = writeln!(
                    out,
                    "      {} {:<width$} = {} {}",
                    st.red("-"),
                    k,
                    scalar_or_short(b),
                    st.dim("-> null")
                );
            }
            continue;
        }
        if is_block_list(a) || is_block_list(b) {
            render_blocks(out, st, k, b, a, c.action);
            continue;
        }
        let before_for_diff = if c.action == Action::Create { None } else { b };
        if let (Some(b), Some(a)) = (before_for_diff, a)
            && equal_ignoring_marks(b, a)
            && !a.is_unknown()
        {
            unchanged += 1;
            continue;
        }
        let mut line = String::new();
        render_attr(&mut line, st, 6, k, before_for_diff, a, width);
        if c.replace_paths
            .iter()
            .any(|p| p.len() == 1 && matches!(&p[0], terrace_core::PathStep::Key(x) if x == *k))
            && let Some(first) = line.lines().next()
        {
            let rest: String = line.lines().skip(1).map(|l| format!("{l}\n")).collect();
            line = format!("{first} {}\n{rest}", st.red("# forces replacement"));
        }
        out.push_str(&line);
    }
    if unchanged > 0 && c.action != Action::Create {
        let _ = writeln!(
            out,
            "        {}",
            st.dim(&format!("# ({unchanged} unchanged attributes hidden)"))
        );
    }
}

fn is_block_list(v: Option<&Value>) -> bool {
    matches!(v.map(Value::unmarked), Some(Value::List(xs) | Value::Set(xs)) if !xs.is_empty() && xs.iter().all(|x| matches!(x.unmarked(), Value::Map(_))))
}

fn render_blocks(
    out: &mut String,
    st: Style,
    name: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    action: Action,
) {
    let empty = Vec::new();
    let b = before
        .and_then(Value::as_list)
        .map(<[Value]>::to_vec)
        .unwrap_or_else(|| empty.clone());
    let a = after
        .and_then(Value::as_list)
        .map(<[Value]>::to_vec)
        .unwrap_or(empty);
    if action == Action::Create {
        for item in &a {
            let _ = writeln!(out, "      {} {name} {{", st.green("+"));
            if let Some(m) = item.as_map() {
                let w = m.keys().map(String::len).max().unwrap_or(0);
                for (k, v) in m {
                    if !v.is_null() {
                        render_value_line(
                            out,
                            "          ",
                            &st.green("+"),
                            &format!("{k:<w$}"),
                            v,
                        );
                    }
                }
            }
            let _ = writeln!(out, "        }}");
        }
        return;
    }
    let n = b.len().max(a.len());
    for i in 0..n {
        match (b.get(i), a.get(i)) {
            (Some(x), Some(y)) if equal_ignoring_marks(x, y) => {}
            (Some(x), Some(y)) => {
                let _ = writeln!(out, "      {} {name} {{", st.yellow("~"));
                let xm = x.as_map().cloned().unwrap_or_default();
                let ym = y.as_map().cloned().unwrap_or_default();
                let mut keys: Vec<&String> = xm.keys().chain(ym.keys()).collect();
                keys.sort();
                keys.dedup();
                let w = keys.iter().map(|k| k.len()).max().unwrap_or(0);
                for k in keys {
                    render_attr(out, st, 10, k, xm.get(k), ym.get(k), w);
                }
                let _ = writeln!(out, "        }}");
            }
            (Some(x), None) => {
                let _ = writeln!(
                    out,
                    "      {} {name} {{ {} }}",
                    st.red("-"),
                    scalar_or_short(x)
                );
            }
            (None, Some(y)) => {
                let _ = writeln!(out, "      {} {name} {{", st.green("+"));
                if let Some(m) = y.as_map() {
                    let w = m.keys().map(String::len).max().unwrap_or(0);
                    for (k, v) in m {
                        if !v.is_null() {
                            render_value_line(
                                out,
                                "          ",
                                &st.green("+"),
                                &format!("{k:<w$}"),
                                v,
                            );
                        }
                    }
                }
                let _ = writeln!(out, "        }}");
            }
            (None, None) => {}
        }
    }
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
        "  {} {header_kind} \"{}\" \"{}\" {{",
        action_style(st, c.action),
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
    let _ = writeln!(
        out,
        "{} {import_part}{add} to add, {change} to change, {destroy} to destroy.",
        st.bold("Plan:")
    );
    let outs: Vec<_> = plan
        .outputs
        .iter()
        .filter(|(_, o)| o.action != Action::NoOp)
        .collect();
    if !outs.is_empty() {
        let _ = writeln!(out, "\nChanges to Outputs:");
        for (name, o) in outs {
            let shown = |v: &Option<Value>| -> String {
                match v {
                    _ if o.sensitive => "(sensitive value)".into(),
                    Some(v) => scalar_or_short(v),
                    None => "null".into(),
                }
            };
            let _ = match o.action {
                Action::Create => writeln!(out, "  {} {name} = {}", st.green("+"), shown(&o.after)),
                Action::Delete => writeln!(
                    out,
                    "  {} {name} = {} -> null",
                    st.red("-"),
                    shown(&o.before)
                ),
                _ => writeln!(
                    out,
                    "  {} {name} = {} -> {}",
                    st.yellow("~"),
                    shown(&o.before),
                    shown(&o.after)
                ),
            };
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

    #[test]
    fn no_changes_says_so() {
        let mut p = plan(vec![]);
        p.outputs.clear();
        assert!(render_plan(&p, Style { on: false }).starts_with("No changes."));
    }
}
