# shellcheck shell=bash disable=SC2034  # YGG_RULE is used by the sourcing scripts
# Sourced by coordinator-entrypoint.sh and storage-entrypoint.sh: what both
# do to get a yggdrasil (0.4.7) config ready. Not meant to be run.
#
# The same code runs in the container (docker/yggdrasil/Dockerfile sets
# YGGDRASIL_CONFIG_DIR=/etc/yggdrasil) and natively (config in
# ./yggdrasil-config by default). See docs/distributed.md.

ygg_log() { printf '%s: %s\n' "${YGG_ROLE:-yggdrasil}" "$*" >&2; }
ygg_die() { printf '%s: error: %s\n' "${YGG_ROLE:-yggdrasil}" "$*" >&2; exit 1; }

# Defaults and checks common to both roles. Sets YGG_CONF, YGG_ADMIN.
ygg_setup() {
  : "${YGGDRASIL_CONFIG_DIR:=yggdrasil-config}"
  : "${YGGDRASIL_IFNAME:=auto}"
  : "${YGGDRASIL_ADMIN_SOCKET:=/var/run/yggdrasil/yggdrasil.sock}"
  : "${YGGDRASIL_BIN:=yggdrasil}"

  command -v "$YGGDRASIL_BIN" >/dev/null 2>&1 ||
    ygg_die "'$YGGDRASIL_BIN' not found (apt-get install yggdrasil; YGGDRASIL_BIN names another binary)"
  command -v jq >/dev/null 2>&1 || ygg_die "'jq' not found (apt-get install jq)"

  [ -n "$YGGDRASIL_CONFIG_DIR" ] || ygg_die "YGGDRASIL_CONFIG_DIR is empty"
  mkdir -p "$YGGDRASIL_CONFIG_DIR" || ygg_die "cannot create YGGDRASIL_CONFIG_DIR '$YGGDRASIL_CONFIG_DIR'"
  YGGDRASIL_CONFIG_DIR="$(cd "$YGGDRASIL_CONFIG_DIR" && pwd -P)"
  YGG_CONF="$YGGDRASIL_CONFIG_DIR/yggdrasil.conf"

  # Interface name: 'auto', 'none' (no TUN: the node routes nothing for this
  # host) or a name of at most 15 characters.
  case "$YGGDRASIL_IFNAME" in
    auto|none) ;;
    *) [[ "$YGGDRASIL_IFNAME" =~ ^[A-Za-z0-9_.-]{1,15}$ ]] ||
         ygg_die "YGGDRASIL_IFNAME '$YGGDRASIL_IFNAME' is not 'auto', 'none' or an interface name (1-15 of A-Z a-z 0-9 _ . -)" ;;
  esac

  # Admin socket: 'none', a URL (unix:///path, tcp://host:port) or a path.
  case "$YGGDRASIL_ADMIN_SOCKET" in
    none) YGG_ADMIN=none ;;
    *://*) YGG_ADMIN="$YGGDRASIL_ADMIN_SOCKET" ;;
    "") ygg_die "YGGDRASIL_ADMIN_SOCKET is empty (use 'none' to disable the admin socket)" ;;
    /*) YGG_ADMIN="unix://$YGGDRASIL_ADMIN_SOCKET" ;;
    *) YGG_ADMIN="unix://$PWD/$YGGDRASIL_ADMIN_SOCKET" ;;
  esac
  if [[ "$YGG_ADMIN" == unix://* ]]; then
    local sock="${YGG_ADMIN#unix://}"
    [ "${#sock}" -le 107 ] ||
      ygg_die "YGGDRASIL_ADMIN_SOCKET '$sock' is longer than a unix socket path may be (107 bytes)"
    # yggdrasil does not create the directory of its admin socket.
    mkdir -p "$(dirname "$sock")" ||
      ygg_die "cannot create the directory of YGGDRASIL_ADMIN_SOCKET '$sock'"
  fi

  if [ "$YGGDRASIL_IFNAME" != none ]; then
    [ -c /dev/net/tun ] ||
      ygg_die "/dev/net/tun is missing (container: add 'devices: [/dev/net/tun]' and 'cap_add: [NET_ADMIN]')"
    if [ "$(cat /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null || echo 1)" != 0 ]; then
      ygg_die "IPv6 is disabled in this network namespace (container: sysctl net.ipv6.conf.all.disable_ipv6=0 on the container that owns the network namespace)"
    fi
  fi
}

# A 64-hex-digit yggdrasil public key, lower-cased; dies naming $1 otherwise.
ygg_check_pubkey() {
  local name="$1" value="$2"
  [[ "$value" =~ ^[0-9a-fA-F]{64}$ ]] ||
    ygg_die "$name must be a yggdrasil public key: 64 hexadecimal digits (got '$value')"
  printf '%s\n' "${value,,}"
}

# Hand over files to the owner of the config directory, so that an operator
# who made yggdrasil-config/ can edit them without root (the container runs
# as root).
ygg_chown_like_dir() {
  [ "$(id -u)" = 0 ] || return 0
  local owner
  owner="$(stat -c %u:%g "$YGGDRASIL_CONFIG_DIR")"
  chown "$owner" "$@"
}

# Generates yggdrasil.conf (new keys) unless it exists. Never overwrites it:
# the private key is this node's identity and its address.
ygg_ensure_config() {
  if [ ! -e "$YGG_CONF" ]; then
    ygg_log "generating new keys in $YGG_CONF"
    local tmp="$YGG_CONF.new.$$"
    (umask 077 && "$YGGDRASIL_BIN" -genconf -json >"$tmp") ||
      { rm -f "$tmp"; ygg_die "'$YGGDRASIL_BIN -genconf -json' failed"; }
    mv "$tmp" "$YGG_CONF"
  fi
  [ -s "$YGG_CONF" ] || ygg_die "$YGG_CONF is empty: remove it to generate new keys (this gives the node a new address)"
  jq -e '(.PrivateKey | type == "string" and test("^[0-9a-f]{128}$"))
         and (.PublicKey | type == "string" and test("^[0-9a-f]{64}$"))' \
     "$YGG_CONF" >/dev/null 2>&1 ||
    ygg_die "$YGG_CONF is not a JSON yggdrasil config with PrivateKey and PublicKey (the scripts edit it with jq: keep it JSON, not HJSON)"
}

# Applies a jq program (with its --arg/--argjson options first) to the
# config; rewrites the file only when something changes. Mode 0600.
ygg_edit_config() {
  local tmp="$YGG_CONF.new.$$"
  (umask 077 && jq "$@" "$YGG_CONF" >"$tmp") ||
    { rm -f "$tmp"; ygg_die "could not update $YGG_CONF"; }
  if cmp -s "$tmp" "$YGG_CONF"; then rm -f "$tmp"; else mv "$tmp" "$YGG_CONF"; fi
  chmod 600 "$YGG_CONF"
  ygg_chown_like_dir "$YGG_CONF"
}

ygg_public_key() { jq -r .PublicKey "$YGG_CONF"; }

ygg_address() {
  local addr
  addr="$("$YGGDRASIL_BIN" -useconffile "$YGG_CONF" -address)" ||
    ygg_die "'$YGGDRASIL_BIN -useconffile $YGG_CONF -address' failed"
  [[ "$addr" =~ ^[23][0-9a-f]{2}: ]] || ygg_die "unexpected address '$addr' from $YGGDRASIL_BIN -address"
  printf '%s\n' "$addr"
}

YGG_RULE='============================================================'
