"""Robust process-shared locks: Mutex, Barrier, Semaphore.

``Mutex.acquire`` and ``Semaphore.acquire`` follow ``threading``: they return ``False``
when the timeout passes (no exception), and ``with`` works. ``Barrier.wait`` raises
:class:`plexus.Timeout`, as ``threading.Barrier.wait`` raises on a timeout.
"""

from __future__ import annotations

import ctypes
from typing import Any, Optional

from . import _lib
from ._base import RegionObject, encode_name, shown
from ._errors import raise_for
from ._wait import TimeoutArg
from ._wait import blocking as _blocking

_byref = ctypes.byref


def _lock_timeout(blocking_: bool, timeout: TimeoutArg) -> TimeoutArg:
    if not blocking_:
        if timeout is not None:
            raise ValueError("plexus: can't specify a timeout for a non-blocking call")
        return 0
    return timeout


class Mutex(RegionObject):
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

    _kind = "mutex"

    def __init__(self, region: Any, name: str) -> None:
        h = _lib.Mutex()
        st = _lib.lib.plexus_mutex_open(region._handle(), encode_name(name), _byref(h))
        if st:
            raise_for(st, f"mutex {name!r} of region {shown(region.name)!r}")
        super().__init__(region, name, h, _lib.lib.plexus_mutex_close)
        #: Whether the last successful acquire through this object took the mutex over
        #: from a holder that died holding it (PLEXUS_OWNER_DEAD).
        self.owner_died = False

    def acquire(self, blocking: bool = True, timeout: TimeoutArg = None) -> bool:
        """Locks it for the calling thread, waiting up to ``timeout`` seconds (``None``:
        without limit; ``blocking=False`` or ``0``: try once). Returns ``True`` when
        locked (see :attr:`owner_died`), ``False`` when the timeout passed."""
        t = _lock_timeout(blocking, timeout)
        f, h = _lib.lib.plexus_mutex_lock, self._h
        st = _blocking(lambda ns: f(h, ns), t)
        if st == _lib.TIMEOUT:
            return False
        if st not in (_lib.OK, _lib.OWNER_DEAD):
            raise_for(st, f"mutex {self._name!r} acquire")
        self.owner_died = st == _lib.OWNER_DEAD
        return True

    def release(self) -> None:
        """Unlocks it; the calling thread must hold it (else
        :class:`plexus.InvalidArgument`)."""
        st = _lib.lib.plexus_mutex_unlock(self._h)
        if st:
            raise_for(st, f"mutex {self._name!r} release")

    def locked(self) -> bool:
        """Whether anyone holds it (a snapshot)."""
        out = ctypes.c_bool()
        st = _lib.lib.plexus_mutex_is_locked(self._h, _byref(out))
        if st:
            raise_for(st, f"mutex {self._name!r} locked")
        return bool(out.value)

    def __enter__(self) -> "Mutex":
        self.acquire()
        return self

    def __exit__(self, *exc: Optional[object]) -> None:
        self.release()

    def close(self) -> None:
        """Gives back this handle (does not unlock; the mutex stays in the region)."""
        self._give_back_handle()


class Barrier(RegionObject):
    """``parties`` callers (processes or threads) meet: :meth:`wait` returns once all
    of them have called it in the current round; then the next round begins.

    A waiter whose timeout passes withdraws its arrival (as if it had never called)
    and gets :class:`plexus.Timeout`. Open with :meth:`plexus.Region.barrier`.
    """

    _kind = "barrier"

    def __init__(self, region: Any, name: str, parties: int) -> None:
        h = _lib.Barrier()
        st = _lib.lib.plexus_barrier_open(region._handle(), encode_name(name), parties, _byref(h))
        if st:
            raise_for(st, f"barrier {name!r} of region {shown(region.name)!r}")
        super().__init__(region, name, h, _lib.lib.plexus_barrier_close)

    def wait(self, timeout: TimeoutArg = None) -> bool:
        """Arrives and waits for the others. Returns ``True`` for exactly one party of
        each round (the last to arrive), ``False`` for the others.
        :class:`plexus.Timeout` if ``timeout`` passes first (the arrival is
        withdrawn)."""
        f, h = _lib.lib.plexus_barrier_wait_last, self._h
        last = ctypes.c_bool()
        ref = _byref(last)
        st = _blocking(lambda ns: f(h, ns, ref), timeout)
        if st:
            raise_for(st, f"barrier {self._name!r} wait")
        return bool(last.value)

    @property
    def parties(self) -> int:
        """The number of parties (fixed at creation)."""
        out = ctypes.c_uint32()
        st = _lib.lib.plexus_barrier_parties(self._h, _byref(out))
        if st:
            raise_for(st, f"barrier {self._name!r} parties")
        return out.value

    def close(self) -> None:
        """Gives back this handle (the barrier stays in the region)."""
        self._give_back_handle()


class Semaphore(RegionObject):
    """``permits`` permits shared by every process of the region: :meth:`acquire`
    takes one (waiting while none is left), :meth:`release` gives one back; ``with``
    does both. Permits belong to the region handle that acquired them, and those of a
    process that dies come back. Open with :meth:`plexus.Region.semaphore`.
    """

    _kind = "semaphore"

    def __init__(self, region: Any, name: str, permits: int) -> None:
        h = _lib.Semaphore()
        st = _lib.lib.plexus_semaphore_open(region._handle(), encode_name(name), permits, _byref(h))
        if st:
            raise_for(st, f"semaphore {name!r} of region {shown(region.name)!r}")
        super().__init__(region, name, h, _lib.lib.plexus_semaphore_close)

    def acquire(self, blocking: bool = True, timeout: TimeoutArg = None) -> bool:
        """Takes one permit, waiting up to ``timeout`` seconds (``None``: without limit;
        ``blocking=False`` or ``0``: try once). ``True`` when taken, ``False`` when the
        timeout passed."""
        t = _lock_timeout(blocking, timeout)
        f, h = _lib.lib.plexus_semaphore_acquire, self._h
        st = _blocking(lambda ns: f(h, ns), t)
        if st == _lib.TIMEOUT:
            return False
        if st:
            raise_for(st, f"semaphore {self._name!r} acquire")
        return True

    def release(self) -> None:
        """Gives back one permit held by this region handle (else
        :class:`plexus.InvalidArgument`)."""
        st = _lib.lib.plexus_semaphore_release(self._h)
        if st:
            raise_for(st, f"semaphore {self._name!r} release")

    def _u32(self, fn: Any, what: str) -> int:
        out = ctypes.c_uint32()
        st = fn(self._h, _byref(out))
        if st:
            raise_for(st, f"semaphore {self._name!r} {what}")
        return out.value

    @property
    def permits(self) -> int:
        """The number of permits (fixed at creation)."""
        return self._u32(_lib.lib.plexus_semaphore_permits, "permits")

    @property
    def available(self) -> int:
        """Permits available now (a snapshot)."""
        return self._u32(_lib.lib.plexus_semaphore_available, "available")

    @property
    def held(self) -> int:
        """Permits held by this region handle."""
        return self._u32(_lib.lib.plexus_semaphore_held, "held")

    def __enter__(self) -> "Semaphore":
        self.acquire()
        return self

    def __exit__(self, *exc: Optional[object]) -> None:
        self.release()

    def close(self) -> None:
        """Gives back this handle (permits held stay held by the region handle)."""
        self._give_back_handle()
