"""Python values of plexus values.

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

The conversion itself is compiled (``plexus._plexus``); ``to_json``, ``from_json`` and
``same_value`` are the engine's.
"""

from __future__ import annotations

from typing import Any, Dict, List, Union

from ._plexus import from_json, same_value, to_json


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


_Undefined.__module__ = "plexus"

#: plexus's UNDEFINED: what a fresh element and an absent map key hold. Distinct from
#: ``None`` (which is NULL). Falsy; compare with ``is``.
UNDEFINED = _Undefined()

#: What plexus values are in Python (see the table in this module's docstring).
PyValue = Union[None, bool, int, float, str, bytes, List[Any], Dict[str, Any], _Undefined]

__all__ = ["UNDEFINED", "PyValue", "from_json", "same_value", "to_json"]
