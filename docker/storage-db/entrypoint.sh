#!/bin/bash
# A storage node's PostgreSQL (service storage-db of
# docker-compose.storage.yml, or natively: tests/distributed/topology.sh).
#
# First start (empty PGDATA): initdb. Every start:
#   - writes $PGDATA/pg_hba.conf from storage/pg_hba.conf with the
#     coordinator's Yggdrasil address filled in (COORDINATOR_YGGDRASIL_ADDRESS,
#     else derived from COORDINATOR_PUBLIC_KEY);
#   - copies storage/postgresql.conf to $PGDATA/nostream-storage.conf,
#     included from $PGDATA/postgresql.conf;
#   - on a temporary server reachable by nobody (no TCP, a private socket):
#     creates the role nostr_ts_relay (password STORAGE_DB_PASSWORD, set
#     again each time) and the database nostr_ts_relay owned by it, then runs
#     scripts/storage-init.sql as that role (idempotent);
#   - runs PostgreSQL in the foreground (as the postgres user when started
#     as root); extra arguments are passed to it ("-c name=value").
#
# Environment (defaults are for a native run from the repository; the image
# sets the paths of the container):
#   STORAGE_DB_PASSWORD            (required) password of nostr_ts_relay
#   COORDINATOR_PUBLIC_KEY         the coordinator's yggdrasil public key, or
#   COORDINATOR_YGGDRASIL_ADDRESS  its address (wins when both are set)
#   PGDATA                         /var/lib/postgresql/data
#   PGPORT                         5432
#   STORAGE_LISTEN_ADDRESSES       *
#   STORAGE_SOCKET_DIR             /var/run/postgresql
#   STORAGE_CONFIG_DIR             <repo>/storage     (image: /etc/nostream-storage)
#   STORAGE_INIT_SQL               <repo>/scripts/storage-init.sql
#                                  (image: /docker-entrypoint-initdb.d/storage-init.sql)
#   STORAGE_PG_BINDIR              directory of initdb in PATH, else
#                                  /usr/lib/postgresql/15/bin
set -euo pipefail

log() { printf 'storage-db: %s\n' "$*" >&2; }
die() { printf 'storage-db: error: %s\n' "$*" >&2; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd "$here/../.." && pwd -P)"

: "${STORAGE_DB_PASSWORD:=}"
: "${COORDINATOR_PUBLIC_KEY:=}"
: "${COORDINATOR_YGGDRASIL_ADDRESS:=}"
: "${PGDATA:=/var/lib/postgresql/data}"
: "${PGPORT:=5432}"
: "${STORAGE_LISTEN_ADDRESSES:=*}"
: "${STORAGE_SOCKET_DIR:=/var/run/postgresql}"
: "${STORAGE_CONFIG_DIR:=$repo/storage}"
: "${STORAGE_INIT_SQL:=$repo/scripts/storage-init.sql}"
if [ -z "${STORAGE_PG_BINDIR:-}" ]; then
  if command -v initdb >/dev/null 2>&1; then
    STORAGE_PG_BINDIR="$(dirname "$(command -v initdb)")"
  else
    STORAGE_PG_BINDIR=/usr/lib/postgresql/15/bin
  fi
fi
DB=nostr_ts_relay
ROLE=nostr_ts_relay

# The yggdrasil address of a public key (yggdrasil 0.4's AddrForKey): invert
# the key's bits, count the leading ones, drop them and the first zero; the
# address is 0x02, that count, then the next 112 bits.
ygg_addr_for_key() {
  local key="${1,,}" bits="" i n ones=0 rest groups=() out="" best=-1 bestlen=0 run=0 start=0
  for ((i = 0; i < 64; i++)); do
    n=$((15 - 16#${key:i:1}))
    bits+="$(((n >> 3) & 1))$(((n >> 2) & 1))$(((n >> 1) & 1))$((n & 1))"
  done
  while [ "${bits:ones:1}" = 1 ]; do ones=$((ones + 1)); done
  rest="${bits:ones+1}000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
  groups[0]=$(((0x02 << 8) | (ones & 0xff)))
  for ((i = 1; i < 8; i++)); do groups[i]=$((2#${rest:(i - 1) * 16:16})); done
  # RFC 5952 text form: the longest run (2 groups or more) of zero groups
  # becomes "::", the first one on a tie.
  for ((i = 0; i <= 8; i++)); do
    if [ "$i" -lt 8 ] && [ "${groups[i]}" -eq 0 ]; then
      [ "$run" -eq 0 ] && start=$i
      run=$((run + 1))
    else
      if [ "$run" -ge 2 ] && [ "$run" -gt "$bestlen" ]; then best=$start; bestlen=$run; fi
      run=0
    fi
  done
  for ((i = 0; i < 8; i++)); do
    if [ "$i" -eq "$best" ]; then
      out+="::"
      i=$((i + bestlen - 1))
      continue
    fi
    [ -n "$out" ] && [ "${out: -1}" != ":" ] && out+=":"
    out+="$(printf '%x' "${groups[i]}")"
  done
  printf '%s\n' "$out"
}

# Only the "derive an address" helper, for tests: entrypoint.sh --address KEY
if [ "${1:-}" = --address ]; then
  [[ "${2:-}" =~ ^[0-9a-fA-F]{64}$ ]] || die "--address needs a 64-hex-digit public key"
  ygg_addr_for_key "$2"
  exit 0
fi

# --- checks -----------------------------------------------------------------
[ -n "$STORAGE_DB_PASSWORD" ] ||
  die "STORAGE_DB_PASSWORD is not set: the password of $ROLE on this node, given to the coordinator's operator"
if [ -n "$COORDINATOR_YGGDRASIL_ADDRESS" ]; then
  coord_addr="${COORDINATOR_YGGDRASIL_ADDRESS,,}"
  [[ "$coord_addr" =~ ^2[0-9a-f]{2}:[0-9a-f:]*$ && "$coord_addr" != *:::* ]] ||
    die "COORDINATOR_YGGDRASIL_ADDRESS must be the coordinator's Yggdrasil address, an IPv6 address in 200::/8 such as 200:abcd:1234::1 (got '$COORDINATOR_YGGDRASIL_ADDRESS')"
elif [ -n "$COORDINATOR_PUBLIC_KEY" ]; then
  [[ "$COORDINATOR_PUBLIC_KEY" =~ ^[0-9a-fA-F]{64}$ ]] ||
    die "COORDINATOR_PUBLIC_KEY must be a yggdrasil public key: 64 hexadecimal digits (got '$COORDINATOR_PUBLIC_KEY')"
  coord_addr="$(ygg_addr_for_key "$COORDINATOR_PUBLIC_KEY")"
else
  die "set COORDINATOR_PUBLIC_KEY (the coordinator's yggdrasil public key) or COORDINATOR_YGGDRASIL_ADDRESS: only that address may log in"
fi
if ! [[ "$PGPORT" =~ ^[1-9][0-9]{0,4}$ ]] || [ "$PGPORT" -gt 65535 ]; then
  die "PGPORT must be a TCP port 1-65535 (got '$PGPORT')"
fi
[[ "$STORAGE_LISTEN_ADDRESSES" != *"'"* ]] || die "STORAGE_LISTEN_ADDRESSES must not contain a quote"
for f in "$STORAGE_CONFIG_DIR/pg_hba.conf" "$STORAGE_CONFIG_DIR/postgresql.conf" "$STORAGE_INIT_SQL"; do
  [ -r "$f" ] || die "cannot read $f (STORAGE_CONFIG_DIR / STORAGE_INIT_SQL)"
done
hba_token="\${COORDINATOR_YGGDRASIL_ADDRESS}"
grep -qF "$hba_token" "$STORAGE_CONFIG_DIR/pg_hba.conf" ||
  die "$STORAGE_CONFIG_DIR/pg_hba.conf has no \${COORDINATOR_YGGDRASIL_ADDRESS} to fill in"
[ -x "$STORAGE_PG_BINDIR/postgres" ] || die "no PostgreSQL server in $STORAGE_PG_BINDIR (STORAGE_PG_BINDIR; apt-get install postgresql-15)"
export PATH="$STORAGE_PG_BINDIR:$PATH" PGDATA PGPORT
sock_file="$STORAGE_SOCKET_DIR/.s.PGSQL.$PGPORT"
[ "${#sock_file}" -le 107 ] || die "socket path $sock_file is longer than 107 bytes: choose a shorter STORAGE_SOCKET_DIR"

# Run as the postgres OS user (PostgreSQL refuses root).
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || die "no 'postgres' OS user to run PostgreSQL as"
  as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups env HOME="$PGDATA" "$@"; }
  mkdir -p "$PGDATA" "$STORAGE_SOCKET_DIR"
  [ "$(stat -c %U "$PGDATA")" = postgres ] || chown -R postgres:postgres "$PGDATA"
  chown postgres:postgres "$STORAGE_SOCKET_DIR"
else
  as_pg() { "$@"; }
  mkdir -p "$PGDATA" "$STORAGE_SOCKET_DIR"
fi
chmod 700 "$PGDATA" "$STORAGE_SOCKET_DIR"
if ! as_pg test -w "$PGDATA" || ! as_pg test -x "$STORAGE_SOCKET_DIR"; then
  die "$PGDATA or $STORAGE_SOCKET_DIR is not usable by the postgres user (its parents must be searchable)"
fi
cd /

# --- the cluster --------------------------------------------------------------
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -n "$(ls -A "$PGDATA")" ]; then die "$PGDATA is not empty but holds no cluster: empty it"; fi
  log "initdb in $PGDATA"
  as_pg initdb -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
fi

# Our settings and rules, rewritten on every start (the operator's own tuning
# goes in $PGDATA/postgresql.conf, after the include line or in postgresql.auto.conf).
install -m 600 /dev/null "$PGDATA/nostream-storage.conf.new"
cat "$STORAGE_CONFIG_DIR/postgresql.conf" >"$PGDATA/nostream-storage.conf.new"
mv "$PGDATA/nostream-storage.conf.new" "$PGDATA/nostream-storage.conf"
if ! grep -qx "include 'nostream-storage.conf'" "$PGDATA/postgresql.conf"; then
  printf '\n# storage node settings (docker/storage-db/entrypoint.sh)\ninclude '\''nostream-storage.conf'\''\n' \
    >>"$PGDATA/postgresql.conf"
fi
install -m 600 /dev/null "$PGDATA/pg_hba.conf.new"
sed "s/\${COORDINATOR_YGGDRASIL_ADDRESS}/$coord_addr/g" "$STORAGE_CONFIG_DIR/pg_hba.conf" >"$PGDATA/pg_hba.conf.new"
mv "$PGDATA/pg_hba.conf.new" "$PGDATA/pg_hba.conf"
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$PGDATA/nostream-storage.conf" "$PGDATA/pg_hba.conf" "$PGDATA/postgresql.conf"
fi
log "only $coord_addr (the coordinator) may log in over the network, as $ROLE"

# Role, database and table, on a server nobody else can reach.
tmpsock="$(mktemp -d /tmp/storage-db-init.XXXXXX)"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$tmpsock"
cleanup_tmp() {
  as_pg pg_ctl -D "$PGDATA" -w -t 60 -s stop -m fast >/dev/null 2>&1 || true
  rm -rf "$tmpsock"
}
trap cleanup_tmp EXIT
as_pg pg_ctl -D "$PGDATA" -w -t 120 -s -l "$tmpsock/pg_ctl.log" start \
  -o "-c listen_addresses='' -c unix_socket_directories='$tmpsock' -c port=$PGPORT" ||
  { cat "$tmpsock/pg_ctl.log" >&2 || true; die "the temporary server did not start"; }
as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$tmpsock" -U postgres -d postgres \
  -v role="$ROLE" -v db="$DB" -v pw="$STORAGE_DB_PASSWORD" >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER PASSWORD %L', :'role', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SQL
as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$tmpsock" -U "$ROLE" -d "$DB" \
  -c 'SET client_min_messages = warning' -f - >/dev/null <"$STORAGE_INIT_SQL" ||
  die "$STORAGE_INIT_SQL failed"
as_pg pg_ctl -D "$PGDATA" -w -t 60 -s stop -m fast
trap - EXIT
rm -rf "$tmpsock"
log "role $ROLE, database $DB and table events_data ready"

exec_args=(postgres -D "$PGDATA"
  -c "listen_addresses=$STORAGE_LISTEN_ADDRESSES"
  -c "port=$PGPORT"
  -c "unix_socket_directories=$STORAGE_SOCKET_DIR"
  "$@")
if [ "$(id -u)" = 0 ]; then
  exec setpriv --reuid=postgres --regid=postgres --init-groups env HOME="$PGDATA" "${exec_args[@]}"
fi
exec "${exec_args[@]}"
