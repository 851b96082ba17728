//! The driver every SIMD 3x3 convolution shares (x86_64 and aarch64): the
//! raw view of one call's arguments ([`ConvCtx`], built only after
//! `check_args`), the pixel-tiling loop ([`for_each_tile`]), the block
//! scheduler over output channels (`conv_by_blocks!`) and the public
//! per-path wrapper (`conv3x3_path!`: `is_supported`, `Conv3x3::new`,
//! `Conv3x3::run`). The tile bodies (intrinsics / asm) stay in the ISA files.

use core::marker::PhantomData;
use core::ops::Range;

use super::packing::{check_args, Packing};
use super::{ConvParams, Dims};

/// Raw view of one call's arguments, validated by `check_args`.
pub(crate) struct ConvCtx<'a> {
    pub(crate) input: *const i8,
    /// Bytes readable from `input`.
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    pub(crate) input_len: usize,
    pub(crate) in_stride: usize,
    pub(crate) output: *mut i8,
    /// Flattened index of the pixel at `output` (the first requested row).
    pub(crate) out_first: usize,
    pub(crate) out_stride: usize,
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) cin: usize,
    pub(crate) cout: usize,
    /// Whether 4 bytes may be read at the last input group of every pixel
    /// (what `check_args` returned).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) wide: bool,
    pub(crate) weights: *const i8,
    pub(crate) consts: *const i32,
    pub(crate) zero_point: i32,
    pub(crate) lut: Option<&'a [i8; 256]>,
    /// The pointers borrow `input` and `output` for `'a`.
    _borrows: PhantomData<(&'a [i8], &'a mut [i8])>,
}

impl<'a> ConvCtx<'a> {
    /// Runs `check_args` for `packing` (panicking on inconsistent
    /// arguments) and returns the raw view with the flattened output pixel
    /// indices of `rows`; `None` when `rows` is empty.
    pub(crate) fn new(
        packing: Packing,
        input: &'a [i8],
        in_dims: Dims,
        params: &ConvParams<'a>,
        output: &'a mut [i8],
        out_dims: Dims,
        rows: Range<usize>,
    ) -> Option<(ConvCtx<'a>, Range<usize>)> {
        let wide = check_args(packing, input, in_dims, params, output, out_dims, &rows);
        if rows.is_empty() {
            return None;
        }
        let ctx = ConvCtx {
            input: input.as_ptr(),
            input_len: input.len(),
            in_stride: in_dims.pixel_stride,
            output: output.as_mut_ptr(),
            out_first: rows.start * in_dims.width,
            out_stride: out_dims.pixel_stride,
            width: in_dims.width,
            height: in_dims.height,
            cin: params.in_channels,
            cout: params.out_channels,
            wide,
            weights: params.weights.as_ptr(),
            consts: params.bias.as_ptr(),
            zero_point: params.pre_zero_point as i32,
            lut: params.lut,
            _borrows: PhantomData,
        };
        let pixels = rows.start * ctx.width..rows.end * ctx.width;
        Some((ctx, pixels))
    }
}

/// Covers `pixels` (flattened output pixel indices) in tiles: `tile(first)`
/// for full tiles of `P` pixels `first..first + P`, then, when fewer than
/// `P` remain, one last tile overlapping its neighbour (`pixels.end - P`)
/// if `pixels` holds at least `P` pixels, else `single(px)` for each
/// remaining pixel. Every pixel passed (with its tile) lies in `pixels`.
///
/// `#[inline(always)]` so that the loop and the closures land in the
/// caller's `#[target_feature]` function.
#[inline(always)]
pub(crate) fn for_each_tile<const P: usize>(
    pixels: Range<usize>,
    mut tile: impl FnMut(usize),
    mut single: impl FnMut(usize),
) {
    let mut px = pixels.start;
    while px < pixels.end {
        if pixels.end - px >= P {
            tile(px);
            px += P;
        } else if pixels.len() >= P {
            tile(pixels.end - P);
            px = pixels.end;
        } else {
            single(px);
            px += 1;
        }
    }
}

/// `unsafe fn conv(ctx, pixels)` of a SIMD path: the output channels in
/// blocks of `LANES`, a few blocks at a time, each group of blocks over
/// every pixel of `pixels` in tiles ([`for_each_tile`]). A macro because
/// each path's `conv` carries its own `#[target_feature]`; expects
/// `LANES`, `ConvCtx`, `Range` and `for_each_tile` in scope.
///
/// Two forms:
///
/// - `conv_by_blocks!("features"; remaining => tile::<P, C>; ...)`: match
///   arms on the number of blocks still to do (patterns, guards allowed),
///   each choosing `C` blocks at a time in tiles of `P` pixels:
///   `tile::<P, C>(ctx, b, first)` for full tiles, `tile::<1, C>(ctx, b, px)`
///   for lone pixels (x86_64, whose register budget depends on `C`).
/// - `conv_by_blocks!("features", full, single)`: one block at a time in
///   tiles of the path's `P` pixels, `full(ctx, b, first)` and
///   `single(ctx, b, px)` (aarch64).
macro_rules! conv_by_blocks {
    (
        $features:literal;
        $($remaining:pat $(if $guard:expr)? => $tile:ident::<$pixels:tt, $blocks:tt>;)+
    ) => {
        $crate::kernels::driver::conv_by_blocks!(@conv $features; $(
            [$remaining $(if $guard)?] => (
                $pixels, $blocks, $tile::<$pixels, $blocks>, $tile::<1, $blocks>
            );
        )+);
    };
    ($features:literal, $full:expr, $single:expr) => {
        $crate::kernels::driver::conv_by_blocks!(@conv $features; [_] => (P, 1, $full, $single););
    };
    (
        @conv $features:literal;
        $([$remaining:pat $(if $guard:expr)?] => (
            $pixels:tt, $blocks:tt, $full:expr, $single:expr
        );)+
    ) => {
        /// # Safety
        ///
        /// The path's features must be available and `ctx` must satisfy
        /// `check_args` for `pixels` (flattened output pixel indices).
        #[target_feature(enable = $features)]
        unsafe fn conv(ctx: &ConvCtx<'_>, pixels: Range<usize>) {
            let blocks = ctx.cout.div_ceil(LANES);
            let mut b = 0;
            while b < blocks {
                let remaining = blocks - b;
                b += match remaining {
                    $($remaining $(if $guard)? => {
                        // The arms promise as much; the kernels rely on it.
                        assert!($blocks <= remaining, "block schedule past the last block");
                        for_each_tile::<$pixels>(
                            pixels.clone(),
                            // SAFETY: `conv`'s contract; `for_each_tile`
                            // passes only tiles of `P` pixels inside
                            // `pixels` (the last one may overlap its
                            // neighbour: same bytes); blocks `b..b + C`
                            // exist (asserted).
                            |first| unsafe { $full(ctx, b, first) },
                            // SAFETY: as above; `px` lies in `pixels`.
                            |px| unsafe { $single(ctx, b, px) },
                        );
                        $blocks
                    })+
                };
            }
        }
    };
}

pub(crate) use conv_by_blocks;

/// The public face of one SIMD path: `is_supported` (run-time detection
/// with `std`, `cfg(target_feature)` without) and the `Conv3x3` handle whose
/// `run` builds a [`ConvCtx`] and calls the path's `conv(&ConvCtx, pixels)`.
/// Expects `PACKING` and an `unsafe fn conv` in the invoking module.
macro_rules! conv3x3_path {
    (
        $(#[$supported_doc:meta])*
        fn is_supported = $detect:ident($($feature:tt),+);
        $(#[$struct_doc:meta])*
        struct Conv3x3;
        $(#[$run_doc:meta])*
        fn run = $conv:ident;
    ) => {
        $(#[$supported_doc])*
        pub fn is_supported() -> bool {
            #[cfg(feature = "std")]
            {
                true $(&& std::arch::$detect!($feature))+
            }
            #[cfg(not(feature = "std"))]
            {
                cfg!(all($(target_feature = $feature),+))
            }
        }

        $(#[$struct_doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct Conv3x3(());

        impl Conv3x3 {
            /// `Some` when this CPU can run the kernel.
            pub fn new() -> Option<Conv3x3> {
                is_supported().then_some(Conv3x3(()))
            }

            /// Same contract and result as [`crate::kernels::scalar::conv3x3`],
            /// with `params.weights` / `params.bias` packed for this path.
            ///
            $(#[$run_doc])*
            pub fn run(
                self,
                input: &[i8],
                in_dims: $crate::kernels::Dims,
                params: &$crate::kernels::ConvParams<'_>,
                output: &mut [i8],
                out_dims: $crate::kernels::Dims,
                rows: core::ops::Range<usize>,
            ) {
                if let Some((ctx, pixels)) = $crate::kernels::driver::ConvCtx::new(
                    PACKING, input, in_dims, params, output, out_dims, rows,
                ) {
                    // SAFETY: the CPU has the path's features (`self` exists
                    // only where `is_supported`) and `ConvCtx::new` ran
                    // `check_args`, which validated every bound `conv`
                    // relies on for `pixels`.
                    unsafe { $conv(&ctx, pixels) }
                }
            }
        }
    };
}

pub(crate) use conv3x3_path;
