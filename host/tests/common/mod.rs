//! Helpers shared by the integration tests: the real binary, temporary
//! folders, and one int8 forward pass.
#![allow(dead_code)]

pub mod broker;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use robofish_shared::engine::{InputImage, Network, Pixels};

/// Runs the `robofish` binary (working directory: the host crate).
pub fn robofish<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_robofish"))
        .args(args)
        .output()
        .expect("robofish runs")
}

/// Asserts success (showing both streams otherwise) and returns stdout.
pub fn ok(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `robofish simulate` of `[train, val, test]` tiles into `out`, with
/// `extra` arguments (a preset, a size, a seed) appended.
pub fn simulate(out: &Path, [train, val, test]: [usize; 3], extra: &[&str]) {
    let counts = [train, val, test].map(|n| n.to_string());
    let mut args = vec![
        "simulate",
        "--out",
        out.to_str().unwrap(),
        "--train",
        &counts[0],
        "--val",
        &counts[1],
        "--test",
        &counts[2],
    ];
    args.extend_from_slice(extra);
    ok(robofish(args));
}

/// `robofish init`: an untrained eighth-width int8 model at `out`.
pub fn untrained_model(out: &Path) {
    ok(robofish([
        "init",
        "--width",
        "0.125",
        "--calib-tiles",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]));
}

/// A fresh, empty folder for test `name` (per process).
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("robofish-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `network` on planar `[16][h][w]` raw counts: the position map and
/// the 16 barcode maps as u8 probabilities.
pub fn run_int8(network: &Network, images: &[u16], h: usize, w: usize) -> (Vec<u8>, Vec<u8>) {
    let plan = network.plan(h, w).unwrap();
    let mut arena = vec![0u8; plan.arena_bytes()];
    let image = InputImage::planar(Pixels::U16(images), 16, h, w).unwrap();
    let mut position = vec![0u8; h * w];
    let mut barcode = vec![0u8; 16 * h * w];
    network
        .run(
            &plan,
            &mut arena,
            &image,
            &mut [&mut position, &mut barcode],
        )
        .unwrap();
    (position, barcode)
}
