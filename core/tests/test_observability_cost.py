"""What the cheaper per-request observability keeps: the JSON line's fields in the order
they were given (secrets still redacted), its time to the millisecond; the database
histograms counting the requests that sent SQL; and, in multiprocess mode, a forked
worker writing its own files although the pid is no longer asked for each value."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from core.observability.logs import JSONFormatter


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def _record(created: float, **extra) -> logging.LogRecord:
    record = logging.getLogger("tristate.test").makeRecord(
        "tristate.test", logging.INFO, __file__, 1, "%s done", ("it",), None, extra=extra
    )
    record.created, record.msecs = created, (created - int(created)) * 1000
    return record


def test_the_json_line_keeps_the_extra_fields_in_order_and_redacts_secrets():
    formatter = JSONFormatter()
    line = json.loads(
        formatter.format(_record(1_796_000_000.25, request_id="r-1", zeta=1, api_key="sk-live", alpha=None))
    )
    assert list(line) == ["time", "level", "logger", "message", "request_id", "zeta", "api_key", "alpha"]
    assert line["message"] == "it done" and line["request_id"] == "r-1"
    assert line["api_key"] == "[redacted]" and line["zeta"] == 1 and line["alpha"] is None
    assert "sk-live" not in formatter.format(_record(1_796_000_000.5, api_key="sk-live"))


def test_the_json_line_time_is_utc_to_the_millisecond_across_seconds():
    formatter = JSONFormatter()
    for created in (1_796_000_000.125, 1_796_000_000.75, 1_796_000_001.0, 1_796_000_000.5):
        expected = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        assert json.loads(formatter.format(_record(created)))["time"] == expected


@pytest.mark.django_db
def test_database_histograms_count_the_requests_that_sent_sql(anon_client, user_client):
    queries, seconds = "tristate_db_queries_per_request_count", "tristate_db_time_per_request_seconds_count"
    before = _sample(queries), _sample(seconds)
    assert anon_client.get("/healthz").status_code == 200  # no statement
    assert (_sample(queries), _sample(seconds)) == before
    assert user_client.get("/api/v1/auth/me").status_code == 200
    assert (_sample(queries), _sample(seconds)) == (before[0] + 1, before[1] + 1)
    assert _sample("tristate_db_queries_per_request_sum") >= 1


def test_a_forked_worker_writes_its_own_files_in_multiprocess_mode(tmp_path):
    # A fresh interpreter: the multiprocess choice is made when the metrics are imported.
    script = textwrap.dedent(
        """
        import os, sys
        from core.observability import metrics
        metrics.LOCKOUTS.inc()
        child = os.fork()
        if child == 0:
            metrics.LOCKOUTS.inc(2)
            os._exit(0)
        os.waitpid(child, 0)
        print(child)
        sys.stdout.write(metrics.process_figures().decode())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    ).stdout
    child, figures = out.split("\n", 1)
    assert "tristate_lockouts_total 3.0" in figures.splitlines()
    assert (tmp_path / f"counter_{child}.db").exists()
    assert len(list(tmp_path.glob("counter_*.db"))) == 2


# --- the bookkeeping after the body -----------------------------------------------------


class _Lines(logging.Handler):
    """The request log records, as the production formatter writes them."""

    def __init__(self):
        super().__init__()
        self.lines: list[dict] = []
        self.setFormatter(JSONFormatter())

    def emit(self, record):
        if record.name == "tristate.request":
            self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def request_lines():
    handler = _Lines()
    logger = logging.getLogger("tristate.request")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def wsgi():
    """Calls the WSGI application as gunicorn's sync worker does (body, then close()),
    keeping the test's database connection open as Django's test client does."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections
    from django.test import RequestFactory

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    handler, factory = WSGIHandler(), RequestFactory()

    def call(path: str, **headers):
        return handler(factory.get(path, **headers).environ, lambda status, response_headers: None)

    yield call
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _healthz_count() -> float:
    return (
        REGISTRY.get_sample_value(
            "tristate_http_requests_total", {"route": "/healthz", "method": "GET", "status": "200"}
        )
        or 0.0
    )


def test_a_request_is_counted_and_logged_once_its_body_has_been_sent(wsgi, request_lines):
    before, flying = _healthz_count(), _sample("tristate_http_requests_in_flight")
    response = wsgi("/healthz", HTTP_X_REQUEST_ID="after-body-1")
    assert json.loads(b"".join(response)) == {"status": "ok"}
    assert dict(response.items())["X-Request-ID"] == "after-body-1"
    # The body is out; its figures and log line wait for close(), as under gunicorn, and
    # it is in flight until then.
    assert _healthz_count() == before and request_lines == []
    assert _sample("tristate_http_requests_in_flight") == flying + 1
    response.close()
    assert _healthz_count() == before + 1
    assert _sample("tristate_http_requests_in_flight") == flying
    assert len(request_lines) == 1
    line = request_lines[0]
    # The request's contextvar is reset by now: the id is the one carried to close().
    assert line["request_id"] == "after-body-1" and line["route"] == "/healthz" and line["status"] == 200
    response.close()  # a second close() records nothing more
    assert _healthz_count() == before + 1 and len(request_lines) == 1


@pytest.mark.django_db
def test_a_response_never_closed_is_recorded_with_the_next_request(wsgi, request_lines, user_client):
    before = _healthz_count()
    b"".join(wsgi("/healthz", HTTP_X_REQUEST_ID="never-closed"))  # a caller that skips close()
    assert _healthz_count() == before
    assert user_client.get("/api/v1/auth/me", HTTP_X_REQUEST_ID="next-1").status_code == 200
    assert _healthz_count() == before + 1
    assert [line["request_id"] for line in request_lines] == ["never-closed", "next-1"]
    assert request_lines[1]["db_queries"] >= 1 and request_lines[1]["route"] == "/api/v1/auth/me"


def test_a_failure_recording_a_request_never_reaches_the_server(wsgi, request_lines, monkeypatch, caplog):
    from core.observability import middleware

    def broken(*args):
        raise RuntimeError("metrics directory gone")

    monkeypatch.setattr(middleware, "_http_series", broken)
    response = wsgi("/healthz", HTTP_X_REQUEST_ID="broken-1")
    assert b"".join(response)
    with caplog.at_level(logging.ERROR, logger="tristate.observability"):
        response.close()  # gunicorn would log the exception and drop the connection
    assert any("broken-1" in record.getMessage() for record in caplog.records)


def test_a_forked_worker_makes_request_ids_of_its_own():
    from core.observability.context import new_request_id

    read, write = os.pipe()
    ours = new_request_id()
    child = os.fork()
    if child == 0:
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.waitpid(child, 0)
    theirs = os.read(read, 64).decode()
    os.close(read), os.close(write)
    assert len(theirs) == len(ours) == 32
    assert theirs[:16] != ours[:16], "the forked worker drew its own prefix"
    assert new_request_id()[:16] == ours[:16]


def test_under_asgi_too_a_request_is_counted_and_logged_once_closed(request_lines):
    # The sync middleware runs in a worker thread, close() in another call: the answered
    # request travels between them in the request's context.
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    before = _healthz_count()
    response = async_to_sync(AsyncClient().get)("/healthz", headers={"X-Request-ID": "asgi-1"})
    assert response.status_code == 200 and response["X-Request-ID"] == "asgi-1"
    assert _healthz_count() == before + 1
    assert [line["request_id"] for line in request_lines] == ["asgi-1"]
