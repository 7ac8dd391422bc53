#!/usr/bin/env bash
# Runs every test: the Rust engine tests, the header freshness check, the C and C++
# test programs (built against both the shared and the static library) that cargo test
# compiles and runs, and the Python binding's unittest suite (tests/python.rs runs it
# with python3 against the library just built). Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")"
cargo test "$@"
