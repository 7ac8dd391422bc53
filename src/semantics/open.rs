//! The open rules every kind shares, on every backend: a size (length, capacity,
//! parties, permits) of 0 opens an existing object only (NotFound); a nonzero size
//! creates it if absent and must equal the existing object's otherwise (Incompatible);
//! another kind under the name is TypeMismatch; EXCLUSIVE fails with Exists unless this
//! call created the object.

use crate::error::{Error, Result};

/// Object kind codes, the same in every backend's directory.
pub const KIND_ARRAY: u32 = 1;
pub const KIND_MAP: u32 = 2;
pub const KIND_QUEUE: u32 = 3;
pub const KIND_BUS: u32 = 4;
pub const KIND_MUTEX: u32 = 5;
pub const KIND_BARRIER: u32 = 6;
pub const KIND_SEMAPHORE: u32 = 7;
pub const KIND_SERVICE: u32 = 8;
pub const KIND_TARRAY: u32 = 9;

/// Human-readable name of an object kind.
pub fn kind_name(kind: u32) -> &'static str {
    match kind {
        KIND_ARRAY => "array",
        KIND_MAP => "map",
        KIND_QUEUE => "queue",
        KIND_BUS => "bus",
        KIND_MUTEX => "mutex",
        KIND_BARRIER => "barrier",
        KIND_SEMAPHORE => "semaphore",
        KIND_SERVICE => "service",
        KIND_TARRAY => "typed array",
        _ => "unknown object",
    }
}

/// How messages name a kind and its size.
#[derive(Clone, Copy)]
pub struct KindWords {
    /// KIND_ARRAY, ...
    pub code: u32,
    /// "array", "map", ...
    pub name: &'static str,
    /// "a" or "an"
    pub article: &'static str,
    /// what the size is: "length", "capacity", ...
    pub shape: &'static str,
    /// what the size counts: "elements", "keys", ...
    pub items: &'static str,
}

/// The message for a size too large for the backend.
pub fn too_large(words: &KindWords, shape: u64) -> Error {
    let KindWords {
        name,
        article,
        items,
        ..
    } = *words;
    Error::NoSpace(format!(
        "{article} {name} of {shape} {items} does not fit in the region"
    ))
}

/// The message for a missing object opened with size 0.
pub fn not_found(name: &str) -> Error {
    Error::NotFound(format!("no object named '{name}'"))
}

/// Checks an object found (or just created: `created`) under `name` against what the
/// caller asked for: kind `words`, size `shape` (0 = any), `exclusive`.
pub fn check_found(
    name: &str,
    words: &KindWords,
    shape: u64,
    exclusive: bool,
    found_kind: u32,
    found_shape: u64,
    created: bool,
) -> Result<()> {
    let KindWords {
        code,
        name: what,
        article,
        shape: measure,
        ..
    } = *words;
    if found_kind != code {
        return Err(Error::TypeMismatch(format!(
            "'{name}' is a {}, not {article} {what}",
            kind_name(found_kind)
        )));
    }
    if !created && exclusive {
        return Err(Error::Exists(format!("{what} '{name}' already exists")));
    }
    if shape != 0 && found_shape != shape {
        return Err(Error::Incompatible(format!(
            "{what} '{name}' has {measure} {found_shape}, not {shape}"
        )));
    }
    Ok(())
}
