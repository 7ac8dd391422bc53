//! Arrays (int index) and maps (str key): the same element operations, written once by
//! [`elements!`] for both.

use std::sync::atomic::{AtomicUsize, Ordering};

use plexus::{backend, Error};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList, PySlice, PyString};

use crate::errors::{key_not_found, out_of_range, to_py};
use crate::region::{count, quoted, Opened, Region};
use crate::values::{arg, to_python, utf8};
use crate::wait::{blocking, timed_out, timeout};

/// `read_rw` locks held (or being taken) by threads of this process through this
/// package. While there are none, a call that waits for `read_rw` readers to leave (a
/// write) can keep the GIL: only other processes' readers can hold it up, and they do
/// not need this process's GIL to let go. (Counted high, never low: a region closed
/// with locks held leaves the count up, which only costs GIL releases.)
static RW_HELD: AtomicUsize = AtomicUsize::new(0);

#[inline]
pub(crate) fn rw_held() -> bool {
    RW_HELD.load(Ordering::Relaxed) != 0
}

fn rw_release_one() {
    let _ = RW_HELD.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

/// `elements!(Type, Backend, kind, Where)`: the element methods of `Type`, whose
/// `self.place(py, obj)` turns the Python index or key into a `Where` of the engine.
macro_rules! elements {
    ($T:ident, $B:ty, $kind:literal, $W:ty, { $($extra:tt)* }) => {
        object_methods!($T, if $kind == "array" { "Array" } else { "Map" }, "Gives back this handle (idempotent): the object stays in the region; later calls through this Python object raise `plexus.BadHandle`.", {
            #[new]
            #[pyo3(signature = (region, name, size, flags, initial=None))]
            fn new(region: &Bound<'_, Region>, name: String, size: &Bound<'_, PyAny>, flags: u32, initial: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
                let size = count(size, if $kind == "array" { "length" } else { "capacity" }, 64)?;
                let initial = initial_entries(initial, $kind)?;
                let o = Opened::new(region, $kind, name, move |r, n| Self::open(r, n, size, flags, initial.as_deref()))?;
                Self::made(region.py(), o)
            }

            /// The value, whatever the tag (the tag is unchanged). Atomic: never torn.
            fn read(&self, py: Python<'_>, place: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                let w: $W = self.place(py, place)?;
                let v = self.o.call(py, || op("read", place), |x| x.read(w))?;
                to_python(py, v)
            }

            /// Stores `value`, whatever the tag (the tag is unchanged). Waits only while
            /// `read_rw` readers hold the element.
            fn write(&self, py: Python<'_>, place: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
                let w: $W = self.place(py, place)?;
                let v = arg(value)?;
                let v = v.as_ref();
                self.o.call_mut(py, || op("write", place), |x| x.write(w, v))
            }

            /// Waits until FULL, reads, leaves EMPTY (consume). `plexus.Timeout` if
            /// `timeout` seconds pass first (`None` or -1: no limit, `0`: try once).
            #[pyo3(signature = (place, timeout=None))]
            fn read_fe(&self, py: Python<'_>, place: &Bound<'_, PyAny>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
                self.blocking_read(py, "read_fe", place, timeout, |x, w, t| x.read_fe(w, t))
            }

            /// Waits until FULL, reads, leaves FULL (peek). `plexus.Timeout` if
            /// `timeout` passes first.
            #[pyo3(signature = (place, timeout=None))]
            fn read_ff(&self, py: Python<'_>, place: &Bound<'_, PyAny>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
                self.blocking_read(py, "read_ff", place, timeout, |x, w, t| x.read_ff(w, t))
            }

            /// Waits until EMPTY, writes, leaves FULL (produce). `plexus.Timeout` if
            /// `timeout` passes first (nothing written).
            #[pyo3(signature = (place, value, timeout=None))]
            fn write_ef(&self, py: Python<'_>, place: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
                let t = self::timeout(timeout)?;
                let w: $W = self.place(py, place)?;
                let v = arg(value)?;
                let v = v.as_ref();
                let x = self.o.get(py)?;
                blocking(py, t, self.o.remote, timed_out, |piece| x.write_ef(w, v, piece))?
                    .map_err(|e| self.o.fail(py, op("write_ef", place), e))
            }

            /// Writes and leaves FULL, whatever the tag was.
            fn write_xf(&self, py: Python<'_>, place: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
                let w: $W = self.place(py, place)?;
                let v = arg(value)?;
                let v = v.as_ref();
                self.o.call_mut(py, || op("write_xf", place), |x| x.write_xf(w, v))
            }

            /// Writes and leaves EMPTY, whatever the tag was.
            fn write_xe(&self, py: Python<'_>, place: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
                let w: $W = self.place(py, place)?;
                let v = arg(value)?;
                let v = v.as_ref();
                self.o.call_mut(py, || op("write_xe", place), |x| x.write_xe(w, v))
            }

            /// Sets the tag FULL (`True`) or EMPTY without touching the value.
            fn set_tag(&self, py: Python<'_>, place: &Bound<'_, PyAny>, full: &Bound<'_, PyAny>) -> PyResult<()> {
                let w: $W = self.place(py, place)?;
                let full = full.is_truthy()?;
                self.o.call_mut(py, || op("set_tag", place), |x| x.set_tag(w, full))
            }

            /// Whether the element is FULL (a snapshot).
            fn is_full(&self, py: Python<'_>, place: &Bound<'_, PyAny>) -> PyResult<bool> {
                let w: $W = self.place(py, place)?;
                self.o.call(py, || op("is_full", place), |x| x.is_full(w))
            }

            /// Waits until FULL, reads, and takes a shared read lock: until
            /// `release_rw`, calls that would change the value or tag wait.
            #[pyo3(signature = (place, timeout=None))]
            fn read_rw(&self, py: Python<'_>, place: &Bound<'_, PyAny>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
                // Counted before the call: a write on another thread must not keep the
                // GIL while this thread, holding the lock, waits for the GIL to return.
                RW_HELD.fetch_add(1, Ordering::Relaxed);
                let r = self.blocking_read(py, "read_rw", place, timeout, |x, w, t| x.read_rw(w, t));
                if r.is_err() {
                    rw_release_one();
                }
                r
            }

            /// Releases one `read_rw` lock taken through this region handle.
            fn release_rw(&self, py: Python<'_>, place: &Bound<'_, PyAny>) -> PyResult<()> {
                let w: $W = self.place(py, place)?;
                self.o.call(py, || op("release_rw", place), |x| x.release_rw(w))?;
                rw_release_one();
                Ok(())
            }

            /// Atomically adds `delta` with JavaScript `+` semantics; returns the
            /// previous value. The tag is unchanged.
            #[pyo3(signature = (place, delta=None))]
            fn faa(&self, py: Python<'_>, place: &Bound<'_, PyAny>, delta: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
                let w: $W = self.place(py, place)?;
                let d = match delta {
                    Some(d) => arg(d)?,
                    None => crate::values::Arg::Plain(plexus::ValueRef::Int(1)),
                };
                let d = d.as_ref();
                let old = self.o.call_mut(py, || op("faa", place), |x| x.faa(w, d))?;
                to_python(py, old)
            }

            /// Atomically: if the value equals `expected` in type and value, stores
            /// `desired`. Returns the previous value either way.
            fn cas(&self, py: Python<'_>, place: &Bound<'_, PyAny>, expected: &Bound<'_, PyAny>, desired: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                let w: $W = self.place(py, place)?;
                let (e, d) = (arg(expected)?, arg(desired)?);
                let (e, d) = (e.as_ref(), d.as_ref());
                let old = self.o.call_mut(py, || op("cas", place), |x| x.cas(w, e, d))?;
                to_python(py, old)
            }

            /// Atomically stores `value` and returns the previous one (tag unchanged).
            fn exchange(&self, py: Python<'_>, place: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                let w: $W = self.place(py, place)?;
                let v = arg(value)?;
                let v = v.as_ref();
                let old = self.o.call_mut(py, || op("exchange", place), |x| x.exchange(w, v))?;
                to_python(py, old)
            }

            /// Atomically applies a MongoDB-style update document (a dict such as
            /// `{"$inc": {"stats.hits": 1}}`) and returns the value after it. Tag
            /// unchanged, version +1; an UNDEFINED element counts as `{}`. All or
            /// nothing: `plexus.InvalidArgument` for a bad document,
            /// `plexus.TypeMismatch` when the value does not fit (the element untouched).
            fn patch(&self, py: Python<'_>, place: &Bound<'_, PyAny>, update: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                let w: $W = self.place(py, place)?;
                let u = arg(update)?;
                let u = u.as_ref();
                let new = self.o.call_mut(py, || op("patch", place), |x| x.patch(w, u))?;
                to_python(py, new)
            }

            /// The element's version: bumped by every change of its value or tag.
            fn version(&self, py: Python<'_>, place: &Bound<'_, PyAny>) -> PyResult<u64> {
                let w: $W = self.place(py, place)?;
                self.o.call(py, || op("version", place), |x| x.version(w))
            }

            /// Waits until the version differs from `version` and returns the new one
            /// (at once if it already differs). `plexus.Timeout` if `timeout` passes.
            #[pyo3(signature = (place, version, timeout=None))]
            fn wait_change(&self, py: Python<'_>, place: &Bound<'_, PyAny>, version: &Bound<'_, PyAny>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
                let t = self::timeout(timeout)?;
                let w: $W = self.place(py, place)?;
                let mut seen = count(version, "version", 64)?;
                let x = self.o.get(py)?;
                blocking(py, t, self.o.remote, timed_out, |piece| x.wait_change(w, &mut seen, piece))?
                    .map_err(|e| self.o.fail(py, op("wait_change", place), e))?;
                Ok(seen)
            }

            /// Waits until the version differs from `version`, then returns
            /// `(version, value)`: the value with the version it belongs to (read
            /// together). At once if it already differs (`version=0`: the current
            /// value, once there is one). `plexus.Timeout` if `timeout` passes.
            #[pyo3(signature = (place, version=None, timeout=None))]
            fn watch_once(&self, py: Python<'_>, place: &Bound<'_, PyAny>, version: Option<&Bound<'_, PyAny>>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<(u64, Py<PyAny>)> {
                let t = self::timeout(timeout)?;
                let w: $W = self.place(py, place)?;
                let mut seen = match version {
                    Some(v) => count(v, "version", 64)?,
                    None => 0,
                };
                let x = self.o.get(py)?;
                let v = blocking(py, t, self.o.remote, timed_out, |piece| x.watch(w, &mut seen, piece))?
                    .map_err(|e| self.o.fail(py, op("watch", place), e))?;
                Ok((seen, to_python(py, v)?))
            }

            $($extra)*
        });

        impl $T {
            fn blocking_read(
                &self,
                py: Python<'_>,
                name: &str,
                place: &Bound<'_, PyAny>,
                timeout: Option<&Bound<'_, PyAny>>,
                f: fn(&$B, $W, Option<std::time::Duration>) -> Result<plexus::Value, Error>,
            ) -> PyResult<Py<PyAny>> {
                let t = self::timeout(timeout)?;
                let w: $W = self.place(py, place)?;
                let x = self.o.get(py)?;
                let v = blocking(py, t, self.o.remote, timed_out, |piece| f(&x, w, piece))?
                    .map_err(|e| self.o.fail(py, op(name, place), e))?;
                to_python(py, v)
            }
        }
    };
}

/// One map-wide change as `Map._changes` gives it: (key, version, counter, removed).
type ChangeRow = (String, u64, u64, bool);

/// A map's initial data (a dict of str keys) as the engine takes it; None for none.
/// TypeError for initial data given to an array or not a dict.
fn initial_entries(
    initial: Option<&Bound<'_, PyAny>>,
    kind: &str,
) -> PyResult<Option<Vec<(String, plexus::Value)>>> {
    let Some(d) = initial.filter(|d| !d.is_none()) else {
        return Ok(None);
    };
    if kind != "map" || !d.is_instance_of::<pyo3::types::PyDict>() {
        return Err(PyTypeError::new_err(
            "plexus: initial data is a dict of str keys, for maps only",
        ));
    }
    match arg(d)? {
        crate::values::Arg::Object(bytes) => plexus::semantics::value::object_entries(&bytes)
            .map(Some)
            .map_err(|e| to_py(d.py(), e, || "initial data".into())),
        _ => Err(PyTypeError::new_err("plexus: initial data must be a dict")),
    }
}

/// `read_fe(3)`: the call as messages show it.
fn op(name: &str, place: &Bound<'_, PyAny>) -> String {
    let shown = place
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "?".into());
    format!("{name}({shown})")
}

// ---- arrays --------------------------------------------------------------------------

/// An array of full/empty elements (the compiled half of `plexus.Array`).
#[pyclass(subclass, frozen, module = "plexus._plexus")]
pub(crate) struct Array {
    o: Opened<backend::Array>,
    length: u64,
}

impl Array {
    fn open(
        r: &backend::Region,
        name: &str,
        length: u64,
        flags: u32,
        _initial: Option<&[(String, plexus::Value)]>,
    ) -> Result<backend::Array, Error> {
        r.array(name, length, flags)
    }

    fn made(py: Python<'_>, o: Opened<backend::Array>) -> PyResult<Array> {
        let length = o.call(py, || "len".into(), |a| Ok(a.len()))?;
        Ok(Array { o, length })
    }

    /// The engine index of a Python index: negative ones count from the end;
    /// `plexus.OutOfRange` (an IndexError) outside, TypeError for non-integers.
    #[inline]
    fn place(&self, py: Python<'_>, i: &Bound<'_, PyAny>) -> PyResult<u64> {
        let index = if i.is_instance_of::<PyInt>() {
            i.extract::<i64>().ok()
        } else if i.get_type().hasattr("__index__")? && !i.is_instance_of::<pyo3::types::PyFloat>()
        {
            i.call_method0("__index__")?.extract::<i64>().ok()
        } else {
            return Err(PyTypeError::new_err(format!(
                "plexus: array indices must be int, not {}",
                i.get_type().name()?
            )));
        };
        let length = self.length;
        match index {
            Some(n) if n >= 0 && (n as u64) < length => Ok(n as u64),
            Some(n) if n < 0 && n.unsigned_abs() <= length => Ok(length - n.unsigned_abs()),
            _ => Err(out_of_range(
                py,
                format!(
                    "plexus: index {} is out of range for array {} of length {length}",
                    i.str().map(|s| s.to_string()).unwrap_or_default(),
                    quoted(&self.o.name)
                ),
            )),
        }
    }
}

elements!(Array, backend::Array, "array", u64, {
    /// The number of elements (fixed at creation).
    #[getter]
    fn length(&self) -> u64 {
        self.length
    }

    fn __len__(&self) -> usize {
        self.length as usize
    }

    /// `a[i]` (the plain read; negative indices count from the end) or `a[i:j:k]` (a
    /// list of reads).
    fn __getitem__(&self, py: Python<'_>, i: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if let Ok(slice) = i.cast::<PySlice>() {
            let ind = slice.indices(self.length as isize)?;
            let list = PyList::empty(py);
            let mut at = ind.start;
            for _ in 0..ind.slicelength {
                let v = self
                    .o
                    .call(py, || format!("read({at})"), |a| a.read(at as u64))?;
                list.append(to_python(py, v)?)?;
                at += ind.step;
            }
            return Ok(list.into_any().unbind());
        }
        self.read(py, i)
    }

    /// `a[i] = value` (the plain write; the tag is unchanged).
    fn __setitem__(
        &self,
        py: Python<'_>,
        i: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if i.is_instance_of::<PySlice>() {
            return Err(PyTypeError::new_err(
                "plexus: arrays do not support slice assignment",
            ));
        }
        self.write(py, i, value)
    }
});

// ---- maps ----------------------------------------------------------------------------

/// A map of full/empty elements under string keys (the compiled half of `plexus.Map`).
#[pyclass(subclass, frozen, module = "plexus._plexus")]
pub(crate) struct Map {
    o: Opened<backend::Map>,
}

impl Map {
    fn open(
        r: &backend::Region,
        name: &str,
        capacity: u64,
        flags: u32,
        initial: Option<&[(String, plexus::Value)]>,
    ) -> Result<backend::Map, Error> {
        r.map_with(name, capacity, flags, initial)
    }

    fn made(_py: Python<'_>, o: Opened<backend::Map>) -> PyResult<Map> {
        Ok(Map { o })
    }

    /// The key as UTF-8 (borrowed from the str): TypeError for non-str,
    /// `plexus.InvalidArgument` for a NUL character (no other language could name it).
    #[inline]
    fn place<'a>(&self, py: Python<'_>, key: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
        let Ok(s) = key.cast::<PyString>() else {
            return Err(PyTypeError::new_err(format!(
                "plexus: map key must be str, not {}",
                key.get_type().name()?
            )));
        };
        let k = utf8(s)?;
        if k.as_bytes().contains(&0) {
            return Err(to_py(
                py,
                Error::invalid("the key contains a NUL character"),
                || {
                    format!(
                        "{} key {}",
                        self.o.what(),
                        key.repr().map(|r| r.to_string()).unwrap_or_default()
                    )
                },
            ));
        }
        Ok(k)
    }
}

elements!(Map, backend::Map, "map", &str, {
    /// The maximum number of keys (fixed at creation).
    #[getter]
    fn capacity(&self, py: Python<'_>) -> PyResult<u64> {
        self.o.call(py, || "capacity".into(), |m| Ok(m.capacity()))
    }

    /// Removes `key` (waits while `read_rw` readers hold it) and wakes its waiters.
    /// `plexus.KeyNotFound` if it is absent.
    fn remove(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = self.place(py, key)?;
        let object = self.o.get(py)?;
        let r = if self.o.remote || rw_held() {
            py.detach(|| object.remove(k))
        } else {
            object.remove(k)
        };
        match r {
            Ok(()) => Ok(()),
            Err(Error::NotFound(_)) => Err(key_not_found(py, &self.o.name, k)),
            Err(e) => Err(self.o.fail(py, op("remove", key), e)),
        }
    }

    /// `m[key]`: the plain read; `plexus.KeyNotFound` (a KeyError) for an absent key.
    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let k = self.place(py, key)?;
        let v = self.o.call(py, || op("read", key), |m| m.read(k))?;
        if matches!(v, plexus::Value::Undefined)
            && self.o.call(py, || op("version", key), |m| m.version(k))? == 0
        {
            return Err(key_not_found(py, &self.o.name, k));
        }
        to_python(py, v)
    }

    /// `m[key] = value`: the plain write (inserts the key).
    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.write(py, key, value)
    }

    /// `del m[key]`: `remove`.
    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        self.remove(py, key)
    }

    /// `key in m`: whether the key is present (a snapshot).
    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        if !key.is_instance_of::<PyString>() {
            return Ok(false);
        }
        let k = self.place(py, key)?;
        Ok(self.o.call(py, || op("version", key), |m| m.version(k))? != 0)
    }

    /// The number of keys present (a snapshot).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.o.call(py, || "len".into(), |m| m.len())? as usize)
    }

    /// The map's change count: it moves by one with every change of any key (insert,
    /// write, tag change, removal). `plexus.Unsupported` for a map made by an older
    /// version.
    fn change_count(&self, py: Python<'_>) -> PyResult<u64> {
        self.o
            .call(py, || "change_count".into(), |m| m.change_count())
    }

    /// Waits until the change count differs from `counter` and returns it (at once if it
    /// already differs). `plexus.Timeout` if `timeout` passes.
    #[pyo3(signature = (counter, timeout=None))]
    fn wait_changes(
        &self,
        py: Python<'_>,
        counter: &Bound<'_, PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let t = self::timeout(timeout)?;
        let mut seen = count(counter, "counter", 64)?;
        let x = self.o.get(py)?;
        blocking(py, t, self.o.remote, timed_out, |piece| {
            x.wait_changes(&mut seen, piece)
        })?
        .map_err(|e| self.o.fail(py, "wait_changes", e))?;
        Ok(seen)
    }

    /// Up to `max` changes after the count `since` from `cursor` (0 starts):
    /// `([(key, version, counter, removed), ...], cursor)`; an empty list at the end.
    fn _changes(
        &self,
        py: Python<'_>,
        since: u64,
        cursor: u64,
        max: usize,
    ) -> PyResult<(Vec<ChangeRow>, u64)> {
        let mut c = cursor;
        let got = self.o.call(
            py,
            || "changes_since".into(),
            |m| m.changes(since, &mut c, max),
        )?;
        Ok((
            got.into_iter()
                .map(|ch| (ch.key, ch.version, ch.counter, ch.removed))
                .collect(),
            c,
        ))
    }

    /// The next key at or after `cursor` (0 starts) and the cursor after it, or None
    /// at the end (for `__iter__`).
    fn _next_key(&self, py: Python<'_>, cursor: u64) -> PyResult<Option<(String, u64)>> {
        let mut c = cursor;
        let key = self
            .o
            .call(py, || "next_key".into(), |m| m.next_key(&mut c))?;
        Ok(key.map(|k| (k, c)))
    }
});
