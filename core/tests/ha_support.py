"""The Patroni cluster of the failover tests (scripts/ha.sh on its own ports and folder)
and the eight writing clients they run against it (core/tests/test_ha.py)."""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psycopg
from django.conf import settings

ROOT = Path(settings.BASE_DIR)

CLIENTS = 8
# The documented targets (docs/scaling.md): a leader lost costs at most this much of
# write outage; a planned switchover answers 503 only inside this window.
MAX_WRITE_OUTAGE_S = 15.0
SWITCHOVER_RETRY_WINDOW_S = 15.0
# A failed request must fail fast: connect_timeout=3 per node in the URLs.
MAX_FAILED_REQUEST_S = 10.0


def _free_port_block(size: int) -> int:
    for _ in range(50):
        base = random.randrange(20000, 40000)
        try:
            for port in range(base, base + size):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no block of free ports")


class HACluster:
    """scripts/ha.sh driven for one test module, and what the tests ask of it."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="tristate-ha-", dir="/tmp"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.env = {
            **os.environ,
            "HA_DIR": str(self.dir),
            "HA_PORT_BASE": str(_free_port_block(8)),
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
        }
        for name in ("DATABASE_URL", "DATABASE_OWNER_URL", "DATABASE_REPLICA_URL", "DATABASE_ADMIN_URL"):
            self.env.pop(name, None)
        self.rest_ports = [int(self.env["HA_PORT_BASE"]) + 4 + n for n in (1, 2, 3)]

    def script(self, action: str, **extra) -> str:
        done = subprocess.run(
            [str(ROOT / "scripts" / "ha.sh"), action],
            env={**self.env, **extra},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:] + self.logs()
        return done.stdout

    def logs(self) -> str:
        text = ""
        for path in sorted(self.dir.glob("node*/patroni.log")):
            lines = [line for line in path.read_text().splitlines() if "no action" not in line]
            text += f"\n--- {path.relative_to(self.dir)}\n" + "\n".join(lines[-40:])
        return text

    def urls(self) -> dict:
        lines = (self.dir / "urls.env").read_text().splitlines()
        pairs = (line.split("=", 1) for line in lines if line.startswith("DATABASE_"))
        return {name: value.strip("'") for name, value in pairs}

    def members(self) -> list[dict]:
        for port in self.rest_ports:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/cluster", timeout=2).json()["members"]
            except (httpx.HTTPError, ValueError):
                continue
        return []

    def member(self, role: str) -> dict | None:
        return next((m for m in self.members() if m["role"] == role and m["state"] == "running"), None)

    def wait_healthy(self, timeout: float = 90.0, nodes: int = 3) -> dict:
        """Until a leader runs with a synchronous standby and `nodes` members (all three by
        default) stream on its timeline; returns the leader."""
        deadline = time.monotonic() + timeout
        while True:
            members = self.members()
            leader = next((m for m in members if m["role"] == "leader" and m["state"] == "running"), None)
            if (
                leader
                and len(members) >= nodes
                and any(m["role"] == "sync_standby" for m in members)
                and all(m["state"] in ("running", "streaming") and m["timeline"] == leader["timeline"] for m in members)
            ):
                return leader
            assert time.monotonic() < deadline, f"cluster not healthy: {members}" + self.logs()
            time.sleep(0.5)

    def wait_leader(self, name: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while (leader := self.member("leader")) is None or leader["name"] != name:
            assert time.monotonic() < deadline, f"{name} did not become the leader: {self.members()}" + self.logs()
            time.sleep(0.2)
        return leader

    def kill_postmaster(self, name: str) -> None:
        pid = int((self.dir / name / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)

    def kill_node(self, name: str) -> None:
        """The whole node at once: its Patroni, then its PostgreSQL (as a machine lost)."""
        os.kill(int((self.dir / name / "patroni.pid").read_text()), signal.SIGKILL)
        self.kill_postmaster(name)

    def sql(self, query: str, params=None) -> list:
        with psycopg.connect(self.urls()["DATABASE_OWNER_URL"], autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def manage(self, *args: str) -> str:
        urls = self.urls()
        env = {**self.env, "DATABASE_URL": urls["DATABASE_URL"], "DATABASE_OWNER_URL": urls["DATABASE_OWNER_URL"]}
        done = subprocess.run(
            [sys.executable, "manage.py", *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    def app_env(self) -> dict:
        urls = self.urls()
        return {
            **self.env,
            "DJANGO_SETTINGS_MODULE": "config.settings.bench",
            "DATABASE_URL": urls["DATABASE_URL"],
            "DATABASE_REPLICA_URL": urls["DATABASE_REPLICA_URL"],
            "AUDIT_SEALER": "thread",
            "CONN_MAX_AGE": "60",
        }


class WriteLoad:
    """CLIENTS threads creating projects (an audited write) until stopped; every answer
    is recorded as (started, ended, status, project id)."""

    def __init__(self, base: str, token: str, tag: str):
        self.base, self.tag = base, tag
        self.headers = {"Authorization": f"Bearer {token}"}
        self.results: list[tuple[float, float, object, str | None]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(c,), daemon=True) for c in range(CLIENTS)]

    def _run(self, client: int) -> None:
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=30) as http:
            i = 0
            while not self._stop.is_set():
                i += 1
                started = time.monotonic()
                project = None
                try:
                    response = http.post("/api/v1/projects/", json={"name": f"{self.tag}-{client}-{i}"})
                    status = response.status_code
                    body = response.json()
                    if status == 201:
                        project = body["id"]
                    elif status == 503:
                        assert body["error"]["code"] == "service_unavailable"
                except Exception as exc:  # recorded: the test fails on anything but 2xx/503
                    status = f"{exc.__class__.__name__}: {exc}"
                self.results.append((started, time.monotonic(), status, project))
                if status != 201:
                    time.sleep(0.1)  # a client's pause before retrying, not a tight loop

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(40)

    def successes_after(self, moment: float) -> int:
        return sum(1 for started, _, status, _ in list(self.results) if status == 201 and started > moment)

    def wait_successes_after(self, moment: float, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.successes_after(moment) < count:
            assert time.monotonic() < deadline, f"no {count} writes succeeded in {timeout} s: {self.failures()[-5:]}"
            time.sleep(0.1)

    def failures(self) -> list:
        return [r for r in self.results if r[2] != 201]

    def acknowledged(self) -> list[str]:
        return [project for *_, status, project in self.results if status == 201]

    def check_failures(self) -> None:
        """Only 503 envelopes, and each one fast: no 500, no hang, no dropped connection."""
        for started, ended, status, _ in self.failures():
            assert status == 503, status
            assert ended - started < MAX_FAILED_REQUEST_S, f"a failed request took {ended - started:.1f} s"

    def outage(self) -> float:
        """First failed answer to the first successful one after it (0 without failures)."""
        failed = [ended for _, ended, status, _ in self.results if status != 201]
        if not failed:
            return 0.0
        first_failed = min(failed)
        return min(ended for started, ended, status, _ in self.results if status == 201 and started > first_failed) - (
            first_failed
        )
