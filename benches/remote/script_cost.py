#!/usr/bin/env python3
"""Where the server time of a remote write goes: loads the element function of
src/redis/scripts.rs (the function library as the library builds it: the common
prologue and the ELEMENT parts, called with FCALL for `write_xf`) and variants of it
with parts removed, each as a library of its own, runs each N times per round with
redis-benchmark (one connection, one call at a time) in interleaved rounds, and
reports the server's time per call (INFO commandstats) and the client's median round
trip.

    python3 benches/remote/script_cost.py --port P [--n 5000] [--rounds 9]

Used by benches/remote.sh (the "Script cost" section of its report). The variants are
made by removing exact pieces of the script text; a variant whose piece is no longer in
the script (the script changed) is reported as n/a rather than measured wrongly. Only
127.0.0.1; the keys it makes (px:{pxbench-script-cost}:...) are deleted at the end.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WAKE = "redis.call('XADD', key, 'MAXLEN', '1', '*', 'x', '1')"
DONE = ("if redis.call('HSET', opkey, opfield, cmsgpack.pack({OPID, result})) == 1 then\n"
        "      redis.call('PEXPIRE', opkey, 120000)\n    end")
P = "px:{pxbench-script-cost}:"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=9)
    a = ap.parse_args()
    if not shutil.which("redis-benchmark") or not shutil.which("redis-cli"):
        print("SKIPPED: redis-benchmark or redis-cli is not installed (apt-get install redis-tools)")
        return
    src = open(os.path.join(ROOT, "src/redis/scripts.rs")).read()

    def const(name):
        m = re.search(r'const %s: &str = r#"(.*?)"#;' % name, src, re.S)
        if not m:
            sys.exit("script_cost.py: no const %s in src/redis/scripts.rs (the layout changed)" % name)
        return m.group(1)

    # Each variant is (the library's code outside the function, the function's body).
    # The element function as `library()` in src/redis/scripts.rs assembles it: names
    # and helpers defined once, at load.
    helpers = const("PROLOGUE_DECLS") + "\n" + const("PROLOGUE_HELPERS")
    full = (helpers + "\n" + const("ELEMENT_DECLS") + "\n" + const("ELEMENT_HELPERS")
            + "\nlocal function element_ops()\n" + const("ELEMENT_OPS") + "\nend\n"
            + "local function element(ARGV)\n" + const("PROLOGUE_START") + "\n"
            + const("ELEMENT_START") + "\nreturn element_ops()\nend\n")
    call = "return element(ARGV)"

    def cut(text, *pieces):
        for p in pieces:
            if p not in text:
                return None
            text = text.replace(p, "")
        return text

    variants = [
        ("the whole function, `write_xf` (what the library runs)", (full, call), "xf", True),
        ("without the wake-up (`XADD ... MAXLEN 1`)", (cut(full, WAKE), call), "xf", True),
        ("without storing the result under the operation id", (cut(full, DONE), call), "xf", True),
        ("without both", (cut(full, WAKE, DONE), call), "xf", True),
        ("the whole function, `read_ff` of a FULL element", (full, call), "ff", False),
        ("the prologue (epoch check, replay lookup) + one HSET",
         (helpers, const("PROLOGUE_START")
          + "\nredis.call('HSET', E .. ARGV[6] .. ARGV[7], 'v', ARGV[10])\nreturn {'ok'}\n"), "xf", True),
        ("one HSET alone", ("", "redis.call('HSET', ARGV[1] .. 'x', 'v', ARGV[10])\nreturn {'ok'}\n"), "xf", True),
        ("`return 1`", ("", "return 1"), "xf", True),
    ]

    def cli(*args):
        r = subprocess.run(["redis-cli", "-p", str(a.port)] + list(args), capture_output=True, text=True)
        return r.stdout.strip()

    epoch = "e1"
    cli("HSET", P + "meta", "epoch", epoch, "created_ns", "0", "ids", "1")
    cli("HSET", P + epoch + ":o:1:m", "kind", "2", "shape", "16", "flags", "0", "seq", "0", "vfloor", "0")
    loaded = []
    for name, (top, body), op, writes in variants:
        if top is None:
            loaded.append((name, None, "n/a (that part is no longer in the script)"))
            continue
        fname = "pxbench_cost_%d" % len(loaded)
        lib = ("#!lua name=%s\n%s\nredis.register_function('%s', function(KEYS, ARGV)\n%s\nend)\n"
               % (fname, top, fname, body))
        r = subprocess.run(["redis-cli", "-p", str(a.port), "-x", "FUNCTION", "LOAD", "REPLACE"],
                           input=lib, capture_output=True, text=True).stdout.strip()
        if r != fname:
            loaded.append((name, None, "failed to load: %s" % (r.splitlines()[0] if r else "no reply")))
            continue
        opid = "1:__rand_int__" if writes else ""
        args = ["FCALL", fname, "1", P + "meta", P, epoch, "cid1", opid, op, "o:1:", "k:k", "1", "3",
                "12345678", "", "0"]  # an INT: 8 bytes (argv cannot carry a NUL byte); NOW
        first = cli(*args)
        if not (first.startswith("ok") or first == "1"):
            loaded.append((name, None, "failed: %s" % (first.splitlines()[0] if first else "no reply")))
            continue
        loaded.append((name, args, ""))
    # Interleaved rounds (every variant once per round), medians over the rounds: the
    # machine's load drifts.
    server = {name: [] for name, _, _ in loaded}
    client = {name: [] for name, _, _ in loaded}
    for _ in range(a.rounds):
        for name, args, _ in loaded:
            if args is None:
                continue
            cli("CONFIG", "RESETSTAT")
            out = subprocess.run(["redis-benchmark", "-p", str(a.port), "-c", "1", "-n", str(a.n),
                                  "-r", "1000000000", "-q"] + args, capture_output=True, text=True).stdout
            p50 = re.search(r"p50=([0-9.]+) msec", out)
            m = re.search(r"cmdstat_fcall:calls=(\d+),usec=(\d+)", cli("INFO", "commandstats"))
            if m:
                server[name].append(int(m.group(2)) / int(m.group(1)))
            if p50:
                client[name].append(float(p50.group(1)) * 1000)
    print("| variant | server time per call (median of %d rounds, range) | client round trip p50 (median) |" % a.rounds)
    print("|---|---|---|")
    for name, args, why in loaded:
        if args is None:
            print("| %s | %s | |" % (name, why))
            continue
        s, c = sorted(server[name]), sorted(client[name])
        print("| %s | %.1f µs (%.1f–%.1f) | %.0f µs |" % (name, statistics.median(s), s[0], s[-1], statistics.median(c)))
    for i in range(len(loaded)):
        cli("FUNCTION", "DELETE", "pxbench_cost_%d" % i)
    keys = cli("--scan", "--pattern", P + "*").split()
    for i in range(0, len(keys), 500):
        cli("UNLINK", *keys[i:i + 500])


if __name__ == "__main__":
    main()
