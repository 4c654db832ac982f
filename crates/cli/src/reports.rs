//! Reports and state commands: drift in text/JSON/JUnit/SARIF/Markdown
//! (with the policy results on the live objects), policy results in JUnit
//! and SARIF (`policy check`), drift history, `env list`, and `terrace
//! state …`.

use crate::args::DriftFormat;
use crate::output::Style;
use crate::settings;
use anyhow::Result;
use std::fmt::Write;
use std::path::Path;
use terrace_engine::Engine;
use terrace_engine::drift::{DriftCategory, DriftItem, DriftReport};
use terrace_engine::policy::{PolicyReport, PolicyStatus};
use terrace_lang::Project;

/// The Markdown report's limit (merge-request comments allow 65,536).
pub const MARKDOWN_LIMIT: usize = 65_000;

fn category_name(c: DriftCategory) -> &'static str {
    match c {
        DriftCategory::Changed => "changed",
        DriftCategory::Missing => "missing",
        DriftCategory::Unmanaged => "unmanaged",
    }
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

fn item_detail(i: &DriftItem) -> String {
    let mut s = String::new();
    match i.category {
        DriftCategory::Missing => {
            let _ = writeln!(
                s,
                "{} was deleted outside terrace (id {}).",
                i.address,
                i.id.as_deref().unwrap_or("?")
            );
        }
        DriftCategory::Unmanaged => {
            let _ = writeln!(
                s,
                "{} (id {}) carries this environment's ownership tag but no state knows it.",
                i.type_name,
                i.id.as_deref().unwrap_or("?")
            );
        }
        DriftCategory::Changed => {
            let _ = writeln!(s, "{} changed outside terrace:", i.address);
        }
    }
    for a in &i.attributes {
        let _ = writeln!(s, "  {}: {} -> {}", a.path, a.before, a.after);
    }
    s
}

fn remediation(c: DriftCategory, env: &str) -> String {
    match c {
        DriftCategory::Changed => format!(
            "Run `terrace apply -e {env}` to revert it, or `terrace apply -e {env} --refresh-only` to accept it."
        ),
        DriftCategory::Missing => format!(
            "Run `terrace apply -e {env}` to recreate it, or `terrace apply -e {env} --refresh-only` to forget it."
        ),
        DriftCategory::Unmanaged => "Delete it, or adopt it with an `import` block.".into(),
    }
}

/// Render drift reports in one format.
pub fn render_drift(
    reports: &[DriftReport],
    format: DriftFormat,
    root: &Path,
    st: Style,
) -> Result<String> {
    Ok(match format {
        DriftFormat::Text => drift_text(reports, st),
        DriftFormat::Json => {
            let doc = if reports.len() == 1 {
                serde_json::to_value(&reports[0])?
            } else {
                serde_json::json!({ "schema_version": 1, "environments": reports })
            };
            serde_json::to_string_pretty(&doc)? + "\n"
        }
        DriftFormat::Junit => drift_junit(reports),
        DriftFormat::Sarif => serde_json::to_string_pretty(&drift_sarif(reports, root))? + "\n",
        DriftFormat::Markdown => drift_markdown(reports),
    })
}

fn drift_text(reports: &[DriftReport], st: Style) -> String {
    let mut out = String::new();
    for r in reports {
        let c = &r.counts;
        let head = if r.has_drift() {
            st.yellow(&st.bold("Drift detected"))
        } else {
            st.green(&st.bold("In sync"))
        };
        let _ = writeln!(
            out,
            "{head} in '{}': {} changed, {} missing, {} unmanaged ({} in sync; {} pending config change(s)).",
            r.environment, c.changed, c.missing, c.unmanaged, c.in_sync, c.pending
        );
        for cat in [
            DriftCategory::Changed,
            DriftCategory::Missing,
            DriftCategory::Unmanaged,
        ] {
            let items: Vec<&DriftItem> = r.drift.iter().filter(|i| i.category == cat).collect();
            if items.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "\n{}:",
                st.bold(&format!("{} ({})", category_name(cat), items.len()))
            );
            for i in items {
                let sym = match cat {
                    DriftCategory::Changed => st.yellow("~"),
                    DriftCategory::Missing => st.red("-"),
                    DriftCategory::Unmanaged => st.cyan("?"),
                };
                let id =
                    i.id.as_deref()
                        .map(|x| format!(" ({x})"))
                        .unwrap_or_default();
                let _ = writeln!(out, "  {sym} {}{id}", i.address);
                for a in &i.attributes {
                    let _ = writeln!(out, "      {}: {} -> {}", a.path, a.before, a.after);
                }
            }
        }
        if !r.pending.is_empty() {
            let _ = writeln!(
                out,
                "\n{} (not drift; run `terrace plan -e {}`):",
                st.bold("pending config changes"),
                r.environment
            );
            for p in &r.pending {
                let _ = writeln!(out, "  {} ({})", p.address, p.actions.join(", "));
            }
        }
        if !r.ignored.is_empty() {
            let _ = writeln!(out, "\nignored by .terraceignore: {}", r.ignored.join(", "));
        }
        if let Some(p) = &r.policy_results {
            let line = format!("{} (on the live objects)", p.summary_line());
            let line = if p.denied() { st.red(&line) } else { line };
            let _ = writeln!(out, "\n{line}");
            for x in p.results.iter().filter(|x| x.status != PolicyStatus::Pass) {
                let sev = if x.blocks() { "denied" } else { "warning" };
                let _ = writeln!(out, "  {sev}: {}", x.line());
            }
        }
        let _ = writeln!(out);
    }
    out
}

/// The JUnit test cases of policy results: one per policy and resource; a
/// denial is a failure, a warning a `system-out` note, undecided a skip.
fn policy_testcases(report: &PolicyReport, out: &mut String) {
    for r in &report.results {
        let _ = writeln!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\">",
            xml_escape(&r.policy),
            xml_escape(&r.address),
            xml_escape(&r.source.filename),
            r.source.start.line
        );
        let msg = xml_escape(r.message.as_deref().unwrap_or_default());
        match r.status {
            PolicyStatus::Pass => {}
            PolicyStatus::Undecided => {
                out.push_str("      <skipped message=\"cannot be decided until apply\"/>\n")
            }
            _ if r.blocks() => {
                let _ = writeln!(
                    out,
                    "      <failure type=\"policy-deny\" message=\"{msg}\">{msg}</failure>"
                );
            }
            _ => {
                let _ = writeln!(out, "      <system-out>warning: {msg}</system-out>");
            }
        }
        out.push_str("    </testcase>\n");
    }
}

/// `policy check --format junit`: one test suite for the environment.
pub fn policy_junit(report: &PolicyReport) -> String {
    let s = report.summary();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"terrace policy\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
        report.results.len(),
        s.denied,
        s.undecided
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
        xml_escape(&report.environment),
        report.results.len(),
        s.denied,
        s.undecided
    );
    policy_testcases(report, &mut out);
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// SARIF rules (one per policy) and results (one per denial `error`,
/// warning `warning` or undecided result `note`, located at the policy).
fn policy_sarif_parts(
    report: &PolicyReport,
    root: &Path,
    rules: &mut Vec<serde_json::Value>,
    results: &mut Vec<serde_json::Value>,
) {
    for r in &report.results {
        if !rules.iter().any(|x| x["id"] == r.policy.as_str()) {
            rules.push(serde_json::json!({
                "id": r.policy,
                "name": r.policy,
                "shortDescription": { "text": format!("terrace policy \"{}\" ({})", r.policy, r.enforcement) },
            }));
        }
        let level = match r.status {
            PolicyStatus::Pass => continue,
            PolicyStatus::Undecided => "note",
            _ if r.blocks() => "error",
            _ => "warning",
        };
        let text = match r.status {
            PolicyStatus::Undecided => format!(
                "{}: cannot be decided until apply; checked again when applied",
                r.address
            ),
            _ => format!(
                "{}: {}",
                r.address,
                r.message.as_deref().unwrap_or_default()
            ),
        };
        results.push(serde_json::json!({
            "ruleId": r.policy,
            "level": level,
            "message": { "text": text },
            "properties": { "environment": report.environment, "address": r.address },
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": { "uri": artifact_uri(Path::new(r.source.filename.as_str()), root) },
                    "region": { "startLine": r.source.start.line.max(1), "startColumn": r.source.start.column.max(1) },
                },
                "logicalLocations": [{ "fullyQualifiedName": r.address, "kind": "resource" }],
            }],
        }));
    }
}

/// A SARIF 2.1.0 document of one tool run.
fn sarif_doc(
    name: &str,
    rules: Vec<serde_json::Value>,
    results: Vec<serde_json::Value>,
) -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": name,
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/terrace/terrace",
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

/// `policy check --format sarif`.
pub fn policy_sarif(report: &PolicyReport, root: &Path) -> serde_json::Value {
    let (mut rules, mut results) = (Vec::new(), Vec::new());
    policy_sarif_parts(report, root, &mut rules, &mut results);
    sarif_doc("terrace-policy", rules, results)
}

fn drift_junit(reports: &[DriftReport]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // `tests` counts the testcase elements: one per drifted resource, one
    // standing for all in-sync resources of an environment, and one per
    // policy result on the live objects (a denial is a failure).
    let policy = |r: &DriftReport| {
        r.policy_results.as_ref().map_or((0, 0, 0), |p| {
            let s = p.summary();
            (p.results.len(), s.denied, s.undecided)
        })
    };
    let cases = |r: &DriftReport| r.drift.len() + usize::from(r.counts.in_sync > 0) + policy(r).0;
    let fails = |r: &DriftReport| r.drift.len() + policy(r).1;
    let tests: usize = reports.iter().map(cases).sum();
    let failures: usize = reports.iter().map(fails).sum();
    let _ = writeln!(
        out,
        "<testsuites name=\"terrace drift\" tests=\"{tests}\" failures=\"{failures}\">"
    );
    for r in reports {
        let n = cases(r);
        let time = (r.finished_at - r.started_at).num_milliseconds() as f64 / 1000.0;
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{n}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{time:.3}\" timestamp=\"{}\">",
            xml_escape(&r.environment),
            fails(r),
            policy(r).2,
            r.started_at.format("%Y-%m-%dT%H:%M:%S")
        );
        for i in &r.drift {
            let _ = writeln!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\">",
                xml_escape(&r.environment),
                xml_escape(&i.address)
            );
            let _ = writeln!(
                out,
                "      <failure type=\"{}\" message=\"{} is {}\">{}</failure>",
                category_name(i.category),
                xml_escape(&i.address),
                category_name(i.category),
                xml_escape(&(item_detail(i) + &remediation(i.category, &r.environment)))
            );
            let _ = writeln!(out, "    </testcase>");
        }
        if r.counts.in_sync > 0 {
            let _ = writeln!(
                out,
                "    <testcase classname=\"{}\" name=\"{} resources in sync\"/>",
                xml_escape(&r.environment),
                r.counts.in_sync
            );
        }
        if let Some(p) = &r.policy_results {
            policy_testcases(p, &mut out);
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

/// A SARIF `artifactLocation.uri`: relative to the project root when the file
/// is under it, a `file://` URI otherwise; percent-encoded either way (SARIF
/// requires a valid URI reference, so a space must not appear as-is).
fn artifact_uri(file: &Path, root: &Path) -> String {
    let (path, absolute) = match file.strip_prefix(root) {
        Ok(rel) => (rel, false),
        Err(_) => (file, file.is_absolute()),
    };
    let text = path.to_string_lossy().replace('\\', "/");
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    if absolute {
        let sep = if out.starts_with('/') { "" } else { "/" };
        format!("file://{sep}{out}")
    } else {
        out
    }
}

fn drift_sarif(reports: &[DriftReport], root: &Path) -> serde_json::Value {
    let mut results = Vec::new();
    for r in reports {
        for i in &r.drift {
            let mut res = serde_json::json!({
                "ruleId": format!("terrace/drift/{}", category_name(i.category)),
                "level": "warning",
                "message": { "text": format!("{}{}", item_detail(i), remediation(i.category, &r.environment)) },
                "properties": { "environment": r.environment, "address": i.address },
            });
            if let Some(loc) = &i.location {
                let uri = artifact_uri(Path::new(loc.filename.as_str()), root);
                res["locations"] = serde_json::json!([{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri },
                        "region": { "startLine": loc.start.line.max(1), "startColumn": loc.start.column.max(1) }
                    }
                }]);
            }
            results.push(res);
        }
    }
    let rule = |id: &str, text: &str| serde_json::json!({ "id": format!("terrace/drift/{id}"), "name": id, "shortDescription": { "text": text } });
    let mut rules = vec![
        rule("changed", "A resource changed outside terrace"),
        rule("missing", "A resource was deleted outside terrace"),
        rule(
            "unmanaged",
            "A resource carries the environment's ownership tag but is not in state",
        ),
    ];
    // Policies on the live objects: their own rules, after drift's.
    for r in reports {
        if let Some(p) = &r.policy_results {
            policy_sarif_parts(p, root, &mut rules, &mut results);
        }
    }
    sarif_doc("terrace", rules, results)
}

fn drift_markdown(reports: &[DriftReport]) -> String {
    let mut out = String::from(
        "## terrace drift report\n\n| environment | changed | missing | unmanaged | pending | in sync |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        let c = &r.counts;
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            r.environment, c.changed, c.missing, c.unmanaged, c.pending, c.in_sync
        );
    }
    out.push('\n');
    let mut body = String::new();
    for r in reports {
        let denied: Vec<_> = r
            .policy_results
            .iter()
            .flat_map(|p| p.results.iter().filter(|x| x.blocks()))
            .collect();
        if r.drift.is_empty() && denied.is_empty() {
            continue;
        }
        let _ = writeln!(body, "### `{}`\n", r.environment);
        for i in &r.drift {
            let _ = writeln!(body, "- **{}** `{}`", category_name(i.category), i.address);
            for a in &i.attributes {
                let _ = writeln!(body, "  - `{}`: `{}` → `{}`", a.path, a.before, a.after);
            }
        }
        for x in denied {
            let _ = writeln!(
                body,
                "- **policy `{}` denied** `{}`: {}",
                x.policy,
                x.address,
                x.message.as_deref().unwrap_or_default()
            );
        }
        body.push('\n');
    }
    // The full report is only in the other formats: markdown is always cut
    // to fit a comment.
    let note = "\n_Report truncated to fit a comment: run `terrace drift --format text` (or `--format json`) for the full report._\n";
    out.push_str(&body);
    if out.len() > MARKDOWN_LIMIT {
        // Cut at a line boundary, in the item list or (with very many
        // environments) already in the summary table.
        let mut cut = MARKDOWN_LIMIT - note.len();
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        let cut = out[..cut].rfind('\n').unwrap_or(cut);
        out.truncate(cut);
        out.push_str(note);
    }
    out
}

pub async fn drift_history(engine: &Engine, env: &str, json: bool, limit: usize) -> Result<u8> {
    let runs = engine.store.drift_runs(env, limit).await?;
    if json {
        let doc: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id, "environment": r.env, "started_at": r.started_at, "finished_at": r.finished_at,
                    "changed": r.changed, "missing": r.missing, "unmanaged": r.unmanaged, "pending": r.pending,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    if runs.is_empty() {
        println!("No drift runs recorded for '{env}'.");
        return Ok(0);
    }
    println!(
        "{:<25} {:>7} {:>7} {:>9} {:>7}  status",
        "time", "changed", "missing", "unmanaged", "pending"
    );
    // Oldest first, so "resolved" can refer back.
    let mut prev_drift = false;
    let mut lines = Vec::new();
    for r in runs.iter().rev() {
        let drift = r.changed + r.missing + r.unmanaged > 0;
        let status = match (drift, prev_drift) {
            (true, _) => "drift",
            (false, true) => "resolved",
            (false, false) => "in sync",
        };
        prev_drift = drift;
        lines.push(format!(
            "{:<25} {:>7} {:>7} {:>9} {:>7}  {status}",
            crate::progress::rfc3339(r.started_at),
            r.changed,
            r.missing,
            r.unmanaged,
            r.pending
        ));
    }
    for l in lines.iter().rev() {
        println!("{l}");
    }
    Ok(0)
}

pub async fn env_list(
    project: &Project,
    engine: &Engine,
    now: chrono::DateTime<chrono::Utc>,
    json: bool,
) -> Result<u8> {
    let records = engine.store.registry_list().await?;
    let with_state = engine.store.list_environments().await?;
    let mut rows: Vec<serde_json::Value> = Vec::new();
    for name in settings::environment_names(project)? {
        if records.iter().any(|r| r.name == name) {
            continue;
        }
        let state = engine.store.read(&name).await.ok().flatten();
        let last_drift = engine
            .store
            .drift_runs(&name, 1)
            .await
            .ok()
            .and_then(|r| r.into_iter().next());
        rows.push(serde_json::json!({
            "name": name, "kind": "persistent", "template": name, "status": if with_state.contains(&name) { "active" } else { "not applied" },
            "created_at": null, "expires_at": null,
            "resources": state.map(|s| s.resources.iter().filter(|r| r.mode == "managed").count()).unwrap_or(0),
            "last_drift": last_drift.map(|d| if d.changed + d.missing + d.unmanaged > 0 { "drift" } else { "in sync" }),
        }));
    }
    for r in &records {
        let state = engine.store.read(&r.name).await.ok().flatten();
        rows.push(serde_json::json!({
            "name": r.name, "kind": r.kind, "template": r.template, "status": r.status, "status_detail": r.status_detail,
            "created_at": r.created_at, "created_by": r.created_by, "expires_at": r.expires_at,
            "expired": r.expires_at.is_some_and(|e| e <= now),
            "resources": state.map(|s| s.resources.iter().filter(|x| x.mode == "managed").count()).unwrap_or(r.resource_count as usize),
            "last_drift": r.last_drift,
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    println!(
        "{:<20} {:<10} {:<12} {:<16} {:>9} {:<22} last drift",
        "name", "kind", "template", "status", "resources", "expires"
    );
    for r in &rows {
        let age_or_exp = match r["expires_at"].as_str() {
            Some(e) => {
                let exp = chrono::DateTime::parse_from_rfc3339(e)
                    .map(|d| d.with_timezone(&chrono::Utc))
                    .ok();
                match exp {
                    Some(x) if x <= now => "expired".to_string(),
                    Some(x) => format!("in {}", fmt_remaining(x - now)),
                    None => e.to_string(),
                }
            }
            None => "-".into(),
        };
        println!(
            "{:<20} {:<10} {:<12} {:<16} {:>9} {:<22} {}",
            r["name"].as_str().unwrap_or(""),
            r["kind"].as_str().unwrap_or(""),
            r["template"].as_str().unwrap_or(""),
            r["status"].as_str().unwrap_or(""),
            r["resources"].as_u64().unwrap_or(0),
            age_or_exp,
            r["last_drift"].as_str().unwrap_or("-")
        );
    }
    Ok(0)
}

/// Time left until expiry, coarse: `2d4h`, `3h59m`, `12m`, `40s`.
fn fmt_remaining(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, mins) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    if days > 0 {
        format!("{days}d{hours}h")
    } else if hours > 0 {
        format!("{hours}h{mins}m")
    } else if mins > 0 {
        format!("{mins}m")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use terrace_engine::drift::{DriftAttr, DriftCounts};

    fn report(env: &str, n_changed: usize, in_sync: u32) -> DriftReport {
        let t = chrono::DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let drift: Vec<DriftItem> = (0..n_changed)
            .map(|i| DriftItem {
                address: format!("aws_instance.pool[{i}]"),
                type_name: "aws_instance".into(),
                category: DriftCategory::Changed,
                id: Some(format!("i-{i:017x}")),
                attributes: vec![DriftAttr {
                    path: "tags.Owner".into(),
                    before: serde_json::json!("platform-team"),
                    after: serde_json::json!(format!("someone-else-{i}")),
                }],
                location: None,
            })
            .collect();
        DriftReport {
            schema_version: 1,
            environment: env.into(),
            started_at: t,
            finished_at: t + chrono::Duration::milliseconds(1500),
            counts: DriftCounts {
                changed: n_changed as u32,
                missing: 0,
                unmanaged: 0,
                pending: 0,
                in_sync,
            },
            drift,
            pending: vec![],
            ignored: vec![],
            api_calls: Default::default(),
            policy_results: None,
        }
    }

    #[test]
    fn markdown_of_a_large_report_is_truncated_under_the_limit_with_a_note() {
        let big = report("prod", 3000, 0);
        let md = drift_markdown(std::slice::from_ref(&big));
        assert!(md.len() <= MARKDOWN_LIMIT, "{} bytes", md.len());
        assert!(
            md.len() > MARKDOWN_LIMIT - 1000,
            "uses the space: {}",
            md.len()
        );
        assert!(md.contains("Report truncated"), "truncation note");
        assert!(md.trim_end().ends_with('_'), "the note comes last");
        assert!(md.contains("| `prod` | 3000 | 0 | 0 | 0 | 0 |"));
        // Cut at a line boundary: the last item line shown is whole.
        let body: Vec<&str> = md
            .lines()
            .filter(|l| l.starts_with("- **") || l.starts_with("  - "))
            .collect();
        let last = body.last().expect("some items shown");
        assert!(
            last.ends_with('`'),
            "the last shown line is complete: {last}"
        );
        assert!(!md.contains("aws_instance.pool[2999]"));

        let small = report("dev", 3, 1);
        let md = drift_markdown(std::slice::from_ref(&small));
        assert!(!md.contains("Report truncated"), "{md}");
        assert!(md.contains("`aws_instance.pool[2]`"), "{md}");
        assert!(
            md.contains("`tags.Owner`: `\"platform-team\"` → `\"someone-else-2\"`"),
            "{md}"
        );

        // So many environments that the summary table alone is too long.
        let many: Vec<DriftReport> = (0..3000)
            .map(|i| report(&format!("preview-{i:04}"), 1, 0))
            .collect();
        let md = drift_markdown(&many);
        assert!(md.len() <= MARKDOWN_LIMIT, "{} bytes", md.len());
        assert!(md.contains("| `preview-0000` | 1 |"));
        assert!(!md.contains("preview-2999"));
        assert!(md.trim_end().ends_with("for the full report._"));
    }

    #[test]
    fn junit_counts_match_its_testcases() {
        let text = drift_junit(&[report("dev", 2, 5), report("stage", 0, 3)]);
        let tests_attr = |tag: &str| -> Vec<usize> {
            text.lines()
                .filter(|l| l.trim_start().starts_with(&format!("<{tag} ")))
                .map(|l| {
                    let at = l.find(" tests=\"").unwrap() + 8;
                    l[at..at + l[at..].find('"').unwrap()].parse().unwrap()
                })
                .collect()
        };
        let cases = text.matches("<testcase ").count();
        assert_eq!(tests_attr("testsuites"), [cases], "{text}");
        assert_eq!(tests_attr("testsuite"), [3, 1], "{text}");
        assert_eq!(text.matches("<failure ").count(), 2, "{text}");
    }
    #[test]
    fn sarif_of_every_category_is_valid_against_the_schema() {
        let schema: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/e2e/fixtures/sarif-schema-2.1.0.json"
        ))
        .unwrap();
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        let mut r = report("dev env", 1, 2);
        let pos = |line| terrace_core::Pos {
            line,
            column: 1,
            byte: 0,
        };
        r.drift[0].location = Some(terrace_core::SourceRange {
            filename: "/work/proj/environments/dev env/main.tf".into(),
            start: pos(3),
            end: pos(7),
        });
        for (category, id) in [
            (DriftCategory::Missing, "repo"),
            (DriftCategory::Unmanaged, "i-0abc"),
        ] {
            let mut item = r.drift[0].clone();
            item.category = category;
            item.id = Some(id.into());
            item.location = None;
            r.drift.push(item);
        }
        let doc = drift_sarif(&[r], Path::new("/work/proj"));
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
        let results = doc["runs"][0]["results"].as_array().unwrap();
        let rules: Vec<&str> = results
            .iter()
            .map(|x| x["ruleId"].as_str().unwrap())
            .collect();
        assert_eq!(
            rules,
            [
                "terrace/drift/changed",
                "terrace/drift/missing",
                "terrace/drift/unmanaged"
            ]
        );
        assert_eq!(
            results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "environments/dev%20env/main.tf"
        );
        // The validator is not vacuous: a wrong level fails it.
        let mut broken = doc.clone();
        broken["runs"][0]["results"][0]["level"] = "fatal".into();
        assert!(!validator.is_valid(&broken));
    }

    /// A drift report with policy results on the live objects: one denied
    /// and one passed.
    fn with_policies(mut r: DriftReport) -> DriftReport {
        use terrace_engine::policy::PolicyResult;
        let pos = |line| terrace_core::Pos {
            line,
            column: 1,
            byte: 0,
        };
        let result = |address: &str, status, message: Option<&str>| PolicyResult {
            policy: "s3-public-access-blocked".into(),
            enforcement: "deny".into(),
            address: address.into(),
            resource_type: "aws_s3_bucket".into(),
            status,
            message: message.map(str::to_string),
            source: terrace_core::SourceRange {
                filename: "policies/s3.tf".into(),
                start: pos(9),
                end: pos(20),
            },
        };
        r.policy_results = Some(PolicyReport {
            format_version: "1".into(),
            environment: r.environment.clone(),
            policies_hash: "0".repeat(64),
            policies: 1,
            results: vec![
                result("aws_s3_bucket.a", PolicyStatus::Fail, Some("no <block>")),
                result("aws_s3_bucket.b", PolicyStatus::Pass, None),
            ],
        });
        r
    }

    #[test]
    fn drift_reports_carry_policy_results_on_the_live_objects() {
        let r = with_policies(report("stage", 1, 2));
        assert!(r.policy_denied());
        let junit = drift_junit(std::slice::from_ref(&r));
        // 1 drifted + 1 in-sync case + 2 policy cases; 2 failures.
        assert!(
            junit.contains("<testsuites name=\"terrace drift\" tests=\"4\" failures=\"2\">"),
            "{junit}"
        );
        assert_eq!(junit.matches("<testcase ").count(), 4, "{junit}");
        assert!(
            junit.contains("<failure type=\"policy-deny\" message=\"no &lt;block&gt;\">"),
            "{junit}"
        );
        let schema: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/e2e/fixtures/sarif-schema-2.1.0.json"
        ))
        .unwrap();
        let doc = drift_sarif(std::slice::from_ref(&r), Path::new("/work/proj"));
        let validator = jsonschema::options().build(&schema).unwrap();
        assert!(validator.is_valid(&doc), "{doc:#}");
        let results = doc["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 2, "{doc:#}");
        assert_eq!(results[1]["ruleId"], "s3-public-access-blocked");
        assert_eq!(results[1]["level"], "error");
        assert_eq!(results[1]["properties"]["environment"], "stage");
        let rules = doc["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        assert_eq!(rules.len(), 4, "{doc:#}");
        let json: serde_json::Value = serde_json::from_str(
            &render_drift(
                std::slice::from_ref(&r),
                DriftFormat::Json,
                Path::new("/"),
                Style { on: false },
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(json["policy_results"]["denied"], true, "{json:#}");
        assert_eq!(json["policy_results"]["summary"]["denied"], 1, "{json:#}");
        let text = drift_text(&[r], Style { on: false });
        assert!(
            text.contains("Policies: 1 passed, 1 denied. (on the live objects)")
                && text.contains("denied: policy \"s3-public-access-blocked\" (policies/s3.tf:9:1) aws_s3_bucket.a: no <block>"),
            "{text}"
        );
        // Without policies the JSON has no section.
        let plain = serde_json::to_value(report("dev", 0, 1)).unwrap();
        assert!(plain.get("policy_results").is_none());
    }

    #[test]
    fn artifact_uris_are_relative_or_file_uris() {
        let root = Path::new("/work/proj");
        assert_eq!(
            artifact_uri(Path::new("/work/proj/environments/dev/main.tf"), root),
            "environments/dev/main.tf"
        );
        assert_eq!(
            artifact_uri(Path::new("/elsewhere/a b%/main.tf"), root),
            "file:///elsewhere/a%20b%25/main.tf"
        );
        assert_eq!(
            artifact_uri(Path::new("modules/x/main.tf"), root),
            "modules/x/main.tf"
        );
    }
}
