"""Production zone API latency: session detail (with its tasks), filtered session lists and
the statistics endpoint through gunicorn on loopback, with ≥ 200,000 analysis sessions,
≥ 1,000,000 tasks, 150,000 code-review results and 100,000 artifacts loaded.

Each figure is compared with a raw-SQL floor measured in the same run on a plain psycopg
connection: the same session and task queries (detail), the same count and page
(lists), the same four aggregate queries (statistics).

The bulk data is generated in SQL (INSERT ... SELECT generate_series), once: a later run
finds it and skips loading. Sessions spread over the last 400 days (≈ 500 a day, so the
statistics' default 30-day window holds ≈ 15,000 sessions, 75,000 tasks, 11,000 reviews).
Bulk rows are benchmark data, not history: they carry no audit entries. Requests made by
the benchmark itself go through the real API.

Run: .venv/bin/python -m bench production     (PRODUCTION_BENCH_N=300 samples per figure)
"""

from __future__ import annotations

import os
import random
import time
from urllib.parse import urlencode

from bench.common import gunicorn, raw_connection, summarize_ms
from bench.zones import UUID7_SQL, Client

USERS = 20
PROJECTS_PER_USER = 10
SESSIONS = 200_000
TASKS_PER_SESSION = 5
DAYS = 400
TARGETS_MS = {"detail": 8, "list": 15, "statistics": 150}

LOAD_SQL = """
WITH owners AS (
    SELECT id, row_number() OVER (ORDER BY email) AS n FROM accounts.users WHERE email LIKE 'bench-prod-%%'
)
INSERT INTO projects.projects (id, created_at, updated_at, name, description, owner_id, settings, archived)
SELECT pg_temp.uuid7_at(now() - interval '500 days'), now() - interval '500 days', now(),
       'bench prod project ' || p, '', o.id, '{}'::jsonb, false
FROM owners o, generate_series(1, %(per_user)s) AS g(k), LATERAL (SELECT (o.n - 1) * %(per_user)s + g.k AS p) AS x;

INSERT INTO projects.versions (id, created_at, updated_at, project_id, tag, model_config, changelog)
SELECT pg_temp.uuid7_at(p.created_at), p.created_at, now(), p.id, t.tag, '{}'::jsonb, ''
FROM projects.projects p CROSS JOIN (VALUES ('v1'), ('v2'), ('v3')) AS t(tag)
WHERE p.name LIKE 'bench prod project %%';

CREATE TEMP TABLE bench_prod_projects AS
SELECT id, owner_id, row_number() OVER (ORDER BY id) - 1 AS k
FROM projects.projects WHERE name LIKE 'bench prod project %%';

-- Statuses by i %% 20: 12 completed, 2 failed, 1 cancelled, 2 running, 2 queued, 1 created.
INSERT INTO production.analysis_sessions (
    id, created_at, updated_at, user_id, project_id, version, provider_id, status, started_at, finished_at,
    error_message, metadata)
SELECT pg_temp.uuid7_at(ts), ts, ts, bp.owner_id, bp.id, 'v2', NULL, st.status,
       CASE WHEN st.status IN ('running', 'completed', 'failed') THEN ts + interval '2 seconds' END,
       CASE WHEN st.status IN ('completed', 'failed') THEN ts + interval '2 seconds' + (i %% 900) * interval '1 second'
            WHEN st.status = 'cancelled' THEN ts + interval '30 seconds' END,
       CASE WHEN st.status = 'failed' THEN '1 of 5 tasks failed.' ELSE '' END,
       jsonb_build_object('pr', i, 'repository', 'bench/repo-' || (i %% 50))
FROM generate_series(1, %(sessions)s) AS i
CROSS JOIN LATERAL (SELECT now() - (%(sessions)s - i) * (%(days)s * interval '1 day' / %(sessions)s) AS ts) AS t
CROSS JOIN LATERAL (SELECT (ARRAY['completed', 'completed', 'completed', 'completed', 'completed', 'completed',
        'completed', 'completed', 'completed', 'completed', 'completed', 'completed', 'failed', 'failed',
        'cancelled', 'running', 'running', 'queued', 'queued', 'created'])[1 + i %% 20] AS status) AS st
JOIN bench_prod_projects bp ON bp.k = (i / 7) %% (SELECT count(*) FROM bench_prod_projects);

-- Five tasks per session whose states agree with the session's.
INSERT INTO production.analysis_tasks (
    id, created_at, updated_at, session_id, type, status, result, error_message, started_at, finished_at, duration_ms)
SELECT pg_temp.uuid7_at(c.created), c.created, c.created, s.id, (ARRAY['static', 'dynamic', 'graph', 'ai', 'ai'])[r],
       x.status,
       CASE WHEN x.status = 'completed' THEN jsonb_build_object('findings', r * 3, 'tool', 'bench') END,
       CASE WHEN x.status = 'failed' THEN 'timeout' WHEN x.status = 'skipped' THEN 'session cancelled' ELSE '' END,
       y.started, y.finished,
       FLOOR(EXTRACT(EPOCH FROM (y.finished - y.started)) * 1000)
FROM production.analysis_sessions s
CROSS JOIN generate_series(1, %(tasks)s) AS r
CROSS JOIN LATERAL (SELECT s.created_at + r * interval '1 millisecond' AS created) AS c
CROSS JOIN LATERAL (SELECT CASE
        WHEN s.status = 'completed' THEN 'completed'
        WHEN s.status = 'failed' THEN CASE WHEN r = %(tasks)s THEN 'failed' ELSE 'completed' END
        WHEN s.status = 'cancelled' THEN 'skipped'
        WHEN s.status = 'running' THEN CASE WHEN r <= 2 THEN 'completed' WHEN r = 3 THEN 'running' ELSE 'pending' END
        ELSE 'pending' END AS status) AS x
CROSS JOIN LATERAL (SELECT
        CASE WHEN x.status IN ('running', 'completed', 'failed') THEN s.started_at + (r - 1) * interval '1 second' END
            AS started,
        CASE WHEN x.status IN ('completed', 'failed') THEN s.started_at + (r - 1) * interval '1 second'
                 + ((hashtext(s.id::text || r::text) & 262143)
                    * interval '0.1 millisecond') * (CASE r WHEN 4 THEN 6 WHEN 5 THEN 9 ELSE 1 END)
             WHEN x.status = 'skipped' THEN s.finished_at END AS finished) AS y
WHERE s.metadata ? 'repository';

INSERT INTO production.code_review_results (
    id, created_at, session_id, code_language, code_length, overall_score, vulnerabilities_count, issues_count,
    model_used, analysis_time_ms)
SELECT pg_temp.uuid7_at(s.started_at + interval '1 minute'), s.started_at + interval '1 minute', s.id,
       (ARRAY['python', 'go', 'typescript', 'java', 'rust', 'c++', 'ruby', 'kotlin'])[1 + n %% 8],
       200 + n %% 20000, LEAST(100, GREATEST(0, 40 + (n * 37 %% 6100) / 100.0)), n %% 4, n %% 17,
       'bench-model', 500 + n %% 9000
FROM (SELECT s.*, row_number() OVER () AS n FROM production.analysis_sessions s
      WHERE s.status IN ('completed', 'failed', 'running') AND s.metadata ? 'repository') AS s;

INSERT INTO production.artifacts (id, created_at, session_id, type, s3_uri, sha256, size_bytes, metadata, expires_at)
SELECT pg_temp.uuid7_at(s.created_at + interval '1 minute'), s.created_at + interval '1 minute', s.id,
       (ARRAY['report', 'patch', 'log', 'metrics'])[1 + n %% 4],
       's3://bench-artifacts/sessions/' || s.id || '/artifact.json', encode(sha256(s.id::text::bytea), 'hex'),
       1024 + n %% 1000000, '{}'::jsonb, s.created_at + interval '90 days'
FROM (SELECT s.*, row_number() OVER () AS n FROM production.analysis_sessions s
      WHERE s.metadata ? 'repository') AS s
WHERE s.n %% 2 = 0
"""


def _bench_users():
    from accounts.models import User
    from accounts.services import user_create

    def ensure(email, role):
        user = User.objects.filter(email=email).first()
        return user or user_create(email=email, password=None, role=role, verified=True, validate=False, actor=None)

    owners = [ensure(f"bench-prod-{i:02d}@example.com", "user") for i in range(USERS)]
    admin = ensure("bench-prod-admin@example.com", "admin")
    return owners, admin


def _counts(conn) -> tuple[int, int, int, int]:
    return conn.execute(
        "SELECT (SELECT count(*) FROM production.analysis_sessions), (SELECT count(*) FROM production.analysis_tasks),"
        " (SELECT count(*) FROM production.code_review_results), (SELECT count(*) FROM production.artifacts)"
    ).fetchone()


def load(report) -> None:
    """Generate the bulk data unless a previous run left it in the bench database."""
    with raw_connection() as conn:
        sessions, tasks, reviews, artifacts = _counts(conn)
    if sessions >= SESSIONS and tasks >= SESSIONS * TASKS_PER_SESSION:
        print(f"  data cached: {sessions:,} sessions, {tasks:,} tasks, {reviews:,} reviews, {artifacts:,} artifacts")
        return
    if sessions:
        raise SystemExit(
            "The bench database holds partial production data; drop it (DROP DATABASE <name>_bench) and rerun."
        )
    _bench_users()
    started = time.perf_counter()
    with raw_connection() as conn:
        conn.autocommit = False
        with conn.cursor() as cur:
            # A million rows in one statement outlast the application's statement timeout.
            cur.execute("SET LOCAL statement_timeout = 0")
            cur.execute(UUID7_SQL)
            params = {
                "per_user": PROJECTS_PER_USER,
                "sessions": SESSIONS,
                "days": DAYS,
                "tasks": TASKS_PER_SESSION,
            }
            for statement in filter(str.strip, LOAD_SQL.split(";\n")):
                cur.execute(statement, params)
        conn.commit()
        conn.autocommit = True
        conn.execute("SET statement_timeout = 0")
        conn.execute(
            "VACUUM ANALYZE production.analysis_sessions, production.analysis_tasks, "
            "production.code_review_results, production.artifacts, projects.projects"
        )
        counts = _counts(conn)
    seconds = time.perf_counter() - started
    print(
        f"  loaded {counts[0]:,} sessions, {counts[1]:,} tasks, {counts[2]:,} reviews, {counts[3]:,} artifacts "
        f"in {seconds:.1f} s",
        flush=True,
    )
    report.add("bulk load (SQL generate_series)", seconds, "s", note=f"{counts[0]:,} sessions / {counts[1]:,} tasks")


def interleaved(calls: dict, n: int, warmup: int = 10) -> dict[str, dict]:
    """Time every call in turn, round after round, so each figure sees the same machine
    load (on a shared machine, back-to-back series would each catch different load).
    `calls` maps a name to (fn, every): fn runs in every `every`-th round only."""
    for name, (fn, _every) in calls.items():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(n):
        for name, (fn, every) in calls.items():
            if round_ % every:
                continue
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: summarize_ms(values) for name, values in samples.items()}


def _floor_statistics(floor, user_id=None):
    """The statistics endpoint's four queries (production.stats builds them with the ORM),
    written by hand for everyone or one user, unprepared like Django's (a custom plan for
    the window each time)."""
    from production import stats
    from production.models import TaskType

    span = stats.window()
    params = {"start": span.start, "end": span.end, "user": user_id}
    scope = "AND s.user_id = %(user)s" if user_id else ""
    child = (
        "AND EXISTS (SELECT 1 FROM production.analysis_sessions s WHERE s.id = {alias}.session_id " + scope + ")"
        if user_id
        else ""
    )
    buckets = stats.SCORE_BUCKETS
    types = ", ".join(f"'{kind}'" for kind in TaskType.values)
    queries = [
        "SELECT (s.created_at AT TIME ZONE 'UTC')::date AS day, s.status, count(*) FROM analysis_sessions s "
        f"WHERE s.created_at >= %(start)s AND s.created_at < %(end)s {scope} GROUP BY 1, 2",
        "SELECT t.type, count(*), avg(t.duration_ms), percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP "
        f"(ORDER BY t.duration_ms) FROM analysis_tasks t WHERE t.type IN ({types}) AND t.status IN "
        "('completed', 'failed') AND t.finished_at >= %(start)s AND t.finished_at < %(end)s "
        f"{child.format(alias='t')} GROUP BY t.type",
        "SELECT r.code_language, count(*), avg(r.overall_score), min(r.overall_score), max(r.overall_score), "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY r.overall_score) FROM code_review_results r "
        f"WHERE r.created_at >= %(start)s AND r.created_at < %(end)s {child.format(alias='r')} "
        "GROUP BY r.code_language ORDER BY count(*) DESC, r.code_language",
        f"SELECT r.code_language, LEAST(width_bucket(r.overall_score::float8, 0, 100, {buckets}), {buckets}), "
        "count(*) FROM code_review_results r WHERE r.created_at >= %(start)s AND r.created_at < %(end)s "
        f"{child.format(alias='r')} GROUP BY 1, 2",
    ]

    def run():
        for query in queries:
            floor.execute(query, params, prepare=False).fetchall()

    return run


def main(report) -> None:
    from accounts.services import session_create
    from projects.models import Project

    n = int(os.environ.get("PRODUCTION_BENCH_N", "300"))
    load(report)
    owners, admin = _bench_users()
    owner = owners[3]
    project = Project.objects.filter(owner=owner, name__startswith="bench prod project").order_by("name").first()
    stats_every = 3  # the statistics endpoint is sampled every third round

    with raw_connection() as floor:
        floor.execute("SET search_path TO public, production, projects, accounts")
        ids = [
            row[0]
            for row in floor.execute(
                "SELECT id FROM production.analysis_sessions WHERE user_id = %s ORDER BY random() LIMIT 500",
                [owner.pk],
            ).fetchall()
        ]
        per_user = floor.execute(
            "SELECT count(*) FROM production.analysis_sessions WHERE user_id = %s", [owner.pk]
        ).fetchone()[0]
        print(f"  owner {owner.email}: {per_user:,} sessions; {len(ids)} sampled for the detail", flush=True)

        # ---- floors: the same queries on a plain psycopg connection ----
        def floor_detail():
            pk = random.choice(ids)
            floor.execute(
                "SELECT * FROM production.analysis_sessions WHERE id = %s AND user_id = %s", [pk, owner.pk]
            ).fetchall()
            floor.execute(
                "SELECT * FROM production.analysis_tasks WHERE session_id = %s ORDER BY created_at, id", [pk]
            ).fetchall()

        def floor_list_for(where, params, count_sql=None):
            # The count as the API reads it: rows, or the status tally for a whole-table list.
            count_sql = count_sql or f"SELECT count(*) FROM production.analysis_sessions WHERE {where}"

            def run():
                floor.execute(count_sql, params if "%s" in count_sql else [], prepare=False).fetchone()
                floor.execute(
                    f"SELECT * FROM production.analysis_sessions WHERE {where} "
                    "ORDER BY created_at DESC, id DESC LIMIT 50",
                    params,
                    prepare=False,
                ).fetchall()

            return run

        floors = interleaved(
            {
                "detail": (floor_detail, 1),
                "owner_list": (
                    floor_list_for("user_id = %s AND project_id = %s AND status = 'completed'", [owner.pk, project.pk]),
                    1,
                ),
                "owner_status": (floor_list_for("user_id = %s AND status = 'failed'", [owner.pk]), 1),
                "admin_list": (
                    floor_list_for(
                        "status = 'running'",
                        [],
                        "SELECT sum(delta) FROM production.analysis_sessions_status_tally WHERE value = 'running'",
                    ),
                    1,
                ),
                "stats_all": (_floor_statistics(floor), stats_every),
                "stats_own": (_floor_statistics(floor, owner.pk), stats_every),
            },
            n,
        )

    token = session_create(user=owner).access
    admin_token = session_create(user=admin).access
    api = "/api/v1/analysis-sessions"
    owner_query = urlencode({"project": str(project.pk), "status": "completed", "page_size": 50})
    status_query = urlencode({"status": "failed", "page_size": 50})
    admin_query = urlencode({"status": "running", "page_size": 50})
    with gunicorn(workers=2) as base:
        client = Client(base, token)
        admin_client = Client(base, admin_token)
        sample = client.request("GET", f"{api}/{ids[0]}")
        owner_page = client.request("GET", f"{api}/?{owner_query}")
        status_page = client.request("GET", f"{api}/?{status_query}")
        admin_page = admin_client.request("GET", f"{api}/?{admin_query}")
        figures = admin_client.request("GET", f"{api}/statistics")
        timed = interleaved(
            {
                # Per-request cost every endpoint pays before any production code runs
                # (Bearer session lookup, DRF, middleware).
                "framework": (lambda: client.call("GET", "/api/v1/auth/me"), 1),
                "detail": (lambda: client.call("GET", f"{api}/{random.choice(ids)}"), 1),
                "owner_list": (lambda: client.call("GET", f"{api}/?{owner_query}"), 1),
                "owner_status": (lambda: client.call("GET", f"{api}/?{status_query}"), 1),
                "admin_list": (lambda: admin_client.call("GET", f"{api}/?{admin_query}"), 1),
                "stats_all": (lambda: admin_client.call("GET", f"{api}/statistics"), stats_every),
                "stats_own": (lambda: client.call("GET", f"{api}/statistics"), stats_every),
            },
            n,
        )

    window_sessions = sum(day["total"] for day in figures["sessions_per_day"])
    window_tasks = sum(row["count"] for row in figures["task_durations"])
    window_reviews = sum(row["count"] for row in figures["review_scores"])
    print(
        f"  detail: {len(sample['tasks'])} tasks; owner list {len(owner_page['results'])} of {owner_page['count']:,}; "
        f"owner status list of {status_page['count']:,}; admin list of {admin_page['count']:,}; statistics window "
        f"{figures['date_from']}..{figures['date_to']}: {window_sessions:,} sessions, {window_tasks:,} finished tasks, "
        f"{window_reviews:,} reviews; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
        flush=True,
    )

    def add(name, key, target_key):
        summary, floor_summary = timed[key], floors[key]
        target = TARGETS_MS[target_key]
        report.add(f"{name} p50", summary["p50_ms"], "ms", floor=floor_summary["p50_ms"])
        report.add(
            f"{name} p95",
            summary["p95_ms"],
            "ms",
            target=f"<= {target} ms",
            met=summary["p95_ms"] <= target,
            floor=floor_summary["p95_ms"],
        )

    report.add("authenticated no-op GET /auth/me p50 (framework floor)", timed["framework"]["p50_ms"], "ms")
    report.add("authenticated no-op GET /auth/me p95 (framework floor)", timed["framework"]["p95_ms"], "ms")
    add("session detail GET (with its 5 tasks)", "detail", "detail")
    add("session list, owner, project+status, page of 50", "owner_list", "list")
    add("session list, owner, status over all own, page of 50", "owner_status", "list")
    add("session list (admin), status filter over all, page of 50", "admin_list", "list")
    add("statistics GET (admin: everyone, 30 days)", "stats_all", "statistics")
    add("statistics GET (user: own sessions, 30 days)", "stats_own", "statistics")
