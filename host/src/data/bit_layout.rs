//! Which tile image each barcode bit goes to, for acquisitions that say each
//! bit's imaging round and colour (MERlin's data organisation).
//!
//! robofish's tiles hold image `colour * 8 + round` (colours by ascending
//! wavelength); the pipelines read bit `i` from image
//! `BitOrder::image_of_bit(i)`. When the acquisition's bits are 2 colours x
//! 8 rounds laid out blocked or interleaved, each bit goes to its own
//! (colour, round) image and that order is reported; otherwise bit `i` goes
//! to image `i` and the order is `Blocked`.
use crate::sim::{BitOrder, IMAGE_COUNT};
use robofish_shared::codebook::{COLOURS, ROUNDS};

/// Where a bit was imaged, as the acquisition names it.
#[derive(Debug, Clone, PartialEq)]
pub struct BitSource {
    /// Imaging round (any integers; only their order matters).
    pub round: i64,
    /// Colour channel as written (e.g. `650`, `750`, `Cy5`): wavelengths
    /// sort numerically, other names alphabetically.
    pub colour: String,
}

/// The tile image of every barcode bit and the bit order that describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct BitLayout {
    /// `image_of_bit[bit]`: tile image index of barcode bit `bit`.
    pub image_of_bit: [usize; IMAGE_COUNT],
    /// The order the pipelines read the tile in.
    pub order: BitOrder,
    /// What was assumed, for the user, when anything was.
    pub note: Option<String>,
}

/// Lays out the bits whose sources are `bits` (`bits[i]` = bit `i`);
/// `forced` (from `--bit-order`) overrides what the sources say.
pub fn layout_bits(bits: &[BitSource; IMAGE_COUNT], forced: Option<BitOrder>) -> BitLayout {
    let physical = physical_images(bits);
    let images_of = |order: BitOrder| std::array::from_fn(|bit| order.image_of_bit(bit));
    if let Some(order) = forced {
        let image_of_bit = images_of(order);
        let note = physical
            .filter(|physical| *physical != image_of_bit)
            .map(|_| {
                format!(
                    "--bit-order {} places the bits otherwise than their rounds and colours \
                     in the data organisation",
                    order.name()
                )
            });
        return BitLayout {
            image_of_bit,
            order,
            note,
        };
    }
    for order in [BitOrder::Blocked, BitOrder::Interleaved] {
        if physical == Some(images_of(order)) {
            return BitLayout {
                image_of_bit: images_of(order),
                order,
                note: None,
            };
        }
    }
    BitLayout {
        image_of_bit: images_of(BitOrder::Blocked),
        order: BitOrder::Blocked,
        note: Some(
            "the bits' rounds and colours are neither blocked nor interleaved over 2 colours \
             x 8 rounds: bit i is put in image i (blocked)"
                .into(),
        ),
    }
}

/// `colour rank * 8 + round rank` of each bit, when the bits are exactly 2
/// colours of 8 distinct rounds each.
fn physical_images(bits: &[BitSource; IMAGE_COUNT]) -> Option<[usize; IMAGE_COUNT]> {
    let mut colours: Vec<&str> = bits.iter().map(|b| b.colour.as_str()).collect();
    colours.sort_by(|a, b| compare_colours(a, b));
    colours.dedup();
    if colours.len() != COLOURS {
        return None;
    }
    let mut images = [0; IMAGE_COUNT];
    for (colour_rank, colour) in colours.iter().enumerate() {
        let mut rounds: Vec<(i64, usize)> = bits
            .iter()
            .enumerate()
            .filter(|(_, b)| b.colour == *colour)
            .map(|(bit, b)| (b.round, bit))
            .collect();
        rounds.sort_unstable();
        let distinct = rounds.windows(2).all(|pair| pair[0].0 != pair[1].0);
        if rounds.len() != ROUNDS || !distinct {
            return None;
        }
        for (round_rank, (_, bit)) in rounds.into_iter().enumerate() {
            images[bit] = colour_rank * ROUNDS + round_rank;
        }
    }
    Some(images)
}

/// Wavelengths numerically, names alphabetically (numbers first).
fn compare_colours(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(of_bit: impl Fn(usize) -> (i64, &'static str)) -> [BitSource; IMAGE_COUNT] {
        std::array::from_fn(|bit| {
            let (round, colour) = of_bit(bit);
            BitSource {
                round,
                colour: colour.into(),
            }
        })
    }

    #[test]
    fn blocked_and_interleaved_sources_keep_their_images() {
        let blocked = sources(|bit| ((bit % 8) as i64, if bit < 8 { "650" } else { "750" }));
        let layout = layout_bits(&blocked, None);
        assert_eq!((layout.order, layout.note), (BitOrder::Blocked, None));
        let interleaved = sources(|bit| ((bit / 2) as i64 + 1, ["750", "650"][1 - bit % 2]));
        let layout = layout_bits(&interleaved, None);
        assert_eq!(layout.order, BitOrder::Interleaved);
        assert_eq!(layout.image_of_bit[1], 8);
        assert_eq!(layout.image_of_bit[2], 1);
    }

    #[test]
    fn other_layouts_put_bit_i_in_image_i() {
        // MERlin's own test organisation: colours alternate irregularly.
        let colours = [
            "650", "750", "750", "650", "650", "750", "650", "750", "750", "650", "650", "750",
            "650", "750", "750", "650",
        ];
        let merlin = sources(|bit| ((bit / 2) as i64, colours[bit]));
        let layout = layout_bits(&merlin, None);
        assert_eq!(layout.order, BitOrder::Blocked);
        assert_eq!(layout.image_of_bit, std::array::from_fn(|i| i));
        assert!(layout.note.unwrap().contains("neither"));
        let one_colour = sources(|bit| (bit as i64, "Cy5"));
        assert_eq!(layout_bits(&one_colour, None).order, BitOrder::Blocked);
    }

    #[test]
    fn a_forced_order_wins_and_says_when_it_disagrees() {
        let blocked = sources(|bit| ((bit % 8) as i64, if bit < 8 { "647" } else { "750" }));
        let layout = layout_bits(&blocked, Some(BitOrder::Interleaved));
        assert_eq!(layout.order, BitOrder::Interleaved);
        assert!(layout.note.is_some());
        assert_eq!(layout_bits(&blocked, Some(BitOrder::Blocked)).note, None);
    }
}
