#!/usr/bin/env bash
# benches/tarray.sh: typed arrays from Python (benches/tarray.py): numpy.sum over a shared
# 16M-element float64 array against a private numpy array, and block hand-off throughput
# between two processes (plexus typed array blocks against multiprocessing.shared_memory
# + pipes and against a plexus queue of bytes), methods interleaved round by round.
# Builds the Python extension of this checkout (release), stages the package in a
# temporary directory, runs the benchmark with python3 (numpy needed) and writes the
# report. Works from any directory. See benches/README.md ("Typed arrays").
#
#   bash benches/tarray.sh [--rounds N] [--sum-rounds N] [--mib N] [--block-kib K...]
#                          [--nice N] [--out FILE]
#
# --nice N runs the benchmark under `nice -n N` (the measured processes then yield to
# other work on a shared machine; the methods are still interleaved). Other options pass
# through to benches/tarray.py (--help lists them).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-benches/results-tarray.md}
NICE=${NICE:-0}
ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --out) OUT=$2; shift 2 ;;
        --nice) NICE=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) ARGS+=("$1"); shift ;;
    esac
done

PY=${PYTHON:-python3}
"$PY" -c 'import numpy' 2>/dev/null || { echo "benches/tarray.sh: $PY has no numpy (pip install numpy)" >&2; exit 1; }

echo "== cargo build --release -p plexus-python" >&2
stage=$(mktemp -d)
trap 'rm -rf "$stage" "$OUT.tmp"' EXIT
bash benches/bindings/python/stage.sh "$stage"

mkdir -p "$(dirname "$OUT")"
PYTHONPATH="$stage" nice -n "$NICE" "$PY" benches/tarray.py "${ARGS[@]}" --out "$OUT.tmp"
{
    cat "$OUT.tmp"
    echo
    echo "Command: \`bash benches/tarray.sh${ARGS[*]:+ ${ARGS[*]}}$([[ $NICE != 0 ]] && echo " --nice $NICE")\`"
    echo "on $(nproc) CPUs ($(uname -r)), $(date -u +%Y-%m-%d)."
} > "$OUT"
cat "$OUT"
