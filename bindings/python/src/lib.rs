//! `plexus._plexus`: the compiled core of the Python package `plexus`.
//!
//! Every call goes straight to the engine (`plexus::backend`), with no C ABI in between:
//! values are converted here ([`values`]), errors become the exception classes of
//! `plexus/_errors.py` ([`errors`]), and blocking calls release the GIL and wait in slices
//! that check for signals ([`wait`]). The pure-Python package on top (`plexus/*.py`)
//! subclasses these classes only to add what Python idiom needs (context managers,
//! iteration, the mapping and sequence mixins, the asyncio twins); the calls that
//! matter for speed (`m[key]`, `a[i]`, `faa`, `push`, `pop`, ...) are these methods.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

use pyo3::prelude::*;

/// `object_methods!(Type, "Class", "close's docstring", { its own methods })`: the one
/// `#[pymethods]` block of an object class, with what every object class has: the
/// `name` and `region` getters, `close` (whose meaning each kind words for itself) and
/// `__repr__`.
macro_rules! object_methods {
    ($T:ident, $class:expr, $close_doc:literal, { $($extra:tt)* }) => {
        #[pymethods]
        impl $T {
            /// The object's name in its region.
            #[getter]
            fn name(&self) -> &str {
                &self.o.name
            }

            /// The region this object was opened through.
            #[getter]
            fn region(&self, py: Python<'_>) -> Py<crate::region::Region> {
                self.o.region.clone_ref(py)
            }

            #[doc = $close_doc]
            fn close(&self) {
                crate::handle::Close::close(&*self.o.slot);
            }

            fn __repr__(&self, py: Python<'_>) -> String {
                self.o.repr(py, $class)
            }

            $($extra)*
        }
    };
}

mod bus;
mod elements;
mod errors;
mod handle;
mod locks;
mod queue;
mod region;
mod tarray;
mod service;
mod values;
mod wait;

/// The engine's version `(major, minor, patch)` (this extension is built from it).
#[pyfunction]
fn version() -> (u32, u32, u32) {
    (
        plexus::ffi::PLEXUS_VERSION_MAJOR,
        plexus::ffi::PLEXUS_VERSION_MINOR,
        plexus::ffi::PLEXUS_VERSION_PATCH,
    )
}

/// How many locks this process took over from owners that died holding them.
#[pyfunction]
fn recovered_locks() -> u64 {
    plexus::recovered_locks()
}

/// A region name as messages show it: a remote name's password replaced by `***`.
#[pyfunction]
fn shown(name: &str) -> String {
    plexus::redis::url::redact(name)
}

#[pymodule]
fn _plexus(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SLICE", wait::SLICE.as_secs_f64())?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(recovered_locks, m)?)?;
    m.add_function(wrap_pyfunction!(shown, m)?)?;
    m.add_function(wrap_pyfunction!(errors::setup, m)?)?;
    m.add_function(wrap_pyfunction!(errors::status_name, m)?)?;
    m.add_function(wrap_pyfunction!(wait::timeout_seconds, m)?)?;
    m.add_function(wrap_pyfunction!(values::packb, m)?)?;
    m.add_function(wrap_pyfunction!(values::unpackb, m)?)?;
    m.add_function(wrap_pyfunction!(values::to_json, m)?)?;
    m.add_function(wrap_pyfunction!(values::from_json, m)?)?;
    m.add_function(wrap_pyfunction!(values::same_value, m)?)?;
    m.add_function(wrap_pyfunction!(region::check, m)?)?;
    m.add_class::<region::Region>()?;
    m.add_class::<elements::Array>()?;
    m.add_class::<elements::Map>()?;
    m.add_class::<queue::Queue>()?;
    m.add_class::<bus::Bus>()?;
    m.add_class::<bus::Subscription>()?;
    m.add_class::<locks::Mutex>()?;
    m.add_class::<locks::Barrier>()?;
    m.add_class::<locks::Semaphore>()?;
    m.add_class::<tarray::TArray>()?;
    m.add_class::<service::Service>()?;
    Ok(())
}
