//! `robofish eval --method classical` through the real binary: the
//! classical decoder on simulated tiles, no model, its row in both the
//! Markdown and the JSON.

mod common;

use common::{ok, robofish};

#[test]
fn classical_method_writes_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let (markdown, json) = (dir.path().join("eval.md"), dir.path().join("eval.json"));
    let stdout = ok(robofish([
        "eval",
        "--simulate",
        "20",
        "--preset",
        "seed",
        "--method",
        "classical",
        "--runs",
        "2",
        "--warmup",
        "0",
        "--markdown",
        markdown.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]));
    assert!(stdout.contains("| classical"), "{stdout}");
    assert!(stdout.contains("Classical:"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&markdown).unwrap(), stdout);

    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["mode"], "classical");
    // --simulate 20 gives the test split 4 tiles of 50 emitters.
    assert_eq!(
        (row["tiles"].as_u64(), row["truth_spots"].as_u64()),
        (Some(4), Some(200))
    );
    assert!(row["spot_f1"].as_f64().unwrap() > 0.6, "{row}");
    assert!(row["gene_f1"].as_f64().unwrap() > 0.5, "{row}");
    assert!(row["pos_recall"].is_null(), "no probability maps: {row}");
}

#[test]
fn network_method_without_models_is_refused() {
    let output = robofish([
        "eval",
        "--simulate",
        "4",
        "--preset",
        "seed",
        "--method",
        "network",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--models"), "{stderr}");
    let output = robofish(["eval", "--simulate", "4", "--preset", "seed"]);
    assert!(!output.status.success(), "neither --models nor --method");
}
