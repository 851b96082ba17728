use super::*;
use crate::sim::{preset, Codebook, Simulator, Split, Tile};
use std::path::Path;

fn simulator(bits: u8) -> Simulator {
    let mut config = preset("seed").unwrap();
    config.camera = config.camera.with_bits(bits);
    Simulator::new(config, Codebook::mhd4(130), 4).unwrap()
}

fn write_dataset(root: &Path, sim: &Simulator, tiles: usize) -> Vec<Tile> {
    write_codebook(root, sim.codebook()).unwrap();
    let dir = split_dir(root, Split::Test);
    let config = DatasetConfig::for_simulation(sim.config(), tiles, 4);
    write_split_config(&dir, &config).unwrap();
    (0..tiles)
        .map(|index| {
            let tile = sim.tile(Split::Test, index);
            write_tile(
                &dir,
                index + 1,
                &tile,
                sim.codebook(),
                sim.config().camera.bits,
            )
            .unwrap();
            tile
        })
        .collect()
}

#[test]
fn written_dataset_reads_back_equal() {
    for bits in [16, 8] {
        let root = tempfile::tempdir().unwrap();
        let sim = simulator(bits);
        let tiles = write_dataset(root.path(), &sim, 3);
        let dataset = Dataset::open(root.path(), None).unwrap();
        assert_eq!(dataset.codebook.as_ref(), Some(sim.codebook()));
        assert_eq!(dataset.tile_numbers(Split::Test).unwrap(), [1, 2, 3]);
        assert_eq!(
            dataset.read_split(Split::Test).unwrap(),
            tiles,
            "{bits} bits"
        );
        let config = dataset.config(Split::Test).unwrap().unwrap();
        assert_eq!(config.simulation.robofish.as_ref(), Some(sim.config()));
        assert_eq!(config.simulation.image_size, ImageSize::Square(40));
        assert_eq!(config.simulation.emitter_count, 50);
        if bits == 8 {
            assert!(tiles.iter().all(|t| t.images.iter().all(|&v| v <= 255)));
        }
    }
}

#[test]
fn original_layout_file_names() {
    let root = tempfile::tempdir().unwrap();
    write_dataset(root.path(), &simulator(16), 1);
    let dir = root.path().join("test/1");
    for name in [
        "647nm, Raw/merFISH_01_001_01.tiff",
        "647nm, Raw/merFISH_08_001_01.tiff",
        "750nm, Raw/merFISH_08_001_01.tiff",
        "groundtruths/groundtruth_1.csv",
        "groundtruths/frequency_1.csv",
        "config.yml",
    ] {
        assert!(dir.join(name).is_file(), "{name}");
    }
    let csv = std::fs::read_to_string(dir.join("groundtruths/groundtruth_1.csv")).unwrap();
    let first_row = csv.lines().nth(1).unwrap();
    let fields: Vec<&str> = first_row.split(',').collect();
    assert_eq!(&csv[..27], "row,column,barcode,y,x,gene");
    assert!(
        fields[2].starts_with('[') && fields[2].len() == 18,
        "{first_row}"
    );
    let yaml = std::fs::read_to_string(dir.join("config.yml")).unwrap();
    assert!(
        yaml.starts_with("simulation:\n  image_size: 40\n  tile_count: 1\n  emitter_count: 50\n"),
        "{yaml}"
    );
}

#[test]
fn same_seed_gives_byte_identical_files() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_dataset(a.path(), &simulator(16), 2);
    write_dataset(b.path(), &simulator(16), 2);
    let files = |root: &Path| {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push((
                        path.strip_prefix(root).unwrap().to_path_buf(),
                        std::fs::read(&path).unwrap(),
                    ));
                }
            }
        }
        out.sort();
        out
    };
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert_eq!(fa.len(), 1 + 1 + 2 * (16 + 2));
    assert!(fa == fb, "files differ");
}

#[test]
fn missing_round_names_the_file() {
    let root = tempfile::tempdir().unwrap();
    write_dataset(root.path(), &simulator(16), 1);
    let missing = root.path().join("test/1/750nm, Raw/merFISH_03_001_01.tiff");
    std::fs::remove_file(&missing).unwrap();
    let err = Dataset::open(root.path(), None)
        .unwrap()
        .read_tile(Split::Test, 1)
        .unwrap_err();
    assert!(
        matches!(&err, DataError::Missing { path, .. } if *path == missing),
        "{err}"
    );
    assert!(err.to_string().contains("merFISH_03_001_01.tiff"));
}

#[test]
fn wrong_image_size_names_the_file() {
    let root = tempfile::tempdir().unwrap();
    write_dataset(root.path(), &simulator(16), 1);
    let path = root.path().join("test/1/647nm, Raw/merFISH_05_001_01.tiff");
    write_gray_tiff(&path, 20, 40, &vec![0; 800], 16).unwrap();
    let err = Dataset::open(root.path(), None)
        .unwrap()
        .read_tile(Split::Test, 1)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            DataError::WrongSize {
                found_height: 20,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("merFISH_05_001_01.tiff"), "{err}");
}

#[test]
fn bad_csv_rows_name_file_and_line() {
    let root = tempfile::tempdir().unwrap();
    write_dataset(root.path(), &simulator(16), 1);
    let path = root.path().join("test/1/groundtruths/groundtruth_1.csv");
    let good = std::fs::read_to_string(&path).unwrap();
    let dataset = Dataset::open(root.path(), None).unwrap();
    let cases = [
        ("1,2,[01001000000100],1.5,2.5,,0", "16 characters"),
        ("1,2,[0100100000010012],1.5,2.5,,0", "not 0 or 1"),
        ("99,2,[0100100000010010],1.5,2.5,,0", "outside"),
        ("x,2,[0100100000010010],1.5,2.5,,0", "not a valid number"),
        ("1,2,[0100100000010010],7.5,2.5,,0", "not inside pixel"),
        (
            "1,2,[0100100000010010],1.5,2.5,NoSuchGene,0",
            "not in the codebook",
        ),
        ("1,2", "missing `barcode`"),
    ];
    for (row, expected) in cases {
        let mut lines: Vec<&str> = good.lines().take(3).collect();
        lines.push(row);
        std::fs::write(&path, lines.join("\n")).unwrap();
        let err = dataset.read_tile(Split::Test, 1).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, DataError::Csv { line: 4, .. }), "{message}");
        assert!(
            message.contains("groundtruth_1.csv") && message.contains(expected),
            "{message}"
        );
    }
    std::fs::write(&path, "r,c,b\n").unwrap();
    let message = dataset.read_tile(Split::Test, 1).unwrap_err().to_string();
    assert!(
        message.contains("line 1") && message.contains("no `row` column"),
        "{message}"
    );
}

#[test]
fn original_style_rgb_tiffs_and_bare_csv_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("test/1");
    create_split_dirs(&split).unwrap();
    for image in 0..16 {
        let path = image_path(&split, image, 1);
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut encoder = tiff::encoder::TiffEncoder::new(file).unwrap();
        // Channel 0 carries the value, channels 1 and 2 are noise to ignore.
        let rgb: Vec<u8> = (0..4 * 3)
            .map(|i| {
                if i % 3 == 0 {
                    (image * 10 + i / 3) as u8
                } else {
                    200
                }
            })
            .collect();
        encoder
            .write_image::<tiff::encoder::colortype::RGB8>(2, 2, &rgb)
            .unwrap();
    }
    let truth = ",row,column,barcode\n0,1,0,[0100100000010010]\n";
    std::fs::write(truth_path(&split, 1), truth).unwrap();
    let book = Codebook::mhd4(130);
    let tile = read_tile(&split, 1, Some(&book)).unwrap();
    assert_eq!((tile.height, tile.width), (2, 2));
    assert_eq!(tile.image(3), [30, 31, 32, 33]);
    let emitter = tile.truth[0];
    assert_eq!((emitter.y, emitter.x), (1.5, 0.5));
    assert_eq!(emitter.word, parse_barcode("0100100000010010").unwrap());
    assert_eq!(emitter.word, 0b0100_1000_0001_0010u16.reverse_bits());
    assert_eq!(
        emitter.gene,
        book.index_of_word(emitter.word)
            .unwrap_or(crate::sim::UNKNOWN_GENE)
    );
    assert!(Dataset::open(dir.path(), None).unwrap().codebook.is_none());
}

#[test]
fn codebook_override_wins_and_errors_name_the_file() {
    let root = tempfile::tempdir().unwrap();
    write_codebook(root.path(), &Codebook::mhd4(130)).unwrap();
    let other = root.path().join("other.csv");
    std::fs::write(&other, Codebook::mhd4(100).to_csv()).unwrap();
    assert_eq!(
        resolve_codebook(root.path(), None).unwrap(),
        Codebook::mhd4(130)
    );
    assert_eq!(
        resolve_codebook(root.path(), Some(&other)).unwrap(),
        Codebook::mhd4(100)
    );
    std::fs::write(&other, "name, id\n").unwrap();
    let message = resolve_codebook(root.path(), Some(&other))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("other.csv") && message.contains("line 1"),
        "{message}"
    );
    // The whole chain, as `main` prints it, names the line once.
    let chain = format!(
        "{:#}",
        anyhow::Error::from(resolve_codebook(root.path(), Some(&other)).unwrap_err())
    );
    assert_eq!(chain.matches("line 1").count(), 1, "{chain}");
    let empty = tempfile::tempdir().unwrap();
    let message = resolve_codebook(empty.path(), None)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("codebook.csv") && message.contains("--codebook"),
        "{message}"
    );
}
