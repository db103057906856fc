#!/usr/bin/env bash
# A local streaming replica of the project-local cluster (scripts/pg.sh), for the read
# replica tests and for trying DATABASE_REPLICA_URL by hand.
#
#   scripts/replica.sh start    pg_basebackup -R from the primary (once), start, print the URL
#   scripts/replica.sh stop     stop it
#   scripts/replica.sh status   say whether it runs
#   scripts/replica.sh destroy  stop it and delete its data
#   scripts/replica.sh promote  fail over: make it a primary (stop the old primary first;
#                               runbook in docs/operations.md), print its DATABASE_URL
#
# Its socket is /tmp/tristate-sock-<hash>-r; nothing listens on TCP.
set -euo pipefail
ACTION="${1:-start}"
LOG_TAG=replica
# shellcheck source=scripts/pg-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/pg-common.sh"
# shellcheck source=scripts/pgbackrest-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/pgbackrest-common.sh"
ensure_bindir

PRIMARY_SOCK="$SOCK_DIR"
REPLICA_SOCK="${SOCK_DIR}-r"
REPLICA_PARENT="${DATA_PARENT}-replica"
REPLICA_DATA="$REPLICA_PARENT/data"
REPLICA_FILE="${PG_REPLICA_ENV_FILE:-$ROOT/.local-replica.env}"
# Its own pgBackRest config (pg1-path = its data) on the primary's repository: a standby
# archives nothing, and once promoted it archives its new timeline there.
REPLICA_PGBR_CONF="$REPLICA_PARENT/pgbackrest/pgbackrest.conf"

SLOT="tristate_replica"
pgctl() { "${RUN_AS[@]}" "$BINDIR/pg_ctl" -D "$REPLICA_DATA" "$@"; }
primary_sql() { "${RUN_AS[@]}" "$BINDIR/psql" -h "$SOCK_DIR" -p "$PG_PORT" -U postgres -d postgres -Atq -c "$1"; }
drop_slot() {
  primary_sql "SELECT pg_drop_replication_slot('$SLOT') FROM pg_replication_slots WHERE slot_name = '$SLOT' AND NOT active" \
    >/dev/null 2>&1 || true
}
base_backup() {
  drop_slot
  # A replication slot keeps the primary's WAL until the replica has it, so a replica
  # stopped for a while catches up instead of finding its WAL recycled.
  "${RUN_AS[@]}" "$BINDIR/pg_basebackup" -h "$PRIMARY_SOCK" -p "$PG_PORT" -U postgres \
      -D "$REPLICA_DATA" -R -X stream --checkpoint=fast --create-slot --slot="$SLOT" >&2
}

case "$ACTION" in
  stop)
    if [[ -f "$REPLICA_DATA/postmaster.pid" ]]; then pgctl stop -m fast -w >&2 || true; fi
    exit 0 ;;
  status)
    pgctl status >&2 && exit 0 || exit 3 ;;
  destroy)
    if [[ -f "$REPLICA_DATA/postmaster.pid" ]]; then pgctl stop -m immediate -w >&2 || true; fi
    rm -rf "$REPLICA_PARENT" "$REPLICA_FILE"
    drop_slot
    exit 0 ;;
  promote)
    # It leaves recovery on a new timeline and archives it into the repository with its
    # own pgBackRest config (pg1-path = its data directory).
    pgctl promote -w -t 60 >&2
    ENC_SOCK="$(printf '%s' "$REPLICA_SOCK" | sed 's#/#%2F#g')"
    echo "DATABASE_OWNER_URL=postgres://tristate_owner@$ENC_SOCK:$PG_PORT/$DB_NAME"
    echo "DATABASE_URL=postgres://tristate_app@$ENC_SOCK:$PG_PORT/$DB_NAME"
    echo "PGBACKREST_CONFIG=$REPLICA_PGBR_CONF"
    exit 0 ;;
  start) ;;
  *) log "unknown action: $ACTION"; exit 2 ;;
esac

if ! "${RUN_AS[@]}" "$BINDIR/pg_isready" -q -h "$PRIMARY_SOCK" -p "$PG_PORT"; then
  log "the primary is not running (start it with scripts/pg.sh)"
  exit 1
fi

mkdir -p "$REPLICA_PARENT" "$REPLICA_SOCK"
chmod 0700 "$REPLICA_PARENT" "$REPLICA_SOCK"
if [[ ${#RUN_AS[@]} -gt 0 ]]; then chown postgres: "$REPLICA_PARENT" "$REPLICA_SOCK"; fi

# A replica whose WAL the primary no longer has (made before slots, or the slot was
# dropped) can never catch up: start it afresh.
if [[ -s "$REPLICA_DATA/PG_VERSION" ]] && tail -n 20 "$REPLICA_PARENT/server.log" 2>/dev/null \
    | grep -q "has already been removed"; then
  log "the replica fell behind the primary's WAL: taking a fresh base backup"
  if [[ -f "$REPLICA_DATA/postmaster.pid" ]]; then pgctl stop -m immediate -w >&2 || true; fi
  rm -rf "$REPLICA_DATA" "$REPLICA_PARENT/server.log"
fi

if [[ ! -s "$REPLICA_DATA/PG_VERSION" ]]; then
  log "taking a base backup of the primary into $REPLICA_DATA"
  # -R writes standby.signal and primary_conninfo: the copy starts as a streaming replica.
  base_backup
fi

start_replica() {
  rm -f "$REPLICA_DATA/postmaster.pid"
  log "starting the replica on socket $REPLICA_SOCK"
  pgctl start -w -t 60 -l "$REPLICA_PARENT/server.log" \
      -o "-k $REPLICA_SOCK -p $PG_PORT -c listen_addresses='' -c hot_standby=on" >/dev/null
}

configure_archiving() {
  ensure_pgbackrest
  pgbr_write_config "$REPLICA_PGBR_CONF" "$PGBR_REPO" "$REPLICA_DATA" "$REPLICA_SOCK" "$PG_PORT"
  pgbr_configure_cluster "$REPLICA_DATA" "$REPLICA_PGBR_CONF"
}
configure_archiving

if pgctl status >/dev/null 2>&1; then
  replica_sql() { "${RUN_AS[@]}" "$BINDIR/psql" -h "$REPLICA_SOCK" -p "$PG_PORT" -U postgres -d postgres -Atq -c "$1"; }
  replica_sql "SELECT pg_reload_conf()" >/dev/null
  # A replica made before archiving was configured: archive_mode changes at start only.
  if [[ "$(replica_sql "SHOW archive_mode")" != "on" ]]; then
    log "restarting the replica once to turn on WAL archiving (used once it is promoted)"
    pgctl stop -m fast -w >&2
  fi
fi
if ! pgctl status >/dev/null 2>&1; then
  if ! start_replica; then
    # A primary re-created since the base backup (new system identifier) cannot feed
    # the old copy: take a fresh one.
    log "the replica did not start; taking a fresh base backup"
    rm -rf "$REPLICA_DATA"
    base_backup
    configure_archiving
    start_replica
  fi
fi

ENC_SOCK="$(printf '%s' "$REPLICA_SOCK" | sed 's#/#%2F#g')"
URL="postgres://tristate_app@$ENC_SOCK:$PG_PORT/$DB_NAME"
{
  echo "# Written by scripts/replica.sh: the local streaming replica (tests use it when present)."
  echo "TEST_REPLICA_SOCKET=$REPLICA_SOCK"
  echo "TEST_REPLICA_PORT=$PG_PORT"
} > "$REPLICA_FILE"
echo "DATABASE_REPLICA_URL=$URL"
