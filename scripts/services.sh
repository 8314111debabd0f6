#!/usr/bin/env bash
# The servers the scale-out tests talk to: PostgreSQL (with pgvector) and Redis on
# this machine. Sourced by scripts/test; each function starts or installs what is
# missing, so a fresh Debian machine needs nothing beforehand.
#
#   ensure_postgres   PostgreSQL answering on 127.0.0.1:5432 (installed and started if needed)
#   ensure_pgvector   the pgvector extension available to that server
#   ensure_redis      Redis answering on 127.0.0.1:6379
#   fresh_database    creates a throw-away database and prints its URL

PG_HOST="${OMNEX_PG_HOST:-127.0.0.1}"
PG_PORT="${OMNEX_PG_PORT:-5432}"
PG_USER="${OMNEX_PG_USER:-postgres}"
REDIS_PORT="${OMNEX_REDIS_PORT:-6379}"
PGVECTOR_VERSION=0.8.0

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    echo "    installing $* (Debian packages)" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 \
        || { as_root apt-get update -q >&2 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2; }
}

wait_for() { # seconds, command...
    local n=$1; shift
    for _ in $(seq 1 "$((n * 4))"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
    return 1
}

psql_do() {
    psql -v ON_ERROR_STOP=1 -qtA -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$@"
}

ensure_postgres() {
    command -v psql >/dev/null && command -v pg_isready >/dev/null || apt_install postgresql
    if pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then return 0; fi
    echo "    PostgreSQL is not answering on $PG_HOST:$PG_PORT; starting it" >&2
    if command -v pg_ctlcluster >/dev/null && [ -n "$(pg_lsclusters -h 2>/dev/null)" ]; then
        pg_lsclusters -h | while read -r ver name _; do as_root pg_ctlcluster "$ver" "$name" start >&2 || true; done
    else
        as_root service postgresql start >&2 || true
    fi
    wait_for 30 pg_isready -q -h "$PG_HOST" -p "$PG_PORT" \
        || { echo "PostgreSQL did not start on $PG_HOST:$PG_PORT" >&2; return 1; }
}

# The major version of the running server (15 for 15.x).
pg_major() {
    psql_do -d postgres -c "SHOW server_version_num" | awk '{ print int($1 / 10000) }'
}

ensure_pgvector() {
    local has
    has=$(psql_do -d postgres -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")
    # OMNEX_FORCE_PGVECTOR_BUILD=1 builds and installs it again (to test this path).
    [ "$has" = "1" ] && [ -z "${OMNEX_FORCE_PGVECTOR_BUILD:-}" ] && return 0
    local major; major=$(pg_major)
    echo "    building pgvector $PGVECTOR_VERSION for PostgreSQL $major (Debian's source package)" >&2
    command -v make >/dev/null && command -v gcc >/dev/null || apt_install build-essential
    [ -x "/usr/lib/postgresql/$major/bin/pg_config" ] && [ -d "/usr/include/postgresql/$major/server" ] \
        || apt_install "postgresql-server-dev-$major"
    # Debian bookworm ships no pgvector; its source package comes from the next release.
    local work; work="$(pwd)/target/pgvector-build"
    rm -rf "$work" && mkdir -p "$work/lists/partial"
    cat > "$work/sources.list" <<SRC
deb-src http://deb.debian.org/debian trixie main
SRC
    local apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
                    -o "Dir::State::Lists=$work/lists" -o Acquire::Languages=none)
    apt-get "${apt_opts[@]}" update -q >&2
    (cd "$work" && apt-get "${apt_opts[@]}" source --download-only "pgvector=$PGVECTOR_VERSION-1" >&2 2>&1) \
        || (cd "$work" && apt-get "${apt_opts[@]}" source --download-only pgvector >&2 2>&1)
    local orig; orig=$(ls "$work"/pgvector_*.orig.tar.* | head -1)
    tar -xf "$orig" -C "$work"
    local src; src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -1)
    # OPTFLAGS="" builds for any x86-64, not just this CPU.
    make -C "$src" -s -j2 OPTFLAGS="" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" >&2
    as_root make -C "$src" -s install PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" >&2
    has=$(psql_do -d postgres -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")
    [ "$has" = "1" ] || { echo "pgvector did not install" >&2; return 1; }
}

ensure_redis() {
    command -v redis-cli >/dev/null && command -v redis-server >/dev/null || apt_install redis-server
    if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then return 0; fi
    echo "    Redis is not answering on 127.0.0.1:$REDIS_PORT; starting it" >&2
    as_root service redis-server start >&2 2>&1 \
        || redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >&2
    wait_for 15 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping \
        || { echo "Redis did not start on 127.0.0.1:$REDIS_PORT" >&2; return 1; }
}

# Creates a database for this run (with pgvector) and prints its URL.
fresh_database() {
    local name="omnex_test_$(date +%s)_$$"
    psql_do -d postgres -c "CREATE DATABASE $name" >/dev/null
    psql_do -d "$name" -c "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null
    echo "postgres://$PG_USER@$PG_HOST:$PG_PORT/$name"
}

drop_database() { # url
    local name="${1##*/}"
    psql_do -d postgres -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
}
