//! Python values <-> engine values.
//!
//! | plexus    | Python                                                          |
//! |-----------|-----------------------------------------------------------------|
//! | UNDEFINED | `plexus.UNDEFINED`                                              |
//! | NULL      | `None`                                                          |
//! | BOOL      | `bool`                                                          |
//! | INT       | `int` (-2**63 .. 2**63-1; others: OverflowError)                |
//! | FLOAT     | `float`                                                         |
//! | STRING    | `str`                                                           |
//! | BYTES     | `bytes` (`bytearray` and `memoryview` are stored as BYTES)      |
//! | OBJECT    | `dict` (str keys) / `list` (`tuple` is stored as a list), nested, as MessagePack (rmp) |
//!
//! Strings and bytes are borrowed from the Python object for the call (no copy).

use std::ffi::c_char;

use plexus::{Value, ValueRef};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};

use crate::errors::{registry, to_py};

/// Deepest nesting of an OBJECT (as the engine's validator).
const MAX_DEPTH: usize = 512;

/// A value converted for a call: borrows the Python object's bytes where it can.
pub(crate) enum Arg<'a> {
    Plain(ValueRef<'static>),
    Str(&'a str),
    Bytes(&'a [u8]),
    OwnedBytes(Vec<u8>),
    Object(Vec<u8>),
}

impl Arg<'_> {
    #[inline]
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Arg::Plain(v) => *v,
            Arg::Str(s) => ValueRef::String(s),
            Arg::Bytes(b) => ValueRef::Bytes(b),
            Arg::OwnedBytes(b) => ValueRef::Bytes(b),
            Arg::Object(o) => ValueRef::Object(o),
        }
    }
}

extern "C" {
    // Part of the stable ABI since 3.10 and exported, with this signature, by every
    // CPython since 3.3; PyO3 declares it only for 3.10+ builds, and the abi3-py38 build
    // would otherwise copy every string into a new bytes object.
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut pyo3::ffi::PyObject,
        size: *mut pyo3::ffi::Py_ssize_t,
    ) -> *const c_char;
}

/// The UTF-8 of a `str`, borrowed (CPython keeps it with the object); the
/// `UnicodeEncodeError` of a string with lone surrogates.
#[inline]
pub(crate) fn utf8<'a>(s: &'a Bound<'_, PyString>) -> PyResult<&'a str> {
    let mut size: pyo3::ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a str object, alive for 'a (borrowed); the function returns NULL
    // with an exception set, or a pointer to `size` bytes of UTF-8 owned by the object.
    let data = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if data.is_null() {
        return Err(PyErr::fetch(s.py()));
    }
    // SAFETY: CPython guarantees valid UTF-8 of `size` bytes, kept until the object dies.
    Ok(unsafe {
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(data.cast(), size as usize))
    })
}

fn int_overflow(obj: &Bound<'_, PyAny>) -> PyErr {
    PyOverflowError::new_err(format!(
        "plexus: int {} does not fit in INT (64-bit signed)",
        obj.str().map(|s| s.to_string()).unwrap_or_default()
    ))
}

/// The engine value of a Python object, for a call. TypeError for what plexus cannot
/// hold, OverflowError for ints out of the int64 range.
pub(crate) fn arg<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Arg<'a>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Arg::Str(utf8(s)?));
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Arg::Plain(ValueRef::Bool(b.is_true())));
    }
    if obj.is_instance_of::<PyInt>() {
        return match obj.extract::<i64>() {
            Ok(i) => Ok(Arg::Plain(ValueRef::Int(i))),
            Err(_) => Err(int_overflow(obj)),
        };
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Arg::Plain(ValueRef::Float(f.value())));
    }
    if obj.is_none() {
        return Ok(Arg::Plain(ValueRef::Null));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Arg::Bytes(b.as_bytes()));
    }
    let py = obj.py();
    let reg = registry(py)?;
    if obj.is(reg.undefined.bind(py)) {
        return Ok(Arg::Plain(ValueRef::Undefined));
    }
    if obj.is_instance_of::<PyDict>()
        || obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>()
    {
        let mut out = Vec::new();
        pack(obj, &mut out, 0)?;
        return Ok(Arg::Object(out));
    }
    if obj.is_instance_of::<PyByteArray>() || obj.is_instance_of::<PyMemoryView>() {
        return Ok(Arg::OwnedBytes(bytes_like(obj)?));
    }
    let ty = obj.get_type();
    if ty.hasattr("__index__")? {
        // numpy integers and the like
        let i = obj.call_method0("__index__")?;
        return match i.extract::<i64>() {
            Ok(i) => Ok(Arg::Plain(ValueRef::Int(i))),
            Err(_) => Err(int_overflow(&i)),
        };
    }
    if ty.hasattr("__float__")? && ty.getattr("__module__")?.to_string() == "numpy" {
        return Ok(Arg::Plain(ValueRef::Float(obj.extract::<f64>()?)));
    }
    Err(PyTypeError::new_err(format!(
        "plexus: cannot store a {}: use None, bool, int, float, str, bytes, list, dict or \
         plexus.UNDEFINED",
        ty.name()?
    )))
}

fn bytes_like(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    // memoryview: bytes(view)
    let b = obj.py().get_type::<PyBytes>().call1((obj,))?;
    Ok(b.cast::<PyBytes>()?.as_bytes().to_vec())
}

/// The Python value of an engine value.
pub(crate) fn to_python(py: Python<'_>, v: Value) -> PyResult<Py<PyAny>> {
    Ok(match v {
        Value::Int(i) => int_object(py, i),
        Value::String(s) => PyString::new(py, &s).into_any().unbind(),
        Value::Undefined => registry(py)?.undefined.clone_ref(py),
        Value::Null => py.None(),
        Value::Bool(b) => PyBool::new(py, b).to_owned().into_any().unbind(),
        Value::Float(f) => PyFloat::new(py, f).into_any().unbind(),
        Value::Bytes(b) => PyBytes::new(py, &b).into_any().unbind(),
        Value::Object(o) => unpack(py, &o)?,
    })
}

// ---- MessagePack (OBJECT) ------------------------------------------------------------

fn packed<E: std::fmt::Display>(r: Result<impl Sized, E>) -> PyResult<()> {
    r.map(|_| ())
        .map_err(|e| PyValueError::new_err(format!("plexus: cannot encode object: {e}")))
}

fn len32(n: usize) -> PyResult<u32> {
    u32::try_from(n).map_err(|_| {
        PyValueError::new_err("plexus: object part too large for MessagePack (>= 2**32)")
    })
}

/// MessagePack of `obj` (rmp): None, bool, int (-2**63 .. 2**64-1), float (float64),
/// str, bytes-like, list/tuple, dict with str keys, `plexus.ExtType`.
fn pack(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> PyResult<()> {
    use rmp::encode as enc;
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "plexus: object nests deeper than {MAX_DEPTH} levels (or is cyclic)"
        )));
    }
    let py = obj.py();
    if obj.is_none() {
        enc::write_nil(out).map_err(|e| PyValueError::new_err(e.to_string()))
    } else if let Ok(b) = obj.cast::<PyBool>() {
        enc::write_bool(out, b.is_true()).map_err(|e| PyValueError::new_err(e.to_string()))
    } else if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            packed(enc::write_sint(out, i))
        } else if let Ok(u) = obj.extract::<u64>() {
            packed(enc::write_uint(out, u))
        } else {
            Err(PyOverflowError::new_err(format!(
                "plexus: int {} does not fit in 64 bits",
                obj.str()?
            )))
        }
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        packed(enc::write_f64(out, f.value()))
    } else if let Ok(s) = obj.cast::<PyString>() {
        packed(enc::write_str(out, utf8(s)?))
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        packed(enc::write_bin(out, b.as_bytes()))
    } else if obj.is_instance_of::<PyByteArray>() || obj.is_instance_of::<PyMemoryView>() {
        packed(enc::write_bin(out, &bytes_like(obj)?))
    } else if obj.is_instance(registry(py)?.ext_type.bind(py))? {
        let (code, data): (i64, Bound<'_, PyAny>) = obj.extract()?;
        let code = i8::try_from(code).map_err(|_| {
            PyValueError::new_err(format!("plexus: ExtType code {code} is not in -128..127"))
        })?;
        let data = bytes_like(&data)?;
        packed(enc::write_ext_meta(out, len32(data.len())?, code))?;
        out.extend_from_slice(&data);
        Ok(())
    } else if let Ok(l) = obj.cast::<PyList>() {
        packed(enc::write_array_len(out, len32(l.len())?))?;
        for item in l.iter() {
            pack(&item, out, depth + 1)?;
        }
        Ok(())
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        packed(enc::write_array_len(out, len32(t.len())?))?;
        for item in t.iter() {
            pack(&item, out, depth + 1)?;
        }
        Ok(())
    } else if let Ok(d) = obj.cast::<PyDict>() {
        packed(enc::write_map_len(out, len32(d.len())?))?;
        for (k, v) in d.iter() {
            let Ok(key) = k.cast::<PyString>() else {
                return Err(PyTypeError::new_err(format!(
                    "plexus: dict keys in a stored object must be str, not {} ({}): other \
                     languages read objects as JSON",
                    k.get_type().name()?,
                    k.repr()?
                )));
            };
            packed(enc::write_str(out, utf8(key)?))?;
            pack(&v, out, depth + 1)?;
        }
        Ok(())
    } else {
        Err(PyTypeError::new_err(format!(
            "plexus: cannot store a {} inside an object",
            obj.get_type().name()?
        )))
    }
}

/// Python objects of one MessagePack value (checked first by the engine's validator:
/// exactly one well-formed value, at most 512 levels deep).
fn unpack(py: Python<'_>, data: &[u8]) -> PyResult<Py<PyAny>> {
    plexus::semantics::value::msgpack_check(data)
        .map_err(|e| PyValueError::new_err(format!("plexus: {e}")))?;
    let mut de = rmp_serde::Deserializer::from_read_ref(data);
    serde::de::DeserializeSeed::deserialize(Build { py }, &mut de)
        .map_err(|e| PyValueError::new_err(format!("plexus: cannot decode object: {e}")))
}

/// A serde visitor that builds the Python objects of a MessagePack value.
#[derive(Clone, Copy)]
struct Build<'py> {
    py: Python<'py>,
}

/// A Python int (converting a 64-bit integer cannot fail).
fn int_object<
    'py,
    T: IntoPyObject<'py, Target = PyInt, Output = Bound<'py, PyInt>, Error = std::convert::Infallible>,
>(
    py: Python<'py>,
    v: T,
) -> Py<PyAny> {
    match v.into_pyobject(py) {
        Ok(o) => o.into_any().unbind(),
        Err(never) => match never {},
    }
}

fn custom<E: serde::de::Error>(e: PyErr) -> E {
    E::custom(e)
}

impl<'de> serde::de::DeserializeSeed<'de> for Build<'_> {
    type Value = Py<PyAny>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Py<PyAny>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Build<'_> {
    type Value = Py<PyAny>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a MessagePack value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(PyBool::new(self.py, v).to_owned().into_any().unbind())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(int_object(self.py, v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(int_object(self.py, v))
    }
    fn visit_f32<E: serde::de::Error>(self, v: f32) -> Result<Self::Value, E> {
        self.visit_f64(v as f64)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(PyFloat::new(self.py, v).into_any().unbind())
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PyString::new(self.py, v).into_any().unbind())
    }
    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(PyBytes::new(self.py, v).into_any().unbind())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.py.None())
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.py.None())
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    /// rmp-serde hands an extension value over as a newtype of (type code, bytes).
    fn visit_newtype_struct<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> Result<Self::Value, D::Error> {
        let (code, data): (i8, serde_bytes_buf::Buf) = serde::Deserialize::deserialize(d)?;
        let ext = registry(self.py).map_err(custom)?.ext_type.bind(self.py);
        let data = PyBytes::new(self.py, &data.0);
        Ok(ext.call1((code, data)).map_err(custom)?.unbind())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let list = PyList::empty(self.py);
        while let Some(item) = seq.next_element_seed(self)? {
            list.append(item).map_err(custom)?;
        }
        Ok(list.into_any().unbind())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let dict = PyDict::new(self.py);
        while let Some(key) = map.next_key_seed(self)? {
            let key = frozen(key.bind(self.py)).map_err(custom)?;
            let value = map.next_value_seed(self)?;
            dict.set_item(key, value).map_err(custom)?;
        }
        Ok(dict.into_any().unbind())
    }
}

/// A decoded map key made hashable: lists become tuples; a map as a key has no Python
/// form.
fn frozen<'py>(key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(list) = key.cast::<PyList>() {
        let items = list
            .iter()
            .map(|item| frozen(&item))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(PyTuple::new(key.py(), items)?.into_any());
    }
    if key.is_instance_of::<PyDict>() {
        return Err(PyValueError::new_err(
            "plexus: an object has a map as a key (not representable in Python)",
        ));
    }
    Ok(key.clone())
}

/// Deserializes MessagePack bin/str data as bytes (for extension values).
mod serde_bytes_buf {
    pub struct Buf(pub Vec<u8>);

    impl<'de> serde::Deserialize<'de> for Buf {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Buf, D::Error> {
            d.deserialize_byte_buf(V)
        }
    }

    struct V;

    impl serde::de::Visitor<'_> for V {
        type Value = Buf;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E>(self, v: &[u8]) -> Result<Buf, E> {
            Ok(Buf(v.to_vec()))
        }
        fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Buf, E> {
            Ok(Buf(v))
        }
    }
}

// ---- module functions ----------------------------------------------------------------

/// MessagePack of a value as the package stores an OBJECT. TypeError for types it cannot
/// hold (and non-str dict keys), OverflowError for ints outside -2**63..2**64-1,
/// ValueError for nesting deeper than 512 levels (cycles included).
#[pyfunction]
pub(crate) fn packb<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    pack(obj, &mut out, 0)?;
    Ok(PyBytes::new(obj.py(), &out))
}

/// The Python value of one MessagePack value (ValueError if malformed or followed by
/// extra bytes).
#[pyfunction]
pub(crate) fn unpackb(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    unpack(py, &bytes_like(data)?)
}

/// The JSON text other languages see of a value (UNDEFINED and non-finite floats become
/// `null`, bytes an array of numbers).
#[pyfunction]
pub(crate) fn to_json(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let v = arg(obj)?;
    v.as_ref()
        .to_json()
        .map_err(|e| to_py(obj.py(), e, || "to_json".into()))
}

/// The value the engine makes of JSON text: objects and arrays become OBJECT (dict,
/// list), integers INT when they fit in 64 bits. InvalidArgument for bad JSON.
#[pyfunction]
pub(crate) fn from_json(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    let v = Value::from_json(text).map_err(|e| to_py(py, e, || "from_json".into()))?;
    to_python(py, v)
}

/// Whether plexus considers two values equal (the comparison `cas` makes).
#[pyfunction]
pub(crate) fn same_value(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    let (a, b) = (arg(a)?, arg(b)?);
    Ok(a.as_ref().same_as(&b.as_ref()))
}
