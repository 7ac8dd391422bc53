//! Queues: bounded multi-producer, multi-consumer FIFO queues, and LIFO stacks.
//!
//! **FIFO** queues are a ring of `capacity` slots with no lock. Position `p` (counted from
//! 0 since creation) lives in slot `p % capacity` during lap `p / capacity`; each slot's
//! `state` word says which lap it is in and whether it is FREE, being written (WRITING,
//! with the owner token of the producer) or FULL. `head` and `tail` are hints: the next
//! position to pop and to claim.
//!
//! * Push: prepare the value (heap block written first), claim the slot at `tail` by a
//!   CAS FREE -> WRITING(token), move `tail` on, store the value, then publish with one
//!   swap WRITING -> FULL. If the producer dies between claim and publish, whoever is
//!   blocked behind the slot (a consumer, or a producer a lap later) sees that the owner
//!   token is dead and moves the slot to the next lap without a value: the push did not
//!   happen. A claim that finds the queue closed is abandoned the same way.
//! * Pop: copy the value out of the FULL slot at `head`, then commit with one CAS
//!   FULL -> FREE(next lap); only the winner of that CAS delivers the value (and frees
//!   its heap block), so a value is delivered exactly once, and a consumer that dies
//!   before its CAS leaves the value in the queue. Losers retry at the new head.
//! * Waiting: a blocked process spins briefly, then sets the slot's WAITERS bit (a CAS on
//!   the state, so it is ordered with every transition) and sleeps on the slot's `wake`
//!   futex; a transition that finds the bit set bumps `wake` and wakes them. `close`
//!   sets `closed`, then wakes every slot that has sleepers.
//!
//! **LIFO** stacks are slots `0..top` under one robust lock; `top` is the commit word of
//! every push and pop (one store), so a process dying with the lock leaves the old or
//! the new stack. Waiters sleep on the `seq` futex word, bumped after every change.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::names::check_object_name;
use crate::semantics::value::{Value, ValueRef};
use crate::shm::format::layout::*;
use crate::shm::format::region::{KindSpec, Region, RegionInner};
use crate::shm::format::scan::Scan;
use crate::shm::kinds::array::FLAG_EXCLUSIVE;
use crate::shm::kinds::element::{
    copy_blob, decode_value, discard_value, meta_in_heap, prepare_value,
};
use crate::shm::kinds::{KindOps, Placed, Swept};
use crate::shm::os::mem::Shared;
use crate::shm::os::sys;
use crate::shm::wait::{self, Deadline};
use std::mem::size_of;

// ---- layout (in the region file) ----

/// The queue-wide part of a queue body, right after its [`ObjectHeader`]: three cache
/// lines, so that producers (tail), consumers (head) and the read-mostly words do not
/// share one. The body then holds `capacity` [`QueueSlot`]s.
///
/// * `closed`: 0, or 1 once `close` was called (never reset).
/// * `lock`, `seq`, `sleepers`, `top` (LIFO queues only): a robust lock over the stack;
///   `top` is the number of values (the commit word of a push or pop); `seq` is the futex
///   word bumped after every push, pop and close, `sleepers` the processes sleeping on it.
/// * `head` (FIFO only): position of the next value to pop, a hint: consumers that find
///   its slot already consumed move it on.
/// * `tail` (FIFO only): position of the next slot to claim for a push, a hint likewise.
#[repr(C, align(64))]
pub struct QueueHeader {
    pub closed: AtomicU32,
    pub lock: AtomicU32,
    pub seq: AtomicU32,
    pub sleepers: AtomicU32,
    pub top: AtomicU64,
    pub capacity: AtomicU64,
    pub _reserved: [AtomicU64; 4],
    pub head: AtomicU64,
    pub _pad_head: [AtomicU64; 7],
    pub tail: AtomicU64,
    pub _pad_tail: [AtomicU64; 7],
}
const _: () = assert!(size_of::<QueueHeader>() == 192);

/// One slot of a queue: a cache line.
///
/// * `state` (FIFO only): `lap << 33 | WAITERS << 32 | phase << 30 | owner token`, where
///   position `p` of the queue lives in slot `p % capacity` during lap `p / capacity`
///   (31 bits, wrapping). Phases: FREE (waiting for the push of this lap), WRITING (a
///   producer, the owner token, claimed it and is storing the value), FULL (holds the
///   value of this lap). A pop or an abandoned push moves the slot to FREE of the next
///   lap. Every transition is one compare-and-swap or swap of this word.
/// * `wake`: futex word; bumped by a transition that finds the WAITERS bit set.
/// * `value`: the value while FULL (a heap block is owned by the slot until popped).
#[repr(C, align(64))]
pub struct QueueSlot {
    pub state: AtomicU64,
    pub wake: AtomicU32,
    pub _pad: AtomicU32,
    pub value: ValueSlot,
    pub _reserved: [AtomicU64; 4],
}
const _: () = assert!(size_of::<QueueSlot>() == 64);

// SAFETY: #[repr(C)], made only of atomics, valid for every bit pattern.
unsafe impl Shared for QueueHeader {}
// SAFETY: as above.
unsafe impl Shared for QueueSlot {}

/// `Region::queue` flag: a LIFO stack instead of a FIFO queue.
pub const FLAG_LIFO: u32 = 4;

const OBJ_HEADER: u64 = std::mem::size_of::<ObjectHeader>() as u64;
const Q_HEADER: u64 = std::mem::size_of::<QueueHeader>() as u64;
const SLOT: u64 = std::mem::size_of::<QueueSlot>() as u64;

// The FIFO slot state word (see `QueueSlot`).
const TOKEN_MASK: u64 = (1 << 30) - 1;
const PHASE_MASK: u64 = 3 << 30;
const FREE: u64 = 0;
const WRITING: u64 = 1 << 30;
const FULL: u64 = 2 << 30;
const WAITERS: u64 = 1 << 32;
const LAP_SHIFT: u32 = 33;
const LAP_MASK: u64 = (1 << 31) - 1;
/// `head` and `tail` stay below this (see `Queue::position`).
const MAX_POSITION: u64 = 1 << 62;

fn lap_of(state: u64) -> u64 {
    state >> LAP_SHIFT
}

fn state(lap: u64, phase: u64, token: u32) -> u64 {
    (lap & LAP_MASK) << LAP_SHIFT | phase | token as u64
}

/// Where a slot's lap stands relative to the lap a position needs.
#[derive(PartialEq, Eq)]
enum Lap {
    Same,
    /// One lap ahead: the position was used (pushed, or pushed and popped) by a process
    /// that has not moved the counter on yet.
    Ahead,
    /// More than one lap ahead: only possible when the counter has moved on meanwhile
    /// (positions a lap further were used); with the counter unchanged, damage.
    FarAhead,
    Behind,
}

fn compare_lap(slot_lap: u64, lap: u64) -> Lap {
    match slot_lap.wrapping_sub(lap) & LAP_MASK {
        0 => Lap::Same,
        1 => Lap::Ahead,
        d if d < 1 << 30 => Lap::FarAhead,
        _ => Lap::Behind,
    }
}

/// How long a process blocked behind an unfinished push sleeps before it checks again
/// whether the producer is still alive.
const WRITER_RECHECK: Duration = Duration::from_millis(20);

pub(crate) fn body_size(capacity: u64) -> Option<u64> {
    capacity
        .checked_mul(SLOT)?
        .checked_add(OBJ_HEADER + Q_HEADER)
}

/// A bounded queue of values: FIFO, or LIFO (a stack) when created with [`FLAG_LIFO`].
#[derive(Clone)]
pub struct Queue {
    region: Region,
    /// Absolute offset of the [`QueueHeader`].
    base: u64,
    capacity: u64,
    lifo: bool,
    name: String,
}

pub(crate) const QUEUE_KIND: KindSpec = KindSpec {
    code: KIND_QUEUE,
    name: "queue",
    article: "a",
    shape: "capacity",
    items: "values",
    size_of: body_size,
};

impl Region {
    /// Opens the queue `name`; `capacity > 0` creates it if missing (an existing one must
    /// have that capacity and the same FIFO/LIFO kind), `capacity == 0` opens an existing
    /// one only (then [`FLAG_LIFO`], if given, must match). Flags: [`FLAG_LIFO`],
    /// [`FLAG_EXCLUSIVE`].
    pub fn queue(&self, name: &str, capacity: u64, flags: u32) -> Result<Queue> {
        let r = &self.inner;
        r.check_fork()?;
        check_object_name(name)?;
        if flags & !(FLAG_LIFO | FLAG_EXCLUSIVE) != 0 {
            return Err(Error::invalid(format!("unknown queue flags {flags:#x}")));
        }
        let obj = r.open_object(
            name,
            &QUEUE_KIND,
            capacity,
            flags & FLAG_EXCLUSIVE != 0,
            flags & FLAG_LIFO,
            |off| {
                let h: &QueueHeader = r.map.get(off + OBJ_HEADER)?;
                h.capacity.store(capacity, Ordering::Relaxed);
                Ok(())
            },
        )?;
        let hdr: &ObjectHeader = r.map.get(obj.offset)?;
        let qh: &QueueHeader = r.map.get(obj.offset + OBJ_HEADER)?;
        if qh.capacity.load(Ordering::Relaxed) != obj.shape || obj.shape == 0 {
            return Err(Error::corrupt(format!(
                "queue '{name}' has a damaged header"
            )));
        }
        let lifo = hdr.flags.load(Ordering::Relaxed) & FLAG_LIFO != 0;
        let want_lifo = flags & FLAG_LIFO != 0;
        if lifo != want_lifo && (want_lifo || capacity != 0) {
            let (is, not) = if lifo {
                ("a LIFO stack", "a FIFO queue")
            } else {
                ("a FIFO queue", "a LIFO stack")
            };
            return Err(Error::Incompatible(format!(
                "queue '{name}' is {is}, not {not}"
            )));
        }
        Ok(Queue {
            region: self.clone(),
            base: obj.offset + OBJ_HEADER,
            capacity: obj.shape,
            lifo,
            name: name.to_owned(),
        })
    }
}

impl Queue {
    /// Maximum number of values.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// True for a LIFO stack.
    pub fn is_lifo(&self) -> bool {
        self.lifo
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn region(&self) -> &Region {
        &self.region
    }

    fn r(&self) -> &RegionInner {
        &self.region.inner
    }

    fn header(&self) -> Result<&QueueHeader> {
        self.r().map.get(self.base)
    }

    fn slot(&self, index: u64) -> Result<&QueueSlot> {
        self.r().map.get(self.base + Q_HEADER + index * SLOT)
    }

    /// Number of values in the queue (a snapshot; under concurrent pushes it may count a
    /// push that is still storing its value).
    pub fn len(&self) -> Result<u64> {
        self.r().check_fork()?;
        let h = self.header()?;
        if self.lifo {
            return Ok(h.top.load(Ordering::Acquire).min(self.capacity));
        }
        let head = h.head.load(Ordering::Acquire);
        let tail = h.tail.load(Ordering::Acquire);
        Ok(tail.saturating_sub(head).min(self.capacity))
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The values in the queue in the order pops would return them (a FIFO's oldest
    /// first, a stack's top first), without removing them: a snapshot for inspection
    /// tools (`plexus dump`). Values pushed or popped meanwhile may or may not appear;
    /// every value listed was in the queue at some moment during the call. A stack is
    /// read under its lock; a FIFO without any lock (each slot seqlock-style).
    pub fn peek_all(&self) -> Result<Vec<Value>> {
        let r = self.r();
        r.check_fork()?;
        let h = self.header()?;
        let decode = |m: u64, p: u64| {
            decode_value(m, p, |off, len| copy_blob(r, off, len)).map_err(|e| match e {
                Error::Corrupt(msg) => Error::corrupt(format!("queue '{}': {msg}", self.name)),
                e => e,
            })
        };
        if self.lifo {
            self.lock(h)?;
            let result = (|| {
                let top = h.top.load(Ordering::Relaxed).min(self.capacity);
                let mut out = Vec::with_capacity(top as usize);
                for i in (0..top).rev() {
                    let slot = self.slot(i)?;
                    out.push(decode(
                        slot.value.meta.load(Ordering::Relaxed),
                        slot.value.payload.load(Ordering::Relaxed),
                    )?);
                }
                Ok(out)
            })();
            wait::unlock(&h.lock);
            return result;
        }
        let cap = self.capacity;
        let head = h.head.load(Ordering::Acquire);
        let tail = h.tail.load(Ordering::Acquire).max(head);
        let mut out = Vec::new();
        for pos in head..tail.min(head + cap) {
            let slot = self.slot(pos % cap)?;
            let s = slot.state.load(Ordering::Acquire);
            if lap_of(s) != (pos / cap) & LAP_MASK || s & PHASE_MASK != FULL {
                continue; // popped already, or a push still storing its value
            }
            let v = decode(
                slot.value.meta.load(Ordering::Relaxed),
                slot.value.payload.load(Ordering::Relaxed),
            );
            // The words (and heap bytes) belong to this value only if it is still there.
            std::sync::atomic::fence(Ordering::Acquire);
            if slot.state.load(Ordering::Relaxed) & !WAITERS != s & !WAITERS {
                continue;
            }
            out.push(v?);
        }
        Ok(out)
    }

    /// True once [`Queue::close`] was called (by any process).
    pub fn is_shutdown(&self) -> Result<bool> {
        self.r().check_fork()?;
        Ok(self.header()?.closed.load(Ordering::Acquire) != 0)
    }

    /// Appends `v`, waiting while the queue is full. `Closed` once the queue is closed.
    pub fn push(&self, v: ValueRef<'_>, timeout: Option<Duration>) -> Result<()> {
        self.push_until(v, &Deadline::after(timeout))
    }

    /// [`Queue::push`] with a deadline.
    pub fn push_until(&self, v: ValueRef<'_>, deadline: &Deadline) -> Result<()> {
        let r = self.r();
        r.check_fork()?;
        let h = self.header()?;
        if h.closed.load(Ordering::Relaxed) != 0 {
            return Err(self.closed_error());
        }
        let p = prepare_value(r, v)?;
        let (meta, payload) = (p.meta, p.payload);
        let result = if self.lifo {
            self.push_lifo(h, meta, payload, deadline)
        } else {
            self.push_fifo(h, meta, payload, deadline)
        };
        if result.is_err() {
            discard_value(r, p);
        }
        result
    }

    /// Removes the oldest value (the newest, for a LIFO stack), waiting while the queue
    /// is empty. `Closed` once the queue is closed and empty.
    pub fn pop(&self, timeout: Option<Duration>) -> Result<Value> {
        self.pop_until(&Deadline::after(timeout))
    }

    /// [`Queue::pop`] with a deadline.
    pub fn pop_until(&self, deadline: &Deadline) -> Result<Value> {
        self.r().check_fork()?;
        let h = self.header()?;
        if self.lifo {
            self.pop_lifo(h, deadline)
        } else {
            self.pop_fifo(h, deadline)
        }
    }

    /// Closes the queue for every process: pushes fail with `Closed` from now on, pops
    /// return what is left and then `Closed`, and every waiter wakes. Closing twice is
    /// not an error.
    pub fn shutdown(&self) -> Result<()> {
        let r = self.r();
        r.check_fork()?;
        let h = self.header()?;
        if self.lifo {
            // Under the lock, so that a push either completed before or sees `closed`.
            wait::lock(&h.lock, r.token, &Deadline::forever(), &r.procs())?;
            h.closed.store(1, Ordering::SeqCst);
            wait::unlock(&h.lock);
            self.bump_seq(h);
            return Ok(());
        }
        h.closed.store(1, Ordering::SeqCst);
        // Every sleeper set its slot's WAITERS bit before checking `closed` (both SeqCst):
        // either it saw `closed`, or this scan sees its bit.
        for i in 0..self.capacity {
            let s = self.slot(i)?;
            if s.state.load(Ordering::SeqCst) & WAITERS != 0 {
                s.wake.fetch_add(1, Ordering::SeqCst);
                sys::futex_wake(&s.wake, i32::MAX);
            }
        }
        Ok(())
    }

    fn closed_error(&self) -> Error {
        Error::Closed
    }

    // ---- FIFO ----

    /// Reads `head` or `tail`. Positions count every push since creation, so they never
    /// come near [`MAX_POSITION`] (a billion pushes a second for 140 years); a larger one
    /// was damaged, and moving it on would overflow.
    fn position(&self, word: &std::sync::atomic::AtomicU64) -> Result<u64> {
        let p = word.load(Ordering::Acquire);
        if p >= MAX_POSITION {
            return Err(Error::corrupt(format!(
                "queue '{}': position {p} is beyond any reachable count",
                self.name
            )));
        }
        Ok(p)
    }

    /// Changes the state of a slot this process owns (WRITING) and wakes its sleepers.
    fn publish(&self, s: &QueueSlot, new: u64) {
        let old = s.state.swap(new, Ordering::AcqRel);
        if old & WAITERS != 0 {
            Self::wake(s);
        }
    }

    fn wake(s: &QueueSlot) {
        s.wake.fetch_add(1, Ordering::SeqCst);
        sys::futex_wake(&s.wake, i32::MAX);
    }

    fn push_fifo(
        &self,
        h: &QueueHeader,
        meta: u64,
        payload: u64,
        deadline: &Deadline,
    ) -> Result<()> {
        let token = self.r().token;
        let cap = self.capacity;
        loop {
            let t = self.position(&h.tail)?;
            let lap = (t / cap) & LAP_MASK;
            let slot = self.slot(t % cap)?;
            let s = slot.state.load(Ordering::Acquire);
            match compare_lap(lap_of(s), lap) {
                Lap::Same if s & PHASE_MASK == FREE => {
                    let claimed = state(lap, WRITING, token) | (s & WAITERS);
                    if slot
                        .state
                        .compare_exchange(s, claimed, Ordering::SeqCst, Ordering::Relaxed)
                        .is_err()
                    {
                        continue;
                    }
                    let _ = h
                        .tail
                        .compare_exchange(t, t + 1, Ordering::AcqRel, Ordering::Relaxed);
                    // Pairs with the SeqCst store in `close` and the SeqCst loads in
                    // `pop_fifo`: a consumer that saw the queue closed and empty either
                    // saw this claim, or this load sees `closed`.
                    if h.closed.load(Ordering::SeqCst) != 0 {
                        self.publish(slot, state(lap + 1, FREE, 0));
                        // Consumers may already have found the queue closed and empty
                        // and gone: move `head` past the abandoned slot so that `len`
                        // does not count it.
                        self.settle_head(h)?;
                        return Err(self.closed_error());
                    }
                    crate::test_hooks::pause_point();
                    slot.value.meta.store(meta, Ordering::Relaxed);
                    slot.value.payload.store(payload, Ordering::Relaxed);
                    // The commit point of the push.
                    self.publish(slot, state(lap, FULL, 0));
                    return Ok(());
                }
                Lap::FarAhead => self.far_ahead(&h.tail, t, s)?,
                Lap::Same | Lap::Ahead => {
                    // Claimed by another producer that has not moved `tail` on yet: help.
                    let _ = h
                        .tail
                        .compare_exchange(t, t + 1, Ordering::AcqRel, Ordering::Relaxed);
                }
                Lap::Behind => {
                    let prev = lap.wrapping_sub(1) & LAP_MASK;
                    if lap_of(s) != prev || s & PHASE_MASK == FREE {
                        if h.tail.load(Ordering::Acquire) != t {
                            continue;
                        }
                        return Err(Error::corrupt(format!(
                            "queue '{}': slot {} is in lap {} while position {t} needs lap {lap}",
                            self.name,
                            t % cap,
                            lap_of(s)
                        )));
                    }
                    // The value (or push) of the previous lap is still there: full.
                    if h.closed.load(Ordering::Acquire) != 0 {
                        return Err(self.closed_error());
                    }
                    self.wait_slot(h, slot, s, deadline)?;
                }
            }
        }
    }

    fn pop_fifo(&self, h: &QueueHeader, deadline: &Deadline) -> Result<Value> {
        let cap = self.capacity;
        loop {
            let hd = self.position(&h.head)?;
            let lap = (hd / cap) & LAP_MASK;
            let slot = self.slot(hd % cap)?;
            let s = slot.state.load(Ordering::Acquire);
            match compare_lap(lap_of(s), lap) {
                Lap::Same => match s & PHASE_MASK {
                    FULL => {
                        if let Some(v) = self.take(h, slot, s, hd, lap)? {
                            return v;
                        }
                    }
                    FREE => {
                        // Empty. Closed and still empty (SeqCst, see `push_fifo`): done.
                        if h.closed.load(Ordering::SeqCst) != 0
                            && slot.state.load(Ordering::SeqCst) == s
                        {
                            return Err(self.closed_error());
                        }
                        self.wait_slot(h, slot, s, deadline)?;
                    }
                    WRITING => self.wait_slot(h, slot, s, deadline)?,
                    _ => {
                        return Err(Error::corrupt(format!(
                            "queue '{}': slot {} has an invalid state {s:#x}",
                            self.name,
                            hd % cap
                        )))
                    }
                },
                Lap::FarAhead => self.far_ahead(&h.head, hd, s)?,
                Lap::Ahead => {
                    // Popped (or abandoned) by someone who has not moved `head` on: help.
                    let _ =
                        h.head
                            .compare_exchange(hd, hd + 1, Ordering::AcqRel, Ordering::Relaxed);
                }
                Lap::Behind => {
                    if h.head.load(Ordering::Acquire) != hd {
                        continue;
                    }
                    return Err(Error::corrupt(format!(
                        "queue '{}': slot {} is in lap {} while position {hd} needs lap {lap}",
                        self.name,
                        hd % cap,
                        lap_of(s)
                    )));
                }
            }
        }
    }

    /// A slot more than one lap ahead of position `p`: fine if the counter has moved on
    /// since it was read (the caller retries); `Corrupt` if not, since stepping the
    /// counter on through the laps between would take until the end of time.
    fn far_ahead(&self, word: &std::sync::atomic::AtomicU64, p: u64, s: u64) -> Result<()> {
        if word.load(Ordering::Acquire) != p {
            return Ok(());
        }
        Err(Error::corrupt(format!(
            "queue '{}': slot {} is in lap {} while position {p} needs lap {}",
            self.name,
            p % self.capacity,
            lap_of(s),
            (p / self.capacity) & LAP_MASK
        )))
    }

    /// Moves `head` past positions that were already popped or abandoned (what a
    /// consumer does on its way), up to the first one that still holds or awaits a value.
    fn settle_head(&self, h: &QueueHeader) -> Result<()> {
        let cap = self.capacity;
        loop {
            let hd = self.position(&h.head)?;
            if hd >= h.tail.load(Ordering::Acquire) {
                return Ok(());
            }
            let s = self.slot(hd % cap)?.state.load(Ordering::Acquire);
            if compare_lap(lap_of(s), (hd / cap) & LAP_MASK) != Lap::Ahead {
                return Ok(());
            }
            let _ = h
                .head
                .compare_exchange(hd, hd + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Tries to pop the FULL slot (state `s`) at position `hd`: copies the value out,
    /// then commits. `None` when another consumer won the slot.
    fn take(
        &self,
        h: &QueueHeader,
        slot: &QueueSlot,
        s: u64,
        hd: u64,
        lap: u64,
    ) -> Result<Option<Result<Value>>> {
        let r = self.r();
        let m = slot.value.meta.load(Ordering::Relaxed);
        let p = slot.value.payload.load(Ordering::Relaxed);
        let mut blob = None;
        if meta_in_heap(m) {
            // The words above belong to this lap only if the state is unchanged.
            std::sync::atomic::fence(Ordering::Acquire);
            if slot.state.load(Ordering::Relaxed) != s {
                return Ok(None);
            }
            match copy_blob(r, p, m & META_LEN_MASK) {
                Ok(b) => blob = Some(b),
                Err(e) => {
                    if slot.state.load(Ordering::Acquire) != s {
                        return Ok(None); // read a later lap's words: lost the race
                    }
                    return Err(e);
                }
            }
        }
        // The commit point of the pop: only one consumer's CAS succeeds.
        if slot
            .state
            .compare_exchange(
                s,
                state(lap + 1, FREE, 0),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return Ok(None);
        }
        if s & WAITERS != 0 {
            Self::wake(slot);
        }
        let _ = h
            .head
            .compare_exchange(hd, hd + 1, Ordering::AcqRel, Ordering::Relaxed);
        if blob.is_some() {
            let _ = r.with_heap(|hp| hp.free(p));
        }
        let v = decode_value(m, p, |_, _| {
            blob.take()
                .ok_or_else(|| Error::corrupt("queue value changed while being popped"))
        });
        Ok(Some(v.map_err(|e| match e {
            Error::Corrupt(msg) => Error::corrupt(format!("queue '{}': {msg}", self.name)),
            e => e,
        })))
    }

    /// Waits for the state of `slot` to move away from `s` (spuriously returns `Ok`;
    /// callers re-check in a loop). When `s` is an unfinished push whose producer died,
    /// abandons that push instead.
    fn wait_slot(
        &self,
        h: &QueueHeader,
        slot: &QueueSlot,
        s: u64,
        deadline: &Deadline,
    ) -> Result<()> {
        let r = self.r();
        let writing = s & PHASE_MASK == WRITING;
        let moved = || {
            slot.state.load(Ordering::Acquire) != s
                || (!writing && h.closed.load(Ordering::Relaxed) != 0)
        };
        if wait::spin_until(deadline, moved) {
            return Ok(());
        }
        let mut slice = None;
        if writing {
            if abandon_dead_push(r, slot, s).is_some() {
                return Ok(());
            }
            slice = Some(WRITER_RECHECK);
        }
        let remaining = deadline.remaining()?;
        let ticket = slot.wake.load(Ordering::SeqCst);
        if s & WAITERS == 0
            && slot
                .state
                .compare_exchange(s, s | WAITERS, Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
        {
            return Ok(());
        }
        // Pairs with `close`: it stores `closed`, then looks for WAITERS bits.
        if !writing && h.closed.load(Ordering::SeqCst) != 0 {
            return Ok(());
        }
        let timeout = match (remaining, slice) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        sys::futex_wait(&slot.wake, ticket, timeout);
        Ok(())
    }

    // ---- LIFO ----

    fn lock(&self, h: &QueueHeader) -> Result<()> {
        let r = self.r();
        // A dead owner leaves the old or the new stack (`top` is the commit): no repair.
        wait::lock(&h.lock, r.token, &Deadline::forever(), &r.procs())?;
        Ok(())
    }

    fn bump_seq(&self, h: &QueueHeader) {
        h.seq.fetch_add(1, Ordering::SeqCst);
        wait::wake_all(&h.seq, &h.sleepers, u32::MAX);
    }

    /// Waits for `seq` to move away from `seen` (or the queue to close).
    fn wait_seq(&self, h: &QueueHeader, seen: u32, deadline: &Deadline) -> Result<()> {
        let moved = || h.seq.load(Ordering::Acquire) != seen;
        if wait::spin_until(deadline, moved) {
            return Ok(());
        }
        wait::sleep_while_equal(&h.seq, seen, &h.sleepers, 1, deadline, None)
    }

    fn push_lifo(
        &self,
        h: &QueueHeader,
        meta: u64,
        payload: u64,
        deadline: &Deadline,
    ) -> Result<()> {
        loop {
            let seen = h.seq.load(Ordering::SeqCst);
            self.lock(h)?;
            let result = (|| {
                if h.closed.load(Ordering::Relaxed) != 0 {
                    return Err(self.closed_error());
                }
                let top = h.top.load(Ordering::Relaxed);
                if top > self.capacity {
                    return Err(Error::corrupt(format!(
                        "stack '{}' holds {top} values, more than its capacity",
                        self.name
                    )));
                }
                if top == self.capacity {
                    return Ok(false);
                }
                let slot = self.slot(top)?;
                slot.value.meta.store(meta, Ordering::Relaxed);
                slot.value.payload.store(payload, Ordering::Relaxed);
                crate::test_hooks::pause_point();
                h.top.store(top + 1, Ordering::Release); // the commit point
                Ok(true)
            })();
            wait::unlock(&h.lock);
            match result {
                Ok(true) => {
                    self.bump_seq(h);
                    return Ok(());
                }
                Ok(false) => self.wait_seq(h, seen, deadline)?,
                Err(e) => return Err(e),
            }
        }
    }

    fn pop_lifo(&self, h: &QueueHeader, deadline: &Deadline) -> Result<Value> {
        let r = self.r();
        loop {
            let seen = h.seq.load(Ordering::SeqCst);
            self.lock(h)?;
            let result = (|| {
                let top = h.top.load(Ordering::Relaxed);
                if top > self.capacity {
                    return Err(Error::corrupt(format!(
                        "stack '{}' holds {top} values, more than its capacity",
                        self.name
                    )));
                }
                if top == 0 {
                    if h.closed.load(Ordering::Relaxed) != 0 {
                        return Err(self.closed_error());
                    }
                    return Ok(None);
                }
                let slot = self.slot(top - 1)?;
                let m = slot.value.meta.load(Ordering::Relaxed);
                let p = slot.value.payload.load(Ordering::Relaxed);
                let v =
                    decode_value(m, p, |off, len| copy_blob(r, off, len)).map_err(|e| match e {
                        Error::Corrupt(msg) => {
                            Error::corrupt(format!("stack '{}': {msg}", self.name))
                        }
                        e => e,
                    })?;
                crate::test_hooks::pause_point();
                h.top.store(top - 1, Ordering::Release); // the commit point
                Ok(Some((v, meta_in_heap(m).then_some(p))))
            })();
            wait::unlock(&h.lock);
            match result {
                Ok(Some((v, blob))) => {
                    if let Some(off) = blob {
                        let _ = r.with_heap(|hp| hp.free(off));
                    }
                    self.bump_seq(h);
                    return Ok(v);
                }
                Ok(None) => self.wait_seq(h, seen, deadline)?,
                Err(e) => return Err(e),
            }
        }
    }
}

// ---- crash recovery, checker and sweep ----

/// A FIFO push whose producer died between claiming `slot` (whose state was `s`) and
/// publishing its value did not happen: moves the slot on to its next lap, empty, and
/// wakes whoever waits on it. `None` when `s` is not such a push (not WRITING, or its
/// producer lives); `Some(true)` when this call abandoned it, `Some(false)` when another
/// process did first. Blocked pushers and poppers and the sweep all use this.
fn abandon_dead_push(r: &RegionInner, slot: &QueueSlot, s: u64) -> Option<bool> {
    let owner = (s & TOKEN_MASK) as u32;
    if s & PHASE_MASK != WRITING || owner == r.token || !r.procs().token_is_dead(owner) {
        return None;
    }
    let next = state(lap_of(s) + 1, FREE, 0);
    let done = slot
        .state
        .compare_exchange(s, next, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok();
    if done {
        wait::note_recovered();
        if s & WAITERS != 0 {
            Queue::wake(slot);
        }
    }
    Some(done)
}

pub(crate) const OPS: KindOps = KindOps {
    spec: &QUEUE_KIND,
    label: |flags| {
        if flags & FLAG_LIFO != 0 {
            "stack"
        } else {
            "queue"
        }
    },
    scan,
    sweep,
};

fn sweep(r: &RegionInner, o: &Placed<'_>, done: &mut Swept) -> Result<()> {
    let h: &QueueHeader = r.map.get(o.body)?;
    if o.flags & FLAG_LIFO != 0 {
        // A dead owner leaves the old or the new stack (`top` is the commit): no repair.
        done.lock_taken_over(r.take_over_dead(&h.lock, |_| Ok(()))?);
        return Ok(());
    }
    for j in 0..o.shape {
        let slot: &QueueSlot = r.map.get(o.body + Q_HEADER + j * SLOT)?;
        if abandon_dead_push(r, slot, slot.state.load(Ordering::Acquire)) == Some(true) {
            done.pushes = done.pushes.saturating_add(1);
        }
    }
    Ok(())
}

fn scan(sc: &mut Scan<'_>, o: &Placed<'_>) {
    let (loc, base, capacity, lifo) = (o.loc, o.body, o.shape, o.flags & FLAG_LIFO != 0);
    let Ok(h) = sc.map.get::<QueueHeader>(base) else {
        return;
    };
    if h.capacity.load(Ordering::Relaxed) != capacity && h.capacity.load(Ordering::Relaxed) != 0 {
        sc.problem(loc, "damaged header (capacity)");
    }
    let slots = base + Q_HEADER;
    if lifo {
        sc.lock_word(&h.lock, || loc.to_owned());
        let top = h.top.load(Ordering::Acquire);
        if top > capacity {
            sc.problem(
                loc,
                format!("{top} values, more than the capacity {capacity}"),
            );
            return;
        }
        for i in 0..top {
            if let Ok(s) = sc.map.get::<QueueSlot>(slots + i * SLOT) {
                let (m, p) = (
                    s.value.meta.load(Ordering::Relaxed),
                    s.value.payload.load(Ordering::Relaxed),
                );
                sc.value(m, p, true, &|| format!("{loc} value {i}"));
            }
        }
        return;
    }
    for i in 0..capacity {
        let Ok(s) = sc.map.get::<QueueSlot>(slots + i * SLOT) else {
            return;
        };
        let st = s.state.load(Ordering::Acquire);
        let token = (st & TOKEN_MASK) as u32;
        let sloc = || format!("{loc} slot {i}");
        match st & PHASE_MASK {
            FREE if token == 0 => {}
            FULL if token == 0 => {
                let (m, p) = (
                    s.value.meta.load(Ordering::Relaxed),
                    s.value.payload.load(Ordering::Relaxed),
                );
                sc.value(m, p, true, &sloc);
            }
            WRITING if token != 0 => {
                if !sc.token_alive(token) {
                    let msg = format!("a push left unfinished by {}", sc.gone(token));
                    sc.stale(sloc(), msg);
                }
            }
            _ => sc.problem(sloc(), format!("invalid state {st:#x}")),
        }
    }
}
