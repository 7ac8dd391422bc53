"""Named events on a bus: ``bus.emit(topic, value)``, ``bus.on(prefix, callback)``
(a background thread, ``.cancel()``), ``for topic, value, seq in bus.events(prefix)``,
the asyncio twins, one order with plain messages, bad topics, and another process's
events."""

from __future__ import annotations

import asyncio
import threading
import unittest
from typing import List

from _support import RegionTest, assert_ok, plexus, run_python

EMITTER = """
import sys, plexus
r = plexus.Region(sys.argv[1], mode="open", wait=10)
b = r.bus("ev")
for i in range(20):
    b.emit("job.done" if i % 2 else "other", {"i": i})
"""


class EventsTest(RegionTest):
    def test_emit_and_filtered_subscriptions_keep_one_order(self) -> None:
        bus = self.region.bus("ev", 16)
        everything = bus.events()
        jobs = bus.subscribe(prefix="job.")
        self.assertEqual(jobs.prefix, "job.")
        self.assertEqual(bus.emit("job.start", 1), 1)
        self.assertEqual(bus.publish("plain"), 2)
        self.assertEqual(bus.emit("user.login", {"who": "ann"}), 3)
        self.assertEqual(bus.emit("job.done", b"\x01\x02"), 4)
        self.assertEqual(bus.emit("", 5), 5)  # "" is a plain publish
        got = [everything.next_event(0) for _ in range(5)]
        self.assertEqual(
            got,
            [
                ("job.start", 1, 1),
                ("", "plain", 2),
                ("user.login", {"who": "ann"}, 3),
                ("job.done", b"\x01\x02", 4),
                ("", 5, 5),
            ],
        )
        self.assertIsInstance(got[0], plexus.Event)
        self.assertEqual(got[0].topic, "job.start")
        self.assertEqual(jobs.next_event(0), ("job.start", 1, 1))
        self.assertEqual(jobs.next(0), (4, b"\x01\x02"))  # value-only calls filter too
        with self.assertRaises(plexus.Timeout):
            jobs.next_event(0)
        longest = "t" * plexus.MAX_TOPIC_LEN
        bus.emit(longest, None)
        self.assertEqual(everything.next_event(0).topic, longest)
        # Bad topics: nothing published.
        for bad in ["t" * (plexus.MAX_TOPIC_LEN + 1), "a\0b"]:
            with self.assertRaises(plexus.InvalidArgument):
                bus.emit(bad, 1)
            with self.assertRaises(plexus.InvalidArgument):
                bus.subscribe(prefix=bad)
        with self.assertRaises(TypeError):
            bus.emit(1, 1)  # type: ignore[arg-type]
        self.assertEqual(bus.next_seq, 7)

    def test_iterating_events_until_shutdown(self) -> None:
        bus = self.region.bus("ev", 16)
        with bus.events("job.", oldest=True) as events:
            bus.emit("job.1", "a")
            bus.emit("nope", "b")
            bus.emit("job.2", "c")
            bus.shutdown()
            seen = [(topic, value, seq) for topic, value, seq in events]
        self.assertEqual(seen, [("job.1", "a", 1), ("job.2", "c", 3)])

    def test_on_calls_back_on_a_thread_until_cancelled(self) -> None:
        bus = self.region.bus("ev", 64)
        got: List[plexus.Event] = []
        two = threading.Event()

        def callback(e: plexus.Event) -> None:
            got.append(e)
            self.assertIsNot(threading.current_thread(), threading.main_thread())
            if len(got) == 2:
                two.set()

        listener = bus.on("job.", callback)
        self.assertTrue(listener.active)
        bus.emit("job.a", 1)
        bus.emit("other", 2)
        bus.publish(3)
        bus.emit("job.b", 4)
        self.assertTrue(two.wait(10))
        listener.cancel()
        self.assertFalse(listener.active)
        bus.emit("job.c", 5)
        self.assertEqual(got, [("job.a", 1, 1), ("job.b", 4, 4)])
        with self.assertRaises(TypeError):
            bus.on("x", "not callable")  # type: ignore[arg-type]

    def test_a_callback_that_raises_does_not_stop_the_listener(self) -> None:
        bus = self.region.bus("ev", 8)
        got: List[int] = []
        done = threading.Event()

        def callback(e: plexus.Event) -> None:
            if e.value == 1:
                raise ValueError("a bad callback")
            got.append(e.value)
            done.set()

        import contextlib
        import io

        with contextlib.redirect_stderr(io.StringIO()) as err, bus.on("", callback):
            bus.emit("a", 1)
            bus.emit("a", 2)
            self.assertTrue(done.wait(10))
        self.assertEqual(got, [2])
        self.assertIn("a bad callback", err.getvalue())

    def test_events_from_another_process(self) -> None:
        bus = self.region.bus("ev", 64)
        got: List[plexus.Event] = []
        ten = threading.Event()

        def callback(e: plexus.Event) -> None:
            got.append(e)
            if len(got) == 10:
                ten.set()

        with bus.on("job.", callback):
            assert_ok(self, "emitter", run_python(EMITTER, self.name))
            self.assertTrue(ten.wait(10))
        self.assertEqual([e.value["i"] for e in got], list(range(1, 20, 2)))
        self.assertEqual([e.seq for e in got], list(range(2, 21, 2)))

    def test_asyncio_twins(self) -> None:
        bus = self.region.bus("ev", 16)

        async def main() -> List[plexus.Event]:
            events = bus.events("job.")
            first = asyncio.ensure_future(events.next_event_async(10))
            await asyncio.sleep(0.05)
            bus.emit("other", 0)
            bus.emit("job.x", 1)
            seen = [await first]
            bus.emit("job.y", 2)
            bus.shutdown()
            async for e in events:
                seen.append(e)
            events.close()
            return seen

        self.assertEqual(asyncio.run(main()), [("job.x", 1, 2), ("job.y", 2, 3)])


if __name__ == "__main__":
    unittest.main()
