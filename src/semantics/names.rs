//! Argument rules every backend applies the same way: object names and map keys.

use crate::error::{Error, Result};

/// Longest object name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 96;

/// Longest map key, in bytes of UTF-8.
pub const MAX_KEY_LEN: usize = 4096;

/// True for the name of a remote region (`redis://`, `rediss://`), whether or not this
/// build has the Redis backend.
pub fn is_remote(name: &str) -> bool {
    name.starts_with("redis://") || name.starts_with("rediss://")
}

/// An object name is 1 to [`MAX_NAME_LEN`] bytes of UTF-8 without NUL.
pub fn check_object_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains('\0') {
        return Err(Error::invalid(format!(
            "object name must be 1 to {MAX_NAME_LEN} bytes without NUL (got {} bytes)",
            name.len()
        )));
    }
    Ok(())
}

/// A map key is at most [`MAX_KEY_LEN`] bytes of UTF-8 (the empty key is a key).
pub fn check_key(key: &str) -> Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(Error::invalid(format!(
            "map key of {} bytes is longer than {MAX_KEY_LEN} bytes",
            key.len()
        )));
    }
    Ok(())
}
