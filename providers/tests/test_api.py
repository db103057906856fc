"""The providers API for every role: catalog (with health), my keys, my quota, usage,
cost alerts, quotas. Status and error codes, the audit entries written, constant query
counts for lists."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.testing import assert_error
from providers import services
from providers.models import CostAlert, UsageTracking, UserProvider

pytestmark = pytest.mark.django_db

KEY = "sk-live-4f8A2b9C7d1E6f3G5h0J"


def _count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def _assert_constant_queries(client, url, add_rows):
    client.get(url)  # warm up (session last_used, partition caches)
    few = _count_queries(client, url)
    add_rows()
    many = _count_queries(client, url)
    assert few == many, f"{few} queries with few rows, {many} with more"


def _probe(provider, ok=True, error=""):
    return services.ProbeResult(
        provider_id=provider.pk, ok=ok, response_time_ms=42, error=error, checked_at=timezone.now()
    )


# --- /providers/ -----------------------------------------------------------------------

PROVIDER_BODY = {
    "name": "Anthropic Claude",
    "provider_type": "anthropic",
    "model_name": "claude-sonnet",
    "api_endpoint": "https://api.anthropic.com/v1",
    "cost_per_1k_tokens": "0.003000",
    "max_tokens": 8192,
    "timeout_seconds": 20,
    "is_platform_provided": True,
}


def test_catalog_is_read_by_every_active_role_and_shows_health(
    provider, make_provider, viewer_client, user_client, admin_client_api, anon_client
):
    unchecked = make_provider(name="Never checked")
    services.provider_health_record(results=[_probe(provider, ok=False, error="HTTP 503")])
    assert_error(anon_client.get("/api/v1/providers/"), 401, "not_authenticated")
    for client in (viewer_client, user_client, admin_client_api):
        body = client.get("/api/v1/providers/").json()
        by_name = {p["name"]: p for p in body["results"]}
        assert by_name[provider.name]["health"]["status"] == "degraded"
        assert by_name[provider.name]["health"]["consecutive_failures"] == 1
        assert by_name[provider.name]["health"]["last_error"] == "HTTP 503"
        assert by_name[provider.name]["health"]["success_rate"] == "0.00"
        assert by_name[unchecked.name]["health"]["status"] == "unknown"
        assert by_name[unchecked.name]["health"]["is_healthy"] is None
    one = viewer_client.get(f"/api/v1/providers/{provider.pk}").json()
    assert one["cost_per_1k_tokens"] == "0.002000000" and one["health"]["response_time_ms"] == 42


def test_catalog_list_costs_constant_queries(viewer_client, make_provider):
    make_provider()

    def more():
        for _ in range(6):
            p = make_provider()
            services.provider_health_record(results=[_probe(p)])

    _assert_constant_queries(viewer_client, "/api/v1/providers/", more)


def test_only_admins_write_the_catalog(user_client, viewer_client, provider):
    for client in (user_client, viewer_client):
        assert_error(client.post("/api/v1/providers/", PROVIDER_BODY), 403, "permission_denied")
        assert_error(client.patch(f"/api/v1/providers/{provider.pk}", {"is_active": False}), 403, "permission_denied")
        assert_error(client.delete(f"/api/v1/providers/{provider.pk}"), 403, "permission_denied")


def test_admin_creates_updates_and_deletes_catalog_entries(admin_client_api, admin_user, new_audit):
    created = admin_client_api.post("/api/v1/providers/", PROVIDER_BODY)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["provider_type"] == "anthropic" and body["health"]["status"] == "unknown"
    entry = new_audit(entity="provider", action="create").get()
    assert entry.actor == admin_user.pk and entry.payload["name"] == "Anthropic Claude"

    changed = admin_client_api.patch(
        f"/api/v1/providers/{body['id']}", {"cost_per_1k_tokens": "0.004500", "is_active": False}
    )
    assert changed.status_code == 200 and changed.json()["cost_per_1k_tokens"] == "0.004500000"
    update = new_audit(entity="provider", action="update").get()
    assert update.payload["changes"] == {"cost_per_1k_tokens": ["0.003000", "0.004500"], "is_active": [True, False]}
    assert admin_client_api.get("/api/v1/providers/?is_active=false").json()["count"] == 1

    assert admin_client_api.delete(f"/api/v1/providers/{body['id']}").status_code == 204
    assert new_audit(entity="provider", action="delete").count() == 1
    assert_error(admin_client_api.get(f"/api/v1/providers/{body['id']}"), 404, "not_found")


@pytest.mark.parametrize(
    "change",
    [
        {"provider_type": "mistral"},
        {"api_endpoint": "ftp://files.example.com"},
        {"api_endpoint": "not a url"},
        {"cost_per_1k_tokens": "-1"},
        {"cost_per_1k_tokens": "0.0000001"},
        {"timeout_seconds": 0},
        {"timeout_seconds": 301},
        {"max_tokens": 0},
        {"name": ""},
        {"name": "x" * 101},
    ],
)
def test_catalog_input_is_validated(admin_client_api, change):
    assert_error(admin_client_api.post("/api/v1/providers/", {**PROVIDER_BODY, **change}), 400, "validation_error")


def test_catalog_names_are_unique_case_insensitively(admin_client_api, provider):
    response = admin_client_api.post("/api/v1/providers/", {**PROVIDER_BODY, "name": provider.name.upper()})
    assert_error(response, 409, "conflict")
    other = admin_client_api.post("/api/v1/providers/", PROVIDER_BODY).json()
    assert_error(admin_client_api.patch(f"/api/v1/providers/{other['id']}", {"name": provider.name}), 409, "conflict")


def test_a_provider_with_usage_cannot_be_deleted(admin_client_api, regular_user, provider):
    services.usage_record(user=regular_user, provider=provider, model="m", tokens_input=1, tokens_output=1)
    assert_error(admin_client_api.delete(f"/api/v1/providers/{provider.pk}"), 409, "conflict")
    assert admin_client_api.get(f"/api/v1/providers/{provider.pk}").status_code == 200


# --- /me/providers/ --------------------------------------------------------------------

KEY_BODY = {"provider_type": "openai", "provider_name": "My OpenAI", "model_name": "gpt-4o", "api_key": KEY}


def test_storing_a_key_returns_only_its_last_four_characters(user_client, regular_user, new_audit):
    response = user_client.post("/api/v1/me/providers/", KEY_BODY)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["key_last_4_chars"] == KEY[-4:]
    assert set(body) == {
        "id",
        "provider_type",
        "name",
        "model",
        "provider_name",
        "model_name",
        "key_last_4_chars",
        "is_active",
        "created_at",
        "updated_at",
    }
    assert KEY not in response.content.decode() and KEY[:-4] not in response.content.decode()
    listed = user_client.get("/api/v1/me/providers/")
    assert listed.json()["count"] == 1 and KEY not in listed.content.decode()
    assert "ENC4" not in listed.content.decode()
    entry = new_audit(entity="user_provider", action="create").get()
    assert entry.actor == regular_user.pk and KEY not in str(entry.payload)


def test_key_errors_never_echo_the_key(user_client):
    assert user_client.post("/api/v1/me/providers/", KEY_BODY).status_code == 201
    duplicate = user_client.post("/api/v1/me/providers/", {**KEY_BODY, "api_key": "sk-another-secret-123"})
    assert_error(duplicate, 409, "conflict")
    assert "sk-another" not in duplicate.content.decode()
    for bad in ("tiny", "with spaces in the key", "x" * 2000):
        response = user_client.post("/api/v1/me/providers/", {**KEY_BODY, "provider_type": "local", "api_key": bad})
        assert_error(response, 400, "validation_error")
        assert bad not in response.content.decode()
    assert_error(
        user_client.post("/api/v1/me/providers/", {**KEY_BODY, "provider_type": "mistral"}), 400, "validation_error"
    )


def test_keys_are_personal(user_client, other_user_client, admin_client_api, regular_user):
    mine = user_client.post("/api/v1/me/providers/", KEY_BODY).json()
    url = f"/api/v1/me/providers/{mine['id']}"
    for client in (other_user_client, admin_client_api):
        assert client.get("/api/v1/me/providers/").json()["count"] == 0
        assert_error(client.get(url), 404, "not_found")
        assert_error(client.patch(url, {"is_active": False}), 404, "not_found")
        assert_error(client.delete(url), 404, "not_found")
    assert UserProvider.objects.get(pk=mine["id"]).is_active


def test_viewers_and_anonymous_have_no_keys(viewer_client, anon_client):
    assert_error(viewer_client.get("/api/v1/me/providers/"), 403, "permission_denied")
    assert_error(viewer_client.post("/api/v1/me/providers/", KEY_BODY), 403, "permission_denied")
    assert_error(anon_client.get("/api/v1/me/providers/"), 401, "not_authenticated")


def test_patch_deactivates_renames_and_replaces_the_key(user_client, regular_user, new_audit):
    row = user_client.post("/api/v1/me/providers/", KEY_BODY).json()
    url = f"/api/v1/me/providers/{row['id']}"
    off = user_client.patch(url, {"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False
    replaced = user_client.patch(url, {"api_key": "sk-live-NEWKEY-0000-WXYZ", "provider_name": "Work"})
    assert replaced.status_code == 200
    assert replaced.json()["key_last_4_chars"] == "WXYZ" and replaced.json()["provider_name"] == "Work"
    assert "NEWKEY" not in replaced.content.decode()
    assert_error(user_client.patch(url, {"is_active": "maybe"}), 400, "validation_error")
    stored = UserProvider.objects.get(pk=row["id"])
    assert services.provider_key_reveal(user_provider=_activate(stored)) == "sk-live-NEWKEY-0000-WXYZ"
    assert user_client.delete(url).status_code == 204
    assert not UserProvider.objects.filter(pk=row["id"]).exists()
    assert new_audit(entity="user_provider").values_list("action", flat=True).count() >= 4


def _activate(row):
    return services.provider_key_update(user_provider=row, actor=None, is_active=True)


def test_key_list_costs_constant_queries(user_client, regular_user):
    user_client.post("/api/v1/me/providers/", KEY_BODY)

    def more():
        for t in ("anthropic", "huggingface", "local"):
            services.provider_key_create(user=regular_user, provider_type=t, provider_name=t, api_key=KEY)

    _assert_constant_queries(user_client, "/api/v1/me/providers/", more)


# --- /me/quota -------------------------------------------------------------------------


def test_my_quota_reports_limits_use_percent_and_resets(regular_user, make_provider, set_quota, api_client_for):
    provider = make_provider(cost_per_1k_tokens=Decimal("1"))
    set_quota(regular_user, daily_limit=10, daily_cost_limit=Decimal("2"))
    with time_machine.travel(datetime(2026, 3, 10, 15, tzinfo=UTC), tick=False):
        client = api_client_for(regular_user)
        services.usage_record(user=regular_user, provider=provider, model="m", tokens_input=500, tokens_output=0)
        body = client.get("/api/v1/me/quota").json()
    assert body["timezone"] == "UTC"
    assert body["limits"] == {
        "daily_limit": 10,
        "monthly_limit": 20000,
        "daily_cost_limit": "2.000000000",
        "monthly_cost_limit": "200.000000000",
        "custom": ["daily_cost_limit", "daily_limit"],
    }
    assert body["daily"]["period_start"] == "2026-03-10"
    assert body["daily"]["resets_at"] == "2026-03-11T00:00:00Z"
    assert body["daily"]["requests"] == {"used": 1, "limit": 10, "remaining": 9, "percent": "10.00"}
    assert body["daily"]["cost_usd"] == {
        "used": "0.500000000",
        "limit": "2.000000000",
        "remaining": "1.500000000",
        "percent": "25.00",
    }
    assert body["monthly"]["period_start"] == "2026-03-01"
    assert body["monthly"]["resets_at"] == "2026-04-01T00:00:00Z"
    assert body["monthly"]["cost_usd"]["percent"] == "0.25"


def test_my_quota_roles(viewer_client, anon_client, user_client):
    assert user_client.get("/api/v1/me/quota/").status_code == 200
    assert_error(viewer_client.get("/api/v1/me/quota"), 403, "permission_denied")
    assert_error(anon_client.get("/api/v1/me/quota"), 401, "not_authenticated")


# --- /usage/ ---------------------------------------------------------------------------


def _usage_body(catalog_entry, **kw):
    return {"provider": str(catalog_entry.pk), "model": "gpt-4o-mini", "tokens_input": 1200, "tokens_output": 300, **kw}


def test_recording_usage_answers_running_totals(user_client, regular_user, provider, new_audit):
    first = user_client.post("/api/v1/usage/", _usage_body(provider))
    assert first.status_code == 201, first.content
    second = user_client.post("/api/v1/usage/", _usage_body(provider, requests=2)).json()
    assert second["user"] == str(regular_user.pk)
    assert second["recorded"] == {"requests": 2, "tokens_input": 1200, "tokens_output": 300, "cost_usd": "0.003000000"}
    assert second["usage"]["requests_count"] == 3 and second["usage"]["cost_usd"] == "0.006000000"
    assert second["daily"]["requests"]["used"] == 3 and second["monthly"]["cost_usd"]["used"] == "0.006000000"
    assert second["alerts"] == []
    assert new_audit(entity="usage", action="record", actor=regular_user.pk).count() == 2


def test_admin_records_for_a_user_and_users_cannot(
    admin_client_api, admin_user, user_client, regular_user, other_user, provider, new_audit
):
    response = admin_client_api.post("/api/v1/usage/", _usage_body(provider, user=str(regular_user.pk)))
    assert response.status_code == 201 and response.json()["user"] == str(regular_user.pk)
    assert UsageTracking.objects.get().user_id == regular_user.pk
    assert new_audit(entity="usage").get().actor == admin_user.pk

    denied = user_client.post("/api/v1/usage/", _usage_body(provider, user=str(other_user.pk)))
    assert_error(denied, 403, "permission_denied")
    assert not UsageTracking.objects.filter(user=other_user).exists()
    # Naming oneself is fine.
    assert user_client.post("/api/v1/usage/", _usage_body(provider, user=str(regular_user.pk))).status_code == 201


def test_usage_roles(viewer_client, anon_client, provider):
    assert_error(viewer_client.post("/api/v1/usage/", _usage_body(provider)), 403, "permission_denied")
    assert_error(viewer_client.get("/api/v1/usage/"), 403, "permission_denied")
    assert_error(anon_client.post("/api/v1/usage/", _usage_body(provider)), 401, "not_authenticated")


@pytest.mark.parametrize(
    "change",
    [
        {"tokens_input": -5},
        {"tokens_output": "many"},
        {"requests": 0},
        {"model": ""},
        {"provider": "00000000-0000-0000-0000-000000000000"},
        {"provider": "not-a-uuid"},
        {"tokens_input": 10**13},
    ],
)
def test_bad_usage_input_is_a_400(user_client, provider, change):
    assert_error(user_client.post("/api/v1/usage/", _usage_body(provider, **change)), 400, "validation_error")
    assert not UsageTracking.objects.exists()


def test_naming_an_unknown_user_is_a_400_for_admins_and_a_403_for_users(admin_client_api, user_client, provider):
    nobody = "00000000-0000-0000-0000-000000000000"
    assert_error(admin_client_api.post("/api/v1/usage/", _usage_body(provider, user=nobody)), 400, "validation_error")
    # A user learns nothing about which ids exist.
    assert_error(user_client.post("/api/v1/usage/", _usage_body(provider, user=nobody)), 403, "permission_denied")


def test_inactive_provider_usage_is_a_400(user_client, provider):
    services.provider_update(provider=provider, actor=None, is_active=False)
    assert_error(user_client.post("/api/v1/usage/", _usage_body(provider)), 400, "validation_error")


def test_over_quota_is_429_with_retry_after_and_records_nothing(
    user_client, regular_user, provider, set_quota, new_audit
):
    set_quota(regular_user, daily_limit=1)
    assert user_client.post("/api/v1/usage/", _usage_body(provider)).status_code == 201
    audited = new_audit(entity="usage").count()
    response = user_client.post("/api/v1/usage/", _usage_body(provider))
    error = assert_error(response, 429, "quota_exceeded")
    now = timezone.now()
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    assert abs(int(response["Retry-After"]) - (midnight - now).total_seconds()) <= 5
    assert error["details"]["limits"] == ["daily_requests"]
    assert UsageTracking.objects.get().requests_count == 1
    assert new_audit(entity="usage").count() == audited


def test_usage_list_visibility_and_filters(
    user_client, admin_client_api, regular_user, other_user, make_provider, api_client_for
):
    a, b = make_provider(), make_provider()
    with time_machine.travel(datetime(2026, 3, 10, 12, tzinfo=UTC), tick=False):
        services.usage_record(user=regular_user, provider=a, model="x", tokens_input=1, tokens_output=0)
        services.usage_record(user=other_user, provider=a, model="x", tokens_input=1, tokens_output=0)
    with time_machine.travel(datetime(2026, 3, 12, 12, tzinfo=UTC), tick=False):
        services.usage_record(user=regular_user, provider=b, model="y", tokens_input=1, tokens_output=0)
    mine = user_client.get("/api/v1/usage/").json()
    assert mine["count"] == 2 and {r["user"] for r in mine["results"]} == {str(regular_user.pk)}
    assert mine["results"][0]["date"] == "2026-03-12"  # newest first
    assert admin_client_api.get("/api/v1/usage/").json()["count"] == 3
    assert admin_client_api.get(f"/api/v1/usage/?user={other_user.pk}").json()["count"] == 1
    assert user_client.get(f"/api/v1/usage/?user={other_user.pk}").json()["count"] == 0
    assert user_client.get("/api/v1/usage/?date_after=2026-03-11").json()["count"] == 1
    assert user_client.get("/api/v1/usage/?date_before=2026-03-10").json()["count"] == 1
    assert user_client.get("/api/v1/usage/?date_after=2026-03-10&date_before=2026-03-12").json()["count"] == 2
    assert user_client.get(f"/api/v1/usage/?provider={b.pk}").json()["results"][0]["provider_name"] == b.name
    assert user_client.get("/api/v1/usage/?model=x").json()["count"] == 1
    assert_error(user_client.get("/api/v1/usage/?date_after=yesterday"), 400, "validation_error")


def test_usage_list_costs_constant_queries(user_client, regular_user, make_provider):
    first = make_provider()
    services.usage_record(user=regular_user, provider=first, model="m", tokens_input=1, tokens_output=0)

    def more():
        for i in range(5):
            services.usage_record(
                user=regular_user, provider=make_provider(), model=f"m{i}", tokens_input=1, tokens_output=0
            )

    _assert_constant_queries(user_client, "/api/v1/usage/", more)


# --- /cost-alerts/ ---------------------------------------------------------------------


@pytest.fixture
def alerting(regular_user, make_provider, set_quota):
    provider = make_provider(cost_per_1k_tokens=Decimal("1"))
    set_quota(regular_user, daily_cost_limit=Decimal("1"))
    services.usage_record(user=regular_user, provider=provider, model="m", tokens_input=950, tokens_output=0)
    return provider


def test_alerts_are_listed_to_their_owner_and_acknowledged(
    alerting, user_client, other_user_client, regular_user, new_audit
):
    body = user_client.get("/api/v1/cost-alerts/").json()
    assert sorted(a["alert_type"] for a in body["results"]) == ["daily_80", "daily_90"]
    alert = body["results"][0]
    assert alert["acknowledged"] is False and alert["limit_usd"] == "1.000000000"
    assert other_user_client.get("/api/v1/cost-alerts/").json()["count"] == 0
    url = f"/api/v1/cost-alerts/{alert['id']}/acknowledge"
    assert_error(other_user_client.post(url), 404, "not_found")
    acked = user_client.post(url)
    assert acked.status_code == 200 and acked.json()["acknowledged"] is True
    assert acked.json()["acknowledged_by"] == str(regular_user.pk)
    assert user_client.post(url).status_code == 200  # idempotent
    assert new_audit(entity="cost_alert", action="acknowledge").count() == 1
    assert user_client.get("/api/v1/cost-alerts/?acknowledged=false").json()["count"] == 1
    assert user_client.get("/api/v1/cost-alerts/?alert_type=daily_90").json()["count"] == 1


def test_admin_sees_and_acknowledges_every_alert(alerting, admin_client_api, viewer_client, anon_client):
    body = admin_client_api.get("/api/v1/cost-alerts/").json()
    assert body["count"] == 2
    assert admin_client_api.post(f"/api/v1/cost-alerts/{body['results'][0]['id']}/acknowledge").status_code == 200
    assert_error(viewer_client.get("/api/v1/cost-alerts/"), 403, "permission_denied")
    assert_error(anon_client.get("/api/v1/cost-alerts/"), 401, "not_authenticated")


def test_alert_list_costs_constant_queries(alerting, user_client, regular_user):
    def more():
        for day in range(1, 6):
            CostAlert.objects.create(
                user=regular_user,
                alert_type="monthly_80",
                threshold_percentage=80,
                period_start=datetime(2025, day, 1).date(),
                triggered_at=timezone.now(),
                spent_usd=Decimal("8"),
                limit_usd=Decimal("10"),
            )

    _assert_constant_queries(user_client, "/api/v1/cost-alerts/", more)


# --- /quotas/ --------------------------------------------------------------------------


def test_admin_sets_updates_and_clears_quotas(admin_client_api, admin_user, regular_user, new_audit):
    created = admin_client_api.post(
        "/api/v1/quotas/", {"user": str(regular_user.pk), "daily_limit": 50, "daily_cost_limit": "2.5"}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["daily_limit"] == 50 and body["monthly_limit"] is None
    assert body["effective"]["monthly_limit"] == 20000 and body["effective"]["daily_cost_limit"] == "2.500000000"
    assert body["user_email"] == regular_user.email
    replaced = admin_client_api.post("/api/v1/quotas/", {"user": str(regular_user.pk), "monthly_limit": 900})
    assert replaced.status_code == 200 and replaced.json()["id"] == body["id"]
    assert replaced.json()["daily_limit"] is None  # set replaces the whole row
    patched = admin_client_api.patch(f"/api/v1/quotas/{body['id']}", {"daily_limit": 7})
    assert patched.status_code == 200 and patched.json()["monthly_limit"] == 900 and patched.json()["daily_limit"] == 7
    assert admin_client_api.get(f"/api/v1/quotas/?user={regular_user.pk}").json()["count"] == 1
    assert admin_client_api.delete(f"/api/v1/quotas/{body['id']}").status_code == 204
    actions = list(new_audit(entity="user_quota").order_by("id").values_list("action", flat=True))
    assert actions == ["set", "set", "update", "delete"]
    assert all(e.actor == admin_user.pk for e in new_audit(entity="user_quota"))


@pytest.mark.parametrize(
    "change",
    [{"daily_limit": -1}, {"daily_cost_limit": "-0.01"}, {"monthly_cost_limit": "1.0000001"}, {"user": "nobody"}],
)
def test_quota_input_is_validated(admin_client_api, regular_user, change):
    body = {"user": str(regular_user.pk), **change}
    assert_error(admin_client_api.post("/api/v1/quotas/", body), 400, "validation_error")


def test_only_admins_manage_quotas(user_client, viewer_client, anon_client, regular_user):
    for client in (user_client, viewer_client):
        assert_error(client.get("/api/v1/quotas/"), 403, "permission_denied")
        assert_error(client.post("/api/v1/quotas/", {"user": str(regular_user.pk)}), 403, "permission_denied")
    assert_error(anon_client.get("/api/v1/quotas/"), 401, "not_authenticated")


def test_quota_list_costs_constant_queries(admin_client_api, make_user, set_quota):
    set_quota(make_user("user"), daily_limit=1)

    def more():
        for _ in range(5):
            set_quota(make_user("user"), daily_limit=2)

    _assert_constant_queries(admin_client_api, "/api/v1/quotas/", more)
