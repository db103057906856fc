"""The admin console: pages render (catalog with health, keys with the last four
characters only, quotas, usage with its date hierarchy, alerts), and every change made
there goes through the services (so it is audited)."""

from decimal import Decimal

import pytest
from django.test import Client

from providers import services
from providers.models import CostAlert, Provider, ProviderHealth, UserProvider, UserQuota

pytestmark = pytest.mark.django_db

KEY = "sk-admin-test-Q1w2E3r4T5y6U7i8"


@pytest.fixture
def staff(make_user):
    return make_user("admin", is_superuser=True)


@pytest.fixture
def console(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def data(regular_user, make_provider, set_quota):
    provider = make_provider(cost_per_1k_tokens=Decimal("1"))
    services.provider_health_record(
        results=[services.ProbeResult(provider.pk, False, 12, "HTTP 502", provider.created_at)]
    )
    key = services.provider_key_create(user=regular_user, provider_type="openai", provider_name="Mine", api_key=KEY)
    quota = set_quota(regular_user, daily_cost_limit=Decimal("1"))
    services.usage_record(user=regular_user, provider=provider, model="m", tokens_input=900, tokens_output=0)
    return {"provider": provider, "key": key, "quota": quota, "alert": CostAlert.objects.first()}


HEALTH_MANAGEMENT = {
    "health-TOTAL_FORMS": "0",
    "health-INITIAL_FORMS": "0",
    "health-MIN_NUM_FORMS": "0",
    "health-MAX_NUM_FORMS": "0",
}


def test_pages_render_and_never_show_a_key(console, data):
    pages = [
        "/admin/providers/provider/",
        f"/admin/providers/provider/{data['provider'].pk}/change/",
        "/admin/providers/provider/add/",
        "/admin/providers/userprovider/",
        f"/admin/providers/userprovider/{data['key'].pk}/change/",
        "/admin/providers/userquota/",
        f"/admin/providers/userquota/{data['quota'].pk}/change/",
        "/admin/providers/userquota/add/",
        "/admin/providers/usagetracking/",
        f"/admin/providers/usagetracking/?date__year={data['alert'].period_start.year}",
        "/admin/providers/costalert/",
        f"/admin/providers/costalert/{data['alert'].pk}/change/",
    ]
    stored = UserProvider.objects.get(pk=data["key"].pk)
    for url in pages:
        response = console.get(url)
        assert response.status_code == 200, (url, response.status_code)
        text = response.content.decode()
        assert KEY not in text and stored.encrypted_api_key not in text and stored.encrypted_dek not in text
    catalog = console.get("/admin/providers/provider/").content.decode()
    assert (
        "degraded" in catalog
        and "HTTP 502" in console.get(f"/admin/providers/provider/{data['provider'].pk}/change/").content.decode()
    )
    assert "••••" + KEY[-4:] in console.get("/admin/providers/userprovider/").content.decode()


def test_non_staff_cannot_enter(client, regular_user):
    client.force_login(regular_user)
    assert client.get("/admin/providers/provider/").status_code == 302


def test_catalog_add_and_change_go_through_services(console, staff, new_audit):
    form = {
        "name": "Local Llama",
        "provider_type": "local",
        "model_name": "llama-3",
        "api_endpoint": "http://127.0.0.1:11434",
        "is_active": "on",
        "cost_per_1k_tokens": "0",
        "max_tokens": "4096",
        "timeout_seconds": "10",
        **HEALTH_MANAGEMENT,
    }
    response = console.post("/admin/providers/provider/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    provider = Provider.objects.get(name="Local Llama")
    assert new_audit(entity="provider", action="create").get().actor == staff.pk
    response = console.post(f"/admin/providers/provider/{provider.pk}/change/", {**form, "timeout_seconds": "15"})
    assert response.status_code == 302
    provider.refresh_from_db()
    assert provider.timeout_seconds == 15
    assert new_audit(entity="provider", action="update").get().payload["changes"] == {"timeout_seconds": [10, 15]}
    duplicate = console.post("/admin/providers/provider/add/", {**form, "name": "local llama"})
    assert duplicate.status_code == 200 and Provider.objects.filter(name__iexact="local llama").count() == 1


def test_catalog_delete_goes_through_the_service(console, make_provider, new_audit):
    provider = make_provider()
    response = console.post(f"/admin/providers/provider/{provider.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Provider.objects.filter(pk=provider.pk).exists()
    assert new_audit(entity="provider", action="delete").count() == 1


def test_probe_now_action(console, make_provider, probe_server):
    provider = make_provider(api_endpoint=f"{probe_server.url}/ok")
    response = console.post(
        "/admin/providers/provider/", {"action": "probe_now", "_selected_action": [str(provider.pk)]}
    )
    assert response.status_code == 302
    assert ProviderHealth.objects.get(provider=provider).status == "healthy"


def test_deactivate_and_delete_keys(console, data, staff, new_audit):
    key = data["key"]
    response = console.post(
        "/admin/providers/userprovider/", {"action": "deactivate", "_selected_action": [str(key.pk)]}
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.is_active is False
    entry = new_audit(entity="user_provider", action="update").get()
    assert entry.actor == staff.pk and entry.payload["is_active"] is False
    response = console.post(f"/admin/providers/userprovider/{key.pk}/change/", {"is_active": "on"})
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.is_active
    response = console.post(f"/admin/providers/userprovider/{key.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not UserProvider.objects.filter(pk=key.pk).exists()
    assert new_audit(entity="user_provider", action="delete").get().actor == staff.pk


def test_quota_add_change_delete(console, other_user, staff, new_audit):
    response = console.post(
        "/admin/providers/userquota/add/",
        {"user": str(other_user.pk), "daily_limit": "5", "monthly_limit": "", "daily_cost_limit": "1.5"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    quota = UserQuota.objects.get(user=other_user)
    assert quota.daily_limit == 5 and quota.monthly_limit is None and quota.daily_cost_limit == Decimal("1.5")
    response = console.post(
        f"/admin/providers/userquota/{quota.pk}/change/",
        {"daily_limit": "6", "monthly_limit": "", "daily_cost_limit": "1.5", "monthly_cost_limit": ""},
    )
    assert response.status_code == 302
    quota.refresh_from_db()
    assert quota.daily_limit == 6
    console.post(f"/admin/providers/userquota/{quota.pk}/delete/", {"post": "yes"})
    assert not UserQuota.objects.filter(pk=quota.pk).exists()
    actions = list(new_audit(entity="user_quota").order_by("id").values_list("action", flat=True))
    assert actions == ["set", "update", "delete"]
    assert all(e.actor == staff.pk for e in new_audit(entity="user_quota"))


def test_acknowledge_alerts_action(console, data, staff, new_audit):
    ids = [str(a.pk) for a in CostAlert.objects.all()]
    response = console.post("/admin/providers/costalert/", {"action": "acknowledge", "_selected_action": ids})
    assert response.status_code == 302
    assert all(a.acknowledged and a.acknowledged_by_id == staff.pk for a in CostAlert.objects.all())
    assert new_audit(entity="cost_alert", action="acknowledge").count() == len(ids)


def test_usage_and_alerts_are_read_only(console, data):
    assert console.get("/admin/providers/usagetracking/add/").status_code == 403
    assert console.get("/admin/providers/costalert/add/").status_code == 403
    row = data["alert"]
    console.post(f"/admin/providers/costalert/{row.pk}/change/", {"acknowledged": "on"})
    row.refresh_from_db()
    assert row.acknowledged is False  # acknowledging is the action, not a form field
