#!/usr/bin/env bash
# benches/bindings/node/run.sh: per-call cost of the Node binding against bare koffi calls
# and JavaScript's own Map / Array (see benches/README.md, "The Node binding"). Builds the
# release library, installs koffi into bindings/node if missing, runs bench.js against
# target/release/libplexus.so. Works from any directory; arguments go to bench.js:
#
#   bash benches/bindings/node/run.sh [--runs N] [--batches N] [--batch N] [--out FILE]
set -euo pipefail
cd "$(dirname "$0")/../../.."
cargo build --release --lib --quiet
if [ ! -e bindings/node/node_modules/koffi/package.json ]; then
  (cd bindings/node && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
PLEXUS_LIBRARY="$PWD/target/release/libplexus.so" exec node benches/bindings/node/bench.js "$@"
