# shellcheck shell=bash disable=SC2034  # globals are used by the sourcing scripts
# Shared helpers for scripts/start and scripts/stop. Sourced, never run.
#
# Everything the scripts leave behind lives in the repository's .nostr/:
#   .nostr/run/   state of the running instance (pids, mode, cluster location)
#   .nostr/pg/    the private PostgreSQL cluster (a directory, or a symlink to
#                 /var/lib/nostream/<hash> when run as root from a directory
#                 the postgres user cannot reach; see docs/running.md)

NS_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
NS_NOSTR_DIR="$NS_REPO/.nostr"
NS_STATE_DIR="$NS_NOSTR_DIR/run"
NS_PG_LINK="$NS_NOSTR_DIR/pg"

ns_info() { printf '[nostream] %s\n' "$*" >&2; }
ns_warn() { printf '[nostream] warning: %s\n' "$*" >&2; }
ns_die()  { printf '[nostream] error: %s\n' "$*" >&2; exit 1; }

ns_is_root() { [ "$(id -u)" -eq 0 ]; }

# Short, stable id of this checkout (names its cluster outside the repo).
ns_repo_hash() { printf '%s' "$NS_REPO" | sha256sum | cut -c1-12; }

# --- processes -------------------------------------------------------------

# Start time of a process (field 22 of /proc/PID/stat), in clock ticks since
# boot. A pid plus its start time names one process even after pid reuse.
ns_proc_start() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"            # drop "pid (comm) ", comm may hold spaces
  # shellcheck disable=SC2086
  set -- $stat
  printf '%s\n' "${20}"
}

# A zombie has exited; only its parent has yet to reap it.
ns_proc_zombie() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" = Z ]
}

# ns_write_pid FILE PID: records "PID STARTTIME".
ns_write_pid() {
  local start
  start="$(ns_proc_start "$2")" || start=0
  printf '%s %s\n' "$2" "$start" >"$1"
}

# ns_read_pid FILE: prints the pid if that very process is still alive.
ns_read_pid() {
  local pid start now
  [ -r "$1" ] || return 1
  read -r pid start <"$1" || true
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  now="$(ns_proc_start "$pid")" || return 1
  ns_proc_zombie "$pid" && return 1
  [ -z "$start" ] || [ "$start" = 0 ] || [ "$start" = "$now" ] || return 1
  printf '%s\n' "$pid"
}

# ns_wait_gone PID SECONDS: 0 once the process is gone, 1 on time-out.
ns_wait_gone() {
  local pid="$1" tenths=$(( $2 * 10 ))
  while kill -0 "$pid" 2>/dev/null; do
    # A zombie child of ours counts as gone; the caller reaps it.
    ns_proc_zombie "$pid" && return 0
    [ "$tenths" -le 0 ] && return 1
    tenths=$(( tenths - 1 ))
    sleep 0.1
  done
  return 0
}

# ns_terminate PID NAME SECONDS: SIGTERM, then SIGKILL after SECONDS.
ns_terminate() {
  local pid="$1" name="$2" secs="$3"
  kill -0 "$pid" 2>/dev/null || return 0
  ns_info "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! ns_wait_gone "$pid" "$secs"; then
    ns_warn "$name (pid $pid) still running after ${secs}s: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    ns_wait_gone "$pid" 5 || true
  fi
}

# --- packages --------------------------------------------------------------

NS_APT_UPDATED=0

ns_pkg_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

ns_sudo() {
  if ns_is_root; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    ns_die "need root to run: $* (install sudo, or run this as root)"
  fi
}

ns_apt_update_once() {
  [ "$NS_APT_UPDATED" = 1 ] && return 0
  ns_info "apt-get update"
  ns_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  NS_APT_UPDATED=1
}

# ns_apt_install PKG...: installs those that are not installed yet.
ns_apt_install() {
  local p missing=()
  for p in "$@"; do ns_pkg_installed "$p" || missing+=("$p"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 ||
    ns_die "missing packages (${missing[*]}) and no apt-get: install them by hand"
  ns_apt_update_once
  ns_info "installing: ${missing[*]}"
  ns_sudo env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# --- Docker ----------------------------------------------------------------

# Sets the array NS_COMPOSE to the compose command, preferring v2.
ns_find_compose() {
  NS_COMPOSE=()
  if command -v docker >/dev/null 2>&1 &&
     timeout 10 docker compose version >/dev/null 2>&1; then
    NS_COMPOSE=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1 &&
       timeout 10 docker-compose version >/dev/null 2>&1; then
    NS_COMPOSE=(docker-compose)
  else
    return 1
  fi
}

ns_docker_engine_up() {
  command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1
}

# --- PostgreSQL ------------------------------------------------------------

# Sets NS_PG_BINDIR: NOSTREAM_PG_BINDIR, else PostgreSQL 15, else the newest
# server installed under /usr/lib/postgresql.
ns_find_pg_bindir() {
  local d best=""
  if [ -n "${NOSTREAM_PG_BINDIR:-}" ]; then
    [ -x "$NOSTREAM_PG_BINDIR/pg_ctl" ] ||
      ns_die "NOSTREAM_PG_BINDIR=$NOSTREAM_PG_BINDIR has no pg_ctl"
    NS_PG_BINDIR="$NOSTREAM_PG_BINDIR"
    return 0
  fi
  if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
    NS_PG_BINDIR=/usr/lib/postgresql/15/bin
    return 0
  fi
  for d in /usr/lib/postgresql/*/bin; do
    if [ ! -x "$d/initdb" ] || [ ! -x "$d/postgres" ]; then continue; fi
    if [ -z "$best" ] ||
       [ "$(basename "$(dirname "$d")")" -gt "$(basename "$(dirname "$best")")" ]; then
      best="$d"
    fi
  done
  [ -n "$best" ] || return 1
  NS_PG_BINDIR="$best"
}

# ns_as_user USER CMD...: runs CMD as USER (root may switch, others must be
# that user already). Runs from / so that an unreadable cwd (e.g. /root)
# does not bother the PostgreSQL tools.
ns_as_user() {
  local user="$1"; shift
  if [ "$user" = "$(id -un)" ]; then
    (cd / && "$@")
  elif ns_is_root; then
    (cd / && runuser -u "$user" -- "$@")
  else
    ns_die "cannot act as user $user (run as root or as $user)"
  fi
}

# pg_ctl status: 0 when a server runs on DATA.
ns_pg_running() {
  local user="$1" bindir="$2" data="$3"
  [ -f "$data/postmaster.pid" ] || return 1
  ns_as_user "$user" "$bindir/pg_ctl" status -D "$data" >/dev/null 2>&1
}

ns_pg_stop() {
  local user="$1" bindir="$2" data="$3"
  if ns_pg_running "$user" "$bindir" "$data"; then
    ns_info "stopping PostgreSQL (pg_ctl stop -m fast, data $data)"
    ns_as_user "$user" "$bindir/pg_ctl" stop -D "$data" -m fast -w -t 60 >/dev/null ||
      ns_warn "pg_ctl stop failed for $data"
  fi
}
