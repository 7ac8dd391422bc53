#!/usr/bin/env bash
# benches/open_objects.sh [runs] [batches]: opening an object by name in a region of 10
# objects against one of 10,000 (benches/open_objects.c); builds the release library.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p plexus --lib
mkdir -p target/bench
gcc -O2 -Wall -Wextra -Werror -Iinclude benches/open_objects.c -Ltarget/release -lplexus \
  -Wl,-rpath,"$PWD/target/release" -o target/bench/open_objects
target/bench/open_objects "$@"
