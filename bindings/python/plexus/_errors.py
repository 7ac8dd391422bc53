"""Exceptions: one class per plexus status, all derived from :class:`plexus.Error`.

Where a built-in exception means the same thing, the class derives from it too, so
ordinary Python code catches them: ``Timeout`` is a ``TimeoutError``, ``NotFound`` a
``LookupError`` (``KeyNotFound`` a ``KeyError``), ``OutOfRange`` an ``IndexError``,
``InvalidArgument`` a ``ValueError``, ``TypeMismatch`` a ``TypeError``,
``PermissionDenied`` a ``PermissionError``, ``OsError`` an ``OSError``,
``Unavailable`` a ``ConnectionError``, ``Unsupported`` a ``NotImplementedError``.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

from ._plexus import status_name


class Error(Exception):
    """A failed plexus call. ``status`` is the C ``plexus_status`` value,
    ``status_name`` its name (``"PLEXUS_E_NOT_FOUND"``); the message is the engine's,
    after what was called on which object."""

    status: int = -1

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def status_name(self) -> str:
        return status_name(self.status)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Timeout(Error, TimeoutError):
    """PLEXUS_TIMEOUT: a wait ended before its condition held (with timeout 0: the call
    would have blocked). Nothing was changed."""

    status = 1


class Closed(Error):
    """PLEXUS_CLOSED: the queue or bus was shut down (``shutdown()``; for pops and
    subscriptions: and everything sent before was received)."""

    status = 2


class InvalidArgument(Error, ValueError):
    """PLEXUS_E_INVALID_ARGUMENT: bad name, option, flag or value (also: unlocking a
    mutex this thread does not hold, releasing a permit this region handle does not
    hold)."""

    status = 100


class BadHandle(Error):
    """PLEXUS_E_BAD_HANDLE: the object's handle was given back with ``close()`` (or its
    region's was), or it was opened before a fork()."""

    status = 101


class NotFound(Error, LookupError):
    """PLEXUS_E_NOT_FOUND: the region, object or key does not exist."""

    status = 102


class KeyNotFound(NotFound, KeyError):
    """A map key that does not exist (``del m[key]``, ``m[key]``, ``m.remove(key)``)."""


class Exists(Error):
    """PLEXUS_E_EXISTS: exclusive creation, but it exists."""

    status = 103


class TypeMismatch(Error, TypeError):
    """PLEXUS_E_TYPE_MISMATCH: another kind of object has that name, or the operation is
    undefined for the value's type (``faa`` of a list, say)."""

    status = 104


class OutOfRange(Error, IndexError):
    """PLEXUS_E_OUT_OF_RANGE: index >= length."""

    status = 105


class NoSpace(Error):
    """PLEXUS_E_NO_SPACE: the region's heap, directory or process table is full (or the
    map, or ``/dev/shm`` at creation)."""

    status = 106


class Incompatible(Error):
    """PLEXUS_E_INCOMPATIBLE: another format version, or the object exists with another
    shape (length, capacity, parties, FIFO/LIFO)."""

    status = 107


class Corrupt(Error):
    """PLEXUS_E_CORRUPT: the region failed validation."""

    status = 108


class PermissionDenied(Error, PermissionError):
    """PLEXUS_E_PERMISSION: the OS denied access."""

    status = 109


class OsError(Error, OSError):
    """PLEXUS_E_OS: another OS error (the message has the errno text)."""

    status = 110


class BufferTooSmall(Error):
    """PLEXUS_E_BUFFER_TOO_SMALL (a status of the C API; the Python package never needs
    a caller buffer, so it is not expected)."""

    status = 111


class Removed(Error):
    """PLEXUS_E_REMOVED: the region was removed (``Region.remove``, or a
    ``mode="recreate"`` open of its name), or the object was
    (``region.remove_object(name)``), while this handle was open. Every handle of it
    raises this, and calls blocked in it wake with it; open the name again to reach the
    region or object that has it now."""

    status = 112


class Unavailable(Error, ConnectionError):
    """PLEXUS_E_UNAVAILABLE: a remote region's server could not be reached, or did not
    answer within the call's time. Nothing was changed, or the message says that the
    change is not known. The same handles work again once the server is back."""

    status = 113


class RegionLost(Error):
    """PLEXUS_E_REGION_LOST: a remote region's state vanished on the server (flushed,
    the server restarted without persistence, or failed over to a replica that lacked
    it; a removal is :class:`Removed`). Every handle of it raises this; open it again to
    start anew."""

    status = 114


class Unsupported(Error, NotImplementedError):
    """PLEXUS_E_UNSUPPORTED: this operation cannot exist on the region's backend (or in
    this build of the library); the message names the alternative."""

    status = 115


class InternalError(Error):
    """PLEXUS_E_INTERNAL: a bug in plexus, caught at the boundary; please report it."""

    status = 199


_BY_STATUS: Dict[int, Type[Error]] = {
    cls.status: cls
    for cls in (
        Timeout,
        Closed,
        InvalidArgument,
        BadHandle,
        NotFound,
        Exists,
        TypeMismatch,
        OutOfRange,
        NoSpace,
        Incompatible,
        Corrupt,
        PermissionDenied,
        OsError,
        BufferTooSmall,
        Removed,
        Unavailable,
        RegionLost,
        Unsupported,
        InternalError,
    )
}


# ---- services ----------------------------------------------------------------------


class OwnerDead(Error):
    """PLEXUS_OWNER_DEAD: the process that took a service request died before replying
    (``Service.call``). The request is gone; call again to retry it. (A mutex taken
    over from a dead holder is not an exception: see ``Mutex.owner_died``.)"""

    status = 3


class ServiceError(Error):
    """PLEXUS_E_SERVICE: the service's handler replied with an error
    (``Request.reply_error``, or an exception raised in a ``serve`` handler).
    ``message`` is the handler's message, exactly; ``str()`` says which service too."""

    status = 116
    message: str = ""


_BY_STATUS.update({OwnerDead.status: OwnerDead, ServiceError.status: ServiceError})


def error_for(status: int, what: str = "", message: str = "") -> Error:
    """The exception for a status: ``what: message`` (the message defaults to the
    status name). The compiled core makes every exception it raises with this."""
    raw = message
    if not message:
        message = status_name(status)
    if what:
        message = f"{what}: {message}"
    e = _BY_STATUS.get(status, Error)(message, status)
    if isinstance(e, ServiceError):
        e.message = raw
    return e
