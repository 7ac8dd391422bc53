//! The handle table: generation-checked 64-bit ids for every object handed to C.
//!
//! An id is `generation << 32 | (index + 1)`; a slot's generation moves on every time it
//! is freed, so a closed, stale, zero or forged id is recognised and refused with
//! `PLEXUS_E_BAD_HANDLE` rather than dereferenced. Lookups take a shared lock and clone
//! an `Arc`, so a handle closed by one thread while another thread is inside a call on it
//! stays valid until that call returns.
//!
//! The hot path (element calls on arrays, maps and every other object kind that goes
//! through [`with`]) avoids even that: each thread keeps a small cache of the objects it
//! used last ([`CACHE_WAYS`] entries, direct-mapped by handle index), each entry stored
//! together with the table's close epoch, which every close bumps. While the epoch is
//! unchanged, no handle has been closed, so a cached entry is still the one its id names;
//! the lookup is a thread-local read and one atomic load. A closed handle is therefore
//! refused from the cache too (the epoch moved, so the entry is looked up again and the
//! table refuses it). A thread's cache holds a reference to each object it caches (and its
//! region's mapping) until that thread closes a handle (which drops all the closing
//! thread's cached entries), until its next cache miss after some thread closed a handle
//! (which drops its entries from before that close), or until it exits.
//!
//! Adding an object kind: a variant of [`Object`] (and its arms in `Object::kind` and
//! `Object::is_removed`), one `kind!` line below, and an accessor like [`map`]; element
//! calls then use [`with`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::backend::TArray;
use crate::backend::{Array, Bus, Map, Queue, Region, Subscription};
use crate::backend::{Barrier, Mutex as SharedMutex, Semaphore, Service};
use crate::Error;

/// What a handle refers to.
#[derive(Clone)]
pub(crate) enum Object {
    Region(Arc<RegionEntry>),
    Array(Arc<ArrayEntry>),
    Map(Arc<MapEntry>),
    Queue(Arc<QueueEntry>),
    Bus(Arc<BusEntry>),
    Sub(Arc<SubEntry>),
    Mutex(Arc<MutexEntry>),
    Barrier(Arc<BarrierEntry>),
    Semaphore(Arc<SemaphoreEntry>),
    Service(Arc<ServiceEntry>),
    TArray(Arc<TArrayEntry>),
}

impl Object {
    /// Whether the object this handle is on was removed (plexus_region_remove_object, by
    /// any process), as far as can be told without changing anything: asked with a call
    /// that only reads, which returns `Removed` for a removed object. A barrier has no
    /// such call: its handle counts as removed once a wait through it returned `Removed`.
    /// Other failures (a remote server that does not answer) count as not removed.
    fn is_removed(&self) -> bool {
        let probe = match self {
            Object::Array(e) => e.array.version(0).map(drop),
            Object::Map(e) => e.map.len().map(drop),
            Object::Queue(e) => e.queue.is_shutdown().map(drop),
            Object::Bus(e) => e.bus.is_shutdown().map(drop),
            Object::Mutex(e) => e.mutex.is_locked().map(drop),
            Object::Semaphore(e) => e.semaphore.available().map(drop),
            Object::Service(e) => e.service.pending().map(drop),
            Object::TArray(e) => e.tarray.block_state(0).map(drop),
            Object::Barrier(e) => return e.removed.load(Ordering::Relaxed),
            Object::Region(_) | Object::Sub(_) => Ok(()),
        };
        matches!(probe, Err(Error::Removed(_)))
    }

    fn kind(&self) -> &'static str {
        match self {
            Object::Region(_) => "region",
            Object::Array(_) => "array",
            Object::Map(_) => "map",
            Object::Queue(_) => "queue",
            Object::Bus(_) => "bus",
            Object::Sub(_) => "subscription",
            Object::Mutex(_) => "mutex",
            Object::Barrier(_) => "barrier",
            Object::Semaphore(_) => "semaphore",
            Object::Service(_) => "service",
            Object::TArray(_) => "typed array",
        }
    }
}

/// An entry type that one variant of [`Object`] holds.
pub(crate) trait Kind: Sized {
    /// "array", "map"...: what error messages call this kind of handle.
    const NAME: &'static str;
    /// The entry, if `object` is of this kind.
    fn of(object: &Object) -> Option<&Arc<Self>>;
}

/// `kind!(Variant, EntryType, "name")`: implements [`Kind`] for the entry type held by
/// `Object::Variant`.
macro_rules! kind {
    ($variant:ident, $entry:ty, $name:literal) => {
        impl Kind for $entry {
            const NAME: &'static str = $name;
            fn of(object: &Object) -> Option<&Arc<Self>> {
                match object {
                    Object::$variant(e) => Some(e),
                    _ => None,
                }
            }
        }
    };
}

kind!(Region, RegionEntry, "region");
kind!(Array, ArrayEntry, "array");
kind!(Map, MapEntry, "map");
kind!(Queue, QueueEntry, "queue");
kind!(Bus, BusEntry, "bus");
kind!(Sub, SubEntry, "subscription");
kind!(Mutex, MutexEntry, "mutex");
kind!(Barrier, BarrierEntry, "barrier");
kind!(Semaphore, SemaphoreEntry, "semaphore");
kind!(Service, ServiceEntry, "service");
kind!(TArray, TArrayEntry, "typed array");

/// (object kind, object name).
pub(crate) type ChildKey = (&'static str, String);

/// The object handles opened through one region handle.
#[derive(Default)]
pub(crate) struct Children {
    /// (kind, name) -> (id, number of opens): opening the same object twice returns the
    /// same handle, and each close undoes one open.
    open: HashMap<ChildKey, (u64, u64)>,
    /// Handles on removed objects whose name has been opened again since (or removed
    /// by this region handle): id -> (its key, number of opens). Never handed out again;
    /// closed as the others are.
    retired: HashMap<u64, (ChildKey, u64)>,
}

impl Children {
    /// Moves the handle of `key` to the retired ones.
    fn retire(&mut self, key: &ChildKey) {
        if let Some((id, opens)) = self.open.remove(key) {
            self.retired.insert(id, (key.clone(), opens));
        }
    }
}

pub(crate) struct RegionEntry {
    pub region: Region,
    /// Objects opened through this region handle (closing the region closes them all).
    pub children: Mutex<Children>,
}

pub(crate) struct ArrayEntry {
    pub array: Array,
    pub parent: u64,
}

pub(crate) struct MapEntry {
    pub map: Map,
    pub parent: u64,
}

pub(crate) struct QueueEntry {
    pub queue: Queue,
    pub parent: u64,
}

pub(crate) struct BusEntry {
    pub bus: Bus,
    pub parent: u64,
}

/// A subscription: one cursor, so concurrent calls on it take turns.
pub(crate) struct SubEntry {
    /// The subscription and what it holds back, under one lock (a receive takes one
    /// uncontended lock, not two: on a fast stream each lock is a measurable share).
    pub sub: Mutex<SubState>,
    pub parent: u64,
    /// Its key among the region handle's children (unique per subscription).
    pub key: String,
}

pub(crate) struct SubState {
    pub sub: Subscription,
    /// A message `plexus_sub_next_event` took but could not hand out (the caller's topic
    /// buffer was too small): handed out first by the next call.
    pub held: Option<(String, crate::Value, u64)>,
}

pub(crate) struct MutexEntry {
    pub mutex: SharedMutex,
    pub parent: u64,
}

pub(crate) struct BarrierEntry {
    pub barrier: Barrier,
    pub parent: u64,
    /// Set when a wait through this handle returned `Removed` (see `Object::is_removed`).
    pub removed: AtomicBool,
}

impl BarrierEntry {
    pub(crate) fn new(barrier: Barrier, parent: u64) -> BarrierEntry {
        BarrierEntry {
            barrier,
            parent,
            removed: AtomicBool::new(false),
        }
    }

    /// Arrives and waits (see `plexus_barrier_wait`), noting a removal.
    pub(crate) fn wait_until(&self, deadline: &crate::Deadline) -> Result<bool, Error> {
        let r = self.barrier.wait_until(deadline);
        if let Err(Error::Removed(_)) = r {
            self.removed.store(true, Ordering::Relaxed);
        }
        r
    }
}

pub(crate) struct SemaphoreEntry {
    pub semaphore: Semaphore,
    pub parent: u64,
}

pub(crate) struct ServiceEntry {
    pub service: Service,
    pub parent: u64,
}

pub(crate) struct TArrayEntry {
    pub tarray: TArray,
    pub parent: u64,
}

struct Slot {
    generation: u32,
    object: Option<Object>,
}

#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

static TABLE: RwLock<Table> = RwLock::new(Table {
    slots: Vec::new(),
    free: Vec::new(),
});

/// Bumped (under the table's write lock) every time a handle is closed.
static CLOSE_EPOCH: AtomicU64 = AtomicU64::new(0);

/// Entries in each thread's handle cache. A handle's entry is chosen by its table index
/// (`index % CACHE_WAYS`). Indexes are handed out from 0 up (freed ones are reused
/// first), so the first `CACHE_WAYS` handles a program opens (say, its region and three
/// objects) never evict each other.
pub(crate) const CACHE_WAYS: usize = 4;

/// One cached handle: its id, the close epoch when it was looked up, and the object.
struct Cached {
    id: u64,
    epoch: u64,
    object: Object,
}

thread_local! {
    static CACHE: [RefCell<Option<Cached>>; CACHE_WAYS] =
        const { [const { RefCell::new(None) }; CACHE_WAYS] };
}

/// Runs `f` on the object of kind `E` named by `id`, through the calling thread's cache.
/// The entry is borrowed in place for the call (no reference count traffic). If `f`
/// calls back into `with` for a handle sharing the entry, that inner call goes through
/// the table instead (element calls never do).
///
/// Always inlined: otherwise the closure's result is returned through memory and read
/// back by the caller at once (a store-forwarding stall): map `read_ff` 80 -> 72 ns.
#[inline(always)]
pub(crate) fn with<E: Kind, T>(
    id: u64,
    f: impl FnOnce(&E) -> Result<T, Error>,
) -> Result<T, Error> {
    let epoch = CLOSE_EPOCH.load(Ordering::Acquire);
    let way = (id as u32).wrapping_sub(1) as usize % CACHE_WAYS;
    let mut f = Some(f);
    let cached = CACHE.try_with(|cache| {
        let mut entry = cache[way].try_borrow_mut().ok()?;
        let fresh = matches!(&*entry, Some(c) if c.id == id && c.epoch == epoch);
        if !fresh {
            if let Err(e) = refill(cache, &mut entry, id, epoch, E::NAME) {
                return Some(Err(e));
            }
        }
        let object = &entry.as_ref()?.object;
        let Some(e) = E::of(object) else {
            return Some(Err(wrong_kind(id, E::NAME, object)));
        };
        Some(f.take()?(e))
    });
    match (cached, f) {
        (Ok(Some(result)), _) => result,
        // Thread shutting down, or a nested call on the same entry: go through the table.
        (_, Some(f)) => f(&*get::<E>(id)?),
        (_, None) => Err(Error::Internal("object call ran without a result".into())),
    }
}

/// A cache miss: looks `id` up in the table and stores it in `entry` (the borrowed entry
/// of `cache` that `id` maps to). Entries from before the last close are dropped too (each
/// may be the last reference to its object), so a thread lets go of closed objects at its
/// next miss, whichever entry the closed handles used.
#[cold]
fn refill(
    cache: &[RefCell<Option<Cached>>; CACHE_WAYS],
    entry: &mut Option<Cached>,
    id: u64,
    epoch: u64,
    kind: &'static str,
) -> Result<(), Error> {
    if entry.as_ref().is_some_and(|c| c.epoch != epoch) {
        *entry = None; // also if the lookup below fails
    }
    for other in cache {
        // Skips `entry` (borrowed: done above) and entries of enclosing calls.
        if let Ok(mut other) = other.try_borrow_mut() {
            if other.as_ref().is_some_and(|c| c.epoch != epoch) {
                *other = None;
            }
        }
    }
    let object = object(id, kind)?;
    *entry = Some(Cached { id, epoch, object });
    Ok(())
}

fn split(id: u64) -> Option<(usize, u32)> {
    let index = (id as u32).checked_sub(1)? as usize;
    Some((index, (id >> 32) as u32))
}

pub(crate) fn insert(object: Object) -> u64 {
    let mut t = TABLE.write();
    let index = match t.free.pop() {
        Some(i) => i as usize,
        None => {
            t.slots.push(Slot {
                generation: 1,
                object: None,
            });
            t.slots.len() - 1
        }
    };
    let slot = &mut t.slots[index];
    slot.object = Some(object);
    (slot.generation as u64) << 32 | (index as u64 + 1)
}

fn bad(kind: &str, id: u64) -> Error {
    if id == 0 {
        Error::BadHandle(format!(
            "{kind} handle is zero (never opened, or open failed)"
        ))
    } else {
        Error::BadHandle(format!(
            "{kind} handle {id:#x} is closed or was never issued"
        ))
    }
}

#[cold]
fn wrong_kind(id: u64, kind: &str, object: &Object) -> Error {
    Error::BadHandle(format!(
        "handle {id:#x} is a {} handle, not a {kind} handle",
        object.kind()
    ))
}

/// The object `id` names, whatever its kind (`kind` is what error messages call it).
fn object(id: u64, kind: &'static str) -> Result<Object, Error> {
    let t = TABLE.read();
    let (index, generation) = split(id).ok_or_else(|| bad(kind, id))?;
    let slot = t
        .slots
        .get(index)
        .filter(|s| s.generation == generation)
        .ok_or_else(|| bad(kind, id))?;
    slot.object.clone().ok_or_else(|| bad(kind, id))
}

/// The entry of kind `E` that `id` names.
fn get<E: Kind>(id: u64) -> Result<Arc<E>, Error> {
    let object = object(id, E::NAME)?;
    E::of(&object)
        .cloned()
        .ok_or_else(|| wrong_kind(id, E::NAME, &object))
}

pub(crate) fn region(id: u64) -> Result<Arc<RegionEntry>, Error> {
    get(id)
}

pub(crate) fn array(id: u64) -> Result<Arc<ArrayEntry>, Error> {
    get(id)
}

pub(crate) fn map(id: u64) -> Result<Arc<MapEntry>, Error> {
    get(id)
}

pub(crate) fn queue(id: u64) -> Result<Arc<QueueEntry>, Error> {
    get(id)
}

pub(crate) fn bus(id: u64) -> Result<Arc<BusEntry>, Error> {
    get(id)
}

pub(crate) fn sub(id: u64) -> Result<Arc<SubEntry>, Error> {
    get(id)
}

/// Drops the calling thread's cached entries (called by every close, so that a
/// single-threaded program releases a closed region's mapping and process-table entry at
/// once; other threads drop theirs at their next cache miss, or when they exit).
fn forget_cached() {
    let _ = CACHE.try_with(|cache| {
        for entry in cache {
            if let Ok(mut entry) = entry.try_borrow_mut() {
                *entry = None;
            }
        }
    });
}

/// Frees a slot; returns what it held. Callers check the kind first.
fn remove_locked(t: &mut Table, id: u64) -> Option<Object> {
    let (index, generation) = split(id)?;
    let slot = t
        .slots
        .get_mut(index)
        .filter(|s| s.generation == generation)?;
    let object = slot.object.take()?;
    slot.generation = slot.generation.wrapping_add(1).max(1);
    CLOSE_EPOCH.fetch_add(1, Ordering::Release);
    t.free.push(index as u32);
    Some(object)
}

/// Closes a region handle and every object handle opened through it. The children lock
/// is held throughout (lock order: children, then table), so a concurrent `child()`
/// either sees the region closed or has its handle closed here.
pub(crate) fn close_region(id: u64) -> Result<(), Error> {
    let entry = region(id)?;
    forget_cached();
    let children = entry.children.lock();
    let mut t = TABLE.write();
    remove_locked(&mut t, id).ok_or_else(|| bad("region", id))?;
    for &(child, _) in children.open.values() {
        remove_locked(&mut t, child);
    }
    for &child in children.retired.keys() {
        remove_locked(&mut t, child);
    }
    Ok(())
}

/// Undoes one open of an object handle (of `kind`, called `name`, under region
/// `parent`); the handle is closed when every open has been undone.
pub(crate) fn close_child(
    id: u64,
    kind: &'static str,
    name: &str,
    parent: u64,
) -> Result<(), Error> {
    // The region closed meanwhile: its children are closed with it.
    let p = region(parent).map_err(|_| bad(kind, id))?;
    forget_cached();
    let mut children = p.children.lock();
    let key = (kind, name.to_owned());
    let opens = match children.open.get_mut(&key) {
        Some((cid, opens)) if *cid == id => opens,
        _ => match children.retired.get_mut(&id) {
            Some((k, opens)) if *k == key => opens,
            _ => return Err(bad(kind, id)),
        },
    };
    *opens -= 1;
    if *opens == 0 {
        if children.retired.remove(&id).is_none() {
            children.open.remove(&key);
        }
        remove_locked(&mut TABLE.write(), id).ok_or_else(|| bad(kind, id))?;
    }
    Ok(())
}

/// Returns the existing handle for (kind, name) under `parent` (counting one more open),
/// or registers `make()`. An existing handle on an object that was removed is not
/// returned: it is retired (it stays valid until closed, and keeps returning
/// `Removed`), and `make()`, the object that has the name now, gets a new handle.
pub(crate) fn child(
    parent_id: u64,
    parent: &RegionEntry,
    kind: &'static str,
    name: &str,
    make: impl FnOnce() -> Object,
) -> Result<u64, Error> {
    let key = (kind, name.to_owned());
    // Asked without holding the lock: on a remote region the question is a round trip.
    let existing = parent.children.lock().open.get(&key).map(|&(id, _)| id);
    let removed = existing.filter(|&id| object(id, kind).is_ok_and(|o| o.is_removed()));
    let mut children = parent.children.lock();
    region(parent_id)?; // closed meanwhile?
    match children.open.get_mut(&key) {
        // (Another thread may have replaced the removed handle meanwhile: that one is new.)
        Some((id, _)) if Some(*id) == removed => children.retire(&key),
        Some((id, opens)) => {
            *opens += 1;
            return Ok(*id);
        }
        None => {}
    }
    let id = insert(make());
    children.open.insert(key, (id, 1));
    Ok(id)
}

/// The handles `parent` has now on objects called `name` (any kind but subscriptions),
/// with their keys.
pub(crate) fn children_named(parent: &RegionEntry, name: &str) -> Vec<(ChildKey, u64)> {
    let children = parent.children.lock();
    children
        .open
        .iter()
        .filter(|((kind, n), _)| *kind != "subscription" && n == name)
        .map(|(key, &(id, _))| (key.clone(), id))
        .collect()
}

/// Retires handles that `children_named` returned, once their object is removed, so
/// that opening the name again makes a new handle. A key whose handle changed meanwhile
/// (another thread opened the new object) is left alone.
pub(crate) fn retire(parent: &RegionEntry, handles: &[(ChildKey, u64)]) {
    let mut children = parent.children.lock();
    for (key, id) in handles {
        if children.open.get(key).is_some_and(|&(now, _)| now == *id) {
            children.retire(key);
        }
    }
}
