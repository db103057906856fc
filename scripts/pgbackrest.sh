#!/usr/bin/env bash
# Backups and point-in-time restores of the project-local cluster with pgBackRest
# (stanza `tristate`; scripts/pg.sh configures the archiving).
#
#   scripts/pgbackrest.sh backup    BACKUP_TYPE=full|diff|incr (default incr; full when
#                                   none exists), then a repository check; prints the
#                                   label, size and duration
#   scripts/pgbackrest.sh restore   latest, or TARGET_TIME="2026-12-07 12:00:00+00";
#                                   CONFIRM=yes to overwrite a running cluster; stops
#                                   and restarts it, records the restore in the audit
#                                   log, then verifies the chain
#   scripts/pgbackrest.sh drill     the restore drill: the latest backup restored into a
#                                   scratch data directory, chain and tallies verified there
#   scripts/pgbackrest.sh info      what the repository holds
#
# With DATABASE_URL set this refuses: an external server is backed up on its own host
# (docs/operations.md). PG_DATA_DIR / PG_SOCKET_DIR / PG_ENV_FILE select another local
# cluster, as for scripts/pg.sh.
set -euo pipefail
ACTION="${1:-}"
LOG_TAG=pgbackrest
HERE="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/pg-common.sh
source "$HERE/pg-common.sh"
# shellcheck source=scripts/pgbackrest-common.sh
source "$HERE/pgbackrest-common.sh"
PY="${PYTHON:-$ROOT/.venv/bin/python}"

if [[ -n "${DATABASE_URL:-}" ]]; then
  log "DATABASE_URL is set: backups of an external server are taken on that server (docs/operations.md)"
  exit 2
fi
ensure_bindir
ensure_pgbackrest
pgctl() { "${RUN_AS[@]}" "$BINDIR/pg_ctl" -D "$PGDATA" "$@"; }
now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# The newest backup in the repository: "label size_bytes repo_size_bytes".
latest_backup() {
  pgbr "$PGBR_CONF" info --output=json | python3 -c '
import json, sys
stanzas = json.load(sys.stdin)
backups = stanzas[0].get("backup", []) if stanzas else []
if backups:
    b = backups[-1]
    print(b["label"], b["info"]["size"], b["info"]["repository"]["delta"])'
}

human() { numfmt --to=iec --suffix=B "$1" 2>/dev/null || echo "${1} bytes"; }

do_backup() {
  local type="${BACKUP_TYPE:-incr}" started label size stored
  case "$type" in full|diff|incr) ;; *) log "BACKUP_TYPE must be full, diff or incr (got '$type')"; exit 2 ;; esac
  # Starts the cluster when needed and makes sure archiving and the stanza are set up.
  "$HERE/pg.sh" start >/dev/null
  started="$(now)"
  # A diff or incr without a full before it is taken as a full by pgBackRest.
  pgbr "$PGBR_CONF" backup --type="$type" --log-level-console=warn >&2
  pgbr "$PGBR_CONF" check --log-level-console=warn >&2
  read -r label size stored <<<"$(latest_backup)"
  echo "backup:   $label ($type requested)"
  echo "size:     $(human "$size") of database, $(human "$stored") written to the repository"
  echo "duration: $(seconds_since "$started") s (backup and repository check)"
  echo "repository: $PGBR_REPO"
}

# TARGET_TIME in pgBackRest's form (UTC, "YYYY-MM-DD HH:MM:SS.ffffff+00"); any ISO 8601
# time is accepted, one without a zone is taken as UTC.
normalise_time() {
  python3 -c '
import sys
from datetime import datetime, timezone
try:
    t = datetime.fromisoformat(sys.argv[1].strip())
except ValueError:
    sys.exit("TARGET_TIME is not an ISO 8601 date and time: %r" % sys.argv[1])
t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
print(t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00"))' "$1"
}

do_restore() {
  local target="" started out label opts=()
  if [[ -n "${TARGET_TIME:-}" ]]; then target="$(normalise_time "$TARGET_TIME")"; fi
  if pgctl status >/dev/null 2>&1 && [[ "${CONFIRM:-}" != "yes" ]]; then
    log "the cluster in $PGDATA is running: restoring replaces its data. Run again with CONFIRM=yes"
    exit 2
  fi
  if [[ -z "$(latest_backup)" ]]; then
    log "the repository $PGBR_REPO holds no backup: nothing to restore (make backup first)"
    exit 1
  fi
  started="$(now)"
  if pgctl status >/dev/null 2>&1; then
    # Archive the WAL written so far (check switches to a new segment and waits for the
    # old one to be archived): a target time just before now must be reachable.
    pgbr "$PGBR_CONF" check --log-level-console=warn >&2 || log "could not archive the current WAL segment"
  fi
  # A streaming replica of the old cluster cannot follow the restored one (another
  # timeline): it is removed; `scripts/replica.sh start` (make test) makes a new one.
  if [[ -d "${DATA_PARENT}-replica" ]]; then
    log "removing the local replica of the old cluster"
    "$HERE/replica.sh" destroy || true
  fi
  "$HERE/pg.sh" stop
  if [[ -s "$PGDATA/PG_VERSION" ]]; then
    opts+=(--delta)  # rewrite only the files that differ from the backup
  else
    mkdir -p "$PGDATA"
    chmod 0700 "$PGDATA"
    if [[ ${#RUN_AS[@]} -gt 0 ]]; then chown postgres: "$PGDATA"; fi
  fi
  if [[ -n "$target" ]]; then
    # pgBackRest picks the newest backup that ended before the target.
    opts+=(--type=time "--target=$target" --target-action=promote)
  fi
  log "restoring $PGDATA from $PGBR_REPO${target:+ to $target}"
  out="$(pgbr "$PGBR_CONF" restore "${opts[@]}" --log-level-console=info 2>&1)" || { echo "$out" >&2; exit 1; }
  label="$(sed -n 's/.*restore backup set \([^ ,]*\).*/\1/p' <<<"$out" | head -n1)"
  # Recovery runs on a private socket the application does not know, and the restore's
  # audit entry is written there: it is the first entry after the restore, whatever the
  # application tries meanwhile. Then the server restarts on its usual socket.
  local private="${SOCK_DIR}-restore"
  mkdir -p "$private"
  chmod 0700 "$private"
  if [[ ${#RUN_AS[@]} -gt 0 ]]; then chown postgres: "$private"; fi
  pgctl start -w -t 300 -l "$LOGFILE" -o "-k $private -p $PG_PORT -c listen_addresses=''" >/dev/null
  local i
  for i in $(seq 1 1200); do  # hot standby answers while it replays: wait for the promotion
    [[ ! -f "$PGDATA/recovery.signal" ]] && break
    sleep 0.5
  done
  if [[ -f "$PGDATA/recovery.signal" ]]; then
    log "recovery did not finish in 10 minutes (see $LOGFILE); the server runs on $private"
    exit 1
  fi
  local enc
  enc="$(printf '%s' "$private" | sed 's#/#%2F#g')"
  echo "restored: backup $label${target:+, to $target}, recovered after $(seconds_since "$started") s"
  (cd "$ROOT" && DATABASE_URL="postgres://tristate_app@$enc:$PG_PORT/$DB_NAME" \
      DATABASE_OWNER_URL="postgres://tristate_owner@$enc:$PG_PORT/$DB_NAME" \
      "$PY" manage.py audit_restore_record --backup-label "$label" --target-time "$target")
  pgctl stop -m fast -w >/dev/null
  rmdir "$private" 2>/dev/null || true
  local urls
  urls="$("$HERE/pg.sh" start)"
  # verify_audit_chain works on this cluster, whichever checkout env file it has.
  export DATABASE_URL DATABASE_OWNER_URL
  DATABASE_URL="$(sed -n 's/^DATABASE_URL=//p' <<<"$urls")"
  DATABASE_OWNER_URL="$(sed -n 's/^DATABASE_OWNER_URL=//p' <<<"$urls")"
  echo "serving again on $SOCK_DIR after $(seconds_since "$started") s"
  (cd "$ROOT" && "$PY" manage.py verify_audit_chain)
  echo "duration: $(seconds_since "$started") s (restore, recovery, audit entry, chain verification)"
}

# The restore drill: the latest backup restored into a scratch data directory beside the
# cluster, started on its own socket with archiving off (it must not push into the
# repository), the chain and the tallies verified there, row counts printed; then
# stopped and deleted. KEEP=yes leaves it running (its URL is printed).
do_drill() {
  local scratch="$DATA_PARENT/drill" sock="${SOCK_DIR}-d" started url
  started="$(now)"
  if [[ -f "$scratch/data/postmaster.pid" ]]; then
    "${RUN_AS[@]}" "$BINDIR/pg_ctl" -D "$scratch/data" stop -m immediate -w >&2 || true
  fi
  rm -rf "$scratch" "$sock"
  mkdir -p "$scratch/data" "$sock"
  chmod 0700 "$scratch" "$scratch/data" "$sock"
  if [[ ${#RUN_AS[@]} -gt 0 ]]; then chown -R postgres: "$scratch" "$sock"; fi
  pgbr "$PGBR_CONF" restore --pg1-path="$scratch/data" --archive-mode=off --type=immediate \
      --target-action=promote --log-level-console=warn >&2
  "${RUN_AS[@]}" "$BINDIR/pg_ctl" -D "$scratch/data" start -w -t 300 -l "$scratch/server.log" \
      -o "-k $sock -p $PG_PORT -c listen_addresses='' -c hot_standby=off" >/dev/null
  # Connections are refused until recovery has reached the end of the backup and promoted.
  local i
  for i in $(seq 1 600); do
    [[ "$("${RUN_AS[@]}" "$BINDIR/psql" -h "$sock" -p "$PG_PORT" -U postgres -d postgres -Atq \
        -c "SELECT NOT pg_is_in_recovery()" 2>/dev/null)" == "t" ]] && break
    sleep 0.5
  done
  url="postgres://postgres@$(printf '%s' "$sock" | sed 's#/#%2F#g'):$PG_PORT/$DB_NAME"
  # Counted before the checks below, which write their own audit entries.
  echo "rows: $("${RUN_AS[@]}" "$BINDIR/psql" -h "$sock" -p "$PG_PORT" -U postgres -d "$DB_NAME" -Atq -c "
    SELECT string_agg(t || '=' || n, ' ' ORDER BY t) FROM (
      SELECT 'audit_log' AS t, count(*) AS n FROM audits.audit_log
      UNION ALL SELECT 'projects', count(*) FROM projects.projects
      UNION ALL SELECT 'experiments', count(*) FROM experiments.experiments
      UNION ALL SELECT 'usage_tracking', count(*) FROM providers.usage_tracking) counts")"
  local status=0
  (cd "$ROOT" && DATABASE_URL="$url" DATABASE_OWNER_URL="" "$PY" manage.py verify_audit_chain --no-seal) || status=1
  (cd "$ROOT" && DATABASE_URL="$url" DATABASE_OWNER_URL="" "$PY" manage.py tallies) || status=1
  echo "drill: latest backup restored and checked in $(seconds_since "$started") s"
  if [[ "${KEEP:-}" == "yes" ]]; then
    echo "DRILL_DATABASE_URL=$url"
  else
    "${RUN_AS[@]}" "$BINDIR/pg_ctl" -D "$scratch/data" stop -m fast -w >/dev/null
    rm -rf "$scratch" "$sock"
  fi
  return "$status"
}

case "$ACTION" in
  backup) do_backup ;;
  restore) do_restore ;;
  drill) do_drill ;;
  info) pgbr "$PGBR_CONF" info ;;
  *) log "usage: scripts/pgbackrest.sh backup|restore|drill|info"; exit 2 ;;
esac
