"""What every object opened through a region shares: its name, its C handle, and the
handle's give-back (on close(), at garbage collection, or at interpreter exit)."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ._region import Region


def _give_back(closer: Callable[[Any], int], handle: Any) -> None:
    # The status is ignored: after the region was closed (which closes its objects'
    # handles) or a fork(), the handle is already invalid, which is fine here.
    closer(handle)


def encode_name(name: str, what: str = "name") -> bytes:
    """UTF-8 bytes for a C string argument; InvalidArgument for NUL characters (C would
    silently cut the string there) and TypeError for non-str."""
    from ._errors import InvalidArgument

    if not isinstance(name, str):
        raise TypeError(f"plexus: {what} must be str, not {type(name).__name__}")
    if "\0" in name:
        raise InvalidArgument(f"plexus: {what} {shown(name)!r} contains a NUL character", 100)
    return name.encode("utf-8")


def shown(name: str) -> str:
    """A region name as messages and ``repr`` show it: the password of a remote region's
    name (``redis://user:secret@host/NAME``) replaced by ``***``, as the library does."""
    scheme = name.find("://")
    if scheme < 0:
        return name
    rest = name[scheme + 3 :]
    slash = rest.find("/")
    authority = rest if slash < 0 else rest[:slash]
    at = authority.rfind("@")
    if at < 0:
        return name
    userinfo = authority[:at]
    hidden = userinfo.split(":", 1)[0] + ":***" if ":" in userinfo else "***"
    return f"{name[: scheme + 3]}{hidden}@{rest[at + 1 :]}"


def check_count(n: Any, what: str, bits: int = 64) -> int:
    """A size argument (length, capacity, parties, permits) or version as a C unsigned
    integer: TypeError for non-integers, ValueError when negative or too large (ctypes
    would silently wrap it)."""
    import operator

    try:
        value = operator.index(n)
    except TypeError:
        raise TypeError(f"plexus: {what} must be an int, not {type(n).__name__}") from None
    if not 0 <= value < (1 << bits):
        raise ValueError(f"plexus: {what} {value} is out of range (0 .. 2**{bits}-1)")
    return value


class RegionObject:
    """Base of Array, Map, Queue, Bus, Mutex, Barrier and Semaphore."""

    _kind = "object"

    def __init__(
        self, region: "Region", name: str, handle: Any, closer: Callable[[Any], int]
    ) -> None:
        self._region = region  # keeps the region open while this object is in use
        self._name = name
        self._h = handle
        self._finalizer = weakref.finalize(self, _give_back, closer, handle)

    @property
    def name(self) -> str:
        """The object's name in its region."""
        return self._name

    @property
    def region(self) -> "Region":
        """The region this object was opened through."""
        return self._region

    def _give_back_handle(self) -> None:
        """Gives back the C handle now (idempotent); later calls raise BadHandle."""
        self._finalizer()
        # Id 0 is never valid: later calls through this object fail with BadHandle even
        # while another object still holds an open of the same (counted) C handle.
        self._h = type(self._h)()

    def close(self) -> None:
        """Gives back this handle (``plexus_<kind>_close``; idempotent): the object
        itself and other handles of it are untouched; later calls through this object
        raise :class:`plexus.BadHandle`. Every kind has it; closing the region does it
        for every object opened through it."""
        self._give_back_handle()

    def __repr__(self) -> str:
        state = "" if self._finalizer.alive else " (handle closed)"
        of = shown(self._region.name)
        return f"<plexus.{type(self).__name__} {self._name!r} of {of!r}{state}>"
