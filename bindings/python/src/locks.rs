//! Robust process-shared locks: Mutex, Barrier, Semaphore.

use std::sync::atomic::{AtomicBool, Ordering};

use plexus::backend::{self, Acquired};
use plexus::{Deadline, Error};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::region::{count, Opened, Region};
use crate::wait::{blocking, timed_out, timeout};

/// `acquire(blocking, timeout)` as `threading` has it: the engine timeout, or a
/// ValueError for a timeout with `blocking=False`.
fn lock_timeout(
    blocking: bool,
    timeout: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<std::time::Duration>> {
    if !blocking {
        if timeout.is_some_and(|t| !t.is_none()) {
            return Err(PyValueError::new_err(
                "plexus: can't specify a timeout for a non-blocking call",
            ));
        }
        return Ok(Some(std::time::Duration::ZERO));
    }
    self::timeout(timeout)
}

/// A robust mutex (the compiled half of `plexus.Mutex`).
#[pyclass(subclass, frozen, module = "plexus._plexus")]
pub(crate) struct Mutex {
    o: Opened<backend::Mutex>,
    owner_died: AtomicBool,
}

object_methods!(Mutex, "Mutex", "Gives back this handle (idempotent; the object stays in the region and nothing held is released); later calls raise `plexus.BadHandle`.", {
    #[new]
    fn new(region: &Bound<'_, Region>, name: String) -> PyResult<Mutex> {
        let o = Opened::new(region, "mutex", name, |r, n| r.mutex(n))?;
        Ok(Mutex {
            o,
            owner_died: AtomicBool::new(false),
        })
    }

    /// Whether the last successful acquire through this object took the mutex over from
    /// a holder that died holding it.
    #[getter]
    fn owner_died(&self) -> bool {
        self.owner_died.load(Ordering::Relaxed)
    }

    /// Locks it for the calling thread, waiting up to `timeout` seconds (`None` or -1:
    /// without limit; `blocking=False` or `0`: try once). `True` when locked (see
    /// `owner_died`), `False` when the timeout passed.
    #[pyo3(signature = (blocking=true, timeout=None))]
    fn acquire(
        &self,
        py: Python<'_>,
        blocking: bool,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let t = lock_timeout(blocking, timeout)?;
        let m = self.o.get(py)?;
        match self::blocking(py, t, self.o.remote, timed_out, |piece| {
            m.lock_until(&Deadline::after(piece))
        })? {
            Ok(how) => {
                self.owner_died
                    .store(how == Acquired::Recovered, Ordering::Relaxed);
                Ok(true)
            }
            Err(Error::Timeout) => Ok(false),
            Err(e) => Err(self.o.fail(py, "acquire", e)),
        }
    }

    /// Unlocks it; the calling thread must hold it (else `plexus.InvalidArgument`).
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.o.call(py, || "release".into(), |m| m.unlock())
    }

    /// Whether anyone holds it (a snapshot).
    fn locked(&self, py: Python<'_>) -> PyResult<bool> {
        self.o.call(py, || "locked".into(), |m| m.is_locked())
    }
});

/// A reusable barrier (the compiled half of `plexus.Barrier`).
#[pyclass(subclass, frozen, module = "plexus._plexus")]
pub(crate) struct Barrier {
    o: Opened<backend::Barrier>,
}

object_methods!(Barrier, "Barrier", "Gives back this handle (idempotent; the object stays in the region and nothing held is released); later calls raise `plexus.BadHandle`.", {
    #[new]
    fn new(
        region: &Bound<'_, Region>,
        name: String,
        parties: &Bound<'_, PyAny>,
    ) -> PyResult<Barrier> {
        let parties = count(parties, "parties", 32)? as u32;
        let o = Opened::new(region, "barrier", name, move |r, n| r.barrier(n, parties))?;
        Ok(Barrier { o })
    }

    /// Arrives and waits for the others. `True` for exactly one party of each round
    /// (the last to arrive). `plexus.Timeout` if `timeout` passes first (the arrival is
    /// withdrawn).
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        let t = self::timeout(timeout)?;
        let b = self.o.get(py)?;
        blocking(py, t, self.o.remote, timed_out, |piece| {
            b.wait_until(&Deadline::after(piece))
        })?
        .map_err(|e| self.o.fail(py, "wait", e))
    }

    /// The number of parties (fixed at creation).
    #[getter]
    fn parties(&self, py: Python<'_>) -> PyResult<u32> {
        self.o.call(py, || "parties".into(), |b| Ok(b.parties()))
    }
});

/// A counting semaphore (the compiled half of `plexus.Semaphore`).
#[pyclass(subclass, frozen, module = "plexus._plexus")]
pub(crate) struct Semaphore {
    o: Opened<backend::Semaphore>,
}

object_methods!(Semaphore, "Semaphore", "Gives back this handle (idempotent; the object stays in the region and nothing held is released); later calls raise `plexus.BadHandle`.", {
    #[new]
    fn new(
        region: &Bound<'_, Region>,
        name: String,
        permits: &Bound<'_, PyAny>,
    ) -> PyResult<Semaphore> {
        let permits = count(permits, "permits", 32)? as u32;
        let o = Opened::new(region, "semaphore", name, move |r, n| {
            r.semaphore(n, permits)
        })?;
        Ok(Semaphore { o })
    }

    /// Takes one permit, waiting up to `timeout` seconds (`None` or -1: without limit;
    /// `blocking=False` or `0`: try once). `True` when taken, `False` when the timeout
    /// passed.
    #[pyo3(signature = (blocking=true, timeout=None))]
    fn acquire(
        &self,
        py: Python<'_>,
        blocking: bool,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let t = lock_timeout(blocking, timeout)?;
        let s = self.o.get(py)?;
        match self::blocking(py, t, self.o.remote, timed_out, |piece| {
            s.acquire_until(&Deadline::after(piece))
        })? {
            Ok(()) => Ok(true),
            Err(Error::Timeout) => Ok(false),
            Err(e) => Err(self.o.fail(py, "acquire", e)),
        }
    }

    /// Gives back one permit held by this region handle (else `plexus.InvalidArgument`).
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.o.call(py, || "release".into(), |s| s.release())
    }

    /// The number of permits (fixed at creation).
    #[getter]
    fn permits(&self, py: Python<'_>) -> PyResult<u32> {
        self.o.call(py, || "permits".into(), |s| Ok(s.permits()))
    }

    /// Permits available now (a snapshot).
    #[getter]
    fn available(&self, py: Python<'_>) -> PyResult<u32> {
        self.o.call(py, || "available".into(), |s| s.available())
    }

    /// Permits held by this region handle.
    #[getter]
    fn held(&self, py: Python<'_>) -> PyResult<u32> {
        self.o.call(py, || "held".into(), |s| s.held())
    }
});
