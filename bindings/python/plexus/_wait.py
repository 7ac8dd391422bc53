"""Timeouts in seconds, and blocking calls that Ctrl-C can interrupt.

Python runs signal handlers (KeyboardInterrupt included) in the main thread between
bytecodes, never while a C function runs. So a blocking plexus call is made in slices
of at most :data:`SLICE` seconds: each slice is one C call with a short timeout; between
slices control returns to Python, which raises KeyboardInterrupt (or runs any other
signal handler) there. The caller's overall deadline is kept. This is safe because
every blocking plexus call that ends with PLEXUS_TIMEOUT has changed nothing (no value
read or written, no lock or permit taken, a barrier arrival withdrawn), so calling it
again is the same as having waited longer in one call.

On a remote region (``redis://``) each slice is one C call too: it waits on the
server (``XREAD BLOCK``) for at most the slice, so Ctrl-C works the same way. A slice
gives the network at most its own length plus the library's reply margin (half a
second), not the region's ``timeout_ms``: when the server stalls longer than that in
the middle of a wait, the call raises :class:`plexus.Unavailable` (it is never retried
here, since a slice whose reply was lost may have taken a value).

As everywhere in Python, a KeyboardInterrupt can also arrive just *after* a call
succeeded (while its result is converted): a value taken by ``read_fe`` or ``pop`` is
then gone from shared memory without reaching the caller. Code that must not lose
values on Ctrl-C handles SIGINT itself (``signal.signal``) and stops between calls.
"""

from __future__ import annotations

import datetime
import math
import time
from typing import Callable, Optional, Union

from . import _lib

#: Longest single C call of a blocking operation, in seconds: the latency of Ctrl-C.
SLICE = 0.05
_SLICE_NS = int(SLICE * 1e9)

#: A timeout: seconds (int or float), a ``datetime.timedelta``, or ``None`` for
#: "without limit". ``0`` (or less) tries once.
TimeoutArg = Union[None, float, int, datetime.timedelta]

_NS_MAX = (1 << 63) - 1


def timeout_ns(timeout: TimeoutArg) -> int:
    """The C ``timeout_ns`` of a timeout in seconds: ``None`` and ``math.inf`` give
    PLEXUS_FOREVER (-1), ``<= 0`` gives 0 (try once), anything else whole nanoseconds
    rounded up (so a tiny positive timeout still waits). ValueError for NaN."""
    if timeout is None:
        return _lib.FOREVER
    if isinstance(timeout, datetime.timedelta):
        seconds = timeout.total_seconds()
    else:
        seconds = float(timeout)
    if math.isnan(seconds):
        raise ValueError("plexus: timeout is NaN")
    if seconds <= 0:
        return 0
    ns = seconds * 1e9
    if ns >= _NS_MAX:
        return _lib.FOREVER
    return max(1, math.ceil(ns))


def blocking(call: Callable[[int], int], timeout: TimeoutArg, retry: int = _lib.TIMEOUT) -> int:
    """Runs ``call(slice_ns)`` until it returns something other than ``retry`` (the
    status that means "not yet": PLEXUS_TIMEOUT, or PLEXUS_E_NOT_FOUND for a region
    that does not exist yet), or until ``timeout`` passes; returns the last status.
    KeyboardInterrupt and other signal handlers run between slices."""
    ns = timeout_ns(timeout)
    if 0 <= ns <= _SLICE_NS:
        return call(ns)
    deadline: Optional[int] = None if ns < 0 else time.monotonic_ns() + ns
    while True:
        if deadline is None:
            piece = _SLICE_NS
        else:
            piece = min(_SLICE_NS, max(0, deadline - time.monotonic_ns()))
        status = call(piece)
        if status != retry:
            return status
        if deadline is not None and time.monotonic_ns() >= deadline:
            return status
