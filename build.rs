//! Gives the shared library a SONAME (`libplexus.so`), so programs linked against it by
//! full path (as CMake does) record `libplexus.so` as their dependency, not the path.
fn main() {
    let target = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libplexus.so");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
