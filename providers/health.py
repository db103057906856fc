"""HTTP probes of catalog providers (no database access here; see
services.providers_check_health, which records the results).

A probe is a GET of the provider's `api_endpoint`, bounded by its `timeout_seconds`
(connect, read and total). An answer below 500 counts as up: a provider's API root
typically answers 401/404 without a key, which proves it is reachable and serving.
5xx answers, timeouts and connection errors are failures. Redirects are not followed,
and the URL (which might carry a credential in its query) never appears in an error."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import httpx
from django.utils import timezone

from providers.models import Provider

USER_AGENT = "Tristate-health-check/1"


async def _probe(client: httpx.AsyncClient, provider: Provider, limit: asyncio.Semaphore):
    from providers.services import ProbeResult

    timeout = float(provider.timeout_seconds)
    async with limit:
        started = time.perf_counter()
        checked_at = timezone.now()
        error = ""
        ok = False
        try:
            # asyncio.timeout bounds the whole exchange (a server trickling bytes
            # slowly would otherwise reset httpx's per-read timeout forever).
            async with asyncio.timeout(timeout):
                response = await client.get(provider.api_endpoint, timeout=httpx.Timeout(timeout))
            ok = response.status_code < 500
            if not ok:
                error = f"HTTP {response.status_code}"
        except (TimeoutError, httpx.TimeoutException):
            error = f"timed out after {provider.timeout_seconds}s"
        except httpx.HTTPError as exc:
            error = f"connection failed ({type(exc).__name__})"
        elapsed_ms = round((time.perf_counter() - started) * 1000)
    return ProbeResult(provider_id=provider.pk, ok=ok, response_time_ms=elapsed_ms, error=error, checked_at=checked_at)


async def _probe_all(providers: list[Provider], concurrency: int):
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=concurrency),
    ) as client:
        return await asyncio.gather(*(_probe(client, p, limit) for p in providers))


def probe_all(providers: Iterable[Provider], *, concurrency: int = 8) -> list:
    """Probe every provider, at most `concurrency` at a time; one result per provider."""
    providers = list(providers)
    if not providers:
        return []
    return list(asyncio.run(_probe_all(providers, concurrency)))
