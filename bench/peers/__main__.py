"""`python -m bench.peers` (`make bench-peers`): Tristate beside plain DRF, django-pghistory,
django-auditlog, django-simple-history and a raw psycopg floor, each in its own database
(`<db>_peers_<system>` on the server of DATABASE_ADMIN_URL; the application's database is
never touched), on the same data (bench.peers.data). Every round runs every workload for
every system, the order rotating from round to round; each figure is reported as the
median over rounds of the per-round ratio Tristate / system, with its min and max.

Sizes (environment): BENCH_QUICK=1 for a one-minute version; BENCH_PEERS_ROUNDS,
BENCH_PEERS_WRITES (creates per writer), BENCH_PEERS_REQUESTS (one client, per figure),
BENCH_PEERS_CLIENT_REQUESTS (each of eight clients, per figure), BENCH_PEERS_EXPERIMENTS,
BENCH_PEERS_AUDIT_ROWS (sealed entries under the verification), BENCH_GUNICORN_WORKERS;
BENCH_PEERS_DB_PREFIX and BENCH_PEERS_OUT (where peers.json and peers.png go)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    RESULTS_DIR,
    ROOT,
    admin_database_url,
    base_database_name,
    cpu_probe_ms,
    cpu_times,
    ensure_database,
    gunicorn,
    steal_pct,
)

from . import http, report

SYSTEMS = ["tristate", "plain", "pghistory", "auditlog", "simplehistory", "raw"]
SERVED = [s for s in SYSTEMS if s != "raw"]

QUICK = {"rounds": 2, "writes": 10, "requests": 10, "client_requests": 3, "audit_rows": 20_000}
FULL = {"rounds": 6, "writes": 100, "requests": 60, "client_requests": 20, "audit_rows": 300_000}


def sizes() -> dict:
    chosen = dict(QUICK if os.environ.get("BENCH_QUICK") == "1" else FULL)
    chosen["experiments"] = 100_000
    for key in (*chosen, "gunicorn_workers"):
        value = os.environ.get(f"BENCH_PEERS_{key.upper()}")
        if value:
            chosen[key] = int(value)
    chosen["gunicorn_workers"] = int(os.environ.get("BENCH_GUNICORN_WORKERS", "4"))
    return chosen


def system_env(system: str, url: str) -> dict[str, str]:
    if system == "tristate":
        # Empty, not unset: config.env would otherwise fill them in from .local-db.env,
        # and migrate would run as the owner on the application's database.
        return {
            "DJANGO_SETTINGS_MODULE": "config.settings.bench",
            "DATABASE_URL": url,
            "DATABASE_OWNER_URL": "",
            "DATABASE_REPLICA_URL": "",
        }
    settings = "plain" if system == "raw" else system
    return {"DJANGO_SETTINGS_MODULE": f"bench.peers.settings.{settings}", "PEER_DATABASE_URL": url}


class Runner:
    """One system's bench.peers.runner process, kept for the whole run (its Django set up
    once); call() sends one command and waits for its answer."""

    def __init__(self, system: str, env: dict, log_dir: Path):
        self.system = system
        self.log = open(log_dir / f"{system}.log", "w")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.peers.runner", system],
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )

    def call(self, command: str, args: dict | None = None) -> dict:
        self.proc.stdin.write(f"{command} {json.dumps(args or {})}\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT ") :])
            if line.startswith("ERROR "):
                break
        self.log.flush()
        tail = Path(self.log.name).read_text()[-4000:]
        raise RuntimeError(f"{self.system} {command} failed: {line.strip()}\n{tail}")

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "load_1m": round(os.getloadavg()[0], 2),
        "cpu_probe_ms": cpu_probe_ms(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def one_round(k: int, order: list[str], runners: dict, infos: dict, apis: dict, cfg: dict) -> dict:
    figures = {}
    for system, api in apis.items():
        api.use_tokens(runners[system].call("tokens"))
    for system in order:
        started = time.perf_counter()
        runner = runners[system]
        result = {"writes": runner.call("writes", {"n": cfg["writes"]})}
        if system == "raw":
            result["reads"] = runner.call("reads", {"n": cfg["requests"], "ids": infos[system]["ids"]})
        else:
            result["http8"] = http.eight_clients(apis[system], cfg["client_requests"])
        if system == "tristate":
            result["verify"] = runner.call("verify")
        figures[system] = result
        print(f"  round {k + 1}: {system:<14} {time.perf_counter() - started:5.1f} s", flush=True)
    started = time.perf_counter()
    served = [system for system in order if system in apis]
    for system, result in http.one_client(apis, served, cfg["requests"]).items():
        figures[system]["http1"] = result
    print(f"  round {k + 1}: one client    {time.perf_counter() - started:5.1f} s", flush=True)
    return figures


def main() -> int:
    cfg = sizes()
    base_url = admin_database_url()
    prefix = os.environ.get("BENCH_PEERS_DB_PREFIX") or base_database_name(base_url) + "_peers"
    out = Path(os.environ.get("BENCH_PEERS_OUT") or RESULTS_DIR)
    print(f"bench/peers: {cfg} databases {prefix}_*", flush=True)
    envs, infos, runners = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as logs, contextlib.ExitStack() as servers:
        for system in SYSTEMS:
            started = time.perf_counter()
            envs[system] = system_env(system, ensure_database(f"{prefix}_{system}", base_url))
            runners[system] = Runner(system, envs[system], Path(logs))
            servers.callback(runners[system].close)
            args = {"experiments": cfg["experiments"], "audit_rows": cfg["audit_rows"]}
            infos[system] = runners[system].call("prepare", args)
            print(f"  prepared {system:<14} {time.perf_counter() - started:5.1f} s", flush=True)
        before, times_before = machine(), cpu_times()
        rounds = []
        apis = {}
        for system in SERVED:
            app = "config.wsgi:application" if system == "tristate" else "bench.peers.wsgi:application"
            base = servers.enter_context(gunicorn(cfg["gunicorn_workers"], app=app, env=envs[system]))
            apis[system] = http.Api(system, base, infos[system])
        counts = {system: api.check() for system, api in apis.items()}
        if len({json.dumps(c) for c in counts.values()}) != 1:
            raise RuntimeError(f"the systems' lists disagree: {counts}")
        for k in range(cfg["rounds"]):
            order = SYSTEMS[k % len(SYSTEMS) :] + SYSTEMS[: k % len(SYSTEMS)]
            rounds.append(one_round(k, order, runners, infos, apis, cfg))
    after = machine() | {"steal_pct": steal_pct(times_before, cpu_times())}
    out.mkdir(parents=True, exist_ok=True)
    (out / "peers.json").write_text(json.dumps({"rounds": rounds}, default=str))  # kept if the report fails
    result = report.build(rounds, cfg=cfg, machine={"before": before, "after": after}, list_counts=counts)
    paths = report.save(result, out)
    print("\n" + result["table_md"], flush=True)
    print(f"\nresults: {', '.join(map(str, paths))}", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")  # core.testing reads DRF's settings
    sys.exit(main())
