#!/usr/bin/env bash
# Local embedder against the Python baseline (sentence-transformers on PyTorch CPU),
# on the same inputs, on this machine, in one run. Prints a table of both and the ratio.
#
#   benches/embed-vs-python.sh
#
# The baseline's virtual environment lives outside the repository
# (default ~/.cache/omnex/baseline-venv; PyTorch from PyPI is several GB).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${OMNEX_BASELINE_VENV:-$HOME/.cache/omnex/baseline-venv}"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import sentence_transformers" 2>/dev/null; then
  echo "installing the baseline (sentence-transformers, torch) into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q sentence-transformers torch
fi
MODEL_DIR="$(cargo run -q --release --bin omnex -- model)"
echo "==> Python baseline" >&2
HF_HUB_OFFLINE=1 "$VENV/bin/python" benches/python/embed_baseline.py "$MODEL_DIR" > target/embed-baseline.json
echo "==> Rust (criterion)" >&2
cargo bench -q -p omnex-benches --bench embed >&2
python3 - <<'PY'
import json
base = json.load(open("target/embed-baseline.json"))
def rust(group, param):
    est = json.load(open(f"target/criterion/{group}/{param}/new/estimates.json"))
    return est["mean"]["point_estimate"] / 1e9  # seconds per iteration
print(f"| input | batch | Omnex (sentences/s) | Python baseline (sentences/s) | ratio |")
print(f"|---|---|---|---|---|")
for kind in ("short", "paragraph"):
    for b in ("1", "8", "32", "128"):
        r = int(b) / rust(f"embed_{kind}", b)
        p = base[kind][b]
        print(f"| {kind} | {b} | {r:.1f} | {p:.1f} | {r/p:.2f}x |")
lat = rust("single_short_query_latency", "") if False else json.load(open("target/criterion/single_short_query_latency/new/estimates.json"))["median"]["point_estimate"] / 1e6
print(f"\nsingle short query: Omnex {lat:.2f} ms (median), Python baseline {base['single_query_ms']['p50']:.2f} ms (median)")
PY
