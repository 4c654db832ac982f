//! Drift detection: compare what the cloud holds with what the last apply
//! recorded, attribute by attribute (including attributes the configuration
//! does not set), and look for unmanaged objects that carry the
//! environment's ownership tag. Config changes not yet applied are reported
//! separately as *pending*, never as drift.
//!
//! Detecting never writes state and never takes the write lock.

use crate::context::{Engine, LoadedEnv, configure_providers};
use crate::error::EngineError;
use crate::model::{Action, AttrDiff, Plan, PlanMode, ResourceChange, diff_values};
use crate::plan::{PlanOptions, PriorState, make_plan, refresh};
use crate::policy::PolicyReport;
use crate::values::ValueTable;
use chrono::{DateTime, Utc};
use serde::Serialize;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use terrace_core::value::path_to_string;
use terrace_core::{ResourceMode, SourceRange, Value};
use terrace_lang::{IgnoreChanges, NodeKind};

/// The category of a drift finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum DriftCategory {
    /// Exists but differs from state.
    Changed,
    /// Deleted outside terrace.
    Missing,
    /// Carries the environment's ownership tag but no state knows it.
    Unmanaged,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriftAttr {
    pub path: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriftItem {
    pub address: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub category: DriftCategory,
    pub id: Option<String>,
    pub attributes: Vec<DriftAttr>,
    /// The resource block, for reports that point at source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceRange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PendingItem {
    pub address: String,
    pub actions: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriftCounts {
    pub changed: u32,
    pub missing: u32,
    pub unmanaged: u32,
    pub pending: u32,
    pub in_sync: u32,
}

/// The result of one drift run. Serialised as the documented JSON schema
/// (`schema_version` 1).
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub schema_version: u32,
    pub environment: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub counts: DriftCounts,
    pub drift: Vec<DriftItem>,
    pub pending: Vec<PendingItem>,
    pub ignored: Vec<String>,
    /// API calls per operation, made by this run.
    pub api_calls: BTreeMap<String, u64>,
    /// The project's policies evaluated on the live objects (see
    /// [`live_plan`]); absent when the project has no policies. Written as
    /// plan JSON's `policy_results` section.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "policy_results_json"
    )]
    pub policy_results: Option<PolicyReport>,
}

fn policy_results_json<S: serde::Serializer>(
    r: &Option<PolicyReport>,
    s: S,
) -> Result<S::Ok, S::Error> {
    r.as_ref().map(PolicyReport::to_json).serialize(s)
}

impl DriftReport {
    pub fn has_drift(&self) -> bool {
        !self.drift.is_empty()
    }

    /// A `deny` policy fails on a live object.
    pub fn policy_denied(&self) -> bool {
        self.policy_results
            .as_ref()
            .is_some_and(PolicyReport::denied)
    }
}

/// The objects the cloud holds now, as a plan of no-op changes (`before` =
/// `after` = the object as read), for evaluating policies on what exists:
/// a policy the configuration passes but a live object fails (a public
/// access block deleted or switched off outside terrace) fails here.
/// Objects deleted outside terrace are not live and left out.
pub fn live_plan(
    env: &str,
    prior: &PriorState,
    refreshed: &BTreeMap<String, Option<Value>>,
) -> Plan {
    let changes = prior
        .resources
        .iter()
        .filter(|(_, r)| r.addr.mode == ResourceMode::Managed)
        .filter_map(|(address, r)| {
            let now = refreshed.get(address).cloned().flatten()?;
            Some(ResourceChange {
                addr: r.addr.clone(),
                provider: r.record.provider.clone(),
                action: Action::NoOp,
                before: Some(now.clone()),
                after: Some(now),
                replace_paths: vec![],
                reason: None,
                dependencies: r.record.dependencies.clone(),
                import_id: None,
                moved_from: None,
            })
        })
        .collect();
    Plan::of_changes(env, changes)
}

/// One `.terraceignore` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct IgnoreRule {
    pub pattern: String,
    pub reason: Option<String>,
    pub line: usize,
}

/// Parse `.terraceignore`: one pattern per line — a resource type
/// (`aws_security_group`), an address glob (`aws_instance.runner[*]`), or an
/// `address.attribute` path glob (`aws_instance.*.tags.LastScanned`) — with an
/// optional `# comment` saying why. `*` matches any run of characters, `?`
/// one; brackets are literal.
pub fn parse_ignore_file(text: &str) -> Vec<IgnoreRule> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let (pat, reason) = match line.split_once('#') {
                Some((p, r)) => (
                    p.trim(),
                    Some(r.trim().to_string()).filter(|r| !r.is_empty()),
                ),
                None => (line.trim(), None),
            };
            (!pat.is_empty()).then(|| IgnoreRule {
                pattern: pat.to_string(),
                reason,
                line: i + 1,
            })
        })
        .collect()
}

/// Read the environment's `.terraceignore`, if any.
pub fn load_ignore_rules(env_dir: &Path) -> Vec<IgnoreRule> {
    std::fs::read_to_string(env_dir.join(".terraceignore"))
        .map(|t| parse_ignore_file(&t))
        .unwrap_or_default()
}

/// Wildcard match: `*` any run, `?` one character; everything else literal.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn rule_ignores_resource(rules: &[IgnoreRule], address: &str, type_name: &str) -> bool {
    rules
        .iter()
        .any(|r| r.pattern == type_name || wildcard_match(&r.pattern, address))
}

fn rule_ignores_attr(rules: &[IgnoreRule], address: &str, path: &str) -> bool {
    // `tags_all` mirrors `tags` (plus default and ownership tags), so a rule
    // for a tag covers the same key in both.
    let alias = path
        .strip_prefix("tags_all")
        .filter(|rest| rest.is_empty() || rest.starts_with('.'))
        .map(|rest| format!("tags{rest}"));
    std::iter::once(path.to_string()).chain(alias).any(|p| {
        let full = format!("{address}.{p}");
        rules.iter().any(|r| {
            wildcard_match(&r.pattern, &full) || wildcard_match(&format!("{}.*", r.pattern), &full)
        })
    })
}

/// Is this diff of `tags` only a change of view, not of the cloud? `tags`
/// is derived from what the cloud holds (`tags_all`) minus the provider's
/// `default_tags` of the *current* configuration: editing a default tag (a
/// tfvars change) moves a key between `tags` and the defaults although no
/// object changed. Such a diff is a pending change, not drift. It is drift
/// only when `tags_all` itself differs for one of the keys concerned.
fn tags_view_only(d: &AttrDiff, stored: &Value, now: &Value) -> bool {
    use terrace_core::PathStep;
    if d.path.first() != Some(&PathStep::Key("tags".into())) {
        return false;
    }
    let (Some(stored_all), Some(now_all)) = (
        stored.get("tags_all").and_then(Value::as_map),
        now.get("tags_all").and_then(Value::as_map),
    ) else {
        return false;
    };
    let keys: Vec<String> = match d.path.get(1) {
        Some(PathStep::Key(k)) => vec![k.clone()],
        Some(_) => return false,
        None => {
            // The whole map differs (e.g. null on one side): every key that
            // differs between the two sides.
            let empty = BTreeMap::new();
            let side = |v: &Option<Value>| v.as_ref().and_then(|v| v.as_map().cloned());
            let (b, a) = (side(&d.before), side(&d.after));
            let (b, a) = (b.as_ref().unwrap_or(&empty), a.as_ref().unwrap_or(&empty));
            b.keys()
                .chain(a.keys())
                .filter(|k| {
                    b.get(*k).map(Value::to_json_lossy) != a.get(*k).map(Value::to_json_lossy)
                })
                .cloned()
                .collect()
        }
    };
    keys.iter().all(|k| {
        stored_all.get(k).map(Value::to_json_lossy) == now_all.get(k).map(Value::to_json_lossy)
    })
}

#[derive(Debug, Clone, Default)]
pub struct DriftOptions {
    pub ignore: Vec<IgnoreRule>,
    /// The project's policies, evaluated on the live objects.
    pub policies: Option<std::sync::Arc<terrace_lang::PolicySet>>,
}

/// Detect drift of one environment.
pub async fn detect_drift(
    engine: &Engine,
    env: &LoadedEnv,
    opts: &DriftOptions,
) -> Result<DriftReport, EngineError> {
    let started_at = Utc::now();
    let stored = engine.store.read(&env.name).await?;
    let prior = PriorState::decode(stored)?;
    let empty = ValueTable::new();
    let providers = configure_providers(engine, env, &empty, &prior.provider_keys()).await?;
    let refreshed = refresh(engine, &providers, &prior).await?;
    let policy_results = opts
        .policies
        .as_ref()
        .map(|set| {
            crate::policy::evaluate(set, &live_plan(&env.name, &prior, &refreshed), &env.config)
        })
        .transpose()?;

    // Per-block lifecycle rules and ranges from the configuration.
    let mut ignore_changes: BTreeMap<String, IgnoreChanges> = BTreeMap::new();
    let mut ranges: BTreeMap<String, SourceRange> = BTreeMap::new();
    let mut config_types: BTreeSet<(String, String)> = BTreeSet::new();
    for n in &env.nodes {
        if let NodeKind::Resource(a) = &n.kind {
            let block = a.block().to_string();
            if let Some(l) = crate::context::lifecycle_of(env, n) {
                ignore_changes.insert(block.clone(), l.ignore_changes.clone());
            }
            if let Some(r) = &n.range {
                ranges.insert(block, r.clone());
            }
            if a.mode == ResourceMode::Managed {
                let pname = a
                    .type_name
                    .split('_')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                config_types.insert((pname, a.type_name.clone()));
            }
        }
    }

    let mut items = Vec::new();
    let mut ignored = Vec::new();
    let mut in_sync = 0u32;
    let mut known_ids: BTreeSet<(String, String)> = BTreeSet::new();
    for (address, r) in &prior.resources {
        if r.addr.mode != ResourceMode::Managed {
            continue;
        }
        let id = r
            .value
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(id) = &id {
            known_ids.insert((r.record.type_name.clone(), id.clone()));
        }
        if rule_ignores_resource(&opts.ignore, address, &r.record.type_name) {
            ignored.push(address.clone());
            continue;
        }
        let block = r.addr.block().to_string();
        let location = ranges.get(&block).cloned();
        match refreshed.get(address).cloned().flatten() {
            None => items.push(DriftItem {
                address: address.clone(),
                type_name: r.record.type_name.clone(),
                category: DriftCategory::Missing,
                id,
                attributes: vec![],
                location,
            }),
            Some(now) => {
                let diffs: Vec<AttrDiff> = diff_values(&r.value, &now)
                    .into_iter()
                    .filter(|d| match ignore_changes.get(&block) {
                        Some(IgnoreChanges::All) => false,
                        Some(IgnoreChanges::Paths(ps)) => !ps.iter().any(|p| {
                            // `tags_all` follows `tags`.
                            d.path.starts_with(p)
                                || (p.first() == Some(&terrace_core::PathStep::Key("tags".into()))
                                    && d.path.first()
                                        == Some(&terrace_core::PathStep::Key("tags_all".into()))
                                    && d.path[1..].starts_with(&p[1..]))
                        }),
                        _ => true,
                    })
                    .filter(|d| !rule_ignores_attr(&opts.ignore, address, &path_to_string(&d.path)))
                    .filter(|d| !tags_view_only(d, &r.value, &now))
                    .collect();
                if diffs.is_empty() {
                    in_sync += 1;
                } else {
                    items.push(DriftItem {
                        address: address.clone(),
                        type_name: r.record.type_name.clone(),
                        category: DriftCategory::Changed,
                        id,
                        attributes: diffs
                            .into_iter()
                            .map(|d| DriftAttr {
                                path: path_to_string(&d.path),
                                before: d
                                    .before
                                    .map(|v| v.redacted().to_json_lossy())
                                    .unwrap_or(serde_json::Value::Null),
                                after: d
                                    .after
                                    .map(|v| v.redacted().to_json_lossy())
                                    .unwrap_or(serde_json::Value::Null),
                            })
                            .collect(),
                        location,
                    });
                }
            }
        }
    }

    // Unmanaged: objects of managed types carrying our ownership tag.
    let mut types: BTreeSet<(String, String)> = config_types;
    for r in prior.resources.values() {
        if r.addr.mode == ResourceMode::Managed {
            types.insert((r.record.provider.clone(), r.record.type_name.clone()));
        }
    }
    for (pkey, type_name) in &types {
        let Some(provider) = providers.get(pkey) else {
            continue;
        };
        let owned = crate::plan::with_retries(|| provider.list_owned(type_name, &env.name))
            .await
            .map_err(|e| {
                EngineError::Other(format!(
                    "listing {type_name} objects of '{}': {e}",
                    env.name
                ))
            })?;
        for obj in owned {
            let id = obj
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if known_ids.contains(&(type_name.clone(), id.clone())) {
                continue;
            }
            let tagged_addr = obj
                .get("tags_all")
                .or_else(|| obj.get("tags"))
                .and_then(|t| t.get("terrace:address"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let address = format!("{type_name}.unmanaged[\"{id}\"]");
            if rule_ignores_resource(&opts.ignore, &address, type_name) {
                ignored.push(address);
                continue;
            }
            items.push(DriftItem {
                address,
                type_name: type_name.clone(),
                category: DriftCategory::Unmanaged,
                id: Some(id),
                attributes: tagged_addr
                    .map(|a| {
                        vec![DriftAttr {
                            path: "tags.terrace:address".into(),
                            before: serde_json::Value::Null,
                            after: serde_json::Value::String(a),
                        }]
                    })
                    .unwrap_or_default(),
                location: None,
            });
        }
    }

    // Pending: configuration changes against the stored state (no refresh).
    let (plan, plan_providers) = make_plan(
        engine,
        env,
        &PlanOptions {
            mode: PlanMode::Normal,
            refresh: false,
            ..Default::default()
        },
    )
    .await?;
    let pending: Vec<PendingItem> = plan
        .effective_changes()
        .map(|c| PendingItem {
            address: c.address(),
            actions: c.action.terraform_actions(),
        })
        .collect();

    let mut api_calls: BTreeMap<String, u64> = BTreeMap::new();
    for p in providers.values().chain(plan_providers.values()) {
        for (op, n) in p.api_calls() {
            *api_calls.entry(op).or_default() += n;
        }
    }
    items.sort_by(|a, b| (a.category, &a.address).cmp(&(b.category, &b.address)));
    let count = |c: DriftCategory| items.iter().filter(|i| i.category == c).count() as u32;
    let counts = DriftCounts {
        changed: count(DriftCategory::Changed),
        missing: count(DriftCategory::Missing),
        unmanaged: count(DriftCategory::Unmanaged),
        pending: pending.len() as u32,
        in_sync,
    };
    Ok(DriftReport {
        schema_version: 1,
        environment: env.name.clone(),
        started_at,
        finished_at: Utc::now(),
        counts,
        drift: items,
        pending,
        ignored,
        api_calls,
        policy_results,
    })
}

/// Record a drift run in the store's history, and notify `notify`'s
/// targets when the run opens a drift incident (`drift_detected`: drift
/// after a clean run) or closes one (`drift_resolved`). A notification
/// that cannot be delivered, or a history that cannot be read for the
/// previous run, never fails the run.
pub async fn record_run(
    engine: &Engine,
    report: &DriftReport,
    notify: &[crate::notify::Target],
) -> Result<(), EngineError> {
    let previous = if notify.is_empty() {
        None
    } else {
        match engine.store.drift_runs(&report.environment, 1).await {
            Ok(mut runs) => runs.pop(),
            Err(e) => {
                tracing::warn!(env = %report.environment, "reading the previous drift run: {e}");
                None
            }
        }
    };
    let run = terrace_state::DriftRun {
        id: uuid::Uuid::new_v4().to_string(),
        env: report.environment.clone(),
        started_at: report.started_at,
        finished_at: report.finished_at,
        changed: report.counts.changed,
        missing: report.counts.missing,
        unmanaged: report.counts.unmanaged,
        pending: report.counts.pending,
        report: serde_json::to_value(report).unwrap_or(serde_json::Value::Null),
    };
    engine.store.record_drift_run(&run).await?;
    if !notify.is_empty() {
        crate::notify::deliver_drift(notify, previous.as_ref(), &run).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_literally_except_star_and_question() {
        assert!(wildcard_match(
            "aws_instance.runner[*]",
            "aws_instance.runner[0]"
        ));
        assert!(wildcard_match(
            "aws_instance.*.tags.Last*",
            "aws_instance.web.tags.LastScanned"
        ));
        assert!(!wildcard_match(
            "aws_instance.runner[0]",
            "aws_instance.runner0"
        ));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
    }

    fn resource(tags: Value, tags_all: Value) -> Value {
        Value::map([
            ("id", Value::from("vpc-1")),
            ("tags", tags),
            ("tags_all", tags_all),
        ])
    }

    fn drift_paths(stored: &Value, now: &Value) -> Vec<String> {
        diff_values(stored, now)
            .into_iter()
            .filter(|d| !tags_view_only(d, stored, now))
            .map(|d| path_to_string(&d.path))
            .collect()
    }

    /// A default tag edited in tfvars moves `Owner` from the defaults into
    /// the refreshed `tags` (the cloud still has the old value): not drift.
    #[test]
    fn default_tag_config_change_is_not_drift() {
        let all = Value::map([
            ("Owner", Value::from("platform-team")),
            ("Name", Value::from("x")),
        ]);
        // tags was null: the whole map appears.
        let stored = resource(Value::Null, all.clone());
        let now = resource(
            Value::map([("Owner", Value::from("platform-team"))]),
            all.clone(),
        );
        assert!(drift_paths(&stored, &now).is_empty());
        // tags had keys: one key appears.
        let stored = resource(Value::map([("Name", Value::from("x"))]), all.clone());
        let now = resource(
            Value::map([
                ("Name", Value::from("x")),
                ("Owner", Value::from("platform-team")),
            ]),
            all,
        );
        assert!(drift_paths(&stored, &now).is_empty());
    }

    /// A tag changed in the cloud is drift, in `tags` and in `tags_all`.
    #[test]
    fn tag_changed_in_the_cloud_is_drift() {
        let stored = resource(
            Value::map([("Team", Value::from("a"))]),
            Value::map([("Team", Value::from("a"))]),
        );
        let now = resource(
            Value::map([("Team", Value::from("b"))]),
            Value::map([("Team", Value::from("b"))]),
        );
        assert_eq!(
            drift_paths(&stored, &now),
            vec!["tags.Team", "tags_all.Team"]
        );
        // A tag added by hand to a resource whose tags were null.
        let stored = resource(Value::Null, Value::map([("Team", Value::from("a"))]));
        let now = resource(
            Value::map([("Extra", Value::from("1"))]),
            Value::map([("Team", Value::from("a")), ("Extra", Value::from("1"))]),
        );
        assert_eq!(drift_paths(&stored, &now), vec!["tags", "tags_all.Extra"]);
    }

    #[test]
    fn ignore_file_parses_patterns_and_reasons() {
        let rules = parse_ignore_file(
            "# header\naws_security_group  # managed by security team\n\naws_instance.*.tags.LastScanned\n",
        );
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].pattern, "aws_security_group");
        assert_eq!(rules[0].reason.as_deref(), Some("managed by security team"));
        assert_eq!(rules[1].line, 4);
        assert!(rule_ignores_resource(
            &rules,
            "aws_security_group.x",
            "aws_security_group"
        ));
        assert!(rule_ignores_attr(
            &rules,
            "aws_instance.web",
            "tags.LastScanned"
        ));
        assert!(!rule_ignores_attr(&rules, "aws_instance.web", "tags.Name"));
        // A tag rule covers the tag's copy in tags_all, and nothing else there.
        assert!(rule_ignores_attr(
            &rules,
            "aws_instance.web",
            "tags_all.LastScanned"
        ));
        assert!(!rule_ignores_attr(
            &rules,
            "aws_instance.web",
            "tags_all.Name"
        ));
        assert!(!rule_ignores_attr(
            &rules,
            "aws_instance.web",
            "tags_allx.LastScanned"
        ));
    }
}
