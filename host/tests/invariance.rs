//! Camera invariance: the same simulated scenes (same emitters, same photon
//! and read-noise draws) recorded by cameras with another offset (0 / 100 /
//! 1000 ADU), gain (0.5 / 2 / 8 ADU/e-) or bit depth (16 vs 8) give the
//! same detections.
//!
//! Against the reference recording (16-bit, gain 2, offset 100) each
//! variant's detections must match the reference's with spot F1 >= 0.98,
//! and its gene F1 against the ground truth must be within 0.01 of the
//! reference's. Checked for the classical decoder (which shares the
//! network's per-image statistics) and for the shipped default model.

use std::path::PathBuf;

use robofish_host::evaluate::classical::predicted_spot;
use robofish_host::evaluate::engines::{Engine, Int8Engine};
use robofish_host::evaluate::spots::{detect_spots, truth_spots, DecodeBook, MATCH_RADIUS};
use robofish_host::sim::{preset, BitOrder, Camera, Simulator, Split, Tile};
use robofish_shared::classical::{ClassicalDecoder, Params};
use robofish_shared::codebook::Codebook;
use robofish_shared::engine::{InputImage, Pixels};
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::decode_model;
use robofish_shared::post::metrics::{
    evaluate_spots, spot_counts, MatchRule, PredictedSpot, SpotCounts, TruthSpot,
};

/// The shipped default model (the demo's).
const DEFAULT_MODEL: &str = "anglerfish-static.rfm";
const TILES: usize = 40;
const SCENE_SEED: u64 = 4242;
/// Read noise in photo-electrons, the same for every camera (so in ADU it
/// scales with the gain, as on a real sensor).
const READ_NOISE_ELECTRONS: f64 = 1.5;

fn camera(bits: u8, gain: f64, offset: f64) -> Camera {
    Camera {
        bits,
        gain,
        offset,
        read_noise: gain * READ_NOISE_ELECTRONS,
        ..Camera::ideal()
    }
}

/// The scenes of the `seed` preset recorded with `camera`.
fn record(camera: Camera) -> (Vec<Tile>, Codebook) {
    let mut config = preset("seed").unwrap();
    config.camera = camera;
    let codebook = Codebook::mhd4(config.real_genes);
    let sim = Simulator::new(config, codebook.clone(), SCENE_SEED).unwrap();
    let tiles = (0..TILES).map(|i| sim.tile(Split::Test, i)).collect();
    (tiles, codebook)
}

/// Each tile's detections by the network as predicted spots (gene = codeword
/// index).
fn network_spots(
    engine: &mut Int8Engine,
    tiles: &[Tile],
    book: &DecodeBook,
) -> Vec<Vec<PredictedSpot>> {
    let decoder = book.decoder().unwrap();
    tiles
        .iter()
        .map(|tile| {
            engine.load(tile).unwrap();
            engine.forward().unwrap();
            let (position, barcode) = engine.maps().unwrap().to_u8();
            detect_spots(&position, &barcode, tile.height, tile.width, Some(&decoder))
                .unwrap()
                .iter()
                .map(|d| d.predicted_spot())
                .collect()
        })
        .collect()
}

/// Each tile's detections by the classical decoder.
fn classical_spots(tiles: &[Tile], codebook: &Codebook) -> Vec<Vec<PredictedSpot>> {
    let (words, blank) = (codebook.words(), codebook.blank_flags());
    let decoder =
        ClassicalDecoder::new(Params::default(), &words, &blank, BitOrder::Blocked).unwrap();
    tiles
        .iter()
        .map(|tile| {
            let pixels = Pixels::U16(&tile.images);
            let image = InputImage::planar(pixels, 16, tile.height, tile.width).unwrap();
            decoder
                .decode(&image)
                .unwrap()
                .iter()
                .map(predicted_spot)
                .collect()
        })
        .collect()
}

/// Gene-aware counts against the ground truth, over all tiles.
fn gene_counts(tiles: &[Tile], spots: &[Vec<PredictedSpot>], book: &DecodeBook) -> SpotCounts {
    let mut total = SpotCounts::default();
    for (tile, predicted) in tiles.iter().zip(spots) {
        let truth = truth_spots(tile, Some(book));
        total.merge(
            &evaluate_spots(&truth, predicted, MATCH_RADIUS)
                .unwrap()
                .genes,
        );
    }
    total
}

/// Detection counts of `spots` against the reference's detections.
fn agreement(reference: &[Vec<PredictedSpot>], spots: &[Vec<PredictedSpot>]) -> SpotCounts {
    let mut total = SpotCounts::default();
    for (reference, predicted) in reference.iter().zip(spots) {
        let as_truth: Vec<TruthSpot> = reference
            .iter()
            .map(|p| TruthSpot {
                y: p.y,
                x: p.x,
                gene: p.gene,
            })
            .collect();
        total.merge(&spot_counts(&as_truth, predicted, MATCH_RADIUS, MatchRule::Position).unwrap());
    }
    total
}

/// Records the scenes with every camera, finds the spots with `spots` and
/// checks each variant against the reference recording.
fn check_invariance(mut spots: impl FnMut(&[Tile], &DecodeBook) -> Vec<Vec<PredictedSpot>>) {
    let (reference_tiles, codebook) = record(camera(16, 2.0, 100.0));
    let book = DecodeBook::from_codebook(&codebook, "simulator");
    let reference = spots(&reference_tiles, &book);
    let reference_genes = gene_counts(&reference_tiles, &reference, &book).f1();
    let found: usize = reference.iter().map(Vec::len).sum();
    let emitters: usize = reference_tiles.iter().map(|t| t.truth.len()).sum();
    assert!(
        found * 10 >= emitters * 8,
        "the reference recording finds only {found} of {emitters} emitters"
    );

    let variants = [
        ("offset 0", camera(16, 2.0, 0.0)),
        ("offset 1000", camera(16, 2.0, 1000.0)),
        ("gain 0.5", camera(16, 0.5, 100.0)),
        ("gain 8", camera(16, 8.0, 100.0)),
        // An 8-bit camera needs a low gain for the brightest spots to fit
        // below 255; this one clips none of the seed preset's spots.
        ("8-bit", camera(8, 0.4, 10.0)),
    ];
    let mut failures = Vec::new();
    for (name, camera) in variants {
        let (tiles, _) = record(camera);
        let found = spots(&tiles, &book);
        let spot_f1 = agreement(&reference, &found).f1();
        let gene_f1 = gene_counts(&tiles, &found, &book).f1();
        eprintln!(
            "{name}: spot F1 vs reference {spot_f1:.4}, gene F1 {gene_f1:.4} (reference {reference_genes:.4})"
        );
        if spot_f1 < 0.98 || (gene_f1 - reference_genes).abs() > 0.01 {
            failures.push(format!(
                "{name}: spot F1 vs reference {spot_f1:.4} (>= 0.98), gene F1 {gene_f1:.4} vs {reference_genes:.4} (within 0.01)"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn classical_detections_do_not_depend_on_the_camera() {
    let codebook = Codebook::mhd4(preset("seed").unwrap().real_genes);
    check_invariance(|tiles, _| classical_spots(tiles, &codebook));
}

#[test]
#[ignore = "the shipped model is the seed-trained fixed-normalisation one; the wide-domain per-image default is still training (scripts/train-wide-domain.sh)"]
fn network_detections_do_not_depend_on_the_camera() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(DEFAULT_MODEL);
    let model = decode_model(&std::fs::read(&path).unwrap()).unwrap();
    let mut engine = Int8Engine::new(model, KernelPath::from_env().unwrap()).unwrap();
    check_invariance(|tiles, book| network_spots(&mut engine, tiles, book));
}
