//! Semaphores: `permits` permits shared by processes, returned when a holder dies.
//!
//! A semaphore body is a [`SemaphoreHeader`] and a table of holder records
//! ([`SemaphoreHolder`]: owner token, count), all under one robust lock:
//!
//! * Acquire: under the lock, if `available > 0`, count the permit in the caller's
//!   record (its token's record, or a free one), then decrement `available`.
//! * Release: under the lock, decrement the caller's record (an error if it holds none),
//!   increment `available`, then bump the `seq` futex word and wake the sleepers.
//! * Recount: after taking the lock over from a dead owner, and whenever an acquirer
//!   finds no permit, records of dead tokens are dropped and `available` is recomputed
//!   as `permits` minus the counts of the live records. So a holder killed at any point
//!   loses its permits to the others (the record is written before `available` moves,
//!   and a recount trusts only the records), and a process that died holding permits
//!   gives them back to the next process that needs one.
//! * Waiting: acquirers spin briefly while `available` is 0, then sleep on `seq` in
//!   slices (1 ms doubling to 100 ms), recounting after each, since a holder that dies
//!   never wakes anyone.
//!
//! Permits belong to the attachment (region handle) that acquired them, not to a thread:
//! any thread may release a permit its region handle holds. Closing the region handle
//! gives its permits back like a death does.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::names::check_object_name;
use crate::semantics::open::KindWords;
use crate::shm::format::layout::*;
use crate::shm::format::region::{Held, KindSpec, Region, RegionInner, SWEEP_LOCK_WAIT};
use crate::shm::format::scan::Scan;
use crate::shm::kinds::{KindOps, Placed, Swept};
use crate::shm::os::mem::Shared;
use crate::shm::wait::{self, Acquired, Deadline};
use std::mem::size_of;

// ---- layout (in the region file) ----

/// The semaphore-wide part of a semaphore body, right after its [`ObjectHeader`]
/// (directory shape: permits). The body then holds `records` [`SemaphoreHolder`]s.
///
/// * `lock`: robust lock (owner token) over `available` and the holder records.
/// * `seq`: futex word bumped after every release; waiters for a permit sleep on it.
/// * `sleepers`: processes sleeping on `seq`.
/// * `permits`: repeats the shape (checked at open).
/// * `available`: permits not held. Changed under `lock`; recomputed as `permits` minus
///   the counts of the records of live holders whenever the lock is taken over from a
///   dead owner, or a waiter finds no permit (so permits of dead holders come back).
/// * `records`: number of holder records, `min(permits, PROC_CAPACITY)`.
#[repr(C, align(64))]
pub struct SemaphoreHeader {
    pub lock: AtomicU32,
    pub seq: AtomicU32,
    pub sleepers: AtomicU32,
    pub permits: AtomicU32,
    pub available: AtomicU32,
    pub records: AtomicU32,
    pub _reserved: [AtomicU64; 5],
}
const _: () = assert!(size_of::<SemaphoreHeader>() == 64);

/// Who holds permits of a semaphore: `token` (an attachment's owner token, 0 = unused
/// record) holds `count` permits. Changed only under the semaphore's lock; the token is
/// written before the count grows from 0 and cleared after it drops to 0.
#[repr(C)]
pub struct SemaphoreHolder {
    pub token: AtomicU32,
    pub count: AtomicU32,
}
const _: () = assert!(size_of::<SemaphoreHolder>() == 8);

// SAFETY: #[repr(C)], made only of atomics, valid for every bit pattern.
unsafe impl Shared for SemaphoreHeader {}
// SAFETY: as above.
unsafe impl Shared for SemaphoreHolder {}

const OBJ_HEADER: u64 = std::mem::size_of::<ObjectHeader>() as u64;
const S_HEADER: u64 = std::mem::size_of::<SemaphoreHeader>() as u64;
const RECORD: u64 = std::mem::size_of::<SemaphoreHolder>() as u64;

/// Number of holder records of a semaphore of `permits` permits: one per permit, but no
/// more than there can be attachments (each live holder needs one record).
pub(crate) fn records_for(permits: u32) -> u32 {
    permits.min(PROC_CAPACITY)
}

pub(crate) fn body_size(records: u32) -> u64 {
    OBJ_HEADER + S_HEADER + records as u64 * RECORD
}

/// The size of a semaphore of `permits` permits, header included.
fn semaphore_size(permits: u64) -> Option<u64> {
    u32::try_from(permits)
        .ok()
        .map(|p| body_size(records_for(p)))
}

pub(crate) const SEMAPHORE_KIND: KindSpec = KindSpec {
    words: KindWords {
        code: KIND_SEMAPHORE,
        name: "semaphore",
        article: "a",
        shape: "permits",
        items: "permits",
    },
    size_of: semaphore_size,
};

const SLICE_MIN: Duration = Duration::from_millis(1);
const SLICE_MAX: Duration = Duration::from_millis(100);

/// A counting semaphore whose permits come back when their holder dies (see the module
/// docs).
#[derive(Clone)]
pub struct Semaphore {
    held: Held,
    /// Absolute offset of the [`SemaphoreHeader`].
    base: u64,
    permits: u32,
    records: u32,
    name: String,
}

impl Region {
    /// Opens the semaphore `name`; `permits > 0` creates it if missing (with all
    /// permits available; an existing one must have that many permits: `Incompatible`),
    /// `permits == 0` opens an existing one only (`NotFound`). `TypeMismatch` if another
    /// kind of object has that name.
    pub fn semaphore(&self, name: &str, permits: u32) -> Result<Semaphore> {
        let r = &self.inner;
        r.check_usable()?;
        check_object_name(name)?;
        let records = records_for(permits);
        let (obj, held) =
            self.open_held(name, &SEMAPHORE_KIND, permits as u64, false, 0, |off| {
                let h: &SemaphoreHeader = r.map.get(off + OBJ_HEADER)?;
                h.permits.store(permits, Ordering::Relaxed);
                h.available.store(permits, Ordering::Relaxed);
                h.records.store(records, Ordering::Relaxed);
                Ok(())
            })?;
        let damaged = || Error::corrupt(format!("semaphore '{name}' has a damaged header"));
        let shape = u32::try_from(obj.shape).map_err(|_| damaged())?;
        let records = records_for(shape);
        let h: &SemaphoreHeader = r.map.get(obj.offset + OBJ_HEADER)?;
        if shape == 0
            || h.permits.load(Ordering::Relaxed) != shape
            || h.records.load(Ordering::Relaxed) != records
        {
            return Err(damaged());
        }
        Ok(Semaphore {
            held,
            base: obj.offset + OBJ_HEADER,
            permits: shape,
            records,
            name: name.to_owned(),
        })
    }
}

impl Semaphore {
    /// Number of permits, fixed at creation.
    pub fn permits(&self) -> u32 {
        self.permits
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

    fn header(&self) -> Result<&SemaphoreHeader> {
        self.r().map.get(self.base)
    }

    fn record(&self, i: u32) -> Result<&SemaphoreHolder> {
        self.r().map.get_nth(self.base + S_HEADER, i as u64)
    }

    /// Permits not held right now (a snapshot; permits of a holder that died count as
    /// held until some acquirer needs them and takes them back).
    pub fn available(&self) -> Result<u32> {
        self.r().check_usable()?;
        Ok(self
            .header()?
            .available
            .load(Ordering::Acquire)
            .min(self.permits))
    }

    /// Permits this region handle holds (over all its threads).
    pub fn held(&self) -> Result<u32> {
        self.r().check_usable()?;
        let token = self.r().token;
        self.locked(|_| {
            for i in 0..self.records {
                let rec = self.record(i)?;
                if rec.token.load(Ordering::Relaxed) == token {
                    return Ok(rec.count.load(Ordering::Relaxed));
                }
            }
            Ok(0)
        })
    }

    /// Takes one permit, waiting up to `timeout` (`None`: without limit, `Some(ZERO)`:
    /// try once) while none is available. `Timeout` if none became available.
    pub fn acquire(&self, timeout: Option<Duration>) -> Result<()> {
        self.acquire_until(&Deadline::after(timeout))
    }

    /// [`Semaphore::acquire`] with a deadline.
    pub fn acquire_until(&self, deadline: &Deadline) -> Result<()> {
        self.r().check_usable()?;
        let h = self.header()?;
        let mut spun = false;
        let mut slice = SLICE_MIN;
        loop {
            let seen = h.seq.load(Ordering::SeqCst);
            if self.locked(|h| self.take(h))? {
                return Ok(());
            }
            if !spun {
                spun = true;
                if wait::spin_until(h, deadline, || h.available.load(Ordering::Relaxed) > 0) {
                    continue;
                }
            }
            wait::sleep_while_equal(&h.seq, seen, &h.sleepers, 1, deadline, Some(slice))?;
            self.r().check_usable()?;
            slice = (slice * 2).min(SLICE_MAX);
        }
    }

    /// Gives back one permit held by this region handle (`InvalidArgument` if it holds
    /// none) and wakes the processes waiting for one.
    pub fn release(&self) -> Result<()> {
        self.r().check_usable()?;
        let h = self.header()?;
        let token = self.r().token;
        self.locked(|h| {
            for i in 0..self.records {
                let rec = self.record(i)?;
                if rec.token.load(Ordering::Relaxed) != token {
                    continue;
                }
                let count = rec.count.load(Ordering::Relaxed);
                if count == 0 {
                    break;
                }
                rec.count.store(count - 1, Ordering::Relaxed);
                if count == 1 {
                    rec.token.store(0, Ordering::Relaxed);
                }
                let available = h.available.load(Ordering::Relaxed);
                h.available.store(
                    available.saturating_add(1).min(self.permits),
                    Ordering::Relaxed,
                );
                return Ok(());
            }
            Err(Error::invalid(format!(
                "release of semaphore '{}' by a region handle that holds none of its permits",
                self.name
            )))
        })?;
        h.seq.fetch_add(1, Ordering::SeqCst);
        wait::wake_all(&h.seq, &h.sleepers, u32::MAX);
        Ok(())
    }

    /// Runs `f` under the semaphore's lock, recounting first if the lock was taken over
    /// from a dead owner.
    fn locked<T>(&self, f: impl FnOnce(&SemaphoreHeader) -> Result<T>) -> Result<T> {
        let r = self.r();
        let h = self.header()?;
        let how = wait::lock_internal(&h.lock, r.token, &Deadline::forever(), &r.procs())?;
        let result = (|| {
            if how == Acquired::Recovered {
                self.recount(h)?;
            }
            f(h)
        })();
        wait::unlock(&h.lock);
        result
    }

    /// Under the lock: takes a permit if one is available (after a recount if none
    /// seems to be). Returns whether it took one.
    fn take(&self, h: &SemaphoreHeader) -> Result<bool> {
        if h.available.load(Ordering::Relaxed) == 0 {
            self.recount(h)?;
            if h.available.load(Ordering::Relaxed) == 0 {
                return Ok(false);
            }
        }
        let token = self.r().token;
        let mut mine = None;
        let mut free = None;
        for i in 0..self.records {
            let rec = self.record(i)?;
            match rec.token.load(Ordering::Relaxed) {
                t if t == token => {
                    mine = Some(rec);
                    break;
                }
                0 if free.is_none() => free = Some(rec),
                _ => {}
            }
        }
        let rec = match (mine, free) {
            (Some(rec), _) | (None, Some(rec)) => rec,
            (None, None) => {
                // Only records of dead holders can fill the table while a permit is free
                // (there are no more live attachments than records): drop them.
                self.recount(h)?;
                self.free_record()?.ok_or_else(|| {
                    Error::NoSpace(format!(
                        "semaphore '{}' has no free holder record",
                        self.name
                    ))
                })?
            }
        };
        // The record first, then `available`: a holder killed in between is found by the
        // recount, which trusts only the records.
        let count = rec.count.load(Ordering::Relaxed);
        if count >= self.permits {
            // Holding every permit while one is available: the record is damaged.
            return Err(Error::corrupt(format!(
                "semaphore '{}': a holder record counts {count} of {} permits",
                self.name, self.permits
            )));
        }
        rec.token.store(token, Ordering::Relaxed);
        rec.count.store(count + 1, Ordering::Relaxed);
        let available = h.available.load(Ordering::Relaxed);
        h.available.store(available - 1, Ordering::Relaxed);
        Ok(true)
    }

    /// Under the lock: the first unused holder record.
    fn free_record(&self) -> Result<Option<&SemaphoreHolder>> {
        for i in 0..self.records {
            let rec = self.record(i)?;
            if rec.token.load(Ordering::Relaxed) == 0 {
                return Ok(Some(rec));
            }
        }
        Ok(None)
    }

    /// Under the lock: [`recount`].
    fn recount(&self, _h: &SemaphoreHeader) -> Result<()> {
        recount(self.r(), self.base, self.permits, self.records).map(|_| ())
    }
}

// ---- crash recovery, checker and sweep ----

/// Under the semaphore lock (semaphore header at `base`): drops the records of dead
/// holders and recomputes `available` from the records left (the records are the truth:
/// a holder killed between its record and `available` is caught here). Returns how many
/// dead holders' records it dropped. Acquirers and the sweep both use this.
fn recount(r: &RegionInner, base: u64, permits: u32, records: u32) -> Result<u32> {
    let h: &SemaphoreHeader = r.map.get(base)?;
    let procs = r.procs();
    let mut held: u64 = 0;
    let mut dropped = 0;
    for i in 0..records {
        let rec: &SemaphoreHolder = r.map.get_nth(base + S_HEADER, i as u64)?;
        let token = rec.token.load(Ordering::Relaxed);
        if token == 0 {
            continue;
        }
        let count = rec.count.load(Ordering::Relaxed);
        if count == 0 || (token != r.token && procs.token_is_dead(token)) {
            rec.count.store(0, Ordering::Relaxed);
            rec.token.store(0, Ordering::Relaxed);
            if count != 0 {
                wait::note_recovered();
                dropped += 1;
            }
            continue;
        }
        held += count as u64;
    }
    let available = (permits as u64).saturating_sub(held) as u32;
    h.available.store(available, Ordering::Relaxed);
    Ok(dropped)
}

pub(crate) const OPS: KindOps = KindOps {
    spec: &SEMAPHORE_KIND,
    label: |_| "semaphore",
    scan,
    sweep,
    release: crate::shm::kinds::nothing_to_release,
};

fn sweep(r: &RegionInner, o: &Placed<'_>, done: &mut Swept) -> Result<()> {
    let h: &SemaphoreHeader = r.map.get(o.body)?;
    let permits = h.permits.load(Ordering::Relaxed);
    let records = records_for(permits);
    if permits as u64 != o.shape || h.records.load(Ordering::Relaxed) != records {
        return Err(Error::corrupt("semaphore header is damaged"));
    }
    let procs = r.procs();
    let mut dead_holder = false;
    for j in 0..records {
        let rec: &SemaphoreHolder = r.map.get_nth(o.body + S_HEADER, j as u64)?;
        let t = rec.token.load(Ordering::Relaxed);
        if t != 0 && t != r.token && procs.token_is_dead(t) {
            dead_holder = true;
        }
    }
    let owner = h.lock.load(Ordering::Acquire) & wait::LOCK_OWNER;
    if !dead_holder && (owner == 0 || !procs.token_is_dead(owner)) {
        return Ok(());
    }
    // Under the semaphore lock (taken normally, or over from a dead owner), as
    // acquirers do.
    let how = match wait::lock(
        &h.lock,
        r.token,
        &Deadline::after(Some(SWEEP_LOCK_WAIT)),
        &procs,
    ) {
        Ok(how) => how,
        Err(Error::Timeout) => return Ok(()),
        Err(e) => return Err(e),
    };
    done.lock_taken_over(how == Acquired::Recovered);
    let result = recount(r, o.body, permits, records);
    wait::unlock(&h.lock);
    done.permits = done.permits.saturating_add(result?);
    h.seq.fetch_add(1, Ordering::SeqCst);
    wait::wake_all(&h.seq, &h.sleepers, u32::MAX);
    Ok(())
}

fn scan(sc: &mut Scan<'_>, o: &Placed<'_>) {
    let (loc, base, shape) = (o.loc, o.body, o.shape);
    let Ok(h) = sc.map.get::<SemaphoreHeader>(base) else {
        return;
    };
    let permits = h.permits.load(Ordering::Relaxed);
    let records = h.records.load(Ordering::Relaxed);
    if permits as u64 != shape || permits == 0 || records != records_for(permits) {
        sc.problem(loc, "damaged header (permits or records)");
        return;
    }
    let lock = sc.lock_word(&h.lock, || loc.to_owned());
    let available = h.available.load(Ordering::Relaxed);
    let mut held: u64 = 0;
    for i in 0..records {
        let Ok(rec) = sc
            .map
            .get::<SemaphoreHolder>(base + S_HEADER + i as u64 * RECORD)
        else {
            return;
        };
        let token = rec.token.load(Ordering::Relaxed);
        let count = rec.count.load(Ordering::Relaxed);
        if token == 0 {
            if count != 0 {
                sc.problem(
                    format!("{loc} holder record {i}"),
                    "permits without a holder",
                );
            }
            continue;
        }
        held += count as u64;
        if count != 0 && !sc.token_alive(token) {
            sc.stale(
                format!("{loc} holder record {i}"),
                format!("{count} permit(s) held by {}", sc.gone(token)),
            );
        }
    }
    if available as u64 + held != permits as u64 {
        let msg =
            format!("{available} available + {held} held does not add up to {permits} permits");
        match lock {
            None => sc.problem(loc, msg),
            Some(false) => sc.stale(loc, msg),
            Some(true) => {}
        }
    }
}
