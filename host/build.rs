//! With the `torch` feature, bake libtorch's folder into the binary's rpath
//! so `robofish train` runs without LD_LIBRARY_PATH. torch-sys publishes the
//! folder as `DEP_TCH_LIBTORCH_LIB` (its `links = "tch"` metadata, visible to
//! direct dependents only, hence torch-sys as a direct dependency).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_some() {
        if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
}
