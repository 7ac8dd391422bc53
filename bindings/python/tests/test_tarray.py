"""Typed arrays: views in place (memoryview; numpy when installed), block hand-offs
(with write_block / read_block), copies, atomics, wait/notify across processes, a C++
writer handing 10,000 blocks of 64 KiB to this process, and remote regions."""

from __future__ import annotations

import array
import struct
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

from _support import (
    RegionTest,
    assert_ok,
    build_c,
    plexus,
    run_python,
    skip_loudly,
    start_python,
    start_redis,
    unique,
)

if not plexus.has_numpy():
    bar = "*" * 78
    sys.stderr.write(
        f"\n{bar}\nSKIPPED: numpy is not installed: the numpy views of test_tarray.py are "
        f"not tested (memoryviews are)\n{bar}\n"
    )


class TypedArrayTest(RegionTest):
    def test_open_rules_and_shape(self) -> None:
        t = self.region.tarray("t", "f64", 10, block_len=4)
        self.assertEqual((t.dtype, t.length, len(t), t.block_len, t.blocks), ("f64", 10, 10, 4, 3))
        self.assertEqual((t.itemsize, t.format), (8, "d"))
        self.assertEqual(self.region.tarray("t").dtype, "f64")  # any dtype, open only
        self.assertEqual(self.region.tarray("t", "float64").length, 10)
        with self.assertRaises(plexus.Incompatible):
            self.region.tarray("t", "f32")
        with self.assertRaises(plexus.Incompatible):
            self.region.tarray("t", "f64", 11, block_len=4)
        with self.assertRaises(plexus.Exists):
            self.region.tarray("t", "f64", 10, block_len=4, exclusive=True)
        with self.assertRaises(plexus.NotFound):
            self.region.tarray("absent")
        with self.assertRaises(ValueError):
            self.region.tarray("x", "complex128", 4)
        with self.assertRaises(plexus.InvalidArgument):
            self.region.tarray("x", None, 4)
        with self.assertRaises(plexus.TypeMismatch):
            self.region.array("t", 1)
        t.close()
        with self.assertRaises(plexus.BadHandle):
            t.is_full(0)

    def test_memoryview_in_place(self) -> None:
        t = self.region.tarray("t", "i32", 8)
        mv = t.memoryview()
        self.assertEqual((mv.format, len(mv), mv.tolist()), ("i", 8, [0] * 8))
        mv[3] = -5
        other = plexus.Region(self.name, mode="open")
        self.addCleanup(other.close)
        self.assertEqual(list(other.tarray("t").read(3, 1)), [-5])
        t.write(0, [1, 2, 3])
        self.assertEqual(mv[:4].tolist(), [1, 2, 3, -5])
        t.close()
        self.assertEqual(mv[0], 1)  # still mapped after close

    def test_numpy(self) -> None:
        if not plexus.has_numpy():
            skip_loudly(self, "numpy is not installed", "install numpy (.ci/run does)")
        import numpy as np

        t = self.region.tarray("t", "f64", 6, block_len=3)
        a = t.numpy()
        self.assertEqual((a.dtype, a.shape), (np.float64, (6,)))
        a[:] = np.arange(6)
        self.assertEqual(list(t.read()), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
        with t.write_block(1, timeout=1) as view:
            self.assertIsInstance(view, np.ndarray)
            view[:] = 7
        with t.read_block(1, timeout=1) as view:
            self.assertEqual(list(view), [7.0, 7.0, 7.0])

    def test_blocks(self) -> None:
        t = self.region.tarray("t", "u16", 6, block_len=4)  # blocks of 4 and 2
        with self.assertRaises(plexus.Timeout):
            t.begin_read(0, timeout=0)
        with t.write_block(1, timeout=1) as view:
            self.assertEqual(len(view), 2)
            view[0], view[1] = 10, 11
            self.assertFalse(t.is_full(1))
        self.assertTrue(t.is_full(1))
        with self.assertRaises(plexus.Timeout):
            t.write_block_copy(1, [0, 0], timeout=0.05)
        with t.read_block(1) as view:
            self.assertEqual(list(view), [10, 11])
        self.assertFalse(t.is_full(1))
        t.write_block_copy(0, [1, 2, 3, 4])
        self.assertEqual(list(t.read_block_copy(0, timeout=1)), [1, 2, 3, 4])
        with self.assertRaises(plexus.InvalidArgument):
            t.end_write(0)  # not being written
        with self.assertRaises(plexus.OutOfRange):
            t.begin_write(2)
        # A writer thread hands 300 blocks through the ring of 2 blocks.
        def writer() -> None:
            for i in range(300):
                with t.write_block(i % 2, timeout=10) as v:
                    for k in range(len(v)):
                        v[k] = i
        th = threading.Thread(target=writer)
        th.start()
        for i in range(300):
            with t.read_block(i % 2, timeout=10) as v:
                self.assertEqual(set(list(v)), {i})
        th.join()

    def test_full_flag(self) -> None:
        t = self.region.tarray("t", "u8", 4, block_len=2, full=True)
        self.assertTrue(t.is_full(0) and t.is_full(1))

    def test_atomics(self) -> None:
        for dtype in ("i32", "u32", "i64", "u64"):
            t = self.region.tarray(dtype, dtype, 4)
            t.store(0, 41)
            self.assertEqual(t.faa(0, 1), 41)
            self.assertEqual(t.cas(0, 42, 50), 42)
            self.assertEqual(t.cas(0, 42, 60), 50)
            t.faa(1, -1)
            top = {"i32": -1, "i64": -1, "u32": 2**32 - 1, "u64": 2**64 - 1}[dtype]
            self.assertEqual(t.load(1), top)
            self.assertTrue(t.wait(0, 49, timeout=1))
            self.assertFalse(t.wait(0, 50, timeout=0.05))
            self.assertEqual(t.notify(0), 0)
        with self.assertRaises(plexus.InvalidArgument):
            self.region.tarray("u32").store(0, -1)
        with self.assertRaises(plexus.InvalidArgument):
            self.region.tarray("u64").store(0, 2**64)
        f = self.region.tarray("f", "f32", 2)
        with self.assertRaises(plexus.TypeMismatch):
            f.load(0)
        with self.assertRaises(plexus.TypeMismatch):
            f.notify(0)

    def test_wait_notify_across_processes(self) -> None:
        t = self.region.tarray("flag", "i64", 2)
        child = start_python(
            "import sys, plexus\n"
            "r = plexus.Region(sys.argv[1], mode='open')\n"
            "t = r.tarray('flag')\n"
            "print('waiting', flush=True)\n"
            "ok = t.wait(0, 0, timeout=60)\n"
            "print('woke', ok, t.load(0), flush=True)\n",
            self.name,
        )
        self.addCleanup(child.kill)
        self.assertEqual(child.stdout.readline().strip(), "waiting")
        t.store(0, 9)
        deadline = time.monotonic() + 10
        while child.poll() is None and time.monotonic() < deadline:
            t.notify(0, 1)
            time.sleep(0.01)
        out, err = child.communicate(timeout=30)
        self.assertEqual(child.returncode, 0, err)
        self.assertIn("woke True 9", out)

    def test_killed_writer_and_reader_leave_no_partial_frame_and_no_stuck_block(self) -> None:
        """A Python writer SIGKILLed inside ``with t.write_block(...)`` after writing half
        the block: the block is EMPTY again, this reader never gets the partial frame as
        FULL, and a new writer takes the block. A reader SIGKILLed inside
        ``with t.read_block(...)``: the block is FULL again and is read whole."""
        t = self.region.tarray("frames", "f64", 4 * 1024, block_len=1024)
        holder = (
            "import sys, time, plexus\n"
            "r = plexus.Region(sys.argv[1], mode='open')\n"
            "t = r.tarray('frames')\n"
            "if sys.argv[2] == 'write':\n"
            "    with t.write_block(1, timeout=30) as v:\n"
            "        for k in range(512): v[k] = 7.0\n"
            "        print('holding', flush=True)\n"
            "        time.sleep(120)\n"
            "else:\n"
            "    with t.read_block(1, timeout=30) as v:\n"
            "        print('holding', v[0], v[1023], flush=True)\n"
            "        time.sleep(120)\n"
        )

        def hold(how: str) -> str:
            child = start_python(holder, self.name, how)
            self.addCleanup(child.kill)
            line = child.stdout.readline().strip()
            self.assertTrue(line.startswith("holding"), (line, child.stderr.read() if not line else ""))
            # Held by a live process: neither side can take it.
            with self.assertRaises(plexus.Timeout):
                t.begin_write(1, timeout=0.1)
            with self.assertRaises(plexus.Timeout):
                t.begin_read(1, timeout=0.1)
            child.kill()  # SIGKILL, inside the with
            child.communicate(timeout=30)
            self.assertEqual(child.returncode, -9)
            return line

        hold("write")
        self.assertFalse(t.is_full(1))
        # The partial frame is never handed out as FULL (the reader's wait looks at the
        # dead holder and takes the block back EMPTY), and nothing else became FULL.
        with self.assertRaises(plexus.Timeout):
            t.begin_read(1, timeout=0.5)
        self.assertFalse(any(t.is_full(b) for b in range(t.blocks)))
        with t.write_block(1, timeout=5) as view:  # a new writer takes it
            for k in range(len(view)):
                view[k] = 3.0 + k
        self.assertTrue(t.is_full(1))

        self.assertEqual(hold("read"), "holding 3.0 1026.0")
        self.assertTrue(t.is_full(1))  # FULL again (or still held by the dead reader)
        with t.read_block(1, timeout=5) as view:  # and read whole
            self.assertEqual(list(view), [3.0 + k for k in range(1024)])
        self.assertFalse(t.is_full(1))

    def test_cpp_writer_python_reader_10000_blocks_of_64k(self) -> None:
        """A C++ process (plexus::TypedArray) writes 10,000 blocks of 64 KiB through a ring
        of 8 blocks; this process reads each in place and checks every element."""
        with tempfile.TemporaryDirectory() as d:
            exe = build_c("test_cpp_tarray.cpp", Path(d))
            bl = 8192  # f64: 64 KiB per block
            t = self.region.tarray("frames", "f64", 8 * bl, block_len=bl)
            import subprocess

            writer = subprocess.Popen(
                [str(exe), "writer", self.name, "frames", "10000"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self.addCleanup(writer.kill)
            bad = 0
            for i in range(10000):
                mv = t.begin_read(i % 8, timeout=60)
                first, last = mv[0], mv[bl - 1]
                if plexus.has_numpy():
                    import numpy as np

                    ok = bool((np.frombuffer(mv, dtype=np.float64) == np.arange(bl) + float(i) * bl).all())
                else:
                    base = float(i) * bl
                    # Every element, without numpy: compare with the expected bytes.
                    ok = mv.tobytes() == array.array("d", (base + k for k in range(bl))).tobytes()
                if not ok or first != float(i) * bl or last != float(i) * bl + bl - 1:
                    bad += 1
                t.end_read(i % 8)
            out, err = writer.communicate(timeout=60)
            self.assertEqual(writer.returncode, 0, err)
            self.assertIn("wrote 10000", out)
            self.assertEqual(bad, 0)


class RemoteTypedArrayTest(unittest.TestCase):
    def setUp(self) -> None:
        self.server = start_redis(self)
        self.url = self.server.url(unique(self.id().rsplit(".", 1)[-1]))
        self.addCleanup(self.server.stop)

    def test_copies_and_atomics_on_the_server(self) -> None:
        with plexus.Region(self.url, mode="create") as r:
            t = r.tarray("t", "i64", 6, block_len=3)
            with self.assertRaises(plexus.Unsupported):
                t.memoryview()
            with self.assertRaises(plexus.Unsupported):
                with t.write_block(0):
                    pass
            t.write(0, [1, 2, 3])
            got = t.read(0, 3)
            self.assertEqual(list(got), [1, 2, 3])
            t.write_block_copy(1, [4, 5, 6], timeout=1)
            self.assertTrue(t.is_full(1))
            self.assertEqual(list(t.read_block_copy(1, timeout=1)), [4, 5, 6])
            with self.assertRaises(plexus.Timeout):
                t.read_block_copy(1, timeout=0.1)
            self.assertEqual(t.faa(0, 10), 1)
            self.assertEqual(t.load(0), 11)
            self.assertFalse(t.wait(0, 11, timeout=0.1))
        plexus.Region.remove(self.url)


if __name__ == "__main__":
    unittest.main()
