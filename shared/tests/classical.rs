//! The classical decoder on hand-made scenes: bright isolated spots, bit
//! errors, camera changes and degenerate inputs.

use proptest::prelude::*;
use robofish_shared::classical::{ClassicalDecoder, ClassicalError, ClassicalSpot, Params};
use robofish_shared::codebook::{mhd4_words, BitOrder, MHD4_WORD_COUNT};
use robofish_shared::engine::{InputImage, Pixels};
use robofish_shared::rng::SplitMix64;

const SIZE: usize = 48;

/// A molecule: position (pixel centres at integers) and the barcode bits
/// it lights, with a peak of `photons` photons per lit bit.
#[derive(Clone, Copy)]
struct Molecule {
    y: f64,
    x: f64,
    word: u16,
    photons: f64,
}

/// Expected photons of the 16 images (planar, by image = barcode bit in
/// the blocked order): 20 per pixel and a gradient, plus Gaussian spots of
/// sigma 1.2 px.
fn photons(molecules: &[Molecule]) -> Vec<f64> {
    let mut expected = vec![0.0; 16 * SIZE * SIZE];
    for (image, plane) in expected.chunks_exact_mut(SIZE * SIZE).enumerate() {
        for (i, p) in plane.iter_mut().enumerate() {
            let x = (i % SIZE) as f64;
            *p = 20.0 * (1.0 + 0.3 * x / SIZE as f64) + image as f64;
        }
        for m in molecules.iter().filter(|m| m.word & (1 << image) != 0) {
            for (i, p) in plane.iter_mut().enumerate() {
                let (dy, dx) = ((i / SIZE) as f64 - m.y, (i % SIZE) as f64 - m.x);
                *p += m.photons * (-(dy * dy + dx * dx) / (2.0 * 1.44)).exp();
            }
        }
    }
    expected
}

/// One noisy exposure in photons (Gaussian shot noise), fixed by `seed`.
fn expose(expected: &[f64], seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    expected
        .iter()
        .map(|&p| (p + p.sqrt() * rng.normal()).max(0.0))
        .collect()
}

/// The exposure as a 16-bit camera with `gain` and `offset` records it.
fn record(photons: &[f64], gain: f64, offset: f64) -> Vec<u16> {
    photons
        .iter()
        .map(|&p| (gain * p + offset).round().clamp(0.0, 65535.0) as u16)
        .collect()
}

fn decode(params: Params, pixels: &[u16]) -> Vec<ClassicalSpot> {
    let words = mhd4_words();
    let blank = [false; MHD4_WORD_COUNT];
    let decoder = ClassicalDecoder::new(params, &words, &blank, BitOrder::Blocked).unwrap();
    let image = InputImage::planar(Pixels::U16(pixels), 16, SIZE, SIZE).unwrap();
    decoder.decode(&image).unwrap()
}

/// Molecules on a grid 12 px apart, each with codeword `i * 7` of the
/// MHD4 list, at sub-pixel positions.
fn grid_molecules(photons: f64) -> Vec<Molecule> {
    let words = mhd4_words();
    (0..9)
        .map(|i| Molecule {
            y: 8.0 + 14.0 * (i / 3) as f64 + 0.1 * (i % 4) as f64,
            x: 9.0 + 14.0 * (i % 3) as f64 - 0.15 * (i % 3) as f64,
            word: words[i * 7],
            photons,
        })
        .collect()
}

/// The decoded spot within `radius` of `m`, if exactly one.
fn spot_at(spots: &[ClassicalSpot], m: &Molecule, radius: f32) -> Option<ClassicalSpot> {
    let near: Vec<_> = spots
        .iter()
        .filter(|s| ((s.y - m.y as f32).powi(2) + (s.x - m.x as f32).powi(2)).sqrt() <= radius)
        .collect();
    (near.len() == 1).then(|| *near[0])
}

#[test]
fn isolated_bright_spots_are_found_in_place_with_their_gene() {
    let molecules = grid_molecules(60.0);
    let pixels = record(&expose(&photons(&molecules), 1), 1.0, 100.0);
    let spots = decode(Params::default(), &pixels);
    assert_eq!(spots.len(), molecules.len(), "{spots:?}");
    let words = mhd4_words();
    for m in &molecules {
        let spot = spot_at(&spots, m, 0.5).expect("one spot on each molecule");
        let call = spot.call().expect("called");
        assert_eq!(words[usize::from(call.codeword)], m.word);
        assert_eq!(call.distance, 0);
        assert!((0.9..=1.0).contains(&call.confidence), "{call:?}");
        assert!(spot.intensity > 10.0);
        assert!((spot.y - m.y as f32).abs() < 0.25 && (spot.x - m.x as f32).abs() < 0.25);
    }
}

#[test]
fn one_bit_errors_are_corrected_and_two_bit_errors_rejected() {
    let words = mhd4_words();
    let mut molecules = grid_molecules(60.0);
    let lowest = |w: u16| 1u16 << w.trailing_zeros();
    let first_off = |w: u16| 1u16 << (!w).trailing_zeros();
    // 0: a dropped bit; 1: a spurious bit; 2: both (distance 2);
    // 3: two dropped bits (distance 2).
    let originals: Vec<u16> = molecules.iter().map(|m| m.word).collect();
    molecules[0].word &= !lowest(molecules[0].word);
    molecules[1].word |= first_off(molecules[1].word);
    molecules[2].word =
        (molecules[2].word & !lowest(molecules[2].word)) | first_off(molecules[2].word);
    let w3 = molecules[3].word & !lowest(molecules[3].word);
    molecules[3].word = w3 & !lowest(w3);
    let pixels = record(&expose(&photons(&molecules), 2), 1.0, 100.0);
    let spots = decode(Params::default(), &pixels);

    for (index, expected) in [(0, 1), (1, 1)] {
        let spot = spot_at(&spots, &molecules[index], 0.6).expect("found");
        let call = spot.call().expect("corrected");
        assert_eq!(words[usize::from(call.codeword)], originals[index]);
        assert_eq!(call.distance, expected);
    }
    for index in [2, 3] {
        if let Some(spot) = spot_at(&spots, &molecules[index], 1.5) {
            assert_eq!(spot.call(), None, "a distance-2 word must not be called");
            assert!(spot.decoded.nearest_distance >= 2);
        }
    }
    // Unassigned candidates are not reported at all with an infinite
    // threshold.
    let strict = Params {
        unassigned_threshold: f32::INFINITY,
        ..Params::default()
    };
    let spots = decode(strict, &pixels);
    assert!(spots.iter().all(|s| s.call().is_some()));
    assert!(spot_at(&spots, &molecules[2], 1.5).is_none());
}

#[test]
fn camera_offset_and_gain_do_not_change_the_spots() {
    let molecules = grid_molecules(25.0);
    let exposure = expose(&photons(&molecules), 3);
    let reference = decode(Params::default(), &record(&exposure, 1.0, 0.0));
    assert!(reference.len() >= molecules.len() - 1);
    for (gain, offset) in [
        (1.0, 100.0),
        (1.0, 1000.0),
        (0.5, 100.0),
        (2.0, 0.0),
        (8.0, 1000.0),
    ] {
        let spots = decode(Params::default(), &record(&exposure, gain, offset));
        assert!(
            spots.len().abs_diff(reference.len()) <= 1,
            "gain {gain} offset {offset}: {} vs {} spots",
            spots.len(),
            reference.len()
        );
        let mut same = 0;
        for r in &reference {
            let close = spots.iter().any(|s| {
                s.call().map(|c| c.codeword) == r.call().map(|c| c.codeword)
                    && (s.y - r.y).abs() < 0.1
                    && (s.x - r.x).abs() < 0.1
                    && (s.intensity / r.intensity - 1.0).abs() < 0.1
            });
            same += usize::from(close);
        }
        assert!(
            same + 1 >= reference.len(),
            "gain {gain} offset {offset}: {same} of {}",
            reference.len()
        );
    }
}

#[test]
fn pure_noise_gives_almost_no_spots() {
    let pixels = record(&expose(&photons(&[]), 4), 1.0, 100.0);
    let spots = decode(Params::default(), &pixels);
    assert!(spots.len() <= 1, "{spots:?}");
}

#[test]
fn eight_bit_and_interleaved_images_decode() {
    let molecules = grid_molecules(60.0);
    let exposure = expose(&photons(&molecules), 5);
    // Interleaved: image `i` carries barcode bit `bit_of_image(i)`; lay
    // the blocked planes out accordingly.
    let order = BitOrder::Interleaved;
    let plane = SIZE * SIZE;
    let blocked = record(&exposure, 1.0, 10.0);
    let mut pixels = vec![0u8; 16 * plane];
    for image in 0..16 {
        let bit = order.bit_of_image(image);
        for (out, &v) in pixels[image * plane..][..plane]
            .iter_mut()
            .zip(&blocked[bit * plane..][..plane])
        {
            *out = v.min(255) as u8;
        }
    }
    let words = mhd4_words();
    let blank = [false; MHD4_WORD_COUNT];
    let decoder = ClassicalDecoder::new(Params::default(), &words, &blank, order).unwrap();
    let image = InputImage::planar(Pixels::U8(&pixels), 16, SIZE, SIZE).unwrap();
    let spots = decoder.decode(&image).unwrap();
    for m in &molecules {
        let spot = spot_at(&spots, m, 0.5).expect("found");
        assert_eq!(
            spot.call().map(|c| words[usize::from(c.codeword)]),
            Some(m.word)
        );
    }
}

#[test]
fn bad_inputs_are_errors() {
    let words = mhd4_words();
    let blank = [false; MHD4_WORD_COUNT];
    assert!(matches!(
        ClassicalDecoder::new(Params::default(), &words, &blank[..3], BitOrder::Blocked),
        Err(ClassicalError::Codebook(_))
    ));
    let bad = Params {
        smoothing_sigma: f32::NAN,
        ..Params::default()
    };
    let error = ClassicalDecoder::new(bad, &words, &blank, BitOrder::Blocked).unwrap_err();
    assert!(error.to_string().contains("smoothing_sigma"), "{error}");
    let decoder =
        ClassicalDecoder::new(Params::default(), &words, &blank, BitOrder::Blocked).unwrap();
    let pixels = [0u16; 8 * 4];
    let image = InputImage::planar(Pixels::U16(&pixels), 8, 2, 2).unwrap();
    assert_eq!(
        decoder.decode(&image).unwrap_err(),
        ClassicalError::ImageCount { channels: 8 }
    );
    assert!(Params::default().halo_rows() > 0);
}

/// Every call is a valid one: a codeword within one bit, a confidence
/// that is a probability, finite positions inside the image.
fn assert_sane(spots: &[ClassicalSpot], height: usize, width: usize) {
    for spot in spots {
        assert!(spot.y.is_finite() && spot.x.is_finite() && spot.intensity.is_finite());
        assert!(spot.y > -1.0 && spot.y < height as f32, "{spot:?}");
        assert!(spot.x > -1.0 && spot.x < width as f32, "{spot:?}");
        if let Some(call) = spot.call() {
            assert!(call.distance <= 1, "{spot:?}");
            assert!((0.0..=1.0).contains(&call.confidence), "{spot:?}");
        }
    }
}

#[test]
fn crowded_scenes_of_random_words_stay_sane() {
    // Dense molecules with arbitrary words (most not codewords) and bright
    // pixels: every stage (registration, rounds, pair splits) runs.
    for seed in 0..6 {
        let mut rng = SplitMix64::new(100 + seed);
        let molecules: Vec<Molecule> = (0..140)
            .map(|_| Molecule {
                y: rng.uniform() * SIZE as f64,
                x: rng.uniform() * SIZE as f64,
                word: rng.next_u64() as u16 & rng.next_u64() as u16,
                photons: 10.0 + 90.0 * rng.uniform(),
            })
            .collect();
        let mut exposure = expose(&photons(&molecules), seed);
        for _ in 0..50 {
            let i = rng.below(exposure.len() as u64) as usize;
            exposure[i] = 1e6;
        }
        let spots = decode(
            Params::default(),
            &record(&exposure, 1.0 + seed as f64, 100.0),
        );
        assert!(!spots.is_empty());
        assert_sane(&spots, SIZE, SIZE);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn degenerate_images_never_panic(
        height in 1usize..7,
        width in 1usize..7,
        kind in 0u8..4,
        seed in any::<u64>(),
        eight_bit in any::<bool>(),
    ) {
        let mut rng = SplitMix64::new(seed);
        let n = 16 * height * width;
        let values: Vec<u16> = (0..n)
            .map(|_| match kind {
                0 => 0,
                1 => u16::MAX,
                2 => rng.below(3) as u16,
                _ => rng.next_u64() as u16,
            })
            .collect();
        let bytes: Vec<u8> = values.iter().map(|&v| v as u8).collect();
        let pixels = if eight_bit { Pixels::U8(&bytes) } else { Pixels::U16(&values) };
        let words = mhd4_words();
        let blank: Vec<bool> = (0..MHD4_WORD_COUNT).map(|i| i >= 130).collect();
        let pooled = Params { peak_radius: 0, ..Params::default() };
        for params in [Params::default(), pooled] {
            let decoder = ClassicalDecoder::new(params, &words, &blank, BitOrder::Blocked).unwrap();
            let image = InputImage::planar(pixels, 16, height, width).unwrap();
            let spots = decoder.decode(&image).unwrap();
            assert_sane(&spots, height, width);
            for call in spots.iter().filter_map(ClassicalSpot::call) {
                prop_assert_eq!(call.blank, usize::from(call.codeword) >= 130);
            }
        }
    }
}
