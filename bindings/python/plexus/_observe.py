"""Observing elements and maps from Python.

``x.watch(where)`` iterates over ``(version, value)`` pairs; ``x.observe(where, fn)``
calls ``fn(value, version)`` in the background. Both give the observer guarantee of the
C call they use (``plexus_map_watch``): every value that stayed in place longer than the
observer took to come back is seen, the last value is always seen, and bursts are
coalesced (the version shows how many changes were skipped).

Threads: each observation waits in a thread of its own, blocked in the library with
the GIL released (in slices of :data:`plexus.SLICE`, so a cancelled observation ends
within one slice). Every callback of the observations of one region runs on ONE
dispatcher thread per region, one at a time, in the order the changes arrived; while a
callback runs, newer values of the same element replace the one waiting (coalescing),
so a slow callback never builds a backlog. The threads are daemons: they never keep the
process alive. A callback that raises ends its observation; the exception is kept in
:attr:`Observation.error`.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Callable, Deque, Dict, Optional, Tuple

from ._errors import Timeout
from ._plexus import SLICE

#: The callback of :meth:`plexus.Map.observe` / :meth:`plexus.Array.observe`.
Callback = Callable[[Any, int], Any]


class Observation:
    """What ``observe()`` returns: ``cancel()`` stops the calls (idempotent; the
    callback running now, if any, finishes first). ``active`` tells whether it still
    observes; ``error`` is the exception that ended it (a callback's, or the handle's
    when the object was closed or removed), else None."""

    __slots__ = ("_x", "_where", "_callback", "_dispatcher", "_stop", "_latest", "_pending",
                 "error", "__weakref__")

    def __init__(self, x: Any, where: Any, callback: Callback, dispatcher: "_Dispatcher") -> None:
        self._x = x
        self._where = where
        self._callback = callback
        self._dispatcher = dispatcher
        self._stop = threading.Event()
        self._latest: Optional[Tuple[int, Any]] = None
        self._pending = False
        self.error: Optional[BaseException] = None

    @property
    def active(self) -> bool:
        return not self._stop.is_set()

    def cancel(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._dispatcher.remove(self)

    def __enter__(self) -> "Observation":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()

    def _wait(self) -> None:
        """The observation's own thread: waits for each new value, hands it over."""
        version = 0
        while not self._stop.is_set():
            try:
                version, value = self._x.watch_once(self._where, version, SLICE)
            except Timeout:
                continue
            except BaseException as e:  # the handle closed, the object removed, ...
                self.error = e
                self.cancel()
                return
            self._dispatcher.post(self, (version, value))


class _Dispatcher:
    """Runs the callbacks of one region's observations on one thread."""

    def __init__(self, key: int) -> None:
        self._key = key
        self._cond = threading.Condition()
        self._ready: Deque[Observation] = collections.deque()
        self._count = 0
        self._running = False

    def add(self, obs: Observation) -> None:
        with self._cond:
            self._count += 1
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="plexus-observe", daemon=True).start()
        threading.Thread(target=obs._wait, name="plexus-watch", daemon=True).start()

    def post(self, obs: Observation, item: Tuple[int, Any]) -> None:
        with self._cond:
            obs._latest = item  # a newer value replaces one not delivered yet
            if not obs._pending:
                obs._pending = True
                self._ready.append(obs)
                self._cond.notify()

    def remove(self, obs: Observation) -> None:
        with self._cond:
            self._count -= 1
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._ready and self._count > 0:
                    self._cond.wait()
                if not self._ready:
                    # No observation left: this thread ends (a later observe starts one).
                    self._running = False
                    break
                obs = self._ready.popleft()
                obs._pending = False
                item = obs._latest
            if item is None or not obs.active:
                continue
            try:
                obs._callback(item[1], item[0])
            except BaseException as e:
                obs.error = e
                obs.cancel()
        # (_lock is never taken while holding _cond: observe() takes them the other way.)
        with _lock:
            if _dispatchers.get(self._key) is self and not self._running and self._count == 0:
                del _dispatchers[self._key]


_lock = threading.Lock()
_dispatchers: Dict[int, _Dispatcher] = {}


def observe(x: Any, where: Any, callback: Callback) -> Observation:
    """Starts observing element ``where`` of ``x`` (see the module comment)."""
    if not callable(callback):
        raise TypeError("plexus: observe needs a callable callback(value, version)")
    key = id(x.region)
    with _lock:
        d = _dispatchers.get(key)
        if d is None:
            d = _dispatchers[key] = _Dispatcher(key)
        obs = Observation(x, where, callback, d)
        d.add(obs)
    return obs
