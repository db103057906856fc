"""/metrics under gunicorn with several workers (prometheus-client's multiprocess mode):
whichever worker answers the scrape reports the figures of all of them."""

import json
import os
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from core.testing import gunicorn_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TOKEN = "gunicorn-metrics-token-0123456789"
PASSWORD = "metrics password 1"


def _database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{quote(db['HOST'] or 'localhost', safe='')}:{db['PORT'] or 5432}/{db['NAME']}"


def _samples(text: str) -> dict:
    """{(sample name, sorted label items): value} of a Prometheus text page."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _scrape(base: str) -> dict:
    response = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text[:500]
    return _samples(response.text)


def test_metrics_add_up_every_worker(tmp_path, make_user):
    user = make_user("user", password=PASSWORD)
    metrics_dir = tmp_path / "metrics"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "LOG_FORMAT": "json",
    }
    env.pop("DATABASE_OWNER_URL", None)
    env.pop("DATABASE_REPLICA_URL", None)
    log = tmp_path / "server.log"
    started = time.time()
    with gunicorn_server(env, log, workers=3) as (base, _proc):
        login = httpx.post(base + "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}, timeout=10)
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access']}"}
        calls = 60
        for i in range(calls):  # a new connection each: the workers share them out
            response = httpx.get(base + "/api/v1/auth/me", headers={**headers, "X-Request-ID": f"me-{i}"}, timeout=10)
            assert response.status_code == 200 and response.headers["X-Request-ID"] == f"me-{i}"
        assert httpx.get(base + "/metrics", timeout=10).status_code == 404
        assert httpx.get(base + "/metrics", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 404

        pids = {name.rsplit("_", 1)[1].split(".")[0] for name in os.listdir(metrics_dir) if name.startswith("counter_")}
        assert len(pids) >= 2, "the requests were all served by one worker; nothing to add up"
        me = ("tristate_http_requests_total", (("method", "GET"), ("route", "/api/v1/auth/me"), ("status", "200")))
        in_flight = ("tristate_http_requests_in_flight", ())
        # A worker writes a request's figures, and counts it out of flight, once its body
        # is sent: the last one's may land a moment after the client has its answer.
        deadline = time.monotonic() + 10
        while True:
            figures = _scrape(base)
            if (figures.get(me) == calls and figures[in_flight] == 1) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert figures[in_flight] == 1, "the scrape itself: every other answer is closed"
        for _ in range(3):  # each scrape may be answered by another worker: the same totals
            figures = _scrape(base)
            assert figures[me] == calls
            assert figures[("tristate_http_request_duration_seconds_count", me[1][:2])] == calls
            assert figures[("tristate_logins_total", (("outcome", "success"),))] == 1
            # The scrape itself, whichever worker took it, and at most the scrape before
            # it if that worker has not yet closed its answer.
            assert figures[in_flight] in (1, 2)
            assert figures[("tristate_audit_entries_sealed_total", ())] >= 2  # the login's entries
            assert figures[("tristate_audit_last_seal_timestamp_seconds", ())] >= started
            assert figures[("tristate_db_queries_per_request_count", ())] >= calls
            assert figures[("tristate_db_up", ())] == 1
    lines = [json.loads(line) for line in Path(log).read_text().splitlines() if line.startswith("{")]
    logged = {line["request_id"] for line in lines if line["logger"] == "tristate.request"}
    assert {f"me-{i}" for i in range(calls)} <= logged
