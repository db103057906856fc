"""Audit log: append throughput vs raw INSERT and the naive lock, chain lag, verification speed, time-range query.

Figures (2-core machine, 8 writer processes, each append its own transaction):
- raw psycopg INSERT+COMMIT/s into a table of the same shape (the physical floor)
- naive chaining (advisory lock held to commit, read head, insert signed row)/s
- audit_record/s (append in the writer's transaction, sealed by the sequencer after commit)
- p50/p95 append latency, chain lag p99 (commit → sealed, sampled every ~5 ms)
- verification rows/s over >= 1M sealed entries; time-range query p95 over >= 5M entries
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import threading
import time
from datetime import UTC, datetime, timedelta

from bench.common import percentile, raw_connection

WRITERS = 8
APPENDS_PER_WRITER = int(os.environ.get("BENCH_AUDIT_APPENDS", "1500"))
BULK_ROWS = int(os.environ.get("BENCH_AUDIT_ROWS", "5000000"))
VERIFY_WORKERS = int(os.environ.get("VERIFY_WORKERS", "0"))  # 0: the command's default


def _raw_worker(n: int, out) -> None:
    conn = raw_connection()
    lat = []
    for i in range(n):
        t = time.perf_counter()
        conn.execute(
            "INSERT INTO bench_raw_audit (ts, entity, action, payload, entry_hmac) "
            "VALUES (now(), 'bench', 'raw', %s, %s)",
            [json.dumps({"i": i}), "0" * 64],
        )
        lat.append(time.perf_counter() - t)
    out.put(lat)
    conn.close()


def _naive_worker(n: int, out) -> None:
    """The design the sequencer replaces: the same Django write path and signing, but each
    append takes a global advisory lock, reads the chain head and inserts a linked row,
    holding the lock until its transaction commits (NOTES-postgres.md)."""
    from django.db import connection, connections, transaction
    from django.utils import timezone

    from audits import signing
    from audits.services import payload_text

    connections.close_all()
    key = signing.signing_key()
    lat = []
    for i in range(n):
        t = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cur:
            text = payload_text({"i": i, "worker": os.getpid()})
            cur.execute("SELECT pg_advisory_xact_lock(99)")
            cur.execute("SELECT id, signature FROM bench_naive_audit ORDER BY id DESC LIMIT 1")
            row = cur.fetchone()
            prev = row[1] if row else signing.GENESIS
            cur.execute("SELECT nextval('bench_naive_audit_id_seq')")
            entry_id = cur.fetchone()[0]
            ts = timezone.now()
            body = signing.content(entry_id, signing.ts_text(ts), "bench", "naive", None, text)
            cur.execute(
                "INSERT INTO bench_naive_audit (id, ts, entity, action, payload, prev_hash, signature) "
                "VALUES (%s, %s, 'bench', 'naive', %s::jsonb, %s, %s)",
                [entry_id, ts, text, prev, signing.link_signature(key, body, entry_id, prev)],
            )
        lat.append(time.perf_counter() - t)
    out.put(lat)
    connections.close_all()


def _service_worker(n: int, tag: str, out) -> None:
    from django.db import connections, transaction

    from audits.services import audit_record

    connections.close_all()
    lat, committed = [], []
    for i in range(n):
        t = time.perf_counter()
        with transaction.atomic():
            entry_id = audit_record(entity="bench", action=tag, payload={"i": i, "worker": os.getpid()})
        # Commit happened at the end of the atomic block; sealing ran in on_commit (if we won the lock).
        committed.append((entry_id, time.time()))
        lat.append(time.perf_counter() - t)
    out.put((lat, committed))
    connections.close_all()


def _run_pool(target, args_for) -> tuple[float, list]:
    from django.db import connections

    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_for(w), out)) for w in range(WRITERS)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    return elapsed, results


def _prepare_scratch_tables() -> None:
    with raw_connection() as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_raw_audit (id bigserial, ts timestamptz NOT NULL, entity text, "
            "action text, payload jsonb, entry_hmac char(64), PRIMARY KEY (id, ts))"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_naive_audit (id bigserial PRIMARY KEY, ts timestamptz NOT NULL, "
            "entity text, action text, payload jsonb, prev_hash char(64), signature char(64))"
        )
        conn.execute("TRUNCATE bench_raw_audit, bench_naive_audit")


class _LagSampler(threading.Thread):
    """Polls the pending entries every few ms and remembers when each was last seen pending."""

    def __init__(self, tag: str):
        super().__init__(daemon=True)
        self.tag, self.last_seen, self.stop_flag, self.interval = tag, {}, threading.Event(), 0.005

    def run(self):
        conn = raw_connection()
        while not self.stop_flag.is_set():
            now = time.time()
            for (entry_id,) in conn.execute(
                "SELECT id FROM audits.audit_pending WHERE action = %s", [self.tag]
            ).fetchall():
                self.last_seen[entry_id] = now
            time.sleep(self.interval)
        conn.close()


def _bulk_load(target_rows: int, report) -> int:
    """Append valid, sealed entries in bulk (COPY) until the log holds target_rows, spread
    over the last 24 months. Cached: nothing happens when the log is already that big."""
    from django.db import connection

    from audits.chain import chain_pending

    chain_pending(wait=True)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM audits.audit_log")
        have = cur.fetchone()[0]
    missing = target_rows - have
    if missing <= 0:
        return have
    print(f"  loading {missing:,} sealed audit entries (once; cached in the bench database)...", flush=True)
    end = datetime.now(UTC) - timedelta(minutes=5)
    rate = append_sealed(missing, start=end - timedelta(days=730), end=end)
    report.add("bulk load (COPY, signed in Python)", rate, "rows/s", note="set-up")
    return target_rows


def append_sealed(count: int, *, start: datetime, end: datetime) -> float:
    """Append `count` genuine entries, spread evenly from `start` to `end`, already sealed
    onto the chain's head exactly as the sequencer would seal them (so verification passes
    over them), in one COPY under the sequencer's lock, and move the head the sequencer
    reads (audits.audit_chain_head) past them. Returns rows/s. For benchmark data only:
    the application appends through audits.services.audit_record."""
    from audits import jsonb, partitions, signing
    from audits.chain import SEQUENCER_LOCK, chain_head, chain_pending

    chain_pending(wait=True)  # nothing pending may be sealed behind our back
    key = signing.signing_key()
    step = (end - start) / count
    month = partitions.month_start(start)
    while month <= end.date():
        partitions.ensure_partition(month)
        month = partitions.add_months(month, 1)
    raw = raw_connection()
    raw.execute("SET statement_timeout = 0")  # one long COPY, not a request
    entities = ["experiment", "project", "user", "provider_key", "session", "promotion"]
    actions = ["create", "update", "transition", "approve", "login", "delete"]
    t0 = time.perf_counter()
    with raw.transaction():
        raw.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCER_LOCK])
        with raw.cursor() as cur:
            seq, prev = chain_head(cur)
        first_id = raw.execute("SELECT nextval('audits.audit_log_id_seq')").fetchone()[0]
        raw.execute("SELECT setval('audits.audit_log_id_seq', %s)", [first_id + count])
        with raw.cursor().copy(
            "COPY audits.audit_log (id, ts, entity, action, actor, payload, entry_hmac, chain_seq, prev_hash, "
            "signature) FROM STDIN"
        ) as copy:
            buf = io.StringIO()
            for k in range(count):
                entry_id = first_id + k
                ts = start + step * k
                entity, action = entities[k % 6], actions[(k // 6) % 6]
                payload = jsonb.render({"n": k, "note": "bulk"})
                body = signing.content(entry_id, signing.ts_text(ts), entity, action, None, payload)
                mac = signing.entry_hmac(key, body)
                seq += 1
                sig = signing.link_signature(key, body, seq, prev)
                buf.write(
                    f"{entry_id}\t{ts.isoformat()}\t{entity}\t{action}\t\\N\t{payload}\t{mac}\t{seq}\t{prev}\t{sig}\n"
                )
                prev = sig
                if k % 50_000 == 49_999:
                    copy.write(buf.getvalue())
                    buf = io.StringIO()
            copy.write(buf.getvalue())
        raw.execute("SELECT audits.audit_log_seal_head(%s, %s)", [seq, prev])
    rate = count / (time.perf_counter() - t0)
    # As autovacuum would have left an older log: hint bits set, visibility map current.
    raw.execute("VACUUM (ANALYZE) audits.audit_log")
    raw.close()
    return rate


def main(report) -> None:
    from django.db import connection

    from audits.chain import chain_pending
    from audits.verify import default_workers, verify_chain

    _prepare_scratch_tables()
    n = APPENDS_PER_WRITER

    elapsed, results = _run_pool(_raw_worker, lambda w: (n,))
    raw_rate = WRITERS * n / elapsed
    raw_lat = [x for r in results for x in r]
    report.add("raw INSERT+COMMIT, 8 connections", raw_rate, "rows/s", note="physical floor")

    elapsed, results = _run_pool(_naive_worker, lambda w: (n // 3,))
    naive_rate = WRITERS * (n // 3) / elapsed
    report.add("naive chain (lock held to commit), 8 writers", naive_rate, "rows/s")

    tag = f"bench-{int(time.time())}"
    sampler = _LagSampler(tag)
    sampler.start()
    elapsed, results = _run_pool(_service_worker, lambda w: (n, tag))
    chain_pending(wait=True)
    time.sleep(0.05)
    sampler.stop_flag.set()
    sampler.join()
    rate = WRITERS * n / elapsed
    lat = [x for r in results for x in r[0]]
    committed = dict(c for r in results for c in r[1])
    lags = [max(0.0, sampler.last_seen.get(i, t) - t) for i, t in committed.items()]
    report.add(
        "audit_record, 8 writers",
        rate,
        "appends/s",
        target=">= 2000 and >= 4x naive",
        met=rate >= 2000 and rate >= 4 * naive_rate,
        floor=raw_rate,
    )
    report.add("audit_record vs naive lock", rate / naive_rate, "x", target=">= 4x", met=rate >= 4 * naive_rate)
    report.add(
        "append latency p50 (commit + seal)", percentile(lat, 50) * 1000, "ms", floor=percentile(raw_lat, 50) * 1000
    )
    report.add(
        "append latency p95 (commit + seal)", percentile(lat, 95) * 1000, "ms", floor=percentile(raw_lat, 95) * 1000
    )
    report.add(
        "chain lag p99 (commit -> sealed, 5 ms sampling)",
        percentile(lags, 99) * 1000,
        "ms",
        target="<= 1000 ms",
        met=percentile(lags, 99) <= 1.0,
    )

    total = _bulk_load(BULK_ROWS, report)
    # Every entry is written twice (appended, then sealed), so the appends above leave as
    # many dead row versions in the current month; verification is measured on the log as
    # (auto)vacuum leaves it, not in the minutes before autovacuum gets there.
    started = time.perf_counter()
    with raw_connection() as conn:  # autocommit: VACUUM cannot run in a transaction
        conn.execute("VACUUM (ANALYZE) audits.audit_log")
    print(f"  VACUUM (ANALYZE) audits.audit_log before verifying: {time.perf_counter() - started:.1f} s", flush=True)
    # As the command runs it (one worker process per CPU, VERIFY_WORKERS to change), and
    # in one process for comparison.
    parallel = VERIFY_WORKERS or default_workers()
    for workers, label in ((parallel, f"{parallel} worker processes"), (1, "one process")):
        started = time.perf_counter()
        result = verify_chain(unbounded=True, workers=workers)
        took = time.perf_counter() - started
        report.add(
            f"verification over {result.checked:,} entries, {label}",
            result.checked / took,
            "rows/s",
            target=">= 100000 rows/s" if workers == parallel else "",
            met=(result.ok and result.checked / took >= 100_000) if workers == parallel else None,
            note="" if result.ok else f"BROKEN: {result.as_dict()['first_broken']}",
        )

    # Time-range query: one hour of one entity, newest first, a page of 50 (what the API runs).
    with connection.cursor() as cur:
        cur.execute("SELECT min(ts), max(ts) FROM audits.audit_log")
        lo, hi = cur.fetchone()
    import random

    rng = random.Random(7)
    windows = [lo + (hi - lo) * rng.random() for _ in range(300)]
    sql = (
        "SELECT id, ts, entity, action, actor, payload, chain_seq, prev_hash, signature FROM audits.audit_log "
        "WHERE entity = %s AND ts >= %s AND ts < %s ORDER BY ts DESC, id DESC LIMIT 50"
    )
    conn = raw_connection()
    samples = []
    for w in windows:
        t = time.perf_counter()
        conn.execute(sql, ["experiment", w, w + timedelta(hours=6)]).fetchall()
        samples.append(time.perf_counter() - t)
    conn.close()
    report.add(
        f"time-range query p95 ({total:,} entries, 6 h window, page of 50)",
        percentile(samples, 95) * 1000,
        "ms",
        target="<= 20 ms",
        met=percentile(samples, 95) <= 0.020,
    )
