"""Mixed load: 16 concurrent clients for SOAK_SECONDS (60) over the major endpoints, through gunicorn.

Passes when: no response is a 5xx; afterwards the audit chain verifies, usage counters
equal the usage requests the server accepted, and an invitation with max_uses=3 was used
at most 3 times (exactly the registrations that succeeded). Prints p95 per endpoint.
Exit status is non-zero on any failure (`make soak` runs it; so does CI).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import defaultdict

from bench.common import gunicorn, percentile

CLIENTS = int(os.environ.get("SOAK_CLIENTS", "16"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
WORKERS = int(os.environ.get("SOAK_WORKERS", "4"))


class Failed(Exception):
    pass


def _prepare() -> dict:
    """Users, tokens, a provider, a project and an invitation, made through the services."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from accounts.models import Role
    from accounts.services import session_create, user_create
    from projects.services import project_create
    from providers.services import provider_create

    run = str(int(time.time()))
    admin = user_create(
        email=f"soak-admin-{run}@example.com",
        password="soak-password-123",
        role=Role.ADMIN,
        verified=True,
        validate=False,
    )
    users = [
        user_create(
            email=f"soak-user{i}-{run}@example.com",
            password="soak-password-123",
            role=Role.USER,
            verified=True,
            validate=False,
        )
        for i in range(CLIENTS)
    ]
    viewer = user_create(
        email=f"soak-viewer-{run}@example.com",
        password="soak-password-123",
        role=Role.VIEWER,
        verified=True,
        validate=False,
    )
    provider = provider_create(
        actor=admin,
        name=f"Soak {run}",
        provider_type="local",
        model_name="soak",
        api_endpoint="http://127.0.0.1:9/",
        cost_per_1k_tokens=Decimal("0.000100"),
        max_tokens=1000,
        timeout_seconds=5,
        is_platform_provided=True,
    )
    projects = {u.pk: project_create(actor=u, owner=u, name=f"Soak {run}") for u in users}
    from accounts.services import invitation_create

    invitation, code = invitation_create(
        actor=admin, role=Role.USER, max_uses=3, expires_at=timezone.now() + timedelta(hours=1)
    )
    return {
        "run": run,
        "admin": session_create(user=admin).access,
        "viewer": session_create(user=viewer).access,
        "users": [(u, session_create(user=u).access, projects[u.pk]) for u in users],
        "provider": provider,
        "invitation": invitation,
        "code": code,
    }


async def _client(n: int, base: str, data: dict, deadline: float, stats, counters) -> None:
    import httpx

    rng = random.Random(n)
    user, token, project = data["users"][n]
    me = {"Authorization": f"Bearer {token}"}
    admin = {"Authorization": f"Bearer {data['admin']}"}
    viewer = {"Authorization": f"Bearer {data['viewer']}"}
    experiments: list[str] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:

        async def call(name, method, url, **kw):
            start = time.perf_counter()
            response = await http.request(method, url, **kw)
            stats[name].append((time.perf_counter() - start, response.status_code))
            if response.status_code >= 500:
                counters["5xx"] += 1
                counters["5xx_samples"].append(f"{method} {url} -> {response.status_code} {response.text[:200]}")
            return response

        while time.monotonic() < deadline:
            pick = rng.random()
            if pick < 0.25:
                r = await call(
                    "POST /usage/",
                    "POST",
                    "/api/v1/usage/",
                    headers=me,
                    json={
                        "provider": str(data["provider"].pk),
                        "model": "soak",
                        "tokens_input": 100,
                        "tokens_output": 20,
                    },
                )
                if r.status_code == 201:
                    counters[f"usage:{user.pk}"] += 1
            elif pick < 0.35:
                r = await call(
                    "POST /experiments/",
                    "POST",
                    "/api/v1/experiments/",
                    headers=me,
                    json={
                        "project": str(project.pk),
                        "name": f"e{len(experiments)}",
                        "config": {"model": "m", "temperature": rng.random(), "client": n, "k": len(experiments)},
                    },
                )
                if r.status_code == 201:
                    experiments.append(r.json()["id"])
            elif pick < 0.42 and experiments:
                await call(
                    "POST /experiments/{id}/transition",
                    "POST",
                    f"/api/v1/experiments/{rng.choice(experiments)}/transition",
                    headers=me,
                    json={"to": rng.choice(["running", "completed", "failed"])},
                )
            elif pick < 0.55 and experiments:
                await call(
                    "GET /experiments/{id}/", "GET", f"/api/v1/experiments/{rng.choice(experiments)}/", headers=me
                )
            elif pick < 0.65:
                await call(
                    "GET /experiments/",
                    "GET",
                    "/api/v1/experiments/",
                    headers=me,
                    params={"project": str(project.pk), "page_size": 50},
                )
            elif pick < 0.72:
                await call("GET /projects/ (viewer)", "GET", "/api/v1/projects/", headers=viewer)
            elif pick < 0.78:
                await call("GET /usage/", "GET", "/api/v1/usage/", headers=me)
            elif pick < 0.83:
                await call(
                    "GET /audit-log/ (admin)",
                    "GET",
                    "/api/v1/audit-log/",
                    headers=admin,
                    params={"entity": "usage", "page_size": 50},
                )
            elif pick < 0.88:
                await call("GET /me/quota", "GET", "/api/v1/me/quota", headers=me)
            elif pick < 0.90:
                await call("GET /providers/", "GET", "/api/v1/providers/", headers=me)
            elif pick < 0.93:
                await _analysis(call, me, project, rng)
            elif pick < 0.96:
                r = await call(
                    "POST /auth/register",
                    "POST",
                    "/api/v1/auth/register",
                    json={
                        "email": f"soak-reg-{data['run']}-{n}-{rng.randrange(10**9)}@example.com",
                        "password": "a-strong-soak-password-1",
                        "invitation_code": data["code"],
                    },
                )
                if r.status_code == 201:
                    counters["registered"] += 1
            else:
                await call("GET /healthz", "GET", "/healthz")


async def _analysis(call, me, project, rng) -> None:
    """An analysis session through its life: create, two tasks run and finish, a review."""
    r = await call(
        "POST /analysis-sessions/",
        "POST",
        "/api/v1/analysis-sessions/",
        headers=me,
        json={"project": str(project.pk), "metadata": {"repo": "soak"}},
    )
    if r.status_code != 201:
        return
    session = r.json()["id"]
    tasks = []
    for kind in ("static", "ai"):
        t = await call(
            "POST /analysis-sessions/{id}/tasks/",
            "POST",
            f"/api/v1/analysis-sessions/{session}/tasks/",
            headers=me,
            json={"type": kind},
        )
        if t.status_code == 201:
            tasks.append(t.json()["id"])
    for task in tasks:
        for status in ("running", rng.choice(["completed", "completed", "failed"])):
            await call(
                "PATCH /analysis-sessions/{id}/tasks/{id}",
                "PATCH",
                f"/api/v1/analysis-sessions/{session}/tasks/{task}/",
                headers=me,
                json={"status": status},
            )
    await call(
        "POST /analysis-sessions/{id}/code-reviews/",
        "POST",
        f"/api/v1/analysis-sessions/{session}/code-reviews/",
        headers=me,
        json={"code_language": "python", "code_length": 100, "overall_score": "80"},
    )
    await call("GET /analysis-sessions/{id}/", "GET", f"/api/v1/analysis-sessions/{session}/", headers=me)


async def _drive(base: str, data: dict) -> tuple[dict, dict]:
    stats: dict[str, list] = defaultdict(list)
    counters: dict = defaultdict(int)
    counters["5xx_samples"] = []
    deadline = time.monotonic() + SECONDS
    await asyncio.gather(*(_client(n, base, data, deadline, stats, counters) for n in range(CLIENTS)))
    return stats, counters


def main(report) -> None:
    import logging

    from django.db.models import Sum

    from accounts.models import Invitation
    from audits.chain import chain_pending
    from audits.verify import verify_chain
    from providers.models import UsageTracking

    logging.getLogger("httpx").setLevel(logging.WARNING)
    data = _prepare()
    with gunicorn(workers=WORKERS) as base:
        started = time.perf_counter()
        stats, counters = asyncio.run(_drive(base, data))
        elapsed = time.perf_counter() - started
    total = sum(len(v) for v in stats.values())
    report.add(f"requests ({CLIENTS} clients, {SECONDS:.0f} s, gunicorn {WORKERS} workers)", total / elapsed, "req/s")
    for name in sorted(stats):
        samples = [t for t, _ in stats[name]]
        codes = sorted({c for _, c in stats[name]})
        report.add(f"p95 {name}", percentile(samples, 95) * 1000, "ms", note=f"n={len(samples)} codes={codes}")
    problems = []
    if counters["5xx"]:
        problems.append(f"{counters['5xx']} responses were 5xx, e.g. {counters['5xx_samples'][:3]}")
    report.add("5xx responses", counters["5xx"], "count", target="0", met=counters["5xx"] == 0)

    chain_pending(wait=True)
    result = verify_chain(unbounded=True)
    report.add(
        "audit chain after the load",
        1 if result.ok else 0,
        "ok",
        target="verifies",
        met=result.ok,
        note=f"{result.checked} entries",
    )
    if not result.ok:
        problems.append(f"audit chain broken: {result.as_dict()['first_broken']}")

    lost = 0
    for user, _, _ in data["users"]:
        recorded = UsageTracking.objects.filter(user=user).aggregate(n=Sum("requests_count"))["n"] or 0
        lost += abs(recorded - counters[f"usage:{user.pk}"])
    report.add("usage counters vs accepted requests (difference)", lost, "requests", target="0", met=lost == 0)
    if lost:
        problems.append(f"usage counters differ from accepted requests by {lost}")

    invitation = Invitation.objects.get(pk=data["invitation"].pk)
    ok = invitation.uses <= invitation.max_uses and invitation.uses == counters["registered"]
    report.add(
        "invitation uses (max 3) = successful registrations",
        invitation.uses,
        "uses",
        target="<= 3",
        met=ok,
        note=f"registrations accepted: {counters['registered']}",
    )
    if not ok:
        problems.append(f"invitation uses {invitation.uses}, registrations {counters['registered']}")
    if problems:
        report.save()
        raise Failed("; ".join(problems))
