//! Buses: broadcast of messages to every subscriber, in one order, without waiting for
//! anyone.
//!
//! A bus is a ring of `capacity` message slots. Publishers serialize on one robust lock
//! (so all subscribers see one total order), write the message into slot
//! `seq % capacity` seqlock-style — mark the slot BUSY, store the value, store the new
//! sequence number (the commit) — then advance `next_seq`, unlock, and wake sleeping
//! subscribers. Publishing never waits for subscribers: the oldest message is simply
//! overwritten.
//!
//! A subscription is a private cursor (the next sequence number it wants), not shared
//! state: any number of processes subscribe without registering. To receive message `n`
//! a subscriber copies slot `n % capacity` while its `seq` is `n`, then checks `seq`
//! again; a slot already holding a later message means the subscriber fell behind, and it
//! skips to the oldest message still retained (the caller sees the gap in the sequence
//! numbers). Messages of up to [`BUS_INLINE_MAX`] bytes are stored in the slot itself;
//! longer ones in a heap block freed when the slot is overwritten (a subscriber still
//! copying it notices by the seqlock check).
//!
//! Crash safety: a publisher that dies holding the lock is replaced by the next one,
//! which repairs `next_seq` if the dead one had committed its message but not advanced
//! it; a slot the dead publisher left BUSY holds no message (subscribers skip it as
//! overwritten or wait past it). No subscriber ever receives a torn message.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::names::check_object_name;
use crate::semantics::open::KindWords;
pub use crate::semantics::options::Start;
use crate::semantics::value::{Type, Value, ValueRef};
use crate::shm::format::layout::*;
use crate::shm::format::region::{Held, KindSpec, Region, RegionInner};
use crate::shm::format::scan::Scan;
use crate::shm::kinds::array::FLAG_EXCLUSIVE;
use crate::shm::kinds::element::{
    copy_blob, decode_value, discard_value, meta_in_heap, prepare_value,
};
use crate::shm::kinds::{KindOps, Placed, Swept};
use crate::shm::os::mem::Shared;
use crate::shm::wait::{self, Acquired, Deadline};
use std::mem::size_of;

// ---- layout (in the region file) ----

/// The bus-wide part of a bus body, right after its [`ObjectHeader`]: three cache lines
/// (read-mostly words; words publishers write on every message; subscribers' sleeper
/// count). The body then holds `capacity` [`BusSlot`]s.
///
/// * `closed`: 0, or 1 once `close` was called (set under `lock`; never reset).
/// * `capacity`: repeats the object's shape (checked at open).
/// * `lock`: robust lock serializing publishers (the message order is the lock order).
/// * `notify`: futex word bumped after every publish and on close.
/// * `next_seq`: sequence number the next message gets (messages are numbered from 1);
///   stored after the message's slot is committed, and repaired by the next publisher
///   if a publisher died between the two.
/// * `sleepers`: subscribers sleeping on `notify`.
#[repr(C, align(64))]
pub struct BusHeader {
    pub closed: AtomicU32,
    pub _pad0: AtomicU32,
    pub capacity: AtomicU64,
    pub _reserved: [AtomicU64; 6],
    pub lock: AtomicU32,
    pub notify: AtomicU32,
    pub next_seq: AtomicU64,
    pub _pad1: [AtomicU64; 6],
    pub sleepers: AtomicU32,
    pub _pad2: AtomicU32,
    pub _pad3: [AtomicU64; 7],
}
const _: () = assert!(size_of::<BusHeader>() == 192);

/// Bytes of a message stored inside its [`BusSlot`] (longer ones go to the heap).
pub const BUS_INLINE_MAX: usize = 104;

/// One message slot of a bus: two cache lines.
///
/// * `seq`: the sequence number of the message held (0 = none yet), with [`BUS_BUSY`]
///   set while a publisher rewrites the slot: a seqlock, so a subscriber copies the
///   message and keeps it only if `seq` is unchanged afterwards.
/// * `meta`, `payload`: the value as in a [`ValueSlot`]; with [`META_SLOT_BYTES`] in
///   `meta`, the bytes are in `inline`.
/// * `inline`: up to [`BUS_INLINE_MAX`] bytes of a string, bytes or object value.
#[repr(C, align(64))]
pub struct BusSlot {
    pub seq: AtomicU64,
    pub meta: AtomicU64,
    pub payload: AtomicU64,
    pub inline: [AtomicU64; 13],
}
const _: () = assert!(size_of::<BusSlot>() == 128);
/// In [`BusSlot::seq`]: a publisher is rewriting the slot.
pub const BUS_BUSY: u64 = 1 << 63;

// SAFETY: #[repr(C)], made only of atomics, valid for every bit pattern.
unsafe impl Shared for BusHeader {}
// SAFETY: as above.
unsafe impl Shared for BusSlot {}

const OBJ_HEADER: u64 = std::mem::size_of::<ObjectHeader>() as u64;
const B_HEADER: u64 = std::mem::size_of::<BusHeader>() as u64;
const SLOT: u64 = std::mem::size_of::<BusSlot>() as u64;

/// The length bits of `meta` for a value stored in the slot's `inline` words.
const SLOT_LEN_MASK: u64 = META_LEN_MASK & !META_SLOT_BYTES;

pub(crate) fn body_size(capacity: u64) -> Option<u64> {
    capacity
        .checked_mul(SLOT)?
        .checked_add(OBJ_HEADER + B_HEADER)
}

/// Sequence numbers count every message since creation, so they never come near
/// [`BUS_BUSY`] (a billion messages a second for 290 years); a larger one was damaged,
/// and counting on from it would overflow or collide with the BUSY bit.
fn checked_seq(seq: u64) -> Result<u64> {
    if seq >= BUS_BUSY - 1 {
        return Err(Error::corrupt(format!(
            "bus sequence number {seq} is beyond any reachable count"
        )));
    }
    Ok(seq)
}

/// A broadcast bus of values.
#[derive(Clone)]
pub struct Bus {
    held: Held,
    /// Absolute offset of the [`BusHeader`].
    base: u64,
    capacity: u64,
    name: String,
}

/// One subscriber's position on a bus.
pub struct Subscription {
    bus: Bus,
    next: u64,
}

/// A message as published: the value prepared for a slot.
struct Message {
    meta: u64,
    payload: u64,
    inline: [u64; 13],
    blob: Option<crate::shm::kinds::element::Prepared>,
}

pub(crate) const BUS_KIND: KindSpec = KindSpec {
    words: KindWords {
        code: KIND_BUS,
        name: "bus",
        article: "a",
        shape: "capacity",
        items: "messages",
    },
    size_of: body_size,
};

impl Region {
    /// Opens the bus `name`; `capacity > 0` (messages retained) creates it if missing (an
    /// existing one must have that capacity), `capacity == 0` opens an existing one only.
    /// Flags: [`FLAG_EXCLUSIVE`].
    pub fn bus(&self, name: &str, capacity: u64, flags: u32) -> Result<Bus> {
        let r = &self.inner;
        r.check_usable()?;
        check_object_name(name)?;
        if flags & !FLAG_EXCLUSIVE != 0 {
            return Err(Error::invalid(format!("unknown bus flags {flags:#x}")));
        }
        let (obj, held) = self.open_held(
            name,
            &BUS_KIND,
            capacity,
            flags & FLAG_EXCLUSIVE != 0,
            0,
            |off| {
                let h: &BusHeader = r.map.get(off + OBJ_HEADER)?;
                h.capacity.store(capacity, Ordering::Relaxed);
                h.next_seq.store(1, Ordering::Relaxed);
                Ok(())
            },
        )?;
        let h: &BusHeader = r.map.get(obj.offset + OBJ_HEADER)?;
        if h.capacity.load(Ordering::Relaxed) != obj.shape
            || obj.shape == 0
            || h.next_seq.load(Ordering::Relaxed) == 0
        {
            return Err(Error::corrupt(format!("bus '{name}' has a damaged header")));
        }
        Ok(Bus {
            held,
            base: obj.offset + OBJ_HEADER,
            capacity: obj.shape,
            name: name.to_owned(),
        })
    }
}

impl Bus {
    /// Number of messages retained.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn region(&self) -> &Region {
        self.held.region()
    }

    fn r(&self) -> &Held {
        &self.held
    }

    fn header(&self) -> Result<&BusHeader> {
        self.r().map.get(self.base)
    }

    fn slot(&self, seq: u64) -> Result<&BusSlot> {
        self.r()
            .map
            .get(self.base + B_HEADER + (seq % self.capacity) * SLOT)
    }

    /// The sequence number the next message will get (one more than the last published).
    pub fn next_seq(&self) -> Result<u64> {
        self.r().check_usable()?;
        Ok(self.header()?.next_seq.load(Ordering::Acquire))
    }

    /// True once [`Bus::close`] was called (by any process).
    pub fn is_shutdown(&self) -> Result<bool> {
        self.r().check_usable()?;
        Ok(self.header()?.closed.load(Ordering::Acquire) != 0)
    }

    fn prepare(&self, v: ValueRef<'_>) -> Result<Message> {
        let mut m = Message {
            meta: 0,
            payload: 0,
            inline: [0; 13],
            blob: None,
        };
        if let Some(bytes) = v
            .bytes()
            .filter(|b| (9..=BUS_INLINE_MAX).contains(&b.len()))
        {
            v.validate()?;
            let mut buf = [0u8; BUS_INLINE_MAX];
            buf[..bytes.len()].copy_from_slice(bytes);
            for (w, chunk) in m.inline.iter_mut().zip(buf.chunks_exact(8)) {
                *w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            }
            m.meta = (v.type_of() as u64) << 56 | META_SLOT_BYTES | bytes.len() as u64;
            return Ok(m);
        }
        let p = prepare_value(self.r(), v)?;
        m.meta = p.meta;
        m.payload = p.payload;
        if p.blob.is_some() {
            m.blob = Some(p);
        }
        Ok(m)
    }

    /// Publishes `v` to every subscriber; returns its sequence number. Never waits for
    /// subscribers (only, briefly, for another publisher). `Closed` once closed.
    pub fn publish(&self, v: ValueRef<'_>) -> Result<u64> {
        let r = self.r();
        r.check_usable()?;
        let h = self.header()?;
        if h.closed.load(Ordering::Relaxed) != 0 {
            return Err(Error::Closed);
        }
        let mut msg = self.prepare(v)?;
        let procs = r.procs();
        if wait::lock_internal(&h.lock, r.token, &Deadline::forever(), &procs)?
            == Acquired::Recovered
        {
            if let Err(e) = self.repair(h) {
                wait::unlock(&h.lock); // a damaged bus: report it, never keep the lock
                return Err(e);
            }
        }
        let result = (|| {
            if h.closed.load(Ordering::Relaxed) != 0 {
                return Err(Error::Closed);
            }
            let seq = checked_seq(h.next_seq.load(Ordering::Relaxed))?;
            let slot = self.slot(seq)?;
            let old = slot.seq.load(Ordering::Relaxed);
            let old_meta = slot.meta.load(Ordering::Relaxed);
            // A message stored inside the slot has no heap block to free.
            let old_blob = (old != 0
                && old & BUS_BUSY == 0
                && old_meta & META_SLOT_BYTES == 0
                && meta_in_heap(old_meta))
            .then(|| slot.payload.load(Ordering::Relaxed));
            slot.seq.store(seq | BUS_BUSY, Ordering::Relaxed);
            // Subscribers that see any of the stores below also see BUSY (or a later seq).
            fence(Ordering::Release);
            slot.meta.store(msg.meta, Ordering::Relaxed);
            slot.payload.store(msg.payload, Ordering::Relaxed);
            crate::test_hooks::pause_point();
            if msg.meta & META_SLOT_BYTES != 0 {
                let words = ((msg.meta & SLOT_LEN_MASK) as usize).div_ceil(8);
                for (w, &x) in slot.inline.iter().zip(&msg.inline).take(words) {
                    w.store(x, Ordering::Relaxed);
                }
            }
            slot.seq.store(seq, Ordering::Release); // the commit point
            h.next_seq.store(seq + 1, Ordering::Release);
            Ok((seq, old_blob))
        })();
        wait::unlock(&h.lock);
        match result {
            Ok((seq, old_blob)) => {
                // The message's heap block (if any) now belongs to the slot.
                if let Some(off) = old_blob {
                    let _ = r.with_heap(|hp| hp.free(off));
                }
                h.notify.fetch_add(1, Ordering::SeqCst);
                wait::wake_all(&h.notify, &h.sleepers, u32::MAX);
                Ok(seq)
            }
            Err(e) => {
                if let Some(p) = msg.blob.take() {
                    discard_value(r, p);
                }
                Err(e)
            }
        }
    }

    /// After taking the publisher lock from a dead publisher: [`count_committed`].
    fn repair(&self, _h: &BusHeader) -> Result<()> {
        count_committed(self.r(), self.base, self.capacity)
    }

    /// Closes the bus for every process: publishing fails with `Closed` from now on;
    /// subscribers receive what was published before, then `Closed`. Closing twice is
    /// not an error.
    pub fn shutdown(&self) -> Result<()> {
        let r = self.r();
        r.check_usable()?;
        let h = self.header()?;
        let procs = r.procs();
        if wait::lock_internal(&h.lock, r.token, &Deadline::forever(), &procs)?
            == Acquired::Recovered
        {
            if let Err(e) = self.repair(h) {
                wait::unlock(&h.lock); // a damaged bus: report it, never keep the lock
                return Err(e);
            }
        }
        h.closed.store(1, Ordering::SeqCst);
        wait::unlock(&h.lock);
        h.notify.fetch_add(1, Ordering::SeqCst);
        wait::wake_all(&h.notify, &h.sleepers, u32::MAX);
        Ok(())
    }

    /// The oldest message retained (a publisher may be overwriting it right now: the
    /// seqlock check then sends the subscriber on to the next one).
    fn oldest(&self, next_seq: u64) -> u64 {
        next_seq.saturating_sub(self.capacity).max(1)
    }

    /// A new subscription, starting with the next message ([`Start::Now`]) or the oldest
    /// retained one ([`Start::Oldest`]).
    pub fn subscribe(&self, from: Start) -> Result<Subscription> {
        let next_seq = self.next_seq()?;
        let next = match from {
            Start::Now => next_seq,
            Start::Oldest => self.oldest(next_seq),
        };
        Ok(Subscription {
            bus: self.clone(),
            next,
        })
    }
}

impl Subscription {
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The sequence number of the message this subscription receives next.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The next message and its sequence number, waiting while there is none. A
    /// sequence number more than one above the previous one means the subscriber fell
    /// behind and the messages between were overwritten. `Closed` once the bus is closed
    /// and every message published before was received.
    pub fn next(&mut self, timeout: Option<Duration>) -> Result<(Value, u64)> {
        self.next_until(&Deadline::after(timeout))
    }

    /// [`Subscription::next`] with a deadline.
    pub fn next_until(&mut self, deadline: &Deadline) -> Result<(Value, u64)> {
        let bus = &self.bus;
        let r = bus.r();
        r.check_usable()?;
        let h = bus.header()?;
        loop {
            let n = checked_seq(self.next)?;
            let slot = bus.slot(n)?;
            let s = slot.seq.load(Ordering::Acquire);
            if s == n {
                match self.copy(slot, n)? {
                    Some(v) => {
                        self.next = n + 1;
                        return Ok((v, n));
                    }
                    None => continue, // overwritten while copying
                }
            }
            let held = s & !BUS_BUSY;
            if s != 0 && held > n {
                // Message n was overwritten: skip to the oldest one retained.
                let next_seq = h.next_seq.load(Ordering::Acquire);
                if held > next_seq {
                    // A slot is committed (or marked BUSY) before `next_seq` moves past
                    // it, never after: a slot ahead of `next_seq` is damage (and
                    // stepping towards it one message at a time would never end).
                    return Err(Error::corrupt(format!(
                        "bus '{}': a slot holds message {held}, but only {next_seq} were published",
                        bus.name
                    )));
                }
                self.next = bus.oldest(next_seq).max(n + 1);
                continue;
            }
            // Message n is not published yet.
            let seen = h.notify.load(Ordering::SeqCst);
            if slot.seq.load(Ordering::SeqCst) != s {
                continue;
            }
            if h.closed.load(Ordering::SeqCst) != 0 {
                return Err(Error::Closed);
            }
            let moved = || {
                slot.seq.load(Ordering::Acquire) != s || h.notify.load(Ordering::Acquire) != seen
            };
            // Subscribers are often more than the CPUs: the spin yields (every
            // wait::SPIN_YIELD_EVERY), so the publisher and the other subscribers keep
            // running (benches/README.md, E9/E9a; benches/peers).
            if wait::spin_until(h, deadline, moved) {
                continue;
            }
            // The removal word before the check: a removal after this load wakes the
            // sleep below, one before it fails the check.
            let removal = r.removed_word();
            let removal_seen = removal.load(Ordering::SeqCst);
            r.check_usable()?;
            wait::sleep_while_equal_or_removed(
                &h.notify,
                seen,
                &h.sleepers,
                1,
                deadline,
                removal,
                removal_seen,
            )?;
            r.check_usable()?;
        }
    }

    /// Copies message `n` out of `slot`; `None` if it was overwritten meanwhile.
    fn copy(&self, slot: &BusSlot, n: u64) -> Result<Option<Value>> {
        let r = self.bus.r();
        let m = slot.meta.load(Ordering::Relaxed);
        let p = slot.payload.load(Ordering::Relaxed);
        let mut bytes = None;
        if m & META_SLOT_BYTES != 0 {
            let len = (m & SLOT_LEN_MASK) as usize;
            if len <= BUS_INLINE_MAX {
                let mut buf = Vec::with_capacity(len.div_ceil(8) * 8);
                for w in slot.inline.iter().take(len.div_ceil(8)) {
                    buf.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
                }
                buf.truncate(len);
                bytes = Some(buf);
            }
        } else if meta_in_heap(m) {
            fence(Ordering::Acquire);
            if slot.seq.load(Ordering::Relaxed) != n {
                return Ok(None);
            }
            match copy_blob(r, p, m & META_LEN_MASK) {
                Ok(b) => bytes = Some(b),
                Err(e) => {
                    if slot.seq.load(Ordering::Acquire) != n {
                        return Ok(None);
                    }
                    return Err(e);
                }
            }
        }
        // Seqlock check: everything above belongs to message n only if seq is unchanged.
        fence(Ordering::Acquire);
        if slot.seq.load(Ordering::Relaxed) != n {
            return Ok(None);
        }
        let m = m & !META_SLOT_BYTES;
        let v = decode_value(m, p, |_, _| {
            bytes
                .take()
                .ok_or_else(|| Error::corrupt("bus message has a bad length"))
        });
        v.map(Some).map_err(|e| match e {
            Error::Corrupt(msg) => Error::corrupt(format!("bus '{}': {msg}", self.bus.name)),
            e => e,
        })
    }
}

// ---- crash recovery, checker and sweep ----

/// Under the publisher lock taken over from a dead publisher (bus body at `base`, of
/// `capacity` slots): if it committed its message but died before advancing `next_seq`,
/// advances it (that message was delivered). The next publisher and the sweep both use
/// this.
fn count_committed(r: &RegionInner, base: u64, capacity: u64) -> Result<()> {
    let h: &BusHeader = r.map.get(base)?;
    let next = checked_seq(h.next_seq.load(Ordering::Relaxed))?;
    if next == 0 || capacity == 0 {
        return Err(Error::corrupt("bus header is damaged"));
    }
    let slot: &BusSlot = r.map.get(base + B_HEADER + (next % capacity) * SLOT)?;
    if slot.seq.load(Ordering::Acquire) == next {
        h.next_seq.store(next + 1, Ordering::Release);
    }
    Ok(())
}

pub(crate) const OPS: KindOps = KindOps {
    spec: &BUS_KIND,
    label: |_| "bus",
    scan,
    sweep,
    release,
};

/// Frees the messages a removed bus still holds in the heap (committed slots whose value
/// does not live in the slot itself).
fn release(r: &RegionInner, o: &Placed<'_>) -> Result<()> {
    for i in 0..o.shape {
        let s: &BusSlot = r.map.get(o.body + B_HEADER + i * SLOT)?;
        let seq = s.seq.load(Ordering::Acquire);
        let m = s.meta.load(Ordering::Acquire);
        if seq != 0
            && seq & BUS_BUSY == 0
            && m & META_SLOT_BYTES == 0
            && crate::shm::kinds::element::meta_in_heap(m)
        {
            r.with_heap(|h| h.free_at(r.map.offset_of(&s.payload)))?;
        }
    }
    Ok(())
}

fn sweep(r: &RegionInner, o: &Placed<'_>, done: &mut Swept) -> Result<()> {
    let h: &BusHeader = r.map.get(o.body)?;
    let cap = h.capacity.load(Ordering::Relaxed);
    if cap == 0 || cap != o.shape {
        return Err(Error::corrupt("bus header is damaged"));
    }
    done.lock_taken_over(r.take_over_dead(&h.lock, |_| count_committed(r, o.body, cap))?);
    Ok(())
}

fn scan(sc: &mut Scan<'_>, o: &Placed<'_>) {
    let (loc, base, capacity) = (o.loc, o.body, o.shape);
    let Ok(h) = sc.map.get::<BusHeader>(base) else {
        return;
    };
    if h.capacity.load(Ordering::Relaxed) != capacity || capacity == 0 {
        sc.problem(loc, "damaged header (capacity)");
        return;
    }
    let next = h.next_seq.load(Ordering::Acquire);
    if next == 0 {
        sc.problem(loc, "damaged header (next sequence number 0)");
        return;
    }
    let lock = sc.lock_word(&h.lock, || loc.to_owned());
    for i in 0..capacity {
        let Ok(s) = sc.map.get::<BusSlot>(base + B_HEADER + i * SLOT) else {
            return;
        };
        let seq = s.seq.load(Ordering::Acquire);
        let sloc = || format!("{loc} slot {i}");
        if seq & BUS_BUSY != 0 {
            if lock != Some(true) {
                sc.stale(
                    sloc(),
                    "left half-written by a publisher that died (holds no message)",
                );
            }
            continue;
        }
        if seq == 0 {
            continue;
        }
        // The newest message may be committed but not yet counted in `next_seq`
        // when its publisher died (the next publisher repairs that).
        if seq % capacity != i || seq > next || (seq == next && lock.is_none()) {
            sc.problem(sloc(), format!("holds message {seq}, next is {next}"));
            continue;
        }
        let m = s.meta.load(Ordering::Relaxed);
        if m & META_SLOT_BYTES != 0 {
            let len = m & META_LEN_MASK & !META_SLOT_BYTES;
            let t = m >> 56;
            if !(9..=BUS_INLINE_MAX as u64).contains(&len)
                || !(Type::String as u64..=Type::Object as u64).contains(&t)
                || m & META_INLINE != 0
            {
                sc.problem(sloc(), format!("invalid message word {m:#x}"));
            }
            continue;
        }
        let p = s.payload.load(Ordering::Relaxed);
        sc.value(m, p, true, &sloc);
    }
}
