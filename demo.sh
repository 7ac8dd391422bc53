#!/usr/bin/env bash
# The main demo: C, C++, Python and (when installed) Node and Java processes share one
# region at the same time. They greet each other through write_ef/read_fe on map keys,
# meet at a barrier, increment one shared counter concurrently (the total is checked),
# show that nested objects are copied out, and stop a C++ background updater with a
# "stop" marker. Every line says which language printed it.
#
# Needs: Rust (cargo), a C and a C++ compiler, python3; node (18+) optional (the first
# run installs the Node binding's koffi dependency with `npm ci`; without node or npm
# the demo runs without the Node process and says so); Java optional (a JDK 17+ and
# Debian's libjna-java and libjackson2-core-java; without them the demo runs without
# the Java process and says so).
#
# ./demo.sh --redis runs the same demo over the network: the region is a remote region,
# redis://127.0.0.1:PORT/plexus-demo-PID, on a private redis-server this script starts
# on a free port of 127.0.0.1 (without persistence, in a temporary directory; stopped at
# the end), or on the server named by PLEXUS_REDIS_URL (redis://[user:password@]host:port,
# without a region name, options such as ?db=N allowed; the demo's region is created
# there and removed at the end).
# Only the region name changes: the programs are the same.
#
# The first run builds the release library (a few minutes; cargo's progress is shown),
# later runs only what changed, quietly.
#
# Environment: PLEXUS_DEMO_LIBDIR=DIR uses the libplexus.so in DIR instead of building
# the release library (the test suite uses it); CARGO_TARGET_DIR is where cargo builds
# it (default target/); PLEXUS_DEMO_NO_NODE=1 leaves Node out, PLEXUS_DEMO_NO_JAVA=1
# Java; PLEXUS_REDIS_URL (with
# --redis) as above.
set -euo pipefail
cd "$(dirname "$0")"
redis=""
for arg in "$@"; do
  case "$arg" in
    --redis) redis=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "demo.sh: unknown argument '$arg' (usage: ./demo.sh [--redis])" >&2
      exit 2
      ;;
  esac
done
# A name as it may be printed: the password of a redis:// URL replaced by ***.
shown() { sed -E 's#^([a-z]+://)([^/@:]*):[^/]*@#\1\2:***@#; s#^([a-z]+://)[^/:@]*@#\1***@#' <<<"$1"; }
redis_pid=""
redis_dir=""
if [ -n "$redis" ] && [ -z "${PLEXUS_REDIS_URL:-}" ]; then
  redis_bin=$(command -v redis-server || command -v valkey-server || true)
  if [ -z "$redis_bin" ]; then
    echo "demo.sh --redis: redis-server is not installed (apt-get install redis-server), and PLEXUS_REDIS_URL is not set" >&2
    exit 2
  fi
fi
CC=${CC:-cc}
CXX=${CXX:-c++}
if [ -n "${PLEXUS_DEMO_LIBDIR:-}" ]; then
  lib=$(cd "$PLEXUS_DEMO_LIBDIR" && pwd)
  out=$(mktemp -d "${TMPDIR:-/tmp}/plexus-demo.XXXXXX")
  echo "== using the library in $lib"
else
  target="${CARGO_TARGET_DIR:-target}"
  case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
  lib="$target/release"
  if [ -e "$lib/libplexus.so" ]; then
    # Later runs: quiet (cargo rebuilds only what changed).
    echo "== building plexus (cargo build --release) and the C and C++ participants"
    cargo build --release --quiet
  else
    # The first run compiles plexus and its dependencies: say so, and show cargo's progress.
    echo "== building the release library for the first time (cargo build --release; this takes a few minutes, cargo's progress follows)"
    cargo build --release
    echo "== building the C and C++ participants"
  fi
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

if [ -n "${PLEXUS_DEMO_NO_JAVA:-}" ]; then
  echo "== Java left out (PLEXUS_DEMO_NO_JAVA is set)"
elif ! command -v javac >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
  echo "== javac not found: running without the Java process (install a JDK 17+, libjna-java and libjackson2-core-java to include it)"
elif [ ! -f "${PLEXUS_JNA_JAR:-/usr/share/java/jna.jar}" ] || [ ! -f "${PLEXUS_JACKSON_JAR:-/usr/share/java/jackson-core.jar}" ]; then
  echo "== JNA or Jackson core not found (apt-get install libjna-java libjackson2-core-java): running without the Java process"
elif java_cp=$(PLEXUS_JAVA_OUT="$out/java" bindings/java/build.sh 2>"$out/java-build.log" | tail -n 1) && [ -n "$java_cp" ]; then
  ids="$ids,java"
else
  echo "== building the Java binding failed (bindings/java/build.sh; its messages follow): running without the Java process"
  cat "$out/java-build.log"
fi

export PLEXUS_LIBRARY="$lib/libplexus.so"
# The C and C++ participants load this library too, whatever LD_LIBRARY_PATH held (cargo
# test puts target/debug there, whose copy may come from another build of the crate).
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The Python participant: the package with its compiled extension, staged in $out (the
# release build above made it; with PLEXUS_DEMO_LIBDIR, a debug build of it is made now).
if [ -n "${PLEXUS_DEMO_LIBDIR:-}" ]; then
  cargo build --quiet -p plexus-python
  ext="${CARGO_TARGET_DIR:-$PWD/target}/debug/lib_plexus.so"
else
  ext="${CARGO_TARGET_DIR:-$PWD/target}/release/lib_plexus.so"
fi
rm -rf "$out/python" && mkdir -p "$out/python" && cp -r bindings/python/plexus "$out/python/"
rm -f "$out/python/plexus/"_plexus*.so && cp "$ext" "$out/python/plexus/_plexus.abi3.so"
export PYTHONPATH="$out/python${PYTHONPATH:+:$PYTHONPATH}"
name="plexus-demo-$$"
pids=()
# Whether the remote region `$name` exists (1), not (0), or the server cannot say (2).
remote_exists() {
  python3 - "$name" <<'PY'
import sys, plexus
try:
    plexus.Region(sys.argv[1], mode="open").close()
    sys.exit(1)
except plexus.NotFound:
    sys.exit(0)
except plexus.Error as e:
    print(f"== cannot ask the server whether the region is gone: {e}", file=sys.stderr)
    sys.exit(2)
PY
}
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  if [ -n "$redis" ]; then
    if [ -n "$redis_pid" ]; then
      kill -9 "$redis_pid" 2>/dev/null || true
      wait "$redis_pid" 2>/dev/null || true
      rm -rf "$redis_dir"
    elif [ -n "${name:-}" ]; then
      python3 -c 'import sys, plexus; plexus.Region.remove(sys.argv[1], True)' "$name" 2>/dev/null || true
    fi
  else
    rm -f "/dev/shm/plexus.$name"
  fi
  if [ -n "${PLEXUS_DEMO_LIBDIR:-}" ]; then rm -rf "$out"; fi
}
trap cleanup EXIT
if [ -n "$redis" ]; then
  if [ -n "${PLEXUS_REDIS_URL:-}" ]; then
    server="${PLEXUS_REDIS_URL%/}"
    echo "== using the Redis server $(shown "$server") (PLEXUS_REDIS_URL)"
  else
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    redis_dir=$(mktemp -d "${TMPDIR:-/tmp}/plexus-demo-redis.XXXXXX")
    "$redis_bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$redis_dir" >"$redis_dir/log" 2>&1 &
    redis_pid=$!
    up=""
    for _ in $(seq 500); do
      if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
        printf 'PING\r\n' >&3
        read -r -t 1 reply <&3 || reply=""
        exec 3>&-
        if [ "${reply%$'\r'}" = "+PONG" ]; then up=1; break; fi
      fi
      kill -0 "$redis_pid" 2>/dev/null || break
      sleep 0.02
    done
    if [ -z "$up" ]; then
      echo "== redis-server did not start on 127.0.0.1:$port:" >&2
      cat "$redis_dir/log" >&2
      exit 1
    fi
    server="redis://127.0.0.1:$port"
    echo "== started a private redis-server on 127.0.0.1:$port (no persistence; stopped at the end)"
  fi
  case "$server" in
    *\?*) name="${server%%\?*}/$name?${server#*\?}" ;; # options (?db=N) after the region name
    *) name="$server/$name" ;;
  esac
fi
echo "== starting ${ids//,/, } at once on region '$(shown "$name")' (the C process creates it; the others wait for it)"
# The others start first on purpose: they wait for the region and the barrier to appear.
python3 demo/demo.py "$name" "$ids" &
pids+=($!)
"$out/demo_cpp" "$name" "$ids" &
pids+=($!)
if [[ $ids == *node* ]]; then
  node demo/demo.js "$name" "$ids" &
  pids+=($!)
fi
if [[ $ids == *java* ]]; then
  java -cp "$java_cp" demo/Demo.java "$name" "$ids" &
  pids+=($!)
fi
sleep 0.2
"$out/demo_c" "$name" "$ids" &
pids+=($!)
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
pids=()
if [ -n "$redis" ]; then
  remote_exists || { echo "== the remote region was not removed" >&2; failed=1; }
elif [ -e "/dev/shm/plexus.$name" ]; then
  echo "== the region was not removed" >&2
  failed=1
fi
if [ $failed -ne 0 ]; then
  echo "== demo FAILED (see the messages above)" >&2
  exit 1
fi
if [ -n "$redis" ]; then
  echo "== demo finished over the network: every process exited cleanly and the remote region is gone"
else
  echo "== demo finished: every process exited cleanly and the region is gone"
fi
