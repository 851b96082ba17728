//! Fuzz the readers of dataset files that come from other tools: the
//! ground-truth CSV, the codebook CSV and the round TIFFs. Any bytes give a
//! value or an error, never a panic; a decoded image is self-consistent.
//!
//! Run: `cargo +nightly fuzz run --features host dataset_files` (the host
//! crate is behind that feature so the other targets build quickly).
#![no_main]

use std::io::Cursor;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use robofish_host::data::{decode_gray_tiff, parse_truth_csv};
use robofish_host::sim::Codebook;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            let codebook = Codebook::mhd4(130);
            let _ = parse_truth_csv(&text, Path::new("fuzz.csv"), 40, 40, Some(&codebook));
            let _ = parse_truth_csv(&text, Path::new("fuzz.csv"), 40, 40, None);
        }
        1 => {
            let _ = Codebook::from_csv(&String::from_utf8_lossy(rest));
        }
        _ => {
            if let Ok(image) = decode_gray_tiff(Cursor::new(rest), Path::new("fuzz.tiff")) {
                assert_eq!(image.pixels.len(), image.height * image.width);
            }
        }
    }
});
