"""Health probes against a local HTTP server that is fine, failing, slow or absent:
states (healthy → degraded → unhealthy after 3 failures → recovered), response time,
success rate, concurrency of the probes, the command and its audit entry."""

import socket
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from providers import services
from providers.locks import CHECK_PROVIDERS_LOCK
from providers.models import ProviderHealth

pytestmark = pytest.mark.django_db


def _check(*providers, concurrency=8):
    return services.providers_check_health(providers=providers, concurrency=concurrency)


def test_a_fine_endpoint_is_healthy(make_provider, probe_server, new_audit):
    provider = make_provider(api_endpoint=f"{probe_server.url}/ok")
    report = _check(provider)
    assert (report.checked, report.healthy, report.unhealthy) == (1, 1, 0)
    health = ProviderHealth.objects.get(provider=provider)
    assert health.status == "healthy" and health.is_healthy
    assert health.consecutive_failures == 0 and health.last_error == ""
    assert health.response_time_ms is not None and health.last_success_at == health.last_check_at
    assert health.success_rate == Decimal("100.00") and health.recent_checks == "1"
    assert probe_server.hits == {"/ok": 1}
    entry = new_audit(entity="provider_health", action="check").get()
    assert entry.payload["checked"] == 1 and entry.payload["healthy"] == 1


def test_three_consecutive_failures_make_it_unhealthy_and_one_success_recovers(make_provider, probe_server):
    provider = make_provider(api_endpoint=f"{probe_server.url}/fail")
    states = []
    for _ in range(4):
        report = _check(provider)
        health = ProviderHealth.objects.get(provider=provider)
        states.append((health.status, health.is_healthy, health.consecutive_failures, report.became_unhealthy))
    assert states == [
        ("degraded", True, 1, []),
        ("degraded", True, 2, []),
        ("unhealthy", False, 3, [str(provider.pk)]),
        ("unhealthy", False, 4, []),
    ]
    assert health.last_error == "HTTP 503" and health.failures_total == 4
    services.provider_update(provider=provider, actor=None, api_endpoint=f"{probe_server.url}/ok")
    provider.refresh_from_db()
    report = _check(provider)
    health.refresh_from_db()
    assert report.recovered == [str(provider.pk)]
    assert (health.status, health.is_healthy, health.consecutive_failures) == ("healthy", True, 0)
    assert health.success_rate == Decimal("20.00") and health.recent_checks == "00001"
    assert (health.checks_total, health.failures_total) == (5, 4)


def test_a_slow_endpoint_times_out(make_provider, probe_server):
    probe_server.slow_seconds = 3
    provider = make_provider(api_endpoint=f"{probe_server.url}/slow", timeout_seconds=1)
    _check(provider)
    health = ProviderHealth.objects.get(provider=provider)
    assert health.status == "degraded" and health.last_error == "timed out after 1s"
    assert health.response_time_ms >= 900


def test_an_absent_server_is_a_connection_failure(make_provider):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port once the socket is closed.
    provider = make_provider(api_endpoint=f"http://127.0.0.1:{port}/v1", timeout_seconds=2)
    _check(provider)
    health = ProviderHealth.objects.get(provider=provider)
    assert health.status == "degraded" and health.last_error.startswith("connection failed")


def test_an_answer_below_500_means_up(make_provider, probe_server):
    provider = make_provider(api_endpoint=f"{probe_server.url}/unauthorized")
    _check(provider)
    assert ProviderHealth.objects.get(provider=provider).status == "healthy"


def test_the_success_rate_is_over_the_last_100_probes(make_provider, probe_server):
    provider = make_provider(api_endpoint=f"{probe_server.url}/ok")
    ProviderHealth.objects.create(
        provider=provider, recent_checks="0" * 100, checks_total=100, failures_total=100, consecutive_failures=100
    )
    _check(provider)
    health = ProviderHealth.objects.get(provider=provider)
    assert len(health.recent_checks) == 100 and health.recent_checks.endswith("01")
    assert health.success_rate == Decimal("1.00") and health.checks_total == 101


@pytest.mark.parametrize("concurrency,expected", [(1, 1), (4, 4)])
def test_probes_run_concurrently_up_to_the_limit(make_provider, probe_server, concurrency, expected):
    providers = [make_provider(api_endpoint=f"{probe_server.url}/hold/{i}") for i in range(4)]
    report = _check(*providers, concurrency=concurrency)
    assert report.checked == 4 and report.healthy == 4
    assert probe_server.max_in_flight == expected


def test_command_probes_active_providers_only(make_provider, probe_server, new_audit):
    make_provider(name="Fine", api_endpoint=f"{probe_server.url}/ok")
    make_provider(name="Broken", api_endpoint=f"{probe_server.url}/fail")
    make_provider(name="Retired", api_endpoint=f"{probe_server.url}/retired", is_active=False)
    out = StringIO()
    call_command("check_providers", "--concurrency", "2", "-v", "2", stdout=out)
    text = out.getvalue()
    assert "checked 2: 1 healthy, 1 degraded, 0 unhealthy" in text
    assert "Broken: degraded" in text and "HTTP 503" in text and "Fine: healthy" in text
    assert "/retired" not in probe_server.hits
    assert new_audit(entity="provider_health", action="check").count() == 1
    out = StringIO()
    call_command("check_providers", "--provider", "Fine", stdout=out)
    assert "checked 1:" in out.getvalue()


def test_command_refuses_bad_options_and_unknown_providers(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("check_providers", "--concurrency", "0")
    with pytest.raises(CommandError):
        call_command("check_providers", "--provider", "Nope")


def test_command_does_nothing_while_another_run_holds_the_lock(make_provider, probe_server):
    make_provider(api_endpoint=f"{probe_server.url}/ok")
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [CHECK_PROVIDERS_LOCK])
        out = StringIO()
        call_command("check_providers", stdout=out)
        assert "another run is in progress" in out.getvalue()
        assert probe_server.hits == {}
    finally:
        other.close()
