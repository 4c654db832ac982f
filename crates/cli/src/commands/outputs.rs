//! `output`: root outputs as text, JSON, dotenv or GitHub Actions outputs.

use super::*;

pub(crate) fn json_of(v: &Value) -> serde_json::Value {
    v.to_json_lossy()
}

pub(crate) fn print_outputs_text(
    outs: &BTreeMap<String, (Value, bool)>,
    _name: Option<&str>,
) -> Result<()> {
    let w = outs.keys().map(String::len).max().unwrap_or(0);
    for (k, (v, sensitive)) in outs {
        if *sensitive {
            println!("{k:<w$} = <sensitive>");
        } else {
            println!("{k:<w$} = {}", v);
        }
    }
    Ok(())
}

pub(crate) fn dotenv_name(k: &str) -> String {
    k.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

pub(crate) fn flat(v: &Value) -> String {
    match v.unmarked() {
        Value::String(s) => s.to_string(),
        other => json_of(other).to_string(),
    }
}

pub(crate) async fn output(project: &Project, a: OutputArgs) -> Result<u8> {
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    let name = settings::require_env(&a.env)?;
    let outs = ops::outputs(&engine, &name).await?;
    let format = if a.json { OutputFormat::Json } else { a.format };
    if a.raw && a.name.is_none() {
        bail!(
            "output -raw needs the name of one output: `terrace output -e {name} -raw NAME` (use -json for all of them)"
        );
    }
    if let Some(one) = &a.name {
        let (v, _) = outs.get(one).ok_or_else(|| {
            anyhow!(
                "no output named {one:?} in '{name}'; outputs: {}",
                if outs.is_empty() {
                    "none".into()
                } else {
                    outs.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            )
        })?;
        // Named explicitly: print it, sensitive or not, as Terraform does.
        if a.raw {
            print!("{}", raw_output(one, v)?);
            std::io::stdout().flush()?;
            return Ok(0);
        }
        match format {
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&json_of(v))?),
            OutputFormat::Dotenv => println!("{}={}", dotenv_name(one), shell_quote(&flat(v))),
            OutputFormat::Github => append_github(&[(one.clone(), flat(v))])?,
            OutputFormat::Text => println!("{}", flat(v)),
        }
        return Ok(0);
    }
    match format {
        OutputFormat::Text => print_outputs_text(&outs, None)?,
        OutputFormat::Json => {
            let doc: serde_json::Map<String, serde_json::Value> = outs
                .iter()
                .map(|(k, (v, s))| {
                    (k.clone(), serde_json::json!({ "sensitive": s, "value": if *s { serde_json::Value::Null } else { json_of(v) } }))
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        OutputFormat::Dotenv => {
            for (k, (v, s)) in &outs {
                if !*s {
                    println!("{}={}", dotenv_name(k), shell_quote(&flat(v)));
                }
            }
        }
        OutputFormat::Github => {
            let pairs: Vec<(String, String)> = outs
                .iter()
                .filter(|(_, (_, s))| !*s)
                .map(|(k, (v, _))| (k.clone(), flat(v)))
                .collect();
            append_github(&pairs)?;
        }
    }
    Ok(0)
}

pub(crate) fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c))
        && !s.is_empty()
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

pub(crate) fn append_github(pairs: &[(String, String)]) -> Result<()> {
    let path = settings::env_var(vars::GITHUB_OUTPUT).ok_or_else(|| {
        anyhow!("--format github appends to the file named by GITHUB_OUTPUT, which is not set")
    })?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {path}"))?;
    for (k, v) in pairs {
        if v.contains('\n') {
            let delim = format!("terrace_{}", uuid::Uuid::new_v4().simple());
            writeln!(f, "{k}<<{delim}\n{v}\n{delim}")?;
        } else {
            writeln!(f, "{k}={v}")?;
        }
    }
    Ok(())
}

/// `output -raw NAME`: a string, number or bool as is (no quotes, no
/// newline); anything else is an error, as in Terraform.
pub(crate) fn raw_output(name: &str, v: &Value) -> Result<String> {
    match v.unmarked() {
        Value::String(s) => Ok(s.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => bail!(
            "unsupported value for raw output: -raw prints only strings, numbers and bools, but output {name:?} is {}. Use -json for values of complex types",
            if other.is_null() {
                "null".to_string()
            } else {
                format!("of type {}", other.type_name())
            }
        ),
    }
}
