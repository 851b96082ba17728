//! The TCP server: serves one host at a time and stays up between them.
//!
//! - A host's session ends when it closes the connection or sends
//!   `Shutdown`; the server then serves the next host. Only an
//!   authenticated host can stop a TCP device (`StopDevice`, `robofish
//!   stop`); a device without a token is stopped by a signal (Ctrl-C,
//!   `systemctl stop`). stdio and serial devices serve their one host and
//!   exit when it says `Shutdown` or closes.
//! - A host that connects while another is served gets an `Error` of kind
//!   `Busy` naming the holder and for how long it has held the device
//!   (`device error (busy): serving ADDR for N s; try again later`), and
//!   is closed; it can try again later.
//! - A host that sends nothing for `idle_timeout`, or stops reading the
//!   replies for `io_timeout`, is dropped with a logged reason, and the next
//!   host is served.
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use robofish_shared::protocol::{
    encode_frame, DeviceMessage, ErrorKind, ErrorReport, MAX_ENCODED_FRAME_BYTES,
};

use crate::server::{serve, ServeOutcome};
use crate::{Device, Error, Result};

/// How long a TCP host may stay quiet or stop reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// A host that sends nothing for this long is dropped.
    pub idle: Duration,
    /// A host that reads none of the replies for this long is dropped.
    pub io: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle: Duration::from_secs(600),
            io: Duration::from_secs(30),
        }
    }
}

/// Busy replies being written at once; connections beyond it are closed
/// without one, so a flood of connections cannot pile up threads.
const MAX_BUSY_REPLIES: usize = 16;

/// Who holds the device: the host's address and since when.
type Holder = Arc<Mutex<Option<(SocketAddr, Instant)>>>;

/// Serves hosts that connect to `listener`, one at a time, until the
/// process is stopped or an authenticated host sends `StopDevice`. Log
/// lines go to stderr.
pub fn serve_tcp(device: Device, listener: &TcpListener, timeouts: Timeouts) -> Result<()> {
    let holder: Holder = Arc::new(Mutex::new(None));
    let stopping = Arc::new(AtomicBool::new(false));
    let own_addr = listener
        .local_addr()
        .map_err(Error::io("reading the listening address"))?;
    let (hand_over, sessions) = mpsc::channel::<(TcpStream, SocketAddr)>();
    let worker_holder = Arc::clone(&holder);
    let worker_stopping = Arc::clone(&stopping);
    let worker = std::thread::Builder::new()
        .name("robofish-session".into())
        .spawn(move || {
            serve_sessions(device, &sessions, &worker_holder, timeouts);
            // Wake the accept loop so it sees the stop.
            worker_stopping.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect_timeout(&wake_address(own_addr), Duration::from_secs(1));
        })
        .map_err(Error::io("starting the session thread"))?;
    let busy_replies = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("robofish-device: accept failed: {e}");
                continue;
            }
        };
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        let mut held = holder.lock().unwrap_or_else(PoisonError::into_inner);
        match *held {
            None => {
                *held = Some((peer, Instant::now()));
                drop(held);
                if hand_over.send((stream, peer)).is_err() {
                    break;
                }
            }
            Some((by, since)) => {
                drop(held);
                let message = format!(
                    "serving {by} for {} s; try again later",
                    since.elapsed().as_secs()
                );
                eprintln!("robofish-device: {peer} refused (busy): {message}");
                if busy_replies.fetch_add(1, Ordering::SeqCst) < MAX_BUSY_REPLIES {
                    let count = Arc::clone(&busy_replies);
                    let spawned = std::thread::Builder::new()
                        .name("robofish-busy".into())
                        .spawn(move || {
                            reply_busy(stream, &message, timeouts.io);
                            count.fetch_sub(1, Ordering::SeqCst);
                        });
                    if spawned.is_err() {
                        busy_replies.fetch_sub(1, Ordering::SeqCst);
                    }
                } else {
                    busy_replies.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
    }
    drop(hand_over);
    worker
        .join()
        .map_err(|_| Error::io("the session thread")(std::io::Error::other("it panicked")))
}

/// Where the session thread connects to wake the accept loop: the
/// listening address, or loopback when it listens on every interface.
fn wake_address(listening: SocketAddr) -> SocketAddr {
    let mut addr = listening;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// Serves each host handed over in turn, then frees the device; returns
/// when a host stops the device (or the listener is gone).
fn serve_sessions(
    mut device: Device,
    sessions: &mpsc::Receiver<(TcpStream, SocketAddr)>,
    holder: &Holder,
    timeouts: Timeouts,
) {
    for (stream, peer) in sessions {
        eprintln!("robofish-device: serving {peer}");
        match serve_one(&mut device, stream, timeouts) {
            Ok(ServeOutcome::Stop) => {
                eprintln!("robofish-device: {peer} (authenticated) stopped the device");
                return;
            }
            Ok(_) => eprintln!("robofish-device: {peer} done"),
            Err(reason) => {
                device.connection_lost();
                eprintln!("robofish-device: dropped {peer}: {reason}");
            }
        }
        *holder.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// One host's session; `Err` says why it was dropped.
fn serve_one(
    device: &mut Device,
    stream: TcpStream,
    timeouts: Timeouts,
) -> std::result::Result<ServeOutcome, String> {
    let setup = |e: std::io::Error| format!("cannot set up the connection: {e}");
    stream.set_nodelay(true).ok();
    stream
        .set_read_timeout(Some(timeouts.idle))
        .map_err(setup)?;
    stream.set_write_timeout(Some(timeouts.io)).map_err(setup)?;
    let mut reader = BufReader::new(stream.try_clone().map_err(setup)?);
    let mut writer = BufWriter::new(stream);
    // A host's Shutdown ends its session only (see the module docs).
    serve(device, &mut reader, &mut writer).map_err(|e| describe_drop(&e, timeouts))
}

/// Why a session ended in an error, naming the timeout when one fired.
fn describe_drop(error: &Error, timeouts: Timeouts) -> String {
    let timed_out = |source: &std::io::Error| {
        matches!(
            source.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    };
    match error {
        Error::Io { what, source } if timed_out(source) && what.starts_with("reading") => format!(
            "it sent nothing for {} s (--idle-timeout)",
            timeouts.idle.as_secs_f64()
        ),
        Error::Io { source, .. } if timed_out(source) => format!(
            "it read none of the replies for {} s (--io-timeout)",
            timeouts.io.as_secs_f64()
        ),
        other => crate::error::chain(other),
    }
}

/// Tells a host the device is busy, then closes: the reply is written,
/// the write side shut, and what the host sent drained for a moment, so
/// the close does not reset the connection before the host has read it.
fn reply_busy(mut stream: TcpStream, message: &str, io_timeout: Duration) {
    let report = DeviceMessage::Error(ErrorReport::new(None, ErrorKind::Busy, message));
    let mut out = vec![0u8; MAX_ENCODED_FRAME_BYTES];
    let Ok(frame) = encode_frame(&report, &mut out) else {
        return;
    };
    let wait = io_timeout.min(Duration::from_secs(2));
    if stream.set_write_timeout(Some(wait)).is_err() || stream.write_all(frame).is_err() {
        return;
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(wait));
    let mut sink = [0u8; 4096];
    let started = Instant::now();
    while started.elapsed() < wait {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}
