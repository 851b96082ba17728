//! `robofish-device`: the on-microscope runtime.
fn main() {
    println!("robofish-device {}", env!("CARGO_PKG_VERSION"));
}
