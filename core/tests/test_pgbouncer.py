"""Tristate behind PgBouncer in transaction mode (DB_PGBOUNCER=true): a live server whose
every connection goes through the pooler serves logins, writes, quota-checked usage
(transaction-scoped advisory locks), audit sealing and chain verification (COPY)."""

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.conf import settings
from django.db import connection

from core.testing import gunicorn_server

ROOT = Path(settings.BASE_DIR)
pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def bouncer():
    if os.environ.get("DATABASE_URL") and not (ROOT / ".local-db.env").is_file():
        pytest.skip("PgBouncer test runs against the project-local cluster")
    result = subprocess.run([str(ROOT / "scripts/pgbouncer.sh"), "start"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"PgBouncer could not be started (apt install pgbouncer failed?): {result.stderr[-300:]}")
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    yield values["PGBOUNCER_SOCKET"], int(values["PGBOUNCER_PORT"])


@pytest.fixture
def server_behind_bouncer(bouncer, tmp_path):
    sock, port = bouncer
    db = connection.settings_dict
    schemas = ", ".join(["public", *settings.DOMAIN_APPS])
    with connection.cursor() as cursor:
        # What db_roles does for the application role: the role carries the settings
        # that startup options would (PgBouncer refuses those).
        cursor.execute(f'ALTER ROLE "{db["USER"]}" IN DATABASE "{db["NAME"]}" SET search_path = {schemas}')
        cursor.execute(f'ALTER ROLE "{db["USER"]}" IN DATABASE "{db["NAME"]}" SET statement_timeout = 30000')
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{quote(db['USER'])}@{quote(sock, safe='')}:{port}/{db['NAME']}",
        "DB_PGBOUNCER": "true",
    }
    env.pop("DATABASE_OWNER_URL", None)
    env.pop("DATABASE_REPLICA_URL", None)
    try:
        with gunicorn_server(env, tmp_path / "server.log", workers=3) as (base, _proc):
            yield base
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER ROLE "{db["USER"]}" IN DATABASE "{db["NAME"]}" RESET ALL')


def test_the_api_works_through_pgbouncer_in_transaction_mode(server_behind_bouncer, make_user):
    base = server_behind_bouncer
    make_user("admin", email="bouncer-admin@example.com", password="bouncer-password-1")
    login = httpx.post(
        base + "/api/v1/auth/login",
        json={"email": "bouncer-admin@example.com", "password": "bouncer-password-1"},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access']}"}

    created = httpx.post(
        base + "/api/v1/providers/",
        headers=headers,
        timeout=10,
        json={
            "name": "Bouncer Probe",
            "provider_type": "local",
            "model_name": "probe",
            "api_endpoint": "http://127.0.0.1:9/",
            "cost_per_1k_tokens": "0.001000",
            "max_tokens": 1000,
            "timeout_seconds": 5,
            "is_platform_provided": True,
        },
    )
    assert created.status_code == 201, created.text
    provider = created.json()["id"]

    def record(_):
        return httpx.post(
            base + "/api/v1/usage/",
            headers=headers,
            timeout=20,
            json={"provider": provider, "model": "probe", "tokens_input": 10, "tokens_output": 5},
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(record, range(40)))
    assert statuses == [201] * 40

    usage = httpx.get(base + "/api/v1/usage/", headers=headers, timeout=10).json()
    assert sum(row["requests_count"] for row in usage["results"]) == 40

    verify = httpx.get(base + "/api/v1/audit-log/verify", headers=headers, timeout=60)
    assert verify.status_code == 200 and verify.json()["ok"] is True, verify.text
    assert verify.json()["pending"] == 0
