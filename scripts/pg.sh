#!/usr/bin/env bash
# Start (or reuse) the project-local PostgreSQL cluster and print its DATABASE_URL last.
#
#   scripts/pg.sh            start if needed, print DATABASE_URL=... on the last line
#   scripts/pg.sh stop       stop the local cluster
#   scripts/pg.sh status     say whether it runs
#
# With DATABASE_URL set in the environment nothing is started: that server is used.
# PostgreSQL refuses to run as root, so as root every server command goes through
# `runuser -u postgres`. The data directory is ./.pgdata when the postgres user can
# traverse the checkout's parent folders, else /tmp/tristate-pg-<hash of checkout path>.
# The server listens on a unix socket only (no TCP) unless PG_LISTEN is set.
# WAL is archived continuously with pgBackRest (stanza `tristate`, repository and config
# in <data parent>/pgbackrest/); a cluster made before that is configured and restarted
# once. scripts/pgbackrest.sh takes backups and restores (make backup / make restore).
set -euo pipefail

ACTION="${1:-start}"
# shellcheck source=scripts/pg-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/pg-common.sh"
# shellcheck source=scripts/pgbackrest-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/pgbackrest-common.sh"

if [[ -n "${DATABASE_URL:-}" && "$ACTION" == "start" ]]; then
  log "DATABASE_URL is set: using that server, no local cluster started"
  echo "DATABASE_URL=$DATABASE_URL"
  exit 0
fi
ensure_bindir

pgctl() { "${RUN_AS[@]}" "$BINDIR/pg_ctl" -D "$PGDATA" "$@"; }

case "$ACTION" in
  stop)
    if [[ -f "$PGDATA/postmaster.pid" ]]; then pgctl stop -m fast -w >&2 || true; fi
    exit 0 ;;
  status)
    pgctl status >&2 && exit 0 || exit 3 ;;
  start) ;;
  *) log "unknown action: $ACTION"; exit 2 ;;
esac

mkdir -p "$DATA_PARENT" "$SOCK_DIR"
chmod 0700 "$DATA_PARENT" "$SOCK_DIR"
if [[ ${#RUN_AS[@]} -gt 0 ]]; then chown postgres: "$DATA_PARENT" "$SOCK_DIR"; fi

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  log "initialising a new cluster in $PGDATA"
  # Trust on the unix socket only: the socket folder is 0700, so only its owner (and root) connect.
  "${RUN_AS[@]}" "$BINDIR/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 --no-sync >/dev/null
  cat >> "$PGDATA/postgresql.conf" <<CONF
# Tristate local cluster
max_connections = 200
shared_buffers = 256MB
work_mem = 16MB
maintenance_work_mem = 256MB
wal_level = replica
max_wal_senders = 5
hot_standby = on
log_min_duration_statement = -1
CONF
  echo "local replication all trust" >> "$PGDATA/pg_hba.conf"
fi

ensure_pgbackrest
pgbr_write_config "$PGBR_CONF" "$PGBR_REPO" "$PGDATA" "$SOCK_DIR" "$PG_PORT"
pgbr_configure_cluster "$PGDATA" "$PGBR_CONF"

START_OPTS="-k $SOCK_DIR -p $PG_PORT -c listen_addresses='${PG_LISTEN:-}'"
if ! pgctl status >/dev/null 2>&1; then
  rm -f "$PGDATA/postmaster.pid"
  log "starting PostgreSQL ($BINDIR) on socket $SOCK_DIR"
  pgctl start -w -t 60 -l "$LOGFILE" -o "$START_OPTS" >/dev/null
fi
# After a point-in-time restore (recovery.signal) the server answers read-only queries
# while it replays WAL: wait until it has promoted itself before writing anything.
for _ in $(seq 1 600); do
  [[ ! -f "$PGDATA/recovery.signal" ]] && break
  sleep 0.5
done

PSQL=("${RUN_AS[@]}" "$BINDIR/psql" -h "$SOCK_DIR" -p "$PG_PORT" -U postgres -d postgres -Atq -v ON_ERROR_STOP=1)
# archive_command and archive_timeout follow a reload; archive_mode only a start (a
# cluster started before archiving was configured is restarted once).
"${PSQL[@]}" -c "SELECT pg_reload_conf()" >/dev/null
if [[ "$("${PSQL[@]}" -c "SHOW archive_mode")" != "on" ]]; then
  log "restarting PostgreSQL once to turn on WAL archiving"
  pgctl restart -w -t 60 -m fast -l "$LOGFILE" -o "$START_OPTS" >/dev/null
fi
pgbr_stanza_create "$PGBR_CONF" || log "WAL archiving is not working: see $PGBR_DIR/log"
# Two roles, as in production: the owner runs migrations and partition upkeep; the
# application role owns nothing and gets only the privileges `manage.py db_roles` grants.
"${PSQL[@]}" <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tristate_owner') THEN
    CREATE ROLE tristate_owner LOGIN CREATEDB;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tristate_app') THEN
    CREATE ROLE tristate_app LOGIN;
  END IF;
END \$\$;
ALTER ROLE tristate_app SET search_path = public, accounts, audits, projects, experiments, quarantine, providers, production;
SQL
if [[ "$("${PSQL[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != "1" ]]; then
  "${PSQL[@]}" -c "CREATE DATABASE \"$DB_NAME\" OWNER tristate_owner"
fi

ENC_SOCK="$(printf '%s' "$SOCK_DIR" | sed 's#/#%2F#g')"
BASE="$ENC_SOCK:$PG_PORT/$DB_NAME"
{
  echo "# Written by scripts/pg.sh for the project-local cluster; used when DATABASE_URL is unset."
  echo "DATABASE_URL=postgres://tristate_app@$BASE"
  echo "DATABASE_OWNER_URL=postgres://tristate_owner@$BASE"
  # The cluster's superuser: the test suite uses it (it creates test databases and roles).
  echo "DATABASE_ADMIN_URL=postgres://postgres@$BASE"
} > "$URL_FILE"
echo "DATABASE_OWNER_URL=postgres://tristate_owner@$BASE"
echo "DATABASE_URL=postgres://tristate_app@$BASE"
