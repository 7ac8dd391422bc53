//! Mutexes: robust, process-shared locks owned by one thread.
//!
//! A mutex body is one cache line ([`MutexBody`]): the robust lock word of `wait.rs`
//! (owner token of the holder's attachment, bit 31 = sleepers) and the holder's kernel
//! thread id.
//!
//! * Lock: one compare-and-swap 0 -> token on the fast path, then the thread id is
//!   stored. Contended: the shared robust lock (`wait::lock`: spin briefly, then sleep on
//!   the lock word's futex, checking the owner's liveness between sleep slices). A lock
//!   whose holder's attachment is dead (its process died, or it closed its region handle
//!   while holding it) is taken over: [`Acquired::Recovered`], which the C API reports
//!   as `PLEXUS_OWNER_DEAD`.
//! * Ownership is per thread and per attachment: only the thread that locked it, through
//!   the same region handle, may unlock it; that thread locking it again is refused
//!   (`InvalidArgument`) instead of deadlocking. The holder clears the thread id before
//!   it releases the lock word, so a thread never mistakes a stale id for its own.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::names::check_object_name;
use crate::semantics::open::KindWords;
use crate::shm::format::layout::*;
use crate::shm::format::region::{Held, KindSpec, Region};
use crate::shm::kinds::KindOps;
use crate::shm::os::mem::Shared;
use crate::shm::os::sys;
use crate::shm::wait::{self, Acquired, Deadline, LOCK_OWNER};
use std::mem::{align_of, size_of};

// ---- layout (in the region file) ----

/// The body of a mutex, right after its [`ObjectHeader`] (directory shape: always 1).
///
/// * `lock`: robust lock word (see `wait.rs`): owner token in bits 0..30 (0 = unlocked),
///   bit 31 set while some thread sleeps waiting for it. The owner token names the
///   holder's attachment (region handle); a lock whose token is dead is taken over by
///   the next locker, who gets `OwnerDead`.
/// * `owner_died`: see the field.
/// * `owner_tid`: kernel thread id of the holding thread (0 = none or not yet written).
///   Written by the holder right after it takes `lock`, cleared before it releases it;
///   `unlock` (and the relock check) require both token and thread id to be the caller's.
#[repr(C, align(64))]
pub struct MutexBody {
    pub lock: AtomicU32,
    pub owner_tid: AtomicU32,
    /// 1 when a stale-lock sweep released the lock of a holder that died: the next
    /// locker clears it and gets `OwnerDead`, as if it had taken the lock over itself.
    pub owner_died: AtomicU32,
    pub _pad: AtomicU32,
    pub _reserved: [AtomicU64; 6],
}
const _: () = assert!(size_of::<MutexBody>() == 64 && align_of::<MutexBody>() == 64);

// SAFETY: #[repr(C)], made only of atomics, valid for every bit pattern.
unsafe impl Shared for MutexBody {}

const OBJ_HEADER: u64 = std::mem::size_of::<ObjectHeader>() as u64;
const BODY: u64 = OBJ_HEADER + std::mem::size_of::<MutexBody>() as u64;
/// Directory shape of every mutex (mutexes have no size; the shape names the layout).
const MUTEX_SHAPE: u64 = 1;

pub(crate) const MUTEX_KIND: KindSpec = KindSpec {
    words: KindWords {
        code: KIND_MUTEX,
        name: "mutex",
        article: "a",
        shape: "layout",
        items: "(the layout this library knows)",
    },
    size_of: |_| Some(BODY),
};

/// A robust, process-shared mutex in a region (see the module docs).
#[derive(Clone)]
pub struct Mutex {
    held: Held,
    /// Absolute offset of the [`MutexBody`].
    base: u64,
    name: String,
}

impl Region {
    /// Opens the mutex `name`, creating it (unlocked) if it does not exist.
    /// `TypeMismatch` if another kind of object has that name.
    pub fn mutex(&self, name: &str) -> Result<Mutex> {
        let r = &self.inner;
        r.check_usable()?;
        check_object_name(name)?;
        let (obj, held) = self.open_held(name, &MUTEX_KIND, MUTEX_SHAPE, false, 0, |_| Ok(()))?;
        Ok(Mutex {
            held,
            base: obj.offset + OBJ_HEADER,
            name: name.to_owned(),
        })
    }
}

impl Mutex {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn region(&self) -> &Region {
        self.held.region()
    }

    fn r(&self) -> &Held {
        &self.held
    }

    #[inline]
    fn body(&self) -> Result<&MutexBody> {
        self.r().map.get(self.base)
    }

    /// Locks the mutex for the calling thread, waiting up to `timeout` (`None`: without
    /// limit, `Some(ZERO)`: try once). `Ok(Recovered)`: locked, but the previous holder
    /// died holding it (the data it protects may need repair). `Timeout` when it stayed
    /// locked; `InvalidArgument` if the calling thread already holds it.
    pub fn lock(&self, timeout: Option<Duration>) -> Result<Acquired> {
        self.lock_until(&Deadline::after(timeout))
    }

    /// [`Mutex::lock`] with a deadline.
    #[inline]
    pub fn lock_until(&self, deadline: &Deadline) -> Result<Acquired> {
        let r = self.r();
        r.check_usable()?;
        let b = self.body()?;
        let tid = sys::thread_id();
        if b.lock
            .compare_exchange(0, r.token, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            b.owner_tid.store(tid, Ordering::Relaxed);
            return Ok(Self::inherit_owner_died(b, Acquired::Clean));
        }
        self.lock_contended(b, tid, deadline)
    }

    #[cold]
    fn lock_contended(&self, b: &MutexBody, tid: u32, deadline: &Deadline) -> Result<Acquired> {
        let r = self.r();
        // Our own writes are the latest we can see of `owner_tid`: if it shows our id
        // while the lock word shows our token, we hold it (an unlock clears the id first).
        if b.lock.load(Ordering::Relaxed) & LOCK_OWNER == r.token
            && b.owner_tid.load(Ordering::Relaxed) == tid
        {
            return Err(Error::invalid(format!(
                "this thread already holds mutex '{}' (locking it again would deadlock)",
                self.name
            )));
        }
        let how = wait::lock(&b.lock, r.token, deadline, &self.held.owners())?;
        b.owner_tid.store(tid, Ordering::Relaxed);
        Ok(Self::inherit_owner_died(b, how))
    }

    /// Just after locking: a stale-lock sweep that released this mutex from a dead
    /// holder left `owner_died` set; the first locker after it reports `Recovered`, as
    /// if it had taken the lock over itself.
    #[inline]
    fn inherit_owner_died(b: &MutexBody, how: Acquired) -> Acquired {
        if b.owner_died.load(Ordering::Relaxed) != 0 && b.owner_died.swap(0, Ordering::Relaxed) != 0
        {
            return Acquired::Recovered;
        }
        how
    }

    /// Unlocks the mutex. `InvalidArgument` unless the calling thread holds it (through
    /// this region handle); the mutex is then left as it was.
    #[inline]
    pub fn unlock(&self) -> Result<()> {
        let r = self.r();
        r.check_usable()?;
        let b = self.body()?;
        let owner = b.lock.load(Ordering::Relaxed) & LOCK_OWNER;
        if owner != r.token || b.owner_tid.load(Ordering::Relaxed) != sys::thread_id() {
            return Err(self.not_held(owner));
        }
        b.owner_tid.store(0, Ordering::Relaxed);
        // Release (SeqCst) swap: the id store and the protected data come before it.
        wait::unlock(&b.lock);
        Ok(())
    }

    #[cold]
    fn not_held(&self, owner: u32) -> Error {
        let who = if owner == 0 {
            "it is not locked"
        } else if owner == self.r().token {
            "another thread holds it"
        } else {
            "another process (or region handle) holds it"
        };
        Error::invalid(format!(
            "unlock of mutex '{}' by a thread that does not hold it: {who}",
            self.name
        ))
    }

    /// Whether the mutex is locked by anyone (a snapshot; a lock whose holder died
    /// counts as locked until someone takes it over).
    pub fn is_locked(&self) -> Result<bool> {
        self.r().check_usable()?;
        Ok(self.body()?.lock.load(Ordering::Acquire) & LOCK_OWNER != 0)
    }
}

// ---- crash recovery, checker and sweep ----

pub(crate) const OPS: KindOps = KindOps {
    spec: &MUTEX_KIND,
    label: |_| "mutex",
    scan: |sc, o| {
        if let Ok(b) = sc.map.get::<MutexBody>(o.body) {
            sc.lock_word(&b.lock, || o.loc.to_owned());
        }
    },
    sweep: |r, o, done| {
        let b: &MutexBody = r.map.get(o.body)?;
        // Released for the next locker, who then gets `OwnerDead` (`inherit_owner_died`).
        done.lock_taken_over(r.take_over_dead(&b.lock, |_| {
            b.owner_tid.store(0, Ordering::Relaxed);
            b.owner_died.store(1, Ordering::Relaxed);
            Ok(())
        })?);
        Ok(())
    },
    release: crate::shm::kinds::nothing_to_release,
};
