"""Arrays (indexed elements) and maps (string keys): every element holds one value, a
FULL/EMPTY tag and a 64-bit version.

The element calls (``x[i]``, ``read``, ``write``, ``read_fe``, ``faa``, ...) are the
compiled core's methods; this module adds the Python protocols (sequence, mapping,
``with x.rw(i)``) and the asyncio twins.
"""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, Iterator, List, MutableMapping, NamedTuple, Optional, Sequence, Tuple

from . import _aio, _observe
from ._base import RegionObject
from ._errors import KeyNotFound, OutOfRange, Timeout
from ._plexus import Array as _Array
from ._plexus import Map as _Map
from ._values import UNDEFINED
from ._wait import TimeoutArg


class _Twins:
    """The context manager and asyncio twins shared by Array and Map (``where`` is the
    index or the key)."""

    __slots__ = ()

    @contextlib.contextmanager
    def rw(self, where: Any, timeout: TimeoutArg = None) -> Iterator[Any]:
        """``with cells.rw(i) as value:`` — :meth:`read_rw` on entry, :meth:`release_rw`
        on exit."""
        value = self.read_rw(where, timeout)  # type: ignore[attr-defined]
        try:
            yield value
        finally:
            self.release_rw(where)  # type: ignore[attr-defined]

    async def read_fe_async(self, where: Any, timeout: TimeoutArg = None) -> Any:
        """``read_fe`` without blocking the event loop (see :mod:`plexus._aio`)."""
        return await _aio.element(self, where, lambda: self.read_fe(where, 0), timeout)  # type: ignore[attr-defined]

    async def read_ff_async(self, where: Any, timeout: TimeoutArg = None) -> Any:
        """``read_ff`` without blocking the event loop."""
        return await _aio.element(self, where, lambda: self.read_ff(where, 0), timeout)  # type: ignore[attr-defined]

    async def write_ef_async(self, where: Any, value: Any, timeout: TimeoutArg = None) -> None:
        """``write_ef`` without blocking the event loop (cancelled, it wrote nothing)."""
        await _aio.element(self, where, lambda: self.write_ef(where, value, 0), timeout)  # type: ignore[attr-defined]

    async def read_rw_async(self, where: Any, timeout: TimeoutArg = None) -> Any:
        """``read_rw`` without blocking the event loop."""
        return await _aio.element(self, where, lambda: self.read_rw(where, 0), timeout)  # type: ignore[attr-defined]

    async def wait_change_async(self, where: Any, version: int, timeout: TimeoutArg = None) -> int:
        """``wait_change`` without blocking the event loop."""
        return await _aio.element(
            self, where, lambda: self.wait_change(where, version, 0), timeout  # type: ignore[attr-defined]
        )

    def watch(self, where: Any, version: int = 0, timeout: TimeoutArg = None) -> Iterator[Tuple[int, Any]]:
        """``for version, value in x.watch(where):`` — the element's value with the
        version it belongs to, each time it changes: first the current one (from
        ``version=0``; a map key once present), then every new one, with the observer
        guarantee (every value that stayed longer than the loop body took is seen, the
        last one always; bursts are coalesced). ``timeout`` bounds each wait: when it
        passes the iteration ends. Ctrl-C interrupts the wait."""
        while True:
            try:
                version, value = self.watch_once(where, version, timeout)  # type: ignore[attr-defined]
            except Timeout:
                return
            yield version, value

    async def watch_async(
        self, where: Any, version: int = 0, timeout: TimeoutArg = None
    ) -> AsyncIterator[Tuple[int, Any]]:
        """``async for version, value in x.watch_async(where):`` — :meth:`watch` without
        blocking the event loop (the waits run in worker threads, in slices of
        :data:`plexus.SLICE`; cancelling loses nothing, since watching takes nothing)."""
        while True:
            seen = version
            try:
                version, value = await _aio.sliced(
                    lambda piece: self.watch_once(where, seen, piece), timeout  # type: ignore[attr-defined]
                )
            except Timeout:
                return
            yield version, value

    def observe(self, where: Any, callback: "_observe.Callback") -> "_observe.Observation":
        """Calls ``callback(value, version)`` for the element's current value (once
        there is one) and then for every new one, in the background: on one dispatcher
        thread per region, for all its observations (see :mod:`plexus._observe`).
        Returns an :class:`Observation`: ``.cancel()`` stops it (also usable as a
        context manager)."""
        return _observe.observe(self, where, callback)


class Array(_Array, RegionObject, _Twins, Sequence[Any]):
    """A fixed number of elements, each with a value, a FULL/EMPTY tag and a version.

    ``a[i]`` / ``a[i] = v`` are the plain :meth:`read` / :meth:`write` (tags ignored);
    the synchronized operations are methods (``a.read_fe(i)``, ``a.write_ef(i, v)``,
    ...), each with an asyncio twin (``await a.read_fe_async(i)``). Indices may be
    negative, as for lists. ``len(a)`` is the length (fixed at creation); iterating
    reads every element. Open with :meth:`plexus.Region.array`.
    """

    __slots__ = ()

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self.read(i)


class Change(NamedTuple):
    """One key changed after a map's change count (see :meth:`Map.changes_since`)."""

    key: str
    #: Its version now (0 when removed).
    version: int
    #: The map's change count at the key's last change.
    counter: int
    #: The change was the key's removal.
    removed: bool


class Map(_Map, RegionObject, _Twins, MutableMapping[str, Any]):
    """String keys, each an element like an array's (value, FULL/EMPTY tag, version).

    ``m[key]`` / ``m[key] = v`` / ``del m[key]`` are the plain :meth:`read`,
    :meth:`write` and :meth:`remove`; the synchronized operations are methods
    (``m.read_fe(key)``, ``m.write_ef(key, v)``, ...), each with an asyncio twin. An
    absent key behaves as an EMPTY element holding UNDEFINED: :meth:`read` returns
    :data:`plexus.UNDEFINED`, ``read_fe``/``read_ff`` wait for some process to insert
    it, writing calls insert it. ``m[key]`` raises :class:`plexus.KeyNotFound` (a
    ``KeyError``) for an absent key, so ``m.get(key, default)`` works. ``key in m``,
    ``len(m)`` and iteration (over the keys, in no particular order, safe while other
    processes insert and remove) see the keys present. The dict methods that combine
    calls (``pop``, ``setdefault``, ``update``, ``clear``, ...) are not atomic;
    :meth:`exchange`, :meth:`cas` and :meth:`faa` are. Open with
    :meth:`plexus.Region.map`.
    """

    __slots__ = ()

    def __iter__(self) -> Iterator[str]:
        cursor = 0
        while True:
            found = self._next_key(cursor)
            if found is None:
                return
            key, cursor = found
            yield key

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

    def changes_since(self, counter: int = 0) -> List[Change]:
        """The keys changed after the change count ``counter`` (see
        :meth:`change_count`), without their values: every key present whose last change
        came later (``counter=0``: every key present), and the removals since that the
        map still records (its last N, N = the capacity within 16..1024 rounded up to a
        power of two). :class:`plexus.OutOfRange` when older removals were dropped:
        list from 0 again. Read :meth:`change_count` first and pass it next time."""
        out: List[Change] = []
        cursor = 0
        while True:
            got, cursor = self._changes(counter, cursor, 256)
            if not got:
                return out
            out.extend(Change(*c) for c in got)

    def watch_map(self, since: int = 0, timeout: TimeoutArg = None) -> Iterator[Tuple[int, List[Change]]]:
        """``for counter, changes in m.watch_map():`` — the map's changes as they come:
        first everything since ``since`` (``0``: every key present), then, each time the
        change count moves, the keys changed since the last round (bursts coalesce into
        one round; no change is ever missed). When removals were dropped before they
        were listed, a round lists every key present again (as from 0). ``timeout``
        bounds each wait: when it passes the iteration ends."""
        while True:
            count, changes = self._round(since)
            if changes is not None:
                since = count
                yield count, changes
            try:
                self.wait_changes(count, timeout)
            except Timeout:
                return

    async def watch_map_async(
        self, since: int = 0, timeout: TimeoutArg = None
    ) -> AsyncIterator[Tuple[int, List[Change]]]:
        """``async for counter, changes in m.watch_map_async():`` — :meth:`watch_map`
        without blocking the event loop."""
        while True:
            count, changes = self._round(since)
            if changes is not None:
                since = count
                yield count, changes
            try:
                await _aio.sliced(lambda piece: self.wait_changes(count, piece), timeout)
            except Timeout:
                return

    def _round(self, since: int) -> Tuple[int, Optional[List[Change]]]:
        """One round of :meth:`watch_map`: the count now, and what changed since
        ``since`` (None when nothing did; every key present after dropped removals)."""
        count = self.change_count()
        if count == since:
            return count, None
        try:
            return count, self.changes_since(since)
        except OutOfRange:
            return count, self.changes_since(0)

    def clear(self) -> None:
        """Removes every key (not atomic: keys inserted meanwhile may stay)."""
        for key in list(self):
            try:
                self.remove(key)
            except KeyNotFound:
                pass
