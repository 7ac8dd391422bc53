//! Engine errors as the exception classes of `plexus/_errors.py` (one per status), and
//! the Python objects the package hands over once at import ([`setup`]).

use std::ffi::CStr;

use plexus::ffi::plexus_status;
use plexus::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// What `plexus/__init__.py` registers through [`setup`] before anything else runs.
pub(crate) struct Registry {
    /// `plexus._errors.error_for(status, what, message)`: the exception for a status.
    error_for: Py<PyAny>,
    /// `plexus.KeyNotFound`: a map key that does not exist.
    key_not_found: Py<PyType>,
    /// `plexus.UNDEFINED`.
    pub undefined: Py<PyAny>,
    /// `plexus.ExtType` (a MessagePack extension value).
    pub ext_type: Py<PyType>,
    /// `plexus.Message` (a bus message: seq, value).
    pub message: Py<PyType>,
    /// `datetime.timedelta` (accepted as a timeout).
    pub timedelta: Py<PyType>,
}

static REGISTRY: PyOnceLock<Registry> = PyOnceLock::new();

/// The registered objects; a clear error if the package did not register them (the
/// extension imported on its own).
pub(crate) fn registry(py: Python<'_>) -> PyResult<&Registry> {
    REGISTRY.get(py).ok_or_else(|| {
        PyRuntimeError::new_err("plexus._plexus is used through the plexus package: import plexus")
    })
}

/// Registers the package's exception factory and value types (called once by
/// `plexus/__init__.py`).
#[pyfunction]
pub(crate) fn setup(
    py: Python<'_>,
    error_for: Py<PyAny>,
    key_not_found: Py<PyType>,
    undefined: Py<PyAny>,
    ext_type: Py<PyType>,
    message: Py<PyType>,
    timedelta: Py<PyType>,
) -> PyResult<()> {
    let registry = Registry {
        error_for,
        key_not_found,
        undefined,
        ext_type,
        message,
        timedelta,
    };
    // A second import of the package (importlib.reload) keeps the first registration.
    let _ = REGISTRY.set(py, registry);
    Ok(())
}

/// The C name of a status (`"PLEXUS_E_NOT_FOUND"`); `"PLEXUS_UNKNOWN_STATUS"` for a
/// number that is not one.
#[pyfunction]
pub(crate) fn status_name(status: i64) -> &'static str {
    let status = i32::try_from(status).unwrap_or(-1);
    // SAFETY: plexus_status_name returns a pointer to a static NUL-terminated string,
    // never NULL.
    let name = unsafe { CStr::from_ptr(plexus::ffi::plexus_status_name(status)) };
    name.to_str().unwrap_or("PLEXUS_UNKNOWN_STATUS")
}

/// The status of an engine error (the C API's mapping).
pub(crate) fn status_of(e: &Error) -> i32 {
    plexus_status::from(e) as i32
}

/// The exception for `status`, its message `what: message`.
pub(crate) fn make(py: Python<'_>, status: i32, what: String, message: String) -> PyErr {
    let made = registry(py).and_then(|r| r.error_for.bind(py).call1((status, what, message)));
    match made {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// The exception for an engine error, its message prefixed with `what` (the call, and
/// the object it was made on).
pub(crate) fn to_py(py: Python<'_>, e: Error, what: impl FnOnce() -> String) -> PyErr {
    make(py, status_of(&e), what(), e.to_string())
}

/// `plexus.KeyNotFound` for `key` of the map `map`.
pub(crate) fn key_not_found(py: Python<'_>, map: &str, key: &str) -> PyErr {
    let status = status_of(&Error::NotFound(String::new()));
    let made = registry(py).and_then(|r| {
        r.key_not_found
            .bind(py)
            .call1((format!("map '{map}': no key '{key}'"), status))
    });
    match made {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// `plexus.OutOfRange` (an IndexError) with `message`.
pub(crate) fn out_of_range(py: Python<'_>, message: String) -> PyErr {
    let status = status_of(&Error::OutOfRange {
        index: 0,
        length: 0,
    });
    make(py, status, String::new(), message)
}

/// `plexus.BadHandle`: a call through an object whose handle was given back.
pub(crate) fn closed(py: Python<'_>, what: impl FnOnce() -> String) -> PyErr {
    to_py(
        py,
        Error::BadHandle("the handle was given back (close(), or its region's close())".into()),
        what,
    )
}
