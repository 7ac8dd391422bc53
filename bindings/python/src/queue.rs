//! Queues: bounded FIFO queues (or LIFO stacks) with blocking push and pop.

use std::time::Duration;

use plexus::{backend, Deadline, Error, ValueRef};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use crate::region::{count, Opened, Region};
use crate::values::{arg, to_python, Arg};
use crate::wait::{blocking, interruptibly, timed_out, timeout};

/// A queue (the compiled half of `plexus.Queue`).
#[pyclass(subclass, frozen, module = "plexus._plexus")]
pub(crate) struct Queue {
    o: Opened<backend::Queue>,
}

object_methods!(Queue, "Queue", "Gives back this handle (idempotent): the queue and its values stay, for other handles and processes (ending the queue is `shutdown()`); later calls through this object raise `plexus.BadHandle`.", {
    #[new]
    fn new(
        region: &Bound<'_, Region>,
        name: String,
        capacity: &Bound<'_, PyAny>,
        flags: u32,
    ) -> PyResult<Queue> {
        let capacity = count(capacity, "capacity", 64)?;
        let o = Opened::new(region, "queue", name, move |r, n| {
            r.queue(n, capacity, flags)
        })?;
        Ok(Queue { o })
    }

    /// Appends a copy of `value`, waiting while the queue is full. `plexus.Timeout`
    /// (full until the timeout) or `plexus.Closed` (shut down): nothing was stored.
    #[pyo3(signature = (value, timeout=None))]
    fn push(
        &self,
        py: Python<'_>,
        value: &Bound<'_, PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let t = self::timeout(timeout)?;
        let v = arg(value)?;
        let v = v.as_ref();
        if !self.o.remote {
            // The common case without a reference count round trip: room at once.
            let first = self.o.call(
                py,
                || "push".into(),
                |q| Ok(q.push(v, Some(Default::default()))),
            )?;
            match first {
                Err(Error::Timeout) if t != Some(Default::default()) => {}
                r => return r.map_err(|e| self.o.fail(py, "push", e)),
            }
        }
        let q = self.o.get(py)?;
        blocking(py, t, self.o.remote, timed_out, |piece| q.push(v, piece))?
            .map_err(|e| self.o.fail(py, "push", e))
    }

    /// Removes and returns the oldest value (the newest for a LIFO), waiting while the
    /// queue is empty. `plexus.Timeout` (empty until the timeout) or `plexus.Closed`
    /// (shut down and empty): nothing was removed.
    #[pyo3(signature = (timeout=None))]
    fn pop(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let t = self::timeout(timeout)?;
        if !self.o.remote {
            let first =
                self.o
                    .call(py, || "pop".into(), |q| Ok(q.pop(Some(Default::default()))))?;
            match first {
                Err(Error::Timeout) if t != Some(Default::default()) => {}
                r => return to_python(py, r.map_err(|e| self.o.fail(py, "pop", e))?),
            }
        }
        let q = self.o.get(py)?;
        let v = blocking(py, t, self.o.remote, timed_out, |piece| q.pop(piece))?
            .map_err(|e| self.o.fail(py, "pop", e))?;
        to_python(py, v)
    }

    /// Appends copies of `values` (any iterable) in order with one call: the values that
    /// fit go in at once (one wake-up of the consumers), then it waits for room for the
    /// rest. In a FIFO queue the values of one batch stay together. When not all went
    /// in, raises `plexus.Timeout` (full until the timeout), `plexus.Closed` (shut down)
    /// or another error, with the number that went in (always the first ones) as the
    /// exception's `pushed` attribute. `_cancelled`: a callable checked while waiting
    /// (the asyncio twin's cancellation).
    #[pyo3(signature = (values, timeout=None, *, _cancelled=None))]
    fn push_many(
        &self,
        py: Python<'_>,
        values: &Bound<'_, PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
        _cancelled: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let t = self::timeout(timeout)?;
        if values.is_instance_of::<PyString>() || values.is_instance_of::<PyBytes>() {
            return Err(PyTypeError::new_err(
                "plexus: push_many takes an iterable of values (a str or bytes is one value: use push)",
            ));
        }
        let items: Vec<Bound<'_, PyAny>> = values.try_iter()?.collect::<PyResult<_>>()?;
        let args: Vec<Arg<'_>> = items.iter().map(|o| arg(o)).collect::<PyResult<_>>()?;
        let refs: Vec<ValueRef<'_>> = args.iter().map(Arg::as_ref).collect();
        let q = self.o.get(py)?;
        // A Python exception raised while the batch waits (Ctrl-C, or cancellation) stops
        // the batch.
        let ((pushed, result), stopped) = if t == Some(Duration::ZERO) && !self.o.remote {
            (q.push_many(&refs, t), None) // never waits: keeps the GIL
        } else {
            interruptibly(py, _cancelled, "push_many", |i| {
                q.push_many_until(&refs, &Deadline::after(t), Some(i))
            })
        };
        let err = match (stopped, result) {
            (Some(e), _) => e,
            (None, Ok(())) => return Ok(()),
            (None, Err(e)) => self.o.fail(py, "push_many", e),
        };
        let _ = err.value(py).setattr("pushed", pushed);
        Err(err)
    }

    /// Removes up to `max` values with one call and returns them as a list: waits while
    /// the queue is empty, then takes the values that are there, up to `max`, without
    /// waiting for more (the oldest first; the newest first from a LIFO). `plexus.Timeout`
    /// (empty until the timeout) or `plexus.Closed` (shut down and empty): nothing was
    /// removed. `max` must be at least 1.
    #[pyo3(signature = (max, timeout=None))]
    fn pop_many(
        &self,
        py: Python<'_>,
        max: &Bound<'_, PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyList>> {
        let max = count(max, "max", 48)? as usize;
        let t = self::timeout(timeout)?;
        let got = if !self.o.remote {
            let first = self.o.call(
                py,
                || "pop_many".into(),
                |q| Ok(q.pop_many(max, Some(Default::default()))),
            )?;
            match first {
                Err(Error::Timeout) if t != Some(Default::default()) => None,
                r => Some(r.map_err(|e| self.o.fail(py, "pop_many", e))?),
            }
        } else {
            None
        };
        let values = match got {
            Some(v) => v,
            None => {
                let q = self.o.get(py)?;
                blocking(py, t, self.o.remote, timed_out, |piece| q.pop_many(max, piece))?
                    .map_err(|e| self.o.fail(py, "pop_many", e))?
            }
        };
        let list = PyList::empty(py);
        for v in values {
            list.append(to_python(py, v)?)?;
        }
        Ok(list.unbind())
    }

    /// Ends the queue for every process: pushes then raise `plexus.Closed`, pops return
    /// what is left and then raise `plexus.Closed`. The handle stays valid. To start it
    /// again: `region.remove_object(name)`, then open it again with its capacity (every
    /// handle of the old one, in every process, then raises `plexus.Removed`).
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        self.o.call(py, || "shutdown".into(), |q| q.shutdown())
    }

    /// Whether `shutdown()` was called (by any process).
    #[getter]
    fn is_shutdown(&self, py: Python<'_>) -> PyResult<bool> {
        self.o
            .call(py, || "is_shutdown".into(), |q| q.is_shutdown())
    }

    /// The number of values in the queue (a snapshot).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.o.call(py, || "len".into(), |q| q.len())? as usize)
    }

    /// The maximum number of values (fixed at creation).
    #[getter]
    fn capacity(&self, py: Python<'_>) -> PyResult<u64> {
        self.o.call(py, || "capacity".into(), |q| Ok(q.capacity()))
    }

});
