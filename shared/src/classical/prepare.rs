//! Steps 1 and 2 of the pipeline: each image in units of its noise, less
//! its local background, by barcode bit. Kept whole so that the matched
//! filter can run twice (the second time with the registration shifts)
//! without measuring and removing the background again.

use alloc::vec;
use alloc::vec::Vec;

use crate::codebook::BitOrder;
use crate::image::InputImage;
use crate::image_stats;
use crate::post::BARCODE_BITS;

use super::filter;
use super::{ClassicalError, Params};

/// The 16 background-free images of a stack in noise units, by barcode
/// bit.
pub(crate) struct Residuals {
    height: usize,
    width: usize,
    /// `BARCODE_BITS` planes of `height * width`.
    planes: Vec<f32>,
}

impl Residuals {
    /// Normalises every image of `image` (16, checked by the caller) and
    /// removes its local background.
    pub(crate) fn new(
        image: &InputImage<'_>,
        bit_order: BitOrder,
        params: &Params,
    ) -> Result<Residuals, ClassicalError> {
        let (height, width) = (image.height(), image.width());
        let too_large = ClassicalError::ImageTooLarge { height, width };
        let n = height.checked_mul(width).ok_or(too_large.clone())?;
        // Four sets of 16 f32 planes (these, and the decoder's three) must
        // fit in the address space.
        let total = n
            .checked_mul(BARCODE_BITS)
            .filter(|&t| t <= isize::MAX as usize / 16)
            .ok_or(too_large)?;
        let mut planes = vec![0.0f32; total];
        let mut scratch = Scratch::new(n);
        for (bit, out) in planes.chunks_exact_mut(n).enumerate() {
            remove_background(
                image,
                bit_order.image_of_bit(bit),
                params,
                out,
                &mut scratch,
            );
        }
        Ok(Residuals {
            height,
            width,
            planes,
        })
    }

    /// Rows and columns.
    pub(crate) fn size(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// The plane of barcode bit `bit`.
    pub(crate) fn plane(&self, bit: usize) -> &[f32] {
        let n = self.height * self.width;
        &self.planes[bit * n..(bit + 1) * n]
    }
}

/// Normalises image `channel` of `image` and removes its local
/// background, into `out`.
fn remove_background(
    image: &InputImage<'_>,
    channel: usize,
    p: &Params,
    out: &mut [f32],
    s: &mut Scratch,
) {
    let (height, width) = (image.height(), image.width());
    let stats = image_stats::measure(image, channel);
    let inverse_noise = 1.0 / stats.noise;
    for y in 0..height {
        for x in 0..width {
            s.z[y * width + x] =
                (f32::from(image.get(channel, y, x)) - stats.background) * inverse_noise;
        }
    }
    s.background.fill(0.0);
    for _ in 0..p.background_passes {
        for ((e, &z), &b) in s.excluded.iter_mut().zip(&s.z).zip(&s.background) {
            *e = z - b > p.background_clip;
        }
        filter::dilate(
            &mut s.excluded,
            &mut s.excluded_scratch,
            height,
            width,
            p.background_dilation,
        );
        filter::masked_box_mean(
            &s.z,
            &s.excluded,
            &mut s.background,
            (&mut s.sums, &mut s.counts),
            (height, width),
            p.background_radius,
        );
    }
    for ((r, &z), &b) in out.iter_mut().zip(&s.z).zip(&s.background) {
        *r = z - b;
    }
}

/// Planes reused across the 16 images.
struct Scratch {
    z: Vec<f32>,
    background: Vec<f32>,
    sums: Vec<f32>,
    counts: Vec<f32>,
    excluded: Vec<bool>,
    excluded_scratch: Vec<bool>,
}

impl Scratch {
    fn new(n: usize) -> Scratch {
        Scratch {
            z: vec![0.0; n],
            background: vec![0.0; n],
            sums: vec![0.0; n],
            counts: vec![0.0; n],
            excluded: vec![false; n],
            excluded_scratch: vec![false; n],
        }
    }
}
