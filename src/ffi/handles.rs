//! The handle table: generation-checked 64-bit ids for every object handed to C.
//!
//! An id is `generation << 32 | (index + 1)`; a slot's generation moves on every time it
//! is freed, so a closed, stale, zero or forged id is recognised and refused with
//! `PLEXUS_E_BAD_HANDLE` rather than dereferenced. Lookups take a shared lock and clone
//! an `Arc`, so a handle closed by one thread while another thread is inside a call on it
//! stays valid until that call returns.
//!
//! The hot path (array element calls) avoids even that: each thread caches the array it
//! used last together with the table's close epoch, which every close bumps. While the
//! epoch is unchanged, no handle has been closed, so the cached entry is still the one
//! the id names; the lookup is a thread-local read and one atomic load. A thread's cache
//! holds a reference to the array (and its region's mapping) until that thread's next
//! plexus call that misses the cache, or until it exits.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::engine::{Array, Error, Map, Region};

/// What a handle refers to.
pub(crate) enum Object {
    Region(Arc<RegionEntry>),
    Array(Arc<ArrayEntry>),
    Map(Arc<MapEntry>),
}

impl Object {
    fn kind(&self) -> &'static str {
        match self {
            Object::Region(_) => "region",
            Object::Array(_) => "array",
            Object::Map(_) => "map",
        }
    }
}

/// (object kind, object name).
pub(crate) type ChildKey = (&'static str, String);

pub(crate) struct RegionEntry {
    pub region: Region,
    /// Objects opened through this region handle: (kind, name) -> (id, number of opens),
    /// so opening the same object twice returns the same handle, each close undoes one
    /// open, and closing the region closes them all.
    pub children: Mutex<HashMap<ChildKey, (u64, u64)>>,
}

pub(crate) struct ArrayEntry {
    pub array: Array,
    pub parent: u64,
}

pub(crate) struct MapEntry {
    pub map: Map,
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

type CachedArray = Option<(u64, u64, Arc<ArrayEntry>)>;

thread_local! {
    static ARRAY_CACHE: RefCell<CachedArray> = const { RefCell::new(None) };
}

/// Runs `f` on the array named by `id`, through the calling thread's cache. The entry
/// is borrowed in place for the call (no reference count traffic). `f` must not call
/// back into `with_array` (array operations never do).
pub(crate) fn with_array<T>(
    id: u64,
    f: impl FnOnce(&ArrayEntry) -> Result<T, Error>,
) -> Result<T, Error> {
    let epoch = CLOSE_EPOCH.load(Ordering::Acquire);
    let mut f = Some(f);
    let cached = ARRAY_CACHE.try_with(|cache| {
        let mut slot = cache.try_borrow_mut().ok()?;
        let fresh = matches!(&*slot, Some((cid, ce, _)) if *cid == id && *ce == epoch);
        if !fresh {
            match array(id) {
                Ok(entry) => *slot = Some((id, epoch, entry)), // drops a stale entry
                Err(e) => return Some(Err(e)),
            }
        }
        let (_, _, entry) = slot.as_ref()?;
        Some(f.take()?(entry))
    });
    match (cached, f) {
        (Ok(Some(result)), _) => result,
        // Thread shutting down, or a nested call: go through the table.
        (_, Some(f)) => f(&*array(id)?),
        (_, None) => Err(Error::Internal("array call ran without a result".into())),
    }
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

fn get<T>(
    id: u64,
    kind: &'static str,
    pick: impl FnOnce(&Object) -> Option<T>,
) -> Result<T, Error> {
    let t = TABLE.read();
    let (index, generation) = split(id).ok_or_else(|| bad(kind, id))?;
    let slot = t
        .slots
        .get(index)
        .filter(|s| s.generation == generation)
        .ok_or_else(|| bad(kind, id))?;
    let object = slot.object.as_ref().ok_or_else(|| bad(kind, id))?;
    pick(object).ok_or_else(|| {
        Error::BadHandle(format!(
            "handle {id:#x} is a {} handle, not a {kind} handle",
            object.kind()
        ))
    })
}

pub(crate) fn region(id: u64) -> Result<Arc<RegionEntry>, Error> {
    get(id, "region", |o| match o {
        Object::Region(r) => Some(r.clone()),
        _ => None,
    })
}

pub(crate) fn array(id: u64) -> Result<Arc<ArrayEntry>, Error> {
    get(id, "array", |o| match o {
        Object::Array(a) => Some(a.clone()),
        _ => None,
    })
}

pub(crate) fn map(id: u64) -> Result<Arc<MapEntry>, Error> {
    get(id, "map", |o| match o {
        Object::Map(m) => Some(m.clone()),
        _ => None,
    })
}

/// Drops the calling thread's cached array (called by every close, so that a
/// single-threaded program releases a closed region's mapping and process-table entry at
/// once; other threads drop theirs at their next array call or when they exit).
fn forget_cached_array() {
    let _ = ARRAY_CACHE.try_with(|c| {
        if let Ok(mut slot) = c.try_borrow_mut() {
            *slot = None;
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
    forget_cached_array();
    let children = entry.children.lock();
    let mut t = TABLE.write();
    remove_locked(&mut t, id).ok_or_else(|| bad("region", id))?;
    for &(child, _) in children.values() {
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
    forget_cached_array();
    let mut children = p.children.lock();
    let key = (kind, name.to_owned());
    match children.get_mut(&key) {
        Some((cid, opens)) if *cid == id => {
            *opens -= 1;
            if *opens == 0 {
                children.remove(&key);
                remove_locked(&mut TABLE.write(), id).ok_or_else(|| bad(kind, id))?;
            }
            Ok(())
        }
        _ => Err(bad(kind, id)),
    }
}

/// Returns the existing handle for (kind, name) under `parent` (counting one more open),
/// or registers `make()`.
pub(crate) fn child(
    parent_id: u64,
    parent: &RegionEntry,
    kind: &'static str,
    name: &str,
    make: impl FnOnce() -> Object,
) -> Result<u64, Error> {
    let mut children = parent.children.lock();
    region(parent_id)?; // closed meanwhile?
    if let Some((id, opens)) = children.get_mut(&(kind, name.to_owned())) {
        *opens += 1;
        return Ok(*id);
    }
    let id = insert(make());
    children.insert((kind, name.to_owned()), (id, 1));
    Ok(id)
}
