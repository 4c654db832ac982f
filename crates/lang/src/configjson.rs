//! The configuration as Terraform's JSON plan document writes it
//! (`configuration`: "Configuration Representation" and "Expression
//! Representation" of Terraform's JSON output format): provider
//! configurations, and per module its resources, variables, outputs and
//! module calls, each argument as an unevaluated expression — a
//! `constant_value` when it refers to nothing, else its `references`
//! (`aws_s3_bucket.a.id` and `aws_s3_bucket.a`, `var.x`, `module.m.out` and
//! `module.m`, `aws_x.y[0]` and `aws_x.y`). Policy tools (checkov) link
//! resources through these references.
//!
//! No secret reaches the document: the constant value of an argument the
//! provider schema marks sensitive, of an argument given to a sensitive
//! module variable, of a sensitive output and the default of a sensitive
//! variable are left out (Terraform writes some of them; terrace does not).

use std::path::Path;

use hcl_edit::expr::Expression;
use hcl_edit::structure::{Body, Structure};
use serde_json::{Map, Value as Json, json};
use terrace_core::ResourceMode;

use crate::config::{Config, Expr, Module, ProviderRef, ResourceBlock};
use crate::eval::eval_const;
use crate::refs::{CollectedRefs, RefStep, RefSubject, Reference};
use crate::source::SourceFile;

/// What the configuration's JSON needs from provider schemas.
pub trait ConfigSchemas {
    /// Whether an argument is sensitive. `resource` is `None` for a
    /// `provider` block; `path` is the nested block names, then the argument.
    fn is_sensitive(
        &self,
        provider: &str,
        resource: Option<(ResourceMode, &str)>,
        path: &[&str],
    ) -> bool;
    /// The schema version of a resource type (0 when unknown).
    fn schema_version(&self, provider: &str, mode: ResourceMode, type_name: &str) -> u64;
}

/// The registry name of a provider (`aws` → `registry.terraform.io/hashicorp/aws`),
/// as Terraform writes it in plan and state JSON. `key` may carry an alias.
pub fn provider_full_name(key: &str) -> String {
    let name = key.split('.').next().unwrap_or(key);
    match name {
        "terraform" => "terraform.io/builtin/terraform".into(),
        other => format!("registry.terraform.io/hashicorp/{other}"),
    }
}

/// A `source` of `required_providers` as a full name (`hashicorp/aws` →
/// `registry.terraform.io/hashicorp/aws`).
fn full_name_of_source(source: &str) -> String {
    if source.split('/').count() == 2 {
        format!("registry.terraform.io/{source}")
    } else {
        source.to_string()
    }
}

/// Terraform's `configuration` object for a loaded configuration.
pub fn configuration_json(config: &Config, schemas: &dyn ConfigSchemas) -> Json {
    let w = Writer { config, schemas };
    json!({
        "provider_config": w.provider_configs(),
        "root_module": w.module(&config.root),
    })
}

struct Writer<'a> {
    config: &'a Config,
    schemas: &'a dyn ConfigSchemas,
}

/// `module.a.module.b` for the config path `[a, b]`.
fn module_address(path: &[String]) -> String {
    path.iter()
        .map(|n| format!("module.{n}"))
        .collect::<Vec<_>>()
        .join(".")
}

impl Writer<'_> {
    /// The key of the provider configuration a module's `pref` resolves to:
    /// `aws`, `aws.west`, or `module.m:aws` when module `m` configures it,
    /// following `providers = {…}` of module calls and implicit inheritance.
    fn provider_key(&self, path: &[String], pref: &ProviderRef) -> String {
        let Some((last, parent)) = path.split_last() else {
            return pref.to_string();
        };
        let here = || format!("{}:{pref}", module_address(path));
        let Some(module) = self.config.module(path) else {
            return here();
        };
        if module.providers.iter().any(|p| p.provider_ref() == *pref) {
            return here();
        }
        let call = self
            .config
            .module(parent)
            .and_then(|m| m.module_calls.get(last));
        if let Some((_, given)) = call.and_then(|c| c.providers.iter().find(|(c, _)| c == pref)) {
            return self.provider_key(parent, given);
        }
        if pref.alias.is_none() {
            return self.provider_key(parent, pref);
        }
        here()
    }

    fn provider_configs(&self) -> Map<String, Json> {
        let mut out = Map::new();
        let root_requirements = self
            .config
            .root
            .terraform
            .as_ref()
            .map(|t| &t.required_providers);
        for m in self.config.modules() {
            let requirement = |name: &str| {
                m.terraform
                    .as_ref()
                    .and_then(|t| t.required_providers.get(name))
            };
            for p in &m.providers {
                let key = self.provider_key(&m.path, &p.provider_ref());
                let req = requirement(&p.name);
                let mut j = json!({
                    "name": p.name,
                    "full_name": req
                        .and_then(|r| r.source.as_deref())
                        .map(full_name_of_source)
                        .unwrap_or_else(|| provider_full_name(&p.name)),
                });
                if let Some(a) = &p.alias {
                    j["alias"] = json!(a);
                }
                if let Some(v) = req.and_then(|r| r.version.as_ref()) {
                    j["version_constraint"] = json!(v);
                }
                if !m.path.is_empty() {
                    j["module_address"] = json!(module_address(&m.path));
                }
                let exprs = self.body(&p.body, &p.file, &m.dir, &[], &|path| {
                    self.schemas.is_sensitive(&p.name, None, path)
                });
                j["expressions"] = Json::Object(exprs);
                out.insert(key, j);
            }
            // Providers used without a `provider` block of their own.
            for r in m.resources.values() {
                let key = self.provider_key(&m.path, &r.provider);
                out.entry(key).or_insert_with(|| {
                    json!({ "name": r.provider.name, "full_name": provider_full_name(&r.provider.name) })
                });
            }
        }
        for (name, req) in root_requirements.into_iter().flatten() {
            let entry = out
                .entry(name.clone())
                .or_insert_with(|| json!({ "name": name, "full_name": provider_full_name(name) }));
            if let Some(s) = &req.source {
                entry["full_name"] = json!(full_name_of_source(s));
            }
            if let Some(v) = &req.version {
                entry["version_constraint"] = json!(v);
            }
        }
        out
    }

    fn module(&self, m: &Module) -> Json {
        let mut out = Map::new();
        let outputs: Map<String, Json> = m
            .outputs
            .values()
            .map(|o| {
                let mut j = match &o.value {
                    Some(e) => json!({ "expression": expression(e, &m.dir, o.sensitive) }),
                    None => json!({}),
                };
                if o.sensitive {
                    j["sensitive"] = json!(true);
                }
                if let Some(d) = &o.description {
                    j["description"] = json!(d);
                }
                if let Some(deps) = depends_on(&o.depends_on) {
                    j["depends_on"] = deps;
                }
                (o.name.clone(), j)
            })
            .collect();
        if !outputs.is_empty() {
            out.insert("outputs".into(), Json::Object(outputs));
        }
        let resources: Vec<Json> = m.resources.values().map(|r| self.resource(m, r)).collect();
        if !resources.is_empty() {
            out.insert("resources".into(), Json::Array(resources));
        }
        let calls: Map<String, Json> = m
            .module_calls
            .values()
            .map(|c| {
                let child = c.child.as_deref();
                let sensitive_var = |name: &str| {
                    child
                        .and_then(|ch| ch.variables.get(name))
                        .is_some_and(|v| v.sensitive)
                };
                let exprs: Map<String, Json> = c
                    .args
                    .iter()
                    .map(|(k, e)| (k.clone(), expression(e, &m.dir, sensitive_var(k))))
                    .collect();
                let mut j = json!({ "source": c.source, "expressions": exprs });
                if let Some(ch) = child {
                    j["module"] = self.module(ch);
                }
                if let Some(v) = &c.version {
                    j["version_constraint"] = json!(v);
                }
                meta_arguments(
                    &mut j,
                    &m.dir,
                    c.count.as_ref(),
                    c.for_each.as_ref(),
                    &c.depends_on,
                );
                (c.name.clone(), j)
            })
            .collect();
        if !calls.is_empty() {
            out.insert("module_calls".into(), Json::Object(calls));
        }
        let variables: Map<String, Json> = m
            .variables
            .values()
            .map(|v| {
                let mut j = json!({});
                if let Some(d) = v.default.as_ref().filter(|_| !v.sensitive) {
                    j["default"] = d.to_json_lossy();
                }
                if let Some(d) = &v.description {
                    j["description"] = json!(d);
                }
                if v.sensitive {
                    j["sensitive"] = json!(true);
                }
                (v.name.clone(), j)
            })
            .collect();
        if !variables.is_empty() {
            out.insert("variables".into(), Json::Object(variables));
        }
        Json::Object(out)
    }

    fn resource(&self, m: &Module, r: &ResourceBlock) -> Json {
        let provider = r.provider.name.as_str();
        let sensitive = |path: &[&str]| {
            self.schemas
                .is_sensitive(provider, Some((r.mode, &r.type_name)), path)
        };
        let mut exprs = self.body(&r.body, &r.file, &m.dir, &[], &sensitive);
        for (file, body) in &r.overlays {
            exprs.extend(self.body(body, file, &m.dir, &[], &sensitive));
        }
        let mut j = json!({
            "address": r.local_name(),
            "mode": match r.mode {
                ResourceMode::Managed => "managed",
                ResourceMode::Data => "data",
            },
            "type": r.type_name,
            "name": r.name,
            "provider_config_key": self.provider_key(&m.path, &r.provider),
            "expressions": exprs,
            "schema_version": self.schemas.schema_version(provider, r.mode, &r.type_name),
        });
        meta_arguments(
            &mut j,
            &m.dir,
            r.count.as_deref(),
            r.for_each.as_deref(),
            &r.depends_on,
        );
        j
    }

    /// The arguments of a body as expressions and its nested blocks as
    /// lists of such objects (in order). `dynamic` blocks are left out, as
    /// Terraform does.
    fn body(
        &self,
        body: &Body,
        file: &SourceFile,
        dir: &Path,
        path: &[&str],
        sensitive: &dyn Fn(&[&str]) -> bool,
    ) -> Map<String, Json> {
        let mut out = Map::new();
        for s in body.iter() {
            match s {
                Structure::Attribute(a) => {
                    let name = a.key.as_str();
                    let mut at = path.to_vec();
                    at.push(name);
                    let e = expression_of(&a.value, file, dir, sensitive(&at));
                    out.insert(name.to_string(), e);
                }
                Structure::Block(b) if b.ident.as_str() == "dynamic" => {}
                Structure::Block(b) => {
                    let name = b.ident.as_str();
                    let mut at = path.to_vec();
                    at.push(name);
                    let nested = self.body(&b.body, file, dir, &at, sensitive);
                    let list = out.entry(name.to_string()).or_insert_with(|| json!([]));
                    if let Json::Array(items) = list {
                        items.push(Json::Object(nested));
                    }
                }
            }
        }
        out
    }
}

/// `count_expression`, `for_each_expression` and `depends_on` of a resource
/// or module call, each when given.
fn meta_arguments(
    j: &mut Json,
    dir: &Path,
    count: Option<&Expr>,
    for_each: Option<&Expr>,
    deps: &[Expr],
) {
    if let Some(e) = count {
        j["count_expression"] = expression(e, dir, false);
    }
    if let Some(e) = for_each {
        j["for_each_expression"] = expression(e, dir, false);
    }
    if let Some(deps) = depends_on(deps) {
        j["depends_on"] = deps;
    }
}

/// `depends_on` as the addresses it names, `None` when empty.
fn depends_on(exprs: &[Expr]) -> Option<Json> {
    let names: Vec<String> = exprs
        .iter()
        .filter_map(|e| e.refs().first().map(subject_name))
        .collect();
    (!names.is_empty()).then(|| json!(names))
}

fn expression(e: &Expr, dir: &Path, sensitive: bool) -> Json {
    expression_with(&e.expr, e.collected(), &e.file, dir, sensitive)
}

fn expression_of(e: &Expression, file: &SourceFile, dir: &Path, sensitive: bool) -> Json {
    expression_with(e, &CollectedRefs::of_expr(e), file, dir, sensitive)
}

/// `{"references": [...]}` when the expression refers to anything, else
/// `{"constant_value": v}` (left out when sensitive, unknown or not constant).
fn expression_with(
    e: &Expression,
    refs: &CollectedRefs,
    file: &SourceFile,
    dir: &Path,
    sensitive: bool,
) -> Json {
    if !refs.refs.is_empty() {
        let list: Vec<String> = refs.refs.iter().flat_map(reference_strings).collect();
        return json!({ "references": list });
    }
    if sensitive {
        return json!({});
    }
    match eval_const(e, file, dir) {
        Ok(v) if v.is_wholly_known() && !v.contains_sensitive() => {
            json!({ "constant_value": v.to_json_lossy() })
        }
        _ => json!({}),
    }
}

fn step_text(s: &RefStep) -> String {
    match s {
        RefStep::Attr(a) => format!(".{a}"),
        RefStep::Key(k) => k.to_string(),
    }
}

/// The subject of a reference as Terraform names it: `var.x`,
/// `aws_x.y[0]`, `data.t.n`, `module.m.out`, `module.m[0]`, `count.index`.
fn subject_and_rest(r: &Reference) -> (String, Vec<String>, &[RefStep]) {
    // (subject, shorter forms listed after it, remaining steps)
    let key = |steps: &[RefStep]| match steps.first() {
        Some(RefStep::Key(k)) => Some(k.clone()),
        _ => None,
    };
    match &r.subject {
        RefSubject::Resource {
            mode,
            type_name,
            name,
        } => {
            let base = match mode {
                ResourceMode::Managed => format!("{type_name}.{name}"),
                ResourceMode::Data => format!("data.{type_name}.{name}"),
            };
            match key(&r.steps) {
                Some(k) => (format!("{base}{k}"), vec![base], &r.steps[1..]),
                None => (base, vec![], &r.steps[..]),
            }
        }
        RefSubject::Module(name) => {
            let call = format!("module.{name}");
            let (inst, rest): (String, &[RefStep]) = match key(&r.steps) {
                Some(k) => (format!("{call}{k}"), &r.steps[1..]),
                None => (call.clone(), &r.steps[..]),
            };
            match rest.first() {
                Some(RefStep::Attr(out)) => (format!("{inst}.{out}"), vec![inst], &rest[1..]),
                _ if inst != call => (inst, vec![call], rest),
                _ => (inst, vec![], rest),
            }
        }
        RefSubject::Var(n) => (format!("var.{n}"), vec![], &r.steps[..]),
        RefSubject::Local(n) => (format!("local.{n}"), vec![], &r.steps[..]),
        RefSubject::Count(n) => (format!("count.{n}"), vec![], &r.steps[..]),
        RefSubject::Each(n) => (format!("each.{n}"), vec![], &r.steps[..]),
        RefSubject::Path(n) => (format!("path.{n}"), vec![], &r.steps[..]),
        RefSubject::Terrace(n) => (format!("terrace.{n}"), vec![], &r.steps[..]),
        RefSubject::Terraform(n) => (format!("terraform.{n}"), vec![], &r.steps[..]),
    }
}

fn subject_name(r: &Reference) -> String {
    subject_and_rest(r).0
}

/// Terraform's reference strings of one reference, longest first: every
/// prefix of the remaining steps on the subject, the subject, then the
/// subject without its instance key (or a module output's call).
fn reference_strings(r: &Reference) -> Vec<String> {
    let (subject, shorter, rest) = subject_and_rest(r);
    let mut out: Vec<String> = (1..=rest.len())
        .rev()
        .map(|n| {
            let tail: String = rest[..n].iter().map(step_text).collect();
            format!("{subject}{tail}")
        })
        .collect();
    out.push(subject);
    out.extend(shorter);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(text: &str) -> Vec<String> {
        let body: Body = format!("x = {text}\n").parse().expect("parses");
        let a = body.get_attribute("x").expect("x");
        CollectedRefs::of_expr(&a.value)
            .refs
            .iter()
            .flat_map(reference_strings)
            .collect()
    }

    #[test]
    fn references_are_listed_as_terraform_lists_them() {
        assert_eq!(
            reference("aws_s3_bucket.a.id"),
            ["aws_s3_bucket.a.id", "aws_s3_bucket.a"]
        );
        assert_eq!(
            reference("aws_subnet.p[0].id"),
            ["aws_subnet.p[0].id", "aws_subnet.p[0]", "aws_subnet.p"]
        );
        assert_eq!(
            reference("aws_subnet.p[\"a\"].id"),
            [
                "aws_subnet.p[\"a\"].id",
                "aws_subnet.p[\"a\"]",
                "aws_subnet.p"
            ]
        );
        assert_eq!(reference("aws_subnet.p[*].id"), ["aws_subnet.p"]);
        assert_eq!(
            reference("aws_subnet.p[count.index].id"),
            ["aws_subnet.p", "count.index"]
        );
        assert_eq!(
            reference("data.aws_iam_policy_document.d.json"),
            [
                "data.aws_iam_policy_document.d.json",
                "data.aws_iam_policy_document.d"
            ]
        );
        assert_eq!(reference("var.tags.Name"), ["var.tags.Name", "var.tags"]);
        assert_eq!(reference("local.name"), ["local.name"]);
        assert_eq!(
            reference("module.net.vpc_id"),
            ["module.net.vpc_id", "module.net"]
        );
        assert_eq!(
            reference("module.net[0].vpc_id"),
            ["module.net[0].vpc_id", "module.net[0]"]
        );
        assert_eq!(reference("module.net[0]"), ["module.net[0]", "module.net"]);
        assert_eq!(
            reference("each.value.cidr"),
            ["each.value.cidr", "each.value"]
        );
        assert_eq!(reference("\"${var.a}-${local.b}\""), ["var.a", "local.b"]);
        assert_eq!(reference("[for s in var.l : s.id]"), ["var.l"]);
    }

    #[test]
    fn a_literal_is_a_constant_value_unless_sensitive() {
        let body: Body = "x = { a = [1, \"b\"] }\n".parse().expect("parses");
        let file = SourceFile::new(
            "main.tf".into(),
            "main.tf".into(),
            "x = { a = [1, \"b\"] }\n",
        );
        let e = &body.get_attribute("x").expect("x").value;
        assert_eq!(
            expression_of(e, &file, Path::new("."), false),
            json!({ "constant_value": { "a": [1, "b"] } })
        );
        assert_eq!(expression_of(e, &file, Path::new("."), true), json!({}));
    }
}
