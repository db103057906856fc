"""A crash under load: eight clients write through gunicorn (experiments created and
moved to running, usage recorded) while the postmaster is killed with SIGKILL and then
started again. Every write a client got a 2xx for is there after crash recovery, the
chain verifies, requests during the outage got the 503 envelope (never a 500, never a
hang), and the same app server serves again without a restart."""

import threading
import time
from collections import Counter

import httpx
import pytest

from core.testing import gunicorn_server

from .pitr_support import ScratchCluster

pytestmark = pytest.mark.slow
CLIENTS = 8
# A request must end well before this: the database being down is answered at once.
MAX_REQUEST_SECONDS = 8


@pytest.fixture
def cluster():
    c = ScratchCluster(prefix="tristate-crash-")
    try:
        c.start()
        yield c
    finally:
        c.destroy()


class Client:
    """One writer: its own project, then experiment → running → one usage record, in a
    loop; remembers what was acknowledged."""

    def __init__(self, n: int, base: str, auth: dict, provider: str):
        self.n, self.base, self.auth, self.provider = n, base, auth, provider
        self.model = f"crash-model-{n}"
        self.experiments: dict[str, str] = {}  # id → status acknowledged
        self.usage_acked = 0
        self.usage_sent = 0
        self.outage_answers = 0
        self.problems: list[str] = []
        self.acked_after: list[float] = []

    def post(self, client: httpx.Client, path: str, body: dict):
        started = time.monotonic()
        try:
            response = client.post(self.base + path, json=body)
        except httpx.HTTPError as exc:
            self.problems.append(f"{path}: {exc!r}")
            return None
        if time.monotonic() - started > MAX_REQUEST_SECONDS:
            self.problems.append(f"{path}: took {time.monotonic() - started:.1f} s")
        if response.status_code < 300:
            self.acked_after.append(time.time())
            return response.json()
        if response.status_code == 503:
            body = response.json()
            if body.get("error", {}).get("code") != "service_unavailable" or not response.headers.get("Retry-After"):
                self.problems.append(f"{path}: 503 without the envelope: {response.text[:200]}")
            self.outage_answers += 1
            return None
        self.problems.append(f"{path}: {response.status_code} {response.text[:200]}")
        return None

    def run(self, stop: threading.Event) -> None:
        with httpx.Client(headers=self.auth, timeout=MAX_REQUEST_SECONDS * 2) as client:
            project = None
            while project is None and not stop.is_set():
                project = self.post(client, "/api/v1/projects/", {"name": f"crash project {self.n}"})
            i = 0
            while not stop.is_set():
                i += 1
                created = self.post(
                    client,
                    "/api/v1/experiments/",
                    {"project": project["id"], "name": f"crash {self.n}-{i}", "config": {"i": i}},
                )
                if created is not None:
                    self.experiments[created["id"]] = "created"
                    if self.post(client, f"/api/v1/experiments/{created['id']}/transition", {"to": "running"}):
                        self.experiments[created["id"]] = "running"
                self.usage_sent += 1
                usage = {"provider": self.provider, "model": self.model, "tokens_input": 10, "tokens_output": 5}
                if self.post(client, "/api/v1/usage/", usage) is not None:
                    self.usage_acked += 1
                if created is None:
                    time.sleep(0.05)  # the database is down: do not spin


def _restart(cluster: ScratchCluster) -> None:
    """Start the killed cluster again (crash recovery). Backends orphaned by the kill
    leave within moments; until then the new postmaster refuses their shared memory."""
    deadline = time.monotonic() + 60
    while (result := cluster.script("pg.sh", "start", check=False)).returncode != 0:
        assert time.monotonic() < deadline, result.stderr
        time.sleep(0.5)


def test_kill_9_under_load_loses_no_acknowledged_write(cluster, tmp_path):
    auth = cluster.migrate_and_sign_in()
    env = {**cluster.app_env, "DB_STATEMENT_TIMEOUT_MS": "5000", "CONN_MAX_AGE": "60"}
    with gunicorn_server(env, tmp_path / "server.log", workers=4, extra_args=("--timeout", "30")) as (base, server):
        # One provider per client: a provider offers one model, and each client's usage
        # is counted under its own model.
        providers = []
        for n in range(CLIENTS):
            provider = httpx.post(
                base + "/api/v1/providers/",
                headers=auth,
                timeout=20,
                json={
                    "name": f"Crash Probe {n}",
                    "provider_type": "local",
                    "model": f"crash-model-{n}",
                    "api_endpoint": "http://127.0.0.1:9/",
                    "cost_per_1k_tokens": "0.001000",
                    "max_tokens": 1000,
                    "timeout_seconds": 5,
                    "is_platform_provided": True,
                },
            )
            assert provider.status_code == 201, provider.text
            providers.append(provider.json()["id"])
        clients = [Client(n, base, auth, providers[n]) for n in range(CLIENTS)]
        stop = threading.Event()
        threads = [threading.Thread(target=c.run, args=(stop,), daemon=True) for c in clients]
        for t in threads:
            t.start()
        time.sleep(3)
        cluster.kill_postmaster()
        time.sleep(2)
        restart_started = time.monotonic()
        _restart(cluster)
        back_at, recovery = time.time(), time.monotonic() - restart_started
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a client hung"
        problems = [p for c in clients for p in c.problems]
        assert not problems, problems[:10]
        assert sum(c.outage_answers for c in clients) > 0, "no request met the outage"
        assert any(when > back_at for c in clients for when in c.acked_after), "no write succeeded after restart"
        assert server.poll() is None, "the app server had to restart"

    statuses = dict(cluster.query("SELECT id::text, status FROM experiments.experiments"))
    acked = {eid: status for c in clients for eid, status in c.experiments.items()}
    missing = [eid for eid in acked if eid not in statuses]
    assert not missing, f"{len(missing)} acknowledged experiments lost"
    regressed = [eid for eid, status in acked.items() if status == "running" and statuses[eid] != "running"]
    assert not regressed, f"{len(regressed)} acknowledged transitions lost"
    counted = Counter(dict(cluster.query("SELECT model, sum(requests_count) FROM providers.usage_tracking GROUP BY 1")))
    for c in clients:
        # Every acknowledged record is counted; a record whose answer the outage lost may be too.
        assert c.usage_acked <= counted[c.model] <= c.usage_sent, (c.model, c.usage_acked, counted[c.model])
    assert sum(c.usage_acked for c in clients) > 0 and len(acked) > 0
    cluster.verify_chain()
    print(f"\n[pitr] crash: {len(acked)} experiments acknowledged, none lost; crash recovery took {recovery:.1f} s")
