//! Spot candidates on the score map (3x3 non-maximum suppression, the tie
//! rule of [`crate::post::peaks`]), their sub-pixel positions, and the
//! removal of duplicate calls.

use alloc::vec;
use alloc::vec::Vec;

/// Whether pixel `(y, x)` of a `height x width` map, of value `v`, is a
/// local maximum: strictly above its earlier 8-neighbours in raster order
/// and at least its later ones (the tie rule of [`crate::post::peaks`], so
/// a plateau gives one peak). Reads one row above and below.
#[inline]
pub(crate) fn is_peak(map: &[f32], (height, width): (usize, usize), y: usize, x: usize) -> bool {
    let v = map[y * width + x];
    if y > 0 && x > 0 && y + 1 < height && x + 1 < width {
        // Inside: the eight neighbours, without the border clipping.
        let (above, row, below) = ((y - 1) * width + x, y * width + x, (y + 1) * width + x);
        return map[above - 1] < v
            && map[above] < v
            && map[above + 1] < v
            && map[row - 1] < v
            && map[row + 1] <= v
            && map[below - 1] <= v
            && map[below] <= v
            && map[below + 1] <= v;
    }
    for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
        for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
            let earlier = (ny, nx) < (y, x);
            let n = map[ny * width + nx];
            if (earlier && n >= v) || (!earlier && n > v) {
                return false;
            }
        }
    }
    true
}

/// [`is_peak`] for every pixel of row `y`, into `out` (`width` long):
/// the inside of the row without branches, so that it vectorises.
pub(crate) fn peak_row(map: &[f32], (height, width): (usize, usize), y: usize, out: &mut [bool]) {
    if y == 0 || y + 1 >= height || width < 3 {
        for (x, o) in out.iter_mut().enumerate() {
            *o = is_peak(map, (height, width), y, x);
        }
        return;
    }
    let above = &map[(y - 1) * width..y * width];
    let row = &map[y * width..(y + 1) * width];
    let below = &map[(y + 1) * width..(y + 2) * width];
    for x in 1..width - 1 {
        let v = row[x];
        out[x] = (above[x - 1] < v)
            & (above[x] < v)
            & (above[x + 1] < v)
            & (row[x - 1] < v)
            & (row[x + 1] <= v)
            & (below[x - 1] <= v)
            & (below[x] <= v)
            & (below[x + 1] <= v);
    }
    out[0] = is_peak(map, (height, width), y, 0);
    out[width - 1] = is_peak(map, (height, width), y, width - 1);
}

/// Sub-pixel offset of the maximum at `(y, x)` of a `height x width` map,
/// per axis from a parabola through the peak and its two neighbours
/// (clamped to half a pixel); 0 along an axis where a neighbour is outside
/// the map or the three values do not curve down. Reads one row above and
/// below.
pub(crate) fn subpixel_offset(
    map: &[f32],
    height: usize,
    width: usize,
    y: usize,
    x: usize,
) -> (f32, f32) {
    let at = |r: usize, c: usize| map[r * width + c];
    let centre = at(y, x);
    let vertical = (y > 0 && y + 1 < height).then(|| vertex(at(y - 1, x), centre, at(y + 1, x)));
    let horizontal = (x > 0 && x + 1 < width).then(|| vertex(at(y, x - 1), centre, at(y, x + 1)));
    (vertical.unwrap_or(0.0), horizontal.unwrap_or(0.0))
}

/// The vertex of the parabola through `(-1, before)`, `(0, centre)` and
/// `(1, after)`, in `[-0.5, 0.5]`.
fn vertex(before: f32, centre: f32, after: f32) -> f32 {
    let curvature = before - 2.0 * centre + after;
    if curvature.is_nan() || curvature >= 0.0 {
        return 0.0;
    }
    (0.5 * (before - after) / curvature).clamp(-0.5, 0.5)
}

/// Goes through `spots` (positions `(y, x)`) in `order`, best first, and
/// keeps each one unless `duplicates(kept, candidate)` holds for a spot
/// already kept within `radius` pixels; returns the kept indices,
/// ascending. The search uses a grid of `radius`-sized cells, so it is
/// linear in the number of spots for a bounded density.
pub(crate) fn suppress_duplicates(
    spots: &[(f32, f32)],
    order: &[usize],
    radius: f32,
    duplicates: impl Fn(usize, usize) -> bool,
) -> Vec<usize> {
    if radius.is_nan() || radius <= 0.0 || spots.is_empty() {
        return (0..spots.len()).collect();
    }
    let key = |(y, x): (f32, f32)| ((y / radius) as i64, (x / radius) as i64);
    // Cells hold the kept spots, in an open hash table of buckets (no map
    // type in `no_std`); two buckets per spot keep the buckets short.
    let buckets = (2 * spots.len()).next_power_of_two();
    let mut table: Vec<Vec<usize>> = vec![Vec::new(); buckets];
    let slot = |(cy, cx): (i64, i64)| {
        let h = (cy as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (cx as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        (h >> 32) as usize & (buckets - 1)
    };
    let mut kept = vec![false; spots.len()];
    for &i in order {
        let (y, x) = spots[i];
        let (cy, cx) = key((y, x));
        let clash = (-1..=1).any(|dy| {
            (-1..=1).any(|dx| {
                table[slot((cy + dy, cx + dx))].iter().any(|&j| {
                    let (jy, jx) = spots[j];
                    let d2 = (jy - y) * (jy - y) + (jx - x) * (jx - x);
                    d2 <= radius * radius && duplicates(j, i)
                })
            })
        });
        if !clash {
            kept[i] = true;
            table[slot((cy, cx))].push(i);
        }
    }
    (0..spots.len()).filter(|&i| kept[i]).collect()
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn peaks_follow_the_raster_tie_rule() {
        #[rustfmt::skip]
        let map = [
            0.0, 0.0, 0.0, 0.0, 0.0,
            0.0, 5.0, 5.0, 0.0, 3.0,
            0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        let peaks: Vec<(usize, usize)> = (0..3)
            .flat_map(|y| (0..5).map(move |x| (y, x)))
            .filter(|&(y, x)| is_peak(&map, (3, 5), y, x))
            .collect();
        assert_eq!(peaks, [(1, 1), (1, 4)]);
        assert!(is_peak(&[2.0], (1, 1), 0, 0));
        let mut row = [false; 5];
        peak_row(&map, (3, 5), 1, &mut row);
        assert_eq!(row, [false, true, false, false, true]);
    }

    #[test]
    fn parabola_finds_the_vertex() {
        // Samples of -(t - 0.25)^2 at -1, 0, 1.
        let f = |t: f32| -(t - 0.25) * (t - 0.25);
        assert!((vertex(f(-1.0), f(0.0), f(1.0)) - 0.25).abs() < 1e-6);
        assert_eq!(vertex(1.0, 1.0, 1.0), 0.0);
        assert_eq!(vertex(0.0, 1.0, 100.0), 0.0, "curving up");
        assert_eq!(vertex(0.0, 1.0, 1.2), 0.5, "clamped");
    }

    #[test]
    fn duplicates_keep_the_first_in_order() {
        let spots = [(5.0, 5.0), (5.0, 6.5), (5.0, 9.0), (20.0, 20.0)];
        let order = [1, 2, 0, 3];
        // Everything within 2 px is a duplicate.
        assert_eq!(
            suppress_duplicates(&spots, &order, 2.0, |_, _| true),
            [1, 2, 3]
        );
        // Only spots 0 and 1 describe one molecule.
        let same = |a: usize, b: usize| a.min(b) == 0 && a.max(b) == 1;
        assert_eq!(suppress_duplicates(&spots, &order, 2.0, same), [1, 2, 3]);
        assert_eq!(
            suppress_duplicates(&spots, &order, 2.0, |_, _| false),
            [0, 1, 2, 3]
        );
        assert_eq!(
            suppress_duplicates(&spots, &order, 0.0, |_, _| true),
            [0, 1, 2, 3]
        );
    }
}
