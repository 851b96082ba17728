//! CRC-32 (IEEE 802.3, the zlib / PNG / Ethernet polynomial) without `std`.
//!
//! Used by the wire protocol for model chunks and whole-FOV pixel checksums,
//! and reusable for model files. Parameters (the "CRC-32/ISO-HDLC" entry of
//! the CRC catalogue): reflected polynomial `0xEDB8_8320`, initial value and
//! final XOR `0xFFFF_FFFF`; the check value of `b"123456789"` is
//! `0xCBF4_3926`, the same as zlib's `crc32()` and Python's
//! `zlib.crc32`.
//!
//! The arithmetic is [`crc32fast`]'s: PCLMULQDQ folding on x86_64 and the
//! ARMv8 CRC instructions on aarch64 (detected at run time with `std`),
//! else its table-driven "slicing-by-16", which matters when a 2048 x 2048
//! x 16 x u16 field of view (128 MiB) is checksummed as it streams in.

/// Incremental CRC-32 (IEEE): feed bytes in any number of pieces with
/// [`Crc32::update`]; the result equals [`crc32`] of their concatenation.
///
/// ```
/// use robofish_shared::checksum::{crc32, Crc32};
/// let mut hasher = Crc32::new();
/// hasher.update(b"12345");
/// hasher.update(b"6789");
/// assert_eq!(hasher.finalize(), 0xCBF4_3926);
/// assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crc32 {
    /// The CRC-32 of the bytes so far: what [`crc32fast::Hasher`] resumes
    /// from (it keeps no other state a checksum needs).
    crc: u32,
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    /// A hasher that has seen no bytes (its [`finalize`](Self::finalize) is `0`).
    pub const fn new() -> Self {
        Self { crc: 0 }
    }

    /// Appends `bytes` to the checksummed stream.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut hasher = crc32fast::Hasher::new_with_initial(self.crc);
        hasher.update(bytes);
        self.crc = hasher.finalize();
    }

    /// The CRC-32 of everything passed to [`update`](Self::update) so far.
    /// Does not consume the hasher; more bytes may follow.
    pub const fn finalize(&self) -> u32 {
        self.crc
    }
}

/// CRC-32 (IEEE) of `bytes` in one call.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reflected IEEE polynomial.
    const POLYNOMIAL: u32 = 0xEDB8_8320;

    /// Bit-at-a-time reference, straight from the definition.
    fn crc32_bitwise(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    POLYNOMIAL ^ (crc >> 1)
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn catalogue_check_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    proptest! {
        #[test]
        fn equals_bitwise(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(crc32(&bytes), crc32_bitwise(&bytes));
        }

        #[test]
        fn incremental_equals_one_shot(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..6),
        ) {
            let mut cuts: std::vec::Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut hasher = Crc32::new();
            let mut start = 0;
            for cut in cuts {
                hasher.update(&bytes[start..cut]);
                start = cut;
            }
            hasher.update(&bytes[start..]);
            prop_assert_eq!(hasher.finalize(), crc32(&bytes));
        }
    }
}

/// FNV-1a, 64 bit: a cheap identity for whole files (the model hash).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod fnv_tests {
    #[test]
    fn fnv1a64_known_vectors() {
        assert_eq!(super::fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
