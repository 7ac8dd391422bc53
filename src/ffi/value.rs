//! `plexus_value`: the tagged value that crosses the C boundary.

use std::ffi::{c_char, c_void};
use std::ptr;

use super::status::{c_str, guard, out_ref, plexus_status};
use crate::{Error, Type, Value, ValueRef};

/// Type of a value. STRING is UTF-8; BYTES any bytes; OBJECT structured data (maps,
/// arrays, nested) encoded as MessagePack.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum plexus_type {
    PLEXUS_UNDEFINED = 0,
    PLEXUS_NULL = 1,
    PLEXUS_BOOL = 2,
    PLEXUS_INT = 3,
    PLEXUS_FLOAT = 4,
    PLEXUS_STRING = 5,
    PLEXUS_BYTES = 6,
    PLEXUS_OBJECT = 7,
}

/// The type field as Rust reads it: any integer a C caller stores is defined behaviour
/// (unknown tags are rejected with PLEXUS_E_INVALID_ARGUMENT). Shown as `plexus_type`.
pub type PlexusTypeField = u32;
/// A C `bool` as Rust reads it (any byte is accepted; non-zero is true). Shown as `bool`.
pub type PlexusBoolField = u8;

/// Pointer and length of a STRING, BYTES or OBJECT payload.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct plexus_buf {
    /// The bytes (for strings the library also puts a NUL after them when it owns them).
    pub ptr: *const c_void,
    /// Number of bytes, without any terminating NUL.
    pub len: usize,
}

/// The payload of a value; which member is meaningful depends on `type`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union plexus_value_data {
    /// BOOL.
    pub b: PlexusBoolField,
    /// INT.
    pub i: i64,
    /// FLOAT.
    pub f: f64,
    /// STRING, BYTES, OBJECT.
    pub buf: plexus_buf,
}

/// A dynamically typed value.
///
/// Values made with the constructors below borrow the caller's memory (no allocation).
/// Values filled in by the library (every read) may own memory: release them with
/// `plexus_value_free`. Never copy an owned value and free both copies.
///
/// cbindgen:field-names=[type, as, owner]
#[repr(C)]
pub struct plexus_value {
    /// Which member of `as` is meaningful.
    pub type_: PlexusTypeField,
    /// The payload.
    pub as_: plexus_value_data,
    /// Private: non-NULL when the library owns `as.buf`.
    pub owner: *mut c_void,
}

fn scalar(t: plexus_type, data: plexus_value_data) -> plexus_value {
    plexus_value {
        type_: t as u32,
        as_: data,
        owner: ptr::null_mut(),
    }
}

fn borrowed(t: plexus_type, p: *const c_void, len: usize) -> plexus_value {
    scalar(
        t,
        plexus_value_data {
            buf: plexus_buf { ptr: p, len },
        },
    )
}

/// UNDEFINED: what a fresh element holds.
#[no_mangle]
pub extern "C" fn plexus_undefined() -> plexus_value {
    scalar(plexus_type::PLEXUS_UNDEFINED, plexus_value_data { i: 0 })
}

/// NULL.
#[no_mangle]
pub extern "C" fn plexus_null() -> plexus_value {
    scalar(plexus_type::PLEXUS_NULL, plexus_value_data { i: 0 })
}

/// BOOL.
#[no_mangle]
pub extern "C" fn plexus_bool(b: bool) -> plexus_value {
    scalar(plexus_type::PLEXUS_BOOL, plexus_value_data { b: b as u8 })
}

/// INT (full 64 bits).
#[no_mangle]
pub extern "C" fn plexus_int(i: i64) -> plexus_value {
    scalar(plexus_type::PLEXUS_INT, plexus_value_data { i })
}

/// FLOAT.
#[no_mangle]
pub extern "C" fn plexus_float(f: f64) -> plexus_value {
    scalar(plexus_type::PLEXUS_FLOAT, plexus_value_data { f })
}

/// STRING borrowing a NUL-terminated UTF-8 string (checked when the value is used).
/// With `s == NULL` the value is invalid and every call rejects it with
/// PLEXUS_E_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn plexus_string(s: *const c_char) -> plexus_value {
    if s.is_null() {
        return borrowed(plexus_type::PLEXUS_STRING, ptr::null(), usize::MAX);
    }
    // SAFETY: non-NULL and, by contract, NUL-terminated.
    let len = unsafe { std::ffi::CStr::from_ptr(s) }.to_bytes().len();
    borrowed(plexus_type::PLEXUS_STRING, s.cast(), len)
}

/// STRING borrowing `len` bytes of UTF-8 at `s` (no terminator needed; may contain NUL).
#[no_mangle]
pub extern "C" fn plexus_string_n(s: *const c_char, len: usize) -> plexus_value {
    borrowed(plexus_type::PLEXUS_STRING, s.cast(), len)
}

/// BYTES borrowing `len` bytes at `p`.
#[no_mangle]
pub extern "C" fn plexus_bytes(p: *const c_void, len: usize) -> plexus_value {
    borrowed(plexus_type::PLEXUS_BYTES, p, len)
}

/// OBJECT borrowing `len` bytes of MessagePack at `p` (validated when the value is
/// stored: one well-formed MessagePack value, else PLEXUS_E_INVALID_ARGUMENT).
#[no_mangle]
pub extern "C" fn plexus_object_msgpack(p: *const c_void, len: usize) -> plexus_value {
    borrowed(plexus_type::PLEXUS_OBJECT, p, len)
}

/// Reads a caller's value without copying. Rejects NULL, unknown type tags, NULL
/// buffers with a length, and strings that are not UTF-8.
// Inlined: a Result<ValueRef> returned through memory is reloaded wider than it was
// stored (a store-forwarding stall per value of a batch, in value_refs).
#[inline(always)]
pub(crate) fn value_ref<'a>(v: *const plexus_value, what: &str) -> Result<ValueRef<'a>, Error> {
    if v.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: `v` is non-NULL and points to a plexus_value by contract. Fields are read
    // through raw pointers as plain integers, so no invalid enum or bool is ever formed.
    let (tag, data) = unsafe {
        (
            ptr::addr_of!((*v).type_).read(),
            ptr::addr_of!((*v).as_).read(),
        )
    };
    let t = Type::from_u32(tag)
        .ok_or_else(|| Error::invalid(format!("{what} has unknown type tag {tag}")))?;
    let buf = || -> Result<&'a [u8], Error> {
        // SAFETY: for buffer types the `buf` member is the active one.
        let b = unsafe { data.buf };
        if b.ptr.is_null() {
            if b.len == 0 {
                return Ok(&[]);
            }
            return Err(Error::invalid(format!("{what} has a NULL data pointer")));
        }
        if b.len > isize::MAX as usize {
            return Err(Error::invalid(format!("{what} has an impossible length")));
        }
        // SAFETY: the caller promises `len` readable bytes at `ptr` for the call.
        Ok(unsafe { std::slice::from_raw_parts(b.ptr.cast::<u8>(), b.len) })
    };
    Ok(match t {
        Type::Undefined => ValueRef::Undefined,
        Type::Null => ValueRef::Null,
        // SAFETY: `type` selects this member; every bit pattern of a u8 is valid.
        Type::Bool => ValueRef::Bool(unsafe { data.b } != 0),
        // SAFETY: `type` selects this member; every bit pattern of an i64 is valid.
        Type::Int => ValueRef::Int(unsafe { data.i }),
        // SAFETY: `type` selects this member; every bit pattern of an f64 is valid.
        Type::Float => ValueRef::Float(unsafe { data.f }),
        Type::String => ValueRef::String(
            std::str::from_utf8(buf()?)
                .map_err(|e| Error::invalid(format!("{what} is not valid UTF-8 ({e})")))?,
        ),
        Type::Bytes => ValueRef::Bytes(buf()?),
        Type::Object => ValueRef::Object(buf()?),
    })
}

/// Reads `n` caller values at `values` without copying (each as [`value_ref`] does).
/// `values` may be NULL when `n` is 0.
pub(crate) fn value_refs<'a>(
    values: *const plexus_value,
    n: usize,
    what: &str,
) -> Result<Vec<ValueRef<'a>>, Error> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if values.is_null() {
        return Err(Error::invalid(format!("{what} is NULL but n is {n}")));
    }
    if n > isize::MAX as usize / std::mem::size_of::<plexus_value>() {
        return Err(Error::invalid(format!("n {n} is larger than any array")));
    }
    // A plain loop: collecting an iterator of Results moves each (large) Result through
    // memory, which cost a batch push a third of its time.
    let mut refs = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: `values` is non-NULL with `n` values by contract, and `i < n`.
        let v = unsafe { values.add(i) };
        match value_ref(v, what) {
            Ok(r) => refs.push(r),
            Err(Error::InvalidArgument(m)) => {
                return Err(Error::invalid(format!("{m} (at index {i})")))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(refs)
}

/// Converts an engine value to a C value; buffers become owned by the C value.
pub(crate) fn to_c(v: Value) -> plexus_value {
    use plexus_type::*;
    let owned = |t: plexus_type, mut bytes: Vec<u8>, nul: bool| {
        let len = bytes.len();
        if nul {
            bytes.push(0);
        }
        let boxed = Box::new(bytes);
        let p = boxed.as_ptr().cast::<c_void>();
        plexus_value {
            type_: t as u32,
            as_: plexus_value_data {
                buf: plexus_buf { ptr: p, len },
            },
            owner: Box::into_raw(boxed).cast(),
        }
    };
    match v {
        Value::Undefined => plexus_undefined(),
        Value::Null => plexus_null(),
        Value::Bool(b) => plexus_bool(b),
        Value::Int(i) => plexus_int(i),
        Value::Float(f) => plexus_float(f),
        Value::String(s) => owned(PLEXUS_STRING, s.into_bytes(), true),
        Value::Bytes(b) => owned(PLEXUS_BYTES, b, false),
        Value::Object(o) => owned(PLEXUS_OBJECT, o, false),
    }
}

/// Stores an engine value into a caller's out-parameter.
pub(crate) fn put(out_ptr: *mut plexus_value, v: Value) -> Result<(), Error> {
    let slot = out_ref(out_ptr, "out")?;
    // SAFETY-free: plain struct assignment; the previous contents are not read.
    *slot = to_c(v);
    Ok(())
}

/// Releases memory a value owns and resets it to UNDEFINED. No-op for NULL, for scalars
/// and for borrowed values; safe to call twice on the same value.
#[no_mangle]
pub extern "C" fn plexus_value_free(v: *mut plexus_value) {
    let _ = guard(|| {
        let Some(v) = unsafe_ptr_mut(v) else {
            return Ok(());
        };
        if !v.owner.is_null() {
            // SAFETY: non-NULL `owner` is only ever set by `to_c`, from Box::into_raw of a
            // Box<Vec<u8>>, and reset to NULL right here, so this is its one release.
            drop(unsafe { Box::from_raw(v.owner.cast::<Vec<u8>>()) });
        }
        *v = plexus_undefined();
        Ok(())
    });
}

fn unsafe_ptr_mut<'a, T>(p: *mut T) -> Option<&'a mut T> {
    // SAFETY: non-NULL pointers from C point to a valid T by contract.
    unsafe { p.as_mut() }
}

/// Parses JSON text into `*out`: null, true/false, integers (INT when they fit in 64
/// bits, else FLOAT), other numbers (FLOAT), strings (STRING); objects and arrays become
/// OBJECT (MessagePack, keys in the order written). `*out` owns memory afterwards: release it with
/// `plexus_value_free`. PLEXUS_E_INVALID_ARGUMENT for NULL or bad JSON (`*out` unchanged).
#[no_mangle]
pub extern "C" fn plexus_value_from_json(
    json: *const c_char,
    out: *mut plexus_value,
) -> plexus_status {
    guard(|| {
        let text = c_str(json, "json")?;
        let v = Value::from_json(text)?;
        put(out, v)
    })
}

/// Writes `v` as JSON text into `buf` (capacity `cap` bytes, NUL-terminated), like
/// snprintf. `*needed` (if not NULL) receives the bytes required including the NUL.
/// PLEXUS_E_BUFFER_TOO_SMALL when `cap` is smaller (nothing written then; pass
/// `buf = NULL, cap = 0` to ask for the size). UNDEFINED and non-finite floats are written
/// as `null`, BYTES (also inside an OBJECT) as an array of numbers, OBJECT map keys that
/// are not strings as their JSON text (`1`, `true`, `[1,2]` for a byte string). OBJECT
/// keys keep their order. An OBJECT whose bytes are not valid MessagePack, or that uses
/// a map or an array as a map key (JSON has no form for it), gives
/// PLEXUS_E_TYPE_MISMATCH (storing invalid MessagePack is refused with
/// PLEXUS_E_INVALID_ARGUMENT).
#[no_mangle]
pub extern "C" fn plexus_value_to_json(
    v: *const plexus_value,
    buf: *mut c_char,
    cap: usize,
    needed: *mut usize,
) -> plexus_status {
    guard(|| {
        let text = value_ref(v, "value")?.to_json()?;
        let need = text.len() + 1;
        if let Some(n) = unsafe_ptr_mut(needed) {
            *n = need;
        }
        if cap < need {
            return Err(Error::BufferTooSmall { needed: need });
        }
        if buf.is_null() {
            return Err(Error::invalid("buf is NULL but cap is not 0"));
        }
        // SAFETY: `buf` is non-NULL with `cap >= need` writable bytes by contract.
        unsafe {
            ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
            *buf.add(text.len()) = 0;
        }
        Ok(())
    })
}

/// True when both values have the same type and value (the comparison `cas` uses). The
/// types must match: INT 2 and FLOAT 2.0 are not equal. FLOATs compare numerically
/// (-0.0 equals 0.0, NaN equals nothing); strings, bytes and objects byte for byte.
/// False if either is NULL or invalid.
#[no_mangle]
pub extern "C" fn plexus_value_equal(a: *const plexus_value, b: *const plexus_value) -> bool {
    let mut eq = false;
    let _ = guard(|| {
        eq = value_ref(a, "a")?.same_as(&value_ref(b, "b")?);
        Ok(())
    });
    eq
}

/// Runs a read and stores its value in the required out-parameter `out`.
pub(crate) fn read_op(
    out: *mut plexus_value,
    f: impl FnOnce() -> Result<Value, Error>,
) -> plexus_status {
    guard(|| {
        out_ref(out, "out")?;
        put(out, f()?)
    })
}

/// A watch (`plexus_array_watch`, `plexus_map_watch`): `f` gets the version last seen and
/// returns the new value, updating the version; on success both out-parameters are
/// stored, on failure neither is touched.
pub(crate) fn watch_op(
    version: *mut u64,
    out: *mut plexus_value,
    f: impl FnOnce(&mut u64) -> Result<Value, Error>,
) -> plexus_status {
    guard(|| {
        let seen = out_ref(version, "version")?;
        out_ref(out, "out")?;
        let mut v = *seen;
        let value = f(&mut v)?;
        put(out, value)?;
        *seen = v;
        Ok(())
    })
}

/// A read-modify-write whose returned value (the old one, or for a patch the new one)
/// the caller may decline (`old == NULL`).
pub(crate) fn rmw_op(
    old: *mut plexus_value,
    f: impl FnOnce() -> Result<Value, Error>,
) -> plexus_status {
    guard(|| {
        let prev = f()?;
        if !old.is_null() {
            put(old, prev)?;
        }
        Ok(())
    })
}
