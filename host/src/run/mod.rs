//! `robofish run`: every field of view (FOV) of an experiment decoded into
//! the transcript tables that spatial-omics tools load, de-duplicated in
//! the overlaps of neighbouring FOVs, resumable, and mergeable from
//! per-FOV jobs (`robofish merge`).
//!
//! # Coordinates
//!
//! One convention for every table robofish writes:
//!
//! - `x` is the column and `y` the row, in pixels of the FOV's images. Pixel
//!   `(row r, column c)` covers `[c, c + 1) x [r, r + 1)`, so its centre is
//!   at `(c + 0.5, r + 0.5)` (the simulator's and the ground truth's
//!   convention; the device reports centres at integers and `run` adds 0.5).
//! - A FOV's stage position (µm) is where the centre of its pixel `(0, 0)`
//!   lies, as MERlin has it (see [`crate::data::FovInfo`]), so global
//!   coordinates are `global_x = stage_x + (x - 0.5) * pixel_size`,
//!   `global_y = stage_y + (y - 0.5) * pixel_size`, in µm: the same as
//!   [`crate::data::pixel_to_global`]. Without stage positions and a pixel
//!   size every FOV sits at 0 and overlaps are not de-duplicated; without
//!   a pixel size the global coordinates are in pixels (`qc.json` says
//!   which: `global_units`).
//! - `global_z` is the plane's z in µm when known, else its plane index.
//!   `run` decodes every z plane of a FOV (or only the one `--z` picks),
//!   each as its own 16 images; a FOV's part holds all its planes, and a
//!   transcript of a FOV with several planes has the plane in its id
//!   (`{fov}-z{plane}-{row}-{col}`). Planes are not merged along z: a
//!   molecule seen in two planes gives two rows.
//!
//! # What a run leaves in `OUT`
//!
//! `fovs/fov_{id}.csv` and `fovs/fov_{id}.json` per FOV (the transcripts
//! it owns, and its counts, identity and placement), `fovs/fov_{id}.failed.json`
//! for a FOV that failed, `codebook.csv` (the codebook the calls index),
//! and the final tables rebuilt from the parts: `detected_transcripts.csv`,
//! `detected_transcripts.parquet`, `counts_per_gene.csv`, `qc.json`,
//! `qc.png`. Every file is written to a temporary name and renamed, so a
//! crash never leaves a file that looks complete.

mod assemble;
mod atomic;
mod decode;
mod driver;
mod ownership;
mod parquet_out;
mod parts;
mod qc;
mod qc_plot;
mod source;
mod tables;
mod transcript;

pub use assemble::FovAssembly;
pub use atomic::write_bytes as write_atomic;
pub use decode::{prepare, Backend, Detection, Method, Prepared};
pub use driver::{run_fovs, RunJob, RunOutcome};
pub use ownership::Layout;
pub use parquet_out::write_parquet;
pub use parts::{
    fingerprint, is_done, load_parts, parts_dir, write_failure, write_part, FovFailure, FovPart,
    PartSet, RunIdentity,
};
pub use qc::Qc;
pub use source::{DatasetSource, FovPlacement, FovSource, Plane};
pub use tables::{print_qc, write_tables};
pub use transcript::{read_transcripts_csv, write_transcripts_csv, Transcript, COLUMNS};
