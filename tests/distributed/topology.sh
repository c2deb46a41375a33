#!/bin/bash
# A coordinator and three storage nodes in network namespaces on this
# machine, joined by an encrypted Yggdrasil mesh, for the distributed-storage
# tests. Root only.
#
#   tests/distributed/topology.sh up DIR     build it; writes DIR/topology.env
#   tests/distributed/topology.sh down DIR   stop all it started, delete the
#                                            namespaces, remove DIR
#   tests/distributed/topology.sh wait-peer DIR NAME [SECONDS]
#                                            wait until the coordinator's
#                                            yggdrasil is peered with node
#                                            NAME (node1, node2, rogue)
#
# Layout (namespace names get the suffix TOPO_SUFFIX, default empty, so that
# runs can go side by side):
#
#   ns-coord ── v-node1 fd42:1::1/64 ══ fd42:1::2/64 v-coord ── ns-node1
#            ── v-node2 fd42:2::1/64 ══ fd42:2::2/64 v-coord ── ns-node2
#            ── v-rogue fd42:3::1/64 ══ fd42:3::2/64 v-coord ── ns-rogue
#
# Every yggdrasil is started natively through the same entrypoints as the
# containers (docker/yggdrasil/*-entrypoint.sh): the coordinator listens on
# tcp://[::]:12345 in ns-coord, each node dials its veth peer
# tcp://[fd42:N::1]:12345. The coordinator starts with no storage node in
# its whitelist (only the entrypoint's placeholder key), so no node is
# peered after `up`: registering (scripts/add-storage-node.sh with
# YGGDRASIL_CONFIG_DIR and YGGDRASIL_RESTART from topology.env) lets node1 and
# node2 in; rogue stays out.
#
# PostgreSQL 15 (/usr/lib/postgresql/15/bin, as the postgres OS user):
#   - in ns-node1, ns-node2, ns-rogue: docker/storage-db/entrypoint.sh (the
#     container's entrypoint) listening on the node's Yggdrasil address, port
#     5432, and on the socket DIR/<node>/pgsock; role and database
#     nostr_ts_relay with the password NODE1_DB_PASSWORD... (default
#     storage-pass-node1...), table events_data; only the coordinator's
#     Yggdrasil address may log in (storage/pg_hba.conf);
#   - in ns-coord: the coordinator's cluster, socket only (DIR/coord/pgsock,
#     so that the relay and the tests reach it from the root namespace while
#     its postgres_fdw connections leave through ns-coord's Yggdrasil), auth
#     rules from pg_hba.conf, database nostr_ts_relay owned by the role
#     nostr_ts_relay, postgres_fdw created with USAGE granted to the role.
#
# DIR/topology.env (shell assignments, `. DIR/topology.env`):
#   TOPO_DIR TOPO_SUFFIX NS_COORD NS_NODE1 NS_NODE2 NS_ROGUE
#   COORD_YGG_ADDR COORD_YGG_PUBKEY COORD_YGG_ADMIN COORD_PG_SOCKET COORD_PG_PORT
#   COORD_PG_USER COORD_PG_DB YGGDRASIL_CONFIG_DIR YGGDRASIL_RESTART
#   NODE1_YGG_ADDR NODE1_YGG_PUBKEY NODE1_YGG_ADMIN NODE1_YGG_RESTART
#   NODE1_DB_PASSWORD NODE1_PG_SOCKET NODE1_PG_PORT NODE1_VETH_ADDR
#   NODE1_COORD_PEER (and the same for NODE2_ and ROGUE_)
#
# Environment: TOPO_SUFFIX (''), TOPO_TIMEOUT (60 s per wait),
# NODE1_DB_PASSWORD, NODE2_DB_PASSWORD, ROGUE_DB_PASSWORD,
# PG_BINDIR (/usr/lib/postgresql/15/bin).
#
# Traffic stays on this machine: veth pairs with IPv6 unique-local addresses
# (fd42::/16) and Yggdrasil addresses (200::/7) inside the namespaces.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd "$here/../.." && pwd -P)"
: "${TOPO_TIMEOUT:=60}"
: "${PG_BINDIR:=/usr/lib/postgresql/15/bin}"
YGG_PORT=12345
PG_PORT=5432
NODES=(node1 node2 rogue)

log() { printf 'topology: %s\n' "$*" >&2; }
die() { printf 'topology: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

node_index() { case "$1" in node1) echo 1 ;; node2) echo 2 ;; rogue) echo 3 ;; *) return 1 ;; esac; }
upper() { printf '%s' "${1^^}"; }

# "pid starttime" of a live process, so that a recycled PID is never killed.
proc_start() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }
write_pid() { printf '%s %s\n' "$1" "$(proc_start "$1")" >"$2"; }
pid_alive() { # pidfile -> prints pid if the very process is still there
  local pid st
  [ -s "$1" ] || return 1
  read -r pid st <"$1" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ "$(proc_start "$pid")" = "$st" ] || return 1
  printf '%s\n' "$pid"
}
stop_pidfiles() { # signal seconds pidfile...: signal them all, then wait
  local sig="$1" secs="$2" f pid i alive
  shift 2
  for f in "$@"; do
    pid="$(pid_alive "$f")" || continue
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
      postgres|yggdrasil) kill "-$sig" "$pid" 2>/dev/null || true ;;
      # An entrypoint still setting up (bash, initdb, psql...): its session,
      # started with setsid, gets SIGTERM (a background bash ignores SIGINT).
      *) kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true ;;
    esac
  done
  for ((i = 0; i < secs * 10; i++)); do
    alive=0
    for f in "$@"; do if pid_alive "$f" >/dev/null; then alive=1; fi; done
    [ "$alive" = 1 ] || break
    sleep 0.1
  done
  for f in "$@"; do
    if pid="$(pid_alive "$f")"; then
      log "pid $pid ($f) did not stop after ${secs}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

# Single-quoted for the shell, readable by other tools too.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups env HOME=/ "$@"; }

# ---------------------------------------------------------------------------
# Per-namespace yggdrasil start and restart scripts, generated into DIR so
# that YGGDRASIL_RESTART is one self-contained command.
write_ygg_scripts() { # role(coord|node) ns name dir entrypoint env-assignments...
  local role="$1" ns="$2" name="$3" d="$4" entry="$5"
  shift 5
  {
    echo '#!/bin/bash'
    echo "# Starts the yggdrasil of $name in network namespace $ns (generated by $0)."
    echo 'set -euo pipefail'
    printf 'd=%q\n' "$d"
    printf 'ns=%q\n' "$ns"
    printf 'sock=%q\n' "$d/yggdrasil.sock"
    printf 'timeout=%q\n' "$TOPO_TIMEOUT"
    cat <<'EOF'
if [ -s "$d/yggdrasil.pid" ]; then
  read -r pid st <"$d/yggdrasil.pid" || true
  if [ -n "${pid:-}" ] && [ "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" = "${st:-}" ]; then
    echo "yggdrasil of $ns already runs (pid $pid)" >&2; exit 1
  fi
fi
EOF
    # shellcheck disable=SC2016  # written into the generated script as is
    printf 'setsid ip netns exec "$ns" env'
    printf ' %q' "$@"
    # shellcheck disable=SC2016
    printf ' %q </dev/null >>"$d/yggdrasil.log" 2>&1 &\n' "$entry"
    cat <<'EOF'
pid=$!
printf '%s %s\n' "$pid" "$(awk '{print $22}' "/proc/$pid/stat")" >"$d/yggdrasil.pid"
# Up when the admin socket answers and the TUN has its address (not tentative).
for ((i = 0; i < timeout * 10; i++)); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "yggdrasil of $ns exited; last lines of $d/yggdrasil.log:" >&2
    tail -n 20 "$d/yggdrasil.log" >&2; exit 1
  fi
  if yggdrasilctl -endpoint "unix://$sock" getSelf >/dev/null 2>&1 &&
     ip -n "$ns" -6 addr show dev ygg0 2>/dev/null | grep -q 'inet6 2[0-9a-f][0-9a-f]:' &&
     ! ip -n "$ns" -6 addr show dev ygg0 | grep -q tentative; then
    exit 0
  fi
  sleep 0.1
done
echo "yggdrasil of $ns did not come up in ${timeout}s; see $d/yggdrasil.log" >&2
exit 1
EOF
  } >"$d/start-yggdrasil.sh"
  {
    echo '#!/bin/bash'
    echo "# Restarts the yggdrasil of $name in network namespace $ns (generated by $0):"
    echo "# the config in $d/yggdrasil-config is read again (AllowedPublicKeys...)."
    echo 'set -euo pipefail'
    printf 'd=%q\n' "$d"
    cat <<'EOF'
if [ -s "$d/yggdrasil.pid" ]; then
  read -r pid st <"$d/yggdrasil.pid" || true
  if [ -n "${pid:-}" ] && [ "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" = "${st:-}" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      [ "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" = "$st" ] || break
      sleep 0.1
    done
    [ "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" != "$st" ] || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$d/yggdrasil.pid"
fi
exec "$d/start-yggdrasil.sh"
EOF
  } >"$d/restart-yggdrasil.sh"
  chmod 755 "$d/start-yggdrasil.sh" "$d/restart-yggdrasil.sh"
  : "$role"
}

# The coordinator's peers, as yggdrasilctl -json getPeers lists them.
coord_peer_keys() {
  yggdrasilctl -json -endpoint "unix://$1" getPeers 2>/dev/null |
    jq -r '(.peers // {}) | to_entries[] | .value.key // empty' 2>/dev/null || true
}

wait_peer() { # dir name seconds
  local dir="$1" name="$2" secs="${3:-$TOPO_TIMEOUT}" key i
  [ -s "$dir/topology.env" ] || die "no $dir/topology.env: run 'up' first"
  # shellcheck disable=SC1091
  . "$dir/topology.env"
  node_index "$name" >/dev/null || die "unknown node '$name' (node1, node2, rogue)"
  local var
  var="$(upper "$name")_YGG_PUBKEY"
  key="${!var}"
  for ((i = 0; i < secs * 5; i++)); do
    if coord_peer_keys "${COORD_YGG_ADMIN#unix://}" | grep -qx "$key"; then
      log "$name is peered with the coordinator"
      return 0
    fi
    sleep 0.2
  done
  log "$name is not peered with the coordinator after ${secs}s"
  return 1
}

# ---------------------------------------------------------------------------
up() {
  local dir="$1"
  [ "$(id -u)" = 0 ] || die "run as root (network namespaces, veth pairs, TUN devices)"
  for c in ip yggdrasil yggdrasilctl jq setpriv "$PG_BINDIR/initdb" "$PG_BINDIR/pg_ctl" psql pg_isready; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' not found (apt-get install iproute2 yggdrasil jq postgresql-15)"
  done
  [ -c /dev/net/tun ] || die "/dev/net/tun is missing"
  if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
    die "$dir exists and is not empty (a previous topology? '$0 down $dir')"
  fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd -P)"
  chmod 755 "$dir"
  as_pg test -x "$dir" || die "$dir is not reachable by the postgres user: choose a DIR whose parents are searchable (e.g. under /tmp)"
  [ "${#dir}" -le 70 ] || die "$dir is too long for the unix socket paths under it (at most 70 characters)"

  local S="${TOPO_SUFFIX:-}"
  [[ "$S" =~ ^[A-Za-z0-9_.-]{0,20}$ ]] || die "TOPO_SUFFIX: at most 20 of A-Z a-z 0-9 _ . -"
  local ns_coord="ns-coord$S"
  declare -A ns
  for n in "${NODES[@]}"; do ns[$n]="ns-$n$S"; done
  # Written first: `down` finds the namespaces from it even after a failed up.
  {
    printf 'TOPO_SUFFIX=%q\n' "$S"
    printf 'NAMESPACES=%q\n' "$ns_coord ${ns[node1]} ${ns[node2]} ${ns[rogue]}"
  } >"$dir/topology.state"
  for n in $ns_coord "${ns[@]}"; do
    if ip netns list | awk '{print $1}' | grep -qx "$n"; then
      die "network namespace $n exists already (another run? TOPO_SUFFIX=... gives other names; '$0 down DIR' removes it)"
    fi
  done

  log "namespaces and veth pairs"
  ip netns add "$ns_coord"
  ip -n "$ns_coord" link set lo up
  for n in "${NODES[@]}"; do
    local i
    i="$(node_index "$n")"
    ip netns add "${ns[$n]}"
    ip -n "${ns[$n]}" link set lo up
    ip link add "v-$n" netns "$ns_coord" type veth peer name v-coord netns "${ns[$n]}"
    ip -n "$ns_coord" addr add "fd42:$i::1/64" dev "v-$n" nodad
    ip -n "${ns[$n]}" addr add "fd42:$i::2/64" dev v-coord nodad
    ip -n "$ns_coord" link set "v-$n" up
    ip -n "${ns[$n]}" link set v-coord up
  done

  # --- the coordinator's yggdrasil --------------------------------------
  local cd="$dir/coord"
  mkdir -p "$cd"
  write_ygg_scripts coord "$ns_coord" coordinator "$cd" "$repo/docker/yggdrasil/coordinator-entrypoint.sh" \
    "YGGDRASIL_CONFIG_DIR=$cd/yggdrasil-config" \
    "YGGDRASIL_ADMIN_SOCKET=$cd/yggdrasil.sock" \
    "YGGDRASIL_IFNAME=ygg0" \
    "YGGDRASIL_LISTEN_PORT=$YGG_PORT" \
    "YGGDRASIL_LISTEN_ADDR=[::]" \
    "PUBLIC_PEER_ADDR=tcp://[fd42:1::1]:$YGG_PORT"
  log "coordinator yggdrasil in $ns_coord"
  "$cd/start-yggdrasil.sh" || die "the coordinator's yggdrasil did not start"
  local coord_key coord_addr
  coord_key="$(jq -r .PublicKey "$cd/yggdrasil-config/yggdrasil.conf")"
  coord_addr="$(yggdrasil -useconffile "$cd/yggdrasil-config/yggdrasil.conf" -address)"
  # No storage node is whitelisted yet: only the entrypoint's placeholder.
  [ "$(jq '.AllowedPublicKeys | length' "$cd/yggdrasil-config/yggdrasil.conf")" = 1 ] ||
    die "the coordinator's AllowedPublicKeys should hold just the placeholder key"

  # --- storage nodes: yggdrasil, then PostgreSQL ----------------------------
  declare -A key addr pw
  for n in "${NODES[@]}"; do
    local i nd var
    i="$(node_index "$n")"
    nd="$dir/$n"
    mkdir -p "$nd"
    write_ygg_scripts node "${ns[$n]}" "$n" "$nd" "$repo/docker/yggdrasil/storage-entrypoint.sh" \
      "YGGDRASIL_CONFIG_DIR=$nd/yggdrasil-config" \
      "YGGDRASIL_ADMIN_SOCKET=$nd/yggdrasil.sock" \
      "YGGDRASIL_IFNAME=ygg0" \
      "COORDINATOR_PEER=tcp://[fd42:$i::1]:$YGG_PORT" \
      "COORDINATOR_PUBLIC_KEY=$coord_key"
    log "$n yggdrasil in ${ns[$n]}"
    "$nd/start-yggdrasil.sh" || die "the yggdrasil of $n did not start"
    key[$n]="$(jq -r .PublicKey "$nd/yggdrasil-config/yggdrasil.conf")"
    addr[$n]="$(yggdrasil -useconffile "$nd/yggdrasil-config/yggdrasil.conf" -address)"
    var="$(upper "$n")_DB_PASSWORD"
    pw[$n]="${!var:-storage-pass-$n}"
  done

  for n in "${NODES[@]}"; do
    local nd="$dir/$n"
    mkdir -p "$nd/pgsock"
    log "$n PostgreSQL on [${addr[$n]}]:$PG_PORT"
    node_pg_spawn "${ns[$n]}" "${addr[$n]}" "${pw[$n]}" "$coord_key" "$nd"
  done

  # --- the coordinator's PostgreSQL (socket only) -----------------------------
  log "coordinator PostgreSQL on $cd/pgsock"
  mkdir -p "$cd/pgdata" "$cd/pgsock"
  chown postgres:postgres "$cd/pgdata" "$cd/pgsock"
  chmod 700 "$cd/pgdata"
  chmod 755 "$cd/pgsock"
  as_pg "$PG_BINDIR/initdb" -D "$cd/pgdata" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >"$cd/initdb.log" 2>&1 ||
    { tail -n 20 "$cd/initdb.log" >&2; die "initdb of the coordinator failed"; }
  install -o postgres -g postgres -m 600 "$repo/pg_hba.conf" "$cd/pgdata/pg_hba.conf"
  touch "$cd/postgres.log"
  chown postgres:postgres "$cd/postgres.log"
  ip netns exec "$ns_coord" setpriv --reuid=postgres --regid=postgres --init-groups env HOME=/ \
    "$PG_BINDIR/pg_ctl" -D "$cd/pgdata" -w -t "$TOPO_TIMEOUT" -s -l "$cd/postgres.log" start \
    -o "-c listen_addresses='' -c unix_socket_directories='$cd/pgsock' -c port=$PG_PORT" ||
    { tail -n 20 "$cd/postgres.log" >&2; die "the coordinator's PostgreSQL did not start"; }
  write_pid "$(head -n 1 "$cd/pgdata/postmaster.pid")" "$cd/postgres.pid"
  psql -X -q -v ON_ERROR_STOP=1 -h "$cd/pgsock" -p "$PG_PORT" -U postgres -d postgres >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE ROLE nostr_ts_relay LOGIN;
CREATE DATABASE nostr_ts_relay OWNER nostr_ts_relay;
\connect nostr_ts_relay
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO nostr_ts_relay;
SQL

  # --- storage clusters ready ------------------------------------------------
  for n in "${NODES[@]}"; do
    local nd="$dir/$n" i
    for ((i = 0; i < TOPO_TIMEOUT * 5; i++)); do
      pid_alive "$nd/postgres.pid" >/dev/null ||
        { tail -n 20 "$nd/postgres.log" >&2; die "PostgreSQL of $n exited"; }
      # Ready once the final server (not the temporary one) is up: it is
      # the only one listening on the node's Yggdrasil address.
      if pg_isready -q -h "$nd/pgsock" -p "$PG_PORT" -U nostr_ts_relay -d nostr_ts_relay &&
         ip netns exec "${ns[$n]}" pg_isready -q -h "${addr[$n]}" -p "$PG_PORT" -U nostr_ts_relay -d nostr_ts_relay; then
        break
      fi
      sleep 0.2
    done
    ip netns exec "${ns[$n]}" pg_isready -q -h "${addr[$n]}" -p "$PG_PORT" -U nostr_ts_relay -d nostr_ts_relay ||
      { tail -n 20 "$nd/postgres.log" >&2; die "PostgreSQL of $n is not ready after ${TOPO_TIMEOUT}s"; }
    # The entrypoint filled in the coordinator's address, derived from its key.
    grep -q "^host .* $coord_addr/128 " "$nd/pgdata/pg_hba.conf" ||
      die "$n: pg_hba.conf does not name the coordinator's address $coord_addr"
  done

  # --- topology.env ---------------------------------------------------------------
  {
    echo "# Written by tests/distributed/topology.sh up; '. $dir/topology.env'"
    printf 'TOPO_DIR=%s\n' "$(q "$dir")"
    printf 'TOPO_SUFFIX=%s\n' "$(q "$S")"
    printf 'NS_COORD=%s\n' "$(q "$ns_coord")"
    printf 'COORD_YGG_ADDR=%s\n' "$(q "$coord_addr")"
    printf 'COORD_YGG_PUBKEY=%s\n' "$(q "$coord_key")"
    printf 'COORD_YGG_ADMIN=%s\n' "$(q "unix://$cd/yggdrasil.sock")"
    printf 'COORD_PG_SOCKET=%s\n' "$(q "$cd/pgsock")"
    printf 'COORD_PG_PORT=%s\n' "$(q "$PG_PORT")"
    printf 'COORD_PG_USER=nostr_ts_relay\n'
    printf 'COORD_PG_DB=nostr_ts_relay\n'
    printf 'YGGDRASIL_CONFIG_DIR=%s\n' "$(q "$cd/yggdrasil-config")"
    printf 'YGGDRASIL_RESTART=%s\n' "$(q "$cd/restart-yggdrasil.sh")"
    for n in "${NODES[@]}"; do
      local u i
      u="$(upper "$n")"
      i="$(node_index "$n")"
      printf 'NS_%s=%s\n' "$u" "$(q "${ns[$n]}")"
      printf '%s_YGG_ADDR=%s\n' "$u" "$(q "${addr[$n]}")"
      printf '%s_YGG_PUBKEY=%s\n' "$u" "$(q "${key[$n]}")"
      printf '%s_YGG_ADMIN=%s\n' "$u" "$(q "unix://$dir/$n/yggdrasil.sock")"
      printf '%s_YGG_RESTART=%s\n' "$u" "$(q "$dir/$n/restart-yggdrasil.sh")"
      printf '%s_DB_PASSWORD=%s\n' "$u" "$(q "${pw[$n]}")"
      printf '%s_PG_SOCKET=%s\n' "$u" "$(q "$dir/$n/pgsock")"
      printf '%s_PG_PORT=%s\n' "$u" "$(q "$PG_PORT")"
      printf '%s_VETH_ADDR=%s\n' "$u" "$(q "fd42:$i::2")"
      printf '%s_COORD_PEER=%s\n' "$u" "$(q "tcp://[fd42:$i::1]:$YGG_PORT")"
    done
  } >"$dir/topology.env"
  log "up; . $dir/topology.env"
}

# ---------------------------------------------------------------------------
down() {
  local dir="$1" namespaces="" d
  [ "$(id -u)" = 0 ] || die "run as root"
  if [ -d "$dir" ]; then dir="$(cd "$dir" && pwd -P)"; fi
  if [ -s "$dir/topology.state" ]; then
    # shellcheck disable=SC1091,SC2153  # NAMESPACES comes from topology.state
    namespaces="$(. "$dir/topology.state" && printf '%s' "$NAMESPACES")"
  else
    local S="${TOPO_SUFFIX:-}"
    namespaces="ns-coord$S ns-node1$S ns-node2$S ns-rogue$S"
  fi
  local dirs=() pg=() ygg=()
  for d in "$dir/coord" "$dir/node1" "$dir/node2" "$dir/rogue"; do
    [ -d "$d" ] || continue
    dirs+=("$d")
    pg+=("$d/postgres.pid")
    ygg+=("$d/yggdrasil.pid")
  done
  # PostgreSQL first (a fast shutdown: SIGINT), then yggdrasil.
  [ "${#dirs[@]}" = 0 ] || stop_pidfiles INT 30 "${pg[@]}"
  for d in "${dirs[@]}"; do
    # A server the pidfile does not name (the storage entrypoint's temporary
    # one, after an interrupted up): pg_ctl finds it through postmaster.pid.
    if [ -s "$d/pgdata/postmaster.pid" ]; then
      as_pg "$PG_BINDIR/pg_ctl" -D "$d/pgdata" -s -w -t 30 -m fast stop >/dev/null 2>&1 ||
        as_pg "$PG_BINDIR/pg_ctl" -D "$d/pgdata" -s -m immediate stop >/dev/null 2>&1 || true
    fi
  done
  [ "${#dirs[@]}" = 0 ] || stop_pidfiles TERM 10 "${ygg[@]}"
  local n
  for n in $namespaces; do
    if ip netns list | awk '{print $1}' | grep -qx "$n"; then
      # Anything still inside (started by hand) keeps the namespace alive.
      local left
      left="$(ip netns pids "$n" 2>/dev/null | tr '\n' ' ')"
      [ -z "$left" ] || log "processes left in $n (not started by this script, not killed): $left"
      ip netns del "$n"
    fi
  done
  if [ -e "$dir" ]; then
    if [ -e "$dir/topology.state" ]; then
      rm -rf "$dir"
    else
      log "$dir has no topology.state: not removed"
    fi
  fi
  log "down"
}

# node_pg_spawn NS ADDR PASSWORD COORD_KEY NODE_DIR: starts a storage
# node's PostgreSQL in namespace NS through the entrypoint its container
# runs (docker/storage-db/entrypoint.sh), in the background, with its pid in
# NODE_DIR/postgres.pid. Used by `up` and by node_pg_start.
node_pg_spawn() {
  local node_ns="$1" node_addr="$2" node_pw="$3" coord_key="$4" nd="$5"
  setsid ip netns exec "$node_ns" env \
    "STORAGE_DB_PASSWORD=$node_pw" \
    "COORDINATOR_PUBLIC_KEY=$coord_key" \
    "PGDATA=$nd/pgdata" "PGPORT=$PG_PORT" \
    "STORAGE_LISTEN_ADDRESSES=$node_addr" \
    "STORAGE_SOCKET_DIR=$nd/pgsock" \
    "STORAGE_CONFIG_DIR=$repo/storage" \
    "STORAGE_INIT_SQL=$repo/scripts/storage-init.sql" \
    "STORAGE_PG_BINDIR=$PG_BINDIR" \
    "$repo/docker/storage-db/entrypoint.sh" </dev/null >>"$nd/postgres.log" 2>&1 &
  write_pid $! "$nd/postgres.pid"
}

# ---------------------------------------------------------------------------
# For other tests that source this file (tests/soak/soak.sh): start a
# PostgreSQL of a running topology again after it was killed or stopped,
# the same way `up` starts it. Both return once the server accepts
# connections (or fail after TOPO_TIMEOUT seconds) and rewrite its pidfile.
node_pg_start() { # DIR NAME: a storage node's, through its entrypoint
  local dir="$1" name="$2" u nd i
  [ -s "$dir/topology.env" ] || die "no $dir/topology.env: run 'up' first"
  node_index "$name" >/dev/null || die "unknown node '$name' (node1, node2, rogue)"
  # shellcheck disable=SC1091
  . "$dir/topology.env"
  u="$(upper "$name")"
  local nsv="NS_$u" addrv="${u}_YGG_ADDR" pwv="${u}_DB_PASSWORD"
  local node_ns="${!nsv}" node_addr="${!addrv}" node_pw="${!pwv}"
  nd="$dir/$name"
  node_pg_spawn "$node_ns" "$node_addr" "$node_pw" "$COORD_YGG_PUBKEY" "$nd"
  for ((i = 0; i < TOPO_TIMEOUT * 5; i++)); do
    pid_alive "$nd/postgres.pid" >/dev/null || { tail -n 20 "$nd/postgres.log" >&2; die "PostgreSQL of $name exited"; }
    if ip netns exec "$node_ns" pg_isready -q -h "$node_addr" -p "$PG_PORT" -U nostr_ts_relay -d nostr_ts_relay; then
      return 0
    fi
    sleep 0.2
  done
  die "PostgreSQL of $name is not ready after ${TOPO_TIMEOUT}s"
}

coord_pg_start() { # DIR: the coordinator's, with pg_ctl in its namespace
  local dir="$1" cd
  [ -s "$dir/topology.env" ] || die "no $dir/topology.env: run 'up' first"
  # shellcheck disable=SC1091
  . "$dir/topology.env"
  cd="$dir/coord"
  # shellcheck disable=SC2153  # NS_COORD comes from topology.env
  ip netns exec "$NS_COORD" setpriv --reuid=postgres --regid=postgres --init-groups env HOME=/ \
    "$PG_BINDIR/pg_ctl" -D "$cd/pgdata" -w -t "$TOPO_TIMEOUT" -s -l "$cd/postgres.log" start \
    -o "-c listen_addresses='' -c unix_socket_directories='$cd/pgsock' -c port=$PG_PORT" ||
    { tail -n 20 "$cd/postgres.log" >&2; die "the coordinator's PostgreSQL did not start"; }
  write_pid "$(head -n 1 "$cd/pgdata/postmaster.pid")" "$cd/postgres.pid"
}

# Sourced (`. topology.sh`): the functions only, no command.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then return 0; fi

case "${1:-}" in
  up) [ $# = 2 ] || usage; up "$2" ;;
  down) [ $# = 2 ] || usage; down "$2" ;;
  wait-peer) if [ $# -lt 3 ] || [ $# -gt 4 ]; then usage; fi; wait_peer "$2" "$3" "${4:-}" ;;
  *) usage ;;
esac
