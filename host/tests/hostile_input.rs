//! Dataset files from elsewhere (ground-truth CSVs, codebooks, round TIFFs)
//! in any state, random or a valid file with bytes changed: the readers
//! return an error or a value, never panic.
use std::io::Cursor;
use std::path::Path;

use proptest::prelude::*;
use robofish_host::data::{decode_gray_tiff, parse_truth_csv, truth_csv, write_gray_tiff};
use robofish_host::sim::{preset, Codebook, Simulator, Split};

/// A real ground-truth file: the simulator's first `seed` tile, as written.
fn truth_text() -> String {
    let config = preset("seed").unwrap();
    let codebook = Codebook::mhd4(config.real_genes);
    let tile = Simulator::new(config, codebook.clone(), 1)
        .unwrap()
        .tile(Split::Train, 0);
    truth_csv(&tile.truth, &codebook)
}

fn valid_tiff(bits: u8) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tiff");
    let pixels: Vec<u16> = (0..12 * 10).map(|i| (i * 37 % 4000) as u16).collect();
    write_gray_tiff(&path, 12, 10, &pixels, bits).unwrap();
    std::fs::read(&path).unwrap()
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    for &(at, value) in edits {
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = value;
        }
    }
    let keep = bytes.len() - cut % (bytes.len() + 1);
    bytes.truncate(keep);
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn truth_csv_never_panics(text in "\\PC{0,300}") {
        let codebook = Codebook::mhd4(130);
        let _ = parse_truth_csv(&text, Path::new("x.csv"), 40, 40, Some(&codebook));
        let _ = parse_truth_csv(&text, Path::new("x.csv"), 40, 40, None);
    }

    #[test]
    fn mutated_truth_csv_never_panics(edits in prop::collection::vec((0usize..4000, 0u8..128), 1..6), cut in 0usize..4000) {
        let bytes = mutate(truth_text().into_bytes(), &edits, cut);
        let text = String::from_utf8_lossy(&bytes);
        let codebook = Codebook::mhd4(130);
        let _ = parse_truth_csv(&text, Path::new("x.csv"), 40, 40, Some(&codebook));
    }

    #[test]
    fn codebook_csv_never_panics(text in "\\PC{0,300}") {
        let _ = Codebook::from_csv(&text);
    }

    #[test]
    fn random_bytes_are_no_tiff(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_gray_tiff(Cursor::new(bytes), Path::new("x.tiff"));
    }

    #[test]
    fn mutated_tiffs_never_panic(
        bits in prop_oneof![Just(8u8), Just(16u8)],
        edits in prop::collection::vec((0usize..1000, any::<u8>()), 1..8),
        cut in 0usize..300,
    ) {
        let bytes = mutate(valid_tiff(bits), &edits, cut);
        if let Ok(image) = decode_gray_tiff(Cursor::new(bytes), Path::new("x.tiff")) {
            prop_assert_eq!(image.pixels.len(), image.height * image.width);
        }
    }
}

#[test]
fn the_unmutated_files_parse() {
    let codebook = Codebook::mhd4(130);
    let emitters =
        parse_truth_csv(&truth_text(), Path::new("x.csv"), 40, 40, Some(&codebook)).unwrap();
    assert_eq!(emitters.len(), 50);
    for bits in [8, 16] {
        let image = decode_gray_tiff(Cursor::new(valid_tiff(bits)), Path::new("x.tiff")).unwrap();
        assert_eq!((image.height, image.width, image.bits), (12, 10, bits));
    }
}
