#!/usr/bin/env bash
# Local test of the storage scripts without Yggdrasil: two throwaway
# PostgreSQL 15 clusters on loopback, a "coordinator" (our migrations,
# applied by the relay binary, plus postgres_fdw) and a "storage node"
# (scripts/storage-init.sql). The node's address given to the scripts is a
# real 200::/7 address; the test-only STORAGE_NODE_HOST_OVERRIDE makes the
# foreign server connect to [::1] instead. Yggdrasil is faked:
# YGGDRASIL_CONFIG_DIR is a temp dir, YGGDRASIL_RESTART counts restarts.
#
# Run as root (clusters run as the postgres user) or as a user who may run
# initdb. Needs postgresql-15, jq, flock; build/nostream is built if missing.
# Bounded (< 3 min), cleans up after itself (KEEP_TMP=1 keeps the files).
# Prints "N passed, N failed" at the end; exit 0 only when all passed.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
S="$REPO/scripts"
PASS=0; FAIL=0
START_TS=$(date +%s)

say()  { printf '%s\n' "$*"; }
ok()   { PASS=$(( PASS + 1 )); printf 'ok %d - %s\n' $(( PASS + FAIL )) "$*"; }
bad()  { FAIL=$(( FAIL + 1 )); printf 'not ok %d - %s\n' $(( PASS + FAIL )) "$*"; }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
eq()   { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1 (expected '$3', got '$2')"; fi; }

# --- setup -------------------------------------------------------------------------
for t in jq flock psql; do
  command -v "$t" >/dev/null || { say "missing tool: $t"; exit 1; }
done
[ -x "$PG_BIN/initdb" ] || { say "no PostgreSQL at $PG_BIN (PG_BIN)"; exit 1; }

if [ "$(id -u)" = 0 ]; then PGOS=postgres; else PGOS="$(id -un)"; fi
as_pg() { if [ "$(id -un)" = "$PGOS" ]; then (cd / && "$@"); else (cd / && runuser -u "$PGOS" -- "$@"); fi; }

TMP="$(mktemp -d /tmp/nostream-dist-XXXXXX)"
chmod 755 "$TMP"
RELAY_PID=""; WRITER_PID=""
cleanup() {
  [ -n "$WRITER_PID" ] && kill "$WRITER_PID" 2>/dev/null
  [ -n "$RELAY_PID" ] && kill "$RELAY_PID" 2>/dev/null
  if [ -f "$TMP/ygg/daemons" ]; then
    while read -r p; do kill "$p" 2>/dev/null; done <"$TMP/ygg/daemons"
  fi
  for c in coord store; do
    [ -f "$TMP/$c/data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$TMP/$c/data" -m immediate -w stop >/dev/null 2>&1
  done
  if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() { local p; while :; do p=$(( 20000 + RANDOM % 40000 )); port_free "$p" && { echo "$p"; return; }; done; }

CO_PORT="$(pick_port)"; ST_PORT="$(pick_port)"
CO_SOCK="$TMP/coord/sock"; ST_SOCK="$TMP/store/sock"
CO_PW=$'co:ord\\pw'             # a colon and a backslash: the password file escapes them
ST_PW=$'st\'or\\age pw;--'       # a quote, a backslash: SQL literal quoting
ST2_PW="second-node-pw"

mkcluster() { # NAME PORT LISTEN HBA_LINE
  local d="$TMP/$1"
  mkdir -p "$d/data" "$d/sock"
  chown -R "$PGOS" "$d" 2>/dev/null || true
  chmod 700 "$d/data"; chmod 777 "$d/sock"
  as_pg "$PG_BIN/initdb" -D "$d/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null || return 1
  cat >>"$d/data/postgresql.conf" <<EOF
listen_addresses = '$3'
port = $2
unix_socket_directories = '$d/sock'
unix_socket_permissions = 0777
max_connections = 40
shared_buffers = 32MB
fsync = off
log_min_messages = warning
deadlock_timeout = 200ms
EOF
  printf 'local all all trust\n%s\n' "$4" >"$d/data/pg_hba.conf"
  as_pg "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/postgres.log" -w -t 60 start >/dev/null
}
co_su() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$CO_SOCK" -p "$CO_PORT" -U postgres -d "${2:-nostr_ts_relay}" -c "$1"; }
co()    { psql -X -q -At -v ON_ERROR_STOP=1 -h "$CO_SOCK" -p "$CO_PORT" -U nostr_ts_relay -d nostr_ts_relay -c "$1"; }
st()    { psql -X -q -At -v ON_ERROR_STOP=1 -h "$ST_SOCK" -p "$ST_PORT" -U postgres -d "${2:-nostr_ts_relay}" -c "$1"; }

say "# clusters in $TMP: coordinator 127.0.0.1:$CO_PORT, storage [::1]:$ST_PORT"
mkcluster coord "$CO_PORT" 127.0.0.1 "host all all 127.0.0.1/32 scram-sha-256" || { say "initdb/start failed"; cat "$TMP/coord/postgres.log"; exit 1; }
mkcluster store "$ST_PORT" ::1 "host all all ::1/128 scram-sha-256" || { say "initdb/start failed"; cat "$TMP/store/postgres.log"; exit 1; }

pw_sql() { printf "'%s'" "${1//\'/\'\'}"; }
co_su "CREATE ROLE nostr_ts_relay LOGIN PASSWORD $(pw_sql "$CO_PW")" postgres
co_su "CREATE DATABASE nostr_ts_relay OWNER nostr_ts_relay" postgres
co_su "CREATE EXTENSION postgres_fdw; GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO nostr_ts_relay"
st "CREATE ROLE nostr_ts_relay LOGIN PASSWORD $(pw_sql "$ST_PW")" postgres
st "CREATE DATABASE nostr_ts_relay OWNER nostr_ts_relay" postgres
st "CREATE ROLE node2 LOGIN PASSWORD $(pw_sql "$ST2_PW")" postgres
st "CREATE DATABASE node2db OWNER node2" postgres
psql -X -q -v ON_ERROR_STOP=1 -h "$ST_SOCK" -p "$ST_PORT" -U nostr_ts_relay -d nostr_ts_relay -f "$S/storage-init.sql" >/dev/null
sed 's/OWNER TO nostr_ts_relay/OWNER TO node2/' "$S/storage-init.sql" |
  psql -X -q -v ON_ERROR_STOP=1 -h "$ST_SOCK" -p "$ST_PORT" -U node2 -d node2db >/dev/null

# Our migrations, applied by the relay itself.
if [ ! -x "$REPO/build/nostream" ]; then
  say "# building build/nostream"
  make -C "$REPO" build/nostream >/dev/null || { say "build failed"; exit 1; }
fi
RELAY_PORT="$(pick_port)"
DB_HOST="$CO_SOCK" DB_PORT="$CO_PORT" DB_PASSWORD="$CO_PW" RELAY_PORT="$RELAY_PORT" \
  NOSTR_CONFIG_DIR="$TMP/relay-config" MIGRATIONS_DIR="$REPO/migrations" \
  "$REPO/build/nostream" >"$TMP/relay.log" 2>&1 &
RELAY_PID=$!
for _ in $(seq 1 100); do
  [ "$(co "SELECT to_regprocedure('nostream_put_event(bytea,bytea,integer,integer,text,jsonb,bytea,jsonb,inet,integer)') IS NOT NULL" 2>/dev/null)" = t ] && break
  sleep 0.2
done
kill "$RELAY_PID" 2>/dev/null; wait "$RELAY_PID" 2>/dev/null; RELAY_PID=""
eq "the relay applied the migrations (events partitioned, events_hot MINVALUE..MAXVALUE)" \
  "$(co "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'events_hot'")" \
  "FOR VALUES FROM (MINVALUE) TO (MAXVALUE)"

# Fake Yggdrasil.
YDIR="$TMP/ygg"; mkdir -p "$YDIR"
printf '{"PrivateKey":"x","PublicKey":"y","AllowedPublicKeys":[]}\n' >"$YDIR/yggdrasil.conf"
chmod 600 "$YDIR/yggdrasil.conf"
printf '{}\n' >"$YDIR/nodes.json"
export YGGDRASIL_CONFIG_DIR="$YDIR"
# Like a real restart, it leaves a process running (recorded, killed at the
# end): the scripts must not hand it their lock.
export YGGDRASIL_RESTART="echo restart >> '$YDIR/restarts'; sleep 600 </dev/null >/dev/null 2>&1 & echo \$! >> '$YDIR/daemons'"
export DB_HOST=127.0.0.1 DB_PORT="$CO_PORT" DB_USER=nostr_ts_relay DB_NAME=nostr_ts_relay DB_PASSWORD="$CO_PW"
export STORAGE_NODE_HOST_OVERRIDE=::1 STORAGE_NODE_PORT="$ST_PORT" STORAGE_NODE_WAIT=5
restarts() { [ -f "$YDIR/restarts" ] && wc -l <"$YDIR/restarts" || echo 0; }

ADDR1=200:ef01:5678::1
KEY1=aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899
ADDR2=301:abcd::2
KEY2=99887766554433221100ffeeddccbbaa99887766554433221100ffeeddccbbaa

# --- data ------------------------------------------------------------------------------
# 4000 events an hour apart from T0, tags for a third of them, 40 replaceable.
T0=1600000000
co "INSERT INTO events (event_id, event_pubkey, event_kind, event_created_at, event_content,
                        event_tags, event_signature, event_deduplication, deleted_at)
    SELECT sha256(('ev' || i)::bytea),
           CASE WHEN i % 100 = 7 THEN sha256(('rp' || i)::bytea) ELSE sha256(('pk' || (i % 50))::bytea) END,
           CASE WHEN i % 100 = 7 THEN 0 ELSE 1 END,
           $T0 + i * 3600, 'content ' || i || repeat('x', i % 200),
           jsonb_build_array(jsonb_build_array('p', encode(sha256(('pk' || (i % 7))::bytea), 'hex'))),
           sha256(('sig' || i)::bytea) || sha256(('sig2' || i)::bytea),
           CASE WHEN i % 100 = 7 THEN jsonb_build_array(encode(sha256(('rp' || i)::bytea), 'hex'), 0) END,
           CASE WHEN i % 97 = 0 THEN timestamp '2021-01-01' END
      FROM generate_series(0, 3999) i;
    INSERT INTO event_tags (event_id, tag_name, tag_value)
    SELECT event_id, 'p', event_tags->0->>1 FROM events WHERE event_kind = 1 AND event_created_at % 3 = 0;"
CSUM_SQL="SELECT count(*) || ':' || md5(string_agg(encode(event_id, 'hex') || '/' || event_created_at || '/'
            || coalesce(deleted_at::text, '-') || '/' || md5(event_content) || '/' || event_tags::text
            || '/' || coalesce(event_deduplication::text, '-'), ',' ORDER BY event_id)) FROM events"
csum() { co "$CSUM_SQL"; }
vsum() { co "${CSUM_SQL/FROM events/FROM events WHERE deleted_at IS NULL}"; }   # what the relay shows
TAGS_SQL="SELECT count(*) || ':' || md5(string_agg(encode(event_id, 'hex') || tag_value, ',' ORDER BY event_id, tag_value)) FROM event_tags"
C0="$(csum)"; TAGS0="$(co "$TAGS_SQL")"
say "# loaded: $C0"
parts() { co "SELECT string_agg(c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid), '; ' ORDER BY c.relname)
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass"; }
remote_count() { st "SELECT count(*) FROM events_data" "${1:-nostr_ts_relay}"; }

# run EXPECTED_RC NAME CMD...: output in $OUT
run() {
  local want="$1" what="$2"; shift 2
  OUT="$("$@" 2>&1)"; local rc=$?
  if [ "$rc" = "$want" ]; then ok "$what (exit $rc)"; else bad "$what: exit $rc, expected $want"; printf '%s\n' "$OUT" | sed 's/^/#   /'; fi
}
has() { if grep -qF -- "$2" <<<"$OUT"; then ok "$1"; else bad "$1 (no '$2' in output)"; printf '%s\n' "$OUT" | sed 's/^/#   /'; fi; }

# --- refusals before anything changes ---------------------------------------------------------
run 2 "bad address refused" "$S/add-storage-node.sh" 10.1.2.3 node1 "$ST_PW" MINVALUE 1605000000 --pubkey "$KEY1"
has "the message names ADDRESS" "ADDRESS '10.1.2.3'"
co "INSERT INTO events (event_id, event_pubkey, event_kind, event_created_at, event_content, event_signature)
    VALUES (sha256('neg'::bytea), sha256('pk'::bytea), 1, -5, 'negative', sha256('s'::bytea) || sha256('s'::bytea))"
run 3 "a range leaving rows with created_at < 0 in a second piece of events_hot is refused" \
  "$S/add-storage-node.sh" "$ADDR1" node1 "$ST_PW" 0 1605000000 --pubkey "$KEY1"
has "the refusal explains how to pick the range" "touches one end of events_hot"
co "DELETE FROM events WHERE event_created_at = -5"
eq "nothing changed by refusals (whitelist)" "$(jq -c .AllowedPublicKeys "$YDIR/yggdrasil.conf")" "[]"
eq "nothing changed by refusals (partitions)" "$(parts)" "events_hot FOR VALUES FROM (MINVALUE) TO (MAXVALUE)"

# --- unreachable node: refuses to touch partitions -------------------------------------------------
DEAD_PORT="$(pick_port)"
run 1 "an unreachable node: failure after bounded retries" env STORAGE_NODE_PORT="$DEAD_PORT" STORAGE_NODE_WAIT=2 \
  "$S/add-storage-node.sh" "$ADDR1" node1 "$ST_PW" 0 1605000000 --pubkey "$KEY1"
has "it says no partition was changed" "No partition was changed"
eq "partitions untouched after the failure" "$(parts)" "events_hot FOR VALUES FROM (MINVALUE) TO (MAXVALUE)"
eq "the key was whitelisted (step 1 done, idempotent)" "$(jq -c .AllowedPublicKeys "$YDIR/yggdrasil.conf")" "[\"$KEY1\"]"
eq "one yggdrasil restart" "$(restarts)" 1
if flock -n "$YDIR/.storage-scripts.lock" true; then ok "the process the restart left running does not hold the script lock"
else bad "the restarted daemon holds the script lock"; fi
run 1 "a wrong password: failure without waiting" env STORAGE_NODE_WAIT=30 \
  "$S/add-storage-node.sh" "$ADDR1" node1 "wrong" 0 1605000000 --pubkey "$KEY1"
has "it names the cause" "password authentication failed"

# --- register a historical node overlapping events_hot (the spec's 0..T) ----------------------------
CUT1=1605000000   # T0 + ~1388 h
PSLOG="$TMP/ps.log"
( sleep 0.3; for _ in $(seq 1 60); do ps -eo args >>"$PSLOG"; sleep 0.05; done ) &
PS_PID=$!
run 0 "add-storage-node.sh node1 0..$CUT1 (overlaps events_hot: rows move)" \
  "$S/add-storage-node.sh" "$ADDR1" node1 "$ST_PW" 0 "$CUT1" --pubkey "${KEY1^^}"
wait "$PS_PID"
printf '%s\n' "$OUT" | sed 's/^/#   /'
if grep -qF "or\\age" "$PSLOG"; then bad "the node password appeared in the process list"; else ok "the node password never appeared in the process list"; fi
if grep -qF "ord\\pw" "$PSLOG"; then bad "DB_PASSWORD appeared in the process list"; else ok "DB_PASSWORD never appeared in the process list"; fi
if grep -qF "or\\age" <<<"$OUT"; then bad "the password is in the output"; else ok "the password is not in the output"; fi
eq "partitions: node1 [0, CUT1), events_hot [CUT1, MAX)" "$(parts)" \
  "events_archive_node1 FOR VALUES FROM (0) TO ($CUT1); events_hot FOR VALUES FROM ($CUT1) TO (MAXVALUE)"
eq "every event still there, unchanged (count and checksum)" "$(csum)" "$C0"
eq "event_tags untouched" "$(co "$TAGS_SQL")" "$TAGS0"
n_hot_moved="$(co "SELECT count(*) FROM events_hot WHERE event_created_at < $CUT1")"
eq "no moved row left in events_hot" "$n_hot_moved" 0
eq "the moved rows are on the node" "$(remote_count)" "$(co "SELECT count(*) FROM events WHERE event_created_at < $CUT1")"
eq "no change-capture trigger left" "$(co "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'events_hot'::regclass AND NOT tgisinternal")" 0
eq "key lower-cased in the whitelist" "$(jq -c .AllowedPublicKeys "$YDIR/yggdrasil.conf")" "[\"$KEY1\"]"
eq "nodes.json entry" "$(jq -c .node1 "$YDIR/nodes.json")" "{\"pubkey\":\"$KEY1\",\"address\":\"$ADDR1\",\"from\":0,\"to\":$CUT1}"
eq "yggdrasil.conf kept its mode" "$(stat -c %a "$YDIR/yggdrasil.conf")" 600
eq "no restart when the key was already whitelisted" "$(restarts)" 1
plan="$(co "EXPLAIN SELECT count(*) FROM events WHERE event_created_at > 0")"
if grep -q "Async Foreign Scan on events_archive_node1" <<<"$plan" && grep -q "events_hot" <<<"$plan"; then
  ok "EXPLAIN shows events_hot and an Async Foreign Scan of events_archive_node1"
else bad "EXPLAIN plan: $plan"; fi
eq "server options" "$(co "SELECT array_to_string(srvoptions, ',') FROM pg_foreign_server WHERE srvname = 'storage_node1'")" \
  "host=::1,port=$ST_PORT,dbname=nostr_ts_relay,async_capable=true,fetch_size=1000,batch_size=500,connect_timeout=10"
run 0 "re-running the same add is a no-op" "$S/add-storage-node.sh" "$ADDR1" node1 "$ST_PW" 0 "$CUT1" --pubkey="$KEY1"
has "it says the node is already attached" "already covers"
eq "still the same events" "$(csum)" "$C0"

# --- nostream_put_event across partitions ----------------------------------------------------------
rp_i=7; rp_pk="sha256(('rp' || $rp_i)::bytea)"
eq "a duplicate of an event now on the node is answered 'duplicate'" \
  "$(co "SELECT nostream_put_event(sha256('ev100'::bytea), sha256('pk0'::bytea), 1, $T0 + 100 * 3600, 'x', '[]', sha256('a'::bytea) || sha256('b'::bytea), NULL, NULL, NULL)")" duplicate
eq "a newer replaceable event replaces the version on the node" \
  "$(co "SELECT nostream_put_event(sha256('rp7new'::bytea), $rp_pk, 0, $T0 + 8 * 3600, 'new', '[]', sha256('a'::bytea) || sha256('b'::bytea), jsonb_build_array(encode($rp_pk, 'hex'), 0), NULL, NULL)")" stored
eq "only the new version is left" "$(co "SELECT count(*) FROM events WHERE event_pubkey = $rp_pk AND event_kind = 0")" 1
eq "and it was stored on the node" "$(st "SELECT count(*) FROM events_data WHERE event_id = sha256('rp7new'::bytea)")" 1
co "DELETE FROM events WHERE event_id = sha256('rp7new'::bytea)"
# put the original back so that checksums keep comparing
co "INSERT INTO events (event_id, event_pubkey, event_kind, event_created_at, event_content, event_tags, event_signature, event_deduplication)
    SELECT sha256(('ev' || i)::bytea), sha256(('rp' || i)::bytea), 0, $T0 + i * 3600, 'content ' || i || repeat('x', i % 200),
           jsonb_build_array(jsonb_build_array('p', encode(sha256(('pk' || (i % 7))::bytea), 'hex'))),
           sha256(('sig' || i)::bytea) || sha256(('sig2' || i)::bytea), jsonb_build_array(encode(sha256(('rp' || i)::bytea), 'hex'), 0)
      FROM generate_series(7, 7) i"
eq "back to the loaded events" "$(csum)" "$C0"

# --- archive, killed at random moments, with a concurrent writer ----------------------------------
# A reference copy of events (a plain table): the writer applies every
# change to both, so at the end events must equal ref.
co "CREATE TABLE ref AS SELECT * FROM events"
writer() {
  local i=0 id
  while [ ! -e "$TMP/stop-writer" ] && [ "$i" -lt 400 ]; do
    i=$(( i + 1 ))
    case $(( i % 3 )) in
      0) co "BEGIN;
             SELECT nostream_put_event(sha256('w$i'::bytea), sha256('wpk'::bytea), 1, $CUT1 + ($i * 7919) % 200000, 'writer $i', '[]',
                                       sha256('a'::bytea) || sha256('b'::bytea), NULL, NULL, NULL);
             INSERT INTO ref SELECT * FROM events WHERE event_id = sha256('w$i'::bytea) AND event_created_at = $CUT1 + ($i * 7919) % 200000;
             COMMIT;" >/dev/null 2>>"$TMP/writer.err" ;;
      1) id="sha256(('ev' || ((1390 + ($i * 13) % 55)))::bytea)"
         co "BEGIN; UPDATE events SET deleted_at = timestamp '2022-02-02' WHERE event_id = $id;
                    UPDATE ref SET deleted_at = timestamp '2022-02-02' WHERE event_id = $id; COMMIT;" 2>>"$TMP/writer.err" ;;
      2) id="sha256(('ev' || ((1390 + ($i * 17) % 55)))::bytea)"
         co "BEGIN; DELETE FROM events WHERE event_id = $id; DELETE FROM ref WHERE event_id = $id; COMMIT;" 2>>"$TMP/writer.err" ;;
    esac
    sleep 0.01
  done
}
CUT2=1606000000
kills=0
writer & WRITER_PID=$!
for attempt in 1 2 3 4 5 6; do
  setsid "$S/archive-events.sh" --node node1 --cutoff "$CUT2" --batch-size 5 --batch-window 86400 >"$TMP/archive.$attempt.log" 2>&1 &
  apid=$!
  sleep "0.$(( RANDOM % 9 + 1 ))"
  if kill -0 "$apid" 2>/dev/null; then
    # odd attempts: the whole process group (as a crash would); even ones:
    # only the script, so that its psql child runs on (and holds the lock)
    if [ $(( attempt % 2 )) = 1 ]; then kill -KILL -- "-$apid" 2>/dev/null; else kill -KILL "$apid" 2>/dev/null; fi
    kills=$(( kills + 1 ))
  fi
  wait "$apid" 2>/dev/null
done
touch "$TMP/stop-writer"; wait "$WRITER_PID"; WRITER_PID=""
say "# archive killed $kills times"
run 0 "archive-events.sh --cutoff completes after the kills" \
  "$S/archive-events.sh" --node node1 --cutoff "$CUT2" --batch-size 5 --batch-window 86400
printf '%s\n' "$OUT" | tail -n 8 | sed 's/^/#   /'
has "it prints a rate and an ETA" "rows/s, ETA"
eq "partitions: node1 [0, CUT2), events_hot [CUT2, MAX)" "$(parts)" \
  "events_archive_node1 FOR VALUES FROM (0) TO ($CUT2); events_hot FOR VALUES FROM ($CUT2) TO (MAXVALUE)"
REFSUM="$(co "${CSUM_SQL/FROM events/FROM ref}")"
eq "events equal the reference after kills and concurrent writes" "$(csum)" "$REFSUM"
eq "the writer saw no errors" "$(cat "$TMP/writer.err" 2>/dev/null)" ""
eq "event_tags untouched by the archive" "$(co "$TAGS_SQL")" "$TAGS0"
eq "no change-capture trigger left" "$(co "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'events_hot'::regclass AND NOT tgisinternal")" 0
eq "nodes.json follows the node's range" "$(jq -c '[.node1.from, .node1.to]' "$YDIR/nodes.json")" "[0,$CUT2]"
run 0 "archive again: nothing to do" "$S/archive-events.sh" --node node1 --cutoff "$CUT2"
has "nothing to archive" "nothing to archive"
run 0 "dry run prints the plan" "$S/archive-events.sh" --node=node1 --cutoff=1607000000 --batch-window=86400 --dry-run
has "dry run lists a total" "total:"
eq "dry run changed nothing" "$(parts)" \
  "events_archive_node1 FOR VALUES FROM (0) TO ($CUT2); events_hot FOR VALUES FROM ($CUT2) TO (MAXVALUE)"
C1="$(csum)"; V1="$(vsum)"

# --- a second node for future events (own database on the storage cluster) -------------------------
FUT=1612000000
run 0 "add node2 for [FUT, MAXVALUE) in its own database" env STORAGE_NODE_DB=node2db STORAGE_NODE_USER=node2 \
  "$S/add-storage-node.sh" "$ADDR2" node2 "$ST2_PW" "$FUT" MAXVALUE --pubkey "$KEY2"
eq "partitions with two nodes" "$(parts)" \
  "events_archive_node1 FOR VALUES FROM (0) TO ($CUT2); events_archive_node2 FOR VALUES FROM ($FUT) TO (MAXVALUE); events_hot FOR VALUES FROM ($CUT2) TO ($FUT)"
eq "events unchanged" "$(csum)" "$C1"
eq "node2 holds the rows from FUT on" "$(remote_count node2db)" "$(co "SELECT count(*) FROM events WHERE event_created_at >= $FUT")"
eq "two restarts more? one (node2's key)" "$(restarts)" 2
run 3 "an overlapping range is refused, naming the partition" \
  "$S/add-storage-node.sh" 200:1::9 node3 pw 1500000000 1601000000 --pubkey "$KEY2"
has "the conflict is named" "events_archive_node1"

# --- interrupted move, then --abort --------------------------------------------------------------
setsid "$S/narrow-hot.sh" node2 1611000000 "$FUT" --batch-size 5 >"$TMP/narrow.log" 2>&1 &
npid=$!
for _ in $(seq 1 50); do grep -q "rows/s" "$TMP/narrow.log" && break; sleep 0.1; done
kill -KILL -- "-$npid" 2>/dev/null; wait "$npid" 2>/dev/null
sleep 0.5
eq "mid-move copies on an attached node are not shown twice (visible rows unchanged)" "$(vsum)" "$V1"
run 0 "narrow-hot.sh --status shows the unfinished move" "$S/narrow-hot.sh" --status
has "status names it" "Unfinished move"
run 3 "another node's add is refused while a move is unfinished" "$S/narrow-hot.sh" node1 "$CUT2" 1607000000
run 0 "narrow-hot.sh --abort" "$S/narrow-hot.sh" --abort
eq "no trigger after --abort" "$(co "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'events_hot'::regclass AND NOT tgisinternal")" 0
eq "events unchanged after the abort" "$(csum)" "$C1"

# --- remove, then re-add ----------------------------------------------------------------------------
run 0 "remove-storage-node.sh node2" "$S/remove-storage-node.sh" node2
has "it warns about the uncovered range" "No partition covers"
eq "node2's key gone, node1's kept" "$(jq -c .AllowedPublicKeys "$YDIR/yggdrasil.conf")" "[\"$KEY1\"]"
eq "node2 gone from nodes.json" "$(jq -c 'keys' "$YDIR/nodes.json")" '["node1"]'
eq "server, mappings, foreign table gone" \
  "$(co "SELECT count(*) FROM pg_foreign_server WHERE srvname = 'storage_node2'")$(co "SELECT count(*) FROM pg_class WHERE relname = 'events_archive_node2'")" 00
eq "the rows stay on the node" "$(remote_count node2db)" "$(co "SELECT count(*) FROM ref WHERE event_created_at >= $FUT")"
run 0 "removing again is a no-op" "$S/remove-storage-node.sh" node2
has "already gone is noted" "already"
run 0 "narrow-hot.sh --widen gives events_hot the uncovered range" "$S/narrow-hot.sh" --widen
eq "events_hot [CUT2, MAXVALUE) again" "$(parts)" \
  "events_archive_node1 FOR VALUES FROM (0) TO ($CUT2); events_hot FOR VALUES FROM ($CUT2) TO (MAXVALUE)"
C2="$(csum)"
run 0 "remove-storage-node.sh node1" "$S/remove-storage-node.sh" node1
eq "the whitelist is never left empty (placeholder key)" "$(jq '.AllowedPublicKeys | length' "$YDIR/yggdrasil.conf")" 1
eq "only events_hot's rows are reachable" "$(co "SELECT count(*) FROM events")" "$(co "SELECT count(*) FROM ref WHERE event_created_at >= $CUT2 AND event_created_at < $FUT")"
run 0 "re-add node1 for [0, CUT2): nothing to move" \
  "$S/add-storage-node.sh" "$ADDR1" node1 "$ST_PW" 0 "$CUT2" --pubkey "$KEY1"
eq "node1's rows are reachable again" "$(csum)" "$C2"

# --- password from stdin, restart count, lower-case address ------------------------------------------
run 0 "PASSWORD '-' reads it from standard input (re-add after remove)" bash -c \
  "'$S/remove-storage-node.sh' node1 >/dev/null && printf '%s\n' \"\$0\" | '$S/add-storage-node.sh' 200:EF01:5678::1 node1 - 0 $CUT2 --pubkey $KEY1" "$ST_PW"
eq "address recorded lower-case" "$(jq -r .node1.address "$YDIR/nodes.json")" "$ADDR1"
eq "events still all there" "$(csum)" "$C2"

# --- optional: a larger move, for timings (SCRIPTS_LOCAL_PERF_ROWS=N) ---------------------------
if [ -n "${SCRIPTS_LOCAL_PERF_ROWS:-}" ]; then
  N="$SCRIPTS_LOCAL_PERF_ROWS"; P0=1620000000
  co "INSERT INTO events (event_id, event_pubkey, event_kind, event_created_at, event_content, event_tags, event_signature)
      SELECT sha256(('perf' || i)::bytea), sha256(('pk' || (i % 500))::bytea), 1, $P0 + i * 10,
             repeat('perf content ', 20), jsonb_build_array(jsonb_build_array('p', md5(i::text))),
             sha256(('s' || i)::bytea) || sha256(('t' || i)::bytea)
        FROM generate_series(1, $N) i; ANALYZE events_hot"
  CP="$(csum)"
  say "# perf: $N rows in events_hot from $P0, archiving them all to node1"
  s0=$(date +%s%N)
  run 0 "perf: archive $N rows" "$S/archive-events.sh" --node node1 --cutoff $(( P0 + N * 10 + 1 ))
  printf '%s\n' "$OUT" | grep -E "copy done|switched|window" | tail -n 3 | sed 's/^/#   /'
  say "# perf: $(( ($(date +%s%N) - s0) / 1000000 )) ms in all"
  eq "perf: events unchanged" "$(csum)" "$CP"
fi

ELAPSED=$(( $(date +%s) - START_TS ))
say "# took ${ELAPSED}s"
say "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
