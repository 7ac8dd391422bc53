//! The C ABI. Thin by rule: check arguments, look up handles, call the engine, map
//! errors. No shared-memory logic lives here.
//!
//! Every exported function runs inside [`guard`], which catches panics (returned as
//! `PLEXUS_E_INTERNAL`) and records the error message for `plexus_last_error()`.
//! Pointer arguments are NULL-checked before use; C callers cannot be marked `unsafe`,
//! so `clippy::not_unsafe_ptr_arg_deref` is allowed for this module.
#![allow(non_camel_case_types, clippy::not_unsafe_ptr_arg_deref)]

// Declaration order is the order of the generated header, the order a C programmer
// learns the library in: statuses, values, regions, arrays, maps, queues, bus, locks.
pub mod status;
pub mod value;
pub mod region;
pub mod array;
pub mod map;
pub mod queue;
pub mod bus;
pub mod locks;
pub mod service;
pub mod tarray;
pub mod handles;

pub use array::*;
pub use bus::*;
pub use locks::*;
pub use map::*;
pub use queue::*;
pub use region::*;
pub use service::*;
pub use status::*;
pub use tarray::*;
pub use value::*;

/// Major version; equals Cargo.toml's (checked by a test).
pub const PLEXUS_VERSION_MAJOR: u32 = 0;
/// Minor version.
pub const PLEXUS_VERSION_MINOR: u32 = 2;
/// Patch version.
pub const PLEXUS_VERSION_PATCH: u32 = 0;

/// `timeout_ns` value that waits without limit (the header defines it as
/// `((int64_t)-1)`, see cbindgen.toml).
pub const PLEXUS_FOREVER: i64 = -1;

/// The C timeout convention (`PLEXUS_FOREVER` = -1 waits without limit, 0 tries once, a
/// positive value is relative, in nanoseconds) as the `Option<Duration>` every backend
/// takes (`None` = no limit); other negative values are invalid.
pub(crate) fn timeout(ns: i64) -> Result<Option<std::time::Duration>, crate::Error> {
    match ns {
        PLEXUS_FOREVER => Ok(None),
        n if n >= 0 => Ok(Some(std::time::Duration::from_nanos(n as u64))),
        n => Err(crate::Error::invalid(format!(
            "timeout_ns {n} is negative (use PLEXUS_FOREVER = -1 to wait without limit)"
        ))),
    }
}

/// How often a `_cancellable` call looks at its cancel word.
const CANCEL_CHECK: std::time::Duration = std::time::Duration::from_millis(10);

/// Runs `f` with the [`crate::Interrupt`] of the C cancel word `cancel` (a `const uint32_t *`
/// that another thread or a signal handler sets nonzero to give up the wait): its check,
/// run every [`CANCEL_CHECK`] while the call waits, fails with `Timeout` once the word is
/// nonzero, so a cancelled call ends exactly as a timed-out one. NULL: `f(None)`. A word
/// not aligned to 4 bytes is `InvalidArgument`, and `f` is not run.
pub(crate) fn with_cancel_word<T>(
    cancel: *const u32,
    f: impl FnOnce(Option<&crate::Interrupt<'_>>) -> T,
) -> Result<T, crate::Error> {
    use std::sync::atomic::{AtomicU32, Ordering};
    if cancel.is_null() {
        return Ok(f(None));
    }
    if !cancel.cast::<AtomicU32>().is_aligned() {
        return Err(crate::Error::invalid("cancel is not aligned to 4 bytes"));
    }
    // SAFETY: the caller keeps `*cancel` valid until the call returns, it is aligned (a
    // uint32_t), and others write it only with atomic stores; this only loads it.
    let flag = unsafe { AtomicU32::from_ptr(cancel as *mut u32) };
    let check = || -> Result<(), crate::Error> {
        // Acquire: what the canceller wrote before its store is visible after the wait.
        if flag.load(Ordering::Acquire) != 0 {
            return Err(crate::Error::Timeout);
        }
        Ok(())
    };
    let interrupt = crate::Interrupt {
        every: CANCEL_CHECK,
        check: &check,
    };
    Ok(f(Some(&interrupt)))
}

/// The library's version as `(major << 16) | (minor << 8) | patch`; compare it with the
/// `PLEXUS_VERSION_*` macros of the header you compiled against.
#[no_mangle]
pub extern "C" fn plexus_version() -> u32 {
    PLEXUS_VERSION_MAJOR << 16 | PLEXUS_VERSION_MINOR << 8 | PLEXUS_VERSION_PATCH
}

/// How many locks inside regions (element, allocator and directory locks, mutexes) this
/// process has taken over from owners that died holding them, plus semaphore holders
/// whose permits it took back, since it started. A diagnostic:
/// nonzero means some process was killed in the middle of a plexus call and this process
/// cleaned up after it. Never fails.
#[no_mangle]
pub extern "C" fn plexus_recovered_locks() -> u64 {
    crate::recovered_locks()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_c_timeout_convention() {
        assert_eq!(timeout(PLEXUS_FOREVER), Ok(None));
        assert_eq!(timeout(0), Ok(Some(Duration::ZERO)));
        assert_eq!(timeout(1_000), Ok(Some(Duration::from_micros(1))));
        assert!(matches!(timeout(-2), Err(crate::Error::InvalidArgument(_))));
    }
}
