//! A mosquitto broker on a free port of 127.0.0.1 for the fleet tests,
//! killed when dropped, and fleet boards (`robofish device --fleet`).
//!
//! A machine without mosquitto fails these tests, naming the package:
//! a skipped broker test would make a green run mean nothing
//! (scripts/test.sh installs it as root, next to the cross tools).

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The mosquitto binary: `ROBOFISH_MOSQUITTO`, else on PATH, else where
/// Debian puts it.
pub fn mosquitto() -> PathBuf {
    if let Some(path) = std::env::var_os("ROBOFISH_MOSQUITTO") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("mosquitto"))
        .find(|path| path.is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "mosquitto is not installed, and the fleet tests need it: `apt-get install mosquitto` \
             (scripts/test.sh does when run as root), or point ROBOFISH_MOSQUITTO at the binary"
        )
    })
}

/// A running broker; killed on drop.
pub struct Broker {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Broker {
    /// A broker that lets anyone in.
    pub fn anonymous(dir: &Path) -> Broker {
        Broker::start(dir, None)
    }

    /// A broker that takes only `user` with `password`.
    pub fn with_password(dir: &Path, user: &str, password: &str) -> Broker {
        std::fs::create_dir_all(dir).unwrap();
        let passwd = dir.join("passwd");
        let tool = mosquitto().with_file_name("mosquitto_passwd");
        let tool = if tool.is_file() {
            tool
        } else {
            PathBuf::from("/usr/bin/mosquitto_passwd")
        };
        let status = Command::new(&tool)
            .args(["-b", "-c"])
            .arg(&passwd)
            .args([user, password])
            .status()
            .unwrap_or_else(|e| panic!("{} (part of mosquitto) runs: {e}", tool.display()));
        assert!(status.success(), "mosquitto_passwd failed");
        Broker::start(dir, Some(&passwd))
    }

    fn start(dir: &Path, passwd: Option<&Path>) -> Broker {
        std::fs::create_dir_all(dir).unwrap();
        // A port that was free a moment ago; retried if another process
        // took it meanwhile.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut config = format!(
                "listener {port} 127.0.0.1\npersistence false\nlog_dest stderr\n\
                 log_type error\nlog_type warning\n"
            );
            match passwd {
                Some(file) => config.push_str(&format!(
                    "allow_anonymous false\npassword_file {}\n",
                    file.display()
                )),
                None => config.push_str("allow_anonymous true\n"),
            }
            let conf = dir.join("mosquitto.conf");
            std::fs::write(&conf, config).unwrap();
            let mut child = Command::new(mosquitto())
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("mosquitto starts");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken: try another
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Broker {
                        child,
                        port,
                        dir: dir.to_path_buf(),
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("mosquitto did not start listening on 127.0.0.1");
    }

    /// Kills the broker (its clients see the connection drop, and no
    /// last wills) and starts it again on the same port, with nothing
    /// retained (persistence is off).
    pub fn restart(&mut self, down_for: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down_for);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut child = Command::new(mosquitto())
                .arg("-c")
                .arg(self.dir.join("mosquitto.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("mosquitto starts");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(2) {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port is not free yet: try again
                }
                if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    self.child = child;
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "mosquitto did not come back on port {}",
                self.port
            );
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// mosquitto's version line, for the test's output.
    pub fn version() -> String {
        let out = Command::new(mosquitto()).arg("-h").output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process whose stderr lines are collected (and sent on
/// `lines`); killed on drop.
pub struct Logged {
    pub child: Child,
    log: Arc<Mutex<Vec<String>>>,
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Logged {
    /// Starts `command` with stderr captured; every line also goes to
    /// `lines`, if given, with the instant it was read.
    pub fn spawn(mut command: Command, lines: Option<mpsc::Sender<(Instant, String)>>) -> Logged {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the process starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        // Read as it comes, so a full pipe never blocks the process.
        let mut out = child.stdout.take().unwrap();
        let stdout = Some(std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
            text
        }));
        let stderr = child.stderr.take().unwrap();
        let collected = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(send) = &lines {
                    let _ = send.send((Instant::now(), line.clone()));
                }
                collected.lock().unwrap().push(line);
            }
        });
        Logged { child, log, stdout }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits for the process to exit within `limit` (killing it after).
    pub fn wait(&mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let stdout = self
                    .stdout
                    .take()
                    .map(|reader| reader.join().unwrap_or_default())
                    .unwrap_or_default();
                return (status, stdout);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still running after {limit:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `robofish device --fleet URL` with one thread and the shipped model.
pub fn board_command(url: &str, id: &str, extra: &[&str]) -> Command {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/anglerfish-static.rfm");
    let mut command = Command::new(env!("CARGO_BIN_EXE_robofish"));
    command
        .args(["device", "--fleet", url, "--board-id", id, "--threads", "1"])
        .arg("--model")
        .arg(model)
        .args(extra);
    command
}
