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
mod tfargs;

use clap::Parser;
use std::process::ExitCode;

/// Exit codes: 0 success / no changes, 1 error, 2 changes or drift (with the
/// flags that ask for it).
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;

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
    if let Err(e) = settings::tf_log() {
        eprintln!("Error: {e:#}");
        return ExitCode::from(EXIT_ERROR);
    }
    let cli = args::Cli::parse_from(argv);
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

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
