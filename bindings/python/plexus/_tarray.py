"""Typed arrays: numbers of one dtype in shared memory, seen in place.

``t = region.tarray("frames", "f64", n, block_len=4096)`` makes (or opens) ``n`` float64
numbers. :meth:`TypedArray.numpy` is a numpy array over the shared memory (no copy;
numpy is optional), :meth:`TypedArray.memoryview` the same as a ``memoryview``. Blocks
hand data from producers to consumers without copies::

    with t.write_block(i, timeout=5) as view:   # waits EMPTY; FULL when the block ends
        view[:] = frame
    with t.read_block(i, timeout=5) as view:    # waits FULL; EMPTY when the block ends
        process(view)

In a coroutine, ``async with t.write_block_async(i) as view:`` and
``async with t.read_block_async(i) as view:`` wait without blocking the event loop (so do
:meth:`read_block_copy_async`, :meth:`write_block_copy_async` and :meth:`wait_async`).

The views are numpy arrays when numpy is installed, else memoryviews (both index, slice
and assign). A view stays readable after the block ended (it is memory, not a copy): do
not keep it past the ``with``. The 32- and 64-bit integer arrays have atomics
(:meth:`load`, :meth:`store`, :meth:`faa`, :meth:`cas`, :meth:`wait`, :meth:`notify`).
A remote region has no shared memory: the views raise :class:`plexus.Unsupported`
there, while :meth:`read`, :meth:`write`, :meth:`read_block_copy`,
:meth:`write_block_copy` and the atomics work on both backends.
"""

from __future__ import annotations

import struct
from contextlib import asynccontextmanager, contextmanager
from typing import Any, AsyncIterator, Iterator, Optional

from . import _aio
from ._base import RegionObject
from ._errors import Timeout
from ._plexus import TArray as _TArray
from ._wait import TimeoutArg

try:  # numpy is optional
    import numpy as _np  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    _np = None

#: numpy dtype names of the plexus dtypes.
_NUMPY = {
    "i8": "int8",
    "u8": "uint8",
    "i16": "int16",
    "u16": "uint16",
    "i32": "int32",
    "u32": "uint32",
    "i64": "int64",
    "u64": "uint64",
    "f32": "float32",
    "f64": "float64",
}


def has_numpy() -> bool:
    """Whether numpy could be imported (then block views are numpy arrays)."""
    return _np is not None


class TypedArray(_TArray, RegionObject):
    """``length`` numbers of one dtype ("i8" ... "u64", "f32", "f64"), contiguous in
    the region, in blocks of ``block_len`` elements that are EMPTY or FULL. A writer
    that dies inside a block leaves it EMPTY (its partial data is never handed to a
    reader as FULL); a reader that dies leaves it FULL. Open with
    :meth:`plexus.Region.tarray`."""

    __slots__ = ()

    def _wrap(self, mv: memoryview) -> Any:
        if _np is None:
            return mv
        return _np.frombuffer(mv, dtype=_NUMPY[self.dtype])

    def numpy(self) -> Any:
        """A numpy array over every element, in place (no copy). ImportError without
        numpy (use :meth:`memoryview`)."""
        if _np is None:
            raise ImportError("plexus: TypedArray.numpy() needs numpy; use memoryview()")
        return _np.frombuffer(self.memoryview(), dtype=_NUMPY[self.dtype])

    @contextmanager
    def write_block(self, block: int, timeout: TimeoutArg = None) -> Iterator[Any]:
        """Waits until ``block`` is EMPTY and yields a writable view of it; leaves it
        FULL at the end of the ``with`` (also when the body raises: fill it first).
        :class:`plexus.Timeout` if it stays FULL until the timeout."""
        view = self._wrap(self.begin_write(block, timeout))
        try:
            yield view
        finally:
            self.end_write(block)

    @contextmanager
    def read_block(self, block: int, timeout: TimeoutArg = None) -> Iterator[Any]:
        """Waits until ``block`` is FULL and yields a read-only view of it; leaves it
        EMPTY at the end of the ``with``."""
        view = self._wrap(self.begin_read(block, timeout))
        try:
            yield view
        finally:
            self.end_read(block)

    @asynccontextmanager
    async def write_block_async(self, block: int, timeout: TimeoutArg = None) -> AsyncIterator[Any]:
        """:meth:`write_block` without blocking the event loop: ``async with
        t.write_block_async(i) as view:``. It tries to take the block, sleeping on the
        event loop between tries (see :mod:`plexus._aio`): cancelled while it waits, it
        holds nothing. The block is FULL at the end of the ``async with``, also when the
        body raises or is cancelled."""
        view = self._wrap(await _aio.poll(lambda: self.begin_write(block, 0), timeout))
        try:
            yield view
        finally:
            self.end_write(block)

    @asynccontextmanager
    async def read_block_async(self, block: int, timeout: TimeoutArg = None) -> AsyncIterator[Any]:
        """:meth:`read_block` without blocking the event loop: ``async with
        t.read_block_async(i) as view:`` (cancelled while it waits, it holds nothing;
        the block is EMPTY at the end of the ``async with``)."""
        view = self._wrap(await _aio.poll(lambda: self.begin_read(block, 0), timeout))
        try:
            yield view
        finally:
            self.end_read(block)

    def read(self, first: int = 0, count: Optional[int] = None) -> Any:
        """A copy of ``count`` elements from ``first`` (default: to the end): a numpy
        array with numpy, else a list. Every backend."""
        if count is None:
            count = self.length - first
        data = self.read_bytes(first, count)
        if _np is not None:
            return _np.frombuffer(data, dtype=_NUMPY[self.dtype]).copy()
        return memoryview(data).cast(self.format).tolist()

    def write(self, first: int, values: Any) -> None:
        """Copies ``values`` (a sequence of numbers, a numpy array, or bytes of whole
        elements) to the elements from ``first``. Every backend."""
        self.write_bytes(first, _as_bytes(values, self.format))

    def read_block_copy(self, block: int, timeout: TimeoutArg = None) -> Any:
        """Waits until ``block`` is FULL, copies it out and leaves it EMPTY, in one step
        (every backend): a numpy array with numpy, else a list."""
        data = self.read_block_bytes(block, timeout)
        if _np is not None:
            return _np.frombuffer(data, dtype=_NUMPY[self.dtype]).copy()
        return memoryview(data).cast(self.format).tolist()

    def write_block_copy(self, block: int, values: Any, timeout: TimeoutArg = None) -> None:
        """Waits until ``block`` is EMPTY, copies ``values`` (the block's element count)
        into it and leaves it FULL, in one step (every backend)."""
        self.write_block_bytes(block, _as_bytes(values, self.format), timeout)

    async def read_block_copy_async(self, block: int, timeout: TimeoutArg = None) -> Any:
        """:meth:`read_block_copy` without blocking the event loop (cancelled while it
        waits, it took nothing)."""
        data = await _aio.poll(lambda: self.read_block_bytes(block, 0), timeout)
        if _np is not None:
            return _np.frombuffer(data, dtype=_NUMPY[self.dtype]).copy()
        return memoryview(data).cast(self.format).tolist()

    async def write_block_copy_async(self, block: int, values: Any, timeout: TimeoutArg = None) -> None:
        """:meth:`write_block_copy` without blocking the event loop (cancelled while it
        waits, it wrote nothing)."""
        data = _as_bytes(values, self.format)
        await _aio.poll(lambda: self.write_block_bytes(block, data, 0), timeout)

    async def wait_async(self, index: int, expected: int, timeout: TimeoutArg = None) -> bool:
        """:meth:`wait` without blocking the event loop: ``True`` when woken or when the
        element differs from ``expected``, ``False`` when the timeout passed. It waits in
        a worker thread in slices of :data:`plexus.SLICE`, looking at the element again
        between slices: a ``notify`` that comes between two slices without changing the
        element is not seen (change the element, then notify, as with ``Atomics``)."""

        def piece(seconds: float) -> bool:
            if self.wait(index, expected, seconds):
                return True
            raise Timeout("timed out", Timeout.status)

        try:
            return await _aio.sliced(piece, timeout)
        except Timeout:
            return False


def _as_bytes(values: Any, fmt: str) -> bytes:
    if isinstance(values, (bytes, bytearray)):
        return bytes(values)
    if isinstance(values, memoryview):
        return values.tobytes()
    if _np is not None and isinstance(values, _np.ndarray):
        return values.tobytes()
    values = list(values)
    return struct.pack(f"={len(values)}{fmt}", *values)


__all__ = ["TypedArray", "has_numpy"]
