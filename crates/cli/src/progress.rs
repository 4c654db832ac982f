//! Apply progress on stderr: on a terminal, a live bar (indicatif) with one
//! spinner per resource in flight and its elapsed time; without one (CI),
//! plain timestamped lines, including "Still creating… [1m10s elapsed]"
//! every 10 seconds for long operations.

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
    }
}

fn still(a: Action) -> &'static str {
    match a {
        Action::Create => "Still creating...",
        Action::Update => "Still modifying...",
        Action::Delete => "Still destroying...",
        Action::DeleteThenCreate | Action::CreateThenDelete => "Still replacing...",
        Action::Read => "Still reading...",
        Action::NoOp => "Still working...",
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

fn timestamp() -> String {
    chrono::Utc::now().format("%H:%M:%S").to_string()
}

/// Reports apply progress.
pub struct Progress {
    inner: Arc<Mutex<Inner>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

struct Inner {
    bars: Option<(MultiProgress, ProgressBar)>,
    running: HashMap<String, (Action, Instant, Option<ProgressBar>, u64)>,
}

impl Progress {
    /// `total` operations; `fancy` = draw bars (stderr is a terminal).
    pub fn new(total: usize, fancy: bool) -> Self {
        let bars = fancy.then(|| {
            let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let main = mp.add(ProgressBar::new(total as u64));
            main.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} resources {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            (mp, main)
        });
        let inner = Arc::new(Mutex::new(Inner {
            bars,
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
        let mut g = self.inner.lock().expect("progress");
        let entry = g.running.remove(address);
        let line = match result {
            Ok(()) => format!("{address}: {} after {}", done(action), fmt_elapsed(elapsed)),
            Err(e) => format!(
                "{address}: {} failed after {}: {e}",
                ing(action),
                fmt_elapsed(elapsed)
            ),
        };
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
