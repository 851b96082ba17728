//! Connecting to a device by SPEC: `exec:COMMAND`, `tcp:HOST:PORT`,
//! `serial:PATH[@BAUD]` or `local` (parsed by
//! [`robofish_device::transport`], which the device binary shares), and
//! opening a session on it: the handshake, authentication when the device
//! asks for it, and timeouts on every transport that can stall.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use robofish_device::auth::Token;
use robofish_device::client::Client;
use robofish_device::{Device, DeviceConfig, Transport};
use robofish_shared::protocol::HelloAck;

/// The protocol client over whichever transport.
type AnyClient = Client<Box<dyn Read + Send>, Box<dyn Write + Send>>;

/// The thread serving a `local` device.
type LocalServer = std::thread::JoinHandle<robofish_device::Result<robofish_device::ServeOutcome>>;

/// How to open a session: the device's token, if it wants one, and how
/// long to wait for it.
#[derive(Clone, Debug, Default)]
pub struct LinkOptions {
    /// Proves to a device started with `--token-file` that this host may
    /// flash, stop and (if the device requires it) stream.
    pub token: Option<Token>,
    /// Longest wait to connect and for any read or write (`None`: wait
    /// for ever). Pipes (`exec:`) and serial ports time out on reads only.
    pub timeout: Option<Duration>,
}

/// The command-line flags every command that talks to a device shares.
#[derive(clap::Args, Debug, Clone)]
pub struct LinkArgs {
    /// The device's token, in FILE (the same file as the device's
    /// --token-file): needed to flash or stop a device started with one,
    /// and to stream to it unless it allows anonymous streaming.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Give up when the device takes longer than SECONDS to accept the
    /// connection or to send anything at all (results of a large FOV on a
    /// slow board come only after its last rows): 0 waits for ever.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0, value_parser = parse_timeout)]
    pub timeout: f64,
}

impl Default for LinkArgs {
    fn default() -> Self {
        LinkArgs {
            token_file: None,
            timeout: 300.0,
        }
    }
}

/// A timeout in seconds: 0 (none) or positive and finite.
fn parse_timeout(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..1e9).contains(&s) => Ok(s),
        _ => Err(format!(
            "`{text}` is not a number of seconds (0 waits for ever)"
        )),
    }
}

impl LinkArgs {
    /// The options these flags ask for (reads the token file).
    pub fn options(&self) -> Result<LinkOptions> {
        let token = Token::from_flag(self.token_file.as_deref(), "robofish")?;
        Ok(LinkOptions {
            token,
            timeout: (self.timeout > 0.0).then(|| Duration::from_secs_f64(self.timeout)),
        })
    }
}

/// A connected device with an open session, and whatever keeps it alive.
pub struct Link {
    /// The protocol client.
    pub client: AnyClient,
    /// What the device said about itself.
    pub ack: HelloAck,
    child: Option<Spawned>,
    local: Option<LocalServer>,
    /// What the user asked for, for messages.
    pub spec: String,
}

impl Link {
    /// Connects to the device named by `spec` (`local` runs one in-process
    /// with `local_config`), says hello and authenticates when the device
    /// asks for it and `options` hold a token.
    pub fn open(spec: &str, local_config: DeviceConfig, options: &LinkOptions) -> Result<Link> {
        // On an error below, dropping the client closes a spawned device's
        // stdin, and it exits.
        let (mut client, child, local) = connect(spec, local_config, options.timeout)?;
        let waited = || match options.timeout {
            Some(t) => format!(" (--timeout {} s)", t.as_secs_f64()),
            None => String::new(),
        };
        let ack = client
            .hello()
            .with_context(|| format!("opening a session with {spec}{}", waited()))?;
        client
            .authenticate(&ack, options.token.as_ref().map(Token::bytes))
            .with_context(|| format!("authenticating to {spec}"))?;
        if options.token.is_some() && ack.access == robofish_shared::protocol::Access::Open {
            eprintln!(
                "warning: device {spec} has no --token-file: anyone who reaches it may flash it; \
                 --token-file here was not needed"
            );
        }
        if let Some(fault) = &ack.model_fault {
            eprintln!("warning: device {spec} has no model: {fault}");
        }
        Ok(Link {
            client,
            ack,
            child,
            local,
            spec: spec.into(),
        })
    }

    /// Ends the session and waits for a spawned device to exit.
    pub fn close(mut self) -> Result<()> {
        self.client
            .shutdown()
            .with_context(|| format!("closing {}", self.spec))?;
        self.wait()
    }

    /// Stops the device itself (needs an authenticated session), then
    /// waits for a spawned one to exit.
    pub fn stop(mut self) -> Result<()> {
        self.client
            .stop_device()
            .with_context(|| format!("stopping {}", self.spec))?;
        self.wait()
    }

    fn wait(mut self) -> Result<()> {
        drop(self.client);
        if let Some(mut child) = self.child.take() {
            let status = child.0.wait()?;
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

/// A device command this host started, in a process group of its own.
/// Dropped before it exited (the session failed: a timeout, a refusal),
/// the whole group is killed, so a hung device (which `sh -c` may run as a
/// grandchild) does not outlive the host.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            #[cfg(unix)]
            if let Ok(group) = libc::pid_t::try_from(self.0.id()) {
                // SAFETY: kill(2) takes plain integers and touches no memory
                // of ours; the negative pid names the group the child leads
                // (it was spawned with `process_group(0)`), which holds only
                // the device command and its children.
                unsafe {
                    libc::kill(-group, libc::SIGKILL);
                }
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The client over the transport `spec` names, and what keeps it alive.
fn connect(
    spec: &str,
    local_config: DeviceConfig,
    timeout: Option<Duration>,
) -> Result<(AnyClient, Option<Spawned>, Option<LocalServer>)> {
    match spec.parse::<Transport>()? {
        Transport::Local => {
            let (client, handle) = robofish_device::client::spawn_local(Device::new(local_config))?;
            let (reader, writer) = client.into_parts();
            Ok((
                Client::new(Box::new(reader), Box::new(writer)),
                None,
                Some(handle),
            ))
        }
        Transport::Exec(command) => {
            let mut shell = Command::new("sh");
            shell.arg("-c").arg(&command);
            // Its own process group, so a failed session can kill the
            // device and whatever the shell started (see `Spawned`).
            #[cfg(unix)]
            std::os::unix::process::CommandExt::process_group(&mut shell, 0);
            let mut child = shell
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .with_context(|| format!("cannot start device command '{command}'"))?;
            let stdin = child.stdin.take().context("device stdin")?;
            let stdout = child.stdout.take().context("device stdout")?;
            let child = Spawned(child);
            Ok((
                Client::new(timed(stdout, timeout)?, Box::new(BufWriter::new(stdin))),
                Some(child),
                None,
            ))
        }
        Transport::Tcp(addr) => {
            let stream = connect_tcp(&addr, timeout)?;
            stream.set_nodelay(true).ok();
            stream.set_read_timeout(timeout)?;
            stream.set_write_timeout(timeout)?;
            let reader = BufReader::new(stream.try_clone()?);
            Ok((
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
            Ok((
                Client::new(
                    timed(reader, timeout)?,
                    Box::new(BufWriter::new(opened.file)),
                ),
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

/// A TCP connection to `addr`, trying each address it resolves to within
/// `timeout`.
fn connect_tcp(addr: &str, timeout: Option<Duration>) -> Result<TcpStream> {
    let Some(timeout) = timeout else {
        return TcpStream::connect(addr)
            .with_context(|| format!("cannot connect to device at {addr}"));
    };
    let mut last = None;
    for resolved in addr
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve device address {addr}"))?
    {
        match TcpStream::connect_timeout(&resolved, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) if e.kind() == io::ErrorKind::TimedOut => bail!(
            "cannot connect to device at {addr}: no answer within {} s (--timeout)",
            timeout.as_secs_f64()
        ),
        Some(e) => Err(e).with_context(|| format!("cannot connect to device at {addr}")),
        None => bail!("device address {addr} resolves to nothing"),
    }
}

/// `inner` read on a thread of its own when there is a `timeout`, so that
/// reads from pipes and serial ports (which have no read timeout) give up.
fn timed<R: Read + Send + 'static>(
    inner: R,
    timeout: Option<Duration>,
) -> Result<Box<dyn Read + Send>> {
    match timeout {
        None => Ok(Box::new(BufReader::new(inner))),
        Some(timeout) => Ok(Box::new(TimedReader::spawn(inner, timeout)?)),
    }
}

/// Reads done by a thread and handed over through a channel, so a read can
/// wait at most `timeout`.
struct TimedReader {
    chunks: mpsc::Receiver<io::Result<Vec<u8>>>,
    pending: Vec<u8>,
    position: usize,
    timeout: Duration,
}

impl TimedReader {
    fn spawn<R: Read + Send + 'static>(mut inner: R, timeout: Duration) -> Result<TimedReader> {
        // A few chunks in flight keep the reader busy without buffering
        // much.
        let (send, chunks) = mpsc::sync_channel(4);
        std::thread::Builder::new()
            .name("robofish-link-reader".into())
            .spawn(move || {
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    match inner.read(&mut buffer) {
                        Ok(0) => break,
                        Ok(n) => {
                            if send.send(Ok(buffer[..n].to_vec())).is_err() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = send.send(Err(e));
                            break;
                        }
                    }
                }
            })
            .context("cannot start the link's reader thread")?;
        Ok(TimedReader {
            chunks,
            pending: Vec::new(),
            position: 0,
            timeout,
        })
    }
}

impl Read for TimedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position == self.pending.len() {
            match self.chunks.recv_timeout(self.timeout) {
                Ok(Ok(chunk)) => {
                    self.pending = chunk;
                    self.position = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the device sent nothing within the timeout",
                    ))
                }
                // The reader thread ended: end of stream.
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len() - self.position);
        buf[..n].copy_from_slice(&self.pending[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_pipe_times_out_and_data_passes_through() {
        let (reader, mut writer) = io::pipe().unwrap();
        let mut timed = TimedReader::spawn(reader, Duration::from_millis(100)).unwrap();
        writer.write_all(b"abc").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(timed.read(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
        let started = std::time::Instant::now();
        let err = timed.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(90));
        drop(writer);
        assert_eq!(
            timed.read(&mut buf).unwrap(),
            0,
            "end of stream after close"
        );
    }
}
