#!/usr/bin/env bash
# The embedded vector index against hnswlib on real sentence embeddings, in one run
# (see benches/src/bin/ann.rs for the protocol). Prints the tables of docs/benchmarks.md.
#
#   benches/ann.sh [--data ../shared/data]
#
# hnswlib comes from PyPI (compiled here with -march=native) into target/ann-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${OMNEX_ANN_VENV:-target/ann-venv}"
if ! "$VENV/bin/python" -c "import hnswlib, numpy" 2>/dev/null; then
  echo "installing the baseline (hnswlib, numpy) into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q numpy hnswlib
fi
cargo build -q --release -p omnex-benches --bin ann
exec ./target/release/ann --python "$VENV/bin/python" "$@"
