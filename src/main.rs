//! idbridge binary.
fn main() {}
