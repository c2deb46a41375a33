#!/bin/bash
# A storage node's yggdrasil (service storage-yggdrasil of
# docker-compose.storage.yml, or natively).
#
# First start: generates yggdrasil.conf (keys) in YGGDRASIL_CONFIG_DIR. Every
# start: the node dials the coordinator (Peers = [COORDINATOR_PEER]), listens
# on nothing, has no multicast, and accepts only the coordinator as a peer
# (AllowedPublicKeys = [COORDINATOR_PUBLIC_KEY]); prints the identity box with
# the registration command for the coordinator's operator, then runs
# yggdrasil in the foreground (extra arguments are passed to it).
#
# Environment (defaults are for a native run; the image sets
# YGGDRASIL_CONFIG_DIR=/etc/yggdrasil):
#   COORDINATOR_PEER        (required)  e.g. tcp://203.0.113.7:12345
#   COORDINATOR_PUBLIC_KEY  (required)  64 hex digits, from the coordinator's box
#   YGGDRASIL_CONFIG_DIR    yggdrasil-config
#   YGGDRASIL_IFNAME        auto
#   YGGDRASIL_ADMIN_SOCKET  /var/run/yggdrasil/yggdrasil.sock  (path, URL or none)
#   YGGDRASIL_BIN           yggdrasil
set -euo pipefail

YGG_ROLE=storage-entrypoint
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source-path=SCRIPTDIR source=yggdrasil-common.sh
. "$here/yggdrasil-common.sh"

: "${COORDINATOR_PEER:=}"
: "${COORDINATOR_PUBLIC_KEY:=}"
[ -n "$COORDINATOR_PEER" ] ||
  ygg_die "COORDINATOR_PEER is not set: the coordinator's peer address, e.g. tcp://COORDINATOR_PUBLIC_IP:12345 (its 'Peer addr')"
case "$COORDINATOR_PEER" in
  *COORDINATOR_PUBLIC_IP*|*YOUR_PUBLIC_IP*)
    ygg_die "COORDINATOR_PEER '$COORDINATOR_PEER' still holds a placeholder: put the coordinator's public IP or host name in it" ;;
esac
[[ "$COORDINATOR_PEER" =~ ^(tcp|tls|socks)://[^[:space:]/]+:[0-9]{1,5}(/[^[:space:]]*)?$ ]] ||
  ygg_die "COORDINATOR_PEER must look like tcp://HOST:PORT, tcp://[IPV6]:PORT or tls://HOST:PORT (got '$COORDINATOR_PEER')"
[ -n "$COORDINATOR_PUBLIC_KEY" ] ||
  ygg_die "COORDINATOR_PUBLIC_KEY is not set: the coordinator's 'Public key' (64 hex digits)"
coordinator_key="$(ygg_check_pubkey COORDINATOR_PUBLIC_KEY "$COORDINATOR_PUBLIC_KEY")"

ygg_setup
ygg_ensure_config

pubkey="$(ygg_public_key)"
[ "$pubkey" != "$coordinator_key" ] ||
  ygg_die "COORDINATOR_PUBLIC_KEY is this node's own public key: it must be the coordinator's"

# shellcheck disable=SC2016  # a jq program: $names are jq variables
ygg_edit_config \
  --arg peer "$COORDINATOR_PEER" --arg key "$coordinator_key" \
  --arg ifname "$YGGDRASIL_IFNAME" --arg admin "$YGG_ADMIN" '
  .Peers = [$peer]
  | .InterfacePeers = {}
  | .Listen = []
  | .MulticastInterfaces = []
  | .AllowedPublicKeys = [$key]
  | .IfName = $ifname
  | .AdminListen = $admin
  | .NodeInfoPrivacy = true'

address="$(ygg_address)"
ygg_log "peering with the coordinator $COORDINATOR_PEER (public key $coordinator_key)"
printf '%s\n' "$YGG_RULE" \
  " Yggdrasil Storage Node" \
  " Address   : $address" \
  " Public key: $pubkey" \
  "" \
  " Give the coordinator operator this address to register this node:" \
  "   ./scripts/add-storage-node.sh \\" \
  "     $address <node-name> <db-password> \\" \
  "     <from-ts> <to-ts> \\" \
  "     --pubkey $pubkey" \
  "$YGG_RULE"

exec "$YGGDRASIL_BIN" -useconffile "$YGG_CONF" "$@"
