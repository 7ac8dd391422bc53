//! Batches: [`Queue::push_many`] and [`Queue::pop_many`], one call for many values.
//!
//! **FIFO push.** A batch takes the queue's producer lock (`QueueHeader::lock`, a robust
//! lock: a dead holder is taken over). Then, run by run: it waits for a free slot at
//! `tail`, counts the free slots that follow (as many as it needs), prepares that many
//! values (heap blocks written), claims the slots (one CAS each, their lines fetched
//! ahead together), moves `tail` past them once, stores the values and publishes them in
//! order (one swap each; only a slot that a consumer sleeps on makes a wake-up
//! syscall). When the queue cannot take the whole batch, the next run waits for room,
//! still holding the lock. While the lock is held no other producer's value can land
//! between two values of the batch: a single push that claimed a slot meanwhile sees the
//! lock right after its claim and gives the slot up (it becomes a hole that consumers
//! step over, as the slot of a producer that died), then waits for the batch to end.
//! Crash rules are those of single pushes, value by value: a value published is
//! delivered exactly once, a value whose slot was claimed but not published when its
//! producer died is dropped by whoever waits behind it, and the lock passes on.
//!
//! **FIFO pop.** Waits for one value as [`Queue::pop`] does, then takes the FULL slots
//! that follow without waiting, each with its own commit (so a consumer killed in the
//! middle took the values it committed and left the others in the queue), and moves
//! `head` once, at the end.
//!
//! **Stacks.** Under the stack lock, as many values as fit go in (or come out) with one
//! store of `top`, the commit word: a process dying with the lock leaves the stack as it
//! was before or after that store.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;
use crate::semantics::deadline::{wait_interruptibly, Interrupt};
use crate::shm::kinds::element::{inline_words, prepare_valid_value, Prepared};

/// Slots a batch fetches ahead (one cache line each): their transfers from the other
/// side's CPU overlap, instead of one after the other behind each slot's locked
/// compare-and-swap.
const PREFETCH: u64 = 64;

/// Asks the CPU to bring `slot`'s line into its cache for writing (a hint: it never
/// faults, and changes nothing). PREFETCHW where the CPU has it (checked once; the
/// intrinsic would need the feature enabled at build time, and a read prefetch leaves
/// the line shared, to be fetched again by the compare-and-swap); a read prefetch else.
#[inline(always)]
fn prefetch_for_write(slot: &QueueSlot) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::atomic::AtomicU8;
        static PRFCHW: AtomicU8 = AtomicU8::new(0); // 0 unknown, 1 no, 2 yes
        let mut has = PRFCHW.load(Ordering::Relaxed);
        if has == 0 {
            // CPUID leaf 0x8000_0001, ECX bit 8: PREFETCHW.
            // SAFETY: CPUID exists on every x86-64 CPU; the extended leaf is read only
            // when the highest one reported covers it. (`__cpuid` is safe from Rust
            // 1.87 on; the crate builds with older compilers too.)
            #[allow(unused_unsafe)]
            let yes = unsafe {
                use std::arch::x86_64::__cpuid;
                __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
            };
            has = if yes { 2 } else { 1 };
            PRFCHW.store(has, Ordering::Relaxed);
        }
        let p = (slot as *const QueueSlot).cast::<i8>();
        if has == 2 {
            // SAFETY: PREFETCHW (the CPU has it) is a hint, valid for any address (this
            // one is a live reference); it reads and writes no memory or register.
            unsafe {
                std::arch::asm!("prefetchw [{0}]", in(reg) p, options(nostack, preserves_flags, readonly))
            };
        } else {
            // SAFETY: as above; SSE, which the intrinsic is declared with, is part of
            // every x86-64 CPU.
            unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

/// How a batch push waits: until its deadline, interruptibly when it was given an
/// [`Interrupt`].
struct Waits<'d, 'i> {
    deadline: &'d Deadline,
    interrupt: Option<&'d Interrupt<'i>>,
}

impl Waits<'_, '_> {
    fn wait(&self, wait: impl FnMut(&Deadline) -> Result<()>) -> Result<()> {
        wait_interruptibly(self.deadline, self.interrupt, wait)
    }
}

impl Queue {
    /// Appends `values` in order, waiting while the queue is full. Returns how many went
    /// in (always a prefix of `values`) and `Ok` when all did, else why it stopped:
    /// `Timeout`, `Closed`, or `NoSpace` (the region's heap is full). Every value is
    /// checked before any is stored (`InvalidArgument`, and `NoSpace` for a value larger
    /// than the whole heap, with nothing pushed). In a FIFO queue the values of one batch
    /// follow one another: no other producer's value comes between them.
    pub fn push_many(
        &self,
        values: &[ValueRef<'_>],
        timeout: Option<Duration>,
    ) -> (usize, Result<()>) {
        self.push_many_until(values, &Deadline::after(timeout), None)
    }

    /// [`Queue::push_many`] with a deadline, and an [`Interrupt`] that the waits for room
    /// run between pieces of at most `interrupt.every` (a batch cannot be retried after
    /// a timeout without losing its place, so a caller that must notice Ctrl-C passes
    /// one instead of calling again).
    pub fn push_many_until(
        &self,
        values: &[ValueRef<'_>],
        deadline: &Deadline,
        interrupt: Option<&Interrupt<'_>>,
    ) -> (usize, Result<()>) {
        let checked = (|| {
            let r = self.r();
            r.check_usable()?;
            let h = self.header()?;
            let heap = r.fixed.heap_size;
            for v in values {
                v.validate()?;
                let len = v.bytes().map_or(0, |b| b.len() as u64);
                if len > 8 && len > heap {
                    return Err(Error::NoSpace(format!(
                        "a value of {len} bytes is larger than the region's whole heap ({heap} bytes)"
                    )));
                }
            }
            if !values.is_empty() && h.closed.load(Ordering::Acquire) != 0 {
                return Err(self.closed_error());
            }
            Ok(h)
        })();
        let h = match checked {
            Ok(h) => h,
            Err(e) => return (0, Err(e)),
        };
        if values.is_empty() {
            return (0, Ok(()));
        }
        let mut pushed = 0;
        let waits = Waits {
            deadline,
            interrupt,
        };
        let result = if self.lifo {
            self.push_many_lifo(h, values, &waits, &mut pushed)
        } else {
            self.push_many_fifo(h, values, &waits, &mut pushed)
        };
        (pushed, result)
    }

    /// Removes up to `max` values: waits until there is one (as [`Queue::pop`] does),
    /// then takes the ones that follow it without waiting more (a FIFO's oldest first, a
    /// stack's newest first). `Ok` holds at least one value; `Timeout` when none came in
    /// time; `Closed` once the queue is shut down and empty. `max == 0` is
    /// `InvalidArgument`.
    pub fn pop_many(&self, max: usize, timeout: Option<Duration>) -> Result<Vec<Value>> {
        self.pop_many_until(max, &Deadline::after(timeout))
    }

    /// [`Queue::pop_many`] with a deadline.
    pub fn pop_many_until(&self, max: usize, deadline: &Deadline) -> Result<Vec<Value>> {
        self.r().check_usable()?;
        if max == 0 {
            return Err(Error::invalid(
                "pop_many: max is 0 (a batch takes at least one value)",
            ));
        }
        let h = self.header()?;
        if self.lifo {
            self.pop_many_lifo(h, max, deadline)
        } else {
            self.pop_many_fifo(h, max, deadline)
        }
    }

    // ---- FIFO ----

    fn push_many_fifo(
        &self,
        h: &QueueHeader,
        values: &[ValueRef<'_>],
        waits: &Waits<'_, '_>,
        pushed: &mut usize,
    ) -> Result<()> {
        let r = self.r();
        // A lock taken at the very end of a piece of an interruptible wait is kept even
        // if the check (or the deadline) that follows says to stop: returning the error
        // would leave the producer lock held by a live process, which no one takes over.
        let mut locked = false;
        let waited = waits.wait(|d| {
            wait::lock(&h.lock, r.token, d, &r.procs())?;
            locked = true;
            Ok(())
        });
        if !locked {
            waited?;
        }
        let result = (|| {
            while *pushed < values.len() {
                self.push_run(h, &values[*pushed..], waits, pushed)?;
            }
            Ok(())
        })();
        wait::unlock(&h.lock);
        result
    }

    /// With the producer lock held: waits for a free slot at `tail`, claims the free
    /// slots from there (up to `values.len()`), then stores and publishes the values.
    /// Adds the number published to `*pushed`.
    fn push_run(
        &self,
        h: &QueueHeader,
        values: &[ValueRef<'_>],
        waits: &Waits<'_, '_>,
        pushed: &mut usize,
    ) -> Result<()> {
        let r = self.r();
        let cap = self.capacity;
        let token = r.token;
        // Find the first free slot (waiting for room, stepping over claims made before
        // we took the lock or given up since).
        let start = loop {
            if h.closed.load(Ordering::Acquire) != 0 {
                return Err(self.closed_error());
            }
            let t = self.position(&h.tail)?;
            let lap = (t / cap) & LAP_MASK;
            let slot = self.slot(t % cap)?;
            let s = slot.state.load(Ordering::Acquire);
            match compare_lap(lap_of(s), lap) {
                Lap::Same if s & PHASE_MASK == FREE => break t,
                // Another producer's claim: made before we took the lock (it will be
                // published), or after (it will be given up). Wait for either.
                Lap::Same if s & PHASE_MASK == WRITING => {
                    waits.wait(|d| self.wait_slot(h, slot, s, d))?
                }
                Lap::Same | Lap::Ahead => {
                    let _ = h
                        .tail
                        .compare_exchange(t, t + 1, Ordering::AcqRel, Ordering::Relaxed);
                }
                Lap::FarAhead => self.far_ahead(&h.tail, t, s)?,
                Lap::Behind => {
                    let prev = lap.wrapping_sub(1) & LAP_MASK;
                    if lap_of(s) != prev || s & PHASE_MASK == FREE {
                        if h.tail.load(Ordering::Acquire) != t {
                            continue;
                        }
                        return Err(self.wrong_lap(t, s));
                    }
                    // Full: the previous lap's value is still there. Room comes in runs
                    // (consumers free slots in order): rather than chase them slot by
                    // slot, reading the lines they are working on, first spin (only:
                    // no sleep, so room for fewer values is never left unused for long)
                    // until the slot `ahead` places on is free too.
                    let ahead = (values.len() as u64)
                        .min(cap / 2)
                        .min(PREFETCH)
                        .saturating_sub(1);
                    if ahead > 0 {
                        let far = self.slot((t + ahead) % cap)?;
                        let far_lap = ((t + ahead) / cap) & LAP_MASK;
                        wait::spin_until(h, waits.deadline, || {
                            compare_lap(lap_of(far.state.load(Ordering::Acquire)), far_lap)
                                != Lap::Behind
                                || h.closed.load(Ordering::Relaxed) != 0
                        });
                    }
                    waits.wait(|d| self.wait_slot(h, slot, s, d))?;
                }
            }
        };
        // The free slots from there (more can only appear: consumers free them, and
        // other producers keep out while we hold the lock), as many as the batch needs,
        // with their laps (positions counted on from `start`, without dividing).
        let want = (values.len() as u64).min(cap);
        let mut run: Vec<(&QueueSlot, u64)> = Vec::with_capacity(want as usize);
        let (mut index, mut lap) = (start % cap, (start / cap) & LAP_MASK);
        while (run.len() as u64) < want {
            let slot = self.slot(index)?;
            let s = slot.state.load(Ordering::Acquire);
            if compare_lap(lap_of(s), lap) != Lap::Same || s & PHASE_MASK != FREE {
                break;
            }
            run.push((slot, lap));
            index += 1;
            if index == cap {
                (index, lap) = (0, (lap + 1) & LAP_MASK);
            }
        }
        // Free: the consumers are done with their lines; fetch them all at once.
        for &(slot, _) in run.iter().skip(1).take(PREFETCH as usize) {
            prefetch_for_write(slot);
        }
        // Prepare the values first (heap blocks written), so that claimed slots are
        // only ever held for the stores. A value the heap cannot hold ends the batch
        // there, after the values before it.
        let mut prepared = Vec::with_capacity(run.len());
        let mut failed = None;
        for v in &values[..run.len()] {
            let p = match inline_words(*v) {
                Some(words) => Prepared::inline(words),
                None => match prepare_valid_value(r, *v) {
                    Ok(p) => p,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                },
            };
            prepared.push(p);
        }
        // Claim them (a single push may have claimed one meanwhile: that ends the run;
        // it gives the slot up, and the next run steps over it).
        let mut claimed = 0;
        while claimed < prepared.len() {
            let (slot, lap) = run[claimed];
            let s = slot.state.load(Ordering::Acquire);
            if compare_lap(lap_of(s), lap) != Lap::Same || s & PHASE_MASK != FREE {
                break;
            }
            let mine = state(lap, WRITING, token) | (s & WAITERS);
            if slot
                .state
                .compare_exchange(s, mine, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                claimed += 1;
            }
            // (A failed CAS: a waiter set its bit, or the slot was taken; look again.)
        }
        let run = &run[..claimed];
        h.tail.fetch_max(start + claimed as u64, Ordering::AcqRel);
        let all_claimed = claimed == prepared.len();
        // As in `push_fifo`: a consumer that saw the queue closed and empty either saw
        // these claims, or this load sees `closed`.
        if h.closed.load(Ordering::SeqCst) != 0 {
            for &(slot, lap) in run {
                // Given up: the slot moves on to its next lap, empty, as the claim of a
                // dead producer does.
                self.publish(slot, state(lap + 1, FREE, 0));
            }
            for p in prepared {
                discard_value(r, p);
            }
            self.settle_head(h)?;
            return Err(self.closed_error());
        }
        crate::test_hooks::pause_point();
        let mut rest = prepared.into_iter();
        for (&(slot, _), v) in run.iter().zip(rest.by_ref()) {
            slot.value.meta.store(v.meta, Ordering::Relaxed);
            slot.value.payload.store(v.payload, Ordering::Relaxed);
        }
        for v in rest {
            discard_value(r, v);
        }
        // Publish in order: the commit point of each value.
        let half = claimed / 2;
        for (k, &(slot, lap)) in run.iter().enumerate() {
            if k == half && half > 0 {
                crate::test_hooks::pause_point();
            }
            self.publish(slot, state(lap, FULL, 0));
            *pushed += 1;
        }
        match failed {
            // The value the heap could not hold is next: report it.
            Some(e) if all_claimed => Err(e),
            _ => Ok(()),
        }
    }

    /// Gives up this process's claim on position `p` (claimed, nothing published): the
    /// slot moves on to its next lap, empty, as the claim of a dead producer does.
    fn give_up_claim(&self, p: u64) -> Result<()> {
        let lap = (p / self.capacity) & LAP_MASK;
        self.publish(self.slot(p % self.capacity)?, state(lap + 1, FREE, 0));
        Ok(())
    }

    /// Called by a single push right after its claim at position `p`: when a batch holds
    /// the producer lock, gives the claim up and waits until the batch is done (so that
    /// no value lands inside it). `Ok(true)` when the push must start over.
    pub(super) fn yield_to_batch(
        &self,
        h: &QueueHeader,
        p: u64,
        deadline: &Deadline,
    ) -> Result<bool> {
        // Pairs with the batch's lock (taken before its first claim): a claim made
        // after one of the batch's claims sees the lock here.
        if h.lock.load(Ordering::SeqCst) & wait::LOCK_OWNER == 0 {
            return Ok(false);
        }
        self.give_up_claim(p)?;
        self.wait_out_batch(h, deadline)?;
        Ok(true)
    }

    /// Waits until no batch push holds the producer lock (taking it over from a holder
    /// that died), for a single push about to claim a slot.
    pub(super) fn wait_out_batch(&self, h: &QueueHeader, deadline: &Deadline) -> Result<()> {
        let r = self.r();
        wait::lock(&h.lock, r.token, deadline, &r.procs())?;
        wait::unlock(&h.lock);
        Ok(())
    }

    fn pop_many_fifo(
        &self,
        h: &QueueHeader,
        max: usize,
        deadline: &Deadline,
    ) -> Result<Vec<Value>> {
        let first = self.pop_fifo(h, deadline)?;
        let cap = self.capacity;
        let mut out = Vec::with_capacity(max.min(cap as usize).min(1024));
        out.push(first);
        if max == 1 {
            return Ok(out);
        }
        // Then the values that follow, without waiting, from `head` on (the first pop
        // moved it past its value); `head` moves once, at the end. Once one value is
        // taken, a problem only ends the batch (the next call reports it).
        let Ok(mut p) = self.position(&h.head) else {
            return Ok(out);
        };
        // The values there (plain loads, which overlap): their lines are fetched for
        // the commits all at once (not before: a slot still being written would be
        // taken from its producer). Positions are counted on from `p` without dividing.
        let (first_index, first_lap) = (p % cap, (p / cap) & LAP_MASK);
        let at = |k: u64| {
            let i = first_index + k; // k < cap
            if i >= cap {
                (i - cap, (first_lap + 1) & LAP_MASK)
            } else {
                (i, first_lap)
            }
        };
        let mut full = 0;
        while full < (max as u64 - 1).min(PREFETCH).min(cap) {
            let (index, lap) = at(full);
            let Ok(slot) = self.slot(index) else {
                break;
            };
            let s = slot.state.load(Ordering::Acquire);
            if compare_lap(lap_of(s), lap) != Lap::Same || s & PHASE_MASK != FULL {
                break;
            }
            if full > 0 {
                prefetch_for_write(slot);
            }
            full += 1;
        }
        let (mut index, mut lap) = (first_index, first_lap);
        let mut published = p; // `head` is at least this
        while out.len() < max {
            crate::test_hooks::pause_point();
            let Ok(slot) = self.slot(index) else {
                break;
            };
            let s = slot.state.load(Ordering::Acquire);
            let stepped = match compare_lap(lap_of(s), lap) {
                Lap::Same if s & PHASE_MASK == FULL => match self.take_value(slot, s, lap) {
                    Ok(Some(Ok(v))) => {
                        out.push(v);
                        true
                    }
                    Ok(None) => false, // another consumer took it: look again
                    Ok(Some(Err(_))) | Err(_) => {
                        p += 1; // taken (it was damaged): step over it
                        break;
                    }
                },
                // Popped by another consumer, or a claim given up: step over it.
                Lap::Ahead => true,
                _ => break, // empty, being written, or another lap: not waiting
            };
            if stepped {
                p += 1;
                index += 1;
                if index == cap {
                    (index, lap) = (0, (lap + 1) & LAP_MASK);
                }
                // `head` must never fall a lap behind a position taken (others would
                // find its slot two laps on): this walk (and those of other consumers,
                // stepping over what it took) goes on at most half a lap before moving
                // it on.
                if p >= published + (cap / 2).max(1) {
                    h.head.fetch_max(p, Ordering::AcqRel);
                    published = p;
                }
            }
        }
        // Every position before `p` was taken, by us or others; others may have moved
        // `head` further already.
        h.head.fetch_max(p, Ordering::AcqRel);
        Ok(out)
    }

    // ---- LIFO ----

    fn push_many_lifo(
        &self,
        h: &QueueHeader,
        values: &[ValueRef<'_>],
        waits: &Waits<'_, '_>,
        pushed: &mut usize,
    ) -> Result<()> {
        let r = self.r();
        let cap = self.capacity;
        while *pushed < values.len() {
            let seen = h.seq.load(Ordering::SeqCst);
            if h.closed.load(Ordering::Acquire) != 0 {
                return Err(self.closed_error());
            }
            let top = h.top.load(Ordering::Acquire).min(cap);
            if top == cap {
                waits.wait(|d| self.wait_seq(h, seen, d))?;
                continue;
            }
            // Values are prepared (heap blocks written) before the lock is taken and
            // never held while waiting, as a single push does.
            let want = ((cap - top) as usize).min(values.len() - *pushed);
            let mut prepared = Vec::with_capacity(want);
            let mut failed = None;
            for v in &values[*pushed..*pushed + want] {
                match prepare_valid_value(r, *v) {
                    Ok(p) => prepared.push(p),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let stored = if prepared.is_empty() {
                Ok(0)
            } else {
                self.lock(h)?;
                let stored = (|| {
                    if h.closed.load(Ordering::Relaxed) != 0 {
                        return Err(self.closed_error());
                    }
                    let top = h.top.load(Ordering::Relaxed);
                    if top > cap {
                        return Err(Error::corrupt(format!(
                            "stack '{}' holds {top} values, more than its capacity",
                            self.name
                        )));
                    }
                    let n = ((cap - top) as usize).min(prepared.len());
                    for (i, p) in prepared[..n].iter().enumerate() {
                        let slot = self.slot(top + i as u64)?;
                        slot.value.meta.store(p.meta, Ordering::Relaxed);
                        slot.value.payload.store(p.payload, Ordering::Relaxed);
                    }
                    crate::test_hooks::pause_point();
                    h.top.store(top + n as u64, Ordering::Release); // the commit point
                    Ok(n)
                })();
                wait::unlock(&h.lock);
                stored
            };
            let n = *stored.as_ref().unwrap_or(&0);
            let all_in = n == prepared.len();
            for p in prepared.drain(..).skip(n) {
                discard_value(r, p);
            }
            if n > 0 {
                *pushed += n;
                self.bump_seq(h);
            }
            stored?;
            // The value the heap could not hold is next: report it. (When the stack
            // filled up meanwhile and some prepared values did not go in, go round again.)
            if let (Some(e), true) = (failed, all_in) {
                return Err(e);
            }
        }
        Ok(())
    }

    pub(super) fn pop_many_lifo(
        &self,
        h: &QueueHeader,
        max: usize,
        deadline: &Deadline,
    ) -> Result<Vec<Value>> {
        // Allocated before the lock is taken: the stack's one lock is held only for the
        // copies and the commit (an allocation under it lengthened every pop's hold).
        let mut values = Vec::with_capacity(max.min(self.capacity as usize).min(1024));
        self.pop_lifo_into(h, max, deadline, |v| values.push(v))?;
        Ok(values)
    }

    /// Pops up to `max` values (at least one: waits while the stack is empty), handing
    /// each to `sink` under the stack's lock, top first; returns how many. A single pop
    /// passes a sink that keeps its one value, so it allocates nothing.
    pub(super) fn pop_lifo_into(
        &self,
        h: &QueueHeader,
        max: usize,
        deadline: &Deadline,
        mut sink: impl FnMut(Value),
    ) -> Result<usize> {
        let r = self.r();
        let mut blobs = Vec::new();
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
                let want = (max as u64).min(top);
                let mut taken = 0u64;
                for i in 0..want {
                    let slot = self.slot(top - 1 - i)?;
                    let m = slot.value.meta.load(Ordering::Relaxed);
                    let p = slot.value.payload.load(Ordering::Relaxed);
                    match decode_value(m, p, |off, len| copy_blob(r, off, len)) {
                        Ok(v) => sink(v),
                        // The first value is reported; a later one ends the batch before it.
                        Err(e) if taken == 0 => {
                            return Err(match e {
                                Error::Corrupt(msg) => {
                                    Error::corrupt(format!("stack '{}': {msg}", self.name))
                                }
                                e => e,
                            })
                        }
                        Err(_) => break,
                    }
                    taken += 1;
                    if meta_in_heap(m) {
                        blobs.push(p);
                    }
                }
                crate::test_hooks::pause_point();
                h.top.store(top - taken, Ordering::Release); // the commit point
                Ok(Some(taken as usize))
            })();
            wait::unlock(&h.lock);
            match result {
                Ok(Some(taken)) => {
                    for off in blobs {
                        let _ = r.with_heap(|hp| hp.free(off));
                    }
                    self.bump_seq(h);
                    return Ok(taken);
                }
                Ok(None) => self.wait_seq(h, seen, deadline)?,
                Err(e) => return Err(e),
            }
        }
    }
}
