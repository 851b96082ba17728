//! The same acquisition (4 FOVs of 64 x 64 in a 2 x 2 grid with 16 pixels
//! of overlap) written as the seed layout, an images-only folder, MERlin's
//! raw layout, OME-TIFFs and plain multi-page TIFFs reads back as the same
//! tiles with the same stage geometry, and streams to the same spot table.

mod common;
mod formats_fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ok, robofish, temp_dir};
use formats_fixture::{write_all, write_stack, Grid, OFFSETS, PIXEL_UM, SIDE};
use robofish_host::args::ReadArgs;
use robofish_host::data::{Acquisition, Format};
use robofish_host::sim::{BitOrder, Split, IMAGE_COUNT};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// `extra` (command-line arguments) parsed as the commands parse them.
fn open(dir: &Path, extra: &[String]) -> Acquisition {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Args {
        #[command(flatten)]
        read: ReadArgs,
    }
    let args = Args::parse_from(std::iter::once("test".to_string()).chain(extra.iter().cloned()));
    Acquisition::open(dir, Split::Test, &args.read.options().unwrap()).unwrap()
}

#[test]
fn every_format_reads_the_same_tiles_and_stage_geometry() {
    let grid = Grid::new();
    let root = temp_dir("formats-read");
    let formats = write_all(&grid, &root);
    let expected_format = [
        Format::Seed,
        Format::Seed,
        Format::Merlin,
        Format::TiffStack,
        Format::TiffStack,
    ];
    for ((name, dir, extra), format) in formats.iter().zip(expected_format) {
        let acquisition = open(dir, extra);
        assert_eq!(acquisition.format, format, "{name}");
        assert_eq!(acquisition.bit_order, BitOrder::Blocked, "{name}");
        assert_eq!(acquisition.has_truth, *name == "seed", "{name}");
        let ids: Vec<usize> = acquisition.fovs.iter().map(|f| f.id).collect();
        assert_eq!(ids, [0, 1, 2, 3], "{name}");
        let tiles = acquisition.read_all().unwrap();
        for (id, (tile, want)) in tiles.iter().zip(&grid.fovs).enumerate() {
            assert_eq!((tile.height, tile.width), (SIDE, SIDE), "{name} FOV {id}");
            assert!(
                tile.images == want.images,
                "{name}: FOV {id}'s images differ"
            );
            if acquisition.has_truth {
                assert_eq!(tile.truth, want.truth, "{name} FOV {id}");
            }
        }
        if *name == "images-only" {
            // No positions file: the pixel size alone gives no stage.
            assert!(acquisition.fovs.iter().all(|f| f.stage_um.is_none()));
            continue;
        }
        for (fov, &(row0, col0)) in acquisition.fovs.iter().zip(&OFFSETS) {
            assert_eq!(fov.pixel_size_um, Some(PIXEL_UM), "{name}");
            // Every pixel centre, and a sub-pixel point, lands where the
            // scene has it: within 0.1 px, in fact exactly.
            for (y, x) in [(0.5, 0.5), (10.25, 60.75), (63.5, 0.5), (40.0, 33.3)] {
                let got = fov.pixel_to_global(y, x).unwrap();
                let want = Grid::scene_global(y + row0 as f64, x + col0 as f64);
                let error_px = ((got.0 - want.0).hypot(got.1 - want.1)) / PIXEL_UM;
                assert!(
                    error_px < 1e-9,
                    "{name} FOV {}: {got:?} vs {want:?}",
                    fov.id
                );
                let back = fov.global_to_pixel(got.0, got.1).unwrap();
                assert!((back.0 - y).abs() < 1e-9 && (back.1 - x).abs() < 1e-9);
            }
        }
    }
}

/// Spots of one `stream --spots-out` CSV: (frame, global x, global y) once
/// mapped through `acquisition`'s FOVs. The device's spot coordinates put
/// pixel centres on integers.
fn global_spots(csv: &str, acquisition: &Acquisition) -> Vec<(usize, f64, f64)> {
    csv.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let number = |i: usize| f[i].parse::<f64>().unwrap();
            let frame = f[0].parse::<usize>().unwrap();
            let (y, x) = (number(1) + number(3) + 0.5, number(2) + number(4) + 0.5);
            let (gx, gy) = acquisition.fovs[frame].pixel_to_global(y, x).unwrap();
            (frame, gx, gy)
        })
        .collect()
}

#[test]
fn stream_gives_one_spot_table_through_every_format() {
    let grid = Grid::new();
    let root = temp_dir("formats-stream");
    let formats = write_all(&grid, &root);
    let model = repo("models/anglerfish-static.rfm");
    let mut tables = Vec::new();
    for (name, dir, extra) in &formats {
        let spots = root.join(format!("{}.csv", name.replace(' ', "-")));
        let mut args = vec![
            "stream".to_string(),
            "--device".into(),
            "local".into(),
            "--model".into(),
            model.to_str().unwrap().into(),
            "--data".into(),
            dir.to_str().unwrap().into(),
            "--truth".into(),
            "--spots-out".into(),
            spots.to_str().unwrap().into(),
        ];
        args.extend(extra.iter().cloned());
        let stdout = ok(robofish(&args));
        assert!(
            stdout.contains("FOVs          4 ok, 0 failed"),
            "{name}: {stdout}"
        );
        // Only the seed layout has truth to score against.
        assert_eq!(
            stdout.contains("accuracy"),
            *name == "seed",
            "{name}: {stdout}"
        );
        let table = std::fs::read_to_string(&spots).unwrap();
        assert!(table.lines().count() > 40, "{name}: {table}");
        tables.push((name, dir, extra, table));
    }
    let (_, _, _, first) = &tables[0];
    for (name, _, _, table) in &tables {
        assert_eq!(table, first, "{name}'s spots differ from the seed layout's");
    }

    // Spots in the overlap of two FOVs, where both see the same pixels,
    // land on the same stage position.
    let (_, dir, extra, table) = &tables[2];
    let spots = global_spots(table, &open(dir, extra));
    let interior = |frame: usize, gx: f64, gy: f64| {
        let (x0, y0) = Grid::stage_um(frame);
        let margin = 6.0 * PIXEL_UM;
        let inside = |v: f64, v0: f64| v > v0 + margin && v < v0 + (SIDE as f64 - 7.0) * PIXEL_UM;
        inside(gx, x0) && inside(gy, y0)
    };
    let (mut pairs, mut close) = (0, 0);
    for &(frame, gx, gy) in spots.iter().filter(|s| s.0 == 0) {
        if !interior(1, gx, gy) || !interior(0, gx, gy) {
            continue;
        }
        let nearest = spots
            .iter()
            .filter(|s| s.0 == 1)
            .map(|s| (s.1 - gx).hypot(s.2 - gy) / PIXEL_UM)
            .fold(f64::INFINITY, f64::min);
        pairs += 1;
        close += usize::from(nearest < 0.1);
        assert!(
            nearest < 1.0,
            "FOV {frame}'s spot at ({gx}, {gy}) has no partner in FOV 1"
        );
    }
    assert!(
        pairs >= 3 && close * 10 >= pairs * 8,
        "{close} of {pairs} within 0.1 px"
    );
}

#[test]
fn eval_runs_on_folders_without_truth() {
    let grid = Grid::new();
    let root = temp_dir("formats-eval");
    let formats = write_all(&grid, &root);
    for (name, dir, extra) in formats.iter().filter(|f| f.0 != "seed") {
        let json = root.join(format!("{}.json", name.replace(' ', "-")));
        let mut args: Vec<String> = [
            "eval",
            "--method",
            "classical",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--data",
            dir.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec();
        args.extend(extra.iter().cloned());
        let stdout = ok(robofish(&args));
        assert!(
            stdout.contains("Not measured: the data has no ground truth"),
            "{name}: {stdout}"
        );
        let rows: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert!(
            rows[0]["spot_f1"].is_null() && rows[0]["tiles"] == 4,
            "{name}: {rows}"
        );
    }
}

#[test]
fn fov_selection_reads_only_the_chosen_fovs() {
    let grid = Grid::new();
    let root = temp_dir("formats-select");
    let merlin = root.join("merlin");
    grid.write_merlin(&merlin);
    // FOV 0 is broken, but never read when FOVs 1 and 3 are chosen.
    std::fs::write(merlin.join("Conventional_750_650_000_03.dax"), [0u8; 10]).unwrap();
    let data = merlin.to_str().unwrap();
    let model = repo("models/anglerfish-static.rfm");
    let model = model.to_str().unwrap();
    let stream = |extra: &[&str]| {
        let mut args = vec!["stream", "--model", model, "--data", data];
        args.extend_from_slice(extra);
        robofish(args)
    };
    let stdout = ok(stream(&["--fov", "1,3"]));
    assert!(stdout.contains("FOVs          2 ok"), "{stdout}");
    let stdout = ok(stream(&["--fov", "1-3", "--fovs", "1"]));
    assert!(stdout.contains("FOVs          1 ok"), "{stdout}");
    let all = stream(&[]);
    let stderr = String::from_utf8_lossy(&all.stderr);
    assert!(
        !all.status.success() && stderr.contains("000_03.dax"),
        "{stderr}"
    );
    let none = stream(&["--fov", "7-9"]);
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(
        stderr.contains("--fov 7-9 selects none") && stderr.contains("0-3"),
        "{stderr}"
    );

    // The seed layout's simulated FOVs: --fovs N streams N, not all.
    let stdout = ok(robofish([
        "stream",
        "--model",
        model,
        "--data",
        repo("data/sample").to_str().unwrap(),
        "--fovs",
        "3",
    ]));
    assert!(stdout.contains("FOVs          3 ok"), "{stdout}");
}

/// The Python with `tifffile`: `ROBOFISH_PYTHON`, else `python3` on PATH
/// (scripts/test.sh puts its venv, with tifffile, first).
fn python_with_tifffile() -> Option<String> {
    let python = std::env::var("ROBOFISH_PYTHON").unwrap_or_else(|_| "python3".into());
    let found = Command::new(&python)
        .args(["-c", "import tifffile"])
        .output()
        .is_ok_and(|out| out.status.success());
    found.then_some(python)
}

#[test]
fn tifffile_reads_our_ome_tiff_planes() {
    let Some(python) = python_with_tifffile() else {
        println!(
            "skipped: no python3 with tifffile (scripts/test.sh installs it); set ROBOFISH_PYTHON"
        );
        return;
    };
    let grid = Grid::new();
    let root = temp_dir("formats-tifffile");
    grid.write_ome(&root);
    let file = root.join("fov_002.ome.tif");
    let raw = root.join("planes.u16");
    // tifffile's own reading of the series, planes in (t, c) order.
    let script = "import sys, tifffile\n\
        with tifffile.TiffFile(sys.argv[1]) as tif:\n\
        \x20   assert tif.is_ome, 'not OME'\n\
        \x20   series = tif.series[0]\n\
        \x20   axes = series.get_axes(False)\n\
        \x20   data = series.asarray().reshape(series.get_shape(False))\n\
        \x20   order = [axes.index(a) for a in 'TCZYX']\n\
        \x20   data = data.transpose(order + [i for i in range(data.ndim) if i not in order])\n\
        \x20   data = data.reshape(data.shape[0], data.shape[1], data.shape[2], data.shape[3], data.shape[4])\n\
        \x20   print(axes, data.shape, tif.ome_metadata.count('PositionX'))\n\
        \x20   data[:, :, 0].astype('<u2').tofile(sys.argv[2])\n";
    let out = Command::new(&python)
        .args(["-c", script, file.to_str().unwrap(), raw.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(8, 2, 1, 64, 64)"), "{stdout}");
    let bytes = std::fs::read(&raw).unwrap();
    let planes: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect();
    let tile = &open(&root, &[]).read_all().unwrap()[2];
    let pixels = SIDE * SIDE;
    for t in 0..8 {
        for c in 0..2 {
            let theirs = &planes[(t * 2 + c) * pixels..(t * 2 + c + 1) * pixels];
            assert!(theirs == tile.image(c * 8 + t), "plane t={t} c={c} differs");
            assert!(theirs == grid.fovs[2].image(c * 8 + t));
        }
    }
}

/// `robofish run` on every format that has stage positions: one transcript
/// table, byte for byte, and no transcript kept twice where FOVs overlap.
#[test]
fn run_gives_one_transcript_table_through_every_format() {
    let grid = Grid::new();
    let root = temp_dir("formats-run");
    let formats = write_all(&grid, &root);
    let model = repo("models/anglerfish-static.rfm");
    let mut tables = Vec::new();
    for (name, dir, extra) in formats.iter().filter(|f| f.0 != "images-only") {
        let out = root.join(format!("run-{}", name.replace(' ', "-")));
        let mut args: Vec<String> = ["run", "--threads", "1", "--model"]
            .map(String::from)
            .to_vec();
        args.push(model.to_str().unwrap().into());
        args.extend(["--data".into(), dir.to_str().unwrap().into()]);
        args.extend(["--out".into(), out.to_str().unwrap().into()]);
        args.extend(extra.iter().cloned());
        ok(robofish(&args));
        let table = std::fs::read_to_string(out.join("detected_transcripts.csv")).unwrap();
        tables.push((name, out, table));
    }
    let (_, out, first) = &tables[0];
    assert!(first.lines().count() > 40, "{first}");
    for (name, _, table) in &tables {
        assert_eq!(
            table, first,
            "{name}'s transcripts differ from the seed layout's"
        );
    }
    let file = std::fs::File::open(out.join("detected_transcripts.csv")).unwrap();
    let rows = robofish_host::run::read_transcripts_csv(file, "table").unwrap();
    let fovs: std::collections::BTreeSet<_> = rows.iter().map(|t| t.fov).collect();
    assert_eq!(fovs.len(), 4, "every FOV contributes");
    for (i, a) in rows.iter().enumerate() {
        for b in &rows[i + 1..] {
            let apart_px = (a.global_x - b.global_x).hypot(a.global_y - b.global_y) / PIXEL_UM;
            assert!(
                a.fov == b.fov || a.gene != b.gene || apart_px >= 1.0,
                "{} is kept by FOV {} and FOV {} ({apart_px:.2} px apart)",
                a.gene,
                a.fov,
                b.fov
            );
        }
    }
}

/// `simulate --layout merlin` writes the tiles `--layout seed` writes, as
/// `.dax` FOVs on a stage grid, which `run` reads like a lab's folder.
#[test]
fn simulate_writes_a_merlin_acquisition() {
    let root = temp_dir("formats-simulate-merlin");
    let simulate = |layout: &str| {
        let out = root.join(layout);
        ok(robofish([
            "simulate",
            "--preset",
            "seed",
            "--layout",
            layout,
            "--train",
            "0",
            "--val",
            "0",
            "--test",
            "4",
            "--height",
            "48",
            "--width",
            "40",
            "--seed",
            "3",
            "--out",
            out.to_str().unwrap(),
        ]));
        out
    };
    let seed = simulate("seed");
    let merlin = simulate("merlin").join("test");
    assert!(merlin.join("Conventional_750_650_003_07.dax").is_file());
    let want = open(&seed, &[]).read_all().unwrap();
    let acquisition = open(&merlin, &[]);
    assert_eq!(acquisition.format, Format::Merlin);
    assert_eq!(acquisition.bit_order, BitOrder::Blocked);
    let got = acquisition.read_all().unwrap();
    assert_eq!(got.len(), 4);
    for (id, (got, want)) in got.iter().zip(&want).enumerate() {
        assert!(got.images == want.images, "FOV {id}'s images differ");
    }
    // A 2 x 2 grid of abutting 40 x 48 FOVs at MERlin's 0.108 µm.
    let stages: Vec<_> = acquisition.fovs.iter().map(|f| f.stage_um).collect();
    let um = |px: usize| px as f64 * 0.108;
    assert_eq!(
        stages,
        [
            Some((0.0, 0.0)),
            Some((um(40), 0.0)),
            Some((0.0, um(48))),
            Some((um(40), um(48)))
        ]
    );
    let out = root.join("run");
    let stdout = ok(robofish([
        "run",
        "--threads",
        "1",
        "--model",
        repo("models/anglerfish-static.rfm").to_str().unwrap(),
        "--data",
        merlin.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(out.join("detected_transcripts.csv").is_file(), "{stdout}");
}

/// A z-stack: `run` decodes every plane of every FOV (two identical planes
/// here), reporting each plane's `global_z`; `--z` picks one plane, which
/// gives the table of a single-plane acquisition.
#[test]
fn run_decodes_every_z_plane() {
    let grid = Grid::new();
    let root = temp_dir("formats-z");
    let single = root.join("single");
    grid.write_plain_stack(&single);
    let stack = root.join("stack");
    std::fs::create_dir_all(&stack).unwrap();
    for (id, tile) in grid.fovs.iter().enumerate() {
        // Pages colour fastest, then round, then z (`--planes ctz`).
        let pages: Vec<&[u16]> = (0..2 * IMAGE_COUNT)
            .map(|page| tile.image((page % 2) * 8 + (page / 2) % 8))
            .collect();
        write_stack(&stack.join(format!("stack-{id}.tif")), &pages, None);
    }
    std::fs::copy(single.join("positions.csv"), stack.join("positions.csv")).unwrap();
    let model = repo("models/anglerfish-static.rfm");
    let run = |data: &Path, name: &str, extra: &[&str]| {
        let out = root.join(name);
        let mut args = vec![
            "run",
            "--threads",
            "1",
            "--planes",
            "ctz",
            "--pixel-size",
            "0.25",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        ok(robofish(&args));
        let file = std::fs::File::open(out.join("detected_transcripts.csv")).unwrap();
        let rows = robofish_host::run::read_transcripts_csv(file, name).unwrap();
        (
            std::fs::read_to_string(out.join("detected_transcripts.csv")).unwrap(),
            rows,
        )
    };
    let (single_csv, single_rows) = run(&single, "run-single", &[]);
    assert!(single_rows.len() > 40);
    let (chosen_csv, _) = run(&stack, "run-z0", &["--z", "0"]);
    assert_eq!(
        chosen_csv, single_csv,
        "--z 0 of the stack is the single plane"
    );
    let (_, rows) = run(&stack, "run-all", &[]);
    assert_eq!(rows.len(), 2 * single_rows.len(), "both planes decoded");
    for z in [0.0, 1.0] {
        let plane: Vec<_> = rows.iter().filter(|t| t.global_z == z).collect();
        assert_eq!(plane.len(), single_rows.len(), "plane {z}");
        for (got, want) in plane.iter().zip(&single_rows) {
            let mut renamed = want.clone();
            renamed.global_z = z;
            renamed.transcript_id = want.transcript_id.replacen('-', &format!("-z{z}-"), 1);
            assert_eq!(**got, renamed);
        }
    }
}
