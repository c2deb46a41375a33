# shellcheck shell=bash
# relay_start BIN CONFIG_DIR LOG: runs the relay BIN (database and other
# settings from the caller's environment: `DB_HOST=... relay_start ...`)
# with NOSTR_CONFIG_DIR=CONFIG_DIR and the repository's migrations, on a
# free port below the ephemeral range, another one if it was taken
# meanwhile. Sets RELAY_PORT and RELAY_PID (empty when the relay exited).
# Returns 0 once /healthz answers 200, 1 otherwise. Sourced by
# tests/distributed/e2e.test.sh and tests/soak/soak.sh; needs REPO.
relay_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

relay_start() {
  local bin="$1" conf="$2" log="$3" try
  for try in 1 2 3 4 5; do
    while :; do RELAY_PORT=$(( 20000 + RANDOM % 12000 )); relay_port_free "$RELAY_PORT" && break; done
    RELAY_PORT="$RELAY_PORT" NOSTR_CONFIG_DIR="$conf" MIGRATIONS_DIR="$REPO/migrations" \
      "$bin" >"$log" 2>&1 &
    RELAY_PID=$!
    for _ in $(seq 150); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$RELAY_PORT/healthz")" = 200 ] &&
        return 0
      kill -0 "$RELAY_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$RELAY_PID" 2>/dev/null && return 1   # running but not answering: give up
    wait "$RELAY_PID" 2>/dev/null; RELAY_PID=""
    grep -q "cannot listen" "$log" || return 1
    printf '# port %s taken (try %s), another one\n' "$RELAY_PORT" "$try"
  done
  return 1
}
