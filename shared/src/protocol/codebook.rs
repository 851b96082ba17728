//! The experiment's codebook on the wire: [`CodebookChunk`]s from the host,
//! checked as they arrive by a [`CodebookTracker`], answered with
//! [`CodebookInfo`].
//!
//! # A message of its own, not part of flashing
//!
//! A codebook belongs to the experiment, not to the model: one trained
//! model reads any 16-bit panel, and a lab changes panels without
//! retraining. So the codebook is not stored in the model file on the
//! board; the host sends it in its own messages, and it is session state:
//!
//! - it decodes every FOV that starts after it was accepted (a FOV in
//!   flight keeps the codebook it started with);
//! - it survives a model upload, and lasts until the next `Hello` or the
//!   end of the connection;
//! - without one, the model's stored codebook decodes (the default);
//! - an empty codebook (`total_words` 0, one empty last chunk) returns to
//!   the model's.
//!
//! Gene indices in [`Spots`](super::Spots) index the active codebook, in
//! the order it was sent, so the host names genes with the very list it
//! sent. Names travel so that [`CodebookInfo::checksum`] covers them and
//! blanks are the experiment's (a name starting with "Blank",
//! [`is_blank_name`](crate::codebook::is_blank_name)).
//!
//! # Checks
//!
//! Chunks are numbered 0, 1, 2, ... and all announce the same
//! `total_words` (at most [`MAX_CODEBOOK_WORDS`]); the last has `last =
//! true` and completes exactly `total_words` words. Every word is non-zero,
//! unique and has a non-empty name of at most [`MAX_GENE_NAME_BYTES`]
//! bytes (a longer name does not decode at all). Any other code is
//! accepted: weights other than 4 and a minimum distance below 4 are
//! reported in [`CodebookInfo`] (decoding then calls exact matches only),
//! not refused.

use core::fmt;

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

use super::{chunks, ErrorKind, ProtocolError};
use crate::checksum::Crc32;
use crate::codebook::BARCODE_BITS;

/// Most words a codebook on the wire may have (MHD4 has 140; every
/// weight-4 word of 16 bits, 1820).
pub const MAX_CODEBOOK_WORDS: usize = 4096;

/// Longest gene name, in UTF-8 bytes.
pub const MAX_GENE_NAME_BYTES: usize = 48;

/// Most words in one [`CodebookChunk`] (keeps a host message near 4 KiB).
pub const MAX_CODEBOOK_WORDS_PER_CHUNK: usize = 64;

/// One codebook entry: a gene (or blank control) and its barcode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodebookWord {
    /// Gene name; blank controls start with "Blank" (any case).
    pub name: String<MAX_GENE_NAME_BYTES>,
    /// Barcode, bit `i` = barcode bit `i`; never 0.
    pub word: u16,
}

/// Part of the experiment's codebook. Chunks are numbered from 0; the
/// final one has `last = true`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodebookChunk {
    /// Words in the whole codebook, the same in every chunk; 0 (with one
    /// empty last chunk) returns to the model's codebook.
    pub total_words: u16,
    /// 0, 1, 2, ... within the codebook.
    pub chunk_index: u16,
    /// Whether this is the final chunk.
    pub last: bool,
    /// The words of this chunk, in codebook order.
    pub words: Vec<CodebookWord, MAX_CODEBOOK_WORDS_PER_CHUNK>,
}

impl CodebookChunk {
    /// The chunks that carry `words` (an empty list: one empty last chunk,
    /// which returns to the model's codebook). `total_words` saturates at
    /// `u16::MAX`; a longer list is refused by the receiver.
    pub fn chunked(words: &[CodebookWord]) -> impl Iterator<Item = CodebookChunk> + '_ {
        let total_words = u16::try_from(words.len()).unwrap_or(u16::MAX);
        chunks(words).map(move |chunk| CodebookChunk {
            total_words,
            chunk_index: chunk.index,
            last: chunk.last,
            words: chunk.items,
        })
    }
}

/// Where the device's active codebook comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CodebookSource {
    /// No codebook: spots are found but not decoded.
    None,
    /// The codebook stored in the model file (the default).
    Model,
    /// The one the host sent.
    Experiment,
}

/// The codebook the device decodes with, as it reports it after a
/// codebook upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodebookInfo {
    /// Where it comes from.
    pub source: CodebookSource,
    /// Number of words.
    pub words: u16,
    /// Of which blank controls.
    pub blank_words: u16,
    /// Smallest Hamming distance between two words; `None` with fewer than
    /// two.
    pub min_distance: Option<u8>,
    /// Whether one-bit errors are corrected (minimum distance at least 4);
    /// otherwise only exact matches are called.
    pub corrects: bool,
    /// [`codebook_checksum`] of its words and names, in order, so the host
    /// can check that the device holds what it sent.
    pub checksum: u32,
}

/// CRC-32 of a codebook's entries in order: per entry, the word
/// (little-endian u16), the name's length in bytes (little-endian u32) and
/// the name's bytes.
pub fn codebook_checksum<'n>(entries: impl IntoIterator<Item = (&'n str, u16)>) -> u32 {
    let mut crc = Crc32::new();
    for (name, word) in entries {
        crc.update(&word.to_le_bytes());
        crc.update(&(name.len() as u32).to_le_bytes());
        crc.update(name.as_bytes());
    }
    crc.finalize()
}

/// Why a codebook upload was refused. Entries are numbered from 1 in
/// codebook order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodebookFault {
    /// More words were announced than [`MAX_CODEBOOK_WORDS`].
    TooManyWords {
        /// Words announced.
        announced: u16,
    },
    /// A chunk out of sequence.
    OutOfOrder {
        /// What was expected.
        reason: &'static str,
    },
    /// The chunks carry more words than announced, or the last one fewer.
    WordCount {
        /// Words received by then.
        received: u32,
        /// Words announced.
        announced: u16,
    },
    /// An entry has an empty name.
    EmptyName {
        /// The entry.
        entry: u16,
    },
    /// An entry's word has no bit set.
    ZeroWord {
        /// The entry.
        entry: u16,
    },
    /// An entry repeats an earlier entry's word.
    DuplicateWord {
        /// The entry.
        entry: u16,
        /// The word.
        word: u16,
    },
}

impl CodebookFault {
    /// The category the device reports.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            CodebookFault::TooManyWords { .. } => ErrorKind::Oversized,
            CodebookFault::OutOfOrder { .. } => ErrorKind::OutOfOrder,
            CodebookFault::WordCount { .. }
            | CodebookFault::EmptyName { .. }
            | CodebookFault::ZeroWord { .. }
            | CodebookFault::DuplicateWord { .. } => ErrorKind::Malformed,
        }
    }
}

impl fmt::Display for CodebookFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CodebookFault::TooManyWords { announced } => write!(
                f,
                "codebook of {announced} words refused: at most {MAX_CODEBOOK_WORDS}"
            ),
            CodebookFault::OutOfOrder { reason } => write!(f, "codebook out of order: {reason}"),
            CodebookFault::WordCount {
                received,
                announced,
            } => write!(
                f,
                "codebook announced {announced} words but {received} arrived"
            ),
            CodebookFault::EmptyName { entry } => {
                write!(f, "codebook entry {entry} has an empty name")
            }
            CodebookFault::ZeroWord { entry } => write!(
                f,
                "codebook entry {entry} has no bit set; it would be called for every dark spot"
            ),
            CodebookFault::DuplicateWord { entry, word } => {
                write!(f, "codebook entry {entry} repeats an earlier word, ")?;
                for bit in 0..BARCODE_BITS {
                    f.write_str(if word & (1 << bit) != 0 { "1" } else { "0" })?;
                }
                Ok(())
            }
        }
    }
}

/// Checks a codebook's chunks as they arrive (see the
/// [module docs](self)), without storing them: the receiver keeps the
/// words. Every check returns a [`ProtocolError::Codebook`]; a refused
/// chunk ends the upload, and the next chunk 0 starts a new one.
#[derive(Clone, Debug)]
pub struct CodebookTracker {
    total: u16,
    next_chunk: u16,
    received: u16,
    complete: bool,
    /// One bit per possible word: which words arrived (8 KiB).
    seen: [u64; 1 << 10],
}

impl CodebookTracker {
    /// Starts tracking the codebook whose first chunk is `first`, and
    /// checks that chunk.
    pub fn begin(first: &CodebookChunk) -> Result<Self, ProtocolError> {
        if first.chunk_index != 0 {
            return Err(fault(CodebookFault::OutOfOrder {
                reason: "a codebook must start with chunk 0",
            }));
        }
        if usize::from(first.total_words) > MAX_CODEBOOK_WORDS {
            return Err(fault(CodebookFault::TooManyWords {
                announced: first.total_words,
            }));
        }
        let mut tracker = CodebookTracker {
            total: first.total_words,
            next_chunk: 0,
            received: 0,
            complete: false,
            seen: [0; 1 << 10],
        };
        tracker.accept(first)?;
        Ok(tracker)
    }

    /// Checks the next chunk.
    pub fn accept(&mut self, chunk: &CodebookChunk) -> Result<(), ProtocolError> {
        let out_of_order = |reason| Err(fault(CodebookFault::OutOfOrder { reason }));
        if self.complete {
            return out_of_order("a chunk after the codebook's last one");
        }
        if chunk.chunk_index != self.next_chunk {
            return out_of_order("codebook chunks must be numbered 0, 1, 2, ...");
        }
        if chunk.total_words != self.total {
            return out_of_order("total_words changed within one codebook");
        }
        let received = u32::from(self.received) + chunk.words.len() as u32;
        let wrong_count =
            received > u32::from(self.total) || (chunk.last && received != u32::from(self.total));
        if wrong_count {
            return Err(fault(CodebookFault::WordCount {
                received,
                announced: self.total,
            }));
        }
        for (offset, entry) in chunk.words.iter().enumerate() {
            // At most MAX_CODEBOOK_WORDS entries, as checked above.
            let number = self.received + offset as u16 + 1;
            let (slot, bit) = (usize::from(entry.word >> 6), 1u64 << (entry.word & 63));
            if entry.name.is_empty() {
                return Err(fault(CodebookFault::EmptyName { entry: number }));
            }
            if entry.word == 0 {
                return Err(fault(CodebookFault::ZeroWord { entry: number }));
            }
            if self.seen[slot] & bit != 0 {
                return Err(fault(CodebookFault::DuplicateWord {
                    entry: number,
                    word: entry.word,
                }));
            }
            self.seen[slot] |= bit;
        }
        self.received = received as u16;
        self.next_chunk = self.next_chunk.wrapping_add(1);
        self.complete = chunk.last;
        Ok(())
    }

    /// Whether the last chunk arrived and the codebook is whole.
    pub const fn is_complete(&self) -> bool {
        self.complete
    }

    /// Words announced.
    pub const fn total_words(&self) -> u16 {
        self.total
    }
}

fn fault(fault: CodebookFault) -> ProtocolError {
    ProtocolError::Codebook(fault)
}
