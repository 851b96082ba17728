//! Fuzz the model-file loader: any byte string either decodes into a model
//! that passes validation and can be planned, or is refused with an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use robofish_shared::engine::Network;
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::{decode_model, encode_model};

fuzz_target!(|data: &[u8]| {
    // Raw bytes as a whole file, and the same bytes behind a valid header
    // (so the fuzzer reaches postcard decoding and graph validation).
    let _ = decode_model(data);
    let mut framed = b"ROBOFISH".to_vec();
    framed.extend_from_slice(&robofish_shared::model::FORMAT_VERSION.to_le_bytes());
    framed.extend_from_slice(&0u16.to_le_bytes());
    framed.extend_from_slice(&(data.len() as u32).to_le_bytes());
    framed.extend_from_slice(&robofish_shared::checksum::crc32(data).to_le_bytes());
    framed.extend_from_slice(data);
    if let Ok(model) = decode_model(&framed) {
        // What validates must re-encode identically and plan without panicking.
        let again = encode_model(&model).expect("a validated model re-encodes");
        assert_eq!(decode_model(&again).as_ref(), Ok(&model));
        if let Ok(network) = Network::new(model, KernelPath::Scalar) {
            let _ = network.plan(16, 16);
        }
    }
});
