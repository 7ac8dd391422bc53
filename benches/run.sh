#!/usr/bin/env bash
# benches/run.sh: builds plexus (release) and the C ping-pong benchmark, runs it and
# writes a Markdown report. Works from any directory. See benches/README.md.
#
#   bash benches/run.sh [--runs N] [--rt N] [--pipe-rt N] [--ops N] [--pin]
#                       [--quiet-wait S] [--out FILE]
#
# The same settings can come from the environment: RUNS, RT, PIPE_RT, OPS, PIN=1,
# QUIET_WAIT, OUT. Other options (e.g. --warm N, --timeout S) pass through to the binary.
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
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
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

ARGS=(--runs "$RUNS" --rt "$RT" --pipe-rt "$PIPE_RT" --ops "$OPS")
[[ $QUIET_WAIT -gt 0 ]] && ARGS+=(--quiet-wait "$QUIET_WAIT")
[[ $PIN == 1 ]] && ARGS+=(--pin)
ARGS+=(${EXTRA[@]+"${EXTRA[@]}"})

echo "== $BIN_DIR/pingpong ${ARGS[*]}" >&2
TMP=$(mktemp "${TMPDIR:-/tmp}/plexus-bench.XXXXXX")
trap 'rm -f "$TMP"' EXIT
"$BIN_DIR/pingpong" "${ARGS[@]}" >"$TMP"

{
    cat "$TMP"
    echo
    REV=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
    if [[ -n $(git status --porcelain -- src include Cargo.toml 2>/dev/null) ]]; then
        REV="$REV + uncommitted changes in src/"
    fi
    echo "Command: \`bash benches/run.sh ${ARGS[*]}\` (library at commit $REV, built with \`cargo build --release\`)."
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
