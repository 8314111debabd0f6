#!/usr/bin/env bash
# A second, throw-away PostgreSQL server (with pgvector) that the fault tests stop and
# start while Omnex keeps writing: the "vector backend going down".
#
#   scripts/pg-fault-server.sh init DIR PORT   # create the cluster in DIR (owned by postgres)
#   scripts/pg-fault-server.sh start|stop      # uses the DIR and PORT given to init
#   scripts/pg-fault-server.sh destroy
#
# Runs the server as the postgres user (PostgreSQL refuses root).
set -euo pipefail
state="${OMNEX_PG_FAULT_STATE:-/tmp/omnex-pg-fault.state}"
major=$(ls /usr/lib/postgresql | sort -n | tail -1)
bin="/usr/lib/postgresql/$major/bin"

as_postgres() {
    if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

case "${1:-}" in
    init)
        dir="$2"; port="$3"
        mkdir -p "$dir" && chown postgres "$dir" && chmod 700 "$dir"
        as_postgres "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
        printf '%s %s\n' "$dir" "$port" > "$state"
        ;;
    start)
        read -r dir port < "$state"
        as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
        ;;
    stop)
        read -r dir port < "$state"
        # Immediate: the server dies as in a crash, connections drop mid-request.
        as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
        ;;
    destroy)
        [ -f "$state" ] || exit 0
        read -r dir port < "$state"
        as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
        rm -rf "$dir" "$state"
        ;;
    *) echo "usage: $0 init DIR PORT | start | stop | destroy" >&2; exit 2 ;;
esac
