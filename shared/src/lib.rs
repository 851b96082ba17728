//! robofish-shared: the `no_std` core of robofish.
//!
//! Everything the host and the device must agree on bit for bit lives here:
//! the int8 model format, the fixed-point arithmetic, the kernels, the
//! allocation-free engine, post-processing, the wire protocol and the
//! fleet's MQTT schema ([`fleet`]).
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod checksum;
#[cfg(feature = "alloc")]
pub mod classical;
pub mod codebook;
pub mod engine;
pub mod fleet;
pub mod image;
#[cfg(feature = "alloc")]
pub mod image_stats;
pub mod input_stage;
pub mod kernels;
pub mod post;
pub mod protocol;
pub mod quant;

#[cfg(feature = "alloc")]
pub mod model;
pub mod rng;
#[cfg(all(target_arch = "x86_64", feature = "std"))]
pub mod roofline;

#[cfg(feature = "std")]
pub mod ptq;
#[cfg(feature = "std")]
pub mod reference;
#[cfg(feature = "std")]
pub mod synthetic;
