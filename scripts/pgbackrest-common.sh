# pgBackRest helpers shared by scripts/pg.sh, scripts/replica.sh, scripts/pgbackrest.sh
# (and any other script that archives a cluster). Sourced, not run; expects log() and
# RUN_AS (from scripts/pg-common.sh, or the caller's own).
#
# One stanza per cluster, everything it needs in one folder (config, repository, logs,
# locks, spool), so two checkouts on one machine never share a lock or a repository.

PGBR_STANZA="${PGBR_STANZA:-tristate}"
# Kept in the repository: two full backups (and the WAL they need), and the
# differentials of the newest full. Incrementals go with the backup they build on.
PGBR_RETENTION_FULL="${PGBR_RETENTION_FULL:-2}"
PGBR_RETENTION_DIFF="${PGBR_RETENTION_DIFF:-7}"
PGBR_ARCHIVE_TIMEOUT="${PGBR_ARCHIVE_TIMEOUT:-60}"

# ensure_pgbackrest: install the Debian package with apt only when the binary is missing.
ensure_pgbackrest() {
  if command -v pgbackrest >/dev/null 2>&1; then return 0; fi
  log "pgbackrest not found: installing the pgbackrest package with apt"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq pgbackrest >&2; then
    apt-get update -qq >&2 && apt-get install -y -qq pgbackrest >&2
  fi
  command -v pgbackrest >/dev/null 2>&1
}

# pgbr_write_config CONFIG_FILE REPO_PATH PG_PATH SOCKET_DIR PORT
# Writes (overwrites) a stanza config: repository REPO_PATH, cluster PG_PATH reached on
# SOCKET_DIR:PORT. Logs, locks and spool sit beside the config file. Idempotent.
pgbr_write_config() {
  local conf="$1" repo="$2" pg_path="$3" sock="$4" port="$5"
  local dir
  dir="$(dirname "$conf")"
  mkdir -p "$dir/log" "$dir/lock" "$dir/spool" "$repo"
  cat > "$conf.tmp" <<CONF
# Written by scripts/pgbackrest-common.sh (pgbr_write_config); rewritten on every start.
[global]
repo1-path=$repo
repo1-retention-full-type=count
repo1-retention-full=$PGBR_RETENTION_FULL
repo1-retention-diff=$PGBR_RETENTION_DIFF
compress-type=lz4
start-fast=y
log-path=$dir/log
lock-path=$dir/lock
spool-path=$dir/spool
log-level-console=info
log-level-file=info

[$PGBR_STANZA]
pg1-path=$pg_path
pg1-socket-path=$sock
pg1-port=$port
pg1-user=postgres
CONF
  mv "$conf.tmp" "$conf"
  chmod 0640 "$conf"
  if [[ ${#RUN_AS[@]} -gt 0 ]]; then chown -R postgres: "$dir" "$repo"; fi
}

# pgbr CONFIG_FILE ARGS...: run pgbackrest on that config's stanza as the server user.
pgbr() {
  local conf="$1"; shift
  "${RUN_AS[@]}" pgbackrest --config="$conf" --stanza="$PGBR_STANZA" "$@"
}

# pgbr_archive_settings CONFIG_FILE: the postgresql.conf lines that archive into it.
# archive_command names the data directory itself (pg1-path): PostgreSQL runs it with
# the data directory as working directory and %p relative to it, and pgBackRest resolves
# %p against pg1-path, so a promoted copy must not push its primary's files.
pgbr_archive_settings() {
  local conf="$1" pg_path="$2"
  cat <<CONF
# Written by scripts/pgbackrest-common.sh (pgbr_archive_settings); rewritten on every start.
archive_mode = on
archive_command = 'pgbackrest --config=$conf --stanza=$PGBR_STANZA --pg1-path=$pg_path archive-push %p'
archive_timeout = $PGBR_ARCHIVE_TIMEOUT
CONF
}

# pgbr_configure_cluster PGDATA CONFIG_FILE: make the cluster archive into CONFIG_FILE's
# repository through an included file (tristate-archive.conf, rewritten every time, so
# re-running changes nothing). Prints "restart" when a running server needs a restart
# for it (archive_mode is read at start only).
pgbr_configure_cluster() {
  local pgdata="$1" conf="$2" settings_file="$1/tristate-archive.conf"
  local tmp
  tmp="$(pgbr_archive_settings "$conf" "$pgdata")"
  if [[ "$(cat "$settings_file" 2>/dev/null)" != "$tmp" ]]; then
    printf '%s\n' "$tmp" > "$settings_file"
    if [[ ${#RUN_AS[@]} -gt 0 ]]; then chown postgres: "$settings_file"; fi
  fi
  if ! grep -q "^include_if_exists = 'tristate-archive.conf'" "$pgdata/postgresql.conf"; then
    printf '%s\n' "include_if_exists = 'tristate-archive.conf'  # continuous archiving (pgBackRest)" \
      >> "$pgdata/postgresql.conf"
  fi
}

# pgbr_stanza_create CONFIG_FILE: create the stanza (idempotent). A repository left by an
# earlier cluster of the same path (another system identifier) cannot take this one's
# WAL: it is moved aside, not deleted, and a new one is made.
pgbr_stanza_create() {
  local conf="$1" out repo
  if out="$(pgbr "$conf" stanza-create 2>&1)"; then return 0; fi
  if grep -qi "do not match the database\|system-id\|identifier" <<<"$out"; then
    local aside
    repo="$(sed -n 's/^repo1-path=//p' "$conf")"
    aside="$repo.old-$(date +%Y%m%d-%H%M%S)"
    log "the pgBackRest repository $repo holds backups of another cluster (a data directory made anew):"
    log "moved to $aside; to restore from those backups, stop the cluster, move it back and run make restore"
    mv "$repo" "$aside"
    mkdir -p "$repo"
    if [[ ${#RUN_AS[@]} -gt 0 ]]; then chown postgres: "$repo"; fi
    pgbr "$conf" stanza-create --log-level-console=warn >&2 && return 0
  fi
  log "pgBackRest stanza-create failed: $out"
  return 1
}
