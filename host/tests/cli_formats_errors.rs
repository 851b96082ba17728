//! Malformed acquisitions fail with an error that names the file (and the
//! line, for CSVs), never a panic; other tools' config.yml files are read
//! for what robofish needs and nothing more.

mod common;
mod formats_fixture;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{ok, robofish, temp_dir};
use formats_fixture::{ome_xml, write_stack, Grid};

fn model() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/anglerfish-static.rfm")
        .to_str()
        .unwrap()
        .to_string()
}

/// `robofish stream --model M --data data` plus `extra`.
fn stream(data: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "stream".to_string(),
        "--model".into(),
        model(),
        "--data".into(),
    ];
    args.push(data.to_str().unwrap().into());
    args.extend(extra.iter().map(|s| s.to_string()));
    robofish(&args)
}

/// `robofish stream` of `data` fails; its stderr mentions every `needle`.
fn stream_fails_naming(data: &Path, extra: &[&str], needles: &[&str]) {
    let output = stream(data, extra);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "expected a failure: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "stderr lacks `{needle}`: {stderr}");
    }
}

/// A fresh copy of the MERlin fixture.
fn merlin(grid: &Grid, root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    grid.write_merlin(&dir);
    dir
}

#[test]
fn malformed_merlin_inputs_name_their_file() {
    let grid = Grid::new();
    let root = temp_dir("formats-merlin-errors");

    // A frame the data organisation asks for is not in its .dax.
    let dir = merlin(&grid, &root, "frame");
    let organisation = dir.join("dataorganization.csv");
    let text = std::fs::read_to_string(&organisation).unwrap();
    let text = text.replacen(",3,650,0,0,", ",3,650,5,0,", 1);
    std::fs::write(&organisation, text).unwrap();
    stream_fails_naming(
        &dir,
        &[],
        &["Conventional_750_650_000_03.dax", "frame 5", "2 frames"],
    );

    // A missing image file.
    let dir = merlin(&grid, &root, "file");
    std::fs::remove_file(dir.join("Conventional_750_650_002_05.dax")).unwrap();
    stream_fails_naming(
        &dir,
        &[],
        &["barcode bit 6 of FOV 2", "dataorganization.csv"],
    );

    // A .dax shorter than its .inf says.
    let dir = merlin(&grid, &root, "short");
    let dax = dir.join("Conventional_750_650_001_07.dax");
    let bytes = std::fs::read(&dax).unwrap();
    std::fs::write(&dax, &bytes[..bytes.len() - 100]).unwrap();
    stream_fails_naming(
        &dir,
        &[],
        &["Conventional_750_650_001_07.dax", "shorter", ".inf"],
    );

    // A .inf without the frame size.
    let dir = merlin(&grid, &root, "inf");
    let inf = dir.join("Conventional_750_650_000_00.inf");
    std::fs::write(&inf, "number of frames = 2\n").unwrap();
    stream_fails_naming(
        &dir,
        &[],
        &["Conventional_750_650_000_00.inf", "frame dimensions"],
    );

    // A bad data organisation row.
    let dir = merlin(&grid, &root, "row");
    let text = std::fs::read_to_string(dir.join("dataorganization.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[4] = lines[4].replacen(",4,3,650,", ",4,three,650,", 1);
    std::fs::write(dir.join("dataorganization.csv"), lines.join("\n")).unwrap();
    stream_fails_naming(&dir, &[], &["dataorganization.csv, line 5", "three"]);

    // A codebook row of the wrong length.
    let dir = merlin(&grid, &root, "codebook");
    let text = std::fs::read_to_string(dir.join("codebook.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[3] += ", 1";
    std::fs::write(dir.join("codebook.csv"), lines.join("\n")).unwrap();
    stream_fails_naming(&dir, &[], &["codebook.csv", "line 4", "found 19"]);

    // Unusable microscope parameters.
    let dir = merlin(&grid, &root, "microscope");
    std::fs::write(
        dir.join("microscope_parameters.json"),
        r#"{"transpose": "maybe"}"#,
    )
    .unwrap();
    stream_fails_naming(&dir, &[], &["microscope_parameters.json", "`transpose`"]);

    // A bad positions row.
    let dir = merlin(&grid, &root, "positions");
    std::fs::write(dir.join("positions.csv"), "1,2\n3,four\n").unwrap();
    stream_fails_naming(&dir, &[], &["positions.csv, line 2", "four"]);
}

/// `dir` holding `fov_000.ome.tif` of `pages`, its OME-XML saying 2
/// colours x `rounds` rounds in `XYZCT` order.
fn ome_folder(dir: &Path, pages: &[&[u16]], rounds: usize) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let xml = ome_xml("XYZCT", rounds, 0.0, 0.0);
    write_stack(&dir.join("fov_000.ome.tif"), pages, Some(&xml));
    dir.to_path_buf()
}

#[test]
fn malformed_tiff_stacks_name_their_file() {
    let grid = Grid::new();
    let root = temp_dir("formats-stack-errors");
    let pages: Vec<&[u16]> = (0..16).map(|i| grid.fovs[0].image(i)).collect();

    // OME-XML promising 16 planes in a file of 12 pages.
    let dir = ome_folder(&root.join("few"), &pages[..12], 8);
    stream_fails_naming(&dir, &[], &["fov_000.ome.tif", "12 pages", "need 16"]);

    // OME-XML of 2 colours x 4 rounds: not robofish's 16 images.
    let dir = ome_folder(&root.join("rounds"), &pages[..8], 4);
    stream_fails_naming(&dir, &[], &["fov_000.ome.tif", "SizeT 4", "needs 16"]);

    // No metadata and no --planes; then --planes on 12 pages.
    let dir = root.join("plain");
    std::fs::create_dir_all(&dir).unwrap();
    write_stack(&dir.join("a.tif"), &pages, None);
    stream_fails_naming(&dir, &[], &["a.tif", "--planes"]);
    ok(stream(&dir, &["--planes", "tcz"]));
    write_stack(&dir.join("a.tif"), &pages[..12], None);
    stream_fails_naming(&dir, &["--planes", "tcz"], &["a.tif", "12 pages"]);
    // A z plane there is not.
    write_stack(&dir.join("a.tif"), &pages, None);
    stream_fails_naming(
        &dir,
        &["--planes", "tcz", "--z", "1"],
        &["a.tif", "plane 1"],
    );
}

#[test]
fn config_yml_is_read_for_what_is_needed_only() {
    let grid = Grid::new();
    let root = temp_dir("formats-config");
    let dir = root.join("split");
    grid.write_images_only(&dir);
    let config = dir.join("config.yml");
    // Another tool's file: floats for counts, unknown keys and types.
    std::fs::write(
        &config,
        "simulation:\n  image_size: 64\n  emitter_count: 15.0\n  tile_count: 4.0\n  \
         camera: {model: Prime BSI, gain: [1, 2]}\nbit_order: interleaved\n",
    )
    .unwrap();
    let output = stream(&dir, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("interleaved bit order"), "{stderr}");
    assert!(
        stderr.contains("reads blocked bit order but the data is interleaved"),
        "{stderr}"
    );

    std::fs::write(
        &config,
        "simulation:\n  emitter_count: 15.0\nbit_order: diagonal\n",
    )
    .unwrap();
    stream_fails_naming(&dir, &[], &["config.yml", "`bit_order`", "diagonal"]);
    // --bit-order overrides the file and does not need it.
    ok(stream(&dir, &["--bit-order", "blocked"]));
    std::fs::write(&config, "simulation: [unclosed\n").unwrap();
    stream_fails_naming(&dir, &[], &["config.yml"]);
}

#[test]
fn unknown_folders_say_what_was_looked_for() {
    let root = temp_dir("formats-unknown");
    std::fs::write(root.join("notes.txt"), "nothing here").unwrap();
    stream_fails_naming(
        &root,
        &[],
        &["not a format robofish reads", "dataorganization.csv"],
    );
    stream_fails_naming(
        &root,
        &["--format", "merlin"],
        &["dataorganization.csv", "missing"],
    );
    stream_fails_naming(&root.join("absent"), &[], &["absent", "missing"]);
}
