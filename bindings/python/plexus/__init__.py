"""plexus: persistent, inter-language shared memory (Python binding over ctypes).

Processes written in Python, C, C++, Rust, Node... open the same named *region* and
share typed values, full/empty synchronized cells, queues, a broadcast bus and robust
locks, with no server process::

    import plexus

    with plexus.Region("demo") as region:            # /dev/shm/plexus.demo
        cells = region.array("cells", 4)              # 4 EMPTY elements
        cells.write_ef(0, "hello")                    # wait EMPTY, write, leave FULL
        print(cells.read_fe(0, timeout=1.0))          # wait FULL (1 s max), read, leave EMPTY
        jobs = region.map("jobs", 100)
        jobs["a"] = {"id": 1, "tags": ["x"]}          # dict/list: stored as OBJECT
        jobs.faa("count", 1)                          # atomic += (JavaScript '+')
    plexus.Region.remove("demo")

Values: ``None`` (NULL), ``bool``, ``int`` (64-bit), ``float``, ``str``, ``bytes``,
``dict``/``list`` (OBJECT, as MessagePack), and :data:`UNDEFINED` (what a fresh element
holds). Timeouts are seconds: ``None`` waits without limit, ``0`` tries once; a wait
that ends unsatisfied raises :class:`Timeout` (``Mutex.acquire`` and
``Semaphore.acquire`` return ``False`` instead, as in ``threading``). Failures raise a
subclass of :class:`Error`. Blocking calls wait in slices of 50 ms, so Ctrl-C
(KeyboardInterrupt) interrupts them.

The shared library is found through ``$PLEXUS_LIBRARY``, next to this package, in the
cargo target directories above it, or on the system search path (see
:mod:`plexus._lib`); :data:`library_path` tells which one was loaded.
"""

from __future__ import annotations

from typing import Tuple

from . import _lib
from ._bus import Bus, Message, Subscription
from ._elements import Array, Map
from ._errors import (
    BadHandle,
    BufferTooSmall,
    Closed,
    Corrupt,
    Error,
    Exists,
    Incompatible,
    InternalError,
    InvalidArgument,
    KeyNotFound,
    NoSpace,
    NotFound,
    OsError,
    OutOfRange,
    PermissionDenied,
    RegionLost,
    Timeout,
    TypeMismatch,
    Unavailable,
    Unsupported,
)
from ._lib import LibraryNotFound
from ._locks import Barrier, Mutex, Semaphore
from ._msgpack import ExtType
from ._queue import Queue
from ._region import CheckReport, OpenMode, Region, RegionInfo
from ._values import UNDEFINED, PyValue, from_json, same_value, to_json
from ._wait import SLICE, TimeoutArg

__version__ = "0.2.0"

#: The path of the shared library this package loaded.
library_path: str = _lib.path

#: Pass as a timeout to wait without limit (the same as ``None``).
FOREVER = None


def version() -> Tuple[int, int, int]:
    """The loaded library's version ``(major, minor, patch)`` (``plexus_version()``)."""
    return _lib.version


def recovered_locks() -> int:
    """How many locks this process took over from owners that died holding them (plus
    semaphore permits taken back): nonzero means some process was killed in the middle
    of a plexus call and this one cleaned up after it."""
    return int(_lib.lib.plexus_recovered_locks())


__all__ = [
    "Array",
    "BadHandle",
    "Barrier",
    "BufferTooSmall",
    "Bus",
    "CheckReport",
    "Closed",
    "Corrupt",
    "Error",
    "Exists",
    "ExtType",
    "FOREVER",
    "Incompatible",
    "InternalError",
    "InvalidArgument",
    "KeyNotFound",
    "LibraryNotFound",
    "Map",
    "Message",
    "Mutex",
    "NoSpace",
    "NotFound",
    "OpenMode",
    "OsError",
    "OutOfRange",
    "PermissionDenied",
    "PyValue",
    "Queue",
    "Region",
    "RegionInfo",
    "RegionLost",
    "SLICE",
    "Semaphore",
    "Subscription",
    "Timeout",
    "TimeoutArg",
    "TypeMismatch",
    "UNDEFINED",
    "Unavailable",
    "Unsupported",
    "from_json",
    "library_path",
    "recovered_locks",
    "same_value",
    "to_json",
    "version",
]
