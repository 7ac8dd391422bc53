"""Regions: a named shared-memory file (or a remote region) that holds named objects."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

from . import _aio
from ._bus import Bus
from ._elements import Array, Map
from ._errors import NotFound, Timeout
from ._locks import Barrier, Mutex, Semaphore
from ._plexus import Region as _Region
from ._plexus import check as _check
from ._queue import Queue
from ._tarray import TypedArray
from ._service import Service
from ._wait import TimeoutArg


class OpenMode(enum.IntEnum):
    """How :class:`Region` treats an existing or missing region (``mode=``; the
    lower-case strings ``"open_or_create"``, ``"create"``, ``"open"``, ``"recreate"``
    work too)."""

    #: Open it if it exists, else create it (the default).
    OPEN_OR_CREATE = 0
    #: Create it; :class:`plexus.Exists` if it exists.
    CREATE = 1
    #: Open an existing region, waiting up to ``wait`` seconds for it to appear
    #: (:class:`plexus.NotFound` after that).
    OPEN = 2
    #: Remove any existing region of that name first, then create it.
    RECREATE = 3


@dataclass(frozen=True)
class RegionInfo:
    """Statistics of a region (:meth:`Region.info`)."""

    size: int  #: size of the region file in bytes
    heap_size: int  #: bytes of the heap (object bodies, strings, bytes, objects)
    heap_used: int  #: heap bytes in use
    heap_free: int  #: heap_size - heap_used
    object_count: int  #: named objects in the region
    attached_processes: int  #: live attachments (open region handles, all processes)
    format_version: int  #: the region's format version
    region_id: int  #: random id chosen at creation: equal ids, same region
    created_unix_ns: int  #: creation time, nanoseconds since the Unix epoch


@dataclass(frozen=True)
class ObjectInfo:
    """One named object of a region (:meth:`Region.objects`)."""

    name: str  #: its name
    #: ``"array"``, ``"map"``, ``"queue"``, ``"stack"``, ``"bus"``, ``"mutex"``,
    #: ``"barrier"`` or ``"semaphore"``
    kind: str
    shape: int  #: length, capacity, parties or permits (1 for a mutex)


@dataclass(frozen=True)
class CheckReport:
    """What :meth:`Region.check` found (after the repair, with ``repair=True``)."""

    #: ``"consistent"``, ``"reclaimable"`` (only leaked heap blocks and stale entries of
    #: dead processes: what ``kill -9`` leaves; ``repair=True`` reclaims them) or
    #: ``"corrupt"`` (``text`` says what and where)
    verdict: str
    live_processes: int  #: live processes attached (the check is exact when 0)
    dead_processes: int  #: processes recorded as attached that are dead
    dead_locks: int  #: locks held by dead processes
    leaked_blocks: int  #: heap blocks nothing references
    leaked_bytes: int  #: their bytes
    stale_entries: int  #: stale entries of dead processes
    problems: int  #: damage found (non-zero exactly when corrupt)
    repairs: int  #: repair actions taken
    repair_skipped: bool  #: leaks left alone (another process attached, or corrupt)
    heap_used: int  #: heap bytes in allocated blocks, counted by walking the heap
    text: str  #: the human-readable report, one finding per line

    @property
    def consistent(self) -> bool:
        return self.verdict == "consistent"


def _name_arg(name: Union[str, "os.PathLike[str]"]) -> str:
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str):
        raise TypeError(f"plexus: region name must be str or a path, not {type(name).__name__}")
    return name


def _flags(full: bool = False, exclusive: bool = False, lifo: bool = False) -> int:
    return (1 if full else 0) | (2 if exclusive else 0) | (4 if lifo else 0)


class Region(_Region):
    """An open region: ``Region("jobs")`` is the volatile region ``/dev/shm/plexus.jobs``;
    a name containing ``/`` (or a ``pathlib.Path``) is a persistent file at that path;
    ``redis://[user:password@]host[:port]/NAME[?db=N&lease_ms=N&timeout_ms=N]`` (or
    ``rediss://`` for TLS) is a remote region on a Redis server, shared by processes on
    many machines with the same calls and meaning (``size`` and ``permissions`` do not
    apply to it; see docs/remote.md). Remote calls can also raise
    :class:`plexus.Unavailable` (the server did not answer in time) and
    :class:`plexus.RegionLost` (the region's state vanished from the server); a password
    in the name never appears in messages or ``repr``.

    ``mode`` (:class:`OpenMode` or its lower-case name) says what to do when it exists
    or not; ``size`` (bytes, when creating; 0 = 64 MiB) and ``permissions`` (file mode,
    when creating; 0 = 0o600) apply to creation; ``wait`` (seconds, ``None`` or ``-1`` =
    without limit) is how long ``mode="open"`` waits for the region to appear.

    Objects are opened through the region: :meth:`array`, :meth:`map`, :meth:`queue`,
    :meth:`bus`, :meth:`mutex`, :meth:`barrier`, :meth:`semaphore`. For each, a size of
    0 opens an existing object only (:class:`plexus.NotFound` if absent); a nonzero size
    creates it if missing and must equal the existing one's otherwise
    (:class:`plexus.Incompatible`).

    A context manager: ``with plexus.Region("jobs") as r:`` closes it on exit.
    :meth:`close` closes the handle and every object opened through it (the region
    itself stays until :meth:`remove`). Handles do not survive ``fork()``: a child
    process (``multiprocessing`` with the fork start method included) opens the region
    again.
    """

    __slots__ = ()

    def __new__(
        cls,
        name: Union[str, "os.PathLike[str]"],
        *,
        mode: Union[OpenMode, str] = OpenMode.OPEN_OR_CREATE,
        size: int = 0,
        permissions: int = 0,
        wait: TimeoutArg = 0,
    ) -> "Region":
        name = _name_arg(name)
        if isinstance(mode, str):
            try:
                mode = OpenMode[mode.upper()]
            except KeyError:
                raise ValueError(
                    f"plexus: unknown mode {mode!r} (open_or_create, create, open, recreate)"
                ) from None
        return super().__new__(cls, name, int(OpenMode(mode)), size, permissions, wait)

    @classmethod
    async def open_async(
        cls, name: Union[str, "os.PathLike[str]"], wait: TimeoutArg = None, **options: Any
    ) -> "Region":
        """``Region(name, mode="open", wait=wait)`` without blocking the event loop."""

        def attempt(piece: float) -> "Region":
            try:
                return cls(name, mode=OpenMode.OPEN, wait=piece, **options)
            except NotFound as e:
                raise Timeout(str(e), Timeout.status) from None

        try:
            return await _aio.sliced(attempt, wait)
        except Timeout as e:
            raise NotFound(str(e), NotFound.status) from None

    def __enter__(self) -> "Region":
        return self

    def __exit__(self, *exc: Optional[object]) -> None:
        self.close()

    def info(self) -> RegionInfo:
        """Size, heap use, object count, live attachments, format version, id."""
        return RegionInfo(*self._info())

    def objects(self) -> List[ObjectInfo]:
        """The region's named objects, sorted by name: each object that exists
        throughout the call once, whatever other processes create meanwhile."""
        found: List[ObjectInfo] = []
        cursor = 0
        while True:
            step = self._next_object(cursor)
            if step is None:
                return sorted(found, key=lambda o: o.name)
            cursor, name, kind, shape = step
            found.append(ObjectInfo(name, kind, shape))

    @property
    def size(self) -> int:
        """The size of the region file in bytes."""
        return self.info().size

    async def wait_object_async(self, name: str, timeout: TimeoutArg = None) -> None:
        """:meth:`wait_object` without blocking the event loop."""
        await _aio.sliced(lambda piece: self.wait_object(name, piece), timeout)

    def remove_object(self, name: str, missing_ok: bool = False) -> None:
        """Removes the object ``name`` (of any kind) for every process: every handle of
        it, in every process, raises :class:`plexus.Removed` from its next call
        (``close()`` still works), and calls blocked in it (a ``pop``, a ``read_fe``, a
        subscriber's ``next``, ...) wake with it. The name is free at once: opening it
        with a size creates a new object of any kind. Its memory is reclaimed once no
        process can still be reading it. A queue or bus that was shut down starts again
        this way: remove it, then open it again with its capacity.
        :class:`plexus.NotFound` if no object has that name, unless ``missing_ok``;
        :class:`plexus.Removed` if the region itself was removed."""
        if not isinstance(name, str):
            raise TypeError(f"plexus: object name must be str, not {type(name).__name__}")
        self._remove_object(name, bool(missing_ok))

    @staticmethod
    def remove(name: Union[str, "os.PathLike[str]"], missing_ok: bool = False) -> None:
        """Removes the region ``name``: every handle of it, in every process, raises
        :class:`plexus.Removed` from its next call, and calls blocked in it wake with
        it. :class:`plexus.NotFound` if absent, unless ``missing_ok``. A local region's
        file is unlinked; a remote region's keys are deleted from the server."""
        _Region._remove(_name_arg(name), bool(missing_ok))

    @staticmethod
    def check(name: Union[str, "os.PathLike[str]"], repair: bool = False) -> CheckReport:
        """Checks the region ``name`` without opening it: validates every structure,
        counts dead processes, their locks, leaked heap blocks and stale entries. Only
        reads, unless ``repair``: then stale entries of dead processes are cleaned up,
        and leaked blocks are reclaimed when no other process is attached (never in a
        corrupt region). A damaged region is a result (``verdict == "corrupt"``), not an
        exception; :class:`plexus.NotFound` if absent."""
        return CheckReport(*_check(_name_arg(name), bool(repair)))

    # ---- objects -------------------------------------------------------------------

    def array(
        self, name: str, length: int = 0, *, full: bool = False, exclusive: bool = False
    ) -> Array:
        """The array ``name`` of ``length`` elements, created if missing (elements hold
        UNDEFINED, EMPTY, or FULL with ``full=True``). ``length=0`` opens an existing
        one. ``exclusive=True``: :class:`plexus.Exists` if it exists."""
        return Array(self, name, length, _flags(full=full, exclusive=exclusive))

    def map(
        self,
        name: str,
        capacity: int = 0,
        *,
        full: bool = False,
        exclusive: bool = False,
        initial: Optional[Dict[str, Any]] = None,
    ) -> Map:
        """The map ``name`` of up to ``capacity`` keys, created if missing (keys
        inserted later start EMPTY, or FULL with ``full=True``, the creator's choice).
        ``capacity=0`` opens an existing one. ``initial`` (a dict of str keys) is stored,
        every key FULL at version 1, if and only if this call creates the map: atomically
        (no process sees the map without it; of several processes creating it at once,
        exactly one's data is stored). More keys than ``capacity``:
        :class:`plexus.NoSpace`."""
        return Map(self, name, capacity, _flags(full=full, exclusive=exclusive), initial)

    def queue(
        self, name: str, capacity: int = 0, *, lifo: bool = False, exclusive: bool = False
    ) -> Queue:
        """The queue ``name`` of up to ``capacity`` values, created if missing: FIFO,
        or a LIFO stack with ``lifo=True``. ``capacity=0`` opens an existing one."""
        return Queue(self, name, capacity, _flags(lifo=lifo, exclusive=exclusive))

    def bus(self, name: str, capacity: int = 0, *, exclusive: bool = False) -> Bus:
        """The bus ``name`` retaining the last ``capacity`` messages, created if
        missing. ``capacity=0`` opens an existing one."""
        return Bus(self, name, capacity, _flags(exclusive=exclusive))

    def mutex(self, name: str) -> Mutex:
        """The mutex ``name``, created (unlocked) if missing."""
        return Mutex(self, name)

    def barrier(self, name: str, parties: int = 0) -> Barrier:
        """The barrier ``name`` for ``parties`` parties, created if missing.
        ``parties=0`` opens an existing one."""
        return Barrier(self, name, parties)

    def semaphore(self, name: str, permits: int = 0) -> Semaphore:
        """The semaphore ``name`` with ``permits`` permits, created if missing.
        ``permits=0`` opens an existing one."""
        return Semaphore(self, name, permits)

    def tarray(
        self,
        name: str,
        dtype: Optional[str] = None,
        length: int = 0,
        *,
        block_len: int = 0,
        full: bool = False,
        exclusive: bool = False,
    ) -> TypedArray:
        """The typed array ``name`` of ``length`` numbers of ``dtype`` ("i8", "u8",
        "i16", "u16", "i32", "u32", "i64", "u64", "f32", "f64", or numpy's names),
        created zero-filled if missing, in blocks of ``block_len`` elements (0: one
        block), all EMPTY (FULL with ``full=True``). ``length=0`` opens an existing one
        (``dtype=None``: whatever its dtype). An existing array must have the same dtype,
        length and block length (:class:`plexus.Incompatible`)."""
        return TypedArray(self, name, dtype, length, block_len, _flags(full=full, exclusive=exclusive))
    def service(self, name: str, capacity: int = 0, *, exclusive: bool = False) -> Service:
        """The service ``name`` with room for ``capacity`` pending requests, created if
        missing. ``capacity=0`` opens an existing one."""
        return Service(self, name, capacity, _flags(exclusive=exclusive))


__all__ = ["CheckReport", "OpenMode", "Region", "RegionInfo"]
