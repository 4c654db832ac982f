//! Planning: configuration + state + reality → a [`Plan`].
//!
//! Load → evaluate → graph → refresh (batched per type, concurrently across
//! types) → walk the graph in dependency order, expanding each block into
//! instances and asking its provider to plan them → orphans become deletes →
//! outputs.

use crate::context::{Engine, LoadedEnv, Providers, configure_providers, provider_key};
use crate::error::EngineError;
use crate::model::{
    Action, OutputChange, Plan, PlanMode, ResourceChange, ResourceDrift, equal_ignoring_marks,
};
use crate::values::{ValueTable, conform_to_schema, state_value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use terrace_core::{
    Diagnostic, Diagnostics, ModuleInstance, PathStep, ResourceAddr, ResourceMode, Value, ValuePath,
};
use terrace_graph::DepGraph;
use terrace_lang::{GraphNode, IgnoreChanges, NodeKind, ResourceInstanceConfig};
use terrace_provider::{ProviderError, ResourceContext};
use terrace_state::{ResourceState, State};

/// How to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub mode: PlanMode,
    /// Read every managed object from the cloud first (`--refresh=false` turns it off).
    pub refresh: bool,
    /// `--target`: only these (and what they depend on).
    pub targets: Vec<ResourceAddr>,
    /// `--replace`: force replacement of these.
    pub replace: Vec<ResourceAddr>,
    /// `terrace import ADDR ID`: imports asked for on the command line,
    /// planned exactly as `import` blocks are (same checks, same reads).
    pub imports: Vec<(ResourceAddr, String)>,
    /// Leave the plan's `configuration` (Terraform's plan JSON section,
    /// [`terrace_lang::configuration_json`]) out: `terrace plan` without
    /// `-out` or `-json` never shows it, and for 100,000 resources it is
    /// the plan's largest single structure.
    pub skip_configuration: bool,
}

/// One resource instance from state, decoded.
#[derive(Debug, Clone)]
pub struct PriorResource {
    pub addr: ResourceAddr,
    /// The stored record without its attributes (`attributes` is JSON
    /// `null`): `value` is their one decoded copy.
    pub record: ResourceState,
    /// The stored object. A plan without refresh moves a managed
    /// instance's object into its refreshed objects (`null` here after).
    pub value: Value,
}

/// The stored state of an environment, decoded and indexed by address.
/// Each record is held once: `decode` moves the records out of `state`
/// (whose `resources` is then empty) into `resources`.
#[derive(Debug, Clone, Default)]
pub struct PriorState {
    /// The state's lineage, serial and outputs; its records are in `resources`.
    pub state: Option<State>,
    /// Boxed: a B-tree node holds eleven entries inline, about seven in
    /// use, and a 330-byte record inline made the spare slots cost more
    /// than the records' pointers do.
    pub resources: BTreeMap<String, Box<PriorResource>>,
}

impl PriorState {
    pub fn decode(mut state: Option<State>) -> Result<Self, EngineError> {
        let mut resources = BTreeMap::new();
        if let Some(s) = &mut state {
            // One shared `null` stands in for every record's attributes once
            // they are decoded into `value` (a no-op plan of 100,000
            // resources held both).
            let dropped = std::sync::Arc::new(serde_json::Value::Null);
            for mut r in std::mem::take(&mut s.resources) {
                let addr: ResourceAddr = r.address.parse().map_err(|e| {
                    EngineError::Other(format!(
                        "state holds an invalid address {:?}: {e}",
                        r.address
                    ))
                })?;
                let value = state_value(&r);
                r.attributes = dropped.clone();
                resources.insert(
                    r.address.clone(),
                    Box::new(PriorResource {
                        addr,
                        value,
                        record: r,
                    }),
                );
            }
        }
        Ok(PriorState { state, resources })
    }

    /// How many resource blocks (per module instance) the stored records
    /// belong to. Records are sorted by address, so a block's instances
    /// are adjacent (near enough for an estimate: it sizes a table).
    pub fn block_count(&self) -> usize {
        let mut count = 0;
        let mut last = None;
        for r in self.resources.values() {
            let block = block_key(&r.addr);
            if last != Some(block) {
                count += 1;
            }
            last = Some(block);
        }
        count
    }

    /// Every provider key state refers to.
    pub fn provider_keys(&self) -> Vec<String> {
        provider_keys(self.resources.values().map(|r| &r.record))
    }
}

/// Every provider key these records refer to, once each, sorted.
pub fn provider_keys<'a>(records: impl Iterator<Item = &'a ResourceState>) -> Vec<String> {
    let set: BTreeSet<&str> = records.map(|r| r.provider.as_str()).collect();
    set.into_iter().map(str::to_string).collect()
}

/// Refresh every managed resource in `prior`: one batched read per
/// (provider, type), all types concurrently. `None` = gone.
pub async fn refresh(
    engine: &Engine,
    providers: &Providers,
    prior: &PriorState,
) -> Result<BTreeMap<String, Option<Value>>, EngineError> {
    let mut groups: BTreeMap<(String, String), Vec<&PriorResource>> = BTreeMap::new();
    for r in prior.resources.values() {
        if r.addr.mode == ResourceMode::Managed {
            groups
                .entry((r.record.provider.clone(), r.record.type_name.clone()))
                .or_default()
                .push(r);
        }
    }
    let reads = groups
        .into_iter()
        .map(|((pkey, type_name), members)| async move {
            let provider = providers.get(&pkey).ok_or_else(|| {
                EngineError::Other(format!(
                    "state refers to provider {pkey}, which is not configured"
                ))
            })?;
            let values: Vec<Value> = members.iter().map(|m| m.value.clone()).collect();
            let started = std::time::Instant::now();
            tracing::info!(type_name = %type_name, objects = values.len(), "refreshing");
            let read = with_retries(|| provider.read_resources(&type_name, &values))
                .await
                .map_err(|e| EngineError::Other(format!("refreshing {type_name}: {e}")))?;
            tracing::info!(
                type_name = %type_name,
                objects = values.len(),
                found = read.iter().filter(|v| v.is_some()).count(),
                ms = started.elapsed().as_millis() as u64,
                "refreshed"
            );
            if read.len() != members.len() {
                return Err(EngineError::Other(format!(
                    "provider {pkey} returned {} objects for {} {type_name} instances",
                    read.len(),
                    members.len()
                )));
            }
            let pname = pkey.split('.').next().unwrap_or_default();
            let schema = engine.type_schema(ResourceMode::Managed, pname, &type_name);
            let out: Vec<(String, Option<Value>)> = members
                .iter()
                .zip(read)
                .map(|(m, v)| {
                    let v = v.map(|v| {
                        let v = match schema {
                            Some(s) => conform_to_schema(s, v),
                            None => v,
                        };
                        v.mark_paths(&m.record.sensitive_paths)
                    });
                    (m.record.address.clone(), v)
                })
                .collect();
            Ok::<_, EngineError>(out)
        });
    let mut refreshed = BTreeMap::new();
    for group in futures::future::join_all(reads).await {
        refreshed.extend(group?);
    }
    Ok(refreshed)
}

/// Retry throttled provider calls with exponential backoff and jitter.
pub async fn with_retries<T, F, Fut>(mut f: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let mut delay = std::time::Duration::from_millis(200);
    for _ in 0..8 {
        match f().await {
            Err(e) if e.is_retryable() => {
                let jitter =
                    std::time::Duration::from_millis(rand_jitter(delay.as_millis() as u64 / 2));
                tracing::warn!("throttled, retrying in {:?}: {e}", delay + jitter);
                tokio::time::sleep(delay + jitter).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(20));
            }
            other => return other,
        }
    }
    f().await
}

fn rand_jitter(max: u64) -> u64 {
    if max == 0 {
        return 0;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from(nanos) % max
}

/// An address's block (module instance, mode, type, name), borrowed: what
/// [`ResourceAddr::block`] gives without allocating.
type BlockKey<'a> = (&'a ModuleInstance, ResourceMode, &'a str, &'a str);

fn block_key(a: &ResourceAddr) -> BlockKey<'_> {
    (&a.module, a.mode, &a.type_name, &a.name)
}

/// The resource blocks each resource node depends on, looking through
/// locals, variables and outputs; resources without any have no entry.
pub fn resource_dependencies(env: &LoadedEnv) -> HashMap<usize, Vec<ResourceAddr>> {
    let g: &DepGraph<usize> = &env.graph;
    let mut out = HashMap::new();
    for ix in g.node_indices() {
        let node = env.node(ix);
        if !matches!(node.kind, NodeKind::Resource(_)) {
            continue;
        }
        let mut found = BTreeSet::new();
        let mut seen = HashSet::new();
        let mut stack: Vec<_> = g.dependencies(ix).collect();
        while let Some(d) = stack.pop() {
            if !seen.insert(d) {
                continue;
            }
            match &env.node(d).kind {
                NodeKind::Resource(a) => {
                    found.insert(a.clone());
                }
                _ => stack.extend(g.dependencies(d)),
            }
        }
        // Only resources with dependencies: most of a large flat
        // configuration has none, and an empty entry per block cost a
        // slot of the map each.
        if !found.is_empty() {
            out.insert(*g.payload(ix), found.into_iter().collect());
        }
    }
    out
}

/// Make a plan.
pub async fn make_plan(
    engine: &Engine,
    env: &LoadedEnv,
    opts: &PlanOptions,
) -> Result<(Plan, Providers), EngineError> {
    let stored = engine.store.read(&env.name).await?;
    let mut prior = PriorState::decode(stored)?;
    let mut warnings = env.warnings.clone();
    let pending = engine.store.journal_pending(&env.name).await?;
    if !pending.is_empty() {
        warnings.push(format!(
            "{} operation(s) of an interrupted apply are not reconciled yet; `terrace apply` reconciles them first",
            pending.len()
        ));
    }
    let moved = apply_moved_blocks(env, &mut prior);

    let empty = ValueTable::new();
    let providers = configure_providers(engine, env, &empty, &prior.provider_keys()).await?;

    let refreshed: BTreeMap<String, Option<Value>> = if opts.refresh {
        refresh(engine, &providers, &prior).await?
    } else {
        // The stored objects are the refreshed ones: moved, not copied
        // (a managed instance's `value` is `null` from here on; every
        // reader looks in `refreshed` first).
        prior
            .resources
            .iter_mut()
            .filter(|(_, r)| r.addr.mode == ResourceMode::Managed)
            .map(|(k, r)| {
                // State stores sets as JSON arrays: give providers the schema's types.
                let v = engine.conform(
                    ResourceMode::Managed,
                    &r.record.provider,
                    &r.record.type_name,
                    std::mem::replace(&mut r.value, Value::Null),
                );
                (k.clone(), Some(v))
            })
            .collect()
    };
    let mut drift = Vec::new();
    // Without a refresh nothing was read, so nothing can have drifted.
    for (addr, now) in refreshed.iter().filter(|_| opts.refresh) {
        let Some(r) = prior.resources.get(addr) else {
            continue;
        };
        let changed = match now {
            Some(v) => !equal_ignoring_marks(&r.value, v),
            None => true,
        };
        if changed {
            drift.push(ResourceDrift {
                addr: r.addr.clone(),
                provider: r.record.provider.clone(),
                before: r.value.clone(),
                after: now.clone(),
            });
        }
    }

    let mut plan = Plan {
        environment: env.name.clone(),
        mode: opts.mode,
        prior_lineage: prior.state.as_ref().map(|s| s.lineage.to_string()),
        prior_serial: prior.state.as_ref().map(|s| s.serial),
        config_hash: env.config_hash.clone(),
        changes: Vec::new(),
        drift,
        outputs: BTreeMap::new(),
        variables: env.variables.clone(),
        // Moved in once the walk is done with it: one copy of every
        // refreshed object, not two.
        refreshed: BTreeMap::new(),
        targets: opts.targets.iter().map(ToString::to_string).collect(),
        warnings,
        configuration: (!opts.skip_configuration).then(|| {
            terrace_lang::configuration_json(&env.config, &crate::context::Schemas::new(engine))
        }),
    };

    match opts.mode {
        PlanMode::RefreshOnly => {
            plan.refreshed = refreshed;
            return Ok((plan, providers));
        }
        PlanMode::Destroy => {
            plan.changes = plan_destroy(env, &prior, &refreshed, opts, &moved)?;
            check_target_addresses(env, &prior, &plan.changes, opts)?;
            add_targeting_warning(&mut plan);
            for (name, out) in prior.state.iter().flat_map(|s| s.outputs.iter()) {
                plan.outputs.insert(
                    name.clone(),
                    OutputChange {
                        action: Action::Delete,
                        before: Some(Value::from_json(&out.value).mark_if(out.sensitive)),
                        after: None,
                        sensitive: out.sensitive,
                    },
                );
            }
            plan.refreshed = refreshed;
            return Ok((plan, providers));
        }
        PlanMode::Normal => {}
    }

    let walk = PlanWalk {
        engine,
        env,
        providers: &providers,
        prior: &prior,
        refreshed: std::sync::Mutex::new(refreshed),
        stored_ids: std::sync::OnceLock::new(),
        opts,
        moved: &moved,
    };
    // The walk moves each refreshed object into its change (`before`):
    // one copy of every object, not two. Only refresh-only plans (above)
    // keep them in `plan.refreshed`.
    let (changes, table) = walk.run().await?;
    plan.changes = changes;
    check_target_addresses(env, &prior, &plan.changes, opts)?;
    add_targeting_warning(&mut plan);
    filter_targets(env, &mut plan, &opts.targets);

    // Outputs.
    let outputs = env
        .evaluator
        .root_outputs(&table)
        .map_err(|d| EngineError::config(d, env.sources.clone()))?;
    // Variable validations that refer to other values, now that they are known.
    env.evaluator
        .cross_validations(&table)
        .map_err(|d| EngineError::config(d, env.sources.clone()))?;
    // `check` blocks: failed assertions are warnings, as in Terraform.
    plan.warnings.extend(env.evaluator.check_warnings(&table));
    let old_outputs = prior
        .state
        .as_ref()
        .map(|s| s.outputs.clone())
        .unwrap_or_default();
    for (name, (value, sensitive)) in &outputs {
        let before = old_outputs
            .get(name)
            .map(|o| Value::from_json(&o.value).mark_if(o.sensitive));
        let action = match &before {
            None => Action::Create,
            Some(b) if equal_ignoring_marks(b, value) => Action::NoOp,
            Some(_) => Action::Update,
        };
        plan.outputs.insert(
            name.clone(),
            OutputChange {
                action,
                before,
                after: Some(value.clone()),
                sensitive: *sensitive,
            },
        );
    }
    for (name, o) in &old_outputs {
        if !outputs.contains_key(name) {
            plan.outputs.insert(
                name.clone(),
                OutputChange {
                    action: Action::Delete,
                    before: Some(Value::from_json(&o.value).mark_if(o.sensitive)),
                    after: None,
                    sensitive: o.sensitive,
                },
            );
        }
    }
    Ok((plan, providers))
}

/// `moved { from = … to = … }`: rename state addresses before planning.
/// Returns new address → old address.
fn apply_moved_blocks(env: &LoadedEnv, prior: &mut PriorState) -> BTreeMap<String, String> {
    let mut moved = BTreeMap::new();
    for module in env.config.modules() {
        for m in &module.moved {
            let prefix = module
                .path
                .iter()
                .map(|p| format!("module.{p}."))
                .collect::<String>();
            let endpoint = |e: &terrace_lang::MoveEndpoint| match e {
                terrace_lang::MoveEndpoint::Resource(a) => format!("{prefix}{a}"),
                terrace_lang::MoveEndpoint::Module(mi) => format!("{prefix}{mi}"),
            };
            let (from, to) = (endpoint(&m.from), endpoint(&m.to));
            // Whole blocks move with all their instances.
            let keys: Vec<String> = prior
                .resources
                .keys()
                .filter(|k| {
                    *k == &from
                        || k.strip_prefix(&from)
                            .is_some_and(|rest| rest.starts_with('[') || rest.starts_with('.'))
                })
                .cloned()
                .collect();
            for old in keys {
                let new = format!("{to}{}", &old[from.len()..]);
                if prior.resources.contains_key(&new) {
                    continue;
                }
                if let Some(mut r) = prior.resources.remove(&old) {
                    if let Ok(a) = new.parse() {
                        r.addr = a;
                    }
                    r.record.address = new.clone();
                    prior.resources.insert(new.clone(), r);
                    moved.insert(new, old);
                }
            }
        }
    }
    moved
}

fn plan_destroy(
    env: &LoadedEnv,
    prior: &PriorState,
    refreshed: &BTreeMap<String, Option<Value>>,
    opts: &PlanOptions,
    moved: &BTreeMap<String, String>,
) -> Result<Vec<ResourceChange>, EngineError> {
    let protected = protected_blocks(env);
    let mut diags = Diagnostics::new();
    let mut changes = Vec::new();
    for (addr, r) in &prior.resources {
        if r.addr.mode == ResourceMode::Data {
            continue;
        }
        if !opts.targets.is_empty() && !opts.targets.iter().any(|t| target_matches(t, &r.addr)) {
            continue;
        }
        let before = refreshed
            .get(addr)
            .cloned()
            .unwrap_or(Some(r.value.clone()));
        let Some(before) = before else { continue }; // already gone: nothing to delete
        if let Some(range) = protected.get(&r.addr.block()) {
            diags.push(prevent_destroy_diag(addr, range.clone()));
            continue;
        }
        changes.push(ResourceChange {
            addr: r.addr.clone(),
            provider: r.record.provider.clone(),
            action: Action::Delete,
            before: Some(before),
            after: None,
            replace_paths: vec![],
            reason: Some("delete_because_destroy".into()),
            dependencies: r.record.dependencies.clone(),
            import_id: None,
            moved_from: moved.get(addr).cloned(),
        });
    }
    if diags.has_errors() {
        return Err(EngineError::config(diags, env.sources.clone()));
    }
    Ok(changes)
}

fn prevent_destroy_diag(addr: &str, range: Option<terrace_core::SourceRange>) -> Diagnostic {
    Diagnostic::error(
        "Instance cannot be destroyed",
        format!(
            "{addr} has lifecycle.prevent_destroy set, but the plan calls for it to be destroyed. To avoid this error and continue, either disable prevent_destroy or reduce the scope of the plan with --target."
        ),
    )
    .at(range)
}

/// Blocks with `prevent_destroy`, with their ranges.
fn protected_blocks(env: &LoadedEnv) -> HashMap<ResourceAddr, Option<terrace_core::SourceRange>> {
    let mut out = HashMap::new();
    for n in &env.nodes {
        if let NodeKind::Resource(a) = &n.kind
            && crate::context::lifecycle_of(env, n).is_some_and(|l| l.prevent_destroy)
        {
            out.insert(a.block(), n.range.clone());
        }
    }
    out
}

/// Does `--target T` select `addr`? A block target selects all its instances;
/// a module target everything inside.
pub fn target_matches(target: &ResourceAddr, addr: &ResourceAddr) -> bool {
    if target.key.is_some() {
        return target == addr;
    }
    target == &addr.block()
}

/// Terraform's warning for any targeted plan.
pub const TARGETING_WARNING: &str = "Resource targeting is in effect. You are creating a plan with --target, \
so it may not show all of the changes the configuration asks for. --target is not for routine use: \
it is for exceptional situations such as recovering from errors or mistakes.";

fn add_targeting_warning(plan: &mut Plan) {
    if !plan.targets.is_empty() {
        plan.warnings.push(TARGETING_WARNING.to_string());
    }
}

/// Every `--target` and `--replace` address must name something: a resource
/// block of the configuration or of state (an address without a key), or a
/// planned or stored instance (with a key). An address that matches nothing
/// is an error naming the closest address there is, never a silent "No
/// changes".
fn check_target_addresses(
    env: &LoadedEnv,
    prior: &PriorState,
    changes: &[ResourceChange],
    opts: &PlanOptions,
) -> Result<(), EngineError> {
    if opts.targets.is_empty() && opts.replace.is_empty() {
        return Ok(());
    }
    let mut known: BTreeSet<String> = BTreeSet::new();
    for n in &env.nodes {
        if let NodeKind::Resource(a) = &n.kind {
            known.insert(a.block().to_string());
        }
    }
    for r in prior.resources.values() {
        known.insert(r.addr.to_string());
        known.insert(r.addr.block().to_string());
    }
    for c in changes {
        known.insert(c.addr.to_string());
    }
    let matches = |t: &ResourceAddr| {
        changes.iter().any(|c| target_matches(t, &c.addr))
            || prior.resources.values().any(|r| target_matches(t, &r.addr))
            || (t.key.is_none() && known.contains(&t.to_string()))
    };
    let mut problems = Vec::new();
    for (flag, list) in [("--target", &opts.targets), ("--replace", &opts.replace)] {
        for t in list.iter().filter(|t| !matches(t)) {
            let given = t.to_string();
            let hint = match closest_address(&given, &known) {
                Some(c) => format!("; the closest address is {c}"),
                None => "; the configuration and state have no resources".to_string(),
            };
            problems.push(format!(
                "{flag} {given}: no resource in the configuration or state of '{}' has this address{hint} (`terrace state list -e {}` lists the addresses in state)",
                env.name, env.name
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Other(problems.join("\n")))
    }
}

/// The `import` blocks of the root module whose `to` address has no
/// resource block (`plan --generate-config-out` writes one for them).
pub fn missing_import_targets(env: &LoadedEnv) -> Vec<&terrace_lang::ImportBlock> {
    env.config
        .root
        .imports
        .iter()
        .filter(|imp| {
            imp.to.mode == ResourceMode::Managed
                && env
                    .evaluator
                    .attribute_range(&imp.to.block(), &Vec::new())
                    .is_none()
        })
        .collect()
}

/// Terraform's error for an import into an address with no resource block.
fn missing_import_config(to: &str, range: Option<terrace_core::SourceRange>) -> Diagnostic {
    let block = to.parse::<ResourceAddr>().ok();
    let (ty, name) = block
        .as_ref()
        .map(|b| (b.type_name.as_str(), b.name.as_str()))
        .unwrap_or(("TYPE", "NAME"));
    Diagnostic::error(
        "Configuration for import target does not exist",
        format!(
            "The configuration for the given import target {to} does not exist. All target instances must have an associated configuration to be imported. Add a resource block for it, e.g. `resource \"{ty}\" \"{name}\" {{ … }}`, or let `terrace plan --generate-config-out=FILE` write one for an import block."
        ),
    )
    .at(range)
}

fn type_of(addr: &str) -> String {
    addr.parse::<ResourceAddr>()
        .map(|a| a.type_name)
        .unwrap_or_default()
}

/// The known address nearest to `given` (edit distance, then name order).
fn closest_address<'a>(given: &str, known: &'a BTreeSet<String>) -> Option<&'a str> {
    known
        .iter()
        .min_by_key(|k| strsim::levenshtein(given, k))
        .map(String::as_str)
}

fn filter_targets(env: &LoadedEnv, plan: &mut Plan, targets: &[ResourceAddr]) {
    if targets.is_empty() {
        return;
    }
    // Targets plus everything they depend on.
    let roots: Vec<_> = env
        .graph
        .node_indices()
        .filter(|ix| match &env.node(*ix).kind {
            NodeKind::Resource(a) => targets.iter().any(|t| t.block() == a.block()),
            _ => false,
        })
        .collect();
    let keep = env.graph.with_dependencies(&roots);
    let blocks: HashSet<ResourceAddr> = keep
        .into_iter()
        .filter_map(|ix| match &env.node(ix).kind {
            NodeKind::Resource(a) => Some(a.block()),
            _ => None,
        })
        .collect();
    plan.changes.retain(|c| {
        let direct = targets.iter().any(|t| target_matches(t, &c.addr));
        let dependency = blocks.contains(&c.addr.block())
            && !targets.iter().any(|t| t.block() == c.addr.block());
        direct || dependency
    });
}

struct PlanWalk<'a> {
    engine: &'a Engine,
    env: &'a LoadedEnv,
    providers: &'a Providers,
    prior: &'a PriorState,
    /// Refreshed objects not yet planned: each is taken out by its change.
    refreshed: std::sync::Mutex<BTreeMap<String, Option<Value>>>,
    /// (type, id) → the addresses whose stored object it is; set before
    /// the walk takes the objects, when something is imported (only
    /// imports ask).
    stored_ids: std::sync::OnceLock<HashMap<(String, String), Vec<String>>>,
    opts: &'a PlanOptions,
    moved: &'a BTreeMap<String, String>,
}

impl PlanWalk<'_> {
    async fn run(&self) -> Result<(Vec<ResourceChange>, ValueTable), EngineError> {
        let env = self.env;
        let order = env.graph.topo_order().map_err(|cycles| {
            EngineError::Other(format!(
                "dependency cycle: {}",
                cycles
                    .iter()
                    .map(|c| c.join(" → "))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        let res_deps = resource_dependencies(env);
        // State addresses by block, built once: looking them up per block
        // by scanning all of state made planning quadratic. Only blocks
        // something depends on are looked up (a flat configuration of
        // 100,000 blocks has none, and the index cost 22 MiB there).
        let depended_on: HashSet<BlockKey> = res_deps.values().flatten().map(block_key).collect();
        let mut prior_by_block: HashMap<ResourceAddr, Vec<&str>> = HashMap::new();
        if !depended_on.is_empty() {
            for (addr, r) in &self.prior.resources {
                if depended_on.contains(&block_key(&r.addr)) {
                    prior_by_block
                        .entry(r.addr.block())
                        .or_default()
                        .push(addr.as_str());
                }
            }
        }
        let imports = self.import_ids()?;
        if !imports.is_empty() {
            let _ = self.stored_ids.set(self.index_stored_ids());
        }
        // One entry per block (per module instance): reserved at the stored
        // count of them, so the table is not rehashed while the walk is at
        // its largest (growing it held the old and the new table at once).
        let table = ValueTable::with_capacity(self.prior.block_count());
        let mut diags = Diagnostics::new();
        // About one change per stored instance: reserved once instead of
        // doubling (a 100,000-instance plan left 31,072 unused slots).
        let mut changes: Vec<ResourceChange> = Vec::with_capacity(self.prior.resources.len());
        let mut seen: HashSet<String> = HashSet::with_capacity(self.prior.resources.len());
        // Blocks with a pending (non-no-op) change: data sources depending on
        // them are read during apply.
        let mut changing_blocks: HashSet<ResourceAddr> = HashSet::new();

        for ix in order {
            let node = env.node(ix);
            match &node.kind {
                NodeKind::Resource(block) => {
                    let instances = match env.evaluator.expand_resource(node, &table) {
                        Ok(i) => i,
                        Err(d) => {
                            diags.extend(d);
                            continue;
                        }
                    };
                    if instances.is_empty() {
                        table.declare_empty(block);
                    }
                    let deps = res_deps
                        .get(env.graph.payload(ix))
                        .cloned()
                        .unwrap_or_default();
                    let dep_addrs = instance_addresses(&prior_by_block, &deps);
                    let deps_changing = deps.iter().any(|d| changing_blocks.contains(&d.block()));
                    for inst in instances {
                        let addr_s = inst.addr.to_string();
                        seen.insert(addr_s.clone());
                        let result = match inst.addr.mode {
                            ResourceMode::Managed => {
                                self.plan_managed(&inst, &addr_s, &dep_addrs, &imports, &changes)
                                    .await
                            }
                            ResourceMode::Data => {
                                self.plan_data(&inst, &addr_s, &dep_addrs, deps_changing)
                                    .await
                            }
                        };
                        match result {
                            Ok(change) => {
                                if let Some(after) = &change.after {
                                    table.set(&inst.addr, after.clone());
                                    // Postconditions on what is known now;
                                    // unknown parts are checked after apply.
                                    if let Err(d) = env
                                        .evaluator
                                        .check_postconditions(&inst.addr, after, &table)
                                    {
                                        diags.extend(d);
                                        continue;
                                    }
                                }
                                if change.action != Action::NoOp {
                                    changing_blocks.insert(inst.addr.block());
                                }
                                changes.push(change);
                            }
                            Err(d) => diags.push(d),
                        }
                    }
                }
                _ => {
                    if let Err(d) = env.evaluator.eval_node(node, &table) {
                        diags.extend(d);
                    }
                }
            }
        }

        // Every import target must be an instance of the configuration.
        for (to, (_, range)) in &imports {
            if !seen.contains(to) {
                diags.push(
                    Diagnostic::error(
                        "Configuration for import target does not exist",
                        format!("The configuration has no {to} to import into. Add a resource block for it (with count or for_each giving that key), or fix the import block's to."),
                    )
                    .at(Some(range.clone())),
                );
            }
        }

        // Orphans: in state, no longer in configuration.
        let protected = protected_blocks(env);
        for (addr, r) in &self.prior.resources {
            if seen.contains(addr) {
                continue;
            }
            if r.addr.mode == ResourceMode::Data {
                continue; // data sources just leave state
            }
            let Some(before) = self
                .take_refreshed(addr)
                .unwrap_or_else(|| Some(r.value.clone()))
            else {
                continue; // already gone outside terrace
            };
            let forget = removed_rule(env, &r.addr).is_some_and(|b| !b.destroy);
            if !forget && let Some(range) = protected.get(&r.addr.block()) {
                diags.push(prevent_destroy_diag(addr, range.clone()));
                continue;
            }
            changes.push(ResourceChange {
                addr: r.addr.clone(),
                provider: r.record.provider.clone(),
                action: if forget {
                    Action::Forget
                } else {
                    Action::Delete
                },
                before: Some(before),
                after: None,
                replace_paths: vec![],
                reason: (!forget).then(|| orphan_reason(env, &r.addr)),
                dependencies: r.record.dependencies.clone(),
                import_id: None,
                moved_from: self.moved.get(addr).cloned(),
            });
        }
        if diags.has_errors() {
            return Err(EngineError::config(diags, env.sources.clone()));
        }
        drop(seen);
        drop(prior_by_block);
        // Addresses are unique, so an unstable sort orders the same; it
        // needs no buffer (a stable one took half the list's size again).
        changes.sort_unstable_by(|a, b| a.addr.cmp(&b.addr));
        Ok((changes, table))
    }

    /// Import IDs by target address, with the import block's range. Two
    /// imports of one object into two addresses are refused here.
    fn import_ids(
        &self,
    ) -> Result<BTreeMap<String, (String, terrace_core::SourceRange)>, EngineError> {
        let table = ValueTable::new();
        let mut out: BTreeMap<String, (String, terrace_core::SourceRange)> = BTreeMap::new();
        let mut by_object: HashMap<(String, String), String> = HashMap::new();
        let mut diags = Diagnostics::new();
        for imp in missing_import_targets(self.env) {
            diags.push(missing_import_config(
                &imp.to.to_string(),
                Some(imp.range.clone()),
            ));
        }
        for imp in &self.env.config.root.imports {
            let targets = match self.env.evaluator.import_targets(imp, &table) {
                Ok(t) => t,
                Err(d) => {
                    diags.extend(d);
                    continue;
                }
            };
            for (to_addr, id) in targets {
                let Some(id) = id.as_str().map(str::to_string) else {
                    diags.push(
                        terrace_core::Diagnostic::error(
                            "Invalid import id",
                            format!(
                                "The id of the import into {to_addr} must be a known string, not {}.",
                                id.type_name()
                            ),
                        )
                        .at(Some(imp.id_range())),
                    );
                    continue;
                };
                let to = to_addr.to_string();
                if out.contains_key(&to) {
                    diags.push(
                        terrace_core::Diagnostic::error(
                            "Duplicate import configuration",
                            format!("More than one import imports into {to}; each instance can be imported once. Give each for_each element its own key in to."),
                        )
                        .at(Some(imp.range.clone())),
                    );
                    continue;
                }
                if let Some(first) = by_object.get(&(to_addr.type_name.clone(), id.clone()))
                    && first != &to
                {
                    diags.push(
                        terrace_core::Diagnostic::error(
                            "Duplicate import of one object",
                            format!(
                                "{to} and {first} both import the {} with ID {id:?}; two addresses must not manage one object (deleting either would delete the other's object). Remove one of the import blocks.",
                                to_addr.type_name
                            ),
                        )
                        .at(Some(imp.range.clone())),
                    );
                    continue;
                }
                by_object.insert((to_addr.type_name.clone(), id.clone()), to.clone());
                out.insert(to, (id, imp.range.clone()));
            }
        }
        // `terrace import ADDR ID`: as an import block at the resource block.
        for (to, id) in &self.opts.imports {
            let Some(range) = self.env.evaluator.attribute_range(&to.block(), &Vec::new()) else {
                diags.push(missing_import_config(&to.to_string(), None));
                continue;
            };
            let to = to.to_string();
            if let Some(first) = by_object.get(&(type_of(&to), id.clone()))
                && first != &to
            {
                diags.push(terrace_core::Diagnostic::error(
                    "Duplicate import of one object",
                    format!("{to} and {first} both import the object with ID {id:?}; two addresses must not manage one object. Import it into one address only."),
                ));
                continue;
            }
            out.insert(to, (id.clone(), range));
        }
        if diags.has_errors() {
            return Err(EngineError::config(diags, self.env.sources.clone()));
        }
        Ok(out)
    }

    /// Take `addr`'s refreshed object out (`None`: not refreshed; `Some(None)`: gone).
    fn take_refreshed(&self, addr: &str) -> Option<Option<Value>> {
        self.refreshed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(addr)
    }

    /// Every managed instance's object id in state (refreshed where it was).
    fn index_stored_ids(&self) -> HashMap<(String, String), Vec<String>> {
        let refreshed = self
            .refreshed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: HashMap<(String, String), Vec<String>> = HashMap::new();
        for (a, r) in &self.prior.resources {
            if r.addr.mode != ResourceMode::Managed {
                continue;
            }
            let stored = match refreshed.get(a.as_str()) {
                Some(Some(v)) => v,
                _ => &r.value,
            };
            if let Some(id) = stored.get("id").and_then(Value::as_str) {
                out.entry((r.addr.type_name.clone(), id.to_string()))
                    .or_default()
                    .push(a.clone());
            }
        }
        out
    }

    /// The address other than `addr_s` whose state record holds the object
    /// `obj` of type `type_name` (same `id`), if any.
    fn managed_elsewhere(&self, type_name: &str, addr_s: &str, obj: &Value) -> Option<String> {
        let id = obj.get("id").and_then(Value::as_str)?;
        self.stored_ids
            .get()?
            .get(&(type_name.to_string(), id.to_string()))?
            .iter()
            .find(|a| a.as_str() != addr_s)
            .cloned()
    }

    async fn plan_managed(
        &self,
        inst: &ResourceInstanceConfig,
        addr_s: &str,
        dep_addrs: &[String],
        imports: &BTreeMap<String, (String, terrace_core::SourceRange)>,
        so_far: &[ResourceChange],
    ) -> Result<ResourceChange, Diagnostic> {
        let env = self.env;
        let pkey = provider_key(&inst.provider);
        let provider = self.providers.get(&pkey).ok_or_else(|| {
            Diagnostic::error(
                "Provider not configured",
                format!("{addr_s} uses provider {pkey}, which is not configured."),
            )
            .at(Some(inst.range.clone()))
        })?;
        let mut before: Option<Value> = self.take_refreshed(addr_s).flatten();
        let mut import_id = None;
        if before.is_none()
            && let Some((id, import_range)) = imports.get(addr_s)
        {
            match provider.import(&inst.addr.type_name, id).await {
                Ok(Some(v)) => {
                    if let Some(owner) = self.managed_elsewhere(&inst.addr.type_name, addr_s, &v) {
                        return Err(Diagnostic::error(
                            "Resource already managed by terrace",
                            format!(
                                "Cannot import {id:?} into {addr_s}: that object is already managed by {owner}. Two addresses must not manage one object (deleting either would delete the other's object). Remove the import block, or move the object with a `moved {{ from = {owner} to = {addr_s} }}` block instead."
                            ),
                        )
                        .at(Some(import_range.clone())));
                    }
                    before = Some(self.engine.conform(
                        ResourceMode::Managed,
                        &inst.provider.name,
                        &inst.addr.type_name,
                        v,
                    ));
                    import_id = Some(id.clone());
                }
                Ok(None) => {
                    return Err(Diagnostic::error(
                        "Cannot import non-existent remote object",
                        format!("While attempting to import {addr_s} with ID {id:?}, the provider found no such object. Check the ID."),
                    )
                    .at(Some(inst.range.clone())));
                }
                Err(e) => {
                    return Err(Diagnostic::error("Import failed", format!("{addr_s}: {e}"))
                        .at(Some(inst.range.clone())));
                }
            }
        }
        let ctx = ResourceContext {
            environment: env.name.clone(),
            address: addr_s.to_string(),
        };
        let planned = provider
            .plan_resource(&inst.addr.type_name, before.as_ref(), &inst.config, &ctx)
            .map_err(|e| provider_diag(env, inst, "Invalid resource configuration", &e))?;
        let mut after = crate::values::carry_sensitive(&inst.config, planned.planned);
        let mut replace_paths = planned.requires_replace;
        if let Some(prior) = &before {
            match &inst.lifecycle.ignore_changes {
                IgnoreChanges::None => {}
                IgnoreChanges::All => {
                    after = keep_prior_configurable(prior, &after);
                    replace_paths.clear();
                }
                IgnoreChanges::Paths(paths) => {
                    // `tags_all` is derived from `tags`: ignoring one ignores both.
                    let mut paths = paths.clone();
                    for p in paths.clone() {
                        if p.first() == Some(&PathStep::Key("tags".into())) {
                            let mut q = p.clone();
                            q[0] = PathStep::Key("tags_all".into());
                            paths.push(q);
                        }
                    }
                    let paths = &paths;
                    for p in paths {
                        after = set_path(after, p, prior.get_path(p).cloned());
                    }
                    replace_paths.retain(|rp| !paths.iter().any(|p| rp.starts_with(p)));
                }
            }
        }
        let forced = self
            .opts
            .replace
            .iter()
            .any(|t| target_matches(t, &inst.addr));
        let triggered = before.is_some()
            && (inst.replace_triggers.iter().any(|t| !t.is_wholly_known())
                || replace_trigger_changed(inst, so_far));
        let (action, reason) = match &before {
            None => (Action::Create, None),
            Some(prior) => {
                if !replace_paths.is_empty() || forced || triggered {
                    let reason = if forced {
                        "replace_by_request"
                    } else if triggered {
                        "replace_by_triggers"
                    } else {
                        "replace_because_cannot_update"
                    };
                    let a = if inst.lifecycle.create_before_destroy {
                        Action::CreateThenDelete
                    } else {
                        Action::DeleteThenCreate
                    };
                    if inst.lifecycle.prevent_destroy {
                        return Err(prevent_destroy_diag(addr_s, Some(inst.range.clone())));
                    }
                    (a, Some(reason.to_string()))
                } else if equal_ignoring_marks(prior, &after) {
                    // Keep the prior's marks merged with the plan's.
                    (Action::NoOp, None)
                } else {
                    (Action::Update, None)
                }
            }
        };
        if (forced || triggered) && replace_paths.is_empty() && action.is_replace() {
            // Replacement makes everything computed unknown again.
            let fresh = provider
                .plan_resource(&inst.addr.type_name, None, &inst.config, &ctx)
                .map_err(|e| provider_diag(env, inst, "Invalid resource configuration", &e))?;
            after = crate::values::carry_sensitive(&inst.config, fresh.planned);
        }
        // A no-op plans the object it already has: keep that one, so the
        // change's before and after, the value table and the block's
        // aggregate all share one map instead of holding equal copies.
        if action == Action::NoOp
            && let Some(prior) = &before
            && after == *prior
        {
            after = prior.clone();
        }
        let mut dependencies: Vec<String> = dep_addrs.to_vec();
        for d in &inst.depends_on {
            dependencies.push(d.to_string());
        }
        dependencies.sort();
        dependencies.dedup();
        Ok(ResourceChange {
            addr: inst.addr.clone(),
            provider: pkey,
            action,
            before,
            after: Some(after),
            replace_paths,
            reason,
            dependencies,
            import_id,
            moved_from: self.moved.get(addr_s).cloned(),
        })
    }

    async fn plan_data(
        &self,
        inst: &ResourceInstanceConfig,
        addr_s: &str,
        dep_addrs: &[String],
        deps_changing: bool,
    ) -> Result<ResourceChange, Diagnostic> {
        let env = self.env;
        let pkey = provider_key(&inst.provider);
        let provider = self.providers.get(&pkey).ok_or_else(|| {
            Diagnostic::error(
                "Provider not configured",
                format!("{addr_s} uses provider {pkey}, which is not configured."),
            )
            .at(Some(inst.range.clone()))
        })?;
        let schema = self.engine.type_schema(
            ResourceMode::Data,
            &inst.provider.name,
            &inst.addr.type_name,
        );
        if inst.config.is_wholly_known() && !deps_changing {
            let v = with_retries(|| provider.read_data(&inst.addr.type_name, &inst.config))
                .await
                .map_err(|e| provider_diag(env, inst, "Error reading data source", &e))?;
            let v = match schema {
                Some(s) => conform_to_schema(s, v),
                None => v,
            };
            return Ok(ResourceChange {
                addr: inst.addr.clone(),
                provider: pkey,
                action: Action::NoOp,
                before: None,
                after: Some(v),
                replace_paths: vec![],
                reason: None,
                dependencies: dep_addrs.to_vec(),
                import_id: None,
                moved_from: None,
            });
        }
        let after = match schema {
            Some(s) => terrace_provider::plan_with_schema(s, None, &inst.config).planned,
            None => Value::Unknown,
        };
        Ok(ResourceChange {
            addr: inst.addr.clone(),
            provider: pkey,
            action: Action::Read,
            before: None,
            after: Some(after),
            replace_paths: vec![],
            reason: Some(
                if deps_changing {
                    "read_because_dependency_pending"
                } else {
                    "read_because_config_unknown"
                }
                .into(),
            ),
            dependencies: dep_addrs.to_vec(),
            import_id: None,
            moved_from: None,
        })
    }
}

/// Every instance address (from state and from this plan) of these blocks;
/// `prior_by_block` holds state's addresses grouped by block.
fn instance_addresses(
    prior_by_block: &HashMap<ResourceAddr, Vec<&str>>,
    blocks: &[ResourceAddr],
) -> Vec<String> {
    let mut out = Vec::new();
    for b in blocks {
        if let Some(addrs) = prior_by_block.get(b) {
            out.extend(addrs.iter().map(|a| a.to_string()));
        }
        out.push(b.to_string());
    }
    out.sort();
    out.dedup();
    out
}

/// `replace_triggered_by`: does a referenced resource have a planned change?
/// A whole-resource reference fires on any change (create, update, replace,
/// delete); an attribute reference fires when that attribute's planned value
/// differs from its prior one. (Unknown planned values fire in the caller.)
fn replace_trigger_changed(inst: &ResourceInstanceConfig, so_far: &[ResourceChange]) -> bool {
    inst.lifecycle
        .replace_triggered_by
        .iter()
        .enumerate()
        .any(|(i, trigger)| {
            let Some(target) = &trigger.resource else {
                return false;
            };
            let target = target.clone().in_module(inst.addr.module.clone());
            let prefix = format!("{}.{}", target.type_name, target.name);
            let mut rest = trigger.text.trim().strip_prefix(&prefix).unwrap_or("");
            if rest.starts_with('[') {
                rest = rest.find(']').map_or("", |end| &rest[end + 1..]);
            }
            let path: Option<ValuePath> = rest
                .split('.')
                .filter(|s| !s.is_empty())
                .map(|s| (!s.contains('[')).then(|| PathStep::Key(s.to_string())))
                .collect();
            so_far
                .iter()
                .filter(|c| target_matches(&target, &c.addr))
                .any(|c| {
                    if matches!(c.action, Action::NoOp | Action::Read) {
                        return false;
                    }
                    match (&path, c.before.as_ref(), inst.replace_triggers.get(i)) {
                        (Some(p), Some(before), Some(now)) if !p.is_empty() => before
                            .get_path(p)
                            .is_none_or(|b| !equal_ignoring_marks(b, now)),
                        _ => true,
                    }
                })
        })
}

/// The `removed` block that covers a state address, if any: one naming its
/// resource, or a module it is in (module instance keys aside). A block in
/// an outer module wins over one in the module itself, as in Terraform.
pub(crate) fn removed_rule<'a>(
    env: &'a LoadedEnv,
    addr: &ResourceAddr,
) -> Option<&'a terrace_lang::RemovedBlock> {
    let path: Vec<&str> = addr.module.0.iter().map(|(n, _)| n.as_str()).collect();
    for module in env.config.modules() {
        for b in &module.removed {
            let mut full: Vec<&str> = module.path.iter().map(String::as_str).collect();
            let hit = match &b.from {
                terrace_lang::MoveEndpoint::Resource(a) => {
                    full.extend(a.module.0.iter().map(|(n, _)| n.as_str()));
                    full == path
                        && a.mode == addr.mode
                        && a.type_name == addr.type_name
                        && a.name == addr.name
                }
                terrace_lang::MoveEndpoint::Module(mi) => {
                    full.extend(mi.0.iter().map(|(n, _)| n.as_str()));
                    path.starts_with(&full)
                }
            };
            if hit {
                return Some(b);
            }
        }
    }
    None
}

fn orphan_reason(env: &LoadedEnv, addr: &ResourceAddr) -> String {
    let block_exists = env
        .nodes
        .iter()
        .any(|n| matches!(&n.kind, NodeKind::Resource(a) if a.block() == addr.block()));
    if !block_exists {
        "delete_because_no_resource_config".into()
    } else if addr.key.is_some() {
        "delete_because_count_index".into()
    } else {
        "delete_because_no_resource_config".into()
    }
}

/// A provider error as a diagnostic at the resource (or the attribute it names).
pub fn provider_diag(
    env: &LoadedEnv,
    inst: &ResourceInstanceConfig,
    summary: &str,
    e: &ProviderError,
) -> Diagnostic {
    let range = match e {
        ProviderError::InvalidArgument { path: Some(p), .. } => env
            .evaluator
            .attribute_range(&inst.addr, p)
            .or_else(|| Some(inst.range.clone())),
        _ => Some(inst.range.clone()),
    };
    Diagnostic::error(summary, format!("{}: {e}", inst.addr)).at(range)
}

/// `ignore_changes = all`: keep every prior value the configuration could change.
fn keep_prior_configurable(prior: &Value, planned: &Value) -> Value {
    match (prior.as_map(), planned.as_map()) {
        (Some(p), Some(n)) => {
            let mut out = n.clone();
            for (k, v) in p {
                out.insert(k.clone(), v.clone());
            }
            Value::Map(out.into())
        }
        _ => prior.clone(),
    }
}

/// Set `path` in `v` to `new` (removing it when `None`); missing parents are left alone.
fn set_path(v: Value, path: &ValuePath, new: Option<Value>) -> Value {
    let Some((first, rest)) = path.split_first() else {
        return new.unwrap_or(Value::Null);
    };
    let (v, marked) = v.into_unmarked();
    let out = match (first, v) {
        (PathStep::Key(k), Value::Map(mut m)) => {
            if rest.is_empty() {
                match new {
                    Some(n) => {
                        m.insert(k.clone(), n);
                    }
                    None => {
                        m.insert(k.clone(), Value::Null);
                    }
                }
            } else if let Some(child) = m.remove(k) {
                m.insert(k.clone(), set_path(child, &rest.to_vec(), new));
            }
            Value::Map(m)
        }
        (PathStep::Index(i), Value::List(mut xs)) => {
            if *i < xs.len() {
                let child = std::mem::replace(&mut xs[*i], Value::Null);
                xs[*i] = set_path(child, &rest.to_vec(), new);
            }
            Value::List(xs)
        }
        (_, other) => other,
    };
    out.mark_if(marked)
}

/// Convenience for callers that need graph nodes by id.
pub fn node_by_id<'a>(env: &'a LoadedEnv, id: &str) -> Option<&'a GraphNode> {
    env.graph.index(id).map(|ix| env.node(ix))
}
