"""Workload (b): the HTTP API through gunicorn (the same worker settings for every system),
driven from the benchmark's process with bench.common.HttpClient.

One client (the systems' requests interleaved): p50/p95 of create, detail, a project's
list filtered by status (a page of 50), the list by status over all rows (as a user who
sees every row: Tristate's admin, the peers' staff user), transition (created → running)
and an authenticated no-op (Tristate's GET /auth/me, the peers' GET /api/me/). Eight
clients: requests/s of create, detail, list and transition."""

from __future__ import annotations

import random
import threading
import time
import uuid
from urllib.parse import urlencode

from bench.common import HttpClient, summarize_ms

CLIENTS = 8

ROUTES = {
    "tristate": {
        "scheme": "Bearer",
        "collection": "/api/v1/experiments/",
        "item": "/api/v1/experiments/{}",
        "transition": "/api/v1/experiments/{}/transition",
        "me": "/api/v1/auth/me",
    },
    "peer": {
        "scheme": "Token",
        "collection": "/api/experiments/",
        "item": "/api/experiments/{}/",
        "transition": "/api/experiments/{}/transition/",
        "me": "/api/me/",
    },
}


class Api:
    """One system's API as the workload sees it."""

    def __init__(self, system: str, base: str, info: dict):
        self.system = system
        self.routes = ROUTES["tristate" if system == "tristate" else "peer"]
        self.base, self.info, self.run = base, info, uuid.uuid4().hex[:8]
        self.counter = iter(range(10**9))
        self.use_tokens(info["tokens"])
        page = {"page_size": 50} if system == "tristate" else {}
        self.list_path = (
            self.routes["collection"] + "?" + urlencode({"project": info["project"], "status": "completed", **page})
        )
        self.status_path = self.routes["collection"] + "?" + urlencode({"status": "completed", **page})

    def use_tokens(self, tokens: dict) -> None:
        self.tokens = tokens
        self.owner = self.client(tokens["owner"])
        self.admin = self.client(tokens["admin"])

    def client(self, token: str) -> HttpClient:
        headers = {
            "Authorization": f"{self.routes['scheme']} {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        return HttpClient(self.base, headers)

    def create(self, client: HttpClient) -> str:
        i = next(self.counter)
        body = {
            "project": self.info["project"],
            "name": f"peers http {self.run}-{i}",
            "config": {"model": "bench", "run": self.run, "i": i, "params": {"temperature": 0.2, "top_p": 0.9}},
            "dataset_id": "bench",
        }
        return client.json("POST", self.routes["collection"], body, expect=201)["id"]

    def detail(self, client: HttpClient) -> None:
        client.call("GET", self.routes["item"].format(random.choice(self.info["ids"])))

    def listing(self, client: HttpClient) -> None:
        client.call("GET", self.list_path)

    def transition(self, client: HttpClient, pk: str) -> None:
        client.call("POST", self.routes["transition"].format(pk), {"to": "running"})

    def check(self) -> dict:
        """The lists' counts (the driver checks that every system answers the same), after
        checking each answers a page of min(50, count) rows."""
        counts = {}
        for name, client, path in (("list", self.owner, self.list_path), ("list_status", self.admin, self.status_path)):
            page = client.json("GET", path)
            if not page["count"] or len(page["results"]) != min(50, page["count"]):
                raise RuntimeError(f"{path}: {len(page['results'])} rows of {page['count']}")
            counts[name] = page["count"]
        return counts


def one_client(apis: dict[str, Api], order: list[str], n: int, warmup: int = 5) -> dict[str, dict]:
    """p50/p95 of each figure for every system, the systems' requests interleaved (one
    request to each in turn, in `order`): on a shared machine whose speed moves from one
    minute to the next, every system is timed in the same minutes."""
    created: dict[str, list[str]] = {system: [] for system in order}
    calls = {
        "noop": lambda api: api.owner.call("GET", api.routes["me"]),
        "detail": lambda api: api.detail(api.owner),
        "list": lambda api: api.listing(api.owner),
        "list_status": lambda api: api.admin.call("GET", api.status_path),
        "create": lambda api: created[api.system].append(api.create(api.owner)),
    }
    samples = {system: {} for system in order}
    for name, call in calls.items():
        for system in order:
            for _ in range(warmup):
                call(apis[system])
        timings = {system: [] for system in order}
        for _ in range(n):
            for system in order:
                started = time.perf_counter()
                call(apis[system])
                timings[system].append(time.perf_counter() - started)
        for system in order:
            samples[system][name] = summarize_ms(timings[system])
    pending = {system: iter(created[system]) for system in order}
    timings = {system: [] for system in order}
    for system in order:
        for _ in range(warmup):
            apis[system].transition(apis[system].owner, next(pending[system]))
    for _ in range(n):
        for system in order:
            pk = next(pending[system])
            started = time.perf_counter()
            apis[system].transition(apis[system].owner, pk)
            timings[system].append(time.perf_counter() - started)
    for system in order:
        samples[system]["transition"] = summarize_ms(timings[system])
    return {
        system: {name: {"p50_ms": s["p50_ms"], "p95_ms": s["p95_ms"]} for name, s in figures.items()}
        for system, figures in samples.items()
    }


def _concurrently(calls_per_client: list[list]) -> float:
    """Run each client's calls in its own thread, all starting together; requests/s."""
    barrier = threading.Barrier(len(calls_per_client) + 1)
    errors: list[BaseException] = []

    def client(calls):
        barrier.wait()
        try:
            for call in calls:
                call()
        except BaseException as exc:  # reported after the others finish
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(calls,)) for calls in calls_per_client]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return sum(map(len, calls_per_client)) / elapsed


def eight_clients(api: Api, n: int) -> dict:
    """`n` requests per client and figure."""
    clients = [api.client(api.tokens["owner"]) for _ in range(CLIENTS)]
    created: list[list[str]] = [[] for _ in clients]
    figures = {
        "create": _concurrently(
            [[lambda c=c, k=k: created[k].append(api.create(c)) for _ in range(n)] for k, c in enumerate(clients)]
        ),
        "detail": _concurrently([[lambda c=c: api.detail(c) for _ in range(n)] for c in clients]),
        "list": _concurrently([[lambda c=c: api.listing(c) for _ in range(n)] for c in clients]),
        "transition": _concurrently(
            [[lambda c=c, pk=pk: api.transition(c, pk) for pk in created[k]] for k, c in enumerate(clients)]
        ),
    }
    return {name: {"req_per_s": rate} for name, rate in figures.items()}
