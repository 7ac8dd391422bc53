#!/usr/bin/env bash
# The main demo: C, C++, Python and (when node is installed) Node processes share one
# region at the same time. They greet each other through write_ef/read_fe on map keys,
# meet at a barrier, increment one shared counter concurrently (the total is checked),
# show that nested objects are copied out, and stop a C++ background updater with a
# "stop" marker. Every line says which language printed it.
#
# Needs: Rust (cargo), a C and a C++ compiler, python3; node (18+) optional (the first
# run installs the Node binding's koffi dependency with `npm ci`; without node or npm
# the demo runs without the Node process and says so).
# Environment: PLEXUS_DEMO_LIBDIR=DIR uses the libplexus.so in DIR instead of building
# the release library (the test suite uses it); PLEXUS_DEMO_NO_NODE=1 leaves Node out.
set -euo pipefail
cd "$(dirname "$0")"
CC=${CC:-cc}
CXX=${CXX:-c++}
if [ -n "${PLEXUS_DEMO_LIBDIR:-}" ]; then
  lib=$(cd "$PLEXUS_DEMO_LIBDIR" && pwd)
  out=$(mktemp -d "${TMPDIR:-/tmp}/plexus-demo.XXXXXX")
  echo "== using the library in $lib"
else
  echo "== building plexus (cargo build --release) and the C and C++ participants"
  cargo build --release --quiet
  lib="$PWD/target/release"
  out="$PWD/target/demo"
  mkdir -p "$out"
fi
"$CC" -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Iinclude demo/demo.c \
  -L"$lib" -lplexus -Wl,-rpath,"$lib" -o "$out/demo_c"
"$CXX" -std=c++17 -O2 -Wall -Wextra -Werror -Iinclude demo/demo.cpp \
  -L"$lib" -lplexus -Wl,-rpath,"$lib" -pthread -o "$out/demo_cpp"

ids="c,cpp,python"
if [ -n "${PLEXUS_DEMO_NO_NODE:-}" ]; then
  echo "== Node left out (PLEXUS_DEMO_NO_NODE is set)"
elif ! command -v node >/dev/null 2>&1; then
  echo "== node not found: running without the Node process (install Node.js 18+ to include it)"
elif [ -d bindings/node/node_modules/koffi ] ||
  { echo "== installing the Node binding's dependency (npm ci in bindings/node)" &&
    (cd bindings/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1); }; then
  ids="$ids,node"
else
  echo "== npm ci in bindings/node failed (no npm or no registry): running without the Node process"
fi

name="plexus-demo-$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -f "/dev/shm/plexus.$name"
  if [ -n "${PLEXUS_DEMO_LIBDIR:-}" ]; then rm -rf "$out"; fi
}
trap cleanup EXIT
export PLEXUS_LIBRARY="$lib/libplexus.so"
echo "== starting ${ids//,/, } at once on region '$name' (the C process creates it; the others wait for it)"
# The others start first on purpose: they wait for the region and the barrier to appear.
PYTHONPATH="$PWD/bindings/python" python3 demo/demo.py "$name" "$ids" &
pids+=($!)
"$out/demo_cpp" "$name" "$ids" &
pids+=($!)
if [[ $ids == *node* ]]; then
  node demo/demo.js "$name" "$ids" &
  pids+=($!)
fi
sleep 0.2
"$out/demo_c" "$name" "$ids" &
pids+=($!)
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
pids=()
if [ -e "/dev/shm/plexus.$name" ]; then
  echo "== the region was not removed" >&2
  failed=1
fi
if [ $failed -ne 0 ]; then
  echo "== demo FAILED (see the messages above)" >&2
  exit 1
fi
echo "== demo finished: every process exited cleanly and the region is gone"
