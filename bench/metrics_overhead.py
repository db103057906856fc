"""Observability: what the metrics, request ids and request log lines add to a request.

Two gunicorn servers (2 sync workers each) on the same benchmark database, one with the
observability middleware, prometheus-client in multiprocess mode (PROMETHEUS_MULTIPROC_DIR)
and JSON log lines, one without the middleware. The same requests alternate between
them one by one (the VM's speed moves between minutes, so both sides see the same
minutes): GET /healthz (no database: the fixed cost shows most) and GET /api/v1/auth/me
with a Bearer token (authentication, two statements), and GET /api/v1/providers/ (a
list: the catalog with each entry's health, a page of 50). Target: p50 and mean within 5 %.
Over loopback HTTP the figures follow the shared VM's load; the same comparison is also
made in one process (a child with PROMETHEUS_MULTIPROC_DIR set), calling two WSGI
handlers built with and without the middleware alternately: the time the middleware
adds, without the network and the other server's noise, and the process CPU time per
request of each (blocks of calls alternating), which the other processes of the VM move
less than they move wall-clock times. Also the time a scrape of
/metrics takes (every worker's files added up, plus the database-held figures).

`.venv/bin/python -m bench metrics_overhead`
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench.common import HttpClient, gunicorn, summarize_ms

ROUNDS = 1500
SCRAPES = 30
TOKEN = "bench-metrics-token"


def _alternating(calls: dict[str, object], rounds: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls.items())
    for i in range(rounds):
        for name, fn in order if i % 2 else order[::-1]:
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return samples


def _bench_token() -> str:
    from accounts.models import Role, User
    from accounts.services import session_create, user_create

    email = "bench-metrics@example.com"
    user = User.objects.filter(email=email).first() or user_create(
        email=email, password="bench metrics 1234", role=Role.USER, verified=True, validate=False
    )
    from decimal import Decimal

    from providers.models import Provider
    from providers.services import provider_create

    for i in range(Provider.objects.filter(name__startswith="bench-metrics-").count(), 50):
        provider_create(
            actor=None,
            name=f"bench-metrics-{i:02d}",
            provider_type="openai",
            model_name="gpt-4o-mini",
            api_endpoint="https://api.example.com/v1",
            cost_per_1k_tokens=Decimal("0.002000"),
            timeout_seconds=5,
        )
    return session_create(user=user).access


def _ratios(report, label: str, samples: dict[str, list[float]]) -> None:
    figures = {side: summarize_ms(values) for side, values in samples.items()}
    for stat in ("p50_ms", "p95_ms", "mean_ms"):
        ratio = figures["on"][stat] / figures["off"][stat]
        report.add(
            f"{label} {stat[:-3]} with/without metrics",
            ratio,
            "x",
            target="<= 1.05" if stat != "p95_ms" else "",
            met=(ratio <= 1.05) if stat != "p95_ms" else None,
            note=f"{figures['on'][stat]:.3f} vs {figures['off'][stat]:.3f} ms",
        )


def _in_process(access: str) -> dict:
    """Run in a child process (PROMETHEUS_MULTIPROC_DIR set before prometheus-client is
    imported): two WSGI handlers, with and without the middleware, called alternately."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import RequestFactory, override_settings

    on = WSGIHandler()
    from django.conf import settings

    without = [name for name in settings.MIDDLEWARE if not name.startswith("core.observability.")]
    with override_settings(MIDDLEWARE=without):
        off = WSGIHandler()

    def caller(handler, environ):
        def call():
            response = handler(dict(environ), lambda status, headers: None)
            b"".join(response)
            response.close()  # as a WSGI server does: request_finished

        return call

    factory = RequestFactory(SERVER_NAME="localhost")
    out = {"latency": {}, "cpu": {}}
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {access}"}
    for path, headers in (("/healthz", {}), ("/api/v1/auth/me", bearer), ("/api/v1/providers/", bearer)):
        environ = factory.get(path, **headers).environ
        calls = {"on": caller(on, environ), "off": caller(off, environ)}
        _alternating(calls, 200)
        out["latency"][path] = _alternating(calls, ROUNDS * 2)
        out["cpu"][path] = _cpu_per_call(calls)
    return out


def _cpu_per_call(calls: dict[str, object], blocks: int = 20, per_block: int = 100) -> dict[str, list[float]]:
    """Process CPU time per call (seconds), by blocks of calls, the sides alternating
    block by block: what the middleware adds, without the time spent waiting for the
    CPU that the shared VM's other processes hold."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls.items())
    for i in range(blocks):
        for name, fn in order if i % 2 else order[::-1]:
            start = time.process_time()
            for _ in range(per_block):
                fn()
            samples[name].append((time.process_time() - start) / per_block)
    return samples


def _cpu_added(report, label: str, samples: dict[str, list[float]]) -> None:
    on, off = statistics.median(samples["on"]), statistics.median(samples["off"])
    report.add(
        f"{label} CPU with/without metrics",
        on / off,
        "x",
        note=f"{on * 1e6:.0f} vs {off * 1e6:.0f} us per request (medians of blocks of 100): {(on - off) * 1e6:+.0f} us",
    )


def main(report) -> None:
    access = _bench_token()
    with (
        tempfile.TemporaryDirectory(prefix="bench-metrics-") as metrics_dir,
        open(os.path.join(metrics_dir, "log"), "w") as log,
    ):
        child = subprocess.run(
            [sys.executable, "-m", "bench.metrics_overhead", access],
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir, "LOG_FORMAT": "json"},
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            check=True,
        )
    figures = json.loads(child.stdout)
    for path, samples in figures["latency"].items():
        _ratios(report, f"in-process GET {path}", samples)
        _cpu_added(report, f"in-process GET {path}", figures["cpu"][path])
    with contextlib.ExitStack() as stack:
        metrics_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-metrics-"))
        on = stack.enter_context(
            gunicorn(
                workers=2,
                env={"PROMETHEUS_MULTIPROC_DIR": metrics_dir, "METRICS_TOKEN": TOKEN, "LOG_FORMAT": "json"},
            )
        )
        off = stack.enter_context(
            gunicorn(workers=2, env={"DJANGO_SETTINGS_MODULE": "bench._settings_without_metrics"})
        )
        bearer = {"Authorization": f"Bearer {access}"}
        for path, headers in (("/healthz", {}), ("/api/v1/auth/me", bearer), ("/api/v1/providers/", bearer)):
            clients = {side: HttpClient(base, headers) for side, base in (("on", on), ("off", off))}
            calls = {side: (lambda c=client: c.call("GET", path)) for side, client in clients.items()}
            _alternating(calls, 50)  # warm both workers' connections and imports
            _ratios(report, f"GET {path}", _alternating(calls, ROUNDS))
        scrape = HttpClient(on, {"Authorization": f"Bearer {TOKEN}"})
        timings = []
        for _ in range(SCRAPES):
            start = time.perf_counter()
            scrape.call("GET", "/metrics")
            timings.append(time.perf_counter() - start)
        report.add("GET /metrics (2 workers' files + database figures) median", statistics.median(timings) * 1e3, "ms")


if __name__ == "__main__":
    from bench.common import setup_django

    setup_django(migrate=False)
    print(json.dumps(_in_process(sys.argv[1])))
