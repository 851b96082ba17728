//! int8 kernels: the scalar reference and (by ISA) its SIMD twins.
//!
//! The scalar kernels in [`scalar`] are the specification: any other path
//! must produce the same bytes on every input. Kernels operate on NHWC views
//! whose pixels are `pixel_stride` bytes apart (channels padded), so a
//! producer can write straight into a channel slice of a concat buffer.

pub mod scalar;

use core::fmt;

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
    /// `bias - zp_in * sum(w)`.
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
}

impl KernelPath {
    /// Every path this build knows, best last.
    pub const ALL: &'static [KernelPath] = &[KernelPath::Scalar];

    /// Name used in reports and by `ROBOFISH_KERNELS`.
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Scalar => "scalar",
        }
    }

    /// Parses a name as printed by [`KernelPath::name`].
    pub fn from_name(name: &str) -> Option<KernelPath> {
        KernelPath::ALL.iter().copied().find(|p| p.name() == name)
    }

    /// Whether this CPU can run the path.
    pub fn is_supported(self) -> bool {
        match self {
            KernelPath::Scalar => true,
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
