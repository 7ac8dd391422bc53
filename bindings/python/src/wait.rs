//! Timeouts, and blocking calls that other threads and Ctrl-C can get past.
//!
//! A timeout is seconds: `None` or `-1` waits without limit (as `threading.Lock.acquire`
//! does), `0` tries once, other negative numbers are a `ValueError`, and anything but an
//! `int`, a `float` (or another number with `__float__`) or a `datetime.timedelta` is a
//! `TypeError` (`bool` too).
//!
//! A blocking call first tries once holding the GIL (the common case, when the call can
//! proceed at once, pays nothing more). Otherwise it waits in slices of at most
//! [`SLICE`], each with the GIL released (so other Python threads run), and between
//! slices runs Python's signal handlers (`py.check_signals()`), so Ctrl-C raises
//! `KeyboardInterrupt` within a slice. This is safe because every blocking engine call
//! that times out has changed nothing (no value taken or written, no lock or permit
//! taken, a barrier arrival withdrawn): waiting again is the same as having waited
//! longer in one call. On a remote region every try is a request to the server, so it
//! is made with the GIL released too.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use plexus::{Error, Interrupt};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};

use crate::errors::registry;

/// The longest wait between two checks for signals: the latency of Ctrl-C.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// The engine's timeout for a Python timeout argument: `None` = without limit,
/// `Some(ZERO)` = try once.
pub(crate) fn timeout(arg: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Duration>> {
    let Some(arg) = arg else { return Ok(None) };
    if arg.is_none() {
        return Ok(None);
    }
    if arg.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(
            "plexus: timeout must be None or seconds (int, float or timedelta), not bool",
        ));
    }
    if arg.is_instance_of::<PyInt>() {
        return match arg.extract::<i64>() {
            Ok(-1) => Ok(None),
            Ok(n) if n < 0 => Err(negative(n as f64)),
            Ok(n) => Ok(Some(Duration::from_secs(n as u64))),
            // Beyond 64 bits: negative is an error, positive as good as no limit.
            Err(_) if arg.lt(0)? => Err(PyValueError::new_err(
                "plexus: timeout is negative (use None or -1 to wait without limit)",
            )),
            Err(_) => Ok(None),
        };
    }
    let seconds = if arg.is_instance_of::<PyFloat>() {
        arg.extract::<f64>()?
    } else if arg.is_instance(registry(arg.py())?.timedelta.bind(arg.py()))? {
        arg.call_method0("total_seconds")?.extract::<f64>()?
    } else if arg.hasattr("__float__")? && !arg.hasattr("__len__")? {
        // numpy scalars, Decimal, Fraction ...
        arg.extract::<f64>()?
    } else {
        return Err(PyTypeError::new_err(format!(
            "plexus: timeout must be None or seconds (int, float or timedelta), not {}",
            arg.get_type().name()?
        )));
    };
    seconds_to_timeout(seconds)
}

fn negative(seconds: f64) -> PyErr {
    PyValueError::new_err(format!(
        "plexus: timeout {seconds} is negative (use None or -1 to wait without limit)"
    ))
}

fn seconds_to_timeout(seconds: f64) -> PyResult<Option<Duration>> {
    if seconds.is_nan() {
        return Err(PyValueError::new_err("plexus: timeout is NaN"));
    }
    if seconds == -1.0 {
        return Ok(None);
    }
    if seconds < 0.0 {
        return Err(negative(seconds));
    }
    if seconds == 0.0 {
        return Ok(Some(Duration::ZERO));
    }
    // Whole nanoseconds rounded up (a tiny positive timeout still waits); a timeout too
    // long for a Duration is as good as no limit.
    let nanos = (seconds * 1e9).ceil();
    if nanos >= u64::MAX as f64 {
        return Ok(None);
    }
    Ok(Some(Duration::from_nanos(nanos as u64)))
}

/// The timeout convention, for the package's own waits (the asyncio twins): seconds as
/// a float, `None` for "without limit"; the errors a blocking call would raise.
#[pyfunction]
#[pyo3(signature = (timeout=None))]
pub(crate) fn timeout_seconds(timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Option<f64>> {
    Ok(self::timeout(timeout)?.map(|d| d.as_secs_f64()))
}

/// Runs `call(piece)` until it returns something other than a "not yet" (`retry`:
/// `Error::Timeout`, or `NotFound` for a region that does not exist yet) or `timeout`
/// passes: first once holding the GIL with a zero timeout (unless `remote`), then in
/// slices with the GIL released, running signal handlers between slices. The outer
/// `PyResult` is a Python exception raised by a signal handler (`KeyboardInterrupt`).
pub(crate) fn blocking<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    remote: bool,
    retry: fn(&Error) -> bool,
    mut call: impl FnMut(Option<Duration>) -> Result<T, Error> + Send,
) -> PyResult<Result<T, Error>> {
    if timeout == Some(Duration::ZERO) {
        return Ok(if remote {
            py.detach(|| call(timeout))
        } else {
            call(timeout)
        });
    }
    if !remote {
        let first = call(Some(Duration::ZERO));
        if !matches!(&first, Err(e) if retry(e)) {
            return Ok(first);
        }
    }
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let piece = match deadline {
            None => SLICE,
            Some(at) => at.saturating_duration_since(Instant::now()).min(SLICE),
        };
        let result = py.detach(|| call(Some(piece)));
        if !matches!(&result, Err(e) if retry(e)) {
            return Ok(result);
        }
        py.check_signals()?;
        if deadline.is_some_and(|at| Instant::now() >= at) {
            return Ok(result);
        }
    }
}

/// The "not yet" of most blocking calls.
pub(crate) fn timed_out(e: &Error) -> bool {
    matches!(e, Error::Timeout)
}

/// Runs `f` with the GIL released, handing it an [`Interrupt`] whose check (every
/// [`SLICE`]) takes the GIL to run Python's signal handlers and `cancelled()` (a callable;
/// true stops the call with a `RuntimeError` naming `what`). A Python exception raised
/// there stops the engine call (the check returns `Error::Timeout`, which the engine
/// treats as the end of the wait: nothing taken, a batch cut short, a request withdrawn)
/// and is returned beside `f`'s result; it wins over that result.
pub(crate) fn interruptibly<T: Send>(
    py: Python<'_>,
    cancelled: Option<&Bound<'_, PyAny>>,
    what: &str,
    f: impl FnOnce(&Interrupt<'_>) -> T + Send,
) -> (T, Option<PyErr>) {
    let pending: Mutex<Option<PyErr>> = Mutex::new(None);
    let cancelled = cancelled.map(|c| c.clone().unbind());
    let check = || -> Result<(), Error> {
        Python::attach(|py| {
            let stop = match py.check_signals() {
                Err(e) => Some(e),
                Ok(()) => match cancelled.as_ref().map(|c| c.bind(py).call0()) {
                    Some(Ok(r)) if r.is_truthy().unwrap_or(true) => {
                        Some(PyRuntimeError::new_err(format!("plexus: {what} cancelled")))
                    }
                    Some(Err(e)) => Some(e),
                    _ => None,
                },
            };
            match stop {
                Some(e) => {
                    *pending.lock() = Some(e);
                    Err(Error::Timeout)
                }
                None => Ok(()),
            }
        })
    };
    let interrupt = Interrupt {
        every: SLICE,
        check: &check,
    };
    let result = py.detach(|| f(&interrupt));
    let stopped = pending.lock().take();
    (result, stopped)
}
