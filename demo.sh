#!/usr/bin/env bash
# The main demo: a C writer and a C++ reader (two separate processes) exchange values
# through full/empty hand-offs and count together on one shared element.
# Needs: Rust (cargo), a C and a C++ compiler.
set -euo pipefail
cd "$(dirname "$0")"
CC=${CC:-cc}
CXX=${CXX:-c++}
echo "== building plexus (cargo build --release) and the two demo programs"
cargo build --release --quiet
lib="$PWD/target/release"
mkdir -p target/demo
"$CC" -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Iinclude examples-c/demo_writer.c \
  -L"$lib" -lplexus -Wl,-rpath,"$lib" -o target/demo/demo_writer
"$CXX" -std=c++17 -O2 -Wall -Wextra -Iinclude examples-cpp/demo_reader.cpp \
  -L"$lib" -lplexus -Wl,-rpath,"$lib" -o target/demo/demo_reader
name="plexus-demo-$$"
trap 'rm -f "/dev/shm/plexus.$name"' EXIT
echo "== starting the C++ reader first (it waits for the region to appear), then the C writer"
target/demo/demo_reader "$name" &
reader=$!
target/demo/demo_writer "$name"
wait "$reader"
echo "== demo finished: both processes exited cleanly"
