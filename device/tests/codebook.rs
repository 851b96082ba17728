//! The experiment's codebook on the device: a codebook that differs from
//! the model's in names, order and blanks names the right genes and its
//! blanks drive the misidentification estimate; a code closer than
//! distance 4 decodes without correction; hostile uploads get one error
//! each and the device keeps serving.

mod common;

use std::io::Write;

use robofish_device::client::{spawn_local, Client, FovResult};
use robofish_device::Device;
use robofish_shared::codebook::{mhd4_words, CodeWarning, Codebook, CodebookEntry};
use robofish_shared::engine::{InputImage, Network, Pixels};
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::{encode_model, Model};
use robofish_shared::post::{Decoder, BARCODE_BITS};
use robofish_shared::protocol::{
    CodebookChunk, CodebookSource, CodebookWord, DeviceMessage, ErrorKind, HostMessage,
    MAX_CODEBOOK_WORDS, MAX_GENE_NAME_BYTES, PROTOCOL_VERSION, UNASSIGNED_GENE,
};
use robofish_shared::synthetic::camera_tile;

/// A random model whose barcode maps land near MHD4 words often (seed 22
/// calls about 60 % of its spots; see [`common::model`] for its codebook).
fn model() -> Model {
    common::model(22)
}

fn codebook(entries: impl IntoIterator<Item = (String, u16)>) -> Codebook {
    let entries = entries
        .into_iter()
        .map(|(name, word)| CodebookEntry {
            id: name.clone(),
            name,
            word,
        })
        .collect();
    Codebook::from_entries(entries).unwrap()
}

/// The MHD4 words in reverse order, renamed, with every fifth a blank
/// (none of them one of the model's blanks, the first 10 here). The random
/// model calls one word far more than others, entry 75 here: a blank in
/// this codebook, a gene in the model's, so the blank counts differ.
fn experiment_codebook() -> Codebook {
    let words = mhd4_words();
    codebook(words.iter().rev().enumerate().map(|(k, &word)| {
        let name = if k % 5 == 0 && k >= 10 {
            format!("BLANK_{k}")
        } else {
            format!("Exp{k:03}")
        };
        (name, word)
    }))
}

fn device() -> (
    Client<std::io::PipeReader, std::io::PipeWriter>,
    std::thread::JoinHandle<robofish_device::Result<robofish_device::ServeOutcome>>,
) {
    let mut device = Device::new(common::config(2));
    device.load_model(&encode_model(&model()).unwrap()).unwrap();
    let (mut client, handle) = spawn_local(device).unwrap();
    client.hello().unwrap();
    (client, handle)
}

const H: usize = 64;
const W: usize = 96;

fn tile(seed: u64) -> Vec<u16> {
    camera_tile(H, W, seed)
}

fn stream<R: std::io::Read, Wr: Write>(
    client: &mut Client<R, Wr>,
    id: u32,
    tile: &[u16],
) -> FovResult {
    client.send_fov(id, &common::fov(tile, H, W)).unwrap();
    let result = client.collect(id).unwrap();
    assert!(result.error.is_none(), "{:?}", result.error);
    result
}

/// The whole-image barcode maps of `tile`, to decode spots on the host.
fn bit_maps(tile: &[u16]) -> Vec<u8> {
    let network = Network::new(model(), KernelPath::from_env().unwrap()).unwrap();
    let plan = network.plan(H, W).unwrap();
    let mut arena = vec![0u8; plan.arena_bytes()];
    let image = InputImage::planar(Pixels::U16(tile), 16, H, W).unwrap();
    let (mut pos, mut bits) = (vec![0u8; H * W], vec![0u8; BARCODE_BITS * H * W]);
    network
        .run(&plan, &mut arena, &image, &mut [&mut pos, &mut bits])
        .unwrap();
    bits
}

#[test]
fn the_experiments_codebook_names_the_genes_and_its_blanks_count() {
    let experiment = experiment_codebook();
    let stored = model().metadata.codebook.unwrap();
    // Different names, order and blanks from the model's.
    assert_ne!(
        experiment.words(),
        stored.iter().map(|e| e.word).collect::<Vec<_>>()
    );
    let blank_words: Vec<u16> = (0..140)
        .filter(|&i| experiment.is_blank(i))
        .map(|i| experiment.word(i).unwrap())
        .collect();
    assert_eq!(blank_words.len(), 26);
    let model_blank = |word: u16| {
        stored
            .iter()
            .any(|e| e.word == word && e.name.starts_with("Blank"))
    };
    assert!(blank_words.iter().all(|&w| !model_blank(w)));

    let (mut client, handle) = device();
    let info = client.send_codebook(&experiment).unwrap();
    assert_eq!(info.source, CodebookSource::Experiment);
    assert_eq!((info.words, info.blank_words), (140, 26));
    assert_eq!((info.min_distance, info.corrects), (Some(4), true));

    let tile = tile(9);
    let result = stream(&mut client, 1, &tile);
    // Every spot decodes on the device as the host decodes it against the
    // experiment's codebook at the same pixel.
    let bits = bit_maps(&tile);
    let words = experiment.words();
    let blank = experiment.blank_flags();
    let decoder = Decoder::new(&words, &blank).unwrap();
    let (mut calls, mut blank_calls) = (0, 0);
    for spot in &result.spots {
        let want = decoder
            .decode_at(&bits, H, W, spot.row.into(), spot.col.into())
            .unwrap();
        match want.call {
            Some(call) => {
                assert_eq!((spot.gene, spot.distance), (call.codeword, call.distance));
                assert_eq!(spot.confidence, (call.confidence * 255.0).round() as u8);
                calls += 1;
                blank_calls += usize::from(call.blank);
            }
            None => {
                assert_eq!(spot.gene, UNASSIGNED_GENE);
                assert_eq!(spot.distance, want.nearest_distance);
            }
        }
    }
    assert!(
        calls > 100 && blank_calls > 10,
        "{calls} calls, {blank_calls} blank"
    );

    // The model's codebook calls the same words under its own names.
    assert_eq!(
        client.reset_codebook().unwrap().source,
        CodebookSource::Model
    );
    let by_model = stream(&mut client, 2, &tile);
    assert_eq!(by_model.spots.len(), result.spots.len());
    let mut renamed = 0;
    for (ours, theirs) in result.spots.iter().zip(&by_model.spots) {
        assert_eq!((ours.row, ours.col), (theirs.row, theirs.col));
        if ours.is_assigned() {
            let (gene, model_gene) = (usize::from(ours.gene), usize::from(theirs.gene));
            assert_eq!(experiment.word(gene), Some(stored[model_gene].word));
            let name = experiment.name(gene).unwrap();
            assert!(
                name.starts_with("Exp") || name.starts_with("BLANK_"),
                "{name}"
            );
            renamed += usize::from(name != stored[model_gene].name);
        }
    }
    assert_eq!(renamed, calls);

    // The misidentification estimate uses the experiment's blanks.
    let quality = result.quality.unwrap();
    assert_eq!((quality.blank_words, quality.coding_words), (26, 114));
    assert_eq!(quality.decoding.blank, blank_calls as u64);
    assert_eq!(quality.calls(), calls as u64);
    let coding_calls = (calls - blank_calls) as f64;
    let expected = blank_calls as f64 / 26.0 * 114.0 / coding_calls;
    assert!((quality.misidentification_rate().unwrap() - expected).abs() < 1e-12);
    let model_quality = by_model.quality.unwrap();
    assert_eq!(
        (model_quality.blank_words, model_quality.coding_words),
        (10, 130)
    );
    assert_ne!(model_quality.decoding.blank, quality.decoding.blank);
    // The session report sums both, and cannot pool two codebooks.
    let report = client.report().unwrap().quality.unwrap();
    assert_eq!(report.calls(), quality.calls() + model_quality.calls());
    assert_eq!(report.misidentification_rate(), None);
    client.shutdown().unwrap();
    handle.join().unwrap().unwrap();
}

#[test]
fn a_code_closer_than_four_decodes_without_correction_and_says_so() {
    // Every weight-4 word: neighbours at distance 2.
    let all: Vec<u16> = (1..=u16::MAX).filter(|w| w.count_ones() == 4).collect();
    let close = codebook(all.iter().enumerate().map(|(i, &word)| {
        let name = if i % 10 == 0 {
            format!("Blank-{i}")
        } else {
            format!("W{i}")
        };
        (name, word)
    }));
    assert!(close
        .profile()
        .warnings()
        .any(|w| w == CodeWarning::LowDistance { distance: 2 }));
    let (mut client, handle) = device();
    let info = client.send_codebook(&close).unwrap();
    assert_eq!(
        (info.words, info.min_distance, info.corrects),
        (1820, Some(2), false)
    );
    let tile = tile(4);
    let result = stream(&mut client, 1, &tile);
    let bits = bit_maps(&tile);
    let (words, blank) = (close.words(), close.blank_flags());
    let decoder = Decoder::new(&words, &blank).unwrap();
    assert!(!decoder.corrects());
    let calls: Vec<_> = result.spots.iter().filter(|s| s.is_assigned()).collect();
    assert!(calls.len() > 20, "{} calls", calls.len());
    for spot in &result.spots {
        let want = decoder
            .decode_at(&bits, H, W, spot.row.into(), spot.col.into())
            .unwrap();
        assert_eq!(spot.gene, want.call.map_or(UNASSIGNED_GENE, |c| c.codeword));
        if spot.is_assigned() {
            assert_eq!(spot.distance, 0, "exact matches only");
        }
    }
    let quality = result.quality.unwrap();
    assert_eq!(quality.decoding.corrected, 0);
    assert_eq!(quality.corrected_share(), Some(0.0));
    client.shutdown().unwrap();
    handle.join().unwrap().unwrap();
}

/// The error kinds the device answers `chunks` with, checked by a good FOV
/// after them (which must still work, and decode with `blank_words`
/// blanks: the codebook active before the hostile upload).
fn hostile<R: std::io::Read, Wr: Write>(
    client: &mut Client<R, Wr>,
    chunks: &[CodebookChunk],
    id: u32,
    blank_words: u16,
) -> Vec<ErrorKind> {
    for chunk in chunks {
        client
            .send(&HostMessage::CodebookChunk(chunk.clone()))
            .unwrap();
    }
    errors_then_good_fov(client, id, blank_words)
}

fn errors_then_good_fov<R: std::io::Read, Wr: Write>(
    client: &mut Client<R, Wr>,
    id: u32,
    blank_words: u16,
) -> Vec<ErrorKind> {
    let tile = tile(u64::from(id));
    common::errors_before_timing(client, id, &common::fov(&tile, H, W), |message| {
        if let DeviceMessage::Quality(q) = message {
            assert_eq!(q.calls.blank_words, blank_words);
        }
    })
}

#[test]
fn hostile_codebooks_get_one_error_each_and_the_device_keeps_serving() {
    let experiment = experiment_codebook();
    let words: Vec<CodebookWord> = experiment
        .entries()
        .iter()
        .map(|e| CodebookWord {
            name: e.name.as_str().try_into().unwrap(),
            word: e.word,
        })
        .collect();
    let good: Vec<CodebookChunk> = CodebookChunk::chunked(&words).collect();
    let (mut client, handle) = device();
    client.send_codebook(&experiment).unwrap();

    let mut oversized = good.clone();
    for chunk in &mut oversized {
        chunk.total_words = MAX_CODEBOOK_WORDS as u16 + 1;
    }
    let mut short = good.clone();
    short[2].words.pop();
    let mut duplicate = good.clone();
    duplicate[1].words[7].word = words[2].word;
    let mut zero = good.clone();
    zero[0].words[3].word = 0;
    let late_start = good[1..].to_vec();
    let cases = [
        (oversized, ErrorKind::Oversized),
        (short, ErrorKind::Malformed),
        (duplicate, ErrorKind::Malformed),
        (zero, ErrorKind::Malformed),
        (late_start, ErrorKind::OutOfOrder),
    ];
    for (id, (chunks, kind)) in (10..).zip(cases) {
        // One error per upload, whichever chunk failed; the experiment's
        // codebook (26 blanks) stays.
        assert_eq!(
            hostile(&mut client, &chunks, id, 26),
            vec![kind],
            "upload {id}"
        );
    }

    // A name too long does not even decode: one Malformed, nothing else.
    let name = "x".repeat(MAX_GENE_NAME_BYTES + 1);
    let body = (
        PROTOCOL_VERSION,
        10u32,
        1u16,
        0u16,
        true,
        vec![(name.as_str(), 15u16)],
    );
    let mut frame = vec![0u8];
    frame.extend(postcard::to_allocvec_cobs(&body).unwrap());
    let (reader, mut writer) = client.into_parts();
    writer.write_all(&frame).unwrap();
    let mut client = Client::new(reader, writer);
    assert_eq!(
        errors_then_good_fov(&mut client, 20, 26),
        vec![ErrorKind::Malformed]
    );

    // The client refuses what the wire cannot carry before sending it.
    let long = codebook([(name.clone(), 15u16), ("Blank".into(), 0xF0)]);
    let err = client.send_codebook(&long).unwrap_err().to_string();
    assert!(err.contains(&name) && err.contains("at most 48"), "{err}");

    // A good upload after all that is accepted; a new session forgets it.
    assert_eq!(client.send_codebook(&experiment).unwrap().blank_words, 26);
    client.hello().unwrap();
    assert!(errors_then_good_fov(&mut client, 21, 10).is_empty());
    client.shutdown().unwrap();
    handle.join().unwrap().unwrap();
}
