"""Observing from Python: ``watch`` (value and version together, the last value never
missed), ``observe`` (callbacks on one thread per region, ``cancel()``), the asyncio
twins, map-wide changes (``change_count``, ``changes_since``, ``watch_map``) and initial
data (``region.map(..., initial=...)``, eight processes racing). Every test runs on a
shared-memory region and on a redis:// region of a private server."""

from __future__ import annotations

import asyncio
import threading
import time
import unittest
from typing import Any, List, Tuple

import subprocess

from _support import RegionTest, assert_ok, child_env, plexus, python_code, start_redis, unique


class Scenarios:
    """The tests; ``self.region`` (and ``self.place``, its name) come from the class."""

    region: Any
    place: str

    def other(self) -> Any:
        r = plexus.Region(self.place, mode="open")
        self.addCleanup(r.close)  # type: ignore[attr-defined]
        return r

    def test_watch_yields_consistent_pairs_and_the_last_value(self) -> None:
        m = self.region.map("w", 8)
        writer_map = self.other().map("w")
        n = 300

        def write() -> None:
            time.sleep(0.05)
            for i in range(1, n + 1):
                writer_map["k"] = i

        t = threading.Thread(target=write)
        t.start()
        seen: List[Tuple[int, Any]] = []
        for version, value in m.watch("k", timeout=30):
            seen.append((version, value))
            if value == n:
                break
        t.join()
        # Plain writes to a fresh key: value i has version i (consistent pairs).
        self.assertTrue(all(v == val for v, val in seen), seen[:10])
        self.assertEqual(seen[-1], (n, n))
        self.assertEqual([v for v, _ in seen], sorted(v for v, _ in seen))
        # timeout ends the iteration quietly; from a version, only newer values.
        self.assertEqual(list(m.watch("k", n, timeout=0.05)), [])
        self.assertEqual(next(m.watch("k")), (n, n))
        # watch_once: one step.
        self.assertEqual(m.watch_once("k", 0, 0), (n, n))
        with self.assertRaises(plexus.Timeout):
            m.watch_once("k", n, 0)
        a = self.region.array("wa", 2)
        a[1] = "x"
        self.assertEqual(next(a.watch(1)), (1, "x"))

    def test_observe_calls_back_on_one_thread_per_region(self) -> None:
        m1 = self.region.map("o1", 8)
        m2 = self.region.map("o2", 8)
        calls: List[Tuple[str, Any, int, int]] = []
        done = threading.Event()

        def on(name: str):
            def cb(value: Any, version: int) -> None:
                calls.append((name, value, version, threading.get_ident()))
                if name == "o1" and value == 200:
                    done.set()

            return cb

        m1["k"] = 0
        o1 = m1.observe("k", on("o1"))
        o2 = m2.observe("k", on("o2"))
        w = self.other().map("o1")
        for i in range(1, 201):
            w["k"] = i
        self.other().map("o2")["k"] = "two"
        self.assertTrue(done.wait(30), calls[-3:])
        for _ in range(3000):
            if any(c[0] == "o2" for c in calls):
                break
            time.sleep(0.01)
        o1.cancel()
        o2.cancel()
        o1.cancel()  # idempotent
        self.assertFalse(o1.active)
        threads = {c[3] for c in calls}
        self.assertEqual(len(threads), 1, "callbacks of one region run on one thread")
        self.assertNotIn(threading.get_ident(), threads)
        mine = [(v, ver) for name, v, ver, _ in calls if name == "o1"]
        self.assertEqual(mine[-1], (200, 201))
        self.assertTrue(all(ver == v + 1 for v, ver in mine), mine[:5])
        self.assertIn(("o2", "two", 1), [(n, v, ver) for n, v, ver, _ in calls])
        # Cancelled: no more calls.
        count = len(calls)
        m1["k"] = 999
        time.sleep(0.2)
        self.assertEqual(len(calls), count)
        # A callback that raises ends its observation, with the error kept.
        def bad(value: Any, version: int) -> None:
            raise ValueError("no")

        with m1.observe("k", bad) as o3:
            for _ in range(3000):
                if not o3.active:
                    break
                time.sleep(0.01)
            self.assertFalse(o3.active)
            self.assertIsInstance(o3.error, ValueError)

    def test_asyncio_twins(self) -> None:
        m = self.region.map("aw", 8)
        w = self.other().map("aw")

        async def main() -> List[Any]:
            got = []

            async def writer() -> None:
                await asyncio.sleep(0.05)
                for i in range(1, 51):
                    w["k"] = i
                    await asyncio.sleep(0)

            task = asyncio.ensure_future(writer())
            async for version, value in m.watch_async("k", timeout=30):
                self.assertEqual(version, value)
                got.append(value)
                if value == 50:
                    break
            await task
            rounds = []
            async for counter, changes in m.watch_map_async(timeout=0.1):
                rounds.append((counter, [c.key for c in changes]))
            return [got, rounds]

        got, rounds = asyncio.run(main())
        self.assertEqual(got[-1], 50)
        self.assertEqual(rounds, [(50, ["k"])])

    def test_map_wide_changes(self) -> None:
        m = self.region.map("mw", 8)
        self.assertEqual(m.change_count(), 0)
        m["a"] = 1
        m["b"] = 2
        self.assertEqual(m.change_count(), 2)
        self.assertEqual(
            sorted(m.changes_since(0)),
            [plexus.Change("a", 1, 1, False), plexus.Change("b", 1, 2, False)],
        )
        del m["a"]
        self.assertEqual(m.changes_since(2), [plexus.Change("a", 0, 3, True)])
        self.assertEqual(m.wait_changes(0), 3)
        with self.assertRaises(plexus.Timeout):
            m.wait_changes(3, timeout=0.05)
        w = self.other().map("mw")
        threading.Timer(0.01, lambda: w.__setitem__("c", 3)).start()
        rounds = list(m.watch_map(3, timeout=1))
        self.assertEqual([(n, [c.key for c in ch]) for n, ch in rounds], [(4, ["c"])])
        for i in range(17):
            m[f"t{i}"] = i
            del m[f"t{i}"]
        with self.assertRaises(plexus.OutOfRange):
            m.changes_since(3)
        first = next(m.watch_map(3))
        self.assertEqual(sorted(c.key for c in first[1] if not c.removed), ["b", "c"])

    def test_initial_data(self) -> None:
        m = self.region.map("cfg", 100, initial={"mode": "auto", "limit": 10, "tags": ["a"]})
        self.assertEqual(dict(m.items()), {"mode": "auto", "limit": 10, "tags": ["a"]})
        self.assertTrue(m.is_full("mode"))
        self.assertEqual(m.version("limit"), 1)
        again = self.other().map("cfg", 100, initial={"mode": "other"})
        self.assertEqual(again["mode"], "auto")
        with self.assertRaises(plexus.NoSpace):
            self.region.map("small", 1, initial={"a": 1, "b": 2})
        with self.assertRaises(TypeError):
            self.region.map("small", 4, initial=[1, 2])  # type: ignore[arg-type]
        with self.assertRaises(plexus.NotFound):
            self.region.map("small")

    def test_eight_processes_race_with_initial_data(self) -> None:
        code = """
import sys, time, plexus
name, start, me = sys.argv[1], float(sys.argv[2]), sys.argv[3]
r = plexus.Region(name, mode="open")
while time.time() < start:
    pass
m = r.map("raced", 16, initial={f"k{i}": f"p{me}" for i in range(10)})
values = {m[f"k{i}"] for i in range(10)}
assert len(values) == 1 and len(m) == 10, (values, len(m))
print("winner", values.pop())
"""
        start = str(time.time() + 1.0)
        procs = [
            subprocess.Popen(
                python_code(code) + [self.place, start, str(i)],
                env=child_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(8)
        ]
        winners = set()
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert_ok(self, "racer", subprocess.CompletedProcess(p.args, p.returncode, out, err))
            winners.add(out.strip())
        self.assertEqual(len(winners), 1, winners)


class OnSharedMemory(Scenarios, RegionTest):
    def setUp(self) -> None:
        super().setUp()
        self.place = self.name


class OnRedis(Scenarios, unittest.TestCase):
    def setUp(self) -> None:
        server = start_redis(self)
        self.place = server.url(unique(self.id().rsplit(".", 1)[-1]))
        self.region = plexus.Region(self.place, mode="create")
        self.addCleanup(plexus.Region.remove, self.place, True)
        self.addCleanup(self.region.close)


if __name__ == "__main__":
    unittest.main()
