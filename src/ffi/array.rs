//! `plexus_array`: indexed full/empty elements.
//!
//! Every element holds a value, a FULL/EMPTY tag and a 64-bit version. Blocking calls
//! take `timeout_ns` (PLEXUS_FOREVER, 0 = try once, > 0 = relative, monotonic clock;
//! other negative values are PLEXUS_E_INVALID_ARGUMENT): they spin briefly, then sleep
//! on a futex (no CPU while blocked), and return PLEXUS_TIMEOUT when the time passes;
//! signals neither shorten nor extend the wait.
//!
//! Out-parameters that receive a value (`*out`, `*old`) are overwritten without being
//! freed first: release a value you reuse with plexus_value_free before passing it.
//! A process that dies holding an element's internal lock is detected by the next
//! caller, which takes the lock over; values are never seen torn.

use std::ffi::c_char;
use std::sync::Arc;

use super::handles::{self, ArrayEntry, Object};
use super::region::plexus_region;
use super::status::{c_str, guard, out_ref, plexus_status};
use super::timeout;
use super::value::{plexus_value, read_op, rmw_op, value_ref, watch_op};
use crate::Error;

/// Handle of an open array. Id 0 is never valid.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct plexus_array {
    pub id: u64,
}

/// Open flag: elements of a newly created object start FULL (default EMPTY).
pub const PLEXUS_FULL: u32 = 1;
/// Open flag: fail with PLEXUS_E_EXISTS if the object already exists.
pub const PLEXUS_EXCLUSIVE: u32 = 2;

/// Runs `f` on the engine array behind handle `a`.
fn with<T>(
    a: plexus_array,
    f: impl FnOnce(&crate::backend::Array) -> Result<T, Error>,
) -> Result<T, Error> {
    handles::with(a.id, |e: &ArrayEntry| f(&e.array))
}

/// Opens the array `name` in `region`, creating it when `length > 0` and it is missing.
///
/// `length > 0`: created if absent (elements hold UNDEFINED, EMPTY unless PLEXUS_FULL);
/// if present its length must equal `length` (else PLEXUS_E_INCOMPATIBLE).
/// `length == 0`: opens an existing array only (PLEXUS_E_NOT_FOUND if absent).
/// `flags`: PLEXUS_FULL, PLEXUS_EXCLUSIVE. Names are 1-96 bytes of UTF-8.
/// Opening the same array twice through one region handle returns the same handle (and
/// counts the open: see plexus_array_close).
///
/// Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_EXISTS, PLEXUS_E_INCOMPATIBLE,
/// PLEXUS_E_TYPE_MISMATCH (another kind of object has that name), PLEXUS_E_NO_SPACE
/// (heap or directory full), PLEXUS_E_INVALID_ARGUMENT, PLEXUS_E_BAD_HANDLE,
/// PLEXUS_E_CORRUPT. On failure `*out` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_array_open(
    region: plexus_region,
    name: *const c_char,
    length: u64,
    flags: u32,
    out: *mut plexus_array,
) -> plexus_status {
    guard(|| {
        let name = c_str(name, "name")?;
        let slot = out_ref(out, "out")?;
        let parent = handles::region(region.id)?;
        let array = parent.region.array(name, length, flags)?;
        slot.id = handles::child(region.id, &parent, "array", name, || {
            Object::Array(Arc::new(ArrayEntry {
                array,
                parent: region.id,
            }))
        })?;
        Ok(())
    })
}

/// Undoes one `plexus_array_open` of this handle: since opening the same array twice
/// through one region handle returns the same handle, the handle stays valid until it
/// has been closed as many times as it was opened (closing the region closes it at
/// once). The array itself stays in the region. PLEXUS_E_BAD_HANDLE if already closed.
#[no_mangle]
pub extern "C" fn plexus_array_close(a: plexus_array) -> plexus_status {
    guard(|| {
        let e = handles::array(a.id)?;
        handles::close_child(a.id, "array", e.array.name(), e.parent)
    })
}

/// `*out` = number of elements.
#[no_mangle]
pub extern "C" fn plexus_array_len(a: plexus_array, out: *mut u64) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = with(a, |x| Ok(x.len()))?;
        Ok(())
    })
}

/// Reads element `index` into `*out` whatever its tag; the tag is unchanged. Atomic: never
/// a torn value. `*out` may own memory: release it with plexus_value_free.
/// PLEXUS_E_OUT_OF_RANGE if `index >= length`.
#[no_mangle]
pub extern "C" fn plexus_array_read(
    a: plexus_array,
    index: u64,
    out: *mut plexus_value,
) -> plexus_status {
    read_op(out, || with(a, |x| x.read(index)))
}

/// Writes `*v` into element `index` whatever its tag; the tag is unchanged. Waits while
/// `read_rw` readers hold the element. PLEXUS_E_INVALID_ARGUMENT for a bad value (NULL,
/// unknown type, invalid UTF-8 or MessagePack), PLEXUS_E_NO_SPACE when the heap is full
/// (the old value is kept).
#[no_mangle]
pub extern "C" fn plexus_array_write(
    a: plexus_array,
    index: u64,
    v: *const plexus_value,
) -> plexus_status {
    guard(|| with(a, |x| x.write(index, value_ref(v, "v")?)))
}

/// Blocks until element `index` is FULL (and no `read_rw` reader holds it), reads it into
/// `*out` and leaves it EMPTY. PLEXUS_TIMEOUT when `timeout_ns` passes first (`*out`
/// unchanged).
#[no_mangle]
pub extern "C" fn plexus_array_read_fe(
    a: plexus_array,
    index: u64,
    out: *mut plexus_value,
    timeout_ns: i64,
) -> plexus_status {
    read_op(out, || with(a, |x| x.read_fe(index, timeout(timeout_ns)?)))
}

/// Blocks until element `index` is FULL, reads it into `*out` and leaves it FULL.
/// PLEXUS_TIMEOUT when `timeout_ns` passes first.
#[no_mangle]
pub extern "C" fn plexus_array_read_ff(
    a: plexus_array,
    index: u64,
    out: *mut plexus_value,
    timeout_ns: i64,
) -> plexus_status {
    read_op(out, || with(a, |x| x.read_ff(index, timeout(timeout_ns)?)))
}

/// Blocks until element `index` is EMPTY, writes `*v` and leaves it FULL.
/// PLEXUS_TIMEOUT when `timeout_ns` passes first (nothing written).
#[no_mangle]
pub extern "C" fn plexus_array_write_ef(
    a: plexus_array,
    index: u64,
    v: *const plexus_value,
    timeout_ns: i64,
) -> plexus_status {
    guard(|| {
        with(a, |x| {
            x.write_ef(index, value_ref(v, "v")?, timeout(timeout_ns)?)
        })
    })
}

/// Writes `*v` and leaves element `index` FULL, whatever the tag was (waits only while
/// `read_rw` readers hold it).
#[no_mangle]
pub extern "C" fn plexus_array_write_xf(
    a: plexus_array,
    index: u64,
    v: *const plexus_value,
) -> plexus_status {
    guard(|| with(a, |x| x.write_xf(index, value_ref(v, "v")?)))
}

/// Writes `*v` and leaves element `index` EMPTY, whatever the tag was (waits only while
/// `read_rw` readers hold it).
#[no_mangle]
pub extern "C" fn plexus_array_write_xe(
    a: plexus_array,
    index: u64,
    v: *const plexus_value,
) -> plexus_status {
    guard(|| with(a, |x| x.write_xe(index, value_ref(v, "v")?)))
}

/// Sets element `index` FULL (`full` true) or EMPTY without touching its value.
#[no_mangle]
pub extern "C" fn plexus_array_set_tag(a: plexus_array, index: u64, full: bool) -> plexus_status {
    guard(|| with(a, |x| x.set_tag(index, full)))
}

/// `*out` = whether element `index` is FULL (a snapshot).
#[no_mangle]
pub extern "C" fn plexus_array_is_full(
    a: plexus_array,
    index: u64,
    out: *mut bool,
) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = with(a, |x| x.is_full(index))?;
        Ok(())
    })
}

/// Blocks until element `index` is FULL, reads it into `*out` and takes a shared read
/// lock: until `plexus_array_release_rw`, every call that would change the value or tag
/// waits (read_fe, write*, set_tag, faa, cas, exchange, patch); read, read_ff and other read_rw
/// proceed. Locks held by a process that dies, or by a region handle that is closed,
/// are released. At most 28 held at once per region handle (PLEXUS_E_NO_SPACE).
#[no_mangle]
pub extern "C" fn plexus_array_read_rw(
    a: plexus_array,
    index: u64,
    out: *mut plexus_value,
    timeout_ns: i64,
) -> plexus_status {
    read_op(out, || with(a, |x| x.read_rw(index, timeout(timeout_ns)?)))
}

/// Releases one `read_rw` lock taken on element `index` through this array's region
/// handle. PLEXUS_E_INVALID_ARGUMENT if it holds none.
#[no_mangle]
pub extern "C" fn plexus_array_release_rw(a: plexus_array, index: u64) -> plexus_status {
    guard(|| with(a, |x| x.release_rw(index)))
}

/// Atomically adds `*delta` to element `index` with JavaScript `+` semantics, whatever
/// the tag (unchanged): int+int wraps, a float on either side gives a float, a string on
/// either side concatenates (numbers formatted as JavaScript does), bytes+bytes
/// concatenates; UNDEFINED is an empty accumulator (0 or ""), NULL and BOOL count as
/// numbers. `*old` (may be NULL) receives the previous value. PLEXUS_E_TYPE_MISMATCH for
/// other combinations (the element is unchanged).
#[no_mangle]
pub extern "C" fn plexus_array_faa(
    a: plexus_array,
    index: u64,
    delta: *const plexus_value,
    old: *mut plexus_value,
) -> plexus_status {
    rmw_op(old, || {
        with(a, |x| x.faa(index, value_ref(delta, "delta")?))
    })
}

/// Atomically: if element `index` equals `*expected` (same type and value, as
/// plexus_value_equal), store `*desired`. Either way `*old` (may be NULL) receives the
/// previous value, so the swap happened exactly when plexus_value_equal(old, expected).
/// Tag unchanged.
#[no_mangle]
pub extern "C" fn plexus_array_cas(
    a: plexus_array,
    index: u64,
    expected: *const plexus_value,
    desired: *const plexus_value,
    old: *mut plexus_value,
) -> plexus_status {
    rmw_op(old, || {
        with(a, |x| {
            x.cas(
                index,
                value_ref(expected, "expected")?,
                value_ref(desired, "desired")?,
            )
        })
    })
}

/// Atomically stores `*v` in element `index` and returns the previous value in `*old`
/// (may be NULL); the tag is unchanged.
#[no_mangle]
pub extern "C" fn plexus_array_exchange(
    a: plexus_array,
    index: u64,
    v: *const plexus_value,
    old: *mut plexus_value,
) -> plexus_status {
    rmw_op(old, || with(a, |x| x.exchange(index, value_ref(v, "v")?)))
}

/// Atomically applies a MongoDB-style update document `*patch` (an OBJECT, e.g. from
/// plexus_value_from_json) to element `index`, whatever the tag (unchanged); the version
/// moves by exactly one. Other processes see the value before or after the patch, never
/// between, and concurrent patches of one element lose nothing.
///
/// The patch maps operators to `{path: argument}` maps: `$set` (store), `$unset`
/// (remove; an array item becomes null), `$inc` / `$mul` (add / multiply a number),
/// `$min` / `$max` (keep the smaller / larger: numbers with numbers, strings with
/// strings), `$push` (append to an array; `{"$each": [...]}` appends several),
/// `$addToSet` (append what is not there yet), `$pull` (remove every equal item).
/// Paths are dotted (`"stats.hits"`, `"items.2.name"`: a segment meeting an array is an
/// index below its length); missing maps along a path are created (except by `$unset`
/// and `$pull`, for which a missing field is a no-op); `$inc`, `$min`, `$max`, `$push`,
/// `$addToSet` on a missing field set it (`$mul` sets 0). An UNDEFINED element counts as
/// `{}`. Numbers: int op int stays int and is exact (a result outside -2^63..2^64-1 is
/// PLEXUS_E_INVALID_ARGUMENT, never wrapped); a float on either side gives a float;
/// booleans and null are not numbers. `$pull`/`$addToSet` compare numbers by value
/// (1 equals 1.0) and the rest by structure.
///
/// All or nothing: on any error the element is untouched (value, tag and version).
/// PLEXUS_E_INVALID_ARGUMENT for a bad document (not an OBJECT map of operators, an
/// unknown operator or modifier, an empty or `$` path segment, an argument of the wrong
/// kind, two operators on the same field or on a field and one inside it);
/// PLEXUS_E_TYPE_MISMATCH when the value does not fit (the element holds something other
/// than an OBJECT or UNDEFINED, a path goes through a non-map/non-array or past an
/// array's end, `$inc` on a non-number, `$push` on a non-array, `$min` of a string and a
/// number). The message (plexus_last_error) names the operator and the path.
///
/// `*out` (may be NULL) receives the value after the patch (release it with
/// plexus_value_free); unchanged on error. Waits, as every writing call, while a
/// plexus_array_read_rw lock is held on the element. On a remote region the patch is
/// computed here and committed only if no other change came between (else it is
/// applied again to the newer value), and a retry after a lost reply applies it once.
#[no_mangle]
pub extern "C" fn plexus_array_patch(
    a: plexus_array,
    index: u64,
    patch: *const plexus_value,
    out: *mut plexus_value,
) -> plexus_status {
    rmw_op(out, || {
        with(a, |x| x.patch(index, value_ref(patch, "patch")?))
    })
}

/// `*out` = the element's version, bumped by every change of its value or tag.
#[no_mangle]
pub extern "C" fn plexus_array_version(
    a: plexus_array,
    index: u64,
    out: *mut u64,
) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        *slot = with(a, |x| x.version(index))?;
        Ok(())
    })
}

/// Blocks until the version of element `index` differs from `*version`, then stores its value in
/// `*out` and the version that value belongs to in `*version`: a consistent pair, read
/// together (never a newer value with an older version, nor the reverse). Returns at
/// once if the version already differs. Start with `*version = 0` to get the current
/// value at once (an element's version is at least 1 once written, 0 before).
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
pub extern "C" fn plexus_array_watch(
    a: plexus_array,
    index: u64,
    version: *mut u64,
    out: *mut plexus_value,
    timeout_ns: i64,
) -> plexus_status {
    watch_op(version, out, |seen| {
        let t = timeout(timeout_ns)?;
        with(a, |x| x.watch(index, seen, t))
    })
}

/// Blocks until element `index`'s version differs from `*version`, then stores the new
/// version in `*version` (returns at once if it already differs). PLEXUS_TIMEOUT when
/// `timeout_ns` passes first. To watch an element: read `plexus_array_version`, then
/// loop on this call.
#[no_mangle]
pub extern "C" fn plexus_array_wait_change(
    a: plexus_array,
    index: u64,
    version: *mut u64,
    timeout_ns: i64,
) -> plexus_status {
    guard(|| {
        let seen = out_ref(version, "version")?;
        let t = timeout(timeout_ns)?;
        let mut v = *seen;
        let r = with(a, |x| x.wait_change(index, &mut v, t));
        *seen = v;
        r
    })
}
