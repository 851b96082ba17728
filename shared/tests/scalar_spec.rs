//! The scalar kernels are the specification every SIMD path is checked
//! against, so they are checked themselves: hand-computed cases for the
//! rounding rule, saturation, reflect padding and lookup tables, and a
//! naive convolution written independently (explicitly padded `i64`
//! planes, exact `i128` requantisation) that must give the same bytes on
//! random layers.

use proptest::prelude::*;
use robofish_shared::kernels::{scalar, ConvParams, Dims};
use robofish_shared::model::{ActivationKind, QuantParams};
use robofish_shared::ptq::build_lut;
use robofish_shared::quant::Requant;

fn dims(height: usize, width: usize, channels: usize, pixel_stride: usize) -> Dims {
    Dims {
        height,
        width,
        channels,
        pixel_stride,
    }
}

#[test]
fn requant_rounds_half_up_by_hand() {
    let half = Requant::from_real(0.5).unwrap();
    assert_eq!(
        half,
        Requant {
            multiplier: 1 << 30,
            shift: 31
        }
    );
    // acc * 0.5, halves rounded towards +infinity (add 2^(shift-1), shift).
    for (acc, want) in [(0, 0), (1, 1), (2, 1), (3, 2), (-1, 0), (-2, -1), (-3, -1)] {
        assert_eq!(half.rescale(acc), want, "{acc} * 0.5");
    }
    let quarter = Requant::from_real(0.25).unwrap();
    assert_eq!((quarter.multiplier, quarter.shift), (1 << 30, 32));
    for (acc, want) in [(5, 1), (6, 2), (7, 2), (-5, -1), (-6, -1), (-7, -2)] {
        assert_eq!(quarter.rescale(acc), want, "{acc} * 0.25");
    }
    // 0.3 is not a power of two: 31 significant bits.
    let r = Requant::from_real(0.3).unwrap();
    assert_eq!((r.multiplier, r.shift), (1_288_490_189, 32));
    assert_eq!(r.rescale(10), 3);
    assert_eq!(r.rescale(1_000_000), 300_000);
    // Saturation onto int8, around a zero point.
    assert_eq!(Requant::ONE.to_int8(100, 27), 127);
    assert_eq!(Requant::ONE.to_int8(100, 20), 120);
    assert_eq!(Requant::ONE.to_int8(-300, 0), -128);
    assert_eq!(Requant::ONE.to_int8(i32::MAX, 127), 127);
    assert_eq!(Requant::ONE.to_int8(i32::MIN, -128), -128);
    // Multipliers too small to represent are an exact zero.
    let tiny = Requant::from_real(1e-12).unwrap();
    assert_eq!(tiny.rescale(i32::MAX), 0);
    assert!(Requant::from_real(2f64.powi(30)).is_err());
    assert!(Requant::from_real(-1.0).is_err());
}

/// A one-channel 2x2 image through an all-ones kernel: with reflect padding
/// row -1 reads row 1 and row 2 reads row 0, so by hand
/// `out(0,0) = 4+3+4 + 2+1+2 + 4+3+4 = 27`, and so on.
#[test]
fn conv_reflect_padding_by_hand() {
    let input: [i8; 4] = [1, 2, 3, 4];
    let weights = [1i8; 9];
    let requant = [Requant::ONE];
    let params = ConvParams {
        in_channels: 1,
        out_channels: 1,
        weights: &weights,
        bias: &[0],
        requant: &requant,
        pre_zero_point: 0,
        lut: None,
    };
    let mut out = [0i8; 4];
    scalar::conv3x3(
        &input,
        dims(2, 2, 1, 1),
        &params,
        &mut out,
        dims(2, 2, 1, 1),
        0..2,
    );
    assert_eq!(out, [27, 24, 21, 18]);

    // Only the centre tap (weight 2), bias 5, multiplier 0.5, zero point
    // -3: out = -3 + round_half_up(v + 2.5) = v (v = 1: 3.5 -> 4, -3 -> 1).
    let mut centre = [0i8; 9];
    centre[4] = 2;
    let half = [Requant::from_real(0.5).unwrap()];
    let params = ConvParams {
        weights: &centre,
        bias: &[5],
        requant: &half,
        pre_zero_point: -3,
        ..params
    };
    scalar::conv3x3(
        &input,
        dims(2, 2, 1, 1),
        &params,
        &mut out,
        dims(2, 2, 1, 1),
        0..2,
    );
    assert_eq!(out, [1, 2, 3, 4]);

    // A 3-wide row with the right-hand tap only: column x reads x + 1, and
    // the last column reflects onto column 1. Output rows 1..2 only: the
    // output slice starts at the first requested row.
    let input: [i8; 6] = [10, 20, 30, 40, 50, 60];
    let mut right = [0i8; 9];
    right[5] = 1; // ky = 1, kx = 2
    let params = ConvParams {
        weights: &right,
        bias: &[0],
        requant: &requant,
        pre_zero_point: 0,
        ..params
    };
    let mut row = [0i8; 3];
    scalar::conv3x3(
        &input,
        dims(2, 3, 1, 1),
        &params,
        &mut row,
        dims(2, 3, 1, 1),
        1..2,
    );
    assert_eq!(row, [50, 60, 50]);
}

#[test]
fn lookup_tables_by_hand() {
    let grid = QuantParams {
        scale: 0.5,
        zero_point: 10,
    };
    // Identity onto the same grid is the identity on codes.
    let lut = build_lut(ActivationKind::Identity, grid, grid);
    for q in -128i32..=127 {
        assert_eq!(lut[(q + 128) as usize] as i32, q);
    }
    // Sigmoid onto the probability grid: code = round(255 * s(x)) - 128.
    let lut = build_lut(ActivationKind::Sigmoid, grid, QuantParams::PROBABILITY);
    // q = 10 is x = 0: s = 0.5 is 127.49999 steps of the f32 grid (1/255
    // rounds up in f32), so code 127 -> -1, not the 128 of exact 127.5.
    assert_eq!(lut[(10 + 128) as usize], -1);
    // q = 14 is x = 2: s = 0.880797, 224.6 -> 225 -> 97.
    assert_eq!(lut[(14 + 128) as usize], 97);
    // q = -128 is x = -69: s ~ 1e-30 -> code 0 -> -128.
    assert_eq!(lut[0], -128);
    // ELU, x = -1 (q = 8): e^-1 - 1 = -0.632 on grid 0.5/10: -1.26 -> -1 + 10 = 9.
    let lut = build_lut(ActivationKind::Elu, grid, grid);
    assert_eq!(lut[(8 + 128) as usize], 9);
    // Saturation: x = 58.5 (q = 127) onto a grid of step 0.25 clamps at 127.
    let fine = QuantParams {
        scale: 0.25,
        zero_point: 0,
    };
    let lut = build_lut(ActivationKind::Elu, grid, fine);
    assert_eq!(lut[255], 127);
}

/// Bytes the kernel must leave alone (padding channels) start as this.
const UNTOUCHED: i8 = 0x55;

/// The naive reference: pads every input channel into an `(h+2) x (w+2)`
/// `i64` plane by reflection, convolves directly, and requantises with
/// exact `i128` arithmetic (`floor((acc * m + 2^(s-1)) / 2^s)`, saturated).
/// Returns the output rows in the kernel's layout, padding untouched.
fn naive_conv(layer: &Layer, requant: &[Requant], lut: Option<&[i8; 256]>) -> Vec<i8> {
    let (h, w, cin) = (layer.h, layer.w, layer.cin);
    let in_stride = cin + layer.in_pad;
    let out_stride = layer.cout + layer.out_pad;
    let reflect = |i: isize, n: usize| -> usize {
        if i == -1 {
            1
        } else if i == n as isize {
            n - 2
        } else {
            i as usize
        }
    };
    let padded: Vec<Vec<Vec<i64>>> = (0..cin)
        .map(|c| {
            (-1..=h as isize)
                .map(|y| {
                    (-1..=w as isize)
                        .map(|x| {
                            let (sy, sx) = (reflect(y, h), reflect(x, w));
                            layer.input[(sy * w + sx) * in_stride + c] as i64
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let (start, end) = layer.rows;
    let mut out = vec![UNTOUCHED; ((end - start) * w).max(1) * out_stride];
    for (row, y) in (start..end).enumerate() {
        for x in 0..w {
            for co in 0..layer.cout {
                let mut acc = layer.bias[co] as i64;
                for (c, plane) in padded.iter().enumerate() {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let wt = layer.weights[((co * 3 + ky) * 3 + kx) * cin + c];
                            acc += wt as i64 * plane[y + ky][x + kx];
                        }
                    }
                }
                let r = requant[co];
                let product = acc as i128 * r.multiplier as i128 + (1i128 << (r.shift - 1));
                let rescaled = product
                    .div_euclid(1i128 << r.shift)
                    .clamp(i32::MIN as i128, i32::MAX as i128);
                let pre = (layer.zero_point as i128 + rescaled).clamp(-128, 127) as i8;
                out[(row * w + x) * out_stride + co] = match lut {
                    Some(lut) => lut[(pre as i32 + 128) as usize],
                    None => pre,
                };
            }
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Layer {
    h: usize,
    w: usize,
    cin: usize,
    cout: usize,
    in_pad: usize,
    out_pad: usize,
    rows: (usize, usize),
    weights: Vec<i8>,
    input: Vec<i8>,
    bias: Vec<i32>,
    multipliers: Vec<f64>,
    zero_point: i8,
    lut: Option<Vec<i8>>,
}

fn layer() -> impl Strategy<Value = Layer> {
    (
        2usize..7,
        2usize..7,
        1usize..20,
        1usize..20,
        0usize..3,
        0usize..3,
    )
        .prop_flat_map(|(h, w, cin, cout, in_pad, out_pad)| {
            let in_len = h * w * (cin + in_pad);
            (
                Just((h, w, cin, cout, in_pad, out_pad)),
                (0..h, 0..=h),
                prop::collection::vec(-127i8..=127, 9 * cin * cout),
                prop::collection::vec(any::<i8>(), in_len),
                prop::collection::vec(-100_000i32..100_000, cout),
                // Powers of two put many accumulators exactly on a rounding tie.
                prop::collection::vec(
                    prop_oneof![1e-6f64..0.05, (1i32..12).prop_map(|k| 0.5f64.powi(k))],
                    cout,
                ),
                any::<i8>(),
                prop::option::of(prop::collection::vec(any::<i8>(), 256)),
            )
        })
        .prop_map(
            |(
                (h, w, cin, cout, in_pad, out_pad),
                (a, b),
                weights,
                input,
                bias,
                multipliers,
                zero_point,
                lut,
            )| {
                let rows = (a.min(b), a.max(b));
                Layer {
                    h,
                    w,
                    cin,
                    cout,
                    in_pad,
                    out_pad,
                    rows,
                    weights,
                    input,
                    bias,
                    multipliers,
                    zero_point,
                    lut,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn scalar_conv_equals_the_naive_convolution(layer in layer()) {
        let requant: Vec<Requant> = layer
            .multipliers
            .iter()
            .map(|&m| Requant::from_real(m).unwrap())
            .collect();
        let lut: Option<[i8; 256]> = layer.lut.as_ref().map(|l| l.as_slice().try_into().unwrap());
        let in_stride = layer.cin + layer.in_pad;
        let out_stride = layer.cout + layer.out_pad;
        let params = ConvParams {
            in_channels: layer.cin,
            out_channels: layer.cout,
            weights: &layer.weights,
            bias: &layer.bias,
            requant: &requant,
            pre_zero_point: layer.zero_point,
            lut: lut.as_ref(),
        };
        let (start, end) = layer.rows;
        let mut out = vec![UNTOUCHED; ((end - start) * layer.w).max(1) * out_stride];
        scalar::conv3x3(
            &layer.input,
            dims(layer.h, layer.w, layer.cin, in_stride),
            &params,
            &mut out,
            dims(layer.h, layer.w, layer.cout, out_stride),
            start..end,
        );
        prop_assert_eq!(out, naive_conv(&layer, &requant, lut.as_ref()));
    }
}
