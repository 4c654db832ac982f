//! Evaluation of a loaded configuration: module instances, locals,
//! variables, outputs, resource instances, the block-level dependency graph
//! and static validation.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hcl_edit::expr::Expression;
use hcl_edit::structure::{Body, Structure};
use terrace_core::{
    Diagnostic, Diagnostics, InstanceKey, ModuleInstance, PathStep, ResourceAddr, ResourceMode,
    SourceRange, Value, ValuePath,
};

use crate::config::{
    Config, Expr, Lifecycle, Module, ModuleCall, ProviderRef, ResourceBlock, header_span,
};
use crate::eval::{Ctx, Env, error};
use crate::refs::{CollectedRefs, RefSubject, Reference, span_of};
use crate::source::SourceFile;
use crate::suggest::did_you_mean;
use crate::types::convert;
use crate::variables::{check_validations, check_validations_in};

/// Resource values known to the engine (from state or the plan so far).
pub trait ResourceLookup: Send + Sync {
    /// The current value of a resource *block* (addr.key == None), in the module instance addr.module:
    /// an object for a block without count/for_each, a List of objects for count, a Map for for_each.
    /// None = not known yet (the evaluator then uses Value::Unknown).
    fn resource_value(&self, addr: &ResourceAddr) -> Option<Value>;

    /// The same value, shared: a lookup that keeps its values behind an
    /// `Arc` overrides this so a reference does not deep-copy a whole block
    /// (a `count` list of thousands of objects) to read one instance of it.
    fn resource_value_shared(&self, addr: &ResourceAddr) -> Option<Arc<Value>> {
        self.resource_value(addr).map(Arc::new)
    }
}

/// A lookup that knows no resource: every resource is unknown.
pub struct NoResources;

impl ResourceLookup for NoResources {
    fn resource_value(&self, _: &ResourceAddr) -> Option<Value> {
        None
    }
}

/// Whether an attribute of a resource type must, may or cannot be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrRequirement {
    Required,
    Optional,
    /// Set by the provider only.
    Computed,
}

/// The arguments and nested blocks a resource type accepts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BodySchema {
    pub attributes: Vec<(String, AttrRequirement)>,
    pub blocks: Vec<(String, BodySchema)>,
}

/// Resource schemas, implemented by the engine from provider schemas.
pub trait SchemaLookup {
    /// None = unknown type → diagnostic "Unsupported resource type" with did-you-mean over `type_names`.
    fn body_schema(&self, mode: ResourceMode, type_name: &str) -> Option<BodySchema>;
    fn type_names(&self, mode: ResourceMode) -> Vec<String>;
    /// Local names of the providers available (`aws`, `random`, …). Empty =
    /// unknown: unknown types and `provider` blocks are then not blamed on
    /// a missing provider.
    fn provider_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What a graph node stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A resource or data block (key None) in a module instance.
    Resource(ResourceAddr),
    Local(String),
    Variable(String),
    Output(String),
    Provider(ProviderRef),
}

/// One node of the block-level dependency graph.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNode {
    /// Unique and readable: `module.net.aws_subnet.private`, `module.net.local.x`, `var.region`,
    /// `module.net.var.cidr`, `output.vpc_id`, `module.net.output.id`, `provider.aws`.
    pub id: String,
    pub kind: NodeKind,
    pub module: ModuleInstance,
    /// Ids of the nodes this one references or depends on.
    pub deps: Vec<String>,
    pub range: Option<SourceRange>,
}

/// One resource instance with its evaluated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInstanceConfig {
    /// With key.
    pub addr: ResourceAddr,
    /// Map: each argument → value; each nested block type → List of Maps (dynamic blocks
    /// expanded); arguments set to null are absent.
    pub config: Value,
    /// The root-module provider configuration (after module `providers` maps).
    pub provider: ProviderRef,
    pub lifecycle: Lifecycle,
    pub depends_on: Vec<ResourceAddr>,
    pub range: SourceRange,
    /// Evaluated `replace_triggered_by` entries, in order.
    pub replace_triggers: Vec<Value>,
}

type R<T> = Result<T, Diagnostics>;

#[derive(Clone)]
enum Slot {
    Ok(Arc<Value>),
    Failed { diags: Diagnostics, reported: bool },
}

#[derive(Clone, Debug)]
struct Expansion {
    key: Option<InstanceKey>,
    each_value: Option<Value>,
}

/// The instances of one module call in one module instance, in order, with
/// an index by key: every variable of every child instance looks its own
/// expansion up, and a linear search made that quadratic in the number of
/// instances.
struct Expansions {
    list: Vec<Expansion>,
    by_key: HashMap<Option<InstanceKey>, usize>,
}

impl Expansions {
    fn new(list: Vec<Expansion>) -> Self {
        let mut by_key = HashMap::with_capacity(list.len());
        for (i, e) in list.iter().enumerate() {
            // The first of equal keys wins, as a linear search would find it.
            by_key.entry(e.key.clone()).or_insert(i);
        }
        Expansions { list, by_key }
    }

    fn get(&self, key: &Option<InstanceKey>) -> Option<&Expansion> {
        self.by_key.get(key).map(|&i| &self.list[i])
    }
}

#[derive(Default)]
struct Cache {
    values: HashMap<String, Slot>,
    expansions: HashMap<String, Arc<Expansions>>,
}

/// Evaluates a configuration for one environment. Send + Sync; caches
/// locals, module variables and outputs per module instance.
///
/// Errors: an `Err` with no diagnostics means an upstream value failed and
/// its diagnostics were already returned by an earlier call.
pub struct Evaluator {
    config: Arc<Config>,
    environment: String,
    root_vars: HashMap<String, Arc<Value>>,
    cwd: PathBuf,
    cache: Mutex<Cache>,
    /// Schemas of the types `.tf.json` resources use, recorded by
    /// `validate`: JSON cannot tell a nested block from an object argument,
    /// so evaluation turns objects the schema calls blocks into blocks.
    json_schemas: Mutex<HashMap<(ResourceMode, String), BodySchema>>,
}

fn prefix(inst: &ModuleInstance) -> String {
    if inst.is_root() {
        String::new()
    } else {
        format!("{inst}.")
    }
}

/// The evaluation scope of one module instance (and optionally one
/// count/for_each instance).
struct Scope<'a> {
    ev: &'a Evaluator,
    inst: &'a ModuleInstance,
    module: &'a Module,
    lookup: &'a dyn ResourceLookup,
    count: Option<i64>,
    each: Option<(String, Value)>,
    stack: &'a RefCell<Vec<String>>,
}

impl Scope<'_> {
    fn with_instance<'b>(&'b self, e: &Expansion) -> Scope<'b> {
        let (count, each) = match (&e.key, &e.each_value) {
            (Some(InstanceKey::Int(i)), None) => (Some(*i), None),
            (Some(InstanceKey::Str(s)), Some(v)) => (None, Some((s.clone(), v.clone()))),
            (Some(InstanceKey::Str(s)), None) => {
                (None, Some((s.clone(), Value::string(s.clone()))))
            }
            _ => (None, None),
        };
        Scope {
            ev: self.ev,
            inst: self.inst,
            module: self.module,
            lookup: self.lookup,
            count,
            each,
            stack: self.stack,
        }
    }
}

impl Env for Scope<'_> {
    fn resolve(
        &self,
        subject: &RefSubject,
        span: Range<usize>,
        file: &SourceFile,
    ) -> R<Arc<Value>> {
        let m = self.module;
        match subject {
            RefSubject::Var(n) => {
                if !m.variables.contains_key(n) {
                    return Err(error(
                        file,
                        span,
                        "Reference to undeclared input variable",
                        format!(
                            "An input variable with the name \"{n}\" has not been declared.{}",
                            did_you_mean(n, m.variables.keys().map(String::as_str))
                        ),
                    )
                    .into());
                }
                self.ev.var_value(self.inst, m, n, self.lookup, self.stack, false)
            }
            RefSubject::Local(n) => {
                if !m.locals.contains_key(n) {
                    return Err(error(
                        file,
                        span,
                        "Reference to undeclared local value",
                        format!("A local value with the name \"{n}\" has not been declared.{}", did_you_mean(n, m.locals.keys().map(String::as_str))),
                    )
                    .into());
                }
                self.ev.local_value(self.inst, m, n, self.lookup, self.stack, false)
            }
            RefSubject::Resource { mode, type_name, name } => {
                let addr = ResourceAddr { module: self.inst.clone(), mode: *mode, type_name: type_name.clone(), name: name.clone(), key: None };
                let local = addr.local_name();
                if !m.resources.contains_key(&local) {
                    return Err(error(
                        file,
                        span,
                        "Reference to undeclared resource",
                        format!(
                            "A {} \"{type_name}\" \"{name}\" has not been declared in {}.{}",
                            if *mode == ResourceMode::Data { "data resource" } else { "managed resource" },
                            module_label(self.inst),
                            did_you_mean(&local, m.resources.keys().map(String::as_str))
                        ),
                    )
                    .into());
                }
                Ok(self.lookup.resource_value_shared(&addr).unwrap_or_else(|| Arc::new(Value::Unknown)))
            }
            RefSubject::Module(n) => {
                let Some(call) = m.module_calls.get(n) else {
                    return Err(error(
                        file,
                        span,
                        "Reference to undeclared module",
                        format!("No module call named \"{n}\" is declared in {}.{}", module_label(self.inst), did_you_mean(n, m.module_calls.keys().map(String::as_str))),
                    )
                    .into());
                };
                self.ev.module_value(self.inst, m, call, self.lookup, self.stack)
            }
            RefSubject::Count(a) => match (a.as_str(), self.count) {
                ("index", Some(i)) => Ok(Arc::new(Value::from(i))),
                ("index", None) => Err(error(
                    file,
                    span,
                    "Reference to \"count\" in non-counted context",
                    "The \"count\" object can only be used in \"module\", \"resource\", and \"data\" blocks, and only when the \"count\" argument is set.",
                )
                .into()),
                (other, _) => Err(error(file, span, "Invalid \"count\" attribute", format!("The \"count\" object does not have an attribute named \"{other}\". The only supported attribute is count.index.")).into()),
            },
            RefSubject::Each(a) => match (a.as_str(), &self.each) {
                ("key", Some((k, _))) => Ok(Arc::new(Value::string(k.clone()))),
                ("value", Some((_, v))) => Ok(Arc::new(v.clone())),
                ("key" | "value", None) => Err(error(
                    file,
                    span,
                    "Reference to \"each\" in context without for_each",
                    "The \"each\" object can be used only in \"module\" or \"resource\" blocks, and only when the \"for_each\" argument is set.",
                )
                .into()),
                (other, _) => Err(error(file, span, "Invalid \"each\" attribute", format!("The \"each\" object does not have an attribute named \"{other}\". The supported attributes are each.key and each.value.")).into()),
            },
            RefSubject::Path(a) => match a.as_str() {
                "module" => Ok(Arc::new(Value::string(m.dir.to_string_lossy().into_owned()))),
                "root" => Ok(Arc::new(Value::string(self.ev.config.root.dir.to_string_lossy().into_owned()))),
                "cwd" => Ok(Arc::new(Value::string(self.ev.cwd.to_string_lossy().into_owned()))),
                other => Err(error(file, span, "Invalid \"path\" attribute", format!("The \"path\" object does not have an attribute named \"{other}\".{}", did_you_mean(other, ["module", "root", "cwd"]))).into()),
            },
            RefSubject::Terrace(a) => match a.as_str() {
                "environment" => Ok(Arc::new(Value::string(self.ev.environment.clone()))),
                other => Err(error(file, span, "Invalid \"terrace\" attribute", format!("The \"terrace\" object does not have an attribute named \"{other}\".{}", did_you_mean(other, ["environment"]))).into()),
            },
            RefSubject::Terraform(a) => match a.as_str() {
                "workspace" => Ok(Arc::new(Value::string(self.ev.environment.clone()))),
                other => Err(error(file, span, "Invalid \"terraform\" attribute", format!("The \"terraform\" object does not have an attribute named \"{other}\". The only supported attribute is terraform.workspace.")).into()),
            },
        }
    }

    fn base_dir(&self) -> &Path {
        &self.module.dir
    }
}

fn module_label(inst: &ModuleInstance) -> String {
    if inst.is_root() {
        "the root module".to_string()
    } else {
        inst.to_string()
    }
}

/// Evaluate a body into a map: arguments → values (nulls dropped), nested
/// block types → lists of maps, dynamic blocks expanded.
fn eval_body(ctx: &mut Ctx, body: &Body) -> R<Value> {
    let mut map: BTreeMap<String, Value> = BTreeMap::new();
    let mut diags = Diagnostics::new();
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => match ctx.eval(&a.value) {
                Ok(v) => {
                    if !v.is_null() {
                        map.insert(a.key.as_str().to_string(), v);
                    }
                }
                Err(d) => diags.extend(d),
            },
            Structure::Block(b) if b.ident.as_str() == "dynamic" => {
                if let Err(d) = eval_dynamic(ctx, b, &mut map) {
                    diags.extend(d);
                }
            }
            Structure::Block(b) => match eval_body(ctx, &b.body) {
                Ok(v) => push_block(&mut map, b.ident.as_str(), v),
                Err(d) => diags.extend(d),
            },
        }
    }
    if diags.is_empty() {
        Ok(Value::Map(map.into()))
    } else {
        Err(diags)
    }
}

fn push_block(map: &mut BTreeMap<String, Value>, ty: &str, v: Value) {
    // An unknown (from a dynamic block with unknown for_each) stays unknown.
    if let Value::List(xs) = map
        .entry(ty.to_string())
        .or_insert_with(|| Value::List(Vec::new()))
    {
        xs.push(v);
    }
}

fn eval_dynamic(
    ctx: &mut Ctx,
    b: &hcl_edit::structure::Block,
    map: &mut BTreeMap<String, Value>,
) -> R<()> {
    let hs = header_span(b);
    let Some(ty) = b.labels.first().map(|l| l.as_str().to_string()) else {
        return Err(error(
            ctx.file,
            hs,
            "Missing name for dynamic",
            "A dynamic block requires one label: the type of block to generate.",
        )
        .into());
    };
    let for_each = b.body.get_attribute("for_each").map(|a| &a.value);
    let content = b.body.get_blocks("content").next();
    let (Some(for_each), Some(content)) = (for_each, content) else {
        return Err(error(
            ctx.file,
            hs,
            "Missing required argument",
            "A dynamic block requires a \"for_each\" argument and a \"content\" block.",
        )
        .into());
    };
    let iterator = match b.body.get_attribute("iterator").map(|a| &a.value) {
        Some(Expression::Variable(v)) => v.as_str().to_string(),
        Some(other) => {
            return Err(error(
                ctx.file,
                span_of(other),
                "Invalid dynamic iterator name",
                "The iterator must be a single identifier.",
            )
            .into());
        }
        None => ty.clone(),
    };
    let coll = ctx.eval(for_each)?;
    let (coll, sens) = coll.into_unmarked();
    let items: Vec<(Value, Value)> = match coll {
        Value::Unknown => {
            map.insert(ty, Value::Unknown);
            return Ok(());
        }
        Value::Null => Vec::new(),
        Value::List(xs) => xs
            .into_iter()
            .enumerate()
            .map(|(i, x)| (Value::from(i as i64), x))
            .collect(),
        Value::Set(xs) => xs.into_iter().map(|x| (x.clone(), x)).collect(),
        Value::Map(m) => m.into_iter().map(|(k, x)| (Value::string(k), x)).collect(),
        other => {
            return Err(error(
                ctx.file,
                span_of(for_each),
                "Invalid dynamic for_each value",
                format!(
                    "Cannot use a {} value in for_each. An iterable collection is required.",
                    other.type_name()
                ),
            )
            .into());
        }
    };
    map.entry(ty.clone())
        .or_insert_with(|| Value::List(Vec::new()));
    for (k, v) in items {
        let iter_val = Value::map([("key", k.mark_if(sens)), ("value", v.mark_if(sens))]);
        ctx.bindings.push((iterator.clone(), iter_val));
        let r = eval_body(ctx, &content.body);
        ctx.bindings.pop();
        push_block(map, &ty, r?);
    }
    Ok(())
}

impl Evaluator {
    /// An evaluator for `environment` with the resolved root variables.
    pub fn new(
        config: Arc<Config>,
        environment: &str,
        root_vars: BTreeMap<String, Value>,
    ) -> Evaluator {
        Evaluator {
            config,
            environment: environment.to_string(),
            root_vars: root_vars
                .into_iter()
                .map(|(k, v)| (k, Arc::new(v)))
                .collect(),
            cwd: std::env::current_dir().unwrap_or_default(),
            cache: Mutex::new(Cache::default()),
            json_schemas: Mutex::new(HashMap::new()),
        }
    }

    /// The configuration being evaluated.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The environment name (`terrace.environment`).
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// Forget every cached value (between the plan walk and the apply walk).
    pub fn reset_cache(&self) {
        let mut c = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        *c = Cache::default();
    }

    fn scratch(&self) -> Evaluator {
        Evaluator {
            config: self.config.clone(),
            environment: self.environment.clone(),
            root_vars: self.root_vars.clone(),
            cwd: self.cwd.clone(),
            cache: Mutex::new(Cache::default()),
            json_schemas: Mutex::new(self.json_schemas.lock().expect("json schemas").clone()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Memoize the value of node `id`. `direct`: the caller reports this
    /// node's own diagnostics (otherwise a failure is reported only once).
    fn memo(
        &self,
        id: String,
        stack: &RefCell<Vec<String>>,
        range: Option<SourceRange>,
        direct: bool,
        f: impl FnOnce() -> R<Value>,
    ) -> R<Arc<Value>> {
        {
            let mut c = self.lock();
            match c.values.get_mut(&id) {
                Some(Slot::Ok(v)) => return Ok(v.clone()),
                Some(Slot::Failed { diags, reported }) => {
                    if *reported && !direct {
                        return Err(Diagnostics::new());
                    }
                    *reported = true;
                    return Err(diags.clone());
                }
                None => {}
            }
        }
        if stack.borrow().contains(&id) {
            let chain = stack.borrow().join(" → ");
            return Err(Diagnostic::error(
                "Cycle in references",
                format!("{id} refers to itself through: {chain} → {id}."),
            )
            .at(range)
            .into());
        }
        stack.borrow_mut().push(id.clone());
        let r = f();
        stack.borrow_mut().pop();
        let mut c = self.lock();
        match r {
            Ok(v) => {
                let v = Arc::new(v);
                // A value that is not wholly known is provisional: the
                // resources it depends on may be planned or applied later in
                // the walk, so it is evaluated again when next asked for.
                if v.is_wholly_known() {
                    c.values.insert(id, Slot::Ok(v.clone()));
                }
                Ok(v)
            }
            Err(d) => {
                c.values.insert(
                    id,
                    Slot::Failed {
                        diags: d.clone(),
                        reported: true,
                    },
                );
                Err(d)
            }
        }
    }

    fn scope<'a>(
        &'a self,
        inst: &'a ModuleInstance,
        module: &'a Module,
        lookup: &'a dyn ResourceLookup,
        stack: &'a RefCell<Vec<String>>,
    ) -> Scope<'a> {
        Scope {
            ev: self,
            inst,
            module,
            lookup,
            count: None,
            each: None,
            stack,
        }
    }

    fn local_value(
        &self,
        inst: &ModuleInstance,
        m: &Module,
        name: &str,
        lookup: &dyn ResourceLookup,
        stack: &RefCell<Vec<String>>,
        direct: bool,
    ) -> R<Arc<Value>> {
        let local = &m.locals[name];
        let id = format!("{}local.{name}", prefix(inst));
        self.memo(id, stack, Some(local.range.clone()), direct, || {
            let scope = self.scope(inst, m, lookup, stack);
            Ctx::new(&local.value.file, &scope).eval(&local.value.expr)
        })
    }

    fn var_value(
        &self,
        inst: &ModuleInstance,
        m: &Module,
        name: &str,
        lookup: &dyn ResourceLookup,
        stack: &RefCell<Vec<String>>,
        direct: bool,
    ) -> R<Arc<Value>> {
        let var = &m.variables[name];
        if inst.is_root() {
            return Ok(match self.root_vars.get(name) {
                Some(v) => v.clone(),
                None => Arc::new(
                    var.default
                        .clone()
                        .map(|v| v.mark_if(var.sensitive))
                        .unwrap_or(Value::Unknown),
                ),
            });
        }
        let id = format!("{}var.{name}", prefix(inst));
        self.memo(id, stack, Some(var.range.clone()), direct, || {
            let (parent_inst, parent, call, exp) = self.parent_of(inst, lookup, stack)?;
            let pscope = self.scope(&parent_inst, parent, lookup, stack);
            let pscope = pscope.with_instance(&exp);
            let (value, range) = match call.args.get(name) {
                Some(e) => (Ctx::new(&e.file, &pscope).eval(&e.expr)?, e.range()),
                None => (Value::Null, call.range.clone()),
            };
            // An omitted argument takes the default. An explicit `null` is
            // kept when the variable is nullable (Terraform's default) and
            // replaced by the default only under `nullable = false`.
            let given = call.args.contains_key(name);
            let value = if value.is_null() && (!given || !var.nullable) {
                match &var.default {
                    Some(d) => d.clone(),
                    None if !var.nullable || !given => {
                        return Err(Diagnostic::error(
                            "Required variable not set",
                            format!("The variable \"{name}\" of {inst} is required, but the given value is null."),
                        )
                        .at(Some(range))
                        .into());
                    }
                    None => Value::Null,
                }
            } else {
                value
            };
            let value = match &var.type_constraint {
                Some(t) => convert(value, t).map_err(|msg| {
                    Diagnostics::from(Diagnostic::error(
                        "Invalid value for input variable",
                        format!("Type mismatch: the given value is not suitable for var.{name} of {inst} (declared at {}): {msg}.", var.range),
                    ).at(Some(range.clone())))
                })?,
                None => value,
            };
            check_validations(var, &value, &m.dir)?;
            Ok(value.mark_if(var.sensitive))
        })
    }

    /// The parent module instance, module and call of a non-root instance, and its expansion.
    fn parent_of<'a>(
        &'a self,
        inst: &ModuleInstance,
        lookup: &dyn ResourceLookup,
        stack: &RefCell<Vec<String>>,
    ) -> R<(ModuleInstance, &'a Module, &'a ModuleCall, Expansion)> {
        let ((name, key), parent_steps) = inst.0.split_last().ok_or_else(Diagnostics::new)?;
        let parent_inst = ModuleInstance(parent_steps.into());
        let parent = self
            .config
            .module(&parent_inst.config_path())
            .ok_or_else(Diagnostics::new)?;
        let call = parent.module_calls.get(name).ok_or_else(Diagnostics::new)?;
        let exps = self.expansions(&parent_inst, parent, call, lookup, stack)?;
        let exp = exps.get(key).cloned().ok_or_else(|| {
            Diagnostics::from(
                Diagnostic::error(
                    "Invalid module instance",
                    format!("{inst} is not an instance of module \"{name}\"."),
                )
                .at(Some(call.range.clone())),
            )
        })?;
        Ok((parent_inst, parent, call, exp))
    }

    fn expansions(
        &self,
        inst: &ModuleInstance,
        m: &Module,
        call: &ModuleCall,
        lookup: &dyn ResourceLookup,
        stack: &RefCell<Vec<String>>,
    ) -> R<Arc<Expansions>> {
        let id = format!("{}module.{}", prefix(inst), call.name);
        if let Some(e) = self.lock().expansions.get(&id) {
            return Ok(e.clone());
        }
        let scope = self.scope(inst, m, lookup, stack);
        let exps = match expand_keys(&scope, call.count.as_ref(), call.for_each.as_ref())? {
            Some(e) => Arc::new(Expansions::new(e)),
            None => {
                let e = call.count.as_ref().or(call.for_each.as_ref());
                let what = if call.count.is_some() {
                    "count"
                } else {
                    "for_each"
                };
                return Err(Diagnostic::error(
                    format!("Invalid {what} argument"),
                    format!("The \"{what}\" value of module \"{}\" depends on resource attributes that cannot be determined until apply. Module {what} may only use variables, locals and literal values.", call.name),
                )
                .at(e.map(Expr::range))
                .into());
            }
        };
        self.lock().expansions.insert(id, exps.clone());
        Ok(exps)
    }

    fn output_value(
        &self,
        inst: &ModuleInstance,
        m: &Module,
        name: &str,
        lookup: &dyn ResourceLookup,
        stack: &RefCell<Vec<String>>,
        direct: bool,
    ) -> R<Arc<Value>> {
        let out = &m.outputs[name];
        let id = format!("{}output.{name}", prefix(inst));
        self.memo(id, stack, Some(out.range.clone()), direct, || {
            let Some(e) = &out.value else { return Ok(Value::Null) };
            let scope = self.scope(inst, m, lookup, stack);
            if !out.preconditions.is_empty() {
                let cctx = Ctx::new(&e.file, &scope);
                check_conditions(
                    &cctx,
                    &out.preconditions,
                    "Module output value precondition failed",
                    &format!("{}output.{name}", prefix(inst)),
                )?;
            }
            let v = Ctx::new(&e.file, &scope).eval(&e.expr)?;
            if v.contains_sensitive() && !out.sensitive {
                return Err(Diagnostic::error(
                    "Output refers to sensitive values",
                    "To reduce the risk of accidentally exporting sensitive data that was intended to be only internal, terrace requires that any output containing sensitive data be explicitly marked as sensitive, to confirm your intent.\n\nIf you do intend to export this data, annotate the output value as sensitive by adding the following argument:\n    sensitive = true",
                )
                .at(Some(e.range()))
                .into());
            }
            Ok(v.mark_if(out.sensitive))
        })
    }

    fn module_value(
        &self,
        inst: &ModuleInstance,
        m: &Module,
        call: &ModuleCall,
        lookup: &dyn ResourceLookup,
        stack: &RefCell<Vec<String>>,
    ) -> R<Arc<Value>> {
        let Some(child) = &call.child else {
            return Ok(Arc::new(Value::Unknown));
        };
        let exps = self.expansions(inst, m, call, lookup, stack)?;
        let object = |key: &Option<InstanceKey>| -> R<Value> {
            let child_inst = inst.child(&call.name, key.clone());
            let mut obj = BTreeMap::new();
            for name in child.outputs.keys() {
                let v = self.output_value(&child_inst, child, name, lookup, stack, false)?;
                obj.insert(name.clone(), (*v).clone());
            }
            Ok(Value::Map(obj.into()))
        };
        let v = if call.count.is_some() {
            Value::List(exps.list.iter().map(|e| object(&e.key)).collect::<R<_>>()?)
        } else if call.for_each.is_some() {
            let mut m = BTreeMap::new();
            for e in exps.list.iter() {
                if let Some(InstanceKey::Str(k)) = &e.key {
                    m.insert(k.clone(), object(&e.key)?);
                }
            }
            Value::Map(m.into())
        } else {
            object(&None)?
        };
        Ok(Arc::new(v))
    }

    fn module_config(&self, inst: &ModuleInstance) -> Option<&Module> {
        self.config.module(&inst.config_path())
    }

    /// The root provider configuration a resource in `inst` uses.
    fn resolve_provider(&self, inst: &ModuleInstance, p: &ProviderRef) -> ProviderRef {
        let mut p = p.clone();
        for depth in (0..inst.0.len()).rev() {
            let (name, _) = &inst.0[depth];
            let Some(parent) = self.config.module(
                &inst.0[..depth]
                    .iter()
                    .map(|(n, _)| n.clone())
                    .collect::<Vec<_>>(),
            ) else {
                break;
            };
            let Some(call) = parent.module_calls.get(name) else {
                break;
            };
            if let Some((_, to)) = call.providers.iter().find(|(c, _)| *c == p) {
                p = to.clone();
            }
        }
        p
    }

    // -----------------------------------------------------------------
    // Graph

    /// The dependency graph at block level, with module calls expanded into module instances.
    pub fn graph_nodes(&self) -> Result<Vec<GraphNode>, Diagnostics> {
        let ev = self.scratch();
        let stack = RefCell::new(Vec::new());
        let mut b = GraphBuilder {
            ev: &ev,
            stack: &stack,
            nodes: Vec::new(),
            diags: Diagnostics::new(),
            providers: BTreeMap::new(),
        };
        b.module(&ModuleInstance::root(), &self.config.root, None, &[]);
        for p in &self.config.root.providers {
            let mut deps = Vec::new();
            b.refs_to_ids(
                &p.body_refs().refs,
                &ModuleInstance::root(),
                &self.config.root,
                &mut deps,
            );
            b.providers
                .insert(p.provider_ref(), (deps, Some(p.range.clone())));
        }
        let GraphBuilder {
            mut nodes,
            diags,
            providers,
            ..
        } = b;
        for (p, (deps, range)) in providers {
            nodes.push(GraphNode {
                id: format!("provider.{p}"),
                kind: NodeKind::Provider(p),
                module: ModuleInstance::root(),
                deps,
                range,
            });
        }
        if diags.has_errors() {
            Err(diags)
        } else {
            // Kept for the whole run: give back what doubling reserved.
            nodes.shrink_to_fit();
            Ok(nodes)
        }
    }

    // -----------------------------------------------------------------
    // Resources

    /// Expand a resource/data block into its instances with evaluated bodies.
    pub fn expand_resource(
        &self,
        node: &GraphNode,
        lookup: &dyn ResourceLookup,
    ) -> Result<Vec<ResourceInstanceConfig>, Diagnostics> {
        let NodeKind::Resource(addr) = &node.kind else {
            return Err(Diagnostic::error(
                "Not a resource node",
                format!("{} is not a resource.", node.id),
            )
            .into());
        };
        self.expand_resource_addr(addr, lookup, false)
            .map(|x| x.unwrap_or_default())
    }

    /// `Ok(None)`: count/for_each unknown and `allow_unknown`.
    fn expand_resource_addr(
        &self,
        addr: &ResourceAddr,
        lookup: &dyn ResourceLookup,
        allow_unknown: bool,
    ) -> R<Option<Vec<ResourceInstanceConfig>>> {
        let m = self.module_config(&addr.module).ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Unknown module",
                format!("No module at {}.", addr.module),
            ))
        })?;
        let r = m.resources.get(&addr.local_name()).ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Unknown resource",
                format!("No resource {addr} in the configuration."),
            ))
        })?;
        let stack = RefCell::new(Vec::new());
        let scope = self.scope(&addr.module, m, lookup, &stack);
        let Some(exps) = expand_keys(&scope, r.count.as_deref(), r.for_each.as_deref())? else {
            if allow_unknown {
                return Ok(None);
            }
            let (what, e) = if let Some(c) = r.count.as_deref() {
                ("count", c)
            } else {
                (
                    "for_each",
                    r.for_each.as_deref().expect("count or for_each"),
                )
            };
            let detail = if what == "count" {
                "The \"count\" value depends on resource attributes that cannot be determined until apply, so terrace cannot predict how many instances will be created. Make count depend only on variables, locals and attributes that are known before apply."
            } else {
                "The \"for_each\" map includes keys derived from resource attributes that cannot be determined until apply, so terrace cannot determine the full set of keys that will identify the instances of this resource. Use keys known before apply (variables, locals, literal names) and put the unknown values in the map values."
            };
            return Err(
                Diagnostic::error(format!("Invalid {what} argument"), detail)
                    .at(Some(e.range()))
                    .into(),
            );
        };
        let provider = self.resolve_provider(&addr.module, &r.provider);
        let depends_on = static_depends_on(r, &addr.module, m);
        let mut out = Vec::with_capacity(exps.len());
        let mut diags = Diagnostics::new();
        for e in &exps {
            let iscope = scope.with_instance(e);
            let mut ctx = Ctx::new(&r.file, &iscope);
            let config = match eval_body(&mut ctx, &r.body) {
                Ok(v) => v,
                Err(d) => {
                    diags.extend(d);
                    continue;
                }
            };
            let config = match overlay_bodies(&iscope, r, config) {
                Ok(v) => v,
                Err(d) => {
                    diags.extend(d);
                    continue;
                }
            };
            let config = match self
                .json_schemas
                .lock()
                .expect("json schemas")
                .get(&(r.mode, r.type_name.clone()))
            {
                Some(schema) if is_json_file(&r.file) => json_blocks(config, schema),
                _ => config,
            };
            if let Err(d) = check_conditions(
                &ctx,
                &r.preconditions,
                "Resource precondition failed",
                &addr.clone().with_key(e.key.clone()).to_string(),
            ) {
                diags.extend(d);
                continue;
            }
            let mut triggers = Vec::new();
            for t in &r.replace_exprs {
                match ctx.eval(&t.expr) {
                    Ok(v) => triggers.push(v),
                    Err(d) => diags.extend(d),
                }
            }
            out.push(ResourceInstanceConfig {
                addr: addr.clone().with_key(e.key.clone()),
                config,
                provider: provider.clone(),
                lifecycle: r.lifecycle.clone(),
                depends_on: depends_on.clone(),
                range: r.range.clone(),
                replace_triggers: triggers,
            });
        }
        if diags.is_empty() {
            Ok(Some(out))
        } else {
            Err(dedup(diags))
        }
    }

    /// Evaluate a local/variable/output/provider node (caches it).
    pub fn eval_node(
        &self,
        node: &GraphNode,
        lookup: &dyn ResourceLookup,
    ) -> Result<Value, Diagnostics> {
        let stack = RefCell::new(Vec::new());
        let m = self.module_config(&node.module).ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Unknown module",
                format!("No module at {}.", node.module),
            ))
        })?;
        let missing = || {
            Diagnostics::from(Diagnostic::error(
                "Unknown node",
                format!("{} is not in the configuration.", node.id),
            ))
        };
        match &node.kind {
            NodeKind::Local(n) if m.locals.contains_key(n) => self
                .local_value(&node.module, m, n, lookup, &stack, true)
                .map(|v| (*v).clone()),
            NodeKind::Variable(n) if m.variables.contains_key(n) => self
                .var_value(&node.module, m, n, lookup, &stack, true)
                .map(|v| (*v).clone()),
            NodeKind::Output(n) if m.outputs.contains_key(n) => self
                .output_value(&node.module, m, n, lookup, &stack, true)
                .map(|v| (*v).clone()),
            NodeKind::Provider(p) => self.provider_config(p, lookup),
            NodeKind::Resource(_) => Err(Diagnostic::error(
                "Resource node",
                "Use expand_resource for resource nodes.",
            )
            .into()),
            _ => Err(missing()),
        }
    }

    fn provider_config(&self, p: &ProviderRef, lookup: &dyn ResourceLookup) -> R<Value> {
        let root = &self.config.root;
        let Some(block) = root
            .providers
            .iter()
            .find(|b| b.name == p.name && b.alias == p.alias)
        else {
            return Ok(Value::Map(BTreeMap::new().into()));
        };
        let stack = RefCell::new(Vec::new());
        let inst = ModuleInstance::root();
        let scope = self.scope(&inst, root, lookup, &stack);
        let mut ctx = Ctx::new(&block.file, &scope);
        eval_body(&mut ctx, &block.body)
    }

    /// The root module's outputs: value (marked when sensitive) and the `sensitive` flag.
    pub fn root_outputs(
        &self,
        lookup: &dyn ResourceLookup,
    ) -> Result<BTreeMap<String, (Value, bool)>, Diagnostics> {
        let mut out = BTreeMap::new();
        let mut diags = Diagnostics::new();
        for (name, r) in self.root_outputs_each(lookup) {
            match r {
                Ok(v) => {
                    out.insert(name, v);
                }
                Err(d) => diags.extend(d),
            }
        }
        if diags.is_empty() {
            Ok(out)
        } else {
            Err(diags)
        }
    }

    /// Every root output on its own (value, `sensitive` argument), so that
    /// one that fails to evaluate does not hide the others (apply stores the
    /// ones that evaluate and fails on the rest).
    pub fn root_outputs_each(
        &self,
        lookup: &dyn ResourceLookup,
    ) -> BTreeMap<String, Result<(Value, bool), Diagnostics>> {
        let stack = RefCell::new(Vec::new());
        let root = &self.config.root;
        let inst = ModuleInstance::root();
        root.outputs
            .iter()
            .map(|(name, o)| {
                let r = self
                    .output_value(&inst, root, name, lookup, &stack, true)
                    .map(|v| ((*v).clone(), o.sensitive));
                (name.clone(), r)
            })
            .collect()
    }

    /// Root-module provider configurations, evaluated; providers used by
    /// resources without a block get an empty map.
    pub fn provider_configs(
        &self,
        lookup: &dyn ResourceLookup,
    ) -> Result<Vec<(ProviderRef, Value)>, Diagnostics> {
        let mut refs: Vec<ProviderRef> = self
            .config
            .root
            .providers
            .iter()
            .map(|p| p.provider_ref())
            .collect();
        for m in self.config.modules() {
            let inst = ModuleInstance(m.path.iter().map(|n| (n.clone(), None)).collect());
            for r in m.resources.values() {
                let p = self.resolve_provider(&inst, &r.provider);
                if !refs.contains(&p) {
                    refs.push(p);
                }
            }
        }
        refs.sort();
        let mut out = Vec::new();
        let mut diags = Diagnostics::new();
        for p in refs {
            match self.provider_config(&p, lookup) {
                Ok(v) => out.push((p, v)),
                Err(d) => diags.extend(d),
            }
        }
        if diags.is_empty() {
            Ok(out)
        } else {
            Err(diags)
        }
    }

    /// The root module's `check` blocks: one warning per assertion that is
    /// false or cannot be evaluated (`check.NAME: message (file:line:col)`).
    /// Unknown conditions (known only after apply) are skipped.
    pub fn check_warnings(&self, lookup: &dyn ResourceLookup) -> Vec<String> {
        let stack = RefCell::new(Vec::new());
        let root = &self.config.root;
        let inst = ModuleInstance::root();
        let scope = self.scope(&inst, root, lookup, &stack);
        let mut out = Vec::new();
        for check in &root.checks {
            for a in &check.asserts {
                let ctx = Ctx::new(&a.condition.file, &scope);
                match check_conditions(
                    &ctx,
                    std::slice::from_ref(a),
                    "Check block assertion failed",
                    &format!("check.{}", check.name),
                ) {
                    Ok(()) => {}
                    Err(d) => {
                        for x in d.iter() {
                            let at = x
                                .range
                                .as_ref()
                                .map(|r| format!(" ({r})"))
                                .unwrap_or_default();
                            let msg = x.detail.split("\n\n").next().unwrap_or_default();
                            out.push(format!("{}: check.{}: {msg}{at}", x.summary, check.name));
                        }
                    }
                }
            }
        }
        out
    }

    /// Variable `validation` conditions that refer to other variables,
    /// locals or data sources (Terraform 1.9+), evaluated once the values
    /// they refer to are in `lookup` (after the plan walk). Module
    /// instances of `count`/`for_each` calls are not checked this way.
    pub fn cross_validations(&self, lookup: &dyn ResourceLookup) -> Result<(), Diagnostics> {
        let mut diags = Diagnostics::new();
        for m in self.config.modules() {
            let inst = ModuleInstance(m.path.iter().map(|n| (n.clone(), None)).collect());
            if !inst.is_root() && self.module_config(&inst).is_none() {
                continue;
            }
            let stack = RefCell::new(Vec::new());
            let scope = self.scope(&inst, m, lookup, &stack);
            for (name, var) in &m.variables {
                if !var
                    .validations
                    .iter()
                    .any(|v| crate::variables::refers_beyond(var, v))
                {
                    continue;
                }
                let value = match self.var_value(&inst, m, name, lookup, &stack, false) {
                    Ok(v) => v,
                    // Module calls with count/for_each have no keyless instance.
                    Err(_) => continue,
                };
                if let Err(d) = check_validations_in(var, &value, &m.dir, Some(&scope as &dyn Env))
                {
                    diags.extend(d);
                }
            }
        }
        if diags.is_empty() {
            Ok(())
        } else {
            Err(dedup(diags))
        }
    }

    /// Check the `postcondition`s of one resource instance against its
    /// object (`self`): the planned one (unknown parts wait) or the one just
    /// created, updated or read. A false condition is an error naming the
    /// instance, with the condition's `error_message`.
    pub fn check_postconditions(
        &self,
        addr: &ResourceAddr,
        object: &Value,
        lookup: &dyn ResourceLookup,
    ) -> Result<(), Diagnostics> {
        let Some(m) = self.module_config(&addr.module) else {
            return Ok(());
        };
        let block = addr.block();
        let Some(r) = m.resources.get(&block.local_name()) else {
            return Ok(());
        };
        if r.postconditions.is_empty() {
            return Ok(());
        }
        let stack = RefCell::new(Vec::new());
        let scope = self.scope(&addr.module, m, lookup, &stack);
        let exps =
            expand_keys(&scope, r.count.as_deref(), r.for_each.as_deref())?.unwrap_or_default();
        let fallback = Expansion {
            key: addr.key.clone(),
            each_value: None,
        };
        let e = exps.iter().find(|e| e.key == addr.key).unwrap_or(&fallback);
        let iscope = scope.with_instance(e);
        let mut ctx = Ctx::new(&r.file, &iscope);
        ctx.bindings.push(("self".into(), object.clone()));
        let summary = match addr.mode {
            ResourceMode::Managed => "Resource postcondition failed",
            ResourceMode::Data => "Data source postcondition failed",
        };
        check_conditions(&ctx, &r.postconditions, summary, &addr.to_string())
    }

    /// The (target instance, id) pairs of an import block (root module):
    /// one per `for_each` element, with `to`'s key expression and `id`
    /// evaluated with `each`. Errors name the import block.
    pub fn import_targets(
        &self,
        import: &crate::config::ImportBlock,
        lookup: &dyn ResourceLookup,
    ) -> Result<Vec<(ResourceAddr, Value)>, Diagnostics> {
        let stack = RefCell::new(Vec::new());
        let root = &self.config.root;
        let inst = ModuleInstance::root();
        let scope = self.scope(&inst, root, lookup, &stack);
        let exps = match &import.for_each {
            None => vec![Expansion {
                key: None,
                each_value: None,
            }],
            Some(fe) => match expand_keys(&scope, None, Some(fe))? {
                Some(e) => e,
                None => {
                    return Err(Diagnostic::error(
                        "Invalid for_each argument",
                        "The for_each of an import block must be known before apply: use variables, locals and literal values.",
                    )
                    .at(Some(fe.range()))
                    .into());
                }
            },
        };
        let mut out = Vec::with_capacity(exps.len());
        let mut diags = Diagnostics::new();
        for e in &exps {
            let iscope = scope.with_instance(e);
            let mut to = import.to.clone();
            if let Some(k) = &import.to_key {
                let v = match Ctx::new(&k.file, &iscope).eval(&k.expr) {
                    Ok(v) => v,
                    Err(d) => {
                        diags.extend(d);
                        continue;
                    }
                };
                let key = match v.unmarked() {
                    Value::String(s) => InstanceKey::Str(s.to_string()),
                    Value::Number(n) => match n.to_string().parse::<i64>() {
                        Ok(i) if i >= 0 => InstanceKey::Int(i),
                        _ => {
                            diags.push(
                                Diagnostic::error(
                                    "Invalid import target key",
                                    format!("The key of the import target must be a whole number ≥ 0 or a string, not {n}."),
                                )
                                .at(Some(k.range())),
                            );
                            continue;
                        }
                    },
                    other => {
                        diags.push(
                            Diagnostic::error(
                                "Invalid import target key",
                                format!("The key of the import target must be a known string or number, not {}. Use each.key or a literal.", other.type_name()),
                            )
                            .at(Some(k.range())),
                        );
                        continue;
                    }
                };
                to.key = Some(key);
            }
            match Ctx::new(&import.id.file, &iscope).eval(&import.id.expr) {
                Ok(id) => out.push((to, id)),
                Err(d) => diags.extend(d),
            }
        }
        if diags.is_empty() {
            Ok(out)
        } else {
            Err(dedup(diags))
        }
    }

    /// Evaluate an import block's `id` (root module).
    pub fn import_id(
        &self,
        import: &crate::config::ImportBlock,
        lookup: &dyn ResourceLookup,
    ) -> Result<Value, Diagnostics> {
        let stack = RefCell::new(Vec::new());
        let root = &self.config.root;
        let inst = ModuleInstance::root();
        let scope = self.scope(&inst, root, lookup, &stack);
        Ctx::new(&import.id.file, &scope).eval(&import.id.expr)
    }

    /// Evaluate one expression typed at `terrace console` (the whole text of
    /// `file`) in the root module's scope: variables, locals, module
    /// outputs, and resources and data sources through `lookup`.
    pub fn eval_console(
        &self,
        file: &Arc<SourceFile>,
        lookup: &dyn ResourceLookup,
    ) -> Result<Value, Diagnostics> {
        let expr = hcl_edit::parser::parse_expr(file.text()).map_err(|e| {
            let off = e.location().offset();
            Diagnostics::from(
                Diagnostic::error(
                    "Invalid expression",
                    format!(
                        "{}. Type one expression a line, e.g. var.region or aws_vpc.main.id.",
                        e.message()
                    ),
                )
                .at(Some(file.range(off..off + 1))),
            )
        })?;
        let stack = RefCell::new(Vec::new());
        let inst = ModuleInstance::root();
        let scope = self.scope(&inst, &self.config.root, lookup, &stack);
        Ctx::new(file, &scope).eval(&expr)
    }

    /// The source range of an argument (or nested block) of a resource, for
    /// errors that point at a config line.
    pub fn attribute_range(&self, addr: &ResourceAddr, path: &ValuePath) -> Option<SourceRange> {
        let m = self.module_config(&addr.module)?;
        let r = m.resources.get(&addr.local_name())?;
        let mut body = &r.body;
        let mut best = r.range.clone();
        let mut i = 0;
        while i < path.len() {
            let PathStep::Key(k) = &path[i] else { break };
            if let Some(a) = body.get_attribute(k) {
                let start = span_of(&a.key).start;
                let end = span_of(&a.value).end;
                return Some(r.file.range(start..end));
            }
            let blocks: Vec<_> = body.get_blocks(k).collect();
            let idx = match path.get(i + 1) {
                Some(PathStep::Index(n)) => {
                    i += 1;
                    *n
                }
                _ => 0,
            };
            let Some(b) = blocks.get(idx) else { break };
            best = r.file.range(header_span(b));
            body = &b.body;
            i += 1;
        }
        Some(best)
    }

    // -----------------------------------------------------------------
    // Validation

    /// Static checks without any cloud access (`terrace validate`, start of plan).
    pub fn validate(&self, schemas: &dyn SchemaLookup) -> Diagnostics {
        let mut diags = Diagnostics::new();
        for m in self.config.modules() {
            for r in m.resources.values().filter(|r| is_json_file(&r.file)) {
                if let Some(schema) = schemas.body_schema(r.mode, &r.type_name) {
                    self.json_schemas
                        .lock()
                        .expect("json schemas")
                        .insert((r.mode, r.type_name.clone()), schema);
                }
            }
            check_module_refs(m, schemas, &mut diags);
            check_module_schemas(m, schemas, &mut diags);
            check_functions(m, &mut diags);
        }
        let nodes = match self.graph_nodes() {
            Ok(n) => n,
            Err(d) => {
                diags.extend(d);
                return dedup(diags);
            }
        };
        let cycles = find_cycles(&nodes);
        if !cycles.is_empty() {
            diags.extend(Diagnostics(cycles));
            return dedup(diags);
        }
        // Evaluate everything with resources unknown.
        let ev = self.scratch();
        for n in &nodes {
            let r = match &n.kind {
                NodeKind::Resource(addr) => ev
                    .expand_resource_addr(addr, &NoResources, true)
                    .map(|_| Value::Null),
                _ => ev.eval_node(n, &NoResources),
            };
            if let Err(d) = r {
                diags.extend(d);
            }
        }
        dedup(diags)
    }
}

fn dedup(mut diags: Diagnostics) -> Diagnostics {
    diags.0.sort_by(|a, b| {
        let key = |d: &Diagnostic| d.range.as_ref().map(|r| (r.filename.clone(), r.start.byte));
        match (key(a), key(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    });
    let mut seen = HashSet::new();
    // One diagnostic per source position: the static checks run first and
    // their wording wins over the same problem found again by evaluation.
    Diagnostics(
        diags
            .into_iter()
            .filter(|d| match &d.range {
                Some(r) => seen.insert((String::new(), r.filename.to_string(), r.start.byte)),
                None => seen.insert((d.summary.clone(), d.detail.clone(), 0)),
            })
            .collect(),
    )
}

/// count/for_each keys. `Ok(None)`: not known yet.
fn expand_keys(
    scope: &Scope,
    count: Option<&Expr>,
    for_each: Option<&Expr>,
) -> R<Option<Vec<Expansion>>> {
    if let Some(c) = count {
        let v = Ctx::new(&c.file, scope).eval(&c.expr)?;
        let bad = |detail: String| {
            Diagnostics::from(
                Diagnostic::error("Invalid count argument", detail).at(Some(c.range())),
            )
        };
        return match v.unmarked() {
            Value::Unknown => Ok(None),
            Value::Number(n) if n.to_i64().is_some_and(|n| n >= 0) => Ok(Some(
                (0..n.to_i64().unwrap_or(0))
                    .map(|i| Expansion {
                        key: Some(InstanceKey::Int(i)),
                        each_value: None,
                    })
                    .collect(),
            )),
            Value::Number(n) => Err(bad(format!(
                "The given \"count\" argument value is unsuitable: must be a whole number greater than or equal to zero, but have {}.",
                n
            ))),
            Value::String(s) if s.parse::<u32>().is_ok() => {
                let n: u32 = s.parse().unwrap_or(0);
                Ok(Some(
                    (0..n as i64)
                        .map(|i| Expansion {
                            key: Some(InstanceKey::Int(i)),
                            each_value: None,
                        })
                        .collect(),
                ))
            }
            Value::Null => Err(bad(
                "The given \"count\" argument value is null. An integer is required.".into(),
            )),
            other => Err(bad(format!(
                "The given \"count\" argument value is unsuitable: a number is required, but have {}.",
                other.type_name()
            ))),
        };
    }
    if let Some(f) = for_each {
        let v = Ctx::new(&f.file, scope).eval(&f.expr)?;
        let bad = |detail: String| {
            Diagnostics::from(
                Diagnostic::error("Invalid for_each argument", detail).at(Some(f.range())),
            )
        };
        if v.is_sensitive() {
            return Err(bad("Sensitive values, or values derived from sensitive values, cannot be used as for_each arguments: the keys would be disclosed as instance addresses.".into()));
        }
        return match v {
            Value::Unknown => Ok(None),
            Value::Map(m) => Ok(Some(m.into_iter().map(|(k, v)| Expansion { key: Some(InstanceKey::Str(k)), each_value: Some(v) }).collect())),
            Value::Set(xs) => {
                let mut out = Vec::new();
                for x in xs {
                    match x.unmarked() {
                        Value::String(s) => out.push(Expansion { key: Some(InstanceKey::Str(s.to_string())), each_value: Some(Value::string(s.clone())) }),
                        Value::Unknown => return Ok(None),
                        other => return Err(bad(format!("The given \"for_each\" argument value is unsuitable: \"for_each\" supports maps and sets of strings, but you have provided a set containing type {}.", other.type_name()))),
                    }
                }
                Ok(Some(out))
            }
            Value::List(_) => Err(bad("The given \"for_each\" argument value is unsuitable: the \"for_each\" argument must be a map, or set of strings, and you have provided a value of type list. Convert it with toset(...) or build a map with a for expression.".into())),
            Value::Null => Err(bad("The given \"for_each\" argument value is null. A map, or set of strings is allowed.".into())),
            other => Err(bad(format!("The given \"for_each\" argument value is unsuitable: the \"for_each\" argument must be a map, or set of strings, and you have provided a value of type {}.", other.type_name()))),
        };
    }
    Ok(Some(vec![Expansion {
        key: None,
        each_value: None,
    }]))
}

fn static_depends_on(r: &ResourceBlock, inst: &ModuleInstance, m: &Module) -> Vec<ResourceAddr> {
    let mut out = Vec::new();
    for e in &r.depends_on {
        for rf in e.refs() {
            if let RefSubject::Resource {
                mode,
                type_name,
                name,
            } = &rf.subject
            {
                let a = ResourceAddr {
                    module: inst.clone(),
                    mode: *mode,
                    type_name: type_name.clone(),
                    name: name.clone(),
                    key: None,
                };
                if m.resources.contains_key(&a.local_name()) {
                    out.push(a);
                }
            }
        }
    }
    out
}

struct GraphBuilder<'a> {
    ev: &'a Evaluator,
    stack: &'a RefCell<Vec<String>>,
    nodes: Vec<GraphNode>,
    diags: Diagnostics,
    providers: BTreeMap<ProviderRef, (Vec<String>, Option<SourceRange>)>,
}

impl GraphBuilder<'_> {
    fn instances_of(
        &mut self,
        inst: &ModuleInstance,
        m: &Module,
        call: &ModuleCall,
    ) -> Vec<ModuleInstance> {
        match self.ev.expansions(inst, m, call, &NoResources, self.stack) {
            Ok(e) => e
                .list
                .iter()
                .map(|x| inst.child(&call.name, x.key.clone()))
                .collect(),
            Err(d) => {
                self.diags.extend(d);
                Vec::new()
            }
        }
    }

    fn refs_to_ids<'r>(
        &mut self,
        refs: impl IntoIterator<Item = &'r Reference>,
        inst: &ModuleInstance,
        m: &Module,
        out: &mut Vec<String>,
    ) {
        let p = prefix(inst);
        for r in refs {
            match &r.subject {
                RefSubject::Var(n) if m.variables.contains_key(n) => {
                    out.push(format!("{p}var.{n}"))
                }
                RefSubject::Local(n) if m.locals.contains_key(n) => {
                    out.push(format!("{p}local.{n}"))
                }
                RefSubject::Resource {
                    mode,
                    type_name,
                    name,
                } => {
                    let local = match mode {
                        ResourceMode::Managed => format!("{type_name}.{name}"),
                        ResourceMode::Data => format!("data.{type_name}.{name}"),
                    };
                    if m.resources.contains_key(&local) {
                        out.push(format!("{p}{local}"));
                    }
                }
                RefSubject::Module(n) => {
                    let Some(call) = m.module_calls.get(n) else {
                        continue;
                    };
                    let Some(child) = &call.child else { continue };
                    let outputs: Vec<&String> = match &r.attr {
                        Some((a, _)) if child.outputs.contains_key(a) => vec![
                            child
                                .outputs
                                .get_key_value(a)
                                .map(|x| x.0)
                                .expect("present"),
                        ],
                        _ => child.outputs.keys().collect(),
                    };
                    for ci in self.instances_of(inst, m, call) {
                        for o in &outputs {
                            out.push(format!("{ci}.output.{o}"));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn module(
        &mut self,
        inst: &ModuleInstance,
        m: &Module,
        parent: Option<(&ModuleInstance, &Module, &ModuleCall)>,
        inherited: &[String],
    ) {
        let p = prefix(inst);
        // Every expression's references are collected once (cached on the
        // expression or block): this runs once per module instance, and the
        // call's count/for_each is the same expression for all of them.
        for (name, v) in &m.variables {
            let mut deps = Vec::new();
            if let Some((pi, pm, call)) = parent {
                let exprs = call
                    .args
                    .get(name)
                    .into_iter()
                    .chain(call.count.iter())
                    .chain(call.for_each.iter());
                self.refs_to_ids(exprs.flat_map(Expr::refs), pi, pm, &mut deps);
            }
            self.push(
                format!("{p}var.{name}"),
                NodeKind::Variable(name.clone()),
                inst,
                deps,
                Some(v.range.clone()),
            );
        }
        for (name, l) in &m.locals {
            let mut deps = Vec::new();
            self.refs_to_ids(l.value.refs(), inst, m, &mut deps);
            self.push(
                format!("{p}local.{name}"),
                NodeKind::Local(name.clone()),
                inst,
                deps,
                Some(l.range.clone()),
            );
        }
        for (name, o) in &m.outputs {
            let conds = o
                .preconditions
                .iter()
                .flat_map(|c| [&c.condition, &c.error_message]);
            let refs = o
                .value
                .iter()
                .chain(&o.depends_on)
                .chain(conds)
                .flat_map(Expr::refs);
            let mut deps = Vec::new();
            self.refs_to_ids(refs, inst, m, &mut deps);
            self.push(
                format!("{p}output.{name}"),
                NodeKind::Output(name.clone()),
                inst,
                deps,
                Some(o.range.clone()),
            );
        }
        for r in m.resources.values() {
            let meta = r
                .count
                .as_deref()
                .into_iter()
                .chain(r.for_each.as_deref())
                .chain(r.depends_on.iter())
                .chain(r.replace_exprs.iter())
                .chain(
                    r.preconditions
                        .iter()
                        .chain(&r.postconditions)
                        .flat_map(|c| [&c.condition, &c.error_message]),
                )
                .flat_map(Expr::refs);
            let mut deps = inherited.to_vec();
            self.refs_to_ids(r.body_refs().refs.iter().chain(meta), inst, m, &mut deps);
            let provider = self.ev.resolve_provider(inst, &r.provider);
            deps.push(format!("provider.{provider}"));
            self.providers
                .entry(provider)
                .or_insert_with(|| (Vec::new(), None));
            self.push(
                format!("{p}{}", r.local_name()),
                NodeKind::Resource(r.addr(inst)),
                inst,
                deps,
                Some(r.range.clone()),
            );
        }
        for call in m.module_calls.values() {
            let Some(child) = &call.child else { continue };
            let mut inherited_child = inherited.to_vec();
            let refs = call.depends_on.iter().flat_map(Expr::refs);
            self.refs_to_ids(refs, inst, m, &mut inherited_child);
            for ci in self.instances_of(inst, m, call) {
                self.module(&ci, child, Some((inst, m, call)), &inherited_child);
            }
        }
    }

    fn push(
        &mut self,
        id: String,
        kind: NodeKind,
        inst: &ModuleInstance,
        mut deps: Vec<String>,
        range: Option<SourceRange>,
    ) {
        let mut seen = HashSet::new();
        deps.retain(|d| seen.insert(d.clone()));
        // Kept with the node for the whole run: no spare slots (a resource
        // with one dependency, its provider, had reserved four).
        deps.shrink_to_fit();
        self.nodes.push(GraphNode {
            id,
            kind,
            module: inst.clone(),
            deps,
            range,
        });
    }
}

/// Strongly connected components with more than one member (or a self
/// reference), as diagnostics naming every member.
fn find_cycles(nodes: &[GraphNode]) -> Vec<Diagnostic> {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let adj: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            n.deps
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    // Iterative Tarjan.
    let n = nodes.len();
    let mut idx = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut sccs = Vec::new();
    for start in 0..n {
        if idx[start] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(start, 0)];
        idx[start] = next;
        low[start] = next;
        next += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(&mut (v, ref mut ei)) = work.last_mut() {
            if *ei < adj[v].len() {
                let w = adj[v][*ei];
                *ei += 1;
                if idx[w] == usize::MAX {
                    idx[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(idx[w]);
                }
            } else {
                work.pop();
                if let Some(&(u, _)) = work.last() {
                    low[u] = low[u].min(low[v]);
                }
                if low[v] == idx[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if comp.len() > 1 || adj[v].contains(&v) {
                        sccs.push(comp);
                    }
                }
            }
        }
    }
    sccs.into_iter()
        .map(|mut comp| {
            comp.sort_by(|a, b| {
                let ka = nodes[*a].range.as_ref().map(|r| (r.filename.clone(), r.start.byte));
                let kb = nodes[*b].range.as_ref().map(|r| (r.filename.clone(), r.start.byte));
                ka.cmp(&kb).then(nodes[*a].id.cmp(&nodes[*b].id))
            });
            let members: Vec<String> = comp
                .iter()
                .map(|i| match &nodes[*i].range {
                    Some(r) => format!("{} ({}:{})", nodes[*i].id, r.filename, r.start.line),
                    None => nodes[*i].id.clone(),
                })
                .collect();
            Diagnostic::error("Cycle in dependencies", format!("These objects depend on each other, so none of them can be evaluated first: {}.", members.join(", ")))
                .at(nodes[comp[0]].range.clone())
        })
        .collect()
}

/// Every reference resolves; resource attributes exist; count/each used only where set.
fn check_module_refs(m: &Module, schemas: &dyn SchemaLookup, diags: &mut Diagnostics) {
    /// The references of one or more expressions of a block (collected
    /// once per expression, see `Expr::collected`), checked together.
    struct Item<'a> {
        file: &'a Arc<SourceFile>,
        parts: Vec<&'a CollectedRefs>,
        count: bool,
        each: bool,
    }
    let mut items: Vec<Item> = Vec::new();
    fn one(e: &Expr) -> Vec<&CollectedRefs> {
        vec![e.collected()]
    }
    for l in m.locals.values() {
        items.push(Item {
            file: &l.value.file,
            parts: one(&l.value),
            count: false,
            each: false,
        });
    }
    for c in m.checks.iter().flat_map(|c| c.asserts.iter()) {
        for e in [&c.condition, &c.error_message] {
            items.push(Item {
                file: &e.file,
                parts: one(e),
                count: false,
                each: false,
            });
        }
    }
    for o in m.outputs.values() {
        let conds = o
            .preconditions
            .iter()
            .flat_map(|c| [&c.condition, &c.error_message]);
        for e in o.value.iter().chain(o.depends_on.iter()).chain(conds) {
            items.push(Item {
                file: &e.file,
                parts: one(e),
                count: false,
                each: false,
            });
        }
    }
    for v in m.variables.values() {
        for val in &v.validations {
            for e in [&val.condition, &val.error_message] {
                items.push(Item {
                    file: &e.file,
                    parts: one(e),
                    count: false,
                    each: false,
                });
            }
        }
    }
    for p in &m.providers {
        items.push(Item {
            file: &p.file,
            parts: vec![p.body_refs()],
            count: false,
            each: false,
        });
    }
    for r in m.resources.values() {
        let mut parts = vec![r.body_refs()];
        parts.extend(
            r.depends_on
                .iter()
                .chain(r.replace_exprs.iter())
                .chain(
                    r.preconditions
                        .iter()
                        .chain(&r.postconditions)
                        .flat_map(|c| [&c.condition, &c.error_message]),
                )
                .map(Expr::collected),
        );
        items.push(Item {
            file: &r.file,
            parts,
            count: r.count.is_some(),
            each: r.for_each.is_some(),
        });
        for e in r.count.iter().chain(r.for_each.iter()) {
            items.push(Item {
                file: &e.file,
                parts: one(e),
                count: false,
                each: false,
            });
        }
    }
    for call in m.module_calls.values() {
        for e in call.args.values().chain(call.depends_on.iter()) {
            items.push(Item {
                file: &e.file,
                parts: one(e),
                count: call.count.is_some(),
                each: call.for_each.is_some(),
            });
        }
        for e in call.count.iter().chain(call.for_each.iter()) {
            items.push(Item {
                file: &e.file,
                parts: one(e),
                count: false,
                each: false,
            });
        }
    }
    let inst_label = if m.path.is_empty() {
        "the root module".to_string()
    } else {
        format!("module.{}", m.path.join(".module."))
    };
    for item in items {
        let f = item.file;
        for b in item.parts.iter().flat_map(|p| &p.bad) {
            diags.push(error(
                f,
                b.span.clone(),
                "Invalid reference",
                b.message.clone(),
            ));
        }
        for r in item.parts.iter().flat_map(|p| &p.refs) {
            let sp = r.span.clone();
            match &r.subject {
                RefSubject::Var(n) if !m.variables.contains_key(n) => diags.push(error(
                    f,
                    sp,
                    "Reference to undeclared input variable",
                    format!("An input variable with the name \"{n}\" has not been declared. This variable can be declared with a variable \"{n}\" {{}} block.{}", did_you_mean(n, m.variables.keys().map(String::as_str))),
                )),
                RefSubject::Local(n) if !m.locals.contains_key(n) => diags.push(error(
                    f,
                    sp,
                    "Reference to undeclared local value",
                    format!("A local value with the name \"{n}\" has not been declared.{}", did_you_mean(n, m.locals.keys().map(String::as_str))),
                )),
                RefSubject::Resource { mode, type_name, name } => {
                    let local = match mode {
                        ResourceMode::Managed => format!("{type_name}.{name}"),
                        ResourceMode::Data => format!("data.{type_name}.{name}"),
                    };
                    let Some(block) = m.resources.get(&local) else {
                        diags.push(error(
                            f,
                            sp,
                            "Reference to undeclared resource",
                            format!(
                                "A {} \"{type_name}\" \"{name}\" has not been declared in {inst_label}.{}",
                                if *mode == ResourceMode::Data { "data resource" } else { "managed resource" },
                                did_you_mean(&local, m.resources.keys().map(String::as_str))
                            ),
                        ));
                        continue;
                    };
                    let Some((attr, aspan)) = &r.attr else { continue };
                    if let Some(schema) = schemas.body_schema(*mode, type_name) {
                        let known = schema.attributes.iter().any(|(a, _)| a == attr) || schema.blocks.iter().any(|(b, _)| b == attr);
                        let counted = block.count.is_some() || block.for_each.is_some();
                        if !known && !counted {
                            let names: Vec<&str> = schema.attributes.iter().map(|(a, _)| a.as_str()).chain(schema.blocks.iter().map(|(b, _)| b.as_str())).collect();
                            diags.push(error(
                                f,
                                aspan.clone(),
                                "Unsupported attribute",
                                format!("This object has no argument, nested block, or exported attribute named \"{attr}\".{}", did_you_mean(attr, names)),
                            ));
                        }
                    }
                }
                RefSubject::Module(n) => {
                    let Some(call) = m.module_calls.get(n) else {
                        diags.push(error(
                            f,
                            sp,
                            "Reference to undeclared module",
                            format!("No module call named \"{n}\" is declared in {inst_label}.{}", did_you_mean(n, m.module_calls.keys().map(String::as_str))),
                        ));
                        continue;
                    };
                    if let (Some(child), Some((attr, aspan))) = (&call.child, &r.attr)
                        && !child.outputs.contains_key(attr)
                    {
                        diags.push(error(
                            f,
                            aspan.clone(),
                            "Reference to undeclared output value",
                            format!("Module \"{n}\" has no output named \"{attr}\".{}", did_you_mean(attr, child.outputs.keys().map(String::as_str))),
                        ));
                    }
                }
                RefSubject::Count(a) if a == "index" && !item.count => diags.push(error(
                    f,
                    sp,
                    "Reference to \"count\" in non-counted context",
                    "The \"count\" object can only be used in \"module\", \"resource\", and \"data\" blocks, and only when the \"count\" argument is set.",
                )),
                RefSubject::Each(a) if (a == "key" || a == "value") && !item.each => diags.push(error(
                    f,
                    sp,
                    "Reference to \"each\" in context without for_each",
                    "The \"each\" object can be used only in \"module\" or \"resource\" blocks, and only when the \"for_each\" argument is set.",
                )),
                _ => {}
            }
        }
    }
}

fn check_module_schemas(m: &Module, schemas: &dyn SchemaLookup, diags: &mut Diagnostics) {
    let providers = schemas.provider_names();
    let missing = |name: &str| !providers.is_empty() && !providers.iter().any(|p| p == name);
    let included = providers.join(", ");
    for p in &m.providers {
        if missing(&p.name) {
            diags.push(
                Diagnostic::error(
                    "Provider not included in terrace",
                    format!(
                        "terrace does not include the `{}` provider, so this provider block cannot be configured.{} Providers terrace includes: {included}.",
                        p.name,
                        did_you_mean(&p.name, providers.iter().map(String::as_str))
                    ),
                )
                .at(Some(p.range.clone())),
            );
        }
    }
    for r in m.resources.values() {
        let Some(schema) = schemas.body_schema(r.mode, &r.type_name) else {
            let pname = r.provider.name.as_str();
            let what = match r.mode {
                ResourceMode::Managed => "resource type",
                ResourceMode::Data => "data source",
            };
            if missing(pname) {
                diags.push(
                    Diagnostic::error(
                        "Provider not included in terrace",
                        format!(
                            "The {what} `{}` belongs to the `{pname}` provider, which terrace does not include. Providers terrace includes: {included}.",
                            r.type_name
                        ),
                    )
                    .at(Some(r.range.clone())),
                );
                continue;
            }
            let names = schemas.type_names(r.mode);
            let summary = match r.mode {
                ResourceMode::Managed => "Unsupported resource type",
                ResourceMode::Data => "Unsupported data source",
            };
            diags.push(
                Diagnostic::error(
                    summary,
                    format!(
                        "The provider \"{pname}\" does not support the {what} \"{}\".{}",
                        r.type_name,
                        did_you_mean(&r.type_name, names.iter().map(String::as_str))
                    ),
                )
                .at(Some(r.range.clone())),
            );
            continue;
        };
        check_body(&r.file, &r.body, &schema, r.range.clone(), diags);
    }
}

/// A resource body with the arguments and blocks of override files merged in.
fn overlay_bodies(scope: &Scope, r: &ResourceBlock, base: Value) -> R<Value> {
    if r.overlays.is_empty() {
        return Ok(base);
    }
    let Value::Map(mut m) = base else {
        return Ok(base);
    };
    for (file, body) in &r.overlays {
        let mut ctx = Ctx::new(file, scope);
        if let Value::Map(o) = eval_body(&mut ctx, body)? {
            m.extend(o);
        }
    }
    Ok(Value::Map(m))
}

fn is_json_file(f: &SourceFile) -> bool {
    f.name.ends_with(".json")
}

/// In a `.tf.json` body, an object (or list of objects) given for what the
/// schema calls a nested block is that block (or those blocks).
fn json_blocks(v: Value, schema: &BodySchema) -> Value {
    let Value::Map(mut m) = v else { return v };
    for (name, sub) in &schema.blocks {
        let Some(x) = m.remove(name) else { continue };
        let x = match x {
            Value::Map(_) => Value::List(vec![json_blocks(x, sub)]),
            Value::List(xs) => Value::List(xs.into_iter().map(|x| json_blocks(x, sub)).collect()),
            other => other,
        };
        m.insert(name.clone(), x);
    }
    Value::Map(m)
}

fn check_body(
    file: &SourceFile,
    body: &Body,
    schema: &BodySchema,
    header: SourceRange,
    diags: &mut Diagnostics,
) {
    let attr_names: Vec<&str> = schema
        .attributes
        .iter()
        .filter(|(_, r)| *r != AttrRequirement::Computed)
        .map(|(a, _)| a.as_str())
        .collect();
    let block_names: Vec<&str> = schema.blocks.iter().map(|(b, _)| b.as_str()).collect();
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => {
                let k = a.key.as_str();
                match schema.attributes.iter().find(|(n, _)| n == k) {
                    Some((_, AttrRequirement::Computed)) => diags.push(error(
                        file,
                        span_of(&a.key),
                        "Unsupported argument",
                        format!("The argument \"{k}\" is computed by the provider and cannot be set in configuration."),
                    )),
                    Some(_) => {}
                    None if block_names.contains(&k) && is_json_file(file) => {}
                    None if block_names.contains(&k) => diags.push(error(
                        file,
                        span_of(&a.key),
                        "Unsupported argument",
                        format!("An argument named \"{k}\" is not expected here. Did you mean to define a block of type \"{k}\"?"),
                    )),
                    None => diags.push(error(
                        file,
                        span_of(&a.key),
                        "Unsupported argument",
                        format!("An argument named \"{k}\" is not expected here.{}", did_you_mean(k, attr_names.iter().copied())),
                    )),
                }
            }
            Structure::Block(b) => {
                let (ty, inner, span) = if b.ident.as_str() == "dynamic" {
                    let ty = b.labels.first().map(|l| l.as_str()).unwrap_or("");
                    (
                        ty,
                        b.body.get_blocks("content").next().map(|c| &c.body),
                        b.labels.first().map(span_of).unwrap_or(span_of(&b.ident)),
                    )
                } else {
                    (b.ident.as_str(), Some(&b.body), span_of(&b.ident))
                };
                match schema.blocks.iter().find(|(n, _)| n == ty) {
                    Some((_, sub)) => {
                        if let Some(inner) = inner {
                            check_body(file, inner, sub, file.range(header_span(b)), diags);
                        }
                    }
                    None if attr_names.contains(&ty) => diags.push(error(
                        file,
                        span,
                        "Unsupported block type",
                        format!("Blocks of type \"{ty}\" are not expected here. Did you mean to define argument \"{ty}\"? If so, use the equals sign to assign it a value."),
                    )),
                    None => diags.push(error(
                        file,
                        span,
                        "Unsupported block type",
                        format!("Blocks of type \"{ty}\" are not expected here.{}", did_you_mean(ty, block_names.iter().copied())),
                    )),
                }
            }
        }
    }
    for (name, req) in &schema.attributes {
        if *req == AttrRequirement::Required && body.get_attribute(name).is_none() {
            diags.push(
                Diagnostic::error(
                    "Missing required argument",
                    format!("The argument \"{name}\" is required, but no definition was found."),
                )
                .at(Some(header.clone())),
            );
        }
    }
}

/// Unknown functions and wrong argument counts, found without evaluating.
fn check_functions(m: &Module, diags: &mut Diagnostics) {
    fn walk(e: &Expression, f: &SourceFile, diags: &mut Diagnostics) {
        use hcl_edit::expr::TraversalOperator;
        match e {
            Expression::FuncCall(call) => {
                let name = call.name.name.as_str();
                let n = call.args.len();
                let builtin_arity: Option<(usize, Option<usize>)> = match name {
                    "try" => Some((1, None)),
                    "can" | "sensitive" | "nonsensitive" => Some((1, Some(1))),
                    "templatefile" | "templatestring" | "convert" => Some((2, Some(2))),
                    _ => crate::functions::signature(name),
                };
                match builtin_arity {
                    _ if call.name.is_namespaced() => {
                        diags.push(error(
                            f,
                            span_of(&call.name.name),
                            "Call to unsupported provider function",
                            crate::eval::provider_function_detail(&call.name),
                        ));
                    }
                    None => {
                        let mut names = crate::functions::names();
                        names.extend(
                            [
                                "try",
                                "can",
                                "convert",
                                "templatefile",
                                "templatestring",
                                "sensitive",
                                "nonsensitive",
                            ]
                            .map(String::from),
                        );
                        diags.push(error(
                            f,
                            span_of(&call.name.name),
                            "Call to unknown function",
                            format!(
                                "There is no function named \"{name}\".{}",
                                did_you_mean(name, names.iter().map(String::as_str))
                            ),
                        ));
                    }
                    Some((min, max))
                        if !call.args.expand_final() && (n < min || max.is_some_and(|x| n > x)) =>
                    {
                        let expected = match max {
                            Some(x) if x == min => format!("exactly {min}"),
                            Some(x) => format!("{min} to {x}"),
                            None => format!("at least {min}"),
                        };
                        let plural = if expected.ends_with('1') {
                            "argument"
                        } else {
                            "arguments"
                        };
                        let summary = if n < min {
                            "Not enough function arguments"
                        } else {
                            "Too many function arguments"
                        };
                        diags.push(error(f, span_of(e), summary, format!("Function \"{name}\" expects {expected} {plural}, but {n} were given.")));
                    }
                    _ => {}
                }
                // `convert`'s second argument is a type, not an expression.
                let n = if name == "convert" {
                    1
                } else {
                    call.args.len()
                };
                call.args.iter().take(n).for_each(|a| walk(a, f, diags));
            }
            Expression::Array(a) => a.iter().for_each(|x| walk(x, f, diags)),
            Expression::Object(o) => o.iter().for_each(|(k, v)| {
                if let hcl_edit::expr::ObjectKey::Expression(k) = k {
                    walk(k, f, diags);
                }
                walk(v.expr(), f, diags);
            }),
            Expression::Parenthesis(p) => walk(p.inner(), f, diags),
            Expression::Conditional(c) => {
                walk(&c.cond_expr, f, diags);
                walk(&c.true_expr, f, diags);
                walk(&c.false_expr, f, diags);
            }
            Expression::Traversal(t) => {
                walk(&t.expr, f, diags);
                for op in &t.operators {
                    if let TraversalOperator::Index(i) = op.value() {
                        walk(i, f, diags);
                    }
                }
            }
            Expression::UnaryOp(u) => walk(&u.expr, f, diags),
            Expression::BinaryOp(b) => {
                walk(&b.lhs_expr, f, diags);
                walk(&b.rhs_expr, f, diags);
            }
            Expression::ForExpr(fe) => {
                walk(&fe.intro.collection_expr, f, diags);
                if let Some(k) = &fe.key_expr {
                    walk(k, f, diags);
                }
                walk(&fe.value_expr, f, diags);
                if let Some(c) = &fe.cond {
                    walk(&c.expr, f, diags);
                }
            }
            Expression::StringTemplate(t) => walk_template(t, f, diags),
            Expression::HeredocTemplate(h) => walk_template(&h.template, f, diags),
            _ => {}
        }
    }
    fn walk_template(t: &hcl_edit::template::Template, f: &SourceFile, diags: &mut Diagnostics) {
        use hcl_edit::template::{Directive, Element};
        for el in t.iter() {
            match el {
                Element::Interpolation(i) => walk(&i.expr, f, diags),
                Element::Directive(d) => match d.as_ref() {
                    Directive::If(d) => {
                        walk(&d.if_expr.cond_expr, f, diags);
                        walk_template(&d.if_expr.template, f, diags);
                        if let Some(e) = &d.else_expr {
                            walk_template(&e.template, f, diags);
                        }
                    }
                    Directive::For(d) => {
                        walk(&d.for_expr.collection_expr, f, diags);
                        walk_template(&d.for_expr.template, f, diags);
                    }
                },
                Element::Literal(_) => {}
            }
        }
    }
    fn walk_body(b: &Body, f: &SourceFile, diags: &mut Diagnostics) {
        for s in b.iter() {
            match s {
                Structure::Attribute(a) => walk(&a.value, f, diags),
                Structure::Block(b) => walk_body(&b.body, f, diags),
            }
        }
    }
    for l in m.locals.values() {
        walk(&l.value.expr, &l.value.file, diags);
    }
    for o in m.outputs.values() {
        if let Some(e) = &o.value {
            walk(&e.expr, &e.file, diags);
        }
    }
    for r in m.resources.values() {
        walk_body(&r.body, &r.file, diags);
        for e in r.count.iter().chain(r.for_each.iter()) {
            walk(&e.expr, &e.file, diags);
        }
    }
    for c in m.module_calls.values() {
        for e in c
            .args
            .values()
            .chain(c.count.iter())
            .chain(c.for_each.iter())
        {
            walk(&e.expr, &e.file, diags);
        }
    }
    for p in &m.providers {
        walk_body(&p.body, &p.file, diags);
    }
}

/// Evaluate an expression in `ctx`'s scope, with the expression's own file.
fn eval_expr(ctx: &Ctx<'_>, e: &Expr) -> R<Value> {
    let mut c = Ctx {
        file: &e.file,
        env: ctx.env,
        bindings: ctx.bindings.clone(),
        depth: ctx.depth,
    };
    c.eval(&e.expr)
}

/// Evaluate `condition`s: a known false one is an error whose detail is its
/// `error_message`; an unknown one waits for apply.
fn check_conditions(
    ctx: &Ctx<'_>,
    conds: &[crate::config::Condition],
    summary: &str,
    owner: &str,
) -> R<()> {
    let mut diags = Diagnostics::new();
    for c in conds {
        let v = match eval_expr(ctx, &c.condition) {
            Ok(v) => v,
            Err(d) => {
                diags.extend(d);
                continue;
            }
        };
        match v.unmarked() {
            Value::Bool(true) | Value::Unknown => {}
            Value::Bool(false) => {
                let msg = match eval_expr(ctx, &c.error_message) {
                    Ok(m) => match m.unmarked() {
                        Value::String(s) => s.to_string(),
                        _ => "(the error_message is not a string)".to_string(),
                    },
                    Err(d) => d
                        .iter()
                        .map(|x| x.detail.clone())
                        .collect::<Vec<_>>()
                        .join(" "),
                };
                diags.push(
                    Diagnostic::error(
                        summary,
                        format!("{msg}\n\nThis was checked by the condition of {owner}."),
                    )
                    .at(Some(c.condition.range())),
                );
            }
            other => diags.push(
                Diagnostic::error(
                    "Invalid condition result",
                    format!(
                        "The condition of {owner} must be a bool, but is {}.",
                        other.type_name()
                    ),
                )
                .at(Some(c.condition.range())),
            ),
        }
    }
    if diags.is_empty() { Ok(()) } else { Err(diags) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_config;
    use crate::refs::visits;
    use crate::source::SourceMap;

    struct DataOnly;

    impl SchemaLookup for DataOnly {
        fn body_schema(&self, mode: ResourceMode, type_name: &str) -> Option<BodySchema> {
            (mode == ResourceMode::Managed && type_name == "terraform_data").then(|| BodySchema {
                attributes: vec![
                    ("input".into(), AttrRequirement::Optional),
                    ("output".into(), AttrRequirement::Computed),
                    ("id".into(), AttrRequirement::Computed),
                ],
                blocks: Vec::new(),
            })
        }
        fn type_names(&self, _: ResourceMode) -> Vec<String> {
            vec!["terraform_data".into()]
        }
    }

    /// A root module calling `modules/unit` with `for_each` over `keys`
    /// literal keys (plus one from a local).
    fn project(keys: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let unit = dir.path().join("modules/unit");
        std::fs::create_dir_all(&unit).expect("module dir");
        std::fs::write(
            unit.join("main.tf"),
            r#"
variable "name" {
  type = string
}
locals {
  tag = "${var.name}-tag"
}
resource "terraform_data" "r0" {
  input = local.tag
}
resource "terraform_data" "r1" {
  input      = terraform_data.r0.output
  depends_on = [terraform_data.r0]
}
output "id" {
  value = terraform_data.r1.output
}
"#,
        )
        .expect("module file");
        let root = dir.path().join("env");
        std::fs::create_dir_all(&root).expect("env dir");
        let list: Vec<String> = (0..keys).map(|k| format!("\"k{k}\"")).collect();
        std::fs::write(
            root.join("main.tf"),
            format!(
                r#"
variable "prefix" {{
  type = string
}}
locals {{
  extra = ["x"]
}}
module "m" {{
  source   = "../modules/unit"
  for_each = toset(concat(local.extra, [{}]))
  name     = "${{var.prefix}}-${{each.key}}"
}}
output "ids" {{
  value = [for k, m in module.m : m.id]
}}
"#,
                list.join(", ")
            ),
        )
        .expect("root file");
        dir
    }

    /// Validate and build the graph; the reference-collection work done
    /// (expression nodes visited) and the graph.
    fn validate_and_graph(keys: usize) -> (usize, Vec<GraphNode>, Evaluator) {
        let dir = project(keys);
        let mut sources = SourceMap::default();
        let (config, diags) = load_config(&dir.path().join("env"), &mut sources);
        assert!(!diags.has_errors(), "{diags:?}");
        let config = Arc::new(config.expect("config"));
        let vars = BTreeMap::from([("prefix".to_string(), Value::from("p"))]);
        let ev = Evaluator::new(config, "test", vars);
        let before = visits();
        let diags = ev.validate(&DataOnly);
        assert!(diags.is_empty(), "{diags:?}");
        let nodes = ev.graph_nodes().expect("graph");
        (visits() - before, nodes, ev)
    }

    #[test]
    fn module_for_each_collects_references_once_per_block() {
        let (small, _, _) = validate_and_graph(2);
        let (large, nodes, ev) = validate_and_graph(300);
        // The only expression that grew is the key list: 298 more string
        // literals, each visited once. A walk per module instance (of the
        // call's for_each for every child variable, or of the child's own
        // blocks) would add hundreds of visits per instance.
        assert_eq!(large - small, 298, "small {small}, large {large}");

        // 301 instances of 1 variable, 1 local, 2 resources and 1 output,
        // the root's variable, local and output, and the provider.
        assert_eq!(nodes.len(), 301 * 5 + 4);
        let var = nodes
            .iter()
            .find(|n| n.id == "module.m[\"k7\"].var.name")
            .expect("child variable node");
        assert_eq!(var.deps, vec!["var.prefix", "local.extra"]);
        let out = nodes.iter().find(|n| n.id == "output.ids").expect("output");
        assert_eq!(out.deps.len(), 301);
        assert!(out.deps.contains(&"module.m[\"x\"].output.id".to_string()));
        let r1 = nodes
            .iter()
            .find(|n| n.id == "module.m[\"k299\"].terraform_data.r1")
            .expect("resource node");
        assert_eq!(
            r1.deps,
            vec!["module.m[\"k299\"].terraform_data.r0", "provider.terraform"]
        );
        // Each instance's variable is evaluated with its own key.
        for key in ["x", "k0", "k150", "k299"] {
            let node = nodes
                .iter()
                .find(|n| n.id == format!("module.m[\"{key}\"].var.name"))
                .expect("variable node");
            assert_eq!(
                ev.eval_node(node, &NoResources).expect("value"),
                Value::from(format!("p-{key}"))
            );
        }
    }
}
