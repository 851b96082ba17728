//! The in-memory tile that the simulator makes, the dataset reader returns
//! and the trainer and streamer consume.
use robofish_shared::codebook::{BitOrder, BARCODE_BITS, ROUNDS};
use std::fmt;
use std::str::FromStr;

/// Images per tile: 8 rounds x 2 colours.
pub const IMAGE_COUNT: usize = BARCODE_BITS;

/// `Emitter::gene` of an emitter whose word is not in the codebook (only
/// possible for data read from disk).
pub const UNKNOWN_GENE: usize = usize::MAX;

/// One tile: 16 images and the emitters that made them.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    /// Rows per image.
    pub height: usize,
    /// Columns per image.
    pub width: usize,
    /// Planar `[16][height][width]` camera counts; image index =
    /// `colour * 8 + round` (647 nm rounds 1-8, then 750 nm rounds 1-8).
    pub images: Vec<u16>,
    /// Ground truth.
    pub truth: Vec<Emitter>,
}

/// One fluorescent emitter (an RNA molecule).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Emitter {
    /// Row coordinate in pixels; its pixel row is `floor(y)`, pixel centres
    /// are at `row + 0.5`.
    pub y: f32,
    /// Column coordinate in pixels; its pixel column is `floor(x)`.
    pub x: f32,
    /// Codebook index of its gene, or [`UNKNOWN_GENE`].
    pub gene: usize,
    /// Barcode, bit `i` = barcode bit `i`.
    pub word: u16,
    /// Mean photons of one on-bit spot of this emitter (before the colour
    /// and per-round factors).
    pub brightness: f32,
}

impl Emitter {
    /// Integer pixel `(row, column)`.
    pub fn pixel(&self) -> (usize, usize) {
        (
            self.y.max(0.0).floor() as usize,
            self.x.max(0.0).floor() as usize,
        )
    }
}

impl Tile {
    /// Index of the image of `colour` (0 = 647 nm, 1 = 750 nm) and `round`
    /// (0-based).
    pub fn image_index(colour: usize, round: usize) -> usize {
        colour * ROUNDS + round
    }

    /// Image `index` (`colour * 8 + round`) as a row-major slice.
    pub fn image(&self, index: usize) -> &[u16] {
        let pixels = self.height * self.width;
        &self.images[index * pixels..(index + 1) * pixels]
    }

    /// The image that carries barcode bit `bit` under `order`.
    pub fn bit_image(&self, bit: usize, order: BitOrder) -> &[u16] {
        self.image(order.image_of_bit(bit))
    }
}

/// A dataset split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// Training tiles.
    Train = 0,
    /// Validation tiles.
    Val = 1,
    /// Test tiles.
    Test = 2,
}

impl Split {
    /// All splits, in the order they are written.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// Folder name.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Split {
    type Err = String;

    fn from_str(text: &str) -> Result<Split, String> {
        Split::ALL
            .into_iter()
            .find(|split| split.name() == text)
            .ok_or_else(|| format!("unknown split `{text}`: expected train, val or test"))
    }
}
