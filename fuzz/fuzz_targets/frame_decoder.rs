//! Fuzzes the device's frame decoder with arbitrary bytes in arbitrary
//! chunks, as a serial line or socket would deliver them.
//!
//! Input layout: the first byte seeds the chunk sizes (1..=64 bytes,
//! varying), the rest is the stream. Checks, besides "never panics":
//! - every decoded message re-encodes and decodes to itself;
//! - every decoded FOV message runs through a `FrameTracker` without panic;
//! - every decoded codebook chunk runs through a `CodebookTracker` without
//!   panic, and a completed codebook holds exactly the announced words;
//! - `finish` leaves the decoder at a frame boundary.
//!
//! Run: `cargo +nightly fuzz run frame_decoder` (from the repository root).
#![no_main]

use libfuzzer_sys::fuzz_target;
use robofish_shared::protocol::{
    encode_frame, CodebookTracker, Feed, FrameDecoder, FrameTracker, HostMessage,
    MAX_ENCODED_FRAME_BYTES,
};

/// Small enough that fuzz inputs reach the oversized path often.
const DECODER_CAPACITY: usize = 1024;

fuzz_target!(|input: &[u8]| {
    let Some((&seed, stream)) = input.split_first() else {
        return;
    };
    let mut decoder: Box<FrameDecoder<DECODER_CAPACITY>> = Box::default();
    let mut tracker: Option<FrameTracker> = None;
    let mut codebook: Option<(CodebookTracker, usize)> = None;
    let mut encode_buffer = vec![0u8; MAX_ENCODED_FRAME_BYTES];
    let mut offset = 0;
    let mut step: usize = 0;
    while offset < stream.len() {
        let chunk_len =
            (usize::from(seed.rotate_left(step as u32 % 8)) % 64 + 1).min(stream.len() - offset);
        step += 1;
        let mut window = &stream[offset..offset + chunk_len];
        offset += chunk_len;
        loop {
            match decoder.feed::<HostMessage>(window) {
                Feed::Pending => break,
                Feed::Error { error, remaining } => {
                    let _ = error.to_string();
                    window = remaining;
                }
                Feed::Message { message, remaining } => {
                    check_round_trip(&message, &mut encode_buffer);
                    track(&mut tracker, &message);
                    track_codebook(&mut codebook, &message);
                    window = remaining;
                }
            }
        }
    }
    let _ = decoder.finish();
    assert!(!decoder.is_mid_frame());
});

fn check_round_trip(message: &HostMessage<'_>, buffer: &mut [u8]) {
    let frame: &[u8] = encode_frame(message, buffer).expect("a decoded message re-encodes");
    let mut decoder: Box<FrameDecoder<{ robofish_shared::protocol::MAX_FRAME_BYTES }>> =
        Box::default();
    match decoder.feed::<HostMessage>(frame) {
        Feed::Message {
            message: again,
            remaining,
        } => {
            // NaN coordinates in ground truth are not equal to themselves;
            // compare the encodings instead of the values.
            let mut second = vec![0u8; MAX_ENCODED_FRAME_BYTES];
            let frame_again = encode_frame(&again, &mut second).expect("re-encodes");
            assert_eq!(&*frame_again, frame);
            assert!(remaining.is_empty());
        }
        other => panic!("re-encoded message did not decode: {other:?}"),
    }
}

fn track(tracker: &mut Option<FrameTracker>, message: &HostMessage<'_>) {
    match message {
        HostMessage::FrameStart(start) => *tracker = FrameTracker::begin(start.clone()).ok(),
        HostMessage::RowBand(band) => {
            if let Some(t) = tracker {
                let _ = t.accept_band(band);
            }
        }
        HostMessage::GroundTruth(truth) => {
            if let Some(t) = tracker {
                let _ = t.accept_truth(truth);
            }
        }
        HostMessage::FrameEnd(end) => {
            if let Some(t) = tracker.take() {
                let _ = t.finish(end);
            }
        }
        HostMessage::ModelChunk(chunk) => {
            let _ = chunk.validate();
        }
        _ => {}
    }
}

/// Feeds codebook chunks to a tracker as the device does: chunk 0 starts
/// over, a refused chunk ends the upload. Counts the words accepted.
fn track_codebook(codebook: &mut Option<(CodebookTracker, usize)>, message: &HostMessage<'_>) {
    let HostMessage::CodebookChunk(chunk) = message else {
        return;
    };
    if chunk.chunk_index == 0 {
        *codebook = None;
    }
    let accepted = match codebook.as_mut() {
        None => CodebookTracker::begin(chunk)
            .map(|tracker| *codebook = Some((tracker, 0)))
            .is_ok(),
        Some((tracker, _)) => tracker.accept(chunk).is_ok(),
    };
    match codebook.as_mut() {
        Some((tracker, words)) if accepted => {
            *words += chunk.words.len();
            if tracker.is_complete() {
                assert_eq!(*words, usize::from(tracker.total_words()));
                *codebook = None;
            }
        }
        _ => *codebook = None,
    }
}
