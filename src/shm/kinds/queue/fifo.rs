//! The FIFO flavour: a ring of slots whose state word (`lap | WAITERS | phase | owner
//! token`) is both the full/empty flag and the claim, so pushes and pops take no lock.
//! A push claims its slot with one CAS and publishes with one swap; a pop copies the
//! value out and commits with one CAS. A producer that dies between claim and publish is
//! detected by whoever waits behind its slot ([`abandon_dead_push`]).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;

// The FIFO slot state word (see `QueueSlot`).
pub(super) const TOKEN_MASK: u64 = (1 << 30) - 1;
pub(super) const PHASE_MASK: u64 = 3 << 30;
pub(super) const FREE: u64 = 0;
pub(super) const WRITING: u64 = 1 << 30;
pub(super) const FULL: u64 = 2 << 30;
pub(super) const WAITERS: u64 = 1 << 32;
pub(super) const LAP_SHIFT: u32 = 33;
pub(super) const LAP_MASK: u64 = (1 << 31) - 1;
/// `head` and `tail` stay below this (see `Queue::position`).
pub(super) const MAX_POSITION: u64 = 1 << 62;

pub(super) fn lap_of(state: u64) -> u64 {
    state >> LAP_SHIFT
}

pub(super) fn state(lap: u64, phase: u64, token: u32) -> u64 {
    (lap & LAP_MASK) << LAP_SHIFT | phase | token as u64
}

/// Where a slot's lap stands relative to the lap a position needs.
#[derive(PartialEq, Eq)]
pub(super) enum Lap {
    Same,
    /// One lap ahead: the position was used (pushed, or pushed and popped) by a process
    /// that has not moved the counter on yet.
    Ahead,
    /// More than one lap ahead: only possible when the counter has moved on meanwhile
    /// (positions a lap further were used); with the counter unchanged, damage.
    FarAhead,
    Behind,
}

pub(super) fn compare_lap(slot_lap: u64, lap: u64) -> Lap {
    match slot_lap.wrapping_sub(lap) & LAP_MASK {
        0 => Lap::Same,
        1 => Lap::Ahead,
        d if d < 1 << 30 => Lap::FarAhead,
        _ => Lap::Behind,
    }
}

/// How many laps a slot may be ahead of a counter (`head` or `tail`) that lags behind:
/// more is damage. (A lag of a lap or two happens; see `Queue::far_ahead`.)
pub(super) const FAR_AHEAD_LAPS: u64 = 16;

/// How long a process blocked behind an unfinished push sleeps before it checks again
/// whether the producer is still alive.
pub(super) const WRITER_RECHECK: Duration = Duration::from_millis(20);

impl Queue {
    /// Reads `head` or `tail`. Positions count every push since creation, so they never
    /// come near [`MAX_POSITION`] (a billion pushes a second for 140 years); a larger one
    /// was damaged, and moving it on would overflow.
    pub(super) fn position(&self, word: &std::sync::atomic::AtomicU64) -> Result<u64> {
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
    pub(super) fn publish(&self, s: &QueueSlot, new: u64) {
        let old = s.state.swap(new, Ordering::AcqRel);
        if old & WAITERS != 0 {
            Self::wake(s);
        }
    }

    pub(super) fn wake(s: &QueueSlot) {
        s.wake.fetch_add(1, Ordering::SeqCst);
        sys::futex_wake(&s.wake, i32::MAX);
    }

    pub(super) fn push_fifo(
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
                    // A batch push holds the producer lock: its values stay together.
                    if self.yield_to_batch(h, t, deadline)? {
                        continue;
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
                        return Err(self.wrong_lap(t, s));
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

    #[inline(always)]
    pub(super) fn pop_fifo(&self, h: &QueueHeader, deadline: &Deadline) -> Result<Value> {
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
                    return Err(self.wrong_lap(hd, s));
                }
            }
        }
    }

    /// A slot more than one lap ahead of position `p`: fine if the counter has moved on
    /// since it was read (the caller retries). A few laps ahead with the counter still
    /// at `p` is fine too: position `p` was used and its slot moved on while the counter
    /// lagged behind (a consumer that took `p` and has not moved `head` on yet, while a
    /// producer claimed the slot's next position and gave it up, or died holding it):
    /// the counter is stepped on. Many laps ahead with the counter unchanged is damage
    /// (`Corrupt`), since stepping the counter on through the laps between would take
    /// until the end of time.
    pub(super) fn far_ahead(
        &self,
        word: &std::sync::atomic::AtomicU64,
        p: u64,
        s: u64,
    ) -> Result<()> {
        if word.load(Ordering::Acquire) != p {
            return Ok(());
        }
        let laps = lap_of(s).wrapping_sub((p / self.capacity) & LAP_MASK) & LAP_MASK;
        if laps <= FAR_AHEAD_LAPS {
            let _ = word.compare_exchange(p, p + 1, Ordering::AcqRel, Ordering::Relaxed);
            return Ok(());
        }
        Err(self.wrong_lap(p, s))
    }

    /// The damage of a slot (state `s`) in a lap that position `p` cannot meet.
    pub(super) fn wrong_lap(&self, p: u64, s: u64) -> Error {
        Error::corrupt(format!(
            "queue '{}': slot {} is in lap {} while position {p} needs lap {}",
            self.name,
            p % self.capacity,
            lap_of(s),
            (p / self.capacity) & LAP_MASK
        ))
    }

    /// Moves `head` past positions that were already popped or abandoned (what a
    /// consumer does on its way), up to the first one that still holds or awaits a value.
    pub(super) fn settle_head(&self, h: &QueueHeader) -> Result<()> {
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
    /// then commits, and moves `head` on. `None` when another consumer won the slot.
    #[inline(always)]
    pub(super) fn take(
        &self,
        h: &QueueHeader,
        slot: &QueueSlot,
        s: u64,
        hd: u64,
        lap: u64,
    ) -> Result<Option<Result<Value>>> {
        let taken = self.take_value(slot, s, lap)?;
        if taken.is_some() {
            let _ = h
                .head
                .compare_exchange(hd, hd + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
        Ok(taken)
    }

    /// [`Queue::take`] without moving `head` (a batch moves it every half lap, and at
    /// its end).
    #[inline(always)]
    pub(super) fn take_value(
        &self,
        slot: &QueueSlot,
        s: u64,
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
    pub(super) fn wait_slot(
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
        if wait::spin_until(h, deadline, moved) {
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
        wait::sleep(&slot.wake, ticket, timeout);
        r.check_usable()
    }
}

/// A FIFO push whose producer died between claiming `slot` (whose state was `s`) and
/// publishing its value did not happen: moves the slot on to its next lap, empty, and
/// wakes whoever waits on it. `None` when `s` is not such a push (not WRITING, or its
/// producer lives); `Some(true)` when this call abandoned it, `Some(false)` when another
/// process did first. Blocked pushers and poppers and the sweep all use this.
pub(super) fn abandon_dead_push(r: &RegionInner, slot: &QueueSlot, s: u64) -> Option<bool> {
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
