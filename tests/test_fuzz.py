"""Schema-driven fuzzing of the whole API (schemathesis), as an admin and as a user:
no 5xx, every response conforms to the OpenAPI document (status, content type, body),
and every error is the envelope. Examples per operation are bounded (FUZZ_EXAMPLES).

Then schema-violating data for every operation: schemathesis' negative mode, and the
classes of input that once reached a 500, derived from each operation's schema (deep
nesting, dates at the calendar's edge, lone surrogates and NUL, the wrong JSON type for
each field): no 5xx, the envelope, and no row written by a refused request."""

import json
import os
import uuid

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
from tests.fuzz_support import bad_bodies, bad_queries, row_counts

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
pytestmark = pytest.mark.slow


# Built at collection time (pytest-django has configured Django by then); generating the
# document needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
negative_schema = schemathesis.openapi.from_wsgi(
    "/api/schema/",
    get_wsgi_application(),
    # The coverage phase adds every schema boundary as an explicit example (some 140 per
    # operation, minutes in all): opt in with FUZZ_NEGATIVE_COVERAGE=1; by default the
    # negative examples are bounded by FUZZ_EXAMPLES like the positive ones.
    config=schemathesis.config.SchemathesisConfig.from_dict(
        {
            "generation": {"mode": "negative"},
            "phases": {"coverage": {"enabled": os.environ.get("FUZZ_NEGATIVE_COVERAGE") == "1"}},
        }
    ),
)


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


# --- schema-violating data ------------------------------------------------------------------


def _refused_writes_nothing(before: dict, response_status: int, label: str) -> None:
    if response_status == 400:
        after = row_counts()
        changed = {table: (before[table], after.get(table)) for table in before if before[table] != after.get(table)}
        assert not changed, f"{label}: a refused request wrote rows: {changed}"


def _call_negative(case, user, safety_net) -> None:
    headers = {**(case.headers or {}), **_header(user)}  # logging in writes its session first
    before = row_counts()
    with transaction.atomic():
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error, error_envelope])
    _refused_writes_nothing(before, response.status_code, f"{case.method} {case.formatted_path}")
    assert not safety_net, f"{case.method} {case.formatted_path}: {safety_net}"


@pytest.mark.django_db
@negative_schema.parametrize()
@_SETTINGS
def test_schema_violating_data_is_refused_as_admin(case, admin_user, safety_net):
    _call_negative(case, admin_user, safety_net)


def _concrete(path: str) -> str:
    """The path with every parameter filled (a fresh id: the object does not exist, the
    body is still parsed and checked where the view reads it first)."""
    parts = path.split("/")
    return "/".join(str(uuid.uuid4()) if p.startswith("{") else p for p in parts)


def _operations(method_filter):
    for path, item in schema.raw_schema["paths"].items():
        for method, operation in item.items():
            if method_filter(method, operation):
                yield path, method, operation


def _assert_refused(response, label: str) -> None:
    assert response.status_code < 500, f"{label}: {response.status_code} {response.content[:300]!r}"
    if response.status_code >= 400:
        assert "html" not in response.get("Content-Type", ""), label
        body = response.json()
        assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"]), (label, body)


def _has_json_body(method, operation) -> bool:
    return "application/json" in operation.get("requestBody", {}).get("content", {})


@pytest.mark.django_db
@pytest.mark.parametrize("path, method", [(p, m) for p, m, _ in _operations(_has_json_body)])
def test_each_class_of_bad_body_is_refused(path, method, admin_user, safety_net):
    """For every operation with a JSON body: each field with the wrong JSON type, an
    unstorable string, an edge date; deep nesting; a 400 in the envelope, nothing written."""
    operation = schema.raw_schema["paths"][path][method]
    client = bearer_client(admin_user)
    url = _concrete(path)
    for label, text in bad_bodies(schema.raw_schema, operation):
        before = row_counts()
        with transaction.atomic():
            response = client.generic(method.upper(), url, text, content_type="application/json")
        _assert_refused(response, f"{method.upper()} {path} {label}")
        _refused_writes_nothing(before, response.status_code, f"{method.upper()} {path} {label}")
    assert not safety_net, f"{method.upper()} {path}: {safety_net}"


def _has_date_query(method, operation) -> bool:
    return method == "get" and any(True for _ in bad_queries(schema.raw_schema, operation))


@pytest.mark.django_db
@pytest.mark.parametrize("path", [p for p, _, _ in _operations(_has_date_query) if "{" not in p])
def test_edge_dates_in_query_parameters_are_refused(path, admin_user, safety_net):
    operation = schema.raw_schema["paths"][path]["get"]
    client = bearer_client(admin_user)
    for name, value in bad_queries(schema.raw_schema, operation):
        with transaction.atomic():
            response = client.get(path, {name: value})
        _assert_refused(response, f"GET {path}?{name}={value}")
        assert response.status_code == 400, f"GET {path}?{name}={value}: {response.status_code}"
        assert name in json.dumps(response.json()["error"]["details"]), (path, name, response.json())
    assert not safety_net, f"GET {path}: {safety_net}"
