//! Buses (broadcast) and their subscriptions.

use std::sync::Arc;

use parking_lot::Mutex;
use plexus::backend::{self, Start};
use plexus::Error;
use plexus::ValueRef;
use pyo3::exceptions::{PyStopIteration, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::errors::{closed, registry, to_py};
use crate::handle::{Close, Slot};
use crate::region::{count, Opened, Region};
use crate::values::{arg, to_python, Arg};
use crate::wait::{blocking, timed_out, timeout};

/// A bus (the compiled half of `plexus.Bus`).
#[pyclass(subclass, frozen, module = "plexus._plexus")]
pub(crate) struct Bus {
    o: Opened<backend::Bus>,
}

object_methods!(Bus, "Bus", "Gives back this handle (idempotent): the bus is untouched and subscriptions made through it stay valid.", {
    #[new]
    fn new(
        region: &Bound<'_, Region>,
        name: String,
        capacity: &Bound<'_, PyAny>,
        flags: u32,
    ) -> PyResult<Bus> {
        let capacity = count(capacity, "capacity", 64)?;
        let o = Opened::new(region, "bus", name, move |r, n| r.bus(n, capacity, flags))?;
        Ok(Bus { o })
    }

    /// Publishes a copy of `value` to every subscriber and returns its sequence number.
    /// Never waits for subscribers. `plexus.Closed` if the bus is shut down.
    fn publish(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<u64> {
        let v = arg(value)?;
        let v = v.as_ref();
        self.o.call(py, || "publish".into(), |b| b.publish(v))
    }

    /// Publishes copies of `values` (any iterable) in order as consecutive messages with
    /// one call (no other publisher's message comes between them; sleeping subscribers
    /// are woken once) and returns the first one's sequence number (0 for an empty
    /// batch). An invalid value anywhere publishes nothing. `plexus.Closed` if the bus is
    /// shut down.
    fn publish_many(&self, py: Python<'_>, values: &Bound<'_, PyAny>) -> PyResult<u64> {
        if values.is_instance_of::<PyString>() || values.is_instance_of::<PyBytes>() {
            return Err(PyTypeError::new_err(
                "plexus: publish_many takes an iterable of values (a str or bytes is one value: use publish)",
            ));
        }
        let items: Vec<Bound<'_, PyAny>> = values.try_iter()?.collect::<PyResult<_>>()?;
        let args: Vec<Arg<'_>> = items.iter().map(|o| arg(o)).collect::<PyResult<_>>()?;
        let refs: Vec<ValueRef<'_>> = args.iter().map(Arg::as_ref).collect();
        self.o
            .call(py, || "publish_many".into(), |b| b.publish_many(&refs))
    }

    /// Publishes a copy of `value` with the topic `topic` (a named event: at most 112
    /// bytes of UTF-8, no NUL; "" is a plain publish) and returns its sequence number, in
    /// the bus's one order. `plexus.Closed` if the bus is shut down.
    fn emit(&self, py: Python<'_>, topic: &str, value: &Bound<'_, PyAny>) -> PyResult<u64> {
        let v = arg(value)?;
        let v = v.as_ref();
        self.o
            .call(py, || format!("emit '{topic}'"), |b| b.emit(topic, v))
    }

    /// Ends the bus for every process; wakes every waiting subscriber. To start it
    /// again: `region.remove_object(name)`, then open it again with its capacity (every
    /// handle and subscription of the old one, in every process, then raises
    /// `plexus.Removed`).
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        self.o.call(py, || "shutdown".into(), |b| b.shutdown())
    }

    /// Whether `shutdown()` was called (by any process).
    #[getter]
    fn is_shutdown(&self, py: Python<'_>) -> PyResult<bool> {
        self.o
            .call(py, || "is_shutdown".into(), |b| b.is_shutdown())
    }

    /// How many messages the bus retains (fixed at creation).
    #[getter]
    fn capacity(&self, py: Python<'_>) -> PyResult<u64> {
        self.o.call(py, || "capacity".into(), |b| Ok(b.capacity()))
    }

    /// The sequence number the next message will get (1 on a new bus; a snapshot).
    #[getter]
    fn next_seq(&self, py: Python<'_>) -> PyResult<u64> {
        self.o.call(py, || "next_seq".into(), |b| b.next_seq())
    }

});

/// A subscriber's cursor on a bus (the compiled half of `plexus.Subscription`).
#[pyclass(subclass, frozen, module = "plexus._plexus")]
pub(crate) struct Subscription {
    slot: Arc<Slot<Mutex<backend::Subscription>>>,
    bus: Py<Bus>,
    bus_name: String,
    remote: bool,
}

impl Subscription {
    fn what(&self) -> String {
        format!("subscription to bus '{}'", self.bus_name)
    }
}

#[pymethods]
impl Subscription {
    #[new]
    #[pyo3(signature = (bus, oldest=false, prefix=String::new()))]
    fn new(bus: &Bound<'_, Bus>, oldest: bool, prefix: String) -> PyResult<Subscription> {
        let py = bus.py();
        let b = bus.get();
        let from = if oldest { Start::Oldest } else { Start::Now };
        let what = || format!("bus '{}' subscribe", b.o.name);
        let engine_bus = b.o.get(py)?;
        let region = b.o.region.bind(py).get();
        let slot = region.open(py, what, move |_| {
            engine_bus.subscribe_topic(from, &prefix).map(Mutex::new)
        })?;
        Ok(Subscription {
            slot,
            bus: bus.clone().unbind(),
            bus_name: b.o.name.clone(),
            remote: b.o.remote,
        })
    }

    /// The bus this subscription reads.
    #[getter]
    fn bus(&self, py: Python<'_>) -> Py<Bus> {
        self.bus.clone_ref(py)
    }

    /// The next message `(seq, value)`, waiting while there is none. `plexus.Timeout`
    /// if `timeout` passes first; `plexus.Closed` once the bus is shut down and
    /// everything published before was received.
    #[pyo3(signature = (timeout=None))]
    fn next(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let t = self::timeout(timeout)?;
        let sub = self.slot.get().ok_or_else(|| closed(py, || self.what()))?;
        let (value, seq) = blocking(py, t, self.remote, timed_out, |piece| {
            sub.lock().next(piece)
        })?
        .map_err(|e| to_py(py, e, || format!("{} next", self.what())))?;
        let value = to_python(py, value)?;
        Ok(registry(py)?.message.bind(py).call1((seq, value))?.unbind())
    }

    /// The next message with its topic, `(topic, value, seq)` ("" for a plain message),
    /// waiting as `next`.
    #[pyo3(signature = (timeout=None))]
    fn _next_event(
        &self,
        py: Python<'_>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(String, Py<PyAny>, u64)> {
        let t = self::timeout(timeout)?;
        let sub = self.slot.get().ok_or_else(|| closed(py, || self.what()))?;
        let (topic, value, seq) = blocking(py, t, self.remote, timed_out, |piece| {
            sub.lock().next_event(piece)
        })?
        .map_err(|e| to_py(py, e, || format!("{} next_event", self.what())))?;
        Ok((topic, to_python(py, value)?, seq))
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next message; the iteration ends once the bus is shut down and drained.
    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.next(py, None) {
            Err(e)
                if e.is_instance_of::<pyo3::exceptions::PyException>(py) && is_closed(py, &e) =>
            {
                Err(PyStopIteration::new_err(()))
            }
            r => r,
        }
    }

    /// Gives back this subscription's handle (idempotent); later calls raise
    /// `plexus.BadHandle`. The bus is untouched.
    fn close(&self) {
        Close::close(&*self.slot);
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) {
        self.close();
    }

    fn __repr__(&self) -> String {
        format!("<plexus.Subscription to bus '{}'>", self.bus_name)
    }
}

/// Whether `e` is `plexus.Closed`.
fn is_closed(py: Python<'_>, e: &PyErr) -> bool {
    e.value(py)
        .getattr("status")
        .and_then(|s| s.extract::<i32>())
        .is_ok_and(|s| s == crate::errors::status_of(&Error::Closed))
}
