# shellcheck shell=bash disable=SC2034  # globals are used by the sourcing scripts
# Shared helpers of the distributed-storage scripts (add-storage-node.sh,
# remove-storage-node.sh, archive-events.sh, narrow-hot.sh). Sourced, never
# run. See docs/distributed-scripts.md.
#
# Exit codes of every script:
#   0  done (also: nothing to do)
#   1  failure (database, node unreachable, files, tools); nothing half-done
#      is lost: running the same command again completes it
#   2  invalid arguments (nothing was changed)
#   3  refused in the current state (overlapping ranges, an unfinished move
#      of another node, unknown node...; nothing was changed)

SN_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
SN_REPO="$(cd "$SN_LIB_DIR/../.." && pwd -P)"
SN_FUNCS_SQL="$SN_LIB_DIR/storage-functions.sql"
SN_PROG="$(basename "$0")"

: "${DB_HOST:=127.0.0.1}"
: "${DB_PORT:=5432}"
: "${DB_USER:=nostr_ts_relay}"
: "${DB_PASSWORD:=}"
: "${DB_NAME:=nostr_ts_relay}"
: "${YGGDRASIL_CONFIG_DIR:=yggdrasil-config}"
# Relative to the repository (as scripts/start does), so cron jobs and other
# working directories find the same files.
[[ "$YGGDRASIL_CONFIG_DIR" == /* ]] || YGGDRASIL_CONFIG_DIR="$SN_REPO/$YGGDRASIL_CONFIG_DIR"
: "${YGGDRASIL_RESTART:=docker restart nostream-yggdrasil}"
: "${YGGDRASIL_LISTEN_PORT:=12345}"
: "${STORAGE_NODE_PORT:=5432}"
: "${STORAGE_NODE_DB:=nostr_ts_relay}"
: "${STORAGE_NODE_USER:=nostr_ts_relay}"
: "${STORAGE_NODE_WAIT:=30}"
: "${STORAGE_LOCK_TRIES:=12}"
: "${STORAGE_LOCK_TIMEOUT:=5s}"
: "${STORAGE_OUTAGE_WAIT:=30}"

SN_MIN=-2147483648   # MINVALUE
SN_MAX=2147483648    # MAXVALUE

# --- messages ----------------------------------------------------------------

sn_say()  { printf '%s\n' "$*"; }
sn_step() { printf '==> %s\n' "$*"; }
sn_note() { printf '    %s\n' "$*"; }
sn_warn() { printf '%s: warning: %s\n' "$SN_PROG" "$*" >&2; }
sn_err()  { printf '%s: error: %s\n' "$SN_PROG" "$*" >&2; }
# sn_die CODE MESSAGE
sn_die()  { local c="$1"; shift; sn_err "$*"; exit "$c"; }
# Invalid arguments: exit 2.
sn_bad()  { sn_err "$*"; printf "Try '%s --help'.\n" "$SN_PROG" >&2; exit 2; }

# --- validation (no side effects) -------------------------------------------

# A node name becomes part of identifiers (events_archive_NAME, storage_NAME).
sn_valid_name() { [[ "$1" =~ ^[a-z0-9_]+$ ]] && [ "${#1}" -le 40 ]; }

sn_valid_hexgroup() { [[ "$1" =~ ^[0-9a-fA-F]{1,4}$ ]]; }

sn_valid_ipv4() {
  local IFS=. o
  local -a parts
  [[ "$1" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || return 1
  read -ra parts <<<"$1"
  for o in "${parts[@]}"; do
    [[ "$o" =~ ^(0|[1-9][0-9]*)$ ]] && [ "$o" -le 255 ] || return 1
  done
}

# sn_groups_count LIST LAST_MAY_BE_V4 -> prints the number of 16-bit groups
# of a colon-separated list (no empty groups), or fails.
sn_groups_count() {
  local list="$1" v4ok="$2" n=0 i g
  local -a gs
  [ -z "$list" ] && { printf '0\n'; return 0; }
  case "$list" in :*|*:) return 1 ;; esac
  [[ "$list" == *::* ]] && return 1
  IFS=: read -ra gs <<<"$list"
  for i in "${!gs[@]}"; do
    g="${gs[$i]}"
    if [ "$i" -eq $(( ${#gs[@]} - 1 )) ] && [ "$v4ok" = 1 ] && [[ "$g" == *.* ]]; then
      sn_valid_ipv4 "$g" || return 1
      n=$(( n + 2 ))
    else
      sn_valid_hexgroup "$g" || return 1
      n=$(( n + 1 ))
    fi
  done
  printf '%s\n' "$n"
}

# A syntactically valid IPv6 address (RFC 4291 text forms, no zone, no
# brackets, no prefix length).
sn_valid_ipv6() {
  local a="$1" head tail nh nt
  [[ "$a" =~ ^[0-9a-fA-F:.]+$ ]] || return 1
  [ "${#a}" -le 45 ] || return 1
  if [[ "$a" == *::* ]]; then
    head="${a%%::*}"
    tail="${a#*::}"
    [[ "$tail" == *::* ]] && return 1
    [[ "$head" == *.* ]] && return 1
    nh="$(sn_groups_count "$head" 0)" || return 1
    nt="$(sn_groups_count "$tail" 1)" || return 1
    [ $(( nh + nt )) -le 7 ]
  else
    nh="$(sn_groups_count "$a" 1)" || return 1
    [ "$nh" -eq 8 ]
  fi
}

# A Yggdrasil node address: IPv6 in 200::/7 (first byte 0x02 or 0x03).
sn_valid_ygg_address() {
  local a="$1" first
  sn_valid_ipv6 "$a" || return 1
  [[ "$a" == ::* ]] && return 1
  first="${a%%:*}"
  [ $(( 16#$first >> 8 )) -eq 2 ] || [ $(( 16#$first >> 8 )) -eq 3 ]
}

sn_valid_pubkey() { [[ "$1" =~ ^[0-9a-fA-F]{64}$ ]]; }

# sn_uint VALUE MAX: prints VALUE as a plain decimal if it is an integer
# 0..MAX (leading zeros allowed), else fails.
sn_uint() {
  local v="$1" max="$2"
  [[ "$v" =~ ^[0-9]+$ ]] || return 1
  v="${v#"${v%%[!0]*}"}"
  [ -z "$v" ] && v=0
  [ "${#v}" -le 18 ] || return 1
  [ "$v" -le "$max" ] || return 1
  printf '%s\n' "$v"
}

# sn_posint VALUE MAX: like sn_uint, but 1..MAX.
sn_posint() {
  local v
  v="$(sn_uint "$1" "$2")" || return 1
  [ "$v" -ge 1 ] || return 1
  printf '%s\n' "$v"
}

# sn_parse_bound VALUE from|to: prints the numeric bound (MINVALUE only as
# a lower bound, MAXVALUE only as an upper one).
sn_parse_bound() {
  local v="$1" side="$2" up
  up="$(printf '%s' "$v" | tr '[:lower:]' '[:upper:]')"
  if [ "$up" = MINVALUE ]; then
    [ "$side" = from ] && { printf '%s\n' "$SN_MIN"; return 0; }
    return 1
  fi
  if [ "$up" = MAXVALUE ]; then
    [ "$side" = to ] && { printf '%s\n' "$SN_MAX"; return 0; }
    return 1
  fi
  sn_uint "$v" 2147483647
}

# Numeric bound -> SQL spelling.
sn_bound_txt() {
  if [ "$1" -le "$SN_MIN" ]; then printf 'MINVALUE\n'
  elif [ "$1" -ge "$SN_MAX" ]; then printf 'MAXVALUE\n'
  else printf '%s\n' "$1"; fi
}
sn_range_txt() { printf 'FROM (%s) TO (%s)\n' "$(sn_bound_txt "$1")" "$(sn_bound_txt "$2")"; }
sn_max() { if [ "$1" -ge "$2" ]; then printf '%s\n' "$1"; else printf '%s\n' "$2"; fi; }
sn_min() { if [ "$1" -le "$2" ]; then printf '%s\n' "$1"; else printf '%s\n' "$2"; fi; }

# --- environment, temp files, lock -----------------------------------------

SN_TMP=""
sn_cleanup() {
  if [ -n "$SN_TMP" ] && [ -d "$SN_TMP" ]; then rm -rf "$SN_TMP"; fi
}

sn_init() {
  trap sn_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  SN_TMP="$(mktemp -d "${TMPDIR:-/tmp}/nostream-storage.XXXXXX")"
  chmod 700 "$SN_TMP"
}

sn_need_tools() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || sn_die 1 "'$t' is needed and not installed (Debian/Ubuntu: apt install $(sn_pkg_of "$t"))"
  done
}
sn_pkg_of() {
  case "$1" in
    psql) printf 'postgresql-client' ;;
    flock) printf 'util-linux' ;;
    *) printf '%s' "$1" ;;
  esac
}

sn_check_env() {
  sn_posint "$DB_PORT" 65535 >/dev/null ||
    sn_bad "DB_PORT must be a TCP port 1-65535 (got '$DB_PORT')"
  sn_posint "$STORAGE_NODE_PORT" 65535 >/dev/null ||
    sn_bad "STORAGE_NODE_PORT must be a TCP port 1-65535 (got '$STORAGE_NODE_PORT')"
  sn_posint "$STORAGE_NODE_WAIT" 3600 >/dev/null ||
    sn_bad "STORAGE_NODE_WAIT must be a number of tries 1-3600 (got '$STORAGE_NODE_WAIT')"
  [[ "$STORAGE_OUTAGE_WAIT" =~ ^[0-9]{1,4}$ ]] ||
    sn_bad "STORAGE_OUTAGE_WAIT must be a number of seconds 0-9999 (got '$STORAGE_OUTAGE_WAIT')"
  sn_posint "$STORAGE_LOCK_TRIES" 1000 >/dev/null ||
    sn_bad "STORAGE_LOCK_TRIES must be 1-1000 (got '$STORAGE_LOCK_TRIES')"
  [[ "$STORAGE_LOCK_TIMEOUT" =~ ^[1-9][0-9]*(ms|s|min)?$ ]] ||
    sn_bad "STORAGE_LOCK_TIMEOUT must be a duration like 5s or 500ms (got '$STORAGE_LOCK_TIMEOUT')"
  { [ -n "$DB_USER" ] && [ -n "$DB_NAME" ] && [ -n "$DB_HOST" ]; } ||
    sn_bad "DB_HOST, DB_USER and DB_NAME must not be empty"
  case "$DB_PASSWORD" in *$'\n'*) sn_bad "DB_PASSWORD must not contain a newline" ;; esac
}

# One management command at a time per configuration directory. The lock is
# on an open file that the psql children inherit, so a psql left running by
# a killed script still holds it until it ends.
sn_lock() {
  local f="$YGGDRASIL_CONFIG_DIR/.storage-scripts.lock"
  [ -d "$YGGDRASIL_CONFIG_DIR" ] || sn_die 1 "YGGDRASIL_CONFIG_DIR '$YGGDRASIL_CONFIG_DIR' is not a directory"
  exec 9>>"$f" || sn_die 1 "cannot open $f"
  if ! flock -n 9; then
    sn_say "waiting for another storage script to finish (lock $f)..."
    flock -w 120 9 || sn_die 1 "another storage script still holds $f after 120 s"
  fi
}

# --- PostgreSQL ----------------------------------------------------------------

# The password travels in a temporary password file (mode 0600), never on a
# command line.
sn_pg_env() {
  [ -n "${SN_PGPASSFILE:-}" ] && return 0
  SN_PGPASSFILE="$SN_TMP/pgpass"
  local p="$DB_PASSWORD"
  p="${p//\\/\\\\}"
  p="${p//:/\\:}"
  (umask 077 && printf '*:*:*:*:%s\n' "$p" >"$SN_PGPASSFILE")
}

# sn_psql: SQL on stdin, unaligned tuples-only output, '|'
# between fields.
sn_psql() {
  sn_pg_env
  local -a env=(PGAPPNAME="nostream-$SN_PROG" PGCONNECT_TIMEOUT=10)
  [ -n "$DB_PASSWORD" ] && env+=(PGPASSFILE="$SN_PGPASSFILE")
  env "${env[@]}" psql -X -v ON_ERROR_STOP=1 -q -At -F '|' \
    -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d "$DB_NAME"
}

# sn_sql SQL: runs the helper functions, then SQL (given as an argument to
# this shell function: it reaches psql through a pipe, not a command line).
sn_sql() {
  { cat "$SN_FUNCS_SQL"; printf '%s\n' "$1"; } | sn_psql
}

# A SQL string literal (standard_conforming_strings is on in our sessions).
sn_lit() { local s="${1//\'/\'\'}"; printf "'%s'" "$s"; }

sn_db_preflight() {
  local out
  out="$(sn_sql "SELECT coalesce((SELECT relkind::text FROM pg_class WHERE oid = to_regclass('events')), '-'),
                        coalesce((SELECT relkind::text FROM pg_class WHERE oid = to_regclass('events_hot')), '-'),
                        EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgres_fdw'),
                        EXISTS (SELECT 1 FROM pg_foreign_data_wrapper WHERE fdwname = 'postgres_fdw')
                          AND has_foreign_data_wrapper_privilege('postgres_fdw', 'USAGE'),
                        current_setting('server_version_num')::int >= 140000;" 2>&1)" ||
    sn_die 1 "cannot use the coordinator database $DB_NAME on $DB_HOST:$DB_PORT as $DB_USER: $out"
  local relkind hotkind ext usage ver
  IFS='|' read -r relkind hotkind ext usage ver <<<"$out"
  [ "$relkind" = p ] || sn_die 1 "table events in $DB_NAME is not partitioned (start the relay once: its migrations make it so)"
  [ "$hotkind" = r ] || sn_die 1 "events_hot is missing or not a plain table in $DB_NAME"
  [ "$ext" = t ] || sn_die 1 "the postgres_fdw extension is not installed in $DB_NAME; as a superuser: CREATE EXTENSION postgres_fdw; GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO $DB_USER;"
  [ "$usage" = t ] || sn_die 1 "$DB_USER lacks USAGE on the foreign data wrapper postgres_fdw; as a superuser: GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO $DB_USER;"
  [ "$ver" = t ] || sn_die 1 "PostgreSQL 14 or newer is needed on the coordinator"
}

# Loads the partitions of events into SN_P_NAME/KIND/LO/HI (indexed arrays).
sn_load_parts() {
  local out line name kind lo hi def pend
  out="$(sn_sql "SELECT part, kind, coalesce(lo::text, ''), coalesce(hi::text, ''), is_default, detach_pending FROM pg_temp.ns_parts();" 2>&1)" ||
    sn_die 1 "cannot read the partitions of events: $out"
  SN_P_NAME=(); SN_P_KIND=(); SN_P_LO=(); SN_P_HI=()
  while IFS='|' read -r name kind lo hi def pend; do
    [ -z "$name" ] && continue
    [ "$def" = t ] && sn_die 3 "events has a DEFAULT partition ($name); these scripts only handle range partitions"
    if [ "$pend" = t ]; then
      sn_die 3 "partition $name of events is half detached (an interrupted DETACH ... CONCURRENTLY); finish it with: ALTER TABLE events DETACH PARTITION $name FINALIZE; (or run remove-storage-node.sh for it)"
    fi
    SN_P_NAME+=("$name"); SN_P_KIND+=("$kind"); SN_P_LO+=("$lo"); SN_P_HI+=("$hi")
  done <<<"$out"
}

# sn_part_index NAME: prints the index of partition NAME, or fails.
sn_part_index() {
  local i
  for i in "${!SN_P_NAME[@]}"; do
    [ "${SN_P_NAME[$i]}" = "$1" ] && { printf '%s\n' "$i"; return 0; }
  done
  return 1
}

sn_print_parts() {
  local i w=10
  for i in "${!SN_P_NAME[@]}"; do [ "${#SN_P_NAME[$i]}" -gt "$w" ] && w="${#SN_P_NAME[$i]}"; done
  for i in "${!SN_P_NAME[@]}"; do
    printf '    %-*s  %s  %s\n' "$w" "${SN_P_NAME[$i]}" \
      "$(if [ "${SN_P_KIND[$i]}" = f ]; then printf 'remote'; else printf 'local '; fi)" \
      "FOR VALUES $(sn_range_txt "${SN_P_LO[$i]}" "${SN_P_HI[$i]}")"
  done
}

# Is the relation a foreign table? prints t/f/-
sn_relkind() {
  sn_sql "SELECT coalesce((SELECT relkind::text FROM pg_class WHERE oid = to_regclass($(sn_lit "$1"))), '-');"
}

# The unfinished move, if any (see pg_temp.ns_move_pending): sets SN_PM_*.
sn_load_pending() {
  local out
  out="$(sn_sql "SELECT pg_temp.ns_move_pending();" 2>&1)" || sn_die 1 "cannot read the move state: $out"
  SN_PM_NODE=""
  [ -z "$out" ] && return 0
  IFS='|' read -r SN_PM_NODE SN_PM_FT SN_PM_MOVE_LO SN_PM_MOVE_HI SN_PM_NODE_LO SN_PM_NODE_HI \
    SN_PM_HOT_LO SN_PM_HOT_HI SN_PM_COPIED SN_PM_MARKED <<<"$out"
}

# While the relay holds the range of an unreachable node locally
# (nostream_storage_outage, see docs/operations.md), `events` does not have
# its usual partitions: changing the layout then would strand the held
# events. Waits up to STORAGE_OUTAGE_WAIT seconds (30) for every node to be
# back (a restart of yggdrasil makes a short outage), then refuses (exit 3).
sn_refuse_during_outage() {
  local out waited=0
  while :; do
    out="$(sn_sql "SELECT CASE WHEN to_regclass('nostream_storage_outage') IS NULL THEN ''
                        ELSE (SELECT string_agg(server || ' since ' || since::text, ', ')
                                FROM nostream_storage_outage) END;" 2>&1)" ||
      sn_die 1 "cannot read the storage outage state: $out"
    [ -n "$out" ] || return 0
    [ "$waited" -lt "$STORAGE_OUTAGE_WAIT" ] ||
      sn_die 3 "storage node(s) unreachable and held locally by the relay: $out; wait until they are back (scripts/storage-status.sh) before changing the partitions"
    [ "$waited" -gt 0 ] || sn_say "waiting up to ${STORAGE_OUTAGE_WAIT} s for unreachable storage node(s) to return: $out"
    sleep 1
    waited=$((waited + 1))
  done
}

# --- planning --------------------------------------------------------------------

# sn_plan NODE FROM TO: what it takes for node NODE's partition to cover
# [FROM, TO) as well (after sn_load_parts). Sets SN_PLAN_* and returns 0,
# or prints why not and returns 3:
#   SN_PLAN_ATTACHED 1 if events_archive_NODE is attached (SN_PLAN_CUR_LO/HI)
#   SN_PLAN_NODE_LO/HI the node's range afterwards
#   SN_PLAN_MOVE      1 if events_hot's range shrinks (rows move)
#   SN_PLAN_MOVE_LO/HI the part of events_hot's range that goes to the node
#   SN_PLAN_HOT_LO/HI events_hot's range afterwards
#   SN_PLAN_UNCOVERED  a range below 0 that no partition will cover, or ""
sn_plan() {
  local node="$1" f="$2" t="$3" ft="events_archive_$1" i hi_idx lo hi
  SN_PLAN_ATTACHED=0; SN_PLAN_MOVE=0; SN_PLAN_UNCOVERED=""
  SN_PLAN_NODE_LO="$f"; SN_PLAN_NODE_HI="$t"
  hi_idx="$(sn_part_index events_hot)" || { sn_err "events_hot is not a partition of events"; return 3; }
  SN_PLAN_HOT_LO="${SN_P_LO[$hi_idx]}"; SN_PLAN_HOT_HI="${SN_P_HI[$hi_idx]}"
  if i="$(sn_part_index "$ft")"; then
    SN_PLAN_ATTACHED=1
    SN_PLAN_CUR_LO="${SN_P_LO[$i]}"; SN_PLAN_CUR_HI="${SN_P_HI[$i]}"
    if [ "$f" -gt "$SN_PLAN_CUR_HI" ] || [ "$t" -lt "$SN_PLAN_CUR_LO" ]; then
      sn_err "$ft covers $(sn_range_txt "$SN_PLAN_CUR_LO" "$SN_PLAN_CUR_HI"); $(sn_range_txt "$f" "$t") does not touch it, so together they would not be one range"
      return 3
    fi
    SN_PLAN_NODE_LO="$(sn_min "$f" "$SN_PLAN_CUR_LO")"
    SN_PLAN_NODE_HI="$(sn_max "$t" "$SN_PLAN_CUR_HI")"
  fi
  for i in "${!SN_P_NAME[@]}"; do
    case "${SN_P_NAME[$i]}" in events_hot|"$ft") continue ;; esac
    lo="${SN_P_LO[$i]}"; hi="${SN_P_HI[$i]}"
    if [ "$f" -lt "$hi" ] && [ "$lo" -lt "$t" ]; then
      sn_err "the range $(sn_range_txt "$f" "$t") overlaps partition ${SN_P_NAME[$i]} ($(sn_range_txt "$lo" "$hi"))"
      return 3
    fi
  done
  lo="$SN_PLAN_HOT_LO"; hi="$SN_PLAN_HOT_HI"
  if [ "$f" -lt "$hi" ] && [ "$lo" -lt "$t" ]; then
    SN_PLAN_MOVE=1
    SN_PLAN_MOVE_LO="$(sn_max "$f" "$lo")"; SN_PLAN_MOVE_HI="$(sn_min "$t" "$hi")"
    if [ "$f" -le "$lo" ] && [ "$t" -ge "$hi" ]; then
      sn_err "the range $(sn_range_txt "$f" "$t") covers all of events_hot ($(sn_range_txt "$lo" "$hi")); events_hot must keep a range for new events"
      return 3
    elif [ "$f" -gt "$lo" ] && [ "$t" -lt "$hi" ]; then
      # Two pieces would be left. The lower one may be dropped when it lies
      # below 0 and is empty: no event has a negative created_at (the relay
      # refuses them), so [MINVALUE, 0) needs no partition. This makes the
      # spec's "0 .. T" historical node work on a fresh events_hot.
      local below=-1
      if [ "$f" -le 0 ]; then below="$(sn_count_hot "$lo" "$f")" || below=-1; fi
      if [ "$below" != 0 ]; then
        sn_err "the range $(sn_range_txt "$f" "$t") lies strictly inside events_hot's range ($(sn_range_txt "$lo" "$hi")) and would split it in two; pick a range that touches one end of events_hot's range: FROM $(sn_bound_txt "$lo") or below, or TO $(sn_bound_txt "$hi") or above$( [ "$below" -gt 0 ] 2>/dev/null && printf ' (events_hot has %s rows below %s)' "$below" "$f")"
        return 3
      fi
      SN_PLAN_HOT_LO="$t"
      SN_PLAN_UNCOVERED="$(sn_range_txt "$lo" "$f")"
    elif [ "$f" -le "$lo" ]; then
      SN_PLAN_HOT_LO="$t"
    else
      SN_PLAN_HOT_HI="$f"
    fi
  fi
  return 0
}

# --- Yggdrasil configuration ----------------------------------------------------

SN_CONF() { printf '%s/yggdrasil.conf\n' "$YGGDRASIL_CONFIG_DIR"; }
SN_NODES() { printf '%s/nodes.json\n' "$YGGDRASIL_CONFIG_DIR"; }

sn_check_json_files() {
  local conf nodes
  conf="$(SN_CONF)"; nodes="$(SN_NODES)"
  [ -f "$conf" ] || sn_die 1 "$conf does not exist (the coordinator's yggdrasil makes it on its first start; see YGGDRASIL_CONFIG_DIR)"
  jq -e 'type == "object" and ((.AllowedPublicKeys // []) | type == "array")' "$conf" >/dev/null 2>&1 ||
    sn_die 1 "$conf is not a JSON yggdrasil config with an AllowedPublicKeys array (it must be JSON, not HJSON: yggdrasil -genconf -json)"
  if [ -e "$nodes" ]; then
    jq -e 'type == "object"' "$nodes" >/dev/null 2>&1 || sn_die 1 "$nodes is not a JSON object"
  fi
}

# sn_json_edit FILE [jq args...] FILTER: atomic rewrite (temp file + mv in
# the same directory), mode and owner kept. Prints 1 if the content changed.
sn_json_edit() {
  local file="$1"; shift
  local tmp dir
  dir="$(dirname "$file")"
  tmp="$(mktemp "$dir/.$(basename "$file").XXXXXX")" || sn_die 1 "cannot write in $dir"
  if [ -e "$file" ]; then
    if ! jq "$@" "$file" >"$tmp"; then rm -f "$tmp"; sn_die 1 "jq failed on $file"; fi
  else
    if ! printf '{}' | jq "$@" >"$tmp"; then rm -f "$tmp"; sn_die 1 "jq failed making $file"; fi
  fi
  if [ -e "$file" ] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"; printf '0\n'; return 0
  fi
  if [ -e "$file" ]; then
    chmod --reference="$file" "$tmp" 2>/dev/null || true
    chown --reference="$file" "$tmp" 2>/dev/null || true
  else
    chmod 644 "$tmp"
    chown --reference="$dir" "$tmp" 2>/dev/null || true
  fi
  mv -f "$tmp" "$file" || { rm -f "$tmp"; sn_die 1 "cannot replace $file"; }
  printf '1\n'
}

# nodes.json entry of NAME: prints "pubkey address" or nothing.
sn_node_entry() {
  local nodes; nodes="$(SN_NODES)"
  [ -e "$nodes" ] || return 0
  jq -r --arg n "$1" '.[$n] // empty | "\(.pubkey // "") \(.address // "")"' "$nodes"
}

sn_nodes_set_range() {
  local name="$1" lo hi nodes
  nodes="$(SN_NODES)"
  [ -e "$nodes" ] || return 0
  lo="$(sn_bound_txt "$2")"; hi="$(sn_bound_txt "$3")"
  # shellcheck disable=SC2016  # jq variables
  sn_json_edit "$nodes" --arg n "$name" --arg f "$lo" --arg t "$hi" \
    'if has($n) then .[$n].from = ($f | tonumber? // $f) | .[$n].to = ($t | tonumber? // $t) else . end' >/dev/null
}

sn_restart_yggdrasil() {
  sn_step "restarting yggdrasil: $YGGDRASIL_RESTART"
  # Without the script lock's descriptor: what it starts may run for long.
  bash -c "$YGGDRASIL_RESTART" 9>&- || sn_die 1 "the yggdrasil restart command failed: $YGGDRASIL_RESTART"
}

# A random 64-hex key nobody holds: an empty AllowedPublicKeys would let
# every peer in (yggdrasil 0.4.7), so the list is never left empty.
sn_placeholder_key() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

# --- moving rows ----------------------------------------------------------------

sn_fmt_secs() {
  local s="$1"
  if [ "$s" -ge 3600 ]; then printf '%dh%02dm' $(( s / 3600 )) $(( s % 3600 / 60 ))
  elif [ "$s" -ge 60 ]; then printf '%dm%02ds' $(( s / 60 )) $(( s % 60 ))
  else printf '%ds' "$s"; fi
}
sn_fmt_ts() {
  if [ "$1" -le "$SN_MIN" ]; then printf 'MINVALUE'
  elif [ "$1" -ge "$SN_MAX" ]; then printf 'MAXVALUE'
  elif [ "$1" -lt 0 ]; then printf '%s' "$1"
  else date -u -d "@$1" '+%Y-%m-%d %H:%M:%SZ' 2>/dev/null || printf '%s' "$1"; fi
}

# Rows of events_hot in [LO, HI): prints the count.
sn_count_hot() {
  sn_sql "SELECT count(*) FROM events_hot WHERE event_created_at >= $1 AND event_created_at < $2;"
}

# sn_dry_run_windows LO HI WINDOW: rows of events_hot per window (non-empty
# windows only), then the total.
sn_dry_run_windows() {
  local lo="$1" hi="$2" w="$3" out total=0 a n
  out="$(sn_sql "SELECT ($lo::bigint + (event_created_at - $lo::bigint) / $w * $w) AS win, count(*)
                   FROM events_hot WHERE event_created_at >= $lo AND event_created_at < $hi
                  GROUP BY 1 ORDER BY 1;" 2>&1)" || sn_die 1 "cannot count rows: $out"
  while IFS='|' read -r a n; do
    [ -z "$a" ] && continue
    printf '    %s .. %s  %10s rows\n' "$(sn_fmt_ts "$(sn_max "$a" "$lo")")" \
      "$(sn_fmt_ts "$(sn_min $(( a + w )) "$hi")")" "$n"
    total=$(( total + n ))
  done <<<"$out"
  printf '    total: %s rows\n' "$total"
}

# sn_move NODE MOVE_LO MOVE_HI NODE_LO NODE_HI HOT_LO HOT_HI BATCH WINDOW
# Moves the rows of events_hot in [MOVE_LO, MOVE_HI) to the node's foreign
# table, then in one short transaction gives the node [NODE_LO, NODE_HI)
# and events_hot [HOT_LO, HOT_HI). Safe to interrupt anywhere and to run
# again (see docs/distributed-scripts.md, "How rows move").
sn_move() {
  local node="$1" mlo="$2" mhi="$3" nlo="$4" nhi="$5" hlo="$6" hhi="$7" bs="$8" win="$9"
  local ft="events_archive_$node" out status total left start now n last_ts copied
  local wlo whi next rate eta elapsed drained tries t0 t1 res
  [ "${SN_STEPPED:-0}" = 1 ] || sn_step "moving events_hot rows $(sn_range_txt "$mlo" "$mhi") to node $node"
  out="$(sn_sql "SELECT pg_temp.ns_move_begin($(sn_lit "$node"), $(sn_lit "$ft"), $mlo, $mhi, $nlo, $nhi, $hlo, $hhi, pg_temp.ns_attached($(sn_lit "$ft")));" 2>&1)" || {
    case "$out" in *"unfinished move exists"*) sn_die 3 "${out#*ERROR:  }" ;; esac
    sn_die 1 "cannot start the move: $out"
  }
  status="$out"
  case "$status" in
    started)   [ "${SN_STEPPED:-0}" = 1 ] || sn_note "change capture on events_hot started (writes in the range during the copy are replayed)" ;;
    resumed)   sn_note "resuming the unfinished move" ;;
    restarted) sn_note "the change-capture trigger was missing: copying the range again from its start" ;;
  esac

  out="$(sn_sql "SELECT count(*) FROM events_hot, nostream_storage_move m
                  WHERE event_created_at >= $mlo AND event_created_at < $mhi
                    AND (event_created_at, event_id) > (m.cursor_ts, m.cursor_id);
                 SELECT cursor_ts FROM nostream_storage_move;" 2>&1)" || sn_die 1 "cannot count rows: $out"
  left="$(sed -n 1p <<<"$out")"; last_ts="$(sed -n 2p <<<"$out")"
  [ "${SN_STEPPED:-0}" = 1 ] || sn_note "$left rows to copy (batches of $bs rows, windows of $win s)"
  total="$left"; copied=0; start="$(date +%s%N)"
  local done0=0
  if [ "${SN_STEPPED:-0}" = 1 ]; then total="$SN_PROG_TOTAL"; done0="$SN_PROG_DONE"; start="$SN_PROG_T0"; fi
  wlo="$(sn_max "$mlo" "$last_ts")"
  wlo=$(( mlo + (wlo - mlo) / win * win ))
  while :; do
    whi="$(sn_min $(( wlo + win )) "$mhi")"
    out="$(printf '%s\n' 'BEGIN ISOLATION LEVEL REPEATABLE READ;' \
             "SELECT n, last_ts, total FROM pg_temp.ns_copy_batch($whi, $bs);" 'COMMIT;' |
           { cat "$SN_FUNCS_SQL" -; } | sn_psql 2>&1)" ||
      sn_die 1 "copy batch failed (window $(sn_fmt_ts "$wlo") .. $(sn_fmt_ts "$whi")); nothing was deleted locally, run the same command again to resume: $out"
    IFS='|' read -r n last_ts _ <<<"$out"
    if [ "$n" -gt 0 ]; then
      copied=$(( copied + n ))
      now="$(date +%s%N)"
      elapsed=$(( (now - start) / 1000000 ))
      [ "$elapsed" -lt 1 ] && elapsed=1
      local all=$(( done0 + copied ))
      rate=$(( all * 1000 / elapsed ))
      left=$(( total - all )); [ "$left" -lt 0 ] && left=0
      if [ "$rate" -gt 0 ]; then eta="$(sn_fmt_secs $(( left / rate )))"; else eta="?"; fi
      printf '    window %s .. %s: +%s rows, %s/%s moved (%s%%), %s rows/s, ETA %s\n' \
        "$(sn_fmt_ts "$wlo")" "$(sn_fmt_ts "$whi")" "$n" "$all" "$total" \
        "$(( total > 0 && all <= total ? all * 100 / total : 100 ))" "$rate" "$eta"
    fi
    [ "$n" -ge "$bs" ] && continue
    # This window is done: jump to the window of the next row, if any.
    next="$(sn_sql "SELECT coalesce(min(event_created_at)::text, '') FROM events_hot
                     WHERE event_created_at >= $whi AND event_created_at < $mhi;" 2>&1)" ||
      sn_die 1 "cannot read events_hot: $next"
    [ -z "$next" ] && break
    wlo=$(( mlo + (next - mlo) / win * win ))
  done
  [ "${SN_STEPPED:-0}" = 1 ] || sn_note "copy done: $copied rows copied in this run"
  SN_MOVE_COPIED="$copied"

  # Writes that happened during the copy, replayed without holding any lock,
  # until what is left is small.
  tries=0
  while :; do
    drained="$(printf '%s\n' 'BEGIN ISOLATION LEVEL REPEATABLE READ;' \
                 "SELECT pg_temp.ns_drain($bs);" 'COMMIT;' |
               { cat "$SN_FUNCS_SQL" -; } | sn_psql 2>&1)" ||
      sn_die 1 "replaying writes made during the copy failed; run the same command again: $drained"
    [ "$drained" -gt 0 ] && sn_note "replayed $drained writes made during the copy"
    [ "$drained" -lt "$bs" ] && break
    tries=$(( tries + 1 ))
    [ "$tries" -ge 1000 ] && break
  done

  # The switch: one transaction holding ACCESS EXCLUSIVE on events.
  [ "${SN_STEPPED:-0}" = 1 ] ||
    sn_step "switching: node $node gets $(sn_range_txt "$nlo" "$nhi"), events_hot $(sn_range_txt "$hlo" "$hhi")"
  tries=0
  while :; do
    tries=$(( tries + 1 ))
    t0="$(date +%s%N)"
    if out="$(printf '%s\n' 'BEGIN;' "SET LOCAL lock_timeout = $(sn_lit "$STORAGE_LOCK_TIMEOUT");" \
                'LOCK TABLE ONLY events IN ACCESS EXCLUSIVE MODE;' \
                'LOCK TABLE events_hot IN ACCESS EXCLUSIVE MODE;' \
                'SET LOCAL lock_timeout = 0;' \
                'SELECT clock_timestamp() AS ns_t0 \gset' \
                'SELECT pg_temp.ns_switch();' \
                "SELECT round(extract(epoch FROM clock_timestamp() - :'ns_t0'::timestamptz) * 1000);" \
                'COMMIT;' |
              { cat "$SN_FUNCS_SQL" -; } | sn_psql 2>&1)"; then
      break
    fi
    case "$out" in
      *"lock timeout"*)
        [ "$tries" -ge "$STORAGE_LOCK_TRIES" ] &&
          sn_die 1 "could not lock events within $STORAGE_LOCK_TIMEOUT, $tries times (long queries running?); nothing was switched, run the same command again"
        sn_note "events is busy (no lock within $STORAGE_LOCK_TIMEOUT), trying again ($tries/$STORAGE_LOCK_TRIES)"
        sleep 2 ;;
      *) sn_die 1 "the switch failed and was rolled back (events unchanged); run the same command again: $out" ;;
    esac
  done
  t1="$(date +%s%N)"
  res="$(sed -n 1p <<<"$out")"
  local ms; ms="$(sed -n 2p <<<"$out")"
  IFS='|' read -r n _ _ <<<"$res"
  if [ "${SN_STEPPED:-0}" = 1 ]; then
    sn_note "switched: node $node $(sn_range_txt "$nlo" "$nhi"), events_hot $(sn_range_txt "$hlo" "$hhi"); $n rows left events_hot; events locked ${ms} ms"
  else
    sn_note "switched: $n rows deleted from events_hot (they are on node $node); events locked for ${ms} ms (whole transaction $(( (t1 - t0) / 1000000 )) ms, lock wait included)"
  fi
  sn_nodes_set_range "$node" "$nlo" "$nhi"
}

# sn_move_stepped NODE A B T HI BATCH WINDOW: node NODE is attached for
# [A, B), events_hot covers [B, HI); moves [B, T) window by window (WINDOW
# seconds of event_created_at, windows without rows merged into the next),
# each window with its own copy and its own short switch, so that events is
# locked once per window for a time that grows with that window's rows
# only, and every finished window stays done if the run is interrupted.
sn_move_stepped() {
  local node="$1" a="$2" b="$3" t="$4" hi="$5" bs="$6" win="$7" lo next end out
  sn_step "moving events_hot rows $(sn_range_txt "$b" "$t") to node $node, window by window ($win s)"
  SN_PROG_TOTAL="$(sn_count_hot "$b" "$t")" || sn_die 1 "cannot count rows of events_hot"
  SN_PROG_DONE=0; SN_PROG_T0="$(date +%s%N)"; SN_STEPPED=1
  sn_note "$SN_PROG_TOTAL rows to move (batches of $bs rows)"
  lo="$b"
  while [ "$lo" -lt "$t" ]; do
    next="$(sn_sql "SELECT coalesce(min(event_created_at)::text, '') FROM events_hot
                     WHERE event_created_at >= $lo AND event_created_at < $t;" 2>&1)" ||
      sn_die 1 "cannot read events_hot: $next"
    if [ -z "$next" ]; then end="$t"
    else end="$(sn_min $(( b + ((next - b) / win + 1) * win )) "$t")"; fi
    sn_move "$node" "$lo" "$end" "$a" "$end" "$end" "$hi" "$bs" "$win"
    SN_PROG_DONE=$(( SN_PROG_DONE + SN_MOVE_COPIED ))
    lo="$end"
  done
  SN_STEPPED=0
  sn_note "done: $SN_PROG_DONE rows moved in $(( ($(date +%s%N) - SN_PROG_T0) / 1000000000 )) s"
}

# sn_attach NODE NODE_LO NODE_HI: attaches (or re-attaches with a wider
# range) a node whose range does not touch events_hot. No rows move.
sn_attach() {
  local node="$1" lo="$2" hi="$3" ft="events_archive_$1" out
  sn_step "attaching $ft $(sn_range_txt "$lo" "$hi")"
  out="$(sn_sql "BEGIN;
    SET LOCAL lock_timeout = $(sn_lit "$STORAGE_LOCK_TIMEOUT");
    SELECT format('ALTER TABLE events DETACH PARTITION %I', $(sn_lit "$ft"))
     WHERE pg_temp.ns_attached($(sn_lit "$ft")) \\gexec
    SELECT format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES %s', $(sn_lit "$ft"),
                  pg_temp.ns_bound_sql($lo, $hi)) \\gexec
    COMMIT;" 2>&1)" || sn_die 1 "attaching $ft failed (nothing changed): $out"
  sn_nodes_set_range "$node" "$lo" "$hi"
}

# sn_apply_plan NODE BATCH WINDOW: does what sn_plan decided.
sn_apply_plan() {
  if [ -n "$SN_PLAN_UNCOVERED" ]; then
    sn_note "events_hot keeps no lower piece: $SN_PLAN_UNCOVERED holds no rows and will have no partition (created_at is never negative)"
  fi
  if [ "$SN_PLAN_MOVE" = 1 ] && [ "$SN_PLAN_ATTACHED" = 1 ] &&
     [ "$SN_PLAN_CUR_HI" = "$SN_PLAN_MOVE_LO" ] && [ "$SN_PLAN_HOT_LO" = "$SN_PLAN_MOVE_HI" ]; then
    # The node's range grows upward over events_hot's oldest part: by windows.
    sn_move_stepped "$1" "$SN_PLAN_CUR_LO" "$SN_PLAN_MOVE_LO" "$SN_PLAN_MOVE_HI" "$SN_PLAN_HOT_HI" "$2" "$3"
  elif [ "$SN_PLAN_MOVE" = 1 ]; then
    sn_move "$1" "$SN_PLAN_MOVE_LO" "$SN_PLAN_MOVE_HI" "$SN_PLAN_NODE_LO" "$SN_PLAN_NODE_HI" \
      "$SN_PLAN_HOT_LO" "$SN_PLAN_HOT_HI" "$2" "$3"
  elif [ "$SN_PLAN_ATTACHED" = 1 ] && [ "$SN_PLAN_CUR_LO" = "$SN_PLAN_NODE_LO" ] &&
       [ "$SN_PLAN_CUR_HI" = "$SN_PLAN_NODE_HI" ]; then
    sn_note "events_archive_$1 already covers $(sn_range_txt "$SN_PLAN_NODE_LO" "$SN_PLAN_NODE_HI")"
  else
    sn_attach "$1" "$SN_PLAN_NODE_LO" "$SN_PLAN_NODE_HI"
  fi
}

# sn_resume_pending NODE BATCH WINDOW: finishes an unfinished move of NODE
# with its own parameters; refuses (3) when another node's move is
# unfinished.
sn_resume_pending() {
  sn_load_pending
  [ -z "$SN_PM_NODE" ] && return 0
  if [ "$SN_PM_NODE" != "$1" ]; then
    sn_die 3 "an unfinished move exists: events_hot rows $(sn_range_txt "$SN_PM_MOVE_LO" "$SN_PM_MOVE_HI") go to node $SN_PM_NODE; finish it first (run the command that started it again, or narrow-hot.sh $SN_PM_NODE $(sn_bound_txt "$SN_PM_MOVE_LO") $(sn_bound_txt "$SN_PM_MOVE_HI")), or cancel it with narrow-hot.sh --abort"
  fi
  sn_step "an unfinished move of node $1 exists ($SN_PM_COPIED rows copied so far): finishing it first"
  sn_move "$1" "$SN_PM_MOVE_LO" "$SN_PM_MOVE_HI" "$SN_PM_NODE_LO" "$SN_PM_NODE_HI" \
    "$SN_PM_HOT_LO" "$SN_PM_HOT_HI" "$2" "$3"
  sn_load_parts
}
