#!/bin/bash
# nostream-db entrypoint. On the first start (empty $PGDATA) it runs initdb,
# then creates the role POSTGRES_USER (password POSTGRES_PASSWORD, required),
# the database POSTGRES_DB owned by it, and the postgres_fdw extension in that
# database, with USAGE on it granted to the role. Then PostgreSQL runs in the
# foreground as the postgres user.
#
# Authentication: unix socket trust (inside the container only), TCP
# scram-sha-256 from anywhere. The superuser 'postgres' has no password, so
# it can log in through the socket only (docker exec).
#
# Environment: POSTGRES_USER (postgres), POSTGRES_PASSWORD (required on the
# first start), POSTGRES_DB (= POSTGRES_USER), POSTGRES_LISTEN ('*'),
# PGPORT (5432), PGDATA (/var/lib/postgresql/data).
set -euo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_PASSWORD:=}"
: "${POSTGRES_LISTEN:=*}"
export PGDATA

log() { printf 'nostream-db: %s\n' "$*" >&2; }

# Only `postgres ...` is handled here; anything else (bash, psql) just runs.
if [ "${1:-}" != postgres ]; then exec "$@"; fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  if [ "$(stat -c %U "$PGDATA")" != postgres ]; then chown -R postgres:postgres "$PGDATA"; fi
  chown postgres:postgres /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "$POSTGRES_PASSWORD" ]; then
    log "POSTGRES_PASSWORD must be set on the first start (it becomes the password of $POSTGRES_USER)"
    exit 1
  fi
  log "initdb in $PGDATA"
  initdb -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  {
    echo "# nostream-db: socket inside the container trusted, TCP needs a password."
    echo "local all all                trust"
    echo "host  all all 0.0.0.0/0      scram-sha-256"
    echo "host  all all ::/0           scram-sha-256"
  } >"$PGDATA/pg_hba.conf"
fi

# Roles, database and extension until they are made once (idempotent, so an
# interrupted first start is completed on the next one).
if [ ! -e "$PGDATA/nostream-initialized" ]; then
  sock="$(mktemp -d)"
  log "creating role $POSTGRES_USER, database $POSTGRES_DB, extension postgres_fdw"
  # A temporary server on a private socket: the health check (TCP) stays red.
  pg_ctl -D "$PGDATA" -w -t 60 -s start \
    -o "-c listen_addresses='' -c unix_socket_directories='$sock'"
  psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -U postgres -d postgres \
    -v user="$POSTGRES_USER" -v db="$POSTGRES_DB" -v pw="$POSTGRES_PASSWORD" >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT format('CREATE ROLE %I LOGIN', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'user', :'pw') WHERE :'pw' <> '' \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
\connect :"db"
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO :"user";
SQL
  pg_ctl -D "$PGDATA" -w -t 60 -s stop -m fast
  rmdir "$sock" 2>/dev/null || true
  date -u +%FT%TZ >"$PGDATA/nostream-initialized"
  log "initialized"
fi

shift
exec postgres -D "$PGDATA" -c listen_addresses="$POSTGRES_LISTEN" "$@"
