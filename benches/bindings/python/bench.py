"""Per-call cost of the Python binding, against plain Python and shared-memory packages.

Each row times one statement with ``timeit`` (``--number`` calls per batch, ``--repeat``
batches) and reports the per-call time of the median batch, the 10th and 90th
percentile batches, and the ratio of the medians to the baseline named in its group.
Every statement pays the same loop overhead (timeit's ``for`` loop), so the ratios are
what a Python program sees. Run through run.sh (it builds the extension and installs
UltraDict and shared-memory-dict into a private venv); rows whose package is missing
are skipped with a message.

Groups (baseline first):
  map read:    dict d["k"]  | plexus m["k"] | UltraDict | shared-memory-dict
  map write:   dict d["k"] = v | plexus | UltraDict | shared-memory-dict
  array read:  list l[0] | shared_memory + struct.unpack_from (one int) | plexus a[0]
  array write: list l[0] = v | shared_memory + struct.pack_into | plexus a[0] = v
  faa:         dict d["k"] += 1 | shared_memory + struct (not atomic) | plexus a.faa(0, 1)
  queue:       SimpleQueue put + get | plexus push + pop
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import struct
import sys
import timeit
import uuid
from multiprocessing import shared_memory
from queue import SimpleQueue
from typing import Any, Callable, Dict, List, Optional, Tuple

import plexus


def percentile(xs: List[float], p: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


class Bench:
    def __init__(self, number: int, repeat: int) -> None:
        self.number = number
        self.repeat = repeat
        self.rows: List[Dict[str, Any]] = []
        self.cleanups: List[Callable[[], None]] = []

    def group(self, group: str, rows: List[Tuple[str, str]], env: Dict[str, Any]) -> None:
        """Times each ``(method, statement)`` of a group; the batches of the group's
        statements alternate, so a change of the machine's load hits them alike."""
        timers = [(name, stmt, timeit.Timer(stmt, globals=env)) for name, stmt in rows]
        for _, _, timer in timers:
            timer.timeit(min(self.number, 2000))  # warm up
        per_call: Dict[str, List[float]] = {name: [] for name, _, _ in timers}
        for _ in range(self.repeat):
            for name, _, timer in timers:
                per_call[name].append(timer.timeit(self.number) / self.number * 1e9)
        for name, stmt, _ in timers:
            xs = per_call[name]
            self.rows.append(
                {
                    "group": group,
                    "name": name,
                    "stmt": stmt,
                    "median_ns": statistics.median(xs),
                    "p10_ns": percentile(xs, 0.10),
                    "p90_ns": percentile(xs, 0.90),
                }
            )

    def skip(self, group: str, name: str, why: str) -> None:
        print(f"bench: {group} / {name}: skipped ({why})", file=sys.stderr)
        self.rows.append({"group": group, "name": name, "skipped": why})


def ultradict(b: Bench) -> Optional[Any]:
    try:
        from UltraDict import UltraDict
    except Exception as e:  # noqa: BLE001 - any import failure means "not available"
        b.skip("map", "UltraDict", f"not installed: {e}")
        return None
    ud = UltraDict(name=f"pxb-ud-{uuid.uuid4().hex[:8]}", create=True, buffer_size=1 << 20)
    b.cleanups.append(ud.unlink)
    return ud


def shm_dict(b: Bench) -> Optional[Any]:
    try:
        from shared_memory_dict import SharedMemoryDict
    except Exception as e:  # noqa: BLE001
        b.skip("map", "shared-memory-dict", f"not installed: {e}")
        return None
    smd = SharedMemoryDict(name=f"pxb-smd-{uuid.uuid4().hex[:8]}", size=1 << 20)
    # cleanup() only empties it: unlink its segment too (after closing it).
    b.cleanups.append(smd.shm.unlink)
    b.cleanups.append(smd.shm.close)
    return smd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--number", type=int, default=2000, help="calls per batch (short batches: a preemption spoils few)")
    ap.add_argument("--repeat", type=int, default=101, help="batches per row")
    ap.add_argument("--quick", action="store_true", help="2000 calls x 9 batches")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    if args.quick:
        args.number, args.repeat = 2000, 9
    b = Bench(args.number, args.repeat)

    name = f"pxb-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    region = plexus.Region(name, mode="create", size=16 << 20)
    b.cleanups.append(lambda: plexus.Region.remove(name, missing_ok=True))
    b.cleanups.append(region.close)
    m = region.map("m", 64)
    a = region.array("a", 4)
    q = region.queue("q", 64)
    m["k"] = 1
    a[0] = 1
    d = {"k": 1}
    lst = [1]
    sq: "SimpleQueue[int]" = SimpleQueue()
    shm = shared_memory.SharedMemory(create=True, size=64)
    b.cleanups.append(shm.unlink)
    b.cleanups.append(shm.close)
    buf = shm.buf
    struct.pack_into("q", buf, 0, 1)
    ud = ultradict(b)
    smd = shm_dict(b)
    if ud is not None:
        ud["k"] = 1
    if smd is not None:
        smd["k"] = 1
    env = {
        "m": m,
        "a": a,
        "q": q,
        "d": d,
        "l": lst,
        "sq": sq,
        "buf": buf,
        "unpack_from": struct.Struct("q").unpack_from,
        "pack_into": struct.Struct("q").pack_into,
        "ud": ud,
        "smd": smd,
    }
    try:
        maps = [("UltraDict", "ud"), ("shared-memory-dict", "smd")]
        others = [(label, var) for label, var in maps if env[var] is not None]
        b.group(
            "map read",
            [("dict", 'd["k"]'), ("plexus", 'm["k"]')] + [(l, f'{v}["k"]') for l, v in others],
            env,
        )
        b.group(
            "map write",
            [("dict", 'd["k"] = 2'), ("plexus", 'm["k"] = 2')]
            + [(l, f'{v}["k"] = 2') for l, v in others],
            env,
        )
        b.group(
            "array read",
            [
                ("list", "l[0]"),
                ("shared_memory + struct", "unpack_from(buf, 0)[0]"),
                ("plexus", "a[0]"),
            ],
            env,
        )
        b.group(
            "array write",
            [
                ("list", "l[0] = 2"),
                ("shared_memory + struct", "pack_into(buf, 0, 2)"),
                ("plexus", "a[0] = 2"),
            ],
            env,
        )
        b.group(
            "faa",
            [
                ("dict +=", 'd["k"] += 1'),
                (
                    "shared_memory + struct (not atomic)",
                    "pack_into(buf, 0, unpack_from(buf, 0)[0] + 1)",
                ),
                ("plexus", "a.faa(0, 1)"),
            ],
            env,
        )
        b.group(
            "queue push+pop",
            [("SimpleQueue", "sq.put(1); sq.get()"), ("plexus", "q.push(1); q.pop()")],
            env,
        )
    finally:
        del buf, env
        for cleanup in reversed(b.cleanups):
            try:
                cleanup()
            except Exception as e:  # noqa: BLE001 - report, go on cleaning up
                print(f"bench: cleanup: {e}", file=sys.stderr)
    report(b, args)


def report(b: Bench, args: argparse.Namespace) -> None:
    print(
        f"# Python binding, per call (ns): {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{args.repeat} batches of {args.number} calls\n"
    )
    print("| group | method | median | p10 | p90 | / baseline |")
    print("|---|---|---:|---:|---:|---:|")
    base: Dict[str, float] = {}
    for r in b.rows:
        if "skipped" in r:
            print(f"| {r['group']} | {r['name']} | skipped: {r['skipped']} | | | |")
            continue
        base.setdefault(r["group"], r["median_ns"])
        ratio = r["median_ns"] / base[r["group"]]
        print(
            f"| {r['group']} | {r['name']} | {r['median_ns']:.0f} | {r['p10_ns']:.0f} | "
            f"{r['p90_ns']:.0f} | {ratio:.2f}x |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(b.rows, f, indent=1)


if __name__ == "__main__":
    main()
