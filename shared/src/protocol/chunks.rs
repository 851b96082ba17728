//! Splitting a FOV's list of spots into numbered chunks: the rule that
//! [`Spots`] and [`GroundTruth`] share.
//!
//! Chunks are numbered 0, 1, 2, ...; the final one has `last = true`; a FOV
//! with nothing to send still sends one empty last chunk, so the receiver
//! always learns that the list is complete.

use heapless::Vec;

use super::{GroundTruth, Spots, TruthSpot, WireSpot};

/// One chunk of a list: its number, whether it is the final one, and its
/// items.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk<T, const N: usize> {
    /// 0, 1, 2, ... within the list (wrapping after 65535 chunks, which
    /// would take more spots than a 2048 x 2048 FOV has pixels).
    pub index: u16,
    /// Whether this is the final chunk.
    pub last: bool,
    /// At most `N` items, in list order.
    pub items: Vec<T, N>,
}

/// `items` in chunks of at most `N`, in order; one empty last chunk when
/// `items` is empty.
pub fn chunks<T: Clone, const N: usize>(items: &[T]) -> impl Iterator<Item = Chunk<T, N>> + '_ {
    const { assert!(N > 0, "a chunk must hold at least one item") };
    let count = items.len().div_ceil(N).max(1);
    (0..count).map(move |i| {
        let start = (i * N).min(items.len());
        let end = (start + N).min(items.len());
        let mut chunk = Vec::new();
        // `end - start <= N`, the capacity, so nothing is dropped.
        let _ = chunk.extend_from_slice(&items[start..end]);
        Chunk {
            index: i as u16,
            last: i + 1 == count,
            items: chunk,
        }
    })
}

impl Spots {
    /// The [`Spots`] messages that carry `spots` of FOV `frame_id`.
    pub fn chunked(frame_id: u32, spots: &[WireSpot]) -> impl Iterator<Item = Spots> + '_ {
        chunks(spots).map(move |chunk| Spots {
            frame_id,
            chunk_index: chunk.index,
            last: chunk.last,
            spots: chunk.items,
        })
    }
}

impl GroundTruth {
    /// The [`GroundTruth`] messages that carry `spots` of FOV `frame_id`.
    pub fn chunked(frame_id: u32, spots: &[TruthSpot]) -> impl Iterator<Item = GroundTruth> + '_ {
        chunks(spots).map(move |chunk| GroundTruth {
            frame_id,
            chunk_index: chunk.index,
            last: chunk.last,
            spots: chunk.items,
        })
    }
}
