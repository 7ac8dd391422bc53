"""Arrays and maps: every element operation, the Python protocols, and their errors."""

from __future__ import annotations

import threading
import time
import unittest

from _support import RegionTest, plexus


class ElementOps:
    """Runs the same element tests against an Array (int index) and a Map (str key).
    Subclasses provide ``self.x`` and ``self.w`` (an index / key) and ``self.w2``."""

    x: plexus.Array
    w: object
    w2: object

    def test_plain(self) -> None:
        x, w = self.x, self.w
        self.assertIs(x.read(w), plexus.UNDEFINED)
        self.assertFalse(x.is_full(w))
        x.write(w, 5)
        self.assertEqual(x.read(w), 5)
        self.assertFalse(x.is_full(w))  # write keeps the tag
        x.set_tag(w, True)
        x.write(w, 6)
        self.assertTrue(x.is_full(w))
        x[w] = "item"
        self.assertEqual(x[w], "item")

    def test_full_empty(self) -> None:
        x, w = self.x, self.w
        with self.assertRaises(plexus.Timeout):
            x.read_fe(w, timeout=0)
        with self.assertRaises(plexus.Timeout):
            x.read_ff(w, timeout=0.01)
        x.write_ef(w, "v1", timeout=0)
        self.assertTrue(x.is_full(w))
        with self.assertRaises(plexus.Timeout) as cm:
            x.write_ef(w, "v2", timeout=0)
        self.assertIsInstance(cm.exception, TimeoutError)
        self.assertEqual(x.read_ff(w), "v1")
        self.assertTrue(x.is_full(w))
        self.assertEqual(x.read_fe(w), "v1")
        self.assertFalse(x.is_full(w))
        x.write_xf(w, "xf")
        self.assertTrue(x.is_full(w))
        x.write_xe(w, "xe")
        self.assertFalse(x.is_full(w))
        self.assertEqual(x.read(w), "xe")
        x.set_tag(w, True)
        self.assertEqual(x.read_fe(w, timeout=0), "xe")
        x.set_tag(w, False)
        self.assertFalse(x.is_full(w))

    def test_timeout_is_kept(self) -> None:
        t = time.monotonic()
        with self.assertRaises(plexus.Timeout):
            self.x.read_fe(self.w, timeout=0.3)  # several 50 ms slices
        elapsed = time.monotonic() - t
        self.assertGreaterEqual(elapsed, 0.3)
        self.assertLess(elapsed, 2.0)
        import datetime

        with self.assertRaises(plexus.Timeout):
            self.x.read_fe(self.w, timeout=datetime.timedelta(milliseconds=10))
        with self.assertRaises(ValueError):
            self.x.read_fe(self.w, timeout=float("nan"))
        with self.assertRaises(ValueError):
            self.x.read_fe(self.w, timeout=-5)  # negative other than -1: an error

    def test_handoff_between_threads(self) -> None:
        x, w = self.x, self.w
        got = []

        def consumer() -> None:
            for _ in range(200):
                got.append(x.read_fe(w, timeout=10))

        th = threading.Thread(target=consumer)
        th.start()
        for i in range(200):
            x.write_ef(w, i, timeout=10)
        th.join()
        self.assertEqual(got, list(range(200)))

    def test_read_rw(self) -> None:
        x, w = self.x, self.w
        with self.assertRaises(plexus.Timeout):
            x.read_rw(w, timeout=0)
        x.write_xf(w, "shared")
        with x.rw(w) as v:
            self.assertEqual(v, "shared")
            self.assertEqual(x.read_rw(w, timeout=0), "shared")  # readers share
            x.release_rw(w)
            self.assertEqual(x.read(w), "shared")  # plain reads proceed
            # Mutators wait for the readers: read_fe times out while held.
            with self.assertRaises(plexus.Timeout):
                x.read_fe(w, timeout=0.05)
        self.assertEqual(x.read_fe(w, timeout=0), "shared")
        with self.assertRaises(plexus.InvalidArgument):
            x.release_rw(w)  # holds none

    def test_read_rw_blocks_writer_until_release(self) -> None:
        x, w = self.x, self.w
        x.write_xf(w, 1)
        x.read_rw(w)
        done = threading.Event()

        def writer() -> None:
            x.write(w, 2)
            done.set()

        th = threading.Thread(target=writer)
        th.start()
        self.assertFalse(done.wait(0.1))
        x.release_rw(w)
        th.join(5)
        self.assertTrue(done.is_set())
        self.assertEqual(x.read(w), 2)

    def test_faa(self) -> None:
        x, w = self.x, self.w
        self.assertIs(x.faa(w), plexus.UNDEFINED)  # UNDEFINED counts as 0
        self.assertEqual(x.faa(w, 2), 1)
        self.assertEqual(x.read(w), 3)
        self.assertEqual(x.faa(w, 0.5), 3)
        self.assertEqual(x.read(w), 3.5)
        x.write(w, 2**63 - 1)
        x.faa(w, 1)
        self.assertEqual(x.read(w), -(2**63))  # int + int wraps
        x.write(w, "stop")
        self.assertEqual(x.faa(w, 1), "stop")
        self.assertEqual(x.read(w), "stop1")
        x.write(w, b"ab")
        x.faa(w, b"cd")
        self.assertEqual(x.read(w), b"abcd")
        x.write(w, [1])
        with self.assertRaises(plexus.TypeMismatch) as cm:
            x.faa(w, 1)
        self.assertIsInstance(cm.exception, TypeError)
        self.assertEqual(x.read(w), [1])  # unchanged
        x.write(self.w2, plexus.UNDEFINED)
        x.faa(self.w2, "s")
        self.assertEqual(x.read(self.w2), "s")  # UNDEFINED counts as ""

    def test_faa_is_atomic_across_threads(self) -> None:
        x, w = self.x, self.w

        def add() -> None:
            for _ in range(2000):
                x.faa(w, 1)

        threads = [threading.Thread(target=add) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(x.read(w), 8000)

    def test_cas(self) -> None:
        x, w = self.x, self.w
        x.write(w, 1)
        self.assertEqual(x.cas(w, 1, 2), 1)  # swapped
        self.assertEqual(x.read(w), 2)
        self.assertEqual(x.cas(w, 1, 3), 2)  # not swapped
        self.assertEqual(x.read(w), 2)
        self.assertEqual(x.cas(w, 2.0, "two"), 2)  # INT 2 is not FLOAT 2.0
        self.assertEqual(x.read(w), 2)
        self.assertEqual(x.cas(w, 2, "two"), 2)
        self.assertEqual(x.read(w), "two")
        x.write(w, -0.0)
        self.assertEqual(x.cas(w, 0.0, "zero"), 0.0)  # floats compare numerically
        self.assertEqual(x.read(w), "zero")
        x.write(w, True)
        self.assertIs(x.cas(w, 1, "no"), True)  # BOOL is not INT
        self.assertIs(x.read(w), True)
        x.write(w, {"a": [1]})
        x.cas(w, {"a": [1]}, None)
        self.assertIsNone(x.read(w))
        x.write_xf(w, 0)
        x.cas(w, 0, 1)
        self.assertTrue(x.is_full(w))  # tag unchanged

    def test_exchange(self) -> None:
        x, w = self.x, self.w
        self.assertIs(x.exchange(w, "a"), plexus.UNDEFINED)
        self.assertEqual(x.exchange(w, "b"), "a")
        self.assertEqual(x.read(w), "b")
        self.assertFalse(x.is_full(w))

    def test_patch(self) -> None:
        x, w = self.x, self.w
        # An UNDEFINED element counts as {}; the call returns the value after the patch.
        self.assertEqual(x.patch(w, {"$inc": {"stats.hits": 1}}), {"stats": {"hits": 1}})
        v = x.version(w)
        got = x.patch(
            w,
            {
                "$inc": {"stats.hits": 2},
                "$set": {"name": "door", "items": [{"n": "a"}, {"n": "b"}]},
                "$push": {"log": {"$each": [1, 2]}},
                "$max": {"hi": 3.5},
            },
        )
        want = {"stats": {"hits": 3}, "name": "door", "items": [{"n": "a"}, {"n": "b"}],
                "log": [1, 2], "hi": 3.5}
        self.assertEqual(got, want)
        self.assertEqual(x.read(w), want)
        self.assertEqual(x.version(w), v + 1)
        self.assertFalse(x.is_full(w))  # the tag is kept
        got = x.patch(w, {"$set": {"items.1.n": "z"}, "$pull": {"log": 1},
                          "$unset": {"hi": ""}, "$addToSet": {"tags": "t"}, "$mul": {"k": 2},
                          "$min": {"stats.lo": -1}})
        self.assertEqual(got, {"stats": {"hits": 3, "lo": -1}, "name": "door",
                               "items": [{"n": "a"}, {"n": "z"}], "log": [2], "tags": ["t"],
                               "k": 0})
        self.assertIsInstance(got["stats"]["hits"], int)  # int stays int
        # All or nothing: a refused patch leaves value and version alone.
        before, version = x.read(w), x.version(w)
        refused = [
            ({"$inc": {"name": 1}}, plexus.TypeMismatch, "$inc 'name'"),
            ({"$set": {"z": 1}, "$push": {"name": 1}}, plexus.TypeMismatch, "$push 'name'"),
            ({"$set": {"items.7.n": 1}}, plexus.TypeMismatch, "past the end"),
            ({"$rename": {"a": "b"}}, plexus.InvalidArgument, "$rename"),
            ({"$set": {"a": 1}, "$inc": {"a": 1}}, plexus.InvalidArgument, "same field"),
            ({"$inc": {"stats.hits": "1"}}, plexus.InvalidArgument, "number"),
            ({}, plexus.InvalidArgument, "no operator"),
            (5, plexus.InvalidArgument, "OBJECT"),
        ]
        for update, error, words in refused:
            with self.assertRaises(error, msg=repr(update)) as cm:
                x.patch(w, update)
            self.assertIn(words, str(cm.exception))
            self.assertEqual((x.read(w), x.version(w)), (before, version), repr(update))
        self.assertTrue(issubclass(plexus.TypeMismatch, TypeError))
        x.write(w, "text")
        with self.assertRaises(plexus.TypeMismatch):
            x.patch(w, {"$set": {"a": 1}})
        self.assertEqual(x.read(w), "text")

    def test_values_that_cannot_be_shared(self) -> None:
        x, w = self.x, self.w
        x.write(w, {"kept": True})

        def handler() -> None:
            pass

        for bad, name in ((handler, "function"), (lambda: 1, "function"), ({1, 2}, "set"),
                          (object(), "object"), ({"a": 1, "f": handler}, "function"),
                          ([1, [2, handler]], "function"), ({"a": {1: 2}}, "int")):
            for call in (lambda v: x.write(w, v), lambda v: x.exchange(w, v),
                         lambda v: x.write_xf(w, v), lambda v: x.patch(w, {"$set": {"a": v}})):
                with self.assertRaises(TypeError, msg=repr(bad)) as cm:
                    call(bad)
                self.assertIn(name, str(cm.exception))
        self.assertEqual(x.read(w), {"kept": True})
        q = self.region.queue("unshareable", 4)
        with self.assertRaises(TypeError) as cm:
            q.push({"f": handler})
        self.assertIn("function", str(cm.exception))
        self.assertEqual(len(q), 0)
        b = self.region.bus("unshareable-bus", 4)
        with self.assertRaises(TypeError):
            b.publish([handler])

    def test_versions(self) -> None:
        x, w = self.x, self.w
        v0 = x.version(w)
        x.write(w, 1)
        v1 = x.version(w)
        self.assertGreater(v1, v0)
        x.read(w)
        self.assertEqual(x.version(w), v1)  # reads do not change it
        x.set_tag(w, True)
        self.assertGreater(x.version(w), v1)
        self.assertEqual(x.wait_change(w, v1, timeout=0), x.version(w))  # already differs
        with self.assertRaises(plexus.Timeout):
            x.wait_change(w, x.version(w), timeout=0.05)
        with self.assertRaises(ValueError):
            x.wait_change(w, -1)

        seen = x.version(w)

        def later() -> None:
            time.sleep(0.1)
            x.write(w, "changed")

        th = threading.Thread(target=later)
        th.start()
        new = x.wait_change(w, seen, timeout=5)
        th.join()
        self.assertGreater(new, seen)
        self.assertEqual(x.read(w), "changed")


class ArrayTest(ElementOps, RegionTest):
    def setUp(self) -> None:
        super().setUp()
        self.x = self.region.array("cells", 8)
        self.w = 3
        self.w2 = 4

    def test_sequence_protocol(self) -> None:
        a = self.x
        self.assertEqual(len(a), 8)
        self.assertEqual(a.length, 8)
        for i in range(8):
            a[i] = i * 10
        self.assertEqual(list(a), [i * 10 for i in range(8)])
        self.assertEqual(a[-1], 70)
        a[-2] = "neg"
        self.assertEqual(a[6], "neg")
        self.assertEqual(a[1:4], [10, 20, 30])
        self.assertEqual(a[::-3], [70, 40, 10])
        self.assertIn(20, a)
        self.assertEqual(a.index(30), 3)
        self.assertEqual(list(reversed(a))[0], 70)
        self.assertEqual(a.name, "cells")
        self.assertIs(a.region, self.region)
        self.assertIn("cells", repr(a))
        with self.assertRaises(TypeError):
            a[0:2] = [1, 2]

    def test_index_errors(self) -> None:
        a = self.x
        for bad in (8, -9, 2**64, 10**30):
            with self.assertRaises(plexus.OutOfRange) as cm:
                a[bad]
            self.assertIsInstance(cm.exception, IndexError)
            with self.assertRaises(IndexError):
                a.read_fe(bad, timeout=0)
        with self.assertRaises(TypeError):
            a["0"]  # type: ignore[index]
        with self.assertRaises(TypeError):
            a[1.0]  # type: ignore[index]

    def test_full_flag(self) -> None:
        b = self.region.array("full", 3, full=True)
        self.assertTrue(all(b.is_full(i) for i in range(3)))
        self.assertIs(b.read_fe(0, timeout=0), plexus.UNDEFINED)

    def test_open_existing(self) -> None:
        self.x[0] = "here"
        again = self.region.array("cells")
        self.assertEqual(len(again), 8)
        self.assertEqual(again[0], "here")


class MapTest(ElementOps, RegionTest):
    def setUp(self) -> None:
        super().setUp()
        self.x = self.region.map("jobs", 16)  # type: ignore[assignment]
        self.w = "job-α"
        self.w2 = "other"

    def test_mapping_protocol(self) -> None:
        m = self.region.map("jobs")
        self.assertEqual(len(m), 0)
        self.assertFalse(m)
        with self.assertRaises(plexus.KeyNotFound) as cm:
            m["absent"]
        self.assertIsInstance(cm.exception, KeyError)
        self.assertIsInstance(cm.exception, plexus.NotFound)
        self.assertIsNone(m.get("absent"))
        self.assertEqual(m.get("absent", 7), 7)
        self.assertNotIn("absent", m)
        self.assertNotIn(5, m)
        self.assertEqual(len(m), 0)  # reads insert nothing
        m["a"] = 1
        m["b"] = [2]
        m.update({"c": {"three": 3}}, d=None)
        self.assertEqual(len(m), 4)
        self.assertIn("a", m)
        self.assertEqual(sorted(m), ["a", "b", "c", "d"])
        self.assertEqual(sorted(m.keys()), ["a", "b", "c", "d"])
        self.assertEqual(dict(m), {"a": 1, "b": [2], "c": {"three": 3}, "d": None})
        self.assertEqual(
            sorted(m.items()),
            sorted({"a": 1, "b": [2], "c": {"three": 3}, "d": None}.items(), key=str),
        )
        self.assertEqual(len(m.values()), 4)
        self.assertEqual(m, {"a": 1, "b": [2], "c": {"three": 3}, "d": None})
        self.assertIsNone(m["d"])
        del m["a"]
        self.assertNotIn("a", m)
        with self.assertRaises(KeyError):
            del m["a"]
        with self.assertRaises(plexus.KeyNotFound):
            m.remove("a")
        self.assertEqual(m.pop("b"), [2])
        self.assertEqual(m.setdefault("e", 5), 5)
        self.assertEqual(m.setdefault("e", 6), 5)
        m.clear()
        self.assertEqual(len(m), 0)
        self.assertEqual(list(m), [])

    def test_present_key_holding_undefined(self) -> None:
        m = self.x
        m.set_tag("u", True)  # inserts "u" holding UNDEFINED
        self.assertIn("u", m)
        self.assertIs(m["u"], plexus.UNDEFINED)
        self.assertEqual(list(m.items()), [("u", plexus.UNDEFINED)])

    def test_key_versions_and_removal(self) -> None:
        m = self.x
        self.assertEqual(m.version("k"), 0)
        m["k"] = 1
        v = m.version("k")
        self.assertGreater(v, 0)
        m.remove("k")
        self.assertEqual(m.version("k"), 0)
        m["k"] = 2
        self.assertNotEqual(m.version("k"), v)  # never repeats

    def test_removal_wakes_and_insertion_satisfies_waiters(self) -> None:
        m = self.x
        got = []
        th = threading.Thread(target=lambda: got.append(m.read_fe("later", timeout=5)))
        th.start()
        time.sleep(0.1)
        m.write_ef("later", "arrived")
        th.join()
        self.assertEqual(got, ["arrived"])
        self.assertIn("later", m)  # read_fe leaves the key present (EMPTY)
        self.assertFalse(m.is_full("later"))

    def test_capacity(self) -> None:
        m = self.region.map("small", 2)
        self.assertEqual(m.capacity, 2)
        m["a"] = 1
        m["b"] = 2
        with self.assertRaises(plexus.NoSpace):
            m["c"] = 3
        del m["a"]
        m["c"] = 3
        self.assertEqual(sorted(m), ["b", "c"])

    def test_keys(self) -> None:
        m = self.x
        with self.assertRaises(TypeError):
            m[1] = 1  # type: ignore[index]
        with self.assertRaises(plexus.InvalidArgument):
            m["nul\0key"] = 1
        with self.assertRaises(plexus.InvalidArgument):
            m["k" * 5000] = 1
        m[""] = "empty key"
        self.assertEqual(m[""], "empty key")
        m["k" * 4096] = "longest"
        self.assertEqual(m["k" * 4096], "longest")

    def test_iteration_during_changes(self) -> None:
        m = self.region.map("many", 300)
        for i in range(100):
            m[f"stable-{i}"] = i
        seen = []
        for n, key in enumerate(m):
            seen.append(key)
            if n % 10 == 0:
                m[f"new-{n}"] = n  # inserting meanwhile is allowed
        stable = [k for k in seen if k.startswith("stable-")]
        self.assertEqual(sorted(stable), sorted(f"stable-{i}" for i in range(100)))
        self.assertEqual(len(stable), len(set(stable)))

    def test_full_flag(self) -> None:
        m = self.region.map("fullmap", 4, full=True)
        m["x"] = 1
        self.assertTrue(m.is_full("x"))


if __name__ == "__main__":
    unittest.main()
