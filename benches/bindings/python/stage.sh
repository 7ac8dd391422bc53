#!/usr/bin/env bash
# Builds the Python extension of this checkout (release) and stages the package in DIR
# (DIR/plexus, with the built extension as plexus/_plexus.abi3.so), for the benchmarks
# that run Python with PYTHONPATH=DIR. Usage: bash benches/bindings/python/stage.sh DIR
set -euo pipefail
dir=$1
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
built=$(cargo build --release -p plexus-python --message-format=json-render-diagnostics |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "_plexus":
        print([f for f in m["filenames"] if f.endswith(".so")][0])')
cp -r bindings/python/plexus "$dir/plexus"
rm -f "$dir"/plexus/_plexus*.so
cp "$built" "$dir/plexus/_plexus.abi3.so"
