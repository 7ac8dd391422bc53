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
use crate::semantics::patch::Patch;
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
/// * `layout`: per-map layout flags, set at creation. [`MAP_LAYOUT_CHANGES`]: the map
///   keeps `changes`, the element stamps and the removal log. Maps made by older
///   versions have 0 here (the word was padding) and answer the map-wide change calls
///   with Unsupported; everything else works on them as before.
/// * `len`: number of LIVE keys (changed under `lock`; recounted when the lock is taken
///   over from a dead owner).
/// * `version_floor`: every removal raises it above the removed key's last version, and
///   an insert starts its key's version above it, so a key's version never repeats
///   across remove and re-insert.
/// * `slots`: number of slots (repeats what the capacity implies; checked at open).
/// * `changes`: the map's change counter: +1 for every change of any key (insert,
///   write, tag, removal). Each change stores the counter's new value in the changed
///   element's `stamp` (or, for a removal, in the removal log). Its low 32 bits are the
///   futex word of map-wide waiters.
/// * `log_off`: offset of the removal log (a heap block: [`LogHeader`] then
///   [`LogEntry`]s), which records the last removals so that they can be listed.
/// * `change_sleepers`: processes sleeping on `changes`.
#[repr(C, align(64))]
pub struct MapHeader {
    pub lock: AtomicU32,
    pub seq: AtomicU32,
    pub sleepers: AtomicU32,
    pub layout: AtomicU32,
    pub len: AtomicU64,
    pub version_floor: AtomicU64,
    pub slots: AtomicU64,
    pub changes: AtomicU64,
    pub log_off: AtomicU64,
    pub change_sleepers: AtomicU32,
    pub _reserved: AtomicU32,
}
const _: () = assert!(size_of::<MapHeader>() == 64);

/// [`MapHeader::layout`]: the map tracks changes map-wide.
pub const MAP_LAYOUT_CHANGES: u32 = 1;

/// The removal log's header (a heap block of its own, see [`MapHeader::log_off`]).
///
/// * `head`: removals logged so far; removal `n` went to entry `n % entries`.
/// * `entries`: how many it keeps ([`log_entries`] of the capacity).
/// * `horizon`: the largest stamp of a removal no longer recorded (overwritten):
///   removals after a counter at or above it are all listed.
///
/// All changed only under the map lock.
#[repr(C, align(64))]
pub struct LogHeader {
    pub head: AtomicU64,
    pub entries: AtomicU64,
    pub horizon: AtomicU64,
    pub _reserved: [AtomicU64; 5],
}
const _: () = assert!(size_of::<LogHeader>() == 64);

/// One removal: the change counter it took (`stamp`, 0 = unused or being written) and
/// the key (as in [`KeySlot`]: up to [`KEY_INLINE_MAX`] bytes inline, longer ones in a
/// heap block of the entry's own). Written and read under the map lock only.
#[repr(C, align(64))]
pub struct LogEntry {
    pub stamp: AtomicU64,
    pub key_len: AtomicU64,
    pub key_off: AtomicU64,
    pub _reserved: AtomicU64,
    pub key_inline: [AtomicU64; 4],
}
const _: () = assert!(size_of::<LogEntry>() == 64);

/// The offset of entry `i` of the removal log at `log` (checked: a damaged offset is
/// Corrupt, never an overflow).
fn log_entry_off(log: u64, i: u64) -> Result<u64> {
    i.checked_add(1)
        .and_then(|n| n.checked_mul(size_of::<LogEntry>() as u64))
        .and_then(|d| log.checked_add(d))
        .ok_or_else(|| Error::corrupt("a map's removal log lies outside the region"))
}

/// How many removals a map of `capacity` keys keeps listable.
pub(crate) fn log_entries(capacity: u64) -> u64 {
    capacity.clamp(16, 1024).next_power_of_two()
}

// SAFETY: #[repr(C)], made only of atomics, valid for every bit pattern.
unsafe impl Shared for LogHeader {}
// SAFETY: as above.
unsafe impl Shared for LogEntry {}

/// Stamps a change of an element (its `stamp` word; under the element lock) with the
/// map's next change count, and wakes map-wide waiters.
///
/// Why a change is never hidden from a lister (who reads the counter, then lists the
/// elements stamped above the count it had before): the stamp becomes PENDING (larger
/// than every count) *before* the counter moves, and the increment is a release, so a
/// lister whose counter read (acquire or SeqCst) sees the increment also sees PENDING or
/// the final stamp, both above its previous count. A process killed between the two
/// stores leaves PENDING: the element is listed as changed until its next change
/// (over-reporting, never hiding), and the next locker that takes the lock over from the
/// dead owner stamps it properly.
///
/// One locked instruction per change (the increment): the PENDING store needs no more
/// than the increment's release, and the sleeper check is a SeqCst load, not the
/// read-modify-write of [`wait::sleepers_after_change`], because the change it pairs
/// with is itself a SeqCst read-modify-write: in the single order of SeqCst operations
/// either this load follows a waiter's increment of `change_sleepers` (and sees it), or
/// the waiter's SeqCst re-check of the counter follows the increment of `changes` (and
/// sees the change). Map writes pay this on every change, so it is kept to the minimum.
pub(crate) fn stamp_change(mh: &MapHeader, stamp: &AtomicU64) {
    stamp.store(STAMP_PENDING, Ordering::Relaxed);
    let n = mh.changes.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
    stamp.store(n, Ordering::Release);
    if mh.change_sleepers.load(Ordering::SeqCst) != 0 {
        crate::shm::os::sys::futex_wake(element::version_futex(&mh.changes), i32::MAX);
    }
}

fn wake_changes(mh: &MapHeader) {
    if wait::sleepers_after_change(&mh.change_sleepers) != 0 {
        crate::shm::os::sys::futex_wake(element::version_futex(&mh.changes), i32::MAX);
    }
}

/// One entry of a map-wide change listing: a key changed (or removed) after a given
/// count of the map's change counter.
pub use crate::semantics::watch::MapChange;

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
    /// Offset of the removal log when the map tracks changes map-wide (see
    /// [`MapHeader::layout`]); None for maps made by older versions.
    log: Option<u64>,
}

/// The operation an insertion applies before publishing the key (see [`Map::insert`]).
type FirstOp<'a, T> = &'a dyn Fn(&Cell<'_>) -> Result<T>;

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
        self.map_with(name, capacity, flags, None)
    }

    /// [`Region::map`], with `initial` data (a MessagePack map of string keys, see
    /// [`crate::semantics::value::object_entries`]) that this call stores if, and only
    /// if, it creates the map: every key FULL with its value at version 1, written into
    /// the body before the map's directory entry is published, so no process ever sees
    /// the map without them and two creators racing resolve to one (the directory
    /// lock). Checked whether or not the map exists: an OBJECT that is not a map of
    /// string keys is InvalidArgument, more keys than `capacity` NoSpace.
    pub fn map_with(
        &self,
        name: &str,
        capacity: u64,
        flags: u32,
        initial: Option<&[(String, Value)]>,
    ) -> Result<Map> {
        let r = &self.inner;
        r.check_usable()?;
        check_object_name(name)?;
        if flags & !(FLAG_FULL | FLAG_EXCLUSIVE) != 0 {
            return Err(Error::invalid(format!("unknown map flags {flags:#x}")));
        }
        let initial = initial.unwrap_or_default();
        crate::semantics::watch::check_initial(name, capacity, initial)?;
        for (k, v) in initial {
            check_key(k)?;
            v.as_ref().validate()?;
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
                // Change tracking: the removal log, then the layout flag. (A process
                // killed before the entry is published leaks the body and the log,
                // which the region checker reports.)
                let entries = log_entries(capacity);
                let log_size = (1 + entries) * size_of::<LogEntry>() as u64;
                let log = r.with_heap(|hp| hp.alloc(log_size, true))?;
                let filled = (|| {
                    r.map.zero(log, log_size)?;
                    let lh: &LogHeader = r.map.get(log)?;
                    lh.entries.store(entries, Ordering::Relaxed);
                    h.log_off.store(log, Ordering::Relaxed);
                    h.layout.store(MAP_LAYOUT_CHANGES, Ordering::Relaxed);
                    fill_initial(r, off + OBJ_HEADER, n, initial)
                })();
                if filled.is_err() {
                    let _ = r.with_heap(|hp| hp.free(log));
                }
                filled
            },
        )?;
        let slots = slots_for(obj.shape).expect("checked by body_size");
        let hdr: &ObjectHeader = r.map.get(obj.offset)?;
        let mh: &MapHeader = r.map.get(obj.offset + OBJ_HEADER)?;
        if mh.slots.load(Ordering::Relaxed) != slots {
            return Err(Error::corrupt(format!("map '{name}' has a damaged header")));
        }
        let log = if mh.layout.load(Ordering::Relaxed) & MAP_LAYOUT_CHANGES != 0 {
            let off = mh.log_off.load(Ordering::Relaxed);
            let entries = log_entries(obj.shape);
            let fits = off >= r.fixed.heap_offset
                && off % 64 == 0
                && (1 + entries)
                    .checked_mul(size_of::<LogEntry>() as u64)
                    .and_then(|n| n.checked_add(off))
                    .is_some_and(|end| end <= r.fixed.total_size);
            if !fits || r.map.get::<LogHeader>(off)?.entries.load(Ordering::Relaxed) != entries {
                return Err(Error::corrupt(format!(
                    "map '{name}' has a damaged removal log"
                )));
            }
            Some(off)
        } else {
            None
        };
        Ok(Map {
            held,
            base: obj.offset + OBJ_HEADER,
            slots,
            capacity: obj.shape,
            full_on_insert: hdr.flags.load(Ordering::Relaxed) & FLAG_FULL != 0,
            name: name.to_owned(),
            log,
        })
    }
}

/// Writes a new map's initial keys (checked already) into its body at `base` (with
/// `slots` slots), before anyone can see it: each FULL holding its value, version 1,
/// stamped with the change counts 1..=n. On failure frees what it allocated.
fn fill_initial(r: &RegionInner, base: u64, slots: u64, initial: &[(String, Value)]) -> Result<()> {
    let mh: &MapHeader = r.map.get(base)?;
    let mut blocks = Vec::new();
    let filled = (|| {
        for (i, (key, value)) in initial.iter().enumerate() {
            let h = fnv1a(key.as_bytes());
            let mask = slots - 1;
            let index = (0..slots)
                .map(|n| h.wrapping_add(n) & mask)
                .find(|&j| {
                    r.map
                        .get::<KeySlot>(base + MAP_HEADER + j * SLOT)
                        .is_ok_and(|s| s.state.load(Ordering::Relaxed) == KEY_FREE)
                })
                .ok_or_else(|| Error::corrupt("map has no free slot"))?;
            let s: &KeySlot = r.map.get(base + MAP_HEADER + index * SLOT)?;
            let key_off = write_key(r, s, key, h)?;
            if key_off != 0 {
                blocks.push(key_off);
            }
            let p = element::prepare_valid_value(r, value.as_ref())?;
            if let Some(b) = p.blob {
                blocks.push(b);
            }
            let e: &Element = r.map.get(base + MAP_HEADER + index * SLOT + KEY_SLOT)?;
            e.slots[0].meta.store(p.meta, Ordering::Relaxed);
            e.slots[0].payload.store(p.payload, Ordering::Relaxed);
            e.tag.store(TAG_FULL, Ordering::Relaxed);
            e.version.store(1, Ordering::Relaxed);
            e.stamp.store(i as u64 + 1, Ordering::Relaxed);
            s.state.store(KEY_GEN_ONE | KEY_LIVE, Ordering::Relaxed);
        }
        mh.len.store(initial.len() as u64, Ordering::Relaxed);
        mh.changes.store(initial.len() as u64, Ordering::Relaxed);
        Ok(())
    })();
    if filled.is_err() {
        for b in blocks {
            let _ = r.with_heap(|hp| hp.free(b));
        }
    }
    filled
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
    // Inlined: a `Result<Cell>` returned through memory was stored field by field and
    // reloaded 16 bytes at a time, a store-forwarding stall on every keyed call.
    #[inline(always)]
    fn cell(&self, f: Found) -> Result<Cell<'_>> {
        let mut c = self.stamped(Cell::of(&self.held, self.element_off(f.index))?)?;
        c.guard = Some((&self.slot(f.index)?.state, f.word));
        Ok(c)
    }

    /// `c`, stamping the map's change counter on every change it makes (see
    /// [`MapHeader`]).
    #[inline(always)]
    fn stamped<'a>(&'a self, mut c: Cell<'a>) -> Result<Cell<'a>> {
        if self.log.is_some() {
            c.map = Some(self.header()?);
        }
        Ok(c)
    }

    /// The header of a map that tracks changes map-wide, else Unsupported.
    fn tracking(&self) -> Result<(&MapHeader, &LogHeader)> {
        self.r().check_usable()?;
        let Some(log) = self.log else {
            return Err(Error::Unsupported(format!(
                "map '{}' was made by an older version of plexus, without map-wide change \
                 tracking; watch its keys one by one (watch, wait_change), or remove it and \
                 create it again to use change counts and change listings",
                self.name
            )));
        };
        Ok((self.header()?, self.r().map.get(log)?))
    }

    fn log_entry(&self, log: u64, i: u64) -> Result<&LogEntry> {
        self.r().map.get(log_entry_off(log, i)?)
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
            if let Err(e) = recount_len(r, self.base, self.slots, self.capacity) {
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
    fn insert<T>(&self, key: &str, h: u64, first: Option<FirstOp<'_, T>>) -> Result<Inserted<T>> {
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
                    // The first operation runs on an unstamped cell: the insertion is
                    // stamped once, after the slot is LIVE (see `settle_insert`).
                    let bare = Cell::of(&self.held, self.element_off(index))?;
                    let start = bare.reset(self.full_on_insert, floor)?;
                    let out = op(&bare).and_then(|out| {
                        cell.settle_insert(start, || s.state.store(word, Ordering::Release))?;
                        Ok(out)
                    });
                    match out {
                        Ok(out) => Inserted::Done(out),
                        Err(e) => {
                            if key_off != 0 {
                                let _ = r.with_heap(|hp| hp.free(key_off));
                            }
                            return Err(e);
                        }
                    }
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
                    let first: Option<FirstOp<'_, T>> = if fresh_ok { Some(&op) } else { None };
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
    /// Stores a value and tag (inserting the key if absent), moving the version to at
    /// least `version` (`plexus load`).
    pub fn restore(&self, key: &str, v: ValueRef<'_>, full: bool, version: u64) -> Result<()> {
        self.upsert(key, |c| c.restore(v, full, version))
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
    /// Applies a MongoDB-style patch to the key's OBJECT value atomically (an absent key
    /// is inserted and counts as UNDEFINED, i.e. `{}`); returns the new value.
    pub fn patch(&self, key: &str, patch: ValueRef<'_>) -> Result<Value> {
        let p = Patch::parse(patch)?;
        self.upsert(key, |c| c.patch(&p))
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
            // The removal is stamped once, in the removal log (the element reset after
            // it is no change of a key any more).
            let mut cell = self.cell(f)?;
            cell.map = None;
            let r = cell.clear(|| {
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
                    if let Some(log) = self.log {
                        self.log_removal(mh, log, s)?;
                    }
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

    /// Under the map lock, before the removal of the key in slot `s` commits: records it
    /// in the removal log with the next change count. The entry is complete (stamp last)
    /// before the slot becomes TOMB, so a lister that reads the counter past this
    /// removal finds it (listers read the log under the map lock); a process killed
    /// after the entry but before the TOMB leaves an entry for a key that is still
    /// present, which the next taker of the map lock drops ([`repair_log`]). The entry
    /// it overwrites raises the horizon first.
    fn log_removal(&self, mh: &MapHeader, log: u64, s: &KeySlot) -> Result<()> {
        let r = self.r();
        let lh: &LogHeader = r.map.get(log)?;
        // The number of entries as the capacity gives it (checked against the file's at
        // open), never as the file says now.
        let entries = log_entries(self.capacity);
        let head = lh.head.load(Ordering::Relaxed);
        let e = self.log_entry(log, head % entries)?;
        let old = e.stamp.load(Ordering::Relaxed);
        if old > lh.horizon.load(Ordering::Relaxed) {
            lh.horizon.store(old, Ordering::Release);
        }
        e.stamp.store(0, Ordering::Release);
        if e.key_len.load(Ordering::Relaxed) > KEY_INLINE_MAX as u64 {
            // Clears the word too: safe to repeat after a crash.
            r.with_heap(|hp| hp.free_at(r.map.offset_of(&e.key_off)))?;
        }
        let len = s.key_len.load(Ordering::Relaxed);
        e.key_len.store(0, Ordering::Relaxed);
        if len <= KEY_INLINE_MAX as u64 {
            for (to, from) in e.key_inline.iter().zip(&s.key_inline) {
                to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            e.key_off.store(0, Ordering::Relaxed);
        } else {
            let bytes = self.key_of(s)?;
            let off = r.with_heap(|hp| hp.alloc(len, false))?;
            e.key_off.store(off, Ordering::Relaxed);
            r.map.write_bytes(off, &bytes)?;
        }
        e.key_len.store(len, Ordering::Relaxed);
        lh.head.store(head.wrapping_add(1), Ordering::Relaxed);
        let n = mh.changes.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        e.stamp.store(n, Ordering::Release);
        wake_changes(mh);
        Ok(())
    }

    /// Up to `max` changes from [`Map::next_change`] (an empty list at the end).
    pub fn changes(&self, since: u64, cursor: &mut u64, max: usize) -> Result<Vec<MapChange>> {
        let mut out = Vec::new();
        while out.len() < max.max(1) {
            match self.next_change(since, cursor)? {
                Some(c) => out.push(c),
                None => break,
            }
        }
        Ok(out)
    }

    /// The map's change count: +1 for every change of any key (insert, write, tag
    /// change, removal). Unsupported on maps made by older versions.
    pub fn change_count(&self) -> Result<u64> {
        Ok(self.tracking()?.0.changes.load(Ordering::SeqCst))
    }

    /// Blocks until the change count differs from `*counter`, then stores it there.
    pub fn wait_changes(&self, counter: &mut u64, timeout: Option<Duration>) -> Result<()> {
        let (mh, _) = self.tracking()?;
        let d = Deadline::after(timeout);
        let r = self.r();
        let word = element::version_futex(&mh.changes);
        loop {
            let removal_seen = r.removed_word().load(Ordering::SeqCst);
            let now = mh.changes.load(Ordering::SeqCst);
            if now != *counter {
                *counter = now;
                return Ok(());
            }
            if !wait::spin_until(word, &d, || mh.changes.load(Ordering::Acquire) != now) {
                wait::sleep_while_equal_or_removed(
                    word,
                    now as u32,
                    &mh.change_sleepers,
                    1,
                    &d,
                    r.removed_word(),
                    removal_seen,
                )?;
            }
            r.check_usable()?;
        }
    }

    /// The next key changed after the change count `since`, from `*cursor` (start with
    /// 0), advancing the cursor; `None` at the end. Lists every key present whose last
    /// change came after `since` (with `since == 0`: every key present), then the
    /// removals after `since` that the removal log still holds (the last
    /// [`log_entries`] of the capacity). A key changed during the listing may or may not
    /// be listed, and may be listed twice; read the count before listing and list again
    /// from it to get the changes that came meanwhile. `OutOfRange` when removals after
    /// `since` (non-zero) were dropped from the log: list again from 0.
    pub fn next_change(&self, since: u64, cursor: &mut u64) -> Result<Option<MapChange>> {
        let (mh, lh) = self.tracking()?;
        let log = self.log.expect("tracking checked it");
        let horizon = lh.horizon.load(Ordering::Acquire);
        if since != 0 && since < horizon {
            return Err(Error::OutOfRange {
                index: since,
                length: horizon,
            });
        }
        while *cursor < self.slots {
            let s = self.slot(*cursor)?;
            let e: &Element = self.r().map.get(self.element_off(*cursor))?;
            *cursor += 1;
            let word = s.state.load(Ordering::Acquire);
            if word & KEY_STATE_MASK != KEY_LIVE {
                continue;
            }
            let stamp = e.stamp.load(Ordering::Acquire);
            if stamp <= since {
                continue;
            }
            let version = e.version.load(Ordering::Acquire);
            let bytes = self.key_of(s);
            std::sync::atomic::fence(Ordering::Acquire);
            if s.state.load(Ordering::Relaxed) != word {
                continue; // removed meanwhile: the log has it
            }
            let key =
                String::from_utf8(bytes?).map_err(|_| Error::corrupt("map key is not UTF-8"))?;
            let counter = if stamp == STAMP_PENDING {
                mh.changes.load(Ordering::Acquire)
            } else {
                stamp
            };
            return Ok(Some(MapChange {
                key,
                version,
                counter,
                removed: false,
            }));
        }
        let entries = log_entries(self.capacity);
        while cursor.saturating_sub(self.slots) < entries {
            let e = self.log_entry(log, *cursor - self.slots)?;
            *cursor += 1;
            if e.stamp.load(Ordering::Acquire) <= since {
                continue; // (0: unused) a cheap look first; the lock makes it exact
            }
            let mh = self.lock()?;
            let found = (|| {
                let stamp = e.stamp.load(Ordering::Acquire);
                if stamp <= since {
                    return Ok(None);
                }
                let bytes = log_key(self.r(), e)?;
                let key = String::from_utf8(bytes)
                    .map_err(|_| Error::corrupt("removed map key is not UTF-8"))?;
                Ok(Some(MapChange {
                    key,
                    version: 0,
                    counter: stamp,
                    removed: true,
                }))
            })();
            wait::unlock(&mh.lock);
            if let Some(c) = found? {
                return Ok(Some(c));
            }
        }
        Ok(None)
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
/// leaves the count off by one), and drops a removal-log entry for a key that is still
/// present ([`repair_log`]). Map bodies start at `base` and hold `slots` slots.
fn recount_len(r: &RegionInner, base: u64, slots: u64, capacity: u64) -> Result<()> {
    let h: &MapHeader = r.map.get(base)?;
    let mut live = 0;
    for i in 0..slots {
        let s: &KeySlot = r.map.get(base + MAP_HEADER + i * SLOT)?;
        if s.state.load(Ordering::Acquire) & KEY_STATE_MASK == KEY_LIVE {
            live += 1;
        }
    }
    h.len.store(live, Ordering::Relaxed);
    repair_log(r, base, slots, capacity)
}

/// The key bytes of a removal-log entry (checked to lie inside the heap).
fn log_key(r: &RegionInner, e: &LogEntry) -> Result<Vec<u8>> {
    let len = e.key_len.load(Ordering::Relaxed);
    if len > MAX_KEY_LEN as u64 {
        return Err(Error::corrupt(
            "removal log entry with an impossible key length",
        ));
    }
    if len <= KEY_INLINE_MAX as u64 {
        let mut bytes = Vec::new();
        for w in &e.key_inline {
            bytes.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        bytes.truncate(len as usize);
        return Ok(bytes);
    }
    element::copy_blob(r, e.key_off.load(Ordering::Relaxed), len)
}

/// Under the map lock taken over from a dead owner: a removal killed after logging its
/// key but before the key's slot became TOMB left the newest log entry naming a key that
/// is still present. Listers never saw that entry (they read the log under the map
/// lock, which the dead remover held), so unstamping it hides nothing.
fn repair_log(r: &RegionInner, base: u64, slots: u64, capacity: u64) -> Result<()> {
    let h: &MapHeader = r.map.get(base)?;
    if h.layout.load(Ordering::Relaxed) & MAP_LAYOUT_CHANGES == 0 {
        return Ok(());
    }
    let log = h.log_off.load(Ordering::Relaxed);
    let lh: &LogHeader = r.map.get(log)?;
    let (head, entries) = (lh.head.load(Ordering::Relaxed), log_entries(capacity));
    if head == 0 {
        return Ok(());
    }
    let e: &LogEntry = r.map.get(log_entry_off(log, (head - 1) % entries)?)?;
    if e.stamp.load(Ordering::Relaxed) == 0 {
        return Ok(());
    }
    let key = log_key(r, e)?;
    for i in 0..slots {
        let s: &KeySlot = r.map.get(base + MAP_HEADER + i * SLOT)?;
        if s.state.load(Ordering::Acquire) & KEY_STATE_MASK != KEY_LIVE
            || s.key_len.load(Ordering::Relaxed) != key.len() as u64
        {
            continue;
        }
        let mut k = Vec::new();
        if key.len() <= KEY_INLINE_MAX {
            for w in &s.key_inline {
                k.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
            }
            k.truncate(key.len());
        } else {
            k = element::copy_blob(r, s.key_off.load(Ordering::Relaxed), key.len() as u64)?;
        }
        if k == key {
            e.stamp.store(0, Ordering::Release);
            break;
        }
    }
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
    let h: &MapHeader = r.map.get(o.body)?;
    if h.layout.load(Ordering::Acquire) & MAP_LAYOUT_CHANGES != 0 {
        let log = h.log_off.load(Ordering::Acquire);
        if log != 0 {
            for i in 0..log_entries(o.shape) {
                let e: &LogEntry = r.map.get(log_entry_off(log, i)?)?;
                if e.key_len.load(Ordering::Acquire) > KEY_INLINE_MAX as u64 {
                    r.with_heap(|hp| hp.free_at(r.map.offset_of(&e.key_off)))?;
                }
            }
            r.with_heap(|hp| hp.free_at(r.map.offset_of(&h.log_off)))?;
        }
    }
    Ok(())
}

fn sweep(r: &RegionInner, o: &Placed<'_>, done: &mut Swept) -> Result<()> {
    let h: &MapHeader = r.map.get(o.body)?;
    let slots = slots_for(o.shape)
        .filter(|&s| s == h.slots.load(Ordering::Relaxed))
        .ok_or_else(|| Error::corrupt("map header is damaged"))?;
    done.lock_taken_over(r.take_over_dead(&h.lock, |_| recount_len(r, o.body, slots, o.shape))?);
    let tracked = (h.layout.load(Ordering::Relaxed) & MAP_LAYOUT_CHANGES != 0).then_some(h);
    for j in 0..slots {
        element::sweep_in(r, o.body + MAP_HEADER + j * SLOT + KEY_SLOT, tracked, done)?;
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
    if h.layout.load(Ordering::Relaxed) & MAP_LAYOUT_CHANGES != 0 {
        let log = h.log_off.load(Ordering::Relaxed);
        let entries = log_entries(capacity);
        let size = (1 + entries) * size_of::<LogEntry>() as u64;
        if sc.reference(log, size, || format!("{loc} removal log")) {
            for i in 0..entries {
                let Some(e) = log_entry_off(log, i)
                    .ok()
                    .and_then(|at| sc.map.get::<LogEntry>(at).ok())
                else {
                    break;
                };
                let len = e.key_len.load(Ordering::Relaxed);
                if len > KEY_INLINE_MAX as u64 && e.key_off.load(Ordering::Relaxed) != 0 {
                    let off = e.key_off.load(Ordering::Relaxed);
                    sc.reference(off, len, || format!("{loc} removal log entry {i}"));
                }
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
