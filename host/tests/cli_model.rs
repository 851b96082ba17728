//! `init`, `inspect`, `bench` and `demo` through the real binary.

use std::process::Command;

mod common;

use common::temp_dir;

fn robofish() -> Command {
    Command::new(env!("CARGO_BIN_EXE_robofish"))
}

#[test]
fn init_inspect_bench_round_trip() {
    let dir = temp_dir("model");
    let model = dir.join("narrow.rfm");
    let out = robofish()
        .args(["init", "--width", "0.125", "--calib-tiles", "1", "--out"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = robofish()
        .arg("inspect")
        .arg(&model)
        .args(["--tile", "40x40", "--tile", "64x96", "--layers"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "widths 6/12/24",
        "CRC-32",
        "ok",
        "arena",
        "tile     64x96",
        "static",
        "UNTRAINED",
        "conv3x3",
    ] {
        assert!(
            text.contains(expected),
            "inspect output lacks '{expected}':\n{text}"
        );
    }

    // A tile size the model cannot run is an error of its own, before any
    // table is printed.
    for bad in ["41x40", "40x41", "4x4"] {
        let out = robofish()
            .arg("inspect")
            .arg(&model)
            .args(["--tile", "40x40", "--tile", bad])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "inspect --tile {bad} succeeded");
        assert!(
            out.stdout.is_empty(),
            "inspect --tile {bad} printed a table"
        );
        assert!(
            err.contains(&format!("--tile {bad}")) && err.contains("multiples of 4"),
            "{err}"
        );
    }
    let out = robofish()
        .arg("inspect")
        .arg(&model)
        .args(["--stream", "2048x2047"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--stream 2048x2047"));

    let out = robofish()
        .arg("bench")
        .arg(&model)
        .args(["--tile", "16x16", "--runs", "3", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for key in [
        "\"median_ms\":",
        "\"min_ms\":",
        "\"kernel_path\":",
        "\"gmac_per_s\":",
        "\"threads\":1",
        "\"tile\":\"16x16\"",
    ] {
        assert!(text.contains(key), "bench JSON lacks {key}: {text}");
    }
    let report: serde_json::Value = serde_json::from_str(&text).expect("bench --json is JSON");
    let cpu = &report["cpu"];
    assert!(cpu.is_object(), "bench JSON names no CPU: {text}");
    #[cfg(target_arch = "x86_64")]
    assert!(
        cpu["family"].as_u64().is_some() && cpu["vendor"].as_str().is_some_and(|v| !v.is_empty()),
        "x86_64 CPU identity incomplete: {cpu}"
    );
    // The roofline of the path used: an x86 SIMD path has one, measured in
    // the same run, and the model's rate is a positive share of it (below
    // 1.5: a share above 1 would mean the loop or the MAC count is wrong,
    // with headroom for clock changes between the two measurements).
    let path = report["kernel_path"].as_str().unwrap();
    if cfg!(target_arch = "x86_64") && path != "scalar" {
        let peak = &report["peak"];
        let share = peak["share"].as_f64().unwrap_or(f64::NAN);
        assert!(
            peak["gmac_per_s_per_core"]
                .as_f64()
                .is_some_and(|r| r > 1.0)
                && share > 0.0
                && share < 1.5,
            "{path}: peak {peak}"
        );
    } else {
        assert!(report["peak"].is_null(), "{text}");
    }
    let out = robofish()
        .arg("bench")
        .arg(&model)
        .args(["--tile", "16x16", "--runs", "2", "--threads", "2", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("\"threads\":2"),
        "{text}"
    );

    // A corrupted file is refused with the reason, not a panic.
    let mut bytes = std::fs::read(&model).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let broken = dir.join("broken.rfm");
    std::fs::write(&broken, &bytes).unwrap();
    let out = robofish().arg("inspect").arg(&broken).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupted") && err.contains("CRC-32"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_without_shipped_models_explains_and_succeeds() {
    let dir = temp_dir("demo");
    let out = robofish()
        .args(["demo", "--models"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no trained model at"));
    let _ = std::fs::remove_dir_all(&dir);
}
