//! `robofish`: the host command line.
use std::io;
use std::process::ExitCode;

use clap::Parser;

mod cmd;

/// robofish: quantised MERFISH emitter localisation and barcode decoding.
#[derive(Parser, Debug)]
#[command(name = "robofish", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: cmd::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Every command that runs the engine (a local device among them) takes
    // its kernel path from ROBOFISH_KERNELS: refuse an unusable one once,
    // here, rather than quietly running another path.
    if let Err(e) = robofish_shared::kernels::KernelPath::from_env() {
        eprintln!("error: ROBOFISH_KERNELS: {e}");
        return ExitCode::FAILURE;
    }
    match cli.command.run() {
        Ok(()) => ExitCode::SUCCESS,
        // `robofish inspect ... | head` closing the pipe early is not a
        // failure (ripgrep does the same): the reader has what it wanted.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether any error in `err`'s chain is a write to a closed pipe.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
