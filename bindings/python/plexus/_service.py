"""Services: request/response between processes (see docs/services.md)."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from typing import Any, Callable, Optional

from . import _aio
from ._base import RegionObject
from ._errors import Timeout
from ._plexus import SLICE
from ._plexus import Service as _Service
from ._plexus import timeout_seconds
from ._wait import TimeoutArg

#: A handler: takes a request's value, returns the reply (or raises: the caller gets
#: :class:`plexus.ServiceError` with ``str(exception)``).
Handler = Callable[[Any], Any]


class Request:
    """One request taken with :meth:`Service.next`: its ``value``, and the calls that
    answer it (exactly one of them, once; from any thread of this process)."""

    __slots__ = ("service", "id", "value")

    def __init__(self, service: "Service", id: int, value: Any) -> None:
        self.service = service
        #: The request id (what the C API calls ``plexus_request``).
        self.id = id
        #: A copy of the caller's request.
        self.value = value

    def reply(self, response: Any) -> None:
        """Answers with a copy of ``response``: the caller's ``call`` returns it. A
        second answer raises :class:`plexus.InvalidArgument`; a caller that gave up
        meanwhile is not an error (the reply is discarded)."""
        self.service.reply(self.id, response)

    def reply_error(self, message: str) -> None:
        """Answers with an error: the caller's ``call`` raises
        :class:`plexus.ServiceError` whose ``message`` is ``message``."""
        self.service.reply_error(self.id, str(message))

    def __repr__(self) -> str:
        return f"<plexus.Request {self.id:#x} of service {self.service.name!r}: {self.value!r}>"


def _answer(req: Request, handler: Handler) -> None:
    try:
        response = handler(req.value)
    except Exception as e:  # the handler's failure is the caller's ServiceError
        req.reply_error(str(e) or type(e).__name__)
        return
    except BaseException:  # KeyboardInterrupt, SystemExit: answer, then stop serving
        req.reply_error("the server was interrupted")
        raise
    req.reply(response)


class _Idle:
    """The waits of a serve loop: ``next`` waits at most until ``timeout`` seconds have
    passed since the last request (``None``: no limit), and in pieces of at most
    :data:`plexus.SLICE` when there is a ``stop`` to look at."""

    def __init__(self, timeout: TimeoutArg, stop: Any) -> None:
        self.limit = timeout_seconds(timeout)
        self.sliced = stop is not None
        self.restart()

    def restart(self) -> None:
        self.deadline = None if self.limit is None else time.monotonic() + self.limit

    def piece(self) -> Optional[float]:
        """The next wait (``None``: no limit); ``<= 0`` when the time is up."""
        left = None if self.deadline is None else self.deadline - time.monotonic()
        if not self.sliced or (left is not None and left <= 0):
            return left
        return SLICE if left is None else min(SLICE, left)


def _stopped(stop: Any) -> bool:
    return stop is not None and bool(stop.is_set())


class Service(_Service, RegionObject):
    """A request/response service shared by every process of the region: callers
    :meth:`call` it, servers take requests with :meth:`next` (each request goes to
    exactly one server) and answer them, or run a loop with :meth:`serve`::

        calc = region.service("calc", 16)

        @calc.handler                       # server process
        def double(n):
            if n < 0:
                raise ValueError("negative")    # the caller gets ServiceError("negative")
            return n * 2 + 1
        calc.serve()                        # until Ctrl-C, or stop=event is set

        calc.call(20, timeout=1.0)          # caller process: 41

    :meth:`call` raises :class:`plexus.ServiceError` (the handler failed),
    :class:`plexus.OwnerDead` (the server that took the request died before replying)
    or :class:`plexus.Timeout` (no reply in time: the request is withdrawn and a later
    reply discarded). Ctrl-C withdraws the request too. ``capacity`` is how many
    requests can be in the service at once (a call waits for room); ``pending`` how
    many are in it now. There is no shutdown: a server loop ends by its own decision
    (``stop``, ``timeout``), or with :class:`plexus.Removed` when the service is removed.
    Open with :meth:`plexus.Region.service`.
    """

    __slots__ = ("_handler",)

    def next(self, timeout: TimeoutArg = None) -> Request:  # type: ignore[override]
        """Takes the oldest pending request, waiting while there is none
        (:class:`plexus.Timeout` when none came in time; nothing was taken). Answer it
        with :meth:`Request.reply` or :meth:`Request.reply_error`."""
        id, value = super().next(timeout)
        return Request(self, id, value)

    def handler(self, fn: Handler) -> Handler:
        """Decorator: makes ``fn`` the handler :meth:`serve` (and
        :meth:`serve_async`) use when called without one. Returns ``fn`` unchanged."""
        self._handler = fn
        return fn

    def _handler_or(self, handler: Optional[Handler]) -> Handler:
        if handler is not None:
            return handler
        registered = getattr(self, "_handler", None)
        if registered is None:
            raise TypeError(
                "plexus: serve() needs a handler: serve(fn), or register one with @service.handler"
            )
        return registered

    def serve(
        self,
        handler: Optional[Handler] = None,
        timeout: TimeoutArg = None,
        *,
        stop: Any = None,
    ) -> int:
        """Answers requests until stopped: each reply is ``handler(request_value)``; an
        exception raised by the handler becomes ``reply_error(str(exception))`` and the
        loop goes on. Returns the number of requests answered when ``stop`` (a
        ``threading.Event``, or anything with ``is_set()``, checked between requests
        and every :data:`plexus.SLICE` while idle) is set, or when no request came for
        ``timeout`` seconds (``None``: no limit). Ctrl-C raises ``KeyboardInterrupt``
        (a request being handled is answered with an error first); errors of the
        service itself (:class:`plexus.Removed`, ...) end the loop with that
        exception. Without ``handler``, the one registered with :meth:`handler`."""
        fn = self._handler_or(handler)
        idle = _Idle(timeout, stop)
        served = 0
        while not _stopped(stop):
            piece = idle.piece()
            if piece is not None and piece <= 0:
                break
            try:
                req = self.next(piece)
            except Timeout:
                continue
            idle.restart()
            _answer(req, fn)
            served += 1
        return served

    # ---- asyncio ---------------------------------------------------------------------

    async def call_async(self, request: Any, timeout: TimeoutArg = None) -> Any:
        """:meth:`call` without blocking the event loop: the call waits in a worker
        thread (of the loop's default executor), which checks for cancellation every
        :data:`plexus.SLICE`. Cancelled, the request is withdrawn (as on a timeout)."""
        cancelled = threading.Event()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                None, lambda: self.call(request, timeout, _cancelled=cancelled.is_set)
            )
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def next_async(self, timeout: TimeoutArg = None) -> Request:
        """:meth:`next` without blocking the event loop (cancelled, it took nothing)."""
        return await _aio.poll(lambda: self.next(0), timeout)

    async def serve_async(
        self,
        handler: Optional[Handler] = None,
        timeout: TimeoutArg = None,
        *,
        stop: Any = None,
    ) -> int:
        """:meth:`serve` on the event loop: the handler may be a plain function or a
        coroutine function (awaited); requests are answered one at a time, in order.
        Ends as :meth:`serve` does (``stop`` may be an ``asyncio.Event``), or when the
        task is cancelled (a request being handled is answered with an error first)."""
        fn = self._handler_or(handler)
        idle = _Idle(timeout, stop)
        served = 0
        while not _stopped(stop):
            piece = idle.piece()
            if piece is not None and piece <= 0:
                break
            try:
                req = await self.next_async(piece)
            except Timeout:
                continue
            idle.restart()
            try:
                response = fn(req.value)
                if inspect.isawaitable(response):
                    response = await response
            except Exception as e:
                req.reply_error(str(e) or type(e).__name__)
            except BaseException:  # cancelled, interrupted
                req.reply_error("the server was interrupted")
                raise
            else:
                req.reply(response)
            served += 1
        return served


__all__ = ["Handler", "Request", "Service"]
