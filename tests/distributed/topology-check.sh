#!/bin/bash
# Checks the mesh and the storage nodes' databases on the test topology,
# without the node scripts: the whitelist is edited by hand (jq) here.
# Root only; about 20 s. Prints "N passed, N failed"; exits 1 on a failure.
#
#   tests/distributed/topology-check.sh [DIR]     (default: a new /tmp/topo-check.XXXXXX)
#
# What it proves:
#   - after `up` no node is peered: the coordinator's AllowedPublicKeys holds
#     only the placeholder, and the coordinator logs the refusals;
#   - whitelisting node1 and node2 and restarting the coordinator's yggdrasil
#     (YGGDRASIL_RESTART) peers them; rogue stays out and cannot reach
#     storage nodes;
#   - the coordinator's namespace reaches node1's PostgreSQL on its Yggdrasil
#     address with the password (and not with a wrong one, nor as postgres);
#   - node1's PostgreSQL refuses node2's Yggdrasil address (pg_hba.conf);
#   - through postgres_fdw, INSERT ... ON CONFLICT DO NOTHING is deduplicated
#     by events_data's unique index;
#   - an empty AllowedPublicKeys given to yggdrasil itself admits rogue (why
#     the entrypoint never leaves it empty), and the entrypoint puts a
#     placeholder back when the list was emptied.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
topo="$here/topology.sh"
[ "$(id -u)" = 0 ] || { echo "topology-check: run as root" >&2; exit 1; }
dir="${1:-$(mktemp -u /tmp/topo-check.XXXXXX)}"
passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
check() { local name="$1"; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else bad "$name"; fi; }
check_not() { local name="$1"; shift; if "$@" >/dev/null 2>&1; then bad "$name"; else ok "$name"; fi; }

cleanup() {
  [ -n "${extra_pid:-}" ] && kill "$extra_pid" 2>/dev/null
  "$topo" down "$dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$topo" up "$dir" || { echo "topology-check: up failed" >&2; exit 1; }
# shellcheck disable=SC1091
. "$dir/topology.env"
conf="$YGGDRASIL_CONFIG_DIR/yggdrasil.conf"
admin="${COORD_YGG_ADMIN#unix://}"

peer_keys() { yggdrasilctl -json -endpoint "unix://$1" getPeers 2>/dev/null | jq -r '.peers[]?.key' 2>/dev/null; }
is_peer() { peer_keys "$admin" | grep -qx "$1"; }
tcp_open() { ip netns exec "$1" timeout 5 bash -c "exec 3<>/dev/tcp/$2/$3"; }
psql_as() { # ns host password sql
  ip netns exec "$1" env PGPASSWORD="$3" PGCONNECT_TIMEOUT=10 \
    psql -X -q -At -h "$2" -p 5432 -U nostr_ts_relay -d nostr_ts_relay -c "$4"
}
set_allowed() { # jq program with $a $b
  local tmp
  tmp="$(mktemp)"
  jq --arg a "$NODE1_YGG_PUBKEY" --arg b "$NODE2_YGG_PUBKEY" "$1" "$conf" >"$tmp" && cat "$tmp" >"$conf"
  rm -f "$tmp"
}

# --- after up --------------------------------------------------------------
check "placeholder only in AllowedPublicKeys" \
  test "$(jq '.AllowedPublicKeys | length' "$conf")" = 1
check "nodes.json is {}" test "$(jq -c . "$YGGDRASIL_CONFIG_DIR/nodes.json")" = '{}'
sleep 1
check_not "node1 not peered before registration" is_peer "$NODE1_YGG_PUBKEY"
check "coordinator logs node1 refused" \
  grep -q "\"$NODE1_YGG_PUBKEY\" is not in AllowedPublicKeys" "$TOPO_DIR/coord/yggdrasil.log"
check "storage pg_hba.conf names the coordinator's address" \
  grep -q "nostr_ts_relay  $COORD_YGG_ADDR/128" "$TOPO_DIR/node1/pgdata/pg_hba.conf"

# --- whitelist node1 and node2 ------------------------------------------------
# shellcheck disable=SC2016  # jq variables
set_allowed '.AllowedPublicKeys += [$a, $b]'
check "YGGDRASIL_RESTART" "$YGGDRASIL_RESTART"
# Both nodes were refused before: yggdrasil 0.4.7 dials them again only once a
# minute, so peering may take up to 60 s after the restart.
check "node1 peers" "$topo" wait-peer "$TOPO_DIR" node1 75
check "node2 peers" "$topo" wait-peer "$TOPO_DIR" node2 75
check "coordinator -> node1 PostgreSQL with the password" \
  test "$(psql_as "$NS_COORD" "$NODE1_YGG_ADDR" "$NODE1_DB_PASSWORD" 'SELECT current_user')" = nostr_ts_relay
check_not "coordinator -> node1 with a wrong password" \
  psql_as "$NS_COORD" "$NODE1_YGG_ADDR" wrong 'SELECT 1'
check_not "coordinator -> node1 as postgres" \
  ip netns exec "$NS_COORD" env PGPASSWORD=x PGCONNECT_TIMEOUT=10 psql -X -h "$NODE1_YGG_ADDR" -U postgres -d postgres -c 'SELECT 1'
check "node2 reaches node1's port through the coordinator" tcp_open "$NS_NODE2" "$NODE1_YGG_ADDR" 5432
check_not "node1 PostgreSQL refuses node2 (pg_hba.conf)" \
  psql_as "$NS_NODE2" "$NODE1_YGG_ADDR" "$NODE1_DB_PASSWORD" 'SELECT 1'
check "node1 logs the refusal of node2's address" \
  grep -q "pg_hba.conf rejects connection for host \"$NODE2_YGG_ADDR\"" "$TOPO_DIR/node1/postgres.log"
sleep 1
check_not "rogue not peered" is_peer "$ROGUE_YGG_PUBKEY"
check "coordinator logs rogue refused after the restart" \
  bash -c "tail -n 20 '$TOPO_DIR/coord/yggdrasil.log' | grep -q '\"$ROGUE_YGG_PUBKEY\" is not in AllowedPublicKeys'"
check_not "rogue cannot reach node1" tcp_open "$NS_ROGUE" "$NODE1_YGG_ADDR" 5432
check_not "rogue cannot reach the coordinator's Yggdrasil address" tcp_open "$NS_ROGUE" "$COORD_YGG_ADDR" 12345

# --- postgres_fdw from the coordinator's cluster ---------------------------------
fdw_out="$(psql -X -q -At -v ON_ERROR_STOP=1 -h "$COORD_PG_SOCKET" -p "$COORD_PG_PORT" -U nostr_ts_relay -d nostr_ts_relay \
  -v host="$NODE1_YGG_ADDR" -v pw="$NODE1_DB_PASSWORD" 2>&1 <<'SQL'
SELECT format('CREATE SERVER check_node1 FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %L, port ''5432'', dbname ''nostr_ts_relay'')', :'host') \gexec
SELECT format('CREATE USER MAPPING FOR nostr_ts_relay SERVER check_node1 OPTIONS (user ''nostr_ts_relay'', password %L)', :'pw') \gexec
CREATE FOREIGN TABLE check_events (
  id uuid, event_id bytea NOT NULL, event_pubkey bytea NOT NULL, event_kind integer NOT NULL,
  event_created_at integer NOT NULL, event_content text NOT NULL, event_tags jsonb NOT NULL,
  event_signature bytea NOT NULL, first_seen timestamp NOT NULL, deleted_at timestamp,
  event_deduplication jsonb, remote_address inet, expires_at integer)
  SERVER check_node1 OPTIONS (table_name 'events_data');
INSERT INTO check_events VALUES (gen_random_uuid(), '\x01', '\x02', 1, 100, 'x', '[]', '\x03', now(), NULL, NULL, NULL, NULL) ON CONFLICT DO NOTHING;
INSERT INTO check_events VALUES (gen_random_uuid(), '\x01', '\x02', 1, 100, 'x', '[]', '\x03', now(), NULL, NULL, NULL, NULL) ON CONFLICT DO NOTHING;
SELECT count(*) FROM check_events;
SQL
)"
check "postgres_fdw insert deduplicated by the remote unique index (count 1)" test "$(tail -n 1 <<<"$fdw_out")" = 1

# --- an empty whitelist --------------------------------------------------------------
# yggdrasil itself with AllowedPublicKeys [] (not through the entrypoint).
read -r cpid _ <"$TOPO_DIR/coord/yggdrasil.pid"
kill "$cpid"
for _ in $(seq 50); do [ -d "/proc/$cpid" ] || break; sleep 0.1; done
rm -f "$TOPO_DIR/coord/yggdrasil.pid"
jq --arg s "$TOPO_DIR/coord/empty.sock" '.AllowedPublicKeys = [] | .AdminListen = "unix://" + $s' "$conf" >"$TOPO_DIR/coord/empty.conf"
ip netns exec "$NS_COORD" yggdrasil -useconffile "$TOPO_DIR/coord/empty.conf" >"$TOPO_DIR/coord/empty.log" 2>&1 &
extra_pid=$!
got=1
for _ in $(seq 50); do
  if peer_keys "$TOPO_DIR/coord/empty.sock" | grep -qx "$ROGUE_YGG_PUBKEY"; then got=0; break; fi
  sleep 0.2
done
check "yggdrasil 0.4.7 with AllowedPublicKeys [] admits rogue" test "$got" = 0
kill "$extra_pid" 2>/dev/null
wait "$extra_pid" 2>/dev/null
extra_pid=
# The entrypoint never lets it be empty.
# shellcheck disable=SC2016
set_allowed '.AllowedPublicKeys = []'
check "YGGDRASIL_RESTART with an emptied list" "$YGGDRASIL_RESTART"
check "entrypoint put a placeholder back" test "$(jq '.AllowedPublicKeys | length' "$conf")" = 1
sleep 2
check_not "rogue not peered with the placeholder" is_peer "$ROGUE_YGG_PUBKEY"
check_not "node1 not peered any more" is_peer "$NODE1_YGG_PUBKEY"

echo "topology-check: $passed passed, $failed failed"
[ "$failed" = 0 ]
