//! Synthetic projects: terrace.hcl, environments of a given shape and size,
//! and state documents that already hold every resource of a shape.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A temporary terrace project with SQLite state in its own folder.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Drop for Project {
    /// With `TERRACE_BENCH_KEEP=1` the project stays on disk (for profiling
    /// a run by hand); its path is printed.
    fn drop(&mut self) {
        if std::env::var_os("TERRACE_BENCH_KEEP").is_some_and(|v| v == "1") {
            let dir = std::mem::replace(
                &mut self.dir,
                tempfile::tempdir().expect("placeholder temp dir"),
            );
            eprintln!("terrace-bench: kept {}", dir.keep().display());
        }
    }
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::Builder::new()
            .prefix("terrace-bench-")
            .tempdir()
            .expect("temp project");
        std::fs::write(
            dir.path().join("terrace.hcl"),
            "environments_dir = \"environments\"\nstate {\n  url = \"sqlite:state/terrace.db\"\n}\n",
        )
        .expect("terrace.hcl");
        std::fs::create_dir_all(dir.path().join("environments")).expect("environments/");
        std::fs::create_dir_all(dir.path().join("modules")).expect("modules/");
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `environments/<env>/<name>`.
    pub fn write_env(&self, env: &str, name: &str, text: &str) -> PathBuf {
        let d = self.path().join("environments").join(env);
        std::fs::create_dir_all(&d).expect("env dir");
        let p = d.join(name);
        std::fs::write(&p, text).expect("env file");
        p
    }

    /// Write `modules/<module>/main.tf`.
    pub fn write_module(&self, module: &str, text: &str) {
        let d = self.path().join("modules").join(module);
        std::fs::create_dir_all(&d).expect("module dir");
        std::fs::write(d.join("main.tf"), text).expect("module file");
    }
}

/// The synthetic shapes measured at 1k / 10k / 100k resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// N separate `terraform_data` blocks, no references.
    Independent,
    /// One block with `count = N`.
    Count,
    /// N blocks, each referencing the previous one's output: one chain of length N.
    Chain,
    /// N/10 instances (`for_each`) of a module holding 10 `terraform_data`
    /// (one root, nine referencing it).
    ModuleForEach,
    /// `aws_instance` with `count = N` (planned with --refresh=false from empty state).
    AwsInstances,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Independent => "independent",
            Shape::Count => "count",
            Shape::Chain => "chain",
            Shape::ModuleForEach => "module-for-each",
            Shape::AwsInstances => "aws-instance",
        }
    }

    /// Write the environment (and module) for `n` resources; returns the env name.
    pub fn write(self, project: &Project, n: usize) -> String {
        let env = format!("{}-{n}", self.name());
        let mut tf = String::with_capacity(n * 80);
        match self {
            Shape::Independent => {
                for i in 0..n {
                    let _ = writeln!(
                        tf,
                        "resource \"terraform_data\" \"r{i}\" {{\n  input = \"v{i}\"\n}}"
                    );
                }
            }
            Shape::Count => {
                let _ = writeln!(
                    tf,
                    "resource \"terraform_data\" \"c\" {{\n  count = {n}\n  input = \"v${{count.index}}\"\n}}"
                );
            }
            Shape::Chain => {
                tf.push_str("resource \"terraform_data\" \"r0\" {\n  input = \"v0\"\n}\n");
                for i in 1..n {
                    let _ = writeln!(
                        tf,
                        "resource \"terraform_data\" \"r{i}\" {{\n  input = terraform_data.r{}.output\n}}",
                        i - 1
                    );
                }
            }
            Shape::ModuleForEach => {
                let module = "unit10";
                let mut m = String::from("variable \"name\" {\n  type = string\n}\n\n");
                m.push_str("resource \"terraform_data\" \"r0\" {\n  input = var.name\n}\n");
                for j in 1..10 {
                    let _ = writeln!(
                        m,
                        "resource \"terraform_data\" \"r{j}\" {{\n  input = terraform_data.r0.output\n}}"
                    );
                }
                m.push_str("output \"id\" {\n  value = terraform_data.r0.output\n}\n");
                project.write_module(module, &m);
                // A literal key list: range() is capped at 1,024 elements, as in Terraform.
                let keys: Vec<String> = (0..n / 10).map(|k| format!("\"k{k}\"")).collect();
                let _ = writeln!(
                    tf,
                    "module \"m\" {{\n  source   = \"../../modules/{module}\"\n  for_each = toset([{}])\n  name     = each.key\n}}",
                    keys.join(", ")
                );
            }
            Shape::AwsInstances => {
                tf.push_str("provider \"aws\" {\n  region = \"us-east-1\"\n}\n\n");
                let _ = writeln!(
                    tf,
                    "resource \"aws_instance\" \"i\" {{\n  count         = {n}\n  ami           = \"{AMI}\"\n  instance_type = \"t3.micro\"\n  tags = {{\n    Name = \"bench-${{count.index}}\"\n  }}\n}}"
                );
            }
        }
        project.write_env(&env, "main.tf", &tf);
        env
    }

    /// (address, input, dependencies) of every instance, as apply would
    /// record them; `None` for shapes whose state is not synthesised.
    pub fn instances(self, n: usize) -> Option<Vec<(String, String, Vec<String>)>> {
        let mut out = Vec::with_capacity(n);
        match self {
            Shape::Independent => {
                for i in 0..n {
                    out.push((format!("terraform_data.r{i}"), format!("v{i}"), vec![]));
                }
            }
            Shape::Count => {
                for i in 0..n {
                    out.push((format!("terraform_data.c[{i}]"), format!("v{i}"), vec![]));
                }
            }
            Shape::Chain => {
                out.push(("terraform_data.r0".to_string(), "v0".to_string(), vec![]));
                for i in 1..n {
                    out.push((
                        format!("terraform_data.r{i}"),
                        "v0".to_string(),
                        vec![format!("terraform_data.r{}", i - 1)],
                    ));
                }
            }
            Shape::ModuleForEach => {
                for k in 0..n / 10 {
                    let prefix = format!("module.m[\"k{k}\"]");
                    let root = format!("{prefix}.terraform_data.r0");
                    out.push((root.clone(), format!("k{k}"), vec![]));
                    for j in 1..10 {
                        out.push((
                            format!("{prefix}.terraform_data.r{j}"),
                            format!("k{k}"),
                            vec![root.clone()],
                        ));
                    }
                }
            }
            Shape::AwsInstances => return None,
        }
        Some(out)
    }
}

/// The AMI id moto knows (same as the e2e tests).
pub const AMI: &str = "ami-04681a1dbd79675a5";

/// A state document holding `instances` (`terraform_data`), shaped like
/// `template` (a state pulled after a real apply of one `terraform_data`).
pub fn synth_state(
    template: &serde_json::Value,
    instances: &[(String, String, Vec<String>)],
) -> serde_json::Value {
    let record = template["resources"][0].clone();
    let mut resources: Vec<serde_json::Value> = instances
        .iter()
        .enumerate()
        .map(|(i, (addr, input, deps))| {
            let mut r = record.clone();
            r["address"] = addr.clone().into();
            r["attributes"] = serde_json::json!({
                "id": format!("bench-{i:08}"),
                "input": input,
                "output": input,
                "triggers_replace": null,
            });
            r["sensitive_paths"] = serde_json::json!([]);
            r["dependencies"] = serde_json::json!(deps);
            r
        })
        .collect();
    resources.sort_by(|a, b| a["address"].as_str().cmp(&b["address"].as_str()));
    let mut state = template.clone();
    state["lineage"] = uuid::Uuid::new_v4().to_string().into();
    state["serial"] = 1.into();
    state["resources"] = serde_json::Value::Array(resources);
    state["outputs"] = serde_json::json!({});
    state
}

/// `len` characters of base64 alphabet from a fixed pseudo-random sequence.
pub fn base64_blob(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut s = String::with_capacity(len);
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push(ALPHABET[(x % 64) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_match_shape_sizes() {
        for shape in [
            Shape::Independent,
            Shape::Count,
            Shape::Chain,
            Shape::ModuleForEach,
        ] {
            let xs = shape.instances(100).expect("terraform_data shape");
            assert_eq!(xs.len(), 100, "{shape:?}");
            let mut addrs: Vec<_> = xs.iter().map(|x| x.0.clone()).collect();
            addrs.sort();
            addrs.dedup();
            assert_eq!(addrs.len(), 100, "{shape:?} addresses are unique");
        }
        assert!(Shape::AwsInstances.instances(10).is_none());
    }

    #[test]
    fn synthesised_state_is_sorted_with_fresh_lineage() {
        let template = serde_json::json!({
            "format_version": 1, "lineage": "x", "serial": 9, "terrace_version": "0.1.0",
            "resources": [{"address": "terraform_data.t", "mode": "managed", "type_name": "terraform_data",
                "provider": "terraform", "attributes": {}, "schema_version": 0,
                "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"}],
            "outputs": {}
        });
        let s = synth_state(&template, &Shape::Independent.instances(12).unwrap());
        let addrs: Vec<&str> = s["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["address"].as_str().unwrap())
            .collect();
        let mut sorted = addrs.clone();
        sorted.sort();
        assert_eq!(addrs, sorted);
        assert_eq!(s["serial"], 1);
        assert!(uuid::Uuid::parse_str(s["lineage"].as_str().unwrap()).is_ok());
        assert_eq!(s["resources"][0]["attributes"]["output"], "v0");
    }

    #[test]
    fn blob_is_base64_alphabet() {
        let b = base64_blob(1000);
        assert_eq!(b.len(), 1000);
        assert!(
            b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
        );
    }
}
