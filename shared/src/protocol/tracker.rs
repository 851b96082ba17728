//! The receiving side's bookkeeping for one FOV: which band comes next,
//! whether the truth is complete, and the running pixel checksum.

use super::{
    FrameEnd, FrameStart, GroundTruth, ProtocolError, RowBand, MAX_ROW_BAND_BYTES,
    MAX_TRUTH_SPOTS_PER_FOV,
};
use crate::checksum::Crc32;

/// Checks that the messages of one FOV arrive as the protocol requires:
/// bands in order without gaps or overlap and of the announced size, truth
/// chunks numbered from 0 and only when announced, and at
/// [`FrameEnd`] all rows, all truth and a matching checksum.
///
/// Every check returns an error value the device can report with
/// [`ErrorReport::from_error`](super::ErrorReport::from_error); the tracker
/// itself never panics, and a rejected message leaves it unchanged.
#[derive(Clone, Debug)]
pub struct FrameTracker {
    start: FrameStart,
    next_row: u16,
    next_truth_chunk: u16,
    truth_spots: usize,
    truth_complete: bool,
    pixels: Crc32,
}

impl FrameTracker {
    /// Starts tracking the FOV `start` announces, after
    /// [`FrameStart::validate`].
    pub fn begin(start: FrameStart) -> Result<Self, ProtocolError> {
        start.validate()?;
        Ok(Self {
            truth_complete: !start.has_truth,
            start,
            next_row: 0,
            next_truth_chunk: 0,
            truth_spots: 0,
            pixels: Crc32::new(),
        })
    }

    /// The FOV's announcement.
    pub const fn start(&self) -> &FrameStart {
        &self.start
    }

    /// The FOV's id.
    pub const fn frame_id(&self) -> u32 {
        self.start.frame_id
    }

    /// Rows received so far; the next band must start here.
    pub const fn rows_received(&self) -> u16 {
        self.next_row
    }

    /// Checks `band` against the FOV and the bands before it and adds its
    /// pixels to the checksum.
    pub fn accept_band(&mut self, band: &RowBand<'_>) -> Result<(), ProtocolError> {
        let frame_id = self.start.frame_id;
        if band.frame_id != frame_id {
            return Err(ProtocolError::OutOfOrder {
                frame_id: band.frame_id,
                reason: "row band for a frame other than the current one",
            });
        }
        if band.first_row != self.next_row {
            return Err(ProtocolError::OutOfOrder {
                frame_id,
                reason: "row band does not start where the previous one ended",
            });
        }
        if band.data.len() > MAX_ROW_BAND_BYTES {
            return Err(ProtocolError::Oversized {
                len: band.data.len(),
                limit: MAX_ROW_BAND_BYTES,
            });
        }
        let end_row = u32::from(band.first_row) + u32::from(band.row_count);
        if band.row_count == 0 || end_row > u32::from(self.start.height) {
            return Err(ProtocolError::WrongDimensions {
                frame_id,
                reason: "row band is empty or runs past the frame's height",
            });
        }
        if band.data.len() != usize::from(band.row_count) * self.start.row_bytes() {
            return Err(ProtocolError::WrongDimensions {
                frame_id,
                reason: "row band data length is not row_count x images x width x bytes per pixel",
            });
        }
        self.pixels.update(band.data);
        // `end_row <= height`, a u16, as checked above.
        self.next_row = end_row as u16;
        Ok(())
    }

    /// Checks the numbering of a ground-truth chunk.
    pub fn accept_truth(&mut self, truth: &GroundTruth) -> Result<(), ProtocolError> {
        let frame_id = self.start.frame_id;
        if truth.frame_id != frame_id {
            return Err(ProtocolError::OutOfOrder {
                frame_id: truth.frame_id,
                reason: "ground truth for a frame other than the current one",
            });
        }
        if !self.start.has_truth {
            return Err(ProtocolError::OutOfOrder {
                frame_id,
                reason: "ground truth for a frame announced without it",
            });
        }
        if self.truth_complete {
            return Err(ProtocolError::OutOfOrder {
                frame_id,
                reason: "ground truth after the last truth chunk",
            });
        }
        if truth.chunk_index != self.next_truth_chunk {
            return Err(ProtocolError::OutOfOrder {
                frame_id,
                reason: "ground-truth chunks must be numbered 0, 1, 2, ...",
            });
        }
        let spots = self.truth_spots + truth.spots.len();
        if spots > MAX_TRUTH_SPOTS_PER_FOV {
            return Err(ProtocolError::TooMuchTruth {
                frame_id,
                limit: MAX_TRUTH_SPOTS_PER_FOV,
            });
        }
        self.truth_spots = spots;
        self.next_truth_chunk = self.next_truth_chunk.wrapping_add(1);
        self.truth_complete = truth.last;
        Ok(())
    }

    /// The CRC-32 of the pixel bytes accepted so far.
    pub const fn checksum(&self) -> u32 {
        self.pixels.finalize()
    }

    /// Checks that the FOV is complete and its checksum matches.
    pub fn finish(&self, end: &FrameEnd) -> Result<(), ProtocolError> {
        let frame_id = self.start.frame_id;
        if end.frame_id != frame_id {
            return Err(ProtocolError::OutOfOrder {
                frame_id: end.frame_id,
                reason: "frame end for a frame other than the current one",
            });
        }
        if self.next_row != self.start.height {
            return Err(ProtocolError::MissingRows {
                frame_id,
                received: self.next_row,
                height: self.start.height,
            });
        }
        if !self.truth_complete {
            return Err(ProtocolError::MissingTruth { frame_id });
        }
        let computed = self.pixels.finalize();
        if computed != end.checksum {
            return Err(ProtocolError::BadChecksum {
                frame_id: Some(frame_id),
                expected: end.checksum,
                computed,
            });
        }
        Ok(())
    }
}
