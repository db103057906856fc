"""The import run: reading, batching, per-batch transactions, the legacy-id map, rejects,
counts and progress, around the record kinds of legacy/kinds.

For each kind, in dependency order, records stream from the export (never a whole file
in memory) and are prepared (validated, normalized); prepared records are applied in
batches, each batch one transaction:

    1. look the batch's legacy keys up in the map: a key mapped with the same content
       digest is "already present"; with another digest it is a conflict (reject);
       a key repeated inside the batch waits for the next batch (decided once the first
       occurrence's fate is committed);
    2. the kind's write(): references resolved, then the domain's bulk service writes
       the rows and records the batch's audit entry;
    3. a map row for every record written (or found under its natural key).

A crash (even SIGKILL) loses at most the batch in flight, which rolls back as a whole;
the next run finds everything committed before it in the map and carries on. A batch
the database refuses unexpectedly is retried record by record, so one bad record costs
only itself (rejected with the database's reason).
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import DataError, IntegrityError, OperationalError, connection, reset_queries, transaction
from tqdm import tqdm

from core import bulk
from legacy.kinds import KINDS
from legacy.kinds.base import MAP_PROBE, Context, Item, Kind
from legacy.reader import RawRecord
from legacy.rejects import RejectsFile
from legacy.values import Reject

IMPORTED, PRESENT, REJECTED, DEFERRED = "imported", "present", "rejected", "deferred"
# What the database answers about a record's content: the batch is retried record by
# record. Anything else (connection lost, timeouts) ends the run; a re-run resumes.
REFUSALS = (IntegrityError, DataError)
# Deadlock, serialization failure: the batch is tried again (writers running side by side).
_RETRYABLE = {"40P01", "40001"}
_RETRIES = 4


def _sqlstate(exc: Exception) -> str | None:
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) or getattr(getattr(cause, "diag", None), "sqlstate", None)


@dataclass
class Counts:
    read: int = 0
    imported: int = 0
    present: int = 0
    rejected: int = 0

    def as_dict(self) -> dict:
        return {
            "read": self.read,
            "imported": self.imported,
            "already_present": self.present,
            "rejected": self.rejected,
        }


@dataclass
class Report:
    """What a run did. `rows` are the summary lines (kinds, and evaluations after
    experiments), each with read = imported + already present + rejected."""

    run_id: str
    dry_run: bool
    rejects_path: Path
    rows: dict[str, Counts] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    started_at: datetime | None = None
    seconds: float = 0.0
    sealed: int = 0
    rejects_written: int = 0  # lines of the rejects report (evaluations travel inside their experiment's)
    kind_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def totals(self) -> Counts:
        total = Counts()
        for counts in self.rows.values():
            total.read += counts.read
            total.imported += counts.imported
            total.present += counts.present
            total.rejected += counts.rejected
        return total

    @property
    def rejected(self) -> int:
        return self.totals.rejected

    @property
    def imported(self) -> int:
        return self.totals.imported

    def summary(self) -> dict:
        return {name: counts.as_dict() for name, counts in self.rows.items()}

    def lines(self) -> list[str]:
        head = f"{'kind':<16}{'read':>10}{'imported':>10}{'already present':>17}{'rejected':>10}"
        out = [head, "-" * len(head)]
        for name, c in [*self.rows.items(), ("total", self.totals)]:
            if name == "total":
                out.append("-" * len(head))
            out.append(f"{name:<16}{c.read:>10}{c.imported:>10}{c.present:>17}{c.rejected:>10}")
        return out


@dataclass(frozen=True)
class Options:
    root: Path
    kinds: list[Kind]
    batch_size: int
    dry_run: bool
    rejects_path: Path
    max_bytes: int
    fernets: object = None
    progress: bool = True
    sort_run_bytes: int | None = None
    read_ahead: bool = True  # prepare the next batch in a thread while this one is written
    read_apart: bool = True  # ... in a reader process for the kinds marked read_apart
    writers: int = 1  # batches written side by side (kinds whose batches are independent)


@dataclass
class _Chunk:
    items: list = field(default_factory=list)
    rejects: list = field(default_factory=list)  # (record, reason, records inside it)
    read: int = 0
    sub_read: int = 0


_DONE = object()


def _ahead(chunks: Iterator[_Chunk], depth: int = 2) -> Iterator[_Chunk]:
    """The chunks, produced by a thread running ahead (at most `depth` chunks ahead).

    Reading and preparing records is pure Python with no database access; applying a
    batch mostly waits for the database. Running the first in a thread overlaps the two
    (the GIL is released while waiting), so the database's core and this process's are
    busy at the same time. Memory stays bounded by `depth` chunks."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        q.put(chunk, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    worker = threading.Thread(target=produce, name="import_legacy-reader", daemon=True)
    # The writing thread mostly waits for the database; when an answer arrives it should
    # get the interpreter back at once, not after the reader's 5 ms time slice.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, 0.0005))
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        while worker.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(0.05)
        close = getattr(chunks, "close", None)
        if close is not None and not worker.is_alive():
            close()


class _Writers:
    """Writer threads, each with its own database connection, applying batches side by
    side: the database works on one batch while Python prepares the next one's rows.

    Only for kinds whose batches do not depend on each other's order. Two batches that
    meet on a row (the same legacy key, counter or natural key) are serialized by the
    database's own locks and unique constraints; keys are written in sorted order so they
    never deadlock, and a deadlock or serialization failure is retried anyway. A record
    deferred by a batch (its key repeated within it) is handed back and goes out again
    only after that batch committed."""

    def __init__(self, n: int, work):
        self._work = work
        self._jobs: queue.Queue = queue.Queue(maxsize=n)
        self._results: queue.Queue = queue.Queue()
        self._in_flight = 0
        self._threads = [
            threading.Thread(target=self._run, name=f"import_legacy-writer-{i}", daemon=True) for i in range(n)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        try:
            while True:
                items = self._jobs.get()
                if items is None:
                    return
                try:
                    self._results.put((items, self._work(items)))
                except BaseException as exc:  # raised again in the importing thread
                    self._results.put((items, exc))
        finally:
            connection.close()

    def _take(self, block: bool) -> list:
        done: list = []
        while self._in_flight:
            try:
                items, result = self._results.get(block=block and not done)
            except queue.Empty:
                break
            self._in_flight -= 1
            if isinstance(result, BaseException):
                raise result
            done.append((items, *result))
        return done

    def submit(self, items: list) -> list:
        """Queue a batch (waits while every writer is busy); returns batches finished meanwhile."""
        self._in_flight += 1
        self._jobs.put(items)
        return self._take(block=False)

    def drain(self) -> list:
        """Wait for every batch in flight; returns them."""
        done = []
        while self._in_flight:
            done.extend(self._take(block=True))
        return done

    def close(self) -> list:
        try:
            return self.drain()
        finally:
            for _ in self._threads:
                self._jobs.put(None)
            for thread in self._threads:
                thread.join()


def _pack(chunk: _Chunk) -> tuple:
    """What crosses the pipe: plain tuples (pickled several times faster than the
    dataclasses), without each record's parsed JSON (writers use the prepared value; a
    reject is masked from its text, parsed again when needed)."""
    items = [(it.key, it.digest, it.rec.file, it.rec.line, it.rec.text, it.value, it.sub) for it in chunk.items]
    rejects = [(r.file, r.line, r.text, r.error, reason, n) for r, reason, n in chunk.rejects]
    return chunk.read, chunk.sub_read, items, rejects


def _unpack(packed: tuple) -> _Chunk:
    read, sub_read, items, rejects = packed
    return _Chunk(
        items=[
            Item(key=key, digest=digest, rec=RawRecord(file, line, text), value=value, sub=sub)
            for key, digest, file, line, text, value, sub in items
        ],
        rejects=[
            (RawRecord(file, line, text, error=error), reason, n) for file, line, text, error, reason, n in rejects
        ],
        read=read,
        sub_read=sub_read,
    )


_DONE_APART = "done"


def _die_with_parent() -> None:
    """Ask Linux to end this process when the importer dies (SIGKILL included), even
    while it is reading or sorting and not yet waiting on the queue."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the queue's parent check remains
        pass


_PR_SET_PDEATHSIG = 1


def _produce_apart(make_chunks, q, parent: int) -> None:
    """The reader process: put each chunk on the queue; stop if the importer is gone."""
    _die_with_parent()
    if os.getppid() != parent:  # gone before the request above took hold
        os._exit(1)
    try:
        tqdm.set_lock(multiprocessing.RLock())  # the parent's may have been held at fork
        for chunk in make_chunks():
            packed = _pack(chunk)
            while True:
                try:
                    q.put(packed, timeout=0.5)
                    break
                except queue.Full:
                    if os.getppid() != parent:  # the importer was killed: nobody reads
                        os._exit(1)
        q.put(_DONE_APART)
    except BaseException as exc:  # handed to the importer, raised there
        q.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        q.close()
        q.join_thread()


class _ReaderProcess:
    """A forked reader process producing chunks ahead (at most `depth` chunks ahead):
    reading and preparing then use the second core instead of competing with the
    writers for this interpreter. The child touches no database connection (preparing
    is pure Python) and dies with the importer. It starts when made, so a kind that must
    read everything before its first record (audit events are sorted by ts) can do that
    while earlier kinds are still being written."""

    def __init__(self, make_chunks, depth: int = 3):
        ctx = multiprocessing.get_context("fork")
        self.q = ctx.Queue(maxsize=depth)
        self.proc = ctx.Process(
            target=_produce_apart, args=(make_chunks, self.q, os.getpid()), name="import_legacy-reader", daemon=True
        )
        self.proc.start()

    def chunks(self) -> Iterator[_Chunk]:
        try:
            while True:
                try:
                    item = self.q.get(timeout=1)
                except queue.Empty:
                    if not self.proc.is_alive():
                        raise RuntimeError(f"the reader process died (exit code {self.proc.exitcode})") from None
                    continue
                if item == _DONE_APART:
                    return
                if item[0] == "error":
                    raise RuntimeError(f"reading failed: {item[1]}")
                yield _unpack(item)
        finally:
            self.stop()

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(5)
        self.q.close()


def _ahead_apart(make_chunks, depth: int = 3) -> Iterator[_Chunk]:
    """The chunks, from a reader process started on the first request."""
    yield from _ReaderProcess(make_chunks, depth).chunks()


class Importer:
    def __init__(self, options: Options, *, actor, stderr=None):
        self.o = options
        self.stderr = stderr or sys.stderr
        now = datetime.now(UTC)
        self.report = Report(run_id=str(uuid.uuid4()), dry_run=options.dry_run, rejects_path=options.rejects_path)
        self.report.started_at = now
        self.ctx = Context(
            root=options.root,
            run_id=self.report.run_id,
            actor=actor,
            now=now,
            max_bytes=options.max_bytes,
            fernets=options.fernets,
            extra={"sort_run_bytes": options.sort_run_bytes},
        )
        for kind in options.kinds:
            self.report.rows[kind.name] = Counts()
            if kind.sub_name:
                self.report.rows[kind.sub_name] = Counts()
        self.rejects: RejectsFile | None = None
        self._early: dict[str, _ReaderProcess] = {}  # reader processes started ahead of their kind

    # --- the run ---------------------------------------------------------------------

    def run(self) -> Report:
        started = time.monotonic()
        self.rejects = RejectsFile(self.o.rejects_path)
        try:
            self._start_ordered_readers()
            for kind in self.o.kinds:
                began = time.monotonic()
                self._kind(kind)
                self.report.kind_seconds[kind.name] = time.monotonic() - began
        finally:
            for reader in self._early.values():
                reader.stop()
            self.report.rejects_written = self.rejects.count
            self.rejects.close()
            self.report.seconds = time.monotonic() - started
        return self.report

    def _start_ordered_readers(self) -> None:
        """Kinds that read (and sort) all their records before the first one (audit
        events, by ts) get their reader process now: the sort then runs while the kinds
        before them are written, instead of leaving the writers idle at their turn.
        Preparing needs nothing that earlier kinds produce (no database work), so the
        records are the same. Their progress is shown by this process when their turn
        comes (a bar from the reader would run beside another kind's)."""
        if not (self.o.read_ahead and self.o.read_apart):
            return
        for kind in self.o.kinds[1:]:
            if kind.order is not None and kind.read_apart:
                size = self._batch_size(kind)
                self._early[kind.name] = _ReaderProcess(
                    lambda kind=kind, size=size: self._chunks(kind, size, progress=False)
                )

    def _in_order_bar(self, kind: Kind):
        """Progress of an ordered kind's records as they come out in order (no total)."""
        bar = self._bar(kind, 0, "rec", f"{kind.name} (in order)")
        bar.total = None
        return bar

    def _counted(self, kind: Kind, chunks: Iterator[_Chunk]) -> Iterator[_Chunk]:
        with self._in_order_bar(kind) as bar:
            for chunk in chunks:
                yield chunk
                bar.update(chunk.read)

    def _batch_size(self, kind: Kind) -> int:
        return min(self.o.batch_size, kind.batch_cap or self.o.batch_size)

    def _bar(self, kind: Kind, total: int, unit: str, desc: str | None = None):
        return tqdm(
            total=total,
            desc=desc or kind.name,
            unit=unit,
            unit_scale=unit == "B",
            file=self.stderr,
            disable=None if self.o.progress else True,
            mininterval=0.5,
            leave=True,
        )

    def _records(self, kind: Kind, *, progress: bool = True) -> Iterator[RawRecord]:
        source = kind.source
        if progress:
            desc = f"{kind.name} (reading)" if kind.order else None
            bar = self._bar(kind, source.total(self.o.root), source.unit, desc)
        else:
            bar = tqdm(disable=True)
        try:
            records = source.read(self.o.root, max_bytes=self.o.max_bytes, progress=bar.update)
            if kind.order is None:
                yield from records
                return
            ordered = kind.order(records, self.ctx)
            first = next(ordered, None)  # the whole kind is read (and sorted) by now
            bar.close()
            if first is None:
                return
            with self._in_order_bar(kind) if progress else tqdm(disable=True) as done:
                yield first
                done.update(1)
                for rec in ordered:
                    yield rec
                    done.update(1)
        finally:
            bar.close()

    def _chunks(self, kind: Kind, batch_size: int, *, progress: bool = True) -> Generator[_Chunk]:
        """Read and prepare the kind's records (no database work), in chunks of at most
        batch_size prepared records with the rejects met on the way."""
        chunk = _Chunk()
        for rec in self._records(kind, progress=progress):
            inner = kind.sub_count(rec.data) if kind.sub_count else 0
            chunk.read += 1
            chunk.sub_read += inner
            if rec.error is not None:
                chunk.rejects.append((rec, rec.error, inner))
            else:
                try:
                    item = kind.prepare(rec, self.ctx)
                except Reject as exc:
                    chunk.rejects.append((rec, exc.reason, inner))
                else:
                    item.sub = inner
                    chunk.items.append(item)
            if len(chunk.items) + len(chunk.rejects) >= batch_size:
                yield chunk
                chunk = _Chunk()
        if chunk.read:
            yield chunk

    def _kind(self, kind: Kind) -> None:
        counts = self.report.rows[kind.name]
        sub = self.report.rows.get(kind.sub_name) if kind.sub_name else None
        batch_size = self._batch_size(kind)
        chunks = self._chunks(kind, batch_size)
        writers = self.o.writers if kind.parallel else 1
        pool = _Writers(writers, lambda items: self._batch(kind, items)) if writers > 1 else None
        pending: list[Item] = []

        def account(done: list) -> None:
            for items, outcomes, deferred in done:
                self._account(kind, items, outcomes)
                pending.extend(deferred)

        def apply(items: list[Item]) -> None:
            if pool is None:
                account([(items, *self._batch(kind, items))])
            else:
                account(pool.submit(items))

        try:
            if kind.name in self._early:
                chunks.close()  # never started: the reader process started early makes them
                source = self._counted(kind, self._early.pop(kind.name).chunks())
            elif not self.o.read_ahead:
                source = chunks
            elif kind.read_apart and self.o.read_apart:
                chunks.close()  # never started: the reader process makes its own
                source = _ahead_apart(lambda: self._chunks(kind, batch_size))
            else:
                source = _ahead(chunks)
            for chunk in source:
                counts.read += chunk.read
                if sub is not None:
                    sub.read += chunk.sub_read
                for rec, reason, inner in chunk.rejects:
                    self._reject(kind, rec, reason, inner)
                pending.extend(chunk.items)
                while len(pending) >= batch_size:
                    items, pending[:] = pending[:batch_size], pending[batch_size:]
                    apply(items)
            while True:
                while pending:
                    items, pending[:] = pending[:batch_size], pending[batch_size:]
                    apply(items)
                if pool is None:
                    break
                account(pool.drain())  # records deferred by the last batches come back
                if not pending:
                    break
        finally:
            if pool is not None:
                account(pool.close())
        if self.rejects:
            self.rejects.flush()

    def _reject(self, kind: Kind, rec: RawRecord, reason: str, inner: int = 0) -> None:
        self.report.rows[kind.name].rejected += 1
        if kind.sub_name and inner:
            self.report.rows[kind.sub_name].rejected += inner
        assert self.rejects is not None  # run() opens it before any kind is read
        self.rejects.write(rec=rec, kind=kind.name, reason=reason)

    # --- one batch (in the calling thread or a writer thread) --------------------------

    def _batch(self, kind: Kind, items: list[Item]) -> tuple[list, list[Item]]:
        """Apply a batch in its own transaction: (outcomes, records deferred to a later batch).
        Database work only; the counts and the rejects report are the caller's."""
        ctx = replace(self.ctx, batch_first=items[0].rec.source, batch_last=items[-1].rec.source)
        try:
            for attempt in range(_RETRIES):
                try:
                    with transaction.atomic():
                        self._batch_settings()
                        return self._apply(kind, items, ctx)
                except OperationalError as exc:
                    # Two writers that met on a row: the database chose this one to retry.
                    if _sqlstate(exc) not in _RETRYABLE or attempt == _RETRIES - 1:
                        raise
                    time.sleep(0.05 * (attempt + 1))
            raise AssertionError("unreachable")
        except REFUSALS:
            return self._one_by_one(kind, items, ctx)
        finally:
            # With DEBUG on, Django keeps the last 9,000 statements, and these are large
            # (a batch each). Not when someone asked to see them (CaptureQueriesContext).
            if settings.DEBUG and not connection.force_debug_cursor:
                reset_queries()

    def _one_by_one(self, kind: Kind, items: list[Item], ctx: Context) -> tuple[list, list[Item]]:
        outcomes: list = []
        deferred: list[Item] = []
        for item in items:
            one = replace(ctx, batch_first=item.rec.source, batch_last=item.rec.source)
            try:
                with transaction.atomic():
                    self._batch_settings()
                    result, later = self._apply(kind, [item], one)
            except REFUSALS as exc:
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                result, later = [(REJECTED, f"refused by the database: {message}")], []
            outcomes.extend(result)
            deferred.extend(later)
        return outcomes, deferred

    def _batch_settings(self) -> None:
        """Settings of a batch's transaction.

        synchronous_commit off: a commit does not wait for its WAL flush. A crash of the
        database server can lose the last fraction of a second of whole batches, which the
        next run imports again (their legacy-id map rows go with them); never a partial one.

        enable_seqscan off: every statement of a batch is an index lookup (legacy keys,
        e-mails, ids, unique constraints). The tables grow from nothing to millions of rows
        during one run, faster than statistics follow, and with stale statistics the
        planner scans the whole legacy-id map for each batch's keys (seconds per batch)."""
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO off; SET LOCAL enable_seqscan TO off")

    def _apply(self, kind: Kind, items: list[Item], ctx: Context) -> tuple[list, list[Item]]:
        known = self._known(kind, [it.key for it in items])
        outcomes: list = [None] * len(items)
        first: dict[str, int] = {}
        fresh: list[int] = []
        deferred: list[Item] = []
        for index, item in enumerate(items):
            prior = known.get(item.key)
            if prior is not None:
                prior_digest, prior_source = prior
                if kind.merge_duplicates or prior_digest == item.digest:
                    outcomes[index] = (PRESENT, None)
                else:
                    outcomes[index] = (
                        REJECTED,
                        f"another record with the same {kind.key_label} ({item.key}) was imported from {prior_source}",
                    )
            elif item.key in first:
                outcomes[index] = (DEFERRED, None)
                deferred.append(item)
            else:
                first[item.key] = index
                fresh.append(index)
        results = kind.write([items[i] for i in fresh], ctx) if fresh else []
        rows = []
        for index, result in zip(fresh, results, strict=True):
            item = items[index]
            if not result.ok:
                outcomes[index] = (REJECTED, result.error)
                continue
            outcomes[index] = (PRESENT if result.existed else IMPORTED, None)
            target = result.id if kind.target == "uuid" else None
            audit_id = result.id if kind.target == "audit" else None
            rows.append((kind.map_kind, item.key, item.digest, target, audit_id, item.rec.source))
        if rows:
            self._remember(rows, ctx)
        return outcomes, deferred

    def _account(self, kind: Kind, items: list[Item], outcomes: list) -> None:
        counts = self.report.rows[kind.name]
        sub = self.report.rows.get(kind.sub_name) if kind.sub_name else None
        for item, (outcome, reason) in zip(items, outcomes, strict=True):
            if outcome == DEFERRED:
                continue  # already counted as read; decided by the next batch
            if outcome == REJECTED:
                self._reject(kind, item.rec, reason, item.sub)
            elif outcome == IMPORTED:
                counts.imported += 1
                if sub is not None:
                    sub.imported += item.sub
            else:
                counts.present += 1
                if sub is not None:
                    sub.present += item.sub

    # --- the legacy-id map -----------------------------------------------------------

    def _known(self, kind: Kind, keys: list[str]) -> dict[str, tuple[str, str]]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT m.key, m.digest, m.source FROM {MAP_PROBE}",
                [json.dumps(sorted(set(keys)), ensure_ascii=False), kind.map_kind],
            )
            return {key: (digest, source) for key, digest, source in cursor.fetchall()}

    def _remember(self, rows: list[tuple], ctx: Context) -> None:
        # Inserted in key order: two writers never wait on each other's keys in a cycle.
        rows.sort(key=lambda row: row[1])
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO legacy_records (kind, key, digest, target_id, audit_id, source, imported_at)
                SELECT r->>0, r->>1, r->>2, (r->>3)::uuid, (r->>4)::bigint, r->>5, %s
                FROM jsonb_array_elements(%s::jsonb) AS r
                """,
                [ctx.now, bulk.json_rows(rows)],
            )


def selected_kinds(only: list[str] | None) -> list[Kind]:
    if not only:
        return list(KINDS)
    names = {name.strip() for name in only if name.strip()}
    unknown = names - {kind.name for kind in KINDS}
    if unknown:
        raise ValueError(
            f"unknown kind(s) {', '.join(sorted(unknown))}; known: {', '.join(kind.name for kind in KINDS)}"
        )
    return [kind for kind in KINDS if kind.name in names]
