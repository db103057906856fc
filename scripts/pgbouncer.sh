#!/usr/bin/env bash
# PgBouncer in transaction mode in front of the project-local cluster, for the tests that
# prove Tristate runs behind it (and for trying it by hand).
#
#   scripts/pgbouncer.sh start   install pgbouncer with apt if missing, start it, print its URL
#   scripts/pgbouncer.sh stop
set -euo pipefail
ACTION="${1:-start}"
LOG_TAG=pgbouncer
# shellcheck source=scripts/pg-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/pg-common.sh"

BOUNCER_DIR="/tmp/tristate-bouncer-$HASH"
BOUNCER_PORT="${BOUNCER_PORT:-6432}"
PIDFILE="$BOUNCER_DIR/pgbouncer.pid"
BIN="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"

case "$ACTION" in
  stop)
    if [[ -f "$PIDFILE" ]]; then kill "$(cat "$PIDFILE")" 2>/dev/null || true; rm -f "$PIDFILE"; fi
    exit 0 ;;
  start) ;;
  *) log "unknown action: $ACTION"; exit 2 ;;
esac

if [[ ! -x "$BIN" ]]; then
  log "pgbouncer not found: installing the pgbouncer package with apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq pgbouncer >&2 || { apt-get update -qq >&2 && apt-get install -y -qq pgbouncer >&2; }
  BIN="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
fi

mkdir -p "$BOUNCER_DIR"
chmod 0700 "$BOUNCER_DIR"
if [[ ${#RUN_AS[@]} -gt 0 ]]; then chown postgres: "$BOUNCER_DIR"; fi
cat > "$BOUNCER_DIR/pgbouncer.ini" <<INI
[databases]
* = host=$SOCK_DIR port=$PG_PORT

[pgbouncer]
pool_mode = transaction
listen_addr =
listen_port = $BOUNCER_PORT
unix_socket_dir = $BOUNCER_DIR
auth_type = trust
auth_file = $BOUNCER_DIR/users.txt
max_client_conn = 400
default_pool_size = 20
pidfile = $PIDFILE
logfile = $BOUNCER_DIR/pgbouncer.log
ignore_startup_parameters = extra_float_digits
INI
printf '"postgres" ""\n"tristate_app" ""\n"tristate_owner" ""\n' > "$BOUNCER_DIR/users.txt"
if [[ ${#RUN_AS[@]} -gt 0 ]]; then chown postgres: "$BOUNCER_DIR"/*; fi

if [[ ! -f "$PIDFILE" ]] || ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  "${RUN_AS[@]}" "$BIN" -d "$BOUNCER_DIR/pgbouncer.ini" >&2
  for _ in $(seq 50); do [[ -S "$BOUNCER_DIR/.s.PGSQL.$BOUNCER_PORT" ]] && break; sleep 0.1; done
fi
ENC="$(printf '%s' "$BOUNCER_DIR" | sed 's#/#%2F#g')"
echo "PGBOUNCER_SOCKET=$BOUNCER_DIR"
echo "PGBOUNCER_PORT=$BOUNCER_PORT"
echo "DATABASE_URL=postgres://tristate_app@$ENC:$BOUNCER_PORT/$DB_NAME"
