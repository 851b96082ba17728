//! `robofish`: the host command line.
use clap::{Parser, Subcommand};

mod cmd;

/// robofish: quantised MERFISH emitter localisation and barcode decoding.
#[derive(Parser, Debug)]
#[command(name = "robofish", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: boxing the bigger commands would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Print a model's architecture, parameter count, MACs, arena size and checksum status.
    Inspect(cmd::inspect::Inspect),
    Simulate(cmd::simulate::Cmd),
    Render(cmd::render::Cmd),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Inspect(cmd) => cmd.run(),
        Command::Simulate(cmd) => cmd.run(),
        Command::Render(cmd) => cmd.run(),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
