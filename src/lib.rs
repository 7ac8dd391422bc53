//! plexus: persistent, inter-language shared memory.
//!
//! Rust users work with [`engine`] (re-exported at the crate root); C and every other
//! language use the C ABI in `include/plexus.h`, implemented in `ffi`.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

/// cbindgen:ignore
pub mod engine;
pub mod ffi;

pub use engine::*;
