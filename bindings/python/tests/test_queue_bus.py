"""Queues and buses."""

from __future__ import annotations

import threading
import time
import unittest

from _support import RegionTest, plexus


class QueueTest(RegionTest):
    def test_fifo(self) -> None:
        q = self.region.queue("work", 4)
        self.assertEqual(q.capacity, 4)
        self.assertEqual(len(q), 0)
        self.assertFalse(q.closed)
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

    def test_close_and_iterate(self) -> None:
        q = self.region.queue("work", 16)
        for i in range(5):
            q.push(i)
        q.close()
        q.close()  # closing a closed queue is fine
        self.assertTrue(q.closed)
        with self.assertRaises(plexus.Closed):
            q.push(99)
        self.assertEqual(list(q), [0, 1, 2, 3, 4])  # drains, then stops
        with self.assertRaises(plexus.Closed) as cm:
            q.pop()
        self.assertEqual(cm.exception.status_name, "PLEXUS_CLOSED")
        self.assertEqual(len(q), 0)

    def test_close_wakes_blocked_pop(self) -> None:
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
        q.close()
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
        q.close()
        for th in consumers:
            th.join()
        self.assertEqual(sorted(got), sorted(k * 1000 + i for k in range(3) for i in range(500)))

    def test_release(self) -> None:
        q = self.region.queue("work", 4)
        q.push("stays")
        q.release()
        with self.assertRaises(plexus.BadHandle):
            q.push("x")
        self.assertEqual(self.region.queue("work").pop(timeout=0), "stays")


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

    def test_close_and_iterate(self) -> None:
        b = self.region.bus("events", 16)
        with b.subscribe() as sub:
            for i in range(3):
                b.publish(i)
            b.close()
            self.assertTrue(b.closed)
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
        b.close()
        seen = [list(s) for s in subs]
        self.assertEqual(len(seen[0]), 900)
        self.assertEqual(seen[0], seen[1])
        self.assertEqual(seen[0], seen[2])
        self.assertEqual([m.seq for m in seen[0]], list(range(1, 901)))
        for k in range(3):
            mine = [m.value for m in seen[0] if m.value.startswith(f"{k}-")]
            self.assertEqual(mine, [f"{k}-{i}" for i in range(300)])

    def test_release(self) -> None:
        b = self.region.bus("events", 4)
        sub = b.subscribe()
        b.release()
        with self.assertRaises(plexus.BadHandle):
            b.publish(1)
        self.region.bus("events").publish("again")
        self.assertEqual(sub.next(timeout=1).value, "again")  # subscriptions stay valid
        self.assertIs(sub.bus, b)
        self.assertIn("events", repr(sub))


if __name__ == "__main__":
    unittest.main()
