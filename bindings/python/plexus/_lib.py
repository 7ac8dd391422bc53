"""Finds and loads the plexus shared library, and declares every C function of plexus.h.

Lookup order (the first that exists wins; see :func:`candidates`):

1. ``$PLEXUS_LIBRARY``: the path of the library file. When it is set, nothing else is
   tried, so a wrong path is an error rather than a silent fallback.
2. ``libplexus.so`` next to this package (``pip install`` copies one in when it finds a
   built library at install time).
3. The cargo target directories: ``$CARGO_TARGET_DIR/{release,debug}``, then
   ``target/release`` and ``target/debug`` in every directory from this package up to
   the file system root (so a checkout of the repository works without installing).
4. The system's library search path (``ctypes.util.find_library("plexus")``: ldconfig's
   cache, e.g. after ``cmake --install``).

The library's ``plexus_version()`` must have the major version this package was written
for (and, before 1.0, the same minor version); otherwise importing plexus fails.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from ctypes import (
    POINTER,
    Structure,
    Union,
    c_bool,
    c_char_p,
    c_double,
    c_int,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any, Dict, List, Tuple

#: The C API version this package is written against (major, minor).
API_VERSION: Tuple[int, int] = (0, 2)

if sys.platform == "darwin":
    LIBRARY_FILE = "libplexus.dylib"
elif sys.platform == "win32":
    LIBRARY_FILE = "plexus.dll"
else:
    LIBRARY_FILE = "libplexus.so"


class LibraryNotFound(ImportError):
    """The plexus shared library could not be found or loaded, or is of an incompatible
    version (the message lists where it was looked for, or both versions)."""


# ---- C types -------------------------------------------------------------------------


def _handle(name: str) -> type:
    return type(name, (Structure,), {"_fields_": [("id", c_uint64)]})


Region = _handle("plexus_region")
Array = _handle("plexus_array")
Map = _handle("plexus_map")
Queue = _handle("plexus_queue")
Bus = _handle("plexus_bus")
Sub = _handle("plexus_sub")
Mutex = _handle("plexus_mutex")
Barrier = _handle("plexus_barrier")
Semaphore = _handle("plexus_semaphore")


class Buf(Structure):
    _fields_ = [("ptr", c_void_p), ("len", c_size_t)]


class Data(Union):
    _fields_ = [("b", c_bool), ("i", c_int64), ("f", c_double), ("buf", Buf)]


class Value(Structure):
    """``plexus_value``: ``type``, the payload ``data`` (``as`` in C), ``owner``."""

    _fields_ = [("type", c_int), ("data", Data), ("owner", c_void_p)]


class RegionOptions(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("mode", c_int),
        ("size", c_uint64),
        ("permissions", c_uint32),
        ("wait_ns", c_int64),
    ]


class RegionInfo(Structure):
    _fields_ = [
        ("size", c_uint64),
        ("heap_size", c_uint64),
        ("heap_used", c_uint64),
        ("heap_free", c_uint64),
        ("object_count", c_uint32),
        ("attached_processes", c_uint32),
        ("format_version", c_uint32),
        ("reserved0", c_uint32),
        ("region_id", c_uint64),
        ("created_unix_ns", c_uint64),
        ("reserved", c_uint64 * 4),
    ]


class CheckResult(Structure):
    _fields_ = [
        ("verdict", c_uint32),
        ("live_processes", c_uint32),
        ("dead_processes", c_uint32),
        ("dead_locks", c_uint32),
        ("leaked_blocks", c_uint64),
        ("leaked_bytes", c_uint64),
        ("stale_entries", c_uint32),
        ("problems", c_uint32),
        ("repairs", c_uint32),
        ("repair_skipped", c_uint32),
        ("heap_used", c_uint64),
        ("reserved", c_uint64 * 4),
    ]


CHECK_REPAIR = 1

# Status codes and other constants of plexus.h.
OK = 0
TIMEOUT = 1
CLOSED = 2
OWNER_DEAD = 3
E_NOT_FOUND = 102
FOREVER = -1

T_UNDEFINED, T_NULL, T_BOOL, T_INT, T_FLOAT, T_STRING, T_BYTES, T_OBJECT = range(8)

FLAG_FULL = 1
FLAG_EXCLUSIVE = 2
FLAG_LIFO = 4
FROM_NOW = 0
FROM_OLDEST = 1

_st = c_int  # enum plexus_status
_pv = POINTER(Value)
_u64p = POINTER(c_uint64)
_u32p = POINTER(c_uint32)
_boolp = POINTER(c_bool)


def _element_protos(prefix: str, handle: type, where: type) -> Dict[str, Tuple[Any, List[Any]]]:
    """The element operations, identical for arrays (uint64 index) and maps (key)."""
    return {
        f"{prefix}_read": (_st, [handle, where, _pv]),
        f"{prefix}_write": (_st, [handle, where, _pv]),
        f"{prefix}_read_fe": (_st, [handle, where, _pv, c_int64]),
        f"{prefix}_read_ff": (_st, [handle, where, _pv, c_int64]),
        f"{prefix}_write_ef": (_st, [handle, where, _pv, c_int64]),
        f"{prefix}_write_xf": (_st, [handle, where, _pv]),
        f"{prefix}_write_xe": (_st, [handle, where, _pv]),
        f"{prefix}_set_tag": (_st, [handle, where, c_bool]),
        f"{prefix}_is_full": (_st, [handle, where, _boolp]),
        f"{prefix}_read_rw": (_st, [handle, where, _pv, c_int64]),
        f"{prefix}_release_rw": (_st, [handle, where]),
        f"{prefix}_faa": (_st, [handle, where, _pv, _pv]),
        f"{prefix}_cas": (_st, [handle, where, _pv, _pv, _pv]),
        f"{prefix}_exchange": (_st, [handle, where, _pv, _pv]),
        f"{prefix}_version": (_st, [handle, where, _u64p]),
        f"{prefix}_wait_change": (_st, [handle, where, _u64p, c_int64]),
    }


#: name -> (restype, argtypes) for every function of plexus.h (a test checks the list
#: against the header).
PROTOTYPES: Dict[str, Tuple[Any, List[Any]]] = {
    "plexus_version": (c_uint32, []),
    "plexus_recovered_locks": (c_uint64, []),
    "plexus_last_error": (c_char_p, []),
    "plexus_status_name": (c_char_p, [c_int]),
    # values
    "plexus_undefined": (Value, []),
    "plexus_null": (Value, []),
    "plexus_bool": (Value, [c_bool]),
    "plexus_int": (Value, [c_int64]),
    "plexus_float": (Value, [c_double]),
    "plexus_string": (Value, [c_char_p]),
    "plexus_string_n": (Value, [c_char_p, c_size_t]),
    "plexus_bytes": (Value, [c_void_p, c_size_t]),
    "plexus_object_msgpack": (Value, [c_void_p, c_size_t]),
    "plexus_value_free": (None, [_pv]),
    "plexus_value_from_json": (_st, [c_char_p, _pv]),
    "plexus_value_to_json": (_st, [_pv, c_char_p, c_size_t, POINTER(c_size_t)]),
    "plexus_value_equal": (c_bool, [_pv, _pv]),
    # regions
    "plexus_region_open": (_st, [c_char_p, POINTER(RegionOptions), POINTER(Region)]),
    "plexus_region_close": (_st, [Region]),
    "plexus_region_flush": (_st, [Region]),
    "plexus_region_remove": (_st, [c_char_p]),
    "plexus_region_get_info": (_st, [Region, POINTER(RegionInfo)]),
    "plexus_region_wait_object": (_st, [Region, c_char_p, c_int64]),
    "plexus_region_check": (_st, [c_char_p, c_uint32, POINTER(CheckResult), _pv]),
    # arrays
    "plexus_array_open": (_st, [Region, c_char_p, c_uint64, c_uint32, POINTER(Array)]),
    "plexus_array_close": (_st, [Array]),
    "plexus_array_len": (_st, [Array, _u64p]),
    **_element_protos("plexus_array", Array, c_uint64),
    # maps
    "plexus_map_open": (_st, [Region, c_char_p, c_uint64, c_uint32, POINTER(Map)]),
    "plexus_map_close": (_st, [Map]),
    "plexus_map_len": (_st, [Map, _u64p]),
    "plexus_map_capacity": (_st, [Map, _u64p]),
    "plexus_map_remove": (_st, [Map, c_char_p]),
    "plexus_map_next_key": (_st, [Map, _u64p, _pv]),
    **_element_protos("plexus_map", Map, c_char_p),
    # queues
    "plexus_queue_open": (_st, [Region, c_char_p, c_uint64, c_uint32, POINTER(Queue)]),
    "plexus_queue_close": (_st, [Queue]),
    "plexus_queue_push": (_st, [Queue, _pv, c_int64]),
    "plexus_queue_pop": (_st, [Queue, _pv, c_int64]),
    "plexus_queue_len": (_st, [Queue, _u64p]),
    "plexus_queue_capacity": (_st, [Queue, _u64p]),
    "plexus_queue_shutdown": (_st, [Queue]),
    "plexus_queue_is_shutdown": (_st, [Queue, _boolp]),
    # buses
    "plexus_bus_open": (_st, [Region, c_char_p, c_uint64, c_uint32, POINTER(Bus)]),
    "plexus_bus_close": (_st, [Bus]),
    "plexus_bus_publish": (_st, [Bus, _pv, _u64p]),
    "plexus_bus_shutdown": (_st, [Bus]),
    "plexus_bus_is_shutdown": (_st, [Bus, _boolp]),
    "plexus_bus_capacity": (_st, [Bus, _u64p]),
    "plexus_bus_next_seq": (_st, [Bus, _u64p]),
    "plexus_bus_subscribe": (_st, [Bus, c_uint32, POINTER(Sub)]),
    "plexus_sub_next": (_st, [Sub, _pv, _u64p, c_int64]),
    "plexus_sub_close": (_st, [Sub]),
    # locks
    "plexus_mutex_open": (_st, [Region, c_char_p, POINTER(Mutex)]),
    "plexus_mutex_close": (_st, [Mutex]),
    "plexus_mutex_lock": (_st, [Mutex, c_int64]),
    "plexus_mutex_unlock": (_st, [Mutex]),
    "plexus_mutex_is_locked": (_st, [Mutex, _boolp]),
    "plexus_barrier_open": (_st, [Region, c_char_p, c_uint32, POINTER(Barrier)]),
    "plexus_barrier_close": (_st, [Barrier]),
    "plexus_barrier_wait": (_st, [Barrier, c_int64]),
    "plexus_barrier_wait_last": (_st, [Barrier, c_int64, _boolp]),
    "plexus_barrier_parties": (_st, [Barrier, _u32p]),
    "plexus_semaphore_open": (_st, [Region, c_char_p, c_uint32, POINTER(Semaphore)]),
    "plexus_semaphore_close": (_st, [Semaphore]),
    "plexus_semaphore_acquire": (_st, [Semaphore, c_int64]),
    "plexus_semaphore_release": (_st, [Semaphore]),
    "plexus_semaphore_permits": (_st, [Semaphore, _u32p]),
    "plexus_semaphore_available": (_st, [Semaphore, _u32p]),
    "plexus_semaphore_held": (_st, [Semaphore, _u32p]),
}


# ---- lookup --------------------------------------------------------------------------


def candidates() -> List[str]:
    """The paths tried, in order (see the module docstring). With ``$PLEXUS_LIBRARY``
    set, only that one."""
    env = os.environ.get("PLEXUS_LIBRARY")
    if env:
        return [env]
    here = Path(__file__).resolve().parent
    found = [str(here / LIBRARY_FILE)]
    target_env = os.environ.get("CARGO_TARGET_DIR")
    if target_env:
        found += [str(Path(target_env) / p / LIBRARY_FILE) for p in ("release", "debug")]
    for d in [here, *here.parents]:
        found += [str(d / "target" / p / LIBRARY_FILE) for p in ("release", "debug")]
    return found


def _load() -> Tuple[ctypes.CDLL, str]:
    tried = []
    for path in candidates():
        if not os.path.exists(path):
            tried.append(f"{path} (absent)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({e})")
            if os.environ.get("PLEXUS_LIBRARY"):
                break
    if not os.environ.get("PLEXUS_LIBRARY"):
        system = ctypes.util.find_library("plexus")
        if system:
            try:
                return ctypes.CDLL(system), system
            except OSError as e:
                tried.append(f"{system} (system library search path: {e})")
        else:
            tried.append("the system library search path (ctypes.util.find_library: none)")
    raise LibraryNotFound(
        f"plexus: cannot load {LIBRARY_FILE}. Build it with `cargo build --release` in the "
        "plexus repository, or set PLEXUS_LIBRARY to its path. Looked in:\n  " + "\n  ".join(tried)
    )


def _declare(lib: ctypes.CDLL, path: str) -> None:
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            f = getattr(lib, name)
        except AttributeError:
            raise LibraryNotFound(
                f"plexus: the library at {path} has no function {name}: it is older than "
                "this Python package; rebuild it"
            ) from None
        f.restype = restype
        f.argtypes = argtypes


def _check_version(lib: ctypes.CDLL, path: str) -> Tuple[int, int, int]:
    v = lib.plexus_version()
    version = (v >> 16, (v >> 8) & 0xFF, v & 0xFF)
    major, minor = API_VERSION
    compatible = version[0] == major and (
        version[1] == minor if major == 0 else version[1] >= minor
    )
    if not compatible:
        raise LibraryNotFound(
            f"plexus: the library at {path} is version {'.'.join(map(str, version))}, "
            f"but this Python package needs {major}.{minor}.x"
            + (" or a later 1.x minor" if major else "")
        )
    return version


lib, path = _load()
lib.plexus_version.restype = c_uint32
lib.plexus_version.argtypes = []
version: Tuple[int, int, int] = _check_version(lib, path)
_declare(lib, path)

last_error_raw = lib.plexus_last_error
status_name_raw = lib.plexus_status_name
value_free = lib.plexus_value_free


def last_error() -> str:
    """plexus_last_error() as str."""
    return (last_error_raw() or b"").decode("utf-8", "replace")


def status_name(status: int) -> str:
    """plexus_status_name() as str."""
    return (status_name_raw(status) or b"").decode("ascii", "replace")
