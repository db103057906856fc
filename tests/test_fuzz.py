"""Schema-driven fuzzing of the whole API (schemathesis), as an admin and as a user:
no 5xx, every response conforms to the OpenAPI document (status, content type, body),
and every error is the envelope. Examples per operation are bounded (FUZZ_EXAMPLES)."""

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.testing import bearer_client

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
pytestmark = pytest.mark.slow


# Built at collection time (pytest-django has configured Django by then); generating the
# document needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """The WSGI app runs in-process; like Django's test client, do not let its
    request_started/finished signals close the test's database connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def error_envelope(ctx, response, case):
    """Every 4xx/5xx body is {"error": {"code", "message", "details"}}, never HTML."""
    if response.status_code < 400:
        return None
    assert "html" not in (response.headers.get("content-type") or [""])[0], response.text[:300]
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"], body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    assert isinstance(body["error"]["details"], dict), body
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_envelope,
]


def _header(user) -> dict:
    return {"Authorization": f"Bearer {bearer_client(user).session_tokens.access}"}


@pytest.fixture
def safety_net(monkeypatch):
    """Records when a database error reached the API's last-resort handler: input the
    services should have refused before PostgreSQL did."""
    import core.api.errors as errors

    hits: list[str] = []
    original = errors.logger.warning

    def record(message, *args, **kwargs):
        hits.append(message % args if args else message)
        original(message, *args, **kwargs)

    monkeypatch.setattr(errors.logger, "warning", record)
    return hits


def _call(case, user, safety_net) -> None:
    # Each example in its own savepoint: in production every request is its own
    # transaction, so one refused statement must not poison the next example here.
    with transaction.atomic():
        case.call_and_validate(headers={**(case.headers or {}), **_header(user)}, checks=CHECKS)
    assert not safety_net, f"{case.method} {case.formatted_path}: {safety_net}"


_SETTINGS = hypothesis_settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@pytest.mark.django_db
@schema.parametrize()
@_SETTINGS
def test_api_as_admin(case, admin_user, safety_net):
    _call(case, admin_user, safety_net)


@pytest.mark.django_db
@schema.parametrize()
@_SETTINGS
def test_api_as_user(case, regular_user, safety_net):
    _call(case, regular_user, safety_net)
