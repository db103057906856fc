"""One system's side of the benchmark, in its own process (each system has its own Django
settings), kept for the whole run: `python -m bench.peers.runner SYSTEM` reads commands,
one a line (`COMMAND {json arguments}`), from stdin and answers each with one line
`RESULT {json}` (or `ERROR message`) on stdout. The driver (bench/peers/__main__.py) sets the environment:
DJANGO_SETTINGS_MODULE and DATABASE_URL (Tristate) or PEER_DATABASE_URL (peers, raw).

Commands: `prepare` (schema, users, tokens, the bulk data, a sample of ids), `tokens`, `writes`
(workload (a), bench.peers.writes), `verify` (Tristate's chain verification rate) and
`reads` (raw: the primary-key select that is the floor of a detail)."""

from __future__ import annotations

import json
import os
import sys
import time

from bench.common import ROOT, percentile

from . import data


def _django(system: str) -> None:
    sys.path.insert(0, str(ROOT))
    if system == "raw":
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.peers.settings.plain"
    import django

    django.setup()


def _url() -> str:
    return os.environ["DATABASE_URL" if os.environ.get("PEER_SYSTEM") == "tristate" else "PEER_DATABASE_URL"]


def _psycopg():
    import psycopg

    return psycopg.connect(_url(), autocommit=True)


def _tristate_users() -> dict:
    from accounts.models import User
    from accounts.services import session_create, user_create

    def ensure(email, role):
        user = User.objects.filter(email=email).first()
        return user or user_create(email=email, password=None, role=role, verified=True, validate=False, actor=None)

    owners = [ensure(data.owner_email(k), "user") for k in range(data.USERS)]
    admin = ensure("bench-admin@example.com", "admin")
    return {"owner": session_create(user=owners[3]).access, "admin": session_create(user=admin).access}


def _peer_users() -> dict:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    users = get_user_model().objects

    def ensure(email, staff):
        user = users.filter(email=email).first()
        return user or users.create_user(username=email.split("@")[0], email=email, is_staff=staff)

    owners = [ensure(data.owner_email(k), False) for k in range(data.USERS)]
    admin = ensure("bench-admin@example.com", True)
    return {
        "owner": Token.objects.get_or_create(user=owners[3])[0].key,
        "admin": Token.objects.get_or_create(user=admin)[0].key,
    }


def prepare(system: str, args: dict) -> dict:
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    # A connection opened before the schemas existed may not see them (its search_path
    # was set at connect time): the set-up continues on a new one.
    connections.close_all()
    tokens = _tristate_users() if system == "tristate" else _peer_users()
    kind = "tristate" if system == "tristate" else "peer"
    with _psycopg() as conn:
        if system == "raw":
            from .writes import RAW_HISTORY_DDL

            conn.execute(RAW_HISTORY_DDL)
        loaded = data.load(conn, kind, args["experiments"])
        info = {"tokens": tokens, "loaded_s": loaded, **data.sample(conn, kind, data.owner_email(3))}
    if system == "tristate" and args.get("audit_rows"):
        info["audit_loaded_s"] = _audit_rows(args["audit_rows"])
    return info


def _audit_rows(target: int) -> float | None:
    """Sealed audit entries up to `target` (once; cached), so the verification rate is
    measured over a log of some size rather than over the benchmark's own few entries."""
    from datetime import UTC, datetime, timedelta

    from bench.audit import append_sealed

    with _psycopg() as conn:
        have = conn.execute("SELECT count(*) FROM audits.audit_log").fetchone()[0]
    if have >= target:
        return None
    started = time.perf_counter()
    end = datetime.now(UTC) - timedelta(minutes=5)
    append_sealed(target - have, start=end - timedelta(days=365), end=end)
    return time.perf_counter() - started


def writes(system: str, args: dict) -> dict:
    from . import writes as workload

    figures = workload.run(system, args["n"], _url())
    figures["history"] = history(system)
    return figures


def history(system: str) -> dict:
    """History rows kept so far, and how many name their actor (the smoke test checks
    that every system recorded its writes)."""
    if system in ("tristate", "raw"):
        sql = {
            "tristate": "SELECT count(*), count(actor) FROM audits.audit_log WHERE entity = 'experiment'",
            "raw": "SELECT count(*), count(actor_id) FROM raw_history",
        }[system]
        with _psycopg() as conn:
            rows, with_actor = conn.execute(sql).fetchone()
        return {"rows": rows, "with_actor": with_actor}
    from .lab.history import history_rows

    return history_rows()


def verify(system: str, args: dict) -> dict:
    from audits.chain import chain_pending
    from audits.verify import default_workers, verify_chain

    chain_pending(wait=True)
    started = time.perf_counter()
    result = verify_chain(unbounded=True, workers=default_workers())
    took = time.perf_counter() - started
    return {"rows_per_s": result.checked / took, "checked": result.checked, "ok": result.ok}


def reads(system: str, args: dict) -> dict:
    import random

    ids = args["ids"]
    with _psycopg() as conn:
        select = "SELECT * FROM lab_experiment WHERE id = %s"
        for pk in ids[:20]:
            conn.execute(select, [pk]).fetchall()
        samples = []
        for _ in range(args["n"]):
            started = time.perf_counter()
            conn.execute(select, [random.choice(ids)]).fetchall()
            samples.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": percentile(samples, 50), "p95_ms": percentile(samples, 95)}


def tokens(system: str, args: dict) -> dict:
    """Fresh tokens of the owner and the admin (Tristate's access tokens expire after
    ACCESS_TOKEN_TTL, as in production: each round takes new ones)."""
    return _tristate_users() if system == "tristate" else _peer_users()


COMMANDS = {"prepare": prepare, "writes": writes, "verify": verify, "reads": reads, "tokens": tokens}


def main(argv: list[str]) -> int:
    system = argv[0]
    os.environ["PEER_SYSTEM"] = system
    _django(system)
    for line in sys.stdin:
        command, _, args = line.strip().partition(" ")
        try:
            result = COMMANDS[command](system, json.loads(args or "{}"))
        except Exception as exc:  # the driver reports it and stops the run
            import traceback

            traceback.print_exc()
            print(f"ERROR {system} {command}: {type(exc).__name__}: {exc}".replace("\n", " "), flush=True)
            continue
        print("RESULT " + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
