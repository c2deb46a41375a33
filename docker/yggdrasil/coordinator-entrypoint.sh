#!/bin/bash
# The coordinator's yggdrasil (container nostream-yggdrasil, or natively).
#
# First start: generates yggdrasil.conf (keys) in YGGDRASIL_CONFIG_DIR and an
# empty node registry nodes.json. Every start: sets Listen, IfName,
# AdminListen and no multicast from the environment, keeps the keys and the
# whitelist (AllowedPublicKeys, edited by scripts/add-storage-node.sh and
# scripts/remove-storage-node.sh), prints the identity box, then runs
# yggdrasil in the foreground (extra arguments are passed to it).
#
# An empty AllowedPublicKeys means "every peer is allowed" to yggdrasil
# 0.4.7, so the list is never left empty: when it is, a placeholder key is
# added, the public half of a key pair whose private half is thrown away.
#
# Environment (defaults are for a native run; the image sets
# YGGDRASIL_CONFIG_DIR=/etc/yggdrasil):
#   YGGDRASIL_CONFIG_DIR    yggdrasil-config   holds yggdrasil.conf, nodes.json
#   YGGDRASIL_LISTEN_PORT   12345              TCP port storage nodes dial
#   YGGDRASIL_LISTEN_ADDR   [::]               address to listen on
#   YGGDRASIL_IFNAME        auto               TUN interface name (or none)
#   YGGDRASIL_ADMIN_SOCKET  /var/run/yggdrasil/yggdrasil.sock  (path, URL or none)
#   PUBLIC_PEER_ADDR        tcp://YOUR_PUBLIC_IP:<port>  shown as "Peer addr"
#   YGGDRASIL_BIN           yggdrasil
set -euo pipefail

YGG_ROLE=coordinator-entrypoint
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source-path=SCRIPTDIR source=yggdrasil-common.sh
. "$here/yggdrasil-common.sh"

ygg_setup

: "${YGGDRASIL_LISTEN_PORT:=12345}"
: "${YGGDRASIL_LISTEN_ADDR:=[::]}"
if ! [[ "$YGGDRASIL_LISTEN_PORT" =~ ^[1-9][0-9]{0,4}$ ]] || [ "$YGGDRASIL_LISTEN_PORT" -gt 65535 ]; then
  ygg_die "YGGDRASIL_LISTEN_PORT must be a TCP port 1-65535 (got '$YGGDRASIL_LISTEN_PORT')"
fi
listen_host="$YGGDRASIL_LISTEN_ADDR"
[[ -n "$listen_host" && "$listen_host" != *[[:space:]/]* ]] ||
  ygg_die "YGGDRASIL_LISTEN_ADDR must be a host address such as [::], 0.0.0.0 or [fd42:1::1] (got '$listen_host')"
# A bare IPv6 address gets its brackets.
if [[ "$listen_host" == *:* && "$listen_host" != \[*\] ]]; then listen_host="[$listen_host]"; fi
listen_url="tcp://$listen_host:$YGGDRASIL_LISTEN_PORT"
: "${PUBLIC_PEER_ADDR:=tcp://YOUR_PUBLIC_IP:$YGGDRASIL_LISTEN_PORT}"

ygg_ensure_config

nodes="$YGGDRASIL_CONFIG_DIR/nodes.json"
if [ ! -e "$nodes" ]; then
  printf '{}\n' >"$nodes"
  ygg_chown_like_dir "$nodes"
fi
jq -e 'type == "object"' "$nodes" >/dev/null 2>&1 ||
  ygg_die "$nodes is not a JSON object (name -> public key registry of storage nodes)"

placeholder=""
if ! jq -e '(.AllowedPublicKeys // []) | length > 0' "$YGG_CONF" >/dev/null; then
  placeholder="$("$YGGDRASIL_BIN" -genconf -json | jq -r .PublicKey)"
  [[ "$placeholder" =~ ^[0-9a-f]{64}$ ]] || ygg_die "could not make a placeholder key"
fi

# shellcheck disable=SC2016  # a jq program: $names are jq variables
ygg_edit_config \
  --arg listen "$listen_url" --arg ifname "$YGGDRASIL_IFNAME" --arg admin "$YGG_ADMIN" \
  --arg placeholder "$placeholder" '
  .Listen = [$listen]
  | .MulticastInterfaces = []
  | .IfName = $ifname
  | .AdminListen = $admin
  | .NodeInfoPrivacy = true
  | .AllowedPublicKeys = ((.AllowedPublicKeys // []) + (if $placeholder == "" then [] else [$placeholder] end))'

if [ -n "$placeholder" ]; then
  ygg_log "AllowedPublicKeys was empty, which yggdrasil reads as 'every peer allowed':"
  ygg_log "added placeholder key $placeholder (nobody holds its private key)"
fi
registered="$(jq 'length' "$nodes")"
ygg_log "$registered storage node(s) registered in $nodes; listening on $listen_url"

address="$(ygg_address)"
pubkey="$(ygg_public_key)"
printf '%s\n' "$YGG_RULE" \
  " Yggdrasil Coordinator" \
  " Address   : $address" \
  " Public key: $pubkey" \
  " Peer addr : $PUBLIC_PEER_ADDR" \
  "$YGG_RULE"

exec "$YGGDRASIL_BIN" -useconffile "$YGG_CONF" "$@"
