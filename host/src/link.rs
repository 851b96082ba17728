//! Connecting to a device by SPEC: `exec:COMMAND`, `tcp:HOST:PORT`,
//! `serial:PATH[@BAUD]` or `local` (parsed by
//! [`robofish_device::transport`], which the device binary shares).

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use robofish_device::client::Client;
use robofish_device::{Device, DeviceConfig, Transport};

/// The protocol client over whichever transport.
type AnyClient = Client<Box<dyn Read + Send>, Box<dyn Write + Send>>;

/// The thread serving a `local` device.
type LocalServer = std::thread::JoinHandle<robofish_device::Result<robofish_device::ServeOutcome>>;

/// A connected device and whatever keeps it alive.
pub struct Link {
    /// The protocol client.
    pub client: AnyClient,
    child: Option<Child>,
    local: Option<LocalServer>,
    /// What the user asked for, for messages.
    pub spec: String,
}

impl Link {
    /// Connects to the device named by `spec`; `local` runs one in-process
    /// with `local_config`.
    pub fn connect(spec: &str, local_config: DeviceConfig) -> Result<Link> {
        let link = |client: AnyClient, child, local| Link {
            client,
            child,
            local,
            spec: spec.into(),
        };
        match spec.parse::<Transport>()? {
            Transport::Local => {
                let (client, handle) =
                    robofish_device::client::spawn_local(Device::new(local_config))?;
                let (reader, writer) = client.into_parts();
                Ok(link(
                    Client::new(Box::new(reader), Box::new(writer)),
                    None,
                    Some(handle),
                ))
            }
            Transport::Exec(command) => {
                let mut child = Command::new("sh")
                    .arg("-c")
                    .arg(&command)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .with_context(|| format!("cannot start device command '{command}'"))?;
                let stdin = child.stdin.take().context("device stdin")?;
                let stdout = child.stdout.take().context("device stdout")?;
                Ok(link(
                    Client::new(
                        Box::new(BufReader::new(stdout)),
                        Box::new(BufWriter::new(stdin)),
                    ),
                    Some(child),
                    None,
                ))
            }
            Transport::Tcp(addr) => {
                let stream = TcpStream::connect(&addr)
                    .with_context(|| format!("cannot connect to device at {addr}"))?;
                stream.set_nodelay(true).ok();
                let reader = BufReader::new(stream.try_clone()?);
                Ok(link(
                    Client::new(Box::new(reader), Box::new(BufWriter::new(stream))),
                    None,
                    None,
                ))
            }
            Transport::Serial(port) => {
                let opened = port.open()?;
                if let Some(warning) = opened.unconfigured {
                    eprintln!("warning: {warning}");
                }
                let reader = opened.file.try_clone()?;
                Ok(link(
                    Client::new(Box::new(reader), Box::new(BufWriter::new(opened.file))),
                    None,
                    None,
                ))
            }
            Transport::Stdio => bail!(
                "stdio is the device's end of exec:; connect with exec:COMMAND, \
                 tcp:HOST:PORT, serial:PATH[@BAUD] or local"
            ),
        }
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
