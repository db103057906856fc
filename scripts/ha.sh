#!/usr/bin/env bash
# A three-node PostgreSQL cluster on this machine, managed by Patroni with one etcd
# member as its consensus store: for trying and testing failover (docs/scaling.md).
#
#   scripts/ha.sh [start]   start (or reuse) etcd and the three nodes, print the URLs last
#   scripts/ha.sh status    patronictl list
#   scripts/ha.sh stop      stop the three nodes and etcd (data kept)
#   scripts/ha.sh destroy   stop, then delete every file of the cluster
#   scripts/ha.sh urls      print the URLs again
#
# Everything listens on 127.0.0.1 only. Ports: etcd HA_PORT_BASE (+1 for its peers), the
# nodes HA_PORT_BASE+2..+4, their Patroni REST APIs +5..+7 (default base 15440). State
# lives in HA_DIR (default ./.ha, or /tmp/tristate-ha-<hash> when the postgres user
# cannot traverse the checkout). Passwords are generated once into HA_DIR/secrets.env.
# Patroni, etcd and pgBackRest come from Debian (installed with apt when missing).
# PostgreSQL and Patroni run as `postgres` (as root every server command is switched).
set -euo pipefail
ACTION="${1:-start}"
LOG_TAG=ha
# shellcheck source=scripts/pg-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/pg-common.sh"
PGBR_STANZA=tristate-ha
# shellcheck source=scripts/pgbackrest-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/pgbackrest-common.sh"

BASE_PORT="${HA_PORT_BASE:-15440}"
ETCD_PORT=$BASE_PORT
ETCD_PEER_PORT=$((BASE_PORT + 1))
NODES=(1 2 3)
pg_port() { echo $((BASE_PORT + 1 + $1)); }
rest_port() { echo $((BASE_PORT + 4 + $1)); }
HA_DB="${HA_DB_NAME:-$DB_NAME}"

if [[ -n "${HA_DIR:-}" ]]; then
  :
elif "${RUN_AS[@]}" test -x "$ROOT" 2>/dev/null && "${RUN_AS[@]}" test -r "$ROOT" 2>/dev/null; then
  HA_DIR="$ROOT/.ha"
else
  HA_DIR="/tmp/tristate-ha-$HASH"
fi
URL_FILE_HA="$HA_DIR/urls.env"
PGBR_CONF="$HA_DIR/pgbackrest/pgbackrest.conf"

# Long-running processes as the server user. env and setpriv exec (no wrapper process
# stays), so `$!` after "${AS_SERVER[@]}" cmd & is the pid of cmd itself.
AS_SERVER=(env)
if [[ ${#RUN_AS[@]} -gt 0 ]]; then
  AS_SERVER=(env HOME=/var/lib/postgresql setpriv --reuid=postgres --regid=postgres --init-groups --)
fi

alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pid() {  # pidfile, seconds to wait before SIGKILL
  local pidfile=$1 wait=${2:-30} pid
  alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((wait * 5))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

ensure_packages() {
  local missing=()
  command -v patroni >/dev/null || missing+=(patroni python3-etcd)
  command -v etcd >/dev/null || missing+=(etcd-server)
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing ${missing[*]} with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq "${missing[@]}" >&2
  fi
}

# GET a loopback URL (python3 is there: Patroni runs on it; curl may not be).
http_get() {
  python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())' \
    "$1" 2>/dev/null
}

# The cluster as Patroni's REST API of any live node sees it (JSON), or nothing.
cluster_json() {
  local n
  for n in "${NODES[@]}"; do
    http_get "http://127.0.0.1:$(rest_port "$n")/cluster" && return 0
  done
  return 1
}

# "name port" of the running leader, or nothing.
leader() {
  cluster_json | python3 -c '
import json, sys
for m in json.load(sys.stdin)["members"]:
    if m["role"] == "leader" and m["state"] == "running":
        print(m["name"], m["port"])' 2>/dev/null || true
}

running_members() {
  cluster_json | python3 -c '
import json, sys
print(sum(m["state"] in ("running", "streaming") for m in json.load(sys.stdin)["members"]))' 2>/dev/null || echo 0
}

patronictl_() { patronictl -c "$HA_DIR/node1/patroni.yml" "$@"; }

write_urls() {
  # shellcheck disable=SC1091
  source "$HA_DIR/secrets.env"
  local hosts="" n
  for n in "${NODES[@]}"; do hosts+="${hosts:+,}127.0.0.1:$(pg_port "$n")"; done
  # libpq multi-host URLs: the writer connects to whichever node accepts writes, readers
  # prefer a standby; connect_timeout bounds each attempt, so no request hangs on a node.
  local rw="target_session_attrs=read-write&connect_timeout=3"
  {
    echo "# Written by scripts/ha.sh: the local Patroni cluster."
    # Quoted: the file is meant to be sourced, and `&` would end a shell command.
    echo "DATABASE_URL='postgres://tristate_app:$APP_PASSWORD@$hosts/$HA_DB?$rw'"
    echo "DATABASE_OWNER_URL='postgres://tristate_owner:$OWNER_PASSWORD@$hosts/$HA_DB?$rw'"
    echo "DATABASE_REPLICA_URL='postgres://tristate_app:$APP_PASSWORD@$hosts/$HA_DB?target_session_attrs=prefer-standby&load_balance_hosts=random&connect_timeout=3'"
    echo "DATABASE_ADMIN_URL='postgres://postgres:$SUPERUSER_PASSWORD@$hosts/postgres?$rw'"
  } > "$URL_FILE_HA"
  chmod 600 "$URL_FILE_HA"
}

node_config() {  # node number
  local n=$1 dir="$HA_DIR/node$1"
  # shellcheck disable=SC1091
  source "$HA_DIR/secrets.env"
  # Failover timing (docs/scaling.md): a crashed leader is failed over at once
  # (primary_start_timeout 0; safe: synchronous mode promotes only the synchronous
  # standby), and a vanished one within ttl. loop_wait + 2 * retry_timeout <= ttl.
  cat > "$dir/patroni.yml" <<YAML
scope: tristate-ha
namespace: /tristate/
name: node$n
log:
  level: INFO
restapi:
  listen: 127.0.0.1:$(rest_port "$n")
  connect_address: 127.0.0.1:$(rest_port "$n")
etcd3:
  hosts: 127.0.0.1:$ETCD_PORT
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    primary_start_timeout: 0
    synchronous_mode: true
    synchronous_mode_strict: false
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 200
        shared_buffers: 128MB
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        archive_mode: "on"
        archive_timeout: $PGBR_ARCHIVE_TIMEOUT
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
postgresql:
  listen: 127.0.0.1:$(pg_port "$n")
  connect_address: 127.0.0.1:$(pg_port "$n")
  data_dir: $dir/data
  bin_dir: $BINDIR
  pgpass: $dir/pgpass
  authentication:
    superuser: {username: postgres, password: "$SUPERUSER_PASSWORD"}
    replication: {username: replicator, password: "$REPLICATION_PASSWORD"}
    rewind: {username: rewinder, password: "$REWIND_PASSWORD"}
  parameters:
    unix_socket_directories: $dir/sock
    archive_command: pgbackrest --config=$PGBR_CONF --stanza=$PGBR_STANZA --pg1-path=$dir/data archive-push %p
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
YAML
}

case "$ACTION" in
  start) ;;
  urls) cat "$URL_FILE_HA"; exit 0 ;;
  status) patronictl_ list; exit 0 ;;
  stop|destroy)
    # Standbys first, so the leader never sees its synchronous standby vanish mid-stop.
    lead="$(leader | cut -d' ' -f1)"
    for n in "${NODES[@]}"; do [[ "node$n" == "$lead" ]] || stop_pid "$HA_DIR/node$n/patroni.pid"; done
    for n in "${NODES[@]}"; do stop_pid "$HA_DIR/node$n/patroni.pid"; done
    if [[ "$ACTION" == destroy ]]; then
      ensure_bindir
      # A postmaster left by a Patroni killed hard would keep its port: stop it too.
      for n in "${NODES[@]}"; do
        if [[ -f "$HA_DIR/node$n/data/postmaster.pid" ]]; then
          "${RUN_AS[@]}" "$BINDIR/pg_ctl" -D "$HA_DIR/node$n/data" stop -m immediate >/dev/null 2>&1 || true
        fi
      done
    fi
    stop_pid "$HA_DIR/etcd.pid" 10
    [[ "$ACTION" == destroy ]] && rm -rf "$HA_DIR"
    exit 0 ;;
  *) log "unknown action: $ACTION"; exit 2 ;;
esac

ensure_bindir
ensure_packages
ensure_pgbackrest
mkdir -p "$HA_DIR"
chmod 0700 "$HA_DIR"
if [[ ! -s "$HA_DIR/secrets.env" ]]; then
  umask 077
  {
    for name in SUPERUSER REPLICATION REWIND OWNER APP; do
      echo "${name}_PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
    done
  } > "$HA_DIR/secrets.env"
  umask 022
fi
for n in "${NODES[@]}"; do mkdir -p "$HA_DIR/node$n/sock"; chmod 0700 "$HA_DIR/node$n" "$HA_DIR/node$n/sock"; done
mkdir -p "$HA_DIR/etcd"
# Written now so the first node's archive_command finds it; pg1 is set to the leader below.
pgbr_write_config "$PGBR_CONF" "$HA_DIR/pgbackrest/repo" "$HA_DIR/node1/data" "$HA_DIR/node1/sock" "$(pg_port 1)"
if [[ ${#RUN_AS[@]} -gt 0 ]]; then chown -R postgres: "$HA_DIR"; fi

# --- etcd ------------------------------------------------------------------------------
if ! alive "$HA_DIR/etcd.pid"; then
  log "starting etcd on 127.0.0.1:$ETCD_PORT"
  "${AS_SERVER[@]}" etcd --name ha-etcd --data-dir "$HA_DIR/etcd/data" \
      --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-cluster "ha-etcd=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-token "tristate-ha-$BASE_PORT" \
      >> "$HA_DIR/etcd/etcd.log" 2>&1 < /dev/null &
  echo $! > "$HA_DIR/etcd.pid"
  for _ in $(seq 100); do
    http_get "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"' && break
    alive "$HA_DIR/etcd.pid" || { tail -20 "$HA_DIR/etcd/etcd.log" >&2; exit 1; }
    sleep 0.2
  done
fi

# --- the three nodes ---------------------------------------------------------------------
start_node() {
  local n=$1
  alive "$HA_DIR/node$n/patroni.pid" && return 0
  node_config "$n"
  if [[ ${#RUN_AS[@]} -gt 0 ]]; then chown postgres: "$HA_DIR/node$n/patroni.yml"; fi
  log "starting Patroni node$n (PostgreSQL on 127.0.0.1:$(pg_port "$n"))"
  "${AS_SERVER[@]}" patroni "$HA_DIR/node$n/patroni.yml" >> "$HA_DIR/node$n/patroni.log" 2>&1 < /dev/null &
  echo $! > "$HA_DIR/node$n/patroni.pid"
}

wait_for() {  # seconds, description, command...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq $((seconds * 2))); do "$@" && return 0; sleep 0.5; done
  log "timed out waiting for $what"
  return 1
}

# The first node bootstraps (or whichever held the data before); the others clone from it.
start_node 1
has_leader() { [[ -n "$(leader)" ]]; }
all_running() { [[ "$(running_members)" -eq 3 ]]; }
wait_for 120 "a leader" has_leader
start_node 2
start_node 3
wait_for 180 "three running members" all_running

read -r LEADER_NAME LEADER_PORT <<< "$(leader)"
LEADER_SOCK="$HA_DIR/${LEADER_NAME}/sock"
# shellcheck disable=SC1091
source "$HA_DIR/secrets.env"
PSQL=("${RUN_AS[@]}" "$BINDIR/psql" -h "$LEADER_SOCK" -p "$LEADER_PORT" -U postgres -d postgres -Atq -v ON_ERROR_STOP=1)
# The same two roles as scripts/pg.sh, with passwords: the nodes are reached over TCP.
"${PSQL[@]}" <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tristate_owner') THEN
    CREATE ROLE tristate_owner LOGIN CREATEDB;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tristate_app') THEN
    CREATE ROLE tristate_app LOGIN;
  END IF;
END \$\$;
ALTER ROLE tristate_owner PASSWORD '$OWNER_PASSWORD';
ALTER ROLE tristate_app PASSWORD '$APP_PASSWORD';
ALTER ROLE tristate_app SET search_path = public, accounts, audits, projects, experiments, quarantine, providers, production;
SQL
if [[ "$("${PSQL[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$HA_DB'")" != "1" ]]; then
  "${PSQL[@]}" -c "CREATE DATABASE \"$HA_DB\" OWNER tristate_owner"
fi

# pgBackRest (scripts/pgbackrest-common.sh): one repository, fed by whichever node leads
# (each node's archive_command names its own data directory; the stanza is the
# cluster's, one system identifier). The config's pg1 is the leader of this start.
pgbr_write_config "$PGBR_CONF" "$HA_DIR/pgbackrest/repo" "$HA_DIR/$LEADER_NAME/data" "$LEADER_SOCK" "$LEADER_PORT"
pgbr_stanza_create "$PGBR_CONF"

write_urls
if [[ "${HA_SKIP_MIGRATE:-0}" != "1" ]]; then
  log "applying migrations and the application role's grants"
  (
    set -a
    # shellcheck disable=SC1090
    source "$URL_FILE_HA"
    set +a
    unset DATABASE_ADMIN_URL DATABASE_REPLICA_URL
    [[ "$DATABASE_URL" == *target_session_attrs=read-write* ]] || { log "bad $URL_FILE_HA"; exit 1; }
    cd "$ROOT"
    "$ROOT/.venv/bin/python" manage.py migrate --noinput -v 0 >&2
  )
fi
grep '^DATABASE_' "$URL_FILE_HA" | grep -v ADMIN
