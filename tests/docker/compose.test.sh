#!/bin/bash
# shellcheck disable=SC2317  # (whole file) functions called through check/wait_for
# shellcheck disable=SC2016  # jq programs and bash -c scripts in single quotes
# The Docker path of nostream-in-C, end to end, on one machine (root):
#
#   1. both compose files validate (docker-compose v1; `docker compose` v2 too
#      when that plugin is installed);
#   2. a private dockerd starts (Debian's engine: no iptables, no bridge);
#      the base image debian:bookworm is made with debootstrap if missing;
#   3. every image is built from the repository's Dockerfiles (host network);
#   4. the coordinator stack (docker-compose.yml) and a storage node
#      (docker-compose.storage.yml) come up with the override files next to
#      this script: no Docker network, three network namespaces joined by
#      veth pairs with IPv6 unique-local addresses (see README.md);
#   5. both Yggdrasil identity boxes have the spec's exact shape;
#   6. the node is registered with the command printed in its own box
#      (scripts/add-storage-node.sh, restarting nostream-yggdrasil through
#      `docker restart`, as an operator would);
#   7. events published over WebSocket land where their created_at says: an
#      old one in the node's events_data (through postgres_fdw over
#      Yggdrasil), a recent one in events_hot; both read back;
#   8. everything is torn down: containers, volumes, dockerd (by its PID),
#      the temporary directory. Images stay cached in the data root.
#
# Prints `ok - ...` / `not ok - ...` lines, phase timings, and ends with
#   docker-compose-test: N passed, M failed
# Exit status 0 only when every check passed. Cleans up on any exit (trap).
#
# Traffic: loopback inside the containers' namespaces, the veth pairs'
# fd42:8::/64 and fd42:9::/64, and Yggdrasil's 200::/7. Building images
# reaches the Debian mirror (apt-get in the Dockerfiles, debootstrap).
#
# Environment:
#   DCT_DATA_ROOT   dockerd's --data-root   (/var/lib/nostream-docker-test)
#                   images are cached there between runs
#   DCT_STATE_DIR   socket, exec root, pid file (/run/nostream-docker-test)
#   DCT_MIRROR      Debian mirror for debootstrap (first bookworm main URL
#                   of the apt sources, else http://deb.debian.org/debian)
#   DCT_BUILD_TIMEOUT  seconds for each docker-compose build (900)
#   DCT_TMPDIR      parent of the run's temporary directory (/tmp)
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd "$here/../.." && pwd -P)"

: "${DCT_DATA_ROOT:=/var/lib/nostream-docker-test}"
: "${DCT_STATE_DIR:=/run/nostream-docker-test}"
: "${DCT_BUILD_TIMEOUT:=900}"
: "${DCT_TMPDIR:=/tmp}"

COORD_PROJECT=nostream-dct
STORAGE_PROJECT=nostream-dct-storage
YGG_PORT=12345
PEER_ADDR="tcp://[fd42:9::1]:$YGG_PORT"
NODE_NAME=node1
RULE='============================================================'

PASS=0
FAIL=0
T_START=$(date +%s)
PHASE=""
PHASE_T0=$T_START
TIMINGS=()
DCT_DIR=""
DOCKERD_PID=""
CONTAINERD_PID=""
CLEANED=0
ROOT_WAS_MOUNT=1
HAVE_LOCK=0
COORD_DB_PID=""

say() { printf '%s\n' "$*"; }
ok() { PASS=$((PASS + 1)); say "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); say "not ok - $*"; }
# check DESCRIPTION COMMAND...: one test.
check() {
  local d="$1"
  shift
  if "$@"; then ok "$d"; else not_ok "$d"; fi
}
# Runs a command with its output in $DCT_DIR/quiet.log (shown on failure).
quiet() {
  local rc=0
  "$@" >"$DCT_DIR/quiet.log" 2>&1 || rc=$?
  [ "$rc" = 0 ] || tail -n 20 "$DCT_DIR/quiet.log" | sed 's/^/#   /'
  return "$rc"
}
# A failure after which nothing else makes sense: clean up and stop.
die() { not_ok "$*"; exit 1; }

phase_end() {
  [ -n "$PHASE" ] || return 0
  local now
  now=$(date +%s)
  TIMINGS+=("$PHASE $((now - PHASE_T0))s")
  PHASE=""
}
phase() {
  phase_end
  PHASE="$1"
  PHASE_T0=$(date +%s)
  say "== $1 (t+$((PHASE_T0 - T_START))s): $2"
}

# --- helpers -----------------------------------------------------------------

# coord SECONDS ARGS... / storage SECONDS ARGS...: docker-compose on the
# coordinator's / the storage node's file plus its override, bounded.
coord() {
  local secs="$1"
  shift
  timeout "$secs" docker-compose --env-file "$DCT_DIR/empty.env" -p "$COORD_PROJECT" \
    -f "$repo/docker-compose.yml" -f "$here/coordinator.override.yml" "$@"
}
storage() {
  local secs="$1"
  shift
  timeout "$secs" docker-compose --env-file "$DCT_DIR/empty.env" -p "$STORAGE_PROJECT" \
    -f "$repo/docker-compose.storage.yml" -f "$here/storage.override.yml" "$@"
}

cpid() { docker inspect -f '{{.State.Pid}}' "$1" 2>/dev/null; }
# Runs a command in the network namespace of container $1.
in_ns() {
  local pid
  pid="$(cpid "$1")"
  [[ "$pid" =~ ^[1-9][0-9]*$ ]] || { say "# container $1 has no process"; return 1; }
  shift
  nsenter --net="/proc/$pid/ns/net" "$@"
}

# veth pair between the namespaces of two containers, addresses with nodad.
# veth CONTAINER_A IF_A ADDR_A/64 CONTAINER_B IF_B ADDR_B/64
veth() {
  local pa pb
  pa="$(cpid "$1")" && pb="$(cpid "$4")" || return 1
  [[ "$pa" =~ ^[1-9][0-9]*$ && "$pb" =~ ^[1-9][0-9]*$ ]] || return 1
  ip link add "$2" netns "$pa" type veth peer name "$5" netns "$pb" &&
    nsenter --net="/proc/$pa/ns/net" ip addr add "$3" dev "$2" nodad &&
    nsenter --net="/proc/$pa/ns/net" ip link set "$2" up &&
    nsenter --net="/proc/$pb/ns/net" ip addr add "$6" dev "$5" nodad &&
    nsenter --net="/proc/$pb/ns/net" ip link set "$5" up
}

# wait_for SECONDS COMMAND...: true once the command succeeds.
wait_for() {
  local secs="$1" i
  shift
  for ((i = 0; i < secs * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  return 1
}

health_is() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)" = "$2" ]; }

# The first identity box titled $1 in the logs on stdin.
extract_box() {
  awk -v title=" $1" -v rule="$RULE" '
    found == 0 && prev == rule && $0 == title { found = 1; print prev; print; next }
    found == 1 { print; if ($0 == rule) exit }
    { prev = $0 }'
}
box_complete() { # container title
  local n
  n="$(docker logs "$1" 2>&1 | extract_box "$2" | grep -c "^$RULE\$")"
  [ "$n" = 2 ]
}

# The whole-line value after "LABEL: " in a box.
box_field() { sed -n "s/^ $1: //p" | head -n 1; }

psql_coord() { docker exec nostream-db psql -X -q -At -v ON_ERROR_STOP=1 -U nostr_ts_relay -d nostr_ts_relay -c "$1"; }
psql_node() { docker exec nostream-storage-db psql -X -q -At -v ON_ERROR_STOP=1 -U nostr_ts_relay -d nostr_ts_relay -c "$1"; }

peer_keys() { # yggdrasil container: public keys of its peers
  docker exec "$1" yggdrasilctl -json getPeers 2>/dev/null |
    jq -r '.peers // [] | (if type == "array" then .[] else to_entries[].value end) | .key // empty'
}

relay_healthz() { # GET /healthz from the relay's namespace: 200?
  in_ns nostream timeout 5 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/8008 &&
    printf "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" >&3 &&
    head -n 1 <&3 | grep -q " 200"'
}

# The first Debian mirror with bookworm main in the apt sources.
apt_mirror() {
  local f
  {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -r "$f" ] || continue
      # deb [options] URI SUITE COMPONENTS...
      sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
        awk '$1 == "deb" && $3 == "bookworm" { for (i = 4; i <= NF; i++) if ($i == "main") { print $2; break } }'
    done
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -r "$f" ] || continue
      # deb822 stanzas: Types, URIs, Suites, Components (Enabled: no skipped)
      awk 'function flush() {
             if (types ~ /(^| )deb( |$)/ && suites ~ /(^| )bookworm( |$)/ &&
                 comps ~ /(^| )main( |$)/ && enabled != "no") { split(uris, u, " "); print u[1] }
             types = uris = suites = comps = enabled = "" }
           /^[ \t]*#/ { next }
           /^[ \t]*$/ { flush(); next }
           tolower($1) == "types:" { sub(/^[^:]*:[ \t]*/, ""); types = $0 }
           tolower($1) == "uris:" { sub(/^[^:]*:[ \t]*/, ""); uris = $0 }
           tolower($1) == "suites:" { sub(/^[^:]*:[ \t]*/, ""); suites = $0 }
           tolower($1) == "components:" { sub(/^[^:]*:[ \t]*/, ""); comps = $0 }
           tolower($1) == "enabled:" { sub(/^[^:]*:[ \t]*/, ""); enabled = tolower($0) }
           END { flush() }' "$f"
    done
  } | grep -E '^https?://' | grep -v -i security | head -n 1
}

# pid of a live process whose command name is $2, from pid file $1.
pid_from_file() {
  local pid
  [ -s "$1" ] || return 1
  pid="$(head -c 20 "$1" 2>/dev/null | tr -d ' \n')"   # no newline at the end
  [[ "$pid" =~ ^[1-9][0-9]*$ ]] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
  printf '%s\n' "$pid"
}

stop_pid() { # pid name seconds: SIGTERM, wait, SIGKILL
  local pid="$1" name="$2" secs="$3" i
  [ -n "$pid" ] || return 0
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 0
    sleep 0.1
  done
  say "# $name (pid $pid) did not stop after ${secs}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.5
}

docker_up() { [ -n "$DOCKERD_PID" ] && [ "$(cat "/proc/$DOCKERD_PID/comm" 2>/dev/null)" = dockerd ]; }

# Containers and volumes of a previous, interrupted run (our private daemon
# holds nothing else).
remove_leftovers() {
  local ids
  storage 120 down -v --remove-orphans -t 10 >/dev/null 2>&1 || true
  coord 120 down -v --remove-orphans -t 10 >/dev/null 2>&1 || true
  ids="$(docker ps -aq 2>/dev/null)"
  # shellcheck disable=SC2086
  [ -z "$ids" ] || docker rm -f -v $ids >/dev/null 2>&1 || true
  for v in nostream-db-data nostream-cache-data nostream-storage-db-data; do
    docker volume rm -f "$v" >/dev/null 2>&1 || true
  done
}

dump_logs() {
  local c
  for c in $(docker ps -a --format '{{.Names}}' 2>/dev/null); do
    say "# ---- last lines of docker logs $c ----"
    docker logs --tail 40 "$c" 2>&1 | sed 's/^/#   /'
  done
}

stop_dockerd() {
  stop_pid "$DOCKERD_PID" dockerd 60
  # Its containerd: stopped by dockerd, unless dockerd had to be killed.
  stop_pid "$CONTAINERD_PID" containerd 10
  # Never pull the files from under a dockerd that still runs on our socket.
  if pid_from_file "$DCT_STATE_DIR/docker.pid" dockerd >/dev/null; then
    say "# a dockerd still runs on $DCT_STATE_DIR (pid $(cat "$DCT_STATE_DIR/docker.pid")): its files are left"
    return 1
  fi
  # dockerd bind-mounts its data root onto itself when it is not a mount
  # point, and undoes it when it stops normally; after a SIGKILL we do.
  if [ "$ROOT_WAS_MOUNT" = 0 ] && mountpoint -q "$DCT_DATA_ROOT" 2>/dev/null; then
    umount "$DCT_DATA_ROOT" 2>/dev/null || umount -l "$DCT_DATA_ROOT" 2>/dev/null || true
  fi
  # dockerd leaves its "default" network namespace mounted under exec-root.
  local m
  # shellcheck disable=SC2013  # mount points under our own directory: no spaces
  for m in $(awk -v p="$DCT_STATE_DIR/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$DCT_STATE_DIR/exec" "$DCT_STATE_DIR/docker.sock" "$DCT_STATE_DIR/docker.pid" 2>/dev/null
}

cleanup() {
  local rc=$?
  [ "$CLEANED" = 0 ] || return 0
  CLEANED=1
  trap - INT TERM
  if [ "$rc" != 0 ] || [ "$FAIL" != 0 ]; then
    if docker_up; then dump_logs; fi
    if [ -z "$DOCKERD_PID" ] && [ -n "$DCT_DIR" ] && [ -s "$DCT_DIR/dockerd.log" ]; then
      say "# ---- last lines of dockerd's log ----"
      tail -n 20 "$DCT_DIR/dockerd.log" | sed 's/^/#   /'
    fi
  fi
  phase_end
  if [ "$HAVE_LOCK" = 1 ]; then
    if docker_up; then
      say "== cleanup after an early exit"
      remove_leftovers
    fi
    stop_dockerd
    rm -f "$DCT_STATE_DIR/lock"
    rmdir "$DCT_STATE_DIR" 2>/dev/null || true
  fi
  if [ -n "$DCT_DIR" ] && [ -d "$DCT_DIR" ]; then rm -rf "$DCT_DIR"; fi
  say "timings: ${TIMINGS[*]:-} total $(($(date +%s) - T_START))s"
  say "docker-compose-test: $PASS passed, $FAIL failed"
  if [ "$FAIL" != 0 ] && [ "$rc" = 0 ]; then rc=1; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'not_ok "interrupted (SIGINT)"; exit 130' INT
trap 'not_ok "terminated (SIGTERM)"; exit 143' TERM

# --- 0. prerequisites ---------------------------------------------------------------
phase prerequisites "root, tools, one run at a time"
[ "$(id -u)" = 0 ] || die "run as root (dockerd, network namespaces, veth pairs)"
missing=()
for c in dockerd docker docker-compose debootstrap ip nsenter jq psql node flock timeout tar awk; do
  command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
[ "${#missing[@]}" = 0 ] ||
  die "missing: ${missing[*]} (apt-get install docker.io docker-compose debootstrap iproute2 jq postgresql-15 nodejs)"
[ -c /dev/net/tun ] || die "/dev/net/tun is missing (yggdrasil needs it)"
if [ ! -e "$repo/tests/node_modules/ws/package.json" ] || [ ! -e "$repo/tests/node_modules/nostr-tools/package.json" ]; then
  say "# tests/node_modules missing: npm ci"
  (cd "$repo/tests" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) ||
    die "npm ci in tests/ failed (ws and nostr-tools are needed by client.mjs)"
fi
mkdir -p "$DCT_STATE_DIR" || die "cannot create $DCT_STATE_DIR"
chmod 700 "$DCT_STATE_DIR"
exec 9>"$DCT_STATE_DIR/lock"
flock -n 9 || die "another compose.test.sh runs (lock $DCT_STATE_DIR/lock)"
HAVE_LOCK=1
DCT_DIR="$(mktemp -d "$DCT_TMPDIR/nostream-dct.XXXXXX")" || die "mktemp failed"
chmod 755 "$DCT_DIR"
: >"$DCT_DIR/empty.env"   # compose reads this instead of the checkout's .env
mkdir -p "$DCT_DIR/nostr" "$DCT_DIR/coord-yggdrasil-config" "$DCT_DIR/storage-yggdrasil-config"
chmod 700 "$DCT_DIR/coord-yggdrasil-config" "$DCT_DIR/storage-yggdrasil-config"
export DCT_DIR
export DOCKER_HOST="unix://$DCT_STATE_DIR/docker.sock"
# Nothing from the caller's shell leaks into the compose files.
unset RELAY_PORT YGGDRASIL_LISTEN_PORT PUBLIC_PEER_ADDR COORDINATOR_PEER COORDINATOR_PUBLIC_KEY \
  STORAGE_DB_PASSWORD COORDINATOR_YGGDRASIL_ADDRESS COMPOSE_FILE COMPOSE_PROJECT_NAME \
  DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_BUILDKIT COMPOSE_DOCKER_CLI_BUILD
ok "prerequisites (temporary directory $DCT_DIR)"

# --- 1. the compose files validate ------------------------------------------------------
phase validate "docker-compose config -q"
validate() { # label command...: exit 0 and nothing on stderr (no warning)
  local label="$1" err
  shift
  err="$(cd "$repo" && "$@" 2>&1 >/dev/null)"
  local rc=$?
  if [ "$rc" = 0 ] && [ -z "$err" ]; then ok "$label"; else
    not_ok "$label (exit $rc)"
    printf '%s\n' "$err" | sed 's/^/#   /'
  fi
}
validate "docker-compose -f docker-compose.yml config -q" docker-compose -f docker-compose.yml config -q
validate "docker-compose -f docker-compose.storage.yml config -q" docker-compose -f docker-compose.storage.yml config -q
validate "docker-compose.yml + tests/docker/coordinator.override.yml config -q" coord 60 config -q
validate "docker-compose.storage.yml + tests/docker/storage.override.yml config -q" storage 60 config -q
if docker compose version >/dev/null 2>&1; then
  validate "docker compose (v2) -f docker-compose.yml config -q" docker compose -f docker-compose.yml config -q
  validate "docker compose (v2) -f docker-compose.storage.yml config -q" docker compose -f docker-compose.storage.yml config -q
else
  say "# docker compose (v2) is not installed: only v1 validated"
fi

# --- 2. dockerd and the base image ------------------------------------------------------------
phase dockerd "private dockerd (--iptables=false --bridge=none)"
if old="$(pid_from_file "$DCT_STATE_DIR/docker.pid" dockerd)"; then
  # Only a dockerd on our own socket (a killed earlier run of this script).
  if tr '\0' ' ' <"/proc/$old/cmdline" | grep -q -- "$DCT_STATE_DIR/docker.sock"; then
    say "# a dockerd of an earlier run is still up (pid $old): stopping it"
    DOCKERD_PID="$old"
    CONTAINERD_PID="$(pid_from_file "$DCT_STATE_DIR/exec/containerd/containerd.pid" containerd || true)"
    stop_dockerd
    DOCKERD_PID=""
    CONTAINERD_PID=""
  fi
fi
stop_dockerd || die "a dockerd of another run uses $DCT_STATE_DIR"   # stale mounts and files
mkdir -p "$DCT_DATA_ROOT"
if mountpoint -q "$DCT_DATA_ROOT"; then ROOT_WAS_MOUNT=1; else ROOT_WAS_MOUNT=0; fi
# Own session: the terminal's Ctrl-C reaches this script, which then stops
# the containers before dockerd.
setsid dockerd --iptables=false --bridge=none \
  -H "$DOCKER_HOST" --data-root "$DCT_DATA_ROOT" \
  --exec-root "$DCT_STATE_DIR/exec" --pidfile "$DCT_STATE_DIR/docker.pid" \
  --containerd-namespace nostream-dct --containerd-plugins-namespace nostream-dct-plugins \
  </dev/null >"$DCT_DIR/dockerd.log" 2>&1 &
launcher=$!
# setsid runs dockerd in place (this shell's background child is no process
# group leader); the pid file says so too.
for ((i = 0; i < 240; i++)); do
  if [ "$(cat "/proc/$launcher/comm" 2>/dev/null)" = dockerd ]; then DOCKERD_PID="$launcher"; break; fi
  DOCKERD_PID="$(pid_from_file "$DCT_STATE_DIR/docker.pid" dockerd)" && break
  DOCKERD_PID=""
  kill -0 "$launcher" 2>/dev/null || break
  sleep 0.25
done
[ -n "$DOCKERD_PID" ] || { tail -n 20 "$DCT_DIR/dockerd.log" | sed 's/^/#   /'; die "dockerd did not start"; }
wait_for 60 docker info || die "dockerd (pid $DOCKERD_PID) does not answer docker info"
CONTAINERD_PID="$(pid_from_file "$DCT_STATE_DIR/exec/containerd/containerd.pid" containerd || true)"
ok "dockerd runs (pid $DOCKERD_PID, data root $DCT_DATA_ROOT) and answers docker info"
remove_leftovers

phase base-image "debian:bookworm"
if docker image inspect debian:bookworm >/dev/null 2>&1; then
  ok "debian:bookworm is there (cached)"
else
  mirror="${DCT_MIRROR:-$(apt_mirror)}"
  mirror="${mirror:-http://deb.debian.org/debian}"
  say "# debootstrap --variant=minbase bookworm from $mirror"
  if timeout 900 debootstrap --variant=minbase bookworm "$DCT_DIR/rootfs" "$mirror" >"$DCT_DIR/debootstrap.log" 2>&1; then
    tar -C "$DCT_DIR/rootfs" -c . | docker import - debian:bookworm >/dev/null
    rm -rf "$DCT_DIR/rootfs"
    check "debian:bookworm made with debootstrap and docker import" quiet docker image inspect debian:bookworm
  else
    tail -n 20 "$DCT_DIR/debootstrap.log" | sed 's/^/#   /'
    rm -rf "$DCT_DIR/rootfs"
    die "debootstrap failed"
  fi
fi
docker image inspect debian:bookworm >/dev/null 2>&1 || die "no debian:bookworm image"

# --- 3. images ------------------------------------------------------------------------------------------
phase build "docker-compose build (network: host)"
build_one() { # label compose-function log
  if "$2" "$DCT_BUILD_TIMEOUT" build >"$3" 2>&1; then ok "$1"; else
    tail -n 30 "$3" | sed 's/^/#   /'
    die "$1 (log above)"
  fi
}
build_one "images of docker-compose.yml built" coord "$DCT_DIR/build-coordinator.log"
build_one "images of docker-compose.storage.yml built" storage "$DCT_DIR/build-storage.log"
for img in nostream nostream-db nostream-cache nostream-yggdrasil nostream-storage-db; do
  check "image $img:latest exists" quiet docker image inspect "$img:latest"
done

# --- 4a. coordinator ------------------------------------------------------------------------------------
phase coordinator "docker-compose.yml up"
export PUBLIC_PEER_ADDR="$PEER_ADDR"
if ! coord 240 up -d --no-build >"$DCT_DIR/up-coordinator.log" 2>&1; then
  sed 's/^/#   /' "$DCT_DIR/up-coordinator.log"
  die "coordinator stack up"
fi
ok "coordinator stack up (nostream-db healthy, then the relay)"
# The relay waits up to 30 s for nostream-db (fd42:8::2): link it now.
veth nostream to-db fd42:8::1/64 nostream-db to-relay fd42:8::2/64 ||
  die "veth pair relay <-> nostream-db (fd42:8::/64)"
ok "veth pair relay fd42:8::1 <-> nostream-db fd42:8::2"
COORD_DB_PID="$(cpid nostream-db)"
for c in nostream nostream-db nostream-cache nostream-yggdrasil; do
  check "container $c runs" test "$(docker inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true
done
check "nostream-cache and nostream-yggdrasil share nostream-db's network namespace" \
  test "$(readlink /proc/"$(cpid nostream-cache)"/ns/net)" = "$(readlink /proc/"$(cpid nostream-db)"/ns/net)" -a \
  "$(readlink /proc/"$(cpid nostream-yggdrasil)"/ns/net)" = "$(readlink /proc/"$(cpid nostream-db)"/ns/net)"
check "the relay answers GET /healthz on its loopback port 8008" wait_for 60 relay_healthz

check "the coordinator's identity box is printed" wait_for 60 box_complete nostream-yggdrasil "Yggdrasil Coordinator"
COORD_BOX="$(docker logs nostream-yggdrasil 2>&1 | extract_box "Yggdrasil Coordinator")"
printf '%s\n' "$COORD_BOX" | sed 's/^/#   /'
COORD_ADDR="$(printf '%s\n' "$COORD_BOX" | box_field 'Address   ')"
COORD_KEY="$(printf '%s\n' "$COORD_BOX" | box_field 'Public key')"
COORD_PEER="$(printf '%s\n' "$COORD_BOX" | box_field 'Peer addr ')"
expected="$(printf '%s\n' "$RULE" " Yggdrasil Coordinator" " Address   : $COORD_ADDR" \
  " Public key: $COORD_KEY" " Peer addr : $PEER_ADDR" "$RULE")"
check "coordinator box: the spec's six lines (rule, title, Address, Public key, Peer addr, rule)" \
  test "$COORD_BOX" = "$expected"
check "coordinator box: Address is a Yggdrasil address (200::/7)" \
  grep -qE '^[23][0-9a-f]{2}:[0-9a-f:]+$' <<<"$COORD_ADDR"
check "coordinator box: Public key is 64 hex digits" grep -qE '^[0-9a-f]{64}$' <<<"$COORD_KEY"
check "coordinator box: Public key is yggdrasil-config/yggdrasil.conf's" \
  test "$COORD_KEY" = "$(jq -r .PublicKey "$DCT_DIR/coord-yggdrasil-config/yggdrasil.conf" 2>/dev/null)"
check "coordinator box: Address is on nostream-db's Yggdrasil interface" \
  wait_for 10 bash -c "nsenter --net=/proc/$(cpid nostream-db)/ns/net ip -6 addr show | grep -q 'inet6 $COORD_ADDR/7 '"
check "coordinator: AllowedPublicKeys holds one placeholder key, nodes.json is {}" \
  test "$(jq -c '[(.AllowedPublicKeys | length), input]' "$DCT_DIR/coord-yggdrasil-config/yggdrasil.conf" \
    "$DCT_DIR/coord-yggdrasil-config/nodes.json" 2>/dev/null)" = '[1,{}]'

# --- 4b. storage node ----------------------------------------------------------------------------------------
phase storage "docker-compose.storage.yml up"
[[ "$COORD_KEY" =~ ^[0-9a-f]{64}$ ]] || die "no coordinator public key to give the storage node"
# What the storage operator's .env would hold, from the coordinator's box.
export COORDINATOR_PEER="$COORD_PEER"
export COORDINATOR_PUBLIC_KEY="$COORD_KEY"
STORAGE_DB_PASSWORD="dct-$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')-pw"
export STORAGE_DB_PASSWORD
if ! storage 120 up -d --no-build storage-db >"$DCT_DIR/up-storage.log" 2>&1; then
  sed 's/^/#   /' "$DCT_DIR/up-storage.log"
  die "storage-db up"
fi
spid="$(cpid nostream-storage-db)"
veth nostream-db to-storage fd42:9::1/64 nostream-storage-db to-coord fd42:9::2/64 ||
  die "veth pair nostream-db <-> storage-db (fd42:9::/64)"
ok "veth pair nostream-db fd42:9::1 <-> storage-db fd42:9::2"
if ! storage 120 up -d --no-build >>"$DCT_DIR/up-storage.log" 2>&1; then
  sed 's/^/#   /' "$DCT_DIR/up-storage.log"
  die "storage node up"
fi
ok "storage node up (COORDINATOR_PEER=$COORDINATOR_PEER from the coordinator's box)"
check "storage-db was not recreated by the second up (its namespace keeps the veth)" \
  test "$(cpid nostream-storage-db)" = "$spid"
check "nostream-storage-yggdrasil shares storage-db's network namespace" \
  test "$(readlink /proc/"$(cpid nostream-storage-yggdrasil)"/ns/net)" = "$(readlink /proc/"$spid"/ns/net)"

check "the storage node's identity box is printed" \
  wait_for 60 box_complete nostream-storage-yggdrasil "Yggdrasil Storage Node"
NODE_BOX="$(docker logs nostream-storage-yggdrasil 2>&1 | extract_box "Yggdrasil Storage Node")"
printf '%s\n' "$NODE_BOX" | sed 's/^/#   /'
NODE_ADDR="$(printf '%s\n' "$NODE_BOX" | box_field 'Address   ')"
NODE_KEY="$(printf '%s\n' "$NODE_BOX" | box_field 'Public key')"
expected="$(printf '%s\n' "$RULE" " Yggdrasil Storage Node" " Address   : $NODE_ADDR" \
  " Public key: $NODE_KEY" "" \
  " Give the coordinator operator this address to register this node:" \
  "   ./scripts/add-storage-node.sh \\" \
  "     $NODE_ADDR <node-name> <db-password> \\" \
  "     <from-ts> <to-ts> \\" \
  "     --pubkey $NODE_KEY" "$RULE")"
check "storage box: the spec's eleven lines, registration command included" test "$NODE_BOX" = "$expected"
check "storage box: Address is a Yggdrasil address (200::/7)" grep -qE '^[23][0-9a-f]{2}:[0-9a-f:]+$' <<<"$NODE_ADDR"
check "storage box: Public key is 64 hex digits, not the coordinator's" \
  bash -c '[[ "$1" =~ ^[0-9a-f]{64}$ ]] && [ "$1" != "$2" ]' _ "$NODE_KEY" "$COORD_KEY"
check "storage box: Public key is the node's yggdrasil.conf's" \
  test "$NODE_KEY" = "$(jq -r .PublicKey "$DCT_DIR/storage-yggdrasil-config/yggdrasil.conf" 2>/dev/null)"
check "storage box: Address is on storage-db's Yggdrasil interface" \
  wait_for 10 bash -c "nsenter --net=/proc/$spid/ns/net ip -6 addr show | grep -q 'inet6 $NODE_ADDR/7 '"
check "storage-db admits only the coordinator's address (derived from its key)" \
  wait_for 60 bash -c "docker logs nostream-storage-db 2>&1 | grep -qF 'only $COORD_ADDR (the coordinator) may log in'"
check "storage-db is healthy" wait_for 90 health_is nostream-storage-db healthy
check "before registration the coordinator refuses the node (not in AllowedPublicKeys)" \
  wait_for 30 bash -c "docker logs nostream-yggdrasil 2>&1 | grep -qF 'node public key \"$NODE_KEY\" is not in AllowedPublicKeys'"
check "the relay's container is healthy (its HEALTHCHECK)" wait_for 60 health_is nostream healthy

# --- 6. registration --------------------------------------------------------------------------------------------
phase register "the storage box's add-storage-node.sh command"
NOW=$(date +%s)
BOUNDARY=$((NOW - 1000))   # node1 holds [0, BOUNDARY); events_hot [BOUNDARY, MAXVALUE)
OLD_TS=$((BOUNDARY - 500))
# The command as the box prints it, placeholders filled in.
cmd="$(printf '%s\n' "$NODE_BOX" | sed -n '/^   \.\/scripts\/add-storage-node\.sh \\$/,/--pubkey /p' | sed 's/^ *//')"
cmd="${cmd//<node-name>/$NODE_NAME}"
cmd="${cmd//<db-password>/$(printf '%q' "$STORAGE_DB_PASSWORD")}"
cmd="${cmd//<from-ts>/0}"
cmd="${cmd//<to-ts>/$BOUNDARY}"
printf '%s\n' "$cmd" | sed "s/$STORAGE_DB_PASSWORD/<password>/; s/^/#   /"
[ -n "$cmd" ] || die "no registration command in the storage box"
# Run on the host, in nostream-db's network namespace: 127.0.0.1:5432 there is
# what the published port is on an operator's host (the scripts' defaults).
# YGGDRASIL_RESTART is left to its default, `docker restart nostream-yggdrasil`.
(
  cd "$repo" &&
    in_ns nostream-db env DB_HOST=127.0.0.1 DB_PORT=5432 DB_USER=nostr_ts_relay \
      DB_PASSWORD=nostr_ts_relay DB_NAME=nostr_ts_relay \
      YGGDRASIL_CONFIG_DIR="$DCT_DIR/coord-yggdrasil-config" \
      timeout 300 bash -c "$cmd"
) >"$DCT_DIR/register.log" 2>&1
rc=$?
sed 's/^/#   /' "$DCT_DIR/register.log"
check "add-storage-node.sh exits 0" test "$rc" = 0
check "the node's password is not in its output" bash -c "! grep -qF -- '$STORAGE_DB_PASSWORD' '$DCT_DIR/register.log'"
check "nodes.json records $NODE_NAME with the node's key and address" \
  test "$(jq -r --arg n "$NODE_NAME" '.[$n] | "\(.pubkey) \(.address)"' "$DCT_DIR/coord-yggdrasil-config/nodes.json" 2>/dev/null)" = "$NODE_KEY $NODE_ADDR"
check "AllowedPublicKeys holds the node's key" \
  quiet jq -e --arg k "$NODE_KEY" 'any(.AllowedPublicKeys[]; . == $k)' "$DCT_DIR/coord-yggdrasil-config/yggdrasil.conf"
check "nostream-yggdrasil was restarted by docker restart (a second identity box, same key)" \
  test "$(docker logs nostream-yggdrasil 2>&1 | grep -c "^ Public key: $COORD_KEY\$")" -ge 2
check "the coordinator's yggdrasil is peered with the node" \
  wait_for 30 bash -c "docker exec nostream-yggdrasil yggdrasilctl -json getPeers | grep -qF '$NODE_KEY'"
check "nostream-db was not restarted (same process, so the same namespace)" \
  test "$(cpid nostream-db)" = "$COORD_DB_PID"
parts="$(psql_coord "SELECT c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass ORDER BY 1" 2>&1)"
printf '%s\n' "$parts" | sed 's/^/#   /'
check "partitions: events_archive_$NODE_NAME [0, $BOUNDARY), events_hot [$BOUNDARY, MAXVALUE)" \
  test "$parts" = "events_archive_$NODE_NAME FOR VALUES FROM (0) TO ($BOUNDARY)
events_hot FOR VALUES FROM ($BOUNDARY) TO (MAXVALUE)"
check "events_archive_$NODE_NAME is a foreign table on server storage_$NODE_NAME (host $NODE_ADDR)" \
  test "$(psql_coord "SELECT s.srvname || ' ' || array_to_string(s.srvoptions, ',') FROM pg_foreign_table t
    JOIN pg_foreign_server s ON s.oid = t.ftserver WHERE t.ftrelid = 'events_archive_$NODE_NAME'::regclass" 2>/dev/null |
    grep -c "^storage_$NODE_NAME .*host=$NODE_ADDR")" = 1

# --- 7. events through the relay ------------------------------------------------------------------------------------
phase publish "WebSocket: publish, read back, look on the node"
out="$(cd "$repo" && in_ns nostream timeout 60 node "$here/client.mjs" ws://127.0.0.1:8008 "$OLD_TS" 2>&1)"
rc=$?
printf '%s\n' "$out" | sed 's/^/#   client: /'
last="$(tail -n 1 <<<"$out")"
check "client: both events accepted (OK true) and read back exactly (ids, until, #t)" \
  test "$rc" = 0 -a "$(jq -r '.ok' <<<"$last" 2>/dev/null)" = true
OLD_ID="$(jq -r '.old // empty' <<<"$last" 2>/dev/null)"
NEW_ID="$(jq -r '.new // empty' <<<"$last" 2>/dev/null)"
if [[ "$OLD_ID" =~ ^[0-9a-f]{64}$ && "$NEW_ID" =~ ^[0-9a-f]{64}$ ]]; then
  check "the old event (created_at $OLD_TS) is in the storage node's events_data" \
    test "$(psql_node "SELECT count(*) FROM events_data WHERE event_id = '\\x$OLD_ID' AND event_created_at = $OLD_TS" 2>&1)" = 1
  check "the recent event is not on the storage node" \
    test "$(psql_node "SELECT count(*) FROM events_data WHERE event_id = '\\x$NEW_ID'" 2>&1)" = 0
  check "coordinator: the old event's row is in events_archive_$NODE_NAME, none in events_hot" \
    test "$(psql_coord "SELECT (SELECT string_agg(tableoid::regclass::text, ',') FROM events WHERE event_id = '\\x$OLD_ID')
      || ' ' || (SELECT count(*) FROM ONLY events_hot WHERE event_id = '\\x$OLD_ID')" 2>&1)" = "events_archive_$NODE_NAME 0"
  check "coordinator: the recent event is in events_hot" \
    test "$(psql_coord "SELECT string_agg(tableoid::regclass::text, ',') FROM events WHERE event_id = '\\x$NEW_ID'" 2>&1)" = events_hot
  check "coordinator: the old event's tags stay local (event_tags)" \
    test "$(psql_coord "SELECT count(*) FROM event_tags WHERE event_id = '\\x$OLD_ID' AND tag_name = 't'" 2>&1)" = 1
else
  not_ok "the client gave no event ids: nothing to look for on the node"
fi

# --- 8. teardown ------------------------------------------------------------------------------------------------------------
phase teardown "compose down -v, dockerd stopped"
[ "$FAIL" = 0 ] || dump_logs
check "docker-compose.storage.yml down -v" quiet storage 120 down -v -t 10
check "docker-compose.yml down -v" quiet coord 120 down -v -t 10
check "no container left" test -z "$(docker ps -aq 2>&1)"
check "no volume left" test -z "$(docker volume ls -q 2>&1)"
check "no Docker network but host and none" \
  test "$(docker network ls --format '{{.Name}}' 2>&1 | sort | tr '\n' ' ')" = "host none "
stop_dockerd
check "dockerd (pid $DOCKERD_PID) stopped" bash -c "[ \"\$(cat /proc/$DOCKERD_PID/comm 2>/dev/null)\" != dockerd ]"
check "its containerd stopped" bash -c "[ -z '$CONTAINERD_PID' ] || [ \"\$(cat /proc/$CONTAINERD_PID/comm 2>/dev/null)\" != containerd ]"
check "nothing of dockerd left mounted under $DCT_STATE_DIR" \
  bash -c "! awk '{print \$2}' /proc/self/mounts | grep -q '^$DCT_STATE_DIR/'"
check "no veth of this test in the host's namespace" \
  bash -c "! ip -o link show | grep -qE ' (to-db|to-relay|to-storage|to-coord)[@:]'"
exit 0
