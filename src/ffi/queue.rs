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
use super::value::{plexus_value, read_op, to_c, value_ref, value_refs};
use super::{timeout, with_cancel_word};
use crate::{Deadline, Error};

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

/// Appends copies of `values[0..n)` in order (the caller keeps ownership of them),
/// waiting while the queue is full: one call for the whole batch, with one wake-up of
/// the consumers for all the values that fit at once. When the queue has room for only
/// part of the batch, that part goes in and the call waits for room for the rest.
///
/// In a FIFO queue the values of one batch stay together and in order: no other
/// producer's value comes between two of them (other pushes wait while a batch is
/// under way). A stack takes each part that fits in one step, the last value on top.
///
/// `*pushed` is always set, whatever the status: to how many values went in, which are
/// always the first `*pushed` of the batch (0 when an argument was refused).
///
/// Returns PLEXUS_OK once all `n` are in the queue (`n == 0` does nothing and returns
/// PLEXUS_OK); PLEXUS_TIMEOUT (full until the timeout: the first `*pushed` went in, the
/// rest did not), PLEXUS_CLOSED (the queue is shut down: likewise), PLEXUS_E_NO_SPACE
/// (the region's heap cannot hold the next value: likewise; a value larger than the
/// whole heap is refused before anything is stored), PLEXUS_E_INVALID_ARGUMENT (NULL
/// `values` with `n > 0`, NULL `pushed`, an invalid value anywhere in the batch, a
/// negative timeout other than PLEXUS_FOREVER: nothing was stored), PLEXUS_E_BAD_HANDLE,
/// PLEXUS_E_CORRUPT; on a remote region PLEXUS_E_UNAVAILABLE (the values after
/// `*pushed` may or may not have gone in: retrying the same call with
/// `values + *pushed` from the same thread is answered without pushing them twice).
///
/// Crash safety: every value of a batch is delivered exactly once, or — if its producer
/// died before its place in the queue was published — not at all.
#[no_mangle]
pub extern "C" fn plexus_queue_push_many(
    q: plexus_queue,
    values: *const plexus_value,
    n: usize,
    timeout_ns: i64,
    pushed: *mut usize,
) -> plexus_status {
    plexus_queue_push_many_cancellable(q, values, n, timeout_ns, pushed, std::ptr::null())
}

/// plexus_queue_push_many that another thread (or a signal handler) can cancel: while
/// it waits for room, it reads `*cancel` every 10 ms, and once that is nonzero it stops
/// as a timeout does and returns PLEXUS_TIMEOUT, with `*pushed` saying how many values
/// went in (the first `*pushed`; the rest did not). Set `*cancel` with an atomic store
/// (C11 `atomic_store`, C++ `std::atomic<uint32_t>::store`), or from a signal handler;
/// the word must stay valid until the call returns. `cancel` NULL: the same as
/// plexus_queue_push_many.
///
/// This is how an event loop or an interruptible program pushes a batch without
/// slicing the wait: a FIFO batch keeps its place while it waits for room (no other
/// producer's value comes between two of its values), but a batch pushed again in
/// slices would let other producers' values in between its slices. Run it on a thread
/// of its own and set `*cancel` to give up. A call that does not need to wait (all the
/// values fit, or `timeout_ns` is 0) does not look at `*cancel`.
///
/// Returns what plexus_queue_push_many returns (a cancelled call: PLEXUS_TIMEOUT; a
/// batch that was all in before the cancel was seen: PLEXUS_OK), and
/// PLEXUS_E_INVALID_ARGUMENT for a `cancel` not aligned to 4 bytes (nothing stored,
/// `*pushed` 0). Both backends.
#[no_mangle]
pub extern "C" fn plexus_queue_push_many_cancellable(
    q: plexus_queue,
    values: *const plexus_value,
    n: usize,
    timeout_ns: i64,
    pushed: *mut usize,
    cancel: *const u32,
) -> plexus_status {
    if let Some(p) = unsafe_out(pushed) {
        *p = 0;
    }
    guard(|| {
        let count = out_ref(pushed, "pushed")?;
        let t = timeout(timeout_ns)?;
        let values = value_refs(values, n, "values")?;
        let (done, result) = with_cancel_word(cancel, |interrupt| {
            with(q, |x| {
                Ok(x.push_many_until(&values, &Deadline::after(t), interrupt))
            })
        })??;
        *count = done;
        result
    })
}

/// Removes up to `max` values into `out[0..*popped)`: waits while the queue is empty
/// (as plexus_queue_pop does), then takes the values that are there, up to `max`,
/// without waiting for more: the oldest first (a LIFO queue: the newest first). One
/// call for the whole batch, with one wake-up of blocked producers.
///
/// `out` must have room for `max` values; `out[0..*popped)` are overwritten without
/// being freed first and may own memory: release each with plexus_value_free. The rest
/// of `out` is not touched. `*popped` is always set, whatever the status (0 unless
/// PLEXUS_OK).
///
/// Returns PLEXUS_OK with `*popped >= 1`; PLEXUS_TIMEOUT (empty until the timeout),
/// PLEXUS_CLOSED (shut down and empty), PLEXUS_E_INVALID_ARGUMENT (`max == 0`, NULL
/// `out` or `popped`, a negative timeout other than PLEXUS_FOREVER), PLEXUS_E_BAD_HANDLE,
/// PLEXUS_E_CORRUPT; on any status but PLEXUS_OK nothing was removed. A value taken by
/// a consumer that dies before the call returns is lost with it, as with
/// plexus_queue_pop; the values it had not taken stay in the queue.
#[no_mangle]
pub extern "C" fn plexus_queue_pop_many(
    q: plexus_queue,
    out: *mut plexus_value,
    max: usize,
    timeout_ns: i64,
    popped: *mut usize,
) -> plexus_status {
    if let Some(p) = unsafe_out(popped) {
        *p = 0;
    }
    guard(|| {
        let count = out_ref(popped, "popped")?;
        let t = timeout(timeout_ns)?;
        if out.is_null() {
            return Err(Error::invalid("out is NULL"));
        }
        if max == 0 {
            return Err(Error::invalid(
                "max is 0 (a batch takes at least one value)",
            ));
        }
        if max > isize::MAX as usize / std::mem::size_of::<plexus_value>() {
            return Err(Error::invalid(format!(
                "max {max} is larger than any array"
            )));
        }
        let got = with(q, |x| x.pop_many(max, t))?;
        debug_assert!(!got.is_empty() && got.len() <= max);
        for (i, v) in got.into_iter().take(max).enumerate() {
            // SAFETY: `out` is non-NULL with room for `max` values by contract, and
            // `i < max`; the old contents are overwritten, not read or dropped.
            unsafe { out.add(i).write(to_c(v)) };
            *count = i + 1;
        }
        Ok(())
    })
}

fn unsafe_out<'a>(p: *mut usize) -> Option<&'a mut usize> {
    // SAFETY: a non-NULL pointer from C points to a writable size_t by contract.
    unsafe { p.as_mut() }
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
