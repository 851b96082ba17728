//! Runs the real `robofish` binary in temporary folders.
use robofish_host::data::{Dataset, DatasetConfig};
use robofish_host::sim::{preset, BitOrder, Codebook, Simulator, Split};
use std::path::Path;
use std::process::Command;

mod common;

use common::{ok, robofish};

fn simulate(out: &Path, extra: &[&str]) -> String {
    let out = out.to_str().unwrap();
    let mut args = vec![
        "simulate", "--out", out, "--train", "3", "--val", "2", "--test", "2", "--seed", "7",
    ];
    args.extend_from_slice(extra);
    ok(robofish(&args))
}

#[test]
fn simulate_writes_what_the_library_generates() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = simulate(dir.path(), &["--stats"]);
    assert!(stdout.contains("wrote 7 tiles of 40 x 40"), "{stdout}");
    assert!(
        stdout.contains("photons per spot-bit") && stdout.contains("SNR"),
        "{stdout}"
    );

    let dataset = Dataset::open(dir.path(), None).unwrap();
    let codebook = Codebook::mhd4(130);
    assert_eq!(dataset.codebook.as_ref(), Some(&codebook));
    let simulator = Simulator::new(preset("seed").unwrap(), codebook, 7).unwrap();
    for (split, count) in [(Split::Train, 3), (Split::Val, 2), (Split::Test, 2)] {
        let tiles = dataset.read_split(split).unwrap();
        assert_eq!(tiles.len(), count);
        for (index, tile) in tiles.iter().enumerate() {
            assert_eq!(*tile, simulator.tile(split, index), "{split} tile {index}");
        }
        let config: DatasetConfig = dataset.config(split).unwrap().unwrap();
        assert_eq!(config.simulation.tile_count, count);
    }
}

#[test]
fn same_seed_same_bytes_whatever_the_thread_count() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // 1 thread against 5: on a machine with fewer cores than 5 the threads
    // still preempt each other, so images are made in another order
    // (the default pool would be 1 thread on a 1-core machine, the same
    // schedule as the other run, and prove nothing).
    for (dir, threads) in [(&a, "5"), (&b, "1")] {
        let output = Command::new(env!("CARGO_BIN_EXE_robofish"))
            .env("RAYON_NUM_THREADS", threads)
            .args([
                "simulate",
                "--out",
                dir.path().to_str().unwrap(),
                "--train",
                "3",
                "--val",
                "2",
                "--test",
                "2",
                "--seed",
                "7",
            ])
            .output()
            .unwrap();
        ok(output);
    }
    for name in [
        "train/1/647nm, Raw/merFISH_08_003_01.tiff",
        "test/1/groundtruths/groundtruth_2.csv",
        "val/1/config.yml",
        "codebook.csv",
    ] {
        assert_eq!(
            std::fs::read(a.path().join(name)).unwrap(),
            std::fs::read(b.path().join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn overrides_reach_the_files() {
    let dir = tempfile::tempdir().unwrap();
    simulate(
        dir.path(),
        &[
            "--height",
            "24",
            "--width",
            "32",
            "--bits",
            "8",
            "--bit-order",
            "interleaved",
            "--preset",
            "hard",
        ],
    );
    let dataset = Dataset::open(dir.path(), None).unwrap();
    let tile = dataset.read_tile(Split::Val, 2).unwrap();
    assert_eq!((tile.height, tile.width), (24, 32));
    assert!(tile.images.iter().all(|&v| v <= 255));
    assert_eq!(
        dataset.bit_order(Split::Val).unwrap(),
        BitOrder::Interleaved
    );
    let config = dataset
        .config(Split::Val)
        .unwrap()
        .unwrap()
        .simulation
        .robofish
        .unwrap();
    assert_eq!((config.preset.as_str(), config.camera.bits), ("hard", 8));
}

#[test]
fn render_writes_a_png() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), &[]);
    let png = dir.path().join("tile.png");
    let data = dir.path().to_str().unwrap();
    let stdout = ok(robofish([
        "render",
        "--data",
        data,
        "--split",
        "val",
        "--tile",
        "2",
        "--out",
        png.to_str().unwrap(),
    ]));
    assert!(stdout.contains("50 emitters"), "{stdout}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // The 4 x 4 grid of 40 x 40 tiles at 8x (1300 pixels square) on a page
    // with a title above and the legend below: wider by the margins, and
    // taller than wide.
    let side = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    let (width, height) = (side(16), side(20));
    assert!(width > 1300 && height > width + 40, "{width} x {height}");
}

#[test]
fn bad_input_fails_with_a_named_file_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), &[]);
    let data = dir.path().to_str().unwrap();
    std::fs::remove_file(dir.path().join("test/1/750nm, Raw/merFISH_04_001_01.tiff")).unwrap();
    let output = robofish([
        "render",
        "--data",
        data,
        "--split",
        "test",
        "--tile",
        "1",
        "--out",
        "/dev/null",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("merFISH_04_001_01.tiff")
            && stderr.contains("missing")
            && !stderr.contains("panicked"),
        "{stderr}"
    );

    let again = robofish([
        "simulate", "--out", data, "--test", "1", "--train", "0", "--val", "0",
    ]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let bad = robofish([
        "simulate",
        "--out",
        data,
        "--test",
        "1",
        "--force",
        "--density=-1",
    ]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && stderr.contains("density"),
        "{stderr}"
    );
}

#[test]
fn committed_sample_matches_the_simulator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample");
    let dataset = Dataset::open(&root, None).unwrap();
    let config = dataset.config(Split::Test).unwrap().unwrap();
    assert_eq!(config.simulation.seed, Some(1));
    let simulator = Simulator::new(
        preset("seed").unwrap(),
        dataset.codebook.clone().unwrap(),
        1,
    )
    .unwrap();
    let tiles = dataset.read_split(Split::Test).unwrap();
    assert_eq!(tiles.len(), 8);
    for (index, tile) in tiles.iter().enumerate() {
        assert_eq!(
            *tile,
            simulator.tile(Split::Test, index),
            "tile {}: rerun the commands in data/README.md",
            index + 1
        );
    }
}
