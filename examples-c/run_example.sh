#!/bin/sh
# run_example.sh: runs the examples as real multi-process tests (ctest calls it; see
# examples-c/CMakeLists.txt and examples-cpp/CMakeLists.txt). POSIX sh + coreutils.
#
#   run_example.sh pair <producer> <consumer> producer-first|consumer-first <count>
#       starts the two halves in that order (the second 0.2 s after the first); both
#       must succeed, the consumer must report all <count> items in order, and the
#       region must be gone afterwards (the consumer removes it)
#   run_example.sh counter <processes> <increments> <counter-program>...
#       starts <processes> counters at once, cycling through the programs given (so C
#       and C++ counters can share one element); each must report the right total
#   run_example.sh demo <demo_writer> <demo_reader> writer-first|reader-first
#       the writer/reader example pair: both halves must succeed
#
# The region is called "example-<what>-<pid>" and removed at exit, pass or fail.
set -eu

what=${1:?usage: run_example.sh pair|counter|demo ...}
shift
name="example-$what-$$"
out=$(mktemp -d "${TMPDIR:-/tmp}/plexus-$name.XXXXXX")
children=""

cleanup() {
  for pid in $children; do kill -9 "$pid" 2>/dev/null || true; done # still running
  rm -f "/dev/shm/plexus.$name"
  rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "run_example.sh $what: FAILED: $*" >&2
  for f in "$out"/*; do
    if [ -s "$f" ]; then
      echo "--- $(basename "$f"):" >&2
      cat "$f" >&2
    fi
  done
  exit 1
}

# Starts a program in the background, output in $out/<tag>.out and .err; pid in $child.
spawn() { # <tag> <program> <args...>
  tag=$1
  shift
  "$@" >"$out/$tag.out" 2>"$out/$tag.err" &
  child=$!
  children="$children $child"
}

# Waits for a background program; returns its exit status.
reap() { # <pid>
  status=0
  wait "$1" || status=$?
  children=$(echo " $children " | sed "s/ $1 / /")
  return $status
}

case "$what" in
pair)
  producer=$1 consumer=$2 order=$3 count=$4
  case "$order" in
  producer-first) first=producer first_program=$producer second=consumer second_program=$consumer ;;
  consumer-first) first=consumer first_program=$consumer second=producer second_program=$producer ;;
  *) fail "order must be producer-first or consumer-first" ;;
  esac
  spawn "$first" "$first_program" "$name" "$count"
  a=$child
  sleep 0.2 # so that the second one really starts later
  spawn "$second" "$second_program" "$name" "$count"
  b=$child
  reap "$a" || fail "the $first failed"
  reap "$b" || fail "the $second failed"
  grep -q "received $count items in order" "$out/consumer.out" ||
    fail "the consumer did not report $count items in order"
  [ ! -e "/dev/shm/plexus.$name" ] || fail "the consumer did not remove the region"
  ;;

counter)
  processes=$1 increments=$2
  shift 2
  pids=""
  i=0
  while [ "$i" -lt "$processes" ]; do
    for program in "$@"; do
      if [ "$i" -lt "$processes" ]; then
        spawn "counter$i" "$program" "$name" "$processes" "$increments"
        pids="$pids $child"
        i=$((i + 1))
      fi
    done
  done
  for pid in $pids; do reap "$pid" || fail "a counter failed"; done
  expected=$((processes * increments))
  for f in "$out"/counter*.out; do
    grep -q "total $expected, expected $expected" "$f" || fail "$(basename "$f" .out): wrong total"
  done
  [ ! -e "/dev/shm/plexus.$name" ] || fail "the last counter did not remove the region"
  ;;

demo)
  writer=$1 reader=$2 order=$3
  case "$order" in
  writer-first) first=writer first_program=$writer second=reader second_program=$reader ;;
  reader-first) first=reader first_program=$reader second=writer second_program=$writer ;;
  *) fail "order must be writer-first or reader-first" ;;
  esac
  spawn "$first" "$first_program" "$name"
  a=$child
  sleep 0.2
  spawn "$second" "$second_program" "$name"
  b=$child
  reap "$a" || fail "the $first failed"
  reap "$b" || fail "the $second failed"
  grep -q "no addition was lost" "$out/reader.out" || fail "the reader did not confirm the count"
  ;;

*)
  echo "usage: run_example.sh pair|counter|demo ..." >&2
  exit 2
  ;;
esac
cat "$out"/*.out
echo "run_example.sh $what: OK"
