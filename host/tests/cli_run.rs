//! `robofish run` and `robofish merge` on a 2 x 2 grid of overlapping FOVs
//! cut out of one simulated scene (so every emitter's global position is
//! known), decoded against a codebook unlike the model's: one
//! de-duplicated table in global coordinates, Parquet equal to the CSV,
//! resume, failing FOVs, per-FOV jobs merged, classical decoding.

mod common;

use std::path::{Path, PathBuf};

use common::{ok, robofish, temp_dir};
use robofish_host::data::{split_dir, write_codebook, write_tile};
use robofish_host::run::{read_transcripts_csv, Transcript};
use robofish_host::sim::{preset, Codebook, Emitter, Simulator, Split, Tile};
use robofish_shared::codebook::CodebookEntry;

const FOV: usize = 64;
const SCENE: usize = 112;
/// FOV origins (row, column) in scene pixels: 16 px of overlap each way.
const ORIGINS: [(usize, usize); 4] = [(0, 0), (0, 48), (48, 0), (48, 48)];
const PIXEL_UM: f64 = 0.1;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The model's 140 MHD4 words in reverse order, every gene renamed, and 15
/// blanks: the model's 10 and 5 former genes.
fn custom_codebook() -> Codebook {
    let model = Codebook::mhd4(130);
    let mut entries: Vec<CodebookEntry> = model.entries().to_vec();
    entries.reverse();
    let mut blanks = 0;
    for (i, e) in entries.iter_mut().enumerate() {
        let blank = e.name.to_ascii_lowercase().starts_with("blank") || i % 28 == 3;
        e.name = if blank {
            blanks += 1;
            format!("Blank-x{blanks}")
        } else {
            format!("Custom{i:03}")
        };
        e.id = e.name.clone();
    }
    assert_eq!(blanks, 15);
    Codebook::from_entries(entries).unwrap()
}

/// The scene cut into the four FOVs, written as dataset `root` (test split,
/// no config.yml) with a positions file; returns the scene's emitters
/// (global positions in µm) with their gene names.
fn fixture(root: &Path) -> Vec<(f64, f64, String)> {
    let mut config = preset("seed").unwrap();
    config.height = SCENE;
    config.width = SCENE;
    let codebook = custom_codebook();
    let sim = Simulator::new(config.clone(), codebook.clone(), 5).unwrap();
    let scene = sim.tile(Split::Test, 0);
    let dir = split_dir(root, Split::Test);
    let mut positions = String::new();
    for (i, &(r0, c0)) in ORIGINS.iter().enumerate() {
        let mut images = Vec::with_capacity(16 * FOV * FOV);
        for image in 0..16 {
            let plane = scene.image(image);
            for r in r0..r0 + FOV {
                images.extend_from_slice(&plane[r * SCENE + c0..r * SCENE + c0 + FOV]);
            }
        }
        let inside = |v: f32, o: usize| v >= o as f32 && v < (o + FOV) as f32;
        let truth: Vec<Emitter> = scene
            .truth
            .iter()
            .filter(|e| inside(e.y, r0) && inside(e.x, c0))
            .map(|e| Emitter {
                y: e.y - r0 as f32,
                x: e.x - c0 as f32,
                ..*e
            })
            .collect();
        let tile = Tile {
            height: FOV,
            width: FOV,
            images,
            truth,
        };
        write_tile(&dir, i + 1, &tile, &codebook, config.file_bits()).unwrap();
        // MERlin's convention: a FOV's stage position is the centre of its
        // pixel (0, 0).
        positions.push_str(&format!(
            "{},{}\n",
            (c0 as f64 + 0.5) * PIXEL_UM,
            (r0 as f64 + 0.5) * PIXEL_UM
        ));
    }
    write_codebook(root, &codebook).unwrap();
    std::fs::write(root.join("positions.csv"), positions).unwrap();
    let truth = scene
        .truth
        .iter()
        .map(|e| {
            let name = codebook.name(e.gene).unwrap().to_string();
            (f64::from(e.x) * PIXEL_UM, f64::from(e.y) * PIXEL_UM, name)
        })
        .collect();
    truth
}

fn run(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let model = repo("models/anglerfish-static.rfm");
    let mut args = vec![
        "run",
        "--data",
        data.to_str().unwrap(),
        "--pixel-size",
        "0.1",
        "--out",
        out.to_str().unwrap(),
        "--threads",
        "1",
    ];
    if !extra.contains(&"classical") {
        args.extend(["--model", model.to_str().unwrap()]);
    }
    args.extend_from_slice(extra);
    robofish(args)
}

fn table(out: &Path) -> Vec<Transcript> {
    let file = std::fs::File::open(out.join("detected_transcripts.csv")).unwrap();
    read_transcripts_csv(file, "table").unwrap()
}

fn qc(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("qc.json")).unwrap()).unwrap()
}

/// Every transcript matched to the nearest truth emitter within 1.5 px:
/// `(dx, dy)` in pixels and whether the gene names agree.
fn matches(rows: &[Transcript], truth: &[(f64, f64, String)]) -> Vec<(f64, f64, bool)> {
    rows.iter()
        .filter_map(|t| {
            truth
                .iter()
                .map(|(x, y, g)| ((t.global_x - x) / PIXEL_UM, (t.global_y - y) / PIXEL_UM, g))
                .filter(|(dx, dy, _)| dx.hypot(*dy) < 1.5)
                .min_by(|a, b| a.0.hypot(a.1).total_cmp(&b.0.hypot(b.1)))
                .map(|(dx, dy, g)| (dx, dy, *g == t.gene))
        })
        .collect()
}

#[test]
fn a_two_by_two_grid_gives_one_table_in_global_coordinates() {
    let dir = temp_dir("run-grid");
    let data = dir.join("data");
    let truth = fixture(&data);
    let out = dir.join("out");
    let stdout = ok(run(&data, &out, &[]));
    assert!(stdout.contains("4 decoded, 0 already written"), "{stdout}");
    assert!(stdout.contains("spot F1"), "truth is scored: {stdout}");
    let rows = table(&out);
    assert!(rows.len() > 20, "{} transcripts: {stdout}", rows.len());
    let report = qc(&out);
    assert_eq!(report["global_units"], "µm");
    assert!(
        report["dropped_in_overlap"].as_u64().unwrap() > 0,
        "{report}"
    );

    // No transcript twice: nothing else within 1 px (the device's peaks
    // are at least 2 px apart within a FOV).
    for (i, a) in rows.iter().enumerate() {
        for b in &rows[i + 1..] {
            let d = (a.global_x - b.global_x).hypot(a.global_y - b.global_y) / PIXEL_UM;
            assert!(d >= 1.0, "{a:?} and {b:?} are {d:.2} px apart");
        }
        let expected = ORIGINS[a.fov as usize].1 as f64 * PIXEL_UM + a.x * PIXEL_UM;
        assert!((a.global_x - expected).abs() < 1e-9, "{a:?}");
    }
    // Global positions agree with the scene's truth: no offset beyond
    // 0.1 px on average (a half-pixel convention slip would show 0.5).
    let matched = matches(&rows, &truth);
    assert!(
        matched.len() * 10 >= rows.len() * 8,
        "{} of {}",
        matched.len(),
        rows.len()
    );
    let mean =
        |f: fn(&(f64, f64, bool)) -> f64| matched.iter().map(f).sum::<f64>() / matched.len() as f64;
    let (bx, by) = (mean(|m| m.0), mean(|m| m.1));
    assert!(
        bx.abs() < 0.1 && by.abs() < 0.1,
        "offset {bx:.3}, {by:.3} px"
    );
    // The custom codebook names the genes.
    let same_gene = matched.iter().filter(|m| m.2).count();
    assert!(
        same_gene * 10 >= matched.len() * 8,
        "{same_gene} of {}",
        matched.len()
    );
    let codebook = custom_codebook();
    for t in &rows {
        assert_eq!(codebook.name(t.barcode_id as usize), Some(t.gene.as_str()));
        assert!(t.hamming_distance <= 1 && (0.0..=1.0).contains(&t.confidence));
    }
    let misid = &report["misidentification"];
    assert_eq!(misid["blank_words"], 15, "the experiment's blanks: {misid}");
    assert_eq!(misid["coding_words"], 125);
    assert!(misid["rate"].is_number(), "{misid}");
    assert_eq!(report["calls_per_gene"].as_array().unwrap().len(), 140);
    assert_eq!(report["bit_on_rates"].as_array().unwrap().len(), 16);
    assert_eq!(report["density"].as_array().unwrap().len(), 4);
    let png = std::fs::read(out.join("qc.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let counts = std::fs::read_to_string(out.join("counts_per_gene.csv")).unwrap();
    assert!(
        counts.starts_with("barcode_id,gene,blank,count\n0,"),
        "{counts}"
    );

    // The Parquet table holds the same rows.
    parquet_equals(&out.join("detected_transcripts.parquet"), &rows);

    // One job per FOV, merged, gives the same table.
    let mut jobs = Vec::new();
    for fov in 0..4 {
        let job = dir.join(format!("job{fov}"));
        ok(run(&data, &job, &["--fov", &fov.to_string()]));
        jobs.push(job.to_str().unwrap().to_string());
    }
    let merged = dir.join("merged");
    let mut args = vec![
        "merge".to_string(),
        "--out".into(),
        merged.to_str().unwrap().into(),
    ];
    args.extend(jobs.iter().cloned());
    let stdout = ok(robofish(&args));
    assert!(stdout.contains("merged        4 FOVs"), "{stdout}");
    let csv = |d: &Path| std::fs::read(d.join("detected_transcripts.csv")).unwrap();
    assert!(
        csv(&merged) == csv(&out),
        "merged table differs from the single run's"
    );

    // Resume: only the FOV whose part is gone is decoded again.
    let part = out.join("fovs/fov_2.json");
    let kept = out.join("fovs/fov_1.csv");
    let before = std::fs::metadata(&kept).unwrap().modified().unwrap();
    std::fs::remove_file(&part).unwrap();
    let stdout = ok(run(&data, &out, &[]));
    assert!(stdout.contains("1 decoded, 3 already written"), "{stdout}");
    assert_eq!(
        std::fs::metadata(&kept).unwrap().modified().unwrap(),
        before
    );
    assert!(csv(&out) == csv(&merged));

    // Parts of another method are refused by merge, with the reason.
    let classical = dir.join("classical");
    ok(run(
        &data,
        &classical,
        &["--method", "classical", "--fov", "3"],
    ));
    let refused = robofish([
        "merge",
        "--out",
        dir.join("mixed").to_str().unwrap(),
        &jobs[0],
        classical.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("cannot be merged"), "{err}");
}

fn parquet_equals(path: &Path, rows: &[Transcript]) {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let fields: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    assert_eq!(fields, robofish_host::run::COLUMNS);
    let read: Vec<Transcript> = reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            let r = row.unwrap();
            Transcript {
                barcode_id: r.get_long(0).unwrap() as u32,
                global_x: r.get_double(1).unwrap(),
                global_y: r.get_double(2).unwrap(),
                global_z: r.get_double(3).unwrap(),
                x: r.get_double(4).unwrap(),
                y: r.get_double(5).unwrap(),
                fov: r.get_long(6).unwrap() as u32,
                gene: r.get_string(7).unwrap().clone(),
                transcript_id: r.get_string(8).unwrap().clone(),
                confidence: r.get_float(9).unwrap(),
                hamming_distance: r.get_int(10).unwrap() as u8,
                intensity: r.get_float(11).unwrap(),
            }
        })
        .collect();
    assert_eq!(read, rows);
}

#[test]
fn a_fov_that_cannot_be_read_is_skipped_and_listed() {
    let dir = temp_dir("run-broken");
    let data = dir.join("data");
    fixture(&data);
    // FOV 1's first image is not a TIFF.
    let image = robofish_host::data::image_path(&split_dir(&data, Split::Test), 0, 2);
    std::fs::write(&image, b"not a tiff").unwrap();
    let out = dir.join("out");
    let stdout = ok(run(&data, &out, &["--method", "classical"]));
    assert!(
        stdout.contains("3 decoded, 0 already written (resumed), 1 failed"),
        "{stdout}"
    );
    let failures = &qc(&out)["failures"];
    assert_eq!(failures[0]["fov"], 1, "{failures}");
    assert!(
        failures[0]["error"].as_str().unwrap().contains("TIFF"),
        "{failures}"
    );
    assert!(table(&out).iter().all(|t| t.fov != 1));
    // Only the broken FOV: every FOV failed, so the run fails.
    let alone = run(
        &data,
        &dir.join("alone"),
        &["--method", "classical", "--fov", "1"],
    );
    assert!(!alone.status.success());
    assert!(String::from_utf8_lossy(&alone.stderr).contains("every FOV selected failed"));
}

#[test]
fn images_alone_run() {
    let dir = temp_dir("run-images-only");
    let data = dir.join("data");
    fixture(&data);
    // No ground truth, no gene counts, no config.yml: only the images,
    // the codebook and the positions.
    let split = split_dir(&data, Split::Test);
    std::fs::remove_dir_all(split.join("groundtruths")).unwrap();
    for n in 1..=ORIGINS.len() {
        let _ = std::fs::remove_file(robofish_host::data::frequency_path(&split, n));
    }
    assert!(!robofish_host::data::config_path(&split).exists());
    let out = dir.join("out");
    let stdout = ok(run(&data, &out, &["--method", "classical"]));
    assert!(stdout.contains("4 decoded"), "{stdout}");
    assert!(!table(&out).is_empty());
    assert!(qc(&out)
        .get("failures")
        .is_some_and(|f| f.as_array().is_some_and(Vec::is_empty)));
}
