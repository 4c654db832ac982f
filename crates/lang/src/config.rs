//! The unevaluated configuration: a tree of modules loaded from `.tf` files.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::structure::{Attribute, Block, Body, Structure};
use indexmap::IndexMap;
use terrace_core::{
    Diagnostic, Diagnostics, InstanceKey, ModuleInstance, PathStep, ResourceAddr, ResourceMode,
    SourceRange, Value, ValuePath,
};

use crate::eval::eval_const;
use crate::refs::{CollectedRefs, Reference, span_of};
use crate::source::{SourceFile, SourceMap};
use crate::suggest::did_you_mean;
use crate::types::{TypeConstraint, convert, parse_type};

/// A provider configuration reference: `aws` or `aws.west`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderRef {
    pub name: String,
    pub alias: Option<String>,
}

impl ProviderRef {
    pub fn new(name: &str, alias: Option<&str>) -> Self {
        ProviderRef {
            name: name.to_string(),
            alias: alias.map(str::to_string),
        }
    }

    /// The default provider of a resource type: the prefix before the first
    /// `_` (`aws_instance` → `aws`), `terraform` for `terraform_data`.
    pub fn default_for(type_name: &str) -> Self {
        let name = type_name.split('_').next().unwrap_or(type_name);
        ProviderRef {
            name: name.to_string(),
            alias: None,
        }
    }
}

impl fmt::Display for ProviderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.alias {
            Some(a) => write!(f, "{}.{a}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// An expression with the file it was written in.
#[derive(Debug, Clone)]
pub struct Expr {
    pub(crate) expr: Expression,
    pub(crate) file: Arc<SourceFile>,
    /// The references of `expr`, collected on first use.
    collected: OnceLock<CollectedRefs>,
}

impl Expr {
    pub(crate) fn new(expr: Expression, file: &Arc<SourceFile>) -> Self {
        Expr {
            expr,
            file: file.clone(),
            collected: OnceLock::new(),
        }
    }
    /// An expression of a postcondition, where `self` names the object.
    pub(crate) fn with_self(expr: Expression, file: &Arc<SourceFile>) -> Self {
        let collected = OnceLock::from(CollectedRefs::of_expr_with_self(&expr));
        Expr {
            expr,
            file: file.clone(),
            collected,
        }
    }
    pub fn range(&self) -> SourceRange {
        self.file.range(span_of(&self.expr))
    }
    /// The source text of the expression.
    pub fn text(&self) -> &str {
        self.file.slice(span_of(&self.expr))
    }
    /// The references (and bad reference prefixes) of the expression,
    /// walked once per expression however many module instances use it.
    pub(crate) fn collected(&self) -> &CollectedRefs {
        self.collected
            .get_or_init(|| CollectedRefs::of_expr(&self.expr))
    }
    pub(crate) fn refs(&self) -> &[Reference] {
        &self.collected().refs
    }
}

/// The whole configuration: the root module and, inside it, every called module.
#[derive(Debug)]
pub struct Config {
    pub root: Module,
}

impl Config {
    /// The module at a config path (module call names from the root).
    pub fn module(&self, path: &[String]) -> Option<&Module> {
        let mut m = &self.root;
        for name in path {
            m = m.module_calls.get(name)?.child.as_deref()?;
        }
        Some(m)
    }

    /// Every module of the tree, root first.
    pub fn modules(&self) -> Vec<&Module> {
        let mut out = Vec::new();
        let mut stack = vec![&self.root];
        while let Some(m) = stack.pop() {
            out.push(m);
            for c in m.module_calls.values().rev() {
                if let Some(child) = &c.child {
                    stack.push(child);
                }
            }
        }
        out
    }
}

/// One module: the `.tf` files of one directory.
#[derive(Debug, Default)]
pub struct Module {
    pub dir: PathBuf,
    /// Module call names from the root (empty for the root module).
    pub path: Vec<String>,
    pub variables: IndexMap<String, Variable>,
    pub locals: IndexMap<String, Local>,
    pub outputs: IndexMap<String, Output>,
    /// By `aws_vpc.main` / `data.aws_ami.x`.
    pub resources: IndexMap<String, ResourceBlock>,
    pub module_calls: IndexMap<String, ModuleCall>,
    pub providers: Vec<ProviderBlock>,
    pub terraform: Option<TerraformBlock>,
    pub moved: Vec<MovedBlock>,
    pub imports: Vec<ImportBlock>,
    pub checks: Vec<CheckBlock>,
    pub removed: Vec<RemovedBlock>,
}

/// A `precondition`, `postcondition` or check `assert` block.
#[derive(Debug, Clone)]
pub struct Condition {
    pub range: SourceRange,
    pub(crate) condition: Expr,
    pub(crate) error_message: Expr,
}

/// A `check` block: assertions reported as warnings, never errors.
#[derive(Debug, Clone)]
pub struct CheckBlock {
    pub name: String,
    pub range: SourceRange,
    pub asserts: Vec<Condition>,
}

/// A `validation` block of a variable.
#[derive(Debug, Clone)]
pub struct Validation {
    pub(crate) condition: Expr,
    pub(crate) error_message: Expr,
}

/// A `variable` block.
#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub type_constraint: Option<TypeConstraint>,
    pub default: Option<Value>,
    pub description: Option<String>,
    pub sensitive: bool,
    pub nullable: bool,
    pub range: SourceRange,
    pub(crate) validations: Vec<Validation>,
}

impl Variable {
    /// CLI and environment strings are taken literally when the variable has
    /// no type or a primitive one (string, number, bool) and converted to it,
    /// as Terraform does; other types are parsed as HCL expressions.
    pub fn wants_string_input(&self) -> bool {
        matches!(
            self.type_constraint,
            None | Some(TypeConstraint::String | TypeConstraint::Number | TypeConstraint::Bool)
        )
    }
}

/// One entry of a `locals` block.
#[derive(Debug, Clone)]
pub struct Local {
    pub name: String,
    pub range: SourceRange,
    pub(crate) value: Expr,
}

/// An `output` block.
#[derive(Debug, Clone)]
pub struct Output {
    pub name: String,
    pub description: Option<String>,
    pub sensitive: bool,
    pub range: SourceRange,
    pub(crate) value: Option<Expr>,
    pub(crate) depends_on: Vec<Expr>,
    pub(crate) preconditions: Vec<Condition>,
}

/// `ignore_changes` of a lifecycle block.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum IgnoreChanges {
    #[default]
    None,
    All,
    Paths(Vec<ValuePath>),
}

/// One `replace_triggered_by` reference.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaceTrigger {
    /// The reference as written, e.g. `aws_launch_template.x.id`.
    pub text: String,
    /// The referenced resource (block or instance, in the same module instance).
    pub resource: Option<ResourceAddr>,
    pub range: SourceRange,
}

/// The `lifecycle` block of a resource.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lifecycle {
    pub create_before_destroy: bool,
    pub prevent_destroy: bool,
    pub ignore_changes: IgnoreChanges,
    pub replace_triggered_by: Vec<ReplaceTrigger>,
}

/// A `resource` or `data` block.
#[derive(Debug, Clone)]
pub struct ResourceBlock {
    pub mode: ResourceMode,
    pub type_name: String,
    pub name: String,
    /// The block header (`resource "aws_instance" "x"`).
    pub range: SourceRange,
    pub provider: ProviderRef,
    /// Boxed (as is `for_each`): most blocks have neither, and an inline
    /// `Expr` is 192 bytes of every block of a 100,000-block configuration.
    pub(crate) count: Option<Box<Expr>>,
    pub(crate) for_each: Option<Box<Expr>>,
    /// The meta-arguments most blocks leave unset (`lifecycle`,
    /// `depends_on`, conditions, override files), read through `Deref`
    /// (`block.lifecycle`); none while all are unset. Inline they were
    /// 176 bytes of every block.
    extras: Option<Box<BlockExtras>>,
    /// The body without meta-arguments.
    pub(crate) body: Body,
    pub(crate) file: Arc<SourceFile>,
    /// The references of `body` and `overlays`, collected on first use
    /// (after loading); boxed, and none when there are none (most blocks
    /// of a large configuration: 40 bytes each inline).
    collected_body: OnceLock<Option<Box<CollectedRefs>>>,
}

/// The parts of a [`ResourceBlock`] most blocks leave unset; a block
/// derefs to them (the shared empty set when it has none of them).
#[derive(Debug, Clone, Default)]
pub struct BlockExtras {
    pub lifecycle: Lifecycle,
    pub(crate) depends_on: Vec<Expr>,
    pub(crate) replace_exprs: Vec<Expr>,
    /// `lifecycle { precondition { … } }`: checked per instance before planning it.
    pub(crate) preconditions: Vec<Condition>,
    /// `lifecycle { postcondition { … } }`: checked per instance against the
    /// planned object (when known) and again after it is created, updated or read.
    pub(crate) postconditions: Vec<Condition>,
    /// Arguments and nested blocks from override files, each with its
    /// file (what they replace is gone from `body`).
    pub(crate) overlays: Vec<(Arc<SourceFile>, Body)>,
}

// A 100,000-block configuration holds 100,000 of these: keep them small.
const _: () = assert!(std::mem::size_of::<ResourceBlock>() <= 320);

static NO_EXTRAS: BlockExtras = BlockExtras {
    lifecycle: Lifecycle {
        create_before_destroy: false,
        prevent_destroy: false,
        ignore_changes: IgnoreChanges::None,
        replace_triggered_by: Vec::new(),
    },
    depends_on: Vec::new(),
    replace_exprs: Vec::new(),
    preconditions: Vec::new(),
    postconditions: Vec::new(),
    overlays: Vec::new(),
};

impl std::ops::Deref for ResourceBlock {
    type Target = BlockExtras;

    fn deref(&self) -> &BlockExtras {
        self.extras.as_deref().unwrap_or(&NO_EXTRAS)
    }
}

/// Writing to an extra part gives the block its own set of them.
impl std::ops::DerefMut for ResourceBlock {
    fn deref_mut(&mut self) -> &mut BlockExtras {
        self.extras.get_or_insert_with(Box::default)
    }
}

impl ResourceBlock {
    /// `aws_vpc.main` or `data.aws_ami.x`.
    pub fn local_name(&self) -> String {
        match self.mode {
            ResourceMode::Managed => format!("{}.{}", self.type_name, self.name),
            ResourceMode::Data => format!("data.{}.{}", self.type_name, self.name),
        }
    }
    pub fn has_count(&self) -> bool {
        self.count.is_some()
    }
    pub fn has_for_each(&self) -> bool {
        self.for_each.is_some()
    }
    /// The block address in a module instance.
    pub fn addr(&self, module: &ModuleInstance) -> ResourceAddr {
        ResourceAddr {
            module: module.clone(),
            mode: self.mode,
            type_name: self.type_name.clone(),
            name: self.name.clone(),
            key: None,
        }
    }
    /// The references of the body (meta-arguments excluded), walked once
    /// per block however many module instances contain it.
    pub(crate) fn body_refs(&self) -> &CollectedRefs {
        self.collected_body
            .get_or_init(|| {
                let mut c = CollectedRefs::of_body(&self.body);
                for (_, b) in &self.overlays {
                    let o = CollectedRefs::of_body(b);
                    c.refs.extend(o.refs);
                    c.bad.extend(o.bad);
                }
                (!c.refs.is_empty() || !c.bad.is_empty()).then(|| Box::new(c))
            })
            .as_deref()
            .unwrap_or(&crate::refs::NO_REFS)
    }
}

/// A `module` block.
#[derive(Debug)]
pub struct ModuleCall {
    pub name: String,
    pub source: String,
    /// The `version` constraint (registry modules only).
    pub version: Option<String>,
    pub range: SourceRange,
    /// The loaded child module; `None` when its folder could not be loaded.
    pub child: Option<Box<Module>>,
    /// `providers = { aws = aws.west }`: child name → parent provider.
    pub providers: Vec<(ProviderRef, ProviderRef)>,
    pub(crate) count: Option<Expr>,
    pub(crate) for_each: Option<Expr>,
    pub(crate) depends_on: Vec<Expr>,
    /// Inputs to the child's variables.
    pub(crate) args: IndexMap<String, Expr>,
}

/// A `provider` block.
#[derive(Debug, Clone)]
pub struct ProviderBlock {
    pub name: String,
    pub alias: Option<String>,
    pub range: SourceRange,
    pub(crate) body: Body,
    pub(crate) file: Arc<SourceFile>,
    /// The references of `body`, collected on first use (after loading).
    collected_body: OnceLock<CollectedRefs>,
}

impl ProviderBlock {
    pub fn provider_ref(&self) -> ProviderRef {
        ProviderRef {
            name: self.name.clone(),
            alias: self.alias.clone(),
        }
    }
    /// The references of the body, walked once per block.
    pub(crate) fn body_refs(&self) -> &CollectedRefs {
        self.collected_body
            .get_or_init(|| CollectedRefs::of_body(&self.body))
    }
}

/// One entry of `required_providers`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProviderRequirement {
    pub source: Option<String>,
    pub version: Option<String>,
    /// `configuration_aliases = [aws.east]`: aliased configurations the
    /// module expects its caller to pass in `providers = { … }`.
    pub configuration_aliases: Vec<ProviderRef>,
}

/// The `terraform` block(s) of a module, merged.
#[derive(Debug, Clone, Default)]
pub struct TerraformBlock {
    pub required_version: Option<String>,
    pub required_providers: BTreeMap<String, ProviderRequirement>,
    pub range: Option<SourceRange>,
}

/// The target of a `moved` block endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum MoveEndpoint {
    Resource(ResourceAddr),
    Module(ModuleInstance),
}

/// A `moved` block (addresses relative to its module).
#[derive(Debug, Clone)]
pub struct MovedBlock {
    pub from: MoveEndpoint,
    pub to: MoveEndpoint,
    pub range: SourceRange,
}

/// A `removed` block (Terraform 1.7): `from` left the configuration; its
/// objects are destroyed (`destroy = true`, the default) or only dropped
/// from state (`lifecycle { destroy = false }`).
#[derive(Debug, Clone)]
pub struct RemovedBlock {
    /// Relative to the block's module; no instance keys.
    pub from: MoveEndpoint,
    pub destroy: bool,
    pub range: SourceRange,
}

/// An `import` block.
#[derive(Debug, Clone)]
pub struct ImportBlock {
    /// The target; without its key when `to_key` is an expression.
    pub to: ResourceAddr,
    pub range: SourceRange,
    pub(crate) id: Expr,
    /// `to = aws_x.y[each.key]`: the key expression.
    pub(crate) to_key: Option<Expr>,
    pub(crate) for_each: Option<Expr>,
}

impl ImportBlock {
    /// The `id` expression's source range.
    pub fn id_range(&self) -> SourceRange {
        self.id.range()
    }
}

// ---------------------------------------------------------------------------
// Loading

const TOP_BLOCKS: &[&str] = &[
    "terraform",
    "provider",
    "variable",
    "locals",
    "output",
    "resource",
    "data",
    "module",
    "moved",
    "import",
    "check",
    "removed",
];

struct Loader<'s> {
    sources: &'s mut SourceMap,
    diags: Diagnostics,
    remote: &'s dyn RemoteModules,
}

/// A module call whose `source` is not a local path (git, registry, URL, S3).
#[derive(Debug, Clone, Copy)]
pub struct RemoteSource<'a> {
    pub source: &'a str,
    pub version: Option<&'a str>,
    /// Module call names from the root to this call (`["vpc", "subnets"]`).
    pub module_path: &'a [String],
}

/// Where remote module sources are found on disk. The language layer only
/// asks for a local directory; fetching, versions and the lock file belong
/// to `terrace-modules`, which implements this.
pub trait RemoteModules: Send + Sync {
    /// The local directory holding the module's files, or a message saying
    /// what is wrong and how to fix it (e.g. "run `terrace init`").
    fn module_dir(&self, call: &RemoteSource<'_>) -> Result<PathBuf, String>;
}

/// Refuses every remote source: for loading without a project (tests, tools).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRemoteModules;

impl RemoteModules for NoRemoteModules {
    fn module_dir(&self, call: &RemoteSource<'_>) -> Result<PathBuf, String> {
        Err(format!(
            "\"{}\" is a remote (git, registry or URL) source, and remote modules are not available here; run `terrace init` in the project to fetch it.",
            call.source
        ))
    }
}

/// Load the root module in `dir` and every module it calls. All
/// diagnostics are returned together; the config is `None` only when the
/// root folder itself cannot be read.
pub fn load_config(dir: &Path, sources: &mut SourceMap) -> (Option<Config>, Diagnostics) {
    load_config_with(dir, sources, &NoRemoteModules)
}

/// [`load_config`], finding remote module sources through `remote`.
pub fn load_config_with(
    dir: &Path,
    sources: &mut SourceMap,
    remote: &dyn RemoteModules,
) -> (Option<Config>, Diagnostics) {
    let mut loader = Loader {
        sources,
        diags: Diagnostics::new(),
        remote,
    };
    let root = match loader.module(dir, Vec::new(), None, &mut vec![normalize(dir)]) {
        Some(m) => m,
        None => return (None, loader.diags),
    };
    let config = Config { root };
    let mut diags = loader.diags;
    check_module_inputs(&config.root, &mut diags);
    (Some(config), diags)
}

/// Lexically normalize a path (resolve `.` and `..`).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn diag(
    file: &SourceFile,
    span: Range<usize>,
    summary: &str,
    detail: impl Into<String>,
) -> Diagnostic {
    Diagnostic::error(summary, detail).at(Some(file.range(span)))
}

/// The span of a block's header: identifier and labels.
pub(crate) fn header_span(b: &Block) -> Range<usize> {
    let start = span_of(&b.ident).start;
    let end = b
        .labels
        .last()
        .map(|l| span_of(l).end)
        .unwrap_or(span_of(&b.ident).end);
    start..end
}

fn attr_key_span(a: &Attribute) -> Range<usize> {
    span_of(&a.key)
}

impl Loader<'_> {
    fn err(
        &mut self,
        file: &SourceFile,
        span: Range<usize>,
        summary: &str,
        detail: impl Into<String>,
    ) {
        self.diags.push(diag(file, span, summary, detail));
    }

    fn read_files(
        &mut self,
        dir: &Path,
        at: Option<(&SourceFile, Range<usize>)>,
    ) -> Option<Vec<(Arc<SourceFile>, Body)>> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                let d = Diagnostic::error(
                    "Unreadable module directory",
                    format!("The directory {} could not be read: {e}.", dir.display()),
                )
                .at(at.map(|(f, s)| f.range(s)));
                self.diags.push(d);
                return None;
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| config_file_kind(p).is_some() && p.is_file())
            .collect();
        // As in OpenTofu, `x.tofu` takes the place of a same-named `x.tf`
        // (and `x.tofu.json` of `x.tf.json`).
        let tofu: std::collections::HashSet<PathBuf> = paths
            .iter()
            .filter_map(|p| {
                let name = p.file_name()?.to_str()?;
                let tf = if let Some(stem) = name.strip_suffix(".tofu.json") {
                    format!("{stem}.tf.json")
                } else {
                    format!("{}.tf", name.strip_suffix(".tofu")?)
                };
                Some(p.with_file_name(tf))
            })
            .collect();
        paths.retain(|p| !tofu.contains(p));
        paths.sort();
        let mut out = Vec::new();
        for path in paths {
            let is_json = config_file_kind(&path) == Some(true);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    self.diags.push(Diagnostic::error(
                        "Failed to read file",
                        format!("{}: {e}", path.display()),
                    ));
                    continue;
                }
            };
            let text = match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    let valid = e.utf8_error().valid_up_to();
                    let bytes = e.into_bytes();
                    let lossy = String::from_utf8_lossy(&bytes).into_owned();
                    let prefix_len = String::from_utf8_lossy(&bytes[..valid]).len();
                    let file = self.sources.add(&path, lossy);
                    self.err(
                        &file,
                        prefix_len..prefix_len + 1,
                        "Invalid file encoding",
                        format!("{} is not valid UTF-8 text; terrace configuration files must be UTF-8 encoded.", file.name),
                    );
                    continue;
                }
            };
            let file = if is_json {
                match crate::json::to_hcl(&text) {
                    Ok(hcl) => self.sources.add_generated(&path, hcl, text),
                    Err(errors) => {
                        let file = self.sources.add(&path, text);
                        for (off, msg) in errors {
                            self.err(
                                &file,
                                off..off + 1,
                                "Invalid JSON configuration",
                                format!("{}: {msg}. A .tf.json file holds Terraform's JSON configuration syntax.", file.name),
                            );
                        }
                        continue;
                    }
                }
            } else {
                self.sources.add(&path, text)
            };
            match hcl_edit::parser::parse_body(file.text()) {
                Ok(body) => out.push((file, body)),
                Err(e) => {
                    let off = e.location().offset();
                    self.err(
                        &file,
                        off..off + 1,
                        "Syntax error",
                        format!("Invalid HCL: {}.", e.message()),
                    );
                }
            }
        }
        Some(out)
    }

    fn module(
        &mut self,
        dir: &Path,
        path: Vec<String>,
        at: Option<(&SourceFile, Range<usize>)>,
        chain: &mut Vec<PathBuf>,
    ) -> Option<Module> {
        let files = self.read_files(dir, at)?;
        let mut m = Module {
            dir: dir.to_path_buf(),
            path,
            ..Module::default()
        };
        // Override files are merged after every other file, in name order.
        let (overrides, files): (Vec<_>, Vec<_>) = files
            .into_iter()
            .partition(|(f, _)| is_override_file(&f.path));
        for (file, body) in files {
            for s in body.into_iter() {
                match s {
                    Structure::Attribute(a) => self.err(
                        &file,
                        attr_key_span(&a),
                        "Unsupported argument",
                        format!(
                            "An argument named \"{}\" is not expected here.",
                            a.key.as_str()
                        ),
                    ),
                    Structure::Block(b) => self.top_block(&mut m, &file, b, chain),
                }
            }
        }
        for (file, body) in overrides {
            self.merge_override(&mut m, &file, body, chain);
        }
        self.check_removed(&m);
        // Kept for the whole run: give back what doubling reserved (a
        // whole block per slot, a quarter of them unused at 100,000).
        m.resources.shrink_to_fit();
        Some(m)
    }

    fn labels(
        &mut self,
        file: &SourceFile,
        b: &Block,
        n: usize,
        what: &str,
    ) -> Option<Vec<String>> {
        if b.labels.len() != n {
            let kind = b.ident.as_str();
            let (summary, detail) = if b.labels.len() < n {
                (
                    format!("Missing name for {kind}"),
                    format!("A {kind} block requires {n} label(s): {what}."),
                )
            } else {
                (
                    "Extraneous label".to_string(),
                    format!("A {kind} block expects only {n} label(s): {what}."),
                )
            };
            self.err(file, header_span(b), &summary, detail);
            return None;
        }
        Some(b.labels.iter().map(|l| l.as_str().to_string()).collect())
    }

    fn top_block(
        &mut self,
        m: &mut Module,
        file: &Arc<SourceFile>,
        b: Block,
        chain: &mut Vec<PathBuf>,
    ) {
        let hs = header_span(&b);
        match b.ident.as_str() {
            "terraform" => self.terraform_block(m, file, b),
            "provider" => {
                let Some(l) = self.labels(file, &b, 1, "the provider name") else {
                    return;
                };
                let mut body = b.body;
                let mut alias = None;
                if let Some(a) = body.remove_attribute("alias") {
                    match a.value.as_str() {
                        Some(s) => alias = Some(s.to_string()),
                        None => self.err(
                            file,
                            span_of(&a.value),
                            "Invalid provider alias",
                            "The alias must be a literal string.",
                        ),
                    }
                }
                let p = ProviderBlock {
                    name: l[0].clone(),
                    alias,
                    range: file.range(hs.clone()),
                    body,
                    file: file.clone(),
                    collected_body: OnceLock::new(),
                };
                if let Some(prev) = m
                    .providers
                    .iter()
                    .find(|x| x.name == p.name && x.alias == p.alias)
                {
                    let detail = format!(
                        "A provider configuration for \"{}\" was already given at {}. Each configuration needs a unique alias.",
                        p.provider_ref(),
                        prev.range
                    );
                    self.err(file, hs, "Duplicate provider configuration", detail);
                    return;
                }
                m.providers.push(p);
            }
            "variable" => self.variable_block(m, file, b),
            "locals" => {
                for s in b.body.into_iter() {
                    match s {
                        Structure::Attribute(a) => {
                            let name = a.key.as_str().to_string();
                            let range = file.range(attr_key_span(&a));
                            if let Some(prev) = m.locals.get(&name) {
                                let detail = format!(
                                    "A local value named \"{name}\" was already defined at {}. Local value names must be unique within a module.",
                                    prev.range
                                );
                                self.err(
                                    file,
                                    attr_key_span(&a),
                                    "Duplicate local value definition",
                                    detail,
                                );
                                continue;
                            }
                            m.locals.insert(
                                name.clone(),
                                Local {
                                    name,
                                    range,
                                    value: Expr::new(a.value, file),
                                },
                            );
                        }
                        Structure::Block(inner) => self.err(
                            file,
                            header_span(&inner),
                            "Unsupported block type",
                            "Blocks are not allowed in a locals block; use name = value.",
                        ),
                    }
                }
            }
            "output" => self.output_block(m, file, b),
            "resource" | "data" => self.resource_block(m, file, b),
            "module" => self.module_block(m, file, b, chain),
            "moved" => {
                let mut from = None;
                let mut to = None;
                for s in b.body.iter() {
                    match s {
                        Structure::Attribute(a)
                            if a.key.as_str() == "from" || a.key.as_str() == "to" =>
                        {
                            let text = file.slice(span_of(&a.value)).to_string();
                            match parse_endpoint(&text) {
                                Some(e) => {
                                    if a.key.as_str() == "from" {
                                        from = Some(e)
                                    } else {
                                        to = Some(e)
                                    }
                                }
                                None => self.err(
                                    file,
                                    span_of(&a.value),
                                    "Invalid address",
                                    format!("\"{text}\" is not a resource or module address."),
                                ),
                            }
                        }
                        other => self.unsupported(file, other, &["from", "to"], &[]),
                    }
                }
                match (from, to) {
                    (Some(from), Some(to)) => m.moved.push(MovedBlock {
                        from,
                        to,
                        range: file.range(hs),
                    }),
                    _ => self.err(
                        file,
                        hs,
                        "Missing required argument",
                        "A moved block requires both \"from\" and \"to\".",
                    ),
                }
            }
            "check" => self.check_block(m, file, b),
            "removed" => self.removed_block(m, file, b),
            "import" => self.import_block(m, file, b),
            other => {
                let detail = format!(
                    "Blocks of type \"{other}\" are not expected here.{}",
                    did_you_mean(other, TOP_BLOCKS.iter().copied())
                );
                self.err(file, span_of(&b.ident), "Unsupported block type", detail);
            }
        }
    }

    /// `import { for_each = … to = aws_x.y[each.key] id = … }` (the
    /// target's key and the id may be expressions, Terraform 1.7).
    fn import_block(&mut self, m: &mut Module, file: &Arc<SourceFile>, b: Block) {
        let hs = header_span(&b);
        let mut to = None;
        let mut to_key = None;
        let mut id = None;
        let mut for_each = None;
        for s in b.body.into_iter() {
            match s {
                Structure::Attribute(a) if a.key.as_str() == "to" => {
                    let text = file.slice(span_of(&a.value)).to_string();
                    if let Ok(addr) = text.parse::<ResourceAddr>() {
                        to = Some(addr);
                        continue;
                    }
                    // `aws_x.y[expr]`: a static resource with a key expression.
                    let dynamic = match &a.value {
                        Expression::Traversal(t) => match t.operators.last().map(|o| o.value()) {
                            Some(TraversalOperator::Index(k)) => {
                                let end = span_of(&t.operators[t.operators.len() - 1]).start;
                                let start = span_of(&a.value).start;
                                file.slice(start..end)
                                    .parse::<ResourceAddr>()
                                    .ok()
                                    .filter(|r| r.key.is_none())
                                    .map(|r| (r, k.clone()))
                            }
                            _ => None,
                        },
                        _ => None,
                    };
                    match dynamic {
                        Some((addr, k)) => {
                            to = Some(addr);
                            to_key = Some(Expr::new(k, file));
                        }
                        None => self.err(
                            file,
                            span_of(&a.value),
                            "Invalid address",
                            format!("\"{text}\" is not a resource address. Write to = aws_instance.web, to = aws_instance.web[\"key\"] or, with for_each, to = aws_instance.web[each.key]."),
                        ),
                    }
                }
                Structure::Attribute(a) if a.key.as_str() == "id" => {
                    id = Some(Expr::new(a.value, file))
                }
                Structure::Attribute(a) if a.key.as_str() == "for_each" => {
                    for_each = Some(Expr::new(a.value, file))
                }
                Structure::Attribute(a) if a.key.as_str() == "provider" => {}
                other => self.unsupported(file, &other, &["to", "id", "for_each", "provider"], &[]),
            }
        }
        match (to, id) {
            (Some(to), Some(id)) => m.imports.push(ImportBlock {
                to,
                id,
                to_key,
                for_each,
                range: file.range(hs),
            }),
            _ => self.err(
                file,
                hs,
                "Missing required argument",
                "An import block requires both \"to\" and \"id\".",
            ),
        }
    }

    /// Merge one override file into the module by Terraform's rules: each
    /// block replaces, argument by argument, the block of the same type and
    /// labels; a nested block replaces every nested block of its type;
    /// `locals` entries replace the entry of the same name.
    fn merge_override(
        &mut self,
        m: &mut Module,
        file: &Arc<SourceFile>,
        body: Body,
        chain: &mut Vec<PathBuf>,
    ) {
        for s in body.into_iter() {
            let b = match s {
                Structure::Block(b) => b,
                other => {
                    self.unsupported(file, &other, &[], TOP_BLOCKS);
                    continue;
                }
            };
            let hs = header_span(&b);
            let missing = |kind: &str, name: &str| {
                Diagnostic::error(
                    format!("Missing base {kind} to override"),
                    format!("There is no {kind} named \"{name}\" in the module's other files. An override file can only change blocks declared elsewhere; move this block to a file whose name does not end in override.tf."),
                )
                .at(Some(file.range(hs.clone())))
            };
            match b.ident.as_str() {
                "locals" => {
                    let mut tmp = Module::default();
                    self.top_block(&mut tmp, file, b, chain);
                    for (name, l) in tmp.locals {
                        match m.locals.get_mut(&name) {
                            Some(base) => *base = l,
                            None => self.diags.push(missing("local value", &name)),
                        }
                    }
                }
                "resource" | "data" => {
                    let mut body = b.body.clone();
                    let mut tmp = Module::default();
                    self.top_block(&mut tmp, file, b, chain);
                    let Some((key, o)) = tmp.resources.pop() else {
                        continue;
                    };
                    let Some(base) = m.resources.get_mut(&key) else {
                        self.diags.push(missing("resource", &key));
                        continue;
                    };
                    // Meta-arguments the override sets replace the base's.
                    for meta in ["count", "for_each", "depends_on", "provider", "lifecycle"] {
                        let set = body.get_attribute(meta).is_some()
                            || body.get_blocks(meta).next().is_some();
                        if !set {
                            continue;
                        }
                        match meta {
                            "count" => base.count = o.count.clone(),
                            "for_each" => base.for_each = o.for_each.clone(),
                            "depends_on" => base.depends_on = o.depends_on.clone(),
                            "provider" => base.provider = o.provider.clone(),
                            _ => {
                                base.lifecycle = o.lifecycle.clone();
                                base.replace_exprs = o.replace_exprs.clone();
                                base.preconditions = o.preconditions.clone();
                                base.postconditions = o.postconditions.clone();
                            }
                        }
                        body.remove_attribute(meta);
                        body.remove_blocks(meta);
                    }
                    // Arguments replace arguments; a nested block type
                    // replaces all the base's blocks of that type.
                    for s in body.iter() {
                        match s {
                            Structure::Attribute(a) => {
                                base.body.remove_attribute(a.key.as_str());
                                for (_, ob) in base.overlays.iter_mut() {
                                    ob.remove_attribute(a.key.as_str());
                                }
                            }
                            Structure::Block(nb) => {
                                let ty = nb.ident.as_str();
                                base.body.remove_blocks(ty);
                                for (_, ob) in base.overlays.iter_mut() {
                                    ob.remove_blocks(ty);
                                }
                            }
                        }
                    }
                    base.overlays.push((file.clone(), o.body));
                    base.collected_body = OnceLock::new();
                }
                "output" => {
                    let mut tmp = Module::default();
                    let has_value = b.body.get_attribute("value").is_some();
                    let before = self.diags.len();
                    self.top_block(&mut tmp, file, b, chain);
                    if !has_value {
                        // An override need not repeat `value`.
                        let mut i = 0;
                        self.diags.0.retain(|d| {
                            i += 1;
                            i <= before || d.summary != "Missing required argument"
                        });
                    }
                    let Some((name, o)) = tmp.outputs.pop() else {
                        continue;
                    };
                    let Some(base) = m.outputs.get_mut(&name) else {
                        self.diags.push(missing("output", &name));
                        continue;
                    };
                    if o.value.is_some() {
                        base.value = o.value;
                    }
                    if o.description.is_some() {
                        base.description = o.description;
                    }
                    base.sensitive |= o.sensitive;
                    if !o.depends_on.is_empty() {
                        base.depends_on = o.depends_on;
                    }
                    if !o.preconditions.is_empty() {
                        base.preconditions = o.preconditions;
                    }
                }
                "variable" => {
                    let mut tmp = Module::default();
                    self.top_block(&mut tmp, file, b, chain);
                    let Some((name, o)) = tmp.variables.pop() else {
                        continue;
                    };
                    let Some(base) = m.variables.get_mut(&name) else {
                        self.diags.push(missing("variable", &name));
                        continue;
                    };
                    if o.type_constraint.is_some() {
                        base.type_constraint = o.type_constraint;
                    }
                    if o.default.is_some() {
                        base.default = o.default;
                    }
                    if o.description.is_some() {
                        base.description = o.description;
                    }
                    base.sensitive |= o.sensitive;
                    if !o.validations.is_empty() {
                        base.validations = o.validations;
                    }
                }
                other => {
                    self.diags.push(
                        Diagnostic::error(
                            "Unsupported block in override file",
                            format!("terrace merges resource, data, locals, output and variable blocks from override files, not {other} blocks yet. Edit the {other} block in its own file instead."),
                        )
                        .at(Some(file.range(hs.clone()))),
                    );
                }
            }
        }
    }

    /// `removed { from = … lifecycle { destroy = false } }`.
    fn removed_block(&mut self, m: &mut Module, file: &Arc<SourceFile>, b: Block) {
        let hs = header_span(&b);
        let mut from = None;
        let mut destroy = true;
        for s in b.body.into_iter() {
            match s {
                Structure::Attribute(a) if a.key.as_str() == "from" => {
                    let text = file.slice(span_of(&a.value)).to_string();
                    match parse_endpoint(&text) {
                        Some(e) if endpoint_has_keys(&e) => self.err(
                            file,
                            span_of(&a.value),
                            "Resource instance keys not allowed",
                            format!("\"{text}\" names an instance; a removed block's from must name a whole resource or module (without [index]), e.g. from = aws_instance.web."),
                        ),
                        Some(e) => from = Some(e),
                        None => self.err(
                            file,
                            span_of(&a.value),
                            "Invalid address",
                            format!("\"{text}\" is not a resource or module address; write from = aws_instance.web or from = module.network."),
                        ),
                    }
                }
                Structure::Block(l) if l.ident.as_str() == "lifecycle" => {
                    for s in l.body.into_iter() {
                        match s {
                            Structure::Attribute(a) if a.key.as_str() == "destroy" => {
                                destroy = self.literal_bool(file, &a).unwrap_or(true)
                            }
                            other => self.unsupported(file, &other, &["destroy"], &[]),
                        }
                    }
                }
                other => self.unsupported(file, &other, &["from"], &["lifecycle"]),
            }
        }
        match from {
            Some(from) => m.removed.push(RemovedBlock {
                from,
                destroy,
                range: file.range(hs),
            }),
            None => self.err(
                file,
                hs,
                "Missing required argument",
                "A removed block requires \"from\": the address of the resource or module that left the configuration.",
            ),
        }
    }

    /// A `removed` block for something still declared is an error, as in
    /// Terraform.
    fn check_removed(&mut self, m: &Module) {
        for r in &m.removed {
            let (declared, what) = match &r.from {
                MoveEndpoint::Resource(a) if a.module.0.is_empty() => (
                    m.resources.get(&a.local_name()).map(|b| b.range.clone()),
                    a.to_string(),
                ),
                MoveEndpoint::Module(mi) if mi.0.len() == 1 => (
                    m.module_calls.get(&mi.0[0].0).map(|c| c.range.clone()),
                    mi.to_string(),
                ),
                // Deeper addresses name another module's contents.
                _ => (None, String::new()),
            };
            if let Some(at) = declared {
                self.diags.push(
                    Diagnostic::error(
                        "Removed object still exists",
                        format!("This removed block says {what} was removed, but it is still declared in the configuration at {at}. Delete the block at {at}, or delete this removed block."),
                    )
                    .at(Some(r.range.clone())),
                );
            }
        }
    }

    fn unsupported(&mut self, file: &SourceFile, s: &Structure, args: &[&str], blocks: &[&str]) {
        match s {
            Structure::Attribute(a) => {
                let k = a.key.as_str();
                let detail = format!(
                    "An argument named \"{k}\" is not expected here.{}",
                    did_you_mean(k, args.iter().copied())
                );
                self.err(file, attr_key_span(a), "Unsupported argument", detail);
            }
            Structure::Block(b) => {
                let k = b.ident.as_str();
                let detail = format!(
                    "Blocks of type \"{k}\" are not expected here.{}",
                    did_you_mean(k, blocks.iter().copied())
                );
                self.err(file, span_of(&b.ident), "Unsupported block type", detail);
            }
        }
    }

    fn literal_string(&mut self, file: &SourceFile, a: &Attribute) -> Option<String> {
        match eval_const(&a.value, file, Path::new(".")) {
            Ok(Value::String(s)) => Some(s.to_string()),
            Ok(other) => {
                self.err(
                    file,
                    span_of(&a.value),
                    "Incorrect attribute value type",
                    format!(
                        "Inappropriate value for attribute \"{}\": string required, but have {}.",
                        a.key.as_str(),
                        other.type_name()
                    ),
                );
                None
            }
            Err(d) => {
                self.diags.extend(d);
                None
            }
        }
    }

    fn literal_bool(&mut self, file: &SourceFile, a: &Attribute) -> Option<bool> {
        match eval_const(&a.value, file, Path::new(".")) {
            Ok(Value::Bool(b)) => Some(b),
            Ok(other) => {
                self.err(
                    file,
                    span_of(&a.value),
                    "Incorrect attribute value type",
                    format!(
                        "Inappropriate value for attribute \"{}\": bool required, but have {}.",
                        a.key.as_str(),
                        other.type_name()
                    ),
                );
                None
            }
            Err(d) => {
                self.diags.extend(d);
                None
            }
        }
    }

    fn terraform_block(&mut self, m: &mut Module, file: &Arc<SourceFile>, b: Block) {
        let hs = header_span(&b);
        let tb = m.terraform.get_or_insert_with(TerraformBlock::default);
        if tb.range.is_none() {
            tb.range = Some(file.range(hs));
        }
        let mut version = None;
        let mut reqs = Vec::new();
        for s in b.body.iter() {
            match s {
                Structure::Attribute(a) if a.key.as_str() == "required_version" => {
                    version = self.literal_string(file, a);
                    if let Some(c) = &version {
                        self.check_required_version(file, a, c);
                    }
                }
                // Module metadata for providers (terraform-aws-modules sets it): ignored.
                Structure::Block(inner) if inner.ident.as_str() == "provider_meta" => {}
                Structure::Attribute(a) if a.key.as_str() == "experiments" => {}
                Structure::Block(inner) if inner.ident.as_str() == "required_providers" => {
                    for s in inner.body.iter() {
                        match s {
                            Structure::Attribute(a) => {
                                let name = a.key.as_str().to_string();
                                if let Expression::Object(obj) = &a.value {
                                    if let Some(req) = self.provider_requirement(file, obj) {
                                        reqs.push((name, req));
                                    }
                                    continue;
                                }
                                let req = match eval_const(&a.value, file, Path::new(".")) {
                                    Ok(Value::String(v)) => ProviderRequirement {
                                        version: Some(v.to_string()),
                                        ..ProviderRequirement::default()
                                    },
                                    Ok(_) => {
                                        self.err(
                                            file,
                                            span_of(&a.value),
                                            "Invalid required_providers entry",
                                            "Expected { source = \"…\", version = \"…\" }.",
                                        );
                                        continue;
                                    }
                                    Err(d) => {
                                        self.diags.extend(d);
                                        continue;
                                    }
                                };
                                reqs.push((name, req));
                            }
                            Structure::Block(x) => self.err(
                                file,
                                span_of(&x.ident),
                                "Unsupported block type",
                                "Blocks are not expected in required_providers.",
                            ),
                        }
                    }
                }
                Structure::Block(inner)
                    if inner.ident.as_str() == "backend" || inner.ident.as_str() == "cloud" =>
                {
                    let what = match (inner.ident.as_str(), inner.labels.first()) {
                        ("backend", Some(l)) => format!("backend \"{}\"", l.as_str()),
                        (k, _) => k.to_string(),
                    };
                    let detail = format!(
                        "terrace ignores this {what} block and keeps state in the store of terrace.hcl (state {{ url = … }}; SQLite state/terrace.db when unset; TERRACE_STATE overrides), one state per environment. To keep state in S3 as before, set state {{ url = \"s3://BUCKET/PREFIX\" }} in terrace.hcl."
                    );
                    self.diags.push(
                        Diagnostic::warning("Backend configuration ignored", detail)
                            .at(Some(file.range(header_span(inner)))),
                    );
                }
                other => self.unsupported(
                    file,
                    other,
                    &["required_version", "experiments"],
                    &["required_providers", "provider_meta", "backend", "cloud"],
                ),
            }
        }
        let tb = m.terraform.get_or_insert_with(TerraformBlock::default);
        if version.is_some() {
            tb.required_version = version;
        }
        tb.required_providers.extend(reqs);
    }

    /// `required_version` against the Terraform language version terrace implements.
    fn check_required_version(&mut self, file: &SourceFile, a: &Attribute, constraint: &str) {
        let v = crate::version::TERRAFORM_LANGUAGE_VERSION;
        match crate::version::satisfies(constraint, v) {
            Ok(true) => {}
            Ok(false) => self.err(
                file,
                span_of(&a.value),
                "Unsupported Terraform Core version",
                format!(
                    "This module requires Terraform {constraint}, but terrace implements the Terraform language of version {v}. Relax required_version (e.g. \">= 1.5\") if the module uses nothing newer."
                ),
            ),
            Err(e) => self.err(file, span_of(&a.value), "Invalid required_version", e),
        }
    }

    /// `{ source = "hashicorp/aws", version = "~> 5.0", configuration_aliases = [aws.east] }`.
    fn provider_requirement(
        &mut self,
        file: &SourceFile,
        obj: &hcl_edit::expr::Object,
    ) -> Option<ProviderRequirement> {
        let mut req = ProviderRequirement::default();
        let mut ok = true;
        for (k, v) in obj.iter() {
            let key = match k {
                hcl_edit::expr::ObjectKey::Ident(i) => i.as_str().to_string(),
                hcl_edit::expr::ObjectKey::Expression(e) => match e.as_str() {
                    Some(s) => s.to_string(),
                    None => file.slice(span_of(e)).to_string(),
                },
            };
            let value = v.expr();
            match key.as_str() {
                "source" | "version" => match eval_const(value, file, Path::new(".")) {
                    Ok(Value::String(s)) => {
                        if key == "source" {
                            req.source = Some(s.to_string())
                        } else {
                            req.version = Some(s.to_string())
                        }
                    }
                    Ok(other) => {
                        ok = false;
                        self.err(
                            file,
                            span_of(value),
                            "Invalid required_providers entry",
                            format!("{key} must be a string, but have {}.", other.type_name()),
                        );
                    }
                    Err(d) => {
                        ok = false;
                        self.diags.extend(d);
                    }
                },
                "configuration_aliases" => {
                    let Expression::Array(items) = value else {
                        ok = false;
                        self.err(
                            file,
                            span_of(value),
                            "Invalid configuration_aliases",
                            "Expected a list of provider references, e.g. [aws.east, aws.west].",
                        );
                        continue;
                    };
                    for item in items.iter() {
                        match provider_ref_of(item) {
                            Some(p) if p.alias.is_some() => req.configuration_aliases.push(p),
                            _ => {
                                ok = false;
                                self.err(
                                    file,
                                    span_of(item),
                                    "Invalid configuration_aliases",
                                    format!(
                                        "\"{}\" is not an aliased provider reference; write NAME.ALIAS, e.g. aws.east.",
                                        file.slice(span_of(item))
                                    ),
                                );
                            }
                        }
                    }
                }
                other => {
                    ok = false;
                    self.err(
                        file,
                        span_of(value),
                        "Invalid required_providers entry",
                        format!(
                            "\"{other}\" is not expected here; use source, version and configuration_aliases.{}",
                            did_you_mean(other, ["source", "version", "configuration_aliases"])
                        ),
                    );
                }
            }
        }
        ok.then_some(req)
    }

    fn variable_block(&mut self, m: &mut Module, file: &Arc<SourceFile>, b: Block) {
        let hs = header_span(&b);
        let Some(l) = self.labels(file, &b, 1, "the variable name") else {
            return;
        };
        let name = l[0].clone();
        let mut var = Variable {
            name: name.clone(),
            type_constraint: None,
            default: None,
            description: None,
            sensitive: false,
            nullable: true,
            range: file.range(hs.clone()),
            validations: Vec::new(),
        };
        let mut default_expr: Option<Expression> = None;
        let mut bad = false;
        for s in b.body.into_iter() {
            match s {
                Structure::Attribute(a) => match a.key.as_str() {
                    "type" => {
                        let const_eval = |e: &Expression| {
                            eval_const(e, file, Path::new(".")).map_err(|d| {
                                d.iter()
                                    .map(|x| x.detail.clone())
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            })
                        };
                        match parse_type(&a.value, &const_eval) {
                            Ok(t) => var.type_constraint = Some(t),
                            Err((msg, e)) => {
                                bad = true;
                                self.err(file, span_of(e), "Invalid type specification", msg);
                            }
                        }
                    }
                    "default" => default_expr = Some(a.value),
                    "description" => var.description = self.literal_string(file, &a),
                    "sensitive" => var.sensitive = self.literal_bool(file, &a).unwrap_or(false),
                    "nullable" => var.nullable = self.literal_bool(file, &a).unwrap_or(true),
                    _ => self.unsupported(
                        file,
                        &Structure::Attribute(a),
                        &["type", "default", "description", "sensitive", "nullable"],
                        &["validation"],
                    ),
                },
                Structure::Block(v) if v.ident.as_str() == "validation" => {
                    let vhs = header_span(&v);
                    let mut cond = None;
                    let mut msg = None;
                    for s in v.body.into_iter() {
                        match s {
                            Structure::Attribute(a) if a.key.as_str() == "condition" => {
                                cond = Some(Expr::new(a.value, file))
                            }
                            Structure::Attribute(a) if a.key.as_str() == "error_message" => {
                                msg = Some(Expr::new(a.value, file))
                            }
                            other => {
                                self.unsupported(file, &other, &["condition", "error_message"], &[])
                            }
                        }
                    }
                    match (cond, msg) {
                        (Some(condition), Some(error_message)) => {
                            var.validations.push(Validation {
                                condition,
                                error_message,
                            })
                        }
                        _ => self.err(
                            file,
                            vhs,
                            "Missing required argument",
                            "A validation block requires \"condition\" and \"error_message\".",
                        ),
                    }
                }
                other => self.unsupported(
                    file,
                    &other,
                    &["type", "default", "description", "sensitive", "nullable"],
                    &["validation"],
                ),
            }
        }
        if let Some(d) = default_expr {
            match eval_const(&d, file, Path::new(".")) {
                Ok(v) => {
                    let v = match (&var.type_constraint, bad) {
                        (Some(t), false) if !v.is_null() => match convert(v, t) {
                            Ok(v) => Some(v),
                            Err(msg) => {
                                self.err(file, span_of(&d), "Invalid default value for variable", format!("This default value is not compatible with the variable's type constraint: {msg}."));
                                None
                            }
                        },
                        (_, _) => Some(v),
                    };
                    var.default = v;
                }
                Err(diags) => self.diags.extend(diags),
            }
        }
        if let Some(prev) = m.variables.get(&name) {
            let detail = format!(
                "An input variable named \"{name}\" was already declared at {}. Variable names must be unique within a module.",
                prev.range
            );
            self.err(file, hs, "Duplicate variable declaration", detail);
            return;
        }
        m.variables.insert(name, var);
    }

    fn output_block(&mut self, m: &mut Module, file: &Arc<SourceFile>, b: Block) {
        let hs = header_span(&b);
        let Some(l) = self.labels(file, &b, 1, "the output name") else {
            return;
        };
        let name = l[0].clone();
        let mut out = Output {
            name: name.clone(),
            description: None,
            sensitive: false,
            range: file.range(hs.clone()),
            value: None,
            depends_on: Vec::new(),
            preconditions: Vec::new(),
        };
        for s in b.body.into_iter() {
            match s {
                Structure::Block(c) if c.ident.as_str() == "precondition" => {
                    if let Some(c) = self.condition(file, c) {
                        out.preconditions.push(c);
                    }
                }
                Structure::Attribute(a) => match a.key.as_str() {
                    "value" => out.value = Some(Expr::new(a.value, file)),
                    "description" => out.description = self.literal_string(file, &a),
                    "sensitive" => out.sensitive = self.literal_bool(file, &a).unwrap_or(false),
                    "depends_on" => out.depends_on = self.depends_on(file, a),
                    _ => self.unsupported(
                        file,
                        &Structure::Attribute(a),
                        &["value", "description", "sensitive", "depends_on"],
                        &["precondition"],
                    ),
                },
                other => self.unsupported(
                    file,
                    &other,
                    &["value", "description", "sensitive", "depends_on"],
                    &["precondition"],
                ),
            }
        }
        if out.value.is_none() {
            self.err(
                file,
                hs.clone(),
                "Missing required argument",
                "The argument \"value\" is required, but no definition was found.",
            );
        }
        if let Some(prev) = m.outputs.get(&name) {
            let detail = format!(
                "An output named \"{name}\" was already defined at {}. Output names must be unique within a module.",
                prev.range
            );
            self.err(file, hs, "Duplicate output definition", detail);
            return;
        }
        m.outputs.insert(name, out);
    }

    /// `condition = …` and `error_message = …`, both required.
    fn condition(&mut self, file: &Arc<SourceFile>, b: Block) -> Option<Condition> {
        let hs = header_span(&b);
        let kind = b.ident.as_str().to_string();
        let new_expr = if kind == "postcondition" {
            Expr::with_self
        } else {
            Expr::new
        };
        let mut condition = None;
        let mut error_message = None;
        for s in b.body.into_iter() {
            match s {
                Structure::Attribute(a) if a.key.as_str() == "condition" => {
                    condition = Some(new_expr(a.value, file))
                }
                Structure::Attribute(a) if a.key.as_str() == "error_message" => {
                    error_message = Some(new_expr(a.value, file))
                }
                other => self.unsupported(file, &other, &["condition", "error_message"], &[]),
            }
        }
        match (condition, error_message) {
            (Some(condition), Some(error_message)) => Some(Condition {
                range: file.range(hs),
                condition,
                error_message,
            }),
            _ => {
                self.err(
                    file,
                    hs,
                    "Missing required argument",
                    format!("A {kind} block requires both \"condition\" and \"error_message\"."),
                );
                None
            }
        }
    }

    /// `check "name" { data "…" "…" { … }  assert { … } }`. Scoped data
    /// sources are read like any data source of the module.
    fn check_block(&mut self, m: &mut Module, file: &Arc<SourceFile>, b: Block) {
        let hs = header_span(&b);
        let Some(l) = self.labels(file, &b, 1, "the check name") else {
            return;
        };
        let mut check = CheckBlock {
            name: l[0].clone(),
            range: file.range(hs.clone()),
            asserts: Vec::new(),
        };
        for s in b.body.into_iter() {
            match s {
                Structure::Block(a) if a.ident.as_str() == "assert" => {
                    if let Some(c) = self.condition(file, a) {
                        check.asserts.push(c);
                    }
                }
                Structure::Block(d) if d.ident.as_str() == "data" => {
                    self.resource_block(m, file, d)
                }
                other => self.unsupported(file, &other, &[], &["assert", "data"]),
            }
        }
        if check.asserts.is_empty() {
            self.err(
                file,
                hs,
                "Missing required block",
                "A check block needs at least one assert { condition = … error_message = … } block.",
            );
            return;
        }
        if m.checks.iter().any(|c| c.name == check.name) {
            self.err(
                file,
                hs,
                "Duplicate check block",
                format!("A check block named \"{}\" already exists in this module; check names must be unique.", check.name),
            );
            return;
        }
        m.checks.push(check);
    }

    fn depends_on(&mut self, file: &Arc<SourceFile>, a: Attribute) -> Vec<Expr> {
        match a.value {
            Expression::Array(items) => items
                .into_iter()
                .filter(|e| {
                    let ok = matches!(e, Expression::Traversal(_) | Expression::Variable(_));
                    if !ok {
                        self.err(file, span_of(e), "Invalid depends_on reference", "depends_on may only list references to resources, data sources or modules.");
                    }
                    ok
                })
                .map(|e| Expr::new(e, file))
                .collect(),
            other => {
                self.err(file, span_of(&other), "Invalid depends_on", "depends_on must be a list of references, e.g. [aws_vpc.main].");
                Vec::new()
            }
        }
    }

    fn resource_block(&mut self, m: &mut Module, file: &Arc<SourceFile>, b: Block) {
        let hs = header_span(&b);
        let mode = if b.ident.as_str() == "data" {
            ResourceMode::Data
        } else {
            ResourceMode::Managed
        };
        let what = if mode == ResourceMode::Data {
            "the data source type and name"
        } else {
            "the resource type and name"
        };
        let Some(l) = self.labels(file, &b, 2, what) else {
            return;
        };
        let mut r = ResourceBlock {
            mode,
            type_name: l[0].clone(),
            name: l[1].clone(),
            range: file.range(hs.clone()),
            provider: ProviderRef::default_for(&l[0]),
            count: None,
            for_each: None,
            extras: None,
            body: Body::new(),
            file: file.clone(),
            collected_body: OnceLock::new(),
        };
        let mut for_each_span = None;
        let mut kept: Vec<Structure> = Vec::new();
        for s in b.body.into_iter() {
            match s {
                Structure::Attribute(a) => match a.key.as_str() {
                    "count" => r.count = Some(Box::new(Expr::new(a.value, file))),
                    "for_each" => {
                        for_each_span = Some(attr_key_span(&a));
                        r.for_each = Some(Box::new(Expr::new(a.value, file)));
                    }
                    "depends_on" => r.depends_on = self.depends_on(file, a),
                    "provider" => match provider_ref_of(&a.value) {
                        Some(p) => r.provider = p,
                        None => self.err(file, span_of(&a.value), "Invalid provider reference", "The provider argument requires a provider name, optionally followed by an alias: aws or aws.west."),
                    },
                    _ => kept.push(Structure::Attribute(a)),
                },
                Structure::Block(blk) if blk.ident.as_str() == "lifecycle" => {
                    self.lifecycle(&mut r, file, blk);
                }
                other => kept.push(other),
            }
        }
        // Held for the whole run: no spare capacity (a pushed-to body
        // reserves four 304-byte structures for a block of one argument).
        kept.shrink_to_fit();
        r.body = Body::from(kept);
        if let (Some(_), Some(span)) = (&r.count, for_each_span) {
            self.err(file, span, "Invalid combination of \"count\" and \"for_each\"", "The \"count\" and \"for_each\" meta-arguments are mutually-exclusive, only one should be used to be explicit about the number of resources to be created.");
        }
        let key = r.local_name();
        if let Some(prev) = m.resources.get(&key) {
            let kind = if mode == ResourceMode::Data {
                "data"
            } else {
                "resource"
            };
            let detail = format!(
                "A {} {kind} named \"{}\" was already declared at {}. Resource names must be unique per type in each module.",
                r.type_name, r.name, prev.range
            );
            self.err(
                file,
                hs,
                &format!("Duplicate {kind} \"{}\" configuration", r.type_name),
                detail,
            );
            return;
        }
        m.resources.insert(key, r);
    }

    fn lifecycle(&mut self, r: &mut ResourceBlock, file: &Arc<SourceFile>, b: Block) {
        for s in b.body.into_iter() {
            match s {
                Structure::Block(c) if c.ident.as_str() == "precondition" => {
                    if let Some(c) = self.condition(file, c) {
                        r.preconditions.push(c);
                    }
                }
                Structure::Block(c) if c.ident.as_str() == "postcondition" => {
                    if let Some(c) = self.condition(file, c) {
                        r.postconditions.push(c);
                    }
                }
                Structure::Attribute(a) => match a.key.as_str() {
                    "create_before_destroy" => {
                        r.lifecycle.create_before_destroy =
                            self.literal_bool(file, &a).unwrap_or(false)
                    }
                    "prevent_destroy" => {
                        r.lifecycle.prevent_destroy = self.literal_bool(file, &a).unwrap_or(false)
                    }
                    "ignore_changes" => match &a.value {
                        Expression::Variable(v) if v.as_str() == "all" => {
                            r.lifecycle.ignore_changes = IgnoreChanges::All
                        }
                        Expression::Array(items) => {
                            let mut paths = Vec::new();
                            for e in items.iter() {
                                match traversal_path(e) {
                                    Some(p) => paths.push(p),
                                    None => self.err(file, span_of(e), "Invalid ignore_changes", "Each ignore_changes entry must be an attribute path such as tags or tags[\"Name\"]."),
                                }
                            }
                            r.lifecycle.ignore_changes = IgnoreChanges::Paths(paths);
                        }
                        other => self.err(
                            file,
                            span_of(other),
                            "Invalid ignore_changes",
                            "ignore_changes must be all or a list of attribute paths.",
                        ),
                    },
                    "replace_triggered_by" => match a.value {
                        Expression::Array(items) => {
                            for e in items.into_iter() {
                                let text = file.slice(span_of(&e)).to_string();
                                let resource = trigger_resource(&e);
                                r.lifecycle.replace_triggered_by.push(ReplaceTrigger {
                                    text,
                                    resource,
                                    range: file.range(span_of(&e)),
                                });
                                r.replace_exprs.push(Expr::new(e, file));
                            }
                        }
                        other => self.err(
                            file,
                            span_of(&other),
                            "Invalid replace_triggered_by",
                            "replace_triggered_by must be a list of resource references.",
                        ),
                    },
                    _ => self.unsupported(
                        file,
                        &Structure::Attribute(a),
                        &[
                            "create_before_destroy",
                            "prevent_destroy",
                            "ignore_changes",
                            "replace_triggered_by",
                        ],
                        &[],
                    ),
                },
                other => self.unsupported(
                    file,
                    &other,
                    &[
                        "create_before_destroy",
                        "prevent_destroy",
                        "ignore_changes",
                        "replace_triggered_by",
                    ],
                    &["precondition", "postcondition"],
                ),
            }
        }
    }

    fn module_block(
        &mut self,
        m: &mut Module,
        file: &Arc<SourceFile>,
        b: Block,
        chain: &mut Vec<PathBuf>,
    ) {
        let hs = header_span(&b);
        let Some(l) = self.labels(file, &b, 1, "the module name") else {
            return;
        };
        let name = l[0].clone();
        let mut call = ModuleCall {
            name: name.clone(),
            source: String::new(),
            version: None,
            range: file.range(hs.clone()),
            child: None,
            providers: Vec::new(),
            count: None,
            for_each: None,
            depends_on: Vec::new(),
            args: IndexMap::new(),
        };
        let mut source_span = None;
        for s in b.body.into_iter() {
            match s {
                Structure::Attribute(a) => match a.key.as_str() {
                    "source" => {
                        source_span = Some(span_of(&a.value));
                        call.source = self.literal_string(file, &a).unwrap_or_default();
                    }
                    "version" => call.version = self.literal_string(file, &a),
                    "count" => call.count = Some(Expr::new(a.value, file)),
                    "for_each" => {
                        if call.count.is_some() {
                            self.err(file, attr_key_span(&a), "Invalid combination of \"count\" and \"for_each\"", "The \"count\" and \"for_each\" meta-arguments are mutually-exclusive.");
                        }
                        call.for_each = Some(Expr::new(a.value, file));
                    }
                    "depends_on" => call.depends_on = self.depends_on(file, a),
                    "providers" => match &a.value {
                        Expression::Object(o) => {
                            for (k, v) in o.iter() {
                                let child = match k {
                                    hcl_edit::expr::ObjectKey::Ident(i) => {
                                        provider_ref_of(&Expression::Variable(i.clone()))
                                    }
                                    hcl_edit::expr::ObjectKey::Expression(e) => provider_ref_of(e),
                                };
                                match (child, provider_ref_of(v.expr())) {
                                    (Some(c), Some(p)) => call.providers.push((c, p)),
                                    _ => self.err(file, span_of(v.expr()), "Invalid providers map", "Each entry must map a provider name to a provider configuration, e.g. aws = aws.west."),
                                }
                            }
                        }
                        other => self.err(
                            file,
                            span_of(other),
                            "Invalid providers map",
                            "providers must be an object, e.g. { aws = aws.west }.",
                        ),
                    },
                    _ => {
                        call.args
                            .insert(a.key.as_str().to_string(), Expr::new(a.value, file));
                    }
                },
                Structure::Block(blk) => {
                    self.err(
                        file,
                        span_of(&blk.ident),
                        "Unsupported block type",
                        format!(
                            "Blocks of type \"{}\" are not expected in a module block.",
                            blk.ident.as_str()
                        ),
                    );
                }
            }
        }
        match source_span {
            None => self.err(
                file,
                hs.clone(),
                "Missing required argument",
                "The argument \"source\" is required, but no definition was found.",
            ),
            Some(span) if !call.source.is_empty() => {
                let s = call.source.as_str();
                let local = s.starts_with("./") || s.starts_with("../") || s == "." || s == "..";
                let mut path = m.path.clone();
                path.push(name.clone());
                let dir = if local {
                    if call.version.is_some() {
                        self.err(file, span.clone(), "Invalid version argument", format!("\"{s}\" is a local path; version applies only to registry modules. Remove the version argument."));
                    }
                    let dir = normalize(&m.dir.join(s));
                    if dir.is_dir() {
                        Some(dir)
                    } else {
                        self.err(
                            file,
                            span.clone(),
                            "Module source not found",
                            format!(
                                "The folder {} (from source \"{s}\") does not exist.",
                                dir.display()
                            ),
                        );
                        None
                    }
                } else {
                    let remote = RemoteSource {
                        source: s,
                        version: call.version.as_deref(),
                        module_path: &path,
                    };
                    match self.remote.module_dir(&remote) {
                        Ok(dir) => Some(normalize(&dir)),
                        Err(detail) => {
                            self.err(file, span.clone(), "Module not installed", detail);
                            None
                        }
                    }
                };
                if let Some(dir) = dir {
                    if chain.contains(&dir) {
                        self.err(
                            file,
                            span,
                            "Module recursion",
                            format!(
                                "The module {s} calls itself (directly or through other modules)."
                            ),
                        );
                    } else {
                        chain.push(dir.clone());
                        call.child = self
                            .module(&dir, path, Some((file, span)), chain)
                            .map(Box::new);
                        chain.pop();
                    }
                }
            }
            Some(_) => {}
        }
        if let Some(prev) = m.module_calls.get(&name) {
            let detail = format!(
                "A module call named \"{name}\" was already defined at {}. Module calls must have unique names within a module.",
                prev.range
            );
            self.err(file, hs, "Duplicate module call", detail);
            return;
        }
        m.module_calls.insert(name, call);
    }
}

/// Module call arguments must be variables of the child; required variables must be given.
fn check_module_inputs(m: &Module, diags: &mut Diagnostics) {
    for call in m.module_calls.values() {
        let Some(child) = &call.child else { continue };
        for (name, e) in &call.args {
            if !child.variables.contains_key(name) {
                let span = span_of(&e.expr);
                // Point at the argument name: search back from the value for the key.
                let text = e.file.text();
                let key_start = text[..span.start]
                    .rfind(name.as_str())
                    .unwrap_or(span.start);
                let detail = format!(
                    "An argument named \"{name}\" is not expected here: module \"{}\" has no variable \"{name}\".{}",
                    call.name,
                    did_you_mean(name, child.variables.keys().map(String::as_str))
                );
                diags.push(diag(
                    &e.file,
                    key_start..key_start + name.len(),
                    "Unsupported argument",
                    detail,
                ));
            }
        }
        for (vname, v) in &child.variables {
            if v.default.is_none() && !call.args.contains_key(vname) && v.nullable {
                diags.push(
                    Diagnostic::error(
                        "Missing required argument",
                        format!("The argument \"{vname}\" is required by module \"{}\", but no definition was found.", call.name),
                    )
                    .at(Some(call.range.clone())),
                );
            }
        }
        check_module_inputs(child, diags);
    }
}

/// `aws` or `aws.west` as a provider reference.
pub(crate) fn provider_ref_of(e: &Expression) -> Option<ProviderRef> {
    match e {
        Expression::Variable(v) => Some(ProviderRef::new(v.as_str(), None)),
        Expression::Traversal(t) => {
            let Expression::Variable(v) = &t.expr else {
                return None;
            };
            match t.operators.as_slice() {
                [op] => match op.value() {
                    TraversalOperator::GetAttr(a) => {
                        Some(ProviderRef::new(v.as_str(), Some(a.as_str())))
                    }
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

/// `tags["Name"]` / `root_block_device[0].size` as a value path.
fn traversal_path(e: &Expression) -> Option<ValuePath> {
    match e {
        Expression::Variable(v) => Some(vec![PathStep::Key(v.as_str().to_string())]),
        Expression::String(s) => Some(vec![PathStep::Key(s.value().clone())]),
        Expression::Traversal(t) => {
            let Expression::Variable(v) = &t.expr else {
                return None;
            };
            let mut path = vec![PathStep::Key(v.as_str().to_string())];
            for op in &t.operators {
                match op.value() {
                    TraversalOperator::GetAttr(a) => {
                        path.push(PathStep::Key(a.as_str().to_string()))
                    }
                    TraversalOperator::LegacyIndex(n) => {
                        path.push(PathStep::Index(*n.value() as usize))
                    }
                    TraversalOperator::Index(Expression::Number(n)) => {
                        path.push(PathStep::Index(n.value().as_u64()? as usize))
                    }
                    TraversalOperator::Index(Expression::String(s)) => {
                        path.push(PathStep::Key(s.value().clone()))
                    }
                    _ => return None,
                }
            }
            Some(path)
        }
        _ => None,
    }
}

/// The resource a `replace_triggered_by` entry refers to.
fn trigger_resource(e: &Expression) -> Option<ResourceAddr> {
    let Expression::Traversal(t) = e else {
        return None;
    };
    let Expression::Variable(v) = &t.expr else {
        return None;
    };
    let (mode, type_name, rest) = if v.as_str() == "data" {
        let TraversalOperator::GetAttr(ty) = t.operators.first()?.value() else {
            return None;
        };
        (
            ResourceMode::Data,
            ty.as_str().to_string(),
            &t.operators[1..],
        )
    } else {
        (
            ResourceMode::Managed,
            v.as_str().to_string(),
            &t.operators[..],
        )
    };
    let TraversalOperator::GetAttr(name) = rest.first()?.value() else {
        return None;
    };
    let key = match rest.get(1).map(|o| o.value()) {
        Some(TraversalOperator::Index(Expression::Number(n))) => {
            n.value().as_i64().map(InstanceKey::Int)
        }
        Some(TraversalOperator::Index(Expression::String(s))) => {
            Some(InstanceKey::Str(s.value().clone()))
        }
        Some(TraversalOperator::LegacyIndex(n)) => Some(InstanceKey::Int(*n.value() as i64)),
        _ => None,
    };
    Some(ResourceAddr {
        module: ModuleInstance::root(),
        mode,
        type_name,
        name: name.as_str().to_string(),
        key,
    })
}

/// `override.tf`, `x_override.tf` (and `.tofu`, `.tf.json`, `.tofu.json`).
fn is_override_file(p: &Path) -> bool {
    let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let stem = [".tf.json", ".tofu.json", ".tf", ".tofu"]
        .iter()
        .find_map(|x| name.strip_suffix(x));
    stem.is_some_and(|s| s == "override" || s.ends_with("_override"))
}

/// `Some(false)` for a `.tf`/`.tofu` file, `Some(true)` for `.tf.json` /
/// `.tofu.json`, `None` for anything else.
fn config_file_kind(p: &Path) -> Option<bool> {
    let name = p.file_name()?.to_str()?;
    if name.ends_with(".tf.json") || name.ends_with(".tofu.json") {
        Some(true)
    } else if name.ends_with(".tf") || name.ends_with(".tofu") {
        Some(false)
    } else {
        None
    }
}

/// True when a `removed` endpoint names an instance (`x.y[0]`, `module.a["k"]`).
fn endpoint_has_keys(e: &MoveEndpoint) -> bool {
    let module = match e {
        MoveEndpoint::Resource(a) => {
            if a.key.is_some() {
                return true;
            }
            &a.module
        }
        MoveEndpoint::Module(mi) => mi,
    };
    module.0.iter().any(|(_, k)| k.is_some())
}

fn parse_endpoint(text: &str) -> Option<MoveEndpoint> {
    let text = text.trim();
    if let Ok(a) = text.parse::<ResourceAddr>() {
        return Some(MoveEndpoint::Resource(a));
    }
    // module.a or module.a["x"].module.b
    let probe = format!("{text}.x_x.y");
    let a = probe.parse::<ResourceAddr>().ok()?;
    Some(MoveEndpoint::Module(a.module))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block without lifecycle, depends_on, conditions or overrides holds
    /// none of them (it reads the shared empty set); one that sets any has
    /// its own, and an override file reaches a plain block's extras too.
    #[test]
    fn unset_meta_arguments_cost_nothing_and_read_as_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("main.tf"),
            r#"
resource "terraform_data" "plain" {
  input = "a"
}
resource "terraform_data" "kept" {
  input      = "b"
  depends_on = [terraform_data.plain]
  lifecycle {
    prevent_destroy = true
    ignore_changes  = all
  }
}
resource "terraform_data" "overridden" {
  input = "c"
}
"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("main_override.tf"),
            "resource \"terraform_data\" \"overridden\" {\n  lifecycle {\n    create_before_destroy = true\n  }\n}\n",
        )
        .unwrap();
        let mut sources = SourceMap::default();
        let (config, diags) = load_config(dir.path(), &mut sources);
        assert!(!diags.has_errors(), "{diags:?}");
        let config = config.unwrap();
        let block = |n: &str| &config.root.resources[&format!("terraform_data.{n}")];

        let plain = block("plain");
        assert!(plain.extras.is_none(), "a plain block holds extras");
        assert!(!plain.lifecycle.prevent_destroy && !plain.lifecycle.create_before_destroy);
        assert_eq!(plain.lifecycle.ignore_changes, IgnoreChanges::None);
        assert!(plain.depends_on.is_empty() && plain.overlays.is_empty());

        let kept = block("kept");
        assert!(kept.extras.is_some());
        assert!(kept.lifecycle.prevent_destroy);
        assert_eq!(kept.lifecycle.ignore_changes, IgnoreChanges::All);
        assert_eq!(kept.depends_on.len(), 1);

        let overridden = block("overridden");
        assert!(overridden.lifecycle.create_before_destroy);
        assert!(!overridden.lifecycle.prevent_destroy);
    }
}
