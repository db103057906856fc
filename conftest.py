"""Shared fixtures: users of every role, and API clients authenticated as them with real
Bearer tokens (the same login sessions production uses)."""

import pytest
from rest_framework.test import APIClient

from core.testing import bearer_client


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """A reused test database whose audit chain was sealed under an older test key starts
    its chain afresh (audits.testing)."""
    from audits.testing import restart_chain_sealed_under_another_key

    with django_db_blocker.unblock():
        restart_chain_sealed_under_another_key()


@pytest.fixture(autouse=True)
def _fresh_audit_id_block():
    """Each test starts with no audit ids in hand (audit_record takes them from the
    sequence in blocks): a test that counts queries then counts the same ones whatever
    ran before it."""
    from audits import services

    services.audit_ids_forget()


@pytest.fixture
def make_user(db):
    """make_user(role="user", email=None, **fields) → a verified, active user."""
    from accounts.models import User
    from accounts.services import user_create

    counter = {"n": 0}

    def make(role: str = "user", email: str | None = None, password: str = "correct horse battery", **fields) -> User:
        counter["n"] += 1
        email = email or f"{role}{counter['n']}-{User.objects.count()}@example.com"
        fields.setdefault("verified", True)
        return user_create(email=email, password=password, role=role, validate=False, actor=None, **fields)

    return make


@pytest.fixture
def admin_user(make_user):
    return make_user("admin", name="Ada Admin")


@pytest.fixture
def other_admin(make_user):
    return make_user("admin", name="Otto Admin")


@pytest.fixture
def regular_user(make_user):
    return make_user("user", name="Uma User")


@pytest.fixture
def other_user(make_user):
    return make_user("user", name="Oscar Other")


@pytest.fixture
def viewer_user(make_user):
    return make_user("viewer", name="Vera Viewer")


@pytest.fixture
def api_client_for(db):
    """api_client_for(user) → an APIClient sending that user's real Bearer token."""
    return bearer_client


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def admin_client_api(admin_user):
    return bearer_client(admin_user)


@pytest.fixture
def user_client(regular_user):
    return bearer_client(regular_user)


@pytest.fixture
def other_user_client(other_user):
    return bearer_client(other_user)


@pytest.fixture
def viewer_client(viewer_user):
    return bearer_client(viewer_user)


@pytest.fixture
def new_audit(db):
    """new_audit(**filters) → the audit entries written since the test began. The audit
    log is never flushed between tests (it refuses TRUNCATE), so assertions on it must be
    relative to the test's start."""
    from django.db.models import Max

    from audits.models import AuditEntry

    start = AuditEntry.objects.aggregate(m=Max("id"))["m"] or 0

    def entries(**filters):
        return AuditEntry.objects.filter(id__gt=start, **filters)

    return entries


@pytest.fixture
def seal_in_transaction():
    """Seal pending audit entries inside the current (test) transaction, as the sequencer
    would after commit (it also creates the months their partitions were missing).
    Non-transactional tests roll everything back, so tampering stays local."""
    from django.db import connection

    from audits import chain

    def seal() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [chain.SEQUENCER_LOCK])
            total = 0
            while done := chain._seal_batch(chain.DEFAULT_BATCH):
                total += done
            return total

    return seal
