#!/usr/bin/env bash
# Shared set-up for `make run` and `make test`: virtualenv, dependencies, database,
# .env with fresh secrets, migrations. Safe and fast to re-run.
# With DATABASE_URL unset, the project-local cluster is started and its URLs are written
# to .local-db.env, which config/env.py reads.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
log() { echo "[setup] $*" >&2; }

PYTHON_BIN="${PYTHON:-$(command -v python3.11 || command -v python3)}"
VENV="$ROOT/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating virtualenv with $PYTHON_BIN"
  "$PYTHON_BIN" -m venv "$VENV"
fi
# requirements-bench.txt: the peers of `make bench-peers`, whose smoke test runs in `make test`.
REQ_HASH="$(cat requirements.txt requirements-dev.txt requirements-bench.txt | sha1sum | cut -c1-40)"
if [[ "$(cat "$VENV/.requirements-hash" 2>/dev/null)" != "$REQ_HASH" ]]; then
  log "installing requirements"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt -r requirements-bench.txt >&2
  echo "$REQ_HASH" > "$VENV/.requirements-hash"
fi

if [[ ! -f .env ]]; then
  log "writing .env with fresh random secrets"
  "$VENV/bin/python" scripts/make_env.py > .env
  chmod 600 .env
fi

if [[ -z "${DATABASE_URL:-}" ]]; then
  scripts/pg.sh start >/dev/null
fi

if [[ "${SKIP_MIGRATE:-0}" != "1" ]]; then
  log "applying migrations"
  # As the owner role when DATABASE_OWNER_URL is set (then the app role's grants follow).
  "$VENV/bin/python" manage.py migrate --noinput -v 0 >&2
fi
