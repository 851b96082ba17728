//! `train`, `export` and `eval` through the real binary.
mod common;

use common::{robofish, temp_dir};

use robofish_host::checkpoint::Checkpoint;
use robofish_shared::codebook::BitOrder;
use robofish_shared::model::{ArchConfig, Normalisation};
use robofish_shared::reference::FloatModel;

#[cfg(not(feature = "torch"))]
#[test]
fn train_without_torch_says_how_to_enable_it() {
    let dir = temp_dir("notorch");
    let out = robofish([
        "train",
        "--preset",
        "seed",
        "--simulate",
        "8",
        "--out",
        dir.join("run").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--features torch"), "{err}");
    assert!(err.contains("torch==2.13.0"), "{err}");
}

#[test]
fn export_and_eval_a_checkpoint_without_libtorch() {
    let dir = temp_dir("export-eval");
    let norm = Normalisation::uniform(16, 120.0, 30.0);
    let model = FloatModel::random(&ArchConfig::seed().scaled(0.125), norm, 4).unwrap();
    let ckpt = dir.join("model.safetensors");
    Checkpoint::from_float_model(&model, BitOrder::Blocked, 1, 0.5)
        .unwrap()
        .write(&ckpt)
        .unwrap();
    let onnx = dir.join("model.onnx");
    let out = robofish([
        "export",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--onnx",
        onnx.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(&onnx).unwrap().len() > 10_000);

    let json = dir.join("eval.json");
    let out = robofish([
        "eval",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--engine",
        "tract",
        "--preset",
        "seed",
        "--simulate",
        "40",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("original fp32"), "{stdout}");
    // eval writes a JSON list, one object per model x engine.
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(rows[0]["tiles"], 4);
    assert_eq!(rows[0]["engine"], "tract");

    // A file that is not a checkpoint: an error naming it, not a panic.
    let bogus = dir.join("bogus.safetensors");
    std::fs::write(&bogus, b"not a checkpoint").unwrap();
    for args in [
        vec![
            "export",
            "--checkpoint",
            bogus.to_str().unwrap(),
            "--onnx",
            onnx.to_str().unwrap(),
        ],
        vec![
            "eval",
            "--checkpoint",
            bogus.to_str().unwrap(),
            "--preset",
            "seed",
            "--simulate",
            "4",
        ],
    ] {
        let out = robofish(&args);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bogus.safetensors"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
