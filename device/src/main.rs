//! `robofish-device`: the on-microscope runtime.
use clap::Parser;
use robofish_device::cli::{run, DeviceArgs};

/// Streams fields of view from a host through the int8 anglerFISH model and
/// answers with spots, decoded genes, timing and (given truth) accuracy.
#[derive(Parser, Debug)]
#[command(name = "robofish-device", version, about)]
struct Cli {
    #[command(flatten)]
    args: DeviceArgs,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse().args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("robofish-device: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
