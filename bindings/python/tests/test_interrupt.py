"""Ctrl-C (SIGINT) interrupts every blocking call promptly with KeyboardInterrupt, and
leaves nothing changed (EMS's Python binding hangs instead)."""

from __future__ import annotations

import signal
import time
import unittest

from _support import RegionTest, plexus, start_python, start_redis, unique

# Blocks in each operation in turn; the parent sends SIGINT during each one. The
# default SIGINT handler is installed explicitly: a process started from a shell
# without job control inherits SIGINT ignored, and Python then keeps ignoring it.
BLOCKER = """
import signal, sys, plexus
signal.signal(signal.SIGINT, signal.default_int_handler)
name = sys.argv[1]
r = plexus.Region(name, mode="open")
a = r.array("a", 2)         # [0] EMPTY, [1] FULL
m = r.map("m", 8)           # "full" FULL, "absent" absent
q = r.queue("q", 1)         # full
e = r.queue("e", 1)         # empty
b = r.bus("b", 4)
sub = b.subscribe()
mx = r.mutex("mx")          # held by the parent
sem = r.semaphore("sem", 1) # held by the parent
bar = r.barrier("bar", 2)

def with_mutex():
    with mx:
        pass

ops = {
    "array.read_fe": lambda: a.read_fe(0),
    "array.read_fe(timeout=60)": lambda: a.read_fe(0, timeout=60),
    "array.read_ff": lambda: a.read_ff(0),
    "array.write_ef": lambda: a.write_ef(1, "x"),
    "array.read_rw": lambda: a.read_rw(0),
    "array.rw": lambda: a.rw(0).__enter__(),
    "array.wait_change": lambda: a.wait_change(0, a.version(0)),
    "map.read_fe": lambda: m.read_fe("absent"),
    "map.read_ff": lambda: m.read_ff("absent", timeout=3600),
    "map.write_ef": lambda: m.write_ef("full", "x"),
    "map.wait_change": lambda: m.wait_change("absent", 0),
    "map.watch": lambda: next(m.watch("absent")),
    "array.watch": lambda: next(a.watch(0, a.version(0))),
    "map.wait_changes": lambda: m.wait_changes(m.change_count()),
    "map.watch_map": lambda: next(m.watch_map(m.change_count())),
    "queue.pop": lambda: e.pop(),
    "queue.iter": lambda: next(iter(e)),
    "queue.push": lambda: q.push("more"),
    "queue.push_many": lambda: q.push_many(["more", "and more"]),
    "queue.pop_many": lambda: e.pop_many(5),
    "subscription.next": lambda: sub.next(),
    "subscription.iter": lambda: next(sub),
    "mutex.acquire": lambda: mx.acquire(),
    "mutex.with": with_mutex,
    "semaphore.acquire": lambda: sem.acquire(timeout=1e9),
    "barrier.wait": lambda: bar.wait(),
    "region.wait_object": lambda: r.wait_object("never"),
    "Region(mode=open, wait=None)": lambda: plexus.Region(name + "-never", mode="open", wait=None),
}
for op, fn in ops.items():
    print("ready", op, flush=True)
    try:
        fn()
        print("returned", op, flush=True)
    except KeyboardInterrupt:
        print("interrupted", op, flush=True)
print("state", a.is_full(0), a.is_full(1), a.read(1), m.read("full"), "absent" in m,
      len(q), len(e), mx.locked(), sem.held, sem.available, flush=True)
"""

UNCAUGHT = """
import signal, sys, plexus
signal.signal(signal.SIGINT, signal.default_int_handler)
r = plexus.Region(sys.argv[1], mode="open")
a = r.array("a", 2)
print("ready", flush=True)
a.read_fe(0)
"""


class CtrlC(RegionTest):
    def setUp(self) -> None:
        super().setUp()
        r = self.region
        a = r.array("a", 2)
        a.write_xf(1, "kept")
        r.map("m", 8).write_xf("full", "kept")
        r.queue("q", 1).push("only")
        r.queue("e", 1)
        r.bus("b", 4)
        self.mx = r.mutex("mx")
        self.assertTrue(self.mx.acquire(timeout=0))
        self.addCleanup(self.mx.release)
        self.sem = r.semaphore("sem", 1)
        self.assertTrue(self.sem.acquire(timeout=0))
        self.addCleanup(self.sem.release)
        r.barrier("bar", 2)

    def test_every_blocking_call_is_interruptible(self) -> None:
        child = start_python(BLOCKER, self.name)
        latencies = {}
        try:
            while True:
                line = child.stdout.readline().split(" ", 1)
                if line[0] != "ready":
                    break
                op = line[1].strip()
                time.sleep(0.125)  # well inside the blocking call, mid-slice
                t = time.monotonic()
                child.send_signal(signal.SIGINT)
                answer = child.stdout.readline().strip()
                latencies[op] = time.monotonic() - t
                self.assertEqual(
                    answer, f"interrupted {op}", child.stderr.read() if not answer else ""
                )
                self.assertLess(latencies[op], 1.0, f"{op} took {latencies[op]:.3f} s to interrupt")
            self.assertEqual(line[0], "state", line)
            # Nothing changed: no value consumed or written, no lock or permit taken.
            self.assertEqual(
                line[1].split(),
                ["False", "True", "kept", "kept", "False", "1", "0", "True", "0", "0"],
            )
            self.assertEqual(child.wait(10), 0, child.stderr.read())
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            for f in (child.stdout, child.stderr, child.stdin):
                f.close()
        self.assertEqual(len(latencies), 28)
        # The barrier's arrival was withdrawn: a round still needs two parties.
        with self.assertRaises(plexus.Timeout):
            self.region.barrier("bar").wait(timeout=0)

    def test_uncaught_interrupt_ends_the_process(self) -> None:
        child = start_python(UNCAUGHT, self.name)
        try:
            self.assertEqual(child.stdout.readline().strip(), "ready")
            time.sleep(0.2)
            t = time.monotonic()
            child.send_signal(signal.SIGINT)
            code = child.wait(10)
            elapsed = time.monotonic() - t
            err = child.stderr.read()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            for f in (child.stdout, child.stderr, child.stdin):
                f.close()
        self.assertNotEqual(code, 0)
        self.assertIn("KeyboardInterrupt", err)
        self.assertLess(elapsed, 2.0)
        self.assertFalse(self.region.array("a").is_full(0))


REMOTE_BLOCKER = """
import signal, sys, plexus
signal.signal(signal.SIGINT, signal.default_int_handler)
r = plexus.Region(sys.argv[1], mode="open")
a = r.array("a", 2)         # [0] EMPTY
for timeout in (None, 3600):
    print("ready", timeout, flush=True)
    try:
        a.read_fe(0, timeout=timeout)
        print("returned", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
# The handle still works after the interrupted waits, and nothing was taken.
print("state", a.is_full(0), flush=True)
print("read", a.read_fe(0, timeout=30), flush=True)
"""


class CtrlCRemote(unittest.TestCase):
    """Ctrl-C interrupts a wait on a remote region (the wait blocks on the server in
    slices, as a local one does in shared memory)."""

    def test_remote_read_fe_is_interruptible(self) -> None:
        server = start_redis(self)
        url = server.url(unique("ctrlc-remote"))
        region = plexus.Region(url, mode="create")
        self.addCleanup(plexus.Region.remove, url, True)
        self.addCleanup(region.close)
        a = region.array("a", 2)
        child = start_python(REMOTE_BLOCKER, url)
        try:
            for timeout in ("None", "3600"):
                self.assertEqual(child.stdout.readline().split(), ["ready", timeout])
                time.sleep(0.3)  # well inside the wait: on the server, mid-slice
                t = time.monotonic()
                child.send_signal(signal.SIGINT)
                answer = child.stdout.readline().strip()
                latency = time.monotonic() - t
                self.assertEqual(answer, "interrupted", child.stderr.read() if not answer else "")
                self.assertLess(latency, 2.0, f"took {latency:.3f} s to interrupt")
            self.assertEqual(child.stdout.readline().split(), ["state", "False"])
            a.write_ef(0, "after", timeout=30)
            self.assertEqual(child.stdout.readline().strip(), "read after")
            self.assertEqual(child.wait(30), 0, child.stderr.read())
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            for f in (child.stdout, child.stderr, child.stdin):
                f.close()
        self.assertFalse(a.is_full(0))


class Slices(RegionTest):
    def test_timeout_conversion(self) -> None:
        from plexus._wait import timeout_seconds

        self.assertIsNone(timeout_seconds(None))
        self.assertIsNone(timeout_seconds(-1))  # as threading.Lock.acquire
        self.assertIsNone(timeout_seconds(-1.0))
        self.assertIsNone(timeout_seconds(float("inf")))
        self.assertIsNone(timeout_seconds(10**30))
        self.assertEqual(timeout_seconds(0), 0)
        self.assertGreater(timeout_seconds(1e-12), 0)  # positive never becomes "try once"
        self.assertEqual(timeout_seconds(1.5), 1.5)
        for bad in (float("nan"), -2, -0.5, -(10**30), float("-inf")):
            with self.assertRaises(ValueError, msg=repr(bad)):
                timeout_seconds(bad)
        for bad in ("soon", "1", True, False, b"1", [1]):
            with self.assertRaises(TypeError, msg=repr(bad)):
                timeout_seconds(bad)  # type: ignore[arg-type]

    def test_other_threads_run_while_a_call_waits(self) -> None:
        # A call blocked in plexus releases the GIL: a pure-Python thread keeps counting
        # meanwhile, and the call still ends at its deadline (waited in slices).
        import threading

        a = self.region.array("a", 1)
        counted = [0]
        stop = threading.Event()

        def count() -> None:
            while not stop.is_set():
                counted[0] += 1

        th = threading.Thread(target=count)
        th.start()
        try:
            time.sleep(0.05)
            before = counted[0]
            t = time.monotonic()
            with self.assertRaises(plexus.Timeout):
                a.read_fe(0, timeout=0.32)  # several slices
            elapsed = time.monotonic() - t
            during = counted[0] - before
        finally:
            stop.set()
            th.join()
        self.assertGreaterEqual(elapsed, 0.32)
        self.assertLess(elapsed, 2.0)
        self.assertGreater(during, 10_000, "the other thread did not run while read_fe waited")


if __name__ == "__main__":
    unittest.main()
