//! `robofish eval` through the real binary on tiny models and data: an
//! untrained int8 model from `init`, a random fp32 checkpoint and its
//! dynamic quantisation, three simulated test tiles.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::{ok, robofish, simulate, untrained_model};

use robofish_host::checkpoint::Checkpoint;
use robofish_host::norm::measure_normalisation;
use robofish_host::sim::{preset, BitOrder, Codebook, Simulator, Split};
use robofish_shared::model::ArchConfig;
use robofish_shared::reference::FloatModel;

/// The command fails and its error mentions `needle`.
fn fails_saying(output: Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "expected a failure; stderr: {stderr}"
    );
    assert!(stderr.contains(needle), "stderr lacks '{needle}': {stderr}");
}

/// A random fp32 checkpoint of the seed architecture at width `scale`,
/// `rounds` rounds x 2 colours, normalised like simulated tiles.
fn random_checkpoint(path: &Path, rounds: u8) {
    let config = preset("seed").unwrap();
    let simulator = Simulator::new(config, Codebook::mhd4(130), 3).unwrap();
    let tiles: Vec<_> = (0..2).map(|i| simulator.tile(Split::Train, i)).collect();
    let mut normalisation = measure_normalisation(&tiles);
    let channels = usize::from(rounds) * 2;
    normalisation.mean.truncate(channels);
    normalisation.std.truncate(channels);
    let mut arch = ArchConfig::seed().scaled(0.125);
    arch.rounds = rounds;
    let model = FloatModel::random(&arch, normalisation, 5).unwrap();
    Checkpoint::from_float_model(&model, BitOrder::default(), 0, f64::NAN)
        .unwrap()
        .write(path)
        .unwrap();
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
    fp32: PathBuf,
    static_int8: PathBuf,
    dynamic_int8: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let data = root.join("data");
    simulate(&data, [1, 1, 3], &["--seed", "7"]);
    let static_int8 = root.join("untrained.rfm");
    untrained_model(&static_int8);
    let fp32 = root.join("random.safetensors");
    random_checkpoint(&fp32, 8);
    let dynamic_int8 = root.join("random-dynamic.rfm");
    ok(robofish([
        "quantise",
        "--mode",
        "dynamic",
        "--checkpoint",
        fp32.to_str().unwrap(),
        "--out",
        dynamic_int8.to_str().unwrap(),
    ]));
    Fixture {
        _dir: dir,
        root,
        data,
        fp32,
        static_int8,
        dynamic_int8,
    }
}

const KEYS: [&str; 16] = [
    "name",
    "mode",
    "engine",
    "size_bytes",
    "median_ms",
    "median_ms_all_threads",
    "threads",
    "pos_recall",
    "pos_jaccard",
    "bc_recall",
    "bc_jaccard",
    "spot_f1",
    "rmse",
    "gene_f1",
    "misid_rate",
    "tiles",
];

fn number(row: &serde_json::Value, key: &str) -> f64 {
    let value = row[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {row}"));
    assert!(value.is_finite(), "{key} = {value}");
    value
}

#[test]
fn eval_reports_fp32_static_and_dynamic_models() {
    let f = fixture();
    let (json, markdown, plots) = (
        f.root.join("eval.json"),
        f.root.join("eval.md"),
        f.root.join("plots"),
    );
    let mut args: Vec<PathBuf> = vec!["eval".into(), "--data".into(), f.data.clone()];
    args.push("--models".into());
    args.extend([
        f.fp32.clone(),
        f.static_int8.clone(),
        f.dynamic_int8.clone(),
    ]);
    for (flag, value) in [
        ("--engine", PathBuf::from("tract")),
        ("--runs", "3".into()),
        ("--json", json.clone()),
        ("--markdown", markdown.clone()),
        ("--plots", plots.clone()),
        ("--plot-tiles", "2".into()),
    ] {
        args.extend([PathBuf::from(flag), value]);
    }
    let stdout = ok(robofish(&args));

    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let modes: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["mode"].as_str().unwrap(), r["engine"].as_str().unwrap()))
        .collect();
    assert_eq!(
        modes,
        [
            ("fp32", "tract"),
            ("static", "robofish"),
            ("dynamic", "robofish")
        ]
    );
    for row in &rows {
        for key in KEYS {
            assert!(row.get(key).is_some(), "{key} missing from {row}");
        }
        for key in [
            "pos_recall",
            "pos_jaccard",
            "bc_recall",
            "bc_jaccard",
            "spot_f1",
            "gene_f1",
        ] {
            let value = number(row, key);
            assert!((0.0..=1.0).contains(&value), "{key} = {value} in {row}");
        }
        for key in ["median_ms", "median_ms_all_threads", "size_bytes"] {
            assert!(number(row, key) > 0.0, "{key} in {row}");
        }
        assert!(number(row, "threads") >= 1.0);
        assert_eq!(number(row, "tiles"), 3.0);
        // No match at all leaves the RMSE undefined (null); a match lies
        // within the 1.5 px radius.
        if !row["rmse"].is_null() {
            assert!((0.0..=1.5).contains(&number(row, "rmse")), "{row}");
        }
        assert!(number(row, "misid_rate") >= 0.0, "{row}");
    }
    // Sizes are file bytes; the int8 files are smaller than the checkpoint.
    assert_eq!(
        number(&rows[0], "size_bytes") as u64,
        std::fs::metadata(&f.fp32).unwrap().len()
    );
    assert_eq!(number(&rows[0], "reduction"), 1.0);
    assert!(number(&rows[2], "reduction") > 2.0, "{}", rows[2]);
    // tract has no threads here; dynamic int8 runs on one.
    assert_eq!(number(&rows[0], "threads"), 1.0);
    assert_eq!(number(&rows[2], "threads"), 1.0);

    let report = std::fs::read_to_string(&markdown).unwrap();
    for expected in [
        "Latency and size",
        "Accuracy",
        "logical cores",
        "original fp32",
        "0.923",
        "random.safetensors",
        "untrained.rfm",
        "Gene F1",
    ] {
        assert!(
            report.contains(expected),
            "markdown lacks '{expected}':\n{report}"
        );
    }
    assert!(stdout.contains("Pos recall (>0.5)"), "{stdout}");

    let mut pictures: Vec<String> = std::fs::read_dir(&plots)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pictures.sort();
    // 2 input pictures + 3 rows x 2 tiles x (position, bits).
    assert_eq!(pictures.len(), 2 + 3 * 2 * 2, "{pictures:?}");
    assert!(pictures.contains(&"untrained.rfm-robofish-tile01-bits.png".to_string()));
    for name in &pictures {
        let bytes = std::fs::read(plots.join(name)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}");
    }
}

#[test]
fn eval_refuses_bad_input_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let data = root.join("data");
    simulate(&data, [1, 1, 1], &[]);
    let data = data.to_str().unwrap();
    let eval = |model: &Path, data: &str| {
        robofish([
            "eval",
            "--data",
            data,
            "--models",
            model.to_str().unwrap(),
            "--runs",
            "1",
        ])
    };

    let onnx = root.join("model.onnx");
    std::fs::write(&onnx, b"not a robofish model").unwrap();
    fails_saying(eval(&onnx, data), "unknown model file extension 'onnx'");

    fails_saying(eval(&root.join("missing.rfm"), data), "cannot read");

    let garbage = root.join("garbage.rfm");
    std::fs::write(&garbage, b"ROBOFISH but not really").unwrap();
    fails_saying(eval(&garbage, data), "not a usable robofish model file");

    let four_rounds = root.join("four-rounds.safetensors");
    random_checkpoint(&four_rounds, 4);
    fails_saying(
        eval(&four_rounds, data),
        "reads 8 images per tile but the data has 16",
    );

    let model = root.join("untrained.rfm");
    untrained_model(&model);
    let odd = root.join("odd");
    simulate(&odd, [1, 1, 1], &["--height", "42", "--width", "40"]);
    fails_saying(eval(&model, odd.to_str().unwrap()), "multiples of 4");

    fails_saying(
        robofish([
            "eval",
            "--data",
            data,
            "--models",
            model.to_str().unwrap(),
            "--runs",
            "0",
        ]),
        "--runs must be at least 1",
    );
    if !cfg!(feature = "torch") {
        let fp32 = root.join("random.safetensors");
        random_checkpoint(&fp32, 8);
        fails_saying(
            robofish([
                "eval",
                "--data",
                data,
                "--models",
                fp32.to_str().unwrap(),
                "--engine",
                "tch",
            ]),
            "--features torch",
        );
    }
}

/// The range checks above would pass a matcher that always reported 0: the
/// shipped seed-trained model on `seed` tiles must score what it does
/// (`robofish eval --simulate 200`: spot F1 0.93, gene F1 0.91; floors
/// below that for 3 tiles).
#[test]
fn eval_scores_the_shipped_model_on_seed_tiles() {
    let f = fixture();
    let json = f.root.join("shipped.json");
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/anglerfish-static.rfm");
    let mut args: Vec<PathBuf> = vec!["eval".into(), "--data".into(), f.data.clone()];
    args.extend(["--models".into(), model]);
    args.extend(["--json".into(), json.clone()]);
    for flag in ["--runs", "1", "--warmup", "0"] {
        args.push(flag.into());
    }
    ok(robofish(&args));
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let row = &rows[0];
    println!("{row}");
    for (key, floor) in [
        // Measured on these 3 tiles: 0.944, 0.925, 0.665, 0.883.
        ("spot_f1", 0.85),
        ("gene_f1", 0.8),
        ("pos_recall", 0.55),
        ("bc_recall", 0.75),
    ] {
        let value = number(row, key);
        assert!(value > floor && value <= 1.0, "{key} = {value}: {row}");
    }
    // Measured 0.376 px.
    assert!(number(row, "rmse") < 0.5, "{row}");
}
