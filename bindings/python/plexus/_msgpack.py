"""A small MessagePack codec for OBJECT values (no dependency on the msgpack package).

Encodes None, bool, int (-2**63 .. 2**64-1), float (always float64), str, bytes-like,
list/tuple, dict with str keys and :class:`ExtType`; decodes every MessagePack format
(float32 too; ext values as :class:`ExtType`). Dict keys must be str because the other
languages read OBJECT values as JSON (``plexus_value_to_json``), whose object keys are
strings.
"""

from __future__ import annotations

import struct
from typing import Any, Dict, List, NamedTuple

MAX_DEPTH = 512  # as the library's validator


class ExtType(NamedTuple):
    """A MessagePack extension value: a type code (-128..127) and its bytes."""

    code: int
    data: bytes


_pack_d = struct.Struct(">d").pack
_B = struct.Struct(">B").pack
_H = struct.Struct(">H").pack
_I = struct.Struct(">I").pack
_Q = struct.Struct(">Q").pack
_b = struct.Struct(">b").pack
_h = struct.Struct(">h").pack
_i = struct.Struct(">i").pack
_q = struct.Struct(">q").pack


def packb(obj: Any) -> bytes:
    """MessagePack of ``obj``. TypeError for types it cannot hold (and non-str dict
    keys), OverflowError for ints outside -2**63..2**64-1, ValueError for nesting deeper
    than 512 levels (including cycles)."""
    out = bytearray()
    _pack(obj, out, 0)
    return bytes(out)


def _len_header(n: int, fix: int, fixmax: int, b8: int, b16: int, b32: int, out: bytearray) -> None:
    if n <= fixmax and fix >= 0:
        out.append(fix | n)
    elif n < 0x100 and b8 >= 0:
        out.append(b8)
        out += _B(n)
    elif n < 0x10000:
        out.append(b16)
        out += _H(n)
    elif n < 0x100000000:
        out.append(b32)
        out += _I(n)
    else:
        raise ValueError("plexus: object part too large for MessagePack (>= 4 GiB)")


def _pack(obj: Any, out: bytearray, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"plexus: object nests deeper than {MAX_DEPTH} levels (or is cyclic)")
    if obj is None:
        out.append(0xC0)
    elif obj is True:
        out.append(0xC3)
    elif obj is False:
        out.append(0xC2)
    elif isinstance(obj, int):
        _pack_int(int(obj), out)
    elif isinstance(obj, float):
        out.append(0xCB)
        out += _pack_d(obj)
    elif isinstance(obj, str):
        b = obj.encode("utf-8")
        _len_header(len(b), 0xA0, 31, 0xD9, 0xDA, 0xDB, out)
        out += b
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        b = bytes(obj)
        _len_header(len(b), -1, -1, 0xC4, 0xC5, 0xC6, out)
        out += b
    elif isinstance(obj, ExtType):
        _pack_ext(obj, out)
    elif isinstance(obj, (list, tuple)):
        _len_header(len(obj), 0x90, 15, -1, 0xDC, 0xDD, out)
        for item in obj:
            _pack(item, out, depth + 1)
    elif isinstance(obj, dict):
        _len_header(len(obj), 0x80, 15, -1, 0xDE, 0xDF, out)
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(
                    f"plexus: dict keys in a stored object must be str, not "
                    f"{type(k).__name__} ({k!r}): other languages read objects as JSON"
                )
            _pack(k, out, depth + 1)
            _pack(v, out, depth + 1)
    else:
        raise TypeError(f"plexus: cannot store a {type(obj).__name__} inside an object")


def _pack_int(n: int, out: bytearray) -> None:
    if 0 <= n < 0x80:
        out.append(n)
    elif -32 <= n < 0:
        out += _b(n)
    elif n >= 0:
        if n < 0x100:
            out.append(0xCC)
            out += _B(n)
        elif n < 0x10000:
            out.append(0xCD)
            out += _H(n)
        elif n < 0x100000000:
            out.append(0xCE)
            out += _I(n)
        elif n < 0x10000000000000000:
            out.append(0xCF)
            out += _Q(n)
        else:
            raise OverflowError(f"plexus: int {n} does not fit in 64 bits")
    else:
        if n >= -0x80:
            out.append(0xD0)
            out += _b(n)
        elif n >= -0x8000:
            out.append(0xD1)
            out += _h(n)
        elif n >= -0x80000000:
            out.append(0xD2)
            out += _i(n)
        elif n >= -0x8000000000000000:
            out.append(0xD3)
            out += _q(n)
        else:
            raise OverflowError(f"plexus: int {n} does not fit in 64 bits")


def _pack_ext(e: ExtType, out: bytearray) -> None:
    if not -128 <= e.code <= 127:
        raise ValueError(f"plexus: ExtType code {e.code} is not in -128..127")
    data = bytes(e.data)
    n = len(data)
    fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
    if n in fixed:
        out.append(fixed[n])
    elif n < 0x100:
        out.append(0xC7)
        out += _B(n)
    elif n < 0x10000:
        out.append(0xC8)
        out += _H(n)
    elif n < 0x100000000:
        out.append(0xC9)
        out += _I(n)
    else:
        raise ValueError("plexus: ExtType data too large (>= 4 GiB)")
    out += _b(e.code)
    out += data


class _Reader:
    __slots__ = ("b", "p")

    def __init__(self, b: bytes) -> None:
        self.b = b
        self.p = 0

    def take(self, n: int) -> bytes:
        p = self.p
        if p + n > len(self.b):
            raise ValueError("plexus: truncated MessagePack object")
        self.p = p + n
        return self.b[p : p + n]

    def unpack(self, fmt: str, n: int) -> Any:
        return struct.unpack(fmt, self.take(n))[0]


def unpackb(data: bytes) -> Any:
    """The Python value of one MessagePack value (ValueError if malformed or followed by
    extra bytes)."""
    r = _Reader(bytes(data))
    obj = _unpack(r, 0)
    if r.p != len(r.b):
        raise ValueError(f"plexus: {len(r.b) - r.p} bytes after the MessagePack object")
    return obj


def _unpack(r: _Reader, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"plexus: object nests deeper than {MAX_DEPTH} levels")
    m = r.take(1)[0]
    if m <= 0x7F:
        return m
    if m >= 0xE0:
        return m - 0x100
    if 0x80 <= m <= 0x8F:
        return _map(r, m & 0x0F, depth)
    if 0x90 <= m <= 0x9F:
        return _array(r, m & 0x0F, depth)
    if 0xA0 <= m <= 0xBF:
        return _str(r.take(m & 0x1F))
    if m == 0xC0:
        return None
    if m == 0xC2:
        return False
    if m == 0xC3:
        return True
    if m in (0xC4, 0xC5, 0xC6):
        n = r.unpack({0xC4: ">B", 0xC5: ">H", 0xC6: ">I"}[m], {0xC4: 1, 0xC5: 2, 0xC6: 4}[m])
        return r.take(n)
    if m in (0xC7, 0xC8, 0xC9):
        n = r.unpack({0xC7: ">B", 0xC8: ">H", 0xC9: ">I"}[m], {0xC7: 1, 0xC8: 2, 0xC9: 4}[m])
        code = r.unpack(">b", 1)
        return ExtType(code, r.take(n))
    if m == 0xCA:
        return r.unpack(">f", 4)
    if m == 0xCB:
        return r.unpack(">d", 8)
    ints = {
        0xCC: (">B", 1),
        0xCD: (">H", 2),
        0xCE: (">I", 4),
        0xCF: (">Q", 8),
        0xD0: (">b", 1),
        0xD1: (">h", 2),
        0xD2: (">i", 4),
        0xD3: (">q", 8),
    }
    if m in ints:
        fmt, n = ints[m]
        return r.unpack(fmt, n)
    if 0xD4 <= m <= 0xD8:
        n = 1 << (m - 0xD4)
        code = r.unpack(">b", 1)
        return ExtType(code, r.take(n))
    if m in (0xD9, 0xDA, 0xDB):
        n = r.unpack({0xD9: ">B", 0xDA: ">H", 0xDB: ">I"}[m], {0xD9: 1, 0xDA: 2, 0xDB: 4}[m])
        return _str(r.take(n))
    if m in (0xDC, 0xDD):
        n = r.unpack(">H", 2) if m == 0xDC else r.unpack(">I", 4)
        return _array(r, n, depth)
    if m in (0xDE, 0xDF):
        n = r.unpack(">H", 2) if m == 0xDE else r.unpack(">I", 4)
        return _map(r, n, depth)
    raise ValueError(f"plexus: invalid MessagePack byte 0x{m:02x}")


def _str(b: bytes) -> str:
    return b.decode("utf-8")


def _array(r: _Reader, n: int, depth: int) -> List[Any]:
    return [_unpack(r, depth + 1) for _ in range(n)]


def _map(r: _Reader, n: int, depth: int) -> Dict[Any, Any]:
    d: Dict[Any, Any] = {}
    for _ in range(n):
        k = _unpack(r, depth + 1)
        if isinstance(k, list):
            k = _freeze(k)
        elif isinstance(k, dict):
            raise ValueError("plexus: an object has a map as a key (not representable in Python)")
        d[k] = _unpack(r, depth + 1)
    return d


def _freeze(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_freeze(i) for i in x)
    if isinstance(x, dict):
        raise ValueError("plexus: an object has a map as a key (not representable in Python)")
    return x
