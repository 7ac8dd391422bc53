"""Buses: broadcast. Every subscriber receives every message, in one order for all."""

from __future__ import annotations

from typing import Any, AsyncIterator, NamedTuple

from . import _aio
from ._base import RegionObject
from ._errors import Closed
from ._plexus import Bus as _Bus
from ._plexus import Subscription as _Subscription
from ._wait import TimeoutArg


class Message(NamedTuple):
    """A message received from a bus: its sequence number and its value. A ``seq`` more
    than one above the previous message's means the subscriber fell behind and the
    messages in between were overwritten."""

    seq: int
    value: Any


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

    def subscribe(self, oldest: bool = False) -> "Subscription":
        """A new subscription: from the next message published, or with
        ``oldest=True`` from the oldest message the bus still retains. A subscription
        is a private cursor of this process: it registers nothing in the region and
        never slows publishers."""
        return Subscription(self, bool(oldest))


class Subscription(_Subscription):
    """A subscriber's cursor on a :class:`Bus` (from :meth:`Bus.subscribe`).

    :meth:`next` waits for the next message; iterating (``for`` or ``async for``)
    yields :class:`Message` tuples ``(seq, value)`` until the bus is shut down and every
    message published before was received. A context manager: ``with bus.subscribe()
    as sub:`` closes it on exit.
    """

    __slots__ = ()

    async def next_async(self, timeout: TimeoutArg = None) -> Message:
        """:meth:`next` without blocking the event loop (cancelled, it took nothing)."""
        return await _aio.poll(lambda: self.next(0), timeout)

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            try:
                message = await self.next_async()
            except Closed:
                return
            yield message
