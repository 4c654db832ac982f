//! Test fixture for the engine suite: an in-process provider named `test`
//! backed by an in-memory fake cloud, and a harness that builds an
//! [`Engine`] (test provider + built-in `terraform` provider + SQLite state
//! in a temporary directory) and drives it the way the CLI does.
//!
//! This is test scaffolding only; it is not part of terrace.

#![allow(dead_code)]

use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use terrace_core::Value;
use terrace_engine::apply::{ApplyObserver, ApplyOptions};
use terrace_engine::builtin::BuiltinFactory;
use terrace_engine::ops::{self, ApplyOutcome, ApplyRequest, EnvTarget};
use terrace_engine::{
    Action, Engine, EngineError, LoadOptions, LoadedEnv, Plan, PlanOptions, Providers,
};
use terrace_provider::{
    AttrType, Attribute, CreateContext, Provider, ProviderError, ProviderFactory, ProviderSchema,
    ResourceContext, Schema,
};
use terrace_state::{Intent, State, StoreOptions};

/// The environment every test uses.
pub const ENV: &str = "dev";

// ---- the fake cloud --------------------------------------------------------

/// One object in the fake cloud.
#[derive(Debug, Clone)]
pub struct Obj {
    pub type_name: String,
    /// The object as the API returns it (no sensitive marks).
    pub value: Value,
    /// The idempotency token of the create that made it.
    pub token: String,
    /// Ownership marker: environment and address of the creator.
    pub env: String,
    pub address: String,
}

/// The mutable world of the fake cloud, plus injected failures.
#[derive(Debug, Default)]
pub struct CloudState {
    /// Objects by id.
    pub objects: BTreeMap<String, Obj>,
    /// What happened, in order: `create test_thing.a thing-a-1`, `delete …`.
    pub events: Vec<String>,
    /// Calls per operation (`test:Create`, `test:ReadBatch`, …).
    pub calls: BTreeMap<String, u64>,
    /// Per object name, how many objects with that name were created (ids are
    /// derived from it, so they do not depend on scheduling).
    generations: BTreeMap<String, u64>,
    /// Creates of objects with these names fail.
    pub fail_create: BTreeSet<String>,
    /// Creates of objects with these names make the object, then report a
    /// timeout (once per name): the engine never learns the object exists.
    pub lose_create_result: BTreeSet<String>,
    /// Creates of objects with these names make the object, then fail on a
    /// later call (a multi-call create: a rule, an attribute, tagging) with
    /// an argument error that does not say the object exists.
    pub partial_create: BTreeSet<String>,
    /// Creates of objects with these names make nothing and report that
    /// their answer was lost (`ProviderError::Unconfirmed`).
    pub unconfirmed_create: BTreeSet<String>,
    /// `find_created` answers with the first object carrying the address
    /// (as the AWS provider's tag search does) instead of matching the
    /// token, and `list_owned` shows the `terrace:address` tag in `tags`.
    pub find_created_by_address: bool,
    /// Deletes of objects with these names fail with a Conflict this many more times.
    pub delete_conflicts: BTreeMap<String, usize>,
    /// The next N API calls (of any kind) are throttled.
    pub throttle: usize,
    /// Every create takes this long (a slow API).
    pub create_delay: Duration,
}

/// The in-memory cloud, shared by every provider instance of a test.
#[derive(Debug, Default)]
pub struct Cloud {
    inner: Mutex<CloudState>,
}

impl Cloud {
    pub fn lock(&self) -> MutexGuard<'_, CloudState> {
        self.inner.lock().expect("fake cloud")
    }

    pub fn events(&self) -> Vec<String> {
        self.lock().events.clone()
    }

    pub fn clear_events(&self) {
        self.lock().events.clear();
    }

    pub fn calls(&self, op: &str) -> u64 {
        self.lock()
            .calls
            .get(&format!("test:{op}"))
            .copied()
            .unwrap_or(0)
    }

    /// Objects whose `name` attribute is `name`.
    pub fn named(&self, name: &str) -> Vec<Obj> {
        self.lock()
            .objects
            .values()
            .filter(|o| o.value.get("name").and_then(Value::as_str) == Some(name))
            .cloned()
            .collect()
    }

    /// The one object named `name` (panics if there is not exactly one).
    pub fn one(&self, name: &str) -> Obj {
        let found = self.named(name);
        assert_eq!(
            found.len(),
            1,
            "expected exactly one object named {name}, found {found:?}"
        );
        found.into_iter().next().expect("one object")
    }

    pub fn count(&self) -> usize {
        self.lock().objects.len()
    }

    /// Put an object into the cloud directly (made outside terrace).
    pub fn insert(
        &self,
        type_name: &str,
        id: &str,
        value: Value,
        token: &str,
        env: &str,
        address: &str,
    ) {
        let mut value = value;
        if let Some(m) = value.as_map_mut() {
            m.insert("id".into(), Value::from(id));
        }
        self.lock().objects.insert(
            id.to_string(),
            Obj {
                type_name: type_name.into(),
                value,
                token: token.into(),
                env: env.into(),
                address: address.into(),
            },
        );
    }

    /// Remove an object directly (deleted outside terrace).
    pub fn remove(&self, id: &str) -> Option<Obj> {
        self.lock().objects.remove(id)
    }

    fn call(&self, op: &str) -> Result<(), ProviderError> {
        let mut g = self.lock();
        *g.calls.entry(format!("test:{op}")).or_default() += 1;
        if g.throttle > 0 {
            g.throttle -= 1;
            return Err(ProviderError::Throttled {
                code: "Throttling".into(),
                message: "Rate exceeded".into(),
            });
        }
        Ok(())
    }
}

/// A full `test_thing` object as the API would return it.
pub fn thing_value(name: &str, size: Option<f64>, zone: &str) -> Value {
    Value::map([
        ("id", Value::Null),
        ("arn", Value::Null),
        ("name", Value::from(name)),
        ("size", size.map(Value::from).unwrap_or(Value::Null)),
        ("zone", Value::from(zone)),
        ("description", Value::Null),
        ("password", Value::Null),
        ("tags", Value::Null),
        ("rule", Value::List(vec![])),
    ])
}

// ---- the provider ----------------------------------------------------------

fn schema() -> &'static ProviderSchema {
    static SCHEMA: OnceLock<ProviderSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut s = ProviderSchema::default();
        s.resources.insert(
            "test_thing".into(),
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("arn", Attribute::computed(AttrType::String))
                .attr("name", Attribute::required(AttrType::String))
                .attr("size", Attribute::optional(AttrType::Number))
                .attr(
                    "zone",
                    Attribute::optional(AttrType::String)
                        .force_new()
                        .default("a"),
                )
                .attr("description", Attribute::optional(AttrType::String))
                .attr(
                    "password",
                    Attribute::optional(AttrType::String).sensitive(),
                )
                .attr(
                    "tags",
                    Attribute::optional(AttrType::map_of(AttrType::String)),
                )
                .list_block(
                    "rule",
                    0,
                    0,
                    Schema::new()
                        .attr("port", Attribute::required(AttrType::Number))
                        .attr(
                            "protocol",
                            Attribute::optional(AttrType::String).default("tcp"),
                        ),
                ),
        );
        s.data_sources.insert(
            "test_lookup".into(),
            Schema::new()
                .attr("name", Attribute::required(AttrType::String))
                .attr("id", Attribute::computed(AttrType::String))
                .attr("value", Attribute::computed(AttrType::String)),
        );
        s
    })
}

/// Factory of the `test` provider.
pub struct TestProviderFactory {
    pub cloud: Arc<Cloud>,
}

#[async_trait]
impl ProviderFactory for TestProviderFactory {
    fn name(&self) -> &str {
        "test"
    }

    fn schema(&self) -> &ProviderSchema {
        schema()
    }

    async fn configure(
        &self,
        _config: &Value,
        _environment: &str,
    ) -> Result<Arc<dyn Provider>, ProviderError> {
        Ok(Arc::new(TestProvider {
            cloud: self.cloud.clone(),
        }))
    }
}

pub struct TestProvider {
    cloud: Arc<Cloud>,
}

fn id_of(v: &Value) -> Option<String> {
    v.get("id").and_then(Value::as_str).map(str::to_string)
}

fn name_of(v: &Value) -> String {
    v.get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[async_trait]
impl Provider for TestProvider {
    fn schema(&self) -> &ProviderSchema {
        schema()
    }

    async fn read_resources(
        &self,
        _type_name: &str,
        prior: &[Value],
    ) -> Result<Vec<Option<Value>>, ProviderError> {
        self.cloud.call("ReadBatch")?;
        let g = self.cloud.lock();
        Ok(prior
            .iter()
            .map(|p| {
                id_of(p)
                    .and_then(|id| g.objects.get(&id))
                    .map(|o| o.value.clone())
            })
            .collect())
    }

    async fn create(
        &self,
        type_name: &str,
        planned: &Value,
        ctx: &CreateContext,
    ) -> Result<Value, ProviderError> {
        self.cloud.call("Create")?;
        let delay = self.cloud.lock().create_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let (plain, _) = planned.clone().deep_unmark();
        assert!(
            plain.as_map().is_some_and(|m| m
                .iter()
                .all(|(k, v)| (k == "id" || k == "arn") || v.is_wholly_known())),
            "create of {} got unknown configuration: {plain:?}",
            ctx.resource.address
        );
        let name = name_of(&plain);
        let mut g = self.cloud.lock();
        if g.unconfirmed_create.contains(&name) {
            g.events
                .push(format!("create-unconfirmed {}", ctx.resource.address));
            return Err(ProviderError::Unconfirmed {
                code: "InternalError".into(),
                message: format!("connection reset while creating {name}"),
            });
        }
        if g.fail_create.contains(&name) {
            g.events
                .push(format!("create-failed {}", ctx.resource.address));
            return Err(ProviderError::Api {
                code: "InvalidParameterValue".into(),
                message: format!("cannot create {name}"),
            });
        }
        let generation = {
            let n = g.generations.entry(name.clone()).or_default();
            *n += 1;
            *n
        };
        let id = format!("thing-{name}-{generation}");
        let mut value = plain;
        if let Some(m) = value.as_map_mut() {
            m.insert("id".into(), Value::from(id.as_str()));
            m.insert("arn".into(), Value::from(format!("arn:test:::{id}")));
        }
        g.objects.insert(
            id.clone(),
            Obj {
                type_name: type_name.into(),
                value: value.clone(),
                token: ctx.idempotency_token.clone(),
                env: ctx.resource.environment.clone(),
                address: ctx.resource.address.clone(),
            },
        );
        g.events
            .push(format!("create {} {id}", ctx.resource.address));
        if g.partial_create.contains(&name) {
            g.events
                .push(format!("create-partial {}", ctx.resource.address));
            return Err(ProviderError::InvalidArgument {
                path: None,
                code: "InvalidParameterValue".into(),
                message: format!("the second call of the create of {name} was refused"),
            });
        }
        if g.lose_create_result.remove(&name) {
            return Err(ProviderError::Timeout {
                what: format!("{name} to become ready"),
                after: Duration::from_secs(1),
            });
        }
        Ok(value)
    }

    async fn update(
        &self,
        _type_name: &str,
        prior: &Value,
        planned: &Value,
        ctx: &ResourceContext,
    ) -> Result<Value, ProviderError> {
        self.cloud.call("Update")?;
        let id = id_of(prior).ok_or_else(|| ProviderError::NotFound("no id".into()))?;
        let (mut value, _) = planned.clone().deep_unmark();
        let mut g = self.cloud.lock();
        let obj = g
            .objects
            .get_mut(&id)
            .ok_or_else(|| ProviderError::NotFound(id.clone()))?;
        if let Some(m) = value.as_map_mut() {
            m.insert("id".into(), Value::from(id.as_str()));
            m.insert(
                "arn".into(),
                obj.value.get("arn").cloned().unwrap_or(Value::Null),
            );
        }
        obj.value = value.clone();
        g.events.push(format!("update {} {id}", ctx.address));
        Ok(value)
    }

    async fn delete(&self, _type_name: &str, prior: &Value) -> Result<(), ProviderError> {
        self.cloud.call("Delete")?;
        let id = id_of(prior).ok_or_else(|| ProviderError::NotFound("no id".into()))?;
        let mut g = self.cloud.lock();
        let name = name_of(prior);
        if let Some(n) = g.delete_conflicts.get_mut(&name)
            && *n > 0
        {
            *n -= 1;
            g.events.push(format!("delete-conflict {id}"));
            return Err(ProviderError::Conflict {
                code: "DependencyViolation".into(),
                message: format!("{id} has a dependent object"),
            });
        }
        match g.objects.remove(&id) {
            Some(o) => {
                g.events.push(format!("delete {} {id}", o.address));
                Ok(())
            }
            None => Err(ProviderError::NotFound(id)),
        }
    }

    async fn import(&self, _type_name: &str, id: &str) -> Result<Option<Value>, ProviderError> {
        self.cloud.call("Import")?;
        Ok(self.cloud.lock().objects.get(id).map(|o| o.value.clone()))
    }

    async fn read_data(&self, _type_name: &str, config: &Value) -> Result<Value, ProviderError> {
        self.cloud.call("ReadData")?;
        let (plain, _) = config.clone().deep_unmark();
        let name = name_of(&plain);
        self.cloud.lock().events.push(format!("read {name}"));
        Ok(Value::map([
            ("name", Value::from(name.as_str())),
            ("id", Value::from(format!("lookup-{name}"))),
            ("value", Value::from(format!("value-of-{name}"))),
        ]))
    }

    async fn find_created(
        &self,
        _type_name: &str,
        token: &str,
        ctx: &ResourceContext,
    ) -> Result<Option<Value>, ProviderError> {
        self.cloud.call("FindCreated")?;
        let g = self.cloud.lock();
        if g.find_created_by_address {
            return Ok(g
                .objects
                .values()
                .find(|o| o.env == ctx.environment && o.address == ctx.address)
                .map(|o| o.value.clone()));
        }
        Ok(g.objects
            .values()
            .find(|o| o.token == token)
            .map(|o| o.value.clone()))
    }

    async fn list_owned(
        &self,
        type_name: &str,
        environment: &str,
    ) -> Result<Vec<Value>, ProviderError> {
        self.cloud.call("ListOwned")?;
        let g = self.cloud.lock();
        let show_address = g.find_created_by_address;
        Ok(g.objects
            .values()
            .filter(|o| o.type_name == type_name && o.env == environment)
            .map(|o| {
                let mut v = o.value.clone();
                if show_address && let Some(m) = v.as_map_mut() {
                    m.insert(
                        "tags".into(),
                        Value::map([("terrace:address", Value::from(o.address.as_str()))]),
                    );
                }
                v
            })
            .collect())
    }

    fn api_calls(&self) -> Vec<(String, u64)> {
        self.cloud
            .lock()
            .calls
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

// ---- observers -------------------------------------------------------------

/// Records progress; optionally cancels the run after the first completion.
#[derive(Default)]
pub struct Recorder {
    pub lines: Mutex<Vec<String>>,
    pub cancel_after_first: Option<terrace_graph::CancelFlag>,
}

impl ApplyObserver for Recorder {
    fn started(&self, address: &str, action: Action) {
        self.lines
            .lock()
            .unwrap()
            .push(format!("start {address} {action:?}"));
    }

    fn finished(
        &self,
        address: &str,
        action: Action,
        result: Result<(), &str>,
        _elapsed: Duration,
    ) {
        self.lines.lock().unwrap().push(format!(
            "finish {address} {action:?} {}",
            if result.is_ok() { "ok" } else { "err" }
        ));
        if let Some(c) = &self.cancel_after_first {
            c.cancel();
        }
    }

    fn note(&self, message: &str) {
        self.lines.lock().unwrap().push(format!("note {message}"));
    }
}

// ---- the harness -----------------------------------------------------------

/// A project in a temporary directory with one environment (`dev`).
pub struct Harness {
    pub root: tempfile::TempDir,
    pub env_dir: PathBuf,
    pub engine: Engine,
    pub cloud: Arc<Cloud>,
}

impl Harness {
    pub async fn new(config: &str) -> Harness {
        let root = tempfile::tempdir().expect("tempdir");
        let env_dir = root.path().join("environments").join(ENV);
        std::fs::create_dir_all(&env_dir).expect("env dir");
        let db = root.path().join("state").join("t.db");
        let store = terrace_state::open_store(
            &format!("sqlite:{}", db.display()),
            root.path(),
            StoreOptions::default(),
        )
        .await
        .expect("open sqlite store");
        let cloud = Arc::new(Cloud::default());
        let engine = Engine {
            store,
            factories: vec![
                Arc::new(TestProviderFactory {
                    cloud: cloud.clone(),
                }),
                Arc::new(BuiltinFactory),
            ],
            env_reader: Arc::new(|_| None),
            project_root: root.path().to_path_buf(),
            lock_timeout: Duration::from_secs(5),
            modules: Arc::new(terrace_lang::NoRemoteModules),
        };
        let h = Harness {
            root,
            env_dir,
            engine,
            cloud,
        };
        h.write_config(config);
        h
    }

    /// Replace the environment's configuration with `main.tf` = `config`.
    pub fn write_config(&self, config: &str) {
        std::fs::write(self.env_dir.join("main.tf"), config).expect("write main.tf");
    }

    pub fn target(&self) -> EnvTarget {
        EnvTarget {
            name: ENV.into(),
            dir: self.env_dir.clone(),
        }
    }

    pub fn load_options() -> LoadOptions {
        LoadOptions {
            vars: Default::default(),
            fixed_variables: None,
        }
    }

    pub fn load(&self) -> Result<LoadedEnv, EngineError> {
        terrace_engine::load_env(&self.engine, ENV, &self.env_dir, &Self::load_options())
    }

    pub async fn try_plan(
        &self,
        opts: PlanOptions,
    ) -> Result<(LoadedEnv, Plan, Providers), EngineError> {
        ops::plan(&self.engine, &self.target(), &Self::load_options(), &opts).await
    }

    /// A normal plan with refresh.
    pub async fn plan(&self) -> Plan {
        self.try_plan(refresh()).await.expect("plan").1
    }

    pub async fn try_apply_full(
        &self,
        plan_opts: PlanOptions,
        apply_opts: ApplyOptions,
        saved_plan: Option<Plan>,
        observer: &dyn ApplyObserver,
    ) -> Result<ApplyOutcome, EngineError> {
        let yes = |_: &Plan, _: &LoadedEnv| true;
        ops::apply(
            &self.engine,
            ApplyRequest {
                target: self.target(),
                load: Self::load_options(),
                plan_opts,
                saved_plan,
                apply_opts,
                confirm: &yes,
                observer,
            },
        )
        .await
    }

    pub async fn try_apply(&self, plan_opts: PlanOptions) -> Result<ApplyOutcome, EngineError> {
        self.try_apply_full(
            plan_opts,
            ApplyOptions::default(),
            None,
            &Recorder::default(),
        )
        .await
    }

    /// Apply (plan with refresh, then apply); panics on engine errors, but
    /// resource failures are in the report.
    pub async fn apply(&self) -> ApplyOutcome {
        self.try_apply(refresh()).await.expect("apply")
    }

    /// Apply and insist that every resource succeeded.
    pub async fn apply_ok(&self) -> ApplyOutcome {
        let out = self.apply().await;
        assert!(
            out.report.failures.is_empty(),
            "apply failed: {:?}",
            out.report.failures
        );
        assert!(!out.report.cancelled);
        out
    }

    pub async fn state(&self) -> State {
        self.engine
            .store
            .read(ENV)
            .await
            .expect("read state")
            .expect("state exists")
    }

    /// The attributes of `address` in stored state.
    pub async fn attrs(&self, address: &str) -> serde_json::Value {
        self.state()
            .await
            .resource(address)
            .unwrap_or_else(|| panic!("{address} not in state"))
            .attributes
            .as_ref()
            .clone()
    }

    pub async fn pending(&self) -> Vec<Intent> {
        self.engine
            .store
            .journal_pending(ENV)
            .await
            .expect("journal")
    }
}

/// Plan options of a plain `terrace plan`.
pub fn refresh() -> PlanOptions {
    PlanOptions {
        refresh: true,
        ..Default::default()
    }
}

pub fn addr(s: &str) -> terrace_core::ResourceAddr {
    s.parse().unwrap_or_else(|e| panic!("address {s}: {e}"))
}

/// The change of `address` in `plan`.
pub fn change<'a>(plan: &'a Plan, address: &str) -> &'a terrace_engine::ResourceChange {
    plan.changes
        .iter()
        .find(|c| c.address() == address)
        .unwrap_or_else(|| {
            panic!(
                "no change for {address} in {:?}",
                plan.changes.iter().map(|c| c.address()).collect::<Vec<_>>()
            )
        })
}

pub fn action(plan: &Plan, address: &str) -> Action {
    change(plan, address).action
}

/// A compact, stable text of a plan's changes: one line per instance.
pub fn summary(plan: &Plan) -> String {
    let mut out = String::new();
    for c in &plan.changes {
        let mut line = format!("{:<4}{} ({:?})", c.action.symbol(), c.address(), c.action);
        if !c.replace_paths.is_empty() {
            let paths: Vec<String> = c
                .replace_paths
                .iter()
                .map(|p| terrace_core::value::path_to_string(p))
                .collect();
            line.push_str(&format!(" replace_paths=[{}]", paths.join(", ")));
        }
        if let Some(r) = &c.reason {
            line.push_str(&format!(" reason={r}"));
        }
        if let Some(m) = &c.moved_from {
            line.push_str(&format!(" moved_from={m}"));
        }
        if let Some(i) = &c.import_id {
            line.push_str(&format!(" import_id={i}"));
        }
        if let Some(after) = &c.after
            && !after.is_wholly_known()
        {
            let mut unknown: Vec<String> = after
                .as_map()
                .map(|m| {
                    m.iter()
                        .filter(|(_, v)| !v.is_wholly_known())
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default();
            unknown.sort();
            line.push_str(&format!(" unknown=[{}]", unknown.join(", ")));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let (add, change, destroy) = plan.counts();
    out.push_str(&format!(
        "Plan: {add} to add, {change} to change, {destroy} to destroy.\n"
    ));
    for (name, o) in &plan.outputs {
        out.push_str(&format!(
            "output {name}: {:?}{}\n",
            o.action,
            if o.sensitive { " (sensitive)" } else { "" }
        ));
    }
    out
}
