//! Evaluation, graph, variables, project file and rendering, on small
//! configurations written as one fixture string (`-- path --` separators).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{FakeSchemas, PlannedLookup, write_files};
use terrace_core::{InstanceKey, ModuleInstance, PathStep, ResourceAddr, ResourceMode, Value};
use terrace_lang::{
    Evaluator, GraphNode, IgnoreChanges, NodeKind, ProviderRef, ResourceLookup, SourceMap,
    VarInputs, diagnostics_json, find_project, find_project_with_sources, load_config,
    render_diagnostics, resolve_root_variables,
};

struct Loaded {
    _dir: tempfile::TempDir,
    ev: Evaluator,
    nodes: Vec<GraphNode>,
    _sources: SourceMap,
}

fn load(fixture: &str, vars: &[(&str, &str)]) -> Loaded {
    let dir = tempfile::tempdir().expect("tempdir");
    write_files(dir.path(), fixture);
    let mut sources = SourceMap::with_root(dir.path());
    let (config, diags) = load_config(dir.path(), &mut sources);
    assert!(
        !diags.has_errors(),
        "{}",
        render_diagnostics(&diags, &sources, false)
    );
    let config = config.expect("config");
    let inputs = VarInputs {
        var_files: Vec::new(),
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let (values, diags) =
        resolve_root_variables(&config, dir.path(), &inputs, &|_| None, &mut sources);
    assert!(
        !diags.has_errors(),
        "{}",
        render_diagnostics(&diags, &sources, false)
    );
    let ev = Evaluator::new(Arc::new(config), "dev", values);
    let diags = ev.validate(&FakeSchemas);
    assert!(
        !diags.has_errors(),
        "{}",
        render_diagnostics(&diags, &sources, false)
    );
    let nodes = ev.graph_nodes().expect("graph");
    Loaded {
        _dir: dir,
        ev,
        nodes,
        _sources: sources,
    }
}

fn node<'a>(l: &'a Loaded, id: &str) -> &'a GraphNode {
    l.nodes.iter().find(|n| n.id == id).unwrap_or_else(|| {
        panic!(
            "no node {id}: {:?}",
            l.nodes.iter().map(|n| &n.id).collect::<Vec<_>>()
        )
    })
}

struct Known(BTreeMap<ResourceAddr, Value>);

impl ResourceLookup for Known {
    fn resource_value(&self, addr: &ResourceAddr) -> Option<Value> {
        self.0.get(addr).cloned()
    }
}

#[test]
fn unknown_and_sensitive_propagate_through_operators() {
    let l = load(
        r#"
-- main.tf --
variable "password" {
  default   = "pw"
  sensitive = true
}
resource "aws_vpc" "main" {
  cidr_block = "10.0.0.0/16"
}
locals {
  plus      = length(aws_vpc.main.id) + 1
  cond      = aws_vpc.main.id == "x" ? "a" : "b"
  tmpl      = "id-${aws_vpc.main.id}"
  listed    = [aws_vpc.main.id, "known"]
  forexpr   = [for x in local.listed : x]
  secret    = "p=${var.password}"
  secret_up = upper(var.password)
  mixed     = { a = var.password, b = "plain" }
  picked    = local.mixed.b
}
"#,
        &[],
    );
    let lookup = PlannedLookup {
        config: l.ev.config().clone(),
    };
    let get = |id: &str| l.ev.eval_node(node(&l, id), &lookup).expect(id);
    assert_eq!(get("local.plus"), Value::Unknown);
    assert_eq!(get("local.cond"), Value::Unknown);
    assert_eq!(get("local.tmpl"), Value::Unknown);
    assert_eq!(
        get("local.listed"),
        Value::List(vec![Value::Unknown, "known".into()])
    );
    assert_eq!(
        get("local.forexpr"),
        Value::List(vec![Value::Unknown, "known".into()])
    );
    assert_eq!(get("local.secret"), Value::string("p=pw").mark_sensitive());
    assert_eq!(get("local.secret_up"), Value::string("PW").mark_sensitive());
    assert!(get("local.mixed").contains_sensitive());
    assert_eq!(get("local.picked"), Value::string("plain"));
    // With the resource known, everything becomes known.
    let known = Known(BTreeMap::from([(
        ResourceAddr::managed("aws_vpc", "main"),
        Value::map([("id", Value::string("vpc-1"))]),
    )]));
    l.ev.reset_cache();
    assert_eq!(
        l.ev.eval_node(node(&l, "local.tmpl"), &known)
            .expect("tmpl"),
        Value::string("id-vpc-1")
    );
    assert_eq!(
        l.ev.eval_node(node(&l, "local.plus"), &known)
            .expect("plus"),
        Value::from(6)
    );
}

#[test]
fn graph_nodes_have_readable_ids_and_deps_across_modules() {
    let l = load(
        r#"
-- main.tf --
variable "region" {
  default = "us-east-1"
}
provider "aws" {
  region = var.region
}
module "net" {
  for_each = toset(["a", "b"])
  source   = "./net"
  cidr     = local.cidr
}
locals {
  cidr = "10.0.0.0/16"
}
resource "aws_instance" "x" {
  ami       = "ami-1"
  subnet_id = module.net["a"].id
}
output "ids" {
  value = [for k, m in module.net : m.id]
}
-- net/main.tf --
variable "cidr" {}
resource "aws_vpc" "this" {
  cidr_block = var.cidr
}
output "id" {
  value = aws_vpc.this.id
}
"#,
        &[],
    );
    let x = node(&l, "aws_instance.x");
    assert!(
        x.deps.contains(&"module.net[\"a\"].output.id".to_string()),
        "{:?}",
        x.deps
    );
    assert!(x.deps.contains(&"module.net[\"b\"].output.id".to_string()));
    assert!(x.deps.contains(&"provider.aws".to_string()));
    let var = node(&l, "module.net[\"a\"].var.cidr");
    assert_eq!(var.deps, vec!["local.cidr".to_string()]);
    let vpc = node(&l, "module.net[\"b\"].aws_vpc.this");
    assert_eq!(
        vpc.module,
        ModuleInstance::root().child("net", Some(InstanceKey::Str("b".into())))
    );
    assert!(vpc.deps.contains(&"module.net[\"b\"].var.cidr".to_string()));
    assert_eq!(
        node(&l, "provider.aws").deps,
        vec!["var.region".to_string()]
    );
    assert_eq!(node(&l, "output.ids").kind, NodeKind::Output("ids".into()));
    let lookup = PlannedLookup {
        config: l.ev.config().clone(),
    };
    let insts = l.ev.expand_resource(vpc, &lookup).expect("expand");
    assert_eq!(insts[0].addr.to_string(), "module.net[\"b\"].aws_vpc.this");
    assert_eq!(
        insts[0].config,
        Value::map([("cidr_block", Value::string("10.0.0.0/16"))])
    );
}

#[test]
fn expand_resource_evaluates_blocks_lifecycle_and_providers() {
    let l = load(
        r#"
-- main.tf --
provider "aws" {
  alias  = "west"
  region = "us-west-2"
}
locals {
  rules = { ssh = 22, https = 443 }
}
resource "aws_security_group" "sg" {
  name = "sg"
  dynamic "ingress" {
    for_each = local.rules
    content {
      from_port = ingress.value
      to_port   = ingress.value
      protocol  = ingress.key
    }
  }
}
resource "aws_instance" "r" {
  count         = 2
  ami           = "ami-${count.index}"
  instance_type = null
  provider      = aws.west
  root_block_device {
    volume_size = 10 * (count.index + 1)
  }
  lifecycle {
    ignore_changes       = [tags["Owner"]]
    replace_triggered_by = [aws_security_group.sg.id]
  }
  depends_on = [aws_security_group.sg]
}
"#,
        &[],
    );
    let lookup = Known(BTreeMap::from([(
        ResourceAddr::managed("aws_security_group", "sg"),
        Value::map([("id", Value::string("sg-1"))]),
    )]));
    let sg =
        l.ev.expand_resource(node(&l, "aws_security_group.sg"), &lookup)
            .expect("sg");
    let ingress = sg[0]
        .config
        .get("ingress")
        .and_then(Value::as_list)
        .expect("ingress list");
    assert_eq!(ingress.len(), 2);
    assert_eq!(
        ingress[0],
        Value::map([
            ("from_port", Value::from(443)),
            ("to_port", Value::from(443)),
            ("protocol", Value::string("https"))
        ])
    );
    let r =
        l.ev.expand_resource(node(&l, "aws_instance.r"), &lookup)
            .expect("r");
    assert_eq!(r.len(), 2);
    assert_eq!(
        r[1].addr,
        ResourceAddr::managed("aws_instance", "r").with_key(Some(InstanceKey::Int(1)))
    );
    assert_eq!(r[1].config.get("ami"), Some(&Value::string("ami-1")));
    assert_eq!(r[1].config.get("instance_type"), None);
    assert_eq!(
        r[1].config.get_path(&[
            PathStep::Key("root_block_device".into()),
            PathStep::Index(0),
            PathStep::Key("volume_size".into())
        ]),
        Some(&Value::from(20))
    );
    assert_eq!(r[0].provider, ProviderRef::new("aws", Some("west")));
    assert_eq!(
        r[0].lifecycle.ignore_changes,
        IgnoreChanges::Paths(vec![vec![
            PathStep::Key("tags".into()),
            PathStep::Key("Owner".into())
        ]])
    );
    assert_eq!(r[0].replace_triggers, vec![Value::string("sg-1")]);
    assert_eq!(
        r[0].depends_on,
        vec![ResourceAddr::managed("aws_security_group", "sg")]
    );
    let range =
        l.ev.attribute_range(
            &r[0].addr,
            &vec![
                PathStep::Key("root_block_device".into()),
                PathStep::Index(0),
                PathStep::Key("volume_size".into()),
            ],
        )
        .expect("range");
    assert_eq!(range.start.line, 25);
    let providers = l.ev.provider_configs(&lookup).expect("providers");
    assert_eq!(
        providers,
        vec![
            (ProviderRef::new("aws", None), Value::map::<&str>([])),
            (
                ProviderRef::new("aws", Some("west")),
                Value::map([("region", Value::string("us-west-2"))])
            ),
        ]
    );
}

#[test]
fn variable_precedence_and_cli_parsing() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_files(
        dir.path(),
        r#"
-- main.tf --
variable "a" {
  default = "default"
}
variable "b" {
  default = "default"
}
variable "c" {
  default = "default"
}
variable "d" {
  default = "default"
}
variable "zones" {
  type    = list(string)
  default = []
}
-- terraform.tfvars --
a = "tfvars"
b = "tfvars"
c = "tfvars"
-- x.auto.tfvars --
b = "auto"
c = "auto"
-- extra.vars --
c = "var-file"
"#,
    );
    let mut sources = SourceMap::new();
    let (config, diags) = load_config(dir.path(), &mut sources);
    assert!(diags.is_empty());
    let config = config.expect("config");
    let inputs = VarInputs {
        var_files: vec![dir.path().join("extra.vars")],
        vars: vec![("zones".into(), r#"["a", "b"]"#.into())],
    };
    let env = |k: &str| match k {
        "TF_VAR_d" => Some("tf-env".to_string()),
        "TERRACE_VAR_d" => Some("terrace-env".to_string()),
        _ => None,
    };
    let (values, diags) = resolve_root_variables(&config, dir.path(), &inputs, &env, &mut sources);
    assert!(diags.is_empty(), "{diags}");
    assert_eq!(values["a"], Value::string("tfvars"));
    assert_eq!(values["b"], Value::string("auto"));
    assert_eq!(values["c"], Value::string("var-file"));
    assert_eq!(values["d"], Value::string("terrace-env"));
    assert_eq!(values["zones"], Value::List(vec!["a".into(), "b".into()]));
}

#[test]
fn project_file_settings_and_typos() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_files(
        dir.path(),
        "-- terrace.hcl --\nenvironments_dir = \"envs\"\nstate {\n  url = \"sqlite:state/terrace.db\"\n}\n-- envs/dev/main.tf --\n",
    );
    let p = find_project(&dir.path().join("envs/dev")).expect("project");
    assert_eq!(p.root, dir.path());
    assert_eq!(p.environments_dir, dir.path().join("envs"));
    assert_eq!(p.state_url.as_deref(), Some("sqlite:state/terrace.db"));

    let bad = tempfile::tempdir().expect("tempdir");
    write_files(
        bad.path(),
        "-- terrace.hcl --\nenvironment_dir = \"envs\"\n",
    );
    let mut sources = SourceMap::with_root(bad.path());
    let diags = find_project_with_sources(bad.path(), &mut sources).expect_err("typo");
    assert!(
        diags
            .iter()
            .any(|d| d.detail.contains("Did you mean \"environments_dir\"?")),
        "{diags}"
    );

    let none = tempfile::tempdir().expect("tempdir");
    let p = find_project(none.path()).expect("defaults");
    assert_eq!(p.environments_dir, none.path().join("environments"));
    assert_eq!(p.state_url, None);
}

fn invalid_render(fixture: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    write_files(dir.path(), fixture);
    let mut sources = SourceMap::with_root(dir.path());
    let (config, mut diags) = load_config(dir.path(), &mut sources);
    if let Some(config) = config {
        let (vars, d) = resolve_root_variables(
            &config,
            dir.path(),
            &VarInputs::default(),
            &|_| None,
            &mut sources,
        );
        diags.extend(d);
        let ev = Evaluator::new(Arc::new(config), "dev", vars);
        diags.extend(ev.validate(&FakeSchemas));
    }
    let json = diagnostics_json(&diags);
    assert_eq!(json.as_array().map(Vec::len), Some(diags.len()));
    render_diagnostics(&diags, &sources, false)
}

#[test]
fn snapshot_unsupported_argument_and_undeclared_reference() {
    insta::assert_snapshot!(invalid_render(
        r#"
-- main.tf --
resource "aws_instance" "x" {
  ami          = "ami-1"
  instnce_type = "t3.micro"
  subnet_id    = aws_subnet.main.id
}
"#
    ));
}

#[test]
fn snapshot_function_argument_and_validation() {
    insta::assert_snapshot!(invalid_render(
        r#"
-- main.tf --
variable "env" {
  default = "qa"
  validation {
    condition     = contains(["dev", "prod"], var.env)
    error_message = "env must be dev or prod."
  }
}
locals {
  subnet = cidrsubnet("10.0.0.0/16", "eight", 1)
  name   = upper("a", "b")
}
"#
    ));
}

#[test]
fn generated_config_with_2000_resources_loads_and_evaluates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::from(
        "variable \"prefix\" {\n  default = \"run\"\n}\nresource \"aws_vpc\" \"main\" {\n  cidr_block = \"10.0.0.0/16\"\n}\n",
    );
    for i in 0..2000 {
        text.push_str(&format!(
            "resource \"aws_subnet\" \"s{i}\" {{\n  vpc_id     = aws_vpc.main.id\n  cidr_block = cidrsubnet(\"10.0.0.0/8\", 16, {i})\n  tags       = {{ Name = \"${{var.prefix}}-{i}\" }}\n}}\n"
        ));
    }
    std::fs::write(dir.path().join("main.tf"), text).expect("write");
    let mut sources = SourceMap::new();
    let (config, diags) = load_config(dir.path(), &mut sources);
    assert!(diags.is_empty());
    let config = Arc::new(config.expect("config"));
    assert_eq!(config.root.resources.len(), 2001);
    let (vars, _) = resolve_root_variables(
        &config,
        dir.path(),
        &VarInputs::default(),
        &|_| None,
        &mut sources,
    );
    let ev = Evaluator::new(config.clone(), "dev", vars);
    assert!(ev.validate(&FakeSchemas).is_empty());
    let nodes = ev.graph_nodes().expect("graph");
    let lookup = PlannedLookup { config };
    let mut count = 0;
    for n in &nodes {
        if let NodeKind::Resource(addr) = &n.kind {
            let insts = ev.expand_resource(n, &lookup).expect("expand");
            if addr.name == "s1999" {
                assert_eq!(
                    insts[0].config.get("cidr_block"),
                    Some(&Value::string("10.7.207.0/24"))
                );
                assert_eq!(insts[0].config.get("vpc_id"), Some(&Value::Unknown));
                assert_eq!(
                    n.deps,
                    vec![
                        "aws_vpc.main".to_string(),
                        "var.prefix".to_string(),
                        "provider.aws".to_string()
                    ]
                );
            }
            count += insts.len();
        }
    }
    assert_eq!(count, 2001);
    assert!(nodes.iter().any(|n| n.id == "aws_subnet.s42"
        && n.kind
            == NodeKind::Resource(ResourceAddr {
                module: ModuleInstance::root(),
                mode: ResourceMode::Managed,
                type_name: "aws_subnet".into(),
                name: "s42".into(),
                key: None
            })));
}

#[test]
fn evaluator_is_send_and_sync() {
    fn shared<T: Send + Sync>(_: &T) -> bool {
        true
    }
    let l = load("-- main.tf --\nlocals {\n  a = 1\n}\n", &[]);
    assert!(shared(&l.ev));
    let v = std::thread::scope(|s| {
        s.spawn(|| {
            l.ev.eval_node(
                node(&l, "local.a"),
                &common::PlannedLookup {
                    config: l.ev.config().clone(),
                },
            )
        })
        .join()
    });
    assert_eq!(v.expect("thread").expect("value"), Value::from(1));
}
