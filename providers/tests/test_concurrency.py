"""Races, with real threads (each on its own database connection) against committed data:
no lost increment, quota near a limit (no overspend beyond one request, no false 429),
exactly one alert per (user, type, period), one key per (user, type), one quota row."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from core.exceptions import Conflict, QuotaExceeded
from core.testing import bearer_client
from providers import services
from providers.models import CostAlert, UsageTracking, UserProvider, UserQuota

pytestmark = pytest.mark.django_db(transaction=True)


def run_concurrently(workers: int, calls: int, fn):
    """Run fn(i) for i in range(calls) on `workers` threads released together by a
    barrier. Returns [(result, exception)] in call order."""
    barrier = threading.Barrier(workers)
    outcomes = [None] * calls
    lock = threading.Lock()
    queue = list(range(calls))

    def worker():
        barrier.wait()
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    i = queue.pop()
                try:
                    outcomes[i] = (fn(i), None)
                except Exception as exc:
                    outcomes[i] = (None, exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return outcomes


def _unexpected(outcomes, allowed=()):
    return [exc for _, exc in outcomes if exc is not None and not isinstance(exc, allowed)]


def test_concurrent_upserts_never_lose_an_increment(regular_user, make_provider, new_audit):
    provider = make_provider(cost_per_1k_tokens=Decimal("0.003000"))
    outcomes = run_concurrently(
        16,
        400,
        lambda i: services.usage_record(
            user=regular_user, provider=provider, model="m", tokens_input=100 + i % 7, tokens_output=i % 3
        ),
    )
    assert _unexpected(outcomes) == []
    row = UsageTracking.objects.get(user=regular_user)
    tokens_in = sum(100 + i % 7 for i in range(400))
    tokens_out = sum(i % 3 for i in range(400))
    assert row.requests_count == 400
    assert (row.tokens_input, row.tokens_output) == (tokens_in, tokens_out)
    assert row.cost_usd == Decimal(tokens_in + tokens_out) * Decimal("0.003") / 1000
    assert new_audit(entity="usage", actor=regular_user.pk).count() == 400
    # Running totals seen by the callers are each a distinct step of one serial history.
    assert sorted(r.row_requests for r, _ in outcomes) == list(range(1, 401))


def test_concurrent_writers_on_distinct_users_all_land(make_user, make_provider):
    provider = make_provider()
    users = [make_user("user") for _ in range(8)]
    outcomes = run_concurrently(
        16,
        320,
        lambda i: services.usage_record(
            user=users[i % 8], provider=provider, model=f"m{(i // 8) % 2}", tokens_input=10, tokens_output=0
        ),
    )
    assert _unexpected(outcomes) == []
    assert sorted(UsageTracking.objects.values_list("requests_count", flat=True)) == [20] * 16


def _near_limit(user, provider, set_quota, *, headroom_requests: Decimal):
    """Pre-spend $0.50 and set the daily cost limit so that `headroom_requests` requests
    of $0.03 fit below it."""
    services.usage_record(user=user, provider=provider, model="warm-up", tokens_input=500, tokens_output=0)
    limit = Decimal("0.50") + headroom_requests * Decimal("0.03")
    set_quota(user, daily_cost_limit=limit, daily_limit=100_000)
    return limit


def _spend(user) -> Decimal:
    return sum(UsageTracking.objects.filter(user=user).values_list("cost_usd", flat=True))


def test_200_concurrent_requests_near_the_limit_overspend_at_most_one_request(
    regular_user, make_provider, set_quota, new_audit
):
    provider = make_provider(cost_per_1k_tokens=Decimal("1"))  # 30 tokens = $0.03
    limit = _near_limit(regular_user, provider, set_quota, headroom_requests=Decimal("16.5"))

    def call(i):
        return services.usage_record(user=regular_user, provider=provider, model="m", tokens_input=30, tokens_output=0)

    outcomes = run_concurrently(100, 200, call)
    assert _unexpected(outcomes, QuotaExceeded) == []
    admitted = [r for r, e in outcomes if e is None]
    refused = [e for _, e in outcomes if e is not None]
    # $0.50 + 16 × $0.03 = $0.98 < limit ($0.995) → the 17th is admitted and crosses it.
    assert len(admitted) == 17 and len(refused) == 183
    spent = _spend(regular_user)
    assert spent == Decimal("0.50") + 17 * Decimal("0.03")
    assert Decimal(0) <= spent - limit <= Decimal("0.03")
    assert all(e.details["limits"] == ["daily_cost"] and e.retry_after >= 1 for e in refused)
    # Only admitted requests were audited.
    assert new_audit(entity="usage", actor=regular_user.pk).count() == 1 + 17


def test_no_false_429_while_spend_is_under_the_limit(regular_user, make_provider, set_quota):
    """The limit leaves room for 199.5 requests: all 200 must pass (any refusal would be
    a false 429, spend being under the limit at that moment), the last one crossing it;
    then a second wave of 200 is refused whole."""
    provider = make_provider(cost_per_1k_tokens=Decimal("1"))
    limit = _near_limit(regular_user, provider, set_quota, headroom_requests=Decimal("199.5"))

    def call(i):
        return services.usage_record(user=regular_user, provider=provider, model="m", tokens_input=30, tokens_output=0)

    first = run_concurrently(100, 200, call)
    assert [e for _, e in first if e is not None] == []
    spent = _spend(regular_user)
    assert spent == Decimal("0.50") + 200 * Decimal("0.03")
    assert Decimal(0) < spent - limit <= Decimal("0.03")
    second = run_concurrently(100, 200, call)
    assert all(isinstance(e, QuotaExceeded) for _, e in second)
    assert _spend(regular_user) == spent


def test_request_count_limit_under_concurrency_is_exact(regular_user, provider, set_quota):
    set_quota(regular_user, daily_limit=37)
    outcomes = run_concurrently(
        50,
        120,
        lambda i: services.usage_record(
            user=regular_user, provider=provider, model="m", tokens_input=1, tokens_output=1
        ),
    )
    assert _unexpected(outcomes, QuotaExceeded) == []
    assert sum(1 for _, e in outcomes if e is None) == 37
    assert UsageTracking.objects.get(user=regular_user).requests_count == 37


def test_exactly_one_alert_per_type_and_period_under_concurrency(regular_user, make_provider, set_quota, new_audit):
    provider = make_provider(cost_per_1k_tokens=Decimal("1"))
    set_quota(regular_user, daily_cost_limit=Decimal("1"), monthly_cost_limit=Decimal("1"))
    # 60 concurrent records of $0.02: 50 fit, crossing 80/90/100 % of both limits.
    outcomes = run_concurrently(
        30,
        60,
        lambda i: services.usage_record(
            user=regular_user, provider=provider, model="m", tokens_input=20, tokens_output=0
        ),
    )
    assert _unexpected(outcomes, QuotaExceeded) == []
    alerts = sorted(CostAlert.objects.filter(user=regular_user).values_list("alert_type", flat=True))
    assert alerts == sorted(["daily_80", "daily_90", "daily_100", "monthly_80", "monthly_90", "monthly_100"])
    raised = sorted(a["alert_type"] for r, e in outcomes if e is None for a in r.alerts)
    assert raised == alerts  # each reported to exactly one caller
    assert new_audit(entity="cost_alert", action="trigger", payload__user=str(regular_user.pk)).count() == 6


def test_the_unique_constraint_itself_refuses_a_second_alert(regular_user):
    """Even a writer that bypassed the function cannot add a second alert of a period."""
    from django.db import IntegrityError
    from django.utils import timezone

    values = dict(
        user=regular_user,
        alert_type="daily_80",
        threshold_percentage=80,
        period_start=timezone.now().date(),
        triggered_at=timezone.now(),
        spent_usd=Decimal("8"),
        limit_usd=Decimal("10"),
    )

    def insert(i):
        return CostAlert.objects.create(**values)

    outcomes = run_concurrently(8, 8, insert)
    assert sum(1 for _, e in outcomes if e is None) == 1
    assert all(isinstance(e, IntegrityError) for _, e in outcomes if e is not None)


def test_concurrent_key_creation_one_wins(regular_user):
    outcomes = run_concurrently(
        10,
        10,
        lambda i: services.provider_key_create(
            user=regular_user, provider_type="anthropic", provider_name="Claude", api_key=f"sk-ant-{i:08d}-secret"
        ),
    )
    assert _unexpected(outcomes, Conflict) == []
    assert sum(1 for _, e in outcomes if e is None) == 1
    assert UserProvider.objects.filter(user=regular_user).count() == 1


def test_concurrent_quota_sets_leave_one_row(regular_user, admin_user):
    outcomes = run_concurrently(
        12, 12, lambda i: services.quota_set(user=regular_user, actor=admin_user, daily_limit=100 + i)
    )
    assert _unexpected(outcomes) == []
    assert UserQuota.objects.filter(user=regular_user).count() == 1
    assert sum(1 for r, _ in outcomes if r[1]) == 1  # exactly one call created it


def test_http_usage_near_the_limit_under_concurrency(regular_user, make_provider, set_quota):
    """Through the API: 201s then 429 quota_exceeded with Retry-After, nothing recorded by a 429."""
    provider = make_provider(cost_per_1k_tokens=Decimal("1"))
    limit = _near_limit(regular_user, provider, set_quota, headroom_requests=Decimal("9.5"))
    clients = [bearer_client(regular_user) for _ in range(20)]

    def post(i):
        return clients[i % 20].post(
            "/api/v1/usage/",
            {"provider": str(provider.pk), "model": provider.model_name, "tokens_input": 30, "tokens_output": 0},
        )

    outcomes = run_concurrently(20, 40, post)
    responses = [r for r, e in outcomes]
    assert all(e is None for _, e in outcomes)
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 10 + [429] * 30
    for r in responses:
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "quota_exceeded" and int(r["Retry-After"]) >= 1
    spent = _spend(regular_user)
    assert Decimal(0) < spent - limit <= Decimal("0.03")
