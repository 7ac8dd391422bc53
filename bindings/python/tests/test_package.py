"""The package itself: exceptions, the compiled extension, coverage of plexus.h, and the
README's Python quick start. (Building a wheel and installing it into a fresh virtual
environment without Rust or a C compiler is tests/python_wheel.rs.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from typing import Tuple

from _support import PKG_DIR, REPO, assert_ok, child_env, plexus, start_redis

from plexus import _errors


class Errors(unittest.TestCase):
    def test_hierarchy(self) -> None:
        builtin = {
            plexus.Timeout: TimeoutError,
            plexus.NotFound: LookupError,
            plexus.KeyNotFound: KeyError,
            plexus.OutOfRange: IndexError,
            plexus.InvalidArgument: ValueError,
            plexus.TypeMismatch: TypeError,
            plexus.PermissionDenied: PermissionError,
            plexus.OsError: OSError,
            plexus.Unavailable: ConnectionError,
            plexus.Unsupported: NotImplementedError,
        }
        for cls, base in builtin.items():
            self.assertTrue(issubclass(cls, plexus.Error), cls)
            self.assertTrue(issubclass(cls, base), cls)
        self.assertTrue(issubclass(plexus.KeyNotFound, plexus.NotFound))
        self.assertTrue(issubclass(plexus.RegionLost, plexus.Error))
        # A lost region is not a missing one: code that treats NotFound as "create it"
        # must not silently start over on an empty server.
        self.assertFalse(issubclass(plexus.RegionLost, LookupError))

    def test_every_status_has_a_class(self) -> None:
        names = {
            1: "PLEXUS_TIMEOUT",
            2: "PLEXUS_CLOSED",
            100: "PLEXUS_E_INVALID_ARGUMENT",
            101: "PLEXUS_E_BAD_HANDLE",
            102: "PLEXUS_E_NOT_FOUND",
            103: "PLEXUS_E_EXISTS",
            104: "PLEXUS_E_TYPE_MISMATCH",
            105: "PLEXUS_E_OUT_OF_RANGE",
            106: "PLEXUS_E_NO_SPACE",
            107: "PLEXUS_E_INCOMPATIBLE",
            108: "PLEXUS_E_CORRUPT",
            109: "PLEXUS_E_PERMISSION",
            110: "PLEXUS_E_OS",
            111: "PLEXUS_E_BUFFER_TOO_SMALL",
            112: "PLEXUS_E_REMOVED",
            113: "PLEXUS_E_UNAVAILABLE",
            114: "PLEXUS_E_REGION_LOST",
            115: "PLEXUS_E_UNSUPPORTED",
            116: "PLEXUS_E_SERVICE",
            199: "PLEXUS_E_INTERNAL",
            3: "PLEXUS_OWNER_DEAD",
        }
        for status, name in names.items():
            e = _errors.error_for(status, "what")
            self.assertIsNot(type(e), plexus.Error, name)
            self.assertEqual(e.status, status)
            self.assertEqual(e.status_name, name)
            self.assertTrue(str(e).startswith("what: "), str(e))
        self.assertIs(type(_errors.error_for(112)), plexus.Removed)
        self.assertIs(type(_errors.error_for(113)), plexus.Unavailable)
        self.assertIs(type(_errors.error_for(114)), plexus.RegionLost)
        self.assertIs(type(_errors.error_for(115)), plexus.Unsupported)
        self.assertIs(type(_errors.error_for(3)), plexus.OwnerDead)
        self.assertIs(type(_errors.error_for(116)), plexus.ServiceError)
        self.assertEqual(_errors.error_for(116, "what", "handler said").message, "handler said")
        odd = _errors.error_for(4)
        self.assertIs(type(odd), plexus.Error)
        self.assertEqual(_errors.status_name(12345), "PLEXUS_UNKNOWN_STATUS")

    def test_message_comes_from_the_library(self) -> None:
        with self.assertRaises(plexus.InvalidArgument) as cm:
            plexus.Region("no spaces allowed")
        self.assertIn("no spaces allowed", str(cm.exception))
        self.assertIn("region", str(cm.exception))


class Library(unittest.TestCase):
    def test_version(self) -> None:
        major, minor, patch = plexus.version()
        cargo = (REPO / "Cargo.toml").read_text() if (REPO / "Cargo.toml").exists() else ""
        m = re.search(r'^version = "(\d+)\.(\d+)\.(\d+)"', cargo, re.M)
        if m:
            self.assertEqual(tuple(map(int, m.groups())), (major, minor, patch))
            self.assertEqual(plexus.__version__, ".".join(m.groups()))
        self.assertEqual(plexus.__version__, f"{major}.{minor}.{patch}")
        self.assertGreaterEqual(plexus.recovered_locks(), 0)

    def test_compiled_extension(self) -> None:
        # The engine is compiled into the package (abi3: one file for every CPython 3.8+).
        from plexus import _plexus

        self.assertEqual(Path(plexus.library_path), Path(_plexus.__file__))
        self.assertEqual(Path(plexus.library_path).parent, PKG_DIR / "plexus")
        self.assertTrue(Path(plexus.library_path).name.startswith("_plexus."))
        # The hot calls are the compiled methods themselves, not Python wrappers.
        for cls, names in {
            plexus.Map: ["__getitem__", "__setitem__", "read", "write", "faa"],
            plexus.Array: ["__getitem__", "__setitem__", "read", "write", "faa"],
            plexus.Queue: ["push", "pop"],
        }.items():
            for name in names:
                self.assertIs(getattr(cls, name), getattr(cls.__mro__[1], name), name)
                self.assertEqual(type(cls.__mro__[1]).__module__, "builtins")
                self.assertEqual(cls.__mro__[1].__module__, "plexus._plexus")

    def test_without_the_extension_import_fails_clearly(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            shutil.copytree(
                PKG_DIR / "plexus",
                Path(d) / "plexus",
                ignore=shutil.ignore_patterns("__pycache__", "*.so"),
            )
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            proc = subprocess.run(
                [sys.executable, "-c", "import plexus"],
                cwd=d,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("compiled extension plexus._plexus is missing", proc.stderr)
        self.assertIn("pip install ./bindings/python", proc.stderr)

    def test_header_coverage(self) -> None:
        """Every function of the C API has its Python counterpart."""
        header = REPO / "include" / "plexus.h"
        if not header.exists():
            self.skipTest(f"SKIPPED LOUDLY: {header} not found (not a checkout)")
        text = re.sub(r"/\*.*?\*/", "", header.read_text(), flags=re.S)
        declared = set(re.findall(r"\b(plexus_[a-z_]+)\s*\(", text))
        self.assertGreater(len(declared), 90)
        classes = {
            "region": plexus.Region,
            "array": plexus.Array,
            "map": plexus.Map,
            "queue": plexus.Queue,
            "bus": plexus.Bus,
            "sub": plexus.Subscription,
            "mutex": plexus.Mutex,
            "barrier": plexus.Barrier,
            "semaphore": plexus.Semaphore,
            "tarray": plexus.TypedArray,
            "service": plexus.Service,
        }
        renamed = {
            "get_info": "info",
            "len": "__len__",
            "next_key": "__iter__",
            "next_object": "objects",
            "lock": "acquire",
            "unlock": "release",
            "is_locked": "locked",
            "wait_last": "wait",
            "subscribe_topic": "subscribe",  # subscribe(prefix=...)
            "next_change": "changes_since",
            # Typed arrays: the pointer as a memoryview, the shape as properties, and
            # the block copies beside the block views (read_block / write_block).
            "data": "memoryview",
            "shape": "block_len",
            "read_block": "read_block_copy",
            "write_block": "write_block_copy",
            "call_cancellable": "call",  # Ctrl-C and asyncio cancellation withdraw it
            # Ctrl-C ends push_many, and cancelling push_many_async stops it, with the
            # batch kept together while it waits (the engine's interrupt, not a word).
            "push_many_cancellable": "push_many",
        }
        # Values are Python objects (the constructors and plexus_value_free have no
        # counterpart: the conversion is implicit); the rest are module functions.
        implicit = {
            "plexus_value_free",
            "plexus_undefined",
            "plexus_null",
            "plexus_bool",
            "plexus_int",
            "plexus_float",
            "plexus_string",
            "plexus_string_n",
            "plexus_bytes",
            "plexus_object_msgpack",
            "plexus_last_error",  # the exception's message
        }
        functions = {
            "plexus_version": plexus.version,
            "plexus_recovered_locks": plexus.recovered_locks,
            "plexus_status_name": plexus.Error.status_name,
            "plexus_value_from_json": plexus.from_json,
            "plexus_value_to_json": plexus.to_json,
            "plexus_value_equal": plexus.same_value,
        }
        missing = []
        for fn in sorted(declared - implicit - set(functions)):
            kind, _, verb = fn[len("plexus_") :].partition("_")
            cls = classes.get(kind)
            if cls is None:
                missing.append(fn)
            elif verb in ("open", "open_with"):  # open_with: Region.map(..., initial=)
                if kind not in ("region", "sub") and not hasattr(plexus.Region, kind):
                    missing.append(fn)
            elif not hasattr(cls, renamed.get(verb, verb)):
                missing.append(fn)
        self.assertEqual(missing, [], "functions of plexus.h without a Python counterpart")
        self.assertTrue(hasattr(plexus.Bus, "subscribe"))

    def test_public_names(self) -> None:
        for name in plexus.__all__:
            self.assertTrue(hasattr(plexus, name), name)
        self.assertTrue((PKG_DIR / "plexus" / "py.typed").exists())
        self.assertTrue((PKG_DIR / "plexus" / "_plexus.pyi").exists())


class Readme(unittest.TestCase):
    def quick_start(self) -> Tuple[str, str]:
        """The README's Python quick start: its code and the output it says it prints."""
        readme = REPO / "README.md"
        if not readme.exists():
            self.skipTest(f"SKIPPED LOUDLY: {readme} not found (not a checkout)")
        text = readme.read_text()
        section = re.search(r"^## Python quick start\n(.*?)^## ", text, re.S | re.M)
        self.assertIsNotNone(section, "README.md has no '## Python quick start' section")
        blocks = re.findall(r"```python\n(.*?)```", section.group(1), re.S)  # type: ignore[union-attr]
        self.assertEqual(len(blocks), 1, "the quick start should have one python block")
        expected = re.search(r"prints:\n\n```\n(.*?)```", section.group(1), re.S)  # type: ignore[union-attr]
        self.assertIsNotNone(expected, "the quick start should show its output after 'prints:'")
        return blocks[0], expected.group(1)  # type: ignore[union-attr]

    def run_quick_start(self, code: str, expected: str) -> None:
        with tempfile.TemporaryDirectory() as d:
            script = Path(d) / "quickstart.py"
            script.write_text(code)
            proc = subprocess.run(
                [sys.executable, str(script)],
                cwd=d,
                env=child_env(),
                capture_output=True,
                text=True,
                timeout=60,
            )
        assert_ok(self, "README Python quick start", proc)
        self.assertEqual(proc.stdout, expected)

    def test_quick_start_runs_as_written(self) -> None:
        self.run_quick_start(*self.quick_start())

    def test_quick_start_on_a_redis_region(self) -> None:
        """The same quick start with its region name replaced by a redis:// URL (of a
        private redis-server): one string changes, nothing else."""
        code, expected = self.quick_start()
        server = start_redis(self)
        name = re.search(r'plexus\.Region\("([^"]+)"', code)
        self.assertIsNotNone(name, "the quick start opens plexus.Region(\"NAME\", ...)")
        literal = f'"{name.group(1)}"'  # type: ignore[union-attr]
        url = server.url(name.group(1))  # type: ignore[union-attr]
        self.assertGreaterEqual(code.count(literal), 2, "it opens and removes the region")
        self.run_quick_start(code.replace(literal, f'"{url}"'), expected)

if __name__ == "__main__":
    unittest.main()
