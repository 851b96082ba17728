//! Connecting to a device by SPEC: `exec:COMMAND`, `tcp:HOST:PORT`,
//! `serial:PATH[@BAUD]` or `local`.

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use robofish_device::client::Client;
use robofish_device::{Device, DeviceConfig};

/// The thread serving a `local` device.
type LocalServer = std::thread::JoinHandle<robofish_device::Result<robofish_device::ServeOutcome>>;

/// A connected device and whatever keeps it alive.
pub struct Link {
    /// The protocol client.
    pub client: Client<Box<dyn Read + Send>, Box<dyn Write + Send>>,
    child: Option<Child>,
    local: Option<LocalServer>,
    /// What the user asked for, for messages.
    pub spec: String,
}

impl Link {
    /// Connects to the device named by `spec`; `local` runs one in-process
    /// with `local_config`.
    pub fn connect(spec: &str, local_config: DeviceConfig) -> Result<Link> {
        if spec == "local" {
            let (client, handle) = robofish_device::client::spawn_local(Device::new(local_config))?;
            let (reader, writer) = client.into_parts();
            return Ok(Link {
                client: Client::new(Box::new(reader), Box::new(writer)),
                child: None,
                local: Some(handle),
                spec: spec.into(),
            });
        }
        if let Some(command) = spec.strip_prefix("exec:") {
            let mut child = Command::new("sh")
                .arg("-c")
                .arg(command)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .with_context(|| format!("cannot start device command '{command}'"))?;
            let stdin = child.stdin.take().context("device stdin")?;
            let stdout = child.stdout.take().context("device stdout")?;
            return Ok(Link {
                client: Client::new(
                    Box::new(BufReader::new(stdout)),
                    Box::new(BufWriter::new(stdin)),
                ),
                child: Some(child),
                local: None,
                spec: spec.into(),
            });
        }
        if let Some(addr) = spec.strip_prefix("tcp:") {
            let stream = TcpStream::connect(addr)
                .with_context(|| format!("cannot connect to device at {addr}"))?;
            stream.set_nodelay(true).ok();
            let reader = BufReader::new(stream.try_clone()?);
            return Ok(Link {
                client: Client::new(Box::new(reader), Box::new(BufWriter::new(stream))),
                child: None,
                local: None,
                spec: spec.into(),
            });
        }
        if let Some(port) = spec.strip_prefix("serial:") {
            let (path, baud) = match port.split_once('@') {
                Some((p, b)) => (
                    p,
                    b.parse::<u32>()
                        .with_context(|| format!("bad baud rate '{b}'"))?,
                ),
                None => (port, 115_200),
            };
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .with_context(|| format!("cannot open serial port {path}"))?;
            let _ = Command::new("stty")
                .args(["-F", path, &baud.to_string(), "raw", "-echo"])
                .status();
            let reader = file.try_clone()?;
            return Ok(Link {
                client: Client::new(Box::new(reader), Box::new(BufWriter::new(file))),
                child: None,
                local: None,
                spec: spec.into(),
            });
        }
        bail!("device '{spec}' is not a SPEC: use exec:COMMAND, tcp:HOST:PORT, serial:PATH[@BAUD] or local")
    }

    /// Ends the session and waits for a spawned device to exit.
    pub fn close(mut self) -> Result<()> {
        self.client
            .shutdown()
            .with_context(|| format!("closing {}", self.spec))?;
        drop(self.client);
        if let Some(mut child) = self.child.take() {
            let status = child.wait()?;
            if !status.success() {
                bail!("device command exited with {status}");
            }
        }
        if let Some(handle) = self.local.take() {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("local device panicked"))??;
        }
        Ok(())
    }
}
