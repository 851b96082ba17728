//! With the `torch` feature, bake libtorch's folder into the binary's rpath
//! so `robofish train` runs without LD_LIBRARY_PATH. torch-sys publishes the
//! folder as `DEP_TCH_LIBTORCH_LIB` (its `links = "tch"` metadata, visible to
//! direct dependents only, hence torch-sys as a direct dependency).
//!
//! When that libtorch has CUDA (PyPI's default wheels do), also keep
//! `libtorch_cuda.so` as a dependency: nothing in the binary refers to its
//! symbols, so the linker's `--as-needed` would drop it, and libtorch then
//! registers no CUDA backend and `--device cuda` finds no GPU.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_some() {
        if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
            let cuda = std::path::Path::new(&dir).join("libtorch_cuda.so");
            if cuda.exists() {
                println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
            }
        }
    }
}
