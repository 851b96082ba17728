//! The host's links against a real device server (`robofish device`, the
//! robofish-device server in the host binary) on 127.0.0.1: `flash`,
//! `stream` and `stop` through `tcp:` with and without the device's token,
//! and `--timeout` on a TCP device and an `exec:` device that never answer.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn robofish() -> Command {
    Command::new(env!("CARGO_BIN_EXE_robofish"))
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `robofish device --listen 127.0.0.1:0 ...` and where it listens.
fn start_device(args: &[&str]) -> (Child, String) {
    let mut child = robofish()
        .args(["device", "--listen", "127.0.0.1:0", "--threads", "1"])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (send, addr) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("robofish-device: listening on ") {
                let _ = send.send(a.to_string());
            }
        }
    });
    let addr = addr.recv_timeout(Duration::from_secs(60)).unwrap();
    (child, addr)
}

#[test]
fn flash_stream_and_stop_need_the_devices_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "a3c9f0e1d2b4a5968778695a4b3c2d1e\n").unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "00000000000000000000000000000000\n").unwrap();
    let store = dir.path().join("model.rfm");
    let model = repo("models/anglerfish-static.rfm");
    let (mut device, addr) = start_device(&[
        "--token-file",
        token.to_str().unwrap(),
        "--model-store",
        store.to_str().unwrap(),
    ]);
    let spec = format!("tcp:{addr}");
    let flash = |extra: &[&str]| {
        robofish()
            .args(["flash", "--device", &spec, "--model"])
            .arg(&model)
            .args(extra)
            .output()
            .unwrap()
    };
    let anonymous = flash(&[]);
    assert!(!anonymous.status.success(), "{}", text(&anonymous));
    assert!(
        text(&anonymous).contains("--token-file"),
        "{}",
        text(&anonymous)
    );
    let refused = flash(&["--token-file", wrong.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("wrong token"), "{}", text(&refused));
    assert!(!store.exists(), "a refused flash was stored");

    let flashed = flash(&["--token-file", token.to_str().unwrap()]);
    assert!(flashed.status.success(), "{}", text(&flashed));
    assert_eq!(
        std::fs::read(&store).unwrap(),
        std::fs::read(&model).unwrap()
    );

    let streamed = robofish()
        .args([
            "stream",
            "--device",
            &spec,
            "--simulate",
            "seed",
            "--fovs",
            "2",
        ])
        .args(["--size", "40x40", "--truth", "--token-file"])
        .arg(&token)
        .output()
        .unwrap();
    assert!(streamed.status.success(), "{}", text(&streamed));
    assert!(
        device.try_wait().unwrap().is_none(),
        "the stream stopped the device"
    );

    let stopped = robofish()
        .args(["stop", "--device", &spec, "--token-file"])
        .arg(&token)
        .output()
        .unwrap();
    assert!(stopped.status.success(), "{}", text(&stopped));
    let started = Instant::now();
    while device.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_device_that_never_answers_times_out_with_what_was_awaited() {
    // A TCP "device" that accepts and then says nothing.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let keep = std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(8));
        drop(held);
    });
    for device in [format!("tcp:{addr}"), "exec:sleep 30".to_string()] {
        let started = Instant::now();
        let output = robofish()
            .args([
                "stream",
                "--device",
                &device,
                "--simulate",
                "seed",
                "--fovs",
                "1",
            ])
            .args(["--size", "40x40", "--timeout", "1"])
            .output()
            .unwrap();
        let waited = started.elapsed();
        println!("{device}: gave up after {waited:?} with --timeout 1");
        assert!(!output.status.success(), "{}", text(&output));
        assert!(
            text(&output).contains("timed out waiting for the device's answer to Hello"),
            "{}",
            text(&output)
        );
        assert!(waited < Duration::from_secs(7), "{waited:?}");
    }
    keep.join().unwrap();
}
