"""Queues: bounded FIFO queues (or LIFO stacks) of values, with blocking push and pop."""

from __future__ import annotations

import ctypes
from typing import Any, Iterator

from . import _lib
from ._base import RegionObject, encode_name, shown
from ._errors import Closed, raise_for
from ._values import from_c, to_c
from ._wait import TimeoutArg, blocking

_byref = ctypes.byref


class Queue(RegionObject):
    """A bounded queue of values shared by every process of the region: FIFO, or a
    LIFO stack when opened with ``lifo=True``.

    :meth:`push` waits while the queue is full, :meth:`pop` while it is empty (timeouts
    in seconds: ``None`` waits without limit, ``0`` tries once; :class:`plexus.Timeout`
    when it passes). :meth:`shutdown` ends the queue *for every process*: pushes then
    raise :class:`plexus.Closed`, pops return what is left and then raise
    :class:`plexus.Closed`. Iterating pops until then::

        for job in region.queue("work", 64):
            handle(job)

    :meth:`close` only gives back this handle (the queue, its values and other handles
    of it are untouched), as ``close()`` does for every plexus object. Open with
    :meth:`plexus.Region.queue`.
    """

    _kind = "queue"

    def __init__(self, region: Any, name: str, capacity: int, flags: int) -> None:
        h = _lib.Queue()
        st = _lib.lib.plexus_queue_open(
            region._handle(), encode_name(name), capacity, flags, _byref(h)
        )
        if st:
            raise_for(st, f"queue {name!r} of region {shown(region.name)!r}")
        super().__init__(region, name, h, _lib.lib.plexus_queue_close)

    def push(self, value: Any, timeout: TimeoutArg = None) -> None:
        """Appends a copy of ``value``, waiting while the queue is full.
        :class:`plexus.Timeout` (full until the timeout) or :class:`plexus.Closed`
        (shut down): nothing was stored."""
        f, h = _lib.lib.plexus_queue_push, self._h
        v, keep = to_c(value)
        ref = _byref(v)
        st = blocking(lambda t: f(h, ref, t), timeout)
        del keep
        if st:
            raise_for(st, f"queue {self._name!r} push")

    def pop(self, timeout: TimeoutArg = None) -> Any:
        """Removes and returns the oldest value (the newest for a LIFO), waiting while
        the queue is empty. :class:`plexus.Timeout` (empty until the timeout) or
        :class:`plexus.Closed` (shut down and empty): nothing was removed."""
        f, h = _lib.lib.plexus_queue_pop, self._h
        out = _lib.Value()
        ref = _byref(out)
        st = blocking(lambda t: f(h, ref, t), timeout)
        if st:
            raise_for(st, f"queue {self._name!r} pop")
        return from_c(out)

    def __iter__(self) -> Iterator[Any]:
        """Pops values (waiting without limit) until the queue is shut down and empty."""
        while True:
            try:
                value = self.pop()
            except Closed:
                return
            yield value

    def shutdown(self) -> None:
        """Ends the queue for every process (see the class doc); wakes every waiting
        push and pop. Shutting down a shut-down queue does nothing; it stays shut down
        for good (it is part of the region). The handle stays valid."""
        st = _lib.lib.plexus_queue_shutdown(self._h)
        if st:
            raise_for(st, f"queue {self._name!r} shutdown")

    @property
    def is_shutdown(self) -> bool:
        """Whether :meth:`shutdown` was called (by any process)."""
        out = ctypes.c_bool()
        st = _lib.lib.plexus_queue_is_shutdown(self._h, _byref(out))
        if st:
            raise_for(st, f"queue {self._name!r} is_shutdown")
        return bool(out.value)

    def __len__(self) -> int:
        """The number of values in the queue (a snapshot)."""
        out = ctypes.c_uint64()
        st = _lib.lib.plexus_queue_len(self._h, _byref(out))
        if st:
            raise_for(st, f"queue {self._name!r} len")
        return out.value

    @property
    def capacity(self) -> int:
        """The maximum number of values (fixed at creation)."""
        out = ctypes.c_uint64()
        st = _lib.lib.plexus_queue_capacity(self._h, _byref(out))
        if st:
            raise_for(st, f"queue {self._name!r} capacity")
        return out.value

    def close(self) -> None:
        """Gives back this handle (idempotent): the queue and its values stay, for
        other handles and processes (ending the queue is :meth:`shutdown`); later calls
        through this object raise :class:`plexus.BadHandle`. Closing the region does it
        for every object."""
        self._give_back_handle()
