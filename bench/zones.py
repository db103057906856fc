"""Zones API latency: experiment detail, filtered list, create and transition through
gunicorn on loopback, with ≥ 100,000 experiments and ≥ 300,000 evaluations loaded.

Each figure is compared with a raw-SQL floor measured in the same run on a plain psycopg
connection: the same row fetched by id (detail), the same page query and count (list), a
bare INSERT + COMMIT (create) and a bare conditional UPDATE + COMMIT (transition), on a
logged table, so that each COMMIT waits for its WAL flush as the API's do.

The bulk data is generated in SQL (INSERT ... SELECT generate_series), once: a later run
finds it and skips loading. Bulk rows are benchmark data, not history: they carry no audit
entries, and their config hashes are hashes of a seed, not of the config. Requests made
by the benchmark itself go through the real services (validated, locked, audited).

Run: .venv/bin/python -m bench zones     (ZONES_BENCH_N=300 samples per figure)
"""

from __future__ import annotations

import os
import random
import time
import uuid
from urllib.parse import urlencode

from bench.common import HttpClient, gunicorn, raw_connection, summarize_ms, time_calls

USERS = 20
PROJECTS_PER_USER = 10
EXPERIMENTS = 100_000
EVALUATIONS_PER_JUDGED = 8  # 40 % of experiments are judged → 320,000 evaluations
TARGETS_MS = {"detail": 5, "list": 15, "create": 10, "transition": 10}
PREDECESSOR_MS = {"detail": 10, "list": 100, "create": 50, "transition": 25}

# A v7-like UUID for a timestamp (time-ordered, as core.ids.uuid7 makes them), so bulk
# rows sit in the indexes the way production rows do.
UUID7_SQL = """
CREATE OR REPLACE FUNCTION pg_temp.uuid7_at(ts timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT (lpad(to_hex((extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7'
          || substr(md5(random()::text), 1, 3) || to_hex(8 + floor(random() * 4)::int)
          || substr(md5(random()::text), 1, 15))::uuid
$$;
"""

LOAD_SQL = """
WITH owners AS (
    SELECT id, row_number() OVER (ORDER BY email) AS n FROM accounts.users WHERE email LIKE 'bench-owner-%%'
)
INSERT INTO projects.projects (id, created_at, updated_at, name, description, owner_id, settings, archived)
SELECT pg_temp.uuid7_at(now() - interval '400 days' + p * interval '1 minute'), now() - interval '400 days',
       now(), 'bench project ' || p, '', o.id, '{}'::jsonb, false
FROM owners o, generate_series(1, %(per_user)s) AS g(k), LATERAL (SELECT (o.n - 1) * %(per_user)s + g.k AS p) AS x;

INSERT INTO projects.versions (id, created_at, updated_at, project_id, tag, model_config, changelog)
SELECT pg_temp.uuid7_at(p.created_at), p.created_at, now(), p.id, t.tag, '{}'::jsonb, ''
FROM projects.projects p CROSS JOIN (VALUES ('v1'), ('v2'), ('v3')) AS t(tag)
WHERE p.name LIKE 'bench project %%';

INSERT INTO projects.baselines (
    id, created_at, updated_at, project_id, metric_key, threshold, operator, snapshot_id, active)
SELECT pg_temp.uuid7_at(p.created_at), p.created_at, now(), p.id, b.metric, b.threshold, b.op, '', true
FROM projects.projects p
CROSS JOIN (VALUES ('accuracy', 0.8, '>='), ('latency_ms', 250, '<=')) AS b(metric, threshold, op)
WHERE p.name LIKE 'bench project %%';

CREATE TEMP TABLE bench_projects AS
SELECT id, owner_id, row_number() OVER (ORDER BY id) - 1 AS k
FROM projects.projects WHERE name LIKE 'bench project %%';

INSERT INTO experiments.experiments (
    id, created_at, updated_at, project_id, name, description, version, config, config_text, config_hash,
    dataset_id, status, created_by_id, started_at, completed_at)
SELECT pg_temp.uuid7_at(ts), ts, ts, bp.id, 'bench experiment ' || i, '', 'v1', c.config, c.config::text,
       encode(sha256(('bench-config-' || i)::bytea), 'hex'), 'dataset-' || (i %% 100),
       (ARRAY['created', 'created', 'running', 'completed', 'completed', 'failed',
              'evaluating', 'evaluating', 'promoted', 'quarantined'])[1 + i %% 10],
       bp.owner_id,
       CASE WHEN i %% 10 >= 2 THEN ts END,
       CASE WHEN i %% 10 >= 3 THEN ts END
FROM generate_series(1, %(experiments)s) AS i
CROSS JOIN LATERAL (SELECT now() - (%(experiments)s - i) * interval '5 minutes' AS ts) AS t
CROSS JOIN LATERAL (SELECT jsonb_build_object('model', 'model-' || (i %% 50), 'temperature', (i %% 10) / 10.0,
                                              'seed', i) AS config) AS c
JOIN bench_projects bp ON bp.k = (i / 10) %% (SELECT count(*) FROM bench_projects);

INSERT INTO experiments.evaluations (
    id, created_at, experiment_id, metrics, ai_verdict, ai_confidence, checks, human_override, override_reason,
    effective_verdict, evaluated_by, evaluator_id, evaluated_at)
SELECT pg_temp.uuid7_at(e.created_at + r * interval '1 second'), e.created_at + r * interval '1 second', e.id,
       jsonb_build_object('accuracy', 0.6 + (r %% 4) / 10.0, 'latency_ms', 100 + r * 10),
       v.verdict, 0.9, '{"rule": "bench"}'::jsonb, NULL, '', v.verdict, 'ai', e.created_by_id,
       e.created_at + r * interval '1 second'
FROM experiments.experiments e
CROSS JOIN generate_series(1, %(per_judged)s) AS r
CROSS JOIN LATERAL (SELECT CASE WHEN e.status = 'quarantined' THEN 'fail' ELSE 'pass' END AS verdict) AS v
WHERE e.status IN ('evaluating', 'promoted', 'quarantined') AND e.name LIKE 'bench experiment %%';
"""


def _bench_users():
    from accounts.models import User
    from accounts.services import user_create

    def ensure(email, role):
        user = User.objects.filter(email=email).first()
        return user or user_create(email=email, password=None, role=role, verified=True, validate=False, actor=None)

    owners = [ensure(f"bench-owner-{i:02d}@example.com", "user") for i in range(USERS)]
    admin = ensure("bench-admin@example.com", "admin")
    return owners, admin


def load(report) -> None:
    """Generate the bulk data unless a previous run left it in the bench database."""
    with raw_connection() as conn:
        experiments = conn.execute("SELECT count(*) FROM experiments.experiments").fetchone()[0]
        evaluations = conn.execute("SELECT count(*) FROM experiments.evaluations").fetchone()[0]
    if experiments >= EXPERIMENTS and evaluations >= 300_000:
        print(f"  data cached: {experiments:,} experiments, {evaluations:,} evaluations", flush=True)
        return
    if experiments:
        raise SystemExit("The bench database holds partial zone data; drop it (DROP DATABASE <name>_bench) and rerun.")
    _bench_users()
    started = time.perf_counter()
    with raw_connection() as conn:
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute(UUID7_SQL)
            params = {"per_user": PROJECTS_PER_USER, "experiments": EXPERIMENTS, "per_judged": EVALUATIONS_PER_JUDGED}
            for statement in filter(str.strip, LOAD_SQL.split(";\n")):
                cur.execute(statement, params)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE projects.projects, experiments.experiments, experiments.evaluations")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM experiments.experiments), (SELECT count(*) FROM experiments.evaluations)"
        ).fetchone()
    seconds = time.perf_counter() - started
    print(f"  loaded {counts[0]:,} experiments and {counts[1]:,} evaluations in {seconds:.1f} s", flush=True)
    report.add("bulk load (SQL generate_series)", seconds, "s", note=f"{counts[0]:,} exp / {counts[1]:,} eval")


class Client(HttpClient):
    """The benchmark's API client: Bearer token, JSON in and out (bench.common.HttpClient)."""

    def __init__(self, base: str, token: str):
        super().__init__(
            base,
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"},
        )

    request = HttpClient.json


def main(report) -> None:
    from accounts.services import session_create
    from projects.models import Project

    n = int(os.environ.get("ZONES_BENCH_N", "300"))
    load(report)
    owners, _admin = _bench_users()
    owner = owners[3]
    project = Project.objects.filter(owner=owner, name__startswith="bench project").order_by("name").first()
    token = session_create(user=owner).access

    with raw_connection() as floor:
        ids = [
            row[0]
            for row in floor.execute(
                "SELECT id FROM experiments.experiments WHERE project_id = %s ORDER BY random() LIMIT 500", [project.pk]
            ).fetchall()
        ]
        statuses = dict(
            floor.execute("SELECT status, count(*) FROM experiments.experiments GROUP BY status").fetchall()
        )
        print(f"  project {project.pk}: {len(ids)} sampled experiments; statuses {statuses}", flush=True)

        # ---- floors: the same rows and queries on a plain psycopg connection ----
        detail_sql = (
            "SELECT e.*, (SELECT effective_verdict FROM experiments.evaluations v WHERE v.experiment_id = e.id "
            "ORDER BY v.created_at DESC, v.id DESC LIMIT 1) FROM experiments.experiments e "
            "JOIN projects.projects p ON p.id = e.project_id WHERE e.id = %s AND p.owner_id = %s"
        )
        floor_detail = summarize_ms(
            time_calls(lambda: floor.execute(detail_sql, [random.choice(ids), owner.pk]).fetchall(), n)
        )
        list_where = (
            "FROM experiments.experiments e JOIN projects.projects p ON p.id = e.project_id "
            "WHERE p.owner_id = %s AND e.project_id = %s AND e.status = 'completed'"
        )

        def floor_list():
            floor.execute(f"SELECT count(*) {list_where}", [owner.pk, project.pk]).fetchone()
            floor.execute(
                f"SELECT e.*, (SELECT effective_verdict FROM experiments.evaluations v WHERE v.experiment_id = e.id "
                f"ORDER BY v.created_at DESC, v.id DESC LIMIT 1) {list_where} ORDER BY e.created_at DESC LIMIT 50",
                [owner.pk, project.pk],
            ).fetchall()

        floor_list_ms = summarize_ms(time_calls(floor_list, n))
        admin_where = "FROM experiments.experiments e WHERE e.status = 'completed'"

        def floor_admin_list():
            # The count as the API reads it for a whole-table list: from the status tally.
            floor.execute(
                "SELECT sum(delta) FROM experiments.experiments_status_tally WHERE value = 'completed'"
            ).fetchone()
            floor.execute(
                f"SELECT e.*, (SELECT effective_verdict FROM experiments.evaluations v WHERE v.experiment_id = e.id "
                f"ORDER BY v.created_at DESC, v.id DESC LIMIT 1) {admin_where} ORDER BY e.created_at DESC LIMIT 50"
            ).fetchall()

        floor_admin_list_ms = summarize_ms(time_calls(floor_admin_list, n))
        # Writes: one autocommitted statement each (INSERT + COMMIT, UPDATE ... WHERE + COMMIT),
        # durable as the API's are: on a logged table, so each COMMIT waits for its WAL
        # flush (a temporary table writes no WAL, and its commits wait for no disk).
        floor.execute("DROP TABLE IF EXISTS public.bench_floor_rows")
        floor.execute("CREATE TABLE public.bench_floor_rows (id uuid PRIMARY KEY, status text, n int)")
        seq = iter(range(10**9))
        floor_insert = summarize_ms(
            time_calls(
                lambda: floor.execute(
                    "INSERT INTO public.bench_floor_rows VALUES (%s, 'created', %s)", [uuid.uuid4(), next(seq)]
                ),
                n,
            )
        )
        rows = iter([r[0] for r in floor.execute("SELECT id FROM public.bench_floor_rows").fetchall()])
        floor_update = summarize_ms(
            time_calls(
                lambda: floor.execute(
                    "UPDATE public.bench_floor_rows SET status = 'running' WHERE id = %s AND status = 'created'",
                    [next(rows)],
                ),
                n,
            )
        )
        floor.execute("DROP TABLE public.bench_floor_rows")

    with gunicorn(workers=2) as base:
        client = Client(base, token)
        api = "/api/v1"
        # Per-request cost every endpoint pays before any zone code runs (the session
        # lookup of Bearer authentication, DRF, middleware): GET /auth/me.
        framework = summarize_ms(time_calls(lambda: client.call("GET", f"{api}/auth/me"), n))
        # ---- detail ----
        detail = summarize_ms(time_calls(lambda: client.call("GET", f"{api}/experiments/{random.choice(ids)}"), n))
        # ---- filtered list, a page of 50 ----
        query = urlencode({"project": str(project.pk), "status": "completed", "page_size": 50})
        page = client.request("GET", f"{api}/experiments/?{query}")
        listing = summarize_ms(time_calls(lambda: client.call("GET", f"{api}/experiments/?{query}"), n))
        admin_query = urlencode({"status": "completed", "page_size": 50})
        admin_token = session_create(user=_admin).access
        admin_client = Client(base, admin_token)
        admin_page = admin_client.request("GET", f"{api}/experiments/?{admin_query}")
        admin_listing = summarize_ms(
            time_calls(lambda: admin_client.call("GET", f"{api}/experiments/?{admin_query}"), n)
        )
        # ---- create ----
        created: list[str] = []
        run = uuid.uuid4().hex[:8]
        counter = iter(range(10**9))

        def create():
            i = next(counter)
            body = {
                "project": str(project.pk),
                "name": f"bench create {run}-{i}",
                "config": {"model": "bench", "run": run, "i": i, "params": {"temperature": 0.2, "top_p": 0.9}},
                "dataset_id": "bench",
            }
            created.append(client.request("POST", f"{api}/experiments/", body, expect=201)["id"])

        creating = summarize_ms(time_calls(create, n))
        # ---- transition (created → running on the experiments just created) ----
        pending = iter(created)  # n + warm-up experiments, each moved once
        transition = summarize_ms(
            time_calls(
                lambda: client.call("POST", f"{api}/experiments/{next(pending)}/transition", {"to": "running"}), n
            )
        )

    def add(name, summary, floor_summary, key):
        target = TARGETS_MS[key]
        report.add(
            f"{name} p50",
            summary["p50_ms"],
            "ms",
            floor=floor_summary["p50_ms"],
        )
        report.add(
            f"{name} p95",
            summary["p95_ms"],
            "ms",
            target=f"<= {target} ms",
            met=summary["p95_ms"] <= target,
            floor=floor_summary["p95_ms"],
            note=f"(predecessor target {PREDECESSOR_MS[key]} ms)",
        )

    print(
        f"  list page: {len(page['results'])} rows of {page['count']}; admin list {admin_page['count']} rows",
        flush=True,
    )
    report.add("authenticated no-op GET /auth/me p50 (framework floor)", framework["p50_ms"], "ms")
    report.add("authenticated no-op GET /auth/me p95 (framework floor)", framework["p95_ms"], "ms")
    add("experiment detail GET", detail, floor_detail, "detail")
    add("experiment list, project+status filter, page of 50", listing, floor_list_ms, "list")
    add("experiment list (admin), status filter over all, page 50", admin_listing, floor_admin_list_ms, "list")
    add("experiment create POST", creating, floor_insert, "create")
    add("experiment transition POST", transition, floor_update, "transition")
