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
    /// Run the demo: a simulated acquisition through the shipped int8 model.
    Demo(cmd::demo::Demo),
    /// Simulate MERFISH tiles (8 rounds x 2 colours) with ground truth.
    Simulate(cmd::simulate::Cmd),
    /// Draw a tile's 16 images with the ground-truth emitters as a PNG.
    Render(cmd::render::Cmd),
    /// Make an untrained int8 model (random weights) for engine checks and benchmarks.
    Init(cmd::init::Init),
    /// Print a model's architecture, parameter count, MACs, arena size and checksum status.
    Inspect(cmd::inspect::Inspect),
    /// Time the int8 engine on one tile (median and minimum of N runs).
    Bench(cmd::bench::Bench),
    /// Upload a model to a device (verified, stored atomically).
    Flash(cmd::flash::Flash),
    /// Stream fields of view through a device and report spots, latency and accuracy.
    Stream(cmd::stream::Stream),
    /// Train anglerFISH in fp32 through libtorch (needs `--features torch`).
    Train(cmd::train::Cmd),
    /// Quantise an fp32 checkpoint to an int8 model (static or dynamic).
    Quantise(cmd::quantise::Quantise),
    /// Export a checkpoint as fp32 ONNX (opset 17), checked with tract.
    Export(cmd::export::Cmd),
    /// Latency, size and accuracy tables of fp32 checkpoints and int8 models on a split.
    Eval(cmd::eval::Cmd),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Demo(cmd) => cmd.run(),
        Command::Simulate(cmd) => cmd.run(),
        Command::Render(cmd) => cmd.run(),
        Command::Init(cmd) => cmd.run(),
        Command::Inspect(cmd) => cmd.run(),
        Command::Bench(cmd) => cmd.run(),
        Command::Flash(cmd) => cmd.run(),
        Command::Stream(cmd) => cmd.run(),
        Command::Train(cmd) => cmd.run(),
        Command::Quantise(cmd) => cmd.run(),
        Command::Export(cmd) => cmd.run(),
        Command::Eval(cmd) => cmd.run(),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
