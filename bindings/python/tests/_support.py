"""Shared helpers of the plexus Python tests.

The tests import the package from the source tree (bindings/python), never an installed
copy: its compiled extension is built into it (plexus/_plexus.abi3.so) by
tests/python.rs, or by `maturin develop`. The C and C++ programs of the cross-language
tests link the C library of this checkout (PLEXUS_LIBRARY, set by tests/python.rs, or
target/debug or target/release). Child processes get the same package.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import uuid
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
PKG_DIR = HERE.parent  # bindings/python
REPO = PKG_DIR.parent.parent  # the repository root (include/, ffi-tests/)

if str(PKG_DIR) not in sys.path:
    sys.path.insert(0, str(PKG_DIR))

import plexus  # noqa: E402  (after the sys.path change)

assert Path(plexus.__file__).resolve().parent == PKG_DIR / "plexus", plexus.__file__


def unique(prefix: str) -> str:
    """A region name no other test (or test run) uses."""
    clean = "".join(c if c.isalnum() or c in "._-" else "-" for c in prefix)[:60]
    return f"pyt-{clean}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class RegionTest(unittest.TestCase):
    """A test with a fresh volatile region ``self.region`` (named ``self.name``), closed
    and removed afterwards."""

    size = 4 << 20

    def setUp(self) -> None:
        self.name = unique(self.id().rsplit(".", 1)[-1])
        self.region = plexus.Region(self.name, mode="create", size=self.size)
        self.addCleanup(plexus.Region.remove, self.name, True)
        self.addCleanup(self.region.close)


def child_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment of a child Python process: this package first on PYTHONPATH,
    and the library this process loaded."""
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PKG_DIR), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def python_code(code: str) -> List[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs ``code`` in a new Python process (``sys.argv[1:]`` = args)."""
    return subprocess.run(
        python_code(code) + list(args),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_python(code: str, *args: str) -> subprocess.Popen:
    """Starts ``code`` in a new Python process with pipes for stdin, stdout and stderr."""
    return subprocess.Popen(
        python_code(code) + list(args),
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_ok(test: unittest.TestCase, what: str, proc: subprocess.CompletedProcess) -> None:
    test.assertEqual(
        proc.returncode,
        0,
        f"{what} failed ({proc.returncode}):\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}",
    )


_built: Dict[str, Path] = {}


def c_library() -> Optional[Path]:
    """The C library (libplexus.so) of this checkout for the C and C++ programs:
    PLEXUS_LIBRARY, else target/debug or target/release."""
    env = os.environ.get("PLEXUS_LIBRARY")
    if env:
        return Path(env)
    for profile in ("debug", "release"):
        candidate = REPO / "target" / profile / "libplexus.so"
        if candidate.exists():
            return candidate
    return None


def c_compiler(cpp: bool = False) -> Optional[str]:
    cc = os.environ.get("CXX", "c++") if cpp else os.environ.get("CC", "cc")
    return cc if shutil.which(cc) else None


def build_c(src: str, out_dir: Path) -> Path:
    """Compiles ``ffi-tests/<src>`` (C, or C++ for .cpp) of this checkout against
    include/ and the library this process loaded. Skips the test when there is no
    compiler or no sources (a checkout without them: an installed package)."""
    if src in _built:
        return _built[src]
    cpp = src.endswith(".cpp")
    cc = c_compiler(cpp)
    path = REPO / "ffi-tests" / src
    if cc is None:
        raise unittest.SkipTest(
            f"SKIPPED LOUDLY: no {'C++' if cpp else 'C'} compiler (CC/CXX) "
            "for the cross-language tests"
        )
    if not path.exists() or not (REPO / "include" / "plexus.h").exists():
        raise unittest.SkipTest(f"SKIPPED LOUDLY: {path} or include/plexus.h not found")
    library = c_library()
    if library is None:
        raise unittest.SkipTest("SKIPPED LOUDLY: no libplexus.so built (cargo build)")
    lib_dir = str(library.resolve().parent)
    exe = out_dir / path.stem
    proc = subprocess.run(
        [
            cc,
            *(["-std=c++17"] if cpp else ["-std=c11", "-D_GNU_SOURCE"]),
            "-Wall",
            "-Wextra",
            "-Werror",
            "-O1",
            f"-I{REPO / 'include'}",
            f"-I{REPO / 'ffi-tests'}",
            str(path),
            "-o",
            str(exe),
            f"-L{lib_dir}",
            "-lplexus",
            f"-Wl,-rpath,{lib_dir}",
            "-Wl,--disable-new-dtags",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise AssertionError(f"compiling {src} failed:\n{proc.stderr}")
    _built[src] = exe
    return exe


def skip_loudly(test: unittest.TestCase, why: str, ci_must: str) -> None:
    """Skips ``test`` with a loud banner on stderr, or fails it when ``CI`` is set (CI
    must not skip it)."""
    if os.environ.get("CI"):
        test.fail(f"{why}, and CI is set: CI must {ci_must}")
    bar = "*" * 78
    sys.stderr.write(f"\n{bar}\nSKIPPED: {why}: {test.id()} did not run\n{bar}\n")
    raise unittest.SkipTest(f"SKIPPED LOUDLY: {why}")


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on (at the time of the call)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(7) == b"+PONG\r\n"
    except OSError:
        return False


class RedisServer:
    """A private ``redis-server`` on a free port of 127.0.0.1, without persistence, in
    its own temporary directory; :meth:`stop` kills it and removes the directory."""

    def __init__(self, binary: str) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="plexus-redis-")
        self.proc: Optional[subprocess.Popen] = None
        for _attempt in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    self._dir.name,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                if _ping(self.port):
                    return
                time.sleep(0.02)
            self.stop_process()  # the port was taken meanwhile, or it did not start
        raise AssertionError(f"{binary} did not answer PING on 127.0.0.1 (5 attempts)")

    def url(self, region: str) -> str:
        """``redis://127.0.0.1:<port>/<region>``."""
        return f"redis://127.0.0.1:{self.port}/{region}"

    def stop_process(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        self.stop_process()
        self._dir.cleanup()


def start_redis(test: unittest.TestCase) -> RedisServer:
    """Starts a private redis-server for ``test`` (stopped at its cleanup). Without
    ``redis-server`` (or ``valkey-server``) on the PATH: a loud skip, or a failure when
    ``CI`` is set."""
    binary = shutil.which("redis-server") or shutil.which("valkey-server")
    if binary is None:
        skip_loudly(
            test,
            "redis-server is not installed (apt-get install redis-server)",
            "install redis-server (.ci/run does)",
        )
        raise AssertionError("unreachable")
    server = RedisServer(binary)
    test.addCleanup(server.stop)
    return server
