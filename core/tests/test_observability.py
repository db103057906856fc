"""Observability in one process: request ids (header, error envelope, audit entries, log
lines), the /metrics token guard, route templates, domain counters, /readyz's checks,
and log lines that never hold a secret through a whole flow."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from contextlib import contextmanager

import pytest
from django.core import mail
from django.db import connection
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from accounts import totp
from accounts.models import User
from audits.models import AuditEntry
from core.observability.logs import JSONFormatter, RequestIdFilter
from core.testing import assert_error
from providers.tests.fixtures import make_provider, provider, set_quota  # noqa: F401

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
TOKEN = "metrics-token-for-tests-0123456789"


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@contextmanager
def captured_logs(level=logging.DEBUG):
    """Every log record of the block, as the production handler writes it (JSON lines
    with the request id filter), parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


# --- request ids ------------------------------------------------------------------------


def test_a_sane_request_id_is_kept_and_returned_in_the_header_and_the_envelope(anon_client):
    response = anon_client.get("/api/v1/auth/me", HTTP_X_REQUEST_ID="client-42.a_b")
    assert response["X-Request-ID"] == "client-42.a_b"
    assert assert_error(response, 401, "not_authenticated")["request_id"] == "client-42.a_b"


@pytest.mark.parametrize("given", ["", "x" * 129, "has space", "new\nline", "semi;colon", "ünï"])
def test_an_insane_request_id_is_replaced_by_a_new_one(anon_client, given):
    response = anon_client.get("/api/v1/auth/me", HTTP_X_REQUEST_ID=given)
    made = response["X-Request-ID"]
    assert made != given and len(made) == 32 and int(made, 16) >= 0
    assert response.json()["error"]["request_id"] == made


def test_every_response_has_a_request_id_and_each_its_own(anon_client):
    ids = {anon_client.get(path)["X-Request-ID"] for path in ("/healthz", "/readyz", "/no-such-page", "/healthz")}
    assert len(ids) == 4


def test_the_audit_entry_of_a_request_carries_its_request_id(anon_client, make_user):
    user = make_user("user", password=PASSWORD)
    response = anon_client.post(
        "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json", HTTP_X_REQUEST_ID="login-1"
    )
    assert response.status_code == 200 and response["X-Request-ID"] == "login-1"
    entry = AuditEntry.objects.filter(entity="security", action="login_success", actor=user.pk).get()
    assert entry.payload["request_id"] == "login-1"
    # Outside a request (a service called by a command) there is none.
    from accounts.services import session_create

    session_create(user=user)
    assert "request_id" not in AuditEntry.objects.filter(entity="session", action="create").order_by("-id")[0].payload


def test_each_request_logs_one_line_with_its_figures(make_user):
    user = make_user("user", password=PASSWORD)
    client = APIClient()
    access = client.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json").json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access['access']}")
    with captured_logs() as lines:
        response = client.get("/api/v1/auth/me", HTTP_X_REQUEST_ID="me-1")
    assert response.status_code == 200
    requests = [line for line in lines if line["logger"] == "tristate.request"]
    assert len(requests) == 1
    line = requests[0]
    assert line["request_id"] == "me-1" and line["user_id"] == str(user.pk)
    assert line["method"] == "GET" and line["route"] == "/api/v1/auth/me" and line["status"] == 200
    assert line["duration_ms"] > 0 and line["db_queries"] >= 1 and line["db_time_ms"] > 0
    assert line["time"].endswith("Z") and line["level"] == "INFO"


def test_application_log_lines_of_a_request_carry_its_request_id(user_client, monkeypatch):
    from django.db.backends.base.base import BaseDatabaseWrapper

    def refuse(self, *args, **kwargs):
        from django.db import OperationalError

        raise OperationalError("connection refused")

    before = sample("tristate_db_connection_errors_total", database="default")
    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", refuse)
    with captured_logs() as lines:
        response = user_client.get("/api/v1/projects/", HTTP_X_REQUEST_ID="outage-1")
    assert_error(response, 503, "service_unavailable")
    errors = [line for line in lines if line["logger"] == "tristate.api"]
    assert errors and all(line["request_id"] == "outage-1" for line in errors)
    assert sample("tristate_db_connection_errors_total", database="default") == before + 1


# --- /metrics ---------------------------------------------------------------------------


def test_metrics_is_off_without_a_token_configured(anon_client, settings):
    settings.METRICS_TOKEN = ""
    response = anon_client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 404
    assert b"tristate_" not in response.content


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer"]
)
def test_metrics_without_the_right_token_looks_like_any_missing_page(anon_client, settings, authorization):
    settings.METRICS_TOKEN = TOKEN
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = anon_client.get("/metrics", **headers)
    unknown = anon_client.get("/no-such-page-at-all")
    assert response.status_code == unknown.status_code == 404
    strict = APIClient(enforce_csrf_checks=True)
    assert strict.post("/metrics", **headers).status_code == strict.post("/no-such-page").status_code == 404
    assert response["Content-Type"] == unknown["Content-Type"]
    assert b"tristate_" not in response.content and b"metrics" not in response.content.lower()


def test_metrics_with_the_token_is_the_prometheus_text(anon_client, settings):
    settings.METRICS_TOKEN = TOKEN
    anon_client.get("/healthz")
    response = anon_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    assert 'tristate_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "tristate_audit_pending_entries " in text and "tristate_db_up 1.0" in text
    assert "tristate_audit_partitions_months_ahead " in text


def test_requests_are_counted_by_route_template_not_by_path(user_client):
    missing = uuid.uuid4()
    template = "/api/v1/projects/{pk}"
    before = sample("tristate_http_requests_total", route=template, method="GET", status="404")
    assert user_client.get(f"/api/v1/projects/{missing}/").status_code == 404
    assert user_client.get(f"/api/v1/projects/{uuid.uuid4()}/").status_code == 404
    assert sample("tristate_http_requests_total", route=template, method="GET", status="404") == before + 2
    assert sample("tristate_http_request_duration_seconds_count", route=template, method="GET") >= 2
    text = APIClient().get("/metrics").content.decode()  # off in tests: the raw path never shows anywhere
    assert str(missing) not in text


@pytest.mark.django_db(transaction=True)
def test_logins_lockouts_refreshes_and_reuse_are_counted_after_commit(anon_client, make_user, settings):
    user = make_user("user", password=PASSWORD)
    names = [("tristate_logins_total", {"outcome": o}) for o in ("success", "failure")]
    names += [(f"tristate_{n}_total", {}) for n in ("token_refreshes", "token_reuse_detections", "lockouts")]
    before = {(name, tuple(labels.items())): sample(name, **labels) for name, labels in names}

    def delta(name, **labels):
        return sample(name, **labels) - before[(name, tuple(labels.items()))]

    tokens = anon_client.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json").json()
    wrong = anon_client.post("/api/v1/auth/login", {"email": user.email, "password": "nope nope"}, format="json")
    assert wrong.status_code == 401
    assert anon_client.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json").status_code == 200
    assert anon_client.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json").status_code == 401
    settings.LOGIN_MAX_FAILURES = 2
    anon_client.post("/api/v1/auth/login", {"email": user.email, "password": "nope again"}, format="json")
    assert delta("tristate_logins_total", outcome="success") == 1
    assert delta("tristate_logins_total", outcome="failure") == 2
    assert delta("tristate_lockouts_total") == 1
    assert delta("tristate_token_refreshes_total") == 1
    assert delta("tristate_token_reuse_detections_total") == 1


def test_the_scrape_reads_the_verification_and_provider_health(admin_client_api, provider, settings):  # noqa: F811
    from django.utils import timezone
    from prometheus_client.parser import text_string_to_metric_families

    from providers.models import ProviderHealth

    settings.METRICS_TOKEN = TOKEN
    unhealthy = {"is_healthy": False, "consecutive_failures": 3}
    ProviderHealth.objects.update_or_create(provider=provider, defaults=unhealthy)
    verify = admin_client_api.get("/api/v1/audit-log/verify", {"since": timezone.now().isoformat()})
    assert verify.status_code == 200 and verify.json()["ok"] is True
    text = APIClient().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("tristate_provider_healthy", (("provider", provider.name),))] == 0
    assert samples[("tristate_provider_consecutive_failures", (("provider", provider.name),))] == 3
    assert samples[("tristate_audit_last_verification_ok", ())] == 1
    assert abs(time.time() - samples[("tristate_audit_last_verification_timestamp_seconds", ())]) < 60
    assert samples[("tristate_audit_next_month_partition_exists", ())] == 1


def test_a_rolled_back_audit_entry_is_not_counted(django_capture_on_commit_callbacks):
    from django.db import transaction

    from audits.services import audit_record

    before = sample("tristate_audit_entries_written_total", entity="observability", action="rolled_back")
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            audit_record(entity="observability", action="rolled_back", payload={})
            raise RuntimeError("undo")
        with transaction.atomic():
            audit_record(entity="observability", action="rolled_back", payload={})
    assert sample("tristate_audit_entries_written_total", entity="observability", action="rolled_back") == before + 1


@pytest.mark.django_db(transaction=True)
def test_usage_and_quota_rejections_are_counted(user_client, regular_user, provider, set_quota):  # noqa: F811
    set_quota(regular_user, daily_limit=1)
    before = {
        "requests": sample("tristate_usage_requests_total"),
        "input": sample("tristate_usage_tokens_total", direction="input"),
        "cost": sample("tristate_usage_cost_usd_total"),
        "refused": sample("tristate_quota_rejections_total", kind="daily_requests"),
    }
    body = {"provider": str(provider.pk), "model": "gpt-4o-mini", "tokens_input": 1200, "tokens_output": 300}
    assert user_client.post("/api/v1/usage/", body, format="json").status_code == 201
    assert_error(user_client.post("/api/v1/usage/", body, format="json"), 429, "quota_exceeded")
    assert sample("tristate_usage_requests_total") == before["requests"] + 1
    assert sample("tristate_usage_tokens_total", direction="input") == before["input"] + 1200
    assert sample("tristate_usage_cost_usd_total") == pytest.approx(before["cost"] + 0.003)
    assert sample("tristate_quota_rejections_total", kind="daily_requests") == before["refused"] + 1


# --- /readyz ----------------------------------------------------------------------------


def test_readyz_is_200_when_everything_is_in_place(anon_client):
    response = anon_client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ready", "database": "ok", "migrations": "ok", "audit_partitions": "ok"}


def test_readyz_is_503_with_the_reason_when_a_migration_is_not_applied(anon_client, monkeypatch):
    from django.db.migrations.loader import MigrationLoader

    import core.views

    monkeypatch.setattr(core.views, "_MIGRATIONS_OK_UNTIL", 0.0)
    app, name = sorted(MigrationLoader(connection).graph.leaf_nodes())[0]
    with connection.cursor() as cursor:  # undone with the test's transaction
        cursor.execute("DELETE FROM django_migrations WHERE app = %s AND name = %s", [app, name])
    response = anon_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready" and response.json()["migrations"] == "pending: 1"


def test_readyz_is_503_with_the_reason_when_next_months_partition_is_missing(anon_client):
    from django.utils import timezone

    from audits.partitions import add_months, ensure_partition, month_start, partition_name

    next_month = add_months(month_start(timezone.now().date()), 1)
    ensure_partition(next_month)
    with connection.cursor() as cursor:  # undone with the test's transaction
        cursor.execute(f"ALTER TABLE audits.audit_log DETACH PARTITION audits.{partition_name(next_month)}")
    response = anon_client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["audit_partitions"].startswith(f"missing: {next_month:%Y-%m}") and body["database"] == "ok"


def test_readyz_is_503_when_the_database_is_unreachable(anon_client, monkeypatch):
    from django.db.backends.base.base import BaseDatabaseWrapper

    def refuse(self, *args, **kwargs):
        from django.db import OperationalError

        raise OperationalError("connection refused")

    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", refuse)
    response = anon_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "error: OperationalError"
    assert anon_client.get("/healthz").status_code == 200


# --- no secret in any log line ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_whole_flow_logs_no_secret(make_user, provider, settings):  # noqa: F811
    """Login, a wrong password, TOTP enrolment and login with a code, a refresh, a
    password reset, a provider key, usage: every log line at DEBUG, greped."""
    settings.METRICS_TOKEN = TOKEN
    user = make_user("user", password=PASSWORD)
    new_password = "a brand new passphrase 9"
    api_key = "sk-proj-Obs3rvab1l1tyK3yNeverLogged0123"
    secrets, codes = [PASSWORD, new_password, "wrong password 1", api_key, TOKEN], []
    client = APIClient()
    with captured_logs() as lines:
        client.post("/api/v1/auth/login", {"email": user.email, "password": "wrong password 1"}, format="json")
        tokens = client.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json").json()
        secrets += [tokens["access"], tokens["refresh"]]
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        secret = client.post("/api/v1/auth/totp/setup").json()["secret"]
        secrets.append(secret)
        codes.append(totp.code_at(secret, time.time() - totp.STEP_SECONDS))
        assert client.post("/api/v1/auth/totp/confirm", {"code": codes[-1]}, format="json").status_code == 200
        codes.append(totp.code_at(secret, time.time()))
        login = {"email": user.email, "password": PASSWORD, "otp": codes[-1]}
        tokens = APIClient().post("/api/v1/auth/login", login, format="json").json()
        secrets += [tokens["access"], tokens["refresh"]]
        refreshed = APIClient().post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json").json()
        secrets += [refreshed["access"], refreshed["refresh"]]
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed['access']}")
        key = {"provider_type": "openai", "provider_name": "Mine", "model_name": "gpt-4o", "api_key": api_key}
        assert client.post("/api/v1/me/providers/", key, format="json").status_code == 201
        usage = {"provider": str(provider.pk), "model": "gpt-4o-mini", "tokens_input": 10, "tokens_output": 5}
        assert client.post("/api/v1/usage/", usage, format="json").status_code == 201
        APIClient().post("/api/v1/auth/password-reset", {"email": user.email}, format="json")
        reset_token = mail.outbox[-1].body.split("token=")[1].split()[0]
        secrets.append(reset_token)
        confirm = {"token": reset_token, "new_password": new_password}
        assert APIClient().post("/api/v1/auth/password-reset/confirm", confirm, format="json").status_code == 204
        assert APIClient().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert User.objects.get(pk=user.pk).check_password(new_password)
    requests = [line for line in lines if line["logger"] == "tristate.request"]
    assert len(requests) == 11, "each request of the flow logs one line"
    text = "\n".join(json.dumps(line) for line in lines)
    leaked = [s for s in secrets if s in text or json.dumps(s)[1:-1] in text]
    assert not leaked, f"{len(leaked)} secrets in the logs"
    without_ids = "\n".join(
        json.dumps({k: v for k, v in line.items() if k not in ("request_id", "time")}) for line in lines
    )
    assert not [code for code in codes if code in without_ids]
