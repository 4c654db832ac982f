//! `plan --generate-config-out=FILE`: for each `import` block whose `to`
//! address has no resource block, read the object and write a resource
//! block for it (its configurable arguments only), as Terraform does; the
//! plan that follows then loads the new file like any other.

use super::*;
use terrace_core::ResourceMode;
use terrace_engine::values::ValueTable;
use terrace_provider::Schema;

/// Write FILE (relative paths are taken in the environment's folder, the
/// root module, where the plan loads it). Refuses an existing FILE.
pub(crate) async fn generate_config(
    engine: &Engine,
    t: &EnvTarget,
    load: &LoadOptions,
    out: &std::path::Path,
) -> Result<()> {
    let path = if out.is_absolute() {
        out.to_path_buf()
    } else {
        t.dir.join(out)
    };
    if path.exists() {
        bail!(
            "--generate-config-out: {} already exists; terrace writes generated configuration only to a new file. Name another file, or move this one away",
            path.display()
        );
    }
    let env = load_env(engine, &t.name, &t.dir, load)?;
    let missing = terrace_engine::plan::missing_import_targets(&env);
    if missing.is_empty() {
        eprintln!(
            "Every import block has a resource block: no configuration to generate, {} not written.",
            path.display()
        );
        return Ok(());
    }
    let table = ValueTable::new();
    let extra: Vec<String> = missing.iter().map(|i| provider_of(&i.to)).collect();
    let providers =
        terrace_engine::context::configure_providers(engine, &env, &table, &extra).await?;
    let mut text = String::from(
        "# __generated__ by terrace\n# Please review these resources and move them into your main configuration files.\n",
    );
    for imp in &missing {
        let to = imp.to.to_string();
        let id = env
            .evaluator
            .import_id(imp, &table)
            .map_err(|d| EngineError::config(d, env.sources.clone()))?;
        let Some(id) = id.as_str().map(str::to_string) else {
            bail!(
                "{}: the id of the import into {to} must be a known string to generate its configuration",
                imp.range
            );
        };
        let pname = provider_of(&imp.to);
        let provider = providers.get(&pname).ok_or_else(|| {
            anyhow!(
                "{}: {to} needs the {pname} provider, which terrace does not include",
                imp.range
            )
        })?;
        let Some(schema) = engine.type_schema(ResourceMode::Managed, &pname, &imp.to.type_name)
        else {
            bail!(
                "{}: the {pname} provider has no resource type {}",
                imp.range,
                imp.to.type_name
            );
        };
        let obj = provider
            .import(&imp.to.type_name, &id)
            .await
            .map_err(|e| anyhow!("{}: reading {to} (ID {id:?}) to generate its configuration: {e}", imp.range))?
            .ok_or_else(|| {
                anyhow!(
                    "{}: cannot generate configuration for {to}: the provider found no object with ID {id:?}. Check the import block's id",
                    imp.range
                )
            })?;
        let obj = engine.conform(ResourceMode::Managed, &pname, &imp.to.type_name, obj);
        text.push_str(&format!(
            "\n# __generated__ by terrace from {}\n",
            quote(&id)
        ));
        text.push_str(&resource_block(&imp.to, schema, &obj));
    }
    let text = terrace_lang::fmt::format_source(&text);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    eprintln!(
        "Wrote configuration for {} imported resource(s) to {}: review it, then move it into your configuration.",
        missing.len(),
        path.display()
    );
    Ok(())
}

fn provider_of(addr: &ResourceAddr) -> String {
    addr.type_name
        .split('_')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A `resource` block with the object's configurable arguments: computed-only
/// attributes and nulls are left out; a sensitive value is written as
/// `null # sensitive` for the user to fill in, as Terraform does.
pub(crate) fn resource_block(addr: &ResourceAddr, schema: &Schema, obj: &Value) -> String {
    format!(
        "resource {} {} {{\n{}}}\n",
        quote(&addr.type_name),
        quote(&addr.name),
        body(schema, obj, 1)
    )
}

fn body(schema: &Schema, obj: &Value, depth: usize) -> String {
    let pad = "  ".repeat(depth);
    let mut out = String::new();
    let m = obj.as_map().cloned().unwrap_or_default();
    for (name, attr) in &schema.attributes {
        if !attr.is_configurable() || name == "tags_all" {
            continue;
        }
        let Some(v) = m.get(name) else { continue };
        if v.unmarked().is_null() {
            continue;
        }
        if attr.sensitive || v.contains_sensitive() {
            out.push_str(&format!("{pad}{name} = null # sensitive\n"));
            continue;
        }
        out.push_str(&format!("{pad}{name} = {}\n", literal(v, depth)));
    }
    for (name, bt) in &schema.blocks {
        let items = match m.get(name).map(Value::unmarked) {
            Some(Value::List(xs) | Value::Set(xs)) => xs.clone(),
            Some(x @ Value::Map(_)) => vec![x.clone()],
            _ => continue,
        };
        for item in items {
            out.push_str(&format!(
                "{pad}{name} {{\n{}{pad}}}\n",
                body(&bt.schema, &item, depth + 1)
            ));
        }
    }
    out
}

/// An HCL literal for a value.
fn literal(v: &Value, depth: usize) -> String {
    let pad = "  ".repeat(depth + 1);
    let end = "  ".repeat(depth);
    match v.unmarked() {
        Value::Null | Value::Unknown | Value::Sensitive(_) => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::List(xs) | Value::Set(xs) => format!(
            "[{}]",
            xs.iter()
                .map(|x| literal(x, depth))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Map(m) if m.is_empty() => "{}".into(),
        Value::Map(m) => {
            let mut s = "{\n".to_string();
            for (k, x) in m {
                let key = if is_identifier(k) {
                    k.clone()
                } else {
                    quote(k)
                };
                s.push_str(&format!("{pad}{key} = {}\n", literal(x, depth + 1)));
            }
            s.push_str(&format!("{end}}}"));
            s
        }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A quoted HCL string (`${` and `%{` escaped, so nothing is interpolated).
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use terrace_provider::{AttrType, Attribute};

    #[test]
    fn a_resource_block_holds_configurable_arguments_only() {
        let schema = Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr("name", Attribute::required(AttrType::String))
            .attr("note", Attribute::optional(AttrType::String))
            .attr(
                "password",
                Attribute::optional(AttrType::String).sensitive(),
            )
            .attr(
                "tags",
                Attribute::optional(AttrType::map_of(AttrType::String)),
            );
        let obj = Value::map([
            ("id", Value::string("x-1")),
            ("name", Value::string("a ${b}")),
            ("note", Value::Null),
            ("password", Value::string("hunter2")),
            (
                "tags",
                Value::map([("Name", Value::string("n")), ("a:b", Value::string("c"))]),
            ),
        ]);
        let addr: ResourceAddr = "test_thing.a".parse().unwrap();
        let text = resource_block(&addr, &schema, &obj);
        assert_eq!(
            text,
            "resource \"test_thing\" \"a\" {\n  name = \"a $${b}\"\n  password = null # sensitive\n  tags = {\n    Name = \"n\"\n    \"a:b\" = \"c\"\n  }\n}\n"
        );
        assert!(!text.contains("x-1") && !text.contains("hunter2"));
    }
}
