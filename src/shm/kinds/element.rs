//! Full/empty element operations, shared by every object kind that holds tagged values
//! (array elements and map entries). One generic driver, [`Cell::locked`], waits for the
//! tag condition, takes the element's robust lock, repairs after a dead owner, runs the
//! operation and wakes sleepers; every operation is a short closure over it.
//!
//! Crash consistency: a write fills the scratch value slot (heap blob first), then
//! commits value and tag with one store to `tag` (flipping the live-slot bit), then bumps
//! `version`, unlocks, and frees the old blob. Whoever steals the lock from a dead owner
//! therefore finds the old or the new value, never a torn one; at worst a blob leaks.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::error::{Error, Result, SignalKind};
use crate::semantics::patch::Patch;
use crate::semantics::value::{js_add, Type, Value, ValueRef};
use crate::shm::format::layout::*;
use crate::shm::format::region::SWEEP_LOCK_WAIT;
use crate::shm::format::region::{Held, RegionInner};
use crate::shm::format::scan::Scan;
use crate::shm::kinds::Swept;
use crate::shm::os::mem::Shared;
use crate::shm::os::sys;
use crate::shm::wait::{self, Acquired, Deadline};
use std::mem::{align_of, size_of};

// ---- layout (in the region file) ----

/// One array element or map entry value: a cache line.
///
/// * `lock`: owner token in bits 0..30 (0 = free); bit 31 set when a process sleeps
///   waiting for the lock, bit 30 when one sleeps on `tag` or `version`.
/// * `tag`: bit 0 FULL, bit 1 = index of the live value slot, bits 8.. = number of
///   `read_rw` holders. Changed only under `lock`, by single stores, so stealing the lock
///   from a dead owner finds either the old or the new state.
/// * `version`: bumped on every change of value or tag; its low 32 bits are the futex
///   word of `wait_change`.
/// * `stamp`: in a map with change tracking (see `crate::shm::kinds::map::MapHeader`),
///   the map's change counter at the element's last change ([`STAMP_PENDING`] while a
///   change is being stamped; 0 in arrays and in maps made by older versions). Written
///   only under `lock`.
/// * `slots`: the live value and a scratch slot the next write fills before it flips
///   bit 1 of `tag`.
#[repr(C, align(64))]
pub struct Element {
    pub lock: AtomicU32,
    pub tag: AtomicU32,
    pub version: AtomicU64,
    pub stamp: AtomicU64,
    pub slots: [ValueSlot; 2],
}
const _: () = assert!(size_of::<Element>() == ELEMENT_SIZE as usize && align_of::<Element>() == 64);

/// An element's `stamp` while a change is being stamped (see
/// `crate::shm::kinds::map::stamp_change`): larger than every counter, so a change
/// listing that meets it reports the element.
pub const STAMP_PENDING: u64 = u64::MAX;

pub const TAG_FULL: u32 = 1;
pub const TAG_CUR: u32 = 2;
pub const TAG_READER_SHIFT: u32 = 8;
pub const TAG_READER_ONE: u32 = 1 << TAG_READER_SHIFT;

// SAFETY: #[repr(C)], made only of atomics, valid for every bit pattern.
unsafe impl Shared for Element {}

/// How often a waiter for "no readers" re-counts the holders (to drop dead ones).
const READER_RECHECK: std::time::Duration = std::time::Duration::from_millis(20);

/// What the tag must be before an operation may run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    Any,
    Full,
    Empty,
    NoReaders,
    FullNoReaders,
}

fn readers(tag: u32) -> u32 {
    tag >> TAG_READER_SHIFT
}

fn tag_ok(need: Need, tag: u32) -> bool {
    let full = tag & TAG_FULL != 0;
    match need {
        Need::Any => true,
        Need::Full => full,
        Need::Empty => !full,
        Need::NoReaders => readers(tag) == 0,
        Need::FullNoReaders => full && readers(tag) == 0,
    }
}

/// A value ready to be committed into a slot: heap blob (if any) already written.
pub(crate) struct Prepared {
    pub meta: u64,
    pub payload: u64,
    pub blob: Option<u64>,
}

impl Prepared {
    /// A value that needs no heap block, from its [`inline_words`].
    #[inline(always)]
    pub(crate) fn inline((meta, payload): (u64, u64)) -> Prepared {
        Prepared {
            meta,
            payload,
            blob: None,
        }
    }
}

fn meta(t: Type, len: u64) -> u64 {
    (t as u64) << 56 | len
}

/// Encodes `v` for a [`ValueSlot`], writing it into a new heap block if it does not fit
/// inline (the caller commits it, or gives it back with [`discard_value`]).
pub(crate) fn prepare_value(r: &RegionInner, v: ValueRef<'_>) -> Result<Prepared> {
    v.validate()?;
    prepare_valid_value(r, v)
}

/// The two words of a value that needs no heap block (scalars, and strings, bytes and
/// objects of at most 8 bytes): its meta word and payload. `None` for a longer value.
/// Returned in registers: a batch builds its [`Prepared`]s from these without a
/// `Result` going through memory (which was reloaded wider than it was stored, a
/// store-forwarding stall per value).
#[inline(always)]
pub(crate) fn inline_words(v: ValueRef<'_>) -> Option<(u64, u64)> {
    let t = v.type_of();
    Some(match v {
        ValueRef::Undefined | ValueRef::Null => (meta(t, 0), 0),
        ValueRef::Bool(b) => (meta(t, 0), b as u64),
        ValueRef::Int(i) => (meta(t, 0), i as u64),
        ValueRef::Float(f) => (meta(t, 0), f.to_bits()),
        ValueRef::String(_) | ValueRef::Bytes(_) | ValueRef::Object(_) => {
            let bytes = v.bytes().unwrap_or_default();
            if bytes.len() > 8 {
                return None;
            }
            let mut word = [0u8; 8];
            word[..bytes.len()].copy_from_slice(bytes);
            (
                meta(t, bytes.len() as u64) | META_INLINE,
                u64::from_le_bytes(word),
            )
        }
    })
}

/// [`prepare_value`] for a value already checked with [`ValueRef::validate`].
pub(crate) fn prepare_valid_value(r: &RegionInner, v: ValueRef<'_>) -> Result<Prepared> {
    if let Some(words) = inline_words(v) {
        return Ok(Prepared::inline(words));
    }
    let t = v.type_of();
    let bytes = v.bytes().unwrap_or_default();
    let len = bytes.len() as u64;
    if len > META_LEN_MASK {
        return Err(Error::NoSpace(format!("value of {len} bytes is too large")));
    }
    let off = r.with_heap(|h| h.alloc(len, false))?;
    if let Err(e) = r.map.write_bytes(off, bytes) {
        let _ = r.with_heap(|h| h.free(off));
        return Err(e);
    }
    Ok(Prepared {
        meta: meta(t, len),
        payload: off,
        blob: Some(off),
    })
}

/// Frees the heap block of a value that was prepared but not committed.
pub(crate) fn discard_value(r: &RegionInner, p: Prepared) {
    if let Some(off) = p.blob {
        let _ = r.with_heap(|h| h.free(off));
    }
}

/// Copies the `len` bytes of a value's heap block at `off`, after checking that they lie
/// inside the heap.
pub(crate) fn copy_blob(r: &RegionInner, off: u64, len: u64) -> Result<Vec<u8>> {
    let fx = &r.fixed;
    if off < fx.heap_offset || off.checked_add(len).is_none_or(|end| end > fx.total_size) {
        return Err(Error::corrupt(format!(
            "value at {off:#x} (+{len}) lies outside the heap"
        )));
    }
    let mut out = Vec::new();
    r.map.read_bytes(off, len, &mut out)?;
    Ok(out)
}

/// Whether a slot's `meta` word says its bytes live in a heap block.
pub(crate) fn meta_in_heap(m: u64) -> bool {
    matches!(m >> 56, 5..=7) && m & META_INLINE == 0
}

/// Decodes a [`ValueSlot`]'s `meta` and `payload` words; `blob(off, len)` supplies the
/// bytes of a heap value. Inlined: a `Result<Value>` returned through memory is
/// reloaded wider than it was stored (a store-forwarding stall per value of a batch).
#[inline(always)]
pub(crate) fn decode_value(
    m: u64,
    p: u64,
    blob: impl FnOnce(u64, u64) -> Result<Vec<u8>>,
) -> Result<Value> {
    let t = Type::from_u32((m >> 56) as u32)
        .ok_or_else(|| Error::corrupt(format!("stored value has unknown type {}", m >> 56)))?;
    let len = m & META_LEN_MASK;
    let bytes = || -> Result<Vec<u8>> {
        if m & META_INLINE != 0 {
            if len > 8 {
                return Err(Error::corrupt("inline value longer than 8 bytes"));
            }
            return Ok(p.to_le_bytes()[..len as usize].to_vec());
        }
        blob(p, len)
    };
    Ok(match t {
        Type::Undefined => Value::Undefined,
        Type::Null => Value::Null,
        Type::Bool => Value::Bool(p != 0),
        Type::Int => Value::Int(p as i64),
        Type::Float => Value::Float(f64::from_bits(p)),
        Type::String => Value::String(
            String::from_utf8(bytes()?)
                .map_err(|_| Error::corrupt("stored string is not UTF-8"))?,
        ),
        Type::Bytes => Value::Bytes(bytes()?),
        Type::Object => Value::Object(bytes()?),
    })
}

/// One element inside a region.
pub(crate) struct Cell<'a> {
    pub r: &'a RegionInner,
    /// The handle's claim on the object, whose check every call makes (`None` for the
    /// sweep, which works below the handles).
    pub held: Option<&'a Held>,
    pub e: &'a Element,
    pub off: u64,
    /// For elements that can change owner (map entries): a word and the value it must
    /// still hold. Checked under the element lock before every operation and before every
    /// wait; when it moved, the operation fails with [`stale`] without touching anything.
    pub guard: Option<(&'a AtomicU64, u64)>,
    /// For the entries of a map with change tracking: its header, whose change counter
    /// every change of the element stamps (see `crate::shm::kinds::map::stamp_change`).
    pub map: Option<&'a crate::shm::kinds::map::MapHeader>,
}

/// The map retries a call on a cell whose slot changed owner meanwhile.
pub(crate) fn stale(e: &Error) -> bool {
    e.is_signal(SignalKind::SlotMoved)
}

/// What an operation did, so the driver knows what to publish and wake.
struct Effect {
    tag_changed: bool,
    version_changed: bool,
    free_blob: Option<u64>,
}

const NO_EFFECT: Effect = Effect {
    tag_changed: false,
    version_changed: false,
    free_blob: None,
};

impl<'a> Cell<'a> {
    pub fn at(r: &'a RegionInner, off: u64) -> Result<Cell<'a>> {
        Ok(Cell {
            r,
            held: None,
            e: r.map.get(off)?,
            off,
            guard: None,
            map: None,
        })
    }

    /// The element at `off` of the object `held` claims.
    pub fn of(held: &'a Held, off: u64) -> Result<Cell<'a>> {
        Ok(Cell {
            held: Some(held),
            ..Cell::at(held, off)?
        })
    }

    /// Every call's check: the object's (or, for the sweep, the region's).
    #[inline]
    fn check_usable(&self) -> Result<()> {
        match self.held {
            Some(h) => h.check_usable(),
            None => self.r.check_usable(),
        }
    }

    fn guard_moved(&self) -> bool {
        self.guard
            .is_some_and(|(w, v)| w.load(Ordering::Acquire) != v)
    }

    fn prepare(&self, v: ValueRef<'_>) -> Result<Prepared> {
        prepare_value(self.r, v)
    }

    fn discard(&self, p: Prepared) {
        discard_value(self.r, p)
    }

    fn live_slot(&self, tag: u32) -> &ValueSlot {
        &self.e.slots[((tag & TAG_CUR) >> 1) as usize]
    }

    /// The heap blob a slot references, if any.
    fn slot_blob(slot: &ValueSlot) -> Option<u64> {
        let m = slot.meta.load(Ordering::Relaxed);
        let t = Type::from_u32((m >> 56) as u32)?;
        let heap = matches!(t, Type::String | Type::Bytes | Type::Object) && m & META_INLINE == 0;
        heap.then(|| slot.payload.load(Ordering::Relaxed))
    }

    /// Decodes the live value (call with the lock held).
    fn load(&self, tag: u32) -> Result<Value> {
        let slot = self.live_slot(tag);
        let m = slot.meta.load(Ordering::Relaxed);
        let p = slot.payload.load(Ordering::Relaxed);
        self.decode(m, p)
    }

    /// Reads without taking the lock, seqlock style, when the live value is held inline
    /// (scalars, strings and bytes up to 8 bytes): the lock word plays the role of the
    /// "write in progress" flag and the version the sequence number. None when the
    /// value lives in the heap, the tag does not satisfy `need`, or writers keep
    /// interfering (also when a dead process holds the lock): the caller then locks.
    #[inline]
    fn read_optimistic(&self, need: Need) -> Option<Result<Value>> {
        let (m, p, _) = self.read_optimistic_words(need)?;
        Some(self.decode(m, p))
    }

    /// [`Cell::read_optimistic`], with the version the value belongs to.
    fn read_optimistic_versioned(&self, need: Need) -> Option<Result<(Value, u64)>> {
        let (m, p, version) = self.read_optimistic_words(need)?;
        Some(self.decode(m, p).map(|v| (v, version)))
    }

    /// The live slot's `meta` and `payload` words and the version they belong to, read
    /// without the lock (see [`Cell::read_optimistic`]). Plain words: returning the
    /// decoded value from here (a large nested enum) made every read store and reload it
    /// through the stack, which cost a map `read_ff` a third of its time.
    #[inline(always)]
    fn read_optimistic_words(&self, need: Need) -> Option<(u64, u64, u64)> {
        let e = self.e;
        for _ in 0..4 {
            let v1 = e.version.load(Ordering::Acquire);
            if e.lock.load(Ordering::Acquire) & wait::LOCK_OWNER != 0 {
                return None;
            }
            let tag = e.tag.load(Ordering::Acquire);
            if !tag_ok(need, tag) {
                return None;
            }
            let slot = self.live_slot(tag);
            let m = slot.meta.load(Ordering::Relaxed);
            let p = slot.payload.load(Ordering::Relaxed);
            if meta_in_heap(m) {
                return None;
            }
            // Pairs with the release fence in `commit`: if the loads above saw a store
            // of a writer, the checks below see its lock or its version bump.
            std::sync::atomic::fence(Ordering::Acquire);
            if e.lock.load(Ordering::Relaxed) & wait::LOCK_OWNER != 0 {
                return None;
            }
            if e.version.load(Ordering::Relaxed) == v1 {
                return Some((m, p, v1));
            }
        }
        None
    }

    /// Decodes a slot's `meta` and `payload` words (heap values are copied out).
    fn decode(&self, m: u64, p: u64) -> Result<Value> {
        decode_value(m, p, |off, len| copy_blob(self.r, off, len)).map_err(|e| match e {
            Error::Corrupt(msg) => Error::corrupt(format!("element at {:#x}: {msg}", self.off)),
            e => e,
        })
    }

    /// Commits a prepared value into the scratch slot and flips it live; `full` sets the
    /// FULL bit (None keeps it). Returns the effect (old blob to free).
    fn commit(&self, tag: u32, p: Prepared, full: Option<bool>) -> Effect {
        let old_blob = Self::slot_blob(self.live_slot(tag));
        let scratch = &self.e.slots[(((tag & TAG_CUR) >> 1) ^ 1) as usize];
        // Lock-free readers (`read_optimistic`) must not see these stores without also
        // seeing the lock taken: order them after the lock acquisition.
        std::sync::atomic::fence(Ordering::Release);
        scratch.meta.store(p.meta, Ordering::Relaxed);
        scratch.payload.store(p.payload, Ordering::Relaxed);
        let mut new_tag = tag ^ TAG_CUR;
        match full {
            Some(true) => new_tag |= TAG_FULL,
            Some(false) => new_tag &= !TAG_FULL,
            None => {}
        }
        // The commit point: value and tag change together.
        self.e.tag.store(new_tag, Ordering::Release);
        Effect {
            tag_changed: true,
            version_changed: true,
            free_blob: old_blob,
        }
    }

    fn set_full(&self, tag: u32, full: bool) -> Effect {
        let new_tag = if full {
            tag | TAG_FULL
        } else {
            tag & !TAG_FULL
        };
        if new_tag == tag {
            return NO_EFFECT;
        }
        self.e.tag.store(new_tag, Ordering::Release);
        Effect {
            tag_changed: true,
            version_changed: true,
            free_blob: None,
        }
    }

    /// After taking the lock from a dead owner: the committed state is consistent by
    /// construction; recount readers, and bump the version so waiters look again.
    fn repair(&self) -> Result<()> {
        let tag = self.e.tag.load(Ordering::Relaxed);
        let n = self.r.procs().count_readers(self.off)?;
        let fixed = (tag & ((1 << TAG_READER_SHIFT) - 1)) | n << TAG_READER_SHIFT;
        self.e.tag.store(fixed, Ordering::Release);
        self.e.version.fetch_add(1, Ordering::SeqCst);
        // A change counts as one for map-wide watchers too (this also finishes a stamp
        // the dead owner left PENDING).
        self.stamp();
        Ok(())
    }

    /// Under the lock, before publishing a map key: its stamp becomes PENDING, so that a
    /// process killed between the publication and the stamp leaves the key listed as
    /// changed (never a present key that no listing shows).
    fn mark_pending(&self) {
        if self.map.is_some() {
            self.e.stamp.store(STAMP_PENDING, Ordering::SeqCst);
        }
    }

    /// Under the lock, after a change: stamps it with the map's change counter (map
    /// entries with change tracking only).
    fn stamp(&self) {
        if let Some(mh) = self.map {
            crate::shm::kinds::map::stamp_change(mh, &self.e.stamp);
        }
    }

    fn lock(&self, deadline: &Deadline) -> Result<()> {
        // Element locks are held for a copy at most, so a try-once call still waits for
        // the lock itself: "would block" refers to the tag, not to a momentary holder.
        let forever = Deadline::forever();
        let lock_deadline = if deadline.is_try_once() {
            &forever
        } else {
            deadline
        };
        let procs = self.r.procs();
        if wait::lock_internal(&self.e.lock, self.r.token, lock_deadline, &procs)?
            == Acquired::Recovered
        {
            if let Err(e) = self.repair() {
                wait::unlock_keep(&self.e.lock); // never keep the lock on an error
                return Err(e);
            }
        }
        Ok(())
    }

    fn publish(&self, eff: Effect) {
        if eff.version_changed {
            // Only lock holders write the version: a plain increment suffices.
            let v = self.e.version.load(Ordering::Relaxed);
            self.e.version.store(v.wrapping_add(1), Ordering::Release);
            self.stamp();
        }
        if eff.tag_changed || eff.version_changed {
            if wait::unlock_publish(&self.e.lock) {
                sys::futex_wake(&self.e.tag, i32::MAX);
                sys::futex_wake(version_futex(&self.e.version), i32::MAX);
            }
        } else {
            wait::unlock_keep(&self.e.lock);
        }
        if let Some(off) = eff.free_blob {
            // A failure here means the old blob was already damaged; the new value is
            // committed, and a region check will find the block.
            let _ = self.r.with_heap(|h| h.free(off));
        }
    }

    /// The driver: waits until the tag satisfies `need`, locks, runs `f`, publishes.
    fn locked<T>(
        &self,
        need: Need,
        deadline: &Deadline,
        f: impl FnOnce(u32) -> Result<(T, Effect)>,
    ) -> Result<T> {
        self.check_usable()?;
        // Fast path: take the lock before looking at the tag. Reading the tag and then
        // locking fetches the element's cache line twice when another process wrote it
        // last; locking first fetches it once. Not for try-once calls, so that a polling
        // loop does not keep writing the line.
        let mut have_lock = !deadline.is_try_once()
            && self
                .e
                .lock
                .compare_exchange(0, self.r.token, Ordering::Acquire, Ordering::Relaxed)
                .is_ok();
        loop {
            if !have_lock {
                if self.guard_moved() {
                    return Err(Error::signal(SignalKind::SlotMoved));
                }
                let tag = self.e.tag.load(Ordering::Acquire);
                if !tag_ok(need, tag) {
                    self.wait_tag(need, tag, deadline)?;
                    continue;
                }
                self.lock(deadline)?;
            }
            have_lock = false;
            if self.guard_moved() {
                wait::unlock_keep(&self.e.lock);
                return Err(Error::signal(SignalKind::SlotMoved));
            }
            let tag = self.e.tag.load(Ordering::Acquire);
            if !tag_ok(need, tag) {
                wait::unlock_keep(&self.e.lock);
                continue;
            }
            return match f(tag) {
                Ok((v, eff)) => {
                    self.publish(eff);
                    Ok(v)
                }
                Err(e) => {
                    wait::unlock_keep(&self.e.lock);
                    Err(e)
                }
            };
        }
    }

    /// Waits for the tag to move away from `tag`. A wait for readers to leave re-counts
    /// them now and then, so a reader that died holding `read_rw` cannot block writers.
    fn wait_tag(&self, need: Need, tag: u32, deadline: &Deadline) -> Result<()> {
        // Spin until the tag moved *and* its writer has unlocked: a lock attempt while
        // the writer still holds the lock would pull the cache line away from it in the
        // middle of its critical section.
        let e = self.e;
        let moved = || {
            e.tag.load(Ordering::Acquire) != tag
                && e.lock.load(Ordering::Relaxed) & wait::LOCK_OWNER == 0
        };
        if wait::spin_until(e, deadline, moved) {
            return Ok(());
        }
        let reader_wait = readers(tag) > 0 && matches!(need, Need::NoReaders | Need::FullNoReaders);
        let slice = reader_wait.then_some(READER_RECHECK);
        let remaining = deadline.remaining()?;
        let timeout = match (remaining, slice) {
            (Some(r), Some(s)) => Some(r.min(s)),
            (r, s) => r.or(s),
        };
        wait::announce_sleeper(&e.lock);
        if e.tag.load(Ordering::SeqCst) == tag {
            wait::sleep(&e.tag, tag, timeout);
        }
        self.check_usable()?;
        if reader_wait && self.e.tag.load(Ordering::Acquire) == tag {
            self.lock(deadline)?;
            let now = self.e.tag.load(Ordering::Acquire);
            let n = self.r.procs().count_readers(self.off)?;
            let changed = n != readers(now);
            if changed {
                self.e.tag.store(
                    (now & ((1 << TAG_READER_SHIFT) - 1)) | n << TAG_READER_SHIFT,
                    Ordering::Release,
                );
            }
            self.publish(Effect {
                tag_changed: changed,
                ..NO_EFFECT
            });
        }
        Ok(())
    }

    /// Runs a value-writing operation: prepares `v` outside the lock, commits it with
    /// the tag change `full`, discards the preparation if the wait fails.
    fn store(
        &self,
        need: Need,
        v: ValueRef<'_>,
        full: Option<bool>,
        deadline: &Deadline,
    ) -> Result<()> {
        if v.bytes().is_some_and(|b| b.len() > 8) {
            // A value that needs a heap block is allocated only once the element looks
            // ready (EMPTY for write_ef, no read_rw readers), so a process killed while
            // it waits leaks nothing. The condition is checked again under the lock.
            v.validate()?;
            self.check_usable()?;
            loop {
                if self.guard_moved() {
                    return Err(Error::signal(SignalKind::SlotMoved));
                }
                let tag = self.e.tag.load(Ordering::Acquire);
                if tag_ok(need, tag) {
                    break;
                }
                self.wait_tag(need, tag, deadline)?;
            }
        }
        let mut pending = Some(self.prepare(v)?);
        let r = self.locked(need, deadline, |tag| {
            let p = pending.take().expect("the operation runs once");
            Ok(((), self.commit(tag, p, full)))
        });
        if let Some(p) = pending {
            self.discard(p); // the wait failed before the value was committed
        }
        r
    }

    pub fn read(&self) -> Result<Value> {
        self.check_usable()?;
        if let Some(v) = self.read_optimistic(Need::Any) {
            return v;
        }
        self.locked(Need::Any, &Deadline::forever(), |tag| {
            Ok((self.load(tag)?, NO_EFFECT))
        })
    }

    /// The value and the version it belongs to, read together (see
    /// `crate::semantics::watch`): lock-free for inline values, else under the lock,
    /// where the version only moves with the value.
    pub fn read_versioned(&self) -> Result<(Value, u64)> {
        self.check_usable()?;
        if let Some(v) = self.read_optimistic_versioned(Need::Any) {
            return v;
        }
        self.locked(Need::Any, &Deadline::forever(), |tag| {
            let version = self.e.version.load(Ordering::Relaxed);
            Ok(((self.load(tag)?, version), NO_EFFECT))
        })
    }

    /// Returns the element's state once its version differs from `*seen` (see
    /// `crate::semantics::watch`).
    pub fn watch(&self, seen: &mut u64, deadline: &Deadline) -> Result<Value> {
        crate::semantics::watch::watch(
            seen,
            deadline,
            || self.read_versioned(),
            |now, d| self.wait_change(&mut { now }, d),
        )
    }

    pub fn write(&self, v: ValueRef<'_>) -> Result<()> {
        self.store(Need::NoReaders, v, None, &Deadline::forever())
    }

    pub fn read_fe(&self, deadline: &Deadline) -> Result<Value> {
        self.locked(Need::FullNoReaders, deadline, |tag| {
            Ok((self.load(tag)?, self.set_full(tag, false)))
        })
    }

    pub fn read_ff(&self, deadline: &Deadline) -> Result<Value> {
        self.check_usable()?;
        if let Some(v) = self.read_optimistic(Need::Full) {
            return v;
        }
        self.locked(Need::Full, deadline, |tag| Ok((self.load(tag)?, NO_EFFECT)))
    }

    pub fn write_ef(&self, v: ValueRef<'_>, deadline: &Deadline) -> Result<()> {
        self.store(Need::Empty, v, Some(true), deadline)
    }

    pub fn write_xf(&self, v: ValueRef<'_>) -> Result<()> {
        self.store(Need::NoReaders, v, Some(true), &Deadline::forever())
    }

    pub fn write_xe(&self, v: ValueRef<'_>) -> Result<()> {
        self.store(Need::NoReaders, v, Some(false), &Deadline::forever())
    }

    pub fn set_tag(&self, full: bool) -> Result<()> {
        self.locked(Need::NoReaders, &Deadline::forever(), |tag| {
            Ok(((), self.set_full(tag, full)))
        })
    }

    /// `plexus load`: stores `v` with the tag `full` and moves the version to at least
    /// `version` (exactly `version` on an element no one has changed since it was
    /// made; otherwise still forward, so that watchers see a change).
    pub fn restore(&self, v: ValueRef<'_>, full: bool, version: u64) -> Result<()> {
        v.validate()?;
        let mut pending = Some(self.prepare(v)?);
        let r = self.locked(Need::NoReaders, &Deadline::forever(), |tag| {
            let p = pending.take().expect("the operation runs once");
            let eff = self.commit(tag, p, Some(full));
            // publish() adds one to the version after this.
            let floor = version.saturating_sub(1);
            if self.e.version.load(Ordering::Relaxed) < floor {
                self.e.version.store(floor, Ordering::Relaxed);
            }
            Ok(((), eff))
        });
        if let Some(p) = pending {
            self.discard(p);
        }
        r
    }

    /// Map removal: under the element lock (once no `read_rw` reader holds it), runs
    /// `unlink` (which retires the key), then resets the element to EMPTY holding
    /// UNDEFINED, bumping the version and waking every waiter.
    pub fn clear(&self, unlink: impl FnOnce() -> Result<()>) -> Result<()> {
        self.locked(Need::NoReaders, &Deadline::forever(), |tag| {
            unlink()?;
            let p = self.prepare(ValueRef::Undefined)?;
            Ok(((), self.commit(tag, p, Some(false))))
        })
    }

    /// Under the lock: UNDEFINED in both value slots, tag FULL or EMPTY, and the version
    /// raised to at least `min_version` (stored, and returned).
    fn reset_locked(&self, full: bool, min_version: u64) -> u64 {
        for v in &self.e.slots {
            v.meta.store(0, Ordering::Relaxed);
            v.payload.store(0, Ordering::Relaxed);
        }
        self.e
            .tag
            .store(if full { TAG_FULL } else { 0 }, Ordering::Release);
        let version = self.e.version.load(Ordering::Relaxed).max(min_version);
        self.e.version.store(version, Ordering::Release);
        version
    }

    /// Map insertion: under the element lock, resets the element to UNDEFINED with tag
    /// FULL or EMPTY and a version above both its current one and `min_version`, then
    /// runs `publish` (which makes the key visible) and wakes every sleeper. Returns the
    /// new version. (A value a crashed removal left behind leaks.)
    pub fn reinit(
        &self,
        full: bool,
        min_version: u64,
        publish: impl FnOnce() -> Result<()>,
    ) -> Result<u64> {
        self.locked(Need::Any, &Deadline::forever(), |_| {
            let version = self.reset_locked(full, min_version).wrapping_add(1);
            self.e.version.store(version, Ordering::Release);
            self.mark_pending();
            publish()?;
            self.stamp();
            Ok((
                version,
                Effect {
                    tag_changed: true,
                    ..NO_EFFECT
                },
            ))
        })
    }

    /// The first half of a map insertion that applies its first operation before the key
    /// is published (see `Map::insert`): under the element lock, resets the element to
    /// UNDEFINED with tag FULL or EMPTY and a version of at least its current one and
    /// `min_version`, without moving it past them. Returns that version, for
    /// [`Cell::settle_insert`].
    pub fn reset(&self, full: bool, min_version: u64) -> Result<u64> {
        self.locked(Need::Any, &Deadline::forever(), |_| {
            let version = self.reset_locked(full, min_version);
            Ok((
                version,
                Effect {
                    tag_changed: true,
                    ..NO_EFFECT
                },
            ))
        })
    }

    /// The second half: if the first operation changed nothing (a `cas` that did not
    /// match, a `set_tag` to the tag it had), moves the version once anyway, since the
    /// insertion itself is a change; either way the version moved exactly once from
    /// [`Cell::reset`]'s. Then, still under the element lock, runs `publish` (which makes
    /// the key visible) and stamps the change for map-wide watchers *after* it, so one
    /// that reads the counter past this change finds the key present.
    pub fn settle_insert(&self, reset_version: u64, publish: impl FnOnce()) -> Result<()> {
        self.locked(Need::Any, &Deadline::forever(), |_| {
            if self.e.version.load(Ordering::Relaxed) == reset_version {
                self.e
                    .version
                    .store(reset_version.wrapping_add(1), Ordering::Release);
            }
            self.mark_pending();
            publish();
            self.stamp();
            Ok((
                (),
                Effect {
                    tag_changed: true,
                    ..NO_EFFECT
                },
            ))
        })
    }

    /// Cleans up after dead processes (the stale-entry sweep): takes the lock over from
    /// a dead owner (repairing as every locker does) and recounts the `read_rw` holders
    /// when the tag's count disagrees with the live records. Leaves an element alone
    /// whose lock a live process holds for longer than `wait`. Returns (lock taken over
    /// from a dead owner, reader count corrected).
    pub fn recover_stale(&self, wait: std::time::Duration) -> Result<(bool, bool)> {
        let procs = self.r.procs();
        let owner = self.e.lock.load(Ordering::Acquire) & wait::LOCK_OWNER;
        let dead_owner = owner != 0 && owner != self.r.token && procs.token_is_dead(owner);
        let tag = self.e.tag.load(Ordering::Acquire);
        let wrong_readers = readers(tag) > 0 && procs.count_readers(self.off)? != readers(tag);
        if !dead_owner && !wrong_readers {
            return Ok((false, false));
        }
        let how = match wait::lock(
            &self.e.lock,
            self.r.token,
            &Deadline::after(Some(wait)),
            &procs,
        ) {
            Ok(how) => how,
            Err(Error::Timeout) => return Ok((false, false)),
            Err(e) => return Err(e),
        };
        let recovered = how == Acquired::Recovered;
        let before = readers(self.e.tag.load(Ordering::Acquire));
        let mut changed = recovered;
        if recovered {
            self.repair()?;
        } else {
            let now = self.e.tag.load(Ordering::Acquire);
            let n = procs.count_readers(self.off)?;
            if n != readers(now) {
                self.e.tag.store(
                    (now & ((1 << TAG_READER_SHIFT) - 1)) | n << TAG_READER_SHIFT,
                    Ordering::Release,
                );
                changed = true;
            }
        }
        let after = readers(self.e.tag.load(Ordering::Acquire));
        self.publish(Effect {
            tag_changed: changed,
            ..NO_EFFECT
        });
        Ok((recovered, before != after))
    }

    pub fn is_full(&self) -> Result<bool> {
        self.check_usable()?;
        Ok(self.e.tag.load(Ordering::Acquire) & TAG_FULL != 0)
    }

    pub fn read_rw(&self, deadline: &Deadline) -> Result<Value> {
        self.locked(Need::Full, deadline, |tag| {
            let v = self.load(tag)?;
            self.r.procs().add_rw_record(self.r.slot, self.off)?;
            let new_tag = match tag.checked_add(TAG_READER_ONE) {
                Some(t) => t,
                None => {
                    // Only a damaged tag counts 2^24 - 1 readers (the process table has
                    // room for far fewer records): recount them, ours included.
                    let n = self.r.procs().count_readers(self.off)?;
                    (tag & ((1 << TAG_READER_SHIFT) - 1)) | n << TAG_READER_SHIFT
                }
            };
            self.e.tag.store(new_tag, Ordering::Release);
            Ok((v, NO_EFFECT))
        })
    }

    pub fn release_rw(&self) -> Result<()> {
        self.locked(Need::Any, &Deadline::forever(), |tag| {
            if !self.r.procs().remove_rw_record(self.r.slot, self.off)? {
                return Err(Error::invalid(
                    "release_rw without a read_rw held by this process on that element",
                ));
            }
            let new_tag = if readers(tag) > 0 {
                tag - TAG_READER_ONE
            } else {
                tag
            };
            self.e.tag.store(new_tag, Ordering::Release);
            Ok((
                (),
                Effect {
                    tag_changed: true,
                    ..NO_EFFECT
                },
            ))
        })
    }

    /// Read-modify-write under the lock: `f` maps the old value to an optional new one.
    /// Returns the old value and the new one (None: unchanged). An error from `f` or
    /// from preparing the new value commits nothing.
    fn rmw(
        &self,
        f: impl FnOnce(&Value) -> Result<Option<Value>>,
    ) -> Result<(Value, Option<Value>)> {
        self.locked(Need::NoReaders, &Deadline::forever(), |tag| {
            let old = self.load(tag)?;
            match f(&old)? {
                None => Ok(((old, None), NO_EFFECT)),
                Some(new) => {
                    let p = self.prepare(new.as_ref())?;
                    Ok(((old, Some(new)), self.commit(tag, p, None)))
                }
            }
        })
    }

    pub fn faa(&self, delta: ValueRef<'_>) -> Result<Value> {
        delta.validate()?;
        // Fast path: INT + INT needs no allocation and no decoding of the old value.
        self.locked(Need::NoReaders, &Deadline::forever(), |tag| {
            let slot = self.live_slot(tag);
            let m = slot.meta.load(Ordering::Relaxed);
            if let (ValueRef::Int(d), true) = (delta, m >> 56 == Type::Int as u64) {
                let old = slot.payload.load(Ordering::Relaxed) as i64;
                let p = Prepared {
                    meta: meta(Type::Int, 0),
                    payload: old.wrapping_add(d) as u64,
                    blob: None,
                };
                return Ok((Value::Int(old), self.commit(tag, p, None)));
            }
            let old = self.load(tag)?;
            let new = js_add(old.as_ref(), delta)?;
            let p = self.prepare(new.as_ref())?;
            Ok((old, self.commit(tag, p, None)))
        })
    }

    pub fn cas(&self, expected: ValueRef<'_>, desired: ValueRef<'_>) -> Result<Value> {
        expected.validate()?;
        desired.validate()?;
        self.rmw(|old| Ok(old.as_ref().same_as(&expected).then(|| desired.to_owned())))
            .map(|(old, _)| old)
    }

    pub fn exchange(&self, v: ValueRef<'_>) -> Result<Value> {
        v.validate()?;
        self.rmw(|_| Ok(Some(v.to_owned()))).map(|(old, _)| old)
    }

    /// Applies a patch (`crate::semantics::patch`) under the element lock; returns the
    /// new value. Crash safety is `rmw`'s: the patched value is built in this process's
    /// memory and in a fresh heap block, then committed by the one tag store, so a
    /// process killed at any instant leaves the old value or the new one (at worst a
    /// leaked block); a patch that fails commits nothing.
    pub fn patch(&self, patch: &Patch) -> Result<Value> {
        let (_, new) = self.rmw(|old| patch.apply(old.as_ref()).map(Some))?;
        new.ok_or_else(|| Error::Internal("a patch committed no value".into()))
    }

    pub fn version(&self) -> Result<u64> {
        self.check_usable()?;
        Ok(self.e.version.load(Ordering::Acquire))
    }

    /// Returns as soon as the version differs from `*seen`, storing the new one.
    pub fn wait_change(&self, seen: &mut u64, deadline: &Deadline) -> Result<()> {
        self.check_usable()?;
        let v = &self.e.version;
        loop {
            let now = v.load(Ordering::Acquire);
            if now != *seen {
                *seen = now;
                return Ok(());
            }
            if wait::spin_until(v, deadline, || v.load(Ordering::Acquire) != now) {
                continue;
            }
            let remaining = deadline.remaining()?;
            wait::announce_sleeper(&self.e.lock);
            if v.load(Ordering::SeqCst) == now {
                wait::sleep(version_futex(v), now as u32, remaining);
            }
            self.check_usable()?;
        }
    }
}

/// The futex word of a version: its low 32 bits. Only the kernel reads it as 32 bits;
/// this process only ever accesses the version with 64-bit atomics.
pub(crate) fn version_futex(v: &AtomicU64) -> &std::sync::atomic::AtomicU32 {
    let base = v.as_ptr() as *const u8;
    let low = if cfg!(target_endian = "little") {
        base
    } else {
        base.wrapping_add(4)
    };
    // SAFETY: the pointer is 4-byte aligned and inside the 8-byte atomic, which lives as
    // long as the returned reference (tied to `v`). It is only passed to the futex
    // syscalls as an address, never loaded or stored through in this process.
    unsafe { &*(low as *const std::sync::atomic::AtomicU32) }
}

/// On close: give back every `read_rw` this attachment still holds.
pub(crate) fn release_all_rw(r: &RegionInner) {
    let Ok(records) = r.procs().rw_records(r.slot) else {
        return;
    };
    for off in records {
        let valid = off >= r.fixed.heap_offset && off % 64 == 0 && off + 64 <= r.fixed.total_size;
        if let (true, Ok(cell)) = (valid, Cell::at(r, off)) {
            let _ = cell.release_rw();
        }
    }
}

// ---- checker and sweep ----

/// Checks one element; `owned`: its value's heap block belongs to it.
pub(crate) fn scan(s: &mut Scan<'_>, off: u64, owned: bool, location: &dyn Fn() -> String) {
    let Ok(e) = s.map.get::<Element>(off) else {
        s.problem(location(), "out of bounds");
        return;
    };
    s.lock_word(&e.lock, location);
    let tag = e.tag.load(Ordering::Acquire);
    if tag & (TAG_READER_ONE - 1) & !(TAG_FULL | TAG_CUR) != 0 {
        s.problem(location(), format!("invalid tag {tag:#x}"));
        return;
    }
    let readers = tag >> TAG_READER_SHIFT;
    let recorded = s.rw_live.get(&off).copied().unwrap_or(0);
    if readers != recorded && owned {
        s.stale(
            location(),
            format!("the tag counts {readers} read_rw holders, {recorded} live ones hold it"),
        );
    }
    let slot = &e.slots[((tag & TAG_CUR) >> 1) as usize];
    let m = slot.meta.load(Ordering::Relaxed);
    let p = slot.payload.load(Ordering::Relaxed);
    s.value(m, p, owned, location);
}

/// Frees the heap block a value slot owns, if any, clearing its payload word (see
/// `Heap::free_at`: safe to repeat after a crash).
pub(crate) fn release_value(r: &RegionInner, v: &ValueSlot) -> Result<()> {
    if meta_in_heap(v.meta.load(Ordering::Acquire)) {
        r.with_heap(|h| h.free_at(r.map.offset_of(&v.payload)))?;
    }
    Ok(())
}

/// Frees the heap block the live value of the element at `off` owns (reclaiming a
/// removed object: no process holds it). The scratch slot owns nothing.
pub(crate) fn release(r: &RegionInner, off: u64) -> Result<()> {
    let e: &Element = r.map.get(off)?;
    let tag = e.tag.load(Ordering::Acquire);
    release_value(r, &e.slots[((tag & TAG_CUR) >> 1) as usize])
}

/// The sweep of one element: takes its lock over from a dead owner (repairing under
/// it), and corrects its `read_rw` count from the live records (see
/// [`Cell::recover_stale`]).
pub(crate) fn sweep(r: &RegionInner, off: u64, done: &mut Swept) -> Result<()> {
    sweep_in(r, off, None, done)
}

/// [`sweep`] of a map entry: a change a dead owner left unstamped (or PENDING) is
/// stamped with the map's change counter `map` (when the map tracks changes).
pub(crate) fn sweep_in(
    r: &RegionInner,
    off: u64,
    map: Option<&crate::shm::kinds::map::MapHeader>,
    done: &mut Swept,
) -> Result<()> {
    let mut cell = Cell::at(r, off)?;
    cell.map = map;
    match cell.recover_stale(SWEEP_LOCK_WAIT)? {
        (true, readers) => {
            done.locks = done.locks.saturating_add(1);
            done.readers = done.readers.saturating_add(readers as u32);
        }
        (false, true) => done.readers = done.readers.saturating_add(1),
        (false, false) => {}
    }
    Ok(())
}
