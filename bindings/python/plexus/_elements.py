"""Arrays (indexed elements) and maps (string keys): every element holds one value, a
FULL/EMPTY tag and a 64-bit version."""

from __future__ import annotations

import contextlib
import ctypes
import operator
from typing import Any, Iterator, List, MutableMapping, NoReturn, Sequence, Tuple, Union, overload

from . import _lib
from ._base import RegionObject, check_count, encode_name, shown
from ._errors import KeyNotFound, OutOfRange, raise_for
from ._values import UNDEFINED, from_c, to_c
from ._wait import TimeoutArg, blocking

_byref = ctypes.byref
_Value = _lib.Value

_OPS = (
    "read",
    "write",
    "read_fe",
    "read_ff",
    "write_ef",
    "write_xf",
    "write_xe",
    "set_tag",
    "is_full",
    "read_rw",
    "release_rw",
    "faa",
    "cas",
    "exchange",
    "version",
    "wait_change",
)


class _Fns:
    """The C functions of one element kind (``plexus_array_*`` or ``plexus_map_*``)."""

    def __init__(self, prefix: str) -> None:
        for op in _OPS:
            setattr(self, op, getattr(_lib.lib, f"{prefix}_{op}"))


class _Elements(RegionObject):
    """The element operations shared by :class:`Array` (int index) and :class:`Map`
    (str key). ``where`` is the index or the key."""

    _fn: Any

    def _c(self, where: Any) -> Any:  # the C argument for an index or key
        raise NotImplementedError

    def _fail(self, status: int, op: str, where: Any) -> NoReturn:
        raise_for(status, f"{self._kind} {self._name!r} {op}({where!r})")

    def _read_op(self, op: str, where: Any) -> Any:
        out = _Value()
        st = getattr(self._fn, op)(self._h, self._c(where), _byref(out))
        if st:
            self._fail(st, op, where)
        return from_c(out)

    def _blocking_read(self, op: str, where: Any, timeout: TimeoutArg) -> Any:
        f, h, c = getattr(self._fn, op), self._h, self._c(where)
        out = _Value()
        ref = _byref(out)
        st = blocking(lambda t: f(h, c, ref, t), timeout)
        if st:
            self._fail(st, op, where)
        return from_c(out)

    def _write_op(self, op: str, where: Any, value: Any) -> None:
        c = self._c(where)
        v, keep = to_c(value)
        st = getattr(self._fn, op)(self._h, c, _byref(v))
        del keep
        if st:
            self._fail(st, op, where)

    # ---- plain ---------------------------------------------------------------------

    def read(self, where: Any) -> Any:
        """The value, whatever the tag (the tag is unchanged). Atomic: never torn."""
        return self._read_op("read", where)

    def write(self, where: Any, value: Any) -> None:
        """Stores ``value``, whatever the tag (the tag is unchanged). Waits only while
        ``read_rw`` readers hold the element."""
        self._write_op("write", where, value)

    # ---- full/empty ----------------------------------------------------------------

    def read_fe(self, where: Any, timeout: TimeoutArg = None) -> Any:
        """Waits until FULL, reads, leaves EMPTY (consume). :class:`plexus.Timeout` if
        ``timeout`` seconds pass first (``None``: no limit, ``0``: try once)."""
        return self._blocking_read("read_fe", where, timeout)

    def read_ff(self, where: Any, timeout: TimeoutArg = None) -> Any:
        """Waits until FULL, reads, leaves FULL (peek). :class:`plexus.Timeout` if
        ``timeout`` passes first."""
        return self._blocking_read("read_ff", where, timeout)

    def write_ef(self, where: Any, value: Any, timeout: TimeoutArg = None) -> None:
        """Waits until EMPTY, writes, leaves FULL (produce). :class:`plexus.Timeout` if
        ``timeout`` passes first (nothing written)."""
        f, h, c = self._fn.write_ef, self._h, self._c(where)
        v, keep = to_c(value)
        ref = _byref(v)
        st = blocking(lambda t: f(h, c, ref, t), timeout)
        del keep
        if st:
            self._fail(st, "write_ef", where)

    def write_xf(self, where: Any, value: Any) -> None:
        """Writes and leaves FULL, whatever the tag was."""
        self._write_op("write_xf", where, value)

    def write_xe(self, where: Any, value: Any) -> None:
        """Writes and leaves EMPTY, whatever the tag was."""
        self._write_op("write_xe", where, value)

    def set_tag(self, where: Any, full: bool) -> None:
        """Sets the tag FULL (``True``) or EMPTY without touching the value."""
        st = self._fn.set_tag(self._h, self._c(where), bool(full))
        if st:
            self._fail(st, "set_tag", where)

    def is_full(self, where: Any) -> bool:
        """Whether the element is FULL (a snapshot)."""
        out = ctypes.c_bool()
        st = self._fn.is_full(self._h, self._c(where), _byref(out))
        if st:
            self._fail(st, "is_full", where)
        return bool(out.value)

    def read_rw(self, where: Any, timeout: TimeoutArg = None) -> Any:
        """Waits until FULL, reads, and takes a shared read lock: until
        :meth:`release_rw`, calls that would change the value or tag wait. Prefer
        ``with x.rw(where) as value:``."""
        return self._blocking_read("read_rw", where, timeout)

    def release_rw(self, where: Any) -> None:
        """Releases one ``read_rw`` lock taken through this region handle."""
        st = self._fn.release_rw(self._h, self._c(where))
        if st:
            self._fail(st, "release_rw", where)

    @contextlib.contextmanager
    def rw(self, where: Any, timeout: TimeoutArg = None) -> Iterator[Any]:
        """``with cells.rw(i) as value:`` — :meth:`read_rw` on entry, :meth:`release_rw`
        on exit."""
        value = self.read_rw(where, timeout)
        try:
            yield value
        finally:
            self.release_rw(where)

    # ---- atomics -------------------------------------------------------------------

    def faa(self, where: Any, delta: Any = 1) -> Any:
        """Atomically adds ``delta`` with JavaScript ``+`` semantics (int+int wraps at
        64 bits, a float makes a float, a str on either side concatenates, bytes+bytes
        concatenates, a fresh UNDEFINED element counts as 0 or ""); returns the previous
        value. The tag is unchanged. :class:`plexus.TypeMismatch` for other mixes."""
        c = self._c(where)
        d, keep = to_c(delta)
        old = _Value()
        st = self._fn.faa(self._h, c, _byref(d), _byref(old))
        del keep
        if st:
            self._fail(st, "faa", where)
        return from_c(old)

    def cas(self, where: Any, expected: Any, desired: Any) -> Any:
        """Atomically: if the value equals ``expected`` in type and value (INT 1 is
        neither FLOAT 1.0 nor ``True``; floats compare numerically, so ``-0.0`` equals
        ``0.0`` and NaN nothing), stores ``desired``. Returns the previous
        value either way: the swap happened when it equals ``expected``
        (:func:`plexus.same_value`). The tag is unchanged."""
        c = self._c(where)
        e, ke = to_c(expected)
        d, kd = to_c(desired)
        old = _Value()
        st = self._fn.cas(self._h, c, _byref(e), _byref(d), _byref(old))
        del ke, kd
        if st:
            self._fail(st, "cas", where)
        return from_c(old)

    def exchange(self, where: Any, value: Any) -> Any:
        """Atomically stores ``value`` and returns the previous one (tag unchanged)."""
        c = self._c(where)
        v, keep = to_c(value)
        old = _Value()
        st = self._fn.exchange(self._h, c, _byref(v), _byref(old))
        del keep
        if st:
            self._fail(st, "exchange", where)
        return from_c(old)

    # ---- versions ------------------------------------------------------------------

    def version(self, where: Any) -> int:
        """The element's version: bumped by every change of its value or tag."""
        out = ctypes.c_uint64()
        st = self._fn.version(self._h, self._c(where), _byref(out))
        if st:
            self._fail(st, "version", where)
        return out.value

    def wait_change(self, where: Any, version: int, timeout: TimeoutArg = None) -> int:
        """Waits until the version differs from ``version`` and returns the new one (at
        once if it already differs). :class:`plexus.Timeout` if ``timeout`` passes
        first. Watch an element with ``v = x.version(i)`` then ``v = x.wait_change(i, v)``
        in a loop."""
        f, h, c = self._fn.wait_change, self._h, self._c(where)
        ver = ctypes.c_uint64(check_count(version, "version"))
        ref = _byref(ver)
        st = blocking(lambda t: f(h, c, ref, t), timeout)
        if st:
            self._fail(st, "wait_change", where)
        return ver.value


class Array(_Elements, Sequence[Any]):
    """A fixed number of elements, each with a value, a FULL/EMPTY tag and a version.

    ``a[i]`` / ``a[i] = v`` are the plain :meth:`read` / :meth:`write` (tags ignored);
    the synchronized operations are methods (``a.read_fe(i)``, ``a.write_ef(i, v)``,
    ...). Indices may be negative, as for lists. ``len(a)`` is the length (fixed at
    creation); iterating reads every element. Open with :meth:`plexus.Region.array`.
    """

    _kind = "array"

    def __init__(self, region: Any, name: str, length: int, flags: int) -> None:
        h = _lib.Array()
        st = _lib.lib.plexus_array_open(
            region._handle(), encode_name(name), length, flags, _byref(h)
        )
        if st:
            raise_for(st, f"array {name!r} of region {shown(region.name)!r}")
        super().__init__(region, name, h, _lib.lib.plexus_array_close)
        n = ctypes.c_uint64()
        st = _lib.lib.plexus_array_len(h, _byref(n))
        if st:
            raise_for(st, f"array {name!r} length")
        self._length = n.value
        self._fn = _ARRAY_FNS

    def _c(self, i: Any) -> int:
        try:
            index = operator.index(i)
        except TypeError:
            raise TypeError(f"plexus: array indices must be int, not {type(i).__name__}") from None
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise OutOfRange(
                f"plexus: index {i} is out of range for array {self._name!r} "
                f"of length {self._length}",
                105,
            )
        return index

    def close(self) -> None:
        """Gives back this handle (the array stays in the region); later calls raise
        :class:`plexus.BadHandle`. Closing the region does it for every object."""
        self._give_back_handle()

    @property
    def length(self) -> int:
        """The number of elements (fixed at creation)."""
        return self._length

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, i: int) -> Any: ...

    @overload
    def __getitem__(self, i: slice) -> List[Any]: ...

    def __getitem__(self, i: Union[int, slice]) -> Any:
        if isinstance(i, slice):
            return [self.read(j) for j in range(*i.indices(self._length))]
        return self.read(i)

    def __setitem__(self, i: int, value: Any) -> None:
        if isinstance(i, slice):
            raise TypeError("plexus: arrays do not support slice assignment")
        self.write(i, value)

    def __iter__(self) -> Iterator[Any]:
        for i in range(self._length):
            yield self.read(i)


class Map(_Elements, MutableMapping[str, Any]):
    """String keys, each an element like an array's (value, FULL/EMPTY tag, version).

    ``m[key]`` / ``m[key] = v`` / ``del m[key]`` are the plain :meth:`read`,
    :meth:`write` and :meth:`remove`; the synchronized operations are methods
    (``m.read_fe(key)``, ``m.write_ef(key, v)``, ...). An absent key behaves as an
    EMPTY element holding UNDEFINED: :meth:`read` returns :data:`plexus.UNDEFINED`,
    ``read_fe``/``read_ff`` wait for some process to insert it, writing calls insert
    it. ``m[key]`` raises :class:`plexus.KeyNotFound` (a ``KeyError``) for an absent
    key, so ``m.get(key, default)`` works. ``key in m``, ``len(m)`` and iteration (over
    the keys, in no particular order, safe while other processes insert and remove)
    see the keys present. The dict methods that combine calls (``pop``, ``setdefault``,
    ``update``, ``clear``, ...) are not atomic; :meth:`exchange`, :meth:`cas` and
    :meth:`faa` are. Open with :meth:`plexus.Region.map`.
    """

    _kind = "map"

    def __init__(self, region: Any, name: str, capacity: int, flags: int) -> None:
        h = _lib.Map()
        st = _lib.lib.plexus_map_open(
            region._handle(), encode_name(name), capacity, flags, _byref(h)
        )
        if st:
            raise_for(st, f"map {name!r} of region {shown(region.name)!r}")
        super().__init__(region, name, h, _lib.lib.plexus_map_close)
        self._fn = _MAP_FNS

    def _c(self, key: Any) -> bytes:
        return encode_name(key, "map key")

    def close(self) -> None:
        """Gives back this handle (the map stays in the region); later calls raise
        :class:`plexus.BadHandle`. Closing the region does it for every object."""
        self._give_back_handle()

    @property
    def capacity(self) -> int:
        """The maximum number of keys (fixed at creation)."""
        out = ctypes.c_uint64()
        st = _lib.lib.plexus_map_capacity(self._h, _byref(out))
        if st:
            raise_for(st, f"map {self._name!r} capacity")
        return out.value

    def remove(self, key: str) -> None:
        """Removes ``key`` (waits while ``read_rw`` readers hold it) and wakes its
        waiters. :class:`plexus.KeyNotFound` if it is absent."""
        st = _lib.lib.plexus_map_remove(self._h, self._c(key))
        if st == _lib.E_NOT_FOUND:
            raise KeyNotFound(f"map {self._name!r}: no key {key!r}", st)
        if st:
            self._fail(st, "remove", key)

    def __getitem__(self, key: str) -> Any:
        value = self.read(key)
        if value is UNDEFINED and self.version(key) == 0:
            raise KeyNotFound(f"map {self._name!r}: no key {key!r}", _lib.E_NOT_FOUND)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self.write(key, value)

    def __delitem__(self, key: str) -> None:
        self.remove(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return self.version(key) != 0

    def __len__(self) -> int:
        out = ctypes.c_uint64()
        st = _lib.lib.plexus_map_len(self._h, _byref(out))
        if st:
            raise_for(st, f"map {self._name!r} len")
        return out.value

    def __iter__(self) -> Iterator[str]:
        f, h = _lib.lib.plexus_map_next_key, self._h
        cursor = ctypes.c_uint64(0)
        out = _Value()
        cref, oref = _byref(cursor), _byref(out)
        while True:
            st = f(h, cref, oref)
            if st == _lib.E_NOT_FOUND:
                return
            if st:
                raise_for(st, f"map {self._name!r} next_key")
            yield from_c(out)

    def keys(self) -> List[str]:  # type: ignore[override]
        """The keys present (a list: a snapshot, in no particular order)."""
        return list(self)

    def items(self) -> List[Tuple[str, Any]]:  # type: ignore[override]
        """``(key, value)`` for the keys present (a list: a snapshot; keys removed while
        it is taken are left out)."""
        result = []
        for key in self:
            value = self.read(key)
            if value is UNDEFINED and self.version(key) == 0:
                continue
            result.append((key, value))
        return result

    def values(self) -> List[Any]:  # type: ignore[override]
        """The values of the keys present (a list: a snapshot)."""
        return [v for _, v in self.items()]

    def clear(self) -> None:
        """Removes every key (not atomic: keys inserted meanwhile may stay)."""
        for key in list(self):
            try:
                self.remove(key)
            except KeyNotFound:
                pass


_ARRAY_FNS = _Fns("plexus_array")
_MAP_FNS = _Fns("plexus_map")
