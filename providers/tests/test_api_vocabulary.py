"""One vocabulary in the providers API (issue 28): `name`, `model`, `provider_type`,
`requests`, money as strings with 9 places; the names used before still work for one
release; usage names only the model its provider offers."""

import re
from decimal import Decimal

import pytest

from core.testing import assert_error
from providers.models import UsageTracking

KEY = "sk-" + "a1B2c3D4e5F6g7H8i9J0" * 2
MONEY = re.compile(r"^-?[0-9]+\.[0-9]{9}$")
MONEY_FIELDS = {"cost_per_1k_tokens", "cost_usd", "used", "limit", "remaining", "spent_usd", "limit_usd"}
MONEY_FIELDS |= {"daily_cost_limit", "monthly_cost_limit"}


def money_values(value, found=None):
    found = [] if found is None else found
    if isinstance(value, dict):
        for key, item in value.items():
            if key in MONEY_FIELDS and isinstance(item, str):
                found.append((key, item))
            money_values(item, found)
    elif isinstance(value, list):
        for item in value:
            money_values(item, found)
    return found


pytestmark = pytest.mark.django_db


def test_a_stored_key_uses_name_and_model_and_still_answers_the_old_names(user_client):
    body = {"provider_type": "openai", "name": "Mine", "model": "gpt-4o", "api_key": KEY}
    created = user_client.post("/api/v1/me/providers/", body, format="json")
    assert created.status_code == 201, created.content
    row = created.json()
    assert (row["name"], row["model"]) == ("Mine", "gpt-4o")
    assert (row["provider_name"], row["model_name"]) == ("Mine", "gpt-4o")  # deprecated, one release
    renamed = user_client.patch(f"/api/v1/me/providers/{row['id']}/", {"model_name": "gpt-4.1"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["model"] == "gpt-4.1"
    both = user_client.patch(f"/api/v1/me/providers/{row['id']}/", {"name": "a", "provider_name": "b"}, format="json")
    assert "send `name` only" in assert_error(both, 400, "validation_error")["details"]["provider_name"][0]


def test_the_old_names_are_accepted_when_storing_a_key(user_client):
    body = {"provider_type": "anthropic", "provider_name": "Old", "model_name": "claude", "api_key": KEY}
    created = user_client.post("/api/v1/me/providers/", body, format="json")
    assert created.status_code == 201, created.content
    assert (created.json()["name"], created.json()["model"]) == ("Old", "claude")


def test_the_catalog_says_model(admin_client_api):
    body = {
        "name": "Cat",
        "provider_type": "local",
        "model": "llama",
        "api_endpoint": "http://127.0.0.1:9/",
        "cost_per_1k_tokens": "0.5",
    }
    created = admin_client_api.post("/api/v1/providers/", body, format="json")
    assert created.status_code == 201, created.content
    entry = created.json()
    assert entry["model"] == entry["model_name"] == "llama"
    assert entry["cost_per_1k_tokens"] == "0.500000000"
    old = admin_client_api.patch(f"/api/v1/providers/{entry['id']}/", {"model_name": "llama-2"}, format="json")
    assert old.status_code == 200 and old.json()["model"] == "llama-2"


def test_usage_says_requests_and_every_amount_has_nine_places(
    user_client, admin_client_api, provider, set_quota, regular_user
):
    set_quota(regular_user, daily_cost_limit=Decimal("100"))
    body = {"provider": str(provider.pk), "model": provider.model_name, "tokens_input": 1000, "tokens_output": 0}
    recorded = user_client.post("/api/v1/usage/", body, format="json")
    assert recorded.status_code == 201, recorded.content
    answer = recorded.json()
    assert answer["usage"]["requests"] == answer["usage"]["requests_count"] == 1
    located = user_client.get(recorded["Location"])  # the day's usage row the record added to
    assert located.status_code == 200 and located.json()["id"] == answer["usage"]["id"]
    rows = user_client.get("/api/v1/usage/").json()["results"]
    assert rows[0]["requests"] == rows[0]["requests_count"] == 1
    answers = [
        answer,
        rows,
        user_client.get("/api/v1/me/quota").json(),
        user_client.get("/api/v1/cost-alerts/").json(),
        user_client.get(f"/api/v1/providers/{provider.pk}/").json(),
        admin_client_api.get("/api/v1/quotas/").json(),
    ]
    amounts = money_values(answers)
    assert {key for key, _ in amounts} >= {"cost_usd", "used", "limit", "remaining", "cost_per_1k_tokens"}
    assert [(key, value) for key, value in amounts if not MONEY.match(value)] == []


def test_usage_names_only_the_model_its_provider_offers(user_client, provider):
    body = {"provider": str(provider.pk), "model": "not-" + provider.model_name, "tokens_input": 1, "tokens_output": 0}
    error = assert_error(user_client.post("/api/v1/usage/", body, format="json"), 400, "validation_error")
    assert provider.model_name in error["details"]["model"][0]
    assert not UsageTracking.objects.exists()
