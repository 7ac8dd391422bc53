"""Robust process-shared locks: Mutex, Barrier, Semaphore.

``Mutex.acquire`` and ``Semaphore.acquire`` follow ``threading``: they return ``False``
when the timeout passes (no exception), and ``with`` works (``async with`` too).
``Barrier.wait`` raises :class:`plexus.Timeout`, as ``threading.Barrier.wait`` raises
on a timeout.
"""

from __future__ import annotations

from typing import Optional

from . import _aio
from ._base import RegionObject
from ._errors import Timeout
from ._plexus import Barrier as _Barrier
from ._plexus import Mutex as _Mutex
from ._plexus import Semaphore as _Semaphore
from ._wait import TimeoutArg


class _Acquire:
    """``with``, ``async with`` and ``acquire_async`` over ``acquire``/``release``."""

    __slots__ = ()

    def _try(self) -> bool:
        if not self.acquire(False):  # type: ignore[attr-defined]
            raise Timeout("would block", Timeout.status)
        return True

    async def acquire_async(self, timeout: TimeoutArg = None) -> bool:
        """``acquire`` without blocking the event loop: ``True`` when acquired, ``False``
        when the timeout passed. (A mutex is then held by the event loop's thread.)"""
        try:
            return await _aio.poll(self._try, timeout)
        except Timeout:
            return False

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.acquire()  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: Optional[object]) -> None:
        self.release()  # type: ignore[attr-defined]

    async def __aenter__(self):  # type: ignore[no-untyped-def]
        await self.acquire_async()
        return self

    async def __aexit__(self, *exc: Optional[object]) -> None:
        self.release()  # type: ignore[attr-defined]


class Mutex(_Mutex, RegionObject, _Acquire):
    """A robust mutex shared by every thread of every process of the region.

    ``with mutex:`` locks and unlocks (waiting without limit); :meth:`acquire` takes a
    timeout and returns ``False`` when it passes. If the previous holder died holding
    it (or closed its region without unlocking), the next acquire still succeeds and
    sets :attr:`owner_died`: the data it protects may be half-updated::

        with region.mutex("accounts") as m:
            if m.owner_died:
                repair_accounts()
            ...

    Ownership is per thread: only the locking thread may release it, and the holder
    acquiring it again raises :class:`plexus.InvalidArgument` (not recursive). Open
    with :meth:`plexus.Region.mutex`.
    """

    __slots__ = ()


class Barrier(_Barrier, RegionObject):
    """``parties`` callers (processes or threads) meet: :meth:`wait` returns once all
    of them have called it in the current round; then the next round begins.

    A waiter whose timeout passes withdraws its arrival (as if it had never called)
    and gets :class:`plexus.Timeout`. Open with :meth:`plexus.Region.barrier`.
    """

    __slots__ = ()

    async def wait_async(self, timeout: TimeoutArg = None) -> bool:
        """:meth:`wait` without blocking the event loop (see :mod:`plexus._aio` for
        what cancelling it means)."""
        return await _aio.sliced(self.wait, timeout)


class Semaphore(_Semaphore, RegionObject, _Acquire):
    """``permits`` permits shared by every process of the region: :meth:`acquire`
    takes one (waiting while none is left), :meth:`release` gives one back; ``with``
    does both. Permits belong to the region handle that acquired them, and those of a
    process that dies come back. Open with :meth:`plexus.Region.semaphore`.
    """

    __slots__ = ()
