#!/usr/bin/env bash
# HTTP load benchmark: `omnex serve` against a minimal axum JSON handler (the
# ceiling), both driven by wrk in the same run on the same machine.
#
#   benches/http-load.sh            # 10k and 100k memories, 10 s per measurement
#   OMNEX_BENCH_SIZES=10000 OMNEX_BENCH_DURATION=5s benches/http-load.sh
#   OMNEX_BENCH_ONLY=context benches/http-load.sh   # the ceiling and GET context only
#   OMNEX_BENCH_BIN=/path/to/bin benches/http-load.sh  # binaries built before (no build)
#   OMNEX_BENCH_ADDR=127.0.0.1:28080 OMNEX_BENCH_CEILING_ADDR=127.0.0.1:28090 benches/http-load.sh
#
# Prints a Markdown table (requests/s, p50, p99) for docs/benchmarks.md. The last
# measurement of each size makes an API key (which closes the server to requests
# without one) and reads the context with it: what authentication costs.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES="${OMNEX_BENCH_SIZES:-10000 100000}"
DURATION="${OMNEX_BENCH_DURATION:-10s}"
ONLY="${OMNEX_BENCH_ONLY:-}"
CEILING_ADDR="${OMNEX_BENCH_CEILING_ADDR:-127.0.0.1:18090}"
OMNEX_ADDR="${OMNEX_BENCH_ADDR:-127.0.0.1:18080}"

if ! command -v wrk >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get install -y -q wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
    else
        echo "wrk is needed: install it (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk)" >&2
        exit 1
    fi
fi

if [ -n "${OMNEX_BENCH_BIN:-}" ]; then
    bin="$OMNEX_BENCH_BIN"
else
    cargo build --release --locked -q -p omnex --bin omnex
    cargo build --release --locked -q -p omnex-benches --bin http_ceiling --bin http_seed
    bin=target/release
fi

# A server already there would answer in place of the one measured.
for addr in "$CEILING_ADDR" "$OMNEX_ADDR"; do
    if curl -s -o /dev/null "http://$addr/"; then
        echo "$addr is in use: stop what listens there, or set OMNEX_BENCH_ADDR / OMNEX_BENCH_CEILING_ADDR" >&2
        exit 1
    fi
done

work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

wait_ready() {
    for _ in $(seq 1 600); do
        curl -fsS "$1" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "server at $1 did not become ready" >&2
    exit 1
}

# measure LABEL CONNECTIONS URL [wrk args...] -> one Markdown row
measure() {
    local label="$1" conns="$2" url="$3"
    shift 3
    local out
    out="$(wrk -t1 -c"$conns" -d"$DURATION" --latency "$@" "$url")"
    if grep -q "Non-2xx" <<<"$out"; then
        echo "$out" >&2
        echo "error: $label got non-2xx responses" >&2
        exit 1
    fi
    local rps p50 p99
    rps="$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    printf '| %s | %s | %s | %s | %s |\n' "$label" "$conns" "$rps" "$p50" "$p99"
    echo "$rps" >"$work/last_rps"
}

echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >&2
echo
echo "| measurement | connections | requests/s | p50 | p99 |"
echo "|---|---|---|---|---|"

"$bin/http_ceiling" "$CEILING_ADDR" >/dev/null &
pids+=($!)
wait_ready "http://$CEILING_ADDR/json"
measure "ceiling: minimal axum JSON handler" 32 "http://$CEILING_ADDR/json"
ceiling_rps="$(cat "$work/last_rps")"

python3 - "$work/vector.json" <<'PY'
import json, random, sys
random.seed(7)
v = [random.uniform(-1, 1) for _ in range(384)]
json.dump({"vector": v, "namespace": "bench", "limit": 10}, open(sys.argv[1], "w"))
PY
echo '{"query":"what did user 3 note about item 42?","namespace":"bench","limit":10}' >"$work/text.json"

for n in $SIZES; do
    data="$work/data-$n"
    OMNEX_LOG="${OMNEX_LOG:-info}" "$bin/omnex" serve --data-dir "$data" --addr "$OMNEX_ADDR" \
        --body-limit 67108864 >/dev/null 2>"$work/serve-$n.log" &
    pids+=($!)
    wait_ready "http://$OMNEX_ADDR/readyz"
    "$bin/http_seed" "http://$OMNEX_ADDR" "$n" >&2
    curl -fsS -X PUT "http://$OMNEX_ADDR/api/v1/contexts/bench/settings" -H 'content-type: application/json' \
        -d '{"value":{"theme":"dark","language":"en","notifications":true},"tags":["ui"]}' >/dev/null
    measure "omnex ($n memories): GET context" 32 "http://$OMNEX_ADDR/api/v1/contexts/bench/settings"
    ratio="$(awk -v a="$(cat "$work/last_rps")" -v b="$ceiling_rps" 'BEGIN {printf "%.0f", 100 * a / b}')"
    echo "  GET context at $n memories: ${ratio}% of the ceiling" >&2
    keyed_context() {
        local key
        key="$(curl -fsS -X POST "http://$OMNEX_ADDR/api/v1/keys" -H 'content-type: application/json' \
            -d '{"name":"bench","permission":"read"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')"
        measure "omnex ($n memories): GET context with an API key" 32 \
            "http://$OMNEX_ADDR/api/v1/contexts/bench/settings" -H "Authorization: Bearer $key"
        ratio="$(awk -v a="$(cat "$work/last_rps")" -v b="$ceiling_rps" 'BEGIN {printf "%.0f", 100 * a / b}')"
        echo "  GET context with an API key at $n memories: ${ratio}% of the ceiling" >&2
    }
    if [ "$ONLY" = context ]; then
        keyed_context
        kill "${pids[-1]}"
        wait "${pids[-1]}" 2>/dev/null || true
        unset 'pids[-1]'
        continue
    fi
    measure "omnex ($n memories): search by text, a new query each time" 1 "http://$OMNEX_ADDR" \
        -s benches/http/search-text.lua
    BODY_FILE="$work/text.json" measure "omnex ($n memories): search by text, repeated query (embedding cached)" 1 \
        "http://$OMNEX_ADDR/api/v1/memories/search" -s benches/http/post-body.lua
    BODY_FILE="$work/vector.json" measure "omnex ($n memories): search by vector" 1 \
        "http://$OMNEX_ADDR/api/v1/memories/search" -s benches/http/post-body.lua
    keyed_context
    kill "${pids[-1]}"
    wait "${pids[-1]}" 2>/dev/null || true
    unset 'pids[-1]'
done
