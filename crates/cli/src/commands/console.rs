//! `console`: evaluate expressions against an environment's configuration
//! and state, as `terraform console` does. One expression a line on stdin
//! (a `> ` prompt when stdin is a terminal); values print in Terraform's
//! console notation.

use super::*;
use std::io::IsTerminal;
use terrace_engine::values::ValueTable;

pub(crate) async fn console(project: &Project, a: ConsoleArgs) -> Result<u8> {
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    let target = target(project, &engine, &a.env).await?;
    let env = load_env(&engine, &target.name, &target.dir, &load_options(&a.vars)?)?;
    // Resources and data sources as state holds them; what state does not
    // hold is unknown, "(known after apply)".
    let table = ValueTable::new();
    if let Some(state) = engine.store.read(&target.name).await? {
        for r in &state.resources {
            if let Ok(addr) = r.address.parse::<ResourceAddr>() {
                table.set(&addr, terrace_engine::values::state_value(r));
            }
        }
    }
    let interactive = std::io::stdin().is_terminal();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    let mut n = 0usize;
    loop {
        if interactive {
            print!("> ");
            out.flush()?;
        }
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            if interactive {
                println!();
            }
            return Ok(0);
        }
        n += 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "exit" {
            return Ok(0);
        }
        let mut sources = env.sources.clone();
        let file = sources.add(
            std::path::Path::new(&format!("<console-input:{n}>")),
            line.to_string(),
        );
        match env.evaluator.eval_console(&file, &table) {
            Ok(v) => println!("{}", console_value(&v, 0)),
            Err(diags) => {
                eprint!(
                    "{}",
                    terrace_lang::render_diagnostics(&diags, &sources, stderr_color())
                );
                // As Terraform: piped input stops at the first error (exit 1);
                // at the prompt the session goes on.
                if !interactive {
                    return Ok(EXIT_ERROR);
                }
            }
        }
    }
}

/// A value in Terraform's console notation: strings quoted (multi-line
/// ones as heredocs), lists `[…]`, sets `toset([…])`, maps `{ "k" = v }`,
/// one element a line indented by two spaces; `(sensitive value)` and
/// `(known after apply)` for what cannot be shown.
pub(crate) fn console_value(v: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent + 2);
    let end = " ".repeat(indent);
    match v {
        Value::Sensitive(_) => "(sensitive value)".into(),
        Value::Unknown => "(known after apply)".into(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote_string(s, indent),
        Value::List(xs) | Value::Set(xs) => {
            let (open, close) = if matches!(v, Value::Set(_)) {
                ("toset([", "])")
            } else {
                ("[", "]")
            };
            if xs.is_empty() {
                return format!("{open}{close}");
            }
            let mut s = format!("{open}\n");
            for x in xs {
                s.push_str(&format!("{pad}{},\n", console_value(x, indent + 2)));
            }
            s.push_str(&format!("{end}{close}"));
            s
        }
        Value::Map(m) => {
            if m.is_empty() {
                return "{}".into();
            }
            let mut s = "{\n".to_string();
            for (k, x) in m {
                s.push_str(&format!(
                    "{pad}{} = {}\n",
                    quote_string(k, indent + 2),
                    console_value(x, indent + 2)
                ));
            }
            s.push_str(&format!("{end}}}"));
            s
        }
    }
}

/// A string as an HCL literal: quoted and escaped, or a heredoc when it
/// spans lines (and ends with a newline), as Terraform prints them.
fn quote_string(s: &str, indent: usize) -> String {
    if s.contains('\n') && s.ends_with('\n') && !s.contains("\nEOT\n") {
        let _ = indent;
        return format!("<<EOT\n{s}EOT");
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
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

    #[test]
    fn values_print_in_terraform_console_notation() {
        let v = Value::map([
            ("name", Value::string("a \"b\" ${c}")),
            ("n", Value::Number(3.into())),
            (
                "list",
                Value::List(vec![Value::Bool(true), Value::Null, Value::Unknown]),
            ),
            ("secret", Value::string("x").mark_if(true)),
            ("empty", Value::Set(vec![])),
        ]);
        assert_eq!(
            console_value(&v, 0),
            "{\n  \"empty\" = toset([])\n  \"list\" = [\n    true,\n    null,\n    (known after apply),\n  ]\n  \"n\" = 3\n  \"name\" = \"a \\\"b\\\" $${c}\"\n  \"secret\" = (sensitive value)\n}"
        );
        assert_eq!(
            console_value(&Value::string("a\nb\n"), 0),
            "<<EOT\na\nb\nEOT"
        );
        assert_eq!(console_value(&Value::string("a\tb"), 0), "\"a\\tb\"");
    }
}
