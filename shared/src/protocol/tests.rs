//! Protocol tests: golden bytes for every message, the decoder fed in every
//! chunking, and each fault the decoder and tracker must survive.

use std::format;
use std::string::String as StdString;
use std::vec::Vec;

use heapless::{String, Vec as BoundedVec};
use proptest::prelude::*;

use super::*;
use crate::checksum::crc32;
use crate::image::ImageStats;

mod codebook;
mod golden;

fn bounded_str<const N: usize>(text: &str) -> String<N> {
    String::try_from(text).expect("test string fits")
}

/// Pixels of a 3-wide, 2-high, 1-round, 2-colour U16 FOV (row bytes: 12).
static BAND_PIXELS: [u8; 24] = [
    0x01, 0x00, 0x02, 0x00, 0x03, 0x00, 0x10, 0x00, 0x20, 0x00, 0x30, 0x00, //
    0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x40, 0x02, 0x50, 0x02, 0x60, 0x02,
];
static MODEL_BYTES: [u8; 5] = [0x52, 0x46, 0x53, 0x48, 0x00];

fn small_frame_start() -> FrameStart {
    FrameStart {
        frame_id: 7,
        width: 3,
        height: 2,
        rounds: 1,
        colours: 2,
        pixel: PixelType::U16,
        has_truth: true,
        stats: BoundedVec::from_slice(&[
            ImageStats {
                background: 100.5,
                noise: 2.25,
            },
            ImageStats {
                background: 0.0,
                noise: 1.0,
            },
        ])
        .unwrap(),
    }
}

/// One example of every host message, named.
fn host_samples() -> Vec<(&'static str, HostMessage<'static>)> {
    let mut truth = BoundedVec::new();
    truth
        .push(TruthSpot {
            y: 1.5,
            x: 0.25,
            gene: Some(3),
        })
        .unwrap();
    truth
        .push(TruthSpot {
            y: 0.0,
            x: 2.0,
            gene: Some(300),
        })
        .unwrap();
    std::vec![
        (
            "hello",
            HostMessage::Hello(Hello {
                version: PROTOCOL_VERSION,
                client: bounded_str("robofish 0.1"),
            }),
        ),
        (
            "model_begin",
            HostMessage::ModelBegin(ModelBegin {
                total_len: 5,
                hash: 0x0123_4567_89AB_CDEF,
            }),
        ),
        (
            "model_chunk",
            HostMessage::ModelChunk(ModelChunk {
                offset: 0,
                bytes: &MODEL_BYTES,
                crc32: crc32(&MODEL_BYTES),
            }),
        ),
        (
            "model_end",
            HostMessage::ModelEnd(ModelEnd {
                crc32: crc32(&MODEL_BYTES),
            }),
        ),
        ("frame_start", HostMessage::FrameStart(small_frame_start())),
        (
            "row_band",
            HostMessage::RowBand(RowBand {
                frame_id: 7,
                first_row: 0,
                row_count: 2,
                data: &BAND_PIXELS,
            }),
        ),
        (
            "ground_truth",
            HostMessage::GroundTruth(GroundTruth {
                frame_id: 7,
                chunk_index: 0,
                last: true,
                spots: truth,
            }),
        ),
        (
            "frame_end",
            HostMessage::FrameEnd(FrameEnd {
                frame_id: 7,
                checksum: crc32(&BAND_PIXELS),
            }),
        ),
        ("report_request", HostMessage::ReportRequest),
        ("shutdown", HostMessage::Shutdown),
        (
            "codebook_chunk",
            HostMessage::CodebookChunk(sample_codebook_chunk())
        ),
        (
            "authenticate",
            HostMessage::Authenticate(Authenticate {
                tag: core::array::from_fn(|i| i as u8),
            }),
        ),
        ("stop_device", HostMessage::StopDevice),
    ]
}

/// Two codebook words, a gene and a blank, in one last chunk.
fn sample_codebook_chunk() -> CodebookChunk {
    let words = [
        CodebookWord {
            name: bounded_str("Actb"),
            word: 0b1111,
        },
        CodebookWord {
            name: bounded_str("Blank-1"),
            word: 0b1111_0000_0000_0000,
        },
    ];
    let chunk = CodebookChunk::chunked(&words).next().unwrap();
    chunk
}

fn sample_quality() -> CallQuality {
    CallQuality {
        decoding: crate::post::DecodeCounts {
            exact: 20,
            corrected: 5,
            blank: 1,
            unassigned: 4,
        },
        confidence_sum: 5000,
        blank_words: 10,
        coding_words: 130,
    }
}

fn sample_counts() -> DetectionCounts {
    DetectionCounts {
        truth_spots: 10,
        called_spots: 9,
        detection: crate::post::metrics::SpotCounts {
            true_positives: 8,
            false_positives: 1,
            false_negatives: 2,
        },
        gene_correct: 7,
        blank_calls: 1,
    }
}

/// One example of every device message, named.
fn device_samples() -> Vec<(&'static str, DeviceMessage)> {
    let model = ModelInfo {
        hash: 0x0123_4567_89AB_CDEF,
        name: bounded_str("unet-int8"),
        arena_bytes: 1 << 20,
    };
    let mut spots = BoundedVec::new();
    spots
        .push(WireSpot {
            row: 5,
            col: 1000,
            dy: -0.25,
            dx: 0.5,
            gene: 12,
            distance: 1,
            confidence: 200,
        })
        .unwrap();
    spots
        .push(WireSpot {
            row: 0,
            col: 0,
            dy: 0.0,
            dx: 0.0,
            gene: UNASSIGNED_GENE,
            distance: NOT_DECODED,
            confidence: 0,
        })
        .unwrap();
    std::vec![
        (
            "hello_ack",
            DeviceMessage::HelloAck(HelloAck {
                version: PROTOCOL_VERSION,
                kernel_path: bounded_str("neon-dotprod"),
                model: Some(model.clone()),
                threads: 4,
                free_memory: 1 << 30,
                max_row_band_bytes: MAX_ROW_BAND_BYTES as u32,
                access: Access::Closed,
                challenge: core::array::from_fn(|i| 0xA0 + i as u8),
                model_fault: None,
            }),
        ),
        (
            "hello_ack_no_model",
            DeviceMessage::HelloAck(HelloAck {
                version: PROTOCOL_VERSION,
                kernel_path: bounded_str("scalar"),
                model: None,
                threads: 1,
                free_memory: 0,
                max_row_band_bytes: 4096,
                access: Access::Open,
                challenge: [0; CHALLENGE_BYTES],
                model_fault: Some(bounded_str("stored model /m.rfm failed: bad magic")),
            }),
        ),
        ("model_accepted", DeviceMessage::ModelAccepted(model)),
        (
            "spots",
            DeviceMessage::Spots(Spots {
                frame_id: 7,
                chunk_index: 1,
                last: true,
                spots,
            }),
        ),
        (
            "metrics",
            DeviceMessage::Metrics(Metrics {
                frame_id: 7,
                counts: sample_counts(),
            }),
        ),
        (
            "frame_timing",
            DeviceMessage::FrameTiming(FrameTiming {
                frame_id: 7,
                receive_us: 1000,
                compute_us: 250_000,
                decode_us: 300,
                total_us: 251_500,
            }),
        ),
        (
            "error",
            DeviceMessage::Error(ErrorReport::new(
                Some(7),
                ErrorKind::BadChecksum,
                "bad checksum",
            )),
        ),
        (
            "error_session",
            DeviceMessage::Error(ErrorReport::new(None, ErrorKind::UnknownVersion, "v2")),
        ),
        (
            "report",
            DeviceMessage::Report(Report {
                frames: 3,
                failed_frames: 1,
                spots: 27,
                pixels: 3 * 16 * 512 * 512,
                latency_p50_us: 40_000,
                latency_p99_us: 90_000,
                throughput_pixels_per_s: 1.0e8,
                cumulative: Some(sample_counts()),
                quality: Some(sample_quality()),
            }),
        ),
        ("shutdown_ack", DeviceMessage::ShutdownAck),
        (
            "codebook_accepted",
            DeviceMessage::CodebookAccepted(CodebookInfo {
                source: CodebookSource::Experiment,
                words: 140,
                blank_words: 10,
                min_distance: Some(4),
                corrects: true,
                checksum: 0xDEAD_BEEF,
            }),
        ),
        (
            "quality",
            DeviceMessage::Quality(Quality {
                frame_id: 7,
                calls: sample_quality(),
            }),
        ),
        (
            "error_busy",
            DeviceMessage::Error(ErrorReport::new(
                None,
                ErrorKind::Busy,
                "serving 127.0.0.1:50000 for 12 s; try again later",
            )),
        ),
        ("authenticated", DeviceMessage::Authenticated),
        ("stopping", DeviceMessage::Stopping),
        (
            "error_unauthorized",
            DeviceMessage::Error(ErrorReport::new(
                None,
                ErrorKind::Unauthorized,
                "flashing needs an authenticated session",
            )),
        ),
    ]
}

fn encode<M: WireMessage>(message: &M) -> Vec<u8> {
    let mut buffer = std::vec![0u8; MAX_ENCODED_FRAME_BYTES];
    let frame = encode_frame(message, &mut buffer).expect("encodes");
    frame.to_vec()
}

fn hex_array(bytes: &[u8]) -> StdString {
    let items: Vec<StdString> = bytes.iter().map(|b| format!("0x{b:02X}")).collect();
    format!("[{}]", items.join(", "))
}

/// What a decoder produced, with borrowed messages compared on the spot.
#[derive(Debug, PartialEq)]
enum Event {
    /// Index into the expected message list.
    Message(usize),
    Error(ErrorKind),
}

/// Feeds `stream` to a fresh decoder in the chunks `chunk_lens` (cycled) and
/// records what came out, checking each message against `expected` in order.
fn decode_host_stream<const N: usize>(
    stream: &[u8],
    chunk_lens: &[usize],
    expected: &[HostMessage<'_>],
) -> Vec<Event> {
    let mut decoder: std::boxed::Box<FrameDecoder<N>> = std::boxed::Box::default();
    let mut events = Vec::new();
    let mut messages_seen = 0;
    let mut offset = 0;
    let mut chunk = 0;
    while offset < stream.len() {
        let len = chunk_lens[chunk % chunk_lens.len()].clamp(1, stream.len() - offset);
        chunk += 1;
        let mut window = &stream[offset..offset + len];
        offset += len;
        loop {
            match decoder.feed::<HostMessage>(window) {
                Feed::Pending => break,
                Feed::Message { message, remaining } => {
                    assert_eq!(Some(&message), expected.get(messages_seen));
                    events.push(Event::Message(messages_seen));
                    messages_seen += 1;
                    window = remaining;
                }
                Feed::Error { error, remaining } => {
                    events.push(Event::Error(error.kind()));
                    window = remaining;
                }
            }
        }
    }
    if let Some(error) = decoder.finish() {
        events.push(Event::Error(error.kind()));
    }
    events
}

fn all_messages(count: usize) -> Vec<Event> {
    (0..count).map(Event::Message).collect()
}

fn host_stream() -> (Vec<u8>, Vec<HostMessage<'static>>) {
    let messages: Vec<HostMessage<'static>> = host_samples().into_iter().map(|(_, m)| m).collect();
    let stream = messages.iter().flat_map(encode).collect();
    (stream, messages)
}

// --- framing ---------------------------------------------------------------

#[test]
fn every_message_fits_the_frame_limits() {
    let full_band = std::vec![0xAAu8; MAX_ROW_BAND_BYTES];
    let full_chunk = std::vec![0u8; MAX_MODEL_CHUNK_BYTES];
    let longest: String<MAX_ERROR_MESSAGE_BYTES> =
        String::try_from("é".repeat(MAX_ERROR_MESSAGE_BYTES / 2).as_str()).unwrap();
    let spot = WireSpot {
        row: u16::MAX,
        col: u16::MAX,
        dy: f32::MAX,
        dx: f32::MIN,
        gene: UNASSIGNED_GENE,
        distance: u8::MAX,
        confidence: u8::MAX,
    };
    let longest_name: String<MAX_GENE_NAME_BYTES> =
        String::try_from("é".repeat(MAX_GENE_NAME_BYTES / 2).as_str()).unwrap();
    let codebook_word = CodebookWord {
        name: longest_name,
        word: u16::MAX,
    };
    let truth_spot = TruthSpot {
        y: f32::MAX,
        x: f32::MAX,
        gene: None,
    };
    let host = [
        HostMessage::RowBand(RowBand {
            frame_id: u32::MAX,
            first_row: u16::MAX,
            row_count: u16::MAX,
            data: &full_band,
        }),
        HostMessage::ModelChunk(ModelChunk {
            offset: u32::MAX,
            bytes: &full_chunk,
            crc32: u32::MAX,
        }),
        HostMessage::GroundTruth(GroundTruth {
            frame_id: u32::MAX,
            chunk_index: u16::MAX,
            last: true,
            spots: core::iter::repeat_n(truth_spot, MAX_TRUTH_SPOTS_PER_CHUNK).collect(),
        }),
        HostMessage::CodebookChunk(CodebookChunk {
            total_words: u16::MAX,
            chunk_index: u16::MAX,
            last: true,
            words: core::iter::repeat_n(codebook_word, MAX_CODEBOOK_WORDS_PER_CHUNK).collect(),
        }),
    ];
    // One host message is alive at a time on a device without a heap.
    assert!(core::mem::size_of::<HostMessage<'_>>() <= 4 * 1024 + 512);
    for message in &host {
        let frame = encode(message);
        assert!(frame.len() <= MAX_ENCODED_FRAME_BYTES);
    }
    let device = [
        DeviceMessage::Spots(Spots {
            frame_id: u32::MAX,
            chunk_index: u16::MAX,
            last: true,
            spots: core::iter::repeat_n(spot, MAX_SPOTS_PER_CHUNK).collect(),
        }),
        DeviceMessage::Error(ErrorReport {
            frame_id: Some(u32::MAX),
            kind: ErrorKind::Internal,
            message: longest,
        }),
    ];
    for message in &device {
        let frame = encode(message);
        assert!(frame.len() <= MAX_ENCODED_FRAME_BYTES);
        // Device messages also fit a small embedded-sized decoder.
        assert!(frame.len() < 8 * 1024, "{} bytes", frame.len());
    }
}

#[test]
fn frames_are_delimited_on_both_sides_and_contain_no_other_zero() {
    for (name, message) in host_samples() {
        let frame = encode(&message);
        assert_eq!(frame[0], 0, "{name}");
        assert_eq!(frame[frame.len() - 1], 0, "{name}");
        assert!(!frame[1..frame.len() - 1].contains(&0), "{name}");
    }
}

#[test]
fn encode_into_small_buffer_is_an_error() {
    let message = host_samples().remove(0).1;
    for capacity in [0, 1, 5] {
        let mut buffer = std::vec![0u8; capacity];
        assert_eq!(
            encode_frame(&message, &mut buffer),
            Err(ProtocolError::BufferTooSmall { capacity })
        );
    }
}

#[test]
fn encoding_a_band_over_the_limit_is_refused() {
    let data = std::vec![1u8; MAX_FRAME_BYTES];
    let band = HostMessage::RowBand(RowBand {
        frame_id: 1,
        first_row: 0,
        row_count: 1,
        data: &data,
    });
    let mut buffer = std::vec![0u8; 2 * MAX_FRAME_BYTES];
    assert!(matches!(
        encode_frame(&band, &mut buffer),
        Err(ProtocolError::Oversized { .. })
    ));
}

#[test]
fn decoder_fed_one_byte_at_a_time() {
    let (stream, messages) = host_stream();
    let events = decode_host_stream::<MAX_FRAME_BYTES>(&stream, &[1], &messages);
    assert_eq!(events, all_messages(messages.len()));
}

#[test]
fn decoder_fed_whole_stream_at_once() {
    let (stream, messages) = host_stream();
    let events = decode_host_stream::<MAX_FRAME_BYTES>(&stream, &[stream.len()], &messages);
    assert_eq!(events, all_messages(messages.len()));
}

proptest! {
    #[test]
    fn decoder_fed_random_chunks(chunk_lens in proptest::collection::vec(1usize..64, 1..16)) {
        let (stream, messages) = host_stream();
        let events = decode_host_stream::<MAX_FRAME_BYTES>(&stream, &chunk_lens, &messages);
        prop_assert_eq!(events, all_messages(messages.len()));
    }

    /// Garbage of any kind between good frames costs at most the garbage:
    /// every good frame after it still decodes.
    #[test]
    fn garbage_between_frames_never_loses_a_later_frame(
        garbage in proptest::collection::vec(any::<u8>(), 0..300),
        chunk_lens in proptest::collection::vec(1usize..97, 1..8),
    ) {
        let (tail, messages) = host_stream();
        let mut stream = garbage;
        stream.extend_from_slice(&tail);
        let events = decode_host_stream::<512>(&stream, &chunk_lens, &messages);
        let decoded: Vec<&Event> = events.iter().filter(|e| matches!(e, Event::Message(_))).collect();
        prop_assert_eq!(decoded.len(), messages.len());
    }

    #[test]
    fn device_messages_round_trip_in_random_chunks(chunk_lens in proptest::collection::vec(1usize..40, 1..8)) {
        let messages: Vec<DeviceMessage> = device_samples().into_iter().map(|(_, m)| m).collect();
        let stream: Vec<u8> = messages.iter().flat_map(encode).collect();
        let mut decoder: FrameDecoder<4096> = FrameDecoder::new();
        // Device messages are owned: the host can keep them.
        let mut decoded: Vec<DeviceMessage> = Vec::new();
        let mut offset = 0;
        let mut chunk = 0;
        while offset < stream.len() {
            let len = chunk_lens[chunk % chunk_lens.len()].min(stream.len() - offset);
            chunk += 1;
            let mut window = &stream[offset..offset + len];
            offset += len;
            loop {
                match decoder.feed::<DeviceMessage>(window) {
                    Feed::Pending => break,
                    Feed::Message { message, remaining } => { decoded.push(message); window = remaining; }
                    Feed::Error { error, .. } => panic!("{error}"),
                }
            }
        }
        prop_assert_eq!(decoded, messages);
    }
}

#[test]
fn malformed_frame_between_good_frames() {
    let (_, messages) = host_stream();
    let mut stream = encode(&messages[0]);
    // Valid COBS, this version, but variant 64 does not exist.
    stream.extend_from_slice(&[0x00, 0x03, PROTOCOL_VERSION as u8, 0x40, 0x00]);
    stream.extend(encode(&messages[1]));
    for chunk in [1, 3, stream.len()] {
        let events = decode_host_stream::<MAX_FRAME_BYTES>(&stream, &[chunk], &messages);
        assert_eq!(
            events,
            [
                Event::Message(0),
                Event::Error(ErrorKind::Malformed),
                Event::Message(1)
            ]
        );
    }
}

#[test]
fn trailing_bytes_are_malformed() {
    let mut decoder: FrameDecoder<64> = FrameDecoder::new();
    // `ReportRequest` (this version, variant 8) with one extra byte.
    let trailing = [0x05, PROTOCOL_VERSION as u8, 0x08, 0x07, 0x07, 0x00];
    match decoder.feed::<HostMessage>(&trailing) {
        Feed::Error { error, remaining } => {
            assert_eq!(
                error,
                ProtocolError::Malformed(Malformation::TrailingBytes { count: 2 })
            );
            assert!(remaining.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncated_frame_then_new_frame() {
    let (_, messages) = host_stream();
    // A sender dies half-way through the band, a new one starts over.
    let band = encode(&messages[5]);
    let mut stream = band[..band.len() / 2].to_vec();
    stream.extend(encode(&messages[0]));
    stream.extend(encode(&messages[1]));
    for chunk in [1, 7, stream.len()] {
        let events = decode_host_stream::<MAX_FRAME_BYTES>(&stream, &[chunk], &messages);
        assert_eq!(
            events,
            [
                Event::Error(ErrorKind::Truncated),
                Event::Message(0),
                Event::Message(1)
            ]
        );
    }
}

#[test]
fn frame_cut_at_a_block_boundary_is_truncated() {
    // This version, `FrameEnd` (variant 7), frame 7, then the stream stops
    // before the checksum: valid COBS, too short for postcard.
    let mut decoder: FrameDecoder<64> = FrameDecoder::new();
    match decoder.feed::<HostMessage>(&[0x04, PROTOCOL_VERSION as u8, 0x07, 0x07, 0x00]) {
        Feed::Error { error, .. } => assert_eq!(error, ProtocolError::Truncated),
        other => panic!("{other:?}"),
    }
}

#[test]
fn disconnect_mid_frame_is_reported_by_finish() {
    let frame = encode(&HostMessage::ReportRequest);
    let mut decoder: FrameDecoder<64> = FrameDecoder::new();
    assert_eq!(
        decoder.feed::<HostMessage>(&frame[..frame.len() - 1]),
        Feed::Pending
    );
    assert!(decoder.is_mid_frame());
    assert_eq!(decoder.finish(), Some(ProtocolError::Truncated));
    assert!(!decoder.is_mid_frame());
    // The next connection starts clean.
    assert!(matches!(
        decoder.feed::<HostMessage>(&frame),
        Feed::Message {
            message: HostMessage::ReportRequest,
            ..
        }
    ));
    assert_eq!(decoder.finish(), None);
}

#[test]
fn oversized_frame_is_reported_once_and_the_stream_recovers() {
    let (_, messages) = host_stream();
    let big = std::vec![0x55u8; 3000];
    let oversized = HostMessage::ModelChunk(ModelChunk {
        offset: 0,
        bytes: &big,
        crc32: crc32(&big),
    });
    let mut stream = encode(&messages[0]);
    stream.extend(encode(&oversized));
    stream.extend(encode(&messages[1]));
    stream.extend(encode(&oversized));
    stream.extend(encode(&messages[2]));
    // Buffer of 512 bytes: the model chunks span several buffers' worth.
    for chunk in [1, 100, 511, 512, 513, 1500, stream.len()] {
        let events = decode_host_stream::<512>(&stream, &[chunk], &messages);
        assert_eq!(
            events,
            [
                Event::Message(0),
                Event::Error(ErrorKind::Oversized),
                Event::Message(1),
                Event::Error(ErrorKind::Oversized),
                Event::Message(2)
            ],
            "chunk {chunk}"
        );
    }
}

#[test]
fn frame_exactly_at_capacity_decodes() {
    let message = HostMessage::ReportRequest;
    let frame = encode(&message);
    let body = frame.len() - 2;
    let events = decode_host_stream::<3>(&frame, &[1], &[message]);
    assert_eq!(body, 3);
    assert_eq!(events, [Event::Message(0)]);
    let events = decode_host_stream::<2>(&frame, &[1], &[]);
    assert_eq!(events, [Event::Error(ErrorKind::Oversized)]);
}

#[test]
fn unknown_version_is_refused_with_both_versions() {
    // Version 1 (varint 0x01, the old one), `ReportRequest`: COBS 03 01 08.
    let stream = [0x00, 0x03, 0x01, 0x08, 0x00];
    let mut decoder: FrameDecoder<64> = FrameDecoder::new();
    let error = match decoder.feed::<HostMessage>(&stream) {
        Feed::Error { error, .. } => error,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        error,
        ProtocolError::UnknownVersion {
            received: 1,
            supported: PROTOCOL_VERSION
        }
    );
    let report = ErrorReport::from_error(&error);
    assert_eq!(report.kind, ErrorKind::UnknownVersion);
    assert_eq!(report.frame_id, None);
    assert!(report.message.contains("version 1"), "{}", report.message);
    assert!(
        report
            .message
            .contains(&format!("version {PROTOCOL_VERSION}")),
        "{}",
        report.message
    );
    // The report itself travels to the host and reads the same there.
    let frame = encode(&DeviceMessage::Error(report.clone()));
    let mut host_decoder: FrameDecoder<256> = FrameDecoder::new();
    match host_decoder.feed::<DeviceMessage>(&frame) {
        Feed::Message {
            message: DeviceMessage::Error(received),
            ..
        } => assert_eq!(received, report),
        other => panic!("{other:?}"),
    }
    assert_eq!(check_version(PROTOCOL_VERSION), Ok(()));
    assert!(check_version(0).is_err());
}

#[test]
fn error_report_message_is_truncated_at_a_char_boundary() {
    let long = "ü".repeat(200);
    let report = ErrorReport::new(Some(1), ErrorKind::Internal, &long);
    assert_eq!(report.message.len(), MAX_ERROR_MESSAGE_BYTES);
    assert!(report.message.chars().all(|c| c == 'ü'));
    let display = format!("{report}");
    assert!(display.starts_with("device error (internal error) on frame 1: ü"));
}

#[test]
fn every_error_displays_and_maps_to_a_kind() {
    let errors = [
        ProtocolError::Malformed(Malformation::Cobs),
        ProtocolError::Malformed(Malformation::Postcard(postcard::Error::DeserializeBadEnum)),
        ProtocolError::Malformed(Malformation::TrailingBytes { count: 1 }),
        ProtocolError::Truncated,
        ProtocolError::MissingRows {
            frame_id: 1,
            received: 2,
            height: 3,
        },
        ProtocolError::MissingTruth { frame_id: 1 },
        ProtocolError::Oversized { len: 9, limit: 8 },
        ProtocolError::UnknownVersion {
            received: 9,
            supported: 1,
        },
        ProtocolError::BadChecksum {
            frame_id: None,
            expected: 1,
            computed: 2,
        },
        ProtocolError::WrongDimensions {
            frame_id: 1,
            reason: "r",
        },
        ProtocolError::OutOfOrder {
            frame_id: 1,
            reason: "r",
        },
        ProtocolError::BufferTooSmall { capacity: 1 },
        ProtocolError::Encode(postcard::Error::SerializeSeqLengthUnknown),
        ProtocolError::Codebook(CodebookFault::TooManyWords { announced: 5000 }),
        ProtocolError::Codebook(CodebookFault::OutOfOrder { reason: "r" }),
        ProtocolError::Codebook(CodebookFault::WordCount {
            received: 3,
            announced: 2,
        }),
        ProtocolError::Codebook(CodebookFault::EmptyName { entry: 1 }),
        ProtocolError::Codebook(CodebookFault::ZeroWord { entry: 1 }),
        ProtocolError::Codebook(CodebookFault::DuplicateWord { entry: 2, word: 3 }),
    ];
    for error in &errors {
        let text = format!("{error}");
        assert!(!text.is_empty());
        let report = ErrorReport::from_error(error);
        assert_eq!(report.kind, error.kind());
        assert_eq!(report.frame_id, error.frame_id());
        let _: &dyn core::error::Error = error;
    }
}

// --- messages and the FOV sequence -------------------------------------------

#[test]
fn band_layout_is_row_then_image_then_column() {
    let start = small_frame_start();
    assert_eq!(start.images(), 2);
    assert_eq!(start.row_bytes(), 12);
    assert_eq!(start.total_bytes(), 24);
    let band = RowBand {
        frame_id: 7,
        first_row: 0,
        row_count: 2,
        data: &BAND_PIXELS,
    };
    // Row 1, colour 1 (image 1): pixels 0x0240, 0x0250, 0x0260.
    let image = start.image_index(0, 1);
    assert_eq!(image, 1);
    assert_eq!(
        band.image_row(&start, 1, image),
        Some(&[0x40, 0x02, 0x50, 0x02, 0x60, 0x02][..])
    );
    assert_eq!(band.image_row(&start, 2, 0), None);
    assert_eq!(band.image_row(&start, 0, 2), None);
}

#[test]
fn standard_fov_sizes() {
    let fov = FrameStart {
        frame_id: 0,
        width: 2048,
        height: 2048,
        rounds: 8,
        colours: 2,
        pixel: PixelType::U16,
        has_truth: false,
        stats: BoundedVec::new(),
    };
    assert_eq!(fov.image_index(7, 1), 15);
    assert_eq!(fov.row_bytes(), MAX_ROW_BAND_BYTES);
    assert_eq!(fov.rows_per_band(MAX_ROW_BAND_BYTES), 1);
    assert_eq!(fov.validate(), Ok(()));
    let too_wide = FrameStart {
        width: 2049,
        ..fov.clone()
    };
    assert_eq!(too_wide.rows_per_band(MAX_ROW_BAND_BYTES), 0);
    assert_eq!(
        too_wide.validate().unwrap_err().kind(),
        ErrorKind::WrongDimensions
    );
    let u8_fov = FrameStart {
        width: 512,
        height: 512,
        pixel: PixelType::U8,
        ..fov.clone()
    };
    assert_eq!(u8_fov.rows_per_band(MAX_ROW_BAND_BYTES), 8);
    assert_eq!(u8_fov.rows_per_band(usize::MAX), 512);
    for bad in [
        FrameStart {
            width: 0,
            ..fov.clone()
        },
        FrameStart {
            height: 0,
            ..fov.clone()
        },
        FrameStart {
            rounds: 0,
            ..fov.clone()
        },
        FrameStart {
            colours: 0,
            ..fov.clone()
        },
    ] {
        assert_eq!(
            bad.validate().unwrap_err().kind(),
            ErrorKind::WrongDimensions
        );
    }
}

#[test]
fn model_chunk_validation() {
    let good = ModelChunk {
        offset: 0,
        bytes: &MODEL_BYTES,
        crc32: crc32(&MODEL_BYTES),
    };
    assert_eq!(good.validate(), Ok(()));
    let corrupt = ModelChunk {
        crc32: good.crc32 ^ 1,
        ..good
    };
    assert_eq!(
        corrupt.validate().unwrap_err().kind(),
        ErrorKind::BadChecksum
    );
    let big = std::vec![0u8; MAX_MODEL_CHUNK_BYTES + 1];
    let oversized = ModelChunk {
        offset: 0,
        bytes: &big,
        crc32: crc32(&big),
    };
    assert_eq!(
        oversized.validate().unwrap_err().kind(),
        ErrorKind::Oversized
    );
}

fn band(first_row: u16, row_count: u16, data: &[u8]) -> RowBand<'_> {
    RowBand {
        frame_id: 7,
        first_row,
        row_count,
        data,
    }
}

fn last_truth() -> GroundTruth {
    GroundTruth {
        frame_id: 7,
        chunk_index: 0,
        last: true,
        spots: BoundedVec::new(),
    }
}

#[test]
fn tracker_accepts_a_complete_fov_in_any_band_split() {
    let end = FrameEnd {
        frame_id: 7,
        checksum: crc32(&BAND_PIXELS),
    };
    // Whole FOV in one band.
    let mut tracker = FrameTracker::begin(small_frame_start()).unwrap();
    tracker.accept_band(&band(0, 2, &BAND_PIXELS)).unwrap();
    tracker.accept_truth(&last_truth()).unwrap();
    assert_eq!(tracker.finish(&end), Ok(()));
    // One row per band, truth in between.
    let mut tracker = FrameTracker::begin(small_frame_start()).unwrap();
    tracker
        .accept_band(&band(0, 1, &BAND_PIXELS[..12]))
        .unwrap();
    tracker.accept_truth(&last_truth()).unwrap();
    tracker
        .accept_band(&band(1, 1, &BAND_PIXELS[12..]))
        .unwrap();
    assert_eq!(tracker.rows_received(), 2);
    assert_eq!(tracker.checksum(), end.checksum);
    assert_eq!(tracker.finish(&end), Ok(()));
}

#[test]
fn tracker_faults() {
    let start = small_frame_start();
    let end = FrameEnd {
        frame_id: 7,
        checksum: crc32(&BAND_PIXELS),
    };
    let kind = |result: Result<(), ProtocolError>| result.unwrap_err().kind();

    let mut tracker = FrameTracker::begin(start.clone()).unwrap();
    // Gap, wrong frame, wrong size, past the end.
    assert_eq!(
        kind(tracker.accept_band(&band(1, 1, &BAND_PIXELS[12..]))),
        ErrorKind::OutOfOrder
    );
    let other = RowBand {
        frame_id: 8,
        ..band(0, 1, &BAND_PIXELS[..12])
    };
    assert_eq!(kind(tracker.accept_band(&other)), ErrorKind::OutOfOrder);
    assert_eq!(
        kind(tracker.accept_band(&band(0, 1, &BAND_PIXELS))),
        ErrorKind::WrongDimensions
    );
    assert_eq!(
        kind(tracker.accept_band(&band(0, 0, &[]))),
        ErrorKind::WrongDimensions
    );
    assert_eq!(
        kind(tracker.accept_band(&band(0, 3, &BAND_PIXELS))),
        ErrorKind::WrongDimensions
    );
    // Rejected bands changed nothing.
    assert_eq!(tracker.rows_received(), 0);
    // Missing rows, then missing truth, then bad checksum.
    tracker
        .accept_band(&band(0, 1, &BAND_PIXELS[..12]))
        .unwrap();
    assert_eq!(
        tracker.finish(&end),
        Err(ProtocolError::MissingRows {
            frame_id: 7,
            received: 1,
            height: 2
        })
    );
    tracker
        .accept_band(&band(1, 1, &BAND_PIXELS[12..]))
        .unwrap();
    assert_eq!(
        tracker.finish(&end),
        Err(ProtocolError::MissingTruth { frame_id: 7 })
    );
    let out_of_sequence = GroundTruth {
        chunk_index: 1,
        ..last_truth()
    };
    assert_eq!(
        kind(tracker.accept_truth(&out_of_sequence)),
        ErrorKind::OutOfOrder
    );
    tracker.accept_truth(&last_truth()).unwrap();
    assert_eq!(
        kind(tracker.accept_truth(&last_truth())),
        ErrorKind::OutOfOrder
    );
    let corrupt = FrameEnd {
        checksum: end.checksum ^ 0x8000_0000,
        ..end
    };
    assert_eq!(kind(tracker.finish(&corrupt)), ErrorKind::BadChecksum);
    let wrong_id = FrameEnd { frame_id: 9, ..end };
    assert_eq!(kind(tracker.finish(&wrong_id)), ErrorKind::OutOfOrder);
    assert_eq!(tracker.finish(&end), Ok(()));

    // Truth for a FOV announced without it.
    let mut no_truth = FrameTracker::begin(FrameStart {
        has_truth: false,
        ..start.clone()
    })
    .unwrap();
    assert_eq!(
        kind(no_truth.accept_truth(&last_truth())),
        ErrorKind::OutOfOrder
    );
    // Bad dimensions and statistics are refused up front.
    assert!(FrameTracker::begin(FrameStart {
        width: 0,
        ..start.clone()
    })
    .is_err());
    let mut one_short = start.clone();
    one_short.stats.pop();
    assert!(FrameTracker::begin(one_short).is_err());
    let mut unusable = start.clone();
    unusable.stats[1].noise = 0.0;
    assert!(FrameTracker::begin(unusable).is_err());
    let mut none = start;
    none.stats.clear();
    assert!(FrameTracker::begin(none).is_ok());
}

#[test]
fn detection_counts_ratios_and_accumulation() {
    let counts = sample_counts();
    assert_eq!(counts.detection.precision(), 8.0 / 9.0);
    assert_eq!(counts.detection.recall(), 0.8);
    assert_eq!(counts.detection.f1(), 16.0 / 19.0);
    assert_eq!(counts.gene_accuracy(), 7.0 / 8.0);
    // One empty-case rule, the shared counts type's: a ratio over nothing is 1.
    let empty = DetectionCounts::default();
    assert_eq!(
        (empty.detection.precision(), empty.gene_accuracy()),
        (1.0, 1.0)
    );
    let mut total = DetectionCounts::default();
    total.accumulate(&counts);
    total.accumulate(&counts);
    assert_eq!(total.detection.true_positives, 16);
    assert_eq!(
        (total.truth_spots, total.called_spots, total.gene_correct),
        (20, 18, 14)
    );
    let mut saturated = DetectionCounts {
        truth_spots: u64::MAX,
        ..counts
    };
    saturated.detection.false_positives = u64::MAX;
    saturated.accumulate(&counts);
    assert_eq!(
        (saturated.truth_spots, saturated.detection.false_positives),
        (u64::MAX, u64::MAX)
    );
    let spot = WireSpot {
        row: 3,
        col: 4,
        dy: 0.25,
        dx: -0.5,
        gene: UNASSIGNED_GENE,
        distance: 2,
        confidence: 1,
    };
    assert_eq!((spot.y(), spot.x()), (3.25, 3.5));
    assert!(!spot.is_assigned());
}

#[test]
fn detection_counts_of_an_evaluation() {
    use crate::post::metrics::{evaluate_spots, PredictedSpot};
    let truth = [
        TruthSpot {
            y: 1.0,
            x: 1.0,
            gene: Some(4),
        },
        TruthSpot {
            y: 9.0,
            x: 9.0,
            gene: None,
        },
    ];
    let spot = |y: f32, gene, blank| PredictedSpot {
        y,
        x: 1.0,
        gene,
        blank,
    };
    let predicted = [
        spot(1.2, Some(4), false),
        spot(5.0, Some(9), true),
        spot(7.0, None, false),
    ];
    let evaluation = evaluate_spots(&truth, &predicted, 1.5).unwrap();
    let counts = DetectionCounts::new(&evaluation, 1);
    assert_eq!(counts.truth_spots, truth.len() as u64);
    assert_eq!(counts.called_spots, predicted.len() as u64);
    assert_eq!(counts.detection, evaluation.detection);
    assert_eq!((counts.gene_correct, counts.blank_calls), (1, 1));
}

#[test]
fn unknown_truth_genes_travel_as_unassigned_gene() {
    let spot = |gene| TruthSpot {
        y: 0.5,
        x: 0.5,
        gene,
    };
    let mut buffer = [0u8; 16];
    let unknown = postcard::to_slice(&spot(None), &mut buffer)
        .unwrap()
        .to_vec();
    let mut buffer = [0u8; 16];
    let sentinel = postcard::to_slice(&(0.5f32, 0.5f32, UNASSIGNED_GENE), &mut buffer)
        .unwrap()
        .to_vec();
    assert_eq!(unknown, sentinel, "None is written as UNASSIGNED_GENE");
    let back: TruthSpot = postcard::from_bytes(&unknown).unwrap();
    assert_eq!(back, spot(None));
    let mut buffer = [0u8; 16];
    let known = postcard::to_slice(&spot(Some(7)), &mut buffer).unwrap();
    assert_eq!(
        postcard::from_bytes::<TruthSpot>(known).unwrap(),
        spot(Some(7))
    );
}

// --- chunks ------------------------------------------------------------------

#[test]
fn chunks_are_numbered_and_an_empty_list_sends_one_empty_last_chunk() {
    let empty: Vec<Chunk<u32, 4>> = chunks::<u32, 4>(&[]).collect();
    assert_eq!(
        empty,
        [Chunk {
            index: 0,
            last: true,
            items: BoundedVec::new()
        }]
    );
    for len in [1usize, 3, 4, 5, 8, 9] {
        let items: Vec<u32> = (0..len as u32).collect();
        let got: Vec<Chunk<u32, 4>> = chunks(&items).collect();
        assert_eq!(got.len(), len.div_ceil(4), "{len} items");
        for (i, chunk) in got.iter().enumerate() {
            assert_eq!(usize::from(chunk.index), i);
            assert_eq!(chunk.last, i + 1 == got.len());
            assert!(!chunk.items.is_empty());
        }
        let joined: Vec<u32> = got.iter().flat_map(|c| c.items.iter().copied()).collect();
        assert_eq!(joined, items);
    }
}

#[test]
fn spots_and_truth_messages_are_chunked_alike() {
    let spot = WireSpot {
        row: 1,
        col: 2,
        dy: 0.0,
        dx: 0.0,
        gene: 5,
        distance: 0,
        confidence: 9,
    };
    let spots = std::vec![spot; MAX_SPOTS_PER_CHUNK + 1];
    let messages: Vec<Spots> = Spots::chunked(3, &spots).collect();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        (
            messages[1].frame_id,
            messages[1].chunk_index,
            messages[1].last
        ),
        (3, 1, true)
    );
    assert_eq!(messages[0].spots.len(), MAX_SPOTS_PER_CHUNK);
    let truth: Vec<GroundTruth> = GroundTruth::chunked(4, &[]).collect();
    assert_eq!(
        truth,
        [GroundTruth {
            frame_id: 4,
            chunk_index: 0,
            last: true,
            spots: BoundedVec::new()
        }]
    );
}

// --- report ------------------------------------------------------------------

#[test]
fn latency_percentile_takes_the_rounded_rank() {
    assert_eq!(Report::latency_percentile(&[], 0.5), 0);
    assert_eq!(Report::latency_percentile(&[7], 0.99), 7);
    let sorted: Vec<u32> = (0..=100).collect();
    assert_eq!(Report::latency_percentile(&sorted, 0.5), 50);
    assert_eq!(Report::latency_percentile(&sorted, 0.99), 99);
    assert_eq!(Report::latency_percentile(&sorted, 1.0), 100);
    // (4 - 1) x 0.5 = 1.5 rounds away from zero, to index 2.
    assert_eq!(Report::latency_percentile(&[1, 2, 3, 4], 0.5), 3);
    assert_eq!(Report::latency_percentile(&[1, 2, 3, 4], f64::NAN), 1);
    for len in 1..300usize {
        let sorted: Vec<u32> = (0..len as u32).collect();
        for q in [0.0, 0.25, 0.5, 0.9, 0.99, 1.0] {
            let expected = sorted[((len - 1) as f64 * q).round() as usize];
            assert_eq!(
                Report::latency_percentile(&sorted, q),
                expected,
                "{len} {q}"
            );
        }
    }
}
