//! Shared test helpers: a fake schema set, a "planned" resource lookup and
//! the fixture runner.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use terrace_core::{Diagnostics, ResourceAddr, ResourceMode, Value};
use terrace_lang::{
    AttrRequirement, BodySchema, Config, Evaluator, NodeKind, ResourceLookup, SchemaLookup,
    SourceMap, VarInputs, load_config, resolve_root_variables,
};

use AttrRequirement::{Computed, Optional, Required};

fn attrs(list: &[(&str, AttrRequirement)]) -> Vec<(String, AttrRequirement)> {
    list.iter().map(|(n, r)| (n.to_string(), *r)).collect()
}

/// A few AWS-like resource types.
pub struct FakeSchemas;

impl SchemaLookup for FakeSchemas {
    fn body_schema(&self, mode: ResourceMode, type_name: &str) -> Option<BodySchema> {
        let s = |a: &[(&str, AttrRequirement)], blocks: Vec<(&str, BodySchema)>| BodySchema {
            attributes: attrs(a),
            blocks: blocks
                .into_iter()
                .map(|(n, b)| (n.to_string(), b))
                .collect(),
        };
        match (mode, type_name) {
            (ResourceMode::Managed, "aws_instance") => Some(s(
                &[
                    ("ami", Required),
                    ("instance_type", Optional),
                    ("subnet_id", Optional),
                    ("tags", Optional),
                    ("user_data", Optional),
                    ("id", Computed),
                    ("arn", Computed),
                    ("private_ip", Computed),
                ],
                vec![("root_block_device", s(&[("volume_size", Optional)], vec![]))],
            )),
            (ResourceMode::Managed, "aws_vpc") => Some(s(
                &[
                    ("cidr_block", Required),
                    ("tags", Optional),
                    ("id", Computed),
                    ("arn", Computed),
                ],
                vec![],
            )),
            (ResourceMode::Managed, "aws_subnet") => Some(s(
                &[
                    ("vpc_id", Required),
                    ("cidr_block", Required),
                    ("availability_zone", Optional),
                    ("tags", Optional),
                    ("id", Computed),
                ],
                vec![],
            )),
            (ResourceMode::Managed, "aws_security_group") => Some(s(
                &[("name", Optional), ("vpc_id", Optional), ("id", Computed)],
                vec![(
                    "ingress",
                    s(
                        &[
                            ("from_port", Required),
                            ("to_port", Required),
                            ("protocol", Required),
                            ("cidr_blocks", Optional),
                        ],
                        vec![],
                    ),
                )],
            )),
            (ResourceMode::Managed, "terraform_data") => Some(s(
                &[("input", Optional), ("output", Computed), ("id", Computed)],
                vec![],
            )),
            (ResourceMode::Data, "aws_ami") => Some(s(
                &[
                    ("most_recent", Optional),
                    ("owners", Optional),
                    ("id", Computed),
                    ("image_id", Computed),
                ],
                vec![(
                    "filter",
                    s(&[("name", Required), ("values", Required)], vec![]),
                )],
            )),
            _ => None,
        }
    }

    fn type_names(&self, mode: ResourceMode) -> Vec<String> {
        match mode {
            ResourceMode::Managed => [
                "aws_instance",
                "aws_vpc",
                "aws_subnet",
                "aws_security_group",
                "terraform_data",
            ]
            .map(String::from)
            .to_vec(),
            ResourceMode::Data => vec!["aws_ami".to_string()],
        }
    }
}

/// Resources as a plan would see them before creation: every attribute
/// unknown; counted blocks entirely unknown.
pub struct PlannedLookup {
    pub config: Arc<Config>,
}

impl ResourceLookup for PlannedLookup {
    fn resource_value(&self, addr: &ResourceAddr) -> Option<Value> {
        let m = self.config.module(&addr.module.config_path())?;
        let r = m.resources.get(&addr.local_name())?;
        if r.has_count() || r.has_for_each() {
            return None;
        }
        let schema = FakeSchemas.body_schema(addr.mode, &addr.type_name)?;
        Some(Value::Map(
            schema
                .attributes
                .iter()
                .map(|(n, _)| (n.clone(), Value::Unknown))
                .collect(),
        ))
    }
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub struct Run {
    pub sources: SourceMap,
    pub diags: Diagnostics,
    pub evaluator: Option<Evaluator>,
    pub outputs: BTreeMap<String, (Value, bool)>,
}

/// Load, resolve variables, validate, then expand every resource and
/// evaluate every node with planned (unknown) resource values.
pub fn run(dir: &Path) -> Run {
    let mut sources = SourceMap::with_root(dir);
    let (config, mut diags) = load_config(dir, &mut sources);
    let mut run = Run {
        sources: SourceMap::new(),
        diags: Diagnostics::new(),
        evaluator: None,
        outputs: BTreeMap::new(),
    };
    if let Some(config) = config {
        let mut inputs = VarInputs::default();
        if let Ok(text) = std::fs::read_to_string(dir.join("cli.vars")) {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let (k, v) = line.split_once('=').expect("k=v");
                inputs.vars.push((k.to_string(), v.to_string()));
            }
        }
        let (vars, d) = resolve_root_variables(&config, dir, &inputs, &|_| None, &mut sources);
        diags.extend(d);
        if !diags.has_errors() {
            let config = Arc::new(config);
            let ev = Evaluator::new(config.clone(), "dev", vars);
            diags.extend(ev.validate(&FakeSchemas));
            if !diags.has_errors() {
                let lookup = PlannedLookup { config };
                match ev.graph_nodes() {
                    Ok(nodes) => {
                        for n in &nodes {
                            let r = match n.kind {
                                NodeKind::Resource(_) => ev.expand_resource(n, &lookup).map(|_| ()),
                                _ => ev.eval_node(n, &lookup).map(|_| ()),
                            };
                            if let Err(d) = r {
                                diags.extend(d);
                            }
                        }
                    }
                    Err(d) => diags.extend(d),
                }
                match ev.root_outputs(&lookup) {
                    Ok(o) => run.outputs = o,
                    Err(d) => diags.extend(d),
                }
            }
            run.evaluator = Some(ev);
        }
    }
    run.sources = sources;
    run.diags = diags;
    run
}

/// Write a fixture of several files, each introduced by a `-- path --` line,
/// under `dir`.
pub fn write_files(dir: &Path, fixture: &str) {
    let mut current: Option<(String, String)> = None;
    let flush = |c: &mut Option<(String, String)>| {
        if let Some((path, text)) = c.take() {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        }
    };
    for line in fixture.lines() {
        if let Some(name) = line.strip_prefix("-- ").and_then(|l| l.strip_suffix(" --")) {
            flush(&mut current);
            current = Some((name.to_string(), String::new()));
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    flush(&mut current);
}
