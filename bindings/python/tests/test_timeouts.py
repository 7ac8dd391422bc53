"""The timeout convention, the same for every blocking call: ``None`` or ``-1`` waits
without limit, ``0`` tries once, positive seconds (int, float, timedelta) wait that
long; other negative numbers are a ValueError, anything else a TypeError (bool too)."""

from __future__ import annotations

import datetime
import threading
import time
import unittest
from typing import Any, Callable, Dict

from _support import RegionTest, plexus


class Convention(RegionTest):
    def calls(self) -> Dict[str, Callable[[Any], Any]]:
        """Every blocking call, each waiting for something that does not happen."""
        r = self.region
        a = r.array("a", 1)
        m = r.map("m", 4)
        q = r.queue("q", 1)
        full = r.queue("full", 1)
        full.push(0)
        sub = r.bus("b", 4).subscribe()
        mx = r.mutex("mx")
        sem = r.semaphore("sem", 1)
        holder = threading.Thread(target=lambda: (mx.acquire(), sem.acquire()))
        holder.start()
        holder.join()  # the mutex stays held by the (finished) thread; the permit too
        bar = r.barrier("bar", 2)
        return {
            "array.read_fe": lambda t: a.read_fe(0, t),
            "array.read_ff": lambda t: a.read_ff(0, timeout=t),
            "array.read_rw": lambda t: a.read_rw(0, t),
            "map.read_fe": lambda t: m.read_fe("k", t),
            "map.write_ef": lambda t: (m.write_xf("f", 1), m.write_ef("f", 2, t)),
            "map.wait_change": lambda t: m.wait_change("k", 0, t),
            "queue.pop": lambda t: q.pop(t),
            "queue.push": lambda t: full.push(1, t),
            "subscription.next": lambda t: sub.next(t),
            "mutex.acquire": lambda t: mx.acquire(timeout=t),
            "semaphore.acquire": lambda t: sem.acquire(timeout=t),
            "barrier.wait": lambda t: bar.wait(t),
            "region.wait_object": lambda t: r.wait_object("never", t),
            "Region(mode=open)": lambda t: plexus.Region(self.name + "-never", mode="open", wait=t),
        }

    def test_zero_tries_once_and_positive_waits(self) -> None:
        for name, call in self.calls().items():
            with self.subTest(call=name):
                for t in (0, 0.0, datetime.timedelta(0)):
                    start = time.monotonic()
                    try:
                        self.assertIs(call(t), False)  # acquire: False, as threading
                    except (plexus.Timeout, plexus.NotFound):
                        pass
                    self.assertLess(time.monotonic() - start, 0.05)
                for t in (0.06, datetime.timedelta(milliseconds=60)):
                    start = time.monotonic()
                    try:
                        self.assertIs(call(t), False)
                    except (plexus.Timeout, plexus.NotFound):
                        pass
                    self.assertGreaterEqual(time.monotonic() - start, 0.06)

    def test_bad_timeouts(self) -> None:
        for name, call in self.calls().items():
            with self.subTest(call=name):
                for bad in (-2, -0.5, -1.5, float("nan"), float("-inf"), -(10**30)):
                    with self.assertRaises(ValueError, msg=repr(bad)):
                        call(bad)
                for bad in ("1", b"1", True, False, [1], object()):
                    with self.assertRaises(TypeError, msg=repr(bad)):
                        call(bad)

    def test_none_and_minus_one_wait_without_limit(self) -> None:
        a = self.region.array("a", 1)
        q = self.region.queue("q", 1)
        for forever in (None, -1, -1.0, float("inf")):
            with self.subTest(timeout=forever):
                th = threading.Timer(0.2, lambda: (a.write_ef(0, "x"), q.push("y")))
                th.start()
                start = time.monotonic()
                self.assertEqual(a.read_fe(0, forever), "x")
                self.assertEqual(q.pop(forever), "y")
                self.assertGreaterEqual(time.monotonic() - start, 0.19)
                th.join()
        m = self.region.mutex("m")
        self.assertTrue(m.acquire(timeout=-1))  # as threading.Lock.acquire(timeout=-1)
        m.release()
        with self.assertRaises(ValueError):
            m.acquire(blocking=False, timeout=-1)  # a timeout with blocking=False


if __name__ == "__main__":
    unittest.main()
