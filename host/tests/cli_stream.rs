//! `robofish stream`: the experiment's codebook (`--codebook`, else the
//! dataset's `codebook.csv`) decodes on the device, so calls and truth
//! genes agree and spots are named whatever the codebook's order, names
//! and blanks; odd codebooks are decoded with warnings.

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
fn calls_and_truth_genes_agree_whatever_the_dataset_codebook_order() {
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

/// `data/sample` copied to `dir` with a codebook unlike the model's: the
/// same words in reverse order, every gene renamed, and 15 blanks (the
/// model's 10 and 5 genes the truth never uses); the truth files renamed
/// to match. Returns the codebook's path.
fn custom_dataset(dir: &Path) -> PathBuf {
    copy_tree(&repo("data/sample"), dir);
    let csv = std::fs::read_to_string(dir.join("codebook.csv")).unwrap();
    let truth_dir = dir.join("test/1/groundtruths");
    let truth_files: Vec<PathBuf> = std::fs::read_dir(&truth_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("groundtruth")
        })
        .collect();
    let used: std::collections::HashSet<String> = truth_files
        .iter()
        .flat_map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            text.lines()
                .skip(1)
                .map(|l| l.split(',').nth(5).unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut lines: Vec<&str> = csv.lines().collect();
    lines[1..].reverse();
    let mut renamed = std::collections::HashMap::new();
    let mut extra_blanks = 0;
    let mut out = vec![lines[0].to_string()];
    for (k, line) in lines[1..].iter().enumerate() {
        let (name, rest) = line.split_once(',').unwrap();
        let (_, bits) = rest.split_once(',').unwrap();
        let new = if name.starts_with("Blank") || (!used.contains(name) && extra_blanks < 5) {
            extra_blanks += usize::from(!name.starts_with("Blank"));
            format!("Blank-X{k}")
        } else {
            format!("Exp-{k}")
        };
        renamed.insert(name.to_string(), new.clone());
        out.push(format!("{new}, {new},{bits}"));
    }
    assert_eq!(extra_blanks, 5);
    let path = dir.join("codebook.csv");
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
    for file in truth_files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut rows: Vec<String> = vec![text.lines().next().unwrap().into()];
        for line in text.lines().skip(1) {
            let mut fields: Vec<String> = line.split(',').map(String::from).collect();
            fields[5] = renamed[&fields[5]].clone();
            rows.push(fields.join(","));
        }
        std::fs::write(&file, rows.join("\n") + "\n").unwrap();
    }
    path
}

fn stream_with(data: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "stream".to_string(),
        "--device".into(),
        "local".into(),
        "--model".into(),
        repo("models/anglerfish-static.rfm")
            .to_str()
            .unwrap()
            .into(),
        "--data".into(),
        data.to_str().unwrap().into(),
        "--truth".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    robofish(args)
}

#[test]
fn a_dataset_codebook_unlike_the_models_names_the_spots_and_counts_its_blanks() {
    let dir = temp_dir("stream-custom-codebook");
    let (plain, custom) = (dir.join("plain"), dir.join("custom"));
    copy_tree(&repo("data/sample"), &plain);
    custom_dataset(&custom);
    let expected = stream(&plain);
    let spots = dir.join("spots.csv");
    let got = ok(stream_with(
        &custom,
        &["--spots-out", spots.to_str().unwrap()],
    ));
    let label = "gene accuracy of matches ";
    assert!(figure(&got, label) > 0.8, "{got}");
    assert_eq!(
        figure(&got, label),
        figure(&expected, label),
        "{expected}\n{got}"
    );
    assert_eq!(figure(&got, "F1 "), figure(&expected, "F1 "));
    assert!(
        got.contains("codebook      the experiment's: 140 words, 15 blank; minimum distance 4, one-bit correction on"),
        "{got}"
    );
    assert!(got.contains("misidentification "), "{got}");
    assert!(
        expected.contains("codebook      the experiment's: 140 words, 10 blank"),
        "{expected}"
    );

    // The spots file names genes from the dataset's codebook.
    let text = std::fs::read_to_string(&spots).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("frame,row,col,dy,dx,gene,distance,confidence")
    );
    let mut named = 0;
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 8, "{line}");
        let (gene, distance) = (fields[5], fields[6]);
        if gene.is_empty() {
            continue;
        }
        assert!(
            gene.starts_with("Exp-") || gene.starts_with("Blank-X"),
            "{line}"
        );
        assert!(distance == "0" || distance == "1", "{line}");
        named += 1;
    }
    assert!(named > 50, "{named} named spots");
}

#[test]
fn the_codebook_flag_wins_over_the_datasets_codebook_csv() {
    let dir = temp_dir("stream-codebook-flag");
    let custom = dir.join("custom");
    let path = custom_dataset(&custom);
    let flag = dir.join("experiment.csv");
    std::fs::rename(&path, &flag).unwrap();
    // The dataset's own codebook.csv now names none of the truth's genes.
    std::fs::copy(repo("data/sample/codebook.csv"), &path).unwrap();
    let refused = stream_with(&custom, &[]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not in the codebook"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let got = ok(stream_with(
        &custom,
        &["--codebook", flag.to_str().unwrap()],
    ));
    assert!(figure(&got, "gene accuracy of matches ") > 0.8, "{got}");
    assert!(got.contains("140 words, 15 blank"), "{got}");
}

#[test]
fn an_odd_codebook_is_accepted_with_warnings_and_decoded_without_correction() {
    let dir = temp_dir("stream-odd-codebook");
    // MHD4 plus a word of weight 7 and one two bits from the first word.
    let mut csv = std::fs::read_to_string(repo("data/sample/codebook.csv")).unwrap();
    csv.push_str("Heavy, Heavy, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0\n");
    csv.push_str("Near, Near, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0\n");
    let path = dir.join("odd.csv");
    std::fs::write(&path, csv).unwrap();
    let output = robofish([
        "stream",
        "--device",
        "local",
        "--model",
        repo("models/anglerfish-static.rfm").to_str().unwrap(),
        "--simulate",
        "seed",
        "--fovs",
        "2",
        "--codebook",
        path.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = ok(output);
    assert!(
        stderr.contains("not all of weight 4 (141 of weight 4, 1 of weight 7)"),
        "{stderr}"
    );
    assert!(stderr.contains("minimum Hamming distance is 2"), "{stderr}");
    assert!(stderr.contains("correction is off"), "{stderr}");
    assert!(
        stdout.contains("minimum distance 2, one-bit correction off"),
        "{stdout}"
    );
    assert!(stdout.contains(" 0 corrected = 0.0 %"), "{stdout}");
    // Without truth there is still an accuracy estimate, and no truth line.
    assert!(stdout.contains("misidentification "), "{stdout}");
    assert!(!stdout.contains("accuracy      "), "{stdout}");

    // An all-zero word is refused, naming its line.
    let mut zero = std::fs::read_to_string(repo("data/sample/codebook.csv")).unwrap();
    zero.push_str("Dark, Dark, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0\n");
    std::fs::write(&path, zero).unwrap();
    let refused = robofish([
        "stream",
        "--model",
        repo("models/anglerfish-static.rfm").to_str().unwrap(),
        "--simulate",
        "seed",
        "--codebook",
        path.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("line 142") && stderr.contains("no bit set"),
        "{stderr}"
    );
}

/// FOVs the device cannot take (41 x 41 is no multiple of the network's
/// stride) fail the stream, and no rate is made up from them.
#[test]
fn a_stream_whose_fovs_failed_exits_non_zero() {
    let model = repo("models/anglerfish-static.rfm");
    let args = |extra: &[&'static str]| {
        let mut args = vec![
            "stream",
            "--model",
            model.to_str().unwrap(),
            "--simulate",
            "seed",
            "--size",
            "41x41",
            "--fovs",
            "2",
        ];
        args.extend_from_slice(extra);
        robofish(args)
    };
    let failed = args(&[]);
    let stdout = String::from_utf8_lossy(&failed.stdout);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stdout}");
    assert!(stderr.contains("failed on 2 of 2 FOVs"), "{stderr}");
    assert!(stdout.contains("FOVs          0 ok, 2 failed"), "{stdout}");
    assert!(stdout.contains("latency       n/a"), "{stdout}");
    assert!(stdout.contains("throughput    n/a"), "{stdout}");
    let stdout = ok(args(&["--allow-failed-fovs"]));
    assert!(stdout.contains("0 ok, 2 failed"), "{stdout}");
}
