//! wrong-world (test module): a WebAssembly component that is a `wasi:cli`
//! command, not a ganglion module. The host must refuse it by name.

fn main() {
    println!("I am not a ganglion module");
}
