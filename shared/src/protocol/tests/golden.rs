//! Golden bytes: the exact wire form of every message, checked in both
//! directions. A failure here means the wire format changed: bump
//! `PROTOCOL_VERSION` and regenerate with
//! `cargo test -p robofish-shared protocol::tests::golden::print -- --ignored --nocapture`.

use super::*;

/// Host messages, in the order of `host_samples()`. Hand-checked example,
/// `report_request`: `00` leading delimiter, COBS code `03` (two data bytes
/// follow), `02` version 2, `08` variant `ReportRequest`, `00` delimiter.
const HOST: &[(&str, &[u8])] = &[
    (
        "hello",
        &[
            0x00, 0x02, 0x02, 0x0F, 0x02, 0x0C, 0x72, 0x6F, 0x62, 0x6F, 0x66, 0x69, 0x73, 0x68,
            0x20, 0x30, 0x2E, 0x31, 0x00,
        ],
    ),
    (
        "model_begin",
        &[
            0x00, 0x0D, 0x02, 0x01, 0x05, 0xEF, 0x9B, 0xAF, 0xCD, 0xF8, 0xAC, 0xD1, 0x91, 0x01,
            0x00,
        ],
    ),
    (
        "model_chunk",
        &[
            0x00, 0x03, 0x02, 0x02, 0x06, 0x05, 0x52, 0x46, 0x53, 0x48, 0x06, 0xB3, 0xF3, 0xD0,
            0xE6, 0x06, 0x00,
        ],
    ),
    (
        "model_end",
        &[0x00, 0x08, 0x02, 0x03, 0xB3, 0xF3, 0xD0, 0xE6, 0x06, 0x00],
    ),
    (
        "frame_start",
        &[
            0x00, 0x0B, 0x02, 0x04, 0x07, 0x03, 0x02, 0x01, 0x02, 0x01, 0x01, 0x02, 0x01, 0x03,
            0xC9, 0x42, 0x01, 0x03, 0x10, 0x40, 0x01, 0x01, 0x01, 0x01, 0x01, 0x03, 0x80, 0x3F,
            0x00,
        ],
    ),
    (
        "row_band",
        &[
            0x00, 0x04, 0x02, 0x05, 0x07, 0x04, 0x02, 0x18, 0x01, 0x02, 0x02, 0x02, 0x03, 0x02,
            0x10, 0x02, 0x20, 0x02, 0x30, 0x0D, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x40, 0x02,
            0x50, 0x02, 0x60, 0x02, 0x00,
        ],
    ),
    (
        "ground_truth",
        &[
            0x00, 0x04, 0x02, 0x06, 0x07, 0x03, 0x01, 0x02, 0x01, 0x03, 0xC0, 0x3F, 0x01, 0x04,
            0x80, 0x3E, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x04, 0x40, 0xAC, 0x02, 0x00,
        ],
    ),
    (
        "frame_end",
        &[
            0x00, 0x09, 0x02, 0x07, 0x07, 0xDC, 0xF2, 0xDF, 0xA3, 0x05, 0x00,
        ],
    ),
    ("report_request", &[0x00, 0x03, 0x02, 0x08, 0x00]),
    ("shutdown", &[0x00, 0x03, 0x02, 0x09, 0x00]),
];

/// Device messages, in the order of `device_samples()`.
const DEVICE: &[(&str, &[u8])] = &[
    (
        "hello_ack",
        &[
            0x00, 0x02, 0x02, 0x2F, 0x02, 0x0C, 0x6E, 0x65, 0x6F, 0x6E, 0x2D, 0x64, 0x6F, 0x74,
            0x70, 0x72, 0x6F, 0x64, 0x01, 0xEF, 0x9B, 0xAF, 0xCD, 0xF8, 0xAC, 0xD1, 0x91, 0x01,
            0x09, 0x75, 0x6E, 0x65, 0x74, 0x2D, 0x69, 0x6E, 0x74, 0x38, 0x80, 0x80, 0x40, 0x04,
            0x80, 0x80, 0x80, 0x80, 0x04, 0x80, 0x80, 0x04, 0x00,
        ],
    ),
    (
        "hello_ack_no_model",
        &[
            0x00, 0x02, 0x02, 0x09, 0x02, 0x06, 0x73, 0x63, 0x61, 0x6C, 0x61, 0x72, 0x02, 0x01,
            0x03, 0x80, 0x20, 0x00,
        ],
    ),
    (
        "model_accepted",
        &[
            0x00, 0x19, 0x02, 0x01, 0xEF, 0x9B, 0xAF, 0xCD, 0xF8, 0xAC, 0xD1, 0x91, 0x01, 0x09,
            0x75, 0x6E, 0x65, 0x74, 0x2D, 0x69, 0x6E, 0x74, 0x38, 0x80, 0x80, 0x40, 0x00,
        ],
    ),
    (
        "spots",
        &[
            0x00, 0x0A, 0x02, 0x02, 0x07, 0x01, 0x01, 0x02, 0x05, 0xE8, 0x07, 0x01, 0x03, 0x80,
            0xBE, 0x01, 0x01, 0x04, 0x3F, 0x0C, 0xC8, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
            0x01, 0x01, 0x04, 0xFF, 0xFF, 0x03, 0x01, 0x00,
        ],
    ),
    (
        "metrics",
        &[
            0x00, 0x0B, 0x02, 0x03, 0x07, 0x0A, 0x09, 0x08, 0x01, 0x02, 0x07, 0x01, 0x00,
        ],
    ),
    (
        "frame_timing",
        &[
            0x00, 0x0E, 0x02, 0x04, 0x07, 0xE8, 0x07, 0x90, 0xA1, 0x0F, 0xAC, 0x02, 0xEC, 0xAC,
            0x0F, 0x00,
        ],
    ),
    (
        "error",
        &[
            0x00, 0x13, 0x02, 0x05, 0x01, 0x07, 0x02, 0x0C, 0x62, 0x61, 0x64, 0x20, 0x63, 0x68,
            0x65, 0x63, 0x6B, 0x73, 0x75, 0x6D, 0x00,
        ],
    ),
    (
        "error_session",
        &[0x00, 0x03, 0x02, 0x05, 0x05, 0x05, 0x02, 0x76, 0x32, 0x00],
    ),
    (
        "report",
        &[
            0x00, 0x10, 0x02, 0x06, 0x03, 0x01, 0x1B, 0x80, 0x80, 0x80, 0x06, 0xC0, 0xB8, 0x02,
            0x90, 0xBF, 0x05, 0x01, 0x01, 0x01, 0x0D, 0x84, 0xD7, 0x97, 0x41, 0x01, 0x0A, 0x09,
            0x08, 0x01, 0x02, 0x07, 0x01, 0x00,
        ],
    ),
    ("shutdown_ack", &[0x00, 0x03, 0x02, 0x07, 0x00]),
];

#[test]
fn every_host_message_matches_its_golden_bytes() {
    let samples = host_samples();
    assert_eq!(samples.len(), HOST.len());
    for ((name, message), (golden_name, golden)) in samples.iter().zip(HOST) {
        assert_eq!(name, golden_name);
        assert_eq!(
            encode(message),
            *golden,
            "{name}: {}",
            hex_array(&encode(message))
        );
        let mut decoder: FrameDecoder<256> = FrameDecoder::new();
        match decoder.feed::<HostMessage>(golden) {
            Feed::Message {
                message: decoded,
                remaining,
            } => {
                assert_eq!(&decoded, message, "{name}");
                assert!(remaining.is_empty(), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn every_device_message_matches_its_golden_bytes() {
    let samples = device_samples();
    assert_eq!(samples.len(), DEVICE.len());
    for ((name, message), (golden_name, golden)) in samples.iter().zip(DEVICE) {
        assert_eq!(name, golden_name);
        assert_eq!(
            encode(message),
            *golden,
            "{name}: {}",
            hex_array(&encode(message))
        );
        let mut decoder: FrameDecoder<256> = FrameDecoder::new();
        match decoder.feed::<DeviceMessage>(golden) {
            Feed::Message {
                message: decoded,
                remaining,
            } => {
                assert_eq!(&decoded, message, "{name}");
                assert!(remaining.is_empty(), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// Every variant has a golden sample: a new variant breaks the `match`
/// (compile error) and the count until it gets one.
#[test]
fn golden_samples_cover_every_variant() {
    for (_, message) in host_samples() {
        match message {
            HostMessage::Hello(_)
            | HostMessage::ModelBegin(_)
            | HostMessage::ModelChunk(_)
            | HostMessage::ModelEnd(_)
            | HostMessage::FrameStart(_)
            | HostMessage::RowBand(_)
            | HostMessage::GroundTruth(_)
            | HostMessage::FrameEnd(_)
            | HostMessage::ReportRequest
            | HostMessage::Shutdown => {}
        }
    }
    let host_variants: std::collections::HashSet<_> = host_samples()
        .iter()
        .map(|(_, message)| core::mem::discriminant(message))
        .collect();
    assert_eq!(host_variants.len(), 10);
    for (_, message) in device_samples() {
        match message {
            DeviceMessage::HelloAck(_)
            | DeviceMessage::ModelAccepted(_)
            | DeviceMessage::Spots(_)
            | DeviceMessage::Metrics(_)
            | DeviceMessage::FrameTiming(_)
            | DeviceMessage::Error(_)
            | DeviceMessage::Report(_)
            | DeviceMessage::ShutdownAck => {}
        }
    }
    let device_variants: std::collections::HashSet<_> = device_samples()
        .iter()
        .map(|(_, message)| core::mem::discriminant(message))
        .collect();
    assert_eq!(device_variants.len(), 8);
}

#[test]
#[ignore = "prints the golden tables for regeneration"]
fn print() {
    std::println!("const HOST: &[(&str, &[u8])] = &[");
    for (name, message) in host_samples() {
        std::println!("    (\"{name}\", &{}),", hex_array(&encode(&message)));
    }
    std::println!("];\n\nconst DEVICE: &[(&str, &[u8])] = &[");
    for (name, message) in device_samples() {
        std::println!("    (\"{name}\", &{}),", hex_array(&encode(&message)));
    }
    std::println!("];");
}
