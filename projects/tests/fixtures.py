"""Fixtures shared by the zone apps' tests (projects, experiments, quarantine): each
app's tests/conftest.py star-imports this module."""

import pytest

from projects.tests.factories import make_project


@pytest.fixture
def project(regular_user):
    """A project of `regular_user` with baselines accuracy >= 0.8 and latency_ms <= 250."""
    return make_project(regular_user, name="Uma's project")


@pytest.fixture
def other_project(other_user):
    return make_project(other_user, name="Oscar's project")


@pytest.fixture
def superadmin(make_user):
    """An admin who may use the Django admin console (superuser)."""
    return make_user("admin", name="Sue Super", is_superuser=True)


@pytest.fixture
def audit_entries(db):
    """audit_entries(entity, action, **payload_subset) → matching AuditEntry rows."""
    from audits.models import AuditEntry

    def find(entity: str, action: str, **payload):
        qs = AuditEntry.objects.filter(entity=entity, action=action)
        if payload:
            qs = qs.filter(payload__contains={k: str(v) if hasattr(v, "hex") else v for k, v in payload.items()})
        return list(qs.order_by("id"))

    return find
