#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests.
#   scripts/pg-test.sh start   prints DATABASE_URL=postgres://postgres@127.0.0.1:PORT/postern_test
#   scripts/pg-test.sh stop    stops it and removes its directory
# Environment: PGTEST_DIR (default ${TMPDIR:-/tmp}/postern-pg), PGTEST_PORT (default 54329), PGBIN.
# As root, the server runs as the `postgres` OS user (initdb refuses root).
set -euo pipefail
find_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return; }; done
  dirname "$(command -v initdb)"
}
PGBIN="${PGBIN:-$(find_bindir)}"
PGTEST_DIR="${PGTEST_DIR:-${TMPDIR:-/tmp}/postern-pg}"
PGTEST_PORT="${PGTEST_PORT:-54329}"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cd /
case "${1:-}" in
start)
  mkdir -p "$PGTEST_DIR"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PGTEST_DIR"; fi
  cd "$PGTEST_DIR"
  [ -f data/PG_VERSION ] || as_pg "$PGBIN/initdb" -D "$PGTEST_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PGTEST_DIR/initdb.log"
  if ! as_pg "$PGBIN/pg_ctl" -D "$PGTEST_DIR/data" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$PGTEST_DIR/data" -l "$PGTEST_DIR/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $PGTEST_PORT -k $PGTEST_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" start >/dev/null
  fi
  as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGTEST_PORT" -U postgres postern_test 2>/dev/null || true
  echo "DATABASE_URL=postgres://postgres@127.0.0.1:$PGTEST_PORT/postern_test"
  ;;
stop)
  if [ -d "$PGTEST_DIR/data" ]; then as_pg "$PGBIN/pg_ctl" -D "$PGTEST_DIR/data" -m fast -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$PGTEST_DIR"
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
