//! Typed arrays: numbers of one dtype in shared memory, seen in place through
//! memoryviews (and numpy arrays, in `plexus/_tarray.py`).
//!
//! A memoryview made here points into the region's mapping and has no owner object (the
//! stable ABI of Python 3.8 has no buffer protocol for classes), so a view must not
//! outlive the mapping: the first view of a typed array pins a clone of its engine
//! object in [`PINNED`] until the process exits, which keeps the region mapped even after
//! `close()` (closing then gives back the handle, not the memory a view may still read).

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use plexus::backend::{self, Dtype};
use plexus::{Deadline, Error};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::region::{count, Opened, Region};
use crate::wait::{blocking, timed_out, timeout};

/// Engine objects whose memory a memoryview may still reference.
static PINNED: Mutex<Vec<backend::TArray>> = Mutex::new(Vec::new());

/// The `struct` format character of a dtype (what `memoryview.cast` takes).
fn format_of(d: Dtype) -> &'static str {
    match d {
        Dtype::I8 => "b",
        Dtype::U8 => "B",
        Dtype::I16 => "h",
        Dtype::U16 => "H",
        Dtype::I32 => "i",
        Dtype::U32 => "I",
        Dtype::I64 => "q",
        Dtype::U64 => "Q",
        Dtype::F32 => "f",
        Dtype::F64 => "d",
    }
}

/// A typed array (the compiled half of `plexus.TypedArray`).
#[pyclass(subclass, frozen, module = "plexus._plexus")]
pub(crate) struct TArray {
    o: Opened<backend::TArray>,
    shape: backend::TArrayShape,
    pinned: AtomicBool,
}

impl TArray {
    /// A memoryview of `count` elements at `ptr` (writable or not), cast to the dtype.
    fn view<'py>(
        &self,
        py: Python<'py>,
        ptr: usize,
        count: u64,
        writable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !self.pinned.swap(true, Ordering::Relaxed) {
            let t = self.o.get(py)?;
            PINNED.lock().push((*t).clone());
        }
        let bytes = count * self.shape.dtype.size();
        // PyBUF_WRITE / PyBUF_READ of CPython's memoryobject.h.
        let flags: std::os::raw::c_int = if writable { 0x200 } else { 0x100 };
        // SAFETY: `ptr .. ptr + bytes` is inside the region's mapping (the engine gave
        // the pointer and the count), which stays mapped until the process exits (the
        // engine object is pinned above). The call returns a new reference or NULL with
        // a Python exception set, which `from_owned_ptr_or_err` turns into an error.
        let mv = unsafe {
            let p = pyo3::ffi::PyMemoryView_FromMemory(ptr as *mut c_char, bytes as isize, flags);
            Bound::from_owned_ptr_or_err(py, p)?
        };
        mv.call_method1("cast", (format_of(self.shape.dtype),))
    }

    fn begin<'py>(
        &self,
        py: Python<'py>,
        block: u64,
        write: bool,
        t: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let t = timeout(t)?;
        let a = self.o.get(py)?;
        let got = blocking(py, t, self.o.remote, timed_out, |piece| {
            a.begin_until(block, write, &Deadline::after(piece))
                .map(|(p, n)| (p as usize, n))
        })?
        .map_err(|e| {
            self.o
                .fail(py, if write { "begin_write" } else { "begin_read" }, e)
        })?;
        self.view(py, got.0, got.1, write)
    }
}

object_methods!(TArray, "TypedArray", "Gives back this handle (idempotent): the typed array and its blocks stay; memoryviews and numpy arrays made from it stay readable (the memory stays mapped until the process exits); later calls through this object raise `plexus.BadHandle`.", {
    #[new]
    #[pyo3(signature = (region, name, dtype, length, block_len, flags))]
    fn new(
        region: &Bound<'_, Region>,
        name: String,
        dtype: Option<&str>,
        length: &Bound<'_, PyAny>,
        block_len: &Bound<'_, PyAny>,
        flags: u32,
    ) -> PyResult<TArray> {
        let dtype = match dtype {
            Some(d) => Some(Dtype::from_name(d).map_err(|e| {
                pyo3::exceptions::PyValueError::new_err(format!("plexus: {e}"))
            })?),
            None => None,
        };
        let length = count(length, "length", 64)?;
        let block_len = count(block_len, "block_len", 64)?;
        let o = Opened::new(region, "typed array", name, move |r, n| {
            r.tarray(n, dtype, length, block_len, flags)
        })?;
        let shape = o.get(region.py())?.shape();
        Ok(TArray { o, shape, pinned: AtomicBool::new(false) })
    }

    /// The element type: "i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "f32"
    /// or "f64".
    #[getter]
    fn dtype(&self) -> &'static str {
        self.shape.dtype.name()
    }

    /// The number of elements.
    #[getter]
    fn length(&self) -> u64 {
        self.shape.length
    }

    fn __len__(&self) -> usize {
        self.shape.length as usize
    }

    /// Elements per block (the last block may be shorter).
    #[getter]
    fn block_len(&self) -> u64 {
        self.shape.block_len
    }

    /// The number of blocks.
    #[getter]
    fn blocks(&self) -> u64 {
        self.shape.blocks()
    }

    /// Bytes per element.
    #[getter]
    fn itemsize(&self) -> u64 {
        self.shape.dtype.size()
    }

    /// The `struct` format of one element ("d" for f64 ...), as memoryview uses it.
    #[getter]
    fn format(&self) -> &'static str {
        format_of(self.shape.dtype)
    }

    /// A writable memoryview of every element, in place (no copy). `plexus.Unsupported`
    /// on a remote region (use `read` / `write`).
    fn memoryview<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (p, n) = self.o.call(py, || "memoryview".into(), |a| {
            a.data().map(|(p, n)| (p as usize, n))
        })?;
        self.view(py, p, n, true)
    }

    /// Waits until block `block` is EMPTY, holds it for writing and returns a writable
    /// memoryview of it. End with `end_write` (or use `write_block` in a `with`).
    #[pyo3(signature = (block, timeout=None))]
    fn begin_write<'py>(&self, py: Python<'py>, block: u64, timeout: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        self.begin(py, block, true, timeout)
    }

    /// Leaves block `block` (written by this process) FULL, waking a reader.
    fn end_write(&self, py: Python<'_>, block: u64) -> PyResult<()> {
        self.o.call(py, || "end_write".into(), |a| a.end_write(block))
    }

    /// Waits until block `block` is FULL, holds it for reading and returns a read-only
    /// memoryview of it. End with `end_read`.
    #[pyo3(signature = (block, timeout=None))]
    fn begin_read<'py>(&self, py: Python<'py>, block: u64, timeout: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        self.begin(py, block, false, timeout)
    }

    /// Leaves block `block` (read by this process) EMPTY, waking a writer.
    fn end_read(&self, py: Python<'_>, block: u64) -> PyResult<()> {
        self.o.call(py, || "end_read".into(), |a| a.end_read(block))
    }

    /// Whether block `block` is FULL now (one being read counts as FULL).
    fn is_full(&self, py: Python<'_>, block: u64) -> PyResult<bool> {
        self.o.call(py, || "is_full".into(), |a| {
            a.block_state(block).map(|s| {
                matches!(s, backend::BlockState::Full | backend::BlockState::Reading)
            })
        })
    }

    /// A copy of `count` elements from `first`, as bytes (every backend).
    fn read_bytes<'py>(&self, py: Python<'py>, first: u64, count: u64) -> PyResult<Bound<'py, PyBytes>> {
        let n = count
            .checked_mul(self.shape.dtype.size())
            .filter(|&n| n <= isize::MAX as u64)
            .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("plexus: count is too large"))?;
        let mut out = vec![0u8; n as usize];
        self.o.call(py, || "read".into(), |a| a.read(first, &mut out))?;
        Ok(PyBytes::new(py, &out))
    }

    /// Copies the bytes of `data` (whole elements) to the elements from `first`.
    fn write_bytes(&self, py: Python<'_>, first: u64, data: Vec<u8>) -> PyResult<()> {
        self.o.call(py, || "write".into(), |a| a.write(first, &data))
    }

    /// Waits until block `block` is FULL, copies it out (bytes) and leaves it EMPTY.
    #[pyo3(signature = (block, timeout=None))]
    fn read_block_bytes<'py>(&self, py: Python<'py>, block: u64, timeout: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyBytes>> {
        let t = self::timeout(timeout)?;
        let (_, count) = self.shape.block_range(block).map_err(|e| self.o.fail(py, "read_block", e))?;
        let a = self.o.get(py)?;
        let size = (count * self.shape.dtype.size()) as usize;
        let got = blocking(py, t, self.o.remote, timed_out, |piece| {
            let mut out = vec![0u8; size];
            a.read_block(block, piece, &mut out).map(|_| out)
        })?
        .map_err(|e| self.o.fail(py, "read_block", e))?;
        Ok(PyBytes::new(py, &got))
    }

    /// Waits until block `block` is EMPTY, copies `data` into it and leaves it FULL.
    #[pyo3(signature = (block, data, timeout=None))]
    fn write_block_bytes(&self, py: Python<'_>, block: u64, data: Vec<u8>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let t = self::timeout(timeout)?;
        let a = self.o.get(py)?;
        blocking(py, t, self.o.remote, timed_out, |piece| a.write_block(block, piece, &data))?
            .map_err(|e| self.o.fail(py, "write_block", e))
    }

    /// Atomically reads element `index` (32- and 64-bit integer arrays).
    fn load(&self, py: Python<'_>, index: u64) -> PyResult<i128> {
        let v = self.o.call(py, || format!("load({index})"), |a| a.load(index))?;
        Ok(self.unsigned(v))
    }

    /// Atomically stores `value` (it must fit the element).
    fn store(&self, py: Python<'_>, index: u64, value: i128) -> PyResult<()> {
        let v = self.signed(py, value)?;
        self.o.call(py, || format!("store({index})"), |a| a.store(index, v))
    }

    /// Atomically adds `delta` (wrapping at the element's width); the value before.
    fn faa(&self, py: Python<'_>, index: u64, delta: i128) -> PyResult<i128> {
        let d = delta as i64; // modulo 2^64, then the element's width: wrapping add
        let v = self.o.call(py, || format!("faa({index})"), |a| a.faa(index, d))?;
        Ok(self.unsigned(v))
    }

    /// Stores `desired` if the element equals `expected`; the value before.
    fn cas(&self, py: Python<'_>, index: u64, expected: i128, desired: i128) -> PyResult<i128> {
        let (e, d) = (self.signed(py, expected)?, self.signed(py, desired)?);
        let v = self.o.call(py, || format!("cas({index})"), |a| a.cas(index, e, d))?;
        Ok(self.unsigned(v))
    }

    /// Sleeps while element `index` equals `expected`, until a `notify` finds it
    /// changed: `True`, or `False` when the timeout passed.
    #[pyo3(signature = (index, expected, timeout=None))]
    fn wait(&self, py: Python<'_>, index: u64, expected: i128, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        let t = self::timeout(timeout)?;
        let e = self.signed(py, expected)?;
        let a = self.o.get(py)?;
        match blocking(py, t, self.o.remote, timed_out, |piece| {
            a.wait_until(index, e, &Deadline::after(piece))
        })? {
            Ok(()) => Ok(true),
            Err(Error::Timeout) => Ok(false),
            Err(e) => Err(self.o.fail(py, "wait", e)),
        }
    }

    /// Wakes up to `count` waiters on element `index` (`None`: all); how many it woke.
    #[pyo3(signature = (index, count=None))]
    fn notify(&self, py: Python<'_>, index: u64, count: Option<u32>) -> PyResult<u32> {
        let c = count.unwrap_or(backend::NOTIFY_ALL);
        self.o.call(py, || format!("notify({index})"), |a| a.notify(index, c))
    }
});

impl TArray {
    /// An engine value as Python sees it: a U64 element as its unsigned value.
    fn unsigned(&self, v: i64) -> i128 {
        if self.shape.dtype == Dtype::U64 {
            v as u64 as i128
        } else {
            v as i128
        }
    }

    /// A Python int for the engine: U64 values 0 .. 2^64-1 as their bit pattern, other
    /// dtypes as i64 (the engine checks the element's range).
    fn signed(&self, py: Python<'_>, v: i128) -> PyResult<i64> {
        let ok = if self.shape.dtype == Dtype::U64 {
            u64::try_from(v).map(|u| u as i64).ok()
        } else {
            i64::try_from(v).ok()
        };
        ok.ok_or_else(|| {
            let e = Error::invalid(format!(
                "{v} does not fit a {} element",
                self.shape.dtype.name()
            ));
            self.o.fail(py, "value", e)
        })
    }
}
