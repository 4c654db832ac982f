//! `terrace`: the command-line interface. It parses flags (clap), turns them
//! into settings, calls the engine, and renders results: human text, JSON,
//! reports, progress. It owns terminals, colours and output formats; it never
//! touches AWS SDK types directly.

mod args;
mod commands;
mod offline;
mod output;
mod progress;
mod render;
mod reports;
mod settings;
mod shard;
mod tfargs;

use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

/// Exit codes: 0 success / no changes, 1 error, 2 changes or drift (with the
/// flags that ask for it).
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;

/// mimalloc instead of glibc's malloc: a plan allocates millions of small
/// objects from several tokio threads, and glibc's per-thread arenas kept
/// freed memory that no later allocation could use (measured in
/// BENCHMARKS.md, round 3).
///
/// `--features system-allocator` keeps glibc's malloc, for heaptrack.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // `terrace state pull | head`: a closed stdout is not an error. println!
    // panics on it; exit quietly instead of printing a panic.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
    // Terraform's habits: `-var-file=x`, `-auto-approve`, TF_CLI_ARGS.
    let argv = match tfargs::prepare(
        &<args::Cli as clap::CommandFactory>::command(),
        std::env::args().collect(),
        &tfargs::EnvArgs::from_process(),
    ) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    // `terrace -version` / `--version`, as `terraform -version`: the same
    // as the `version` command.
    let argv = match argv.get(1).map(String::as_str) {
        Some("--version" | "-V") => {
            let mut a = argv;
            a[1] = "version".into();
            a
        }
        _ => argv,
    };
    if let Err(e) = settings::tf_log() {
        eprintln!("Error: {e:#}");
        return ExitCode::from(EXIT_ERROR);
    }
    let cli = match parse_cli(argv) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    if cli.no_color {
        output::disable_color();
    }
    commands::init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let result = runtime.block_on(commands::run(cli));
    // Do not wait for background tasks (lock heartbeats end with their locks).
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            commands::print_error(&e);
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Parse the command line. Help and version go to stdout with exit 0; every
/// usage error (unknown command or flag, bad value) exits 1 — clap's default
/// of 2 would read as "changes" or "drift" to a CI job.
fn parse_cli(argv: Vec<String>) -> Result<args::Cli, ExitCode> {
    let usage = |e: clap::Error| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(EXIT_ERROR)
        } else {
            ExitCode::SUCCESS
        }
    };
    let matches = args::Cli::command()
        .try_get_matches_from(argv)
        .map_err(usage)?;
    let mut cli = args::Cli::from_arg_matches(&matches).map_err(usage)?;
    if let (args::Command::Drift(d), Some(("drift", m))) = (&mut cli.command, matches.subcommand())
    {
        // Which --output belongs to which --format is a matter of order on
        // the command line; clap keeps it in the argument indices.
        d.format_indices = m
            .indices_of("formats")
            .map(Iterator::collect)
            .unwrap_or_default();
        d.output_indices = m
            .indices_of("outputs")
            .map(Iterator::collect)
            .unwrap_or_default();
    }
    Ok(cli)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
