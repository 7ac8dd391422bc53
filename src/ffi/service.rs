//! `plexus_service`: request/response between processes.

use std::ffi::c_char;
use std::sync::Arc;

use super::handles::{self, Object, ServiceEntry};
use super::region::plexus_region;
use super::status::{c_str, guard, out_ref, plexus_status};
use super::value::{plexus_value, put, value_ref};
use super::{timeout, with_cancel_word};

use crate::{Deadline, Error};

/// Handle of an open service. Id 0 is never valid.
///
/// A plexus service carries requests from callers to servers and their replies back,
/// between any number of processes (and threads) of both kinds. A caller's
/// plexus_service_call places a request and waits for its reply; a server's
/// plexus_service_next takes the oldest pending request (each request goes to exactly
/// one server) and answers it with plexus_service_reply or plexus_service_reply_error.
/// `capacity` (fixed at creation) is how many requests may be in the service at once
/// (placed and not yet collected by their callers); a call waits for room.
///
/// Failures: a call returns PLEXUS_TIMEOUT when no reply came in time (its request is
/// withdrawn; a server's later reply to it is discarded, never delivered to another
/// call), PLEXUS_E_SERVICE when the server replied with an error (its message in
/// plexus_last_error()), and PLEXUS_OWNER_DEAD when the process that took the request
/// died before replying: on shared memory within about 50 ms of its death, on a remote
/// region once its lease expired (within about `lease_ms` plus 20 ms). A caller killed
/// while waiting leaves nothing behind: its request is dropped by the server's reply,
/// by the next call that needs the room, or by the sweep of the next process to open
/// the region. Request ids carry a generation (shared memory) or are never reused
/// (remote), so a stale id is refused and never reaches another request.
///
/// Crash safety (shared memory): every step of a request is one atomic change of its
/// slot, which names the process responsible for it; a process killed at any point
/// leaves a slot that the next process to look at it frees (a heap block allocated for
/// a value but not yet stored in its slot is the one thing a kill can leak, as for a
/// queue push; `plexus check` reports it).
///
/// Calls can be made from any thread; a request id may be answered from any thread of
/// the process whose region handle took it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct plexus_service {
    pub id: u64,
}

/// The id of one request taken with plexus_service_next, to answer it with. 0 is never
/// a request id.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct plexus_request {
    pub id: u64,
}

/// Runs `f` on the engine service behind handle `s`.
fn with<T>(
    s: plexus_service,
    f: impl FnOnce(&crate::backend::Service) -> Result<T, Error>,
) -> Result<T, Error> {
    handles::with(s.id, |e: &ServiceEntry| f(&e.service))
}

/// Opens the service `name` in `region`, creating it when `capacity > 0` and it is
/// missing.
///
/// `capacity > 0` (the most requests in the service at once): created if absent; if
/// present, its capacity must equal `capacity` (else PLEXUS_E_INCOMPATIBLE).
/// `capacity == 0`: opens an existing service only (PLEXUS_E_NOT_FOUND if absent).
/// `flags`: 0 or PLEXUS_EXCLUSIVE. Names are 1-96 bytes of UTF-8. The service takes 64
/// bytes per unit of capacity in the region, plus a heap block per request or response
/// longer than 8 bytes while it is in the service. Opening the same service twice
/// through one region handle returns the same handle (and counts the open: see
/// plexus_service_close).
///
/// Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_EXISTS, PLEXUS_E_INCOMPATIBLE,
/// PLEXUS_E_TYPE_MISMATCH (another kind of object has that name), PLEXUS_E_NO_SPACE,
/// PLEXUS_E_INVALID_ARGUMENT (bad name or flags, capacity above 2^32-1),
/// PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT, PLEXUS_E_UNAVAILABLE (remote). On failure
/// `*out` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_service_open(
    region: plexus_region,
    name: *const c_char,
    capacity: u64,
    flags: u32,
    out: *mut plexus_service,
) -> plexus_status {
    guard(|| {
        let name = c_str(name, "name")?;
        let slot = out_ref(out, "out")?;
        let parent = handles::region(region.id)?;
        let service = parent.region.service(name, capacity, flags)?;
        slot.id = handles::child(region.id, &parent, "service", name, || {
            Object::Service(Arc::new(ServiceEntry {
                service,
                parent: region.id,
            }))
        })?;
        Ok(())
    })
}

/// Gives back one plexus_service_open of this handle (the handle stays valid until
/// closed as many times as it was opened; closing the region closes it at once). The
/// service and its pending requests stay in the region. PLEXUS_E_BAD_HANDLE if already
/// closed.
#[no_mangle]
pub extern "C" fn plexus_service_close(s: plexus_service) -> plexus_status {
    guard(|| {
        let (name, parent) = handles::with(s.id, |e: &ServiceEntry| {
            Ok((e.service.name().to_owned(), e.parent))
        })?;
        handles::close_child(s.id, "service", &name, parent)
    })
}

/// Sends a copy of `*request` (the caller keeps ownership) and waits for its reply.
///
/// Blocks while the service is full (capacity requests in it), then until a server
/// replies, its server dies, or the timeout passes (PLEXUS_FOREVER, 0 = try once, > 0
/// nanoseconds; the one timeout covers both waits). A blocked caller sleeps; it does
/// not spin.
///
/// Returns PLEXUS_OK with the reply in `*response` (overwritten without being freed
/// first; release it with plexus_value_free); PLEXUS_E_SERVICE (the server replied with
/// plexus_service_reply_error; its message is in plexus_last_error()); PLEXUS_TIMEOUT
/// (no reply in time, or no room: the request is withdrawn, a later reply discarded);
/// PLEXUS_OWNER_DEAD (the process that took the request died before replying; the
/// request is gone: call again to retry it); PLEXUS_E_INVALID_ARGUMENT (NULL or invalid
/// value, negative timeout other than PLEXUS_FOREVER); PLEXUS_E_NO_SPACE (the region's
/// heap cannot hold the request); PLEXUS_E_REMOVED; PLEXUS_E_BAD_HANDLE;
/// PLEXUS_E_CORRUPT; PLEXUS_E_UNAVAILABLE, PLEXUS_E_REGION_LOST (remote). On any status
/// but PLEXUS_OK, `*response` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_service_call(
    s: plexus_service,
    request: *const plexus_value,
    response: *mut plexus_value,
    timeout_ns: i64,
) -> plexus_status {
    guard(|| {
        out_ref(response, "response")?;
        let t = timeout(timeout_ns)?;
        let v = value_ref(request, "request")?;
        put(response, with(s, |x| x.call(v, t))?)
    })
}

/// plexus_service_call that another thread (or a signal handler) can cancel: while it
/// waits, it reads `*cancel` every 10 ms, and once that is nonzero it withdraws the
/// request, exactly as a timeout does, and returns PLEXUS_TIMEOUT. Set `*cancel` with an
/// atomic store (C11 `atomic_store`, C++ `std::atomic<uint32_t>::store`), or from a
/// signal handler; the word must stay valid until the call returns. `cancel` NULL: the
/// same as plexus_service_call.
///
/// This is how an event loop or an interruptible program waits for a reply without
/// slicing the wait (a sliced plexus_service_call would withdraw the request at the end
/// of every slice, and a handler slower than a slice would never be heard): run it on a
/// thread of its own and set `*cancel` to give up. Returns what plexus_service_call
/// returns (a cancelled call: PLEXUS_TIMEOUT; a reply that came before the cancel was
/// seen is returned as PLEXUS_OK), and PLEXUS_E_INVALID_ARGUMENT for a `cancel` not
/// aligned to 4 bytes.
#[no_mangle]
pub extern "C" fn plexus_service_call_cancellable(
    s: plexus_service,
    request: *const plexus_value,
    response: *mut plexus_value,
    timeout_ns: i64,
    cancel: *const u32,
) -> plexus_status {
    guard(|| {
        out_ref(response, "response")?;
        let t = timeout(timeout_ns)?;
        let v = value_ref(request, "request")?;
        let got = with_cancel_word(cancel, |interrupt| {
            with(s, |x| x.call_until(v, &Deadline::after(t), interrupt))
        })??;
        put(response, got)
    })
}

/// Takes the oldest pending request: its id into `*req`, a copy of its value into
/// `*request` (overwritten without being freed first; release it with
/// plexus_value_free). Each request goes to exactly one server; answer it with
/// plexus_service_reply or plexus_service_reply_error through this handle (or another
/// handle of the same region handle). Until answered, its caller waits (and learns
/// PLEXUS_OWNER_DEAD if this process dies first).
///
/// Blocks while no request is pending, until the timeout (PLEXUS_FOREVER, 0 = try once,
/// positive = nanoseconds). An idle server sleeps on a futex (shared memory) or a blocking
/// read (remote); it does not poll.
///
/// Returns PLEXUS_OK; PLEXUS_TIMEOUT (none pending in time), PLEXUS_E_INVALID_ARGUMENT,
/// PLEXUS_E_REMOVED, PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT, PLEXUS_E_UNAVAILABLE,
/// PLEXUS_E_REGION_LOST. On any status but PLEXUS_OK, `*req` and `*request` are
/// unchanged.
#[no_mangle]
pub extern "C" fn plexus_service_next(
    s: plexus_service,
    req: *mut plexus_request,
    request: *mut plexus_value,
    timeout_ns: i64,
) -> plexus_status {
    guard(|| {
        out_ref(request, "request")?;
        let id_out = out_ref(req, "req")?;
        let t = timeout(timeout_ns)?;
        let (id, v) = with(s, |x| x.next(t))?;
        put(request, v)?;
        id_out.id = id;
        Ok(())
    })
}

/// Answers request `req` (taken with plexus_service_next through this region handle)
/// with a copy of `*response`: its caller's plexus_service_call returns PLEXUS_OK with
/// it. A reply to a request whose caller gave up (timed out) or died is discarded and
/// returns PLEXUS_OK. Does not block.
///
/// Returns PLEXUS_OK; PLEXUS_E_INVALID_ARGUMENT (NULL or invalid value; `req` was
/// already answered, was taken by another server, or is not a request id of this
/// service — the message says which); PLEXUS_E_NO_SPACE; PLEXUS_E_REMOVED;
/// PLEXUS_E_BAD_HANDLE; PLEXUS_E_CORRUPT; PLEXUS_E_UNAVAILABLE, PLEXUS_E_REGION_LOST.
#[no_mangle]
pub extern "C" fn plexus_service_reply(
    s: plexus_service,
    req: plexus_request,
    response: *const plexus_value,
) -> plexus_status {
    guard(|| {
        let v = value_ref(response, "response")?;
        with(s, |x| x.reply(req.id, v))
    })
}

/// Answers request `req` with an error: its caller's plexus_service_call returns
/// PLEXUS_E_SERVICE with `message` (UTF-8, copied; cut to 64 KiB) in
/// plexus_last_error(). Otherwise as plexus_service_reply.
#[no_mangle]
pub extern "C" fn plexus_service_reply_error(
    s: plexus_service,
    req: plexus_request,
    message: *const c_char,
) -> plexus_status {
    guard(|| {
        let m = c_str(message, "message")?;
        with(s, |x| x.reply_error(req.id, m))
    })
}

/// The capacity of the service (most requests in it at once) into `*out`. Returns
/// PLEXUS_OK, PLEXUS_E_INVALID_ARGUMENT (NULL), PLEXUS_E_BAD_HANDLE.
#[no_mangle]
pub extern "C" fn plexus_service_capacity(s: plexus_service, out: *mut u64) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = with(s, |x| Ok(x.capacity()))?;
        Ok(())
    })
}

/// How many requests are in the service right now (placed, and not yet collected by
/// their callers: pending, being handled, or answered), a snapshot, into `*out`.
/// Returns PLEXUS_OK, PLEXUS_E_INVALID_ARGUMENT (NULL), PLEXUS_E_REMOVED,
/// PLEXUS_E_BAD_HANDLE, PLEXUS_E_UNAVAILABLE.
#[no_mangle]
pub extern "C" fn plexus_service_pending(s: plexus_service, out: *mut u64) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = with(s, |x| x.pending())?;
        Ok(())
    })
}
