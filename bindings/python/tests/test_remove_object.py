"""Region.remove_object: every kind's handles raise plexus.Removed afterwards (and close
normally), removing again raises plexus.NotFound, the name can be created again at once
as any kind, blocked calls (in threads and in another process) wake with
plexus.Removed, and a queue that was shut down starts again by remove + create."""

from __future__ import annotations

import threading
import time
import unittest
from typing import Any, Callable, List

from _support import RegionTest, plexus, start_python


def _raises(f: Callable[[], Any]) -> Any:
    """The exception `f()` raised, or None."""
    try:
        f()
    except Exception as e:  # noqa: BLE001 - returned to the test to check
        return e
    return None


POPPER = """
import sys, plexus
r = plexus.Region(sys.argv[1], mode="open", wait=10)
q = r.queue("jobs")
print("waiting", flush=True)
try:
    q.pop()
except plexus.Removed:
    print("removed", flush=True)
else:
    raise SystemExit("pop returned instead of raising plexus.Removed")
r.wait_object("jobs", timeout=30)
a = r.array("jobs")
print("array", len(a), a.read_ff(0, timeout=30), flush=True)
try:
    q.pop(timeout=0)
except plexus.Removed:
    print("still removed", flush=True)
q.close()
"""


class EveryKind(RegionTest):
    def assert_gone(self, name: str) -> None:
        """Removing `name` again raises NotFound (not with missing_ok), an open-only
        open finds nothing, and the region does not list it."""
        with self.assertRaises(plexus.NotFound):
            self.region.remove_object(name)
        self.assertIsNone(self.region.remove_object(name, missing_ok=True))
        with self.assertRaises(plexus.NotFound):
            self.region.array(name)
        self.assertNotIn(name, [o.name for o in self.region.objects()])

    def test_array(self) -> None:
        a = self.region.array("a", 2)
        a[0] = 1
        self.region.remove_object("a")
        with self.assertRaises(plexus.Removed) as caught:
            _ = a[0]
        self.assertEqual(caught.exception.status, plexus.Removed.status)
        self.assertEqual(caught.exception.status_name, "PLEXUS_E_REMOVED")
        with self.assertRaises(plexus.Removed):
            a[1] = 2
        with self.assertRaises(plexus.Removed):
            a.read_fe(0, timeout=0)
        with self.assertRaises(plexus.Removed):
            a.faa(0, 1)
        a.close()
        self.assert_gone("a")
        m = self.region.map("a", 4)  # the name again, as a map: new and empty
        self.assertEqual(len(m), 0)

    def test_map(self) -> None:
        m = self.region.map("m", 4)
        m["k"] = "v"
        self.region.remove_object("m")
        with self.assertRaises(plexus.Removed):
            _ = m["k"]
        with self.assertRaises(plexus.Removed):
            len(m)
        m.close()
        self.assert_gone("m")

    def test_queue(self) -> None:
        q = self.region.queue("q", 4)
        q.push(1)
        self.region.remove_object("q")
        with self.assertRaises(plexus.Removed):
            q.pop(timeout=0)  # its value went with it
        with self.assertRaises(plexus.Removed):
            q.push(2, timeout=0)
        with self.assertRaises(plexus.Removed):
            len(q)
        q.close()
        self.assert_gone("q")
        again = self.region.queue("q", 8)  # the same kind, another capacity: new
        self.assertEqual(again.capacity, 8)
        self.assertEqual(len(again), 0)

    def test_bus(self) -> None:
        b = self.region.bus("b", 4)
        s = b.subscribe(oldest=True)
        self.assertEqual(b.publish(1), 1)
        self.region.remove_object("b")
        with self.assertRaises(plexus.Removed):
            b.publish(2)
        with self.assertRaises(plexus.Removed):
            s.next(timeout=0)
        with self.assertRaises(plexus.Removed):
            b.subscribe()
        s.close()
        b.close()
        self.assert_gone("b")
        self.assertEqual(self.region.bus("b", 4).publish(1), 1)  # a new bus

    def test_mutex(self) -> None:
        m = self.region.mutex("mx")
        self.assertTrue(m.acquire(timeout=0))
        self.region.remove_object("mx")
        with self.assertRaises(plexus.Removed):
            m.release()
        with self.assertRaises(plexus.Removed):
            m.acquire(timeout=0)
        m.close()
        self.assert_gone("mx")
        again = self.region.mutex("mx")  # new and unlocked (no owner_died)
        self.assertTrue(again.acquire(timeout=0))
        self.assertFalse(again.owner_died)
        again.release()

    def test_barrier(self) -> None:
        b = self.region.barrier("br", 2)
        self.region.remove_object("br")
        with self.assertRaises(plexus.Removed):
            b.wait(timeout=0)
        b.close()
        self.assert_gone("br")
        s = self.region.semaphore("br", 3)  # the name again, as a semaphore
        self.assertEqual(s.available, 3)

    def test_semaphore(self) -> None:
        s = self.region.semaphore("s", 1)
        self.assertTrue(s.acquire(timeout=0))
        self.region.remove_object("s")
        with self.assertRaises(plexus.Removed):
            s.release()
        with self.assertRaises(plexus.Removed):
            s.acquire(timeout=0)
        s.close()
        self.assert_gone("s")
        again = self.region.semaphore("s", 2)  # another number of permits: new
        self.assertEqual(again.available, 2)

    def test_bad_arguments(self) -> None:
        with self.assertRaises(plexus.InvalidArgument):
            self.region.remove_object("")
        with self.assertRaises(plexus.InvalidArgument):
            self.region.remove_object("n" * 97)
        with self.assertRaises(TypeError):
            self.region.remove_object(b"bytes")  # type: ignore[arg-type]
        r = plexus.Region(self.name, mode="open")
        r.close()
        with self.assertRaises(plexus.BadHandle):
            r.remove_object("x")
        with self.assertRaises(plexus.NotFound):
            self.region.remove_object("never-created")
        self.region.remove_object("never-created", missing_ok=True)

    def test_removed_region(self) -> None:
        other = self.name + "-gone"
        r = plexus.Region(other, mode="create", size=1 << 20)
        self.addCleanup(r.close)
        r.array("x", 1)
        plexus.Region.remove(other)
        with self.assertRaises(plexus.Removed):
            r.remove_object("x")
        with self.assertRaises(plexus.Removed):
            r.remove_object("x", missing_ok=True)


class Waiters(RegionTest):
    def test_blocked_pop_in_a_thread_wakes_with_removed(self) -> None:
        q = self.region.queue("jobs", 4)
        got: List[Any] = []
        t = threading.Thread(target=lambda: got.append(_raises(q.pop)), daemon=True)
        t.start()
        time.sleep(0.1)  # let it block (had it not yet, its pop finds the queue removed)
        self.region.remove_object("jobs")
        t.join(30)
        self.assertFalse(t.is_alive(), "a blocked pop did not wake on removal")
        self.assertIsInstance(got[0], plexus.Removed)
        # The name again, as another kind, at once; the old handle stays removed.
        a = self.region.array("jobs", 1)
        a.write_xf(0, "recreated")
        self.assertEqual(self.region.array("jobs").read_ff(0), "recreated")
        with self.assertRaises(plexus.Removed):
            q.pop(timeout=0)
        with self.assertRaises(plexus.TypeMismatch):
            self.region.queue("jobs")

    def test_other_blocked_calls_wake_with_removed(self) -> None:
        cells = self.region.array("cells", 1)
        events = self.region.bus("events", 4)
        sub = events.subscribe()
        slots = self.region.semaphore("slots", 1)
        self.assertTrue(slots.acquire(timeout=0))
        meet = self.region.barrier("meet", 2)
        calls = {
            "read_fe": lambda: cells.read_fe(0),
            "next": sub.next,
            "acquire": lambda: slots.acquire(),
            "wait": meet.wait,
        }
        got: dict = {}
        threads = [
            threading.Thread(target=lambda k=k, f=f: got.__setitem__(k, _raises(f)), daemon=True)
            for k, f in calls.items()
        ]
        for t in threads:
            t.start()
        time.sleep(0.1)
        for name in ("cells", "events", "slots", "meet"):
            self.region.remove_object(name)
        for t in threads:
            t.join(30)
            self.assertFalse(t.is_alive(), "a blocked call did not wake on removal")
        for k in calls:
            self.assertIsInstance(got[k], plexus.Removed, k)

    def test_blocked_pop_in_another_process_wakes_with_removed(self) -> None:
        self.region.queue("jobs", 4)
        child = start_python(POPPER, self.name)
        try:
            assert child.stdout is not None
            self.assertEqual(child.stdout.readline().strip(), "waiting")
            time.sleep(0.1)  # let it block in its pop
            self.region.remove_object("jobs")
            a = self.region.array("jobs", 1)  # the name again at once, as an array
            a.write_xf(0, "recreated")
            out, err = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
        self.assertEqual(child.returncode, 0, err)
        self.assertEqual(out.split("\n")[:3], ["removed", "array 1 recreated", "still removed"])


class Restart(RegionTest):
    def test_a_queue_that_was_shut_down_starts_again(self) -> None:
        q = self.region.queue("work", 4)
        q.push(1)
        q.shutdown()
        self.assertEqual(list(q), [1])  # drained, then the end
        with self.assertRaises(plexus.Closed):
            q.push(2)
        self.region.remove_object("work")
        fresh = self.region.queue("work", 4)
        self.assertFalse(fresh.is_shutdown)
        fresh.push(3)
        self.assertEqual(fresh.pop(timeout=0), 3)
        with self.assertRaises(plexus.Removed):
            q.push(4)  # the old handle learns of it

    def test_a_bus_that_was_shut_down_starts_again(self) -> None:
        b = self.region.bus("news", 4)
        s = b.subscribe()
        b.shutdown()
        with self.assertRaises(plexus.Closed):
            s.next(timeout=0)
        self.region.remove_object("news")
        fresh = self.region.bus("news", 4)
        s2 = fresh.subscribe()
        fresh.publish("again")
        self.assertEqual(s2.next(timeout=0).value, "again")
        with self.assertRaises(plexus.Removed):
            s.next(timeout=0)


if __name__ == "__main__":
    unittest.main()
