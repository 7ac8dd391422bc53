"""Regions: open modes, size, permissions, info, flush, remove, wait_object, handles."""

from __future__ import annotations

import os
import stat
import tempfile
import threading
import time
import unittest
from pathlib import Path

from _support import RegionTest, plexus, start_python, unique


def _raises(f):
    """The exception `f()` raised, or None."""
    try:
        f()
    except Exception as e:  # noqa: BLE001 - returned to the test to check
        return e
    return None


def shm_path(name: str) -> str:
    return f"/dev/shm/plexus.{name}"


class Modes(unittest.TestCase):
    def setUp(self) -> None:
        self.name = unique("modes")
        self.addCleanup(plexus.Region.remove, self.name, True)

    def test_open_or_create_then_open(self) -> None:
        with plexus.Region(self.name, size=1 << 20) as r:
            r.array("a", 1)[0] = "kept"
            self.assertFalse(r.closed)
        self.assertTrue(r.closed)
        self.assertTrue(os.path.exists(shm_path(self.name)))
        with plexus.Region(self.name, mode=plexus.OpenMode.OPEN) as r:
            self.assertEqual(r.array("a")[0], "kept")
        with plexus.Region(self.name, mode="open_or_create") as r:
            self.assertEqual(r.array("a", 1)[0], "kept")

    def test_create_exclusive(self) -> None:
        plexus.Region(self.name, mode="create", size=1 << 20).close()
        with self.assertRaises(plexus.Exists) as cm:
            plexus.Region(self.name, mode="create")
        self.assertEqual(cm.exception.status_name, "PLEXUS_E_EXISTS")

    def test_open_missing(self) -> None:
        with self.assertRaises(plexus.NotFound):
            plexus.Region(self.name, mode="open")
        t = time.monotonic()
        with self.assertRaises(plexus.NotFound):
            plexus.Region(self.name, mode="open", wait=0.3)
        self.assertGreaterEqual(time.monotonic() - t, 0.29)

    def test_open_waits_for_creator(self) -> None:
        def create() -> None:
            time.sleep(0.3)
            plexus.Region(self.name, size=1 << 20).close()

        th = threading.Thread(target=create)
        th.start()
        try:
            with plexus.Region(self.name, mode="open", wait=None) as r:
                self.assertGreater(r.size, 0)
        finally:
            th.join()

    def test_recreate(self) -> None:
        with plexus.Region(self.name, size=1 << 20) as r:
            r.array("a", 1)
            first = r.info().region_id
        with plexus.Region(self.name, mode="recreate", size=1 << 20) as r:
            self.assertNotEqual(r.info().region_id, first)
            with self.assertRaises(plexus.NotFound):
                r.array("a")

    def test_bad_mode_and_name(self) -> None:
        with self.assertRaises(ValueError):
            plexus.Region(self.name, mode="sometimes")
        with self.assertRaises(plexus.InvalidArgument):
            plexus.Region("bad name with spaces")
        with self.assertRaises(plexus.InvalidArgument):
            plexus.Region("nul\0name")
        with self.assertRaises(TypeError):
            plexus.Region(42)  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            plexus.Region(self.name, size=-1)

    def test_size_and_permissions(self) -> None:
        with plexus.Region(self.name, size=1 << 20, permissions=0o640) as r:
            self.assertEqual(r.size, 1 << 20)
            self.assertEqual(r.info().size, 1 << 20)
        mode = stat.S_IMODE(os.stat(shm_path(self.name)).st_mode)
        self.assertEqual(mode, 0o640)
        plexus.Region.remove(self.name)
        with plexus.Region(self.name, size=1 << 20):
            pass
        self.assertEqual(stat.S_IMODE(os.stat(shm_path(self.name)).st_mode), 0o600)

    def test_objects(self) -> None:
        with plexus.Region(self.name, size=1 << 20) as r:
            self.assertEqual(r.objects(), [])
            r.array("a", 3)
            r.queue("s", 4, lifo=True)
            r.mutex("m")
            self.assertEqual(
                r.objects(),
                [
                    plexus.ObjectInfo("a", "array", 3),
                    plexus.ObjectInfo("m", "mutex", 1),
                    plexus.ObjectInfo("s", "stack", 4),
                ],
            )

    def test_remove(self) -> None:
        r = plexus.Region(self.name, size=1 << 20)
        a = r.array("a", 1)
        waiting = r.queue("q", 1)
        got: list = []
        t = threading.Thread(target=lambda: got.append(_raises(lambda: waiting.pop())))
        t.start()
        time.sleep(0.1)
        plexus.Region.remove(self.name)
        self.assertFalse(os.path.exists(shm_path(self.name)))
        t.join(5)
        self.assertFalse(t.is_alive(), "a blocked pop did not wake on removal")
        self.assertIsInstance(got[0], plexus.Removed)
        with self.assertRaises(plexus.Removed):
            a[0] = "after remove"
        with self.assertRaises(plexus.Removed):
            _ = a[0]
        with self.assertRaises(plexus.Removed):
            r.info()
        self.assertEqual(plexus.Removed.status, 112)
        r.close()
        with self.assertRaises(plexus.NotFound):
            plexus.Region.remove(self.name)
        plexus.Region.remove(self.name, missing_ok=True)


class Persistent(unittest.TestCase):
    def test_path_region_persists_and_flushes(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "data.plexus"
            with plexus.Region(path, size=1 << 20) as r:  # a PathLike: persistent file
                r.map("m", 8)["k"] = [1, 2, 3]
                r.flush()
            self.assertTrue(path.is_file())
            with plexus.Region(str(path), mode="open") as r:
                self.assertEqual(r.map("m")["k"], [1, 2, 3])
            plexus.Region.remove(path)
            self.assertFalse(path.exists())

    def test_corrupt_file(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "garbage"
            path.write_bytes(b"not a region" * 1000)
            with self.assertRaises(plexus.Corrupt):
                plexus.Region(path, mode="open")
            self.assertEqual(path.read_bytes(), b"not a region" * 1000)


class Info(RegionTest):
    def test_info(self) -> None:
        info = self.region.info()
        self.assertIsInstance(info, plexus.RegionInfo)
        self.assertEqual(info.size, self.size)
        self.assertEqual(info.object_count, 0)
        self.assertEqual(info.attached_processes, 1)
        self.assertEqual(info.format_version, 3)  # the format this library creates
        self.assertEqual(info.heap_used + info.heap_free, info.heap_size)
        self.assertLess(abs(info.created_unix_ns / 1e9 - time.time()), 60)
        self.region.array("a", 10)
        self.region.queue("q", 4)
        with plexus.Region(self.name, mode="open") as again:
            self.assertEqual(again.info().attached_processes, 2)
            self.assertEqual(again.info().region_id, info.region_id)
            self.assertEqual(again.info().object_count, 2)
        self.assertEqual(self.region.info().attached_processes, 1)

    def test_flush_volatile(self) -> None:
        self.region.flush()  # harmless

    def test_wait_object(self) -> None:
        with self.assertRaises(plexus.Timeout):
            self.region.wait_object("later", timeout=0)
        t = time.monotonic()
        with self.assertRaises(plexus.Timeout):
            self.region.wait_object("later", timeout=0.2)
        self.assertGreaterEqual(time.monotonic() - t, 0.19)

        def create() -> None:
            time.sleep(0.2)
            with plexus.Region(self.name, mode="open") as r:
                r.queue("later", 4)

        th = threading.Thread(target=create)
        th.start()
        self.region.wait_object("later")  # without limit
        th.join()
        self.assertEqual(self.region.queue("later").capacity, 4)

    def test_closed_region(self) -> None:
        a = self.region.array("a", 1)
        self.region.close()
        self.region.close()  # idempotent
        self.assertTrue(self.region.closed)
        self.assertIn("closed", repr(self.region))
        with self.assertRaises(plexus.BadHandle):
            self.region.info()
        with self.assertRaises(plexus.BadHandle):
            self.region.array("b", 1)
        with self.assertRaises(plexus.BadHandle) as cm:
            a[0]
        self.assertEqual(cm.exception.status, 101)

    def test_object_close_and_reopen(self) -> None:
        a = self.region.array("a", 2)
        b = self.region.array("a", 2)  # the same handle, opened twice
        a.close()
        b[0] = 1  # still open once
        b.close()
        b.close()  # idempotent
        with self.assertRaises(plexus.BadHandle):
            b[0]
        self.assertEqual(self.region.array("a")[0], 1)
        self.assertIn("handle closed", repr(b))

    def test_every_kind_close_gives_back_only_its_handle(self) -> None:
        r = self.region
        kinds = {
            "array": (lambda n: r.array("a", n), 2, lambda o: o.write(0, 1)),
            "map": (lambda n: r.map("m", n), 4, lambda o: o.write("k", 1)),
            "queue": (lambda n: r.queue("q", n), 4, lambda o: o.push(1, timeout=0)),
            "bus": (lambda n: r.bus("b", n), 4, lambda o: o.publish(1)),
            "mutex": (lambda n: r.mutex("x"), 0, lambda o: o.locked()),
            "barrier": (lambda n: r.barrier("y", n), 2, lambda o: o.parties),
            "semaphore": (lambda n: r.semaphore("s", n), 2, lambda o: o.available),
        }
        for kind, (open_, size, use) in kinds.items():
            with self.subTest(kind=kind):
                first, second = open_(size), open_(0)  # one C handle, opened twice
                self.assertIsInstance(first, plexus._base.RegionObject)
                use(first)
                first.close()
                first.close()  # idempotent
                with self.assertRaises(plexus.BadHandle):
                    use(first)
                use(second)  # still open once
                second.close()
                with self.assertRaises(plexus.BadHandle):
                    use(second)
                use(open_(0))  # the object itself stays in the region
        with r.bus("b").subscribe() as sub:
            pass
        sub.close()  # idempotent
        with self.assertRaises(plexus.BadHandle):
            sub.next(timeout=0)

    def test_objects_are_garbage_collected(self) -> None:
        import gc

        for _ in range(2000):  # more opens than any handle table would hold if leaked
            a = self.region.array("a", 1)
            del a
        gc.collect()
        self.region.array("a", 1)[0] = "fine"

    def test_kinds_and_shapes(self) -> None:
        self.region.array("x", 3)
        with self.assertRaises(plexus.TypeMismatch):
            self.region.map("x", 3)
        with self.assertRaises(plexus.TypeMismatch):
            self.region.queue("x", 3)
        with self.assertRaises(plexus.Incompatible):
            self.region.array("x", 4)
        with self.assertRaises(plexus.Exists):
            self.region.array("x", 3, exclusive=True)
        with self.assertRaises(plexus.NotFound):
            self.region.array("absent")
        with self.assertRaises(plexus.InvalidArgument):
            self.region.array("", 1)
        with self.assertRaises(ValueError):
            self.region.array("neg", -1)
        with self.assertRaises(TypeError):
            self.region.array("f", 1.5)  # type: ignore[arg-type]


if __name__ == "__main__":
    unittest.main()


class Check(RegionTest):
    def test_check_and_repair(self) -> None:
        cells = self.region.array("cells", 2)
        cells[0] = "a string long enough to live in the region's heap"
        report = plexus.Region.check(self.name)
        self.assertIsInstance(report, plexus.CheckReport)
        self.assertEqual(report.verdict, "consistent", report.text)
        self.assertTrue(report.consistent)
        self.assertEqual(report.live_processes, 1)
        self.assertGreater(report.heap_used, 0)
        self.assertIn(": consistent", report.text)
        # A process dies holding a mutex, still attached.
        proc = start_python(
            """
            import sys, time, plexus
            r = plexus.Region(sys.argv[1], mode="open")
            m = r.mutex("m")
            m.acquire()
            print("ready", flush=True)
            time.sleep(3600)
            """,
            self.name,
        )
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        self.assertEqual(proc.stdout.readline().strip(), "ready")
        proc.kill()
        proc.wait()
        report = plexus.Region.check(self.name)
        self.assertEqual(report.verdict, "reclaimable", report.text)
        self.assertEqual((report.dead_processes, report.dead_locks), (1, 1))
        self.assertIn("mutex 'm'", report.text)
        fixed = plexus.Region.check(self.name, repair=True)
        self.assertEqual(fixed.verdict, "consistent", fixed.text)
        self.assertGreaterEqual(fixed.repairs, 1)
        self.assertFalse(fixed.repair_skipped)
        with self.assertRaises(plexus.NotFound):
            plexus.Region.check(self.name + "-absent")
