#!/usr/bin/env bash
# Ingest through the HTTP API against the local embedder alone, in one run: 10,000
# real sentences embedded in-process (the baseline), then posted without embeddings
# to `omnex serve` on a fresh data directory, which embeds, stores and indexes them.
#
#   benches/ingest.sh                      # OMNEX_INGEST_COUNT=10000, batches of 100
#
# Prints a Markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ADDR=127.0.0.1:18081
DATA="${OMNEX_DATA:-../shared/data}"
cargo build --release --locked -q -p omnex --bin omnex -p omnex-benches --bin ingest
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
target/release/omnex serve --data-dir "$work/data" --addr "$ADDR" --body-limit 67108864 \
    >/dev/null 2>"$work/serve.log" &
pid=$!
for _ in $(seq 1 600); do
    curl -fsS "http://$ADDR/readyz" >/dev/null 2>&1 && break
    sleep 0.5
done
target/release/ingest --url "http://$ADDR" --data "$DATA" \
    --count "${OMNEX_INGEST_COUNT:-10000}" --batch "${OMNEX_INGEST_BATCH:-100}"
