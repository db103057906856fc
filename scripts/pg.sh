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
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
ACTION="${1:-start}"
DB_NAME="${PG_DB_NAME:-tristate}"
PG_PORT="${PG_PORT:-5432}"
HASH="$(printf '%s' "$ROOT" | sha1sum | cut -c1-10)"
# Short socket path: unix socket paths are limited to ~107 characters.
SOCK_DIR="${PG_SOCKET_DIR:-/tmp/tristate-sock-$HASH}"
URL_FILE="$ROOT/.local-db.env"

log() { echo "[pg] $*" >&2; }

if [[ -n "${DATABASE_URL:-}" && "$ACTION" == "start" ]]; then
  log "DATABASE_URL is set: using that server, no local cluster started"
  echo "DATABASE_URL=$DATABASE_URL"
  exit 0
fi

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return 0; }
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"; return 0
  fi
  return 1
}

BINDIR="$(find_bindir || true)"
if [[ -z "$BINDIR" ]]; then
  log "no PostgreSQL binaries found: installing the postgresql package with apt"
  # Do not let the Debian package create and start its own cluster on port 5432.
  mkdir -p /etc/postgresql-common
  if ! grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
    echo "create_main_cluster = false" >> /etc/postgresql-common/createcluster.conf
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
  BINDIR="$(find_bindir)"
fi

RUN_AS=()
PG_USER="$(id -un)"
if [[ "$(id -u)" == "0" ]]; then
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
  fi
  RUN_AS=(runuser -u postgres --)
  PG_USER=postgres
fi

# Can the server user reach a folder inside the checkout?
if [[ -n "${PG_DATA_DIR:-}" ]]; then
  DATA_PARENT="$PG_DATA_DIR"
elif "${RUN_AS[@]}" test -x "$ROOT" 2>/dev/null && "${RUN_AS[@]}" test -r "$ROOT" 2>/dev/null; then
  DATA_PARENT="$ROOT/.pgdata"
else
  DATA_PARENT="/tmp/tristate-pg-$HASH"
fi
PGDATA="$DATA_PARENT/data"
LOGFILE="$DATA_PARENT/server.log"

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

if ! pgctl status >/dev/null 2>&1; then
  rm -f "$PGDATA/postmaster.pid"
  LISTEN="${PG_LISTEN:-}"
  log "starting PostgreSQL ($BINDIR) on socket $SOCK_DIR"
  pgctl start -w -t 60 -l "$LOGFILE" \
      -o "-k $SOCK_DIR -p $PG_PORT -c listen_addresses='$LISTEN'" >/dev/null
fi

PSQL=("${RUN_AS[@]}" "$BINDIR/psql" -h "$SOCK_DIR" -p "$PG_PORT" -U postgres -d postgres -Atq -v ON_ERROR_STOP=1)
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
