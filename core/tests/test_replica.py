"""Read replica, against a real streaming replica (scripts/replica.sh, started by make test):
reads of replica-safe views are served by it, a login that wrote reads its own writes
from the primary, and the app keeps working, on the primary, when the replica stops."""

import os
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from core.testing import gunicorn_server

ROOT = Path(settings.BASE_DIR)
REPLICA_ENV = ROOT / ".local-replica.env"

pytestmark = [pytest.mark.replica, pytest.mark.django_db(transaction=True)]


def _replica_socket() -> tuple[str, int] | None:
    if os.environ.get("TEST_REPLICA_SOCKET"):
        return os.environ["TEST_REPLICA_SOCKET"], int(os.environ.get("TEST_REPLICA_PORT", "5432"))
    if REPLICA_ENV.is_file():
        values = dict(
            line.split("=", 1)
            for line in REPLICA_ENV.read_text().split("\n")
            if "=" in line and not line.startswith("#")
        )
        return values["TEST_REPLICA_SOCKET"], int(values.get("TEST_REPLICA_PORT", "5432"))
    return None


def _replica_connect(sock: str, port: int, timeout: float = 30.0):
    db = connection.settings_dict
    deadline = time.monotonic() + timeout
    while True:  # the test database itself must have streamed over
        try:
            return psycopg.connect(f"host={sock} port={port} user={db['USER']} dbname={db['NAME']}", autocommit=True)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                pytest.fail("the replica never received the test database")
            time.sleep(0.2)


@pytest.fixture
def replica():
    where = _replica_socket()
    if where is None:
        pytest.skip("no local streaming replica (make test starts one with scripts/replica.sh)")
    sock, port = where
    started = subprocess.run([str(ROOT / "scripts/replica.sh"), "start"], capture_output=True, text=True, check=False)
    if started.returncode != 0:
        pytest.skip(f"the local replica does not start: {started.stderr[-300:]}")
    state = {"conn": _replica_connect(sock, port), "socket": sock, "port": port}
    yield state
    # Leave the replica running and replaying, whatever the test did to it.
    subprocess.run([str(ROOT / "scripts/replica.sh"), "start"], capture_output=True, check=False)
    with _replica_connect(sock, port) as conn:
        conn.execute("SELECT pg_wal_replay_resume()")
    if not state["conn"].closed:
        state["conn"].close()


def _url(host: str, port: int) -> str:
    db = connection.settings_dict
    return f"postgres://{quote(db['USER'])}@{quote(host, safe='')}:{port}/{db['NAME']}"


@pytest.fixture
def live_server_with_replica(replica, tmp_path):
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _url(connection.settings_dict["HOST"], connection.settings_dict["PORT"] or 5432),
        "DATABASE_REPLICA_URL": _url(replica["socket"], replica["port"]),
        "REPLICA_STICKY_SECONDS": "30",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_OWNER_URL", None)
    with gunicorn_server(env, log, workers=2, ready=(200, 503)) as (base, _proc):
        yield {"base": base, "log": log}


def _wait(predicate, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _names(base, token) -> set[str]:
    response = httpx.get(base + "/api/v1/providers/", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    return {p["name"] for p in response.json()["results"]}


def test_reads_go_to_the_replica_and_writers_read_their_writes(live_server_with_replica, replica, make_user):
    from core.testing import bearer_client

    writer = bearer_client(make_user("admin", email="replica-writer@example.com")).session_tokens.access
    reader = bearer_client(make_user("admin", email="replica-reader@example.com")).session_tokens.access
    base, conn = live_server_with_replica["base"], replica["conn"]

    # The replica has caught up with the users and sessions just created.
    _wait(
        lambda: conn.execute("SELECT count(*) FROM accounts.users WHERE email LIKE 'replica-%%'").fetchone()[0] == 2,
        "the replica to catch up",
    )
    health = httpx.get(base + "/readyz", timeout=5).json()
    assert health["replica"]["status"] == "ok" and health["replica"]["in_recovery"] is True
    assert "lag_seconds" in health["replica"]

    conn.execute("SELECT pg_wal_replay_pause()")
    _wait(lambda: conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] == "paused", "replay to pause")
    created = httpx.post(
        base + "/api/v1/providers/",
        json={
            "name": "Replica Probe",
            "provider_type": "local",
            "model_name": "probe",
            "api_endpoint": "http://127.0.0.1:9/",
            "cost_per_1k_tokens": "0.001000",
            "max_tokens": 1000,
            "timeout_seconds": 5,
            "is_platform_provided": True,
        },
        headers={"Authorization": f"Bearer {writer}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text

    # The writer reads its own write (primary); the other login reads the paused replica.
    assert "Replica Probe" in _names(base, writer)
    assert "Replica Probe" not in _names(base, reader)

    conn.execute("SELECT pg_wal_replay_resume()")
    _wait(lambda: "Replica Probe" in _names(base, reader), "the replica to replay the write")


def test_the_app_keeps_working_when_the_replica_stops(live_server_with_replica, replica, make_user):
    from core.testing import bearer_client

    token = bearer_client(make_user("admin", email="replica-survivor@example.com")).session_tokens.access
    base = live_server_with_replica["base"]
    assert (
        httpx.get(base + "/api/v1/providers/", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code
        == 200
    )
    replica["conn"].close()
    subprocess.run([str(ROOT / "scripts/replica.sh"), "stop"], capture_output=True, check=True)
    time.sleep(2.5)  # past the cached replica health
    for _ in range(3):
        response = httpx.get(base + "/api/v1/providers/", headers={"Authorization": f"Bearer {token}"}, timeout=20)
        assert response.status_code == 200, response.text
    health = httpx.get(base + "/readyz", timeout=10)
    assert health.status_code == 200 and health.json()["replica"]["status"].startswith("error")
    log = live_server_with_replica["log"].read_text()
    assert "reads go to the primary" in log or "replica unavailable" in log
