//! Maps: string keys, each with a full/empty element (value, tag, version).
//!
//! The body is an open-addressed hash table of `slots` (a power of two, at least twice
//! the capacity, so probes stay short) entries of a [`KeySlot`] and an [`Element`]; the
//! element operations are the array ones ([`Cell`]), guarded by the slot's state word so
//! an operation that raced with a removal retries its lookup instead of touching a slot
//! that now belongs to no key (or to another one).
//!
//! * Lookups take no lock: read the state, compare hash and key bytes, re-check the state.
//! * Inserts and removals take the map's robust lock. An insert writes the key and resets
//!   the element, then publishes the slot LIVE with one store; a removal (also holding
//!   the element lock) stores TOMB, then resets the element. Keys never move while LIVE,
//!   so a cursor over the slots sees every key present for the whole iteration exactly
//!   once. A crash at any point leaves the old or the new state (at worst a leaked heap
//!   block); `len` is recounted when the map lock is taken over from a dead owner.
//! * An absent key reads as EMPTY holding UNDEFINED, version 0. Waits on an absent key
//!   sleep on the map's insert sequence and look again after every insert.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::names::check_object_name;
use crate::semantics::open::KindWords;
use crate::semantics::value::{Value, ValueRef};
use crate::shm::format::layout::*;
use crate::shm::format::region::{Held, KindSpec, Region, RegionInner};
use crate::shm::format::scan::{Orphan, Scan};
use crate::shm::kinds::array::{FLAG_EXCLUSIVE, FLAG_FULL};
use crate::shm::kinds::element::{self, *};
use crate::shm::kinds::element::{stale, Cell};
use crate::shm::kinds::{KindOps, Placed, Swept};
use crate::shm::wait::{self, Acquired, Deadline};

/// Longest key, in bytes of UTF-8.
pub use crate::semantics::names::MAX_KEY_LEN;
use crate::shm::os::mem::Shared;
use std::mem::size_of;

// ---- layout (in the region file) ----

/// The map-wide part of a map body, right after its [`ObjectHeader`]. The body then holds
/// `slots` (a power of two, at least twice the capacity) entries of 128 bytes: a
/// [`KeySlot`] followed by its [`Element`].
///
/// * `lock`: robust lock (owner token) serializing inserts and removals.
/// * `seq`: futex word bumped after every insert; absent-key waiters sleep on it.
/// * `sleepers`: processes sleeping on `seq`.
/// * `len`: number of LIVE keys (changed under `lock`; recounted when the lock is taken
///   over from a dead owner).
/// * `version_floor`: every removal raises it above the removed key's last version, and
///   an insert starts its key's version above it, so a key's version never repeats
///   across remove and re-insert.
/// * `slots`: number of slots (repeats what the capacity implies; checked at open).
#[repr(C, align(64))]
pub struct MapHeader {
    pub lock: AtomicU32,
    pub seq: AtomicU32,
    pub sleepers: AtomicU32,
    pub _pad: AtomicU32,
    pub len: AtomicU64,
    pub version_floor: AtomicU64,
    pub slots: AtomicU64,
    pub _reserved: [AtomicU64; 3],
}
const _: () = assert!(size_of::<MapHeader>() == 64);

/// The key half of a map slot.
///
/// * `state`: `generation << 2 | KEY_FREE/KEY_LIVE/KEY_TOMB`. FREE slots were never used
///   (or no longer needed by any probe) and end a probe; TOMB (removed) slots continue
///   it and may be reused by an insert. A TOMB followed by a FREE slot becomes FREE.
///   Every transition adds [`KEY_GEN_ONE`], so a `state` value names one lifetime of one
///   key; it changes only under the map lock (and, for LIVE -> TOMB, the element lock),
///   by a single release store that commits the insert or removal.
/// * `hash`: FNV-1a of the key bytes.
/// * `key_len`, `key_off`, `key_inline`: the key's UTF-8 bytes: up to
///   [`KEY_INLINE_MAX`] bytes packed little-endian into `key_inline` (`key_off` 0),
///   longer keys in a heap block at `key_off`. Written before the slot is published
///   LIVE, never modified while LIVE.
#[repr(C, align(64))]
pub struct KeySlot {
    pub state: AtomicU64,
    pub hash: AtomicU64,
    pub key_len: AtomicU64,
    pub key_off: AtomicU64,
    pub key_inline: [AtomicU64; 4],
}
/// Longest key stored inside its [`KeySlot`].
pub const KEY_INLINE_MAX: usize = 32;
const _: () = assert!(size_of::<KeySlot>() == 64);
pub const KEY_FREE: u64 = 0;
pub const KEY_LIVE: u64 = 1;
pub const KEY_TOMB: u64 = 2;
pub const KEY_STATE_MASK: u64 = 3;
pub const KEY_GEN_ONE: u64 = 4;

// SAFETY: #[repr(C)], made only of atomics, valid for every bit pattern.
unsafe impl Shared for MapHeader {}
// SAFETY: as above.
unsafe impl Shared for KeySlot {}

const OBJ_HEADER: u64 = std::mem::size_of::<ObjectHeader>() as u64;
const MAP_HEADER: u64 = std::mem::size_of::<MapHeader>() as u64;
const KEY_SLOT: u64 = std::mem::size_of::<KeySlot>() as u64;
const SLOT: u64 = (std::mem::size_of::<KeySlot>() + std::mem::size_of::<Element>()) as u64;

pub(crate) fn slots_for(capacity: u64) -> Option<u64> {
    capacity.checked_mul(2)?.max(2).checked_next_power_of_two()
}

pub(crate) fn body_size(capacity: u64) -> Option<u64> {
    slots_for(capacity)?
        .checked_mul(SLOT)?
        .checked_add(OBJ_HEADER + MAP_HEADER)
}

/// A string-keyed map of elements, each holding a value, a full/empty tag and a version.
#[derive(Clone)]
pub struct Map {
    held: Held,
    /// Absolute offset of the [`MapHeader`].
    base: u64,
    slots: u64,
    capacity: u64,
    full_on_insert: bool,
    name: String,
}

/// What [`Map::insert`] did: found the key (inserted or present), or inserted it and
/// applied the first operation, with its result.
enum Inserted<T> {
    Found(Found),
    Done(T),
}

/// Writes `key` (hash `h`) into the slot `s` (not LIVE, under the map lock): packed into
/// the slot when short, else into a new heap block, whose offset is returned (0 when
/// inline).
fn write_key(r: &RegionInner, s: &KeySlot, key: &str, h: u64) -> Result<u64> {
    let key_off = if key.len() <= KEY_INLINE_MAX {
        let mut packed = [0u8; KEY_INLINE_MAX];
        packed[..key.len()].copy_from_slice(key.as_bytes());
        for (w, chunk) in s.key_inline.iter().zip(packed.chunks_exact(8)) {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            w.store(word, Ordering::Relaxed);
        }
        0
    } else {
        let off = r.with_heap(|hp| hp.alloc(key.len() as u64, false))?;
        if let Err(e) = r.map.write_bytes(off, key.as_bytes()) {
            let _ = r.with_heap(|hp| hp.free(off));
            return Err(e);
        }
        off
    };
    s.hash.store(h, Ordering::Relaxed);
    s.key_len.store(key.len() as u64, Ordering::Relaxed);
    s.key_off.store(key_off, Ordering::Relaxed);
    Ok(key_off)
}

/// A slot found holding the key, and the state word that names this lifetime of it.
#[derive(Clone, Copy)]
struct Found {
    index: u64,
    word: u64,
}

pub(crate) const MAP_KIND: KindSpec = KindSpec {
    words: KindWords {
        code: KIND_MAP,
        name: "map",
        article: "a",
        shape: "capacity",
        items: "keys",
    },
    size_of: body_size,
};

impl Region {
    /// Opens the map `name`; `capacity > 0` (the maximum number of keys) creates it if
    /// missing (an existing one must have that capacity), `capacity == 0` opens an
    /// existing one only. Flags: [`FLAG_FULL`] (newly inserted keys start FULL; stored
    /// with the map, so the creator's choice holds for every opener), [`FLAG_EXCLUSIVE`].
    pub fn map(&self, name: &str, capacity: u64, flags: u32) -> Result<Map> {
        let r = &self.inner;
        r.check_usable()?;
        check_object_name(name)?;
        if flags & !(FLAG_FULL | FLAG_EXCLUSIVE) != 0 {
            return Err(Error::invalid(format!("unknown map flags {flags:#x}")));
        }
        let (obj, held) = self.open_held(
            name,
            &MAP_KIND,
            capacity,
            flags & FLAG_EXCLUSIVE != 0,
            flags & FLAG_FULL,
            |off| {
                let h: &MapHeader = r.map.get(off + OBJ_HEADER)?;
                let n = slots_for(capacity).expect("size checked by open_object");
                h.slots.store(n, Ordering::Relaxed);
                Ok(())
            },
        )?;
        let slots = slots_for(obj.shape).expect("checked by body_size");
        let hdr: &ObjectHeader = r.map.get(obj.offset)?;
        let mh: &MapHeader = r.map.get(obj.offset + OBJ_HEADER)?;
        if mh.slots.load(Ordering::Relaxed) != slots {
            return Err(Error::corrupt(format!("map '{name}' has a damaged header")));
        }
        Ok(Map {
            held,
            base: obj.offset + OBJ_HEADER,
            slots,
            capacity: obj.shape,
            full_on_insert: hdr.flags.load(Ordering::Relaxed) & FLAG_FULL != 0,
            name: name.to_owned(),
        })
    }
}

fn check_key(key: &str) -> Result<u64> {
    crate::semantics::names::check_key(key)?;
    Ok(fnv1a(key.as_bytes()))
}

impl Map {
    /// Maximum number of keys.
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

    fn header(&self) -> Result<&MapHeader> {
        self.r().map.get(self.base)
    }

    fn slot(&self, index: u64) -> Result<&KeySlot> {
        self.r().map.get(self.base + MAP_HEADER + index * SLOT)
    }

    fn element_off(&self, index: u64) -> u64 {
        self.base + MAP_HEADER + index * SLOT + std::mem::size_of::<KeySlot>() as u64
    }

    /// The element of a found key, guarded by its state word.
    fn cell(&self, f: Found) -> Result<Cell<'_>> {
        let mut c = Cell::of(&self.held, self.element_off(f.index))?;
        c.guard = Some((&self.slot(f.index)?.state, f.word));
        Ok(c)
    }

    /// `c`, stamping the map's change counter on every change it makes (see
    /// [`MapHeader`]).
    fn stamped<'a>(&'a self, c: Cell<'a>) -> Result<Cell<'a>> {
        Ok(c)
    }

    /// The key bytes of a slot as read now (the caller re-checks the state after).
    fn key_of(&self, s: &KeySlot) -> Result<Vec<u8>> {
        let len = s.key_len.load(Ordering::Relaxed);
        let mut out = Vec::new();
        if len <= KEY_INLINE_MAX as u64 {
            for w in &s.key_inline {
                out.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
            }
            out.truncate(len as usize);
            return Ok(out);
        }
        let off = self.key_block(s, len)?;
        self.r().map.read_bytes(off, len, &mut out)?;
        Ok(out)
    }

    /// The offset of a long key's heap block, checked to lie inside the heap.
    fn key_block(&self, s: &KeySlot, len: u64) -> Result<u64> {
        let off = s.key_off.load(Ordering::Relaxed);
        let fx = &self.r().fixed;
        if len > MAX_KEY_LEN as u64
            || off < fx.heap_offset
            || off.checked_add(len).is_none_or(|e| e > fx.total_size)
        {
            return Err(Error::corrupt(format!(
                "map key at {off:#x} (+{len}) lies outside the heap"
            )));
        }
        Ok(off)
    }

    /// Whether the slot's key (as read now; the caller re-checks the state after) is
    /// `key`, whose length the caller has already compared. Compares in place: short keys
    /// word by word, long ones against their heap block, without copying.
    fn key_is(&self, s: &KeySlot, key: &[u8]) -> Result<bool> {
        if key.len() <= KEY_INLINE_MAX {
            let mut packed = [0u8; KEY_INLINE_MAX];
            packed[..key.len()].copy_from_slice(key);
            for (w, chunk) in s.key_inline.iter().zip(packed.chunks_exact(8)) {
                let want = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                if w.load(Ordering::Relaxed) != want {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        let off = self.key_block(s, key.len() as u64)?;
        self.r().map.bytes_equal(off, key)
    }

    /// Probes for `key`: the slot holding it, and the first reusable (FREE or TOMB) slot
    /// of its probe sequence. Takes no lock.
    fn lookup(&self, key: &str, h: u64) -> Result<(Option<Found>, Option<u64>)> {
        let mask = self.slots - 1;
        let mut reusable = None;
        for n in 0..self.slots {
            let index = (h.wrapping_add(n)) & mask;
            let s = self.slot(index)?;
            let word = s.state.load(Ordering::Acquire);
            match word & KEY_STATE_MASK {
                KEY_FREE => return Ok((None, reusable.or(Some(index)))),
                KEY_LIVE => {
                    if s.hash.load(Ordering::Relaxed) != h
                        || s.key_len.load(Ordering::Relaxed) != key.len() as u64
                    {
                        continue;
                    }
                    let same = self.key_is(s, key.as_bytes());
                    // Seqlock check: the key's fields and bytes belong to `word` only if
                    // the state is unchanged after they were read.
                    std::sync::atomic::fence(Ordering::Acquire);
                    if s.state.load(Ordering::Relaxed) != word {
                        continue; // removed meanwhile: it is not this key any more
                    }
                    if same? {
                        return Ok((Some(Found { index, word }), reusable));
                    }
                }
                _ => {
                    reusable.get_or_insert(index);
                }
            }
        }
        Ok((None, reusable))
    }

    /// Takes the map lock; after a dead owner, recounts `len` ([`recount_len`]).
    fn lock(&self) -> Result<&MapHeader> {
        let h = self.header()?;
        let r = self.r();
        let procs = r.procs();
        if wait::lock_internal(&h.lock, r.token, &Deadline::forever(), &procs)?
            == Acquired::Recovered
        {
            if let Err(e) = recount_len(r, self.base, self.slots) {
                wait::unlock(&h.lock); // never keep the lock on an error
                return Err(e);
            }
        }
        Ok(h)
    }

    /// Inserts `key` (absent when last looked up) or finds it. With `first`, the
    /// operation that made the insertion is applied to the new element *before* the key
    /// is published LIVE, so the key appears with its first value and its version moves
    /// exactly once (watchers never see the UNDEFINED in between); `first` must not wait
    /// for the tag (the caller passes it only when the fresh element satisfies it).
    /// Nobody else can reach the element meanwhile: lookups see no LIVE slot, and calls
    /// holding a slot of an earlier key find their guard moved. A process killed before
    /// the publishing store leaves the key absent (at most a heap block leaks).
    fn insert<T>(
        &self,
        key: &str,
        h: u64,
        first: Option<&dyn Fn(&Cell<'_>) -> Result<T>>,
    ) -> Result<Inserted<T>> {
        let mh = self.lock()?;
        let r = self.r();
        let result = (|| {
            let (found, reusable) = self.lookup(key, h)?;
            if let Some(f) = found {
                return Ok((Inserted::Found(f), false));
            }
            if mh.len.load(Ordering::Relaxed) >= self.capacity {
                return Err(Error::NoSpace(format!(
                    "map '{}' is full ({} keys)",
                    self.name, self.capacity
                )));
            }
            let index = reusable.ok_or_else(|| Error::corrupt("map has no free slot"))?;
            let s = self.slot(index)?;
            let key_off = write_key(r, s, key, h)?;
            // Reset the element under its lock (holders of it here can only be operations
            // that found their key gone and are about to give up), then publish the slot
            // LIVE: the commit point of the insert.
            let old = s.state.load(Ordering::Relaxed);
            let word = (old & !KEY_STATE_MASK).wrapping_add(KEY_GEN_ONE) | KEY_LIVE;
            let cell = self.stamped(Cell::of(&self.held, self.element_off(index))?)?;
            let floor = mh.version_floor.load(Ordering::Relaxed);
            let inserted = match first {
                None => {
                    cell.reinit(self.full_on_insert, floor, || {
                        s.state.store(word, Ordering::Release);
                        Ok(())
                    })?;
                    Inserted::Found(Found { index, word })
                }
                Some(op) => {
                    let start = cell.reset(self.full_on_insert, floor)?;
                    let out = op(&cell).and_then(|out| {
                        cell.settle_insert(start)?;
                        Ok(out)
                    });
                    let out = match out {
                        Ok(out) => out,
                        Err(e) => {
                            if key_off != 0 {
                                let _ = r.with_heap(|hp| hp.free(key_off));
                            }
                            return Err(e);
                        }
                    };
                    s.state.store(word, Ordering::Release);
                    Inserted::Done(out)
                }
            };
            mh.len.fetch_add(1, Ordering::Relaxed);
            Ok((inserted, true))
        })();
        wait::unlock(&mh.lock);
        if let Ok((_, true)) = result {
            mh.seq.fetch_add(1, Ordering::SeqCst);
            wait::wake_all(&mh.seq, &mh.sleepers, u32::MAX);
        }
        result.map(|(f, _)| f)
    }

    /// Under the map lock, after slot `index` became TOMB: if the next slot of the probe
    /// order is FREE, no key's probe passes through `index`, so it and the TOMBs right
    /// before it become FREE again (one store each), which keeps probes short under
    /// churn. Lock-free lookups are unaffected: none of them needs to pass these slots.
    fn free_tombstones(&self, index: u64) -> Result<()> {
        let mask = self.slots - 1;
        let next = self.slot((index + 1) & mask)?.state.load(Ordering::Relaxed);
        if next & KEY_STATE_MASK != KEY_FREE {
            return Ok(());
        }
        let mut i = index;
        for _ in 0..self.slots {
            let s = self.slot(i)?;
            let word = s.state.load(Ordering::Relaxed);
            if word & KEY_STATE_MASK != KEY_TOMB {
                break;
            }
            s.state.store(
                (word & !KEY_STATE_MASK).wrapping_add(KEY_GEN_ONE) | KEY_FREE,
                Ordering::Release,
            );
            i = i.wrapping_sub(1) & mask;
        }
        Ok(())
    }

    /// Runs a writing operation, inserting the key first when absent (with `op` as the
    /// insertion's first operation: see [`Map::insert`]).
    fn upsert<T>(&self, key: &str, op: impl Fn(&Cell<'_>) -> Result<T>) -> Result<T> {
        self.upsert_as(key, true, op)
    }

    /// [`Map::upsert`]; `fresh_ok` false when `op` might wait on a fresh element (it then
    /// runs after the insertion, as on any present key).
    fn upsert_as<T>(
        &self,
        key: &str,
        fresh_ok: bool,
        op: impl Fn(&Cell<'_>) -> Result<T>,
    ) -> Result<T> {
        let h = check_key(key)?;
        self.r().check_usable()?;
        loop {
            let f = match self.lookup(key, h)?.0 {
                Some(f) => f,
                None => {
                    let first: Option<&dyn Fn(&Cell<'_>) -> Result<T>> =
                        if fresh_ok { Some(&op) } else { None };
                    match self.insert(key, h, first)? {
                        Inserted::Found(f) => f,
                        Inserted::Done(out) => return Ok(out),
                    }
                }
            };
            match op(&self.cell(f)?) {
                Err(e) if stale(&e) => continue,
                r => return r,
            }
        }
    }

    /// Runs an operation that needs the key present, waiting (up to `d`) for an insert
    /// while it is absent.
    fn when_present<T>(
        &self,
        key: &str,
        d: &Deadline,
        op: impl Fn(&Cell<'_>) -> Result<T>,
    ) -> Result<T> {
        let h = check_key(key)?;
        self.r().check_usable()?;
        let mh = self.header()?;
        loop {
            let seq = mh.seq.load(Ordering::SeqCst);
            match self.lookup(key, h)?.0 {
                Some(f) => match op(&self.cell(f)?) {
                    Err(e) if stale(&e) => continue,
                    r => return r,
                },
                None => {
                    wait::wait_for_change(&mh.seq, seq, &mh.sleepers, 1, d)?;
                    self.r().check_usable()?;
                }
            }
        }
    }

    /// Runs a read without side effects and without waiting; `absent` when the key is
    /// not there. Retried when the key was removed meanwhile.
    fn peek<T>(&self, key: &str, absent: T, op: impl Fn(&Cell<'_>) -> Result<T>) -> Result<T> {
        let h = check_key(key)?;
        self.r().check_usable()?;
        loop {
            let Some(f) = self.lookup(key, h)?.0 else {
                return Ok(absent);
            };
            let r = op(&self.cell(f)?);
            let moved = self.slot(f.index)?.state.load(Ordering::Acquire) != f.word;
            match r {
                Err(e) if stale(&e) => continue,
                _ if moved => continue,
                r => return r,
            }
        }
    }

    /// Number of keys present.
    pub fn len(&self) -> Result<u64> {
        self.r().check_usable()?;
        Ok(self.header()?.len.load(Ordering::Relaxed))
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> Result<bool> {
        self.peek(key, false, |_| Ok(true))
    }

    /// Reads the value whatever the tag (UNDEFINED for an absent key).
    pub fn read(&self, key: &str) -> Result<Value> {
        self.peek(key, Value::Undefined, |c| c.read())
    }
    /// Writes the value, keeping the tag (inserts the key if absent).
    pub fn write(&self, key: &str, v: ValueRef<'_>) -> Result<()> {
        self.upsert(key, |c| c.write(v))
    }
    /// Waits until the key is present and FULL, reads, leaves EMPTY.
    pub fn read_fe(&self, key: &str, timeout: Option<Duration>) -> Result<Value> {
        let d = Deadline::after(timeout);
        self.when_present(key, &d, |c| c.read_fe(&d))
    }
    /// Waits until the key is present and FULL, reads, leaves FULL.
    pub fn read_ff(&self, key: &str, timeout: Option<Duration>) -> Result<Value> {
        let d = Deadline::after(timeout);
        self.when_present(key, &d, |c| c.read_ff(&d))
    }
    /// Waits until EMPTY (an absent key is inserted, EMPTY unless the map was created
    /// with [`FLAG_FULL`]), writes, leaves FULL.
    pub fn write_ef(&self, key: &str, v: ValueRef<'_>, timeout: Option<Duration>) -> Result<()> {
        let d = Deadline::after(timeout);
        // A fresh key of a map created FULL is not EMPTY: insert it, then wait.
        self.upsert_as(key, !self.full_on_insert, |c| c.write_ef(v, &d))
    }
    /// Writes and leaves FULL whatever the tag was.
    pub fn write_xf(&self, key: &str, v: ValueRef<'_>) -> Result<()> {
        self.upsert(key, |c| c.write_xf(v))
    }
    /// Writes and leaves EMPTY whatever the tag was.
    pub fn write_xe(&self, key: &str, v: ValueRef<'_>) -> Result<()> {
        self.upsert(key, |c| c.write_xe(v))
    }
    /// Sets the tag without touching the value (inserts the key if absent).
    pub fn set_tag(&self, key: &str, full: bool) -> Result<()> {
        self.upsert(key, |c| c.set_tag(full))
    }
    /// Whether the key is present and FULL.
    pub fn is_full(&self, key: &str) -> Result<bool> {
        self.peek(key, false, |c| c.is_full())
    }
    /// Waits until the key is present and FULL and takes a shared read lock (blocks
    /// writers and `remove` until `release_rw`).
    pub fn read_rw(&self, key: &str, timeout: Option<Duration>) -> Result<Value> {
        let d = Deadline::after(timeout);
        self.when_present(key, &d, |c| c.read_rw(&d))
    }
    /// Releases one `read_rw` lock this process holds on the key.
    pub fn release_rw(&self, key: &str) -> Result<()> {
        let h = check_key(key)?;
        self.r().check_usable()?;
        loop {
            let Some(f) = self.lookup(key, h)?.0 else {
                return Err(Error::invalid(
                    "release_rw without a read_rw held by this process on that key",
                ));
            };
            match self.cell(f)?.release_rw() {
                Err(e) if stale(&e) => continue,
                r => return r,
            }
        }
    }
    /// Atomic JavaScript-like `+=` (an absent key counts as UNDEFINED); returns the old value.
    pub fn faa(&self, key: &str, delta: ValueRef<'_>) -> Result<Value> {
        self.upsert(key, |c| c.faa(delta))
    }
    /// Stores `desired` if the value equals `expected`; returns the old value either way.
    pub fn cas(&self, key: &str, expected: ValueRef<'_>, desired: ValueRef<'_>) -> Result<Value> {
        self.upsert(key, |c| c.cas(expected, desired))
    }
    /// Stores `v`, returns the old value; the tag is unchanged.
    pub fn exchange(&self, key: &str, v: ValueRef<'_>) -> Result<Value> {
        self.upsert(key, |c| c.exchange(v))
    }
    /// The key's version (0 while absent; never repeats across remove and re-insert).
    pub fn version(&self, key: &str) -> Result<u64> {
        self.peek(key, 0, |c| c.version())
    }
    /// Blocks until the key's version differs from `*seen` (an absent key has version 0:
    /// its insertion or removal counts as a change); stores the new one there.
    pub fn wait_change(&self, key: &str, seen: &mut u64, timeout: Option<Duration>) -> Result<()> {
        self.wait_change_until(key, seen, &Deadline::after(timeout))
    }

    /// The value of `key` and the version it belongs to, read together (UNDEFINED and 0
    /// while absent).
    pub fn read_versioned(&self, key: &str) -> Result<(Value, u64)> {
        self.peek(key, (Value::Undefined, 0), |c| c.read_versioned())
    }

    /// Returns the value of `key` and stores its version in `*seen` as soon as the
    /// version differs from `*seen` (see `crate::semantics::watch`): an absent key reads
    /// as UNDEFINED with version 0.
    pub fn watch(&self, key: &str, seen: &mut u64, timeout: Option<Duration>) -> Result<Value> {
        let d = Deadline::after(timeout);
        crate::semantics::watch::watch(
            seen,
            &d,
            || self.read_versioned(key),
            |now, d| self.wait_change_until(key, &mut { now }, d),
        )
    }

    fn wait_change_until(&self, key: &str, seen: &mut u64, d: &Deadline) -> Result<()> {
        let h = check_key(key)?;
        self.r().check_usable()?;
        let mh = self.header()?;
        loop {
            let seq = mh.seq.load(Ordering::SeqCst);
            match self.lookup(key, h)?.0 {
                None => {
                    if *seen != 0 {
                        *seen = 0;
                        return Ok(());
                    }
                    wait::wait_for_change(&mh.seq, seq, &mh.sleepers, 1, d)?;
                    self.r().check_usable()?;
                }
                Some(f) => {
                    let c = self.cell(f)?;
                    let now = c.version()?;
                    if self.slot(f.index)?.state.load(Ordering::Acquire) != f.word {
                        continue;
                    }
                    if now != *seen {
                        *seen = now;
                        return Ok(());
                    }
                    // Returns when the version moves, which a removal also does.
                    let mut v = now;
                    c.wait_change(&mut v, d)?;
                }
            }
        }
    }

    /// Removes `key` (waiting while `read_rw` readers hold it): its element is reset to
    /// EMPTY/UNDEFINED (waking its waiters) and its slot can take a new key.
    /// `NotFound` if absent.
    pub fn remove(&self, key: &str) -> Result<()> {
        let h = check_key(key)?;
        self.r().check_usable()?;
        loop {
            let Some(f) = self.lookup(key, h)?.0 else {
                return Err(Error::NotFound(format!(
                    "map '{}' has no key '{}'",
                    self.name,
                    key.chars().take(64).collect::<String>()
                )));
            };
            let s = self.slot(f.index)?;
            let mut key_off = 0;
            let r = self.cell(f)?.clear(|| {
                let mh = self.lock()?;
                let retire = (|| {
                    let e: &Element = self.r().map.get(self.element_off(f.index))?;
                    // The removed key's next version (the reset after this) must stay
                    // below the versions of later keys in any slot.
                    let floor = e.version.load(Ordering::Relaxed).wrapping_add(1);
                    if mh.version_floor.load(Ordering::Relaxed) < floor {
                        mh.version_floor.store(floor, Ordering::Relaxed);
                    }
                    key_off = s.key_off.load(Ordering::Relaxed);
                    // The commit point of the removal.
                    s.state.store(
                        (f.word & !KEY_STATE_MASK).wrapping_add(KEY_GEN_ONE) | KEY_TOMB,
                        Ordering::Release,
                    );
                    mh.len.fetch_sub(1, Ordering::Relaxed);
                    self.free_tombstones(f.index)?;
                    Ok(())
                })();
                wait::unlock(&mh.lock);
                retire
            });
            match r {
                Err(e) if stale(&e) => continue,
                Err(e) => return Err(e),
                Ok(()) => {
                    if key_off != 0 {
                        let _ = self.r().with_heap(|hp| hp.free(key_off));
                    }
                    return Ok(());
                }
            }
        }
    }

    /// The next key at or after slot `*cursor` (start with 0), advancing `*cursor` past
    /// it; `None` at the end. Every key present for the whole iteration is returned
    /// exactly once; keys inserted or removed meanwhile may or may not be.
    pub fn next_key(&self, cursor: &mut u64) -> Result<Option<String>> {
        self.r().check_usable()?;
        while *cursor < self.slots {
            let s = self.slot(*cursor)?;
            *cursor += 1;
            let word = s.state.load(Ordering::Acquire);
            if word & KEY_STATE_MASK != KEY_LIVE {
                continue;
            }
            let bytes = self.key_of(s);
            std::sync::atomic::fence(Ordering::Acquire);
            if s.state.load(Ordering::Relaxed) != word {
                continue; // removed while being read: it was not present throughout
            }
            let key =
                String::from_utf8(bytes?).map_err(|_| Error::corrupt("map key is not UTF-8"))?;
            return Ok(Some(key));
        }
        Ok(None)
    }

    /// All keys (a snapshot with the guarantee of [`Map::next_key`]), in slot order.
    pub fn keys(&self) -> Result<Vec<String>> {
        let mut cursor = 0;
        let mut out = Vec::new();
        while let Some(k) = self.next_key(&mut cursor)? {
            out.push(k);
        }
        Ok(out)
    }
}

// ---- crash recovery, checker and sweep ----

/// Under the map lock taken over from a dead owner: recounts `len` from the LIVE key
/// slots (an insert or removal killed between its slot change and its count change
/// leaves the count off by one). Map bodies start at `base` and hold `slots` slots.
fn recount_len(r: &RegionInner, base: u64, slots: u64) -> Result<()> {
    let h: &MapHeader = r.map.get(base)?;
    let mut live = 0;
    for i in 0..slots {
        let s: &KeySlot = r.map.get(base + MAP_HEADER + i * SLOT)?;
        if s.state.load(Ordering::Acquire) & KEY_STATE_MASK == KEY_LIVE {
            live += 1;
        }
    }
    h.len.store(live, Ordering::Relaxed);
    Ok(())
}

pub(crate) const OPS: KindOps = KindOps {
    spec: &MAP_KIND,
    label: |_| "map",
    scan,
    sweep,
    release,
};

/// Frees what a removed map owns: the key blocks and values of its live keys (a removed
/// key's element owns nothing; what an interrupted removal left there is a leak for the
/// checker).
fn release(r: &RegionInner, o: &Placed<'_>) -> Result<()> {
    let slots = slots_for(o.shape).ok_or_else(|| Error::corrupt("map shape overflows"))?;
    for j in 0..slots {
        let slot_off = o.body + MAP_HEADER + j * SLOT;
        let k: &KeySlot = r.map.get(slot_off)?;
        if k.state.load(Ordering::Acquire) & KEY_STATE_MASK != KEY_LIVE {
            continue;
        }
        if k.key_len.load(Ordering::Relaxed) > KEY_INLINE_MAX as u64 {
            r.with_heap(|h| h.free_at(r.map.offset_of(&k.key_off)))?;
        }
        element::release(r, slot_off + KEY_SLOT)?;
    }
    Ok(())
}

fn sweep(r: &RegionInner, o: &Placed<'_>, done: &mut Swept) -> Result<()> {
    let h: &MapHeader = r.map.get(o.body)?;
    let slots = slots_for(o.shape)
        .filter(|&s| s == h.slots.load(Ordering::Relaxed))
        .ok_or_else(|| Error::corrupt("map header is damaged"))?;
    done.lock_taken_over(r.take_over_dead(&h.lock, |_| recount_len(r, o.body, slots))?);
    for j in 0..slots {
        element::sweep(r, o.body + MAP_HEADER + j * SLOT + KEY_SLOT, done)?;
    }
    Ok(())
}

fn scan(sc: &mut Scan<'_>, o: &Placed<'_>) {
    let (loc, base, capacity) = (o.loc, o.body, o.shape);
    let Ok(h) = sc.map.get::<MapHeader>(base) else {
        return;
    };
    let Some(slots) = slots_for(capacity) else {
        return;
    };
    if h.slots.load(Ordering::Relaxed) != slots {
        sc.problem(loc, "damaged header (slot count)");
        return;
    }
    let lock_held = sc.lock_word(&h.lock, || loc.to_owned());
    let mut live = 0u64;
    let mut keys = HashSet::new();
    let mask = slots - 1;
    for i in 0..slots {
        let slot_off = base + MAP_HEADER + i * SLOT;
        let Ok(s) = sc.map.get::<KeySlot>(slot_off) else {
            return;
        };
        let sloc = || format!("{loc} slot {i}");
        let state = s.state.load(Ordering::Acquire) & KEY_STATE_MASK;
        if state == KEY_LIVE {
            live += 1;
            let len = s.key_len.load(Ordering::Relaxed);
            if len > MAX_KEY_LEN as u64 {
                sc.problem(sloc(), format!("key of {len} bytes"));
                continue;
            }
            let mut key = Vec::new();
            if len <= KEY_INLINE_MAX as u64 {
                for w in &s.key_inline {
                    key.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
                }
                key.truncate(len as usize);
            } else {
                let off = s.key_off.load(Ordering::Relaxed);
                if !sc.reference(off, len, || format!("{} key", sloc())) {
                    continue;
                }
                if sc.map.read_bytes(off, len, &mut key).is_err() {
                    continue;
                }
            }
            let Ok(key) = String::from_utf8(key) else {
                sc.problem(sloc(), "key is not UTF-8");
                continue;
            };
            let hash = fnv1a(key.as_bytes());
            if s.hash.load(Ordering::Relaxed) != hash {
                sc.problem(sloc(), format!("key '{key}' has a wrong hash"));
            } else {
                // Lookups probe from the hash to the first FREE slot: the key must lie
                // on that path, or it can never be found.
                let mut j = hash & mask;
                while j != i {
                    let st = sc
                        .map
                        .get::<KeySlot>(base + MAP_HEADER + j * SLOT)
                        .map(|k| k.state.load(Ordering::Acquire) & KEY_STATE_MASK)
                        .unwrap_or(KEY_FREE);
                    if st == KEY_FREE {
                        sc.problem(
                            sloc(),
                            format!("key '{key}' is unreachable (a free slot {j} lies before it)"),
                        );
                        break;
                    }
                    j = (j + 1) & mask;
                }
            }
            if !keys.insert(key.clone()) {
                sc.problem(sloc(), format!("key '{key}' is stored twice"));
            }
            let kl = format!("{loc} key '{}'", key.chars().take(64).collect::<String>());
            element::scan(sc, slot_off + KEY_SLOT, true, &|| kl.clone());
        } else {
            // Not LIVE: the element should hold nothing; a heap value left there by an
            // interrupted removal is not a reference (an insert overwrites it).
            if let Ok(e) = sc.map.get::<Element>(slot_off + KEY_SLOT) {
                let tag = e.tag.load(Ordering::Relaxed);
                let vs = &e.slots[((tag & TAG_CUR) >> 1) as usize];
                if element::meta_in_heap(vs.meta.load(Ordering::Relaxed)) {
                    sc.orphans.push(Orphan {
                        elem_off: slot_off + KEY_SLOT,
                    });
                }
                sc.lock_word(&e.lock, sloc);
            }
        }
    }
    let len = h.len.load(Ordering::Relaxed);
    if len != live {
        let msg = format!("the key count says {len}, {live} keys are live");
        match lock_held {
            None => sc.problem(loc, msg),
            Some(false) => sc.stale(loc, msg),
            Some(true) => {} // a live process is in the middle of an insert or removal
        }
    }
    if live > capacity {
        sc.problem(
            loc,
            format!("{live} keys, more than the capacity {capacity}"),
        );
    }
}
