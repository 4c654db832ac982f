//! Issue 14 §3: every argument of the Terraform schema is known. An
//! argument terrace does not implement yet is accepted when `null` (modules
//! pass null for what they leave unset) and refused, at its own line, when
//! set to anything else. The configurations are generated from the AWS
//! provider's schemas, so a type or argument added later is covered too.

use crate::support::Project;
use std::fmt::Write as _;
use terrace_provider::{AttrType, ProviderFactory, Schema};

/// The description `complete_schema` gives every unimplemented argument.
const UNIMPLEMENTED: &str = "not implemented by terrace yet";

fn placeholder(t: &AttrType) -> &'static str {
    match t {
        AttrType::String | AttrType::Any => "\"x\"",
        AttrType::Number => "1",
        AttrType::Bool => "false",
        AttrType::List(_) | AttrType::Set(_) => "[]",
        AttrType::Map(_) => "{}",
    }
}

/// Required attributes (placeholders) and required blocks, recursively:
/// what a block needs to pass validation.
fn required(out: &mut String, schema: &Schema, indent: usize) {
    let pad = " ".repeat(indent);
    for (name, a) in &schema.attributes {
        if a.mode == terrace_provider::AttrMode::Required {
            let _ = writeln!(out, "{pad}{name} = {}", placeholder(&a.ty));
        }
    }
    for (name, b) in &schema.blocks {
        for _ in 0..b.min_items {
            let _ = writeln!(out, "{pad}{name} {{");
            required(out, &b.schema, indent + 2);
            let _ = writeln!(out, "{pad}}}");
        }
    }
}

/// An HCL literal of a value terrace refuses.
fn literal(v: &terrace_core::Value) -> String {
    serde_json::to_string(&v.to_json_lossy())
        .unwrap()
        .replace(':', " = ")
}

#[test]
fn every_unimplemented_argument_is_accepted_as_null_and_refused_at_its_line() {
    let factory = terrace_aws::AwsProviderFactory::new();
    let schema = factory.schema();
    let listed = terrace_aws::unimplemented_arguments();

    // 1. null for every unimplemented argument (and `region`) of every type.
    let mut nulls = String::new();
    let mut from_schema = Vec::new();
    for (type_name, s) in &schema.resources {
        let _ = writeln!(nulls, "resource \"{type_name}\" \"nulls\" {{");
        required(&mut nulls, s, 2);
        for (name, a) in &s.attributes {
            if a.description == UNIMPLEMENTED {
                from_schema.push((type_name.clone(), name.clone()));
                if a.mode != terrace_provider::AttrMode::Computed {
                    let _ = writeln!(nulls, "  {name} = null");
                }
            }
        }
        assert!(
            s.attributes.contains_key("region"),
            "{type_name} lacks the v6 region argument"
        );
        let _ = writeln!(nulls, "  region = null");
        let _ = writeln!(nulls, "}}\n");
    }
    // The schema and the table of unimplemented arguments agree.
    let mut from_table: Vec<(String, String)> = listed
        .iter()
        .map(|a| (a.type_name.to_string(), a.name.to_string()))
        .filter(|(t, n)| {
            // Arguments the type has since implemented keep their schema.
            schema.resources[t].attributes[n].description == UNIMPLEMENTED
        })
        .collect();
    from_table.sort();
    from_schema.sort();
    assert_eq!(from_schema, from_table);
    assert!(
        from_schema.len() > 100,
        "only {} unimplemented arguments",
        from_schema.len()
    );

    let p = Project::new();
    p.write_env("nulls", &[("main.tf", &nulls)]);
    let r = p.run(&["validate", "-e", "nulls"]);
    assert_eq!(r.code, 0, "{}\n{nulls}", r.all());

    // 2. Each one set to a value: its own "does not implement" error, at
    //    the argument's line, from one plan (no cloud call is made: the
    //    configuration is refused before anything is read or created).
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let mut set = String::new();
    let mut expected = Vec::new();
    let mut line = 1;
    let mut push = |set: &mut String, text: String| {
        line += text.matches('\n').count();
        set.push_str(&text);
        line
    };
    for (i, a) in listed.iter().enumerate() {
        let Some(v) = &a.refused_value else { continue };
        let mut block = format!("resource \"{}\" \"set_{i}\" {{\n", a.type_name);
        required(&mut block, &schema.resources[a.type_name], 2);
        let at = push(&mut set, block);
        push(&mut set, format!("  {} = {}\n}}\n\n", a.name, literal(v)));
        expected.push((
            format!("{}.set_{i}", a.type_name),
            format!("`{}` of `{}`", a.name, a.type_name),
            at,
        ));
    }
    // The per-resource region: another region is refused too.
    let mut block = "resource \"aws_vpc\" \"set_region\" {\n".to_string();
    required(&mut block, &schema.resources["aws_vpc"], 2);
    let at = push(&mut set, block);
    push(&mut set, "  region = \"eu-west-1\"\n}\n".into());
    expected.push((
        "aws_vpc.set_region".into(),
        "`region` of `aws_vpc`".into(),
        at,
    ));

    // A `timeouts` value that is not a Go duration: refused at its line.
    let mut block = "\nresource \"aws_vpc\" \"bad_timeouts\" {\n".to_string();
    required(&mut block, &schema.resources["aws_vpc"], 2);
    block.push_str("  timeouts {\n");
    let timeout_at = push(&mut set, block);
    push(&mut set, "    create = \"5 minutes\"\n  }\n}\n".into());

    let p = Project::new().with_moto(moto);
    p.write_env("set", &[("main.tf", &set)]);
    let r = p.run(&["validate", "-e", "set"]);
    assert_eq!(r.code, 0, "validate is config only\n{}", r.all());
    let r = p.run(&["plan", "-e", "set"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let diags: Vec<&str> = r.stderr.split("Error: ").skip(1).collect();
    let lines: Vec<&str> = set.lines().collect();
    for (addr, what, at) in &expected {
        let d = diags
            .iter()
            .find(|d| d.contains(&format!("{addr}:")))
            .unwrap_or_else(|| panic!("no error for {addr}\n{}", r.stderr));
        assert!(
            d.contains(&format!("terrace does not implement {what} yet")),
            "{addr}: {d}"
        );
        assert!(
            d.contains(&format!("main.tf line {at},"))
                || d.contains(&format!("main.tf line {at}:")),
            "{addr}: expected line {at} ({:?})\n{d}",
            lines.get(at - 1)
        );
    }
    let d = diags
        .iter()
        .find(|d| d.contains("aws_vpc.bad_timeouts:"))
        .unwrap_or_else(|| panic!("no error for bad timeouts\n{}", r.stderr));
    assert!(d.contains("invalid duration \"5 minutes\""), "{d}");
    assert!(
        d.contains(&format!("main.tf line {timeout_at},"))
            || d.contains(&format!("main.tf line {timeout_at}:")),
        "expected line {timeout_at}\n{d}"
    );
    assert_eq!(diags.len(), expected.len() + 1, "{}", r.stderr);
}
