#!/usr/bin/env bash
# Deregister a storage node: detach its partition events_archive_NAME
# (DETACH PARTITION ... CONCURRENTLY), drop the foreign table, the user
# mappings and the foreign server storage_NAME, then remove its key from
# AllowedPublicKeys and its entry from nodes.json and restart yggdrasil.
# The rows on the node are not deleted; add-storage-node.sh attaches them
# again. See docs/distributed-scripts.md.
#
# Usage: remove-storage-node.sh NAME
#   NAME  the name given to add-storage-node.sh
# Options: -h, --help.
# Environment: DB_HOST (127.0.0.1) DB_PORT (5432) DB_USER (nostr_ts_relay)
#   DB_PASSWORD DB_NAME (nostr_ts_relay) YGGDRASIL_CONFIG_DIR
#   (yggdrasil-config) YGGDRASIL_RESTART (docker restart nostream-yggdrasil).
# Exit codes: 0 done (also when already removed), 1 failure (run again to
#   complete), 2 invalid arguments, 3 refused (an unfinished move of NAME).
set -euo pipefail

# shellcheck source=scripts/lib/storage-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/storage-common.sh"

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"; }

pos=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --) shift; pos+=("$@"); break ;;
    -?*) sn_bad "unknown option: $1" ;;
    *) pos+=("$1"); shift ;;
  esac
done
[ "${#pos[@]}" -eq 1 ] || sn_bad "expected one argument, the node's NAME (got ${#pos[@]})"
name="${pos[0]}"
sn_valid_name "$name" || sn_bad "NAME '$name' must be 1-40 characters of a-z, 0-9 and _"
sn_check_env
ft="events_archive_$name"
srv="storage_$name"

sn_need_tools psql jq flock
sn_init
sn_lock
conf="$(SN_CONF)"; nodes="$(SN_NODES)"
ygg_ok=1
if [ ! -f "$conf" ]; then
  sn_warn "$conf does not exist: the whitelist is left alone"
  ygg_ok=0
else
  sn_check_json_files
fi

out="$(sn_sql "SELECT coalesce((SELECT relkind::text FROM pg_class WHERE oid = to_regclass('events')), '-');" 2>&1)" ||
  sn_die 1 "cannot use the coordinator database $DB_NAME on $DB_HOST:$DB_PORT as $DB_USER: $out"
[ "$out" = p ] || sn_die 1 "table events in $DB_NAME is not partitioned"
sn_load_pending
sn_refuse_during_outage
[ "$SN_PM_NODE" = "$name" ] &&
  sn_die 3 "an unfinished move of rows to node $name exists; finish it (run the command that started it again) or cancel it with narrow-hot.sh --abort, then remove the node"

sn_say "Removing storage node $name"

# --- 1. partition ------------------------------------------------------------------
# Detached before the network is cut, so that no query fails in between.
state="$(sn_sql "SELECT coalesce((SELECT CASE WHEN i.inhdetachpending THEN 'pending' ELSE 'attached' END
                                    || '|' || pg_get_expr(c.relpartbound, c.oid)
                                    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                                   WHERE i.inhparent = 'events'::regclass
                                     AND i.inhrelid = to_regclass($(sn_lit "$ft"))), 'no');" 2>&1)" ||
  sn_die 1 "cannot read the partitions of events: $state"
bound=""
case "$state" in
  attached*|pending*)
    bound="${state#*|}"
    if [[ "$state" == pending* ]]; then
      sn_step "finishing the interrupted detach of $ft"
      out="$(sn_sql "SELECT format('ALTER TABLE events DETACH PARTITION %I FINALIZE', $(sn_lit "$ft")) \\gexec" 2>&1)" ||
        sn_die 1 "DETACH ... FINALIZE failed: $out"
    else
      sn_step "detaching $ft ($bound) with DETACH PARTITION ... CONCURRENTLY"
      # Its own statement, outside any transaction block (psql autocommit).
      out="$(sn_sql "SELECT format('ALTER TABLE events DETACH PARTITION %I CONCURRENTLY', $(sn_lit "$ft")) \\gexec" 2>&1)" ||
        sn_die 1 "DETACH PARTITION ... CONCURRENTLY failed (run this command again: an interrupted detach is finished then): $out"
    fi ;;
  *) sn_note "$ft is not a partition of events (already detached)" ;;
esac

# --- 2. foreign table, user mappings, server ----------------------------------------
sn_step "dropping $ft, the user mappings and server $srv"
out="$(sn_sql "BEGIN;
SELECT CASE WHEN to_regclass($(sn_lit "$ft")) IS NULL THEN 'foreign table: already gone'
            ELSE 'foreign table: dropped' END;
SELECT format('DROP FOREIGN TABLE %I', $(sn_lit "$ft"))
 WHERE (SELECT relkind FROM pg_class WHERE oid = to_regclass($(sn_lit "$ft"))) = 'f' \\gexec
SELECT format('DROP USER MAPPING FOR %s SERVER %I',
              CASE WHEN umuser = 0 THEN 'PUBLIC' ELSE quote_ident(usename) END, srvname)
  FROM pg_user_mappings WHERE srvname = $(sn_lit "$srv") \\gexec
SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_foreign_server WHERE srvname = $(sn_lit "$srv"))
            THEN 'server: dropped' ELSE 'server: already gone' END;
SELECT format('DROP SERVER %I', $(sn_lit "$srv"))
 WHERE EXISTS (SELECT 1 FROM pg_foreign_server WHERE srvname = $(sn_lit "$srv")) \\gexec
COMMIT;" 2>&1)" || sn_die 1 "dropping the foreign objects failed: $out"
while IFS= read -r l; do [ -n "$l" ] && sn_note "$l"; done <<<"$out"
if [ "$(sn_relkind "$ft")" != - ]; then
  sn_warn "a relation named $ft exists and is not a foreign table: left alone"
fi

# --- 3. whitelist and registry -------------------------------------------------------
if [ "$ygg_ok" = 1 ]; then
  sn_step "removing the node's key from AllowedPublicKeys"
  entry="$(sn_node_entry "$name")"
  key="${entry%% *}"
  if [ -z "$entry" ]; then
    sn_note "$name is not in $nodes: AllowedPublicKeys left as it is"
    changed=0
  else
    others="$(jq -c --arg n "$name" '[to_entries[] | select(.key != $n) | .value.pubkey // empty]' "$nodes")"
    placeholder="$(sn_placeholder_key)"
    # shellcheck disable=SC2016  # jq variables
    changed="$(sn_json_edit "$conf" --arg k "$key" --arg ph "$placeholder" --argjson others "$others" '
      .AllowedPublicKeys = ((.AllowedPublicKeys // [])
         | if ($others | index($k)) == null then map(select(. != $k)) else . end
         | if length == 0 then [$ph] else . end)')"
    if [ "$changed" = 1 ]; then
      sn_note "key $key removed"
      if ! jq -e --arg ph "$placeholder" '.AllowedPublicKeys | index($ph) == null' "$conf" >/dev/null; then
        sn_note "the list would have been empty, which yggdrasil reads as 'every peer allowed': a placeholder key nobody holds was put in"
      fi
    else
      sn_note "key not in AllowedPublicKeys (or still used by another node): unchanged"
    fi
    # shellcheck disable=SC2016
    sn_json_edit "$nodes" --arg n "$name" 'del(.[$n])' >/dev/null
    sn_note "$name removed from $nodes"
  fi
  if [ "$changed" = 1 ]; then sn_restart_yggdrasil; fi
fi

sn_load_parts
sn_say ""
sn_say "Storage node $name removed. Its rows stay on the node; add-storage-node.sh attaches them again."
if [ -n "$bound" ]; then
  sn_say "No partition covers $bound any more: events with such a created_at are refused"
  sn_say "until it is covered again (add-storage-node.sh, or narrow-hot.sh --widen to let events_hot take it)."
fi
sn_say "Partitions of events:"
sn_print_parts
