"""Queues: bounded FIFO queues (or LIFO stacks) of values, with blocking push and pop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator, Iterable, Iterator, List

from . import _aio
from ._base import RegionObject
from ._errors import Closed
from ._plexus import Queue as _Queue
from ._plexus import timeout_seconds
from ._wait import TimeoutArg


class Queue(_Queue, RegionObject):
    """A bounded queue of values shared by every process of the region: FIFO, or a
    LIFO stack when opened with ``lifo=True``.

    :meth:`push` waits while the queue is full, :meth:`pop` while it is empty (timeouts
    in seconds: ``None`` or ``-1`` waits without limit, ``0`` tries once;
    :class:`plexus.Timeout` when it passes). :meth:`shutdown` ends the queue *for every
    process*: pushes then raise :class:`plexus.Closed`, pops return what is left and
    then raise :class:`plexus.Closed`; a queue stays shut down, but
    :meth:`plexus.Region.remove_object` and opening it again start it anew (every handle
    of the old queue, in every process, then raises :class:`plexus.Removed`, so each
    process learns to open it again). :meth:`push_many` and :meth:`pop_many` move many
    values in one call (a FIFO batch stays together). Iterating pops until then
    (``async for`` too)::

        for job in region.queue("work", 64):
            handle(job)

    :meth:`close` only gives back this handle (the queue, its values and other handles
    of it are untouched), as ``close()`` does for every plexus object. Open with
    :meth:`plexus.Region.queue`.
    """

    __slots__ = ()

    def __iter__(self) -> Iterator[Any]:
        """Pops values (waiting without limit) until the queue is shut down and empty."""
        while True:
            try:
                value = self.pop()
            except Closed:
                return
            yield value

    async def push_async(self, value: Any, timeout: TimeoutArg = None) -> None:
        """:meth:`push` without blocking the event loop (cancelled, it stored nothing)."""
        await _aio.poll(lambda: self.push(value, 0), timeout)

    async def pop_async(self, timeout: TimeoutArg = None) -> Any:
        """:meth:`pop` without blocking the event loop (cancelled, it took nothing)."""
        return await _aio.poll(lambda: self.pop(0), timeout)

    async def pop_many_async(self, max: int, timeout: TimeoutArg = None) -> List[Any]:
        """:meth:`pop_many` without blocking the event loop (cancelled, it took
        nothing)."""
        return await _aio.poll(lambda: self.pop_many(max, 0), timeout)

    async def push_many_async(self, values: Iterable[Any], timeout: TimeoutArg = None) -> None:
        """:meth:`push_many` without blocking the event loop. The batch stays together as
        with :meth:`push_many`: unless ``timeout`` is 0, it runs in a worker thread,
        where it keeps its place in the queue while it waits for room. Cancelled, it
        stops within :data:`plexus.SLICE`: a first part of the batch may have gone in,
        the rest does not."""
        values = list(values)
        if timeout_seconds(timeout) == 0:
            self.push_many(values, 0)
            return
        cancelled = threading.Event()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                None, lambda: self.push_many(values, timeout, _cancelled=cancelled.is_set)
            )
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def __aiter__(self) -> AsyncIterator[Any]:
        """``async for value in queue:`` pops until the queue is shut down and empty."""
        while True:
            try:
                value = await self.pop_async()
            except Closed:
                return
            yield value
