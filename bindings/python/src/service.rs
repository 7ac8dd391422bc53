//! Services: request/response between processes (the compiled half of
//! `plexus.Service`; the request objects, `serve` and the asyncio twins are in
//! `plexus/_service.py`).
//!
//! `call` cannot wait in slices as the other blocking calls do: a call that ends
//! withdraws its request (a server's reply to it is then discarded), so slice after
//! slice would withdraw and place it again, and a slow handler would never be heard.
//! It makes one engine call (`call_until`) with the GIL released, whose [`Interrupt`]
//! re-takes the GIL every [`SLICE`] to run the signal handlers (and the asyncio twin's
//! cancellation check): Ctrl-C stops the wait and withdraws the request, once.
//! `next` takes nothing until it returns a request, so it waits in slices as `pop` does.

use plexus::{backend, Deadline, Error};
use pyo3::prelude::*;

use crate::errors::{make, status_of};
use crate::region::{count, Opened, Region};
use crate::values::{arg, to_python};
use crate::wait::{blocking, interruptibly, timed_out, timeout};

/// A service (the compiled half of `plexus.Service`).
#[pyclass(subclass, frozen, module = "plexus._plexus")]
pub(crate) struct Service {
    o: Opened<backend::Service>,
}

object_methods!(Service, "Service", "Gives back this handle (idempotent): the service and its pending requests stay, for other handles and processes; requests this handle took and did not answer stay with this process until it answers them or exits (their callers then get `plexus.OwnerDead`); later calls through this object raise `plexus.BadHandle`.", {
    #[new]
    fn new(
        region: &Bound<'_, Region>,
        name: String,
        capacity: &Bound<'_, PyAny>,
        flags: u32,
    ) -> PyResult<Service> {
        let capacity = count(capacity, "capacity", 64)?;
        let o = Opened::new(region, "service", name, move |r, n| {
            r.service(n, capacity, flags)
        })?;
        Ok(Service { o })
    }

    /// Sends a copy of `request` and waits for the reply (one timeout covers waiting
    /// for room and for the reply). Returns the reply; `plexus.ServiceError` (the
    /// handler failed; its message is the exception's `message`), `plexus.OwnerDead`
    /// (the server that took the request died before replying), `plexus.Timeout` (no
    /// reply in time: the request is withdrawn, a later reply discarded). Ctrl-C (or
    /// `_cancelled()` returning true, checked every `plexus.SLICE`) withdraws the
    /// request too.
    #[pyo3(signature = (request, timeout=None, *, _cancelled=None))]
    fn call(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
        _cancelled: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let t = self::timeout(timeout)?;
        let v = arg(request)?;
        let v = v.as_ref();
        let s = self.o.get(py)?;
        // Always without the GIL: the server may be a thread of this process. Ctrl-C (or
        // the cancellation) stops the wait, which withdraws the request, and wins over a
        // reply that came meanwhile (as a KeyboardInterrupt raised just after any call
        // returned would).
        let (result, stopped) = interruptibly(py, _cancelled, "call", |i| {
            s.call_until(v, &Deadline::after(t), Some(i))
        });
        if let Some(e) = stopped {
            return Err(e);
        }
        match result {
            Ok(v) => to_python(py, v),
            // The engine's message for OWNER_DEAD speaks of locks.
            Err(e @ Error::OwnerDead) => Err(make(
                py,
                status_of(&e),
                format!("{} call", self.o.what()),
                "the server that took the request died before replying (the request is \
                 gone: call again to retry it)"
                    .into(),
            )),
            Err(e) => Err(self.o.fail(py, "call", e)),
        }
    }

    /// Takes the oldest pending request, waiting while there is none: `(id, value)`.
    /// `plexus.Timeout` when none came in time (nothing was taken).
    #[pyo3(signature = (timeout=None))]
    fn next(
        &self,
        py: Python<'_>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(u64, Py<PyAny>)> {
        let t = self::timeout(timeout)?;
        let s = self.o.get(py)?;
        let (id, v) = blocking(py, t, self.o.remote, timed_out, |piece| s.next(piece))?
            .map_err(|e| self.o.fail(py, "next", e))?;
        Ok((id, to_python(py, v)?))
    }

    /// Answers request `id` (taken through this region handle) with a copy of
    /// `response`. A request already answered, taken by another handle, or not a
    /// request id: `plexus.InvalidArgument`. A caller that gave up: the reply is
    /// discarded (not an error).
    fn reply(&self, py: Python<'_>, id: u64, response: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = arg(response)?;
        let v = v.as_ref();
        self.o
            .call(py, || format!("reply({id:#x})"), |s| s.reply(id, v))
    }

    /// Answers request `id` with an error: its caller's `call` raises
    /// `plexus.ServiceError` with `message`. As `reply` otherwise.
    fn reply_error(&self, py: Python<'_>, id: u64, message: &str) -> PyResult<()> {
        self.o.call(
            py,
            || format!("reply_error({id:#x})"),
            |s| s.reply_error(id, message),
        )
    }

    /// The most requests in the service at once (fixed at creation).
    #[getter]
    fn capacity(&self, py: Python<'_>) -> PyResult<u64> {
        self.o.call(py, || "capacity".into(), |s| Ok(s.capacity()))
    }

    /// Requests in the service now: placed and not yet collected by their callers (a
    /// snapshot).
    #[getter]
    fn pending(&self, py: Python<'_>) -> PyResult<u64> {
        self.o.call(py, || "pending".into(), |s| s.pending())
    }
});
