"""The Python participant of the cross-language demo (./demo.sh; see demo.c for the plan).

    python3 demo/demo.py REGION IDS        e.g. ... plexus-demo-42 c,cpp,python,node

Besides the steps every participant takes (greeting, barrier, shared counter), Python
shows what happens to nested objects: it reads the "config" OBJECT (a dict copy),
changes the copy, shows that the shared value did not change, then writes the whole
object back. REGION may be redis://host:port/NAME (./demo.sh --redis); a password in it
is never printed. Every line starts with "[Python]". Exit status 0 on success, 1 on failure.
"""

import os
import re
import sys

import plexus

INCREMENTS = 10000
# Generous limits (seconds): over the network (./demo.sh --redis) every call is a round
# trip to the server.
WAIT = 60
BARRIER_WAIT = 120


def shown(name: str) -> str:
    """``name`` as it may be printed: a remote name's password replaced by ``***``."""
    m = re.match(r"(\w+://)([^/]*)@", name)
    if not m:
        return name
    user = m[2].split(":", 1)[0] + ":" if ":" in m[2] else ""
    return f"{m[1]}{user}***@{name[m.end():]}"


def say(line: str) -> None:
    # One write per line, so lines of the processes sharing the terminal never mix.
    sys.stdout.write(f"[Python] {line}\n")
    sys.stdout.flush()


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: demo.py REGION IDS (e.g. demo.py plexus-demo c,cpp,python)", file=sys.stderr)
        return 2
    name, ids = sys.argv[1], sys.argv[2].split(",")
    right = ids[(ids.index("python") + 1) % len(ids)]

    # The C process creates the region and, last, the barrier: wait for both.
    with plexus.Region(name, mode="open", wait=WAIT) as region:
        region.wait_object("meet", timeout=WAIT)
        m = region.map("demo")
        barrier = region.barrier("meet")
        rounds = 0

        def meet() -> None:
            nonlocal rounds
            rounds += 1
            if barrier.wait(timeout=BARRIER_WAIT):
                say(f"barrier 'meet' round {rounds}: all {len(ids)} processes arrived (Python was last)")

        say(f"opened region {shown(name)!r} (libplexus through ctypes: {os.path.relpath(plexus.library_path)})")

        # 1. greetings around the ring
        text = f"hello from Python (pid {os.getpid()})"
        m.write_ef(f"hello/{right}", text, timeout=WAIT)
        say(f"write_ef hello/{right} <- {text!r}")
        say(f"read_fe hello/python -> {m.read_fe('hello/python', timeout=WAIT)!r}")
        meet()

        # 2. the shared counter
        for _ in range(INCREMENTS):
            m.faa("counter", 1)
        meet()
        total, want = m["counter"], len(ids) * INCREMENTS
        if total != want:
            print(f"[Python] counter is {total}, expected {want}", file=sys.stderr)
            return 1
        say(f"counter = {total}: correct")
        meet()

        # 3. nested objects are copied out: changing the copy changes nothing shared
        cfg = m["config"]
        say(f"config is a {type(cfg).__name__} copy: limits = {cfg['limits']}")
        cfg["limits"]["queue"] = 128
        cfg["edited_by"] = f"Python (pid {os.getpid()})"
        shared = m["config"]["limits"]["queue"]
        say(f"set my copy's limits.queue = 128; the shared config still says {shared}")
        if shared != 64:
            print("[Python] the shared config changed without a write", file=sys.stderr)
            return 1
        m["config"] = cfg
        say("wrote the whole object back: m['config'] = cfg")
        meet()
        meet()  # C++ and Node print the config meanwhile

        # 4. the C process stops the C++ background updater meanwhile
        meet()
        m.faa("done", 1)  # past the last barrier (C waits for it)
        say("done")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except plexus.Error as e:
        print(f"[Python] failed: {e}", file=sys.stderr)
        sys.exit(1)
