#!/usr/bin/env bash
# Show each storage node: its state, created_at range, row count, the
# events held for it while it was unreachable, and since when. Also
# events_hot and the deletions/replacements waiting for replay. Read-only:
# it changes nothing (the relay's storage monitor swaps nodes out and back
# in; see docs/operations.md).
#
# Usage: storage-status.sh [--json]
#   --json  one JSON object instead of the table:
#           {"nodes":[{"name","server","foreign_table","host","port","state",
#             "range_lo","range_hi","rows","held","down_since","error"}],
#            "hot":{"range_lo","range_hi","rows_estimate"},"replay":N}
#           range_lo/range_hi null mean MINVALUE/MAXVALUE; rows is null when
#           the node does not answer.
# States: up           attached and answering;
#         down         swapped out by the relay, its range held locally;
#         returning    swapped out but answering again: the relay delivers
#                      the held events and swaps it back in within seconds;
#         unreachable  attached but not answering, not swapped out yet (is
#                      the relay running?).
# Options: -h, --help.
# Environment: DB_HOST (127.0.0.1) DB_PORT (5432) DB_USER (nostr_ts_relay)
#   DB_PASSWORD DB_NAME (nostr_ts_relay) STORAGE_STATUS_TIMEOUT (15s: per
#   node, for the probe and the row count).
# Exit codes: 0 every node up, 1 failure (database unreachable...), 2
#   invalid arguments, 4 some node is not up.
set -euo pipefail

# shellcheck source=scripts/lib/storage-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/storage-common.sh"

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"; }

json=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --json) json=1; shift ;;
    *) sn_bad "unknown argument: $1 (see --help)" ;;
  esac
done
: "${STORAGE_STATUS_TIMEOUT:=15s}"
[[ "$STORAGE_STATUS_TIMEOUT" =~ ^[1-9][0-9]*(ms|s|min)?$ ]] ||
  sn_bad "STORAGE_STATUS_TIMEOUT must be a duration like 15s or 500ms (got '$STORAGE_STATUS_TIMEOUT')"
sn_check_env
sn_need_tools psql jq
sn_init

# The nodes: attached foreign partitions of events, and swapped-out ones.
list_sql="
SELECT json_build_object(
    'name', regexp_replace(s.srvname, '^storage_', ''), 'server', s.srvname,
    'foreign_table', c.relname,
    'host', (SELECT option_value FROM pg_options_to_table(s.srvoptions) WHERE option_name = 'host'),
    'port', (SELECT option_value FROM pg_options_to_table(s.srvoptions) WHERE option_name = 'port'),
    'bound', coalesce(o.bound, pg_get_expr(c.relpartbound, c.oid)),
    'held_table', o.held_table, 'down_since', o.since, 'reason', o.reason)
  FROM pg_class c
  JOIN pg_foreign_table f ON f.ftrelid = c.oid
  JOIN pg_foreign_server s ON s.oid = f.ftserver
  LEFT JOIN nostream_storage_outage o ON o.foreign_table = c.relname
 WHERE o.foreign_table IS NOT NULL
    OR EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid AND i.inhparent = 'events'::regclass)
 ORDER BY c.relname;"
have_outage="$(printf '%s\n' "SELECT to_regclass('nostream_storage_outage') IS NOT NULL;" | sn_psql 2>&1)" ||
  sn_die 1 "cannot use the coordinator database $DB_NAME on $DB_HOST:$DB_PORT as $DB_USER: $have_outage"
if [ "$have_outage" != t ]; then
  # A database the relay has not migrated yet: no outage is possible.
  list_sql="${list_sql//LEFT JOIN nostream_storage_outage o ON o.foreign_table = c.relname/LEFT JOIN (SELECT NULL::text AS foreign_table, NULL::text AS bound, NULL::text AS held_table, NULL::timestamptz AS since, NULL::text AS reason) o ON false}"
fi
nodes_json="$(printf '%s\n' "$list_sql" | sn_psql 2>&1)" || sn_die 1 "cannot list the storage nodes: $nodes_json"

# Per node: ask it (row count), and count what is held for it.
results=()
while IFS= read -r n; do
  [ -n "$n" ] || continue
  ft="$(jq -r .foreign_table <<<"$n")"
  held_table="$(jq -r '.held_table // empty' <<<"$n")"
  probe="$(printf '%s\n' "SET statement_timeout = $(sn_lit "$STORAGE_STATUS_TIMEOUT");
SELECT count(*) FROM $(printf '%s' "$ft" | sed 's/"/""/g; s/^/"/; s/$/"/');" | sn_psql 2>&1)" && ok=1 || ok=0
  held=0
  if [ -n "$held_table" ]; then
    held="$(printf '%s\n' "SELECT count(*) FROM \"${held_table//\"/\"\"}\";" | sn_psql 2>&1)" ||
      sn_die 1 "cannot count the held table $held_table: $held"
  fi
  if [ -n "$held_table" ]; then state=$([ "$ok" = 1 ] && echo returning || echo down)
  else state=$([ "$ok" = 1 ] && echo up || echo unreachable); fi
  err=""
  [ "$ok" = 1 ] || err="$(printf '%s' "$probe" | tr '\n' ' ' | sed 's/^psql:[^:]*: *//; s/ *$//')"
  results+=("$(jq -c --arg state "$state" --arg rows "$([ "$ok" = 1 ] && printf '%s' "$probe")" \
    --argjson held "$held" --arg err "$err" '
      def bound(re): (.bound | capture(re).v) as $v
        | if ($v | test("^-?[0-9]+$")) then ($v | tonumber) else null end;
      {name, server, foreign_table, host, port: (.port // null | if . then tonumber? // . else null end),
       state: $state,
       range_lo: bound("FROM \\((?<v>[^)]*)\\)"), range_hi: bound("TO \\((?<v>[^)]*)\\)"),
       rows: (if $rows == "" then null else ($rows | tonumber) end),
       held: $held, down_since, error: (if $err == "" then null else $err end)}' <<<"$n")")
done <<<"$nodes_json"

other="$(printf '%s\n' "SELECT json_build_object(
    'bound', (SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = to_regclass('events_hot')),
    'rows_estimate', (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass('events_hot')),
    'replay', CASE WHEN to_regclass('nostream_storage_replay') IS NULL THEN 0
                   ELSE (SELECT count(*) FROM nostream_storage_replay) END);" | sn_psql 2>&1)" ||
  sn_die 1 "cannot read events_hot: $other"

report="$(printf '%s\n' "${results[@]}" | jq -cs --argjson o "$other" '
  def bound(re): ($o.bound // "" | capture(re).v? // "") as $v
    | if ($v | test("^-?[0-9]+$")) then ($v | tonumber) else null end;
  {nodes: ., hot: {range_lo: bound("FROM \\((?<v>[^)]*)\\)"), range_hi: bound("TO \\((?<v>[^)]*)\\)"),
                   rows_estimate: $o.rows_estimate}, replay: $o.replay}')"

if [ "$json" = 1 ]; then
  printf '%s\n' "$report"
else
  jq -r '
    def r(v; inf): if v == null then inf else (v | tostring) end;
    def pad(n): tostring | if length < n then . + (" " * (n - length)) else . end;
    def line: [.[0] | pad(20)] + [.[1] | pad(12)] + [.[2] | pad(28)] + [.[3] | pad(12)]
              + [.[4] | pad(8)] + [.[5] | pad(34)] + [.[6]] | join(" ");
    (["NAME", "STATE", "RANGE (created_at)", "ROWS", "HELD", "DOWN SINCE", "HOST"] | line),
    (.nodes[] | [.name, .state, "[" + r(.range_lo; "MINVALUE") + ", " + r(.range_hi; "MAXVALUE") + ")",
                 r(.rows; "-"), (.held | tostring), (.down_since // "-"),
                 ((.host // "-") as $h | (if ($h | test(":")) and .port then "[" + $h + "]" else $h end)
                  + (if .port then ":" + (.port | tostring) else "" end))] | line),
    (["events_hot", "local", "[" + r(.hot.range_lo; "MINVALUE") + ", " + r(.hot.range_hi; "MAXVALUE") + ")",
      "~" + (.hot.rows_estimate | tostring), "-", "-", "-"] | line),
    "",
    "waiting for replay (deletions, replaceable versions): \(.replay)",
    (.nodes[] | select(.error) | "\(.name): \(.error)")' <<<"$report"
fi
jq -e 'all(.nodes[]; .state == "up")' <<<"$report" >/dev/null || exit 4
exit 0
