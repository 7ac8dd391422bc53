"""Mutex, Barrier, Semaphore: threads of this process and other processes."""

from __future__ import annotations

import os
import signal
import threading
import time
import unittest

from _support import RegionTest, plexus, start_python

# A child that opens the region, takes a lock, says so, and waits to be killed.
HOLDER = """
import sys, time, plexus
r = plexus.Region(sys.argv[1], mode="open")
kind = sys.argv[2]
if kind == "mutex":
    m = r.mutex("m")
    assert m.acquire(timeout=5)
else:
    s = r.semaphore("s", 1)
    assert s.acquire(timeout=5)
print("holding", flush=True)
time.sleep(60)
"""


class MutexTest(RegionTest):
    def test_context_manager_and_timeouts(self) -> None:
        m = self.region.mutex("m")
        self.assertFalse(m.locked())
        with m as held:
            self.assertIs(held, m)
            self.assertTrue(m.locked())
            self.assertFalse(held.owner_died)
            # Another thread cannot take it; acquire returns False (threading style).
            results = []
            th = threading.Thread(
                target=lambda: results.extend(
                    [m.acquire(timeout=0), m.acquire(blocking=False), m.acquire(timeout=0.1)]
                )
            )
            th.start()
            th.join()
            self.assertEqual(results, [False, False, False])
            # The holder locking again is an error, not a deadlock.
            with self.assertRaises(plexus.InvalidArgument):
                m.acquire(timeout=1)
        self.assertFalse(m.locked())
        with self.assertRaises(plexus.InvalidArgument):
            m.release()  # not held
        with self.assertRaises(ValueError):
            m.acquire(blocking=False, timeout=1)

    def test_mutual_exclusion(self) -> None:
        m = self.region.mutex("m")
        a = self.region.array("a", 1)
        a[0] = 0

        def work() -> None:
            for _ in range(300):
                with m:
                    v = a[0]  # read-modify-write that is only safe under the lock
                    a[0] = v + 1

        threads = [threading.Thread(target=work) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(a[0], 1200)

    def test_owner_died(self) -> None:
        m = self.region.mutex("m")
        child = start_python(HOLDER, self.name, "mutex")
        try:
            self.assertEqual(
                child.stdout.readline().strip(),
                "holding",
                child.stderr.read() if child.poll() is not None else "",
            )
            self.assertFalse(m.acquire(timeout=0))
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()
            child.stderr.close()
            child.stdin.close()
        before = plexus.recovered_locks()
        self.assertTrue(m.acquire(timeout=5))
        self.assertTrue(m.owner_died)
        self.assertGreater(plexus.recovered_locks(), before)
        m.release()
        self.assertTrue(m.acquire(timeout=0))
        self.assertFalse(m.owner_died)
        m.release()

    def test_close(self) -> None:
        m = self.region.mutex("m")
        m.close()
        with self.assertRaises(plexus.BadHandle):
            m.acquire()


class BarrierTest(RegionTest):
    def test_rounds(self) -> None:
        b = self.region.barrier("step", 3)
        self.assertEqual(b.parties, 3)
        lasts = []
        lock = threading.Lock()

        def party() -> None:
            for _ in range(5):
                last = b.wait(timeout=10)
                with lock:
                    lasts.append(last)

        threads = [threading.Thread(target=party) for _ in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(len(lasts), 15)
        self.assertEqual(lasts.count(True), 5)  # exactly one "last" per round

    def test_timeout_withdraws_arrival(self) -> None:
        b = self.region.barrier("step", 2)
        with self.assertRaises(plexus.Timeout):
            b.wait(timeout=0)
        t = time.monotonic()
        with self.assertRaises(plexus.Timeout):
            b.wait(timeout=0.2)
        self.assertGreaterEqual(time.monotonic() - t, 0.2)
        # Both earlier arrivals were withdrawn: a round still needs two parties.
        results = []
        th = threading.Thread(target=lambda: results.append(b.wait(timeout=10)))
        th.start()
        results.append(b.wait(timeout=10))
        th.join()
        self.assertEqual(sorted(results), [False, True])

    def test_shapes(self) -> None:
        self.region.barrier("step", 2)
        with self.assertRaises(plexus.Incompatible):
            self.region.barrier("step", 3)
        with self.assertRaises(plexus.NotFound):
            self.region.barrier("absent")
        with self.assertRaises(ValueError):
            self.region.barrier("big", 2**32)
        self.region.barrier("step").close()


class SemaphoreTest(RegionTest):
    def test_permits(self) -> None:
        s = self.region.semaphore("writers", 2)
        self.assertEqual((s.permits, s.available, s.held), (2, 2, 0))
        self.assertTrue(s.acquire())
        with s:
            self.assertEqual((s.available, s.held), (0, 2))
            self.assertFalse(s.acquire(timeout=0))
            self.assertFalse(s.acquire(blocking=False))
            self.assertFalse(s.acquire(timeout=0.1))
        s.release()
        self.assertEqual((s.available, s.held), (2, 0))
        with self.assertRaises(plexus.InvalidArgument):
            s.release()  # holds none

    def test_waiter_gets_released_permit(self) -> None:
        s = self.region.semaphore("one", 1)
        s.acquire()
        got = []
        th = threading.Thread(target=lambda: got.append(s.acquire(timeout=10)))
        th.start()
        time.sleep(0.1)
        s.release()
        th.join()
        self.assertEqual(got, [True])

    def test_dead_holders_permit_comes_back(self) -> None:
        s = self.region.semaphore("s", 1)
        child = start_python(HOLDER, self.name, "semaphore")
        try:
            self.assertEqual(child.stdout.readline().strip(), "holding")
            self.assertFalse(s.acquire(timeout=0))
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            for f in (child.stdout, child.stderr, child.stdin):
                f.close()
        self.assertTrue(s.acquire(timeout=5))
        s.release()


if __name__ == "__main__":
    unittest.main()
