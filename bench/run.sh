#!/usr/bin/env bash
# run.sh - `make bench`: the relay under the standard load scenarios.
#
# Starts a throwaway PostgreSQL 15 cluster (as the postgres OS user, unix
# socket only, in a temporary directory under /tmp), runs the relay
# (build/nostream) against it on a free port, seeds BENCH_EVENTS events
# (bench/seed, loaded with COPY), then runs build/loadgen:
#   connect  BENCH_CONNECT idle connections (first, on a relay that has
#            served nothing yet, so its memory figure is clean)
#   req      20 connections, one REQ in flight each, authors-kinds-limit10
#   req_limit100  {kinds:[1], limit:100} (events delivered per second)
#   publish  50 connections x 20 events in flight, BENCH_SECONDS
#   publish_rate  the same 50 connections, open loop at 10,000 events/s
#   fanout   10,000 subscriptions over 1,000 connections, 1,000 events/s
# Each prints its table and JSON line (all kept in the work directory with
# KEEP_TMP=1); the run ends with one summary line per scenario:
#   publish events_per_s=N p99_ms=N
#   publish_rate events_per_s=N p99_ms=N
#   req req_per_s=N p99_ms=N
#   req_limit100 req_per_s=N events_per_s=N p99_ms=N
#   fanout p99_ms=N missed=N
#   connect kib_per_conn=N
#
# Growth mode (BENCH_GROWTH="100000 1000000 10000000", say): instead of the
# above, seeds the database batch by batch up to each size and runs the req
# shapes authors-kinds-limit10, tag-p, tag-t and ids at each, ending with one
# line per size: growth events=N <shape>_p50_ms=N <shape>_p99_ms=N ...
#
# Environment: BENCH_EVENTS (1000000), BENCH_SECONDS (10), BENCH_CONNECT
# (10000, fewer when the open-file limit is lower), BENCH_SHAPES (growth
# mode's shapes), BENCH_TIMEOUT (whole
# run, 1800 s), PG_BIN, NOSTREAM_BIN, KEEP_TMP=1 (keep the work directory).
# Must run as root (it starts PostgreSQL as the postgres user).
#
# Everything is bounded: each step has its own timeout and a watchdog ends
# the whole run after BENCH_TIMEOUT; the exit trap stops the relay and
# PostgreSQL and removes the work directory, whatever happened.

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
RELAY_BIN=${NOSTREAM_BIN:-$REPO/build/nostream}
LOADGEN=$REPO/build/loadgen
SEED=$REPO/build/seed
BENCH_EVENTS=${BENCH_EVENTS:-1000000}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_CONNECT=${BENCH_CONNECT:-10000}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-1800}
BENCH_GROWTH=${BENCH_GROWTH:-}
KEEP_TMP=${KEEP_TMP:-0}

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (PostgreSQL is started as the postgres user)"
id postgres >/dev/null 2>&1 || die "no postgres OS user: install postgresql-15"
[ -x "$PG_BIN/initdb" ] || die "$PG_BIN/initdb not found (set PG_BIN)"
command -v curl >/dev/null || die "curl is needed (to wait for the relay's /healthz)"
for b in "$RELAY_BIN" "$LOADGEN" "$SEED"; do
    [ -x "$b" ] || die "$b not built: make build/nostream build/loadgen build/seed"
done
case "$BENCH_EVENTS$BENCH_SECONDS$BENCH_CONNECT$BENCH_TIMEOUT${BENCH_GROWTH// /}" in
    *[!0-9]*) die "BENCH_EVENTS, BENCH_SECONDS, BENCH_CONNECT and BENCH_TIMEOUT are whole numbers" ;;
esac

WORK=$(mktemp -d /tmp/nostream-bench-XXXXXX)
PGDATA=$WORK/pg/data
PGSOCK=$WORK/pg/sock
RELAY_PID=""
STEP_PID=""
WATCHDOG_PID=""
PG_STARTED=0

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$STEP_PID" ] && kill -0 "$STEP_PID" 2>/dev/null; then
        kill -TERM "$STEP_PID" 2>/dev/null || true
        wait "$STEP_PID" 2>/dev/null || true
    fi
    if [ -n "$RELAY_PID" ] && kill -0 "$RELAY_PID" 2>/dev/null; then
        kill -TERM "$RELAY_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$RELAY_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$RELAY_PID" 2>/dev/null || true
        wait "$RELAY_PID" 2>/dev/null || true
    fi
    if [ "$PG_STARTED" = 1 ]; then
        (cd /tmp && timeout 60 runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1) ||
            (cd /tmp && timeout 30 runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1) || true
    fi
    if [ -n "$WATCHDOG_PID" ]; then
        # the watchdog is a subshell sleeping in a child: end both, by id
        for p in $(ps -o pid= --ppid "$WATCHDOG_PID" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
        kill "$WATCHDOG_PID" 2>/dev/null || true
        wait "$WATCHDOG_PID" 2>/dev/null || true
    fi
    if [ "$KEEP_TMP" = 1 ]; then
        echo "bench: kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

( sleep "$BENCH_TIMEOUT"; echo "bench: BENCH_TIMEOUT ($BENCH_TIMEOUT s) reached, stopping" >&2; kill -TERM $$ ) &
WATCHDOG_PID=$!

# Runs a command in the background and waits for it, so that a signal (the
# watchdog's, or Ctrl-C) is handled at once and the trap can stop it.
step() {
    "$@" &
    STEP_PID=$!
    local rc=0
    wait "$STEP_PID" || rc=$?
    STEP_PID=""
    return "$rc"
}

free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    die "no free TCP port found"
}

as_pg() { (cd /tmp && runuser -u postgres -- "$@"); }
psql_su() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$PGPORT" -U postgres "$@"; }

# ---- the machine
log "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
log "work directory: $WORK"

# Both the relay and loadgen need a file descriptor per connection.
HARD=$(ulimit -Hn)
if [ "$HARD" != unlimited ]; then
    ulimit -n "$HARD"
    if [ "$BENCH_CONNECT" -gt $((HARD - 200)) ]; then
        BENCH_CONNECT=$((HARD - 200))
        log "open-file limit $HARD: connect scenario with $BENCH_CONNECT connections"
    fi
else
    ulimit -n 1048576 2>/dev/null || true
fi

# ---- PostgreSQL
log "PostgreSQL 15: initdb"
PGPORT=$(free_port) # names the socket file only: listen_addresses is empty
mkdir -p "$WORK/pg" "$PGSOCK"
chown -R postgres:postgres "$WORK/pg"
chmod 700 "$WORK/pg"
chmod 777 "$PGSOCK"
chmod 755 "$WORK"
step timeout 120 runuser -u postgres -- "$PG_BIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C >"$WORK/initdb.log" 2>&1 ||
    { tail -20 "$WORK/initdb.log" >&2; die "initdb failed"; }
echo 'local all all trust' >"$PGDATA/pg_hba.conf"
cat >>"$PGDATA/postgresql.conf" <<EOF

# nostream bench: unix socket only; durable commits as in production
listen_addresses = ''
unix_socket_directories = '$PGSOCK'
unix_socket_permissions = 0777
port = $PGPORT
max_connections = 100
shared_buffers = 512MB
fsync = on
synchronous_commit = on
max_wal_size = 4GB
checkpoint_timeout = 15min
EOF
step timeout 90 runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg/postgres.log" -w -t 60 start >/dev/null ||
    { tail -20 "$WORK/pg/postgres.log" >&2; die "PostgreSQL did not start"; }
PG_STARTED=1
psql_su -d postgres -c "CREATE ROLE nostr_ts_relay LOGIN CREATEDB" -c "CREATE DATABASE nostr_ts_relay OWNER nostr_ts_relay"
POSTMASTER_PID=$(head -1 "$PGDATA/postmaster.pid")

# ---- the relay
# Settings: nostream's defaults, without rate limits (the load comes from
# 127.0.0.1, which nostream's default whitelists do not name).
mkdir -p "$WORK/relay"
cat >"$WORK/relay/settings.yaml" <<'EOF'
info:
  relay_url: ws://127.0.0.1/
  name: nostream-c bench
  description: Throwaway relay started by bench/run.sh
  pubkey: ""
  contact: ""
network:
  maxPayloadSize: 524288
limits:
  connection:
    rateLimits: []
    ipWhitelist: ["127.0.0.1", "::ffff:127.0.0.1", "::1"]
  event:
    eventId:
      minLeadingZeroBits: 0
    createdAt:
      maxPositiveDelta: 900
      maxNegativeDelta: 0
    rateLimits: []
    whitelists:
      pubkeys: []
      ipAddresses: ["127.0.0.1", "::ffff:127.0.0.1", "::1"]
  client:
    subscription:
      maxSubscriptions: 10
      maxFilters: 10
  message:
    rateLimits: []
    ipWhitelist: ["127.0.0.1", "::ffff:127.0.0.1", "::1"]
EOF
RELAY_PORT=$(free_port)
URL="ws://127.0.0.1:$RELAY_PORT"
log "relay: $RELAY_BIN on port $RELAY_PORT"
RELAY_PORT=$RELAY_PORT DB_HOST=$PGSOCK DB_PORT=$PGPORT DB_USER=nostr_ts_relay DB_NAME=nostr_ts_relay \
    NOSTR_CONFIG_DIR=$WORK/relay MIGRATIONS_DIR=$REPO/migrations \
    "$RELAY_BIN" >"$WORK/relay/relay.log" 2>&1 &
RELAY_PID=$!
for _ in $(seq 300); do
    if curl -fsS -m 1 "http://127.0.0.1:$RELAY_PORT/healthz" >/dev/null 2>&1; then break; fi
    kill -0 "$RELAY_PID" 2>/dev/null || { tail -20 "$WORK/relay/relay.log" >&2; die "the relay exited"; }
    sleep 0.1
done
curl -fsS -m 1 "http://127.0.0.1:$RELAY_PORT/healthz" >/dev/null || { tail -20 "$WORK/relay/relay.log" >&2; die "the relay is not healthy after 30 s"; }

# ---- seed
# seed_more N SEED: adds N events made with --seed SEED (its own 10,000
# authors), loaded with COPY, then VACUUM ANALYZE. Authors and sample ids
# accumulate in $WORK/authors.txt and $WORK/ids.txt.
SEED_NOW=$(( $(date +%s) / 3600 * 3600 ))
seed_more() {
    local n=$1 sd=$2 t0
    t0=$(date +%s)
    log "seed: $n events, --seed $sd (signed on $(nproc) threads, loaded with COPY)"
    step timeout 7200 bash -c 'set -o pipefail; "$1" -n "$2" --seed "$7" --now "$8" --authors-out "$3/authors.$7.txt" --ids-out "$3/ids.$7.txt" |
        "$4/psql" -X -q -v ON_ERROR_STOP=1 -h "$5" -p "$6" -U nostr_ts_relay -d nostr_ts_relay -f - >"$3/seed-psql.log" 2>&1' \
        seed "$SEED" "$n" "$WORK" "$PG_BIN" "$PGSOCK" "$PGPORT" "$sd" "$SEED_NOW" ||
        { tail -20 "$WORK/seed-psql.log" >&2; die "seeding failed"; }
    cat "$WORK/authors.$sd.txt" >>"$WORK/authors.txt"
    cat "$WORK/ids.$sd.txt" >>"$WORK/ids.txt"
    step timeout 3600 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$PGPORT" -U postgres -d nostr_ts_relay \
        -c "VACUUM ANALYZE events_hot, event_tags" || die "VACUUM ANALYZE failed"
    log "seeded in $(($(date +%s) - t0)) s: $("$PG_BIN/psql" -X -At -h "$PGSOCK" -p "$PGPORT" -U postgres -d nostr_ts_relay -c "SELECT count(*) || ' events, ' || pg_size_pretty(pg_database_size('nostr_ts_relay')) FROM events")"
}
: >"$WORK/authors.txt"
: >"$WORK/ids.txt"

# ---- scenarios
# Runs one loadgen scenario with a time bound; prints its table, keeps its
# JSON line in $WORK/<name>.json.
scenario() {
    local name=$1 limit=$2
    shift 2
    log "$name: loadgen $*"
    if ! step timeout "$limit" "$LOADGEN" "$@" --url "$URL" --pid "$RELAY_PID" --db-pid "$POSTMASTER_PID" \
        >"$WORK/$name.out" 2>"$WORK/$name.err"; then
        cat "$WORK/$name.err" >&2
        echo "bench: $name failed or timed out" >&2
    fi
    grep -v '^{' "$WORK/$name.out" || true
    grep '^{' "$WORK/$name.out" | tail -1 >"$WORK/$name.json" || true
    kill -0 "$RELAY_PID" 2>/dev/null || { tail -30 "$WORK/relay/relay.log" >&2; die "the relay died during $name"; }
}

# num FILE KEY: the number after "KEY": in the JSON line, or NA.
num() {
    local v
    v=$(sed -n "s/.*\"$2\":\(-\{0,1\}[0-9.e+]*\).*/\1/p" "$WORK/$1.json" 2>/dev/null | head -1)
    echo "${v:-NA}"
}
fmt() { case "$1" in NA) echo NA ;; *) LC_ALL=C printf "%.${2}f" "$1" ;; esac; }

S=$BENCH_SECONDS
GROWTH_SHAPES=${BENCH_SHAPES:-authors-kinds-limit10 tag-p tag-t ids}
if [ -n "$BENCH_GROWTH" ]; then
    # Growth: the same indexed queries as the database grows, batch by batch.
    total=0 batch=1
    for target in $BENCH_GROWTH; do
        [ "$target" -gt "$total" ] || die "BENCH_GROWTH must be increasing numbers of events"
        seed_more $((target - total)) "$batch"
        total=$target
        for shape in $GROWTH_SHAPES; do
            scenario "growth_${target}_$shape" $((S + 120)) req -c 20 -s "$S" --shape "$shape" \
                --authors-file "$WORK/authors.txt" --ids-file "$WORK/ids.txt"
        done
        batch=$((batch + 1))
    done
    echo
    for target in $BENCH_GROWTH; do
        line="growth events=$target"
        for shape in $GROWTH_SHAPES; do
            line="$line ${shape}_p50_ms=$(fmt "$(num "growth_${target}_$shape" p50_ms)" 2) ${shape}_p99_ms=$(fmt "$(num "growth_${target}_$shape" p99_ms)" 2)"
        done
        echo "$line"
    done
    exit 0
fi
seed_more "$BENCH_EVENTS" 1
scenario connect 300 connect -n "$BENCH_CONNECT" --hold 3
sleep 2
scenario req $((S + 120)) req -c 20 -s "$S" --authors-file "$WORK/authors.txt" --ids-file "$WORK/ids.txt"
scenario req_limit100 $((S + 120)) req -c 20 -s "$S" --shape limit100 --authors-file "$WORK/authors.txt" --ids-file "$WORK/ids.txt"
# Writes after the reads: the reads then see the seeded database, not tens
# of thousands of events sharing one created_at second (which make every
# newest-first query read a whole second's worth to order the ties by id).
scenario publish $((S + 120)) publish -c 50 -w 20 -s "$S"
# The same 50 connections open loop at 10,000 events/s: the latency a
# client sees at that rate (closed loop, 1,000 events in flight make the
# latency 1,000 / rate by Little's law, whatever the relay does).
scenario publish_rate $((S + 120)) publish -c 50 -r 10000 -s "$S"
scenario fanout $((S + 300)) fanout --subs 10000 -c 1000 -r 1000 -s "$S"

# ---- summary
echo
echo "relay log: $(grep -c ' error ' "$WORK/relay/relay.log" || true) error lines, $(grep -c ' warn ' "$WORK/relay/relay.log" || true) warnings"
echo "publish events_per_s=$(fmt "$(num publish events_per_s)" 0) p99_ms=$(fmt "$(num publish p99_ms)" 1)"
echo "publish_rate events_per_s=$(fmt "$(num publish_rate events_per_s)" 0) p99_ms=$(fmt "$(num publish_rate p99_ms)" 1)"
echo "req req_per_s=$(fmt "$(num req req_per_s)" 0) p99_ms=$(fmt "$(num req p99_ms)" 1)"
echo "req_limit100 req_per_s=$(fmt "$(num req_limit100 req_per_s)" 0) events_per_s=$(fmt "$(num req_limit100 events_per_s)" 0) p99_ms=$(fmt "$(num req_limit100 p99_ms)" 1)"
echo "fanout p99_ms=$(fmt "$(num fanout p99_ms)" 1) missed=$(num fanout missed)"
echo "connect kib_per_conn=$(fmt "$(num connect kib_per_conn)" 2)"
