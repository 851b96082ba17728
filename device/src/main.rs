//! `robofish-device`: the on-microscope runtime.
use std::io::BufWriter;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use robofish_device::listener::{serve_tcp, Timeouts};
use robofish_device::{serve, Device, DeviceConfig, SerialPort};
use robofish_shared::kernels::KernelPath;

/// Streams fields of view from a host through the int8 anglerFISH model and
/// answers with spots, decoded genes, timing and (given truth) accuracy.
#[derive(Parser, Debug)]
#[command(name = "robofish-device", version, about)]
struct Args {
    /// Talk over standard input/output (how `robofish stream --device exec:...` runs it).
    #[arg(long, conflicts_with_all = ["listen", "serial"])]
    stdio: bool,
    /// Listen for TCP connections on ADDR (e.g. 127.0.0.1:7878): serves one
    /// host at a time, tells others it is busy, and stays up after each
    /// session (stop it with a signal). There is no authentication: anyone
    /// who can connect can flash a model, so listen on a lab network only
    /// behind a firewall or an SSH tunnel.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Drop a TCP host that sends nothing for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = Timeouts::default().idle.as_secs_f64(), value_parser = parse_seconds)]
    idle_timeout: f64,
    /// Drop a TCP host that reads none of the replies for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = Timeouts::default().io.as_secs_f64(), value_parser = parse_seconds)]
    io_timeout: f64,
    /// Talk over a serial port, PATH[@BAUD] (default 115200 baud).
    #[arg(long, value_name = "PATH[@BAUD]")]
    serial: Option<SerialPort>,
    /// Model file to start with.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Where a flashed model is stored (atomically); loaded at start if present and no --model is given.
    #[arg(long)]
    model_store: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Rows gathered before they are pushed through the network.
    #[arg(long, default_value_t = 16)]
    batch_rows: usize,
}

/// A timeout in seconds: positive and finite.
fn parse_seconds(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(s),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("robofish-device: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let mut config = DeviceConfig {
        batch_rows: args.batch_rows.max(1),
        model_store: args.model_store.clone(),
        kernels: KernelPath::from_env().context("ROBOFISH_KERNELS")?,
        ..DeviceConfig::default()
    };
    if let Some(t) = args.threads {
        config.threads = t.max(1);
    }
    let mut device = Device::new(config);
    let initial = args
        .model
        .clone()
        .or_else(|| args.model_store.clone().filter(|p| p.exists()));
    if let Some(path) = initial {
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read model {}", path.display()))?;
        device
            .load_model(&bytes)
            .with_context(|| format!("cannot load model {}", path.display()))?;
    }
    if args.stdio {
        let stdin = std::io::stdin();
        let stdout = std::io::stdout();
        let mut reader = stdin.lock();
        let mut writer = BufWriter::new(stdout.lock());
        serve(&mut device, &mut reader, &mut writer)?;
        return Ok(());
    }
    if let Some(addr) = args.listen {
        let listener =
            TcpListener::bind(&addr).with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        eprintln!("robofish-device: listening on {local}");
        if !local.ip().is_loopback() {
            eprintln!(
                "robofish-device: WARNING: listening on {local} without authentication: \
                 anyone who can reach this port can flash a model. Listen on 127.0.0.1 and \
                 reach it through an SSH tunnel, or firewall the port to the host."
            );
        }
        let timeouts = Timeouts {
            idle: Duration::from_secs_f64(args.idle_timeout),
            io: Duration::from_secs_f64(args.io_timeout),
        };
        serve_tcp(device, &listener, timeouts)?;
        return Ok(());
    }
    if let Some(port) = args.serial {
        let opened = port.open()?;
        if let Some(warning) = opened.unconfigured {
            eprintln!("robofish-device: warning: {warning}");
        }
        let mut reader = opened.file.try_clone()?;
        let mut writer = opened.file;
        serve(&mut device, &mut reader, &mut writer)?;
        return Ok(());
    }
    bail!("choose a transport: --stdio, --listen ADDR or --serial PATH[@BAUD] (see --help)")
}
