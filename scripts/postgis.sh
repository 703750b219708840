#!/usr/bin/env bash
# PostgreSQL + PostGIS for the benchmark (scripts/bench.py --postgis): Debian's packages, and a
# private throw-away cluster listening on 127.0.0.1 only, in a folder of its own.
#
# Usage:
#   bash scripts/postgis.sh install          # apt-get install postgresql + postgis (no-op if present)
#   bash scripts/postgis.sh start DIR PORT   # initdb DIR (if new) and start it on 127.0.0.1:PORT
#   bash scripts/postgis.sh stop DIR         # stop the cluster in DIR (fast shutdown)
#   bash scripts/postgis.sh bindir           # print the PostgreSQL bin folder in use
#
# initdb refuses to run as root: as root the cluster runs as the `postgres` user (created by the
# Debian package) through runuser, and DIR is handed to that user. Authentication is `trust` on
# 127.0.0.1 and the socket lives in DIR, so nothing outside DIR is touched. The cluster is tuned
# for a throw-away benchmark (fsync, synchronous_commit and full_page_writes off): never point it
# at data you want to keep.
set -euo pipefail

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$d" ] && [ -x "$d/initdb" ] || return 1
  echo "$d"
}

has_postgis() {
  local d major
  d=$(bindir) || return 1
  major=$(basename "$(dirname "$d")")
  ls /usr/share/postgresql/"$major"/extension/postgis.control >/dev/null 2>&1
}

as_owner() {
  # Run a command as the cluster owner: postgres when we are root, ourselves otherwise.
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

cmd="${1:-}"
case "$cmd" in
  install)
    if has_postgis; then
      echo "postgis.sh: PostgreSQL $(basename "$(dirname "$(bindir)")") with PostGIS already installed"
      exit 0
    fi
    if [ "$(id -u)" != 0 ]; then
      echo "postgis.sh: installing needs root (apt-get)" >&2
      exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    major=$(basename "$(dirname "$(bindir)")")
    apt-get install -y -qq "postgresql-${major}-postgis-3" >/dev/null
    has_postgis || { echo "postgis.sh: PostGIS not found after install" >&2; exit 1; }
    echo "postgis.sh: installed PostgreSQL ${major} with PostGIS"
    ;;
  start)
    dir="${2:?usage: postgis.sh start DIR PORT}"
    port="${3:?usage: postgis.sh start DIR PORT}"
    bin=$(bindir) || { echo "postgis.sh: PostgreSQL not installed (run: postgis.sh install)" >&2; exit 1; }
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || { echo "postgis.sh: no postgres user" >&2; exit 1; }
      chown postgres: "$dir"
      chmod 700 "$dir"
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" --pgdata="$dir/data" --username=postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_owner "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait --timeout=60 \
      -o "-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} \
          -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
          -c shared_buffers=1GB -c work_mem=256MB -c maintenance_work_mem=1GB \
          -c max_wal_size=8GB -c checkpoint_timeout=30min" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgis.sh: cluster in $dir listening on 127.0.0.1:${port}"
    ;;
  stop)
    dir="${2:?usage: postgis.sh stop DIR}"
    bin=$(bindir) || exit 0
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$bin/pg_ctl" --pgdata="$dir/data" --mode=fast --wait stop >/dev/null
    fi
    ;;
  bindir)
    bindir
    ;;
  *)
    sed -n '2,15p' "$0" >&2
    exit 2
    ;;
esac
