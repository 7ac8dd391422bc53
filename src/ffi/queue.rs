//! `plexus_queue`: bounded blocking queues of values, FIFO or LIFO (a stack).
//!
//! A queue holds up to `capacity` values (fixed at creation) of any type, large strings
//! and objects included; many processes may push and pop at once. `plexus_queue_push`
//! waits while the queue is full, `plexus_queue_pop` while it is empty, both with the
//! `timeout_ns` convention of plexus_array (PLEXUS_FOREVER, 0 = try once, positive =
//! relative; PLEXUS_TIMEOUT when it passes; a blocked process sleeps, it does not spin).
//!
//! FIFO queues (the default) deliver values in the order their pushes took their place
//! (for one producer: the order it pushed them); they take no lock. LIFO queues
//! (PLEXUS_LIFO) pop the newest value first and serialize on one internal lock.
//!
//! plexus_queue_shutdown ends the queue itself, for every process: pushes then fail with
//! PLEXUS_CLOSED, pops return the values still in it and then PLEXUS_CLOSED, and every
//! blocked push and pop wakes. A queue stays shut down (it is part of the region);
//! removing it (plexus_region_remove_object) and creating it again starts it anew.
//! plexus_queue_close gives back a handle, as every kind's `_close` does.
//!
//! Crash safety: a value is delivered exactly once, or — if its producer died before
//! its push returned — not at all; a consumer that dies before its pop took the value
//! leaves it in the queue. No process ever sees a torn value, and a process killed at
//! any point never blocks the others (a push left unfinished by a dead producer is
//! dropped by the first process that waits behind it, after at most ~20 ms).

use std::ffi::c_char;
use std::sync::Arc;

use super::handles::{self, Object, QueueEntry};
use super::region::plexus_region;
use super::status::{c_str, guard, out_ref, plexus_status};
use super::timeout;
use super::value::{plexus_value, read_op, value_ref};
use crate::Error;

/// Handle of an open queue. Id 0 is never valid.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct plexus_queue {
    pub id: u64,
}

/// Queue open flag: a LIFO stack (pop returns the newest value) instead of a FIFO queue.
pub const PLEXUS_LIFO: u32 = 4;
const _: () = assert!(PLEXUS_LIFO == crate::FLAG_LIFO);

/// Runs `f` on the engine queue behind handle `q`.
fn with<T>(
    q: plexus_queue,
    f: impl FnOnce(&crate::backend::Queue) -> Result<T, Error>,
) -> Result<T, Error> {
    handles::with(q.id, |e: &QueueEntry| f(&e.queue))
}

/// Opens the queue `name` in `region`, creating it when `capacity > 0` and it is missing.
///
/// `capacity > 0`: created if absent (empty, FIFO unless PLEXUS_LIFO); if present, its
/// capacity must equal `capacity` and its kind (FIFO or LIFO) must match the flags (else
/// PLEXUS_E_INCOMPATIBLE). `capacity == 0`: opens an existing queue only
/// (PLEXUS_E_NOT_FOUND if absent), of either kind unless PLEXUS_LIFO asks for a stack.
/// `flags`: PLEXUS_LIFO, PLEXUS_EXCLUSIVE. Names are 1-96 bytes of UTF-8. The queue
/// takes 64 bytes per value of capacity in the region, plus a heap block per stored
/// value longer than 8 bytes. Opening the same queue twice through one region handle
/// returns the same handle (and counts the open: see plexus_queue_close).
///
/// Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_EXISTS, PLEXUS_E_INCOMPATIBLE,
/// PLEXUS_E_TYPE_MISMATCH (another kind of object has that name), PLEXUS_E_NO_SPACE
/// (heap or directory full), PLEXUS_E_INVALID_ARGUMENT, PLEXUS_E_BAD_HANDLE,
/// PLEXUS_E_CORRUPT. On failure `*out` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_queue_open(
    region: plexus_region,
    name: *const c_char,
    capacity: u64,
    flags: u32,
    out: *mut plexus_queue,
) -> plexus_status {
    guard(|| {
        let name = c_str(name, "name")?;
        let slot = out_ref(out, "out")?;
        let parent = handles::region(region.id)?;
        let queue = parent.region.queue(name, capacity, flags)?;
        slot.id = handles::child(region.id, &parent, "queue", name, || {
            Object::Queue(Arc::new(QueueEntry {
                queue,
                parent: region.id,
            }))
        })?;
        Ok(())
    })
}

/// Gives back one `plexus_queue_open` of this handle (the handle stays valid until
/// closed as many times as it was opened; closing the region closes it at once). The
/// queue and its values stay in the region: ending the queue for every process is
/// plexus_queue_shutdown. PLEXUS_E_BAD_HANDLE if already closed.
#[no_mangle]
pub extern "C" fn plexus_queue_close(q: plexus_queue) -> plexus_status {
    guard(|| {
        let e = handles::queue(q.id)?;
        handles::close_child(q.id, "queue", e.queue.name(), e.parent)
    })
}

/// Appends a copy of `*v` (the caller keeps ownership of `*v`), waiting while the queue
/// is full.
///
/// Returns PLEXUS_OK once the value is in the queue; PLEXUS_TIMEOUT (full until the
/// timeout; nothing was stored), PLEXUS_CLOSED (the queue is shut down; nothing was
/// stored), PLEXUS_E_INVALID_ARGUMENT (NULL or invalid value, negative timeout other
/// than PLEXUS_FOREVER), PLEXUS_E_NO_SPACE (the region's heap cannot hold the value),
/// PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT.
#[no_mangle]
pub extern "C" fn plexus_queue_push(
    q: plexus_queue,
    v: *const plexus_value,
    timeout_ns: i64,
) -> plexus_status {
    guard(|| {
        let t = timeout(timeout_ns)?;
        let v = value_ref(v, "v")?;
        with(q, |x| x.push(v, t))
    })
}

/// Removes the oldest value (the newest, for a LIFO queue) into `*out`, waiting while
/// the queue is empty. `*out` is overwritten without being freed first and may own
/// memory: release it with plexus_value_free.
///
/// Returns PLEXUS_OK; PLEXUS_TIMEOUT (empty until the timeout), PLEXUS_CLOSED (shut down
/// and empty), PLEXUS_E_INVALID_ARGUMENT, PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT. On any
/// status but PLEXUS_OK, `*out` is unchanged and nothing was removed.
#[no_mangle]
pub extern "C" fn plexus_queue_pop(
    q: plexus_queue,
    out: *mut plexus_value,
    timeout_ns: i64,
) -> plexus_status {
    read_op(out, || {
        let t = timeout(timeout_ns)?;
        with(q, |x| x.pop(t))
    })
}

/// `*out` = number of values in the queue (a snapshot: with pushes and pops under way
/// in other processes it may already differ; it counts a push that is storing its value).
#[no_mangle]
pub extern "C" fn plexus_queue_len(q: plexus_queue, out: *mut u64) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = with(q, |x| x.len())?;
        Ok(())
    })
}

/// `*out` = the maximum number of values, fixed at creation.
#[no_mangle]
pub extern "C" fn plexus_queue_capacity(q: plexus_queue, out: *mut u64) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = with(q, |x| Ok(x.capacity()))?;
        Ok(())
    })
}

/// Ends the queue for every process that uses it: pushes fail with PLEXUS_CLOSED from
/// now on, pops return the values left and then PLEXUS_CLOSED, and every blocked push
/// and pop wakes up. Shutting down a queue that is already shut down is PLEXUS_OK; a
/// queue stays shut down. The handle stays valid (give it back with plexus_queue_close).
///
/// To start a queue that was shut down again, remove it (plexus_region_remove_object)
/// and open it again with its capacity: every handle on the old queue, in every process,
/// then returns PLEXUS_E_REMOVED, so each process learns that it must open the queue
/// again. Values still in the old queue go with it.
#[no_mangle]
pub extern "C" fn plexus_queue_shutdown(q: plexus_queue) -> plexus_status {
    guard(|| with(q, |x| x.shutdown()))
}

/// `*out` = whether plexus_queue_shutdown was called on the queue (by any process).
#[no_mangle]
pub extern "C" fn plexus_queue_is_shutdown(q: plexus_queue, out: *mut bool) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = with(q, |x| x.is_shutdown())?;
        Ok(())
    })
}
