//! int8 kernels: the scalar reference and (by ISA) its SIMD twins.
//!
//! The scalar kernels in [`scalar`] are the specification: any other path
//! must produce the same bytes on every input. Kernels operate on NHWC views
//! whose pixels are `pixel_stride` bytes apart (channels padded), so a
//! producer can write straight into a channel slice of a concat buffer.
//!
//! SIMD twins of the 3x3 convolution live per ISA (`x86_64::{avx2, avxvnni,
//! vnni}`, `aarch64::{neon, dotprod, i8mm}`), each behind a safe constructor that returns `None` when the CPU
//! lacks the instructions. A [`KernelPath`] is chosen once per network
//! (detected at run time and cached with `std`, from `cfg(target_feature)`
//! without; `ROBOFISH_KERNELS` forces one); [`KernelPath::pack_conv`] packs
//! the weights for it and [`conv3x3`] dispatches. Pooling, upsampling, concat
//! copies and input quantisation stay scalar on every path for now.

#[cfg(all(target_arch = "aarch64", feature = "alloc"))]
pub mod aarch64;
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    feature = "alloc"
))]
mod driver;
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    feature = "alloc"
))]
mod packing;
pub mod scalar;
#[cfg(all(target_arch = "x86_64", feature = "alloc"))]
pub mod x86_64;

#[cfg(feature = "alloc")]
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

/// Geometry of one NHWC int8 tensor view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Channels used.
    pub channels: usize,
    /// Distance in bytes between neighbouring pixels (>= channels).
    pub pixel_stride: usize,
}

impl Dims {
    /// Bytes a slice must hold to cover the view, starting at its channel 0.
    pub fn span(&self) -> usize {
        if self.height == 0 || self.width == 0 {
            0
        } else {
            (self.height * self.width - 1) * self.pixel_stride + self.channels
        }
    }
}

/// Everything a 3x3 convolution kernel needs besides the tensors.
#[derive(Clone, Copy, Debug)]
pub struct ConvParams<'a> {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Weights in the layout the kernel path packed them in.
    pub weights: &'a [i8],
    /// Per-output-channel bias with the input zero point folded in:
    /// `bias - zp_in * sum(w)`; on SIMD paths packed together with the
    /// requantisation constants by [`KernelPath::pack_conv`].
    pub bias: &'a [i32],
    /// Per-output-channel multiplier to the pre-activation grid.
    pub requant: &'a [crate::quant::Requant],
    /// Zero point of the pre-activation grid.
    pub pre_zero_point: i8,
    /// Activation lookup table, `lut[q + 128]`; `None` for identity.
    pub lut: Option<&'a [i8; 256]>,
}

/// A kernel implementation, chosen once per network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KernelPath {
    /// Portable scalar reference (every target).
    Scalar,
    /// x86_64 AVX2: sign-extend to `i16` + `vpmaddwd`.
    Avx2,
    /// x86_64 AVX-VNNI: `vpdpbusd` on ymm (CPUs without AVX-512).
    AvxVnni,
    /// x86_64 AVX-512 VNNI + VBMI: `vpdpbusd` on zmm, `vpermi2b` LUT.
    Avx512Vnni,
    /// aarch64 NEON without dotprod: `smull` + `smlal2` + `sadalp`.
    Neon,
    /// aarch64 NEON with the dot-product extension: `sdot` by element.
    NeonDotprod,
    /// aarch64 NEON with the int8 matrix-multiply extension: `smmla`.
    NeonI8mm,
}

impl KernelPath {
    /// Every path this build knows, best last.
    pub const ALL: &'static [KernelPath] = &[
        KernelPath::Scalar,
        KernelPath::Avx2,
        KernelPath::AvxVnni,
        KernelPath::Avx512Vnni,
        KernelPath::Neon,
        KernelPath::NeonDotprod,
        KernelPath::NeonI8mm,
    ];

    /// Name used in reports and by `ROBOFISH_KERNELS`.
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Scalar => "scalar",
            KernelPath::Avx2 => "avx2",
            KernelPath::AvxVnni => "avxvnni",
            KernelPath::Avx512Vnni => "vnni",
            KernelPath::Neon => "neon",
            KernelPath::NeonDotprod => "dotprod",
            KernelPath::NeonI8mm => "i8mm",
        }
    }

    /// Parses a name as printed by [`KernelPath::name`].
    pub fn from_name(name: &str) -> Option<KernelPath> {
        KernelPath::ALL.iter().copied().find(|p| p.name() == name)
    }

    /// Whether this CPU can run the path (detected once with `std`, from
    /// `cfg(target_feature)` without it). SIMD paths need `alloc` for their
    /// packed weights.
    pub fn is_supported(self) -> bool {
        match self {
            KernelPath::Scalar => true,
            #[cfg(all(target_arch = "x86_64", feature = "alloc"))]
            KernelPath::Avx2 => cached(self, x86_64::avx2::is_supported),
            #[cfg(all(target_arch = "x86_64", feature = "alloc"))]
            KernelPath::AvxVnni => cached(self, x86_64::avxvnni::is_supported),
            #[cfg(all(target_arch = "x86_64", feature = "alloc"))]
            KernelPath::Avx512Vnni => cached(self, x86_64::vnni::is_supported),
            #[cfg(all(target_arch = "aarch64", feature = "alloc"))]
            KernelPath::Neon => cached(self, aarch64::neon::is_supported),
            #[cfg(all(target_arch = "aarch64", feature = "alloc"))]
            KernelPath::NeonDotprod => cached(self, aarch64::dotprod::is_supported),
            #[cfg(all(target_arch = "aarch64", feature = "alloc"))]
            KernelPath::NeonI8mm => cached(self, aarch64::i8mm::is_supported),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The best path this CPU supports.
    pub fn detect() -> KernelPath {
        KernelPath::ALL
            .iter()
            .rev()
            .copied()
            .find(|p| p.is_supported())
            .unwrap_or(KernelPath::Scalar)
    }

    /// The path named by `ROBOFISH_KERNELS`, else the best supported one.
    #[cfg(feature = "std")]
    pub fn from_env() -> Result<KernelPath, KernelPathError> {
        match std::env::var("ROBOFISH_KERNELS") {
            Ok(name) if !name.is_empty() => KernelPath::require(&name),
            _ => Ok(KernelPath::detect()),
        }
    }

    /// The named path, if this build knows it and this CPU supports it.
    pub fn require(name: &str) -> Result<KernelPath, KernelPathError> {
        let path = KernelPath::from_name(name).ok_or(KernelPathError::Unknown)?;
        if path.is_supported() {
            Ok(path)
        } else {
            Err(KernelPathError::Unsupported(path))
        }
    }

    /// Packs `[cout][ky][kx][cin]` weights and the zero-point-folded bias
    /// (plus, on SIMD paths, the requantisation constants) into the layout
    /// this path's [`conv3x3`] takes as `ConvParams::weights` / `bias`.
    ///
    /// Panics on the NEON path when a weight is -128: it adds two products
    /// in `i16`, exact for the `[-127, 127]` weights validated models have.
    #[cfg(feature = "alloc")]
    pub fn pack_conv(
        self,
        in_channels: usize,
        out_channels: usize,
        weights: &[i8],
        bias: &[i32],
        requant: &[crate::quant::Requant],
    ) -> (Vec<i8>, Vec<i32>) {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        {
            if let Some(layout) = self.packing() {
                return packing::pack_conv(
                    layout,
                    in_channels,
                    out_channels,
                    weights,
                    bias,
                    requant,
                );
            }
        }
        let _ = (in_channels, out_channels, requant);
        (weights.to_vec(), bias.to_vec())
    }
}

impl KernelPath {
    /// The weight layout of a SIMD path of this target; `None` for scalar.
    #[cfg(all(
        any(target_arch = "x86_64", target_arch = "aarch64"),
        feature = "alloc"
    ))]
    fn packing(self) -> Option<packing::Packing> {
        match self {
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => Some(x86_64::avx2::PACKING),
            #[cfg(target_arch = "x86_64")]
            KernelPath::AvxVnni => Some(x86_64::avxvnni::PACKING),
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512Vnni => Some(x86_64::vnni::PACKING),
            #[cfg(target_arch = "aarch64")]
            KernelPath::Neon => Some(aarch64::neon::PACKING),
            #[cfg(target_arch = "aarch64")]
            KernelPath::NeonDotprod => Some(aarch64::dotprod::PACKING),
            #[cfg(target_arch = "aarch64")]
            KernelPath::NeonI8mm => Some(aarch64::i8mm::PACKING),
            _ => None,
        }
    }
}

/// Feature detection, cached per path (0 unknown, 1 no, 2 yes).
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    feature = "alloc"
))]
fn cached(path: KernelPath, detect: fn() -> bool) -> bool {
    use core::sync::atomic::{AtomicU8, Ordering};
    static CACHE: [AtomicU8; KernelPath::ALL.len()] =
        [const { AtomicU8::new(0) }; KernelPath::ALL.len()];
    let slot = &CACHE[path as usize];
    match slot.load(Ordering::Relaxed) {
        0 => {
            let yes = detect();
            slot.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
        v => v == 2,
    }
}

// `cached` indexes its slots by discriminant: `ALL` must list every path in
// declaration order.
const _: () = {
    let mut i = 0;
    while i < KernelPath::ALL.len() {
        assert!(KernelPath::ALL[i] as usize == i);
        i += 1;
    }
};

/// 3x3 convolution on `path` (weights and bias packed by
/// [`KernelPath::pack_conv`] for that path): the same bytes as
/// [`scalar::conv3x3`] on every path.
///
/// Panics when `path` is not supported by this CPU or an argument is
/// inconsistent.
pub fn conv3x3(
    path: KernelPath,
    input: &[i8],
    in_dims: Dims,
    params: &ConvParams<'_>,
    output: &mut [i8],
    out_dims: Dims,
    rows: Range<usize>,
) {
    let unsupported = || -> ! { panic!("kernel path {path} is not supported by this CPU") };
    match path {
        KernelPath::Scalar => scalar::conv3x3(input, in_dims, params, output, out_dims, rows),
        #[cfg(all(target_arch = "x86_64", feature = "alloc"))]
        KernelPath::Avx2 => x86_64::avx2::Conv3x3::new()
            .unwrap_or_else(|| unsupported())
            .run(input, in_dims, params, output, out_dims, rows),
        #[cfg(all(target_arch = "x86_64", feature = "alloc"))]
        KernelPath::AvxVnni => x86_64::avxvnni::Conv3x3::new()
            .unwrap_or_else(|| unsupported())
            .run(input, in_dims, params, output, out_dims, rows),
        #[cfg(all(target_arch = "x86_64", feature = "alloc"))]
        KernelPath::Avx512Vnni => x86_64::vnni::Conv3x3::new()
            .unwrap_or_else(|| unsupported())
            .run(input, in_dims, params, output, out_dims, rows),
        #[cfg(all(target_arch = "aarch64", feature = "alloc"))]
        KernelPath::Neon => aarch64::neon::Conv3x3::new()
            .unwrap_or_else(|| unsupported())
            .run(input, in_dims, params, output, out_dims, rows),
        #[cfg(all(target_arch = "aarch64", feature = "alloc"))]
        KernelPath::NeonDotprod => aarch64::dotprod::Conv3x3::new()
            .unwrap_or_else(|| unsupported())
            .run(input, in_dims, params, output, out_dims, rows),
        #[cfg(all(target_arch = "aarch64", feature = "alloc"))]
        KernelPath::NeonI8mm => aarch64::i8mm::Conv3x3::new()
            .unwrap_or_else(|| unsupported())
            .run(input, in_dims, params, output, out_dims, rows),
        #[allow(unreachable_patterns)]
        _ => unsupported(),
    }
}

impl fmt::Display for KernelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a requested kernel path cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KernelPathError {
    /// No path has that name.
    Unknown,
    /// This CPU lacks the instructions.
    Unsupported(KernelPath),
}

impl fmt::Display for KernelPathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelPathError::Unknown => {
                f.write_str("unknown kernel path; known paths: ")?;
                for (i, p) in KernelPath::ALL.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(p.name())?;
                }
                Ok(())
            }
            KernelPathError::Unsupported(p) => {
                write!(f, "kernel path {p} is not supported by this CPU")
            }
        }
    }
}

impl core::error::Error for KernelPathError {}
