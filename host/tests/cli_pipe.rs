//! Output into a pipe that closes early (`robofish ... | head -1`) is not a
//! failure: the reader has what it wanted, so robofish exits 0, quietly.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn shipped_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/anglerfish-static.rfm")
}

fn inspect() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_robofish"));
    command.arg("inspect").arg(shipped_model()).arg("--layers");
    command.stderr(Stdio::piped());
    command
}

#[test]
fn inspect_into_a_closed_pipe_exits_zero() {
    // The reading end is gone before robofish starts, so its very first
    // write fails with EPIPE, every time.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = inspect().stdout(writer).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {err}", out.status);
    assert!(err.is_empty(), "a broken pipe printed: {err}");
}

#[test]
fn inspect_piped_into_head_exits_zero() {
    // What `robofish inspect MODEL | head -1` does: read one line, close.
    let mut child = inspect().stdout(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("file "), "{first}");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {err}", out.status);
    assert!(err.is_empty(), "{err}");
}
