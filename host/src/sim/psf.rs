//! The point-spread function: a Gaussian integrated over each pixel.
//!
//! Pixel `(r, c)` covers `y` in `[r, r + 1)` and `x` in `[c, c + 1)`, so
//! its centre is at `(r + 0.5, c + 0.5)` and an emitter at `(y, x)` lies in
//! pixel `(floor(y), floor(x))`. Integrating (rather than sampling) the
//! Gaussian keeps the photon count exact for narrow spots.

/// How far (in sigmas) a spot is rendered; beyond 5 sigma less than 1e-6
/// of the photons fall, far below shot noise.
const RENDER_RADIUS_SIGMAS: f64 = 5.0;

/// Adds `photons` photons of a Gaussian spot centred at `(y, x)` with
/// standard deviation `sigma` pixels to the row-major `height x width`
/// `image`. Parts of the spot outside the image are lost, as on a camera.
pub fn add_spot(
    image: &mut [f64],
    height: usize,
    width: usize,
    y: f64,
    x: f64,
    sigma: f64,
    photons: f64,
) {
    debug_assert_eq!(image.len(), height * width);
    if photons <= 0.0 {
        return;
    }
    let radius = RENDER_RADIUS_SIGMAS * sigma;
    let Some(rows) = pixel_span(y, radius, height) else {
        return;
    };
    let Some(cols) = pixel_span(x, radius, width) else {
        return;
    };
    let row_weights: Vec<f64> = rows.clone().map(|r| pixel_fraction(r, y, sigma)).collect();
    let col_weights: Vec<f64> = cols.clone().map(|c| pixel_fraction(c, x, sigma)).collect();
    for (row, wy) in rows.zip(&row_weights) {
        let line = &mut image[row * width..(row + 1) * width];
        for (col, wx) in cols.clone().zip(&col_weights) {
            line[col] += photons * wy * wx;
        }
    }
}

/// Pixels within `radius` of `centre`, clipped to `0..len`.
fn pixel_span(centre: f64, radius: f64, len: usize) -> Option<std::ops::Range<usize>> {
    let first = (centre - radius).floor().max(0.0);
    let last = (centre + radius).ceil().min(len as f64);
    (first < last).then_some(first as usize..last as usize)
}

/// Fraction of a 1-D Gaussian (mean `centre`, std `sigma`) in `[pixel, pixel + 1)`.
pub fn pixel_fraction(pixel: usize, centre: f64, sigma: f64) -> f64 {
    let scale = 1.0 / (sigma * std::f64::consts::SQRT_2);
    let lo = (pixel as f64 - centre) * scale;
    let hi = (pixel as f64 + 1.0 - centre) * scale;
    0.5 * (erf(hi) - erf(lo))
}

/// The error function, |error| < 1.2e-7 (Numerical Recipes' `erfc` by
/// Chebyshev fitting); std has no `erf`, and a dependency for one function
/// is not worth it.
pub fn erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 {
        1.0 - erfc
    } else {
        erfc - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        for (x, expected) in [
            (0.0, 0.0),
            (0.5, 0.520_499_877_8),
            (1.0, 0.842_700_792_9),
            (2.0, 0.995_322_265),
            (-1.0, -0.842_700_792_9),
        ] {
            assert!((erf(x) - expected).abs() < 2e-7, "erf({x}) = {}", erf(x));
        }
    }

    #[test]
    fn spot_in_the_middle_keeps_all_photons() {
        let (h, w) = (21, 21);
        let mut image = vec![0.0; h * w];
        add_spot(&mut image, h, w, 10.3, 10.7, 1.2, 1000.0);
        let total: f64 = image.iter().sum();
        assert!((total - 1000.0).abs() < 0.01, "{total}");
        let brightest = image
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(
            (brightest / w, brightest % w),
            (10, 10),
            "pixel (floor y, floor x)"
        );
    }

    #[test]
    fn spot_outside_or_on_the_edge_is_clipped_without_panic() {
        let mut image = vec![0.0; 16];
        add_spot(&mut image, 4, 4, -50.0, 2.0, 1.0, 1000.0);
        assert!(image.iter().all(|v| *v == 0.0));
        add_spot(&mut image, 4, 4, 0.0, 0.0, 1.0, 1000.0);
        let total: f64 = image.iter().sum();
        assert!(
            (total - 250.0).abs() < 1.0,
            "a corner keeps a quarter: {total}"
        );
    }
}
