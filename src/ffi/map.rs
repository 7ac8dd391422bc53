//! `plexus_map`: full/empty elements under UTF-8 string keys.
//!
//! A map holds up to `capacity` keys (fixed at creation); each present key has a value, a
//! FULL/EMPTY tag and a 64-bit version, with every element operation of plexus_array.
//! Keys are NUL-terminated UTF-8 strings of at most PLEXUS_MAP_MAX_KEY_LEN bytes
//! (longer ones, invalid UTF-8 and NULL are PLEXUS_E_INVALID_ARGUMENT).
//!
//! An absent key behaves as an EMPTY element holding UNDEFINED with version 0:
//! plexus_map_read gives UNDEFINED, plexus_map_is_full false, and the waiting reads
//! (read_fe, read_ff, read_rw) block until some process inserts the key and it is FULL.
//! Every call that writes (write, write_ef, write_xf, write_xe, set_tag, faa, cas,
//! exchange) inserts an absent key first — EMPTY holding UNDEFINED, or FULL if the map
//! was created with PLEXUS_FULL — then applies to it as to an array element. Inserting
//! into a full map gives PLEXUS_E_NO_SPACE; plexus_map_remove makes room again.
//!
//! Blocking calls take `timeout_ns` as plexus_array's do (PLEXUS_FOREVER, 0 = try once,
//! positive = relative; PLEXUS_TIMEOUT when it passes). Out-parameters that receive a value
//! are overwritten without being freed first. Lookups take no lock; a process that dies
//! while inserting, removing or writing is recovered from by the next caller.

use std::ffi::c_char;
use std::sync::Arc;

use super::handles::{self, MapEntry, Object};
use super::region::plexus_region;
use super::status::{c_str, guard, out_ref, plexus_status};
use super::timeout;
use super::value::{plexus_value, put, read_op, rmw_op, value_ref, watch_op};
use crate::{Error, Value};

/// Handle of an open map. Id 0 is never valid.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct plexus_map {
    pub id: u64,
}

/// Longest map key, in bytes of UTF-8 (not counting the terminating NUL).
pub const PLEXUS_MAP_MAX_KEY_LEN: u32 = 4096;
const _: () = assert!(PLEXUS_MAP_MAX_KEY_LEN as usize == crate::MAX_KEY_LEN);

/// Runs `f` on the engine map behind handle `m`.
fn with<T>(
    m: plexus_map,
    f: impl FnOnce(&crate::backend::Map) -> Result<T, Error>,
) -> Result<T, Error> {
    handles::with(m.id, |e: &MapEntry| f(&e.map))
}

/// Runs `f` on the map and the key.
fn keyed<T>(
    m: plexus_map,
    key: *const c_char,
    f: impl FnOnce(&crate::backend::Map, &str) -> Result<T, Error>,
) -> Result<T, Error> {
    let key = c_str(key, "key")?;
    with(m, |x| f(x, key))
}

/// Opens the map `name` in `region`, creating it when `capacity > 0` and it is missing.
///
/// `capacity > 0`: created if absent (with no keys); if present its capacity must equal
/// `capacity` (else PLEXUS_E_INCOMPATIBLE). `capacity == 0`: opens an existing map only
/// (PLEXUS_E_NOT_FOUND if absent). `flags`: PLEXUS_FULL (keys inserted later start FULL
/// instead of EMPTY; the creator's choice holds for every opener), PLEXUS_EXCLUSIVE.
/// Names are 1-96 bytes of UTF-8. Opening the same map twice through one region handle
/// returns the same handle (and counts the open: see plexus_map_close).
///
/// Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_EXISTS, PLEXUS_E_INCOMPATIBLE,
/// PLEXUS_E_TYPE_MISMATCH (another kind of object has that name), PLEXUS_E_NO_SPACE
/// (heap or directory full), PLEXUS_E_INVALID_ARGUMENT, PLEXUS_E_BAD_HANDLE,
/// PLEXUS_E_CORRUPT. On failure `*out` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_map_open(
    region: plexus_region,
    name: *const c_char,
    capacity: u64,
    flags: u32,
    out: *mut plexus_map,
) -> plexus_status {
    guard(|| {
        let name = c_str(name, "name")?;
        let slot = out_ref(out, "out")?;
        slot.id = open_in(region, name, |r| r.map(name, capacity, flags))?;
        Ok(())
    })
}

/// Opens a map through `region` with `open` and returns its handle id (the same one
/// when this region handle has it open already).
fn open_in(
    region: plexus_region,
    name: &str,
    open: impl FnOnce(&crate::backend::Region) -> Result<crate::backend::Map, Error>,
) -> Result<u64, Error> {
    let parent = handles::region(region.id)?;
    let map = open(&parent.region)?;
    handles::child(region.id, &parent, "map", name, || {
        Object::Map(Arc::new(MapEntry {
            map,
            parent: region.id,
        }))
    })
}

/// plexus_map_open, with initial data that is stored if, and only if, this call creates
/// the map (MemSync's `data:`).
///
/// `initial` (may be NULL: none) is an OBJECT holding a map of string keys, e.g. from
/// plexus_value_from_json("{\"mode\": \"auto\", \"limit\": 10}"): the new map starts with
/// each key FULL holding its value (scalars become their type, nested arrays and objects
/// stay OBJECT), version 1. Atomic: no process ever sees the map existing without its
/// initial keys, and when several processes create it at once exactly one call's data
/// is stored (the others open that map and their data is ignored, as it is whenever the
/// map exists already). `initial` is checked either way: not an OBJECT holding a map of
/// string keys, a key not valid as a map key, or a key twice gives
/// PLEXUS_E_INVALID_ARGUMENT; more keys than `capacity` PLEXUS_E_NO_SPACE (nothing is
/// created then). Other arguments, statuses and ownership as plexus_map_open; the
/// caller keeps `*initial`. Same on remote regions (the creating script stores them).
#[no_mangle]
pub extern "C" fn plexus_map_open_with(
    region: plexus_region,
    name: *const c_char,
    capacity: u64,
    flags: u32,
    initial: *const plexus_value,
    out: *mut plexus_map,
) -> plexus_status {
    guard(|| {
        let name = c_str(name, "name")?;
        let slot = out_ref(out, "out")?;
        let entries = if initial.is_null() {
            None
        } else {
            match value_ref(initial, "initial")? {
                crate::ValueRef::Object(b) => Some(crate::semantics::value::object_entries(b)?),
                other => {
                    return Err(Error::invalid(format!(
                        "initial must be an OBJECT holding a map of string keys, not {}",
                        other.type_of().name()
                    )))
                }
            }
        };
        slot.id = open_in(region, name, |r| {
            r.map_with(name, capacity, flags, entries.as_deref())
        })?;
        Ok(())
    })
}

/// Undoes one `plexus_map_open` of this handle (the handle stays valid until closed as
/// many times as it was opened; closing the region closes it at once). The map itself
/// stays in the region. PLEXUS_E_BAD_HANDLE if already closed.
#[no_mangle]
pub extern "C" fn plexus_map_close(m: plexus_map) -> plexus_status {
    guard(|| {
        let e = handles::map(m.id)?;
        handles::close_child(m.id, "map", e.map.name(), e.parent)
    })
}

/// `*out` = number of keys present (a snapshot).
#[no_mangle]
pub extern "C" fn plexus_map_len(m: plexus_map, out: *mut u64) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = with(m, |x| x.len())?;
        Ok(())
    })
}

/// `*out` = the maximum number of keys, fixed at creation.
#[no_mangle]
pub extern "C" fn plexus_map_capacity(m: plexus_map, out: *mut u64) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = with(m, |x| Ok(x.capacity()))?;
        Ok(())
    })
}

/// Reads the value of `key` into `*out` whatever its tag (UNDEFINED for an absent key;
/// nothing is inserted). Atomic: never a torn value. `*out` may own memory: release it
/// with plexus_value_free.
#[no_mangle]
pub extern "C" fn plexus_map_read(
    m: plexus_map,
    key: *const c_char,
    out: *mut plexus_value,
) -> plexus_status {
    read_op(out, || keyed(m, key, |x, k| x.read(k)))
}

/// Writes `*v` as the value of `key` (inserting it if absent), keeping its tag. Waits
/// while `read_rw` readers hold the key. PLEXUS_E_INVALID_ARGUMENT for a bad value,
/// PLEXUS_E_NO_SPACE when the map is full (for a new key) or the heap is full (the old
/// value is kept).
#[no_mangle]
pub extern "C" fn plexus_map_write(
    m: plexus_map,
    key: *const c_char,
    v: *const plexus_value,
) -> plexus_status {
    guard(|| keyed(m, key, |x, k| x.write(k, value_ref(v, "v")?)))
}

/// Blocks until `key` is present and FULL (and no `read_rw` reader holds it), reads it
/// into `*out` and leaves it EMPTY (the key stays present). PLEXUS_TIMEOUT when
/// `timeout_ns` passes first (`*out` unchanged).
#[no_mangle]
pub extern "C" fn plexus_map_read_fe(
    m: plexus_map,
    key: *const c_char,
    out: *mut plexus_value,
    timeout_ns: i64,
) -> plexus_status {
    read_op(out, || {
        keyed(m, key, |x, k| x.read_fe(k, timeout(timeout_ns)?))
    })
}

/// Blocks until `key` is present and FULL, reads it into `*out` and leaves it FULL.
/// PLEXUS_TIMEOUT when `timeout_ns` passes first.
#[no_mangle]
pub extern "C" fn plexus_map_read_ff(
    m: plexus_map,
    key: *const c_char,
    out: *mut plexus_value,
    timeout_ns: i64,
) -> plexus_status {
    read_op(out, || {
        keyed(m, key, |x, k| x.read_ff(k, timeout(timeout_ns)?))
    })
}

/// Inserts `key` if absent, blocks until it is EMPTY, writes `*v` and leaves it FULL.
/// PLEXUS_TIMEOUT when `timeout_ns` passes first (nothing written; an inserted key
/// stays).
#[no_mangle]
pub extern "C" fn plexus_map_write_ef(
    m: plexus_map,
    key: *const c_char,
    v: *const plexus_value,
    timeout_ns: i64,
) -> plexus_status {
    guard(|| {
        keyed(m, key, |x, k| {
            x.write_ef(k, value_ref(v, "v")?, timeout(timeout_ns)?)
        })
    })
}

/// Writes `*v` and leaves `key` FULL, whatever the tag was (inserting it if absent;
/// waits only while `read_rw` readers hold it).
#[no_mangle]
pub extern "C" fn plexus_map_write_xf(
    m: plexus_map,
    key: *const c_char,
    v: *const plexus_value,
) -> plexus_status {
    guard(|| keyed(m, key, |x, k| x.write_xf(k, value_ref(v, "v")?)))
}

/// Writes `*v` and leaves `key` EMPTY, whatever the tag was (inserting it if absent;
/// waits only while `read_rw` readers hold it).
#[no_mangle]
pub extern "C" fn plexus_map_write_xe(
    m: plexus_map,
    key: *const c_char,
    v: *const plexus_value,
) -> plexus_status {
    guard(|| keyed(m, key, |x, k| x.write_xe(k, value_ref(v, "v")?)))
}

/// Sets `key` FULL (`full` true) or EMPTY without touching its value (inserting it,
/// holding UNDEFINED, if absent).
#[no_mangle]
pub extern "C" fn plexus_map_set_tag(
    m: plexus_map,
    key: *const c_char,
    full: bool,
) -> plexus_status {
    guard(|| keyed(m, key, |x, k| x.set_tag(k, full)))
}

/// `*out` = whether `key` is present and FULL (a snapshot; false for an absent key).
#[no_mangle]
pub extern "C" fn plexus_map_is_full(
    m: plexus_map,
    key: *const c_char,
    out: *mut bool,
) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = keyed(m, key, |x, k| x.is_full(k))?;
        Ok(())
    })
}

/// Blocks until `key` is present and FULL, reads it into `*out` and takes a shared read
/// lock: until `plexus_map_release_rw`, every call that would change the key's value or
/// tag, and plexus_map_remove of it, waits; reads proceed. Locks held by a process that
/// dies, or by a region handle that is closed, are released. At most 28 held at once per
/// region handle, arrays and maps together (PLEXUS_E_NO_SPACE).
#[no_mangle]
pub extern "C" fn plexus_map_read_rw(
    m: plexus_map,
    key: *const c_char,
    out: *mut plexus_value,
    timeout_ns: i64,
) -> plexus_status {
    read_op(out, || {
        keyed(m, key, |x, k| x.read_rw(k, timeout(timeout_ns)?))
    })
}

/// Releases one `read_rw` lock taken on `key` through this map's region handle.
/// PLEXUS_E_INVALID_ARGUMENT if it holds none.
#[no_mangle]
pub extern "C" fn plexus_map_release_rw(m: plexus_map, key: *const c_char) -> plexus_status {
    guard(|| keyed(m, key, |x, k| x.release_rw(k)))
}

/// Atomically adds `*delta` to the value of `key` with the JavaScript `+` semantics of
/// plexus_array_faa (an absent key is inserted and counts as UNDEFINED, so a fresh
/// counter starts at 0). `*old` (may be NULL) receives the previous value. Tag
/// unchanged. PLEXUS_E_TYPE_MISMATCH for combinations `+` does not define.
#[no_mangle]
pub extern "C" fn plexus_map_faa(
    m: plexus_map,
    key: *const c_char,
    delta: *const plexus_value,
    old: *mut plexus_value,
) -> plexus_status {
    rmw_op(old, || {
        keyed(m, key, |x, k| x.faa(k, value_ref(delta, "delta")?))
    })
}

/// Atomically: if the value of `key` equals `*expected` (same type and value), store
/// `*desired`. Either way `*old` (may be NULL) receives the previous value (UNDEFINED
/// for a key that was absent; the key is inserted either way). Tag unchanged.
#[no_mangle]
pub extern "C" fn plexus_map_cas(
    m: plexus_map,
    key: *const c_char,
    expected: *const plexus_value,
    desired: *const plexus_value,
    old: *mut plexus_value,
) -> plexus_status {
    rmw_op(old, || {
        keyed(m, key, |x, k| {
            x.cas(
                k,
                value_ref(expected, "expected")?,
                value_ref(desired, "desired")?,
            )
        })
    })
}

/// Atomically stores `*v` as the value of `key` (inserting it if absent) and returns the
/// previous value in `*old` (may be NULL); the tag is unchanged.
#[no_mangle]
pub extern "C" fn plexus_map_exchange(
    m: plexus_map,
    key: *const c_char,
    v: *const plexus_value,
    old: *mut plexus_value,
) -> plexus_status {
    rmw_op(old, || {
        keyed(m, key, |x, k| x.exchange(k, value_ref(v, "v")?))
    })
}

/// plexus_array_patch on the value of `key`: the same operators, paths, number rules,
/// errors and atomicity. An absent key is inserted (as by every writing call; EMPTY
/// unless the map was created with PLEXUS_FULL) and its value counts as `{}`, so a first
/// patch moves its version as a first write does; PLEXUS_E_NO_SPACE when the map is full
/// and the key absent. A bad document is refused before any key is inserted. `*out`
/// (may be NULL) receives the value after the patch.
#[no_mangle]
pub extern "C" fn plexus_map_patch(
    m: plexus_map,
    key: *const c_char,
    patch: *const plexus_value,
    out: *mut plexus_value,
) -> plexus_status {
    rmw_op(out, || {
        keyed(m, key, |x, k| x.patch(k, value_ref(patch, "patch")?))
    })
}

/// `*out` = the version of `key`: 0 while absent, bumped by every change of its value or
/// tag, and never repeated across plexus_map_remove and re-insertion.
#[no_mangle]
pub extern "C" fn plexus_map_version(
    m: plexus_map,
    key: *const c_char,
    out: *mut u64,
) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = keyed(m, key, |x, k| x.version(k))?;
        Ok(())
    })
}

/// Blocks until the version of `key` differs from `*version`, then stores the new
/// version in `*version` (returns at once if it already differs). An absent key has
/// version 0, so waiting with `*version == 0` on an absent key returns when it is
/// inserted, and a removal counts as a change (to 0). PLEXUS_TIMEOUT when `timeout_ns`
/// passes first.
#[no_mangle]
pub extern "C" fn plexus_map_wait_change(
    m: plexus_map,
    key: *const c_char,
    version: *mut u64,
    timeout_ns: i64,
) -> plexus_status {
    guard(|| {
        let seen = out_ref(version, "version")?;
        let t = timeout(timeout_ns)?;
        let mut v = *seen;
        let r = keyed(m, key, |x, k| x.wait_change(k, &mut v, t));
        *seen = v;
        r
    })
}

/// Blocks until the version of `key` differs from `*version`, then stores its value in
/// `*out` and the version that value belongs to in `*version`: a consistent pair, read
/// together (never a newer value with an older version, nor the reverse). Returns at
/// once if the version already differs. Start with `*version = 0` to get the current
/// value at once (an absent key reads as UNDEFINED with version 0, so with `*version == 0` an absent key's insertion is the change waited for, and a removal shows as UNDEFINED with version 0). A key's first write inserts it with its value in one change: its version moves once, and watchers never see the UNDEFINED in between.
///
/// Observer guarantee: a caller that loops on this call sees every value that stayed in
/// place longer than the caller took to come back, and always sees the last one; values
/// replaced faster than that are coalesced (the caller gets the newest, and the version
/// jump shows how many it skipped).
///
/// PLEXUS_TIMEOUT when `timeout_ns` passes first; on any failure `*version` and `*out` are
/// unchanged. `*out` may own memory: release it with plexus_value_free. Works the same on
/// remote regions (one read, then a wait on the server).
#[no_mangle]
pub extern "C" fn plexus_map_watch(
    m: plexus_map,
    key: *const c_char,
    version: *mut u64,
    out: *mut plexus_value,
    timeout_ns: i64,
) -> plexus_status {
    watch_op(version, out, |seen| {
        let t = timeout(timeout_ns)?;
        keyed(m, key, |x, k| x.watch(k, seen, t))
    })
}

/// Removes `key`: waits while `read_rw` readers hold it, then the key is gone (reads see
/// UNDEFINED/EMPTY, version 0), its value is freed, every waiter on it is woken (waiting
/// reads keep waiting for a new insertion) and its place counts as free for
/// PLEXUS_E_NO_SPACE. PLEXUS_E_NOT_FOUND if the key is absent.
#[no_mangle]
pub extern "C" fn plexus_map_remove(m: plexus_map, key: *const c_char) -> plexus_status {
    guard(|| keyed(m, key, |x, k| x.remove(k)))
}

/// Iterates over the keys: start with `*cursor = 0` and call until PLEXUS_E_NOT_FOUND.
/// Each PLEXUS_OK stores the next key as a STRING in `*key_out` (release it with
/// plexus_value_free) and advances `*cursor`. Safe while any process inserts and
/// removes keys: every key present during the whole iteration is returned exactly once;
/// keys inserted or removed meanwhile may or may not be. The order is unspecified. On
/// PLEXUS_E_NOT_FOUND (the end) `*key_out` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_map_next_key(
    m: plexus_map,
    cursor: *mut u64,
    key_out: *mut plexus_value,
) -> plexus_status {
    guard(|| {
        let c = out_ref(cursor, "cursor")?;
        out_ref(key_out, "key_out")?;
        let mut at = *c;
        let key = with(m, |x| x.next_key(&mut at))?;
        *c = at;
        match key {
            Some(k) => put(key_out, Value::String(k)),
            None => Err(Error::NotFound("no more keys".into())),
        }
    })
}

/// One entry of a map-wide change listing (plexus_map_next_change).
#[repr(C)]
pub struct plexus_map_change {
    /// The key, a STRING owned by the library: release it with plexus_value_free.
    pub key: plexus_value,
    /// The key's version now (0 when `removed`).
    pub version: u64,
    /// The map's change count at the key's last change.
    pub counter: u64,
    /// The change was the key's removal.
    pub removed: bool,
}

/// `*out` = the map's change count: it moves by one with every change of any key
/// (insertion, write, tag change, removal), so a watcher of a whole map reads it, lists
/// what changed since the count it had (plexus_map_next_change), and waits for it to
/// move (plexus_map_wait_changes). PLEXUS_E_UNSUPPORTED for a map made by an older
/// version of plexus (its keys can still be watched one by one); same on remote regions.
#[no_mangle]
pub extern "C" fn plexus_map_change_count(m: plexus_map, out: *mut u64) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = with(m, |x| x.change_count())?;
        Ok(())
    })
}

/// Blocks until the map's change count differs from `*counter`, then stores it in
/// `*counter` (returns at once if it already differs). Sleeps without polling (a futex;
/// on remote regions a blocking read on the server). PLEXUS_TIMEOUT when `timeout_ns`
/// passes first (`*counter` unchanged); PLEXUS_E_UNSUPPORTED as plexus_map_change_count.
#[no_mangle]
pub extern "C" fn plexus_map_wait_changes(
    m: plexus_map,
    counter: *mut u64,
    timeout_ns: i64,
) -> plexus_status {
    guard(|| {
        let seen = out_ref(counter, "counter")?;
        let t = timeout(timeout_ns)?;
        let mut v = *seen;
        with(m, |x| x.wait_changes(&mut v, t))?;
        *seen = v;
        Ok(())
    })
}

/// Lists the keys changed after the change count `since`, one per call, without reading
/// their values: start with `*cursor = 0` and call until PLEXUS_E_NOT_FOUND (the end;
/// `*out` unchanged). Each PLEXUS_OK fills `*out` (release `out->key` with
/// plexus_value_free) and advances `*cursor`.
///
/// Lists every key present whose last change came after `since` (`since == 0`: every
/// key present), and the removals after `since` that the map still records: its last N
/// removals, N = its capacity within 16..1024 rounded up to a power of two. A key
/// changed during the listing may be listed or not, and may be listed twice (removed,
/// then present again: the larger `counter` is the newer); the order is unspecified.
/// To follow a map: read plexus_map_change_count into C, list since the previous C,
/// then wait with plexus_map_wait_changes(&C) and repeat — no change is ever missed, and
/// bursts are coalesced. PLEXUS_E_OUT_OF_RANGE when removals after `since` (non-zero)
/// were no longer all recorded: list again from 0 to resynchronise.
/// PLEXUS_E_UNSUPPORTED as plexus_map_change_count.
#[no_mangle]
pub extern "C" fn plexus_map_next_change(
    m: plexus_map,
    since: u64,
    cursor: *mut u64,
    out: *mut plexus_map_change,
) -> plexus_status {
    guard(|| {
        let c = out_ref(cursor, "cursor")?;
        let slot = out_ref(out, "out")?;
        let mut at = *c;
        let mut got = with(m, |x| x.changes(since, &mut at, 1))?;
        let Some(change) = got.pop() else {
            return Err(Error::NotFound("no more changes".into()));
        };
        *slot = plexus_map_change {
            key: super::value::to_c(Value::String(change.key)),
            version: change.version,
            counter: change.counter,
            removed: change.removed,
        };
        *c = at;
        Ok(())
    })
}
