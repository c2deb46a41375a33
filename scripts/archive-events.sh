#!/usr/bin/env bash
# Move events older than a cutoff from events_hot to a registered storage
# node. The node's partition must end where events_hot's range begins
# (events_archive_NAME [A, B), events_hot [B, HI)); the rows of events_hot
# in [B, CUTOFF) are copied to the node in batches and checked there, and
# one short transaction then deletes them locally and re-bounds both
# partitions: the node [A, CUTOFF), events_hot [CUTOFF, HI). So an event
# with an archived created_at is stored on the node from then on, never
# again locally. Safe to interrupt at any point and run again: nothing is
# deleted locally before it is confirmed on the node. event_tags rows stay.
# See docs/distributed-scripts.md.
#
# Usage: archive-events.sh --node NAME (--cutoff TS | --older-than DAYS)
#                          [--batch-window SECONDS] [--batch-size ROWS] [--dry-run]
#   --node NAME             storage node name (from add-storage-node.sh), required
#   --cutoff TS             archive events with event_created_at below this Unix timestamp
#   --older-than DAYS       archive events older than DAYS days (instead of --cutoff)
#   --batch-window SECONDS  event_created_at span of an outer batch (86400)
#   --batch-size ROWS       rows per inner transaction (5000)
#   --dry-run               print the plan (rows per window), change nothing
#   -h, --help
# Environment: DB_HOST (127.0.0.1) DB_PORT (5432) DB_USER (nostr_ts_relay)
#   DB_PASSWORD DB_NAME (nostr_ts_relay) YGGDRASIL_CONFIG_DIR
#   (yggdrasil-config) STORAGE_LOCK_TIMEOUT (5s) STORAGE_LOCK_TRIES (12).
# Exit codes: 0 done (also: nothing to archive), 1 failure (run again to
#   resume), 2 invalid arguments, 3 refused in the current state.
set -euo pipefail

# shellcheck source=scripts/lib/storage-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/storage-common.sh"

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"; }

name=""; cutoff=""; older=""; batch_window=86400; batch_size=5000; dry=0
have_node=0; have_cutoff=0; have_older=0
needval() { [ "$2" -ge 2 ] || sn_bad "$1 needs a value"; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --node) needval "$1" "$#"; name="$2"; have_node=1; shift 2 ;;
    --node=*) name="${1#*=}"; have_node=1; shift ;;
    --cutoff) needval "$1" "$#"; cutoff="$2"; have_cutoff=1; shift 2 ;;
    --cutoff=*) cutoff="${1#*=}"; have_cutoff=1; shift ;;
    --older-than) needval "$1" "$#"; older="$2"; have_older=1; shift 2 ;;
    --older-than=*) older="${1#*=}"; have_older=1; shift ;;
    --batch-window) needval "$1" "$#"; batch_window="$2"; shift 2 ;;
    --batch-window=*) batch_window="${1#*=}"; shift ;;
    --batch-size) needval "$1" "$#"; batch_size="$2"; shift 2 ;;
    --batch-size=*) batch_size="${1#*=}"; shift ;;
    --dry-run) dry=1; shift ;;
    -*) sn_bad "unknown option: $1" ;;
    *) sn_bad "unexpected argument: $1 (every value goes with a flag)" ;;
  esac
done
[ "$have_node" = 1 ] || sn_bad "--node NAME is required"
sn_valid_name "$name" || sn_bad "--node '$name' must be 1-40 characters of a-z, 0-9 and _"
[ $(( have_cutoff + have_older )) -eq 1 ] || sn_bad "give exactly one of --cutoff TS and --older-than DAYS"
if [ "$have_cutoff" = 1 ]; then
  arg="$cutoff"
  cutoff="$(sn_uint "$arg" 2147483647)" ||
    sn_bad "--cutoff '$arg' must be a Unix timestamp 0..2147483647"
else
  arg="$older"
  older="$(sn_uint "$arg" 100000)" ||
    sn_bad "--older-than '$arg' must be a whole number of days 0..100000"
  cutoff=$(( $(date +%s) - older * 86400 ))
  [ "$cutoff" -ge 0 ] || sn_bad "--older-than $older reaches before 1970"
fi
arg="$batch_window"
batch_window="$(sn_posint "$arg" 2147483647)" ||
  sn_bad "--batch-window '$arg' must be a number of seconds >= 1"
arg="$batch_size"
batch_size="$(sn_posint "$arg" 1000000)" ||
  sn_bad "--batch-size '$arg' must be a number of rows 1..1000000"
sn_check_env
ft="events_archive_$name"

sn_need_tools psql jq flock
sn_init
sn_lock
sn_db_preflight
sn_load_parts
sn_load_pending
sn_refuse_during_outage

if [ -n "$SN_PM_NODE" ]; then
  if [ "$dry" = 1 ]; then
    sn_say "An unfinished move exists: events_hot rows $(sn_range_txt "$SN_PM_MOVE_LO" "$SN_PM_MOVE_HI") to node $SN_PM_NODE ($SN_PM_COPIED rows copied); a real run finishes it first."
  else
    sn_resume_pending "$name" "$batch_size" "$batch_window"
  fi
fi

i="$(sn_part_index "$ft")" ||
  sn_die 3 "node $name has no partition attached to events (no $ft); register it with add-storage-node.sh"
[ "${SN_P_KIND[$i]}" = f ] || sn_die 3 "$ft is not a foreign table"
h="$(sn_part_index events_hot)" || sn_die 1 "events_hot is not a partition of events"
a="${SN_P_LO[$i]}"; b="${SN_P_HI[$i]}"; lo="${SN_P_LO[$h]}"; hi="${SN_P_HI[$h]}"
sn_say "Archiving events_hot rows with event_created_at < $cutoff ($(sn_fmt_ts "$cutoff")) to node $name"
sn_note "$ft: $(sn_range_txt "$a" "$b"); events_hot: $(sn_range_txt "$lo" "$hi")"
if [ "$b" != "$lo" ]; then
  sn_die 3 "the range of $ft ($(sn_range_txt "$a" "$b")) does not end where events_hot's begins ($(sn_range_txt "$lo" "$hi")); archiving grows the node's range over events_hot's oldest part, so the two must be adjacent (use narrow-hot.sh for other layouts)"
fi
if [ "$cutoff" -le "$lo" ]; then
  sn_say "events_hot holds nothing older than the cutoff (its range starts at $(sn_bound_txt "$lo")): nothing to archive."
  exit 0
fi
if [ "$cutoff" -ge "$hi" ]; then
  sn_die 3 "the cutoff $cutoff is at or beyond the end of events_hot's range ($(sn_bound_txt "$hi")): events_hot would keep no range for new events"
fi
sn_plan "$name" "$lo" "$cutoff" || exit 3
sn_say "Plan: $ft $(sn_range_txt "$a" "$b") -> $(sn_range_txt "$SN_PLAN_NODE_LO" "$SN_PLAN_NODE_HI"); events_hot -> $(sn_range_txt "$SN_PLAN_HOT_LO" "$SN_PLAN_HOT_HI")"
if [ "$dry" = 1 ]; then
  sn_say "Rows of events_hot to move, per window of $batch_window s:"
  sn_dry_run_windows "$SN_PLAN_MOVE_LO" "$SN_PLAN_MOVE_HI" "$batch_window"
  sn_say "(dry run: nothing changed)"
  exit 0
fi
sn_apply_plan "$name" "$batch_size" "$batch_window"
sn_load_parts
sn_say ""
sn_say "Archived. Partitions of events:"
sn_print_parts
