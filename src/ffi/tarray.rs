//! `plexus_tarray`: typed arrays, zero-copy numeric data with full/empty blocks.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::handles::{self, Object, TArrayEntry};
use super::region::plexus_region;
use super::status::{c_str, guard, out_ref, plexus_status};
use super::timeout;
use crate::backend::{Dtype, TArray};
use crate::semantics::deadline::Deadline;
use crate::Error;

/// The element type of a typed array. Elements are stored in the machine's byte order
/// (little-endian on every platform plexus runs on), contiguous, without padding.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum plexus_dtype {
    PLEXUS_DTYPE_I8 = 1,
    PLEXUS_DTYPE_U8,
    PLEXUS_DTYPE_I16,
    PLEXUS_DTYPE_U16,
    PLEXUS_DTYPE_I32,
    PLEXUS_DTYPE_U32,
    PLEXUS_DTYPE_I64,
    PLEXUS_DTYPE_U64,
    PLEXUS_DTYPE_F32,
    PLEXUS_DTYPE_F64,
}

/// A dtype as a C argument: a plain integer in Rust (any value a C caller passes is
/// defined behaviour), shown as `plexus_dtype` in the header.
pub type PlexusDtypeArg = u32;

/// `count` for plexus_tarray_notify that wakes every waiter.
pub const PLEXUS_NOTIFY_ALL: u32 = u32::MAX;

/// Handle of an open typed array. Id 0 is never valid.
///
/// A typed array is `length` numbers of one plexus_dtype, contiguous in the region,
/// 64-byte aligned and zero-filled at creation, that every process maps in place:
/// plexus_tarray_data gives a pointer to them (no copy). The elements are split into
/// blocks of `block_len` elements (the last block may be shorter), each EMPTY or FULL,
/// for handing data from producers to consumers without copies:
///
/// ```text
/// plexus_tarray_begin_write(t, b, timeout, &p)  waits EMPTY, the writer owns it
/// ... fill p ...
/// plexus_tarray_end_write(t, b)                 leaves it FULL, wakes a reader
/// plexus_tarray_begin_read(t, b, timeout, &p)   waits FULL, the reader owns it
/// ... use p ...
/// plexus_tarray_end_read(t, b)                  leaves it EMPTY, wakes a writer
/// ```
///
/// One reader takes a FULL block: a second reader waiting for the same block gets it
/// only after it was written again. A block is held by the region handle (the process
/// attachment) that began it: any thread of that process may end it.
///
/// Crashes: a writer that dies (or closes its region) between begin_write and end_write
/// leaves the block EMPTY for the next writer: its partial data is never handed to a
/// reader as FULL (the elements keep whatever it wrote; the next writer overwrites
/// them). A reader that dies between begin_read and end_read leaves the block FULL, so
/// the next reader reads it again. Whoever waits for the block notices within about
/// 50 ms of the death (the holder's process is checked between sleeps), and so does the
/// sweep of the next process that opens the region. Every block change is one atomic
/// step, so a kill at any instant leaves each block EMPTY, FULL, or held by the dead
/// process (and then recovered as above).
///
/// Remote regions (`redis://`) have no pointer into the data: plexus_tarray_data and
/// plexus_tarray_begin_write / begin_read return PLEXUS_E_UNSUPPORTED there; the
/// copying calls (plexus_tarray_read / _write, plexus_tarray_read_block /
/// _write_block) and the atomics work on both backends with the same meaning.
///
/// Calls can be made from any thread.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct plexus_tarray {
    pub id: u64,
}

/// Runs `f` on the engine typed array behind handle `t`.
fn with<T>(t: plexus_tarray, f: impl FnOnce(&TArray) -> Result<T, Error>) -> Result<T, Error> {
    handles::with(t.id, |e: &TArrayEntry| f(&e.tarray))
}

/// A caller buffer of `len` bytes as a slice (`len` 0: an empty slice, NULL allowed).
fn buf_mut<'a>(p: *mut c_void, len: u64, what: &str) -> Result<&'a mut [u8], Error> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: the caller promises (documented) `len` writable bytes at `p`.
    Ok(unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len as usize) })
}

fn buf<'a>(p: *const c_void, len: u64, what: &str) -> Result<&'a [u8], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: the caller promises (documented) `len` readable bytes at `p`.
    Ok(unsafe { std::slice::from_raw_parts(p as *const u8, len as usize) })
}

/// Bytes of `count` elements of `t`, checked against the address space.
fn bytes_of(t: &TArray, count: u64) -> Result<u64, Error> {
    count
        .checked_mul(t.shape().dtype.size())
        .filter(|&b| b <= isize::MAX as u64)
        .ok_or_else(|| Error::invalid(format!("{count} elements are too many")))
}

/// Opens the typed array `name` in `region`, creating it when `length > 0` and it is
/// missing.
///
/// `length > 0`: created if absent with `length` elements of `dtype`, zero-filled,
/// 64-byte aligned, in blocks of `block_len` elements (0 = one block of the whole array;
/// above `length`: PLEXUS_E_INVALID_ARGUMENT), every block EMPTY (FULL with
/// PLEXUS_FULL); if present, its dtype, length and block length must all equal these
/// (else PLEXUS_E_INCOMPATIBLE; `block_len` 0 then asks for one block). `length == 0`:
/// opens an existing typed array only (PLEXUS_E_NOT_FOUND if absent); its dtype must
/// still be `dtype` (PLEXUS_E_INCOMPATIBLE), `block_len` 0 accepts whatever it has,
/// another value must match. `flags`: 0, PLEXUS_FULL, PLEXUS_EXCLUSIVE. Names are 1-96
/// bytes of UTF-8. The array takes its elements' bytes in the region plus 16 bytes per
/// block and about 200 bytes more. Opening the same typed array twice through one
/// region handle returns the same handle.
///
/// Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_EXISTS, PLEXUS_E_INCOMPATIBLE,
/// PLEXUS_E_TYPE_MISMATCH (another kind of object has that name), PLEXUS_E_NO_SPACE,
/// PLEXUS_E_INVALID_ARGUMENT (NULL, bad name, unknown dtype or flags, block_len above
/// length), PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT, PLEXUS_E_UNAVAILABLE (remote). On
/// failure `*out` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_tarray_open(
    region: plexus_region,
    name: *const c_char,
    dtype: PlexusDtypeArg,
    length: u64,
    block_len: u64,
    flags: u32,
    out: *mut plexus_tarray,
) -> plexus_status {
    guard(|| {
        let name = c_str(name, "name")?;
        let slot = out_ref(out, "out")?;
        let dtype = Dtype::from_code(dtype)?;
        let parent = handles::region(region.id)?;
        let tarray = parent
            .region
            .tarray(name, Some(dtype), length, block_len, flags)?;
        slot.id = handles::child(region.id, &parent, "tarray", name, || {
            Object::TArray(Arc::new(TArrayEntry {
                tarray,
                parent: region.id,
            }))
        })?;
        Ok(())
    })
}

/// Gives back one plexus_tarray_open of this handle (the handle stays valid until closed
/// as many times as it was opened; closing the region closes it at once). The array and
/// its blocks' states stay in the region; a block this process holds stays held until
/// it ends it or its region handle is closed. Pointers obtained through the handle are
/// invalid once it is closed. PLEXUS_E_BAD_HANDLE if already closed.
#[no_mangle]
pub extern "C" fn plexus_tarray_close(t: plexus_tarray) -> plexus_status {
    guard(|| {
        let (name, parent) = handles::with(t.id, |e: &TArrayEntry| {
            Ok((e.tarray.name().to_owned(), e.parent))
        })?;
        handles::close_child(t.id, "tarray", &name, parent)
    })
}

/// The array's shape: any of `dtype`, `length` (elements), `block_len` (elements per
/// block) and `blocks` (block count) may be NULL. Never blocks. PLEXUS_E_BAD_HANDLE.
#[no_mangle]
pub extern "C" fn plexus_tarray_shape(
    t: plexus_tarray,
    dtype: *mut PlexusDtypeArg,
    length: *mut u64,
    block_len: *mut u64,
    blocks: *mut u64,
) -> plexus_status {
    guard(|| {
        let s = with(t, |a| Ok(a.shape()))?;
        // SAFETY: each pointer is NULL or points at a writable value (documented).
        unsafe {
            if !dtype.is_null() {
                *dtype = s.dtype as u32;
            }
            if !length.is_null() {
                *length = s.length;
            }
            if !block_len.is_null() {
                *block_len = s.block_len;
            }
            if !blocks.is_null() {
                *blocks = s.blocks();
            }
        }
        Ok(())
    })
}

/// The elements in place: `*ptr` points at element 0 (64-byte aligned; cast it to the
/// dtype's C type), `*length` is the element count. Valid until this handle or its
/// region handle is closed. Reading and writing through it ignores the block states
/// (other processes see the writes at once; use the blocks or the atomics to order
/// them). Never blocks.
///
/// Returns PLEXUS_OK; PLEXUS_E_UNSUPPORTED on a remote region (use plexus_tarray_read /
/// plexus_tarray_write); PLEXUS_E_INVALID_ARGUMENT (NULL), PLEXUS_E_REMOVED,
/// PLEXUS_E_BAD_HANDLE. On failure the outputs are unchanged.
#[no_mangle]
pub extern "C" fn plexus_tarray_data(
    t: plexus_tarray,
    ptr: *mut *mut c_void,
    length: *mut u64,
) -> plexus_status {
    guard(|| {
        let p = out_ref(ptr, "ptr")?;
        let n = out_ref(length, "length")?;
        let (data, len) = with(t, |a| a.data())?;
        *p = data as *mut c_void;
        *n = len;
        Ok(())
    })
}

/// Begins writing block `block`: waits until it is EMPTY, makes it held by this process
/// for writing, and sets `*ptr` to its first element (the block's elements are
/// `block * block_len ..`, `block_len` of them, fewer in a short last block).
///
/// Blocks until the block is EMPTY or the timeout passes (PLEXUS_FOREVER; 0: try once;
/// a positive value: nanoseconds); a waiter sleeps, it does not spin. A block held by a process that
/// died is given back (EMPTY) while waiting. End with plexus_tarray_end_write.
///
/// Returns PLEXUS_OK; PLEXUS_TIMEOUT; PLEXUS_E_OUT_OF_RANGE (no such block);
/// PLEXUS_E_INVALID_ARGUMENT (NULL, negative timeout other than PLEXUS_FOREVER, the
/// block is already being written by this process); PLEXUS_E_UNSUPPORTED on a remote
/// region (use plexus_tarray_write_block); PLEXUS_E_REMOVED; PLEXUS_E_BAD_HANDLE. On
/// failure `*ptr` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_tarray_begin_write(
    t: plexus_tarray,
    block: u64,
    timeout_ns: i64,
    ptr: *mut *mut c_void,
) -> plexus_status {
    guard(|| {
        let p = out_ref(ptr, "ptr")?;
        let d = Deadline::after(timeout(timeout_ns)?);
        let (data, _) = with(t, |a| a.begin_until(block, true, &d))?;
        *p = data as *mut c_void;
        Ok(())
    })
}

/// Ends writing block `block` (begun by this process with plexus_tarray_begin_write):
/// leaves it FULL and wakes a process waiting to read it. Never blocks.
///
/// Returns PLEXUS_OK; PLEXUS_E_INVALID_ARGUMENT (the block is not being written by this
/// process, e.g. it was ended already, or this process's region handle was closed and
/// the block given back); PLEXUS_E_OUT_OF_RANGE; PLEXUS_E_UNSUPPORTED (remote);
/// PLEXUS_E_REMOVED; PLEXUS_E_BAD_HANDLE.
#[no_mangle]
pub extern "C" fn plexus_tarray_end_write(t: plexus_tarray, block: u64) -> plexus_status {
    guard(|| with(t, |a| a.end_write(block)))
}

/// Begins reading block `block`: waits until it is FULL, makes it held by this process
/// for reading, and sets `*ptr` to its first element. As plexus_tarray_begin_write
/// otherwise (a block whose reader died is FULL again while waiting). End with
/// plexus_tarray_end_read.
///
/// Returns PLEXUS_OK; PLEXUS_TIMEOUT; PLEXUS_E_OUT_OF_RANGE; PLEXUS_E_INVALID_ARGUMENT
/// (NULL, bad timeout, already being read by this process); PLEXUS_E_UNSUPPORTED on a
/// remote region (use plexus_tarray_read_block); PLEXUS_E_REMOVED;
/// PLEXUS_E_BAD_HANDLE. On failure `*ptr` is unchanged.
#[no_mangle]
pub extern "C" fn plexus_tarray_begin_read(
    t: plexus_tarray,
    block: u64,
    timeout_ns: i64,
    ptr: *mut *const c_void,
) -> plexus_status {
    guard(|| {
        let p = out_ref(ptr, "ptr")?;
        let d = Deadline::after(timeout(timeout_ns)?);
        let (data, _) = with(t, |a| a.begin_until(block, false, &d))?;
        *p = data as *const c_void;
        Ok(())
    })
}

/// Ends reading block `block` (begun by this process with plexus_tarray_begin_read):
/// leaves it EMPTY and wakes a process waiting to write it. Never blocks. Statuses as
/// plexus_tarray_end_write.
#[no_mangle]
pub extern "C" fn plexus_tarray_end_read(t: plexus_tarray, block: u64) -> plexus_status {
    guard(|| with(t, |a| a.end_read(block)))
}

/// Copies elements `first .. first + count` into `out` (`count` times the element size
/// bytes), ignoring block states. Works on every backend. Never blocks (beyond a
/// remote round trip).
///
/// Returns PLEXUS_OK; PLEXUS_E_OUT_OF_RANGE (the range passes the end);
/// PLEXUS_E_INVALID_ARGUMENT (`out` NULL with count > 0); PLEXUS_E_REMOVED,
/// PLEXUS_E_BAD_HANDLE, PLEXUS_E_UNAVAILABLE / PLEXUS_E_REGION_LOST (remote).
#[no_mangle]
pub extern "C" fn plexus_tarray_read(
    t: plexus_tarray,
    first: u64,
    count: u64,
    out: *mut c_void,
) -> plexus_status {
    guard(|| {
        with(t, |a| {
            let out = buf_mut(out, bytes_of(a, count)?, "out")?;
            a.read(first, out)
        })
    })
}

/// Copies `count` elements from `in` into elements `first ..`, ignoring block states.
/// Statuses as plexus_tarray_read (`in` NULL with count > 0: invalid).
#[no_mangle]
pub extern "C" fn plexus_tarray_write(
    t: plexus_tarray,
    first: u64,
    count: u64,
    r#in: *const c_void,
) -> plexus_status {
    guard(|| {
        with(t, |a| {
            let data = buf(r#in, bytes_of(a, count)?, "in")?;
            a.write(first, data)
        })
    })
}

/// Waits until block `block` is FULL, copies its elements into `out` (the block's
/// element count times the element size bytes: plexus_tarray_shape gives both), and
/// leaves it EMPTY, as one step: a concurrent or crashed process never sees it half
/// done. Works on every backend (the remote form of begin_read/end_read).
///
/// Blocks as plexus_tarray_begin_read. Returns PLEXUS_OK; PLEXUS_TIMEOUT (nothing
/// copied); PLEXUS_E_OUT_OF_RANGE; PLEXUS_E_INVALID_ARGUMENT (NULL, bad timeout);
/// PLEXUS_E_REMOVED; PLEXUS_E_BAD_HANDLE; PLEXUS_E_UNAVAILABLE / PLEXUS_E_REGION_LOST.
#[no_mangle]
pub extern "C" fn plexus_tarray_read_block(
    t: plexus_tarray,
    block: u64,
    timeout_ns: i64,
    out: *mut c_void,
) -> plexus_status {
    guard(|| {
        let to = timeout(timeout_ns)?;
        with(t, |a| {
            let (_, count) = a.shape().block_range(block)?;
            let out = buf_mut(out, bytes_of(a, count)?, "out")?;
            a.read_block(block, to, out)
        })
    })
}

/// Waits until block `block` is EMPTY, copies the block's elements from `in`, and
/// leaves it FULL (waking a reader). Works on every backend. Statuses as
/// plexus_tarray_read_block.
#[no_mangle]
pub extern "C" fn plexus_tarray_write_block(
    t: plexus_tarray,
    block: u64,
    timeout_ns: i64,
    r#in: *const c_void,
) -> plexus_status {
    guard(|| {
        let to = timeout(timeout_ns)?;
        with(t, |a| {
            let (_, count) = a.shape().block_range(block)?;
            let data = buf(r#in, bytes_of(a, count)?, "in")?;
            a.write_block(block, to, data)
        })
    })
}

/// Whether block `block` is FULL right now (`*full` true) or EMPTY (false); a block
/// being written counts as EMPTY, one being read as FULL. A snapshot. Never blocks.
/// PLEXUS_E_OUT_OF_RANGE, PLEXUS_E_INVALID_ARGUMENT (NULL), PLEXUS_E_REMOVED,
/// PLEXUS_E_BAD_HANDLE.
#[no_mangle]
pub extern "C" fn plexus_tarray_is_full(
    t: plexus_tarray,
    block: u64,
    full: *mut bool,
) -> plexus_status {
    guard(|| {
        let out = out_ref(full, "full")?;
        let s = with(t, |a| a.block_state(block))?;
        *out = matches!(
            s,
            crate::backend::BlockState::Full | crate::backend::BlockState::Reading
        );
        Ok(())
    })
}

/// Atomically reads element `index` of an I32, U32, I64 or U64 array into `*out`
/// (sign-extended for I32; a U64 element's bit pattern: cast it to uint64_t).
///
/// The element atomics work as JavaScript's Atomics do across threads, across
/// processes and on every backend. Returns PLEXUS_OK; PLEXUS_E_TYPE_MISMATCH (another
/// dtype); PLEXUS_E_OUT_OF_RANGE; PLEXUS_E_INVALID_ARGUMENT (NULL); PLEXUS_E_REMOVED,
/// PLEXUS_E_BAD_HANDLE, PLEXUS_E_UNAVAILABLE (remote).
#[no_mangle]
pub extern "C" fn plexus_tarray_load(t: plexus_tarray, index: u64, out: *mut i64) -> plexus_status {
    guard(|| {
        let o = out_ref(out, "out")?;
        *o = with(t, |a| a.load(index))?;
        Ok(())
    })
}

/// Atomically stores `value` into element `index`. An I32 or U32 element takes values
/// in its range only (else PLEXUS_E_INVALID_ARGUMENT, nothing stored); I64 takes every
/// value, U64 takes the bit pattern (pass `(int64_t)u`). Does not wake waiters: call
/// plexus_tarray_notify after the change you want seen. Statuses as plexus_tarray_load.
#[no_mangle]
pub extern "C" fn plexus_tarray_store(t: plexus_tarray, index: u64, value: i64) -> plexus_status {
    guard(|| with(t, |a| a.store(index, value)))
}

/// Atomically adds `delta` to element `index`, modulo 2^bits of the element (so -1
/// decrements an unsigned element, and a sum past the end wraps), and sets `*old` (may
/// be NULL) to the value before. Statuses as plexus_tarray_load.
#[no_mangle]
pub extern "C" fn plexus_tarray_faa(
    t: plexus_tarray,
    index: u64,
    delta: i64,
    old: *mut i64,
) -> plexus_status {
    guard(|| {
        let v = with(t, |a| a.faa(index, delta))?;
        if !old.is_null() {
            // SAFETY: non-NULL `old` points at a writable int64_t (documented).
            unsafe { *old = v };
        }
        Ok(())
    })
}

/// Atomically stores `desired` into element `index` if it equals `expected`, and sets
/// `*old` (may be NULL) to the value before (equal to `expected` exactly when it
/// stored). Both values must fit the element as for plexus_tarray_store (else
/// PLEXUS_E_INVALID_ARGUMENT). Statuses as plexus_tarray_load.
#[no_mangle]
pub extern "C" fn plexus_tarray_cas(
    t: plexus_tarray,
    index: u64,
    expected: i64,
    desired: i64,
    old: *mut i64,
) -> plexus_status {
    guard(|| {
        let v = with(t, |a| a.cas(index, expected, desired))?;
        if !old.is_null() {
            // SAFETY: non-NULL `old` points at a writable int64_t (documented).
            unsafe { *old = v };
        }
        Ok(())
    })
}

/// Sleeps while element `index` equals `expected` (JavaScript's Atomics.wait, across
/// processes): returns PLEXUS_OK at once if it differs, else sleeps until a
/// plexus_tarray_notify on the element finds it changed (it checks again after every
/// wake and goes back to sleep while it is still equal) or the timeout passes
/// (PLEXUS_TIMEOUT; PLEXUS_FOREVER; 0: check once; a positive value: nanoseconds). A store without
/// a notify may not end the wait before the timeout. `expected` must fit the element
/// (else PLEXUS_E_INVALID_ARGUMENT). Other statuses as plexus_tarray_load, and
/// PLEXUS_E_REMOVED for a sleeper whose array or region is removed.
#[no_mangle]
pub extern "C" fn plexus_tarray_wait(
    t: plexus_tarray,
    index: u64,
    expected: i64,
    timeout_ns: i64,
) -> plexus_status {
    guard(|| {
        let d = Deadline::after(timeout(timeout_ns)?);
        with(t, |a| a.wait_until(index, expected, &d))
    })
}

/// Wakes up to `count` processes sleeping in plexus_tarray_wait on element `index`
/// (PLEXUS_NOTIFY_ALL: every one; 0: none) and sets `*woken` (may be NULL) to how many
/// it woke. On a remote region every sleeper of the element wakes and checks its value
/// (the extra ones sleep again), and `*woken` counts at most `count` of them. Statuses
/// as plexus_tarray_load.
#[no_mangle]
pub extern "C" fn plexus_tarray_notify(
    t: plexus_tarray,
    index: u64,
    count: u32,
    woken: *mut u32,
) -> plexus_status {
    guard(|| {
        let n = with(t, |a| a.notify(index, count))?;
        if !woken.is_null() {
            // SAFETY: non-NULL `woken` points at a writable uint32_t (documented).
            unsafe { *woken = n };
        }
        Ok(())
    })
}
