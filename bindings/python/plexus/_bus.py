"""Buses: broadcast. Every subscriber receives every message, in one order for all."""

from __future__ import annotations

import threading
import traceback
from typing import Any, AsyncIterator, Callable, Iterator, NamedTuple, Optional

from . import _aio
from ._base import RegionObject
from ._errors import BadHandle, Closed, Removed, Timeout
from ._plexus import Bus as _Bus
from ._plexus import Subscription as _Subscription
from ._wait import TimeoutArg


class Message(NamedTuple):
    """A message received from a bus: its sequence number and its value. A ``seq`` more
    than one above the previous message's means the subscriber fell behind and the
    messages in between were overwritten."""

    seq: int
    value: Any


class Event(NamedTuple):
    """A message received with its topic (a named event; ``""`` for a plain message):
    ``for topic, value, seq in bus.events("job.")``."""

    topic: str
    value: Any
    seq: int


#: Longest topic (and topic prefix), in bytes of UTF-8.
MAX_TOPIC_LEN = 112


class Bus(_Bus, RegionObject):
    """A broadcast bus: any number of processes :meth:`publish`, any number
    :meth:`subscribe`; every subscriber receives every message in one order (the same
    for all). Publishing never waits for subscribers: the bus retains the last
    ``capacity`` messages, and a subscriber that falls further behind skips to the
    oldest retained one (and sees the gap in :attr:`Message.seq`).

    :meth:`shutdown` ends the bus *for every process* (publishing then raises
    :class:`plexus.Closed`; subscribers receive what was published before, then
    :class:`plexus.Closed`); a bus stays shut down, but
    :meth:`plexus.Region.remove_object` and opening it again start it anew (every handle
    and subscription of the old bus, in every process, then raises
    :class:`plexus.Removed`, so each process learns to open it again). :meth:`close`
    only gives back this handle (the bus and its subscriptions are untouched). Open with
    :meth:`plexus.Region.bus`.
    """

    __slots__ = ()

    def subscribe(self, oldest: bool = False, prefix: str = "") -> "Subscription":
        """A new subscription: from the next message published, or with
        ``oldest=True`` from the oldest message the bus still retains. With ``prefix``,
        it receives only the messages whose topic starts with it (see :meth:`emit`; on
        shared memory, publishers of other topics never wake it). A subscription is a
        private cursor of this process and never slows publishers."""
        return Subscription(self, bool(oldest), prefix)

    def events(self, prefix: str = "", oldest: bool = False) -> "EventSubscription":
        """A subscription to the messages whose topic starts with ``prefix`` (``""``:
        all), iterated as :class:`Event` tuples: ``for topic, value, seq in
        bus.events("job."):`` (or ``async for``), until the bus is shut down and
        drained. A context manager that closes it."""
        return EventSubscription(self, bool(oldest), prefix)

    def on(self, prefix: str, callback: Callable[[Event], Any]) -> "Listener":
        """Calls ``callback(event)`` (an :class:`Event`) on a background thread for every
        message published from now on whose topic starts with ``prefix`` (MemSync's
        ``events.on(name, cb)``), in the bus's order, until :meth:`Listener.cancel`, the
        bus is shut down, or this handle goes. The thread is a daemon: it does not keep
        the interpreter alive. An exception in ``callback`` is printed and the listener
        goes on."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        return Listener(self.subscribe(prefix=prefix), callback)


class Listener:
    """A :meth:`Bus.on` registration: a daemon thread reading one filtered subscription.
    :meth:`cancel` stops it (at the latest after one slice of :data:`SLICE_S`)."""

    #: Seconds a listener waits at a time before it looks whether it was cancelled.
    SLICE_S = 0.1

    def __init__(self, sub: "Subscription", callback: Callable[[Event], Any]) -> None:
        self._sub = sub
        self._callback = callback
        self._cancelled = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"plexus listener {sub.prefix!r}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._cancelled.is_set():
                try:
                    event = self._sub.next_event(self.SLICE_S)
                except Timeout:
                    continue
                except (Closed, BadHandle, Removed):
                    return
                if self._cancelled.is_set():
                    return
                try:
                    self._callback(event)
                except Exception:  # the listener goes on, as an event loop would
                    traceback.print_exc()
        finally:
            self._sub.close()

    @property
    def active(self) -> bool:
        """Whether the listener still runs."""
        return self._thread.is_alive()

    def cancel(self, wait: bool = True) -> None:
        """Stops the listener (idempotent): no callback starts after this returns (with
        ``wait``, also none runs; not waited for when called from the callback)."""
        self._cancelled.set()
        if wait and threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> "Listener":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()


class Subscription(_Subscription):
    """A subscriber's cursor on a :class:`Bus` (from :meth:`Bus.subscribe`).

    :meth:`next` waits for the next message; iterating (``for`` or ``async for``)
    yields :class:`Message` tuples ``(seq, value)`` until the bus is shut down and every
    message published before was received. A context manager: ``with bus.subscribe()
    as sub:`` closes it on exit.
    """

    __slots__ = ("_prefix",)

    def __init__(self, bus: Bus, oldest: bool = False, prefix: str = "") -> None:
        self._prefix = prefix

    async def next_async(self, timeout: TimeoutArg = None) -> Message:
        """:meth:`next` without blocking the event loop (cancelled, it took nothing)."""
        return await _aio.poll(lambda: self.next(0), timeout)

    @property
    def prefix(self) -> str:
        """The topic prefix this subscription filters by (``""``: none)."""
        return self._prefix

    def next_event(self, timeout: TimeoutArg = None) -> Event:
        """The next message with its topic, an :class:`Event` ``(topic, value, seq)``,
        waiting as :meth:`next`."""
        return Event(*self._next_event(timeout))

    async def next_event_async(self, timeout: TimeoutArg = None) -> Event:
        """:meth:`next_event` without blocking the event loop (cancelled, it took
        nothing)."""
        return await _aio.poll(lambda: self.next_event(0), timeout)

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            try:
                message = await self.next_async()
            except Closed:
                return
            yield message


class EventSubscription(Subscription):
    """A :class:`Subscription` (from :meth:`Bus.events`) whose iteration yields
    :class:`Event` tuples ``(topic, value, seq)``."""

    __slots__ = ()

    def __iter__(self) -> Iterator[Event]:  # type: ignore[override]
        while True:
            try:
                yield self.next_event()
            except Closed:
                return

    def __next__(self) -> Event:  # type: ignore[override]
        try:
            return self.next_event()
        except Closed:
            raise StopIteration from None

    async def __aiter__(self) -> AsyncIterator[Event]:  # type: ignore[override]
        while True:
            try:
                event = await self.next_event_async()
            except Closed:
                return
            yield event
