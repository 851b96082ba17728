//! Fuzzes a whole device session: arbitrary bytes from a host into the
//! device's serve loop (frame decoding, authentication, model uploads,
//! codebooks, FOVs through a small real model, reports), in arbitrary
//! read sizes.
//!
//! Input layout: byte 0 picks the configuration (bit 0: the device has a
//! token; bit 1: anonymous streaming; bit 2: a model is loaded), byte 1
//! seeds the read sizes, the rest is what the host sends. Checks, besides
//! "never panics": every byte the device writes decodes as a sequence of
//! device messages (it never emits garbage), and the session ends.
//!
//! Run: `cargo +nightly fuzz run device_session` (from the repository root).
#![no_main]

use std::io::Read;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use robofish_device::auth::{AuthConfig, Token};
use robofish_device::{serve, Device, DeviceConfig};
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::{encode_model, ArchConfig};
use robofish_shared::protocol::{DeviceMessage, Feed, FrameDecoder, MAX_FRAME_BYTES};
use robofish_shared::synthetic::random_quantised;

/// An eighth-width static model, made once.
fn model() -> &'static [u8] {
    static MODEL: OnceLock<Vec<u8>> = OnceLock::new();
    MODEL.get_or_init(|| {
        let (_, model) = random_quantised(&ArchConfig::seed().scaled(0.125), 1, 1, 32);
        encode_model(&model).expect("the model encodes")
    })
}

/// Hands out the host's bytes in varying read sizes, as a socket would.
struct Chunked<'a> {
    bytes: &'a [u8],
    seed: u8,
    step: u32,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = usize::from(self.seed.rotate_left(self.step % 8)) % 97 + 1;
        self.step += 1;
        let n = size.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

fuzz_target!(|input: &[u8]| {
    let [flags, seed, stream @ ..] = input else {
        return;
    };
    let token = (flags & 1 != 0)
        .then(|| Token::from_contents(b"fuzzing-token-0123456789").expect("a valid token"));
    let config = DeviceConfig {
        threads: 1,
        batch_rows: 4,
        model_store: None,
        kernels: KernelPath::Scalar,
        auth: AuthConfig {
            token,
            anonymous_streaming: flags & 2 != 0,
        },
        max_memory: Some(64 << 20),
    };
    let mut device = Device::new(config);
    if flags & 4 != 0 {
        device.load_model(model()).expect("the model loads");
    }
    let mut reader = Chunked {
        bytes: stream,
        seed: *seed,
        step: 0,
    };
    let mut written = Vec::new();
    let _ = serve(&mut device, &mut reader, &mut written);
    let mut decoder: Box<FrameDecoder<MAX_FRAME_BYTES>> = Box::default();
    let mut rest = &written[..];
    loop {
        match decoder.feed::<DeviceMessage>(rest) {
            Feed::Pending => break,
            Feed::Message { remaining, .. } => rest = remaining,
            Feed::Error { error, .. } => panic!("the device wrote a bad frame: {error}"),
        }
    }
    assert!(!decoder.is_mid_frame(), "the device's last frame is cut");
});
