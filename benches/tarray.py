"""Typed arrays from Python: numpy over shared memory, and block hand-offs between processes.

Run through benches/tarray.sh (it builds the extension of this checkout, release). Two
measurements, each interleaving its methods round by round so that a change of the
machine's load hits them alike, and each reporting medians, percentiles over rounds and
the ratio to the baseline computed round by round:

1. ``numpy.sum`` over a shared 16M-element float64 array (``t.numpy()`` of a plexus typed
   array, in place) against the same sum over a private numpy array with the same
   contents. Ratio = private time / shared time (1.0: no difference; target >= 0.95).
   For context, two more arrays take turns with them: a private array allocated
   without numpy's transparent-huge-page request, and a ``multiprocessing.shared_memory``
   array (page size is what separates shared from private memory here). The arrays are
   allocated anew in 4 epochs, in a rotated order (on the machine this was written on,
   the first large allocation of a process sums slower, whatever its kind).

2. Block hand-off throughput (GB/s of block data) from a writer process to a reader
   process through a ring of ``--ring`` blocks of ``--block-kib`` KiB (each size given
   is measured in turn), ``--mib`` MiB of blocks per round. The writer fills each block from a private array (one numpy copy)
   and stamps its sequence number into the first and last element; the reader checks the
   stamps and sums the block (every element read), then frees the block:

   - ``shm+pipe`` (baseline): ``multiprocessing.shared_memory`` holding the ring; the
     writer sends the block index over a pipe, the reader acks it over a second pipe; the
     writer reuses a block only after its ack (the same full/empty discipline).
   - ``tarray``: a plexus typed array whose blocks are the ring; ``with
     t.write_block(i)`` / ``with t.read_block(i)`` (views in place, no copy).
   - ``queue``: a plexus queue of BYTES values (capacity = the ring): the writer fills a
     private bytearray and pushes it, the reader pops a copy and sums it.

   Each round starts a new writer process (``--role writer``), waits until it is ready,
   then times from "go" to the last block read. Ratio = method GB/s / baseline GB/s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import struct
import subprocess
import sys
import time
import uuid
from multiprocessing import shared_memory
from typing import Any, Dict, List

import numpy as np

import plexus

METHODS = ["shm+pipe", "tarray", "queue"]


def percentile(xs: List[float], p: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def load() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def summary(xs: List[float], fmt: str = "{:.3g}") -> str:
    return "{} ({}–{})".format(fmt.format(statistics.median(xs)), fmt.format(percentile(xs, 0.1)), fmt.format(percentile(xs, 0.9)))


# ---------------------------------------------------------------------------------------
# 1. numpy.sum over shared memory against private memory


def private_small_pages(n: int) -> "np.ndarray | None":
    """A private array of `n` float64 allocated without numpy's transparent huge page
    request (numpy asks the kernel for huge pages for large arrays on Linux): None when
    this numpy has no switch for it."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage  # type: ignore[attr-defined]
    except ImportError:
        try:
            from numpy.core.multiarray import _set_madvise_hugepage  # type: ignore[attr-defined,no-redef]
        except ImportError:
            return None
    old = _set_madvise_hugepage(False)
    try:
        return np.empty(n)
    finally:
        _set_madvise_hugepage(old)


def thp_settings() -> str:
    out = []
    for what in ("enabled", "shmem_enabled"):
        try:
            with open(f"/sys/kernel/mm/transparent_hugepage/{what}") as f:
                out.append(f"{what}: {f.read().strip()}")
        except OSError:
            pass
    out.append(f"/dev/shm mounted with {shm_huge_option()}")
    return "; ".join(out)


def shm_huge_option() -> str:
    """The `huge=` option of the /dev/shm mount in effect (the last one listed)."""
    opt = "no /dev/shm mount"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 3 and fields[1] == "/dev/shm":
                    found = [o for o in fields[3].split(",") if o.startswith("huge=")]
                    opt = found[0] if found else "no huge= option (huge=never)"
    except OSError:
        pass
    return opt


def pmd_mapped_mib(a: np.ndarray) -> "float | None":
    """MiB of the mapping that holds `a` that this process maps with huge pages
    (ShmemPmdMapped + FilePmdMapped of /proc/self/smaps; the mapping is the whole
    region), or None when smaps cannot tell."""
    addr = a.__array_interface__["data"][0]
    try:
        with open("/proc/self/smaps") as f:
            inside = False
            kib = 0
            for line in f:
                head = line.split()[0] if line.strip() else ""
                if "-" in head and not head.endswith(":"):
                    if inside:
                        break
                    lo, hi = (int(x, 16) for x in head.split("-"))
                    inside = lo <= addr < hi
                elif inside and head in ("ShmemPmdMapped:", "FilePmdMapped:"):
                    kib += int(line.split()[1])
            return kib / 1024 if inside else None
    except OSError:
        return None


SUM_ARRAYS = ["plexus", "private", "private, small pages", "shared_memory"]


def make_sum_arrays(n: int, order: List[str], contents: np.ndarray, keep: List[Any]) -> Dict[str, np.ndarray]:
    """The arrays of the numpy.sum measurement, allocated in `order` (the first array
    allocated in a process tends to get slower pages here, whatever its kind), each
    holding `contents` (every page touched). `keep` collects what must be closed."""
    arrays: Dict[str, np.ndarray] = {}
    for k in order:
        if k == "plexus":
            name = f"bench-tarray-sum-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            region = plexus.Region(name, mode="create", size=n * 8 + (64 << 20))
            keep.append(lambda region=region, name=name: (region.close(), plexus.Region.remove(name)))
            arrays[k] = region.tarray("big", "f64", n).numpy()
        elif k == "private":
            arrays[k] = np.empty(n)
        elif k == "private, small pages":
            small = private_small_pages(n)
            if small is None:
                continue
            arrays[k] = small
        else:
            shm = shared_memory.SharedMemory(create=True, size=n * 8)
            keep.append(lambda shm=shm: (shm.close(), shm.unlink()))
            arrays[k] = np.ndarray((n,), dtype=np.float64, buffer=shm.buf)
        arrays[k][:] = contents
    return arrays


def sum_bench(args: argparse.Namespace, out: List[str]) -> None:
    n = args.elements
    contents = np.random.default_rng(1).random(n)
    expected = float(np.sum(contents))
    times: Dict[str, List[float]] = {k: [] for k in SUM_ARRAYS}
    pmd: List["float | None"] = []
    ratios: Dict[str, List[float]] = {k: [] for k in SUM_ARRAYS if k != "plexus"}
    # Epochs: every array is allocated anew, in an order rotated epoch by epoch, so that
    # no kind always gets the pages of the first (or last) allocation.
    epochs = len(SUM_ARRAYS)
    for e in range(epochs):
        keep: List[Any] = []
        try:
            order = SUM_ARRAYS[e:] + SUM_ARRAYS[:e]
            arrays = make_sum_arrays(n, order, contents, keep)
            assert all(float(np.sum(a)) == expected for a in arrays.values())
            pmd.append(pmd_mapped_mib(arrays["plexus"]))
            names = list(arrays)
            for r in range(max(1, args.sum_rounds // epochs)):
                rot = names[r % len(names) :] + names[: r % len(names)]
                got: Dict[str, float] = {}
                for which in rot:
                    t0 = time.perf_counter()
                    np.sum(arrays[which])
                    got[which] = time.perf_counter() - t0
                    times[which].append(got[which])
                for k in ratios:
                    if k in got:
                        ratios[k].append(got[k] / got["plexus"])
            del arrays
        finally:
            for c in keep:
                c()
    ms = {k: [x * 1e3 for x in v] for k, v in times.items() if v}
    gbs = {k: [n * 8 / x / 1e9 for x in v] for k, v in times.items() if v}
    label = {
        "private": "private numpy array (baseline; numpy asks for transparent huge pages)",
        "private, small pages": "private numpy array allocated without the huge page request",
        "shared_memory": "`multiprocessing.shared_memory` (`/dev/shm`)",
        "plexus": "plexus typed array, `t.numpy()` (`/dev/shm`)",
    }
    rounds = len(times["plexus"])
    out.append(
        f"### numpy.sum over {n:,} float64 ({n * 8 >> 20} MiB), {rounds} interleaved rounds "
        f"in {epochs} epochs (arrays allocated anew each epoch, in a rotated order)\n"
    )
    out.append(f"Transparent huge pages: {thp_settings()}.\n")
    shown = ", ".join("?" if m is None else f"{m:.0f}" for m in pmd)
    out.append(
        f"Mapped with huge pages in this process (ShmemPmdMapped + FilePmdMapped of the plexus "
        f"region's mapping, /proc/self/smaps), MiB per epoch: {shown} (the array: {n * 8 >> 20} MiB).\n"
    )
    out.append("| array | time per sum, median (p10–p90) | GB/s, median (p10–p90) | plexus speed relative to it, round by round: median (p10–p90) |")
    out.append("|---|---|---|---|")
    for k in ["private", "private, small pages", "shared_memory", "plexus"]:
        if k not in ms:
            continue
        rel = "1" if k == "plexus" else summary(ratios[k], "{:.3f}") + "×"
        out.append(f"| {label[k]} | {summary(ms[k])} ms | {summary(gbs[k])} | {rel} |")
    out.append("")
    ratio = statistics.median(ratios["private"])
    out.append(
        f"Shared / private speed, round by round (private time / shared time): median "
        f"**{ratio:.3f}×** (min {min(ratios['private']):.3f}, max {max(ratios['private']):.3f}); "
        f"target ≥ 0.95×: **{'met' if ratio >= 0.95 else 'NOT met'}**.\n"
    )


# ---------------------------------------------------------------------------------------
# 2. block hand-off between two processes


def stamp(a: np.ndarray, i: int) -> None:
    a[0] = i
    a[-1] = i


def writer(args: argparse.Namespace) -> None:
    """``--role writer``: opens what the reader made, says ready, waits for go, writes."""
    bl = args.block_kib * 1024 // 8
    ring, count = args.ring, args.blocks
    src = np.random.default_rng(2).random(bl)
    if args.method == "shm+pipe":
        shm = shared_memory.SharedMemory(name=args.shm)
        # Attaching registers the segment with this process's resource tracker, which
        # would unlink it when this process ends (Python < 3.13): the reader owns it.
        from multiprocessing import resource_tracker

        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
        ring_arr = np.ndarray((ring, bl), dtype=np.float64, buffer=shm.buf)
        full_w, ack_r = args.fds
        ready(args)
        free = ring
        for i in range(count):
            b = i % ring
            if free == 0:
                os.read(ack_r, 8)  # the reader freed the oldest block: block b
            else:
                free -= 1
            blk = ring_arr[b]
            blk[:] = src
            stamp(blk, i)
            os.write(full_w, struct.pack("=q", b))
        del ring_arr, blk
        shm.close()
        return
    region = plexus.Region(args.region, mode="open")
    if args.method == "tarray":
        t = region.tarray("ring")
        ready(args)
        for i in range(count):
            with t.write_block(i % ring, timeout=60) as blk:
                blk[:] = src
                stamp(blk, i)
    else:
        q = region.queue("q")
        buf = bytearray(bl * 8)
        arr = np.frombuffer(buf, dtype=np.float64)
        ready(args)
        for i in range(count):
            arr[:] = src
            stamp(arr, i)
            q.push(buf, timeout=60)
        del arr
    region.close()


def ready(args: argparse.Namespace) -> None:
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()  # go


def handoff_round(args: argparse.Namespace, method: str, kib: int) -> float:
    """One round of `method` with blocks of `kib` KiB: the reader's GB/s."""
    bl = kib * 1024 // 8
    ring, count = args.ring, args.mib * 1024 // kib
    cmd = [sys.executable, os.path.abspath(__file__), "--role", "writer", "--method", method]
    cmd += ["--ring", str(ring), "--blocks", str(count), "--block-kib", str(kib)]
    tag = f"bench-tarray-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    cleanup = []
    pass_fds: tuple = ()
    try:
        if method == "shm+pipe":
            shm = shared_memory.SharedMemory(create=True, size=ring * bl * 8)
            cleanup.append(lambda: (shm.close(), shm.unlink()))
            full_r, full_w = os.pipe()
            ack_r, ack_w = os.pipe()
            for fd in (full_r, full_w, ack_r, ack_w):
                cleanup.append(lambda fd=fd: os.close(fd))
            pass_fds = (full_w, ack_r)
            cmd += ["--shm", shm.name, "--fds", str(full_w), str(ack_r)]
        else:
            region = plexus.Region(tag, mode="create", size=ring * bl * 8 * 3 + (16 << 20))
            cleanup.append(lambda: (region.close(), plexus.Region.remove(tag)))
            if method == "tarray":
                t = region.tarray("ring", "f64", ring * bl, block_len=bl)
            else:
                q = region.queue("q", ring)
            cmd += ["--region", tag]
        child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, pass_fds=pass_fds)
        cleanup.insert(0, lambda: (child.kill(), child.wait()))
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{method} writer did not start")
        bad = 0
        checksum = 0.0
        child.stdin.write("go\n")
        child.stdin.flush()
        t0 = time.perf_counter()
        if method == "shm+pipe":
            ring_arr = np.ndarray((ring, bl), dtype=np.float64, buffer=shm.buf)
            for i in range(count):
                b = struct.unpack("=q", os.read(full_r, 8))[0]
                blk = ring_arr[b]
                bad += blk[0] != i or blk[-1] != i
                checksum += float(blk.sum())
                os.write(ack_w, struct.pack("=q", b))
            del ring_arr, blk
        elif method == "tarray":
            for i in range(count):
                with t.read_block(i % ring, timeout=60) as blk:
                    bad += blk[0] != i or blk[-1] != i
                    checksum += float(blk.sum())
        else:
            for i in range(count):
                blk = np.frombuffer(q.pop(timeout=60), dtype=np.float64)
                bad += blk[0] != i or blk[-1] != i
                checksum += float(blk.sum())
        elapsed = time.perf_counter() - t0
        if child.wait(timeout=60) != 0:
            raise RuntimeError(f"{method} writer failed ({child.returncode})")
        if bad:
            raise RuntimeError(f"{method}: {bad} blocks with a wrong sequence number")
        return count * bl * 8 / elapsed / 1e9
    finally:
        for c in cleanup:
            try:
                c()
            except Exception:
                pass


def handoff_bench(args: argparse.Namespace, kib: int, out: List[str]) -> None:
    gbs: Dict[str, List[float]] = {m: [] for m in METHODS}
    ratios: Dict[str, List[float]] = {m: [] for m in METHODS[1:]}
    loads: List[float] = []
    for r in range(args.rounds):
        order = METHODS[r % 3 :] + METHODS[: r % 3]
        got = {}
        loads.append(load())
        for m in order:
            got[m] = handoff_round(args, m, kib)
            gbs[m].append(got[m])
        for m in METHODS[1:]:
            ratios[m].append(got[m] / got["shm+pipe"])
        print(f"{kib} KiB, round {r + 1}: " + ", ".join(f"{m} {got[m]:.2f} GB/s" for m in METHODS) + f" (load {loads[-1]:.1f})", file=sys.stderr)
    count = args.mib * 1024 // kib
    out.append(
        f"### Block hand-off, writer process → reader process: ring of {args.ring} blocks of "
        f"{kib} KiB, {count} blocks ({args.mib} MiB) per round, {args.rounds} interleaved rounds\n"
    )
    out.append("| method | GB/s, median (p10–p90) | ratio to shm+pipe, round by round: median (p10–p90) |")
    out.append("|---|---|---|")
    out.append(f"| `multiprocessing.shared_memory` + 2 pipes (baseline) | {summary(gbs['shm+pipe'])} | 1 |")
    out.append(f"| plexus typed array, `write_block` / `read_block` | {summary(gbs['tarray'])} | **{summary(ratios['tarray'], '{:.2f}')}×** |")
    out.append(f"| plexus queue of bytes (push / pop copies) | {summary(gbs['queue'])} | {summary(ratios['queue'], '{:.2f}')}× |")
    out.append("")
    out.append(f"1-minute load average at the start of the rounds: {summary(loads, '{:.1f}')}.\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--elements", type=int, default=16 << 20, help="elements of the summed array (default 16M)")
    p.add_argument("--sum-rounds", type=int, default=48, help="interleaved numpy.sum rounds, split over 4 allocation epochs (default 48)")
    p.add_argument("--rounds", type=int, default=9, help="interleaved hand-off rounds (default 9)")
    p.add_argument("--ring", type=int, default=8, help="blocks in the ring (default 8)")
    p.add_argument("--block-kib", type=int, nargs="+", default=[1024, 64], help="KiB per block, one or more sizes (default 1024 64)")
    p.add_argument("--mib", type=int, default=2048, help="MiB of blocks per round and method (default 2048)")
    p.add_argument("--no-sum", action="store_true", help="skip the numpy.sum measurement")
    p.add_argument("--no-handoff", action="store_true", help="skip the hand-off measurement")
    p.add_argument("--out", default=None, help="also write the Markdown report here")
    # The writer process's arguments.
    p.add_argument("--role", default="reader", help=argparse.SUPPRESS)
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--region", help=argparse.SUPPRESS)
    p.add_argument("--shm", help=argparse.SUPPRESS)
    p.add_argument("--fds", type=int, nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--blocks", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.role == "writer":
        args.block_kib = args.block_kib[0]
        return writer(args)
    out = [
        f"## Typed arrays from Python ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n",
        f"Python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs "
        f"({platform.machine()}, Linux {platform.release()}); 1-minute load average at the start: {load():.1f}.\n",
    ]
    if not args.no_sum:
        sum_bench(args, out)
    if not args.no_handoff:
        for kib in args.block_kib:
            handoff_bench(args, kib, out)
    report = "\n".join(out)
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
