"""The dashboard's "Need attention" link lists exactly the providers it counts (issue 28):
unhealthy, degraded and never checked; not healthy ones, not inactive ones."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from providers import services as providers


def _provider(admin_user, name, *, probes=(), active=True):
    entry = providers.provider_create(
        actor=admin_user,
        name=name,
        provider_type="openai",
        model_name="m",
        api_endpoint="https://api.example.com/v1",
        cost_per_1k_tokens=Decimal("1"),
        timeout_seconds=5,
        is_active=active,
    )
    for ok in probes:
        providers.provider_health_record(
            results=[providers.ProbeResult(entry.pk, ok, 12, "" if ok else "HTTP 502", timezone.now())]
        )
    return entry


@pytest.mark.django_db
def test_the_attention_link_lists_exactly_the_providers_needing_attention(superuser_console, admin_user):
    _provider(admin_user, "Healthy", probes=[True])
    _provider(admin_user, "Never checked")
    _provider(admin_user, "Degraded", probes=[True, False])
    _provider(admin_user, "Unhealthy", probes=[False, False, False])
    _provider(admin_user, "Off and unhealthy", probes=[False, False, False], active=False)
    dashboard = superuser_console.get(reverse("admin:index"))
    card = next(c for c in dashboard.context["cards"] if c["key"] == "providers")
    counted = {provider.name for provider, _status in card["board"].attention}
    assert counted == {"Never checked", "Degraded", "Unhealthy"}
    listed = superuser_console.get(card["unhealthy_url"])
    assert listed.status_code == 200
    assert {p.name for p in listed.context["cl"].result_list} == counted
    assert f"{len(counted)}</a>" in dashboard.content.decode()
