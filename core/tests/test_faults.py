"""Faults: the database stops under a running server. The API answers 503 with the error
envelope at once (no hang, no HTML), /readyz answers 503 (/healthz, liveness, stays 200),
and when PostgreSQL is back the same server recovers by itself."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.conf import settings

from core.pgtools import client_binary
from core.testing import gunicorn_server

ROOT = Path(settings.BASE_DIR)
pytestmark = pytest.mark.slow


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class ThrowawayCluster:
    """A private PostgreSQL cluster for this test only (stopping the shared one would
    stop every other test)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="tristate-fault-", dir="/tmp"))
        self.data, self.sock = self.dir / "data", self.dir / "sock"
        self.sock.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            shutil.chown(self.sock, "postgres")
        subprocess.run(
            _as_server_user(
                [client_binary("initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust", "--no-sync"]
            ),
            check=True,
            capture_output=True,
        )

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            _as_server_user([client_binary("pg_ctl"), "-D", str(self.data), *args]), check=True, capture_output=True
        )

    def start(self) -> None:
        self.pg_ctl("start", "-w", "-l", str(self.dir / "log"), "-o", f"-k {self.sock} -c listen_addresses=''")

    def stop(self) -> None:
        self.pg_ctl("stop", "-m", "fast", "-w")

    def url(self, db: str = "tristate") -> str:
        return f"postgres://postgres@{quote(str(self.sock), safe='')}:5432/{db}"

    def destroy(self) -> None:
        subprocess.run(
            _as_server_user([client_binary("pg_ctl"), "-D", str(self.data), "stop", "-m", "immediate"]),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster():
    c = ThrowawayCluster()
    c.start()
    subprocess.run(
        _as_server_user([client_binary("createdb"), "-h", str(c.sock), "-U", "postgres", "tristate"]),
        check=True,
        capture_output=True,
    )
    yield c
    c.destroy()


def test_database_outage_answers_503_and_recovers(cluster, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": cluster.url(),
        "DB_STATEMENT_TIMEOUT_MS": "5000",
    }
    for name in ("DATABASE_OWNER_URL", "DATABASE_REPLICA_URL", "DATABASE_ADMIN_URL"):
        env.pop(name, None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)
    token = (
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from accounts.services import user_create, session_create;"
                "u = user_create(email='fault@example.com', password='fault-password-1', role='admin', verified=True,"
                " validate=False); print(session_create(user=u).access)",
            ],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    auth = {"Authorization": f"Bearer {token}"}
    with gunicorn_server(
        {**env, "CONN_MAX_AGE": "60"}, tmp_path / "server.log", workers=2, extra_args=("--timeout", "30")
    ) as (base, server):
        for _ in range(4):  # warm both workers' connections
            assert httpx.get(base + "/api/v1/auth/me", headers=auth, timeout=5).status_code == 200

        cluster.stop()
        for _ in range(4):
            started = time.monotonic()
            response = httpx.get(base + "/api/v1/auth/me", headers=auth, timeout=20)
            assert time.monotonic() - started < 6, "the API hung on a dead database"
            assert response.status_code == 503, response.text
            body = response.json()
            assert body["error"]["code"] == "service_unavailable" and response.headers["Retry-After"]
            assert "<html" not in response.text.lower()
        write = httpx.post(base + "/api/v1/projects/", headers=auth, json={"name": "during outage"}, timeout=20)
        assert write.status_code == 503 and write.json()["error"]["code"] == "service_unavailable"
        ready = httpx.get(base + "/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["database"].startswith("error")
        assert httpx.get(base + "/healthz", timeout=10).status_code == 200

        cluster.start()
        deadline = time.monotonic() + 20
        while httpx.get(base + "/api/v1/auth/me", headers=auth, timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the server did not recover after the database came back"
            time.sleep(0.2)
        assert httpx.get(base + "/readyz", timeout=10).status_code == 200
        assert (
            httpx.post(base + "/api/v1/projects/", headers=auth, json={"name": "after outage"}, timeout=20).status_code
            == 201
        )
        assert server.poll() is None, "the app server had to restart"
