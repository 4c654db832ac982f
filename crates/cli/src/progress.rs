//! Apply progress on stderr: on a terminal, a live bar (indicatif) with one
//! spinner per resource in flight and its elapsed time; without one (CI),
//! plain lines stamped with RFC 3339 times, including "Still creating…
//! [1m10s elapsed]" every 10 seconds for long operations. The bar appears
//! when the apply starts (after the prompt), with the plan's change count as
//! its total; completed resources print `[id=…]` as Terraform does.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use terrace_engine::Action;
use terrace_engine::apply::ApplyObserver;

fn ing(a: Action) -> &'static str {
    match a {
        Action::Create => "Creating",
        Action::Update => "Modifying",
        Action::Delete => "Destroying",
        Action::DeleteThenCreate | Action::CreateThenDelete => "Replacing",
        Action::Read => "Reading",
        Action::NoOp => "Checking",
        Action::Forget => "Forgetting",
    }
}

fn done(a: Action) -> &'static str {
    match a {
        Action::Create => "Creation complete",
        Action::Update => "Modifications complete",
        Action::Delete => "Destruction complete",
        Action::DeleteThenCreate | Action::CreateThenDelete => "Replacement complete",
        Action::Read => "Read complete",
        Action::NoOp => "Done",
        Action::Forget => "Removed from state",
    }
}

fn still(a: Action) -> &'static str {
    match a {
        Action::Create => "Still creating...",
        Action::Update => "Still modifying...",
        Action::Delete => "Still destroying...",
        Action::DeleteThenCreate | Action::CreateThenDelete => "Still replacing...",
        Action::Read => "Still reading...",
        Action::NoOp | Action::Forget => "Still working...",
    }
}

pub fn fmt_elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// The one timestamp format terrace prints: RFC 3339, UTC, whole seconds.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn timestamp() -> String {
    rfc3339(chrono::Utc::now())
}

/// The line printed when a resource finishes.
fn finished_line(
    address: &str,
    action: Action,
    result: Result<(), &str>,
    id: Option<&str>,
    elapsed: Duration,
) -> String {
    match result {
        Ok(()) => {
            let id = match (action, id) {
                (Action::Delete, _) | (_, None) => String::new(),
                (_, Some(id)) => format!(" [id={id}]"),
            };
            format!(
                "{address}: {} after {}{id}",
                done(action),
                fmt_elapsed(elapsed)
            )
        }
        Err(e) => format!(
            "{address}: {} failed after {}: {e}",
            ing(action),
            fmt_elapsed(elapsed)
        ),
    }
}

/// Reports apply progress.
pub struct Progress {
    inner: Arc<Mutex<Inner>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

struct Inner {
    /// Draw bars (stderr is a terminal)?
    fancy: bool,
    /// The bars, from `begin` on.
    bars: Option<(MultiProgress, ProgressBar)>,
    running: HashMap<String, (Action, Instant, Option<ProgressBar>, u64)>,
}

impl Progress {
    /// `fancy` = draw bars (stderr is a terminal). Nothing is drawn until
    /// `begin`.
    pub fn new(fancy: bool) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            fancy,
            bars: None,
            running: HashMap::new(),
        }));
        let ticker = if fancy {
            None
        } else {
            let inner = inner.clone();
            Some(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    let mut g = inner.lock().expect("progress");
                    for (addr, (action, started, _, last)) in g.running.iter_mut() {
                        let secs = started.elapsed().as_secs();
                        if secs >= 10 && secs / 10 > *last {
                            *last = secs / 10;
                            eprintln!(
                                "{} {addr}: {} [{} elapsed]",
                                timestamp(),
                                still(*action),
                                fmt_elapsed(started.elapsed())
                            );
                        }
                    }
                }
            }))
        };
        Progress { inner, ticker }
    }

    /// The apply starts now with `total` operations: the bar's total, and
    /// its clock starts here (not while a prompt waited for an answer).
    pub fn begin(&self, total: usize) {
        let mut g = self.inner.lock().expect("progress");
        if !g.fancy || g.bars.is_some() {
            return;
        }
        let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let main = mp.add(ProgressBar::new(total as u64));
        main.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} resources {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        g.bars = Some((mp, main));
    }

    /// The bar's position and total (tests).
    #[cfg(test)]
    fn counts(&self) -> Option<(u64, Option<u64>)> {
        let g = self.inner.lock().expect("progress");
        g.bars.as_ref().map(|(_, m)| (m.position(), m.length()))
    }

    pub fn finish(&self) {
        let g = self.inner.lock().expect("progress");
        if let Some((_, main)) = &g.bars {
            main.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
    }
}

impl ApplyObserver for Progress {
    fn started(&self, address: &str, action: Action) {
        let mut g = self.inner.lock().expect("progress");
        let bar = g.bars.as_ref().map(|(mp, _)| {
            let b = mp.add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("  {spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_message(format!("{address}: {}...", ing(action)));
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        if bar.is_none() {
            eprintln!("{} {address}: {}...", timestamp(), ing(action));
        }
        g.running
            .insert(address.to_string(), (action, Instant::now(), bar, 0));
    }

    fn finished(&self, address: &str, action: Action, result: Result<(), &str>, elapsed: Duration) {
        self.end(
            address,
            finished_line(address, action, result, None, elapsed),
        );
    }

    fn completed(&self, address: &str, action: Action, id: Option<&str>, elapsed: Duration) {
        self.end(address, finished_line(address, action, Ok(()), id, elapsed));
    }

    fn note(&self, message: &str) {
        let g = self.inner.lock().expect("progress");
        match &g.bars {
            Some((mp, _)) => {
                let _ = mp.println(message);
            }
            None => eprintln!("{} {message}", timestamp()),
        }
    }
}

impl Progress {
    fn end(&self, address: &str, line: String) {
        let mut g = self.inner.lock().expect("progress");
        let entry = g.running.remove(address);
        match &g.bars {
            Some((mp, main)) => {
                if let Some((_, _, Some(b), _)) = entry {
                    b.finish_and_clear();
                    mp.remove(&b);
                }
                main.inc(1);
                let _ = mp.println(line);
            }
            None => eprintln!("{} {line}", timestamp()),
        }
    }
}

/// A long wait before any resource operation (refresh and planning, drift
/// detection) that shows it is alive: after a second, a spinner on a
/// terminal, or without one a line, then "Still …" every 10 seconds. A hung
/// endpoint is visible at once, not after the call's timeout.
pub struct Activity {
    task: tokio::task::JoinHandle<()>,
    bar: Arc<Mutex<Option<ProgressBar>>>,
}

impl Activity {
    pub fn start(what: &str, fancy: bool) -> Activity {
        Activity::start_after(what, fancy, Duration::from_secs(1))
    }

    fn start_after(what: &str, fancy: bool, first: Duration) -> Activity {
        let bar: Arc<Mutex<Option<ProgressBar>>> = Arc::new(Mutex::new(None));
        let what = what.to_string();
        let task = {
            let bar = bar.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                tokio::time::sleep(first).await;
                if fancy {
                    let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                    b.set_style(
                        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b.set_message(format!("{what}..."));
                    b.enable_steady_tick(Duration::from_millis(120));
                    *bar.lock().expect("activity") = Some(b);
                    return;
                }
                eprintln!(
                    "{} {what}... [{} elapsed]",
                    timestamp(),
                    fmt_elapsed(started.elapsed())
                );
                loop {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    eprintln!(
                        "{} Still {}... [{} elapsed]",
                        timestamp(),
                        lower_first(&what),
                        fmt_elapsed(started.elapsed())
                    );
                }
            })
        };
        Activity { task, bar }
    }

    /// Stop showing the wait (idempotent).
    pub fn stop(&self) {
        self.task.abort();
        if let Some(b) = self.bar.lock().expect("activity").take() {
            b.finish_and_clear();
        }
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_lines_carry_the_id_as_terraform_prints_it() {
        let d = Duration::from_secs(3);
        assert_eq!(
            finished_line("aws_vpc.main", Action::Create, Ok(()), Some("vpc-1"), d),
            "aws_vpc.main: Creation complete after 3s [id=vpc-1]"
        );
        assert_eq!(
            finished_line("aws_vpc.main", Action::Delete, Ok(()), Some("vpc-1"), d),
            "aws_vpc.main: Destruction complete after 3s"
        );
        assert_eq!(
            finished_line("aws_vpc.main", Action::Create, Err("boom"), None, d),
            "aws_vpc.main: Creating failed after 3s: boom"
        );
    }

    #[tokio::test]
    async fn the_bar_total_is_set_when_the_apply_begins() {
        let p = Progress::new(true);
        assert_eq!(p.counts(), None, "no bar before the apply begins");
        p.begin(26);
        p.started("a.b", Action::Create);
        p.completed("a.b", Action::Create, Some("x"), Duration::ZERO);
        assert_eq!(p.counts(), Some((1, Some(26))));
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-05T21:26:12.5+00:00")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(rfc3339(t), "2026-12-05T21:26:12Z");
    }
}
