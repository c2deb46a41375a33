#!/usr/bin/env bash
# Argument checking of the storage scripts: every invalid argument is
# refused with exit 2 and a message naming it, before anything is touched.
# No network, no database: valid arguments get as far as connecting to a
# database that does not exist (exit 1). Also unit-tests the validators of
# scripts/lib/storage-common.sh. Prints "N passed, N failed".
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
S="$REPO/scripts"
PASS=0; FAIL=0
ok()  { PASS=$(( PASS + 1 )); printf 'ok %d - %s\n' $(( PASS + FAIL )) "$*"; }
bad() { FAIL=$(( FAIL + 1 )); printf 'not ok %d - %s\n' $(( PASS + FAIL )) "$*"; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
printf '{"AllowedPublicKeys":[]}\n' >"$TMP/yggdrasil.conf"
printf '{}\n' >"$TMP/nodes.json"
cp "$TMP/yggdrasil.conf" "$TMP/conf.orig"
export YGGDRASIL_CONFIG_DIR="$TMP" YGGDRASIL_RESTART="touch '$TMP/restarted'"
export DB_HOST="$TMP/no-such-socket-dir" DB_PORT=5432 PGCONNECT_TIMEOUT=2

# t EXPECTED_RC MESSAGE_PART SCRIPT ARGS...
t() {
  local want="$1" msg="$2" script="$3"; shift 3
  local out rc
  out="$("$S/$script" "$@" 2>&1 </dev/null)"; rc=$?
  local label="$script $*"
  if [ "$rc" != "$want" ]; then
    bad "$label: exit $rc, expected $want"; printf '%s\n' "$out" | sed 's/^/#   /'; return
  fi
  if [ -n "$msg" ] && ! grep -qF -- "$msg" <<<"$out"; then
    bad "$label: exit $rc but no '$msg' in: $out"; return
  fi
  ok "$label -> $rc"
}

K=aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899
A=200:ef01:5678::1

# --- add-storage-node.sh ------------------------------------------------------------
t 0 "Usage: add-storage-node.sh" add-storage-node.sh --help
t 0 "--pubkey KEY" add-storage-node.sh -h
t 2 "expected 5 arguments" add-storage-node.sh
t 2 "expected 5 arguments" add-storage-node.sh "$A" node1 pw 0 --pubkey "$K"
t 2 "expected 5 arguments" add-storage-node.sh "$A" node1 pw 0 100 extra --pubkey "$K"
t 2 "--pubkey KEY is required" add-storage-node.sh "$A" node1 pw 0 100
t 2 "--pubkey needs a value" add-storage-node.sh "$A" node1 pw 0 100 --pubkey
t 2 "unknown option: --colour" add-storage-node.sh "$A" node1 pw 0 100 --pubkey "$K" --colour
for addr in 10.1.2.3 ::1 fe80::1 2001:db8::1 400::1 1ff:ffff::1 200:::1 200::1::2 \
            200:1:2:3:4:5:6:7:8 200:1:2:3:4:5:6 200::g '[200::1]' 200::1%eth0 200::1/64 \
            200:12345::1 :200::1 200::1: 200::256.1.1.1 200::1.2.3 localhost 'x y' ''; do
  t 2 "ADDRESS '$addr'" add-storage-node.sh "$addr" node1 pw 0 100 --pubkey "$K"
done
for n in Node1 node-1 'node 1' '' "$(printf 'a%.0s' {1..41})" 'n;drop'; do
  t 2 "NAME '$n'" add-storage-node.sh "$A" "$n" pw 0 100 --pubkey "$K"
done
t 2 "PASSWORD must not be empty" add-storage-node.sh "$A" node1 '' 0 100 --pubkey "$K"
for f in -1 1.5 1e9 abc MAXVALUE 2147483648 99999999999999999999 ''; do
  t 2 "FROM '$f'" add-storage-node.sh "$A" node1 pw "$f" MAXVALUE --pubkey "$K"
done
for to in -1 MINVALUE 2147483648 0x10 ''; do
  t 2 "TO '$to'" add-storage-node.sh "$A" node1 pw 0 "$to" --pubkey "$K"
done
t 2 "must be below TO" add-storage-node.sh "$A" node1 pw 100 100 --pubkey "$K"
t 2 "must be below TO" add-storage-node.sh "$A" node1 pw 200 100 --pubkey "$K"
for k in "${K:1}" "${K}0" "${K:1}g" '' "0x${K:2}"; do
  t 2 "--pubkey '$k'" add-storage-node.sh "$A" node1 pw 0 100 --pubkey "$k"
done
t 2 "--pubkey '${K:1}'" add-storage-node.sh "$A" node1 pw 0 100 "--pubkey=${K:1}"
t 2 "--batch-size '0'" add-storage-node.sh "$A" node1 pw 0 100 --pubkey "$K" --batch-size 0
t 2 "FROM '-5'" narrow-hot.sh node1 -5 100
# valid arguments: past validation, stopped by the missing database (exit 1)
t 1 "cannot use the coordinator database" add-storage-node.sh "$A" node1 'p@ss w0rd' MINVALUE MAXVALUE --pubkey "$K"
t 1 "cannot use the coordinator database" add-storage-node.sh 3ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff n_2 pw 0 2147483647 "--pubkey=${K^^}"
t 1 "cannot use the coordinator database" add-storage-node.sh 0200:0:0:0:0:0:0:1 "$(printf 'a%.0s' {1..40})" -dash minvalue 00012 --pubkey "$K"
STORAGE_NODE_PASSWORD=x t 1 "cannot use the coordinator database" add-storage-node.sh "$A" node1 - 0 100 --pubkey "$K"
t 2 "PASSWORD must not be empty" add-storage-node.sh "$A" node1 - 0 100 --pubkey "$K"
if cmp -s "$TMP/yggdrasil.conf" "$TMP/conf.orig" && [ ! -e "$TMP/restarted" ]; then
  ok "nothing was changed by refused or failed runs"
else
  bad "yggdrasil.conf changed or yggdrasil restarted"
fi

# The env check comes after the arguments; exit 2.
out="$(DB_PORT=abc "$S/add-storage-node.sh" "$A" node1 pw 0 100 --pubkey "$K" 2>&1)"; rc=$?
if [ "$rc" = 2 ] && grep -q DB_PORT <<<"$out"; then ok "DB_PORT=abc -> 2"; else bad "DB_PORT=abc: $rc $out"; fi

# --- remove-storage-node.sh ------------------------------------------------------------
t 0 "Usage: remove-storage-node.sh" remove-storage-node.sh --help
t 2 "expected one argument" remove-storage-node.sh
t 2 "expected one argument" remove-storage-node.sh node1 node2
t 2 "NAME 'Node1'" remove-storage-node.sh Node1
t 2 "NAME 'a.b'" remove-storage-node.sh a.b
t 2 "unknown option: --force" remove-storage-node.sh --force node1
t 1 "cannot use the coordinator database" remove-storage-node.sh node1

# --- archive-events.sh --------------------------------------------------------------------
t 0 "Usage: archive-events.sh" archive-events.sh --help
t 2 "--node NAME is required" archive-events.sh --cutoff 100
t 2 "exactly one of --cutoff" archive-events.sh --node node1
t 2 "exactly one of --cutoff" archive-events.sh --node node1 --cutoff 100 --older-than 5
t 2 "--node 'Bad'" archive-events.sh --node Bad --cutoff 100
t 2 "--node needs a value" archive-events.sh --node
t 2 "--cutoff '-5'" archive-events.sh --node node1 --cutoff -5
t 2 "--cutoff 'abc'" archive-events.sh --node node1 --cutoff abc
t 2 "--cutoff '2147483648'" archive-events.sh --node node1 --cutoff=2147483648
t 2 "--older-than '1.5'" archive-events.sh --node node1 --older-than 1.5
t 2 "--older-than '100001'" archive-events.sh --node node1 --older-than 100001
t 2 "--batch-size" archive-events.sh --node node1 --cutoff 100 --batch-size 0
t 2 "--batch-size" archive-events.sh --node node1 --cutoff 100 --batch-size 1000001
t 2 "--batch-size" archive-events.sh --node node1 --cutoff 100 --batch-size=x
t 2 "--batch-window" archive-events.sh --node node1 --cutoff 100 --batch-window 0
t 2 "--batch-window" archive-events.sh --node node1 --cutoff 100 --batch-window -1
t 2 "unexpected argument: node1" archive-events.sh node1 --cutoff 100
t 2 "unknown option: --yes" archive-events.sh --node node1 --cutoff 100 --yes
t 1 "cannot use the coordinator database" archive-events.sh --node node1 --older-than 90 --dry-run
t 1 "cannot use the coordinator database" archive-events.sh --node=node1 --cutoff=1704067200 --batch-size=10 --batch-window=3600

# --- narrow-hot.sh ----------------------------------------------------------------------------
t 0 "Usage: narrow-hot.sh" narrow-hot.sh --help
t 2 "expected NAME FROM TO" narrow-hot.sh
t 2 "expected NAME FROM TO" narrow-hot.sh node1 0
t 2 "NAME 'X'" narrow-hot.sh X 0 100
t 2 "FROM 'MAXVALUE'" narrow-hot.sh node1 MAXVALUE 100
t 2 "TO 'MINVALUE'" narrow-hot.sh node1 0 MINVALUE
t 2 "must be below TO" narrow-hot.sh node1 100 50
t 2 "--widen takes no arguments" narrow-hot.sh --widen node1
t 2 "exclude each other" narrow-hot.sh --widen --abort
t 2 "--dry-run goes with" narrow-hot.sh --abort --dry-run
t 2 "unknown option" narrow-hot.sh node1 0 100 --force
t 1 "cannot use the coordinator database" narrow-hot.sh node1 MINVALUE 100 --dry-run
t 1 "cannot use the coordinator database" narrow-hot.sh --status

# --- validators ----------------------------------------------------------------------------------
# shellcheck source=scripts/lib/storage-common.sh
. "$S/lib/storage-common.sh"
v() { # EXPECT FUNCTION ARG
  if "$2" "$3"; then r=0; else r=1; fi
  if [ "$r" = "$1" ]; then ok "$2 '$3' -> $r"; else bad "$2 '$3' -> $r, expected $1"; fi
}
for a in 200::1 200:ef01:5678::1 3ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 0200:0:0:0:0:0:0:1 \
         2aa:: 300::1.2.3.4 200:0:0:0:0:0:1.2.3.4 20F::abcd 200:1:2:3:4:5:6:: 200::1:2:3:4:5:6; do
  v 0 sn_valid_ygg_address "$a"
done
for a in ::1 :: fe80::1 2001:db8::1 400::1 1ff:ffff::1 200:::1 200::1::2 200:1:2:3:4:5:6:7:8 \
         200:1:2:3:4:5:6 200::g 200::1%lo 200:12345::1 :200::1 200::1: 200::256.1.1.1 1.2.3.4 \
         200::1.2.3.04 200:1:2:3:4:5:6:7:: 200:0:0:0:0:0:0:1.2.3.4 ""; do
  v 1 sn_valid_ygg_address "$a"
done
v 0 sn_valid_ipv6 ::1
v 0 sn_valid_ipv6 ::ffff:1.2.3.4
v 0 sn_valid_ipv6 fe80::
v 1 sn_valid_ipv6 fe80::1::
eq_out() { if [ "$2" = "$3" ]; then ok "$1 = $3"; else bad "$1 = '$2', expected '$3'"; fi; }
eq_out "sn_parse_bound MINVALUE from" "$(sn_parse_bound minvalue from)" -2147483648
eq_out "sn_parse_bound MAXVALUE to" "$(sn_parse_bound MaxValue to)" 2147483648
eq_out "sn_parse_bound 00012 from" "$(sn_parse_bound 00012 from)" 12
eq_out "sn_parse_bound 0 to" "$(sn_parse_bound 0 to)" 0
eq_out "sn_parse_bound 2147483647 to" "$(sn_parse_bound 2147483647 to)" 2147483647
eq_out "sn_bound_txt MIN" "$(sn_bound_txt -2147483648)" MINVALUE
eq_out "sn_range_txt" "$(sn_range_txt 0 2147483648)" "FROM (0) TO (MAXVALUE)"
eq_out "sn_lit quotes" "$(sn_lit "a'b\\c")" "'a''b\\c'"

printf '%d passed, %d failed\n' "$PASS" "$FAIL"
[ "$FAIL" = 0 ]
