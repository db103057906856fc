"""Usage recording: service upserts/s with 8 writers vs raw INSERT ... ON CONFLICT, and POST /api/v1/usage/ req/s.

Three figures, each with zero lost increments checked against the table afterwards:

1. `providers.services.usage_record` from 8 writer processes (one user each: the common
   case of many users), every call a full quota check + upsert + alert check + audit entry
   in its own transaction; and the raw floor: the same 8 processes sending a bare
   `INSERT ... ON CONFLICT DO UPDATE` on the same table and keys in autocommit; and that
   upsert with an audit-shaped INSERT (the log's indexes) in one transaction: the least
   an audited record must write, as raw SQL.
2. The same with all 8 writers on ONE user (the per-user lock serializes them by design),
   vs the raw upsert on one row (serialized by its row lock).
3. `POST /api/v1/usage/` through gunicorn from 8 client processes (8 users).

Targets: service >= 3,000 upserts/s; HTTP >= 500 req/s (2-core machine).
Knobs: BENCH_SECONDS (default 5), BENCH_GUNICORN_WORKERS (default 4).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from collections import Counter
from decimal import Decimal

from bench.common import HttpClient, gunicorn, raw_connection
from bench.common import process_cpu_seconds as _backend_cpu

WRITERS = 8
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
WARMUP_CALLS = 20
_CTX = mp.get_context("fork")


def _fixtures():
    from accounts.models import User
    from accounts.services import user_create
    from providers import services
    from providers.models import Provider

    users = []
    for i in range(WRITERS):
        email = f"bench-usage-{i}@example.com"
        user = User.objects.filter(email=email).first() or user_create(
            email=email, password=None, validate=False, verified=True, actor=None
        )
        services.quota_set(
            user=user,
            actor=None,
            daily_limit=2_000_000_000,
            monthly_limit=2_000_000_000,
            daily_cost_limit=Decimal("999999999"),
            monthly_cost_limit=Decimal("999999999"),
        )
        users.append(user)
    provider = Provider.objects.filter(name="Bench provider").first() or services.provider_create(
        actor=None,
        name="Bench provider",
        provider_type="openai",
        model_name="gpt-bench",
        api_endpoint="https://api.example.com/v1",
        cost_per_1k_tokens=Decimal("0.002000"),
    )
    return users, provider


def _requests_of(model: str) -> int:
    from django.db.models import Sum

    from providers.models import UsageTracking

    return UsageTracking.objects.filter(model=model).aggregate(n=Sum("requests_count", default=0))["n"]


class _Cpu:
    """CPU seconds of this process and of its database backend, between start and stop."""

    def __init__(self, backend_pid: int):
        self.backend_pid = backend_pid
        self.start = time.process_time() + _backend_cpu(backend_pid)

    def stop(self) -> float:
        return time.process_time() + _backend_cpu(self.backend_pid) - self.start


def _django_backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


class Run:
    def __init__(self, calls: int, timed: int, wall: float, cpu: float):
        self.calls, self.timed, self.wall, self.cpu = calls, timed, wall, cpu

    @property
    def rate(self) -> float:
        return self.timed / self.wall

    @property
    def cpu_ms(self) -> float:
        return self.cpu / self.timed * 1000


def _run(workers: list[tuple], target, extra_cpu=None) -> Run:
    """Start one process per args tuple; each reports (all calls, timed calls, CPU seconds
    of the timed window, its own and its database backend's)."""
    from django.db import connections

    connections.close_all()  # never share a socket with forked children
    barrier = _CTX.Barrier(len(workers) + 1)
    queue = _CTX.Queue()
    procs = [_CTX.Process(target=target, args=(barrier, queue, *args)) for args in workers]
    for p in procs:
        p.start()
    barrier.wait()
    started = time.perf_counter()
    results = [queue.get(timeout=SECONDS * 10 + 60) for _ in procs]
    wall = time.perf_counter() - started
    for p in procs:
        p.join(30)
    errors = [r for r in results if isinstance(r, str)]
    if errors:
        raise RuntimeError("worker failed: " + errors[0])
    return Run(
        calls=sum(r[0] for r in results),
        timed=sum(r[1] for r in results),
        wall=wall,
        cpu=sum(r[2] for r in results) + (extra_cpu() if extra_cpu else 0.0),
    )


def _service_worker(barrier, queue, user_id, provider_id, model, seal_after_commit=True):
    try:
        from django.db import connection

        if not seal_after_commit:
            # Leave sealing to the one sequencer process (see _sequencer) instead of
            # every committer trying after its own commit.
            from audits import chain

            chain.schedule_after_commit = lambda *args: None

        from accounts.models import User
        from providers.models import Provider
        from providers.services import usage_record

        user, provider = User.objects.get(pk=user_id), Provider.objects.get(pk=provider_id)

        def call():
            usage_record(user=user, provider=provider, model=model, tokens_input=120, tokens_output=30)

        for _ in range(WARMUP_CALLS):
            call()
        cpu = _Cpu(_django_backend_pid())
        barrier.wait()
        n, deadline = 0, time.perf_counter() + SECONDS
        while time.perf_counter() < deadline:
            call()
            n += 1
        used = cpu.stop()
        connection.close()
        queue.put((n + WARMUP_CALLS, n, used))
    except Exception as exc:  # reported by the parent
        queue.put(f"{type(exc).__name__}: {exc}")
        barrier.abort()


def _sequencer(stop, report_queue):
    """One process sealing audit entries in a loop, as `manage.py audit_seal` would;
    reports its CPU seconds (its own and its backend's) when stopped."""
    from django.db import connection

    from audits.chain import chain_pending

    cpu = _Cpu(_django_backend_pid())
    while not stop.is_set():
        chain_pending()
        stop.wait(0.05)
    chain_pending(wait=True)
    report_queue.put(cpu.stop())
    connection.close()


RAW_UPSERT = """
INSERT INTO providers.usage_tracking AS u
       (user_id, provider_id, model, date, requests_count, tokens_input, tokens_output, cost_usd,
        created_at, updated_at)
VALUES (%s, %s, %s, %s, 1, 120, 30, 0.0003, now(), now())
ON CONFLICT (user_id, provider_id, model, date) DO UPDATE SET
       requests_count = u.requests_count + 1, tokens_input = u.tokens_input + 120,
       tokens_output = u.tokens_output + 30, cost_usd = u.cost_usd + 0.0003, updated_at = now()
"""


# What an audited usage record must write at the least, as raw SQL: the upsert and an
# audit row with the log's indexes (SPEC §8: every change audited, in its transaction).
RAW_AUDIT_TABLE = """
CREATE TABLE IF NOT EXISTS bench_floor_audit (
    id bigserial, ts timestamptz NOT NULL, entity text, action text, actor uuid, payload jsonb,
    entry_hmac char(64), PRIMARY KEY (id, ts));
CREATE INDEX IF NOT EXISTS bench_floor_audit_entity ON bench_floor_audit (entity, ts);
CREATE INDEX IF NOT EXISTS bench_floor_audit_actor ON bench_floor_audit (actor, ts);
CREATE INDEX IF NOT EXISTS bench_floor_audit_action ON bench_floor_audit (action, ts);
CREATE INDEX IF NOT EXISTS bench_floor_audit_ts ON bench_floor_audit (ts);
TRUNCATE bench_floor_audit;
"""
RAW_AUDIT_INSERT = (
    "INSERT INTO bench_floor_audit (ts, entity, action, actor, payload, entry_hmac) "
    "VALUES (now(), 'usage', 'record', %s, %s::jsonb, %s)"
)


def _raw_worker(barrier, queue, user_id, provider_id, model, day, audited=False):
    try:
        with raw_connection() as conn:
            args = [user_id, provider_id, model, day]
            audit_args = [user_id, json.dumps({"user": str(user_id), "model": model, "tokens": 150}), "0" * 64]

            def call():
                if not audited:
                    conn.execute(RAW_UPSERT, args, prepare=True)
                    return
                with conn.transaction():
                    conn.execute(RAW_UPSERT, args, prepare=True)
                    conn.execute(RAW_AUDIT_INSERT, audit_args, prepare=True)

            for _ in range(WARMUP_CALLS):
                call()
            cpu = _Cpu(conn.info.backend_pid)
            barrier.wait()
            n, deadline = 0, time.perf_counter() + SECONDS
            while time.perf_counter() < deadline:
                call()
                n += 1
            used = cpu.stop()
        queue.put((n + WARMUP_CALLS, n, used))
    except Exception as exc:
        queue.put(f"{type(exc).__name__}: {exc}")
        barrier.abort()


def _http_worker(barrier, queue, base, token, body):
    try:
        client = HttpClient(base, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        payload = json.dumps(body).encode()
        statuses: Counter = Counter()

        def post():
            statuses[client.send("POST", "/api/v1/usage/", payload)[0]] += 1

        for _ in range(WARMUP_CALLS):
            post()
        barrier.wait()
        n, deadline = 0, time.perf_counter() + SECONDS
        while time.perf_counter() < deadline:
            post()
            n += 1
        if set(statuses) != {201}:
            raise RuntimeError(f"unexpected statuses {dict(statuses)}")
        queue.put((n + WARMUP_CALLS, n, float("nan")))
    except Exception as exc:
        queue.put(f"{type(exc).__name__}: {exc}")
        barrier.abort()


def _lost(report, name: str, model: str, before: int, expected: int) -> None:
    lost = before + expected - _requests_of(model)
    report.add(f"{name}: lost increments", lost, "calls", target="0", met=lost == 0)


def main(report) -> None:
    from django.db import connections

    from accounts.services import session_create
    from audits.chain import chain_pending
    from providers import services
    from providers.periods import current_periods

    users, provider = _fixtures()
    day = current_periods().day
    stamp = str(int(time.time()))

    # 1. Eight writers, one user each.
    model, raw_model = f"svc-{stamp}", f"raw-{stamp}"
    before, raw_before = _requests_of(model), _requests_of(raw_model)
    svc = _run([(u.pk, provider.pk, model) for u in users], _service_worker)
    raw = _run([(u.pk, provider.pk, raw_model, day) for u in users], _raw_worker)
    report.add(
        "usage_record, 8 writers x 8 users",
        svc.rate,
        "upserts/s",
        target=">= 3000",
        met=svc.rate >= 3000,
        floor=raw.rate,
    )
    report.add("raw INSERT ... ON CONFLICT, 8 writers x 8 keys", raw.rate, "upserts/s")
    report.add("usage_record CPU per call (process + backend)", svc.cpu_ms, "ms", floor=raw.cpu_ms)
    report.add("raw upsert CPU per call (process + backend)", raw.cpu_ms, "ms")
    _lost(report, "usage_record, 8 users", model, before, svc.calls)
    _lost(report, "raw upsert, 8 keys", raw_model, raw_before, raw.calls)
    with raw_connection() as conn:
        conn.execute(RAW_AUDIT_TABLE)
    audited_model = f"rawaudit-{stamp}"
    raw_audited = _run([(u.pk, provider.pk, audited_model, day, True) for u in users], _raw_worker)
    report.add(
        "raw upsert + audit-shaped INSERT, one transaction, 8 writers",
        raw_audited.rate,
        "records/s",
        note="(the least an audited record writes; the 3,000/s target's ceiling)",
    )

    # 1b. The same, with audit sealing done by one sequencer process running alongside
    # (its CPU is counted) rather than attempted after every commit.
    seq_model = f"seq-{stamp}"
    before = _requests_of(seq_model)
    connections.close_all()
    stop, seq_cpu = _CTX.Event(), _CTX.Queue()
    sequencer = _CTX.Process(target=_sequencer, args=(stop, seq_cpu))
    sequencer.start()

    def stop_sequencer() -> float:
        stop.set()
        used = seq_cpu.get(timeout=120)
        sequencer.join(60)
        return used

    seq = _run([(u.pk, provider.pk, seq_model, False) for u in users], _service_worker, extra_cpu=stop_sequencer)
    report.add(
        "usage_record, 8 x 8 users, one audit sequencer",
        seq.rate,
        "upserts/s",
        target=">= 3000",
        met=seq.rate >= 3000,
        floor=raw.rate,
    )
    report.add("  CPU per call incl. the sequencer", seq.cpu_ms, "ms", floor=raw.cpu_ms)
    _lost(report, "usage_record + sequencer, 8 users", seq_model, before, seq.calls)

    # 2. Eight writers on one user: serialized by the per-user lock (by design).
    hot, raw_hot = f"hot-{stamp}", f"rawhot-{stamp}"
    before, raw_before = _requests_of(hot), _requests_of(raw_hot)
    one = _run([(users[0].pk, provider.pk, hot) for _ in users], _service_worker)
    raw_one = _run([(users[0].pk, provider.pk, raw_hot, day) for _ in users], _raw_worker)
    report.add("usage_record, 8 writers x 1 user", one.rate, "upserts/s", floor=raw_one.rate, note="(one lock)")
    _lost(report, "usage_record, 1 user", hot, before, one.calls)
    _lost(report, "raw upsert, 1 key", raw_hot, raw_before, raw_one.calls)

    # 3. HTTP through gunicorn, 8 clients (8 users).
    chain_pending(wait=True)
    http_model = f"http-{stamp}"
    before = _requests_of(http_model)
    tokens = [session_create(user=u).access for u in users]
    # The API takes only the model its provider offers: this run's HTTP calls get a
    # provider of their own, so their usage is counted apart.
    http_provider = services.provider_create(
        actor=None,
        name=f"Bench HTTP {stamp}",
        provider_type="openai",
        model_name=http_model,
        api_endpoint="https://api.example.com/v1",
        cost_per_1k_tokens=Decimal("0.002000"),
    )
    body = {"provider": str(http_provider.pk), "model": http_model, "tokens_input": 120, "tokens_output": 30}
    workers = int(os.environ.get("BENCH_GUNICORN_WORKERS", "4"))
    with gunicorn(workers=workers) as base:
        web = _run([(base, t, body) for t in tokens], _http_worker)
    report.add(
        f"POST /api/v1/usage/, 8 clients, gunicorn {workers} workers",
        web.rate,
        "req/s",
        target=">= 500",
        met=web.rate >= 500,
    )
    _lost(report, "POST /usage/", http_model, before, web.calls)
    chain_pending(wait=True)
    load1, _, _ = os.getloadavg()
    report.add("machine load average (1 min) at the end", load1, "", note=f"on {os.cpu_count()} cores")
