//! The `fleet` scenario (issue 20 §4): `drift --all` over many small
//! environments against moto, in one process and split over 4 processes
//! running at once (`--shard K/4`), each environment holding 10
//! `aws_security_group`s. Reports wall time (the slowest shard for the
//! split run) and AWS API calls (summed over the shards).
//!
//! The environments can be spread over several regions (`--fleet E,R`).
//! moto keeps one backend per region, and a `DescribeSecurityGroups` with a
//! tag filter (drift's search for unmanaged groups) costs it time in
//! proportion to the region's groups *times its tags*: it looks each
//! group's tags up by scanning the region's whole tag list. 200
//! environments in one region measure that scan, not terrace; spread over
//! regions, each call sees a small region, as calls do on AWS, where the
//! lookup is indexed.

use std::fmt::Write as _;
use std::time::Instant;

use crate::generate::Project;
use crate::measure::Sample;
use crate::{Bench, Row};

fn calls(s: &Sample) -> u64 {
    s.api_calls().map_or(0, |(total, _)| total)
}

/// The regions environments are spread over (all emulated by moto).
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-south-1",
    "ca-central-1",
    "sa-east-1",
];

pub fn fleet(b: &mut Bench, envs: usize, regions: usize) {
    let Some(moto) = terrace_testkit::start_moto() else {
        eprintln!("terrace-bench: fleet needs moto (TERRACE_MOTO_SERVER); skipped");
        return;
    };
    let aws = moto.aws_env();
    let project = Project::new();
    let names: Vec<String> = (0..envs).map(|i| format!("fleet-{i:03}")).collect();
    let setup = Instant::now();
    for (i, name) in names.iter().enumerate() {
        let region = REGIONS[i % regions];
        let mut tf = format!("provider \"aws\" {{\n  region = \"{region}\"\n}}\n\n");
        let _ = writeln!(
            tf,
            "resource \"aws_security_group\" \"g\" {{\n  count       = 10\n  name        = \"${{terrace.environment}}-${{count.index}}\"\n  description = \"terrace bench fleet\"\n}}"
        );
        project.write_env(name, "main.tf", &tf);
        // moto under load now and then answers a create with an empty
        // body; the next apply finds what was made (intent journal) and goes on.
        let mut s = b.runner.run(
            project.path(),
            &["apply", "--auto-approve", "-e", name],
            &aws,
            None,
        );
        for _ in 0..2 {
            if s.code == Some(0) {
                break;
            }
            s = b.runner.run(
                project.path(),
                &["apply", "--auto-approve", "-e", name],
                &aws,
                None,
            );
        }
        if s.code != Some(0) {
            eprintln!("terrace-bench: fleet apply of {name} failed: {}", s.stderr);
            return;
        }
    }
    eprintln!(
        "terrace-bench: fleet of {envs} environments applied in {:.0} s",
        setup.elapsed().as_secs_f64()
    );
    let scen = format!(
        "fleet: drift --all, {envs} envs × 10 aws_security_group, {regions} region{}",
        if regions == 1 { "" } else { "s" }
    );
    let one = b
        .runner
        .run(project.path(), &["drift", "--all", "--stats"], &aws, None);
    // Drift exits 0 when every environment is in sync, as all are here; a
    // note with "exit " marks the run failed (see `main`).
    let status = |s: &Sample| match s.code {
        Some(0) => "in sync".to_string(),
        other => format!("exit {other:?}"),
    };
    let note = format!("1 process: API calls {}; {}", calls(&one), status(&one));
    let row = Row {
        group: "fleet",
        scenario: scen.clone(),
        n: envs * 10,
        command: "terrace drift --all --stats".into(),
        samples: vec![one],
        note,
    };
    println!("{}", row.markdown());
    b.rows.push(row);

    let started = Instant::now();
    let shards: Vec<Sample> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=4)
            .map(|k| {
                let (runner, dir, aws) = (&b.runner, project.path(), &aws);
                scope.spawn(move || {
                    let shard = format!("{k}/4");
                    runner.run(
                        dir,
                        &["drift", "--all", "--shard", &shard, "--stats"],
                        aws,
                        None,
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("shard thread"))
            .collect()
    });
    let wall = started.elapsed().as_secs_f64();
    let total: u64 = shards.iter().map(calls).sum();
    let per: Vec<String> = shards
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{}/4: {:.1} s, {} calls",
                i + 1,
                s.wall.as_secs_f64(),
                calls(s)
            )
        })
        .collect();
    let codes: Vec<String> = shards.iter().map(status).collect();
    let row = Row {
        group: "fleet",
        scenario: scen,
        n: envs * 10,
        command: "terrace drift --all --shard K/4 --stats (K = 1..4 at once)".into(),
        samples: shards,
        note: format!(
            "4 processes at once: {wall:.1} s until the last ended; API calls {total} in all ({}); {}",
            per.join("; "),
            codes.join(", ")
        ),
    };
    println!("{}", row.markdown());
    b.rows.push(row);
}
