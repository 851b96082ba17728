//! `robofish stream --data DIR --truth`: the truth genes reach the device in
//! its model's codebook order, whatever order the dataset's codebook uses.

mod common;

use std::path::{Path, PathBuf};

use common::{ok, robofish, temp_dir};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The figure after `label` in the stream summary.
fn figure(stdout: &str, label: &str) -> f64 {
    let rest = &stdout[stdout
        .find(label)
        .unwrap_or_else(|| panic!("{label}: {stdout}"))
        + label.len()..];
    rest.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{label}: {stdout}"))
}

fn stream(data: &Path) -> String {
    ok(robofish([
        "stream",
        "--device",
        "local",
        "--model",
        repo("models/anglerfish-static.rfm").to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--truth",
    ]))
}

#[test]
fn truth_genes_follow_the_model_codebook_whatever_the_dataset_order() {
    let dir = temp_dir("stream-codebook-order");
    let (plain, reversed) = (dir.join("plain"), dir.join("reversed"));
    copy_tree(&repo("data/sample"), &plain);
    copy_tree(&repo("data/sample"), &reversed);
    // Same genes and words, rows in the opposite order: every dataset gene
    // index changes, the truth files (gene names) do not.
    let csv = std::fs::read_to_string(plain.join("codebook.csv")).unwrap();
    let mut lines: Vec<&str> = csv.lines().collect();
    lines[1..].reverse();
    std::fs::write(reversed.join("codebook.csv"), lines.join("\n") + "\n").unwrap();

    let expected = stream(&plain);
    let got = stream(&reversed);
    let label = "gene accuracy of matches ";
    let accuracy = figure(&got, label);
    // Indices sent unmapped would name other genes: accuracy near 0.
    assert!(accuracy > 0.8, "{got}");
    assert_eq!(accuracy, figure(&expected, label), "{expected}\n{got}");
    assert_eq!(figure(&got, "F1 "), figure(&expected, "F1 "));
}
