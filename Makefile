# Tristate: `make run` serves the app, `make test` runs the whole suite.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PY := .venv/bin/python
SETUP = scripts/bootstrap.sh
TEST_SETUP = SKIP_MIGRATE=1 scripts/bootstrap.sh

.PHONY: run test db stop bench soak lint clean help backup restore bench-peers ha ha-status ha-stop test-ha dump load-dump

help:
	@echo "make run   - set up everything and serve on http://127.0.0.1:8000"
	@echo "make test  - set up everything and run the whole test suite"
	@echo "make db    - start the local PostgreSQL cluster and print DATABASE_URL"
	@echo "make bench - run the benchmarks (see bench/README.md)"
	@echo "make bench-peers - Tristate beside plain DRF, pghistory, auditlog, simple-history (BENCH_QUICK=1: 1 min)"
	@echo "make soak  - 16 clients for 60 s against gunicorn: no 5xx, counters and chain intact"
	@echo "make stop  - stop the local PostgreSQL cluster"
	@echo "make ha    - start a local three-node Patroni cluster (etcd, sync replication) and print its URLs"
	@echo "make ha-status / ha-stop - patronictl list / stop that cluster (data kept)"
	@echo "make backup [BACKUP_TYPE=full|diff|incr]     - pgBackRest backup of the local cluster, then a repository check"
	@echo "make restore [TARGET_TIME=...] [CONFIRM=yes] - restore the local cluster (latest, or to a point in time)"
	@echo "make restore-drill                           - restore the latest backup into a scratch directory and verify it"
	@echo "make dump [OUT=file]                         - pg_dump of the whole database (moving data, not the backup)"
	@echo "make load-dump FILE=x [DBNAME=db]            - load a dump into an empty database"

run:
	@$(SETUP); \
	$(PY) manage.py ensure_demo_admin; \
	echo "Serving Tristate on http://127.0.0.1:8000 (admin: /admin/, API docs: /api/docs/)"; \
	exec $(PY) manage.py runserver 127.0.0.1:8000

test:
	@$(TEST_SETUP); \
	scripts/ensure_chromium.sh; \
	if [ -z "$${DATABASE_URL:-}" ]; then scripts/replica.sh start >/dev/null || echo "[test] no local replica: its tests will skip"; fi; \
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest $(PYTEST_ARGS)

db:
	@scripts/pg.sh start

stop:
	@scripts/replica.sh stop; scripts/pg.sh stop

# The Patroni cluster (scripts/ha.sh, docs/scaling.md). DATABASE_URL=unused: the set-up
# only makes the virtualenv and .env here, it starts no single-node cluster.
ha:
	@DATABASE_URL=unused SKIP_MIGRATE=1 $(SETUP); scripts/ha.sh start

ha-status:
	@scripts/ha.sh status

ha-stop:
	@scripts/ha.sh stop

# Failover tests: each starts its own throwaway Patroni cluster (core/tests/test_ha.py).
test-ha:
	@$(TEST_SETUP); DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest core/tests/test_ha.py $(PYTEST_ARGS)

# mypy: what it checks is in pyproject.toml [tool.mypy].
lint:
	@$(PY) -m ruff check . && $(PY) -m ruff format --check -q . && $(PY) -m mypy && \
	$(PY) manage.py makemigrations --check --dry-run -v 0

# Physical backups and point-in-time restores of the local cluster (docs/operations.md).
backup:
	@$(SETUP); BACKUP_TYPE="$(BACKUP_TYPE)" scripts/pgbackrest.sh backup

# No set-up first: it would start (or create) the cluster that is about to be replaced.
restore:
	@TARGET_TIME="$(TARGET_TIME)" CONFIRM="$(CONFIRM)" scripts/pgbackrest.sh restore

# The latest backup restored into a scratch data directory and verified there.
restore-drill:
	@KEEP="$(KEEP)" scripts/pgbackrest.sh drill

# The logical export (pg_dump / pg_restore): for moving data between servers.
dump:
	@$(SETUP); $(PY) manage.py backup $(if $(OUT),--out $(OUT))

load-dump:
	@test -n "$(FILE)" || { echo "usage: make load-dump FILE=backups/x.dump [DBNAME=fresh_db]"; exit 2; }
	@$(SETUP); $(PY) manage.py restore "$(FILE)" $(if $(DBNAME),--dbname $(DBNAME))

soak:
	@$(SETUP); $(PY) -m bench soak

bench:
	@$(SETUP); $(PY) -m bench $(BENCH_ARGS)

bench-peers:
	@$(SETUP); $(PY) -m bench.peers

clean:
	@scripts/replica.sh destroy 2>/dev/null || true; scripts/ha.sh destroy 2>/dev/null || true; scripts/pg.sh stop; rm -rf .pgdata .venv .local-db.env .pytest_cache
