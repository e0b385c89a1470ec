//! The Rust example of kiln: built inside a (simulated) TEE by `kiln build examples/rust-hello`.

fn main() {
    println!("hello from an attested Rust build");
}
