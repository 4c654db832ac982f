//! `terrace-bench` measures the release `terrace` binary (found next to this
//! binary, e.g. target/release/terrace) on synthetic environments of 1,000,
//! 10,000 and 100,000 resources, against moto (`--moto`), and on OpenTofu's
//! published performance scenarios. It reports medians of several runs, peak
//! RSS and CPU time of the child, and checks issue 8's targets.
//!
//! It depends on no terrace crate except the test kit (for moto): it drives
//! the binary exactly as a user would, in a temporary project with SQLite state.

mod fleet;
mod generate;
mod history;
mod measure;

use generate::{AMI, Project, Shape, base64_blob, synth_state};
use measure::{Runner, Sample, median};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

const USAGE: &str = "usage: terrace-bench [--quick] [--moto] [--only SUBSTRING]... [--runs N] [--sizes 1000,10000,100000] [--timeout SECS] [--json FILE] [--terrace PATH] [--history N,APPLIES] [--fleet ENVS[,REGIONS]]

  --quick          sizes 1,000 and 10,000 only, 3 runs, the large-state scenario at 100 resources
  --moto           also the moto scenarios (apply, refresh and drift of 1,000 instances)
  --only S         only groups/scenarios whose name contains S (repeatable): synthetic, moto, tofu
  --runs N         runs per measurement (default 5 below 100,000 resources, 3 at 100,000)
  --sizes LIST     resource counts for the synthetic shapes
  --timeout SECS   kill a run after this long (default 900)
  --json FILE      also write every measurement as JSON
  --terrace PATH   the terrace binary to drive (default: the one next to terrace-bench)
  --history N,A    the history scenario (bytes stored by A applies each changing one resource of N;
                   S3 state on moto): default 10000,100 (--quick: 1000,20); run it alone with --only history
  --fleet E[,R]    the fleet scenario: drift --all of E environments of 10 aws_security_group on moto,
                   in one process and as --shard K/4 in 4 processes at once (default 200 with --only fleet),
                   the environments spread round-robin over R regions (default 1: all in us-east-1)

  TERRACE_BENCH_KEEP=1 keeps the generated projects (their paths are printed) for profiling.";

struct Options {
    quick: bool,
    moto: bool,
    only: Vec<String>,
    runs: Option<usize>,
    sizes: Vec<usize>,
    timeout: Duration,
    json: Option<PathBuf>,
    terrace: Option<PathBuf>,
    history: Option<(usize, usize)>,
    fleet: Option<(usize, usize)>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        quick: false,
        moto: false,
        only: vec![],
        runs: None,
        sizes: vec![],
        timeout: Duration::from_secs(900),
        json: None,
        terrace: None,
        history: None,
        fleet: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--quick" => o.quick = true,
            "--moto" => o.moto = true,
            "--only" => o.only.push(value("--only")?),
            "--runs" => {
                o.runs = Some(
                    value("--runs")?
                        .parse()
                        .map_err(|e| format!("--runs: {e}"))?,
                )
            }
            "--sizes" => {
                o.sizes = value("--sizes")?
                    .split(',')
                    .map(|s| s.trim().replace('_', "").parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("--sizes: {e}"))?
            }
            "--timeout" => {
                o.timeout = Duration::from_secs(
                    value("--timeout")?
                        .parse()
                        .map_err(|e| format!("--timeout: {e}"))?,
                )
            }
            "--json" => o.json = Some(PathBuf::from(value("--json")?)),
            "--fleet" => {
                let v = value("--fleet")?;
                let (e, r) = v.split_once(',').unwrap_or((&v, "1"));
                let parse = |x: &str| x.trim().replace('_', "").parse::<usize>();
                let envs = parse(e).map_err(|e| format!("--fleet ENVS: {e}"))?;
                let regions = parse(r).map_err(|e| format!("--fleet REGIONS: {e}"))?;
                if !(1..=fleet::REGIONS.len()).contains(&regions) {
                    return Err(format!(
                        "--fleet REGIONS must be 1 to {}",
                        fleet::REGIONS.len()
                    ));
                }
                o.fleet = Some((envs, regions));
            }
            "--terrace" => o.terrace = Some(PathBuf::from(value("--terrace")?)),
            "--history" => {
                let v = value("--history")?;
                let (n, a) = v
                    .split_once(',')
                    .ok_or("--history takes N,APPLIES, e.g. 10000,100")?;
                let parse = |x: &str| x.trim().replace('_', "").parse::<usize>();
                o.history = Some((
                    parse(n).map_err(|e| format!("--history N: {e}"))?,
                    parse(a).map_err(|e| format!("--history APPLIES: {e}"))?,
                ));
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.sizes.is_empty() {
        o.sizes = if o.quick {
            vec![1_000, 10_000]
        } else {
            vec![1_000, 10_000, 100_000]
        };
    }
    Ok(o)
}

/// One measured command (one or more runs).
pub(crate) struct Row {
    group: &'static str,
    scenario: String,
    n: usize,
    command: String,
    samples: Vec<Sample>,
    note: String,
}

impl Row {
    fn walls(&self) -> Vec<f64> {
        self.samples.iter().map(|s| s.wall.as_secs_f64()).collect()
    }
    fn median_wall(&self) -> f64 {
        median(&self.walls())
    }
    fn median_cpu(&self) -> f64 {
        median(&self.samples.iter().map(|s| s.cpu).collect::<Vec<_>>())
    }
    fn peak_rss_mib(&self) -> f64 {
        self.samples
            .iter()
            .map(|s| s.max_rss_kib)
            .max()
            .unwrap_or(0) as f64
            / 1024.0
    }
    fn ok(&self) -> bool {
        !self.samples.is_empty()
            && self
                .samples
                .iter()
                .all(|s| !s.timed_out && s.code.is_some())
    }
    fn markdown(&self) -> String {
        let w = self.walls();
        let (lo, hi) = (
            w.iter().copied().fold(f64::INFINITY, f64::min),
            w.iter().copied().fold(0.0, f64::max),
        );
        let status = if self.samples.iter().any(|s| s.timed_out) {
            " TIMEOUT".to_string()
        } else {
            String::new()
        };
        format!(
            "| {} | {} | `{}` | {} | {:.3}{} | {:.3}–{:.3} | {:.0} | {:.2} | {} |",
            self.scenario,
            fmt_n(self.n),
            self.command,
            self.samples.len(),
            self.median_wall(),
            status,
            lo,
            hi,
            self.peak_rss_mib(),
            self.median_cpu(),
            self.note
        )
    }
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "group": self.group,
            "scenario": self.scenario,
            "n": self.n,
            "command": self.command,
            "runs": self.samples.len(),
            "wall_s": self.walls(),
            "median_wall_s": self.median_wall(),
            "median_cpu_s": self.median_cpu(),
            "peak_rss_mib": self.peak_rss_mib(),
            "exit_codes": self.samples.iter().map(|s| s.code).collect::<Vec<_>>(),
            "note": self.note,
        })
    }
}

fn fmt_n(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

const HEADER: &str = "| scenario | N | command | runs | median wall s | min–max s | peak RSS MiB | median CPU s | note |\n|---|---:|---|---:|---:|---:|---:|---:|---|";

pub(crate) struct Bench {
    opts: Options,
    runner: Runner,
    rows: Vec<Row>,
}

impl Bench {
    fn wanted(&self, names: &[&str]) -> bool {
        self.opts.only.is_empty()
            || self
                .opts
                .only
                .iter()
                .any(|o| names.iter().any(|n| n.contains(o.as_str())))
    }

    fn runs_for(&self, n: usize) -> usize {
        self.opts
            .runs
            .unwrap_or(if self.opts.quick || n >= 100_000 {
                3
            } else {
                5
            })
    }

    /// Run `args` `runs` times, check the exit code, record a row.
    #[allow(clippy::too_many_arguments)]
    fn measure(
        &mut self,
        group: &'static str,
        scenario: &str,
        n: usize,
        project: &Project,
        args: &[&str],
        env: &[(String, String)],
        runs: usize,
        expect_code: i32,
        between: &mut dyn FnMut(),
    ) -> usize {
        let mut samples = Vec::new();
        let mut note = String::new();
        for i in 0..runs {
            if i > 0 {
                between();
            }
            let s = self.runner.run(project.path(), args, env, None);
            let bad = s.code != Some(expect_code);
            if bad {
                note = format!(
                    "exit {:?} (expected {expect_code}){}: {}",
                    s.code,
                    if s.timed_out { ", timed out" } else { "" },
                    last_lines(&s.stderr, 3)
                );
            }
            samples.push(s);
            if bad {
                break;
            }
        }
        let row = Row {
            group,
            scenario: scenario.to_string(),
            n,
            command: format!("terrace {}", args.join(" ")),
            samples,
            note,
        };
        println!("{}", row.markdown());
        self.rows.push(row);
        self.rows.len() - 1
    }

    #[allow(clippy::too_many_arguments)]
    fn one(
        &mut self,
        group: &'static str,
        scenario: &str,
        n: usize,
        project: &Project,
        args: &[&str],
        env: &[(String, String)],
        expect_code: i32,
    ) -> usize {
        self.measure(
            group,
            scenario,
            n,
            project,
            args,
            env,
            1,
            expect_code,
            &mut || {},
        )
    }
}

pub(crate) fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .join(" / ")
        .replace('|', "\\|")
}

fn terrace_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let p = exe.with_file_name("terrace");
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: build it first (cargo build --release -p terrace-cli, with the same CARGO_TARGET_DIR)",
            p.display()
        ))
    }
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("terrace-bench: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(if e.is_empty() { 0 } else { 1 });
        }
    };
    let terrace = match opts.terrace.clone().map(Ok).unwrap_or_else(terrace_binary) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("terrace-bench: {e}");
            std::process::exit(1);
        }
    };
    let runner = Runner::new(terrace.clone(), opts.timeout);
    let mut b = Bench {
        opts,
        runner,
        rows: vec![],
    };
    println!("# terrace-bench\n");
    println!(
        "{}\n",
        machine_summary(&terrace, b.runner.gnu_time.is_some())
    );
    println!("{HEADER}");

    if b.wanted(&[
        "synthetic",
        "independent",
        "count",
        "chain",
        "module-for-each",
        "aws-instance",
        "apply",
    ]) {
        synthetic(&mut b);
    }
    if b.opts.moto && b.wanted(&["moto"]) {
        moto(&mut b);
    }
    if b.wanted(&["tofu-1", "tofu-2", "tofu-3"]) {
        tofu(&mut b);
    }
    if b.opts.history.is_some() || (!b.opts.only.is_empty() && b.wanted(&["history"])) {
        let (n, applies) = b.opts.history.unwrap_or(if b.opts.quick {
            (1_000, 20)
        } else {
            (10_000, 100)
        });
        history::history(&mut b, n, applies);
    }
    if b.opts.fleet.is_some() || (!b.opts.only.is_empty() && b.wanted(&["fleet"])) {
        let (envs, regions) = b.opts.fleet.unwrap_or((200, 1));
        fleet::fleet(&mut b, envs, regions);
    }

    println!("\n## Issue 8 targets\n");
    println!("{}", targets(&b));

    if let Some(path) = &b.opts.json {
        let doc = serde_json::json!({
            "machine": machine_summary(&terrace, b.runner.gnu_time.is_some()),
            "rows": b.rows.iter().map(Row::json).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc).expect("json"))
            .unwrap_or_else(|e| eprintln!("terrace-bench: writing {}: {e}", path.display()));
    }
    if b.rows.iter().any(|r| !r.ok() || r.note.contains("exit ")) {
        eprintln!("terrace-bench: some runs failed or timed out (see the notes)");
        std::process::exit(1);
    }
}

fn machine_summary(terrace: &Path, gnu_time: bool) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_string();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .map_or(0.0, |k| k / 1024.0 / 1024.0);
    format!(
        "machine: {model}, {cpus} CPUs available, {mem_gib:.1} GiB RAM; binary: {}; CPU time and peak RSS {}",
        terrace.display(),
        if gnu_time {
            "from wait4 rusage (GNU time)"
        } else {
            "sampled from /proc"
        }
    )
}

/// Apply one `terraform_data` and pull the state: the record shape to synthesise from.
pub(crate) fn state_template(b: &Bench, project: &Project) -> serde_json::Value {
    project.write_env(
        "template",
        "main.tf",
        "resource \"terraform_data\" \"t\" {\n  input = \"x\"\n}\n",
    );
    let s = b.runner.run(
        project.path(),
        &["apply", "-e", "template", "--auto-approve"],
        &[],
        None,
    );
    assert_eq!(s.code, Some(0), "template apply failed: {}", s.stderr);
    let out = project.path().join("template-state.json");
    let s = b.runner.run(
        project.path(),
        &["state", "pull", "-e", "template"],
        &[],
        Some(&out),
    );
    assert_eq!(s.code, Some(0), "state pull failed: {}", s.stderr);
    serde_json::from_str(&std::fs::read_to_string(&out).expect("pulled state")).expect("state JSON")
}

fn synthetic(b: &mut Bench) {
    let project = Project::new();
    let template = state_template(b, &project);
    let sizes = b.opts.sizes.clone();
    let shapes = [
        Shape::Independent,
        Shape::Count,
        Shape::Chain,
        Shape::ModuleForEach,
        Shape::AwsInstances,
    ];
    for &n in &sizes {
        for shape in shapes {
            if !b.wanted(&["synthetic", shape.name()]) {
                continue;
            }
            let runs = b.runs_for(n);
            let env = shape.write(&project, n);
            let scen = shape.name();
            let validate = b.measure(
                "synthetic",
                scen,
                n,
                &project,
                &["validate", "-e", &env],
                &[],
                runs,
                0,
                &mut || {},
            );
            if !b.rows[validate].ok() {
                continue;
            }
            if shape == Shape::AwsInstances {
                // No network may be attempted on a refresh-less plan from empty
                // state: the endpoint is a listener of ours that must see no connection.
                let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
                listener.set_nonblocking(true).expect("nonblocking");
                let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
                let env_vars: Vec<(String, String)> = terrace_testkit::aws_env_for(&endpoint);
                let ix = b.measure(
                    "synthetic",
                    scen,
                    n,
                    &project,
                    &["plan", "--refresh=false", "--detailed-exitcode", "-e", &env],
                    &env_vars,
                    runs,
                    2,
                    &mut || {},
                );
                let connected = listener.accept().is_ok();
                let row = &mut b.rows[ix];
                row.note.push_str(if connected {
                    " NETWORK: a connection reached the AWS endpoint"
                } else {
                    "no connection reached AWS_ENDPOINT_URL"
                });
                continue;
            }
            b.measure(
                "synthetic",
                scen,
                n,
                &project,
                &["plan", "--refresh=false", "--detailed-exitcode", "-e", &env],
                &[],
                runs,
                2,
                &mut || {},
            );
            // A state holding every resource, then a no-op plan.
            let instances = shape.instances(n).expect("terraform_data shape");
            let state = synth_state(&template, &instances);
            let file = project.path().join(format!("{env}.state.json"));
            std::fs::write(&file, serde_json::to_vec(&state).expect("state")).expect("write state");
            let file_s = file.to_string_lossy().to_string();
            let push = b.one(
                "synthetic",
                scen,
                n,
                &project,
                &["state", "push", "-e", &env, &file_s],
                &[],
                0,
            );
            let _ = std::fs::remove_file(&file);
            if !b.rows[push].ok() || b.rows[push].samples[0].code != Some(0) {
                continue;
            }
            b.measure(
                "synthetic",
                scen,
                n,
                &project,
                &["plan", "--refresh=false", "--detailed-exitcode", "-e", &env],
                &[],
                runs,
                0,
                &mut || {},
            );
            // Refresh of terraform_data reads nothing remote: the cost of the
            // refresh machinery itself.
            if shape == Shape::Independent {
                b.measure(
                    "synthetic",
                    scen,
                    n,
                    &project,
                    &["plan", "--detailed-exitcode", "-e", &env],
                    &[],
                    runs.min(3),
                    0,
                    &mut || {},
                );
            }
        }
        // Apply (create all) of the independent shape, once.
        if b.wanted(&["synthetic", "apply"]) {
            let env = Shape::Independent.write(&project, n);
            let apply_env = format!("apply-{env}");
            std::fs::rename(
                project.path().join("environments").join(&env),
                project.path().join("environments").join(&apply_env),
            )
            .expect("rename env");
            b.one(
                "synthetic",
                "independent",
                n,
                &project,
                &["apply", "--auto-approve", "-e", &apply_env],
                &[],
                0,
            );
        }
    }
}

fn moto(b: &mut Bench) {
    let Some(moto) = terrace_testkit::start_moto() else {
        eprintln!("terrace-bench: moto is not available; skipping the moto scenarios");
        return;
    };
    let aws = moto.aws_env();
    let project = Project::new();
    let (instances, groups) = (1_000, 100);
    let mut tf = String::from("provider \"aws\" {\n  region = \"us-east-1\"\n}\n\n");
    let _ = writeln!(
        tf,
        "resource \"aws_instance\" \"i\" {{\n  count         = {instances}\n  ami           = \"{AMI}\"\n  instance_type = \"t3.micro\"\n  tags = {{\n    Name = \"bench-${{count.index}}\"\n  }}\n}}\n"
    );
    let _ = writeln!(
        tf,
        "resource \"aws_security_group\" \"g\" {{\n  count       = {groups}\n  name        = \"bench-${{count.index}}\"\n  description = \"terrace bench\"\n}}"
    );
    project.write_env("fleet", "main.tf", &tf);
    let n = instances + groups;
    let scen = "moto: 1,000 aws_instance + 100 aws_security_group";
    let apply = b.one(
        "moto",
        scen,
        n,
        &project,
        &["apply", "--auto-approve", "--stats", "-e", "fleet"],
        &aws,
        0,
    );
    annotate_calls(b, apply, true);
    if !b.rows[apply].ok() || b.rows[apply].samples[0].code != Some(0) {
        return;
    }
    let runs = b.opts.runs.unwrap_or(3);
    let plan = b.measure(
        "moto",
        scen,
        n,
        &project,
        &["plan", "--stats", "--detailed-exitcode", "-e", "fleet"],
        &aws,
        runs,
        0,
        &mut || {},
    );
    annotate_calls(b, plan, false);
    let drift = b.measure(
        "moto",
        scen,
        n,
        &project,
        &["drift", "--stats", "-e", "fleet"],
        &aws,
        runs,
        0,
        &mut || {},
    );
    annotate_calls(b, drift, false);
    drop(moto);
}

/// Put the API-call counts (and for apply the CPU fraction) into the row's note.
fn annotate_calls(b: &mut Bench, ix: usize, cpu_fraction: bool) {
    let row = &mut b.rows[ix];
    let Some(s) = row.samples.last() else { return };
    let mut note = String::new();
    if let Some((total, ops)) = s.api_calls() {
        let describe: u64 = ops
            .iter()
            .filter(|(k, _)| k.contains("DescribeInstances"))
            .map(|(_, v)| v)
            .sum();
        let _ = write!(note, "API calls {total} (DescribeInstances {describe}); ");
        let top: Vec<String> = {
            let mut v: Vec<_> = ops.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1));
            v.iter().take(6).map(|(k, n)| format!("{k} {n}")).collect()
        };
        let _ = write!(note, "{}; ", top.join(", "));
    }
    if cpu_fraction {
        let _ = write!(
            note,
            "terrace CPU {:.1}% of wall",
            100.0 * s.cpu / s.wall.as_secs_f64()
        );
    }
    row.note = format!("{note}{}", row.note);
    println!("  (re-printed with calls) {}", row.markdown());
}

fn tofu(b: &mut Bench) {
    let project = Project::new();
    let runs = b.opts.runs.unwrap_or(3);

    // (1) Large graph, simple dependencies.
    if b.wanted(&["tofu-1"]) {
        project.write_env(
            "tofu1",
            "main.tf",
            "resource \"terraform_data\" \"a\" {\n  count = 1000\n  input = count.index\n}\n\nresource \"terraform_data\" \"b\" {\n  count = 1000\n  input = terraform_data.a[count.index].output\n}\n",
        );
        b.measure(
            "tofu",
            "tofu-1 large graph: 2×1,000 count, b[i] → a[i]",
            2_000,
            &project,
            &["plan", "--detailed-exitcode", "-e", "tofu1"],
            &[],
            runs,
            2,
            &mut || {},
        );
    }

    // (2) Wide graph with submodules.
    if b.wanted(&["tofu-2"]) {
        project.write_module("empty", "# intentionally empty\n");
        let mut wide = String::new();
        for j in 0..1000 {
            let _ = writeln!(wide, "module \"s{j}\" {{\n  source = \"../empty\"\n}}");
        }
        project.write_module("wide", &wide);
        let mut root = String::new();
        for i in 0..10 {
            let _ = writeln!(
                root,
                "module \"m{i}\" {{\n  source = \"../../modules/wide\"\n}}"
            );
        }
        // A resource so the plan is not empty.
        root.push_str("resource \"terraform_data\" \"marker\" {\n  input = \"x\"\n}\n");
        project.write_env("tofu2", "main.tf", &root);
        let planfile = project.path().join("tofu2.tfplan");
        let planfile_s = planfile.to_string_lossy().to_string();
        let scen = "tofu-2 wide graph: 10 × module of 1,000 empty submodules";
        b.measure(
            "tofu",
            scen,
            10_000,
            &project,
            &[
                "plan",
                "--detailed-exitcode",
                "-e",
                "tofu2",
                "--out",
                &planfile_s,
            ],
            &[],
            runs,
            2,
            &mut || {},
        );
        if planfile.exists() {
            b.measure(
                "tofu",
                scen,
                10_000,
                &project,
                &["show", "--json", &planfile_s],
                &[],
                runs,
                0,
                &mut || {},
            );
        }
    }

    // (3) Large state: 1,000 × ~700 KB sensitive strings.
    if b.wanted(&["tofu-3"]) {
        let count = if b.opts.quick { 100 } else { 1000 };
        let env_dir = project.write_env(
            "tofu3",
            "main.tf",
            &format!(
                "resource \"terraform_data\" \"big\" {{\n  count = {count}\n  input = sensitive(file(\"${{path.module}}/blob.b64\"))\n}}\n"
            ),
        );
        std::fs::write(env_dir.with_file_name("blob.b64"), base64_blob(700 * 1024)).expect("blob");
        let scen = "tofu-3 large state: N × 700 KiB sensitive input";
        b.one(
            "tofu",
            scen,
            count,
            &project,
            &[
                "plan",
                "--refresh=false",
                "--detailed-exitcode",
                "-e",
                "tofu3",
            ],
            &[],
            2,
        );
        b.one(
            "tofu",
            scen,
            count,
            &project,
            &[
                "apply",
                "--auto-approve",
                "--parallelism",
                "100",
                "-e",
                "tofu3",
            ],
            &[],
            0,
        );
    }
}

/// Issue 8's targets, met or not, with the measured numbers.
fn targets(b: &Bench) -> String {
    let mut out = String::from("| target | measured | verdict |\n|---|---|---|\n");
    let mut line = |t: &str, m: String, ok: Option<bool>| {
        let v = match ok {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "not measured",
        };
        let _ = writeln!(out, "| {t} | {m} | {v} |");
    };
    let noop = |shape: &str, n: usize| {
        b.rows.iter().find(|r| {
            r.scenario == shape
                && r.n == n
                && r.command.contains("plan --refresh=false")
                && r.samples.first().is_some_and(|s| s.code == Some(0))
        })
    };
    for shape in ["independent", "count", "chain", "module-for-each"] {
        match noop(shape, 10_000) {
            Some(r) => line(
                &format!("no-op plan of 10k ({shape}) ≤ 1 s and ≤ 300 MB"),
                format!("{:.3} s, {:.0} MiB", r.median_wall(), r.peak_rss_mib()),
                Some(r.median_wall() <= 1.0 && r.peak_rss_mib() * 1.048_576 <= 300.0),
            ),
            None => line(&format!("no-op plan of 10k ({shape})"), "-".into(), None),
        }
        let (a, c) = (noop(shape, 10_000), noop(shape, 100_000));
        match c {
            Some(r) => line(
                &format!("no-op plan of 100k ({shape}) ≤ 10 s"),
                format!("{:.3} s, {:.0} MiB", r.median_wall(), r.peak_rss_mib()),
                Some(r.median_wall() <= 10.0),
            ),
            None => line(
                &format!("no-op plan of 100k ({shape}) ≤ 10 s"),
                "-".into(),
                None,
            ),
        }
        match (a, c) {
            (Some(a), Some(c)) => {
                let ratio = c.median_wall() / a.median_wall();
                line(
                    &format!("100k / 10k time ratio ({shape}) ≤ 11"),
                    format!("{ratio:.1}"),
                    Some(ratio <= 11.0),
                )
            }
            _ => line(
                &format!("100k / 10k time ratio ({shape}) ≤ 11"),
                "-".into(),
                None,
            ),
        }
    }
    let moto_row = |cmd: &str| {
        b.rows
            .iter()
            .find(|r| r.group == "moto" && r.command.contains(cmd))
    };
    let describe = |r: &Row| {
        r.samples
            .last()
            .and_then(Sample::api_calls)
            .map(|(t, ops)| {
                let d: u64 = ops
                    .iter()
                    .filter(|(k, _)| k.contains("DescribeInstances"))
                    .map(|(_, v)| v)
                    .sum();
                (t, d)
            })
    };
    match moto_row("plan --stats").and_then(describe) {
        Some((total, d)) => line(
            "refresh of 1,000 instances ≤ 5 API calls",
            format!(
                "{d} DescribeInstances; {total} calls for the whole refresh of 1,000 instances + 100 security groups"
            ),
            Some(d <= 5),
        ),
        None => line("refresh of 1,000 instances ≤ 5 API calls", "-".into(), None),
    }
    match moto_row("drift --stats").and_then(describe) {
        Some((total, d)) => line(
            "drift of 1,000 instances + 100 other resources ≤ 20 API calls",
            format!("{total} calls ({d} DescribeInstances)"),
            Some(total <= 20),
        ),
        None => line(
            "drift of 1,000 instances + 100 other ≤ 20 API calls",
            "-".into(),
            None,
        ),
    }
    match moto_row("apply --auto-approve --stats") {
        Some(r) if r.ok() => {
            let s = &r.samples[0];
            let f = s.cpu / s.wall.as_secs_f64();
            line(
                "apply of 1,000 resources ≤ 10% terrace CPU",
                format!(
                    "{:.1}% ({:.2} s CPU / {:.2} s wall, 1,100 resources)",
                    100.0 * f,
                    s.cpu,
                    s.wall.as_secs_f64()
                ),
                Some(f <= 0.10),
            )
        }
        _ => line(
            "apply of 1,000 resources ≤ 10% terrace CPU",
            "-".into(),
            None,
        ),
    }
    out
}
