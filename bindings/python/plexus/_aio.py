"""The asyncio twins of the blocking calls (``await q.pop_async()``, ...).

None of them blocks the event loop, and cancelling one never loses a value: the value is
only ever taken by a non-blocking try made in the coroutine itself (``timeout=0``),
never by a thread that could finish taking it after the coroutine was cancelled.
Between tries the coroutine waits without taking anything:

- for array and map elements, in a worker thread, on the element's version
  (``wait_change``, in slices of :data:`plexus.SLICE`): it wakes as soon as the element
  changes;
- for queues, subscriptions, mutexes, semaphores and typed array blocks (whose waits
  take what they wait for), by sleeping on the event loop, from 0.5 ms doubling up to
  5 ms: an awaiting ``pop_async`` notices a value within 5 ms.

``Queue.push_many_async`` is the exception: a batch keeps its place in the queue while
it waits for room, so it waits in a worker thread, which checks for cancellation every
:data:`plexus.SLICE` (a cancelled batch push may have pushed a first part).

The waits that take nothing (``wait_object``, ``Barrier.wait``, ``TypedArray.wait``)
run in a worker thread in slices. A cancelled ``Barrier.wait_async`` withdraws its arrival at the end of the
slice in progress (at most :data:`plexus.SLICE` later); if the other parties arrived
meanwhile, the round completed with it.

On a remote region each try is one request to the server, made from the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional, TypeVar

from ._errors import Timeout
from ._plexus import SLICE, timeout_seconds

T = TypeVar("T")

#: First and longest sleep between two tries of a wait without a readiness signal.
POLL_FIRST = 0.0005
POLL_MAX = 0.005


class _Clock:
    def __init__(self, timeout: Any) -> None:
        limit = timeout_seconds(timeout)  # the blocking call's checks and errors
        self.loop = asyncio.get_running_loop()
        self.deadline = None if limit is None else self.loop.time() + limit

    def left(self) -> Optional[float]:
        """Seconds left (None: no limit)."""
        return None if self.deadline is None else self.deadline - self.loop.time()


async def poll(attempt: Callable[[], T], timeout: Any) -> T:
    """``attempt()`` (a try that raises :class:`plexus.Timeout` when it would block)
    until it succeeds or ``timeout`` passes, sleeping on the event loop between tries."""
    clock = _Clock(timeout)
    delay = POLL_FIRST
    while True:
        try:
            return attempt()
        except Timeout:
            left = clock.left()
            if left is not None and left <= 0:
                raise
        await asyncio.sleep(delay if left is None else min(delay, left))
        delay = min(delay * 2, POLL_MAX)


def _changed(x: Any, where: Any, seen: int, piece: float) -> None:
    try:
        x.wait_change(where, seen, piece)
    except Timeout:
        pass


async def element(x: Any, where: Any, attempt: Callable[[], T], timeout: Any) -> T:
    """``attempt()`` on an element until it succeeds or ``timeout`` passes; between
    tries a worker thread waits for the element's version to move."""
    clock = _Clock(timeout)
    while True:
        seen = x.version(where)
        try:
            return attempt()
        except Timeout:
            left = clock.left()
            if left is not None and left <= 0:
                raise
        piece = SLICE if left is None else min(SLICE, left)
        await clock.loop.run_in_executor(None, _changed, x, where, seen, piece)


async def sliced(call: Callable[[float], T], timeout: Any) -> T:
    """``call(piece)`` (a wait that takes nothing, raising :class:`plexus.Timeout` when
    ``piece`` seconds pass) in a worker thread, slice after slice, until it returns or
    ``timeout`` passes."""
    clock = _Clock(timeout)
    while True:
        left = clock.left()
        piece = SLICE if left is None else max(0.0, min(SLICE, left))
        try:
            return await clock.loop.run_in_executor(None, call, piece)
        except Timeout:
            left = clock.left()
            if left is not None and left <= 0:
                raise
