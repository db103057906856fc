"""Fixtures of the providers tests: catalog entries, quotas, keyrings, and a local HTTP
server whose paths are fine, failing or slow (for health probes)."""

from __future__ import annotations

import base64
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from providers.tests.fixtures import make_provider, provider, set_quota  # noqa: F401


def keyring(*ids: str) -> str:
    """A KMS_MASTER_KEYS value with fresh random keys under these ids."""
    return ",".join(f"{i}:{base64.b64encode(os.urandom(32)).decode()}" for i in ids)


class _Handler(BaseHTTPRequestHandler):
    server_version = "probe-target"

    def do_GET(self):
        server = self.server
        with server.lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            server.hits[self.path] = server.hits.get(self.path, 0) + 1
        try:
            if self.path.startswith("/slow"):
                time.sleep(server.slow_seconds)
                self._answer(200)
            elif self.path.startswith("/fail"):
                self._answer(503)
            elif self.path.startswith("/unauthorized"):
                self._answer(401)
            elif self.path.startswith("/hold"):
                # Holds long enough that concurrent probes overlap, then answers.
                time.sleep(0.3)
                self._answer(200)
            else:
                self._answer(200)
        finally:
            with server.lock:
                server.in_flight -= 1

    def _answer(self, code: int) -> None:
        try:
            body = b'{"status": "ok"}'
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the prober gave up (timeout): expected for /slow

    def log_message(self, *args):
        pass


@pytest.fixture
def probe_server():
    """A local HTTP server: /ok answers 200, /fail 503, /unauthorized 401, /slow sleeps
    `slow_seconds` first, /hold 0.3 s. Tracks hits per path and the most requests in
    flight at once."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.lock = threading.Lock()
    server.in_flight = 0
    server.max_in_flight = 0
    server.hits = {}
    server.slow_seconds = 3
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def new_audit(db):
    """new_audit(**filters) → the audit entries written since the test began. The audit
    log is not flushed between tests (it refuses TRUNCATE), so counts must be relative."""
    from django.db.models import Max

    from audits.models import AuditEntry

    start = AuditEntry.objects.aggregate(m=Max("id"))["m"] or 0

    def entries(**filters):
        return AuditEntry.objects.filter(id__gt=start, **filters)

    return entries
