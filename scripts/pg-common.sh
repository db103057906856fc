# Shared by scripts/pg.sh and scripts/replica.sh: where the local cluster's binaries,
# data and socket are, and how to run server commands (as `postgres` when root).
# Sourced, not run.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DB_NAME="${PG_DB_NAME:-tristate}"
PG_PORT="${PG_PORT:-5432}"
HASH="$(printf '%s' "$ROOT" | sha1sum | cut -c1-10)"
# Short socket path: unix socket paths are limited to ~107 characters.
SOCK_DIR="${PG_SOCKET_DIR:-/tmp/tristate-sock-$HASH}"
# PG_ENV_FILE: where scripts/pg.sh writes the URLs (a scratch cluster must not overwrite
# the checkout's own .local-db.env).
URL_FILE="${PG_ENV_FILE:-$ROOT/.local-db.env}"

log() { echo "[${LOG_TAG:-pg}] $*" >&2; }

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

# BINDIR: the server binaries, installing the postgresql package with apt only if missing.
ensure_bindir() {
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
}

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
# pgBackRest: config, repository, logs and locks of this cluster's stanza.
PGBR_DIR="$DATA_PARENT/pgbackrest"
PGBR_CONF="$PGBR_DIR/pgbackrest.conf"
PGBR_REPO="$PGBR_DIR/repo"
