#!/usr/bin/env bash
# The Python binding's per-call cost against plain Python and two shared-memory dict
# packages (see bench.py). Builds the extension (release) from this checkout, stages the
# package in a temporary directory, and makes a private venv (benches/bindings/python/.venv)
# with UltraDict and shared-memory-dict; without PyPI those rows are skipped with a
# message. Usage: bash benches/bindings/python/run.sh [bench.py options, e.g. --quick]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
bash "$here/stage.sh" "$stage"

py=python3
venv="$here/.venv"
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv" >&2 || rm -rf "$venv"
fi
if [[ -x $venv/bin/python ]]; then
  "$venv/bin/pip" install -q UltraDict shared-memory-dict >&2 ||
    echo "bench: pip could not install UltraDict / shared-memory-dict (offline?): their rows are skipped" >&2
  py=$venv/bin/python
fi
PYTHONPATH="$stage" "$py" "$here/bench.py" "$@"
