//! Running the `terrace` binary once and measuring it: wall time, the child's
//! own CPU time (user + sys) and its peak resident set size.
//!
//! CPU time and peak RSS come from the kernel's `wait4` rusage of the child,
//! read through GNU time (`/usr/bin/time -f`), so the benchmark needs no
//! unsafe code. Without GNU time the peak RSS is sampled from
//! `/proc/<pid>/status` (VmHWM) every few milliseconds and CPU time from
//! `/proc/<pid>/stat`, which can miss the last moments of a run.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One run of the binary.
#[derive(Debug, Clone)]
pub struct Sample {
    pub wall: Duration,
    /// User + system CPU seconds of the child.
    pub cpu: f64,
    /// Peak resident set size in KiB.
    pub max_rss_kib: u64,
    /// Exit code; `None` when killed (timeout or signal).
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stderr: String,
}

impl Sample {
    /// API call counts printed by `--stats` on stderr (`API calls: N` and
    /// one `  Operation  N` line per operation).
    pub fn api_calls(&self) -> Option<(u64, BTreeMap<String, u64>)> {
        let mut lines = self.stderr.lines();
        let total = loop {
            let l = lines.next()?;
            if let Some(rest) = l.trim().strip_prefix("API calls:") {
                break rest.trim().parse().ok()?;
            }
        };
        let mut ops = BTreeMap::new();
        for l in lines {
            if !l.starts_with("  ") {
                break;
            }
            let mut parts = l.split_whitespace();
            if let (Some(op), Some(n)) = (parts.next(), parts.next())
                && let Ok(n) = n.parse()
            {
                ops.insert(op.to_string(), n);
            }
        }
        Some((total, ops))
    }
}

/// How to run the binary.
pub struct Runner {
    pub terrace: PathBuf,
    pub gnu_time: Option<PathBuf>,
    pub timeout: Duration,
}

impl Runner {
    pub fn new(terrace: PathBuf, timeout: Duration) -> Runner {
        let gnu_time = Some(PathBuf::from("/usr/bin/time")).filter(|p| {
            Command::new(p)
                .args(["-f", "%M", "true"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        Runner {
            terrace,
            gnu_time,
            timeout,
        }
    }

    /// Run `terrace ARGS` in `dir` with `env`; stdout is discarded (written
    /// to `stdout_to` when given).
    pub fn run(
        &self,
        dir: &Path,
        args: &[&str],
        env: &[(String, String)],
        stdout_to: Option<&Path>,
    ) -> Sample {
        let scratch = tempfile::tempdir().expect("scratch dir");
        let rusage_file = scratch.path().join("rusage");
        let stderr_file = scratch.path().join("stderr");
        let mut cmd = match &self.gnu_time {
            Some(time) => {
                let mut c = Command::new(time);
                c.arg("-f")
                    .arg("%U %S %M")
                    .arg("-o")
                    .arg(&rusage_file)
                    .arg(&self.terrace);
                c
            }
            None => Command::new(&self.terrace),
        };
        cmd.args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&stderr_file).expect("stderr file"))
            .process_group(0)
            .env_remove("TERRACE_STATE")
            .env_remove("TERRACE_STATE_KEY")
            .env_remove("AWS_PROFILE")
            .env("NO_COLOR", "1");
        match stdout_to {
            Some(p) => cmd.stdout(std::fs::File::create(p).expect("stdout file")),
            None => cmd.stdout(Stdio::null()),
        };
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn terrace");
        let pid = child.id();

        // A watchdog kills the whole process group on timeout; without GNU
        // time it also samples VmHWM and CPU time.
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let sample_proc = self.gnu_time.is_none();
        let timeout = self.timeout;
        let watchdog = std::thread::spawn(move || {
            let deadline = Instant::now() + timeout;
            let mut hwm = 0u64;
            let mut cpu = 0f64;
            let tick = if sample_proc {
                Duration::from_millis(5)
            } else {
                Duration::from_millis(200)
            };
            loop {
                if sample_proc {
                    if let Some(k) = proc_hwm_kib(pid) {
                        hwm = hwm.max(k);
                    }
                    if let Some(c) = proc_cpu_secs(pid) {
                        cpu = c;
                    }
                }
                match done_rx.recv_timeout(tick) {
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return (false, hwm, cpu),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                if Instant::now() >= deadline {
                    let _ = Command::new("kill")
                        .args(["-s", "KILL", "--", &format!("-{pid}")])
                        .status();
                    return (true, hwm, cpu);
                }
            }
        });
        let status = child.wait().expect("wait for terrace");
        let wall = started.elapsed();
        let _ = done_tx.send(());
        let (timed_out, hwm, proc_cpu) = watchdog.join().expect("watchdog");

        let mut stderr = String::new();
        let _ = std::fs::File::open(&stderr_file).and_then(|mut f| f.read_to_string(&mut stderr));
        let (cpu, max_rss_kib, code) = if self.gnu_time.is_some() {
            let text = std::fs::read_to_string(&rusage_file).unwrap_or_default();
            // A killed child makes GNU time write "Command terminated by
            // signal N" first and exit non-zero itself.
            let killed = text.contains("terminated by signal");
            let last = text.lines().last().unwrap_or("");
            let f: Vec<&str> = last.split_whitespace().collect();
            let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
            let code = if killed || timed_out {
                None
            } else {
                status.code()
            };
            (num(0) + num(1), num(2) as u64, code)
        } else {
            (proc_cpu, hwm, status.code())
        };
        Sample {
            wall,
            cpu,
            max_rss_kib,
            code,
            timed_out,
            stderr,
        }
    }
}

fn proc_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn proc_cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, in clock ticks (100 per second on Linux).
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The median of `xs` (the mean of the middle two for an even count).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn parses_stats() {
        let s = Sample {
            wall: Duration::ZERO,
            cpu: 0.0,
            max_rss_kib: 0,
            code: Some(0),
            timed_out: false,
            stderr: "noise\nAPI calls: 7\n  DescribeInstances                        2\n  DescribeSecurityGroups 5\nPlan: x\n".into(),
        };
        let (total, ops) = s.api_calls().expect("stats");
        assert_eq!(total, 7);
        assert_eq!(ops["DescribeInstances"], 2);
        assert_eq!(ops["DescribeSecurityGroups"], 5);
        assert_eq!(ops.len(), 2);
    }
}
