#!/bin/sh
# nostream relay container entrypoint.
# Started as root, it makes sure NOSTR_CONFIG_DIR (the bind-mounted .nostr)
# is writable, then runs the relay as an unprivileged user: the owner of that
# directory when it belongs to a non-root user of the host (so files the relay
# writes there stay the host user's), else the image's 'nostream' user.
# Started with --user, it runs the command as that user directly.
set -eu

dir="${NOSTR_CONFIG_DIR:-/app/.nostr}"

if [ "$(id -u)" != 0 ]; then
  mkdir -p "$dir" 2>/dev/null || true
  exec "$@"
fi

mkdir -p "$dir"
uid="$(stat -c %u "$dir")"
gid="$(stat -c %g "$dir")"
if [ "$uid" = 0 ]; then
  chown -R nostream:nostream "$dir"
  uid="$(id -u nostream)"
  gid="$(id -g nostream)"
fi
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"
