//! Loading an environment and configuring its providers.

use crate::error::EngineError;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use terrace_core::{Diagnostic, Diagnostics, ResourceMode, Value};
use terrace_graph::DepGraph;
use terrace_lang::{
    AttrRequirement, BodySchema, Config, ConfigSchemas, Evaluator, GraphNode, NodeKind,
    ProviderRef, RemoteModules, SchemaLookup, SourceMap, VarInputs,
};
use terrace_provider::{AttrMode, Provider, ProviderFactory, Schema};
use terrace_state::StateStore;

/// Reads an environment variable; injectable so tests and the CLI decide.
pub type EnvReader = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Everything the engine needs that outlives one command.
#[derive(Clone)]
pub struct Engine {
    pub store: Arc<dyn StateStore>,
    pub factories: Vec<Arc<dyn ProviderFactory>>,
    pub env_reader: EnvReader,
    /// Where the project lives (for relative paths in messages).
    pub project_root: PathBuf,
    /// How long to wait for a held lock.
    pub lock_timeout: std::time::Duration,
    /// Where remote module sources (git, registry, URL, S3) are on disk:
    /// the modules `terrace init` installed, checked against the lock file.
    pub modules: Arc<dyn RemoteModules>,
}

impl Engine {
    pub fn factory(&self, name: &str) -> Option<&Arc<dyn ProviderFactory>> {
        self.factories.iter().find(|f| f.name() == name)
    }

    /// The schema of a resource or data type, across providers.
    pub fn type_schema(
        &self,
        mode: ResourceMode,
        provider: &str,
        type_name: &str,
    ) -> Option<&Schema> {
        let f = self.factory(provider)?;
        match mode {
            ResourceMode::Managed => f.schema().resources.get(type_name),
            ResourceMode::Data => f.schema().data_sources.get(type_name),
        }
    }

    /// Give `v` the schema's types and sensitive marks (sets read back from
    /// JSON, sensitive attributes); `provider_key` may carry an alias
    /// (`aws.west`). Unknown types pass through unchanged.
    pub fn conform(
        &self,
        mode: ResourceMode,
        provider_key: &str,
        type_name: &str,
        v: Value,
    ) -> Value {
        let name = provider_key.split('.').next().unwrap_or(provider_key);
        match self.type_schema(mode, name, type_name) {
            Some(s) => crate::values::conform_to_schema(s, v),
            None => v,
        }
    }
}

/// A loaded, validated environment: its configuration, variables and graph.
pub struct LoadedEnv {
    pub name: String,
    pub dir: PathBuf,
    pub config: Arc<Config>,
    pub sources: SourceMap,
    pub variables: BTreeMap<String, Value>,
    pub evaluator: Arc<Evaluator>,
    pub nodes: Vec<GraphNode>,
    /// Payload: index into `nodes`.
    pub graph: DepGraph<usize>,
    pub config_hash: String,
    /// Configuration warnings (`file:line:col: summary: detail`), e.g. an
    /// ignored `backend` block; plans carry them.
    pub warnings: Vec<String>,
}

impl LoadedEnv {
    pub fn node(&self, ix: terrace_graph::NodeIndex) -> &GraphNode {
        &self.nodes[*self.graph.payload(ix)]
    }
}

/// How to load an environment.
pub struct LoadOptions {
    pub vars: VarInputs,
    /// Use these root variables instead of resolving them (apply of a plan file).
    pub fixed_variables: Option<BTreeMap<String, Value>>,
}

/// Provider schemas as the language layer needs them for validation.
pub struct Schemas<'a> {
    engine: &'a Engine,
}

impl<'a> Schemas<'a> {
    pub fn new(engine: &'a Engine) -> Self {
        Schemas { engine }
    }
}

fn body_schema(s: &Schema) -> BodySchema {
    BodySchema {
        attributes: s
            .attributes
            .iter()
            .map(|(n, a)| {
                let req = match a.mode {
                    AttrMode::Required => AttrRequirement::Required,
                    AttrMode::Optional | AttrMode::OptionalComputed => AttrRequirement::Optional,
                    AttrMode::Computed => AttrRequirement::Computed,
                };
                (n.clone(), req)
            })
            .collect(),
        blocks: s
            .blocks
            .iter()
            .map(|(n, b)| (n.clone(), body_schema(&b.schema)))
            .collect(),
    }
}

impl SchemaLookup for Schemas<'_> {
    fn body_schema(&self, mode: ResourceMode, type_name: &str) -> Option<BodySchema> {
        self.engine.factories.iter().find_map(|f| {
            let s = match mode {
                ResourceMode::Managed => f.schema().resources.get(type_name),
                ResourceMode::Data => f.schema().data_sources.get(type_name),
            };
            s.map(body_schema)
        })
    }

    fn type_names(&self, mode: ResourceMode) -> Vec<String> {
        self.engine
            .factories
            .iter()
            .flat_map(|f| match mode {
                ResourceMode::Managed => f.schema().resources.keys().cloned().collect::<Vec<_>>(),
                ResourceMode::Data => f.schema().data_sources.keys().cloned().collect(),
            })
            .collect()
    }

    fn provider_names(&self) -> Vec<String> {
        self.engine
            .factories
            .iter()
            .map(|f| f.name().to_string())
            .collect()
    }
}

impl ConfigSchemas for Schemas<'_> {
    fn is_sensitive(
        &self,
        provider: &str,
        resource: Option<(ResourceMode, &str)>,
        path: &[&str],
    ) -> bool {
        let Some(f) = self.engine.factory(provider) else {
            return false;
        };
        let mut schema = match resource {
            None => Some(&f.schema().provider),
            Some((mode, t)) => self.engine.type_schema(mode, provider, t),
        };
        let Some((attr, blocks)) = path.split_last() else {
            return false;
        };
        for b in blocks {
            schema = schema.and_then(|s| s.blocks.get(*b)).map(|b| &b.schema);
        }
        schema
            .and_then(|s| s.attributes.get(*attr))
            .is_some_and(|a| a.sensitive)
    }

    fn schema_version(&self, provider: &str, mode: ResourceMode, type_name: &str) -> u64 {
        self.engine
            .type_schema(mode, provider, type_name)
            .map_or(0, |s| u64::from(s.version))
    }
}

/// Load, evaluate variables, validate and build the graph of an environment.
pub fn load_env(
    engine: &Engine,
    name: &str,
    dir: &Path,
    opts: &LoadOptions,
) -> Result<LoadedEnv, EngineError> {
    let mut sources = SourceMap::default();
    let (config, mut diags) =
        terrace_lang::load_config_with(dir, &mut sources, engine.modules.as_ref());
    let Some(config) = config else {
        return Err(EngineError::config(diags, sources));
    };
    if diags.has_errors() {
        return Err(EngineError::config(diags, sources));
    }
    let variables = match &opts.fixed_variables {
        Some(v) => v.clone(),
        None => {
            let reader = engine.env_reader.clone();
            let (vars, var_diags) = terrace_lang::resolve_root_variables(
                &config,
                dir,
                &opts.vars,
                &move |k| reader(k),
                &mut sources,
            );
            diags.extend(var_diags);
            vars
        }
    };
    if diags.has_errors() {
        return Err(EngineError::config(diags, sources));
    }
    let config = Arc::new(config);
    let evaluator = Arc::new(Evaluator::new(config.clone(), name, variables.clone()));
    diags.extend(evaluator.validate(&Schemas::new(engine)));
    if diags.has_errors() {
        return Err(EngineError::config(diags, sources));
    }
    let nodes = match evaluator.graph_nodes() {
        Ok(n) => n,
        Err(d) => {
            diags.extend(d);
            return Err(EngineError::config(diags, sources));
        }
    };
    let graph = match build_graph(&nodes) {
        Ok(g) => g,
        Err(d) => {
            diags.extend(d);
            return Err(EngineError::config(diags, sources));
        }
    };
    let config_hash = hash_config(&config);
    let warnings = diags
        .iter()
        .filter(|d| !d.is_error())
        .map(|d| match &d.range {
            Some(r) => format!("{r}: {}: {}", d.summary, d.detail),
            None => format!("{}: {}", d.summary, d.detail),
        })
        .collect();
    Ok(LoadedEnv {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        config,
        sources,
        variables,
        evaluator,
        nodes,
        graph,
        config_hash,
        warnings,
    })
}

/// The graph of the evaluator's nodes; cycles are diagnostics naming every member.
pub fn build_graph(nodes: &[GraphNode]) -> Result<DepGraph<usize>, Diagnostics> {
    let mut g = DepGraph::new();
    let mut diags = Diagnostics::new();
    for (i, n) in nodes.iter().enumerate() {
        if g.add_node(n.id.clone(), i).is_err() {
            diags.push(
                Diagnostic::error(
                    "Duplicate graph node",
                    format!("{} is declared twice.", n.id),
                )
                .at(n.range.clone()),
            );
        }
    }
    for n in nodes {
        for d in &n.deps {
            if g.add_dependency(&n.id, d).is_err() {
                diags.push(
                    Diagnostic::error(
                        "Reference to an undeclared object",
                        format!("{} refers to {d}, which is not declared.", n.id),
                    )
                    .at(n.range.clone()),
                );
            }
        }
    }
    let by_id: HashMap<&str, &GraphNode> = nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    for cycle in g.cycles() {
        let members = cycle.join(", ");
        for id in &cycle {
            let range = by_id.get(id.as_str()).and_then(|n| n.range.clone());
            diags.push(
                Diagnostic::error("Cycle in the dependency graph", format!("{id} is part of a cycle: {members}. Break the cycle by removing one of these references."))
                    .at(range),
            );
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(g)
    }
}

/// A hash of every `.tf` file of every module, so a saved plan is refused
/// once the configuration changed.
/// SHA-256 over the `.tf` files of every module (name and content). A file
/// is named by its path relative to the root module's directory, so the
/// same configuration in another place (a rollback's restored snapshot, a
/// CI checkout elsewhere) hashes the same, and a saved plan applies there.
fn hash_config(config: &Config) -> String {
    let root = lexical(&config.root.dir);
    let mut files: Vec<PathBuf> = Vec::new();
    for m in config.modules() {
        if let Ok(rd) = std::fs::read_dir(&m.dir) {
            files.extend(
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "tf" || x == "tofu")),
            );
        }
    }
    files.sort();
    files.dedup();
    let mut h = Sha256::new();
    for f in files {
        h.update(
            relative_to(&root, &lexical(&f))
                .to_string_lossy()
                .as_bytes(),
        );
        h.update([0]);
        h.update(std::fs::read(&f).unwrap_or_default());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// `p` made absolute, with `.` and `..` resolved by the names alone (no
/// symbolic links followed).
fn lexical(p: &std::path::Path) -> PathBuf {
    if p.is_absolute() {
        terrace_lang::normalize_path(p)
    } else {
        terrace_lang::normalize_path(&std::env::current_dir().unwrap_or_default().join(p))
    }
}

/// `path` relative to the directory `base` (both lexical and absolute),
/// with `..` where `path` is outside `base`.
fn relative_to(base: &std::path::Path, path: &std::path::Path) -> PathBuf {
    let b: Vec<_> = base.components().collect();
    let p: Vec<_> = path.components().collect();
    let common = b.iter().zip(&p).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// The `lifecycle` of a resource node's block.
pub fn lifecycle_of<'a>(
    env: &'a LoadedEnv,
    node: &GraphNode,
) -> Option<&'a terrace_lang::Lifecycle> {
    let NodeKind::Resource(addr) = &node.kind else {
        return None;
    };
    let module = env.config.module(&addr.module.config_path())?;
    module
        .resources
        .get(&addr.local_name())
        .map(|r| &r.lifecycle)
}

/// The key of a provider instance: `aws` or `aws.west`.
pub fn provider_key(p: &ProviderRef) -> String {
    match &p.alias {
        Some(a) => format!("{}.{a}", p.name),
        None => p.name.clone(),
    }
}

/// Configured providers by key.
pub type Providers = HashMap<String, Arc<dyn Provider>>;

/// Configure every provider the environment uses (and the built-in one),
/// plus any named by `extra` (providers of resources only in state).
pub async fn configure_providers(
    engine: &Engine,
    env: &LoadedEnv,
    lookup: &dyn terrace_lang::ResourceLookup,
    extra: &[String],
) -> Result<Providers, EngineError> {
    let configs = env
        .evaluator
        .provider_configs(lookup)
        .map_err(|d| EngineError::config(d, env.sources.clone()))?;
    let mut wanted: BTreeMap<String, (String, Value)> = BTreeMap::new();
    for (pref, value) in configs {
        wanted.insert(provider_key(&pref), (pref.name.clone(), value));
    }
    for n in &env.nodes {
        if let NodeKind::Resource(addr) = &n.kind {
            let name = addr
                .type_name
                .split('_')
                .next()
                .unwrap_or_default()
                .to_string();
            wanted
                .entry(name.clone())
                .or_insert_with(|| (name, Value::Map(Default::default())));
        }
    }
    for key in extra {
        let name = key.split('.').next().unwrap_or_default().to_string();
        wanted
            .entry(key.clone())
            .or_insert_with(|| (name, Value::Map(Default::default())));
    }
    wanted
        .entry("terraform".into())
        .or_insert_with(|| ("terraform".into(), Value::Map(Default::default())));
    let mut out: Providers = HashMap::new();
    for (key, (name, value)) in wanted {
        let Some(factory) = engine.factory(&name) else {
            return Err(EngineError::Other(format!(
                "provider \"{name}\" is not available in terrace; supported providers: {}",
                engine
                    .factories
                    .iter()
                    .map(|f| f.name().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let p = factory
            .configure(&value, &env.name)
            .await
            .map_err(|e| EngineError::Other(format!("configuring provider {key}: {e}")))?;
        out.insert(key, p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn paths_are_named_relative_to_the_root_module() {
        assert_eq!(
            lexical(Path::new("/p/environments/dev/../../modules/net/./main.tf")),
            Path::new("/p/modules/net/main.tf")
        );
        let root = Path::new("/p/environments/dev");
        assert_eq!(
            relative_to(root, Path::new("/p/modules/net/main.tf")),
            Path::new("../../modules/net/main.tf")
        );
        assert_eq!(
            relative_to(root, Path::new("/p/environments/dev/main.tf")),
            Path::new("main.tf")
        );
        assert_eq!(
            relative_to(
                root,
                Path::new("/p/environments/dev/.terraform/modules/x/a.tf")
            ),
            Path::new(".terraform/modules/x/a.tf")
        );
    }

    #[test]
    fn the_same_configuration_elsewhere_hashes_the_same() {
        let write = |root: &Path, body: &str| {
            let env = root.join("environments/dev");
            let module = root.join("modules/m");
            std::fs::create_dir_all(&env).unwrap();
            std::fs::create_dir_all(&module).unwrap();
            std::fs::write(
                env.join("main.tf"),
                "module \"m\" {\n  source = \"../../modules/m\"\n}\n",
            )
            .unwrap();
            std::fs::write(module.join("main.tf"), body).unwrap();
            env
        };
        let hash = |dir: &Path| {
            let mut sources = terrace_lang::SourceMap::default();
            let (config, diags) = terrace_lang::load_config(dir, &mut sources);
            hash_config(&config.unwrap_or_else(|| panic!("{diags:?}")))
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let body = "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n";
        let ha = hash(&write(a.path(), body));
        assert_eq!(ha, hash(&write(b.path(), body)));
        // A module's content counts.
        let changed = body.replace("1", "2");
        assert_ne!(ha, hash(&write(b.path(), &changed)));
    }
}
