//! The TCP device against ordinary and faulty hosts, on 127.0.0.1 only:
//! it stays up after a host's session (even one that says `Shutdown`),
//! tells concurrent hosts it is busy, and drops a host that goes quiet so
//! the next one is served. Each test starts its own `robofish-device`.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use robofish_device::client::Client;
use robofish_device::Error;
use robofish_shared::protocol::ErrorKind;

/// A device listening on a free port of 127.0.0.1, and its log lines.
struct TcpDevice {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl TcpDevice {
    fn start(extra: &[&str]) -> TcpDevice {
        let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/anglerfish-static.rfm");
        let mut child = Command::new(env!("CARGO_BIN_EXE_robofish-device"))
            .args(["--listen", "127.0.0.1:0", "--threads", "1", "--model"])
            .arg(model)
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("robofish-device starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (first, listening) = mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("robofish-device: listening on ") {
                    let _ = first.send(addr.to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = listening
            .recv_timeout(Duration::from_secs(60))
            .expect("the device says where it listens");
        TcpDevice { child, addr, log }
    }

    fn connect(&self) -> Client<TcpStream, TcpStream> {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client::new(stream.try_clone().unwrap(), stream)
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// A hello from a new host, retried while the device is still busy
    /// freeing itself from the last one (up to `patience`).
    fn served_within(&self, patience: Duration) -> (Client<TcpStream, TcpStream>, Duration) {
        let started = Instant::now();
        loop {
            let mut client = self.connect();
            match client.hello() {
                Ok(_) => return (client, started.elapsed()),
                Err(Error::Device(report)) if report.kind == ErrorKind::Busy => {
                    assert!(started.elapsed() < patience, "still busy: {}", self.log());
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("{e}: {}", self.log()),
            }
        }
    }
}

impl Drop for TcpDevice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_tcp_device_stays_up_after_each_session() {
    let mut device = TcpDevice::start(&[]);
    for session in 0..3 {
        let (mut client, _) = device.served_within(Duration::from_secs(10));
        client.report().unwrap();
        // What `robofish stream` and `flash` send when they close.
        client.shutdown().unwrap();
        drop(client);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            device.alive(),
            "exited after session {session}: {}",
            device.log()
        );
    }
}

#[test]
fn concurrent_hosts_are_told_the_device_is_busy() {
    let device = TcpDevice::start(&[]);
    let (mut holder, _) = device.served_within(Duration::from_secs(10));
    let others: Vec<_> = (0..5)
        .map(|_| {
            let addr = device.addr.clone();
            std::thread::spawn(move || {
                let stream = TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                Client::new(stream.try_clone().unwrap(), stream).hello()
            })
        })
        .collect();
    for other in others {
        match other.join().unwrap() {
            Err(Error::Device(report)) => {
                assert_eq!(report.kind, ErrorKind::Busy, "{report:?}");
                assert!(report.message.contains("serving 127.0.0.1:"), "{report:?}");
            }
            reply => panic!("not told busy: {reply:?}"),
        }
    }
    // The holder was never disturbed, and once it leaves the next is served.
    holder.report().unwrap();
    holder.shutdown().unwrap();
    drop(holder);
    device.served_within(Duration::from_secs(10));
}

#[test]
fn a_quiet_host_is_dropped_and_the_next_one_served() {
    let device = TcpDevice::start(&["--idle-timeout", "1"]);
    let (quiet, _) = device.served_within(Duration::from_secs(10));
    let (mut next, waited) = device.served_within(Duration::from_secs(20));
    println!("the next host was served after {waited:?} (idle timeout 1 s)");
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    next.report().unwrap();
    let log = device.log();
    assert!(
        log.contains("sent nothing for 1 s (--idle-timeout)"),
        "{log}"
    );
    drop(quiet);
}
