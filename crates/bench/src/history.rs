//! The `history` scenario (issue 20 §3): bytes stored by applies that each
//! change one resource of a large environment, with state in S3 on moto (the
//! store whose bytes are plainly countable: the sum of its objects' sizes).
//! Run once with the binary under test and once with an older one
//! (`--terrace PATH`) for the before/after comparison; bytes do not depend
//! on the build profile, so a debug binary measures them as well.
//!
//! The objects are listed with plain unsigned HTTP requests to moto (which
//! does not check signatures), so the bench needs no S3 client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use crate::generate::{Project, synth_state};
use crate::measure::Sample;
use crate::{Bench, Row};

/// One unsigned HTTP/1.1 request to moto; the response body.
fn request(port: u16, method: &str, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    if !head.starts_with("HTTP/1.1 2") {
        return Err(head.lines().next().unwrap_or("").to_string());
    }
    // moto may answer chunked; sizes are read from the XML either way.
    Ok(body.to_string())
}

/// (object count, total bytes) under `prefix` of `bucket`.
fn stored(port: u16, bucket: &str, prefix: &str) -> Result<(usize, u64), String> {
    let (mut count, mut bytes) = (0, 0u64);
    let mut token: Option<String> = None;
    loop {
        let mut path = format!("/{bucket}?list-type=2&prefix={prefix}");
        if let Some(t) = &token {
            path.push_str("&continuation-token=");
            path.push_str(
                &t.replace('+', "%2B")
                    .replace('/', "%2F")
                    .replace('=', "%3D"),
            );
        }
        let xml = request(port, "GET", &path)?;
        for part in xml.split("<Size>").skip(1) {
            let n: u64 = part
                .split('<')
                .next()
                .and_then(|s| s.trim().parse().ok())
                .ok_or("bad <Size> in the listing")?;
            count += 1;
            bytes += n;
        }
        token = xml
            .split("<NextContinuationToken>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .map(str::to_string);
        if token.is_none() || !xml.contains("<IsTruncated>true") {
            break;
        }
    }
    Ok((count, bytes))
}

/// `applies` applies, each changing one more resource of an `n`-resource
/// environment; one row with every apply as a sample and the bytes in the note.
pub fn history(b: &mut Bench, n: usize, applies: usize) {
    let Some(moto) = terrace_testkit::shared_moto() else {
        eprintln!("terrace-bench: history needs moto (TERRACE_MOTO_SERVER); skipped");
        return;
    };
    let project = Project::new();
    let template = crate::state_template(b, &project);
    let bucket = format!("bench-history-{}", uuid::Uuid::new_v4().simple());
    if let Err(e) = request(moto.port, "PUT", &format!("/{bucket}")) {
        eprintln!("terrace-bench: cannot create the bucket: {e}");
        return;
    }
    let env = format!("history-{n}");
    project.write_env(
        &env,
        "main.tf",
        &format!(
            "variable \"upto\" {{\n  type    = number\n  default = 0\n}}\n\n\
             resource \"terraform_data\" \"r\" {{\n  count = {n}\n  input = count.index < var.upto ? \"changed\" : \"v${{count.index}}\"\n}}\n"
        ),
    );
    let instances: Vec<(String, String, Vec<String>)> = (0..n)
        .map(|i| (format!("terraform_data.r[{i}]"), format!("v{i}"), vec![]))
        .collect();
    let state = synth_state(&template, &instances);
    let file = project.path().join("history.state.json");
    std::fs::write(&file, serde_json::to_vec(&state).expect("state")).expect("write state");
    let mut vars = moto.aws_env();
    vars.push(("TERRACE_STATE".into(), format!("s3://{bucket}/h")));
    let push = b.runner.run(
        project.path(),
        &["state", "push", "-e", &env, &file.to_string_lossy()],
        &vars,
        None,
    );
    if push.code != Some(0) {
        eprintln!("terrace-bench: state push failed: {}", push.stderr);
        return;
    }
    let prefix = format!("h/{env}/");
    let before = stored(moto.port, &bucket, &prefix).unwrap_or_default();
    let (_, full) = stored(moto.port, &bucket, &format!("{prefix}state.json")).unwrap_or_default();
    let mut samples: Vec<Sample> = Vec::new();
    let mut note = String::new();
    let started = Instant::now();
    for k in 1..=applies {
        let upto = format!("upto={k}");
        let s = b.runner.run(
            project.path(),
            &[
                "apply",
                "-e",
                &env,
                "--auto-approve",
                "--refresh=false",
                "--var",
                &upto,
            ],
            &vars,
            None,
        );
        let bad = s.code != Some(0);
        if bad {
            note = format!(
                "apply {k} exit {:?}: {}",
                s.code,
                crate::last_lines(&s.stderr, 3)
            );
        }
        samples.push(s);
        if bad {
            break;
        }
    }
    let after = stored(moto.port, &bucket, &prefix).unwrap_or_default();
    let grown = after.1.saturating_sub(before.1);
    let copies = applies as u64 * full;
    if note.is_empty() {
        note = format!(
            "one full copy {full} B; {applies} applies stored {grown} B ({} B per apply) = {:.3} % of {applies} full copies ({copies} B); objects {} → {}; total {:.0} s",
            grown / applies.max(1) as u64,
            100.0 * grown as f64 / copies.max(1) as f64,
            before.0,
            after.0,
            started.elapsed().as_secs_f64()
        );
    }
    let row = Row {
        group: "history",
        scenario: "history".into(),
        n,
        command: format!(
            "terrace apply -e {env} --auto-approve --refresh=false --var upto=K (K = 1..{applies}; S3 state on moto)"
        ),
        samples,
        note,
    };
    println!("{}", row.markdown());
    b.rows.push(row);
}
