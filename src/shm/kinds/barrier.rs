//! Barriers: `parties` processes (or threads) meet, round after round.
//!
//! The whole state is one 64-bit word, `generation << 32 | arrived` ([`BarrierBody`]):
//!
//! * Arrive: a CAS adds 1 to `arrived`. The last party of a round (arrived + 1 ==
//!   parties) instead replaces the word by `(generation + 1) << 32` with one CAS — the
//!   round is complete, and the barrier is ready for the next one — then bumps the `seq`
//!   futex word and wakes the sleepers.
//! * Wait: until the generation differs from the one arrived in (spin briefly, then
//!   sleep on `seq`, in slices so that a last party that died between its CAS and the
//!   wake-up cannot strand anyone).
//! * Timeout: the waiter withdraws its arrival with a CAS that subtracts 1 and succeeds
//!   only while the generation is unchanged: then it returns `Timeout` as if it had never
//!   arrived; if the round completed meanwhile it passed the barrier and returns `Ok`.
//!
//! The CASes are acquire-release on one word, so everything a party wrote before it
//! arrived happens before everything any party does after it passes.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::names::check_object_name;
use crate::semantics::open::KindWords;
use crate::shm::format::layout::*;
use crate::shm::format::region::{Held, KindSpec, Region};
use crate::shm::kinds::{nothing_to_sweep, KindOps};
use crate::shm::os::mem::Shared;
use crate::shm::wait::{self, Deadline};
use std::mem::{align_of, size_of};

// ---- layout (in the region file) ----

/// The body of a barrier, right after its [`ObjectHeader`] (directory shape: parties).
///
/// * `state`: `generation << 32 | arrived`. An arrival adds 1; the last arrival of a
///   round (arrived + 1 == parties) replaces it by `(generation + 1) << 32` with one
///   compare-and-swap; a timed-out waiter withdraws with a CAS that subtracts 1 and
///   succeeds only while the generation is unchanged.
/// * `seq`: futex word, bumped after every completed round (after `state`).
/// * `sleepers`: processes sleeping on `seq`.
/// * `parties`: repeats the shape (checked at open).
#[repr(C, align(64))]
pub struct BarrierBody {
    pub state: AtomicU64,
    pub seq: AtomicU32,
    pub sleepers: AtomicU32,
    pub parties: AtomicU32,
    pub _pad: AtomicU32,
    pub _reserved: [AtomicU64; 5],
}
const _: () = assert!(size_of::<BarrierBody>() == 64 && align_of::<BarrierBody>() == 64);

// SAFETY: #[repr(C)], made only of atomics, valid for every bit pattern.
unsafe impl Shared for BarrierBody {}

const OBJ_HEADER: u64 = std::mem::size_of::<ObjectHeader>() as u64;
const BODY: u64 = OBJ_HEADER + std::mem::size_of::<BarrierBody>() as u64;

pub(crate) const BARRIER_KIND: KindSpec = KindSpec {
    words: KindWords {
        code: KIND_BARRIER,
        name: "barrier",
        article: "a",
        shape: "parties",
        items: "parties",
    },
    size_of: |parties| (parties <= u32::MAX as u64).then_some(BODY),
};
/// Longest sleep between checks of the state word (recovers a wake-up lost with a party
/// that died after completing a round).
const SLICE: Duration = Duration::from_millis(100);

/// A reusable barrier for a fixed number of parties (see the module docs).
#[derive(Clone)]
pub struct Barrier {
    held: Held,
    /// Absolute offset of the [`BarrierBody`].
    base: u64,
    parties: u32,
    name: String,
}

impl Region {
    /// Opens the barrier `name`; `parties > 0` creates it if missing (an existing one
    /// must have that many parties: `Incompatible`), `parties == 0` opens an existing one
    /// only (`NotFound`). `TypeMismatch` if another kind of object has that name.
    pub fn barrier(&self, name: &str, parties: u32) -> Result<Barrier> {
        let r = &self.inner;
        r.check_usable()?;
        check_object_name(name)?;
        let (obj, held) = self.open_held(name, &BARRIER_KIND, parties as u64, false, 0, |off| {
            let b: &BarrierBody = r.map.get(off + OBJ_HEADER)?;
            b.parties.store(parties, Ordering::Relaxed);
            Ok(())
        })?;
        let b: &BarrierBody = r.map.get(obj.offset + OBJ_HEADER)?;
        let stored = b.parties.load(Ordering::Relaxed);
        if stored as u64 != obj.shape || stored == 0 {
            return Err(Error::corrupt(format!(
                "barrier '{name}' has a damaged header"
            )));
        }
        Ok(Barrier {
            held,
            base: obj.offset + OBJ_HEADER,
            parties: stored,
            name: name.to_owned(),
        })
    }
}

impl Barrier {
    /// Number of parties that meet in each round.
    pub fn parties(&self) -> u32 {
        self.parties
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

    fn body(&self) -> Result<&BarrierBody> {
        self.r().map.get(self.base)
    }

    /// Number of parties that have arrived in the current round (a snapshot).
    pub fn arrived(&self) -> Result<u32> {
        self.r().check_usable()?;
        Ok(self.body()?.state.load(Ordering::Acquire) as u32)
    }

    /// Arrives and waits until all parties have arrived in this round, for at most
    /// `timeout` (`None`: without limit; `Some(ZERO)`: only completes a round the others
    /// are already waiting in). `Ok(true)` for the party whose arrival completed the
    /// round (exactly one per round), `Ok(false)` for the others. `Timeout`: the round
    /// did not complete in time and this arrival was withdrawn, as if it never happened.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        self.wait_until(&Deadline::after(timeout))
    }

    /// [`Barrier::wait`] with a deadline.
    pub fn wait_until(&self, deadline: &Deadline) -> Result<bool> {
        self.r().check_usable()?;
        let b = self.body()?;
        let parties = self.parties;
        let mut v = b.state.load(Ordering::Relaxed);
        let generation = loop {
            let (generation, arrived) = ((v >> 32) as u32, v as u32);
            if arrived >= parties {
                return Err(Error::corrupt(format!(
                    "barrier '{}' counts {arrived} arrivals of {parties} parties",
                    self.name
                )));
            }
            let last = arrived + 1 == parties;
            let new = if last {
                (generation.wrapping_add(1) as u64) << 32
            } else {
                v + 1
            };
            match b
                .state
                .compare_exchange_weak(v, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) if last => {
                    b.seq.fetch_add(1, Ordering::SeqCst);
                    wait::wake_all(&b.seq, &b.sleepers, u32::MAX);
                    return Ok(true);
                }
                Ok(_) => break generation,
                Err(now) => v = now,
            }
        };
        let passed = || (b.state.load(Ordering::Acquire) >> 32) as u32 != generation;
        if wait::spin_until(b, deadline, passed) {
            return Ok(false);
        }
        loop {
            // Read `seq` before checking the state: a round completed after this load
            // changes `seq` too, so the sleep below returns at once.
            let seen = b.seq.load(Ordering::SeqCst);
            if passed() {
                return Ok(false);
            }
            match wait::sleep_while_equal(&b.seq, seen, &b.sleepers, 1, deadline, Some(SLICE)) {
                Ok(()) => {}
                Err(Error::Timeout) => return self.withdraw(b, generation),
                Err(e) => return Err(e),
            }
            self.r().check_usable()?;
        }
    }

    /// Takes back an arrival made in `generation`: `Timeout` if it was taken back, `Ok`
    /// if the round completed first (the caller passed the barrier after all).
    fn withdraw(&self, b: &BarrierBody, generation: u32) -> Result<bool> {
        let mut v = b.state.load(Ordering::Acquire);
        loop {
            if (v >> 32) as u32 != generation {
                return Ok(false);
            }
            if v as u32 == 0 {
                return Err(Error::corrupt(format!(
                    "barrier '{}' lost an arrival",
                    self.name
                )));
            }
            match b
                .state
                .compare_exchange_weak(v, v - 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Err(Error::Timeout),
                Err(now) => v = now,
            }
        }
    }
}

// ---- checker and sweep ----

pub(crate) const OPS: KindOps = KindOps {
    spec: &BARRIER_KIND,
    label: |_| "barrier",
    scan: |sc, o| {
        if let Ok(b) = sc.map.get::<BarrierBody>(o.body) {
            let parties = b.parties.load(Ordering::Relaxed);
            let arrived = b.state.load(Ordering::Relaxed) as u32;
            if parties as u64 != o.shape || parties == 0 {
                sc.problem(
                    o.loc,
                    format!("parties {parties}, the directory says {}", o.shape),
                );
            } else if arrived >= parties {
                sc.problem(o.loc, format!("{arrived} arrivals of {parties} parties"));
            }
        }
    },
    // A barrier holds no lock and no heap block: a party that dies is simply missing
    // (the others time out), so nothing is left to clean up.
    sweep: nothing_to_sweep,
    release: crate::shm::kinds::nothing_to_release,
};
