//! The codebook FOVs decode against: the experiment's, received over the
//! wire chunk by chunk, else the one stored in the model (the default).
//! Why the codebook is session state, not part of flashing, is in
//! [`robofish_shared::protocol::codebook`].

use robofish_shared::codebook::{is_blank_name, CodeProfile};
use robofish_shared::model::CodebookEntry;
use robofish_shared::post::decode::DecodeTable;
use robofish_shared::protocol::{
    codebook_checksum, CallQuality, CodebookChunk, CodebookInfo, CodebookSource, CodebookTracker,
    CodebookWord, ProtocolError,
};

use crate::error::Result;

/// A checked codebook ready to decode with, and what the device reports
/// about it.
#[derive(Debug)]
pub struct ActiveCodebook {
    /// Words and blank flags, in codebook order (gene index = position).
    pub table: DecodeTable,
    /// Size, blanks, distance, correction and checksum.
    pub info: CodebookInfo,
}

impl ActiveCodebook {
    /// The codebook stored in a model file; `None` when it stores none.
    pub fn from_model(entries: &[CodebookEntry]) -> Result<Option<ActiveCodebook>> {
        if entries.is_empty() {
            return Ok(None);
        }
        let entries = entries.iter().map(|e| (e.name.as_str(), e.word));
        ActiveCodebook::new(entries, CodebookSource::Model).map(Some)
    }

    /// A codebook received from the host.
    pub fn from_wire(words: &[CodebookWord]) -> Result<ActiveCodebook> {
        let entries = words.iter().map(|e| (e.name.as_str(), e.word));
        ActiveCodebook::new(entries, CodebookSource::Experiment)
    }

    fn new<'n>(
        entries: impl Iterator<Item = (&'n str, u16)> + Clone,
        source: CodebookSource,
    ) -> Result<ActiveCodebook> {
        let words: Vec<u16> = entries.clone().map(|(_, word)| word).collect();
        let blank: Vec<bool> = entries
            .clone()
            .map(|(name, _)| is_blank_name(name))
            .collect();
        let blank_words = blank.iter().filter(|&&b| b).count();
        let profile = CodeProfile::of(&words, blank_words);
        let table = DecodeTable::new(words, blank)?;
        let info = CodebookInfo {
            source,
            words: saturating_u16(profile.words()),
            blank_words: saturating_u16(blank_words),
            min_distance: profile.min_distance().map(|d| d.min(255) as u8),
            corrects: table.decoder().corrects(),
            checksum: codebook_checksum(entries),
        };
        Ok(ActiveCodebook { table, info })
    }

    /// An empty tally of calls against this codebook.
    pub fn quality(&self) -> CallQuality {
        CallQuality::new(
            self.info.blank_words,
            self.info.words - self.info.blank_words,
        )
    }
}

/// What the device says about its codebook when it has none.
pub const NO_CODEBOOK: CodebookInfo = CodebookInfo {
    source: CodebookSource::None,
    words: 0,
    blank_words: 0,
    min_distance: None,
    corrects: true,
    checksum: 0,
};

fn saturating_u16(n: usize) -> u16 {
    n.min(usize::from(u16::MAX)) as u16
}

/// What a finished upload asks for.
#[derive(Debug)]
pub(crate) enum Received {
    /// Decode later FOVs with this codebook.
    Experiment(ActiveCodebook),
    /// An empty codebook: back to the model's.
    ModelDefault,
}

/// The upload in progress, if any.
#[derive(Debug, Default)]
enum State {
    #[default]
    Idle,
    Receiving {
        tracker: Box<CodebookTracker>,
        words: Vec<CodebookWord>,
    },
    /// Answered with its error already: the rest of this upload is dropped
    /// without another reply.
    Failed,
}

/// Assembles a codebook upload; every upload gets exactly one answer.
#[derive(Debug, Default)]
pub(crate) struct CodebookReceiver {
    state: State,
}

impl CodebookReceiver {
    /// Forgets any upload in progress.
    pub fn reset(&mut self) {
        self.state = State::Idle;
    }

    /// Takes one chunk. `None`: no answer yet (more chunks to come, or the
    /// chunk belongs to an upload that already failed); otherwise the
    /// upload's answer. A chunk 0 always starts a new upload.
    pub fn accept(&mut self, chunk: &CodebookChunk) -> Option<Result<Received>> {
        if chunk.chunk_index == 0 {
            self.state = State::Idle;
        }
        let (tracker, mut words) = match std::mem::take(&mut self.state) {
            State::Failed => {
                if !chunk.last {
                    self.state = State::Failed;
                }
                return None;
            }
            State::Idle => match CodebookTracker::begin(chunk) {
                Ok(tracker) => (Box::new(tracker), Vec::new()),
                Err(e) => return self.fail(chunk, e),
            },
            State::Receiving { mut tracker, words } => match tracker.accept(chunk) {
                Ok(()) => (tracker, words),
                Err(e) => return self.fail(chunk, e),
            },
        };
        words.extend(chunk.words.iter().cloned());
        if !tracker.is_complete() {
            self.state = State::Receiving { tracker, words };
            return None;
        }
        Some(if words.is_empty() {
            Ok(Received::ModelDefault)
        } else {
            ActiveCodebook::from_wire(&words).map(Received::Experiment)
        })
    }

    /// The answer of an upload refused at `chunk`; its later chunks are
    /// dropped quietly.
    fn fail(&mut self, chunk: &CodebookChunk, error: ProtocolError) -> Option<Result<Received>> {
        if !chunk.last {
            self.state = State::Failed;
        }
        Some(Err(error.into()))
    }
}
