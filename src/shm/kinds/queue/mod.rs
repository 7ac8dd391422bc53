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
//! * Batches (`push_many`, `pop_many`; module `batch`): a batch push holds the queue's
//!   producer lock while it claims, fills and publishes its slots, so its values stay
//!   together; a single push checks that lock right after its claim.
//!
//! **LIFO** stacks are slots `0..top` under one robust lock; `top` is the commit word of
//! every push and pop (one store), so a process dying with the lock leaves the old or
//! the new stack. Waiters sleep on the `seq` futex word, bumped after every change.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::names::check_object_name;
use crate::semantics::open::KindWords;
pub use crate::semantics::options::FLAG_LIFO;
use crate::semantics::value::{Value, ValueRef};
use crate::shm::format::layout::*;
use crate::shm::format::region::{Held, KindSpec, Region, RegionInner};
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

mod batch;
mod fifo;
mod lifo;

use fifo::*;

// ---- layout (in the region file) ----

/// The queue-wide part of a queue body, right after its [`ObjectHeader`]: three cache
/// lines, so that producers (tail), consumers (head) and the read-mostly words do not
/// share one. The body then holds `capacity` [`QueueSlot`]s.
///
/// * `closed`: 0, or 1 once `close` was called (never reset).
/// * `lock` (FIFO queues): the producer lock, held by a batch push (`push_many`) for
///   the whole batch; a single push that claims a slot while it is held gives the slot
///   up and waits for it (see `batch`).
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

const OBJ_HEADER: u64 = std::mem::size_of::<ObjectHeader>() as u64;
const Q_HEADER: u64 = std::mem::size_of::<QueueHeader>() as u64;
const SLOT: u64 = std::mem::size_of::<QueueSlot>() as u64;

pub(crate) fn body_size(capacity: u64) -> Option<u64> {
    capacity
        .checked_mul(SLOT)?
        .checked_add(OBJ_HEADER + Q_HEADER)
}

/// A bounded queue of values: FIFO, or LIFO (a stack) when created with [`FLAG_LIFO`].
#[derive(Clone)]
pub struct Queue {
    held: Held,
    /// Absolute offset of the [`QueueHeader`].
    base: u64,
    capacity: u64,
    lifo: bool,
    name: String,
}

pub(crate) const QUEUE_KIND: KindSpec = KindSpec {
    words: KindWords {
        code: KIND_QUEUE,
        name: "queue",
        article: "a",
        shape: "capacity",
        items: "values",
    },
    size_of: body_size,
};

impl Region {
    /// Opens the queue `name`; `capacity > 0` creates it if missing (an existing one must
    /// have that capacity and the same FIFO/LIFO kind), `capacity == 0` opens an existing
    /// one only (then [`FLAG_LIFO`], if given, must match). Flags: [`FLAG_LIFO`],
    /// [`FLAG_EXCLUSIVE`].
    pub fn queue(&self, name: &str, capacity: u64, flags: u32) -> Result<Queue> {
        let r = &self.inner;
        r.check_usable()?;
        check_object_name(name)?;
        if flags & !(FLAG_LIFO | FLAG_EXCLUSIVE) != 0 {
            return Err(Error::invalid(format!("unknown queue flags {flags:#x}")));
        }
        let (obj, held) = self.open_held(
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
            held,
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
        self.held.region()
    }

    fn r(&self) -> &Held {
        &self.held
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
        self.r().check_usable()?;
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
        r.check_usable()?;
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
        self.r().check_usable()?;
        Ok(self.header()?.closed.load(Ordering::Acquire) != 0)
    }

    /// Appends `v`, waiting while the queue is full. `Closed` once the queue is closed.
    pub fn push(&self, v: ValueRef<'_>, timeout: Option<Duration>) -> Result<()> {
        self.push_until(v, &Deadline::after(timeout))
    }

    /// [`Queue::push`] with a deadline.
    pub fn push_until(&self, v: ValueRef<'_>, deadline: &Deadline) -> Result<()> {
        let r = self.r();
        r.check_usable()?;
        let h = self.header()?;
        if h.closed.load(Ordering::Relaxed) != 0 {
            return Err(self.closed_error());
        }
        // A value that needs a heap block never waits holding it (a producer killed
        // while blocked on a full queue would leak it): wait for room first, then
        // allocate and push without waiting; if another producer took the room
        // meanwhile, give the block back and wait again.
        let needs_block = v.bytes().is_some_and(|b| b.len() > 8);
        let try_once = Deadline::after(Some(Duration::ZERO));
        loop {
            if needs_block && !deadline.is_try_once() {
                self.wait_for_room(h, deadline)?;
            }
            let p = prepare_value(r, v)?;
            let (meta, payload) = (p.meta, p.payload);
            let d = if needs_block { &try_once } else { deadline };
            let result = if self.lifo {
                self.push_lifo(h, meta, payload, d)
            } else {
                self.push_fifo(h, meta, payload, d)
            };
            match result {
                Ok(()) => return Ok(()),
                Err(Error::Timeout) if needs_block && !deadline.is_try_once() => {
                    discard_value(r, p);
                }
                Err(e) => {
                    discard_value(r, p);
                    return Err(e);
                }
            }
        }
    }

    /// Waits until the queue looks like it has room for one more value (a push may still
    /// find it taken by another producer). `Closed` once it is closed.
    fn wait_for_room(&self, h: &QueueHeader, deadline: &Deadline) -> Result<()> {
        let cap = self.capacity;
        loop {
            if h.closed.load(Ordering::Acquire) != 0 {
                return Err(self.closed_error());
            }
            if self.lifo {
                let seen = h.seq.load(Ordering::SeqCst);
                if h.top.load(Ordering::Acquire) < cap {
                    return Ok(());
                }
                self.wait_seq(h, seen, deadline)?;
                continue;
            }
            let t = self.position(&h.tail)?;
            let lap = (t / cap) & LAP_MASK;
            let slot = self.slot(t % cap)?;
            let s = slot.state.load(Ordering::Acquire);
            let prev = lap.wrapping_sub(1) & LAP_MASK;
            // The previous lap's value (or push) still in the slot at `tail`: full.
            if compare_lap(lap_of(s), lap) == Lap::Behind
                && lap_of(s) == prev
                && s & PHASE_MASK != FREE
            {
                self.wait_slot(h, slot, s, deadline)?;
                continue;
            }
            // A batch push holds the producer lock: a claim now would be given up.
            if h.lock.load(Ordering::SeqCst) & wait::LOCK_OWNER != 0 {
                self.wait_out_batch(h, deadline)?;
                continue;
            }
            return Ok(());
        }
    }

    /// Removes the oldest value (the newest, for a LIFO stack), waiting while the queue
    /// is empty. `Closed` once the queue is closed and empty.
    pub fn pop(&self, timeout: Option<Duration>) -> Result<Value> {
        self.pop_until(&Deadline::after(timeout))
    }

    /// [`Queue::pop`] with a deadline.
    pub fn pop_until(&self, deadline: &Deadline) -> Result<Value> {
        self.r().check_usable()?;
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
        r.check_usable()?;
        let h = self.header()?;
        if self.lifo {
            // Under the lock, so that a push either completed before or sees `closed`.
            wait::lock_internal(&h.lock, r.token, &Deadline::forever(), &r.procs())?;
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
}

// ---- crash recovery, checker and sweep ----

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
    release,
};

/// Frees the values a removed queue still holds: a stack's first `top` values, a ring's
/// FULL slots (a push left unfinished by a dead producer owns nothing yet).
fn release(r: &RegionInner, o: &Placed<'_>) -> Result<()> {
    let h: &QueueHeader = r.map.get(o.body)?;
    let slot = |j: u64| r.map.get::<QueueSlot>(o.body + Q_HEADER + j * SLOT);
    if o.flags & FLAG_LIFO != 0 {
        let top = h.top.load(Ordering::Acquire).min(o.shape);
        for j in 0..top {
            crate::shm::kinds::element::release_value(r, &slot(j)?.value)?;
        }
        return Ok(());
    }
    for j in 0..o.shape {
        let s = slot(j)?;
        let st = s.state.load(Ordering::Acquire);
        if st & PHASE_MASK == FULL && st & TOKEN_MASK == 0 {
            crate::shm::kinds::element::release_value(r, &s.value)?;
        }
    }
    Ok(())
}

fn sweep(r: &RegionInner, o: &Placed<'_>, done: &mut Swept) -> Result<()> {
    let h: &QueueHeader = r.map.get(o.body)?;
    if o.flags & FLAG_LIFO != 0 {
        // A dead owner leaves the old or the new stack (`top` is the commit): no repair.
        done.lock_taken_over(r.take_over_dead(&h.lock, |_| Ok(()))?);
        return Ok(());
    }
    // A batch push's producer lock (FIFO): its dead holder's claims are dropped below.
    done.lock_taken_over(r.take_over_dead(&h.lock, |_| Ok(()))?);
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
    sc.lock_word(&h.lock, || format!("{loc} (batch push)"));
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
