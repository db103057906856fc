"""Provider fixtures shared by the providers and production tests: catalog entries and
quotas, made through the services."""

from decimal import Decimal

import pytest


@pytest.fixture
def make_provider(db):
    """make_provider(**fields) → a new catalog entry (unique name unless given)."""
    from providers import services

    counter = {"n": 0}

    def make(**fields):
        counter["n"] += 1
        values = {
            "name": f"Provider {counter['n']}",
            "provider_type": "openai",
            "model_name": "gpt-4o-mini",
            "api_endpoint": "https://api.example.com/v1",
            "cost_per_1k_tokens": Decimal("0.002000"),
            "timeout_seconds": 5,
        }
        values.update(fields)
        return services.provider_create(actor=None, **values)

    return make


@pytest.fixture
def provider(make_provider):
    return make_provider(name="OpenAI GPT-4o mini")


@pytest.fixture
def set_quota():
    """set_quota(user, **limits) → the user's quota with these limits."""
    from providers import services

    def set_(user, **limits):
        quota, _ = services.quota_set(user=user, actor=None, **limits)
        return quota

    return set_
