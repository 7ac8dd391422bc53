"""plexus: persistent, inter-language shared memory (a compiled extension over the engine).

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
holds). Timeouts are seconds: ``None`` or ``-1`` waits without limit, ``0`` tries
once; a wait that ends unsatisfied raises :class:`Timeout` (``Mutex.acquire`` and
``Semaphore.acquire`` return ``False`` instead, as in ``threading``). Failures raise a
subclass of :class:`Error`. Blocking calls release the GIL and wait in slices of 50 ms,
so other threads run and Ctrl-C (KeyboardInterrupt) interrupts them; each has an asyncio
twin (``await q.pop_async()``, ``async for v in q``, ...).

The engine is compiled into this package (``plexus._plexus``, built from the plexus
repository by ``pip install``); :data:`library_path` tells which file was loaded.
"""

from __future__ import annotations

import datetime
from typing import Tuple

try:
    from . import _plexus
except ImportError as e:  # pragma: no cover - a source tree without a build
    raise ImportError(
        "plexus: the compiled extension plexus._plexus is missing or cannot be loaded "
        f"({e}). Install the package (pip install ./bindings/python, which builds it with "
        "cargo), or build it into this source tree (`cargo test --test python` or "
        "`maturin develop` in bindings/python)."
    ) from e

from ._bus import MAX_TOPIC_LEN, Bus, Event, EventSubscription, Listener, Message, Subscription
from ._elements import Array, Change, Map
from . import _errors
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
    Removed,
    Timeout,
    TypeMismatch,
    Unavailable,
    Unsupported,
)
from ._errors import OwnerDead, ServiceError
from ._locks import Barrier, Mutex, Semaphore
from ._msgpack import ExtType
from ._observe import Observation
from ._queue import Queue
from ._service import Request, Service
from ._region import CheckReport, ObjectInfo, OpenMode, Region, RegionInfo
from ._tarray import TypedArray, has_numpy
from ._values import UNDEFINED, PyValue, from_json, same_value, to_json
from ._wait import SLICE, TimeoutArg

_plexus.setup(
    _errors.error_for,
    KeyNotFound,
    UNDEFINED,
    ExtType,
    Message,
    datetime.timedelta,
)

__version__: str = _plexus.__version__

#: The path of the compiled extension (the engine) this package loaded.
library_path: str = _plexus.__file__

#: Pass as a timeout to wait without limit (the same as ``None``).
FOREVER = None


def version() -> Tuple[int, int, int]:
    """The engine's version ``(major, minor, patch)``."""
    return _plexus.version()


def recovered_locks() -> int:
    """How many locks this process took over from owners that died holding them (plus
    semaphore permits taken back): nonzero means some process was killed in the middle
    of a plexus call and this one cleaned up after it."""
    return _plexus.recovered_locks()


__all__ = [
    "Array",
    "BadHandle",
    "Barrier",
    "BufferTooSmall",
    "Bus",
    "Event",
    "EventSubscription",
    "Listener",
    "MAX_TOPIC_LEN",
    "Change",
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
    "Map",
    "Message",
    "Mutex",
    "NoSpace",
    "NotFound",
    "Observation",
    "OpenMode",
    "OsError",
    "OutOfRange",
    "PermissionDenied",
    "PyValue",
    "Queue",
    "Region",
    "ObjectInfo",
    "RegionInfo",
    "RegionLost",
    "Removed",
    "SLICE",
    "Semaphore",
    "Subscription",
    "Timeout",
    "TimeoutArg",
    "TypeMismatch",
    "TypedArray",
    "UNDEFINED",
    "Unavailable",
    "Unsupported",
    "from_json",
    "has_numpy",
    "library_path",
    "recovered_locks",
    "same_value",
    "to_json",
    "version",
]
__all__ += ["OwnerDead", "Request", "Service", "ServiceError"]
