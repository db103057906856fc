"""Shared helpers for the benchmarks (not tests): timing, percentiles, a gunicorn server on
loopback, a raw psycopg connection for the floor, and one results file.

Every benchmark runs against its own database (`<dbname>_bench` on the same server as
DATABASE_URL) so development data is never touched. Run one with
`.venv/bin/python -m bench <name>` or all with `make bench`.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarize_ms(samples_s: list[float]) -> dict:
    ms = [s * 1000 for s in samples_s]
    return {
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms) if ms else float("nan"),
        "n": len(ms),
    }


def time_calls(fn, n: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    floor: float | None = None  # the raw-SQL baseline measured in the same run
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.floor in (None, 0) or self.value in (None, 0):
            return None
        return self.value / self.floor


@dataclass
class Report:
    section: str
    figures: list[Figure] = field(default_factory=list)

    def add(self, *args, **kwargs) -> Figure:
        fig = Figure(*args, **kwargs)
        self.figures.append(fig)
        print(
            f"  {fig.name:<52} {fig.value:>12.2f} {fig.unit:<10} {fig.target:<14} "
            f"{'' if fig.met is None else ('met' if fig.met else 'MISSED'):<7}"
            f"{'' if fig.ratio is None else f'ratio to floor {fig.ratio:.2f}'} {fig.note}",
            flush=True,
        )
        return fig

    def save(self) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{self.section}.json"
        path.write_text(
            json.dumps(
                {"section": self.section, "figures": [asdict(f) | {"ratio": f.ratio} for f in self.figures]},
                indent=1,
                default=str,
            )
        )
        return path


def admin_database_url() -> str:
    """A URL of a role that may create databases: the local cluster's superuser
    (DATABASE_ADMIN_URL), else DATABASE_URL's."""
    sys.path.insert(0, str(ROOT))
    from config.env import env

    return (
        os.environ.get("TRISTATE_BASE_DATABASE_URL")
        or env.str("DATABASE_ADMIN_URL", default="")
        or env.str("DATABASE_URL")
    )


def ensure_database(name: str, base_url: str | None = None) -> str:
    """Create the database `name` on the server of `base_url` (admin_database_url() by
    default) unless it exists; returns its URL (the same role)."""
    import environ
    import psycopg

    base_url = base_url or admin_database_url()
    cfg = environ.Env.db_url_config(base_url)
    from urllib.parse import unquote

    with psycopg.connect(
        host=unquote(cfg.get("HOST") or ""),
        port=cfg.get("PORT") or 5432,
        user=cfg.get("USER"),
        password=cfg.get("PASSWORD"),
        dbname="postgres",
        autocommit=True,
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    path, sep, query = base_url.partition("?")
    return path.rsplit("/", 1)[0] + "/" + name + sep + query


def base_database_name(base_url: str) -> str:
    import environ

    return environ.Env.db_url_config(base_url)["NAME"].removesuffix("_bench").removesuffix("_soak")


def setup_django(migrate: bool = True, suffix: str = "_bench") -> None:
    """Point Django at the benchmark database (`<db><suffix>`), creating and migrating it
    when needed. The soak test writes into its own (`_soak`), so the benchmarks' cached
    bulk data never mixes with its rows."""
    base_url = admin_database_url()
    bench_url = ensure_database(base_database_name(base_url) + suffix, base_url)
    os.environ["TRISTATE_BASE_DATABASE_URL"] = base_url
    os.environ["DATABASE_URL"] = bench_url
    os.environ.pop("DATABASE_OWNER_URL", None)
    os.environ.pop("DATABASE_REPLICA_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def cpu_probe_ms() -> float:
    """Milliseconds for a fixed pure-Python loop, best of three: how fast this VM's CPU is
    right now. On the shared 2-core VM it moves by half between minutes, with the load
    average flat; every latency moves with it, so each report records it before and after."""
    best = float("inf")
    for _ in range(3):
        started, total = time.perf_counter(), 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best * 1e3, 1)


def cpu_times() -> list[int] | None:
    """The machine's cumulative CPU times (/proc/stat: user ... steal), or None."""
    try:
        with open("/proc/stat") as stat:
            return [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def steal_pct(before: list[int] | None, after: list[int] | None) -> float | None:
    """Share of the CPU time between two cpu_times() that the hypervisor gave to other
    guests (steal): on a shared VM, runs with much of it are slow throughout."""
    if not before or not after:
        return None
    delta = [b - a for a, b in zip(before, after, strict=True)]
    return round(100 * delta[7] / sum(delta), 1) if sum(delta) else 0.0


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by a process of this machine (all its threads), e.g. a
    PostgreSQL backend; NaN when it cannot be read. The scheduler's nanosecond counts
    (/proc/<pid>/task/*/schedstat) where the kernel keeps them: /proc/<pid>/stat counts in
    clock ticks of 10 ms, too coarse for a short run's backends."""
    try:
        total, tasks = 0, os.listdir(f"/proc/{pid}/task")
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except FileNotFoundError:
                continue  # a thread that ended since the listing
        return total / 1e9
    except (OSError, IndexError, ValueError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def raw_connection():
    """A plain psycopg connection to the benchmark database (for the raw-SQL floor)."""
    import psycopg

    from core.db.raw import plain_connection_params

    return psycopg.connect(**plain_connection_params(), autocommit=True)


class HttpClient:
    """A minimal HTTP/1.1 client for loopback timings: one connection per request (gunicorn's
    sync workers close it), the request written as prepared bytes, the response read to
    its last byte (Content-Length; to the connection's end without one). Measured on the
    2-core VM against a bare WSGI app, http.client spent about as long as the server
    (0.8 ms per request against 0.4 ms with this client), and a benchmark's client shares
    the two cores with the server: what it saves is time that was never the server's.
    Responses are decoded (json) only when asked."""

    def __init__(self, base: str, headers: dict[str, str] | None = None):
        from urllib.parse import urlsplit

        parts = urlsplit(base)
        self.address = (parts.hostname, parts.port)
        self.head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.host_line = f"Host: {parts.hostname}:{parts.port}\r\n"

    def send(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """(status, body) of one request."""
        import socket

        head = f"{method} {path} HTTP/1.1\r\n{self.host_line}{self.head}Connection: close\r\n"
        if body is not None:
            head += f"Content-Length: {len(body)}\r\n"
        message = (head + "\r\n").encode("latin-1") + (body or b"")
        with socket.create_connection(self.address, timeout=30) as sock:
            sock.sendall(message)
            raw = b""
            length = None
            while chunk := sock.recv(262144):
                raw += chunk
                if length is None and b"\r\n\r\n" in raw:
                    length = _content_length(raw.partition(b"\r\n\r\n")[0])
                # Done at the body's last byte, as an HTTP client reading Content-Length
                # is (and a proxy passing it on): not when the server closes, which
                # gunicorn does only after the work a response's close() does.
                if length is not None and len(raw.partition(b"\r\n\r\n")[2]) >= length:
                    break
        header, _, payload = raw.partition(b"\r\n\r\n")
        status = int(header[9:12])
        if b"transfer-encoding: chunked" in header.lower():
            payload = _unchunk(payload)
        return status, payload

    def json(self, method: str, path: str, body=None, expect: int = 200):
        status, payload = self.send(method, path, json.dumps(body).encode() if body is not None else None)
        if status != expect:
            raise RuntimeError(f"{method} {path}: {status} {payload[:300]!r}")
        return json.loads(payload) if payload else {}

    def call(self, method: str, path: str, body=None, expect: int = 200) -> None:
        """A request whose answer is only checked for its status (the timed loops)."""
        status, payload = self.send(method, path, json.dumps(body).encode() if body is not None else None)
        if status != expect:
            raise RuntimeError(f"{method} {path}: {status} {payload[:300]!r}")


def _content_length(header: bytes) -> int | None:
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


def _unchunk(data: bytes) -> bytes:
    out, rest = [], data
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2 :]
    return b"".join(out)


@contextlib.contextmanager
def gunicorn(
    workers: int = 4,
    threads: int = 1,
    *,
    app: str = "config.wsgi:application",
    env: dict[str, str] | None = None,
):
    """Serve the app with gunicorn on a loopback port (bench settings unless `env` names
    others, warnings only in its log); yields the base URL. `app` and `env` serve another
    WSGI application of the repository (bench/peers)."""
    import tempfile

    from core.testing import gunicorn_server

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.bench", **(env or {})}
    extra = ("--threads", str(threads), "--log-level", "warning")
    with (
        tempfile.TemporaryDirectory(prefix="bench-gunicorn-") as tmp,
        gunicorn_server(env, Path(tmp) / "server.log", workers=workers, extra_args=extra, app=app) as (base, _proc),
    ):
        yield base
