"""Observability: what the metrics, request ids and request log lines add to a request.

Two gunicorn servers (2 sync workers each) on the same benchmark database, one with the
observability middleware, prometheus-client in multiprocess mode (PROMETHEUS_MULTIPROC_DIR)
and JSON log lines, one without the middleware. The same requests alternate between
them one by one (the VM's speed moves between minutes, so both sides see the same
minutes): GET /healthz (no database: the fixed cost shows most) and GET /api/v1/auth/me
with a Bearer token (authentication, two statements). Target: p50 and mean within 5 %.
Also the time a scrape of /metrics takes (every worker's files added up, plus the
database-held figures).

`.venv/bin/python -m bench metrics_overhead`
"""

from __future__ import annotations

import contextlib
import statistics
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


def main(report) -> None:
    from accounts.models import Role, User
    from accounts.services import session_create, user_create

    email = "bench-metrics@example.com"
    user = User.objects.filter(email=email).first() or user_create(
        email=email, password="bench metrics 1234", role=Role.USER, verified=True, validate=False
    )
    access = session_create(user=user).access
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
        for path, headers in (("/healthz", {}), ("/api/v1/auth/me", {"Authorization": f"Bearer {access}"})):
            clients = {side: HttpClient(base, headers) for side, base in (("on", on), ("off", off))}
            calls = {side: (lambda c=client: c.call("GET", path)) for side, client in clients.items()}
            _alternating(calls, 50)  # warm both workers' connections and imports
            samples = _alternating(calls, ROUNDS)
            figures = {side: summarize_ms(values) for side, values in samples.items()}
            for stat in ("p50_ms", "p95_ms", "mean_ms"):
                ratio = figures["on"][stat] / figures["off"][stat]
                report.add(
                    f"GET {path} {stat[:-3]} with/without metrics",
                    ratio,
                    "x",
                    target="<= 1.05" if stat != "p95_ms" else "",
                    met=(ratio <= 1.05) if stat != "p95_ms" else None,
                    note=f"{figures['on'][stat]:.2f} vs {figures['off'][stat]:.2f} ms",
                )
        scrape = HttpClient(on, {"Authorization": f"Bearer {TOKEN}"})
        timings = []
        for _ in range(SCRAPES):
            start = time.perf_counter()
            scrape.call("GET", "/metrics")
            timings.append(time.perf_counter() - start)
        report.add("GET /metrics (2 workers' files + database figures) median", statistics.median(timings) * 1e3, "ms")
