"""Timeouts in seconds.

``None`` or ``-1`` waits without limit (as ``threading.Lock.acquire`` does), ``0`` tries
once, a positive number (``int``, ``float`` or ``datetime.timedelta``) waits that long;
other negative numbers raise ``ValueError`` and anything else (``bool`` and ``str``
included) raises ``TypeError``.

Blocking calls release the GIL while they wait (other Python threads run) and wait in
slices of at most :data:`SLICE` seconds: between slices Python runs its signal handlers,
so Ctrl-C raises ``KeyboardInterrupt`` within a slice, and the interrupted call has
changed nothing (every blocking call that ends unsatisfied changed nothing, so waiting
again is the same as having waited longer). On a remote region (``redis://``) each
slice is one wait on the server.

As everywhere in Python, a KeyboardInterrupt can also arrive just *after* a call
succeeded (while its result is converted): a value taken by ``read_fe`` or ``pop`` is
then gone from shared memory without reaching the caller. Code that must not lose
values on Ctrl-C handles SIGINT itself (``signal.signal``) and stops between calls.
"""

from __future__ import annotations

import datetime
from typing import Union

from ._plexus import SLICE, timeout_seconds

#: A timeout: seconds (int or float), a ``datetime.timedelta``, or ``None`` (or ``-1``)
#: for "without limit". ``0`` tries once.
TimeoutArg = Union[None, float, int, datetime.timedelta]

__all__ = ["SLICE", "TimeoutArg", "timeout_seconds"]
