#!/bin/bash
# Soak test: mixed load on the relay for a long while, with a storage node's
# PostgreSQL and the coordinator's PostgreSQL killed and restarted every few
# minutes. At the end, every event that got OK true must be readable, no REQ
# may have hung, the relay must be the same process, and its memory flat.
# See tests/soak/README.md.
#
#   tests/soak/soak.sh [--minutes N] [--kill-every SECONDS] [--grace SECONDS]
#                      [--publishers N] [--rate EV/S] [--readers N]
#
#   --minutes N        load duration (default 30)
#   --kill-every S     one kill every S seconds of load (default 180),
#                      alternately: kill -9 of node1's PostgreSQL (every
#                      process of it; back after 10-20 s) and
#                      `pg_ctl stop -m immediate` of the coordinator's
#                      PostgreSQL (back after 3-6 s)
#   --grace S          after the load, with everything restored: how long the
#                      acknowledged events may take to become readable (60)
#   --publishers N, --rate EV/S, --readers N: load shape (4, 6 per publisher, 3)
#
# Root only (network namespaces); without root, or where `ip netns` does not
# work, it says SKIPPED and exits 0. The topology is tests/distributed/
# topology.sh's (namespaces ns-coord-soak, ns-node1-soak, ...: TOPO_SUFFIX,
# default -soak); node1 is registered for the range [0, T0 - 30 days).
#
# Environment: TOPO_SUFFIX (-soak), NOSTREAM_BIN (build/nostream),
# KEEP_TMP=1 (keep /tmp/soak.* also when it passed; it is kept on failure),
# SOAK_TIMEOUT (whole run; default minutes*60 + grace + 600 s).
#
# Network: loopback (relay, the coordinator's unix socket), the namespaces'
# fd42:: veth addresses and Yggdrasil 200::/7 addresses inside them.
#
# Ends with a summary, a line "SOAK_JSON {...}" and "soak: PASSED|FAILED";
# exit 0 only when every check passed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$HERE/../.." && pwd -P)"
# shellcheck source=tests/distributed/relay-start.sh
. "$REPO/tests/distributed/relay-start.sh"
TOPO="$REPO/tests/distributed/topology.sh"
CLIENT="$HERE/soak-client.mjs"

soak_usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
MINUTES=30; KILL_EVERY=180; GRACE=60; PUBLISHERS=4; RATE=6; READERS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES="${2:-}"; shift 2 ;;
    --kill-every) KILL_EVERY="${2:-}"; shift 2 ;;
    --grace) GRACE="${2:-}"; shift 2 ;;
    --publishers) PUBLISHERS="${2:-}"; shift 2 ;;
    --rate) RATE="${2:-}"; shift 2 ;;
    --readers) READERS="${2:-}"; shift 2 ;;
    -h|--help) soak_usage ;;
    *) echo "soak: unknown argument '$1'" >&2; soak_usage ;;
  esac
done
for v in MINUTES KILL_EVERY GRACE PUBLISHERS RATE READERS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "soak: --${v,,} must be a whole number (got '${!v}')" >&2; exit 2; }
done
[ "$MINUTES" -ge 1 ] || { echo "soak: --minutes must be at least 1" >&2; exit 2; }
[ "$KILL_EVERY" -ge 20 ] || { echo "soak: --kill-every must be at least 20 s" >&2; exit 2; }

# --- skip where it cannot run ----------------------------------------------
if [ "$(id -u)" != 0 ]; then
  echo "soak: SKIPPED (needs root for network namespaces)"
  exit 0
fi
probe="soakprobe$$"
if ! ip netns add "$probe" 2>/tmp/soak-probe.$$; then
  echo "soak: SKIPPED (ip netns unavailable: $(head -n 1 /tmp/soak-probe.$$))"
  rm -f /tmp/soak-probe.$$
  exit 0
fi
ip netns del "$probe"
rm -f /tmp/soak-probe.$$
for t in ip yggdrasil yggdrasilctl jq flock psql pg_isready node curl setsid setpriv timeout pgrep; do
  command -v "$t" >/dev/null || { echo "soak: FAILED: tool $t missing (apt-get install iproute2 yggdrasil jq postgresql-15 nodejs curl)"; exit 1; }
done
[ -d "$REPO/tests/node_modules/ws" ] && [ -d "$REPO/tests/node_modules/nostr-tools" ] ||
  { echo "soak: FAILED: tests/node_modules missing: make tests/node_modules/.package-lock.json"; exit 1; }

# The topology's helpers (pid_alive, proc_start, as_pg, node_pg_start,
# coord_pg_start...). The file sets -e; this script handles errors itself.
export TOPO_SUFFIX="${TOPO_SUFFIX--soak}"
# shellcheck source=../distributed/topology.sh
. "$TOPO"
set +e

LOAD_SECONDS=$(( MINUTES * 60 ))
SOAK_TIMEOUT="${SOAK_TIMEOUT:-$(( LOAD_SECONDS + GRACE + 600 ))}"
START=$(date +%s)
say() { printf '%s\n' "$*"; }
ts() { date -u +%FT%T.%3NZ; }
elapsed() { echo "$(( $(date +%s) - START ))"; }

WORK="$(mktemp -d /tmp/soak.XXXXXX)"
chmod 755 "$WORK"
TD="$WORK/topo"
OUT="$WORK/out"
mkdir -p "$OUT"
PHASE_FILE="$WORK/phase"
echo setup >"$PHASE_FILE"
STOP="$WORK/stop-load"
RELAY_PID=""; CLIENT_PID=""; SAMPLER_PID=""; WATCHDOG=""; TOPO_UP=0; RESULT=1

cleanup() {
  trap - INT TERM
  if [ -n "$WATCHDOG" ]; then
    kill "$WATCHDOG" 2>/dev/null
    [ -s "$WORK/watchdog.pid" ] && kill "$(cat "$WORK/watchdog.pid")" 2>/dev/null
  fi
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null
  [ -n "$CLIENT_PID" ] && kill "$CLIENT_PID" 2>/dev/null
  if [ -n "$RELAY_PID" ] && kill -0 "$RELAY_PID" 2>/dev/null; then
    kill -TERM "$RELAY_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$RELAY_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$RELAY_PID" 2>/dev/null
  fi
  [ "$TOPO_UP" = 1 ] && timeout 120 "$TOPO" down "$TD" >"$WORK/topology-down.log" 2>&1
  if [ "${KEEP_TMP:-0}" = 1 ] || [ "$RESULT" != 0 ]; then say "# kept $WORK (relay.log, actions.log, out/: events.jsonl reqs.jsonl rss.csv ...)"
  else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'say "# interrupted (signal or SOAK_TIMEOUT=${SOAK_TIMEOUT}s)"; say "soak: FAILED (interrupted)"; exit 1' INT TERM
( sleep "$SOAK_TIMEOUT" & echo $! >"$WORK/watchdog.pid"; wait; kill -TERM $$ ) 2>/dev/null &
WATCHDOG=$!

abort() { say "soak: FAILED: $*"; exit 1; }

say "# soak: ${MINUTES} min of load, a kill every ${KILL_EVERY} s, grace ${GRACE} s; work directory $WORK"

# --- 1. topology --------------------------------------------------------------
say "# $(elapsed) s: topology up (TOPO_SUFFIX=$TOPO_SUFFIX)"
TOPO_UP=1
if ! timeout 240 "$TOPO" up "$TD" >"$WORK/topology-up.log" 2>&1; then
  tail -n 30 "$WORK/topology-up.log" | sed 's/^/#   /'
  abort "topology.sh up"
fi
# shellcheck disable=SC1091
. "$TD/topology.env"
export DB_HOST="$COORD_PG_SOCKET" DB_PORT="$COORD_PG_PORT" DB_USER="$COORD_PG_USER" DB_NAME="$COORD_PG_DB" DB_PASSWORD=""
export YGGDRASIL_CONFIG_DIR YGGDRASIL_RESTART
co() { PGOPTIONS='-c statement_timeout=60s' psql -X -q -At -v ON_ERROR_STOP=1 -h "$COORD_PG_SOCKET" -p "$COORD_PG_PORT" -U "$COORD_PG_USER" -d "$COORD_PG_DB" -c "$1"; }
nsql1() { ip netns exec "$NS_NODE1" psql -X -q -At -v ON_ERROR_STOP=1 -h "$NODE1_PG_SOCKET" -p 5432 -U nostr_ts_relay -d nostr_ts_relay -c "$1"; }

# --- 2. relay -------------------------------------------------------------------
say "# $(elapsed) s: relay"
RELAY_BIN="${NOSTREAM_BIN:-$REPO/build/nostream}"
if [ ! -x "$RELAY_BIN" ] && [ -z "${NOSTREAM_BIN:-}" ]; then
  make -C "$REPO" build/nostream >"$WORK/build.log" 2>&1 || { tail -n 20 "$WORK/build.log"; abort "make build/nostream"; }
fi
# A private copy: a rebuild of build/nostream during the run does not touch it.
cp "$RELAY_BIN" "$WORK/nostream" || abort "cannot copy $RELAY_BIN"
say "# relay binary $RELAY_BIN ($(stat -c '%y' "$RELAY_BIN" | cut -d. -f1))"
RELAY_BIN="$WORK/nostream"
mkdir -p "$WORK/relay-config"
node "$CLIENT" settings >"$WORK/relay-config/settings.yaml" || abort "soak-client.mjs settings"
up=0
relay_start "$RELAY_BIN" "$WORK/relay-config" "$WORK/relay.log" && up=1
[ "$up" = 1 ] || { tail -n 20 "$WORK/relay.log" | sed 's/^/#   /'; abort "the relay did not come up"; }
RELAY_START="$(proc_start "$RELAY_PID")"
RELAY_PID0="$RELAY_PID"
URL="ws://127.0.0.1:$RELAY_PORT"
say "# relay pid $RELAY_PID on $URL"
# Alive, and still the process started above (a zombie is a dead relay).
relay_alive() {
  [ "$(proc_start "$RELAY_PID")" = "$RELAY_START" ] || return 1
  [ "$(awk '{print $3}' "/proc/$RELAY_PID/stat" 2>/dev/null)" != Z ]
}

# --- 3. storage node --------------------------------------------------------------
T0=$(date +%s)
T1=$(( T0 - 30 * 86400 ))
say "# $(elapsed) s: register node1 for [0, $T1) (T0 - 30 days)"
# node1's yggdrasil has been dialing a coordinator that refused it since
# `up`, and backs off (up to a minute); restarting it right after the
# coordinator's (as an operator starting the node after registering it)
# makes it peer at once.
t_reg=$(date +%s)
if ! YGGDRASIL_RESTART="$YGGDRASIL_RESTART && $NODE1_YGG_RESTART" timeout 180 "$REPO/scripts/add-storage-node.sh" \
     "$NODE1_YGG_ADDR" node1 "$NODE1_DB_PASSWORD" 0 "$T1" --pubkey "$NODE1_YGG_PUBKEY" >"$WORK/add-storage-node.log" 2>&1; then
  tail -n 30 "$WORK/add-storage-node.log" | sed 's/^/#   /'
  abort "add-storage-node.sh node1"
fi
"$TOPO" wait-peer "$TD" node1 30 >/dev/null 2>&1 || abort "node1 not peered with the coordinator"
say "# node1 registered in $(( $(date +%s) - t_reg )) s"
say "# partitions: $(co "SELECT string_agg(inhrelid::regclass || ' ' || pg_get_expr(c.relpartbound, c.oid), '; ' ORDER BY 1) FROM pg_inherits JOIN pg_class c ON inhrelid = c.oid WHERE inhparent = 'events'::regclass")"

# --- 4. load, kills, RSS samples ----------------------------------------------------
act() { # ACTION DETAIL: logged with a timestamp (actions.log, out/actions.jsonl)
  local t; t="$(date +%s%3N)"
  printf '%s %-10s %s\n' "$(ts)" "$1" "$2" >>"$WORK/actions.log"
  jq -nc --arg ts "$(ts)" --argjson t "$t" --arg action "$1" --arg detail "$2" '{ts: $ts, t: $t, action: $action, detail: $detail}' >>"$OUT/actions.jsonl"
  say "# $(ts) (+$(( $(date +%s) - LOAD_START )) s) $1 $2"
}

NODE_PGDATA="$TD/node1/pgdata"
COORD_PGDATA="$TD/coord/pgdata"
gone() { # PID...: none of them runs any more (a zombie has ended too)
  local p st
  for p in "$@"; do
    st="$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" || continue
    [ -z "$st" ] || [ "$st" = Z ] || return 1
  done
}
kill_node_pg() { # every process of node1's PostgreSQL at once, as `docker kill` would
  local pm kids i
  pm="$(head -n 1 "$NODE_PGDATA/postmaster.pid" 2>/dev/null)"
  if ! [[ "$pm" =~ ^[0-9]+$ ]] || [ "$(cat "/proc/$pm/comm" 2>/dev/null)" != postgres ]; then
    act kill-node-failed "no running postmaster in $NODE_PGDATA"; return 1
  fi
  kids="$(pgrep -P "$pm" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill -KILL "$pm" $kids 2>/dev/null
  act kill-node "kill -9 node1 PostgreSQL: postmaster $pm and $(wc -w <<<"$kids") children"
  for ((i = 0; i < 100; i++)); do
    # shellcheck disable=SC2086
    gone "$pm" $kids && return 0
    sleep 0.1
  done
  say "# some processes of node1's PostgreSQL still exist 10 s after kill -9"
}
start_node_pg() {
  local t0; t0=$(date +%s%3N)
  if ( node_pg_start "$TD" node1 ) >>"$WORK/restarts.log" 2>&1; then
    act node-up "node1 PostgreSQL accepts connections ($(( $(date +%s%3N) - t0 )) ms to start)"; return 0
  fi
  act node-up-failed "see restarts.log"; return 1
}
stop_coord_pg() {
  as_pg "$PG_BINDIR/pg_ctl" -D "$COORD_PGDATA" -m immediate -w -t 30 -s stop >>"$WORK/restarts.log" 2>&1
}
start_coord_pg() {
  local t0; t0=$(date +%s%3N)
  if ( coord_pg_start "$TD" ) >>"$WORK/restarts.log" 2>&1; then
    act coord-up "coordinator PostgreSQL accepts connections ($(( $(date +%s%3N) - t0 )) ms to start)"; return 0
  fi
  act coord-up-failed "see restarts.log"; return 1
}
coord_alive() { as_pg "$PG_BINDIR/pg_ctl" -D "$COORD_PGDATA" status >/dev/null 2>&1; }
node_alive() { pid_alive "$TD/node1/postgres.pid" >/dev/null && ip netns exec "$NS_NODE1" pg_isready -q -h "$NODE1_YGG_ADDR" -p 5432; }

KILLS_PLANNED=$(( (LOAD_SECONDS - 10) / KILL_EVERY ))
echo load >"$PHASE_FILE"
LOAD_START=$(date +%s)
echo "elapsed_s,epoch_ms,rss_kib,fds,threads,phase" >"$OUT/rss.csv"
(
  trap 'kill "$s" 2>/dev/null; exit 0' TERM
  while :; do
    st="/proc/$RELAY_PID/status"
    rss="$(awk '/^VmRSS:/{print $2}' "$st" 2>/dev/null)"
    thr="$(awk '/^Threads:/{print $2}' "$st" 2>/dev/null)"
    fds="$(ls "/proc/$RELAY_PID/fd" 2>/dev/null | wc -l)"
    printf '%d,%s,%s,%s,%s,%s\n' "$(( $(date +%s) - LOAD_START ))" "$(date +%s%3N)" "${rss:-0}" "$fds" "${thr:-0}" "$(cat "$PHASE_FILE")"
    sleep 10 & s=$!
    wait "$s"
  done
) >>"$OUT/rss.csv" 2>/dev/null &
SAMPLER_PID=$!

say "# $(elapsed) s: load for $LOAD_SECONDS s ($PUBLISHERS publishers at $RATE ev/s, a batch publisher, $READERS readers, 2 live subscribers); $KILLS_PLANNED kills planned"
node "$CLIENT" run "$URL" "$OUT" --seconds "$LOAD_SECONDS" --node-from 0 --node-to "$T1" --stop "$STOP" \
  --publishers "$PUBLISHERS" --rate "$RATE" --readers "$READERS" >"$WORK/client.log" 2>&1 &
CLIENT_PID=$!

k=0
while [ "$k" -lt "$KILLS_PLANNED" ]; do
  at=$(( LOAD_START + (k + 1) * KILL_EVERY ))
  while [ "$(date +%s)" -lt "$at" ]; do
    relay_alive || break 2
    gone "$CLIENT_PID" && break 2
    sleep 1
  done
  last="$(grep '^# [0-9]* s:' "$WORK/client.log" | tail -n 1)"
  [ -n "$last" ] && say "#   client${last#\#}"
  if (( k % 2 == 0 )); then
    kill_node_pg || { k=$(( k + 1 )); continue; }
    sleep $(( 10 + RANDOM % 11 ))
    start_node_pg || { sleep 5; start_node_pg; }
  else
    act stop-coord "pg_ctl stop -m immediate (coordinator PostgreSQL)"
    stop_coord_pg || { act stop-coord-failed "pg_ctl stop -m immediate failed (see restarts.log)"; k=$(( k + 1 )); continue; }
    sleep $(( 3 + RANDOM % 4 ))
    start_coord_pg || { sleep 5; start_coord_pg; }
  fi
  k=$(( k + 1 ))
done
relay_alive || { act relay-gone "the relay process $RELAY_PID is gone: stopping the load"; touch "$STOP"; }
wait "$CLIENT_PID"; client_rc=$?
CLIENT_PID=""
grep '^# run done' "$WORK/client.log" | sed 's/^# /# client: /'
[ "$client_rc" = 0 ] || { tail -n 20 "$WORK/client.log" | sed 's/^/#   /'; say "# soak-client.mjs run exited $client_rc"; }

# --- 5. everything restored, then the read-back -------------------------------------
echo restore >"$PHASE_FILE"
node_alive || { say "# node1 PostgreSQL not up after the load: starting it"; start_node_pg; }
coord_alive || { say "# coordinator PostgreSQL not up after the load: starting it"; start_coord_pg; }
fdw_ok=0
for _ in $(seq 60); do
  if co "SELECT count(*) FROM events_archive_node1" >/dev/null 2>&1; then fdw_ok=1; break; fi
  sleep 1
done
[ "$fdw_ok" = 1 ] || say "# the coordinator cannot read node1 60 s after the load"
echo settle >"$PHASE_FILE"
say "# $(elapsed) s: read-back (grace ${GRACE} s)"
if [ "$client_rc" = 0 ]; then
  timeout $(( GRACE + 600 )) node "$CLIENT" verify "$URL" "$OUT" --grace "$GRACE" >"$WORK/verify.log" 2>&1 ||
    { tail -n 20 "$WORK/verify.log" | sed 's/^/#   /'; }
  grep '^# verify' "$WORK/verify.log"
fi

# --- 6. the relay: same process, exits 0 ------------------------------------------------
same=false; why=""
if relay_alive; then same=true; else why="process $RELAY_PID gone or replaced ($(tail -n 3 "$WORK/relay.log" | tr '\n' ' '))"; fi
NODE_ROWS="$(nsql1 "SELECT count(*) FROM events_data" 2>/dev/null || echo 0)"
sleep 1
kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null; SAMPLER_PID=""
relay_exit=null
if kill -0 "$RELAY_PID" 2>/dev/null; then
  kill -TERM "$RELAY_PID"
  for _ in $(seq 150); do relay_alive || break; sleep 0.1; done
  if relay_alive; then say "# relay still running 15 s after SIGTERM: SIGKILL"; kill -KILL "$RELAY_PID"; fi
  wait "$RELAY_PID"; relay_exit=$?
fi
RELAY_PID=""
crash="$(grep -m 1 -iE "assert|sanitizer|segmentation|double free|corrupt" "$WORK/relay.log" || true)"
jq -n --argjson pid "$RELAY_PID0" --argjson same "$same" --arg why "$why" --argjson exit "$relay_exit" --arg crash "$crash" \
  --argjson killEvery "$KILL_EVERY" --argjson killsPlanned "$KILLS_PLANNED" --argjson nodeRows "${NODE_ROWS:-0}" \
  '{pid: $pid, samePid: $same, why: $why, exit: $exit, crashInLog: $crash, killEvery: $killEvery, killsPlanned: $killsPlanned, nodeRows: $nodeRows}' \
  >"$OUT/relay.json"
# relay log: what it said about the outages (counted by message)
say "# relay log, errors and warnings by message (digits and ids blanked):"
grep -E '^[0-9TZ:.-]+ (error|warn) ' "$WORK/relay.log" | cut -d' ' -f2- | sed -E 's/[0-9a-f]{16,}/<hex>/g; s/[0-9]+/N/g' |
  sort | uniq -c | sort -rn | head -n 25 | sed 's/^/#   /'

# --- 7. report ------------------------------------------------------------------------------
if [ -s "$OUT/state.json" ]; then
  node "$CLIENT" report "$OUT" | tee "$WORK/report.txt"
  RESULT=${PIPESTATUS[0]}
else
  say "soak: FAILED (the load client wrote no state.json; see $WORK/client.log)"
  RESULT=1
fi
say "# total $(elapsed) s"
exit "$RESULT"
