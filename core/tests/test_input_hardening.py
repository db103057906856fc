"""Classes of bad input that once reached a 500: each is a 400 in the envelope, refused
at one layer for every endpoint (the JSON parser, the JSON type rule of the input
serializers, the calendar bounds of dates in bodies and query strings), nothing written."""

import json

import pytest

from core.json_types import DATE_MAX, DATE_MIN
from core.parsers import MAX_JSON_DEPTH, nesting_depth_exceeds
from core.testing import assert_error
from production.models import Artifact
from production.tests.factories import digest, make_session
from projects.models import Baseline, Project
from projects.tests.factories import make_project
from providers.models import UsageTracking
from providers.tests.fixtures import make_provider, provider  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

API = "/api/v1"
EDGE_DATETIMES = [
    "9999-12-31T23:00:00-05:00",  # overflows converting to UTC
    "0001-01-01T00:00:00+05:00",  # underflows converting to UTC
    "9999-12-31T23:59:59.999999Z",  # the last instant: a day later overflows
    "0001-01-01T00:00:00Z",
]


def post_raw(client, url: str, text: str):
    return client.generic("POST", url, text, content_type="application/json")


def nested(depth: int, leaf="x", kind="object") -> str:
    opening, closing = ('{"a":', "}") if kind == "object" else ("[", "]")
    return opening * depth + json.dumps(leaf) + closing * depth


# --- deep nesting ------------------------------------------------------------------------


def test_the_depth_scan_ignores_brackets_inside_strings():
    assert not nesting_depth_exceeds(json.dumps({"s": "[" * 500 + "{" * 500}).encode())
    assert nesting_depth_exceeds(("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)).encode())
    assert not nesting_depth_exceeds(("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH).encode())
    escaped = '["\\"[[[[' + "[" * 100 + '"]'  # an escaped quote does not end the string
    assert not nesting_depth_exceeds(escaped.encode())


def test_an_unterminated_string_of_escaped_quotes_is_refused_at_once(anon_client):
    # Nested past the limit, then a string that never ends, made of escaped quotes: a
    # string pattern that could fail at one quote was retried from every later one
    # (quadratic: hours for a body this size). It is a plain 400 now.
    body = "[" * (MAX_JSON_DEPTH + 1) + '"' + '\\"' * 200_000
    for tail in ("", "\\"):
        assert nesting_depth_exceeds((body + tail).encode())
        assert_error(post_raw(anon_client, f"{API}/auth/login", body + tail), 400, "parse_error")
    shallow = '{"email": "' + '\\"' * 200_000  # under the limit: json.loads refuses it
    assert_error(post_raw(anon_client, f"{API}/auth/login", shallow), 400, "parse_error")


@pytest.mark.parametrize("kind", ["object", "array"])
def test_a_deeply_nested_json_field_is_a_400_naming_the_limit(user_client, kind):
    before = Project.objects.count()
    settings_text = nested(5000, kind=kind) if kind == "object" else '{"k": ' + nested(5000, kind=kind) + "}"
    response = post_raw(user_client, f"{API}/projects/", '{"name": "deep", "settings": ' + settings_text + "}")
    error = assert_error(response, 400, "parse_error")
    assert str(MAX_JSON_DEPTH) in error["message"]
    assert Project.objects.count() == before


def test_a_deeply_nested_login_body_is_a_400(anon_client):
    error = assert_error(post_raw(anon_client, f"{API}/auth/login", nested(3000, kind="array")), 400, "parse_error")
    assert "depth" in error["message"]


def test_nesting_at_the_limit_is_accepted(user_client):
    response = post_raw(user_client, f"{API}/projects/", '{"name": "deep", "settings": ' + nested(60) + "}")
    assert response.status_code == 201, response.content


# --- text PostgreSQL cannot store --------------------------------------------------------


@pytest.mark.parametrize(
    "body, where",
    [
        ('{"name": "a\\ud800b"}', "name"),
        ('{"name": "ok", "settings": {"k": ["x", "\\udfff"]}}', "settings.k[1]"),
        ('{"name": "ok", "settings": {"\\udc00": 1}}', "settings"),
        ('{"name": "ok", "settings": {"k\\u0000": 1}}', "settings"),
        ('{"name": "a\\u0000"}', "name"),
    ],
)
def test_surrogates_and_nul_anywhere_are_a_400_naming_the_path(user_client, body, where):
    before = Project.objects.count()
    error = assert_error(post_raw(user_client, f"{API}/projects/", body), 400, "parse_error")
    assert where in error["message"]
    assert Project.objects.count() == before


# --- one rule of JSON types --------------------------------------------------------------


def test_a_number_is_not_a_name(user_client):
    before = Project.objects.count()
    error = assert_error(user_client.post(f"{API}/projects/", {"name": 123}, format="json"), 400, "validation_error")
    assert error["details"] == {"name": ["Must be a string."]}
    assert Project.objects.count() == before


def test_a_string_is_not_a_token_count(user_client, provider):  # noqa: F811
    body = {"provider": str(provider.pk), "model": "m", "tokens_input": "10", "tokens_output": 1}
    error = assert_error(user_client.post(f"{API}/usage/", body, format="json"), 400, "validation_error")
    assert error["details"]["tokens_input"] == ["Must be an integer."]
    assert not UsageTracking.objects.exists()


def test_a_number_is_not_a_metric_key_and_a_string_is_not_a_boolean(user_client, regular_user):
    project = make_project(owner=regular_user)
    url = f"{API}/projects/{project.pk}/baselines/"
    body = {"metric_key": 5, "operator": ">=", "threshold": "0.5"}
    error = assert_error(user_client.post(url, body, format="json"), 400, "validation_error")
    assert error["details"]["metric_key"] == ["Must be a string."]
    assert not Baseline.objects.filter(project=project, metric_key="5").exists()
    created = user_client.post(url, {"metric_key": "f1", "operator": ">=", "threshold": 0.5}, format="json")
    assert created.status_code == 201, created.content  # a decimal may be a number or a decimal string
    patch = user_client.patch(f"{url}{created.json()['id']}/", {"active": "false"}, format="json")
    assert assert_error(patch, 400, "validation_error")["details"]["active"] == ["Must be true or false."]


# --- dates at the calendar's edge --------------------------------------------------------


@pytest.mark.parametrize("value", EDGE_DATETIMES)
@pytest.mark.parametrize(
    "url, param",
    [
        ("/audit-log/", "ts_after"),
        ("/audit-log/", "ts_before"),
        ("/projects/", "created_after"),
        ("/projects/", "created_before"),
        ("/analysis-sessions/", "created_after"),
    ],
)
def test_edge_datetimes_in_filters_are_a_400_naming_the_parameter(admin_client_api, url, param, value):
    response = admin_client_api.get(f"{API}{url}", {param: value})
    error = assert_error(response, 400, "validation_error")
    assert param in error["details"], error


@pytest.mark.parametrize("value", [DATE_MAX.replace(day=31).isoformat(), "0001-01-01"])
def test_edge_dates_in_query_parameters_are_a_400(admin_client_api, value):
    for url, param in [("/audit-log/statistics", "day_after"), ("/analysis-sessions/statistics", "date_to")]:
        error = assert_error(admin_client_api.get(f"{API}{url}", {param: value}), 400, "validation_error")
        assert param in error["details"], (url, error)


def test_dates_inside_the_bounds_are_accepted(admin_client_api):
    for value in (DATE_MIN.isoformat() + "T00:00:00Z", DATE_MAX.isoformat() + "T00:00:00Z"):
        assert admin_client_api.get(f"{API}/audit-log/", {"ts_after": value}).status_code == 200


@pytest.mark.parametrize("value", EDGE_DATETIMES[:2])
def test_an_edge_datetime_in_a_body_is_a_400_naming_the_field(user_client, regular_user, value):
    session = make_session(regular_user, make_project(owner=regular_user))
    body = {
        "type": "report",
        "s3_uri": "s3://bucket/report.json",
        "sha256": digest(),
        "size_bytes": 1,
        "expires_at": value,
    }
    response = user_client.post(f"{API}/analysis-sessions/{session.pk}/artifacts/", body, format="json")
    assert assert_error(response, 400, "validation_error")["details"]["expires_at"]
    assert not Artifact.objects.filter(session=session).exists()


@pytest.mark.parametrize("value", EDGE_DATETIMES[:2])
def test_an_edge_datetime_read_by_a_view_itself_is_a_400(user_client, regular_user, value):
    project = make_project(owner=regular_user)
    response = user_client.get(f"{API}/projects/{project.pk}/versions/v1/at", {"ts": value})
    assert "ts" in assert_error(response, 400, "validation_error")["details"]


def test_a_page_number_past_what_offset_holds_is_a_404_not_a_database_error(admin_client_api):
    response = admin_client_api.get(f"{API}/experiments/", {"page": "99999999999999999999"})
    assert_error(response, 404, "not_found")
