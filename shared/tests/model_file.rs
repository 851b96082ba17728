//! The model file: lossless round trip, one distinct error per corruption
//! class, and no panic on any byte string.

mod common;

use proptest::prelude::*;
use robofish_shared::checksum::crc32;
use robofish_shared::model::file::HEADER_LEN;
use robofish_shared::model::{decode_model, encode_model, ArchConfig, Model, ModelError, Node};

fn small_model() -> Model {
    common::quantised(&ArchConfig::seed().scaled(0.125), 3, 1, 16).1
}

/// Frames `payload` with a correct header, bypassing validation.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = b"ROBOFISH".to_vec();
    out.extend_from_slice(&robofish_shared::model::FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn round_trip_is_lossless() {
    let model = small_model();
    let bytes = encode_model(&model).unwrap();
    let back = decode_model(&bytes).unwrap();
    assert_eq!(back, model);
    assert_eq!(
        encode_model(&back).unwrap(),
        bytes,
        "re-encoding is byte-identical"
    );
}

#[test]
fn every_corruption_class_has_its_own_error() {
    let bytes = encode_model(&small_model()).unwrap();

    let truncated = decode_model(&bytes[..bytes.len() - 1]);
    assert!(
        matches!(truncated, Err(ModelError::Truncated { .. })),
        "{truncated:?}"
    );
    let header_only = decode_model(&bytes[..10]);
    assert!(
        matches!(header_only, Err(ModelError::Truncated { .. })),
        "{header_only:?}"
    );
    assert!(matches!(
        decode_model(&[]),
        Err(ModelError::Truncated { .. })
    ));

    let mut magic = bytes.clone();
    magic[0] = b'X';
    assert_eq!(decode_model(&magic), Err(ModelError::BadMagic));

    let mut version = bytes.clone();
    version[8] = 99;
    assert!(matches!(
        decode_model(&version),
        Err(ModelError::UnsupportedVersion { found: 99, .. })
    ));

    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x10;
    assert!(matches!(
        decode_model(&flipped),
        Err(ModelError::BadChecksum { .. })
    ));

    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(decode_model(&trailing), Err(ModelError::TrailingBytes(1)));

    let mut huge = bytes.clone();
    huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(decode_model(&huge), Err(ModelError::TooLarge(_))));

    let garbage = frame(&[0xff; 64]);
    assert!(matches!(
        decode_model(&garbage),
        Err(ModelError::Malformed(_))
    ));

    // Valid encoding, inconsistent graph: a conv whose weights don't match.
    let mut model = small_model();
    model.graph.tensors[1].channels += 1;
    let inconsistent = frame(&postcard::to_allocvec(&model).unwrap());
    let err = decode_model(&inconsistent).unwrap_err();
    assert!(matches!(err, ModelError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("channels"), "{err}");
}

#[test]
fn invalid_graphs_are_refused_with_reasons() {
    let base = small_model();
    type Corruption = Box<dyn Fn(&mut Model)>;
    let cases: Vec<(&str, Corruption)> = vec![
        ("never written", Box::new(|m| m.graph.nodes.truncate(3))),
        (
            "does not exist",
            Box::new(|m| {
                if let Node::Conv(c) = &mut m.graph.nodes[1] {
                    c.weights = 10_000;
                }
            }),
        ),
        ("-128", Box::new(|m| m.weights[0].data[0] = -128)),
        (
            "multiplier",
            Box::new(|m| {
                if let Node::Conv(c) = &mut m.graph.nodes[1] {
                    c.requant[0].shift = 0;
                }
            }),
        ),
        (
            "lookup table",
            Box::new(|m| {
                if let Node::Conv(c) = &mut m.graph.nodes[1] {
                    c.lut.pop();
                }
            }),
        ),
        (
            "int8 grid",
            Box::new(|m| {
                let t = m.graph.nodes.iter().find_map(|n| match n {
                    Node::Concat(c) => Some(c.inputs[0]),
                    _ => None,
                });
                m.tensor_quant[t.unwrap() as usize].scale *= 2.0;
            }),
        ),
        (
            "normalisation",
            Box::new(|m| m.metadata.normalisation.std[0] = 0.0),
        ),
        (
            "before any node writes",
            Box::new(|m| m.graph.nodes.swap(1, 2)),
        ),
    ];
    for (expect, corrupt) in cases {
        let mut model = base.clone();
        corrupt(&mut model);
        let err = decode_model(&frame(&postcard::to_allocvec(&model).unwrap())).unwrap_err();
        assert!(
            matches!(err, ModelError::Invalid(_)) && err.to_string().contains(expect),
            "expected '{expect}', got: {err}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_model(&bytes);
        let mut with_magic = b"ROBOFISH".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = decode_model(&with_magic);
    }

    #[test]
    fn mutated_payloads_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        static MODEL: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let bytes = MODEL.get_or_init(|| encode_model(&small_model()).unwrap());
        let mut payload = bytes[HEADER_LEN..].to_vec();
        for (at, value) in edits {
            let i = at.index(payload.len());
            payload[i] = value;
        }
        // Re-frame so the checksum passes and the decoder and validator see the damage.
        if let Ok(model) = decode_model(&frame(&payload)) {
            // Whatever survives validation must plan and run without panicking.
            let net = robofish_shared::engine::Network::new(
                model,
                robofish_shared::kernels::KernelPath::Scalar,
            ).unwrap();
            if let Ok(plan) = net.plan(16, 16) {
                let mut arena = vec![0u8; plan.arena_bytes()];
                let tile = common::camera_tile(16, 16, 5);
                let image = robofish_shared::engine::InputImage::planar(
                    robofish_shared::engine::Pixels::U16(&tile), 16, 16, 16).unwrap();
                let mut outs: Vec<Vec<u8>> = net.model().graph.outputs.iter()
                    .map(|o| vec![0u8; net.model().graph.tensors[o.tensor as usize].channels as usize * 256])
                    .collect();
                let mut refs: Vec<&mut [u8]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
                let _ = net.run(&plan, &mut arena, &image, &mut refs);
            }
        }
    }
}
