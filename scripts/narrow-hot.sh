#!/usr/bin/env bash
# Narrow events_hot: give the part [FROM, TO) of events_hot's range to the
# registered storage node NAME. Its rows are copied to the node (checked,
# and writes made meanwhile replayed), then one short transaction deletes
# them locally, re-bounds events_hot and attaches the node's partition with
# its range grown by [FROM, TO). The spec's "narrowing events_hot" procedure
# as a command; add-storage-node.sh and archive-events.sh use the same code.
# See docs/distributed-scripts.md.
#
# Usage: narrow-hot.sh NAME FROM TO [--batch-size ROWS] [--batch-window SECONDS] [--dry-run]
#        narrow-hot.sh --widen [--dry-run]
#        narrow-hot.sh --abort
#        narrow-hot.sh --status
#   NAME      a node registered with add-storage-node.sh (events_archive_NAME)
#   FROM, TO  Unix timestamps 0..2147483647, FROM may be MINVALUE and TO
#             MAXVALUE; [FROM, TO) must touch one end of events_hot's range
#             and, when the node is attached, its range too
#   --batch-size ROWS       rows per copy transaction (5000)
#   --batch-window SECONDS  event_created_at span per progress window (86400)
#   --dry-run   print the plan and the rows per window, change nothing
#   --widen     let events_hot take the uncovered ranges next to it (after
#               remove-storage-node.sh); no rows move
#   --abort     cancel an unfinished move (rows copied so far stay on the node)
#   --status    print the partitions and any unfinished move
# Environment: DB_HOST (127.0.0.1) DB_PORT (5432) DB_USER (nostr_ts_relay)
#   DB_PASSWORD DB_NAME (nostr_ts_relay) YGGDRASIL_CONFIG_DIR
#   (yggdrasil-config) STORAGE_LOCK_TIMEOUT (5s) STORAGE_LOCK_TRIES (12).
# Exit codes: 0 done, 1 failure (run again to complete), 2 invalid
#   arguments, 3 refused in the current state.
set -euo pipefail

# shellcheck source=scripts/lib/storage-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/storage-common.sh"

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"; }

pos=(); mode=move; dry=0; batch_size=5000; batch_window=86400
setmode() { [ "$mode" = move ] || sn_bad "--widen, --abort and --status exclude each other"; mode="$1"; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --dry-run) dry=1; shift ;;
    --widen) setmode widen; shift ;;
    --abort) setmode abort; shift ;;
    --status) setmode status; shift ;;
    --batch-size) [ "$#" -ge 2 ] || sn_bad "--batch-size needs a value"; batch_size="$2"; shift 2 ;;
    --batch-size=*) batch_size="${1#*=}"; shift ;;
    --batch-window) [ "$#" -ge 2 ] || sn_bad "--batch-window needs a value"; batch_window="$2"; shift 2 ;;
    --batch-window=*) batch_window="${1#*=}"; shift ;;
    --) shift; pos+=("$@"); break ;;
    -[0-9]*) pos+=("$1"); shift ;;   # a negative FROM/TO: refused below, by name
    -?*) sn_bad "unknown option: $1" ;;
    *) pos+=("$1"); shift ;;
  esac
done
arg="$batch_size"
batch_size="$(sn_posint "$arg" 1000000)" ||
  sn_bad "--batch-size '$arg' must be a number of rows 1..1000000"
arg="$batch_window"
batch_window="$(sn_posint "$arg" 2147483647)" ||
  sn_bad "--batch-window '$arg' must be a number of seconds >= 1"
if [ "$mode" = move ]; then
  [ "${#pos[@]}" -eq 3 ] || sn_bad "expected NAME FROM TO (got ${#pos[@]} arguments), or --widen, --abort, --status"
  name="${pos[0]}"
  sn_valid_name "$name" || sn_bad "NAME '$name' must be 1-40 characters of a-z, 0-9 and _"
  from="$(sn_parse_bound "${pos[1]}" from)" ||
    sn_bad "FROM '${pos[1]}' must be a Unix timestamp 0..2147483647 or MINVALUE"
  to="$(sn_parse_bound "${pos[2]}" to)" ||
    sn_bad "TO '${pos[2]}' must be a Unix timestamp 0..2147483647 or MAXVALUE"
  [ "$from" -lt "$to" ] || sn_bad "FROM (${pos[1]}) must be below TO (${pos[2]})"
else
  [ "${#pos[@]}" -eq 0 ] || sn_bad "--$mode takes no arguments"
  [ "$mode" = widen ] || [ "$dry" = 0 ] || sn_bad "--dry-run goes with a move or --widen"
fi
sn_check_env

sn_need_tools psql jq flock
sn_init
[ "$mode" = status ] || sn_lock
sn_db_preflight
sn_load_parts
sn_load_pending
[ "$mode" = status ] || sn_refuse_during_outage

case "$mode" in
status)
  sn_say "Partitions of events:"
  sn_print_parts
  if [ -n "$SN_PM_NODE" ]; then
    sn_say "Unfinished move: events_hot rows $(sn_range_txt "$SN_PM_MOVE_LO" "$SN_PM_MOVE_HI") to node $SN_PM_NODE ($SN_PM_COPIED rows copied)"
  else
    sn_say "No unfinished move."
  fi
  exit 0 ;;
abort)
  if [ -z "$SN_PM_NODE" ]; then
    sn_say "No unfinished move: nothing to cancel."
    exit 0
  fi
  if out="$(sn_sql "SET statement_timeout = '120s'; SELECT pg_temp.ns_move_abort_remote();" 2>&1)"; then
    sn_note "the copies made so far were deleted on node $SN_PM_NODE"
  else
    sn_warn "could not delete the copies made so far on node $SN_PM_NODE ($out); they stay in its events_data marked deleted (deleted_at = '-infinity'), which the relay never shows"
  fi
  out="$(sn_sql "SELECT pg_temp.ns_move_abort();" 2>&1)" || sn_die 1 "cancelling failed: $out"
  sn_say "Cancelled the unfinished move to node $out (change capture on events_hot removed); events_hot is unchanged."
  exit 0 ;;
widen)
  [ -z "$SN_PM_NODE" ] || sn_die 3 "an unfinished move to node $SN_PM_NODE exists; finish or cancel it (--abort) first"
  h="$(sn_part_index events_hot)" || sn_die 1 "events_hot is not a partition of events"
  lo="${SN_P_LO[$h]}"; hi="${SN_P_HI[$h]}"; nlo="$SN_MIN"; nhi="$SN_MAX"
  for i in "${!SN_P_NAME[@]}"; do
    [ "$i" = "$h" ] && continue
    [ "${SN_P_HI[$i]}" -le "$lo" ] && nlo="$(sn_max "$nlo" "${SN_P_HI[$i]}")"
    [ "${SN_P_LO[$i]}" -ge "$hi" ] && nhi="$(sn_min "$nhi" "${SN_P_LO[$i]}")"
  done
  if [ "$nlo" = "$lo" ] && [ "$nhi" = "$hi" ]; then
    sn_say "events_hot ($(sn_range_txt "$lo" "$hi")) has no uncovered range next to it: nothing to do."
    exit 0
  fi
  sn_say "events_hot: $(sn_range_txt "$lo" "$hi") -> $(sn_range_txt "$nlo" "$nhi")"
  [ "$dry" = 1 ] && { sn_say "(dry run: nothing changed)"; exit 0; }
  sn_step "re-attaching events_hot (one scan of events_hot while events is locked)"
  out="$(sn_sql "BEGIN;
SET LOCAL lock_timeout = $(sn_lit "$STORAGE_LOCK_TIMEOUT");
LOCK TABLE ONLY events IN ACCESS EXCLUSIVE MODE;
LOCK TABLE events_hot IN ACCESS EXCLUSIVE MODE;
ALTER TABLE events DETACH PARTITION events_hot;
SELECT format('ALTER TABLE events ATTACH PARTITION events_hot FOR VALUES %s', pg_temp.ns_bound_sql($nlo, $nhi)) \\gexec
COMMIT;" 2>&1)" || sn_die 1 "widening failed and was rolled back: $out"
  sn_load_parts
  sn_say "Partitions of events:"
  sn_print_parts
  exit 0 ;;
esac

# --- move ----------------------------------------------------------------------------
ft="events_archive_$name"
[ "$(sn_relkind "$ft")" = f ] ||
  sn_die 3 "node $name is not registered (no foreign table $ft); register it with add-storage-node.sh"
if [ -n "$SN_PM_NODE" ] && [ "$dry" = 1 ]; then
  sn_say "An unfinished move exists: events_hot rows $(sn_range_txt "$SN_PM_MOVE_LO" "$SN_PM_MOVE_HI") to node $SN_PM_NODE ($SN_PM_COPIED rows copied); it would be finished first."
elif [ -n "$SN_PM_NODE" ]; then
  sn_resume_pending "$name" "$batch_size" "$batch_window"
fi
sn_plan "$name" "$from" "$to" || exit 3
if [ "$SN_PLAN_MOVE" = 0 ]; then
  sn_say "[FROM, TO) does not overlap events_hot: no rows move."
fi
sn_say "Plan: node $name $( [ "$SN_PLAN_ATTACHED" = 1 ] && printf '%s -> ' "$(sn_range_txt "$SN_PLAN_CUR_LO" "$SN_PLAN_CUR_HI")")$(sn_range_txt "$SN_PLAN_NODE_LO" "$SN_PLAN_NODE_HI")"
if [ "$SN_PLAN_MOVE" = 1 ]; then
  h="$(sn_part_index events_hot)"
  sn_say "      events_hot $(sn_range_txt "${SN_P_LO[$h]}" "${SN_P_HI[$h]}") -> $(sn_range_txt "$SN_PLAN_HOT_LO" "$SN_PLAN_HOT_HI")"
  sn_say "      rows moving: events_hot $(sn_range_txt "$SN_PLAN_MOVE_LO" "$SN_PLAN_MOVE_HI")"
fi
if [ "$dry" = 1 ]; then
  if [ "$SN_PLAN_MOVE" = 1 ]; then
    sn_say "Rows per window of $batch_window s:"
    sn_dry_run_windows "$SN_PLAN_MOVE_LO" "$SN_PLAN_MOVE_HI" "$batch_window"
  fi
  sn_say "(dry run: nothing changed)"
  exit 0
fi
sn_apply_plan "$name" "$batch_size" "$batch_window"
sn_load_parts
sn_say ""
sn_say "Partitions of events:"
sn_print_parts
