"""Remote regions (``redis://``) from Python: the same calls on a private redis-server,
the statuses only a remote region has (Unavailable, RegionLost, Unsupported), and
passwords kept out of messages. The README quick start on a redis:// region is in
test_package.py, Ctrl-C during a remote wait in test_interrupt.py."""

from __future__ import annotations

import threading
import unittest

from _support import free_port, plexus, start_redis, unique


class Remote(unittest.TestCase):
    def setUp(self) -> None:
        self.server = start_redis(self)
        self.url = self.server.url(unique(self.id().rsplit(".", 1)[-1]))

    def test_elements_on_the_server(self) -> None:
        with plexus.Region(self.url, mode="create") as r:
            a = r.array("a", 4)
            a.write_ef(0, {"job": 17, "tags": ["x"]})
            self.assertEqual(a.read_fe(0, timeout=5), {"job": 17, "tags": ["x"]})
            with self.assertRaises(plexus.Timeout):
                a.read_fe(0, timeout=0.1)
            a[1] = 40
            self.assertEqual(a.faa(1, 2), 40)
            self.assertEqual(a[1], 42)
            m = r.map("m", 8, full=True)
            m["s"] = "text"
            m.faa("n", 1.5)
            self.assertEqual(sorted(m.keys()), ["n", "s"])
            self.assertEqual(m["n"], 1.5)
            info = r.info()
            self.assertEqual(info.object_count, 2)
            self.assertGreaterEqual(info.attached_processes, 1)
            # A second handle (as another process would have) sees the same values.
            with plexus.Region(self.url, mode="open") as other:
                self.assertEqual(other.map("m")["s"], "text")
        plexus.Region.remove(self.url)
        with self.assertRaises(plexus.NotFound):
            plexus.Region(self.url, mode="open")

    def test_bus_publish_many_on_the_server(self) -> None:
        with plexus.Region(self.url, mode="create") as r:
            b = r.bus("b", 4)
            sub = b.subscribe()
            self.assertEqual(b.publish_many(["one", 2, {"three": 3}]), 1)
            self.assertEqual(b.publish_many([]), 0)
            self.assertEqual([sub.next(timeout=5) for _ in range(3)],
                             [(1, "one"), (2, 2), (3, {"three": 3})])
            self.assertEqual(b.publish_many(range(10)), 4)  # beyond the capacity
            self.assertEqual(sub.next(timeout=5), (10, 6))  # behind: the last 4 remain
            b.shutdown()
            with self.assertRaises(plexus.Closed):
                b.publish_many([1])
        plexus.Region.remove(self.url)

    def test_a_wait_is_woken_by_another_handle(self) -> None:
        with plexus.Region(self.url) as r, plexus.Region(self.url, mode="open") as other:
            a = r.array("a", 1)
            got = []
            t = threading.Thread(target=lambda: got.append(a.read_fe(0, timeout=30)))
            t.start()
            other.array("a").write_ef(0, "wake", timeout=30)
            t.join(60)
            self.assertEqual(got, ["wake"])
        plexus.Region.remove(self.url)

    def test_removed_region_is_removed_for_every_handle(self) -> None:
        r = plexus.Region(self.url, mode="create")
        self.addCleanup(r.close)
        a = r.array("a", 2)
        a[0] = 1
        plexus.Region.remove(self.url)
        with self.assertRaises(plexus.Removed) as cm:
            a[0]
        self.assertIn("open it again", str(cm.exception))
        self.assertEqual(cm.exception.status_name, "PLEXUS_E_REMOVED")
        self.assertNotIsInstance(cm.exception, LookupError)
        # Opening it again starts anew.
        with plexus.Region(self.url) as fresh:
            self.assertIs(fresh.array("a", 2)[0], plexus.UNDEFINED)
        plexus.Region.remove(self.url)

    def test_a_password_never_appears(self) -> None:
        # The server has no password: AUTH fails, and the message must not echo it.
        secret = "s3cr3t-pw"
        url = self.url.replace("redis://", f"redis://someone:{secret}@")
        with self.assertRaises(plexus.Error) as cm:
            plexus.Region(url)
        self.assertNotIn(secret, str(cm.exception))
        self.assertIn("someone:***@", str(cm.exception))


class WithoutServer(unittest.TestCase):
    """Statuses that need no server (these run everywhere)."""

    def test_unreachable_server_is_unavailable_within_the_timeout(self) -> None:
        url = f"redis://user:hidden-pw@127.0.0.1:{free_port()}/{unique('gone')}?timeout_ms=300"
        with self.assertRaises(plexus.Unavailable) as cm:
            plexus.Region(url)
        e = cm.exception
        self.assertIsInstance(e, ConnectionError)
        self.assertEqual(e.status, 113)
        self.assertEqual(e.status_name, "PLEXUS_E_UNAVAILABLE")
        self.assertNotIn("hidden-pw", str(e))
        self.assertIn("user:***@127.0.0.1", str(e))

    def test_check_of_a_remote_region_is_unsupported(self) -> None:
        with self.assertRaises(plexus.Unsupported) as cm:
            plexus.Region.check(f"redis://127.0.0.1:{free_port()}/x")
        self.assertIsInstance(cm.exception, NotImplementedError)
        self.assertEqual(cm.exception.status_name, "PLEXUS_E_UNSUPPORTED")
        self.assertIn("remote", str(cm.exception))

    def test_bad_url_is_invalid_and_hides_the_password(self) -> None:
        with self.assertRaises(plexus.InvalidArgument) as cm:
            plexus.Region("redis://u:topsecret@127.0.0.1:1/x?nope=1")
        self.assertIn("unknown option", str(cm.exception))
        self.assertNotIn("topsecret", str(cm.exception))

    def test_shown_name(self) -> None:
        from plexus._base import shown

        self.assertEqual(shown("redis://u:pw@h:1/r"), "redis://u:***@h:1/r")
        self.assertEqual(shown("rediss://pw@h/r?db=1"), "rediss://***@h/r?db=1")
        self.assertEqual(shown("redis://h:1/r"), "redis://h:1/r")
        self.assertEqual(shown("local-name"), "local-name")


if __name__ == "__main__":
    unittest.main()
