"""What every object opened through a region shares."""

from __future__ import annotations

from ._plexus import shown


class RegionObject:
    """Base of Array, Map, Queue, Bus, Mutex, Barrier and Semaphore.

    Each has ``name``, ``region`` and ``close()``: ``close()`` gives back this handle
    (idempotent); the object itself and other handles of it (in this process or others)
    are untouched, and later calls through this Python object raise
    :class:`plexus.BadHandle`. Closing the region does it for every object opened
    through it, and a handle is also given back when its object is garbage-collected.
    """

    __slots__ = ()


__all__ = ["RegionObject", "shown"]
