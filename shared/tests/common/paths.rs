//! Which kernel paths a test must run, and a record of the ones it ran.
//!
//! A test that skipped a path used to print a note the harness hid, so a
//! green run could mean the path never ran. Now:
//!
//! - `ROBOFISH_REQUIRED_PATHS` (comma-separated names, as `ROBOFISH_KERNELS`
//!   takes them) lists the paths this machine must exercise. `scripts/test.sh`
//!   sets it from the CPU's flags, or under qemu from the emulated CPU model.
//!   A test asked to run a required path this CPU lacks fails, naming it.
//! - `ROBOFISH_PATH_REPORT` names a file to which every run of a path on a
//!   test appends `crate<TAB>test<TAB>path`; `scripts/test.sh` turns the
//!   lines into its exercised-paths table.
//!
//! Shared by the device tests through `#[path]`: one contract, one place.
#![allow(dead_code)]

use std::io::Write;

use robofish_shared::kernels::KernelPath;

/// The paths `ROBOFISH_REQUIRED_PATHS` names. Panics on a name no build
/// knows: a typo must not turn a requirement into nothing.
pub fn required() -> Vec<KernelPath> {
    let Ok(list) = std::env::var("ROBOFISH_REQUIRED_PATHS") else {
        return Vec::new();
    };
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            KernelPath::from_name(name).unwrap_or_else(|| {
                panic!("ROBOFISH_REQUIRED_PATHS names {name:?}, which is no kernel path")
            })
        })
        .collect()
}

/// Whether `test` can run `path` here. A supported path is recorded as run;
/// an unsupported one that is required fails the test; any other
/// unsupported path is skipped (it is not this machine's to check).
pub fn usable(path: KernelPath, test: &str) -> bool {
    if path.is_supported() {
        record(path, test);
        return true;
    }
    if required().contains(&path) {
        panic!(
            "kernel path {path} is required on this machine (ROBOFISH_REQUIRED_PATHS={}) \
             but this CPU does not support it, so {test} cannot run it",
            std::env::var("ROBOFISH_REQUIRED_PATHS").unwrap_or_default()
        );
    }
    false
}

/// Every path `test` should run here: the one `ROBOFISH_KERNELS` forces
/// (the forced-scalar run), else every supported path, each recorded.
/// Fails when a required path is unsupported.
pub fn under_test(test: &str) -> Vec<KernelPath> {
    if let Ok(name) = std::env::var("ROBOFISH_KERNELS") {
        if !name.is_empty() {
            let path = KernelPath::require(&name)
                .unwrap_or_else(|e| panic!("ROBOFISH_KERNELS={name}: {e}"));
            record(path, test);
            return vec![path];
        }
    }
    KernelPath::ALL
        .iter()
        .copied()
        .filter(|&path| usable(path, test))
        .collect()
}

/// Appends `path` ran on `test` to the report file, if one is asked for.
pub fn record(path: KernelPath, test: &str) {
    let Ok(file) = std::env::var("ROBOFISH_PATH_REPORT") else {
        return;
    };
    // One short write per line on an O_APPEND file: lines from parallel
    // tests do not interleave.
    let line = format!("{}\t{test}\t{}\n", env!("CARGO_CRATE_NAME"), path.name());
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!("cannot append to ROBOFISH_PATH_REPORT={file}: {e}");
    }
}
