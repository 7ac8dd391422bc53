"""Conversion between Python values and ``plexus_value``.

===============  =====================================================
plexus type      Python
===============  =====================================================
UNDEFINED        :data:`plexus.UNDEFINED` (a falsy singleton)
NULL             ``None``
BOOL             ``bool``
INT              ``int`` (-2**63 .. 2**63-1; others: OverflowError)
FLOAT            ``float``
STRING           ``str``
BYTES            ``bytes`` (``bytearray`` and ``memoryview`` are stored as BYTES)
OBJECT           ``dict`` / ``list`` (``tuple`` is stored as a list), nested, as
                 MessagePack: any value of this table inside, dict keys must be str
===============  =====================================================
"""

from __future__ import annotations

import ctypes
import operator
from typing import Any, Dict, List, Tuple, Union

from . import _lib
from ._errors import check
from ._msgpack import ExtType, packb, unpackb

_INT_MIN = -(1 << 63)
_INT_MAX = (1 << 63) - 1


class _Undefined:
    """The type of :data:`UNDEFINED`."""

    __slots__ = ()
    _instance: "_Undefined"

    def __new__(cls) -> "_Undefined":
        try:
            return cls._instance
        except AttributeError:
            cls._instance = super().__new__(cls)
            return cls._instance

    def __repr__(self) -> str:
        return "plexus.UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


#: plexus's UNDEFINED: what a fresh element and an absent map key hold. Distinct from
#: ``None`` (which is NULL). Falsy; compare with ``is``.
UNDEFINED = _Undefined()

#: What plexus values are in Python (see the table in this module's docstring).
PyValue = Union[None, bool, int, float, str, bytes, List[Any], Dict[str, Any], _Undefined]

_string_at = ctypes.string_at
_cast = ctypes.cast
_c_char_p = ctypes.c_char_p
_c_void_p = ctypes.c_void_p


def _borrow(v: _lib.Value, t: int, data: bytes) -> None:
    v.type = t
    v.data.buf.ptr = _cast(_c_char_p(data), _c_void_p).value
    v.data.buf.len = len(data)


def to_c(obj: Any) -> Tuple[_lib.Value, Any]:
    """A ``plexus_value`` borrowing from the returned keep-alive object (hold it until the
    call returns). TypeError for values plexus cannot hold, OverflowError for ints out
    of the int64 range, UnicodeEncodeError for str with lone surrogates."""
    v = _lib.Value()
    keep: Any = None
    if obj is None:
        v.type = _lib.T_NULL
    elif obj is True or obj is False:
        v.type = _lib.T_BOOL
        v.data.b = obj
    elif isinstance(obj, int):
        if not _INT_MIN <= obj <= _INT_MAX:
            raise OverflowError(f"plexus: int {obj} does not fit in INT (64-bit signed)")
        v.type = _lib.T_INT
        v.data.i = obj
    elif isinstance(obj, float):
        v.type = _lib.T_FLOAT
        v.data.f = obj
    elif isinstance(obj, str):
        keep = obj.encode("utf-8")
        _borrow(v, _lib.T_STRING, keep)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        keep = bytes(obj)
        _borrow(v, _lib.T_BYTES, keep)
    elif isinstance(obj, (dict, list, tuple, ExtType)):
        keep = packb(obj)
        _borrow(v, _lib.T_OBJECT, keep)
    elif obj is UNDEFINED:
        v.type = _lib.T_UNDEFINED
    elif hasattr(type(obj), "__index__"):
        return to_c(operator.index(obj))  # numpy integers and the like
    elif hasattr(type(obj), "__float__") and type(obj).__module__ == "numpy":
        return to_c(float(obj))
    else:
        raise TypeError(
            f"plexus: cannot store a {type(obj).__name__}: use None, bool, int, float, str, "
            "bytes, list, dict or plexus.UNDEFINED"
        )
    return v, keep


def from_c(v: _lib.Value) -> Any:
    """The Python value of a ``plexus_value`` filled by the library; frees it."""
    t = v.type
    if t == _lib.T_INT:
        return v.data.i
    if t == _lib.T_UNDEFINED:
        return UNDEFINED
    if t == _lib.T_FLOAT:
        return v.data.f
    if t == _lib.T_BOOL:
        return bool(v.data.b)
    if t == _lib.T_NULL:
        return None
    try:
        n = v.data.buf.len
        raw = _string_at(v.data.buf.ptr, n) if n else b""
    finally:
        _lib.value_free(ctypes.byref(v))
    if t == _lib.T_STRING:
        return raw.decode("utf-8")
    if t == _lib.T_BYTES:
        return raw
    if t == _lib.T_OBJECT:
        return unpackb(raw)
    raise TypeError(f"plexus: the library returned a value of unknown type {t}")


def to_json(obj: Any) -> str:
    """The JSON text the library makes of a value (``plexus_value_to_json``): what C, C++
    and Node callers see when they read it as JSON. UNDEFINED and non-finite floats
    become ``null``, bytes an array of numbers."""
    v, keep = to_c(obj)
    needed = ctypes.c_size_t(0)
    st = _lib.lib.plexus_value_to_json(ctypes.byref(v), None, 0, ctypes.byref(needed))
    if st not in (_lib.OK, 111):
        check(st, "to_json")
    buf = ctypes.create_string_buffer(needed.value)
    check(_lib.lib.plexus_value_to_json(ctypes.byref(v), buf, needed.value, None), "to_json")
    del keep
    return buf.value.decode("utf-8")


def from_json(text: str) -> Any:
    """The value the library makes of JSON text (``plexus_value_from_json``): objects and
    arrays become OBJECT (returned as dict / list), integers INT when they fit in 64 bits.
    InvalidArgument for bad JSON."""
    out = _lib.Value()
    check(_lib.lib.plexus_value_from_json(text.encode("utf-8"), ctypes.byref(out)), "from_json")
    return from_c(out)


def same_value(a: Any, b: Any) -> bool:
    """Whether plexus considers two values equal (``plexus_value_equal``, the comparison
    ``cas`` makes): same type and value (so ``1``, ``1.0`` and ``True`` all differ),
    floats numerically (NaN equals nothing), the rest byte for byte."""
    va, ka = to_c(a)
    vb, kb = to_c(b)
    r = bool(_lib.lib.plexus_value_equal(ctypes.byref(va), ctypes.byref(vb)))
    del ka, kb
    return r
