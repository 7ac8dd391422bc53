//! Services: request/response between processes (what they mean:
//! `crate::semantics::service`).
//!
//! A service body is a [`ServiceHeader`] and `capacity` request slots
//! ([`ServiceSlot`]), one per pending request. Each slot's `state` word is
//! `generation << 36 | phase << 32 | owner token`, and every transition is one
//! compare-and-swap (or, by the slot's owner, one store) of that word. The token in the
//! word is the slot's *owner*: the only process that may change the slot's values. A
//! process that finds the owner dead takes the slot over (RECLAIMING, with its own
//! token), frees its heap blocks and makes it FREE. So a process killed at any instant
//! leaves a slot owned by a dead token, which the next process to look at it cleans up.
//!
//! ```text
//!  FREE ──claim──▶ WRITING(caller) ──publish──▶ PENDING(caller) ──next──▶ TAKEN(server)
//!   ▲                  │ (dies)                     │ (timeout, dies)       │        │
//!   │                  ▼                            ▼                       │reply   │caller
//!   └──────────── RECLAIMING(anyone) ◀──────────────┘                       ▼        │timeout
//!   ▲    ▲ (server died: the caller gets OwnerDead)          REPLIED/FAILED(caller)  ▼
//!   │    └───────────────────────────────────────────────────  │         ABANDONED(server)
//!   └── collect (caller copies the response) ◀─────────────────┘      (reply discards)
//! ```
//!
//! * Call: claim a FREE slot (CAS FREE → WRITING(me)), store the request and the
//!   caller's token, publish PENDING(me) with a ticket (servers take the oldest first),
//!   bump `req_seq` and wake one server. Then wait on the slot's `wake` futex: REPLIED
//!   or FAILED(me) → copy the response, free the slot, return; TAKEN(server) with a dead
//!   server → take it over, free it, `OwnerDead`; RECLAIMING by another process (it
//!   found the server dead: a caller waiting for room, the sweep) → wait for its free,
//!   or finish it if that process died too; the generation moved → someone else found
//!   the server dead and freed the slot: `OwnerDead`. The wait sleeps in slices
//!   (1 ms doubling to [`DEAD_SERVER_NOTICE`]) and looks at the server's liveness after
//!   each, since a dead process wakes nobody. On timeout: PENDING → the caller frees it;
//!   TAKEN → ABANDONED(server) (the server's reply discards it); REPLIED → the reply came
//!   in time after all and is returned.
//! * Next: scan for the PENDING slot with the lowest ticket, CAS PENDING → TAKEN(me),
//!   copy the request out. Idle servers sleep on `req_seq` (and the region's removal
//!   word) without slices: no polling.
//! * Reply: check that the id's generation and the slot's owner are this handle's and
//!   the phase is TAKEN (else `InvalidArgument`), store the response, CAS TAKEN(me) →
//!   REPLIED/FAILED(caller), wake the caller. A caller that abandoned meanwhile (phase
//!   ABANDONED): the response is dropped and the slot freed.
//! * Freeing a slot (collect, timeout, reclaim): both values' heap blocks are freed with
//!   `Heap::free_at` (which clears the word, so a free cut short by a crash can be
//!   repeated), then the state becomes FREE of the next generation, and waiters for room
//!   (`free_seq`) and the slot's caller (`wake`) are woken.
//!
//! Crash windows: a heap block allocated for a value but not yet stored in the slot
//! when its process is killed is lost (as for queue pushes; `plexus check` reports it).
//! Nothing else leaks, and no call waits for a dead process.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::deadline::Interrupt;
use crate::semantics::names::check_object_name;
use crate::semantics::open::KindWords;
use crate::semantics::service::{
    handler_error, make_id, server_died, split_id, Reply, RequestId, DEAD_SERVER_NOTICE,
};
use crate::semantics::value::{Value, ValueRef};
use crate::shm::format::layout::*;
use crate::shm::format::region::{Held, KindSpec, Region, RegionInner};
use crate::shm::format::scan::Scan;
use crate::shm::kinds::array::FLAG_EXCLUSIVE;
use crate::shm::kinds::element::{
    copy_blob, decode_value, meta_in_heap, prepare_valid_value, release_value,
};
use crate::shm::kinds::{KindOps, Placed, Swept};
use crate::shm::os::mem::Shared;
use crate::shm::os::sys;
use crate::shm::wait::{self, Deadline};
use std::mem::size_of;

// ---- layout (in the region file) ----

/// The service-wide part of a service body, right after its [`ObjectHeader`]
/// (directory shape: capacity). The body then holds `capacity` [`ServiceSlot`]s.
///
/// * `capacity`: repeats the shape (checked at open).
/// * `ticket`: the next request's ticket (servers take the lowest pending ticket).
/// * `claim_hint`: where the next call starts looking for a free slot (a hint).
/// * `req_seq`: futex word bumped after every published request; `server_sleepers`
///   counts the servers sleeping on it.
/// * `free_seq`: futex word bumped after a slot becomes FREE; `free_sleepers` counts
///   the callers waiting for room.
#[repr(C, align(64))]
pub struct ServiceHeader {
    pub capacity: AtomicU64,
    pub ticket: AtomicU64,
    pub claim_hint: AtomicU64,
    pub req_seq: AtomicU32,
    pub server_sleepers: AtomicU32,
    pub free_seq: AtomicU32,
    pub free_sleepers: AtomicU32,
    pub _reserved: [AtomicU64; 3],
}
const _: () = assert!(size_of::<ServiceHeader>() == 64);

/// One request slot: a cache line.
///
/// * `state`: `generation << 36 | phase << 32 | owner token` (see the module docs).
/// * `ticket`: the request's ticket while PENDING.
/// * `caller`: the caller's owner token (written before PENDING, kept until FREE), to
///   hand the slot back to it at the reply.
/// * `wake`: futex word the caller sleeps on, bumped after every transition a caller
///   waits for; `sleepers`: callers sleeping on it.
/// * `request`, `response`: the values (each owns its heap block, if any, until the
///   slot is freed).
#[repr(C, align(64))]
pub struct ServiceSlot {
    pub state: AtomicU64,
    pub ticket: AtomicU64,
    pub caller: AtomicU32,
    pub wake: AtomicU32,
    pub sleepers: AtomicU32,
    pub _pad: AtomicU32,
    pub request: ValueSlot,
    pub response: ValueSlot,
}
const _: () = assert!(size_of::<ServiceSlot>() == 64);

// SAFETY: #[repr(C)], made only of atomics, valid for every bit pattern.
unsafe impl Shared for ServiceHeader {}
// SAFETY: as above.
unsafe impl Shared for ServiceSlot {}

const OBJ_HEADER: u64 = size_of::<ObjectHeader>() as u64;
const S_HEADER: u64 = size_of::<ServiceHeader>() as u64;
const SLOT: u64 = size_of::<ServiceSlot>() as u64;

// Slot phases.
const FREE: u64 = 0;
const WRITING: u64 = 1;
const PENDING: u64 = 2;
const TAKEN: u64 = 3;
const ABANDONED: u64 = 4;
const REPLIED: u64 = 5;
const FAILED: u64 = 6;
const RECLAIMING: u64 = 7;

const TOKEN_BITS: u64 = (1 << 30) - 1;
const GEN_BITS: u64 = (1 << 28) - 1;

fn state(gen: u32, phase: u64, token: u32) -> u64 {
    (gen as u64 & GEN_BITS) << 36 | phase << 32 | token as u64
}
fn gen_of(s: u64) -> u32 {
    (s >> 36) as u32
}
fn phase_of(s: u64) -> u64 {
    (s >> 32) & 0xf
}
fn owner_of(s: u64) -> u32 {
    (s & TOKEN_BITS) as u32
}
fn next_gen(gen: u32) -> u32 {
    (gen.wrapping_add(1) as u64 & GEN_BITS) as u32
}

fn phase_name(p: u64) -> &'static str {
    match p {
        FREE => "free",
        WRITING => "being written",
        PENDING => "pending",
        TAKEN => "taken",
        ABANDONED => "abandoned",
        REPLIED => "replied",
        FAILED => "replied with an error",
        RECLAIMING => "being freed",
        _ => "invalid",
    }
}

pub(crate) fn body_size(capacity: u64) -> Option<u64> {
    if capacity > u32::MAX as u64 {
        return None;
    }
    capacity
        .checked_mul(SLOT)?
        .checked_add(OBJ_HEADER + S_HEADER)
}

pub(crate) const SERVICE_KIND: KindSpec = KindSpec {
    words: KindWords {
        code: KIND_SERVICE,
        name: "service",
        article: "a",
        shape: "capacity",
        items: "pending requests",
    },
    size_of: body_size,
};

const SLICE_MIN: Duration = Duration::from_millis(1);
const ROOM_SLICE_MAX: Duration = Duration::from_millis(100);

/// A request/response service (see the module docs).
#[derive(Clone)]
pub struct Service {
    held: Held,
    /// Absolute offset of the [`ServiceHeader`].
    base: u64,
    capacity: u64,
    name: String,
}

impl Region {
    /// Opens the service `name`; `capacity > 0` (pending requests) creates it if
    /// missing (an existing one must have that capacity: `Incompatible`), `capacity ==
    /// 0` opens an existing one only (`NotFound`). Flags: [`FLAG_EXCLUSIVE`].
    pub fn service(&self, name: &str, capacity: u64, flags: u32) -> Result<Service> {
        let r = &self.inner;
        r.check_usable()?;
        check_object_name(name)?;
        if flags & !FLAG_EXCLUSIVE != 0 {
            return Err(Error::invalid(format!("unknown service flags {flags:#x}")));
        }
        if capacity > u32::MAX as u64 {
            return Err(Error::invalid(format!(
                "service capacity {capacity} is above the limit {}",
                u32::MAX
            )));
        }
        let (obj, held) = self.open_held(
            name,
            &SERVICE_KIND,
            capacity,
            flags & FLAG_EXCLUSIVE != 0,
            0,
            |off| {
                let h: &ServiceHeader = r.map.get(off + OBJ_HEADER)?;
                h.capacity.store(capacity, Ordering::Relaxed);
                Ok(())
            },
        )?;
        let h: &ServiceHeader = r.map.get(obj.offset + OBJ_HEADER)?;
        if h.capacity.load(Ordering::Relaxed) != obj.shape || obj.shape == 0 {
            return Err(Error::corrupt(format!(
                "service '{name}' has a damaged header"
            )));
        }
        Ok(Service {
            held,
            base: obj.offset + OBJ_HEADER,
            capacity: obj.shape,
            name: name.to_owned(),
        })
    }
}

impl Service {
    /// Maximum number of pending requests.
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

    fn header(&self) -> Result<&ServiceHeader> {
        self.r().map.get(self.base)
    }

    fn slot(&self, index: u64) -> Result<&ServiceSlot> {
        self.r().map.get(self.base + S_HEADER + index * SLOT)
    }

    /// Requests in the service right now: placed and not yet collected by their callers
    /// (pending, taken, or replied to), a snapshot.
    pub fn pending(&self) -> Result<u64> {
        self.r().check_usable()?;
        let mut n = 0;
        for i in 0..self.capacity {
            if phase_of(self.slot(i)?.state.load(Ordering::Acquire)) != FREE {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Sends `request` and waits for its reply (see `crate::semantics::service`).
    pub fn call(&self, request: ValueRef<'_>, timeout: Option<Duration>) -> Result<Value> {
        self.call_until(request, &Deadline::after(timeout), None)
    }

    /// [`Service::call`] with a deadline, running `interrupt`'s check while it waits for
    /// the reply (its error withdraws the request, as a timeout does).
    pub fn call_until(
        &self,
        request: ValueRef<'_>,
        deadline: &Deadline,
        interrupt: Option<&Interrupt<'_>>,
    ) -> Result<Value> {
        let r = self.r();
        r.check_usable()?;
        request.validate()?;
        let h = self.header()?;
        let (slot, gen) = self.claim(h, deadline, interrupt)?;
        // WRITING(me): the slot is ours; a crash from here on leaves it to be reclaimed.
        let p = match prepare_valid_value(r, request) {
            Ok(p) => p,
            Err(e) => {
                free_slot(r, h, slot, gen);
                return Err(e);
            }
        };
        slot.request.payload.store(p.payload, Ordering::Relaxed);
        slot.request.meta.store(p.meta, Ordering::Relaxed);
        slot.caller.store(r.token, Ordering::Relaxed);
        slot.ticket
            .store(h.ticket.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        // Publish: the values and the caller token are visible to whoever sees PENDING.
        slot.state
            .store(state(gen, PENDING, r.token), Ordering::SeqCst);
        h.req_seq.fetch_add(1, Ordering::SeqCst);
        if wait::sleepers_after_change(&h.server_sleepers) != 0 {
            sys::futex_wake(&h.req_seq, 1);
        }
        self.await_reply(h, slot, gen, deadline, interrupt)
    }

    /// Claims a FREE slot (→ WRITING(me)), waiting for room (running `interrupt`'s check
    /// between sleeps: its error leaves nothing behind, no slot is claimed yet). Returns
    /// it and its generation.
    fn claim(
        &self,
        h: &ServiceHeader,
        deadline: &Deadline,
        interrupt: Option<&Interrupt<'_>>,
    ) -> Result<(&ServiceSlot, u32)> {
        let r = self.r();
        let cap = self.capacity;
        let mut slice = SLICE_MIN;
        loop {
            let seen = h.free_seq.load(Ordering::SeqCst);
            let start = h.claim_hint.fetch_add(1, Ordering::Relaxed) % cap;
            for k in 0..cap {
                let slot = self.slot((start + k) % cap)?;
                let s = slot.state.load(Ordering::Acquire);
                if phase_of(s) == FREE
                    && slot
                        .state
                        .compare_exchange(
                            s,
                            state(gen_of(s), WRITING, r.token),
                            Ordering::AcqRel,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                {
                    return Ok((slot, gen_of(s)));
                }
            }
            // Full: free the slots of dead processes, if any, before waiting.
            let mut reclaimed = false;
            for i in 0..cap {
                reclaimed |= reclaim_if_dead(r, h, self.slot(i)?)?;
            }
            if reclaimed {
                continue;
            }
            r.check_usable()?;
            wait::sleep_while_equal(
                &h.free_seq,
                seen,
                &h.free_sleepers,
                1,
                deadline,
                Some(slice),
            )?;
            slice =
                (slice * 2).min(interrupt.map_or(ROOM_SLICE_MAX, |i| i.every.min(ROOM_SLICE_MAX)));
            if let Some(i) = interrupt {
                (i.check)()?;
            }
        }
    }

    /// Waits for the reply to the request in `slot` (generation `gen`), published by
    /// this process.
    fn await_reply(
        &self,
        h: &ServiceHeader,
        slot: &ServiceSlot,
        gen: u32,
        deadline: &Deadline,
        interrupt: Option<&Interrupt<'_>>,
    ) -> Result<Value> {
        let r = self.r();
        let max_slice = interrupt.map_or(DEAD_SERVER_NOTICE, |i| i.every.min(DEAD_SERVER_NOTICE));
        let mut slice = SLICE_MIN.min(max_slice);
        let mut spun = false;
        let mut slept = false;
        loop {
            // `wake` before `state`: a transition after this load moves `wake`, so the
            // sleep below does not miss it.
            let seen = slot.wake.load(Ordering::SeqCst);
            let s = slot.state.load(Ordering::SeqCst);
            if gen_of(s) != gen {
                // Freed by a process that found the server dead.
                return Err(server_died());
            }
            match phase_of(s) {
                REPLIED | FAILED if owner_of(s) == r.token => {
                    return collect(r, h, slot, gen, s);
                }
                PENDING => {}
                TAKEN | ABANDONED => {
                    let server = owner_of(s);
                    if slept && server != r.token && r.procs().token_is_dead(server) {
                        if take_over(r, slot, s) {
                            wait::note_recovered();
                            free_slot(r, h, slot, gen);
                            return Err(server_died());
                        }
                        continue;
                    }
                }
                RECLAIMING => {
                    // Another process found the server dead and is freeing the slot (a
                    // caller waiting for room, the sweep): its free moves the generation
                    // and wakes us. If it died doing so, finish its work.
                    if reclaim_seen_if_dead(r, h, slot, s) {
                        return Err(server_died());
                    }
                }
                p => {
                    return Err(Error::corrupt(format!(
                        "service '{}': a waiting call's request slot is {}",
                        self.name,
                        phase_name(p)
                    )))
                }
            }
            if let Err(e) = r.check_usable() {
                self.withdraw(h, slot, gen);
                return Err(e);
            }
            if !spun {
                spun = true;
                if wait::spin_until(&slot.state, deadline, || {
                    slot.state.load(Ordering::Acquire) != s
                }) {
                    continue;
                }
            }
            match wait::sleep_while_equal(
                &slot.wake,
                seen,
                &slot.sleepers,
                1,
                deadline,
                Some(slice),
            ) {
                Ok(()) => {}
                Err(Error::Timeout) => return self.give_up(h, slot, gen),
                Err(e) => return Err(e),
            }
            slept = true;
            slice = (slice * 2).min(max_slice);
            if let Some(i) = interrupt {
                if let Err(e) = (i.check)() {
                    self.withdraw(h, slot, gen);
                    return Err(e);
                }
            }
        }
    }

    /// The deadline passed: withdraws the request, unless the reply came meanwhile.
    fn give_up(&self, h: &ServiceHeader, slot: &ServiceSlot, gen: u32) -> Result<Value> {
        let r = self.r();
        loop {
            let s = slot.state.load(Ordering::Acquire);
            if gen_of(s) != gen {
                return Err(server_died());
            }
            match phase_of(s) {
                REPLIED | FAILED => return collect(r, h, slot, gen, s),
                PENDING | TAKEN | ABANDONED => {
                    if self.withdraw_once(h, slot, gen, s) {
                        return Err(Error::Timeout);
                    }
                }
                RECLAIMING => {
                    // Being freed by a process that found the server dead (see
                    // await_reply): a few stores away from the next generation.
                    if reclaim_seen_if_dead(r, h, slot, s) {
                        return Err(server_died());
                    }
                    std::thread::yield_now();
                }
                p => {
                    return Err(Error::corrupt(format!(
                        "service '{}': a waiting call's request slot is {}",
                        self.name,
                        phase_name(p)
                    )))
                }
            }
        }
    }

    /// Withdraws the request (the call was interrupted, or the object or region was
    /// removed under it); a reply that came meanwhile is dropped.
    fn withdraw(&self, h: &ServiceHeader, slot: &ServiceSlot, gen: u32) {
        loop {
            let s = slot.state.load(Ordering::Acquire);
            if gen_of(s) != gen {
                return;
            }
            match phase_of(s) {
                REPLIED | FAILED => {
                    let _ = collect(self.r(), h, slot, gen, s);
                    return;
                }
                PENDING | TAKEN => {
                    if self.withdraw_once(h, slot, gen, s) {
                        return;
                    }
                }
                _ => return,
            }
        }
    }

    /// One attempt to withdraw a pending or taken request seen in state `s`: a pending
    /// one is freed, a taken one left to its server marked ABANDONED. False if the state
    /// moved (look again).
    fn withdraw_once(&self, h: &ServiceHeader, slot: &ServiceSlot, gen: u32, s: u64) -> bool {
        let r = self.r();
        match phase_of(s) {
            PENDING => {
                if slot
                    .state
                    .compare_exchange(
                        s,
                        state(gen, RECLAIMING, r.token),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    free_slot(r, h, slot, gen);
                    return true;
                }
                false
            }
            TAKEN => slot
                .state
                .compare_exchange(
                    s,
                    state(gen, ABANDONED, owner_of(s)),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok(),
            _ => true,
        }
    }

    /// Takes the oldest pending request, waiting for one. Returns its id and value.
    pub fn next(&self, timeout: Option<Duration>) -> Result<(RequestId, Value)> {
        self.next_until(&Deadline::after(timeout))
    }

    /// [`Service::next`] with a deadline.
    pub fn next_until(&self, deadline: &Deadline) -> Result<(RequestId, Value)> {
        let r = self.r();
        r.check_usable()?;
        let h = self.header()?;
        let mut spun = false;
        loop {
            let seen = h.req_seq.load(Ordering::SeqCst);
            if let Some(got) = self.take_oldest()? {
                return Ok(got);
            }
            if !spun {
                spun = true;
                if wait::spin_until(&h.req_seq, deadline, || {
                    h.req_seq.load(Ordering::Acquire) != seen
                }) {
                    continue;
                }
            }
            // The removal word before the check: a removal after this load wakes the
            // sleep below, one before it fails the check.
            let removal = r.removed_word();
            let removal_seen = removal.load(Ordering::SeqCst);
            r.check_usable()?;
            wait::sleep_while_equal_or_removed(
                &h.req_seq,
                seen,
                &h.server_sleepers,
                1,
                deadline,
                removal,
                removal_seen,
            )?;
            r.check_usable()?;
        }
    }

    /// Takes the pending request with the lowest ticket, if any (PENDING → TAKEN(me)).
    fn take_oldest(&self) -> Result<Option<(RequestId, Value)>> {
        let r = self.r();
        loop {
            let mut best: Option<(u64, u64, u64)> = None; // (ticket, index, state)
            for i in 0..self.capacity {
                let slot = self.slot(i)?;
                let s = slot.state.load(Ordering::Acquire);
                if phase_of(s) != PENDING {
                    continue;
                }
                let t = slot.ticket.load(Ordering::Relaxed);
                if best.is_none_or(|(bt, _, _)| t < bt) {
                    best = Some((t, i, s));
                }
            }
            let Some((_, i, s)) = best else {
                return Ok(None);
            };
            let slot = self.slot(i)?;
            let gen = gen_of(s);
            if slot
                .state
                .compare_exchange(
                    s,
                    state(gen, TAKEN, r.token),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_err()
            {
                continue;
            }
            // TAKEN(me): the request stays in place until the slot is freed.
            let id = make_id(i, gen);
            return match decode(r, &slot.request) {
                Ok(v) => Ok(Some((id, v))),
                Err(e) => {
                    let msg = format!("the request could not be read: {e}");
                    let _ = self.reply_with(id, Reply::Error(&msg));
                    Err(e)
                }
            };
        }
    }

    /// Answers request `id` (taken by this region handle) with `response`.
    pub fn reply(&self, id: RequestId, response: ValueRef<'_>) -> Result<()> {
        self.reply_with(id, Reply::Value(response))
    }

    /// Answers request `id` with an error: the caller's call fails with
    /// `Error::Service(message)`.
    pub fn reply_error(&self, id: RequestId, message: &str) -> Result<()> {
        self.reply_with(id, Reply::Error(message))
    }

    fn reply_with(&self, id: RequestId, reply: Reply<'_>) -> Result<()> {
        let r = self.r();
        r.check_usable()?;
        let (value, is_error) = reply.stored()?;
        let (index, gen) = split_id(id, self.capacity, &self.name)?;
        let h = self.header()?;
        let slot = self.slot(index)?;
        let s = slot.state.load(Ordering::Acquire);
        let not_ours = |why: &str| {
            Err(Error::invalid(format!(
                "request {id:#x} of service '{}' {why}",
                self.name
            )))
        };
        if gen_of(s) != gen {
            return not_ours("is not pending (already answered, or its caller gave up)");
        }
        match phase_of(s) {
            TAKEN | ABANDONED if owner_of(s) == r.token => {}
            TAKEN | ABANDONED => return not_ours("was taken by another server"),
            REPLIED | FAILED => return not_ours("was already replied to"),
            _ => return not_ours("was not taken with next"),
        }
        if phase_of(s) == ABANDONED {
            discard(r, h, slot, gen, s);
            return Ok(());
        }
        let p = prepare_valid_value(r, value)?;
        // TAKEN(me): the response words are ours to write.
        slot.response.payload.store(p.payload, Ordering::Relaxed);
        slot.response.meta.store(p.meta, Ordering::Relaxed);
        let caller = slot.caller.load(Ordering::Relaxed);
        let phase = if is_error { FAILED } else { REPLIED };
        match slot.state.compare_exchange(
            s,
            state(gen, phase, caller),
            Ordering::SeqCst,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                wake_caller(slot);
                Ok(())
            }
            Err(now) => {
                // Only the caller changes a TAKEN(me) slot: it gave up (ABANDONED).
                discard(r, h, slot, gen, now);
                Ok(())
            }
        }
    }
}

// ---- slot steps shared by calls, servers and the sweep ----

/// Decodes a value slot's value.
fn decode(r: &RegionInner, v: &ValueSlot) -> Result<Value> {
    decode_value(
        v.meta.load(Ordering::Relaxed),
        v.payload.load(Ordering::Relaxed),
        |off, len| copy_blob(r, off, len),
    )
}

fn wake_caller(slot: &ServiceSlot) {
    slot.wake.fetch_add(1, Ordering::SeqCst);
    wait::wake_all(&slot.wake, &slot.sleepers, u32::MAX);
}

/// The caller's end of a replied request (state `s`, owned by the caller): copies the
/// response out and frees the slot.
fn collect(
    r: &RegionInner,
    h: &ServiceHeader,
    slot: &ServiceSlot,
    gen: u32,
    s: u64,
) -> Result<Value> {
    let v = decode(r, &slot.response);
    free_slot(r, h, slot, gen);
    match (phase_of(s), v) {
        (FAILED, Ok(Value::String(m))) => Err(handler_error(m)),
        (FAILED, Ok(_)) => Err(handler_error("the handler failed".into())),
        (_, v) => v,
    }
}

/// A server's reply to an abandoned request (state `s`, ABANDONED(me)): drops it.
fn discard(r: &RegionInner, h: &ServiceHeader, slot: &ServiceSlot, gen: u32, s: u64) {
    if phase_of(s) == ABANDONED
        && slot
            .state
            .compare_exchange(
                s,
                state(gen, RECLAIMING, r.token),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    {
        free_slot(r, h, slot, gen);
    }
}

/// Moves a slot seen in state `s` (whose owner is dead) to RECLAIMING(me). False if the
/// state moved meanwhile.
fn take_over(r: &RegionInner, slot: &ServiceSlot, s: u64) -> bool {
    slot.state
        .compare_exchange(
            s,
            state(gen_of(s), RECLAIMING, r.token),
            Ordering::AcqRel,
            Ordering::Relaxed,
        )
        .is_ok()
}

/// By the slot's owner: frees both values' heap blocks (each `free_at` clears its word,
/// so a free cut short by a crash is finished by whoever reclaims the slot next), then
/// makes the slot FREE of the next generation and wakes whoever waits for it.
fn free_slot(r: &RegionInner, h: &ServiceHeader, slot: &ServiceSlot, gen: u32) {
    for v in [&slot.request, &slot.response] {
        // A failure here (a damaged heap) leaves the block to the checker; the slot is
        // freed regardless so that the service keeps working.
        let _ = release_value(r, v);
        v.payload.store(0, Ordering::Relaxed);
        v.meta.store(0, Ordering::Relaxed);
    }
    slot.caller.store(0, Ordering::Relaxed);
    slot.state
        .store(state(next_gen(gen), FREE, 0), Ordering::SeqCst);
    wake_caller(slot);
    h.free_seq.fetch_add(1, Ordering::SeqCst);
    wait::wake_all(&h.free_seq, &h.free_sleepers, u32::MAX);
}

/// Frees `slot` if the process its state names (owner or reclaimer) is dead: takes it
/// over (RECLAIMING, this process's token) and frees it. False when that process lives,
/// when the slot is FREE, or when the state moved on.
fn reclaim_if_dead(r: &RegionInner, h: &ServiceHeader, slot: &ServiceSlot) -> Result<bool> {
    Ok(reclaim_seen_if_dead(
        r,
        h,
        slot,
        slot.state.load(Ordering::Acquire),
    ))
}

/// [`reclaim_if_dead`] for the state `s` already read (a waiting caller that sees its
/// slot RECLAIMING finishes the free of a reclaimer that died).
fn reclaim_seen_if_dead(r: &RegionInner, h: &ServiceHeader, slot: &ServiceSlot, s: u64) -> bool {
    let owner = owner_of(s);
    if phase_of(s) == FREE || owner == 0 || owner == r.token || !r.procs().token_is_dead(owner) {
        return false;
    }
    if !take_over(r, slot, s) {
        return false;
    }
    wait::note_recovered();
    free_slot(r, h, slot, gen_of(s));
    true
}

// ---- crash recovery, checker and sweep ----

pub(crate) const OPS: KindOps = KindOps {
    spec: &SERVICE_KIND,
    label: |_| "service",
    scan,
    sweep,
    release,
};

fn slot_at<'a>(r: &'a RegionInner, o: &Placed<'_>, j: u64) -> Result<&'a ServiceSlot> {
    r.map.get(o.body + S_HEADER + j * SLOT)
}

/// Frees the heap blocks of every request and response a removed service still holds.
fn release(r: &RegionInner, o: &Placed<'_>) -> Result<()> {
    for j in 0..o.shape {
        let s = slot_at(r, o, j)?;
        release_value(r, &s.request)?;
        release_value(r, &s.response)?;
    }
    Ok(())
}

fn sweep(r: &RegionInner, o: &Placed<'_>, done: &mut Swept) -> Result<()> {
    let h: &ServiceHeader = r.map.get(o.body)?;
    for j in 0..o.shape {
        if reclaim_if_dead(r, h, slot_at(r, o, j)?)? {
            done.requests = done.requests.saturating_add(1);
        }
    }
    Ok(())
}

fn scan(sc: &mut Scan<'_>, o: &Placed<'_>) {
    let (loc, base, capacity) = (o.loc, o.body, o.shape);
    let Ok(h) = sc.map.get::<ServiceHeader>(base) else {
        return;
    };
    if h.capacity.load(Ordering::Relaxed) != capacity {
        sc.problem(loc, "damaged header (capacity)");
        return;
    }
    for i in 0..capacity {
        let Ok(s) = sc.map.get::<ServiceSlot>(base + S_HEADER + i * SLOT) else {
            return;
        };
        let st = s.state.load(Ordering::Acquire);
        let sloc = || format!("{loc} request slot {i}");
        let (phase, owner) = (phase_of(st), owner_of(st));
        if st & (3 << 30) != 0 || phase > RECLAIMING || (phase == FREE) != (owner == 0) {
            sc.problem(sloc(), format!("invalid state {st:#x}"));
            continue;
        }
        if phase == FREE {
            continue;
        }
        if !sc.token_alive(owner) {
            let msg = format!(
                "a request {} left by {} (the next caller or sweep frees it)",
                phase_name(phase),
                sc.gone(owner)
            );
            sc.stale(sloc(), msg);
        }
        for (what, v) in [("request", &s.request), ("response", &s.response)] {
            let (m, p) = (
                v.meta.load(Ordering::Relaxed),
                v.payload.load(Ordering::Relaxed),
            );
            if meta_in_heap(m) && p == 0 {
                continue; // being freed
            }
            sc.value(m, p, true, &|| format!("{} {what}", sloc()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::kinds::unit_region;

    /// A waiting call whose server died while a third process frees the slot (seen
    /// RECLAIMING): the call waits for that free and ends with OwnerDead; if the
    /// reclaimer died too, the call finishes the free itself. Never `Corrupt`.
    #[test]
    fn a_call_whose_slot_another_process_reclaims_ends_with_owner_dead() {
        let (region, name) = unit_region("service-reclaim");
        let svc = region.service("svc", 1, 0).unwrap();
        let r = svc.r();
        let token = r.token;
        // A token of this process's table slot with another generation: a dead process.
        let dead = token ^ (1 << 10);
        assert!(r.procs().token_is_dead(dead) && !r.procs().token_is_dead(token));
        for reclaimer_dies in [false, true] {
            let caller = svc.clone();
            let call = std::thread::spawn(move || {
                caller.call(ValueRef::Int(1), Some(Duration::from_secs(20)))
            });
            let h = svc.header().unwrap();
            let slot = svc.slot(0).unwrap();
            let pending = loop {
                let s = slot.state.load(Ordering::SeqCst);
                if phase_of(s) == PENDING {
                    break s;
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            let gen = gen_of(pending);
            // A server (dead by now) took it; then a reclaimer (alive: this process, as
            // another caller or the sweep would; or dead) started freeing it.
            let reclaimer = if reclaimer_dies { dead } else { token };
            slot.state.store(state(gen, TAKEN, dead), Ordering::SeqCst);
            slot.state
                .store(state(gen, RECLAIMING, reclaimer), Ordering::SeqCst);
            wake_caller(slot);
            std::thread::sleep(Duration::from_millis(200));
            if !reclaimer_dies {
                assert!(!call.is_finished(), "the call must wait for the free");
                free_slot(r, h, slot, gen);
            }
            match call.join().unwrap() {
                Err(Error::OwnerDead) => {}
                other => panic!("reclaimer dies: {reclaimer_dies}: {other:?}"),
            }
            assert_eq!(phase_of(slot.state.load(Ordering::SeqCst)), FREE);
            assert_eq!(gen_of(slot.state.load(Ordering::SeqCst)), next_gen(gen));
        }
        drop((svc, region));
        Region::remove(&name).unwrap();
    }
}
