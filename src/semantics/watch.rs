//! Observing elements (MemSync's `observe`), whatever the backend.
//!
//! Every array element and map key has a 64-bit version that moves on every change of
//! its value or tag (an absent map key has version 0; its insertion, and its removal,
//! are changes). A watcher remembers the version it last saw and asks for the next
//! state: [`watch`] returns as soon as the version differs, with the value *and* the
//! version it belongs to, read together (never a newer value with an older version, nor
//! the reverse).
//!
//! The observer guarantee, which every binding's callbacks and iterators inherit: a
//! watcher sees every value that stayed in place for longer than the watcher took to
//! come back for the next one, and always sees the last value (once the writers stop,
//! its next watch returns the final state, or it already has it). Values that replace
//! each other faster than that are coalesced: the watcher gets the newest one, and the
//! version tells it how many changes it skipped (for values written by plain writes,
//! each write moves the version by one).

use crate::error::Result;
use crate::semantics::deadline::Deadline;
use crate::semantics::value::Value;

/// Returns the element's state as soon as its version differs from `*seen`, storing the
/// new version in `*seen`. `read` gives a consistent (value, version) pair now; `wait`
/// blocks until the version may have moved from the one given (it may return early:
/// the loop looks again) and fails with `Timeout` once `deadline` has passed.
pub fn watch(
    seen: &mut u64,
    deadline: &Deadline,
    mut read: impl FnMut() -> Result<(Value, u64)>,
    mut wait: impl FnMut(u64, &Deadline) -> Result<()>,
) -> Result<Value> {
    loop {
        let (value, version) = read()?;
        if version != *seen {
            *seen = version;
            return Ok(value);
        }
        wait(version, deadline)?;
    }
}

/// One entry of a map-wide change listing (`next_change` of a map): a key that changed
/// after the change count the listing started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapChange {
    /// The key.
    pub key: String,
    /// Its version now (0 when `removed`).
    pub version: u64,
    /// The map's change count at the key's last change: list again from the largest
    /// one seen (or from the count read before listing) to get only newer changes.
    pub counter: u64,
    /// The change was the key's removal (it is absent, unless inserted again later,
    /// which a later entry for the same key then reports).
    pub removed: bool,
}

/// The checks of a map's initial data (both backends; keys and values are checked by
/// the caller as for any write): at most `capacity` keys (NoSpace otherwise; with
/// `capacity == 0`, an open of an existing map only, the data never applies).
pub fn check_initial(name: &str, capacity: u64, initial: &[(String, Value)]) -> Result<()> {
    if capacity != 0 && initial.len() as u64 > capacity {
        return Err(crate::Error::NoSpace(format!(
            "the initial data of map '{name}' has {} keys, more than its capacity {capacity}",
            initial.len()
        )));
    }
    Ok(())
}
