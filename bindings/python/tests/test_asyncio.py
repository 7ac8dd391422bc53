"""The asyncio twins: each one waits without blocking the event loop, honours its
timeout, and can be cancelled without losing a value (nothing is taken after the
cancellation)."""

from __future__ import annotations

import asyncio
import threading
import time
import unittest
from typing import Any, Awaitable, Callable, List

from _support import RegionTest, plexus


class Ticker:
    """Counts event-loop turns while a twin waits: a blocked loop would count none."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: "asyncio.Task[None]"

    async def _run(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0.001)

    def __enter__(self) -> "Ticker":
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        self._task.cancel()


def later(delay: float, fn: Callable[[], Any]) -> threading.Thread:
    """Runs ``fn`` in another thread after ``delay`` seconds (as another process
    would)."""

    def run() -> None:
        time.sleep(delay)
        fn()

    th = threading.Thread(target=run)
    th.start()
    return th


class Twins(RegionTest):
    def run_async(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run(coro)  # type: ignore[arg-type]

    def waits_without_blocking(self, twin: Callable[[], Awaitable[Any]], make_ready: Callable[[], Any]) -> Any:
        """``await twin()`` while another thread makes it ready after 0.2 s: the loop
        keeps turning meanwhile, and the twin returns soon after."""

        async def main() -> Any:
            with Ticker() as ticker:
                th = later(0.2, make_ready)
                t = time.monotonic()
                result = await asyncio.wait_for(twin(), 10)
                elapsed = time.monotonic() - t
                th.join()
            self.assertGreater(ticker.ticks, 20, "the event loop was blocked")
            self.assertGreaterEqual(elapsed, 0.15)
            self.assertLess(elapsed, 5)
            return result

        return self.run_async(main())

    def test_elements(self) -> None:
        a = self.region.array("a", 2)
        m = self.region.map("m", 8)
        self.assertEqual(self.waits_without_blocking(lambda: a.read_fe_async(0), lambda: a.write_ef(0, "x")), "x")
        self.assertFalse(a.is_full(0))
        self.assertEqual(self.waits_without_blocking(lambda: m.read_ff_async("k"), lambda: m.write_ef("k", 5)), 5)
        self.assertTrue(m.is_full("k"))
        self.waits_without_blocking(lambda: m.write_ef_async("k", 6), lambda: m.read_fe("k"))
        self.assertEqual(m.read_fe("k", 0), 6)
        got = self.waits_without_blocking(lambda: a.read_rw_async(1), lambda: a.write_xf(1, "shared"))
        self.assertEqual(got, "shared")
        a.release_rw(1)
        v = a.version(0)
        new = self.waits_without_blocking(lambda: a.wait_change_async(0, v), lambda: a.write(0, 1))
        self.assertGreater(new, v)

    def test_typed_array_blocks_and_wait(self) -> None:
        t = self.region.tarray("t", "i64", 5, block_len=2)

        async def read_block() -> List[int]:
            async with t.read_block_async(1) as view:
                return [int(x) for x in view]

        got = self.waits_without_blocking(read_block, lambda: t.write_block_copy(1, [5, 6]))
        self.assertEqual(got, [5, 6])
        self.assertFalse(t.is_full(1))
        t.write_block_copy(0, [1, 2])

        async def write_block() -> None:
            async with t.write_block_async(0) as view:
                view[0], view[1] = 7, 8

        # Waits until a consumer empties block 0, then writes it: FULL afterwards.
        self.waits_without_blocking(write_block, lambda: t.read_block_copy(0))
        self.assertEqual([int(x) for x in t.read_block_copy(0, timeout=0)], [7, 8])
        got = self.waits_without_blocking(lambda: t.read_block_copy_async(2), lambda: t.write_block_copy(2, [9]))
        self.assertEqual([int(x) for x in got], [9])
        t.write_block_copy(2, [10])
        self.waits_without_blocking(lambda: t.write_block_copy_async(2, [11]), lambda: t.read_block_copy(2))
        self.assertEqual([int(x) for x in t.read_block_copy(2, timeout=0)], [11])
        flag = self.region.tarray("flag", "i32", 1)
        woke = self.waits_without_blocking(lambda: flag.wait_async(0, 0), lambda: (flag.store(0, 1), flag.notify(0)))
        self.assertTrue(woke)

        async def timeouts() -> None:
            with self.assertRaises(plexus.Timeout):
                async with t.read_block_async(1, timeout=0.05):
                    pass
            with self.assertRaises(plexus.Timeout):
                await t.read_block_copy_async(1, timeout=0)
            self.assertFalse(await flag.wait_async(0, 1, timeout=0.05))
            self.assertTrue(await flag.wait_async(0, 0, timeout=0.05))  # differs: at once
            # The body raising still ends the block (FULL: the with wrote it).
            with self.assertRaises(KeyError):
                async with t.write_block_async(1, timeout=1) as view:
                    view[0] = 3
                    raise KeyError("body")
            self.assertTrue(t.is_full(1))

        self.run_async(timeouts())

    def test_timeouts(self) -> None:
        a = self.region.array("a", 1)
        q = self.region.queue("q", 1)
        b = self.region.barrier("b", 2)

        async def main() -> None:
            for twin in (
                lambda: a.read_fe_async(0, 0.1),
                lambda: q.pop_async(0.1),
                lambda: b.wait_async(0.1),
                lambda: self.region.wait_object_async("never", 0.1),
            ):
                t = time.monotonic()
                with self.assertRaises(plexus.Timeout):
                    await twin()
                self.assertGreaterEqual(time.monotonic() - t, 0.09)
            with self.assertRaises(plexus.Timeout):
                await a.read_fe_async(0, 0)  # tries once
            with self.assertRaises(ValueError):
                await q.pop_async(-3)
            with self.assertRaises(TypeError):
                await q.pop_async("1")  # type: ignore[arg-type]

        self.run_async(main())
        # The barrier's arrivals were withdrawn.
        with self.assertRaises(plexus.Timeout):
            b.wait(timeout=0)

    def test_queue_and_async_for(self) -> None:
        q = self.region.queue("q", 4)
        self.assertEqual(self.waits_without_blocking(q.pop_async, lambda: q.push("v")), "v")
        q.push(1)
        q.push(2)
        q.push(3)
        q.push(4)
        self.waits_without_blocking(lambda: q.push_async(5), q.pop)

        async def drain() -> List[Any]:
            out = []
            async for v in q:
                out.append(v)
            return out

        th = later(0.2, q.shutdown)
        self.assertEqual(self.run_async(drain()), [2, 3, 4, 5])
        th.join()
        with self.assertRaises(plexus.Closed):
            self.run_async(q.push_async(6))

    def test_bus_and_async_for(self) -> None:
        bus = self.region.bus("b", 8)
        sub = bus.subscribe()
        msg = self.waits_without_blocking(sub.next_async, lambda: bus.publish("hello"))
        self.assertEqual(msg, plexus.Message(1, "hello"))

        async def collect() -> List[Any]:
            return [m.value async for m in sub]

        def publish_then_shutdown() -> None:
            bus.publish(1)
            bus.publish(2)
            bus.shutdown()

        th = later(0.1, publish_then_shutdown)
        self.assertEqual(self.run_async(collect()), [1, 2])
        th.join()

    def test_locks(self) -> None:
        m = self.region.mutex("m")
        s = self.region.semaphore("s", 1)
        b = self.region.barrier("b", 2)
        holder_ready = threading.Event()
        release = threading.Event()

        def hold() -> None:
            with m, s:
                holder_ready.set()
                release.wait(10)

        th = threading.Thread(target=hold)
        th.start()
        holder_ready.wait(10)

        async def main() -> None:
            self.assertFalse(await m.acquire_async(0.05))
            self.assertFalse(await s.acquire_async(timeout=0))
            with Ticker() as ticker:
                later(0.2, release.set)
                self.assertTrue(await m.acquire_async(10))
                self.assertTrue(await s.acquire_async(10))
            self.assertGreater(ticker.ticks, 20)
            m.release()  # held by this (the event loop's) thread
            s.release()
            async with m:
                self.assertTrue(m.locked())
            async with s:
                self.assertEqual(s.held, 1)
            self.assertFalse(m.locked())
            last = await asyncio.gather(b.wait_async(10), asyncio.get_running_loop().run_in_executor(None, b.wait, 10))
            self.assertEqual(sorted(last), [False, True])

        self.run_async(main())
        th.join()

    def test_region_twins(self) -> None:
        name = self.name + "-later"
        self.addCleanup(plexus.Region.remove, name, True)

        def create() -> None:
            plexus.Region(name, size=1 << 20).close()

        async def main() -> None:
            th = later(0.2, create)
            r = await plexus.Region.open_async(name, wait=10)
            th.join()
            r.close()
            with self.assertRaises(plexus.NotFound):
                await plexus.Region.open_async(name + "-never", wait=0.1)
            th = later(0.1, lambda: self.region.queue("appears", 2))
            await self.region.wait_object_async("appears", 10)
            th.join()

        self.run_async(main())


class CancelLosesNothing(RegionTest):
    """A twin cancelled while it waits takes nothing: a value that arrives around the
    cancellation is either returned by the twin or still there afterwards."""

    rounds = 60

    def race(self, start: Callable[[int], Awaitable[Any]], supply: Callable[[int], Any], left: Callable[[], List[Any]]) -> None:
        async def main() -> None:
            received: List[Any] = []
            for i in range(self.rounds):
                task = asyncio.get_running_loop().create_task(start(i))  # type: ignore[arg-type]
                await asyncio.sleep(0.002 * (i % 5))
                supply(i)  # the value arrives ...
                await asyncio.sleep(0.001 * (i % 3))
                task.cancel()  # ... and the twin is cancelled, in varying order
                try:
                    received.append(await task)
                except asyncio.CancelledError:
                    pass
            remaining = left()
            self.assertEqual(sorted(received + remaining, key=repr), sorted(range(self.rounds), key=repr))
            self.assertGreater(len(received), 0)
            self.assertGreater(len(remaining), 0)

        asyncio.run(main())

    def test_queue_pop(self) -> None:
        q = self.region.queue("q", 128)

        def left() -> List[Any]:
            out = []
            while len(q):
                out.append(q.pop(0))
            return out

        self.race(lambda i: q.pop_async(), lambda i: q.push(i), left)

    def test_array_read_fe(self) -> None:
        a = self.region.array("a", self.rounds)

        def supply(i: int) -> None:
            a.write_ef(i, i, 0)

        def left() -> List[Any]:
            return [a.read(i) for i in range(self.rounds) if a.is_full(i)]

        self.race(lambda i: a.read_fe_async(i), supply, left)

    def test_typed_array_read_block(self) -> None:
        t = self.region.tarray("t", "i64", self.rounds, block_len=1)

        async def start(i: int) -> Any:
            async with t.read_block_async(i) as view:
                return int(view[0])

        def left() -> List[Any]:
            return [int(t.read_block_copy(b, 0)[0]) for b in range(self.rounds) if t.is_full(b)]

        self.race(start, lambda i: t.write_block_copy(i, [i], 0), left)

    def test_subscription_next(self) -> None:
        bus = self.region.bus("b", 256)
        sub = bus.subscribe()

        async def start(i: int) -> Any:
            return (await sub.next_async()).value

        def left() -> List[Any]:
            out = []
            while True:
                try:
                    out.append(sub.next(0).value)
                except plexus.Timeout:
                    return out

        self.race(start, lambda i: bus.publish(i), left)

    def test_cancelled_write_ef_writes_nothing(self) -> None:
        a = self.region.array("a", 1)
        a.write_xf(0, "first")

        async def main() -> None:
            task = asyncio.get_running_loop().create_task(a.write_ef_async(0, "second"))
            await asyncio.sleep(0.05)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            self.assertEqual(a.read_fe(0, 0), "first")
            await asyncio.sleep(0.1)  # the worker thread's slice ends: still nothing
            self.assertFalse(a.is_full(0))

        asyncio.run(main())


if __name__ == "__main__":
    unittest.main()
