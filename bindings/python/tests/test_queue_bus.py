"""Queues and buses."""

from __future__ import annotations

import subprocess
import threading
import time
import unittest

from _support import RegionTest, assert_ok, plexus, run_python, start_python

# A consumer in another process: opens queue argv[2] through its own region handle,
# says "ready <is_shutdown>", pops (blocking) until plexus.Closed, then prints what it
# got and is_shutdown as seen through its handle.
CONSUMER = """
import sys, plexus
r = plexus.Region(sys.argv[1], mode="open", wait=10)
q = r.queue(sys.argv[2])
print("ready", q.is_shutdown, flush=True)
got = []
try:
    while True:
        got.append(q.pop(timeout=30))
except plexus.Closed:
    pass
print(repr(got), q.is_shutdown, flush=True)
"""

# The same for a bus: subscribes to bus argv[2] from the oldest retained message.
SUBSCRIBER = """
import sys, plexus
r = plexus.Region(sys.argv[1], mode="open", wait=10)
b = r.bus(sys.argv[2])
sub = b.subscribe(oldest=True)
print("ready", b.is_shutdown, flush=True)
got = []
try:
    while True:
        got.append(sub.next(timeout=30).value)
except plexus.Closed:
    pass
print(repr(got), b.is_shutdown, flush=True)
"""


def finish(test: unittest.TestCase, proc: subprocess.Popen, what: str) -> str:
    """Waits for a start_python child and returns its last stdout line. Reads through
    proc.stdout (not communicate(), which would miss lines a readline() buffered)."""
    killer = threading.Timer(60, proc.kill)
    killer.start()
    try:
        proc.stdin.close()
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.wait()
    finally:
        killer.cancel()
    test.assertEqual(proc.returncode, 0, f"{what}:\n{err}")
    return out.strip().splitlines()[-1]


class QueueTest(RegionTest):
    def test_fifo(self) -> None:
        q = self.region.queue("work", 4)
        self.assertEqual(q.capacity, 4)
        self.assertEqual(len(q), 0)
        self.assertFalse(q.is_shutdown)
        for v in ["a", 2, None, {"k": [1]}]:
            q.push(v)
        self.assertEqual(len(q), 4)
        with self.assertRaises(plexus.Timeout):
            q.push("full", timeout=0)
        t = time.monotonic()
        with self.assertRaises(plexus.Timeout):
            q.push("full", timeout=0.15)
        self.assertGreaterEqual(time.monotonic() - t, 0.15)
        self.assertEqual([q.pop(), q.pop(), q.pop(), q.pop()], ["a", 2, None, {"k": [1]}])
        with self.assertRaises(plexus.Timeout):
            q.pop(timeout=0)
        with self.assertRaises(plexus.Timeout):
            q.pop(timeout=0.1)

    def test_lifo(self) -> None:
        s = self.region.queue("stack", 8, lifo=True)
        for i in range(5):
            s.push(i)
        self.assertEqual([s.pop() for _ in range(5)], [4, 3, 2, 1, 0])
        with self.assertRaises(plexus.Incompatible):
            self.region.queue("stack", 8)  # a FIFO of that name? it is a LIFO
        self.assertEqual(self.region.queue("stack").capacity, 8)  # 0: either kind

    def test_shutdown_and_iterate(self) -> None:
        q = self.region.queue("work", 16)
        for i in range(5):
            q.push(i)
        q.shutdown()
        q.shutdown()  # shutting down a shut-down queue is fine
        self.assertTrue(q.is_shutdown)
        with self.assertRaises(plexus.Closed):
            q.push(99)
        self.assertEqual(list(q), [0, 1, 2, 3, 4])  # drains, then stops
        with self.assertRaises(plexus.Closed) as cm:
            q.pop()
        self.assertEqual(cm.exception.status_name, "PLEXUS_CLOSED")
        self.assertEqual(len(q), 0)

    def test_shutdown_wakes_blocked_pop(self) -> None:
        q = self.region.queue("work", 4)
        errors = []

        def consumer() -> None:
            try:
                q.pop()
            except plexus.Closed as e:
                errors.append(e)

        th = threading.Thread(target=consumer)
        th.start()
        time.sleep(0.1)
        q.shutdown()
        th.join(5)
        self.assertEqual(len(errors), 1)

    def test_producers_consumers(self) -> None:
        q = self.region.queue("work", 8)
        got: list = []
        lock = threading.Lock()

        def producer(base: int) -> None:
            for i in range(500):
                q.push(base + i, timeout=10)

        def consumer() -> None:
            for v in q:
                with lock:
                    got.append(v)

        producers = [threading.Thread(target=producer, args=(k * 1000,)) for k in range(3)]
        consumers = [threading.Thread(target=consumer) for _ in range(2)]
        for th in producers + consumers:
            th.start()
        for th in producers:
            th.join()
        q.shutdown()
        for th in consumers:
            th.join()
        self.assertEqual(sorted(got), sorted(k * 1000 + i for k in range(3) for i in range(500)))

    def test_close_gives_back_only_the_handle(self) -> None:
        q = self.region.queue("work", 4)
        other = self.region.queue("work")  # the same C handle, opened twice
        q.push("stays")
        q.close()
        q.close()  # idempotent
        with self.assertRaises(plexus.BadHandle):
            q.push("x")
        with self.assertRaises(plexus.BadHandle):
            q.is_shutdown
        self.assertIn("handle closed", repr(q))
        # The queue was not shut down: it works through the other handle, values kept.
        self.assertFalse(other.is_shutdown)
        other.push("more", timeout=0)
        self.assertEqual(len(other), 2)
        self.assertEqual(other.pop(timeout=0), "stays")
        other.close()
        # ... and for another process, after every handle of this process was given back.
        proc = run_python(
            """
            import sys, plexus
            q = plexus.Region(sys.argv[1], mode="open").queue("work")
            print(q.is_shutdown, q.pop(timeout=0), len(q))
            """,
            self.name,
        )
        assert_ok(self, "child", proc)
        self.assertEqual(proc.stdout.split(), ["False", "more", "0"])

    def test_shutdown_wakes_a_pop_blocked_in_another_process(self) -> None:
        q = self.region.queue("work", 8)
        other = plexus.Region(self.name, mode="open")  # a second region handle
        self.addCleanup(other.close)
        q2 = other.queue("work")
        child = start_python(CONSUMER, self.name, "work")
        self.addCleanup(lambda: child.poll() is None and child.kill())
        self.assertEqual(child.stdout.readline().split(), ["ready", "False"])
        q.push("a")
        q.push({"b": 2})
        deadline = time.monotonic() + 10
        while len(q) and time.monotonic() < deadline:  # the child drains them...
            time.sleep(0.01)
        time.sleep(0.2)  # ... and blocks in pop on the empty queue
        self.assertFalse(q2.is_shutdown)
        q.shutdown()
        self.assertEqual(finish(self, child, "consumer"), "['a', {'b': 2}] True")
        self.assertTrue(q2.is_shutdown)  # through another region handle of this process
        with self.assertRaises(plexus.Closed):
            q2.push("late")

    def test_shutdown_lets_another_process_drain_then_closed(self) -> None:
        q = self.region.queue("work", 8)
        for v in ["x", 2, None]:
            q.push(v)
        q.shutdown()
        q.close()  # gives back the handle; the values stay for the consumer
        child = start_python(CONSUMER, self.name, "work")
        self.assertEqual(child.stdout.readline().split(), ["ready", "True"])
        self.assertEqual(finish(self, child, "consumer"), "['x', 2, None] True")
        self.assertEqual(len(self.region.queue("work")), 0)


class BusTest(RegionTest):
    def test_publish_subscribe(self) -> None:
        b = self.region.bus("events", 8)
        self.assertEqual(b.capacity, 8)
        self.assertEqual(b.next_seq, 1)
        early = b.subscribe()
        self.assertEqual(b.publish("first"), 1)
        late = b.subscribe()  # from now: misses "first"
        oldest = b.subscribe(oldest=True)
        self.assertEqual(b.publish({"n": 2}), 2)
        self.assertEqual(early.next(timeout=0), plexus.Message(1, "first"))
        self.assertEqual(early.next(timeout=0), (2, {"n": 2}))
        self.assertEqual(late.next(timeout=0).value, {"n": 2})
        self.assertEqual(oldest.next(timeout=0).seq, 1)
        with self.assertRaises(plexus.Timeout):
            early.next(timeout=0)
        with self.assertRaises(plexus.Timeout):
            early.next(timeout=0.1)
        self.assertEqual(b.next_seq, 3)

    def test_publish_many(self) -> None:
        b = self.region.bus("events", 8)
        sub = b.subscribe()
        self.assertEqual(b.publish("single"), 1)
        self.assertEqual(b.publish_many(["a", {"n": 2}, "x" * 300]), 2)
        self.assertEqual(b.publish_many(i for i in range(2)), 5)  # any iterable
        self.assertEqual(b.publish_many([]), 0)  # nothing published
        got = [sub.next(timeout=0) for _ in range(6)]
        self.assertEqual(
            got,
            [(1, "single"), (2, "a"), (3, {"n": 2}), (4, "x" * 300), (5, 0), (6, 1)],
        )
        # An unsupported value anywhere: nothing published.
        with self.assertRaises(TypeError):
            b.publish_many([1, object()])
        with self.assertRaises(TypeError):
            b.publish_many("abc")  # a str is one value
        self.assertEqual(b.next_seq, 7)
        with self.assertRaises(plexus.Timeout):
            sub.next(timeout=0)
        # Batches stay together while another thread publishes single messages.
        big = self.region.bus("mixed", 4096)
        all_ = big.subscribe()

        def singles() -> None:
            for i in range(500):
                big.publish(-1 - i)

        th = threading.Thread(target=singles)
        th.start()
        firsts = [big.publish_many([f"{k}-{j}" for j in range(8)]) for k in range(60)]
        th.join()
        seen = {m.seq: m.value for m in (all_.next(timeout=0) for _ in range(500 + 480))}
        for k, first in enumerate(firsts):
            self.assertEqual([seen[first + j] for j in range(8)], [f"{k}-{j}" for j in range(8)])
        b.shutdown()
        with self.assertRaises(plexus.Closed):
            b.publish_many([1])

    def test_slow_subscriber_sees_gap(self) -> None:
        b = self.region.bus("events", 4)
        sub = b.subscribe()
        for i in range(10):
            b.publish(i)
        seq, value = sub.next(timeout=0)
        self.assertGreater(seq, 1)  # fell behind: messages 1.. were overwritten
        self.assertEqual(value, seq - 1)
        rest = [sub.next(timeout=0).seq for _ in range(10 - seq)]
        self.assertEqual(rest, list(range(seq + 1, 11)))

    def test_shutdown_and_iterate(self) -> None:
        b = self.region.bus("events", 16)
        self.assertFalse(b.is_shutdown)
        with b.subscribe() as sub:
            for i in range(3):
                b.publish(i)
            b.shutdown()
            b.shutdown()  # shutting down a shut-down bus is fine
            self.assertTrue(b.is_shutdown)
            with self.assertRaises(plexus.Closed):
                b.publish(3)
            self.assertEqual([m.value for m in sub], [0, 1, 2])
            with self.assertRaises(plexus.Closed):
                sub.next()
        with self.assertRaises(plexus.BadHandle):
            sub.next(timeout=0)
        sub.close()  # idempotent

    def test_every_subscriber_sees_every_message_in_one_order(self) -> None:
        b = self.region.bus("events", 4096)
        subs = [b.subscribe() for _ in range(3)]

        def publisher(k: int) -> None:
            for i in range(300):
                b.publish(f"{k}-{i}")

        threads = [threading.Thread(target=publisher, args=(k,)) for k in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        b.shutdown()
        seen = [list(s) for s in subs]
        self.assertEqual(len(seen[0]), 900)
        self.assertEqual(seen[0], seen[1])
        self.assertEqual(seen[0], seen[2])
        self.assertEqual([m.seq for m in seen[0]], list(range(1, 901)))
        for k in range(3):
            mine = [m.value for m in seen[0] if m.value.startswith(f"{k}-")]
            self.assertEqual(mine, [f"{k}-{i}" for i in range(300)])

    def test_close_gives_back_only_the_handle(self) -> None:
        b = self.region.bus("events", 4)
        sub = b.subscribe()
        b.close()
        b.close()  # idempotent
        with self.assertRaises(plexus.BadHandle):
            b.publish(1)
        with self.assertRaises(plexus.BadHandle):
            b.is_shutdown
        again = self.region.bus("events")
        self.assertFalse(again.is_shutdown)  # closing the handle did not end the bus
        again.publish("again")
        self.assertEqual(sub.next(timeout=1).value, "again")  # subscriptions stay valid
        self.assertIs(sub.bus, b)
        self.assertIn("events", repr(sub))

    def test_shutdown_ends_a_subscriber_blocked_in_another_process(self) -> None:
        b = self.region.bus("events", 16)
        other = plexus.Region(self.name, mode="open")
        self.addCleanup(other.close)
        b2 = other.bus("events")
        b.publish("before")
        child = start_python(SUBSCRIBER, self.name, "events")
        self.addCleanup(lambda: child.poll() is None and child.kill())
        self.assertEqual(child.stdout.readline().split(), ["ready", "False"])
        b.publish({"n": 2})
        time.sleep(0.2)  # the child receives both and blocks in next()
        b.shutdown()
        self.assertEqual(finish(self, child, "subscriber"), "['before', {'n': 2}] True")
        self.assertTrue(b2.is_shutdown)
        with self.assertRaises(plexus.Closed):
            b2.publish("late")


if __name__ == "__main__":
    unittest.main()
