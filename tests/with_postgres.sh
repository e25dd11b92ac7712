#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster: initdb + pg_ctl in a temp dir on a free port.
# The cluster is owned by the `postgres` user when we are root (initdb refuses root), and it is stopped
# on exit, even when the command fails. Without PostgreSQL binaries it falls back to SQLite (with CI=true it fails).
set -u

find_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
}

BINDIR=$(find_bindir)
if [ -z "$BINDIR" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "amoerp: no PostgreSQL server binaries found and CI=true: refusing to fall back to SQLite." >&2
    echo "amoerp: install them with 'apt-get install postgresql' (Debian)." >&2
    exit 1
  fi
  echo "amoerp: no PostgreSQL server binaries found; install them with 'apt-get install postgresql' (Debian)."
  echo "amoerp: falling back to SQLite; PostgreSQL-only tests will be skipped."
  export DATABASE_URL="sqlite:///$(mktemp -d)/test.sqlite3"
  echo "amoerp: database: SQLite ($DATABASE_URL)"
  exec "$@"
fi

PGROOT=$(mktemp -d /tmp/amoerp-pg.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RUN=()
if [ "$(id -u)" = "0" ]; then
  chown postgres: "$PGROOT"
  chmod 755 "$PGROOT"
  RUN=(runuser -u postgres --)
fi

cleanup() {
  "${RUN[@]}" "$BINDIR/pg_ctl" -D "$PGROOT/data" -m immediate stop >/dev/null 2>&1
  rm -rf "$PGROOT"
}
trap cleanup EXIT INT TERM

"${RUN[@]}" "$BINDIR/initdb" -D "$PGROOT/data" -U amoerp --auth=trust -E UTF8 --locale=C.UTF-8 >"$PGROOT/initdb.log" 2>&1 \
  || { cat "$PGROOT/initdb.log"; exit 1; }
PGOPTS="-p $PORT -k $PGROOT -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=256MB"
"${RUN[@]}" "$BINDIR/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/server.log" -w -t 60 -o "$PGOPTS" start >/dev/null \
  || { cat "$PGROOT/server.log"; exit 1; }

export DATABASE_URL="postgres://amoerp@127.0.0.1:$PORT/postgres"
# `$AMOERP_TEST_PG_CTL stop|start|restart`: tests and the pilot take this cluster away and bring it back (fast
# shutdown: every connection cut; it starts again with the same options).
printf '#!/bin/sh\nexec %s "%s/pg_ctl" -D "%s/data" -l "%s/server.log" -m fast -w -t 60 -o "%s" "$1" >/dev/null\n' \
  "${RUN[*]:-}" "$BINDIR" "$PGROOT" "$PGROOT" "$PGOPTS" >"$PGROOT/pgctl.sh"
chmod 755 "$PGROOT/pgctl.sh"
export AMOERP_TEST_PG_CTL="$PGROOT/pgctl.sh"
echo "amoerp: database: PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (throwaway cluster in $PGROOT)"
"$@"
rc=$?
exit $rc
