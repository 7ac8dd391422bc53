#!/usr/bin/env bash
# benches/remote.sh: plexus on Redis (a redis:// region) against the raw Redis commands
# doing the same work. Builds plexus (release) and benches/remote.c, starts a private
# redis-server on a free 127.0.0.1 port without persistence, runs the benchmark, stops
# the server and removes its directory (also on Ctrl-C or failure). Works from any
# directory. See benches/README.md ("Remote regions").
#
#   bash benches/remote.sh [--runs N] [--ops N] [--rt N] [--stream-n N] [--batch B]
#                          [--quiet-wait S] [--out FILE] [--only ROW,ROW] [--monitor]
#                          [--no-script-cost]
#
# The same settings from the environment: RUNS, OPS, RT, STREAM_N, BATCH, QUIET_WAIT,
# OUT. Other options (--warm N, --cap N, --timeout S) pass through to the binary.
# --only runs some rows without a report (profiling); --monitor also counts, with
# MONITOR, the commands that 100 calls of each plexus one-call row send;
# --no-script-cost leaves out the script-cost table (benches/remote/script_cost.py).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=${RUNS:-7}
OPS=${OPS:-20000}
RT=${RT:-3000}
STREAM_N=${STREAM_N:-20000}
BATCH=${BATCH:-64}
QUIET_WAIT=${QUIET_WAIT:-10}
OUT=${OUT:-benches/results-remote.md}
ONLY=
MONITOR=0
SCRIPT_COST=1
EXTRA=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --ops) OPS=$2; shift 2 ;;
        --rt) RT=$2; shift 2 ;;
        --stream-n) STREAM_N=$2; shift 2 ;;
        --batch) BATCH=$2; shift 2 ;;
        --quiet-wait) QUIET_WAIT=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --monitor) MONITOR=1; shift ;;
        --no-script-cost) SCRIPT_COST=0; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) EXTRA+=("$1"); shift ;;
    esac
done

SERVER=$(command -v redis-server || command -v valkey-server || true)
CLI=$(command -v redis-cli || command -v valkey-cli || true)
if [[ -z $SERVER || -z $CLI ]]; then
    echo "SKIPPED: redis-server and redis-cli are not installed (apt-get install redis-server)" >&2
    exit 0
fi

echo "== cargo build --release" >&2
cargo build --release >&2

BIN_DIR=$ROOT/target/bench
mkdir -p "$BIN_DIR"
echo "== gcc -O2 benches/remote.c" >&2
gcc -std=c11 -O2 -Wall -Wextra -Werror -o "$BIN_DIR/remote" benches/remote.c \
    -I"$ROOT/include" -L"$ROOT/target/release" -l:libplexus.so \
    -Wl,-rpath,"$ROOT/target/release" -lm

# A free loopback port: ask the kernel for one.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DIR=$(mktemp -d "${TMPDIR:-/tmp}/plexus-remote-bench.XXXXXX")
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$DIR"
    rm -f "$OUT.tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== redis-server on 127.0.0.1:$PORT (no persistence)" >&2
"$SERVER" --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' --appendonly no \
    --protected-mode yes --logfile "$DIR/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do
    "$CLI" -p "$PORT" PING >/dev/null 2>&1 && break
    sleep 0.1
done
"$CLI" -p "$PORT" PING >/dev/null || { echo "redis-server did not start" >&2; cat "$DIR/server.log" >&2; exit 1; }

ARGS=(--port "$PORT" --server-pid "$SERVER_PID" --runs "$RUNS" --ops "$OPS" --rt "$RT"
      --stream-n "$STREAM_N" --batch "$BATCH" --quiet-wait "$QUIET_WAIT")

if [[ -n $ONLY ]]; then
    "$BIN_DIR/remote" "${ARGS[@]}" --only "$ONLY" "${EXTRA[@]}"
    exit 0
fi

mkdir -p "$(dirname "$OUT")"
"$BIN_DIR/remote" "${ARGS[@]}" "${EXTRA[@]}" > "$OUT.tmp"
{
    cat "$OUT.tmp"
    echo
    echo "## The server's own view"
    echo
    echo "\`redis-cli --latency\` for 3 s right after the runs (round trips of PING, ms):"
    echo
    echo '```'
    timeout 3 "$CLI" -p "$PORT" --latency --raw 2>/dev/null | tail -1 || true
    echo '```'
    if [[ $SCRIPT_COST == 1 ]]; then
        echo
        echo "## Script cost (benches/remote/script_cost.py)"
        echo
        echo "The element function as the library runs it for \`write_xf\`, and with parts removed:"
        echo
        python3 benches/remote/script_cost.py --port "$PORT" || echo "(script_cost.py failed)"
    fi
    if [[ $MONITOR == 1 ]]; then
        echo
        echo "Commands seen by MONITOR during 100 calls of each plexus one-call row (inside scripts too;"
        echo "opening and removing the region and the lease renewals add a few):"
        echo
        echo '```'
        for row in xf ff faa; do
            "$CLI" -p "$PORT" MONITOR > "$DIR/monitor.$row" &
            MON=$!
            sleep 0.3
            "$BIN_DIR/remote" --port "$PORT" --runs 1 --warm 0 --stats-ops 50 --ops 50 --only "$row" 2>/dev/null
            sleep 0.3
            kill "$MON" 2>/dev/null || true
            wait "$MON" 2>/dev/null || true
            printf '%-4s ' "$row"
            awk '{ for (i = 4; i <= NF; i++) if ($i ~ /^"/) { c = toupper($i); gsub(/"/, "", c); n[c]++; break } }
                 END { for (c in n) printf "%s=%d ", c, n[c]; print "" }' "$DIR/monitor.$row"
        done
        echo '```'
    fi
} > "$OUT"
rm -f "$OUT.tmp"
cat "$OUT"
echo "(report written to $OUT)" >&2
