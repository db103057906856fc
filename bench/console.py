"""Admin console: the dashboard and the big lists on big tables, against their raw SQL and naive counts.

Data (bulk SQL, once per bench database; sizes from the environment):
BENCH_CONSOLE_USERS users (default 200k) with 1.5 sessions each, BENCH_CONSOLE_EXPERIMENTS
experiments (default 300k) over every status, BENCH_CONSOLE_USAGE usage rows (default
500k, 400 days), 60k cost alerts, BENCH_CONSOLE_AUDIT genuine sealed audit entries
(default 2M, this month so far: bench.audit.append_sealed).

Figures (in-process Django test client, logged-in administrator, DEBUG off):
- dashboard p50/p95, its query count, and the floor: the same SQL statements replayed on
  a raw psycopg connection; beside it, what the naive figures would cost (exact COUNT(*)
  over users, sessions, experiments by status, the audit log)
- change lists p50: audit log (page 1, a filter, a month of the date hierarchy), usage,
  users; beside them the exact COUNT(*) the estimate replaces
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from bench.audit import append_sealed
from bench.common import percentile, raw_connection, summarize_ms, time_calls

USERS = int(os.environ.get("BENCH_CONSOLE_USERS", "200000"))
EXPERIMENTS = int(os.environ.get("BENCH_CONSOLE_EXPERIMENTS", "300000"))
USAGE = int(os.environ.get("BENCH_CONSOLE_USAGE", "500000"))
AUDIT = int(os.environ.get("BENCH_CONSOLE_AUDIT", "2000000"))
RUNS = int(os.environ.get("BENCH_CONSOLE_RUNS", "30"))
MARK = os.environ.get("BENCH_CONSOLE_MARK", "bench-console")


def _fill(conn) -> None:
    """Bulk rows straight in SQL (the services' cost is not what is measured here)."""
    from accounts.models import User
    from accounts.services import user_create
    from projects.models import Project
    from projects.services import project_create
    from providers.models import Provider
    from providers.services import provider_create

    if conn.execute("SELECT 1 FROM users WHERE email = %s", [f"{MARK}-filled@example.com"]).fetchone():
        return
    print(f"  filling: {USERS} users, {EXPERIMENTS} experiments, {USAGE} usage rows, {AUDIT} audit entries", flush=True)
    started = time.monotonic()
    owner = User.objects.filter(email=f"{MARK}-owner@example.com").first() or user_create(
        email=f"{MARK}-owner@example.com", password=None, role="user", actor=None, validate=False
    )
    project = Project.objects.filter(owner=owner).first() or project_create(
        owner=owner, name=f"{MARK} project", actor=owner
    )
    provider = Provider.objects.filter(name=f"{MARK} provider").first() or provider_create(
        actor=None,
        name=f"{MARK} provider",
        provider_type="openai",
        model_name="m",
        api_endpoint="https://llm.example.com",
        cost_per_1k_tokens="0.002",
        timeout_seconds=5,
    )
    # Genuine sealed entries in this month's partition, so the chain still verifies (the
    # audit benchmark's verification runs over this database too).
    now = datetime.now(UTC)
    append_sealed(AUDIT, start=now.replace(day=1, hour=0, minute=0, second=0, microsecond=0), end=now)
    # One transaction (a failed fill leaves nothing), without the app's statement timeout.
    with conn.transaction():
        conn.execute("SET LOCAL statement_timeout = 0")
        _bulk(conn, owner, project, provider)
        conn.execute(
            "INSERT INTO users (id, email, password, name, role, verified, totp_secret, totp_enabled, "
            "created_at, updated_at, failed_login_attempts, settings, is_active, is_staff, is_superuser) "
            "VALUES (gen_random_uuid(), %s, '', '', 'user', false, '', false, now(), now(), 0, '{}', false, "
            "false, false)",
            [f"{MARK}-filled@example.com"],
        )
    conn.execute("ANALYZE")
    print(f"  filled in {time.monotonic() - started:.0f} s", flush=True)


def _bulk(conn, owner, project, provider) -> None:
    conn.execute(
        """
        INSERT INTO users (id, email, password, name, role, verified, totp_secret, totp_enabled, created_at,
                           updated_at, failed_login_attempts, locked_until, settings, is_active, is_staff, is_superuser)
        SELECT gen_random_uuid(), %s || '-' || i || '@example.com', '', '', 'user', i %% 10 <> 0, '', false,
               now() - i * interval '1 minute', now(), 0,
               CASE WHEN i %% 1000 = 0 THEN now() + interval '10 minutes' END, '{}', i %% 50 <> 0, false, false
        FROM generate_series(1, %s) i
        """,
        [MARK, USERS],
    )
    conn.execute(
        """
        INSERT INTO sessions (id, user_id, refresh_token_hash, expires_at, device_info, created_at, revoked_reason,
                              revoked_at)
        SELECT gen_random_uuid(), u.id, md5(u.id::text || s) || md5(s || u.id::text),
               now() + ((s * 7 + length(u.email)) %% 60 - 30) * interval '1 day'
                     + random() * interval '1 day', '{}', now() - random() * interval '30 days',
               CASE WHEN s = 2 THEN 'logout' ELSE '' END, CASE WHEN s = 2 THEN now() END
        FROM users u CROSS JOIN generate_series(1, 2) s
        WHERE u.email LIKE %s AND (s = 1 OR length(u.email) %% 2 = 0)
        """,
        [f"{MARK}-%"],
    )
    conn.execute(
        """
        INSERT INTO experiments (id, created_at, updated_at, name, description, version, config, config_text,
                                 config_hash, dataset_id, status, created_by_id, project_id)
        SELECT gen_random_uuid(), now() - i * interval '1 minute', now(), 'bench ' || i, '', 'v1', '{}', '{}',
               md5(i::text) || md5((i + 1)::text), 'ds',
               (ARRAY['created','running','completed','failed','evaluating','promoted','quarantined'])[1 + i %% 7],
               %s, %s
        FROM generate_series(1, %s) i
        """,
        [owner.pk, project.pk, EXPERIMENTS],
    )
    conn.execute(
        "CREATE TEMP TABLE bench_console_users ON COMMIT DROP AS "
        "SELECT row_number() OVER (ORDER BY created_at DESC, id) AS n, id FROM users WHERE email LIKE %s",
        [f"{MARK}-%@example.com"],
    )
    conn.execute("CREATE INDEX ON bench_console_users (n)")
    conn.execute(
        """
        INSERT INTO usage_tracking (model, date, requests_count, tokens_input, tokens_output, cost_usd, created_at,
                                    updated_at, provider_id, user_id)
        SELECT 'm', current_date - (i %% 400), 3, 900, 100, 0.002, now(), now(), %s, u.id
        FROM generate_series(0, %s - 1) i
        JOIN bench_console_users u ON u.n = 1 + i / 400
        """,
        [provider.pk, USAGE],
    )
    conn.execute(
        """
        INSERT INTO cost_alerts (id, created_at, alert_type, threshold_percentage, period_start, triggered_at,
                                 spent_usd, limit_usd, acknowledged, acknowledged_at, user_id)
        SELECT gen_random_uuid(), now(), 'daily_80', 80, current_date - (i %% 300),
               now() - (i %% 300) * interval '1 day', 8, 10, i %% 300 <> 0, CASE WHEN i %% 300 <> 0 THEN now() END, u.id
        FROM generate_series(1, 60000) i
        JOIN bench_console_users u ON u.n = 1 + i %% %s
        ON CONFLICT DO NOTHING
        """,
        [USERS],
    )


def _client():
    from django.test import Client

    from accounts.models import User
    from accounts.services import user_create

    admin = User.objects.filter(email=f"{MARK}-admin@example.com").first()
    if admin is None:
        admin = user_create(email=f"{MARK}-admin@example.com", password=None, role="admin", actor=None, validate=False)
    client = Client(SERVER_NAME="localhost")
    client.force_login(admin)
    return client


def _get(client, url: str):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response


def _raw_ms(conn, statements: list[str], n: int) -> float:
    def run():
        for sql in statements:
            conn.execute(sql).fetchall()

    return percentile([s * 1000 for s in time_calls(run, n, warmup=3)], 50)


def main(report) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    conn = raw_connection()
    _fill(conn)
    client = _client()

    # The dashboard and its floor.
    _get(client, "/admin/")
    with CaptureQueriesContext(connection) as queries:
        _get(client, "/admin/")
    statements = [q["sql"] for q in queries.captured_queries]
    dashboard = summarize_ms(time_calls(lambda: _get(client, "/admin/"), RUNS, warmup=3))
    floor = _raw_ms(conn, statements, RUNS)
    report.add(
        "dashboard p50", dashboard["p50_ms"], "ms", target="< 250 ms", met=dashboard["p50_ms"] < 250, floor=floor
    )
    report.add("dashboard p95", dashboard["p95_ms"], "ms")
    report.add("dashboard queries", len(statements), "queries", target="<= 15", met=len(statements) <= 15)
    report.add("dashboard SQL replayed raw (the floor) p50", floor, "ms")
    naive = [
        "SELECT count(*) FILTER (WHERE is_active), count(*) FILTER (WHERE NOT verified), "
        "count(*) FILTER (WHERE locked_until > now()) FROM users",
        "SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > now()",
        "SELECT status, count(*) FROM experiments GROUP BY status",
        "SELECT count(*) FROM audits.audit_log",
    ]
    report.add(
        "naive exact counts instead (users, sessions, experiments, log)",
        _raw_ms(conn, naive, 5),
        "ms",
        note="what the capped counts avoid",
    )

    # Change lists of the big tables.
    month = time.strftime("%Y"), str(int(time.strftime("%m")))
    for name, url in (
        ("audit log change list p50", "/admin/audits/auditlogrow/"),
        ("audit log, filtered by entity p50", "/admin/audits/auditlogrow/?entity=promotion"),
        (
            "audit log, one month (date hierarchy) p50",
            f"/admin/audits/auditlogrow/?ts__year={month[0]}&ts__month={month[1]}",
        ),
        ("usage change list p50", "/admin/providers/usagetracking/"),
        ("users change list p50", "/admin/accounts/user/"),
        ("sessions change list p50", "/admin/accounts/session/"),
    ):
        stats = summarize_ms(time_calls(lambda url=url: _get(client, url), max(RUNS // 3, 5), warmup=2))
        report.add(name, stats["p50_ms"], "ms", target="< 500 ms", met=stats["p50_ms"] < 500)
    report.add(
        "exact COUNT(*) of the audit log (what the estimate replaces)",
        _raw_ms(conn, ["SELECT count(*) FROM audits.audit_log"], 3),
        "ms",
    )
    report.add(
        "exact COUNT(*) of usage_tracking",
        _raw_ms(conn, ["SELECT count(*) FROM usage_tracking"], 3),
        "ms",
    )
    sizes = conn.execute(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM sessions), (SELECT count(*) FROM experiments), "
        "(SELECT count(*) FROM usage_tracking), (SELECT count(*) FROM audits.audit_log)"
    ).fetchone()
    print(
        f"  rows: users {sizes[0]:,}, sessions {sizes[1]:,}, experiments {sizes[2]:,}, usage {sizes[3]:,}, "
        f"audit log {sizes[4]:,}",
        flush=True,
    )
    conn.close()
