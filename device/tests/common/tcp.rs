//! A real `robofish-device --listen 127.0.0.1:0` process for the fault
//! tests: where it listens, its log, its memory, and ways to kill it.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use robofish_device::client::Client;
use robofish_device::Error;
use robofish_shared::protocol::{ErrorKind, HelloAck};

/// The shipped static model.
pub fn shipped_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/anglerfish-static.rfm")
}

/// A device listening on a free port of 127.0.0.1, and its log lines.
pub struct TcpDevice {
    pub child: Child,
    pub addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl TcpDevice {
    /// A device running the shipped model with one thread, plus `extra`
    /// arguments.
    pub fn start(extra: &[&str]) -> TcpDevice {
        let model = shipped_model();
        let mut args = vec!["--model", model.to_str().unwrap()];
        args.extend_from_slice(extra);
        TcpDevice::start_bare(&args)
    }

    /// A device with one thread and exactly `args` otherwise.
    pub fn start_bare(args: &[&str]) -> TcpDevice {
        let mut child = Command::new(env!("CARGO_BIN_EXE_robofish-device"))
            .args(["--listen", "127.0.0.1:0", "--threads", "1"])
            .args(args)
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
        let addr = match listening.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => panic!(
                "the device did not say where it listens: {}",
                log.lock().unwrap().join("\n")
            ),
        };
        TcpDevice { child, addr, log }
    }

    /// A raw connection (30 s read timeout so a regression fails, not hangs).
    pub fn connect(&self) -> Client<TcpStream, TcpStream> {
        let stream = TcpStream::connect(&self.addr).unwrap();
        // As the host's link does: without it Nagle's algorithm and delayed
        // ACKs add 40 ms to every small FOV.
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client::new(stream.try_clone().unwrap(), stream)
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// A hello from a new host, retried while the device is still busy
    /// freeing itself from the last one (up to `patience`).
    pub fn served_within(
        &self,
        patience: Duration,
    ) -> (Client<TcpStream, TcpStream>, HelloAck, Duration) {
        let started = Instant::now();
        loop {
            let mut client = self.connect();
            match client.hello() {
                Ok(ack) => return (client, ack, started.elapsed()),
                Err(Error::Device(report)) if report.kind == ErrorKind::Busy => {
                    assert!(started.elapsed() < patience, "still busy: {}", self.log());
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("{e}: {}", self.log()),
            }
        }
    }

    /// The device process's resident memory in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the device's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
            .expect("VmRSS")
    }

    /// SIGKILL, as a power cut or an OOM kill would end it.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits up to `patience` for the process to exit by itself.
    pub fn exits_within(&mut self, patience: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < patience {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for TcpDevice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
