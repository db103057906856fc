"""Plurals read right in the console (issue 28): "2 usage records", not "2 usage"."""

from decimal import Decimal

import pytest
from django.urls import reverse

from providers import services as providers


@pytest.mark.django_db
def test_the_usage_list_counts_usage_records(superuser_console, admin_user, regular_user, other_user):
    entry = providers.provider_create(
        actor=admin_user,
        name="Wording",
        provider_type="openai",
        model_name="m",
        api_endpoint="https://api.example.com/v1",
        cost_per_1k_tokens=Decimal("1"),
        timeout_seconds=5,
    )
    for user in (regular_user, other_user):
        providers.usage_record(user=user, provider=entry, model="m", tokens_input=1, tokens_output=0)
    page = superuser_console.get(reverse("admin:providers_usagetracking_changelist"))
    assert page.status_code == 200
    assert "2 usage records" in page.content.decode()
