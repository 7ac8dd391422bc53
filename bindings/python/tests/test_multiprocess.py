"""Several processes share a region: Python with Python (subprocess, multiprocessing
with spawn and fork), and Python with the C and C++ test programs of ffi-tests/."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from _support import RegionTest, assert_ok, build_c, child_env, plexus, run_python, start_python

WRITER = """
import sys, plexus
r = plexus.Region(sys.argv[1], mode="open", wait=10)
a = r.array("handshake", 1)
for i in range(int(sys.argv[2])):
    a.write_ef(0, i if i % 3 != 2 else f"msg-{i}", timeout=10)
print("writer done", flush=True)
"""

COUNTER = """
import sys, plexus
r = plexus.Region(sys.argv[1], mode="open", wait=10)
a = r.array("counter", 1)
m = r.map("counts", 16)
b = r.barrier("start", int(sys.argv[3]))
b.wait(timeout=30)
for _ in range(int(sys.argv[2])):
    a.faa(0, 1)
    m.faa("hits", 1)
print("counter done", flush=True)
"""


def expected(i: int) -> object:
    return i if i % 3 != 2 else f"msg-{i}"


def spawn_worker(name: str, n: int) -> int:
    """A multiprocessing worker (spawn start method): opens the region itself."""
    with plexus.Region(name, mode="open") as r:
        q = r.queue("jobs")
        total = 0
        for job in q:
            total += job
        r.array("totals", 8).faa(0, total)
        return n


def patch_worker(name: str, who: int, n: int) -> int:
    """A multiprocessing worker (spawn): n patches of one map key and of one array
    element."""
    with plexus.Region(name, mode="open") as r:
        m, a = r.map("docs"), r.array("logs")
        for i in range(n):
            m.patch("cfg", {"$inc": {"stats.hits": 1}})
            a.patch(0, {"$push": {"log.items": f"{who}-{i}"}})
        return who


def fork_child_uses_inherited_handle(array: plexus.Array, name: str) -> None:
    """Runs in a forked child: inherited handles are invalid there; reopening works."""
    try:
        array[0] = "from inherited handle"
    except plexus.BadHandle:
        pass
    else:
        raise SystemExit(3)
    with plexus.Region(name, mode="open") as r:
        r.array("a")[0] = "from the child"
    raise SystemExit(0)


class PythonProcesses(RegionTest):
    def test_handshake(self) -> None:
        n = 2000
        writer = start_python(WRITER, self.name, str(n))
        try:
            a = self.region.array("handshake", 1)
            got = [a.read_fe(0, timeout=10) for _ in range(n)]
            out, err = writer.communicate(timeout=30)
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.communicate()
        self.assertEqual(writer.returncode, 0, err)
        self.assertEqual(got, [expected(i) for i in range(n)])

    def test_counter(self) -> None:
        procs, per = 3, 3000
        self.region.array("counter", 1)
        self.region.map("counts", 16)
        self.region.barrier("start", procs)
        children = [start_python(COUNTER, self.name, str(per), str(procs)) for _ in range(procs)]
        for c in children:
            out, err = c.communicate(timeout=60)
            self.assertEqual(c.returncode, 0, err)
        self.assertEqual(self.region.array("counter")[0], procs * per)
        self.assertEqual(self.region.map("counts")["hits"], procs * per)

    def test_multiprocessing_spawn(self) -> None:
        q = self.region.queue("jobs", 64)
        self.region.array("totals", 8)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(2) as pool:
            result = pool.starmap_async(spawn_worker, [(self.name, 0), (self.name, 1)])
            for i in range(1, 501):
                q.push(i, timeout=30)
            q.shutdown()
            self.assertEqual(sorted(result.get(timeout=60)), [0, 1])
        self.assertEqual(self.region.array("totals")[0], sum(range(1, 501)))

    def test_multiprocessing_patches_lose_nothing(self) -> None:
        self.region.map("docs", 4)
        self.region.array("logs", 1)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(4) as pool:
            done = pool.starmap_async(patch_worker, [(self.name, p, 250) for p in range(4)])
            self.assertEqual(sorted(done.get(timeout=120)), [0, 1, 2, 3])
        self.assertEqual(self.region.map("docs")["cfg"], {"stats": {"hits": 1000}})
        items = self.region.array("logs")[0]["log"]["items"]
        self.assertEqual(len(items), 1000)
        for p in range(4):
            # Each process's items, all of them, in the order it pushed them.
            self.assertEqual([i for i in items if i.startswith(f"{p}-")],
                             [f"{p}-{i}" for i in range(250)])

    def test_fork_needs_reopen(self) -> None:
        a = self.region.array("a", 1)
        ctx = multiprocessing.get_context("fork")
        p = ctx.Process(target=fork_child_uses_inherited_handle, args=(a, self.name))
        p.start()
        p.join(30)
        self.assertEqual(p.exitcode, 0)
        self.assertEqual(a[0], "from the child")

    def test_exception_in_child(self) -> None:
        proc = run_python(
            """
            import sys, plexus
            try:
                plexus.Region(sys.argv[1], mode="create")
            except plexus.Exists as e:
                print(type(e).__name__, e.status, e.status_name)
            """,
            self.name,
        )
        assert_ok(self, "child", proc)
        self.assertEqual(proc.stdout.split(), ["Exists", "103", "PLEXUS_E_EXISTS"])


class WithC(RegionTest):
    """The C and C++ programs of ffi-tests/ on the other side."""

    def setUp(self) -> None:
        super().setUp()
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = Path(tmp.name)

    def test_c_writer_python_reader(self) -> None:
        writer = build_c("handshake_writer.c", self.tmp)
        n = 10000
        proc = subprocess.Popen(
            [str(writer), self.name, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            self.region.wait_object("handshake", timeout=10)
            a = self.region.array("handshake")
            got = [a.read_fe(0, timeout=10) for _ in range(n)]
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn(f"handshake_writer: OK {n}", out)
        self.assertEqual(got, [expected(i) for i in range(n)])

    def test_python_writer_cpp_reader(self) -> None:
        reader = build_c("handshake_reader.cpp", self.tmp)
        n = 3000
        proc = subprocess.Popen(
            [str(reader), self.name, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            a = self.region.array("handshake", 1)
            for i in range(n):
                a.write_ef(0, expected(i), timeout=10)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn(f"handshake_reader: OK {n}", out)

    def test_counter_with_c_processes(self) -> None:
        worker = build_c("faa_worker.c", self.tmp)
        a = self.region.array("counter", 1)
        per = 20000
        cs = [
            subprocess.Popen(
                [str(worker), self.name, str(per)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        py = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "import sys, plexus\n"
                    "a = plexus.Region(sys.argv[1], mode='open').array('counter', 1)\n"
                    "for _ in range(int(sys.argv[2])): a.faa(0, 1)\n",
                    self.name,
                    str(per // 4),
                ],
                env=child_env(),
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for _ in range(per // 4):
            a.faa(0, 1)
        for p in cs + py:
            _, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
        self.assertEqual(a[0], 2 * per + 3 * (per // 4))


if __name__ == "__main__":
    unittest.main()
