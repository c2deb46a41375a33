#!/usr/bin/env bash
# Register a storage node: whitelist its Yggdrasil key, create the foreign
# server, user mapping and foreign table, and attach the table as the
# partition events_archive_NAME of events for [FROM, TO). When the range
# overlaps events_hot, the rows of that part of events_hot are moved to the
# node first and events_hot is narrowed. See docs/distributed-scripts.md.
#
# Usage: add-storage-node.sh ADDRESS NAME PASSWORD FROM TO --pubkey KEY
#   ADDRESS   the node's Yggdrasil IPv6 address (200::/7), e.g. 200:ef01:5678::1
#   NAME      short name: a-z, 0-9 and _, at most 40 characters
#   PASSWORD  the node's STORAGE_DB_PASSWORD; '-' reads it from the
#             environment variable STORAGE_NODE_PASSWORD, or else from the
#             first line of standard input
#   FROM, TO  Unix timestamps 0..2147483647 of the node's range [FROM, TO);
#             FROM may be MINVALUE, TO may be MAXVALUE
#   --pubkey KEY (or --pubkey=KEY)  the node's Yggdrasil public key, 64 hex
# Options: --batch-size ROWS (5000) and --batch-window SECONDS (86400) for
#   moving rows out of events_hot; -h, --help.
# Environment: DB_HOST (127.0.0.1) DB_PORT (5432) DB_USER (nostr_ts_relay)
#   DB_PASSWORD DB_NAME (nostr_ts_relay) YGGDRASIL_CONFIG_DIR
#   (yggdrasil-config) YGGDRASIL_RESTART (docker restart nostream-yggdrasil)
#   STORAGE_NODE_PORT (5432) STORAGE_NODE_DB (nostr_ts_relay)
#   STORAGE_NODE_USER (nostr_ts_relay) STORAGE_NODE_WAIT (30 tries, 1 s apart)
#   STORAGE_LOCK_TIMEOUT (5s) STORAGE_LOCK_TRIES (12).
# Exit codes: 0 done, 1 failure (run again to complete), 2 invalid
#   arguments, 3 refused in the current state. Nothing changes before every
#   argument and the current partitions have been checked.
set -euo pipefail

# The password is an argument (the spec's interface), so it shows in the
# process list: move it to the environment at once and run again without it.
if [ "$#" -ge 3 ] && [[ "$1" != -* ]] && [[ "$2" != -* ]]; then
  case "$3" in
    -|-h|--help|--|--pubkey|--pubkey=*|--batch-size|--batch-size=*|--batch-window|--batch-window=*) ;;
    *) export STORAGE_NODE_PASSWORD="$3"
       exec "$BASH" "${BASH_SOURCE[0]}" "$1" "$2" - "${@:4}" ;;
  esac
fi

# shellcheck source=scripts/lib/storage-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/storage-common.sh"

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"; }

pos=(); pubkey=""; have_pubkey=0; batch_size=5000; batch_window=86400
while [ "$#" -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --pubkey) [ "$#" -ge 2 ] || sn_bad "--pubkey needs a value"; pubkey="$2"; have_pubkey=1; shift 2 ;;
    --pubkey=*) pubkey="${1#--pubkey=}"; have_pubkey=1; shift ;;
    --batch-size) [ "$#" -ge 2 ] || sn_bad "--batch-size needs a value"; batch_size="$2"; shift 2 ;;
    --batch-size=*) batch_size="${1#*=}"; shift ;;
    --batch-window) [ "$#" -ge 2 ] || sn_bad "--batch-window needs a value"; batch_window="$2"; shift 2 ;;
    --batch-window=*) batch_window="${1#*=}"; shift ;;
    --) shift; pos+=("$@"); break ;;
    -[0-9]*) pos+=("$1"); shift ;;   # a negative FROM/TO: refused below, by name
    -?*) if [ "${#pos[@]}" -eq 2 ]; then pos+=("$1"); shift   # a PASSWORD may start with -
         else sn_bad "unknown option: $1"; fi ;;
    *) pos+=("$1"); shift ;;
  esac
done
# '-' as the third argument is the password placeholder, not an option.
[ "${#pos[@]}" -eq 5 ] || sn_bad "expected 5 arguments ADDRESS NAME PASSWORD FROM TO and --pubkey KEY (got ${#pos[@]} arguments)"
[ "$have_pubkey" = 1 ] || sn_bad "--pubkey KEY is required"

address="${pos[0]}"; name="${pos[1]}"; password="${pos[2]}"; from_arg="${pos[3]}"; to_arg="${pos[4]}"
if [ "$password" = - ]; then
  if [ -n "${STORAGE_NODE_PASSWORD+x}" ]; then
    password="$STORAGE_NODE_PASSWORD"
  else
    IFS= read -r password || true
  fi
fi
unset STORAGE_NODE_PASSWORD

sn_valid_ygg_address "$address" ||
  sn_bad "ADDRESS '$address' is not a Yggdrasil IPv6 address (200::/7, e.g. 200:ef01:5678::1)"
address="$(printf '%s' "$address" | tr '[:upper:]' '[:lower:]')"
sn_valid_name "$name" ||
  sn_bad "NAME '$name' must be 1-40 characters of a-z, 0-9 and _ (it becomes part of events_archive_NAME)"
[ -n "$password" ] || sn_bad "PASSWORD must not be empty"
case "$password" in *$'\n'*|*$'\r'*) sn_bad "PASSWORD must not contain a line break" ;; esac
from="$(sn_parse_bound "$from_arg" from)" ||
  sn_bad "FROM '$from_arg' must be a Unix timestamp 0..2147483647 or MINVALUE"
to="$(sn_parse_bound "$to_arg" to)" ||
  sn_bad "TO '$to_arg' must be a Unix timestamp 0..2147483647 or MAXVALUE"
[ "$from" -lt "$to" ] || sn_bad "FROM ($from_arg) must be below TO ($to_arg)"
sn_valid_pubkey "$pubkey" || sn_bad "--pubkey '$pubkey' must be 64 hexadecimal characters"
pubkey="$(printf '%s' "$pubkey" | tr '[:upper:]' '[:lower:]')"
arg="$batch_size"
batch_size="$(sn_posint "$arg" 1000000)" ||
  sn_bad "--batch-size '$arg' must be a number of rows 1..1000000"
arg="$batch_window"
batch_window="$(sn_posint "$arg" 2147483647)" ||
  sn_bad "--batch-window '$arg' must be a number of seconds >= 1"
sn_check_env

ft="events_archive_$name"
srv="storage_$name"
node_host="$address"
if [ -n "${STORAGE_NODE_HOST_OVERRIDE:-}" ]; then
  # Test-only (tests/distributed/scripts-local.test.sh): the foreign server
  # connects here instead of ADDRESS; ADDRESS is still checked and recorded.
  node_host="$STORAGE_NODE_HOST_OVERRIDE"
fi

sn_need_tools psql jq flock
sn_init
sn_lock
sn_check_json_files
sn_db_preflight
sn_load_parts

# --- checks against the current state (nothing changed yet) -----------------
sn_load_pending
sn_refuse_during_outage
if [ -n "$SN_PM_NODE" ] && [ "$SN_PM_NODE" != "$name" ]; then
  sn_resume_pending "$name" "$batch_size" "$batch_window"   # refuses with 3
fi
if [ -z "$SN_PM_NODE" ]; then
  if i="$(sn_part_index "$ft")"; then
    if [ "${SN_P_LO[$i]}" != "$from" ] || [ "${SN_P_HI[$i]}" != "$to" ]; then
      sn_die 3 "$ft is already attached for $(sn_range_txt "${SN_P_LO[$i]}" "${SN_P_HI[$i]}"); to give it more of events_hot's range use narrow-hot.sh $name FROM TO, or remove it first (remove-storage-node.sh $name)"
    fi
  fi
  sn_plan "$name" "$from" "$to" || exit 3
  kind="$(sn_relkind "$ft")"
  [ "$kind" = - ] || [ "$kind" = f ] || sn_die 3 "a relation named $ft exists and is not a foreign table"
fi
other="$(jq -r --arg n "$name" --arg k "$pubkey" \
  'to_entries[] | select(.key != $n and (.value.pubkey // "") == $k) | .key' "$(SN_NODES)" 2>/dev/null || true)"
[ -z "$other" ] || sn_note "note: this public key is also registered for node(s): $(printf '%s' "$other" | tr '\n' ' ')"

sn_say "Registering storage node $name ($address), range $(sn_range_txt "$from" "$to")"

# --- 1. whitelist and registry --------------------------------------------------
sn_step "whitelisting the node's key in $(SN_CONF)"
old="$(sn_node_entry "$name")"; old_key="${old%% *}"
# shellcheck disable=SC2016  # jq variables
changed="$(sn_json_edit "$(SN_CONF)" --arg k "$pubkey" --arg old "$old_key" --argjson others \
  "$(jq -c --arg n "$name" '[to_entries[] | select(.key != $n) | .value.pubkey // empty]' "$(SN_NODES)" 2>/dev/null || echo '[]')" '
  .AllowedPublicKeys = ((.AllowedPublicKeys // [])
     | map(select(. != $old or $old == $k or ($others | index($old)) != null))
     | if index($k) == null then . + [$k] else . end)')"
# shellcheck disable=SC2016
sn_json_edit "$(SN_NODES)" --arg n "$name" --arg k "$pubkey" --arg a "$address" \
  --arg f "$(sn_bound_txt "$from")" --arg t "$(sn_bound_txt "$to")" '
  .[$n] = {pubkey: $k, address: $a, from: ($f | tonumber? // $f), to: ($t | tonumber? // $t)}' >/dev/null
if [ "$changed" = 1 ]; then
  sn_note "key added to AllowedPublicKeys; node recorded in $(SN_NODES)"
  sn_restart_yggdrasil
else
  sn_note "key already whitelisted (no yggdrasil restart needed); node recorded in $(SN_NODES)"
fi

# --- 2. foreign server, user mappings, foreign table -----------------------------
sn_step "foreign server $srv, user mapping, foreign table $ft"
out="$(sn_sql "\\set VERBOSITY terse
BEGIN;
SELECT 'server ' || pg_temp.ns_server($(sn_lit "$srv"), $(sn_lit "$node_host"), $(sn_lit "$STORAGE_NODE_PORT"), $(sn_lit "$STORAGE_NODE_DB"));
SELECT 'user mappings for ' || pg_temp.ns_user_mappings($(sn_lit "$srv"), $(sn_lit "$STORAGE_NODE_USER"), $(sn_lit "$password"));
SELECT 'foreign table ' || pg_temp.ns_foreign_table($(sn_lit "$ft"), $(sn_lit "$srv"), 'public', 'events_data');
COMMIT;" 2>&1)" || sn_die 1 "creating the foreign server objects failed (nothing of this step was kept): $out"
while IFS= read -r l; do [ -n "$l" ] && sn_note "$l"; done <<<"$out"

# --- 3. the node answers through PostgreSQL ---------------------------------------
sn_step "waiting for the node to answer ([${node_host}]:$STORAGE_NODE_PORT, through postgres_fdw, up to $STORAGE_NODE_WAIT tries)"
try=0
while :; do
  try=$(( try + 1 ))
  if out="$(sn_sql "SET statement_timeout = '20s';
SELECT pg_temp.ns_probe($(sn_lit "$ft"));" 2>&1)"; then
    sn_note "the node answers (try $try); its events_data matches events"
    break
  fi
  case "$out" in
    *"does not exist"*|*"password authentication failed"*|*"no pg_hba.conf entry"*|*"permission denied"*)
      sn_die 1 "the node answers but refuses: $out
(check the password, that scripts/storage-init.sql ran on the node, and its pg_hba.conf). No partition was changed; run this command again when fixed." ;;
  esac
  [ "$try" -ge "$STORAGE_NODE_WAIT" ] &&
    sn_die 1 "the node did not answer after $try tries: $out
No partition was changed. Check the Yggdrasil peering (docker logs nostream-yggdrasil) and run this command again."
  sleep 1
done

# --- 4./5. move the overlap with events_hot, attach --------------------------------
if [ -n "$SN_PM_NODE" ]; then
  sn_resume_pending "$name" "$batch_size" "$batch_window"
  i="$(sn_part_index "$ft")" || sn_die 1 "$ft is not attached after finishing the unfinished move"
  if [ "${SN_P_LO[$i]}" != "$from" ] || [ "${SN_P_HI[$i]}" != "$to" ]; then
    sn_die 3 "$ft is now attached for $(sn_range_txt "${SN_P_LO[$i]}" "${SN_P_HI[$i]}") (the unfinished move); to change its range use narrow-hot.sh $name FROM TO"
  fi
else
  sn_load_parts
  sn_plan "$name" "$from" "$to" || exit 3
  sn_apply_plan "$name" "$batch_size" "$batch_window"
fi

sn_load_parts
sn_say ""
sn_say "Storage node $name registered:"
sn_say "    address    $address"
sn_say "    public key $pubkey"
sn_say "    server     $srv (postgres_fdw, host $node_host port $STORAGE_NODE_PORT, async_capable, fetch_size 1000, batch_size 500)"
i="$(sn_part_index "$ft")" && sn_say "    partition  $ft FOR VALUES $(sn_range_txt "${SN_P_LO[$i]}" "${SN_P_HI[$i]}")"
sn_say "Partitions of events:"
sn_print_parts
