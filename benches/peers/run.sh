#!/usr/bin/env bash
# benches/peers/run.sh: plexus side by side with its peers (pipe/Unix socket/raw atomic,
# Boost.Interprocess, Redis, iceoryx2, EMS), on this machine, in one invocation, plexus
# and each peer alternating run by run. Installs and builds what it can (apt, crates.io,
# npm, PyPI), skips a peer it cannot get with a clear message, writes the results and
# plots to benches/peers/results/ and prints the table. See docs/performance.md.
#
#   bash benches/peers/run.sh [--quick] [--only NAME[,NAME...]] [--runs N] [--no-install]
#
# NAME: pipe, boost, redis, iceoryx2, ems (default: all). --quick: 3 short runs (a smoke
# test, ~1 min); the default is 5 runs (~6 min of measuring on an idle 2-vCPU VM, plus
# the builds; the first iceoryx2 build takes a few minutes). Environment: RUNS, RT (round
# trips per run), STREAM_N (values per stream run), PACED_N (paced messages per run),
# INTERVAL_US (pace, default 1000), REDIS_PORT (default 6391), OUT (results directory).
set -uo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
PEERS=$ROOT/benches/peers
QUICK=0
ONLY=""
INSTALL=1
RUNS=${RUNS:-}
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1; shift ;;
        --only) ONLY=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done
if [[ $QUICK == 1 ]]; then
    RUNS=${RUNS:-3}; RT=${RT:-5000}; STREAM_N=${STREAM_N:-200000}; PACED_N=${PACED_N:-100}
else
    RUNS=${RUNS:-5}; RT=${RT:-50000}; STREAM_N=${STREAM_N:-1000000}; PACED_N=${PACED_N:-300}
fi
INTERVAL_US=${INTERVAL_US:-1000}
REDIS_PORT=${REDIS_PORT:-6391}
OUT=${OUT:-$PEERS/results}
SAMPLES=$PEERS/out/samples
mkdir -p "$OUT" "$SAMPLES" "$PEERS/build"
rm -f "$SAMPLES"/*.txt
RESULTS=$OUT/results.jsonl
: > "$RESULTS"

want() { [[ -z $ONLY || ",$ONLY," == *",$1,"* ]]; }
say() { echo "== $*" >&2; }
# A peer that cannot be had: a loud line now, a "skip" record in the results (the table
# lists it with the reason).
skip() {
    local name=$1; shift
    echo "SKIP $name: $*" >&2
    printf '{"group":"%s","case":"all","method":"%s","kind":"skip","why":"%s"}\n' \
        "$name" "$name" "$(echo "$*" | tr '"' "'")" >> "$RESULTS"
}
apt_install() { # apt_install PKG...: only as root, only with --install (the default)
    [[ $INSTALL == 1 && $(id -u) == 0 ]] || return 1
    command -v apt-get >/dev/null || return 1
    if [[ -z ${APT_UPDATED:-} ]]; then
        nice apt-get update -qq >&2 || return 1
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive nice apt-get install -y -qq "$@" >&2
}

# ------------------------------------------------------------------ the machine
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') ($(nproc) CPUs online)"
    echo "memory: $(free -g | awk '/Mem:/{print $2}') GiB"
    echo "kernel: $(uname -sr)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "virtualization: container $(systemd-detect-virt -c 2>/dev/null || echo none); $(grep -qw hypervisor /proc/cpuinfo && echo 'virtual machine (cpu flag hypervisor)' || echo 'no hypervisor flag')"
    echo "compilers: $(g++ --version | head -1); $(rustc --version); node $(node --version 2>/dev/null || echo absent)"
    echo "settings: runs=$RUNS rt=$RT stream_n=$STREAM_N paced_n=$PACED_N interval_us=$INTERVAL_US quick=$QUICK only=${ONLY:-all}"
} > "$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# ------------------------------------------------------------------ plexus and the C++ program
say "cargo build --release (libplexus)"
nice cargo build --release >&2 || { echo "run.sh: cargo build --release failed" >&2; exit 1; }

BOOST_OK=0
if want boost && [[ ! -f /usr/include/boost/interprocess/ipc/message_queue.hpp ]]; then
    say "apt-get install libboost-dev"
    apt_install libboost-dev || true
fi
[[ -f /usr/include/boost/interprocess/ipc/message_queue.hpp ]] && BOOST_OK=1
say "g++ -O2 benches/peers/peers.cpp"
nice g++ -std=c++17 -O2 -Wall -Wextra -o "$PEERS/build/peers" "$PEERS/peers.cpp" \
    -I"$ROOT/include" -L"$ROOT/target/release" -l:libplexus.so \
    -Wl,-rpath,"$ROOT/target/release" -lpthread -lrt >&2 \
    || { echo "run.sh: building peers.cpp failed" >&2; exit 1; }
BIN=$PEERS/build/peers
COMMON=(--runs "$RUNS" --rt "$RT" --paced-n "$PACED_N" --interval-us "$INTERVAL_US" --samples "$SAMPLES")

run_group() { # run_group NAME CMD...: JSON lines to the results, progress to stderr
    local name=$1; shift
    say "run $name"
    if ! "$@" >> "$RESULTS"; then
        skip "$name" "the benchmark failed (exit status $?; see the messages above)"
    fi
}

# ------------------------------------------------------------------ pipe, Unix socket, raw atomic
if want pipe; then
    run_group pipe "$BIN" --group pipe --stream-n "$STREAM_N" "${COMMON[@]}"
fi

# ------------------------------------------------------------------ Boost.Interprocess
if want boost; then
    if [[ $BOOST_OK == 1 ]]; then
        run_group boost "$BIN" --group boost --stream-n "$STREAM_N" "${COMMON[@]}"
    else
        skip boost "Boost.Interprocess headers not found and could not be installed (apt-get install libboost-dev, as root)"
    fi
fi

# ------------------------------------------------------------------ Redis
if want redis; then
    if ! command -v redis-server >/dev/null; then
        say "apt-get install redis-server"
        apt_install redis-server redis-tools || true
    fi
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        skip redis "redis-server / redis-cli not found and could not be installed (apt-get install redis-server, as root)"
    else
        while redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do
            REDIS_PORT=$((REDIS_PORT + 1)) # someone else's server: take the next port
        done
        RDIR=$PEERS/out/redis
        mkdir -p "$RDIR"
        say "redis-server on 127.0.0.1:$REDIS_PORT (no persistence)"
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize yes --pidfile "$RDIR/redis.pid" --dir "$RDIR" --logfile "$RDIR/redis.log"
        for _ in $(seq 100); do
            redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
            sleep 0.1
        done
        if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
            echo "redis: $(redis-server --version | head -1)" >> "$OUT/machine.txt"
            run_group redis "$BIN" --group redis --redis-port "$REDIS_PORT" "${COMMON[@]}"
            redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
            sleep 0.2
            [[ -f $RDIR/redis.pid ]] && kill "$(cat "$RDIR/redis.pid")" 2>/dev/null
        else
            skip redis "redis-server did not answer on 127.0.0.1:$REDIS_PORT (see $RDIR/redis.log)"
            [[ -f $RDIR/redis.pid ]] && kill "$(cat "$RDIR/redis.pid")" 2>/dev/null
        fi
    fi
fi

# ------------------------------------------------------------------ iceoryx2
# What bindgen (clang-sys) loads: libclang.so, libclang-N.so or libclang.so.N in
# $LIBCLANG_PATH or an LLVM or system library directory. A `clang` binary, or the C++
# library libclang-cpp.so.N that comes with it, is not enough.
have_libclang() {
    local d f
    for d in ${LIBCLANG_PATH:-} /usr/lib/llvm-*/lib /usr/lib/*-linux-gnu /usr/lib64 /usr/lib; do
        for f in "$d"/libclang.so "$d"/libclang.so.* "$d"/libclang-[0-9]*.so*; do
            [[ -e $f ]] && return 0
        done
    done
    return 1
}
if want iceoryx2; then
    say "cargo build --release (benches/peers/iceoryx2: iceoryx2 from crates.io)"
    if ! have_libclang; then
        say "apt-get install libclang-dev (iceoryx2's bindgen needs libclang itself)"
        apt_install libclang-dev clang || true
        have_libclang || say "still no libclang after the install; the iceoryx2 build will say why"
    fi
    if (cd "$PEERS/iceoryx2" && nice cargo build --release >&2); then
        run_group iceoryx2 "$PEERS/iceoryx2/target/release/plexus-peer-iceoryx2" \
            --runs "$RUNS" --rt "$RT" --paced-n "$PACED_N" --interval-us "$INTERVAL_US" --samples "$SAMPLES"
        echo "iceoryx2: $(grep -A1 '^name = "iceoryx2"$' "$PEERS/iceoryx2/Cargo.lock" | sed -n 's/version = //p' | tr -d '"')" >> "$OUT/machine.txt"
    else
        skip iceoryx2 "the iceoryx2 crate did not build (cargo build --release in benches/peers/iceoryx2; it needs libclang for bindgen)"
    fi
fi

# ------------------------------------------------------------------ EMS
if want ems; then
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        skip ems "node/npm not found (EMS is a Node.js package)"
    else
        ok=1
        if [[ ! -f $ROOT/bindings/node/node_modules/koffi/package.json ]]; then
            say "npm ci in bindings/node (koffi)"
            (cd "$ROOT/bindings/node" && nice npm ci --ignore-scripts --no-audit --no-fund >&2) || ok=0
        fi
        EMS_NODE=$PEERS/ems/node_modules/ems/build/Release/ems.node
        if [[ $ok == 1 && ! -f $EMS_NODE ]]; then
            say "npm install (benches/peers/ems: ems from npm, built by node-gyp)"
            (cd "$PEERS/ems" && nice npm install --no-audit --no-fund >&2) || ok=0
            # npm may leave install scripts unrun (allow-scripts policy): build it ourselves.
            if [[ $ok == 1 && ! -f $EMS_NODE ]]; then
                GYP=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
                (cd "$PEERS/ems/node_modules/ems" && nice node "$GYP" rebuild >&2) || true
            fi
        fi
        if [[ $ok == 0 ]]; then
            skip ems "npm install failed (koffi for bindings/node, or ems)"
        elif [[ ! -f $EMS_NODE ]]; then
            skip ems "EMS's native addon did not build with node-gyp on node $(node --version) (see the messages above)"
        else
            echo "ems: $(node -p "require('$PEERS/ems/node_modules/ems/package.json').version")" >> "$OUT/machine.txt"
            run_group ems node "$PEERS/ems/bench.js" --peers "$BIN" --ops "$RT" \
                --runs "$RUNS" --rt "$RT" --paced-n "$PACED_N" --interval-us "$INTERVAL_US" --samples "$SAMPLES"
        fi
    fi
fi

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"

# ------------------------------------------------------------------ table and plots
PY=python3
if [[ $INSTALL == 1 && ! -x $PEERS/.venv/bin/python ]]; then
    say "python3 -m venv benches/peers/.venv && pip install matplotlib"
    (python3 -m venv "$PEERS/.venv" && "$PEERS/.venv/bin/pip" install -q matplotlib >&2) || true
fi
[[ -x $PEERS/.venv/bin/python ]] && PY=$PEERS/.venv/bin/python
"$PY" "$PEERS/analyze.py" --results "$RESULTS" --samples "$SAMPLES" --machine "$OUT/machine.txt" --out "$OUT"
