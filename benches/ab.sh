#!/usr/bin/env bash
# benches/ab.sh: instructions per operation of this checkout's library against another
# revision's, counted by callgrind (deterministic: the same binary and input give the
# same count whatever else the machine does, so a change of a few instructions shows).
#
#   bash benches/ab.sh [REV]        REV: a git revision to compare with (default HEAD~1)
#
# Builds REV's release library in a temporary git worktree (target dir target/ab/), and
# this checkout's with `cargo build --release`; compiles benches/ab_instructions.c
# against each (each with its own header); then for every operation runs the program
# under callgrind with N=1000 and N=11000 and reports (I(11000) - I(1000)) / 10000, the
# instructions one operation costs, setup excluded. Single process, timeouts 0: no
# waiting, no spinning, no syscalls on these paths. Needs valgrind. The totals need no
# debug info, so the release profile serves (to see where the instructions go, run
# callgrind on a `cargo build --profile profiling` library: benches/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REV=${1:-HEAD~1}
command -v valgrind >/dev/null || { echo "benches/ab.sh: needs valgrind" >&2; exit 2; }
base_sha=$(git rev-parse --verify "$REV^{commit}")
work=$(mktemp -d)
cleanup() {
    git -C "$ROOT" worktree remove --force "$work/base" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== building this checkout (release)" >&2
cargo build --release --lib --quiet
echo "== building $REV ($base_sha) in a temporary worktree" >&2
git worktree add --detach --quiet "$work/base" "$base_sha"
(cd "$work/base" && CARGO_TARGET_DIR="$ROOT/target/ab" cargo build --release --lib --quiet)

build() { # build <include dir> <static library> <output>
    cc -std=c11 -O2 -g -D_GNU_SOURCE -I"$1" benches/ab_instructions.c "$2" \
        -lpthread -ldl -lm -o "$3"
}
build "$work/base/include" "$ROOT/target/ab/release/libplexus.a" "$work/base.bin"
build "$ROOT/include" "$ROOT/target/release/libplexus.a" "$work/head.bin"

instructions() { # instructions <binary> <op> <n>
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" "$3" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_op() { # per_op <binary> <op>
    local small big
    small=$(instructions "$1" "$2" 1000)
    big=$(instructions "$1" "$2" 11000)
    echo $(((big - small) / 10000))
}

printf '\nInstructions per operation (callgrind), %s = base, this checkout = head\n\n' "$REV"
printf '| operation | base | head | head / base |\n|---|---:|---:|---:|\n'
for op in map-read map-write array-faa fe-pair queue-push-pop bus-publish-next mutex; do
    b=$(per_op "$work/base.bin" "$op")
    h=$(per_op "$work/head.bin" "$op")
    ratio=$(awk -v h="$h" -v b="$b" 'BEGIN { printf "%.3f", h / b }')
    printf '| %s | %d | %d | %s |\n' "$op" "$b" "$h" "$ratio"
done
