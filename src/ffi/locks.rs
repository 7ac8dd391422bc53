//! `plexus_mutex`, `plexus_barrier`, `plexus_semaphore`: robust process-shared locks.
//!
//! The handle types' docs carry the overview of each kind (cbindgen puts item docs, not
//! module docs, into the header).

use std::ffi::c_char;
use std::sync::Arc;

use super::handles::{self, BarrierEntry, MutexEntry, Object, SemaphoreEntry};
use super::region::plexus_region;
use super::status::{c_str, guard, out_ref, plexus_status};
use crate::backend::Acquired;
use crate::{Deadline, Error};

/// Handle of an open mutex. Id 0 is never valid.
///
/// A plexus mutex is a lock in a region that threads of any process attached to it
/// can take, one at a time. It is robust: if the process holding it dies (or closes
/// the region handle it locked through), the next plexus_mutex_lock takes it over and
/// returns PLEXUS_OWNER_DEAD instead of PLEXUS_OK — the caller holds the mutex, and the
/// data it protects may be half-updated and need repair. There is no "consistent"
/// step: after PLEXUS_OWNER_DEAD the mutex is used as before.
///
/// Ownership is per thread: only the thread that locked it (through the same region
/// handle) may unlock it, and that thread locking it again gets
/// PLEXUS_E_INVALID_ARGUMENT instead of a deadlock (it is not recursive). Two region
/// handles of one process count as different owners. A thread that exits while holding
/// the mutex leaves it locked until its process exits or closes that region handle.
///
/// Uncontended lock + unlock is two atomic instructions and no system call; a blocked
/// locker spins briefly, then sleeps on a futex (checking every 100 ms at most whether
/// the holder is still alive). On a remote region a holder is alive while its lease is
/// (`lease_ms`): a killed holder's mutex is taken over, with PLEXUS_OWNER_DEAD, by a
/// locker that finds the lease expired, within about `lease_ms`; every acquisition
/// carries a fencing token, so a holder whose lease expired cannot unlock afterwards.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct plexus_mutex {
    pub id: u64,
}

/// Handle of an open barrier. Id 0 is never valid.
///
/// A plexus barrier makes `parties` callers (processes, or threads) meet: each
/// plexus_barrier_wait returns once all `parties` have called it in the current round,
/// and the barrier is then ready for the next round (reusable, round after round).
/// Everything a party wrote before arriving is visible to every party after it passes.
///
/// Timeouts leave the barrier usable: a waiter whose timeout passes withdraws its
/// arrival, if the round has not completed yet, and gets PLEXUS_TIMEOUT, exactly as if
/// it had never arrived (the round still needs `parties` arrivals). If the round
/// completed meanwhile, the waiter passed the barrier and gets PLEXUS_OK.
///
/// Crashes: the arrival of a party that dies after arriving counts (the round can
/// complete without it, but it will be missing from the next round). A party that dies
/// before arriving leaves the others waiting until their timeouts.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct plexus_barrier {
    pub id: u64,
}

/// Handle of an open semaphore. Id 0 is never valid.
///
/// A plexus semaphore holds `permits` permits (fixed at creation): plexus_semaphore_acquire
/// takes one, waiting while none is left, and plexus_semaphore_release gives one back.
/// With 1 permit it lets one process at a time in ("at most one writer process").
///
/// Permits belong to the region handle (attachment) that acquired them, not to a
/// thread: any thread of the process may release a permit its region handle holds, and
/// releasing when the handle holds none is an error. Permits held by a process that
/// dies, or by a region handle that is closed, are returned: the next acquirer that
/// finds no permit takes them back (a blocked acquirer notices within 100 ms; on a
/// remote region, once the holder's lease has expired, within about `lease_ms`).
///
/// Giving back the semaphore handle itself is plexus_semaphore_close (not
/// plexus_semaphore_release, which gives back a permit).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct plexus_semaphore {
    pub id: u64,
}

fn deadline(timeout_ns: i64) -> Result<Deadline, Error> {
    Ok(Deadline::after(super::timeout(timeout_ns)?))
}

// ---- mutex ----

/// Opens the mutex `name` in `region`, creating it (unlocked) if it does not exist.
///
/// Names are 1-96 bytes of UTF-8. Opening the same mutex twice through one region
/// handle returns the same handle (and counts the open: see plexus_mutex_close).
///
/// Returns PLEXUS_OK; PLEXUS_E_TYPE_MISMATCH (another kind of object has that name),
/// PLEXUS_E_NO_SPACE (heap or directory full), PLEXUS_E_INVALID_ARGUMENT (NULL or bad
/// name, NULL `out`), PLEXUS_E_BAD_HANDLE, PLEXUS_E_INCOMPATIBLE, PLEXUS_E_CORRUPT. On
/// failure `*out` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_mutex_open(
    region: plexus_region,
    name: *const c_char,
    out: *mut plexus_mutex,
) -> plexus_status {
    guard(|| {
        let name = c_str(name, "name")?;
        let slot = out_ref(out, "out")?;
        let parent = handles::region(region.id)?;
        let mutex = parent.region.mutex(name)?;
        slot.id = handles::child(region.id, &parent, "mutex", name, || {
            Object::Mutex(Arc::new(MutexEntry {
                mutex,
                parent: region.id,
            }))
        })?;
        Ok(())
    })
}

/// Gives back the handle: undoes one plexus_mutex_open of it (the handle stays valid
/// until closed as many times as it was opened; closing the region closes it at once).
/// It does not unlock the mutex (that is plexus_mutex_unlock): a mutex still locked by
/// this thread stays locked until this process closes the region handle or exits, and
/// is then taken over with PLEXUS_OWNER_DEAD. PLEXUS_E_BAD_HANDLE if already closed.
#[no_mangle]
pub extern "C" fn plexus_mutex_close(m: plexus_mutex) -> plexus_status {
    guard(|| {
        let (name, parent) = handles::with(m.id, |e: &MutexEntry| {
            Ok((e.mutex.name().to_owned(), e.parent))
        })?;
        handles::close_child(m.id, "mutex", &name, parent)
    })
}

/// Locks the mutex for the calling thread, waiting while another thread (of any
/// process) holds it.
///
/// Blocks until the mutex is free or its holder is found dead, or the timeout passes
/// (PLEXUS_FOREVER, 0 = try once, > 0 nanoseconds).
///
/// Returns PLEXUS_OK (locked); PLEXUS_OWNER_DEAD (locked, but its previous holder died
/// holding it — or closed its region handle without unlocking — so the data it protects
/// may need repair; unlock it as usual afterwards); PLEXUS_TIMEOUT (still locked by
/// another thread when the timeout passed; not locked by this call);
/// PLEXUS_E_INVALID_ARGUMENT (the calling thread already holds it — plexus mutexes are
/// not recursive, so this would deadlock — or a negative timeout other than
/// PLEXUS_FOREVER); PLEXUS_E_BAD_HANDLE; PLEXUS_E_CORRUPT.
#[no_mangle]
pub extern "C" fn plexus_mutex_lock(m: plexus_mutex, timeout_ns: i64) -> plexus_status {
    guard(|| {
        let d = deadline(timeout_ns)?;
        match handles::with(m.id, |e: &MutexEntry| e.mutex.lock_until(&d))? {
            Acquired::Clean => Ok(()),
            Acquired::Recovered => Err(Error::OwnerDead),
        }
    })
}

/// Unlocks the mutex, which the calling thread must hold (locked through the same region
/// handle); wakes one waiting locker, if any.
///
/// Returns PLEXUS_OK; PLEXUS_E_INVALID_ARGUMENT if the calling thread does not hold it
/// (it is unlocked, or another thread or process holds it: the mutex is left as it
/// was); PLEXUS_E_BAD_HANDLE; PLEXUS_E_CORRUPT.
#[no_mangle]
pub extern "C" fn plexus_mutex_unlock(m: plexus_mutex) -> plexus_status {
    guard(|| handles::with(m.id, |e: &MutexEntry| e.mutex.unlock()))
}

/// `*out` = whether the mutex is locked by anyone (a snapshot; a mutex whose holder
/// died counts as locked until the next plexus_mutex_lock takes it over).
#[no_mangle]
pub extern "C" fn plexus_mutex_is_locked(m: plexus_mutex, out: *mut bool) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = handles::with(m.id, |e: &MutexEntry| e.mutex.is_locked())?;
        Ok(())
    })
}

// ---- barrier ----

/// Opens the barrier `name` in `region` for `parties` parties.
///
/// `parties > 0`: created if absent (no party waiting); if present, its number of
/// parties must equal `parties` (else PLEXUS_E_INCOMPATIBLE). `parties == 0`: opens an
/// existing barrier only (PLEXUS_E_NOT_FOUND if absent). Names are 1-96 bytes of UTF-8.
/// Opening the same barrier twice through one region handle returns the same handle
/// (and counts the open: see plexus_barrier_close).
///
/// Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_INCOMPATIBLE, PLEXUS_E_TYPE_MISMATCH
/// (another kind of object has that name), PLEXUS_E_NO_SPACE, PLEXUS_E_INVALID_ARGUMENT,
/// PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT. On failure `*out` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_barrier_open(
    region: plexus_region,
    name: *const c_char,
    parties: u32,
    out: *mut plexus_barrier,
) -> plexus_status {
    guard(|| {
        let name = c_str(name, "name")?;
        let slot = out_ref(out, "out")?;
        let parent = handles::region(region.id)?;
        let barrier = parent.region.barrier(name, parties)?;
        slot.id = handles::child(region.id, &parent, "barrier", name, || {
            Object::Barrier(Arc::new(BarrierEntry::new(barrier, region.id)))
        })?;
        Ok(())
    })
}

/// Gives back the handle: undoes one plexus_barrier_open of it (the handle stays valid
/// until closed as many times as it was opened; closing the region closes it at once).
/// The barrier stays in the region. PLEXUS_E_BAD_HANDLE if already closed.
#[no_mangle]
pub extern "C" fn plexus_barrier_close(b: plexus_barrier) -> plexus_status {
    guard(|| {
        let (name, parent) = handles::with(b.id, |e: &BarrierEntry| {
            Ok((e.barrier.name().to_owned(), e.parent))
        })?;
        handles::close_child(b.id, "barrier", &name, parent)
    })
}

/// Arrives at the barrier and waits until all its parties have arrived in this round.
///
/// Blocks until the round completes (the `parties`-th arrival), or the timeout passes
/// (PLEXUS_FOREVER, 0 = try once, > 0 nanoseconds). With timeout 0 the call completes
/// the round only if all other parties are already waiting in it.
///
/// Returns PLEXUS_OK (the round completed: every party of it passes); PLEXUS_TIMEOUT
/// (the round did not complete in time: this arrival was withdrawn, as if this call had
/// never been made, and the round still waits for `parties` arrivals; if the round
/// completed while the timeout was being handled, the result is PLEXUS_OK instead);
/// PLEXUS_E_INVALID_ARGUMENT (negative timeout other than PLEXUS_FOREVER);
/// PLEXUS_E_BAD_HANDLE; PLEXUS_E_CORRUPT.
#[no_mangle]
pub extern "C" fn plexus_barrier_wait(b: plexus_barrier, timeout_ns: i64) -> plexus_status {
    guard(|| {
        let d = deadline(timeout_ns)?;
        handles::with(b.id, |e: &BarrierEntry| e.wait_until(&d)).map(|_| ())
    })
}

/// plexus_barrier_wait that also tells whether this call's arrival completed the round:
/// on PLEXUS_OK, `*last` = true for exactly one party of each round (the last to
/// arrive; like PTHREAD_BARRIER_SERIAL_THREAD), false for the others. Same statuses as
/// plexus_barrier_wait (and PLEXUS_E_INVALID_ARGUMENT for a NULL `last`); on any other
/// status `*last` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_barrier_wait_last(
    b: plexus_barrier,
    timeout_ns: i64,
    last: *mut bool,
) -> plexus_status {
    guard(|| {
        let slot = out_ref(last, "last")?;
        let d = deadline(timeout_ns)?;
        *slot = handles::with(b.id, |e: &BarrierEntry| e.wait_until(&d))?;
        Ok(())
    })
}

/// `*out` = the barrier's number of parties, fixed at creation.
#[no_mangle]
pub extern "C" fn plexus_barrier_parties(b: plexus_barrier, out: *mut u32) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = handles::with(b.id, |e: &BarrierEntry| Ok(e.barrier.parties()))?;
        Ok(())
    })
}

// ---- semaphore ----

/// Opens the semaphore `name` in `region` with `permits` permits.
///
/// `permits > 0`: created if absent (all permits available); if present, its number of
/// permits must equal `permits` (else PLEXUS_E_INCOMPATIBLE). `permits == 0`: opens an
/// existing semaphore only (PLEXUS_E_NOT_FOUND if absent). Names are 1-96 bytes of
/// UTF-8. Opening the same semaphore twice through one region handle returns the same
/// handle (and counts the open: see plexus_semaphore_close).
///
/// Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_INCOMPATIBLE, PLEXUS_E_TYPE_MISMATCH
/// (another kind of object has that name), PLEXUS_E_NO_SPACE, PLEXUS_E_INVALID_ARGUMENT,
/// PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT. On failure `*out` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_semaphore_open(
    region: plexus_region,
    name: *const c_char,
    permits: u32,
    out: *mut plexus_semaphore,
) -> plexus_status {
    guard(|| {
        let name = c_str(name, "name")?;
        let slot = out_ref(out, "out")?;
        let parent = handles::region(region.id)?;
        let semaphore = parent.region.semaphore(name, permits)?;
        slot.id = handles::child(region.id, &parent, "semaphore", name, || {
            Object::Semaphore(Arc::new(SemaphoreEntry {
                semaphore,
                parent: region.id,
            }))
        })?;
        Ok(())
    })
}

/// Gives back the semaphore handle: undoes one plexus_semaphore_open (the handle stays
/// valid until closed as many times as it was opened; closing the region closes it at
/// once). Permits held stay held by the region handle (they return when it is closed
/// or its process exits). Not to be confused with plexus_semaphore_release, which gives
/// back a permit. PLEXUS_E_BAD_HANDLE if already closed.
#[no_mangle]
pub extern "C" fn plexus_semaphore_close(s: plexus_semaphore) -> plexus_status {
    guard(|| {
        let (name, parent) = handles::with(s.id, |e: &SemaphoreEntry| {
            Ok((e.semaphore.name().to_owned(), e.parent))
        })?;
        handles::close_child(s.id, "semaphore", &name, parent)
    })
}

/// Takes one permit, waiting while none is available.
///
/// Blocks until a permit is released (or taken back from a dead holder), or the
/// timeout passes (PLEXUS_FOREVER, 0 = try once, > 0 nanoseconds).
///
/// Returns PLEXUS_OK (this region handle now holds one more permit); PLEXUS_TIMEOUT
/// (none became available; nothing taken); PLEXUS_E_INVALID_ARGUMENT (negative timeout
/// other than PLEXUS_FOREVER); PLEXUS_E_BAD_HANDLE; PLEXUS_E_CORRUPT.
#[no_mangle]
pub extern "C" fn plexus_semaphore_acquire(s: plexus_semaphore, timeout_ns: i64) -> plexus_status {
    guard(|| {
        let d = deadline(timeout_ns)?;
        handles::with(s.id, |e: &SemaphoreEntry| e.semaphore.acquire_until(&d))
    })
}

/// Gives back one permit held by this region handle (acquired by any of its threads) and
/// wakes the processes waiting for one. Never blocks (beyond the semaphore's short
/// internal lock).
///
/// Returns PLEXUS_OK; PLEXUS_E_INVALID_ARGUMENT if this region handle holds no permit
/// of the semaphore (nothing changes); PLEXUS_E_BAD_HANDLE; PLEXUS_E_CORRUPT.
#[no_mangle]
pub extern "C" fn plexus_semaphore_release(s: plexus_semaphore) -> plexus_status {
    guard(|| handles::with(s.id, |e: &SemaphoreEntry| e.semaphore.release()))
}

/// `*out` = the semaphore's number of permits, fixed at creation.
#[no_mangle]
pub extern "C" fn plexus_semaphore_permits(s: plexus_semaphore, out: *mut u32) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = handles::with(s.id, |e: &SemaphoreEntry| Ok(e.semaphore.permits()))?;
        Ok(())
    })
}

/// `*out` = permits available now (a snapshot; permits of a holder that died count as
/// held until an acquirer that finds none takes them back).
#[no_mangle]
pub extern "C" fn plexus_semaphore_available(s: plexus_semaphore, out: *mut u32) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = handles::with(s.id, |e: &SemaphoreEntry| e.semaphore.available())?;
        Ok(())
    })
}

/// `*out` = permits held by this region handle (acquired by any of its threads and not
/// yet released).
#[no_mangle]
pub extern "C" fn plexus_semaphore_held(s: plexus_semaphore, out: *mut u32) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = handles::with(s.id, |e: &SemaphoreEntry| e.semaphore.held())?;
        Ok(())
    })
}
