"""Services from Python: calls, handler errors, timeouts, serve loops and the
decorator, real server and caller processes (2 servers x 3 callers), a server killed
holding a request (OwnerDead), Ctrl-C during a call (the request is withdrawn, never
sent again), and the asyncio twins; every case on shared memory and on a private
redis-server."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import unittest
from typing import List

from _support import RegionTest, plexus, start_python, start_redis, unique

# A server process: answers n with [its pid, n * 2 + 1] until killed; a negative n is
# a handler error.
SERVER = """
import os, signal, sys, plexus
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
r = plexus.Region(sys.argv[1], mode="open")
s = r.service(sys.argv[2])

@s.handler
def answer(n):
    if n < 0:
        raise ValueError(f"negative: {n}")
    return [os.getpid(), n * 2 + 1]

print("ready", flush=True)
s.serve()
"""

# A caller process: N calls whose requests carry its number; every reply must be the
# one to its own request. Prints "done <calls> <wrong> <pids of the servers>".
CALLER = """
import sys, plexus
r = plexus.Region(sys.argv[1], mode="open")
s = r.service(sys.argv[2])
me, n = int(sys.argv[3]), int(sys.argv[4])
wrong, servers = 0, set()
for i in range(n):
    x = me * 1_000_000 + i
    pid, y = s.call(x, timeout=120)
    servers.add(pid)
    wrong += y != x * 2 + 1
print("done", n, wrong, *sorted(servers), flush=True)
"""

# Takes one request, says so, and never answers (the test kills it).
TAKE_AND_HANG = """
import sys, time, plexus
r = plexus.Region(sys.argv[1], mode="open")
s = r.service(sys.argv[2])
req = s.next(timeout=120)
print("taken", req.value, flush=True)
time.sleep(600)
"""

# Ctrl-C during calls: one the parent takes and never answers in time, one waiting for
# room in a full service. Each is interrupted; then a normal call gets its own reply.
CALLER_INTERRUPTED = """
import signal, sys, plexus
signal.signal(signal.SIGINT, signal.default_int_handler)
r = plexus.Region(sys.argv[1], mode="open")
s = r.service(sys.argv[2])
for what in ("reply", "room"):
    print("calling", what, flush=True)
    sys.stdin.readline()  # the parent says when
    try:
        s.call(what)
        print("returned", what, flush=True)
    except KeyboardInterrupt:
        print("interrupted", what, flush=True)
print("after", s.call("after", timeout=120), flush=True)
"""


def read_line(proc) -> List[str]:
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"child ended: {proc.stderr.read()}")
    return line.split()


def go(proc) -> None:
    proc.stdin.write("go\n")
    proc.stdin.flush()


def until(predicate, what: str) -> None:
    """Waits (up to a minute) until ``predicate()`` holds."""
    deadline = time.monotonic() + 60
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.01)


def finish(proc) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for f in (proc.stdout, proc.stderr, proc.stdin):
        f.close()


class Cases:
    """The tests, run on a region named ``self.name`` opened as ``self.region``."""

    name: str
    region: plexus.Region

    def serve_in_thread(self, svc: plexus.Service, handler) -> threading.Event:
        stop = threading.Event()
        t = threading.Thread(target=svc.serve, args=(handler,), kwargs={"stop": stop})
        t.start()
        self.addCleanup(t.join, 60)
        self.addCleanup(stop.set)
        return stop

    def start(self, code: str, *args: str):
        proc = start_python(code, *args)
        self.addCleanup(finish, proc)
        return proc

    def test_calls_round_trip_every_value_type(self) -> None:
        svc = self.region.service("echo", 4)
        self.assertEqual((svc.capacity, svc.pending), (4, 0))
        self.serve_in_thread(svc, lambda v: {"got": v})
        for v in (None, True, 7, -2**63, 1.5, "text", b"\x00bytes", {"a": [1, 2]}, [None]):
            self.assertEqual(svc.call(v, timeout=30), {"got": v})
        self.assertEqual(svc.pending, 0)
        # Opening it again (capacity 0) reaches the same service.
        again = plexus.Region(self.name, mode="open").service("echo")
        self.assertEqual(again.call("x", timeout=30), {"got": "x"})
        again.region.close()

    def test_open_rules(self) -> None:
        self.region.service("s", 2)
        with self.assertRaises(plexus.Incompatible):
            self.region.service("s", 3)
        with self.assertRaises(plexus.NotFound):
            self.region.service("absent")
        with self.assertRaises(plexus.Exists):
            self.region.service("s", 2, exclusive=True)
        self.region.queue("q", 2)
        with self.assertRaises(plexus.TypeMismatch):
            self.region.service("q", 2)
        self.assertIn("service", [o.kind for o in self.region.objects() if o.name == "s"])

    def test_next_and_reply_by_hand(self) -> None:
        svc = self.region.service("calc", 4)
        got: List[object] = []
        t = threading.Thread(target=lambda: got.append(svc.call(20, timeout=60)))
        t.start()
        req = svc.next(timeout=60)
        self.assertIsInstance(req, plexus.Request)
        self.assertEqual(req.value, 20)
        req.reply(req.value * 2 + 1)
        t.join(60)
        self.assertEqual(got, [41])
        # A second answer, or an id that is not a request: InvalidArgument.
        with self.assertRaises(plexus.InvalidArgument):
            req.reply(0)
        with self.assertRaises(plexus.InvalidArgument):
            svc.reply_error(12345, "no such request")

    def test_handler_errors_are_service_errors(self) -> None:
        svc = self.region.service("fails", 2)

        def handler(v):
            if v == "raise":
                raise KeyError("the key")
            if v == "bare":
                raise RuntimeError()
            return v

        self.serve_in_thread(svc, handler)
        with self.assertRaises(plexus.ServiceError) as cm:
            svc.call("raise", timeout=30)
        self.assertEqual(cm.exception.message, "'the key'")
        self.assertIn("service 'fails'", str(cm.exception))
        self.assertEqual(cm.exception.status_name, "PLEXUS_E_SERVICE")
        self.assertIsInstance(cm.exception, plexus.Error)
        with self.assertRaises(plexus.ServiceError) as cm:
            svc.call("bare", timeout=30)
        self.assertEqual(cm.exception.message, "RuntimeError")
        # The loop went on after the failures.
        self.assertEqual(svc.call("fine", timeout=30), "fine")

    def test_reply_error_by_hand(self) -> None:
        svc = self.region.service("s", 2)
        errors: List[plexus.ServiceError] = []

        def call() -> None:
            try:
                svc.call(1, timeout=60)
            except plexus.ServiceError as e:
                errors.append(e)

        t = threading.Thread(target=call)
        t.start()
        svc.next(timeout=60).reply_error("é" * 3 + " went wrong")
        t.join(60)
        self.assertEqual([e.message for e in errors], ["ééé went wrong"])

    def test_timeouts(self) -> None:
        svc = self.region.service("slow", 1)
        with self.assertRaises(plexus.Timeout):
            svc.call("nobody serves", timeout=0.2)
        with self.assertRaises(TimeoutError):
            svc.call("nobody serves", timeout=0)
        self.assertEqual(svc.pending, 0)  # withdrawn
        with self.assertRaises(plexus.Timeout):
            svc.next(timeout=0.1)
        with self.assertRaises(plexus.Timeout):
            svc.next(timeout=0)
        # A server takes a request and answers after the caller gave up: the reply
        # succeeds for the server and is discarded; the next call gets its own reply.
        failed: List[BaseException] = []

        def late_call() -> None:
            try:
                svc.call("late", timeout=1.0)
            except plexus.Timeout as e:
                failed.append(e)

        t = threading.Thread(target=late_call)
        t.start()
        req = svc.next(timeout=60)
        t.join(60)
        self.assertEqual(len(failed), 1)
        req.reply("too late")
        self.serve_in_thread(svc, lambda v: f"answer to {v}")
        self.assertEqual(svc.call("fresh", timeout=30), "answer to fresh")
        self.assertEqual(svc.pending, 0)
        with self.assertRaises(ValueError):
            svc.call(1, timeout=-5)

    def test_serve_ends_on_stop_and_on_idle_timeout(self) -> None:
        svc = self.region.service("loop", 2)
        with self.assertRaises(TypeError):
            svc.serve()  # no handler registered

        @svc.handler
        def double(n):
            return n * 2

        self.assertEqual(double(2), 4)  # the decorator returns the function
        # Nothing comes: the idle timeout ends the loop, with nothing served.
        self.assertEqual(svc.serve(timeout=0.1), 0)
        stop = threading.Event()
        served: List[int] = []
        t = threading.Thread(target=lambda: served.append(svc.serve(stop=stop)))
        t.start()
        self.assertEqual([svc.call(i, timeout=30) for i in range(5)], [0, 2, 4, 6, 8])
        stop.set()
        t.join(60)
        self.assertEqual(served, [5])
        # With a stop and an idle timeout, whichever comes first.
        self.assertEqual(svc.serve(timeout=0.1, stop=threading.Event()), 0)

    def test_two_server_processes_three_caller_processes(self) -> None:
        svc = self.region.service("mp", 4)
        servers = [self.start(SERVER, self.name, "mp") for _ in range(2)]
        for s in servers:
            self.assertEqual(read_line(s), ["ready"])
        n = 60
        callers = [self.start(CALLER, self.name, "mp", str(k), str(n)) for k in range(3)]
        pids = {str(s.pid) for s in servers}
        for c in callers:
            line = read_line(c)
            self.assertEqual(line[:3], ["done", str(n), "0"], c.stderr.read())
            # Every reply came from one of the two servers.
            self.assertTrue(set(line[3:]) <= pids, (line, pids))
            self.assertEqual(c.wait(60), 0)
        # A handler error crosses processes too.
        with self.assertRaises(plexus.ServiceError) as cm:
            svc.call(-3, timeout=60)
        self.assertEqual(cm.exception.message, "negative: -3")
        for s in servers:
            s.terminate()
            self.assertEqual(s.wait(60), 0, s.stderr.read())
        self.assertEqual(svc.pending, 0)

    def test_a_server_killed_holding_a_request_is_owner_dead(self) -> None:
        svc = self.region.service("dies", 2)
        server = self.start(TAKE_AND_HANG, self.name, "dies")
        outcome: List[BaseException] = []

        def call() -> None:
            try:
                svc.call("doomed", timeout=120)
            except plexus.Error as e:
                outcome.append(e)

        t = threading.Thread(target=call)
        t.start()
        self.assertEqual(read_line(server), ["taken", "doomed"])
        server.send_signal(signal.SIGKILL)
        server.wait()
        t.join(120)
        self.assertEqual(len(outcome), 1)
        self.assertIsInstance(outcome[0], plexus.OwnerDead)
        self.assertEqual(outcome[0].status_name, "PLEXUS_OWNER_DEAD")
        self.assertIn("died before replying", str(outcome[0]))
        # The service works on: a new server answers the retry.
        self.serve_in_thread(svc, lambda v: f"retried {v}")
        self.assertEqual(svc.call("doomed", timeout=30), "retried doomed")
        self.assertEqual(svc.pending, 0)

    def test_ctrl_c_withdraws_the_request_and_never_resends_it(self) -> None:
        svc = self.region.service("ctrlc", 1)
        child = self.start(CALLER_INTERRUPTED, self.name, "ctrlc")
        # 1. The parent takes the request and does not answer; Ctrl-C in the caller.
        self.assertEqual(read_line(child), ["calling", "reply"])
        go(child)
        req = svc.next(timeout=60)
        self.assertEqual(req.value, "reply")
        child.send_signal(signal.SIGINT)
        self.assertEqual(read_line(child), ["interrupted", "reply"])
        req.reply("unheard")  # the caller withdrew: discarded, not an error
        # 2. The service is full (a request of the parent's, taken and not answered
        # yet): the child's call waits for room; Ctrl-C.
        self.assertEqual(read_line(child), ["calling", "room"])
        got: List[object] = []
        t = threading.Thread(target=lambda: got.append(svc.call("fill", timeout=120)))
        t.start()
        filled = svc.next(timeout=60)
        self.assertEqual(filled.value, "fill")
        go(child)
        time.sleep(0.3)  # let the child's call start waiting for room
        child.send_signal(signal.SIGINT)
        self.assertEqual(read_line(child), ["interrupted", "room"])
        filled.reply("filled")
        t.join(120)
        self.assertEqual(got, ["filled"])
        # Neither interrupted request was sent again: the next request is "after".
        nxt = svc.next(timeout=60)
        self.assertEqual(nxt.value, "after")
        nxt.reply("own reply")
        self.assertEqual(read_line(child), ["after", "own", "reply"])
        self.assertEqual(child.wait(60), 0, child.stderr.read())
        self.assertEqual(svc.pending, 0)

    def test_asyncio_twins(self) -> None:
        svc = self.region.service("aio", 2)

        async def handler(v):
            await asyncio.sleep(0)
            if v == "bad":
                raise ValueError("bad request")
            return v.upper()

        async def main() -> None:
            stop = asyncio.Event()
            server = asyncio.ensure_future(svc.serve_async(handler, stop=stop))
            self.assertEqual(await svc.call_async("a", timeout=30), "A")
            results = await asyncio.gather(*(svc.call_async(c, 30) for c in "xyz"))
            self.assertEqual(results, ["X", "Y", "Z"])
            with self.assertRaises(plexus.ServiceError):
                await svc.call_async("bad", timeout=30)
            stop.set()
            self.assertEqual(await asyncio.wait_for(server, 60), 5)
            # Nobody serves: a timeout, and a cancelled call_async withdraws its request.
            with self.assertRaises(plexus.Timeout):
                await svc.call_async("x", timeout=0.1)
            pending = asyncio.ensure_future(svc.call_async("cancelled"))
            while svc.pending != 1:  # placed by the worker thread
                await asyncio.sleep(0.01)
            pending.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await pending
            # The worker withdraws it (within a slice): it never reaches a server.
            await asyncio.get_running_loop().run_in_executor(
                None, until, lambda: svc.pending == 0, "the cancelled call withdrawn"
            )
            caller = asyncio.ensure_future(svc.call_async("fresh", timeout=60))
            req = await svc.next_async(timeout=60)
            self.assertEqual(req.value, "fresh")
            req.reply("ok")
            self.assertEqual(await caller, "ok")
            with self.assertRaises(plexus.Timeout):
                await svc.next_async(timeout=0.1)

        asyncio.run(main())
        self.assertEqual(svc.pending, 0)

    def test_close(self) -> None:
        svc = self.region.service("c", 2)
        svc.close()
        svc.close()
        with self.assertRaises(plexus.BadHandle):
            svc.call(1, timeout=0)
        self.assertIn("handle closed", repr(svc))


class ServiceOnShm(Cases, RegionTest):
    pass


class ServiceOnRedis(Cases, unittest.TestCase):
    def setUp(self) -> None:
        server = start_redis(self)
        # A short lease: a killed server is noticed within about half a second.
        self.name = server.url(unique(self.id().rsplit(".", 1)[-1])) + "?lease_ms=500"
        self.region = plexus.Region(self.name, mode="create")
        self.addCleanup(plexus.Region.remove, self.name, True)
        self.addCleanup(self.region.close)


if __name__ == "__main__":
    unittest.main()
