//! One module per subcommand, each a `Cmd` with `run(self)`; this module
//! only names them and dispatches. What several commands share lives in
//! the library (`robofish_host::args`, `calibration`, `streaming`), so no
//! command imports another.

pub mod bench;
pub mod demo;
pub mod eval;
pub mod export;
pub mod flash;
pub mod fleet;
pub mod init;
pub mod inspect;
pub mod merge;
pub mod quantise;
pub mod render;
pub mod run;
pub mod simulate;
pub mod stop;
pub mod stream;
pub mod train;

use clap::Subcommand;

/// The subcommands.
// Parsed once per run: boxing the bigger commands would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the demo: a simulated acquisition through the shipped int8 model.
    Demo(demo::Cmd),
    /// Simulate MERFISH tiles (8 rounds x 2 colours) with ground truth.
    Simulate(simulate::Cmd),
    /// Draw a tile's 16 images with the ground-truth emitters as a PNG.
    Render(render::Cmd),
    /// Make an untrained int8 model (random weights) for engine checks and benchmarks.
    Init(init::Cmd),
    /// Print a model's architecture, parameter count, MACs, arena size and checksum status.
    Inspect(inspect::Cmd),
    /// Time the int8 engine on one tile (median and minimum of N runs).
    Bench(bench::Cmd),
    /// Upload a model to a device (verified, stored atomically).
    Flash(flash::Cmd),
    /// Stream fields of view through a device and report spots, latency and accuracy.
    Stream(stream::Cmd),
    /// Stop a device process (needs the device's token).
    Stop(stop::Cmd),
    /// Run this machine as a device: the robofish-device server (same
    /// flags), e.g. a workstation next to the microscope serving other hosts.
    Device(robofish_device::cli::DeviceArgs),
    /// Decode every FOV of an experiment into transcript tables (CSV, Parquet) and QC.
    ///
    /// Resumes (FOVs already written with the same model and codebook are
    /// skipped); a FOV that fails is reported, skipped and listed in
    /// qc.json, and the exit status is non-zero only when every selected
    /// FOV failed. See README "Run on an experiment" for the columns and
    /// the coordinate convention.
    Run(run::Cmd),
    /// Combine the per-FOV parts of `run` jobs into one set of tables.
    Merge(merge::Cmd),
    /// Decode an experiment on a fleet of boards through an MQTT broker, into `run`'s tables.
    ///
    /// Boards join with `robofish-device --fleet URL --model FILE
    /// --board-id ID` (or `robofish device --fleet ...`); the host leases
    /// each idle board one FOV at a time, takes a lease back when its board
    /// dies or stalls (--lease-timeout) and keeps every FOV exactly once
    /// (by FOV id and model hash). The parts and tables are `run`'s, so a
    /// rerun resumes and `robofish merge` combines. Live per-board
    /// throughput, latency and accuracy show on stdout. See
    /// docs/scaling-out.md for the topics, QoS, security and limits.
    Fleet(fleet::Cmd),
    /// Train anglerFISH in fp32 through libtorch (needs `--features torch`).
    Train(train::Cmd),
    /// Quantise an fp32 checkpoint to an int8 model (static, dynamic or QAT).
    Quantise(quantise::Cmd),
    /// Export a checkpoint as fp32 ONNX (opset 17), checked with tract.
    Export(export::Cmd),
    /// Latency, size and accuracy tables of fp32 checkpoints and int8 models on a split.
    Eval(eval::Cmd),
}

impl Command {
    /// Runs the chosen command.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Demo(cmd) => cmd.run(),
            Command::Simulate(cmd) => cmd.run(),
            Command::Render(cmd) => cmd.run(),
            Command::Init(cmd) => cmd.run(),
            Command::Inspect(cmd) => cmd.run(),
            Command::Bench(cmd) => cmd.run(),
            Command::Flash(cmd) => cmd.run(),
            Command::Stream(cmd) => cmd.run(),
            Command::Stop(cmd) => cmd.run(),
            Command::Device(args) => robofish_device::cli::run(args),
            Command::Run(cmd) => cmd.run(),
            Command::Merge(cmd) => cmd.run(),
            Command::Fleet(cmd) => cmd.run(),
            Command::Train(cmd) => cmd.run(),
            Command::Quantise(cmd) => cmd.run(),
            Command::Export(cmd) => cmd.run(),
            Command::Eval(cmd) => cmd.run(),
        }
    }
}
