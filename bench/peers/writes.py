"""Workload (a): 8 writer processes, each N creates then N transitions (created → running),
one transaction each, through the system's write path:

- tristate: experiments.services (experiment_create, experiment_transition), the audit
  chain sealed by each process's sealer thread as in production (AUDIT_SEALER=thread);
- the peers: the model's save() in transaction.atomic(), the actor set as their middleware
  would set it (bench.peers.lab.history.actor), the transition locking the row first;
- raw: psycopg alone, the row and one history row in one transaction.

The processes are forked from the runner once Django is set up. Before the clock starts
each writer makes WARMUP creates and moves of its own, so that every system is measured
warm, as a long-lived server process is: connections open (Tristate's sealer thread has
its own), catalog caches loaded, statements prepared; Tristate's warm-up entries are
sealed before the clock starts. The runner times each phase from the moment it releases
the writers to the last one's last commit (and, for Tristate, to the moment no entry is
left unsealed), and reads the CPU time of the writer processes and of every client
backend of the database from /proc at the phase bounds."""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import threading
import time

from bench.common import percentile, process_cpu_seconds

WRITERS = 8
PHASES = ("create", "transition")
WARMUP = 5  # creates and moves per writer before the clock starts


def _config(run: str, writer: int, i: int) -> dict:
    return {"model": "bench", "run": run, "writer": writer, "i": i, "params": {"temperature": 0.2, "top_p": 0.9}}


def _tristate_ops(writer: int, run: str):
    from accounts.models import User
    from experiments.services import experiment_create, experiment_transition
    from projects.models import Project

    from .data import owner_email

    user = User.objects.get(email=owner_email(writer % 20))
    project = Project.objects.filter(owner=user, name__startswith="bench project").order_by("name").first().pk

    def create(i):
        return experiment_create(
            project=project,
            name=f"peers write {run}-{writer}-{i}",
            config=_config(run, writer, i),
            actor=user,
            dataset_id="bench",
        )

    def transition(experiment):
        experiment_transition(experiment=experiment, to="running", actor=user)

    return create, transition


def _peer_ops(writer: int, run: str):
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from .data import owner_email
    from .lab.api import apply_move, config_hash
    from .lab.history import actor
    from .lab.models import ALLOWED_MOVES, Experiment, Project

    user = get_user_model().objects.get(email=owner_email(writer % 20))
    project = Project.objects.filter(owner=user, name__startswith="bench project").order_by("name").first()

    def create(i):
        config = _config(run, writer, i)
        with transaction.atomic(), actor(user):
            return Experiment.objects.create(
                project=project,
                name=f"peers write {run}-{writer}-{i}",
                config=config,
                config_hash=config_hash(config),
                dataset_id="bench",
                created_by=user,
            ).pk

    def transition(pk):
        with transaction.atomic(), actor(user):
            experiment = Experiment.objects.select_for_update(of=("self",)).filter(project__owner=user).get(pk=pk)
            if "running" not in ALLOWED_MOVES[experiment.status]:
                raise RuntimeError(f"cannot move {pk} from {experiment.status}")
            experiment.save(update_fields=apply_move(experiment, "running"))

    return create, transition


RAW_HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS raw_history (
    id bigserial PRIMARY KEY, ts timestamptz NOT NULL DEFAULT now(), experiment_id uuid NOT NULL,
    action text NOT NULL, actor_id integer NOT NULL, data jsonb NOT NULL)
"""


def _raw_ops(writer: int, run: str):
    import psycopg
    from psycopg.types.json import Jsonb

    from core.ids import uuid7

    from .data import owner_email, sample

    conn = psycopg.connect(os.environ["PEER_DATABASE_URL"])
    user_id = conn.execute("SELECT id FROM auth_user WHERE email = %s", [owner_email(writer % 20)]).fetchone()[0]
    project = sample(conn, "peer", owner_email(writer % 20), size=0)["project"]
    conn.commit()

    def create(i):
        pk, config = uuid7(), _config(run, writer, i)
        digest = hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        with conn.transaction():
            conn.execute(
                "INSERT INTO lab_experiment (id, created_at, updated_at, project_id, name, description, version, "
                "config, config_hash, dataset_id, status, created_by_id) "
                "VALUES (%s, now(), now(), %s, %s, '', 'v1', %s, %s, 'bench', 'created', %s)",
                [pk, project, f"peers write {run}-{writer}-{i}", Jsonb(config), digest, user_id],
            )
            conn.execute(
                "INSERT INTO raw_history (experiment_id, action, actor_id, data) VALUES (%s, 'create', %s, %s)",
                [pk, user_id, Jsonb({"name": f"peers write {run}-{writer}-{i}", "config_hash": digest})],
            )
        return pk

    def transition(pk):
        with conn.transaction():
            status = conn.execute("SELECT status FROM lab_experiment WHERE id = %s FOR UPDATE", [pk]).fetchone()[0]
            if status != "created":
                raise RuntimeError(f"cannot move {pk} from {status}")
            conn.execute(
                "UPDATE lab_experiment SET status = 'running', started_at = now(), updated_at = now() WHERE id = %s",
                [pk],
            )
            conn.execute(
                "INSERT INTO raw_history (experiment_id, action, actor_id, data) VALUES (%s, 'transition', %s, %s)",
                [pk, user_id, Jsonb({"from": "created", "to": "running"})],
            )

    return create, transition


OPS = {"tristate": _tristate_ops, "raw": _raw_ops}


def _writer(system: str, writer: int, n: int, run: str, barrier, queue) -> None:
    try:
        create, transition = OPS.get(system, _peer_ops)(writer, run)
        latencies = {phase: [] for phase in PHASES}
        for i in range(n, n + WARMUP):  # indexes after the measured ones: names stay distinct
            transition(create(i))
        barrier.wait()  # ready
        barrier.wait()  # go: creates
        made = []
        for i in range(n):
            started = time.perf_counter()
            made.append(create(i))
            latencies["create"].append(time.perf_counter() - started)
        barrier.wait()  # creates committed
        barrier.wait()  # go: transitions
        for item in made:
            started = time.perf_counter()
            transition(item)
            latencies["transition"].append(time.perf_counter() - started)
        barrier.wait()  # transitions committed
        barrier.wait()  # the runner has read the CPU times
        queue.put(latencies)
    except BaseException as exc:  # the runner must hear of it, not wait on the barrier forever
        barrier.abort()
        queue.put(f"{type(exc).__name__}: {exc}")
        raise


def _cpu(conn, pids: list[int]) -> dict[int, float]:
    backends = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    ).fetchall()
    return {pid: process_cpu_seconds(pid) for pid in [*pids, *(row[0] for row in backends)]}


def _cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings; a backend that appeared in between counts from
    zero (it was started for this phase), one that could not be read not at all."""
    return sum(after[pid] - before.get(pid, 0.0) for pid in after if not math.isnan(after[pid]))


def _wait_sealed(conn, timeout: float = 120.0) -> None:
    deadline = time.perf_counter() + timeout
    while conn.execute("SELECT EXISTS (SELECT 1 FROM audits.audit_pending)").fetchone()[0]:
        if time.perf_counter() > deadline:
            raise RuntimeError("audit entries still unsealed after the writes")
        time.sleep(0.002)


def run(system: str, n: int, monitor_url: str) -> dict:
    """Run the workload; `monitor_url` is the runner's own connection (autocommit) for the
    /proc readings and the chain's state. Returns the figures of each phase."""
    import psycopg

    if system != "raw":
        from django.db import connections

        connections.close_all()  # never share a socket with forked children
    run_tag = f"{os.getpid()}-{int(time.time())}"
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(WRITERS + 1), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(system, w, n, run_tag, barrier, queue)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    pids = [p.pid for p in procs]
    figures = {}
    with psycopg.connect(monitor_url, autocommit=True) as monitor:
        try:
            barrier.wait(timeout=120)  # ready
            if system == "tristate":
                _wait_sealed(monitor)  # the warm-up's entries
            for phase in PHASES:
                before = _cpu(monitor, pids)
                started = time.perf_counter()
                barrier.wait(timeout=120)  # go
                barrier.wait(timeout=600)  # committed
                committed = time.perf_counter() - started
                sealed = None
                if system == "tristate":
                    _wait_sealed(monitor)
                    sealed = time.perf_counter() - started
                after = _cpu(monitor, pids)
                cpu = _cpu_spent(before, after)
                writers_cpu = _cpu_spent({p: before.get(p, 0.0) for p in pids}, {p: after[p] for p in pids})
                figures[phase] = {
                    "rows_per_s": WRITERS * n / committed,
                    "rows_per_s_chained": WRITERS * n / sealed if sealed else None,
                    "cpu_ms_per_write": cpu * 1000 / (WRITERS * n),
                    # The same, split: the writer processes (their Python, and for
                    # Tristate its sealer threads) and their database backends.
                    "cpu_ms_per_write_writers": writers_cpu * 1000 / (WRITERS * n),
                    "cpu_ms_per_write_backends": (cpu - writers_cpu) * 1000 / (WRITERS * n),
                }
            barrier.wait(timeout=120)  # CPU read: let them go
        except threading.BrokenBarrierError:
            pass
        results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    errors = [r for r in results if isinstance(r, str)]
    if errors:
        raise RuntimeError(f"{system} writer failed: {errors[0]}")
    for phase in PHASES:
        ms = [s * 1000 for r in results for s in r[phase]]
        figures[phase] |= {"p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95)}
    return figures
