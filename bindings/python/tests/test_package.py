"""The package itself: exceptions, library lookup, coverage of plexus.h, pip install
into a fresh virtual environment, and the README's Python quick start."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from typing import Tuple

from _support import PKG_DIR, REPO, assert_ok, child_env, plexus, start_redis, unique

from plexus import _errors, _lib


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
            113: "PLEXUS_E_UNAVAILABLE",
            114: "PLEXUS_E_REGION_LOST",
            115: "PLEXUS_E_UNSUPPORTED",
            199: "PLEXUS_E_INTERNAL",
        }
        for status, name in names.items():
            e = _errors.error_for(status, "what")
            self.assertIsNot(type(e), plexus.Error, name)
            self.assertEqual(e.status, status)
            self.assertEqual(e.status_name, name)
            self.assertTrue(str(e).startswith("what: "), str(e))
        self.assertIs(type(_errors.error_for(113)), plexus.Unavailable)
        self.assertIs(type(_errors.error_for(114)), plexus.RegionLost)
        self.assertIs(type(_errors.error_for(115)), plexus.Unsupported)
        odd = _errors.error_for(3)
        self.assertIs(type(odd), plexus.Error)
        self.assertEqual(odd.status_name, "PLEXUS_OWNER_DEAD")
        self.assertEqual(_lib.status_name(12345), "PLEXUS_UNKNOWN_STATUS")

    def test_message_comes_from_the_library(self) -> None:
        with self.assertRaises(plexus.InvalidArgument) as cm:
            plexus.Region("no spaces allowed")
        self.assertIn("no spaces allowed", str(cm.exception))
        self.assertIn("region", str(cm.exception))


class Library(unittest.TestCase):
    def test_version(self) -> None:
        major, minor, patch = plexus.version()
        self.assertEqual((major, minor), _lib.API_VERSION)
        cargo = (REPO / "Cargo.toml").read_text() if (REPO / "Cargo.toml").exists() else ""
        m = re.search(r'^version = "(\d+)\.(\d+)\.(\d+)"', cargo, re.M)
        if m:
            self.assertEqual(tuple(map(int, m.groups())), (major, minor, patch))
            self.assertEqual(plexus.__version__, ".".join(m.groups()))
        self.assertGreaterEqual(plexus.recovered_locks(), 0)

    def test_version_check(self) -> None:
        class Fake:
            def __init__(self, v: int) -> None:
                self.v = v

            def plexus_version(self) -> int:
                return self.v

        major, minor = _lib.API_VERSION
        self.assertEqual(
            _lib._check_version(Fake(major << 16 | minor << 8 | 7), "x"), (major, minor, 7)
        )
        for bad in ((major + 1) << 16 | minor << 8, major << 16 | (minor + 1) << 8):
            with self.assertRaises(plexus.LibraryNotFound) as cm:
                _lib._check_version(Fake(bad), "/some/libplexus.so")
            self.assertIn("/some/libplexus.so", str(cm.exception))

    def test_header_coverage(self) -> None:
        header = REPO / "include" / "plexus.h"
        if not header.exists():
            self.skipTest(f"SKIPPED LOUDLY: {header} not found (not a checkout)")
        text = re.sub(r"/\*.*?\*/", "", header.read_text(), flags=re.S)
        declared = set(re.findall(r"\b(plexus_[a-z_]+)\s*\(", text))
        self.assertGreater(len(declared), 90)
        self.assertEqual(
            declared - set(_lib.PROTOTYPES),
            set(),
            "functions of plexus.h the package does not declare",
        )
        self.assertEqual(
            set(_lib.PROTOTYPES) - declared, set(), "declared functions plexus.h lacks"
        )

    def test_constructors_match_python_conversion(self) -> None:
        from plexus._values import from_c

        L = _lib.lib
        self.assertIs(from_c(L.plexus_undefined()), plexus.UNDEFINED)
        self.assertIsNone(from_c(L.plexus_null()))
        self.assertIs(from_c(L.plexus_bool(True)), True)
        self.assertEqual(from_c(L.plexus_int(-(2**63))), -(2**63))
        self.assertEqual(from_c(L.plexus_float(2.5)), 2.5)
        # The constructors borrow: keep the bytes alive while the value is used.
        s, sn, b, o = "żółw".encode(), b"a\0b", b"\x00\x01", b"\x91\x01"
        self.assertEqual(from_c(L.plexus_string(s)), "żółw")
        self.assertEqual(from_c(L.plexus_string_n(sn, 3)), "a\0b")
        self.assertEqual(from_c(L.plexus_bytes(b, 2)), b"\x00\x01")
        self.assertEqual(from_c(L.plexus_object_msgpack(o, 2)), [1])
        self.assertEqual(_lib.RegionOptions.struct_size.offset, 0)
        self.assertEqual(ctypes.sizeof(_lib.Value), 32)
        self.assertEqual(ctypes.sizeof(_lib.RegionInfo), 96)

    def test_public_names(self) -> None:
        for name in plexus.__all__:
            self.assertTrue(hasattr(plexus, name), name)
        self.assertTrue((PKG_DIR / "plexus" / "py.typed").exists())
        self.assertEqual(Path(plexus.library_path).name, _lib.LIBRARY_FILE)


def _import_in_copy(tmp: Path, env: dict, where: str = "pkgroot") -> subprocess.CompletedProcess:
    """Copies the package to tmp/<where>/plexus and imports it from there."""
    dest = tmp / where
    if not (dest / "plexus").exists():
        shutil.copytree(
            PKG_DIR / "plexus",
            dest / "plexus",
            ignore=shutil.ignore_patterns("__pycache__", "*.so"),
        )
    return subprocess.run(
        [sys.executable, "-c", "import plexus; print(plexus.library_path)"],
        cwd=str(dest),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


class Lookup(unittest.TestCase):
    def setUp(self) -> None:
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        self.tmp = Path(d.name)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PLEXUS_LIBRARY", "CARGO_TARGET_DIR", "PYTHONPATH")
        }
        self.env["LD_LIBRARY_PATH"] = ""  # keep ctypes.util.find_library out of the way

    def test_env_var_wins_and_a_wrong_one_is_an_error(self) -> None:
        proc = _import_in_copy(self.tmp, {**self.env, "PLEXUS_LIBRARY": plexus.library_path})
        assert_ok(self, "import", proc)
        self.assertEqual(proc.stdout.strip(), plexus.library_path)
        proc = _import_in_copy(self.tmp, {**self.env, "PLEXUS_LIBRARY": str(self.tmp / "nope.so")})
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("LibraryNotFound", proc.stderr)
        self.assertIn(str(self.tmp / "nope.so"), proc.stderr)
        self.assertIn("PLEXUS_LIBRARY", proc.stderr)

    def test_not_found_lists_where_it_looked(self) -> None:
        proc = _import_in_copy(self.tmp, self.env)
        if proc.returncode == 0:  # a system-wide libplexus exists
            self.skipTest(f"SKIPPED LOUDLY: a system library was found: {proc.stdout}")
        self.assertIn("LibraryNotFound", proc.stderr)
        self.assertIn(str(self.tmp / "pkgroot" / "plexus" / _lib.LIBRARY_FILE), proc.stderr)
        self.assertIn(str(self.tmp / "target" / "release" / _lib.LIBRARY_FILE), proc.stderr)
        self.assertIn("cargo build --release", proc.stderr)

    def test_cargo_target_dirs(self) -> None:
        # tmp/target/debug/libplexus.so above tmp/pkgroot/plexus: found by walking up.
        debug = self.tmp / "target" / "debug"
        debug.mkdir(parents=True)
        shutil.copyfile(plexus.library_path, debug / _lib.LIBRARY_FILE)
        proc = _import_in_copy(self.tmp, self.env)
        assert_ok(self, "import", proc)
        self.assertEqual(proc.stdout.strip(), str(debug / _lib.LIBRARY_FILE))
        # target/release is preferred to target/debug.
        release = self.tmp / "target" / "release"
        release.mkdir(parents=True)
        shutil.copyfile(plexus.library_path, release / _lib.LIBRARY_FILE)
        proc = _import_in_copy(self.tmp, self.env)
        self.assertEqual(proc.stdout.strip(), str(release / _lib.LIBRARY_FILE))
        # $CARGO_TARGET_DIR comes before the walk up.
        other = self.tmp / "elsewhere" / "debug"
        other.mkdir(parents=True)
        shutil.copyfile(plexus.library_path, other / _lib.LIBRARY_FILE)
        proc = _import_in_copy(
            self.tmp, {**self.env, "CARGO_TARGET_DIR": str(self.tmp / "elsewhere")}
        )
        self.assertEqual(proc.stdout.strip(), str(other / _lib.LIBRARY_FILE))
        # A library next to the package comes first of all.
        beside = self.tmp / "pkgroot" / "plexus" / _lib.LIBRARY_FILE
        shutil.copyfile(plexus.library_path, beside)
        proc = _import_in_copy(
            self.tmp, {**self.env, "CARGO_TARGET_DIR": str(self.tmp / "elsewhere")}
        )
        self.assertEqual(proc.stdout.strip(), str(beside))


class PipInstall(unittest.TestCase):
    """``pip install ./bindings/python`` into a fresh venv (a copy of the directory is
    installed, so the source tree gets no build/ or egg-info)."""

    def test_install_into_venv(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            venv = tmp / "venv"
            made = subprocess.run(
                [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True
            )
            if made.returncode != 0:
                self.skipTest(
                    "SKIPPED LOUDLY: python3 -m venv failed (install python3-venv): "
                    + made.stderr[-500:]
                )
            py = venv / "bin" / "python"
            # A repository-like tree: repo/bindings/python and repo/target/debug/libplexus.so,
            # so setup.py finds the library by walking up, as in a real checkout.
            src = tmp / "repo" / "bindings" / "python"
            shutil.copytree(
                PKG_DIR,
                src,
                ignore=shutil.ignore_patterns(
                    "__pycache__", "build", "*.egg-info", "tests", "*.so"
                ),
            )
            lib_dir = tmp / "repo" / "target" / "debug"
            lib_dir.mkdir(parents=True)
            shutil.copyfile(plexus.library_path, lib_dir / _lib.LIBRARY_FILE)
            env = {
                k: v
                for k, v in os.environ.items()
                if k not in ("PLEXUS_LIBRARY", "PYTHONPATH", "CARGO_TARGET_DIR")
            }
            pip = subprocess.run(
                [
                    str(py),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--timeout",
                    "30",
                    "--retries",
                    "1",
                    str(src),
                ],
                capture_output=True,
                text=True,
                env=env,
                timeout=600,
            )
            if pip.returncode != 0:
                offline = re.search(
                    r"No matching distribution found for setuptools"
                    r"|Could not find a version that satisfies"
                    r"|Failed to establish a new connection|Temporary failure in name resolution",
                    pip.stdout + pip.stderr,
                )
                if offline:
                    self.skipTest(
                        "SKIPPED LOUDLY: pip could not fetch setuptools for the build (offline?)"
                    )
                self.fail(f"pip install failed:\n{pip.stdout}\n{pip.stderr}")
            shutil.rmtree(tmp / "repo")  # the installed package must stand alone
            check = subprocess.run(
                [
                    str(py),
                    "-c",
                    "import sys, plexus\n"
                    "print(plexus.library_path)\n"
                    "with plexus.Region(sys.argv[1], size=1 << 20) as r:\n"
                    "    m = r.map('m', 4)\n"
                    "    m['k'] = {'installed': True}\n"
                    "    print(m['k'])\n"
                    "plexus.Region.remove(sys.argv[1])\n",
                    unique("pip"),
                ],
                cwd=str(tmp),
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert_ok(self, "the installed package", check)
            lines = check.stdout.splitlines()
            self.assertTrue(lines[0].startswith(str(venv)), lines[0])  # the bundled copy
            self.assertEqual(lines[1], "{'installed': True}")
            typed = subprocess.run(
                [
                    str(py),
                    "-c",
                    "import plexus, pathlib\n"
                    "print((pathlib.Path(plexus.__file__).parent / 'py.typed').exists())",
                ],
                capture_output=True,
                text=True,
                env=env,
                cwd=str(tmp),
            )
            self.assertEqual(typed.stdout.strip(), "True")


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
