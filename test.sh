#!/usr/bin/env bash
# Runs every test: the Rust engine tests, the header freshness check, the C and C++
# test programs (built against both the shared and the static library) that cargo test
# compiles and runs, the Python binding's unittest suite (tests/python.rs runs it with
# python3 against the library just built) and the Node binding's node --test suite
# (tests/node.rs; skipped loudly without node, except under CI), and npm installs of
# the Node package from a folder and from its tarball (tests/node_package.rs; the
# tarball's prepack builds the release library). Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")"
cargo test "$@"
