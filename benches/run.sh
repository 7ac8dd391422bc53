#!/usr/bin/env bash
# benches/run.sh: builds plexus (release) and the C benchmarks (ping-pong latency, queue
# throughput, bus and mutex), runs them and writes one Markdown report. Works from any
# directory. See benches/README.md.
#
#   bash benches/run.sh [--runs N] [--rt N] [--pipe-rt N] [--ops N] [--pin]
#                       [--queue-n N] [--mpmc-n N] [--cap N] [--cap2 N] [--no-queue]
#                       [--subs N] [--interval-us U] [--lat-n N] [--tput-n N]
#                       [--tput-cap N] [--mutex-n N] [--no-bus]
#                       [--quiet-wait S] [--out FILE]
#
# The same settings can come from the environment: RUNS, RT, PIPE_RT, OPS, PIN=1,
# QUEUE_N, MPMC_N, CAP, CAP2, QUEUE=0, SUBS, INTERVAL_US, LAT_N, TPUT_N, TPUT_CAP,
# MUTEX_N, BUS=0, QUIET_WAIT, OUT. Other options (e.g. --warm N, --timeout S) pass
# through to the ping-pong binary.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=${RUNS:-5}
RT=${RT:-200000}
PIPE_RT=${PIPE_RT:-20000}
OPS=${OPS:-2000000}
PIN=${PIN:-0}
QUIET_WAIT=${QUIET_WAIT:-30}
OUT=${OUT:-benches/results.md}
QUEUE=${QUEUE:-1}
QUEUE_N=${QUEUE_N:-5000000}
MPMC_N=${MPMC_N:-4000000}
CAP=${CAP:-1024}
CAP2=${CAP2:-64}
BUS=${BUS:-1}
SUBS=${SUBS:-30}
INTERVAL_US=${INTERVAL_US:-50}
LAT_N=${LAT_N:-10000}
TPUT_N=${TPUT_N:-1000000}
TPUT_CAP=${TPUT_CAP:-65536}
MUTEX_N=${MUTEX_N:-1000000}
EXTRA=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --rt) RT=$2; shift 2 ;;
        --pipe-rt) PIPE_RT=$2; shift 2 ;;
        --ops) OPS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --pin) PIN=1; shift ;;
        --quiet-wait) QUIET_WAIT=$2; shift 2 ;;
        --queue-n) QUEUE_N=$2; shift 2 ;;
        --mpmc-n) MPMC_N=$2; shift 2 ;;
        --cap) CAP=$2; shift 2 ;;
        --cap2) CAP2=$2; shift 2 ;;
        --no-queue) QUEUE=0; shift ;;
        --subs) SUBS=$2; shift 2 ;;
        --interval-us) INTERVAL_US=$2; shift 2 ;;
        --lat-n) LAT_N=$2; shift 2 ;;
        --tput-n) TPUT_N=$2; shift 2 ;;
        --tput-cap) TPUT_CAP=$2; shift 2 ;;
        --mutex-n) MUTEX_N=$2; shift 2 ;;
        --no-bus) BUS=0; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) EXTRA+=("$1"); shift ;;
    esac
done

echo "== cargo build --release" >&2
cargo build --release >&2

BIN_DIR=$ROOT/target/bench
mkdir -p "$BIN_DIR"
echo "== gcc -O2 benches/pingpong.c" >&2
gcc -std=c11 -O2 -Wall -Wextra -o "$BIN_DIR/pingpong" benches/pingpong.c \
    -I"$ROOT/include" -L"$ROOT/target/release" -l:libplexus.so \
    -Wl,-rpath,"$ROOT/target/release" -lm
if [[ $QUEUE == 1 ]]; then
    echo "== gcc -O2 benches/queue.c" >&2
    gcc -std=c11 -O2 -Wall -Wextra -o "$BIN_DIR/queue" benches/queue.c \
        -I"$ROOT/include" -L"$ROOT/target/release" -l:libplexus.so \
        -Wl,-rpath,"$ROOT/target/release" -lm
fi
if [[ $BUS == 1 ]]; then
    echo "== gcc -O2 benches/bus.c" >&2
    gcc -std=c11 -O2 -Wall -Wextra -o "$BIN_DIR/bus" benches/bus.c \
        -I"$ROOT/include" -L"$ROOT/target/release" -l:libplexus.so \
        -Wl,-rpath,"$ROOT/target/release" -lm
fi

ARGS=(--runs "$RUNS" --rt "$RT" --pipe-rt "$PIPE_RT" --ops "$OPS")
[[ $QUIET_WAIT -gt 0 ]] && ARGS+=(--quiet-wait "$QUIET_WAIT")
[[ $PIN == 1 ]] && ARGS+=(--pin)
ARGS+=(${EXTRA[@]+"${EXTRA[@]}"})

QARGS=(--runs "$RUNS" --n "$QUEUE_N" --mpmc-n "$MPMC_N" --cap "$CAP" --cap2 "$CAP2")
[[ $QUIET_WAIT -gt 0 ]] && QARGS+=(--quiet-wait "$QUIET_WAIT")

# The bus benchmark's b0-b2 round trips and paced messages and x1's pairs reuse --rt and --ops.
BARGS=(--runs "$RUNS" --rt "$RT" --subs "$SUBS" --interval-us "$INTERVAL_US" --lat-n "$LAT_N"
       --tput-n "$TPUT_N" --tput-cap "$TPUT_CAP" --mutex-ops "$OPS" --mutex-n "$MUTEX_N")
[[ $QUIET_WAIT -gt 0 ]] && BARGS+=(--quiet-wait "$QUIET_WAIT")

echo "== $BIN_DIR/pingpong ${ARGS[*]}" >&2
TMP=$(mktemp "${TMPDIR:-/tmp}/plexus-bench.XXXXXX")
trap 'rm -f "$TMP" "$TMP.q" "$TMP.b"' EXIT
"$BIN_DIR/pingpong" "${ARGS[@]}" >"$TMP"
if [[ $QUEUE == 1 ]]; then
    echo "== $BIN_DIR/queue ${QARGS[*]}" >&2
    "$BIN_DIR/queue" "${QARGS[@]}" >"$TMP.q"
fi
if [[ $BUS == 1 ]]; then
    echo "== $BIN_DIR/bus ${BARGS[*]}" >&2
    "$BIN_DIR/bus" "${BARGS[@]}" >"$TMP.b"
fi

{
    cat "$TMP"
    if [[ $QUEUE == 1 ]]; then
        echo
        cat "$TMP.q"
    fi
    if [[ $BUS == 1 ]]; then
        echo
        cat "$TMP.b"
    fi
    echo
    REV=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
    if [[ -n $(git status --porcelain -- src include Cargo.toml 2>/dev/null) ]]; then
        REV="$REV + uncommitted changes in src/"
    fi
    if [[ $QUEUE == 1 ]]; then
        CMD="bash benches/run.sh ${ARGS[*]} --queue-n $QUEUE_N --mpmc-n $MPMC_N --cap $CAP --cap2 $CAP2"
    else
        CMD="bash benches/run.sh ${ARGS[*]} --no-queue"
    fi
    if [[ $BUS == 1 ]]; then
        CMD="$CMD --subs $SUBS --interval-us $INTERVAL_US --lat-n $LAT_N --tput-n $TPUT_N --tput-cap $TPUT_CAP --mutex-n $MUTEX_N"
    else
        CMD="$CMD --no-bus"
    fi
    echo "Command: \`$CMD\` (library at commit $REV, built with \`cargo build --release\`)."
    echo
    echo "Machine (\`nproc\`: $(nproc); \`lscpu | head -20\`):"
    echo
    echo '```'
    if command -v lscpu >/dev/null; then lscpu | head -20; else echo "(lscpu not available)"; fi
    echo '```'
} >"$TMP.md"
mkdir -p "$(dirname "$OUT")"
mv "$TMP.md" "$OUT"
cat "$OUT"
echo "== written to $OUT" >&2
