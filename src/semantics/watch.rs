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
