"""Build hook: copies a built libplexus into the package, if one is found.

The package itself is pure Python (ctypes); nothing is compiled. When it is built
(``pip install ./bindings/python``), this copies the shared library into the installed
package, so it works from any directory without PLEXUS_LIBRARY:

- ``$PLEXUS_LIBRARY`` if set (it must exist), else
- ``target/release/libplexus.so``, else ``target/debug/libplexus.so`` of the repository
  this directory is in (build it first: ``cargo build --release``).

If none exists, or ``PLEXUS_NO_BUNDLE=1`` is set, nothing is copied, and the installed
package looks for the library at import time (``$PLEXUS_LIBRARY``, the system's library
path). A wheel with a bundled library is tagged for this platform, not as pure Python.
"""

import os
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent

if sys.platform == "darwin":
    LIBRARY_FILE = "libplexus.dylib"
elif sys.platform == "win32":
    LIBRARY_FILE = "plexus.dll"
else:
    LIBRARY_FILE = "libplexus.so"


def library_to_bundle():
    if os.environ.get("PLEXUS_NO_BUNDLE"):
        return None
    env = os.environ.get("PLEXUS_LIBRARY")
    if env:
        if not Path(env).is_file():
            raise SystemExit(f"plexus setup: PLEXUS_LIBRARY={env} does not exist")
        return Path(env)
    for d in [HERE, *HERE.parents]:
        for profile in ("release", "debug"):
            candidate = d / "target" / profile / LIBRARY_FILE
            if candidate.is_file():
                return candidate
    return None


BUNDLE = library_to_bundle()


class BuildPyWithLibrary(build_py):
    def run(self):
        super().run()
        dest = Path(self.build_lib) / "plexus" / LIBRARY_FILE
        if BUNDLE is not None:
            shutil.copyfile(BUNDLE, dest)
            print(f"plexus setup: bundled {BUNDLE} as {dest}")
        else:
            if dest.exists():
                dest.unlink()  # left over from an earlier build in the same tree
            print(
                "plexus setup: no built libplexus found to bundle; the package will look "
                "for it at import time (PLEXUS_LIBRARY, system library path)"
            )


class MaybeBinaryDistribution(Distribution):
    def has_ext_modules(self):
        return BUNDLE is not None


setup(cmdclass={"build_py": BuildPyWithLibrary}, distclass=MaybeBinaryDistribution)
