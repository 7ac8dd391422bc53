#!/usr/bin/env bash
# benches/service.sh: the round trip of a service call (benches/service.c) on shared
# memory, against a Unix stream socket, and on a redis:// region. Builds plexus (release)
# and benches/service.c, starts a private redis-server on a free 127.0.0.1 port without
# persistence (the redis row is left out when redis-server is not installed), runs the
# benchmark, stops the server and removes its directory (also on Ctrl-C or failure).
# Works from any directory. See benches/README.md ("Services").
#
#   bash benches/service.sh [--runs N] [--n N] [--redis-n N] [--quiet-wait S] [--out FILE]
#
# The same settings from the environment: RUNS, N, REDIS_N, QUIET_WAIT, OUT. Other
# options (--warm N) pass through to the binary.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=${RUNS:-7}
N=${N:-20000}
REDIS_N=${REDIS_N:-2000}
QUIET_WAIT=${QUIET_WAIT:-10}
OUT=${OUT:-benches/results-service.md}
EXTRA=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --n) N=$2; shift 2 ;;
        --redis-n) REDIS_N=$2; shift 2 ;;
        --quiet-wait) QUIET_WAIT=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) EXTRA+=("$1"); shift ;;
    esac
done

echo "== cargo build --release" >&2
cargo build --release >&2

BIN_DIR=$ROOT/target/bench
mkdir -p "$BIN_DIR"
echo "== gcc -O2 benches/service.c" >&2
gcc -std=c11 -O2 -Wall -Wextra -Werror -o "$BIN_DIR/service" benches/service.c \
    -I"$ROOT/include" -L"$ROOT/target/release" -l:libplexus.so \
    -Wl,-rpath,"$ROOT/target/release" -lm

SERVER=$(command -v redis-server || command -v valkey-server || true)
CLI=$(command -v redis-cli || command -v valkey-cli || true)
PORT=0
DIR=
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    [[ -n $DIR ]] && rm -rf "$DIR"
    rm -f "$OUT.tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n $SERVER && -n $CLI ]]; then
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/plexus-service-bench.XXXXXX")
    echo "== redis-server on 127.0.0.1:$PORT (no persistence)" >&2
    "$SERVER" --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' --appendonly no \
        --protected-mode yes --logfile "$DIR/server.log" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        "$CLI" -p "$PORT" PING >/dev/null 2>&1 && break
        sleep 0.1
    done
    "$CLI" -p "$PORT" PING >/dev/null || { echo "redis-server did not start" >&2; cat "$DIR/server.log" >&2; exit 1; }
else
    echo "NOTE: redis-server/redis-cli not installed: the redis:// row is left out" >&2
fi

mkdir -p "$(dirname "$OUT")"
"$BIN_DIR/service" --runs "$RUNS" --n "$N" --redis-n "$REDIS_N" --port "$PORT" \
    --quiet-wait "$QUIET_WAIT" "${EXTRA[@]}" > "$OUT.tmp"
{
    cat "$OUT.tmp"
    echo
    echo "Command: \`bash benches/service.sh --runs $RUNS --n $N --redis-n $REDIS_N --quiet-wait $QUIET_WAIT\`"
    echo "on $(nproc) CPUs ($(uname -r)), $(date -u +%Y-%m-%d)."
} > "$OUT"
cat "$OUT"
