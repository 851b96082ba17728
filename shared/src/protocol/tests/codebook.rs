//! The experiment's codebook on the wire and each FOV's quality: chunking,
//! round trips, every refusal of the tracker, names too long to decode,
//! and the quality sums.

use super::*;

fn word(name: &str, word: u16) -> CodebookWord {
    CodebookWord {
        name: bounded_str(name),
        word,
    }
}

/// The MHD4 words named `G0`, `G1`, ... with the last `blanks` as blanks.
fn mhd4_words(blanks: usize) -> Vec<CodebookWord> {
    let words = crate::codebook::mhd4_words();
    words
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let name = if i + blanks >= words.len() {
                format!("Blank-{i}")
            } else {
                format!("G{i}")
            };
            word(&name, w)
        })
        .collect()
}

/// Runs `chunks` through a tracker as a receiver would.
fn track(chunks: &[CodebookChunk]) -> Result<CodebookTracker, ProtocolError> {
    let (first, rest) = chunks.split_first().expect("at least one chunk");
    let mut tracker = CodebookTracker::begin(first)?;
    for chunk in rest {
        tracker.accept(chunk)?;
    }
    Ok(tracker)
}

fn fault_of(result: Result<CodebookTracker, ProtocolError>) -> CodebookFault {
    match result {
        Err(ProtocolError::Codebook(fault)) => fault,
        other => panic!("expected a codebook fault, got {other:?}"),
    }
}

#[test]
fn a_codebook_is_chunked_and_tracked_to_completion() {
    let words = mhd4_words(10);
    let chunks: Vec<CodebookChunk> = CodebookChunk::chunked(&words).collect();
    assert_eq!(chunks.len(), 3, "140 words in chunks of 64");
    assert!(chunks.iter().all(|c| c.total_words == 140));
    assert_eq!(
        chunks.iter().map(|c| c.chunk_index).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(chunks[2].last && !chunks[1].last);
    let tracker = track(&chunks).unwrap();
    assert!(tracker.is_complete());
    assert_eq!(tracker.total_words(), 140);
    let again: Vec<CodebookWord> = chunks.iter().flat_map(|c| c.words.clone()).collect();
    assert_eq!(again, words);
}

#[test]
fn an_empty_codebook_is_one_empty_last_chunk() {
    let chunks: Vec<CodebookChunk> = CodebookChunk::chunked(&[]).collect();
    assert_eq!(chunks.len(), 1);
    assert!(chunks[0].last && chunks[0].words.is_empty() && chunks[0].total_words == 0);
    assert!(track(&chunks).unwrap().is_complete());
}

#[test]
fn codebook_chunks_round_trip_through_frames() {
    let words = mhd4_words(25);
    for chunk in CodebookChunk::chunked(&words) {
        let message = HostMessage::CodebookChunk(chunk);
        let frame = encode(&message);
        let mut decoder: std::boxed::Box<FrameDecoder> = std::boxed::Box::default();
        match decoder.feed::<HostMessage>(&frame) {
            Feed::Message { message: back, .. } => assert_eq!(back, message),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn hostile_codebooks_are_refused_with_a_reason() {
    let words = mhd4_words(10);
    let good: Vec<CodebookChunk> = CodebookChunk::chunked(&words).collect();

    // Oversized: more words announced than the limit.
    let mut oversized = good[0].clone();
    oversized.total_words = MAX_CODEBOOK_WORDS as u16 + 1;
    let fault = fault_of(CodebookTracker::begin(&oversized));
    assert_eq!(fault.kind(), ErrorKind::Oversized);

    // Wrong word count: the last chunk ends short, or a chunk overshoots.
    let mut short = good.clone();
    short[2].words.pop();
    assert_eq!(
        fault_of(track(&short)),
        CodebookFault::WordCount {
            received: 139,
            announced: 140
        }
    );
    let mut long = good.clone();
    for chunk in &mut long {
        chunk.total_words = 100;
    }
    assert_eq!(
        fault_of(track(&long)),
        CodebookFault::WordCount {
            received: 128,
            announced: 100
        }
    );

    // Duplicate words, also across chunks; zero words; empty names.
    let mut duplicate = good.clone();
    duplicate[2].words[3].word = words[5].word;
    let fault = fault_of(track(&duplicate));
    assert_eq!(
        fault,
        CodebookFault::DuplicateWord {
            entry: 132,
            word: words[5].word
        }
    );
    let text = format!("{}", ProtocolError::Codebook(fault));
    let bits: StdString = (0..16)
        .map(|b| {
            if words[5].word >> b & 1 == 1 {
                '1'
            } else {
                '0'
            }
        })
        .collect();
    assert!(
        text.contains("entry 132") && text.ends_with(&bits),
        "{text}"
    );
    let mut zero = good.clone();
    zero[0].words[0].word = 0;
    assert_eq!(fault_of(track(&zero)), CodebookFault::ZeroWord { entry: 1 });
    let mut nameless = good.clone();
    nameless[1].words[0].name.clear();
    assert_eq!(
        fault_of(track(&nameless)),
        CodebookFault::EmptyName { entry: 65 }
    );

    // Out of order: a gap, a repeat, a late start, a changed total, and a
    // chunk after the last.
    let gap = [good[0].clone(), good[2].clone()];
    assert!(matches!(
        fault_of(track(&gap)),
        CodebookFault::OutOfOrder { .. }
    ));
    assert!(matches!(
        fault_of(CodebookTracker::begin(&good[1])),
        CodebookFault::OutOfOrder { .. }
    ));
    let mut changed = good.clone();
    changed[1].total_words = 141;
    assert_eq!(fault_of(track(&changed)).kind(), ErrorKind::OutOfOrder);
    let mut after_last = good.clone();
    after_last.push(good[2].clone());
    assert!(matches!(
        fault_of(track(&after_last)),
        CodebookFault::OutOfOrder { .. }
    ));
}

/// A one-word, one-chunk codebook frame as postcard writes it (an enum
/// variant is its index as a varint, like a u32), with an ordinary string
/// for the name, so it may be longer than the limit.
fn codebook_frame_named(name: &str) -> Vec<u8> {
    let variant = 10u32; // HostMessage::CodebookChunk
    let body = (
        PROTOCOL_VERSION,
        variant,
        1u16,
        0u16,
        true,
        std::vec![(name, 0b1111u16)],
    );
    let mut frame = std::vec![0u8];
    frame.extend(postcard::to_allocvec_cobs(&body).unwrap());
    frame
}

#[test]
fn a_name_too_long_does_not_decode() {
    let mut decoder: std::boxed::Box<FrameDecoder> = std::boxed::Box::default();
    let too_long = codebook_frame_named(&"x".repeat(MAX_GENE_NAME_BYTES + 1));
    match decoder.feed::<HostMessage>(&too_long) {
        Feed::Error { error, .. } => assert_eq!(error.kind(), ErrorKind::Malformed),
        other => panic!("{other:?}"),
    }
    // A name that fits decodes (the hand-made frame is right).
    let fits = codebook_frame_named(&"x".repeat(MAX_GENE_NAME_BYTES));
    match decoder.feed::<HostMessage>(&fits) {
        Feed::Message {
            message: HostMessage::CodebookChunk(chunk),
            ..
        } => assert_eq!(chunk.words[0].name.len(), MAX_GENE_NAME_BYTES),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_checksum_covers_words_names_and_order() {
    let entries = [("Actb", 0b1111u16), ("Blank-1", 0b1111_0000)];
    let base = codebook_checksum(entries);
    assert_eq!(base, codebook_checksum(entries));
    assert_ne!(base, codebook_checksum([entries[1], entries[0]]));
    assert_ne!(base, codebook_checksum([("Actc", 0b1111), entries[1]]));
    assert_ne!(base, codebook_checksum([("Actb", 0b1_1110), entries[1]]));
    // Name boundaries count: "ab" + "c" is not "a" + "bc".
    assert_ne!(
        codebook_checksum([("ab", 1), ("c", 2)]),
        codebook_checksum([("a", 1), ("bc", 2)])
    );
}

fn spot(gene: u16, distance: u8, confidence: u8) -> WireSpot {
    WireSpot {
        row: 0,
        col: 0,
        dy: 0.0,
        dx: 0.0,
        gene,
        distance,
        confidence,
    }
}

#[test]
fn quality_counts_calls_and_estimates_misidentification() {
    let mut quality = CallQuality::new(10, 130);
    quality.record(&spot(3, 0, 255), false);
    quality.record(&spot(4, 1, 51), false);
    quality.record(&spot(135, 0, 102), true);
    quality.record(&spot(UNASSIGNED_GENE, 2, 0), false);
    let d = quality.decoding;
    assert_eq!((d.exact, d.corrected, d.blank, d.unassigned), (2, 1, 1, 1));
    assert_eq!(quality.calls(), 3);
    assert_eq!(quality.confidence_sum, 408);
    assert!((quality.mean_confidence().unwrap() - 408.0 / 3.0 / 255.0).abs() < 1e-12);
    assert!((quality.corrected_share().unwrap() - 1.0 / 3.0).abs() < 1e-12);
    // 1 blank call / 10 blank words x 130 coding words / 2 coding calls.
    assert!((quality.misidentification_rate().unwrap() - 6.5).abs() < 1e-12);

    let empty = CallQuality::new(10, 130);
    assert_eq!(
        (empty.mean_confidence(), empty.corrected_share()),
        (None, None)
    );
    assert_eq!(empty.misidentification_rate(), Some(0.0));
    assert_eq!(CallQuality::new(0, 140).misidentification_rate(), None);

    let mut pooled = quality;
    pooled.accumulate(&quality);
    assert_eq!(pooled.calls(), 6);
    assert_eq!(
        pooled.misidentification_rate(),
        quality.misidentification_rate()
    );
    // Another codebook's FOV: no pooled estimate.
    pooled.accumulate(&CallQuality::new(20, 120));
    assert_eq!((pooled.blank_words, pooled.coding_words), (0, 0));
    assert_eq!(pooled.misidentification_rate(), None);
}
