#!/bin/bash
# End-to-end test of distributed storage on real hosts (docs/distributed.md,
# docs/distributed-scripts.md, the spec distributed-storage.md): the test
# topology (tests/distributed/topology.sh: a coordinator and three storage
# nodes in network namespaces, each with its own yggdrasil and PostgreSQL),
# the relay (build/nostream) in the root namespace on the coordinator's
# database, real WebSocket clients (e2e-client.mjs), and the node scripts run
# exactly as an operator would run them.
#
#   tests/distributed/e2e.test.sh          root; 65-100 s on 2 cores
#
# Layout of ranges (T0 = start of the run, T1 = T0 - 30 days, T2 = T0 - 1 day,
# T3 = T0 + 600 s; see README.md):
#   events_archive_node1  [0, T1)          historical archive   (later [0, CUT))
#   events_hot            [T1, T3)         the last month, now  (later [CUT, T3))
#   events_archive_node2  [T3, MAXVALUE)   "all future events"
# CUT = T1 + 100000 is where archive-events.sh moves node1's boundary.
#
# Phases: 1 topology up, 2 relay, 3 publish into every range,
# 4 register node1 (historical, moves rows) and node2 (future), 5 partitions
# and EXPLAIN, 6 read back (spanning, pruned, tags, replaceable) and new
# events placed on the right host, 7 archive 100k rows with kill -9 and a
# concurrent publisher and reader, 8 remove node1 and add it again, 9 bad
# invocations (rogue with a wrong key among them), 10 rogue never peered,
# 11 relay SIGTERM and topology down.
#
# Environment: TOPO_SUFFIX (default -e2e: namespaces ns-coord-e2e..., so that
# it runs beside topology-check.sh), E2E_TIMEOUT (600 s, the whole run),
# E2E_BULK (100000 rows archived), NOSTREAM_BIN (default build/nostream,
# built if missing), KEEP_TMP=1 (keep the work directory with the logs; the
# topology is taken down all the same).
#
# Network: loopback (relay, coordinator socket), the namespaces' fd42::
# veth addresses and Yggdrasil 200::/7 addresses inside them. Nothing else.
#
# Ends with "distributed-e2e: N passed, M failed"; exit 0 only when all passed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$HERE/../.." && pwd -P)"
# shellcheck source=tests/distributed/relay-start.sh
. "$HERE/relay-start.sh"
S="$REPO/scripts"
TOPO="$HERE/topology.sh"
CLIENT="$HERE/e2e-client.mjs"
export TOPO_SUFFIX="${TOPO_SUFFIX--e2e}"
E2E_TIMEOUT="${E2E_TIMEOUT:-600}"
BULK="${E2E_BULK:-100000}"
START=$(date +%s)

PASS=0; FAIL=0
say()  { printf '%s\n' "$*"; }
ok()   { PASS=$(( PASS + 1 )); printf 'ok %d - %s\n' $(( PASS + FAIL )) "$*"; }
bad()  { FAIL=$(( FAIL + 1 )); printf 'not ok %d - %s\n' $(( PASS + FAIL )) "$*"; }
eq()   { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1 (expected '$3', got '$2')"; fi; }
check() { local what="$1"; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi; }
check_not() { local what="$1"; shift; if "$@" >/dev/null 2>&1; then bad "$what"; else ok "$what"; fi; }
finish() {
  say "distributed-e2e: $PASS passed, $FAIL failed"
  [ "$FAIL" = 0 ] && exit 0
  exit 1
}

[ "$(id -u)" = 0 ] || { say "e2e: run as root (network namespaces)"; bad "running as root"; finish; }
for t in ip yggdrasil yggdrasilctl jq flock psql node curl setsid timeout; do
  command -v "$t" >/dev/null || { bad "tool $t missing"; finish; }
done

WORK="$(mktemp -d /tmp/e2e.XXXXXX)"
chmod 755 "$WORK"
TD="$WORK/topo"
RELAY_PID=""; BG_PIDS=(); ARCH_PID=""; ARCH_GROUPS=(); WATCHDOG=""; TOPO_UP=0
cleanup() {
  local p
  trap - INT TERM
  if [ -n "$WATCHDOG" ]; then
    kill "$WATCHDOG" 2>/dev/null
    [ -s "$WORK/watchdog.pid" ] && kill "$(cat "$WORK/watchdog.pid")" 2>/dev/null
  fi
  for p in "${ARCH_GROUPS[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [ -n "$RELAY_PID" ] && kill -0 "$RELAY_PID" 2>/dev/null; then
    kill -TERM "$RELAY_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$RELAY_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$RELAY_PID" 2>/dev/null
  fi
  [ "$TOPO_UP" = 1 ] && timeout 120 "$TOPO" down "$TD" >/dev/null 2>&1
  if [ "${KEEP_TMP:-0}" = 1 ]; then say "# kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'say "# interrupted"; bad "interrupted (signal or E2E_TIMEOUT=${E2E_TIMEOUT}s)"; finish' INT TERM
# The watchdog: its sleep's pid is recorded so that cleanup ends both.
( sleep "$E2E_TIMEOUT" & echo $! >"$WORK/watchdog.pid"; wait; kill -TERM $$ ) 2>/dev/null &
WATCHDOG=$!

# Phase timings.
PHASES=(); PH_NAME=""; PH_T=0
phase() {
  local t; t=$(date +%s%N)
  [ -n "$PH_NAME" ] && PHASES+=("$(printf '%-44s %6.1f s' "$PH_NAME" "$(( (t - PH_T) / 1000000 ))e-3")")
  PH_NAME="$1"; PH_T=$t
  [ -n "$1" ] && say "# --- $1 ($(( $(date +%s) - START )) s)"
}

# run EXPECTED_RC WHAT CMD...: output in $OUT, shown when the exit code differs.
OUT=""
# Every script run is also logged with timestamps in $WORK/scripts.log.
run() {
  local want="$1" what="$2" rc; shift 2
  printf '\n### %s: %s\n' "$(date +%T.%3N)" "$what" >>"$WORK/scripts.log"
  OUT="$("$@" 2>&1 | while IFS= read -r l; do printf '%s %s\n' "$(date +%T.%3N)" "$l" >>"$WORK/scripts.log"; printf '%s\n' "$l"; done; exit "${PIPESTATUS[0]}")"
  rc=$?
  if [ "$rc" = "$want" ]; then ok "$what (exit $rc)"
  else bad "$what: exit $rc, expected $want"; printf '%s\n' "$OUT" | tail -n 30 | sed 's/^/#   /'; fi
}
has() { if grep -qF -- "$2" <<<"$OUT"; then ok "$1"; else bad "$1 (no '$2' in the output)"; printf '%s\n' "$OUT" | tail -n 20 | sed 's/^/#   /'; fi; }

# client CMD ARGS...: e2e-client.mjs; its ok/not ok lines are counted here.
client() {
  local line rc got=0 out t0
  t0=$(date +%s%N)
  out="$(timeout 240 node "$CLIENT" "$@" 2>&1)"; rc=$?
  say "# e2e-client.mjs $1: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  while IFS= read -r line; do
    case "$line" in
      "ok - "*) ok "${line#ok - }"; got=1 ;;
      "not ok - "*) bad "${line#not ok - }"; got=1 ;;
      "") ;;
      *) say "#   $line" ;;
    esac
  done <<<"$out"
  if [ "$rc" != 0 ] && [ "$got" = 0 ]; then bad "e2e-client.mjs $1 exited $rc"; fi
  return "$rc"
}

# ---------------------------------------------------------------------------
phase "1. topology up"
if ! timeout 180 "$TOPO" up "$TD" >"$WORK/topology-up.log" 2>&1; then
  TOPO_UP=1
  bad "topology.sh up"; tail -n 30 "$WORK/topology-up.log" | sed 's/^/#   /'; finish
fi
TOPO_UP=1
ok "topology.sh up (TOPO_SUFFIX=$TOPO_SUFFIX)"
# shellcheck disable=SC1091
. "$TD/topology.env"
CONF="$YGGDRASIL_CONFIG_DIR/yggdrasil.conf"
NODES_JSON="$YGGDRASIL_CONFIG_DIR/nodes.json"
ADMIN="${COORD_YGG_ADMIN#unix://}"
export DB_HOST="$COORD_PG_SOCKET" DB_PORT="$COORD_PG_PORT" DB_USER="$COORD_PG_USER" DB_NAME="$COORD_PG_DB" DB_PASSWORD=""
export YGGDRASIL_CONFIG_DIR YGGDRASIL_RESTART

co() { PGOPTIONS='-c statement_timeout=120s' psql -X -q -At -v ON_ERROR_STOP=1 -h "$COORD_PG_SOCKET" -p "$COORD_PG_PORT" -U "$COORD_PG_USER" -d "$COORD_PG_DB" -c "$1"; }
nsql() { # node SQL: psql on the node itself, inside its namespace, through its socket
  local u="${1^^}" ns sock
  ns="NS_$u"; sock="${u}_PG_SOCKET"
  ip netns exec "${!ns}" psql -X -q -At -v ON_ERROR_STOP=1 -h "${!sock}" -p 5432 -U nostr_ts_relay -d nostr_ts_relay -c "$2"
}
peer_keys() { yggdrasilctl -json -endpoint "unix://$ADMIN" getPeers 2>/dev/null | jq -r '.peers[]?.key' 2>/dev/null; }
is_peer() { peer_keys | grep -qx "$1"; }
tcp_open() { ip netns exec "$1" timeout 3 bash -c "exec 3<>/dev/tcp/$2/$3"; }
SPEC_PARTS_SQL="SELECT inhrelid::regclass AS partition, pg_get_expr(c.relpartbound, c.oid) AS range FROM pg_inherits JOIN pg_class c ON inhrelid = c.oid WHERE inhparent = 'events'::regclass;"
parts() { co "$SPEC_PARTS_SQL" | sort | paste -sd ';'; }
# every row of events: count, ids, created_at, deleted_at
ROWS_SQL="SELECT count(*) || ':' || coalesce(md5(string_agg(encode(event_id, 'hex') || '/' || event_created_at || '/' || coalesce(deleted_at::text, '-'), ',' ORDER BY event_id)), '-') FROM events"
rowsum() { co "$ROWS_SQL ${1:-}"; }

# ---------------------------------------------------------------------------
phase "2. relay"
RELAY_BIN="${NOSTREAM_BIN:-$REPO/build/nostream}"
if [ ! -x "$RELAY_BIN" ] && [ -z "${NOSTREAM_BIN:-}" ]; then
  make -C "$REPO" build/nostream >"$WORK/build.log" 2>&1 || { bad "make build/nostream"; tail -n 20 "$WORK/build.log"; finish; }
fi
mkdir -p "$WORK/relay-config"
node "$CLIENT" settings >"$WORK/relay-config/settings.yaml"
up=0
DB_HOST="$COORD_PG_SOCKET" DB_PORT="$COORD_PG_PORT" DB_USER="$COORD_PG_USER" DB_NAME="$COORD_PG_DB" \
  relay_start "$RELAY_BIN" "$WORK/relay-config" "$WORK/relay.log" && up=1
URL="ws://127.0.0.1:$RELAY_PORT"
if [ "$up" = 1 ]; then ok "relay answers /healthz on 127.0.0.1:$RELAY_PORT"
else bad "relay did not come up"; tail -n 20 "$WORK/relay.log" | sed 's/^/#   /'; finish; fi
eq "events_hot covers everything before registration" "$(parts)" "events_hot|FOR VALUES FROM (MINVALUE) TO (MAXVALUE)"

# ---------------------------------------------------------------------------
phase "3. publish into every range"
T0=$(date +%s)
T1=$(( T0 - 30 * 86400 ))
T2=$(( T0 - 86400 ))
T3=$(( T0 + 600 ))
CUT=$(( T1 + 100000 ))
STATE="$WORK/state.json"
say "# T0=$T0 T1=$T1 T2=$T2 T3=$T3 CUT=$CUT"
client seed "$URL" "$STATE" "$T1" "$T2" "$T3" "$T0"
[ "$?" = 2 ] || [ ! -s "$STATE" ] && { bad "seed failed: cannot go on"; finish; }
N_HIST="$(co "SELECT count(*) FROM events WHERE event_created_at < $T1")"
N_FUT="$(co "SELECT count(*) FROM events WHERE event_created_at >= $T3")"
R0="$(rowsum)"
say "# rows: $R0; before T1: $N_HIST, from T3: $N_FUT"
check "rows in every future partition's range" test "$N_HIST" -gt 0 -a "$N_FUT" -gt 0

# ---------------------------------------------------------------------------
phase "4. register node1 [0,T1) and node2 [T3,MAX)"
run 0 "add-storage-node.sh \$NODE1_YGG_ADDR node1 PW 0 T1 --pubkey \$NODE1_YGG_PUBKEY" \
  timeout 180 "$S/add-storage-node.sh" "$NODE1_YGG_ADDR" node1 "$NODE1_DB_PASSWORD" 0 "$T1" --pubkey "$NODE1_YGG_PUBKEY"
printf '%s\n' "$OUT" | grep -E '^(==>|Registering)' | sed 's/^/#   /'
check "node1 peered with the coordinator" "$TOPO" wait-peer "$TD" node1 75
eq "node1's PostgreSQL holds the historical rows" "$(nsql node1 'SELECT count(*) FROM events_data')" "$N_HIST"
eq "no historical row left in events_hot" "$(co "SELECT count(*) FROM events_hot WHERE event_created_at < $T1")" 0
eq "every row still there, once (count, ids, deleted_at)" "$(rowsum)" "$R0"
run 0 "add-storage-node.sh \$NODE2_YGG_ADDR node2 PW T3 MAXVALUE --pubkey \$NODE2_YGG_PUBKEY" \
  timeout 180 "$S/add-storage-node.sh" "$NODE2_YGG_ADDR" node2 "$NODE2_DB_PASSWORD" "$T3" MAXVALUE --pubkey "$NODE2_YGG_PUBKEY"
check "node2 peered with the coordinator" "$TOPO" wait-peer "$TD" node2 75
eq "node2's PostgreSQL holds the future rows" "$(nsql node2 'SELECT count(*) FROM events_data')" "$N_FUT"
eq "every row still there after node2, once" "$(rowsum)" "$R0"
eq "whitelist: node1, node2 (and the placeholder), never rogue" \
  "$(jq -c --arg a "$NODE1_YGG_PUBKEY" --arg b "$NODE2_YGG_PUBKEY" --arg r "$ROGUE_YGG_PUBKEY" \
      '[(.AllowedPublicKeys | index($a) != null), (.AllowedPublicKeys | index($b) != null), (.AllowedPublicKeys | index($r) != null)]' "$CONF")" \
  "[true,true,false]"
eq "nodes.json" "$(jq -c '[.node1.from, .node1.to, .node2.from, .node2.to, .node1.address == "'"$NODE1_YGG_ADDR"'"]' "$NODES_JSON")" \
  "[0,$T1,$T3,\"MAXVALUE\",true]"

# ---------------------------------------------------------------------------
phase "5. partition listing and EXPLAIN"
EXPECT_PARTS="events_archive_node1|FOR VALUES FROM (0) TO ($T1);events_archive_node2|FOR VALUES FROM ($T3) TO (MAXVALUE);events_hot|FOR VALUES FROM ($T1) TO ($T3)"
eq "the spec's partition listing" "$(parts)" "$EXPECT_PARTS"
PLAN="$(co "EXPLAIN SELECT COUNT(*) FROM events WHERE event_created_at > 0;")"
say "$PLAN" | sed 's/^/#   /'
check "EXPLAIN: Async Foreign Scan on events_archive_node1" grep -q "Async Foreign Scan on events_archive_node1" <<<"$PLAN"
check "EXPLAIN: Async Foreign Scan on events_archive_node2" grep -q "Async Foreign Scan on events_archive_node2" <<<"$PLAN"
check "EXPLAIN: events_hot scanned" grep -q "on events_hot" <<<"$PLAN"
PLAN="$(co "EXPLAIN SELECT * FROM events WHERE event_created_at >= $(( T1 - 86400 * 10 )) AND event_created_at < $(( T1 - 1 ))")"
if grep -q events_archive_node1 <<<"$PLAN" && ! grep -q -e events_hot -e events_archive_node2 <<<"$PLAN"; then
  ok "EXPLAIN: a window inside node1's range is pruned to node1"
else bad "EXPLAIN: a window inside node1's range is pruned to node1: $PLAN"; fi

# ---------------------------------------------------------------------------
phase "6. read back; new events land on the right host"
client verify "$URL" "$STATE"
client after "$URL" "$STATE"
place() { jq -r ".placed.$1" "$STATE"; }
where() { # id -> "node1 hot node2" counts
  printf '%s %s %s' "$(nsql node1 "SELECT count(*) FROM events_data WHERE event_id = decode('$1', 'hex')")" \
    "$(co "SELECT count(*) FROM events_hot WHERE event_id = decode('$1', 'hex')")" \
    "$(nsql node2 "SELECT count(*) FROM events_data WHERE event_id = decode('$1', 'hex')")"
}
eq "new event dated before T1: on node1 only (node1 hot node2)" "$(where "$(place node1)")" "1 0 0"
eq "new event dated in [T1,T3): in events_hot only" "$(where "$(place hot)")" "0 1 0"
eq "new event dated after T3: on node2 only" "$(where "$(place node2)")" "0 0 1"
eq "replaced kind 0 version (was in events_hot): gone everywhere" "$(where "$(jq -r '.replaced["kind0 v2 (hot)"]' "$STATE")")" "0 0 0"
eq "replaced 30023 version on node1: deleted on node1" "$(where "$(jq -r '.replaced["post-a v1 (node1)"]' "$STATE")")" "0 0 0"
eq "replaced 30023 version on node2: deleted on node2" "$(where "$(jq -r '.replaced["post-c v1 (node2)"]' "$STATE")")" "0 0 0"
eq "NIP-09 deletion of an event on node2: marked deleted there" \
  "$(nsql node2 "SELECT deleted_at IS NOT NULL FROM events_data WHERE event_id = decode('$(jq -r .deletedAfter.node2 "$STATE")', 'hex')")" t
eq "NIP-09 deletion of an event on node1: marked deleted there" \
  "$(nsql node1 "SELECT deleted_at IS NOT NULL FROM events_data WHERE event_id = decode('$(jq -r .deletedAfter.node1 "$STATE")', 'hex')")" t
eq "no node row outside its node's range" \
  "$(nsql node1 "SELECT count(*) FROM events_data WHERE event_created_at >= $T1")/$(nsql node2 "SELECT count(*) FROM events_data WHERE event_created_at < $T3")" "0/0"
client verify "$URL" "$STATE"

# ---------------------------------------------------------------------------
phase "7a. load $BULK rows into events_hot"
co "INSERT INTO events_hot (event_id, event_pubkey, event_kind, event_created_at, event_content, event_tags, event_signature)
    SELECT sha256(('e2ebulk' || i)::bytea), sha256(('e2ebulkpk' || (i % 50))::bytea), 1, $T1 + i * (100000 / $BULK),
           'bulk ' || i,
           jsonb_build_array(jsonb_build_array('t', 'e2ebulk-' || (i % 100)),
                             jsonb_build_array('p', encode(sha256(('e2ebulkp' || (i % 7))::bytea), 'hex'))),
           sha256(('s' || i)::bytea) || sha256(('t' || i)::bytea)
      FROM generate_series(0, $BULK - 1) i;
    INSERT INTO event_tags (event_id, tag_name, tag_value)
    SELECT event_id, t->>0, t->>1 FROM events_hot, jsonb_array_elements(event_tags) t
     WHERE event_content LIKE 'bulk %';
    ANALYZE events_hot; ANALYZE event_tags;" >/dev/null || bad "bulk load"
PER_TAG=$(( BULK / 100 ))
ARCH_SQL="WHERE event_created_at < $CUT"
A0="$(rowsum "$ARCH_SQL")"
TAGS_SQL="SELECT count(*) || ':' || md5(string_agg(encode(event_id, 'hex') || '/' || tag_name || '/' || tag_value, ',' ORDER BY event_id, tag_name, tag_value))
            FROM event_tags WHERE event_id NOT IN (SELECT event_id FROM event_tags WHERE tag_name = 't' AND tag_value = 'e2e-bg')"
TG0="$(co "$TAGS_SQL")"
TOTAL0="$(co "SELECT count(*) FROM events")"
N_MOVE="$(co "SELECT count(*) FROM events_hot WHERE event_created_at < $CUT")"
say "# rows below CUT: $A0 ($N_MOVE in events_hot to move); event_tags $TG0; all rows $TOTAL0"
client tag "$URL" e2ebulk-42 "$PER_TAG"

phase "7b. archive with kill -9, publisher and reader"
STOP="$WORK/stop-bg"
node "$CLIENT" bg-publish "$URL" "$WORK/bg-ids" "$STOP" $(( CUT + 1000 )) $(( T2 - 1000 )) >"$WORK/bg-publish.out" 2>&1 &
BG_PIDS+=($!); BGP=$!
node "$CLIENT" bg-read "$URL" "$WORK/bg-read.json" "$STOP" e2ebulk-42 "$PER_TAG" >"$WORK/bg-read.out" 2>&1 &
BG_PIDS+=($!); BGR=$!
sleep 1
ARCH_ARGS=(--node node1 --cutoff "$CUT" --batch-window 20000 --batch-size 5000)
kills=0; attempt=0; arch_rc=1
while [ "$attempt" -lt 8 ]; do
  attempt=$(( attempt + 1 ))
  setsid timeout 240 "$S/archive-events.sh" "${ARCH_ARGS[@]}" >"$WORK/archive.$attempt.log" 2>&1 &
  ARCH_PID=$!
  ARCH_GROUPS+=("$ARCH_PID")                       # its own session: cleanup ends what is left of it
  if [ "$kills" -lt 3 ]; then
    r=$(( RANDOM % 30 + 5 ))                     # 0.5 .. 3.4 s
    sleep "$(( r / 10 )).$(( r % 10 ))"
    if kill -0 "$ARCH_PID" 2>/dev/null; then
      how="whole process group"
      # The second kill hits only the script (the child of timeout), as a
      # crash of bash alone would: its psql runs on and holds the script
      # lock, which the next run must wait for.
      script_pid="$(cat "/proc/$ARCH_PID/task/$ARCH_PID/children" 2>/dev/null | awk '{print $1}')"
      if [ "$kills" = 1 ] && [ -n "$script_pid" ]; then
        kill -KILL "$script_pid" 2>/dev/null; how="the script only, its psql left running"
      else
        kill -KILL -- "-$ARCH_PID" 2>/dev/null
      fi
      wait "$ARCH_PID" 2>/dev/null
      kills=$(( kills + 1 ))
      say "# attempt $attempt: killed (-9, $how) after $(( r / 10 )).$(( r % 10 )) s; last line: $(tail -n 1 "$WORK/archive.$attempt.log")"
      ARCH_PID=""
      continue
    fi
  fi
  wait "$ARCH_PID"; arch_rc=$?
  ARCH_PID=""
  say "# attempt $attempt: exit $arch_rc"
  [ "$arch_rc" = 0 ] && break
  tail -n 5 "$WORK/archive.$attempt.log" | sed 's/^/#   /'
done
touch "$STOP"
wait "$BGP"; wait "$BGR"
BG_PIDS=()
# What the kills left (a psql of the script killed alone) has ended by now:
# the last run took the script lock after it.
for g in "${ARCH_GROUPS[@]}"; do
  for _ in $(seq 100); do pgrep -g "$g" >/dev/null || break; sleep 0.1; done
  pgrep -g "$g" >/dev/null && { bad "processes of archive run (group $g) still running"; kill -KILL -- "-$g" 2>/dev/null; }
done
ARCH_GROUPS=()
eq "archive-events.sh completed after $kills kill -9 ($attempt runs)" "$arch_rc" 0
check "archive-events.sh was killed at least twice" test "$kills" -ge 2
grep -E "rows/s|switch" "$WORK/archive.$attempt.log" | tail -n 4 | sed 's/^/#   /'
for f in "$WORK/bg-publish.out" "$WORK/bg-read.out"; do
  while IFS= read -r line; do
    case "$line" in "ok - "*) ok "${line#ok - }" ;; "not ok - "*) bad "${line#not ok - }" ;; "") ;; *) say "#   $line" ;; esac
  done <"$f"
done

phase "7c. checks after the archive"
N_BG="$(grep -c . "$WORK/bg-ids" 2>/dev/null || echo 0)"
eq "partitions: node1 [0,CUT), events_hot [CUT,T3), node2 [T3,MAX)" "$(parts)" \
  "events_archive_node1|FOR VALUES FROM (0) TO ($CUT);events_archive_node2|FOR VALUES FROM ($T3) TO (MAXVALUE);events_hot|FOR VALUES FROM ($CUT) TO ($T3)"
eq "rows below CUT: same count and checksum of ids" "$(rowsum "$ARCH_SQL")" "$A0"
eq "event_tags: same count and checksum" "$(co "$TAGS_SQL")" "$TG0"
eq "all rows = before + what the publisher got OK for ($N_BG)" "$(co "SELECT count(*) FROM events")" "$(( TOTAL0 + N_BG ))"
eq "no event_id twice in events" "$(co "SELECT count(*) - count(DISTINCT event_id) FROM events")" 0
eq "node1 holds exactly the rows below CUT" "$(nsql node1 "SELECT count(*) FROM events_data")" "$(co "SELECT count(*) FROM events $ARCH_SQL")"
eq "node1: no row outside [0,CUT), no move marker left" \
  "$(nsql node1 "SELECT count(*) FILTER (WHERE event_created_at >= $CUT) || '/' || count(*) FILTER (WHERE deleted_at = '-infinity') FROM events_data")" "0/0"
eq "events_hot: nothing below CUT" "$(co "SELECT count(*) FROM events_hot WHERE event_created_at < $CUT")" 0
eq "no change-capture trigger or unfinished move left" \
  "$(co "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'events_hot'::regclass AND NOT tgisinternal")/$(co "SELECT count(*) FROM nostream_storage_move" 2>/dev/null || echo 0)" "0/0"
eq "nodes.json: node1 ends at CUT" "$(jq -c '[.node1.from, .node1.to]' "$NODES_JSON")" "[0,$CUT]"
client tag "$URL" e2ebulk-42 "$PER_TAG"
client tag "$URL" e2e-midarch "$(jq '[.events[] | select(.visible and .range == "midarch")] | length' "$STATE")"
client ids "$URL" "$WORK/bg-ids" all
client verify "$URL" "$STATE"

# ---------------------------------------------------------------------------
phase "8. remove node1, add it again"
co "SELECT encode(event_id, 'hex') FROM events $ARCH_SQL AND deleted_at IS NULL ORDER BY md5(event_id::text) LIMIT 2000" >"$WORK/node1-ids"
N1="$(nsql node1 "SELECT count(*) FROM events_data")"
run 0 "remove-storage-node.sh node1" timeout 120 "$S/remove-storage-node.sh" node1
eq "events_archive_node1 gone from the listing" "$(parts)" \
  "events_archive_node2|FOR VALUES FROM ($T3) TO (MAXVALUE);events_hot|FOR VALUES FROM ($CUT) TO ($T3)"
check_not "node1's key no longer whitelisted" jq -e --arg a "$NODE1_YGG_PUBKEY" '.AllowedPublicKeys | index($a) != null' "$CONF"
client ids "$URL" "$WORK/node1-ids" none
client verify "$URL" "$STATE" --unreachable-below "$CUT"
eq "the rows stay on node1" "$(nsql node1 "SELECT count(*) FROM events_data")" "$N1"
# Nothing covers [0, CUT) now: an event dated there is refused (and the
# relay goes on); after the node is back, the same event is stored on it.
client one "$URL" "$WORK/gap-event.json" $(( CUT - 500 )) false
client one "$URL" "$WORK/after-refusal.json" $(( T2 - 5000 )) true
run 0 "add-storage-node.sh node1 again for [0, CUT)" \
  timeout 180 "$S/add-storage-node.sh" "$NODE1_YGG_ADDR" node1 "$NODE1_DB_PASSWORD" 0 "$CUT" --pubkey "$NODE1_YGG_PUBKEY"
eq "listing back to three partitions" "$(parts)" \
  "events_archive_node1|FOR VALUES FROM (0) TO ($CUT);events_archive_node2|FOR VALUES FROM ($T3) TO (MAXVALUE);events_hot|FOR VALUES FROM ($CUT) TO ($T3)"
eq "node1's rows reachable again (count and checksum)" "$(rowsum "$ARCH_SQL")" "$A0"
client ids "$URL" "$WORK/node1-ids" all
client one "$URL" "$WORK/gap-event.json" 0 true
eq "that event is on node1 only (node1 hot node2)" "$(where "$(jq -r .id "$WORK/gap-event.json")")" "1 0 0"
client verify "$URL" "$STATE"

# ---------------------------------------------------------------------------
phase "9. bad invocations against the live setup"
R9="$(rowsum)"; C9="$(jq -cS . "$CONF")"; P9="$(parts)"
run 3 "an overlapping range is refused" timeout 60 "$S/add-storage-node.sh" "$ROGUE_YGG_ADDR" node3 pw 1000 $(( T1 - 100 )) --pubkey "$ROGUE_YGG_PUBKEY"
has "the refusal names the partition" "events_archive_node1"
run 2 "an address outside 200::/7 (a veth address) is refused" timeout 60 "$S/add-storage-node.sh" "$NODE1_VETH_ADDR" node3 pw MINVALUE 0 --pubkey "$ROGUE_YGG_PUBKEY"
has "the message names ADDRESS" "ADDRESS '$NODE1_VETH_ADDR'"
run 3 "archive-events.sh for a node that is not attached" timeout 60 "$S/archive-events.sh" --node nosuch --cutoff "$(( CUT + 10 ))"
has "the message names the missing partition" "events_archive_nosuch"
run 3 "archive-events.sh with a cutoff beyond events_hot's range" timeout 60 "$S/archive-events.sh" --node node1 --cutoff "$(( T3 + 10 ))"
has "the message names the cutoff" "cutoff"
run 2 "remove-storage-node.sh with an invalid NAME" timeout 60 "$S/remove-storage-node.sh" Node-1
has "the message names NAME" "NAME 'Node-1'"
# rogue with node2's public key: the whitelist does not change (that key is
# node2's), rogue's real key stays out, so the probe fails and no partition
# is touched.
run 1 "add-storage-node.sh rogue with a WRONG pubkey (node2's): the probe fails" \
  env STORAGE_NODE_WAIT=1 timeout 120 "$S/add-storage-node.sh" "$ROGUE_YGG_ADDR" rogue "$ROGUE_DB_PASSWORD" MINVALUE 0 --pubkey "$NODE2_YGG_PUBKEY"
has "it says no partition was changed" "No partition was changed"
eq "partitions unchanged by the bad invocations" "$(parts)" "$P9"
eq "rows unchanged by the bad invocations" "$(rowsum)" "$R9"
eq "yggdrasil.conf unchanged by the bad invocations" "$(jq -cS . "$CONF")" "$C9"
check_not "rogue not peered" is_peer "$ROGUE_YGG_PUBKEY"
run 0 "remove-storage-node.sh rogue (drops what the failed add left)" timeout 120 "$S/remove-storage-node.sh" rogue
eq "node2's key still whitelisted (shared with the failed rogue entry)" \
  "$(jq -c --arg b "$NODE2_YGG_PUBKEY" '.AllowedPublicKeys | index($b) != null' "$CONF")/$(jq -c 'has("rogue")' "$NODES_JSON")" "true/false"
eq "no foreign server left for rogue" "$(co "SELECT count(*) FROM pg_foreign_server WHERE srvname = 'storage_rogue'")" 0
check "node2 still peered" "$TOPO" wait-peer "$TD" node2 10

# ---------------------------------------------------------------------------
phase "10. rogue stays out"
check_not "rogue not among the coordinator's peers (getPeers)" is_peer "$ROGUE_YGG_PUBKEY"
check "node1 and node2 among the peers" bash -c "yggdrasilctl -json -endpoint unix://$ADMIN getPeers | jq -r '.peers[]?.key' | grep -qx $NODE1_YGG_PUBKEY && yggdrasilctl -json -endpoint unix://$ADMIN getPeers | jq -r '.peers[]?.key' | grep -qx $NODE2_YGG_PUBKEY"
check "the coordinator logs rogue's key refused" \
  grep -q "\"$ROGUE_YGG_PUBKEY\" is not in AllowedPublicKeys" "$TD/coord/yggdrasil.log"
check_not "rogue cannot reach node1's PostgreSQL" tcp_open "$NS_ROGUE" "$NODE1_YGG_ADDR" 5432
check_not "rogue cannot reach the coordinator's Yggdrasil address" tcp_open "$NS_ROGUE" "$COORD_YGG_ADDR" 12345

# ---------------------------------------------------------------------------
phase "11. tear down"
kill -TERM "$RELAY_PID"
rc=""
for _ in $(seq 150); do kill -0 "$RELAY_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$RELAY_PID" 2>/dev/null; then bad "relay still running 15 s after SIGTERM"
else wait "$RELAY_PID"; rc=$?; eq "relay exits 0 on SIGTERM" "$rc" 0; RELAY_PID=""; fi
if grep -qiE "assert|sanitizer|segmentation" "$WORK/relay.log"; then bad "relay log shows a crash"; tail -n 20 "$WORK/relay.log" | sed 's/^/#   /'; fi
# A purge that meets a storage node while the coordinator's Yggdrasil is
# restarted by add/remove-storage-node.sh warns and retries 30 s later:
# expected, and only that node's purge waits.
relay_errors="$(grep -E '^[0-9TZ:.-]+ (error|warn) ' "$WORK/relay.log" | grep -v -e 'accepted but not implemented' -e 'no partition of relation' -e 'maintenance: purge of expired events in events_archive_' || true)"
eq "relay log: no error or warning but the expected refusal" "$relay_errors" ""
if timeout 120 "$TOPO" down "$TD" >"$WORK/topology-down.log" 2>&1; then TOPO_UP=0; ok "topology.sh down"
else bad "topology.sh down"; tail -n 10 "$WORK/topology-down.log" | sed 's/^/#   /'; fi
left_ns="$(ip netns list | awk '{print $1}' | grep -xF -e "$NS_COORD" -e "$NS_NODE1" -e "$NS_NODE2" -e "$NS_ROGUE")"
eq "namespaces gone" "$left_ns" ""
phase ""
say "# timings:"
for p in "${PHASES[@]}"; do say "#   $p"; done
say "# total $(( $(date +%s) - START )) s"
finish
