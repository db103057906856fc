"""Observability: what the metrics, request ids and request log lines add to a request.

One gunicorn server (2 sync workers) on the benchmark database serves
bench._metrics_ab_wsgi: each request goes to the project's handler (the observability
middleware, prometheus-client in multiprocess mode with PROMETHEUS_MULTIPROC_DIR, JSON
log lines) or, with `X-Bench-Side: off`, to the same Django handler built without the
middleware, in the same worker processes. The sides alternate request by request (the
VM's speed moves between minutes, so both see the same minutes): GET /healthz (no
database: the fixed cost shows most), GET /api/v1/auth/me with a Bearer token
(authentication, two statements) and GET /api/v1/providers/ (a list: the catalog with
each entry's health, a page of 50). Target: p50 and mean within 5 %. A control compares
the middleware's side with itself (/healthz): how far apart two identical sides read on
the VM at the time, the resolution of the other ratios.

The latency is the client's: until the last byte of the body (HTTP: the Content-Length
read, as httpx or a proxy reads it; in one process: the body joined). The middleware
writes its metric values and log line from the response's close(), which gunicorn's
sync worker calls after writing the body and before closing the connection; the time to
the connection's end (EOF, which includes that bookkeeping) is reported beside it. With
BENCH_PIN=1 the client runs on a core of its own and the server on another, as a client
on another machine would (_client_on_a_core_of_its_own): only on a quiet VM, since the
server then has one core to share with whatever else runs.

The same comparison is made in one process (a child with PROMETHEUS_MULTIPROC_DIR set)
calling the two handlers alternately, without the network: the latency, and the
process CPU time per request of each, close() included (blocks of calls alternating),
which the VM's other processes move less than wall-clock times. Also the time a scrape
of /metrics takes (every worker's files added up, plus the database-held figures).

`.venv/bin/python -m bench metrics_overhead`
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from bench.common import HttpClient, gunicorn, summarize_ms

ROUNDS = 1500
SCRAPES = 30
TOKEN = "bench-metrics-token"


def _alternating(calls: dict[str, Callable[[], float]], rounds: int) -> tuple[dict, dict]:
    """({side: [seconds to the body's last byte]}, {side: [seconds to the call's end]}):
    each call returns the perf_counter() reading at which its body was complete."""
    answered: dict[str, list[float]] = {name: [] for name in calls}
    ended: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls.items())
    for i in range(rounds):
        for name, fn in order if i % 2 else order[::-1]:
            start = time.perf_counter()
            body_at = fn()
            ended[name].append(time.perf_counter() - start)
            answered[name].append(body_at - start)
    return answered, ended


def _http_get(address: tuple[str, int], message: bytes) -> float:
    """One request on a new connection (as bench.common.HttpClient sends it); returns the
    perf_counter() reading at which the body's last byte (by Content-Length) arrived. The
    connection is then read to its end, untimed: gunicorn closes it only after the
    response's close(), so the next request still waits for the bookkeeping."""
    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(message)
        raw = b""
        while b"\r\n\r\n" not in raw:
            raw += _received(sock)
        header, _, body = raw.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", header)
        if header[9:12] != b"200" or length is None:
            raise RuntimeError(f"unexpected answer: {header[:300]!r}")
        while len(body) < int(length.group(1)):
            body += _received(sock)
        body_at = time.perf_counter()
        while sock.recv(65536):
            pass
    return body_at


def _received(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise RuntimeError("connection closed before the whole answer")
    return chunk


def _getter(base: str, path: str, headers: dict[str, str]) -> Callable[[], float]:
    parts = urlsplit(base)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    message = f"GET {path} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n{head}Connection: close\r\n\r\n"
    encoded = message.encode("latin-1")
    return lambda: _http_get(address, encoded)


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


def _ratios(report, label: str, samples: tuple[dict, dict]) -> None:
    answered, ended = samples
    figures = {side: summarize_ms(values) for side, values in answered.items()}
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
    whole = {side: summarize_ms(values)["p50_ms"] for side, values in ended.items()}
    report.add(
        f"{label} p50 to the end, bookkeeping included",
        whole["on"] / whole["off"],
        "x",
        note=f"{whole['on']:.3f} vs {whole['off']:.3f} ms",
    )


def _in_process(access: str) -> dict:
    """Run in a child process (PROMETHEUS_MULTIPROC_DIR set before prometheus-client is
    imported): two WSGI handlers, with and without the middleware, called alternately."""
    from django.test import RequestFactory

    from bench._metrics_ab_wsgi import with_observability as on
    from bench._metrics_ab_wsgi import without_observability as off

    def caller(handler, environ):
        def call() -> float:
            response = handler(dict(environ), lambda status, headers: None)
            b"".join(response)
            body_at = time.perf_counter()
            response.close()  # as a WSGI server does once the body is written: request_finished
            return body_at

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


@contextlib.contextmanager
def _client_on_a_core_of_its_own():
    """The server (this process's children: gunicorn and its workers) on the first core,
    this client on the last, as a client on another machine: sharing the cores, the
    client that has its answer may wait for a core while the worker finishes the
    request's bookkeeping, which a remote client never does."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        yield
        return
    for pid in _descendants(os.getpid()):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, cores[:1])
    os.sched_setaffinity(0, cores[-1:])
    try:
        yield
    finally:
        os.sched_setaffinity(0, cores)


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                for child in map(int, children.read().split()):
                    found += [child, *_descendants(child)]
    return found


def _cpu_per_call(
    calls: dict[str, Callable[[], float]], blocks: int = 20, per_block: int = 100
) -> dict[str, list[float]]:
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
        base = stack.enter_context(
            gunicorn(
                workers=2,
                app="bench._metrics_ab_wsgi:application",
                env={"PROMETHEUS_MULTIPROC_DIR": metrics_dir, "METRICS_TOKEN": TOKEN, "LOG_FORMAT": "json"},
            )
        )
        if os.environ.get("BENCH_PIN") == "1":
            stack.enter_context(_client_on_a_core_of_its_own())
        bearer = {"Authorization": f"Bearer {access}"}
        sides = {"on": {}, "off": {"X-Bench-Side": "off"}}
        for path, headers in (("/healthz", {}), ("/api/v1/auth/me", bearer), ("/api/v1/providers/", bearer)):
            calls = {side: _getter(base, path, {**headers, **extra}) for side, extra in sides.items()}
            _alternating(calls, 50)  # warm both sides' imports and caches
            _ratios(report, f"GET {path}", _alternating(calls, ROUNDS))
        control = {side: _getter(base, "/healthz", {"X-Bench-Side": "on"}) for side in ("on", "off")}
        _alternating(control, 50)
        _ratios(report, "control: GET /healthz with metrics both sides", _alternating(control, ROUNDS))
        scrape = HttpClient(base, {"Authorization": f"Bearer {TOKEN}"})
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
