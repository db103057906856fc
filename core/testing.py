"""Helpers for tests (imported by test modules; not used at run time)."""

import json
from contextlib import contextmanager
from typing import Any

from rest_framework.test import APIClient


class BearerClient(APIClient):
    """An APIClient that also carries the user it logs in as and that session's tokens."""

    user: Any
    session_tokens: Any


def bearer_client(user) -> BearerClient:
    """An APIClient that sends a real Bearer access token of a new session of `user`."""
    from accounts.services import session_create

    client = BearerClient()
    issued = session_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.access}")
    client.user = user
    client.session_tokens = issued
    return client


def assert_error(response, status: int, code: str) -> dict:
    """The response is the API error envelope with this status and code; returns the error."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_together(*calls, timeout: float = 60.0) -> list:
    """Run each call in its own thread (its own database connection), all released at the
    same moment by a barrier; returns the results (the value, or the exception raised) in
    order. A thread still running after `timeout` seconds fails the test: a hung worker
    must not pass for a None result."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(i, fn):
        try:
            barrier.wait()
            results[i] = fn()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, fn), daemon=True) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    hung = [i for i, t in enumerate(threads) if t.is_alive()]
    assert not hung, f"calls {hung} still running after {timeout} s"
    return results


@contextmanager
def gunicorn_server(
    env: dict, log_path, *, workers: int, ready=(200,), extra_args=(), app: str = "config.wsgi:application"
):
    """Serve the project (or another WSGI `app` of this repository that answers /healthz,
    such as the benchmark's peers) with gunicorn on a free loopback port under `env` (its
    output in `log_path`); yields (base URL, process) once /healthz answers one of `ready`,
    and stops it afterwards. Fails the test, with the server's log, if it dies or is not
    up in 30 s."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    port = free_port()
    with open(log_path, "w") as out:
        proc = subprocess.Popen(  # noqa: S603 (a fixed argv: this interpreter running gunicorn)
            [
                sys.executable,
                "-m",
                "gunicorn",
                app,
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                str(workers),
                *extra_args,
            ],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code in ready:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, Path(log_path).read_text()
            assert time.monotonic() < deadline, Path(log_path).read_text()
            time.sleep(0.2)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def sql_and_drf_pages(client, url: str, params: dict, monkeypatch) -> tuple:
    """A GET (a list or a detail) answered twice: rendered by PostgreSQL (core.sqljson)
    and by DRF (the SQL path switched off). Returns (sql response, drf response, their query counts),
    after one warm-up request so first-request bookkeeping counts in neither."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core import sqljson

    client.get(url, params, HTTP_ACCEPT="application/json")
    with CaptureQueriesContext(connection) as sql_queries:
        # One request id for both answers, so that error envelopes compare whole.
        sql = client.get(url, params, HTTP_ACCEPT="application/json", HTTP_X_REQUEST_ID="sql-and-drf")
    with monkeypatch.context() as patch:
        patch.setattr(sqljson, "renders_in_sql", lambda: False)
        with CaptureQueriesContext(connection) as drf_queries:
            drf = client.get(url, params, HTTP_ACCEPT="application/json", HTTP_X_REQUEST_ID="sql-and-drf")
    return sql, drf, len(sql_queries.captured_queries), len(drf_queries.captured_queries)


def page_and_list_query(client, url: str, params: dict) -> tuple[dict, str]:
    """A list GET (after one warm-up) and the SQL of its one counted-page query
    (core.sqljson.counted_page, or the statement compiled from it): which count it read,
    rows or a tally."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url, params)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url, params).json()
    statements = [q["sql"] for q in queries.captured_queries]
    [list_query] = [sql for sql in statements if "json_build_object" in sql]
    return page, list_query


def filter_by_statuses(queryset, statuses):
    """`queryset` filtered as `?status=` filters it (one value or several), or as is."""
    if not statuses:
        return queryset
    return queryset.filter(status__in=[statuses] if isinstance(statuses, str) else statuses)


def assert_same_page(sql, drf) -> dict:
    """Both answers of sql_and_drf_pages are the same page: status, envelope, rows in
    order, keys in order, equal values. Returns the page."""
    import json

    assert sql.status_code == drf.status_code, (sql.content[:300], drf.content[:300])
    assert sql["Content-Type"] == drf["Content-Type"] == "application/json"
    sql_page, drf_page = json.loads(sql.content), json.loads(drf.content)
    assert sql_page == drf_page
    if sql.status_code == 200:
        assert list(sql_page) == ["count", "next", "previous", "results"]
        assert [list(row) for row in sql_page["results"]] == [list(row) for row in drf_page["results"]]
        # PostgreSQL writes '"key" : value'; DRF's compact encoder '"key":value'.
        assert not sql_page["results"] or b'"id" : ' in sql.content
    return sql_page


def registered_model_admins(site=None) -> list:
    """(model, model admin) of every model registered with the admin site, through its
    public API (is_registered / get_model_admin), in the order of apps.get_models()."""
    from django.apps import apps
    from django.contrib import admin

    site = site or admin.site
    return [(model, site.get_model_admin(model)) for model in apps.get_models() if site.is_registered(model)]


# A config whose keys are neither sorted nor in jsonb's order (shorter keys first), at
# every level, and the same value in another order: for the tests of key order kept.
UNORDERED_CONFIG = {
    "zeta": 1,
    "alpha": {"yy": [{"k2": 1, "a1": 2.5}], "b": None, "x": True},
    "model": 'ünï "q" \u2028',
    "aa": {},
}
UNORDERED_CONFIG_REORDERED = {
    "aa": {},
    "model": UNORDERED_CONFIG["model"],
    "alpha": {"x": True, "b": None, "yy": [{"a1": 2.5, "k2": 1}]},
    "zeta": 1,
}


def in_key_order(value) -> str:
    """The value as JSON text in its own key order: equal texts, equal values in the same order."""
    return json.dumps(value, ensure_ascii=False)
