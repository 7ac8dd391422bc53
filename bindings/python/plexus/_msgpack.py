"""OBJECT values as MessagePack: the codec is the compiled core's (rmp, with the
engine's validator); this module names it and defines :class:`ExtType`.

``packb`` encodes None, bool, int (-2**63 .. 2**64-1), float (always float64), str,
bytes-like, list/tuple, dict with str keys and :class:`ExtType`; ``unpackb`` decodes every
MessagePack format (float32 too; ext values as :class:`ExtType`). Dict keys must be str
because the other languages read OBJECT values as JSON, whose object keys are strings.
"""

from __future__ import annotations

from typing import NamedTuple

from ._plexus import packb, unpackb

MAX_DEPTH = 512  # as the engine's validator


class ExtType(NamedTuple):
    """A MessagePack extension value: a type code (-128..127) and its bytes."""

    code: int
    data: bytes


__all__ = ["MAX_DEPTH", "ExtType", "packb", "unpackb"]
