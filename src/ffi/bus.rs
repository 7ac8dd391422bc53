//! `plexus_bus` and `plexus_sub`: broadcast of values to every subscriber.
//!
//! Any number of processes publish to a bus and any number subscribe; every subscriber
//! receives every message, in one order that is the same for all subscribers (the order
//! in which the publishes took place), each with its sequence number (1, 2, 3, ... per
//! bus). plexus_bus_publish never waits for subscribers: the bus retains the last
//! `capacity` messages, and a subscriber that falls further behind skips to the oldest
//! message still retained — the jump in the sequence numbers tells it how many it missed.
//! Subscribing registers nothing in the region (a subscription is a private cursor), so
//! subscribers that come and go or die cost nothing.
//!
//! Messages of every type; strings, bytes and objects up to 104 bytes are stored inside
//! the bus's slots, longer ones in the region's heap. A publisher killed in the middle of
//! a publish never delivers a torn message and never blocks the others: the next
//! publisher takes over (plexus_recovered_locks counts it).

use std::ffi::c_char;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::handles::{self, BusEntry, Object, SubEntry, SubState};
use super::region::plexus_region;
use super::status::{c_str, guard, out_ref, plexus_status};
use super::timeout;
use super::value::{plexus_value, put, value_ref, value_refs};
use crate::backend::Start;
use crate::Error;

/// Handle of an open bus. Id 0 is never valid.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct plexus_bus {
    pub id: u64,
}

/// Handle of a subscription to a bus. Id 0 is never valid.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct plexus_sub {
    pub id: u64,
}

/// plexus_bus_subscribe: start with the next message published.
pub const PLEXUS_FROM_NOW: u32 = 0;
/// plexus_bus_subscribe: start with the oldest message the bus still retains.
pub const PLEXUS_FROM_OLDEST: u32 = 1;

fn with<T>(
    b: plexus_bus,
    f: impl FnOnce(&crate::backend::Bus) -> Result<T, Error>,
) -> Result<T, Error> {
    handles::with(b.id, |e: &BusEntry| f(&e.bus))
}

/// Opens the bus `name` in `region`, creating it when `capacity > 0` and it is missing.
///
/// `capacity` is the number of messages the bus retains for subscribers that are behind
/// (fixed at creation; each takes 128 bytes of the region). `capacity > 0`: created if
/// absent; if present its capacity must equal `capacity` (else PLEXUS_E_INCOMPATIBLE).
/// `capacity == 0`: opens an existing bus only (PLEXUS_E_NOT_FOUND if absent). `flags`:
/// PLEXUS_EXCLUSIVE. Names are 1-96 bytes of UTF-8. Opening the same bus twice through
/// one region handle returns the same handle (and counts the open: see
/// plexus_bus_close).
///
/// Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_EXISTS, PLEXUS_E_INCOMPATIBLE,
/// PLEXUS_E_TYPE_MISMATCH (another kind of object has that name), PLEXUS_E_NO_SPACE,
/// PLEXUS_E_INVALID_ARGUMENT, PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT. On failure `*out`
/// is unchanged.
#[no_mangle]
pub extern "C" fn plexus_bus_open(
    region: plexus_region,
    name: *const c_char,
    capacity: u64,
    flags: u32,
    out: *mut plexus_bus,
) -> plexus_status {
    guard(|| {
        let name = c_str(name, "name")?;
        let slot = out_ref(out, "out")?;
        let parent = handles::region(region.id)?;
        let bus = parent.region.bus(name, capacity, flags)?;
        slot.id = handles::child(region.id, &parent, "bus", name, || {
            Object::Bus(Arc::new(BusEntry {
                bus,
                parent: region.id,
            }))
        })?;
        Ok(())
    })
}

/// Gives back one `plexus_bus_open` of this handle (the handle stays valid until closed
/// as many times as it was opened; closing the region closes it at once).
/// Subscriptions stay valid. The bus itself is untouched: ending it for every process
/// is plexus_bus_shutdown. PLEXUS_E_BAD_HANDLE if already closed.
#[no_mangle]
pub extern "C" fn plexus_bus_close(b: plexus_bus) -> plexus_status {
    guard(|| {
        let e = handles::bus(b.id)?;
        handles::close_child(b.id, "bus", e.bus.name(), e.parent)
    })
}

/// Publishes a copy of `*v` to every subscriber (the caller keeps ownership of `*v`).
/// Never waits for subscribers; waits only, briefly, while another process publishes.
/// `*seq`, if `seq` is not NULL, receives the message's sequence number.
///
/// Returns PLEXUS_OK; PLEXUS_CLOSED (the bus is shut down; nothing was published),
/// PLEXUS_E_INVALID_ARGUMENT (NULL or invalid value), PLEXUS_E_NO_SPACE (the region's
/// heap cannot hold the value), PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT.
#[no_mangle]
pub extern "C" fn plexus_bus_publish(
    b: plexus_bus,
    v: *const plexus_value,
    seq: *mut u64,
) -> plexus_status {
    guard(|| {
        let v = value_ref(v, "v")?;
        let n = with(b, |x| x.publish(v))?;
        if !seq.is_null() {
            *out_ref(seq, "seq")? = n;
        }
        Ok(())
    })
}

/// Publishes copies of `values[0..n)` to every subscriber, in order, as `n` consecutive
/// messages: the batch takes `n` sequence numbers at once, so no other publisher's
/// message (from any thread or process) comes between two of its messages, and
/// subscribers receive them in that order. One call and one wake-up of sleeping
/// subscribers for the whole batch (a subscriber can receive the first messages before
/// the call returns). The caller keeps ownership of `values`. Like plexus_bus_publish it
/// never waits for subscribers; it waits only, briefly, while another process publishes.
/// `*first_seq`, if `first_seq` is not NULL, receives the first message's sequence
/// number (message `k` has `*first_seq + k`).
///
/// All or nothing on bad input: every value is checked, and copied into the region's
/// heap when it needs to be, before anything is published; an invalid value anywhere (or
/// a heap too full for the batch) publishes nothing. `n == 0` publishes nothing and
/// returns PLEXUS_OK with `*first_seq` = 0 (no message has sequence number 0); `values`
/// may then be NULL. A batch larger than the bus's capacity is allowed: as always, each
/// message overwrites the oldest one retained, so only the last `capacity` messages of
/// the batch stay, and a subscriber that is behind sees the gap in the sequence numbers
/// (shared memory and Redis alike).
///
/// A publisher killed in the middle of a batch (shared memory) never blocks the others
/// and never delivers a torn message: subscribers receive the messages it had published,
/// which are the batch's first ones in order (possibly none, possibly all), and after
/// them the next publisher's messages, which take the sequence numbers the dead batch did
/// not use. On Redis a batch is one script call, published entirely or not at all.
///
/// Returns PLEXUS_OK; PLEXUS_CLOSED (the bus is shut down; nothing was published),
/// PLEXUS_E_INVALID_ARGUMENT (NULL `values` with `n > 0`, or an invalid value: the
/// message names its index), PLEXUS_E_NO_SPACE (the region's heap cannot hold the
/// batch), PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT, and on Redis PLEXUS_E_UNAVAILABLE
/// (see docs/remote.md). On failure `*first_seq` is unchanged. Both backends.
#[no_mangle]
pub extern "C" fn plexus_bus_publish_many(
    b: plexus_bus,
    values: *const plexus_value,
    n: usize,
    first_seq: *mut u64,
) -> plexus_status {
    guard(|| {
        let values = value_refs(values, n, "values")?;
        let first = with(b, |x| x.publish_many(&values))?;
        if !first_seq.is_null() {
            *out_ref(first_seq, "first_seq")? = first;
        }
        Ok(())
    })
}

/// Ends the bus for every process: publishing fails with PLEXUS_CLOSED from now on,
/// and each subscriber receives the messages published before, then PLEXUS_CLOSED
/// (waiting subscribers wake up). Shutting down a bus that is already shut down is
/// PLEXUS_OK; a bus stays shut down. The handle stays valid (give it back with
/// plexus_bus_close).
///
/// To start a bus that was shut down again, remove it (plexus_region_remove_object) and
/// open it again with its capacity: every handle on the old bus, in every process, then
/// returns PLEXUS_E_REMOVED (its subscriptions too), so each process learns that it must
/// open the bus again (and subscribe again).
#[no_mangle]
pub extern "C" fn plexus_bus_shutdown(b: plexus_bus) -> plexus_status {
    guard(|| with(b, |x| x.shutdown()))
}

/// `*out` = whether plexus_bus_shutdown was called on the bus (by any process).
#[no_mangle]
pub extern "C" fn plexus_bus_is_shutdown(b: plexus_bus, out: *mut bool) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = with(b, |x| x.is_shutdown())?;
        Ok(())
    })
}

/// `*out` = the number of messages the bus retains, fixed at creation.
#[no_mangle]
pub extern "C" fn plexus_bus_capacity(b: plexus_bus, out: *mut u64) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = with(b, |x| Ok(x.capacity()))?;
        Ok(())
    })
}

/// `*out` = the sequence number the next published message will get (the last one's
/// plus one; 1 on a new bus). A snapshot.
#[no_mangle]
pub extern "C" fn plexus_bus_next_seq(b: plexus_bus, out: *mut u64) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = with(b, |x| x.next_seq())?;
        Ok(())
    })
}

/// Makes each subscription's key among its region handle's children unique.
static SUB_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Starts a subscription to `b`: `from` is PLEXUS_FROM_NOW (the next message published)
/// or PLEXUS_FROM_OLDEST (the oldest message the bus retains). A subscription is a
/// private cursor of this process: it registers nothing in the region and never slows
/// publishers. It belongs to the region handle `b` was opened through (closing that
/// closes it); release it with plexus_sub_close.
///
/// Returns PLEXUS_OK; PLEXUS_E_INVALID_ARGUMENT (other `from`, NULL `out`),
/// PLEXUS_E_BAD_HANDLE. On failure `*out` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_bus_subscribe(
    b: plexus_bus,
    from: u32,
    out: *mut plexus_sub,
) -> plexus_status {
    guard(|| subscribe(b, from, "", out))
}

fn subscribe(b: plexus_bus, from: u32, prefix: &str, out: *mut plexus_sub) -> Result<(), Error> {
    {
        let slot = out_ref(out, "out")?;
        let start = match from {
            PLEXUS_FROM_NOW => Start::Now,
            PLEXUS_FROM_OLDEST => Start::Oldest,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "from = {other}: use PLEXUS_FROM_NOW or PLEXUS_FROM_OLDEST"
                )))
            }
        };
        let entry = handles::bus(b.id)?;
        let sub = entry.bus.subscribe_topic(start, prefix)?;
        let parent = handles::region(entry.parent)
            .map_err(|_| Error::BadHandle(format!("bus handle {:#x} is closed", b.id)))?;
        let key = format!(
            "{}#{}",
            entry.bus.name(),
            SUB_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        slot.id = handles::child(entry.parent, &parent, "subscription", &key, || {
            Object::Sub(Arc::new(SubEntry {
                sub: Mutex::new(SubState { sub, held: None }),
                parent: entry.parent,
                key: key.clone(),
            }))
        })?;
        Ok(())
    }
}

/// Receives the subscription's next message into `*out` (and its sequence number into
/// `*seq`, if `seq` is not NULL), waiting while there is none. Messages come in
/// publication order; a sequence number more than one above the previous one means this
/// subscriber fell more than the bus's capacity behind and the messages in between were
/// overwritten. `*out` is overwritten without being freed first and may own memory:
/// release it with plexus_value_free. Calls on one subscription from several threads
/// take turns.
///
/// Returns PLEXUS_OK; PLEXUS_TIMEOUT (no message before the timeout: the PLEXUS_FOREVER /
/// 0 / positive convention), PLEXUS_CLOSED (the bus was shut down and every message
/// published before was received), PLEXUS_E_INVALID_ARGUMENT, PLEXUS_E_BAD_HANDLE,
/// PLEXUS_E_CORRUPT. On any status but PLEXUS_OK, `*out` and `*seq` are unchanged.
#[no_mangle]
pub extern "C" fn plexus_sub_next(
    s: plexus_sub,
    out: *mut plexus_value,
    seq: *mut u64,
    timeout_ns: i64,
) -> plexus_status {
    guard(|| {
        out_ref(out, "out")?;
        let t = timeout(timeout_ns)?;
        let (v, n) = handles::with(s.id, |e: &SubEntry| {
            let mut st = e.sub.lock();
            match st.held.take() {
                Some((_, v, n)) => Ok((v, n)),
                None => st.sub.next(t),
            }
        })?;
        if !seq.is_null() {
            *out_ref(seq, "seq")? = n;
        }
        put(out, v)
    })
}

// ---- events: messages with topics ----

/// The longest topic (and topic prefix), in bytes of UTF-8 (without the NUL). A buffer
/// of `PLEXUS_MAX_TOPIC_LEN + 1` bytes holds every topic plexus_sub_next_event returns.
pub const PLEXUS_MAX_TOPIC_LEN: u32 = 112;
const _: () = assert!(PLEXUS_MAX_TOPIC_LEN as usize == crate::semantics::topics::MAX_TOPIC_LEN);

/// Publishes a copy of `*v` with the topic `topic` (a named event, as MemSync's
/// `events.emit(name, data)`): every subscriber receives it, and a subscription made
/// with plexus_bus_subscribe_topic receives it when the topic starts with its prefix.
/// Topics are NUL-terminated UTF-8 of at most PLEXUS_MAX_TOPIC_LEN bytes; the empty
/// topic `""` makes this a plain plexus_bus_publish. Messages with and without topics
/// share the bus's one order and its sequence numbers. Never waits for subscribers;
/// waits only, briefly, while another process publishes. `*seq`, if `seq` is not NULL,
/// receives the message's sequence number. On shared memory, a subscriber filtering by
/// another prefix is not woken by this call.
///
/// Returns PLEXUS_OK; PLEXUS_CLOSED (the bus is shut down; nothing was published),
/// PLEXUS_E_INVALID_ARGUMENT (NULL `topic` or `v`, a topic that is not UTF-8 or longer
/// than PLEXUS_MAX_TOPIC_LEN, an invalid value), PLEXUS_E_UNSUPPORTED (a non-empty topic
/// on a shared-memory bus created by a version of plexus without topics: remove the bus
/// and open it again), PLEXUS_E_NO_SPACE, PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT, and on a
/// remote region PLEXUS_E_UNAVAILABLE / PLEXUS_E_REGION_LOST.
#[no_mangle]
pub extern "C" fn plexus_bus_emit(
    b: plexus_bus,
    topic: *const c_char,
    v: *const plexus_value,
    seq: *mut u64,
) -> plexus_status {
    guard(|| {
        let topic = c_str(topic, "topic")?;
        let v = value_ref(v, "v")?;
        let n = with(b, |x| x.emit(topic, v))?;
        if !seq.is_null() {
            *out_ref(seq, "seq")? = n;
        }
        Ok(())
    })
}

/// plexus_bus_subscribe receiving only the messages whose topic starts with `prefix`
/// (byte-wise; NUL-terminated UTF-8 of at most PLEXUS_MAX_TOPIC_LEN bytes). The empty
/// prefix `""` receives every message, plain ones included (plexus_bus_subscribe);
/// a non-empty prefix never matches a plain message. Messages come in the bus's one
/// order; the sequence numbers skip the messages of other topics, and the messages
/// overwritten while the subscriber was behind (see plexus_sub_next). Read them with
/// plexus_sub_next or, with their topics, plexus_sub_next_event.
///
/// Wake-ups: on shared memory, a filtered subscription takes one of 64 rows of the
/// bus's table of filtered subscribers, and a waiting plexus_sub_next is woken only by
/// messages whose topic matches (and by shutdown and removal); when every row is taken
/// by a live subscriber, it is woken by every message, like an unfiltered one, and still
/// returns only its own. The row is given back by plexus_sub_close, or, when the process
/// dies, taken back by the next subscriber. On a remote region the filtering happens in
/// this library: the call returns only for matching messages, but the library's
/// connection receives every message.
///
/// Returns PLEXUS_OK; PLEXUS_E_INVALID_ARGUMENT (other `from`, NULL `prefix` or `out`,
/// a prefix that is not UTF-8 or too long), PLEXUS_E_UNSUPPORTED (a non-empty prefix on
/// a shared-memory bus created by a version of plexus without topics), PLEXUS_E_BAD_HANDLE.
/// On failure `*out` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_bus_subscribe_topic(
    b: plexus_bus,
    from: u32,
    prefix: *const c_char,
    out: *mut plexus_sub,
) -> plexus_status {
    guard(|| {
        let prefix = c_str(prefix, "prefix")?;
        subscribe(b, from, prefix, out)
    })
}

/// plexus_sub_next that also gives the message's topic: copied into `topic` (capacity
/// `cap` bytes, NUL-terminated; `""` for a plain message), with its length in bytes
/// (without the NUL) in `*topic_len` if `topic_len` is not NULL. Waits as plexus_sub_next.
///
/// When `cap` is smaller than the topic's length plus one, returns
/// PLEXUS_E_BUFFER_TOO_SMALL with `*topic_len` set and nothing else written; the message
/// is kept, and the next call on this subscription (plexus_sub_next too) returns it
/// first. `topic = NULL, cap = 0` asks for the length. A buffer of
/// `PLEXUS_MAX_TOPIC_LEN + 1` bytes is always large enough.
///
/// Returns PLEXUS_OK; PLEXUS_TIMEOUT, PLEXUS_CLOSED, PLEXUS_E_BUFFER_TOO_SMALL,
/// PLEXUS_E_INVALID_ARGUMENT (NULL `out`, NULL `topic` with `cap > 0`),
/// PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT. On any status but PLEXUS_OK, `*out`, `*seq`
/// and the buffer are unchanged. `*out` may own memory: release it with
/// plexus_value_free.
#[no_mangle]
pub extern "C" fn plexus_sub_next_event(
    s: plexus_sub,
    topic: *mut c_char,
    cap: usize,
    topic_len: *mut usize,
    out: *mut plexus_value,
    seq: *mut u64,
    timeout_ns: i64,
) -> plexus_status {
    guard(|| {
        out_ref(out, "out")?;
        if topic.is_null() && cap > 0 {
            return Err(Error::invalid("topic is NULL but cap is not 0"));
        }
        let t = timeout(timeout_ns)?;
        let (name, v, n) = handles::with(s.id, |e: &SubEntry| {
            let mut st = e.sub.lock();
            let event = match st.held.take() {
                Some(ev) => ev,
                None => st.sub.next_event(t)?,
            };
            if !topic_len.is_null() {
                // SAFETY: checked non-NULL; the caller passes a writable size_t.
                unsafe { *topic_len = event.0.len() };
            }
            if cap < event.0.len() + 1 {
                let needed = event.0.len() + 1;
                st.held = Some(event);
                return Err(Error::BufferTooSmall { needed });
            }
            Ok(event)
        })?;
        // SAFETY: `topic` is non-NULL (cap > 0 here) and the caller says it has `cap`
        // bytes; name.len() + 1 <= cap was checked.
        unsafe {
            std::ptr::copy_nonoverlapping(name.as_ptr(), topic as *mut u8, name.len());
            *topic.add(name.len()) = 0;
        }
        if !seq.is_null() {
            *out_ref(seq, "seq")? = n;
        }
        put(out, v)
    })
}

/// Ends a subscription (its handle becomes invalid). PLEXUS_E_BAD_HANDLE if already
/// closed.
#[no_mangle]
pub extern "C" fn plexus_sub_close(s: plexus_sub) -> plexus_status {
    guard(|| {
        let e = handles::sub(s.id)?;
        handles::close_child(s.id, "subscription", &e.key, e.parent)
    })
}
