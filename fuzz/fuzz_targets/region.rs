//! Hostile region files: see tests/fuzz_harness/mod.rs for the input format.
#![no_main]

#[path = "../../tests/fuzz_harness/mod.rs"]
mod fuzz_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let name = format!("fuzz-region-{}", std::process::id());
    let _ = fuzz_harness::run(data, &name);
});
