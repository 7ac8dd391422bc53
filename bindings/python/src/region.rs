//! Regions, and what every object opened through one shares ([`Opened`]).

use std::sync::Arc;

use plexus::backend::{self, OpenMode, OpenOptions};
use plexus::Error;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyInt;

use crate::errors::{closed, to_py};
use crate::handle::{Children, Close, Slot};
use crate::wait::{blocking, timeout};

/// `'name'`, as Python shows a str in messages.
pub(crate) fn quoted(s: &str) -> String {
    format!("'{s}'")
}

/// A size argument (length, capacity, parties, permits, version) as an unsigned integer
/// of `bits` bits: TypeError for non-integers, ValueError when negative or too large.
pub(crate) fn count(n: &Bound<'_, PyAny>, what: &str, bits: u32) -> PyResult<u64> {
    let index = if n.is_instance_of::<PyInt>() {
        n.clone()
    } else if n.get_type().hasattr("__index__")? && !n.is_instance_of::<pyo3::types::PyFloat>() {
        n.call_method0("__index__")?
    } else {
        return Err(PyTypeError::new_err(format!(
            "plexus: {what} must be an int, not {}",
            n.get_type().name()?
        )));
    };
    match index.extract::<u64>() {
        Ok(v) if bits >= 64 || v < (1u64 << bits) => Ok(v),
        _ => Err(PyValueError::new_err(format!(
            "plexus: {what} {} is out of range (0 .. 2**{bits}-1)",
            index.str()?
        ))),
    }
}

/// The fields of `plexus.RegionInfo`, in order.
type InfoFields = (u64, u64, u64, u64, u32, u32, u32, u64, u64);

/// A region handle.
#[pyclass(subclass, frozen, module = "plexus._plexus")]
pub(crate) struct Region {
    slot: Arc<Slot<backend::Region>>,
    children: Children,
    name: String,
    pub remote: bool,
}

impl Region {
    /// `region 'name'` as messages show it (passwords hidden).
    pub fn what(&self) -> String {
        format!("region {}", quoted(&plexus::redis::url::redact(&self.name)))
    }

    /// Opens an object through this region and registers it to be closed with it.
    pub fn open<T: Send + Sync + 'static>(
        &self,
        py: Python<'_>,
        what: impl Fn() -> String,
        open: impl FnOnce(&backend::Region) -> Result<T, Error> + Send,
    ) -> PyResult<Arc<Slot<T>>> {
        let region = self.slot.get().ok_or_else(|| closed(py, || self.what()))?;
        let object = if self.remote {
            py.detach(|| open(&region))
        } else {
            open(&region)
        }
        .map_err(|e| to_py(py, e, &what))?;
        let slot = Slot::new(object);
        let weak: std::sync::Weak<dyn Close> = Arc::downgrade(&slot) as _;
        self.children.add(weak);
        Ok(slot)
    }
}

fn mode_of(mode: u32) -> PyResult<OpenMode> {
    Ok(match mode {
        0 => OpenMode::OpenOrCreate,
        1 => OpenMode::Create,
        2 => OpenMode::Open,
        3 => OpenMode::Recreate,
        other => {
            return Err(PyValueError::new_err(format!(
                "plexus: unknown open mode {other}"
            )))
        }
    })
}

#[pymethods]
impl Region {
    /// Opens (or creates) the region `name`; `mode` is the integer of `plexus.OpenMode`,
    /// `wait` a timeout (`None`: without limit).
    #[new]
    fn new(
        py: Python<'_>,
        name: String,
        mode: u32,
        size: &Bound<'_, PyAny>,
        permissions: &Bound<'_, PyAny>,
        wait: &Bound<'_, PyAny>,
    ) -> PyResult<Region> {
        let mode = mode_of(mode)?;
        let size = count(size, "size", 64)?;
        let permissions = count(permissions, "permissions", 32)? as u32;
        // `wait` applies to mode "open" only, but a bad one is an error whatever the mode.
        let wait = timeout(Some(wait))?;
        let remote = backend::is_remote(&name);
        let what = || format!("region {}", quoted(&plexus::redis::url::redact(&name)));
        let open = |piece| {
            let opts = OpenOptions {
                mode,
                size,
                permissions,
                wait: piece,
            };
            backend::Region::open(&name, &opts)
        };
        let opened = if mode == OpenMode::Open {
            blocking(py, wait, remote, |e| matches!(e, Error::NotFound(_)), open)?
        } else if remote {
            py.detach(|| open(Some(std::time::Duration::ZERO)))
        } else {
            open(Some(std::time::Duration::ZERO))
        };
        let region = opened.map_err(|e| to_py(py, e, what))?;
        Ok(Region {
            slot: Slot::new(region),
            children: Children::default(),
            name,
            remote,
        })
    }

    /// The name (or path) the region was opened with.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        !self.slot.is_open()
    }

    /// Closes this handle and every object opened through it (idempotent). The region
    /// stays (see `remove`); held `read_rw` locks are released; a mutex still held is
    /// taken over by the next locker with `owner_died`.
    fn close(&self) {
        self.children.close_all();
        self.slot.close();
    }

    /// `(size, heap_size, heap_used, heap_free, object_count, attached_processes,
    /// format_version, region_id, created_unix_ns)`.
    fn _info(&self, py: Python<'_>) -> PyResult<InfoFields> {
        let region = self.slot.get().ok_or_else(|| closed(py, || self.what()))?;
        let i = if self.remote {
            py.detach(|| region.info())
        } else {
            region.info()
        }
        .map_err(|e| to_py(py, e, || format!("{} info", self.what())))?;
        Ok((
            i.size,
            i.heap_size,
            i.heap_used,
            i.heap_free,
            i.object_count,
            i.attached_processes,
            i.format_version,
            i.region_id,
            i.created_unix_ns,
        ))
    }

    /// The next object after `cursor` (0 starts): `(cursor, name, kind, shape)`, or
    /// `None` at the end (see `plexus_region_next_object`).
    fn _next_object(
        &self,
        py: Python<'_>,
        cursor: u64,
    ) -> PyResult<Option<(u64, String, &'static str, u64)>> {
        let region = self.slot.get().ok_or_else(|| closed(py, || self.what()))?;
        let mut at = cursor;
        let next = if self.remote {
            py.detach(|| region.next_object(&mut at))
        } else {
            region.next_object(&mut at)
        }
        .map_err(|e| to_py(py, e, || format!("{} objects", self.what())))?;
        Ok(next.map(|o| (at, o.name, o.kind, o.shape)))
    }

    /// Makes everything written so far durable (msync + fsync; for a remote region:
    /// waits until the server says the writes are durable where it can).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let region = self.slot.get().ok_or_else(|| closed(py, || self.what()))?;
        py.detach(|| region.flush())
            .map_err(|e| to_py(py, e, || format!("{} flush", self.what())))
    }

    /// Waits until an object called `name` (of any kind) exists. `plexus.Timeout` if
    /// `timeout` passes first.
    #[pyo3(signature = (name, timeout=None))]
    fn wait_object(
        &self,
        py: Python<'_>,
        name: &str,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let t = self::timeout(timeout)?;
        let region = self.slot.get().ok_or_else(|| closed(py, || self.what()))?;
        blocking(py, t, self.remote, crate::wait::timed_out, |piece| {
            region.wait_object(name, piece)
        })?
        .map_err(|e| {
            to_py(py, e, || {
                format!("{} wait_object({})", self.what(), quoted(name))
            })
        })
    }

    /// Removes the object `name` of this region for every process: `True` if it was
    /// removed, `False` if no object has that name and `missing_ok` (see
    /// `plexus_region_remove_object`).
    fn _remove_object(&self, py: Python<'_>, name: &str, missing_ok: bool) -> PyResult<bool> {
        let region = self.slot.get().ok_or_else(|| closed(py, || self.what()))?;
        match py.detach(|| region.remove_object(name)) {
            Ok(()) => Ok(true),
            Err(Error::NotFound(_)) if missing_ok => Ok(false),
            Err(e) => Err(to_py(py, e, || {
                format!("{} remove_object({})", self.what(), quoted(name))
            })),
        }
    }

    /// Removes the region `name`: `True` if it was removed, `False` if it did not exist
    /// and `missing_ok`.
    #[staticmethod]
    fn _remove(py: Python<'_>, name: &str, missing_ok: bool) -> PyResult<bool> {
        match py.detach(|| backend::Region::remove(name)) {
            Ok(()) => Ok(true),
            Err(Error::NotFound(_)) if missing_ok => Ok(false),
            Err(e) => Err(to_py(py, e, || {
                format!(
                    "region {} remove",
                    quoted(&plexus::redis::url::redact(name))
                )
            })),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<plexus.Region {}{}>",
            quoted(&plexus::redis::url::redact(&self.name)),
            if self.slot.is_open() { "" } else { " (closed)" }
        )
    }
}

/// Checks the region `name` (and repairs it with `repair`): `(verdict, live_processes,
/// dead_processes, dead_locks, leaked_blocks, leaked_bytes, stale_entries, problems,
/// repairs, repair_skipped, heap_used, text)`.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub(crate) fn check(
    py: Python<'_>,
    name: &str,
    repair: bool,
) -> PyResult<(
    &'static str,
    u32,
    u32,
    u32,
    u64,
    u64,
    u32,
    u32,
    u32,
    bool,
    u64,
    String,
)> {
    let r = py
        .detach(|| backend::check(name, &backend::CheckOptions { repair }))
        .map_err(|e| {
            to_py(py, e, || {
                format!("region {} check", quoted(&plexus::redis::url::redact(name)))
            })
        })?;
    let verdict = match r.verdict() {
        backend::Verdict::Consistent => "consistent",
        backend::Verdict::Reclaimable => "reclaimable",
        backend::Verdict::Corrupt => "corrupt",
    };
    Ok((
        verdict,
        r.live_processes,
        r.dead_processes().count() as u32,
        r.locks.iter().filter(|l| !l.alive).count() as u32,
        r.leaks.len() as u64,
        r.leaked_bytes(),
        r.stale.len() as u32,
        r.problems.len() as u32,
        r.repaired.len() as u32,
        r.repair_skipped.is_some(),
        r.heap_used,
        r.to_string(),
    ))
}

/// What every object opened through a region keeps: its engine object, its name, the
/// region object (kept alive while the object is in use) and whether it is remote.
pub(crate) struct Opened<T> {
    pub slot: Arc<Slot<T>>,
    pub region: Py<Region>,
    pub name: String,
    pub remote: bool,
    pub kind: &'static str,
}

impl<T: Send + Sync + 'static> Opened<T> {
    /// Opens `kind` `name` through `region` with `open`.
    pub fn new(
        region: &Bound<'_, Region>,
        kind: &'static str,
        name: String,
        open: impl FnOnce(&backend::Region, &str) -> Result<T, Error> + Send,
    ) -> PyResult<Opened<T>> {
        let py = region.py();
        let r = region.get();
        let slot = r.open(
            py,
            || format!("{kind} {} of {}", quoted(&name), r.what()),
            |reg| open(reg, &name),
        )?;
        Ok(Opened {
            slot,
            region: region.clone().unbind(),
            remote: r.remote,
            name,
            kind,
        })
    }

    /// `array 'cells'`: what messages call the object.
    pub fn what(&self) -> String {
        format!("{} {}", self.kind, quoted(&self.name))
    }

    /// Runs a call that keeps the GIL (or, on a remote region, releases it).
    #[inline]
    pub fn call<R: Send>(
        &self,
        py: Python<'_>,
        op: impl FnOnce() -> String,
        f: impl FnOnce(&T) -> Result<R, Error> + Send,
    ) -> PyResult<R> {
        let result = if self.remote {
            let object = self.slot.get().ok_or_else(|| closed(py, || self.what()))?;
            py.detach(|| f(&object))
        } else {
            self.slot
                .with(f)
                .ok_or_else(|| closed(py, || self.what()))?
        };
        result.map_err(|e| to_py(py, e, || format!("{} {}", self.what(), op())))
    }

    /// Runs a call that changes an element: it waits while `read_rw` readers hold the
    /// element, so it keeps the GIL only while no thread of this process holds (or is
    /// taking) a `read_rw` lock, which could need the GIL to release it.
    #[inline]
    pub fn call_mut<R: Send>(
        &self,
        py: Python<'_>,
        op: impl FnOnce() -> String,
        f: impl FnOnce(&T) -> Result<R, Error> + Send,
    ) -> PyResult<R> {
        let result = if self.remote || crate::elements::rw_held() {
            let object = self.slot.get().ok_or_else(|| closed(py, || self.what()))?;
            py.detach(|| f(&object))
        } else {
            self.slot
                .with(f)
                .ok_or_else(|| closed(py, || self.what()))?
        };
        result.map_err(|e| to_py(py, e, || format!("{} {}", self.what(), op())))
    }

    /// The engine object for a call that releases the GIL.
    pub fn get(&self, py: Python<'_>) -> PyResult<Arc<T>> {
        self.slot.get().ok_or_else(|| closed(py, || self.what()))
    }

    /// The error of a failed call `op`.
    pub fn fail(&self, py: Python<'_>, op: impl std::fmt::Display, e: Error) -> PyErr {
        to_py(py, e, || format!("{} {op}", self.what()))
    }

    pub fn repr(&self, py: Python<'_>, class: &str) -> String {
        let region = self.region.get();
        let _ = py;
        format!(
            "<plexus.{class} {} of {}{}>",
            quoted(&self.name),
            quoted(&plexus::redis::url::redact(&region.name)),
            if self.slot.is_open() {
                ""
            } else {
                " (handle closed)"
            }
        )
    }
}
