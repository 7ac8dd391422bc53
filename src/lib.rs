//! plexus: persistent, inter-language shared memory.
//!
//! - [`semantics`]: what every call means whatever the backend (values, JavaScript `+`,
//!   deadlines, names and keys), written once.
//! - [`shm`]: the shared-memory backend (re-exported at the crate root: Rust users work
//!   with [`Region`], [`Array`], [`Map`], ...).
//! - [`backend`]: the seam the C ABI calls: one enum per object kind, dispatching to a
//!   backend.
//! - `ffi`: the C ABI of `include/plexus.h`.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

/// cbindgen:ignore
pub mod backend;
/// cbindgen:ignore
pub mod error;
pub mod ffi;
/// cbindgen:ignore
#[cfg(feature = "redis")]
pub mod redis;
/// cbindgen:ignore
pub mod semantics;
/// cbindgen:ignore
pub mod shm;
/// cbindgen:ignore
pub mod test_hooks;

pub use error::{Error, Result};
pub use semantics::deadline::{Deadline, Interrupt};
pub use semantics::names::{MAX_KEY_LEN, MAX_NAME_LEN};
pub use semantics::topics::MAX_TOPIC_LEN;
pub use semantics::value::{Type, Value, ValueRef};
pub use shm::*;
#[cfg(feature = "test-hooks")]
pub use test_hooks::{test_pause_after_emit, test_pause_in_push};
