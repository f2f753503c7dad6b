//! The `dialogic` binary.
fn main() {
    println!("dialogic {}", env!("CARGO_PKG_VERSION"));
}
