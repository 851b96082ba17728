//! The device's command line, shared by the `robofish-device` binary and
//! `robofish device` (the same server run from the host's binary, for a
//! workstation that acts as a device and for the host's tests).
use std::io::BufWriter;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::{AuthConfig, Token};
use crate::fleet::broker::{BrokerAuthArgs, BrokerUrl};
use crate::fleet::{run_board, BoardOptions};
use crate::listener::{serve_tcp, Timeouts};
use crate::upload::remove_stale_upload;
use crate::{serve, Device, DeviceConfig, SerialPort};
use anyhow::{bail, Context, Result};
use clap::Args;
use robofish_shared::kernels::KernelPath;

/// How the device runs: its transport, model, authentication and limits.
#[derive(Args, Debug)]
pub struct DeviceArgs {
    /// Talk over standard input/output (how `robofish stream --device exec:...` runs it).
    #[arg(long, conflicts_with_all = ["listen", "serial", "fleet"])]
    stdio: bool,
    /// Join a fleet: connect to the MQTT broker at URL (mqtt://HOST[:PORT]),
    /// announce this board, and decode the FOVs that `robofish fleet
    /// --broker URL` leases it, one at a time, until stopped. Streaming
    /// only: the model comes from --model or --model-store, never over
    /// the broker. See docs/scaling-out.md.
    #[arg(long, value_name = "URL", conflicts_with_all = ["listen", "serial", "token_file"])]
    fleet: Option<BrokerUrl>,
    /// With --fleet: this board's id, its MQTT topic level (1-32 letters,
    /// digits, '-', '_', '.'); default the machine's host name. Two boards
    /// must not share one.
    #[arg(long, value_name = "ID", requires = "fleet")]
    board_id: Option<String>,
    #[command(flatten)]
    broker_auth: BrokerAuthArgs,
    /// With --fleet: seconds between heartbeats (the host measures a
    /// lease's progress by them).
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0, value_parser = parse_seconds, requires = "fleet")]
    heartbeat: f64,
    /// With --fleet: give a job up when its next chunk does not come within
    /// SECONDS (the host died or the broker lost it).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = parse_seconds, requires = "fleet")]
    job_timeout: f64,
    /// Listen for TCP connections on ADDR (e.g. 127.0.0.1:7878): serves one
    /// host at a time, tells others it is busy, and stays up after each
    /// session (stop it with a signal, or `robofish stop` with the token).
    /// Without --token-file anyone who can connect can flash a model: on a
    /// lab network give a token (see the README's "Security").
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Require hosts to prove they hold the secret in FILE (at least 16
    /// bytes; e.g. `openssl rand -hex 32 > FILE; chmod 600 FILE`) before
    /// they flash, stop or (unless --allow-anonymous-streaming) stream.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// With --token-file: let hosts without the token stream FOVs, send
    /// codebooks and read reports; flashing and stopping stay protected.
    #[arg(long, requires = "token_file")]
    allow_anonymous_streaming: bool,
    /// Refuse a FOV whose plan needs more than this much memory (row rings,
    /// pending rows, truth), before allocating it: BYTES, or with a suffix
    /// K, M or G (powers of 1024), e.g. 512M.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    max_memory: Option<u64>,
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

/// A byte count with an optional K/M/G (1024-based) suffix.
fn parse_bytes(text: &str) -> std::result::Result<u64, String> {
    let trimmed = text.trim();
    let (digits, scale) = match trimmed.char_indices().last() {
        Some((i, 'k' | 'K')) => (&trimmed[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&trimmed[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&trimmed[..i], 1 << 30),
        _ => (trimmed, 1),
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{text}` is not a size such as 1048576, 512M or 2G"))
}

/// A timeout in seconds: positive and finite.
fn parse_seconds(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(s),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

/// Runs the device until its host leaves (stdio, serial), or until it is
/// stopped (TCP).
pub fn run(args: DeviceArgs) -> Result<()> {
    let token = match args.fleet {
        // A fleet board streams for whoever the broker lets publish jobs,
        // and never flashes or stops over it: a token nobody holds.
        Some(_) => Some(unknowable_token()?),
        None => Token::from_flag(args.token_file.as_deref(), "robofish-device")?,
    };
    let anonymous_streaming = args.allow_anonymous_streaming || args.fleet.is_some();
    let mut config = DeviceConfig {
        batch_rows: args.batch_rows.max(1),
        model_store: args.model_store.clone(),
        kernels: KernelPath::from_env().context("ROBOFISH_KERNELS")?,
        auth: AuthConfig {
            token,
            anonymous_streaming,
        },
        max_memory: args.max_memory,
        ..DeviceConfig::default()
    };
    if let Some(t) = args.threads {
        config.threads = t.max(1);
    }
    let mut device = Device::new(config);
    if let Some(store) = &args.model_store {
        if remove_stale_upload(store) {
            eprintln!(
                "robofish-device: removed a half-finished upload beside {} (the device stopped \
                 mid-flash; the stored model is untouched)",
                store.display()
            );
        }
    }
    if let Some(path) = &args.model {
        // A model named on the command line must load: the user is there.
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read model {}", path.display()))?;
        device
            .load_model(&bytes)
            .with_context(|| format!("cannot load model {}", path.display()))?;
    } else if let Some(store) = args.model_store.as_ref().filter(|p| p.exists()) {
        // A stored model that fails (a disk fault, a model from another
        // version) must not keep the device down: it starts without one,
        // tells every host why, and takes a new flash.
        let loaded = std::fs::read(store)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| device.load_model(&bytes).map_err(anyhow::Error::from));
        if let Err(e) = loaded {
            let fault = format!("stored model {} failed: {e:#}", store.display());
            eprintln!(
                "robofish-device: warning: {fault}; serving without a model until one is flashed"
            );
            device.set_model_fault(fault);
        }
    }
    if let Some(url) = args.fleet {
        let board = match args.board_id {
            Some(id) => id,
            None => host_name_id(),
        };
        return run_board(
            device,
            BoardOptions {
                url,
                board,
                credentials: args.broker_auth.credentials("robofish-device")?,
                heartbeat: Duration::from_secs_f64(args.heartbeat),
                job_timeout: Duration::from_secs_f64(args.job_timeout),
            },
        );
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
        if !local.ip().is_loopback() && args.token_file.is_none() {
            eprintln!(
                "robofish-device: WARNING: listening on {local} without authentication: \
                 anyone who can reach this port can flash a model or stream to it. Give \
                 --token-file FILE, or listen on 127.0.0.1 and reach it through an SSH tunnel."
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
    bail!(
        "choose a transport: --stdio, --listen ADDR, --serial PATH[@BAUD] or --fleet URL \
         (see --help)"
    )
}

/// A random token that no host holds: a fleet board's, so that nothing
/// that arrives over the broker can flash or stop it.
fn unknowable_token() -> Result<Token> {
    let secret = crate::auth::fresh_challenge()?;
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Token::from_contents(hex.as_bytes())?)
}

/// The machine's host name as a board id (characters a topic level may
/// not hold become `-`), `board` when there is none.
fn host_name_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let id: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(robofish_shared::fleet::MAX_BOARD_ID_BYTES)
        .collect();
    if id.is_empty() {
        "board".into()
    } else {
        id
    }
}
