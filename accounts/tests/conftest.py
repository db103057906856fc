"""Fixtures and helpers of the accounts tests."""

from __future__ import annotations

import re
import threading
from urllib.parse import unquote

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

PASSWORD = "correct horse battery"  # what the root make_user fixture gives every user
NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture(autouse=True)
def _fresh_throttle_cache():
    cache.clear()
    yield
    cache.clear()


def login(client: APIClient, email: str, password: str = PASSWORD, **extra):
    return client.post("/api/v1/auth/login", {"email": email, "password": password, **extra}, format="json")


def token_from_mail(message) -> str:
    """The token carried by the link in an accounts e-mail."""
    match = re.search(r"[?&]token=([^\s&]+)", message.body)
    assert match, message.body
    return unquote(match.group(1))


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


# The audit log is append-only: transactional tests leave their entries behind (flush
# cannot truncate it). Assertions look only at entries written by the running test.
_audit_mark = {"id": 0}


@pytest.fixture(autouse=True)
def _audit_high_water_mark(request):
    if request.node.get_closest_marker("django_db") is None:
        yield
        return
    request.getfixturevalue("db")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM audits.audit_log")
        _audit_mark["id"] = cursor.fetchone()[0]
    yield


def audit_entries():
    """AuditEntry rows written since the current test started."""
    from audits.models import AuditEntry

    return AuditEntry.objects.filter(id__gt=_audit_mark["id"])


def audit_actions(entity: str | None = None) -> list[tuple[str, str]]:
    qs = audit_entries()
    if entity:
        qs = qs.filter(entity=entity)
    return list(qs.order_by("id").values_list("entity", "action"))


def security_actions(user=None) -> list[str]:
    from accounts.models import SecurityEvent

    qs = SecurityEvent.objects.all()
    if user is not None:
        qs = qs.filter(user=user)
    return list(qs.order_by("created_at").values_list("action", flat=True))


def run_in_threads(count: int, target) -> list:
    """Run target(index) in `count` threads released at the same instant; return their
    results (or exceptions) in index order. Each thread closes its DB connection."""
    from django.db import connection

    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index):
        try:
            barrier.wait(timeout=30)
            results[index] = target(index)
        except Exception as exc:  # reported to the test, which asserts on it
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """`with run_on_commit(): ...` runs the after-commit callbacks (e-mails) of the block."""

    def ctx():
        return django_capture_on_commit_callbacks(execute=True)

    return ctx


@pytest.fixture
def totp_user(make_user):
    """A verified user with two-factor on; `.totp_secret_plain` holds the secret."""
    import time

    from accounts import services, totp

    user = make_user("user", name="Tia Totp")
    enrolment = services.totp_setup(user=user)
    # The code of the previous step, so the current step stays free for the test.
    services.totp_confirm(user=user, code=totp.code_at(enrolment.secret, time.time() - totp.STEP_SECONDS))
    user.refresh_from_db()
    user.totp_secret_plain = enrolment.secret
    return user
