"""Buses: broadcast. Every subscriber receives every message, in one order for all."""

from __future__ import annotations

import ctypes
import weakref
from typing import Any, Iterator, NamedTuple, Optional

from . import _lib
from ._base import RegionObject, encode_name, shown
from ._errors import Closed, raise_for
from ._values import from_c, to_c
from ._wait import TimeoutArg, blocking

_byref = ctypes.byref


class Message(NamedTuple):
    """A message received from a bus: its sequence number and its value. A ``seq`` more
    than one above the previous message's means the subscriber fell behind and the
    messages in between were overwritten."""

    seq: int
    value: Any


class Bus(RegionObject):
    """A broadcast bus: any number of processes :meth:`publish`, any number
    :meth:`subscribe`; every subscriber receives every message in one order (the same
    for all). Publishing never waits for subscribers: the bus retains the last
    ``capacity`` messages, and a subscriber that falls further behind skips to the
    oldest retained one (and sees the gap in :attr:`Message.seq`).

    :meth:`shutdown` ends the bus *for every process* (publishing then raises
    :class:`plexus.Closed`; subscribers receive what was published before, then
    :class:`plexus.Closed`). :meth:`close` only gives back this handle (the bus and its
    subscriptions are untouched). Open with :meth:`plexus.Region.bus`.
    """

    _kind = "bus"

    def __init__(self, region: Any, name: str, capacity: int, flags: int) -> None:
        h = _lib.Bus()
        st = _lib.lib.plexus_bus_open(
            region._handle(), encode_name(name), capacity, flags, _byref(h)
        )
        if st:
            raise_for(st, f"bus {name!r} of region {shown(region.name)!r}")
        super().__init__(region, name, h, _lib.lib.plexus_bus_close)

    def publish(self, value: Any) -> int:
        """Publishes a copy of ``value`` to every subscriber and returns its sequence
        number. Never waits for subscribers. :class:`plexus.Closed` if the bus is
        shut down."""
        v, keep = to_c(value)
        seq = ctypes.c_uint64()
        st = _lib.lib.plexus_bus_publish(self._h, _byref(v), _byref(seq))
        del keep
        if st:
            raise_for(st, f"bus {self._name!r} publish")
        return seq.value

    def subscribe(self, oldest: bool = False) -> "Subscription":
        """A new subscription: from the next message published, or with
        ``oldest=True`` from the oldest message the bus still retains. A subscription
        is a private cursor of this process: it registers nothing in the region and
        never slows publishers."""
        return Subscription(self, oldest)

    def shutdown(self) -> None:
        """Ends the bus for every process (see the class doc); wakes every waiting
        subscriber. The handle stays valid; shutting down a shut-down bus does
        nothing."""
        st = _lib.lib.plexus_bus_shutdown(self._h)
        if st:
            raise_for(st, f"bus {self._name!r} shutdown")

    @property
    def is_shutdown(self) -> bool:
        """Whether :meth:`shutdown` was called (by any process)."""
        out = ctypes.c_bool()
        st = _lib.lib.plexus_bus_is_shutdown(self._h, _byref(out))
        if st:
            raise_for(st, f"bus {self._name!r} is_shutdown")
        return bool(out.value)

    @property
    def capacity(self) -> int:
        """How many messages the bus retains (fixed at creation)."""
        out = ctypes.c_uint64()
        st = _lib.lib.plexus_bus_capacity(self._h, _byref(out))
        if st:
            raise_for(st, f"bus {self._name!r} capacity")
        return out.value

    @property
    def next_seq(self) -> int:
        """The sequence number the next message will get (1 on a new bus; a snapshot)."""
        out = ctypes.c_uint64()
        st = _lib.lib.plexus_bus_next_seq(self._h, _byref(out))
        if st:
            raise_for(st, f"bus {self._name!r} next_seq")
        return out.value

    def close(self) -> None:
        """Gives back this handle (idempotent): the bus is untouched (ending it is
        :meth:`shutdown`) and subscriptions made through it stay valid; later calls
        through this object raise :class:`plexus.BadHandle`."""
        self._give_back_handle()


def _sub_close(handle: Any) -> None:
    _lib.lib.plexus_sub_close(handle)


class Subscription:
    """A subscriber's cursor on a :class:`Bus` (from :meth:`Bus.subscribe`).

    :meth:`next` waits for the next message; iterating yields :class:`Message` tuples
    ``(seq, value)`` until the bus is shut down and every message published before was
    received. A context manager: ``with bus.subscribe() as sub:`` closes it on exit.
    """

    def __init__(self, bus: Bus, oldest: bool) -> None:
        h = _lib.Sub()
        st = _lib.lib.plexus_bus_subscribe(
            bus._h, _lib.FROM_OLDEST if oldest else _lib.FROM_NOW, _byref(h)
        )
        if st:
            raise_for(st, f"bus {bus.name!r} subscribe")
        self._bus = bus
        self._h = h
        self._finalizer = weakref.finalize(self, _sub_close, h)

    @property
    def bus(self) -> Bus:
        return self._bus

    def next(self, timeout: TimeoutArg = None) -> Message:
        """The next message, waiting while there is none. :class:`plexus.Timeout` if
        ``timeout`` passes first; :class:`plexus.Closed` once the bus is shut down and
        everything published before was received."""
        f, h = _lib.lib.plexus_sub_next, self._h
        out = _lib.Value()
        seq = ctypes.c_uint64()
        oref, sref = _byref(out), _byref(seq)
        st = blocking(lambda t: f(h, oref, sref, t), timeout)
        if st:
            raise_for(st, f"subscription to bus {self._bus.name!r} next")
        return Message(seq.value, from_c(out))

    def __iter__(self) -> Iterator[Message]:
        return self

    def __next__(self) -> Message:
        try:
            return self.next()
        except Closed:
            raise StopIteration from None

    def close(self) -> None:
        """Gives back this subscription's handle (idempotent); later calls raise
        :class:`plexus.BadHandle`. The bus is untouched."""
        self._finalizer()
        self._h = _lib.Sub()  # id 0: later calls raise BadHandle

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: Optional[object]) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<plexus.Subscription to bus {self._bus.name!r}>"
