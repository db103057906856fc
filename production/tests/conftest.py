"""Fixtures of the production tests: the zone fixtures (projects, users) plus catalog
providers, quotas and sessions built through the services."""

from decimal import Decimal

import pytest

from projects.tests.fixtures import *  # noqa: F403


@pytest.fixture
def make_provider(db):
    from providers import services

    counter = {"n": 0}

    def make(**fields):
        counter["n"] += 1
        values = {
            "name": f"Production provider {counter['n']}",
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
    return make_provider(name="OpenAI for production")


@pytest.fixture
def set_quota():
    from providers import services

    def set_(user, **limits):
        quota, _ = services.quota_set(user=user, actor=None, **limits)
        return quota

    return set_


@pytest.fixture
def session(project, regular_user):
    from production.tests.factories import make_session

    return make_session(regular_user, project)


@pytest.fixture(autouse=True)
def _fresh_partition_cache():
    """Tests travel in time: the audit writer's per-process cache of months known to have
    a partition must not outlive a test whose transaction (and partition) rolled back."""
    from audits.partitions import forget_known_months

    forget_known_months()
    yield
    forget_known_months()
